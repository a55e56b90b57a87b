/* RFC 6455 WebSocket frame headers: decode, follow a byte stream frame by frame, encode Close. */
#include "ws.h"

#include <string.h>

enum { T_HEADER, T_PAYLOAD, T_ERROR };

/* Record an error; LG_WS_ERROR. */
static int
ws_fail(struct lg_ws_error *err, int code, const char *reason)
{
	err->close_code = code;
	err->reason = reason;
	return LG_WS_ERROR;
}

/* Whether op is one RFC 6455 defines. */
static bool
known_opcode(uint8_t op)
{
	return op <= LG_WS_BINARY || (op >= LG_WS_CLOSE && op <= LG_WS_PONG);
}

/* Check the first byte: FIN, RSV, opcode. */
static int
first_byte(const struct lg_ws_config *c, uint8_t b, struct lg_ws_frame *f, struct lg_ws_error *err)
{
	f->fin = (b & 0x80) != 0;
	f->rsv = (b >> 4) & 0x7;
	f->opcode = b & 0x0f;
	if (!known_opcode(f->opcode))
		return ws_fail(err, LG_WS_CLOSE_PROTOCOL_ERROR, "reserved opcode");
	if (f->rsv & ~c->rsv_allowed)
		return ws_fail(err, LG_WS_CLOSE_PROTOCOL_ERROR, "reserved bits set");
	if (f->rsv != 0 && f->opcode != LG_WS_TEXT && f->opcode != LG_WS_BINARY)
		return ws_fail(err, LG_WS_CLOSE_PROTOCOL_ERROR,
		               "extension bits on a non-data frame");
	if (f->opcode >= LG_WS_CLOSE && !f->fin)
		return ws_fail(err, LG_WS_CLOSE_PROTOCOL_ERROR, "fragmented control frame");
	return 0;
}

/* Check the second byte: mask bit for the sender, 7-bit length for control frames. */
static int
second_byte(const struct lg_ws_config *c, uint8_t b, struct lg_ws_frame *f, struct lg_ws_error *err)
{
	f->masked = (b & 0x80) != 0;
	f->length = b & 0x7f;
	if (f->masked != (c->sender == LG_WS_FROM_CLIENT))
		return ws_fail(err, LG_WS_CLOSE_PROTOCOL_ERROR,
		               f->masked ? "masked frame from the server"
		                         : "unmasked frame from the client");
	if (f->opcode >= LG_WS_CLOSE && f->length > 125)
		return ws_fail(err, LG_WS_CLOSE_PROTOCOL_ERROR, "control frame longer than 125");
	if (f->opcode == LG_WS_CLOSE && f->length == 1)
		return ws_fail(err, LG_WS_CLOSE_PROTOCOL_ERROR, "Close payload of one byte");
	return 0;
}

/* Read the 16- or 64-bit length, which must use the shortest form and fit 63 bits. */
static int
extended_length(const uint8_t *p, size_t n, struct lg_ws_frame *f, struct lg_ws_error *err)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++)
		v = v << 8 | p[i];
	if (n == 8 && (v >> 63) != 0)
		return ws_fail(err, LG_WS_CLOSE_PROTOCOL_ERROR, "payload length over 63 bits");
	if (v < (n == 2 ? 126 : 65536))
		return ws_fail(err, LG_WS_CLOSE_PROTOCOL_ERROR, "payload length not minimal");
	f->length = v;
	return 0;
}

/* Decode a frame header; errors are found in byte order, so partial input fails the same way. */
int
lg_ws_decode_header(const struct lg_ws_config *c, const uint8_t *buf, size_t len,
                    struct lg_ws_frame *f, struct lg_ws_error *err)
{
	size_t ext, hl;

	memset(f, 0, sizeof(*f));
	if (len < 1)
		return LG_WS_NEED_MORE;
	if (first_byte(c, buf[0], f, err) < 0)
		return LG_WS_ERROR;
	if (len < 2)
		return LG_WS_NEED_MORE;
	if (second_byte(c, buf[1], f, err) < 0)
		return LG_WS_ERROR;
	ext = f->length == 126 ? 2 : f->length == 127 ? 8 : 0;
	if (len < 2 + ext)
		return LG_WS_NEED_MORE;
	if (ext && extended_length(buf + 2, ext, f, err) < 0)
		return LG_WS_ERROR;
	if (c->max_payload != 0 && f->length > c->max_payload)
		return ws_fail(err, LG_WS_CLOSE_TOO_BIG, "frame too big");
	hl = 2 + ext + (f->masked ? 4 : 0);
	if (len < hl)
		return LG_WS_NEED_MORE;
	if (f->masked)
		memcpy(f->key, buf + 2 + ext, 4);
	f->header_len = hl;
	return (int)hl;
}

/* Start tracking a stream. */
void
lg_ws_tracker_init(struct lg_ws_tracker *t, const struct lg_ws_config *c)
{
	memset(t, 0, sizeof(*t));
	t->config = *c;
	t->state_ = T_HEADER;
}

/* Stop the tracker for good. */
static ssize_t
track_fail(struct lg_ws_tracker *t, const char *reason)
{
	t->state_ = T_ERROR;
	return ws_fail(&t->error, LG_WS_CLOSE_PROTOCOL_ERROR, reason);
}

/* Check a complete header against the frames before it (§5.4, §5.5.1). */
static ssize_t
frame_begins(struct lg_ws_tracker *t)
{
	struct lg_ws_frame *f = &t->frame;

	if (t->closed)
		return track_fail(t, "frame after Close");
	if (f->opcode == LG_WS_CONTINUATION && !t->in_message)
		return track_fail(t, "continuation without a message");
	if ((f->opcode == LG_WS_TEXT || f->opcode == LG_WS_BINARY) && t->in_message)
		return track_fail(t, "new message inside a fragmented one");
	if (f->opcode < LG_WS_CLOSE)
		t->in_message = !f->fin;
	t->remaining = f->length;
	t->state_ = T_PAYLOAD;
	return 0;
}

/* A frame's last byte went by. */
static void
frame_ends(struct lg_ws_tracker *t)
{
	if (t->frame.opcode == LG_WS_CLOSE)
		t->closed = true;
	t->frames++;
	t->hdr_len_ = 0;
	t->state_ = T_HEADER;
}

/* Take header bytes one by one until the header decodes. */
static ssize_t
track_header(struct lg_ws_tracker *t, const uint8_t *buf, size_t len)
{
	size_t i = 0;
	int r = LG_WS_NEED_MORE;

	while (i < len && r == LG_WS_NEED_MORE) {
		t->hdr_[t->hdr_len_++] = buf[i++];
		r = lg_ws_decode_header(&t->config, t->hdr_, t->hdr_len_, &t->frame, &t->error);
	}
	if (r == LG_WS_ERROR) {
		t->state_ = T_ERROR;
		return LG_WS_ERROR;
	}
	if (r >= 0 && frame_begins(t) < 0)
		return LG_WS_ERROR;
	return (ssize_t)i;
}

/* Consume up to the end of the current frame. */
ssize_t
lg_ws_track(struct lg_ws_tracker *t, const uint8_t *buf, size_t len)
{
	size_t i = 0, n;
	ssize_t r;

	if (t->state_ == T_ERROR)
		return LG_WS_ERROR;
	if (t->state_ == T_HEADER) {
		if ((r = track_header(t, buf, len)) < 0)
			return r;
		i = (size_t)r;
		if (t->state_ == T_HEADER)
			return (ssize_t)i;
	}
	n = len - i;
	if (n > t->remaining)
		n = (size_t)t->remaining;
	t->remaining -= n;
	i += n;
	if (t->remaining == 0)
		frame_ends(t);
	return (ssize_t)i;
}

/* Whether the stream is between frames. */
bool
lg_ws_at_boundary(const struct lg_ws_tracker *t)
{
	return t->state_ == T_HEADER && t->hdr_len_ == 0;
}

/* XOR with the masking key (§5.3). */
void
lg_ws_mask(uint8_t *p, size_t n, const uint8_t key[4], uint64_t offset)
{
	for (size_t i = 0; i < n; i++)
		p[i] ^= key[(offset + i) & 3];
}

/* Length of the UTF-8 sequence starting at s[0..n), 0 if invalid (RFC 3629). */
static size_t
utf8_char(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len;
	unsigned char lo = 0x80, hi = 0xbf;

	if (c < 0x80)
		return 1;
	if (c < 0xc2 || c > 0xf4)
		return 0;
	len = c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f; /* no surrogates */
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f; /* nothing above U+10FFFF */
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return len;
}

/* Whether s[0..n) is valid UTF-8. */
bool
lg_ws_utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, l;

	while (i < n) {
		if ((l = utf8_char(p + i, n - i)) == 0)
			return false;
		i += l;
	}
	return true;
}

/* Whether an endpoint may send this close code (§7.4.1: not 1004-1006, 1015). */
static bool
sendable_code(uint16_t code)
{
	return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
	       (code >= 3000 && code <= 4999);
}

/* Write a Close frame. */
int
lg_ws_encode_close(uint8_t out[LG_WS_CLOSE_MAX], uint16_t code, const char *reason,
                   size_t reason_len, const uint8_t *key)
{
	size_t n = 0, hl = key ? 6 : 2;

	if (code == 0 ? reason_len != 0 : !sendable_code(code))
		return -1;
	if (reason_len > 0 && !lg_ws_utf8_valid(reason, reason_len))
		return -1;
	if (reason_len > LG_WS_CLOSE_REASON_MAX) {
		reason_len = LG_WS_CLOSE_REASON_MAX;
		while (reason_len > 0 && ((unsigned char)reason[reason_len] & 0xc0) == 0x80)
			reason_len--;
	}
	if (code != 0) {
		out[hl] = (uint8_t)(code >> 8);
		out[hl + 1] = (uint8_t)code;
		if (reason_len > 0)
			memcpy(out + hl + 2, reason, reason_len);
		n = 2 + reason_len;
	}
	out[0] = 0x80 | LG_WS_CLOSE;
	out[1] = (uint8_t)n | (key ? 0x80 : 0);
	if (key) {
		memcpy(out + 2, key, 4);
		lg_ws_mask(out + hl, n, key, 0);
	}
	return (int)(hl + n);
}
