/* What the head parser (http1.c) shares with the body decoder (http1_body.c); not for other code.
 */
#ifndef LG_HTTP1_INT_H
#define LG_HTTP1_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "http1.h"

/* What NULL limits mean. */
extern const struct lg_http_limits lg_http_default_limits;
/* 1 for each tchar (RFC 9110 §5.6.2). */
extern const uint8_t lg_http_tchar[256];

/* Record an error (responses always answer 502); LG_HTTP_ERROR. */
int lg_http_set_error(struct lg_http_error *e, enum lg_http_err code, bool response);

/* Whether c may appear in a token. */
static inline bool
is_tchar(unsigned char c)
{
	return lg_http_tchar[c] != 0;
}

/* Whether c is optional whitespace. */
static inline bool
is_ows(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/* Whether c may appear in a field value: field-vchar (obs-text included), SP, HTAB. */
static inline bool
is_value_char(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

#endif
