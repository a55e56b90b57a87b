/* Per-client caps across all workers: connections per address, status streams per student. */
#include "caps.h"

#include <netinet/in.h>
#include <pthread.h>
#include <string.h>
#include <sys/random.h>

#include "counts.h"

/* One locked table of counts, shared by every worker. */
struct table {
	pthread_mutex_t lock;
	struct lg_counts *t;
};

static struct table addresses = {.lock = PTHREAD_MUTEX_INITIALIZER};
static struct table streams = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* A random SipHash key: clients choose addresses and student ids. */
static void
random_key(uint8_t key[16])
{
	if (getrandom(key, 16, 0) != 16)
		memset(key, 0x5a, 16); /* still correct, only predictable */
}

/* Create the process-wide tables (once, before the workers start). */
void
lgd_limits_init(void)
{
	uint8_t key[16];

	random_key(key);
	addresses.t = lg_counts_new(key);
	random_key(key);
	streams.t = lg_counts_new(key);
}

void
lgd_limits_free(void)
{
	lg_counts_free(addresses.t);
	lg_counts_free(streams.t);
	addresses.t = streams.t = NULL;
}

/* Take one for key under max in table tb; true if taken. */
static bool
acquire(struct table *tb, const void *key, size_t len, int64_t max)
{
	int rc;

	pthread_mutex_lock(&tb->lock);
	rc = lg_counts_acquire(tb->t, key, len, max);
	pthread_mutex_unlock(&tb->lock);
	return rc == 0;
}

/* Give one back for key in table tb. */
static void
release(struct table *tb, const void *key, size_t len)
{
	pthread_mutex_lock(&tb->lock);
	lg_counts_release(tb->t, key, len);
	pthread_mutex_unlock(&tb->lock);
}

/* The address bytes of sa (4 or 16), or 0 for other families. */
static size_t
address_key(const struct sockaddr *sa, const void **key)
{
	if (sa->sa_family == AF_INET) {
		*key = &((const struct sockaddr_in *)sa)->sin_addr;
		return 4;
	}
	if (sa->sa_family == AF_INET6) {
		*key = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		return 16;
	}
	return 0;
}

/* One more connection from sa's address, unless it has max already (0: no cap, not counted). */
bool
lgd_limit_address_acquire(const struct sockaddr *sa, int64_t max)
{
	const void *key;
	size_t len = address_key(sa, &key);

	return max == 0 || len == 0 || addresses.t == NULL || acquire(&addresses, key, len, max);
}

/* A counted connection from sa's address closed. */
void
lgd_limit_address_release(const struct sockaddr *sa)
{
	const void *key;
	size_t len = address_key(sa, &key);

	if (len > 0 && addresses.t != NULL)
		release(&addresses, key, len);
}

/* One more status event stream for the student, unless there are max already. */
bool
lgd_limit_streams_acquire(const char *student, size_t len, int64_t max)
{
	return streams.t == NULL || acquire(&streams, student, len, max);
}

/* A counted status event stream of the student ended. */
void
lgd_limit_streams_release(const char *student, size_t len)
{
	if (streams.t != NULL)
		release(&streams, student, len);
}
