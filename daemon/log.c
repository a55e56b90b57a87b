/* Structured log lines on stderr, one write(2) per line so threads never interleave. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

enum lgd_level lgd_log_level = LGD_INFO;
static int log_timestamps;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

/* Choose the lowest level written and whether lines carry a timestamp. */
void
lgd_log_init(enum lgd_level min, int timestamps)
{
	lgd_log_level = min;
	log_timestamps = timestamps;
}

/* Append s to buf[*n..len) with quotes and backslashes escaped. */
static void
append_quoted(char *buf, size_t *n, size_t len, const char *s)
{
	for (; *s && *n + 3 < len; s++) {
		if (*s == '"' || *s == '\\')
			buf[(*n)++] = '\\';
		buf[(*n)++] = (*s == '\n' || *s == '\r') ? ' ' : *s;
	}
}

/* Write one line: msg is quoted, kv ("key=%s key2=%d") is appended as given. */
void
lgd_logv(enum lgd_level lvl, const char *msg, const char *kv, ...)
{
	char buf[2048];
	size_t n = 0;
	va_list ap;
	int r;

	if (log_timestamps) {
		struct timeval tv;
		struct tm tm;
		gettimeofday(&tv, NULL);
		gmtime_r(&tv.tv_sec, &tm);
		n += strftime(buf, sizeof(buf), "ts=%Y-%m-%dT%H:%M:%S", &tm);
		n +=
		    (size_t)snprintf(buf + n, sizeof(buf) - n, ".%03ldZ ", (long)tv.tv_usec / 1000);
	}
	r = snprintf(buf + n, sizeof(buf) - n, "level=%s msg=\"", level_names[lvl]);
	n += (size_t)r;
	append_quoted(buf, &n, sizeof(buf) - 2, msg);
	buf[n++] = '"';
	if (kv && *kv) {
		buf[n++] = ' ';
		va_start(ap, kv);
		r = vsnprintf(buf + n, sizeof(buf) - n - 1, kv, ap);
		va_end(ap);
		if (r > 0)
			n += (size_t)r < sizeof(buf) - n - 1 ? (size_t)r : sizeof(buf) - n - 2;
	}
	buf[n++] = '\n';
	(void)!write(STDERR_FILENO, buf, n);
}

/* s made safe to put between double quotes in a log line (into buf). */
const char *
lgd_esc(const char *s, char *buf, size_t len)
{
	size_t n = 0;

	append_quoted(buf, &n, len, s ? s : "");
	buf[n] = '\0';
	return buf;
}
