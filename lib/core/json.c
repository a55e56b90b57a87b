/* A strict JSON reader (RFC 8259): checks a whole object, hands back chosen top-level members. */
#include "json.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* Nesting and width beyond these are refused. */
#define JSON_DEPTH   16
#define JSON_MEMBERS 128

/* Where a decoded string goes; a NULL sbuf only validates. */
struct sbuf {
	char *p;
	size_t n, cap;
};

struct json {
	const char *p, *end;
	char *keys; /* decoded keys of the open objects, each with a 2-byte length */
	size_t nkeys, keycap;
	unsigned depth;
	bool duplicate;
};

/* Whether c is an ASCII digit. */
static bool
digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Append n bytes to b; false if they do not fit. */
static bool
put(struct sbuf *b, const void *s, size_t n)
{
	if (b == NULL)
		return true;
	if (b->cap - b->n < n)
		return false;
	memcpy(b->p + b->n, s, n);
	b->n += n;
	return true;
}

/* Length of the valid, shortest-form UTF-8 sequence at p, or 0. */
static size_t
utf8_len(const unsigned char *p, const unsigned char *end)
{
	unsigned char c = p[0], lo = 0x80, hi = 0xbf;
	size_t n;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4;
	else
		return 0;
	lo = c == 0xe0 ? 0xa0 : c == 0xf0 ? 0x90 : 0x80;
	hi = c == 0xed ? 0x9f : c == 0xf4 ? 0x8f : 0xbf;
	if ((size_t)(end - p) < n || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

/* Encode a code point (not a surrogate) as UTF-8; its length. */
static size_t
utf8_put(uint32_t cp, unsigned char u[4])
{
	if (cp < 0x80) {
		u[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		u[0] = (unsigned char)(0xc0 | cp >> 6);
		u[1] = (unsigned char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		u[0] = (unsigned char)(0xe0 | cp >> 12);
		u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (unsigned char)(0x80 | (cp & 0x3f));
		return 3;
	}
	u[0] = (unsigned char)(0xf0 | cp >> 18);
	u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
	u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
	u[3] = (unsigned char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Four hex digits at p, or -1. */
static long
hex4(const char *p, const char *end)
{
	long v = 0;

	if (end - p < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		char c = p[i];
		int d = digit(c)               ? c - '0'
		        : c >= 'a' && c <= 'f' ? c - 'a' + 10
		        : c >= 'A' && c <= 'F' ? c - 'A' + 10
		                               : -1;
		if (d < 0)
			return -1;
		v = v << 4 | d;
	}
	return v;
}

/* Decode the escape after a backslash at p; the position after it, or NULL. */
static const char *
escape(const char *p, const char *end, struct sbuf *b)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char *e;
	unsigned char u[4];
	long cp, lo;

	if (p >= end)
		return NULL;
	if (*p != 'u') {
		if ((e = memchr(from, *p, 8)) == NULL || !put(b, &to[e - from], 1))
			return NULL;
		return p + 1;
	}
	if ((cp = hex4(p + 1, end)) < 0 || (cp >= 0xdc00 && cp <= 0xdfff))
		return NULL;
	p += 5;
	if (cp >= 0xd800 && cp <= 0xdbff) {
		if (end - p < 6 || p[0] != '\\' || p[1] != 'u' ||
		    (lo = hex4(p + 2, end)) < 0xdc00 || lo > 0xdfff)
			return NULL;
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
		p += 6;
	}
	return put(b, u, utf8_put((uint32_t)cp, u)) ? p : NULL;
}

/* Read a string body from p (after the opening quote); the position after the closing quote. */
static const char *
str_scan(const char *p, const char *end, struct sbuf *b)
{
	size_t n;

	while (p != NULL && p < end) {
		unsigned char c = (unsigned char)*p;

		if (c == '"')
			return p + 1;
		if (c < 0x20)
			return NULL;
		if (c == '\\') {
			p = escape(p + 1, end, b);
			continue;
		}
		if ((n = utf8_len((const unsigned char *)p, (const unsigned char *)end)) == 0 ||
		    !put(b, p, n))
			return NULL;
		p += n;
	}
	return NULL;
}

/* Decode a string value into buf (cap bytes, NUL-terminated); its length, or -1 if too long. */
ssize_t
lg_json_string(const struct lg_json_value *v, char *buf, size_t cap)
{
	struct sbuf b = {buf, 0, cap - 1};

	if (v->type != LG_JSON_STRING || str_scan(v->p, v->p + v->n + 1, &b) == NULL)
		return -1;
	buf[b.n] = '\0';
	return (ssize_t)b.n;
}

/* Skip JSON whitespace. */
static void
skip_ws(struct json *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

/* Whether the next byte is c; consumes it if so. */
static bool
eat(struct json *j, char c)
{
	if (j->p < j->end && *j->p == c) {
		j->p++;
		return true;
	}
	return false;
}

/* Skip a run of digits; whether there was at least one. */
static bool
digits(struct json *j)
{
	const char *s = j->p;

	while (j->p < j->end && digit(*j->p))
		j->p++;
	return j->p > s;
}

/* -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static int
number(struct json *j)
{
	eat(j, '-');
	if (eat(j, '0')) {
		if (j->p < j->end && digit(*j->p))
			return -1;
	} else if (!digits(j)) {
		return -1;
	}
	if (eat(j, '.') && !digits(j))
		return -1;
	if (eat(j, 'e') || eat(j, 'E')) {
		if (!eat(j, '+'))
			eat(j, '-');
		if (!digits(j))
			return -1;
	}
	return 0;
}

/* Exactly the literal word. */
static int
literal(struct json *j, const char *word)
{
	size_t n = strlen(word);

	if ((size_t)(j->end - j->p) < n || memcmp(j->p, word, n) != 0)
		return -1;
	j->p += n;
	return 0;
}

static int json_value(struct json *j, struct lg_json_value *v);
static int json_object(struct json *j, const char *const *names, struct lg_json_value *vals,
                       size_t nn);

/* [ value, ... ] */
static int
json_array(struct json *j)
{
	struct lg_json_value v;

	if (++j->depth > JSON_DEPTH)
		return -1;
	j->p++;
	skip_ws(j);
	if (!eat(j, ']')) {
		do {
			skip_ws(j);
			if (json_value(j, &v) < 0)
				return -1;
			skip_ws(j);
		} while (eat(j, ','));
		if (!eat(j, ']'))
			return -1;
	}
	j->depth--;
	return 0;
}

/* Read a member name, refusing one the object already has; *k and *kn: the decoded name. */
static int
json_key(struct json *j, size_t start, const char **k, size_t *kn)
{
	struct sbuf b;
	size_t len;

	if (j->p >= j->end || *j->p != '"' || j->keycap - j->nkeys < 2)
		return -1;
	b = (struct sbuf){j->keys + j->nkeys + 2, 0, j->keycap - j->nkeys - 2};
	if ((j->p = str_scan(j->p + 1, j->end, &b)) == NULL)
		return -1;
	for (size_t at = start; at < j->nkeys; at += 2 + len) {
		len = (size_t)(unsigned char)j->keys[at] | (size_t)(unsigned char)j->keys[at + 1]
		                                               << 8;
		if (len == b.n && memcmp(j->keys + at + 2, b.p, len) == 0) {
			j->duplicate = true;
			return -1;
		}
	}
	j->keys[j->nkeys] = (char)(b.n & 0xff);
	j->keys[j->nkeys + 1] = (char)(b.n >> 8);
	j->nkeys += 2 + b.n;
	*k = b.p;
	*kn = b.n;
	return 0;
}

/* { "name": value, ... }; members called names[i] are stored in vals[i]. */
static int
json_object(struct json *j, const char *const *names, struct lg_json_value *vals, size_t nn)
{
	size_t start = j->nkeys, count = 0, kn;
	struct lg_json_value v;
	const char *k;

	if (++j->depth > JSON_DEPTH)
		return -1;
	j->p++;
	skip_ws(j);
	if (!eat(j, '}')) {
		do {
			skip_ws(j);
			if (++count > JSON_MEMBERS || json_key(j, start, &k, &kn) < 0)
				return -1;
			skip_ws(j);
			if (!eat(j, ':'))
				return -1;
			skip_ws(j);
			if (json_value(j, &v) < 0)
				return -1;
			for (size_t i = 0; i < nn; i++)
				if (names[i] && strlen(names[i]) == kn &&
				    memcmp(names[i], k, kn) == 0)
					vals[i] = v;
			skip_ws(j);
		} while (eat(j, ','));
		if (!eat(j, '}'))
			return -1;
	}
	j->nkeys = start;
	j->depth--;
	return 0;
}

/* Any value; v gets its type and text. */
static int
json_value(struct json *j, struct lg_json_value *v)
{
	const char *s = j->p;
	int r;

	if (s >= j->end)
		return -1;
	switch (*s) {
	case '"':
		v->type = LG_JSON_STRING;
		if ((j->p = str_scan(s + 1, j->end, NULL)) == NULL)
			return -1;
		v->p = s + 1;
		v->n = (size_t)(j->p - s) - 2;
		return 0;
	case '{':
		v->type = LG_JSON_OBJECT;
		r = json_object(j, NULL, NULL, 0);
		break;
	case '[':
		v->type = LG_JSON_ARRAY;
		r = json_array(j);
		break;
	case 't':
	case 'f':
		v->type = LG_JSON_BOOL;
		r = literal(j, *s == 't' ? "true" : "false");
		break;
	case 'n':
		v->type = LG_JSON_NULL;
		r = literal(j, "null");
		break;
	default:
		v->type = LG_JSON_NUMBER;
		r = number(j);
	}
	v->p = s;
	v->n = (size_t)(j->p - s);
	return r;
}

/* A document that is one object and nothing else; 0, -1, or -2 for a duplicate name. */
int
lg_json_parse(const char *s, size_t n, char *keybuf, size_t keycap, const char *const *names,
              struct lg_json_value *vals, size_t nn)
{
	struct json j = {s, s + n, keybuf, 0, keycap, 0, false};

	memset(vals, 0, nn * sizeof(*vals));
	skip_ws(&j);
	if (j.p >= j.end || *j.p != '{')
		return -1;
	if (json_object(&j, names, vals, nn) < 0)
		return j.duplicate ? -2 : -1;
	skip_ws(&j);
	return j.p == j.end ? 0 : -1;
}

/* Each element of an array value, in order, until fn refuses one. */
int
lg_json_each(const struct lg_json_value *array, char *keybuf, size_t keycap,
             int (*fn)(const struct lg_json_value *el, void *arg), void *arg)
{
	struct json j = {array->p + 1, array->p + array->n, keybuf, 0, keycap, 0, false};
	struct lg_json_value el;

	if (array->type != LG_JSON_ARRAY)
		return -1;
	skip_ws(&j);
	if (eat(&j, ']'))
		return 0;
	do {
		skip_ws(&j);
		if (json_value(&j, &el) < 0 || fn(&el, arg) < 0)
			return -1;
		skip_ws(&j);
	} while (eat(&j, ','));
	return 0;
}
