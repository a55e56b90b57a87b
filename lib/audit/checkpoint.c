/* Signed checkpoints: C2SP signed-note and tlog-checkpoint with Ed25519 (OpenSSL EVP). */
#include "checkpoint.h"

#include <inttypes.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logfmt.h"
#include "util.h"

#define ED25519_KEY 32
#define ED25519_SIG 64
#define ALG_ED25519 0x01
#define SIG_PREFIX  "\xe2\x80\x94 " /* U+2014 EM DASH and a space */

struct lg_note_key {
	char name[LG_NOTE_NAME_MAX + 1];
	uint32_t id;
	uint8_t pub[ED25519_KEY];
	EVP_PKEY *pkey; /* the private key (signer) or the public one (verifier) */
};

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Standard base64 with padding. */
size_t
lg_base64_encode(const uint8_t *in, size_t n, char *out)
{
	size_t o = 0, i;

	for (i = 0; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = b64chars[v >> 18];
		out[o++] = b64chars[(v >> 12) & 63];
		out[o++] = b64chars[(v >> 6) & 63];
		out[o++] = b64chars[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
		out[o++] = b64chars[v >> 18];
		out[o++] = b64chars[(v >> 12) & 63];
		out[o++] = i + 1 < n ? b64chars[(v >> 6) & 63] : '=';
		out[o++] = '=';
	}
	out[o] = '\0';
	return o;
}

/* The value of a base64 character, or -1. */
static int
b64val(unsigned char c)
{
	const char *p = c ? strchr(b64chars, c) : NULL;

	return p ? (int)(p - b64chars) : -1;
}

/* Strict standard base64: padded, canonical, nothing else. */
int
lg_base64_decode(const char *s, size_t n, uint8_t *out, size_t cap)
{
	size_t o = 0;

	if (n % 4 != 0)
		return -1;
	for (size_t i = 0; i < n; i += 4) {
		int v[4], pad = 0;
		for (int j = 0; j < 4; j++) {
			if (s[i + j] == '=' && i + 4 == n && j >= 2) {
				v[j] = 0;
				pad++;
			} else if (pad || (v[j] = b64val((unsigned char)s[i + j])) < 0) {
				return -1;
			}
		}
		uint32_t w =
		    (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | v[3];
		if ((pad == 2 && (w & 0xffff)) || (pad == 1 && (w & 0xff)))
			return -1; /* bits after the last byte must be zero */
		if (o + 3 - (size_t)pad > cap)
			return -1;
		out[o++] = (uint8_t)(w >> 16);
		if (pad < 2)
			out[o++] = (uint8_t)(w >> 8);
		if (pad < 1)
			out[o++] = (uint8_t)w;
	}
	return (int)o;
}

/* Whether s[0..n) is UTF-8 with no control byte but newline (what a note's text may hold). */
static bool
text_valid(const char *s, size_t n, size_t *bad)
{
	const unsigned char *p = (const unsigned char *)s;

	for (size_t i = 0; i < n;) {
		size_t l;
		if (p[i] >= 0x80) {
			if ((l = lg_utf8_len(p + i, n - i)) == 0) {
				*bad = i;
				return false;
			}
			i += l;
			continue;
		}
		if ((p[i] < 0x20 && p[i] != '\n') || p[i] == 0x7f) {
			*bad = i;
			return false;
		}
		i++;
	}
	return true;
}

/* Whether s is a key name: non-empty, at most 255 bytes, UTF-8, no space, '+' or control. */
bool
lg_note_name_valid(const char *s)
{
	size_t n = strlen(s), bad;

	return n > 0 && n <= LG_NOTE_NAME_MAX && strpbrk(s, " +\n") == NULL &&
	       text_valid(s, n, &bad);
}

/* The key ID of an Ed25519 key under a name. */
static uint32_t
key_id(const char *name, const uint8_t pub[ED25519_KEY])
{
	size_t n = strlen(name);
	uint8_t buf[LG_NOTE_NAME_MAX + 2 + ED25519_KEY], h[32];

	memcpy(buf, name, n);
	buf[n] = '\n';
	buf[n + 1] = ALG_ED25519;
	memcpy(buf + n + 2, pub, ED25519_KEY);
	lg_sha256(buf, n + 2 + ED25519_KEY, h);
	return (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
}

/* A signer from an Ed25519 private key in PEM. */
struct lg_note_key *
lg_note_signer_new(const char *name, const char *pem, size_t len, char *err, size_t errlen)
{
	struct lg_note_key *k;
	EVP_PKEY *pkey;
	BIO *bio;
	size_t publen = ED25519_KEY;

	if (!lg_note_name_valid(name)) {
		lg_fail(
		    err, errlen,
		    "\"%s\" is not a key name (1 to 255 bytes of UTF-8, no space, '+' or control "
		    "character)",
		    name);
		return NULL;
	}
	if (len > INT32_MAX || (bio = BIO_new_mem_buf(pem, (int)len)) == NULL) {
		lg_fail(err, errlen, "cannot read the key");
		return NULL;
	}
	pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (pkey == NULL) {
		lg_fail(err, errlen,
		        "not a PEM private key (generate one with `lessongatectl keygen`)");
		return NULL;
	}
	if (EVP_PKEY_get_id(pkey) != EVP_PKEY_ED25519) {
		lg_fail(err, errlen, "the key is not an Ed25519 key (it is %s)",
		        EVP_PKEY_get0_type_name(pkey));
		EVP_PKEY_free(pkey);
		return NULL;
	}
	k = lg_xcalloc(1, sizeof(*k));
	if (!EVP_PKEY_get_raw_public_key(pkey, k->pub, &publen) || publen != ED25519_KEY) {
		lg_fail(err, errlen, "cannot read the public half of the key");
		EVP_PKEY_free(pkey);
		free(k);
		return NULL;
	}
	snprintf(k->name, sizeof(k->name), "%s", name);
	k->id = key_id(name, k->pub);
	k->pkey = pkey;
	return k;
}

/* A verifier from a key line "NAME+HHHHHHHH+BASE64(0x01 || key)". */
struct lg_note_key *
lg_note_verifier_new(const char *vkey, char *err, size_t errlen)
{
	const char *p1 = strchr(vkey, '+'), *p2;
	uint8_t raw[1 + ED25519_KEY + 3];
	char name[LG_NOTE_NAME_MAX + 1], *end;
	struct lg_note_key *k;
	unsigned long id;

	if (p1 == NULL || (p2 = strchr(p1 + 1, '+')) == NULL) {
		lg_fail(err, errlen,
		        "a verifier key is NAME+KEYID+KEY (as `lessongatectl keygen` prints)");
		return NULL;
	}
	if ((size_t)(p1 - vkey) > LG_NOTE_NAME_MAX) {
		lg_fail(err, errlen, "the verifier key's name is longer than %d bytes",
		        LG_NOTE_NAME_MAX);
		return NULL;
	}
	memcpy(name, vkey, (size_t)(p1 - vkey));
	name[p1 - vkey] = '\0';
	if (!lg_note_name_valid(name)) {
		lg_fail(err, errlen, "the verifier key's name \"%s\" is not a key name", name);
		return NULL;
	}
	for (const char *h = p1 + 1; h < p2; h++)
		if (!((*h >= '0' && *h <= '9') || (*h >= 'a' && *h <= 'f')))
			p2 = p1; /* forces the error below */
	if (p2 - p1 != 9) {
		lg_fail(err, errlen, "the verifier key's ID must be 8 lower-case hex digits");
		return NULL;
	}
	id = strtoul(p1 + 1, &end, 16);
	if (lg_base64_decode(p2 + 1, strlen(p2 + 1), raw, sizeof(raw)) != 1 + ED25519_KEY) {
		lg_fail(err, errlen, "the verifier key's key is not base64 of 33 bytes");
		return NULL;
	}
	if (raw[0] != ALG_ED25519) {
		lg_fail(err, errlen, "the verifier key's algorithm %u is not Ed25519 (1)", raw[0]);
		return NULL;
	}
	k = lg_xcalloc(1, sizeof(*k));
	snprintf(k->name, sizeof(k->name), "%s", name);
	memcpy(k->pub, raw + 1, ED25519_KEY);
	k->id = key_id(name, k->pub);
	if (k->id != id) {
		lg_fail(err, errlen,
		        "the verifier key's ID %08lx does not match its name and key (%08" PRIx32
		        ")",
		        id, k->id);
		free(k);
		return NULL;
	}
	if ((k->pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, k->pub, ED25519_KEY)) ==
	    NULL) {
		lg_fail(err, errlen, "the verifier key is not an Ed25519 public key");
		free(k);
		return NULL;
	}
	return k;
}

/* Free a key. */
void
lg_note_key_free(struct lg_note_key *k)
{
	if (k == NULL)
		return;
	EVP_PKEY_free(k->pkey);
	free(k);
}

/* The key's name. */
const char *
lg_note_key_name(const struct lg_note_key *k)
{
	return k->name;
}

/* The key ID. */
uint32_t
lg_note_key_id(const struct lg_note_key *k)
{
	return k->id;
}

/* The verifier key line of a key. */
void
lg_note_verifier_line(const struct lg_note_key *k, char *out, size_t cap)
{
	uint8_t raw[1 + ED25519_KEY];
	char b64[64];

	raw[0] = ALG_ED25519;
	memcpy(raw + 1, k->pub, ED25519_KEY);
	lg_base64_encode(raw, sizeof(raw), b64);
	snprintf(out, cap, "%s+%08" PRIx32 "+%s", k->name, k->id, b64);
}

/* Sign a note text. */
int
lg_note_sign(const char *text, size_t n, const struct lg_note_key *k, char *out, size_t cap,
             char *err, size_t errlen)
{
	uint8_t sig[4 + ED25519_SIG];
	size_t siglen = ED25519_SIG, bad;
	char b64[128];
	EVP_MD_CTX *ctx;
	int len;

	if (n == 0 || text[n - 1] != '\n')
		return lg_fail(err, errlen, "a note's text must end with a newline");
	if (!text_valid(text, n, &bad))
		return lg_fail(err, errlen,
		               "a note's text must be UTF-8 without control characters (byte %zu)",
		               bad);
	if (n >= 2 && memmem(text, n, "\n\n", 2) != NULL)
		return lg_fail(err, errlen, "a note's text must not hold a blank line");
	if ((ctx = EVP_MD_CTX_new()) == NULL ||
	    !EVP_DigestSignInit(ctx, NULL, NULL, NULL, k->pkey) ||
	    !EVP_DigestSign(ctx, sig + 4, &siglen, (const uint8_t *)text, n) ||
	    siglen != ED25519_SIG) {
		EVP_MD_CTX_free(ctx);
		return lg_fail(err, errlen, "signing failed (is it a private key?)");
	}
	EVP_MD_CTX_free(ctx);
	sig[0] = (uint8_t)(k->id >> 24);
	sig[1] = (uint8_t)(k->id >> 16);
	sig[2] = (uint8_t)(k->id >> 8);
	sig[3] = (uint8_t)k->id;
	lg_base64_encode(sig, sizeof(sig), b64);
	len = snprintf(out, cap, "%.*s\n" SIG_PREFIX "%s %s\n", (int)n, text, k->name, b64);
	if (len < 0 || (size_t)len >= cap)
		return lg_fail(err, errlen, "the signed note does not fit in %zu bytes", cap);
	return len;
}

/* Whether sig (64 bytes) is k's signature of text. */
static bool
ed25519_ok(const struct lg_note_key *k, const char *text, size_t n, const uint8_t *sig)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	bool ok = ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k->pkey) == 1 &&
	          EVP_DigestVerify(ctx, sig, ED25519_SIG, (const uint8_t *)text, n) == 1;

	EVP_MD_CTX_free(ctx);
	return ok;
}

/* Check a signed note; the length of its text, or -1 with the reason. */
int
lg_note_verify(const char *msg, size_t n, const struct lg_note_key *k, char *err, size_t errlen)
{
	const char *split = NULL, *p, *end = msg + n;
	size_t bad, text_len;
	int lineno = 0;
	bool wrong_id = false;
	uint32_t other_id = 0;

	if (n > LG_NOTE_MAX)
		return lg_fail(err, errlen, "the note is longer than %d bytes", LG_NOTE_MAX);
	if (n == 0 || msg[n - 1] != '\n')
		return lg_fail(err, errlen, "the note does not end with a newline (truncated?)");
	if (!text_valid(msg, n, &bad))
		return lg_fail(err, errlen,
		               "the note holds a control character or invalid UTF-8 at byte %zu",
		               bad);
	for (p = msg; p + 1 < end; p++)
		if (p[0] == '\n' && p[1] == '\n')
			split = p;
	if (split == NULL)
		return lg_fail(err, errlen,
		               "the note has no blank line before its signature lines");
	text_len = (size_t)(split - msg) + 1;
	for (p = split + 2; p < end; lineno++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)), *sp;
		uint8_t sig[4 + ED25519_SIG + 3];
		char name[LG_NOTE_NAME_MAX + 1];
		int siglen;
		uint32_t id;

		if (lineno >= 100)
			return lg_fail(err, errlen, "the note has more than 100 signature lines");
		if ((size_t)(nl - p) < sizeof(SIG_PREFIX) - 1 ||
		    memcmp(p, SIG_PREFIX, sizeof(SIG_PREFIX) - 1) != 0)
			return lg_fail(
			    err, errlen,
			    "signature line %d does not start with \"\xe2\x80\x94 \" (em "
			    "dash, space)",
			    lineno + 1);
		p += sizeof(SIG_PREFIX) - 1;
		sp = memchr(p, ' ', (size_t)(nl - p));
		if (sp == NULL || sp == p || (size_t)(sp - p) > LG_NOTE_NAME_MAX)
			return lg_fail(err, errlen,
			               "signature line %d is not \"\xe2\x80\x94 NAME SIGNATURE\"",
			               lineno + 1);
		memcpy(name, p, (size_t)(sp - p));
		name[sp - p] = '\0';
		if (!lg_note_name_valid(name))
			return lg_fail(err, errlen, "signature line %d: \"%s\" is not a key name",
			               lineno + 1, name);
		siglen = lg_base64_decode(sp + 1, (size_t)(nl - sp - 1), sig, sizeof(sig));
		if (siglen < 5)
			return lg_fail(err, errlen,
			               "signature line %d: the signature is not base64 of a key ID "
			               "and a signature",
			               lineno + 1);
		p = nl + 1;
		if (strcmp(name, k->name) != 0)
			continue; /* someone else's (a witness's cosignature, say) */
		id = (uint32_t)sig[0] << 24 | (uint32_t)sig[1] << 16 | (uint32_t)sig[2] << 8 |
		     sig[3];
		if (id != k->id) {
			wrong_id = true;
			other_id = id;
			continue;
		}
		if (siglen != 4 + ED25519_SIG || !ed25519_ok(k, msg, text_len, sig + 4))
			return lg_fail(err, errlen,
			               "the signature by %s+%08" PRIx32
			               " does not verify: the note was altered "
			               "or signed by another key",
			               k->name, k->id);
		return (int)text_len;
	}
	if (wrong_id)
		return lg_fail(err, errlen,
		               "the note is signed by another key named %s (key ID %08" PRIx32
		               ", expected %08" PRIx32 ")",
		               k->name, other_id, k->id);
	return lg_fail(err, errlen, "the note carries no signature by %s", k->name);
}

/* The checkpoint body. */
int
lg_checkpoint_format(const struct lg_checkpoint *c, char *out, size_t cap)
{
	char b64[48];
	int n;

	lg_base64_encode(c->root, LG_MERKLE_HASH, b64);
	n = snprintf(out, cap, "%s\n%" PRIu64 "\n%s\n", c->origin, c->size, b64);
	return n < 0 || (size_t)n >= cap ? -1 : n;
}

/* Parse a checkpoint body. */
int
lg_checkpoint_parse(const char *text, size_t n, struct lg_checkpoint *c, char *err, size_t errlen)
{
	const char *line[3], *end = text + n, *p = text;
	size_t len[3];
	uint64_t size = 0;
	size_t bad;

	if (!text_valid(text, n, &bad))
		return lg_fail(
		    err, errlen,
		    "the checkpoint holds a control character or invalid UTF-8 at byte %zu", bad);
	for (int i = 0; i < 3; i++) {
		const char *nl = p < end ? memchr(p, '\n', (size_t)(end - p)) : NULL;
		if (nl == NULL)
			return lg_fail(err, errlen,
			               "the checkpoint has %d line%s; it needs origin, size and "
			               "root hash",
			               i, i == 1 ? "" : "s");
		line[i] = p;
		len[i] = (size_t)(nl - p);
		p = nl + 1;
	}
	if (len[0] == 0 || len[0] > LG_NOTE_NAME_MAX)
		return lg_fail(err, errlen,
		               "the checkpoint's origin line is empty or over %d bytes",
		               LG_NOTE_NAME_MAX);
	if (len[1] == 0 || len[1] > 20 || (line[1][0] == '0' && len[1] > 1))
		return lg_fail(err, errlen,
		               "the checkpoint's size \"%.*s\" is not a decimal number",
		               (int)(len[1] > 32 ? 32 : len[1]), line[1]);
	for (size_t i = 0; i < len[1]; i++) {
		unsigned d = (unsigned char)line[1][i] - '0';
		if (d > 9 || size > (UINT64_MAX - d) / 10)
			return lg_fail(err, errlen,
			               "the checkpoint's size \"%.*s\" is not a decimal number",
			               (int)len[1], line[1]);
		size = size * 10 + d;
	}
	if (lg_base64_decode(line[2], len[2], c->root, LG_MERKLE_HASH) != LG_MERKLE_HASH)
		return lg_fail(err, errlen, "the checkpoint's root hash is not base64 of 32 bytes");
	/* Extension lines may follow; each must be non-empty (a blank line ends the text). */
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL || nl == p)
			return lg_fail(
			    err, errlen,
			    "the checkpoint has an empty or unterminated extension line");
		p = nl + 1;
	}
	memcpy(c->origin, line[0], len[0]);
	c->origin[len[0]] = '\0';
	c->size = size;
	return 0;
}

/* Format a checkpoint and sign it. */
int
lg_checkpoint_sign(const struct lg_checkpoint *c, const struct lg_note_key *k, char *out,
                   size_t cap, char *err, size_t errlen)
{
	char body[LG_NOTE_NAME_MAX + 80];
	int n;

	if (!lg_note_name_valid(c->origin))
		return lg_fail(err, errlen, "\"%s\" is not a valid origin", c->origin);
	if ((n = lg_checkpoint_format(c, body, sizeof(body))) < 0)
		return lg_fail(err, errlen, "the checkpoint does not fit");
	return lg_note_sign(body, (size_t)n, k, out, cap, err, errlen);
}

/* Verify a signed checkpoint with key and parse it. */
int
lg_checkpoint_open(const char *msg, size_t n, const struct lg_note_key *k, struct lg_checkpoint *c,
                   char *err, size_t errlen)
{
	int text = lg_note_verify(msg, n, k, err, errlen);

	if (text < 0 || lg_checkpoint_parse(msg, (size_t)text, c, err, errlen) != 0)
		return -1;
	if (strcmp(c->origin, k->name) != 0)
		return lg_fail(err, errlen,
		               "the checkpoint is for the log \"%s\", the key for \"%s\"",
		               c->origin, k->name);
	return 0;
}
