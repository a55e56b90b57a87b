/* Student identity from JSON Web Tokens (RFC 7519/7515): claims, cached verdicts, token sources. */
#include "jwt.h"

#include "hash.h"
#include "json.h"
#include "jwtkeys.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>

#include <openssl/err.h>
#include <openssl/rand.h>

#include "util.h"

/* Decoded parts are at most this long; signatures much shorter (RSA 8192: 1024 bytes). */
#define PART_MAX       (LG_JWT_MAX_TOKEN / 4 * 3)
#define SIG_MAX        1024
#define CACHE_WAYS     4
#define CACHE_SHARDS   64
#define CACHE_MAX      (1u << 22)
#define REASON_INVALID "malformed token"

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
	struct lg_jwtkeys *keys;
	char *student_claim, *region_claim, *issuer, *audience;
	int64_t leeway;
	bool exp_optional;
	uint8_t sipkey[16];
	struct cache_shard *shards;
	size_t nshards, nsets; /* sets per shard */
};

/* Whether c is an ASCII digit. */
static bool
digit(char c)
{
	return c >= '0' && c <= '9';
}

/* --- base64url (RFC 7515 §2: no padding, no other characters) --- */

/* base64url values by byte, -1 where a byte is not in the alphabet (a lookup on the hot path). */
static const int8_t b64tab[256] = {
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1, -1, 0,  1,  2,  3,  4,  5,  6,
    7,  8,  9,  10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, 63,
    -1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48,
    49, 50, 51, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
};

/* Value of a base64url character, or -1. */
static inline int
b64val(unsigned char c)
{
	return b64tab[c];
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

/* --- header and claims --- */

enum { H_ALG, H_KID, H_CRIT, H_N };
enum { C_EXP, C_NBF, C_ISS, C_AUD, C_STUDENT, C_REGION, C_N };

/* Buffers for one verification: nothing is allocated per token. */
struct scratch {
	uint8_t header[PART_MAX + 1], payload[PART_MAX + 1], sig[SIG_MAX];
	char keys[PART_MAX + 2];
	char str[PART_MAX + 1];
};

/*
 * The pinned algorithm the header names and its kid (*kidp NULL if none, or
 * if no key has a kid to match); NULL and *why if the header is refused.
 */
static const struct lg_jwtkeys_alg *
check_header(const struct lg_jwt_verifier *v, struct scratch *s, size_t hlen, char *kid,
             const char **kidp, const char **why)
{
	static const char *const names[H_N] = {"alg", "kid", "crit"};
	const struct lg_jwtkeys_alg *a;
	struct lg_json_value h[H_N];
	char name[16];
	ssize_t n;
	int r;

	r = lg_json_parse((const char *)s->header, hlen, s->keys, sizeof(s->keys), names, h, H_N);
	*why = r == -2 ? "duplicate key in token" : REASON_INVALID;
	if (r < 0 || h[H_ALG].type != LG_JSON_STRING ||
	    (h[H_KID].type != LG_JSON_ABSENT && h[H_KID].type != LG_JSON_STRING))
		return NULL;
	*why = "unsupported critical header";
	if (h[H_CRIT].type != LG_JSON_ABSENT)
		return NULL;
	*why = "algorithm not allowed";
	n = lg_json_string(&h[H_ALG], name, sizeof(name));
	if ((a = lg_jwtkeys_alg(v->keys, name, n)) == NULL)
		return NULL;
	*kidp = NULL;
	if (h[H_KID].type == LG_JSON_STRING && lg_jwtkeys_kids(v->keys)) {
		*why = "unknown kid";
		n = lg_json_string(&h[H_KID], kid, LG_JWT_KID_MAX + 1);
		if (n < 0 || strlen(kid) != (size_t)n)
			return NULL;
		*kidp = kid;
	}
	return a;
}

/* A NumericDate as whole seconds, fractions rounded up; -1 for exponents or overflow. */
static int
numeric_date(const struct lg_json_value *jv, int64_t *out)
{
	const char *p = jv->p, *e = jv->p + jv->n;
	bool neg = false, frac = false;
	int64_t x = 0;

	if (jv->type != LG_JSON_NUMBER)
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
check_times(const struct lg_jwt_verifier *v, const struct lg_json_value *c, int64_t now,
            int64_t *expires)
{
	int64_t nbf;

	*expires = INT64_MAX;
	if (c[C_EXP].type == LG_JSON_ABSENT) {
		if (!v->exp_optional)
			return "token has no exp";
	} else if (numeric_date(&c[C_EXP], expires) < 0)
		return REASON_INVALID;
	if (now >= sat_add(*expires, v->leeway))
		return "expired";
	if (c[C_NBF].type != LG_JSON_ABSENT) {
		if (numeric_date(&c[C_NBF], &nbf) < 0)
			return REASON_INVALID;
		if (sat_add(now, v->leeway) < nbf)
			return "not yet valid";
	}
	return NULL;
}

/* Whether a string value equals want exactly. */
static bool
string_is(const struct lg_json_value *jv, const char *want, struct scratch *s)
{
	ssize_t n = lg_json_string(jv, s->str, sizeof(s->str));

	return n >= 0 && (size_t)n == strlen(want) && memcmp(s->str, want, (size_t)n) == 0;
}

/* What check_audience() looks for in an aud array. */
struct aud_match {
	const char *want;
	struct scratch *s;
	bool found;
};

/* One element of an aud array: a string, maybe ours. */
static int
aud_element(const struct lg_json_value *el, void *arg)
{
	struct aud_match *m = arg;

	if (el->type != LG_JSON_STRING)
		return -1;
	m->found |= string_is(el, m->want, m->s);
	return 0;
}

/* aud: a string, or an array of strings, one of which is ours. */
static const char *
check_audience(const struct lg_jwt_verifier *v, const struct lg_json_value *aud, struct scratch *s)
{
	struct aud_match m = {v->audience, s, false};

	if (v->audience == NULL)
		return NULL;
	if (aud->type == LG_JSON_STRING)
		return string_is(aud, v->audience, s) ? NULL : "audience mismatch";
	if (aud->type != LG_JSON_ARRAY)
		return "audience mismatch";
	if (lg_json_each(aud, s->keys, sizeof(s->keys), aud_element, &m) < 0)
		return REASON_INVALID;
	return m.found ? NULL : "audience mismatch";
}

/* The student id: a string (1..256 bytes, no control characters) or a non-negative integer. */
static const char *
take_student(const struct lg_json_value *jv, struct lg_identity *out)
{
	ssize_t n;

	if (jv->type == LG_JSON_ABSENT || jv->type == LG_JSON_NULL)
		return "missing student claim";
	if (jv->type == LG_JSON_NUMBER) {
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
	if (jv->type != LG_JSON_STRING ||
	    (n = lg_json_string(jv, out->student, sizeof(out->student))) < 0)
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
take_region(const struct lg_json_value *jv, struct lg_identity *out)
{
	char buf[8];
	const char *p = buf;
	size_t n;

	out->region = 0;
	if (jv->type == LG_JSON_ABSENT || jv->type == LG_JSON_NULL)
		return NULL;
	if (jv->type == LG_JSON_STRING) {
		if (lg_json_string(jv, buf, sizeof(buf)) < 0)
			return "invalid region claim";
		n = strlen(buf);
	} else if (jv->type == LG_JSON_NUMBER) {
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
	struct lg_json_value c[C_N];
	const char *why;
	int r;

	r = lg_json_parse((const char *)s->payload, plen, s->keys, sizeof(s->keys), names, c, C_N);
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
	const struct lg_jwtkeys_alg *a;

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
	if ((why = lg_jwtkeys_verify(v->keys, a, kidp, t, (size_t)(d2 - t), s.sig, (size_t)sn)) !=
	    NULL)
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

/* Check the options that are plain values. */
static int
check_opts(const struct lg_jwt_opts *o, char *err, size_t errlen)
{
	if (o->keys == NULL || *o->keys == '\0') {
		lg_jwt_errf(err, errlen, "keys: no key file given");
		return -1;
	}
	if (o->leeway < 0 || o->leeway > 86400) {
		lg_jwt_errf(err, errlen, "leeway: %lld seconds is not within 0..86400",
		            (long long)o->leeway);
		return -1;
	}
	if ((o->student_claim && *o->student_claim == '\0') ||
	    (o->region_claim && *o->region_claim == '\0')) {
		lg_jwt_errf(err, errlen, "student_claim, region_claim: must not be empty");
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
	if ((v->keys = lg_jwtkeys_new(o, err, errlen)) == NULL)
		goto fail;
	if (RAND_bytes(v->sipkey, sizeof(v->sipkey)) != 1) {
		lg_jwt_errf(err, errlen, "OpenSSL: cannot fetch SHA-2, HMAC or random bytes");
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
	lg_jwtkeys_free(v->keys);
	for (size_t i = 0; i < v->nshards; i++) {
		pthread_mutex_destroy(&v->shards[i].lock);
		free(v->shards[i].sets);
	}
	free(v->shards);
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
	lg_jwt_errf(reason, reasonlen, "%s", why);
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

/* Bytes of RFC 6750's b64token: ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/". */
static const uint8_t b64token_char[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0,
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 1,
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

/* b64token (RFC 6750 §2.1): 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=". */
static bool
b64token(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n && b64token_char[(unsigned char)s[i]])
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
