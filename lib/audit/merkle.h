/* RFC 9162 §2.1 Merkle trees: hashing, an append-only tree, inclusion and consistency proofs. */
#ifndef LG_MERKLE_H
#define LG_MERKLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LG_MERKLE_HASH 32
/* The longest proof for any tree of up to 2^64 - 1 leaves, with room to spare. */
#define LG_MERKLE_MAX_PROOF 130

/* SHA-256 of data (EVP). */
void lg_sha256(const void *data, size_t n, uint8_t out[LG_MERKLE_HASH]);
/* The leaf hash SHA-256(0x00 || data). */
void lg_merkle_leaf_hash(const void *data, size_t n, uint8_t out[LG_MERKLE_HASH]);
/* The interior node hash SHA-256(0x01 || left || right). */
void lg_merkle_node_hash(const uint8_t left[LG_MERKLE_HASH], const uint8_t right[LG_MERKLE_HASH],
                         uint8_t out[LG_MERKLE_HASH]);

/*
 * An append-only tree of leaf hashes. It keeps every complete subtree (about
 * 64 bytes per leaf), so the root of any size <= n and every proof take
 * O(log n) hashes.
 */
struct lg_merkle;

struct lg_merkle *lg_merkle_new(void);
void lg_merkle_free(struct lg_merkle *);
/* Append a leaf hash; 0, or -1 if memory ran out (the tree is unchanged). */
int lg_merkle_append(struct lg_merkle *, const uint8_t leaf[LG_MERKLE_HASH]);
/* Forget the leaves from index size on (never below what was committed: the caller's rule). */
void lg_merkle_truncate(struct lg_merkle *, uint64_t size);
uint64_t lg_merkle_size(const struct lg_merkle *);
/* The leaf hash at index i (< size), or NULL. */
const uint8_t *lg_merkle_leaf(const struct lg_merkle *, uint64_t i);
/* The root of the first `size` leaves (size <= n; 0 gives SHA-256 of nothing). 0 or -1. */
int lg_merkle_root(const struct lg_merkle *, uint64_t size, uint8_t out[LG_MERKLE_HASH]);
/*
 * The inclusion proof of leaf `index` in the tree of the first `size` leaves
 * (RFC 9162 §2.1.3.1), deepest sibling first, into proof; *n gets its length.
 * -1 if index >= size or size > n.
 */
int lg_merkle_inclusion(const struct lg_merkle *, uint64_t index, uint64_t size,
                        uint8_t proof[][LG_MERKLE_HASH], size_t *n);
/* The consistency proof between sizes old <= new (RFC 9162 §2.1.4.1). -1 if out of range. */
int lg_merkle_consistency(const struct lg_merkle *, uint64_t old, uint64_t new_size,
                          uint8_t proof[][LG_MERKLE_HASH], size_t *n);

/*
 * The root of a stream of leaves in O(log n) memory: the roots of the
 * complete subtrees of the leaves so far (h[k] when bit k of size is set).
 * What a verifier needs that reads a log once from start to end.
 */
struct lg_merkle_range {
	uint64_t size;
	uint8_t h[64][LG_MERKLE_HASH];
};

void lg_merkle_range_init(struct lg_merkle_range *);
/* Add the next leaf hash. */
void lg_merkle_range_append(struct lg_merkle_range *, const uint8_t leaf[LG_MERKLE_HASH]);
/* The root of the leaves so far (SHA-256 of nothing for none). */
void lg_merkle_range_root(const struct lg_merkle_range *, uint8_t out[LG_MERKLE_HASH]);

/* Whether proof shows leaf at index in the tree of `size` leaves with this root (§2.1.3.2). */
bool lg_merkle_verify_inclusion(const uint8_t leaf[LG_MERKLE_HASH], uint64_t index, uint64_t size,
                                const uint8_t proof[][LG_MERKLE_HASH], size_t n,
                                const uint8_t root[LG_MERKLE_HASH]);
/* Whether proof shows the tree of size old (old_root) is a prefix of size new (§2.1.4.2). */
bool lg_merkle_verify_consistency(uint64_t old, uint64_t new_size,
                                  const uint8_t old_root[LG_MERKLE_HASH],
                                  const uint8_t new_root[LG_MERKLE_HASH],
                                  const uint8_t proof[][LG_MERKLE_HASH], size_t n);

#endif
