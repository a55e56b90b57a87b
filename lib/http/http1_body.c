/* The HTTP/1.1 body decoder (RFC 9112 §6-7): Content-Length, chunked with trailers, until close. */
#include "http1.h"
#include "http1_int.h"
#include "util.h"

#include <string.h>

enum body_state {
	B_DONE = 0,
	B_LENGTH,       /* Content-Length payload */
	B_CLOSE,        /* payload until the peer closes */
	B_SIZE_START,   /* first hex digit of a chunk-size */
	B_SIZE,         /* more hex digits */
	B_EXT_BWS,      /* BWS before ";" */
	B_EXT_NAME_BWS, /* BWS after ";" */
	B_EXT_NAME,
	B_EXT_NAME_END, /* BWS after a name: "=" or ";" */
	B_EXT_VAL_BWS,  /* BWS after "=" */
	B_EXT_TOKEN,
	B_EXT_QS,      /* inside a quoted-string */
	B_EXT_QS_ESC,  /* after a backslash in it */
	B_EXT_VAL_END, /* after the closing quote */
	B_SIZE_LF,     /* after the CR of the chunk line */
	B_DATA,
	B_DATA_CR,
	B_DATA_LF,
	B_TR_START, /* start of a trailer line, or the final CRLF */
	B_TR_NAME,
	B_TR_VALUE,
	B_TR_LF,
	B_TR_END_LF,
	B_ERROR
};

/* Record a body error and stop the decoder for good. */
static int
body_fail(struct lg_http_body *b, enum lg_http_err code)
{
	b->state_ = B_ERROR;
	return lg_http_set_error(&b->error, code, b->response_);
}

/* Start decoding a body. */
void
lg_http_body_init(struct lg_http_body *b, enum lg_http_framing framing, uint64_t length,
                  const struct lg_http_limits *limits, bool response)
{
	memset(b, 0, sizeof(*b));
	b->limits = limits ? limits : &lg_http_default_limits;
	b->response_ = response;
	switch (framing) {
	case LG_HTTP_BODY_LENGTH:
		b->remaining_ = length;
		b->state_ = length > 0 ? B_LENGTH : B_DONE;
		if (b->limits->max_body != 0 && length > b->limits->max_body)
			body_fail(b, LG_HTTP_E_BODY_TOO_LARGE);
		break;
	case LG_HTTP_BODY_CHUNKED:
		b->state_ = B_SIZE_START;
		break;
	case LG_HTTP_BODY_CLOSE:
	case LG_HTTP_BODY_TUNNEL:
		b->state_ = B_CLOSE;
		break;
	default:
		b->state_ = B_DONE;
	}
}

/* Whether c may appear unescaped in a quoted-string (qdtext). */
static bool
is_qdtext(unsigned char c)
{
	return c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5b) ||
	       (c >= 0x5d && c != 0x7f);
}

/* Where a chunk line goes after c ends a size or an extension element. */
static int
ext_end(unsigned char c)
{
	if (is_ows(c))
		return B_EXT_BWS;
	if (c == ';')
		return B_EXT_NAME_BWS;
	return c == '\r' ? B_SIZE_LF : B_ERROR;
}

/* One byte of a chunk extension (RFC 9112 §7.1.1): the next state or B_ERROR. */
static int
ext_byte(int state, unsigned char c)
{
	switch (state) {
	case B_EXT_BWS:
		return is_ows(c) ? B_EXT_BWS : c == ';' ? B_EXT_NAME_BWS : B_ERROR;
	case B_EXT_NAME_BWS:
		return is_ows(c) ? B_EXT_NAME_BWS : is_tchar(c) ? B_EXT_NAME : B_ERROR;
	case B_EXT_NAME:
		if (is_tchar(c))
			return B_EXT_NAME;
		if (c == '=')
			return B_EXT_VAL_BWS;
		return is_ows(c) ? B_EXT_NAME_END : ext_end(c);
	case B_EXT_NAME_END:
		return is_ows(c)  ? B_EXT_NAME_END
		       : c == '=' ? B_EXT_VAL_BWS
		       : c == ';' ? B_EXT_NAME_BWS
		                  : B_ERROR;
	case B_EXT_VAL_BWS:
		return is_ows(c)     ? B_EXT_VAL_BWS
		       : is_tchar(c) ? B_EXT_TOKEN
		       : c == '"'    ? B_EXT_QS
		                     : B_ERROR;
	case B_EXT_TOKEN:
		return is_tchar(c) ? B_EXT_TOKEN : ext_end(c);
	case B_EXT_QS:
		return c == '"'       ? B_EXT_VAL_END
		       : c == '\\'    ? B_EXT_QS_ESC
		       : is_qdtext(c) ? B_EXT_QS
		                      : B_ERROR;
	case B_EXT_QS_ESC:
		return is_value_char(c) ? B_EXT_QS : B_ERROR;
	case B_EXT_VAL_END:
		return ext_end(c);
	}
	return B_ERROR;
}

/* The end of a chunk line: data follows, or the trailer section after the last chunk. */
static int
chunk_line_end(struct lg_http_body *b)
{
	uint64_t max = b->limits->max_body;

	b->line_ = 0;
	if (b->remaining_ == 0) {
		b->state_ = B_TR_START;
		return 0;
	}
	if (max != 0 && b->remaining_ > max - b->received)
		return body_fail(b, LG_HTTP_E_BODY_TOO_LARGE);
	b->state_ = B_DATA;
	return 0;
}

/* One byte of a chunk-size line: size, extensions, CRLF. */
static int
chunk_line_byte(struct lg_http_body *b, unsigned char c)
{
	int v = lg_hex_value(c), next;

	if (++b->line_ > b->limits->max_chunk_line)
		return body_fail(b, LG_HTTP_E_CHUNK_LINE_TOO_LONG);
	if (c == '\n' && b->state_ != B_SIZE_LF)
		return body_fail(b, LG_HTTP_E_BARE_LF);
	switch (b->state_) {
	case B_SIZE_START:
		if (v < 0)
			return body_fail(b, LG_HTTP_E_CHUNK_SIZE);
		b->remaining_ = (uint64_t)v;
		b->state_ = B_SIZE;
		return 0;
	case B_SIZE:
		if (v >= 0) {
			if (b->remaining_ > (INT64_MAX >> 4))
				return body_fail(b, LG_HTTP_E_CHUNK_SIZE);
			b->remaining_ = b->remaining_ * 16 + (uint64_t)v;
			return 0;
		}
		if ((b->state_ = ext_end(c)) == B_ERROR)
			return body_fail(b, LG_HTTP_E_CHUNK_SIZE);
		return 0;
	case B_SIZE_LF:
		if (c != '\n')
			return body_fail(b, LG_HTTP_E_BARE_CR);
		return chunk_line_end(b);
	}
	if ((next = ext_byte(b->state_, c)) == B_ERROR)
		return body_fail(b, LG_HTTP_E_CHUNK_EXT);
	b->state_ = next;
	return 0;
}

/* One byte of the trailer section, checked like a header field line. */
static int
trailer_byte(struct lg_http_body *b, unsigned char c)
{
	if (++b->line_ > b->limits->max_trailer)
		return body_fail(b, LG_HTTP_E_TRAILER_TOO_LARGE);
	switch (b->state_) {
	case B_TR_START:
		b->state_ = c == '\r' ? B_TR_END_LF : is_tchar(c) ? B_TR_NAME : B_ERROR;
		break;
	case B_TR_NAME:
		b->state_ = is_tchar(c) ? B_TR_NAME : c == ':' ? B_TR_VALUE : B_ERROR;
		break;
	case B_TR_VALUE:
		b->state_ = c == '\r' ? B_TR_LF : is_value_char(c) ? B_TR_VALUE : B_ERROR;
		break;
	case B_TR_LF:
		b->state_ = c == '\n' ? B_TR_START : B_ERROR;
		break;
	case B_TR_END_LF:
		b->state_ = c == '\n' ? B_DONE : B_ERROR;
		break;
	}
	return b->state_ == B_ERROR ? body_fail(b, LG_HTTP_E_TRAILER) : 0;
}

/* One framing byte of a chunked body. */
static int
chunked_byte(struct lg_http_body *b, unsigned char c)
{
	switch (b->state_) {
	case B_DATA_CR:
		if (c != '\r')
			return body_fail(b, LG_HTTP_E_CHUNK_CRLF);
		b->state_ = B_DATA_LF;
		return 0;
	case B_DATA_LF:
		if (c != '\n')
			return body_fail(b, LG_HTTP_E_CHUNK_CRLF);
		b->state_ = B_SIZE_START;
		b->line_ = 0;
		return 0;
	}
	if (b->state_ >= B_TR_START)
		return trailer_byte(b, c);
	return chunk_line_byte(b, c);
}

/* Take payload at buf[i..len): up to the chunk's or the body's end, or the body limit. */
static ssize_t
take(struct lg_http_body *b, const char *buf, size_t i, size_t len, struct lg_http_str *data)
{
	uint64_t max = b->limits->max_body;
	size_t n = len - i;

	if (b->state_ == B_CLOSE) {
		if (max != 0 && n > max - b->received)
			n = (size_t)(max - b->received);
		if (n == 0)
			return body_fail(b, LG_HTTP_E_BODY_TOO_LARGE);
	} else if (n > b->remaining_) {
		n = (size_t)b->remaining_;
	}
	data->p = buf + i;
	data->len = n;
	b->received += n;
	if (b->state_ != B_CLOSE && (b->remaining_ -= n) == 0)
		b->state_ = b->state_ == B_LENGTH ? B_DONE : B_DATA_CR;
	return (ssize_t)(i + n);
}

/* Consume framing up to and including at most one run of payload. */
ssize_t
lg_http_body_feed(struct lg_http_body *b, const char *buf, size_t len, struct lg_http_str *data)
{
	size_t i = 0;

	data->p = buf;
	data->len = 0;
	for (;;) {
		if (b->state_ == B_ERROR)
			return LG_HTTP_ERROR;
		if (b->state_ == B_DONE || i == len)
			return (ssize_t)i;
		if (b->state_ == B_LENGTH || b->state_ == B_DATA || b->state_ == B_CLOSE)
			return take(b, buf, i, len, data);
		if (chunked_byte(b, (unsigned char)buf[i++]) < 0)
			return LG_HTTP_ERROR;
		/* The last-chunk line ends here: return so a proxy can treat trailers apart. */
		if (b->state_ == B_TR_START && b->line_ == 0)
			return (ssize_t)i;
	}
}

/* Whether the decoder is inside the trailer section (after the last-chunk line). */
bool
lg_http_body_in_trailers(const struct lg_http_body *b)
{
	return b->state_ >= B_TR_START && b->state_ <= B_TR_END_LF;
}

/* Whether the whole body has been consumed. */
bool
lg_http_body_done(const struct lg_http_body *b)
{
	return b->state_ == B_DONE;
}

/* The peer closed the connection. */
int
lg_http_body_eof(struct lg_http_body *b)
{
	if (b->state_ == B_CLOSE)
		b->state_ = B_DONE;
	if (b->state_ == B_DONE)
		return 0;
	if (b->state_ == B_ERROR)
		return LG_HTTP_ERROR;
	return body_fail(b, LG_HTTP_E_TRUNCATED);
}

/* Payload bytes that may go past the decoder: the rest of a Content-Length body. */
uint64_t
lg_http_body_passable(const struct lg_http_body *b)
{
	return b->state_ == B_LENGTH ? b->remaining_ : 0;
}

/* Count n payload bytes moved past the decoder. */
void
lg_http_body_passed(struct lg_http_body *b, uint64_t n)
{
	if (b->state_ != B_LENGTH || n == 0)
		return;
	if (n > b->remaining_)
		n = b->remaining_;
	b->received += n;
	if ((b->remaining_ -= n) == 0)
		b->state_ = B_DONE;
}
