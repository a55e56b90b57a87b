/* The monotonic clock, and durations as the struct timeval libevent's timers and timeouts take. */
#ifndef LGD_CLOCK_H
#define LGD_CLOCK_H

#include <stdint.h>
#include <sys/time.h>
#include <time.h>

/* A duration in milliseconds (>= 0) as a timeval. */
static inline struct timeval
lgd_tv_ms(int64_t ms)
{
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};

	return tv;
}

/* A duration in microseconds (>= 0) as a timeval. */
static inline struct timeval
lgd_tv_us(int64_t us)
{
	struct timeval tv = {.tv_sec = us / 1000000, .tv_usec = us % 1000000};

	return tv;
}

/* Microseconds on CLOCK_MONOTONIC, the clock the event loops' timers run on (durations, not
 * deadlines of the day). */
static inline int64_t
lgd_mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

#endif
