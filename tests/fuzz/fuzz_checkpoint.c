/* libFuzzer harness for lib/audit/checkpoint.c: signed notes, checkpoint bodies, keys, base64. */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"

/* Stop the run: the harness found a disagreement. */
static void
check(int ok)
{
	if (!ok)
		abort();
}

/* One fixed signer named "fuzz" and its verifier, made once. */
static struct lg_note_key *signer, *verifier;

/* Make the fixed keys (from a constant seed). */
static void
keys(void)
{
	uint8_t seed[32] = {42};
	EVP_PKEY *k;
	BIO *b;
	char *pem, line[LG_NOTE_VKEY_MAX], err[256];
	long n;

	if (signer)
		return;
	k = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
	b = BIO_new(BIO_s_mem());
	PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
	n = BIO_get_mem_data(b, &pem);
	signer = lg_note_signer_new("fuzz", pem, (size_t)n, err, sizeof(err));
	check(signer != NULL);
	lg_note_verifier_line(signer, line, sizeof(line));
	verifier = lg_note_verifier_new(line, err, sizeof(err));
	check(verifier != NULL);
	BIO_free(b);
	EVP_PKEY_free(k);
}

/*
 * The input as a signed note and as a checkpoint body (which must format back
 * to its first three lines when it parses), as a verifier key line, as base64
 * (which must encode back to itself when it decodes); and, signed with the
 * fixed key, as a note that must verify and parse as its body did.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), err[512], out[LG_NOTE_MAX + 512];
	struct lg_checkpoint c, c2;
	struct lg_note_key *k;
	uint8_t raw[LG_NOTE_MAX];
	int body, n, m;

	keys();
	memcpy(s, data, size);
	s[size] = '\0';
	n = lg_note_verify(s, size, verifier, err, sizeof(err));
	check(n == -1 || (n > 0 && (size_t)n < size));
	body = lg_checkpoint_parse(s, size, &c, err, sizeof(err));
	if (body == 0) {
		m = lg_checkpoint_format(&c, out, sizeof(out));
		check(m > 0 && (size_t)m <= size && memcmp(out, s, (size_t)m) == 0);
	}
	if ((k = lg_note_verifier_new(s, err, sizeof(err))) != NULL) {
		char line[LG_NOTE_VKEY_MAX];
		lg_note_verifier_line(k, line, sizeof(line));
		check(strcmp(line, s) == 0);
		lg_note_key_free(k);
	}
	if (size <= sizeof(raw) && (m = lg_base64_decode(s, size, raw, sizeof(raw))) >= 0) {
		char *enc = malloc(size + 4);
		check(lg_base64_encode(raw, (size_t)m, enc) == size && memcmp(enc, s, size) == 0);
		free(enc);
	}
	n = lg_note_sign(s, size, signer, out, sizeof(out), err, sizeof(err));
	if (n > 0) {
		check(lg_note_verify(out, (size_t)n, verifier, err, sizeof(err)) == (int)size);
		m = lg_checkpoint_open(out, (size_t)n, verifier, &c2, err, sizeof(err));
		if (body == 0 && strcmp(c.origin, "fuzz") == 0)
			check(m == 0 && c2.size == c.size && memcmp(c2.root, c.root, 32) == 0);
		if (m == 0)
			check(body == 0);
		out[n / 2] ^= 1; /* any change of one bit is caught */
		check(lg_note_verify(out, (size_t)n, verifier, err, sizeof(err)) == -1);
	}
	free(s);
	return 0;
}
