/* Strict, incremental HTTP/1.1 parsing (RFC 9110, RFC 9112): request and response heads. */
#include "http1.h"
#include "http1_int.h"

#include <limits.h>
#include <string.h>
#include <strings.h>

struct errinfo {
	int status;
	const char *reason;
};

static const struct errinfo errinfo[LG_HTTP_E_COUNT] = {
    [LG_HTTP_E_NONE] = {0, "no error"},
    [LG_HTTP_E_BARE_LF] = {400, "line ends in LF without CR"},
    [LG_HTTP_E_BARE_CR] = {400, "CR not followed by LF"},
    [LG_HTTP_E_START_LINE_TOO_LONG] = {414, "request line too long"},
    [LG_HTTP_E_TARGET_TOO_LONG] = {414, "request target too long"},
    [LG_HTTP_E_HEAD_TOO_LARGE] = {431, "header section too large"},
    [LG_HTTP_E_TOO_MANY_FIELDS] = {431, "too many header fields"},
    [LG_HTTP_E_REQUEST_LINE] = {400, "malformed request line"},
    [LG_HTTP_E_METHOD] = {400, "malformed method"},
    [LG_HTTP_E_HTTP09] = {400, "HTTP/0.9 request"},
    [LG_HTTP_E_TARGET] = {400, "malformed request target"},
    [LG_HTTP_E_TARGET_FORM] = {400, "request target form not allowed for this method"},
    [LG_HTTP_E_VERSION] = {400, "malformed HTTP version"},
    [LG_HTTP_E_VERSION_UNSUPPORTED] = {505, "HTTP version not supported"},
    [LG_HTTP_E_STATUS_LINE] = {502, "malformed status line"},
    [LG_HTTP_E_LEADING_WS] = {400, "whitespace before the first header field"},
    [LG_HTTP_E_OBS_FOLD] = {400, "obsolete line folding"},
    [LG_HTTP_E_FIELD_NAME] = {400, "malformed header field name"},
    [LG_HTTP_E_WS_BEFORE_COLON] = {400, "whitespace between field name and colon"},
    [LG_HTTP_E_FIELD_VALUE] = {400, "control character in header field value"},
    [LG_HTTP_E_HOST_MISSING] = {400, "missing Host"},
    [LG_HTTP_E_HOST_DUPLICATE] = {400, "duplicate Host"},
    [LG_HTTP_E_HOST_INVALID] = {400, "invalid Host"},
    [LG_HTTP_E_CL_INVALID] = {400, "invalid Content-Length"},
    [LG_HTTP_E_CL_DUPLICATE] = {400, "duplicate Content-Length"},
    [LG_HTTP_E_TE_INVALID] = {400, "malformed Transfer-Encoding"},
    [LG_HTTP_E_TE_CHUNKED] = {400, "chunked is not the single final transfer coding"},
    [LG_HTTP_E_TE_UNKNOWN] = {501, "unsupported transfer coding"},
    [LG_HTTP_E_TE_HTTP10] = {400, "Transfer-Encoding in an HTTP/1.0 message"},
    [LG_HTTP_E_TE_AND_CL] = {400, "both Transfer-Encoding and Content-Length"},
    [LG_HTTP_E_CONNECT_BODY] = {400, "CONNECT with a body"},
    [LG_HTTP_E_CONNECTION] = {400, "malformed Connection"},
    [LG_HTTP_E_CONNECTION_FRAMING] = {400, "Connection lists a framing header"},
    [LG_HTTP_E_UPGRADE] = {400, "malformed Upgrade"},
    [LG_HTTP_E_EXPECT] = {417, "unsupported expectation"},
    [LG_HTTP_E_BODY_TOO_LARGE] = {413, "body too large"},
    [LG_HTTP_E_CHUNK_SIZE] = {400, "invalid chunk size"},
    [LG_HTTP_E_CHUNK_EXT] = {400, "malformed chunk extension"},
    [LG_HTTP_E_CHUNK_LINE_TOO_LONG] = {400, "chunk line too long"},
    [LG_HTTP_E_CHUNK_CRLF] = {400, "chunk data not followed by CRLF"},
    [LG_HTTP_E_TRAILER] = {400, "malformed trailer field"},
    [LG_HTTP_E_TRAILER_TOO_LARGE] = {431, "trailer section too large"},
    [LG_HTTP_E_TRUNCATED] = {400, "connection closed inside the body"},
};

const struct lg_http_limits lg_http_default_limits = {8192, 8000, 32768, 4096, 8192, 0};

/* tchar (RFC 9110 §5.6.2). */
const uint8_t lg_http_tchar[256] = {
    ['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1, ['!'] = 1, ['#'] = 1, ['$'] = 1,
    ['%'] = 1,         ['&'] = 1,         ['\''] = 1,        ['*'] = 1, ['+'] = 1, ['-'] = 1,
    ['.'] = 1,         ['^'] = 1,         ['_'] = 1,         ['`'] = 1, ['|'] = 1, ['~'] = 1,
};

/* Whether c may appear in a request-target: visible ASCII, no fragment. */
static bool
is_target_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f && c != '#';
}

/* Whether c may appear in a host name (a strict subset of reg-name, no pct-encoding). */
static bool
is_host_char(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

/* Whether c is a hex digit. */
static bool
is_hex(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Whether s[0..n) is exactly word, ignoring case (inline: a literal's strlen is a constant). */
static inline bool
str_is(const char *s, size_t n, const char *word)
{
	return strlen(word) == n && strncasecmp(s, word, n) == 0;
}

/* Whether s[0..n) is a non-empty token. */
static bool
is_token(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!is_tchar((unsigned char)s[i]))
			return false;
	return n > 0;
}

/* Record an error; responses always answer 502. */
int
lg_http_set_error(struct lg_http_error *e, enum lg_http_err code, bool response)
{
	e->code = code;
	e->status = response ? 502 : errinfo[code].status;
	e->reason = errinfo[code].reason;
	return LG_HTTP_ERROR;
}

/* Record a head parser error. */
static int
fail(struct lg_http_parser *p, enum lg_http_err code)
{
	return lg_http_set_error(&p->error, code, p->response_);
}

/* Short text for an error code. */
const char *
lg_http_strerror(enum lg_http_err code)
{
	if ((unsigned)code >= LG_HTTP_E_COUNT)
		return "unknown error";
	return errinfo[code].reason;
}

/* Fill limits with defaults. */
void
lg_http_limits_default(struct lg_http_limits *l)
{
	*l = lg_http_default_limits;
}

/* Prepare p for a new message head. */
void
lg_http_parser_init(struct lg_http_parser *p, const struct lg_http_limits *limits,
                    struct lg_http_header *headers, size_t max_headers)
{
	memset(p, 0, sizeof(*p));
	p->limits = limits ? limits : &lg_http_default_limits;
	p->headers = headers;
	p->max_headers = max_headers;
}

/* Next element of a comma-separated list (RFC 9110 §5.6.1), OWS trimmed, empty ones skipped. */
static bool
list_next(const char **pp, const char *end, struct lg_http_str *el)
{
	const char *p = *pp, *s, *e;

	while (p < end && (is_ows((unsigned char)*p) || *p == ','))
		p++;
	if (p == end) {
		*pp = p;
		return false;
	}
	s = p;
	while (p < end && *p != ',')
		p++;
	e = p;
	while (e > s && is_ows((unsigned char)e[-1]))
		e--;
	el->p = s;
	el->len = (size_t)(e - s);
	*pp = p;
	return true;
}

/* Check host [ ":" port ] (RFC 3986 authority without userinfo); 0 if valid. */
static int
check_authority(const char *s, size_t n, bool need_port)
{
	size_t i = 0, digits = 0;
	unsigned long port = 0;
	bool colon = false;

	if (n > 0 && s[0] == '[') {
		for (i = 1; i < n && s[i] != ']'; i++) {
			if (s[i] == ':')
				colon = true;
			else if (!is_hex((unsigned char)s[i]) && s[i] != '.')
				return -1;
		}
		if (i == n || !colon)
			return -1;
		i++;
	} else {
		while (i < n && is_host_char((unsigned char)s[i]))
			i++;
		if (i == 0)
			return -1;
	}
	if (i == n)
		return need_port ? -1 : 0;
	if (s[i++] != ':')
		return -1;
	for (; i < n; i++, digits++) {
		if (s[i] < '0' || s[i] > '9' || digits == 5)
			return -1;
		port = port * 10 + (unsigned long)(s[i] - '0');
	}
	return digits > 0 && port <= 65535 ? 0 : -1;
}

/* Check an HTTP-version; 0 and the minor version, or an error code. */
static enum lg_http_err
parse_version(const char *v, size_t n, int *minor)
{
	if (n != 8 || memcmp(v, "HTTP/", 5) != 0 || v[5] < '0' || v[5] > '9' || v[6] != '.' ||
	    v[7] < '0' || v[7] > '9')
		return LG_HTTP_E_VERSION;
	if (v[5] != '1' || v[7] > '1')
		return LG_HTTP_E_VERSION_UNSUPPORTED;
	*minor = v[7] - '0';
	return LG_HTTP_E_NONE;
}

static const struct {
	const char *name;
	enum lg_http_method method;
} methods[] = {
    {"GET", LG_HTTP_GET},         {"HEAD", LG_HTTP_HEAD},     {"POST", LG_HTTP_POST},
    {"PUT", LG_HTTP_PUT},         {"DELETE", LG_HTTP_DELETE}, {"CONNECT", LG_HTTP_CONNECT},
    {"OPTIONS", LG_HTTP_OPTIONS}, {"TRACE", LG_HTTP_TRACE},   {"PATCH", LG_HTTP_PATCH},
};

/* The enum of a method name (methods are case-sensitive). */
static enum lg_http_method
method_of(const char *s, size_t n)
{
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strlen(methods[i].name) == n && memcmp(methods[i].name, s, n) == 0)
			return methods[i].method;
	return LG_HTTP_OTHER;
}

/* Split an absolute-form http(s) target into authority and path. */
static enum lg_http_err
absolute_form(struct lg_http_request *r)
{
	const char *t = r->target.p, *end = t + r->target.len, *a;
	size_t skip;

	if (r->target.len > 7 && strncasecmp(t, "http://", 7) == 0)
		skip = 7;
	else if (r->target.len > 8 && strncasecmp(t, "https://", 8) == 0)
		skip = 8;
	else
		return check_authority(t, r->target.len, false) == 0 ? LG_HTTP_E_TARGET_FORM
		                                                     : LG_HTTP_E_TARGET;
	a = t + skip;
	r->host.p = a;
	while (a < end && *a != '/' && *a != '?')
		a++;
	r->host.len = (size_t)(a - r->host.p);
	if (check_authority(r->host.p, r->host.len, false) != 0)
		return LG_HTTP_E_TARGET;
	r->path.p = a;
	r->path.len = (size_t)(end - a);
	r->form = LG_HTTP_ABSOLUTE_FORM;
	r->host_from_target = true;
	return LG_HTTP_E_NONE;
}

/* Decide the target's form, which must suit the method (RFC 9112 §3.2). */
static enum lg_http_err
target_form(struct lg_http_request *r)
{
	const char *t = r->target.p;
	size_t n = r->target.len;

	if (r->method == LG_HTTP_CONNECT) {
		if (t[0] == '/' || (n == 1 && t[0] == '*'))
			return LG_HTTP_E_TARGET_FORM;
		if (check_authority(t, n, true) != 0)
			return LG_HTTP_E_TARGET;
		r->form = LG_HTTP_AUTHORITY_FORM;
		r->host = r->target;
		r->host_from_target = true;
		return LG_HTTP_E_NONE;
	}
	if (t[0] == '/') {
		r->form = LG_HTTP_ORIGIN_FORM;
		r->path = r->target;
		return LG_HTTP_E_NONE;
	}
	if (n == 1 && t[0] == '*') {
		r->form = LG_HTTP_ASTERISK_FORM;
		return r->method == LG_HTTP_OPTIONS ? LG_HTTP_E_NONE : LG_HTTP_E_TARGET_FORM;
	}
	return absolute_form(r);
}

/* Parse "method SP request-target SP HTTP-version" (no CRLF) into r. */
static int
request_line(struct lg_http_parser *p, const char *s, size_t n, struct lg_http_request *r)
{
	size_t i = 0, t;
	enum lg_http_err e;

	while (i < n && is_tchar((unsigned char)s[i]))
		i++;
	if (i < n && s[i] != ' ')
		return fail(p, LG_HTTP_E_METHOD);
	if (i == 0 || i == n)
		return fail(p, LG_HTTP_E_REQUEST_LINE);
	r->method_name.p = s;
	r->method_name.len = i;
	r->method = method_of(s, i);
	t = ++i;
	while (i < n && s[i] != ' ')
		i++;
	if (i == t)
		return fail(p, LG_HTTP_E_REQUEST_LINE);
	if (i - t > p->limits->max_target)
		return fail(p, LG_HTTP_E_TARGET_TOO_LONG);
	for (size_t j = t; j < i; j++)
		if (!is_target_char((unsigned char)s[j]))
			return fail(p, LG_HTTP_E_TARGET);
	if (i == n)
		return fail(p, LG_HTTP_E_HTTP09);
	i++;
	if (memchr(s + i, ' ', n - i) != NULL)
		return fail(p, LG_HTTP_E_REQUEST_LINE);
	if ((e = parse_version(s + i, n - i, &r->minor_version)) != LG_HTTP_E_NONE)
		return fail(p, e);
	r->target.p = s + t;
	r->target.len = i - 1 - t;
	if ((e = target_form(r)) != LG_HTTP_E_NONE)
		return fail(p, e);
	return 0;
}

/* Parse "HTTP-version SP 3DIGIT SP reason-phrase" (no CRLF) into r. */
static int
status_line(struct lg_http_parser *p, const char *s, size_t n, struct lg_http_response *r)
{
	if (n < 13 || s[8] != ' ' || s[12] != ' ' || s[9] < '1' || s[9] > '5' || s[10] < '0' ||
	    s[10] > '9' || s[11] < '0' || s[11] > '9' ||
	    parse_version(s, 8, &r->minor_version) != LG_HTTP_E_NONE)
		return fail(p, LG_HTTP_E_STATUS_LINE);
	r->status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
	for (size_t i = 13; i < n; i++)
		if (!is_value_char((unsigned char)s[i]))
			return fail(p, LG_HTTP_E_STATUS_LINE);
	r->reason.p = s + 13;
	r->reason.len = n - 13;
	return 0;
}

/* A word of 8 bytes, each b. */
#define BYTES8(b) (UINT64_C(0x0101010101010101) * (b))

/* Whether some byte of w is below 0x20 or is 0x7f (HTAB aside, what a field value refuses). */
static inline bool
word_has_ctl(uint64_t w)
{
	uint64_t del = w ^ BYTES8(0x7f);

	return (((w - BYTES8(0x20)) & ~w) | ((del - BYTES8(0x01)) & ~del)) & BYTES8(0x80);
}

/*
 * The first byte of s[e..n) that may not appear in a field value, or n; eight
 * bytes at a time while none is a control byte (HTAB, the one allowed, is
 * looked at byte by byte).
 */
static size_t
value_end(const char *s, size_t e, size_t n)
{
	uint64_t w;
	size_t stop;

	for (;;) {
		while (e + 8 <= n) {
			memcpy(&w, s + e, 8);
			if (word_has_ctl(w))
				break;
			e += 8;
		}
		stop = e + 8 < n ? e + 8 : n;
		for (; e < stop; e++)
			if (!is_value_char((unsigned char)s[e]))
				return e;
		if (e == n)
			return n;
	}
}

/* Parse "name: OWS value OWS" (no CRLF) into h. */
static int
field_line(struct lg_http_parser *p, const char *s, size_t n, struct lg_http_header *h)
{
	size_t i = 0, v, e;

	if (is_ows((unsigned char)s[0]))
		return fail(p, p->nfields_ == 0 ? LG_HTTP_E_LEADING_WS : LG_HTTP_E_OBS_FOLD);
	while (i < n && is_tchar((unsigned char)s[i]))
		i++;
	if (i < n && is_ows((unsigned char)s[i])) {
		for (v = i; v < n && is_ows((unsigned char)s[v]); v++)
			;
		return fail(p, v < n && s[v] == ':' ? LG_HTTP_E_WS_BEFORE_COLON
		                                    : LG_HTTP_E_FIELD_NAME);
	}
	if (i == 0 || i == n || s[i] != ':')
		return fail(p, LG_HTTP_E_FIELD_NAME);
	h->name = s;
	h->name_len = i;
	for (v = i + 1; v < n && is_ows((unsigned char)s[v]); v++)
		;
	if ((e = value_end(s, v, n)) < n)
		return fail(p, LG_HTTP_E_FIELD_VALUE);
	while (e > v && is_ows((unsigned char)s[e - 1]))
		e--;
	h->value = s + v;
	h->value_len = e - v;
	return 0;
}

/* Check the start line this parser expects: a request line or a status line. */
static int
start_line(struct lg_http_parser *p, const char *s, size_t n, void *out)
{
	if (p->response_)
		return status_line(p, s, n, out);
	return request_line(p, s, n, out);
}

/* A limit clamped so that a head length always fits the int we return. */
static size_t
clamp(size_t limit)
{
	return limit < INT_MAX / 4 ? limit : INT_MAX / 4;
}

/* A line s[0..n) (without its CRLF) failed its checks: a bare CR in it is the error to report. */
static int
line_error(struct lg_http_parser *p, const char *s, size_t n)
{
	if (memchr(s, '\r', n) != NULL)
		return fail(p, LG_HTTP_E_BARE_CR);
	return LG_HTTP_ERROR;
}

/*
 * Check one complete line: s[0..n) is everything before its LF, next the
 * offset just past that LF. 1 at the blank line that ends the head, 0 to go
 * on. Length checks come first and measure what partial_line() measures, so a
 * line fails the same way however its bytes arrived.
 */
static int
head_line(struct lg_http_parser *p, const char *s, size_t n, size_t next, void *start_out,
          struct lg_http_header *h)
{
	bool cr = n > 0 && s[n - 1] == '\r';

	if (!p->started_ && next - 1 - cr > clamp(p->limits->max_start_line))
		return fail(p, LG_HTTP_E_START_LINE_TOO_LONG);
	if (p->started_ && next - p->fields_ > clamp(p->limits->max_fields))
		return fail(p, LG_HTTP_E_HEAD_TOO_LARGE);
	if (!cr)
		return fail(p, LG_HTTP_E_BARE_LF);
	/* A line that passes its checks holds no CR but its last byte: look for a bare one only
	 * when a check failed, and report it first, as if looked for before. */
	if (!p->started_) {
		if (n == 1 && !p->response_)
			return 0; /* an empty line before a request-line is ignored (§2.2) */
		if (start_line(p, s, n - 1, start_out) < 0)
			return line_error(p, s, n - 1);
		p->started_ = true;
		p->fields_ = next;
		return 0;
	}
	if (n == 1)
		return 1;
	if (field_line(p, s, n - 1, h) < 0)
		return line_error(p, s, n - 1);
	if (p->nfields_ == p->max_headers)
		return fail(p, LG_HTTP_E_TOO_MANY_FIELDS);
	p->nfields_++;
	return 0;
}

/* The length checks of head_line() for a line whose LF has not arrived yet. */
static int
partial_line(struct lg_http_parser *p, const char *buf, size_t len)
{
	size_t end = len;

	if (len > p->pos_ && buf[len - 1] == '\r')
		end--; /* maybe the CR of the CRLF */
	if (!p->started_ && end > clamp(p->limits->max_start_line))
		return fail(p, LG_HTTP_E_START_LINE_TOO_LONG);
	if (p->started_ && len - p->fields_ > clamp(p->limits->max_fields))
		return fail(p, LG_HTTP_E_HEAD_TOO_LARGE);
	return LG_HTTP_NEED_MORE;
}

/*
 * Check the lines that ended since the last call; the head length once the
 * blank line is in. start_out receives the parsed start line. When the call
 * checks the whole head (it arrived at once, the usual case), the fields go
 * straight into p->headers and *whole is set: no second walk is needed.
 * Otherwise the fields checked by earlier calls point into a buffer that may
 * have moved or been reused, so nothing is kept and collect() walks again.
 */
static int
scan_head(struct lg_http_parser *p, const char *buf, size_t len, void *start_out, bool *whole)
{
	struct lg_http_header scratch, *h;
	const char *lf;
	size_t next;
	int r;

	if (p->error.code != LG_HTTP_E_NONE)
		return LG_HTTP_ERROR;
	if (len < p->scan_) /* not the same buffer grown: start over */
		lg_http_parser_init(p, p->limits, p->headers, p->max_headers);
	*whole = p->scan_ == 0;
	for (;;) {
		lf = p->scan_ < len ? memchr(buf + p->scan_, '\n', len - p->scan_) : NULL;
		if (lf == NULL) {
			p->scan_ = len;
			return partial_line(p, buf, len);
		}
		next = (size_t)(lf - buf) + 1;
		h = *whole && p->nfields_ < p->max_headers ? &p->headers[p->nfields_] : &scratch;
		r = head_line(p, buf + p->pos_, next - 1 - p->pos_, next, start_out, h);
		if (r != 0)
			return r < 0 ? r : (int)next;
		p->pos_ = p->scan_ = next;
	}
}

/*
 * Walk the checked head again to point the start line and the headers into
 * this buffer (it may have moved since the lines were checked).
 */
static void
collect(struct lg_http_parser *p, const char *buf, size_t head_len, void *start_out)
{
	struct lg_http_parser again = *p;
	struct lg_http_header scratch, *h;
	size_t pos = 0, n;

	again.started_ = false;
	again.nfields_ = 0;
	while (pos < head_len) {
		n = (size_t)((const char *)memchr(buf + pos, '\n', head_len - pos) - buf) - pos;
		h = again.nfields_ < again.max_headers ? &again.headers[again.nfields_] : &scratch;
		if (head_line(&again, buf + pos, n, pos + n + 1, start_out, h) != 0)
			break;
		pos += n + 1;
	}
	p->nfields_ = again.nfields_;
}

/* Parse a Content-Length value: 1*DIGIT, at most 2^63 - 1. */
static int
parse_length(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (n == 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (v > (INT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return 0;
}

/* Whether a response may carry this transfer coding before chunked. */
static bool
known_coding(const char *s, size_t n)
{
	return str_is(s, n, "gzip") || str_is(s, n, "x-gzip") || str_is(s, n, "deflate") ||
	       str_is(s, n, "compress") || str_is(s, n, "x-compress");
}

/* The fields that decide framing and connection handling, gathered in one pass. */
struct semantics {
	const struct lg_http_header *host, *cl, *te;
	size_t nhost, ncl, nte;
	unsigned connection;
	bool upgrade_websocket, expect_continue;
	enum lg_http_err err; /* first error found in Connection/Upgrade/Expect */
};

/* Record the first error of a semantic pass. */
static void
sem_error(struct semantics *m, enum lg_http_err e)
{
	if (m->err == LG_HTTP_E_NONE)
		m->err = e;
}

/* Read the options of one Connection field. */
static void
sem_connection(struct semantics *m, const struct lg_http_header *h)
{
	const char *q = h->value, *end = h->value + h->value_len;
	struct lg_http_str el;

	while (list_next(&q, end, &el)) {
		if (!is_token(el.p, el.len))
			sem_error(m, LG_HTTP_E_CONNECTION);
		else if (str_is(el.p, el.len, "close"))
			m->connection |= LG_HTTP_CONN_CLOSE;
		else if (str_is(el.p, el.len, "keep-alive"))
			m->connection |= LG_HTTP_CONN_KEEP_ALIVE;
		else if (str_is(el.p, el.len, "upgrade"))
			m->connection |= LG_HTTP_CONN_UPGRADE;
		else if (str_is(el.p, el.len, "content-length") ||
		         str_is(el.p, el.len, "transfer-encoding") || str_is(el.p, el.len, "host"))
			sem_error(m, LG_HTTP_E_CONNECTION_FRAMING);
	}
}

/* Read the protocols of one Upgrade field: protocol-name [ "/" protocol-version ]. */
static void
sem_upgrade(struct semantics *m, const struct lg_http_header *h)
{
	const char *q = h->value, *end = h->value + h->value_len, *slash;
	struct lg_http_str el;
	size_t name;

	while (list_next(&q, end, &el)) {
		slash = memchr(el.p, '/', el.len);
		name = slash ? (size_t)(slash - el.p) : el.len;
		if (!is_token(el.p, name) || (slash && !is_token(slash + 1, el.len - name - 1)))
			sem_error(m, LG_HTTP_E_UPGRADE);
		else if (!slash && str_is(el.p, el.len, "websocket"))
			m->upgrade_websocket = true;
	}
}

/* One pass over the headers, keeping what framing and connection handling need. */
static void
gather(struct semantics *m, const struct lg_http_header *hs, size_t n, bool response)
{
	memset(m, 0, sizeof(*m));
	for (size_t i = 0; i < n; i++) {
		const struct lg_http_header *h = &hs[i];

		if (lg_http_header_is(h, "host")) {
			m->host = m->nhost++ ? m->host : h;
		} else if (lg_http_header_is(h, "content-length")) {
			m->cl = m->ncl++ ? m->cl : h;
		} else if (lg_http_header_is(h, "transfer-encoding")) {
			m->te = m->nte++ ? m->te : h;
		} else if (lg_http_header_is(h, "connection")) {
			sem_connection(m, h);
		} else if (lg_http_header_is(h, "upgrade")) {
			sem_upgrade(m, h);
		} else if (!response && lg_http_header_is(h, "expect")) {
			if (str_is(h->value, h->value_len, "100-continue"))
				m->expect_continue = true;
			else
				sem_error(m, LG_HTTP_E_EXPECT);
		}
	}
}

/*
 * Check every Transfer-Encoding field as one list: chunked exactly once and
 * last; requests may carry nothing else (501), responses only known codings.
 */
static enum lg_http_err
check_te(const struct lg_http_header *hs, size_t n, bool response)
{
	size_t count = 0, chunked = 0, name;
	bool last_chunked = false, unknown = false, malformed = false;
	struct lg_http_str el;
	const char *q, *end;

	for (size_t i = 0; i < n; i++) {
		if (!lg_http_header_is(&hs[i], "transfer-encoding"))
			continue;
		q = hs[i].value;
		end = q + hs[i].value_len;
		while (list_next(&q, end, &el)) {
			for (name = 0; name < el.len && is_tchar((unsigned char)el.p[name]); name++)
				;
			count++;
			last_chunked = name == el.len && str_is(el.p, name, "chunked");
			chunked += last_chunked;
			if (name == 0 || (name < el.len && str_is(el.p, name, "chunked")))
				malformed = true; /* chunked takes no parameters */
			else if (!last_chunked && (name < el.len || !known_coding(el.p, name)))
				unknown = true;
		}
	}
	if (count == 0 || malformed)
		return LG_HTTP_E_TE_INVALID;
	if (chunked > 1 || (chunked == 1 && !last_chunked))
		return LG_HTTP_E_TE_CHUNKED;
	if (unknown || (!response && count > chunked))
		return LG_HTTP_E_TE_UNKNOWN;
	return chunked == 1 ? LG_HTTP_E_NONE : LG_HTTP_E_TE_CHUNKED;
}

/*
 * Transfer-Encoding and Content-Length into framing (RFC 9112 §6.1-6.3); a
 * strict gate refuses both together, TE on 1.0, and any doubtful length.
 */
static enum lg_http_err
body_framing(const struct semantics *m, const struct lg_http_header *hs, size_t n, int minor,
             bool response, enum lg_http_framing *framing, uint64_t *length)
{
	enum lg_http_err e;

	*framing = LG_HTTP_BODY_NONE;
	*length = 0;
	if (m->nte > 0) {
		if (minor == 0)
			return LG_HTTP_E_TE_HTTP10;
		if (m->ncl > 0)
			return LG_HTTP_E_TE_AND_CL;
		if ((e = check_te(hs, n, response)) != LG_HTTP_E_NONE)
			return e;
		*framing = LG_HTTP_BODY_CHUNKED;
	} else if (m->ncl > 0) {
		if (m->ncl > 1)
			return LG_HTTP_E_CL_DUPLICATE;
		if (parse_length(m->cl->value, m->cl->value_len, length) != 0)
			return LG_HTTP_E_CL_INVALID;
		*framing = LG_HTTP_BODY_LENGTH;
	}
	return LG_HTTP_E_NONE;
}

/* Host: exactly one on 1.1, a valid authority wherever it appears. */
static enum lg_http_err
check_host(const struct semantics *m, struct lg_http_request *r)
{
	if (m->nhost > 1)
		return LG_HTTP_E_HOST_DUPLICATE;
	if (m->nhost == 1 && check_authority(m->host->value, m->host->value_len, false) != 0)
		return LG_HTTP_E_HOST_INVALID;
	if (m->nhost == 0 && r->minor_version == 1)
		return LG_HTTP_E_HOST_MISSING;
	if (m->nhost == 1 && !r->host_from_target) {
		r->host.p = m->host->value;
		r->host.len = m->host->value_len;
	}
	return LG_HTTP_E_NONE;
}

/* Apply the request rules that need the whole head. */
static int
request_semantics(struct lg_http_parser *p, struct lg_http_request *r)
{
	const struct lg_http_header *hs = p->headers;
	size_t n = p->nfields_;
	struct semantics m;
	enum lg_http_err e;
	uint64_t max = p->limits->max_body;

	gather(&m, hs, n, false);
	if ((e = check_host(&m, r)) != LG_HTTP_E_NONE ||
	    (e = body_framing(&m, hs, n, r->minor_version, false, &r->framing,
	                      &r->content_length)) != LG_HTTP_E_NONE)
		return fail(p, e);
	if (r->method == LG_HTTP_CONNECT && r->framing != LG_HTTP_BODY_NONE)
		return fail(p, LG_HTTP_E_CONNECT_BODY);
	if (r->framing == LG_HTTP_BODY_LENGTH && max != 0 && r->content_length > max)
		return fail(p, LG_HTTP_E_BODY_TOO_LARGE);
	if (m.err != LG_HTTP_E_NONE)
		return fail(p, m.err);
	r->connection = m.connection;
	if (r->minor_version == 1)
		r->keep_alive = !(m.connection & LG_HTTP_CONN_CLOSE);
	else
		r->keep_alive = (m.connection & (LG_HTTP_CONN_CLOSE | LG_HTTP_CONN_KEEP_ALIVE)) ==
		                LG_HTTP_CONN_KEEP_ALIVE;
	r->upgrade_websocket =
	    r->minor_version == 1 && m.upgrade_websocket && (m.connection & LG_HTTP_CONN_UPGRADE);
	r->websocket = r->upgrade_websocket && r->method == LG_HTTP_GET;
	r->expect_continue = r->minor_version == 1 && m.expect_continue;
	return 0;
}

/* Parse a request head. */
int
lg_http_parse_request(struct lg_http_parser *p, const char *buf, size_t len,
                      struct lg_http_request *req)
{
	struct lg_http_request scratch;
	bool whole;
	int n;

	p->response_ = false;
	memset(&scratch, 0, sizeof(scratch));
	if ((n = scan_head(p, buf, len, &scratch, &whole)) < 0)
		return n;
	if (whole) {
		*req = scratch;
	} else {
		memset(req, 0, sizeof(*req));
		collect(p, buf, (size_t)n, req);
	}
	req->num_headers = p->nfields_;
	if (request_semantics(p, req) < 0)
		return LG_HTTP_ERROR;
	return n;
}

/* Apply the response rules that need the whole head (RFC 9112 §6.3). */
static int
response_semantics(struct lg_http_parser *p, enum lg_http_method method, struct lg_http_response *r)
{
	struct semantics m;
	enum lg_http_err e;
	bool no_body =
	    method == LG_HTTP_HEAD || r->status < 200 || r->status == 204 || r->status == 304;

	gather(&m, p->headers, p->nfields_, true);
	if ((e = body_framing(&m, p->headers, p->nfields_, r->minor_version, true, &r->framing,
	                      &r->content_length)) != LG_HTTP_E_NONE)
		return fail(p, e);
	if (m.err != LG_HTTP_E_NONE)
		return fail(p, m.err);
	if (no_body)
		r->framing = LG_HTTP_BODY_NONE;
	else if (method == LG_HTTP_CONNECT && r->status < 300)
		r->framing = LG_HTTP_BODY_TUNNEL;
	else if (r->framing == LG_HTTP_BODY_NONE)
		r->framing = LG_HTTP_BODY_CLOSE;
	if (no_body || r->framing == LG_HTTP_BODY_TUNNEL)
		r->content_length = 0;
	r->connection = m.connection;
	r->upgrade_websocket = m.upgrade_websocket && (m.connection & LG_HTTP_CONN_UPGRADE);
	r->switching_protocols = r->status == 101;
	if (r->minor_version == 1)
		r->keep_alive = !(m.connection & LG_HTTP_CONN_CLOSE);
	else
		r->keep_alive = (m.connection & (LG_HTTP_CONN_CLOSE | LG_HTTP_CONN_KEEP_ALIVE)) ==
		                LG_HTTP_CONN_KEEP_ALIVE;
	if (r->framing == LG_HTTP_BODY_CLOSE || r->framing == LG_HTTP_BODY_TUNNEL ||
	    r->switching_protocols)
		r->keep_alive = false;
	return 0;
}

/* Parse a response head. */
int
lg_http_parse_response(struct lg_http_parser *p, const char *buf, size_t len,
                       enum lg_http_method req_method, struct lg_http_response *res)
{
	struct lg_http_response scratch;
	bool whole;
	int n;

	p->response_ = true;
	memset(&scratch, 0, sizeof(scratch));
	if ((n = scan_head(p, buf, len, &scratch, &whole)) < 0)
		return n;
	if (whole) {
		*res = scratch;
	} else {
		memset(res, 0, sizeof(*res));
		collect(p, buf, (size_t)n, res);
	}
	res->num_headers = p->nfields_;
	if (response_semantics(p, req_method, res) < 0)
		return LG_HTTP_ERROR;
	return n;
}

/* Whether s[0..n) is a token (for callers outside the parser). */
bool
lg_http_is_token(const char *s, size_t n)
{
	return is_token(s, n);
}

/* Compare names with case folded and '_' taken as '-'. */
bool
lg_http_name_alike(const char *a, size_t an, const char *b, size_t bn)
{
	if (an != bn)
		return false;
	for (size_t i = 0; i < an; i++) {
		unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
		x = x == '_' ? '-' : x >= 'A' && x <= 'Z' ? (unsigned char)(x + 32) : x;
		y = y == '_' ? '-' : y >= 'A' && y <= 'Z' ? (unsigned char)(y + 32) : y;
		if (x != y)
			return false;
	}
	return true;
}

/* Index of the first header named name at or after start, or -1. */
ssize_t
lg_http_find_header(const struct lg_http_header *h, size_t n, size_t start, const char *name)
{
	for (size_t i = start; i < n; i++)
		if (lg_http_header_is(&h[i], name))
			return (ssize_t)i;
	return -1;
}

/* Whether some Connection field lists name. */
bool
lg_http_connection_lists(const struct lg_http_header *h, size_t n, const char *name,
                         size_t name_len)
{
	struct lg_http_str el;
	const char *q, *end;

	for (size_t i = 0; i < n; i++) {
		if (!lg_http_header_is(&h[i], "connection"))
			continue;
		q = h[i].value;
		end = q + h[i].value_len;
		while (list_next(&q, end, &el))
			if (el.len == name_len && strncasecmp(el.p, name, name_len) == 0)
				return true;
	}
	return false;
}

/* Whether a field named s[0..n) is hop-by-hop by definition (RFC 9110 §7.6.1), Connection too. */
static bool
hop_by_name(const char *s, size_t n)
{
	switch (n) {
	case 2:
		return str_is(s, n, "te");
	case 7:
		return str_is(s, n, "upgrade");
	case 10:
		return str_is(s, n, "connection") || str_is(s, n, "keep-alive");
	case 16:
		return str_is(s, n, "proxy-connection");
	case 17:
		return str_is(s, n, "transfer-encoding");
	case 18:
		return str_is(s, n, "proxy-authenticate");
	case 19:
		return str_is(s, n, "proxy-authorization");
	default:
		return false;
	}
}

/* Whether a proxy must drop h (RFC 9110 §7.6.1). */
bool
lg_http_hop_by_hop(const struct lg_http_header *all, size_t n, const struct lg_http_header *h)
{
	return hop_by_name(h->name, h->name_len) ||
	       lg_http_connection_lists(all, n, h->name, h->name_len);
}

/* Mark every field a proxy must drop: the fixed names, then each name a Connection field lists. */
void
lg_http_hop_by_hop_mask(const struct lg_http_header *h, size_t n, uint64_t *mask)
{
	struct lg_http_str el;
	const char *q, *end;
	bool listed = false;

	memset(mask, 0, (n + 63) / 64 * sizeof(*mask));
	for (size_t i = 0; i < n; i++) {
		if (!hop_by_name(h[i].name, h[i].name_len))
			continue;
		mask[i / 64] |= UINT64_C(1) << (i % 64);
		listed |= h[i].name_len == 10 && lg_http_header_is(&h[i], "connection");
	}
	for (size_t c = 0; listed && c < n; c++) {
		if (!lg_http_header_is(&h[c], "connection"))
			continue;
		q = h[c].value;
		end = q + h[c].value_len;
		while (list_next(&q, end, &el)) {
			if (hop_by_name(el.p, el.len))
				continue; /* marked already, wherever it is */
			for (size_t i = 0; i < n; i++)
				if (h[i].name_len == el.len &&
				    strncasecmp(h[i].name, el.p, el.len) == 0)
					mask[i / 64] |= UINT64_C(1) << (i % 64);
		}
	}
}
