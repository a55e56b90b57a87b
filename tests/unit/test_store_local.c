/* Tests for lib/store/store_local.c: the on-disk encoding, its checks, ending leases, the journal.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "store_local.h"
#include "testutil.h"

static struct lg_config *cf;
static const uint8_t KEY[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

/* The default rules over the shipped 2026 calendar (freed by tu_free_config). */
static int
setup(void **state)
{
	*state = cf = tu_config(TU_CALENDAR_2026, "test.conf", NULL);
	return cf == NULL;
}

/* Unix time of a Shanghai local time on 2026-09-21 (a Monday, a school day). */
static int64_t
at(int h, int mi, int s)
{
	return tu_at(cf, 2026, 9, 21, h, mi, s);
}

/* A record is 16 little-endian bytes, field by field, and decodes back. */
static void
test_record_encoding(void **state)
{
	struct lg_student_state st = {0x0102030405060708LL, 0x11223344u, 0x5566, 0x7788}, back;
	static const uint8_t want[16] = {8,    7,    6,    5,    4,    3,    2,    1,
	                                 0x44, 0x33, 0x22, 0x11, 0x66, 0x55, 0x88, 0x77};
	uint8_t buf[LG_LOCAL_RECORD_SIZE];

	(void)state;
	lg_local_record_encode(&st, buf);
	assert_memory_equal(buf, want, sizeof(want));
	assert_int_equal(lg_local_record_decode(buf, sizeof(buf), &back), 0);
	assert_memory_equal(&back, &st, sizeof(st));
	/* A record of another size, or an impossible one, is refused. */
	assert_int_equal(lg_local_record_decode(buf, 15, &back), -1);
	assert_int_equal(lg_local_record_decode(buf, 24, &back), -1);
	buf[7] = 0x80; /* a negative start */
	assert_int_equal(lg_local_record_decode(buf, sizeof(buf), &back), -1);
}

/* A key is the 128-bit hash, 16 bytes; the free-slot key and other sizes are refused. */
static void
test_key_encoding(void **state)
{
	struct lg_student_key k = {{UINT64_C(0x0123456789abcdef), 42}}, back;
	uint8_t buf[LG_LOCAL_KEY_SIZE], zero[LG_LOCAL_KEY_SIZE] = {0};

	(void)state;
	lg_local_key_encode(&k, buf);
	assert_int_equal(buf[0], 0xef);
	assert_int_equal(buf[8], 42);
	assert_int_equal(lg_local_key_decode(buf, sizeof(buf), &back), 0);
	assert_memory_equal(&back, &k, sizeof(k));
	assert_int_equal(lg_local_key_decode(zero, sizeof(zero), &back), -1);
	assert_int_equal(lg_local_key_decode(buf, LG_LOCAL_HEADER_KEY_LEN, &back), -1);
	assert_int_not_equal(LG_LOCAL_HEADER_KEY_LEN, LG_LOCAL_KEY_SIZE);
}

/* The header round-trips; a foreign magic, another version or record size are named. */
static void
test_header_checks(void **state)
{
	struct lg_local_header h = {LG_LOCAL_VERSION, LG_LOCAL_RECORD_SIZE, {0}, 1790000000}, back;
	uint8_t buf[LG_LOCAL_HEADER_SIZE], bad[LG_LOCAL_HEADER_SIZE];
	char why[256];

	(void)state;
	memcpy(h.hash_key, KEY, 16);
	lg_local_header_encode(&h, buf);
	assert_memory_equal(buf, "LGSTATE\n", 8);
	assert_int_equal(lg_local_header_decode(buf, sizeof(buf), &back, why, sizeof(why)), 0);
	assert_memory_equal(&back, &h, sizeof(h));

	memcpy(bad, buf, sizeof(bad));
	bad[0] = 'X';
	assert_int_equal(lg_local_header_decode(bad, sizeof(bad), &back, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "wrong magic"));
	assert_int_equal(lg_local_header_decode(buf, 7, &back, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "wrong magic"));

	memcpy(bad, buf, sizeof(bad));
	bad[8] = 2;
	assert_int_equal(lg_local_header_decode(bad, sizeof(bad), &back, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "state format version 2; this lessongated reads version 1"));

	memcpy(bad, buf, sizeof(bad));
	bad[12] = 24;
	assert_int_equal(lg_local_header_decode(bad, sizeof(bad), &back, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "records of 24 bytes"));
	assert_int_equal(lg_local_header_decode(buf, sizeof(buf) - 1, &back, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "39-byte header"));
}

/* Leases of a gone process end at load: activity until the earlier of the lease and alive_at. */
static void
test_settle_ends_leases(void **state)
{
	int64_t start = 1790000000, alive = start + 600;
	struct lg_student_state st;

	(void)state;
	/* Lease renewed 5 s before the last commit: active until the commit. */
	st = (struct lg_student_state){start, 100, 2, (uint16_t)(alive + 25)};
	lg_local_settle(&st, alive, 1800);
	assert_int_equal(st.tunnels, 0);
	assert_int_equal(st.lease_until, 0);
	assert_int_equal(st.last_off, 600);
	/* The lease had run out before the commit: active until it ran out. */
	st = (struct lg_student_state){start, 100, 1, (uint16_t)(alive - 200)};
	lg_local_settle(&st, alive, 1800);
	assert_int_equal(st.last_off, 400);
	/* Never past the longest lesson. */
	st = (struct lg_student_state){start, 100, 1, (uint16_t)(start + 4000)};
	lg_local_settle(&st, start + 3990, 1800);
	assert_int_equal(st.last_off, 1800);
	/* Activity already later than that is kept. */
	st = (struct lg_student_state){start, 700, 1, (uint16_t)(alive - 200)};
	lg_local_settle(&st, alive, 1800);
	assert_int_equal(st.last_off, 700);
	/* No tunnels: only the stale lease expiry goes. */
	st = (struct lg_student_state){start, 100, 0, 1234};
	lg_local_settle(&st, alive, 1800);
	assert_int_equal(st.last_off, 100);
	assert_int_equal(st.lease_until, 0);
}

/* What the drain passed on. */
struct drained {
	struct lg_local_change c[LG_LOCAL_JOURNAL * 3];
	size_t n;
};

/* Keep a drained change. */
static void
take(void *arg, const struct lg_local_change *c)
{
	struct drained *d = arg;

	assert_true(d->n < LG_LOCAL_JOURNAL * 3);
	d->c[d->n++] = *c;
}

/* Record a decide's answer. */
static void
keep(void *arg, uint64_t tag, const struct lg_store_result *r)
{
	(void)tag;
	*(struct lg_decision *)arg = r->d;
}

/* Decide for a student at now. */
static struct lg_decision
decide(struct lg_store *s, const char *student, int64_t now)
{
	struct lg_store_query q = {cf->policy, student, strlen(student), LG_CLASS_SUBJECT, 0, now};
	struct lg_decision d;

	lg_store_decide(s, &q, keep, &d, 0);
	return d;
}

/*
 * A change is journalled once (consecutive changes of one student as one
 * entry: the last state), a refusal (no change) not at all; a drained
 * change loaded into a store with the same hash key is the same student's
 * clock; leases are journalled; the sweep's removals arrive as deletions.
 */
static void
test_journal_and_reload(void **state)
{
	struct lg_store *s = lg_store_local_new(64, 4, KEY), *s2;
	struct drained *d = calloc(1, sizeof(*d));
	struct lg_student_state st;
	struct lg_lease lease;

	(void)state;
	assert_string_equal(s->kind, "local");
	assert_true(s->synchronous);
	for (int m = 0; m < 30; m += 9)
		assert_true(decide(s, "alice", at(10, m, 0)).allow);
	assert_false(decide(s, "alice", at(10, 31, 0)).allow); /* the lesson limit */
	assert_int_equal(lg_store_local_drain(s, take, d), 1); /* four changes, one entry */
	assert_int_equal(d->c[0].st.start, at(10, 0, 0));
	assert_int_equal(d->c[0].st.last_off, 27 * 60);
	assert_false(d->c[0].gone);
	/* The refusal changed nothing, so nothing more is written. */
	assert_false(decide(s, "alice", at(10, 32, 0)).allow);
	d->n = 0;
	assert_int_equal(lg_store_local_drain(s, take, d), 0);
	d->n = 1;

	/* A new process with the saved key finds alice's clock by her id. */
	s2 = lg_store_local_new(64, 4, KEY);
	lg_store_local_put(s2, &d->c[0].key, &d->c[0].st);
	assert_int_equal(lg_store_snapshot(s2, "alice", 5, at(10, 33, 0), &st), 1);
	assert_int_equal(st.start, at(10, 0, 0));
	assert_false(decide(s2, "alice", at(10, 33, 0)).allow);
	d->n = 0;
	assert_int_equal(lg_store_local_drain(s2, take, d), 0); /* loading is not a change */
	assert_int_equal(lg_store_snapshot(s2, "bob", 3, at(10, 33, 0), &st), 0);

	/* Leases change the state, so they are written too (drained between steps). */
	assert_true(decide(s2, "bob", at(11, 0, 0)).allow);
	assert_int_equal(lg_store_lease_open(s2, "bob", 3, at(11, 0, 0), &lease), 0);
	d->n = 0;
	assert_int_equal(lg_store_local_drain(s2, take, d), 1);
	assert_int_equal(d->c[0].st.tunnels, 1);
	lg_store_lease_renew(s2, "bob", 3, at(11, 0, 10), &lease);
	lg_store_lease_close(s2, cf->policy, "bob", 3, LG_CLASS_SUBJECT, at(11, 0, 20), &lease);
	d->n = 0;
	assert_int_equal(lg_store_local_drain(s2, take, d), 1);
	assert_int_equal(d->c[0].st.tunnels, 0);
	assert_int_equal(d->c[0].st.last_off, 20);
	/* Interleaved students keep an entry each, in order. */
	lg_store_free(s2);
	s2 = lg_store_local_new(64, 1, KEY);
	decide(s2, "bob", at(11, 0, 0));
	decide(s2, "carol", at(11, 0, 0));
	decide(s2, "bob", at(11, 0, 5));
	d->n = 0;
	assert_int_equal(lg_store_local_drain(s2, take, d), 3);
	assert_int_equal(d->c[0].st.last_off, 0);
	assert_int_equal(d->c[2].st.last_off, 5);
	assert_int_equal(lg_local_changes_compact(d->c, d->n), 2); /* the writer: bob once */
	assert_int_equal(d->c[0].st.last_off, 0);                  /* carol */
	assert_int_equal(d->c[1].st.last_off, 5);                  /* bob's last */

	/* A day later the sweep forgets both (bob, carol), and says so. */
	d->n = 0;
	for (int i = 0; i < 16; i++)
		lg_store_expire(s2, cf->policy, at(11, 0, 0) + 86400);
	assert_int_equal(lg_store_local_drain(s2, take, d), 2);
	assert_true(d->c[0].gone && d->c[1].gone);
	assert_int_equal(lg_students_count(lg_store_local_table(s2)), 0);
	lg_store_free(s);
	lg_store_free(s2);
	free(d);
}

/* A journal that fills stops recording; the drain then passes the whole shard on. */
static void
test_journal_overflow_copies_the_shard(void **state)
{
	struct lg_store *s = lg_store_local_new(64, 1, KEY);
	struct drained *d = calloc(1, sizeof(*d));
	unsigned n = LG_LOCAL_JOURNAL + 100;
	char id[32];

	(void)state;
	assert_int_equal(lg_store_local_pressure(s), 0);
	for (unsigned i = 0; i < LG_LOCAL_JOURNAL / 2; i++) {
		snprintf(id, sizeof(id), "s%u", i);
		decide(s, id, at(10, 0, 0));
	}
	assert_int_equal(lg_store_local_pressure(s), 50);
	for (unsigned i = LG_LOCAL_JOURNAL / 2; i < n; i++) {
		snprintf(id, sizeof(id), "s%u", i);
		decide(s, id, at(10, 0, 0));
	}
	assert_int_equal(lg_store_local_pressure(s), 100);
	/* The full journal, then every student of the shard. */
	assert_int_equal(lg_store_local_drain(s, take, d), LG_LOCAL_JOURNAL + n);
	for (size_t i = LG_LOCAL_JOURNAL; i < d->n; i++)
		assert_int_equal(d->c[i].st.start, at(10, 0, 0));
	assert_int_equal(lg_store_local_pressure(s), 0);
	d->n = 0;
	decide(s, "s1", at(10, 5, 0)); /* recording again */
	assert_int_equal(lg_store_local_drain(s, take, d), 1);
	lg_store_free(s);
	free(d);
}

/* Compaction keeps each student's last change, whatever the order and however many. */
static void
test_compact_keeps_the_last_change(void **state)
{
	size_t n = 20000, m;
	struct lg_local_change *v = calloc(n, sizeof(*v));
	int64_t last[500];

	(void)state;
	assert_int_equal(lg_local_changes_compact(v, 0), 0);
	srand(5);
	memset(last, 0, sizeof(last));
	for (size_t i = 0; i < n; i++) {
		int who = rand() % 500;
		v[i].key.h[0] = (uint64_t)who * 0x9e3779b97f4a7c15ull; /* some share low bits */
		v[i].key.h[1] = (uint64_t)who + 1;
		v[i].st.start = (int64_t)i + 1;
		v[i].gone = rand() % 10 == 0;
		last[who] = (int64_t)i + 1;
	}
	m = lg_local_changes_compact(v, n);
	assert_int_equal(m, 500);
	for (size_t i = 0; i < m; i++) {
		int who = (int)(v[i].key.h[1] - 1);
		assert_int_equal(v[i].st.start, last[who]);
		if (i > 0)
			assert_true(v[i].st.start > v[i - 1].st.start); /* their order kept */
	}
	free(v);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_record_encoding),
	    cmocka_unit_test(test_key_encoding),
	    cmocka_unit_test(test_header_checks),
	    cmocka_unit_test(test_settle_ends_leases),
	    cmocka_unit_test(test_journal_and_reload),
	    cmocka_unit_test(test_journal_overflow_copies_the_shard),
	    cmocka_unit_test(test_compact_keeps_the_last_change),
	};
	return cmocka_run_group_tests(tests, setup, tu_free_config);
}
