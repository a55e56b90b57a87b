/* Tests for lib/rules/students.c: lookups, growth, removal, memory, threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#include <cmocka.h>

#include "config.h"
#include "students.h"

/* Write a student id for number i. */
static size_t
id_of(unsigned i, char *buf)
{
	return (size_t)snprintf(buf, 32, "student-%u", i);
}

/* A new student starts empty; the same id finds the same state. */
static void
test_acquire_find(void **state)
{
	struct lg_students *t = lg_students_new(16, 4);
	struct lg_students_ref ref;
	struct lg_student_state *st;

	(void)state;
	assert_int_equal(lg_students_shards(t), 4);
	assert_null(lg_students_find(t, "alice", 5, &ref));
	st = lg_students_acquire(t, "alice", 5, &ref);
	assert_non_null(st);
	assert_int_equal(st->start, 0);
	assert_int_equal(st->tunnels, 0);
	st->start = 12345;
	lg_students_release(&ref);
	st = lg_students_find(t, "alice", 5, &ref);
	assert_non_null(st);
	assert_int_equal(st->start, 12345);
	lg_students_release(&ref);
	/* The key API reaches the same student; prefetching is only a hint. */
	{
		struct lg_student_key k, k2;
		lg_students_key(t, "alice", 5, &k);
		lg_students_key(t, "alice", 5, &k2);
		assert_memory_equal(&k, &k2, sizeof(k));
		lg_students_prefetch(t, &k);
		st = lg_students_find_key(t, &k, &ref);
		assert_non_null(st);
		assert_int_equal(st->start, 12345);
		lg_students_release(&ref);
		lg_students_key(t, "bob", 3, &k);
		assert_null(lg_students_find_key(t, &k, &ref));
		assert_null(ref.shard);
		st = lg_students_acquire_key(t, &k, &ref);
		assert_int_equal(st->start, 0);
		lg_students_release(&ref);
		assert_int_equal(lg_students_count(t), 2);
		st = lg_students_find(t, "bob", 3, &ref);
		assert_non_null(st);
		lg_students_release(&ref);
	}
	/* A prefix or a longer id is another student. */
	assert_null(lg_students_find(t, "alic", 4, &ref));
	assert_null(lg_students_find(t, "alice\0", 6, &ref));
	assert_int_equal(lg_students_count(t), 2);
	lg_students_free(t);
}

/* Growth keeps every entry; memory stays within 64 bytes a student. */
static void
test_growth_and_memory(void **state)
{
	struct lg_students *t = lg_students_new(0, 8);
	struct lg_students_ref ref;
	char id[32];
	const unsigned n = 200000;

	(void)state;
	for (unsigned i = 0; i < n; i++) {
		size_t len = id_of(i, id);
		struct lg_student_state *st = lg_students_acquire(t, id, len, &ref);
		assert_int_equal(st->start, 0);
		st->start = 1000 + i;
		lg_students_release(&ref);
	}
	assert_int_equal(lg_students_count(t), n);
	for (unsigned i = 0; i < n; i++) {
		size_t len = id_of(i, id);
		struct lg_student_state *st = lg_students_find(t, id, len, &ref);
		assert_non_null(st);
		assert_int_equal(st->start, 1000 + i);
		lg_students_release(&ref);
	}
	assert_true(lg_students_memory(t) <= (size_t)n * 64);
	lg_students_free(t);
}

/* Pre-sized for a million, it holds them in at most 64 bytes each. */
static void
test_million(void **state)
{
	const unsigned n = 1000000;
	struct lg_students *t = lg_students_new(n, 64);
	struct lg_students_ref ref;
	char id[32];

	(void)state;
	for (unsigned i = 0; i < n; i++) {
		size_t len = id_of(i, id);
		lg_students_acquire(t, id, len, &ref)->start = i + 1;
		lg_students_release(&ref);
	}
	assert_int_equal(lg_students_count(t), n);
	assert_true(lg_students_memory(t) <= (size_t)n * 64);
	lg_students_free(t);
}

/* Students whose break is over are forgotten; live ones stay, findable. */
static void
test_expire(void **state)
{
	struct lg_errors errs;
	struct lg_config *cf;
	struct lg_students *t = lg_students_new(64, 4);
	struct lg_students_ref ref;
	char id[32];
	const int64_t now = 1790000000;
	size_t removed;

	(void)state;
	lg_errors_init(&errs);
	cf = lg_config_load_string("", "t.conf", ".", &errs);
	assert_non_null(cf);
	for (unsigned i = 0; i < 3000; i++) {
		size_t len = id_of(i, id);
		struct lg_student_state *st = lg_students_acquire(t, id, len, &ref);
		st->start = now - 3600;
		/* Every third student is still within a break, every seventh in a tunnel (renewed). */
		st->last_off = i % 3 == 0 ? 3600 - 60 : 0;
		if (i % 7 == 0)
			lg_policy_tunnel_open(st, now, now + 8000);
		lg_students_release(&ref);
	}
	removed = lg_students_expire(t, cf->policy, now, 0);
	for (unsigned i = 0; i < 3000; i++) {
		size_t len = id_of(i, id);
		bool live = i % 3 == 0 || i % 7 == 0;
		struct lg_student_state *st = lg_students_find(t, id, len, &ref);
		if (live) {
			assert_non_null(st);
			lg_students_release(&ref);
		} else {
			assert_null(st);
		}
	}
	assert_int_equal(lg_students_count(t) + removed, 3000);
	assert_int_equal(removed, 3000 - (1000 + 429 - 143));
	/* One shard at a time, round robin, until all are visited. */
	for (unsigned i = 0; i < 4; i++)
		lg_students_expire(t, cf->policy, now + 7200, 1);
	assert_int_equal(lg_students_count(t), 429);
	lg_students_free(t);
	lg_config_free(cf);
	lg_errors_free(&errs);
}

struct worker_arg {
	struct lg_students *t;
	unsigned base;
};

/* Hammer the table: shared ids and private ids, from several threads. */
static void *
worker(void *p)
{
	struct worker_arg *a = p;
	struct lg_students_ref ref;
	char id[32];

	for (unsigned i = 0; i < 50000; i++) {
		size_t len = id_of(i % 1000, id);
		lg_students_acquire(a->t, id, len, &ref)->last_off++;
		lg_students_release(&ref);
		len = id_of(a->base + i, id);
		lg_students_acquire(a->t, id, len, &ref)->last_off = 1;
		lg_students_release(&ref);
	}
	return NULL;
}

/* Concurrent increments are never lost and growth under contention is safe. */
static void
test_threads(void **state)
{
	struct lg_students *t = lg_students_new(0, 16);
	struct worker_arg args[4];
	pthread_t th[4];
	struct lg_students_ref ref;
	char id[32];
	uint64_t total = 0;

	(void)state;
	for (unsigned i = 0; i < 4; i++) {
		args[i].t = t;
		args[i].base = 1000000 * (i + 1);
		assert_int_equal(pthread_create(&th[i], NULL, worker, &args[i]), 0);
	}
	for (unsigned i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	for (unsigned i = 0; i < 1000; i++) {
		size_t len = id_of(i, id);
		struct lg_student_state *st = lg_students_find(t, id, len, &ref);
		assert_non_null(st);
		total += st->last_off;
		lg_students_release(&ref);
	}
	assert_int_equal(total, 4 * 50000);
	assert_int_equal(lg_students_count(t), 1000 + 4 * 50000);
	lg_students_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_acquire_find), cmocka_unit_test(test_growth_and_memory),
	    cmocka_unit_test(test_million),      cmocka_unit_test(test_expire),
	    cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
