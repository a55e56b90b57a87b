/* Upstream connections: connecting (plain or TLS) and the keep-alive pools (one bound). */
#include "upstream.h"

#include <arpa/inet.h>
#include <event2/bufferevent_ssl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

#include "counters.h"
#include "log.h"
#include "clock.h"

/* Idle pooled upstream connections in all workers together (upstream.keepalive bounds it). */
static atomic_int pool_total;

/* Take u out of its worker's pool (it is not freed). */
static void
pool_remove(struct lgd_worker *w, struct lgd_upconn *u)
{
	TAILQ_REMOVE(&w->pool, u, link);
	w->npool--;
	u->pooled = false;
	atomic_fetch_sub_explicit(&pool_total, 1, memory_order_relaxed);
}

/*
 * Anything from an idle pooled connection (data, EOF, error) ends it. So does
 * a read timeout of a TLS one (its idle timeout); a plain one keeps the body
 * timeout of its last exchange and is ended by lgd_pool_expire instead.
 */
static void
pool_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct lgd_upconn *u = arg;

	if ((what & BEV_EVENT_TIMEOUT) && !u->tls && lgd_mono_us() < u->idle_until) {
		bufferevent_enable(bev, EV_READ); /* (a timeout disabled reading) */
		return;
	}
	pool_remove(u->w, u);
	lgd_upconn_free(u);
}

/* An idle upstream connection must not speak; if it does, it is not reusable. */
static void
pool_read_cb(struct bufferevent *bev, void *arg)
{
	pool_event_cb(bev, BEV_EVENT_ERROR, arg);
}

/*
 * Whether pooled u may serve rt: not past its idle deadline (the tick may not
 * have swept it yet), and made for rt, or plain to the same address.
 */
static bool
pool_fits(const struct lgd_worker *w, const struct lgd_runtime *rt, const struct lgd_upconn *u,
          int64_t now)
{
	if (!u->tls && now >= u->idle_until)
		return false;
	if (u->generation == rt->generation)
		return true;
	return !rt->cf->upstream.tls && u->generation == w->rt->generation &&
	       w->rt->upstream_addrlen == rt->upstream_addrlen &&
	       memcmp(&w->rt->upstream_addr, &rt->upstream_addr, rt->upstream_addrlen) == 0;
}

/* An idle pooled connection made for rt, or NULL. */
struct lgd_upconn *
lgd_pool_get(struct lgd_worker *w, struct lgd_runtime *rt)
{
	struct lgd_upconn *u;
	int64_t now = lgd_mono_us();

	while ((u = TAILQ_FIRST(&w->pool)) != NULL) {
		pool_remove(w, u);
		if (pool_fits(w, rt, u, now))
			return u;
		lgd_upconn_free(u);
	}
	return NULL;
}

/*
 * Give a clean idle connection back (or close it if the pool is full or rt is
 * stale). upstream.keepalive bounds the idle connections of all workers together.
 */
void
lgd_pool_put(struct lgd_worker *w, struct lgd_upconn *u, struct lgd_runtime *rt)
{
	struct timeval tv;
	int64_t ms = rt->cf->timeouts.keepalive_ms;

	if (w->draining || rt != w->rt || ms == 0 || u->broken) {
		lgd_upconn_free(u);
		return;
	}
	if (atomic_fetch_add_explicit(&pool_total, 1, memory_order_relaxed) >=
	    rt->cf->upstream.keepalive) {
		atomic_fetch_sub_explicit(&pool_total, 1, memory_order_relaxed);
		lgd_upconn_free(u);
		return;
	}
	u->pooled = true;
	bufferevent_setcb(u->bev, pool_read_cb, NULL, pool_event_cb, u);
	bufferevent_setwatermark(u->bev, EV_WRITE, 0, 0);
	if (u->tls) {
		tv = lgd_tv_ms(ms);
		bufferevent_set_timeouts(u->bev, &tv, NULL);
		bufferevent_enable(u->bev, EV_READ);
	} else {
		/*
		 * The timeouts stay as the exchange set them (a request sets them
		 * again only if the configuration changed): the idle deadline is
		 * kept here and enforced by lgd_pool_expire.
		 */
		u->idle_until = lgd_mono_us() + ms * 1000;
		lgd_bev_enable(u->bev, EV_READ);
		lgd_bev_disable(u->bev, EV_WRITE);
	}
	TAILQ_INSERT_HEAD(&w->pool, u, link);
	w->npool++;
}

/* Close every pooled connection. */
void
lgd_pool_flush(struct lgd_worker *w)
{
	struct lgd_upconn *u;

	while ((u = TAILQ_FIRST(&w->pool)) != NULL) {
		pool_remove(w, u);
		lgd_upconn_free(u);
	}
}

/*
 * Close the pooled plain connections whose idle deadline passed. The pool
 * is last in, first out, so the oldest are at its tail; the order of
 * deadlines can differ only after a reload changed timeouts.keepalive,
 * which at worst keeps a connection until the ones after it expire.
 */
void
lgd_pool_expire(struct lgd_worker *w)
{
	int64_t now = lgd_mono_us();
	struct lgd_upconn *u, *prev;

	for (u = TAILQ_LAST(&w->pool, lgd_upconn_list); u != NULL; u = prev) {
		prev = TAILQ_PREV(u, lgd_upconn_list, link);
		if (u->tls)
			continue;
		if (now < u->idle_until)
			break;
		pool_remove(w, u);
		lgd_upconn_free(u);
	}
}

/* An SSL object for the upstream: SNI and name verification as configured. */
static SSL *
upstream_ssl(struct lgd_runtime *rt)
{
	const struct lg_tls_conf *t = &rt->cf->upstream.tlsc;
	const char *name = t->server_name ? t->server_name : rt->upstream_host;
	SSL *ssl = SSL_new(rt->upstream_ctx);
	unsigned char ip[16];
	bool is_ip = inet_pton(AF_INET, name, ip) == 1 || inet_pton(AF_INET6, name, ip) == 1;

	if (!is_ip && *name)
		SSL_set_tlsext_host_name(ssl, name);
	if (t->verify) {
		if (is_ip)
			X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name);
		else
			SSL_set1_host(ssl, name);
	}
	return ssl;
}

/* Start connecting to rt's upstream; BEV_EVENT_CONNECTED arrives once usable. */
struct lgd_upconn *
lgd_upstream_connect(struct lgd_worker *w, struct lgd_runtime *rt)
{
	struct lgd_upconn *u = lg_xcalloc(1, sizeof(*u));
	int fd, one = 1;

	u->w = w;
	u->generation = rt->generation;
	u->tls = rt->upstream_ctx != NULL;
	u->connecting = true;
	/* libevent creates the socket in bufferevent_socket_connect(). */
	if (rt->upstream_ctx)
		u->bev = bufferevent_openssl_socket_new(w->base, -1, upstream_ssl(rt),
		                                        BUFFEREVENT_SSL_CONNECTING,
		                                        BEV_OPT_CLOSE_ON_FREE);
	else
		u->bev = bufferevent_socket_new(w->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (u->bev == NULL) {
		free(u);
		return NULL;
	}
	lg_ctr_add(&lgd_metrics->c.upstream_opened, 1); /* lgd_upconn_free counts it closed */
	if (bufferevent_socket_connect(u->bev, (struct sockaddr *)&rt->upstream_addr,
	                               (int)rt->upstream_addrlen) != 0) {
		lgd_upconn_free(u);
		return NULL;
	}
	lgd_bev_tune(u->bev); /* after the connect: it made the socket and set up the events */
	if ((fd = bufferevent_getfd(u->bev)) >= 0)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return u;
}

/* Close and free an upstream connection. */
void
lgd_upconn_free(struct lgd_upconn *u)
{
	if (u == NULL)
		return;
	if (u->bev) {
		lg_ctr_add(&lgd_metrics->c.upstream_closed, 1);
		SSL *ssl = bufferevent_openssl_get_ssl(u->bev);
		if (ssl)
			SSL_set_shutdown(ssl, SSL_RECEIVED_SHUTDOWN);
		bufferevent_free(u->bev);
	}
	free(u);
}
