/* The HTTP/1.1 exchange: request head, bodies both ways, response head, keep-alive. */
#include "conn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auditwait.h"
#include "log.h"
#include "upstream.h"
#include "clock.h"

enum { CT_SIZE_START, CT_SIZE, CT_EXT, CT_SIZE_LF, CT_DATA, CT_DATA_CR, CT_DATA_LF, CT_TRAILER };

/* Whether a forwarded chunked body stands between two chunks. */
static bool
chunk_at_boundary(const struct lgd_chunk_track *t)
{
	return t->st == CT_SIZE_START && !t->last;
}

/*
 * Follow already validated chunked framing over p[0..n); with stop, return at
 * the first chunk boundary reached. Returns the bytes walked.
 */
static size_t
chunk_track(struct lgd_chunk_track *t, const char *p, size_t n, bool stop)
{
	size_t i = 0;

	while (i < n) {
		unsigned char ch = (unsigned char)p[i];
		if (stop && chunk_at_boundary(t))
			return i;
		switch (t->st) {
		case CT_DATA: {
			uint64_t k = n - i < t->left ? n - i : t->left;
			i += k;
			if ((t->left -= k) == 0)
				t->st = CT_DATA_CR;
			continue;
		}
		case CT_SIZE_START:
		case CT_SIZE:
			if (ch >= '0' && ch <= '9')
				t->left = t->left * 16 + (ch - '0');
			else if ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'f')
				t->left = t->left * 16 + ((ch | 0x20) - 'a' + 10);
			else
				t->st = ch == '\r' ? CT_SIZE_LF : CT_EXT;
			if (t->st == CT_SIZE_START)
				t->st = CT_SIZE;
			break;
		case CT_EXT:
			if (ch == '\r')
				t->st = CT_SIZE_LF;
			break;
		case CT_SIZE_LF:
			if (t->left == 0) {
				t->last = true;
				t->st = CT_TRAILER;
			} else {
				t->st = CT_DATA;
			}
			break;
		case CT_DATA_CR:
			t->st = CT_DATA_LF;
			break;
		case CT_DATA_LF:
			t->st = CT_SIZE_START;
			t->left = 0;
			break;
		default:
			break; /* trailers: the decoder finds the end */
		}
		i++;
	}
	return i;
}

/*
 * Move n bytes from the front of in (starting at p, its first segment) to out:
 * small runs are copied so they join the head in one write (one TLS record),
 * large ones move chain by chain without copying.
 */
static void
move_bytes(struct evbuffer *in, struct evbuffer *out, const void *p, size_t n)
{
	if (n == 0)
		return;
	if (n <= 4096) {
		evbuffer_add(out, p, n);
		evbuffer_drain(in, n);
	} else {
		evbuffer_remove_buffer(in, out, n);
	}
}

/* Start reading a new request head. */
void
lgd_proxy_begin(struct lgd_conn *c)
{
	lg_http_parser_init(&c->down.parser, &c->rt->req_limits, c->w->headers, LGD_MAX_HEADERS);
	c->down.st = LGD_HALF_HEAD;
	c->up.st = LGD_HALF_HEAD;
	c->res_started = c->dechunk = c->res_chunked = c->ending = c->reused = false;
	c->head_begun = false;
	memset(&c->ct, 0, sizeof(c->ct));
}

/* The body timeout as a timeval. */
static struct timeval
body_tv(const struct lgd_conn *c, int64_t ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	return tv;
}

/*
 * When the request body must be complete: an allowance of timeouts.body plus
 * a second per body_min_rate bytes received, and at most body_total; time
 * the client was paused for the upstream does not count. *total says whether
 * body_total is the bound.
 */
static int64_t
body_deadline_us(const struct lgd_conn *c, int64_t now, bool *total)
{
	const struct lg_timeouts_conf *t = &c->rt->cf->timeouts;
	int64_t start = c->body_start_us + (c->body_paused_us ? now - c->body_paused_us : 0);
	int64_t d = INT64_MAX;

	*total = false;
	if (t->body_min_rate > 0) {
		uint64_t r = (uint64_t)t->body_min_rate, secs = c->body_bytes / r;
		if (secs < (uint64_t)1 << 32) /* else: earned more time than anyone waits */
			d = start + t->body_ms * 1000 + (int64_t)(secs * 1000000) +
			    (int64_t)(c->body_bytes % r * 1000000 / r);
	}
	if (t->body_total_ms > 0 && start + t->body_total_ms * 1000 <= d) {
		d = start + t->body_total_ms * 1000;
		*total = true;
	}
	return d;
}

/* Arm the body pace timer after_us from now (never sooner than 1 ms). */
static void
body_pace_arm(struct lgd_conn *c, int64_t after_us)
{
	struct timeval tv;

	if (after_us < 1000)
		after_us = 1000;
	tv = lgd_tv_us(after_us);
	evtimer_add(c->body_timer, &tv);
}

/* The body pace timer: a body that falls behind gets 408 (or, once answered, a close). */
static void
body_pace_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lgd_conn *c = arg;
	int64_t now = lgd_mono_us(), d;
	bool total;

	if (c->down.st != LGD_HALF_BODY ||
	    (c->state != LGD_CONN_CONNECT && c->state != LGD_CONN_PROXY))
		return;
	d = body_deadline_us(c, now, &total);
	if (c->body_paused_us || now < d) {
		/* Paused for the upstream: the deadline moves with the clock; look again later. */
		body_pace_arm(c, c->body_paused_us && d - now < 1000000 ? 1000000 : d - now);
		return;
	}
	lgd_conn_error(c, 408,
	               total ? "request body took longer than timeouts.body_total"
	                     : "request body slower than timeouts.body_min_rate");
	lgd_conn_flush(c);
}

/* A request body begins: start measuring its pace, if a rate or total time is configured. */
static void
body_pace_start(struct lgd_conn *c)
{
	const struct lg_timeouts_conf *t = &c->rt->cf->timeouts;
	bool total;

	c->body_start_us = lgd_mono_us();
	c->body_paused_us = c->down.paused ? c->body_start_us : 0;
	c->body_bytes = 0;
	if (t->body_min_rate == 0 && t->body_total_ms == 0)
		return;
	if (c->body_timer == NULL)
		c->body_timer = evtimer_new(c->w->base, body_pace_cb, c);
	body_pace_arm(c, body_deadline_us(c, c->body_start_us, &total) - c->body_start_us);
}

/* The whole request went upstream: stop reading the client until the response is out. */
static void
request_done(struct lgd_conn *c)
{
	struct timeval wt = body_tv(c, c->rt->cf->timeouts.body_ms);

	/* The client stays readable (no epoll_ctl per request); pipelined bytes wait in its input.
	 */
	c->down.st = LGD_HALF_DONE;
	if (c->body_timer)
		evtimer_del(c->body_timer);
	if (c->body_timeout) {
		bufferevent_set_timeouts(c->down.bev, NULL, &wt);
		c->body_timeout = false;
	}
	if (c->state == LGD_CONN_PROXY && c->up.st == LGD_HALF_HEAD)
		lgd_conn_timer(c, c->rt->cf->upstream.response_timeout_ms);
}

/* A body moved by splice is complete: finish the request, or the exchange. */
void
lgd_proxy_body_passed(struct lgd_conn *c, struct lgd_half *src)
{
	if (!lg_http_body_done(&src->body))
		return;
	if (src == &c->down)
		request_done(c);
	else
		lgd_proxy_response_done(c);
}

/* Lessongate-Test-Close: <delay> [code] [reason] (only on listeners with test_hooks). */
static void
parse_test_hook(struct lgd_conn *c, const struct lg_http_header *h, size_t n)
{
	ssize_t i = lg_http_find_header(h, n, 0, "lessongate-test-close");
	char buf[128], *tok, *save = NULL, *end;
	int64_t ms;
	long code;

	if (i < 0)
		return;
	snprintf(buf, sizeof(buf), "%.*s", (int)h[i].value_len, h[i].value);
	if ((tok = strtok_r(buf, " ", &save)) == NULL)
		return;
	if (lg_parse_duration_ms(tok, &ms) != 0) {
		ms = strtoll(tok, &end, 10);
		if (*end || ms < 0)
			return;
	}
	c->hook_ms = ms;
	c->hook_code = 4000;
	snprintf(c->hook_reason, sizeof(c->hook_reason), "test close");
	if ((tok = strtok_r(NULL, " ", &save)) != NULL) {
		code = strtol(tok, &end, 10);
		if (*end == '\0' && code >= 1000 && code <= 4999)
			c->hook_code = (uint16_t)code;
		if (save && *save)
			snprintf(c->hook_reason, sizeof(c->hook_reason), "%s", save);
	}
}

/*
 * Check the body bytes that came with the head on a copy of the decoder, so a
 * request whose framing is already visibly broken never reaches the upstream.
 */
static bool
body_prevalidate(struct lgd_conn *c, const struct lg_http_request *req, size_t head_len)
{
	struct evbuffer *in = bufferevent_get_input(c->down.bev);
	struct evbuffer_iovec v[8];
	struct lg_http_body b;
	struct evbuffer_ptr pos;
	struct lg_http_str data;
	int nv;

	if (req->framing != LG_HTTP_BODY_CHUNKED || evbuffer_get_length(in) <= head_len)
		return true;
	lg_http_body_init(&b, req->framing, req->content_length, &c->rt->req_limits, false);
	evbuffer_ptr_set(in, &pos, head_len, EVBUFFER_PTR_SET);
	nv = evbuffer_peek(in, -1, &pos, v, 8);
	for (int i = 0; i < nv && i < 8 && !lg_http_body_done(&b); i++) {
		const char *p = v[i].iov_base;
		size_t len = v[i].iov_len;
		while (len > 0 && !lg_http_body_done(&b)) {
			ssize_t n = lg_http_body_feed(&b, p, len, &data);
			if (n < 0) {
				lgd_conn_error(c, b.error.status, b.error.reason);
				return false;
			}
			if (n == 0)
				break;
			p += n;
			len -= (size_t)n;
		}
	}
	return true;
}

static void gate_and_forward(struct lgd_conn *c, const struct lg_http_request *req,
                             size_t head_len);

/* A complete, valid request head: open the exchange with the upstream. */
static void
handle_request(struct lgd_conn *c, const struct lg_http_request *req, size_t head_len)
{

	c->requests++;
	lgd_conn_timer(c, 0);
	c->method = req->method;
	c->req_http10 = req->minor_version == 0;
	c->req_keep_alive = req->keep_alive && !c->w->draining && !c->close_after;
	c->req_websocket = req->websocket;
	c->close_after = !c->req_keep_alive;
	if (req->method == LG_HTTP_CONNECT) {
		lgd_conn_error(c, 405, "CONNECT is not supported by a reverse proxy");
		return;
	}
	if (c->lc->test_hooks)
		parse_test_hook(c, c->w->headers, req->num_headers);
	gate_and_forward(c, req, head_len);
}

/*
 * Identity, route class and rules (a refused request never reaches the
 * upstream), then the exchange with the upstream. When the store answers
 * later, the head stays in the client's input and the connection waits in
 * DECIDE for at most the store's timeout. Reading is not stopped for the
 * wait (that would cost two epoll_ctl calls a decision): what the client
 * sends meanwhile stays in the input, up to its high watermark, and an EOF
 * waits for the decision (down_event_cb).
 */
static void
gate_and_forward(struct lgd_conn *c, const struct lg_http_request *req, size_t head_len)
{
	struct lgd_runtime *rt = c->rt;
	struct evbuffer *in = bufferevent_get_input(c->down.bev);
	struct lgd_upconn *u;
	struct lgd_fwd fwd;
	int g = lgd_lesson_request(c, req, head_len, &fwd);

	if (g == LGD_LESSON_WAIT) {
		lgd_conn_set_state(c, LGD_CONN_DECIDE);
		/* An enforced refusal waits for its audit record; a decision for the store. */
		if (c->audit_wait)
			lgd_conn_timer(c, LGD_AUDIT_WAIT_MS);
		else
			lgd_conn_timer(c, lgd_store->timeout_ms > 0 ? lgd_store->timeout_ms : 1);
		return;
	}
	if (g == 0)
		return;
	if (!body_prevalidate(c, req, head_len))
		return;
	if ((u = lgd_pool_get(c->w, rt)) != NULL) {
		c->reused = true;
		lgd_conn_attach_upstream(c, u);
	} else if ((u = lgd_upstream_connect(c->w, rt)) == NULL) {
		lgd_warn("upstream connect failed", "worker=%d upstream=%s error=\"%s\"", c->w->id,
		         rt->cf->upstream.address, strerror(errno));
		lgd_conn_error(c, 502, "upstream unreachable");
		return;
	} else {
		lgd_conn_attach_upstream(c, u);
	}
	u->uses++;
	c->retry_len = 0;
	lgd_head_request(c, req, c->w->headers, req->num_headers, head_len, &fwd,
	                 bufferevent_get_output(u->bev));
	evbuffer_drain(in, head_len);
	lg_http_parser_init(&c->up.parser, &rt->res_limits, c->w->headers, LGD_MAX_HEADERS);
	lgd_conn_set_state(c, c->reused ? LGD_CONN_PROXY : LGD_CONN_CONNECT);
	if (!c->reused)
		lgd_conn_timer(c, rt->cf->upstream.connect_timeout_ms);
	if (req->framing == LG_HTTP_BODY_NONE) {
		request_done(c);
		return;
	}
	lg_http_body_init(&c->down.body, req->framing, req->content_length, &rt->req_limits, false);
	c->down.st = LGD_HALF_BODY;
	{
		struct timeval t = body_tv(c, rt->cf->timeouts.body_ms);
		bufferevent_set_timeouts(c->down.bev, &t, &t);
		c->body_timeout = true;
	}
	body_pace_start(c);
	lgd_proxy_request_body(c);
}

/*
 * The proxy answered the request itself (refusal, status): drop its head and
 * wait for the next request, or close once the answer is out.
 */
void
lgd_proxy_answered(struct lgd_conn *c, size_t head_len, bool keep, const char *reason)
{
	evbuffer_drain(bufferevent_get_input(c->down.bev), head_len);
	c->res_started = true;
	c->down.st = c->up.st = LGD_HALF_DONE;
	if (!keep) {
		c->close_after = true;
		lgd_conn_closing(c, reason);
		return;
	}
	lgd_conn_set_state(c, LGD_CONN_IDLE);
	lgd_proxy_begin(c);
	lgd_conn_timer(c, c->rt->cf->timeouts.keepalive_ms);
}

/*
 * Client bytes in IDLE/HEAD: parse request heads as far as they go. Requests
 * the proxy answers itself are taken in a loop (never recursion), until the
 * client's output is full.
 */
void
lgd_proxy_read_head(struct lgd_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->down.bev);
	const struct lg_http_limits *lim;
	size_t len, max;
	struct lg_http_request req;
	const char *buf;
	bool header_timer = false;
	int r;

	for (;;) {
		if ((len = evbuffer_get_length(in)) == 0) {
			if (c->down.eof && c->state == LGD_CONN_IDLE)
				lgd_conn_closing(c, "client closed its side");
			return;
		}
		if (c->state == LGD_CONN_IDLE) {
			if (evbuffer_get_length(bufferevent_get_output(c->down.bev)) >=
			    LGD_HIGH_WATER) {
				/* Resumed by the write callback once the client reads. */
				lgd_conn_flush(c);
				if (c->state != LGD_CONN_IDLE)
					return;
				if (evbuffer_get_length(bufferevent_get_output(c->down.bev)) >=
				    LGD_HIGH_WATER) {
					lgd_conn_pause(c, &c->down);
					return;
				}
			}
			lgd_conn_set_state(c, LGD_CONN_HEAD);
		}
		if (!c->head_begun) {
			/* A new request: the newest configuration applies from here. */
			if (lgd_conn_adopt_runtime(c) != 0) {
				lgd_conn_close(c, "listener removed by a reload");
				return;
			}
			c->head_begun = true;
			/* The header timeout runs from here; armed below unless the whole head is
			 * in (then handle_request() would cancel it at once: an event_add and an
			 * event_del per request for nothing). */
			header_timer = c->requests > 0;
		}
		lim = &c->rt->req_limits;
		max = lim->max_start_line + lim->max_fields + 8;
		if (len > max)
			len = max;
		buf = (const char *)evbuffer_pullup(in, (ssize_t)len);
		r = lg_http_parse_request(&c->down.parser, buf, len, &req);
		if (r < 0 && header_timer)
			lgd_conn_timer(c, c->rt->cf->timeouts.client_header_ms);
		header_timer = false;
		if (r == LG_HTTP_NEED_MORE) {
			if (c->down.eof) /* the rest of this head will never come */
				lgd_conn_closing(c, "client closed early");
			return;
		}
		if (r < 0) {
			lgd_conn_error(c, c->down.parser.error.status, c->down.parser.error.reason);
			return;
		}
		handle_request(c, &req, (size_t)r);
		if (c->state != LGD_CONN_IDLE)
			return;
	}
}

/*
 * The store answered (or timed out) for a connection in DECIDE: parse the
 * kept head again (it is still at the start of the client's input; the
 * parsed form pointed into buffers that lived for one callback), go on with
 * the gate's answer, then with any pipelined requests.
 */
void
lgd_proxy_resume(struct lgd_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->down.bev);
	const struct lg_http_limits *lim = &c->rt->req_limits;
	size_t len = evbuffer_get_length(in), max = lim->max_start_line + lim->max_fields + 8;
	struct lg_http_request req;
	const char *buf;
	int r;

	lgd_conn_timer(c, 0);
	lgd_conn_update_read(c, &c->down);
	lgd_conn_set_state(c, LGD_CONN_HEAD);
	lg_http_parser_init(&c->down.parser, lim, c->w->headers, LGD_MAX_HEADERS);
	if (len > max)
		len = max;
	buf = (const char *)evbuffer_pullup(in, (ssize_t)len);
	r = lg_http_parse_request(&c->down.parser, buf, len, &req);
	if (r <= 0) { /* cannot happen: the same bytes parsed before */
		lgd_conn_error(c, 500, "request head lost while deciding");
		lgd_conn_flush(c);
		return;
	}
	gate_and_forward(c, &req, (size_t)r);
	if (c->state == LGD_CONN_IDLE)
		lgd_proxy_read_head(c);
	lgd_conn_flush(c);
}

/*
 * Move request body bytes from the client to the upstream while there is room.
 * Trailers are not forwarded (nothing the gate did not see reaches the
 * origin): a chunked body ends with the last-chunk and an empty trailer section.
 */
void
lgd_proxy_request_body(struct lgd_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->down.bev), *out;
	struct evbuffer_iovec v;
	struct lg_http_str data;
	bool trailers;
	ssize_t n;

	if (c->up.bev == NULL)
		return;
	out = bufferevent_get_output(c->up.bev);
	while (c->down.st == LGD_HALF_BODY) {
		if (evbuffer_get_length(out) >= LGD_HIGH_WATER) {
			lgd_conn_pause(c, &c->down);
			return;
		}
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0)
			break;
		trailers = lg_http_body_in_trailers(&c->down.body);
		n = lg_http_body_feed(&c->down.body, v.iov_base, v.iov_len, &data);
		if (n < 0) {
			lgd_conn_error(c, c->down.body.error.status, c->down.body.error.reason);
			return;
		}
		if (trailers)
			evbuffer_drain(in, (size_t)n);
		else
			move_bytes(in, out, v.iov_base, (size_t)n);
		c->body_bytes += (uint64_t)n;
		if (lg_http_body_done(&c->down.body)) {
			if (trailers)
				evbuffer_add(out, "\r\n", 2); /* the empty trailer section */
			request_done(c);
		} else if (n == 0)
			break;
	}
	if (c->down.st == LGD_HALF_BODY && c->down.eof) /* the rest will never come */
		lgd_conn_close(c, "client closed early");
}

/* The connection to the upstream is up (TCP, and TLS if configured). */
void
lgd_proxy_upstream_connected(struct lgd_conn *c)
{
	if (c->upc)
		c->upc->connecting = false;
	if (c->state != LGD_CONN_CONNECT)
		return;
	lgd_conn_set_state(c, LGD_CONN_PROXY);
	lgd_conn_timer(c,
	               c->down.st == LGD_HALF_DONE ? c->rt->cf->upstream.response_timeout_ms : 0);
}

/* A reused upstream connection died before answering: send the request on a fresh one. */
static bool
retry_request(struct lgd_conn *c)
{
	struct lgd_upconn *u;

	/* Only idempotent methods may be replayed (RFC 9110 9.2.2). */
	if (c->method == LG_HTTP_POST || c->method == LG_HTTP_PATCH || c->method == LG_HTTP_OTHER ||
	    c->method == LG_HTTP_CONNECT)
		return false;
	if (!c->reused || c->retry_len == 0 || c->down.st != LGD_HALF_DONE ||
	    c->up.st != LGD_HALF_HEAD || evbuffer_get_length(bufferevent_get_input(c->up.bev)) > 0)
		return false;
	c->parked = false;
	lgd_conn_release_upstream(c);
	c->reused = false;
	if ((u = lgd_upstream_connect(c->w, c->rt)) == NULL)
		return false;
	lgd_debug("retrying on a new upstream connection", "worker=%d peer=%s", c->w->id, c->peer);
	lgd_conn_attach_upstream(c, u);
	evbuffer_add(bufferevent_get_output(u->bev), c->retry, c->retry_len);
	c->retry_len = 0;
	lg_http_parser_init(&c->up.parser, &c->rt->res_limits, c->w->headers, LGD_MAX_HEADERS);
	lgd_conn_set_state(c, LGD_CONN_CONNECT);
	lgd_conn_timer(c, c->rt->cf->upstream.connect_timeout_ms);
	return true;
}

/*
 * The upstream failed (a reset, a failed write of the request) before its
 * response head was read: it may have answered first, as an origin refusing
 * an upload does (417 or 413, then close with the body unread, which resets
 * the connection). What it sent is read and answered, and the connection is
 * never pooled again. 1 if that took the exchange on (a response, or the
 * connection gone or on to its next exchange: the caller is done), 0 if
 * nothing usable was there.
 */
static int
answered_before_gone(struct lgd_conn *c)
{
	struct lgd_upconn *u = c->upc;
	uint64_t requests = c->requests;

	if (u == NULL || u->tls)
		return 0;
	u->broken = true;
	lgd_bev_read_rest(c->up.bev, LGD_HIGH_WATER);
	if (evbuffer_get_length(bufferevent_get_input(c->up.bev)) == 0)
		return 0;
	lgd_proxy_response(c);
	return c->upc != u || c->requests != requests || c->state != LGD_CONN_PROXY ||
	       c->up.st != LGD_HALF_HEAD;
}

/* Upstream EOF, error or timeout outside a tunnel. */
void
lgd_proxy_upstream_event(struct lgd_conn *c, short what)
{
	if (c->state == LGD_CONN_IDLE || c->state == LGD_CONN_HEAD || c->up.st == LGD_HALF_DONE) {
		/* A finished exchange's connection closed or timed out: just forget it. */
		c->parked = false;
		lgd_conn_release_upstream(c);
		return;
	}
	if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_READING) && c->up.st == LGD_HALF_HEAD) {
		/* Silence before the head is the response timer's business, not this one's. */
		bufferevent_enable(c->up.bev, EV_READ);
		return;
	}
	if (c->state == LGD_CONN_CONNECT) {
		int e = EVUTIL_SOCKET_ERROR();
		if (retry_request(c))
			return;
		lgd_warn("upstream connect failed", "worker=%d upstream=%s error=\"%s\"", c->w->id,
		         c->rt->cf->upstream.address, e ? strerror(e) : "TLS handshake failed");
		lgd_conn_error(c, 502, "upstream unreachable");
		return;
	}
	if (c->state == LGD_CONN_TUNNEL || c->state == LGD_CONN_TUNNEL_CLOSING) {
		lgd_conn_closing(c, "upstream closed the tunnel");
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		if (c->up.st == LGD_HALF_HEAD) {
			lgd_warn("upstream response timeout", "worker=%d upstream=%s", c->w->id,
			         c->rt->cf->upstream.address);
			lgd_conn_error(c, 504, "upstream response timeout");
		} else {
			lgd_conn_close(c, "upstream timeout");
		}
		return;
	}
	if ((what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) && c->state == LGD_CONN_PROXY &&
	    c->up.st == LGD_HALF_HEAD && answered_before_gone(c)) {
		struct lgd_upconn *u = c->upc;

		/*
		 * The answer's body: what came is being sent (a response paused
		 * behind a slow client reads its socket again when it resumes, and
		 * meets the failure then); with nothing left, it ends here.
		 */
		if (c->state != LGD_CONN_PROXY || c->up.st != LGD_HALF_BODY || u == NULL ||
		    evbuffer_get_length(bufferevent_get_input(u->bev)) > 0)
			return;
		what |= BEV_EVENT_EOF;
	}
	if ((what & BEV_EVENT_EOF) && c->up.st == LGD_HALF_BODY) {
		lgd_proxy_response(c);
		if (c->state != LGD_CONN_PROXY || c->up.st != LGD_HALF_BODY)
			return;
		if (lg_http_body_eof(&c->up.body) == 0) {
			c->res_keep_alive = false;
			lgd_proxy_response_done(c);
		} else {
			lgd_conn_close(c, "upstream closed inside the response body");
		}
		return;
	}
	if (retry_request(c))
		return;
	lgd_warn("upstream failed", "worker=%d upstream=%s error=\"%s\"", c->w->id,
	         c->rt->cf->upstream.address,
	         what & BEV_EVENT_EOF ? "closed the connection" : "connection error");
	lgd_conn_error(c, 502, "upstream closed the connection");
}

/* End a streamed response with the last chunk; the upstream connection is dropped. */
static void
finish_ending(struct lgd_conn *c)
{
	lgd_conn_timer(c, 0);
	lgd_lesson_ended(c, true);
	evbuffer_add(bufferevent_get_output(c->down.bev), "0\r\n\r\n", 5);
	c->res_keep_alive = false;
	lgd_proxy_response_done(c);
}

/*
 * The response is complete: a clean upstream connection goes back to the pool
 * (an idle client never holds one), then read the next request or close.
 */
void
lgd_proxy_response_done(struct lgd_conn *c)
{
	struct lgd_upconn *u = c->upc;
	bool reuse = c->res_keep_alive && !c->ending && c->down.st == LGD_HALF_DONE && u &&
	             evbuffer_get_length(bufferevent_get_input(u->bev)) == 0;

	c->up.st = LGD_HALF_DONE;
	if (c->deadline)
		evtimer_del(c->deadline);
	lgd_lesson_finish(c);
	c->parked = reuse;
	lgd_conn_release_upstream(c);
	if (c->close_after || c->down.st != LGD_HALF_DONE || c->w->draining ||
	    c->rt->cf->timeouts.keepalive_ms == 0) {
		lgd_conn_closing(c, "response complete");
		return;
	}
	lgd_conn_set_state(c, LGD_CONN_IDLE);
	lgd_proxy_begin(c);
	if (c->down.paused) {
		c->down.paused = false;
		lgd_conn_update_read(c, &c->down);
	}
	lgd_conn_timer(c, c->rt->cf->timeouts.keepalive_ms);
	if (evbuffer_get_length(bufferevent_get_input(c->down.bev)) > 0 || c->down.eof)
		lgd_proxy_read_head(c);
}

/* Move response body bytes to the client while there is room. */
static void
response_body(struct lgd_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->up.bev);
	struct evbuffer *out = bufferevent_get_output(c->down.bev);
	struct evbuffer_iovec v;
	struct lg_http_str data;
	ssize_t n;

	while (c->up.st == LGD_HALF_BODY) {
		if (evbuffer_get_length(out) >= LGD_HIGH_WATER) {
			lgd_conn_pause(c, &c->up);
			return;
		}
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0)
			return;
		n = lg_http_body_feed(&c->up.body, v.iov_base, v.iov_len, &data);
		if (n < 0) {
			lgd_warn("bad upstream response body", "worker=%d reason=\"%s\"", c->w->id,
			         c->up.body.error.reason);
			lgd_conn_close(c, c->up.body.error.reason);
			return;
		}
		if (c->dechunk) {
			if (data.len)
				evbuffer_add(out, data.p, data.len);
			evbuffer_drain(in, (size_t)n);
		} else if (c->res_chunked) {
			size_t k = chunk_track(&c->ct, v.iov_base, (size_t)n, c->ending);
			move_bytes(in, out, v.iov_base, k);
			if (c->ending && chunk_at_boundary(&c->ct)) {
				finish_ending(c);
				return;
			}
		} else {
			move_bytes(in, out, v.iov_base, (size_t)n);
		}
		if (lg_http_body_done(&c->up.body)) {
			lgd_proxy_response_done(c);
			return;
		}
		if (n == 0)
			return;
	}
}

/* Parse the response head; 1 when a head was handled and more may follow, else 0. */
static int
response_head(struct lgd_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->up.bev);
	const struct lg_http_limits *lim = &c->rt->res_limits;
	size_t len = evbuffer_get_length(in), max = lim->max_start_line + lim->max_fields + 8;
	struct lg_http_response res;
	const char *buf;
	int r;

	if (len == 0)
		return 0;
	if (len > max)
		len = max;
	buf = (const char *)evbuffer_pullup(in, (ssize_t)len);
	r = lg_http_parse_response(&c->up.parser, buf, len, c->method, &res);
	if (r == LG_HTTP_NEED_MORE)
		return 0;
	if (r < 0) {
		lgd_warn("bad upstream response", "worker=%d upstream=%s reason=\"%s\"", c->w->id,
		         c->rt->cf->upstream.address, c->up.parser.error.reason);
		lgd_conn_error(c, 502, c->up.parser.error.reason);
		return 0;
	}
	if (res.status >= 100 && res.status < 200 && res.status != 101) {
		if (!c->req_http10)
			lgd_head_response(c, &res, c->w->headers, res.num_headers, (size_t)r,
			                  bufferevent_get_output(c->down.bev));
		evbuffer_drain(in, (size_t)r);
		lg_http_parser_init(&c->up.parser, lim, c->w->headers, LGD_MAX_HEADERS);
		return 1;
	}
	lgd_conn_timer(c, 0);
	if (res.status == 101) {
		if (!c->req_websocket || !res.upgrade_websocket) {
			lgd_warn("bad upstream response", "worker=%d upstream=%s reason=\"%s\"",
			         c->w->id, c->rt->cf->upstream.address,
			         "unexpected 101 Switching Protocols");
			lgd_conn_error(c, 502, "unexpected 101 Switching Protocols");
			return 0;
		}
		lgd_lesson_response(c, &res, c->w->headers, res.num_headers);
		lgd_head_response(c, &res, c->w->headers, res.num_headers, (size_t)r,
		                  bufferevent_get_output(c->down.bev));
		evbuffer_drain(in, (size_t)r);
		c->res_started = true;
		lgd_tunnel_start(c);
		return 0;
	}
	/* Content-Length: 0 is a whole response, like no body: no bytes will come to finish it. */
	if (res.framing == LG_HTTP_BODY_LENGTH && res.content_length == 0)
		res.framing = LG_HTTP_BODY_NONE;
	c->res_keep_alive = res.keep_alive;
	c->res_chunked = res.framing == LG_HTTP_BODY_CHUNKED;
	c->dechunk = c->res_chunked && c->req_http10;
	if (c->w->draining || res.framing == LG_HTTP_BODY_CLOSE || c->dechunk)
		c->close_after = true;
	if (res.framing != LG_HTTP_BODY_NONE)
		lgd_lesson_response(c, &res, c->w->headers, res.num_headers);
	lgd_head_response(c, &res, c->w->headers, res.num_headers, (size_t)r,
	                  bufferevent_get_output(c->down.bev));
	evbuffer_drain(in, (size_t)r);
	c->res_started = true;
	if (res.framing == LG_HTTP_BODY_NONE) {
		lgd_proxy_response_done(c);
		return 0;
	}
	lg_http_body_init(&c->up.body, res.framing, res.content_length, lim, true);
	c->up.st = LGD_HALF_BODY;
	lgd_conn_arm_hook(c);
	return 1;
}

/* Upstream bytes outside a tunnel: heads, then body. */
void
lgd_proxy_response(struct lgd_conn *c)
{
	while (c->state == LGD_CONN_PROXY && c->up.bev) {
		if (c->up.st == LGD_HALF_HEAD) {
			if (response_head(c) == 0)
				break;
		} else {
			if (c->up.st == LGD_HALF_BODY)
				response_body(c);
			break;
		}
	}
	/* A lesson response that began here and goes on now holds its lesson (lesson.c). */
	lgd_lesson_outlived(c);
}

/*
 * End a streamed response: a chunked one gets its last-chunk at the next chunk
 * boundary (closed if none comes within LGD_END_STREAM_GRACE_MS), anything
 * else is closed after what was queued; -1 if no response body is flowing.
 */
int
lgd_conn_end_stream(struct lgd_conn *c, const char *reason)
{
	char esc[256];

	if (c->state != LGD_CONN_PROXY || c->up.st != LGD_HALF_BODY)
		return -1;
	lgd_info("ending streamed response", "worker=%d peer=%s reason=\"%s\"", c->w->id, c->peer,
	         lgd_esc(reason, esc, sizeof(esc)));
	if (c->res_chunked && !c->dechunk) {
		c->ending = true;
		if (chunk_at_boundary(&c->ct)) {
			finish_ending(c);
		} else {
			/* timer_cb closes the connection if no boundary comes in time. */
			lgd_conn_timer(c, LGD_END_STREAM_GRACE_MS);
			response_body(c);
		}
	} else {
		lgd_conn_closing(c, reason);
	}
	lgd_conn_flush(c);
	return 0;
}
