/* Client connections: accept, callbacks, timers, state transitions, closing. */
#include "conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/bufferevent_ssl.h>
#include <event2/bufferevent_struct.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "caps.h"
#include "counters.h"
#include "log.h"
#include "upstream.h"
#include "clock.h"

static const char *const state_names[] = {"idle",    "head",   "decide",         "connect",
                                          "proxy",   "tunnel", "tunnel_closing", "events",
                                          "closing", "closed"};

/* Move to a new state, logging the transition at debug level. */
void
lgd_conn_set_state(struct lgd_conn *c, enum lgd_conn_state st)
{
	if (st > LGD_CONN_CLOSED || c->state == LGD_CONN_CLOSED)
		return;
	lgd_debug("state", "worker=%d peer=%s from=%s to=%s", c->w->id, c->peer,
	          state_names[c->state], state_names[st]);
	c->state = st;
}

/*
 * (Re)arm the connection timer; 0 cancels it. Lazily: a request sets and
 * cancels it about four times, and each event_add or event_del is a heap
 * operation, so only the deadline is written down here. The event is added
 * only when none is pending or the pending one would fire after the new
 * deadline; one that fires early finds the deadline moved (or gone) and is
 * added again for what is left (timer_cb).
 */
void
lgd_conn_timer(struct lgd_conn *c, int64_t ms)
{
	int64_t due;
	struct timeval tv;

	if (ms <= 0) {
		c->timer_due = 0;
		return;
	}
	due = lgd_mono_us() + ms * 1000;
	c->timer_due = due;
	if (c->timer_at != 0 && c->timer_at <= due)
		return;
	tv = lgd_tv_ms(ms);
	evtimer_add(c->timer, &tv);
	c->timer_at = due;
}

/* Free the struct itself, one loop turn after the close. */
static void
conn_free_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lgd_conn *c = arg;

	lgd_runtime_unref(c->rt);
	free(c);
}

/* The one way a connection ends: log why, release both halves, free later. */
void
lgd_conn_close(struct lgd_conn *c, const char *reason)
{
	struct lgd_worker *w = c->w;

	if (c->state == LGD_CONN_CLOSED)
		return;
	lgd_debug("connection closed", "worker=%d peer=%s state=%s requests=%llu reason=\"%s\"",
	          w->id, c->peer, state_names[c->state], (unsigned long long)c->requests, reason);
	lgd_lesson_forget_decision(c); /* a decision still pending is dropped when it comes */
	lgd_lesson_finish(c);
	lgd_splice_free(c);
	lgd_conn_set_state(c, LGD_CONN_CLOSED);
	if (c->down.bev) {
		SSL *ssl = bufferevent_openssl_get_ssl(c->down.bev);
		if (ssl)
			SSL_set_shutdown(ssl, SSL_RECEIVED_SHUTDOWN);
		bufferevent_free(c->down.bev);
		c->down.bev = NULL;
	}
	lgd_conn_release_upstream(c);
	event_free(c->timer);
	if (c->deadline)
		event_free(c->deadline);
	if (c->lesson_timer)
		event_free(c->lesson_timer);
	if (c->body_timer)
		event_free(c->body_timer);
	lgd_status_end(c);
	if (c->addr_counted)
		lgd_limit_address_release((struct sockaddr *)&c->peer_sa);
	free(c->retry);
	TAILQ_REMOVE(&w->conns, c, link);
	w->nconns--;
	atomic_fetch_sub_explicit(&lgd_total_conns, 1, memory_order_relaxed);
	event_base_once(w->base, -1, EV_TIMEOUT, conn_free_cb, c, NULL);
	lgd_worker_check_drained(w);
}

/* Drop the upstream half: a clean one (parked) goes back to the pool, others close. */
void
lgd_conn_release_upstream(struct lgd_conn *c)
{
	struct lgd_upconn *u = c->upc;

	lgd_splice_stop(c);
	c->upc = NULL;
	c->up.bev = NULL;
	c->up.paused = false;
	if (u && c->parked && evbuffer_get_length(bufferevent_get_input(u->bev)) == 0)
		lgd_pool_put(c->w, u, c->rt);
	else
		lgd_upconn_free(u);
	c->parked = false;
}

/* Start or stop reading a half according to its pause and EOF flags. */
void
lgd_conn_update_read(struct lgd_conn *c, struct lgd_half *h)
{
	if (h->bev == NULL)
		return;
	if (h == &c->down && !h->paused && c->body_paused_us) {
		/* Time the upstream kept the client waiting is not the client's. */
		c->body_start_us += lgd_mono_us() - c->body_paused_us;
		c->body_paused_us = 0;
	}
	if (lgd_splice_owns(c, h))
		return; /* the splice reads it; its bufferevent stays off */
	if (h->paused || h->eof)
		bufferevent_disable(h->bev, EV_READ);
	else
		bufferevent_enable(h->bev, EV_READ);
}

/* The other side's output is full: stop reading src until it drains. */
void
lgd_conn_pause(struct lgd_conn *c, struct lgd_half *src)
{
	src->paused = true;
	if (src == &c->down && c->body_paused_us == 0)
		c->body_paused_us = lgd_mono_us();
	lgd_conn_update_read(c, src);
}

/* After the last bytes went out: half-close and linger briefly so the peer reads them. */
static void
closing_flushed(struct lgd_conn *c)
{
	int fd = bufferevent_getfd(c->down.bev);

	if (c->lingering)
		return;
	c->lingering = true;
	if (c->tls) {
		/* close_notify: a read-until-close body is then provably complete. */
		SSL *ssl = bufferevent_openssl_get_ssl(c->down.bev);
		if (ssl && SSL_is_init_finished(ssl))
			SSL_shutdown(ssl);
		ERR_clear_error();
	} else if (fd >= 0) {
		shutdown(fd, SHUT_WR);
	}
	bufferevent_enable(c->down.bev, EV_READ);
	lgd_conn_timer(c, 2000);
}

/*
 * Write queued output now instead of through a write event: on plain sockets
 * a small response then costs one writev and no epoll_ctl. Only what the
 * kernel does not take is left to libevent (EV_WRITE enabled until drained).
 */
static void
flush_bev(struct bufferevent *bev, bool tls)
{
	struct evbuffer *out = bufferevent_get_output(bev);

	if (evbuffer_get_length(out) == 0)
		return;
	if (tls) {
		/*
		 * OpenSSL bufferevents only arm EPOLLOUT when data is added and write
		 * on the next loop turn; running their write event now writes in this
		 * turn, and the epoll changelist cancels the add/remove pair.
		 */
		event_active(&bev->ev_write, EV_WRITE, 1);
		return;
	}
	if (bufferevent_get_enabled(bev) & EV_WRITE)
		return;
	{
		/* Socket bufferevents freeze the output's front outside their own writes. */
		evbuffer_unfreeze(out, 1);
		evbuffer_write(out, bufferevent_getfd(bev));
		evbuffer_freeze(out, 1);
	}
	if (evbuffer_get_length(out) > 0)
		bufferevent_enable(bev, EV_WRITE);
}

static void flush_outputs(struct lgd_conn *c);

/* A plain socket's output is empty: stop watching for writability. */
static void
write_idle(struct bufferevent *bev, bool tls)
{
	if (!tls && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		bufferevent_disable(bev, EV_WRITE);
}

/*
 * Resume each half paused for a destination that has drained to the low
 * watermark, whoever drained it: libevent's write callback, or an eager write
 * in flush_bev() that emptied the output at once (after which no write
 * callback comes). Whether anything was resumed.
 */
static bool
resume_drained(struct lgd_conn *c)
{
	enum lgd_conn_state st = c->state;
	bool any = false;

	if (st == LGD_CONN_CLOSED || st == LGD_CONN_CLOSING || st == LGD_CONN_TUNNEL_CLOSING)
		return false;
	if (evbuffer_get_length(bufferevent_get_output(c->down.bev)) <= LGD_LOW_WATER) {
		if (c->down.paused && (st == LGD_CONN_IDLE || st == LGD_CONN_HEAD)) {
			/* Answers of our own filled the output: read the next requests now. */
			c->down.paused = false;
			lgd_conn_update_read(c, &c->down);
			lgd_proxy_read_head(c);
			any = true;
		} else if (c->up.paused && c->up.bev) {
			c->up.paused = false;
			lgd_conn_update_read(c, &c->up);
			if (evbuffer_get_length(bufferevent_get_input(c->up.bev)) > 0) {
				if (st == LGD_CONN_TUNNEL)
					lgd_tunnel_forward(c, &c->up, &c->down);
				else
					lgd_proxy_response(c);
			}
			any = true;
		}
	}
	st = c->state;
	if (c->down.paused && c->up.bev &&
	    (st == LGD_CONN_CONNECT || st == LGD_CONN_PROXY || st == LGD_CONN_TUNNEL) &&
	    evbuffer_get_length(bufferevent_get_output(c->up.bev)) <= LGD_LOW_WATER) {
		c->down.paused = false;
		lgd_conn_update_read(c, &c->down);
		if (evbuffer_get_length(bufferevent_get_input(c->down.bev)) > 0) {
			if (st == LGD_CONN_TUNNEL)
				lgd_tunnel_forward(c, &c->down, &c->up);
			else if (c->down.st == LGD_HALF_BODY)
				lgd_proxy_request_body(c);
		}
		any = true;
	}
	return any;
}

/*
 * End of every callback: push both outputs out, resume what waited for them
 * to drain (again while that makes progress), and finish a pending close.
 */
void
lgd_conn_flush(struct lgd_conn *c)
{
	do
		flush_outputs(c);
	while (resume_drained(c));
	lgd_splice_check(c);
}

/* Push both outputs out and finish a pending close. */
static void
flush_outputs(struct lgd_conn *c)
{
	if (c->state == LGD_CONN_CLOSED)
		return;
	if (c->up.bev)
		flush_bev(c->up.bev, c->upc->tls);
	flush_bev(c->down.bev, c->tls);
	if (c->state == LGD_CONN_TUNNEL_CLOSING) {
		lgd_tunnel_flushed(c);
		if (c->state == LGD_CONN_TUNNEL_CLOSING) {
			flush_bev(c->up.bev, c->upc->tls);
			flush_bev(c->down.bev, c->tls);
		}
		return;
	}
	if (c->state == LGD_CONN_CLOSING &&
	    evbuffer_get_length(bufferevent_get_output(c->down.bev)) == 0)
		closing_flushed(c);
}

/* Send what is queued to the client, then close; the upstream is released now. */
void
lgd_conn_closing(struct lgd_conn *c, const char *reason)
{
	if (c->state == LGD_CONN_CLOSED)
		return;
	lgd_debug("closing", "worker=%d peer=%s reason=\"%s\"", c->w->id, c->peer, reason);
	lgd_conn_release_upstream(c);
	if (c->deadline)
		evtimer_del(c->deadline);
	lgd_lesson_finish(c);
	lgd_conn_set_state(c, LGD_CONN_CLOSING);
	c->down.paused = false;
	bufferevent_disable(c->down.bev, EV_READ);
	lgd_conn_timer(c, 0);
	if (evbuffer_get_length(bufferevent_get_output(c->down.bev)) == 0)
		closing_flushed(c);
}

/* The kind of an upstream failure (lessongate_upstream_errors_total) from its 502/504 reason. */
static enum lg_m_upstream
upstream_error_kind(int status, const char *reason)
{
	if (status == 504)
		return LG_M_UP_TIMEOUT;
	if (strstr(reason, "unreachable"))
		return LG_M_UP_CONNECT;
	if (strstr(reason, "closed"))
		return LG_M_UP_CLOSED;
	return LG_M_UP_PROTOCOL;
}

/* Answer the current request with an error of our own and close the connection. */
void
lgd_conn_error(struct lgd_conn *c, int status, const char *reason)
{
	if (c->state == LGD_CONN_CLOSED)
		return;
	if (status == 502 || status == 504)
		lg_ctr_add(&lgd_metrics->c.upstream_errors[upstream_error_kind(status, reason)], 1);
	if (c->res_started) {
		lgd_conn_close(c, reason);
		return;
	}
	lgd_log_count_status(status); /* any client can cause these: one line per interval */
	lgd_debug("request refused", "worker=%d peer=%s status=%d reason=\"%s\"", c->w->id, c->peer,
	          status, reason);
	c->res_started = true;
	lgd_head_error(bufferevent_get_output(c->down.bev), status, reason);
	lgd_conn_closing(c, reason);
}

/* The connection timer: which deadline it is depends on the state. */
static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lgd_conn *c = arg;
	int64_t now = lgd_mono_us(), left = c->timer_due - now;
	struct timeval tv;

	c->timer_at = 0;
	if (c->timer_due == 0)
		return; /* cancelled since it was added */
	if (left > 0) {
		/*
		 * Moved later since it was added, or early by libevent's coarser
		 * clock (CLOCK_MONOTONIC_COARSE, a tick behind): wait for the rest.
		 */
		tv = lgd_tv_us(left);
		evtimer_add(c->timer, &tv);
		c->timer_at = c->timer_due;
		return;
	}
	c->timer_due = 0;
	switch (c->state) {
	case LGD_CONN_IDLE:
		if (evbuffer_get_length(bufferevent_get_output(c->down.bev)) > 0)
			lgd_conn_timer(c, c->rt->cf->timeouts.keepalive_ms);
		else
			lgd_conn_close(c, "keep-alive timeout");
		break;
	case LGD_CONN_HEAD:
		/* Nothing of a request (or a TLS handshake that never ended): just close. */
		if (evbuffer_get_length(bufferevent_get_input(c->down.bev)) == 0)
			lgd_conn_close(c, "no request in time");
		else
			lgd_conn_error(c, 408, "request head not received in time");
		break;
	case LGD_CONN_DECIDE:
		lgd_lesson_decide_timeout(c);
		break;
	case LGD_CONN_CONNECT:
		lgd_warn("upstream connect timeout", "worker=%d upstream=%s", c->w->id,
		         c->rt->cf->upstream.address);
		lgd_conn_error(c, 504, "upstream connect timeout");
		break;
	case LGD_CONN_PROXY:
		if (c->ending) {
			lgd_conn_close(c, "no chunk boundary in time to end the stream");
		} else {
			lgd_warn("upstream response timeout", "worker=%d upstream=%s", c->w->id,
			         c->rt->cf->upstream.address);
			lgd_conn_error(c, 504, "upstream response timeout");
		}
		break;
	default:
		lgd_conn_close(c, "linger timeout");
		break;
	}
	lgd_conn_flush(c);
}

/* Client bytes arrived. */
static void
down_read_cb(struct bufferevent *bev, void *arg)
{
	struct lgd_conn *c = arg;

	switch (c->state) {
	case LGD_CONN_IDLE:
	case LGD_CONN_HEAD:
		lgd_proxy_read_head(c);
		break;
	case LGD_CONN_DECIDE:
		break; /* the head and what follows stay in the input until the decision */
	case LGD_CONN_CONNECT:
	case LGD_CONN_PROXY:
		if (c->down.st == LGD_HALF_BODY)
			lgd_proxy_request_body(c);
		break;
	case LGD_CONN_TUNNEL:
	case LGD_CONN_TUNNEL_CLOSING:
		lgd_tunnel_forward(c, &c->down, &c->up);
		break;
	default:
		evbuffer_drain(bufferevent_get_input(bev),
		               evbuffer_get_length(bufferevent_get_input(bev)));
		break;
	}
	lgd_conn_flush(c);
}

/* The client's output drained below the low watermark: resume what waited for it. */
static void
down_write_cb(struct bufferevent *bev, void *arg)
{
	struct lgd_conn *c = arg;

	write_idle(bev, c->tls);
	if (c->state == LGD_CONN_CLOSING) {
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			closing_flushed(c);
		return;
	}
	if (c->state == LGD_CONN_TUNNEL_CLOSING)
		lgd_tunnel_flushed(c);
	lgd_conn_flush(c);
}

/* Client EOF, error or timeout. */
static void
down_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct lgd_conn *c = arg;

	if (what & BEV_EVENT_CONNECTED)
		return; /* TLS handshake done */
	if (what & BEV_EVENT_TIMEOUT) {
		lgd_conn_close(c, what & BEV_EVENT_READING ? "client body timeout"
		                                           : "client write timeout");
	} else if ((what & BEV_EVENT_EOF) &&
	           (c->state == LGD_CONN_DECIDE ||
	            (c->down.st == LGD_HALF_DONE &&
	             (c->state == LGD_CONN_PROXY || c->state == LGD_CONN_CONNECT)))) {
		/* A half-close after a complete request (kept for a decision, or forwarded): it
		 * and any complete requests behind it are answered, then the connection closes
		 * (lgd_proxy_read_head). Noted, not read again: over TLS a close_notify leaves
		 * nothing on the socket to read. */
		c->down.eof = true;
		lgd_conn_update_read(c, &c->down);
	} else if (c->state == LGD_CONN_TUNNEL && (what & BEV_EVENT_EOF) && c->up.bev) {
		/* Pass what the client sent last, then finish: the upstream sees the EOF. */
		lgd_conn_close(c, "client closed the tunnel");
	} else if (what & BEV_EVENT_EOF) {
		lgd_conn_close(c, c->state == LGD_CONN_IDLE || c->state == LGD_CONN_CLOSING
		                      ? "client closed"
		                      : "client closed early");
	} else {
		unsigned long e = bufferevent_get_openssl_error(bev);
		char buf[160];
		if (e)
			ERR_error_string_n(e, buf, sizeof(buf));
		lgd_debug("client connection error", "worker=%d peer=%s error=\"%s\"", c->w->id,
		          c->peer, e ? buf : strerror(EVUTIL_SOCKET_ERROR()));
		lgd_conn_close(c, "client connection error");
	}
}

/* The upstream half's bufferevent callbacks while it belongs to this connection. */
static void
up_read_cb(struct bufferevent *bev, void *arg)
{
	struct lgd_conn *c = arg;

	if (c->state == LGD_CONN_TUNNEL || c->state == LGD_CONN_TUNNEL_CLOSING)
		lgd_tunnel_forward(c, &c->up, &c->down);
	else if (c->state == LGD_CONN_PROXY || c->state == LGD_CONN_CONNECT)
		lgd_proxy_response(c);
	else {
		c->parked = false; /* an upstream between two exchanges must stay silent */
		lgd_conn_release_upstream(c);
	}
	lgd_conn_flush(c);
}

/* The upstream's output drained: resume reading the client. */
static void
up_write_cb(struct bufferevent *bev, void *arg)
{
	struct lgd_conn *c = arg;

	write_idle(bev, c->upc->tls);
	if (c->state == LGD_CONN_TUNNEL_CLOSING)
		lgd_tunnel_flushed(c);
	lgd_conn_flush(c);
}

/* Upstream connected, EOF, error or timeout. */
static void
up_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct lgd_conn *c = arg;

	if (what & BEV_EVENT_CONNECTED)
		lgd_proxy_upstream_connected(c);
	else
		lgd_proxy_upstream_event(c, what);
	lgd_conn_flush(c);
}

/* Attach the upstream connection's callbacks to this connection. */
void
lgd_conn_attach_upstream(struct lgd_conn *c, struct lgd_upconn *u)
{
	struct timeval wt;
	int64_t ms = c->rt->cf->timeouts.body_ms;

	c->upc = u;
	c->up.bev = u->bev;
	c->up.paused = false;
	wt = lgd_tv_ms(ms);
	c->parked = false;
	bufferevent_setcb(u->bev, up_read_cb, up_write_cb, up_event_cb, c);
	bufferevent_setwatermark(u->bev, EV_WRITE, LGD_LOW_WATER, 0);
	lgd_bev_timeouts(u->bev, &wt, &wt);
	if (!u->connecting && !u->tls) {
		/* Reading already (pooled); lgd_conn_flush() writes eagerly. */
		lgd_bev_enable(u->bev, EV_READ);
		lgd_bev_disable(u->bev, EV_WRITE);
	} else {
		bufferevent_enable(u->bev, EV_READ | EV_WRITE);
	}
}

/* The test hook or a deadline fired: close the tunnel or end the stream. */
static void
deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lgd_conn *c = arg;
	char esc[256];

	lgd_info("test hook fired", "worker=%d peer=%s code=%u reason=\"%s\"", c->w->id, c->peer,
	         c->hook_code, lgd_esc(c->hook_reason, esc, sizeof(esc)));
	if (c->state == LGD_CONN_TUNNEL)
		lgd_conn_close_tunnel(c, c->hook_code, c->hook_reason);
	else
		lgd_conn_end_stream(c, c->hook_reason);
	lgd_conn_flush(c);
}

/* Arm the test hook timer for the current exchange, if the request asked for one. */
void
lgd_conn_arm_hook(struct lgd_conn *c)
{
	struct timeval tv;

	if (c->hook_ms < 0)
		return;
	if (c->deadline == NULL)
		c->deadline = evtimer_new(c->w->base, deadline_cb, c);
	tv = lgd_tv_ms(c->hook_ms);
	evtimer_add(c->deadline, &tv);
	c->hook_ms = -1;
}

/* The client half's read bound and write timeout, from the connection's runtime. */
static void
down_limits(struct lgd_conn *c)
{
	int64_t ms = c->rt->cf->timeouts.body_ms;
	struct timeval wt = {ms / 1000, (ms % 1000) * 1000};

	/* Bounds what a pipelining client can queue while its request is served. */
	bufferevent_setwatermark(c->down.bev, EV_READ, 0,
	                         LGD_HIGH_WATER + c->rt->req_limits.max_start_line +
	                             c->rt->req_limits.max_fields);
	bufferevent_set_timeouts(c->down.bev, NULL, &wt);
}

/*
 * Before the first byte of a new request is parsed: take the worker's newest
 * runtime, so a reload reaches every connection from its next request on (the
 * exchange in flight keeps its own). Listener settings come from the listener
 * with the same address in the new configuration; -1 if the reload removed
 * it (the caller closes the connection). A parked upstream connection is kept
 * only if the upstream stayed the same plain address.
 */
int
lgd_conn_adopt_runtime(struct lgd_conn *c)
{
	struct lgd_runtime *old = c->rt, *rt = c->w->rt;
	size_t i;

	if (rt == old)
		return 0;
	for (i = 0; i < rt->cf->nlisten; i++)
		if (strcmp(rt->cf->listen[i].address, c->lc->address) == 0)
			break;
	if (i == rt->cf->nlisten)
		return -1;
	if (c->upc && c->parked) {
		if (!rt->cf->upstream.tls && !old->cf->upstream.tls &&
		    rt->upstream_addrlen == old->upstream_addrlen &&
		    memcmp(&rt->upstream_addr, &old->upstream_addr, rt->upstream_addrlen) == 0)
			c->upc->generation = rt->generation;
		else
			lgd_conn_release_upstream(c);
	}
	lgd_debug("connection takes the new configuration", "worker=%d peer=%s generation=%u",
	          c->w->id, c->peer, rt->generation);
	c->rt = lgd_runtime_ref(rt);
	c->lc = &rt->cf->listen[i];
	lgd_runtime_unref(old);
	lg_http_parser_init(&c->down.parser, &rt->req_limits, c->w->headers, LGD_MAX_HEADERS);
	down_limits(c);
	return 0;
}

/* A new client socket accepted on listener index li of w's runtime. */
void
lgd_conn_accept(struct lgd_worker *w, size_t li, int fd, struct sockaddr *sa, socklen_t salen)
{
	struct lgd_runtime *rt = w->rt;
	struct lgd_conn *c;
	int one = 1;
	int open = atomic_fetch_add_explicit(&lgd_total_conns, 1, memory_order_relaxed) + 1;

	if (open > atomic_load(&lgd_max_conns)) {
		/* Another worker took the last slot at the same moment. */
		atomic_fetch_sub_explicit(&lgd_total_conns, 1, memory_order_relaxed);
		lgd_worker_pause_accept(w);
		if (rt->listen_ctx[li] == NULL)
			(void)!write(fd,
			             "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
			             "Connection: close\r\n\r\n",
			             75);
		close(fd);
		return;
	}
	if (!lgd_limit_address_acquire(sa, rt->cf->limits.max_connections_per_address)) {
		/* Over limits.max_connections_per_address: counted, one log line per interval. */
		atomic_fetch_sub_explicit(&lgd_total_conns, 1, memory_order_relaxed);
		lgd_log_count(LGD_COUNT_PER_ADDRESS);
		close(fd);
		return;
	}
	if (open == atomic_load(&lgd_max_conns))
		lgd_worker_pause_accept(w);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c = lg_xcalloc(1, sizeof(*c));
	c->w = w;
	c->rt = lgd_runtime_ref(rt);
	c->lc = &rt->cf->listen[li];
	c->hook_ms = -1;
	c->splice.pipe[0] = c->splice.pipe[1] = -1;
	c->addr_counted = rt->cf->limits.max_connections_per_address > 0;
	if (salen <= sizeof(c->peer_sa))
		memcpy(&c->peer_sa, sa, salen);
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr, c->peer, sizeof(c->peer));
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr, c->peer,
		          sizeof(c->peer));
	if (rt->listen_ctx[li]) {
		c->tls = true;
		c->down.bev = bufferevent_openssl_socket_new(
		    w->base, fd, SSL_new(rt->listen_ctx[li]), BUFFEREVENT_SSL_ACCEPTING,
		    BEV_OPT_CLOSE_ON_FREE);
	} else {
		c->down.bev = bufferevent_socket_new(w->base, fd, BEV_OPT_CLOSE_ON_FREE);
	}
	lgd_bev_tune(c->down.bev);
	c->timer = evtimer_new(w->base, timer_cb, c);
	TAILQ_INSERT_TAIL(&w->conns, c, link);
	w->nconns++;
	if (c->down.bev == NULL) {
		close(fd);
		lgd_conn_close(c, "out of memory");
		return;
	}
	bufferevent_setcb(c->down.bev, down_read_cb, down_write_cb, down_event_cb, c);
	bufferevent_setwatermark(c->down.bev, EV_WRITE, LGD_LOW_WATER, 0);
	down_limits(c);
	bufferevent_enable(c->down.bev, EV_READ | EV_WRITE);
	if (!c->tls)
		bufferevent_disable(c->down.bev, EV_WRITE); /* lgd_conn_flush() writes eagerly */
	c->state = LGD_CONN_HEAD;
	lgd_proxy_begin(c);
	lgd_conn_timer(c, rt->cf->timeouts.client_header_ms);
}

/* Shutdown: idle connections close now, busy ones after their current response. */
void
lgd_conn_drain_all(struct lgd_worker *w)
{
	struct lgd_conn *c, *next;

	for (c = TAILQ_FIRST(&w->conns); c; c = next) {
		next = TAILQ_NEXT(c, link);
		if (c->state == LGD_CONN_IDLE ||
		    (c->state == LGD_CONN_HEAD && c->requests == 0 &&
		     evbuffer_get_length(bufferevent_get_input(c->down.bev)) == 0))
			lgd_conn_close(c, "shutting down");
		else if (c->state == LGD_CONN_TUNNEL)
			lgd_conn_close_tunnel(c, 1001, "server shutting down");
		else if (c->state == LGD_CONN_EVENTS)
			lgd_conn_closing(c, "shutting down");
		else
			c->close_after = true;
	}
}

/* Close every connection of a worker now. */
void
lgd_conn_close_all(struct lgd_worker *w, const char *reason)
{
	while (!TAILQ_EMPTY(&w->conns))
		lgd_conn_close(TAILQ_FIRST(&w->conns), reason);
}
