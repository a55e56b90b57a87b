/* Reading an iCalendar file's all-day events into an import (libical; lessongatectl only). */
#ifndef LG_ICS_READ_H
#define LG_ICS_READ_H

#include "calimport.h"
#include "util.h"

#define LG_ICS_PATTERNS_MAX 8

/* How holiday and make-up events are told apart. */
struct lg_ics_read_opts {
	/* A SUMMARY containing any of these marks a make-up workday; default 上班, 补班. */
	const char *workday_patterns[LG_ICS_PATTERNS_MAX];
	size_t nworkday_patterns;
};

/*
 * Add every all-day VEVENT of text to imp: a make-up workday if its SUMMARY
 * matches a workday pattern (named "X调休" from holiday-cn's "上班(补X假期)"),
 * else a day off (named without a trailing "假期"). Cancelled events are
 * skipped; timed and recurring events are errors. The calendar's X-WR-CALNAME
 * ("" if none) is copied to calname. Errors name the event; warnings (what
 * libical repaired, counted) go to warns. Returns 0, or -1 after adding errors.
 */
int lg_ics_read(struct lg_import *imp, const char *text, const struct lg_ics_read_opts *,
                const char *file, char *calname, size_t calname_cap, struct lg_errors *errs,
                struct lg_errors *warns);

#endif
