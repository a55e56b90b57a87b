/* Fixtures the unit tests share (see testutil.h). */
#include <stdio.h>

#include "testutil.h"
#include "tz.h"
#include "util.h"

/* Load a configuration from text, printing any error. */
struct lg_config *
tu_config(const char *text, const char *name, const char *dir)
{
	struct lg_errors errs;
	struct lg_config *cf;

	lg_errors_init(&errs);
	cf = lg_config_load_string(text, name, dir != NULL ? dir : LG_SOURCE_ROOT "/conf", &errs);
	for (size_t i = 0; i < errs.count; i++)
		fprintf(stderr, "%s\n", errs.msg[i]);
	lg_errors_free(&errs);
	return cf;
}

/* Free the configuration a group setup left in *state. */
int
tu_free_config(void **state)
{
	lg_config_free(*state);
	*state = NULL;
	return 0;
}

/* Unix time of a local civil time. */
int64_t
tu_at(const struct lg_config *cf, int y, int mo, int d, int h, int mi, int s)
{
	return lg_tz_unix(cf->tz,
	                  (int64_t)lg_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s);
}
