/* Small shared helpers: error lists, civil dates, durations, times of day. */
#include "util.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Allocate or die: out of memory in a loader or table is not recoverable. */
void *
lg_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL) {
		fputs("lessongate: out of memory\n", stderr);
		abort();
	}
	return p;
}

/* Grow an array of n elements or die; checks the multiplication. */
void *
lg_xrealloc(void *p, size_t n, size_t size)
{
	void *q;

	if (size != 0 && n > SIZE_MAX / size) {
		fputs("lessongate: allocation too large\n", stderr);
		abort();
	}
	q = realloc(p, n * size != 0 ? n * size : 1);
	if (q == NULL) {
		fputs("lessongate: out of memory\n", stderr);
		abort();
	}
	return q;
}

/* A copy of s (NULL stays NULL). */
char *
lg_strdup(const char *s)
{
	size_t n;
	char *p;

	if (s == NULL)
		return NULL;
	n = strlen(s) + 1;
	p = lg_xcalloc(1, n);
	memcpy(p, s, n);
	return p;
}

/* Start an empty error list. */
void
lg_errors_init(struct lg_errors *e)
{
	memset(e, 0, sizeof(*e));
}

/* Free every message. */
void
lg_errors_free(struct lg_errors *e)
{
	for (size_t i = 0; i < e->count; i++)
		free(e->msg[i]);
	free(e->msg);
	memset(e, 0, sizeof(*e));
}

/* Append one formatted message with its file:line prefix. */
void
lg_errors_add(struct lg_errors *e, const char *file, int line, const char *fmt, ...)
{
	char body[1024], full[1400];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(body, sizeof(body), fmt, ap);
	va_end(ap);
	if (file != NULL && line > 0)
		snprintf(full, sizeof(full), "%s:%d: %s", file, line, body);
	else if (file != NULL)
		snprintf(full, sizeof(full), "%s: %s", file, body);
	else
		snprintf(full, sizeof(full), "%s", body);
	if (e->count == e->cap) {
		e->cap = e->cap ? e->cap * 2 : 8;
		e->msg = lg_xrealloc(e->msg, e->cap, sizeof(*e->msg));
	}
	e->msg[e->count++] = lg_strdup(full);
}

/* Every message on its own line, truncated to fit. */
void
lg_errors_join(const struct lg_errors *e, char *buf, size_t len)
{
	size_t off = 0;

	if (len == 0)
		return;
	buf[0] = '\0';
	for (size_t i = 0; i < e->count && off < len; i++) {
		int n = snprintf(buf + off, len - off, "%s%s", i ? "\n" : "", e->msg[i]);
		if (n < 0)
			break;
		off += (size_t)n;
	}
}

/* Howard Hinnant's days_from_civil algorithm, written out for int32 days. */
int32_t
lg_days_from_civil(int y, int m, int d)
{
	int era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return (int32_t)(era * 146097 + doe - 719468);
}

/* Inverse of lg_days_from_civil. */
void
lg_civil_from_days(int32_t z, int *y, int *m, int *d)
{
	int64_t zz = (int64_t)z + 719468;
	int64_t era = (zz >= 0 ? zz : zz - 146096) / 146097;
	int64_t doe = zz - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;

	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

/* 1970-01-01 was a Thursday. */
int
lg_weekday(int32_t days)
{
	int w = (int)(((int64_t)days + 4) % 7);

	return w < 0 ? w + 7 : w;
}

/* Days in a month of the proleptic Gregorian calendar. */
int
lg_month_days(int y, int m)
{
	static const int len[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (m < 1 || m > 12)
		return 0;
	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return len[m - 1];
}

/* Read exactly n decimal digits. */
static int
digits(const char *s, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* Strict "YYYY-MM-DD", and the date must exist. */
int
lg_parse_date(const char *s, int32_t *days)
{
	int y, m, d;

	if (s == NULL || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return -1;
	if (digits(s, 4, &y) || digits(s + 5, 2, &m) || digits(s + 8, 2, &d))
		return -1;
	if (y < 1970 || m < 1 || m > 12 || d < 1 || d > lg_month_days(y, m))
		return -1;
	*days = lg_days_from_civil(y, m, d);
	return 0;
}

/* "YYYY-MM-DD". */
void
lg_format_date(int32_t days, char *buf)
{
	int y, m, d;

	lg_civil_from_days(days, &y, &m, &d);
	y = y < 0 ? 0 : y % 10000;
	buf[0] = (char)('0' + y / 1000);
	buf[1] = (char)('0' + y / 100 % 10);
	buf[2] = (char)('0' + y / 10 % 10);
	buf[3] = (char)('0' + y % 10);
	buf[4] = '-';
	buf[5] = (char)('0' + m / 10);
	buf[6] = (char)('0' + m % 10);
	buf[7] = '-';
	buf[8] = (char)('0' + d / 10);
	buf[9] = (char)('0' + d % 10);
	buf[10] = '\0';
}

/* Floor of t / 86400, correct for negative t. */
int32_t
lg_day_of(int64_t t)
{
	int64_t q = t / LG_DAY_SECONDS;

	if (t % LG_DAY_SECONDS < 0)
		q--;
	return (int32_t)q;
}

/* Durations: a sequence of <number><unit>, units h, m, s, ms, in decreasing order. */
int
lg_parse_duration_ms(const char *s, int64_t *ms)
{
	static const struct {
		const char *name;
		int64_t ms;
	} units[] = {{"d", 86400000}, {"h", 3600000}, {"ms", 1}, {"m", 60000}, {"s", 1000}};
	int64_t total = 0, last_unit = INT64_MAX;

	if (s == NULL || *s == '\0')
		return -1;
	while (*s != '\0') {
		int64_t n = 0;
		size_t u;

		if (!isdigit((unsigned char)*s))
			return -1;
		while (isdigit((unsigned char)*s)) {
			if (n > 100000000)
				return -1;
			n = n * 10 + (*s++ - '0');
		}
		for (u = 0; u < sizeof(units) / sizeof(units[0]); u++) {
			size_t len = strlen(units[u].name);
			if (strncmp(s, units[u].name, len) == 0 &&
			    !(len == 1 && s[0] == 'm' && s[1] == 's'))
				break;
		}
		if (u == sizeof(units) / sizeof(units[0]))
			return -1;
		if (units[u].ms >= last_unit)
			return -1; /* "30m1h" or "5m5m": units must decrease */
		last_unit = units[u].ms;
		s += strlen(units[u].name);
		total += n * units[u].ms;
		if (total > INT64_C(1) << 50)
			return -1;
	}
	*ms = total;
	return 0;
}

/* A duration in whole seconds. */
int
lg_parse_duration_s(const char *s, int64_t *sec)
{
	int64_t ms;

	if (lg_parse_duration_ms(s, &ms) != 0 || ms % 1000 != 0)
		return -1;
	*sec = ms / 1000;
	return 0;
}

/* "HH:MM" or "HH:MM:SS"; 24:00 is allowed and means the end of the day. */
int
lg_parse_time_of_day(const char *s, int32_t *sec)
{
	int h, m, sc = 0;
	size_t len;

	if (s == NULL)
		return -1;
	len = strlen(s);
	if ((len != 5 && len != 8) || s[2] != ':')
		return -1;
	if (digits(s, 2, &h) || digits(s + 3, 2, &m))
		return -1;
	if (len == 8 && (s[5] != ':' || digits(s + 6, 2, &sc)))
		return -1;
	if (h > 24 || m > 59 || sc > 59 || (h == 24 && (m != 0 || sc != 0)))
		return -1;
	*sec = h * 3600 + m * 60 + sc;
	return 0;
}

/* The value of a hex digit, or -1. */
int
lg_hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Write a reason into err (if there is room for one); returns -1. */
int
lg_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}
