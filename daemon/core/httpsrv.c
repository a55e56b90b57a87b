/* An evhttp server on its own thread: plain, TLS, or TLS with client certificates (mTLS). */
#include "httpsrv.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json.h"
#include "log.h"
#include "render.h"
#include "runtime.h"
#include "tls.h"
#include "worker.h"

struct lgd_httpsrv {
	struct event_base *base;
	struct evhttp *http;
	SSL_CTX *ctx; /* NULL: plain HTTP */
	pthread_t thread;
	bool running;
};

/* The reason phrase of the statuses these servers answer. */
static const char *
reason_phrase(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 409:
		return "Conflict";
	case 422:
		return "Unprocessable Content";
	case 500:
		return "Internal Server Error";
	default:
		return "Service Unavailable";
	}
}

/* Answer with a body of a content type (Cache-Control: no-store). */
void
lgd_http_reply(struct evhttp_request *req, int status, const char *type, const char *body, size_t n)
{
	struct evbuffer *b = evbuffer_new();

	evbuffer_add(b, body, n);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", type);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control", "no-store");
	evhttp_send_reply(req, status, reason_phrase(status), b);
	evbuffer_free(b);
}

/* A JSON error {"error": reason} with status. */
void
lgd_http_error(struct evhttp_request *req, int status, const char *reason)
{
	struct lg_buf j = {0};

	LG_BUF_LIT(&j, "{\"error\":");
	lg_buf_json_str(&j, reason);
	LG_BUF_LIT(&j, "}\n");
	lgd_http_reply(req, status, "application/json", j.data, j.len);
	lg_buf_free(&j);
}

/* A new connection: its TLS (the handshake fails without a client certificate if required). */
static struct bufferevent *
tls_bev(struct event_base *base, void *arg)
{
	struct lgd_httpsrv *s = arg;

	return bufferevent_openssl_socket_new(base, -1, SSL_new(s->ctx), BUFFEREVENT_SSL_ACCEPTING,
	                                      BEV_OPT_CLOSE_ON_FREE);
}

/* The server's thread: its own loop until stopped or retired. */
static void *
srv_main(void *arg)
{
	struct lgd_httpsrv *s = arg;

	event_base_dispatch(s->base);
	return NULL;
}

/* The TLS context of l: its certificate, and the client CA if client certificates are required. */
static SSL_CTX *
server_ctx(const struct lg_config *cf, const struct lg_listen_conf *l, const char *what, char *err,
           size_t errlen)
{
	struct lg_errors errs;
	SSL_CTX *ctx;

	lg_errors_init(&errs);
	ctx = lgd_tls_server_ctx(cf, l, &errs);
	if (ctx == NULL)
		lg_errors_join(&errs, err, errlen);
	lg_errors_free(&errs);
	if (ctx == NULL || l->tlsc.client_ca == NULL)
		return ctx;
	if (SSL_CTX_load_verify_locations(ctx, l->tlsc.client_ca, NULL) != 1) {
		snprintf(err, errlen, "%s.tls.client_ca: cannot load \"%s\"", what,
		         l->tlsc.client_ca);
		lgd_tls_ctx_free(ctx);
		return NULL;
	}
	SSL_CTX_set_client_CA_list(ctx, SSL_load_client_CA_file(l->tlsc.client_ca));
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	return ctx;
}

/* Listen on l and answer with handle(req, arg) on a new thread; NULL with the reason in err. */
struct lgd_httpsrv *
lgd_httpsrv_start(const struct lg_config *cf, const struct lg_listen_conf *l, const char *what,
                  void (*handle)(struct evhttp_request *, void *), void *arg, char *err,
                  size_t errlen)
{
	struct lgd_httpsrv *s = lg_xcalloc(1, sizeof(*s));
	struct sockaddr_storage ss;
	socklen_t sl;
	int fd;

	if (l->tls && (s->ctx = server_ctx(cf, l, what, err, errlen)) == NULL) {
		free(s);
		return NULL;
	}
	if (lgd_parse_sockaddr(l->address, &ss, &sl, NULL) != 0 ||
	    (fd = lgd_listen_socket(&ss, sl)) < 0) {
		snprintf(err, errlen, "%s: cannot listen on %s: %s", what, l->address,
		         strerror(errno));
		lgd_httpsrv_stop(s);
		return NULL;
	}
	s->base = event_base_new();
	s->http = evhttp_new(s->base);
	if (s->ctx)
		evhttp_set_bevcb(s->http, tls_bev, s);
	evhttp_set_gencb(s->http, handle, arg);
	evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
	                                        EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE);
	evhttp_set_timeout(s->http, 30);
	evhttp_set_max_headers_size(s->http, 16384);
	evhttp_set_max_body_size(s->http, 65536);
	if (evhttp_accept_socket(s->http, fd) != 0) {
		close(fd);
		snprintf(err, errlen, "%s: cannot accept on %s", what, l->address);
		lgd_httpsrv_stop(s);
		return NULL;
	}
	if (pthread_create(&s->thread, NULL, srv_main, s) != 0) {
		snprintf(err, errlen, "%s: cannot start its thread", what);
		lgd_httpsrv_stop(s);
		return NULL;
	}
	s->running = true;
	return s;
}

/* Join the thread (if any) and free everything. */
static void
srv_free(struct lgd_httpsrv *s)
{
	if (s->running)
		pthread_join(s->thread, NULL);
	if (s->http)
		evhttp_free(s->http);
	if (s->base)
		event_base_free(s->base);
	if (s->ctx)
		lgd_tls_ctx_free(s->ctx);
	free(s);
}

/* Stop the thread now, close the listener, free everything. */
void
lgd_httpsrv_stop(struct lgd_httpsrv *s)
{
	if (s == NULL)
		return;
	if (s->running)
		event_base_loopbreak(s->base);
	srv_free(s);
}

/* Let the thread finish what it is answering (its loop ends within a second), then free. */
void
lgd_httpsrv_retire(struct lgd_httpsrv *s)
{
	struct timeval second = {1, 0};

	if (s == NULL)
		return;
	if (s->running)
		event_base_loopexit(s->base, &second);
	srv_free(s);
}
