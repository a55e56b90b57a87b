/*
 * Lessons open across a restart. The writer's open-lesson table is memory,
 * keyed by raw student ids that are written nowhere; the log holds only
 * pseudonyms and the local store only keyed hashes, so neither alone can tell
 * the sweep after a restart which store entry a lesson in the log belongs to.
 * This journal does: one line per lesson start (pseudonym, store key, start,
 * class, region, route), made durable before the lesson_start record is. At
 * start the log says which journalled lessons are still open; those go back
 * into the table by store key, and the sweep ends them (at once if their
 * break is over). The journal holds no id in clear: the pseudonym is in the
 * log anyway and the key is the store's own.
 */
#include "auditresume.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auditlog.h"
#include "json.h"
#include "log.h"
#include "render.h"
#include "store.h"
#include "util.h"

/* Compact once the journal holds this many lines more than twice the open lessons. */
#define RESUME_SLACK 4096

struct lgd_resume {
	int fd;
	char *path, *dir;
	struct lg_students *table;
	struct lg_buf pending;
	uint64_t lines;
	uint64_t slack;    /* RESUME_SLACK (tests: $LESSONGATE_TEST_RESUME_SLACK) */
	uint64_t retry_at; /* after a failed compaction: not before this many lines */
	bool dir_unsynced; /* a compaction's rename is not durable yet */
};

/* A journal line, read back. */
struct jent {
	char pseudonym[LG_PSEUDONYM_HEX];
	struct lg_student_key key;
	int64_t start;
	int cls;
	uint32_t region;
	char *route;
	char match[LG_PSEUDONYM_HEX + 48]; /* "PSEUDONYM START-AS-RFC3339" */
	int state;                         /* 0 unknown, 1 started in the log, 2 ended too */
};

/*
 * Cut a torn last line (a write a crash interrupted) so that the next line
 * is not glued onto it: the file then ends after its last newline. 0, or -1
 * (errno set).
 */
static int
cut_torn_tail(int fd, const char *path)
{
	char blk[4096];
	off_t size = lseek(fd, 0, SEEK_END), end = size;

	if (size < 0)
		return -1;
	while (end > 0) { /* end: just past the last newline (0: there is none) */
		size_t n = end < (off_t)sizeof(blk) ? (size_t)end : sizeof(blk), i = n;
		if (pread(fd, blk, n, end - (off_t)n) != (ssize_t)n)
			return -1;
		while (i > 0 && blk[i - 1] != '\n')
			i--;
		end -= (off_t)(n - i);
		if (i > 0)
			break;
	}
	if (end == size)
		return 0;
	if (ftruncate(fd, end) != 0)
		return -1;
	lgd_warn("audit open-lesson journal: torn last line cut", "file=%s bytes=%" PRId64, path,
	         (int64_t)(size - end));
	return 0;
}

/* Open the journal for appending. */
struct lgd_resume *
lgd_resume_open(const char *dir, struct lg_students *table, char *err, size_t errlen)
{
	struct lgd_resume *r = lg_xcalloc(1, sizeof(*r));
	size_t n = strlen(dir) + sizeof(LGD_RESUME_FILE) + 2;
	const char *slack = getenv("LESSONGATE_TEST_RESUME_SLACK");

	r->path = lg_xcalloc(1, n);
	snprintf(r->path, n, "%s/%s", dir, LGD_RESUME_FILE);
	r->dir = lg_strdup(dir);
	r->table = table;
	r->slack = slack ? strtoull(slack, NULL, 10) : RESUME_SLACK;
	r->fd = open(r->path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (r->fd < 0 || cut_torn_tail(r->fd, r->path) != 0) {
		lg_fail(err, errlen, "%s: %s", r->path, strerror(errno));
		lgd_resume_close(r);
		return NULL;
	}
	return r;
}

/* Close the journal. */
void
lgd_resume_close(struct lgd_resume *r)
{
	if (r == NULL)
		return;
	if (r->fd >= 0)
		close(r->fd);
	lg_buf_free(&r->pending);
	free(r->path);
	free(r->dir);
	free(r);
}

/* fsync the journal's directory (a rename in it durable); 0 or -1 (errno set). */
static int
sync_dir(const struct lgd_resume *r)
{
	int fd = open(r->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	close(fd);
	return rc;
}

/* The student's key in the table. */
void
lgd_resume_key(const struct lgd_resume *r, const char *id, size_t len, struct lg_student_key *out)
{
	lg_students_key(r->table, id, len, out);
}

/* The store's table. */
struct lg_students *
lgd_resume_table(const struct lgd_resume *r)
{
	return r->table;
}

/* One journal line for an entry whose key and pseudonym are noted. */
static void
line(struct lg_buf *b, const struct lgd_open_lesson *e)
{
	lg_buf_printf(b, "%s %016" PRIx64 "%016" PRIx64 " %" PRId64 " %d %u ", e->pseudonym,
	              e->key.h[0], e->key.h[1], e->start, e->cls, e->region);
	if (e->route == NULL)
		LG_BUF_LIT(b, "-");
	for (const char *p = e->route; p && *p; p++)
		lg_buf_printf(b, "%02x", (unsigned char)*p);
	LG_BUF_LIT(b, "\n");
}

/* Note a lesson's key and pseudonym, and queue its line. */
void
lgd_resume_note(struct lgd_resume *r, struct lgd_open_lesson *e,
                const uint8_t pseudonym_key[LG_PSEUDONYM_KEY])
{
	lg_students_key(r->table, e->id, e->len, &e->key);
	lg_audit_pseudonym(pseudonym_key, e->id, e->len, e->pseudonym);
	e->noted = true;
	line(&r->pending, e);
	r->lines++;
}

/* Write and sync the queued lines. */
int
lgd_resume_sync(struct lgd_resume *r, char *err, size_t errlen)
{
	size_t off = 0;

	if (r->dir_unsynced) {
		/* Lines on a renamed file whose name may yet be lost are not durable. */
		if (sync_dir(r) != 0)
			return lg_fail(err, errlen, "%s: %s", r->dir, strerror(errno));
		r->dir_unsynced = false;
	}
	while (off < r->pending.len) {
		ssize_t w = write(r->fd, r->pending.data + off, r->pending.len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return lg_fail(err, errlen, "%s: %s", r->path, strerror(errno));
		off += (size_t)w;
	}
	if (off && fdatasync(r->fd) != 0)
		return lg_fail(err, errlen, "%s: %s", r->path, strerror(errno));
	r->pending.len = 0;
	return 0;
}

/*
 * Parse one journal line (NUL-terminated, no newline) as line() writes it,
 * every field checked; NULL, or what is wrong with it.
 */
static const char *
parse_line(char *s, struct jent *j)
{
	unsigned long long k0, k1;
	long long start;
	int cls, n = 0;
	unsigned region;
	const char *route;
	size_t rl;

	memset(j, 0, sizeof(*j));
	if (sscanf(s, "%32[0-9a-f] %16llx%16llx %lld %d %u %n", j->pseudonym, &k0, &k1, &start,
	           &cls, &region, &n) != 6 ||
	    n == 0 || strlen(j->pseudonym) != LG_PSEUDONYM_HEX - 1)
		return "not PSEUDONYM KEY START CLASS REGION ROUTE";
	if (s[LG_PSEUDONYM_HEX - 1] != ' ' || s[LG_PSEUDONYM_HEX + 32] != ' ')
		return "malformed pseudonym or key";
	if (start <= 0)
		return "start out of range";
	if (cls < 0 || cls >= LG_LESSON_CLASSES)
		return "class out of range";
	if (region > 999999)
		return "region out of range";
	j->key.h[0] = k0;
	j->key.h[1] = k1;
	j->start = start;
	j->cls = cls;
	j->region = region;
	route = s + n;
	if (strcmp(route, "-") == 0)
		return NULL;
	rl = strlen(route);
	if (rl == 0 || rl % 2)
		return "route not hex";
	j->route = lg_xcalloc(1, rl / 2 + 1);
	for (size_t i = 0; i < rl / 2; i++) {
		int hi = lg_hex_value((unsigned char)route[2 * i]);
		int lo = lg_hex_value((unsigned char)route[2 * i + 1]);
		if (hi < 0 || lo < 0 || (hi == 0 && lo == 0)) {
			free(j->route);
			j->route = NULL;
			return "route not hex";
		}
		j->route[i] = (char)(hi << 4 | lo);
	}
	return NULL;
}

/* Order of journal entries by their match string. */
static int
by_match(const void *a, const void *b)
{
	return strcmp(((const struct jent *)a)->match, ((const struct jent *)b)->match);
}

/* What a scan of the log looks for. */
struct look {
	struct jent *j;
	size_t n;
	char *keys;
	size_t keycap;
};

/* Mark the journalled lesson a lesson_start or lesson_end record names. */
static int
look_record(void *arg, const struct lg_auditlog_entry *e)
{
	static const char *const names[] = {"type", "time", "student", "start"};
	struct look *l = arg;
	struct lg_json_value v[4];
	struct jent key, *hit;
	char who[LG_PSEUDONYM_HEX + 2], when[40];
	bool start;

	if (e->len < 40 || memmem(e->data, e->len < 80 ? e->len : 80, "\"lesson_", 8) == NULL)
		return 0;
	if (e->len > l->keycap) {
		l->keycap = e->len;
		l->keys = lg_xrealloc(l->keys, l->keycap, 1);
	}
	if (lg_json_parse(e->data, e->len, l->keys, l->keycap, names, v, 4) != 0)
		return 0;
	if (v[0].type != LG_JSON_STRING ||
	    !((v[0].n == 12 && memcmp(v[0].p, "lesson_start", 12) == 0) ||
	      (v[0].n == 10 && memcmp(v[0].p, "lesson_end", 10) == 0)))
		return 0;
	start = v[0].n == 12;
	if (lg_json_string(&v[2], who, sizeof(who)) != LG_PSEUDONYM_HEX - 1 ||
	    lg_json_string(start ? &v[1] : &v[3], when, sizeof(when)) < 0)
		return 0;
	snprintf(key.match, sizeof(key.match), "%s %s", who, when);
	hit = bsearch(&key, l->j, l->n, sizeof(*l->j), by_match);
	if (hit) {
		/* Entries with the same match are neighbours: mark them all. */
		struct jent *p = hit;
		while (p > l->j && strcmp(p[-1].match, key.match) == 0)
			p--;
		for (; p < l->j + l->n && strcmp(p->match, key.match) == 0; p++)
			p->state = start ? (p->state ? p->state : 1) : 2;
	}
	return 0;
}

/* Read the whole journal into entries; their number. */
static size_t
read_journal(const char *path, const struct lg_tz *tz, struct jent **out)
{
	FILE *f = fopen(path, "r");
	char *s = NULL, when[32];
	size_t cap = 0, n = 0, ncap = 0;
	ssize_t len;
	struct jent j;
	const char *why;
	uint64_t lineno = 0;

	*out = NULL;
	if (f == NULL)
		return 0;
	while ((len = getline(&s, &cap, f)) > 0) {
		lineno++;
		if (s[len - 1] != '\n')
			break; /* a torn last line (cut at open) */
		s[len - 1] = '\0';
		if ((why = parse_line(s, &j)) != NULL) {
			lgd_warn("audit open-lesson journal: line skipped",
			         "file=%s:%" PRIu64 " error=\"%s\"", path, lineno, why);
			continue;
		}
		lg_format_rfc3339(j.start, tz, when);
		snprintf(j.match, sizeof(j.match), "%s %s", j.pseudonym, when);
		if (n == ncap) {
			ncap = ncap ? 2 * ncap : 64;
			*out = lg_xrealloc(*out, ncap, sizeof(**out));
		}
		(*out)[n++] = j;
	}
	free(s);
	fclose(f);
	return n;
}

/* Where rewrite lists the entries. */
struct lister {
	struct lg_buf *b;
	uint64_t lines;
};

/* List one noted entry's journal line (a sweep visitor that removes nothing). */
static bool
list_one(void *arg, struct lgd_open_lesson *e)
{
	struct lister *ls = arg;

	if (e->noted) {
		line(ls->b, e);
		ls->lines++;
	}
	return false;
}

/*
 * Rewrite the journal with t's noted entries: a tmp file opened for appends,
 * written, synced and renamed over the journal, then the directory synced;
 * the tmp file's fd becomes the journal's (nothing is reopened, so nothing
 * can fail after the rename but the directory's sync, which the next
 * lgd_resume_sync retries before it calls anything durable). On failure the
 * old journal and fd are kept. 0 or -1.
 */
static int
rewrite(struct lgd_resume *r, struct lgd_open *t)
{
	struct lg_buf b = {0};
	struct lister ls = {&b, 0};
	char tmp[4200];
	int fd;

	lgd_open_sweep(t, list_one, &ls);
	snprintf(tmp, sizeof(tmp), "%s.tmp", r->path);
	fd = open(tmp, O_RDWR | O_APPEND | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0 || (b.len && write(fd, b.data, b.len) != (ssize_t)b.len) || fdatasync(fd) != 0 ||
	    rename(tmp, r->path) != 0) {
		lgd_warn("audit open-lesson journal not compacted", "file=%s error=\"%s\"", r->path,
		         strerror(errno));
		if (fd >= 0) {
			close(fd);
			unlink(tmp);
		}
		lg_buf_free(&b);
		r->retry_at = r->lines + r->slack + 1;
		return -1;
	}
	close(r->fd);
	r->fd = fd;
	r->lines = ls.lines;
	r->retry_at = 0;
	lg_buf_free(&b);
	if (sync_dir(r) != 0) {
		r->dir_unsynced = true;
		lgd_warn("audit open-lesson journal: directory not synced", "dir=%s error=\"%s\"",
		         r->dir, strerror(errno));
		return -1;
	}
	return 0;
}

/* Put the journalled lessons still open in the log back into t. */
size_t
lgd_resume_rebuild(struct lgd_resume *r, const char *dir, const struct lg_tz *tz,
                   struct lgd_open *t)
{
	struct jent *j;
	size_t n = read_journal(r->path, tz, &j), reopened = 0, held = 0;
	struct look l = {j, n, NULL, 0};
	struct lg_auditlog_scan_result res;
	char err[256];

	if (n) {
		qsort(j, n, sizeof(*j), by_match);
		if (lg_auditlog_scan(dir, look_record, &l, &res, err, sizeof(err)) != 0)
			lgd_warn("audit log not read for open lessons", "dir=%s error=\"%s\"", dir,
			         err);
		free(res.segments);
		free(l.keys);
	}
	for (size_t i = 0; i < n; i++) {
		struct lg_student_state st;
		struct lgd_open_lesson *e;
		if (j[i].state == 1) {
			lgd_open_put_keyed(t, &j[i].key, j[i].pseudonym, j[i].start, j[i].cls,
			                   j[i].region, j[i].route);
			reopened++;
		} else if (j[i].state == 2 &&
		           lg_store_table_snapshot_key(r->table, &j[i].key, 0, &st) == 1 &&
		           st.start == j[i].start) {
			e = lgd_open_put_keyed(t, &j[i].key, j[i].pseudonym, j[i].start, j[i].cls,
			                       j[i].region, j[i].route);
			e->ended = true;
			held++;
		}
		free(j[i].route);
	}
	free(j);
	rewrite(r, t);
	if (reopened || held)
		lgd_info("audit lessons open before the restart", "reopened=%zu ended=%zu",
		         reopened, held);
	return reopened;
}

/* Compact the journal when it has grown well past the open lessons (after a sync). */
void
lgd_resume_compact(struct lgd_resume *r, struct lgd_open *t)
{
	if (r->pending.len == 0 && r->lines >= r->retry_at &&
	    r->lines > 2 * (uint64_t)lgd_open_count(t) + r->slack)
		rewrite(r, t);
}
