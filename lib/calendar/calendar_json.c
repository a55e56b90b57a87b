/* A month of day kinds as JSON, for the operator page (the grid `lessongatectl month` prints). */
#include <stdio.h>

#include "calendar.h"
#include "calendar_json.h"

/* Append region's month y-m as {"month","region","regions","first_weekday","days",...}. */
void
lg_calendar_month_json(struct lg_buf *b, const struct lg_calendar *cal, int y, int m,
                       uint32_t region, const uint32_t *regions, size_t nregions)
{
	int32_t first = lg_days_from_civil(y, m, 1);
	int ndays = lg_month_days(y, m);
	bool unknown = false;
	char date[11];

	lg_buf_printf(b, "{\"month\":\"%04d-%02d\",\"region\":", y, m);
	if (region != 0 && region != LG_REGION_NONE)
		lg_buf_printf(b, "\"%06u\"", region);
	else
		LG_BUF_LIT(b, "null");
	LG_BUF_LIT(b, ",\"regions\":[");
	for (size_t i = 0; i < nregions; i++)
		lg_buf_printf(b, "%s\"%06u\"", i ? "," : "", regions[i]);
	LG_BUF_LIT(b, "]");
	/* Monday = 0, as the grid is drawn. */
	lg_buf_printf(b, ",\"first_weekday\":%d,\"days\":[", (lg_weekday(first) + 6) % 7);
	for (int i = 0; i < ndays; i++) {
		struct lg_day d;

		lg_calendar_day(cal, first + i, region, &d);
		unknown |= d.unknown_year;
		lg_format_date(first + i, date);
		lg_buf_printf(b, "%s{\"date\":\"%s\",\"kind\":\"%s\"", i ? "," : "", date,
		              lg_day_kind_name(d.kind));
		if (d.name != NULL) {
			LG_BUF_LIT(b, ",\"name\":");
			lg_buf_json_str(b, d.name);
		}
		LG_BUF_LIT(b, "}");
	}
	lg_buf_printf(b, "],\"unknown_year\":%s}", unknown ? "true" : "false");
}
