/* The holiday calendar: loading calendar files and classifying days. */
#include "calendar.h"

#include <errno.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CAL_YEAR_MIN 2000
#define CAL_YEAR_MAX 2199
#define CAL_NONE     UINT32_MAX

/* The lists a calendar file can hold. */
enum cal_list {
	CAL_HOLIDAYS,
	CAL_WORKDAYS,
	CAL_VACATIONS,
	CAL_REST_DAYS,
	CAL_NLISTS,
};

static const char *const list_names[CAL_NLISTS] = {"holidays", "workdays", "vacations",
                                                   "rest_days"};

/* One entry of a list: a day range, for the whole country or for one region. */
struct cal_entry {
	enum cal_list list;
	int idx; /* position in its list, for messages */
	int32_t from, to;
	uint32_t region; /* 0: national (holidays and workdays only) */
	char *name;
	size_t file; /* index into lg_calendar.files */
	int line;
	int year; /* the notice year of its file */
	/* Built by finish: narrower regions whose entry of the same list, year and name replaces
	 * this one. */
	uint32_t *sub;
	uint32_t nsub;
};

/* One loaded calendar file. */
struct cal_file {
	char *path;
	int year;      /* the notice year; dates may also fall in the December before */
	bool national; /* it has national (region-less) holidays */
	int line;      /* of the holidays list */
	char **sources;
	size_t nsources;
};

#define CAL_DAY_KNOWN    0x1u /* a national calendar covers the day */
#define CAL_DAY_REGIONAL 0x2u /* some regional entry covers the day */

/* One day of the lookup index: its kind before regional entries are applied. */
struct cal_day {
	uint8_t kind;
	uint8_t flags;
	uint32_t entry; /* entry that names the day, or CAL_NONE */
};

struct lg_calendar {
	struct lg_calendar_opts opts;
	struct cal_file *files;
	size_t nfiles;
	struct cal_entry *entries;
	size_t nentries;
	/* Built by lg_calendar_finish: days first..last, with regional entries per day. */
	int32_t first, last;
	struct cal_day *days;
	uint32_t *reg_off; /* day i's regional entries are reg[reg_off[i] .. reg_off[i + 1]) */
	uint32_t *reg;     /* entry indices, sorted by region within a day */
};

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

/* Whether code is a GB/T 2260 province prefix (11 Beijing .. 82 Macao). */
static bool
province_ok(unsigned p)
{
	return (p >= 11 && p <= 15) || (p >= 21 && p <= 23) || (p >= 31 && p <= 37) ||
	       (p >= 41 && p <= 46) || (p >= 50 && p <= 54) || (p >= 61 && p <= 65) || p == 71 ||
	       p == 81 || p == 82;
}

/* Six digits whose first two name a province. */
int
lg_region_parse(const char *s, uint32_t *code)
{
	uint32_t v = 0;

	if (s == NULL)
		return -1;
	for (int i = 0; i < 6; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (uint32_t)(s[i] - '0');
	}
	if (s[6] != '\0' || !province_ok(v / 10000))
		return -1;
	*code = v;
	return 0;
}

/* xx0000 covers its province, xxxx00 its prefecture, anything else only itself. */
bool
lg_region_covers(uint32_t entry, uint32_t region)
{
	if (entry == 0 || region == 0)
		return false;
	if (entry % 10000 == 0)
		return entry / 10000 == region / 10000;
	if (entry % 100 == 0)
		return entry / 100 == region / 100;
	return entry == region;
}

/* The names used in configuration, logs and lessongatectl output. */
const char *
lg_day_kind_name(enum lg_day_kind k)
{
	switch (k) {
	case LG_DAY_WORKDAY:
		return "workday";
	case LG_DAY_REST:
		return "rest_day";
	case LG_DAY_MAKEUP:
		return "makeup_workday";
	case LG_DAY_VACATION:
		return "vacation";
	case LG_DAY_HOLIDAY:
		return "holiday";
	case LG_DAY_UNKNOWN:
		return "unknown";
	}
	return "unknown";
}

/* An empty calendar; every year is unknown until files are loaded and finished. */
struct lg_calendar *
lg_calendar_new(const struct lg_calendar_opts *opts)
{
	struct lg_calendar *cal = lg_xcalloc(1, sizeof(*cal));

	cal->opts = *opts;
	cal->first = 1;
	cal->last = 0;
	return cal;
}

/* Drop the lookup index (before a rebuild or on free). */
static void
index_free(struct lg_calendar *cal)
{
	free(cal->days);
	free(cal->reg_off);
	free(cal->reg);
	for (size_t i = 0; i < cal->nentries; i++) {
		free(cal->entries[i].sub);
		cal->entries[i].sub = NULL;
		cal->entries[i].nsub = 0;
	}
	cal->days = NULL;
	cal->reg_off = cal->reg = NULL;
	cal->first = 1;
	cal->last = 0;
}

/* Free the calendar and every name it handed out. */
void
lg_calendar_free(struct lg_calendar *cal)
{
	if (cal == NULL)
		return;
	index_free(cal);
	for (size_t i = 0; i < cal->nentries; i++)
		free(cal->entries[i].name);
	for (size_t i = 0; i < cal->nfiles; i++) {
		free(cal->files[i].path);
		for (size_t j = 0; j < cal->files[i].nsources; j++)
			free(cal->files[i].sources[j]);
		free(cal->files[i].sources);
	}
	free(cal->entries);
	free(cal->files);
	free(cal);
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

	snprintf(what, sizeof(what), "%s[%d]: ", list_names[list], idx);
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
	config_setting_t *s = config_setting_get_member(root, list_names[list]);

	if (s == NULL)
		return NULL;
	if (config_setting_type(s) != CONFIG_TYPE_LIST) {
		lerr(ld, s, "%s: expected a list of groups: ( { ... }, { ... } )",
		     list_names[list]);
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
static void
report_clash(struct lg_errors *errs, const struct cal_entry *b, const char *bfile,
             const struct cal_entry *a, const char *afile)
{
	char ra[32], rb[32], reg[24] = "";

	format_range(a, ra, sizeof(ra));
	format_range(b, rb, sizeof(rb));
	if (b->region != 0)
		snprintf(reg, sizeof(reg), " region %06u", (unsigned)b->region);
	lg_errors_add(errs, bfile, b->line, "%s[%d]:%s %s %s %s[%d] %s (%s, at %s:%d)",
	              list_names[b->list], b->idx, reg, rb,
	              a->from == b->from && a->to == b->to ? "duplicates" : "overlaps",
	              list_names[a->list], a->idx, a->name, ra, afile, a->line);
}

/* Overlaps and duplicates within one file, for entries of the same list and region. */
static void
check_clashes(struct cal_load *ld)
{
	for (size_t j = 0; j < ld->n; j++)
		for (size_t i = 0; i < j; i++)
			if (clash(&ld->e[i], &ld->e[j]))
				report_clash(ld->errs, &ld->e[j], ld->path, &ld->e[i], ld->path);
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
	index_free(cal);
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

/* An entry's place in the sorted orders used by the checks and the index. */
struct reg_key {
	uint32_t region;
	uint32_t group; /* the list; holidays and workdays share one (a notice's days) */
	int32_t from;
	uint32_t entry;
};

/* Order by region, then group, then start. */
static int
reg_key_cmp(const void *pa, const void *pb)
{
	const struct reg_key *a = pa, *b = pb;

	if (a->region != b->region)
		return a->region < b->region ? -1 : 1;
	if (a->group != b->group)
		return a->group < b->group ? -1 : 1;
	if (a->from != b->from)
		return a->from < b->from ? -1 : 1;
	return a->entry < b->entry ? -1 : a->entry > b->entry;
}

/* The entries (regional only, or all), sorted by region, group and start; *n is their count. */
static struct reg_key *
sorted_entries(const struct lg_calendar *cal, bool with_national, size_t *n)
{
	struct reg_key *k = lg_xcalloc(cal->nentries, sizeof(*k));

	*n = 0;
	for (size_t i = 0; i < cal->nentries; i++) {
		const struct cal_entry *e = &cal->entries[i];
		uint32_t group =
		    e->list == CAL_WORKDAYS ? (uint32_t)CAL_HOLIDAYS : (uint32_t)e->list;
		if (e->region != 0 || with_national)
			k[(*n)++] = (struct reg_key){e->region, group, e->from, (uint32_t)i};
	}
	qsort(k, *n, sizeof(*k), reg_key_cmp);
	return k;
}

/*
 * Two files may not set the same date for the same region: not two notices'
 * holidays or make-up workdays (notice-year files overlap in December), not
 * two vacations, not two regional rest days.
 */
static void
check_across_files(const struct lg_calendar *cal, struct lg_errors *errs)
{
	size_t n;
	struct reg_key *k = sorted_entries(cal, true, &n);

	for (size_t j = 0; j < n; j++)
		for (size_t i = j;
		     i-- > 0 && k[i].region == k[j].region && k[i].group == k[j].group;) {
			const struct cal_entry *a = &cal->entries[k[i].entry];
			const struct cal_entry *b = &cal->entries[k[j].entry];
			if (a->file != b->file && a->from <= b->to && b->from <= a->to)
				report_clash(errs, b, cal->files[b->file].path, a,
				             cal->files[a->file].path);
		}
	free(k);
}

/*
 * A narrower region's entry of the same list, notice year and name replaces a
 * wider one's for that region (瑞丽 moving the prefecture's 泼水节): note the
 * narrower regions on the wider entry.
 */
static void
index_overrides(struct lg_calendar *cal, const struct reg_key *k, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct cal_entry *a = &cal->entries[k[i].entry];
		for (size_t j = 0; j < n; j++) {
			const struct cal_entry *b = &cal->entries[k[j].entry];
			bool seen = false;
			if (b->list != a->list || b->year != a->year || b->region == a->region ||
			    !lg_region_covers(a->region, b->region) ||
			    strcmp(a->name, b->name) != 0)
				continue;
			for (uint32_t s = 0; s < a->nsub; s++)
				seen |= a->sub[s] == b->region;
			if (seen)
				continue;
			a->sub = lg_xrealloc(a->sub, a->nsub + 1, sizeof(*a->sub));
			a->sub[a->nsub++] = b->region;
		}
	}
}

/* Whether a narrower region's entry replaces e for `region`. */
static bool
overridden(const struct cal_entry *e, uint32_t region)
{
	for (uint32_t s = 0; s < e->nsub; s++)
		if (lg_region_covers(e->sub[s], region))
			return true;
	return false;
}

/* The kind of a day from the rest weekdays alone. */
static enum lg_day_kind
weekly_kind(const struct lg_calendar *cal, int32_t day)
{
	return (cal->opts.rest_weekdays >> lg_weekday(day)) & 1u ? LG_DAY_REST : LG_DAY_WORKDAY;
}

/* The kind of a day in a year without a national calendar, before regional entries. */
static enum lg_day_kind
unknown_kind(const struct lg_calendar *cal, int32_t day)
{
	return cal->opts.unknown_year == LG_UNKNOWN_BLOCK ? LG_DAY_UNKNOWN : weekly_kind(cal, day);
}

/* Fill days first..last from the rest weekdays, national holidays and make-up workdays. */
static void
index_national(struct lg_calendar *cal)
{
	for (int32_t d = cal->first; d <= cal->last; d++) {
		struct cal_day *cd = &cal->days[d - cal->first];
		int y, m, dd;

		lg_civil_from_days(d, &y, &m, &dd);
		cd->entry = CAL_NONE;
		cd->flags = lg_calendar_has_year(cal, y) ? CAL_DAY_KNOWN : 0;
		cd->kind = cd->flags ? weekly_kind(cal, d) : unknown_kind(cal, d);
	}
	for (size_t i = 0; i < cal->nentries; i++) {
		const struct cal_entry *e = &cal->entries[i];
		if ((e->list != CAL_HOLIDAYS && e->list != CAL_WORKDAYS) || e->region != 0)
			continue;
		for (int32_t d = e->from; d <= e->to; d++) {
			cal->days[d - cal->first].kind =
			    e->list == CAL_HOLIDAYS ? LG_DAY_HOLIDAY : LG_DAY_MAKEUP;
			cal->days[d - cal->first].entry = (uint32_t)i;
		}
	}
}

/* List each day's regional entries, in region order (k is sorted). */
static void
index_regional(struct lg_calendar *cal, const struct reg_key *k, size_t n)
{
	size_t ndays = (size_t)(cal->last - cal->first + 1);
	uint32_t *fill = lg_xcalloc(ndays, sizeof(*fill));
	size_t total = 0;

	cal->reg_off = lg_xcalloc(ndays + 1, sizeof(*cal->reg_off));
	for (size_t j = 0; j < n; j++)
		for (int32_t d = cal->entries[k[j].entry].from; d <= cal->entries[k[j].entry].to;
		     d++)
			cal->reg_off[d - cal->first + 1]++;
	for (size_t i = 0; i < ndays; i++) {
		if (cal->reg_off[i + 1] != 0)
			cal->days[i].flags |= CAL_DAY_REGIONAL;
		total += cal->reg_off[i + 1];
		cal->reg_off[i + 1] = (uint32_t)total;
	}
	cal->reg = lg_xcalloc(total, sizeof(*cal->reg));
	for (size_t j = 0; j < n; j++)
		for (int32_t d = cal->entries[k[j].entry].from; d <= cal->entries[k[j].entry].to;
		     d++) {
			size_t i = (size_t)(d - cal->first);
			cal->reg[cal->reg_off[i] + fill[i]++] = k[j].entry;
		}
	free(fill);
}

/*
 * Check across files, then index every day from December 1 before the first
 * notice year (notice-year files reach into it) to December 31 of the last.
 */
int
lg_calendar_finish(struct lg_calendar *cal, struct lg_errors *errs)
{
	size_t nerrs = errs->count, n;
	struct reg_key *k;
	int ymin = CAL_YEAR_MAX, ymax = CAL_YEAR_MIN;

	index_free(cal);
	check_across_files(cal, errs);
	k = sorted_entries(cal, false, &n);
	for (size_t i = 0; i < cal->nfiles; i++) {
		ymin = cal->files[i].year < ymin ? cal->files[i].year : ymin;
		ymax = cal->files[i].year > ymax ? cal->files[i].year : ymax;
	}
	if (cal->nfiles > 0) {
		cal->first = lg_days_from_civil(ymin - 1, 12, 1);
		cal->last = lg_days_from_civil(ymax, 12, 31);
		cal->days = lg_xcalloc((size_t)(cal->last - cal->first + 1), sizeof(*cal->days));
		index_national(cal);
		index_regional(cal, k, n);
		index_overrides(cal, k, n);
	}
	free(k);
	return errs->count == nerrs ? 0 : -1;
}

/* The first entry of day i's regional list whose region is at least `region`. */
static uint32_t
reg_lower_bound(const struct lg_calendar *cal, size_t i, uint32_t region)
{
	uint32_t lo = cal->reg_off[i], hi = cal->reg_off[i + 1];

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (cal->entries[cal->reg[mid]].region < region)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * Apply day i's regional entries for `region` to *out: per list the most
 * specific entry (county, then prefecture, then province) not replaced by a
 * narrower one; then regional holiday > vacation > regional rest day >
 * regional make-up workday > what the national calendar said.
 */
static void
apply_regional(const struct lg_calendar *cal, size_t i, uint32_t region, struct lg_day *out)
{
	const uint32_t cand[3] = {region, region - region % 100, region - region % 10000};
	const struct cal_entry *best[CAL_NLISTS] = {NULL};
	static const struct {
		enum cal_list list;
		enum lg_day_kind kind;
	} order[] = {{CAL_HOLIDAYS, LG_DAY_HOLIDAY},
	             {CAL_VACATIONS, LG_DAY_VACATION},
	             {CAL_REST_DAYS, LG_DAY_REST},
	             {CAL_WORKDAYS, LG_DAY_MAKEUP}};

	for (int c = 0; c < 3; c++) {
		if (c > 0 && cand[c] == cand[c - 1])
			continue;
		for (uint32_t j = reg_lower_bound(cal, i, cand[c]);
		     j < cal->reg_off[i + 1] && cal->entries[cal->reg[j]].region == cand[c]; j++) {
			const struct cal_entry *e = &cal->entries[cal->reg[j]];
			if (best[e->list] == NULL && !overridden(e, region))
				best[e->list] = e;
		}
	}
	for (size_t o = 0; o < sizeof(order) / sizeof(order[0]); o++)
		if (best[order[o].list] != NULL) {
			out->kind = order[o].kind;
			out->name = best[order[o].list]->name;
			return;
		}
}

/* An array lookup; regional entries are searched only on days that have some. */
void
lg_calendar_day(const struct lg_calendar *cal, int32_t day, uint32_t region, struct lg_day *out)
{
	const struct cal_day *cd;

	if (day < cal->first || day > cal->last) {
		out->kind = unknown_kind(cal, day);
		out->name = NULL;
		out->unknown_year = true;
		return;
	}
	cd = &cal->days[day - cal->first];
	out->kind = (enum lg_day_kind)cd->kind;
	out->name = cd->entry == CAL_NONE ? NULL : cal->entries[cd->entry].name;
	out->unknown_year = !(cd->flags & CAL_DAY_KNOWN);
	if (region == 0)
		region = cal->opts.default_region;
	/* A national holiday is never undone, not even by a regional make-up workday. */
	if ((cd->flags & CAL_DAY_REGIONAL) && region != 0 && region != LG_REGION_NONE &&
	    cd->kind != LG_DAY_HOLIDAY && cd->kind != LG_DAY_UNKNOWN)
		apply_regional(cal, (size_t)(day - cal->first), region, out);
}

/* Each kind is blocked by its own bit; an unknown day by any bit; make-up and workdays never. */
bool
lg_day_blocked(const struct lg_day *d, unsigned blocked_days)
{
	switch (d->kind) {
	case LG_DAY_HOLIDAY:
		return (blocked_days & LG_BLOCK_HOLIDAY) != 0;
	case LG_DAY_VACATION:
		return (blocked_days & LG_BLOCK_VACATION) != 0;
	case LG_DAY_REST:
		return (blocked_days & LG_BLOCK_REST) != 0;
	case LG_DAY_UNKNOWN:
		return blocked_days != 0;
	case LG_DAY_WORKDAY:
	case LG_DAY_MAKEUP:
		break;
	}
	return false;
}

/* Walk forward day by day; a holiday week costs a handful of array lookups. */
int32_t
lg_calendar_next_open(const struct lg_calendar *cal, int32_t day, uint32_t region,
                      unsigned blocked_days, int max_days)
{
	struct lg_day d;

	for (int i = 0; i <= max_days; i++) {
		lg_calendar_day(cal, day + i, region, &d);
		if (!lg_day_blocked(&d, blocked_days))
			return day + i;
	}
	return -1;
}

/* A year is known when a file with a holidays list was loaded for it. */
bool
lg_calendar_has_year(const struct lg_calendar *cal, int year)
{
	for (size_t i = 0; i < cal->nfiles; i++)
		if (cal->files[i].national && cal->files[i].year == year)
			return true;
	return false;
}

/* Years without a national calendar among the days from..from+ndays-1, ascending. */
size_t
lg_calendar_missing_years(const struct lg_calendar *cal, int32_t from, int ndays, int *years,
                          size_t max)
{
	size_t n = 0;
	int y, m, d, last;

	if (ndays <= 0)
		return 0;
	lg_civil_from_days(from, &y, &m, &d);
	lg_civil_from_days(from + ndays - 1, &last, &m, &d);
	for (; y <= last && n < max; y++)
		if (!lg_calendar_has_year(cal, y))
			years[n++] = y;
	return n;
}

/* The first source of the national calendar for the year. */
const char *
lg_calendar_source(const struct lg_calendar *cal, int year)
{
	for (size_t i = 0; i < cal->nfiles; i++)
		if (cal->files[i].national && cal->files[i].year == year)
			return cal->files[i].sources[0];
	return NULL;
}

/* The indexed days, from December 1 before the first notice year to the last December 31. */
bool
lg_calendar_range(const struct lg_calendar *cal, int32_t *first, int32_t *last)
{
	if (cal->days == NULL)
		return false;
	*first = cal->first;
	*last = cal->last;
	return true;
}

/* Every distinct region named by a regional entry, ascending. */
size_t
lg_calendar_regions(const struct lg_calendar *cal, uint32_t *out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < cal->nentries; i++) {
		uint32_t r = cal->entries[i].region;
		size_t j = 0;
		if (r == 0)
			continue;
		while (j < n && out[j] < r)
			j++;
		if ((j < n && out[j] == r) || n == max)
			continue;
		memmove(out + j + 1, out + j, (n - j) * sizeof(*out));
		out[j] = r;
		n++;
	}
	return n;
}
