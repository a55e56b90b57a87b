/* Counts per key (a client address, a student): take one under a cap, give it back. */
#ifndef LG_COUNTS_H
#define LG_COUNTS_H

#include <stddef.h>
#include <stdint.h>

/*
 * A table of counts keyed by byte strings, hashed with SipHash under the
 * caller's random key (clients choose the keys). A key's entry exists only
 * while its count is above zero, so the table holds what is open, no more.
 * Not locked: the caller serialises access.
 */
struct lg_counts;

/* An empty table; key is the SipHash key (16 random bytes). */
struct lg_counts *lg_counts_new(const uint8_t key[16]);
void lg_counts_free(struct lg_counts *);
/* Add one to key's count unless it is already max (0: no cap); 0 if added, -1 if at the cap. */
int lg_counts_acquire(struct lg_counts *, const void *key, size_t len, int64_t max);
/* Take one from key's count (forgetting the key at zero); -1 if key had none. */
int lg_counts_release(struct lg_counts *, const void *key, size_t len);
/* key's current count. */
int64_t lg_counts_get(const struct lg_counts *, const void *key, size_t len);
/* How many keys have a count above zero. */
size_t lg_counts_keys(const struct lg_counts *);

#endif
