/* lessongatectl calendar: import published lists, export an iCalendar feed, diff two sets. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libconfig.h>

#include "calendar.h"
#include "calendar_ics.h"
#include "calimport.h"
#include "ctl.h"
#include "ics_read.h"
#include "render.h"
#include "util.h"

#define CTL_FILE_MAX (16u << 20)

/* Print the calendar subcommands' usage to f. */
static void
calendar_usage(FILE *f)
{
	fputs("usage: lessongatectl calendar import FILE [-o OUT] [--year YEAR] [--region CODE]\n"
	      "                                [--source URL]... [--workday-pattern TEXT]...\n"
	      "                                [--format json|ics]\n"
	      "       lessongatectl [-c FILE] calendar export --ics [--region CODE]\n"
	      "                                [--from YYYY-MM-DD] [--to YYYY-MM-DD]\n"
	      "       lessongatectl calendar diff A B [--region CODE]\n"
	      "         (A, B: a configuration file, or calendar files joined by commas)\n",
	      f);
}

/* Read a whole file (at most 16 MiB) into a NUL-terminated buffer; NULL after saying why. */
static char *
slurp(const char *path, size_t *len)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0, cap = 0, got;

	if (f == NULL) {
		fprintf(stderr, "lessongatectl: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	do {
		if (cap - n < 65536) {
			cap = cap ? cap * 2 : 65536;
			buf = lg_xrealloc(buf, cap + 1, 1);
		}
		got = fread(buf + n, 1, cap - n, f);
		n += got;
	} while (got > 0 && n <= CTL_FILE_MAX);
	if (ferror(f) || n > CTL_FILE_MAX) {
		fprintf(stderr, "lessongatectl: %s: %s\n", path,
		        ferror(f) ? strerror(errno) : "larger than 16 MiB");
		free(buf);
		buf = NULL;
	} else {
		buf[n] = '\0';
		*len = n;
	}
	if (f != stdin)
		fclose(f);
	return buf;
}

/* Print a list of messages, each with a prefix. */
static void
print_errors(const struct lg_errors *e, const char *prefix)
{
	for (size_t i = 0; i < e->count; i++)
		fprintf(stderr, "%s%s\n", prefix, e->msg[i]);
}

/* Write text to path ("-" or NULL: standard output); 0, or -1 after saying why. */
static int
write_out(const char *path, const char *text, size_t len)
{
	FILE *f = path == NULL || strcmp(path, "-") == 0 ? stdout : fopen(path, "w");
	int rc = 0;

	if (f == NULL) {
		fprintf(stderr, "lessongatectl: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (fwrite(text, 1, len, f) != len || fflush(f) != 0)
		rc = -1;
	if (f != stdout && fclose(f) != 0)
		rc = -1;
	if (rc != 0)
		fprintf(stderr, "lessongatectl: %s: %s\n", path ? path : "<stdout>",
		        strerror(errno));
	return rc;
}

/* Whether the file is JSON (holiday-cn) rather than iCalendar, from --format, name, content. */
static int
import_format(const char *format, const char *path, const char *text)
{
	size_t len = strlen(path);

	if (format != NULL) {
		if (strcmp(format, "json") == 0)
			return 1;
		if (strcmp(format, "ics") == 0)
			return 0;
		fprintf(stderr, "lessongatectl: --format: \"%s\" is not json or ics\n", format);
		return -1;
	}
	if (len > 5 && strcmp(path + len - 5, ".json") == 0)
		return 1;
	if (len > 4 && strcmp(path + len - 4, ".ics") == 0)
		return 0;
	return text[strspn(text, " \t\r\n")] == '{';
}

/* The file's last path component. */
static const char *
base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

/* Check the written text as `check` would (rest weekdays Saturday and Sunday). */
static int
validate_import(const char *name, const char *text)
{
	struct lg_calendar_opts o = {.rest_weekdays = (1u << 0) | (1u << 6)};
	struct lg_calendar *cal = lg_calendar_new(&o);
	struct lg_errors errs;
	int rc;

	lg_errors_init(&errs);
	lg_calendar_load_text(cal, name, text, &errs);
	lg_calendar_finish(cal, &errs);
	rc = errs.count == 0 ? 0 : -1;
	if (rc != 0) {
		fprintf(stderr, "lessongatectl: calendar import: the imported calendar does not "
		                "pass the calendar checks:\n");
		print_errors(&errs, "  ");
	}
	lg_errors_free(&errs);
	lg_calendar_free(cal);
	return rc;
}

/* Options of `calendar import`. */
struct import_args {
	const char *in, *out, *format;
	int year;
	uint32_t region;
	const char *sources[16];
	size_t nsources;
	struct lg_ics_read_opts ics;
};

/* import: read holiday-cn JSON or iCalendar, write a calendar file with `source` set. */
static int
cmd_import(const struct import_args *a)
{
	struct lg_import *imp = lg_import_new();
	struct lg_errors errs, warns;
	struct lg_buf out = {0};
	char comment[1024], calname[256];
	size_t len;
	char *text = slurp(a->in, &len);
	int json, rc = 1;

	if (text == NULL) {
		lg_import_free(imp);
		return 1;
	}
	lg_errors_init(&errs);
	lg_errors_init(&warns);
	if ((json = import_format(a->format, a->in, text)) < 0) {
		rc = 2;
		goto done;
	}
	for (size_t i = 0; i < a->nsources; i++)
		lg_import_add_source(imp, a->sources[i]);
	if (json ? lg_import_holiday_cn(imp, text, len, a->in, &errs)
	         : lg_ics_read(imp, text, &a->ics, a->in, calname, sizeof(calname), &errs, &warns))
		goto done;
	if (a->year != 0)
		lg_import_set_year(imp, a->year);
	if (!json && a->nsources == 0) {
		char fallback[512];
		fprintf(stderr,
		        "warning: %s: an iCalendar file cites no notice; give --source "
		        "URL (the notice's address) so the calendar file does\n",
		        a->in);
		snprintf(fallback, sizeof(fallback), "%s%simported from %s; cite the notice here",
		         calname, calname[0] ? ", " : "", base_name(a->in));
		lg_import_add_source(imp, fallback);
	}
	snprintf(
	    comment, sizeof(comment),
	    "Imported by `lessongatectl calendar import` from %s (%s).\n"
	    "%s"
	    "Review it against the notice cited in `source`, add it to calendar.files,\n"
	    "then run `lessongatectl check`.",
	    base_name(a->in), json ? "holiday-cn JSON" : "iCalendar",
	    json ? "A day with isOffDay true is a holiday, false a make-up workday.\n"
	         : "Events whose SUMMARY names a make-up workday (上班, 补班 or\n"
	           "--workday-pattern) are workdays; every other all-day event is a day off.\n");
	if (lg_import_render(imp, a->region, comment, &out, a->in, &errs) != 0)
		goto done;
	rc = write_out(a->out, out.data, out.len) == 0 ? 0 : 1;
	if (rc == 0 && validate_import(a->out ? a->out : "<stdout>", out.data) != 0)
		rc = 1;
done:
	print_errors(&warns, "warning: ");
	print_errors(&errs, "");
	lg_errors_free(&errs);
	lg_errors_free(&warns);
	lg_buf_free(&out);
	lg_import_free(imp);
	free(text);
	return rc;
}

/* Parse `calendar import` options. */
static int
calendar_import(const char *region, int argc, char **argv)
{
	static const struct option longopts[] = {{"output", required_argument, NULL, 'o'},
	                                         {"year", required_argument, NULL, 'y'},
	                                         {"region", required_argument, NULL, 'r'},
	                                         {"source", required_argument, NULL, 's'},
	                                         {"workday-pattern", required_argument, NULL, 'w'},
	                                         {"format", required_argument, NULL, 'f'},
	                                         {NULL, 0, NULL, 0}};
	struct import_args a = {0};
	char *end;
	int ch;

	a.region = parse_region_or_die(region);
	optind = 0; /* GNU getopt: start over on this argument vector */
	while ((ch = getopt_long(argc, argv, "o:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'o':
			a.out = optarg;
			break;
		case 'y':
			a.year = (int)strtol(optarg, &end, 10);
			if (*end != '\0' || a.year < 2000 || a.year > 2199) {
				fprintf(stderr,
				        "lessongatectl: --year: \"%s\" is not a year "
				        "2000..2199\n",
				        optarg);
				return 2;
			}
			break;
		case 'r':
			a.region = parse_region_or_die(optarg);
			break;
		case 's':
			if (a.nsources == 16 || *optarg == '\0') {
				fprintf(stderr, "lessongatectl: --source: give 1 to 16 non-empty "
				                "notice URLs\n");
				return 2;
			}
			a.sources[a.nsources++] = optarg;
			break;
		case 'w':
			if (a.ics.nworkday_patterns == LG_ICS_PATTERNS_MAX || *optarg == '\0') {
				fprintf(stderr,
				        "lessongatectl: --workday-pattern: give 1 to %d "
				        "non-empty patterns\n",
				        LG_ICS_PATTERNS_MAX);
				return 2;
			}
			a.ics.workday_patterns[a.ics.nworkday_patterns++] = optarg;
			break;
		case 'f':
			a.format = optarg;
			break;
		default:
			calendar_usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		calendar_usage(stderr);
		return 2;
	}
	a.in = argv[optind];
	return cmd_import(&a);
}

/* A date option, or exit 2. */
static int32_t
date_or_die(const char *opt, const char *s)
{
	int32_t d;

	if (lg_parse_date(s, &d) != 0) {
		fprintf(stderr, "lessongatectl: %s: \"%s\" is not a date YYYY-MM-DD\n", opt, s);
		exit(2);
	}
	return d;
}

/* The region a feed or diff is for: --region, else the default region, else none. */
static uint32_t
feed_region(uint32_t given, uint32_t default_region)
{
	if (given != 0)
		return given;
	return default_region != 0 ? default_region : LG_REGION_NONE;
}

/* export --ics: the feed lessongated serves, from the configuration's calendars. */
static int
calendar_export(const char *config_path, const char *region, int argc, char **argv)
{
	static const struct option longopts[] = {{"ics", no_argument, NULL, 'i'},
	                                         {"region", required_argument, NULL, 'r'},
	                                         {"from", required_argument, NULL, 'f'},
	                                         {"to", required_argument, NULL, 't'},
	                                         {NULL, 0, NULL, 0}};
	struct lg_ics_feed feed = {0};
	const char *from = NULL, *to = NULL, *epoch = getenv("SOURCE_DATE_EPOCH");
	struct lg_buf out = {0};
	struct lg_config *cf;
	bool ics = false;
	int32_t first, last;
	int ch, rc;

	optind = 0;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'i':
			ics = true;
			break;
		case 'r':
			region = optarg;
			break;
		case 'f':
			from = optarg;
			break;
		case 't':
			to = optarg;
			break;
		default:
			calendar_usage(stderr);
			return 2;
		}
	}
	if (!ics || optind != argc) {
		fprintf(stderr, "lessongatectl: calendar export: give --ics (the one format)\n");
		calendar_usage(stderr);
		return 2;
	}
	feed.region = parse_region_or_die(region);
	if (from != NULL)
		feed.from = date_or_die("--from", from);
	if (to != NULL)
		feed.to = date_or_die("--to", to);
	cf = load_or_die(config_path, false);
	feed.region = feed_region(feed.region, cf->calendar_opts.default_region);
	if (!lg_calendar_range(cf->calendar, &first, &last)) {
		fprintf(stderr, "lessongatectl: calendar export: %s loads no calendar file\n",
		        config_path);
		lg_config_free(cf);
		return 1;
	}
	feed.from = from ? feed.from : first;
	feed.to = to ? feed.to : last;
	if (feed.to < feed.from || feed.to - feed.from >= LG_ICS_MAX_DAYS) {
		fprintf(stderr,
		        "lessongatectl: calendar export: --from..--to must be 1 to %d days\n",
		        LG_ICS_MAX_DAYS);
		lg_config_free(cf);
		return 2;
	}
	feed.stamp = epoch != NULL ? strtoll(epoch, NULL, 10) : (int64_t)time(NULL);
	feed.subject_blocked = cf->rules.cls[LG_CLASS_SUBJECT].blocked_days;
	lg_calendar_ics(cf->calendar, &feed, &out);
	rc = write_out(NULL, out.data, out.len) == 0 ? 0 : 1;
	lg_buf_free(&out);
	lg_config_free(cf);
	return rc;
}

/* One side of a diff: a configuration's calendars, or calendar files on their own. */
struct diff_side {
	struct lg_config *cf; /* or NULL */
	struct lg_calendar *cal;
	uint32_t default_region;
};

/* Whether a file is a calendar file (a top-level `year`) rather than a configuration. */
static bool
is_calendar_file(const char *path)
{
	config_t c;
	bool yes = false;

	config_init(&c);
	if (config_read_file(&c, path))
		yes = config_lookup(&c, "year") != NULL;
	config_destroy(&c);
	return yes;
}

/* Load one side ("cfg.conf" or "a.conf,b.conf"); exit 2 after printing errors. */
static void
load_side(const char *spec, struct diff_side *side)
{
	struct lg_calendar_opts o = {.rest_weekdays = (1u << 0) | (1u << 6)};
	struct lg_errors errs;
	char *copy, *tok, *save = NULL;

	memset(side, 0, sizeof(*side));
	if (strchr(spec, ',') == NULL && !is_calendar_file(spec)) {
		side->cf = load_or_die(spec, false);
		side->cal = side->cf->calendar;
		side->default_region = side->cf->calendar_opts.default_region;
		return;
	}
	side->cal = lg_calendar_new(&o);
	lg_errors_init(&errs);
	copy = lg_strdup(spec);
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save))
		lg_calendar_load_file(side->cal, tok, &errs);
	lg_calendar_finish(side->cal, &errs);
	free(copy);
	if (errs.count != 0) {
		print_errors(&errs, "");
		fprintf(stderr, "lessongatectl: calendar diff: %s: calendars are not valid\n",
		        spec);
		exit(2);
	}
	lg_errors_free(&errs);
}

/* Free one side. */
static void
free_side(struct diff_side *side)
{
	if (side->cf != NULL)
		lg_config_free(side->cf);
	else
		lg_calendar_free(side->cal);
}

/* "holiday 国庆节" or "workday". */
static void
kind_text(const struct lg_day *d, char *buf, size_t cap)
{
	snprintf(buf, cap, "%s%s%s", lg_day_kind_name(d->kind), d->name ? " " : "",
	         d->name ? d->name : "");
}

/* Print the runs of days that differ for one region; the number of days. */
static int
diff_region(const struct diff_side *a, const struct diff_side *b, uint32_t region, int32_t first,
            int32_t last)
{
	char label[16], ta[300], tb[300], na[300], nb[300], from[11], to[11];
	int ndays = 0;

	if (region == LG_REGION_NONE)
		snprintf(label, sizeof(label), "national");
	else
		snprintf(label, sizeof(label), "%06u", (unsigned)region);
	for (int32_t d = first; d <= last; d++) {
		struct lg_day x, y;
		int32_t e = d;

		lg_calendar_day(a->cal, d, region, &x);
		lg_calendar_day(b->cal, d, region, &y);
		kind_text(&x, ta, sizeof(ta));
		kind_text(&y, tb, sizeof(tb));
		if (strcmp(ta, tb) == 0)
			continue;
		while (e < last) {
			lg_calendar_day(a->cal, e + 1, region, &x);
			lg_calendar_day(b->cal, e + 1, region, &y);
			kind_text(&x, na, sizeof(na));
			kind_text(&y, nb, sizeof(nb));
			if (strcmp(na, ta) != 0 || strcmp(nb, tb) != 0)
				break;
			e++;
		}
		lg_format_date(d, from);
		lg_format_date(e, to);
		if (e > d) /* "2026-10-01..10-07", the year again only if it changes */
			printf("%s..%s %s %s -> %s\n", from, to + (memcmp(from, to, 5) ? 0 : 5),
			       label, ta, tb);
		else
			printf("%s %s %s -> %s\n", from, label, ta, tb);
		ndays += e - d + 1;
		d = e;
	}
	return ndays;
}

/* diff A B: every day whose kind or name differs, per region; exit 1 if any. */
static int
calendar_diff(const char *region_s, int argc, char **argv)
{
	uint32_t given = parse_region_or_die(region_s), regions[1 + 2 * 128];
	struct diff_side a, b;
	int32_t af, al, bf, bl, first, last;
	size_t nregions = 0;
	int ndays = 0;
	bool ra, rb;

	if (argc != 3) {
		calendar_usage(stderr);
		return 2;
	}
	load_side(argv[1], &a);
	load_side(argv[2], &b);
	ra = lg_calendar_range(a.cal, &af, &al);
	rb = lg_calendar_range(b.cal, &bf, &bl);
	first = ra && rb ? (af < bf ? af : bf) : ra ? af : bf;
	last = ra && rb ? (al > bl ? al : bl) : ra ? al : bl;
	if (given != 0) {
		regions[nregions++] = given;
	} else {
		uint32_t more[128];
		size_t n;
		regions[nregions++] = LG_REGION_NONE;
		nregions += lg_calendar_regions(a.cal, regions + nregions, 128);
		n = lg_calendar_regions(b.cal, more, 128);
		for (size_t i = 0; i < n; i++) {
			size_t j = 0;
			while (j < nregions && regions[j] != more[i])
				j++;
			if (j == nregions)
				regions[nregions++] = more[i];
		}
	}
	if (ra || rb)
		for (size_t i = 0; i < nregions; i++)
			ndays += diff_region(&a, &b, regions[i], first, last);
	if (ndays == 0)
		printf("no differences\n");
	else
		printf("%d day%s differ\n", ndays, ndays == 1 ? "" : "s");
	free_side(&a);
	free_side(&b);
	return ndays == 0 ? 0 : 1;
}

/* Dispatch `calendar SUBCOMMAND`. */
int
ctl_calendar(const char *config_path, const char *region, int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "import") == 0)
		return calendar_import(region, argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "export") == 0)
		return calendar_export(config_path, region, argc - 1, argv + 1);
	if (argc >= 2 && strcmp(argv[1], "diff") == 0) {
		/* --region may follow A B */
		char *args[3];
		int n = 0;
		for (int i = 1; i < argc; i++) {
			if (strcmp(argv[i], "--region") == 0 && i + 1 < argc)
				region = argv[++i];
			else if (strncmp(argv[i], "--region=", 9) == 0)
				region = argv[i] + 9;
			else if (n < 3)
				args[n++] = argv[i];
			else
				n = 4;
		}
		if (n <= 3)
			return calendar_diff(region, n, args);
	}
	fprintf(stderr, "lessongatectl: calendar: expected import, export or diff\n");
	calendar_usage(stderr);
	return 2;
}
