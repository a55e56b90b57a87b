/* systemd readiness and watchdog notifications; no-ops without libsystemd or NOTIFY_SOCKET. */
#ifndef LGD_NOTIFY_H
#define LGD_NOTIFY_H

#include <stdint.h>

#include "util.h"

/* Send one sd_notify state string built like printf ("READY=1\nSTATUS=..."). */
void lgd_notify(const char *fmt, ...) LG_PRINTF(1, 2);
/* The watchdog interval systemd expects pings within, in microseconds (0: none). */
uint64_t lgd_notify_watchdog_usec(void);

#endif
