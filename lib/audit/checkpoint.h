/* Signed checkpoints: C2SP signed-note and tlog-checkpoint with Ed25519 (OpenSSL EVP). */
#ifndef LG_CHECKPOINT_H
#define LG_CHECKPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "merkle.h"

/* The largest note read or written (a checkpoint is about 200 bytes). */
#define LG_NOTE_MAX 8192
/* The longest key name or origin. */
#define LG_NOTE_NAME_MAX 255
/* A verifier key line: name, "+", 8 hex, "+", 44 base64, NUL. */
#define LG_NOTE_VKEY_MAX (LG_NOTE_NAME_MAX + 56)

/* What a checkpoint says: the log's origin line, its size and root hash. */
struct lg_checkpoint {
	char origin[LG_NOTE_NAME_MAX + 1];
	uint64_t size;
	uint8_t root[LG_MERKLE_HASH];
};

/* An Ed25519 note key: name, key ID, public key, and the private key for a signer. */
struct lg_note_key;

/* Whether s is a key name: non-empty, at most 255 bytes, UTF-8, no space, '+' or control. */
bool lg_note_name_valid(const char *s);
/*
 * A signer from an Ed25519 private key in PEM (PKCS#8) under `name`. NULL
 * with the reason in err if the PEM is no Ed25519 private key or the name is
 * not valid.
 */
struct lg_note_key *lg_note_signer_new(const char *name, const char *pem, size_t len, char *err,
                                       size_t errlen);
/* A verifier from a key line "NAME+HHHHHHHH+BASE64(0x01 || key)"; NULL with the reason. */
struct lg_note_key *lg_note_verifier_new(const char *vkey, char *err, size_t errlen);
void lg_note_key_free(struct lg_note_key *);
const char *lg_note_key_name(const struct lg_note_key *);
/* The key ID: the first 4 bytes of SHA-256(name || 0x0A || 0x01 || public key), big-endian. */
uint32_t lg_note_key_id(const struct lg_note_key *);
/* The verifier key line of a key into out (LG_NOTE_VKEY_MAX bytes suffice). */
void lg_note_verifier_line(const struct lg_note_key *, char *out, size_t cap);

/*
 * Sign a note text (UTF-8, no control bytes but newline, ending in a newline)
 * into out: the text, a blank line and "— NAME BASE64(keyid || signature)\n".
 * Its length, or -1 with the reason in err.
 */
int lg_note_sign(const char *text, size_t n, const struct lg_note_key *, char *out, size_t cap,
                 char *err, size_t errlen);
/*
 * Check a signed note: well formed, and signed by key (other signers' lines
 * are allowed and ignored; a line with key's name and ID whose signature
 * fails is an error). The length of its text (up to and including the
 * newline before the blank line), or -1 with the reason in err.
 */
int lg_note_verify(const char *msg, size_t n, const struct lg_note_key *, char *err, size_t errlen);

/* The checkpoint body: origin, size, base64 root, each on its own line. Its length or -1. */
int lg_checkpoint_format(const struct lg_checkpoint *, char *out, size_t cap);
/* Parse a checkpoint body (extension lines after the root are allowed); 0, or -1 with reason. */
int lg_checkpoint_parse(const char *text, size_t n, struct lg_checkpoint *, char *err,
                        size_t errlen);
/* Format a checkpoint and sign it: the signed note's length, or -1 with the reason. */
int lg_checkpoint_sign(const struct lg_checkpoint *, const struct lg_note_key *, char *out,
                       size_t cap, char *err, size_t errlen);
/*
 * Verify a signed checkpoint with key and parse it; its origin must be the
 * key's name. 0, or -1 with the reason in err.
 */
int lg_checkpoint_open(const char *msg, size_t n, const struct lg_note_key *,
                       struct lg_checkpoint *, char *err, size_t errlen);

/* Standard base64 with padding into out (4 * ceil(n / 3) + 1 bytes); its length. */
size_t lg_base64_encode(const uint8_t *in, size_t n, char *out);
/* Strict standard base64 (padding required, nothing else); the length decoded, or -1. */
int lg_base64_decode(const char *s, size_t n, uint8_t *out, size_t cap);

#endif
