/* Tests for lib/audit/violidx.c: the violations index agrees with a full scan, skips blocks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "violidx.h"

#define N 10000

static const char *const kinds[] = {"deny", "forced_close", "lesson_start", "lesson_end",
                                    "unidentified"};

/* Record i: mostly in time order, every 7th ten seconds early (a flood's summary). */
static void
record(uint64_t i, char *out, size_t cap, char time_out[64])
{
	long s = (long)i * 3 - (i % 7 == 0 ? 10 : 0);

	snprintf(time_out, 64, "2026-09-%02ldT%02ld:%02ld:%02ld+08:00", 21 + s / 86400,
	         s / 3600 % 24, s / 60 % 60, s % 60);
	snprintf(out, cap,
	         "{\"index\":%llu,\"type\":\"%s\",\"time\":\"%s\",\"instance\":\"gw\",\"student\":"
	         "null}",
	         (unsigned long long)i, kinds[i % 5], time_out);
}

/* The indexes a full scan finds for [from, to) below `below`. */
static size_t
scan(const char *from, const char *to, uint64_t below, uint64_t *out)
{
	char rec[256], t[64];
	size_t n = 0;

	for (uint64_t i = 0; i < below; i++) {
		record(i, rec, sizeof(rec), t);
		if (i % 5 < 2 && strcmp(t, from) >= 0 && strcmp(t, to) < 0)
			out[n++] = i;
	}
	return n;
}

/* A query agrees with the scan; returns the blocks looked into. */
static size_t
agree(const struct lg_violidx *x, const char *from, const char *to, uint64_t below)
{
	static uint64_t want[N];
	uint64_t *got = NULL;
	size_t n = 0, w = scan(from, to, below, want), looked;

	looked = lg_violidx_query(x, from, to, below, &got, &n);
	assert_int_equal(n, w);
	if (n)
		assert_memory_equal(got, want, n * sizeof(*got));
	free(got);
	return looked;
}

/* Queries equal full scans; blocks out of range are not looked into. */
static void
test_query(void **state)
{
	struct lg_violidx *x = lg_violidx_new();
	char rec[256], t[64];
	size_t blocks = (N * 2 / 5 + LG_VIOLIDX_BLOCK - 1) / LG_VIOLIDX_BLOCK;

	(void)state;
	for (uint64_t i = 0; i < N; i++) {
		record(i, rec, sizeof(rec), t);
		lg_violidx_add(x, i, rec, strlen(rec));
	}
	lg_violidx_add(x, 5, "{\"index\":5,\"type\":\"deny\",\"time\":\"x\"}",
	               37); /* not growing */
	assert_int_equal(lg_violidx_count(x), N * 2 / 5);
	assert_int_equal(agree(x, "2000", "2100", N), blocks);
	assert_true(agree(x, "2026-09-21T02:00:00", "2026-09-21T02:05:00", N) <= 2);
	agree(x, "2026-09-21T02:00:00+08:00", "2026-09-21T02:00:03+08:00", N);
	assert_int_equal(agree(x, "2027", "2028", N), 0);
	agree(x, "2000", "2100", 777);
	lg_violidx_free(x);
}

/* Truncation forgets records that were never durable, across blocks. */
static void
test_truncate(void **state)
{
	struct lg_violidx *x = lg_violidx_new();
	char rec[256], t[64];

	(void)state;
	for (uint64_t i = 0; i < N; i++) {
		record(i, rec, sizeof(rec), t);
		lg_violidx_add(x, i, rec, strlen(rec));
	}
	lg_violidx_truncate(x, 3001);
	assert_int_equal(lg_violidx_count(x), 1201); /* 0..3000: two of every five */
	agree(x, "2000", "2100", 3001);
	agree(x, "2026-09-21T02:00:00", "2026-09-21T03:00:00", 3001);
	for (uint64_t i = 3001; i < N; i++) { /* written again after a failure */
		record(i, rec, sizeof(rec), t);
		lg_violidx_add(x, i, rec, strlen(rec));
	}
	agree(x, "2000", "2100", N);
	lg_violidx_truncate(x, 0);
	assert_int_equal(lg_violidx_count(x), 0);
	{
		uint64_t *got = NULL;
		size_t n = 0;
		assert_int_equal(lg_violidx_query(x, "2000", "2100", N, &got, &n), 0);
		assert_int_equal(n, 0);
	}
	lg_violidx_free(x);
}

/* Records that are not canonical violations are not kept. */
static void
test_not_kept(void **state)
{
	struct lg_violidx *x = lg_violidx_new();
	static const char *const recs[] = {
	    "",
	    "{\"type\":\"deny\",\"time\":\"2026\"}",
	    "{\"index\":1,\"type\":\"denyx\",\"time\":\"2026\"}",
	    "{\"index\":2,\"type\":\"deny\",\"when\":\"2026\"}",
	    "{\"index\":3,\"type\":\"deny\",\"time\":\"2026",
	    "{\"index\":4,\"type\":\"deny\",\"time\":\"0123456789012345678901234567890123\"}",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(recs) / sizeof(recs[0]); i++)
		lg_violidx_add(x, i, recs[i], strlen(recs[i]));
	assert_int_equal(lg_violidx_count(x), 0);
	lg_violidx_free(x);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_query),
	    cmocka_unit_test(test_truncate),
	    cmocka_unit_test(test_not_kept),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
