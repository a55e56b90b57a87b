/* libFuzzer: calendar import (holiday-cn JSON, iCalendar through libical), then the calendar
 * checks. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "calendar.h"
#include "calimport.h"
#include "ics_read.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Input: a holiday-cn JSON file if it starts with '{', else an iCalendar file. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lg_calendar_opts o = {.rest_weekdays = 0x41, .default_region = 533100};
	struct lg_ics_read_opts io = {.workday_patterns = {"班"}, .nworkday_patterns = size & 1};
	struct lg_import *imp = lg_import_new();
	struct lg_errors errs, warns;
	struct lg_buf out = {0};
	char *text = malloc(size + 1), calname[64];
	int rc;

	memcpy(text, data, size);
	text[size] = '\0';
	lg_errors_init(&errs);
	lg_errors_init(&warns);
	lg_import_add_source(imp, "fuzz");
	if (size > 0 && text[0] == '{')
		rc = lg_import_holiday_cn(imp, text, size, "fuzz.json", &errs);
	else
		rc = lg_ics_read(imp, text, &io, "fuzz.ics", calname, sizeof(calname), &errs,
		                 &warns);
	if (rc == 0 &&
	    lg_import_render(imp, size & 2 ? 533100 : 0, "fuzz", &out, "f", &errs) == 0) {
		struct lg_calendar *c = lg_calendar_new(&o);
		lg_calendar_load_text(c, "imported.conf", out.data, &errs);
		lg_calendar_finish(c, &errs);
		lg_calendar_free(c);
	}
	lg_buf_free(&out);
	lg_errors_free(&errs);
	lg_errors_free(&warns);
	lg_import_free(imp);
	free(text);
	return 0;
}
