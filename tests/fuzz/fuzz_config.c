/* libFuzzer: the configuration and calendar loaders on arbitrary text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "calendar.h"
#include "config.h"

/* Input: configuration text, then optionally "\n%%\n" and calendar text. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), *cal;
	struct lg_errors errs;
	struct lg_config *cf;
	struct lg_calendar *c;
	struct lg_calendar_opts o = {.rest_weekdays = 0x41, .default_region = 533100};

	memcpy(text, data, size);
	text[size] = '\0';
	cal = strstr(text, "\n%%\n");
	if (cal != NULL) {
		*cal = '\0';
		cal += 4;
	}
	lg_errors_init(&errs);
	/* Calendar file names in the fuzzed config resolve under a folder that does not exist. */
	cf = lg_config_load_string(text, "fuzz.conf", "/nonexistent-fuzz-dir", &errs);
	if (cf != NULL) {
		lg_config_classify(cf, "/live/x", 7, "GET");
		lg_config_free(cf);
	}
	lg_errors_free(&errs);
	if (cal != NULL) {
		lg_errors_init(&errs);
		c = lg_calendar_new(&o);
		lg_calendar_load_text(c, "fuzz-calendar.conf", cal, &errs);
		lg_calendar_finish(c, &errs);
		for (int32_t d = lg_days_from_civil(2026, 1, 1); d < lg_days_from_civil(2027, 1, 1);
		     d += 13) {
			struct lg_day day;
			lg_calendar_day(c, d, 533102, &day);
			lg_calendar_next_open(c, d, 0, LG_BLOCK_HOLIDAY | LG_BLOCK_REST, 30);
		}
		lg_calendar_free(c);
		lg_errors_free(&errs);
	}
	free(text);
	return 0;
}
