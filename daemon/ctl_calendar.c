/* lessongatectl calendar: import published lists, export an iCalendar feed, diff two sets. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calendar.h"
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
	      "                                [--format json|ics]\n",
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

/* Dispatch `calendar SUBCOMMAND`. */
int
ctl_calendar(const char *config_path, const char *region, int argc, char **argv)
{
	(void)config_path;
	if (argc >= 2 && strcmp(argv[1], "import") == 0)
		return calendar_import(region, argc - 1, argv + 1);
	fprintf(stderr, "lessongatectl: calendar: expected import\n");
	calendar_usage(stderr);
	return 2;
}
