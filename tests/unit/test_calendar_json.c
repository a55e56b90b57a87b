/* lg_calendar_month_json: a month of day kinds for the operator page, parsed back as JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "calendar_json.h"
#include "json.h"
#include "testutil.h"

static struct lg_config *cf;

/* The default rules over the shipped 2026 calendar (freed by tu_free_config). */
static int
setup(void **state)
{
	*state = cf = tu_config(TU_CALENDAR_2026, "test.conf", NULL);
	return cf == NULL;
}

/* One element of "days", collected by the array walk. */
struct days {
	int n;
	char kind[31][24];
	char name[31][32];
};

/* Keep one day's kind and name. */
static int
one_day(const struct lg_json_value *el, void *arg)
{
	static const char *const names[] = {"date", "kind", "name"};
	struct lg_json_value v[3];
	struct days *d = arg;
	char key[64];

	if (el->type != LG_JSON_OBJECT || d->n >= 31 ||
	    lg_json_parse(el->p, el->n, key, sizeof(key), names, v, 3) != 0)
		return -1;
	assert_int_equal(v[0].type, LG_JSON_STRING);
	assert_true(lg_json_string(&v[1], d->kind[d->n], sizeof(d->kind[0])) > 0);
	d->name[d->n][0] = '\0';
	if (v[2].type == LG_JSON_STRING)
		assert_true(lg_json_string(&v[2], d->name[d->n], sizeof(d->name[0])) > 0);
	d->n++;
	return 0;
}

/* October 2026: 国庆节 on the 1st-7th, a make-up workday on Saturday the 10th, weekends rest. */
static void
test_october_2026(void **state)
{
	static const char *const names[] = {"month", "region",       "first_weekday",
	                                    "days",  "unknown_year", "regions"};
	static const uint32_t regions[] = {533100, 110000};
	struct lg_json_value v[6];
	struct lg_buf b = {0};
	struct days d = {0};
	char key[256], s[16];

	(void)state;
	lg_calendar_month_json(&b, cf->calendar, 2026, 10, 533100, regions, 2);
	assert_int_equal(lg_json_parse(b.data, b.len, key, sizeof(key), names, v, 6), 0);
	assert_int_equal(v[5].type, LG_JSON_ARRAY);
	assert_int_equal(v[5].n, strlen("[\"533100\",\"110000\"]"));
	assert_memory_equal(v[5].p, "[\"533100\",\"110000\"]", v[5].n);
	assert_true(lg_json_string(&v[0], s, sizeof(s)) > 0);
	assert_string_equal(s, "2026-10");
	assert_true(lg_json_string(&v[1], s, sizeof(s)) > 0);
	assert_string_equal(s, "533100");
	/* 2026-10-01 is a Thursday: column 3 with Monday first. */
	assert_int_equal(v[2].n, 1);
	assert_memory_equal(v[2].p, "3", 1);
	assert_int_equal(lg_json_each(&v[3], key, sizeof(key), one_day, &d), 0);
	assert_int_equal(d.n, 31);
	for (int i = 0; i < 7; i++) {
		assert_string_equal(d.kind[i], "holiday");
		assert_string_equal(d.name[i], "国庆节");
	}
	assert_string_equal(d.kind[9], "makeup_workday"); /* Saturday the 10th */
	assert_string_equal(d.kind[10], "rest_day");      /* Sunday the 11th */
	assert_string_equal(d.kind[11], "workday");       /* Monday the 12th */
	assert_string_equal(d.name[11], "");
	assert_int_equal(v[4].type, LG_JSON_BOOL);
	assert_memory_equal(v[4].p, "false", 5);
	lg_buf_free(&b);
}

/* A year without a calendar says so; region 0 is rendered as null. */
static void
test_unknown_year(void **state)
{
	struct lg_buf b = {0};

	(void)state;
	lg_calendar_month_json(&b, cf->calendar, 2031, 2, 0, NULL, 0);
	lg_buf_add(&b, "", 1);
	assert_non_null(strstr(b.data, "\"region\":null,\"regions\":[]"));
	assert_non_null(strstr(b.data, "\"unknown_year\":true"));
	assert_non_null(strstr(b.data, "\"date\":\"2031-02-28\""));
	assert_null(strstr(b.data, "2031-02-29"));
	lg_buf_free(&b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_october_2026),
	    cmocka_unit_test(test_unknown_year),
	};

	return cmocka_run_group_tests(tests, setup, tu_free_config);
}
