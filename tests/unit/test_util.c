/* Tests for lib/core/util.c: dates, durations, times of day, error lists. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "util.h"

/* Day numbers round-trip over four centuries, and known anchors hold. */
static void
test_civil_roundtrip(void **state)
{
	char buf[11];

	(void)state;
	assert_int_equal(lg_days_from_civil(1970, 1, 1), 0);
	assert_int_equal(lg_days_from_civil(2000, 3, 1), 11017);
	assert_int_equal(lg_weekday(lg_days_from_civil(2026, 10, 1)), 4); /* Thursday */
	assert_int_equal(lg_weekday(lg_days_from_civil(2026, 9, 20)), 0); /* Sunday */
	for (int32_t d = -1000; d < 150000; d += 7) {
		int y, m, dd;
		lg_civil_from_days(d, &y, &m, &dd);
		assert_int_equal(lg_days_from_civil(y, m, dd), d);
	}
	lg_format_date(lg_days_from_civil(2024, 2, 29), buf);
	assert_string_equal(buf, "2024-02-29");
}

/* Dates are strict: shape, range and existence. */
static void
test_parse_date(void **state)
{
	int32_t d;

	(void)state;
	assert_int_equal(lg_parse_date("2026-10-01", &d), 0);
	assert_int_equal(d, lg_days_from_civil(2026, 10, 1));
	assert_int_equal(lg_parse_date("2024-02-29", &d), 0);
	assert_int_equal(lg_parse_date("2025-02-29", &d), -1);
	assert_int_equal(lg_parse_date("2026-13-01", &d), -1);
	assert_int_equal(lg_parse_date("2026-04-31", &d), -1);
	assert_int_equal(lg_parse_date("2026-1-01", &d), -1);
	assert_int_equal(lg_parse_date("2026/10/01", &d), -1);
	assert_int_equal(lg_parse_date("2026-10-01 ", &d), -1);
	assert_int_equal(lg_parse_date("", &d), -1);
	assert_int_equal(lg_parse_date(NULL, &d), -1);
	assert_int_equal(lg_month_days(2100, 2), 28);
	assert_int_equal(lg_month_days(2000, 2), 29);
}

/* Durations: units in decreasing order, whole seconds where asked. */
static void
test_durations(void **state)
{
	int64_t v;

	(void)state;
	assert_int_equal(lg_parse_duration_ms("30m", &v), 0);
	assert_int_equal(v, 1800000);
	assert_int_equal(lg_parse_duration_ms("1h30m", &v), 0);
	assert_int_equal(v, 5400000);
	assert_int_equal(lg_parse_duration_ms("90s", &v), 0);
	assert_int_equal(v, 90000);
	assert_int_equal(lg_parse_duration_ms("200ms", &v), 0);
	assert_int_equal(v, 200);
	assert_int_equal(lg_parse_duration_ms("1m500ms", &v), 0);
	assert_int_equal(v, 60500);
	assert_int_equal(lg_parse_duration_ms("0s", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(lg_parse_duration_ms("30", &v), -1);
	assert_int_equal(lg_parse_duration_ms("m", &v), -1);
	assert_int_equal(lg_parse_duration_ms("30m1h", &v), -1);
	assert_int_equal(lg_parse_duration_ms("5m5m", &v), -1);
	assert_int_equal(lg_parse_duration_ms("-5m", &v), -1);
	assert_int_equal(lg_parse_duration_ms("5 m", &v), -1);
	assert_int_equal(lg_parse_duration_ms("5x", &v), -1);
	assert_int_equal(lg_parse_duration_ms("", &v), -1);
	assert_int_equal(lg_parse_duration_ms("99999999999999h", &v), -1);
	assert_int_equal(lg_parse_duration_s("10m", &v), 0);
	assert_int_equal(v, 600);
	assert_int_equal(lg_parse_duration_s("1500ms", &v), -1);
}

/* Times of day, 24:00 included. */
static void
test_time_of_day(void **state)
{
	int32_t s;

	(void)state;
	assert_int_equal(lg_parse_time_of_day("21:00", &s), 0);
	assert_int_equal(s, 75600);
	assert_int_equal(lg_parse_time_of_day("20:59:59", &s), 0);
	assert_int_equal(s, 75599);
	assert_int_equal(lg_parse_time_of_day("24:00", &s), 0);
	assert_int_equal(s, 86400);
	assert_int_equal(lg_parse_time_of_day("00:00", &s), 0);
	assert_int_equal(s, 0);
	assert_int_equal(lg_parse_time_of_day("24:01", &s), -1);
	assert_int_equal(lg_parse_time_of_day("9:00", &s), -1);
	assert_int_equal(lg_parse_time_of_day("21:60", &s), -1);
	assert_int_equal(lg_parse_time_of_day("21h00", &s), -1);
	assert_int_equal(lg_parse_time_of_day("21:00:0", &s), -1);
}

/* Error lists carry file:line and join in order. */
static void
test_errors(void **state)
{
	struct lg_errors e;
	char buf[256];

	(void)state;
	lg_errors_init(&e);
	lg_errors_add(&e, "a.conf", 3, "bad %s", "thing");
	lg_errors_add(&e, "b.conf", 0, "no line");
	lg_errors_add(&e, NULL, 0, "plain");
	assert_int_equal(e.count, 3);
	assert_string_equal(e.msg[0], "a.conf:3: bad thing");
	assert_string_equal(e.msg[1], "b.conf: no line");
	lg_errors_join(&e, buf, sizeof(buf));
	assert_string_equal(buf, "a.conf:3: bad thing\nb.conf: no line\nplain");
	lg_errors_free(&e);
	assert_int_equal(e.count, 0);
}

/* Floor division for negative times. */
static void
test_day_of(void **state)
{
	(void)state;
	assert_int_equal(lg_day_of(0), 0);
	assert_int_equal(lg_day_of(86399), 0);
	assert_int_equal(lg_day_of(86400), 1);
	assert_int_equal(lg_day_of(-1), -1);
	assert_int_equal(lg_day_of(-86400), -1);
	assert_int_equal(lg_day_of(-86401), -2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_civil_roundtrip), cmocka_unit_test(test_parse_date),
	    cmocka_unit_test(test_durations),       cmocka_unit_test(test_time_of_day),
	    cmocka_unit_test(test_errors),          cmocka_unit_test(test_day_of),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
