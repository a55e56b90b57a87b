/*
 * The regulators' audit log writer: one thread for the whole process (not per
 * configuration generation) owning the lg_auditlog and the flood counter.
 * Workers hand it copies of records through a mutex-guarded list (never a wait
 * on I/O); the thread formats each with its index, appends the batch and makes
 * it durable with one fdatasync (group commit: whatever arrived during the
 * previous sync is the next batch), then calls the records' done callbacks.
 * A checkpoint is signed every LGD_AUDIT_CHECKPOINT_S seconds when the tree
 * grew. A write error marks the log unhealthy (lesson routes fail closed),
 * logged once per LGD_AUDIT_RETRY_S; the log is reopened until it works again.
 */
#include "auditd.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auditlog.h"
#include "auditopen.h"
#include "auditresume.h"
#include "checkpoint.h"
#include "log.h"
#include "merkle.h"
#include "runtime.h"
#include "store.h"
#include "store_local.h"
#include "tz.h"
#include "violidx.h"

/* What records are formatted with: replaced when a configuration is loaded. */
struct wctx {
	struct lg_audit_ctx ctx;
	char *instance;
	struct lg_tz *tz;
	struct lg_note_key *signer;
	char *origin;
	int32_t break_min[LG_LESSON_CLASSES];
};

/* One queued record; its strings live in data[]. */
struct item {
	struct item *next;
	struct lg_audit_rec rec;
	void (*done)(void *arg, bool ok);
	void *arg;
	struct wctx *ctx; /* config_loaded: the context from this record on */
	char data[];
};

static struct {
	bool on;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_mutex_t tree_lock; /* the log while the writer changes it, or a reader reads it */
	struct item *head, **tail;
	size_t queued;
	bool stopping;
	atomic_bool healthy;
	atomic_uint_fast64_t lost;    /* records that could not be written */
	atomic_uint_fast64_t durable; /* records known synced: read without tree_lock */
	/* Owned by the writer thread from start on. */
	struct lg_auditlog *log;
	char *dir;
	struct wctx *ctx;
	struct lg_audit_agg *agg;
	struct lgd_open *open;     /* lessons begun and not ended */
	struct lgd_resume *resume; /* their journal (state.store = "local"), or NULL */
	struct lg_violidx *vidx;   /* deny and forced_close records, for /violations */
	uint64_t indexed;          /* vidx holds the violations among records [0, indexed) */
	int64_t swept_at;
	bool final;
	struct lg_buf buf;
	bool batch_failed;
	struct lg_audit_rec stop; /* the stop record, written last */
	char *stop_reason;
	const char *fail_file; /* tests: $LESSONGATE_TEST_AUDIT_FAIL_FILE */
	char err[256];
	int64_t last_checkpoint, retry_at, said_at;
	uint64_t checkpoint_size;
} A = {.lock = PTHREAD_MUTEX_INITIALIZER,
       .cond = PTHREAD_COND_INITIALIZER,
       .tree_lock = PTHREAD_MUTEX_INITIALIZER};

/* A context for cf (NULL, logged, if the time zone or key cannot be loaded: -t checked them). */
static struct wctx *
ctx_new(const struct lg_config *cf)
{
	struct wctx *c = lg_xcalloc(1, sizeof(*c));
	char err[256];

	c->instance = lg_strdup(cf->instance);
	c->origin = lg_strdup(cf->audit.name);
	c->tz = lg_tz_load(lg_tz_name(cf->tz), err, sizeof(err));
	c->signer = lg_note_signer_new(cf->audit.name, cf->audit.signing_pem,
	                               cf->audit.signing_pem_len, err, sizeof(err));
	if (c->tz == NULL || c->signer == NULL) {
		lgd_err("audit log: cannot prepare the record context", "error=\"%s\"", err);
		lg_tz_free(c->tz);
		lg_note_key_free(c->signer);
		free(c->instance);
		free(c->origin);
		free(c);
		return NULL;
	}
	for (int i = 0; i < LG_LESSON_CLASSES; i++)
		c->break_min[i] = cf->rules.cls[i].break_min;
	c->ctx.instance = c->instance;
	c->ctx.tz = c->tz;
	memcpy(c->ctx.pseudonym_key, cf->audit.pseudonym, LG_PSEUDONYM_KEY);
	return c;
}

/* Free a context. */
static void
ctx_free(struct wctx *c)
{
	if (c == NULL)
		return;
	explicit_bzero(c->ctx.pseudonym_key, sizeof(c->ctx.pseudonym_key));
	lg_tz_free(c->tz);
	lg_note_key_free(c->signer);
	free(c->instance);
	free(c->origin);
	free(c);
}

/* Copy n bytes of s (NULL stays NULL) to *p, NUL-terminated, and advance *p. */
static const char *
put(char **p, const char *s, size_t n)
{
	char *r = *p;

	if (s == NULL)
		return NULL;
	memcpy(r, s, n);
	r[n] = '\0';
	*p += n + 1;
	return r;
}

/* The length a string of a record takes in an item (with its NUL). */
static size_t
slen(const char *s)
{
	return s ? strlen(s) + 1 : 0;
}

/* A deep copy of a record: one allocation. */
static struct item *
item_new(const struct lg_audit_rec *r)
{
	size_t n = (r->student ? r->student_len + 1 : 0) + slen(r->route) + slen(r->how) +
	           slen(r->reason) + slen(r->client) + slen(r->version) +
	           r->ncalendars * (sizeof(struct lg_audit_file_hash) + 8);
	struct item *it;
	char *p;

	for (size_t i = 0; i < r->ncalendars; i++)
		n += slen(r->calendars[i].file);
	it = lg_xcalloc(1, sizeof(*it) + n);
	it->rec = *r;
	p = it->data;
	if (r->ncalendars) {
		struct lg_audit_file_hash *h = (struct lg_audit_file_hash *)(void *)p;
		p += r->ncalendars * (sizeof(*h) + 8);
		for (size_t i = 0; i < r->ncalendars; i++) {
			h[i].file = put(&p, r->calendars[i].file, strlen(r->calendars[i].file));
			memcpy(h[i].sha256, r->calendars[i].sha256, 32);
		}
		it->rec.calendars = h;
	}
	it->rec.student = put(&p, r->student, r->student_len);
	it->rec.route = put(&p, r->route, slen(r->route) ? strlen(r->route) : 0);
	it->rec.how = put(&p, r->how, slen(r->how) ? strlen(r->how) : 0);
	it->rec.reason = put(&p, r->reason, slen(r->reason) ? strlen(r->reason) : 0);
	it->rec.client = put(&p, r->client, slen(r->client) ? strlen(r->client) : 0);
	it->rec.version = put(&p, r->version, slen(r->version) ? strlen(r->version) : 0);
	return it;
}

/* Queue an item for the writer. */
static void
enqueue(struct item *it)
{
	pthread_mutex_lock(&A.lock);
	if (A.queued >= LGD_AUDIT_QUEUE_MAX) {
		pthread_mutex_unlock(&A.lock);
		atomic_fetch_add(&A.lost, 1);
		atomic_store(&A.healthy, false);
		if (it->done)
			it->done(it->arg, false);
		ctx_free(it->ctx);
		free(it);
		return;
	}
	*A.tail = it;
	A.tail = &it->next;
	A.queued++;
	pthread_cond_signal(&A.cond);
	pthread_mutex_unlock(&A.lock);
}

/* Whether the writer runs. */
bool
lgd_auditd_on(void)
{
	return A.on;
}

/* Whether records can be written now. */
bool
lgd_auditd_healthy(void)
{
	return !A.on || atomic_load(&A.healthy);
}

/* Hand the writer a copy of one record. */
void
lgd_auditd_submit(const struct lg_audit_rec *r, void (*done)(void *arg, bool ok), void *arg)
{
	struct item *it;

	if (!A.on) {
		if (done)
			done(arg, true);
		return;
	}
	it = item_new(r);
	it->done = done;
	it->arg = arg;
	enqueue(it);
}

/* The config_loaded record of cf, with the context it brings. */
void
lgd_auditd_config_loaded(const struct lg_config *cf)
{
	struct lg_audit_rec r = {.type = LG_AUDIT_CONFIG_LOADED, .time = time(NULL), .cls = -1};
	struct lg_audit_file_hash *h;
	struct wctx *c;
	struct item *it;

	if (!A.on || (c = ctx_new(cf)) == NULL)
		return;
	h = lg_xcalloc(cf->ncalendar_files + 1, sizeof(*h));
	for (size_t i = 0; i < cf->ncalendar_files; i++) {
		h[i].file = cf->calendar_files[i];
		lgd_file_sha256(cf->calendar_files[i], h[i].sha256);
	}
	lgd_file_sha256(cf->file, r.config_sha256);
	r.mode = cf->rules.mode;
	r.calendars = h;
	r.ncalendars = cf->ncalendar_files;
	it = item_new(&r);
	it->ctx = c;
	free(h);
	enqueue(it);
}

/* Say, at most once per LGD_AUDIT_RETRY_S, that the log cannot be written. */
static void
say_broken(int64_t now)
{
	if (now - A.said_at < LGD_AUDIT_RETRY_S)
		return;
	A.said_at = now;
	lgd_err("audit log cannot be written; lesson routes answer 503 until it can",
	        "dir=%s error=\"%s\" lost=%" PRIuFAST64, A.dir, A.err, atomic_load(&A.lost));
}

/* The aggregator's output: format with the next index and append. */
static void
emit(void *arg, const struct lg_audit_rec *r)
{
	uint64_t index;

	(void)arg;
	if (A.log == NULL || A.batch_failed) {
		atomic_fetch_add(&A.lost, 1);
		return;
	}
	index = lg_auditlog_next_index(A.log);

	A.buf.len = 0;
	lg_audit_format(&A.buf, index, &A.ctx->ctx, r);
	if (lg_auditlog_append(A.log, A.buf.data, A.buf.len, A.err, sizeof(A.err)) != 0) {
		A.batch_failed = true;
		atomic_fetch_add(&A.lost, 1);
		return;
	}
	lg_violidx_add(A.vidx, index, A.buf.data, A.buf.len);
}

/* Sign a checkpoint of the tree if it grew, into DIR/checkpoint (atomically replaced). */
static void
checkpoint(int64_t now, bool force)
{
	struct lg_checkpoint cp;
	char note[LG_NOTE_MAX], err[256], path[4096], tmp[4200];
	int n, fd;

	if (A.log == NULL || A.ctx == NULL || lg_auditlog_size(A.log) == A.checkpoint_size ||
	    (!force && now - A.last_checkpoint < LGD_AUDIT_CHECKPOINT_S))
		return;
	memset(&cp, 0, sizeof(cp));
	snprintf(cp.origin, sizeof(cp.origin), "%s", A.ctx->origin);
	cp.size = lg_auditlog_size(A.log);
	if (lg_merkle_root(lg_auditlog_tree(A.log), cp.size, cp.root) != 0)
		return;
	if ((n = lg_checkpoint_sign(&cp, A.ctx->signer, note, sizeof(note), err, sizeof(err))) <
	    0) {
		lgd_err("audit checkpoint not signed", "error=\"%s\"", err);
		return;
	}
	snprintf(path, sizeof(path), "%s/checkpoint", A.dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, note, (size_t)n) != n || fdatasync(fd) != 0 ||
	    rename(tmp, path) != 0) {
		lgd_warn("audit checkpoint not written", "file=%s error=\"%s\"", path,
		         strerror(errno));
		if (fd >= 0)
			close(fd);
		return;
	}
	close(fd);
	A.last_checkpoint = now;
	A.checkpoint_size = cp.size;
}

/* Tests only: a write error is injected while $LESSONGATE_TEST_AUDIT_FAIL_FILE exists. */
static bool
injected_failure(void)
{
	return A.fail_file != NULL && access(A.fail_file, F_OK) == 0;
}

/* Tests only: the reopen fails too (the log is closed) while that file starts with "open". */
static bool
injected_open_failure(void)
{
	char head[4];
	int fd = A.fail_file ? open(A.fail_file, O_RDONLY | O_CLOEXEC) : -1;
	bool yes = fd >= 0 && read(fd, head, 4) == 4 && memcmp(head, "open", 4) == 0;

	if (fd >= 0)
		close(fd);
	return yes;
}

/*
 * Bring the violations index in line with the log's records: forget what the
 * log no longer holds, index what it holds beyond what was indexed (records
 * whose sync failed but which reached the disk). 0, or -1 with the reason.
 */
static int
index_catch_up(void)
{
	uint64_t size = lg_auditlog_size(A.log);

	if (size < A.indexed) {
		lg_violidx_truncate(A.vidx, size);
		A.indexed = size;
	}
	for (; A.indexed < size; A.indexed++) {
		if (lg_auditlog_read(A.log, A.indexed, &A.buf, A.err, sizeof(A.err)) != 0)
			return -1;
		lg_violidx_add(A.vidx, A.indexed, A.buf.data, A.buf.len);
	}
	return 0;
}

/* Try to reopen a log that failed (it cuts what a failed write left). */
static void
reopen(int64_t now)
{
	struct lg_auditlog_open_report rep;
	bool open_fails = injected_open_failure();

	if (now < A.retry_at || (!open_fails && injected_failure()))
		return;
	A.retry_at = now + LGD_AUDIT_RETRY_S;
	if (A.log)
		lg_auditlog_close(A.log);
	A.log = NULL;
	if (open_fails)
		snprintf(A.err, sizeof(A.err), "injected open error (%s)", A.fail_file);
	else
		A.log = lg_auditlog_open(A.dir, 0, &rep, A.err, sizeof(A.err));
	if (A.log && index_catch_up() != 0) {
		lg_auditlog_close(A.log);
		A.log = NULL;
	}
	if (A.log == NULL) {
		say_broken(now);
		return;
	}
	atomic_store(&A.healthy, true);
	atomic_store(&A.durable, lg_auditlog_size(A.log));
	lgd_info("audit log writable again", "dir=%s records=%" PRIu64 " lost=%" PRIuFAST64, A.dir,
	         rep.records, atomic_load(&A.lost));
}

/* Take everything queued (waiting up to a second for something); whether stopping. */
static struct item *
take(bool *stopping)
{
	struct item *l;
	struct timespec ts;

	pthread_mutex_lock(&A.lock);
	if (A.head == NULL && !A.stopping) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&A.cond, &A.lock, &ts);
	}
	l = A.head;
	A.head = NULL;
	A.tail = &A.head;
	A.queued = 0;
	*stopping = A.stopping;
	pthread_mutex_unlock(&A.lock);
	return l;
}

/* Follow lessons through their records; false if a record is not to be written. */
static bool
track(const struct lg_audit_rec *r)
{
	if (r->student == NULL)
		return true;
	if (r->type == LG_AUDIT_LESSON_START) {
		struct lgd_open_lesson *e =
		    lgd_open_put(A.open, r->student, r->student_len, r->start ? r->start : r->time,
		                 r->cls, r->region, r->route);
		if (A.resume)
			lgd_resume_note(A.resume, e, A.ctx->ctx.pseudonym_key);
		return true;
	}
	if (r->type == LG_AUDIT_LESSON_END) {
		int took = lgd_open_take(A.open, r->student, r->student_len, r->start);
		if (took < 0 && A.resume && lgd_open_keyed(A.open)) {
			/* A lesson begun before the restart, reopened by its store key. */
			struct lg_student_key k;
			lgd_resume_key(A.resume, r->student, r->student_len, &k);
			took = lgd_open_take_keyed(A.open, &k, r->start);
		}
		return took != 0;
	}
	return true;
}

/*
 * One open lesson at the sweep: written as ended once the store shows its
 * break completed (or another lesson, or no state), and at the stop; the
 * entry stays (ended) until the store forgets the lesson, so the gate's own
 * lesson_end for it is dropped. Whether to remove the entry.
 */
static bool
sweep_one(void *arg, struct lgd_open_lesson *e)
{
	int64_t now = *(const int64_t *)arg;
	struct lg_student_state st;
	int found = e->keyed
	                ? lg_store_table_snapshot_key(lgd_resume_table(A.resume), &e->key, now, &st)
	                : lg_store_snapshot(lgd_store, e->id, e->len, now, &st);
	bool same = found == 1 && st.start == e->start, held;
	struct lg_audit_rec r = {.type = LG_AUDIT_LESSON_END, .time = now};

	if (found < 0 && !A.final)
		return false; /* the store cannot tell now */
	if (e->ended) {
		e->gone = same ? 0 : e->gone + 1;
		return e->gone >= 2 || A.final;
	}
	held = same && lg_policy_tunnels_held(&st, now);
	if (same)
		e->last = held ? now : st.start + (int64_t)st.last_off;
	if (!A.final && same &&
	    (held ||
	     now < e->last +
	               A.ctx->break_min[e->cls >= 0 && e->cls < LG_LESSON_CLASSES ? e->cls : 0]))
		return false;
	r.student = e->keyed ? NULL : e->id;
	r.student_len = e->keyed ? 0 : e->len;
	r.pseudonym = e->keyed ? e->pseudonym : NULL;
	r.region = e->region;
	r.cls = e->cls;
	r.route = e->route;
	r.start = e->start;
	r.end = e->last;
	emit(NULL, &r);
	if (A.final)
		return true;
	e->ended = true;
	e->gone = same ? 0 : 1;
	return false;
}

/* One batch: append, flush the flood windows due, sync once, then tell the waiters. */
static void
batch(struct item *l, int64_t now, bool final)
{
	bool ok;

	bool awaited = false;

	A.batch_failed = A.log == NULL || !atomic_load(&A.healthy) || injected_failure();
	if (A.batch_failed && A.log && atomic_load(&A.healthy) && injected_failure())
		snprintf(A.err, sizeof(A.err), "injected write error (%s)", A.fail_file);
	for (struct item *it = l; it; it = it->next) {
		awaited |= it->done != NULL;
		if (it->ctx) {
			ctx_free(A.ctx);
			A.ctx = it->ctx;
			it->ctx = NULL;
		}
		if (A.ctx == NULL) {
			atomic_fetch_add(&A.lost, 1);
			continue;
		}
		if (it->rec.time == 0)
			it->rec.time = now;
		if (!track(&it->rec))
			continue;
		lg_audit_agg_add(A.agg, &it->rec, emit, NULL);
	}
	/*
	 * A refusal waiting for its record may have been a repeat the flood
	 * counter absorbed: its count is written now, so an answered refusal is
	 * never only in memory (under a flood, a summary per batch).
	 */
	if (A.ctx)
		lg_audit_agg_flush(A.agg, now, final || awaited, emit, NULL);
	if (A.ctx && (final || now != A.swept_at)) {
		/* Lessons whose break completed end now; at the stop, every open one. */
		A.swept_at = now;
		A.final = final;
		lgd_open_sweep(A.open, sweep_one, &now);
	}
	if (final && A.ctx)
		emit(NULL, &A.stop);
	/* The journal of lesson starts is durable before their records are. */
	if (!A.batch_failed && A.resume && lgd_resume_sync(A.resume, A.err, sizeof(A.err)) != 0)
		A.batch_failed = true;
	if (!A.batch_failed && A.log && lg_auditlog_sync(A.log, A.err, sizeof(A.err)) != 0)
		A.batch_failed = true;
	ok = !A.batch_failed;
	if (ok && A.log) {
		A.indexed = lg_auditlog_size(A.log);
		atomic_store(&A.durable, A.indexed);
	} else if (!ok) {
		/* What was not made durable is not to be found; what was stays (reopen adds back
		 * what reached the disk anyway). */
		lg_violidx_truncate(A.vidx, A.indexed);
	}
	if (!ok && A.log && atomic_load(&A.healthy)) {
		atomic_store(&A.healthy, false);
		A.retry_at = now + LGD_AUDIT_RETRY_S;
		say_broken(now);
	}
	while (l) {
		struct item *next = l->next;
		if (l->done)
			l->done(l->arg, ok);
		ctx_free(l->ctx);
		free(l);
		l = next;
	}
}

/* The writer thread. */
static void *
writer_main(void *arg)
{
	bool stopping = false;

	(void)arg;
	for (;;) {
		struct item *l = take(&stopping);
		int64_t now = time(NULL);

		pthread_mutex_lock(&A.tree_lock);
		if (!atomic_load(&A.healthy)) {
			reopen(now);
			say_broken(now);
		}
		batch(l, now, stopping && l == NULL);
		checkpoint(now, stopping && l == NULL);
		pthread_mutex_unlock(&A.tree_lock);
		/* Off the records' path: after their waiters were told, outside the lock. */
		if (A.resume)
			lgd_resume_compact(A.resume, A.open);
		if (stopping && l == NULL)
			break;
	}
	return NULL;
}

/* Note one record of the log in the violations index. */
static int
index_one(void *arg, const struct lg_auditlog_entry *e)
{
	(void)arg;
	lg_violidx_add(A.vidx, e->index, e->data, e->len);
	return 0;
}

/* Build the violations index from the log's first `records` records; 0 or -1 with the reason. */
static int
index_violations(const char *dir, uint64_t records, char *err, size_t errlen)
{
	struct lg_auditlog_scan_result res;
	int rc = lg_auditlog_scan(dir, index_one, NULL, &res, err, errlen);

	free(res.segments);
	lg_violidx_truncate(A.vidx, records); /* a torn tail the open cut is not there */
	A.indexed = records;
	return rc;
}

/* Undo a start that failed half-way, in reverse order: nothing stays open, allocated or queued. */
static void
start_undo(void)
{
	A.on = false;
	lgd_resume_close(A.resume);
	A.resume = NULL;
	ctx_free(A.ctx);
	A.ctx = NULL;
	while (A.head) { /* the start and config_loaded records (no one waits for them) */
		struct item *it = A.head;
		A.head = it->next;
		ctx_free(it->ctx);
		free(it);
	}
	A.tail = &A.head;
	A.queued = 0;
	lgd_open_free(A.open);
	A.open = NULL;
	lg_audit_agg_free(A.agg);
	A.agg = NULL;
	free(A.dir);
	A.dir = NULL;
	lg_violidx_free(A.vidx);
	A.vidx = NULL;
	if (A.log)
		lg_auditlog_close(A.log);
	A.log = NULL;
}

/* Open the log and start the writer; the start record goes first. */
int
lgd_auditd_start(const struct lg_config *cf, const char *version, char *err, size_t errlen)
{
	struct lg_auditlog_open_report rep;
	uint8_t aggkey[16];
	struct lg_audit_rec r = {.type = LG_AUDIT_START, .cls = -1, .version = version};

	A.log = lg_auditlog_open(cf->audit.dir, 0, &rep, err, errlen);
	if (A.log == NULL)
		return -1;
	if (rep.torn_bytes || rep.index_rebuilt)
		lgd_warn("audit log repaired at start",
		         "dir=%s torn_bytes=%" PRIu64 " index_rebuilt=%" PRIu64, cf->audit.dir,
		         rep.torn_bytes, rep.index_rebuilt);
	A.checkpoint_size = UINT64_MAX;
	A.vidx = lg_violidx_new();
	if (index_violations(cf->audit.dir, rep.records, err, errlen) != 0)
		goto fail;
	atomic_store(&A.durable, lg_auditlog_size(A.log));
	A.fail_file = getenv("LESSONGATE_TEST_AUDIT_FAIL_FILE");
	A.dir = lg_strdup(cf->audit.dir);
	RAND_bytes(aggkey, sizeof(aggkey));
	A.agg = lg_audit_agg_new(LGD_AUDIT_FLOOD_S, LGD_AUDIT_FLOOD_MAX, aggkey);
	A.open = lgd_open_new();
	A.head = NULL;
	A.tail = &A.head;
	atomic_store(&A.healthy, true);
	A.on = true;
	if ((A.ctx = ctx_new(cf)) == NULL) {
		snprintf(err, errlen, "cannot prepare the audit record context");
		goto fail;
	}
	if (lgd_store && strcmp(lgd_store->kind, "local") == 0) {
		A.resume =
		    lgd_resume_open(cf->audit.dir, lg_store_local_table(lgd_store), err, errlen);
		if (A.resume == NULL)
			goto fail;
		lgd_resume_rebuild(A.resume, cf->audit.dir, A.ctx->ctx.tz, A.open);
	}
	r.time = time(NULL);
	lgd_auditd_submit(&r, NULL, NULL);
	lgd_auditd_config_loaded(cf);
	if (pthread_create(&A.thread, NULL, writer_main, NULL) != 0) {
		snprintf(err, errlen, "cannot start the audit writer thread");
		goto fail;
	}
	lgd_info("audit log open", "dir=%s records=%" PRIu64 " origin=%s", cf->audit.dir,
	         rep.records, cf->audit.name);
	return 0;
fail:
	start_undo();
	return -1;
}

/* Write the stop record, flush the flood windows, sync, stop, close. */
void
lgd_auditd_stop(const char *reason)
{
	struct lg_audit_rec r = {
	    .type = LG_AUDIT_STOP, .time = time(NULL), .cls = -1, .reason = reason};

	if (!A.on)
		return;
	A.stop = r;
	A.stop.reason = A.stop_reason = lg_strdup(reason ? reason : "stopped");
	pthread_mutex_lock(&A.lock);
	A.stopping = true;
	pthread_cond_signal(&A.cond);
	pthread_mutex_unlock(&A.lock);
	pthread_join(A.thread, NULL);
	A.on = false;
	if (A.log)
		lg_auditlog_close(A.log);
	A.log = NULL;
	lg_audit_agg_free(A.agg);
	lgd_open_free(A.open);
	lgd_resume_close(A.resume);
	A.resume = NULL;
	lg_violidx_free(A.vidx);
	A.vidx = NULL;
	ctx_free(A.ctx);
	lg_buf_free(&A.buf);
	free(A.dir);
	free(A.stop_reason);
	if (atomic_load(&A.lost))
		lgd_err("audit records lost while the log could not be written",
		        "lost=%" PRIuFAST64, atomic_load(&A.lost));
}

/* The number of durable records (0 if the log is not open). */
uint64_t
lgd_auditd_size(void)
{
	uint64_t n;

	pthread_mutex_lock(&A.tree_lock);
	n = A.log ? lg_auditlog_size(A.log) : 0;
	pthread_mutex_unlock(&A.tree_lock);
	return n;
}

/* Whether the log can be read now (false while it could not be reopened). */
bool
lgd_auditd_readable(void)
{
	bool yes;

	pthread_mutex_lock(&A.tree_lock);
	yes = A.log != NULL;
	pthread_mutex_unlock(&A.tree_lock);
	return yes;
}

/* The records known durable, without the writer's lock (which a sync may hold for long):
 * for scrapes (the admin API). */
uint64_t
lgd_auditd_durable(void)
{
	return A.on ? atomic_load(&A.durable) : 0;
}

/* Records waiting for the writer. */
uint64_t
lgd_auditd_queued(void)
{
	uint64_t n;

	if (!A.on)
		return 0;
	pthread_mutex_lock(&A.lock);
	n = A.queued;
	pthread_mutex_unlock(&A.lock);
	return n;
}

/* Records that could not be written since start. */
uint64_t
lgd_auditd_lost(void)
{
	return atomic_load(&A.lost);
}

/* Records [start, end), or the n of list if it is not NULL, each with a newline, into out. */
static int
read_locked(uint64_t start, uint64_t end, const uint64_t *list, size_t n, struct lg_buf *out,
            char *err, size_t errlen)
{
	struct lg_buf one = {0};
	uint64_t size;
	int rc = 0;

	pthread_mutex_lock(&A.tree_lock);
	size = A.log ? lg_auditlog_size(A.log) : 0;
	if (A.log == NULL || (list ? n && list[n - 1] >= size : end > size)) {
		snprintf(err, errlen, "the audit log is not readable now");
		rc = -1;
	}
	for (uint64_t k = list ? 0 : start; rc == 0 && k < (list ? n : end); k++) {
		if (lg_auditlog_read(A.log, list ? list[k] : k, &one, err, errlen) != 0) {
			rc = -1;
			break;
		}
		lg_buf_add(out, one.data, one.len);
		LG_BUF_LIT(out, "\n");
	}
	pthread_mutex_unlock(&A.tree_lock);
	lg_buf_free(&one);
	return rc;
}

/* Records [start, end) appended to out, each with a newline; 0, or -1 with the reason. */
int
lgd_auditd_read(uint64_t start, uint64_t end, struct lg_buf *out, char *err, size_t errlen)
{
	return read_locked(start, end, NULL, 0, out, err, errlen);
}

/* The records of list[0..n) (ascending) appended to out, each with a newline; 0 or -1. */
int
lgd_auditd_read_list(const uint64_t *list, size_t n, struct lg_buf *out, char *err, size_t errlen)
{
	return read_locked(0, 0, list, n, out, err, errlen);
}

/* The indexes of deny and forced_close records with from <= time < to (the index); 0 or -1. */
int
lgd_auditd_violations(const char *from, const char *to, uint64_t **list, size_t *n)
{
	int rc = -1;

	pthread_mutex_lock(&A.tree_lock);
	if (A.log && A.vidx) {
		uint64_t below = lg_auditlog_size(A.log);
		lg_violidx_query(A.vidx, from, to, below < A.indexed ? below : A.indexed, list, n);
		rc = 0;
	}
	pthread_mutex_unlock(&A.tree_lock);
	return rc;
}

/* An inclusion or consistency proof under the writer's lock; 0, -1 (out of range) or -2. */
int
lgd_auditd_proof(uint64_t a, uint64_t b, bool consistency, uint8_t proof[][LG_MERKLE_HASH],
                 size_t *n, uint8_t leaf[LG_MERKLE_HASH])
{
	int rc = -1;

	pthread_mutex_lock(&A.tree_lock);
	if (A.log == NULL)
		rc = -2;
	else if (b <= lg_auditlog_size(A.log)) {
		const struct lg_merkle *t = lg_auditlog_tree(A.log);
		if (consistency) {
			rc = lg_merkle_consistency(t, a, b, proof, n);
		} else if ((rc = lg_merkle_inclusion(t, a, b, proof, n)) == 0 && leaf) {
			memcpy(leaf, lg_merkle_leaf(t, a), LG_MERKLE_HASH);
		}
	}
	pthread_mutex_unlock(&A.tree_lock);
	return rc;
}

/* The audit log's directory (NULL if off). */
const char *
lgd_auditd_dir(void)
{
	return A.on ? A.dir : NULL;
}
