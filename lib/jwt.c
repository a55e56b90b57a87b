/* Student identity from JSON Web Tokens (RFC 7519/7515): pinned algorithms, cached verdicts. */
#include "jwt.h"

#include "hash.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "util.h"

/* Decoded parts are at most this long; signatures much shorter (RSA 8192: 1024 bytes). */
#define PART_MAX       (LG_JWT_MAX_TOKEN / 4 * 3)
#define SIG_MAX        1024
#define KEYFILE_MAX    (1 << 20)
#define JSON_DEPTH     16
#define JSON_MEMBERS   128
#define CACHE_WAYS     4
#define CACHE_SHARDS   64
#define CACHE_MAX      (1u << 22)
#define RSA_MIN_BITS   2048
#define REASON_INVALID "malformed token"

/* What a key is; an algorithm says which kinds it may be verified with. */
enum kind { K_RSA, K_RSA_PSS, K_P256, K_P384, K_EDDSA, K_HMAC };
enum family { F_RS, F_PS, F_ES, F_ED, F_HS };
enum hash { H_256, H_384, H_512, H_NONE };

static const struct alg {
	const char *name;
	enum family fam;
	enum hash hash;
	enum kind curve; /* ES only */
} algs[] = {
    {"RS256", F_RS, H_256, 0},      {"RS384", F_RS, H_384, 0},      {"RS512", F_RS, H_512, 0},
    {"PS256", F_PS, H_256, 0},      {"PS384", F_PS, H_384, 0},      {"PS512", F_PS, H_512, 0},
    {"ES256", F_ES, H_256, K_P256}, {"ES384", F_ES, H_384, K_P384}, {"EdDSA", F_ED, H_NONE, 0},
    {"HS256", F_HS, H_256, 0},      {"HS384", F_HS, H_384, 0},      {"HS512", F_HS, H_512, 0},
};
#define NALGS (sizeof(algs) / sizeof(algs[0]))

static const char *const hash_names[] = {"SHA256", "SHA384", "SHA512"};
static const size_t hash_sizes[] = {32, 48, 64};

struct jwt_key {
	enum kind kind;
	EVP_PKEY *pkey;        /* public keys */
	unsigned char *secret; /* the HMAC secret */
	size_t secret_len;
	char kid[LG_JWT_KID_MAX + 1]; /* "" if none */
};

/* One remembered verdict: a token (by its 128-bit keyed hash) and who it names. */
struct cache_entry {
	uint64_t h0, h1;
	int64_t until; /* usable while now < until */
	int64_t expires;
	uint64_t used; /* the shard's clock at the last hit, for eviction */
	uint32_t region;
	uint16_t student_len;
	bool valid;
	char student[LG_JWT_STUDENT_MAX + 1];
};

struct cache_shard {
	pthread_mutex_t lock;
	uint64_t clock, hits, misses;
	struct cache_entry *sets; /* nsets * CACHE_WAYS */
};

struct lg_jwt_verifier {
	struct jwt_key *keys;
	size_t nkeys;
	bool kids;       /* some key has a kid: then a token's kid must name one */
	unsigned pinned; /* bit i: algs[i] */
	char *student_claim, *region_claim, *issuer, *audience;
	int64_t leeway;
	bool exp_optional;
	EVP_MD *md[3];
	EVP_MAC *hmac;
	uint8_t sipkey[16];
	struct cache_shard *shards;
	size_t nshards, nsets; /* sets per shard */
};

static void errf(char *err, size_t errlen, const char *fmt, ...) LG_PRINTF(3, 4);

/* Format into err, if there is one. */
static void
errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* --- base64url (RFC 7515 §2: no padding, no other characters) --- */

/* Value of a base64url character, or -1. */
static int
b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	return c == '-' ? 62 : c == '_' ? 63 : -1;
}

/* Decode s[0..n) into out (cap bytes); length, or -1 if malformed, non-canonical or too long. */
static ssize_t
b64url_decode(const char *s, size_t n, uint8_t *out, size_t cap)
{
	uint32_t acc = 0;
	size_t bits = 0, o = 0;
	int v;

	if (n % 4 == 1 || n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0) > cap)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if ((v = b64val((unsigned char)s[i])) < 0)
			return -1;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	if (acc & ((1u << bits) - 1))
		return -1; /* leftover bits must be zero: one token, one encoding */
	return (ssize_t)o;
}

/* --- a strict JSON reader: validates a whole object, hands back chosen top-level members --- */

enum jtype { J_ABSENT = 0, J_STRING, J_NUMBER, J_BOOL, J_NULL, J_ARRAY, J_OBJECT };

/* A member's value: its type and text (strings: inside the quotes, still escaped). */
struct jval {
	enum jtype type;
	const char *p;
	size_t n;
};

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
static ssize_t
jstring(const struct jval *v, char *buf, size_t cap)
{
	struct sbuf b = {buf, 0, cap - 1};

	if (v->type != J_STRING || str_scan(v->p, v->p + v->n + 1, &b) == NULL)
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

static int json_value(struct json *j, struct jval *v);
static int json_object(struct json *j, const char *const *names, struct jval *vals, size_t nn);

/* [ value, ... ] */
static int
json_array(struct json *j)
{
	struct jval v;

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
json_object(struct json *j, const char *const *names, struct jval *vals, size_t nn)
{
	size_t start = j->nkeys, count = 0, kn;
	struct jval v;
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
json_value(struct json *j, struct jval *v)
{
	const char *s = j->p;
	int r;

	if (s >= j->end)
		return -1;
	switch (*s) {
	case '"':
		v->type = J_STRING;
		if ((j->p = str_scan(s + 1, j->end, NULL)) == NULL)
			return -1;
		v->p = s + 1;
		v->n = (size_t)(j->p - s) - 2;
		return 0;
	case '{':
		v->type = J_OBJECT;
		r = json_object(j, NULL, NULL, 0);
		break;
	case '[':
		v->type = J_ARRAY;
		r = json_array(j);
		break;
	case 't':
	case 'f':
		v->type = J_BOOL;
		r = literal(j, *s == 't' ? "true" : "false");
		break;
	case 'n':
		v->type = J_NULL;
		r = literal(j, "null");
		break;
	default:
		v->type = J_NUMBER;
		r = number(j);
	}
	v->p = s;
	v->n = (size_t)(j->p - s);
	return r;
}

/* A document that is one object and nothing else; 0, -1, or -2 for a duplicate name. */
static int
json_parse(const char *s, size_t n, char *keybuf, size_t keycap, const char *const *names,
           struct jval *vals, size_t nn)
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

/* --- keys --- */

/* Read a whole file (at most KEYFILE_MAX bytes) into *data. */
static int
read_file(const char *path, char **data, size_t *len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	size_t n;
	char *buf;

	if (f == NULL) {
		errf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	buf = lg_xcalloc(1, KEYFILE_MAX + 1);
	n = fread(buf, 1, KEYFILE_MAX + 1, f);
	if (ferror(f) || n > KEYFILE_MAX) {
		errf(err, errlen, "%s: %s", path,
		     ferror(f) ? "read error" : "larger than 1 MiB, not a key file");
		fclose(f);
		free(buf);
		return -1;
	}
	fclose(f);
	*data = buf;
	*len = n;
	return 0;
}

/* Add a key to the verifier. */
static struct jwt_key *
add_key(struct lg_jwt_verifier *v, enum kind kind, const char *kid)
{
	struct jwt_key *k;

	v->keys = lg_xrealloc(v->keys, v->nkeys + 1, sizeof(*v->keys));
	k = &v->keys[v->nkeys++];
	memset(k, 0, sizeof(*k));
	k->kind = kind;
	snprintf(k->kid, sizeof(k->kid), "%s", kid);
	if (*kid)
		v->kids = true;
	return k;
}

/* What kind a public key is, or -1 with the reason in err. */
static int
key_kind(EVP_PKEY *pkey, const char *where, char *err, size_t errlen)
{
	char group[64];

	if (EVP_PKEY_is_a(pkey, "RSA") || EVP_PKEY_is_a(pkey, "RSA-PSS")) {
		if (EVP_PKEY_get_bits(pkey) < RSA_MIN_BITS) {
			errf(err, errlen, "%s: RSA key of %d bits; at least %d are required", where,
			     EVP_PKEY_get_bits(pkey), RSA_MIN_BITS);
			return -1;
		}
		return EVP_PKEY_is_a(pkey, "RSA") ? K_RSA : K_RSA_PSS;
	}
	if (EVP_PKEY_is_a(pkey, "ED25519") || EVP_PKEY_is_a(pkey, "ED448"))
		return K_EDDSA;
	if (EVP_PKEY_is_a(pkey, "EC") &&
	    EVP_PKEY_get_group_name(pkey, group, sizeof(group), NULL) == 1) {
		if (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0)
			return K_P256;
		if (strcmp(group, "secp384r1") == 0 || strcmp(group, "P-384") == 0)
			return K_P384;
		errf(err, errlen, "%s: EC key on curve %s; only P-256 and P-384 are supported",
		     where, group);
		return -1;
	}
	errf(err, errlen, "%s: unsupported key type %s", where, EVP_PKEY_get0_type_name(pkey));
	return -1;
}

/* Decode one PEM block of a public key or certificate; NULL if it is not one. */
static EVP_PKEY *
decode_block(const char *label, const char *block, size_t len)
{
	EVP_PKEY *pkey = NULL;
	OSSL_DECODER_CTX *d;
	BIO *bio;
	X509 *x;

	if (strcmp(label, "CERTIFICATE") == 0) {
		if ((bio = BIO_new_mem_buf(block, (int)len)) == NULL)
			return NULL;
		if ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
			pkey = X509_get_pubkey(x);
			X509_free(x);
		}
		BIO_free(bio);
		return pkey;
	}
	d = OSSL_DECODER_CTX_new_for_pkey(&pkey, "PEM", NULL, NULL, EVP_PKEY_PUBLIC_KEY, NULL,
	                                  NULL);
	if (d != NULL) {
		const unsigned char *p = (const unsigned char *)block;
		size_t n = len;

		if (OSSL_DECODER_from_data(d, &p, &n) != 1)
			pkey = NULL;
		OSSL_DECODER_CTX_free(d);
	}
	return pkey;
}

/* The end of the line at p (before "\r\n" or "\n") and the start of the next. */
static const char *
line_end(const char *p, const char *end, const char **next)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	const char *e = nl ? nl : end;

	*next = nl ? nl + 1 : end;
	if (e > p && e[-1] == '\r')
		e--;
	return e;
}

/* Parse "# kid: NAME" into kid: 1 if the line is one, 0 if not, -1 if NAME is bad. */
static int
kid_line(const char *p, const char *e, char *kid)
{
	size_t n;

	if (p >= e || *p++ != '#')
		return 0;
	while (p < e && (*p == ' ' || *p == '\t'))
		p++;
	if (e - p < 4 || memcmp(p, "kid:", 4) != 0)
		return 0;
	for (p += 4; p < e && (*p == ' ' || *p == '\t'); p++)
		;
	while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	n = (size_t)(e - p);
	if (n == 0 || n > LG_JWT_KID_MAX)
		return -1;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)p[i] <= 0x20 || (unsigned char)p[i] >= 0x7f)
			return -1;
	memcpy(kid, p, n);
	kid[n] = '\0';
	return 1;
}

/* Whether a kid is taken already. */
static bool
kid_taken(const struct lg_jwt_verifier *v, const char *kid)
{
	for (size_t i = 0; i < v->nkeys; i++)
		if (strcmp(v->keys[i].kid, kid) == 0)
			return true;
	return false;
}

/* Find the END line of a block begun at the line before p; the position after it. */
static const char *
pem_end(const char *p, const char *end, const char *label, int *line)
{
	char want[96];
	const char *e, *next;

	snprintf(want, sizeof(want), "-----END %s-----", label);
	for (; p < end; p = next) {
		(*line)++;
		e = line_end(p, end, &next);
		if ((size_t)(e - p) == strlen(want) && memcmp(p, want, strlen(want)) == 0)
			return next;
	}
	return NULL;
}

/* Read the label of "-----BEGIN LABEL-----"; 0 if the line is not one. */
static int
pem_begin(const char *p, const char *e, char *label, size_t cap)
{
	size_t n;

	if (e - p < 16 || memcmp(p, "-----BEGIN ", 11) != 0 || memcmp(e - 5, "-----", 5) != 0)
		return 0;
	n = (size_t)(e - 5 - (p + 11));
	if (n == 0 || n >= cap)
		return -1;
	memcpy(label, p + 11, n);
	label[n] = '\0';
	return 1;
}

/* One PEM block starting at line: decode it and add its key under kid. */
static int
pem_key(struct lg_jwt_verifier *v, const char *where, const char *label, const char *block,
        size_t len, const char *kid, char *err, size_t errlen)
{
	EVP_PKEY *pkey;
	int kind;

	if (strstr(label, "PRIVATE") != NULL) {
		errf(err, errlen, "%s: a %s; the key file must hold only public keys", where,
		     label);
		return -1;
	}
	if (strcmp(label, "PUBLIC KEY") != 0 && strcmp(label, "RSA PUBLIC KEY") != 0 &&
	    strcmp(label, "CERTIFICATE") != 0) {
		errf(err, errlen, "%s: unexpected PEM block \"%s\"", where, label);
		return -1;
	}
	if ((pkey = decode_block(label, block, len)) == NULL) {
		errf(err, errlen, "%s: cannot read this %s", where, label);
		ERR_clear_error();
		return -1;
	}
	if ((kind = key_kind(pkey, where, err, errlen)) < 0) {
		EVP_PKEY_free(pkey);
		return -1;
	}
	add_key(v, (enum kind)kind, kid)->pkey = pkey;
	return 0;
}

/* Every PEM block of a key file, each maybe after a "# kid: NAME" line. */
static int
load_pem(struct lg_jwt_verifier *v, const char *file, const char *data, size_t len, char *err,
         size_t errlen)
{
	const char *p = data, *end = data + len, *e, *next, *after;
	char kid[LG_JWT_KID_MAX + 1] = "", label[64], where[512];
	int line = 0, kid_at = 0, r;

	for (; p < end; p = next) {
		e = line_end(p, end, &next);
		snprintf(where, sizeof(where), "%s:%d", file, ++line);
		if ((r = kid_line(p, e, kid)) != 0) {
			if (r < 0 || kid_at || kid_taken(v, kid)) {
				errf(err, errlen, "%s: %s", where,
				     r < 0    ? "kid must be 1..128 printable characters"
				     : kid_at ? "two kid lines for one key"
				              : "kid used twice");
				return -1;
			}
			kid_at = line;
			continue;
		}
		if ((r = pem_begin(p, e, label, sizeof(label))) == 0)
			continue;
		if (r < 0 || (after = pem_end(next, end, label, &line)) == NULL) {
			errf(err, errlen, "%s: PEM block without its END line", where);
			return -1;
		}
		if (pem_key(v, where, label, p, (size_t)(after - p), kid_at ? kid : "", err,
		            errlen) < 0)
			return -1;
		kid_at = 0;
		next = after;
	}
	if (kid_at) {
		errf(err, errlen, "%s:%d: kid not followed by a key", file, kid_at);
		return -1;
	}
	if (v->nkeys == 0) {
		errf(err, errlen, "%s: no public key in it", file);
		return -1;
	}
	return 0;
}

/* The secret of an HMAC key file: its bytes, long enough for every pinned HS algorithm. */
static int
load_secret(struct lg_jwt_verifier *v, const char *file, const char *data, size_t len, char *err,
            size_t errlen)
{
	struct jwt_key *k;

	for (size_t i = 0; i < NALGS; i++)
		if ((v->pinned & 1u << i) && algs[i].fam == F_HS &&
		    len < hash_sizes[algs[i].hash]) {
			errf(err, errlen,
			     "%s: HMAC secret of %zu bytes; %s needs at least %zu (RFC 7518 3.2)",
			     file, len, algs[i].name, hash_sizes[algs[i].hash]);
			return -1;
		}
	k = add_key(v, K_HMAC, "");
	k->secret = lg_xcalloc(1, len);
	memcpy(k->secret, data, len);
	k->secret_len = len;
	return 0;
}

/* Whether alg may be verified with a key of kind. */
static bool
compatible(const struct alg *a, enum kind kind)
{
	switch (a->fam) {
	case F_RS:
		return kind == K_RSA;
	case F_PS:
		return kind == K_RSA || kind == K_RSA_PSS;
	case F_ES:
		return kind == a->curve;
	case F_ED:
		return kind == K_EDDSA;
	case F_HS:
		return kind == K_HMAC;
	}
	return false;
}

/* Load the key file: public keys if it has PEM blocks, else an HMAC secret. */
static int
load_keys(struct lg_jwt_verifier *v, const char *file, char *err, size_t errlen)
{
	char *data;
	size_t len;
	int r;

	if (read_file(file, &data, &len, err, errlen) < 0)
		return -1;
	if (memmem(data, len, "-----BEGIN ", 11) != NULL)
		r = load_pem(v, file, data, len, err, errlen);
	else if (len == 0) {
		errf(err, errlen, "%s: empty: neither PEM public keys nor an HMAC secret", file);
		r = -1;
	} else
		r = load_secret(v, file, data, len, err, errlen);
	OPENSSL_cleanse(data, len);
	free(data);
	return r;
}

/* Whether some loaded key can verify some pinned algorithm. */
static bool
any_usable(const struct lg_jwt_verifier *v)
{
	for (size_t i = 0; i < NALGS; i++)
		for (size_t k = 0; (v->pinned & 1u << i) && k < v->nkeys; k++)
			if (compatible(&algs[i], v->keys[k].kind))
				return true;
	return false;
}

/* --- signatures --- */

/* DER INTEGER of an unsigned big-endian number; bytes written. */
static size_t
der_int(uint8_t *out, const uint8_t *p, size_t n)
{
	size_t o = 0;

	while (n > 1 && *p == 0) {
		p++;
		n--;
	}
	out[o++] = 0x02;
	out[o++] = (uint8_t)(n + (*p & 0x80 ? 1 : 0));
	if (*p & 0x80)
		out[o++] = 0;
	memcpy(out + o, p, n);
	return o + n;
}

/* JWS ECDSA signatures are R || S (RFC 7518 §3.4); EVP wants DER. Length, or 0. */
static size_t
ecdsa_der(const uint8_t *sig, size_t siglen, size_t half, uint8_t out[2 + 2 * 51])
{
	size_t n;

	if (siglen != 2 * half)
		return 0;
	n = der_int(out + 2, sig, half);
	n += der_int(out + 2 + n, sig + half, half);
	out[0] = 0x30;
	out[1] = (uint8_t)n;
	return n + 2;
}

/* Verify an HMAC in constant time. */
static bool
verify_hmac(const struct lg_jwt_verifier *v, const struct alg *a, const struct jwt_key *k,
            const void *msg, size_t len, const uint8_t *sig, size_t siglen)
{
	OSSL_PARAM params[2];
	uint8_t mac[EVP_MAX_MD_SIZE];
	size_t maclen = 0;
	EVP_MAC_CTX *c;
	bool ok;

	if (siglen != hash_sizes[a->hash] || (c = EVP_MAC_CTX_new(v->hmac)) == NULL)
		return false;
	params[0] =
	    OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)hash_names[a->hash], 0);
	params[1] = OSSL_PARAM_construct_end();
	ok = EVP_MAC_init(c, k->secret, k->secret_len, params) == 1 &&
	     EVP_MAC_update(c, msg, len) == 1 && EVP_MAC_final(c, mac, &maclen, sizeof(mac)) == 1 &&
	     maclen == siglen && CRYPTO_memcmp(mac, sig, siglen) == 0;
	EVP_MAC_CTX_free(c);
	return ok;
}

/* Verify a public-key signature. */
static bool
verify_pkey(const struct lg_jwt_verifier *v, const struct alg *a, const struct jwt_key *k,
            const void *msg, size_t len, const uint8_t *sig, size_t siglen)
{
	uint8_t der[2 + 2 * 51];
	EVP_PKEY_CTX *pc = NULL;
	EVP_MD_CTX *c;
	bool ok;

	if (a->fam == F_ES) {
		siglen = ecdsa_der(sig, siglen, a->curve == K_P256 ? 32 : 48, der);
		sig = der;
		if (siglen == 0)
			return false;
	} else if ((a->fam == F_RS || a->fam == F_PS) &&
	           siglen != (size_t)EVP_PKEY_get_size(k->pkey))
		return false;
	if ((c = EVP_MD_CTX_new()) == NULL)
		return false;
	ok = EVP_DigestVerifyInit(c, &pc, a->hash == H_NONE ? NULL : v->md[a->hash], NULL,
	                          k->pkey) == 1;
	if (ok && a->fam == F_PS)
		ok = EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING) == 1 &&
		     EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, RSA_PSS_SALTLEN_DIGEST) == 1;
	ok = ok && EVP_DigestVerify(c, sig, siglen, msg, len) == 1;
	EVP_MD_CTX_free(c);
	return ok;
}

/* Verify with every candidate key; NULL, or why not. */
static const char *
verify_signature(const struct lg_jwt_verifier *v, const struct alg *a, const char *kid,
                 const void *msg, size_t len, const uint8_t *sig, size_t siglen)
{
	bool candidate = false, ok = false;

	for (size_t i = 0; i < v->nkeys && !ok; i++) {
		const struct jwt_key *k = &v->keys[i];

		if (kid && strcmp(k->kid, kid) != 0)
			continue;
		if (!compatible(a, k->kind))
			continue;
		candidate = true;
		ok = k->kind == K_HMAC ? verify_hmac(v, a, k, msg, len, sig, siglen)
		                       : verify_pkey(v, a, k, msg, len, sig, siglen);
	}
	ERR_clear_error(); /* failures queue errors; leave nothing for the thread's TLS code */
	if (ok)
		return NULL;
	if (!candidate)
		return kid && !kid_taken(v, kid) ? "unknown kid" : "no key for algorithm";
	return "signature does not verify";
}

/* --- header and claims --- */

enum { H_ALG, H_KID, H_CRIT, H_N };
enum { C_EXP, C_NBF, C_ISS, C_AUD, C_STUDENT, C_REGION, C_N };

/* Buffers for one verification: nothing is allocated per token. */
struct scratch {
	uint8_t header[PART_MAX + 1], payload[PART_MAX + 1], sig[SIG_MAX];
	char keys[PART_MAX + 2];
	char str[PART_MAX + 1];
};

/* The pinned algorithm called name[0..n), or NULL ("none" is never pinnable). */
static const struct alg *
pinned_alg(const struct lg_jwt_verifier *v, const char *name, ssize_t n)
{
	for (size_t i = 0; n >= 0 && i < NALGS; i++)
		if ((v->pinned & 1u << i) && strlen(algs[i].name) == (size_t)n &&
		    memcmp(algs[i].name, name, (size_t)n) == 0)
			return &algs[i];
	return NULL;
}

/*
 * The pinned algorithm the header names and its kid (*kidp NULL if none, or
 * if no key has a kid to match); NULL and *why if the header is refused.
 */
static const struct alg *
check_header(const struct lg_jwt_verifier *v, struct scratch *s, size_t hlen, char *kid,
             const char **kidp, const char **why)
{
	static const char *const names[H_N] = {"alg", "kid", "crit"};
	const struct alg *a;
	struct jval h[H_N];
	char name[16];
	ssize_t n;
	int r;

	r = json_parse((const char *)s->header, hlen, s->keys, sizeof(s->keys), names, h, H_N);
	*why = r == -2 ? "duplicate key in token" : REASON_INVALID;
	if (r < 0 || h[H_ALG].type != J_STRING ||
	    (h[H_KID].type != J_ABSENT && h[H_KID].type != J_STRING))
		return NULL;
	*why = "unsupported critical header";
	if (h[H_CRIT].type != J_ABSENT)
		return NULL;
	*why = "algorithm not allowed";
	n = jstring(&h[H_ALG], name, sizeof(name));
	if ((a = pinned_alg(v, name, n)) == NULL)
		return NULL;
	*kidp = NULL;
	if (h[H_KID].type == J_STRING && v->kids) {
		*why = "unknown kid";
		n = jstring(&h[H_KID], kid, LG_JWT_KID_MAX + 1);
		if (n < 0 || strlen(kid) != (size_t)n)
			return NULL;
		*kidp = kid;
	}
	return a;
}

/* A NumericDate as whole seconds, fractions rounded up; -1 for exponents or overflow. */
static int
numeric_date(const struct jval *jv, int64_t *out)
{
	const char *p = jv->p, *e = jv->p + jv->n;
	bool neg = false, frac = false;
	int64_t x = 0;

	if (jv->type != J_NUMBER)
		return -1;
	if (*p == '-') {
		neg = true;
		p++;
	}
	for (; p < e && digit(*p); p++) {
		if (x > (INT64_MAX - (*p - '0')) / 10)
			return -1;
		x = x * 10 + (*p - '0');
	}
	if (p < e && *p == '.')
		for (p++; p < e && digit(*p); p++)
			frac |= *p != '0';
	if (p != e)
		return -1;
	*out = neg ? -x : x + frac;
	return 0;
}

/* a + b without overflowing. */
static int64_t
sat_add(int64_t a, int64_t b)
{
	if (b > 0 && a > INT64_MAX - b)
		return INT64_MAX;
	if (b < 0 && a < INT64_MIN - b)
		return INT64_MIN;
	return a + b;
}

/* exp and nbf against now, with leeway; *expires gets exp (INT64_MAX without one). */
static const char *
check_times(const struct lg_jwt_verifier *v, const struct jval *c, int64_t now, int64_t *expires)
{
	int64_t nbf;

	*expires = INT64_MAX;
	if (c[C_EXP].type == J_ABSENT) {
		if (!v->exp_optional)
			return "token has no exp";
	} else if (numeric_date(&c[C_EXP], expires) < 0)
		return REASON_INVALID;
	if (now >= sat_add(*expires, v->leeway))
		return "expired";
	if (c[C_NBF].type != J_ABSENT) {
		if (numeric_date(&c[C_NBF], &nbf) < 0)
			return REASON_INVALID;
		if (sat_add(now, v->leeway) < nbf)
			return "not yet valid";
	}
	return NULL;
}

/* Whether a string value equals want exactly. */
static bool
string_is(const struct jval *jv, const char *want, struct scratch *s)
{
	ssize_t n = jstring(jv, s->str, sizeof(s->str));

	return n >= 0 && (size_t)n == strlen(want) && memcmp(s->str, want, (size_t)n) == 0;
}

/* aud: a string, or an array of strings, one of which is ours. */
static const char *
check_audience(const struct lg_jwt_verifier *v, const struct jval *aud, struct scratch *s)
{
	struct jval el;
	struct json j;
	bool found = false;

	if (v->audience == NULL)
		return NULL;
	if (aud->type == J_STRING)
		return string_is(aud, v->audience, s) ? NULL : "audience mismatch";
	if (aud->type != J_ARRAY)
		return "audience mismatch";
	j = (struct json){aud->p + 1, aud->p + aud->n, s->keys, 0, sizeof(s->keys), 0, false};
	skip_ws(&j);
	if (eat(&j, ']'))
		return "audience mismatch";
	do {
		skip_ws(&j);
		if (json_value(&j, &el) < 0 || el.type != J_STRING)
			return REASON_INVALID;
		found |= string_is(&el, v->audience, s);
		skip_ws(&j);
	} while (eat(&j, ','));
	return found ? NULL : "audience mismatch";
}

/* The student id: a string (1..256 bytes, no control characters) or a non-negative integer. */
static const char *
take_student(const struct jval *jv, struct lg_identity *out)
{
	ssize_t n;

	if (jv->type == J_ABSENT || jv->type == J_NULL)
		return "missing student claim";
	if (jv->type == J_NUMBER) {
		if (jv->n > LG_JWT_STUDENT_MAX)
			return "invalid student claim";
		for (size_t i = 0; i < jv->n; i++)
			if (!digit(jv->p[i]))
				return "invalid student claim";
		memcpy(out->student, jv->p, jv->n);
		out->student[jv->n] = '\0';
		out->student_len = jv->n;
		return NULL;
	}
	if (jv->type != J_STRING || (n = jstring(jv, out->student, sizeof(out->student))) < 0)
		return "invalid student claim";
	if (n == 0)
		return "missing student claim";
	for (ssize_t i = 0; i < n; i++)
		if ((unsigned char)out->student[i] < 0x20 || out->student[i] == 0x7f)
			return "invalid student claim";
	out->student_len = (size_t)n;
	return NULL;
}

/* The region: six digits, as a string or a number; absent or null is 0. */
static const char *
take_region(const struct jval *jv, struct lg_identity *out)
{
	char buf[8];
	const char *p = buf;
	size_t n;

	out->region = 0;
	if (jv->type == J_ABSENT || jv->type == J_NULL)
		return NULL;
	if (jv->type == J_STRING) {
		if (jstring(jv, buf, sizeof(buf)) < 0)
			return "invalid region claim";
		n = strlen(buf);
	} else if (jv->type == J_NUMBER) {
		p = jv->p;
		n = jv->n;
	} else
		return "invalid region claim";
	if (n != 6 || p[0] == '0')
		return "invalid region claim";
	for (size_t i = 0; i < 6; i++) {
		if (!digit(p[i]))
			return "invalid region claim";
		out->region = out->region * 10 + (uint32_t)(p[i] - '0');
	}
	return NULL;
}

/* Every claim we look at. */
static const char *
check_claims(const struct lg_jwt_verifier *v, struct scratch *s, size_t plen, int64_t now,
             struct lg_identity *out)
{
	const char *names[C_N] = {"exp", "nbf", "iss", "aud", v->student_claim, v->region_claim};
	struct jval c[C_N];
	const char *why;
	int r;

	r = json_parse((const char *)s->payload, plen, s->keys, sizeof(s->keys), names, c, C_N);
	if (r < 0)
		return r == -2 ? "duplicate key in token" : REASON_INVALID;
	if ((why = check_times(v, c, now, &out->expires)) != NULL)
		return why;
	if (v->issuer && !string_is(&c[C_ISS], v->issuer, s))
		return "issuer mismatch";
	if ((why = check_audience(v, &c[C_AUD], s)) != NULL)
		return why;
	if ((why = take_student(&c[C_STUDENT], out)) != NULL)
		return why;
	return v->region_claim ? take_region(&c[C_REGION], out) : (out->region = 0, NULL);
}

/* The whole check of a token not in the cache. */
static const char *
verify_token(const struct lg_jwt_verifier *v, const char *t, size_t len, int64_t now,
             struct lg_identity *out)
{
	struct scratch s;
	const char *d1 = memchr(t, '.', len), *d2, *why, *kidp;
	char kid[LG_JWT_KID_MAX + 1];
	ssize_t hn, pn, sn;
	const struct alg *a;

	if (d1 == NULL || (d2 = memchr(d1 + 1, '.', (size_t)(t + len - d1 - 1))) == NULL ||
	    memchr(d2 + 1, '.', (size_t)(t + len - d2 - 1)) != NULL)
		return REASON_INVALID;
	hn = b64url_decode(t, (size_t)(d1 - t), s.header, PART_MAX);
	pn = b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), s.payload, PART_MAX);
	sn = b64url_decode(d2 + 1, (size_t)(t + len - d2 - 1), s.sig, SIG_MAX);
	if (hn <= 0 || pn <= 0 || sn < 0)
		return REASON_INVALID;
	if ((a = check_header(v, &s, (size_t)hn, kid, &kidp, &why)) == NULL)
		return why;
	if (sn == 0)
		return "signature does not verify";
	if ((why = verify_signature(v, a, kidp, t, (size_t)(d2 - t), s.sig, (size_t)sn)) != NULL)
		return why;
	return check_claims(v, &s, (size_t)pn, now, out);
}

/* --- the verified-token cache --- */

/* The shard and set a token hash belongs to. */
static struct cache_entry *
cache_set(struct lg_jwt_verifier *v, const uint64_t h[2], struct cache_shard **shard)
{
	*shard = &v->shards[h[0] % v->nshards];
	return &(*shard)->sets[(h[0] / v->nshards) % v->nsets * CACHE_WAYS];
}

/* Look a token up: 1 a live hit (out filled), -1 a hit that has expired (dropped), 0 a miss. */
static int
cache_lookup(struct lg_jwt_verifier *v, const uint64_t h[2], int64_t now, struct lg_identity *out)
{
	struct cache_shard *sh;
	struct cache_entry *set = cache_set(v, h, &sh), *e;
	int r = 0;

	pthread_mutex_lock(&sh->lock);
	for (int w = 0; w < CACHE_WAYS && r == 0; w++) {
		e = &set[w];
		if (!e->valid || e->h0 != h[0] || e->h1 != h[1])
			continue;
		if (now >= e->until) {
			e->valid = false;
			r = -1;
			break;
		}
		memcpy(out->student, e->student, e->student_len + 1u);
		out->student_len = e->student_len;
		out->region = e->region;
		out->expires = e->expires;
		e->used = ++sh->clock;
		r = 1;
	}
	if (r == 1)
		sh->hits++;
	else
		sh->misses++;
	pthread_mutex_unlock(&sh->lock);
	return r;
}

/* Remember a verified token in the way holding it already, an empty or dead one, or the LRU. */
static void
cache_insert(struct lg_jwt_verifier *v, const uint64_t h[2], int64_t now,
             const struct lg_identity *id)
{
	struct cache_shard *sh;
	struct cache_entry *set = cache_set(v, h, &sh), *e = &set[0];

	pthread_mutex_lock(&sh->lock);
	for (int w = 0; w < CACHE_WAYS; w++) {
		struct cache_entry *c = &set[w];

		if (!c->valid || now >= c->until || (c->h0 == h[0] && c->h1 == h[1])) {
			e = c;
			break;
		}
		if (c->used < e->used)
			e = c;
	}
	e->h0 = h[0];
	e->h1 = h[1];
	e->until = sat_add(id->expires, v->leeway);
	e->expires = id->expires;
	e->region = id->region;
	e->student_len = (uint16_t)id->student_len;
	memcpy(e->student, id->student, id->student_len + 1);
	e->used = ++sh->clock;
	e->valid = true;
	pthread_mutex_unlock(&sh->lock);
}

/* Size the cache: a power of two of at least CACHE_WAYS entries, in up to 64 shards. */
static void
cache_init(struct lg_jwt_verifier *v, size_t entries)
{
	size_t n = CACHE_WAYS;

	entries = entries == 0 ? LG_JWT_CACHE_DEFAULT : entries > CACHE_MAX ? CACHE_MAX : entries;
	while (n < entries)
		n *= 2;
	n /= CACHE_WAYS; /* sets in all */
	v->nshards = n < CACHE_SHARDS ? n : CACHE_SHARDS;
	v->nsets = n / v->nshards;
	v->shards = lg_xcalloc(v->nshards, sizeof(*v->shards));
	for (size_t i = 0; i < v->nshards; i++) {
		pthread_mutex_init(&v->shards[i].lock, NULL);
		v->shards[i].sets = lg_xcalloc(v->nsets * CACHE_WAYS, sizeof(struct cache_entry));
	}
}

/* Hits and misses of every shard. */
void
lg_jwt_cache_stats(struct lg_jwt_verifier *v, uint64_t *hits, uint64_t *misses)
{
	*hits = *misses = 0;
	for (size_t i = 0; i < v->nshards; i++) {
		pthread_mutex_lock(&v->shards[i].lock);
		*hits += v->shards[i].hits;
		*misses += v->shards[i].misses;
		pthread_mutex_unlock(&v->shards[i].lock);
	}
}

/* --- the verifier --- */

/* Pin the configured algorithm names. */
static int
pin_algorithms(struct lg_jwt_verifier *v, const struct lg_jwt_opts *o, char *err, size_t errlen)
{
	size_t k;

	for (size_t i = 0; i < o->nalgorithms; i++) {
		for (k = 0; k < NALGS && strcmp(algs[k].name, o->algorithms[i]) != 0; k++)
			;
		if (k == NALGS) {
			errf(err, errlen, "algorithms: unsupported algorithm \"%s\"",
			     o->algorithms[i]);
			return -1;
		}
		v->pinned |= 1u << k;
	}
	if (v->pinned == 0) {
		errf(err, errlen, "algorithms: none pinned");
		return -1;
	}
	return 0;
}

/* Check the options that are plain values. */
static int
check_opts(const struct lg_jwt_opts *o, char *err, size_t errlen)
{
	if (o->keys == NULL || *o->keys == '\0') {
		errf(err, errlen, "keys: no key file given");
		return -1;
	}
	if (o->leeway < 0 || o->leeway > 86400) {
		errf(err, errlen, "leeway: %lld seconds is not within 0..86400",
		     (long long)o->leeway);
		return -1;
	}
	if ((o->student_claim && *o->student_claim == '\0') ||
	    (o->region_claim && *o->region_claim == '\0')) {
		errf(err, errlen, "student_claim, region_claim: must not be empty");
		return -1;
	}
	return 0;
}

/* Build a verifier. */
struct lg_jwt_verifier *
lg_jwt_verifier_new(const struct lg_jwt_opts *o, char *err, size_t errlen)
{
	struct lg_jwt_verifier *v;

	if (check_opts(o, err, errlen) < 0)
		return NULL;
	v = lg_xcalloc(1, sizeof(*v));
	v->student_claim = lg_strdup(o->student_claim ? o->student_claim : "sub");
	v->region_claim = lg_strdup(o->region_claim);
	v->issuer = lg_strdup(o->issuer);
	v->audience = lg_strdup(o->audience);
	v->leeway = o->leeway;
	v->exp_optional = o->exp_optional;
	if (pin_algorithms(v, o, err, errlen) < 0 || load_keys(v, o->keys, err, errlen) < 0)
		goto fail;
	if (!any_usable(v)) {
		errf(err, errlen, "%s: no key in it fits any of the pinned algorithms", o->keys);
		goto fail;
	}
	for (int i = 0; i < 3; i++)
		v->md[i] = EVP_MD_fetch(NULL, hash_names[i], NULL);
	v->hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (!v->md[0] || !v->md[1] || !v->md[2] || !v->hmac ||
	    RAND_bytes(v->sipkey, sizeof(v->sipkey)) != 1) {
		errf(err, errlen, "OpenSSL: cannot fetch SHA-2, HMAC or random bytes");
		goto fail;
	}
	cache_init(v, o->cache_entries);
	return v;
fail:
	ERR_clear_error();
	lg_jwt_verifier_free(v);
	return NULL;
}

/* Free a verifier and its keys (NULL is fine). */
void
lg_jwt_verifier_free(struct lg_jwt_verifier *v)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < v->nkeys; i++) {
		EVP_PKEY_free(v->keys[i].pkey);
		if (v->keys[i].secret)
			OPENSSL_clear_free(v->keys[i].secret, v->keys[i].secret_len);
	}
	free(v->keys);
	for (size_t i = 0; i < v->nshards; i++) {
		pthread_mutex_destroy(&v->shards[i].lock);
		free(v->shards[i].sets);
	}
	free(v->shards);
	for (int i = 0; i < 3; i++)
		EVP_MD_free(v->md[i]);
	EVP_MAC_free(v->hmac);
	free(v->student_claim);
	free(v->region_claim);
	free(v->issuer);
	free(v->audience);
	free(v);
}

/* Fail with a reason. */
static int
refuse(char *reason, size_t reasonlen, const char *why)
{
	errf(reason, reasonlen, "%s", why);
	return -1;
}

/* Verify a token, through the cache. */
int
lg_jwt_verify(struct lg_jwt_verifier *v, const char *token, size_t len, int64_t now,
              struct lg_identity *out, char *reason, size_t reasonlen)
{
	uint64_t h[2];
	const char *why;
	int r;

	if (len == 0)
		return refuse(reason, reasonlen, "missing token");
	if (len > LG_JWT_MAX_TOKEN)
		return refuse(reason, reasonlen, "token too long");
	lg_siphash128(v->sipkey, token, len, h);
	if ((r = cache_lookup(v, h, now, out)) != 0)
		return r > 0 ? 0 : refuse(reason, reasonlen, "expired");
	if ((why = verify_token(v, token, len, now, out)) != NULL)
		return refuse(reason, reasonlen, why);
	cache_insert(v, h, now, out);
	return 0;
}

/* --- where tokens come from --- */

/* Whether c is space or tab. */
static bool
ows(char c)
{
	return c == ' ' || c == '\t';
}

/* Trim spaces and tabs from both ends of s[0..*n). */
static const char *
trim(const char *s, size_t *n)
{
	while (*n > 0 && ows(s[0])) {
		s++;
		(*n)--;
	}
	while (*n > 0 && ows(s[*n - 1]))
		(*n)--;
	return s;
}

/* b64token (RFC 6750 §2.1): 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=". */
static bool
b64token(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n && (b64val((unsigned char)s[i]) >= 0 || s[i] == '.' || s[i] == '~' ||
	                 s[i] == '+' || s[i] == '/'))
		i++;
	if (i == 0)
		return false;
	while (i < n && s[i] == '=')
		i++;
	return i == n;
}

/* "Bearer" 1*SP b64token. */
int
lg_jwt_from_authorization(const char *value, size_t len, const char **tok, size_t *toklen)
{
	const char *s = trim(value, &len);
	size_t i = 6;

	if (len < 6 || strncasecmp(s, "Bearer", 6) != 0 || (len > 6 && !ows(s[6])))
		return 0;
	while (i < len && s[i] == ' ')
		i++;
	if (i == 6 || !b64token(s + i, len - i))
		return -1;
	*tok = s + i;
	*toklen = len - i;
	return 1;
}

/* The cookie called name: cookie-pair *( ";" SP cookie-pair ), spaces tolerated. */
int
lg_jwt_from_cookie(const char *value, size_t len, const char *name, const char **tok,
                   size_t *toklen)
{
	const char *p = value, *end = value + len, *semi, *eq, *v, *found = NULL;
	size_t nlen = strlen(name), vn, fn = 0, kn;

	for (; p < end; p = semi < end ? semi + 1 : end) {
		semi = memchr(p, ';', (size_t)(end - p));
		semi = semi ? semi : end;
		if ((eq = memchr(p, '=', (size_t)(semi - p))) == NULL)
			continue;
		kn = (size_t)(eq - p);
		p = trim(p, &kn);
		if (kn != nlen || memcmp(p, name, nlen) != 0)
			continue;
		vn = (size_t)(semi - eq - 1);
		v = trim(eq + 1, &vn);
		if (vn >= 2 && v[0] == '"' && v[vn - 1] == '"') {
			v++;
			vn -= 2;
		}
		if (found && (fn != vn || memcmp(found, v, vn) != 0))
			return -1;
		found = v;
		fn = vn;
	}
	if (found == NULL || fn == 0)
		return 0;
	*tok = found;
	*toklen = fn;
	return 1;
}

/* Percent-decode s[0..n) ('+' is a space) into out (cap bytes); length, or -1. */
static ssize_t
pct_decode(const char *s, size_t n, char *out, size_t cap)
{
	size_t o = 0;
	int hi, lo;

	for (size_t i = 0; i < n; i++, o++) {
		if (o == cap)
			return -1;
		if (s[i] != '%') {
			out[o] = s[i] == '+' ? ' ' : s[i];
			continue;
		}
		if (n - i < 3 || (hi = lg_hex_value(s[i + 1])) < 0 ||
		    (lo = lg_hex_value(s[i + 2])) < 0)
			return -1;
		out[o] = (char)(hi << 4 | lo);
		i += 2;
	}
	return (ssize_t)o;
}

/* Whether the parameter name s[0..n), decoded, is name. */
static bool
param_is(const char *s, size_t n, const char *name)
{
	char buf[256];
	ssize_t k = pct_decode(s, n, buf, sizeof(buf));

	return k >= 0 && (size_t)k == strlen(name) && memcmp(buf, name, (size_t)k) == 0;
}

/* The query parameter called name, decoded. */
int
lg_jwt_from_query(const char *query, size_t len, const char *name, char *out, size_t outlen,
                  size_t *toklen)
{
	const char *p = query, *end = query + len, *amp, *eq, *found = NULL;
	size_t fn = 0, vn;
	ssize_t n;

	for (; p < end; p = amp < end ? amp + 1 : end) {
		amp = memchr(p, '&', (size_t)(end - p));
		amp = amp ? amp : end;
		eq = memchr(p, '=', (size_t)(amp - p));
		eq = eq ? eq : amp;
		if (param_is(p, (size_t)(eq - p), name)) {
			vn = eq < amp ? (size_t)(amp - eq - 1) : 0;
			if (found && (fn != vn || memcmp(found, eq + 1, vn) != 0))
				return -1;
			found = eq + 1;
			fn = vn;
		}
	}
	if (found == NULL || fn == 0)
		return 0;
	if (outlen == 0 || (n = pct_decode(found, fn, out, outlen - 1)) < 0)
		return -1;
	out[n] = '\0';
	*toklen = (size_t)n;
	return n > 0 ? 1 : 0;
}
