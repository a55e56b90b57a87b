/* Time zones: unix time to local civil time and back, from the system's TZif files. */
#ifndef LG_TZ_H
#define LG_TZ_H

#include <stdint.h>

#include "util.h"

struct lg_tz;

/*
 * Load a zone by IANA name ("Asia/Shanghai", from $TZDIR or /usr/share/zoneinfo),
 * "UTC", or a fixed offset ("+08:00"). NULL with a message in err on failure.
 */
struct lg_tz *lg_tz_load(const char *name, char *err, size_t errlen);
void lg_tz_free(struct lg_tz *);
const char *lg_tz_name(const struct lg_tz *);
/* Offset from UTC in seconds at unix time t. */
int32_t lg_tz_offset(const struct lg_tz *, int64_t t);
/* Local civil seconds (since 1970-01-01 00:00 local) at unix time t. */
int64_t lg_tz_local(const struct lg_tz *, int64_t t);
/* The unix time of a local civil time (the earlier one if it is ambiguous). */
int64_t lg_tz_unix(const struct lg_tz *, int64_t local);

#endif
