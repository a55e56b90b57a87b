/* What a student is told: refusal bodies (JSON or a bilingual page) and times. */
#ifndef LG_RENDER_H
#define LG_RENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy.h"
#include "tz.h"

/* A growable output buffer; functions append and never fail (they abort on OOM). */
struct lg_buf {
	char *data;
	size_t len;
	size_t cap;
};

/* Append a string literal. */
#define LG_BUF_LIT(b, s) lg_buf_add((b), (s), sizeof(s) - 1)

void lg_buf_free(struct lg_buf *);
void lg_buf_add(struct lg_buf *, const char *s, size_t n);
void lg_buf_printf(struct lg_buf *, const char *fmt, ...) LG_PRINTF(2, 3);
/* Append s as a JSON string literal, quotes included. */
void lg_buf_json_str(struct lg_buf *, const char *s);
/*
 * Append s[0..n) as a JSON string literal: any bytes give valid JSON on one
 * line (control bytes and DEL as \u00XX, bytes that are not UTF-8 as \ufffd).
 */
void lg_buf_json_strn(struct lg_buf *, const char *s, size_t n);
/* Append s with HTML's special characters escaped. */
void lg_buf_html(struct lg_buf *, const char *s);
/* Append s as one CSV field (RFC 4180: quoted, quotes doubled, when it holds , " CR or LF). */
void lg_buf_csv(struct lg_buf *, const char *s);

/* "2026-09-21T10:39:59+08:00" for a unix time in a zone (buf of at least 32 bytes). */
void lg_format_rfc3339(int64_t t, const struct lg_tz *, char *buf);
/* "2026-09-21 10:39" local time (buf of at least 32 bytes). */
void lg_format_local(int64_t t, const struct lg_tz *, char *buf);

/* What a refusal page needs besides the decision. */
struct lg_refusal {
	const struct lg_decision *d;
	enum lg_class cls;
	const struct lg_class_rules *rules;
	const struct lg_tz *tz;
	const char *regulation_url;
	int64_t now;
};

/* The HTTP status for a refusal: 429 for lesson_limit, 451 for the calendar and clock. */
int lg_refusal_status(enum lg_rule);
/* The JSON body of a refusal. */
void lg_render_refusal_json(struct lg_buf *, const struct lg_refusal *);
/* The bilingual (中文/English) HTML page of a refusal. */
void lg_render_refusal_html(struct lg_buf *, const struct lg_refusal *);

/*
 * The bilingual page of a 401: sign in first, with a link to login_url (an
 * absolute URL or a path; NULL: no link). reason is the gate's ("missing
 * token", "expired", ...); a credential that was sent but failed says so.
 */
void lg_render_unauthorized_html(struct lg_buf *, const char *login_url, const char *reason);

/*
 * Whether an Accept header prefers text/html over application/json (a
 * browser's "text/html,...;q=0.9" does; "any type" or nothing does not).
 */
bool lg_accept_prefers_html(const char *accept, size_t len);

#endif
