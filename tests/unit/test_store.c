/* Tests for lib/store/store.h through the memory store: decisions, leases, snapshots, expiry. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "store.h"
#include "students.h"
#include "testutil.h"

static struct lg_config *cf;

/* The default rules over the shipped 2026 calendar (freed by tu_free_config). */
static int
setup(void **state)
{
	*state = cf = tu_config(TU_CALENDAR_2026, "test.conf", NULL);
	return cf == NULL;
}

/* Where a decide's callback leaves its answer. */
struct answer {
	int calls;
	void *arg;
	uint64_t tag;
	struct lg_store_result r;
};

/* Record a decide's answer. */
static void
keep(void *arg, uint64_t tag, const struct lg_store_result *r)
{
	struct answer *a = arg;

	a->calls++;
	a->arg = arg;
	a->tag = tag;
	a->r = *r;
}

/* Decide for a student through the store; the memory store must answer before returning. */
static struct lg_decision
decide(struct lg_store *s, const char *student, enum lg_class cls, int64_t now)
{
	struct lg_store_query q = {cf->policy, student, strlen(student), cls, 0, now};
	struct answer a = {0};

	lg_store_decide(s, &q, keep, &a, 42);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.r.status, LG_STORE_OK);
	return a.r.d;
}

/* The memory store is synchronous: one callback, inside decide, with the caller's arg and tag. */
static void
test_callback_inside_decide(void **state)
{
	struct lg_store *s = lg_store_memory_new(16, 1);
	struct lg_store_query q = {cf->policy,       "s1", 2,
	                           LG_CLASS_SUBJECT, 0,    tu_at(cf, 2026, 9, 21, 10, 0, 0)};
	struct answer a = {0};

	(void)state;
	assert_true(s->synchronous);
	assert_string_equal(s->kind, "memory");
	assert_true(lg_store_up(s));
	lg_store_decide(s, &q, keep, &a, UINT64_C(0x1234567800000009));
	assert_int_equal(a.calls, 1);
	assert_ptr_equal(a.arg, &a);
	assert_int_equal(a.tag, UINT64_C(0x1234567800000009));
	assert_true(a.r.d.allow);
	assert_true(a.r.d.new_lesson);
	assert_int_equal(a.r.d.start, q.now);
	lg_store_free(s);
}

/* A small deterministic generator. */
static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

#define NSTUDENTS 6

/*
 * Randomized timelines (requests of both classes, tunnels opened, renewed,
 * closed, left to expire) through the store and through the policy on
 * private states, as lg_gate_check decided before the store existed: every
 * decision and every state the same.
 */
static void
test_random_timelines(void **state)
{
	(void)state;
	for (uint64_t seed = 1; seed <= 40; seed++) {
		struct lg_store *s = lg_store_memory_new(16, 2);
		struct lg_student_state ref[NSTUDENTS] = {{0}};
		struct lg_lease leases[NSTUDENTS][8];
		unsigned nopen[NSTUDENTS] = {0};
		int64_t now = tu_at(cf, 2026, 9, 21, 7, 30, 0) + (int64_t)(seed * 37 % 600);
		uint64_t r = seed * 0x9e3779b97f4a7c15ULL;

		for (int step = 0; step < 3000; step++) {
			unsigned k = (unsigned)(rnd(&r) % NSTUDENTS),
			         op = (unsigned)(rnd(&r) % 100);
			enum lg_class cls = rnd(&r) % 3 ? LG_CLASS_SUBJECT : LG_CLASS_NON_SUBJECT;
			char id[8];
			struct lg_student_state snap;

			snprintf(id, sizeof(id), "s%u", k);
			now += (int64_t)(rnd(&r) % 240);
			if (op < 70) {
				struct lg_decision want, got = decide(s, id, cls, now);
				lg_policy_decide(cf->policy, &ref[k], cls, 0, now, &want);
				assert_int_equal(got.allow, want.allow);
				assert_int_equal(got.enforced, want.enforced);
				assert_int_equal(got.rule, want.rule);
				assert_int_equal(got.remaining, want.remaining);
				assert_int_equal(got.deadline, want.deadline);
				assert_int_equal(got.retry_after, want.retry_after);
				assert_int_equal(got.retry_at, want.retry_at);
				assert_int_equal(got.new_lesson, want.new_lesson);
				assert_int_equal(got.start, want.start);
				assert_int_equal(got.ended_start, want.ended_start);
				assert_int_equal(got.ended_last, want.ended_last);
			} else if (op < 82 && nopen[k] < 8) {
				struct lg_lease *l = &leases[k][nopen[k]++];
				assert_int_equal(lg_store_lease_open(s, id, strlen(id), now, l), 0);
				assert_int_equal(l->expires, now + LG_LEASE_TTL);
				lg_policy_tunnel_open(&ref[k], now, now + LG_LEASE_TTL);
			} else if (op < 92 && nopen[k] > 0) {
				for (unsigned i = 0; i < nopen[k]; i++)
					lg_store_lease_renew(s, id, strlen(id), now, &leases[k][i]);
				lg_policy_tunnel_renew(&ref[k], now, now + LG_LEASE_TTL);
			} else if (nopen[k] > 0) {
				nopen[k]--;
				lg_store_lease_close(s, cf->policy, id, strlen(id), cls, now,
				                     &leases[k][nopen[k]]);
				lg_policy_tunnel_close(cf->policy, &ref[k], cls, now);
			}
			if (lg_store_snapshot(s, id, strlen(id), now, &snap) == 1) {
				assert_int_equal(snap.start, ref[k].start);
				assert_int_equal(snap.last_off, ref[k].last_off);
				assert_int_equal(snap.tunnels, lg_policy_tunnels_held(&ref[k], now)
				                                   ? ref[k].tunnels
				                                   : 0);
			}
		}
		lg_store_free(s);
	}
}

/*
 * A lease keeps the lesson going only while it is renewed: a holder that
 * stops renewing (a crashed instance) leaves the student free after the TTL.
 */
static void
test_lease_expiry(void **state)
{
	struct lg_store *s = lg_store_memory_new(16, 1);
	int64_t t0 = tu_at(cf, 2026, 9, 21, 10, 0, 0);
	struct lg_lease la, lb, lc;
	struct lg_student_state st;
	struct lg_decision d;

	(void)state;
	assert_true(decide(s, "held", LG_CLASS_SUBJECT, t0).new_lesson);
	assert_true(decide(s, "crashed", LG_CLASS_SUBJECT, t0).new_lesson);
	assert_int_equal(lg_store_lease_open(s, "held", 4, t0, &la), 0);
	assert_int_equal(lg_store_lease_open(s, "crashed", 7, t0, &lb), 0);
	assert_true(la.id != lb.id);
	/* "held" is renewed every LG_LEASE_RENEW seconds; "crashed" never. */
	for (int64_t t = t0 + LG_LEASE_RENEW; t <= t0 + 900; t += LG_LEASE_RENEW)
		lg_store_lease_renew(s, "held", 4, t, &la);
	assert_int_equal(la.expires, t0 + 900 + LG_LEASE_TTL);
	assert_int_equal(lg_store_snapshot(s, "crashed", 7, t0 + LG_LEASE_TTL - 1, &st), 1);
	assert_int_equal(st.tunnels, 1);
	assert_int_equal(lg_store_snapshot(s, "crashed", 7, t0 + LG_LEASE_TTL, &st), 1);
	assert_int_equal(st.tunnels, 0);
	/* 15 minutes without a request: the renewed tunnel is a lesson going on ... */
	d = decide(s, "held", LG_CLASS_SUBJECT, t0 + 900);
	assert_true(d.allow);
	assert_false(d.new_lesson);
	assert_int_equal(d.remaining, 900);
	/* ... the expired one is not: its break ran from the last request. */
	d = decide(s, "crashed", LG_CLASS_SUBJECT, t0 + 900);
	assert_true(d.new_lesson);
	assert_int_equal(d.ended_start, t0);
	assert_int_equal(d.ended_last, t0);
	/* Closing an expired lease gives nothing back twice; a new lease counts from one. */
	lg_store_lease_close(s, cf->policy, "crashed", 7, LG_CLASS_SUBJECT, t0 + 901, &lb);
	assert_int_equal(lg_store_lease_open(s, "crashed", 7, t0 + 902, &lc), 0);
	assert_int_equal(lg_store_snapshot(s, "crashed", 7, t0 + 902, &st), 1);
	assert_int_equal(st.tunnels, 1);
	lg_store_lease_close(s, cf->policy, "crashed", 7, LG_CLASS_SUBJECT, t0 + 903, &lc);
	assert_int_equal(lg_store_snapshot(s, "crashed", 7, t0 + 903, &st), 1);
	assert_int_equal(st.tunnels, 0);
	/* Unknown students read as zero, and are not created by reading. */
	assert_int_equal(lg_store_snapshot(s, "nobody", 6, t0, &st), 0);
	assert_int_equal(st.start, 0);
	assert_int_equal(lg_students_count(lg_store_memory_table(s)), 2);
	lg_store_free(s);
}

/* The sweep forgets a student whose lease expired, keeps one whose lease is renewed. */
static void
test_expire_sweep(void **state)
{
	struct lg_store *s = lg_store_memory_new(16, 1);
	int64_t t0 = tu_at(cf, 2026, 9, 21, 10, 0, 0), t = t0 + 7200;
	struct lg_lease la, lb;
	struct lg_student_state st;

	(void)state;
	decide(s, "held", LG_CLASS_SUBJECT, t0);
	decide(s, "crashed", LG_CLASS_SUBJECT, t0);
	lg_store_lease_open(s, "held", 4, t0, &la);
	lg_store_lease_open(s, "crashed", 7, t0, &lb);
	lg_store_lease_renew(s, "held", 4, t - 5, &la);
	for (int i = 0; i < 16; i++)
		lg_store_expire(s, cf->policy, t);
	assert_int_equal(lg_students_count(lg_store_memory_table(s)), 1);
	assert_int_equal(lg_store_snapshot(s, "held", 4, t, &st), 1);
	assert_int_equal(st.tunnels, 1);
	assert_int_equal(lg_store_snapshot(s, "crashed", 7, t, &st), 0);
	lg_store_free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_callback_inside_decide),
	    cmocka_unit_test(test_random_timelines),
	    cmocka_unit_test(test_lease_expiry),
	    cmocka_unit_test(test_expire_sweep),
	};
	return cmocka_run_group_tests(tests, setup, tu_free_config);
}
