/* RFC 6455 WebSocket frame headers: decode, follow a byte stream frame by frame, encode Close. */
#ifndef LG_WS_H
#define LG_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Same convention as http1.h: bytes consumed, or one of these. */
#define LG_WS_ERROR     (-1)
#define LG_WS_NEED_MORE (-2)

/* The longest frame header: 2 + 8 (length) + 4 (mask key). */
#define LG_WS_MAX_HEADER 14
/* Room for any Close frame lg_ws_encode_close() writes: header, key, 125 bytes of payload. */
#define LG_WS_CLOSE_MAX (2 + 4 + 125)
/* Longest Close reason: the payload is at most 125 bytes, 2 of them the code. */
#define LG_WS_CLOSE_REASON_MAX 123

enum lg_ws_opcode {
	LG_WS_CONTINUATION = 0x0,
	LG_WS_TEXT = 0x1,
	LG_WS_BINARY = 0x2,
	LG_WS_CLOSE = 0x8,
	LG_WS_PING = 0x9,
	LG_WS_PONG = 0xa
};

/* Close codes (RFC 6455 §7.4) and ours (DESIGN.md). */
#define LG_WS_CLOSE_NORMAL         1000
#define LG_WS_CLOSE_GOING_AWAY     1001
#define LG_WS_CLOSE_PROTOCOL_ERROR 1002
#define LG_WS_CLOSE_TOO_BIG        1009
#define LG_WS_CLOSE_LESSON_LIMIT   4001
#define LG_WS_CLOSE_DAY_END        4002

/* Who sent the frames: clients must mask every frame, servers must not (§5.1). */
enum lg_ws_sender { LG_WS_FROM_CLIENT, LG_WS_FROM_SERVER };

struct lg_ws_config {
	enum lg_ws_sender sender;
	uint8_t rsv_allowed;  /* RSV bits an extension negotiated (0x4 = RSV1), data frames only */
	uint64_t max_payload; /* per frame; 0 = only the 63-bit limit */
};

struct lg_ws_error {
	int close_code;     /* what to close with: 1002 protocol error, 1009 too big */
	const char *reason; /* short static text */
};

struct lg_ws_frame {
	bool fin;
	uint8_t rsv; /* RSV1..3 as bits 2..0 */
	uint8_t opcode;
	bool masked;
	uint8_t key[4];
	uint64_t length;
	size_t header_len;
};

/* Decode a frame header from buf[0..len): its length, NEED_MORE or ERROR (reason in err). */
int lg_ws_decode_header(const struct lg_ws_config *, const uint8_t *buf, size_t len,
                        struct lg_ws_frame *f, struct lg_ws_error *err);

/*
 * Follows one direction of a WebSocket connection through its frames, so a
 * proxy forwarding raw bytes knows where frame boundaries are (a Close frame
 * may be injected only there) and whether a fragmented message is open.
 * Fields ending in _ are private.
 */
struct lg_ws_tracker {
	struct lg_ws_config config;
	struct lg_ws_error error;
	struct lg_ws_frame frame; /* the frame being read, once its header is complete */
	uint64_t remaining;       /* payload bytes of that frame still to come */
	bool in_message;          /* a fragmented data message has begun and not finished */
	bool closed;              /* a whole Close frame has gone by: nothing may follow */
	uint64_t frames;          /* complete frames seen */
	uint8_t hdr_[LG_WS_MAX_HEADER];
	uint8_t hdr_len_;
	uint8_t state_;
};

/* Start tracking a stream whose frames come from config->sender. */
void lg_ws_tracker_init(struct lg_ws_tracker *, const struct lg_ws_config *);
/* Consume buf[0..len) up to the end of the current frame at most: bytes consumed or ERROR. */
ssize_t lg_ws_track(struct lg_ws_tracker *, const uint8_t *buf, size_t len);
/* Whether the stream is between two frames (nothing of the next one read yet). */
bool lg_ws_at_boundary(const struct lg_ws_tracker *);

/* XOR p[0..n) with key, as if p started offset bytes into a payload. */
void lg_ws_mask(uint8_t *p, size_t n, const uint8_t key[4], uint64_t offset);
/* Whether s[0..n) is valid UTF-8 (no overlongs, surrogates, or code points above U+10FFFF). */
bool lg_ws_utf8_valid(const char *s, size_t n);
/*
 * Write a Close frame with code (0: no code, no reason) and a UTF-8 reason cut
 * at a character boundary to fit; masked with key for the client direction,
 * unmasked when key is NULL. Frame length, or -1 for a code one may not send
 * or a reason that is not UTF-8.
 */
int lg_ws_encode_close(uint8_t out[LG_WS_CLOSE_MAX], uint16_t code, const char *reason,
                       size_t reason_len, const uint8_t *key);

#endif
