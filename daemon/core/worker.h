/* Worker threads: one event loop each, with their own listeners, connections and upstream pool. */
#ifndef LGD_WORKER_H
#define LGD_WORKER_H

#include <event2/event.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include "http1.h"
#include "runtime.h"

#define LGD_MAX_HEADERS 128
/* A wall-clock step (against the monotonic clock) this large re-arms lesson timers. */
#define LGD_CLOCK_STEP_US 50000

struct lgd_conn;
struct lgd_upconn;

/* A listening socket of one worker (SO_REUSEPORT: every worker binds its own). */
struct lgd_listener {
	TAILQ_ENTRY(lgd_listener) link;
	struct evconnlistener *lev;
	struct lgd_worker *w;
	char *address;
	size_t index; /* into w->rt->cf->listen */
};

struct lgd_worker {
	int id;
	pthread_t thread;
	struct event_base *base;
	struct lgd_runtime
	    *rt; /* the current configuration: every connection's next request takes it */
	TAILQ_HEAD(, lgd_listener) listeners;
	TAILQ_HEAD(, lgd_conn) conns;
	atomic_uint nconns; /* read by the other workers to balance (lgd_worker_balance) */
	/* Accepted by our listeners, handed to another worker, taken from one (logged at the end).
	 */
	uint64_t accepted, handed, taken;
	TAILQ_HEAD(lgd_upconn_list, lgd_upconn) pool; /* idle keep-alive upstream connections, newest first */
	unsigned npool;
	bool draining;
	/* Mailbox from the main thread: a byte on wake[1] says "look". */
	int wake[2];
	struct event *wake_ev;
	pthread_mutex_t mbox_lock;
	struct lgd_runtime *mbox_rt;
	int *mbox_fds; /* listening sockets bound for mbox_rt by the main thread, or NULL */
	bool mbox_drain, mbox_stop;
	struct lgd_handoff *mbox_in; /* accepted sockets another worker hands over */
	unsigned mbox_nin, mbox_capin;
	atomic_uint incoming; /* handed over but not yet taken: counts as load */
	struct event *tick;
	atomic_uint heartbeat;
	bool accept_paused;  /* lgd_max_conns reached: listeners off, tick checks */
	bool accept_backoff; /* out of descriptors: listeners off until backoff_ev */
	struct event *backoff_ev;
	bool accept_trouble;      /* accept failed lately: lines at most once per interval */
	unsigned accept_failures; /* accept errors not yet logged */
	int64_t accept_logged_us; /* when the last accept error line was written (lgd_mono_us) */
	int64_t accept_failed_us; /* the last accept error (lgd_mono_us) */
	int64_t clock_skew; /* wall minus monotonic clock (us) at the last tick: steps re-arm */
	/*
	 * Decisions pending in an asynchronous store: a connection's tag is
	 * (slot << 32 | generation); a slot is freed (generation bumped) when its
	 * connection closes or gives up, so a late answer finds nothing.
	 */
	struct lgd_pending *pending;
	uint32_t npending, pending_free; /* slots in use; free list head + 1 (0: none) */
	/* A decide that completes before it returns lands here (tag decide_tag). */
	bool in_decide, inline_done;
	uint64_t inline_tag;
	struct lg_store_result inline_result;
	int64_t lease_renew_at; /* unix time the open tunnels' leases are renewed next */
	/* Per-thread scratch space: parsed headers and the head being built. */
	struct lg_http_header headers[LGD_MAX_HEADERS];
	char *scratch;
	size_t scratch_len;
	/* The gate's normalised target and the proxy's own answers, reused by every request. */
	char *target;
	size_t target_cap;
	struct lg_buf out;
};

/* A client socket one worker accepted and hands to a less loaded one. */
struct lgd_handoff {
	int fd;
	socklen_t salen;
	struct sockaddr_storage sa;
	char address[64]; /* the listener's configured address */
};

/* A slot of lgd_worker.pending: the connection waiting, or the next free slot + 1. */
struct lgd_pending {
	struct lgd_conn *c;
	uint32_t gen;
	uint32_t next_free;
};

/* Connections open in all workers (limits.max_connections). */
extern atomic_int lgd_total_conns;
/* The connection limit in effect: limits.max_connections, lowered to what the descriptors hold. */
extern atomic_int lgd_max_conns;
/* Workers whose loop has ended (drained or stopped). */
extern atomic_int lgd_workers_done;
/* Every worker (main.c sets them once all are initialised): for balancing accepted sockets. */
extern struct lgd_worker *lgd_workers;
extern int lgd_nworkers;

/* Prepare a worker: its event loop and listeners for rt; -1 if a listener cannot be bound. */
int lgd_worker_init(struct lgd_worker *w, int id, struct lgd_runtime *rt);
/* Run the worker's loop in a new thread. */
int lgd_worker_start(struct lgd_worker *w);
/*
 * From the main thread: hand over a new runtime and the listening sockets
 * bound for it by lgd_listeners_bind (the worker takes both; fds may be NULL).
 */
void lgd_worker_post_reload(struct lgd_worker *w, struct lgd_runtime *rt, int *fds);
/* From the main thread: stop accepting and finish in-flight requests. */
void lgd_worker_post_drain(struct lgd_worker *w);
/* From the main thread: close everything now and leave the loop. */
void lgd_worker_post_stop(struct lgd_worker *w);
/* Wait for the thread and free the worker. */
void lgd_worker_join(struct lgd_worker *w);
/* Open a listening socket on a resolved address; -1 with errno on failure. */
int lgd_listen_socket(const struct sockaddr_storage *, socklen_t);
/* Open a listening socket nobody else may share (no SO_REUSEPORT): the admin and audit
 * listeners, single-threaded; -1 with errno (EADDRINUSE if anyone listens there). */
int lgd_listen_socket_excl(const struct sockaddr_storage *, socklen_t);
/* 0 if nobody listens on a resolved address yet (a second instance, another program). */
int lgd_listen_probe(const struct sockaddr_storage *, socklen_t);
/*
 * Main thread: bind the listeners rt has and `old` has not, for each worker
 * (fds[w * nlisten + i], -1 where kept); -1 with all closed and err set.
 */
int lgd_listeners_bind(const struct lg_config *old, const struct lgd_runtime *rt, int nworkers,
                       int *fds, char *err, size_t errlen);
/* Close the sockets of an array lgd_listeners_bind filled (-1 entries skipped). */
void lgd_listeners_close(int *fds, size_t n);
/* At the connection limit: stop accepting (clients wait in the backlog) until below it. */
void lgd_worker_pause_accept(struct lgd_worker *w);
/* How many connections the descriptors can hold: two each (client and upstream) plus the pool. */
int lgd_fd_capacity(const struct lg_config *cf, int nworkers, long long nofile);
/* Raise the soft descriptor limit to the hard one; the soft limit in effect after. */
long long lgd_raise_nofile(void);
/* Set lgd_max_conns from cf and the descriptor limit; warn if the configured value does not fit. */
void lgd_size_connections(const struct lg_config *cf, int nworkers, long long nofile);
/* Called by connections: the worker may be done draining. */
void lgd_worker_check_drained(struct lgd_worker *w);

#endif
