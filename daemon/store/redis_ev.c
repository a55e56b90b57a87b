/*
 * hiredis's asynchronous context on a worker's libevent loop, cheaper than
 * hiredis's own adapter (adapters/libevent.h) on the hot path:
 *
 * - the read event is persistent, so a reply costs one read and no
 *   epoll_ctl (the stock adapter's one-shot event is deleted and added
 *   again around every read: two epoll_ctl calls);
 * - commands issued during a loop turn are written once, at the end of that
 *   turn, by a user event made active (no system call to schedule it), in
 *   one write; the socket's EV_WRITE is used only while connecting and when
 *   the kernel did not take everything (then until the buffer drains).
 */
#include "redis_ev.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <event2/event.h>
#include <stdlib.h>

struct redis_ev {
	redisAsyncContext *ac;
	struct event *rev;   /* persistent EV_READ */
	struct event *wev;   /* EV_WRITE: connecting, or a write the kernel did not take */
	struct event *flush; /* a user event: write what this loop turn queued */
};

/* The context whose queued commands are being written (hiredis may free it meanwhile). */
static _Thread_local struct redis_ev *flushing;

/* The socket is readable: replies (or the connect's result). */
static void
on_read(evutil_socket_t fd, short what, void *arg)
{
	struct redis_ev *e = arg;

	(void)fd;
	(void)what;
	redisAsyncHandleRead(e->ac);
}

/* Write queued commands: at the end of a loop turn, or when the socket is writable again. */
static void
on_write(evutil_socket_t fd, short what, void *arg)
{
	struct redis_ev *e = arg;

	(void)fd;
	(void)what;
	flushing = e;
	redisAsyncHandleWrite(e->ac); /* may free e: not touched after */
	flushing = NULL;
}

/* hiredis wants replies read: the persistent read event (added once). */
static void
add_read(void *p)
{
	struct redis_ev *e = p;

	if (!event_pending(e->rev, EV_READ, NULL))
		event_add(e->rev, NULL);
}

/* hiredis stops reading (the context is going away). */
static void
del_read(void *p)
{
	struct redis_ev *e = p;

	event_del(e->rev);
}

/*
 * hiredis has output queued: written at the end of this loop turn, unless
 * the socket is not connected yet or the last write left output behind
 * (then the socket's own write event, until it drains).
 */
static void
add_write(void *p)
{
	struct redis_ev *e = p;

	if (event_pending(e->wev, EV_WRITE, NULL))
		return;
	if (flushing == e || !(e->ac->c.flags & REDIS_CONNECTED))
		event_add(e->wev, NULL);
	else
		event_active(e->flush, EV_WRITE, 0);
}

/* hiredis has no more output. */
static void
del_write(void *p)
{
	struct redis_ev *e = p;

	event_del(e->wev);
}

/* The context is being freed. */
static void
cleanup(void *p)
{
	struct redis_ev *e = p;

	if (flushing == e)
		flushing = NULL;
	event_free(e->rev);
	event_free(e->wev);
	event_free(e->flush);
	free(e);
}

/* Attach ac to base (before its first command); -1 when out of memory or already attached. */
int
lgd_redis_attach(redisAsyncContext *ac, struct event_base *base)
{
	struct redis_ev *e;

	if (ac->ev.data != NULL || (e = calloc(1, sizeof(*e))) == NULL)
		return -1;
	e->ac = ac;
	e->rev = event_new(base, ac->c.fd, EV_READ | EV_PERSIST, on_read, e);
	e->wev = event_new(base, ac->c.fd, EV_WRITE, on_write, e);
	e->flush = event_new(base, -1, 0, on_write, e);
	if (e->rev == NULL || e->wev == NULL || e->flush == NULL) {
		if (e->rev)
			event_free(e->rev);
		if (e->wev)
			event_free(e->wev);
		if (e->flush)
			event_free(e->flush);
		free(e);
		return -1;
	}
	ac->ev.addRead = add_read;
	ac->ev.delRead = del_read;
	ac->ev.addWrite = add_write;
	ac->ev.delWrite = del_write;
	ac->ev.cleanup = cleanup;
	ac->ev.data = e;
	/* As hiredis's adapter: the read and the write event report the connect's result. */
	event_add(e->rev, NULL);
	event_add(e->wev, NULL);
	return 0;
}
