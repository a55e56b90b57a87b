/* An evhttp server on its own thread: plain, TLS, or TLS with client certificates (mTLS). */
#include "httpsrv.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
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
	struct evhttp_bound_socket *bound;
	pthread_mutex_t ctx_lock; /* ctx, old_ctx: swapped by reloads, read per connection */
	SSL_CTX *ctx;             /* NULL: plain HTTP */
	SSL_CTX *old_ctx;         /* the one swapped out last: handshakes may still use it */
	pthread_t thread;
	bool running;
	/* Retiring: no more accepts; the loop ends once busy() says no for a grace tick. */
	bool (*busy)(struct event_base *, void *);
	void *busy_arg;
	struct event *retire_ev;
	unsigned ticks, idle;
	atomic_bool finished; /* the thread has left its loop */
	struct lgd_httpsrv *next_retired;
};

/* Servers retiring (their threads still finishing), joined by lgd_httpsrv_reap. */
static pthread_mutex_t retired_lock = PTHREAD_MUTEX_INITIALIZER;
static struct lgd_httpsrv *retired;

/* The reason phrase of the statuses these servers answer. */
static const char *
reason_phrase(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 409:
		return "Conflict";
	case 421:
		return "Misdirected Request";
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

/* A new connection: TLS with the context in force (the handshake fails without a client
 * certificate if required), or plain when the listener has none. */
static struct bufferevent *
tls_bev(struct event_base *base, void *arg)
{
	struct lgd_httpsrv *s = arg;
	SSL *ssl = NULL;

	pthread_mutex_lock(&s->ctx_lock);
	if (s->ctx)
		ssl = SSL_new(s->ctx);
	pthread_mutex_unlock(&s->ctx_lock);
	if (ssl == NULL)
		return bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	return bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
	                                      BEV_OPT_CLOSE_ON_FREE);
}

/* The server's thread: its own loop until stopped or retired. */
static void *
srv_main(void *arg)
{
	struct lgd_httpsrv *s = arg;

	event_base_dispatch(s->base);
	atomic_store(&s->finished, true);
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

/* The TLS context l asks for (*out NULL when plain); 0, or -1 with the reason in err. */
int
lgd_httpsrv_tls(const struct lg_config *cf, const struct lg_listen_conf *l, const char *what,
                SSL_CTX **out, char *err, size_t errlen)
{
	*out = NULL;
	if (!l->tls)
		return 0;
	*out = server_ctx(cf, l, what, err, errlen);
	return *out ? 0 : -1;
}

/* Answer new connections with ctx (NULL: plain) from now on; takes it over. */
void
lgd_httpsrv_swap_tls(struct lgd_httpsrv *s, SSL_CTX *ctx)
{
	SSL_CTX *drop;

	pthread_mutex_lock(&s->ctx_lock);
	drop = s->old_ctx;
	s->old_ctx = s->ctx;
	s->ctx = ctx;
	pthread_mutex_unlock(&s->ctx_lock);
	lgd_tls_ctx_free(drop);
}

/* The server's event base (events on it run on the server's thread). */
struct event_base *
lgd_httpsrv_base(const struct lgd_httpsrv *s)
{
	return s->base;
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

	pthread_mutex_init(&s->ctx_lock, NULL);
	if (lgd_httpsrv_tls(cf, l, what, &s->ctx, err, errlen) != 0) {
		lgd_httpsrv_stop(s);
		return NULL;
	}
	if (lgd_parse_sockaddr(l->address, &ss, &sl, NULL) != 0 ||
	    (fd = lgd_listen_socket_excl(&ss, sl)) < 0) {
		snprintf(err, errlen, "%s: cannot listen on %s: %s%s", what, l->address,
		         strerror(errno),
		         errno == EADDRINUSE ? " (another listener, of this daemon or another "
		                               "process, has this address)"
		                             : "");
		lgd_httpsrv_stop(s);
		return NULL;
	}
	s->base = event_base_new();
	s->http = evhttp_new(s->base);
	evhttp_set_bevcb(s->http, tls_bev, s); /* plain too: a reload may give it TLS */
	evhttp_set_gencb(s->http, handle, arg);
	evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
	                                        EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE);
	evhttp_set_timeout(s->http, 30);
	evhttp_set_max_headers_size(s->http, 16384);
	evhttp_set_max_body_size(s->http, 65536);
	if ((s->bound = evhttp_accept_socket_with_handle(s->http, fd)) == NULL) {
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
	if (s->retire_ev)
		event_free(s->retire_ev);
	if (s->http)
		evhttp_free(s->http);
	if (s->base)
		event_base_free(s->base);
	lgd_tls_ctx_free(s->ctx);
	lgd_tls_ctx_free(s->old_ctx);
	pthread_mutex_destroy(&s->ctx_lock);
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

/* Retiring, every RETIRE_TICK: keep accepting until nothing is pending for two ticks (closing
 * a listening socket resets the connections in its accept queue), then stop accepting, and
 * leave the loop a tick later (replies sent meanwhile are flushed); at most RETIRE_TICKS_MAX. */
#define RETIRE_TICK_MS 250
#define RETIRE_TICKS_MAX 160 /* 40 s: beyond the admin API's 30 s reload wait */

/* On the server's thread, once per tick while retiring: see RETIRE_TICK_MS. */
static void
retire_tick(evutil_socket_t fd, short what, void *arg)
{
	struct lgd_httpsrv *s = arg;
	struct timeval tick = {0, RETIRE_TICK_MS * 1000};

	(void)fd, (void)what;
	if (s->busy && s->busy(s->base, s->busy_arg))
		s->idle = 0;
	else
		s->idle++;
	if (s->idle >= 2 && s->bound) {
		evhttp_del_accept_socket(s->http, s->bound); /* closes the listening socket */
		s->bound = NULL;
	} else if (s->idle >= 3 || ++s->ticks > RETIRE_TICKS_MAX) {
		event_base_loopexit(s->base, NULL);
		return;
	}
	evtimer_add(s->retire_ev, &tick);
}

/*
 * Retire s without waiting (any thread): it answers what it has, stops
 * accepting once busy(base, arg) (if given) has said no for two ticks, and
 * leaves its loop a tick later; lgd_httpsrv_reap joins it.
 */
void
lgd_httpsrv_retire(struct lgd_httpsrv *s, bool (*busy)(struct event_base *, void *), void *arg)
{
	struct timeval tick = {0, RETIRE_TICK_MS * 1000};

	if (s == NULL)
		return;
	s->busy = busy;
	s->busy_arg = arg;
	s->retire_ev = evtimer_new(s->base, retire_tick, s);
	pthread_mutex_lock(&retired_lock);
	s->next_retired = retired;
	retired = s;
	pthread_mutex_unlock(&retired_lock);
	if (s->running)
		evtimer_add(s->retire_ev, &tick);
	else
		atomic_store(&s->finished, true);
}

/* Join and free the retired servers whose threads are done (all of them if wait); how many
 * are left. */
size_t
lgd_httpsrv_reap(bool wait)
{
	struct lgd_httpsrv **p, *s, *done = NULL;
	size_t left = 0;

	pthread_mutex_lock(&retired_lock);
	for (p = &retired; (s = *p) != NULL;) {
		if (wait || atomic_load(&s->finished)) {
			*p = s->next_retired;
			s->next_retired = done;
			done = s;
		} else {
			p = &s->next_retired;
			left++;
		}
	}
	pthread_mutex_unlock(&retired_lock);
	while ((s = done) != NULL) {
		done = s->next_retired;
		srv_free(s);
	}
	return left;
}
