/*
 * Structured log lines on stderr. Threads format a line and hand it to one
 * writer thread through a bounded queue: an event loop never waits for
 * stderr (a slow journald, an unread pipe); a line that does not fit is
 * dropped and counted, and the writer reports the count. Lines any client
 * can cause are counted here and written as one line per interval.
 */
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "logfmt.h"

/* Bytes of lines waiting for the writer; beyond it lines are dropped (and counted). */
#define QUEUE_BYTES (256 * 1024)
/* The longest line; longer ones are cut between whole units and marked truncated=true. */
#define LINE_BYTES 2048
/* Highest HTTP status counted for the aggregated refusals line. */
#define STATUS_MAX 600

enum lgd_level lgd_log_level = LGD_INFO;
static int log_timestamps;

static const char *const level_names[] = {"debug", "info", "warn", "error"};
static const char *const count_names[LGD_COUNT_N] = {
    [LGD_COUNT_UNIDENTIFIED] = "unidentified",
    [LGD_COUNT_WS_PROTOCOL] = "websocket_protocol_errors",
    [LGD_COUNT_PER_ADDRESS] = "refused_per_address",
    [LGD_COUNT_STREAMS] = "refused_streams_per_student",
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t more;
	pthread_t thread;
	bool running;  /* the writer thread takes lines */
	bool stopping; /* write what is queued, then end */
	char ring[QUEUE_BYTES];
	size_t head, len;
	unsigned long long dropped;
} q = {.lock = PTHREAD_MUTEX_INITIALIZER, .more = PTHREAD_COND_INITIALIZER};

static atomic_uint counts[LGD_COUNT_N];
static atomic_uint status_counts[STATUS_MAX];

/* Choose the lowest level written and whether lines carry a timestamp. */
void
lgd_log_init(enum lgd_level min, int timestamps)
{
	lgd_log_level = min;
	log_timestamps = timestamps;
}

/* Write all of p[0..n) to stderr, blocking (the writer thread, or before it runs). */
static void
write_all(const char *p, size_t n)
{
	while (n > 0) {
		ssize_t r = write(STDERR_FILENO, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return;
		p += r;
		n -= (size_t)r;
	}
}

/* Format one line into buf (LINE_BYTES), newline included; returns its length. */
static size_t
format_line(char *buf, enum lgd_level lvl, const char *msg, const char *kv, va_list ap)
{
	const size_t cap = LINE_BYTES - 1; /* room for the newline */
	size_t n = 0;
	int r;

	if (log_timestamps) {
		struct timeval tv;
		struct tm tm;
		gettimeofday(&tv, NULL);
		gmtime_r(&tv.tv_sec, &tm);
		n += strftime(buf, cap, "ts=%Y-%m-%dT%H:%M:%S", &tm);
		n += (size_t)snprintf(buf + n, cap - n, ".%03ldZ ", (long)tv.tv_usec / 1000);
	}
	n += (size_t)snprintf(buf + n, cap - n, "level=%s msg=\"", level_names[lvl]);
	n += lg_log_escape(buf + n, cap - n - 1, msg, strlen(msg), NULL);
	buf[n++] = '"';
	if (kv && *kv) {
		buf[n++] = ' ';
		r = vsnprintf(buf + n, cap - n, kv, ap);
		if (r > 0 && (size_t)r >= cap - n)
			n = lg_log_fit(buf, cap - 1, cap - 1); /* cut between whole units */
		else if (r > 0)
			n += (size_t)r;
	}
	buf[n++] = '\n';
	return n;
}

/* Queue one formatted line for the writer (or write it now if the writer is not running). */
static void
enqueue(const char *p, size_t n)
{
	pthread_mutex_lock(&q.lock);
	if (!q.running) {
		pthread_mutex_unlock(&q.lock);
		write_all(p, n);
		return;
	}
	if (q.len + n > QUEUE_BYTES) {
		q.dropped++;
	} else {
		size_t tail = (q.head + q.len) % QUEUE_BYTES, first = QUEUE_BYTES - tail;
		if (first > n)
			first = n;
		memcpy(q.ring + tail, p, first);
		memcpy(q.ring, p + first, n - first);
		if (q.len == 0)
			pthread_cond_signal(&q.more);
		q.len += n;
	}
	pthread_mutex_unlock(&q.lock);
}

/* Write one line: msg is quoted, kv ("key=%s key2=%d") is appended as given. */
void
lgd_logv(enum lgd_level lvl, const char *msg, const char *kv, ...)
{
	char buf[LINE_BYTES];
	va_list ap;
	size_t n;

	va_start(ap, kv);
	n = format_line(buf, lvl, msg, kv, ap);
	va_end(ap);
	enqueue(buf, n);
}

/* Format and write a line from the writer thread itself (it may block there). */
static void
write_now(enum lgd_level lvl, const char *msg, const char *kv, ...)
{
	char buf[LINE_BYTES];
	va_list ap;
	size_t n;

	va_start(ap, kv);
	n = format_line(buf, lvl, msg, kv, ap);
	va_end(ap);
	write_all(buf, n);
}

/* The writer thread: move queued lines to stderr; say how many were dropped. */
static void *
writer_main(void *arg)
{
	static char chunk[64 * 1024];

	(void)arg;
	for (;;) {
		unsigned long long dropped;
		size_t take;

		pthread_mutex_lock(&q.lock);
		while (q.len == 0 && q.dropped == 0 && !q.stopping)
			pthread_cond_wait(&q.more, &q.lock);
		take = q.len < QUEUE_BYTES - q.head ? q.len : QUEUE_BYTES - q.head;
		if (take > sizeof(chunk))
			take = sizeof(chunk);
		memcpy(chunk, q.ring + q.head, take);
		q.head = (q.head + take) % QUEUE_BYTES;
		q.len -= take;
		dropped = q.dropped;
		q.dropped = 0;
		if (take == 0 && dropped == 0 && q.stopping) {
			pthread_mutex_unlock(&q.lock);
			return NULL;
		}
		pthread_mutex_unlock(&q.lock);
		write_all(chunk, take);
		if (dropped > 0)
			write_now(LGD_WARN, "log lines dropped", "count=%llu reason=\"%s\"",
			          dropped, "log output too slow (queue full)");
	}
}

/* Start the writer thread: from now on no thread waits for stderr. */
void
lgd_log_start(void)
{
	pthread_mutex_lock(&q.lock);
	if (!q.running && pthread_create(&q.thread, NULL, writer_main, NULL) == 0)
		q.running = true;
	pthread_mutex_unlock(&q.lock);
}

/* Write what is queued and stop the writer, waiting at most wait_ms for a stuck stderr. */
void
lgd_log_stop(int64_t wait_ms)
{
	struct timespec ts;

	pthread_mutex_lock(&q.lock);
	if (!q.running) {
		pthread_mutex_unlock(&q.lock);
		return;
	}
	q.stopping = true;
	pthread_cond_signal(&q.more);
	pthread_mutex_unlock(&q.lock);
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)(wait_ms / 1000);
	ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	if (pthread_timedjoin_np(q.thread, NULL, &ts) == 0) {
		pthread_mutex_lock(&q.lock);
		q.running = false;
		q.stopping = false;
		pthread_mutex_unlock(&q.lock);
	}
}

/* Count a line any client can cause; lgd_log_flush_counts() writes the counts. */
void
lgd_log_count(enum lgd_count what)
{
	atomic_fetch_add_explicit(&counts[what], 1, memory_order_relaxed);
}

/* Count a request the proxy refused with status (instead of a line each). */
void
lgd_log_count_status(int status)
{
	if (status >= 0 && status < STATUS_MAX)
		atomic_fetch_add_explicit(&status_counts[status], 1, memory_order_relaxed);
}

/* One line with every count since the last call (nothing if all are zero). */
void
lgd_log_flush_counts(int interval_s)
{
	char kv[LINE_BYTES / 2];
	size_t n = 0;

	for (int i = 0; i < LGD_COUNT_N; i++) {
		unsigned v = atomic_exchange_explicit(&counts[i], 0, memory_order_relaxed);
		if (v && n < sizeof(kv))
			n += (size_t)snprintf(kv + n, sizeof(kv) - n, " %s=%u", count_names[i], v);
	}
	for (int s = 0; s < STATUS_MAX; s++) {
		unsigned v = atomic_exchange_explicit(&status_counts[s], 0, memory_order_relaxed);
		if (v && n < sizeof(kv))
			n += (size_t)snprintf(kv + n, sizeof(kv) - n, " refused_%d=%u", s, v);
	}
	if (n > 0)
		lgd_logv(LGD_INFO, "client errors (aggregated)", "interval_s=%d%s", interval_s,
		         n < sizeof(kv) ? kv : "");
}

/* s made safe to put between double quotes in a log line (into buf). */
const char *
lgd_esc(const char *s, char *buf, size_t len)
{
	if (s == NULL)
		s = "";
	lg_log_escape(buf, len, s, strlen(s), NULL);
	return buf;
}
