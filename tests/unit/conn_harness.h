/*
 * The connection harness: one lessongated worker driven step by step from a
 * test (see tests/unit/test_conn.c and daemon/README.md). Helpers are named
 * h_* (harness) and ws_* (WebSocket bytes); they fail the running cmocka test
 * on unexpected errors.
 */
#ifndef LG_CONN_HARNESS_H
#define LG_CONN_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "conn.h"

/* A lesson event the proxy emitted (the runtime's sink points here). */
struct h_event {
	enum lg_event_type type;
	enum lg_rule rule;
	bool enforced;
	char reason[64];
	char student[32];
};

/* Bytes read from one descriptor so far. */
struct h_buf {
	char *p;
	size_t n;
};

/* The harness's one worker, its runtime, upstream listener and fake clock. */
struct h_harness {
	struct lgd_worker w;
	struct lgd_runtime *rt;
	int lfd;              /* the upstream listener (fresh connections) */
	int port;             /* its port */
	int lport;            /* the worker's own (unused) client listener */
	const char *routes;   /* more routes for the next runtime: ", { ... }" */
	const char *upstream; /* more upstream keys for the next runtime: " keepalive = 1;" */
	int64_t skew;         /* fake wall clock minus the real one, microseconds */
	int sndbuf;           /* socket buffers of new pairs (0: 4 MiB, room for a full output) */
	struct h_event ev[64];
	size_t nev;
};

extern struct h_harness H;

/* Set the fake wall clock to unix time t (seconds). */
void h_clock_set(int64_t t);

/* Step the fake wall clock by s seconds (forward or back), like an NTP step. */
void h_clock_step(int64_t s);

/* Unix time of an Asia/Shanghai civil time. */
int64_t h_at(int y, int mo, int d, int h, int mi, int s);

/* The last event of a type, or NULL. */
const struct h_event *h_event(enum lg_event_type type);

/*
 * A runtime from the harness's base config plus extra top-level settings
 * (mode, rules, timeouts...), through a temporary file as lessongated reads it.
 */
struct lgd_runtime *h_runtime(const char *extra);

/* A loopback TCP port nobody listens on now (for the worker's listener, never used). */
int h_free_port(void);

/* Start a worker for the base config plus extra, at local time 2026-09-21 10:00 (a Monday). */
void h_start(const char *extra);

/* Close everything the harness made. */
void h_stop(void);

/* Hand the worker a new configuration, as SIGHUP does, and let it take it. */
void h_reload(const char *extra);

/* Run the worker's loop for ms milliseconds of real time. */
void h_run(int ms);

/* A new client connection from 127.0.0.1; returns the test's end, *cp the proxy's conn. */
int h_client(struct lgd_conn **cp);

/* An idle upstream connection in the worker's pool; returns the origin's end. */
int h_pool_add(void);

/* Accept the proxy's next fresh upstream connection (running the loop); the origin's end. */
int h_upstream_accept(void);

/* Write all of p to fd, running the loop while the socket is full. */
void h_send(int fd, const void *p, size_t n);

/* Write a string to fd (see h_send). */
void h_sends(int fd, const char *str);

/* Read whatever fd has now into b; -1 once the peer closed, else bytes read. */
ssize_t h_take(int fd, struct h_buf *b);

/* Run the loop (up to ms) until b holds needle; whether it does. */
bool h_wait_for(int fd, struct h_buf *b, const char *needle, size_t nlen, int ms);

/* Run the loop (up to ms) until b holds at least n bytes; whether it does. */
bool h_wait_bytes(int fd, struct h_buf *b, size_t n, int ms);

/* Run the loop (up to ms) until the peer of fd closed; whether it did. */
bool h_wait_closed(int fd, struct h_buf *b, int ms);

/* Forget what b holds. */
void h_clear(struct h_buf *b);

/* The head of the next request at the origin (run until complete); its length. */
size_t h_origin_head(int fd, struct h_buf *b);

/* A student's open lesson tunnels (leases held) in the store (0 if unknown). */
unsigned h_tunnels(const char *student);

/*
 * A fake asynchronous store in place of the memory one (until h_stop): its
 * decide answers nothing until the test says so; leases and snapshots go to
 * a memory store inside. timeout_ms is the store's timeout.
 */
void h_async_store(int timeout_ms);

/* Decisions the fake store was asked for and has not answered yet. */
unsigned h_async_pending(void);

/* Answer pending decision i (from the inner memory store; ok=false: unavailable). */
void h_async_answer(unsigned i, bool ok);

/* A client's WebSocket upgrade request for student on /ws. */
int ws_upgrade(char *buf, size_t len, const char *student);

/* One binary frame of n payload bytes (masked with a zero key when from the client). */
size_t ws_frame(unsigned char *out, size_t n, bool masked);

/* The code of the first Close frame in b from offset off (frames walked), or 0. */
unsigned ws_close_code(const struct h_buf *b, size_t off);

/*
 * Open a WebSocket lesson through the proxy for student: the client's end in
 * *cfd, the origin's in *ofd (a pooled upstream), the client's bytes after the
 * 101 head in *cb (cleared); returns the proxy's connection.
 */
struct lgd_conn *ws_open(const char *student, int *cfd, int *ofd, struct h_buf *cb);

/* The upstream's 101 to a WebSocket upgrade (what the test origin sends). */
extern const char ws_101[];

#endif
