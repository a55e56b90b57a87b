/*
 * The student table: every student's lesson clock, shared by all worker
 * threads (behind the memory store, lib/store/store_memory.c).
 */
#ifndef LG_STUDENTS_H
#define LG_STUDENTS_H

#include <stddef.h>
#include <stdint.h>

#include "policy.h"

struct lg_students;

/* A held entry: its shard stays locked until lg_students_release. */
struct lg_students_ref {
	void *shard;
};

/*
 * A table sized for about `expected` students (it grows past that) with
 * `shards` independently locked parts (rounded up to a power of two; 0: 16).
 * Student ids are hashed with a random per-table key (SipHash-2-4, 128 bits),
 * so a client cannot choose ids that collide.
 */
struct lg_students *lg_students_new(size_t expected, unsigned shards);
void lg_students_free(struct lg_students *);

/* A student id, hashed once: what the table is indexed by. */
struct lg_student_key {
	uint64_t h[2];
};

/* Hash a student id with the table's key. */
void lg_students_key(const struct lg_students *, const char *id, size_t len,
		     struct lg_student_key *);
/*
 * Start loading the student's slot into the cache, without locking. A
 * caller that knows the student early (when the token is verified) and
 * decides later overlaps the memory access with its other work.
 */
void lg_students_prefetch(struct lg_students *, const struct lg_student_key *);
/* acquire and find by key. */
struct lg_student_state *lg_students_acquire_key(struct lg_students *, const struct lg_student_key *,
						 struct lg_students_ref *ref);
struct lg_student_state *lg_students_find_key(struct lg_students *, const struct lg_student_key *,
					      struct lg_students_ref *ref);

/*
 * Lock and return the state of student `id`, creating a fresh one if absent.
 * Call lg_students_release(ref) when done; hold it only briefly.
 */
struct lg_student_state *lg_students_acquire(struct lg_students *, const char *id, size_t len,
                                             struct lg_students_ref *ref);
/* Like acquire, but NULL (and nothing held) if the student is not in the table. */
struct lg_student_state *lg_students_find(struct lg_students *, const char *id, size_t len,
                                          struct lg_students_ref *ref);
void lg_students_release(struct lg_students_ref *ref);

/*
 * Forget students whose state no longer matters (lg_policy_state_live),
 * visiting at most `max_shards` shards from where the last call stopped.
 * Returns how many were removed.
 */
size_t lg_students_expire(struct lg_students *, const struct lg_policy *, int64_t now,
                          unsigned max_shards);

/*
 * For a store that persists the table (lib/store/store_local.c). Use the hash key
 * `key` instead of the random one (only while the table is empty), so keys
 * saved by an earlier process find the same students.
 */
void lg_students_set_key(struct lg_students *, const uint8_t key[16]);
/* The shard (0 .. shards-1) a key lives in. */
unsigned lg_students_shard_index(const struct lg_students *, const struct lg_student_key *);
/* Call fn(arg) with shard i locked (nothing else may be called on the table from fn). */
void lg_students_locked(struct lg_students *, unsigned i, void (*fn)(void *), void *arg);
/* Call fn for every student of shard i, with the shard locked. */
void lg_students_each(struct lg_students *, unsigned i,
                      void (*fn)(void *arg, const struct lg_student_key *,
                                 const struct lg_student_state *),
                      void *arg);
/* Call fn(arg, shard, key) under the shard lock for every student the sweep removes. */
void lg_students_on_remove(struct lg_students *,
                           void (*fn)(void *arg, unsigned shard, const struct lg_student_key *),
                           void *arg);

size_t lg_students_count(struct lg_students *);
/* Bytes held by the table (slots and shard headers). */
size_t lg_students_memory(const struct lg_students *);
unsigned lg_students_shards(const struct lg_students *);

#endif
