/* Request paths as routes see them: a normal and a canonical form, or a refusal; trusted peer
 * networks. */
#include "path.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* UTF-8 decoder state: continuation bytes still due, and the range the next one must be in. */
struct utf8 {
	uint8_t need, lo, hi;
};

/* Feed one octet; false if the octets so far cannot begin valid, shortest-form UTF-8. */
static bool
utf8_feed(struct utf8 *u, uint8_t c)
{
	if (u->need > 0) {
		if (c < u->lo || c > u->hi)
			return false;
		u->need--;
		u->lo = 0x80;
		u->hi = 0xbf;
		return true;
	}
	u->lo = 0x80;
	u->hi = 0xbf;
	if (c < 0x80)
		return true;
	if (c >= 0xc2 && c <= 0xdf)
		u->need = 1;
	else if (c >= 0xe0 && c <= 0xef)
		u->need = 2;
	else if (c >= 0xf0 && c <= 0xf4)
		u->need = 3;
	else
		return false; /* continuation byte, overlong lead C0/C1, or beyond U+10FFFF */
	if (c == 0xe0)
		u->lo = 0xa0; /* overlong 3-byte */
	else if (c == 0xed)
		u->hi = 0x9f; /* surrogates */
	else if (c == 0xf0)
		u->lo = 0x90; /* overlong 4-byte */
	else if (c == 0xf4)
		u->hi = 0x8f; /* above U+10FFFF */
	return true;
}

/* RFC 3986 unreserved: ALPHA / DIGIT / "-" / "." / "_" / "~". */
static bool
unreserved(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

/* Why an octet may not appear in a path, raw or decoded; NULL if it may. */
static const char *
bad_octet(unsigned char c, bool encoded)
{
	if (c == 0)
		return encoded ? "encoded NUL in path" : "NUL in path";
	if (c < 0x20 || c == 0x7f)
		return encoded ? "encoded control character in path" : "control character in path";
	if (c == '\\')
		return encoded ? "encoded backslash in path" : "backslash in path";
	if (encoded && c == '/')
		return "encoded slash in path";
	if (!encoded && c == ' ')
		return "space in path";
	if (!encoded && (c == '?' || c == '#'))
		return "'?' or '#' in path";
	return NULL;
}

/* Copy one character of in at *i to out at *m, decoding or upper-casing a %XX. */
static const char *
copy_char(const char *in, size_t len, size_t *i, char *out, size_t *m, struct utf8 *u)
{
	static const char hex[] = "0123456789ABCDEF";
	unsigned char c = (unsigned char)in[*i];
	const char *why;
	int hi, lo;

	if (c != '%') {
		if ((why = bad_octet(c, false)) != NULL)
			return why;
		if (!utf8_feed(u, c))
			return "invalid UTF-8 in path";
		out[(*m)++] = (char)c;
		(*i)++;
		return NULL;
	}
	if (len - *i < 3 || (hi = lg_hex_value((unsigned char)in[*i + 1])) < 0 ||
	    (lo = lg_hex_value((unsigned char)in[*i + 2])) < 0)
		return "invalid percent-encoding in path";
	c = (unsigned char)(hi << 4 | lo);
	if ((why = bad_octet(c, true)) != NULL)
		return why;
	if (!utf8_feed(u, c))
		return "invalid UTF-8 in path";
	if (unreserved(c)) {
		out[(*m)++] = (char)c;
	} else {
		out[(*m)++] = '%';
		out[(*m)++] = hex[c >> 4];
		out[(*m)++] = hex[c & 15];
	}
	*i += 3;
	return NULL;
}

/* Kinds of a normalised segment. */
enum seg { SEG_EMPTY, SEG_DOT, SEG_DOTDOT, SEG_NAME, SEG_AMBIGUOUS };

/* What a decoded segment is; "." or ".." before a ';' parameter is ambiguous. */
static enum seg
classify(const char *s, size_t n)
{
	const char *semi = memchr(s, ';', n);
	size_t base = semi ? (size_t)(semi - s) : n;

	if (n == 0)
		return SEG_EMPTY;
	if ((base == 1 && s[0] == '.') || (base == 2 && s[0] == '.' && s[1] == '.'))
		return semi ? SEG_AMBIGUOUS : base == 1 ? SEG_DOT : SEG_DOTDOT;
	return SEG_NAME;
}

/* Fail with reason. */
static ssize_t
path_fail(const char **reason, const char *why)
{
	*reason = why;
	return -1;
}

/* Normalise segment by segment: out holds "/seg" for every kept segment, n bytes of it. */
ssize_t
lg_path_normalise(const char *in, size_t len, char *out, size_t outlen, const char **reason)
{
	struct utf8 u = {0, 0x80, 0xbf};
	enum seg kind = SEG_EMPTY;
	size_t i = 0, n = 0, m;
	const char *why;

	if (len == 0 || in[0] != '/')
		return path_fail(reason, "path does not start with \"/\"");
	if (outlen <= len)
		return path_fail(reason, "path buffer too small");
	while (i < len) {
		i++; /* the '/' */
		m = n + 1;
		while (i < len && in[i] != '/')
			if ((why = copy_char(in, len, &i, out, &m, &u)) != NULL)
				return path_fail(reason, why);
		if (u.need != 0)
			return path_fail(reason, "invalid UTF-8 in path");
		kind = classify(out + n + 1, m - n - 1);
		if (kind == SEG_AMBIGUOUS)
			return path_fail(reason, "dot segment with parameters in path");
		if (kind == SEG_DOTDOT) {
			if (n == 0)
				return path_fail(reason, "\"..\" above the root");
			while (out[--n] != '/')
				;
		} else if (kind == SEG_NAME) {
			out[n] = '/';
			n = m;
		}
	}
	if (kind != SEG_NAME)
		out[n++] = '/';
	out[n] = '\0';
	return (ssize_t)n;
}

/* Length of segment s[0..n) without its trailing dots and encoded spaces. */
static size_t
trim_dots_spaces(const char *s, size_t n)
{
	for (;;) {
		if (n > 0 && s[n - 1] == '.')
			n--;
		else if (n >= 3 && memcmp(s + n - 3, "%20", 3) == 0)
			n -= 3;
		else
			return n;
	}
}

/* Copy segment s[0..n) to out, ASCII letters folded to lower case, %XX kept as it is. */
static size_t
fold_segment(const char *s, size_t n, char *out)
{
	size_t m = 0;

	for (size_t k = 0; k < n; k++) {
		char c = s[k];
		if (c == '%' && n - k >= 3) {
			memcpy(out + m, s + k, 3);
			m += 3;
			k += 2;
			continue;
		}
		out[m++] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
	}
	return m;
}

/* Canonicalise segment by segment: parameters cut, dots and spaces trimmed, case folded. */
ssize_t
lg_path_canonical(const char *in, size_t len, char *out, size_t outlen, const char **reason)
{
	size_t i = 0, n = 0;
	bool dropped_last = true;

	if (len == 0 || in[0] != '/')
		return path_fail(reason, "path does not start with \"/\"");
	if (outlen <= len)
		return path_fail(reason, "path buffer too small");
	while (i < len) {
		size_t start = ++i, end, kept;
		const char *semi;

		while (i < len && in[i] != '/')
			i++;
		end = i;
		if ((semi = memchr(in + start, ';', end - start)) != NULL)
			end = (size_t)(semi - in);
		kept = trim_dots_spaces(in + start, end - start);
		if (kept == 0 && end > start)
			return path_fail(reason, "segment of only dots and spaces in path");
		dropped_last = kept == 0;
		if (kept == 0)
			continue; /* empty, or only parameters */
		out[n++] = '/';
		n += fold_segment(in + start, kept, out + n);
	}
	if (dropped_last)
		out[n++] = '/';
	out[n] = '\0';
	return (ssize_t)n;
}

/* One network: an IPv6 prefix; IPv4 ones are stored IPv4-mapped (::ffff:0:0/96). */
struct cidr {
	uint8_t addr[16];
	unsigned bits;
};

struct lg_cidr_set {
	struct cidr *v;
	size_t n;
};

/* An empty set. */
struct lg_cidr_set *
lg_cidr_set_new(void)
{
	return lg_xcalloc(1, sizeof(struct lg_cidr_set));
}

/* Free a set (NULL is fine). */
void
lg_cidr_set_free(struct lg_cidr_set *s)
{
	if (s == NULL)
		return;
	free(s->v);
	free(s);
}

/* Store an IPv4 address as IPv4-mapped IPv6. */
static void
map_v4(uint8_t out[16], const void *v4)
{
	memset(out, 0, 10);
	out[10] = out[11] = 0xff;
	memcpy(out + 12, v4, 4);
}

/* Parse a prefix length of at most max, without sign or leading zeros; -1 if malformed. */
static int
parse_bits(const char *s, unsigned max)
{
	unsigned v = 0;

	if (*s == '\0' || (s[0] == '0' && s[1] != '\0') || strlen(s) > 3)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (unsigned)(*s - '0');
	}
	return v <= max ? (int)v : -1;
}

/* Whether addr has a bit set past the first bits. */
static bool
host_bits_set(const uint8_t addr[16], unsigned bits)
{
	for (unsigned b = bits; b < 128; b++)
		if (addr[b / 8] & (0x80 >> (b % 8)))
			return true;
	return false;
}

/* Parse "ADDR[/BITS]" into c; -1 with a message naming text. */
static int
parse_cidr(const char *text, struct cidr *c, char *err, size_t errlen)
{
	char buf[64], *slash;
	uint8_t v4[4];
	bool is_v4;
	int bits;

	if (strlen(text) >= sizeof(buf)) {
		snprintf(err, errlen, "\"%.64s...\": not an address or network", text);
		return -1;
	}
	strcpy(buf, text);
	if ((slash = strchr(buf, '/')) != NULL)
		*slash = '\0';
	is_v4 = inet_pton(AF_INET, buf, v4) == 1;
	if (is_v4)
		map_v4(c->addr, v4);
	else if (inet_pton(AF_INET6, buf, c->addr) != 1) {
		snprintf(err, errlen, "\"%s\": not an IPv4 or IPv6 address", text);
		return -1;
	}
	bits = slash ? parse_bits(slash + 1, is_v4 ? 32 : 128) : is_v4 ? 32 : 128;
	if (bits < 0) {
		snprintf(err, errlen, "\"%s\": prefix length must be a number 0..%d", text,
		         is_v4 ? 32 : 128);
		return -1;
	}
	c->bits = (unsigned)bits + (is_v4 ? 96 : 0);
	if (host_bits_set(c->addr, c->bits)) {
		snprintf(err, errlen, "\"%s\": address has bits set beyond the /%d prefix", text,
		         bits);
		return -1;
	}
	return 0;
}

/* Add one network. */
int
lg_cidr_set_add(struct lg_cidr_set *s, const char *text, char *err, size_t errlen)
{
	struct cidr c;

	if (parse_cidr(text, &c, err, errlen) < 0)
		return -1;
	s->v = lg_xrealloc(s->v, s->n + 1, sizeof(*s->v));
	s->v[s->n++] = c;
	return 0;
}

/* Number of networks. */
size_t
lg_cidr_set_count(const struct lg_cidr_set *s)
{
	return s->n;
}

/* Whether the first bits of a and b agree. */
static bool
prefix_equal(const uint8_t a[16], const uint8_t b[16], unsigned bits)
{
	unsigned whole = bits / 8, rest = bits % 8;
	uint8_t mask;

	if (memcmp(a, b, whole) != 0)
		return false;
	if (rest == 0)
		return true;
	mask = (uint8_t)(0xff << (8 - rest));
	return ((a[whole] ^ b[whole]) & mask) == 0;
}

/* Match a peer address against every network. */
bool
lg_cidr_set_match(const struct lg_cidr_set *s, const struct sockaddr *sa)
{
	uint8_t addr[16];

	if (sa == NULL)
		return false;
	if (sa->sa_family == AF_INET)
		map_v4(addr, &((const struct sockaddr_in *)(const void *)sa)->sin_addr);
	else if (sa->sa_family == AF_INET6)
		memcpy(addr, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16);
	else
		return false;
	for (size_t i = 0; i < s->n; i++)
		if (prefix_equal(addr, s->v[i].addr, s->v[i].bits))
			return true;
	return false;
}
