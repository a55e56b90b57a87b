/* Tests for daemon/audit/auditopen.c: the audit writer's open lessons (one lesson_end per lesson).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "auditopen.h"

/* The gate's lesson_end of an open lesson is written once; a repeat or an unknown one is told. */
static void
test_take(void **state)
{
	struct lgd_open *t = lgd_open_new();

	(void)state;
	lgd_open_put(t, "a", 1, 100, 0, 110101, "/lesson/");
	lgd_open_put(t, "b\0x", 3, 200, 1, 0, NULL);
	assert_int_equal(lgd_open_count(t), 2);
	assert_int_equal(lgd_open_take(t, "a", 1, 99), -1); /* another lesson of a */
	assert_int_equal(lgd_open_take(t, "a", 1, 100), 1);
	assert_int_equal(lgd_open_take(t, "a", 1, 100), -1);
	assert_int_equal(lgd_open_take(t, "b", 1, 200), -1); /* ids are bytes, NULs included */
	assert_int_equal(lgd_open_take(t, "b\0x", 3, 200), 1);
	assert_int_equal(lgd_open_count(t), 0);
	lgd_open_free(t);
}

/* Mark every lesson ended (as the sweep does) and count the visits. */
static bool
end_all(void *arg, struct lgd_open_lesson *e)
{
	(*(int *)arg)++;
	e->ended = true;
	return false;
}

/* Remove every lesson. */
static bool
remove_all(void *arg, struct lgd_open_lesson *e)
{
	(void)e;
	(*(int *)arg)++;
	return true;
}

/* A lesson the sweep ended: the gate's lesson_end for it is dropped (0); 10,000 lessons grow. */
static void
test_sweep(void **state)
{
	struct lgd_open *t = lgd_open_new();
	char id[32];
	int n = 0;

	(void)state;
	for (int i = 0; i < 10000; i++) {
		snprintf(id, sizeof(id), "s%d", i);
		lgd_open_put(t, id, strlen(id), i, 0, 0, "/r/");
	}
	lgd_open_put(t, "s5", 2, 7, 0, 0, "/r/"); /* a newer lesson replaces the older */
	assert_int_equal(lgd_open_count(t), 10000);
	assert_int_equal(lgd_open_take(t, "s5", 2, 5), -1);
	lgd_open_sweep(t, end_all, &n);
	assert_int_equal(n, 10000);
	assert_int_equal(lgd_open_take(t, "s1", 2, 1), 0);
	assert_int_equal(lgd_open_count(t), 9999);
	n = 0;
	lgd_open_sweep(t, remove_all, &n);
	assert_int_equal(n, 9999);
	assert_int_equal(lgd_open_count(t), 0);
	lgd_open_free(t);
}

/* Keyed entries (reopened after a restart) live beside raw ids with the same bytes. */
static void
test_keyed(void **state)
{
	struct lgd_open *t = lgd_open_new();
	struct lg_student_key k = {{1, 2}}, k2 = {{3, 4}};
	struct lgd_open_lesson *e;

	(void)state;
	e = lgd_open_put_keyed(t, &k, "0123456789abcdef0123456789abcdef", 100, 0, 533100, "/r/");
	assert_true(e->keyed && e->noted);
	assert_string_equal(e->pseudonym, "0123456789abcdef0123456789abcdef");
	/* An id with the key's very bytes is another student. */
	lgd_open_put(t, (const char *)&k, sizeof(k), 100, 0, 0, NULL);
	assert_int_equal(lgd_open_count(t), 2);
	assert_int_equal(lgd_open_keyed(t), 1);
	assert_int_equal(lgd_open_take_keyed(t, &k2, 100), -1);
	assert_int_equal(lgd_open_take_keyed(t, &k, 99), -1);
	assert_int_equal(lgd_open_take_keyed(t, &k, 100), 1);
	assert_int_equal(lgd_open_keyed(t), 0);
	assert_int_equal(lgd_open_take(t, (const char *)&k, sizeof(k), 100), 1);
	e = lgd_open_put_keyed(t, &k2, "0123456789abcdef0123456789abcdef", 5, 0, 0, NULL);
	e->ended = true;
	assert_int_equal(lgd_open_take_keyed(t, &k2, 5), 0); /* the sweep wrote its end */
	assert_int_equal(lgd_open_count(t), 0);
	lgd_open_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_take),
	    cmocka_unit_test(test_sweep),
	    cmocka_unit_test(test_keyed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
