/* Tests for lib/http/ws.c: frame headers, stream tracking at every split, Close frames, UTF-8. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ws.h"

static const struct lg_ws_config from_server = {LG_WS_FROM_SERVER, 0, 0};
static const struct lg_ws_config from_client = {LG_WS_FROM_CLIENT, 0, 0};

/* Decode whole, then every prefix: each prefix needs more or fails the same way. */
static int
decode_all_prefixes(const struct lg_ws_config *c, const uint8_t *in, size_t len,
                    struct lg_ws_frame *f, struct lg_ws_error *err)
{
	struct lg_ws_error e2 = {0, NULL};
	struct lg_ws_frame f2;
	int r = lg_ws_decode_header(c, in, len, f, err), r2;

	for (size_t k = 0; k < len; k++) {
		uint8_t *piece = malloc(k ? k : 1);

		memcpy(piece, in, k);
		r2 = lg_ws_decode_header(c, piece, k, &f2, &e2);
		free(piece);
		if (r2 == LG_WS_NEED_MORE)
			continue;
		assert_int_equal(r2, r);
		if (r == LG_WS_ERROR) {
			assert_int_equal(e2.close_code, err->close_code);
			assert_string_equal(e2.reason, err->reason);
		}
	}
	return r;
}

/* A header that must decode to hl bytes. */
static struct lg_ws_frame
ok(const struct lg_ws_config *c, const char *in, size_t len, int hl)
{
	struct lg_ws_error err = {0, NULL};
	struct lg_ws_frame f;

	assert_int_equal(decode_all_prefixes(c, (const uint8_t *)in, len, &f, &err), hl);
	assert_int_equal(f.header_len, hl);
	return f;
}

/* A header that must be refused with close code and reason. */
static void
bad(const struct lg_ws_config *c, const char *in, size_t len, int code, const char *reason)
{
	struct lg_ws_error err = {0, NULL};
	struct lg_ws_frame f;

	assert_int_equal(decode_all_prefixes(c, (const uint8_t *)in, len, &f, &err), LG_WS_ERROR);
	assert_int_equal(err.close_code, code);
	assert_string_equal(err.reason, reason);
}

/* Valid headers of every length form. */
static void
test_decode_valid(void **state)
{
	struct lg_ws_frame f;

	(void)state;
	f = ok(&from_server, "\x81\x05hello", 7, 2);
	assert_true(f.fin);
	assert_int_equal(f.opcode, LG_WS_TEXT);
	assert_false(f.masked);
	assert_int_equal(f.length, 5);
	f = ok(&from_client, "\x82\x85\x01\x02\x03\x04", 6, 6);
	assert_true(f.masked);
	assert_memory_equal(f.key, "\x01\x02\x03\x04", 4);
	f = ok(&from_server, "\x02\x7e\x00\x7e", 4, 4);
	assert_false(f.fin);
	assert_int_equal(f.length, 126);
	f = ok(&from_server, "\x82\x7e\xff\xff", 4, 4);
	assert_int_equal(f.length, 65535);
	f = ok(&from_client, "\x82\xff\x00\x00\x00\x00\x00\x01\x00\x00kkkk", 14, 14);
	assert_int_equal(f.length, 65536);
	f = ok(&from_server, "\x82\x7f\x7f\xff\xff\xff\xff\xff\xff\xff", 10, 10);
	assert_int_equal(f.length, INT64_MAX);
	f = ok(&from_server, "\x88\x00", 2, 2);
	assert_int_equal(f.opcode, LG_WS_CLOSE);
	f = ok(&from_server, "\x89\x7d", 2, 2);
	assert_int_equal(f.length, 125);
	ok(&from_server, "\x8a\x00", 2, 2);
	ok(&from_server, "\x00\x00", 2, 2);
}

/* Everything §5.2 says to fail the connection for. */
static void
test_decode_reject(void **state)
{
	static const char reserved[] = {3, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf};
	struct lg_ws_config rsv1 = {LG_WS_FROM_SERVER, 0x4, 0};
	struct lg_ws_config small = {LG_WS_FROM_SERVER, 0, 1000};
	char in[2];

	(void)state;
	for (size_t i = 0; i < sizeof(reserved); i++) {
		in[0] = (char)(0x80 | reserved[i]);
		in[1] = 0;
		bad(&from_server, in, 2, 1002, "reserved opcode");
	}
	bad(&from_server, "\xc1\x00", 2, 1002, "reserved bits set");
	bad(&from_server, "\xa1\x00", 2, 1002, "reserved bits set");
	bad(&from_server, "\x91\x00", 2, 1002, "reserved bits set");
	ok(&rsv1, "\xc1\x00", 2, 2);
	bad(&rsv1, "\xe1\x00", 2, 1002, "reserved bits set");
	bad(&rsv1, "\xc0\x00", 2, 1002, "extension bits on a non-data frame");
	bad(&rsv1, "\xc9\x00", 2, 1002, "extension bits on a non-data frame");
	bad(&from_server, "\x09\x00", 2, 1002, "fragmented control frame");
	bad(&from_server, "\x08\x00", 2, 1002, "fragmented control frame");
	bad(&from_server, "\x89\x7e\x00\x7e", 4, 1002, "control frame longer than 125");
	bad(&from_server, "\x88\x01", 2, 1002, "Close payload of one byte");
	bad(&from_server, "\x81\x85kkkk", 6, 1002, "masked frame from the server");
	bad(&from_client, "\x81\x05hello", 7, 1002, "unmasked frame from the client");
	bad(&from_server, "\x81\x7e\x00\x7d", 4, 1002, "payload length not minimal");
	bad(&from_server, "\x81\x7f\x00\x00\x00\x00\x00\x00\xff\xff", 10, 1002,
	    "payload length not minimal");
	bad(&from_server, "\x81\x7f\x80\x00\x00\x00\x00\x00\x00\x00", 10, 1002,
	    "payload length over 63 bits");
	ok(&small, "\x82\x7e\x03\xe8", 4, 4);
	bad(&small, "\x82\x7e\x03\xe9", 4, 1009, "frame too big");
}

/* Build a frame: header for sender, payload masked for clients. Its length. */
static size_t
frame(uint8_t *out, bool fin, uint8_t op, const char *payload, size_t n, bool mask)
{
	static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
	size_t h = 2;

	out[0] = (uint8_t)((fin ? 0x80 : 0) | op);
	if (n < 126) {
		out[1] = (uint8_t)n;
	} else {
		out[1] = 126;
		out[2] = (uint8_t)(n >> 8);
		out[3] = (uint8_t)n;
		h = 4;
	}
	if (mask) {
		out[1] |= 0x80;
		memcpy(out + h, key, 4);
		h += 4;
	}
	memcpy(out + h, payload, n);
	if (mask)
		lg_ws_mask(out + h, n, key, 0);
	return h + n;
}

/* What a tracker saw: where it stood at a boundary, and the message state there. */
struct trace {
	size_t bounds[16];
	bool in_message[16];
	size_t nb;
	ssize_t rc;
	uint64_t frames;
	bool closed;
};

/* Track buf in pieces of at most step bytes (first piece split bytes when nonzero). */
static struct trace
run(const struct lg_ws_config *c, const uint8_t *buf, size_t len, size_t split, size_t step)
{
	struct lg_ws_tracker t;
	struct trace tr;
	size_t pos = 0, end;
	ssize_t n;

	memset(&tr, 0, sizeof(tr));
	lg_ws_tracker_init(&t, c);
	while (pos < len) {
		end = split && pos < split ? split : pos + step;
		if (end > len)
			end = len;
		while (pos < end) {
			uint8_t *piece = malloc(end - pos);

			memcpy(piece, buf + pos, end - pos);
			n = lg_ws_track(&t, piece, end - pos);
			free(piece);
			if (n < 0) {
				tr.rc = n;
				tr.frames = t.frames;
				return tr;
			}
			pos += (size_t)n;
			if (n > 0 && lg_ws_at_boundary(&t)) {
				assert_true(tr.nb < 16);
				tr.bounds[tr.nb] = pos;
				tr.in_message[tr.nb++] = t.in_message;
			}
		}
	}
	tr.frames = t.frames;
	tr.closed = t.closed;
	tr.rc = lg_ws_at_boundary(&t) ? 0 : 1;
	return tr;
}

/* Track whole, split in two everywhere, and byte by byte; all traces must match. */
static struct trace
run_all(const struct lg_ws_config *c, const uint8_t *buf, size_t len)
{
	struct trace ref = run(c, buf, len, 0, len ? len : 1), tr;

	for (size_t k = 1; k < len; k++) {
		tr = run(c, buf, len, k, len);
		assert_memory_equal(&tr, &ref, sizeof(tr));
	}
	tr = run(c, buf, len, 0, 1);
	assert_memory_equal(&tr, &ref, sizeof(tr));
	return ref;
}

/* A fragmented message with a ping inside, a 16-bit frame, an empty frame, and Close. */
static void
test_tracker_stream(void **state)
{
	uint8_t buf[1024], big[300];
	size_t len = 0, ends[6];
	struct trace tr;

	(void)state;
	for (int masked = 0; masked < 2; masked++) {
		const struct lg_ws_config *c = masked ? &from_client : &from_server;

		len = 0;
		memset(big, 'b', sizeof(big));
		len += frame(buf + len, false, LG_WS_TEXT, "hel", 3, masked);
		ends[0] = len;
		len += frame(buf + len, true, LG_WS_PING, "p", 1, masked);
		ends[1] = len;
		len += frame(buf + len, true, LG_WS_CONTINUATION, "lo", 2, masked);
		ends[2] = len;
		len += frame(buf + len, true, LG_WS_BINARY, (char *)big, sizeof(big), masked);
		ends[3] = len;
		len += frame(buf + len, true, LG_WS_TEXT, "", 0, masked);
		ends[4] = len;
		len += frame(buf + len, true, LG_WS_CLOSE, "\x03\xe8", 2, masked);
		ends[5] = len;
		tr = run_all(c, buf, len);
		assert_int_equal(tr.rc, 0);
		assert_int_equal(tr.frames, 6);
		assert_true(tr.closed);
		assert_int_equal(tr.nb, 6);
		for (size_t i = 0; i < 6; i++)
			assert_int_equal(tr.bounds[i], ends[i]);
		assert_true(tr.in_message[0]);
		assert_true(tr.in_message[1]); /* a ping between fragments */
		assert_false(tr.in_message[2]);
		assert_false(tr.in_message[3]);
		/* Stopping inside a frame: not at a boundary. */
		tr = run_all(c, buf, ends[3] - 5);
		assert_int_equal(tr.rc, 1);
		tr = run_all(c, buf, ends[2] + 1);
		assert_int_equal(tr.rc, 1);
	}
}

/* Fragmentation errors, frames after Close, and errors that stay. */
static void
test_tracker_reject(void **state)
{
	struct lg_ws_tracker t;
	uint8_t buf[64];
	size_t len;
	struct trace tr;

	(void)state;
	len = frame(buf, true, LG_WS_CONTINUATION, "x", 1, false);
	tr = run_all(&from_server, buf, len);
	assert_int_equal(tr.rc, LG_WS_ERROR);
	len = frame(buf, false, LG_WS_TEXT, "a", 1, false);
	len += frame(buf + len, true, LG_WS_BINARY, "b", 1, false);
	tr = run_all(&from_server, buf, len);
	assert_int_equal(tr.rc, LG_WS_ERROR);
	assert_int_equal(tr.frames, 1);
	len = frame(buf, true, LG_WS_CLOSE, "", 0, false);
	len += frame(buf + len, true, LG_WS_PING, "", 0, false);
	tr = run_all(&from_server, buf, len);
	assert_int_equal(tr.rc, LG_WS_ERROR);
	lg_ws_tracker_init(&t, &from_server);
	assert_int_equal(lg_ws_track(&t, (const uint8_t *)"\x83\x00", 2), LG_WS_ERROR);
	assert_int_equal(t.error.close_code, 1002);
	assert_string_equal(t.error.reason, "reserved opcode");
	assert_int_equal(lg_ws_track(&t, (const uint8_t *)"\x81\x00", 2), LG_WS_ERROR);
	lg_ws_tracker_init(&t, &from_server);
	assert_int_equal(lg_ws_track(&t, (const uint8_t *)"\x81\x00", 2), 2);
	assert_true(lg_ws_at_boundary(&t));
	assert_int_equal(lg_ws_track(&t, (const uint8_t *)"", 0), 0);
	assert_int_equal(lg_ws_track(&t, (const uint8_t *)"\x81", 1), 1);
	assert_false(lg_ws_at_boundary(&t));
	assert_int_equal(lg_ws_track(&t, (const uint8_t *)"\x02hi\x81", 4), 3);
	assert_true(lg_ws_at_boundary(&t));
}

/* Close frames for both directions, codes that may not be sent, reasons cut to fit. */
static void
test_encode_close(void **state)
{
	static const uint8_t key[4] = {1, 2, 3, 4};
	uint8_t out[LG_WS_CLOSE_MAX], payload[125];
	struct lg_ws_error err;
	struct lg_ws_frame f;
	char long_reason[200];
	int n;

	(void)state;
	n = lg_ws_encode_close(out, LG_WS_CLOSE_LESSON_LIMIT, "lesson_limit", 12, NULL);
	assert_int_equal(n, 16);
	assert_memory_equal(out, "\x88\x0e\x0f\xa1lesson_limit", 16);
	assert_int_equal(lg_ws_decode_header(&from_server, out, (size_t)n, &f, &err), 2);
	n = lg_ws_encode_close(out, LG_WS_CLOSE_DAY_END, "day_end", 7, key);
	assert_int_equal(n, 15);
	assert_int_equal(lg_ws_decode_header(&from_client, out, (size_t)n, &f, &err), 6);
	assert_int_equal(f.length, 9);
	assert_memory_equal(f.key, key, 4);
	memcpy(payload, out + 6, 9);
	lg_ws_mask(payload, 9, f.key, 0);
	assert_memory_equal(payload,
	                    "\x0f\xa2"
	                    "day_end",
	                    9);
	n = lg_ws_encode_close(out, 0, NULL, 0, NULL);
	assert_int_equal(n, 2);
	assert_memory_equal(out, "\x88\x00", 2);
	n = lg_ws_encode_close(out, 1000, NULL, 0, key);
	assert_int_equal(n, 8);
	assert_int_equal(out[1], 0x82);
	assert_int_equal(lg_ws_encode_close(out, 0, "x", 1, NULL), -1);
	assert_int_equal(lg_ws_encode_close(out, 999, "", 0, NULL), -1);
	assert_int_equal(lg_ws_encode_close(out, 1004, "", 0, NULL), -1);
	assert_int_equal(lg_ws_encode_close(out, 1005, "", 0, NULL), -1);
	assert_int_equal(lg_ws_encode_close(out, 1006, "", 0, NULL), -1);
	assert_int_equal(lg_ws_encode_close(out, 1015, "", 0, NULL), -1);
	assert_int_equal(lg_ws_encode_close(out, 2999, "", 0, NULL), -1);
	assert_int_equal(lg_ws_encode_close(out, 5000, "", 0, NULL), -1);
	assert_int_equal(lg_ws_encode_close(out, 3000, "", 0, NULL), 4);
	assert_int_equal(lg_ws_encode_close(out, 1000, "\xc3", 1, NULL), -1);
	/* 66 three-byte characters (198 bytes): cut to 41 of them, 123 bytes. */
	for (int i = 0; i < 66; i++)
		memcpy(long_reason + 3 * i, "\xe8\xaf\xbe", 3);
	n = lg_ws_encode_close(out, 4001, long_reason, 198, NULL);
	assert_int_equal(n, 2 + 2 + 123);
	assert_int_equal(out[1], 125);
	assert_true(lg_ws_utf8_valid((char *)out + 4, 123));
	/* 124 ASCII + one: cut to 123. 2-byte characters at odd offsets: cut before one. */
	memset(long_reason, 'a', sizeof(long_reason));
	assert_int_equal(lg_ws_encode_close(out, 4001, long_reason, 124, NULL), 127);
	memcpy(long_reason + 122, "\xc3\xa9", 2);
	n = lg_ws_encode_close(out, 4001, long_reason, 124, NULL);
	assert_int_equal(n, 2 + 2 + 122);
}

/* UTF-8 validation by RFC 3629. */
static void
test_utf8(void **state)
{
	(void)state;
	assert_true(lg_ws_utf8_valid("", 0));
	assert_true(lg_ws_utf8_valid("abc", 3));
	assert_true(lg_ws_utf8_valid("\xe4\xb8\xad\xe6\x96\x87", 6));
	assert_true(lg_ws_utf8_valid("\xf0\x9f\x98\x80", 4));
	assert_true(lg_ws_utf8_valid("\xf4\x8f\xbf\xbf", 4));
	assert_true(lg_ws_utf8_valid("\xed\x9f\xbf", 3));
	assert_false(lg_ws_utf8_valid("\xc0\xaf", 2));
	assert_false(lg_ws_utf8_valid("\xe0\x80\xaf", 3));
	assert_false(lg_ws_utf8_valid("\xf0\x80\x80\xaf", 4));
	assert_false(lg_ws_utf8_valid("\xed\xa0\x80", 3));
	assert_false(lg_ws_utf8_valid("\xf4\x90\x80\x80", 4));
	assert_false(lg_ws_utf8_valid("\xf5\x80\x80\x80", 4));
	assert_false(lg_ws_utf8_valid("\xe4\xb8", 2));
	assert_false(lg_ws_utf8_valid("\x80", 1));
	assert_false(lg_ws_utf8_valid("\xe4\x28\xad", 3));
}

/* Masking is its own inverse and honours the offset into the payload. */
static void
test_mask(void **state)
{
	static const uint8_t key[4] = {0xde, 0xad, 0xbe, 0xef};
	uint8_t a[11], b[11];

	(void)state;
	memcpy(a, "hello world", 11);
	memcpy(b, a, 11);
	lg_ws_mask(b, 11, key, 0);
	assert_int_equal(b[0], 'h' ^ 0xde);
	assert_int_equal(b[5], ' ' ^ 0xad);
	lg_ws_mask(b, 3, key, 0);
	lg_ws_mask(b + 3, 8, key, 3);
	assert_memory_equal(a, b, 11);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_decode_valid),   cmocka_unit_test(test_decode_reject),
	    cmocka_unit_test(test_tracker_stream), cmocka_unit_test(test_tracker_reject),
	    cmocka_unit_test(test_encode_close),   cmocka_unit_test(test_utf8),
	    cmocka_unit_test(test_mask),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
