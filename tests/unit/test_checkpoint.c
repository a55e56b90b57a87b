/* Tests for lib/audit/checkpoint.c: signed notes (Go's published vector), checkpoints, bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "checkpoint.h"

/* golang.org/x/mod/sumdb/note's documented example key and note. */
#define PETER_SKEY "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
#define PETER_VKEY "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
#define PETER_TEXT                                                                                 \
	"If you think cryptography is the answer to your problem,\n"                               \
	"then you don't know what your problem is.\n"
#define PETER_SIG                                                                                  \
	"\xe2\x80\x94 PeterNeumann "                                                               \
	"x08go/ZJkuBS9UG/"                                                                         \
	"SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM="             \
	"\n"

/* PEM (PKCS#8) of an Ed25519 key from its 32-byte seed. */
static char *
pem_from_seed(const uint8_t seed[32])
{
	EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *out;
	long n;

	assert_non_null(k);
	assert_int_equal(PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL), 1);
	n = BIO_get_mem_data(b, &data);
	out = calloc(1, (size_t)n + 1);
	memcpy(out, data, (size_t)n);
	BIO_free(b);
	EVP_PKEY_free(k);
	return out;
}

/* A signer named name with a seed of one repeated byte. */
static struct lg_note_key *
signer(const char *name, uint8_t fill)
{
	uint8_t seed[32];
	char err[256] = "";
	char *pem;
	struct lg_note_key *k;

	memset(seed, fill, sizeof(seed));
	pem = pem_from_seed(seed);
	k = lg_note_signer_new(name, pem, strlen(pem), err, sizeof(err));
	if (k == NULL)
		fail_msg("%s", err);
	free(pem);
	return k;
}

/* The verifier of a signer, through its key line. */
static struct lg_note_key *
verifier_of(const struct lg_note_key *s)
{
	char line[LG_NOTE_VKEY_MAX], err[256] = "";
	struct lg_note_key *v;

	lg_note_verifier_line(s, line, sizeof(line));
	v = lg_note_verifier_new(line, err, sizeof(err));
	if (v == NULL)
		fail_msg("%s: %s", line, err);
	return v;
}

/* Base64 round trips, and strictness: padding, alphabet, trailing bits. */
static void
test_base64(void **state)
{
	uint8_t out[16];
	char enc[32];

	(void)state;
	assert_int_equal(lg_base64_encode((const uint8_t *)"ab", 2, enc), 4);
	assert_string_equal(enc, "YWI=");
	assert_int_equal(lg_base64_decode("YWI=", 4, out, sizeof(out)), 2);
	assert_memory_equal(out, "ab", 2);
	assert_int_equal(lg_base64_decode("YWJj", 4, out, sizeof(out)), 3);
	assert_int_equal(lg_base64_decode("YQ==", 4, out, sizeof(out)), 1);
	assert_int_equal(lg_base64_decode("", 0, out, sizeof(out)), 0);
	assert_int_equal(lg_base64_decode("YWI", 3, out, sizeof(out)), -1); /* no padding */
	assert_int_equal(lg_base64_decode("YWJ=", 4, out, sizeof(out)),
	                 -1); /* bits after the end */
	assert_int_equal(lg_base64_decode("Y=I=", 4, out, sizeof(out)), -1); /* padding inside */
	assert_int_equal(lg_base64_decode("YW I", 4, out, sizeof(out)), -1); /* a space */
	assert_int_equal(lg_base64_decode("YWI-", 4, out, sizeof(out)), -1); /* base64url */
	assert_int_equal(lg_base64_decode("YWJjYWJj", 8, out, 5), -1);       /* no room */
	assert_int_equal(lg_base64_decode("YQ==YQ==", 8, out, sizeof(out)), -1);
}

/* Go's published key and note: the same key line, the same signature byte for byte. */
static void
test_go_vector(void **state)
{
	uint8_t raw[33];
	char line[LG_NOTE_VKEY_MAX], out[LG_NOTE_MAX], err[256] = "", *pem;
	struct lg_note_key *s, *v;
	int n;

	(void)state;
	assert_int_equal(lg_base64_decode(PETER_SKEY, strlen(PETER_SKEY), raw, sizeof(raw)), 33);
	assert_int_equal(raw[0], 1);
	pem = pem_from_seed(raw + 1);
	s = lg_note_signer_new("PeterNeumann", pem, strlen(pem), err, sizeof(err));
	free(pem);
	assert_non_null(s);
	assert_int_equal(lg_note_key_id(s), 0xc74f20a3);
	lg_note_verifier_line(s, line, sizeof(line));
	assert_string_equal(line, PETER_VKEY);
	n = lg_note_sign(PETER_TEXT, strlen(PETER_TEXT), s, out, sizeof(out), err, sizeof(err));
	assert_int_equal(n, strlen(PETER_TEXT "\n" PETER_SIG));
	assert_string_equal(out, PETER_TEXT "\n" PETER_SIG);

	v = lg_note_verifier_new(PETER_VKEY, err, sizeof(err));
	assert_non_null(v);
	assert_int_equal(lg_note_verify(out, (size_t)n, v, err, sizeof(err)), strlen(PETER_TEXT));
	/* Another signer's line (a witness) before ours is ignored. */
	{
		const char *two = PETER_TEXT
		    "\n\xe2\x80\x94 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+"
		    "MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n" PETER_SIG;
		assert_int_equal(lg_note_verify(two, strlen(two), v, err, sizeof(err)),
		                 strlen(PETER_TEXT));
	}
	/* One changed byte of the text. */
	out[3] = 'X';
	assert_int_equal(lg_note_verify(out, (size_t)n, v, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "does not verify"));
	lg_note_key_free(s);
	lg_note_key_free(v);
}

/* Verifier key lines that are wrong are refused with a reason (Go's bad-key cases among them). */
static void
test_bad_verifier_keys(void **state)
{
	static const struct {
		const char *key, *why;
	} bad[] = {
	    {"PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
	     "33 bytes"},
	    {"PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
	     "does not match"},
	    {"PeterNeumann+C74F20A3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
	     "lower-case hex"},
	    {"Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
	     "not a key name"},
	    {"PeterNeumann+c74f20a3", "NAME+KEYID+KEY"},
	    {"PeterNeumann+c74f20a3+!!!!", "33 bytes"},
	    {"PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "not Ed25519"},
	    {"+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "not a key name"},
	};
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_null(lg_note_verifier_new(bad[i].key, err, sizeof(err)));
		if (strstr(err, bad[i].why) == NULL)
			fail_msg("%s: reason \"%s\" lacks \"%s\"", bad[i].key, err, bad[i].why);
	}
}

/* A PEM that is no Ed25519 private key, and a bad name, are refused with a reason. */
static void
test_bad_signing_keys(void **state)
{
	char err[256] = "", *pem;
	EVP_PKEY *ec = EVP_EC_gen("P-256");
	BIO *b = BIO_new(BIO_s_mem());
	uint8_t seed[32] = {1};
	long n;

	(void)state;
	assert_null(lg_note_signer_new("log", "junk", 4, err, sizeof(err)));
	assert_non_null(strstr(err, "not a PEM private key"));
	PEM_write_bio_PrivateKey(b, ec, NULL, NULL, 0, NULL, NULL);
	n = BIO_get_mem_data(b, &pem);
	assert_null(lg_note_signer_new("log", pem, (size_t)n, err, sizeof(err)));
	assert_non_null(strstr(err, "not an Ed25519 key"));
	BIO_free(b);
	EVP_PKEY_free(ec);
	pem = pem_from_seed(seed);
	assert_null(lg_note_signer_new("a log", pem, strlen(pem), err, sizeof(err)));
	assert_non_null(strstr(err, "not a key name"));
	assert_null(lg_note_signer_new("a+b", pem, strlen(pem), err, sizeof(err)));
	free(pem);
}

/* A checkpoint signs, verifies and parses back to what was signed. */
static void
test_checkpoint_round_trip(void **state)
{
	struct lg_note_key *s = signer("lessongate.example/gw-1", 7), *v = verifier_of(s);
	struct lg_checkpoint c = {"lessongate.example/gw-1", 1000000, {0}}, got;
	char out[LG_NOTE_MAX], err[256] = "";
	int n;

	(void)state;
	for (int i = 0; i < 32; i++)
		c.root[i] = (uint8_t)(i * 37);
	n = lg_checkpoint_sign(&c, s, out, sizeof(out), err, sizeof(err));
	assert_true(n > 0);
	assert_memory_equal(out, "lessongate.example/gw-1\n1000000\n", 32);
	assert_int_equal(lg_checkpoint_open(out, (size_t)n, v, &got, err, sizeof(err)), 0);
	assert_string_equal(got.origin, c.origin);
	assert_int_equal(got.size, c.size);
	assert_memory_equal(got.root, c.root, 32);
	/* Size 0 and the largest size format and parse. */
	c.size = 0;
	n = lg_checkpoint_sign(&c, s, out, sizeof(out), err, sizeof(err));
	assert_int_equal(lg_checkpoint_open(out, (size_t)n, v, &got, err, sizeof(err)), 0);
	assert_int_equal(got.size, 0);
	c.size = UINT64_MAX;
	n = lg_checkpoint_sign(&c, s, out, sizeof(out), err, sizeof(err));
	assert_int_equal(lg_checkpoint_open(out, (size_t)n, v, &got, err, sizeof(err)), 0);
	assert_true(got.size == UINT64_MAX);
	lg_note_key_free(s);
	lg_note_key_free(v);
}

/* Signed by another key (same name or not), or altered after signing: refused, and why. */
static void
test_checkpoint_wrong_key_and_altered(void **state)
{
	struct lg_note_key *s = signer("gw", 1), *v = verifier_of(s);
	struct lg_note_key *other = signer("gw", 2), *named = signer("elsewhere", 1);
	struct lg_checkpoint c = {"gw", 42, {1, 2, 3}}, got;
	char out[LG_NOTE_MAX], err[256] = "";
	int n;

	(void)state;
	n = lg_checkpoint_sign(&c, other, out, sizeof(out), err, sizeof(err));
	assert_int_equal(lg_checkpoint_open(out, (size_t)n, v, &got, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "signed by another key named gw"));
	c.size = 42;
	snprintf(c.origin, sizeof(c.origin), "elsewhere");
	n = lg_checkpoint_sign(&c, named, out, sizeof(out), err, sizeof(err));
	assert_int_equal(lg_checkpoint_open(out, (size_t)n, v, &got, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no signature by gw"));
	/* Our key, but for another origin. */
	n = lg_checkpoint_sign(&c, s, out, sizeof(out), err, sizeof(err));
	assert_int_equal(lg_checkpoint_open(out, (size_t)n, v, &got, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "for the log \"elsewhere\""));

	snprintf(c.origin, sizeof(c.origin), "gw");
	n = lg_checkpoint_sign(&c, s, out, sizeof(out), err, sizeof(err));
	assert_int_equal(lg_checkpoint_open(out, (size_t)n, v, &got, err, sizeof(err)), 0);
	out[3] = '3'; /* "gw\n42" -> "gw\n43": a bigger log */
	assert_int_equal(lg_checkpoint_open(out, (size_t)n, v, &got, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "does not verify"));
	out[3] = '2';
	out[7] ^= 1; /* the root hash */
	assert_int_equal(lg_checkpoint_open(out, (size_t)n, v, &got, err, sizeof(err)), -1);
	out[7] ^= 1;
	out[n - 5] = out[n - 5] == 'A' ? 'B' : 'A'; /* the signature */
	assert_int_equal(lg_checkpoint_open(out, (size_t)n, v, &got, err, sizeof(err)), -1);
	lg_note_key_free(s);
	lg_note_key_free(v);
	lg_note_key_free(other);
	lg_note_key_free(named);
}

/* Malformed notes and bodies: each refused with its own reason. */
static void
test_malformed(void **state)
{
	struct lg_note_key *s = signer("gw", 1), *v = verifier_of(s);
	struct lg_checkpoint c = {"gw", 5, {0}}, got;
	char good[LG_NOTE_MAX], buf[LG_NOTE_MAX + 16], err[256];
	int n = lg_checkpoint_sign(&c, s, good, sizeof(good), err, sizeof(err));
	static const struct {
		const char *body, *why;
	} bodies[] = {
	    {"gw\n5\n", "has 2 lines"},
	    {"gw\n05\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", "not a decimal"},
	    {"gw\n-5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", "not a decimal"},
	    {"gw\n18446744073709551616\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
	     "not a decimal"},
	    {"gw\n5\nAAAA\n", "not base64 of 32 bytes"},
	    {"\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n", "origin line is empty"},
	};
	/* Found by tests/fuzz/fuzz_checkpoint: a NUL in the origin cut it short when copied. */
	const char nul_origin[] = "f\x0f\0uzz\n3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";

	(void)state;
	assert_true(n > 0);
	/* Cut short: the trailing newline, or everything after the blank line. */
	err[0] = '\0';
	assert_int_equal(lg_checkpoint_open(good, (size_t)n - 1, v, &got, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "does not end with a newline"));
	assert_int_equal(lg_checkpoint_open(good, (size_t)n - 1, v, &got, err, sizeof(err)), -1);
	assert_int_equal(lg_note_verify("gw\n5\nx\n", 7, v, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no blank line"));
	/* A signature line without the em dash. */
	snprintf(buf, sizeof(buf), "%s", good);
	memcpy(strstr(buf, "\xe2\x80\x94"), "--- ", 4);
	assert_int_equal(lg_note_verify(buf, (size_t)n, v, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "does not start with"));
	/* Bad base64 in the signature. */
	snprintf(buf, sizeof(buf), "%s", good);
	buf[n - 3] = '!';
	assert_int_equal(lg_note_verify(buf, (size_t)n, v, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not base64"));
	/* A control character and invalid UTF-8. */
	snprintf(buf, sizeof(buf), "%s", good);
	buf[1] = '\r';
	assert_int_equal(lg_note_verify(buf, (size_t)n, v, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "control character or invalid UTF-8 at byte 1"));
	buf[1] = (char)0xff;
	assert_int_equal(lg_note_verify(buf, (size_t)n, v, err, sizeof(err)), -1);
	/* Too long. */
	memset(buf, 'a', LG_NOTE_MAX + 1);
	assert_int_equal(lg_note_verify(buf, LG_NOTE_MAX + 1, v, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "longer than"));
	/* Well-signed notes whose bodies are not checkpoints. */
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		int m = lg_note_sign(bodies[i].body, strlen(bodies[i].body), s, buf, sizeof(buf),
		                     err, sizeof(err));
		assert_true(m > 0);
		err[0] = '\0';
		assert_int_equal(lg_checkpoint_open(buf, (size_t)m, v, &got, err, sizeof(err)), -1);
		if (strstr(err, bodies[i].why) == NULL)
			fail_msg("body %zu: reason \"%s\" lacks \"%s\"", i, err, bodies[i].why);
	}
	err[0] = '\0';
	assert_int_equal(
	    lg_checkpoint_parse(nul_origin, sizeof(nul_origin) - 1, &got, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "control character or invalid UTF-8 at byte 1"));
	/* Extension lines after the root hash are allowed. */
	{
		const char *ext =
		    "gw\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\nextension\n";
		int m = lg_note_sign(ext, strlen(ext), s, buf, sizeof(buf), err, sizeof(err));
		assert_int_equal(lg_checkpoint_open(buf, (size_t)m, v, &got, err, sizeof(err)), 0);
		assert_int_equal(got.size, 5);
	}
	/* Texts that cannot be signed. */
	assert_int_equal(lg_note_sign("a\n\nb\n", 5, s, buf, sizeof(buf), err, sizeof(err)), -1);
	assert_int_equal(lg_note_sign("a", 1, s, buf, sizeof(buf), err, sizeof(err)), -1);
	lg_note_key_free(s);
	lg_note_key_free(v);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_base64),
	    cmocka_unit_test(test_go_vector),
	    cmocka_unit_test(test_bad_verifier_keys),
	    cmocka_unit_test(test_bad_signing_keys),
	    cmocka_unit_test(test_checkpoint_round_trip),
	    cmocka_unit_test(test_checkpoint_wrong_key_and_altered),
	    cmocka_unit_test(test_malformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
