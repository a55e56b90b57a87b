/* Calendar files: parsing them with libconfig and the checks one file can make on its own. */
#include "calendar_int.h"

#include <errno.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char *const lg_cal_list_names[CAL_NLISTS] = {"holidays", "workdays", "vacations",
                                                   "rest_days"};

/* The state of loading one file; its entries join the calendar only if it is clean. */
struct cal_load {
	struct lg_calendar *cal;
	const char *path;
	struct lg_errors *errs;
	size_t nerrs; /* errors before this file */
	int year;     /* 0 while unknown */
	struct cal_entry *e;
	size_t n, cap;
};

static void lerr(struct cal_load *, const config_setting_t *, const char *, ...) LG_PRINTF(3, 4);

/* Append "file:line: message" for the line of setting s (no line for the root). */
static void
lerr(struct cal_load *ld, const config_setting_t *s, const char *fmt, ...)
{
	const char *file = s != NULL ? config_setting_source_file(s) : NULL;
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	lg_errors_add(ld->errs, file != NULL ? file : ld->path,
	              s != NULL ? config_setting_source_line(s) : 0, "%s", buf);
}

/* Report every member of group g whose name is not in the NULL-terminated list. */
static void
check_keys(struct cal_load *ld, const config_setting_t *g, const char *what,
           const char *const *allowed, const char *expected)
{
	for (int i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(s);
		const char *const *a;

		for (a = allowed; *a != NULL && strcmp(*a, name) != 0; a++)
			;
		if (*a == NULL)
			lerr(ld, s, "%sunknown key '%s' (expected %s)", what, name, expected);
	}
}

/* A required non-blank string member; NULL after reporting why not. */
static const char *
get_string(struct cal_load *ld, config_setting_t *g, const char *what, const char *key,
           const char *expected)
{
	config_setting_t *s = config_setting_get_member(g, key);
	const char *v;

	if (s == NULL) {
		lerr(ld, g, "%smissing key '%s' (%s)", what, key, expected);
		return NULL;
	}
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		lerr(ld, s, "%s%s: expected %s", what, key, expected);
		return NULL;
	}
	v = config_setting_get_string(s);
	if (v[strspn(v, " \t")] == '\0') {
		lerr(ld, s, "%s%s: empty (expected %s)", what, key, expected);
		return NULL;
	}
	return v;
}

/* The required top-level year, an integer in range; 0 after reporting why not. */
static int
get_year(struct cal_load *ld, config_setting_t *root)
{
	config_setting_t *s = config_setting_get_member(root, "year");
	long long y;

	if (s == NULL) {
		lerr(ld, NULL, "missing key 'year' (an integer such as 2026)");
		return 0;
	}
	if (config_setting_type(s) != CONFIG_TYPE_INT &&
	    config_setting_type(s) != CONFIG_TYPE_INT64) {
		lerr(ld, s, "year: expected an integer such as 2026, without quotes");
		return 0;
	}
	y = config_setting_get_int64(s);
	if (y < CAL_YEAR_MIN || y > CAL_YEAR_MAX) {
		lerr(ld, s, "year: %lld is not between %d and %d", y, CAL_YEAR_MIN, CAL_YEAR_MAX);
		return 0;
	}
	return (int)y;
}

/* Parse one date member, which must lie in the file's year or the December before. */
static int
get_date(struct cal_load *ld, config_setting_t *s, const char *what, int32_t *day)
{
	const char *v = config_setting_get_string(s);
	char buf[11];
	int y, m, d;

	if (v == NULL) {
		lerr(ld, s, "%s%s: expected a date string \"YYYY-MM-DD\"", what,
		     config_setting_name(s));
		return -1;
	}
	if (lg_parse_date(v, day) != 0) {
		lerr(ld, s, "%s%s: malformed date '%s' (expected \"YYYY-MM-DD\")", what,
		     config_setting_name(s), v);
		return -1;
	}
	lg_civil_from_days(*day, &y, &m, &d);
	if (ld->year != 0 && y != ld->year && !(y == ld->year - 1 && m == 12)) {
		lg_format_date(*day, buf);
		lerr(ld, s,
		     "%s%s: %s is outside year %d of this file (a notice's dates fall in its "
		     "year or the December before)",
		     what, config_setting_name(s), buf, ld->year);
		return -1;
	}
	return 0;
}

/* Read either `date` or `from` and `to` of an entry into e->from, e->to. */
static int
get_range(struct cal_load *ld, config_setting_t *g, const char *what, struct cal_entry *e)
{
	config_setting_t *date = config_setting_get_member(g, "date");
	config_setting_t *from = config_setting_get_member(g, "from");
	config_setting_t *to = config_setting_get_member(g, "to");
	char a[11], b[11];

	if (date != NULL && (from != NULL || to != NULL)) {
		lerr(ld, g, "%sgive either 'date' or 'from' and 'to', not both", what);
		return -1;
	}
	if (date != NULL) {
		if (get_date(ld, date, what, &e->from) != 0)
			return -1;
		e->to = e->from;
		return 0;
	}
	if (from == NULL || to == NULL) {
		lerr(ld, g, "%smissing key '%s' (expected 'date', or 'from' and 'to')", what,
		     from == NULL && to == NULL ? "date"
		     : from == NULL             ? "from"
		                                : "to");
		return -1;
	}
	if ((get_date(ld, from, what, &e->from) | get_date(ld, to, what, &e->to)) != 0)
		return -1;
	if (e->from > e->to) {
		lg_format_date(e->from, a);
		lg_format_date(e->to, b);
		lerr(ld, from, "%sreversed range: from %s is after to %s", what, a, b);
		return -1;
	}
	return 0;
}

/* The region member of an entry (required for vacations and rest_days). */
static int
get_region(struct cal_load *ld, config_setting_t *g, const char *what, uint32_t *region)
{
	static const char expected[] = "a six-digit GB/T 2260 code in quotes, such as \"533100\"";
	const char *v = get_string(ld, g, what, "region", expected);

	if (v == NULL)
		return -1;
	if (lg_region_parse(v, region) != 0) {
		lerr(ld, config_setting_get_member(g, "region"),
		     "%sregion: malformed code '%s' (%s)", what, v, expected);
		return -1;
	}
	return 0;
}

/* Parse one list element into a new entry of ld; nothing is added on error. */
static void
parse_entry(struct cal_load *ld, config_setting_t *g, enum cal_list list, int idx)
{
	static const char *const keys[] = {"region", "name", "date", "from", "to", NULL};
	bool is_regional;
	struct cal_entry e = {
	    .list = list, .idx = idx, .line = config_setting_source_line(g), .year = ld->year};
	const char *name;
	char what[48];
	int bad = 0;

	snprintf(what, sizeof(what), "%s[%d]: ", lg_cal_list_names[list], idx);
	if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
		lerr(ld, g, "%sexpected a group { name = ...; date = ...; }", what);
		return;
	}
	is_regional = list == CAL_VACATIONS || list == CAL_REST_DAYS ||
	              config_setting_get_member(g, "region") != NULL;
	check_keys(ld, g, what, keys, "region, name, date, from, to");
	if (is_regional)
		bad |= get_region(ld, g, what, &e.region);
	name = get_string(ld, g, what, "name", "a non-empty string such as \"春节\"");
	bad |= name == NULL;
	bad |= get_range(ld, g, what, &e);
	if (bad)
		return;
	e.name = lg_strdup(name);
	if (ld->n == ld->cap) {
		ld->cap = ld->cap ? ld->cap * 2 : 16;
		ld->e = lg_xrealloc(ld->e, ld->cap, sizeof(*ld->e));
	}
	ld->e[ld->n++] = e;
}

/* Parse one top-level list if present; returns the setting or NULL. */
static config_setting_t *
parse_list(struct cal_load *ld, config_setting_t *root, enum cal_list list)
{
	config_setting_t *s = config_setting_get_member(root, lg_cal_list_names[list]);

	if (s == NULL)
		return NULL;
	if (config_setting_type(s) != CONFIG_TYPE_LIST) {
		lerr(ld, s, "%s: expected a list of groups: ( { ... }, { ... } )",
		     lg_cal_list_names[list]);
		return s;
	}
	for (int i = 0; i < config_setting_length(s); i++)
		parse_entry(ld, config_setting_get_elem(s, (unsigned)i), list, i);
	return s;
}

/* "2026-02-15" or "2026-02-15..2026-02-23". */
static void
format_range(const struct cal_entry *e, char *buf, size_t len)
{
	char a[11], b[11];

	lg_format_date(e->from, a);
	lg_format_date(e->to, b);
	if (e->from == e->to)
		snprintf(buf, len, "%s", a);
	else
		snprintf(buf, len, "%s..%s", a, b);
}

/* Whether two entries of the same list and region share a day. */
static bool
clash(const struct cal_entry *a, const struct cal_entry *b)
{
	return a->list == b->list && a->region == b->region && a->from <= b->to && b->from <= a->to;
}

/* Report b as a duplicate of, or overlapping, the earlier entry a (at file:line). */
void
lg_cal_report_clash(struct lg_errors *errs, const struct cal_entry *b, const char *bfile,
                    const struct cal_entry *a, const char *afile)
{
	char ra[32], rb[32], reg[24] = "";

	format_range(a, ra, sizeof(ra));
	format_range(b, rb, sizeof(rb));
	if (b->region != 0)
		snprintf(reg, sizeof(reg), " region %06u", (unsigned)b->region);
	lg_errors_add(errs, bfile, b->line, "%s[%d]:%s %s %s %s[%d] %s (%s, at %s:%d)",
	              lg_cal_list_names[b->list], b->idx, reg, rb,
	              a->from == b->from && a->to == b->to ? "duplicates" : "overlaps",
	              lg_cal_list_names[a->list], a->idx, a->name, ra, afile, a->line);
}

/* Overlaps and duplicates within one file, for entries of the same list and region. */
static void
check_clashes(struct cal_load *ld)
{
	for (size_t j = 0; j < ld->n; j++)
		for (size_t i = 0; i < j; i++)
			if (clash(&ld->e[i], &ld->e[j]))
				lg_cal_report_clash(ld->errs, &ld->e[j], ld->path, &ld->e[i],
				                    ld->path);
}

/* Whether entries for regions a and b (0: national) can apply to one student. */
static bool
regions_meet(uint32_t a, uint32_t b)
{
	return a == 0 || b == 0 || a == b || lg_region_covers(a, b) || lg_region_covers(b, a);
}

/* A make-up workday must replace a rest weekday and must not fall inside a holiday of the file. */
static void
check_workday(struct cal_load *ld, const struct cal_entry *w)
{
	static const char *const wd[7] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
	                                  "Thursday", "Friday", "Saturday"};
	char buf[11];

	for (int32_t d = w->from; d <= w->to; d++)
		if (!((ld->cal->opts.rest_weekdays >> lg_weekday(d)) & 1u)) {
			lg_format_date(d, buf);
			lg_errors_add(ld->errs, ld->path, w->line,
			              "workdays[%d]: %s is a %s, not a rest weekday; a make-up "
			              "workday replaces a rest day",
			              w->idx, buf, wd[lg_weekday(d)]);
			break;
		}
	for (size_t i = 0; i < ld->n; i++) {
		const struct cal_entry *h = &ld->e[i];
		if (h->list != CAL_HOLIDAYS || h->to < w->from || w->to < h->from ||
		    !regions_meet(h->region, w->region))
			continue;
		lg_format_date(h->from > w->from ? h->from : w->from, buf);
		lg_errors_add(ld->errs, ld->path, w->line,
		              "workdays[%d]: %s falls inside holidays[%d] %s (line %d)", w->idx,
		              buf, h->idx, h->name, h->line);
	}
}

/* One national calendar per year: name the file that already has it. */
static void
check_national(struct cal_load *ld, config_setting_t *holidays)
{
	const struct lg_calendar *cal = ld->cal;

	if (ld->year == 0)
		return;
	for (size_t i = 0; i < cal->nfiles; i++)
		if (cal->files[i].national && cal->files[i].year == ld->year)
			lerr(ld, holidays,
			     "holidays: a second national calendar for %d; %s:%d already has one",
			     ld->year, cal->files[i].path, cal->files[i].line);
}

/* Whether the parsed file has an entry of list `list` for the whole country. */
static bool
has_national(const struct cal_load *ld, enum cal_list list)
{
	for (size_t i = 0; i < ld->n; i++)
		if (ld->e[i].list == list && ld->e[i].region == 0)
			return true;
	return false;
}

/* The rules that tie a file's lists together. */
static void
check_file(struct cal_load *ld, config_setting_t *holidays, config_setting_t *workdays)
{
	if (holidays != NULL && config_setting_type(holidays) == CONFIG_TYPE_LIST &&
	    config_setting_length(holidays) == 0)
		lerr(ld, holidays, "holidays: empty list (a national calendar lists its holidays)");
	if (has_national(ld, CAL_WORKDAYS) && !has_national(ld, CAL_HOLIDAYS) && holidays == NULL)
		lerr(ld, workdays,
		     "workdays: make-up workdays belong in the national calendar, a file with a "
		     "'holidays' list; this file has none (a regional make-up workday needs a "
		     "'region')");
	else if (has_national(ld, CAL_WORKDAYS) && !has_national(ld, CAL_HOLIDAYS))
		lerr(ld, workdays,
		     "workdays: national make-up workdays belong in the national calendar, a file "
		     "with national holidays; this file has only regional ones (a regional "
		     "make-up workday needs a 'region')");
	if (has_national(ld, CAL_HOLIDAYS))
		check_national(ld, holidays);
	check_clashes(ld);
	for (size_t i = 0; i < ld->n; i++)
		if (ld->e[i].list == CAL_WORKDAYS)
			check_workday(ld, &ld->e[i]);
}

/* Move a clean file's entries into the calendar. */
static void
commit(struct cal_load *ld, const char *const *sources, size_t nsources, config_setting_t *holidays)
{
	struct lg_calendar *cal = ld->cal;
	struct cal_file *f;

	cal->files = lg_xrealloc(cal->files, cal->nfiles + 1, sizeof(*cal->files));
	f = &cal->files[cal->nfiles];
	f->path = lg_strdup(ld->path);
	f->year = ld->year;
	f->national = has_national(ld, CAL_HOLIDAYS);
	f->line = holidays != NULL ? config_setting_source_line(holidays) : 0;
	f->sources = lg_xcalloc(nsources, sizeof(*f->sources));
	f->nsources = nsources;
	for (size_t i = 0; i < nsources; i++)
		f->sources[i] = lg_strdup(sources[i]);
	cal->entries = lg_xrealloc(cal->entries, cal->nentries + ld->n, sizeof(*cal->entries));
	for (size_t i = 0; i < ld->n; i++) {
		ld->e[i].file = cal->nfiles;
		cal->entries[cal->nentries++] = ld->e[i];
	}
	cal->nfiles++;
	ld->n = 0;
}

#define CAL_MAX_SOURCES 16

/* `source`: one notice URL, or a list of them (a notice and the notices amending it). */
static size_t
get_sources(struct cal_load *ld, config_setting_t *root, const char **out)
{
	static const char expected[] =
	    "a string, the URL of the official notice, or a list of them [\"...\", \"...\"]";
	config_setting_t *s = config_setting_get_member(root, "source");
	size_t n = 0;
	int len;

	if (s == NULL || config_setting_type(s) == CONFIG_TYPE_STRING) {
		out[0] = get_string(ld, root, "", "source", expected);
		return out[0] != NULL;
	}
	if (config_setting_type(s) != CONFIG_TYPE_ARRAY &&
	    config_setting_type(s) != CONFIG_TYPE_LIST) {
		lerr(ld, s, "source: expected %s", expected);
		return 0;
	}
	len = config_setting_length(s);
	if (len == 0 || len > CAL_MAX_SOURCES) {
		lerr(ld, s, "source: %s list (expected 1 to %d notice URLs)",
		     len == 0 ? "empty" : "too long a", CAL_MAX_SOURCES);
		return 0;
	}
	for (int i = 0; i < len; i++) {
		config_setting_t *el = config_setting_get_elem(s, (unsigned)i);
		const char *v = config_setting_get_string(el);
		if (v == NULL || v[strspn(v, " \t")] == '\0') {
			lerr(ld, el, "source[%d]: expected a non-empty string (a notice URL)", i);
			return 0;
		}
		out[n++] = v;
	}
	return n;
}

/* Validate the parsed file and keep it if it added no error. */
static void
load_root(struct cal_load *ld, config_setting_t *root)
{
	static const char *const top[] = {"year",      "source",    "holidays", "workdays",
	                                  "vacations", "rest_days", NULL};
	config_setting_t *lists[CAL_NLISTS];
	const char *sources[CAL_MAX_SOURCES];
	size_t nsources;

	check_keys(ld, root, "", top, "year, source, holidays, workdays, vacations, rest_days");
	ld->year = get_year(ld, root);
	nsources = get_sources(ld, root, sources);
	for (int l = 0; l < CAL_NLISTS; l++)
		lists[l] = parse_list(ld, root, (enum cal_list)l);
	check_file(ld, lists[CAL_HOLIDAYS], lists[CAL_WORKDAYS]);
	if (ld->errs->count == ld->nerrs)
		commit(ld, sources, nsources, lists[CAL_HOLIDAYS]);
}

/* A file that libconfig can open: it exists and is not a directory. */
static int
check_readable(const char *path, struct lg_errors *errs)
{
	struct stat st;

	if (stat(path, &st) != 0) {
		lg_errors_add(errs, path, 0, "cannot read calendar file: %s", strerror(errno));
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		lg_errors_add(errs, path, 0, "cannot read calendar file: not a regular file");
		return -1;
	}
	return 0;
}

/* Validate and add a parsed calendar; it adds nothing if it has any error. */
static int
load_parsed(struct lg_calendar *cal, const char *name, config_t *cf, struct lg_errors *errs)
{
	struct cal_load ld = {.cal = cal, .path = name, .errs = errs, .nerrs = errs->count};

	load_root(&ld, config_root_setting(cf));
	for (size_t i = 0; i < ld.n; i++)
		free(ld.e[i].name);
	free(ld.e);
	lg_cal_index_free(cal);
	return errs->count == ld.nerrs ? 0 : -1;
}

/* libconfig's own error, as file:line: message. */
static void
syntax_error(config_t *cf, const char *name, struct lg_errors *errs)
{
	if (config_error_type(cf) == CONFIG_ERR_FILE_IO)
		lg_errors_add(errs, name, 0, "cannot read calendar file: %s", strerror(errno));
	else
		lg_errors_add(errs, config_error_file(cf) ? config_error_file(cf) : name,
		              config_error_line(cf), "%s", config_error_text(cf));
}

/* Read, validate and add one calendar file; a file with any error adds nothing. */
int
lg_calendar_load_file(struct lg_calendar *cal, const char *path, struct lg_errors *errs)
{
	config_t cf;
	int rc = -1;

	if (check_readable(path, errs) != 0)
		return -1;
	config_init(&cf);
	if (config_read_file(&cf, path))
		rc = load_parsed(cal, path, &cf, errs);
	else
		syntax_error(&cf, path, errs);
	config_destroy(&cf);
	return rc;
}

/* The same from text in memory (tests, fuzzing); name stands for the file in errors. */
int
lg_calendar_load_text(struct lg_calendar *cal, const char *name, const char *text,
                      struct lg_errors *errs)
{
	config_t cf;
	int rc = -1;

	config_init(&cf);
	if (config_read_string(&cf, text))
		rc = load_parsed(cal, name, &cf, errs);
	else
		syntax_error(&cf, name, errs);
	config_destroy(&cf);
	return rc;
}
