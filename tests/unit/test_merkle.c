/* Tests for lib/audit/merkle.c: the RFC 6962/9162 reference vectors and every proof of small trees. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "merkle.h"
#include "util.h"

typedef uint8_t hash_t[LG_MERKLE_HASH];

/* Decode 64 hex digits. */
static void
unhex(const char *s, uint8_t *out, size_t n)
{
	assert_int_equal(strlen(s), 2 * n);
	for (size_t i = 0; i < n; i++)
		out[i] = (uint8_t)(lg_hex_value((unsigned char)s[2 * i]) << 4 |
		                   lg_hex_value((unsigned char)s[2 * i + 1]));
}

/* The certificate-transparency reference leaves (as hex). */
static const char *const ref_leaves[8] = {"",
                                          "00",
                                          "10",
                                          "2021",
                                          "3031",
                                          "40414243",
                                          "5051525354555657",
                                          "606162636465666768696a6b6c6d6e6f"};

/* The published root of each size 0..8. */
static const char *const ref_roots[9] = {
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

/* A published proof: inclusion (a = leaf index, b = size) or consistency (a = old, b = new). */
struct vec {
	uint64_t a, b;
	size_t n;
	const char *h[3];
};

static const struct vec ref_inclusion[] = {
    {0,
     8,
     3,
     {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
    {5,
     8,
     3,
     {"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
    {2, 3, 1, {"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"}},
    {1,
     5,
     3,
     {"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
    {0, 1, 0, {NULL}},
};

static const struct vec ref_consistency[] = {
    {1,
     8,
     3,
     {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
    {6,
     8,
     3,
     {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
    {2,
     5,
     2,
     {"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
    {6,
     7,
     3,
     {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
    {1, 1, 0, {NULL}},
};

/* The reference tree of the 8 leaves. */
static struct lg_merkle *
ref_tree(void)
{
	struct lg_merkle *t = lg_merkle_new();

	for (int i = 0; i < 8; i++) {
		uint8_t data[16];
		hash_t h;
		size_t n = strlen(ref_leaves[i]) / 2;
		unhex(ref_leaves[i], data, n);
		lg_merkle_leaf_hash(data, n, h);
		assert_int_equal(lg_merkle_append(t, h), 0);
	}
	return t;
}

/* The tree gives the published root for every size 0..8, and the empty hash for nothing. */
static void
test_reference_roots(void **state)
{
	struct lg_merkle *t = ref_tree();
	hash_t want, got;

	(void)state;
	assert_int_equal(lg_merkle_size(t), 8);
	for (uint64_t s = 0; s <= 8; s++) {
		unhex(ref_roots[s], want, 32);
		assert_int_equal(lg_merkle_root(t, s, got), 0);
		assert_memory_equal(got, want, 32);
	}
	assert_int_equal(lg_merkle_root(t, 9, got), -1);
	lg_merkle_free(t);
}

/* The published inclusion proofs come out exactly, verify, and fail when altered. */
static void
test_reference_inclusion(void **state)
{
	struct lg_merkle *t = ref_tree();
	hash_t proof[LG_MERKLE_MAX_PROOF], want[3], root, other;
	size_t n;

	(void)state;
	for (size_t v = 0; v < sizeof(ref_inclusion) / sizeof(ref_inclusion[0]); v++) {
		const struct vec *x = &ref_inclusion[v];
		const uint8_t *leaf = lg_merkle_leaf(t, x->a);

		assert_int_equal(lg_merkle_inclusion(t, x->a, x->b, proof, &n), 0);
		assert_int_equal(n, x->n);
		for (size_t i = 0; i < n; i++) {
			unhex(x->h[i], want[i], 32);
			assert_memory_equal(proof[i], want[i], 32);
		}
		unhex(ref_roots[x->b], root, 32);
		assert_true(
		    lg_merkle_verify_inclusion(leaf, x->a, x->b, (const hash_t *)want, n, root));
		/* Wrong index, size, leaf, root; a flipped bit; one hash too few or too many. */
		assert_false(lg_merkle_verify_inclusion(leaf, x->a + 1, x->b, (const hash_t *)want,
		                                        n, root));
		if (x->a > 0)
			assert_false(lg_merkle_verify_inclusion(leaf, x->a - 1, x->b,
			                                        (const hash_t *)want, n, root));
		assert_false(lg_merkle_verify_inclusion(leaf, x->a, x->b * 2, (const hash_t *)want,
		                                        n, root));
		memcpy(other, leaf, 32);
		other[0] ^= 1;
		assert_false(
		    lg_merkle_verify_inclusion(other, x->a, x->b, (const hash_t *)want, n, root));
		assert_false(
		    lg_merkle_verify_inclusion(leaf, x->a, x->b, (const hash_t *)want, n, other));
		for (size_t i = 0; i < n; i++) {
			want[i][0] ^= 8;
			assert_false(lg_merkle_verify_inclusion(leaf, x->a, x->b,
			                                        (const hash_t *)want, n, root));
			want[i][0] ^= 8;
		}
		if (n > 0)
			assert_false(lg_merkle_verify_inclusion(leaf, x->a, x->b,
			                                        (const hash_t *)want, n - 1, root));
		memcpy(proof[n], root, 32);
		assert_false(lg_merkle_verify_inclusion(leaf, x->a, x->b, (const hash_t *)proof,
		                                        n + 1, root));
	}
	assert_int_equal(lg_merkle_inclusion(t, 8, 8, proof, &n), -1);
	assert_int_equal(lg_merkle_inclusion(t, 0, 9, proof, &n), -1);
	lg_merkle_free(t);
}

/* The published consistency proofs come out exactly, verify, and fail when altered. */
static void
test_reference_consistency(void **state)
{
	struct lg_merkle *t = ref_tree();
	hash_t proof[LG_MERKLE_MAX_PROOF], want[3], r1, r2;
	size_t n;

	(void)state;
	for (size_t v = 0; v < sizeof(ref_consistency) / sizeof(ref_consistency[0]); v++) {
		const struct vec *x = &ref_consistency[v];

		assert_int_equal(lg_merkle_consistency(t, x->a, x->b, proof, &n), 0);
		assert_int_equal(n, x->n);
		for (size_t i = 0; i < n; i++) {
			unhex(x->h[i], want[i], 32);
			assert_memory_equal(proof[i], want[i], 32);
		}
		unhex(ref_roots[x->a], r1, 32);
		unhex(ref_roots[x->b], r2, 32);
		assert_true(
		    lg_merkle_verify_consistency(x->a, x->b, r1, r2, (const hash_t *)want, n));
		if (n == 0)
			continue;
		assert_false(
		    lg_merkle_verify_consistency(x->a, x->b, r2, r1, (const hash_t *)want, n));
		assert_false(
		    lg_merkle_verify_consistency(x->a + 1, x->b, r1, r2, (const hash_t *)want, n));
		assert_false(
		    lg_merkle_verify_consistency(x->a, x->b * 2, r1, r2, (const hash_t *)want, n));
		assert_false(
		    lg_merkle_verify_consistency(x->a, x->b, r1, r2, (const hash_t *)want, 0));
		assert_false(
		    lg_merkle_verify_consistency(x->a, x->b, r1, r2, (const hash_t *)want, n - 1));
		for (size_t i = 0; i < n; i++) {
			want[i][0] ^= 16;
			assert_false(lg_merkle_verify_consistency(x->a, x->b, r1, r2,
			                                          (const hash_t *)want, n));
			want[i][0] ^= 16;
		}
	}
	assert_int_equal(lg_merkle_consistency(t, 5, 4, proof, &n), -1);
	assert_int_equal(lg_merkle_consistency(t, 1, 9, proof, &n), -1);
	/* Trivial cases: from nothing, and to the same size with the same root only. */
	unhex(ref_roots[0], r1, 32);
	unhex(ref_roots[3], r2, 32);
	assert_true(lg_merkle_verify_consistency(0, 3, r1, r2, NULL, 0));
	assert_true(lg_merkle_verify_consistency(3, 3, r2, r2, NULL, 0));
	assert_false(lg_merkle_verify_consistency(3, 3, r1, r2, NULL, 0));
	assert_false(lg_merkle_verify_consistency(4, 3, r1, r2, NULL, 0));
	lg_merkle_free(t);
}

/* MTH of RFC 9162 §2.1.1, written as the RFC says, over leaf hashes. */
static void
ref_mth(hash_t *leaves, uint64_t n, uint8_t out[32])
{
	uint64_t k = 1;
	hash_t l, r;

	if (n == 1) {
		memcpy(out, leaves[0], 32);
		return;
	}
	while (k * 2 < n)
		k *= 2;
	ref_mth(leaves, k, l);
	ref_mth(leaves + k, n - k, r);
	lg_merkle_node_hash(l, r, out);
}

/* PATH of RFC 9162 §2.1.3.1, recursive, appending deepest last then returned reversed. */
static void
ref_path(hash_t *leaves, uint64_t m, uint64_t n, hash_t *out, size_t *len)
{
	uint64_t k = 1;

	if (n == 1)
		return;
	while (k * 2 < n)
		k *= 2;
	if (m < k) {
		ref_path(leaves, m, k, out, len);
		ref_mth(leaves + k, n - k, out[(*len)++]);
	} else {
		ref_path(leaves + k, m - k, n - k, out, len);
		ref_mth(leaves, k, out[(*len)++]);
	}
}

/* SUBPROOF of RFC 9162 §2.1.4.1, recursive. */
static void
ref_subproof(hash_t *leaves, uint64_t m, uint64_t n, bool b, hash_t *out, size_t *len)
{
	uint64_t k = 1;

	if (m == n) {
		if (!b)
			ref_mth(leaves, n, out[(*len)++]);
		return;
	}
	while (k * 2 < n)
		k *= 2;
	if (m <= k) {
		ref_subproof(leaves, m, k, b, out, len);
		ref_mth(leaves + k, n - k, out[(*len)++]);
	} else {
		ref_subproof(leaves + k, m - k, n - k, false, out, len);
		ref_mth(leaves, k, out[(*len)++]);
	}
}

/* Every root, inclusion and consistency proof of sizes 1..70 agrees with the RFC's recursion. */
static void
test_all_small_trees(void **state)
{
	enum { N = 70 };
	struct lg_merkle *t = lg_merkle_new();
	hash_t leaves[N], roots[N + 1], p[LG_MERKLE_MAX_PROOF], q[LG_MERKLE_MAX_PROOF];
	size_t np, nq;
	unsigned seed = 12345;

	(void)state;
	for (int i = 0; i < N; i++) {
		uint8_t data[8];
		for (int j = 0; j < 8; j++)
			data[j] = (uint8_t)rand_r(&seed);
		lg_merkle_leaf_hash(data, (size_t)(i % 9), leaves[i]);
		assert_int_equal(lg_merkle_append(t, leaves[i]), 0);
	}
	lg_merkle_root(t, 0, roots[0]);
	{
		struct lg_merkle_range r;
		hash_t got;
		lg_merkle_range_init(&r);
		lg_merkle_range_root(&r, got);
		assert_memory_equal(got, roots[0], 32);
		for (uint64_t n = 1; n <= N; n++) {
			hash_t want;
			ref_mth(leaves, n, want);
			assert_int_equal(lg_merkle_root(t, n, roots[n]), 0);
			assert_memory_equal(roots[n], want, 32);
			/* The streaming root agrees at every size. */
			lg_merkle_range_append(&r, leaves[n - 1]);
			lg_merkle_range_root(&r, got);
			assert_memory_equal(got, want, 32);
		}
	}
	for (uint64_t n = 1; n <= N; n++) {
		for (uint64_t m = 0; m < n; m++) {
			nq = 0;
			ref_path(leaves, m, n, q, &nq);
			assert_int_equal(lg_merkle_inclusion(t, m, n, p, &np), 0);
			assert_int_equal(np, nq);
			assert_memory_equal(p, q, np * 32);
			assert_true(lg_merkle_verify_inclusion(leaves[m], m, n, (const hash_t *)p,
			                                       np, roots[n]));
			if (n > 1) /* the same proof does not place the leaf anywhere else */
				assert_false(lg_merkle_verify_inclusion(
				    leaves[m], (m + 1) % n, n, (const hash_t *)p, np, roots[n]));
			if (np > 0) {
				p[rand_r(&seed) % np][rand_r(&seed) % 32] ^= 0x40;
				assert_false(lg_merkle_verify_inclusion(
				    leaves[m], m, n, (const hash_t *)p, np, roots[n]));
			}
		}
		for (uint64_t m = 1; m <= n; m++) {
			nq = 0;
			ref_subproof(leaves, m, n, true, q, &nq);
			assert_int_equal(lg_merkle_consistency(t, m, n, p, &np), 0);
			assert_int_equal(np, nq);
			assert_memory_equal(p, q, np * 32);
			assert_true(lg_merkle_verify_consistency(m, n, roots[m], roots[n],
			                                         (const hash_t *)p, np));
			if (m < n) {
				assert_false(lg_merkle_verify_consistency(
				    m, n, roots[m - 1], roots[n], (const hash_t *)p, np));
				assert_false(lg_merkle_verify_consistency(
				    m, n, roots[m], roots[n - 1], (const hash_t *)p, np));
				p[rand_r(&seed) % np][rand_r(&seed) % 32] ^= 0x02;
				assert_false(lg_merkle_verify_consistency(m, n, roots[m], roots[n],
				                                          (const hash_t *)p, np));
			}
		}
	}
	/* Truncating forgets leaves, and appending again rebuilds the same roots. */
	lg_merkle_truncate(t, 37);
	assert_int_equal(lg_merkle_size(t), 37);
	for (int i = 37; i < N; i++)
		assert_int_equal(lg_merkle_append(t, leaves[i]), 0);
	for (uint64_t n = 1; n <= N; n++) {
		hash_t r;
		lg_merkle_root(t, n, r);
		assert_memory_equal(r, roots[n], 32);
	}
	lg_merkle_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_reference_roots),
	    cmocka_unit_test(test_reference_inclusion),
	    cmocka_unit_test(test_reference_consistency),
	    cmocka_unit_test(test_all_small_trees),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
