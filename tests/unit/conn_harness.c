/* The connection harness (conn_harness.h): a worker, socket pairs, a fake wall clock. */
#include <arpa/inet.h>
#include <errno.h>
#include <setjmp.h>
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

#include "conn_harness.h"

#include "caps.h"
#include "log.h"
#include "upstream.h"

struct h_harness H;

/* The fake wall clock: real time shifted by H.skew. */
static int64_t
fake_clock(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec + H.skew;
}

/* Set the fake wall clock to unix time t (seconds). */
void
h_clock_set(int64_t t)
{
	H.skew = 0;
	H.skew = t * 1000000 - fake_clock();
}

/* Step the fake wall clock by s seconds (forward or back), like an NTP step. */
void
h_clock_step(int64_t s)
{
	H.skew += s * 1000000;
}

/* Unix time of an Asia/Shanghai civil time. */
int64_t
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
const struct h_event *
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
struct lgd_runtime *
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
	        "upstream = { address = \"127.0.0.1:%d\";%s };\n"
	        "identity = { header = { name = \"X-Student-Id\"; trusted_peers = "
	        "[\"127.0.0.1/32\"]; }; };\n"
	        "routes = ( { prefix = \"/live/\"; class = \"subject\"; },"
	        " { path = \"/ws\"; class = \"subject\"; }%s );\n"
	        "calendar = { files = [\"" LG_SOURCE_ROOT "/conf/calendar/cn-2026.conf\"];"
	        " default_region = \"533100\"; };\n%s\n",
	        H.lport, H.port, H.upstream ? H.upstream : "", H.routes ? H.routes : "",
	        extra ? extra : "");
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
int
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
void
h_start(const char *extra)
{
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sin);
	const char *upstream = H.upstream; /* set by the test before h_start */

	memset(&H, 0, sizeof(H));
	H.upstream = upstream;
	lgd_log_init(getenv("LG_TEST_DEBUG") ? LGD_DEBUG : LGD_ERR, 0);
	lgd_clock_us = fake_clock;
	lgd_store = lg_store_memory_new(64, 4);
	lgd_limits_init();
	atomic_store(&lgd_max_conns, 1000); /* main.c sizes it from RLIMIT_NOFILE */
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
void
h_stop(void)
{
	lgd_worker_join(&H.w);
	lgd_runtime_unref(H.rt);
	close(H.lfd);
	lg_store_free(lgd_store);
	lgd_store = NULL;
	lgd_limits_free();
}

/* Hand the worker a new configuration, as SIGHUP does, and let it take it. */
void
h_reload(const char *extra)
{
	struct lgd_runtime *rt = h_runtime(extra);

	lgd_worker_post_reload(&H.w, lgd_runtime_ref(rt), NULL);
	lgd_runtime_unref(H.rt);
	H.rt = rt;
	for (int i = 0; i < 100 && H.w.rt != rt; i++)
		event_base_loop(H.w.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	assert_ptr_equal(H.w.rt, rt);
}

/* Run the worker's loop for ms milliseconds of real time. */
void
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
	int big = H.sndbuf ? H.sndbuf : 4 << 20;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	/* Room for a few hundred KiB in flight, so one writev can drain a full output. */
	for (int i = 0; i < 2; i++) {
		setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
		setsockopt(sv[i], SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	}
}

/* A new client connection from 127.0.0.1; returns the test's end, *cp the proxy's conn. */
int
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
int
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
int
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
void
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
void
h_sends(int fd, const char *str)
{
	h_send(fd, str, strlen(str));
}

/* Read whatever fd has now into b; -1 once the peer closed, else bytes read. */
ssize_t
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
bool
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
bool
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
bool
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
void
h_clear(struct h_buf *b)
{
	free(b->p);
	b->p = NULL;
	b->n = 0;
}

/* The head of the next request at the origin (run until complete); its length. */
size_t
h_origin_head(int fd, struct h_buf *b)
{
	char *end;

	assert_true(h_wait_for(fd, b, "\r\n\r\n", 4, 3000));
	end = memmem(b->p, b->n, "\r\n\r\n", 4);
	return (size_t)(end - b->p) + 4;
}

/* A student's open lesson tunnels (leases held) in the store (0 if unknown). */
unsigned
h_tunnels(const char *student)
{
	struct lg_student_state st;

	if (lg_store_snapshot(lgd_store, student, strlen(student), lgd_now_us() / 1000000, &st) <=
	    0)
		return 0;
	return st.tunnels;
}

/* ---------------------------------------------------------------- a store that answers later */

/* One decide the fake store holds; the query's student is copied (the caller's is gone). */
struct h_call {
	lg_store_done done;
	void *arg;
	uint64_t tag;
	struct lg_store_query q;
	char student[LG_JWT_STUDENT_MAX + 1];
};

/* The fake store: pending calls and the memory store that decides them. */
static struct h_async {
	struct lg_store base;
	struct lg_store *mem;
	struct h_call calls[16];
	unsigned n;
} HA;

/* Keep the call; answer nothing now. */
static void
ha_decide(struct lg_store *s, const struct lg_store_query *q, lg_store_done done, void *arg,
          uint64_t tag)
{
	struct h_call *c;

	(void)s;
	assert_true(HA.n < 16);
	c = &HA.calls[HA.n++];
	c->done = done;
	c->arg = arg;
	c->tag = tag;
	c->q = *q;
	assert_true(q->student_len < sizeof(c->student));
	memcpy(c->student, q->student, q->student_len + 1);
	c->q.student = c->student;
}

/* Leases and snapshots: the inner memory store's. */
static int
ha_lease_open(struct lg_store *s, const char *st, size_t len, int64_t now, struct lg_lease *l)
{
	(void)s;
	return lg_store_lease_open(HA.mem, st, len, now, l);
}

static void
ha_lease_renew(struct lg_store *s, const char *st, size_t len, int64_t now, struct lg_lease *l)
{
	(void)s;
	lg_store_lease_renew(HA.mem, st, len, now, l);
}

static void
ha_lease_close(struct lg_store *s, const struct lg_policy *p, const char *st, size_t len,
               enum lg_class cls, int64_t now, const struct lg_lease *l)
{
	(void)s;
	lg_store_lease_close(HA.mem, p, st, len, cls, now, l);
}

static int
ha_snapshot(struct lg_store *s, const char *st, size_t len, int64_t now,
            struct lg_student_state *out)
{
	(void)s;
	return lg_store_snapshot(HA.mem, st, len, now, out);
}

static size_t
ha_expire(struct lg_store *s, const struct lg_policy *p, int64_t now)
{
	(void)s;
	return lg_store_expire(HA.mem, p, now);
}

static bool
ha_up(struct lg_store *s)
{
	(void)s;
	return true;
}

/* Free the inner store (the fake one is static). */
static void
ha_free(struct lg_store *s)
{
	(void)s;
	lg_store_free(HA.mem);
	HA.mem = NULL;
}

static const struct lg_store_ops ha_ops = {.decide = ha_decide,
                                           .lease_open = ha_lease_open,
                                           .lease_renew = ha_lease_renew,
                                           .lease_close = ha_lease_close,
                                           .snapshot = ha_snapshot,
                                           .expire = ha_expire,
                                           .up = ha_up,
                                           .free = ha_free};

/* Put the fake asynchronous store in place of the memory store. */
void
h_async_store(int timeout_ms)
{
	memset(&HA, 0, sizeof(HA));
	HA.base.ops = &ha_ops;
	HA.base.kind = "test-async";
	HA.base.timeout_ms = timeout_ms;
	HA.base.synchronous = false;
	HA.mem = lgd_store;
	lgd_store = &HA.base;
}

/* Pending decisions. */
unsigned
h_async_pending(void)
{
	return HA.n;
}

/* Answer call i now (on the test's thread, which runs the worker's loop), and forget it. */
void
h_async_answer(unsigned i, bool ok)
{
	struct h_call c;
	struct lg_store_result r = {.status = LG_STORE_UNAVAILABLE};

	assert_true(i < HA.n);
	c = HA.calls[i];
	memmove(&HA.calls[i], &HA.calls[i + 1], (HA.n - i - 1) * sizeof(HA.calls[0]));
	HA.n--;
	c.q.student = c.student;
	if (ok) {
		struct lg_students_ref ref;
		struct lg_student_state *st = lg_students_acquire(lg_store_memory_table(HA.mem),
		                                                  c.student, c.q.student_len, &ref);
		r.status = LG_STORE_OK;
		lg_policy_decide(c.q.policy, st, c.q.cls, c.q.region, c.q.now, &r.d);
		lg_students_release(&ref);
	}
	c.done(c.arg, c.tag, &r);
}

/* ---------------------------------------------------------------- WebSocket helpers */

const char ws_101[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\n"
                      "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";

/* A client's WebSocket upgrade request for student on /ws. */
int
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
size_t
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
unsigned
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
struct lgd_conn *
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
	h_sends(*ofd, ws_101);
	assert_true(h_wait_for(*cfd, cb, "\r\n\r\n", 4, 3000));
	assert_memory_equal(cb->p, "HTTP/1.1 101", 12);
	assert_int_equal(c->state, LGD_CONN_TUNNEL);
	h_clear(cb);
	h_clear(&ob);
	return c;
}
