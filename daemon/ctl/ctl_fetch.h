/* lessongatectl's HTTPS client: one GET per connection, with a client certificate (OpenSSL). */
#ifndef LGCTL_FETCH_H
#define LGCTL_FETCH_H

#include <stddef.h>

#include "render.h"

/* Where to connect and how to prove who we are. */
struct lgctl_https;

/*
 * A client for url ("https://HOST[:PORT]", an IPv6 HOST in brackets; a path
 * after it is a prefix of every request's path). The server's certificate
 * must chain to cacert (a PEM file; NULL: the system's store) and name HOST;
 * cert and key (PEM files, both or neither) are our client certificate. NULL
 * with the reason in err.
 */
struct lgctl_https *lgctl_https_new(const char *url, const char *cert, const char *key,
                                    const char *cacert, char *err, size_t errlen);
void lgctl_https_free(struct lgctl_https *);

/* Called with each run of the body as it arrives; non-zero stops the transfer. */
typedef int (*lgctl_https_body_fn)(void *arg, const char *data, size_t n);

/*
 * GET path (with its query) on a new connection, with an Accept field if
 * accept is not NULL; the body goes to fn. 0 with the HTTP status in *status
 * (any status: the caller decides), or -1 with the reason in err (a failed
 * connection or handshake, a malformed response, fn's stop).
 */
int lgctl_https_get(struct lgctl_https *, const char *path, const char *accept, int *status,
                    lgctl_https_body_fn fn, void *arg, char *err, size_t errlen);

/* The same, the body appended to out (at most max bytes, or -1). */
int lgctl_https_get_buf(struct lgctl_https *, const char *path, const char *accept, int *status,
                        struct lg_buf *out, size_t max, char *err, size_t errlen);

#endif
