/* hiredis's asynchronous context on a worker's libevent loop (see redis_ev.c). */
#ifndef LGD_REDIS_EV_H
#define LGD_REDIS_EV_H

#include <hiredis/async.h>

struct event_base;

int lgd_redis_attach(redisAsyncContext *, struct event_base *);

#endif
