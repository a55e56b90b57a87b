/* libFuzzer harness for lib/http/http1.c: heads and bodies, whole and split, must agree and stay in
 * bounds. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http1.h"

#define MAXH 32

/* A result with pointers as offsets, comparable across buffers. */
struct outcome {
	int rc;
	enum lg_http_err code;
	int status;
	long f[24];
	uint64_t length;
	size_t nh;
	long h[MAXH][4];
};

/* Stop the run: the harness found a disagreement. */
static void
check(int ok)
{
	if (!ok)
		abort();
}

/* The offset of p inside buf[0..len), checked to lie there. */
static long
off(const char *buf, size_t len, const char *p, size_t n)
{
	if (p == NULL)
		return -1;
	check(p >= buf && p + n <= buf + len);
	return (long)(p - buf);
}

/* A private copy, so reads past len or into an old buffer are caught. */
static char *
copy(const uint8_t *data, size_t n)
{
	char *b = malloc(n ? n : 1);

	memcpy(b, data, n);
	return b;
}

/* Headers into offsets. */
static void
norm_headers(struct outcome *o, const char *buf, size_t len, const struct lg_http_header *hs,
             size_t n)
{
	check(n <= MAXH);
	o->nh = n;
	for (size_t i = 0; i < n; i++) {
		o->h[i][0] = off(buf, len, hs[i].name, hs[i].name_len);
		o->h[i][1] = (long)hs[i].name_len;
		o->h[i][2] = off(buf, len, hs[i].value, hs[i].value_len);
		o->h[i][3] = (long)hs[i].value_len;
		check(hs[i].name_len > 0);
	}
}

/* Parse data[0..len) as a request with parser p (already fed a prefix or fresh). */
static struct outcome
request(struct lg_http_parser *p, const uint8_t *data, size_t len, struct lg_http_request *out)
{
	char *buf = copy(data, len);
	struct lg_http_request r;
	struct outcome o;

	memset(&o, 0, sizeof(o));
	o.rc = lg_http_parse_request(p, buf, len, &r);
	o.code = p->error.code;
	o.status = p->error.status;
	check(o.rc >= LG_HTTP_NEED_MORE && o.rc <= (int)len);
	if (o.rc == LG_HTTP_ERROR)
		check(o.status >= 400 && o.status < 600 && p->error.reason != NULL);
	if (o.rc >= 0) {
		long f[] = {r.method,
		            off(buf, len, r.method_name.p, r.method_name.len),
		            (long)r.method_name.len,
		            r.form,
		            off(buf, len, r.target.p, r.target.len),
		            (long)r.target.len,
		            off(buf, len, r.path.p, r.path.len),
		            (long)r.path.len,
		            off(buf, len, r.host.p, r.host.len),
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
		norm_headers(&o, buf, len, p->headers, r.num_headers);
		if (out)
			*out = r;
	}
	free(buf);
	return o;
}

/* Parse data[0..len) as a response to method m. */
static struct outcome
response(struct lg_http_parser *p, const uint8_t *data, size_t len, enum lg_http_method m)
{
	char *buf = copy(data, len);
	struct lg_http_response r;
	struct outcome o;

	memset(&o, 0, sizeof(o));
	o.rc = lg_http_parse_response(p, buf, len, m, &r);
	o.code = p->error.code;
	o.status = p->error.status;
	check(o.rc >= LG_HTTP_NEED_MORE && o.rc <= (int)len);
	if (o.rc == LG_HTTP_ERROR)
		check(o.status == 502);
	if (o.rc >= 0) {
		long f[] = {r.minor_version,
		            r.status,
		            off(buf, len, r.reason.p, r.reason.len),
		            (long)r.reason.len,
		            r.framing,
		            r.connection,
		            r.keep_alive,
		            r.upgrade_websocket,
		            r.switching_protocols};
		memcpy(o.f, f, sizeof(f));
		check(r.status >= 100 && r.status <= 599);
		o.length = r.content_length;
		norm_headers(&o, buf, len, p->headers, r.num_headers);
	}
	free(buf);
	return o;
}

/* Parse data[0..len) as a head, first fed only data[0..split) when split < len. */
static struct outcome
head(const struct lg_http_limits *lim, size_t maxh, int resp, enum lg_http_method m,
     const uint8_t *data, size_t len, size_t split, struct lg_http_request *req)
{
	struct lg_http_header hs[MAXH];
	struct lg_http_parser p;
	struct outcome o;

	lg_http_parser_init(&p, lim, hs, maxh);
	if (split < len) {
		o = resp ? response(&p, data, split, m) : request(&p, data, split, NULL);
		if (o.rc != LG_HTTP_NEED_MORE)
			return o;
	}
	return resp ? response(&p, data, len, m) : request(&p, data, len, req);
}

/* What a body decoder produced. */
struct body_outcome {
	uint64_t hash; /* of the payload bytes, in order */
	uint64_t data_len;
	size_t consumed;
	int rc;
	enum lg_http_err code;
};

/* Feed data[0..len) in pieces of fresh buffers, breaking at split; record the outcome. */
static struct body_outcome
body(const struct lg_http_limits *lim, enum lg_http_framing f, uint64_t cl, int resp,
     const uint8_t *data, size_t len, size_t split)
{
	struct body_outcome o;
	struct lg_http_body b;
	struct lg_http_str d;
	size_t pos = 0, end;
	ssize_t n;
	char *buf;

	memset(&o, 0, sizeof(o)); /* padding too: outcomes are compared with memcmp */
	o.hash = 1469598103934665603ull;
	lg_http_body_init(&b, f, cl, lim, resp);
	if (lg_http_body_done(&b))
		o.rc = 1;
	while (o.rc == 0 && pos < len) {
		end = pos < split ? split : len;
		buf = copy(data + pos, end - pos);
		n = lg_http_body_feed(&b, buf, end - pos, &d);
		if (n < 0) {
			o.rc = -1;
			o.code = b.error.code;
			check(b.error.status == 502 || !resp);
		} else {
			check((size_t)n <= end - pos && d.len <= (size_t)n);
			check(d.len == 0 || (d.p >= buf && d.p + d.len == buf + n));
			for (size_t i = 0; i < d.len; i++)
				o.hash = (o.hash ^ (uint8_t)d.p[i]) * 1099511628211ull;
			o.data_len += d.len;
			check(n > 0 || lg_http_body_done(&b) || end == pos);
			pos += (size_t)n;
			o.consumed = pos;
			if (lg_http_body_done(&b))
				o.rc = 1;
		}
		free(buf);
	}
	check(lg_http_body_done(&b) == (o.rc == 1));
	check(o.rc != 0 || pos == len);
	if (o.rc == 0) /* the peer closes here: only a read-until-close body may end so */
		check((lg_http_body_eof(&b) == 0) == (f == LG_HTTP_BODY_CLOSE));
	if (o.rc == -1)
		o.consumed = 0; /* where it failed depends on where the pieces ended */
	else
		check(o.data_len == b.received);
	return o;
}

/* Decode a body whole and at two splits: the same payload, end and error. */
static void
body_splits(const struct lg_http_limits *lim, enum lg_http_framing f, uint64_t cl, int resp,
            const uint8_t *data, size_t len, size_t s1, size_t s2)
{
	struct body_outcome ref = body(lim, f, cl, resp, data, len, len);
	struct body_outcome a = body(lim, f, cl, resp, data, len, s1);
	struct body_outcome b = body(lim, f, cl, resp, data, len, s2);

	check(memcmp(&ref, &a, sizeof(a)) == 0);
	check(memcmp(&ref, &b, sizeof(b)) == 0);
}

/*
 * Input: mode byte, two split bytes, then the message. Mode picks request,
 * response (and the request method), chunked or other body, and limits.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lg_http_limits lim;
	struct lg_http_request req;
	enum lg_http_method method;
	struct outcome ref, a, b;
	size_t len, s1, s2, maxh, n;
	uint8_t mode;

	if (size < 3)
		return 0;
	mode = data[0];
	len = size - 3;
	s1 = len ? data[1] * len / 256 : 0;
	s2 = len ? (size_t)data[2] * data[2] * len / 65536 : 0;
	data += 3;
	lg_http_limits_default(&lim);
	maxh = MAXH;
	if (mode & 0x80) { /* small limits reach the 414/431/413 paths */
		lim.max_start_line = 64;
		lim.max_target = 32;
		lim.max_fields = 128;
		lim.max_chunk_line = 16;
		lim.max_trailer = 32;
		lim.max_body = 64;
		maxh = 4;
	}
	switch (mode & 3) {
	case 0:
	case 1:
		method = (enum lg_http_method)((mode >> 2) % 10);
		ref = head(&lim, maxh, mode & 1, method, data, len, len, &req);
		a = head(&lim, maxh, mode & 1, method, data, len, s1, NULL);
		b = head(&lim, maxh, mode & 1, method, data, len, s2, NULL);
		check(memcmp(&ref, &a, sizeof(a)) == 0 && memcmp(&ref, &b, sizeof(b)) == 0);
		if ((mode & 1) == 0 && ref.rc > 0 && req.framing != LG_HTTP_BODY_NONE) {
			n = (size_t)ref.rc;
			body_splits(&lim, req.framing, req.content_length, 0, data + n, len - n,
			            s1 > n ? s1 - n : 0, s2 > n ? s2 - n : 0);
		}
		break;
	case 2:
		body_splits(&lim, LG_HTTP_BODY_CHUNKED, 0, mode & 4, data, len, s1, s2);
		break;
	default:
		body_splits(&lim, mode & 4 ? LG_HTTP_BODY_CLOSE : LG_HTTP_BODY_LENGTH,
		            (mode >> 3) & 15, mode & 4, data, len, s1, s2);
	}
	return 0;
}
