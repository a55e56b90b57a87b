/* The holiday calendar: what kind of day a date is, for a student's region. */
#ifndef LG_CALENDAR_H
#define LG_CALENDAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* Day kinds, lowest precedence first. */
enum lg_day_kind {
	LG_DAY_WORKDAY = 0,
	LG_DAY_REST,     /* a configured rest weekday, or a regional rest day */
	LG_DAY_MAKEUP,   /* official make-up workday (调休上班), national or regional */
	LG_DAY_VACATION, /* school vacation for the region */
	LG_DAY_HOLIDAY,  /* statutory holiday, or a regional one (a prefecture's notice) */
	LG_DAY_UNKNOWN,  /* no calendar for the year and unknown_year = "block" */
};

/* Bits of blocked_days. A make-up workday is blocked by nothing. */
#define LG_BLOCK_HOLIDAY  0x1u
#define LG_BLOCK_REST     0x2u
#define LG_BLOCK_VACATION 0x4u

/* calendar.unknown_year */
enum lg_unknown_year {
	LG_UNKNOWN_WEEKLY = 0, /* only the rest weekdays apply */
	LG_UNKNOWN_BLOCK,      /* every day is blocked for classes that block any day */
};

/* A region that no regional entry covers (lg_calendar_day without the default region). */
#define LG_REGION_NONE UINT32_MAX

struct lg_calendar_opts {
	unsigned rest_weekdays; /* bit w set: weekday w (0 = Sunday) is a rest day */
	enum lg_unknown_year unknown_year;
	uint32_t default_region; /* GB/T 2260 code used when a student has none; 0 = none */
};

/* What one date is for one region. */
struct lg_day {
	enum lg_day_kind kind;
	const char *name;  /* 春节, 寒假, 国庆节调休 ... or NULL */
	bool unknown_year; /* no national calendar is loaded for this year */
};

struct lg_calendar;

/* An empty calendar with the given options. */
struct lg_calendar *lg_calendar_new(const struct lg_calendar_opts *);
void lg_calendar_free(struct lg_calendar *);

/*
 * Add one calendar file (libconfig syntax: year, source, holidays, workdays,
 * vacations, rest_days). `year` is the notice's year: dates may fall in it or
 * in the December before. holidays and workdays may carry a region (a
 * prefecture's own notice); vacations and rest_days must. Every error is
 * appended as "file:line: message"; returns 0 if the file added no error.
 */
int lg_calendar_load_file(struct lg_calendar *, const char *path, struct lg_errors *);

/* The same from text in memory; `name` stands for the file in messages. */
int lg_calendar_load_text(struct lg_calendar *, const char *name, const char *text,
                          struct lg_errors *);

/*
 * Check what can only be checked across files (one national calendar per
 * year; no date set for the same region by two files) and build the lookup
 * index. Must be called once after the last file; returns 0 on success.
 */
int lg_calendar_finish(struct lg_calendar *, struct lg_errors *);

/*
 * Classify a day (days since 1970-01-01) for a region (0: the default region;
 * LG_REGION_NONE: no region). Precedence, highest first: national holiday >
 * regional holiday > vacation > regional rest day > make-up workday (national
 * or regional) > rest weekday > workday; of two regional entries of one list,
 * the narrower region's wins. O(1) on days without regional entries.
 */
void lg_calendar_day(const struct lg_calendar *, int32_t day, uint32_t region, struct lg_day *);

/* Whether a classified day is blocked for a class with these blocked_days bits. */
bool lg_day_blocked(const struct lg_day *, unsigned blocked_days);

/*
 * The first day on or after `day` that is not blocked for `blocked_days` in
 * `region`, looking at most max_days ahead; -1 if there is none.
 */
int32_t lg_calendar_next_open(const struct lg_calendar *, int32_t day, uint32_t region,
                              unsigned blocked_days, int max_days);

/* Whether a national calendar is loaded for year y. */
bool lg_calendar_has_year(const struct lg_calendar *, int year);
/*
 * The years with no national calendar among the ndays days from `from`
 * (days since 1970-01-01), ascending; at most max are written to years.
 */
size_t lg_calendar_missing_years(const struct lg_calendar *, int32_t from, int ndays, int *years,
                                 size_t max);
/* The (first) official notice URL given for year y's national calendar, or NULL. */
const char *lg_calendar_source(const struct lg_calendar *, int year);
/* The span of indexed days; false before finish or without files. */
bool lg_calendar_range(const struct lg_calendar *, int32_t *first, int32_t *last);
/* The distinct regions of regional entries, ascending; at most max are written. */
size_t lg_calendar_regions(const struct lg_calendar *, uint32_t *out, size_t max);

/* "holiday", "rest_day", "makeup_workday", "vacation", "workday", "unknown". */
const char *lg_day_kind_name(enum lg_day_kind);

/* Parse a six-digit GB/T 2260 region code; -1 if malformed. */
int lg_region_parse(const char *s, uint32_t *code);
/* Whether an entry made for region `entry` covers `region` (530000 covers 53xxxx). */
bool lg_region_covers(uint32_t entry, uint32_t region);

#endif
