/* Tests for lib/admin/metrics.c: per-worker counters, their sum, the minute ring, the exposition.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "metrics.h"

/* A zeroed struct lg_metrics (aligned as the daemon's are). */
static struct lg_metrics *
new_metrics(void)
{
	struct lg_metrics *m = aligned_alloc(64, sizeof(*m));

	memset(m, 0, sizeof(*m));
	return m;
}

/* The value of the exposition line that starts with series (followed by a space); -1 if none. */
static long long
value_of(const struct lg_buf *b, const char *series)
{
	size_t n = strlen(series);

	for (const char *p = b->data; p && p < b->data + b->len; p = strchr(p, '\n') + 1) {
		if (strncmp(p, series, n) == 0 && p[n] == ' ')
			return atoll(p + n + 1);
		if (strchr(p, '\n') == NULL)
			break;
	}
	return -1;
}

/* The document of some counters with fixed info. */
static void
render(struct lg_buf *b, const struct lg_counters *c, const char *version)
{
	struct lg_metrics_info in = {.version = version,
	                             .config_generation = 3,
	                             .students = 7,
	                             .connections_client = 2,
	                             .store_kind = "memory",
	                             .store_up = true,
	                             .workers = 2};

	b->len = 0;
	lg_metrics_render(b, c, &in);
}

/* Two workers' counters add up when summed; gauges are opened minus closed. */
static void
test_sum_of_workers(void **state)
{
	struct lg_metrics *w[2] = {new_metrics(), new_metrics()};
	struct lg_counters sum;
	struct lg_buf b = {0};

	(void)state;
	lg_metrics_request(w[0], LG_CLASS_SUBJECT, LG_M_ALLOWED);
	lg_metrics_request(w[1], LG_CLASS_SUBJECT, LG_M_ALLOWED);
	lg_metrics_request(w[1], LG_CLASS_SUBJECT, LG_M_ALLOWED);
	lg_metrics_request(w[0], LG_CLASS_FREE, LG_M_FREE);
	lg_metrics_refusal(w[1], LG_M_LESSON_LIMIT, LG_CLASS_NON_SUBJECT, 1000000);
	lg_ctr_add(&w[0]->c.tunnels_opened[LG_CLASS_SUBJECT], 3);
	lg_ctr_add(&w[1]->c.tunnels_closed[LG_CLASS_SUBJECT], 1);
	lg_metrics_sum(&sum, w, 2);
	assert_int_equal(lg_ctr_get(&sum.requests[LG_CLASS_SUBJECT][LG_M_ALLOWED]), 3);
	render(&b, &sum, "1.0");
	assert_int_equal(
	    value_of(&b, "lessongate_requests_total{class=\"subject\",outcome=\"allowed\"}"), 3);
	assert_int_equal(value_of(&b, "lessongate_requests_total{class=\"free\",outcome=\"free\"}"),
	                 1);
	assert_int_equal(
	    value_of(&b, "lessongate_refusals_total{rule=\"lesson_limit\",class=\"non_subject\"}"),
	    1);
	assert_int_equal(value_of(&b, "lessongate_lesson_tunnels_open{class=\"subject\"}"), 2);
	assert_int_equal(value_of(&b, "lessongate_students"), 7);
	assert_int_equal(value_of(&b, "lessongate_config_generation"), 3);
	assert_int_equal(value_of(&b, "lessongate_store_up{kind=\"memory\"}"), 1);
	/* No audit log: its families are left out. */
	assert_null(strstr(b.data, "lessongate_audit_"));
	lg_buf_free(&b);
	free(w[0]);
	free(w[1]);
}

/* A snapshot with closed ahead of opened (an owner opened and closed one between the two loads)
 * shows 0 open, never a wrapped 2^64 - 1. */
static void
test_gauge_never_wraps(void **state)
{
	struct lg_metrics *w[1] = {new_metrics()};
	struct lg_counters sum;
	struct lg_buf b = {0};

	(void)state;
	lg_ctr_add(&w[0]->c.tunnels_opened[LG_CLASS_SUBJECT], 4);
	lg_ctr_add(&w[0]->c.tunnels_closed[LG_CLASS_SUBJECT], 5);
	lg_ctr_add(&w[0]->c.upstream_opened, 1);
	lg_ctr_add(&w[0]->c.upstream_closed, 2);
	lg_metrics_sum(&sum, w, 1);
	render(&b, &sum, "1.0");
	assert_int_equal(value_of(&b, "lessongate_lesson_tunnels_open{class=\"subject\"}"), 0);
	assert_int_equal(value_of(&b, "lessongate_connections_open{side=\"upstream\"}"), 0);
	assert_null(strstr(b.data, "18446744073709551615"));
	assert_int_equal(lg_ctr_gauge(&sum.upstream_opened, &sum.upstream_closed), 0);
	lg_buf_free(&b);
	free(w[0]);
}

/* The lateness histogram's buckets are cumulative and end with +Inf = count. */
static void
test_histogram_cumulative(void **state)
{
	struct lg_metrics *m = new_metrics();
	struct lg_counters sum;
	struct lg_buf b = {0};

	(void)state;
	lg_metrics_forced_close(m, LG_M_LESSON_LIMIT, LG_M_HOW_WEBSOCKET, 3000); /* 0.003 s */
	lg_metrics_forced_close(m, LG_M_LESSON_LIMIT, LG_M_HOW_WEBSOCKET, 5000); /* on 0.005 */
	lg_metrics_forced_close(m, LG_M_DAY_END, LG_M_HOW_STREAM_END, 70000);    /* 0.07 s */
	lg_metrics_forced_close(m, LG_M_DAY_END, LG_M_HOW_CONNECTION, 9000000);  /* 9 s */
	lg_metrics_forced_close(m, LG_M_DAY_END, LG_M_HOW_CONNECTION, -5);       /* early: 0 */
	lg_metrics_sum(&sum, &m, 1);
	render(&b, &sum, "1.0");
	assert_int_equal(
	    value_of(&b, "lessongate_forced_close_lateness_seconds_bucket{le=\"0.005\"}"), 3);
	assert_int_equal(
	    value_of(&b, "lessongate_forced_close_lateness_seconds_bucket{le=\"0.05\"}"), 3);
	assert_int_equal(
	    value_of(&b, "lessongate_forced_close_lateness_seconds_bucket{le=\"0.1\"}"), 4);
	assert_int_equal(value_of(&b, "lessongate_forced_close_lateness_seconds_bucket{le=\"5\"}"),
	                 4);
	assert_int_equal(
	    value_of(&b, "lessongate_forced_close_lateness_seconds_bucket{le=\"+Inf\"}"), 5);
	assert_int_equal(value_of(&b, "lessongate_forced_close_lateness_seconds_count"), 5);
	assert_non_null(strstr(b.data, "lessongate_forced_close_lateness_seconds_sum 9.078000\n"));
	assert_int_equal(
	    value_of(&b, "lessongate_forced_closes_total{rule=\"day_end\",how=\"connection\"}"), 2);
	assert_int_equal(
	    value_of(&b, "lessongate_forced_closes_total{rule=\"lesson_limit\",how=\"websocket\"}"),
	    2);
	/* The store's decision histogram has its own buckets. */
	lg_metrics_decision(m, 700);     /* 0.0007 s */
	lg_metrics_decision(m, 2000000); /* 2 s */
	lg_metrics_sum(&sum, &m, 1);
	render(&b, &sum, "1.0");
	assert_int_equal(value_of(&b, "lessongate_store_decision_seconds_bucket{le=\"0.0005\"}"),
	                 0);
	assert_int_equal(value_of(&b, "lessongate_store_decision_seconds_bucket{le=\"0.001\"}"), 1);
	assert_int_equal(value_of(&b, "lessongate_store_decision_seconds_bucket{le=\"1\"}"), 1);
	assert_int_equal(value_of(&b, "lessongate_store_decision_seconds_bucket{le=\"+Inf\"}"), 2);
	assert_int_equal(value_of(&b, "lessongate_store_decision_seconds_count"), 2);
	assert_int_equal(value_of(&b, "lessongate_forced_close_lateness_seconds_count"), 5);
	lg_buf_free(&b);
	free(m);
}

/* Label values are escaped: backslash, double quote, newline. */
static void
test_label_escaping(void **state)
{
	struct lg_counters c;
	struct lg_buf b = {0};

	(void)state;
	lg_prom_escape(&b, "a\\b\"c\nd");
	assert_int_equal(b.len, strlen("a\\\\b\\\"c\\nd"));
	assert_memory_equal(b.data, "a\\\\b\\\"c\\nd", b.len);
	memset(&c, 0, sizeof(c));
	render(&b, &c, "1.0 \"beta\"\n");
	assert_non_null(
	    strstr(b.data, "lessongate_build_info{version=\"1.0 \\\"beta\\\"\\n\"} 1\n"));
	lg_buf_free(&b);
}

/* Every family has its HELP and TYPE lines, once, before its samples. */
static void
test_help_and_type(void **state)
{
	struct lg_counters c;
	struct lg_buf b = {0};
	const char *families[] = {"lessongate_build_info",
	                          "lessongate_requests_total",
	                          "lessongate_refusals_total",
	                          "lessongate_lessons_started_total",
	                          "lessongate_lesson_tunnels_open",
	                          "lessongate_forced_closes_total",
	                          "lessongate_forced_close_lateness_seconds",
	                          "lessongate_students",
	                          "lessongate_connections_open",
	                          "lessongate_upstream_errors_total",
	                          "lessongate_jwt_cache_hits_total",
	                          "lessongate_jwt_cache_misses_total",
	                          "lessongate_config_generation",
	                          "lessongate_calendar_missing_years",
	                          "lessongate_store_up",
	                          "lessongate_store_decision_seconds",
	                          NULL};

	(void)state;
	memset(&c, 0, sizeof(c));
	render(&b, &c, "1.0");
	lg_buf_add(&b, "", 1);
	for (int i = 0; families[i]; i++) {
		char help[128], type[128];
		const char *h, *t, *s;
		snprintf(help, sizeof(help), "# HELP %s ", families[i]);
		snprintf(type, sizeof(type), "# TYPE %s ", families[i]);
		h = strstr(b.data, help);
		t = strstr(b.data, type);
		assert_non_null(h);
		assert_non_null(t);
		assert_true(h < t);
		assert_null(strstr(h + 1, help)); /* once */
		s = strstr(t, "\n") + 1;
		assert_int_equal(strncmp(s, families[i], strlen(families[i])), 0);
	}
	lg_buf_free(&b);
}

/* The minute ring: refusals land in their minute; a bucket reused an hour later starts at 0. */
static void
test_minute_ring(void **state)
{
	struct lg_metrics *w[2] = {new_metrics(), new_metrics()};
	uint64_t out[LG_M_MINUTES][LG_M_RULES];
	int64_t t0 = 1790000040; /* a minute boundary */

	(void)state;
	lg_metrics_refusal(w[0], LG_M_LESSON_LIMIT, LG_CLASS_SUBJECT, t0);
	lg_metrics_refusal(w[1], LG_M_LESSON_LIMIT, LG_CLASS_SUBJECT, t0 + 59);
	lg_metrics_refusal(w[1], LG_M_DAY_END, LG_CLASS_SUBJECT, t0 + 60);
	lg_metrics_minutes(w, 2, t0 + 60, out);
	assert_int_equal(out[LG_M_MINUTES - 1][LG_M_DAY_END], 1);
	assert_int_equal(out[LG_M_MINUTES - 2][LG_M_LESSON_LIMIT], 2);
	assert_int_equal(out[LG_M_MINUTES - 3][LG_M_LESSON_LIMIT], 0);
	/* 59 minutes on, the first minute is the oldest shown; 60 on it is gone. */
	lg_metrics_minutes(w, 2, t0 + 59 * 60, out);
	assert_int_equal(out[0][LG_M_LESSON_LIMIT], 2);
	lg_metrics_minutes(w, 2, t0 + 60 * 60, out);
	assert_int_equal(out[0][LG_M_LESSON_LIMIT], 0);
	assert_int_equal(out[LG_M_MINUTES - 60][LG_M_DAY_END], 1);
	/* A refusal an hour later reuses the bucket from zero. */
	lg_metrics_refusal(w[0], LG_M_BLOCKED_DAY, LG_CLASS_SUBJECT, t0 + 3600);
	lg_metrics_minutes(w, 2, t0 + 3600, out);
	assert_int_equal(out[LG_M_MINUTES - 1][LG_M_BLOCKED_DAY], 1);
	/* w[0]'s old count was reset; w[1]'s bucket is an hour old and not shown. */
	assert_int_equal(out[LG_M_MINUTES - 1][LG_M_LESSON_LIMIT], 0);
	free(w[0]);
	free(w[1]);
}

/* Rules and close reasons map to their labels. */
static void
test_names(void **state)
{
	(void)state;
	assert_int_equal(lg_metrics_rule(LG_RULE_LESSON_LIMIT), LG_M_LESSON_LIMIT);
	assert_int_equal(lg_metrics_rule(LG_RULE_NONE), LG_M_UNIDENTIFIED);
	assert_string_equal(lg_metrics_rule_name(LG_M_DAY_START), "day_start");
	assert_int_equal(lg_metrics_how(true, "websocket close 4001"), LG_M_HOW_WEBSOCKET);
	assert_int_equal(lg_metrics_how(true, "stream ended at chunk boundary"),
	                 LG_M_HOW_STREAM_END);
	assert_int_equal(lg_metrics_how(true, "connection closed"), LG_M_HOW_CONNECTION);
	assert_int_equal(lg_metrics_how(false, "websocket close 4001"), LG_M_HOW_MONITOR);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sum_of_workers),    cmocka_unit_test(test_histogram_cumulative),
	    cmocka_unit_test(test_label_escaping),    cmocka_unit_test(test_help_and_type),
	    cmocka_unit_test(test_minute_ring),       cmocka_unit_test(test_names),
	    cmocka_unit_test(test_gauge_never_wraps),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
