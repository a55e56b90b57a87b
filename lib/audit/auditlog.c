/* The audit log on disk: append-only segment files of records, an index, the Merkle tree. */
#include "auditlog.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

#define DEFAULT_SEGMENT_BYTES (64ull << 20)
#define NAME_LEN              32

struct lg_auditlog {
	char *dir;
	int dirfd, lockfd;
	uint64_t segment_bytes;
	struct lg_merkle *tree;
	uint64_t *ends; /* ends[i]: offset just past record i's newline in its segment */
	uint64_t ends_cap;
	uint64_t *firsts; /* first index of each segment */
	size_t nsegs, segs_cap;
	int logfd, idxfd; /* the last segment, for appending */
	uint64_t log_bytes, idx_bytes;
	/* Index entries of records written to the last segment but not yet synced. */
	struct lg_buf pidx;
	int readfd; /* one segment open for reading */
	size_t read_seg;
	/* Appended, not yet written. */
	struct lg_buf pdata;
	size_t *plen;
	uint8_t (*phash)[LG_MERKLE_HASH];
	size_t npending, pcap;
	bool broken;
};

/* "NNNNNNNNNNNNNNNNNNNN.ext" of the segment starting at first. */
static void
seg_name(char out[NAME_LEN], uint64_t first, const char *ext)
{
	snprintf(out, NAME_LEN, "%020" PRIu64 ".%s", first, ext);
}

/* Little-endian 64-bit store and load. */
static void
put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t
get_le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* Read a whole file relative to dirfd into *data (NULL and 0 if it does not exist). */
static int
slurp(int dirfd, const char *name, uint8_t **data, size_t *n, char *err, size_t errlen)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	struct stat st;
	size_t got = 0;

	*data = NULL;
	*n = 0;
	if (fd < 0)
		return errno == ENOENT ? 0 : lg_fail(err, errlen, "%s: %s", name, strerror(errno));
	if (fstat(fd, &st) != 0) {
		close(fd);
		return lg_fail(err, errlen, "%s: %s", name, strerror(errno));
	}
	*data = malloc((size_t)st.st_size + 1);
	if (*data == NULL) {
		close(fd);
		return lg_fail(err, errlen, "%s: out of memory", name);
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, *data + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			int e = r < 0 ? errno : EIO;
			close(fd);
			free(*data);
			*data = NULL;
			return lg_fail(err, errlen, "%s: %s", name, strerror(e));
		}
		got += (size_t)r;
	}
	close(fd);
	*n = got;
	return 0;
}

/* Sort segment start indexes. */
static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The first indexes of dir's segments, sorted; -1 if dir cannot be read. */
static int
list_segments(int dirfd, uint64_t **firsts, size_t *n, char *err, size_t errlen)
{
	int fd = dup(dirfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	size_t cap = 0;

	*firsts = NULL;
	*n = 0;
	if (d == NULL) {
		if (fd >= 0)
			close(fd);
		return lg_fail(err, errlen, "cannot list the directory: %s", strerror(errno));
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		const char *s = de->d_name;
		uint64_t v = 0;
		int i;
		for (i = 0; i < 20 && s[i] >= '0' && s[i] <= '9'; i++)
			v = v * 10 + (uint64_t)(s[i] - '0');
		if (i != 20 || strcmp(s + 20, ".log") != 0)
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 16;
			*firsts = lg_xrealloc(*firsts, cap, sizeof(**firsts));
		}
		(*firsts)[(*n)++] = v;
	}
	closedir(d);
	if (*n > 1)
		qsort(*firsts, *n, sizeof(**firsts), cmp_u64);
	return 0;
}

/* Whether a line has a record's shape: a JSON object's braces, no NUL. */
static bool
record_shaped(const uint8_t *p, size_t n)
{
	return n >= 2 && p[0] == '{' && p[n - 1] == '}' && memchr(p, '\0', n) == NULL;
}

/* Walk one segment's bytes and its index's bytes, calling fn for each whole record. */
int
lg_auditlog_walk(const uint8_t *data, size_t dn, const uint8_t *idx, size_t in, uint64_t first,
                 bool last, const char *name, lg_auditlog_scan_fn fn, void *arg,
                 struct lg_auditlog_segment *sg)
{
	uint64_t j = 0, nidx = in / LG_AUDITLOG_IDX_ENTRY;
	size_t off = 0;
	int rc = 0;

	while (off < dn) {
		const uint8_t *p = data + off, *nl = memchr(p, '\n', dn - off);
		struct lg_auditlog_entry e;
		if (nl == NULL)
			break;
		e.index = first + j;
		e.data = (const char *)p;
		e.len = (size_t)(nl - p);
		e.stored = j < nidx ? idx + j * LG_AUDITLOG_IDX_ENTRY + 8 : NULL;
		if (e.stored == NULL && last && !record_shaped(p, e.len))
			break; /* garbage a crash left after the last record: torn */
		e.stored_end_ok =
		    e.stored && get_le64(idx + j * LG_AUDITLOG_IDX_ENTRY) == off + e.len + 1;
		e.segment = name;
		e.offset = off;
		if (fn && (rc = fn(arg, &e)) != 0)
			break;
		off += e.len + 1;
		j++;
	}
	sg->first = first;
	sg->count = j;
	sg->bytes = off;
	sg->file_bytes = dn;
	sg->idx_count = nidx;
	return rc;
}

/* Scan the open directory dirfd. */
static int
scan_fd(int dirfd, lg_auditlog_scan_fn fn, void *arg, struct lg_auditlog_scan_result *res,
        char *err, size_t errlen)
{
	uint64_t *firsts, next = 0;
	size_t nseg;
	int rc = 0;

	memset(res, 0, sizeof(*res));
	res->bad_index = LG_AUDITLOG_NONE;
	if (list_segments(dirfd, &firsts, &nseg, err, errlen) != 0)
		return -1;
	res->segments = lg_xcalloc(nseg ? nseg : 1, sizeof(*res->segments));
	res->nsegments = nseg;
	for (size_t k = 0; k < nseg && rc == 0; k++) {
		struct lg_auditlog_segment *sg = &res->segments[k];
		char lname[NAME_LEN], iname[NAME_LEN];
		uint8_t *data, *idx;
		size_t dn, in, off;
		uint64_t j, nidx;
		bool last = k + 1 == nseg;

		seg_name(lname, firsts[k], "log");
		seg_name(iname, firsts[k], "idx");
		sg->first = firsts[k];
		if (firsts[k] != next) {
			res->bad_index = next < firsts[k] ? next : firsts[k];
			rc = lg_fail(
			    err, errlen,
			    "segment %s starts at record %" PRIu64 ", but the segment before ends "
			    "at record %" PRIu64 " (records %s)",
			    lname, firsts[k], next, next < firsts[k] ? "are missing" : "overlap");
			break;
		}
		if (slurp(dirfd, lname, &data, &dn, err, errlen) != 0) {
			rc = -1;
			break;
		}
		if (slurp(dirfd, iname, &idx, &in, err, errlen) != 0) {
			free(data);
			rc = -1;
			break;
		}
		rc = lg_auditlog_walk(data, dn, idx, in, firsts[k], last, lname, fn, arg, sg);
		j = sg->count;
		off = (size_t)sg->bytes;
		nidx = sg->idx_count;
		res->records += j;
		next = firsts[k] + j;
		if (rc == 0 && off < dn) {
			if (last) {
				res->torn_bytes = dn - off;
			} else {
				res->bad_index = next;
				rc = lg_fail(err, errlen,
				             "segment %s ends inside record %" PRIu64
				             " (%zu bytes after "
				             "the last whole record), and another segment follows",
				             lname, next, dn - off);
			}
		}
		if (rc == 0 && !last && nidx > j) {
			res->bad_index = next;
			rc = lg_fail(err, errlen,
			             "segment %s has %" PRIu64 " records but its index %" PRIu64
			             ": records from %" PRIu64 " on are missing",
			             lname, j, nidx, next);
		}
		free(data);
		free(idx);
	}
	free(firsts);
	return rc;
}

/* Scan every segment of dir in order. */
int
lg_auditlog_scan(const char *dir, lg_auditlog_scan_fn fn, void *arg,
                 struct lg_auditlog_scan_result *res, char *err, size_t errlen)
{
	int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;

	memset(res, 0, sizeof(*res));
	res->bad_index = LG_AUDITLOG_NONE;
	if (dirfd < 0)
		return lg_fail(err, errlen, "%s: %s", dir, strerror(errno));
	rc = scan_fd(dirfd, fn, arg, res, err, errlen);
	close(dirfd);
	return rc;
}

/* Remember where record i ends. */
static void
push_end(struct lg_auditlog *l, uint64_t i, uint64_t end)
{
	if (i >= l->ends_cap) {
		l->ends_cap = l->ends_cap ? l->ends_cap * 2 : 1024;
		l->ends = lg_xrealloc(l->ends, l->ends_cap, sizeof(*l->ends));
	}
	l->ends[i] = end;
}

/* Remember a segment's first index. */
static void
push_segment(struct lg_auditlog *l, uint64_t first)
{
	if (l->nsegs == l->segs_cap) {
		l->segs_cap = l->segs_cap ? l->segs_cap * 2 : 16;
		l->firsts = lg_xrealloc(l->firsts, l->segs_cap, sizeof(*l->firsts));
	}
	l->firsts[l->nsegs++] = first;
}

/* What opening needs from the scan. */
struct open_ctx {
	struct lg_auditlog *l;
	char *err;
	size_t errlen;
	uint64_t bad;
};

/* Check one record against its index entry and add it to the tree. */
static int
open_record(void *arg, const struct lg_auditlog_entry *e)
{
	struct open_ctx *c = arg;
	uint8_t h[LG_MERKLE_HASH];

	lg_merkle_leaf_hash(e->data, e->len, h);
	if (e->stored && (!e->stored_end_ok || memcmp(h, e->stored, LG_MERKLE_HASH) != 0)) {
		c->bad = e->index;
		return lg_fail(c->err, c->errlen,
		               "record %" PRIu64 " (%s at byte %" PRIu64
		               ") does not match its index "
		               "entry: the log was damaged or altered; it is left as it is",
		               e->index, e->segment, e->offset);
	}
	if (lg_merkle_append(c->l->tree, h) != 0)
		abort();
	push_end(c->l, e->index, e->offset + e->len + 1);
	return 0;
}

/* Write all of buf to fd. */
static int
write_all(int fd, const void *buf, size_t n)
{
	const uint8_t *p = buf;

	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Open (creating) one file of a segment for appending. */
static int
open_append(int dirfd, uint64_t first, const char *ext, bool create)
{
	char name[NAME_LEN];

	seg_name(name, first, ext);
	return openat(dirfd, name,
	              O_WRONLY | O_APPEND | O_CLOEXEC | (create ? O_CREAT | O_EXCL : O_CREAT),
	              0640);
}

/* Index entries for records [from, to) of the segment starting at first. */
static int
write_index_entries(struct lg_auditlog *l, int fd, uint64_t from, uint64_t to)
{
	uint8_t e[LG_AUDITLOG_IDX_ENTRY];

	for (uint64_t i = from; i < to; i++) {
		put_le64(e, l->ends[i]);
		memcpy(e + 8, lg_merkle_leaf(l->tree, i), LG_MERKLE_HASH);
		if (write_all(fd, e, sizeof(e)) != 0)
			return -1;
	}
	return 0;
}

/* Repair a segment's index after a crash: cut partial or extra entries, add missing ones. */
static int
repair_index(struct lg_auditlog *l, const struct lg_auditlog_segment *sg, uint64_t *rebuilt,
             char *err, size_t errlen)
{
	char name[NAME_LEN];
	uint64_t keep = sg->idx_count < sg->count ? sg->idx_count : sg->count;
	int fd;
	struct stat st;

	seg_name(name, sg->first, "idx");
	if ((fd = openat(l->dirfd, name, O_WRONLY | O_CREAT | O_CLOEXEC, 0640)) < 0 ||
	    fstat(fd, &st) != 0)
		goto bad;
	if ((uint64_t)st.st_size == sg->count * LG_AUDITLOG_IDX_ENTRY) {
		close(fd);
		return 0;
	}
	if (ftruncate(fd, (off_t)(keep * LG_AUDITLOG_IDX_ENTRY)) != 0 ||
	    lseek(fd, 0, SEEK_END) < 0 ||
	    write_index_entries(l, fd, sg->first + keep, sg->first + sg->count) != 0 ||
	    fsync(fd) != 0)
		goto bad;
	*rebuilt += sg->count - keep;
	close(fd);
	return 0;
bad:
	lg_fail(err, errlen, "%s/%s: %s", l->dir, name, strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

/* Open the log in dir for appending. */
struct lg_auditlog *
lg_auditlog_open(const char *dir, uint64_t segment_bytes, struct lg_auditlog_open_report *rep,
                 char *err, size_t errlen)
{
	struct lg_auditlog *l = lg_xcalloc(1, sizeof(*l));
	struct lg_auditlog_scan_result res;
	struct open_ctx c = {l, err, errlen, LG_AUDITLOG_NONE};
	struct lg_auditlog_segment *last;
	char name[NAME_LEN];

	memset(rep, 0, sizeof(*rep));
	rep->bad_index = LG_AUDITLOG_NONE;
	memset(&res, 0, sizeof(res));
	l->dir = lg_strdup(dir);
	l->logfd = l->idxfd = l->readfd = l->lockfd = -1;
	l->segment_bytes = segment_bytes ? segment_bytes : DEFAULT_SEGMENT_BYTES;
	l->tree = lg_merkle_new();
	if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
		lg_fail(err, errlen, "%s: cannot create the directory: %s", dir, strerror(errno));
		goto bad;
	}
	if ((l->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		lg_fail(err, errlen, "%s: %s", dir, strerror(errno));
		goto bad;
	}
	if ((l->lockfd = openat(l->dirfd, "lock", O_RDWR | O_CREAT | O_CLOEXEC, 0640)) < 0 ||
	    flock(l->lockfd, LOCK_EX | LOCK_NB) != 0) {
		lg_fail(err, errlen, "%s: %s", dir,
		        errno == EWOULDBLOCK ? "another process has this audit log open"
		                             : strerror(errno));
		goto bad;
	}
	if (scan_fd(l->dirfd, open_record, &c, &res, err, errlen) != 0) {
		rep->bad_index = c.bad != LG_AUDITLOG_NONE ? c.bad : res.bad_index;
		goto bad;
	}
	rep->records = res.records;
	for (size_t k = 0; k < res.nsegments; k++) {
		push_segment(l, res.segments[k].first);
		if (repair_index(l, &res.segments[k], &rep->index_rebuilt, err, errlen) != 0)
			goto bad;
	}
	if (res.nsegments == 0) {
		push_segment(l, 0);
		if ((l->logfd = open_append(l->dirfd, 0, "log", false)) < 0 ||
		    (l->idxfd = open_append(l->dirfd, 0, "idx", false)) < 0 ||
		    fsync(l->dirfd) != 0) {
			lg_fail(err, errlen, "%s: cannot create the first segment: %s", dir,
			        strerror(errno));
			goto bad;
		}
	} else {
		last = &res.segments[res.nsegments - 1];
		seg_name(name, last->first, "log");
		if ((l->logfd = open_append(l->dirfd, last->first, "log", false)) < 0 ||
		    (l->idxfd = open_append(l->dirfd, last->first, "idx", false)) < 0) {
			lg_fail(err, errlen, "%s/%s: %s", dir, name, strerror(errno));
			goto bad;
		}
		if (res.torn_bytes) {
			/* A crash cut the last write short: cut back to the last whole record. */
			if (ftruncate(l->logfd, (off_t)last->bytes) != 0 || fsync(l->logfd) != 0) {
				lg_fail(err, errlen, "%s/%s: cannot cut the torn tail: %s", dir,
				        name, strerror(errno));
				goto bad;
			}
			rep->torn_bytes = res.torn_bytes;
		}
		l->log_bytes = last->bytes;
		l->idx_bytes = last->count * LG_AUDITLOG_IDX_ENTRY;
	}
	free(res.segments);
	return l;
bad:
	free(res.segments);
	lg_auditlog_close(l);
	return NULL;
}

/* Write out what is pending and close. */
void
lg_auditlog_close(struct lg_auditlog *l)
{
	if (l == NULL)
		return;
	if ((l->npending || l->pidx.len) && !l->broken)
		lg_auditlog_sync(l, NULL, 0);
	if (l->idxfd >= 0 && !l->broken)
		fdatasync(l->idxfd);
	int fds[] = {l->logfd, l->idxfd, l->readfd, l->lockfd, l->dirfd};
	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
		if (fds[i] >= 0)
			close(fds[i]);
	lg_merkle_free(l->tree);
	lg_buf_free(&l->pdata);
	lg_buf_free(&l->pidx);
	free(l->plen);
	free(l->phash);
	free(l->ends);
	free(l->firsts);
	free(l->dir);
	free(l);
}

/* Records written. */
uint64_t
lg_auditlog_size(const struct lg_auditlog *l)
{
	return lg_merkle_size(l->tree);
}

/* The index the next appended record gets. */
uint64_t
lg_auditlog_next_index(const struct lg_auditlog *l)
{
	return lg_merkle_size(l->tree) + l->npending;
}

/* The tree over the written records. */
const struct lg_merkle *
lg_auditlog_tree(const struct lg_auditlog *l)
{
	return l->tree;
}

/* Queue one record. */
int
lg_auditlog_append(struct lg_auditlog *l, const char *rec, size_t len, char *err, size_t errlen)
{
	if (l->broken)
		return lg_fail(err, errlen, "the audit log failed to sync and must be reopened");
	if (len == 0 || memchr(rec, '\n', len) || memchr(rec, '\0', len))
		return lg_fail(err, errlen,
		               "a record must be one non-empty line without NUL bytes");
	if (len >= l->segment_bytes)
		return lg_fail(err, errlen, "a record of %zu bytes does not fit in a segment", len);
	if (l->npending == l->pcap) {
		l->pcap = l->pcap ? l->pcap * 2 : 64;
		l->plen = lg_xrealloc(l->plen, l->pcap, sizeof(*l->plen));
		l->phash = lg_xrealloc(l->phash, l->pcap, sizeof(*l->phash));
	}
	lg_merkle_leaf_hash(rec, len, l->phash[l->npending]);
	l->plen[l->npending++] = len + 1;
	lg_buf_add(&l->pdata, rec, len);
	lg_buf_add(&l->pdata, "\n", 1);
	return 0;
}

/*
 * Write the index entries of synced records. The index never runs ahead of
 * the segment on disk: an entry is written only once its record is durable,
 * so after a crash an entry without its record is damage, not a torn write.
 * 0, or -1 (the entries are kept for the next try; the records are safe).
 */
static int
write_index(struct lg_auditlog *l)
{
	if (l->pidx.len == 0)
		return 0;
	if (write_all(l->idxfd, l->pidx.data, l->pidx.len) != 0) {
		if (ftruncate(l->idxfd, (off_t)l->idx_bytes) != 0)
			l->broken = true;
		return -1;
	}
	l->idx_bytes += l->pidx.len;
	l->pidx.len = 0;
	return 0;
}

/* Close the last segment (synced) and start a new one at the next record. */
static int
rotate(struct lg_auditlog *l, char *err, size_t errlen)
{
	uint64_t first = lg_merkle_size(l->tree);
	int logfd, idxfd;

	if (fdatasync(l->logfd) != 0) {
		l->broken = true;
		return lg_fail(err, errlen, "%s: fdatasync: %s", l->dir, strerror(errno));
	}
	/* The old segment's index: best effort (what is missing is rebuilt at open). */
	if (write_index(l) == 0)
		fdatasync(l->idxfd);
	l->pidx.len = 0;
	if ((logfd = open_append(l->dirfd, first, "log", true)) < 0)
		return lg_fail(err, errlen, "%s: cannot start a segment: %s", l->dir,
		               strerror(errno));
	if ((idxfd = open_append(l->dirfd, first, "idx", true)) < 0 || fsync(l->dirfd) != 0) {
		char name[NAME_LEN];
		int e = errno;
		if (idxfd >= 0)
			close(idxfd);
		close(logfd);
		seg_name(name, first, "log");
		unlinkat(l->dirfd, name, 0);
		return lg_fail(err, errlen, "%s: cannot start a segment: %s", l->dir, strerror(e));
	}
	close(l->logfd);
	close(l->idxfd);
	l->logfd = logfd;
	l->idxfd = idxfd;
	l->log_bytes = l->idx_bytes = 0;
	push_segment(l, first);
	return 0;
}

/* Drop what is queued. */
static void
drop_pending(struct lg_auditlog *l)
{
	l->npending = 0;
	l->pdata.len = 0;
}

/* Write queued records to the segment and index files. */
int
lg_auditlog_flush(struct lg_auditlog *l, char *err, size_t errlen)
{
	size_t i = 0, off = 0;

	if (l->broken) {
		drop_pending(l);
		return lg_fail(err, errlen, "the audit log failed to sync and must be reopened");
	}
	while (i < l->npending) {
		size_t j = i, bytes = 0;
		uint64_t base = lg_merkle_size(l->tree);

		if (l->log_bytes > 0 && l->log_bytes + l->plen[i] > l->segment_bytes &&
		    rotate(l, err, errlen) != 0)
			goto bad;
		while (j < l->npending &&
		       (j == i || l->log_bytes + bytes + l->plen[j] <= l->segment_bytes))
			bytes += l->plen[j++];
		if (write_all(l->logfd, l->pdata.data + off, bytes) != 0) {
			int e = errno;
			/* Cut back what part of this batch reached the file: all or nothing. */
			if (ftruncate(l->logfd, (off_t)l->log_bytes) != 0)
				l->broken = true;
			lg_fail(err, errlen, "%s: cannot write records %" PRIu64 "..: %s", l->dir,
			        base, strerror(e));
			goto bad;
		}
		for (size_t k = i; k < j; k++) {
			uint8_t e[LG_AUDITLOG_IDX_ENTRY];
			l->log_bytes += l->plen[k];
			if (lg_merkle_append(l->tree, l->phash[k]) != 0)
				abort();
			push_end(l, lg_merkle_size(l->tree) - 1, l->log_bytes);
			put_le64(e, l->log_bytes);
			memcpy(e + 8, l->phash[k], LG_MERKLE_HASH);
			lg_buf_add(&l->pidx, (const char *)e, sizeof(e));
		}
		off += bytes;
		i = j;
	}
	drop_pending(l);
	return 0;
bad:
	drop_pending(l);
	return -1;
}

/* Flush, then make everything appended durable. */
int
lg_auditlog_sync(struct lg_auditlog *l, char *err, size_t errlen)
{
	if (lg_auditlog_flush(l, err, errlen) != 0)
		return -1;
	if (fdatasync(l->logfd) != 0) {
		l->broken = true;
		return lg_fail(err, errlen, "%s: fdatasync: %s", l->dir, strerror(errno));
	}
	write_index(l); /* not synced: an index that lags is rebuilt at open */
	return 0;
}

/* Record i into out. */
int
lg_auditlog_read(struct lg_auditlog *l, uint64_t i, struct lg_buf *out, char *err, size_t errlen)
{
	size_t lo = 0, hi = l->nsegs, s;
	uint64_t start, len;
	char name[NAME_LEN];

	if (i >= lg_merkle_size(l->tree))
		return lg_fail(err, errlen,
		               "record %" PRIu64 " is not in the log (%" PRIu64 " records)", i,
		               lg_merkle_size(l->tree));
	while (hi - lo > 1) {
		size_t mid = (lo + hi) / 2;
		if (l->firsts[mid] <= i)
			lo = mid;
		else
			hi = mid;
	}
	s = lo;
	start = i == l->firsts[s] ? 0 : l->ends[i - 1];
	len = l->ends[i] - start - 1;
	if (l->readfd < 0 || l->read_seg != s) {
		if (l->readfd >= 0)
			close(l->readfd);
		seg_name(name, l->firsts[s], "log");
		if ((l->readfd = openat(l->dirfd, name, O_RDONLY | O_CLOEXEC)) < 0)
			return lg_fail(err, errlen, "%s/%s: %s", l->dir, name, strerror(errno));
		l->read_seg = s;
	}
	out->len = 0;
	if (out->cap < len + 1) {
		out->data = lg_xrealloc(out->data, len + 1, 1);
		out->cap = len + 1;
	}
	for (uint64_t got = 0; got < len;) {
		ssize_t r = pread(l->readfd, out->data + got, len - got, (off_t)(start + got));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return lg_fail(err, errlen, "record %" PRIu64 ": %s", i,
			               r < 0 ? strerror(errno)
			                     : "the segment is shorter than its index says");
		got += (uint64_t)r;
	}
	out->len = len;
	out->data[len] = '\0';
	return 0;
}
