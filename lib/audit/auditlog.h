/* The audit log on disk: append-only segment files of records, an index, the Merkle tree. */
#ifndef LG_AUDITLOG_H
#define LG_AUDITLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "merkle.h"
#include "render.h"

/*
 * DIR/NNNNNNNNNNNNNNNNNNNN.log holds records from index N (20 digits) on,
 * each one line: the record's bytes, as hashed and served, then "\n".
 * DIR/NNNNNNNNNNNNNNNNNNNN.idx holds 40 bytes per record of that segment: the
 * offset just past its newline (8 bytes, little-endian) and its leaf hash
 * SHA-256(0x00 || record). The index is derived data: it finds record i
 * without reading the segment, and it tells a damaged record from a torn
 * write at open. No threads, no event loop: the daemon's writer thread calls
 * this, and group commit is the caller's: append a batch, then sync.
 */

#define LG_AUDITLOG_IDX_ENTRY 40
#define LG_AUDITLOG_NONE      UINT64_MAX

/* One segment as found on disk. */
struct lg_auditlog_segment {
	uint64_t first;     /* index of its first record */
	uint64_t count;     /* whole records in it */
	uint64_t idx_count; /* whole entries in its index file */
	uint64_t bytes;     /* bytes of whole records (the rest is a torn tail) */
	uint64_t file_bytes;
};

/* What a scan found, besides the records. */
struct lg_auditlog_scan_result {
	uint64_t records;
	uint64_t torn_bytes; /* after the last whole record of the last segment */
	uint64_t bad_index;  /* a structural problem's first record, or LG_AUDITLOG_NONE */
	struct lg_auditlog_segment *segments;
	size_t nsegments;
};

/* One record, as a scan hands it over. */
struct lg_auditlog_entry {
	uint64_t index;
	const char *data; /* without its newline */
	size_t len;
	const uint8_t *stored; /* its leaf hash in the index file, NULL if the index ends before */
	bool stored_end_ok;    /* the index file's offset for it agrees with the segment */
	const char *segment;   /* file name */
	uint64_t offset;       /* in the segment */
};

/* Called for each record in order; non-zero stops the scan (and is returned). */
typedef int (*lg_auditlog_scan_fn)(void *arg, const struct lg_auditlog_entry *);

/*
 * Walk one segment: its bytes (data) and its index file's (idx). fn is called
 * for each whole record, numbered from first; in the log's last segment
 * (last), a line that is not indexed and cannot be a record ends the walk as
 * a torn tail. Fills sg; 0, or what fn returned. No I/O: the scan's core.
 */
int lg_auditlog_walk(const uint8_t *data, size_t dn, const uint8_t *idx, size_t in, uint64_t first,
                     bool last, const char *name, lg_auditlog_scan_fn fn, void *arg,
                     struct lg_auditlog_segment *sg);

/*
 * Read every segment of dir in order and call fn for each whole record.
 * Lines after the last whole record of the last segment that cannot be
 * records (no newline, or not a JSON object's shape, and not in the index)
 * are a torn tail: counted, not passed on. 0; -1 with the reason in err
 * (naming the first record concerned in res->bad_index where there is one);
 * or what fn returned. Free res->segments with free().
 */
int lg_auditlog_scan(const char *dir, lg_auditlog_scan_fn fn, void *arg,
                     struct lg_auditlog_scan_result *res, char *err, size_t errlen);

struct lg_auditlog;

/* What opening found and repaired. */
struct lg_auditlog_open_report {
	uint64_t records;
	uint64_t torn_bytes;    /* cut from the end of the last segment */
	uint64_t index_rebuilt; /* index entries written for records that had none */
	uint64_t bad_index;     /* a damaged record, or LG_AUDITLOG_NONE */
};

/*
 * Open the log in dir (created, mode 0750, if missing) for appending, locked
 * against a second writer: every record is read and hashed, compared with
 * its index entry, and the Merkle tree rebuilt. A torn tail is cut back to
 * the last whole record and missing index entries are written; a record
 * that does not match its index entry, or a gap between segments, is an
 * error naming its index (rep->bad_index), never dropped: history is not
 * rewritten. segment_bytes: start a new segment past this size (0: 64 MiB).
 */
struct lg_auditlog *lg_auditlog_open(const char *dir, uint64_t segment_bytes,
                                     struct lg_auditlog_open_report *rep, char *err, size_t errlen);
/* Write out what is pending (not synced) and close. */
void lg_auditlog_close(struct lg_auditlog *);

/* Records written (readable, in the tree); appended ones become so at flush/sync. */
uint64_t lg_auditlog_size(const struct lg_auditlog *);
/* The index the next appended record gets. */
uint64_t lg_auditlog_next_index(const struct lg_auditlog *);
/* The tree over the written records. */
const struct lg_merkle *lg_auditlog_tree(const struct lg_auditlog *);

/* Queue one record (no newline in it); 0, or -1 with the reason. Written by flush or sync. */
int lg_auditlog_append(struct lg_auditlog *, const char *rec, size_t len, char *err, size_t errlen);
/*
 * Write queued records to the segment file (rotating segments); readable
 * and in the tree from then on, durable after sync.
 * On a write error (disk full, I/O) the files are cut back, the queued
 * records are dropped (their callers learn they failed) and -1 returned;
 * appending may be tried again later.
 */
int lg_auditlog_flush(struct lg_auditlog *, char *err, size_t errlen);
/*
 * Flush, then fdatasync the segment: every record appended so far is
 * durable when this returns 0. Only then are their index entries written
 * (not synced: an index that lags is rebuilt at open, one that runs ahead
 * never exists). After a failed sync the log refuses appends until reopened
 * (the kernel may have dropped the pages).
 */
int lg_auditlog_sync(struct lg_auditlog *, char *err, size_t errlen);

/* Record i (< size) into out (replacing its content, no newline). 0, or -1 with the reason. */
int lg_auditlog_read(struct lg_auditlog *, uint64_t i, struct lg_buf *out, char *err,
                     size_t errlen);

#endif
