/* JWS keys (RFC 7515, RFC 7518): pinned algorithms, a key file loaded once, signature checks. */
#include "jwtkeys.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "jwt.h"
#include "util.h"

#define KEYFILE_MAX  (1 << 20)
#define RSA_MIN_BITS 2048

/* What a key is; an algorithm says which kinds it may be verified with. */
enum kind { K_RSA, K_RSA_PSS, K_P256, K_P384, K_EDDSA, K_HMAC };
enum family { F_RS, F_PS, F_ES, F_ED, F_HS };
enum hash { H_256, H_384, H_512, H_NONE };

static const struct lg_jwtkeys_alg {
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

struct lg_jwtkeys {
	struct jwt_key *keys;
	size_t nkeys;
	bool kids;       /* some key has a kid: then a token's kid must name one */
	unsigned pinned; /* bit i: algs[i] */
	EVP_MD *md[3];
	EVP_MAC *hmac;
};

/* Format into err, if there is one. */
void
lg_jwt_errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Read a whole file (at most KEYFILE_MAX bytes) into *data. */
static int
read_file(const char *path, char **data, size_t *len, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	size_t n;
	char *buf;

	if (f == NULL) {
		lg_jwt_errf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	buf = lg_xcalloc(1, KEYFILE_MAX + 1);
	n = fread(buf, 1, KEYFILE_MAX + 1, f);
	if (ferror(f) || n > KEYFILE_MAX) {
		lg_jwt_errf(err, errlen, "%s: %s", path,
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

/* Add a key to the set. */
static struct jwt_key *
add_key(struct lg_jwtkeys *ks, enum kind kind, const char *kid)
{
	struct jwt_key *k;

	ks->keys = lg_xrealloc(ks->keys, ks->nkeys + 1, sizeof(*ks->keys));
	k = &ks->keys[ks->nkeys++];
	memset(k, 0, sizeof(*k));
	k->kind = kind;
	snprintf(k->kid, sizeof(k->kid), "%s", kid);
	if (*kid)
		ks->kids = true;
	return k;
}

/* What kind a public key is, or -1 with the reason in err. */
static int
key_kind(EVP_PKEY *pkey, const char *where, char *err, size_t errlen)
{
	char group[64];

	if (EVP_PKEY_is_a(pkey, "RSA") || EVP_PKEY_is_a(pkey, "RSA-PSS")) {
		if (EVP_PKEY_get_bits(pkey) < RSA_MIN_BITS) {
			lg_jwt_errf(err, errlen, "%s: RSA key of %d bits; at least %d are required",
			            where, EVP_PKEY_get_bits(pkey), RSA_MIN_BITS);
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
		lg_jwt_errf(err, errlen,
		            "%s: EC key on curve %s; only P-256 and P-384 are supported", where,
		            group);
		return -1;
	}
	lg_jwt_errf(err, errlen, "%s: unsupported key type %s", where,
	            EVP_PKEY_get0_type_name(pkey));
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
kid_taken(const struct lg_jwtkeys *ks, const char *kid)
{
	for (size_t i = 0; i < ks->nkeys; i++)
		if (strcmp(ks->keys[i].kid, kid) == 0)
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
pem_key(struct lg_jwtkeys *ks, const char *where, const char *label, const char *block, size_t len,
        const char *kid, char *err, size_t errlen)
{
	EVP_PKEY *pkey;
	int kind;

	if (strstr(label, "PRIVATE") != NULL) {
		lg_jwt_errf(err, errlen, "%s: a %s; the key file must hold only public keys", where,
		            label);
		return -1;
	}
	if (strcmp(label, "PUBLIC KEY") != 0 && strcmp(label, "RSA PUBLIC KEY") != 0 &&
	    strcmp(label, "CERTIFICATE") != 0) {
		lg_jwt_errf(err, errlen, "%s: unexpected PEM block \"%s\"", where, label);
		return -1;
	}
	if ((pkey = decode_block(label, block, len)) == NULL) {
		lg_jwt_errf(err, errlen, "%s: cannot read this %s", where, label);
		ERR_clear_error();
		return -1;
	}
	if ((kind = key_kind(pkey, where, err, errlen)) < 0) {
		EVP_PKEY_free(pkey);
		return -1;
	}
	add_key(ks, (enum kind)kind, kid)->pkey = pkey;
	return 0;
}

/* Every PEM block of a key file, each maybe after a "# kid: NAME" line. */
static int
load_pem(struct lg_jwtkeys *ks, const char *file, const char *data, size_t len, char *err,
         size_t errlen)
{
	const char *p = data, *end = data + len, *e, *next, *after;
	char kid[LG_JWT_KID_MAX + 1] = "", label[64], where[512];
	int line = 0, kid_at = 0, r;

	for (; p < end; p = next) {
		e = line_end(p, end, &next);
		snprintf(where, sizeof(where), "%s:%d", file, ++line);
		if ((r = kid_line(p, e, kid)) != 0) {
			if (r < 0 || kid_at || kid_taken(ks, kid)) {
				lg_jwt_errf(err, errlen, "%s: %s", where,
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
			lg_jwt_errf(err, errlen, "%s: PEM block without its END line", where);
			return -1;
		}
		if (pem_key(ks, where, label, p, (size_t)(after - p), kid_at ? kid : "", err,
		            errlen) < 0)
			return -1;
		kid_at = 0;
		next = after;
	}
	if (kid_at) {
		lg_jwt_errf(err, errlen, "%s:%d: kid not followed by a key", file, kid_at);
		return -1;
	}
	if (ks->nkeys == 0) {
		lg_jwt_errf(err, errlen, "%s: no public key in it", file);
		return -1;
	}
	return 0;
}

/* The secret of an HMAC key file: its bytes, long enough for every pinned HS algorithm. */
static int
load_secret(struct lg_jwtkeys *ks, const char *file, const char *data, size_t len, char *err,
            size_t errlen)
{
	struct jwt_key *k;

	for (size_t i = 0; i < NALGS; i++)
		if ((ks->pinned & 1u << i) && algs[i].fam == F_HS &&
		    len < hash_sizes[algs[i].hash]) {
			lg_jwt_errf(
			    err, errlen,
			    "%s: HMAC secret of %zu bytes; %s needs at least %zu (RFC 7518 3.2)",
			    file, len, algs[i].name, hash_sizes[algs[i].hash]);
			return -1;
		}
	k = add_key(ks, K_HMAC, "");
	k->secret = lg_xcalloc(1, len);
	memcpy(k->secret, data, len);
	k->secret_len = len;
	return 0;
}

/* Whether alg may be verified with a key of kind. */
static bool
compatible(const struct lg_jwtkeys_alg *a, enum kind kind)
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
load_keys(struct lg_jwtkeys *ks, const char *file, char *err, size_t errlen)
{
	char *data;
	size_t len;
	int r;

	if (read_file(file, &data, &len, err, errlen) < 0)
		return -1;
	if (memmem(data, len, "-----BEGIN ", 11) != NULL)
		r = load_pem(ks, file, data, len, err, errlen);
	else if (len == 0) {
		lg_jwt_errf(err, errlen, "%s: empty: neither PEM public keys nor an HMAC secret",
		            file);
		r = -1;
	} else
		r = load_secret(ks, file, data, len, err, errlen);
	OPENSSL_cleanse(data, len);
	free(data);
	return r;
}

/* Whether some loaded key can verify some pinned algorithm. */
static bool
any_usable(const struct lg_jwtkeys *ks)
{
	for (size_t i = 0; i < NALGS; i++)
		for (size_t k = 0; (ks->pinned & 1u << i) && k < ks->nkeys; k++)
			if (compatible(&algs[i], ks->keys[k].kind))
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
verify_hmac(const struct lg_jwtkeys *ks, const struct lg_jwtkeys_alg *a, const struct jwt_key *k,
            const void *msg, size_t len, const uint8_t *sig, size_t siglen)
{
	OSSL_PARAM params[2];
	uint8_t mac[EVP_MAX_MD_SIZE];
	size_t maclen = 0;
	EVP_MAC_CTX *c;
	bool ok;

	if (siglen != hash_sizes[a->hash] || (c = EVP_MAC_CTX_new(ks->hmac)) == NULL)
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
verify_pkey(const struct lg_jwtkeys *ks, const struct lg_jwtkeys_alg *a, const struct jwt_key *k,
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
	ok = EVP_DigestVerifyInit(c, &pc, a->hash == H_NONE ? NULL : ks->md[a->hash], NULL,
	                          k->pkey) == 1;
	if (ok && a->fam == F_PS)
		ok = EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING) == 1 &&
		     EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, RSA_PSS_SALTLEN_DIGEST) == 1;
	ok = ok && EVP_DigestVerify(c, sig, siglen, msg, len) == 1;
	EVP_MD_CTX_free(c);
	return ok;
}

/* Verify with every candidate key; NULL, or why not. */
const char *
lg_jwtkeys_verify(const struct lg_jwtkeys *ks, const struct lg_jwtkeys_alg *a, const char *kid,
                  const void *msg, size_t len, const uint8_t *sig, size_t siglen)
{
	bool candidate = false, ok = false;

	for (size_t i = 0; i < ks->nkeys && !ok; i++) {
		const struct jwt_key *k = &ks->keys[i];

		if (kid && strcmp(k->kid, kid) != 0)
			continue;
		if (!compatible(a, k->kind))
			continue;
		candidate = true;
		ok = k->kind == K_HMAC ? verify_hmac(ks, a, k, msg, len, sig, siglen)
		                       : verify_pkey(ks, a, k, msg, len, sig, siglen);
	}
	ERR_clear_error(); /* failures queue errors; leave nothing for the thread's TLS code */
	if (ok)
		return NULL;
	if (!candidate)
		return kid && !kid_taken(ks, kid) ? "unknown kid" : "no key for algorithm";
	return "signature does not verify";
}

/* The pinned algorithm called name[0..n), or NULL ("none" is never pinnable). */
const struct lg_jwtkeys_alg *
lg_jwtkeys_alg(const struct lg_jwtkeys *ks, const char *name, ssize_t n)
{
	for (size_t i = 0; n >= 0 && i < NALGS; i++)
		if ((ks->pinned & 1u << i) && strlen(algs[i].name) == (size_t)n &&
		    memcmp(algs[i].name, name, (size_t)n) == 0)
			return &algs[i];
	return NULL;
}

/* Pin the configured algorithm names. */
static int
pin_algorithms(struct lg_jwtkeys *ks, const struct lg_jwt_opts *o, char *err, size_t errlen)
{
	size_t k;

	for (size_t i = 0; i < o->nalgorithms; i++) {
		for (k = 0; k < NALGS && strcmp(algs[k].name, o->algorithms[i]) != 0; k++)
			;
		if (k == NALGS) {
			lg_jwt_errf(err, errlen, "algorithms: unsupported algorithm \"%s\"",
			            o->algorithms[i]);
			return -1;
		}
		ks->pinned |= 1u << k;
	}
	if (ks->pinned == 0) {
		lg_jwt_errf(err, errlen, "algorithms: none pinned");
		return -1;
	}
	return 0;
}

/* Pin the algorithms and load the key file. */
struct lg_jwtkeys *
lg_jwtkeys_new(const struct lg_jwt_opts *o, char *err, size_t errlen)
{
	struct lg_jwtkeys *ks = lg_xcalloc(1, sizeof(*ks));

	if (pin_algorithms(ks, o, err, errlen) < 0 || load_keys(ks, o->keys, err, errlen) < 0)
		goto fail;
	if (!any_usable(ks)) {
		lg_jwt_errf(err, errlen, "%s: no key in it fits any of the pinned algorithms",
		            o->keys);
		goto fail;
	}
	for (int i = 0; i < 3; i++)
		ks->md[i] = EVP_MD_fetch(NULL, hash_names[i], NULL);
	ks->hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (!ks->md[0] || !ks->md[1] || !ks->md[2] || !ks->hmac) {
		lg_jwt_errf(err, errlen, "OpenSSL: cannot fetch SHA-2, HMAC or random bytes");
		goto fail;
	}
	return ks;
fail:
	ERR_clear_error();
	lg_jwtkeys_free(ks);
	return NULL;
}

/* Free a key set (NULL is fine). */
void
lg_jwtkeys_free(struct lg_jwtkeys *ks)
{
	if (ks == NULL)
		return;
	for (size_t i = 0; i < ks->nkeys; i++) {
		EVP_PKEY_free(ks->keys[i].pkey);
		if (ks->keys[i].secret)
			OPENSSL_clear_free(ks->keys[i].secret, ks->keys[i].secret_len);
	}
	free(ks->keys);
	for (int i = 0; i < 3; i++)
		EVP_MD_free(ks->md[i]);
	EVP_MAC_free(ks->hmac);
	free(ks);
}

/* Whether some key has a kid. */
bool
lg_jwtkeys_kids(const struct lg_jwtkeys *ks)
{
	return ks->kids;
}
