/*
 * A small HTTP server on its own thread and event loop (libevent's evhttp),
 * for the listeners that serve no proxy traffic: the regulator API and the
 * admin API. Plain, TLS, or TLS with client certificates required
 * (tls.client_ca), as the listener's configuration says.
 */
#ifndef LGD_HTTPSRV_H
#define LGD_HTTPSRV_H

#include <stddef.h>

#include "config.h"

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
/* Let the thread finish what it is answering: its loop ends within a second; then stop. */
void lgd_httpsrv_retire(struct lgd_httpsrv *);

/* Answer 200 with a body of a content type (Cache-Control: no-store). */
void lgd_http_reply(struct evhttp_request *, int status, const char *type, const char *body,
                    size_t n);
/* Answer a JSON error {"error": reason} with status. */
void lgd_http_error(struct evhttp_request *, int status, const char *reason);

#endif
