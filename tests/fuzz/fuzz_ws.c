/* libFuzzer harness for lib/http/ws.c: headers, stream tracking whole and split, Close round trips. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ws.h"

/* Stop the run: the harness found a disagreement. */
static void
check(int ok)
{
	if (!ok)
		abort();
}

/* Every prefix of a header decodes to NEED_MORE or to what the whole does. */
static void
decode_prefixes(const struct lg_ws_config *c, const uint8_t *data, size_t len)
{
	struct lg_ws_error e1 = {0, NULL}, e2 = {0, NULL};
	struct lg_ws_frame f1, f2;
	int r = lg_ws_decode_header(c, data, len, &f1, &e1), r2;

	check(r == LG_WS_ERROR || r == LG_WS_NEED_MORE || (r >= 2 && r <= LG_WS_MAX_HEADER));
	if (r == LG_WS_ERROR)
		check(e1.close_code == 1002 || e1.close_code == 1009);
	if (r >= 0)
		check(f1.header_len == (size_t)r && (f1.opcode < 8 || f1.length <= 125));
	for (size_t k = 0; k < len && k < LG_WS_MAX_HEADER; k++) {
		uint8_t *piece = malloc(k ? k : 1);

		memcpy(piece, data, k);
		r2 = lg_ws_decode_header(c, piece, k, &f2, &e2);
		free(piece);
		if (r2 == LG_WS_NEED_MORE)
			continue;
		check(r2 == r);
		if (r == LG_WS_ERROR)
			check(e2.close_code == e1.close_code && strcmp(e2.reason, e1.reason) == 0);
		else
			check(memcmp(&f1, &f2, sizeof(f1)) == 0);
	}
}

/* What a tracker saw. */
struct trace {
	uint64_t bounds_hash; /* of the offsets where it stood between frames */
	uint64_t frames;
	size_t consumed;
	int error;
	bool in_message, closed, at_boundary;
};

/* Track data in fresh buffers of at most step bytes, the first piece ending at split. */
static struct trace
track(const struct lg_ws_config *c, const uint8_t *data, size_t len, size_t split, size_t step)
{
	struct lg_ws_tracker t;
	struct trace tr;
	size_t pos = 0, end;
	ssize_t n;

	memset(&tr, 0, sizeof(tr)); /* padding too: traces are compared with memcmp */
	tr.bounds_hash = 1469598103934665603ull;
	lg_ws_tracker_init(&t, c);
	while (pos < len && !tr.error) {
		end = pos < split ? split : pos + step;
		end = end > len ? len : end;
		uint8_t *piece = malloc(end - pos);

		memcpy(piece, data + pos, end - pos);
		n = lg_ws_track(&t, piece, end - pos);
		free(piece);
		if (n < 0) {
			tr.error = t.error.close_code;
			break;
		}
		check(n > 0 && (size_t)n <= end - pos);
		pos += (size_t)n;
		if (lg_ws_at_boundary(&t))
			tr.bounds_hash = (tr.bounds_hash ^ pos) * 1099511628211ull;
	}
	tr.frames = t.frames;
	tr.consumed = tr.error ? 0 : pos;
	tr.in_message = t.in_message;
	tr.closed = t.closed;
	tr.at_boundary = lg_ws_at_boundary(&t);
	return tr;
}

/* Encode a Close from fuzz input and decode it back. */
static void
close_round_trip(const uint8_t *data, size_t len, int masked)
{
	static const uint8_t key[4] = {0x9a, 0x01, 0xfe, 0x77};
	struct lg_ws_config c = {masked ? LG_WS_FROM_CLIENT : LG_WS_FROM_SERVER, 0, 0};
	uint8_t out[LG_WS_CLOSE_MAX];
	struct lg_ws_error err;
	struct lg_ws_frame f;
	uint16_t code;
	int n, hl;

	if (len < 2)
		return;
	code = (uint16_t)(data[0] << 8 | data[1]);
	n = lg_ws_encode_close(out, code, (const char *)data + 2, len - 2, masked ? key : NULL);
	if (n < 0)
		return;
	check(n <= LG_WS_CLOSE_MAX);
	hl = lg_ws_decode_header(&c, out, (size_t)n, &f, &err);
	check(hl == (masked ? 6 : 2) && f.fin && f.opcode == LG_WS_CLOSE);
	check(f.length == (uint64_t)(n - hl) && f.length <= 125 && f.length != 1);
	lg_ws_mask(out + hl, f.length, f.key, 0);
	if (code == 0) {
		check(f.length == 0);
		return;
	}
	check(out[hl] == (code >> 8) && out[hl + 1] == (code & 0xff));
	check(lg_ws_utf8_valid((const char *)out + hl + 2, f.length - 2));
	check(memcmp(out + hl + 2, data + 2, f.length - 2) == 0);
}

/*
 * Input: mode byte (sender, extension bits, size limit, or Close encoding),
 * two split bytes, then the stream.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lg_ws_config c;
	struct trace ref, a, b, bytes;
	size_t len, s1, s2;
	uint8_t mode;

	if (size < 3)
		return 0;
	mode = data[0];
	len = size - 3;
	s1 = len ? data[1] * len / 256 : 0;
	s2 = len ? (size_t)data[2] * data[2] * len / 65536 : 0;
	data += 3;
	if (mode & 0x02) {
		close_round_trip(data, len, mode & 1);
		return 0;
	}
	c.sender = mode & 1 ? LG_WS_FROM_CLIENT : LG_WS_FROM_SERVER;
	c.rsv_allowed = (mode >> 2) & 7;
	c.max_payload = mode & 0x20 ? 200 : 0;
	lg_ws_utf8_valid((const char *)data, len);
	decode_prefixes(&c, data, len);
	ref = track(&c, data, len, 0, len);
	a = track(&c, data, len, s1, len);
	b = track(&c, data, len, s2, len);
	check(memcmp(&ref, &a, sizeof(a)) == 0 && memcmp(&ref, &b, sizeof(b)) == 0);
	if (len <= 4096) {
		bytes = track(&c, data, len, 0, 1);
		check(memcmp(&ref, &bytes, sizeof(bytes)) == 0);
	}
	return 0;
}
