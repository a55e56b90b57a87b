/* Tests for lib/core/tz.c: zones from TZif files, fixed offsets, errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tz.h"

/* Shanghai is UTC+8 today, and was +9 in the summer of 1988 (daylight saving then). */
static void
test_shanghai(void **state)
{
	char err[256];
	struct lg_tz *tz = lg_tz_load("Asia/Shanghai", err, sizeof(err));
	int64_t t = 1790000000; /* 2026-09-21 */

	(void)state;
	assert_non_null(tz);
	assert_int_equal(lg_tz_offset(tz, t), 8 * 3600);
	assert_int_equal(lg_tz_local(tz, t), t + 8 * 3600);
	assert_int_equal(lg_tz_unix(tz, t + 8 * 3600), t);
	/* 1988-07-01 12:00 UTC: China observed daylight saving time 1986-1991. */
	assert_int_equal(lg_tz_offset(tz, 583675200), 9 * 3600);
	/* Far future, beyond the table: the footer's standard offset. */
	assert_int_equal(lg_tz_offset(tz, 4102444800LL), 8 * 3600);
	assert_string_equal(lg_tz_name(tz), "Asia/Shanghai");
	lg_tz_free(tz);
}

/* A zone with daylight saving in its table converts both ways. */
static void
test_dst_zone(void **state)
{
	char err[256];
	struct lg_tz *tz = lg_tz_load("Europe/Berlin", err, sizeof(err));

	(void)state;
	assert_non_null(tz);
	/* 2025-07-01 00:00 UTC: CEST, +2 */
	assert_int_equal(lg_tz_offset(tz, 1751328000), 7200);
	/* 2025-01-01 00:00 UTC: CET, +1 */
	assert_int_equal(lg_tz_offset(tz, 1735689600), 3600);
	assert_int_equal(lg_tz_unix(tz, lg_tz_local(tz, 1751328000)), 1751328000);
	lg_tz_free(tz);
}

/* UTC and fixed offsets need no file. */
static void
test_fixed(void **state)
{
	char err[256];
	struct lg_tz *tz;

	(void)state;
	tz = lg_tz_load("UTC", err, sizeof(err));
	assert_non_null(tz);
	assert_int_equal(lg_tz_offset(tz, 12345), 0);
	lg_tz_free(tz);
	tz = lg_tz_load("+08:00", err, sizeof(err));
	assert_non_null(tz);
	assert_int_equal(lg_tz_offset(tz, 12345), 28800);
	lg_tz_free(tz);
	tz = lg_tz_load("-05:30", err, sizeof(err));
	assert_non_null(tz);
	assert_int_equal(lg_tz_offset(tz, 0), -19800);
	lg_tz_free(tz);
}

/* Unknown names and path tricks are refused with a message. */
static void
test_errors(void **state)
{
	char err[256];

	(void)state;
	assert_null(lg_tz_load("Asia/Atlantis", err, sizeof(err)));
	assert_non_null(strstr(err, "unknown time zone \"Asia/Atlantis\""));
	assert_null(lg_tz_load("../../etc/passwd", err, sizeof(err)));
	assert_non_null(strstr(err, "is not a time zone name"));
	assert_null(lg_tz_load("/etc/localtime", err, sizeof(err)));
	assert_null(lg_tz_load("+25:00", err, sizeof(err)));
	/* A file that is not TZif. */
	setenv("TZDIR", LG_SOURCE_ROOT "/tests/unit", 1);
	assert_null(lg_tz_load("meson.build", err, sizeof(err)));
	assert_non_null(strstr(err, "not a valid TZif"));
	unsetenv("TZDIR");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_shanghai),
	    cmocka_unit_test(test_dst_zone),
	    cmocka_unit_test(test_fixed),
	    cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
