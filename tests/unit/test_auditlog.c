/* Tests for lib/audit/auditlog.c: append and reopen, segments, torn tails, damage named by index. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auditlog.h"

static char dir[64];

/* A fresh directory for each test. */
static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/lg-auditlog-XXXXXX");
	assert_non_null(mkdtemp(dir));
	return 0;
}

/* Remove the directory. */
static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd);
}

/* Record i's text. */
static int
record(uint64_t i, char *out, size_t cap)
{
	return snprintf(out, cap, "{\"index\":%llu,\"type\":\"deny\",\"pad\":\"%0*d\"}",
	                (unsigned long long)i, (int)(i % 17), 0);
}

/* Open or fail the test with the reason. */
static struct lg_auditlog *
open_log(uint64_t seg, struct lg_auditlog_open_report *rep)
{
	char err[256] = "";
	struct lg_auditlog *l = lg_auditlog_open(dir, seg, rep, err, sizeof(err));

	if (l == NULL)
		fail_msg("open: %s", err);
	return l;
}

/* Append records [from, to) and sync. */
static void
append_range(struct lg_auditlog *l, uint64_t from, uint64_t to)
{
	char rec[128], err[256] = "";

	for (uint64_t i = from; i < to; i++) {
		int n = record(i, rec, sizeof(rec));
		assert_int_equal(lg_auditlog_next_index(l), i);
		assert_int_equal(lg_auditlog_append(l, rec, (size_t)n, err, sizeof(err)), 0);
	}
	if (lg_auditlog_sync(l, err, sizeof(err)) != 0)
		fail_msg("sync: %s", err);
}

/* Every record reads back as written and the root is that of the records' own tree. */
static void
check_log(struct lg_auditlog *l, uint64_t n)
{
	struct lg_merkle *t = lg_merkle_new();
	uint8_t a[32], b[32], h[32];
	struct lg_buf buf = {0};
	char rec[128], err[256];

	assert_int_equal(lg_auditlog_size(l), n);
	for (uint64_t i = 0; i < n; i++) {
		int len = record(i, rec, sizeof(rec));
		if (lg_auditlog_read(l, i, &buf, err, sizeof(err)) != 0)
			fail_msg("read %llu: %s", (unsigned long long)i, err);
		assert_int_equal(buf.len, len);
		assert_memory_equal(buf.data, rec, (size_t)len);
		lg_merkle_leaf_hash(rec, (size_t)len, h);
		lg_merkle_append(t, h);
	}
	assert_int_equal(lg_auditlog_read(l, n, &buf, err, sizeof(err)), -1);
	lg_merkle_root(t, n, a);
	lg_merkle_root(lg_auditlog_tree(l), n, b);
	assert_memory_equal(a, b, 32);
	lg_buf_free(&buf);
	lg_merkle_free(t);
}

/* The path of a file in the log directory. */
static const char *
path(const char *name)
{
	static char p[128];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	return p;
}

/* Size of a file in the log directory. */
static long
fsize(const char *name)
{
	struct stat st;

	return stat(path(name), &st) == 0 ? (long)st.st_size : -1;
}

/* Append raw bytes to a file in the log directory. */
static void
append_bytes(const char *name, const void *p, size_t n)
{
	int fd = open(path(name), O_WRONLY | O_APPEND);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	close(fd);
}

#define SEG0 "00000000000000000000"

/* Append, sync, reopen: the same records and root; appending goes on after them. */
static void
test_append_reopen(void **state)
{
	struct lg_auditlog_open_report rep;
	struct lg_auditlog *l = open_log(0, &rep);
	char err[256];

	(void)state;
	assert_int_equal(rep.records, 0);
	check_log(l, 0);
	append_range(l, 0, 100);
	check_log(l, 100);
	lg_auditlog_close(l);
	l = open_log(0, &rep);
	assert_int_equal(rep.records, 100);
	assert_int_equal(rep.torn_bytes, 0);
	assert_int_equal(rep.index_rebuilt, 0);
	check_log(l, 100);
	/* A second writer is refused while this one has it open. */
	assert_null(lg_auditlog_open(dir, 0, &rep, err, sizeof(err)));
	assert_non_null(strstr(err, "another process"));
	append_range(l, 100, 150);
	/* Records appended but not yet flushed are written at close. */
	{
		char rec[128];
		int n = record(150, rec, sizeof(rec));
		assert_int_equal(lg_auditlog_append(l, rec, (size_t)n, err, sizeof(err)), 0);
		assert_int_equal(lg_auditlog_size(l), 150);
	}
	lg_auditlog_close(l);
	l = open_log(0, &rep);
	check_log(l, 151);
	assert_int_equal(fsize(SEG0 ".idx"), 151 * LG_AUDITLOG_IDX_ENTRY);
	/* Not records: a newline, a NUL, nothing. */
	assert_int_equal(lg_auditlog_append(l, "{\n}", 3, err, sizeof(err)), -1);
	assert_int_equal(lg_auditlog_append(l, "{\0}", 3, err, sizeof(err)), -1);
	assert_int_equal(lg_auditlog_append(l, "", 0, err, sizeof(err)), -1);
	lg_auditlog_close(l);
}

/* Index entries reach the disk only after their records are synced, never before. */
static void
test_index_after_sync(void **state)
{
	struct lg_auditlog_open_report rep;
	struct lg_auditlog *l = open_log(0, &rep);
	char rec[128], err[256] = "";

	(void)state;
	append_range(l, 0, 10);
	assert_int_equal(fsize(SEG0 ".idx"), 10 * LG_AUDITLOG_IDX_ENTRY);
	for (uint64_t i = 10; i < 15; i++) {
		int n = record(i, rec, sizeof(rec));
		assert_int_equal(lg_auditlog_append(l, rec, (size_t)n, err, sizeof(err)), 0);
	}
	assert_int_equal(lg_auditlog_flush(l, err, sizeof(err)), 0);
	/* Written and readable, in the tree, but not durable yet: the index waits. */
	check_log(l, 15);
	assert_true(fsize(SEG0 ".log") > 0);
	assert_int_equal(fsize(SEG0 ".idx"), 10 * LG_AUDITLOG_IDX_ENTRY);
	assert_int_equal(lg_auditlog_sync(l, err, sizeof(err)), 0);
	assert_int_equal(fsize(SEG0 ".idx"), 15 * LG_AUDITLOG_IDX_ENTRY);
	lg_auditlog_close(l);
}

/* Small segments: many files, reads across them, reopen. */
static void
test_segments(void **state)
{
	struct lg_auditlog_open_report rep;
	struct lg_auditlog *l = open_log(1000, &rep);

	(void)state;
	append_range(l, 0, 40);
	append_range(l, 40, 300);
	check_log(l, 300);
	lg_auditlog_close(l);
	{
		struct lg_auditlog_scan_result res;
		char err[256] = "";
		uint64_t next = 0;
		assert_int_equal(lg_auditlog_scan(dir, NULL, NULL, &res, err, sizeof(err)), 0);
		assert_int_equal(res.records, 300);
		assert_true(res.nsegments >= 10);
		for (size_t k = 0; k < res.nsegments; k++) {
			assert_int_equal(res.segments[k].first, next);
			assert_true(res.segments[k].file_bytes <= 1000);
			next += res.segments[k].count;
		}
		free(res.segments);
	}
	l = open_log(1000, &rep);
	check_log(l, 300);
	lg_auditlog_close(l);
}

/* A torn tail is cut back to the last whole record; whole lines the index lacks are kept. */
static void
test_torn_tail(void **state)
{
	struct lg_auditlog_open_report rep;
	struct lg_auditlog *l = open_log(0, &rep);
	char rec[128];
	long before;
	int n;

	(void)state;
	append_range(l, 0, 20);
	lg_auditlog_close(l);
	before = fsize(SEG0 ".log");
	/* Half a record, as a crash in the middle of write(2) leaves it. */
	append_bytes(SEG0 ".log", "{\"index\":20,\"ty", 15);
	l = open_log(0, &rep);
	assert_int_equal(rep.torn_bytes, 15);
	assert_int_equal(fsize(SEG0 ".log"), before);
	check_log(l, 20);
	lg_auditlog_close(l);
	/* Zeros a crash can leave, with a newline after them. */
	append_bytes(SEG0 ".log", "\0\0\0\0\n", 5);
	l = open_log(0, &rep);
	assert_int_equal(rep.torn_bytes, 5);
	check_log(l, 20);
	lg_auditlog_close(l);
	/* A whole record whose index entry never reached the disk: kept, its entry written. */
	n = record(20, rec, sizeof(rec));
	rec[n++] = '\n';
	append_bytes(SEG0 ".log", rec, (size_t)n);
	append_bytes(SEG0 ".idx", "\x01\x02\x03", 3); /* and a partial index entry */
	l = open_log(0, &rep);
	assert_int_equal(rep.torn_bytes, 0);
	assert_int_equal(rep.index_rebuilt, 1);
	check_log(l, 21);
	lg_auditlog_close(l);
	assert_int_equal(fsize(SEG0 ".idx"), 21 * LG_AUDITLOG_IDX_ENTRY);
	/* Index entries for records that never reached the segment are cut. */
	{
		uint8_t extra[LG_AUDITLOG_IDX_ENTRY * 2] = {0};
		append_bytes(SEG0 ".idx", extra, sizeof(extra));
	}
	l = open_log(0, &rep);
	check_log(l, 21);
	append_range(l, 21, 25);
	check_log(l, 25);
	lg_auditlog_close(l);
	assert_int_equal(fsize(SEG0 ".idx"), 25 * LG_AUDITLOG_IDX_ENTRY);
}

/* A damaged record in the middle is reported by index, and the files are left alone. */
static void
test_corrupt_middle(void **state)
{
	struct lg_auditlog_open_report rep;
	struct lg_auditlog *l = open_log(0, &rep);
	char err[256] = "", rec[128];
	long size;
	int fd, n;
	off_t off = 0;

	(void)state;
	append_range(l, 0, 100);
	lg_auditlog_close(l);
	for (int i = 0; i < 50; i++)
		off += record((uint64_t)i, rec, sizeof(rec)) + 1;
	fd = open(path(SEG0 ".log"), O_WRONLY);
	assert_int_equal(pwrite(fd, "X", 1, off + 3), 1); /* inside record 50 */
	close(fd);
	size = fsize(SEG0 ".log");
	assert_null(lg_auditlog_open(dir, 0, &rep, err, sizeof(err)));
	assert_int_equal(rep.bad_index, 50);
	assert_non_null(strstr(err, "record 50 "));
	assert_int_equal(fsize(SEG0 ".log"), size);
	assert_int_equal(fsize(SEG0 ".idx"), 100 * LG_AUDITLOG_IDX_ENTRY);
	/* The same bytes moved: record 50's length changed, so its offset no longer agrees. */
	n = record(50, rec, sizeof(rec));
	(void)n;
	fd = open(path(SEG0 ".log"), O_WRONLY);
	assert_int_equal(pwrite(fd, "{", 1, off), 1);
	assert_int_equal(pwrite(fd, "\n", 1, off + 3), 1);
	close(fd);
	assert_null(lg_auditlog_open(dir, 0, &rep, err, sizeof(err)));
	assert_int_equal(rep.bad_index, 50);
}

/* A missing segment between two others: reported with the first missing index. */
static void
test_missing_segment(void **state)
{
	struct lg_auditlog_open_report rep;
	struct lg_auditlog *l = open_log(500, &rep);
	struct lg_auditlog_scan_result res;
	char err[256] = "";
	uint64_t second;

	(void)state;
	append_range(l, 0, 100);
	lg_auditlog_close(l);
	assert_int_equal(lg_auditlog_scan(dir, NULL, NULL, &res, err, sizeof(err)), 0);
	assert_true(res.nsegments >= 3);
	second = res.segments[1].first;
	free(res.segments);
	{
		char name[64];
		snprintf(name, sizeof(name), "%020llu.log", (unsigned long long)second);
		assert_int_equal(unlink(path(name)), 0);
	}
	assert_null(lg_auditlog_open(dir, 500, &rep, err, sizeof(err)));
	assert_int_equal(rep.bad_index, second);
	assert_non_null(strstr(err, "are missing"));
}

/* A write that fails (file size limit, like a full disk) is undone; writing resumes later. */
static void
test_write_error(void **state)
{
	struct lg_auditlog_open_report rep;
	struct lg_auditlog *l = open_log(0, &rep);
	struct rlimit old, lim;
	char rec[128], err[256] = "";
	long size;

	(void)state;
	append_range(l, 0, 10);
	size = fsize(SEG0 ".log");
	signal(SIGXFSZ, SIG_IGN);
	getrlimit(RLIMIT_FSIZE, &old);
	lim = old;
	lim.rlim_cur = (rlim_t)size + 100;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	for (uint64_t i = 10; i < 20; i++) {
		int n = record(i, rec, sizeof(rec));
		assert_int_equal(lg_auditlog_append(l, rec, (size_t)n, err, sizeof(err)), 0);
	}
	assert_int_equal(lg_auditlog_sync(l, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot write records 10.."));
	assert_int_equal(lg_auditlog_size(l), 10);
	assert_int_equal(lg_auditlog_next_index(l), 10);
	assert_int_equal(fsize(SEG0 ".log"), size);
	assert_int_equal(fsize(SEG0 ".idx"), 10 * LG_AUDITLOG_IDX_ENTRY);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);
	append_range(l, 10, 20);
	check_log(l, 20);
	lg_auditlog_close(l);
	l = open_log(0, &rep);
	check_log(l, 20);
	lg_auditlog_close(l);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_append_reopen, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_index_after_sync, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_segments, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_torn_tail, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_corrupt_middle, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_missing_segment, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_write_error, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
