/* libFuzzer harness for lib/audit/auditlog.c: the segment reader, and opening whatever a disk holds. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auditlog.h"

/* Stop the run: the harness found a disagreement. */
static void
check(int ok)
{
	if (!ok)
		abort();
}

/* What a walk handed over. */
struct seen {
	uint64_t n, next_off, first;
	size_t nidx;
};

/* Records come in order, one line each, back to back, numbered from first. */
static int
on_record(void *arg, const struct lg_auditlog_entry *e)
{
	struct seen *s = arg;

	check(e->index == s->first + s->n);
	check(e->offset == s->next_off);
	check(memchr(e->data, '\n', e->len) == NULL);
	check((e->stored != NULL) == (s->n < s->nidx));
	s->next_off = e->offset + e->len + 1;
	s->n++;
	return 0;
}

static char dir[64];

/* Empty the log directory. */
static void clear(const char *d);

/* Remove the scratch directory when the fuzzer exits. */
static void
cleanup(void)
{
	clear(dir);
	rmdir(dir);
}

/* Write a file of the log directory. */
static void
put(const char *d, const char *name, const uint8_t *p, size_t n)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", d, name);
	f = fopen(path, "wb");
	check(f != NULL);
	if (n)
		check(fwrite(p, 1, n, f) == n);
	fclose(f);
}

/* Empty the log directory. */
static void
clear(const char *d)
{
	static const char *const names[] = {"00000000000000000000.log", "00000000000000000000.idx",
	                                    "00000000000000000003.log", "00000000000000000003.idx",
	                                    "lock"};
	char path[256];

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", d, names[i]);
		unlink(path);
	}
}

/*
 * Input: a flags byte, a length byte, then that many bytes of index and
 * the segment. Walk it as a last and a middle segment; then, with flag 1,
 * put it on disk (split in two segments with flag 2) and open it: opening
 * must either fail naming a record or give a log that reopens unchanged.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lg_auditlog_segment sg;
	struct lg_auditlog_open_report rep, rep2;
	struct lg_auditlog *l;
	const uint8_t *idx, *seg;
	size_t in, dn;
	uint8_t flags;
	char err[512];

	if (size < 2)
		return 0;
	flags = data[0];
	in = data[1] < size - 2 ? data[1] : size - 2;
	idx = data + 2;
	seg = idx + in;
	dn = size - 2 - in;
	for (int last = 0; last < 2; last++) {
		struct seen s = {0, 0, 7, in / LG_AUDITLOG_IDX_ENTRY};
		check(lg_auditlog_walk(seg, dn, idx, in, 7, last, "x.log", on_record, &s, &sg) ==
		      0);
		check(sg.count == s.n && sg.bytes == s.next_off && sg.bytes <= dn &&
		      sg.file_bytes == dn);
		if (!last)
			check(sg.bytes == dn ||
			      memchr(seg + sg.bytes, '\n', dn - sg.bytes) == NULL);
	}
	if (!(flags & 1))
		return 0;
	if (dir[0] == '\0') {
		snprintf(dir, sizeof(dir), "/tmp/fuzz-auditlog-XXXXXX");
		check(mkdtemp(dir) != NULL);
		atexit(cleanup);
	}
	clear(dir);
	if (flags & 2) {
		/* The first line (if any) as a segment of its own, the rest from record 3 on. */
		const uint8_t *nl = memchr(seg, '\n', dn);
		size_t cut = nl ? (size_t)(nl - seg) + 1 : dn;
		put(dir, "00000000000000000000.log", seg, cut);
		put(dir, "00000000000000000003.log", seg + cut, dn - cut);
		put(dir, "00000000000000000003.idx", idx, in);
	} else {
		put(dir, "00000000000000000000.log", seg, dn);
		put(dir, "00000000000000000000.idx", idx, in);
	}
	l = lg_auditlog_open(dir, 0, &rep, err, sizeof(err));
	if (l == NULL) {
		/* Refusing is fine; what was on disk is left alone. */
		return 0;
	}
	{
		uint64_t n = lg_auditlog_size(l);
		uint8_t r1[32], r2[32];
		struct lg_buf b = {0};
		check(n == rep.records);
		lg_merkle_root(lg_auditlog_tree(l), n, r1);
		for (uint64_t i = 0; i < n; i++)
			check(lg_auditlog_read(l, i, &b, err, sizeof(err)) == 0 &&
			      memchr(b.data, '\n', b.len) == NULL);
		check(lg_auditlog_append(l, "{\"x\":1}", 7, err, sizeof(err)) == 0);
		check(lg_auditlog_sync(l, err, sizeof(err)) == 0);
		lg_auditlog_close(l);
		l = lg_auditlog_open(dir, 0, &rep2, err, sizeof(err));
		check(l != NULL);
		check(rep2.torn_bytes == 0 && rep2.index_rebuilt == 0 && rep2.records == n + 1);
		lg_merkle_root(lg_auditlog_tree(l), n, r2);
		check(memcmp(r1, r2, 32) == 0);
		lg_buf_free(&b);
		lg_auditlog_close(l);
	}
	return 0;
}
