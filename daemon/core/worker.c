/* Worker threads: one event loop each, with their own listeners, connections and upstream pool. */
#include "worker.h"

#include <errno.h>
#include <event2/listener.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "auditwait.h"
#include "counters.h"
#include "log.h"
#include "upstream.h"

atomic_int lgd_total_conns;
atomic_int lgd_workers_done;
struct lgd_worker *lgd_workers;
int lgd_nworkers;
atomic_int lgd_max_conns = 1;

/* After EMFILE/ENFILE: listeners stay off this long, then try again (nginx: 500 ms). */
#define ACCEPT_BACKOFF_MS 500
/* Accept failures are logged at most once per interval, with a count. */
#define ACCEPT_LOG_INTERVAL_US 10000000
/* This long without a failure ends an accept failure episode ("accepting again"). */
#define ACCEPT_QUIET_US 1000000
/* Descriptors kept back: stdio, the main loop, signals, log writer, files read at reload. */
#define FD_RESERVED_PROCESS 48
/* Per worker, besides its listeners: epoll, the mailbox pipe. */
#define FD_RESERVED_WORKER 4

/* How many connections the descriptors can hold: two each (client and upstream) plus the pool. */
int
lgd_fd_capacity(const struct lg_config *cf, int nworkers, long long nofile)
{
	long long avail = nofile - FD_RESERVED_PROCESS -
	                  (long long)nworkers * (FD_RESERVED_WORKER + (long long)cf->nlisten) -
	                  cf->upstream.keepalive;

	if (avail < 2)
		return 1;
	return avail / 2 > INT_MAX ? INT_MAX : (int)(avail / 2);
}

/* Raise the soft descriptor limit to the hard one; the soft limit in effect after. */
long long
lgd_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 1024;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
			getrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur == RLIM_INFINITY ? (long long)INT_MAX : (long long)rl.rlim_cur;
}

/* Set lgd_max_conns from cf and the descriptor limit; warn if the configured value does not fit. */
void
lgd_size_connections(const struct lg_config *cf, int nworkers, long long nofile)
{
	int cap = lgd_fd_capacity(cf, nworkers, nofile);

	if (cf->limits.max_connections > cap) {
		lgd_warn("limits.max_connections does not fit the descriptor limit; using fewer",
		         "max_connections=%lld nofile=%lld usable=%d "
		         "hint=\"raise LimitNOFILE= (systemd) or lower limits.max_connections\"",
		         (long long)cf->limits.max_connections, nofile, cap);
		atomic_store(&lgd_max_conns, cap);
	} else {
		atomic_store(&lgd_max_conns, (int)cf->limits.max_connections);
	}
}

/* A listening socket on a resolved address, in a SO_REUSEPORT group or not; -1 with errno. */
static int
listen_on(const struct sockaddr_storage *ss, socklen_t sl, bool reuseport)
{
	int fd, one = 1;

	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (reuseport)
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (ss->ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)ss, sl) != 0 || listen(fd, 1024) != 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/* Open a listening socket (SO_REUSEPORT: one per worker) on a resolved address; -1 with errno. */
int
lgd_listen_socket(const struct sockaddr_storage *ss, socklen_t sl)
{
	return listen_on(ss, sl, true);
}

/* Open a listening socket nobody else may share (no SO_REUSEPORT); -1 with errno (EADDRINUSE). */
int
lgd_listen_socket_excl(const struct sockaddr_storage *ss, socklen_t sl)
{
	return listen_on(ss, sl, false);
}

/*
 * Whether nobody listens on a resolved address yet. Our own listeners use
 * SO_REUSEPORT, which would let a second lessongated (same user) share the
 * port silently; a bind without it fails if anyone is there.
 */
int
lgd_listen_probe(const struct sockaddr_storage *ss, socklen_t sl)
{
	int fd, one = 1, rc;

	if ((fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss->ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	rc = bind(fd, (const struct sockaddr *)ss, sl);
	if (rc != 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	close(fd);
	return 0;
}

/* Whether cf has a listener on address. */
static bool
has_listener(const struct lg_config *cf, const char *address)
{
	for (size_t i = 0; cf && i < cf->nlisten; i++)
		if (strcmp(cf->listen[i].address, address) == 0)
			return true;
	return false;
}

/* Close the sockets of an array that lgd_listeners_bind filled. */
void
lgd_listeners_close(int *fds, size_t n)
{
	for (size_t i = 0; fds && i < n; i++)
		if (fds[i] >= 0) {
			close(fds[i]);
			fds[i] = -1;
		}
}

/*
 * On the main thread, before a configuration is handed to the workers: open
 * the listening sockets of rt that `old` does not have, one set per worker
 * (fds[w * nlisten + i], -1 for an address kept). 0, or -1 with every socket
 * closed again and the reason in err, so a reload that cannot listen fails
 * as a whole and says so.
 */
int
lgd_listeners_bind(const struct lg_config *old, const struct lgd_runtime *rt, int nworkers,
                   int *fds, char *err, size_t errlen)
{
	const struct lg_config *cf = rt->cf;
	size_t n = cf->nlisten;

	for (size_t k = 0; k < (size_t)nworkers * n; k++)
		fds[k] = -1;
	for (size_t i = 0; i < n; i++) {
		if (has_listener(old, cf->listen[i].address))
			continue;
		if (lgd_listen_probe(&rt->listen_sa[i], rt->listen_salen[i]) != 0)
			goto fail;
		for (int w = 0; w < nworkers; w++)
			if ((fds[(size_t)w * n + i] =
			         lgd_listen_socket(&rt->listen_sa[i], rt->listen_salen[i])) < 0)
				goto fail;
		continue;
	fail:
		snprintf(err, errlen, "%s:%d: listen[%zu].address: cannot listen on %s: %s%s",
		         cf->file, cf->listen[i].line, i, cf->listen[i].address, strerror(errno),
		         errno == EADDRINUSE ? " (another process listens there)" : "");
		lgd_listeners_close(fds, (size_t)nworkers * n);
		return -1;
	}
	return 0;
}

/* Listeners on only while neither the connection limit nor an accept back-off holds. */
static void
listeners_update(struct lgd_worker *w)
{
	struct lgd_listener *l;
	bool on = !w->accept_paused && !w->accept_backoff && !w->draining;

	for (l = TAILQ_FIRST(&w->listeners); l; l = TAILQ_NEXT(l, link))
		if (on)
			evconnlistener_enable(l->lev);
		else
			evconnlistener_disable(l->lev);
}

/* Wake the worker up to read its mailbox. */
static void
wake(struct lgd_worker *w)
{
	(void)!write(w->wake[1], "", 1);
}

/* A worker's load for balancing: its connections and those handed to it not yet taken. */
static unsigned
worker_load(struct lgd_worker *w)
{
	return atomic_load_explicit(&w->nconns, memory_order_relaxed) +
	       atomic_load_explicit(&w->incoming, memory_order_relaxed);
}

/*
 * The worker an accepted socket should go to: the least loaded one if it has
 * at least two connections fewer than w (SO_REUSEPORT spreads connections by
 * a hash, so 50 connections often split 31 to 19), else w.
 */
static struct lgd_worker *
balance_target(struct lgd_worker *w)
{
	struct lgd_worker *best = w;
	unsigned low = worker_load(w);

	for (int i = 0; i < lgd_nworkers; i++) {
		struct lgd_worker *o = &lgd_workers[i];
		unsigned n = worker_load(o);
		if (o != w && n + 1 < low) {
			best = o;
			low = n;
		}
	}
	return best;
}

/* Hand an accepted socket to worker o's mailbox; -1 if it cannot take it (w keeps it). */
static int
handoff(struct lgd_worker *o, const struct lgd_listener *l, int fd, struct sockaddr *sa,
        socklen_t salen)
{
	struct lgd_handoff *h;

	if (salen > sizeof(h->sa) || strlen(l->address) >= sizeof(h->address))
		return -1;
	pthread_mutex_lock(&o->mbox_lock);
	if (o->mbox_stop || o->mbox_drain) {
		pthread_mutex_unlock(&o->mbox_lock);
		return -1;
	}
	if (o->mbox_nin == o->mbox_capin) {
		o->mbox_capin = o->mbox_capin ? 2 * o->mbox_capin : 16;
		o->mbox_in = lg_xrealloc(o->mbox_in, o->mbox_capin, sizeof(*o->mbox_in));
	}
	h = &o->mbox_in[o->mbox_nin++];
	h->fd = fd;
	h->salen = salen;
	memcpy(&h->sa, sa, salen);
	snprintf(h->address, sizeof(h->address), "%s", l->address);
	atomic_fetch_add_explicit(&o->incoming, 1, memory_order_relaxed);
	pthread_mutex_unlock(&o->mbox_lock);
	wake(o);
	return 0;
}

/* A new client connection on one of our listeners: ours, or a less loaded worker's. */
static void
accept_cb(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
	struct lgd_listener *l = arg;
	struct lgd_worker *o = balance_target(l->w);

	l->w->accepted++;
	if (o != l->w && handoff(o, l, fd, sa, (socklen_t)salen) == 0) {
		l->w->handed++;
		return;
	}
	lgd_conn_accept(l->w, l->index, fd, sa, (socklen_t)salen);
}

/* Take the sockets other workers handed over (a listener a reload removed: closed). */
static void
take_handoffs(struct lgd_worker *w, struct lgd_handoff *in, unsigned n)
{
	for (unsigned k = 0; k < n; k++) {
		struct lgd_handoff *h = &in[k];
		size_t i;

		for (i = 0; i < w->rt->cf->nlisten; i++)
			if (strcmp(w->rt->cf->listen[i].address, h->address) == 0)
				break;
		if (i < w->rt->cf->nlisten && !w->draining) {
			w->taken++;
			lgd_conn_accept(w, i, h->fd, (struct sockaddr *)&h->sa, h->salen);
		} else {
			close(h->fd);
		}
		atomic_fetch_sub_explicit(&w->incoming, 1, memory_order_relaxed);
	}
}

/* The accept back-off is over: listen again. */
static void
backoff_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lgd_worker *w = arg;

	w->accept_backoff = false;
	listeners_update(w);
}

/*
 * Accept failed. Out of descriptors or memory (EMFILE, ENFILE, ENOBUFS,
 * ENOMEM) the socket stays readable, so the listeners go off for a moment
 * instead of spinning; failures are logged at most once per interval, with
 * how many there were.
 */
static void
accept_error_cb(struct evconnlistener *lev, void *arg)
{
	struct lgd_listener *l = arg;
	struct lgd_worker *w = l->w;
	int e = EVUTIL_SOCKET_ERROR();
	bool scarce = e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM;
	int64_t now = lgd_mono_us();

	w->accept_failures++;
	w->accept_failed_us = now;
	if (!w->accept_trouble || now - w->accept_logged_us >= ACCEPT_LOG_INTERVAL_US) {
		lgd_warn(scarce ? "accept failed, pausing accept" : "accept failed",
		         "worker=%d address=%s error=\"%s\" failures=%u pause_ms=%d", w->id,
		         l->address, strerror(e), w->accept_failures,
		         scarce ? ACCEPT_BACKOFF_MS : 0);
		w->accept_logged_us = now;
		w->accept_failures = 0;
		w->accept_trouble = true;
	}
	if (scarce && !w->accept_backoff) {
		struct timeval tv = {0, ACCEPT_BACKOFF_MS * 1000};
		w->accept_backoff = true;
		listeners_update(w);
		if (w->backoff_ev == NULL)
			w->backoff_ev = evtimer_new(w->base, backoff_cb, w);
		evtimer_add(w->backoff_ev, &tv);
	}
}

/* Close and free one listener. */
static void
listener_free(struct lgd_worker *w, struct lgd_listener *l)
{
	TAILQ_REMOVE(&w->listeners, l, link);
	evconnlistener_free(l->lev);
	free(l->address);
	free(l);
}

/*
 * Make the listener set match rt: keep sockets whose address stays, adopt the
 * sockets the main thread bound for new ones (fds, may be NULL), and bind what
 * is still missing from rt's resolved addresses (no name lookup here).
 */
static int
sync_listeners(struct lgd_worker *w, struct lgd_runtime *rt, int *fds)
{
	struct lgd_listener *l, *next;
	const struct lg_config *cf = rt->cf;
	bool *kept = lg_xcalloc(cf->nlisten + 1, sizeof(bool));
	int rc = 0;

	for (l = TAILQ_FIRST(&w->listeners); l; l = next) {
		size_t i;
		next = TAILQ_NEXT(l, link);
		for (i = 0;
		     i < cf->nlisten && (kept[i] || strcmp(cf->listen[i].address, l->address)); i++)
			;
		if (i == cf->nlisten) {
			if (w->id == 0)
				lgd_info("listener closed", "address=%s", l->address);
			listener_free(w, l);
		} else {
			kept[i] = true;
			l->index = i;
		}
	}
	for (size_t i = 0; i < cf->nlisten; i++) {
		int fd;
		if (kept[i])
			continue;
		if (fds && fds[i] >= 0) {
			fd = fds[i];
			fds[i] = -1;
		} else if ((fd = lgd_listen_socket(&rt->listen_sa[i], rt->listen_salen[i])) < 0) {
			lgd_err("cannot listen", "worker=%d address=%s error=\"%s\"", w->id,
			        cf->listen[i].address, strerror(errno));
			rc = -1;
			continue;
		}
		l = lg_xcalloc(1, sizeof(*l));
		l->w = w;
		l->address = lg_strdup(cf->listen[i].address);
		l->index = i;
		l->lev = evconnlistener_new(w->base, accept_cb, l,
		                            LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
		evconnlistener_set_error_cb(l->lev, accept_error_cb);
		if (w->accept_paused || w->accept_backoff)
			evconnlistener_disable(l->lev);
		TAILQ_INSERT_TAIL(&w->listeners, l, link);
		if (w->id == 0)
			lgd_info("listening", "address=%s tls=%s test_hooks=%s", l->address,
			         cf->listen[i].tls ? "on" : "off",
			         cf->listen[i].test_hooks ? "on" : "off");
	}
	free(kept);
	return rc;
}

static void resume_accept(struct lgd_worker *w);

/* The worker is done draining once its last connection is gone. */
void
lgd_worker_check_drained(struct lgd_worker *w)
{
	if (w->draining && w->nconns == 0)
		event_base_loopexit(w->base, NULL);
	else if (w->accept_paused)
		resume_accept(w);
}

/* Stop accepting and let open connections finish. */
static void
worker_drain(struct lgd_worker *w)
{
	if (w->draining)
		return;
	w->draining = true;
	lgd_info("draining", "worker=%d open=%u", w->id, atomic_load(&w->nconns));
	while (!TAILQ_EMPTY(&w->listeners))
		listener_free(w, TAILQ_FIRST(&w->listeners));
	lgd_pool_flush(w);
	lgd_conn_drain_all(w);
	lgd_worker_check_drained(w);
}

/* Read the mailbox the main thread (and other workers, with sockets) wrote to. */
static void
wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lgd_worker *w = arg;
	struct lgd_runtime *rt;
	struct lgd_handoff *in;
	unsigned nin;
	int *fds;
	char buf[64];
	bool drain, stop;

	while (read(fd, buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&w->mbox_lock);
	rt = w->mbox_rt;
	w->mbox_rt = NULL;
	fds = w->mbox_fds;
	w->mbox_fds = NULL;
	drain = w->mbox_drain;
	stop = w->mbox_stop;
	in = w->mbox_in;
	nin = w->mbox_nin;
	w->mbox_in = NULL;
	w->mbox_nin = w->mbox_capin = 0;
	pthread_mutex_unlock(&w->mbox_lock);
	take_handoffs(w, in, nin);
	free(in);
	if (rt && !w->draining) {
		bool same_upstream =
		    strcmp(rt->cf->upstream.address, w->rt->cf->upstream.address) == 0 &&
		    rt->cf->upstream.tls == w->rt->cf->upstream.tls;
		sync_listeners(w, rt, fds);
		lgd_runtime_unref(w->rt);
		w->rt = rt;
		if (!same_upstream || rt->cf->upstream.tls)
			lgd_pool_flush(w);
	}
	if (rt && fds)
		lgd_listeners_close(fds, rt->cf->nlisten);
	free(fds);
	if (rt && w->rt != rt)
		lgd_runtime_unref(rt);
	if (drain)
		worker_drain(w);
	if (stop) {
		lgd_conn_close_all(w, "drain timeout");
		event_base_loopexit(w->base, NULL);
	}
}

/* At the connection limit: stop accepting (clients wait in the backlog) until below it. */
void
lgd_worker_pause_accept(struct lgd_worker *w)
{
	if (w->accept_paused)
		return;
	lgd_warn("connection limit reached, not accepting", "worker=%d limit=%d", w->id,
	         atomic_load(&lgd_max_conns));
	w->accept_paused = true;
	listeners_update(w);
}

/* Accept again once every worker together is below the limit. */
static void
resume_accept(struct lgd_worker *w)
{
	if (!w->accept_paused || w->draining ||
	    atomic_load(&lgd_total_conns) >= atomic_load(&lgd_max_conns))
		return;
	w->accept_paused = false;
	listeners_update(w);
	lgd_info("accepting again", "worker=%d open=%d", w->id, atomic_load(&lgd_total_conns));
}

/*
 * The heartbeat the main thread's watchdog checks; also lifts a connection-limit
 * pause, ends accept trouble, re-arms lesson timers after a wall-clock step,
 * renews leases and closes expired pooled upstream connections.
 */
static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lgd_worker *w = arg;

	atomic_fetch_add_explicit(&w->heartbeat, 1, memory_order_relaxed);
	resume_accept(w);
	if (w->accept_trouble && !w->accept_backoff &&
	    lgd_mono_us() - w->accept_failed_us >= ACCEPT_QUIET_US) {
		/* A quiet second after accept failures: say it is over, with the unlogged count. */
		lgd_warn("accept failures over, accepting again", "worker=%d failures=%u", w->id,
		         w->accept_failures);
		w->accept_trouble = false;
		w->accept_failures = 0;
	}
	lgd_lesson_clock_check(w);
	lgd_lesson_renew(w);
	lgd_pool_expire(w);
}

/* Prepare a worker: its event loop and listeners for rt; -1 if a listener cannot be bound. */
int
lgd_worker_init(struct lgd_worker *w, int id, struct lgd_runtime *rt)
{
	struct event_config *ec = event_config_new();
	struct timeval tv = {0, 100000};

	memset(w, 0, sizeof(*w));
	w->id = id;
	event_config_set_flag(ec, EVENT_BASE_FLAG_NOLOCK | EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	w->base = event_base_new_with_config(ec);
	event_config_free(ec);
	if (w->base == NULL)
		return -1;
	w->rt = lgd_runtime_ref(rt);
	TAILQ_INIT(&w->listeners);
	TAILQ_INIT(&w->conns);
	TAILQ_INIT(&w->pool);
	pthread_mutex_init(&w->mbox_lock, NULL);
	if (pipe2(w->wake, O_NONBLOCK | O_CLOEXEC) != 0) {
		lgd_err("cannot create the worker mailbox", "worker=%d error=\"%s\"", id,
		        strerror(errno));
		return -1;
	}
	w->wake_ev = event_new(w->base, w->wake[0], EV_READ | EV_PERSIST, wake_cb, w);
	event_add(w->wake_ev, NULL);
	w->tick = event_new(w->base, -1, EV_PERSIST, tick_cb, w);
	event_add(w->tick, &tv);
	w->scratch_len = (size_t)rt->cf->limits.max_header_bytes + 16384;
	w->scratch = lg_xcalloc(1, w->scratch_len);
	return sync_listeners(w, rt, NULL);
}

/* The worker thread: run the loop until drained or stopped. */
static void *
worker_main(void *arg)
{
	struct lgd_worker *w = arg;

	lgd_counters_attach(w->id);
	lgd_store_redis_attach(lgd_store, w->base);
	event_base_dispatch(w->base);
	lgd_store_redis_detach(lgd_store);
	/* How the kernel spread connections over the workers (SO_REUSEPORT hashes them). */
	lgd_info("worker finished", "worker=%d accepted=%llu handed=%llu taken=%llu", w->id,
	         (unsigned long long)w->accepted, (unsigned long long)w->handed,
	         (unsigned long long)w->taken);
	atomic_fetch_add(&lgd_workers_done, 1);
	return NULL;
}

/* Run the worker's loop in a new thread. */
int
lgd_worker_start(struct lgd_worker *w)
{
	return pthread_create(&w->thread, NULL, worker_main, w);
}

/*
 * From the main thread: hand over a new runtime and the listening sockets
 * bound for it (the worker takes both; fds may be NULL).
 */
void
lgd_worker_post_reload(struct lgd_worker *w, struct lgd_runtime *rt, int *fds)
{
	pthread_mutex_lock(&w->mbox_lock);
	if (w->mbox_rt && w->mbox_fds)
		lgd_listeners_close(w->mbox_fds, w->mbox_rt->cf->nlisten);
	free(w->mbox_fds);
	lgd_runtime_unref(w->mbox_rt);
	w->mbox_rt = rt;
	w->mbox_fds = fds;
	pthread_mutex_unlock(&w->mbox_lock);
	wake(w);
}

/* From the main thread: stop accepting and finish in-flight requests. */
void
lgd_worker_post_drain(struct lgd_worker *w)
{
	pthread_mutex_lock(&w->mbox_lock);
	w->mbox_drain = true;
	pthread_mutex_unlock(&w->mbox_lock);
	wake(w);
}

/* From the main thread: close everything now and leave the loop. */
void
lgd_worker_post_stop(struct lgd_worker *w)
{
	pthread_mutex_lock(&w->mbox_lock);
	w->mbox_stop = true;
	pthread_mutex_unlock(&w->mbox_lock);
	wake(w);
}

/* Wait for the thread and free the worker. */
void
lgd_worker_join(struct lgd_worker *w)
{
	if (w->base == NULL)
		return; /* never initialised (start-up failed before it) */
	if (w->thread)
		pthread_join(w->thread, NULL);
	lgd_conn_close_all(w, "shutdown");
	/* Deferred frees run from the loop; give them one last pass. */
	event_base_loop(w->base, EVLOOP_NONBLOCK);
	while (!TAILQ_EMPTY(&w->listeners))
		listener_free(w, TAILQ_FIRST(&w->listeners));
	lgd_pool_flush(w);
	lgd_auditwait_close(w);
	if (w->wake_ev) {
		event_free(w->wake_ev);
		close(w->wake[0]);
		close(w->wake[1]);
	}
	if (w->tick)
		event_free(w->tick);
	if (w->mbox_rt && w->mbox_fds)
		lgd_listeners_close(w->mbox_fds, w->mbox_rt->cf->nlisten);
	free(w->mbox_fds);
	for (unsigned k = 0; k < w->mbox_nin; k++)
		close(w->mbox_in[k].fd);
	free(w->mbox_in);
	if (w->backoff_ev)
		event_free(w->backoff_ev);
	lgd_runtime_unref(w->mbox_rt);
	lgd_runtime_unref(w->rt);
	event_base_free(w->base);
	pthread_mutex_destroy(&w->mbox_lock);
	free(w->scratch);
	free(w->target);
	free(w->pending);
	lg_buf_free(&w->out);
}
