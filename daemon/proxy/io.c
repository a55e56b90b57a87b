/*
 * The read path of plain-socket bufferevents. libevent's own (evbuffer_read)
 * asks the kernel with ioctl(FIONREAD) how much is queued before every readv
 * and reads at most 4 KiB at a time; here the bufferevent's read event calls
 * io_read_cb instead, which does one recv of up to LGD_IO_CHUNK into a
 * per-thread buffer and appends what came to the input, so a request costs
 * one system call and the input's chain is sized by the bytes that arrived.
 * Enabling, disabling, timeouts and the read high watermark stay libevent's:
 * only the event's callback is replaced. lgd_bev_enable and lgd_bev_disable
 * skip what is already so (each bufferevent_enable is an event_add).
 *
 * libevent's own memory (evbuffer chains above all: every request fills and
 * empties four buffers, and an emptied buffer frees its chains) comes from a
 * per-thread cache of freed blocks in power-of-two classes (lgd_io_mem_init),
 * so a warm connection allocates nothing per request.
 */
#include "io.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/bufferevent_struct.h>
#include <event2/event.h>
#include <stdbool.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* One per event-loop thread: what a recv brings before it is appended to an input. */
static _Thread_local unsigned char scratch[LGD_IO_CHUNK];

/* Tell the bufferevent's owner about EOF, an error or a read timeout (libevent's semantics). */
static void
io_read_event(struct bufferevent *bev, short what)
{
	bufferevent_event_cb ecb;
	void *arg;
	int err = errno;

	bufferevent_getcb(bev, NULL, NULL, &ecb, &arg);
	bufferevent_disable(bev, EV_READ);
	errno = err;
	if (ecb)
		ecb(bev, BEV_EVENT_READING | what, arg);
}

/* Append the first n bytes of scratch to a socket bufferevent's input. */
static void
append(struct evbuffer *in, size_t n)
{
	/* Socket bufferevents freeze the input's end outside their own reads. */
	evbuffer_unfreeze(in, 0);
	evbuffer_add(in, scratch, n);
	evbuffer_freeze(in, 0);
}

/* The bufferevent's read event: one recv, append, then the read callback. */
static void
io_read_cb(evutil_socket_t fd, short what, void *p)
{
	struct bufferevent *bev = p;
	struct evbuffer *in = bufferevent_get_input(bev);
	bufferevent_data_cb rcb;
	void *arg;
	size_t low = 0, high = 0, len = evbuffer_get_length(in), want = sizeof(scratch);
	ssize_t n;

	if (what == EV_TIMEOUT) {
		io_read_event(bev, BEV_EVENT_TIMEOUT);
		return;
	}
	bufferevent_getwatermark(bev, EV_READ, &low, &high);
	if (high) {
		if (len >= high) {
			/* Setting the same watermark again suspends reading until it drains. */
			bufferevent_setwatermark(bev, EV_READ, low, high);
			return;
		}
		if (high - len < want)
			want = high - len;
	}
	n = recv(fd, scratch, want, 0);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		if (errno == ECONNREFUSED)
			return; /* a failed connect: the write event reports it, as libevent does */
		io_read_event(bev, BEV_EVENT_ERROR);
		return;
	}
	if (n == 0) {
		io_read_event(bev, BEV_EVENT_EOF);
		return;
	}
	append(in, (size_t)n);
	bufferevent_getcb(bev, &rcb, NULL, NULL, &arg);
	if (rcb && (bufferevent_get_enabled(bev) & EV_READ) && evbuffer_get_length(in) >= low)
		rcb(bev, arg);
}

/*
 * Append to a plain bufferevent's input whatever its socket still holds, up
 * to `max` bytes, without calling back; the bytes appended. For a peer that
 * went away (a reset, a failed write) after sending something worth reading.
 */
size_t
lgd_bev_read_rest(struct bufferevent *bev, size_t max)
{
	struct evbuffer *in = bufferevent_get_input(bev);
	evutil_socket_t fd = bufferevent_getfd(bev);
	size_t got = 0;
	ssize_t n;

	if (fd < 0 || bufferevent_openssl_get_ssl(bev) != NULL)
		return 0;
	while (got < max) {
		size_t want = max - got < sizeof(scratch) ? max - got : sizeof(scratch);
		n = recv(fd, scratch, want, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		append(in, (size_t)n);
		got += (size_t)n;
	}
	return got;
}

/* Let a bufferevent move large bodies in large writes, and read a plain one with our reader. */
void
lgd_bev_tune(struct bufferevent *bev)
{
	evutil_socket_t fd;
	bool reading;

	if (bev == NULL)
		return;
	bufferevent_set_max_single_read(bev, LGD_IO_CHUNK);
	bufferevent_set_max_single_write(bev, LGD_IO_CHUNK);
	fd = bufferevent_getfd(bev);
	if (fd < 0 || bufferevent_openssl_get_ssl(bev) != NULL)
		return;
	reading = bufferevent_get_enabled(bev) & EV_READ;
	if (reading)
		bufferevent_disable(bev, EV_READ);
	/* The flags libevent's socket bufferevent gives its read event (be_socket_setfd). */
	event_assign(&bev->ev_read, bev->ev_base, fd, EV_READ | EV_PERSIST | EV_FINALIZE,
	             io_read_cb, bev);
	if (reading)
		bufferevent_enable(bev, EV_READ);
}

/* Enable what is not enabled yet. */
void
lgd_bev_enable(struct bufferevent *bev, short events)
{
	short add = events & ~bufferevent_get_enabled(bev);

	if (add)
		bufferevent_enable(bev, add);
}

/*
 * Set a bufferevent's read and write timeouts (NULL: none) unless they are
 * set so already: bufferevent_set_timeouts re-adds every pending event with
 * a timeout, a timer-heap operation each.
 */
void
lgd_bev_timeouts(struct bufferevent *bev, const struct timeval *rt, const struct timeval *wt)
{
	static const struct timeval none;

	if (rt == NULL)
		rt = &none;
	if (wt == NULL)
		wt = &none;
	if (timercmp(&bev->timeout_read, rt, ==) && timercmp(&bev->timeout_write, wt, ==))
		return;
	bufferevent_set_timeouts(bev, rt, wt);
}

/* Disable what is enabled. */
void
lgd_bev_disable(struct bufferevent *bev, short events)
{
	short del = events & bufferevent_get_enabled(bev);

	if (del)
		bufferevent_disable(bev, del);
}

/*
 * The block cache behind libevent's allocations. Each block has a 16-byte
 * header with its class; classes are powers of two from 64 bytes to 256 KiB
 * (larger blocks go straight to malloc and free). A thread keeps up to
 * CACHE_PER_CLASS freed blocks per class and CACHE_BYTES in all; blocks freed
 * by another thread than the one that allocated them join that thread's cache.
 * A thread's cache is freed when it exits (and the main thread's at exit).
 */
#define CACHE_MIN_SHIFT 6
#define CACHE_CLASSES   13 /* 64 B .. 256 KiB */
#define CACHE_PER_CLASS 64
#define CACHE_BYTES     (2u * 1024 * 1024)
#define CACHE_DIRECT    0xff
#define HDR             16

struct cache {
	void *head[CACHE_CLASSES];
	unsigned n[CACHE_CLASSES];
	size_t bytes;
	bool registered;
};

static _Thread_local struct cache tcache;
static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;

/* Free every block a cache holds. */
static void
cache_drain(struct cache *c)
{
	for (int k = 0; k < CACHE_CLASSES; k++) {
		while (c->head[k]) {
			void *b = c->head[k];
			memcpy(&c->head[k], (char *)b + HDR, sizeof(void *));
			free(b);
		}
		c->n[k] = 0;
	}
	c->bytes = 0;
}

/* pthread key destructor: a thread with a cache exits. */
static void
cache_thread_exit(void *p)
{
	cache_drain(p);
}

/* At exit: the main thread's cache (its key destructor never runs). */
static void
cache_at_exit(void)
{
	cache_drain(&tcache);
}

/* Once per process: the key whose destructor frees a thread's cache. */
static void
cache_key_init(void)
{
	pthread_key_create(&cache_key, cache_thread_exit);
	atexit(cache_at_exit);
}

/* The class of a request of n bytes, or CACHE_DIRECT. */
static unsigned
cache_class(size_t n)
{
	unsigned k = 0;

	while (k < CACHE_CLASSES && ((size_t)1 << (k + CACHE_MIN_SHIFT)) < n)
		k++;
	return k < CACHE_CLASSES ? k : CACHE_DIRECT;
}

/* The usable size of a block of class k. */
static size_t
cache_size(unsigned k)
{
	return (size_t)1 << (k + CACHE_MIN_SHIFT);
}

/* libevent's malloc: a cached block of the class, else a new one. */
static void *
io_malloc(size_t n)
{
	unsigned k = cache_class(n);
	unsigned char *b;

	if (k != CACHE_DIRECT && tcache.head[k]) {
		b = tcache.head[k];
		memcpy(&tcache.head[k], b + HDR, sizeof(void *));
		tcache.n[k]--;
		tcache.bytes -= cache_size(k);
		return b + HDR;
	}
	b = malloc(HDR + (k == CACHE_DIRECT ? n : cache_size(k)));
	if (b == NULL)
		return NULL;
	b[0] = (unsigned char)k;
	return b + HDR;
}

/* libevent's free: into this thread's cache if there is room, else to free(). */
static void
io_free(void *p)
{
	unsigned char *b;
	unsigned k;

	if (p == NULL)
		return;
	b = (unsigned char *)p - HDR;
	k = b[0];
	if (k == CACHE_DIRECT || tcache.n[k] >= CACHE_PER_CLASS ||
	    tcache.bytes + cache_size(k) > CACHE_BYTES) {
		free(b);
		return;
	}
	if (!tcache.registered) {
		pthread_once(&cache_once, cache_key_init);
		pthread_setspecific(cache_key, &tcache);
		tcache.registered = true;
	}
	memcpy(p, &tcache.head[k], sizeof(void *));
	tcache.head[k] = b;
	tcache.n[k]++;
	tcache.bytes += cache_size(k);
}

/* libevent's realloc: the same block while the class holds n bytes. */
static void *
io_realloc(void *p, size_t n)
{
	unsigned char *b;
	void *q;
	size_t have;

	if (p == NULL)
		return io_malloc(n);
	b = (unsigned char *)p - HDR;
	if (b[0] == CACHE_DIRECT) {
		q = realloc(b, HDR + n);
		return q ? (unsigned char *)q + HDR : NULL;
	}
	have = cache_size(b[0]);
	if (n <= have)
		return p;
	if ((q = io_malloc(n)) == NULL)
		return NULL;
	memcpy(q, p, have);
	io_free(p);
	return q;
}

/*
 * Before any other libevent call: libevent's memory through the block cache.
 * Not under AddressSanitizer, whose checks of libevent's buffers a cache would hide.
 */
void
lgd_io_mem_init(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
	return;
#endif
#endif
	event_set_mem_functions(io_malloc, io_realloc, io_free);
}
