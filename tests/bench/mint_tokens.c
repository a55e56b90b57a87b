/*
 * mint_tokens KEY.pem N EXP [REGION]: N RS256 JWTs on stdout, one per line, for the
 * students stu-0 .. stu-(N-1), each with "exp": EXP (unix seconds) and a "region"
 * claim (default "533100", Dehong). For scripts/bench: the key is an RSA private key
 * made with `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048`; lessongated
 * gets the public half (`openssl pkey -pubout`) as identity.jwt.keys.
 *
 * OpenSSL EVP only; exits 0, or 1 with a message on stderr.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

/* Base64url without padding of in[0..n) into out (4 * ceil(n / 3) + 1 bytes). */
static size_t
b64url(const unsigned char *in, size_t n, char *out)
{
	int len = EVP_EncodeBlock((unsigned char *)out, in, (int)n);

	while (len > 0 && out[len - 1] == '=')
		len--;
	out[len] = '\0';
	for (char *p = out; *p; p++)
		*p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
	return (size_t)len;
}

static int
fail(const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[256] = "";

	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	fprintf(stderr, "mint_tokens: %s%s%s\n", what, e ? ": " : "", buf);
	return 1;
}

/* A positive integer argument. */
static int
parse_ll(const char *s, long long min, long long *out)
{
	char *end;

	errno = 0;
	*out = strtoll(s, &end, 10);
	return errno == 0 && end != s && *end == '\0' && *out >= min ? 0 : -1;
}

int
main(int argc, char **argv)
{
	static const char header[] = "{\"alg\":\"RS256\",\"typ\":\"JWT\"}";
	const char *region = argc > 4 ? argv[4] : "533100";
	char h64[64], payload[256], p64[400], signing[512], sig64[1400];
	unsigned char sig[1024];
	long long n, exp;
	EVP_PKEY *key;
	EVP_MD_CTX *md;
	FILE *f;
	size_t hl;

	if (argc < 4 || argc > 5 || parse_ll(argv[2], 0, &n) != 0 ||
	    parse_ll(argv[3], 1, &exp) != 0 || strlen(region) != 6 ||
	    strspn(region, "0123456789") != 6) {
		fprintf(stderr, "usage: mint_tokens KEY.pem N EXP [REGION]\n"
		                "  N RS256 tokens for stu-0..stu-N-1, exp = EXP (unix seconds),\n"
		                "  region = REGION (six digits, default 533100), one per line\n");
		return 2;
	}
	if ((f = fopen(argv[1], "r")) == NULL) {
		fprintf(stderr, "mint_tokens: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (key == NULL)
		return fail("cannot read a private key from the file");
	if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA || EVP_PKEY_get_size(key) > (int)sizeof(sig)) {
		EVP_PKEY_free(key);
		fprintf(stderr, "mint_tokens: %s: not an RSA key of at most 8192 bits\n", argv[1]);
		return 1;
	}
	if ((md = EVP_MD_CTX_new()) == NULL)
		return fail("EVP_MD_CTX_new");
	hl = b64url((const unsigned char *)header, sizeof(header) - 1, h64);
	for (long long i = 0; i < n; i++) {
		size_t siglen = sizeof(sig);
		int pl = snprintf(payload, sizeof(payload),
		                  "{\"sub\":\"stu-%lld\",\"region\":\"%s\",\"exp\":%lld}", i, region,
		                  exp);
		size_t sl;

		sl = hl + 1 + b64url((const unsigned char *)payload, (size_t)pl, p64);
		snprintf(signing, sizeof(signing), "%s.%s", h64, p64);
		if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
		    EVP_DigestSign(md, sig, &siglen, (const unsigned char *)signing, sl) != 1) {
			EVP_MD_CTX_free(md);
			EVP_PKEY_free(key);
			return fail("signing failed");
		}
		b64url(sig, siglen, sig64);
		if (printf("%s.%s\n", signing, sig64) < 0) {
			fprintf(stderr, "mint_tokens: writing: %s\n", strerror(errno));
			return 1;
		}
	}
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(key);
	if (fflush(stdout) != 0) {
		fprintf(stderr, "mint_tokens: writing: %s\n", strerror(errno));
		return 1;
	}
	return 0;
}
