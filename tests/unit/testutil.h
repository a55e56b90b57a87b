/* Fixtures the unit tests share: a configuration from text, and unix times of local civil times. */
#ifndef LG_TESTUTIL_H
#define LG_TESTUTIL_H

#include <stdint.h>

#include "config.h"

/* The default rules over the shipped 2026 calendar, region 533100 by default. */
#define TU_CALENDAR_2026                                                                           \
	"calendar = { files = [\"calendar/cn-2026.conf\"]; default_region = \"533100\"; };"

/* Load a configuration from `text` (named `name`, relative paths from `dir`, or from the
 * source tree's conf/ when `dir` is NULL); errors go to stderr and give NULL. */
struct lg_config *tu_config(const char *text, const char *name, const char *dir);

/* A group teardown: free the configuration a setup left in *state. */
int tu_free_config(void **state);

/* Unix time of a civil time in the configuration's time zone. */
int64_t tu_at(const struct lg_config *cf, int y, int mo, int d, int h, int mi, int s);

#endif
