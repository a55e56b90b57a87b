/* Worker threads: one event loop each, with their own listeners, connections and upstream pool. */
#include "worker.h"

#include <errno.h>
#include <event2/listener.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "log.h"
#include "upstream.h"

atomic_int lgd_total_conns;
atomic_int lgd_workers_done;

/* Open a listening socket for a "host:port" address; -1 with errno on failure. */
int
lgd_listen_socket(const char *address)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd, one = 1;

	if (lgd_parse_sockaddr(address, &ss, &sl, NULL) != 0) {
		errno = EINVAL;
		return -1;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, 1024) != 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

/*
 * Whether nobody listens on address yet. Our own listeners use SO_REUSEPORT,
 * which would let a second lessongated (same user) share the port silently;
 * a bind without it fails if anyone is there. Used once, at start-up.
 */
int
lgd_listen_probe(const char *address)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd, one = 1, rc;

	if (lgd_parse_sockaddr(address, &ss, &sl, NULL) != 0) {
		errno = EINVAL;
		return -1;
	}
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (ss.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	rc = bind(fd, (struct sockaddr *)&ss, sl);
	if (rc != 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	close(fd);
	return 0;
}

/* A new client connection on one of our listeners. */
static void
accept_cb(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
	struct lgd_listener *l = arg;

	lgd_conn_accept(l->w, l->index, fd, sa, (socklen_t)salen);
}

/* Accept errors (EMFILE and friends) are logged; libevent keeps the listener. */
static void
accept_error_cb(struct evconnlistener *lev, void *arg)
{
	struct lgd_listener *l = arg;

	lgd_warn("accept failed", "worker=%d address=%s error=\"%s\"", l->w->id, l->address,
	         strerror(errno));
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

/* Make the listener set match rt: keep sockets whose address stays, bind new ones. */
static int
sync_listeners(struct lgd_worker *w, struct lgd_runtime *rt)
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
		if ((fd = lgd_listen_socket(cf->listen[i].address)) < 0) {
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
		if (w->accept_paused)
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
	while (!TAILQ_EMPTY(&w->listeners))
		listener_free(w, TAILQ_FIRST(&w->listeners));
	lgd_pool_flush(w);
	lgd_conn_drain_all(w);
	lgd_debug("draining", "worker=%d open=%u", w->id, w->nconns);
	lgd_worker_check_drained(w);
}

/* Read the mailbox the main thread wrote to. */
static void
wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lgd_worker *w = arg;
	struct lgd_runtime *rt;
	char buf[64];
	bool drain, stop;

	while (read(fd, buf, sizeof(buf)) > 0)
		;
	pthread_mutex_lock(&w->mbox_lock);
	rt = w->mbox_rt;
	w->mbox_rt = NULL;
	drain = w->mbox_drain;
	stop = w->mbox_stop;
	pthread_mutex_unlock(&w->mbox_lock);
	if (rt && !w->draining) {
		bool same_upstream =
		    strcmp(rt->cf->upstream.address, w->rt->cf->upstream.address) == 0 &&
		    rt->cf->upstream.tls == w->rt->cf->upstream.tls;
		sync_listeners(w, rt);
		lgd_runtime_unref(w->rt);
		w->rt = rt;
		if (!same_upstream || rt->cf->upstream.tls)
			lgd_pool_flush(w);
	} else if (rt) {
		lgd_runtime_unref(rt);
	}
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
	struct lgd_listener *l;

	if (w->accept_paused)
		return;
	lgd_warn("connection limit reached, not accepting", "worker=%d limit=%lld", w->id,
	         (long long)w->rt->cf->limits.max_connections);
	w->accept_paused = true;
	for (l = TAILQ_FIRST(&w->listeners); l; l = TAILQ_NEXT(l, link))
		evconnlistener_disable(l->lev);
}

/* Accept again once every worker together is below the limit. */
static void
resume_accept(struct lgd_worker *w)
{
	struct lgd_listener *l;

	if (!w->accept_paused || w->draining ||
	    atomic_load(&lgd_total_conns) >= w->rt->cf->limits.max_connections)
		return;
	w->accept_paused = false;
	for (l = TAILQ_FIRST(&w->listeners); l; l = TAILQ_NEXT(l, link))
		evconnlistener_enable(l->lev);
	lgd_info("accepting again", "worker=%d open=%d", w->id, atomic_load(&lgd_total_conns));
}

/*
 * The heartbeat the main thread's watchdog checks; also lifts a connection-limit
 * pause and re-arms lesson timers after a wall-clock step.
 */
static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lgd_worker *w = arg;

	atomic_fetch_add_explicit(&w->heartbeat, 1, memory_order_relaxed);
	resume_accept(w);
	lgd_lesson_clock_check(w);
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
	return sync_listeners(w, rt);
}

/* The worker thread: run the loop until drained or stopped. */
static void *
worker_main(void *arg)
{
	struct lgd_worker *w = arg;

	event_base_dispatch(w->base);
	lgd_debug("worker finished", "worker=%d", w->id);
	atomic_fetch_add(&lgd_workers_done, 1);
	return NULL;
}

/* Run the worker's loop in a new thread. */
int
lgd_worker_start(struct lgd_worker *w)
{
	return pthread_create(&w->thread, NULL, worker_main, w);
}

/* Wake the worker up to read its mailbox. */
static void
wake(struct lgd_worker *w)
{
	(void)!write(w->wake[1], "", 1);
}

/* From the main thread: hand over a new runtime (the worker takes the reference). */
void
lgd_worker_post_reload(struct lgd_worker *w, struct lgd_runtime *rt)
{
	pthread_mutex_lock(&w->mbox_lock);
	lgd_runtime_unref(w->mbox_rt);
	w->mbox_rt = rt;
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
	if (w->wake_ev) {
		event_free(w->wake_ev);
		close(w->wake[0]);
		close(w->wake[1]);
	}
	if (w->tick)
		event_free(w->tick);
	lgd_runtime_unref(w->mbox_rt);
	lgd_runtime_unref(w->rt);
	event_base_free(w->base);
	pthread_mutex_destroy(&w->mbox_lock);
	free(w->scratch);
	free(w->target);
	lg_buf_free(&w->out);
}
