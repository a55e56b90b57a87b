/* Tests for lib/calendar/calendar.c and lib/calendar/calendar_load.c: shipped calendars, precedence, validation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "calendar.h"

#define SAT_SUN    ((1u << 0) | (1u << 6))
#define ALL_BLOCKS (LG_BLOCK_HOLIDAY | LG_BLOCK_REST | LG_BLOCK_VACATION)
#define HEAD_2026  "year = 2026;\nsource = \"https://example.test/notice\";\n"

static const char *const shipped_files[] = {
    "conf/calendar/cn-2024.conf",
    "conf/calendar/cn-2025.conf",
    "conf/calendar/cn-2026.conf",
    "conf/calendar/example-vacations-533100.conf",
    NULL,
};

/* Every official holiday range, 2024-2026 (docs: shared/reference/cn-holidays.md). */
static const struct {
	const char *from, *to, *name;
} official_holidays[] = {
    {"2024-01-01", "2024-01-01", "元旦"},           {"2024-02-10", "2024-02-17", "春节"},
    {"2024-04-04", "2024-04-06", "清明节"},         {"2024-05-01", "2024-05-05", "劳动节"},
    {"2024-06-10", "2024-06-10", "端午节"},         {"2024-09-15", "2024-09-17", "中秋节"},
    {"2024-10-01", "2024-10-07", "国庆节"},         {"2025-01-01", "2025-01-01", "元旦"},
    {"2025-01-28", "2025-02-04", "春节"},           {"2025-04-04", "2025-04-06", "清明节"},
    {"2025-05-01", "2025-05-05", "劳动节"},         {"2025-05-31", "2025-06-02", "端午节"},
    {"2025-10-01", "2025-10-08", "国庆节、中秋节"}, {"2026-01-01", "2026-01-03", "元旦"},
    {"2026-02-15", "2026-02-23", "春节"},           {"2026-04-04", "2026-04-06", "清明节"},
    {"2026-05-01", "2026-05-05", "劳动节"},         {"2026-06-19", "2026-06-21", "端午节"},
    {"2026-09-25", "2026-09-27", "中秋节"},         {"2026-10-01", "2026-10-07", "国庆节"},
};

/* Every official make-up workday, 2024-2026. */
static const char *const official_workdays[] = {
    "2024-02-04", "2024-02-18", "2024-04-07", "2024-04-28", "2024-05-11",
    "2024-09-14", "2024-09-29", "2024-10-12", "2025-01-26", "2025-02-08",
    "2025-04-27", "2025-09-28", "2025-10-11", "2026-01-04", "2026-02-14",
    "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10",
};

static char tmpdir[64];
static char made[128][128];
static int nmade;

/* A day number from "YYYY-MM-DD". */
static int32_t
day(const char *s)
{
	int32_t d = -1;

	assert_int_equal(lg_parse_date(s, &d), 0);
	return d;
}

/* Options with Saturday and Sunday as rest weekdays. */
static struct lg_calendar_opts
opts(enum lg_unknown_year unknown, uint32_t default_region)
{
	struct lg_calendar_opts o = {SAT_SUN, unknown, default_region};

	return o;
}

/* Write text to a file in the test's temporary directory; returns its path. */
static const char *
write_conf(const char *name, const char *text)
{
	char *path;
	FILE *f;

	assert_true(nmade < 128);
	path = made[nmade++];
	snprintf(path, sizeof(made[0]), "%s/%s.conf", tmpdir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	return path;
}

/* Load files (NULL-terminated) that must be clean, and finish. */
static struct lg_calendar *
load_clean(const struct lg_calendar_opts *o, const char *const *files)
{
	struct lg_calendar *cal = lg_calendar_new(o);
	struct lg_errors errs;
	char buf[4096];

	lg_errors_init(&errs);
	for (; *files != NULL; files++)
		lg_calendar_load_file(cal, *files, &errs);
	lg_calendar_finish(cal, &errs);
	lg_errors_join(&errs, buf, sizeof(buf));
	if (errs.count != 0)
		fail_msg("unexpected calendar errors:\n%s", buf);
	lg_errors_free(&errs);
	return cal;
}

/* The shipped calendars and the example Dehong vacations. */
static struct lg_calendar *
shipped(enum lg_unknown_year unknown, uint32_t default_region)
{
	struct lg_calendar_opts o = opts(unknown, default_region);

	return load_clean(&o, shipped_files);
}

/* Assert the kind and name (NULL: no name) of a date for a region. */
static void
expect_day(const struct lg_calendar *cal, const char *date, uint32_t region, enum lg_day_kind kind,
           const char *name)
{
	struct lg_day d;

	lg_calendar_day(cal, day(date), region, &d);
	if (d.kind != kind)
		fail_msg("%s region %06u: kind %s, expected %s", date, (unsigned)region,
		         lg_day_kind_name(d.kind), lg_day_kind_name(kind));
	if (name == NULL)
		assert_null(d.name);
	else
		assert_string_equal(d.name, name);
}

/* Whether some error starts with "path:line: " (or "path: " for line 0) and has both needles. */
static bool
has_error(const struct lg_errors *errs, const char *path, int line, const char *needle,
          const char *needle2)
{
	char prefix[256];

	if (line > 0)
		snprintf(prefix, sizeof(prefix), "%s:%d: ", path, line);
	else
		snprintf(prefix, sizeof(prefix), "%s: ", path);
	for (size_t i = 0; i < errs->count; i++)
		if (strncmp(errs->msg[i], prefix, strlen(prefix)) == 0 &&
		    strstr(errs->msg[i], needle) != NULL &&
		    (needle2 == NULL || strstr(errs->msg[i], needle2) != NULL))
			return true;
	return false;
}

/* Load text as a file that must fail with an error at line naming needle (and needle2). */
static void
expect_error(const char *name, const char *text, int line, const char *needle, const char *needle2)
{
	struct lg_calendar_opts o = opts(LG_UNKNOWN_WEEKLY, 0);
	struct lg_calendar *cal = lg_calendar_new(&o);
	const char *path = write_conf(name, text);
	struct lg_errors errs;
	char buf[4096];

	lg_errors_init(&errs);
	assert_int_equal(lg_calendar_load_file(cal, path, &errs), -1);
	lg_errors_join(&errs, buf, sizeof(buf));
	if (!has_error(&errs, path, line, needle, needle2))
		fail_msg("no error at %s:%d naming '%s' '%s'; got:\n%s", path, line, needle,
		         needle2 ? needle2 : "", buf);
	/* A file with an error adds nothing. */
	assert_int_equal(lg_calendar_finish(cal, &errs), 0);
	assert_false(lg_calendar_has_year(cal, 2026));
	lg_errors_free(&errs);
	lg_calendar_free(cal);
}

/* Every official holiday is a holiday with its name, in every region. */
static void
test_official_holidays(void **state)
{
	struct lg_calendar *cal = shipped(LG_UNKNOWN_BLOCK, 533100);
	const uint32_t regions[] = {0, 110000, 533102};
	struct lg_day d;

	(void)state;
	for (size_t i = 0; i < sizeof(official_holidays) / sizeof(official_holidays[0]); i++)
		for (int32_t x = day(official_holidays[i].from); x <= day(official_holidays[i].to);
		     x++)
			for (size_t r = 0; r < 3; r++) {
				lg_calendar_day(cal, x, regions[r], &d);
				assert_int_equal(d.kind, LG_DAY_HOLIDAY);
				assert_string_equal(d.name, official_holidays[i].name);
				assert_false(d.unknown_year);
			}
	lg_calendar_free(cal);
}

/* Every official make-up workday is one, named after its holiday. */
static void
test_official_workdays(void **state)
{
	struct lg_calendar *cal = shipped(LG_UNKNOWN_BLOCK, 0);
	struct lg_day d;

	(void)state;
	for (size_t i = 0; i < sizeof(official_workdays) / sizeof(official_workdays[0]); i++) {
		lg_calendar_day(cal, day(official_workdays[i]), 110000, &d);
		assert_int_equal(d.kind, LG_DAY_MAKEUP);
		assert_non_null(d.name);
		assert_non_null(strstr(d.name, "调休"));
		assert_false(lg_day_blocked(&d, ALL_BLOCKS));
	}
	expect_day(cal, "2024-02-04", 0, LG_DAY_MAKEUP, "春节调休");
	expect_day(cal, "2025-09-28", 0, LG_DAY_MAKEUP, "国庆节、中秋节调休");
	expect_day(cal, "2026-01-04", 0, LG_DAY_MAKEUP, "元旦调休");
	lg_calendar_free(cal);
}

/* No date other than the official ones is a holiday or make-up day, and the rest is weekly. */
static void
test_no_extra_dates(void **state)
{
	struct lg_calendar *cal = shipped(LG_UNKNOWN_BLOCK, 0);
	size_t holidays = 0, makeups = 0, want_holidays = 0;
	struct lg_day d;

	(void)state;
	for (size_t i = 0; i < sizeof(official_holidays) / sizeof(official_holidays[0]); i++)
		want_holidays +=
		    (size_t)(day(official_holidays[i].to) - day(official_holidays[i].from) + 1);
	for (int32_t x = day("2024-01-01"); x <= day("2026-12-31"); x++) {
		lg_calendar_day(cal, x, 110000, &d);
		holidays += d.kind == LG_DAY_HOLIDAY;
		makeups += d.kind == LG_DAY_MAKEUP;
		if (d.kind == LG_DAY_WORKDAY || d.kind == LG_DAY_REST) {
			int w = lg_weekday(x);
			assert_int_equal(d.kind, w == 0 || w == 6 ? LG_DAY_REST : LG_DAY_WORKDAY);
			assert_null(d.name);
		}
		assert_int_not_equal(d.kind, LG_DAY_UNKNOWN);
		assert_int_not_equal(d.kind, LG_DAY_VACATION);
	}
	assert_int_equal(holidays, want_holidays);
	assert_int_equal(makeups, sizeof(official_workdays) / sizeof(official_workdays[0]));
	lg_calendar_free(cal);
}

/* Plain weekdays and weekends, including the days around holidays. */
static void
test_ordinary_days(void **state)
{
	struct lg_calendar *cal = shipped(LG_UNKNOWN_WEEKLY, 0);

	(void)state;
	expect_day(cal, "2026-03-10", 0, LG_DAY_WORKDAY, NULL); /* Tuesday */
	expect_day(cal, "2026-03-14", 0, LG_DAY_REST, NULL);    /* Saturday */
	expect_day(cal, "2026-03-15", 0, LG_DAY_REST, NULL);    /* Sunday */
	expect_day(cal, "2026-02-24", 0, LG_DAY_WORKDAY, NULL); /* after 春节 */
	expect_day(cal, "2026-10-08", 0, LG_DAY_WORKDAY, NULL); /* after 国庆节 */
	expect_day(cal, "2025-10-09", 0, LG_DAY_WORKDAY, NULL);
	expect_day(cal, "2024-10-13", 0, LG_DAY_REST, NULL);
	expect_day(cal, "2024-12-31", 0, LG_DAY_WORKDAY, NULL);
	expect_day(cal, "2026-12-31", 0, LG_DAY_WORKDAY, NULL);
	expect_day(cal, "2024-02-09", 0, LG_DAY_WORKDAY, NULL); /* 除夕 2024 is a Friday */
	lg_calendar_free(cal);
}

/* Holiday > vacation > regional rest day > make-up workday > rest weekday > workday. */
static void
test_precedence_shipped(void **state)
{
	struct lg_calendar *cal = shipped(LG_UNKNOWN_WEEKLY, 0);

	(void)state;
	/* A make-up workday inside the (example) winter vacation is vacation. */
	expect_day(cal, "2026-02-14", 533102, LG_DAY_VACATION, "寒假");
	expect_day(cal, "2026-02-28", 533102, LG_DAY_VACATION, "寒假");
	expect_day(cal, "2026-02-14", 110000, LG_DAY_MAKEUP, "春节调休");
	/* 春节 inside the vacation stays a holiday. */
	expect_day(cal, "2026-02-17", 533102, LG_DAY_HOLIDAY, "春节");
	/* Vacation on weekdays and weekends alike. */
	expect_day(cal, "2026-07-15", 533102, LG_DAY_VACATION, "暑假");
	expect_day(cal, "2026-07-18", 533102, LG_DAY_VACATION, "暑假");
	expect_day(cal, "2026-09-01", 533102, LG_DAY_WORKDAY, NULL);
	expect_day(cal, "2026-07-10", 533102, LG_DAY_WORKDAY, NULL);
	/* A regional rest day on a weekday. */
	expect_day(cal, "2026-04-14", 533102, LG_DAY_REST, "泼水节");
	expect_day(cal, "2026-04-14", 110000, LG_DAY_WORKDAY, NULL);
	lg_calendar_free(cal);
}

/* Regional rest days beat make-up days; vacations beat regional rest days. */
static void
test_precedence_regional(void **state)
{
	struct lg_calendar_opts o = opts(LG_UNKNOWN_WEEKLY, 0);
	const char *files[] = {
	    "conf/calendar/cn-2026.conf",
	    write_conf(
	        "prec", HEAD_2026
	        "vacations = ( { region = \"533100\"; name = \"V\"; date = \"2026-03-11\"; } );\n"
	        "rest_days = ( { region = \"533100\"; name = \"R\"; from = \"2026-03-10\"; "
	        "to = \"2026-03-11\"; },\n"
	        "              { region = \"533100\"; name = \"M\"; date = \"2026-05-09\"; },\n"
	        "              { region = \"533100\"; name = \"S\"; date = \"2026-03-14\"; },\n"
	        "              { region = \"533100\"; name = \"H\"; date = \"2026-10-01\"; } );\n"),
	    NULL,
	};
	struct lg_calendar *cal = load_clean(&o, files);

	(void)state;
	expect_day(cal, "2026-03-10", 533102, LG_DAY_REST, "R");
	expect_day(cal, "2026-03-11", 533102, LG_DAY_VACATION, "V");
	expect_day(cal, "2026-05-09", 533102, LG_DAY_REST, "M");
	expect_day(cal, "2026-05-09", 110000, LG_DAY_MAKEUP, "劳动节调休");
	expect_day(cal, "2026-03-14", 533102, LG_DAY_REST, "S");
	expect_day(cal, "2026-10-01", 533102, LG_DAY_HOLIDAY, "国庆节");
	lg_calendar_free(cal);
}

/* 530000 covers 53xxxx, 533100 covers 5331xx, 533102 only itself; the narrowest names the day. */
static void
test_region_prefixes(void **state)
{
	struct lg_calendar_opts o = opts(LG_UNKNOWN_WEEKLY, 0);
	const char *files[] = {
	    "conf/calendar/cn-2026.conf",
	    write_conf("prefix", HEAD_2026
	               "vacations = (\n"
	               "  { region = \"530000\"; name = \"province\"; date = \"2026-03-02\"; },\n"
	               "  { region = \"533100\"; name = \"prefecture\"; date = \"2026-03-03\"; },\n"
	               "  { region = \"533102\"; name = \"county\"; date = \"2026-03-04\"; },\n"
	               "  { region = \"530000\"; name = \"wide\"; date = \"2026-03-05\"; },\n"
	               "  { region = \"533100\"; name = \"narrow\"; date = \"2026-03-05\"; }\n"
	               ");\n"),
	    NULL,
	};
	struct lg_calendar *cal = load_clean(&o, files);

	(void)state;
	expect_day(cal, "2026-03-02", 533102, LG_DAY_VACATION, "province");
	expect_day(cal, "2026-03-03", 533102, LG_DAY_VACATION, "prefecture");
	expect_day(cal, "2026-03-04", 533102, LG_DAY_VACATION, "county");
	expect_day(cal, "2026-03-02", 533103, LG_DAY_VACATION, "province");
	expect_day(cal, "2026-03-03", 533103, LG_DAY_VACATION, "prefecture");
	expect_day(cal, "2026-03-04", 533103, LG_DAY_WORKDAY, NULL);
	expect_day(cal, "2026-03-03", 533100, LG_DAY_VACATION, "prefecture");
	expect_day(cal, "2026-03-04", 533100, LG_DAY_WORKDAY, NULL);
	expect_day(cal, "2026-03-02", 530100, LG_DAY_VACATION, "province");
	expect_day(cal, "2026-03-03", 530100, LG_DAY_WORKDAY, NULL);
	expect_day(cal, "2026-03-02", 530000, LG_DAY_VACATION, "province");
	expect_day(cal, "2026-03-03", 530000, LG_DAY_WORKDAY, NULL);
	for (int i = 2; i <= 5; i++) {
		char date[16];
		snprintf(date, sizeof(date), "2026-03-%02d", i);
		expect_day(cal, date, 110000, LG_DAY_WORKDAY, NULL);
		expect_day(cal, date, 0, LG_DAY_WORKDAY, NULL);
	}
	expect_day(cal, "2026-03-05", 533102, LG_DAY_VACATION, "narrow");
	expect_day(cal, "2026-03-05", 532300, LG_DAY_VACATION, "wide");
	lg_calendar_free(cal);
}

/* Region 0 means the default region; with no default, no regional entry applies. */
static void
test_default_region(void **state)
{
	struct lg_calendar *dehong = shipped(LG_UNKNOWN_WEEKLY, 533100);
	struct lg_calendar *none = shipped(LG_UNKNOWN_WEEKLY, 0);

	(void)state;
	expect_day(dehong, "2026-07-15", 0, LG_DAY_VACATION, "暑假");
	expect_day(dehong, "2026-07-15", 110000, LG_DAY_WORKDAY, NULL);
	expect_day(dehong, "2026-07-15", 533102, LG_DAY_VACATION, "暑假");
	expect_day(none, "2026-07-15", 0, LG_DAY_WORKDAY, NULL);
	expect_day(none, "2026-07-15", 533102, LG_DAY_VACATION, "暑假");
	lg_calendar_free(dehong);
	lg_calendar_free(none);
}

/* Without a national calendar: rest weekdays only, or every day unknown. */
static void
test_unknown_years(void **state)
{
	struct lg_calendar *weekly = shipped(LG_UNKNOWN_WEEKLY, 0);
	struct lg_calendar *block = shipped(LG_UNKNOWN_BLOCK, 0);
	struct lg_day d;

	(void)state;
	lg_calendar_day(weekly, day("2027-03-01"), 0, &d); /* Monday */
	assert_int_equal(d.kind, LG_DAY_WORKDAY);
	assert_true(d.unknown_year);
	lg_calendar_day(weekly, day("2027-03-06"), 0, &d); /* Saturday */
	assert_int_equal(d.kind, LG_DAY_REST);
	assert_true(d.unknown_year);
	lg_calendar_day(weekly, day("2023-10-02"), 0, &d); /* a holiday, but 2023 is not loaded */
	assert_int_equal(d.kind, LG_DAY_WORKDAY);
	assert_true(d.unknown_year);
	lg_calendar_day(weekly, day("2026-12-31"), 0, &d);
	assert_false(d.unknown_year);

	lg_calendar_day(block, day("2027-03-01"), 533102, &d);
	assert_int_equal(d.kind, LG_DAY_UNKNOWN);
	assert_true(d.unknown_year);
	assert_null(d.name);
	assert_true(lg_day_blocked(&d, ALL_BLOCKS));
	assert_true(lg_day_blocked(&d, LG_BLOCK_VACATION));
	assert_false(lg_day_blocked(&d, 0));
	lg_calendar_day(block, day("2023-06-01"), 0, &d);
	assert_int_equal(d.kind, LG_DAY_UNKNOWN);
	assert_false(lg_calendar_has_year(block, 2027));
	assert_true(lg_calendar_has_year(block, 2026));
	lg_calendar_free(weekly);
	lg_calendar_free(block);
}

/* A year between two loaded ones is unknown; regional entries of unknown years apply weekly. */
static void
test_unknown_gap_and_regional(void **state)
{
	const char *vac =
	    write_conf("vac2027", "year = 2027; source = \"example\";\n"
	                          "vacations = ( { region = \"533100\"; name = \"寒假\"; "
	                          "from = \"2027-01-25\"; to = \"2027-02-26\"; } );\n");
	const char *files[] = {"conf/calendar/cn-2024.conf", "conf/calendar/cn-2026.conf", vac,
	                       NULL};
	struct lg_calendar_opts ow = opts(LG_UNKNOWN_WEEKLY, 0), ob = opts(LG_UNKNOWN_BLOCK, 0);
	struct lg_calendar *weekly = load_clean(&ow, files);
	struct lg_calendar *block = load_clean(&ob, files);
	struct lg_day d;

	(void)state;
	assert_false(lg_calendar_has_year(weekly, 2025));
	lg_calendar_day(weekly, day("2025-10-01"), 0, &d); /* Wednesday */
	assert_int_equal(d.kind, LG_DAY_WORKDAY);
	assert_true(d.unknown_year);
	lg_calendar_day(weekly, day("2027-02-01"), 533102, &d);
	assert_int_equal(d.kind, LG_DAY_VACATION);
	assert_string_equal(d.name, "寒假");
	assert_true(d.unknown_year);
	lg_calendar_day(weekly, day("2027-02-01"), 110000, &d);
	assert_int_equal(d.kind, LG_DAY_WORKDAY);
	lg_calendar_day(block, day("2025-10-01"), 0, &d);
	assert_int_equal(d.kind, LG_DAY_UNKNOWN);
	lg_calendar_day(block, day("2027-02-01"), 533102, &d);
	assert_int_equal(d.kind, LG_DAY_UNKNOWN);
	lg_calendar_day(block, day("2024-10-01"), 0, &d);
	assert_int_equal(d.kind, LG_DAY_HOLIDAY);
	assert_false(d.unknown_year);
	lg_calendar_free(weekly);
	lg_calendar_free(block);
}

/* The first open day after the 2026 National Day week, and other walks. */
static void
test_next_open(void **state)
{
	struct lg_calendar *cal = shipped(LG_UNKNOWN_BLOCK, 0);

	(void)state;
	assert_int_equal(lg_calendar_next_open(cal, day("2026-10-01"), 0, ALL_BLOCKS, 30),
	                 day("2026-10-08"));
	assert_int_equal(lg_calendar_next_open(cal, day("2026-10-03"), 0, LG_BLOCK_HOLIDAY, 30),
	                 day("2026-10-08"));
	assert_int_equal(lg_calendar_next_open(cal, day("2026-10-01"), 0, ALL_BLOCKS, 6), -1);
	assert_int_equal(lg_calendar_next_open(cal, day("2026-10-01"), 0, ALL_BLOCKS, 7),
	                 day("2026-10-08"));
	assert_int_equal(lg_calendar_next_open(cal, day("2026-10-01"), 0, 0, 30),
	                 day("2026-10-01"));
	/* 中秋节 runs Friday to Sunday. */
	assert_int_equal(lg_calendar_next_open(cal, day("2026-09-25"), 0, ALL_BLOCKS, 30),
	                 day("2026-09-28"));
	/* The make-up Saturday after the week is open. */
	assert_int_equal(lg_calendar_next_open(cal, day("2026-10-10"), 0, ALL_BLOCKS, 30),
	                 day("2026-10-10"));
	/* Only rest days blocked: the holiday week is open from its first day. */
	assert_int_equal(lg_calendar_next_open(cal, day("2026-10-01"), 0, LG_BLOCK_REST, 30),
	                 day("2026-10-01"));
	/* 春节 then the example winter vacation for Dehong. */
	assert_int_equal(lg_calendar_next_open(cal, day("2026-02-15"), 110000, ALL_BLOCKS, 60),
	                 day("2026-02-24"));
	assert_int_equal(lg_calendar_next_open(cal, day("2026-02-15"), 533102, ALL_BLOCKS, 60),
	                 day("2026-03-02"));
	/* Unknown years block everything in "block" mode. */
	assert_int_equal(lg_calendar_next_open(cal, day("2026-12-31"), 0, ALL_BLOCKS, 30),
	                 day("2026-12-31"));
	assert_int_equal(lg_calendar_next_open(cal, day("2027-01-01"), 0, ALL_BLOCKS, 30), -1);
	lg_calendar_free(cal);
}

/* Each kind is blocked by its own bit only. */
static void
test_day_blocked(void **state)
{
	struct lg_day d = {LG_DAY_HOLIDAY, NULL, false};

	(void)state;
	assert_true(lg_day_blocked(&d, LG_BLOCK_HOLIDAY));
	assert_false(lg_day_blocked(&d, LG_BLOCK_REST | LG_BLOCK_VACATION));
	d.kind = LG_DAY_REST;
	assert_true(lg_day_blocked(&d, LG_BLOCK_REST));
	assert_false(lg_day_blocked(&d, LG_BLOCK_HOLIDAY | LG_BLOCK_VACATION));
	d.kind = LG_DAY_VACATION;
	assert_true(lg_day_blocked(&d, LG_BLOCK_VACATION));
	assert_false(lg_day_blocked(&d, LG_BLOCK_HOLIDAY | LG_BLOCK_REST));
	d.kind = LG_DAY_MAKEUP;
	assert_false(lg_day_blocked(&d, ALL_BLOCKS));
	d.kind = LG_DAY_WORKDAY;
	assert_false(lg_day_blocked(&d, ALL_BLOCKS));
	d.kind = LG_DAY_UNKNOWN;
	assert_true(lg_day_blocked(&d, LG_BLOCK_REST));
	assert_false(lg_day_blocked(&d, 0));
}

/* Region codes: six digits with a GB/T 2260 province. */
static void
test_region_parse_covers(void **state)
{
	const char *bad[] = {"",       "53310",  "5331000", "53310a", " 53310",
	                     "000000", "990000", "100000",  "-53310", "533100 "};
	uint32_t c = 1;

	(void)state;
	assert_int_equal(lg_region_parse("533100", &c), 0);
	assert_int_equal(c, 533100);
	assert_int_equal(lg_region_parse("110101", &c), 0);
	assert_int_equal(c, 110101);
	assert_int_equal(lg_region_parse("820000", &c), 0);
	assert_int_equal(lg_region_parse(NULL, &c), -1);
	c = 7;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (lg_region_parse(bad[i], &c) != -1)
			fail_msg("'%s' parsed", bad[i]);
	}
	assert_int_equal(c, 7);

	assert_true(lg_region_covers(530000, 533102));
	assert_true(lg_region_covers(530000, 530000));
	assert_true(lg_region_covers(533100, 533102));
	assert_true(lg_region_covers(533100, 533100));
	assert_true(lg_region_covers(533102, 533102));
	assert_false(lg_region_covers(533102, 533103));
	assert_false(lg_region_covers(533102, 533100));
	assert_false(lg_region_covers(533100, 533200));
	assert_false(lg_region_covers(533100, 530000));
	assert_false(lg_region_covers(530000, 110000));
	assert_false(lg_region_covers(530000, 520100));
	assert_false(lg_region_covers(0, 533102));
	assert_false(lg_region_covers(533100, 0));
}

/* Years, sources and kind names. */
static void
test_years_sources_names(void **state)
{
	struct lg_calendar *cal = shipped(LG_UNKNOWN_WEEKLY, 0);

	(void)state;
	for (int y = 2024; y <= 2026; y++)
		assert_true(lg_calendar_has_year(cal, y));
	assert_false(lg_calendar_has_year(cal, 2023));
	assert_false(lg_calendar_has_year(cal, 2027));
	assert_string_equal(lg_calendar_source(cal, 2024),
	                    "https://www.gov.cn/zhengce/zhengceku/202310/content_6911528.htm");
	assert_string_equal(lg_calendar_source(cal, 2025),
	                    "https://www.gov.cn/zhengce/zhengceku/202411/content_6986383.htm");
	assert_string_equal(lg_calendar_source(cal, 2026),
	                    "https://www.gov.cn/zhengce/zhengceku/202511/content_7047091.htm");
	assert_null(lg_calendar_source(cal, 2027));
	assert_string_equal(lg_day_kind_name(LG_DAY_HOLIDAY), "holiday");
	assert_string_equal(lg_day_kind_name(LG_DAY_REST), "rest_day");
	assert_string_equal(lg_day_kind_name(LG_DAY_MAKEUP), "makeup_workday");
	assert_string_equal(lg_day_kind_name(LG_DAY_VACATION), "vacation");
	assert_string_equal(lg_day_kind_name(LG_DAY_WORKDAY), "workday");
	assert_string_equal(lg_day_kind_name(LG_DAY_UNKNOWN), "unknown");
	lg_calendar_free(cal);
}

/* The years within a window that have no national calendar, for the start-up warning. */
static void
test_missing_years(void **state)
{
	struct lg_calendar *cal = shipped(LG_UNKNOWN_WEEKLY, 0);
	int years[4] = {0};

	(void)state;
	/* 2026-11-29 + 60 days reaches 2027-01-27: 2027 has no notice. */
	assert_int_equal(
	    lg_calendar_missing_years(cal, lg_days_from_civil(2026, 11, 29), 60, years, 4), 1);
	assert_int_equal(years[0], 2027);
	/* Inside a loaded year, and up to its last day: nothing missing. */
	assert_int_equal(
	    lg_calendar_missing_years(cal, lg_days_from_civil(2025, 3, 1), 60, years, 4), 0);
	assert_int_equal(
	    lg_calendar_missing_years(cal, lg_days_from_civil(2026, 11, 2), 60, years, 4), 0);
	/* One day more reaches 2027-01-01. */
	assert_int_equal(
	    lg_calendar_missing_years(cal, lg_days_from_civil(2026, 11, 3), 60, years, 4), 1);
	/* Before the first file, across two missing years; max bounds what is written. */
	assert_int_equal(
	    lg_calendar_missing_years(cal, lg_days_from_civil(2022, 12, 1), 400, years, 4), 2);
	assert_int_equal(years[0], 2022);
	assert_int_equal(years[1], 2023);
	assert_int_equal(
	    lg_calendar_missing_years(cal, lg_days_from_civil(2022, 12, 1), 400, years, 1), 1);
	assert_int_equal(
	    lg_calendar_missing_years(cal, lg_days_from_civil(2022, 12, 1), 0, years, 4), 0);
	lg_calendar_free(cal);
}

/* Before finish, or with no file at all, every year is unknown. */
static void
test_empty_calendar(void **state)
{
	struct lg_calendar_opts o = opts(LG_UNKNOWN_WEEKLY, 0);
	struct lg_calendar *cal = lg_calendar_new(&o);
	struct lg_errors errs;
	struct lg_day d;

	(void)state;
	lg_errors_init(&errs);
	assert_int_equal(lg_calendar_finish(cal, &errs), 0);
	lg_calendar_day(cal, day("2026-10-01"), 0, &d);
	assert_int_equal(d.kind, LG_DAY_WORKDAY);
	assert_true(d.unknown_year);
	assert_int_equal(errs.count, 0);
	lg_calendar_free(cal);
}

/* libconfig's own syntax errors and unreadable files. */
static void
test_error_syntax(void **state)
{
	struct lg_calendar_opts o = opts(LG_UNKNOWN_WEEKLY, 0);
	struct lg_calendar *cal = lg_calendar_new(&o);
	struct lg_errors errs;

	(void)state;
	expect_error("syntax", HEAD_2026 "holidays = ( { name = \"x\"; date = \"2026-01-01\"; }\n",
	             4, "syntax error", NULL);
	expect_error("syntax2", "year = = 2026;\n", 1, "syntax error", NULL);
	lg_errors_init(&errs);
	assert_int_equal(lg_calendar_load_file(cal, "tests/unit/no-such-calendar.conf", &errs), -1);
	assert_true(
	    has_error(&errs, "tests/unit/no-such-calendar.conf", 0, "cannot read", "No such file"));
	lg_errors_free(&errs);
	lg_calendar_free(cal);
}

/* A typo in a key is never ignored, at the top or inside an entry. */
static void
test_error_unknown_keys(void **state)
{
	(void)state;
	expect_error("topkey",
	             HEAD_2026 "holiday = ( { name = \"x\"; date = \"2026-01-01\"; } );\n", 3,
	             "unknown key 'holiday'", "expected year, source, holidays");
	expect_error("entrykey",
	             HEAD_2026
	             "holidays = (\n"
	             "  { name = \"春节\"; form = \"2026-02-15\"; to = \"2026-02-23\"; }\n"
	             ");\n",
	             4, "holidays[0]: unknown key 'form'", "expected region, name, date, from, to");
	expect_error("regionkey",
	             HEAD_2026 "holidays = ( { name = \"x\"; date = \"2026-01-01\"; } );\n"
	                       "vacations = ( { region = \"533100\"; nmae = \"寒假\";\n"
	                       "  date = \"2026-02-02\"; } );\n",
	             4, "vacations[0]: unknown key 'nmae'", "region, name, date");
	expect_error("workdaykey",
	             HEAD_2026 "workdays = ( { region = \"533100\"; name = \"x\"; date = "
	                       "\"2026-01-04\"; colour = 1; } );\n",
	             3, "workdays[0]: unknown key 'colour'", NULL);
}

/* year and source are required and typed. */
static void
test_error_year_source(void **state)
{
	(void)state;
	expect_error("noyear",
	             "source = \"s\";\nholidays = ( { name = \"x\"; date = \"2026-01-01\"; } );\n",
	             0, "missing key 'year'", NULL);
	expect_error("stryear", "year = \"2026\";\nsource = \"s\";\n", 1,
	             "year: expected an integer", NULL);
	expect_error("oldyear", "year = 1999;\nsource = \"s\";\n", 1, "year: 1999", "between");
	expect_error("nosource",
	             "year = 2026;\nholidays = ( { name = \"x\"; date = \"2026-01-01\"; } );\n", 0,
	             "missing key 'source'", NULL);
	expect_error("intsource", "year = 2026;\n\nsource = 5;\n", 3, "source: expected a string",
	             NULL);
	expect_error("emptysource", "year = 2026;\nsource = \"\";\n", 2, "source: empty", NULL);
}

/* name: required, a string, not empty. */
static void
test_error_names(void **state)
{
	(void)state;
	expect_error("noname", HEAD_2026 "holidays = (\n  { date = \"2026-01-01\"; } );\n", 4,
	             "holidays[0]: missing key 'name'", NULL);
	expect_error("intname",
	             HEAD_2026 "holidays = (\n  { name = 1;\n date = \"2026-01-01\"; } );\n", 4,
	             "holidays[0]: name: expected", NULL);
	expect_error("emptyname",
	             HEAD_2026 "holidays = ( { name = \"x\"; date = \"2026-01-01\"; } );\n"
	                       "workdays = ( { name = \" \"; date = \"2026-01-04\"; } );\n",
	             4, "workdays[0]: name: empty", NULL);
}

/* Dates: well formed, real, in order, inside the file's year, date xor from/to. */
static void
test_error_dates(void **state)
{
	(void)state;
	expect_error("baddate",
	             HEAD_2026 "holidays = ( { name = \"x\"; date = \"2026-1-01\"; } );\n", 3,
	             "holidays[0]: date: malformed date '2026-1-01'", "YYYY-MM-DD");
	expect_error("feb30",
	             HEAD_2026 "holidays = ( { name = \"x\";\n from = \"2026-02-30\"; to = "
	                       "\"2026-03-01\"; } );\n",
	             4, "from: malformed date '2026-02-30'", NULL);
	expect_error("intdate", HEAD_2026 "holidays = ( { name = \"x\"; date = 20260101; } );\n", 3,
	             "date: expected a date string", NULL);
	expect_error("reversed",
	             HEAD_2026 "holidays = ( { name = \"x\"; from = \"2026-02-23\";\n"
	                       "  to = \"2026-02-15\"; } );\n",
	             3, "holidays[0]: reversed range", "2026-02-23 is after to 2026-02-15");
	expect_error("outside",
	             HEAD_2026 "holidays = ( { name = \"x\"; from = \"2026-12-31\";\n"
	                       "  to = \"2027-01-02\"; } );\n",
	             4, "holidays[0]: to: 2027-01-02 is outside year 2026", NULL);
	expect_error("both",
	             HEAD_2026 "holidays = ( { name = \"x\"; date = \"2026-01-01\"; from = "
	                       "\"2026-01-01\"; to = \"2026-01-02\"; } );\n",
	             3, "holidays[0]: give either 'date' or 'from' and 'to'", NULL);
	expect_error("bothbad",
	             HEAD_2026 "holidays = ( { name = \"x\"; from = \"2026-1-1\";\n"
	                       "  to = \"2026-13-01\"; } );\n",
	             4, "holidays[0]: to: malformed date '2026-13-01'", NULL);
	expect_error("fromonly",
	             HEAD_2026 "holidays = ( { name = \"x\"; from = \"2026-01-01\"; } );\n", 3,
	             "holidays[0]: missing key 'to'", NULL);
	expect_error("nodates", HEAD_2026 "holidays = ( { name = \"x\"; } );\n", 3,
	             "holidays[0]: missing key 'date'", NULL);
}

/* Overlapping or duplicated entries of one list (and region). */
static void
test_error_overlaps(void **state)
{
	(void)state;
	expect_error("overlap",
	             HEAD_2026
	             "holidays = (\n"
	             "  { name = \"春节\"; from = \"2026-02-15\"; to = \"2026-02-23\"; },\n"
	             "  { name = \"x\"; from = \"2026-02-23\"; to = \"2026-02-25\"; }\n"
	             ");\n",
	             5, "holidays[1]", "overlaps holidays[0] 春节");
	expect_error("dupholiday",
	             HEAD_2026 "holidays = (\n"
	                       "  { name = \"元旦\"; date = \"2026-01-01\"; },\n"
	                       "  { name = \"元旦\"; date = \"2026-01-01\"; }\n"
	                       ");\n",
	             5, "holidays[1]", "duplicates holidays[0]");
	expect_error("dupworkday",
	             HEAD_2026 "holidays = ( { name = \"x\"; date = \"2026-01-01\"; } );\n"
	                       "workdays = (\n"
	                       "  { name = \"a\"; date = \"2026-01-04\"; },\n"
	                       "  { name = \"b\"; date = \"2026-01-04\"; } );\n",
	             6, "workdays[1]", "duplicates workdays[0]");
	expect_error("vacoverlap",
	             HEAD_2026
	             "vacations = (\n"
	             "  { region = \"533100\"; name = \"寒假\"; from = \"2026-01-24\"; to = "
	             "\"2026-02-28\"; },\n"
	             "  { region = \"533100\"; name = \"x\"; from = \"2026-02-20\"; to = "
	             "\"2026-03-02\"; } );\n",
	             5, "vacations[1]: region 533100", "overlaps vacations[0] 寒假");
	expect_error("restdup",
	             HEAD_2026
	             "rest_days = (\n"
	             "  { region = \"533100\"; name = \"a\"; date = \"2026-04-14\"; },\n"
	             "  { region = \"533100\"; name = \"a\"; date = \"2026-04-14\"; } );\n",
	             5, "rest_days[1]: region 533100", "duplicates rest_days[0]");
}

/* Overlaps between different regions, or a vacation and a rest day, are fine. */
static void
test_overlaps_allowed(void **state)
{
	struct lg_calendar_opts o = opts(LG_UNKNOWN_WEEKLY, 0);
	const char *files[] = {
	    write_conf("okoverlap", HEAD_2026
	               "vacations = (\n"
	               "  { region = \"533100\"; name = \"a\"; from = \"2026-01-24\"; to = "
	               "\"2026-02-28\"; },\n"
	               "  { region = \"533102\"; name = \"b\"; from = \"2026-01-20\"; to = "
	               "\"2026-02-20\"; },\n"
	               "  { region = \"530000\"; name = \"c\"; from = \"2026-01-20\"; to = "
	               "\"2026-02-20\"; } );\n"
	               "rest_days = ( { region = \"533100\"; name = \"d\"; date = "
	               "\"2026-02-02\"; } );\n"),
	    NULL,
	};
	struct lg_calendar *cal = load_clean(&o, files);

	(void)state;
	expect_day(cal, "2026-02-02", 533102, LG_DAY_VACATION, "b");
	expect_day(cal, "2026-02-25", 533102, LG_DAY_VACATION, "a");
	expect_day(cal, "2026-02-02", 533101, LG_DAY_VACATION, "a");
	expect_day(cal, "2026-01-21", 533101, LG_DAY_VACATION, "c");
	lg_calendar_free(cal);
}

/* Make-up workdays replace a rest weekday outside every holiday, in the national file. */
static void
test_error_workdays(void **state)
{
	(void)state;
	expect_error("weekdaymakeup",
	             HEAD_2026
	             "holidays = ( { name = \"春节\"; from = \"2026-02-15\"; to = "
	             "\"2026-02-23\"; } );\n"
	             "workdays = (\n  { name = \"春节调休\"; date = \"2026-02-24\"; } );\n",
	             5, "workdays[0]: 2026-02-24 is a Tuesday", "not a rest weekday");
	expect_error("makeupinholiday",
	             HEAD_2026 "holidays = ( { name = \"春节\"; from = \"2026-02-15\"; to = "
	                       "\"2026-02-23\"; } );\n"
	                       "workdays = ( { name = \"春节调休\"; from = \"2026-02-14\"; to = "
	                       "\"2026-02-15\"; } );\n",
	             4, "workdays[0]: 2026-02-15 falls inside holidays[0] 春节", "line 3");
	expect_error("regionalmakeup",
	             HEAD_2026 "vacations = ( { region = \"533100\"; name = \"a\"; date = "
	                       "\"2026-02-02\"; } );\n"
	                       "workdays = ( { name = \"春节调休\"; date = \"2026-02-14\"; } );\n",
	             4, "workdays: make-up workdays belong in the national calendar", NULL);
}

/* Regions must be six-digit GB/T 2260 codes given as strings. */
static void
test_error_regions(void **state)
{
	(void)state;
	expect_error("shortregion",
	             HEAD_2026 "vacations = ( { region = \"5331\"; name = \"a\"; date = "
	                       "\"2026-02-02\"; } );\n",
	             3, "vacations[0]: region: malformed code '5331'", "six-digit");
	expect_error("zeroregion",
	             HEAD_2026 "rest_days = (\n { region = \"000000\"; name = \"a\"; date = "
	                       "\"2026-02-02\"; } );\n",
	             4, "rest_days[0]: region: malformed code '000000'", NULL);
	expect_error("intregion",
	             HEAD_2026 "vacations = ( { region = 533100; name = \"a\"; date = "
	                       "\"2026-02-02\"; } );\n",
	             3, "vacations[0]: region: expected a six-digit", NULL);
	expect_error("noregion",
	             HEAD_2026 "vacations = ( { name = \"a\"; date = \"2026-02-02\"; } );\n", 3,
	             "vacations[0]: missing key 'region'", NULL);
}

/* Lists must be lists of groups, and a national calendar must list holidays. */
static void
test_error_list_shapes(void **state)
{
	(void)state;
	expect_error("grouplist",
	             HEAD_2026 "holidays = { name = \"x\"; date = \"2026-01-01\"; };\n", 3,
	             "holidays: expected a list of groups", NULL);
	expect_error("arraylist", HEAD_2026 "vacations = [ \"2026-01-01\" ];\n", 3,
	             "vacations: expected a list of groups", NULL);
	expect_error("notgroup", HEAD_2026 "holidays = ( \"2026-01-01\" );\n", 3,
	             "holidays[0]: expected a group", NULL);
	expect_error("emptyholidays", HEAD_2026 "\nholidays = ( );\n", 4, "holidays: empty list",
	             NULL);
}

/* A second national calendar for a year names the file that has the first. */
static void
test_error_second_national(void **state)
{
	struct lg_calendar_opts o = opts(LG_UNKNOWN_WEEKLY, 0);
	struct lg_calendar *cal = lg_calendar_new(&o);
	const char *path = write_conf("second", HEAD_2026 "holidays = ( { name = \"x\"; date = "
	                                                  "\"2026-01-01\"; } );\n");
	struct lg_errors errs;

	(void)state;
	lg_errors_init(&errs);
	assert_int_equal(lg_calendar_load_file(cal, "conf/calendar/cn-2026.conf", &errs), 0);
	assert_int_equal(lg_calendar_load_file(cal, path, &errs), -1);
	assert_true(has_error(&errs, path, 3, "second national calendar for 2026",
	                      "conf/calendar/cn-2026.conf:10"));
	assert_int_equal(lg_calendar_finish(cal, &errs), 0);
	expect_day(cal, "2026-01-01", 0, LG_DAY_HOLIDAY, "元旦");
	assert_int_equal(errs.count, 1);
	lg_errors_free(&errs);
	lg_calendar_free(cal);
}

/* Overlapping regional ranges in two files are found by finish, naming both. */
static void
test_error_overlap_across_files(void **state)
{
	struct lg_calendar_opts o = opts(LG_UNKNOWN_WEEKLY, 0);
	struct lg_calendar *cal = lg_calendar_new(&o);
	const char *a =
	    write_conf("across-a", HEAD_2026 "vacations = (\n"
	                                     "  { region = \"533100\"; name = \"暑假\"; "
	                                     "from = \"2026-07-01\"; to = \"2026-07-31\"; } );\n");
	const char *b =
	    write_conf("across-b", HEAD_2026 "\nvacations = (\n"
	                                     "  { region = \"533100\"; name = \"x\"; "
	                                     "from = \"2026-07-20\"; to = \"2026-08-31\"; },\n"
	                                     "  { region = \"533102\"; name = \"y\"; "
	                                     "from = \"2026-07-20\"; to = \"2026-08-31\"; } );\n");
	struct lg_errors errs;
	char other[256];

	(void)state;
	lg_errors_init(&errs);
	assert_int_equal(lg_calendar_load_file(cal, a, &errs), 0);
	assert_int_equal(lg_calendar_load_file(cal, b, &errs), 0);
	assert_int_equal(lg_calendar_finish(cal, &errs), -1);
	snprintf(other, sizeof(other), "%s:4", a);
	assert_true(has_error(&errs, b, 5,
	                      "vacations[0]: region 533100 2026-07-20..2026-08-31 "
	                      "overlaps vacations[0] 暑假",
	                      other));
	assert_int_equal(errs.count, 1);
	lg_errors_free(&errs);
	lg_calendar_free(cal);
}

/* One run reports every mistake in a file, not only the first. */
static void
test_error_keeps_going(void **state)
{
	struct lg_calendar_opts o = opts(LG_UNKNOWN_WEEKLY, 0);
	struct lg_calendar *cal = lg_calendar_new(&o);
	const char *path =
	    write_conf("many", "yeer = 2026;\n"
	                       "source = \"s\";\n"
	                       "holidays = (\n"
	                       "  { name = \"a\"; date = \"2026-13-01\"; },\n"
	                       "  { name = \"\"; date = \"2026-01-02\"; },\n"
	                       "  { name = \"c\"; date = \"2026-01-03\"; colour = 1; }\n"
	                       ");\n"
	                       "vacations = ( { region = \"12345\"; name = \"v\"; date = "
	                       "\"2026-02-02\"; } );\n");
	struct lg_errors errs;

	(void)state;
	lg_errors_init(&errs);
	assert_int_equal(lg_calendar_load_file(cal, path, &errs), -1);
	assert_true(has_error(&errs, path, 1, "unknown key 'yeer'", NULL));
	assert_true(has_error(&errs, path, 0, "missing key 'year'", NULL));
	assert_true(
	    has_error(&errs, path, 4, "holidays[0]: date: malformed date '2026-13-01'", NULL));
	assert_true(has_error(&errs, path, 5, "holidays[1]: name: empty", NULL));
	assert_true(has_error(&errs, path, 6, "holidays[2]: unknown key 'colour'", NULL));
	assert_true(
	    has_error(&errs, path, 8, "vacations[0]: region: malformed code '12345'", NULL));
	assert_int_equal(errs.count, 6);
	lg_errors_free(&errs);
	lg_calendar_free(cal);
}

#define HEAD_2023 "year = 2023;\nsource = \"https://example.test/2023\";\n"

/* Every row of the precedence table, highest first, for 533102 against 110000. */
static void
test_precedence_table(void **state)
{
	struct lg_calendar_opts o = opts(LG_UNKNOWN_WEEKLY, 0);
	const char *files[] = {
	    "conf/calendar/cn-2026.conf",
	    write_conf(
	        "table", HEAD_2026
	        "holidays = (\n"
	        "  { region = \"533100\"; name = \"RH-national\"; date = \"2026-10-02\"; },\n"
	        "  { region = \"533100\"; name = \"RH\"; from = \"2026-03-11\"; to = "
	        "\"2026-03-12\"; },\n"
	        "  { region = \"533100\"; name = \"RH-makeup\"; date = \"2026-02-14\"; } );\n"
	        "workdays = (\n"
	        "  { region = \"533100\"; name = \"RM-national\"; date = \"2026-10-03\"; },\n"
	        "  { region = \"533100\"; name = \"RM-rest\"; date = \"2026-03-14\"; },\n"
	        "  { region = \"533100\"; name = \"RM\"; date = \"2026-03-15\"; } );\n"
	        "vacations = (\n"
	        "  { region = \"533100\"; name = \"V\"; from = \"2026-03-12\"; to = "
	        "\"2026-03-13\"; } );\n"
	        "rest_days = (\n"
	        "  { region = \"533100\"; name = \"R\"; from = \"2026-03-13\"; to = "
	        "\"2026-03-14\"; },\n"
	        "  { region = \"533100\"; name = \"R-makeup\"; date = \"2026-05-09\"; } );\n"),
	    NULL,
	};
	struct lg_calendar *cal = load_clean(&o, files);

	(void)state;
	/* national holiday > regional holiday; never undone by a regional make-up day */
	expect_day(cal, "2026-10-02", 533102, LG_DAY_HOLIDAY, "国庆节");
	expect_day(cal, "2026-10-03", 533102, LG_DAY_HOLIDAY, "国庆节");
	/* regional holiday > vacation; > national make-up workday */
	expect_day(cal, "2026-03-12", 533102, LG_DAY_HOLIDAY, "RH");
	expect_day(cal, "2026-02-14", 533102, LG_DAY_HOLIDAY, "RH-makeup");
	expect_day(cal, "2026-02-14", 110000, LG_DAY_MAKEUP, "春节调休");
	/* regional holiday on a weekday, only for its region */
	expect_day(cal, "2026-03-11", 533102, LG_DAY_HOLIDAY, "RH");
	expect_day(cal, "2026-03-11", 110000, LG_DAY_WORKDAY, NULL);
	/* vacation > regional rest day */
	expect_day(cal, "2026-03-13", 533102, LG_DAY_VACATION, "V");
	/* regional rest day > regional make-up workday and > national make-up workday */
	expect_day(cal, "2026-03-14", 533102, LG_DAY_REST, "R");
	expect_day(cal, "2026-05-09", 533102, LG_DAY_REST, "R-makeup");
	expect_day(cal, "2026-05-09", 110000, LG_DAY_MAKEUP, "劳动节调休");
	/* regional make-up workday > rest weekday, only for its region */
	expect_day(cal, "2026-03-15", 533102, LG_DAY_MAKEUP, "RM");
	expect_day(cal, "2026-03-15", 533100, LG_DAY_MAKEUP, "RM");
	expect_day(cal, "2026-03-15", 110000, LG_DAY_REST, NULL);
	expect_day(cal, "2026-03-15", 0, LG_DAY_REST, NULL);
	/* national make-up workday > rest weekday; rest weekday > workday; workday */
	expect_day(cal, "2026-09-20", 533102, LG_DAY_MAKEUP, "国庆节调休");
	expect_day(cal, "2026-03-21", 533102, LG_DAY_REST, NULL);
	expect_day(cal, "2026-03-16", 533102, LG_DAY_WORKDAY, NULL);
	/* LG_REGION_NONE sees the national calendar only, even with a default region */
	lg_calendar_free(cal);
	o.default_region = 533102;
	cal = load_clean(&o, files);
	expect_day(cal, "2026-03-15", 0, LG_DAY_MAKEUP, "RM");
	expect_day(cal, "2026-03-15", LG_REGION_NONE, LG_DAY_REST, NULL);
	expect_day(cal, "2026-03-11", LG_REGION_NONE, LG_DAY_WORKDAY, NULL);
	lg_calendar_free(cal);
}

/* Regional holidays and make-up days at province, prefecture and county level. */
static void
test_regional_notice_prefixes(void **state)
{
	struct lg_calendar_opts o = opts(LG_UNKNOWN_WEEKLY, 0);
	const char *files[] = {
	    "conf/calendar/cn-2026.conf",
	    write_conf(
	        "noticeprefix", HEAD_2026
	        "holidays = (\n"
	        "  { region = \"530000\"; name = \"province\"; date = \"2026-03-02\"; },\n"
	        "  { region = \"533100\"; name = \"prefecture\"; date = \"2026-03-03\"; },\n"
	        "  { region = \"533102\"; name = \"county\"; date = \"2026-03-04\"; } );\n"
	        "workdays = (\n"
	        "  { region = \"530000\"; name = \"p-makeup\"; date = \"2026-03-07\"; },\n"
	        "  { region = \"533100\"; name = \"f-makeup\"; date = \"2026-03-08\"; },\n"
	        "  { region = \"533102\"; name = \"c-makeup\"; date = \"2026-03-14\"; } );\n"),
	    NULL,
	};
	struct lg_calendar *cal = load_clean(&o, files);

	(void)state;
	expect_day(cal, "2026-03-02", 533102, LG_DAY_HOLIDAY, "province");
	expect_day(cal, "2026-03-02", 530100, LG_DAY_HOLIDAY, "province");
	expect_day(cal, "2026-03-02", 520100, LG_DAY_WORKDAY, NULL);
	expect_day(cal, "2026-03-03", 533102, LG_DAY_HOLIDAY, "prefecture");
	expect_day(cal, "2026-03-03", 533100, LG_DAY_HOLIDAY, "prefecture");
	expect_day(cal, "2026-03-03", 530100, LG_DAY_WORKDAY, NULL);
	expect_day(cal, "2026-03-04", 533102, LG_DAY_HOLIDAY, "county");
	expect_day(cal, "2026-03-04", 533103, LG_DAY_WORKDAY, NULL);
	expect_day(cal, "2026-03-07", 533103, LG_DAY_MAKEUP, "p-makeup");
	expect_day(cal, "2026-03-07", 110000, LG_DAY_REST, NULL);
	expect_day(cal, "2026-03-08", 533103, LG_DAY_MAKEUP, "f-makeup");
	expect_day(cal, "2026-03-08", 530100, LG_DAY_REST, NULL);
	expect_day(cal, "2026-03-14", 533102, LG_DAY_MAKEUP, "c-makeup");
	expect_day(cal, "2026-03-14", 533103, LG_DAY_REST, NULL);
	lg_calendar_free(cal);
}

/*
 * A county's entry of the same list and name replaces the prefecture's for the
 * county (瑞丽 moving 泼水节); on a day both cover, the county's names the day.
 */
static void
test_county_overrides_prefecture(void **state)
{
	struct lg_calendar_opts o = opts(LG_UNKNOWN_WEEKLY, 0);
	const char *files[] = {
	    "conf/calendar/example-dehong-2023.conf",
	    write_conf(
	        "ruili", HEAD_2023
	        "holidays = (\n"
	        "  { region = \"533102\"; name = \"泼水节\"; from = \"2023-04-11\"; to = "
	        "\"2023-04-14\"; },\n"
	        "  { region = \"533102\"; name = \"县庆\"; date = \"2023-10-18\"; } );\n"
	        "workdays = (\n"
	        "  { region = \"533102\"; name = \"泼水节调休\"; date = \"2023-04-09\"; } );\n"),
	    NULL,
	};
	struct lg_calendar *cal = load_clean(&o, files);

	(void)state;
	/* 瑞丽 (533102): its own dates */
	expect_day(cal, "2023-04-11", 533102, LG_DAY_HOLIDAY, "泼水节");
	expect_day(cal, "2023-04-14", 533102, LG_DAY_HOLIDAY, "泼水节");
	expect_day(cal, "2023-04-15", 533102, LG_DAY_REST, NULL); /* a Saturday */
	expect_day(cal, "2023-04-16", 533102, LG_DAY_REST, NULL); /* prefecture's make-up */
	expect_day(cal, "2023-04-09", 533102, LG_DAY_MAKEUP, "泼水节调休");
	/* 芒市 (533103): the prefecture's dates */
	expect_day(cal, "2023-04-11", 533103, LG_DAY_WORKDAY, NULL);
	expect_day(cal, "2023-04-15", 533103, LG_DAY_HOLIDAY, "泼水节");
	expect_day(cal, "2023-04-16", 533103, LG_DAY_MAKEUP, "泼水节调休");
	expect_day(cal, "2023-04-09", 533103, LG_DAY_REST, NULL);
	/* Different names: both apply, the county's names a shared day. */
	expect_day(cal, "2023-10-18", 533102, LG_DAY_HOLIDAY, "县庆");
	expect_day(cal, "2023-10-19", 533102, LG_DAY_HOLIDAY, "州庆");
	expect_day(cal, "2023-10-18", 533103, LG_DAY_HOLIDAY, "州庆");
	lg_calendar_free(cal);
}

/* The shipped Dehong 2023 notice: festival days, make-up Sundays, a December-before date. */
static void
test_dehong_2023(void **state)
{
	static const char *const days_off[] = {"2022-12-31", "2023-01-02", "2023-02-06",
	                                       "2023-02-07", "2023-04-12", "2023-04-15",
	                                       "2023-10-18", "2023-10-21"};
	static const char *const files[] = {"conf/calendar/example-dehong-2023.conf", NULL};
	struct lg_calendar_opts o = opts(LG_UNKNOWN_WEEKLY, 0);
	struct lg_calendar *cal = load_clean(&o, files);
	struct lg_day d;

	(void)state;
	for (size_t i = 0; i < sizeof(days_off) / sizeof(days_off[0]); i++) {
		lg_calendar_day(cal, day(days_off[i]), 533102, &d);
		assert_int_equal(d.kind, LG_DAY_HOLIDAY);
		lg_calendar_day(cal, day(days_off[i]), 533100, &d);
		assert_int_equal(d.kind, LG_DAY_HOLIDAY);
		lg_calendar_day(cal, day(days_off[i]), 110000, &d);
		assert_int_not_equal(d.kind, LG_DAY_HOLIDAY);
	}
	expect_day(cal, "2023-04-13", 533102, LG_DAY_HOLIDAY, "泼水节");
	expect_day(cal, "2023-04-13", 110000, LG_DAY_WORKDAY, NULL);
	expect_day(cal, "2023-02-06", 533103, LG_DAY_HOLIDAY, "目瑙纵歌节");
	expect_day(cal, "2023-10-20", 533103, LG_DAY_HOLIDAY, "州庆");
	expect_day(cal, "2023-04-16", 533102, LG_DAY_MAKEUP, "泼水节调休");
	expect_day(cal, "2023-04-16", 110000, LG_DAY_REST, NULL);
	expect_day(cal, "2023-10-22", 533109, LG_DAY_MAKEUP, "州庆调休");
	expect_day(cal, "2023-10-22", 530100, LG_DAY_REST, NULL);
	expect_day(cal, "2022-12-31", 533102, LG_DAY_HOLIDAY, "元旦");
	/* A regional file makes no year known. */
	assert_false(lg_calendar_has_year(cal, 2023));
	lg_calendar_day(cal, day("2023-04-13"), 533102, &d);
	assert_true(d.unknown_year);
	lg_calendar_free(cal);
}

/* A notice's dates may fall in the December before; no earlier, and not in two files. */
static void
test_notice_year(void **state)
{
	struct lg_calendar_opts o = opts(LG_UNKNOWN_BLOCK, 0);
	const char *n2023 =
	    write_conf("n2023", HEAD_2023
	               "holidays = (\n"
	               "  { name = \"元旦\"; from = \"2022-12-31\"; to = \"2023-01-02\"; } );\n");
	const char *n2022 =
	    write_conf("n2022", "year = 2022;\nsource = \"s\";\n\n"
	                        "holidays = ( { name = \"x\"; date = \"2022-10-01\"; } );\n"
	                        "workdays = (\n  { name = \"y\"; date = \"2022-12-31\"; } );\n");
	const char *r2023 =
	    write_conf("r2023", HEAD_2023
	               "rest_days = (\n"
	               "  { region = \"533100\"; name = \"a\"; date = \"2022-12-30\"; } );\n");
	const char *r2022 = write_conf(
	    "r2022", "year = 2022; source = \"s\";\n"
	             "rest_days = ( { region = \"533100\"; name = \"b\"; from = \"2022-12-29\"; "
	             "to = \"2022-12-30\"; } );\n");
	const char *files[] = {n2023, NULL};
	struct lg_calendar *cal = load_clean(&o, files);
	struct lg_errors errs;
	char other[256];

	(void)state;
	expect_day(cal, "2022-12-31", 0, LG_DAY_HOLIDAY, "元旦");
	expect_day(cal, "2022-12-30", 0, LG_DAY_UNKNOWN, NULL); /* 2022 is not loaded */
	expect_day(cal, "2023-01-03", 0, LG_DAY_WORKDAY, NULL);
	assert_true(lg_calendar_has_year(cal, 2023));
	assert_false(lg_calendar_has_year(cal, 2022));
	lg_calendar_free(cal);

	expect_error("november",
	             HEAD_2023 "holidays = (\n  { name = \"x\"; date = \"2022-11-30\"; } );\n", 4,
	             "holidays[0]: date: 2022-11-30 is outside year 2023", "December before");

	/* The same national date in two files: an error naming both. */
	cal = lg_calendar_new(&o);
	lg_errors_init(&errs);
	assert_int_equal(lg_calendar_load_file(cal, n2023, &errs), 0);
	assert_int_equal(lg_calendar_load_file(cal, n2022, &errs), 0);
	assert_int_equal(lg_calendar_finish(cal, &errs), -1);
	snprintf(other, sizeof(other), "%s:4", n2023);
	assert_true(
	    has_error(&errs, n2022, 6, "workdays[0]: 2022-12-31 overlaps holidays[0] 元旦", other));
	assert_int_equal(errs.count, 1);
	lg_errors_free(&errs);
	lg_calendar_free(cal);

	/* The same regional date in two files, likewise. */
	cal = lg_calendar_new(&o);
	lg_errors_init(&errs);
	assert_int_equal(lg_calendar_load_file(cal, r2022, &errs), 0);
	assert_int_equal(lg_calendar_load_file(cal, r2023, &errs), 0);
	assert_int_equal(lg_calendar_finish(cal, &errs), -1);
	snprintf(other, sizeof(other), "%s:2", r2022);
	assert_true(
	    has_error(&errs, r2023, 4, "rest_days[0]: region 533100 2022-12-30 overlaps", other));
	assert_int_equal(errs.count, 1);
	lg_errors_free(&errs);
	lg_calendar_free(cal);
}

/* A regional holiday in one file and a national one in another may share a date. */
static void
test_regional_and_national_share(void **state)
{
	struct lg_calendar_opts o = opts(LG_UNKNOWN_WEEKLY, 0);
	const char *files[] = {
	    "conf/calendar/cn-2026.conf",
	    write_conf("sharenat", HEAD_2026 "holidays = ( { region = \"533100\"; name = \"x\"; "
	                                     "from = \"2026-09-30\"; to = \"2026-10-01\"; } );\n"),
	    NULL,
	};
	struct lg_calendar *cal = load_clean(&o, files);

	(void)state;
	expect_day(cal, "2026-09-30", 533102, LG_DAY_HOLIDAY, "x");
	expect_day(cal, "2026-10-01", 533102, LG_DAY_HOLIDAY, "国庆节");
	lg_calendar_free(cal);
}

/* Regional holidays and make-up days are validated like national ones. */
static void
test_error_regional_notice(void **state)
{
	(void)state;
	expect_error("rmakeupweekday",
	             HEAD_2023
	             "workdays = (\n"
	             "  { region = \"533100\"; name = \"x\"; date = \"2023-04-17\"; } );\n",
	             4, "workdays[0]: 2023-04-17 is a Monday", "not a rest weekday");
	expect_error("rmakeupinholiday",
	             HEAD_2023 "holidays = ( { region = \"533100\"; name = \"泼水节\"; from = "
	                       "\"2023-04-12\"; to = \"2023-04-16\"; } );\n"
	                       "workdays = ( { region = \"533102\"; name = \"x\"; date = "
	                       "\"2023-04-16\"; } );\n",
	             4, "workdays[0]: 2023-04-16 falls inside holidays[0] 泼水节", NULL);
	expect_error("rholidaydup",
	             HEAD_2023
	             "holidays = (\n"
	             "  { region = \"533100\"; name = \"a\"; date = \"2023-04-12\"; },\n"
	             "  { region = \"533100\"; name = \"b\"; date = \"2023-04-12\"; } );\n",
	             5, "holidays[1]: region 533100 2023-04-12 duplicates holidays[0] a", NULL);
	expect_error("rholidayoverlap",
	             HEAD_2023 "holidays = (\n"
	                       "  { region = \"533100\"; name = \"a\"; from = \"2023-04-12\"; to = "
	                       "\"2023-04-15\"; },\n"
	                       "  { region = \"533100\"; name = \"b\"; from = \"2023-04-15\"; to = "
	                       "\"2023-04-16\"; } );\n",
	             5, "holidays[1]: region 533100", "overlaps holidays[0] a");
	expect_error("rholidayreversed",
	             HEAD_2023 "holidays = (\n"
	                       "  { region = \"533100\"; name = \"a\"; from = \"2023-04-15\"; to = "
	                       "\"2023-04-12\"; } );\n",
	             4, "holidays[0]: reversed range", NULL);
	expect_error("rholidaybadregion",
	             HEAD_2023 "holidays = (\n"
	                       "  { region = \"5331\"; name = \"a\"; date = \"2023-04-12\"; } );\n",
	             4, "holidays[0]: region: malformed code '5331'", NULL);
	expect_error("natmakeupregionalonly",
	             HEAD_2023 "holidays = ( { region = \"533100\"; name = \"a\"; date = "
	                       "\"2023-04-12\"; } );\n"
	                       "workdays = ( { name = \"x\"; date = \"2023-04-16\"; } );\n",
	             4, "workdays: national make-up workdays belong in the national calendar",
	             "needs a 'region'");
}

/* A file with only regional make-up workdays loads (it used to be refused). */
static void
test_regional_workdays_only(void **state)
{
	struct lg_calendar_opts o = opts(LG_UNKNOWN_WEEKLY, 0);
	const char *files[] = {
	    write_conf("rwonly", HEAD_2023 "workdays = ( { region = \"533100\"; name = \"x\"; "
	                                   "date = \"2023-04-16\"; } );\n"),
	    NULL,
	};
	struct lg_calendar *cal = load_clean(&o, files);

	(void)state;
	expect_day(cal, "2023-04-16", 533102, LG_DAY_MAKEUP, "x");
	expect_day(cal, "2023-04-16", 110000, LG_DAY_REST, NULL);
	assert_false(lg_calendar_has_year(cal, 2023));
	lg_calendar_free(cal);
}

/* `source` is a URL or a list of them (a notice and its amendments). */
static void
test_source_list(void **state)
{
	struct lg_calendar_opts o = opts(LG_UNKNOWN_WEEKLY, 0);
	const char *files[] = {
	    write_conf("srclist", "year = 2026;\n"
	                          "source = [\"https://example.test/notice\", "
	                          "\"https://example.test/amendment\"];\n"
	                          "holidays = ( { name = \"x\"; date = \"2026-01-01\"; } );\n"),
	    NULL,
	};
	struct lg_calendar *cal = load_clean(&o, files);
	uint32_t regions[4];

	(void)state;
	assert_string_equal(lg_calendar_source(cal, 2026), "https://example.test/notice");
	assert_int_equal(lg_calendar_regions(cal, regions, 4), 0);
	lg_calendar_free(cal);
	expect_error("srcempty",
	             "year = 2026;\nsource = [];\n"
	             "holidays = ( { name = \"x\"; date = \"2026-01-01\"; } );\n",
	             2, "source: empty list", NULL);
	expect_error("srcint",
	             "year = 2026;\nsource = (\"a\",\n 1);\n"
	             "holidays = ( { name = \"x\"; date = \"2026-01-01\"; } );\n",
	             3, "source[1]: expected a non-empty string", NULL);
	expect_error("srcgroup",
	             "year = 2026;\nsource = { a = 1; };\n"
	             "holidays = ( { name = \"x\"; date = \"2026-01-01\"; } );\n",
	             2, "source: expected a string", "or a list of them");
}

/* The regions a calendar names, and its indexed range. */
static void
test_regions_range(void **state)
{
	static const char *const files[] = {"conf/calendar/example-dehong-2023.conf",
	                                    "conf/calendar/example-vacations-533100.conf", NULL};
	struct lg_calendar_opts o = opts(LG_UNKNOWN_WEEKLY, 0);
	struct lg_calendar *cal = load_clean(&o, files);
	uint32_t regions[4];
	int32_t first, last;

	(void)state;
	assert_int_equal(lg_calendar_regions(cal, regions, 4), 1);
	assert_int_equal(regions[0], 533100);
	assert_true(lg_calendar_range(cal, &first, &last));
	assert_int_equal(first, day("2022-12-01"));
	assert_int_equal(last, day("2026-12-31"));
	lg_calendar_free(cal);
}

/* Make a private directory for generated files; run from the source root. */
static int
setup(void **state)
{
	(void)state;
#ifdef LG_SOURCE_ROOT
	if (chdir(LG_SOURCE_ROOT) != 0)
		return -1;
#endif
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/lg-test-calendar.XXXXXX");
	return mkdtemp(tmpdir) != NULL ? 0 : -1;
}

/* Remove the generated files and their directory. */
static int
teardown(void **state)
{
	(void)state;
	for (int i = 0; i < nmade; i++)
		unlink(made[i]);
	return rmdir(tmpdir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_official_holidays),
	    cmocka_unit_test(test_official_workdays),
	    cmocka_unit_test(test_no_extra_dates),
	    cmocka_unit_test(test_ordinary_days),
	    cmocka_unit_test(test_precedence_shipped),
	    cmocka_unit_test(test_precedence_regional),
	    cmocka_unit_test(test_region_prefixes),
	    cmocka_unit_test(test_default_region),
	    cmocka_unit_test(test_unknown_years),
	    cmocka_unit_test(test_unknown_gap_and_regional),
	    cmocka_unit_test(test_next_open),
	    cmocka_unit_test(test_day_blocked),
	    cmocka_unit_test(test_region_parse_covers),
	    cmocka_unit_test(test_years_sources_names),
	    cmocka_unit_test(test_empty_calendar),
	    cmocka_unit_test(test_error_syntax),
	    cmocka_unit_test(test_error_unknown_keys),
	    cmocka_unit_test(test_error_year_source),
	    cmocka_unit_test(test_error_names),
	    cmocka_unit_test(test_error_dates),
	    cmocka_unit_test(test_error_overlaps),
	    cmocka_unit_test(test_overlaps_allowed),
	    cmocka_unit_test(test_error_workdays),
	    cmocka_unit_test(test_error_regions),
	    cmocka_unit_test(test_error_list_shapes),
	    cmocka_unit_test(test_error_second_national),
	    cmocka_unit_test(test_error_overlap_across_files),
	    cmocka_unit_test(test_error_keeps_going),
	    cmocka_unit_test(test_missing_years),
	    cmocka_unit_test(test_precedence_table),
	    cmocka_unit_test(test_regional_notice_prefixes),
	    cmocka_unit_test(test_county_overrides_prefecture),
	    cmocka_unit_test(test_dehong_2023),
	    cmocka_unit_test(test_notice_year),
	    cmocka_unit_test(test_regional_and_national_share),
	    cmocka_unit_test(test_error_regional_notice),
	    cmocka_unit_test(test_regional_workdays_only),
	    cmocka_unit_test(test_source_list),
	    cmocka_unit_test(test_regions_range),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
