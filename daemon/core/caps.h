/* Per-client caps across all workers: connections per address, status streams per student. */
#ifndef LGD_CAPS_H
#define LGD_CAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Create the process-wide tables (once, before the workers start). */
void lgd_limits_init(void);
void lgd_limits_free(void);
/* One more connection from sa's address, unless it has max already (0: no cap, not counted). */
bool lgd_limit_address_acquire(const struct sockaddr *sa, int64_t max);
/* A counted connection from sa's address closed. */
void lgd_limit_address_release(const struct sockaddr *sa);
/* One more status event stream for the student, unless there are max already. */
bool lgd_limit_streams_acquire(const char *student, size_t len, int64_t max);
/* A counted status event stream of the student ended. */
void lgd_limit_streams_release(const char *student, size_t len);

#endif
