/*
 * The Redis store's I/O (state.store = "redis"): one hiredis asynchronous
 * connection per worker event loop (the libevent adapter; nothing blocks a
 * loop), the scripts of lib/store/store_redis.c run with EVALSHA (EVAL once after
 * NOSCRIPT), and a local copy of every answered student for the status
 * endpoint (a snapshot never waits).
 *
 * Failures: a connection that cannot connect, is closed, or has had no
 * answer for twice the timeout while commands are outstanding is dropped (its pending decisions
 * answer LG_STORE_UNAVAILABLE at once: 503 on lesson routes) and reconnected
 * with backoff (100 ms doubling to 2 s); while no connection is ready,
 * decisions answer LG_STORE_UNAVAILABLE without waiting. The condition is
 * logged when it starts, every 10 s while it lasts, and when it ends.
 *
 * on_failure = "local": the local copy (updated from every Redis answer,
 * merged with what this instance decided itself) decides instead, when no
 * connection is ready and when a decide times out, and takes the leases; each
 * student so decided is listed, and once a connection is ready again the
 * list is merged back into Redis (the merge script: lg_clock_merge, so the
 * shared clock never goes back). A decide for a listed student first sends
 * its merge on the same connection, so Redis decides on the merged clock. A
 * lease opened locally is opened in Redis at its holder's next renewal.
 *
 * Sentinel (state.redis.sentinel): every connect first asks a sentinel
 * (SENTINEL get-master-addr-by-name; the sentinels in turn) for
 * the master's address, connects there, and checks with ROLE that it is a
 * master; a failover drops the connection, and the reconnect asks again.
 */
#include "store_redis.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <event2/event.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "conn.h"
#include "log.h"
#include "runtime.h"
#include "store.h"
#include "students.h"
#include "clock.h"
#include "redis_ev.h"

#define BACKOFF_MIN_MS       100
#define BACKOFF_MAX_MS       2000
#define DOWN_LOG_INTERVAL_US (10 * 1000000)
/* A lease not opened in Redis yet (a bit the per-process counter never sets). */
#define LEASE_UNSENT (UINT64_C(1) << 31)

struct redis_store {
	struct lg_store base;
	struct lg_store *copy; /* the memory store: the last answer per student, for snapshots */
	char host[256];        /* a numeric address, resolved once at start (or a unix path) */
	char addr[300];        /* the configured address, for logs */
	int port;              /* 0: host is a unix socket path */
	char *master;          /* Sentinel: the master's name (else NULL) */
	struct sentinel {
		char host[256];
		int port;
	} sentinels[16];
	int nsentinels;
	char *password, *username, *prefix;
	int64_t database;
	int32_t keep; /* the longest break_min at start (open/renew do not use it) */
	char sha_decide[41], sha_lease[41];
	uint64_t lease_salt;
	atomic_uint_fast64_t next_lease;
	atomic_int attached, ready;      /* worker connections, and those ready */
	atomic_bool down;                /* the condition is on (logged when it flips) */
	atomic_int_fast64_t down_logged; /* lgd_mono_us of the last "unavailable" line */
	atomic_uint_fast64_t failures;   /* operations failed since that line */
	bool local;                      /* on_failure = "local": decide on the copy when down */
	char sha_merge[41];
	int32_t lmax; /* the longest lesson_max at start (the merge caps lease activity with it) */
	bool defer_leases; /* every break_min at start is longer than a renewal period */
	atomic_uint_fast64_t local_decisions;
	/* Students decided locally, to merge back into Redis (dirty_set marks who is listed). */
	pthread_mutex_t dirty_lock;
	struct lg_students *dirty_set; /* a listed student's state has start 1 */
	char **dirty;
	size_t ndirty, dirty_cap;
	atomic_uint_fast64_t unreconciled; /* ndirty, readable without the lock */
	/* Health: since when the state holds, and the last error. */
	pthread_mutex_t health_lock;
	int64_t since;
	char last_error[160];
};

/* One worker's connection. */
struct rconn {
	struct redis_store *s;
	struct event_base *base;
	redisAsyncContext *ac;
	bool ready;           /* handshake done */
	bool detaching;       /* the worker stops: no reconnect */
	unsigned outstanding; /* commands sent, not answered (handshake included) */
	uint64_t answers;     /* answers received (progress, without reading a clock each time) */
	uint64_t seen;        /* answers at progress_us */
	int64_t progress_us;  /* when the stuck check last saw progress, or nothing outstanding */
	int backoff_ms;
	struct event *check; /* stuck-command check, a quarter of the timeout */
	struct event *reconnect;
	/* Sentinel: the master the last sentinel named (used by the next connect only). */
	char mhost[256];
	int mport;
	bool have_master;
	int sentinel_i; /* the sentinel asked next (in turn, at every connect) */
};

/* What a command in flight is. */
enum req_kind { REQ_DECIDE, REQ_LEASE, REQ_MERGE };

/* A decide, lease or merge command in flight; argv kept for a NOSCRIPT retry. */
struct rreq {
	struct rconn *rc;
	enum req_kind kind;
	bool retried;
	lg_store_done done;
	void *arg;
	uint64_t tag;
	int argc;
	const char *argv[10];
	size_t argvlen[10];
	char buf[]; /* the arguments' text */
};

static _Thread_local struct rconn *tconn;

static bool redis_up(struct lg_store *gs);
static void reconcile(struct rconn *rc);

static void rconn_start(struct rconn *rc);

/* The Redis store behind a generic one. */
static struct redis_store *
rs(struct lg_store *s)
{
	return (struct redis_store *)s;
}

/* A failure: say so when the condition starts and every 10 s while it lasts. */
static void
note_down(struct redis_store *s, const char *what, const char *err)
{
	int64_t now = lgd_mono_us();
	bool was = atomic_exchange(&s->down, true);
	int64_t last = atomic_load(&s->down_logged);

	atomic_fetch_add(&s->failures, 1);
	pthread_mutex_lock(&s->health_lock);
	snprintf(s->last_error, sizeof(s->last_error), "%s: %s", what, err ? err : "");
	if (!was)
		s->since = lgd_now_us() / 1000000;
	pthread_mutex_unlock(&s->health_lock);
	if (was && now - last < DOWN_LOG_INTERVAL_US)
		return;
	if (!atomic_compare_exchange_strong(&s->down_logged, &last, now))
		return;
	lgd_warn("student store unavailable",
	         "store=redis address=%s what=\"%s\" error=\"%s\" failures=%llu "
	         "local_decisions=%llu effect=\"%s\"",
	         s->addr, what, err ? err : "",
	         (unsigned long long)atomic_exchange(&s->failures, 0),
	         (unsigned long long)atomic_load(&s->local_decisions),
	         s->local ? "lesson routes are decided on this instance's local copy"
	                  : "lesson routes answer 503");
}

/* A connection became ready: the condition ends if it was on. */
static void
note_up(struct redis_store *s)
{
	if (!atomic_exchange(&s->down, false))
		return;
	pthread_mutex_lock(&s->health_lock);
	s->since = lgd_now_us() / 1000000;
	pthread_mutex_unlock(&s->health_lock);
	lgd_info("student store available again", "store=redis address=%s unreconciled=%llu",
	         s->addr, (unsigned long long)atomic_load(&s->unreconciled));
}

/* Drop the connection (pending commands answer UNAVAILABLE) and try again after the backoff. */
static void
rconn_fail(struct rconn *rc, const char *what)
{
	redisAsyncContext *ac = rc->ac;
	struct timeval tv;

	note_down(rc->s, what, ac && ac->errstr[0] ? ac->errstr : NULL);
	if (rc->ready)
		atomic_fetch_sub(&rc->s->ready, 1);
	rc->ready = false;
	rc->ac = NULL;
	rc->outstanding = 0;
	if (ac != NULL) {
		ac->data = NULL; /* the disconnect callback sees it is already handled */
		redisAsyncFree(ac);
	}
	if (rc->detaching)
		return;
	tv = lgd_tv_ms(rc->backoff_ms);
	event_add(rc->reconnect, &tv);
	rc->backoff_ms = rc->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : rc->backoff_ms * 2;
}

/* One command fewer in flight; progress (the stuck check reads the clock, not this). */
static void
answered(struct rconn *rc)
{
	if (rc->outstanding > 0)
		rc->outstanding--;
	rc->answers++;
}

/* One command more in flight. */
static void
sent(struct rconn *rc)
{
	rc->outstanding++;
}

/* An answer of the handshake (AUTH, SELECT, SCRIPT LOAD); the last makes the connection ready. */
static void
handshake_cb(redisAsyncContext *ac, void *r, void *priv)
{
	struct rconn *rc = ac->data;
	redisReply *reply = r;
	bool last = priv != NULL;

	if (rc == NULL || reply == NULL)
		return;
	answered(rc);
	if (reply->type == REDIS_REPLY_ERROR ||
	    (reply->type == REDIS_REPLY_ARRAY && reply->elements > 0 &&
	     (reply->element[0]->type != REDIS_REPLY_STRING ||
	      strcmp(reply->element[0]->str, "master") != 0))) {
		/* Log the server's reason (a wrong password, say), then drop the connection. */
		note_down(rc->s, "handshake",
		          reply->type == REDIS_REPLY_ERROR
		              ? reply->str
		              : "not a master (ROLE): the sentinels are asked again");
		rc->ac = NULL;
		if (rc->ready)
			atomic_fetch_sub(&rc->s->ready, 1);
		rc->ready = false;
		rc->outstanding = 0;
		ac->data = NULL;
		redisAsyncDisconnect(ac);
		if (!rc->detaching) {
			struct timeval tv = {BACKOFF_MAX_MS / 1000, 0};
			event_add(rc->reconnect, &tv);
		}
		return;
	}
	if (last && !rc->ready) {
		rc->ready = true;
		rc->backoff_ms = BACKOFF_MIN_MS;
		atomic_fetch_add(&rc->s->ready, 1);
		note_up(rc->s);
		reconcile(rc);
	}
}

/* Connected (or not): send the handshake, pipelined. */
static void
connect_cb(const redisAsyncContext *cac, int status)
{
	redisAsyncContext *ac = (redisAsyncContext *)cac;
	struct rconn *rc = ac->data;
	struct redis_store *s;
	char db[24];

	if (rc == NULL)
		return;
	s = rc->s;
	if (status != REDIS_OK) {
		/* hiredis frees the context after this callback. */
		ac->data = NULL;
		rc->ac = NULL;
		note_down(s, "connect", ac->errstr);
		rc->ac = NULL;
		rc->outstanding = 0;
		if (!rc->detaching) {
			struct timeval tv = {rc->backoff_ms / 1000, (rc->backoff_ms % 1000) * 1000};
			event_add(rc->reconnect, &tv);
			rc->backoff_ms *= 2;
			if (rc->backoff_ms > BACKOFF_MAX_MS)
				rc->backoff_ms = BACKOFF_MAX_MS;
		}
		return;
	}
	answered(rc);
	if (s->password != NULL) {
		if (s->username != NULL)
			redisAsyncCommand(ac, handshake_cb, NULL, "AUTH %s %s", s->username,
			                  s->password);
		else
			redisAsyncCommand(ac, handshake_cb, NULL, "AUTH %s", s->password);
		sent(rc);
	}
	if (s->database != 0) {
		snprintf(db, sizeof(db), "%lld", (long long)s->database);
		redisAsyncCommand(ac, handshake_cb, NULL, "SELECT %s", db);
		sent(rc);
	}
	redisAsyncCommand(ac, handshake_cb, NULL, "SCRIPT LOAD %s", lg_redis_decide_lua);
	sent(rc);
	redisAsyncCommand(ac, handshake_cb, NULL, "SCRIPT LOAD %s", lg_redis_merge_lua);
	sent(rc);
	if (s->master != NULL) {
		redisAsyncCommand(ac, handshake_cb, NULL, "ROLE"); /* an array: "master", ... */
		sent(rc);
	}
	redisAsyncCommand(ac, handshake_cb, (void *)1, "SCRIPT LOAD %s", lg_redis_lease_lua);
	sent(rc);
}

/* The server or the network closed the connection. */
static void
disconnect_cb(const redisAsyncContext *ac, int status)
{
	struct rconn *rc = ac->data;

	(void)status;
	if (rc == NULL)
		return; /* we dropped it ourselves */
	/* hiredis frees the context after this callback. */
	((redisAsyncContext *)ac)->data = NULL;
	rc->ac = NULL;
	if (rc->ready)
		atomic_fetch_sub(&rc->s->ready, 1);
	rc->ready = false;
	rc->outstanding = 0;
	note_down(rc->s, "connection lost", ac->errstr);
	if (!rc->detaching) {
		struct timeval tv = {rc->backoff_ms / 1000, (rc->backoff_ms % 1000) * 1000};
		event_add(rc->reconnect, &tv);
		rc->backoff_ms =
		    rc->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : rc->backoff_ms * 2;
	}
}

/* A sentinel did not name the master: ask again (the next one) after the backoff. */
static void
sentinel_failed(struct rconn *rc, redisAsyncContext *ac, const char *err)
{
	struct redis_store *s = rc->s;
	struct timeval tv = {rc->backoff_ms / 1000, (rc->backoff_ms % 1000) * 1000};

	note_down(s, "sentinel", err);
	rc->ac = NULL;
	rc->outstanding = 0;
	if (ac != NULL) {
		ac->data = NULL;
		redisAsyncDisconnect(ac);
	}
	if (!rc->detaching) {
		event_add(rc->reconnect, &tv);
		rc->backoff_ms =
		    rc->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : rc->backoff_ms * 2;
	}
}

/* Whether host is an IPv4 or IPv6 address (connecting to it never resolves a name). */
static bool
numeric_host(const char *host)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

/* A sentinel's answer: the master's address; connect there. */
static void
sentinel_cb(redisAsyncContext *ac, void *r, void *priv)
{
	struct rconn *rc = ac->data;
	redisReply *reply = r;
	char err[400];

	(void)priv;
	if (rc == NULL || reply == NULL)
		return; /* dropped already */
	answered(rc);
	if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2 ||
	    reply->element[0]->type != REDIS_REPLY_STRING ||
	    reply->element[1]->type != REDIS_REPLY_STRING ||
	    reply->element[0]->len >= sizeof(rc->mhost) || atoi(reply->element[1]->str) <= 0) {
		snprintf(err, sizeof(err), "no master named \"%s\" (%s)", rc->s->master,
		         reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected answer");
		sentinel_failed(rc, ac, err);
		return;
	}
	memcpy(rc->mhost, reply->element[0]->str, reply->element[0]->len + 1);
	if (!numeric_host(rc->mhost)) {
		/* hiredis would resolve a name while connecting, blocking this loop. */
		snprintf(err, sizeof(err),
		         "the master \"%s\" is a name, not an IP address (announce-hostnames)",
		         rc->mhost);
		sentinel_failed(rc, ac, err);
		return;
	}
	rc->mport = atoi(reply->element[1]->str);
	rc->have_master = true;
	ac->data = NULL; /* the sentinel connection is done with */
	redisAsyncDisconnect(ac);
	rc->ac = NULL;
	rc->outstanding = 0;
	rconn_start(rc);
}

/* Connected to a sentinel (or not). */
static void
sentinel_connect_cb(const redisAsyncContext *cac, int status)
{
	redisAsyncContext *ac = (redisAsyncContext *)cac;
	struct rconn *rc = ac->data;

	if (rc == NULL)
		return;
	if (status != REDIS_OK) {
		/* hiredis frees the context after this callback. */
		ac->data = NULL;
		rc->ac = NULL;
		sentinel_failed(rc, NULL, ac->errstr);
		return;
	}
	answered(rc);
}

/* Ask a sentinel (in turn) for the master's address (the query waits in hiredis's buffer). */
static void
sentinel_ask(struct rconn *rc)
{
	struct redis_store *s = rc->s;
	struct sentinel *sn = &s->sentinels[rc->sentinel_i];
	redisAsyncContext *ac = redisAsyncConnect(sn->host, sn->port);

	rc->sentinel_i =
	    (rc->sentinel_i + 1) % s->nsentinels; /* round robin: one down is skipped */

	if (ac == NULL || ac->err || lgd_redis_attach(ac, rc->base) < 0) {
		if (ac != NULL) {
			note_down(s, "sentinel", ac->err ? ac->errstr : "out of memory");
			redisAsyncFree(ac);
		}
		sentinel_failed(rc, NULL, "cannot connect");
		return;
	}
	ac->data = rc;
	rc->ac = ac; /* the stuck check covers the sentinel too; not ready meanwhile */
	rc->ready = false;
	rc->outstanding = 0;
	redisAsyncSetConnectCallback(ac, sentinel_connect_cb);
	redisAsyncSetDisconnectCallback(ac, disconnect_cb);
	sent(rc); /* the connect */
	redisAsyncCommand(ac, sentinel_cb, NULL, "SENTINEL get-master-addr-by-name %s", s->master);
	sent(rc);
}

/* Open a new connection (non-blocking: the address is numeric), asking a sentinel first. */
static void
rconn_start(struct rconn *rc)
{
	struct redis_store *s = rc->s;
	redisAsyncContext *ac;

	if (s->master != NULL && !rc->have_master) {
		sentinel_ask(rc);
		return;
	}
	rc->have_master = false; /* the next connect asks again */
	ac = s->master != NULL ? redisAsyncConnect(rc->mhost, rc->mport)
	     : s->port         ? redisAsyncConnect(s->host, s->port)
	                       : redisAsyncConnectUnix(s->host);

	if (ac == NULL || ac->err || lgd_redis_attach(ac, rc->base) < 0) {
		rc->ac = NULL;
		note_down(s, "connect", ac && ac->err ? ac->errstr : "out of memory");
		if (ac != NULL)
			redisAsyncFree(ac);
		struct timeval tv = {rc->backoff_ms / 1000, (rc->backoff_ms % 1000) * 1000};
		event_add(rc->reconnect, &tv);
		return;
	}
	ac->data = rc;
	rc->ac = ac;
	rc->ready = false;
	rc->outstanding = 0;
	redisAsyncSetConnectCallback(ac, connect_cb);
	redisAsyncSetDisconnectCallback(ac, disconnect_cb);
	sent(rc); /* the connect itself must finish within the timeout */
}

/* Backoff over: connect again. */
static void
reconnect_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	rconn_start(arg);
}

/*
 * No answer for twice the timeout while commands are outstanding: Redis is
 * stuck (SIGSTOP, a network hole). Each waiting request has had its 503 at
 * its own timeout already; twice, so that a loop that was itself late (a busy
 * machine) does not drop a healthy connection whose answers are still unread.
 * Progress is an answer since the last check (the clock is read here only,
 * not per command), so a stall is seen within one check interval more.
 */
static void
check_cb(evutil_socket_t fd, short what, void *arg)
{
	struct rconn *rc = arg;
	int64_t now = lgd_mono_us();

	(void)fd;
	(void)what;
	if (rc->outstanding == 0 || rc->answers != rc->seen) {
		rc->seen = rc->answers;
		rc->progress_us = now;
	} else if (rc->ac != NULL &&
	           now - rc->progress_us > 2 * (int64_t)rc->s->base.timeout_ms * 1000) {
		rconn_fail(rc, "timeout");
		return;
	}
	reconcile(rc); /* students another worker decided locally, if any */
}

/* List a student decided locally, for the merge back into Redis (once while listed). */
static void
mark_dirty(struct redis_store *s, const char *student, size_t len)
{
	struct lg_students_ref ref;
	struct lg_student_state *st;

	pthread_mutex_lock(&s->dirty_lock);
	st = lg_students_acquire(s->dirty_set, student, len, &ref);
	if (st->start == 0) {
		st->start = 1;
		if (s->ndirty == s->dirty_cap) {
			s->dirty_cap = s->dirty_cap ? 2 * s->dirty_cap : 64;
			s->dirty = lg_xrealloc(s->dirty, s->dirty_cap, sizeof(*s->dirty));
		}
		s->dirty[s->ndirty] = lg_xcalloc(1, len + 1);
		memcpy(s->dirty[s->ndirty], student, len);
		s->dirty[s->ndirty][len] = '\0';
		s->ndirty++;
		atomic_store(&s->unreconciled, s->ndirty);
	}
	lg_students_release(&ref);
	pthread_mutex_unlock(&s->dirty_lock);
}

/* Whether the student waits for its merge back (cheap while nobody does). */
static bool
is_dirty(struct redis_store *s, const char *student, size_t len)
{
	struct lg_students_ref ref;
	struct lg_student_state *st;
	bool dirty = false;

	if (atomic_load(&s->unreconciled) == 0)
		return false;
	pthread_mutex_lock(&s->dirty_lock);
	if ((st = lg_students_find(s->dirty_set, student, len, &ref)) != NULL) {
		dirty = st->start != 0;
		lg_students_release(&ref);
	}
	pthread_mutex_unlock(&s->dirty_lock);
	return dirty;
}

/*
 * Redis's answer about a student into the local copy: as it is (on_failure
 * closed), or merged with what the copy holds (local: the copy may know of
 * decisions Redis has not seen yet); leases held locally stay.
 */
static void
copy_update(struct redis_store *s, const char *student, size_t len,
            const struct lg_student_state *st)
{
	struct lg_students_ref ref;
	struct lg_student_state *c =
	    lg_students_acquire(lg_store_memory_table(s->copy), student, len, &ref);

	if (s->local) {
		struct lg_clock_span a = {c->start, c->start + c->last_off};
		struct lg_clock_span b = {st->start, st->start + st->last_off};
		struct lg_clock_span m = lg_clock_merge(a, b, s->keep);
		bool held = lg_policy_tunnels_held(c, lgd_now_us() / 1000000);
		if (!held) {
			c->tunnels = st->tunnels;
			c->lease_until = st->lease_until;
		}
		c->start = m.start;
		c->last_off = (uint32_t)(m.last - m.start);
	} else {
		*c = *st;
	}
	lg_students_release(&ref);
}

/* Record a synchronous store's answer. */
static void
keep_result(void *arg, uint64_t tag, const struct lg_store_result *r)
{
	(void)tag;
	*(struct lg_store_result *)arg = *r;
}

/* Decide on the local copy (Redis unreachable or late) and list the student for the merge. */
static void
decide_on_copy(struct redis_store *s, const struct lg_store_query *q, struct lg_store_result *r)
{
	lg_store_decide(s->copy, q, keep_result, r, 0);
	mark_dirty(s, q->student, q->student_len);
	atomic_fetch_add(&s->local_decisions, 1);
}

static struct rreq *req_new(struct rconn *rc, enum req_kind kind, const char *sha,
                            const char *const *args, int nargs);
static void req_send(struct rreq *q);

/* Send the student's local view to be merged into Redis (on rc, ready). */
static void
send_merge(struct rconn *rc, const char *student, size_t len, const char *key)
{
	struct redis_store *s = rc->s;
	struct lg_student_state st;
	int64_t now = lgd_now_us() / 1000000, last;
	char a[6][24];

	if (lg_store_table_snapshot(lg_store_memory_table(s->copy), student, len, now, &st) == 0 ||
	    st.start == 0)
		return; /* the copy forgot it: its state no longer matters */
	last = st.start + st.last_off;
	if (st.tunnels > 0) {
		/* A tunnel held here: active until now (capped at the longest lesson). */
		int64_t active = now < st.start + s->lmax ? now : st.start + s->lmax;
		if (active > last)
			last = active;
	}
	snprintf(a[0], sizeof(a[0]), "%lld", (long long)now);
	snprintf(a[1], sizeof(a[1]), "%lld", (long long)st.start);
	snprintf(a[2], sizeof(a[2]), "%lld", (long long)last);
	snprintf(a[3], sizeof(a[3]), "%d", s->keep);
	snprintf(a[4], sizeof(a[4]), "%d", s->lmax);
	snprintf(a[5], sizeof(a[5]), "%d", s->keep);
	req_send(req_new(rc, REQ_MERGE, s->sha_merge,
	                 (const char *[]){key, a[0], a[1], a[2], a[3], a[4], a[5]}, 7));
}

/* A merge was not applied (the connection went away): list the student again. */
static void
merge_failed(struct rreq *q)
{
	struct redis_store *s = q->rc->s;
	size_t pl = strlen(s->prefix);

	mark_dirty(s, q->argv[3] + pl + 1, q->argvlen[3] - pl - 2);
}

static bool make_key(struct redis_store *s, const char *student, size_t len, char *key, size_t cap);

/* Redis answers on rc again: merge back every student decided locally (taken off the list). */
static void
reconcile(struct rconn *rc)
{
	struct redis_store *s = rc->s;
	char **ids;
	size_t n;
	char key[1024];

	if (atomic_load(&s->unreconciled) == 0 || !rc->ready || rc->ac == NULL)
		return;
	pthread_mutex_lock(&s->dirty_lock);
	ids = s->dirty;
	n = s->ndirty;
	s->dirty = NULL;
	s->ndirty = s->dirty_cap = 0;
	atomic_store(&s->unreconciled, 0);
	for (size_t i = 0; i < n; i++) {
		struct lg_students_ref ref;
		struct lg_student_state *st =
		    lg_students_find(s->dirty_set, ids[i], strlen(ids[i]), &ref);
		if (st != NULL) {
			st->start = 0;
			lg_students_release(&ref);
		}
	}
	pthread_mutex_unlock(&s->dirty_lock);
	lgd_info("student store reconciling", "store=redis address=%s students=%zu", s->addr, n);
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(ids[i]);
		if (rc->ready && rc->ac != NULL && make_key(s, ids[i], len, key, sizeof(key)))
			send_merge(rc, ids[i], len, key);
		else
			mark_dirty(s, ids[i], len);
		free(ids[i]);
	}
	free(ids);
}

/* Send a request's command (EVALSHA, or EVAL with the script after NOSCRIPT). */
static void reply_cb(redisAsyncContext *ac, void *r, void *priv);

/* Send req on its connection. */
static void
req_send(struct rreq *q)
{
	struct rconn *rc = q->rc;
	char cmd[1024]; /* an EVALSHA fits; an EVAL with its script is formatted by hiredis */
	size_t len = lg_redis_format(cmd, sizeof(cmd), q->argc, q->argv, q->argvlen);
	int queued = len ? redisAsyncFormattedCommand(rc->ac, reply_cb, q, cmd, len)
	                 : redisAsyncCommandArgv(rc->ac, reply_cb, q, q->argc, q->argv, q->argvlen);

	if (queued != REDIS_OK) {
		struct lg_store_result r = {.status = LG_STORE_UNAVAILABLE};
		if (q->kind == REQ_DECIDE)
			q->done(q->arg, q->tag, &r);
		else if (q->kind == REQ_MERGE)
			merge_failed(q);
		free(q);
		return;
	}
	sent(rc);
}

/* The student of a request (its key without the prefix and the braces). */
static const char *
req_student(const struct rreq *q, size_t *len)
{
	size_t pl = strlen(q->rc->s->prefix);

	*len = q->argvlen[3] - pl - 2;
	return q->argv[3] + pl + 1;
}

/* The integers of an array reply of n integers into v; false if it is something else. */
static bool
int_array(const redisReply *reply, long long *v, size_t n)
{
	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (reply->element[i]->type != REDIS_REPLY_INTEGER)
			return false;
		v[i] = reply->element[i]->integer;
	}
	return true;
}

/* A decide's, a lease's or a merge's answer (NULL: the connection went away). */
static void
reply_cb(redisAsyncContext *ac, void *r, void *priv)
{
	static const char *const what[] = {"decide", "lease", "merge"};
	struct rreq *q = priv;
	struct rconn *rc = q->rc;
	struct redis_store *s = rc->s;
	redisReply *reply = r;
	struct lg_store_result res = {.status = LG_STORE_UNAVAILABLE};
	long long v[8];
	struct lg_student_state st;
	const char *student;
	size_t len;

	if (reply != NULL && ac->data == rc)
		answered(rc);
	if (reply == NULL && ac->data == rc && rc->ready) {
		/* The connection is going away: what its callbacks ask next fails at once. */
		rc->ready = false;
		atomic_fetch_sub(&s->ready, 1);
	}
	if (reply != NULL && reply->type == REDIS_REPLY_ERROR &&
	    strncmp(reply->str, "NOSCRIPT", 8) == 0 && !q->retried && rc->ac == ac) {
		/* The server lost its scripts (restart, failover, SCRIPT FLUSH): EVAL loads it
		 * again. */
		q->retried = true;
		q->argv[0] = "EVAL";
		q->argvlen[0] = 4;
		q->argv[1] = q->kind == REQ_DECIDE  ? lg_redis_decide_lua
		             : q->kind == REQ_MERGE ? lg_redis_merge_lua
		                                    : lg_redis_lease_lua;
		q->argvlen[1] = strlen(q->argv[1]);
		req_send(q);
		return;
	}
	if (reply == NULL)
		atomic_fetch_add(&s->failures, 1);
	else if (reply->type == REDIS_REPLY_ERROR)
		note_down(s, what[q->kind], reply->str);
	student = req_student(q, &len);
	if (q->kind == REQ_DECIDE) {
		if (int_array(reply, v, 8) && lg_redis_decide_answer(v, 8, &res.clock, &st) == 0) {
			copy_update(s, student, len, &st);
			res.status = LG_STORE_OK;
			res.clock_only = true;
			if (atomic_load(&s->down) && redis_up(&s->base))
				note_up(s); /* a late answer had made it look down */
		}
		q->done(q->arg, q->tag, &res);
	} else if (q->kind == REQ_MERGE) {
		if (int_array(reply, v, 3) && lg_redis_merge_answer(v, 3, &st) == 0)
			copy_update(s, student, len, &st);
		else
			merge_failed(q);
	}
	free(q);
}

/* A request for argc arguments whose text (NUL-separated) is in `text` (len bytes). */
static struct rreq *
req_new(struct rconn *rc, enum req_kind kind, const char *sha, const char *const *args, int nargs)
{
	size_t total = 0;
	struct rreq *q;
	char *p;

	for (int i = 0; i < nargs; i++)
		total += strlen(args[i]) + 1;
	q = lg_xcalloc(1, sizeof(*q) + total);
	q->rc = rc;
	q->kind = kind;
	q->argv[0] = "EVALSHA";
	q->argvlen[0] = 7;
	q->argv[1] = sha;
	q->argvlen[1] = 40;
	q->argv[2] = "1";
	q->argvlen[2] = 1;
	p = q->buf;
	for (int i = 0; i < nargs; i++) {
		size_t n = strlen(args[i]);
		memcpy(p, args[i], n + 1);
		q->argv[3 + i] = p;
		q->argvlen[3 + i] = n;
		p += n + 1;
	}
	q->argc = 3 + nargs;
	return q;
}

/* This thread's connection, if ready. */
static struct rconn *
ready_conn(struct redis_store *s)
{
	struct rconn *rc = tconn;

	if (rc == NULL || rc->s != s || !rc->ready || rc->ac == NULL)
		return NULL;
	return rc;
}

/* The student's key; false if too long (the id's limit keeps this from happening). */
static bool
make_key(struct redis_store *s, const char *student, size_t len, char *key, size_t cap)
{
	return memchr(student, '\0', len) == NULL &&
	       lg_redis_key(s->prefix, student, len, key, cap) != 0;
}

/* How long a key outlives the last activity: the longest break_min of the rules in force. */
static int32_t
keep_for(const struct lg_policy *p)
{
	const struct lg_rules *r = lg_policy_rules(p);
	int32_t keep = 0;

	for (int i = 0; i < LG_LESSON_CLASSES; i++)
		if (r->cls[i].break_min > keep)
			keep = r->cls[i].break_min;
	return keep;
}

/* The calendar in C at once; the lesson clock in Redis, answered on this loop. */
static void
redis_decide(struct lg_store *gs, const struct lg_store_query *q, lg_store_done done, void *arg,
             uint64_t tag)
{
	struct redis_store *s = rs(gs);
	struct lg_store_result r = {.status = LG_STORE_OK};
	const struct lg_class_rules *cr = &lg_policy_rules(q->policy)->cls[q->cls];
	struct rconn *rc;
	char key[1024], now[24], lmax[24], bmin[24], keep[24], slack[24];
	struct rreq *req;

	if (!lg_policy_decide_day(q->policy, q->cls, q->region, q->now, &r.d)) {
		done(arg, tag, &r); /* blocked day, outside the day window: no state needed */
		return;
	}
	if (!make_key(s, q->student, q->student_len, key, sizeof(key))) {
		r.status = LG_STORE_UNAVAILABLE;
		done(arg, tag, &r);
		return;
	}
	if ((rc = ready_conn(s)) == NULL) {
		atomic_fetch_add(&s->failures, 1);
		if (s->local)
			decide_on_copy(s, q, &r);
		else
			r.status = LG_STORE_UNAVAILABLE;
		done(arg, tag, &r);
		return;
	}
	/* Decided here while Redis was away, not merged back yet: merge first, in order. */
	if (s->local && is_dirty(s, q->student, q->student_len))
		send_merge(rc, q->student, q->student_len, key);
	snprintf(now, sizeof(now), "%lld", (long long)q->now);
	snprintf(lmax, sizeof(lmax), "%d", cr->lesson_max);
	snprintf(bmin, sizeof(bmin), "%d", cr->break_min);
	snprintf(keep, sizeof(keep), "%d", keep_for(q->policy));
	snprintf(slack, sizeof(slack), "%d", LG_REDIS_EXPIRY_SLACK);
	req = req_new(rc, REQ_DECIDE, s->sha_decide,
	              (const char *[]){key, now, lmax, bmin, keep, slack}, 6);
	req->done = done;
	req->arg = arg;
	req->tag = tag;
	req_send(req);
}

/* No answer (timeout, connection lost): decide on the local copy (on_failure = "local" only). */
static bool
redis_decide_fallback(struct lg_store *gs, const struct lg_store_query *q,
                      struct lg_store_result *r)
{
	struct redis_store *s = rs(gs);

	if (!s->local)
		return false;
	note_down(s, "decide", "no answer (timeout or connection lost)");
	decide_on_copy(s, q, r);
	return true;
}

/* Send a lease operation without waiting for its answer; -1 if no connection is ready. */
static int
lease_op(struct redis_store *s, const char *op, const char *student, size_t len, int64_t now,
         uint64_t id, int64_t expires, int32_t lmax, int32_t keep)
{
	struct rconn *rc = ready_conn(s);
	char key[1024], a[5][24];

	if (rc == NULL || !make_key(s, student, len, key, sizeof(key))) {
		atomic_fetch_add(&s->failures, 1);
		return -1;
	}
	snprintf(a[0], sizeof(a[0]), "%lld", (long long)now);
	snprintf(a[1], sizeof(a[1]), "%llu", (unsigned long long)id);
	snprintf(a[2], sizeof(a[2]), "%lld", (long long)expires);
	snprintf(a[3], sizeof(a[3]), "%d", lmax);
	snprintf(a[4], sizeof(a[4]), "%d", keep);
	req_send(req_new(rc, REQ_LEASE, s->sha_lease,
	                 (const char *[]){key, op, a[0], a[1], a[2], a[3], a[4]}, 7));
	return 0;
}

/*
 * A lease with an id unique across instances (a random salt per process),
 * not sent yet (LEASE_UNSENT): most lesson responses end within a second, and
 * a lease opened and closed in the same second changes nothing in Redis, so
 * the open waits for the holder's first renewal (at most LG_LEASE_RENEW s;
 * breaks are longer, so no other instance can start a new lesson meanwhile:
 * the decision just recorded this moment as activity). Rules with a
 * break_min that short open at once. on_failure = "local": the copy holds
 * the lease too. -1 if Redis is away (on_failure closed).
 */
static int
redis_lease_open(struct lg_store *gs, const char *student, size_t len, int64_t now,
                 struct lg_lease *l)
{
	struct redis_store *s = rs(gs);
	struct lg_lease mine;
	bool ready = ready_conn(s) != NULL;

	l->id = (s->lease_salt ^ atomic_fetch_add(&s->next_lease, 1)) | LEASE_UNSENT;
	l->expires = now + LG_LEASE_TTL;
	if (!ready && !s->local) {
		atomic_fetch_add(&s->failures, 1);
		return -1;
	}
	if (s->local) {
		lg_store_lease_open(s->copy, student, len, now, &mine);
		if (!ready)
			mark_dirty(s, student, len);
	}
	if (!s->defer_leases && lease_op(s, "open", student, len, now, l->id & ~LEASE_UNSENT,
	                                 l->expires, -1, s->keep) == 0)
		l->id &= ~LEASE_UNSENT;
	return 0;
}

/* Push the lease's expiry on; a lease not sent yet is opened in Redis now. */
static void
redis_lease_renew(struct lg_store *gs, const char *student, size_t len, int64_t now,
                  struct lg_lease *l)
{
	struct redis_store *s = rs(gs);
	struct lg_lease mine = *l;

	l->expires = now + LG_LEASE_TTL;
	if (s->local)
		lg_store_lease_renew(s->copy, student, len, now, &mine);
	if (l->id & LEASE_UNSENT) {
		if (lease_op(s, "open", student, len, now, l->id & ~LEASE_UNSENT, l->expires, -1,
		             s->keep) == 0)
			l->id &= ~LEASE_UNSENT;
		return;
	}
	lease_op(s, "renew", student, len, now, l->id, l->expires, -1, s->keep);
}

/*
 * Activity until now, the lease removed (in the copy too, on_failure =
 * "local"). A lease never sent that outlived the second it was opened or
 * last renewed in is opened and closed, so Redis counts that activity.
 */
static void
redis_lease_close(struct lg_store *gs, const struct lg_policy *p, const char *student, size_t len,
                  enum lg_class cls, int64_t now, const struct lg_lease *l)
{
	struct redis_store *s = rs(gs);
	int32_t lmax = cls < LG_LESSON_CLASSES ? lg_policy_rules(p)->cls[cls].lesson_max : -1;
	uint64_t id = l->id & ~LEASE_UNSENT;
	int sent = 0;

	if (!(l->id & LEASE_UNSENT) || now > l->expires - LG_LEASE_TTL) {
		if (l->id & LEASE_UNSENT)
			sent = lease_op(s, "open", student, len, now, id, now + LG_LEASE_TTL, -1,
			                s->keep);
		if (sent == 0)
			sent = lease_op(s, "close", student, len, now, id, l->expires, lmax,
			                keep_for(p));
	}
	if (!s->local)
		return;
	lg_store_lease_close(s->copy, p, student, len, cls, now, l);
	if (sent != 0)
		mark_dirty(s, student, len); /* the activity until now is Redis's at the merge */
}

/* This instance's latest copy of the student (what Redis answered last here). */
static int
redis_snapshot(struct lg_store *gs, const char *student, size_t len, int64_t now,
               struct lg_student_state *out)
{
	return lg_store_snapshot(rs(gs)->copy, student, len, now, out);
}

/* Redis expires its keys itself; forget stale local copies (and unlisted students). */
static size_t
redis_expire(struct lg_store *gs, const struct lg_policy *p, int64_t now)
{
	struct redis_store *s = rs(gs);

	if (s->local) {
		pthread_mutex_lock(&s->dirty_lock);
		lg_students_expire(s->dirty_set, p, now, 4);
		pthread_mutex_unlock(&s->dirty_lock);
	}
	return lg_store_expire(s->copy, p, now);
}

/* Every worker's connection is ready. */
static bool
redis_up(struct lg_store *gs)
{
	struct redis_store *s = rs(gs);
	int n = atomic_load(&s->attached);

	return n > 0 && atomic_load(&s->ready) == n;
}

/* ok; degraded (deciding locally) or down while a failure lasts, since when, the last error. */
static void
redis_health(struct lg_store *gs, struct lg_store_health *out)
{
	struct redis_store *s = rs(gs);
	bool bad = atomic_load(&s->down) || !redis_up(gs);

	out->state = !bad       ? LG_STORE_HEALTH_OK
	             : s->local ? LG_STORE_HEALTH_DEGRADED
	                        : LG_STORE_HEALTH_DOWN;
	pthread_mutex_lock(&s->health_lock);
	out->since = s->since;
	snprintf(out->error, sizeof(out->error), "%s", s->last_error);
	pthread_mutex_unlock(&s->health_lock);
	out->local_decisions = atomic_load(&s->local_decisions);
	out->unreconciled = atomic_load(&s->unreconciled);
}

/* Free the store (every worker detached first). */
static void
redis_free(struct lg_store *gs)
{
	struct redis_store *s = rs(gs);

	for (size_t i = 0; i < s->ndirty; i++)
		free(s->dirty[i]);
	free(s->dirty);
	lg_students_free(s->dirty_set);
	pthread_mutex_destroy(&s->dirty_lock);
	pthread_mutex_destroy(&s->health_lock);
	lg_store_free(s->copy);
	free(s->master);
	free(s->password);
	free(s->username);
	free(s->prefix);
	free(s);
}

static const struct lg_store_ops redis_ops = {
    .decide = redis_decide,
    .lease_open = redis_lease_open,
    .lease_renew = redis_lease_renew,
    .lease_close = redis_lease_close,
    .snapshot = redis_snapshot,
    .expire = redis_expire,
    .up = redis_up,
    .decide_fallback = redis_decide_fallback,
    .health = redis_health,
    .free = redis_free,
};

/* The SHA1 of a script, as EVALSHA wants it. */
static void
script_sha(const char *script, char out[41])
{
	unsigned char md[SHA_DIGEST_LENGTH];

	SHA1((const unsigned char *)script, strlen(script), md);
	for (int i = 0; i < SHA_DIGEST_LENGTH; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* "host:port" / "[v6]:port" resolved once to a numeric address (out, 256 bytes); "unix:/path". */
static int
resolve(const char *address, char *out, int *port, char *err, size_t errlen)
{
	char host[256];
	const char *colon;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
	int rc;

	if (strncmp(address, "unix:", 5) == 0) {
		snprintf(out, 256, "%s", address + 5);
		*port = 0;
		return 0;
	}
	colon = strrchr(address, ':');
	if (address[0] == '[')
		snprintf(host, sizeof(host), "%.*s", (int)(colon - address - 2), address + 1);
	else
		snprintf(host, sizeof(host), "%.*s", (int)(colon - address), address);
	*port = atoi(colon + 1);
	if ((rc = getaddrinfo(host, NULL, &hints, &ai)) != 0) {
		snprintf(err, errlen, "cannot resolve \"%s\": %s", host, gai_strerror(rc));
		return -1;
	}
	rc = getnameinfo(ai->ai_addr, ai->ai_addrlen, out, 256, NULL, 0, NI_NUMERICHOST);
	freeaddrinfo(ai);
	if (rc != 0) {
		snprintf(err, errlen, "cannot use \"%s\": %s", host, gai_strerror(rc));
		return -1;
	}
	return 0;
}

/* The Redis store of cf's state section; NULL with err set if the address does not resolve. */
struct lg_store *
lgd_store_redis_new(const struct lg_config *cf, char *err, size_t errlen)
{
	struct redis_store *s = lg_xcalloc(1, sizeof(*s));
	const struct lg_state_conf *st = &cf->state;

	if (st->redis_sentinel_master != NULL) {
		snprintf(s->addr, sizeof(s->addr), "sentinel:%s", st->redis_sentinel_master);
		for (size_t i = 0; i < st->redis_nsentinels && i < 16; i++)
			if (resolve(st->redis_sentinels[i], s->sentinels[i].host,
			            &s->sentinels[i].port, err, errlen) != 0) {
				free(s);
				return NULL;
			}
		s->nsentinels = (int)(st->redis_nsentinels < 16 ? st->redis_nsentinels : 16);
		s->master = lg_strdup(st->redis_sentinel_master);
	} else {
		snprintf(s->addr, sizeof(s->addr), "%s", st->redis_address);
		if (resolve(st->redis_address, s->host, &s->port, err, errlen) != 0) {
			free(s);
			return NULL;
		}
	}
	s->base.ops = &redis_ops;
	s->base.kind = "redis";
	s->base.timeout_ms = (int)st->redis_timeout_ms;
	s->base.synchronous = false;
	s->copy = lg_store_memory_new(100000, 64);
	s->password = st->redis_password ? lg_strdup(st->redis_password) : NULL;
	s->username = st->redis_username ? lg_strdup(st->redis_username) : NULL;
	s->prefix = lg_strdup(st->redis_prefix);
	s->database = st->redis_database;
	for (int i = 0; i < LG_LESSON_CLASSES; i++) {
		if (cf->rules.cls[i].break_min > s->keep)
			s->keep = cf->rules.cls[i].break_min;
		if (cf->rules.cls[i].lesson_max > s->lmax)
			s->lmax = cf->rules.cls[i].lesson_max;
	}
	s->local = strcmp(st->redis_on_failure, "local") == 0;
	s->defer_leases = true;
	for (int i = 0; i < LG_LESSON_CLASSES; i++)
		if (cf->rules.cls[i].break_min <= 2 * LG_LEASE_RENEW)
			s->defer_leases = false;
	s->dirty_set = lg_students_new(1024, 16);
	pthread_mutex_init(&s->dirty_lock, NULL);
	pthread_mutex_init(&s->health_lock, NULL);
	script_sha(lg_redis_merge_lua, s->sha_merge);
	script_sha(lg_redis_decide_lua, s->sha_decide);
	script_sha(lg_redis_lease_lua, s->sha_lease);
	if (getrandom(&s->lease_salt, sizeof(s->lease_salt), 0) != sizeof(s->lease_salt))
		s->lease_salt = (uint64_t)lgd_mono_us() * 0x9e3779b97f4a7c15ull;
	s->lease_salt &= ~(uint64_t)0xffffffff; /* low bits: the counter */
	return &s->base;
}

/* The calling worker thread's connection on its loop (no-op for other stores). */
void
lgd_store_redis_attach(struct lg_store *gs, struct event_base *base)
{
	struct rconn *rc;
	struct timeval tv;
	int every;

	if (gs == NULL || strcmp(gs->kind, "redis") != 0)
		return;
	rc = lg_xcalloc(1, sizeof(*rc));
	rc->s = rs(gs);
	rc->base = base;
	rc->backoff_ms = BACKOFF_MIN_MS;
	rc->check = event_new(base, -1, EV_PERSIST, check_cb, rc);
	rc->reconnect = event_new(base, -1, 0, reconnect_cb, rc);
	/* A quarter of the timeout, between 10 and 100 ms. */
	every = rc->s->base.timeout_ms / 4;
	every = every < 10 ? 10 : every > 100 ? 100 : every;
	tv = lgd_tv_ms(every);
	event_add(rc->check, &tv);
	tconn = rc;
	atomic_fetch_add(&rc->s->attached, 1);
	rconn_start(rc);
}

/* The worker stops: close its connection (pending decisions answer UNAVAILABLE). */
void
lgd_store_redis_detach(struct lg_store *gs)
{
	struct rconn *rc = tconn;

	if (rc == NULL || gs == NULL || rc->s != rs(gs))
		return;
	rc->detaching = true;
	if (rc->ac != NULL) {
		redisAsyncContext *ac = rc->ac;
		rc->ac = NULL;
		ac->data = NULL;
		redisAsyncFree(ac);
	}
	if (rc->ready)
		atomic_fetch_sub(&rc->s->ready, 1);
	atomic_fetch_sub(&rc->s->attached, 1);
	event_free(rc->check);
	event_free(rc->reconnect);
	tconn = NULL;
	free(rc);
}
