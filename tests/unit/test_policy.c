/* Tests for lib/rules/policy.c: the rules of DESIGN.md, to the second. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "policy.h"
#include "testutil.h"

#define CALENDARS                                                                                  \
	"calendar = { files = [\"calendar/cn-2024.conf\", \"calendar/cn-2025.conf\", "             \
	"\"calendar/cn-2026.conf\"]; default_region = \"533100\"; "

static struct lg_config *cf;

/* A config over the shipped calendars, with extra text appended. */
static struct lg_config *
load(const char *extra)
{
	struct lg_errors errs;
	struct lg_config *c;
	char text[4096];

	snprintf(text, sizeof(text), "%s", extra);
	lg_errors_init(&errs);
	c = lg_config_load_string(text, "test.conf", LG_SOURCE_ROOT "/conf", &errs);
	for (size_t i = 0; i < errs.count; i++)
		fprintf(stderr, "%s\n", errs.msg[i]);
	assert_int_equal(errs.count, 0);
	lg_errors_free(&errs);
	assert_non_null(c);
	return c;
}

static int
setup(void **state)
{
	(void)state;
	cf = load(CALENDARS "};");
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	lg_config_free(cf);
	cf = NULL;
	return 0;
}

/* Decide a subject request on a fresh or given state. */
static struct lg_decision
decide(struct lg_student_state *st, enum lg_class cls, int64_t t)
{
	struct lg_decision d;

	lg_policy_decide(cf->policy, st, cls, 0, t, &d);
	return d;
}

/* Lesson activity every `step` seconds in [from, to): every request allowed. */
static void
active(struct lg_student_state *st, enum lg_class cls, int64_t from, int64_t to, int step)
{
	struct lg_decision d;

	for (int64_t t = from; t < to; t += step) {
		lg_policy_decide(cf->policy, st, cls, 0, t, &d);
		assert_true(d.allow);
		assert_int_equal(d.rule, LG_RULE_NONE);
		assert_int_equal(d.new_lesson, t == from && st->start == from);
	}
}

/*
 * DESIGN.md's example: 10:00:00, 10:29:59, 10:30:00, 10:39:59. Its 10:29:59
 * continues the lesson, so the student was active in between (a pause of
 * ten minutes would have ended it): here, a request every five minutes.
 */
static void
test_design_example(void **state)
{
	struct lg_student_state st = {0};
	struct lg_decision d;

	(void)state;
	/* 2026-09-21 is a Monday, an ordinary workday. */
	d = decide(&st, LG_CLASS_SUBJECT, tu_at(cf, 2026, 9, 21, 10, 0, 0));
	assert_true(d.allow);
	assert_int_equal(d.rule, LG_RULE_NONE);
	assert_int_equal(d.remaining, 1800);
	assert_true(d.new_lesson);
	assert_int_equal(d.deadline, tu_at(cf, 2026, 9, 21, 10, 30, 0));
	active(&st, LG_CLASS_SUBJECT, tu_at(cf, 2026, 9, 21, 10, 5, 0),
	       tu_at(cf, 2026, 9, 21, 10, 29, 0), 300);

	d = decide(&st, LG_CLASS_SUBJECT, tu_at(cf, 2026, 9, 21, 10, 29, 59));
	assert_true(d.allow);
	assert_int_equal(d.remaining, 1);
	assert_false(d.new_lesson);

	d = decide(&st, LG_CLASS_SUBJECT, tu_at(cf, 2026, 9, 21, 10, 30, 0));
	assert_false(d.allow);
	assert_true(d.enforced);
	assert_int_equal(d.rule, LG_RULE_LESSON_LIMIT);
	assert_int_equal(d.retry_after, 599);

	d = decide(&st, LG_CLASS_SUBJECT, tu_at(cf, 2026, 9, 21, 10, 39, 59));
	assert_true(d.allow);
	assert_true(d.new_lesson);
	assert_int_equal(d.remaining, 1800);
	assert_int_equal(d.ended_start, tu_at(cf, 2026, 9, 21, 10, 0, 0));
	assert_int_equal(d.ended_last, tu_at(cf, 2026, 9, 21, 10, 29, 59));
}

/* A pause of 9:59 continues the lesson; one of 10:00 starts a new one. */
static void
test_pause_boundary(void **state)
{
	struct lg_student_state a = {0}, b = {0};
	struct lg_decision d;

	(void)state;
	decide(&a, LG_CLASS_SUBJECT, tu_at(cf, 2026, 9, 22, 9, 0, 0));
	decide(&a, LG_CLASS_SUBJECT, tu_at(cf, 2026, 9, 22, 9, 5, 0));
	d = decide(&a, LG_CLASS_SUBJECT, tu_at(cf, 2026, 9, 22, 9, 14, 59));
	assert_true(d.allow);
	assert_false(d.new_lesson);
	assert_int_equal(d.remaining, 1800 - 899);

	decide(&b, LG_CLASS_SUBJECT, tu_at(cf, 2026, 9, 22, 9, 0, 0));
	decide(&b, LG_CLASS_SUBJECT, tu_at(cf, 2026, 9, 22, 9, 5, 0));
	d = decide(&b, LG_CLASS_SUBJECT, tu_at(cf, 2026, 9, 22, 9, 15, 0));
	assert_true(d.allow);
	assert_true(d.new_lesson);
	assert_int_equal(d.remaining, 1800);
}

/* 20:59:59 is allowed, 21:00:00 refused until the next allowed morning. */
static void
test_day_end(void **state)
{
	struct lg_student_state st = {0};
	struct lg_decision d;

	(void)state;
	d = decide(&st, LG_CLASS_SUBJECT, tu_at(cf, 2026, 9, 22, 20, 59, 59));
	assert_true(d.allow);
	assert_int_equal(d.remaining, 1);
	d = decide(&st, LG_CLASS_SUBJECT, tu_at(cf, 2026, 9, 22, 21, 0, 0));
	assert_false(d.allow);
	assert_int_equal(d.rule, LG_RULE_DAY_END);
	/* Wednesday 2026-09-23 is a workday: allowed again from midnight. */
	assert_int_equal(d.retry_at, tu_at(cf, 2026, 9, 23, 0, 0, 0));
	assert_int_equal(d.retry_after, 3 * 3600);
	/* A refusal does not start or extend anything. */
	assert_int_equal(st.start, tu_at(cf, 2026, 9, 22, 20, 59, 59));
	assert_int_equal(st.last_off, 0);
}

/* With day_start set, the next allowed morning is day_start. */
static void
test_day_start(void **state)
{
	struct lg_config *c =
	    load(CALENDARS "}; rules = { subject = { day_start = \"06:30\"; }; };");
	struct lg_student_state st = {0};
	struct lg_decision d;

	(void)state;
	lg_policy_decide(
	    c->policy, &st, LG_CLASS_SUBJECT, 0,
	    lg_tz_unix(c->tz, (int64_t)lg_days_from_civil(2026, 9, 22) * 86400 + 21 * 3600), &d);
	assert_int_equal(d.rule, LG_RULE_DAY_END);
	assert_int_equal(d.retry_after, 3 * 3600 + 6 * 3600 + 1800);
	lg_policy_decide(
	    c->policy, &st, LG_CLASS_SUBJECT, 0,
	    lg_tz_unix(c->tz, (int64_t)lg_days_from_civil(2026, 9, 23) * 86400 + 6 * 3600), &d);
	assert_int_equal(d.rule, LG_RULE_DAY_START);
	assert_int_equal(d.retry_after, 1800);
	/* Non-subject keeps the default window. */
	lg_policy_decide(
	    c->policy, &st, LG_CLASS_NON_SUBJECT, 0,
	    lg_tz_unix(c->tz, (int64_t)lg_days_from_civil(2026, 9, 23) * 86400 + 6 * 3600), &d);
	assert_true(d.allow);
	lg_config_free(c);
}

/* A lesson started at 20:50 has 600 s: the deadline is day_end. */
static void
test_lesson_at_2050(void **state)
{
	struct lg_student_state st = {0};
	struct lg_decision d;

	(void)state;
	d = decide(&st, LG_CLASS_SUBJECT, tu_at(cf, 2026, 9, 22, 20, 50, 0));
	assert_true(d.allow);
	assert_int_equal(d.remaining, 600);
	assert_int_equal(d.deadline, tu_at(cf, 2026, 9, 22, 21, 0, 0));
}

/* National Day 2026: subject blocked until 10-08, non-subject allowed. */
static void
test_holiday_week(void **state)
{
	struct lg_student_state st = {0};
	struct lg_decision d;

	(void)state;
	d = decide(&st, LG_CLASS_SUBJECT, tu_at(cf, 2026, 10, 1, 10, 0, 0));
	assert_false(d.allow);
	assert_int_equal(d.rule, LG_RULE_BLOCKED_DAY);
	assert_int_equal(d.day.kind, LG_DAY_HOLIDAY);
	assert_int_equal(d.retry_at, tu_at(cf, 2026, 10, 8, 0, 0, 0));
	assert_int_equal(d.retry_after, 6 * 86400 + 14 * 3600);

	d = decide(&st, LG_CLASS_NON_SUBJECT, tu_at(cf, 2026, 10, 1, 10, 0, 0));
	assert_true(d.allow);
	assert_int_equal(d.remaining, 1800);

	/* Evening before the holiday: day_end's retry skips the whole week. */
	memset(&st, 0, sizeof(st));
	d = decide(&st, LG_CLASS_SUBJECT, tu_at(cf, 2026, 9, 30, 21, 0, 0));
	assert_int_equal(d.rule, LG_RULE_DAY_END);
	assert_int_equal(d.retry_at, tu_at(cf, 2026, 10, 8, 0, 0, 0));
	assert_int_equal(d.retry_after, 7 * 86400 + 3 * 3600);

	/* Spring Festival 2026 (02-15..02-23), then 02-24 is a Tuesday workday. */
	d = decide(&st, LG_CLASS_SUBJECT, tu_at(cf, 2026, 2, 16, 9, 0, 0));
	assert_int_equal(d.rule, LG_RULE_BLOCKED_DAY);
	assert_int_equal(d.retry_at, tu_at(cf, 2026, 2, 24, 0, 0, 0));
}

/* A make-up workday (Sunday 2026-09-20) allows subject lessons; a plain Sunday does not. */
static void
test_makeup_and_weekend(void **state)
{
	struct lg_student_state st = {0};
	struct lg_decision d;

	(void)state;
	d = decide(&st, LG_CLASS_SUBJECT, tu_at(cf, 2026, 9, 20, 10, 0, 0));
	assert_true(d.allow);
	assert_int_equal(d.day.kind, LG_DAY_MAKEUP);
	memset(&st, 0, sizeof(st));
	d = decide(&st, LG_CLASS_SUBJECT, tu_at(cf, 2026, 9, 27, 10, 0, 0));
	assert_false(d.allow);
	assert_int_equal(d.day.kind, LG_DAY_HOLIDAY); /* 中秋节 09-25..09-27 */
	d = decide(&st, LG_CLASS_SUBJECT, tu_at(cf, 2026, 11, 29, 10, 0, 0));
	assert_false(d.allow);
	assert_int_equal(d.day.kind, LG_DAY_REST);
	/* Saturday evening: retry on Monday morning. */
	d = decide(&st, LG_CLASS_SUBJECT, tu_at(cf, 2026, 11, 28, 20, 0, 0));
	assert_int_equal(d.retry_at, tu_at(cf, 2026, 11, 30, 0, 0, 0));
}

/* Refused retries never move `last`, so they do not lengthen the break. */
static void
test_retries_do_not_extend(void **state)
{
	struct lg_student_state st = {0};
	struct lg_decision d;

	(void)state;
	active(&st, LG_CLASS_SUBJECT, tu_at(cf, 2026, 9, 21, 14, 0, 0),
	       tu_at(cf, 2026, 9, 21, 14, 29, 1), 60);
	for (int m = 30; m < 39; m++) {
		d = decide(&st, LG_CLASS_SUBJECT, tu_at(cf, 2026, 9, 21, 14, m, 30));
		assert_false(d.allow);
		assert_int_equal(d.retry_at, tu_at(cf, 2026, 9, 21, 14, 39, 0));
	}
	d = decide(&st, LG_CLASS_SUBJECT, tu_at(cf, 2026, 9, 21, 14, 39, 0));
	assert_true(d.allow);
	assert_true(d.new_lesson);
	assert_int_equal(d.ended_last, tu_at(cf, 2026, 9, 21, 14, 29, 0));
}

/* The break rule holds between any two lessons, whatever their class. */
static void
test_shared_across_classes(void **state)
{
	struct lg_student_state st = {0};
	struct lg_decision d;

	(void)state;
	active(&st, LG_CLASS_SUBJECT, tu_at(cf, 2026, 9, 21, 16, 0, 0),
	       tu_at(cf, 2026, 9, 21, 16, 29, 1), 60);
	d = decide(&st, LG_CLASS_NON_SUBJECT, tu_at(cf, 2026, 9, 21, 16, 31, 0));
	assert_false(d.allow);
	assert_int_equal(d.rule, LG_RULE_LESSON_LIMIT);
	assert_int_equal(d.retry_after, 8 * 60);
}

/* An open tunnel is activity until it closes; the break starts at the close. */
static void
test_tunnels(void **state)
{
	struct lg_student_state st = {0};
	struct lg_decision d;

	(void)state;
	d = decide(&st, LG_CLASS_SUBJECT, tu_at(cf, 2026, 9, 21, 10, 0, 0));
	assert_true(d.allow);
	/* Its lease is renewed all along (a holder renews every LG_LEASE_RENEW seconds). */
	lg_policy_tunnel_open(&st, tu_at(cf, 2026, 9, 21, 10, 0, 0),
	                      tu_at(cf, 2026, 9, 21, 12, 1, 0));
	/* No request for 15 minutes, but the tunnel is open: the lesson goes on. */
	d = decide(&st, LG_CLASS_SUBJECT, tu_at(cf, 2026, 9, 21, 10, 15, 0));
	assert_true(d.allow);
	assert_false(d.new_lesson);
	assert_int_equal(d.remaining, 900);
	assert_true(lg_policy_state_live(cf->policy, &st, tu_at(cf, 2026, 9, 21, 12, 0, 0)));
	/* Closed at its deadline by the proxy: the break runs from 10:30. */
	lg_policy_tunnel_close(cf->policy, &st, LG_CLASS_SUBJECT,
	                       tu_at(cf, 2026, 9, 21, 10, 30, 0));
	assert_int_equal(st.tunnels, 0);
	d = decide(&st, LG_CLASS_SUBJECT, tu_at(cf, 2026, 9, 21, 10, 39, 59));
	assert_false(d.allow);
	assert_int_equal(d.retry_after, 1);
	d = decide(&st, LG_CLASS_SUBJECT, tu_at(cf, 2026, 9, 21, 10, 40, 0));
	assert_true(d.allow);
	assert_true(d.new_lesson);
	/* A tunnel closed late still ends activity at start + lesson_max. */
	lg_policy_tunnel_open(&st, tu_at(cf, 2026, 9, 21, 10, 40, 0),
	                      tu_at(cf, 2026, 9, 21, 11, 31, 0));
	lg_policy_tunnel_close(cf->policy, &st, LG_CLASS_SUBJECT,
	                       tu_at(cf, 2026, 9, 21, 11, 30, 0));
	assert_int_equal(st.start + st.last_off, tu_at(cf, 2026, 9, 21, 11, 10, 0));
}

/* Monitor mode refuses nothing but reports the same rule and state changes. */
static void
test_monitor(void **state)
{
	struct lg_config *c = load(CALENDARS "}; mode = \"monitor\";");
	struct lg_student_state st = {0};
	struct lg_decision d;
	int64_t t = lg_tz_unix(c->tz, (int64_t)lg_days_from_civil(2026, 10, 1) * 86400 + 36000);

	(void)state;
	lg_policy_decide(c->policy, &st, LG_CLASS_SUBJECT, 0, t, &d);
	assert_true(d.allow);
	assert_false(d.enforced);
	assert_int_equal(d.rule, LG_RULE_BLOCKED_DAY);
	t = lg_tz_unix(c->tz, (int64_t)lg_days_from_civil(2026, 9, 21) * 86400 + 36000);
	lg_policy_decide(c->policy, &st, LG_CLASS_SUBJECT, 0, t, &d);
	assert_true(d.allow);
	assert_int_equal(d.rule, LG_RULE_NONE);
	for (int k = 1; k <= 5; k++) {
		lg_policy_decide(c->policy, &st, LG_CLASS_SUBJECT, 0, t + k * 358, &d);
		assert_int_equal(d.rule, LG_RULE_NONE);
	}
	lg_policy_decide(c->policy, &st, LG_CLASS_SUBJECT, 0, t + 1800, &d);
	assert_true(d.allow);
	assert_false(d.enforced);
	assert_int_equal(d.rule, LG_RULE_LESSON_LIMIT);
	assert_int_equal(d.retry_after, 590);
	lg_config_free(c);
}

/*
 * The rollout step monitor -> enforce: a tunnel opened in monitor mode for a
 * student without a lesson (a monitored blocked_day) gives its count back when
 * it closes, so the student is not held in a never-ending lesson (429) later.
 */
static void
test_monitor_tunnel_symmetric(void **state)
{
	struct lg_config *c = load(CALENDARS "}; mode = \"monitor\";");
	struct lg_student_state st = {0};
	struct lg_decision d;
	int64_t holiday =
	    lg_tz_unix(c->tz, (int64_t)lg_days_from_civil(2026, 10, 1) * 86400 + 36000);
	int64_t t = lg_tz_unix(c->tz, (int64_t)lg_days_from_civil(2026, 10, 9) * 86400 + 36000);

	(void)state;
	lg_policy_decide(c->policy, &st, LG_CLASS_SUBJECT, 0, holiday, &d);
	assert_true(d.allow);
	assert_int_equal(d.rule, LG_RULE_BLOCKED_DAY);
	assert_int_equal(st.start, 0);
	lg_policy_tunnel_open(&st, holiday, holiday + 3600);
	assert_int_equal(st.tunnels, 1);
	lg_policy_tunnel_close(c->policy, &st, LG_CLASS_SUBJECT, holiday + 600);
	assert_int_equal(st.tunnels, 0);
	assert_false(lg_policy_state_live(c->policy, &st, holiday + 700));
	/* Enforced later: 25 idle minutes are a break (a phantom tunnel would be activity). */
	d = decide(&st, LG_CLASS_SUBJECT, t);
	assert_true(d.allow);
	assert_true(d.new_lesson);
	d = decide(&st, LG_CLASS_SUBJECT, t + 1500);
	assert_true(d.allow);
	assert_true(d.new_lesson);
	assert_int_equal(d.remaining, 1800);
	d = decide(&st, LG_CLASS_SUBJECT, t + 1800);
	assert_true(d.allow);
	lg_config_free(c);
}

/* A vacation for the student's region blocks only that region. */
static void
test_vacation_region(void **state)
{
	char path[] = "/tmp/lg-test-vacXXXXXX";
	int fd = mkstemp(path);
	FILE *f = fdopen(fd, "w");
	char text[1024];
	struct lg_config *c;
	struct lg_student_state st = {0};
	struct lg_decision d;
	int64_t t;

	(void)state;
	fprintf(f, "year = 2026;\nsource = \"test\";\nvacations = ( { region = \"533100\"; "
	           "name = \"暑假\"; from = \"2026-07-11\"; to = \"2026-08-31\"; } );\n");
	fclose(f);
	snprintf(text, sizeof(text),
	         "calendar = { files = [\"calendar/cn-2026.conf\", \"%s\"]; default_region = "
	         "\"533100\"; };",
	         path);
	c = load(text);
	t = lg_tz_unix(c->tz, (int64_t)lg_days_from_civil(2026, 7, 15) * 86400 + 36000);
	lg_policy_decide(c->policy, &st, LG_CLASS_SUBJECT, 533102, t, &d);
	assert_int_equal(d.rule, LG_RULE_BLOCKED_DAY);
	assert_int_equal(d.day.kind, LG_DAY_VACATION);
	assert_int_equal(d.retry_at,
	                 lg_tz_unix(c->tz, (int64_t)lg_days_from_civil(2026, 9, 1) * 86400));
	/* Default region (no region in the token) is Dehong too. */
	lg_policy_decide(c->policy, &st, LG_CLASS_SUBJECT, 0, t, &d);
	assert_int_equal(d.rule, LG_RULE_BLOCKED_DAY);
	/* Kunming (530100) is not on vacation. */
	lg_policy_decide(c->policy, &st, LG_CLASS_SUBJECT, 530100, t, &d);
	assert_int_equal(d.rule, LG_RULE_NONE);
	/* Non-subject training is allowed in vacations. */
	memset(&st, 0, sizeof(st));
	lg_policy_decide(c->policy, &st, LG_CLASS_NON_SUBJECT, 533102, t, &d);
	assert_true(d.allow);
	lg_config_free(c);
	unlink(path);
}

/* A year without calendar: "weekly" guesses only weekends, "block" blocks. */
static void
test_unknown_year(void **state)
{
	struct lg_config *c;
	struct lg_student_state st = {0};
	struct lg_decision d;
	int64_t mon = 0;

	(void)state;
	/* 2027-01-04 is a Monday. */
	mon = tu_at(cf, 2027, 1, 4, 10, 0, 0);
	d = decide(&st, LG_CLASS_SUBJECT, mon);
	assert_true(d.allow);
	assert_true(d.day.unknown_year);
	d = decide(&st, LG_CLASS_SUBJECT, tu_at(cf, 2027, 1, 9, 10, 0, 0)); /* Saturday */
	assert_int_equal(d.rule, LG_RULE_BLOCKED_DAY);

	c = load(CALENDARS "unknown_year = \"block\"; };");
	memset(&st, 0, sizeof(st));
	lg_policy_decide(c->policy, &st, LG_CLASS_SUBJECT, 0, mon, &d);
	assert_int_equal(d.rule, LG_RULE_BLOCKED_DAY);
	assert_int_equal(d.day.kind, LG_DAY_UNKNOWN);
	assert_true(d.day.unknown_year);
	assert_int_equal(d.retry_at, 0); /* nothing known ahead */
	lg_policy_decide(c->policy, &st, LG_CLASS_NON_SUBJECT, 0, mon, &d);
	assert_true(d.allow);
	lg_config_free(c);
}

/* Clocks of two workers may disagree by a little: nothing wraps or moves back. */
static void
test_time_going_backwards(void **state)
{
	struct lg_student_state st = {0};
	struct lg_decision d;

	(void)state;
	decide(&st, LG_CLASS_SUBJECT, tu_at(cf, 2026, 9, 21, 10, 0, 10));
	decide(&st, LG_CLASS_SUBJECT, tu_at(cf, 2026, 9, 21, 10, 5, 0));
	d = decide(&st, LG_CLASS_SUBJECT, tu_at(cf, 2026, 9, 21, 10, 0, 5));
	assert_true(d.allow);
	assert_int_equal(st.last_off, 290);
	active(&st, LG_CLASS_SUBJECT, tu_at(cf, 2026, 9, 21, 10, 10, 0),
	       tu_at(cf, 2026, 9, 21, 10, 30, 0), 300);
	d = decide(&st, LG_CLASS_SUBJECT, tu_at(cf, 2026, 9, 21, 10, 30, 10));
	assert_false(d.allow);
}

/* Expired state is recognised: a break longer than every break_min is over. */
static void
test_state_live(void **state)
{
	struct lg_student_state st = {0};

	(void)state;
	assert_false(lg_policy_state_live(cf->policy, &st, tu_at(cf, 2026, 9, 21, 10, 0, 0)));
	decide(&st, LG_CLASS_SUBJECT, tu_at(cf, 2026, 9, 21, 10, 0, 0));
	assert_true(lg_policy_state_live(cf->policy, &st, tu_at(cf, 2026, 9, 21, 10, 9, 59)));
	assert_false(lg_policy_state_live(cf->policy, &st, tu_at(cf, 2026, 9, 21, 10, 10, 0)));
	assert_string_equal(lg_rule_name(LG_RULE_LESSON_LIMIT), "lesson_limit");
	assert_string_equal(lg_class_name(LG_CLASS_NON_SUBJECT), "non_subject");
	assert_int_equal(lg_class_parse("free"), LG_CLASS_FREE);
	assert_int_equal(lg_class_parse("lesson"), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_design_example),
	    cmocka_unit_test(test_pause_boundary),
	    cmocka_unit_test(test_day_end),
	    cmocka_unit_test(test_day_start),
	    cmocka_unit_test(test_lesson_at_2050),
	    cmocka_unit_test(test_holiday_week),
	    cmocka_unit_test(test_makeup_and_weekend),
	    cmocka_unit_test(test_retries_do_not_extend),
	    cmocka_unit_test(test_shared_across_classes),
	    cmocka_unit_test(test_tunnels),
	    cmocka_unit_test(test_monitor),
	    cmocka_unit_test(test_monitor_tunnel_symmetric),
	    cmocka_unit_test(test_vacation_region),
	    cmocka_unit_test(test_unknown_year),
	    cmocka_unit_test(test_time_going_backwards),
	    cmocka_unit_test(test_state_live),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
