/*
 * The violations index: which records /audit/v1/violations needs. Every
 * deny and forced_close record by index with its time (as the record writes
 * it), in blocks that know their earliest and latest time, so a query by time
 * skips whole blocks and reads only the records whose time matches. Derived
 * data: built from the log at start, kept up to date as records are written.
 */
#ifndef LG_VIOLIDX_H
#define LG_VIOLIDX_H

#include <stddef.h>
#include <stdint.h>

/* Entries per block. */
#define LG_VIOLIDX_BLOCK 1024
/* The longest time kept (RFC 3339 with offset is 25 bytes). */
#define LG_VIOLIDX_TIME 32

struct lg_violidx;

struct lg_violidx *lg_violidx_new(void);
void lg_violidx_free(struct lg_violidx *);
/*
 * Note one record (its bytes as in the log, canonical: {"index":N,"type":..,
 * "time":..,...}): kept if it is a deny or a forced_close. Indexes must
 * grow; a record at or below the last one kept is ignored.
 */
void lg_violidx_add(struct lg_violidx *, uint64_t index, const char *rec, size_t n);
/* Forget the records from index on (records that were never made durable). */
void lg_violidx_truncate(struct lg_violidx *, uint64_t index);
/* The records kept. */
size_t lg_violidx_count(const struct lg_violidx *);
/*
 * Append to *out (grown with realloc; *n its length) the index of every kept
 * record below `below` whose time t has from <= t < to (byte-wise, as the
 * records' local times compare), in index order. Returns the number of
 * blocks looked into (the others were skipped by their time range).
 */
size_t lg_violidx_query(const struct lg_violidx *, const char *from, const char *to, uint64_t below,
                        uint64_t **out, size_t *n);

#endif
