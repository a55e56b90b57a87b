/* Tests for lib/calendar/calendar_ics.c: the feed's events, escaping, folding and line ends. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calendar.h"
#include "calendar_ics.h"

#define SAT_SUN ((1u << 0) | (1u << 6))

/* A calendar from one text, which must load cleanly. */
static struct lg_calendar *
load(const char *text)
{
	struct lg_calendar_opts o = {.rest_weekdays = SAT_SUN};
	struct lg_calendar *cal = lg_calendar_new(&o);
	struct lg_errors errs;
	char buf[2048];

	lg_errors_init(&errs);
	lg_calendar_load_text(cal, "t.conf", text, &errs);
	lg_calendar_finish(cal, &errs);
	lg_errors_join(&errs, buf, sizeof(buf));
	if (errs.count != 0)
		fail_msg("calendar errors:\n%s", buf);
	lg_errors_free(&errs);
	return cal;
}

/* The feed of cal for region from..to, stamped 2026-05-28T20:26:40Z. */
static char *
feed(const struct lg_calendar *cal, uint32_t region, const char *from, const char *to)
{
	struct lg_ics_feed f = {.region = region, .stamp = 1780000000, .subject_blocked = 7};
	struct lg_buf out = {0};

	assert_int_equal(lg_parse_date(from, &f.from), 0);
	assert_int_equal(lg_parse_date(to, &f.to), 0);
	lg_calendar_ics(cal, &f, &out);
	return out.data;
}

static const char cal_text[] =
    "year = 2026; source = \"s\";\n"
    "holidays = ( { name = \"国庆节\"; from = \"2026-10-01\"; to = \"2026-10-07\"; },\n"
    "  { region = \"533100\"; name = \"a, b; c\\\\d\"; date = \"2026-10-09\"; } );\n"
    "workdays = ( { name = \"国庆节调休\"; date = \"2026-10-10\"; } );\n";

/* Runs become events; weekends and workdays are left out; UIDs and stamps as specified. */
static void
test_events(void **state)
{
	struct lg_calendar *cal = load(cal_text);
	char *nat = feed(cal, LG_REGION_NONE, "2026-09-26", "2026-10-31");
	char *reg = feed(cal, 533102, "2026-09-26", "2026-10-31");

	(void)state;
	assert_non_null(strstr(nat, "BEGIN:VEVENT\r\nUID:20261001-holiday-national@lessongate\r\n"
	                            "DTSTAMP:20260528T202640Z\r\n"
	                            "DTSTART;VALUE=DATE:20261001\r\n"
	                            "DTEND;VALUE=DATE:20261008\r\n"
	                            "SUMMARY:国庆节\r\n"));
	assert_non_null(strstr(nat, "UID:20261010-makeup_workday-national@lessongate\r\n"));
	assert_non_null(strstr(nat, "CATEGORIES:makeup_workday\r\n"));
	assert_null(strstr(nat, "20261009"));
	assert_int_equal(strstr(nat, "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:") == nat, 1);
	assert_int_equal(strcmp(nat + strlen(nat) - 15, "END:VCALENDAR\r\n"), 0);
	/* 2 events nationally; the regional holiday only for the region */
	assert_int_equal(
	    strstr(strstr(strstr(nat, "BEGIN:VEVENT") + 1, "BEGIN:VEVENT") + 1, "BEGIN:VEVENT"),
	    NULL);
	assert_non_null(strstr(reg, "UID:20261009-holiday-533102@lessongate\r\n"));
	assert_non_null(strstr(reg, "SUMMARY:a\\, b\\; c\\\\d\r\n"));
	assert_non_null(strstr(reg, "X-WR-CALNAME:lessongate 533102\r\n"));
	free(nat);
	free(reg);
	lg_calendar_free(cal);
}

/* Every line ends in CRLF, has at most 75 octets, and folds between UTF-8 characters. */
static void
test_folding(void **state)
{
	static const char text[] =
	    "year = 2026; source = \"s\";\n"
	    "holidays = ( { name = \"德宏傣族景颇族自治州成立纪念日暨目瑙纵歌节与泼水节联合"
	    "庆祝活动放假安排的一个很长的名称\"; date = \"2026-03-02\"; } );\n";
	struct lg_calendar *cal = load(text);
	char *f = feed(cal, LG_REGION_NONE, "2026-03-01", "2026-03-31");
	struct lg_buf joined = {0};
	int folds = 0;

	(void)state;
	for (char *line = f, *end; *line; line = end + 2) {
		end = strstr(line, "\r\n");
		assert_non_null(end);
		assert_true(end - line <= 75);
		assert_null(memchr(line, '\n', (size_t)(end - line)));
		if (*line == ' ') {
			/* a continuation never starts inside a UTF-8 sequence */
			assert_int_not_equal((unsigned char)line[1] & 0xc0, 0x80);
			lg_buf_add(&joined, line + 1, (size_t)(end - line - 1));
			folds++;
		} else {
			if (joined.len)
				LG_BUF_LIT(&joined, "\n");
			lg_buf_add(&joined, line, (size_t)(end - line));
		}
	}
	assert_true(folds >= 2);
	assert_non_null(strstr(joined.data, "\nSUMMARY:德宏傣族景颇族自治州成立纪念日暨目瑙纵歌"
	                                    "节与泼水节联合庆祝活动放假安排的一个很长的名称\n"));
	lg_buf_free(&joined);
	free(f);
	lg_calendar_free(cal);
}

/* The tag ignores DTSTAMP and follows the events; If-None-Match is compared weakly. */
static void
test_etag(void **state)
{
	struct lg_calendar *cal = load(cal_text);
	struct lg_ics_feed f = {.region = 533102, .stamp = 1780000000, .subject_blocked = 7};
	char a[LG_ICS_ETAG_SIZE], b[LG_ICS_ETAG_SIZE], c[LG_ICS_ETAG_SIZE], list[128];

	(void)state;
	assert_int_equal(lg_parse_date("2026-01-01", &f.from), 0);
	assert_int_equal(lg_parse_date("2026-12-31", &f.to), 0);
	lg_calendar_ics_etag(cal, &f, a);
	f.stamp = 1790000000;
	lg_calendar_ics_etag(cal, &f, b);
	f.region = 110000;
	lg_calendar_ics_etag(cal, &f, c);
	assert_string_equal(a, b);
	assert_string_not_equal(a, c);
	assert_int_equal(strlen(a), 36);
	assert_int_equal(strncmp(a, "W/\"", 3), 0);
	assert_true(lg_ics_etag_match(a, strlen(a), a));
	assert_true(lg_ics_etag_match(a + 2, strlen(a + 2), a)); /* the strong form */
	assert_true(lg_ics_etag_match("*", 1, a));
	snprintf(list, sizeof(list), "\"x\", %s , W/\"y\"", a);
	assert_true(lg_ics_etag_match(list, strlen(list), a));
	assert_false(lg_ics_etag_match(c, strlen(c), a));
	assert_false(lg_ics_etag_match("", 0, a));
	assert_false(lg_ics_etag_match(a, strlen(a) - 1, a));
	lg_calendar_free(cal);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_events),
	    cmocka_unit_test(test_folding),
	    cmocka_unit_test(test_etag),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
