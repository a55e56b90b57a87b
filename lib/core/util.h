/* Small shared helpers: error lists, civil dates, durations, times of day. */
#ifndef LG_UTIL_H
#define LG_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LG_DAY_SECONDS 86400

#ifdef __GNUC__
#define LG_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define LG_PRINTF(f, a)
#endif

/*
 * A list of error messages, each already formatted as "file:line: message".
 * Loaders append to it and keep going where they can, so one run of
 * `lessongated -t` shows every mistake, not only the first.
 */
struct lg_errors {
	char **msg;
	size_t count;
	size_t cap;
};

void lg_errors_init(struct lg_errors *);
void lg_errors_free(struct lg_errors *);
/* Append "file:line: message"; line 0 leaves out the line, a NULL file both. */
void lg_errors_add(struct lg_errors *, const char *file, int line, const char *fmt, ...)
    LG_PRINTF(4, 5);
/* Join every message, one per line, into buf (truncated to len). */
void lg_errors_join(const struct lg_errors *, char *buf, size_t len);
/* Write a reason into err (if there is room for one); returns -1, for "return lg_fail(...)". */
int lg_fail(char *err, size_t errlen, const char *fmt, ...) LG_PRINTF(3, 4);

/* Days since 1970-01-01 of a proleptic Gregorian date. */
int32_t lg_days_from_civil(int y, int m, int d);
/* The date of a day number. */
void lg_civil_from_days(int32_t days, int *y, int *m, int *d);
/* 0 = Sunday .. 6 = Saturday. */
int lg_weekday(int32_t days);
/* Number of days in month m of year y. */
int lg_month_days(int y, int m);
/* Parse exactly "YYYY-MM-DD" into a day number; -1 if malformed or not a real date. */
int lg_parse_date(const char *s, int32_t *days);
/* Format a day number as "YYYY-MM-DD" into buf (at least 11 bytes). */
void lg_format_date(int32_t days, char *buf);
/* Floor division of a time in seconds into day number and second of day. */
int32_t lg_day_of(int64_t t);

/* Parse a duration such as "30m", "90s", "1h30m", "200ms" into milliseconds. */
int lg_parse_duration_ms(const char *s, int64_t *ms);
/* Parse a duration that must be whole seconds ("30m", "1h30m", "45s"). */
int lg_parse_duration_s(const char *s, int64_t *sec);
/* Parse "HH:MM" or "HH:MM:SS" (00:00 .. 24:00) into seconds since midnight. */
int lg_parse_time_of_day(const char *s, int32_t *sec);

/* The value of a hex digit, or -1. */
int lg_hex_value(unsigned char c);

/* A copy of s that aborts on allocation failure (there is no recovery from it here). */
char *lg_strdup(const char *s);
void *lg_xcalloc(size_t n, size_t size);
void *lg_xrealloc(void *p, size_t n, size_t size);

#endif
