/* Log line values: escaped so a line stays one parseable line, and cut only between whole units. */
#include "logfmt.h"

#include <stdio.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at p[0..n) (2..4), or 0 if there is none. */
size_t
lg_utf8_len(const unsigned char *p, size_t n)
{
	size_t len;
	uint32_t cp;

	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4, cp = p[0] & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0; /* overlong, out of range or a surrogate */
	return len;
}

/* Escape s[0..n) into out (cap bytes with the NUL); whole units only. Returns the length. */
size_t
lg_log_escape(char *out, size_t cap, const char *s, size_t n, size_t *used)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0, i = 0;

	if (cap == 0)
		return 0;
	while (i < n) {
		char unit[5];
		size_t ulen, take = 1;
		unsigned char ch = p[i];

		if (ch == '"' || ch == '\\') {
			unit[0] = '\\', unit[1] = (char)ch, ulen = 2;
		} else if (ch == '\n') {
			memcpy(unit, "\\n", 2), ulen = 2;
		} else if (ch == '\r') {
			memcpy(unit, "\\r", 2), ulen = 2;
		} else if (ch == '\t') {
			memcpy(unit, "\\t", 2), ulen = 2;
		} else if (ch >= 0x20 && ch < 0x7f) {
			unit[0] = (char)ch, ulen = 1;
		} else if (ch >= 0x80 && (take = lg_utf8_len(p + i, n - i)) > 0) {
			memcpy(unit, p + i, take), ulen = take;
		} else {
			snprintf(unit, sizeof(unit), "\\x%02x", ch), ulen = 4, take = 1;
		}
		if (o + ulen > cap - 1)
			break;
		memcpy(out + o, unit, ulen);
		o += ulen;
		i += take;
	}
	out[o] = '\0';
	if (used)
		*used = i;
	return o;
}

/* Length of the unit at line[i..len): an escape inside quotes, a UTF-8 sequence, or a byte. */
static size_t
unit_len(const char *line, size_t i, size_t len, bool quoted)
{
	const unsigned char *p = (const unsigned char *)line + i;
	size_t u;

	if (quoted && p[0] == '\\')
		return i + 1 < len && p[1] == 'x' ? 4 : 2;
	if (p[0] >= 0x80 && (u = lg_utf8_len(p, len - i)) > 0)
		return u;
	return 1;
}

/* Make line[0..len) fit cap bytes (with the NUL): cut between units, close a quote, mark it. */
size_t
lg_log_fit(char *line, size_t len, size_t cap)
{
	static const char mark[] = " truncated=true";
	size_t limit, i = 0, cut = 0;
	bool quoted = false, quoted_at_cut = false;

	if (len < cap)
		return len;
	if (cap < sizeof(mark) + 2)
		return 0;
	limit = cap - 1 - (sizeof(mark) - 1) - 1; /* room for a closing quote and the mark */
	while (i < len) {
		size_t u = unit_len(line, i, len, quoted);
		if (i + u > limit)
			break;
		if (line[i] == '"')
			quoted = !quoted;
		i += u;
		cut = i;
		quoted_at_cut = quoted;
	}
	if (quoted_at_cut)
		line[cut++] = '"';
	memcpy(line + cut, mark, sizeof(mark) - 1);
	cut += sizeof(mark) - 1;
	line[cut] = '\0';
	return cut;
}
