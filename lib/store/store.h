/*
 * The student store: where every student's lesson clock lives, behind one
 * interface that may answer later (state.store: memory today; local LMDB and
 * shared Redis next).
 *
 * The seam. A request is first *prepared* by the gate (lg_gate_prepare:
 * normalise, classify, identify; no state touched). A lesson request then
 * asks the store to *decide* (lg_store_decide): the store applies the policy
 * to the student's clock atomically and reports the outcome through a
 * callback. The gate then *commits* the outcome (lg_gate_commit): the
 * verdict, and the events, which therefore always describe state the store
 * has committed, never a decision that was later lost.
 *
 * Completion. A store may call the callback before decide returns (the
 * memory store always does: the in-memory path costs one function pointer
 * more than a direct call), or later. Callers MUST handle a callback from
 * inside decide. A later completion is always delivered on the event loop of
 * the thread that called decide: lib/ has no event loop, so an asynchronous
 * store is driven by its owner (daemon glue), which runs its completions on
 * that loop. The callback gets the caller's long-lived `arg` and a `tag` (a
 * connection id, say) to find what asked: whatever asked may be gone by
 * then, so never pass a pointer to short-lived state as arg. A store that
 * cannot answer calls back with LG_STORE_UNAVAILABLE; one that is slow is
 * given up on by the caller after lg_store_timeout_ms, and its late answer
 * must then be dropped by the caller (the tag no longer matches).
 *
 * Leases. An open lesson tunnel (a WebSocket, a streamed lesson response)
 * keeps its student's lesson active until it closes. It does so by holding a
 * lease: lg_store_lease_open returns a lease id and an expiry
 * (LG_LEASE_TTL seconds on); the holder renews it every LG_LEASE_RENEW
 * seconds and closes it when the tunnel ends. A lease not renewed expires, so
 * an instance that crashed cannot leave a student active for ever in a
 * shared store. Lease operations never wait: they are applied at once
 * (memory) or sent without waiting for the answer (remote stores).
 *
 * Threads. One store is shared by all worker threads; every op may be called
 * from any thread at the same time.
 */
#ifndef LG_STORE_H
#define LG_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy.h"

/* A lease lives this long unless renewed (seconds). */
#define LG_LEASE_TTL 30
/* Holders renew their leases this often (seconds). */
#define LG_LEASE_RENEW 10

/* How a store operation ended. */
enum lg_store_status {
	LG_STORE_OK = 0,
	LG_STORE_UNAVAILABLE, /* the store cannot answer (e.g. Redis down): fail as configured */
};

/* What a decision is about: one lesson request of one student. */
struct lg_store_query {
	const struct lg_policy *policy; /* the rules in force (they change on reload) */
	const char *student;            /* NUL-terminated; the store copies what it keeps */
	size_t student_len;
	enum lg_class cls; /* subject or non_subject */
	uint32_t region;
	int64_t now; /* unix time of the request */
};

/* The answer to a decide. */
struct lg_store_result {
	enum lg_store_status status;
	struct lg_decision d; /* status LG_STORE_OK: the committed decision */
	/*
	 * A remote store decides only the lesson clock (the calendar needs no
	 * state, and the query's policy may be gone when a late answer comes):
	 * then clock_only is set, d is not, and the committer finishes the
	 * decision from `clock` with its own policy (lg_policy_decide_finish).
	 */
	bool clock_only;
	struct lg_clock_outcome clock;
};

/* Completion of a decide; `result` is valid only during the call. */
typedef void (*lg_store_done)(void *arg, uint64_t tag, const struct lg_store_result *result);

/* A held lease: the id the store gave, and when it expires unless renewed. */
struct lg_lease {
	uint64_t id;
	int64_t expires;
};

/* How a store is doing, for the status and the metrics (lg_store_health). */
enum lg_store_health_state {
	LG_STORE_HEALTH_OK = 0,   /* decisions are the store's own */
	LG_STORE_HEALTH_DEGRADED, /* unreachable; decisions taken on a local copy (on_failure local)
	                           */
	LG_STORE_HEALTH_DOWN,     /* unreachable; lesson routes fail as configured (503) */
};

/* A store's health at one moment. */
struct lg_store_health {
	enum lg_store_health_state state;
	int64_t since;            /* unix time the state began (0: since the store was made) */
	char error[160];          /* the last error seen ("" if none yet), kept after recovery */
	uint64_t local_decisions; /* decisions taken on the local copy since the store was made */
	uint64_t unreconciled;    /* students decided locally, not yet merged back */
};

struct lg_store;

/* The operations of one kind of store. */
struct lg_store_ops {
	/* Decide q and update the student's clock; done(arg, tag, result) now or later. */
	void (*decide)(struct lg_store *, const struct lg_store_query *q, lg_store_done done,
	               void *arg, uint64_t tag);
	/* A lesson tunnel of the student opened at now: fill in the lease. 0, or -1 if down. */
	int (*lease_open)(struct lg_store *, const char *student, size_t len, int64_t now,
	                  struct lg_lease *);
	/* The holder is alive at now: push the lease's expiry on (updates lease->expires). */
	void (*lease_renew)(struct lg_store *, const char *student, size_t len, int64_t now,
	                    struct lg_lease *);
	/* The tunnel closed at now: activity lasted until then (class cls); the lease ends. */
	void (*lease_close)(struct lg_store *, const struct lg_policy *, const char *student,
	                    size_t len, enum lg_class cls, int64_t now, const struct lg_lease *);
	/*
	 * A copy of the student's state for the status endpoint, at once and
	 * changing nothing: 1 found, 0 unknown (out zeroed), -1 unavailable.
	 */
	int (*snapshot)(struct lg_store *, const char *student, size_t len, int64_t now,
	                struct lg_student_state *out);
	/* Forget students whose state no longer matters; a slice of the work per call. */
	size_t (*expire)(struct lg_store *, const struct lg_policy *, int64_t now);
	/* Whether the store can answer now (false: lesson routes fail as configured). */
	bool (*up)(struct lg_store *);
	/*
	 * The store did not answer a decide within its timeout: decide q at once
	 * on what this instance knows (on_failure = "local"), the outcome in *r;
	 * false if the store has no such fallback (NULL op: none either).
	 */
	bool (*decide_fallback)(struct lg_store *, const struct lg_store_query *q,
	                        struct lg_store_result *r);
	/* Fill in the store's health, at once and from any thread (NULL op: always ok). */
	void (*health)(struct lg_store *, struct lg_store_health *out);
	/* Free the store (no operation may be pending). */
	void (*free)(struct lg_store *);
};

/* Every store starts with this (implementations embed it as their first member). */
struct lg_store {
	const struct lg_store_ops *ops;
	const char *kind; /* "memory", ... (for logs and the status) */
	int timeout_ms;   /* how long a caller waits for a decide before giving up */
	bool synchronous; /* decide always completes before it returns */
};

/* The memory store: today's sharded in-process table; clocks do not survive a restart. */
struct lg_store *lg_store_memory_new(size_t expected, unsigned shards);
/* The memory store's table (for tests and the benchmark). */
struct lg_students *lg_store_memory_table(struct lg_store *);
/*
 * A copy of a student's state in an in-process table, expired leases shown as
 * none: the snapshot of every store that keeps the table in memory. 1 if the
 * student is there, else 0 (and *out zeroed).
 */
int lg_store_table_snapshot(struct lg_students *, const char *student, size_t len, int64_t now,
                            struct lg_student_state *out);
struct lg_student_key;
/* The same for a student known only by its key in the table (lg_students_key of its id). */
int lg_store_table_snapshot_key(struct lg_students *, const struct lg_student_key *, int64_t now,
                                struct lg_student_state *out);

/* Thin wrappers over the ops, so callers read naturally. */
static inline void
lg_store_decide(struct lg_store *s, const struct lg_store_query *q, lg_store_done done, void *arg,
                uint64_t tag)
{
	s->ops->decide(s, q, done, arg, tag);
}

/* Open a lease for a lesson tunnel. */
static inline int
lg_store_lease_open(struct lg_store *s, const char *student, size_t len, int64_t now,
                    struct lg_lease *l)
{
	return s->ops->lease_open(s, student, len, now, l);
}

/* Renew a held lease. */
static inline void
lg_store_lease_renew(struct lg_store *s, const char *student, size_t len, int64_t now,
                     struct lg_lease *l)
{
	s->ops->lease_renew(s, student, len, now, l);
}

/* Close a held lease. */
static inline void
lg_store_lease_close(struct lg_store *s, const struct lg_policy *p, const char *student, size_t len,
                     enum lg_class cls, int64_t now, const struct lg_lease *l)
{
	s->ops->lease_close(s, p, student, len, cls, now, l);
}

/* A read-only copy of a student's state. */
static inline int
lg_store_snapshot(struct lg_store *s, const char *student, size_t len, int64_t now,
                  struct lg_student_state *out)
{
	return s->ops->snapshot(s, student, len, now, out);
}

/* Sweep some expired students. */
static inline size_t
lg_store_expire(struct lg_store *s, const struct lg_policy *p, int64_t now)
{
	return s->ops->expire(s, p, now);
}

/* Whether the store can answer. */
static inline bool
lg_store_up(struct lg_store *s)
{
	return s->ops->up(s);
}

/* Decide on this instance's copy after a timeout: false if the store has no fallback. */
static inline bool
lg_store_decide_fallback(struct lg_store *s, const struct lg_store_query *q,
                         struct lg_store_result *r)
{
	return s->ops->decide_fallback != NULL && s->ops->decide_fallback(s, q, r);
}

/*
 * The store's health: ok, degraded (deciding locally) or down, since when,
 * the last error. The memory and local stores are always ok; the Redis store
 * reports its connections (daemon/store/store_redis.c).
 */
static inline void
lg_store_health(struct lg_store *s, struct lg_store_health *out)
{
	if (s->ops->health != NULL) {
		s->ops->health(s, out);
		return;
	}
	out->state = LG_STORE_HEALTH_OK;
	out->since = 0;
	out->error[0] = '\0';
	out->local_decisions = out->unreconciled = 0;
}

/* "ok", "degraded" or "down". */
static inline const char *
lg_store_health_name(enum lg_store_health_state st)
{
	return st == LG_STORE_HEALTH_OK         ? "ok"
	       : st == LG_STORE_HEALTH_DEGRADED ? "degraded"
	                                        : "down";
}

/* How long to wait for a decide (ms). */
static inline int
lg_store_timeout_ms(const struct lg_store *s)
{
	return s->timeout_ms;
}

/* Free a store (NULL is fine). */
static inline void
lg_store_free(struct lg_store *s)
{
	if (s != NULL)
		s->ops->free(s);
}

#endif
