/* Importing published holiday lists (holiday-cn JSON, iCalendar days) as a calendar file. */
#ifndef LG_CALIMPORT_H
#define LG_CALIMPORT_H

#include <stddef.h>
#include <stdint.h>

#include "render.h"
#include "util.h"

/* What an imported day is. */
enum lg_import_kind {
	LG_IMPORT_HOLIDAY, /* a day off: goes to `holidays` */
	LG_IMPORT_WORKDAY, /* a make-up workday (调休上班): goes to `workdays` */
};

struct lg_import;

/* An empty import. */
struct lg_import *lg_import_new(void);
void lg_import_free(struct lg_import *);

/*
 * Add the days from..to (inclusive) with a kind and a name. The same day
 * twice with the same kind and name is fine; with another kind or name it is
 * an error, appended to errs as "file:line: message" (line 0: none).
 */
int lg_import_add(struct lg_import *, int32_t from, int32_t to, enum lg_import_kind,
                  const char *name, const char *file, int line, struct lg_errors *errs);
/* Cite a notice (URL or title) in the file's `source`; duplicates are dropped. */
void lg_import_add_source(struct lg_import *, const char *source);
/* Set the notice year (default: the latest year among the days). */
void lg_import_set_year(struct lg_import *, int year);
/* The notice year set, or 0. */
int lg_import_year(const struct lg_import *);

/*
 * Read a holiday-cn file: {"year", "papers": [URL...], "days": [{"name",
 * "date", "isOffDay"}]}. A day off is a holiday named `name`; a day with
 * isOffDay false is a make-up workday named `name` + "调休". Errors name
 * file:line. Returns 0, or -1 after adding errors.
 */
int lg_import_holiday_cn(struct lg_import *, const char *text, size_t n, const char *file,
                         struct lg_errors *errs);

/*
 * Write the calendar file: a comment (each line prefixed "# "), year, source,
 * holidays (consecutive days of one name as a range) and workdays, each entry
 * with `region` if region is not 0. Every day must fall in the notice year or
 * the December before; -1 after adding errors if one does not or there are no days.
 */
int lg_import_render(const struct lg_import *, uint32_t region, const char *comment,
                     struct lg_buf *out, const char *file, struct lg_errors *errs);

#endif
