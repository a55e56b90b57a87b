/* libFuzzer harness for lib/identity/jwt.c: raw tokens, fuzzed JSON signed with HMAC, token extraction. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "jwt.h"

static const uint8_t secret[64] = "lessongate-fuzz-secret-0123456789abcdef-lessongate-fuzz-secret!";
static struct lg_jwt_verifier *plain, *strict;

/* Stop the run: the harness found a disagreement. */
static void
check(int ok)
{
	if (!ok)
		abort();
}

/* A verifier over the secret, or abort. */
static struct lg_jwt_verifier *
verifier(struct lg_jwt_opts o)
{
	char err[256];
	struct lg_jwt_verifier *v = lg_jwt_verifier_new(&o, err, sizeof(err));

	if (v == NULL) {
		fprintf(stderr, "fuzz_jwt: %s\n", err);
		abort();
	}
	return v;
}

/* Write the secret to a file and load two verifiers from it. */
int LLVMFuzzerInitialize(int *argc, char ***argv);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char path[] = "/tmp/lg-fuzz-jwt.XXXXXX";
	int fd = mkstemp(path);

	(void)argc;
	(void)argv;
	check(fd >= 0 && write(fd, secret, sizeof(secret)) == (ssize_t)sizeof(secret));
	close(fd);
	plain = verifier((struct lg_jwt_opts){.keys = path,
	                                      .algorithms = (char *[]){"HS256"},
	                                      .nalgorithms = 1,
	                                      .leeway = 30,
	                                      .exp_optional = true,
	                                      .cache_entries = 64});
	strict = verifier((struct lg_jwt_opts){.keys = path,
	                                       .algorithms = (char *[]){"HS256", "HS384"},
	                                       .nalgorithms = 2,
	                                       .student_claim = "uid",
	                                       .region_claim = "region",
	                                       .issuer = "iss-x",
	                                       .audience = "aud-x",
	                                       .cache_entries = 4});
	unlink(path);
	return 0;
}

/* base64url of data into out (room for n / 3 * 4 + 4); its length. */
static size_t
b64url(const uint8_t *p, size_t n, char *out)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t o = 0, i;

	for (i = 0; i + 3 <= n; i += 3) {
		out[o++] = a[p[i] >> 2];
		out[o++] = a[(p[i] & 3) << 4 | p[i + 1] >> 4];
		out[o++] = a[(p[i + 1] & 15) << 2 | p[i + 2] >> 6];
		out[o++] = a[p[i + 2] & 63];
	}
	if (n - i >= 1) {
		out[o++] = a[p[i] >> 2];
		out[o++] = a[(p[i] & 3) << 4 | (n - i == 2 ? p[i + 1] >> 4 : 0)];
		if (n - i == 2)
			out[o++] = a[(p[i + 1] & 15) << 2];
	}
	return o;
}

/* Verify twice: the second answer (maybe from the cache) is the first; an identity is sane. */
static void
verify(struct lg_jwt_verifier *v, const char *tok, size_t len, int64_t now)
{
	struct lg_identity a, b;
	char ra[64] = "", rb[64] = "";
	int r1 = lg_jwt_verify(v, tok, len, now, &a, ra, sizeof(ra));
	int r2 = lg_jwt_verify(v, tok, len, now, &b, rb, sizeof(rb));

	check(r1 == r2);
	if (r1 < 0) {
		check(ra[0] != '\0' && strcmp(ra, rb) == 0);
		return;
	}
	check(a.student_len >= 1 && a.student_len <= LG_JWT_STUDENT_MAX);
	check(strlen(a.student) == a.student_len);
	for (size_t i = 0; i < a.student_len; i++)
		check((unsigned char)a.student[i] >= 0x20 && a.student[i] != 0x7f);
	check(a.region == 0 || (a.region >= 100000 && a.region <= 999999));
	check(a.expires > INT64_MAX - 30 || now < a.expires + 30); /* leeway is at most 30 */
	check(b.student_len == a.student_len && memcmp(a.student, b.student, a.student_len) == 0);
	check(b.region == a.region && b.expires == a.expires);
}

/* Sign "header.claims" (both fuzzed JSON) with the secret and verify the token. */
static void
signed_token(const uint8_t *h, size_t hn, const uint8_t *c, size_t cn, int64_t now, int alg384)
{
	char *tok = malloc(hn / 3 * 4 + cn / 3 * 4 + 128);
	unsigned char mac[64];
	size_t n = 0, maclen = 0;

	n += b64url(h, hn, tok + n);
	tok[n++] = '.';
	n += b64url(c, cn, tok + n);
	check(EVP_Q_mac(NULL, "HMAC", NULL, alg384 ? "SHA384" : "SHA256", NULL, secret,
	                sizeof(secret), (unsigned char *)tok, n, mac, sizeof(mac),
	                &maclen) != NULL);
	tok[n++] = '.';
	n += b64url(mac, maclen, tok + n);
	verify(plain, tok, n, now);
	verify(strict, tok, n, now);
	free(tok);
}

/* Token sources on the input as a header value, a cookie string and a query string. */
static void
extract(const uint8_t *data, size_t size, int64_t now)
{
	const char *s = (const char *)data, *tok;
	char *out = malloc(size + 1);
	size_t n;
	int r;

	if ((r = lg_jwt_from_authorization(s, size, &tok, &n)) == 1) {
		check(tok > s && tok + n <= s + size && n > 0);
		verify(plain, tok, n, now);
	}
	check(r >= -1 && r <= 1);
	if ((r = lg_jwt_from_cookie(s, size, "lg_token", &tok, &n)) == 1) {
		check(tok > s && tok + n <= s + size && n > 0);
		verify(plain, tok, n, now);
	}
	check(r >= -1 && r <= 1);
	if ((r = lg_jwt_from_query(s, size, "access_token", out, size + 1, &n)) == 1) {
		check(n > 0 && n <= size && out[n] == '\0');
		verify(plain, out, n, now);
	}
	check(r >= -1 && r <= 1);
	free(out);
}

/*
 * Input: a mode byte (low 2 bits: raw token, signed header and claims split
 * at the first NUL, signed claims under a fixed header, token sources; bits
 * 2-4 pick the clock), then the data.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int64_t clocks[8] = {0,         1750000000, 1000,      -1,
	                                  INT64_MAX, INT64_MIN,  999999999, 1750000030};
	static const char fixed[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
	const uint8_t *nul;
	int64_t now;
	int mode;

	if (size < 1)
		return 0;
	mode = data[0] & 3;
	now = clocks[(data[0] >> 2) & 7];
	data++;
	size--;
	switch (mode) {
	case 0:
		verify(plain, (const char *)data, size, now);
		verify(strict, (const char *)data, size, now);
		break;
	case 1:
		if ((nul = memchr(data, 0, size)) != NULL)
			signed_token(data, (size_t)(nul - data), nul + 1,
			             size - (size_t)(nul - data) - 1, now,
			             memmem(data, (size_t)(nul - data), "HS384", 5) != NULL);
		break;
	case 2:
		signed_token((const uint8_t *)fixed, strlen(fixed), data, size, now, 0);
		break;
	default:
		extract(data, size, now);
	}
	return 0;
}
