/*
 * Structured log lines on stderr: level=... msg="..." key=value ... (journald-friendly),
 * written by one writer thread from a bounded queue (full: dropped and counted).
 */
#ifndef LGD_LOG_H
#define LGD_LOG_H

#include <stdint.h>

#include "util.h"

enum lgd_level { LGD_DEBUG = 0, LGD_INFO, LGD_WARN, LGD_ERR };

/* Things any client can cause: counted, and written as one line per interval. */
enum lgd_count {
	LGD_COUNT_UNIDENTIFIED, /* lesson requests without a valid identity (401) */
	LGD_COUNT_WS_PROTOCOL,  /* clients breaking WebSocket framing */
	LGD_COUNT_PER_ADDRESS,  /* connections closed: limits.max_connections_per_address */
	LGD_COUNT_STREAMS,      /* status streams refused: limits.max_event_streams_per_student */
	LGD_COUNT_N
};

/* Seconds between two aggregated "client errors" lines. */
#define LGD_COUNT_INTERVAL_S 10

/* The lowest level written; set once at start-up, read by every thread. */
extern enum lgd_level lgd_log_level;

/* Choose the lowest level written and whether lines carry a timestamp. */
void lgd_log_init(enum lgd_level min, int timestamps);
/* Write one line: msg is quoted, kv ("key=%s key2=%d") is appended as given. */
void lgd_logv(enum lgd_level, const char *msg, const char *kv, ...) LG_PRINTF(3, 4);

/* Start the writer thread: from now on no thread waits for stderr. */
void lgd_log_start(void);
/* Write what is queued and stop the writer, waiting at most wait_ms for a stuck stderr. */
void lgd_log_stop(int64_t wait_ms);
/* Count a line any client can cause; lgd_log_flush_counts() writes the counts. */
void lgd_log_count(enum lgd_count what);
/* Count a request the proxy refused with status (instead of a line each). */
void lgd_log_count_status(int status);
/* One line with every count since the last call (nothing if all are zero). */
void lgd_log_flush_counts(int interval_s);

/* s made safe to put between double quotes in a log line (into buf). */
const char *lgd_esc(const char *s, char *buf, size_t len);

#define lgd_log(lvl, ...)                                                                          \
	do {                                                                                       \
		if ((lvl) >= lgd_log_level)                                                        \
			lgd_logv((lvl), __VA_ARGS__);                                              \
	} while (0)
#define lgd_debug(...) lgd_log(LGD_DEBUG, __VA_ARGS__)
#define lgd_info(...)  lgd_log(LGD_INFO, __VA_ARGS__)
#define lgd_warn(...)  lgd_log(LGD_WARN, __VA_ARGS__)
#define lgd_err(...)   lgd_log(LGD_ERR, __VA_ARGS__)

#endif
