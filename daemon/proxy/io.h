/*
 * How bytes move on plain sockets: bufferevents read by our own callback (one
 * recv per readable event, no ioctl(FIONREAD) first); large bodies move socket
 * to socket through a pipe with splice(2) in splice.c. TLS bufferevents keep
 * libevent's OpenSSL path.
 */
#ifndef LGD_IO_H
#define LGD_IO_H

#include <event2/bufferevent.h>

/* Bytes moved per read or write call: libevent's 16 KiB default costs a syscall per chunk. */
#define LGD_IO_CHUNK (128 * 1024)

/* Let a bufferevent move large bodies in large writes, and read a plain one with our reader. */
void lgd_bev_tune(struct bufferevent *bev);

/*
 * bufferevent_enable() for those of events not enabled yet: enabling one again
 * re-adds its event and re-arms its timeout, for nothing.
 */
void lgd_bev_enable(struct bufferevent *bev, short events);
/* bufferevent_disable() for those of events enabled (not for a socket still connecting). */
void lgd_bev_disable(struct bufferevent *bev, short events);
/* Append what a plain socket still holds (at most max bytes) to the input, calling nothing. */
size_t lgd_bev_read_rest(struct bufferevent *bev, size_t max);
/* Set the read and write timeouts (NULL: none) unless they are so already. */
void lgd_bev_timeouts(struct bufferevent *bev, const struct timeval *rt, const struct timeval *wt);

/* Before any other libevent call: libevent's memory through a per-thread block cache. */
void lgd_io_mem_init(void);

#endif
