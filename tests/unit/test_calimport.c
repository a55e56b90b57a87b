/* Tests for lib/calendar/calimport.c: holiday-cn JSON in, calendar files out, checked day by day. */
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
#include "calimport.h"

#define SAT_SUN ((1u << 0) | (1u << 6))

/* A whole file as a string (the test runs from the source root). */
static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* Import a holiday-cn file and render it; the text must load cleanly. */
static char *
import_json(const char *json, size_t n, uint32_t region)
{
	struct lg_import *imp = lg_import_new();
	struct lg_errors errs;
	struct lg_buf out = {0};
	char buf[2048];

	lg_errors_init(&errs);
	lg_import_holiday_cn(imp, json, n, "in.json", &errs);
	lg_import_render(imp, region, "a comment\nof two lines", &out, "in.json", &errs);
	lg_errors_join(&errs, buf, sizeof(buf));
	if (errs.count != 0)
		fail_msg("import errors:\n%s", buf);
	lg_errors_free(&errs);
	lg_import_free(imp);
	return out.data;
}

/* A calendar of calendar texts and files (NULL-terminated), which must be clean. */
static struct lg_calendar *
load(const char *const *texts, const char *const *files)
{
	struct lg_calendar_opts o = {.rest_weekdays = SAT_SUN};
	struct lg_calendar *cal = lg_calendar_new(&o);
	struct lg_errors errs;
	char buf[2048];

	lg_errors_init(&errs);
	for (; texts && *texts; texts++)
		lg_calendar_load_text(cal, "imported.conf", *texts, &errs);
	for (; files && *files; files++)
		lg_calendar_load_file(cal, *files, &errs);
	lg_calendar_finish(cal, &errs);
	lg_errors_join(&errs, buf, sizeof(buf));
	if (errs.count != 0)
		fail_msg("calendar errors:\n%s", buf);
	lg_errors_free(&errs);
	return cal;
}

/* holiday-cn 2024-2026 give the shipped calendars' kinds and names, every day. */
static void
test_holiday_cn_as_shipped(void **state)
{
	static const char *const years[] = {"2024", "2025", "2026"};
	static const char *const shipped_files[] = {"conf/calendar/cn-2024.conf",
	                                            "conf/calendar/cn-2025.conf",
	                                            "conf/calendar/cn-2026.conf", NULL};
	char *texts[4] = {NULL};
	struct lg_calendar *a, *b;
	int32_t from, to;
	int holidays = 0, makeups = 0;

	(void)state;
	for (int i = 0; i < 3; i++) {
		char path[64];
		size_t n;
		char *json;
		snprintf(path, sizeof(path), "tests/data/holiday-cn/%s.json", years[i]);
		json = slurp(path, &n);
		texts[i] = import_json(json, n, 0);
		free(json);
	}
	a = load(NULL, shipped_files);
	b = load((const char *const *)texts, NULL);
	assert_int_equal(lg_parse_date("2023-12-01", &from), 0);
	assert_int_equal(lg_parse_date("2026-12-31", &to), 0);
	for (int32_t d = from; d <= to; d++) {
		struct lg_day x, y;
		char date[11];
		lg_calendar_day(a, d, 0, &x);
		lg_calendar_day(b, d, 0, &y);
		lg_format_date(d, date);
		if (x.kind != y.kind || (x.name == NULL) != (y.name == NULL) ||
		    (x.name && strcmp(x.name, y.name) != 0))
			fail_msg("%s: shipped %s %s, imported %s %s", date,
			         lg_day_kind_name(x.kind), x.name ? x.name : "",
			         lg_day_kind_name(y.kind), y.name ? y.name : "");
		holidays += x.kind == LG_DAY_HOLIDAY;
		makeups += x.kind == LG_DAY_MAKEUP;
	}
	/* The comparison covered the official days (cn-holidays.md). */
	assert_int_equal(holidays, 28 + 28 + 33);
	assert_int_equal(makeups, 8 + 5 + 6);
	assert_string_equal(lg_calendar_source(b, 2026),
	                    "https://www.gov.cn/zhengce/zhengceku/202511/content_7047091.htm");
	lg_calendar_free(a);
	lg_calendar_free(b);
	for (int i = 0; i < 3; i++)
		free(texts[i]);
}

/* The exact text: comment, year, one source, merged holiday ranges, one workday per day. */
static void
test_render_text(void **state)
{
	static const char json[] =
	    "{\"year\": 2023, \"papers\": [\"https://a.test/1\", \"https://a.test/2\"], \"days\": "
	    "[\n"
	    "{\"name\": \"泼水\\\"节\", \"date\": \"2023-04-13\", \"isOffDay\": true},\n"
	    "{\"name\": \"泼水\\\"节\", \"date\": \"2023-04-12\", \"isOffDay\": true},\n"
	    "{\"name\": \"元旦\", \"date\": \"2022-12-31\", \"isOffDay\": true},\n"
	    "{\"name\": \"泼水\\\"节\", \"date\": \"2023-04-16\", \"isOffDay\": false}]}";
	char *text = import_json(json, sizeof(json) - 1, 533100);
	const char *texts[] = {text, NULL};
	struct lg_calendar *cal;
	struct lg_day d;
	int32_t day;

	(void)state;
	assert_string_equal(
	    text,
	    "# a comment\n# of two lines\n\nyear = 2023;\nsource = [\n"
	    "\t\"https://a.test/1\",\n\t\"https://a.test/2\"\n];\n\n"
	    "holidays = (\n"
	    "\t{ region = \"533100\"; name = \"元旦\"; date = \"2022-12-31\"; },\n"
	    "\t{ region = \"533100\"; name = \"泼水\\\"节\"; from = \"2023-04-12\"; to = "
	    "\"2023-04-13\"; }\n);\n\n"
	    "workdays = (\n"
	    "\t{ region = \"533100\"; name = \"泼水\\\"节调休\"; date = \"2023-04-16\"; }\n);\n");
	cal = load(texts, NULL);
	lg_parse_date("2023-04-16", &day);
	lg_calendar_day(cal, day, 533102, &d);
	assert_int_equal(d.kind, LG_DAY_MAKEUP);
	assert_string_equal(d.name, "泼水\"节调休");
	lg_calendar_free(cal);
	free(text);
}

/* Bad input: the error names file:line and what is wrong. */
static void
expect_import_error(const char *json, const char *needle)
{
	struct lg_import *imp = lg_import_new();
	struct lg_errors errs;
	struct lg_buf out = {0};
	char buf[2048];

	lg_errors_init(&errs);
	if (lg_import_holiday_cn(imp, json, strlen(json), "in.json", &errs) == 0)
		lg_import_render(imp, 0, NULL, &out, "in.json", &errs);
	lg_errors_join(&errs, buf, sizeof(buf));
	if (strstr(buf, needle) == NULL)
		fail_msg("expected an error with '%s', got:\n%s", needle, buf);
	assert_null(out.data);
	lg_errors_free(&errs);
	lg_import_free(imp);
}

/* Every refusal says where and why. */
static void
test_errors(void **state)
{
	(void)state;
	expect_import_error("[1]", "in.json: not a holiday-cn JSON file");
	expect_import_error("{\"year\": \"2026\", \"days\": []}", "in.json:1: year: expected");
	expect_import_error("{\"year\": 2026, \"papers\": [\"u\"],\n\"days\": {}}",
	                    "in.json:2: days: expected an array");
	expect_import_error("{\"year\": 2026, \"papers\": [\"u\"], \"days\": [\n1]}",
	                    "in.json:2: days[0]: expected an object");
	expect_import_error("{\"year\": 2026, \"papers\": [\"u\"], \"days\": [\n"
	                    "{\"name\": \"a\", \"date\": \"2026-01-01\", \"isOffDay\": 1}]}",
	                    "in.json:2: days[0]: isOffDay: expected true or false");
	expect_import_error("{\"year\": 2026, \"papers\": [\"u\"], \"days\": [\n"
	                    "{\"name\": \"a\\n\", \"date\": \"2026-01-01\", \"isOffDay\": true}]}",
	                    "in.json:2: 2026-01-01: a control character in the name");
	expect_import_error("{\"year\": 2026, \"papers\": [\"u\"], \"days\": [\n"
	                    "{\"name\": \"a\", \"date\": \"2026-01-01\", \"isOffDay\": true},\n"
	                    "{\"name\": \"b\", \"date\": \"2026-01-01\", \"isOffDay\": true}]}",
	                    "in.json:3: 2026-01-01: given twice, as holiday a and as holiday b");
	expect_import_error("{\"year\": 2026, \"papers\": [\"u\"], \"days\": [\n"
	                    "{\"name\": \"a\", \"date\": \"2025-11-30\", \"isOffDay\": true}]}",
	                    "2025-11-30 (a) is outside notice year 2026");
	expect_import_error("{\"year\": 2026, \"papers\": [\"u\"], \"days\": []}",
	                    "no holidays or make-up workdays found");
	expect_import_error("{\"year\": 2026, \"days\": [\n"
	                    "{\"name\": \"a\", \"date\": \"2026-01-01\", \"isOffDay\": true}]}",
	                    "no source: cite the notice with --source URL");
}

/* The same day twice with the same kind and name is one day. */
static void
test_same_day_twice(void **state)
{
	struct lg_import *imp = lg_import_new();
	struct lg_errors errs;
	struct lg_buf out = {0};

	(void)state;
	lg_errors_init(&errs);
	assert_int_equal(lg_import_add(imp, 20000, 20002, LG_IMPORT_HOLIDAY, "a", "f", 0, &errs),
	                 0);
	assert_int_equal(lg_import_add(imp, 20001, 20001, LG_IMPORT_HOLIDAY, "a", "f", 0, &errs),
	                 0);
	assert_int_equal(lg_import_add(imp, 20001, 20001, LG_IMPORT_WORKDAY, "a", "f", 0, &errs),
	                 -1);
	assert_int_equal(lg_import_add(imp, 20005, 20004, LG_IMPORT_HOLIDAY, "a", "f", 0, &errs),
	                 -1);
	assert_int_equal(
	    lg_import_add(imp, 20010, 20010, LG_IMPORT_HOLIDAY, "\xe6\xb3", "f", 0, &errs), -1);
	assert_non_null(strstr(errs.msg[2], "not UTF-8"));
	assert_int_equal(errs.count, 3);
	lg_import_add_source(imp, "s");
	lg_import_add_source(imp, "s");
	lg_import_set_year(imp, 2024);
	assert_int_equal(lg_import_year(imp), 2024);
	assert_int_equal(lg_import_render(imp, 0, NULL, &out, "f", &errs), 0);
	assert_non_null(strstr(out.data, "source = \"s\";\n"));
	assert_non_null(strstr(out.data, "from = \"2024-10-04\"; to = \"2024-10-06\"; }\n);"));
	lg_buf_free(&out);
	lg_errors_free(&errs);
	lg_import_free(imp);
}

/* Run from the source root, where the test data is. */
static int
setup(void **state)
{
	(void)state;
#ifdef LG_SOURCE_ROOT
	if (chdir(LG_SOURCE_ROOT) != 0)
		return -1;
#endif
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_holiday_cn_as_shipped),
	    cmocka_unit_test(test_render_text),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_same_day_twice),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
