/* The calendar as an iCalendar feed (RFC 5545): the days that block or allow lessons specially. */
#ifndef LG_CALENDAR_ICS_H
#define LG_CALENDAR_ICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "calendar.h"
#include "render.h"

/* Longest span a feed covers, in days (ten years). */
#define LG_ICS_MAX_DAYS 3660

/* What one feed shows. */
struct lg_ics_feed {
	uint32_t region;          /* a region code; LG_REGION_NONE: the national calendar only */
	int32_t from, to;         /* days since 1970-01-01, inclusive */
	int64_t stamp;            /* DTSTAMP (unix seconds): when the calendar was loaded */
	unsigned subject_blocked; /* blocked_days bits of the subject class, for descriptions */
};

/*
 * Write a VCALENDAR with one all-day VEVENT per run of days of one kind and
 * name: holidays, vacations, named (regional) rest days and make-up workdays;
 * ordinary weekends and workdays are left out. Lines end in CRLF and are
 * folded at 75 octets; UIDs are stable (start date, kind, region). The caller
 * bounds from..to (at most LG_ICS_MAX_DAYS days).
 */
void lg_calendar_ics(const struct lg_calendar *, const struct lg_ics_feed *, struct lg_buf *out);

/*
 * A weak entity tag for the feed, W/"<32 hex digits>": a hash of the feed
 * written with DTSTAMP 0, so it changes only when the events do (whatever the
 * stamp, reload or worker). tag holds at least LG_ICS_ETAG_SIZE bytes.
 */
#define LG_ICS_ETAG_SIZE 40
void lg_calendar_ics_etag(const struct lg_calendar *, const struct lg_ics_feed *, char *tag);

/* Whether an If-None-Match value ("*" or a list of tags) matches tag, compared weakly. */
bool lg_ics_etag_match(const char *value, size_t len, const char *tag);

#endif
