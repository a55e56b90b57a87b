/* Student identity from JSON Web Tokens (RFC 7519/7515): pinned algorithms, cached verdicts. */
#ifndef LG_JWT_H
#define LG_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longer tokens are refused before any work is done. */
#define LG_JWT_MAX_TOKEN 8192
/* Longest student id, in bytes. */
#define LG_JWT_STUDENT_MAX 256
/* Longest `kid`, in a key file or a token header. */
#define LG_JWT_KID_MAX 128
/* Entries of the verified-token cache unless configured. */
#define LG_JWT_CACHE_DEFAULT 65536

/* Who a request is from. */
struct lg_identity {
	char student[LG_JWT_STUDENT_MAX + 1]; /* NUL-terminated, never empty, no control chars */
	size_t student_len;
	uint32_t region; /* GB/T 2260 six-digit code; 0 if the token names none */
	int64_t expires; /* the token's exp (unix seconds) */
};

struct lg_jwt_opts {
	/*
	 * A PEM file of public keys ("PUBLIC KEY", "RSA PUBLIC KEY" or
	 * "CERTIFICATE" blocks: RSA of 2048 bits or more, EC P-256/P-384,
	 * Ed25519/Ed448), each optionally preceded by a line "# kid: NAME"; or,
	 * if the file has no PEM block, an HMAC secret: all its bytes, exactly
	 * (a trailing newline is part of the secret).
	 */
	const char *keys;
	char *const *algorithms; /* "RS256", "ES256", "EdDSA", "HS256", ...: the only ones taken */
	size_t nalgorithms;
	const char *student_claim; /* NULL: "sub" */
	const char *region_claim;  /* NULL: tokens carry no region */
	const char *issuer;        /* NULL: iss not checked */
	const char *audience;      /* NULL: aud not checked */
	int64_t leeway;            /* seconds of clock skew allowed on exp and nbf */
	bool exp_optional;         /* accept tokens without exp (by default they are refused) */
	size_t cache_entries;      /* 0: LG_JWT_CACHE_DEFAULT; rounded up to a power of two */
};

struct lg_jwt_verifier;

/* Load the keys and check the options; NULL with "file:line: message" or "option: message" in err.
 */
struct lg_jwt_verifier *lg_jwt_verifier_new(const struct lg_jwt_opts *, char *err, size_t errlen);
void lg_jwt_verifier_free(struct lg_jwt_verifier *);

/*
 * Verify a compact JWS token[0..len) at unix time now and fill out. 0, or -1
 * with a short static reason fit for a 401 body ("expired", "signature does
 * not verify", "algorithm not allowed", "unknown kid", "malformed token", ...;
 * never text from the token), out then being unspecified.
 * Verified tokens are remembered until they expire, so a repeated token costs
 * a hash and a lookup. Safe to call from several threads at once.
 */
int lg_jwt_verify(struct lg_jwt_verifier *, const char *token, size_t len, int64_t now,
                  struct lg_identity *out, char *reason, size_t reasonlen);

/* Cache hits and misses so far (for metrics). */
void lg_jwt_cache_stats(struct lg_jwt_verifier *, uint64_t *hits, uint64_t *misses);

/*
 * Token extraction. Each returns 1 and the token, 0 if the value carries no
 * token for us, -1 if it carries one that is malformed or ambiguous (which
 * refuses the request rather than falling through to another source).
 */

/* From an Authorization value: "Bearer" (any case), one or more spaces, a b64token. */
int lg_jwt_from_authorization(const char *value, size_t len, const char **tok, size_t *toklen);
/* From a Cookie value: the cookie called name (quotes removed); a second, different one is -1. */
int lg_jwt_from_cookie(const char *value, size_t len, const char *name, const char **tok,
                       size_t *toklen);
/*
 * From a query string (after '?'): the parameter called name, percent-decoded
 * into out[0..outlen) (NUL-terminated); a second, different one is -1, and so
 * is a value that does not fit.
 */
int lg_jwt_from_query(const char *query, size_t len, const char *name, char *out, size_t outlen,
                      size_t *toklen);

#endif
