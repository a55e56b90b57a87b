/* JWS keys (RFC 7515, RFC 7518): pinned algorithms, a key file loaded once, signature checks. */
#ifndef LG_JWTKEYS_H
#define LG_JWTKEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "util.h"

struct lg_jwt_opts;
struct lg_jwtkeys;
struct lg_jwtkeys_alg; /* a JWS "alg": RS256, ES384, EdDSA, HS512, ... */

/*
 * Pin o->algorithms and load the key file o->keys (see struct lg_jwt_opts);
 * NULL with "algorithms: message" or "file:line: message" in err.
 */
struct lg_jwtkeys *lg_jwtkeys_new(const struct lg_jwt_opts *o, char *err, size_t errlen);
void lg_jwtkeys_free(struct lg_jwtkeys *);

/* The pinned algorithm called name[0..n), or NULL (so for n < 0). */
const struct lg_jwtkeys_alg *lg_jwtkeys_alg(const struct lg_jwtkeys *, const char *name, ssize_t n);
/* Whether some key has a kid: then a token's kid must name one. */
bool lg_jwtkeys_kids(const struct lg_jwtkeys *);
/*
 * Verify sig[0..siglen) over msg[0..len) with alg and every key it fits
 * (only those called kid, unless kid is NULL): NULL, or a short static reason.
 * Leaves no OpenSSL error queued. Safe to call from several threads at once.
 */
const char *lg_jwtkeys_verify(const struct lg_jwtkeys *, const struct lg_jwtkeys_alg *alg,
                              const char *kid, const void *msg, size_t len, const uint8_t *sig,
                              size_t siglen);

/* Format into err, if there is one: how lg_jwt* functions report errors. */
void lg_jwt_errf(char *err, size_t errlen, const char *fmt, ...) LG_PRINTF(3, 4);

#endif
