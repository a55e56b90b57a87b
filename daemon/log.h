/* Structured log lines on stderr: level=... msg="..." key=value ... (journald-friendly). */
#ifndef LGD_LOG_H
#define LGD_LOG_H

#include "util.h"

enum lgd_level { LGD_DEBUG = 0, LGD_INFO, LGD_WARN, LGD_ERR };

/* The lowest level written; set once at start-up, read by every thread. */
extern enum lgd_level lgd_log_level;

/* Choose the lowest level written and whether lines carry a timestamp. */
void lgd_log_init(enum lgd_level min, int timestamps);
/* Write one line: msg is quoted, kv ("key=%s key2=%d") is appended as given. */
void lgd_logv(enum lgd_level, const char *msg, const char *kv, ...) LG_PRINTF(3, 4);

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
