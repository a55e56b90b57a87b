/* WebSocket tunnels: raw bytes both ways, frames followed so we can close at a boundary. */
#include "conn.h"

#include <event2/util.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

/* After the upstream's 101: both halves become a frame-tracked byte tunnel. */
void
lgd_tunnel_start(struct lgd_conn *c)
{
	struct lg_ws_config from_client = {LG_WS_FROM_CLIENT, 0x7, 0};
	struct lg_ws_config from_server = {LG_WS_FROM_SERVER, 0x7, 0};
	int64_t ms = c->rt->cf->timeouts.body_ms;
	struct timeval wt = {ms / 1000, (ms % 1000) * 1000};

	lg_ws_tracker_init(&c->down.ws, &from_client);
	lg_ws_tracker_init(&c->up.ws, &from_server);
	c->down.ws_closing = c->down.ws_close_sent = false;
	c->up.ws_closing = c->up.ws_close_sent = false;
	lgd_conn_set_state(c, LGD_CONN_TUNNEL);
	lgd_debug("websocket tunnel open", "worker=%d peer=%s", c->w->id, c->peer);
	bufferevent_set_timeouts(c->down.bev, NULL, &wt);
	bufferevent_set_timeouts(c->up.bev, NULL, &wt);
	c->down.paused = c->up.paused = false;
	lgd_conn_update_read(c, &c->down);
	lgd_conn_update_read(c, &c->up);
	lgd_conn_arm_hook(c);
	if (evbuffer_get_length(bufferevent_get_input(c->up.bev)) > 0)
		lgd_tunnel_forward(c, &c->up, &c->down);
	if (c->state == LGD_CONN_TUNNEL &&
	    evbuffer_get_length(bufferevent_get_input(c->down.bev)) > 0)
		lgd_tunnel_forward(c, &c->down, &c->up);
	if (c->state == LGD_CONN_TUNNEL && c->down.eof) {
		/* It half-closed before the 101: the 101 goes out, then the tunnel ends as at an
		 * EOF inside it. */
		lgd_conn_flush(c);
		if (c->state == LGD_CONN_TUNNEL)
			lgd_conn_close(c, "client closed the tunnel");
	}
}

/* Queue our Close frame towards dst (masked when it goes to the upstream). */
static void
inject_close(struct lgd_conn *c, struct lgd_half *src, struct lgd_half *dst)
{
	uint8_t frame[LG_WS_CLOSE_MAX], key[4];
	int n;

	evutil_secure_rng_get_bytes(key, sizeof(key));
	n = lg_ws_encode_close(frame, c->close_code, c->close_reason, strlen(c->close_reason),
	                       dst == &c->up ? key : NULL);
	if (n < 0)
		n = lg_ws_encode_close(frame, LG_WS_CLOSE_NORMAL, "", 0,
		                       dst == &c->up ? key : NULL);
	if (n > 0)
		evbuffer_add(bufferevent_get_output(dst->bev), frame, (size_t)n);
	src->ws_close_sent = true;
}

/* Both Close frames are out and flushed: the tunnel is over. */
static void
check_closed(struct lgd_conn *c)
{
	if (c->state != LGD_CONN_TUNNEL_CLOSING || !c->down.ws_close_sent || !c->up.ws_close_sent)
		return;
	if (evbuffer_get_length(bufferevent_get_output(c->down.bev)) ||
	    evbuffer_get_length(bufferevent_get_output(c->up.bev)))
		return;
	/* Give the peers a moment to answer with their own Close frames. */
	if (c->down.ws.closed && c->up.ws.closed)
		lgd_conn_close(c, "tunnel closed by the proxy");
	else
		lgd_conn_timer(c, 1000);
}

/* Read what src sent after our Close went out: watch for its own Close, drop the bytes. */
static void
discard(struct lgd_conn *c, struct lgd_half *src, struct evbuffer *in)
{
	struct evbuffer_iovec v;
	ssize_t n;

	while (evbuffer_peek(in, -1, NULL, &v, 1) >= 1 && v.iov_len > 0) {
		n = src->ws.closed ? (ssize_t)v.iov_len
		                   : lg_ws_track(&src->ws, v.iov_base, v.iov_len);
		if (n <= 0)
			n = (ssize_t)v.iov_len;
		evbuffer_drain(in, (size_t)n);
	}
	check_closed(c);
}

/* Move bytes from src to dst, frame by frame, stopping at a boundary if closing. */
void
lgd_tunnel_forward(struct lgd_conn *c, struct lgd_half *src, struct lgd_half *dst)
{
	struct evbuffer *in = bufferevent_get_input(src->bev);
	struct evbuffer *out = bufferevent_get_output(dst->bev);
	struct evbuffer_iovec v;
	ssize_t n;

	for (;;) {
		if (src->ws_close_sent) {
			discard(c, src, in);
			return;
		}
		if (src->ws_closing && lg_ws_at_boundary(&src->ws)) {
			inject_close(c, src, dst);
			continue;
		}
		if (evbuffer_get_length(out) >= LGD_HIGH_WATER) {
			lgd_conn_pause(c, src);
			return;
		}
		if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0)
			return;
		n = lg_ws_track(&src->ws, v.iov_base, v.iov_len);
		if (n < 0) {
			if (src == &c->down)
				lgd_log_count(LGD_COUNT_WS_PROTOCOL); /* one line per interval */
			lgd_log(src == &c->down ? LGD_DEBUG : LGD_WARN, "websocket protocol error",
			        "worker=%d peer=%s from=%s reason=\"%s\"", c->w->id, c->peer,
			        src == &c->down ? "client" : "upstream", src->ws.error.reason);
			lgd_conn_close(c, "websocket protocol error");
			return;
		}
		evbuffer_remove_buffer(in, out, (size_t)n);
	}
}

/* An output drained while closing: resume paused reads, maybe finish. */
void
lgd_tunnel_flushed(struct lgd_conn *c)
{
	struct lgd_half *halves[2] = {&c->down, &c->up};

	for (int i = 0; i < 2 && c->state == LGD_CONN_TUNNEL_CLOSING; i++) {
		struct lgd_half *src = halves[i], *dst = halves[1 - i];
		if (src->paused &&
		    evbuffer_get_length(bufferevent_get_output(dst->bev)) < LGD_LOW_WATER) {
			src->paused = false;
			lgd_conn_update_read(c, src);
			lgd_tunnel_forward(c, src, dst);
		}
	}
	check_closed(c);
}

/* Close a WebSocket tunnel at frame boundaries with a Close frame to both sides; -1 if none. */
int
lgd_conn_close_tunnel(struct lgd_conn *c, uint16_t code, const char *reason)
{
	char esc[256];

	if (c->state != LGD_CONN_TUNNEL)
		return -1;
	lgd_debug("closing websocket tunnel", "worker=%d peer=%s code=%u reason=\"%s\"", c->w->id,
	          c->peer, code, lgd_esc(reason, esc, sizeof(esc)));
	c->close_code = code;
	snprintf(c->close_reason, sizeof(c->close_reason), "%s", reason ? reason : "");
	lgd_conn_set_state(c, LGD_CONN_TUNNEL_CLOSING);
	c->down.ws_closing = c->up.ws_closing = true;
	/* Never wait forever for a frame to end. */
	lgd_conn_timer(c, 5000);
	lgd_tunnel_forward(c, &c->up, &c->down);
	if (c->state == LGD_CONN_TUNNEL_CLOSING)
		lgd_tunnel_forward(c, &c->down, &c->up);
	if (c->state == LGD_CONN_TUNNEL_CLOSING)
		check_closed(c);
	lgd_conn_flush(c);
	return 0;
}
