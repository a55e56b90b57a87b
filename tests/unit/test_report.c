/* Tests for lib/audit/report.c: per-day sums of audit records, and the text, CSV and HTML forms. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "auditrec.h"
#include "report.h"
#include "util.h"

/* The records of a small known log, as the daemon writes them. */
static const char *const known[] = {
    "{\"index\":0,\"type\":\"start\",\"time\":\"2026-03-02T07:59:00+08:00\",\"instance\":\"gw\","
    "\"version\":\"1\"}",
    /* Two lessons begun on the 2nd (one ends after midnight), one on the 3rd in Beijing. */
    "{\"index\":1,\"type\":\"lesson_end\",\"time\":\"2026-03-02T10:45:00+08:00\",\"instance\":"
    "\"gw\",\"student\":\"aa\",\"class\":\"subject\",\"route\":\"/live/\",\"region\":\"533102\","
    "\"start\":\"2026-03-02T10:00:00+08:00\",\"end\":\"2026-03-02T10:30:00+08:00\","
    "\"duration\":1800}",
    "{\"index\":2,\"type\":\"lesson_end\",\"time\":\"2026-03-03T00:20:00+08:00\",\"instance\":"
    "\"gw\",\"student\":\"bb\",\"class\":\"subject\",\"route\":\"/live/\",\"region\":\"533100\","
    "\"start\":\"2026-03-02T23:50:00+08:00\",\"end\":\"2026-03-03T00:05:00+08:00\","
    "\"duration\":900}",
    "{\"index\":3,\"type\":\"lesson_end\",\"time\":\"2026-03-03T09:30:00+08:00\",\"instance\":"
    "\"gw\",\"student\":\"cc\",\"class\":\"subject\",\"route\":\"/live/\",\"region\":\"110000\","
    "\"start\":\"2026-03-03T09:00:00+08:00\",\"end\":\"2026-03-03T09:20:00+08:00\","
    "\"duration\":1200}",
    /* A flood of 7 lesson_limit refusals, one day_end, one would-be refusal (monitor). */
    "{\"index\":4,\"type\":\"deny\",\"time\":\"2026-03-02T10:30:01+08:00\",\"instance\":\"gw\","
    "\"student\":\"aa\",\"class\":\"subject\",\"route\":\"/live/\",\"region\":\"533102\","
    "\"rule\":\"lesson_limit\",\"enforced\":true,\"status\":429,\"count\":7,\"last\":"
    "\"2026-03-02T10:30:09+08:00\"}",
    "{\"index\":5,\"type\":\"deny\",\"time\":\"2026-03-02T21:00:00+08:00\",\"instance\":\"gw\","
    "\"student\":\"aa\",\"class\":\"subject\",\"route\":\"/live/\",\"region\":\"533102\","
    "\"rule\":\"day_end\",\"enforced\":true,\"status\":451,\"count\":1,\"last\":"
    "\"2026-03-02T21:00:00+08:00\"}",
    "{\"index\":6,\"type\":\"deny\",\"time\":\"2026-03-03T21:10:00+08:00\",\"instance\":\"gw\","
    "\"student\":\"cc\",\"class\":\"subject\",\"route\":\"/live/\",\"region\":\"110000\","
    "\"rule\":\"day_end\",\"enforced\":false,\"status\":451,\"count\":2,\"last\":"
    "\"2026-03-03T21:10:05+08:00\"}",
    /* Forced closes: two ways. */
    "{\"index\":7,\"type\":\"forced_close\",\"time\":\"2026-03-02T10:30:00+08:00\",\"instance\":"
    "\"gw\",\"student\":\"aa\",\"class\":\"subject\",\"route\":\"/live/\",\"region\":\"533102\","
    "\"rule\":\"lesson_limit\",\"enforced\":true,\"how\":\"websocket close 4001\"}",
    "{\"index\":8,\"type\":\"forced_close\",\"time\":\"2026-03-02T21:00:00+08:00\",\"instance\":"
    "\"gw\",\"student\":\"bb\",\"class\":\"subject\",\"route\":\"/live/\",\"region\":\"533100\","
    "\"rule\":\"day_end\",\"enforced\":true,\"how\":\"connection closed, \\\"early\\\"\"}",
    /* Unidentified requests (no region): 3 + 1. */
    "{\"index\":9,\"type\":\"unidentified\",\"time\":\"2026-03-03T08:00:00+08:00\",\"instance\":"
    "\"gw\",\"class\":\"subject\",\"route\":\"/live/\",\"client\":\"10.0.0.0/24\",\"reason\":"
    "\"missing token\",\"count\":3,\"last\":\"2026-03-03T08:00:02+08:00\"}",
    "{\"index\":10,\"type\":\"unidentified\",\"time\":\"2026-03-04T08:00:00+08:00\",\"instance\":"
    "\"gw\",\"class\":\"subject\",\"route\":\"/live/\",\"client\":\"10.0.0.0/24\",\"reason\":"
    "\"missing token\",\"count\":1,\"last\":\"2026-03-04T08:00:00+08:00\"}",
    /* Outside the dates. */
    "{\"index\":11,\"type\":\"deny\",\"time\":\"2026-03-05T10:00:00+08:00\",\"instance\":\"gw\","
    "\"student\":\"aa\",\"class\":\"subject\",\"route\":\"/live/\",\"region\":\"533102\","
    "\"rule\":\"lesson_limit\",\"enforced\":true,\"status\":429,\"count\":100,\"last\":"
    "\"2026-03-05T10:00:00+08:00\"}",
};

/* A report of the known log over 2026-03-02 .. 03-04 in region (0: all). */
static struct lg_report *
known_report(uint32_t region)
{
	int32_t from, to;
	char err[128];
	struct lg_report *r;

	assert_int_equal(lg_parse_date("2026-03-02", &from), 0);
	assert_int_equal(lg_parse_date("2026-03-04", &to), 0);
	r = lg_report_new(from, to, region);
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		assert_int_equal(lg_report_add(r, known[i], strlen(known[i]), err, sizeof(err)), 0);
	return r;
}

/* Lessons by the day they began, refusals by rule with their counts, forced closes, 401s. */
static void
test_sums(void **state)
{
	struct lg_report *r = known_report(0);
	const struct lg_report_day *d2, *d3, *d4;

	(void)state;
	assert_int_equal(lg_report_ndays(r), 3);
	d2 = lg_report_day(r, 0);
	d3 = lg_report_day(r, 1);
	d4 = lg_report_day(r, 2);
	assert_null(lg_report_day(r, 3));
	assert_int_equal(d2->lessons, 2);
	assert_int_equal(d2->lesson_seconds, 2700);
	assert_int_equal(d3->lessons, 1);
	assert_int_equal(d3->lesson_seconds, 1200);
	assert_int_equal(d2->refusals[3], 7); /* lesson_limit, counted */
	assert_int_equal(d2->refusals[1], 1); /* day_end */
	assert_int_equal(d2->not_enforced, 0);
	assert_int_equal(d3->refusals[1], 2);
	assert_int_equal(d3->not_enforced, 2);
	assert_int_equal(d2->forced_total, 2);
	assert_int_equal(lg_report_nhows(r), 2);
	assert_string_equal(lg_report_how(r, 0), "websocket close 4001");
	assert_string_equal(lg_report_how(r, 1), "connection closed, \"early\"");
	assert_int_equal(d2->forced[0], 1);
	assert_int_equal(d2->forced[1], 1);
	assert_int_equal(d3->unidentified, 3);
	assert_int_equal(d4->unidentified, 1);
	assert_int_equal(d4->lessons + d4->refusals[3] + d4->forced_total, 0);
	assert_int_equal(lg_report_records(r), 10); /* not the start, not the 5th */
	lg_report_free(r);
}

/* A region takes the regions it covers; unidentified requests have none. */
static void
test_region(void **state)
{
	struct lg_report *r = known_report(533100);

	(void)state;
	assert_int_equal(lg_report_day(r, 0)->lessons, 2);
	assert_int_equal(lg_report_day(r, 1)->lessons, 0); /* Beijing's */
	assert_int_equal(lg_report_day(r, 1)->refusals[1], 0);
	assert_int_equal(lg_report_day(r, 1)->unidentified, 0);
	lg_report_free(r);
	r = known_report(530000);
	assert_int_equal(lg_report_day(r, 0)->refusals[3], 7);
	lg_report_free(r);
	r = known_report(533103);
	assert_int_equal(lg_report_day(r, 0)->lessons, 0);
	lg_report_free(r);
}

/* What is not a record is refused with a reason; unknown types are skipped. */
static void
test_bad_records(void **state)
{
	struct lg_report *r;
	char err[128];
	int32_t day;
	static const char *const bad[] = {
	    "not json",
	    "{\"type\":\"deny\"}",
	    "{\"type\":\"deny\",\"time\":\"2024-10-04T10:00:00+08:00\",\"rule\":\"nap\"}",
	    "{\"type\":\"deny\",\"time\":\"2024-10-04T10:00:00+08:00\",\"rule\":\"day_end\","
	    "\"count\":-1}",
	    "{\"type\":\"lesson_end\",\"time\":\"2024-10-04T10:00:00+08:00\",\"start\":"
	    "\"2024-10-04T10:00:00+08:00\",\"duration\":\"x\"}",
	};
	const char *skip = "{\"type\":\"config_loaded\",\"time\":\"2024-10-04T10:00:00+08:00\"}";

	(void)state;
	assert_int_equal(lg_parse_date("2024-10-04", &day), 0);
	r = lg_report_new(day, day, 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(lg_report_add(r, bad[i], strlen(bad[i]), err, sizeof(err)), -1);
		assert_true(err[0] != '\0');
	}
	assert_int_equal(lg_report_add(r, skip, strlen(skip), err, sizeof(err)), 0);
	assert_int_equal(lg_report_records(r), 0);
	lg_report_free(r);
}

/* Records as lg_audit_format writes them are counted (the report follows the format). */
static void
test_formatted_records(void **state)
{
	struct lg_tz *tz;
	struct lg_audit_ctx ctx = {.instance = "gw"};
	struct lg_buf b = {0};
	char err[128];
	int32_t day;
	struct lg_report *r;
	/* 2026-09-21T10:00:00+08:00 */
	struct lg_audit_rec end = {.type = LG_AUDIT_LESSON_END,
	                           .time = 1789957800,
	                           .student = "s",
	                           .student_len = 1,
	                           .region = 533100,
	                           .cls = 0,
	                           .start = 1789956000,
	                           .end = 1789957500};
	struct lg_audit_rec deny = {.type = LG_AUDIT_DENY,
	                            .time = 1789957801,
	                            .student = "s",
	                            .student_len = 1,
	                            .region = 533100,
	                            .cls = 0,
	                            .rule = LG_RULE_LESSON_LIMIT,
	                            .enforced = true,
	                            .status = 429,
	                            .count = 5};
	struct lg_audit_rec un = {.type = LG_AUDIT_UNIDENTIFIED,
	                          .time = 1789957802,
	                          .cls = 0,
	                          .client = "local",
	                          .reason = "missing token",
	                          .count = 4};

	(void)state;
	assert_non_null(tz = lg_tz_load("Asia/Shanghai", err, sizeof(err)));
	ctx.tz = tz;
	assert_int_equal(lg_parse_date("2026-09-21", &day), 0);
	r = lg_report_new(day, day, 0);
	lg_audit_format(&b, 0, &ctx, &end);
	assert_int_equal(lg_report_add(r, b.data, b.len, err, sizeof(err)), 0);
	b.len = 0;
	lg_audit_format(&b, 1, &ctx, &deny);
	assert_int_equal(lg_report_add(r, b.data, b.len, err, sizeof(err)), 0);
	b.len = 0;
	lg_audit_format(&b, 2, &ctx, &un);
	assert_int_equal(lg_report_add(r, b.data, b.len, err, sizeof(err)), 0);
	assert_int_equal(lg_report_day(r, 0)->lessons, 1);
	assert_int_equal(lg_report_day(r, 0)->lesson_seconds, 1500);
	assert_int_equal(lg_report_day(r, 0)->refusals[3], 5);
	assert_int_equal(lg_report_day(r, 0)->unidentified, 4);
	lg_buf_free(&b);
	lg_report_free(r);
	lg_tz_free(tz);
}

/* The text form: aligned columns, a total line, forced closes by how. */
static void
test_text(void **state)
{
	struct lg_report *r = known_report(0);
	struct lg_buf b = {0};
	char *hdr, *l2, *tot;

	(void)state;
	lg_report_write(r, LG_REPORT_TEXT, "gw", &b);
	lg_buf_add(&b, "", 1);
	assert_non_null(strstr(b.data, "gw, 2026-03-02 .. 2026-03-04, all regions"));
	hdr = strstr(b.data, "date ");
	l2 = strstr(b.data, "\n2026-03-02 ");
	tot = strstr(b.data, "\ntotal ");
	assert_non_null(hdr);
	assert_non_null(l2);
	assert_non_null(tot);
	/* Every line of the table is as long as the header. */
	assert_int_equal(strchr(l2 + 1, '\n') - (l2 + 1), strchr(hdr, '\n') - hdr);
	assert_int_equal(strchr(tot + 1, '\n') - (tot + 1), strchr(hdr, '\n') - hdr);
	assert_non_null(strstr(tot, "   3  "));  /* lessons */
	assert_non_null(strstr(l2, "  45.0  ")); /* minutes on the 2nd */
	assert_non_null(strstr(tot, "  65.0  "));
	assert_non_null(strstr(b.data, "2026-03-02  1  websocket close 4001\n"));
	lg_buf_free(&b);
	lg_report_free(r);
}

/* The CSV form: a header, one row per day, CRLF, quoted hows. */
static void
test_csv(void **state)
{
	struct lg_report *r = known_report(0);
	struct lg_buf b = {0};

	(void)state;
	lg_report_write(r, LG_REPORT_CSV, "gw", &b);
	lg_buf_add(&b, "", 1);
	assert_string_equal(
	    b.data,
	    "date,lessons,lesson_minutes,mean_minutes,refused_blocked_day,refused_day_end,"
	    "refused_day_start,refused_lesson_limit,refused_not_enforced,forced_closes,"
	    "unidentified,forced_close:websocket close 4001,\"forced_close:connection closed, "
	    "\"\"early\"\"\"\r\n"
	    "2026-03-02,2,45.0,22.5,0,1,0,7,0,2,0,1,1\r\n"
	    "2026-03-03,1,20.0,20.0,0,2,0,0,2,0,3,0,0\r\n"
	    "2026-03-04,0,0.0,0.0,0,0,0,0,0,0,1,0,0\r\n");
	lg_buf_free(&b);
	lg_report_free(r);
}

/* The HTML form: one page, bilingual headings, an SVG chart, nothing fetched, no script. */
static void
test_html(void **state)
{
	struct lg_report *r = known_report(0);
	struct lg_buf b = {0};

	(void)state;
	lg_report_write(r, LG_REPORT_HTML, "gw <test>", &b);
	lg_buf_add(&b, "", 1);
	assert_non_null(strstr(b.data, "<!DOCTYPE html>"));
	assert_non_null(strstr(b.data, "<svg"));
	assert_non_null(strstr(b.data, "</svg>"));
	assert_non_null(strstr(b.data, "<style>"));
	assert_non_null(strstr(b.data, "日期<br><span class=\"en\">Date</span>"));
	assert_non_null(strstr(b.data, "gw &lt;test&gt;"));
	assert_non_null(strstr(b.data, "connection closed, &quot;early&quot;"));
	assert_null(strstr(b.data, "http://"));
	assert_null(strstr(b.data, "https://"));
	assert_null(strstr(b.data, "<script"));
	assert_null(strstr(b.data, "src="));
	lg_buf_free(&b);
	lg_report_free(r);
}

/* More hows than columns are summed up as "other"; a long range is cut to the maximum. */
static void
test_limits(void **state)
{
	struct lg_report *r = lg_report_new(20000, 20000 + 100000, 0);
	char rec[256], err[128];
	int32_t day;

	(void)state;
	assert_int_equal(lg_report_ndays(r), LG_REPORT_MAX_DAYS);
	lg_report_free(r);
	assert_int_equal(lg_parse_date("2026-03-02", &day), 0);
	r = lg_report_new(day, day, 0);
	for (int i = 0; i < LG_REPORT_HOWS + 5; i++) {
		snprintf(rec, sizeof(rec),
		         "{\"type\":\"forced_close\",\"time\":\"2026-03-02T10:00:00+08:00\","
		         "\"rule\":\"day_end\",\"how\":\"how %d\"}",
		         i);
		assert_int_equal(lg_report_add(r, rec, strlen(rec), err, sizeof(err)), 0);
	}
	assert_int_equal(lg_report_nhows(r), LG_REPORT_HOWS + 1);
	assert_string_equal(lg_report_how(r, LG_REPORT_HOWS), "other");
	assert_int_equal(lg_report_day(r, 0)->forced[LG_REPORT_HOWS], 5);
	assert_int_equal(lg_report_day(r, 0)->forced_total, LG_REPORT_HOWS + 5);
	lg_report_free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sums),        cmocka_unit_test(test_region),
	    cmocka_unit_test(test_bad_records), cmocka_unit_test(test_formatted_records),
	    cmocka_unit_test(test_text),        cmocka_unit_test(test_csv),
	    cmocka_unit_test(test_html),        cmocka_unit_test(test_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
