/* A loaded configuration with everything derived from it (TLS contexts, upstream address). */
#ifndef LGD_RUNTIME_H
#define LGD_RUNTIME_H

#include <openssl/ssl.h>
#include <stdatomic.h>
#include <sys/socket.h>

#include "config.h"
#include "gate.h"
#include "http1.h"
#include "store.h"
#include "tz.h"

/*
 * Immutable once built and shared by every worker; each connection holds a
 * reference to the runtime of its current exchange and takes the worker's
 * newest one when its next request begins (lgd_conn_adopt_runtime), so a
 * reload never changes the rules under an exchange in flight but reaches every
 * connection from its next request on.
 */
struct lgd_runtime {
	atomic_int refs;
	unsigned generation;
	struct lg_config *cf;
	SSL_CTX **listen_ctx;               /* per cf->listen[i]; NULL for plain listeners */
	struct sockaddr_storage *listen_sa; /* per cf->listen[i], resolved when loaded */
	socklen_t *listen_salen;
	struct sockaddr_storage admin_sa; /* admin.listen.address resolved (if enabled) */
	socklen_t admin_salen;
	SSL_CTX *upstream_ctx;
	struct sockaddr_storage upstream_addr;
	socklen_t upstream_addrlen;
	char *upstream_host; /* Host name for SNI and verification */
	struct lg_http_limits req_limits;
	struct lg_http_limits res_limits;
	struct lg_gate *gate;      /* identity keys, routes, rules, calendars of cf */
	struct lg_event_sink sink; /* lesson events of this generation (audit.c) */
};

/*
 * Every student's lesson clock: one table for the whole process, shared by
 * all workers and kept across reloads (NULL under -t).
 */
extern struct lg_store *lgd_store;

struct event_base;
/* The Redis store (daemon/store/store_redis.c) of cf's state; NULL with err if its address does not
 * resolve. */
struct lg_store *lgd_store_redis_new(const struct lg_config *cf, char *err, size_t errlen);
/* Give the calling worker thread its own Redis connection on base (no-op for other stores). */
void lgd_store_redis_attach(struct lg_store *, struct event_base *base);
/* Close the calling worker thread's Redis connection (no-op for other stores). */
void lgd_store_redis_detach(struct lg_store *);

/* Load, validate and prepare a configuration; NULL with every error in errs. */
struct lgd_runtime *lgd_runtime_load(const char *path, struct lg_errors *errs);
/* The SHA-256 of a file's content; 0, or -1 if it cannot be read (out zeroed). */
int lgd_file_sha256(const char *path, uint8_t out[32]);
/* Take a reference. */
struct lgd_runtime *lgd_runtime_ref(struct lgd_runtime *);
/* Drop a reference; the last one frees everything. */
void lgd_runtime_unref(struct lgd_runtime *);
/* Parse "host:port" or "[v6]:port" into a socket address (resolving names); 0 or -1. */
int lgd_parse_sockaddr(const char *addr, struct sockaddr_storage *ss, socklen_t *len, char **host);
/* Whether two resolved addresses would take the same connections (same family and port, same
 * address or either the family's wildcard). */
bool lgd_sockaddr_overlap(const struct sockaddr_storage *a, const struct sockaddr_storage *b);

/*
 * Say (through say) one sentence per year that today or one of the next 60
 * days falls in and that has no national calendar, with what
 * calendar.unknown_year will do; returns how many.
 */
size_t lgd_calendar_gaps(const struct lg_config *, int64_t now,
                         void (*say)(void *arg, int year, const char *text), void *arg);

#endif
