/*
 * The daemon's connection state machine (daemon/conn.c, proxy.c, tunnel.c,
 * lesson.c) below the integration level. One worker with a real runtime built
 * from a config string; the test runs its event loop step by step. Clients are
 * socketpair()s handed to lgd_conn_accept(); upstream connections are either
 * put into the worker's pool as socketpairs (h_pool_add) or accepted by the
 * test from a loopback listener (h_upstream_accept), so the test plays the
 * origin on the other end. The wall clock is the test's (lgd_clock_us), so
 * deadlines and clock steps need no sleeping. Socket pairs rather than
 * bufferevent pairs: the proxy writes eagerly with writev(2) on real
 * descriptors, and that path is under test too (backpressure).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "conn.h"
#include "log.h"
#include "upstream.h"

/* ---------------------------------------------------------------- the harness */

/* A lesson event the proxy emitted (the runtime's sink points here). */
struct h_event {
	enum lg_event_type type;
	enum lg_rule rule;
	bool enforced;
	char reason[64];
	char student[32];
};

/* Bytes read from one descriptor so far. */
struct h_buf {
	char *p;
	size_t n;
};

static struct {
	struct lgd_worker w;
	struct lgd_runtime *rt;
	int lfd;            /* the upstream listener (fresh connections) */
	int port;           /* its port */
	int lport;          /* the worker's own (unused) client listener */
	const char *routes; /* more routes for the next runtime: ", { ... }" */
	int64_t skew;       /* fake wall clock minus the real one, microseconds */
	struct h_event ev[64];
	size_t nev;
} H;

/* The fake wall clock: real time shifted by H.skew. */
static int64_t
fake_clock(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec + H.skew;
}

/* Set the fake wall clock to unix time t (seconds). */
static void
h_clock_set(int64_t t)
{
	H.skew = 0;
	H.skew = t * 1000000 - fake_clock();
}

/* Step the fake wall clock by s seconds (forward or back), like an NTP step. */
static void
h_clock_step(int64_t s)
{
	H.skew += s * 1000000;
}

/* Unix time of an Asia/Shanghai civil time. */
static int64_t
h_at(int y, int mo, int d, int h, int mi, int s)
{
	return lg_tz_unix(H.rt->cf->tz,
	                  (int64_t)lg_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s);
}

/* The sink of every runtime the harness makes: remember the event. */
static void
h_emit(void *arg, const struct lg_event *e)
{
	struct h_event *x;

	(void)arg;
	if (H.nev == sizeof(H.ev) / sizeof(H.ev[0]))
		return;
	x = &H.ev[H.nev++];
	x->type = e->type;
	x->rule = e->rule;
	x->enforced = e->enforced;
	snprintf(x->reason, sizeof(x->reason), "%s", e->reason ? e->reason : "");
	snprintf(x->student, sizeof(x->student), "%s", e->student ? e->student : "");
}

/* The last event of a type, or NULL. */
static const struct h_event *
h_event(enum lg_event_type type)
{
	for (size_t i = H.nev; i-- > 0;)
		if (H.ev[i].type == type)
			return &H.ev[i];
	return NULL;
}

/*
 * A runtime from the harness's base config plus extra top-level settings
 * (mode, rules, timeouts...), through a temporary file as lessongated reads it.
 */
static struct lgd_runtime *
h_runtime(const char *extra)
{
	char path[] = "/tmp/lg-test-conn-XXXXXX";
	struct lg_errors errs;
	struct lgd_runtime *rt;
	int fd = mkstemp(path);
	FILE *f;

	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fprintf(f,
	        "instance = \"harness\";\n"
	        "listen = ( { address = \"127.0.0.1:%d\"; } );\n"
	        "upstream = { address = \"127.0.0.1:%d\"; };\n"
	        "identity = { header = { name = \"X-Student-Id\"; trusted_peers = "
	        "[\"127.0.0.1/32\"]; }; };\n"
	        "routes = ( { prefix = \"/live/\"; class = \"subject\"; },"
	        " { path = \"/ws\"; class = \"subject\"; }%s );\n"
	        "calendar = { files = [\"" LG_SOURCE_ROOT "/conf/calendar/cn-2026.conf\"];"
	        " default_region = \"533100\"; };\n%s\n",
	        H.lport, H.port, H.routes ? H.routes : "", extra ? extra : "");
	fclose(f);
	lg_errors_init(&errs);
	rt = lgd_runtime_load(path, &errs);
	for (size_t i = 0; i < errs.count; i++)
		fprintf(stderr, "%s\n", errs.msg[i]);
	lg_errors_free(&errs);
	unlink(path);
	assert_non_null(rt);
	rt->sink.emit = h_emit;
	return rt;
}

/* A loopback TCP port nobody listens on now (for the worker's listener, never used). */
static int
h_free_port(void)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	getsockname(fd, (struct sockaddr *)&sin, &sl);
	close(fd);
	return ntohs(sin.sin_port);
}

/* Start a worker for the base config plus extra, at local time 2026-09-21 10:00 (a Monday). */
static void
h_start(const char *extra)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sin);

	memset(&H, 0, sizeof(H));
	lgd_log_init(getenv("LG_TEST_DEBUG") ? LGD_DEBUG : LGD_ERR, 0);
	lgd_clock_us = fake_clock;
	lgd_students = lg_students_new(64, 4);
	H.lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(H.lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(H.lfd, 16), 0);
	getsockname(H.lfd, (struct sockaddr *)&sin, &sl);
	H.port = ntohs(sin.sin_port);
	H.lport = h_free_port();
	H.rt = h_runtime(extra);
	assert_int_equal(lgd_worker_init(&H.w, 0, H.rt), 0);
	h_clock_set(h_at(2026, 9, 21, 10, 0, 0));
}

/* Close everything the harness made. */
static void
h_stop(void)
{
	lgd_worker_join(&H.w);
	lgd_runtime_unref(H.rt);
	close(H.lfd);
	lg_students_free(lgd_students);
	lgd_students = NULL;
}

/* Hand the worker a new configuration, as SIGHUP does, and let it take it. */
static void
h_reload(const char *extra)
{
	struct lgd_runtime *rt = h_runtime(extra);

	lgd_worker_post_reload(&H.w, lgd_runtime_ref(rt));
	lgd_runtime_unref(H.rt);
	H.rt = rt;
	for (int i = 0; i < 100 && H.w.rt != rt; i++)
		event_base_loop(H.w.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	assert_ptr_equal(H.w.rt, rt);
}

/* Run the worker's loop for ms milliseconds of real time. */
static void
h_run(int ms)
{
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	event_base_loopexit(H.w.base, &tv);
	event_base_dispatch(H.w.base);
}

/* A non-blocking socketpair: [0] for the proxy, [1] for the test. */
static void
h_pair(int sv[2])
{
	int big = 4 << 20;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	/* Room for a few hundred KiB in flight, so one writev can drain a full output. */
	for (int i = 0; i < 2; i++) {
		setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
		setsockopt(sv[i], SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	}
}

/* A new client connection from 127.0.0.1; returns the test's end, *cp the proxy's conn. */
static int
h_client(struct lgd_conn **cp)
{
	struct sockaddr_in sin = {.sin_family = AF_INET,
	                          .sin_port = htons(40000),
	                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	struct lgd_conn *c, *last = NULL;
	int sv[2];

	h_pair(sv);
	lgd_conn_accept(&H.w, 0, sv[0], (struct sockaddr *)&sin, sizeof(sin));
	TAILQ_FOREACH(c, &H.w.conns, link)
	last = c;
	assert_non_null(last);
	if (cp)
		*cp = last;
	return sv[1];
}

/* An idle upstream connection in the worker's pool; returns the origin's end. */
static int
h_pool_add(void)
{
	struct lgd_upconn *u = lg_xcalloc(1, sizeof(*u));
	int sv[2];

	h_pair(sv);
	u->w = &H.w;
	u->generation = H.rt->generation;
	u->bev = bufferevent_socket_new(H.w.base, sv[0], BEV_OPT_CLOSE_ON_FREE);
	lgd_bev_tune(u->bev);
	lgd_pool_put(&H.w, u, H.rt);
	assert_true(u->pooled);
	return sv[1];
}

/* Accept the proxy's next fresh upstream connection (running the loop); the origin's end. */
static int
h_upstream_accept(void)
{
	for (int i = 0; i < 500; i++) {
		int fd = accept4(H.lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0)
			return fd;
		h_run(10);
	}
	fail_msg("the proxy opened no upstream connection");
	return -1;
}

/* Write all of p to fd, running the loop while the socket is full. */
static void
h_send(int fd, const void *p, size_t n)
{
	const char *s = p;

	for (int spins = 0; n > 0 && spins < 2000;) {
		ssize_t k = write(fd, s, n);
		if (k > 0) {
			s += k;
			n -= (size_t)k;
			continue;
		}
		assert_true(k < 0 && errno == EAGAIN);
		h_run(5);
		spins++;
	}
	assert_int_equal(n, 0);
}

/* Write a string to fd (see h_send). */
static void
h_sends(int fd, const char *str)
{
	h_send(fd, str, strlen(str));
}

/* Read whatever fd has now into b; -1 once the peer closed, else bytes read. */
static ssize_t
h_take(int fd, struct h_buf *b)
{
	char tmp[65536];
	ssize_t k, got = 0;

	while ((k = read(fd, tmp, sizeof(tmp))) > 0) {
		b->p = realloc(b->p, b->n + (size_t)k + 1);
		memcpy(b->p + b->n, tmp, (size_t)k);
		b->n += (size_t)k;
		b->p[b->n] = '\0';
		got += k;
	}
	if (k == 0)
		return -1;
	return got;
}

/* Run the loop (up to ms) until b holds needle; whether it does. */
static bool
h_wait_for(int fd, struct h_buf *b, const char *needle, size_t nlen, int ms)
{
	for (int t = 0;; t += 10) {
		bool closed = h_take(fd, b) < 0;
		if (b->n >= nlen && memmem(b->p, b->n, needle, nlen) != NULL)
			return true;
		if (closed || t >= ms)
			return false;
		h_run(10);
	}
}

/* Run the loop (up to ms) until b holds at least n bytes; whether it does. */
static bool
h_wait_bytes(int fd, struct h_buf *b, size_t n, int ms)
{
	for (int t = 0;; t += 10) {
		bool closed = h_take(fd, b) < 0;
		if (b->n >= n)
			return true;
		if (closed || t >= ms)
			return false;
		h_run(10);
	}
}

/* Run the loop (up to ms) until the peer of fd closed; whether it did. */
static bool
h_wait_closed(int fd, struct h_buf *b, int ms)
{
	for (int t = 0;; t += 10) {
		if (h_take(fd, b) < 0)
			return true;
		if (t >= ms)
			return false;
		h_run(10);
	}
}

/* Forget what b holds. */
static void
h_clear(struct h_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->n = 0;
}

/* The head of the next request at the origin (run until complete); its length. */
static size_t
h_origin_head(int fd, struct h_buf *b)
{
	char *end;

	assert_true(h_wait_for(fd, b, "\r\n\r\n", 4, 3000));
	end = memmem(b->p, b->n, "\r\n\r\n", 4);
	return (size_t)(end - b->p) + 4;
}

/* A student's open lesson tunnels in the shared table (0 if unknown). */
static unsigned
h_tunnels(const char *student)
{
	struct lg_students_ref ref;
	struct lg_student_state *st =
	    lg_students_find(lgd_students, student, strlen(student), &ref);
	unsigned n;

	if (st == NULL)
		return 0;
	n = st->tunnels;
	lg_students_release(&ref);
	return n;
}

/* ---------------------------------------------------------------- WebSocket helpers */

static const char ws_101[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                             "Connection: Upgrade\r\n"
                             "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";

/* A client's WebSocket upgrade request for student on /ws. */
static int
ws_upgrade(char *buf, size_t len, const char *student)
{
	return snprintf(
	    buf, len,
	    "GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
	    "X-Student-Id: %s\r\n\r\n",
	    student);
}

/* One binary frame of n payload bytes (masked with a zero key when from the client). */
static size_t
ws_frame(unsigned char *out, size_t n, bool masked)
{
	size_t h = 0;

	out[h++] = 0x82;
	if (n < 126) {
		out[h++] = (unsigned char)((masked ? 0x80 : 0) | n);
	} else {
		assert_true(n <= 0xffff);
		out[h++] = (unsigned char)((masked ? 0x80 : 0) | 126);
		out[h++] = (unsigned char)(n >> 8);
		out[h++] = (unsigned char)n;
	}
	if (masked) {
		memset(out + h, 0, 4);
		h += 4;
	}
	memset(out + h, 'x', n);
	return h + n;
}

/* The code of the first Close frame in b from offset off (frames walked), or 0. */
static unsigned
ws_close_code(const struct h_buf *b, size_t off)
{
	const unsigned char *p = (const unsigned char *)b->p;

	while (off + 2 <= b->n) {
		size_t h = 2;
		uint64_t len = p[off + 1] & 0x7f;
		bool masked = p[off + 1] & 0x80;
		if (len == 126) {
			if (off + 4 > b->n)
				return 0;
			len = (uint64_t)p[off + 2] << 8 | p[off + 3];
			h = 4;
		} else if (len == 127) {
			return 0; /* not sent here */
		}
		if (masked)
			h += 4;
		if (off + h + len > b->n)
			return 0;
		if ((p[off] & 0x0f) == 0x8 && len >= 2) {
			const unsigned char *k =
			    masked ? p + off + h - 4 : (const unsigned char *)"\0\0\0\0";
			return (unsigned)((p[off + h] ^ k[0]) << 8 | (p[off + h + 1] ^ k[1]));
		}
		off += h + len;
	}
	return 0;
}

/*
 * Open a WebSocket lesson through the proxy for student: the client's end in
 * *cfd, the origin's in *ofd (a pooled upstream), the client's bytes after the
 * 101 head in *cb (cleared); returns the proxy's connection.
 */
static struct lgd_conn *
ws_open(const char *student, int *cfd, int *ofd, struct h_buf *cb)
{
	struct h_buf ob = {0};
	struct lgd_conn *c;
	char req[512];
	int n = ws_upgrade(req, sizeof(req), student);

	*ofd = h_pool_add();
	*cfd = h_client(&c);
	h_send(*cfd, req, (size_t)n);
	h_origin_head(*ofd, &ob);
	h_send(*ofd, ws_101, sizeof(ws_101) - 1);
	assert_true(h_wait_for(*cfd, cb, "\r\n\r\n", 4, 3000));
	assert_memory_equal(cb->p, "HTTP/1.1 101", 12);
	assert_int_equal(c->state, LGD_CONN_TUNNEL);
	h_clear(cb);
	h_clear(&ob);
	return c;
}

/* ---------------------------------------------------------------- tests */

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
	assert_true(c->parked);
	/* The next request rides on the parked upstream connection. */
	h_clear(&ob);
	h_clear(&cb);
	h_send(cfd, "GET /again HTTP/1.1\r\nHost: t\r\n\r\n", 32);
	h_origin_head(ofd, &ob);
	assert_memory_equal(ob.p, "GET /again HTTP/1.1\r\n", 21);
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
	h_send(ofd, ws_101, sizeof(ws_101) - 1);
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
	assert_true(h_wait_bytes(cfd, &cb, cb.n + 1, 1500) == false); /* the deadline passes */
	gettimeofday(&t0, NULL);
	assert_true(h_wait_closed(cfd, &cb, 4000));
	gettimeofday(&t1, NULL);
	ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_usec - t0.tv_usec) / 1000;
	assert_true(ms < 3500);
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
	h_run(1200); /* past 21:00:00: ending, waiting for the boundary */
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_harness_get),
	    cmocka_unit_test(test_backpressure_resumed_after_eager_write),
	    cmocka_unit_test(test_backpressure_request_body_pipelined),
	    cmocka_unit_test(test_clock_step_forward_closes_at_deadline),
	    cmocka_unit_test(test_clock_step_back_then_forward),
	    cmocka_unit_test(test_monitor_tunnel_closed_after_reload),
	    cmocka_unit_test(test_lesson_length_response_closed_at_deadline),
	    cmocka_unit_test(test_lesson_chunked_without_boundary_closed),
	    cmocka_unit_test(test_lesson_chunked_ends_at_boundary),
	    cmocka_unit_test(test_reload_reaches_next_request),
	    cmocka_unit_test(test_reload_reaches_status_stream),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
