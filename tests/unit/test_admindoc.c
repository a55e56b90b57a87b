/* Tests for lib/admin/admindoc.c: the admin API's JSON documents. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "admindoc.h"
#include "tz.h"
#include "testutil.h"

static struct lg_config *cf;

/* A configuration with a 30-minute subject lesson, Dehong's calendar and an admin listener. */
static int
setup(void **state)
{
	*state = cf = tu_config(
	    "listen = ( { address = \"127.0.0.1:8080\"; } );\n"
	    "routes = ( { prefix = \"/live/\"; class = \"subject\"; } );\n" TU_CALENDAR_2026 "\n"
	    "admin = { listen = { address = \"127.0.0.1:9180\"; }; };\n",
	    "admin.conf", NULL);
	return cf == NULL;
}

/* Fail unless the document contains the text. */
static void
has(const struct lg_buf *b, const char *text)
{
	if (b->data == NULL || strstr(b->data, text) == NULL)
		fail_msg("expected %s in:\n%.*s", text, (int)b->len, b->data ? b->data : "");
}

/* A student at the lesson limit: refused now with lesson_limit, the break's end said. */
static void
test_student_at_limit(void **state)
{
	int64_t start = tu_at(cf, 2026, 9, 21, 15, 0, 0), now = start + 1800;
	struct lg_student_state st = {.start = start, .last_off = 1799};
	struct lg_buf b = {0};

	(void)state;
	lg_buf_add(&b, "", 0);
	lg_admin_student_json(&b, cf, "s\"1", 0, &st, now);
	lg_buf_add(&b, "", 1);
	has(&b,
	    "{\"student\":\"s\\\"1\",\"now\":\"2026-09-21T15:30:00+08:00\",\"region\":\"533100\"");
	has(&b, "\"lesson\":{\"start\":\"2026-09-21T15:00:00+08:00\",\"last_activity\":"
	        "\"2026-09-21T15:29:59+08:00\",\"used_s\":1799}");
	has(&b, "\"open_tunnels\":0,\"tunnels_hold_lesson\":false");
	has(&b,
	    "\"subject\":{\"allowed_now\":false,\"rule\":\"lesson_limit\",\"retry_after_s\":599,"
	    "\"remaining_s\":null,\"retry_at\":\"2026-09-21T15:39:59+08:00\",\"break_ends\":"
	    "\"2026-09-21T15:39:59+08:00\"}");
	lg_buf_free(&b);
}

/* A student after a break: allowed, no break pending; on a Sunday, blocked_day for subject. */
static void
test_student_allowed_and_blocked(void **state)
{
	int64_t start = tu_at(cf, 2026, 9, 21, 15, 0, 0);
	struct lg_student_state st = {.start = start, .last_off = 60};
	struct lg_buf b = {0};

	(void)state;
	lg_admin_student_json(&b, cf, "s1", 0, &st, start + 3600);
	lg_buf_add(&b, "", 1);
	has(&b, "\"subject\":{\"allowed_now\":true,\"rule\":null,\"retry_after_s\":null,"
	        "\"remaining_s\":1800,\"retry_at\":null,\"break_ends\":null}");
	b.len = 0;
	lg_admin_student_json(&b, cf, "s1", 0, &st,
	                      tu_at(cf, 2026, 9, 13, 10, 0, 0) /* a Sunday */);
	lg_buf_add(&b, "", 1);
	has(&b, "\"subject\":{\"allowed_now\":false,\"rule\":\"blocked_day\"");
	has(&b, "\"non_subject\":{\"allowed_now\":true");
	lg_buf_free(&b);
}

/* The recent violations: newest first, at most LG_RECENT_MAX, strings escaped. */
static void
test_recent_ring(void **state)
{
	struct lg_recent *r = calloc(1, sizeof(*r));
	struct lg_buf b = {0};
	int64_t t = tu_at(cf, 2026, 9, 21, 15, 0, 0);

	(void)state;
	for (int i = 0; i < LG_RECENT_MAX + 5; i++) {
		struct lg_violation v = {
		    .time = t + i, .rule = LG_M_LESSON_LIMIT, .cls = LG_CLASS_SUBJECT};
		snprintf(v.route, sizeof(v.route), "/live/");
		snprintf(v.who, sizeof(v.who), "s%d\"", i);
		lg_recent_push(r, &v);
	}
	assert_int_equal(r->count, LG_RECENT_MAX);
	lg_recent_json(&b, r, cf->tz);
	lg_buf_add(&b, "", 1);
	/* The newest (54) first, the oldest kept is 5; 4 was dropped. */
	has(&b, "[{\"time\":\"2026-09-21T15:00:54+08:00\",\"rule\":\"lesson_limit\",\"class\":"
	        "\"subject\",\"route\":\"/live/\",\"student\":\"s54\\\"\",\"count\":1}");
	assert_int_equal(b.data[0], '[');
	assert_int_equal(strncmp(b.data + 10, "2026-09-21T15:00:54", 19), 0);
	has(&b, "\"student\":\"s5\\\"\",\"count\":1}]");
	assert_null(strstr(b.data, "\"s4\\\""));
	lg_buf_free(&b);
	free(r);
}

/* A refusal of student who by rule at t. */
static struct lg_violation
refusal(const char *who, enum lg_m_rule rule, int64_t t)
{
	struct lg_violation v = {.time = t, .rule = rule, .cls = LG_CLASS_SUBJECT};

	snprintf(v.route, sizeof(v.route), "/live/");
	snprintf(v.who, sizeof(v.who), "%s", who);
	return v;
}

/* One student retrying in a loop is one entry with a count; another student stays visible;
 * a run resumed after LG_RECENT_FOLD_S is a new entry; rings of two workers merge and fold. */
static void
test_recent_fold(void **state)
{
	struct lg_recent *r = calloc(1, sizeof(*r)), *m = calloc(1, sizeof(*m));
	struct lg_violation all[4];
	struct lg_buf b = {0};
	int64_t t = tu_at(cf, 2026, 9, 21, 15, 0, 0);
	struct lg_violation v = refusal("other", LG_M_LESSON_LIMIT, t);

	(void)state;
	lg_recent_push(r, &v);
	for (int i = 0; i < 500; i++) { /* 10 a second for 50 s */
		v = refusal("loop", LG_M_LESSON_LIMIT, t + 1 + i / 10);
		lg_recent_push(r, &v);
	}
	assert_int_equal(r->count, 2);
	lg_recent_json(&b, r, cf->tz);
	lg_buf_add(&b, "", 1);
	has(&b, "\"student\":\"loop\",\"count\":500}");
	has(&b, "\"student\":\"other\",\"count\":1}]");
	/* Another rule is another run; 61 s after the last one, a new entry. */
	v = refusal("loop", LG_M_DAY_END, t + 50);
	lg_recent_push(r, &v);
	v = refusal("loop", LG_M_LESSON_LIMIT, t + 50 + LG_RECENT_FOLD_S + 1);
	lg_recent_push(r, &v);
	assert_int_equal(r->count, 4);
	assert_int_equal(r->v[3].count, 1);
	/* Two workers' rings: the same run folds across them, ordered by time. */
	all[0] = refusal("loop", LG_M_LESSON_LIMIT, t + 2);
	all[0].count = 7;
	all[1] = refusal("other", LG_M_LESSON_LIMIT, t + 1);
	all[2] = refusal("loop", LG_M_LESSON_LIMIT, t + 3);
	all[2].count = 5;
	all[3] = refusal("third", LG_M_DAY_END, t + 4);
	lg_recent_merge(m, all, 4);
	assert_int_equal(m->count, 3);
	assert_string_equal(m->v[0].who, "other");
	assert_string_equal(m->v[1].who, "loop");
	assert_int_equal(m->v[1].count, 12);
	assert_int_equal(m->v[1].time, t + 3);
	assert_string_equal(m->v[2].who, "third");
	lg_buf_free(&b);
	free(r);
	free(m);
}

/* The status: generation, hash, listeners with the admin one, today per region, unknown_year. */
static void
test_status(void **state)
{
	struct lg_metrics_info in = {.version = "1.2",
	                             .config_generation = 4,
	                             .students = -1,
	                             .store_kind = "redis",
	                             .store_up = false,
	                             .store_health = {.state = LG_STORE_HEALTH_DEGRADED,
	                                              .error = "connection refused",
	                                              .local_decisions = 12,
	                                              .unreconciled = 3},
	                             .audit_on = true,
	                             .audit_healthy = true,
	                             .audit_records = 9,
	                             .workers = 2,
	                             .start_time = tu_at(cf, 2026, 9, 13, 9, 0, 0)};
	int years[] = {2027};
	struct lg_admin_status st = {.info = &in, .missing_years = years, .nmissing = 1};
	struct lg_buf b = {0};

	(void)state;
	memset(st.config_sha256, 'a', 64);
	in.store_health.since = tu_at(cf, 2026, 9, 13, 9, 59, 30);
	lg_admin_status_json(&b, cf, &st, tu_at(cf, 2026, 9, 13, 10, 0, 0)); /* a Sunday */
	lg_buf_add(&b, "", 1);
	has(&b, "{\"version\":\"1.2\"");
	has(&b, "\"generation\":4,\"sha256\":\"aaaa");
	has(&b, "\"uptime_s\":3600,\"workers\":2");
	has(&b, "{\"kind\":\"admin\",\"address\":\"127.0.0.1:9180\",\"tls\":false");
	has(&b, "\"today\":[{\"region\":null,\"kind\":\"rest_day\"");
	has(&b, "{\"region\":\"533100\",\"kind\":\"rest_day\"");
	has(&b, "\"unknown_year\":{\"applies\":\"weekly\",\"missing_years\":[2027]}");
	has(&b, "\"store\":{\"kind\":\"redis\",\"up\":false,\"state\":\"degraded\","
	        "\"since\":\"2026-09-13T09:59:30+08:00\",\"last_error\":\"connection refused\","
	        "\"local_decisions\":12,\"unreconciled\":3},\"audit\":{\"writable\":true,"
	        "\"records\":9");
	lg_buf_free(&b);
}

/* The overview: 60 minutes per rule, open lessons, recent violations. */
static void
test_overview(void **state)
{
	struct lg_counters c;
	static uint64_t minutes[LG_M_MINUTES][LG_M_RULES];
	struct lg_recent *r = calloc(1, sizeof(*r));
	struct lg_metrics_info in = {.version = "1", .store_kind = "memory", .students = 3};
	struct lg_buf b = {0};
	const char *p;
	int commas = 0;

	(void)state;
	memset(&c, 0, sizeof(c));
	lg_ctr_add(&c.tunnels_opened[LG_CLASS_SUBJECT], 5);
	lg_ctr_add(&c.tunnels_closed[LG_CLASS_SUBJECT], 2);
	lg_ctr_add(&c.tunnels_closed[LG_CLASS_NON_SUBJECT], 1); /* closed ahead of opened: 0 */
	minutes[LG_M_MINUTES - 1][LG_M_LESSON_LIMIT] = 7;
	lg_admin_overview_json(&b, cf, &c, minutes, r, &in, tu_at(cf, 2026, 9, 21, 15, 30, 10));
	lg_buf_add(&b, "", 1);
	has(&b, "\"open_lessons\":{\"subject\":3,\"non_subject\":0}");
	has(&b, "\"refusals_first_minute\":\"2026-09-21T14:31:00+08:00\"");
	has(&b, ",0,7],\"unidentified\":[");
	has(&b, "\"recent_violations\":[]");
	p = strstr(b.data, "\"lesson_limit\":[");
	for (p += 16; *p != ']'; p++)
		commas += *p == ',';
	assert_int_equal(commas, LG_M_MINUTES - 1);
	lg_buf_free(&b);
	free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_student_at_limit),
	    cmocka_unit_test(test_student_allowed_and_blocked),
	    cmocka_unit_test(test_recent_ring),
	    cmocka_unit_test(test_recent_fold),
	    cmocka_unit_test(test_status),
	    cmocka_unit_test(test_overview),
	};
	return cmocka_run_group_tests(tests, setup, tu_free_config);
}
