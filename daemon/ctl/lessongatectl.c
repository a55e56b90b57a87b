/* lessongatectl: the operator's and regulator's command-line tool. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "calendar.h"
#include "config.h"
#include "ctl.h"
#include "ctl_admin.h"
#include "ctl_audit.h"
#include "gate.h"
#include "policy.h"
#include "students.h"
#include "util.h"

#ifndef LG_VERSION
#define LG_VERSION "dev"
#endif
#define DEFAULT_CONFIG "/etc/lessongate/lessongate.conf"

/* Print usage to f. */
static void
usage(FILE *f)
{
	fputs(
	    "usage: lessongatectl [-c FILE] COMMAND [ARGS]\n"
	    "\n"
	    "  check                              validate the configuration and calendars\n"
	    "  day YYYY-MM-DD [--region CODE]     what kind of day a date is, and what it allows\n"
	    "  month YYYY-MM [--region CODE]      a month of day kinds as a grid\n"
	    "  simulate [FILE|-] [--region CODE]  run the policy over\n"
	    "                                     \"YYYY-MM-DDTHH:MM:SS STUDENT CLASS [REGION]\" "
	    "lines\n"
	    "  calendar import FILE [-o OUT]      holiday-cn JSON or iCalendar -> a calendar file\n"
	    "      [--year Y] [--region CODE] [--source URL]... [--workday-pattern TEXT]...\n"
	    "      [--format json|ics]            (.ics: SUMMARY with 上班/补班 = make-up "
	    "workday)\n"
	    "  calendar export --ics [--region CODE] [--from DATE] [--to DATE]\n"
	    "                                     the calendar feed lessongated serves\n"
	    "  calendar diff A B [--region CODE]  what changes, day by day (A, B: a "
	    "configuration,\n"
	    "                                     or calendar files joined by commas)\n"
	    "\n"
	    "  -c FILE    configuration (default " DEFAULT_CONFIG ")\n"
	    "  -V         print the version\n",
	    f);
	fprintf(f, "\nthe running daemon (its admin listener):\n%s", lgctl_admin_usage);
	fprintf(f, "\nthe regulators' audit log:\n%s", lgctl_audit_usage);
}

/* Load the configuration or print every error and exit 1. */
struct lg_config *
load_or_die(const char *path, bool show_warnings)
{
	struct lg_errors errs;
	struct lg_config *cf;

	lg_errors_init(&errs);
	cf = lg_config_load(path, &errs);
	for (size_t i = 0; i < errs.count; i++)
		fprintf(stderr, "%s\n", errs.msg[i]);
	lg_errors_free(&errs);
	if (cf == NULL) {
		fprintf(stderr, "lessongatectl: %s: configuration is not valid\n", path);
		exit(1);
	}
	if (show_warnings)
		for (size_t i = 0; i < cf->warnings.count; i++)
			fprintf(stderr, "warning: %s\n", cf->warnings.msg[i]);
	return cf;
}

/* A region code from --region, or exit 2. */
uint32_t
parse_region_or_die(const char *s)
{
	uint32_t r;

	if (s == NULL)
		return 0;
	if (lg_region_parse(s, &r) != 0) {
		fprintf(stderr,
		        "lessongatectl: --region: \"%s\" is not a six-digit GB/T 2260 code\n", s);
		exit(2);
	}
	return r;
}

/* Say, once per year, that a date fell in a year without a calendar. */
static void
warn_unknown_year(const struct lg_config *cf, int year)
{
	static int warned[16], nwarned;

	for (int i = 0; i < nwarned; i++)
		if (warned[i] == year)
			return;
	if (nwarned < 16)
		warned[nwarned++] = year;
	fprintf(stderr,
	        "warning: no holiday calendar is loaded for %d; applying calendar.unknown_year = "
	        "%s\n",
	        year, cf->calendar_opts.unknown_year == LG_UNKNOWN_BLOCK ? "block" : "weekly");
}

/* check: the same validation as `lessongated -t`. */
static int
cmd_check(const char *path)
{
	struct lg_config *cf = load_or_die(path, true);
	struct lg_errors errs;
	struct lg_gate *gate;
	int first = 0, last = 0;

	/* What the daemon loads besides the file itself: identity keys, trusted networks. */
	lg_errors_init(&errs);
	gate = lg_gate_new(cf, &errs);
	for (size_t i = 0; i < errs.count; i++)
		fprintf(stderr, "%s\n", errs.msg[i]);
	lg_errors_free(&errs);
	if (gate == NULL) {
		fprintf(stderr, "lessongatectl: %s: configuration is not valid\n", path);
		lg_config_free(cf);
		return 1;
	}
	lg_gate_free(gate);

	for (int y = 1970; y < 2200; y++)
		if (lg_calendar_has_year(cf->calendar, y)) {
			if (first == 0)
				first = y;
			last = y;
		}
	printf("%s: configuration OK (%zu route%s, %zu calendar file%s", path, cf->nroutes,
	       cf->nroutes == 1 ? "" : "s", cf->ncalendar_files,
	       cf->ncalendar_files == 1 ? "" : "s");
	if (first)
		printf(", holidays known %d..%d", first, last);
	printf(", mode %s)\n", cf->rules.mode == LG_MODE_MONITOR ? "monitor" : "enforce");
	lg_config_free(cf);
	return 0;
}

/* day: one line about one date. */
static int
cmd_day(const char *path, const char *date, const char *region_s)
{
	uint32_t region = parse_region_or_die(region_s);
	struct lg_config *cf;
	struct lg_day d;
	int32_t day;
	char buf[11];
	int y, m, dd;

	if (lg_parse_date(date, &day) != 0) {
		fprintf(stderr, "lessongatectl: day: \"%s\" is not a date YYYY-MM-DD\n", date);
		return 2;
	}
	cf = load_or_die(path, false);
	lg_calendar_day(cf->calendar, day, region, &d);
	lg_civil_from_days(day, &y, &m, &dd);
	if (d.unknown_year)
		warn_unknown_year(cf, y);
	lg_format_date(day, buf);
	printf("%s %s", buf, lg_day_kind_name(d.kind));
	if (d.name)
		printf(" %s", d.name);
	for (int c = 0; c < LG_LESSON_CLASSES; c++)
		printf(" %s=%s", lg_class_name((enum lg_class)c),
		       lg_day_blocked(&d, cf->rules.cls[c].blocked_days) ? "blocked" : "allowed");
	putchar('\n');
	lg_config_free(cf);
	return 0;
}

/* The one-letter mark and terminal colour of a day kind. */
static void
kind_style(enum lg_day_kind k, char *mark, const char **colour)
{
	switch (k) {
	case LG_DAY_HOLIDAY:
		*mark = 'H', *colour = "\033[1;31m";
		break;
	case LG_DAY_VACATION:
		*mark = 'V', *colour = "\033[33m";
		break;
	case LG_DAY_MAKEUP:
		*mark = 'M', *colour = "\033[1;32m";
		break;
	case LG_DAY_REST:
		*mark = 'R', *colour = "\033[34m";
		break;
	case LG_DAY_UNKNOWN:
		*mark = '?', *colour = "\033[35m";
		break;
	default:
		*mark = ' ', *colour = "";
		break;
	}
}

/* month: a Monday-first grid, then the named days of the month. */
static int
cmd_month(const char *path, const char *ym, const char *region_s)
{
	uint32_t region = parse_region_or_die(region_s);
	bool colour = isatty(STDOUT_FILENO) && getenv("NO_COLOR") == NULL;
	struct lg_config *cf;
	int y, m, ndays, col;
	int32_t first;
	char date[11], *end;
	bool unknown = false;

	if (strlen(ym) != 7 || ym[4] != '-' || (y = (int)strtol(ym, &end, 10), end != ym + 4) ||
	    (m = (int)strtol(ym + 5, &end, 10), *end != '\0') || y < 1970 || m < 1 || m > 12 ||
	    ym[5] < '0' || ym[5] > '1') {
		fprintf(stderr, "lessongatectl: month: \"%s\" is not a month YYYY-MM\n", ym);
		return 2;
	}
	cf = load_or_die(path, false);
	first = lg_days_from_civil(y, m, 1);
	ndays = lg_month_days(y, m);
	printf("%04d-%02d", y, m);
	if (region || cf->calendar_opts.default_region)
		printf("  region %06u", region ? region : cf->calendar_opts.default_region);
	printf("\n Mon  Tue  Wed  Thu  Fri  Sat  Sun\n");
	col = (lg_weekday(first) + 6) % 7;
	for (int i = 0; i < col; i++)
		fputs("     ", stdout);
	for (int i = 0; i < ndays; i++) {
		struct lg_day d;
		const char *c;
		char mark;

		lg_calendar_day(cf->calendar, first + i, region, &d);
		unknown |= d.unknown_year;
		kind_style(d.kind, &mark, &c);
		if (colour && *c)
			printf(" %s%2d%c\033[0m ", c, i + 1, mark);
		else
			printf(" %2d%c ", i + 1, mark);
		if (++col == 7) {
			putchar('\n');
			col = 0;
		}
	}
	if (col)
		putchar('\n');
	printf("H holiday  V vacation  M make-up workday  R rest day%s\n",
	       unknown ? "  ? unknown" : "");
	for (int i = 0; i < ndays; i++) {
		struct lg_day d, next;
		int j = i;

		lg_calendar_day(cf->calendar, first + i, region, &d);
		if (d.name == NULL)
			continue;
		while (j + 1 < ndays) {
			lg_calendar_day(cf->calendar, first + j + 1, region, &next);
			if (next.name == NULL || next.kind != d.kind || strcmp(next.name, d.name))
				break;
			j++;
		}
		lg_format_date(first + i, date);
		if (j > i) {
			char to[11];
			lg_format_date(first + j, to);
			printf("%s..%s %s %s\n", date, to + 5, lg_day_kind_name(d.kind), d.name);
		} else {
			printf("%s %s %s\n", date, lg_day_kind_name(d.kind), d.name);
		}
		i = j;
	}
	if (unknown)
		warn_unknown_year(cf, y);
	lg_config_free(cf);
	return 0;
}

/* Parse "YYYY-MM-DDTHH:MM:SS" as local civil seconds. */
static int
parse_local_time(const char *s, int64_t *local)
{
	char date[11];
	int32_t day, sod;

	if (strlen(s) != 19 || s[10] != 'T')
		return -1;
	memcpy(date, s, 10);
	date[10] = '\0';
	if (lg_parse_date(date, &day) != 0 || lg_parse_time_of_day(s + 11, &sod) != 0 ||
	    sod >= LG_DAY_SECONDS)
		return -1;
	*local = (int64_t)day * LG_DAY_SECONDS + sod;
	return 0;
}

/* Simulate one input line; returns 0, or -1 after printing why the line is wrong. */
static int
simulate_line(struct lg_config *cf, struct lg_students *table, const char *name, int lineno,
              char *line, int64_t *prev, uint32_t region)
{
	char *fields[5], *save = NULL, *tok;
	int n = 0, cls;
	int64_t local, now;
	uint32_t r = region;
	struct lg_decision d;
	struct lg_students_ref ref;
	struct lg_student_state *st;

	line[strcspn(line, "\r\n")] = '\0';
	for (tok = strtok_r(line, " \t", &save); tok && n < 5; tok = strtok_r(NULL, " \t", &save))
		fields[n++] = tok;
	if (n == 0 || fields[0][0] == '#')
		return 0;
	if (n < 3 || n > 4) {
		fprintf(stderr, "%s:%d: expected \"YYYY-MM-DDTHH:MM:SS STUDENT CLASS [REGION]\"\n",
		        name, lineno);
		return -1;
	}
	if (parse_local_time(fields[0], &local) != 0) {
		fprintf(stderr, "%s:%d: \"%s\" is not a local time YYYY-MM-DDTHH:MM:SS\n", name,
		        lineno, fields[0]);
		return -1;
	}
	if ((cls = lg_class_parse(fields[2])) < 0) {
		fprintf(stderr, "%s:%d: \"%s\" is not a class (subject, non_subject, free)\n", name,
		        lineno, fields[2]);
		return -1;
	}
	if (n == 4 && lg_region_parse(fields[3], &r) != 0) {
		fprintf(stderr, "%s:%d: \"%s\" is not a six-digit region code\n", name, lineno,
		        fields[3]);
		return -1;
	}
	now = lg_tz_unix(cf->tz, local);
	if (now < *prev) {
		fprintf(stderr,
		        "%s:%d: %s is earlier than the line before (requests must be in "
		        "time order)\n",
		        name, lineno, fields[0]);
		return -1;
	}
	*prev = now;
	printf("%s %s %s", fields[0], fields[1], fields[2]);
	if (n == 4)
		printf(" %s", fields[3]);
	if (cls == LG_CLASS_FREE) {
		printf(" allow free\n");
		return 0;
	}
	st = lg_students_acquire(table, fields[1], strlen(fields[1]), &ref);
	lg_policy_decide(cf->policy, st, (enum lg_class)cls, r, now, &d);
	lg_students_release(&ref);
	if (d.day.unknown_year) {
		int y, m, dd;
		lg_civil_from_days(lg_day_of(local), &y, &m, &dd);
		warn_unknown_year(cf, y);
	}
	if (d.rule == LG_RULE_NONE)
		printf(" allow remaining=%lld\n", (long long)d.remaining);
	else
		printf(" deny %s retry_after=%lld%s\n", lg_rule_name(d.rule),
		       (long long)d.retry_after, d.enforced ? "" : " enforced=false");
	return 0;
}

/* simulate: run the daemon's policy over a time-ordered request log. */
static int
cmd_simulate(const char *path, const char *input, const char *region_s)
{
	uint32_t region = parse_region_or_die(region_s);
	struct lg_config *cf;
	struct lg_students *table;
	FILE *in = stdin;
	const char *name = "<stdin>";
	char *line = NULL;
	size_t cap = 0;
	int lineno = 0, bad = 0;
	int64_t prev = INT64_MIN;

	if (input && strcmp(input, "-") != 0) {
		if ((in = fopen(input, "r")) == NULL) {
			fprintf(stderr, "lessongatectl: simulate: %s: %s\n", input,
			        strerror(errno));
			return 1;
		}
		name = input;
	}
	cf = load_or_die(path, false);
	table = lg_students_new(1024, 1);
	while (getline(&line, &cap, in) > 0) {
		if (simulate_line(cf, table, name, ++lineno, line, &prev, region) != 0)
			bad++;
	}
	free(line);
	if (in != stdin)
		fclose(in);
	lg_students_free(table);
	lg_config_free(cf);
	if (bad)
		fprintf(stderr, "lessongatectl: simulate: %d malformed line%s skipped\n", bad,
		        bad == 1 ? "" : "s");
	return bad ? 1 : 0;
}

/* Dispatch the command. */
int
main(int argc, char **argv)
{
	static const struct option longopts[] = {{"region", required_argument, NULL, 'r'},
	                                         {"help", no_argument, NULL, 'h'},
	                                         {"version", no_argument, NULL, 'V'},
	                                         {NULL, 0, NULL, 0}};
	const char *path = DEFAULT_CONFIG, *region = NULL, *cmd;
	int ch;

	while ((ch = getopt_long(argc, argv, "+c:r:hV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'r':
			region = optarg;
			break;
		case 'V':
			printf("lessongatectl %s\n", LG_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	/* Options may also follow the command ("day 2026-10-01 --region 533100"). */
	optind = optind > 0 ? optind : 1;
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	cmd = argv[optind++];
	if (strcmp(cmd, "calendar") == 0)
		return ctl_calendar(path, region, argc - optind + 1, argv + optind - 1);
	if (strcmp(cmd, "keygen") == 0 || strcmp(cmd, "audit") == 0)
		return lgctl_audit_main(cmd, argc - optind, argv + optind);
	if (strcmp(cmd, "status") == 0 || strcmp(cmd, "student") == 0 || strcmp(cmd, "reload") == 0)
		return lgctl_admin_main(path, argc - optind + 1, argv + optind - 1);
	{
		char *rest[8];
		int nrest = 0;

		while (optind < argc) {
			if (strcmp(argv[optind], "--region") == 0 && optind + 1 < argc) {
				region = argv[optind + 1];
				optind += 2;
			} else if (strncmp(argv[optind], "--region=", 9) == 0) {
				region = argv[optind++] + 9;
			} else if (nrest < 8) {
				rest[nrest++] = argv[optind++];
			} else {
				usage(stderr);
				return 2;
			}
		}
		if (strcmp(cmd, "check") == 0 && nrest == 0)
			return cmd_check(path);
		if (strcmp(cmd, "day") == 0 && nrest == 1)
			return cmd_day(path, rest[0], region);
		if (strcmp(cmd, "month") == 0 && nrest == 1)
			return cmd_month(path, rest[0], region);
		if (strcmp(cmd, "simulate") == 0 && nrest <= 1)
			return cmd_simulate(path, nrest ? rest[0] : NULL, region);
	}
	fprintf(stderr, "lessongatectl: unknown command or wrong arguments: %s\n", cmd);
	usage(stderr);
	return 2;
}
