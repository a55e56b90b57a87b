/* lessongatectl's HTTP client: one request per connection, http:// or https:// with a client
 * certificate (OpenSSL), a connect timeout and an overall deadline. */
#ifndef LGCTL_FETCH_H
#define LGCTL_FETCH_H

#include <stddef.h>

#include "render.h"

/* Where to connect and how to prove who we are. */
struct lgctl_https;

/* What lgctl_https_request returns when the server could not be reached: no connection, no TLS
 * handshake, or not a byte of answer (closed, or silent until the deadline). */
#define LGCTL_UNREACHABLE (-2)

/*
 * A client for url ("https://HOST[:PORT]" or "http://HOST[:PORT]", an IPv6
 * HOST in brackets; a path after it is a prefix of every request's path).
 * Over https, the server's certificate must chain to cacert (a PEM file;
 * NULL: the system's store) and name HOST; cert and key (PEM files; key NULL:
 * the key is in cert) are our client certificate. NULL with the reason in err.
 * A request may take 30 s in all (connect at most 10 s) unless set.
 */
struct lgctl_https *lgctl_https_new(const char *url, const char *cert, const char *key,
                                    const char *cacert, char *err, size_t errlen);
void lgctl_https_free(struct lgctl_https *);
/* Give every request at most seconds in all: connect (at most 10 s), handshake, response. */
void lgctl_https_timeout(struct lgctl_https *, int seconds);

/* Called with each run of the body as it arrives; non-zero stops the transfer. */
typedef int (*lgctl_https_body_fn)(void *arg, const char *data, size_t n);

/*
 * method ("GET", or "POST" with an empty body) path (with its query) on a new
 * connection, with an Accept field if accept is not NULL; the body goes to fn.
 * 0 with the final HTTP status in *status (any status: the caller decides;
 * 1xx heads are skipped), LGCTL_UNREACHABLE with the reason in err if the
 * server could not be reached (see above), or -1 (a malformed, partial or
 * late response, fn's stop).
 */
int lgctl_https_request(struct lgctl_https *, const char *method, const char *path,
                        const char *accept, int *status, lgctl_https_body_fn fn, void *arg,
                        char *err, size_t errlen);
/* The same, the body appended to out (at most max bytes, or -1). */
int lgctl_https_request_buf(struct lgctl_https *, const char *method, const char *path,
                            const char *accept, int *status, struct lg_buf *out, size_t max,
                            char *err, size_t errlen);
/* lgctl_https_request with GET. */
int lgctl_https_get(struct lgctl_https *, const char *path, const char *accept, int *status,
                    lgctl_https_body_fn fn, void *arg, char *err, size_t errlen);

/* The same, the body appended to out (at most max bytes, or -1). */
int lgctl_https_get_buf(struct lgctl_https *, const char *path, const char *accept, int *status,
                        struct lg_buf *out, size_t max, char *err, size_t errlen);

#endif
