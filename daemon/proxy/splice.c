/*
 * Zero-copy bodies: the rest of a Content-Length body moves from one plain
 * socket to the other through a pipe with splice(2), never through user
 * space (as HAProxy does). It starts once everything before it has gone out
 * the usual way: the source's input is empty (nothing read ahead) and the
 * destination's output is empty (nothing to overtake); lgd_conn_flush()
 * looks for that at the end of every callback. While it runs, the source's
 * bufferevent does not read (update_read keeps it off): our own events watch
 * the source for readability and, while the pipe holds bytes the
 * destination did not take, the destination for writability (and the
 * source waits: backpressure is the pipe's size). EOF, errors and timeouts
 * (timeouts.body on both, as the bufferevents have) reach the halves' event
 * callbacks as libevent would report them. When the body is complete the
 * halves go back to their bufferevents and proxy.c finishes the exchange.
 * Chunked bodies, WebSocket tunnels and TLS on either side keep the copying
 * path. Pipes come from a small per-worker pool; one with bytes left in it
 * (a connection that ended mid-body) is closed instead.
 */
#include "splice.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include "conn.h"
#include "upstream.h"

/* Bodies with less than this left are not worth a pipe: copying costs no more calls. */
#define SPLICE_MIN (64 * 1024)
/* Pipe capacity asked for: what the copying path queues before it pauses. */
#define SPLICE_PIPE LGD_HIGH_WATER
/* Pipefuls moved per readable event at most, while source and destination keep up. */
#define SPLICE_ROUNDS 8
/* Idle pipes a worker keeps. */
#define SPLICE_POOL 16

struct pipe_pool {
	int fd[SPLICE_POOL][2];
	unsigned n;
	bool registered;
};

static _Thread_local struct pipe_pool pool;
static pthread_key_t pool_key;
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;

/* Close every pipe a pool holds. */
static void
pool_drain(void *p)
{
	struct pipe_pool *pp = p;

	while (pp->n > 0) {
		pp->n--;
		close(pp->fd[pp->n][0]);
		close(pp->fd[pp->n][1]);
	}
}

/* Once per process: the key whose destructor closes a worker's idle pipes. */
static void
pool_key_init(void)
{
	pthread_key_create(&pool_key, pool_drain);
}

/* A pipe for one body: an idle one of this worker's, else a new one; -1 if none. */
static int
pipe_take(int fd[2])
{
	if (pool.n > 0) {
		pool.n--;
		fd[0] = pool.fd[pool.n][0];
		fd[1] = pool.fd[pool.n][1];
		return 0;
	}
	if (pipe2(fd, O_NONBLOCK | O_CLOEXEC) != 0)
		return -1;
	/* Not fatal: a smaller pipe only means more calls (the per-user page budget may be spent).
	 */
	(void)fcntl(fd[1], F_SETPIPE_SZ, SPLICE_PIPE);
	return 0;
}

/* Give an empty pipe back to the pool, or close it (full pool, or bytes left in it). */
static void
pipe_give(int fd[2], bool empty)
{
	if (empty && pool.n < SPLICE_POOL) {
		if (!pool.registered) {
			pthread_once(&pool_once, pool_key_init);
			pthread_setspecific(pool_key, &pool);
			pool.registered = true;
		}
		pool.fd[pool.n][0] = fd[0];
		pool.fd[pool.n][1] = fd[1];
		pool.n++;
	} else {
		close(fd[0]);
		close(fd[1]);
	}
	fd[0] = fd[1] = -1;
}

/* The body timeout as a timeval (the bufferevents' own read and write timeout). */
static struct timeval
splice_tv(const struct lgd_conn *c)
{
	int64_t ms = c->rt->cf->timeouts.body_ms;
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	return tv;
}

/* Tell a half's owner what happened to its socket, as its bufferevent would. */
static void
splice_report(struct lgd_half *h, short what)
{
	bufferevent_event_cb ecb;
	void *arg;

	bufferevent_getcb(h->bev, NULL, NULL, &ecb, &arg);
	if (ecb)
		ecb(h->bev, what, arg);
}

/* Watch the source for bytes unless it is paused or the pipe is still full. */
static void
splice_arm(struct lgd_conn *c)
{
	struct lgd_splice *s = &c->splice;
	struct timeval tv = splice_tv(c);

	if (s->queued > 0) {
		if (s->src == &c->down && c->body_paused_us == 0)
			c->body_paused_us =
			    lgd_mono_us(); /* the upstream keeps the client waiting */
		event_del(s->in);
		event_add(s->out, c->rt->cf->timeouts.body_ms > 0 ? &tv : NULL);
		return;
	}
	event_del(s->out);
	if (s->src->paused)
		event_del(s->in);
	else
		event_add(s->in, c->rt->cf->timeouts.body_ms > 0 ? &tv : NULL);
}

/* Move what the pipe holds to the destination; -1 after reporting a write error. */
static int
splice_out(struct lgd_conn *c)
{
	struct lgd_splice *s = &c->splice;

	while (s->queued > 0) {
		ssize_t n = splice(s->pipe[0], NULL, bufferevent_getfd(s->dst->bev), NULL,
		                   s->queued, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return 0;
		if (n <= 0) {
			splice_report(s->dst, BEV_EVENT_WRITING | BEV_EVENT_ERROR);
			return -1;
		}
		s->queued -= (size_t)n;
	}
	return 0;
}

/* The body went through: the halves go back to their bufferevents and proxy.c finishes it. */
static void
splice_finish(struct lgd_conn *c)
{
	struct lgd_half *src = c->splice.src;

	lgd_splice_stop(c);
	lgd_proxy_body_passed(c, src);
}

/*
 * The source is readable (or its body timeout passed): pipe in, then out,
 * again while both go whole (at most SPLICE_ROUNDS times: other connections wait).
 */
static void
splice_in_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lgd_conn *c = arg;
	struct lgd_splice *s = &c->splice;

	if (what & EV_TIMEOUT) {
		splice_report(s->src, BEV_EVENT_READING | BEV_EVENT_TIMEOUT);
		lgd_conn_flush(c);
		return;
	}
	for (int i = 0; i < SPLICE_ROUNDS; i++) {
		uint64_t want = lg_http_body_passable(&s->src->body);
		ssize_t n;

		if (want > s->cap)
			want = s->cap;
		n = splice(fd, NULL, s->pipe[1], NULL, (size_t)want,
		           SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			/* A Content-Length body cut short: the owner closes the connection. */
			splice_report(s->src, BEV_EVENT_READING |
			                          (n == 0 ? BEV_EVENT_EOF : BEV_EVENT_ERROR));
			lgd_conn_flush(c);
			return;
		}
		s->queued += (size_t)n;
		lg_http_body_passed(&s->src->body, (uint64_t)n);
		if (s->src == &c->down)
			c->body_bytes += (uint64_t)n;
		if (splice_out(c) < 0) {
			lgd_conn_flush(c);
			return;
		}
		/* Stop once the destination is full, the body is over or the source ran dry. */
		if (s->queued > 0 || (uint64_t)n < want ||
		    lg_http_body_passable(&s->src->body) == 0)
			break;
	}
	if (s->queued == 0 && lg_http_body_passable(&s->src->body) == 0)
		splice_finish(c);
	else
		splice_arm(c);
	lgd_conn_flush(c);
}

/* The destination is writable again (or its write timeout passed): empty the pipe. */
static void
splice_out_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lgd_conn *c = arg;
	struct lgd_splice *s = &c->splice;

	if (what & EV_TIMEOUT) {
		splice_report(s->dst, BEV_EVENT_WRITING | BEV_EVENT_TIMEOUT);
		lgd_conn_flush(c);
		return;
	}
	if (splice_out(c) < 0) {
		lgd_conn_flush(c);
		return;
	}
	if (s->queued == 0 && lg_http_body_passable(&s->src->body) == 0) {
		splice_finish(c);
	} else {
		if (s->queued == 0 && s->src == &c->down && c->body_paused_us) {
			/* Time the upstream kept the client waiting is not the client's. */
			c->body_start_us += lgd_mono_us() - c->body_paused_us;
			c->body_paused_us = 0;
		}
		splice_arm(c);
	}
	lgd_conn_flush(c);
}

/* Whether both halves are plain sockets. */
static bool
plain_sockets(const struct lgd_conn *c)
{
	return !c->tls && c->upc && !c->upc->tls && bufferevent_getfd(c->down.bev) >= 0 &&
	       bufferevent_getfd(c->up.bev) >= 0;
}

/* Whether src's body may move to dst by splice from here on. */
static bool
splice_ready(struct lgd_conn *c, struct lgd_half *src, struct lgd_half *dst)
{
	return src->st == LGD_HALF_BODY && !src->paused &&
	       lg_http_body_passable(&src->body) >= SPLICE_MIN &&
	       evbuffer_get_length(bufferevent_get_input(src->bev)) == 0 &&
	       evbuffer_get_length(bufferevent_get_output(dst->bev)) == 0;
}

/* Start splicing src's body to dst. */
static void
splice_start(struct lgd_conn *c, struct lgd_half *src, struct lgd_half *dst)
{
	struct lgd_splice *s = &c->splice;

	if (pipe_take(s->pipe) != 0)
		return; /* out of descriptors: the copying path goes on */
	s->cap = (size_t)fcntl(s->pipe[1], F_GETPIPE_SZ);
	if ((ssize_t)s->cap <= 0)
		s->cap = 65536;
	if (s->in == NULL) {
		s->in = event_new(c->w->base, -1, 0, NULL, NULL);
		s->out = event_new(c->w->base, -1, 0, NULL, NULL);
	}
	event_assign(s->in, c->w->base, bufferevent_getfd(src->bev), EV_READ | EV_PERSIST,
	             splice_in_cb, c);
	event_assign(s->out, c->w->base, bufferevent_getfd(dst->bev), EV_WRITE | EV_PERSIST,
	             splice_out_cb, c);
	s->src = src;
	s->dst = dst;
	s->queued = 0;
	bufferevent_disable(src->bev, EV_READ);
	splice_arm(c);
}

/* End of a callback: start splicing a body that may go by splice now. */
void
lgd_splice_check(struct lgd_conn *c)
{
	if (c->splice.src || c->state != LGD_CONN_PROXY || c->up.bev == NULL)
		return;
	if (c->up.st != LGD_HALF_BODY && c->down.st != LGD_HALF_BODY)
		return;
	if (!plain_sockets(c))
		return;
	if (splice_ready(c, &c->up, &c->down) && !c->ending)
		splice_start(c, &c->up, &c->down);
	else if (splice_ready(c, &c->down, &c->up))
		splice_start(c, &c->down, &c->up);
}

/* Whether h's reading belongs to a splice (its bufferevent must stay off). */
bool
lgd_splice_owns(struct lgd_conn *c, struct lgd_half *h)
{
	if (c->splice.src != h)
		return false;
	splice_arm(c);
	return true;
}

/* Stop splicing (before either half is released): bytes left in the pipe are dropped. */
void
lgd_splice_stop(struct lgd_conn *c)
{
	struct lgd_splice *s = &c->splice;
	struct lgd_half *src = s->src;

	if (s->in) {
		event_del(s->in);
		event_del(s->out);
	}
	if (src == NULL)
		return;
	s->src = s->dst = NULL;
	pipe_give(s->pipe, s->queued == 0);
	s->queued = 0;
	lgd_conn_update_read(c, src);
}

/* A closing connection: stop splicing and free the events. */
void
lgd_splice_free(struct lgd_conn *c)
{
	lgd_splice_stop(c);
	if (c->splice.in) {
		event_free(c->splice.in);
		event_free(c->splice.out);
		c->splice.in = c->splice.out = NULL;
	}
}
