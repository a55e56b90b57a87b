/* Refusals that wait for their audit record to be durable (enforce mode), per worker. */
#ifndef LGD_AUDITWAIT_H
#define LGD_AUDITWAIT_H

#include <stdbool.h>
#include <stdint.h>

struct lgd_conn;
struct lgd_worker;

/* How long a refusal waits for its record before it is answered 503 instead (ms). */
#define LGD_AUDIT_WAIT_MS 2000

/* Around a commit on a worker: an enforced deny's record submitted meanwhile is awaited under tag.
 */
void lgd_auditwait_begin(struct lgd_worker *w, uint64_t tag);
/* The commit is over: whether a record is awaited (its answer comes to the worker later). */
bool lgd_auditwait_end(void);
/* For the sink: the done callback and its argument when a deny is awaited (else false). */
bool lgd_auditwait_want(void (**done)(void *, bool), void **arg);
/* The worker stops: no answer is delivered to it any more. */
void lgd_auditwait_close(struct lgd_worker *w);

#endif
