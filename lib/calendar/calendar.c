/* The holiday calendar: the day index, classifying days, checks across files. */
#include "calendar_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
void
lg_cal_index_free(struct lg_calendar *cal)
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
	lg_cal_index_free(cal);
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
				lg_cal_report_clash(errs, b, cal->files[b->file].path, a,
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

	lg_cal_index_free(cal);
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
