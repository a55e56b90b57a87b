/* Upstream connections: connecting (plain or TLS) and the keep-alive pools (one bound). */
#ifndef LGD_UPSTREAM_H
#define LGD_UPSTREAM_H

#include <event2/bufferevent.h>
#include <stdbool.h>
#include <sys/queue.h>

#include "io.h"
#include "runtime.h"
#include "worker.h"

/* One connection to the upstream; owned by a client connection or by the pool. */
struct lgd_upconn {
	TAILQ_ENTRY(lgd_upconn) link;
	struct lgd_worker *w;
	struct bufferevent *bev;
	unsigned generation; /* the runtime it was opened for */
	unsigned uses;       /* requests sent on it */
	bool pooled;
	bool tls;
	bool connecting;    /* until BEV_EVENT_CONNECTED (TCP, and TLS if any) */
	bool broken;        /* it failed mid-exchange: never pooled */
	int64_t idle_until; /* pooled plain connection: monotonic us it is closed at */
};

/* An idle pooled connection made for rt, or NULL. */
struct lgd_upconn *lgd_pool_get(struct lgd_worker *w, struct lgd_runtime *rt);
/* Give a clean idle connection back (or close it if the pools are full or rt is stale). */
void lgd_pool_put(struct lgd_worker *w, struct lgd_upconn *u, struct lgd_runtime *rt);
/* Close every pooled connection. */
void lgd_pool_flush(struct lgd_worker *w);
/* Each worker tick: close the pooled connections idle for timeouts.keepalive. */
void lgd_pool_expire(struct lgd_worker *w);
/* Start connecting to rt's upstream; BEV_EVENT_CONNECTED arrives once usable. */
struct lgd_upconn *lgd_upstream_connect(struct lgd_worker *w, struct lgd_runtime *rt);
/* Close and free an upstream connection. */
void lgd_upconn_free(struct lgd_upconn *u);

#endif
