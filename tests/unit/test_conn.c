/*
 * The daemon's connection state machine (daemon/proxy/conn.c, proxy.c, tunnel.c,
 * lesson.c) below the integration level, through the harness in
 * conn_harness.c. One worker with a real runtime built from a config string;
 * the test runs its event loop step by step. Clients are
 * socketpair()s handed to lgd_conn_accept(); upstream connections are either
 * put into the worker's pool as socketpairs (h_pool_add) or accepted by the
 * test from a loopback listener (h_upstream_accept), so the test plays the
 * origin on the other end. The wall clock is the test's (lgd_clock_us), so
 * deadlines and clock steps need no sleeping. Socket pairs rather than
 * bufferevent pairs: the proxy writes eagerly with writev(2) on real
 * descriptors, and that path is under test too (backpressure).
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "conn_harness.h"
#include "io.h"
#include "upstream.h"

/* The harness itself: a GET through a fresh upstream connection, keep-alive, then a reuse. */
static void
test_harness_get(void **state)
{
	struct h_buf cb = {0}, ob = {0};
	struct lgd_conn *c;
	static const char res[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
	int cfd, ofd;

	(void)state;
	h_start(NULL);
	cfd = h_client(&c);
	assert_int_equal(c->state, LGD_CONN_HEAD);
	h_send(cfd, "GET /free HTTP/1.1\r\nHost: t\r\n\r\n", 31);
	ofd = h_upstream_accept();
	h_origin_head(ofd, &ob);
	assert_memory_equal(ob.p, "GET /free HTTP/1.1\r\n", 20);
	assert_int_equal(c->state, LGD_CONN_PROXY);
	h_send(ofd, res, sizeof(res) - 1);
	assert_true(h_wait_for(cfd, &cb, "hello", 5, 3000));
	assert_int_equal(c->state, LGD_CONN_IDLE);
	/* Item 11: an idle client pins no upstream connection; it went back to the pool. */
	assert_false(c->parked);
	assert_null(c->upc);
	assert_int_equal(H.w.npool, 1);
	/* Pooled, it watches for reads (a close, stray bytes) only; writes are eager. */
	assert_int_equal(bufferevent_get_enabled(TAILQ_FIRST(&H.w.pool)->bev), EV_READ);
	/* The next request takes that pooled connection again. */
	h_clear(&ob);
	h_clear(&cb);
	h_send(cfd, "GET /again HTTP/1.1\r\nHost: t\r\n\r\n", 32);
	h_origin_head(ofd, &ob);
	assert_memory_equal(ob.p, "GET /again HTTP/1.1\r\n", 21);
	assert_true(c->reused);
	assert_int_equal(bufferevent_get_enabled(c->up.bev), EV_READ);
	h_send(ofd, res, sizeof(res) - 1);
	assert_true(h_wait_for(cfd, &cb, "hello", 5, 3000));
	close(cfd);
	h_run(20);
	assert_true(TAILQ_EMPTY(&H.w.conns));
	close(ofd);
	h_clear(&cb);
	h_clear(&ob);
	h_stop();
}

/*
 * A reused upstream connection that closes after taking a GET without answering
 * (the origin's idle close racing the request): the same head goes out again,
 * byte for byte, on a new connection, and the client gets that answer; the
 * copy kept for the retry is the connection's own buffer, used again by every
 * request.
 */
static void
test_retry_on_reused_upstream_closed(void **state)
{
	struct h_buf cb = {0}, ob = {0}, ob2 = {0};
	struct lgd_conn *c;
	static const char res[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
	static const char req[] = "GET /again?x=1 HTTP/1.1\r\nHost: t\r\nX-A: b\r\n\r\n";
	int cfd, ofd, ofd2;
	char *retry_buf;

	(void)state;
	h_start(NULL);
	cfd = h_client(&c);
	h_sends(cfd, "GET /first HTTP/1.1\r\nHost: t\r\n\r\n");
	ofd = h_upstream_accept();
	h_origin_head(ofd, &ob);
	h_send(ofd, res, sizeof(res) - 1);
	assert_true(h_wait_for(cfd, &cb, "hello", 5, 3000));
	assert_int_equal(H.w.npool, 1);
	h_clear(&ob);
	h_clear(&cb);
	h_sends(cfd, req);
	h_origin_head(ofd, &ob);
	assert_true(c->reused);
	assert_int_equal(c->retry_len, ob.n);
	retry_buf = c->retry;
	close(ofd); /* took the request, never answers */
	ofd2 = h_upstream_accept();
	h_origin_head(ofd2, &ob2);
	assert_int_equal(ob2.n, ob.n);
	assert_memory_equal(ob2.p, ob.p, ob.n);
	assert_int_equal(c->retry_len, 0);
	h_send(ofd2, res, sizeof(res) - 1);
	assert_true(h_wait_for(cfd, &cb, "hello", 5, 3000));
	assert_int_equal(c->state, LGD_CONN_IDLE);
	/* The next request on the pooled connection reuses the same retry buffer. */
	h_clear(&ob2);
	h_clear(&cb);
	h_sends(cfd, req);
	h_origin_head(ofd2, &ob2);
	assert_true(c->reused);
	assert_ptr_equal(c->retry, retry_buf);
	assert_int_equal(c->retry_len, ob2.n);
	h_send(ofd2, res, sizeof(res) - 1);
	assert_true(h_wait_for(cfd, &cb, "hello", 5, 3000));
	close(cfd);
	h_run(20);
	close(ofd2);
	h_clear(&cb);
	h_clear(&ob);
	h_clear(&ob2);
	h_stop();
}

/*
 * Backpressure (issue 7, item 19): WebSocket frames the client sent before the
 * 101 wait in its input (up to the read watermark); at the 101 they fill the
 * upstream's output past the high watermark, so the client is paused, and the
 * eager write at the end of the same callback drains that output at once. No
 * write callback follows such a write: the pause must still end.
 */
static void
test_backpressure_resumed_after_eager_write(void **state)
{
	struct h_buf cb = {0}, ob = {0};
	unsigned char *frames = malloc(400000);
	struct lgd_conn *c;
	size_t nf = 0, head;
	char req[512];
	int cfd, ofd, n;

	(void)state;
	h_start(NULL);
	ofd = h_pool_add();
	cfd = h_client(&c);
	n = ws_upgrade(req, sizeof(req), "s19");
	for (int i = 0; i < 6; i++)
		nf += ws_frame(frames + nf, 60000, true);
	h_send(cfd, req, (size_t)n);
	head = h_origin_head(ofd, &ob);
	h_send(cfd, frames, nf);
	h_run(50);
	assert_int_equal(c->state, LGD_CONN_PROXY);
	h_sends(ofd, ws_101);
	assert_true(h_wait_bytes(ofd, &ob, head + nf, 3000));
	assert_int_equal(c->state, LGD_CONN_TUNNEL);
	assert_false(c->down.paused);
	/* And the tunnel still flows both ways. */
	h_send(cfd, frames, nf);
	assert_true(h_wait_bytes(ofd, &ob, head + 2 * nf, 3000));
	close(cfd);
	close(ofd);
	h_run(20);
	free(frames);
	h_clear(&cb);
	h_clear(&ob);
	h_stop();
}

/*
 * The same through a request body: a keep-alive client pipelines a big POST
 * behind a GET; once the GET is answered, the body fills the (parked)
 * upstream's output and one eager write drains it.
 */
static void
test_backpressure_request_body_pipelined(void **state)
{
	static const char res[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
	struct h_buf cb = {0}, ob = {0};
	size_t len = 290000, total;
	char *req = malloc(len + 200);
	int cfd, ofd, n;

	(void)state;
	h_start(NULL);
	ofd = h_pool_add();
	cfd = h_client(NULL);
	n = sprintf(req,
	            "GET /a HTTP/1.1\r\nHost: t\r\n\r\n"
	            "POST /b HTTP/1.1\r\nHost: t\r\nContent-Length: %zu\r\n\r\n",
	            len);
	memset(req + n, 'b', len);
	total = (size_t)n + len;
	h_send(cfd, req, total);
	h_origin_head(ofd, &ob);
	h_clear(&ob);
	h_run(50);
	h_send(ofd, res, sizeof(res) - 1);
	assert_true(h_wait_for(cfd, &cb, "ok", 2, 3000));
	/* The POST's head and its whole body reach the origin. */
	assert_true(h_wait_bytes(ofd, &ob, len + 60, 3000));
	assert_true(h_wait_for(ofd, &ob, "bbbb", 4, 10));
	{
		char *body = memmem(ob.p, ob.n, "\r\n\r\n", 4);
		assert_non_null(body);
		assert_int_equal(ob.n - (size_t)(body + 4 - ob.p), len);
	}
	close(cfd);
	close(ofd);
	h_run(20);
	free(req);
	h_clear(&cb);
	h_clear(&ob);
	h_stop();
}

/*
 * Answers of our own to pipelined requests (401s here) stop reading the client
 * while its output is full, and every request is answered once it reads.
 */
static void
test_pipelined_refusals_paused_and_resumed(void **state)
{
	static const char req[] = "GET /live/x HTTP/1.1\r\nHost: t\r\n\r\n";
	size_t nreq = 3000, nres = 0;
	struct h_buf cb = {0};
	struct lgd_conn *c;
	char *all = malloc(nreq * (sizeof(req) - 1));
	size_t total = nreq * (sizeof(req) - 1), sent = 0, seen = 0;
	bool paused = false;
	int cfd;

	(void)state;
	h_start(NULL);
	H.sndbuf = 16384; /* small socket buffers: the proxy's output fills */
	cfd = h_client(&c);
	for (size_t i = 0; i < nreq; i++)
		memcpy(all + i * (sizeof(req) - 1), req, sizeof(req) - 1);
	/* Write what the socket takes, read nothing until the proxy pauses, then read all. */
	for (int t = 0; t < 1000 && nres < nreq; t++) {
		if (sent < total) {
			ssize_t k = write(cfd, all + sent, total - sent);
			if (k > 0)
				sent += (size_t)k;
		}
		h_run(5);
		paused = paused || c->down.paused;
		if (!paused)
			continue;
		h_take(cfd, &cb);
		for (char *p;
		     cb.p && (p = memmem(cb.p + seen, cb.n - seen, "HTTP/1.1 401", 12)) != NULL;) {
			seen = (size_t)(p - cb.p) + 12;
			nres++;
		}
	}
	assert_true(paused);
	assert_int_equal(nres, nreq);
	assert_false(c->down.paused);
	assert_int_equal(c->state, LGD_CONN_IDLE);
	close(cfd);
	h_run(20);
	free(all);
	h_clear(&cb);
	h_stop();
}

/*
 * Clock steps (item 18): a WebSocket lesson's deadline timer runs on the
 * monotonic clock; when the wall clock steps forward past the deadline, the
 * tunnel is closed then (4001), not half an hour of real time later.
 */
static void
test_clock_step_forward_closes_at_deadline(void **state)
{
	struct h_buf cb = {0}, ob = {0};
	const struct h_event *e;
	struct lgd_conn *c;
	int cfd, ofd;

	(void)state;
	h_start(NULL);
	c = ws_open("s18", &cfd, &ofd, &cb);
	assert_true(c->lesson.tunnel);
	assert_int_equal(c->lesson.deadline, h_at(2026, 9, 21, 10, 30, 0));
	h_run(200);
	assert_int_equal(c->state, LGD_CONN_TUNNEL);
	h_clock_step(1801); /* an NTP step to 10:30:01 */
	assert_true(h_wait_bytes(cfd, &cb, 4, 1500));
	assert_int_equal(ws_close_code(&cb, 0), 4001);
	assert_true(h_wait_bytes(ofd, &ob, 8, 1500));
	assert_int_equal(ws_close_code(&ob, 0), 4001);
	e = h_event(LG_EV_FORCED_CLOSE);
	assert_non_null(e);
	assert_int_equal(e->rule, LG_RULE_LESSON_LIMIT);
	close(cfd);
	close(ofd);
	h_run(20);
	h_clear(&cb);
	h_clear(&ob);
	h_stop();
}

/* A step back does not close early, and the deadline still holds after stepping forward. */
static void
test_clock_step_back_then_forward(void **state)
{
	struct h_buf cb = {0}, ob = {0};
	struct lgd_conn *c;
	int cfd, ofd;

	(void)state;
	h_start(NULL);
	h_clock_set(h_at(2026, 9, 21, 20, 59, 58));
	c = ws_open("s18b", &cfd, &ofd, &cb);
	assert_int_equal(c->lesson.deadline, h_at(2026, 9, 21, 21, 0, 0));
	h_clock_step(-3600); /* 19:59:58: two real seconds are no longer the deadline */
	h_run(2600);
	assert_int_equal(c->state, LGD_CONN_TUNNEL);
	assert_false(h_wait_bytes(cfd, &cb, 1, 0));
	h_clock_step(3600); /* back to 21:00:00 and a bit */
	assert_true(h_wait_bytes(cfd, &cb, 4, 1500));
	assert_int_equal(ws_close_code(&cb, 0), 4002);
	close(cfd);
	close(ofd);
	h_run(20);
	h_clear(&cb);
	h_clear(&ob);
	h_stop();
}

/*
 * Monitor mode rollout (item 9): a WebSocket allowed only because of monitor
 * mode (a holiday, no lesson yet) counts as an open tunnel while it is open and
 * gives the count back when it closes, across the reload to enforce mode.
 */
static void
test_monitor_tunnel_closed_after_reload(void **state)
{
	struct h_buf cb = {0}, ob = {0};
	struct lgd_conn *c;
	int cfd, ofd;

	(void)state;
	h_start("mode = \"monitor\";");
	h_clock_set(h_at(2026, 10, 1, 10, 0, 0)); /* National Day */
	c = ws_open("s9", &cfd, &ofd, &cb);
	assert_true(c->lesson.tunnel);
	assert_int_equal(c->lesson.deadline, 0); /* a monitored violation: nothing to enforce */
	assert_int_equal(h_tunnels("s9"), 1);
	h_reload(NULL); /* monitor -> enforce */
	assert_int_equal(c->state, LGD_CONN_TUNNEL);
	close(cfd);
	h_run(50);
	assert_true(TAILQ_EMPTY(&H.w.conns));
	assert_int_equal(h_tunnels("s9"), 0);
	close(ofd);
	/* Enforced on the next working day: a lesson, and its tunnel closes clean. */
	h_clock_set(h_at(2026, 10, 9, 10, 0, 0));
	c = ws_open("s9", &cfd, &ofd, &cb);
	assert_int_equal(c->lesson.deadline, h_at(2026, 10, 9, 10, 30, 0));
	assert_int_equal(h_tunnels("s9"), 1);
	close(cfd);
	h_run(50);
	assert_int_equal(h_tunnels("s9"), 0);
	close(ofd);
	h_run(20);
	h_clear(&cb);
	h_clear(&ob);
	h_stop();
}

/* Start a lesson download for student at the fake time now; the client's and origin's ends. */
static struct lgd_conn *
lesson_get(const char *student, const char *res, int *cfd, int *ofd)
{
	struct h_buf ob = {0};
	struct lgd_conn *c;
	char req[256];
	int n =
	    snprintf(req, sizeof(req),
	             "GET /live/video HTTP/1.1\r\nHost: t\r\nX-Student-Id: %s\r\n\r\n", student);

	*ofd = h_pool_add();
	*cfd = h_client(&c);
	h_send(*cfd, req, (size_t)n);
	h_origin_head(*ofd, &ob);
	h_send(*ofd, res, strlen(res));
	h_run(30);
	h_clear(&ob);
	return c;
}

/*
 * Lesson responses (item 8): a Content-Length download on a lesson route is
 * lesson activity while it is sent, and at the deadline the connection closes.
 */
static void
test_lesson_length_response_closed_at_deadline(void **state)
{
	struct h_buf cb = {0};
	const struct h_event *e;
	struct lgd_conn *c;
	char chunk[4096];
	int cfd, ofd;

	(void)state;
	h_start(NULL);
	h_clock_set(h_at(2026, 9, 21, 20, 59, 59));
	c = lesson_get("s8a", "HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n", &cfd, &ofd);
	assert_true(c->lesson.tunnel);
	assert_int_equal(h_tunnels("s8a"), 1);
	memset(chunk, 'v', sizeof(chunk));
	h_send(ofd, chunk, sizeof(chunk));
	assert_true(h_wait_bytes(cfd, &cb, 4096, 1000));
	assert_int_equal(c->state, LGD_CONN_PROXY);
	assert_true(h_wait_closed(cfd, &cb, 3000));
	assert_int_equal(h_tunnels("s8a"), 0);
	e = h_event(LG_EV_FORCED_CLOSE);
	assert_non_null(e);
	assert_int_equal(e->rule, LG_RULE_DAY_END);
	assert_true(e->enforced);
	assert_string_equal(e->reason, "connection closed");
	close(cfd);
	close(ofd);
	h_clear(&cb);
	h_stop();
}

/* A chunked lesson stream that never reaches a chunk boundary is closed about 2 s later. */
static void
test_lesson_chunked_without_boundary_closed(void **state)
{
	struct h_buf cb = {0};
	const struct h_event *e;
	struct lgd_conn *c;
	struct timeval t0, t1;
	int cfd, ofd;
	long ms;

	(void)state;
	h_start(NULL);
	h_clock_set(h_at(2026, 9, 21, 20, 59, 59));
	c = lesson_get("s8b",
	               "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	               "100000\r\npart of a chunk that never ends",
	               &cfd, &ofd);
	assert_true(c->lesson.tunnel);
	assert_true(h_wait_for(cfd, &cb, "never ends", 10, 1000));
	/* 21:00:00: the stream is being ended, waiting for a chunk boundary. */
	for (int t = 0; t < 600 && !c->ending; t++)
		h_run(5);
	assert_true(c->ending);
	assert_int_equal(c->state, LGD_CONN_PROXY);
	assert_null(h_event(LG_EV_FORCED_CLOSE)); /* the outcome is not known yet */
	gettimeofday(&t0, NULL);
	assert_true(h_wait_closed(cfd, &cb, 6000));
	gettimeofday(&t1, NULL);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_usec - t0.tv_usec) / 1000;
	assert_true(ms >= 1500 && ms < 5000); /* the 2 s grace */
	assert_int_equal(h_tunnels("s8b"), 0);
	e = h_event(LG_EV_FORCED_CLOSE);
	assert_non_null(e);
	assert_string_equal(e->reason, "connection closed");
	close(cfd);
	close(ofd);
	h_clear(&cb);
	h_stop();
}

/* A chunk boundary within the grace ends the stream cleanly; the connection stays usable. */
static void
test_lesson_chunked_ends_at_boundary(void **state)
{
	struct h_buf cb = {0};
	const struct h_event *e;
	struct lgd_conn *c;
	int cfd, ofd;

	(void)state;
	h_start(NULL);
	h_clock_set(h_at(2026, 9, 21, 20, 59, 59));
	c = lesson_get("s8c",
	               "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	               "5\r\nhello\r\n10\r\n12345678",
	               &cfd, &ofd);
	assert_true(h_wait_for(cfd, &cb, "12345678", 8, 1000));
	/* 21:00:00: ending, waiting for the boundary. */
	for (int t = 0; t < 600 && !c->ending; t++)
		h_run(5);
	assert_int_equal(c->state, LGD_CONN_PROXY);
	assert_true(c->ending);
	h_send(ofd, "abcdefgh\r\n20\r\nnot forwarded", 27);
	assert_true(h_wait_for(cfd, &cb, "abcdefgh\r\n0\r\n\r\n", 15, 1000));
	assert_null(memmem(cb.p, cb.n, "not forwarded", 13));
	assert_int_equal(c->state, LGD_CONN_IDLE);
	assert_int_equal(h_tunnels("s8c"), 0);
	e = h_event(LG_EV_FORCED_CLOSE);
	assert_non_null(e);
	assert_string_equal(e->reason, "stream ended at chunk boundary");
	close(cfd);
	close(ofd);
	h_run(20);
	h_clear(&cb);
	h_stop();
}

/*
 * A reload reaches every connection (item 7): the exchange in flight keeps
 * its runtime, the next request on the same keep-alive connection takes the
 * worker's newest one; a connection whose listener the reload removed closes
 * at its next request.
 */
static void
test_reload_reaches_next_request(void **state)
{
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
	struct h_buf cb = {0}, ob = {0};
	struct lgd_runtime *first;
	struct lgd_conn *c;
	int cfd, ofd;

	(void)state;
	h_start(NULL);
	first = H.rt;
	ofd = h_pool_add();
	cfd = h_client(&c);
	h_sends(cfd, "GET /newlesson/x HTTP/1.1\r\nHost: t\r\n\r\n");
	h_origin_head(ofd, &ob);
	h_send(ofd, ok, sizeof(ok) - 1);
	assert_true(h_wait_for(cfd, &cb, "\r\n\r\nok", 6, 2000)); /* a free route: forwarded */
	h_clear(&cb);
	h_clear(&ob);
	/* A lesson in flight while the reload makes /newlesson/ a lesson route. */
	h_sends(cfd, "GET /live/a HTTP/1.1\r\nHost: t\r\nX-Student-Id: s7\r\n\r\n");
	h_origin_head(ofd, &ob);
	H.routes = ", { prefix = \"/newlesson/\"; class = \"subject\"; }";
	h_reload(NULL);
	assert_ptr_equal(c->rt, first); /* the exchange keeps its runtime */
	h_send(ofd, ok, sizeof(ok) - 1);
	assert_true(h_wait_for(cfd, &cb, "\r\n\r\nok", 6, 2000));
	assert_int_equal(c->state, LGD_CONN_IDLE);
	h_clear(&cb);
	h_clear(&ob);
	/* The next request on the same connection: the new rules (no identity: 401). */
	h_sends(cfd, "GET /newlesson/x HTTP/1.1\r\nHost: t\r\n\r\n");
	assert_true(h_wait_for(cfd, &cb, "\r\n\r\n", 4, 2000));
	assert_memory_equal(cb.p, "HTTP/1.1 401", 12);
	assert_ptr_equal(c->rt, H.rt);
	assert_false(h_wait_bytes(ofd, &ob, 1, 100));
	h_clear(&cb);
	/* A reload that moves the listener: the connection closes at its next request. */
	H.lport = h_free_port();
	h_reload(NULL);
	h_sends(cfd, "GET /x HTTP/1.1\r\nHost: t\r\n\r\n");
	assert_true(h_wait_closed(cfd, &cb, 2000));
	assert_int_equal(cb.n, 0);
	assert_false(h_wait_bytes(ofd, &ob, 1, 50));
	close(cfd);
	close(ofd);
	h_clear(&cb);
	h_clear(&ob);
	h_stop();
}

/* A status event stream is long: each tick follows the newest configuration. */
static void
test_reload_reaches_status_stream(void **state)
{
	static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
	struct h_buf cb = {0}, ob = {0};
	struct lgd_conn *c;
	int cfd, ofd;

	(void)state;
	h_start(NULL);
	/* A lesson from 10:00 (deadline 10:30), then its status stream. */
	ofd = h_pool_add();
	cfd = h_client(NULL);
	h_sends(
	    cfd,
	    "GET /live/a HTTP/1.1\r\nHost: t\r\nX-Student-Id: s7s\r\nConnection: close\r\n\r\n");
	h_origin_head(ofd, &ob);
	h_send(ofd, ok, sizeof(ok) - 1);
	assert_true(h_wait_closed(cfd, &cb, 2000));
	close(cfd);
	h_clear(&cb);
	cfd = h_client(&c);
	h_sends(cfd,
	        "GET /.well-known/lessongate/status HTTP/1.1\r\nHost: t\r\nX-Student-Id: s7s\r\n"
	        "Accept: text/event-stream\r\n\r\n");
	assert_true(h_wait_for(cfd, &cb, "event: status", 13, 2000));
	assert_int_equal(c->state, LGD_CONN_EVENTS);
	h_clock_step(70); /* 1730 s left: no warning under warn_before = 5m */
	h_run(1200);
	assert_null(memmem(cb.p, cb.n, "event: warning", 14));
	h_reload("rules = { warn_before = \"29m\"; };");
	assert_true(h_wait_for(cfd, &cb, "\"warn_before\":1740", 18, 2000));
	assert_ptr_equal(c->rt, H.rt);
	close(cfd);
	close(ofd);
	h_run(20);
	h_clear(&cb);
	h_clear(&ob);
	h_stop();
}

/*
 * Item 11: upstream.keepalive bounds the idle upstream connections of the
 * process, however many clients are idle: two clients, two upstream
 * connections in use, keepalive = 1 -> one goes back to the pool, the other
 * is closed; neither idle client holds one.
 */
static void
test_keepalive_bounds_idle_upstreams(void **state)
{
	struct h_buf cb[2] = {{0}}, ob[2] = {{0}}, gone = {0};
	struct lgd_conn *c[2];
	static const char res[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
	int cfd[2], ofd[2];

	(void)state;
	H.upstream = " keepalive = 1;";
	h_start(NULL);
	for (int i = 0; i < 2; i++) {
		cfd[i] = h_client(&c[i]);
		h_sends(cfd[i], "GET /free HTTP/1.1\r\nHost: t\r\n\r\n");
		ofd[i] = h_upstream_accept();
		h_origin_head(ofd[i], &ob[i]);
	}
	for (int i = 0; i < 2; i++) {
		h_send(ofd[i], res, sizeof(res) - 1);
		assert_true(h_wait_for(cfd[i], &cb[i], "ok", 2, 3000));
		assert_int_equal(c[i]->state, LGD_CONN_IDLE);
		assert_null(c[i]->upc);
	}
	assert_int_equal(H.w.npool, 1);
	/* The second connection over the bound was closed towards the origin. */
	assert_true(h_wait_closed(ofd[1], &gone, 3000));
	for (int i = 0; i < 2; i++) {
		close(cfd[i]);
		close(ofd[i]);
		free(cb[i].p);
		free(ob[i].p);
	}
	free(gone.p);
	h_run(20);
	h_stop();
	H.upstream = NULL;
}

/* A lesson GET for student on connection fd (the fake time is the harness's). */
static void
send_lesson(int fd, const char *student, const char *more)
{
	char req[256];
	int n = snprintf(req, sizeof(req),
	                 "GET /live/video HTTP/1.1\r\nHost: t\r\nX-Student-Id: %s\r\n\r\n%s",
	                 student, more);

	h_send(fd, req, (size_t)n);
}

/*
 * Issue 8 (the seam): with a store that answers later, the connection waits in
 * DECIDE (nothing upstream, no event: events describe committed decisions),
 * then goes on with the kept head when the answer comes; a request pipelined
 * behind it follows.
 */
static void
test_decide_async_answer_proceeds(void **state)
{
	static const char res[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
	struct h_buf cb = {0}, ob = {0};
	struct lgd_conn *c;
	int cfd, ofd;

	(void)state;
	h_start(NULL);
	h_async_store(60000);
	ofd = h_pool_add();
	cfd = h_client(&c);
	send_lesson(cfd, "a1", "GET /free HTTP/1.1\r\nHost: t\r\n\r\n");
	h_run(30);
	assert_int_equal(c->state, LGD_CONN_DECIDE);
	assert_int_equal(h_async_pending(), 1);
	assert_int_equal(h_take(ofd, &ob), 0);
	assert_null(h_event(LG_EV_LESSON_START));
	h_async_answer(0, true);
	h_origin_head(ofd, &ob);
	assert_memory_equal(ob.p, "GET /live/video HTTP/1.1\r\n", 26);
	assert_non_null(memmem(ob.p, ob.n, "X-Student-Id: a1", 16));
	assert_non_null(h_event(LG_EV_LESSON_START));
	h_send(ofd, res, sizeof(res) - 1);
	assert_true(h_wait_for(cfd, &cb, "\r\n\r\nok", 6, 3000));
	assert_non_null(memmem(cb.p, cb.n, "Lessongate-Remaining: 1800", 26));
	/* The pipelined free request needs no decision. */
	h_clear(&ob);
	h_origin_head(ofd, &ob);
	assert_memory_equal(ob.p, "GET /free HTTP/1.1\r\n", 20);
	assert_int_equal(h_async_pending(), 0);
	close(cfd);
	close(ofd);
	h_run(20);
	h_clear(&cb);
	h_clear(&ob);
	h_stop();
}

/*
 * A connection closed while its decision is pending: the late answer is
 * dropped, even when a newer connection took its pending slot (the handle's
 * generation differs), and the others still get theirs. Run under ASan.
 */
static void
test_decide_connection_closed_while_waiting(void **state)
{
	struct lgd_conn *c1, *c2, *c3;
	int fd1, fd2, fd3;

	(void)state;
	h_start(NULL);
	h_async_store(60000);
	fd1 = h_client(&c1);
	fd2 = h_client(&c2);
	send_lesson(fd1, "b1", "");
	send_lesson(fd2, "b2", "");
	h_run(30);
	assert_int_equal(c1->state, LGD_CONN_DECIDE);
	assert_int_equal(c2->state, LGD_CONN_DECIDE);
	lgd_conn_close(c1, "test: closed while deciding");
	h_run(20); /* c1 is freed */
	fd3 = h_client(&c3);
	send_lesson(fd3, "b3", "");
	h_run(30);
	assert_int_equal(c3->state, LGD_CONN_DECIDE);
	assert_int_equal(h_async_pending(), 3);
	h_async_answer(0, true); /* c1's: nobody waits for it any more */
	h_run(10);
	assert_int_equal(c2->state, LGD_CONN_DECIDE);
	assert_int_equal(c3->state, LGD_CONN_DECIDE);
	assert_null(h_event(LG_EV_LESSON_START));
	h_async_answer(0, true); /* c2's */
	assert_true(c2->state == LGD_CONN_CONNECT || c2->state == LGD_CONN_PROXY);
	assert_int_equal(c3->state, LGD_CONN_DECIDE);
	assert_string_equal(h_event(LG_EV_LESSON_START)->student, "b2");
	close(fd1);
	close(fd2);
	close(fd3);
	h_run(20);
	/* c3 closed by its client's hang-up is noticed at the latest at the timeout; close it now.
	 */
	if (!TAILQ_EMPTY(&H.w.conns))
		lgd_conn_close_all(&H.w, "test over");
	h_run(20);
	h_async_answer(0, true); /* c3's, after the close: dropped */
	h_stop();
}

/*
 * The store does not answer within its timeout: the lesson request gets a 503
 * with Retry-After and the reason; the late answer is dropped. A store that
 * answers "unavailable" gets the same 503.
 */
static void
test_decide_timeout_503(void **state)
{
	struct h_buf cb = {0};
	struct lgd_conn *c;
	int cfd;

	(void)state;
	h_start(NULL);
	h_async_store(100);
	cfd = h_client(&c);
	send_lesson(cfd, "t1", "");
	h_run(30);
	assert_int_equal(c->state, LGD_CONN_DECIDE);
	assert_true(h_wait_for(cfd, &cb, "}\n", 2, 3000));
	assert_memory_equal(cb.p, "HTTP/1.1 503 Service Unavailable\r\n", 34);
	assert_non_null(memmem(cb.p, cb.n, "Retry-After: 5\r\n", 16));
	assert_non_null(memmem(cb.p, cb.n, "student store unavailable", 25));
	assert_int_equal(c->state, LGD_CONN_IDLE);
	h_async_answer(0, true); /* too late: dropped */
	h_run(10);
	assert_null(h_event(LG_EV_LESSON_START));
	assert_int_equal(c->state, LGD_CONN_IDLE);
	/* The next request on the keep-alive connection: the store says it is down. */
	h_clear(&cb);
	send_lesson(cfd, "t1", "");
	h_run(30);
	assert_int_equal(c->state, LGD_CONN_DECIDE);
	h_async_answer(0, false);
	assert_true(h_wait_for(cfd, &cb, "}\n", 2, 3000));
	assert_memory_equal(cb.p, "HTTP/1.1 503 Service Unavailable\r\n", 34);
	close(cfd);
	h_run(20);
	h_clear(&cb);
	h_stop();
}

/*
 * Issue 8: an open lesson tunnel holds a lease that the worker renews every
 * LG_LEASE_RENEW seconds; a minute later (twice the lease's TTL) it is still
 * held, and it is given back when the tunnel closes.
 */
static void
test_tunnel_lease_renewed(void **state)
{
	struct h_buf cb = {0};
	struct lgd_conn *c;
	int cfd, ofd;

	(void)state;
	h_start(NULL);
	c = ws_open("r1", &cfd, &ofd, &cb);
	assert_true(c->lesson.tunnel);
	assert_int_equal(h_tunnels("r1"), 1);
	assert_int_equal(c->lesson.lease.expires, h_at(2026, 9, 21, 10, 0, 0) + LG_LEASE_TTL);
	for (int i = 0; i < 8; i++) {
		h_clock_step(8);
		h_run(150); /* a worker tick or more */
	}
	assert_int_equal(c->state, LGD_CONN_TUNNEL);
	assert_int_equal(h_tunnels("r1"), 1);
	assert_true(c->lesson.lease.expires >= h_at(2026, 9, 21, 10, 1, 4) + LG_LEASE_TTL - 8);
	close(cfd);
	h_run(50);
	assert_int_equal(h_tunnels("r1"), 0);
	close(ofd);
	h_clear(&cb);
	h_stop();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_harness_get),
	    cmocka_unit_test(test_retry_on_reused_upstream_closed),
	    cmocka_unit_test(test_keepalive_bounds_idle_upstreams),
	    cmocka_unit_test(test_backpressure_resumed_after_eager_write),
	    cmocka_unit_test(test_backpressure_request_body_pipelined),
	    cmocka_unit_test(test_pipelined_refusals_paused_and_resumed),
	    cmocka_unit_test(test_clock_step_forward_closes_at_deadline),
	    cmocka_unit_test(test_clock_step_back_then_forward),
	    cmocka_unit_test(test_monitor_tunnel_closed_after_reload),
	    cmocka_unit_test(test_lesson_length_response_closed_at_deadline),
	    cmocka_unit_test(test_lesson_chunked_without_boundary_closed),
	    cmocka_unit_test(test_lesson_chunked_ends_at_boundary),
	    cmocka_unit_test(test_reload_reaches_next_request),
	    cmocka_unit_test(test_reload_reaches_status_stream),
	    cmocka_unit_test(test_decide_async_answer_proceeds),
	    cmocka_unit_test(test_decide_connection_closed_while_waiting),
	    cmocka_unit_test(test_decide_timeout_503),
	    cmocka_unit_test(test_tunnel_lease_renewed),
	};

	lgd_io_mem_init(); /* as lessongated does: libevent's memory through the block cache */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
