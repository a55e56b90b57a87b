/*
 * The local store (state.store = "local"), its pure part: the memory store's
 * table, with every change a worker makes to a student's clock also written
 * to a journal that a writer (daemon/store_local.c, LMDB) takes once in a
 * while; and the versioned on-disk encoding of the header and the records.
 *
 * The journal. Each shard of the table has its own bounded journal, appended
 * under the shard lock the worker holds anyway (no extra lock, no wait). A
 * change is recorded only if the student's 16 bytes of state changed (a
 * refusal changes nothing). The writer takes a shard's journal by swapping
 * buffers under that lock (O(1)). A journal that fills before the writer
 * comes is marked overflowed and stops recording; the writer then copies the
 * whole shard instead. Removals logged as such are deleted on disk; removals
 * missed during an overflow leave stale records, which are no longer live and
 * are dropped at the next load.
 *
 * Keys. Records are keyed by the student's 128-bit keyed hash (the table holds
 * no ids, so nothing else is known when a change is written), and the
 * SipHash key is kept in the header so the hashes mean the same students
 * after a restart. The file thus holds no student ids in clear.
 */
#ifndef LG_STORE_LOCAL_H
#define LG_STORE_LOCAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"
#include "students.h"

/* The header record's key: not 16 bytes long, so never a student's. */
#define LG_LOCAL_HEADER_KEY     "lessongate"
#define LG_LOCAL_HEADER_KEY_LEN 10
#define LG_LOCAL_MAGIC          "LGSTATE\n"
#define LG_LOCAL_VERSION        1
/* Encoded sizes: a student key, a student record, the header. */
#define LG_LOCAL_KEY_SIZE    16
#define LG_LOCAL_RECORD_SIZE 16
#define LG_LOCAL_HEADER_SIZE 40

/* The header: magic, format version, record size, the hash key, when the writer last committed. */
struct lg_local_header {
	uint32_t version;
	uint32_t record_size;
	uint8_t hash_key[16];
	int64_t alive_at; /* unix time of the last commit: the writer's process was alive then */
};

/* Encode a header (little-endian). */
void lg_local_header_encode(const struct lg_local_header *, uint8_t out[LG_LOCAL_HEADER_SIZE]);
/*
 * Decode a header: 0, or -1 with what is wrong in `why` (a foreign magic, a
 * version or record size this build does not read, a wrong length).
 */
int lg_local_header_decode(const void *buf, size_t len, struct lg_local_header *, char *why,
                           size_t whylen);
/* Encode a student key (two little-endian 64-bit halves). */
void lg_local_key_encode(const struct lg_student_key *, uint8_t out[LG_LOCAL_KEY_SIZE]);
/* Decode a student key: 0, or -1 if its length is wrong or it is the free-slot key. */
int lg_local_key_decode(const void *buf, size_t len, struct lg_student_key *);
/* Encode a student record: start (i64), last_off (u32), tunnels, lease_until (u16), LE. */
void lg_local_record_encode(const struct lg_student_state *, uint8_t out[LG_LOCAL_RECORD_SIZE]);
/* Decode a student record: 0, or -1 if its length is wrong or it is impossible. */
int lg_local_record_decode(const void *buf, size_t len, struct lg_student_state *);

/*
 * A record written by a process that is gone: its leases are not renewed, so
 * they end. The tunnels were open at least until alive_at (the last commit)
 * and at most until their lease expiry: activity counts until the earlier
 * of the two, never past start + lesson_max.
 */
void lg_local_settle(struct lg_student_state *, int64_t alive_at, int32_t lesson_max);

/* One change for the writer: a student's new state, or its removal. */
struct lg_local_change {
	struct lg_student_key key;
	struct lg_student_state st;
	bool gone;
};

/* Changes each shard's journal holds before it overflows. */
#define LG_LOCAL_JOURNAL 2048

/* A local store for about `expected` students in `shards` shards, hashing ids with `hash_key`. */
struct lg_store *lg_store_local_new(size_t expected, unsigned shards, const uint8_t hash_key[16]);
/* Load a saved student before serving (not journalled). */
void lg_store_local_put(struct lg_store *, const struct lg_student_key *,
                        const struct lg_student_state *);
/* The table (for tests and the benchmark). */
struct lg_students *lg_store_local_table(struct lg_store *);
/*
 * The writer: take every change since the last call, in order per student
 * (consecutive changes of one student in a shard are one), calling fn for
 * each (outside any lock). One thread at a time. Returns how
 * many changes were passed on.
 */
size_t lg_store_local_drain(struct lg_store *, void (*fn)(void *, const struct lg_local_change *),
                            void *arg);
/*
 * Keep only the last of each student's changes in v (n of them), in their
 * order: the writer puts each student once per commit. Returns how many remain.
 */
size_t lg_local_changes_compact(struct lg_local_change *v, size_t n);
/* How full the fullest journal is, in percent (read without locks: a hint). */
unsigned lg_store_local_pressure(struct lg_store *);
/* Call fn(arg) first thing when the store is freed (the writer stops and flushes). */
void lg_store_local_on_free(struct lg_store *, void (*fn)(void *), void *arg);

#endif
