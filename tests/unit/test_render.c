/* Tests for lib/rules/render.c: refusal bodies, times, Accept negotiation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "render.h"
#include "testutil.h"

static struct lg_config *cf;

static int
setup(void **state)
{
	struct lg_errors errs;

	(void)state;
	lg_errors_init(&errs);
	cf = lg_config_load(LG_SOURCE_ROOT "/conf/lessongate.conf", &errs);
	lg_errors_free(&errs);
	return cf == NULL;
}

static int
teardown(void **state)
{
	(void)state;
	lg_config_free(cf);
	return 0;
}

/* Decide with a fresh state and render both bodies. */
static void
render(enum lg_class cls, int64_t t, struct lg_student_state *st, struct lg_decision *d,
       struct lg_buf *json, struct lg_buf *html)
{
	struct lg_refusal r;

	lg_policy_decide(cf->policy, st, cls, 0, t, d);
	r.d = d;
	r.cls = cls;
	r.rules = &cf->rules.cls[cls];
	r.tz = cf->tz;
	r.regulation_url = cf->regulation_url;
	r.now = t;
	lg_render_refusal_json(json, &r);
	lg_render_refusal_html(html, &r);
}

/* RFC 3339 and local formats carry the zone's offset. */
static void
test_times(void **state)
{
	char buf[32];
	char err[128];
	struct lg_tz *utc = lg_tz_load("-03:30", err, sizeof(err));

	(void)state;
	lg_format_rfc3339(tu_at(cf, 2026, 9, 21, 10, 39, 59), cf->tz, buf);
	assert_string_equal(buf, "2026-09-21T10:39:59+08:00");
	lg_format_local(tu_at(cf, 2026, 10, 8, 0, 0, 0), cf->tz, buf);
	assert_string_equal(buf, "2026-10-08 00:00");
	lg_format_rfc3339(0, utc, buf);
	assert_string_equal(buf, "1969-12-31T20:30:00-03:30");
	lg_tz_free(utc);
}

/* A holiday refusal: 451, JSON with the rule, the day and when to come back. */
static void
test_blocked_day(void **state)
{
	struct lg_student_state st = {0};
	struct lg_decision d;
	struct lg_buf json = {0}, html = {0};

	(void)state;
	render(LG_CLASS_SUBJECT, tu_at(cf, 2026, 10, 1, 10, 0, 0), &st, &d, &json, &html);
	assert_int_equal(lg_refusal_status(d.rule), 451);
	assert_non_null(strstr(json.data, "\"rule\":\"blocked_day\""));
	assert_non_null(strstr(json.data, "\"retry_after\":568800"));
	assert_non_null(strstr(json.data, "\"retry_at\":\"2026-10-08T00:00:00+08:00\""));
	assert_non_null(strstr(json.data, "\"day\":{\"kind\":\"holiday\",\"name\":\"国庆节\"}"));
	assert_non_null(strstr(json.data, "法定节假日（国庆节）"));
	assert_non_null(strstr(json.data, "\"enforced\":true"));
	assert_non_null(strstr(html.data, "<html lang=\"zh-CN\">"));
	assert_non_null(strstr(html.data, "现在不能上课"));
	assert_non_null(strstr(html.data, "No lessons now"));
	assert_non_null(strstr(html.data, "2026-10-08 00:00 (Asia/Shanghai)"));
	assert_null(strstr(html.data, "<script"));
	lg_buf_free(&json);
	lg_buf_free(&html);
}

/* A lesson-limit refusal: 429 with the rule's own numbers in both languages. */
static void
test_lesson_limit(void **state)
{
	struct lg_student_state st = {0};
	struct lg_decision d;
	struct lg_buf json = {0}, html = {0};

	(void)state;
	for (int m = 0; m < 30; m += 5)
		lg_policy_decide(cf->policy, &st, LG_CLASS_SUBJECT, 0,
		                 tu_at(cf, 2026, 9, 21, 10, m, 0), &d);
	render(LG_CLASS_SUBJECT, tu_at(cf, 2026, 9, 21, 10, 30, 0), &st, &d, &json, &html);
	assert_int_equal(d.rule, LG_RULE_LESSON_LIMIT);
	assert_int_equal(lg_refusal_status(d.rule), 429);
	assert_non_null(strstr(json.data, "\"error\":\"lesson_limit\""));
	assert_non_null(strstr(json.data, "\"retry_after\":300"));
	assert_non_null(strstr(json.data, "30-minute limit"));
	assert_non_null(strstr(json.data, "at least 10 minutes apart"));
	assert_non_null(strstr(html.data, "休息一下"));
	assert_non_null(strstr(html.data, "2026-09-21 10:35"));
	lg_buf_free(&json);
	lg_buf_free(&html);
}

/* Day end: 451, says the hour. */
static void
test_day_end(void **state)
{
	struct lg_student_state st = {0};
	struct lg_decision d;
	struct lg_buf json = {0}, html = {0};

	(void)state;
	render(LG_CLASS_SUBJECT, tu_at(cf, 2026, 9, 21, 21, 0, 0), &st, &d, &json, &html);
	assert_int_equal(lg_refusal_status(d.rule), 451);
	assert_non_null(strstr(json.data, "\"rule\":\"day_end\""));
	assert_non_null(strstr(json.data, "Online training ends at 21:00."));
	assert_non_null(strstr(json.data, "不晚于 21:00"));
	lg_buf_free(&json);
	lg_buf_free(&html);
}

/* Escaping: JSON, HTML and CSV never let data break out. */
static void
test_escaping(void **state)
{
	struct lg_buf b = {0};

	(void)state;
	lg_buf_json_str(&b, "a\"b\\c\n\x01<>");
	assert_string_equal(b.data, "\"a\\\"b\\\\c\\u000a\\u0001<>\"");
	lg_buf_free(&b);
	lg_buf_html(&b, "<script>alert('x')</script>&\"");
	assert_string_equal(b.data, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;");
	lg_buf_free(&b);
	lg_buf_csv(&b, "plain");
	LG_BUF_LIT(&b, "|");
	lg_buf_csv(&b, "a,\"b\"\r\nc");
	LG_BUF_LIT(&b, "|");
	lg_buf_csv(&b, NULL);
	assert_string_equal(b.data, "plain|\"a,\"\"b\"\"\r\nc\"|");
	lg_buf_free(&b);
	lg_buf_printf(&b, "%d-%s", 42, "x");
	LG_BUF_LIT(&b, "!");
	assert_string_equal(b.data, "42-x!");
	assert_int_equal(b.len, 5);
	lg_buf_free(&b);
}

/* Browsers get the page, API clients and curl get JSON. */
static void
test_accept(void **state)
{
#define PREFERS(s) lg_accept_prefers_html((s), strlen(s))
	(void)state;
	assert_true(PREFERS("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"));
	assert_false(PREFERS("*/*"));
	assert_false(PREFERS("application/json"));
	assert_false(PREFERS("application/json, text/html;q=0.5"));
	assert_true(PREFERS("application/json;q=0.4, text/html"));
	assert_true(PREFERS("TEXT/HTML"));
	assert_true(PREFERS("text/*"));
	assert_false(PREFERS("text/html;q=0"));
	assert_false(PREFERS("text/plain"));
	assert_false(lg_accept_prefers_html(NULL, 0));
	assert_false(PREFERS(""));
#undef PREFERS
}

/* The 401 page: both languages, the sign-in link escaped, the reason when a credential failed. */
static void
test_unauthorized(void **state)
{
	struct lg_buf b = {0};

	(void)state;
	lg_render_unauthorized_html(&b, "https://platform.example/login?next=\"x\"&a=<b>",
	                            "expired");
	assert_non_null(strstr(b.data, "<title>请先登录 / Please sign in</title>"));
	assert_non_null(strstr(b.data, "登录信息无效或已过期"));
	assert_non_null(strstr(b.data, "could not be accepted (expired)"));
	assert_non_null(strstr(b.data, "<a href=\"https://platform.example/login?next=&quot;x&quot;"
	                               "&amp;a=&lt;b&gt;\">登录 / Sign in</a>"));
	assert_null(strstr(b.data, "<script"));
	lg_buf_free(&b);
	lg_render_unauthorized_html(&b, NULL, "missing token");
	assert_non_null(strstr(b.data, "上课前请先登录"));
	assert_non_null(strstr(b.data, "Please sign in before joining a lesson."));
	assert_null(strstr(b.data, "could not be accepted"));
	assert_null(strstr(b.data, "<a href"));
	assert_non_null(strstr(b.data, "Sign in on the platform"));
	lg_buf_free(&b);
}

/* Short (demo) rules are said in seconds, and the page says how long the break lasts. */
static void
test_short_rules(void **state)
{
	struct lg_class_rules cr = cf->rules.cls[LG_CLASS_SUBJECT];
	struct lg_decision d = {0};
	struct lg_buf json = {0}, html = {0};
	struct lg_refusal r = {.d = &d,
	                       .cls = LG_CLASS_SUBJECT,
	                       .rules = &cr,
	                       .tz = cf->tz,
	                       .regulation_url = "https://r.example/",
	                       .now = 0};

	(void)state;
	cr.lesson_max = 20;
	cr.break_min = 60;
	d.rule = LG_RULE_LESSON_LIMIT;
	d.enforced = true;
	r.now = tu_at(cf, 2026, 9, 21, 10, 0, 20);
	d.retry_at = r.now + 45;
	d.retry_after = 45;
	lg_render_refusal_json(&json, &r);
	lg_render_refusal_html(&html, &r);
	assert_non_null(strstr(json.data, "reached its 20-second limit; lessons must be at least "
	                                  "1 minute apart."));
	assert_non_null(strstr(json.data, "已达 20 秒上限，课程间隔不少于 1 分钟。"));
	assert_non_null(
	    strstr(html.data, "2026-09-21 10:01 (Asia/Shanghai) — 45 秒后 / in 45 seconds"));
	lg_buf_free(&json);
	lg_buf_free(&html);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_times),        cmocka_unit_test(test_blocked_day),
	    cmocka_unit_test(test_lesson_limit), cmocka_unit_test(test_day_end),
	    cmocka_unit_test(test_escaping),     cmocka_unit_test(test_accept),
	    cmocka_unit_test(test_unauthorized), cmocka_unit_test(test_short_rules),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
