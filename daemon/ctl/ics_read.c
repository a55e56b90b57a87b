/* iCalendar in: all-day events through libical, told apart by their SUMMARY. */
#include "ics_read.h"

#include <libical/ical.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const default_patterns[] = {"上班", "补班"};

/* One read: options, where messages go, and libical's repairs counted by message. */
struct ics_read {
	struct lg_import *imp;
	const struct lg_ics_read_opts *o;
	const char *file;
	struct lg_errors *errs;
	char *calname;
	size_t calname_cap;
	char *repairs[8];
	int nrepairs[8];
	char first[8][512];
	size_t nkinds;
	int nevents;
};

/* Whether the summary marks a make-up workday. */
static bool
is_workday(const char *summary, const struct lg_ics_read_opts *o)
{
	const char *const *p = o->nworkday_patterns ? o->workday_patterns : default_patterns;
	size_t n = o->nworkday_patterns ? o->nworkday_patterns : 2;

	for (size_t i = 0; i < n; i++)
		if (strstr(summary, p[i]) != NULL)
			return true;
	return false;
}

/* Copy s[0..n) to buf (cap bytes) with a suffix; false if it does not fit or is empty. */
static bool
name_with(char *buf, size_t cap, const char *s, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);

	if (n == 0 || n + k + 1 > cap)
		return false;
	memcpy(buf, s, n);
	memcpy(buf + n, suffix, k + 1);
	return true;
}

/* The length of s up to a closing parenthesis, ASCII ")" or full-width "）" (UTF-8). */
static size_t
until_paren(const char *s)
{
	const char *a = strchr(s, ')'), *b = strstr(s, "）");

	if (a == NULL || (b != NULL && b < a))
		a = b;
	return a != NULL ? (size_t)(a - s) : strlen(s);
}

/* The entry name: "上班(补X假期)" → "X调休", "X假期" → "X", otherwise the summary. */
static void
event_name(const char *summary, bool workday, char *buf, size_t cap)
{
	static const char jiaqi[] = "假期";
	size_t len = strlen(summary), jl = sizeof(jiaqi) - 1;
	const char *bu = workday ? strstr(summary, "补") : NULL;

	if (bu != NULL) {
		const char *x = bu + strlen("补");
		size_t n = until_paren(x);
		if (n >= jl && memcmp(x + n - jl, jiaqi, jl) == 0)
			n -= jl;
		if (name_with(buf, cap, x, n, "调休"))
			return;
	}
	if (!workday && len > jl && memcmp(summary + len - jl, jiaqi, jl) == 0 &&
	    name_with(buf, cap, summary, len - jl, ""))
		return;
	snprintf(buf, cap, "%s", summary);
}

/* "UID (SUMMARY)" for messages. */
static void
describe(icalcomponent *ev, char *buf, size_t cap)
{
	const char *uid = icalcomponent_get_uid(ev), *sum = icalcomponent_get_summary(ev);

	snprintf(buf, cap, "event %s%s%s%s", uid ? uid : "without UID", sum ? " (" : "",
	         sum ? sum : "", sum ? ")" : "");
}

/* Days since 1970 of a date value. */
static int32_t
day_of(struct icaltimetype t)
{
	return lg_days_from_civil(t.year, t.month, t.day);
}

/* Count one of libical's repair messages (X-LIC-ERROR), keeping the first event it was in. */
static void
note_repair(struct ics_read *r, const char *msg, const char *what)
{
	size_t i;

	for (i = 0; i < r->nkinds && strcmp(r->repairs[i], msg) != 0; i++)
		;
	if (i == r->nkinds) {
		if (r->nkinds == 8)
			return;
		r->repairs[r->nkinds] = lg_strdup(msg);
		snprintf(r->first[r->nkinds], sizeof(r->first[0]), "%s", what);
		r->nkinds++;
	}
	r->nrepairs[i]++;
}

/* Add one VEVENT; errors name it. */
static int
read_event(struct ics_read *r, icalcomponent *ev)
{
	struct lg_import *imp = r->imp;
	const struct lg_ics_read_opts *o = r->o;
	const char *file = r->file;
	struct lg_errors *errs = r->errs;
	struct icaltimetype start, end;
	const char *summary;
	char what[512], name[300];
	int32_t from, to;
	bool workday;

	describe(ev, what, sizeof(what));
	for (icalproperty *p = icalcomponent_get_first_property(ev, ICAL_XLICERROR_PROPERTY);
	     p != NULL; p = icalcomponent_get_next_property(ev, ICAL_XLICERROR_PROPERTY))
		note_repair(r, icalproperty_get_xlicerror(p), what);
	if (icalcomponent_get_status(ev) == ICAL_STATUS_CANCELLED)
		return 0;
	if (icalcomponent_get_first_property(ev, ICAL_RRULE_PROPERTY) != NULL ||
	    icalcomponent_get_first_property(ev, ICAL_RDATE_PROPERTY) != NULL) {
		lg_errors_add(errs, file, 0,
		              "%s: recurring events (RRULE, RDATE) are not imported; a notice "
		              "sets each year's dates",
		              what);
		return -1;
	}
	start = icalcomponent_get_dtstart(ev);
	if (icaltime_is_null_time(start) || !icaltime_is_valid_time(start)) {
		lg_errors_add(errs, file, 0, "%s: no valid DTSTART", what);
		return -1;
	}
	if (!icaltime_is_date(start)) {
		lg_errors_add(errs, file, 0,
		              "%s: not an all-day event (DTSTART has a time; expected "
		              "DTSTART;VALUE=DATE:YYYYMMDD)",
		              what);
		return -1;
	}
	summary = icalcomponent_get_summary(ev);
	if (summary == NULL || summary[strspn(summary, " \t")] == '\0') {
		lg_errors_add(errs, file, 0, "%s: no SUMMARY to name the day", what);
		return -1;
	}
	from = day_of(start);
	to = from;
	end = icalcomponent_get_dtend(ev);
	if (!icaltime_is_null_time(end)) {
		if (!icaltime_is_date(end)) {
			lg_errors_add(errs, file, 0,
			              "%s: DTEND has a time; an all-day event ends on a date",
			              what);
			return -1;
		}
		to = day_of(end) - 1; /* DTEND is exclusive (RFC 5545, 3.6.1) */
		if (to < from) {
			lg_errors_add(errs, file, 0, "%s: DTEND is not after DTSTART", what);
			return -1;
		}
	}
	workday = is_workday(summary, o);
	event_name(summary, workday, name, sizeof(name));
	return lg_import_add(imp, from, to, workday ? LG_IMPORT_WORKDAY : LG_IMPORT_HOLIDAY, name,
	                     file, 0, errs);
}

/* Every VEVENT of one VCALENDAR. */
static int
read_calendar(struct ics_read *r, icalcomponent *cal)
{
	int rc = 0;

	for (icalproperty *p = icalcomponent_get_first_property(cal, ICAL_X_PROPERTY); p != NULL;
	     p = icalcomponent_get_next_property(cal, ICAL_X_PROPERTY)) {
		const char *xn = icalproperty_get_x_name(p), *v = icalproperty_get_x(p);
		if (xn != NULL && strcmp(xn, "X-WR-CALNAME") == 0 && v != NULL && *v != '\0' &&
		    r->calname[0] == '\0')
			snprintf(r->calname, r->calname_cap, "%s", v);
	}
	for (icalcomponent *ev = icalcomponent_get_first_component(cal, ICAL_VEVENT_COMPONENT);
	     ev != NULL; ev = icalcomponent_get_next_component(cal, ICAL_VEVENT_COMPONENT)) {
		r->nevents++;
		if (read_event(r, ev) != 0)
			rc = -1;
	}
	return rc;
}

/* Parse with libical and read each calendar (a file may hold several). */
int
lg_ics_read(struct lg_import *imp, const char *text, const struct lg_ics_read_opts *o,
            const char *file, char *calname, size_t calname_cap, struct lg_errors *errs,
            struct lg_errors *warns)
{
	struct ics_read r = {.imp = imp,
	                     .o = o,
	                     .file = file,
	                     .errs = errs,
	                     .calname = calname,
	                     .calname_cap = calname_cap};
	icalcomponent *root;
	int rc = 0;

	calname[0] = '\0';

	if (strstr(text, "BEGIN:VCALENDAR") == NULL) {
		lg_errors_add(errs, file, 0, "not an iCalendar file (no BEGIN:VCALENDAR)");
		return -1;
	}
	root = icalparser_parse_string(text);
	if (root == NULL) {
		lg_errors_add(errs, file, 0, "not an iCalendar file: %s",
		              icalerror_strerror(icalerrno));
		return -1;
	}
	if (icalcomponent_isa(root) == ICAL_VCALENDAR_COMPONENT) {
		rc = read_calendar(&r, root);
	} else {
		for (icalcomponent *c =
		         icalcomponent_get_first_component(root, ICAL_VCALENDAR_COMPONENT);
		     c != NULL;
		     c = icalcomponent_get_next_component(root, ICAL_VCALENDAR_COMPONENT))
			rc |= read_calendar(&r, c);
	}
	icalcomponent_free(root);
	for (size_t i = 0; i < r.nkinds; i++) {
		lg_errors_add(warns, file, 0, "libical repaired %d event%s (first: %s): %s",
		              r.nrepairs[i], r.nrepairs[i] == 1 ? "" : "s", r.first[i],
		              r.repairs[i]);
		free(r.repairs[i]);
	}
	if (rc == 0 && r.nevents == 0) {
		lg_errors_add(errs, file, 0, "no VEVENT in the file");
		rc = -1;
	}
	return rc;
}
