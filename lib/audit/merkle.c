/* RFC 9162 §2.1 Merkle trees: hashing, an append-only tree, inclusion and consistency proofs. */
#include "merkle.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define LEVELS 64

struct level {
	uint8_t (*h)[LG_MERKLE_HASH];
	uint64_t n, cap;
};

/* level[k].h[i] is the hash of leaves [i * 2^k, (i + 1) * 2^k), for every complete one. */
struct lg_merkle {
	struct level level[LEVELS];
	uint64_t size;
};

static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

/* Fetch SHA-256 from the default provider once per process. */
static void
sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (sha256_md == NULL)
		abort();
}

/* SHA-256 over one optional prefix byte and up to two pieces. */
static void
digest(int prefix, const void *a, size_t an, const void *b, size_t bn, uint8_t out[32])
{
	EVP_MD_CTX *ctx;
	uint8_t p = (uint8_t)prefix;

	pthread_once(&sha256_once, sha256_fetch);
	if ((ctx = EVP_MD_CTX_new()) == NULL || !EVP_DigestInit_ex(ctx, sha256_md, NULL) ||
	    (prefix >= 0 && !EVP_DigestUpdate(ctx, &p, 1)) ||
	    (an && !EVP_DigestUpdate(ctx, a, an)) || (bn && !EVP_DigestUpdate(ctx, b, bn)) ||
	    !EVP_DigestFinal_ex(ctx, out, NULL))
		abort(); /* only on allocation failure: there is no recovery from it here */
	EVP_MD_CTX_free(ctx);
}

/* SHA-256 of data (EVP). */
void
lg_sha256(const void *data, size_t n, uint8_t out[LG_MERKLE_HASH])
{
	digest(-1, data, n, NULL, 0, out);
}

/* The leaf hash SHA-256(0x00 || data). */
void
lg_merkle_leaf_hash(const void *data, size_t n, uint8_t out[LG_MERKLE_HASH])
{
	digest(0x00, data, n, NULL, 0, out);
}

/* The interior node hash SHA-256(0x01 || left || right). */
void
lg_merkle_node_hash(const uint8_t left[LG_MERKLE_HASH], const uint8_t right[LG_MERKLE_HASH],
                    uint8_t out[LG_MERKLE_HASH])
{
	digest(0x01, left, LG_MERKLE_HASH, right, LG_MERKLE_HASH, out);
}

/* An empty tree. */
struct lg_merkle *
lg_merkle_new(void)
{
	return calloc(1, sizeof(struct lg_merkle));
}

/* Free a tree. */
void
lg_merkle_free(struct lg_merkle *t)
{
	if (t == NULL)
		return;
	for (int k = 0; k < LEVELS; k++)
		free(t->level[k].h);
	free(t);
}

/* Make room for one more hash on a level; 0 or -1. */
static int
level_reserve(struct level *l)
{
	if (l->n < l->cap)
		return 0;
	uint64_t cap = l->cap ? l->cap * 2 : 64;
	void *h = realloc(l->h, cap * LG_MERKLE_HASH);
	if (h == NULL)
		return -1;
	l->h = h;
	l->cap = cap;
	return 0;
}

/* Append a leaf hash, and every subtree it completes. */
int
lg_merkle_append(struct lg_merkle *t, const uint8_t leaf[LG_MERKLE_HASH])
{
	uint64_t i = t->size;
	int k;

	/* Reserve first, so a failure leaves the tree as it was. */
	for (k = 0; k < LEVELS; k++) {
		if (level_reserve(&t->level[k]) != 0)
			return -1;
		if (((i >> k) & 1) == 0)
			break;
	}
	memcpy(t->level[0].h[t->level[0].n++], leaf, LG_MERKLE_HASH);
	for (k = 0; k + 1 < LEVELS && ((i >> k) & 1); k++) {
		struct level *l = &t->level[k];
		lg_merkle_node_hash(l->h[l->n - 2], l->h[l->n - 1],
		                    t->level[k + 1].h[t->level[k + 1].n]);
		t->level[k + 1].n++;
	}
	t->size++;
	return 0;
}

/* Forget the leaves from index size on. */
void
lg_merkle_truncate(struct lg_merkle *t, uint64_t size)
{
	if (size >= t->size)
		return;
	for (int k = 0; k < LEVELS; k++)
		t->level[k].n = size >> k;
	t->size = size;
}

/* The number of leaves. */
uint64_t
lg_merkle_size(const struct lg_merkle *t)
{
	return t->size;
}

/* The leaf hash at index i. */
const uint8_t *
lg_merkle_leaf(const struct lg_merkle *t, uint64_t i)
{
	return i < t->size ? t->level[0].h[i] : NULL;
}

/* The largest power of two smaller than n (n >= 2). */
static uint64_t
split_point(uint64_t n)
{
	uint64_t k = 1;

	while (k << 1 < n)
		k <<= 1;
	return k;
}

/* MTH(D[lo:hi]) for 0 <= lo < hi <= size: stored if complete and aligned, else split. */
static void
subtree(const struct lg_merkle *t, uint64_t lo, uint64_t hi, uint8_t out[LG_MERKLE_HASH])
{
	uint64_t n = hi - lo;

	if ((n & (n - 1)) == 0 && (lo & (n - 1)) == 0) {
		int k = __builtin_ctzll(n);
		memcpy(out, t->level[k].h[lo >> k], LG_MERKLE_HASH);
		return;
	}
	uint8_t l[LG_MERKLE_HASH], r[LG_MERKLE_HASH];
	uint64_t k = split_point(n);
	subtree(t, lo, lo + k, l);
	subtree(t, lo + k, hi, r);
	lg_merkle_node_hash(l, r, out);
}

/* The root of the first `size` leaves. */
int
lg_merkle_root(const struct lg_merkle *t, uint64_t size, uint8_t out[LG_MERKLE_HASH])
{
	if (size > t->size)
		return -1;
	if (size == 0)
		lg_sha256(NULL, 0, out);
	else
		subtree(t, 0, size, out);
	return 0;
}

/* An empty range. */
void
lg_merkle_range_init(struct lg_merkle_range *r)
{
	r->size = 0;
}

/* Add the next leaf: merge it with every complete subtree it completes. */
void
lg_merkle_range_append(struct lg_merkle_range *r, const uint8_t leaf[LG_MERKLE_HASH])
{
	uint8_t carry[LG_MERKLE_HASH];
	int k = 0;

	memcpy(carry, leaf, LG_MERKLE_HASH);
	while ((r->size >> k) & 1) {
		lg_merkle_node_hash(r->h[k], carry, carry);
		k++;
	}
	memcpy(r->h[k], carry, LG_MERKLE_HASH);
	r->size++;
}

/* The root: the complete subtrees folded from the smallest (rightmost) up. */
void
lg_merkle_range_root(const struct lg_merkle_range *r, uint8_t out[LG_MERKLE_HASH])
{
	int k;

	if (r->size == 0) {
		lg_sha256(NULL, 0, out);
		return;
	}
	k = __builtin_ctzll(r->size);
	memcpy(out, r->h[k], LG_MERKLE_HASH);
	for (k++; k < 64; k++)
		if ((r->size >> k) & 1)
			lg_merkle_node_hash(r->h[k], out, out);
}

/* Reverse the first n hashes of proof (they were collected top-down). */
static void
reverse(uint8_t proof[][LG_MERKLE_HASH], size_t n)
{
	uint8_t tmp[LG_MERKLE_HASH];

	for (size_t i = 0; i < n / 2; i++) {
		memcpy(tmp, proof[i], LG_MERKLE_HASH);
		memcpy(proof[i], proof[n - 1 - i], LG_MERKLE_HASH);
		memcpy(proof[n - 1 - i], tmp, LG_MERKLE_HASH);
	}
}

/* PATH(m, D[n]) of RFC 9162 §2.1.3.1, walked from the root down. */
int
lg_merkle_inclusion(const struct lg_merkle *t, uint64_t index, uint64_t size,
                    uint8_t proof[][LG_MERKLE_HASH], size_t *n)
{
	uint64_t lo = 0, hi = size, m = index;

	*n = 0;
	if (index >= size || size > t->size)
		return -1;
	while (hi - lo > 1) {
		uint64_t k = split_point(hi - lo);
		if (m < k) {
			subtree(t, lo + k, hi, proof[(*n)++]);
			hi = lo + k;
		} else {
			subtree(t, lo, lo + k, proof[(*n)++]);
			lo += k;
			m -= k;
		}
	}
	reverse(proof, *n);
	return 0;
}

/* PROOF(m, D[n]) = SUBPROOF(m, D[n], true) of RFC 9162 §2.1.4.1, walked from the root down. */
int
lg_merkle_consistency(const struct lg_merkle *t, uint64_t old, uint64_t new_size,
                      uint8_t proof[][LG_MERKLE_HASH], size_t *n)
{
	uint64_t lo = 0, hi = new_size, m = old;
	bool b = true;

	*n = 0;
	if (old > new_size || new_size > t->size)
		return -1;
	if (old == 0 || old == new_size)
		return 0;
	for (;;) {
		if (m == hi - lo) {
			if (!b)
				subtree(t, lo, hi, proof[(*n)++]);
			break;
		}
		uint64_t k = split_point(hi - lo);
		if (m <= k) {
			subtree(t, lo + k, hi, proof[(*n)++]);
			hi = lo + k;
		} else {
			subtree(t, lo, lo + k, proof[(*n)++]);
			lo += k;
			m -= k;
			b = false;
		}
	}
	reverse(proof, *n);
	return 0;
}

/* Inclusion proof verification, RFC 9162 §2.1.3.2. */
bool
lg_merkle_verify_inclusion(const uint8_t leaf[LG_MERKLE_HASH], uint64_t index, uint64_t size,
                           const uint8_t proof[][LG_MERKLE_HASH], size_t n,
                           const uint8_t root[LG_MERKLE_HASH])
{
	uint8_t r[LG_MERKLE_HASH];
	uint64_t fn = index, sn;

	if (index >= size)
		return false;
	sn = size - 1;
	memcpy(r, leaf, LG_MERKLE_HASH);
	for (size_t i = 0; i < n; i++) {
		if (sn == 0)
			return false;
		if ((fn & 1) || fn == sn) {
			lg_merkle_node_hash(proof[i], r, r);
			while (!(fn & 1) && fn != 0) {
				fn >>= 1;
				sn >>= 1;
			}
		} else {
			lg_merkle_node_hash(r, proof[i], r);
		}
		fn >>= 1;
		sn >>= 1;
	}
	return sn == 0 && memcmp(r, root, LG_MERKLE_HASH) == 0;
}

/* Consistency proof verification, RFC 9162 §2.1.4.2 (sizes 0 and equal sizes included). */
bool
lg_merkle_verify_consistency(uint64_t old, uint64_t new_size,
                             const uint8_t old_root[LG_MERKLE_HASH],
                             const uint8_t new_root[LG_MERKLE_HASH],
                             const uint8_t proof[][LG_MERKLE_HASH], size_t n)
{
	uint8_t fr[LG_MERKLE_HASH], sr[LG_MERKLE_HASH];
	uint64_t fn, sn;
	size_t i = 0;

	if (old > new_size)
		return false;
	if (old == new_size)
		return n == 0 && memcmp(old_root, new_root, LG_MERKLE_HASH) == 0;
	if (old == 0)
		return n == 0; /* the empty tree is a prefix of every tree */
	if (n == 0)
		return false;
	/* Step 1: an old tree that is a complete subtree is its own first node. */
	if ((old & (old - 1)) == 0) {
		memcpy(fr, old_root, LG_MERKLE_HASH);
	} else {
		memcpy(fr, proof[0], LG_MERKLE_HASH);
		i = 1;
	}
	memcpy(sr, fr, LG_MERKLE_HASH);
	fn = old - 1;
	sn = new_size - 1;
	while (fn & 1) {
		fn >>= 1;
		sn >>= 1;
	}
	for (; i < n; i++) {
		if (sn == 0)
			return false;
		if ((fn & 1) || fn == sn) {
			lg_merkle_node_hash(proof[i], fr, fr);
			lg_merkle_node_hash(proof[i], sr, sr);
			while (!(fn & 1) && fn != 0) {
				fn >>= 1;
				sn >>= 1;
			}
		} else {
			lg_merkle_node_hash(sr, proof[i], sr);
		}
		fn >>= 1;
		sn >>= 1;
	}
	return sn == 0 && memcmp(fr, old_root, LG_MERKLE_HASH) == 0 &&
	       memcmp(sr, new_root, LG_MERKLE_HASH) == 0;
}
