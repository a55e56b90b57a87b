/*
 * An LD_PRELOAD allocation counter for tests/integration/test_io.py: counts
 * every malloc, calloc, realloc, posix_memalign, aligned_alloc and memalign of
 * the process (all threads) and, when LG_MALLOC_COUNT_FILE is set, a thread
 * writes the count there every 20 ms. The calls go on to glibc's allocator
 * (__libc_malloc and friends), so nothing else changes.
 */
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

static atomic_ullong count;

/* Count one allocation. */
static inline void
counted(void)
{
	atomic_fetch_add_explicit(&count, 1, memory_order_relaxed);
}

/* malloc, counted. */
void *
malloc(size_t n)
{
	counted();
	return __libc_malloc(n);
}

/* calloc, counted. */
void *
calloc(size_t a, size_t b)
{
	counted();
	return __libc_calloc(a, b);
}

/* realloc, counted. */
void *
realloc(void *p, size_t n)
{
	counted();
	return __libc_realloc(p, n);
}

/* posix_memalign, counted. */
int
posix_memalign(void **p, size_t align, size_t n)
{
	counted();
	*p = __libc_memalign(align, n);
	return *p ? 0 : 12; /* ENOMEM */
}

/* aligned_alloc, counted. */
void *
aligned_alloc(size_t align, size_t n)
{
	counted();
	return __libc_memalign(align, n);
}

/* memalign, counted. */
void *
memalign(size_t align, size_t n)
{
	counted();
	return __libc_memalign(align, n);
}

/* Write the count to the file every 20 ms (rename, so a reader never sees half a number). */
static void *
writer(void *arg)
{
	const char *path = arg;
	char tmp[4096];
	struct timespec ts = {0, 20 * 1000 * 1000};

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	for (;;) {
		/* open/write, not stdio: the writer itself must not allocate. */
		char num[32];
		int len =
		    snprintf(num, sizeof(num), "%llu\n", (unsigned long long)atomic_load(&count));
		int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd >= 0) {
			(void)!write(fd, num, (size_t)len);
			close(fd);
			rename(tmp, path);
		}
		nanosleep(&ts, NULL);
	}
	return NULL;
}

/* Start the writer thread if LG_MALLOC_COUNT_FILE names a file. */
__attribute__((constructor)) static void
start(void)
{
	const char *path = getenv("LG_MALLOC_COUNT_FILE");
	pthread_t t;

	if (path && *path && pthread_create(&t, NULL, writer, (void *)path) == 0)
		pthread_detach(t);
}
