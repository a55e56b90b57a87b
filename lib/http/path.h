/* Request paths as routes see them: a normal and a canonical form, or a refusal; trusted peer
 * networks. */
#ifndef LG_PATH_H
#define LG_PATH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

/*
 * Normalise the path of an origin-form request target (what precedes '?'),
 * so that lessongate classifies, and the platform receives, the same path:
 *
 *  - percent-encoded unreserved characters (ALPHA DIGIT - . _ ~) are decoded,
 *    once; every other encoded octet stays encoded, its hex in upper case;
 *  - empty segments are dropped ("//" becomes "/"), then "." and ".."
 *    segments are removed (RFC 3986 §5.2.4), after decoding, so "%2e%2e" is "..";
 *  - ambiguous paths are refused: encoded "/" or "\", raw "\", NUL and other
 *    control characters raw or encoded, raw space, '?' or '#', bad
 *    percent-encoding, octets (raw or decoded) that are not UTF-8 or are
 *    overlong, ".." above the root, dot segments with ";" parameters
 *    ("..;", which some servers take as ".."), and paths not starting with "/".
 *
 * The result is never longer than the input: out (not overlapping in) needs
 * len + 1 bytes, as it is NUL-terminated. Returns its length, or -1 with a
 * short static reason in *reason (answer 400). Normalising a result again
 * gives the same result.
 */
ssize_t lg_path_normalise(const char *in, size_t len, char *out, size_t outlen,
                          const char **reason);

/*
 * The canonical form of a normalised path, which routes are also matched on,
 * so that a path reaches a lesson route however lenient the origin reads it:
 *
 *  - ASCII letters are folded to lower case (Express, ASP.NET); the hex digits
 *    of a %XX stay upper case;
 *  - ";..." parameters are removed from every segment (Tomcat, Spring);
 *  - trailing dots and spaces ("%20") are removed from every segment (IIS);
 *  - segments left empty are dropped; the result ends in "/" when the path
 *    did or when its last segment was dropped;
 *  - a segment made only of dots and spaces ("...", "..%20") is refused: some
 *    servers read it as "..".
 *
 * The result is never longer than the input and is its own canonical form (and
 * a normalised path): out needs len + 1 bytes. Returns its length, or -1 with a
 * short static reason in *reason (answer 400).
 */
ssize_t lg_path_canonical(const char *norm, size_t len, char *out, size_t outlen,
                          const char **reason);

/*
 * A set of networks ("10.0.0.0/8", "fd00::/8", or bare addresses) that a peer
 * address is matched against. IPv4 networks also match IPv4-mapped IPv6
 * peers (::ffff:10.1.2.3), as a dual-stack listener reports them.
 */
struct lg_cidr_set;

struct lg_cidr_set *lg_cidr_set_new(void);
void lg_cidr_set_free(struct lg_cidr_set *);
/* Add "ADDR" or "ADDR/BITS"; -1 with a message naming text in err when it is not one. */
int lg_cidr_set_add(struct lg_cidr_set *, const char *text, char *err, size_t errlen);
/* Number of networks in the set. */
size_t lg_cidr_set_count(const struct lg_cidr_set *);
/* Whether an AF_INET or AF_INET6 address lies in one of the networks (others never do). */
bool lg_cidr_set_match(const struct lg_cidr_set *, const struct sockaddr *);

#endif
