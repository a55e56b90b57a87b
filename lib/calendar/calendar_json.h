/* A month of day kinds as JSON, for the operator page. */
#ifndef LG_CALENDAR_JSON_H
#define LG_CALENDAR_JSON_H

#include <stdint.h>

#include "calendar.h"
#include "render.h"

/*
 * Append the month y-m (1-12) for region (0: the calendar's default region, shown as null) as
 * {"month":"2026-10","region":"533100"|null,"regions":[the nregions regions, as chosen
 *  by the caller for a selector],"first_weekday":N (0 = Monday),
 *  "days":[{"date":"2026-10-01","kind":"holiday","name":"国庆节"},...],
 *  "unknown_year":bool}; kinds are lg_day_kind_name's.
 */
void lg_calendar_month_json(struct lg_buf *, const struct lg_calendar *, int y, int m,
                            uint32_t region, const uint32_t *regions, size_t nregions);

#endif
