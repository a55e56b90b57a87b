/* Tests for lib/identity/jwt.c: keys, every algorithm, forged and confused tokens, claims, cache, sources.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <pthread.h>

#include <cmocka.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/encoder.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "jwt.h"

#define NOW 1750000000

/* Keys made at test time, the directory their files live in, and memory to free at the end. */
static struct {
	char dir[64];
	EVP_PKEY *rsa, *rsa2, *rsa1024, *ec, *ec384, *ec521, *ed;
	void **mem;
	size_t nmem;
} K;

/* Remember p to free at teardown; p. */
static void *
keep(void *p)
{
	K.mem = realloc(K.mem, (K.nmem + 1) * sizeof(*K.mem));
	K.mem[K.nmem++] = p;
	return p;
}

/* printf into memory freed at teardown. */
static char *
fmt(const char *f, ...)
{
	va_list ap;
	char *s;

	va_start(ap, f);
	assert_true(vasprintf(&s, f, ap) >= 0);
	va_end(ap);
	return keep(s);
}

/* The path of a file in the key directory. */
static const char *
file(const char *name)
{
	return fmt("%s/%s", K.dir, name);
}

/* Write a file in the key directory; its path. */
static const char *
put_file(const char *name, const void *data, size_t len)
{
	const char *path = file(name);
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
	return path;
}

/* Write a text file in the key directory; its path. */
static const char *
put_str(const char *name, const char *text)
{
	return put_file(name, text, strlen(text));
}

/* Write public keys, each after "# kid: NAME" if kids[i] is set; the file's path. */
static const char *
put_keys(const char *name, EVP_PKEY *const *keys, const char *const *kids, size_t n)
{
	const char *path = file(name);
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	for (size_t i = 0; i < n; i++) {
		if (kids && kids[i])
			fprintf(f, "# kid: %s\n", kids[i]);
		assert_int_equal(PEM_write_PUBKEY(f, keys[i]), 1);
	}
	fclose(f);
	return path;
}

/* A whole file's bytes (freed at teardown). */
static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = keep(calloc(1, 1 << 16));

	assert_non_null(f);
	*len = fread(buf, 1, (1 << 16) - 1, f);
	fclose(f);
	return buf;
}

/* base64url without padding (freed at teardown). */
static char *
b64url(const void *data, size_t n)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	const uint8_t *p = data;
	char *out = keep(malloc(n / 3 * 4 + 5)), *o = out;
	size_t i;

	for (i = 0; i + 3 <= n; i += 3) {
		*o++ = a[p[i] >> 2];
		*o++ = a[(p[i] & 3) << 4 | p[i + 1] >> 4];
		*o++ = a[(p[i + 1] & 15) << 2 | p[i + 2] >> 6];
		*o++ = a[p[i + 2] & 63];
	}
	if (n - i == 1) {
		*o++ = a[p[i] >> 2];
		*o++ = a[(p[i] & 3) << 4];
	} else if (n - i == 2) {
		*o++ = a[p[i] >> 2];
		*o++ = a[(p[i] & 3) << 4 | p[i + 1] >> 4];
		*o++ = a[(p[i + 1] & 15) << 2];
	}
	*o = '\0';
	return out;
}

/* "SHA256" for "RS256" and the like. */
static const char *
md_of(const char *alg)
{
	return strcmp(alg + 2, "256") == 0   ? "SHA256"
	       : strcmp(alg + 2, "384") == 0 ? "SHA384"
	                                     : "SHA512";
}

/* Convert a DER ECDSA signature to JWS R || S. */
static size_t
ecdsa_raw(const uint8_t *der, size_t len, uint8_t *out, int half)
{
	const unsigned char *p = der;
	ECDSA_SIG *s = d2i_ECDSA_SIG(NULL, &p, (long)len);
	const BIGNUM *r, *ss;

	assert_non_null(s);
	ECDSA_SIG_get0(s, &r, &ss);
	assert_int_equal(BN_bn2binpad(r, out, half), half);
	assert_int_equal(BN_bn2binpad(ss, out + half, half), half);
	ECDSA_SIG_free(s);
	return (size_t)half * 2;
}

/* Sign msg as alg does, with key (public-key algorithms) or secret (HS*); signature length. */
static size_t
sign(const char *alg, EVP_PKEY *key, const void *secret, size_t slen, const char *msg, uint8_t *sig)
{
	EVP_PKEY_CTX *pc = NULL;
	uint8_t der[1024];
	size_t n = sizeof(der);
	EVP_MD_CTX *c;

	if (alg[0] == 'H') {
		assert_non_null(EVP_Q_mac(NULL, "HMAC", NULL, md_of(alg), NULL, secret, slen,
		                          (const unsigned char *)msg, strlen(msg), sig, 64, &n));
		return n;
	}
	c = EVP_MD_CTX_new();
	assert_int_equal(EVP_DigestSignInit_ex(c, &pc,
	                                       alg[0] == 'E' && alg[1] == 'd' ? NULL : md_of(alg),
	                                       NULL, NULL, key, NULL),
	                 1);
	if (alg[0] == 'P') {
		assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING), 1);
		assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, RSA_PSS_SALTLEN_DIGEST), 1);
	}
	assert_int_equal(EVP_DigestSign(c, der, &n, (const unsigned char *)msg, strlen(msg)), 1);
	EVP_MD_CTX_free(c);
	if (alg[0] == 'E' && alg[1] == 'S')
		return ecdsa_raw(der, n, sig, strcmp(alg, "ES256") == 0 ? 32 : 48);
	memcpy(sig, der, n);
	return n;
}

/* A compact token with this header and these claims, signed as alg. */
static char *
token_full(const char *alg, EVP_PKEY *key, const void *secret, size_t slen, const char *header,
           const char *claims)
{
	char *msg = fmt("%s.%s", b64url(header, strlen(header)), b64url(claims, strlen(claims)));
	uint8_t sig[1024];
	size_t n = sign(alg, key, secret, slen, msg, sig);

	return fmt("%s.%s", msg, b64url(sig, n));
}

/* A token with the usual header for alg. */
static char *
token(const char *alg, EVP_PKEY *key, const char *claims)
{
	return token_full(alg, key, NULL, 0, fmt("{\"alg\":\"%s\",\"typ\":\"JWT\"}", alg), claims);
}

/* A token with a kid in its header. */
static char *
token_kid(const char *alg, EVP_PKEY *key, const char *kid, const char *claims)
{
	return token_full(alg, key, NULL, 0, fmt("{\"alg\":\"%s\",\"kid\":\"%s\"}", alg, kid),
	                  claims);
}

/* An unsigned token part: base64url of a JSON text. */
static char *
part(const char *json)
{
	return b64url(json, strlen(json));
}

/* Claims for student sub expiring at exp. */
static char *
claims(const char *sub, int64_t exp)
{
	return fmt("{\"sub\":\"%s\",\"exp\":%lld}", sub, (long long)exp);
}

/* A verifier that must load. */
static struct lg_jwt_verifier *
verifier(struct lg_jwt_opts o)
{
	char err[512] = "";
	struct lg_jwt_verifier *v = lg_jwt_verifier_new(&o, err, sizeof(err));

	if (v == NULL)
		fail_msg("verifier: %s", err);
	return v;
}

/* Options must be refused with an error containing want. */
static void
load_fails(struct lg_jwt_opts o, const char *want)
{
	char err[512] = "";
	struct lg_jwt_verifier *v = lg_jwt_verifier_new(&o, err, sizeof(err));

	if (v != NULL)
		fail_msg("loaded, wanted \"%s\"", want);
	if (strstr(err, want) == NULL)
		fail_msg("\"%s\" does not say \"%s\"", err, want);
}

/* tok must verify at now, as student; the identity. */
static struct lg_identity
ok(struct lg_jwt_verifier *v, const char *tok, int64_t now, const char *student)
{
	char reason[128] = "";
	struct lg_identity id;

	memset(&id, 0x55, sizeof(id));
	if (lg_jwt_verify(v, tok, strlen(tok), now, &id, reason, sizeof(reason)) != 0)
		fail_msg("refused (%s): %s", reason, tok);
	assert_string_equal(id.student, student);
	assert_int_equal(id.student_len, strlen(student));
	return id;
}

/* tok must be refused at now with reason want. */
static void
bad(struct lg_jwt_verifier *v, const char *tok, int64_t now, const char *want)
{
	char reason[128] = "";
	struct lg_identity id;

	if (lg_jwt_verify(v, tok, strlen(tok), now, &id, reason, sizeof(reason)) == 0)
		fail_msg("accepted as \"%s\", wanted \"%s\": %s", id.student, want, tok);
	if (strcmp(reason, want) != 0)
		fail_msg("refused with \"%s\", wanted \"%s\": %s", reason, want, tok);
}

/* Options with a key file and one or two pinned algorithms. */
#define OPTS(keyfile, ...)                                                                         \
	((struct lg_jwt_opts){.keys = (keyfile),                                                   \
	                      .algorithms = (char *[]){__VA_ARGS__},                               \
	                      .nalgorithms = sizeof((char *[]){__VA_ARGS__}) / sizeof(char *),     \
	                      .leeway = 30})

static const uint8_t secret64[64] =
    "0123456789abcdef0123456789ABCDEF!@#$%^&*()-_=+[]{}0123456789xyz";

/* Make the keys and key files. */
static int
setup(void **state)
{
	const char *tmp = getenv("TMPDIR");

	(void)state;
	snprintf(K.dir, sizeof(K.dir), "%s/lgjwt.XXXXXX", tmp && strlen(tmp) < 40 ? tmp : "/tmp");
	if (mkdtemp(K.dir) == NULL)
		return -1;
	K.rsa = EVP_RSA_gen(2048);
	K.rsa2 = EVP_RSA_gen(2048);
	K.rsa1024 = EVP_RSA_gen(1024);
	K.ec = EVP_EC_gen("P-256");
	K.ec384 = EVP_EC_gen("P-384");
	K.ec521 = EVP_EC_gen("P-521");
	K.ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	if (!K.rsa || !K.rsa2 || !K.rsa1024 || !K.ec || !K.ec384 || !K.ec521 || !K.ed)
		return -1;
	put_keys("rsa.pem", &K.rsa, NULL, 1);
	put_keys("ec.pem", &K.ec, NULL, 1);
	put_keys("ec384.pem", &K.ec384, NULL, 1);
	put_keys("ed.pem", &K.ed, NULL, 1);
	put_file("secret", secret64, sizeof(secret64));
	put_keys("multi.pem", (EVP_PKEY *[]){K.rsa, K.rsa2, K.ec, K.ed},
	         (const char *[]){"rsa1", "rsa2", "ec1", "ed1"}, 4);
	return 0;
}

/* Remove the key files and free everything. */
static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", K.dir);
	if (system(cmd) != 0)
		return -1;
	EVP_PKEY_free(K.rsa);
	EVP_PKEY_free(K.rsa2);
	EVP_PKEY_free(K.rsa1024);
	EVP_PKEY_free(K.ec);
	EVP_PKEY_free(K.ec384);
	EVP_PKEY_free(K.ec521);
	EVP_PKEY_free(K.ed);
	for (size_t i = 0; i < K.nmem; i++)
		free(K.mem[i]);
	free(K.mem);
	return 0;
}

/* Every algorithm verifies with its key type. */
static void
test_valid(void **state)
{
	static const char *const rsa_algs[] = {"RS256", "RS384", "RS512",
	                                       "PS256", "PS384", "PS512"};
	struct lg_jwt_verifier *v;
	struct lg_identity id;

	(void)state;
	v = verifier(OPTS(file("rsa.pem"), "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"));
	for (size_t i = 0; i < 6; i++) {
		id = ok(v, token(rsa_algs[i], K.rsa, claims("alice", NOW + 600)), NOW, "alice");
		assert_int_equal(id.expires, NOW + 600);
		assert_int_equal(id.region, 0);
	}
	lg_jwt_verifier_free(v);

	v = verifier(OPTS(file("ec.pem"), "ES256"));
	ok(v, token("ES256", K.ec, claims("bob", NOW + 60)), NOW, "bob");
	lg_jwt_verifier_free(v);
	v = verifier(OPTS(file("ec384.pem"), "ES384"));
	ok(v, token("ES384", K.ec384, claims("bob", NOW + 60)), NOW, "bob");
	lg_jwt_verifier_free(v);
	v = verifier(OPTS(file("ed.pem"), "EdDSA"));
	ok(v, token("EdDSA", K.ed, claims("carol", NOW + 60)), NOW, "carol");
	lg_jwt_verifier_free(v);

	v = verifier(OPTS(file("secret"), "HS256", "HS384", "HS512"));
	ok(v,
	   token_full("HS256", NULL, secret64, 64, "{\"alg\":\"HS256\"}", claims("dave", NOW + 1)),
	   NOW, "dave");
	ok(v,
	   token_full("HS384", NULL, secret64, 64, "{\"alg\":\"HS384\"}", claims("dave", NOW + 1)),
	   NOW, "dave");
	ok(v,
	   token_full("HS512", NULL, secret64, 64, "{\"alg\":\"HS512\"}", claims("dave", NOW + 1)),
	   NOW, "dave");
	/* JSON whitespace anywhere it may be. */
	ok(v,
	   token_full(
	       "HS256", NULL, secret64, 64, " {\r\n\t\"alg\" : \"HS256\" } ",
	       fmt(" { \"sub\" :\"eve\" , \"exp\": %d ,\"x\":[ 1 , {\"y\" :null} ,true,false,"
	           "-0.5e+3, \"\\u00e9\"] }\n",
	           NOW + 1)),
	   NOW, "eve");
	lg_jwt_verifier_free(v);
}

/* Signatures by another key, over other data, or cut short fail. */
static void
test_forged(void **state)
{
	struct lg_jwt_verifier *v = verifier(OPTS(file("rsa.pem"), "RS256", "PS256"));
	struct lg_jwt_verifier *ve = verifier(OPTS(file("ec.pem"), "ES256"));
	struct lg_jwt_verifier *vd = verifier(OPTS(file("ed.pem"), "EdDSA"));
	struct lg_jwt_verifier *vh = verifier(OPTS(file("secret"), "HS256"));
	char *a = token("RS256", K.rsa, claims("alice", NOW + 60));
	char *b = token("RS256", K.rsa, claims("mallory", NOW + 60));
	char *t, *dot;
	uint8_t der[512];
	size_t n = sizeof(der);
	EVP_PKEY *other;
	EVP_MD_CTX *c;

	(void)state;
	bad(v, token("RS256", K.rsa2, claims("alice", NOW + 60)), NOW, "signature does not verify");
	bad(v, token("PS256", K.rsa2, claims("alice", NOW + 60)), NOW, "signature does not verify");
	/* alice's signature on mallory's claims */
	t = fmt("%.*s.%s", (int)(strrchr(b, '.') - b), b, strrchr(a, '.') + 1);
	bad(v, t, NOW, "signature does not verify");
	/* a signature a byte short, a byte long, of zeros, or missing */
	memset(der, 0, sizeof(der));
	t = fmt("%.*s", (int)(strrchr(a, '.') - a + 1), a);
	bad(v, fmt("%s%s", t, b64url(der, 255)), NOW, "signature does not verify");
	bad(v, fmt("%s%s", t, b64url(der, 257)), NOW, "signature does not verify");
	bad(v, fmt("%s%s", t, b64url(der, 256)), NOW, "signature does not verify");
	bad(v, t, NOW, "signature does not verify");
	/* an RS256 signature presented as PS256 */
	t = fmt("%s.%s", part("{\"alg\":\"PS256\"}"), strchr(a, '.') + 1);
	bad(v, t, NOW, "signature does not verify");
	/* one bit flipped in the payload */
	t = fmt("%s", a);
	dot = strchr(t, '.');
	dot[3] = dot[3] == 'A' ? 'B' : 'A';
	bad(v, t, NOW, "signature does not verify");

	/* ES256 with the DER signature EVP makes instead of R || S */
	t = fmt("%s.%s", part("{\"alg\":\"ES256\"}"), part(claims("alice", NOW + 60)));
	c = EVP_MD_CTX_new();
	assert_int_equal(EVP_DigestSignInit_ex(c, NULL, "SHA256", NULL, NULL, K.ec, NULL), 1);
	assert_int_equal(EVP_DigestSign(c, der, &n, (unsigned char *)t, strlen(t)), 1);
	EVP_MD_CTX_free(c);
	bad(ve, fmt("%s.%s", t, b64url(der, n)), NOW, "signature does not verify");
	other = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	bad(vd, token("EdDSA", other, claims("a", NOW + 1)), NOW, "signature does not verify");
	EVP_PKEY_free(other);
	bad(vh,
	    token_full("HS256", NULL, "0123456789abcdef0123456789abcdeX", 32, "{\"alg\":\"HS256\"}",
	               claims("a", NOW + 1)),
	    NOW, "signature does not verify");
	lg_jwt_verifier_free(v);
	lg_jwt_verifier_free(ve);
	lg_jwt_verifier_free(vd);
	lg_jwt_verifier_free(vh);
}

/* exp and nbf, to the second, with and without leeway. */
static void
test_times(void **state)
{
	struct lg_jwt_opts o = OPTS(file("ec.pem"), "ES256");
	struct lg_jwt_verifier *v, *v0;
	struct lg_identity id;
	char *t;

	(void)state;
	v = verifier(o);
	o.leeway = 0;
	v0 = verifier(o);
	bad(v, token("ES256", K.ec, claims("a", NOW - 100)), NOW, "expired");
	/* exp 1000, leeway 30: valid through 1029, expired at 1030 */
	t = token("ES256", K.ec, claims("a", 1000));
	bad(v, t, 1030, "expired");
	ok(v, t, 1029, "a");
	bad(v, t, 1030, "expired"); /* now from the cache */
	t = token("ES256", K.ec, claims("b", 1000));
	ok(v0, t, 999, "b");
	bad(v0, t, 1000, "expired");
	/* nbf 1000, leeway 30: not yet valid through 969, valid from 970 */
	t = token("ES256", K.ec, "{\"sub\":\"a\",\"exp\":5000,\"nbf\":1000}");
	bad(v, t, 969, "not yet valid");
	ok(v, t, 970, "a");
	bad(v0, t, 999, "not yet valid");
	ok(v0, t, 1000, "a");
	bad(v,
	    token("ES256", K.ec, fmt("{\"sub\":\"a\",\"exp\":%d,\"nbf\":%d}", NOW + 600, NOW + 60)),
	    NOW, "not yet valid");
	/* fractions round up: valid while now < 1000.5 */
	t = token("ES256", K.ec, "{\"sub\":\"a\",\"exp\":1000.5,\"nbf\":999.5}");
	ok(v0, t, 1000, "a");
	bad(v0, token("ES256", K.ec, "{\"sub\":\"a\",\"exp\":1000.5,\"nbf\":999.5}  "), 999,
	    "not yet valid");
	bad(v0, token("ES256", K.ec, "{\"sub\":\"a\",\"exp\":1000.0}"), 1000, "expired");
	/* exp is required, a number, without exponent, within range */
	bad(v, token("ES256", K.ec, "{\"sub\":\"a\"}"), NOW, "token has no exp");
	bad(v, token("ES256", K.ec, "{\"sub\":\"a\",\"exp\":\"2000000000\"}"), NOW,
	    "malformed token");
	bad(v, token("ES256", K.ec, "{\"sub\":\"a\",\"exp\":2e9}"), NOW, "malformed token");
	bad(v, token("ES256", K.ec, "{\"sub\":\"a\",\"exp\":99999999999999999999}"), NOW,
	    "malformed token");
	bad(v, token("ES256", K.ec, "{\"sub\":\"a\",\"exp\":-1}"), NOW, "expired");
	bad(v, token("ES256", K.ec, "{\"sub\":\"a\",\"exp\":2000000000,\"nbf\":null}"), NOW,
	    "malformed token");
	o.leeway = 30;
	o.exp_optional = true;
	lg_jwt_verifier_free(v);
	v = verifier(o);
	id = ok(v, token("ES256", K.ec, "{\"sub\":\"a\"}"), NOW, "a");
	assert_true(id.expires == INT64_MAX);
	ok(v, token("ES256", K.ec, "{\"sub\":\"a\",\"exp\":9223372036854775807}"), NOW, "a");
	lg_jwt_verifier_free(v);
	lg_jwt_verifier_free(v0);
}

/* "none", and the RS/HS confusion: a token's alg never picks the key type. */
static void
test_algorithm_confusion(void **state)
{
	struct lg_jwt_verifier *v = verifier(OPTS(file("rsa.pem"), "RS256"));
	struct lg_jwt_verifier *both = verifier(OPTS(file("rsa.pem"), "RS256", "HS256"));
	const char *body = part(claims("alice", NOW + 60));
	size_t pemlen;
	char *pem = slurp(file("rsa.pem"), &pemlen), *t;

	(void)state;
	bad(v, fmt("%s.%s.", part("{\"alg\":\"none\"}"), body), NOW, "algorithm not allowed");
	bad(v, fmt("%s.%s", part("{\"alg\":\"none\"}"), body), NOW, "malformed token");
	bad(v, fmt("%s.%s.", part("{\"alg\":\"None\"}"), body), NOW, "algorithm not allowed");
	bad(both, fmt("%s.%s.", part("{\"alg\":\"none\"}"), body), NOW, "algorithm not allowed");
	bad(v, fmt("%s.%s.", part("{\"typ\":\"JWT\"}"), body), NOW, "malformed token");
	bad(v, fmt("%s.%s.AAAA", part("{\"alg\":256}"), body), NOW, "malformed token");
	bad(v, fmt("%s.%s.AAAA", part("{\"alg\":\"rs256\"}"), body), NOW, "algorithm not allowed");
	bad(v, fmt("%s.%s.AAAA", part("{\"alg\":\"RS256 \"}"), body), NOW, "algorithm not allowed");
	bad(v, fmt("%s.%s.AAAA", part("{\"alg\":\"RS256\\u0000\"}"), body), NOW,
	    "algorithm not allowed");
	/* HS256 with the RSA public key file as the secret */
	t = token_full("HS256", NULL, pem, pemlen, "{\"alg\":\"HS256\"}",
	               claims("alice", NOW + 60));
	bad(v, t, NOW, "algorithm not allowed");
	bad(both, t, NOW, "no key for algorithm");
	t = token_full("HS256", NULL, pem, pemlen - 1, "{\"alg\":\"HS256\"}",
	               claims("alice", NOW + 60));
	bad(both, t, NOW, "no key for algorithm");
	/* the pinned RSA algorithm still works next to it */
	ok(both, token("RS256", K.rsa, claims("alice", NOW + 60)), NOW, "alice");
	/* an EC-signed ES256 token against RSA keys, and PS256 not pinned */
	bad(v, token("ES256", K.ec, claims("alice", NOW + 60)), NOW, "algorithm not allowed");
	bad(v, token("PS256", K.rsa, claims("alice", NOW + 60)), NOW, "algorithm not allowed");
	lg_jwt_verifier_free(v);
	lg_jwt_verifier_free(both);
	load_fails(OPTS(file("rsa.pem"), "none"), "algorithms: unsupported algorithm \"none\"");
	load_fails(OPTS(file("rsa.pem"), "HS256"),
	           "rsa.pem: no key in it fits any of the pinned algorithms");
	/* Ed25519 and EC keys serve only their own algorithms */
	v = verifier(OPTS(file("ed.pem"), "EdDSA", "ES256", "RS256"));
	bad(v, token("ES256", K.ec, claims("a", NOW + 1)), NOW, "no key for algorithm");
	lg_jwt_verifier_free(v);
	v = verifier(OPTS(file("ec.pem"), "ES256", "ES384"));
	bad(v, token("ES384", K.ec384, claims("a", NOW + 1)), NOW, "no key for algorithm");
	lg_jwt_verifier_free(v);
}

/* iss and aud, when configured. */
static void
test_issuer_audience(void **state)
{
	struct lg_jwt_opts o = OPTS(file("ed.pem"), "EdDSA");
	struct lg_jwt_verifier *v;

	(void)state;
	o.issuer = "https://platform.example";
	o.audience = "lessongate";
	v = verifier(o);
#define C(extra) fmt("{\"sub\":\"a\",\"exp\":%d" extra "}", NOW + 60)
	ok(v,
	   token("EdDSA", K.ed, C(",\"iss\":\"https://platform.example\",\"aud\":\"lessongate\"")),
	   NOW, "a");
	ok(v,
	   token("EdDSA", K.ed,
	         C(",\"iss\":\"https:\\/\\/platform.example\",\"aud\":[\"x\",\"lessongate\"]")),
	   NOW, "a");
	bad(v, token("EdDSA", K.ed, C(",\"iss\":\"https://evil.example\",\"aud\":\"lessongate\"")),
	    NOW, "issuer mismatch");
	bad(v,
	    token("EdDSA", K.ed,
	          C(",\"iss\":\"https://platform.example/\",\"aud\":\"lessongate\"")),
	    NOW, "issuer mismatch");
	bad(v, token("EdDSA", K.ed, C(",\"aud\":\"lessongate\"")), NOW, "issuer mismatch");
	bad(v,
	    token("EdDSA", K.ed,
	          C(",\"iss\":[\"https://platform.example\"],\"aud\":\"lessongate\"")),
	    NOW, "issuer mismatch");
	bad(v, token("EdDSA", K.ed, C(",\"iss\":\"https://platform.example\",\"aud\":\"other\"")),
	    NOW, "audience mismatch");
	bad(v,
	    token("EdDSA", K.ed, C(",\"iss\":\"https://platform.example\",\"aud\":[\"x\",\"y\"]")),
	    NOW, "audience mismatch");
	bad(v, token("EdDSA", K.ed, C(",\"iss\":\"https://platform.example\",\"aud\":[]")), NOW,
	    "audience mismatch");
	bad(v, token("EdDSA", K.ed, C(",\"iss\":\"https://platform.example\"")), NOW,
	    "audience mismatch");
	bad(v,
	    token("EdDSA", K.ed,
	          C(",\"iss\":\"https://platform.example\",\"aud\":[1,\"lessongate\"]")),
	    NOW, "malformed token");
	lg_jwt_verifier_free(v);
	/* without configuration, iss and aud are not looked at */
	v = verifier(OPTS(file("ed.pem"), "EdDSA"));
	ok(v, token("EdDSA", K.ed, C(",\"iss\":7,\"aud\":{\"x\":1}")), NOW, "a");
	lg_jwt_verifier_free(v);
#undef C
}

/* kid picks the key when keys have kids. */
static void
test_kid(void **state)
{
	struct lg_jwt_verifier *v = verifier(OPTS(file("multi.pem"), "RS256", "ES256", "EdDSA"));
	struct lg_jwt_verifier *nokids = verifier(OPTS(file("rsa.pem"), "RS256"));
	const char *c = claims("alice", NOW + 60);

	(void)state;
	ok(v, token_kid("RS256", K.rsa, "rsa1", c), NOW, "alice");
	ok(v, token_kid("RS256", K.rsa2, "rsa2", c), NOW, "alice");
	ok(v, token_kid("ES256", K.ec, "ec1", c), NOW, "alice");
	ok(v, token_kid("EdDSA", K.ed, "ed1", c), NOW, "alice");
	ok(v, token("RS256", K.rsa2, c), NOW, "alice"); /* no kid: any key of the type */
	bad(v, token_kid("RS256", K.rsa, "rsa3", c), NOW, "unknown kid");
	bad(v, token_kid("RS256", K.rsa, "", c), NOW, "unknown kid");
	bad(v, token_kid("RS256", K.rsa, "RSA1", c), NOW, "unknown kid");
	bad(v, token_kid("RS256", K.rsa2, "rsa1", c), NOW, "signature does not verify");
	bad(v, token_kid("RS256", K.rsa, "ec1", c), NOW, "no key for algorithm");
	bad(v, token_full("RS256", K.rsa, NULL, 0, "{\"alg\":\"RS256\",\"kid\":1}", c), NOW,
	    "malformed token");
	bad(v, token_kid("RS256", K.rsa, fmt("%0200d", 1), c), NOW, "unknown kid");
	/* keys without kids ignore the token's kid */
	ok(nokids, token_kid("RS256", K.rsa, "whatever", c), NOW, "alice");
	ok(nokids, token_kid("RS256", K.rsa, fmt("%0200d", 1), c), NOW, "alice");
	ok(nokids, token_kid("RS256", K.rsa, "a\\u0000b", c), NOW, "alice");
	bad(v, token_kid("RS256", K.rsa, "rsa1\\u0000", c), NOW, "unknown kid");
	bad(nokids, token_kid("RS256", K.rsa2, "x", c), NOW, "signature does not verify");
	lg_jwt_verifier_free(v);
	lg_jwt_verifier_free(nokids);
}

/* The student and region claims. */
static void
test_student_region(void **state)
{
	struct lg_jwt_opts o = OPTS(file("ed.pem"), "EdDSA");
	struct lg_jwt_verifier *v = verifier(o), *vr;
	struct lg_identity id;
	char *long256 = fmt("%0256d", 7), *long257 = fmt("%0257d", 7);

	(void)state;
#define T(json) token("EdDSA", K.ed, fmt("{\"exp\":%d," json "}", NOW + 60))
	bad(v, T("\"name\":\"a\""), NOW, "missing student claim");
	bad(v, T("\"sub\":\"\""), NOW, "missing student claim");
	bad(v, T("\"sub\":null"), NOW, "missing student claim");
	bad(v, T("\"sub\":true"), NOW, "invalid student claim");
	bad(v, T("\"sub\":[\"a\"]"), NOW, "invalid student claim");
	bad(v, T("\"sub\":1.5"), NOW, "invalid student claim");
	bad(v, T("\"sub\":-3"), NOW, "invalid student claim");
	bad(v, T("\"sub\":1e3"), NOW, "invalid student claim");
	bad(v, T("\"sub\":\"a\\u0000b\""), NOW, "invalid student claim");
	bad(v, T("\"sub\":\"a\\nb\""), NOW, "invalid student claim");
	bad(v, token("EdDSA", K.ed, fmt("{\"exp\":%d,\"sub\":\"%s\"}", NOW + 60, long257)), NOW,
	    "invalid student claim");
	ok(v, token("EdDSA", K.ed, fmt("{\"exp\":%d,\"sub\":\"%s\"}", NOW + 60, long256)), NOW,
	   long256);
	ok(v, T("\"sub\":12345678901234567890123"), NOW, "12345678901234567890123");
	ok(v, T("\"sub\":0"), NOW, "0");
	ok(v, T("\"sub\":\"\\u5b66\\u751f\\ud83d\\ude00\""), NOW,
	   "\xe5\xad\xa6\xe7\x94\x9f\xf0\x9f\x98\x80");
	ok(v, T("\"sub\":\"\xe5\xad\xa6\xe7\x94\x9f\""), NOW, "\xe5\xad\xa6\xe7\x94\x9f");
	ok(v, T("\"sub\":\"a\\\"\\\\\\/b\""), NOW, "a\"\\/b");
	id = ok(v, T("\"sub\":\"x\",\"region\":\"533102\""), NOW, "x");
	assert_int_equal(id.region, 0); /* no region claim configured */
	lg_jwt_verifier_free(v);

	o.student_claim = "uid";
	o.region_claim = "region";
	vr = verifier(o);
	bad(vr, T("\"sub\":\"a\""), NOW, "missing student claim");
	id = ok(vr, T("\"uid\":\"s1\",\"region\":\"533102\""), NOW, "s1");
	assert_int_equal(id.region, 533102);
	id = ok(vr, T("\"uid\":\"s1\",\"region\":530000"), NOW, "s1");
	assert_int_equal(id.region, 530000);
	id = ok(vr, T("\"uid\":\"s2\""), NOW, "s2");
	assert_int_equal(id.region, 0);
	id = ok(vr, T("\"uid\":\"s2\",\"region\":null"), NOW, "s2");
	assert_int_equal(id.region, 0);
	bad(vr, T("\"uid\":\"s1\",\"region\":\"53310\""), NOW, "invalid region claim");
	bad(vr, T("\"uid\":\"s1\",\"region\":\"5331020\""), NOW, "invalid region claim");
	bad(vr, T("\"uid\":\"s1\",\"region\":\"053310\""), NOW, "invalid region claim");
	bad(vr, T("\"uid\":\"s1\",\"region\":\"53310x\""), NOW, "invalid region claim");
	bad(vr, T("\"uid\":\"s1\",\"region\":533102.0"), NOW, "invalid region claim");
	bad(vr, T("\"uid\":\"s1\",\"region\":-53310"), NOW, "invalid region claim");
	bad(vr, T("\"uid\":\"s1\",\"region\":true"), NOW, "invalid region claim");
	bad(vr, T("\"uid\":\"s1\",\"region\":\"\\u0035\\u0033\\u0033\\u0031\\u0030\\u0032x\""), NOW,
	    "invalid region claim");
	id = ok(vr, T("\"uid\":\"s1\",\"region\":\"\\u0035\\u0033\\u0033\\u0031\\u0030\\u0032\""),
	        NOW, "s1");
	assert_int_equal(id.region, 533102);
	lg_jwt_verifier_free(vr);
#undef T
}

/* Structure, base64url and JSON that are not exactly right. */
static void
test_malformed(void **state)
{
	struct lg_jwt_verifier *v = verifier(OPTS(file("secret"), "HS256"));
	const char *h = part("{\"alg\":\"HS256\"}");
	const char *good = claims("a", NOW + 60);
	char *t = fmt("%s.%s.%s", h, part(good), "x"), *big;

	(void)state;
#define HS(header, body) token_full("HS256", NULL, secret64, 64, header, body)
#define BODY(body)       HS("{\"alg\":\"HS256\"}", body)
	/* parts */
	bad(v, "", NOW, "missing token");
	bad(v, "abc", NOW, "malformed token");
	bad(v, fmt("%s.%s", h, part(good)), NOW, "malformed token");
	bad(v, fmt("%s.%s.", h, part(good)), NOW, "signature does not verify");
	bad(v, fmt("%s.%s.AAAA.AAAA", h, part(good)), NOW, "malformed token");
	bad(v, fmt("%s.%s.AAAA.AAAA.AAAA", h, part(good)), NOW, "malformed token");
	bad(v, fmt(".%s.AAAA", part(good)), NOW, "malformed token");
	bad(v, fmt("%s..AAAA", h), NOW, "malformed token");
	bad(v, t, NOW, "malformed token"); /* one base64 character: no whole byte */
	/* base64url: no padding, no '+' or '/', no stray bits, no spaces */
	t = BODY(good);
	bad(v, fmt("%s=", t), NOW, "malformed token");
	bad(v, fmt("%s=.%s", h, strchr(t, '.') + 1), NOW, "malformed token");
	bad(v, fmt("%s", t), NOW + 1000, "expired");
	{
		char *u = fmt("%s", t), *p;

		for (p = u; *p; p++)
			if (*p == '-' || *p == '_')
				break;
		if (*p) {
			*p = *p == '-' ? '+' : '/';
			bad(v, u, NOW, "malformed token");
		}
	}
	bad(v, fmt(" %s", t), NOW, "malformed token");
	bad(v, fmt("%s ", t), NOW, "malformed token");
	bad(v, fmt("%.10s %s", t, t + 10), NOW, "malformed token");
	/* "eA" is "x"; "eB" the same byte with a stray bit set: another text, refused */
	bad(v, fmt("%s.eA.AAAA", h), NOW, "signature does not verify");
	bad(v, fmt("%s.eB.AAAA", h), NOW, "malformed token");
	bad(v, fmt("%s.eA.AAB", h), NOW, "malformed token");
	/* JSON: not an object, trailing garbage, duplicates, bad strings and numbers */
	bad(v, HS("[\"alg\",\"HS256\"]", good), NOW, "malformed token");
	bad(v, HS("\"HS256\"", good), NOW, "malformed token");
	bad(v, HS("{\"alg\":\"HS256\"}x", good), NOW, "malformed token");
	bad(v, HS("{\"alg\":\"HS256\"}{}", good), NOW, "malformed token");
	bad(v, HS("{\"alg\":\"HS256\",}", good), NOW, "malformed token");
	bad(v, HS("{\"alg\":\"HS256\"", good), NOW, "malformed token");
	bad(v, HS("{'alg':'HS256'}", good), NOW, "malformed token");
	bad(v, HS("{\"alg\":\"HS256\",\"alg\":\"HS256\"}", good), NOW, "duplicate key in token");
	bad(v, HS("{\"alg\":\"HS256\",\"\\u0061lg\":\"RS256\"}", good), NOW,
	    "duplicate key in token");
	bad(v, HS("{\"alg\":\"HS256\",\"crit\":[\"b64\"],\"b64\":false}", good), NOW,
	    "unsupported critical header");
	bad(v, BODY(fmt("{\"sub\":\"a\",\"exp\":%d,\"sub\":\"b\"}", NOW + 60)), NOW,
	    "duplicate key in token");
	bad(v, BODY(fmt("{\"sub\":\"a\",\"exp\":%d,\"s\\u0075b\":\"b\"}", NOW + 60)), NOW,
	    "duplicate key in token");
	bad(v, BODY(fmt("{\"sub\":\"a\",\"exp\":%d,\"o\":{\"k\":1,\"k\":2}}", NOW + 60)), NOW,
	    "duplicate key in token");
	ok(v,
	   BODY(fmt("{\"sub\":\"a\",\"exp\":%d,\"o\":{\"sub\":1,\"p\":{\"sub\":2}},\"sub2\":3}",
	            NOW + 60)),
	   NOW, "a");
	bad(v, BODY(fmt("{\"sub\":\"a\",\"exp\":%d} x", NOW + 60)), NOW, "malformed token");
	bad(v, BODY(fmt("[{\"sub\":\"a\",\"exp\":%d}]", NOW + 60)), NOW, "malformed token");
	bad(v, BODY("null"), NOW, "malformed token");
	bad(v, BODY(fmt("{\"sub\":\"a\",\"exp\":%d,\"n\":01}", NOW + 60)), NOW, "malformed token");
	bad(v, BODY(fmt("{\"sub\":\"a\",\"exp\":%d,\"n\":1.}", NOW + 60)), NOW, "malformed token");
	bad(v, BODY(fmt("{\"sub\":\"a\",\"exp\":%d,\"n\":.5}", NOW + 60)), NOW, "malformed token");
	bad(v, BODY(fmt("{\"sub\":\"a\",\"exp\":%d,\"n\":+1}", NOW + 60)), NOW, "malformed token");
	bad(v, BODY(fmt("{\"sub\":\"a\",\"exp\":%d,\"n\":1e}", NOW + 60)), NOW, "malformed token");
	bad(v, BODY(fmt("{\"sub\":\"a\",\"exp\":%d,\"n\":tru}", NOW + 60)), NOW, "malformed token");
	bad(v, BODY(fmt("{\"sub\":\"a\",\"exp\":%d,\"n\":NaN}", NOW + 60)), NOW, "malformed token");
	bad(v, BODY(fmt("{\"sub\":\"a\\ud800\",\"exp\":%d}", NOW + 60)), NOW, "malformed token");
	bad(v, BODY(fmt("{\"sub\":\"a\\udc00\",\"exp\":%d}", NOW + 60)), NOW, "malformed token");
	bad(v, BODY(fmt("{\"sub\":\"a\\ud800\\u0041\",\"exp\":%d}", NOW + 60)), NOW,
	    "malformed token");
	bad(v, BODY(fmt("{\"sub\":\"a\\x\",\"exp\":%d}", NOW + 60)), NOW, "malformed token");
	bad(v, BODY(fmt("{\"sub\":\"a\\u12G4\",\"exp\":%d}", NOW + 60)), NOW, "malformed token");
	bad(v, BODY(fmt("{\"sub\":\"a\tb\",\"exp\":%d}", NOW + 60)), NOW, "malformed token");
	bad(v, BODY(fmt("{\"sub\":\"a\xff\",\"exp\":%d}", NOW + 60)), NOW, "malformed token");
	bad(v, BODY(fmt("{\"sub\":\"a\xc0\xaf\",\"exp\":%d}", NOW + 60)), NOW, "malformed token");
	bad(v, BODY(fmt("{\"sub\":\"a\xed\xa0\x80\",\"exp\":%d}", NOW + 60)), NOW,
	    "malformed token");
	bad(v, BODY(fmt("{\"sub\":\"a\xe5\xad\",\"exp\":%d}", NOW + 60)), NOW, "malformed token");
	bad(v, BODY(fmt("{\"sub\":\"a\",\"exp\":%d,\"\xff\":1}", NOW + 60)), NOW,
	    "malformed token");
	bad(v, BODY(fmt("{\"sub\":\"a\",\"exp\":%d}\xef\xbb\xbf", NOW + 60)), NOW,
	    "malformed token");
	/* nesting: 16 levels are fine, 17 are not */
	ok(v,
	   BODY(fmt("{\"sub\":\"a\",\"exp\":%d,\"n\":%s1%s}", NOW + 60, "[[[[[[[[[[[[[[[",
	            "]]]]]]]]]]]]]]]")),
	   NOW, "a");
	bad(v,
	    BODY(fmt("{\"sub\":\"a\",\"exp\":%d,\"n\":%s1%s}", NOW + 60, "[[[[[[[[[[[[[[[[",
	             "]]]]]]]]]]]]]]]]")),
	    NOW, "malformed token");
	/* length */
	big = keep(malloc(LG_JWT_MAX_TOKEN + 2));
	memset(big, 'A', LG_JWT_MAX_TOKEN + 1);
	big[LG_JWT_MAX_TOKEN + 1] = '\0';
	bad(v, big, NOW, "token too long");
	t = BODY(fmt("{\"sub\":\"a\",\"exp\":%d,\"pad\":\"%06000d\"}", NOW + 60, 0));
	assert_true(strlen(t) <= LG_JWT_MAX_TOKEN);
	ok(v, t, NOW, "a");
	t = BODY(fmt("{\"sub\":\"a\",\"exp\":%d,\"pad\":\"%06200d\"}", NOW + 60, 0));
	assert_true(strlen(t) > LG_JWT_MAX_TOKEN);
	bad(v, t, NOW, "token too long");
	lg_jwt_verifier_free(v);
#undef HS
#undef BODY
}

/* Verdicts are cached until exp + leeway; the cache stays correct when it overflows. */
static void
test_cache(void **state)
{
	struct lg_jwt_opts o = OPTS(file("rsa.pem"), "RS256");
	struct lg_jwt_verifier *v;
	struct lg_identity a, b;
	uint64_t hits, misses;
	char *t, *toks[40];

	(void)state;
	o.region_claim = "region";
	v = verifier(o);
	t = token("RS256", K.rsa,
	          fmt("{\"sub\":\"alice\",\"exp\":%d,\"region\":533102}", NOW + 100));
	a = ok(v, t, NOW, "alice");
	lg_jwt_cache_stats(v, &hits, &misses);
	assert_int_equal(hits, 0);
	assert_int_equal(misses, 1);
	b = ok(v, t, NOW + 50, "alice");
	lg_jwt_cache_stats(v, &hits, &misses);
	assert_int_equal(hits, 1);
	assert_int_equal(misses, 1);
	assert_int_equal(b.region, 533102);
	assert_int_equal(b.expires, NOW + 100);
	assert_int_equal(a.region, b.region);
	assert_int_equal(a.expires, b.expires);
	assert_int_equal(a.student_len, b.student_len);
	ok(v, t, NOW + 129, "alice"); /* within leeway */
	bad(v, t, NOW + 130, "expired");
	bad(v, t, NOW + 130, "expired"); /* gone from the cache, refused again by the check */
	lg_jwt_cache_stats(v, &hits, &misses);
	assert_int_equal(hits, 2);
	/* a failing token is never cached */
	t = token("RS256", K.rsa2, claims("mallory", NOW + 100));
	bad(v, t, NOW, "signature does not verify");
	bad(v, t, NOW, "signature does not verify");
	lg_jwt_verifier_free(v);

	/* a tiny cache: 4 entries, 40 tokens, every answer still right */
	o.cache_entries = 1;
	v = verifier(o);
	for (int i = 0; i < 40; i++)
		toks[i] =
		    token("RS256", K.rsa, fmt("{\"sub\":\"s%d\",\"exp\":%d}", i, NOW + 100 + i));
	for (int round = 0; round < 3; round++)
		for (int i = 0; i < 40; i++) {
			struct lg_identity id = ok(v, toks[i], NOW, fmt("s%d", i));

			assert_int_equal(id.expires, NOW + 100 + i);
		}
	lg_jwt_cache_stats(v, &hits, &misses);
	assert_int_equal(hits + misses, 120);
	assert_true(misses >= 40);
	lg_jwt_verifier_free(v);
}

struct thread_arg {
	struct lg_jwt_verifier *v;
	char **toks;
	int ntoks, errors;
};

/* Verify every token many times. */
static void *
worker(void *p)
{
	struct thread_arg *a = p;
	struct lg_identity id;
	char reason[64], want[16];

	for (int r = 0; r < 200; r++)
		for (int i = 0; i < a->ntoks; i++) {
			snprintf(want, sizeof(want), "s%d", i);
			if (lg_jwt_verify(a->v, a->toks[i], strlen(a->toks[i]), NOW, &id, reason,
			                  sizeof(reason)) != 0 ||
			    strcmp(id.student, want) != 0)
				a->errors++;
		}
	return NULL;
}

/* Worker threads share one verifier and its cache. */
static void
test_threads(void **state)
{
	struct lg_jwt_opts o = OPTS(file("secret"), "HS256");
	struct thread_arg args[4];
	pthread_t th[4];
	char *toks[64];

	(void)state;
	o.cache_entries = 32;
	for (int i = 0; i < 64; i++)
		toks[i] = token_full("HS256", NULL, secret64, 64, "{\"alg\":\"HS256\"}",
		                     fmt("{\"sub\":\"s%d\",\"exp\":%d}", i, NOW + 100));
	args[0].v = verifier(o);
	for (int i = 0; i < 4; i++) {
		args[i] = (struct thread_arg){args[0].v, toks, 64, 0};
		assert_int_equal(pthread_create(&th[i], NULL, worker, &args[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(args[i].errors, 0);
	}
	lg_jwt_verifier_free(args[0].v);
}

/* Key files in other forms: certificates, PKCS#1, comments and text around blocks. */
static void
test_key_formats(void **state)
{
	X509 *x = X509_new();
	OSSL_ENCODER_CTX *e;
	unsigned char *pk1 = NULL;
	size_t pk1len = 0;
	struct lg_jwt_verifier *v;
	FILE *f;
	const char *path;

	(void)state;
	/* a self-signed certificate carrying the RSA key */
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, K.rsa);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
	                           (const unsigned char *)"platform", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	assert_true(X509_sign(x, K.rsa, EVP_sha256()) > 0);
	path = file("cert.pem");
	f = fopen(path, "w");
	fputs("subject=CN = platform\n# kid: cert1\n", f);
	PEM_write_X509(f, x);
	fclose(f);
	X509_free(x);
	v = verifier(OPTS(path, "RS256"));
	ok(v, token_kid("RS256", K.rsa, "cert1", claims("a", NOW + 1)), NOW, "a");
	lg_jwt_verifier_free(v);
	/* "RSA PUBLIC KEY" (PKCS#1), with CRLF line ends */
	e = OSSL_ENCODER_CTX_new_for_pkey(K.rsa2, EVP_PKEY_PUBLIC_KEY, "PEM", "type-specific",
	                                  NULL);
	assert_non_null(e);
	assert_int_equal(OSSL_ENCODER_to_data(e, &pk1, &pk1len), 1);
	OSSL_ENCODER_CTX_free(e);
	assert_non_null(memmem(pk1, pk1len, "BEGIN RSA PUBLIC KEY", 20));
	{
		char *crlf = keep(malloc(pk1len * 2 + 64)), *o = crlf;

		o += sprintf(o, "\r\n#  kid:  k2 \r\n");
		for (size_t i = 0; i < pk1len; i++) {
			if (pk1[i] == '\n')
				*o++ = '\r';
			*o++ = (char)pk1[i];
		}
		path = put_file("pkcs1.pem", crlf, (size_t)(o - crlf));
	}
	OPENSSL_free(pk1);
	v = verifier(OPTS(path, "RS256", "PS256"));
	ok(v, token_kid("PS256", K.rsa2, "k2", claims("b", NOW + 1)), NOW, "b");
	bad(v, token_kid("PS256", K.rsa2, "k1", claims("b", NOW + 1)), NOW, "unknown kid");
	lg_jwt_verifier_free(v);
}

/* Bad key files and options say what is wrong and where. */
static void
test_load_errors(void **state)
{
	struct lg_jwt_opts o = OPTS(file("rsa.pem"), "RS256");
	const char *pem;
	size_t len;
	FILE *f;

	(void)state;
	load_fails(OPTS(file("missing.pem"), "RS256"), "missing.pem: No such file or directory");
	load_fails(OPTS(put_file("empty", "", 0), "HS256"), "empty: empty");
	load_fails(OPTS(put_file("short", "0123456789abcdef0123456789abcde", 31), "HS256"),
	           "short: HMAC secret of 31 bytes; HS256 needs at least 32");
	load_fails(OPTS(file("secret"), "RS256"), "secret: no key in it fits");
	load_fails(OPTS(put_file("s48", secret64, 48), "HS512"), "HS512 needs at least 64");
	load_fails(OPTS(file("rsa.pem"), "RS255"), "algorithms: unsupported algorithm \"RS255\"");
	load_fails(OPTS(file("ec.pem"), "RS256"), "ec.pem: no key in it fits");
	load_fails(OPTS(file("ec384.pem"), "ES256"), "no key in it fits");
	load_fails(OPTS(put_keys("rsa1024.pem", &K.rsa1024, NULL, 1), "RS256"),
	           "rsa1024.pem:1: RSA key of 1024 bits; at least 2048 are required");
	load_fails(OPTS(put_keys("ec521.pem", &K.ec521, NULL, 1), "ES256"),
	           "ec521.pem:1: EC key on curve secp521r1");
	f = fopen(file("private.pem"), "w");
	fputs("# a comment\n\n", f);
	PEM_write_PrivateKey(f, K.ec, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	load_fails(OPTS(file("private.pem"), "ES256"),
	           "private.pem:3: a PRIVATE KEY; the key file must hold only public keys");
	pem = slurp(file("rsa.pem"), &len);
	load_fails(OPTS(put_file("noend.pem", pem, len - 26), "RS256"),
	           "noend.pem:1: PEM block without its END line");
	load_fails(OPTS(put_str("garbled.pem", fmt("%.*sAAAA%s", 40, pem, pem + 40)), "RS256"),
	           "garbled.pem:1: cannot read this PUBLIC KEY");
	load_fails(
	    OPTS(put_str("other.pem", "-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n"), "RS256"),
	    "other.pem:1: unexpected PEM block \"FOO\"");
	load_fails(OPTS(put_str("kid2.pem", fmt("# kid: a\n# kid: b\n%s", pem)), "RS256"),
	           "kid2.pem:2: two kid lines for one key");
	load_fails(OPTS(put_str("kiddup.pem", fmt("# kid: a\n%s# kid: a\n%s", pem, pem)), "RS256"),
	           "kiddup.pem:11: kid used twice");
	load_fails(OPTS(put_str("kidend.pem", fmt("%s# kid: a\n", pem)), "RS256"),
	           "kidend.pem:10: kid not followed by a key");
	load_fails(OPTS(put_str("kidbad.pem", fmt("# kid: a b\n%s", pem)), "RS256"),
	           "kidbad.pem:1: kid must be 1..128 printable characters");
	load_fails(OPTS(put_str("nokeys.pem", "-----BEGIN \n"), "RS256"), "nokeys.pem");
	o.leeway = -1;
	load_fails(o, "leeway: -1 seconds is not within 0..86400");
	o.leeway = 0;
	o.keys = NULL;
	load_fails(o, "keys: no key file given");
	o.keys = file("rsa.pem");
	o.nalgorithms = 0;
	load_fails(o, "algorithms: none pinned");
	o.nalgorithms = 1;
	o.student_claim = "";
	load_fails(o, "student_claim");
	lg_jwt_verifier_free(NULL);
}

/* Authorization: Bearer. */
static void
test_from_authorization(void **state)
{
	const char *tok;
	size_t n;

	(void)state;
#define AUTH(s) lg_jwt_from_authorization(s, strlen(s), &tok, &n)
	assert_int_equal(AUTH("Bearer abc.def.ghi"), 1);
	assert_int_equal(n, 11);
	assert_memory_equal(tok, "abc.def.ghi", 11);
	assert_int_equal(AUTH("bearer abc"), 1);
	assert_int_equal(AUTH("BEARER abc"), 1);
	assert_int_equal(AUTH("  Bearer   abc  "), 1);
	assert_int_equal(n, 3);
	assert_memory_equal(tok, "abc", 3);
	assert_int_equal(AUTH("Bearer abc=="), 1);
	assert_int_equal(AUTH("Bearer a-b_c~d+e/f.g"), 1);
	assert_int_equal(AUTH("Basic dXNlcjpwYXNz"), 0);
	assert_int_equal(AUTH("Bearerabc"), 0);
	assert_int_equal(AUTH(""), 0);
	assert_int_equal(AUTH("Bear"), 0);
	assert_int_equal(AUTH("Bearer"), -1);
	assert_int_equal(AUTH("Bearer "), -1);
	assert_int_equal(AUTH("Bearer\tabc"), -1);
	assert_int_equal(AUTH("Bearer abc def"), -1);
	assert_int_equal(AUTH("Bearer abc,def"), -1);
	assert_int_equal(AUTH("Bearer =abc"), -1);
	assert_int_equal(AUTH("Bearer ab=c"), -1);
	assert_int_equal(AUTH("Bearer \"abc\""), -1);
#undef AUTH
}

/* Cookie: name=value pairs. */
static void
test_from_cookie(void **state)
{
	const char *tok;
	size_t n;

	(void)state;
#define COOKIE(s) lg_jwt_from_cookie(s, strlen(s), "lg_token", &tok, &n)
	assert_int_equal(COOKIE("lg_token=abc"), 1);
	assert_int_equal(n, 3);
	assert_memory_equal(tok, "abc", 3);
	assert_int_equal(COOKIE("a=1; lg_token=abc.def; b=2"), 1);
	assert_int_equal(n, 7);
	assert_memory_equal(tok, "abc.def", 7);
	assert_int_equal(COOKIE("a=1;lg_token=\"xyz\";b"), 1);
	assert_int_equal(n, 3);
	assert_memory_equal(tok, "xyz", 3);
	assert_int_equal(COOKIE("a=1 ; lg_token = q ;"), 1);
	assert_int_equal(n, 1);
	assert_memory_equal(tok, "q", 1);
	assert_int_equal(COOKIE("lg_token=abc; lg_token=abc"), 1);
	assert_int_equal(COOKIE("lg_token=abc; lg_token=abd"), -1);
	assert_int_equal(COOKIE("xlg_token=abc; lg_tokenx=abc; LG_TOKEN=abc"), 0);
	assert_int_equal(COOKIE("lg_token="), 0);
	assert_int_equal(COOKIE("lg_token"), 0);
	assert_int_equal(COOKIE(""), 0);
	assert_int_equal(COOKIE(";;;"), 0);
#undef COOKIE
}

/* Query parameters, percent-decoded. */
static void
test_from_query(void **state)
{
	char out[64], small[4];
	size_t n;

	(void)state;
#define QUERY(s) lg_jwt_from_query(s, strlen(s), "access_token", out, sizeof(out), &n)
	assert_int_equal(QUERY("access_token=abc.def"), 1);
	assert_string_equal(out, "abc.def");
	assert_int_equal(n, 7);
	assert_int_equal(QUERY("a=1&access_token=x%2Ey%2dz&b=2"), 1);
	assert_string_equal(out, "x.y-z");
	assert_int_equal(QUERY("access%5Ftoken=q"), 1);
	assert_string_equal(out, "q");
	assert_int_equal(QUERY("access_token=a+b"), 1);
	assert_string_equal(out, "a b");
	assert_int_equal(QUERY("access_token=a&access_token=a"), 1);
	assert_int_equal(QUERY("access_token=a&access_token=b"), -1);
	assert_int_equal(QUERY("access_token=a%zz"), -1);
	assert_int_equal(QUERY("access_token=a%2"), -1);
	assert_int_equal(QUERY("access_token="), 0);
	assert_int_equal(QUERY("access_token"), 0);
	assert_int_equal(QUERY("access_tokens=a&xaccess_token=b&b%zz=c"), 0);
	assert_int_equal(QUERY(""), 0);
	assert_int_equal(QUERY("&&&"), 0);
	assert_int_equal(
	    lg_jwt_from_query("access_token=abcd", 17, "access_token", small, sizeof(small), &n),
	    -1);
	assert_int_equal(
	    lg_jwt_from_query("access_token=abc", 16, "access_token", small, sizeof(small), &n), 1);
	assert_string_equal(small, "abc");
#undef QUERY
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_valid),
	    cmocka_unit_test(test_forged),
	    cmocka_unit_test(test_times),
	    cmocka_unit_test(test_algorithm_confusion),
	    cmocka_unit_test(test_issuer_audience),
	    cmocka_unit_test(test_kid),
	    cmocka_unit_test(test_student_region),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_cache),
	    cmocka_unit_test(test_threads),
	    cmocka_unit_test(test_key_formats),
	    cmocka_unit_test(test_load_errors),
	    cmocka_unit_test(test_from_authorization),
	    cmocka_unit_test(test_from_cookie),
	    cmocka_unit_test(test_from_query),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
