/* lessongatectl's commands, shared between its files. */
#ifndef LG_CTL_H
#define LG_CTL_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"

/* Load the configuration or print every error and exit 1. */
struct lg_config *load_or_die(const char *path, bool show_warnings);
/* A region code from --region (NULL: 0), or exit 2. */
uint32_t parse_region_or_die(const char *s);

/* `calendar import|export|diff ...`; argv[0] is "calendar". Returns the exit code. */
int ctl_calendar(const char *config_path, const char *region, int argc, char **argv);

#endif
