/* systemd readiness and watchdog notifications; no-ops without libsystemd or NOTIFY_SOCKET. */
#include "notify.h"

#include <stdarg.h>
#include <stdio.h>

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

/* Send one sd_notify state string built like printf ("READY=1\nSTATUS=..."). */
void
lgd_notify(const char *fmt, ...)
{
#ifdef HAVE_LIBSYSTEMD
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	sd_notify(0, buf);
#else
	(void)fmt;
#endif
}

/* The watchdog interval systemd expects pings within, in microseconds (0: none). */
uint64_t
lgd_notify_watchdog_usec(void)
{
#ifdef HAVE_LIBSYSTEMD
	uint64_t usec = 0;

	if (sd_watchdog_enabled(0, &usec) > 0)
		return usec;
#endif
	return 0;
}
