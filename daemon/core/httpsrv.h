/*
 * A small HTTP server on its own thread and event loop (libevent's evhttp),
 * for the listeners that serve no proxy traffic: the regulator API and the
 * admin API. Plain, TLS, or TLS with client certificates required
 * (tls.client_ca), as the listener's configuration says. Their sockets are
 * exclusive (no SO_REUSEPORT): a clash with another listener fails to bind.
 */
#ifndef LGD_HTTPSRV_H
#define LGD_HTTPSRV_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"

struct event_base;
struct evhttp_request;
struct lgd_httpsrv;

/*
 * Listen on l (what names it in errors, "audit.listen"), answer every request
 * with handle(req, arg) on a new thread; NULL with the reason in err.
 */
struct lgd_httpsrv *lgd_httpsrv_start(const struct lg_config *cf, const struct lg_listen_conf *l,
                                      const char *what,
                                      void (*handle)(struct evhttp_request *, void *), void *arg,
                                      char *err, size_t errlen);
/* Stop the thread now, close the listener, free everything (NULL is fine). */
void lgd_httpsrv_stop(struct lgd_httpsrv *);
/*
 * Retire without waiting (NULL is fine): answer what is in flight, stop
 * accepting (the address is free again) once busy(base, arg) (if given) has
 * said no for half a second, leave the loop a quarter second later (at most
 * 40 s in all); then lgd_httpsrv_reap joins and frees it.
 */
void lgd_httpsrv_retire(struct lgd_httpsrv *, bool (*busy)(struct event_base *, void *), void *arg);
/* Join and free the retired servers whose threads are done (all, waiting, if wait); how many
 * are left. */
size_t lgd_httpsrv_reap(bool wait);
/* The TLS context l asks for (*out NULL when plain); 0, or -1 with the reason in err. */
int lgd_httpsrv_tls(const struct lg_config *cf, const struct lg_listen_conf *l, const char *what,
                    SSL_CTX **out, char *err, size_t errlen);
/* Answer new connections with ctx (NULL: plain) from now on; takes it over (a reload keeps
 * the listening socket and only changes its certificates). */
void lgd_httpsrv_swap_tls(struct lgd_httpsrv *, SSL_CTX *ctx);
/* The server's event base: events on it run on the server's thread. */
struct event_base *lgd_httpsrv_base(const struct lgd_httpsrv *);

/* Answer 200 with a body of a content type (Cache-Control: no-store). */
void lgd_http_reply(struct evhttp_request *, int status, const char *type, const char *body,
                    size_t n);
/* Answer a JSON error {"error": reason} with status. */
void lgd_http_error(struct evhttp_request *, int status, const char *reason);

#endif
