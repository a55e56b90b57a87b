/* The calendar's insides, shared by calendar.c (index, lookups) and calendar_load.c (files). */
#ifndef LG_CALENDAR_INT_H
#define LG_CALENDAR_INT_H

#include "calendar.h"

#define CAL_YEAR_MIN 2000
#define CAL_YEAR_MAX 2199
#define CAL_NONE     UINT32_MAX

/* The lists a calendar file can hold. */
enum cal_list {
	CAL_HOLIDAYS,
	CAL_WORKDAYS,
	CAL_VACATIONS,
	CAL_REST_DAYS,
	CAL_NLISTS,
};

/* "holidays", "workdays", "vacations", "rest_days": the lists' names in files and messages. */
extern const char *const lg_cal_list_names[CAL_NLISTS];

/* One entry of a list: a day range, for the whole country or for one region. */
struct cal_entry {
	enum cal_list list;
	int idx; /* position in its list, for messages */
	int32_t from, to;
	uint32_t region; /* 0: national (holidays and workdays only) */
	char *name;
	size_t file; /* index into lg_calendar.files */
	int line;
	int year; /* the notice year of its file */
	/* Built by finish: narrower regions whose entry of the same list, year and name replaces
	 * this one. */
	uint32_t *sub;
	uint32_t nsub;
};

/* One loaded calendar file. */
struct cal_file {
	char *path;
	int year;      /* the notice year; dates may also fall in the December before */
	bool national; /* it has national (region-less) holidays */
	int line;      /* of the holidays list */
	char **sources;
	size_t nsources;
};

#define CAL_DAY_KNOWN    0x1u /* a national calendar covers the day */
#define CAL_DAY_REGIONAL 0x2u /* some regional entry covers the day */

/* One day of the lookup index: its kind before regional entries are applied. */
struct cal_day {
	uint8_t kind;
	uint8_t flags;
	uint32_t entry; /* entry that names the day, or CAL_NONE */
};

struct lg_calendar {
	struct lg_calendar_opts opts;
	struct cal_file *files;
	size_t nfiles;
	struct cal_entry *entries;
	size_t nentries;
	/* Built by lg_calendar_finish: days first..last, with regional entries per day. */
	int32_t first, last;
	struct cal_day *days;
	uint32_t *reg_off; /* day i's regional entries are reg[reg_off[i] .. reg_off[i + 1]) */
	uint32_t *reg;     /* entry indices, sorted by region within a day */
};

/* Report b as a duplicate of, or overlapping, the earlier entry a (each with its file). */
void lg_cal_report_clash(struct lg_errors *, const struct cal_entry *b, const char *bfile,
                         const struct cal_entry *a, const char *afile);
/* Drop the lookup index (before a rebuild or on free); finish builds it again. */
void lg_cal_index_free(struct lg_calendar *);

#endif
