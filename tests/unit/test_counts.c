/* Tests for lib/core/counts.c: counts per key under a cap, forgotten at zero. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "counts.h"

static const uint8_t key[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

/* A cap of 3: the 4th is refused until one is given back; the key goes at zero. */
static void
test_cap(void **state)
{
	struct lg_counts *t = lg_counts_new(key);
	const unsigned char a[4] = {127, 0, 0, 1}, b[4] = {127, 0, 0, 2};

	(void)state;
	for (int i = 0; i < 3; i++)
		assert_int_equal(lg_counts_acquire(t, a, 4, 3), 0);
	assert_int_equal(lg_counts_acquire(t, a, 4, 3), -1);
	assert_int_equal(lg_counts_get(t, a, 4), 3);
	/* Another key is not affected. */
	assert_int_equal(lg_counts_acquire(t, b, 4, 3), 0);
	assert_int_equal(lg_counts_keys(t), 2);
	assert_int_equal(lg_counts_release(t, a, 4), 0);
	assert_int_equal(lg_counts_acquire(t, a, 4, 3), 0);
	assert_int_equal(lg_counts_acquire(t, a, 4, 3), -1);
	for (int i = 0; i < 3; i++)
		assert_int_equal(lg_counts_release(t, a, 4), 0);
	assert_int_equal(lg_counts_get(t, a, 4), 0);
	assert_int_equal(lg_counts_keys(t), 1);
	assert_int_equal(lg_counts_release(t, a, 4), -1); /* nothing left to give back */
	assert_int_equal(lg_counts_release(t, b, 4), 0);
	assert_int_equal(lg_counts_keys(t), 0);
	lg_counts_free(t);
}

/* 0 means no cap; keys differing in length or in a NUL byte are different keys. */
static void
test_unlimited_and_keys(void **state)
{
	struct lg_counts *t = lg_counts_new(key);

	(void)state;
	for (int i = 0; i < 1000; i++)
		assert_int_equal(lg_counts_acquire(t, "stu-1", 5, 0), 0);
	assert_int_equal(lg_counts_get(t, "stu-1", 5), 1000);
	assert_int_equal(lg_counts_acquire(t, "stu-1x", 6, 1), 0);
	assert_int_equal(lg_counts_acquire(t, "stu-1x", 6, 1), -1);
	assert_int_equal(lg_counts_acquire(t, "stu\0-1", 6, 1), 0);
	assert_int_equal(lg_counts_acquire(t, "stu", 3, 1), 0);
	assert_int_equal(lg_counts_get(t, "stu-", 4), 0);
	assert_int_equal(lg_counts_keys(t), 4);
	lg_counts_free(t);
}

/* Many keys (the table grows) keep their counts; all of them can be given back. */
static void
test_many_keys(void **state)
{
	struct lg_counts *t = lg_counts_new(key);
	char k[32];

	(void)state;
	for (int i = 0; i < 20000; i++) {
		int n = snprintf(k, sizeof(k), "10.0.%d.%d", i / 256, i % 256);
		assert_int_equal(lg_counts_acquire(t, k, (size_t)n, 2), 0);
		assert_int_equal(lg_counts_acquire(t, k, (size_t)n, 2), 0);
	}
	assert_int_equal(lg_counts_keys(t), 20000);
	for (int i = 0; i < 20000; i++) {
		int n = snprintf(k, sizeof(k), "10.0.%d.%d", i / 256, i % 256);
		assert_int_equal(lg_counts_acquire(t, k, (size_t)n, 2), -1);
		assert_int_equal(lg_counts_get(t, k, (size_t)n), 2);
		assert_int_equal(lg_counts_release(t, k, (size_t)n), 0);
		assert_int_equal(lg_counts_release(t, k, (size_t)n), 0);
	}
	assert_int_equal(lg_counts_keys(t), 0);
	lg_counts_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_cap),
	    cmocka_unit_test(test_unlimited_and_keys),
	    cmocka_unit_test(test_many_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
