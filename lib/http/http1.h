/* Strict, incremental HTTP/1.1 parsing (RFC 9110, RFC 9112): request and response heads, bodies. */
#ifndef LG_HTTP1_H
#define LG_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

/*
 * Return convention (picohttpparser, h2o): a parse function returns the bytes it
 * consumed (>= 0), LG_HTTP_NEED_MORE when the buffer ends before the thing being
 * parsed, or LG_HTTP_ERROR with the reason left in the parser's error.
 *
 * Nothing here allocates: headers are pointer/length pairs into the caller's
 * buffer, stored in an array the caller provides.
 */
#define LG_HTTP_ERROR     (-1)
#define LG_HTTP_NEED_MORE (-2)

/* Why a message was rejected; lg_http_error.status says what to answer. */
enum lg_http_err {
	LG_HTTP_E_NONE = 0,
	LG_HTTP_E_BARE_LF,             /* 400: a line ends in LF without CR */
	LG_HTTP_E_BARE_CR,             /* 400: CR not followed by LF */
	LG_HTTP_E_START_LINE_TOO_LONG, /* 414 */
	LG_HTTP_E_TARGET_TOO_LONG,     /* 414 */
	LG_HTTP_E_HEAD_TOO_LARGE,      /* 431 */
	LG_HTTP_E_TOO_MANY_FIELDS,     /* 431 */
	LG_HTTP_E_REQUEST_LINE,        /* 400: not "method SP target SP version" */
	LG_HTTP_E_METHOD,              /* 400: method is not a token */
	LG_HTTP_E_HTTP09,              /* 400: no version */
	LG_HTTP_E_TARGET,              /* 400: bad character or unparsable target */
	LG_HTTP_E_TARGET_FORM, /* 400: '*' without OPTIONS, authority-form without CONNECT */
	LG_HTTP_E_VERSION,     /* 400: not HTTP/DIGIT.DIGIT */
	LG_HTTP_E_VERSION_UNSUPPORTED, /* 505: well formed, but not 1.0 or 1.1 */
	LG_HTTP_E_STATUS_LINE,         /* 502: not "HTTP/1.x SP 3DIGIT SP reason" */
	LG_HTTP_E_LEADING_WS,          /* 400: whitespace before the first field line */
	LG_HTTP_E_OBS_FOLD,            /* 400: a field line starts with SP or HTAB */
	LG_HTTP_E_FIELD_NAME,          /* 400: empty or non-token field name, no colon */
	LG_HTTP_E_WS_BEFORE_COLON,     /* 400 */
	LG_HTTP_E_FIELD_VALUE,         /* 400: control byte or NUL in a value */
	LG_HTTP_E_HOST_MISSING,        /* 400: HTTP/1.1 without Host */
	LG_HTTP_E_HOST_DUPLICATE,      /* 400 */
	LG_HTTP_E_HOST_INVALID,        /* 400 */
	LG_HTTP_E_CL_INVALID,          /* 400: Content-Length is not 1*DIGIT or overflows */
	LG_HTTP_E_CL_DUPLICATE,        /* 400: more than one Content-Length, even equal */
	LG_HTTP_E_TE_INVALID,          /* 400: empty or malformed Transfer-Encoding */
	LG_HTTP_E_TE_CHUNKED,          /* 400: chunked twice, not last, or missing */
	LG_HTTP_E_TE_UNKNOWN,          /* 501: a transfer coding we do not implement */
	LG_HTTP_E_TE_HTTP10,           /* 400: Transfer-Encoding in an HTTP/1.0 message */
	LG_HTTP_E_TE_AND_CL,           /* 400: both Transfer-Encoding and Content-Length */
	LG_HTTP_E_CONNECT_BODY,        /* 400: CONNECT with Content-Length or Transfer-Encoding */
	LG_HTTP_E_CONNECTION,          /* 400: Connection option is not a token */
	LG_HTTP_E_CONNECTION_FRAMING,  /* 400: Connection lists Host or a framing field */
	LG_HTTP_E_UPGRADE,             /* 400: malformed Upgrade */
	LG_HTTP_E_EXPECT,              /* 417: an expectation other than 100-continue */
	LG_HTTP_E_BODY_TOO_LARGE,      /* 413 */
	LG_HTTP_E_CHUNK_SIZE,          /* 400: chunk-size not hex or overflows */
	LG_HTTP_E_CHUNK_EXT,           /* 400: malformed chunk extension */
	LG_HTTP_E_CHUNK_LINE_TOO_LONG, /* 400 */
	LG_HTTP_E_CHUNK_CRLF,          /* 400: chunk data not followed by CRLF */
	LG_HTTP_E_TRAILER,             /* 400: malformed trailer field */
	LG_HTTP_E_TRAILER_TOO_LARGE,   /* 431 */
	LG_HTTP_E_TRUNCATED,           /* 400: the connection ended inside the body */
	LG_HTTP_E_COUNT
};

struct lg_http_error {
	enum lg_http_err code;
	int status;         /* what to answer: the code's status for requests, 502 for responses */
	const char *reason; /* short static text, e.g. "duplicate Content-Length" */
};

/* Bounds on what a peer may send (head limits are clamped to INT_MAX / 4). */
struct lg_http_limits {
	size_t max_start_line; /* request/status line without CRLF (leading empty lines count) */
	size_t max_target;     /* request-target */
	size_t max_fields;     /* field section: every field line and the final CRLF */
	size_t max_chunk_line; /* chunk-size line with its extensions, CRLF included */
	size_t max_trailer;    /* trailer section, final CRLF included */
	uint64_t max_body;     /* payload bytes; 0 = no limit */
};

struct lg_http_str {
	const char *p;
	size_t len;
};

/* One field line; name and value point into the parsed buffer, value without OWS around. */
struct lg_http_header {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
};

enum lg_http_method {
	LG_HTTP_OTHER = 0,
	LG_HTTP_GET,
	LG_HTTP_HEAD,
	LG_HTTP_POST,
	LG_HTTP_PUT,
	LG_HTTP_DELETE,
	LG_HTTP_CONNECT,
	LG_HTTP_OPTIONS,
	LG_HTTP_TRACE,
	LG_HTTP_PATCH
};

enum lg_http_target_form {
	LG_HTTP_ORIGIN_FORM = 0, /* /path?query */
	LG_HTTP_ABSOLUTE_FORM,   /* http://host/path?query */
	LG_HTTP_AUTHORITY_FORM,  /* host:port, CONNECT only */
	LG_HTTP_ASTERISK_FORM    /* *, OPTIONS only */
};

/* How the message body is delimited (RFC 9112 §6.3). */
enum lg_http_framing {
	LG_HTTP_BODY_NONE = 0, /* no body at all */
	LG_HTTP_BODY_LENGTH,   /* Content-Length bytes (maybe 0) */
	LG_HTTP_BODY_CHUNKED,
	LG_HTTP_BODY_CLOSE,  /* response read until the upstream closes */
	LG_HTTP_BODY_TUNNEL, /* 2xx to CONNECT: the connection is a tunnel from here */
};

/* Connection options we act on (bits of .connection). */
#define LG_HTTP_CONN_CLOSE      (1u << 0)
#define LG_HTTP_CONN_KEEP_ALIVE (1u << 1)
#define LG_HTTP_CONN_UPGRADE    (1u << 2)

/* What a valid request head means; every string points into the parsed buffer. */
struct lg_http_request {
	enum lg_http_method method;
	struct lg_http_str method_name;
	enum lg_http_target_form form;
	struct lg_http_str target; /* as received */
	/* origin-form: the target; absolute-form: what follows the authority (empty means "/"). */
	struct lg_http_str path;
	/* The authority: from the target in absolute/authority form, else Host; may be empty
	 * on 1.0. */
	struct lg_http_str host;
	bool host_from_target; /* then ignore Host; rewrite it when forwarding */
	int minor_version;
	size_t num_headers;
	enum lg_http_framing framing; /* NONE, LENGTH or CHUNKED */
	uint64_t content_length;
	unsigned connection;    /* LG_HTTP_CONN_* */
	bool keep_alive;        /* 1.1: unless close; 1.0: only with keep-alive */
	bool upgrade_websocket; /* Upgrade lists websocket and Connection lists upgrade (1.1) */
	bool websocket;         /* ...and it is a GET: a WebSocket opening handshake */
	bool expect_continue;   /* Expect: 100-continue on 1.1 */
};

struct lg_http_response {
	int minor_version;
	int status;
	struct lg_http_str reason;
	size_t num_headers;
	enum lg_http_framing framing;
	uint64_t content_length;
	unsigned connection;
	bool keep_alive;
	bool upgrade_websocket;
	bool switching_protocols; /* 101: after the head, the connection is the new protocol's */
};
/* A 1xx other than 101 is interim: forward it, then parse the next head with a fresh parser. */

/*
 * Head parser. Keep one per message and call it again with the same buffer
 * grown by new bytes (it may move between calls): complete lines are checked
 * once, as they arrive, so a slow client costs O(n) in total and garbage is
 * refused as soon as its line ends; the result never depends on how the bytes
 * were split. A head that arrives in one call is walked once; one that took
 * several calls is walked again at the end to point its fields into the
 * final buffer. Fields ending in _ are private.
 */
struct lg_http_parser {
	const struct lg_http_limits *limits;
	struct lg_http_header *headers; /* caller's array ... */
	size_t max_headers;             /* ... and its size: more field lines are a 431 */
	struct lg_http_error error;
	size_t pos_;     /* start of the first line not yet checked */
	size_t scan_;    /* no LF in [pos_, scan_) */
	size_t fields_;  /* where the field section starts */
	size_t nfields_; /* field lines checked */
	bool started_;   /* start line checked */
	bool response_;
};

/* Fill limits with defaults: 8 KiB start line and target, 32 KiB fields, no body limit. */
void lg_http_limits_default(struct lg_http_limits *);
/* Prepare p for a new message head (NULL limits: defaults); headers[max_headers] get the fields. */
void lg_http_parser_init(struct lg_http_parser *p, const struct lg_http_limits *,
                         struct lg_http_header *headers, size_t max_headers);
/* Parse a request head from buf[0..len); head length, NEED_MORE or ERROR (see p->error). */
int lg_http_parse_request(struct lg_http_parser *p, const char *buf, size_t len,
                          struct lg_http_request *req);
/* Parse a response head to a request with the given method; errors answer 502. */
int lg_http_parse_response(struct lg_http_parser *p, const char *buf, size_t len,
                           enum lg_http_method req_method, struct lg_http_response *res);

/*
 * Whether h's name is name (case-insensitive). Inline so that a literal name's
 * length is a constant and most fields are told apart by length alone.
 */
static inline bool
lg_http_header_is(const struct lg_http_header *h, const char *name)
{
	size_t n = strlen(name);

	return h->name_len == n && strncasecmp(h->name, name, n) == 0;
}
/* Whether s[0..n) is a token (RFC 9110 §5.6.2), as a field name must be; empty is not. */
bool lg_http_is_token(const char *s, size_t n);
/*
 * Whether two field names are the same once ASCII case is folded and '_' is
 * taken as '-' (CGI and WSGI hand both X_Student_Id and X-Student-Id to the
 * application as HTTP_X_STUDENT_ID).
 */
bool lg_http_name_alike(const char *a, size_t an, const char *b, size_t bn);
/* Index of the first header named name at or after start, or -1. */
ssize_t lg_http_find_header(const struct lg_http_header *h, size_t n, size_t start,
                            const char *name);
/* Whether some Connection field in h[0..n) lists name (case-insensitive). */
bool lg_http_connection_lists(const struct lg_http_header *h, size_t n, const char *name,
                              size_t name_len);
/* Whether a proxy must not forward field h: hop-by-hop by definition or listed in Connection. */
bool lg_http_hop_by_hop(const struct lg_http_header *all, size_t n, const struct lg_http_header *h);
/*
 * lg_http_hop_by_hop() for every field of h[0..n) at once, in one pass plus one
 * per name a Connection field lists: bit i % 64 of mask[i / 64] is set when h[i]
 * must not be forwarded; mask has (n + 63) / 64 words, all written.
 */
void lg_http_hop_by_hop_mask(const struct lg_http_header *h, size_t n, uint64_t *mask);
/* Short text for an error code. */
const char *lg_http_strerror(enum lg_http_err);

/*
 * Body decoder for Content-Length, chunked and read-until-close bodies. Feed it
 * bytes; each call consumes framing up to and including at most one run of
 * payload, returned in *data (inside the consumed prefix), so a proxy can
 * forward either the raw consumed bytes or only the payload. Fields ending in
 * _ are private.
 */
struct lg_http_body {
	const struct lg_http_limits *limits;
	struct lg_http_error error;
	uint64_t received; /* payload bytes so far */
	uint64_t remaining_;
	size_t line_;
	int state_;
	bool response_;
};

/* Start a body framed as given (length for LENGTH; NULL limits: defaults); responses fail 502. */
void lg_http_body_init(struct lg_http_body *b, enum lg_http_framing, uint64_t length,
                       const struct lg_http_limits *, bool response);
/* Consume a prefix of buf[0..len); bytes consumed (0 once done) or ERROR (see b->error). */
ssize_t lg_http_body_feed(struct lg_http_body *b, const char *buf, size_t len,
                          struct lg_http_str *data);
/*
 * Whether the decoder is inside a chunked body's trailer section. A feed never
 * consumes past the end of the last-chunk line in the same call as trailer
 * bytes, so a proxy can forward the framing and drop the trailers.
 */
bool lg_http_body_in_trailers(const struct lg_http_body *b);
/* Whether the whole body, trailers included, has been consumed. */
bool lg_http_body_done(const struct lg_http_body *b);
/* The peer closed: 0 if that ends the body (read-until-close, or done), ERROR if truncated. */
int lg_http_body_eof(struct lg_http_body *b);
/*
 * Payload bytes the decoder would take next without looking at them, so a
 * proxy may move them past it (splice): the rest of a Content-Length body, else 0.
 */
uint64_t lg_http_body_passable(const struct lg_http_body *b);
/* Count n payload bytes moved past the decoder (at most lg_http_body_passable()). */
void lg_http_body_passed(struct lg_http_body *b, uint64_t n);

#endif
