/* What an education bureau reads: audit records summed up per local day, as text, CSV or HTML. */
#ifndef LG_REPORT_H
#define LG_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "render.h"

/* The rules a refusal can carry, in report column order (blocked_day .. lesson_limit). */
#define LG_REPORT_RULES 4
/* Distinct forced-close "how"s kept apart; later ones are summed up as "other". */
#define LG_REPORT_HOWS 15
/* The longest range a report covers, in days (ten years). */
#define LG_REPORT_MAX_DAYS 3660

/* One local day's numbers. */
struct lg_report_day {
	int32_t day;                        /* days since 1970-01-01 (local date) */
	uint64_t lessons;                   /* lesson_end records whose lesson began this day */
	uint64_t lesson_seconds;            /* their durations summed */
	uint64_t refusals[LG_REPORT_RULES]; /* deny records (with their counts) by rule */
	uint64_t not_enforced;              /* of those, would-be refusals (monitor mode) */
	uint64_t
	    forced[LG_REPORT_HOWS + 1]; /* forced_close records by how (index: lg_report_how) */
	uint64_t forced_total;
	uint64_t unidentified; /* unidentified records (with their counts) */
};

struct lg_report;

/*
 * A report over the local dates [from, to] (day numbers, both included,
 * at most LG_REPORT_MAX_DAYS) of records in region (a GB/T 2260 code;
 * 530000 takes every 53xxxx; 0: all, and only then unidentified requests,
 * which have no region, are counted).
 */
struct lg_report *lg_report_new(int32_t from, int32_t to, uint32_t region);
void lg_report_free(struct lg_report *);
/*
 * Count one record (its bytes as in the log, no newline): a lesson_end by
 * the local date its lesson began, a deny, forced_close or unidentified by
 * its time's date; a counted record with its count. Records outside the
 * dates or region, and other types, are skipped. 0, or -1 (reason in err)
 * if it is not an audit record.
 */
int lg_report_add(struct lg_report *, const char *rec, size_t n, char *err, size_t errlen);
/* The days, from..to in order (ndays of them), and the records counted. */
size_t lg_report_ndays(const struct lg_report *);
const struct lg_report_day *lg_report_day(const struct lg_report *, size_t i);
uint64_t lg_report_records(const struct lg_report *);
/* How many forced-close hows were seen, and the name of one (index < LG_REPORT_HOWS + 1). */
size_t lg_report_nhows(const struct lg_report *);
const char *lg_report_how(const struct lg_report *, size_t i);

/* Output formats. */
enum lg_report_format { LG_REPORT_TEXT, LG_REPORT_CSV, LG_REPORT_HTML };

/*
 * Append the report in a format: text (aligned columns, a line per day, a
 * total), CSV (RFC 4180: a header line, CRLF, a row per day), or HTML (one
 * self-contained page: inline CSS, an inline SVG bar chart, bilingual
 * headings; nothing fetched, no script). title: what the report covers (the
 * log's instance or directory), shown in it.
 */
void lg_report_write(const struct lg_report *, enum lg_report_format, const char *title,
                     struct lg_buf *);

#endif
