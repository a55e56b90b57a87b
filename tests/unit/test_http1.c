/* Tests for lib/http/http1.c: every rejection with its status, valid heads, bodies, every split. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http1.h"

#define MAXH 16

/* A parse result with every pointer turned into an offset, so results from different buffers
 * compare. */
struct outcome {
	int rc;
	enum lg_http_err code;
	int status;
	long f[24];
	uint64_t length;
	size_t nh;
	long h[MAXH][4];
};

/* The offset of a string inside buf, -1 for none. */
static long
off(const char *buf, const char *p)
{
	return p ? (long)(p - buf) : -1;
}

/* Headers into offsets. */
static void
norm_headers(struct outcome *o, const char *buf, const struct lg_http_header *hs, size_t n)
{
	o->nh = n;
	for (size_t i = 0; i < n; i++) {
		o->h[i][0] = off(buf, hs[i].name);
		o->h[i][1] = (long)hs[i].name_len;
		o->h[i][2] = off(buf, hs[i].value);
		o->h[i][3] = (long)hs[i].value_len;
	}
}

/* Parse a request in one call from a private copy of in; the outcome and (optionally) the request.
 */
static struct outcome
req_once(const char *in, size_t len, const struct lg_http_limits *lim, size_t maxh,
         struct lg_http_parser *p, char **bufp, struct lg_http_request *out)
{
	struct lg_http_header hs[MAXH];
	struct lg_http_request r;
	struct lg_http_parser local;
	struct outcome o;
	char *buf = malloc(len ? len : 1);

	memcpy(buf, in, len);
	memset(&o, 0, sizeof(o));
	if (p == NULL) {
		p = &local;
		lg_http_parser_init(p, lim, hs, maxh);
	}
	o.rc = lg_http_parse_request(p, buf, len, &r);
	o.code = p->error.code;
	o.status = p->error.status;
	if (o.rc >= 0) {
		long f[] = {r.method,
		            off(buf, r.method_name.p),
		            (long)r.method_name.len,
		            r.form,
		            off(buf, r.target.p),
		            (long)r.target.len,
		            off(buf, r.path.p),
		            (long)r.path.len,
		            off(buf, r.host.p),
		            (long)r.host.len,
		            r.host_from_target,
		            r.minor_version,
		            r.framing,
		            r.connection,
		            r.keep_alive,
		            r.upgrade_websocket,
		            r.websocket,
		            r.expect_continue};
		memcpy(o.f, f, sizeof(f));
		o.length = r.content_length;
		norm_headers(&o, buf, p->headers, r.num_headers);
		if (out)
			*out = r;
	}
	if (bufp)
		*bufp = buf;
	else
		free(buf);
	return o;
}

/* Assert two outcomes are the same, saying which input and split differ. */
static void
same(const struct outcome *a, const struct outcome *b, const char *in, size_t split)
{
	if (memcmp(a, b, sizeof(*a)) != 0) {
		print_error("differs at split %zu (rc %d/%d code %d/%d) for: %s\n", split, a->rc,
		            b->rc, a->code, b->code, in);
		fail();
	}
}

/*
 * Parse in once, then in two parts at every byte, then growing one byte at a
 * time; a fresh buffer each call, so stale pointers would show. All must agree.
 */
static struct outcome
req_all_splits(const char *in, size_t len, const struct lg_http_limits *lim, size_t maxh)
{
	struct outcome ref = req_once(in, len, lim, maxh, NULL, NULL, NULL), o;
	struct lg_http_header hs[MAXH];
	struct lg_http_parser p;

	for (size_t k = 1; k < len; k++) {
		lg_http_parser_init(&p, lim, hs, maxh);
		o = req_once(in, k, lim, maxh, &p, NULL, NULL);
		if (o.rc == LG_HTTP_NEED_MORE)
			o = req_once(in, len, lim, maxh, &p, NULL, NULL);
		same(&ref, &o, in, k);
	}
	lg_http_parser_init(&p, lim, hs, maxh);
	for (size_t k = 0; k <= len; k++) {
		o = req_once(in, k, lim, maxh, &p, NULL, NULL);
		if (o.rc != LG_HTTP_NEED_MORE || k == len) {
			same(&ref, &o, in, k);
			break;
		}
	}
	return ref;
}

/* Buffers that parsed requests still point into, freed after the last test. */
static char *kept[64];
static size_t nkept;

/* Free the buffers kept for parsed requests. */
static int
free_kept(void **state)
{
	(void)state;
	while (nkept > 0)
		free(kept[--nkept]);
	return 0;
}

/* A request head that must parse: returns the head length, fills *r (pointing into a leaked copy).
 */
static int
req_ok(const char *in, struct lg_http_request *r, struct lg_http_header *hs)
{
	struct lg_http_limits lim;
	struct lg_http_parser p;
	struct outcome o;
	char *buf;

	lg_http_limits_default(&lim);
	o = req_all_splits(in, strlen(in), &lim, MAXH);
	if (o.rc < 0)
		print_error("rejected (%d: %s): %s\n", o.status, lg_http_strerror(o.code), in);
	assert_true(o.rc > 0);
	lg_http_parser_init(&p, &lim, hs, MAXH);
	req_once(in, strlen(in), &lim, MAXH, &p, &buf, r);
	if (nkept == sizeof(kept) / sizeof(kept[0]))
		free_kept(NULL);
	kept[nkept++] = buf;
	return o.rc;
}

/* A request head that must fail with status and code, however it is split. */
static void
req_err_lim(const char *in, size_t len, const struct lg_http_limits *lim, size_t maxh, int status,
            enum lg_http_err code)
{
	struct outcome o = req_all_splits(in, len, lim, maxh);

	if (o.rc != LG_HTTP_ERROR || o.status != status || o.code != code) {
		print_error("want %d/%s, got rc %d %d/%s: %s\n", status, lg_http_strerror(code),
		            o.rc, o.status, lg_http_strerror(o.code), in);
		fail();
	}
}

/* req_err_lim with default limits. */
static void
req_err(const char *in, int status, enum lg_http_err code)
{
	struct lg_http_limits lim;

	lg_http_limits_default(&lim);
	req_err_lim(in, strlen(in), &lim, MAXH, status, code);
}

/* Whether s equals the NUL-terminated want. */
static bool
str_eq(struct lg_http_str s, const char *want)
{
	return s.len == strlen(want) && memcmp(s.p, want, s.len) == 0;
}

/* The response twin of req_once. */
static struct outcome
res_once(const char *in, size_t len, enum lg_http_method m, struct lg_http_parser *p,
         struct lg_http_response *out)
{
	struct lg_http_header hs[MAXH];
	struct lg_http_response r;
	struct lg_http_parser local;
	struct outcome o;
	char *buf = malloc(len ? len : 1);

	memcpy(buf, in, len);
	memset(&o, 0, sizeof(o));
	if (p == NULL) {
		p = &local;
		lg_http_parser_init(p, NULL, hs, MAXH);
	}
	o.rc = lg_http_parse_response(p, buf, len, m, &r);
	o.code = p->error.code;
	o.status = p->error.status;
	if (o.rc >= 0) {
		long f[] = {r.minor_version,
		            r.status,
		            off(buf, r.reason.p),
		            (long)r.reason.len,
		            r.framing,
		            r.connection,
		            r.keep_alive,
		            r.upgrade_websocket,
		            r.switching_protocols};
		memcpy(o.f, f, sizeof(f));
		o.length = r.content_length;
		norm_headers(&o, buf, p->headers, r.num_headers);
		if (out)
			*out = r;
	}
	free(buf);
	return o;
}

/* Parse a response head whole, split in two everywhere, and byte by byte: all must agree. */
static struct outcome
res_all_splits(const char *in, enum lg_http_method m, struct lg_http_response *out)
{
	size_t len = strlen(in);
	struct outcome ref = res_once(in, len, m, NULL, out), o;
	struct lg_http_header hs[MAXH];
	struct lg_http_parser p;

	for (size_t k = 1; k < len; k++) {
		lg_http_parser_init(&p, NULL, hs, MAXH);
		o = res_once(in, k, m, &p, NULL);
		if (o.rc == LG_HTTP_NEED_MORE)
			o = res_once(in, len, m, &p, NULL);
		same(&ref, &o, in, k);
	}
	lg_http_parser_init(&p, NULL, hs, MAXH);
	for (size_t k = 0; k <= len; k++) {
		o = res_once(in, k, m, &p, NULL);
		if (o.rc != LG_HTTP_NEED_MORE || k == len) {
			same(&ref, &o, in, k);
			break;
		}
	}
	return ref;
}

/* A response that must be rejected with 502 and code. */
static void
res_err(const char *in, enum lg_http_method m, enum lg_http_err code)
{
	struct outcome o = res_all_splits(in, m, NULL);

	if (o.rc != LG_HTTP_ERROR || o.status != 502 || o.code != code) {
		print_error("want 502/%s, got rc %d %d/%s: %s\n", lg_http_strerror(code), o.rc,
		            o.status, lg_http_strerror(o.code), in);
		fail();
	}
}

/* A response that must parse; its summary in *r (strings not kept). */
static void
res_ok(const char *in, enum lg_http_method m, struct lg_http_response *r)
{
	struct outcome o = res_all_splits(in, m, r);

	if (o.rc < 0)
		print_error("rejected (%s): %s\n", lg_http_strerror(o.code), in);
	assert_int_equal(o.rc, (int)strlen(in));
}

/* A simple GET: every field of the summary. */
static void
test_request_simple(void **state)
{
	struct lg_http_header hs[MAXH];
	struct lg_http_request r;
	const char *in = "GET /live/a?b=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t \r\n\r\n";

	(void)state;
	assert_int_equal(req_ok(in, &r, hs), (int)strlen(in));
	assert_int_equal(r.method, LG_HTTP_GET);
	assert_true(str_eq(r.method_name, "GET"));
	assert_int_equal(r.form, LG_HTTP_ORIGIN_FORM);
	assert_true(str_eq(r.target, "/live/a?b=1"));
	assert_true(str_eq(r.path, "/live/a?b=1"));
	assert_true(str_eq(r.host, "example.com"));
	assert_false(r.host_from_target);
	assert_int_equal(r.minor_version, 1);
	assert_int_equal(r.num_headers, 2);
	assert_int_equal(r.framing, LG_HTTP_BODY_NONE);
	assert_true(r.keep_alive);
	assert_false(r.websocket);
	assert_false(r.expect_continue);
	assert_int_equal(hs[1].name_len, 10);
	assert_int_equal(hs[1].value_len, 1); /* OWS trimmed */
	assert_memory_equal(hs[1].value, "t", 1);
}

/* Bodies, versions, keep-alive, and bytes after the head. */
static void
test_request_framing(void **state)
{
	struct lg_http_header hs[MAXH];
	struct lg_http_request r;

	(void)state;
	assert_int_equal(
	    req_ok("POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 005\r\n\r\nhello", &r, hs), 50);
	assert_int_equal(r.framing, LG_HTTP_BODY_LENGTH);
	assert_int_equal(r.content_length, 5);
	req_ok("POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n", &r, hs);
	assert_int_equal(r.framing, LG_HTTP_BODY_CHUNKED);
	req_ok("POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,chunked,\r\n\r\n", &r, hs);
	assert_int_equal(r.framing, LG_HTTP_BODY_CHUNKED);
	req_ok("GET / HTTP/1.0\r\n\r\n", &r, hs);
	assert_int_equal(r.minor_version, 0);
	assert_false(r.keep_alive);
	assert_int_equal(r.host.len, 0);
	req_ok("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &r, hs);
	assert_true(r.keep_alive);
	req_ok("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", &r, hs);
	assert_false(r.keep_alive);
	req_ok("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", &r, hs);
	assert_false(r.keep_alive);
	assert_int_equal(r.connection, LG_HTTP_CONN_CLOSE);
	/* RFC 9112 §2.2: an empty line before the request line is ignored. */
	assert_int_equal(req_ok("\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", &r, hs), 31);
	assert_true(str_eq(r.method_name, "GET"));
	req_ok("PURGE / HTTP/1.1\r\nHost: a\r\n\r\n", &r, hs);
	assert_int_equal(r.method, LG_HTTP_OTHER);
	assert_true(str_eq(r.method_name, "PURGE"));
	req_ok("GET / HTTP/1.1\r\nHost: a\r\nX-Empty:\r\nX-Obs: caf\xc3\xa9\r\n\r\n", &r, hs);
	assert_int_equal(hs[1].value_len, 0);
	assert_int_equal(hs[2].value_len, 5);
}

/* Absolute, authority and asterisk forms, and hosts. */
static void
test_request_targets(void **state)
{
	struct lg_http_header hs[MAXH];
	struct lg_http_request r;

	(void)state;
	req_ok("GET http://Example.com:8080/a?b HTTP/1.1\r\nHost: other\r\n\r\n", &r, hs);
	assert_int_equal(r.form, LG_HTTP_ABSOLUTE_FORM);
	assert_true(str_eq(r.host, "Example.com:8080"));
	assert_true(str_eq(r.path, "/a?b"));
	assert_true(r.host_from_target);
	req_ok("GET HTTPS://a.b HTTP/1.1\r\nHost: a.b\r\n\r\n", &r, hs);
	assert_true(str_eq(r.host, "a.b"));
	assert_int_equal(r.path.len, 0);
	req_ok("GET http://a.b?q HTTP/1.1\r\nHost: a.b\r\n\r\n", &r, hs);
	assert_true(str_eq(r.path, "?q"));
	req_ok("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", &r, hs);
	assert_int_equal(r.form, LG_HTTP_ASTERISK_FORM);
	req_ok("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", &r, hs);
	assert_int_equal(r.method, LG_HTTP_CONNECT);
	assert_int_equal(r.form, LG_HTTP_AUTHORITY_FORM);
	assert_true(str_eq(r.host, "example.com:443"));
	req_ok("CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\n\r\n", &r, hs);
	assert_true(str_eq(r.host, "[::1]:443"));
	req_ok("GET / HTTP/1.1\r\nHost: [2001:db8::1]:8080\r\n\r\n", &r, hs);
	req_ok("GET / HTTP/1.1\r\nHost: a-b_c~d.e:0\r\n\r\n", &r, hs);
	req_ok("GET /a{|}^\\ HTTP/1.1\r\nHost: a\r\n\r\n", &r, hs);
}

/* WebSocket opening handshake, Expect. */
static void
test_request_upgrade_expect(void **state)
{
	struct lg_http_header hs[MAXH];
	struct lg_http_request r;

	(void)state;
	req_ok("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\nUpgrade: "
	       "WebSocket\r\nSec-WebSocket-Version: 13\r\n\r\n",
	       &r, hs);
	assert_true(r.upgrade_websocket);
	assert_true(r.websocket);
	assert_true(r.keep_alive);
	assert_int_equal(r.connection, LG_HTTP_CONN_KEEP_ALIVE | LG_HTTP_CONN_UPGRADE);
	req_ok("GET /ws HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n", &r, hs);
	assert_false(r.websocket); /* Upgrade without Connection: upgrade is ignored */
	req_ok("POST /ws HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: h2c, "
	       "websocket\r\n\r\n",
	       &r, hs);
	assert_true(r.upgrade_websocket);
	assert_false(r.websocket);
	req_ok("GET /ws HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n", &r, hs);
	assert_false(r.upgrade_websocket); /* ignored on 1.0 */
	req_ok("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: foo/1.0\r\nConnection: upgrade\r\n\r\n", &r,
	       hs);
	assert_false(r.upgrade_websocket);
	req_ok("PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n", &r,
	       hs);
	assert_true(r.expect_continue);
	req_ok("PUT / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n", &r, hs);
	assert_false(r.expect_continue);
}

/* Request lines RFC 9112 §3 says to reject. */
static void
test_reject_request_line(void **state)
{
	(void)state;
	req_err("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400, LG_HTTP_E_REQUEST_LINE);
	req_err("GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 400, LG_HTTP_E_REQUEST_LINE);
	req_err("GET /  HTTP/1.1\r\nHost: a\r\n\r\n", 400, LG_HTTP_E_REQUEST_LINE);
	req_err("GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400, LG_HTTP_E_REQUEST_LINE);
	req_err(" GET / HTTP/1.1\r\nHost: a\r\n\r\n", 400, LG_HTTP_E_REQUEST_LINE);
	req_err("GET\r\nHost: a\r\n\r\n", 400, LG_HTTP_E_REQUEST_LINE);
	req_err("GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", 400, LG_HTTP_E_METHOD);
	req_err("GET /\tHTTP/1.1\r\nHost: a\r\n\r\n", 400, LG_HTTP_E_TARGET);
	req_err("G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400, LG_HTTP_E_METHOD);
	req_err("GET /\r\n\r\n", 400, LG_HTTP_E_HTTP09);
	req_err("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505, LG_HTTP_E_VERSION_UNSUPPORTED);
	req_err("GET / HTTP/1.2\r\nHost: a\r\n\r\n", 505, LG_HTTP_E_VERSION_UNSUPPORTED);
	req_err("GET / HTTP/0.9\r\n\r\n", 505, LG_HTTP_E_VERSION_UNSUPPORTED);
	req_err("GET / HTTP/1.10\r\nHost: a\r\n\r\n", 400, LG_HTTP_E_VERSION);
	req_err("GET / http/1.1\r\nHost: a\r\n\r\n", 400, LG_HTTP_E_VERSION);
	req_err("GET / HTTP/1\r\nHost: a\r\n\r\n", 400, LG_HTTP_E_VERSION);
	req_err("GET / HTTP/11\r\nHost: a\r\n\r\n", 400, LG_HTTP_E_VERSION);
	req_err("GET / HTTP/2\r\nHost: a\r\n\r\n", 400, LG_HTTP_E_VERSION);
	req_err("GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n", 400, LG_HTTP_E_TARGET);
	req_err("GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n", 400, LG_HTTP_E_TARGET);
	req_err("GET /caf\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 400, LG_HTTP_E_TARGET);
	req_err("GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400, LG_HTTP_E_TARGET);
	req_err("GET http://user@a/ HTTP/1.1\r\nHost: a\r\n\r\n", 400, LG_HTTP_E_TARGET);
	req_err("GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n", 400, LG_HTTP_E_TARGET);
	req_err("GET http://a:99999/ HTTP/1.1\r\nHost: a\r\n\r\n", 400, LG_HTTP_E_TARGET);
	req_err("GET x HTTP/1.1\r\nHost: a\r\n\r\n", 400, LG_HTTP_E_TARGET_FORM);
	req_err("GET * HTTP/1.1\r\nHost: a\r\n\r\n", 400, LG_HTTP_E_TARGET_FORM);
	req_err("GET a.b:80 HTTP/1.1\r\nHost: a\r\n\r\n", 400, LG_HTTP_E_TARGET_FORM);
	req_err("CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n", 400, LG_HTTP_E_TARGET_FORM);
	req_err("CONNECT http://a:1/ HTTP/1.1\r\nHost: a\r\n\r\n", 400, LG_HTTP_E_TARGET);
	req_err("CONNECT a.b HTTP/1.1\r\nHost: a\r\n\r\n", 400, LG_HTTP_E_TARGET);
}

/* Bare CR and bare LF anywhere in the head. */
static void
test_reject_line_endings(void **state)
{
	(void)state;
	req_err("GET / HTTP/1.1\nHost: a\r\n\r\n", 400, LG_HTTP_E_BARE_LF);
	req_err("GET / HTTP/1.1\r\nHost: a\n\r\n", 400, LG_HTTP_E_BARE_LF);
	req_err("GET / HTTP/1.1\r\nHost: a\r\n\n", 400, LG_HTTP_E_BARE_LF);
	req_err("\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 400, LG_HTTP_E_BARE_LF);
	req_err("GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400, LG_HTTP_E_BARE_CR);
	req_err("GET / HTTP/1.1\r\nHost: a\r\nX\r: b\r\n\r\n", 400, LG_HTTP_E_BARE_CR);
	req_err("GET /\r HTTP/1.1\r\nHost: a\r\n\r\n", 400, LG_HTTP_E_BARE_CR);
	req_err("GET / HTTP/1.1\r\r\nHost: a\r\n\r\n", 400, LG_HTTP_E_BARE_CR);
	req_err("GET / HTTP/1.1\r\nHost: a\r\n\r\r\n", 400, LG_HTTP_E_BARE_CR);
	/* A bare CR wins over whatever else is wrong with its line. */
	req_err("GET / HTTP/1.1\r\nHost: a\r\n X\r: b\r\n\r\n", 400, LG_HTTP_E_BARE_CR);
	req_err("GET / HTTP/1.1\r\nHost: a\r\nX :\r b\r\n\r\n", 400, LG_HTTP_E_BARE_CR);
	req_err("G\rET / HTTP/1.1\r\nHost: a\r\n\r\n", 400, LG_HTTP_E_BARE_CR);
	req_err("GET / HTTP/1.1\r\n\rHost: a\r\n\r\n", 400, LG_HTTP_E_BARE_CR);
}

/* Field lines RFC 9112 §5 says to reject. */
static void
test_reject_fields(void **state)
{
	(void)state;
	req_err("GET / HTTP/1.1\r\n Host: a\r\n\r\n", 400, LG_HTTP_E_LEADING_WS);
	req_err("GET / HTTP/1.1\r\n\tHost: a\r\n\r\n", 400, LG_HTTP_E_LEADING_WS);
	req_err("GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n c\r\n\r\n", 400, LG_HTTP_E_OBS_FOLD);
	req_err("GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n\tc\r\n\r\n", 400, LG_HTTP_E_OBS_FOLD);
	req_err("GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400, LG_HTTP_E_WS_BEFORE_COLON);
	req_err("POST / HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\n", 400,
	        LG_HTTP_E_WS_BEFORE_COLON);
	req_err("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding\t: chunked\r\n\r\n", 400,
	        LG_HTTP_E_WS_BEFORE_COLON);
	req_err("GET / HTTP/1.1\r\nHost: a\r\nX Y: b\r\n\r\n", 400, LG_HTTP_E_FIELD_NAME);
	req_err("GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n", 400, LG_HTTP_E_FIELD_NAME);
	req_err("GET / HTTP/1.1\r\nHost: a\r\nX(Y): b\r\n\r\n", 400, LG_HTTP_E_FIELD_NAME);
	req_err("GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", 400, LG_HTTP_E_FIELD_NAME);
	req_err("GET / HTTP/1.1\r\nHost: a\r\nX\x80Y: b\r\n\r\n", 400, LG_HTTP_E_FIELD_NAME);
	req_err("GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n", 400, LG_HTTP_E_FIELD_VALUE);
	req_err("GET / HTTP/1.1\r\nHost: a\r\nX: a\x01\r\n\r\n", 400, LG_HTTP_E_FIELD_VALUE);
	req_err_lim("GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", 35, NULL, MAXH, 400,
	            LG_HTTP_E_FIELD_VALUE);
	req_err_lim("GET / HTTP/1.1\r\nHost: a\r\nX\0: b\r\n\r\n", 33, NULL, MAXH, 400,
	            LG_HTTP_E_FIELD_NAME);
}

/* Host: missing, duplicate, malformed. */
static void
test_reject_host(void **state)
{
	(void)state;
	req_err("GET / HTTP/1.1\r\n\r\n", 400, LG_HTTP_E_HOST_MISSING);
	req_err("GET http://a/ HTTP/1.1\r\n\r\n", 400, LG_HTTP_E_HOST_MISSING);
	req_err("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400, LG_HTTP_E_HOST_DUPLICATE);
	req_err("GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n", 400, LG_HTTP_E_HOST_DUPLICATE);
	req_err("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, LG_HTTP_E_HOST_INVALID);
	req_err("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 400, LG_HTTP_E_HOST_INVALID);
	req_err("GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 400, LG_HTTP_E_HOST_INVALID);
	req_err("GET / HTTP/1.1\r\nHost: a:\r\n\r\n", 400, LG_HTTP_E_HOST_INVALID);
	req_err("GET / HTTP/1.1\r\nHost: a:65536\r\n\r\n", 400, LG_HTTP_E_HOST_INVALID);
	req_err("GET / HTTP/1.1\r\nHost: a:1x\r\n\r\n", 400, LG_HTTP_E_HOST_INVALID);
	req_err("GET / HTTP/1.1\r\nHost:\r\n\r\n", 400, LG_HTTP_E_HOST_INVALID);
	req_err("GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", 400, LG_HTTP_E_HOST_INVALID);
	req_err("GET / HTTP/1.1\r\nHost: [1.2.3.4]\r\n\r\n", 400, LG_HTTP_E_HOST_INVALID);
	req_err("GET / HTTP/1.1\r\nHost: a%41\r\n\r\n", 400, LG_HTTP_E_HOST_INVALID);
	req_err("GET http://a/ HTTP/1.1\r\nHost: a b\r\n\r\n", 400, LG_HTTP_E_HOST_INVALID);
}

/* Content-Length and Transfer-Encoding: every ambiguity a smuggler would use. */
static void
test_reject_framing(void **state)
{
	(void)state;
	static const char *bad_cl[] = {"abc",
	                               "+5",
	                               "-5",
	                               "5, 5",
	                               "5,5",
	                               "5 5",
	                               "0x5",
	                               "5.0",
	                               "99999999999999999999",
	                               "9223372036854775808",
	                               ""};
	char in[256];

	for (size_t i = 0; i < sizeof(bad_cl) / sizeof(bad_cl[0]); i++) {
		snprintf(in, sizeof(in), "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %s\r\n\r\n",
		         bad_cl[i]);
		req_err(in, 400, LG_HTTP_E_CL_INVALID);
	}
	req_ok("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775807\r\n\r\n",
	       &(struct lg_http_request){0}, (struct lg_http_header[MAXH]){0});
	req_err("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", 400,
	        LG_HTTP_E_CL_DUPLICATE);
	req_err("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400,
	        LG_HTTP_E_CL_DUPLICATE);
	req_err("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 501,
	        LG_HTTP_E_TE_UNKNOWN);
	req_err("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501,
	        LG_HTTP_E_TE_UNKNOWN);
	req_err("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", 501,
	        LG_HTTP_E_TE_UNKNOWN);
	req_err("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: x;q=1, chunked\r\n\r\n", 501,
	        LG_HTTP_E_TE_UNKNOWN);
	req_err("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400,
	        LG_HTTP_E_TE_CHUNKED);
	req_err("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: "
	        "chunked\r\n\r\n",
	        400, LG_HTTP_E_TE_CHUNKED);
	req_err("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400,
	        LG_HTTP_E_TE_CHUNKED);
	req_err("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;x=1\r\n\r\n", 400,
	        LG_HTTP_E_TE_INVALID);
	req_err("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked x\r\n\r\n", 400,
	        LG_HTTP_E_TE_INVALID);
	req_err("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:\r\n\r\n", 400,
	        LG_HTTP_E_TE_INVALID);
	req_err("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \"chunked\"\r\n\r\n", 400,
	        LG_HTTP_E_TE_INVALID);
	req_err("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400, LG_HTTP_E_TE_HTTP10);
	req_err("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: "
	        "5\r\n\r\n",
	        400, LG_HTTP_E_TE_AND_CL);
	req_err("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: "
	        "chunked\r\n\r\n",
	        400, LG_HTTP_E_TE_AND_CL);
	req_err("CONNECT a:1 HTTP/1.1\r\nHost: a:1\r\nContent-Length: 0\r\n\r\n", 400,
	        LG_HTTP_E_CONNECT_BODY);
	req_err("CONNECT a:1 HTTP/1.1\r\nHost: a:1\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
	        LG_HTTP_E_CONNECT_BODY);
}

/* Connection, Upgrade, Expect. */
static void
test_reject_options(void **state)
{
	(void)state;
	req_err("GET / HTTP/1.1\r\nHost: a\r\nConnection: close, b@d\r\n\r\n", 400,
	        LG_HTTP_E_CONNECTION);
	req_err("GET / HTTP/1.1\r\nHost: a\r\nConnection: Content-Length\r\n\r\n", 400,
	        LG_HTTP_E_CONNECTION_FRAMING);
	req_err("GET / HTTP/1.1\r\nHost: a\r\nConnection: transfer-encoding\r\n\r\n", 400,
	        LG_HTTP_E_CONNECTION_FRAMING);
	req_err("GET / HTTP/1.1\r\nHost: a\r\nConnection: host\r\n\r\n", 400,
	        LG_HTTP_E_CONNECTION_FRAMING);
	req_err("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket/13/x\r\n\r\n", 400,
	        LG_HTTP_E_UPGRADE);
	req_err("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: /1\r\n\r\n", 400, LG_HTTP_E_UPGRADE);
	req_err("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: web socket\r\n\r\n", 400, LG_HTTP_E_UPGRADE);
	req_err("PUT / HTTP/1.1\r\nHost: a\r\nExpect: 200-ok\r\n\r\n", 417, LG_HTTP_E_EXPECT);
	req_err("PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue, x\r\n\r\n", 417,
	        LG_HTTP_E_EXPECT);
	req_err("PUT / HTTP/1.1\r\nHost: a\r\nExpect:\r\n\r\n", 417, LG_HTTP_E_EXPECT);
}

/* Limits: 414 for the request line and target, 431 for fields, 413 for Content-Length. */
static void
test_reject_limits(void **state)
{
	struct lg_http_limits lim;
	char in[256];
	const char *many = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";

	(void)state;
	lg_http_limits_default(&lim);
	lim.max_target = 10;
	lim.max_start_line = 40;
	lim.max_fields = 30;
	lim.max_body = 100;
	snprintf(in, sizeof(in), "GET /0123456789 HTTP/1.1\r\nHost: a\r\n\r\n");
	req_err_lim(in, strlen(in), &lim, MAXH, 414, LG_HTTP_E_TARGET_TOO_LONG);
	snprintf(in, sizeof(in),
	         "GET /012345678 HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n");
	assert_int_equal(req_all_splits(in, strlen(in), &lim, MAXH).rc, (int)strlen(in));
	snprintf(in, sizeof(in),
	         "GET /012345678 HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: "
	         "4\r\n\r\n");
	req_err_lim(in, strlen(in), &lim, MAXH, 431, LG_HTTP_E_HEAD_TOO_LARGE);
	/* No LF yet, already too long: refused without waiting for the end. */
	snprintf(in, sizeof(in), "GET / HTTP/1.1\r\nHost: a\r\nX: 0123456789012345678901234");
	req_err_lim(in, strlen(in), &lim, MAXH, 431, LG_HTTP_E_HEAD_TOO_LARGE);
	snprintf(in, sizeof(in), "GET /%s HTTP/1.1\r\nHost: a\r\n\r\n",
	         "0123456789012345678901234567890123456789");
	req_err_lim(in, strlen(in), &lim, MAXH, 414, LG_HTTP_E_START_LINE_TOO_LONG);
	snprintf(in, sizeof(in), "GET /%s", "01234567890123456789012345678901234567890123456789");
	req_err_lim(in, strlen(in), &lim, MAXH, 414, LG_HTTP_E_START_LINE_TOO_LONG);
	snprintf(in, sizeof(in), "GET /01 HTTP/1.1 %s\r\n",
	         "01234567890123456789012345678901234567890123456789");
	req_err_lim(in, strlen(in), &lim, MAXH, 414, LG_HTTP_E_START_LINE_TOO_LONG);
	/* Exactly at the limit passes; the CR of the CRLF does not count. */
	snprintf(in, sizeof(in), "GET /0123456 HTTP/1.1%s\r\nHost: a\r\n\r\n", "");
	lim.max_start_line = 21;
	assert_true(req_all_splits(in, strlen(in), &lim, MAXH).rc > 0);
	lim.max_start_line = 20;
	req_err_lim(in, strlen(in), &lim, MAXH, 414, LG_HTTP_E_START_LINE_TOO_LONG);
	lim.max_start_line = 40;
	/* Empty lines before the request line count against it. */
	snprintf(
	    in, sizeof(in), "%s",
	    "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n");
	req_err_lim(in, strlen(in), &lim, MAXH, 414, LG_HTTP_E_START_LINE_TOO_LONG);
	req_err_lim(many, strlen(many), NULL, 3, 431, LG_HTTP_E_TOO_MANY_FIELDS);
	assert_int_equal(req_all_splits(many, strlen(many), NULL, 4).rc, (int)strlen(many));
	req_err_lim("GET / HTTP/1.0\r\nA: 1\r\n\r\n", 24, NULL, 0, 431, LG_HTTP_E_TOO_MANY_FIELDS);
	assert_int_equal(req_all_splits("GET / HTTP/1.0\r\n\r\n", 18, NULL, 0).rc, 18);
	lim.max_fields = 100;
	snprintf(in, sizeof(in), "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 101\r\n\r\n");
	req_err_lim(in, strlen(in), &lim, MAXH, 413, LG_HTTP_E_BODY_TOO_LARGE);
	snprintf(in, sizeof(in), "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n");
	assert_true(req_all_splits(in, strlen(in), &lim, MAXH).rc > 0);
}

/* A big head arriving one byte at a time in one growing buffer, as a slow client sends it. */
static void
test_slow_client(void **state)
{
	struct lg_http_header hs[MAXH];
	struct lg_http_request r;
	struct lg_http_parser p;
	static char buf[40000];
	size_t len = 0;
	int rc = LG_HTTP_NEED_MORE;

	(void)state;
	len += (size_t)sprintf(buf, "GET / HTTP/1.1\r\nHost: a\r\nX-Long: ");
	memset(buf + len, 'x', 30000);
	len += 30000;
	len += (size_t)sprintf(buf + len, "\r\n\r\n");
	lg_http_parser_init(&p, NULL, hs, MAXH);
	for (size_t k = 1; k <= len && rc == LG_HTTP_NEED_MORE; k++)
		rc = lg_http_parse_request(&p, buf, k, &r);
	assert_int_equal(rc, (int)len);
	assert_int_equal(hs[1].value_len, 30000);
	/* Called again with the same bytes, the answer does not change. */
	assert_int_equal(lg_http_parse_request(&p, buf, len, &r), (int)len);
}

/* Responses: status line, framing by method and status, keep-alive, 101. */
static void
test_response_valid(void **state)
{
	struct lg_http_response r;

	(void)state;
	res_ok("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", LG_HTTP_GET, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.minor_version, 1);
	assert_int_equal(r.framing, LG_HTTP_BODY_LENGTH);
	assert_int_equal(r.content_length, 5);
	assert_int_equal(r.reason.len, 2);
	assert_true(r.keep_alive);
	res_ok("HTTP/1.1 200 \r\n\r\n", LG_HTTP_GET, &r);
	assert_int_equal(r.reason.len, 0);
	assert_int_equal(r.framing, LG_HTTP_BODY_CLOSE);
	assert_false(r.keep_alive);
	res_ok("HTTP/1.1 404 Not \xe6\x89\xbe\xe5\x88\xb0\tx\r\nContent-Length: 0\r\n\r\n",
	       LG_HTTP_GET, &r);
	assert_int_equal(r.framing, LG_HTTP_BODY_LENGTH);
	res_ok("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", LG_HTTP_GET, &r);
	assert_int_equal(r.framing, LG_HTTP_BODY_NONE);
	assert_true(r.keep_alive);
	res_ok("HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\n\r\n", LG_HTTP_GET, &r);
	assert_int_equal(r.framing, LG_HTTP_BODY_NONE);
	assert_int_equal(r.content_length, 0);
	res_ok("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", LG_HTTP_HEAD, &r);
	assert_int_equal(r.framing, LG_HTTP_BODY_NONE);
	res_ok("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", LG_HTTP_HEAD, &r);
	assert_int_equal(r.framing, LG_HTTP_BODY_NONE);
	res_ok("HTTP/1.1 100 Continue\r\n\r\n", LG_HTTP_PUT, &r);
	assert_int_equal(r.framing, LG_HTTP_BODY_NONE);
	assert_false(r.switching_protocols);
	res_ok("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: "
	       "Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
	       LG_HTTP_GET, &r);
	assert_true(r.switching_protocols);
	assert_true(r.upgrade_websocket);
	assert_int_equal(r.framing, LG_HTTP_BODY_NONE);
	assert_false(r.keep_alive);
	res_ok("HTTP/1.1 200 Connection established\r\n\r\n", LG_HTTP_CONNECT, &r);
	assert_int_equal(r.framing, LG_HTTP_BODY_TUNNEL);
	res_ok("HTTP/1.1 407 Auth\r\nContent-Length: 0\r\n\r\n", LG_HTTP_CONNECT, &r);
	assert_int_equal(r.framing, LG_HTTP_BODY_LENGTH);
	res_ok("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", LG_HTTP_GET, &r);
	assert_int_equal(r.framing, LG_HTTP_BODY_CHUNKED);
	res_ok("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", LG_HTTP_GET, &r);
	assert_int_equal(r.framing, LG_HTTP_BODY_CHUNKED);
	res_ok("HTTP/1.0 200 OK\r\n\r\n", LG_HTTP_GET, &r);
	assert_int_equal(r.framing, LG_HTTP_BODY_CLOSE);
	res_ok("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n",
	       LG_HTTP_GET, &r);
	assert_true(r.keep_alive);
	res_ok("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n", LG_HTTP_GET,
	       &r);
	assert_false(r.keep_alive);
}

/* Responses a strict gate refuses to relay (502). */
static void
test_response_reject(void **state)
{
	(void)state;
	res_err("HTTP/1.1 200\r\n\r\n", LG_HTTP_GET, LG_HTTP_E_STATUS_LINE);
	res_err("HTTP/1.1 20 OK\r\n\r\n", LG_HTTP_GET, LG_HTTP_E_STATUS_LINE);
	res_err("HTTP/1.1 2000 OK\r\n\r\n", LG_HTTP_GET, LG_HTTP_E_STATUS_LINE);
	res_err("HTTP/1.1 099 OK\r\n\r\n", LG_HTTP_GET, LG_HTTP_E_STATUS_LINE);
	res_err("HTTP/1.1 600 OK\r\n\r\n", LG_HTTP_GET, LG_HTTP_E_STATUS_LINE);
	res_err("HTTP/1.1  200 OK\r\n\r\n", LG_HTTP_GET, LG_HTTP_E_STATUS_LINE);
	res_err("HTTP/2.0 200 OK\r\n\r\n", LG_HTTP_GET, LG_HTTP_E_STATUS_LINE);
	res_err("HTTP/2 200 OK\r\n\r\n", LG_HTTP_GET, LG_HTTP_E_STATUS_LINE);
	res_err("http/1.1 200 OK\r\n\r\n", LG_HTTP_GET, LG_HTTP_E_STATUS_LINE);
	res_err("HTTP/1.1 200 O\x01K\r\n\r\n", LG_HTTP_GET, LG_HTTP_E_STATUS_LINE);
	res_err("\r\nHTTP/1.1 200 OK\r\n\r\n", LG_HTTP_GET, LG_HTTP_E_STATUS_LINE);
	res_err("HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n", LG_HTTP_GET, LG_HTTP_E_BARE_LF);
	res_err("HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n", LG_HTTP_GET, LG_HTTP_E_BARE_CR);
	res_err("HTTP/1.1 200 O\rK\r\n\r\n", LG_HTTP_GET, LG_HTTP_E_BARE_CR);
	res_err("HTTP/1.1 2\r0 OK\r\n\r\n", LG_HTTP_GET, LG_HTTP_E_BARE_CR);
	res_err("HTTP/1.1 200 OK\r\nX\r: a\r\n\r\n", LG_HTTP_GET, LG_HTTP_E_BARE_CR);
	res_err("HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n", LG_HTTP_GET,
	        LG_HTTP_E_WS_BEFORE_COLON);
	res_err("HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", LG_HTTP_GET, LG_HTTP_E_OBS_FOLD);
	res_err("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n", LG_HTTP_GET,
	        LG_HTTP_E_CL_DUPLICATE);
	res_err("HTTP/1.1 200 OK\r\nContent-Length: 1,1\r\n\r\n", LG_HTTP_GET,
	        LG_HTTP_E_CL_INVALID);
	res_err("HTTP/1.1 204 OK\r\nContent-Length: x\r\n\r\n", LG_HTTP_GET, LG_HTTP_E_CL_INVALID);
	res_err("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", LG_HTTP_GET,
	        LG_HTTP_E_TE_CHUNKED);
	res_err("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", LG_HTTP_GET,
	        LG_HTTP_E_TE_CHUNKED);
	res_err("HTTP/1.1 200 OK\r\nTransfer-Encoding: foo, chunked\r\n\r\n", LG_HTTP_GET,
	        LG_HTTP_E_TE_UNKNOWN);
	res_err("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n",
	        LG_HTTP_GET, LG_HTTP_E_TE_AND_CL);
	res_err("HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", LG_HTTP_GET,
	        LG_HTTP_E_TE_HTTP10);
	res_err("HTTP/1.1 200 OK\r\nConnection: content-length\r\n\r\n", LG_HTTP_GET,
	        LG_HTTP_E_CONNECTION_FRAMING);
}

/* The outcome of decoding a body: payload, bytes consumed, how it ended. */
struct body_outcome {
	char data[512];
	size_t data_len;
	size_t consumed;
	int rc; /* 1 done, 0 wants more, -1 error */
	enum lg_http_err code;
	int status;
	uint64_t received;
};

/* Feed buf[0..len) to b until it stops consuming; accumulate into o. */
static void
body_feed_all(struct lg_http_body *b, const char *buf, size_t len, struct body_outcome *o)
{
	struct lg_http_str d;
	ssize_t n;
	size_t i = 0;

	while (o->rc == 0) {
		n = lg_http_body_feed(b, buf + i, len - i, &d);
		if (n < 0) {
			o->rc = -1;
			o->code = b->error.code;
			o->status = b->error.status;
			o->consumed = 0; /* how much went before depends on the split */
			break;
		}
		assert_true(d.len <= (size_t)n);
		assert_true(d.len == 0 || (d.p >= buf + i && d.p + d.len == buf + i + n));
		assert_true(o->data_len + d.len <= sizeof(o->data));
		memcpy(o->data + o->data_len, d.p, d.len);
		o->data_len += d.len;
		i += (size_t)n;
		o->consumed += (size_t)n;
		if (lg_http_body_done(b))
			o->rc = 1;
		else if (n == 0 || i == len)
			break;
	}
	o->received = b->received;
}

/* Decode in whole, split in two everywhere, and byte by byte (each piece in its own buffer). */
static struct body_outcome
body_all_splits(const char *in, enum lg_http_framing f, uint64_t cl,
                const struct lg_http_limits *lim)
{
	size_t len = strlen(in);
	struct body_outcome ref, o;
	struct lg_http_body b;
	char *piece;

	memset(&ref, 0, sizeof(ref));
	lg_http_body_init(&b, f, cl, lim, false);
	body_feed_all(&b, in, len, &ref);
	for (size_t k = 0; k <= len; k++) {
		memset(&o, 0, sizeof(o));
		lg_http_body_init(&b, f, cl, lim, false);
		piece = malloc(k ? k : 1);
		memcpy(piece, in, k);
		body_feed_all(&b, piece, k, &o);
		free(piece);
		if (o.rc == 0 && o.consumed == k) {
			piece = malloc(len - k + 1);
			memcpy(piece, in + k, len - k);
			body_feed_all(&b, piece, len - k, &o);
			free(piece);
		}
		if (memcmp(&o, &ref, sizeof(o)) != 0) {
			print_error("body differs at split %zu: %s\n", k, in);
			fail();
		}
	}
	memset(&o, 0, sizeof(o));
	lg_http_body_init(&b, f, cl, lim, false);
	for (size_t k = 0; k < len && o.rc == 0; k++) {
		piece = malloc(1);
		*piece = in[k];
		body_feed_all(&b, piece, 1, &o);
		free(piece);
	}
	if (memcmp(&o, &ref, sizeof(o)) != 0) {
		print_error("body differs byte by byte: %s\n", in);
		fail();
	}
	return ref;
}

/* A chunked body that must decode to data, consuming all but the tail after it. */
static void
chunked_ok(const char *in, const char *data, size_t tail)
{
	struct body_outcome o = body_all_splits(in, LG_HTTP_BODY_CHUNKED, 0, NULL);

	if (o.rc != 1)
		print_error("not done (%s): %s\n", lg_http_strerror(o.code), in);
	assert_int_equal(o.rc, 1);
	assert_int_equal(o.data_len, strlen(data));
	assert_memory_equal(o.data, data, o.data_len);
	assert_int_equal(o.consumed, strlen(in) - tail);
}

/* How a chunked body ends under lim: 1 done, 0 wants more, -1 error. */
static int
chunked_rc(const char *in, const struct lg_http_limits *lim)
{
	return body_all_splits(in, LG_HTTP_BODY_CHUNKED, 0, lim).rc;
}

/* A chunked body that must fail with code and status. */
static void
chunked_err_lim(const char *in, const struct lg_http_limits *lim, int status, enum lg_http_err code)
{
	struct body_outcome o = body_all_splits(in, LG_HTTP_BODY_CHUNKED, 0, lim);

	if (o.rc != -1 || o.code != code || o.status != status) {
		print_error("want %d/%s, got rc %d %s: %s\n", status, lg_http_strerror(code), o.rc,
		            lg_http_strerror(o.code), in);
		fail();
	}
}

/* chunked_err_lim with default limits and 400. */
static void
chunked_err(const char *in, enum lg_http_err code)
{
	chunked_err_lim(in, NULL, 400, code);
}

/* Valid chunked bodies: extensions, trailers, what follows. */
static void
test_chunked_valid(void **state)
{
	(void)state;
	chunked_ok("0\r\n\r\n", "", 0);
	chunked_ok("5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\n", "hello", 16);
	chunked_ok("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world", 0);
	chunked_ok("A\r\n0123456789\r\na\r\n0123456789\r\n000\r\n\r\n", "01234567890123456789", 0);
	chunked_ok("5;a\r\nhello\r\n0;b=c\r\n\r\n", "hello", 0);
	chunked_ok("5 ; a = b ;c=\"q\\\"\\\\ ;x\"\t;d\r\nhello\r\n0\r\n\r\n", "hello", 0);
	chunked_ok("5;a=\"\"\r\nhello\r\n0\r\n\r\n", "hello", 0);
	chunked_ok("5\r\nhello\r\n0\r\nExpires: never\r\nX-Sum:  \xff\r\n\r\nX", "hello", 1);
	chunked_ok("0000000000000000000001\r\nx\r\n0\r\n\r\n", "x", 0);
}

/* Chunked bodies a strict gate refuses. */
static void
test_chunked_reject(void **state)
{
	struct lg_http_limits lim;

	(void)state;
	chunked_err("\r\n", LG_HTTP_E_CHUNK_SIZE);
	chunked_err("x\r\n", LG_HTTP_E_CHUNK_SIZE);
	chunked_err(" 5\r\nhello\r\n0\r\n\r\n", LG_HTTP_E_CHUNK_SIZE);
	chunked_err("+5\r\nhello\r\n0\r\n\r\n", LG_HTTP_E_CHUNK_SIZE);
	chunked_err("-1\r\n", LG_HTTP_E_CHUNK_SIZE);
	chunked_err("0x5\r\nhello\r\n0\r\n\r\n", LG_HTTP_E_CHUNK_SIZE);
	chunked_err("5x\r\nhello\r\n0\r\n\r\n", LG_HTTP_E_CHUNK_SIZE);
	chunked_err("10000000000000000\r\n", LG_HTTP_E_CHUNK_SIZE);
	chunked_err("8000000000000000\r\n", LG_HTTP_E_CHUNK_SIZE);
	chunked_err("5\nhello\r\n0\r\n\r\n", LG_HTTP_E_BARE_LF);
	chunked_err("5\rhello\r\n0\r\n\r\n", LG_HTTP_E_BARE_CR);
	chunked_err("5;a\nhello\r\n0\r\n\r\n", LG_HTTP_E_BARE_LF);
	chunked_err("5 \r\nhello\r\n0\r\n\r\n", LG_HTTP_E_CHUNK_EXT);
	chunked_err("5;\r\nhello\r\n0\r\n\r\n", LG_HTTP_E_CHUNK_EXT);
	chunked_err("5;=b\r\nhello\r\n0\r\n\r\n", LG_HTTP_E_CHUNK_EXT);
	chunked_err("5;a=\r\nhello\r\n0\r\n\r\n", LG_HTTP_E_CHUNK_EXT);
	chunked_err("5;a \r\nhello\r\n0\r\n\r\n", LG_HTTP_E_CHUNK_EXT);
	chunked_err("5;a=b c\r\nhello\r\n0\r\n\r\n", LG_HTTP_E_CHUNK_EXT);
	chunked_err("5;a=\"x\r\nhello\r\n0\r\n\r\n", LG_HTTP_E_CHUNK_EXT);
	chunked_err("5;a=\"x\"y\r\nhello\r\n0\r\n\r\n", LG_HTTP_E_CHUNK_EXT);
	chunked_err("5;a=\"\x01\"\r\nhello\r\n0\r\n\r\n", LG_HTTP_E_CHUNK_EXT);
	chunked_err("5;a@\r\nhello\r\n0\r\n\r\n", LG_HTTP_E_CHUNK_EXT);
	chunked_err("5\r\nhelloXX0\r\n\r\n", LG_HTTP_E_CHUNK_CRLF);
	chunked_err("5\r\nhello\n0\r\n\r\n", LG_HTTP_E_CHUNK_CRLF);
	chunked_err("5\r\nhelloX\n0\r\n\r\n", LG_HTTP_E_CHUNK_CRLF);
	chunked_err("5\r\nhello\rX0\r\n\r\n", LG_HTTP_E_CHUNK_CRLF);
	chunked_err("3\r\nhello\r\n0\r\n\r\n", LG_HTTP_E_CHUNK_CRLF);
	chunked_err("0\r\n bad: x\r\n\r\n", LG_HTTP_E_TRAILER);
	chunked_err("0\r\nX : y\r\n\r\n", LG_HTTP_E_TRAILER);
	chunked_err("0\r\n: y\r\n\r\n", LG_HTTP_E_TRAILER);
	chunked_err("0\r\nX: a\x01\r\n\r\n", LG_HTTP_E_TRAILER);
	chunked_err("0\r\nX: a\nY: b\r\n\r\n", LG_HTTP_E_TRAILER);
	chunked_err("0\r\nX: a\r\n\r\r", LG_HTTP_E_TRAILER);
	chunked_err("0\r\n\n", LG_HTTP_E_TRAILER);
	chunked_err("0\r\nX: a\rb\r\n\r\n", LG_HTTP_E_TRAILER);
	lg_http_limits_default(&lim);
	lim.max_chunk_line = 8;
	chunked_err_lim("00000005\r\nhello\r\n0\r\n\r\n", &lim, 400, LG_HTTP_E_CHUNK_LINE_TOO_LONG);
	chunked_err_lim("5;abcdef\r\nhello\r\n0\r\n\r\n", &lim, 400, LG_HTTP_E_CHUNK_LINE_TOO_LONG);
	assert_int_equal(chunked_rc("000005\r\nhello\r\n0\r\n\r\n", &lim), 1);
	assert_int_equal(
	    chunked_rc("5\r\nhello\r\n5\r\nworld\r\n5;a=b\r\nagain\r\n0\r\n\r\n", &lim), 1);
	lg_http_limits_default(&lim);
	lim.max_trailer = 10;
	chunked_err_lim("0\r\nX: 12345\r\n\r\n", &lim, 431, LG_HTTP_E_TRAILER_TOO_LARGE);
	assert_int_equal(chunked_rc("0\r\nX: 123\r\n\r\n", &lim), 1);
	lg_http_limits_default(&lim);
	lim.max_body = 10;
	chunked_err_lim("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", &lim, 413,
	                LG_HTTP_E_BODY_TOO_LARGE);
	chunked_err_lim("b\r\n", &lim, 413, LG_HTTP_E_BODY_TOO_LARGE);
	assert_int_equal(chunked_rc("5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n", &lim), 1);
}

/* Content-Length and read-until-close bodies, EOF handling, response status. */
static void
test_body_length_close(void **state)
{
	struct lg_http_limits lim;
	struct lg_http_body b;
	struct lg_http_str d;
	struct body_outcome o;

	(void)state;
	o = body_all_splits("helloGET", LG_HTTP_BODY_LENGTH, 5, NULL);
	assert_int_equal(o.rc, 1);
	assert_int_equal(o.consumed, 5);
	assert_memory_equal(o.data, "hello", 5);
	lg_http_body_init(&b, LG_HTTP_BODY_LENGTH, 0, NULL, false);
	assert_true(lg_http_body_done(&b));
	assert_int_equal(lg_http_body_feed(&b, "x", 1, &d), 0);
	lg_http_body_init(&b, LG_HTTP_BODY_NONE, 0, NULL, false);
	assert_true(lg_http_body_done(&b));
	assert_int_equal(lg_http_body_eof(&b), 0);
	/* Read until close: everything is payload, EOF ends it. */
	o = body_all_splits("anything\r\n0\r\n", LG_HTTP_BODY_CLOSE, 0, NULL);
	assert_int_equal(o.rc, 0);
	assert_int_equal(o.data_len, 13);
	lg_http_body_init(&b, LG_HTTP_BODY_CLOSE, 0, NULL, true);
	assert_int_equal(lg_http_body_feed(&b, "abc", 3, &d), 3);
	assert_int_equal(lg_http_body_eof(&b), 0);
	assert_true(lg_http_body_done(&b));
	/* Bytes moved past the decoder (splice): only a Content-Length body's rest. */
	lg_http_body_init(&b, LG_HTTP_BODY_LENGTH, 10, NULL, true);
	assert_int_equal(lg_http_body_feed(&b, "ab", 2, &d), 2);
	assert_int_equal(lg_http_body_passable(&b), 8);
	lg_http_body_passed(&b, 5);
	assert_int_equal(lg_http_body_passable(&b), 3);
	assert_false(lg_http_body_done(&b));
	assert_int_equal(lg_http_body_eof(&b), LG_HTTP_ERROR);
	lg_http_body_init(&b, LG_HTTP_BODY_LENGTH, 10, NULL, true);
	lg_http_body_passed(&b, 20);
	assert_true(lg_http_body_done(&b));
	assert_int_equal(b.received, 10);
	assert_int_equal(lg_http_body_passable(&b), 0);
	lg_http_body_init(&b, LG_HTTP_BODY_CHUNKED, 0, NULL, true);
	assert_int_equal(lg_http_body_feed(&b, "5\r\nab", 5, &d), 5);
	assert_int_equal(lg_http_body_passable(&b), 0);
	lg_http_body_passed(&b, 3);
	assert_int_equal(lg_http_body_feed(&b, "cde\r\n0\r\n\r\n", 10, &d), 3);
	lg_http_body_init(&b, LG_HTTP_BODY_CLOSE, 0, NULL, true);
	assert_int_equal(lg_http_body_passable(&b), 0);
	/* Truncated bodies. */
	lg_http_body_init(&b, LG_HTTP_BODY_LENGTH, 5, NULL, false);
	assert_int_equal(lg_http_body_feed(&b, "abc", 3, &d), 3);
	assert_int_equal(lg_http_body_eof(&b), LG_HTTP_ERROR);
	assert_int_equal(b.error.code, LG_HTTP_E_TRUNCATED);
	assert_int_equal(b.error.status, 400);
	lg_http_body_init(&b, LG_HTTP_BODY_CHUNKED, 0, NULL, true);
	assert_int_equal(lg_http_body_feed(&b, "5\r\nab", 5, &d), 5);
	assert_int_equal(lg_http_body_eof(&b), LG_HTTP_ERROR);
	assert_int_equal(b.error.status, 502);
	/* Limits. */
	lg_http_limits_default(&lim);
	lim.max_body = 4;
	lg_http_body_init(&b, LG_HTTP_BODY_LENGTH, 5, &lim, false);
	assert_int_equal(lg_http_body_feed(&b, "hello", 5, &d), LG_HTTP_ERROR);
	assert_int_equal(b.error.status, 413);
	o = body_all_splits("hello", LG_HTTP_BODY_CLOSE, 0, &lim);
	assert_int_equal(o.rc, -1);
	assert_int_equal(o.status, 413);
	assert_int_equal(o.data_len, 4); /* up to the limit, then the error */
	/* Errors stay. */
	lg_http_body_init(&b, LG_HTTP_BODY_CHUNKED, 0, NULL, true);
	assert_int_equal(lg_http_body_feed(&b, "z", 1, &d), LG_HTTP_ERROR);
	assert_int_equal(b.error.status, 502);
	assert_int_equal(lg_http_body_feed(&b, "0\r\n\r\n", 5, &d), LG_HTTP_ERROR);
	assert_int_equal(lg_http_body_feed(&b, "", 0, &d), LG_HTTP_ERROR);
}

/* Field names as tokens, and look-alike names ('_' for '-', any case). */
static void
test_field_names(void **state)
{
	(void)state;
	assert_true(lg_http_is_token("X-Student-Id", 12));
	assert_true(lg_http_is_token("x_y!#$%&'*+.^`|~", 16));
	assert_false(lg_http_is_token("", 0));
	assert_false(lg_http_is_token("X Student", 9));
	assert_false(lg_http_is_token("X:Y", 3));
	assert_false(lg_http_is_token("X\"Y", 3));
	assert_true(lg_http_name_alike("X_Student_Id", 12, "x-student-id", 12));
	assert_true(lg_http_name_alike("X-STUDENT_ID", 12, "X-Student-Id", 12));
	assert_true(lg_http_name_alike("a", 1, "A", 1));
	assert_false(lg_http_name_alike("X-Student-Idx", 13, "X-Student-Id", 12));
	assert_false(lg_http_name_alike("X.Student.Id", 12, "X-Student-Id", 12));
	assert_false(lg_http_name_alike("X-Student-Ie", 12, "X-Student-Id", 12));
}

/* A feed stops where the trailer section starts, so a proxy can drop the trailers. */
static void
test_body_trailer_split(void **state)
{
	static const char in[] = "3\r\nabc\r\n0\r\nX-Sum: 1\r\nX-Two: 2\r\n\r\nNEXT";
	struct lg_http_body b;
	struct lg_http_str d;
	ssize_t n;

	(void)state;
	lg_http_body_init(&b, LG_HTTP_BODY_CHUNKED, 0, NULL, false);
	assert_false(lg_http_body_in_trailers(&b));
	n = lg_http_body_feed(&b, in, sizeof(in) - 1, &d);
	assert_int_equal(n, 6); /* "3\r\nabc" */
	assert_int_equal(d.len, 3);
	n = lg_http_body_feed(&b, in + 6, sizeof(in) - 1 - 6, &d);
	assert_int_equal(n, 5); /* "\r\n0\r\n": framing up to the trailer section */
	assert_true(lg_http_body_in_trailers(&b));
	assert_false(lg_http_body_done(&b));
	n = lg_http_body_feed(&b, in + 11, sizeof(in) - 1 - 11, &d);
	assert_int_equal(n, (ssize_t)strlen("X-Sum: 1\r\nX-Two: 2\r\n\r\n"));
	assert_int_equal(d.len, 0);
	assert_true(lg_http_body_done(&b));
	assert_false(lg_http_body_in_trailers(&b));
	/* An empty trailer section splits the same way. */
	lg_http_body_init(&b, LG_HTTP_BODY_CHUNKED, 0, NULL, false);
	assert_int_equal(lg_http_body_feed(&b, "0\r\n\r\n", 5, &d), 3);
	assert_true(lg_http_body_in_trailers(&b));
	assert_int_equal(lg_http_body_feed(&b, "\r\n", 2, &d), 2);
	assert_true(lg_http_body_done(&b));
}

/*
 * Every byte at every position of a value long enough for the parser's
 * eight-at-a-time check, with an HTAB in some: refused exactly where
 * field-vchar, SP and HTAB end (CR and LF fail as line endings do).
 */
static void
test_field_value_bytes(void **state)
{
	struct lg_http_header hs[MAXH];
	struct lg_http_parser p;
	struct lg_http_request r;
	char in[128];
	const char *pre = "GET / HTTP/1.1\r\nHost: a\r\nX-V: ";
	size_t pl = strlen(pre), vl = 21;

	(void)state;
	for (int tab = 0; tab < 2; tab++) {
		for (unsigned b = 0; b < 256; b++) {
			for (size_t k = 0; k < vl; k++) {
				enum lg_http_err want = LG_HTTP_E_NONE;
				int rc;

				memcpy(in, pre, pl);
				memset(in + pl, 'v', vl);
				if (tab)
					in[pl + (k + 9) % vl] = '\t';
				in[pl + k] = (char)b;
				memcpy(in + pl + vl, "\r\n\r\n", 4);
				if (b == '\r')
					want = LG_HTTP_E_BARE_CR;
				else if (b == '\n')
					want = k == 0 ? LG_HTTP_E_NONE : LG_HTTP_E_BARE_LF;
				else if (b != '\t' && (b < 0x20 || b == 0x7f))
					want = LG_HTTP_E_FIELD_VALUE;
				lg_http_parser_init(&p, NULL, hs, MAXH);
				rc = lg_http_parse_request(&p, in, pl + vl + 4, &r);
				if (b == '\n' && k == 0) /* "X-V: \n": a bare LF ends the line */
					want = LG_HTTP_E_BARE_LF;
				if (p.error.code != want || (want == LG_HTTP_E_NONE) != (rc > 0)) {
					print_error(
					    "byte 0x%02x at %zu (tab %d): rc %d code %d, want %d\n",
					    b, k, tab, rc, p.error.code, want);
					fail();
				}
				if (want == LG_HTTP_E_NONE) { /* the value without OWS around it */
					const char *v0 = in + pl, *v1 = in + pl + vl;
					while (*v0 == ' ' || *v0 == '\t')
						v0++;
					while (v1[-1] == ' ' || v1[-1] == '\t')
						v1--;
					assert_ptr_equal(hs[1].value, v0);
					assert_int_equal(hs[1].value_len, v1 - v0);
				}
			}
		}
	}
}

/* A field line for the hop-by-hop tests (value without OWS, as the parser leaves it). */
static struct lg_http_header
field(const char *name, const char *value)
{
	return (struct lg_http_header){name, strlen(name), value, strlen(value)};
}

/* lg_http_hop_by_hop_mask(): fixed names in any case, names Connection fields list, > 64 fields. */
static void
test_hop_mask(void **state)
{
	struct lg_http_header hs[MAXH], many[70];
	struct lg_http_request r;
	uint64_t mask[2];
	size_t n = 0;

	(void)state;
	/* The same head as test_helpers: the mask agrees with lg_http_hop_by_hop() field by field.
	 */
	req_ok(
	    "GET / HTTP/1.1\r\nHost: a\r\nConnection: X-Foo, keep-alive\r\nX-Foo: 1\r\nKeep-Alive: "
	    "5\r\nTE: trailers\r\nX-Bar: 2\r\nconnection: x-baz\r\nX-BAZ: 3\r\n\r\n",
	    &r, hs);
	lg_http_hop_by_hop_mask(hs, r.num_headers, mask);
	assert_int_equal(mask[0], 0xde); /* all but Host (0) and X-Bar (5) */
	for (size_t i = 0; i < r.num_headers; i++)
		assert_int_equal(mask[0] >> i & 1, lg_http_hop_by_hop(hs, r.num_headers, &hs[i]));

	/* Every fixed name, in odd cases; look-alikes of other lengths stay. */
	hs[n++] = field("PROXY-Connection", "x");
	hs[n++] = field("Proxy-Authorization", "x");
	hs[n++] = field("proxy-AUTHENTICATE", "x");
	hs[n++] = field("Transfer-Encoding", "chunked");
	hs[n++] = field("UPGRADE", "websocket");
	hs[n++] = field("tE", "trailers");
	hs[n++] = field("keep-ALIVE", "5");
	hs[n++] = field("Tea", "x");               /* 7 */
	hs[n++] = field("Upgrades", "x");          /* 8 */
	hs[n++] = field("Proxy-Connections", "x"); /* 9 */
	hs[n++] = field("Close", "x");             /* 10: no Connection field lists it */
	mask[0] = ~UINT64_C(0);
	lg_http_hop_by_hop_mask(hs, n, mask);
	assert_int_equal(mask[0], 0x7f);

	/* Two Connection fields, empty elements and OWS, a custom name in another case, close
	 * naming a field "Close", a listed fixed name (TE) marking nothing more. */
	n = 0;
	hs[n++] = field("Host", "a");                   /* 0 */
	hs[n++] = field("X-Custom", "1");               /* 1: listed as x-CUSTOM */
	hs[n++] = field("Connection", ", ,x-CUSTOM ,"); /* 2 */
	hs[n++] = field("Close", "1");                  /* 3: listed by close */
	hs[n++] = field("X-Other", "2");                /* 4 */
	hs[n++] = field("connection", "close, te");     /* 5 */
	hs[n++] = field("x-custom", "3");               /* 6: listed too */
	hs[n++] = field("X-Custom-2", "4");             /* 7: a longer name */
	lg_http_hop_by_hop_mask(hs, n, mask);
	assert_int_equal(mask[0], 0x6e);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(mask[0] >> i & 1, lg_http_hop_by_hop(hs, n, &hs[i]));

	/* Past 64 fields: the second word is written whole, and a listed field there is marked. */
	for (size_t i = 0; i < 70; i++)
		many[i] = field("X-Filler", "1");
	many[3] = field("Connection", "X-Late");
	many[68] = field("x-late", "1");
	mask[0] = mask[1] = ~UINT64_C(0);
	lg_http_hop_by_hop_mask(many, 70, mask);
	assert_int_equal(mask[0], UINT64_C(1) << 3);
	assert_int_equal(mask[1], UINT64_C(1) << 4);
	lg_http_hop_by_hop_mask(many, 0, mask); /* no fields: nothing written, nothing read */
}

/* Header lookup, Connection-listed and hop-by-hop fields, error texts. */
static void
test_helpers(void **state)
{
	struct lg_http_header hs[MAXH];
	struct lg_http_request r;

	(void)state;
	req_ok(
	    "GET / HTTP/1.1\r\nHost: a\r\nConnection: X-Foo, keep-alive\r\nX-Foo: 1\r\nKeep-Alive: "
	    "5\r\nTE: trailers\r\nX-Bar: 2\r\nconnection: x-baz\r\nX-BAZ: 3\r\n\r\n",
	    &r, hs);
	assert_int_equal(r.num_headers, 8);
	assert_true(lg_http_connection_lists(hs, r.num_headers, "x-foo", 5));
	assert_true(lg_http_connection_lists(hs, r.num_headers, "X-Baz", 5));
	assert_false(lg_http_connection_lists(hs, r.num_headers, "x-bar", 5));
	assert_true(lg_http_hop_by_hop(hs, r.num_headers, &hs[1]));  /* Connection */
	assert_true(lg_http_hop_by_hop(hs, r.num_headers, &hs[2]));  /* X-Foo */
	assert_true(lg_http_hop_by_hop(hs, r.num_headers, &hs[3]));  /* Keep-Alive */
	assert_true(lg_http_hop_by_hop(hs, r.num_headers, &hs[4]));  /* TE */
	assert_false(lg_http_hop_by_hop(hs, r.num_headers, &hs[5])); /* X-Bar */
	assert_true(lg_http_hop_by_hop(hs, r.num_headers, &hs[7]));  /* X-BAZ */
	assert_false(lg_http_hop_by_hop(hs, r.num_headers, &hs[0])); /* Host */
	assert_int_equal(lg_http_find_header(hs, r.num_headers, 0, "CONNECTION"), 1);
	assert_int_equal(lg_http_find_header(hs, r.num_headers, 2, "connection"), 6);
	assert_int_equal(lg_http_find_header(hs, r.num_headers, 7, "connection"), -1);
	assert_string_equal(lg_http_strerror(LG_HTTP_E_CL_DUPLICATE), "duplicate Content-Length");
	assert_string_equal(lg_http_strerror(LG_HTTP_E_COUNT), "unknown error");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_request_simple),
	    cmocka_unit_test(test_body_trailer_split),
	    cmocka_unit_test(test_request_framing),
	    cmocka_unit_test(test_request_targets),
	    cmocka_unit_test(test_request_upgrade_expect),
	    cmocka_unit_test(test_reject_request_line),
	    cmocka_unit_test(test_reject_line_endings),
	    cmocka_unit_test(test_reject_fields),
	    cmocka_unit_test(test_reject_host),
	    cmocka_unit_test(test_reject_framing),
	    cmocka_unit_test(test_reject_options),
	    cmocka_unit_test(test_reject_limits),
	    cmocka_unit_test(test_slow_client),
	    cmocka_unit_test(test_response_valid),
	    cmocka_unit_test(test_response_reject),
	    cmocka_unit_test(test_chunked_valid),
	    cmocka_unit_test(test_chunked_reject),
	    cmocka_unit_test(test_body_length_close),
	    cmocka_unit_test(test_helpers),
	    cmocka_unit_test(test_hop_mask),
	    cmocka_unit_test(test_field_value_bytes),
	    cmocka_unit_test(test_field_names),
	};

	return cmocka_run_group_tests(tests, NULL, free_kept);
}
