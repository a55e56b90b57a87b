/* Import: published day lists in, a reviewed-ready calendar file (libconfig text) out. */
#include "calimport.h"

#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "ws.h"

#define IMPORT_NAME_MAX    256
#define IMPORT_SOURCES_MAX 16
#define IMPORT_DAYS_MAX    4000 /* far more than any notice sets */

/* One imported day. */
struct imp_day {
	int32_t day;
	enum lg_import_kind kind;
	char *name;
};

struct lg_import {
	struct imp_day *days;
	size_t n, cap;
	char *sources[IMPORT_SOURCES_MAX];
	size_t nsources;
	int year;
};

/* An empty import. */
struct lg_import *
lg_import_new(void)
{
	return lg_xcalloc(1, sizeof(struct lg_import));
}

/* Free the import and its names. */
void
lg_import_free(struct lg_import *imp)
{
	if (imp == NULL)
		return;
	for (size_t i = 0; i < imp->n; i++)
		free(imp->days[i].name);
	for (size_t i = 0; i < imp->nsources; i++)
		free(imp->sources[i]);
	free(imp->days);
	free(imp);
}

/* A name fit for a calendar file: non-blank UTF-8, no control characters, not too long. */
static const char *
name_problem(const char *name)
{
	if (name == NULL || name[strspn(name, " \t")] == '\0')
		return "an empty name";
	if (strlen(name) > IMPORT_NAME_MAX)
		return "a name longer than 256 bytes";
	for (const unsigned char *p = (const unsigned char *)name; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return "a control character in the name";
	if (!lg_ws_utf8_valid(name, strlen(name)))
		return "a name that is not UTF-8";
	return NULL;
}

/* Add days from..to; a day already present must agree in kind and name. */
int
lg_import_add(struct lg_import *imp, int32_t from, int32_t to, enum lg_import_kind kind,
              const char *name, const char *file, int line, struct lg_errors *errs)
{
	const char *problem = name_problem(name);
	char date[11];

	if (problem != NULL) {
		lg_format_date(from, date);
		lg_errors_add(errs, file, line, "%s: %s", date, problem);
		return -1;
	}
	if (to < from || imp->n + (size_t)(to - from) + 1 > IMPORT_DAYS_MAX) {
		lg_format_date(from, date);
		lg_errors_add(errs, file, line, "%s: %s", date,
		              to < from ? "the event ends before it starts"
		                        : "more than 4000 days (is this a holiday list?)");
		return -1;
	}
	for (int32_t d = from; d <= to; d++) {
		bool dup = false;
		for (size_t i = 0; i < imp->n; i++) {
			const struct imp_day *o = &imp->days[i];
			if (o->day != d)
				continue;
			lg_format_date(d, date);
			if (o->kind != kind || strcmp(o->name, name) != 0) {
				lg_errors_add(
				    errs, file, line, "%s: given twice, as %s %s and as %s %s",
				    date, o->kind == LG_IMPORT_HOLIDAY ? "holiday" : "workday",
				    o->name, kind == LG_IMPORT_HOLIDAY ? "holiday" : "workday",
				    name);
				return -1;
			}
			dup = true;
		}
		if (dup)
			continue;
		if (imp->n == imp->cap) {
			imp->cap = imp->cap ? imp->cap * 2 : 64;
			imp->days = lg_xrealloc(imp->days, imp->cap, sizeof(*imp->days));
		}
		imp->days[imp->n++] = (struct imp_day){d, kind, lg_strdup(name)};
	}
	return 0;
}

/* Keep a source once, up to the limit. */
void
lg_import_add_source(struct lg_import *imp, const char *source)
{
	for (size_t i = 0; i < imp->nsources; i++)
		if (strcmp(imp->sources[i], source) == 0)
			return;
	if (imp->nsources < IMPORT_SOURCES_MAX)
		imp->sources[imp->nsources++] = lg_strdup(source);
}

/* Set the notice year. */
void
lg_import_set_year(struct lg_import *imp, int year)
{
	imp->year = year;
}

/* The notice year set, or 0. */
int
lg_import_year(const struct lg_import *imp)
{
	return imp->year;
}

/* Reading a holiday-cn file: where we are, for line numbers. */
struct cn_read {
	struct lg_import *imp;
	const char *text, *seen;
	int line;
	const char *file;
	struct lg_errors *errs;
	char *keys;
	size_t keycap;
	int idx;
	int bad;
};

/* The line of position p (counting forward from the last position asked about). */
static int
line_of(struct cn_read *r, const char *p)
{
	for (; r->seen < p; r->seen++)
		if (*r->seen == '\n')
			r->line++;
	return r->line;
}

/* One element of "papers": a notice URL. */
static int
cn_paper(const struct lg_json_value *el, void *arg)
{
	struct cn_read *r = arg;
	char buf[1024];

	if (el->type != LG_JSON_STRING || lg_json_string(el, buf, sizeof(buf)) <= 0) {
		lg_errors_add(r->errs, r->file, line_of(r, el->p),
		              "papers: expected notice URLs as strings");
		r->bad = 1;
		return 0;
	}
	lg_import_add_source(r->imp, buf);
	return 0;
}

/* One element of "days": {"name", "date", "isOffDay"}. */
static int
cn_day(const struct lg_json_value *el, void *arg)
{
	static const char *const names[] = {"name", "date", "isOffDay"};
	struct cn_read *r = arg;
	struct lg_json_value v[3];
	char name[IMPORT_NAME_MAX + 1], date[16];
	int line = line_of(r, el->p), idx = r->idx++;
	int32_t day;

	if (el->type != LG_JSON_OBJECT ||
	    lg_json_parse(el->p, el->n, r->keys, r->keycap, names, v, 3) != 0) {
		lg_errors_add(r->errs, r->file, line, "days[%d]: expected an object", idx);
		r->bad = 1;
		return 0;
	}
	if (v[0].type != LG_JSON_STRING || lg_json_string(&v[0], name, sizeof(name)) < 0) {
		lg_errors_add(r->errs, r->file, line, "days[%d]: name: expected a string", idx);
		r->bad = 1;
		return 0;
	}
	if (v[1].type != LG_JSON_STRING || lg_json_string(&v[1], date, sizeof(date)) < 0 ||
	    lg_parse_date(date, &day) != 0) {
		lg_errors_add(r->errs, r->file, line,
		              "days[%d]: date: expected a date string \"YYYY-MM-DD\"", idx);
		r->bad = 1;
		return 0;
	}
	if (v[2].type != LG_JSON_BOOL) {
		lg_errors_add(r->errs, r->file, line, "days[%d]: isOffDay: expected true or false",
		              idx);
		r->bad = 1;
		return 0;
	}
	if (v[2].p[0] == 'f') {
		size_t len = strlen(name);
		if (len + sizeof("调休") > sizeof(name)) {
			lg_errors_add(r->errs, r->file, line, "days[%d]: name: too long", idx);
			r->bad = 1;
			return 0;
		}
		memcpy(name + len, "调休", sizeof("调休"));
	}
	if (lg_import_add(r->imp, day, day,
	                  v[2].p[0] == 't' ? LG_IMPORT_HOLIDAY : LG_IMPORT_WORKDAY, name, r->file,
	                  line, r->errs) != 0)
		r->bad = 1;
	return 0;
}

/* Read holiday-cn's JSON: year, papers (the sources) and one entry per day. */
int
lg_import_holiday_cn(struct lg_import *imp, const char *text, size_t n, const char *file,
                     struct lg_errors *errs)
{
	static const char *const names[] = {"year", "papers", "days"};
	struct lg_json_value v[3];
	struct cn_read r = {imp, text, text, 1, file, errs, lg_xcalloc(1, n + 1), n + 1, 0, 0};
	char *end;
	long year;

	if (lg_json_parse(text, n, r.keys, r.keycap, names, v, 3) != 0) {
		lg_errors_add(errs, file, 0,
		              "not a holiday-cn JSON file (expected one JSON object, at most 16 "
		              "levels deep)");
		free(r.keys);
		return -1;
	}
	year = v[0].type == LG_JSON_NUMBER ? strtol(v[0].p, &end, 10) : 0;
	if (v[0].type != LG_JSON_NUMBER || end != v[0].p + v[0].n || year < 2000 || year > 2199) {
		lg_errors_add(errs, file, v[0].p ? line_of(&r, v[0].p) : 0,
		              "year: expected the notice year, such as 2026");
		r.bad = 1;
	} else {
		imp->year = (int)year;
	}
	if (v[1].type == LG_JSON_ARRAY)
		lg_json_each(&v[1], r.keys, r.keycap, cn_paper, &r);
	else if (v[1].type != LG_JSON_ABSENT) {
		lg_errors_add(errs, file, line_of(&r, v[1].p), "papers: expected an array of URLs");
		r.bad = 1;
	}
	if (v[2].type != LG_JSON_ARRAY) {
		lg_errors_add(errs, file, v[2].p ? line_of(&r, v[2].p) : 0,
		              "days: expected an array of {\"name\", \"date\", \"isOffDay\"}");
		r.bad = 1;
	} else {
		line_of(&r, v[2].p);
		lg_json_each(&v[2], r.keys, r.keycap, cn_day, &r);
	}
	free(r.keys);
	return r.bad ? -1 : 0;
}

/* Order days by date. */
static int
day_cmp(const void *pa, const void *pb)
{
	const struct imp_day *a = pa, *b = pb;

	return a->day < b->day ? -1 : a->day > b->day;
}

/* Append s as a libconfig string literal, quotes included. */
static void
conf_str(struct lg_buf *b, const char *s)
{
	LG_BUF_LIT(b, "\"");
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			LG_BUF_LIT(b, "\\");
		lg_buf_add(b, s, 1);
	}
	LG_BUF_LIT(b, "\"");
}

/* One entry line: { [region = "..."; ] name = "..."; date|from/to ... }. */
static void
render_entry(struct lg_buf *b, uint32_t region, const struct imp_day *first, int32_t last,
             bool more)
{
	char from[11], to[11];

	lg_format_date(first->day, from);
	lg_format_date(last, to);
	LG_BUF_LIT(b, "\t{ ");
	if (region != 0)
		lg_buf_printf(b, "region = \"%06u\"; ", (unsigned)region);
	LG_BUF_LIT(b, "name = ");
	conf_str(b, first->name);
	if (first->day == last)
		lg_buf_printf(b, "; date = \"%s\"; }%s\n", from, more ? "," : "");
	else
		lg_buf_printf(b, "; from = \"%s\"; to = \"%s\"; }%s\n", from, to, more ? "," : "");
}

/* One list: holidays merge consecutive days of one name; workdays stay one per day. */
static void
render_list(struct lg_buf *b, const struct imp_day *d, size_t n, enum lg_import_kind kind,
            uint32_t region)
{
	size_t count = 0, done = 0;

	for (size_t i = 0; i < n; i++)
		count += d[i].kind == kind;
	if (count == 0)
		return;
	lg_buf_printf(b, "\n%s = (\n", kind == LG_IMPORT_HOLIDAY ? "holidays" : "workdays");
	for (size_t i = 0; i < n; i++) {
		size_t j = i;
		if (d[i].kind != kind)
			continue;
		while (kind == LG_IMPORT_HOLIDAY && j + 1 < n && d[j + 1].kind == kind &&
		       d[j + 1].day == d[j].day + 1 && strcmp(d[j + 1].name, d[i].name) == 0)
			j++;
		done += j - i + 1;
		render_entry(b, region, &d[i], d[j].day, done < count);
		i = j;
	}
	LG_BUF_LIT(b, ");\n");
}

/* Sort, check the notice year, and write the file. */
int
lg_import_render(const struct lg_import *imp, uint32_t region, const char *comment,
                 struct lg_buf *out, const char *file, struct lg_errors *errs)
{
	struct imp_day *d;
	int year = imp->year, y, m, dd, bad = 0;
	char date[11];

	if (imp->n == 0 || imp->nsources == 0) {
		lg_errors_add(errs, file, 0,
		              imp->n == 0 ? "no holidays or make-up workdays found"
		                          : "no source: cite the notice with --source URL");
		return -1;
	}
	d = lg_xcalloc(imp->n, sizeof(*d));
	memcpy(d, imp->days, imp->n * sizeof(*d));
	qsort(d, imp->n, sizeof(*d), day_cmp);
	if (year == 0)
		lg_civil_from_days(d[imp->n - 1].day, &year, &m, &dd);
	for (size_t i = 0; i < imp->n; i++) {
		lg_civil_from_days(d[i].day, &y, &m, &dd);
		if (y == year || (y == year - 1 && m == 12))
			continue;
		lg_format_date(d[i].day, date);
		lg_errors_add(errs, file, 0,
		              "%s (%s) is outside notice year %d (its year or the December "
		              "before); import one notice at a time, or give --year",
		              date, d[i].name, year);
		bad = 1;
	}
	if (bad) {
		free(d);
		return -1;
	}
	for (const char *c = comment; c != NULL && *c;) {
		size_t len = strcspn(c, "\n");
		LG_BUF_LIT(out, "# ");
		lg_buf_add(out, c, len);
		LG_BUF_LIT(out, "\n");
		c += len + (c[len] == '\n');
	}
	lg_buf_printf(out, "\nyear = %d;\n", year);
	if (imp->nsources == 1) {
		LG_BUF_LIT(out, "source = ");
		conf_str(out, imp->sources[0]);
		LG_BUF_LIT(out, ";\n");
	} else {
		LG_BUF_LIT(out, "source = [\n");
		for (size_t i = 0; i < imp->nsources; i++) {
			LG_BUF_LIT(out, "\t");
			conf_str(out, imp->sources[i]);
			if (i + 1 < imp->nsources)
				LG_BUF_LIT(out, ",");
			LG_BUF_LIT(out, "\n");
		}
		LG_BUF_LIT(out, "];\n");
	}
	render_list(out, d, imp->n, LG_IMPORT_HOLIDAY, region);
	render_list(out, d, imp->n, LG_IMPORT_WORKDAY, region);
	free(d);
	return 0;
}
