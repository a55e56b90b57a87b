/*
 * Zero-copy bodies (splice.c): the rest of a Content-Length body moves
 * socket to socket through a pipe with splice(2) when both halves are plain
 * sockets. Used by conn.c and proxy.c only.
 */
#ifndef LGD_SPLICE_H
#define LGD_SPLICE_H

#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>

struct lgd_conn;
struct lgd_half;

/* A connection's splice: which half's body goes where, and its pipe. */
struct lgd_splice {
	struct lgd_half *src; /* NULL: not splicing */
	struct lgd_half *dst;
	int pipe[2];
	size_t cap;        /* the pipe's capacity */
	size_t queued;     /* bytes in the pipe, not yet taken by dst */
	struct event *in;  /* src readable */
	struct event *out; /* dst writable, while the pipe holds bytes */
};

/* End of a callback: start splicing a body that may go by splice now. */
void lgd_splice_check(struct lgd_conn *c);
/* Whether h's reading belongs to a splice (its bufferevent must stay off); re-arms it. */
bool lgd_splice_owns(struct lgd_conn *c, struct lgd_half *h);
/* Stop splicing (before either half is released): bytes left in the pipe are dropped. */
void lgd_splice_stop(struct lgd_conn *c);
/* A closing connection: stop splicing and free the events. */
void lgd_splice_free(struct lgd_conn *c);

#endif
