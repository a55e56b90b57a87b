/* lessongatectl audit report: a log directory or the regulator API summed up per day (report.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auditlog.h"
#include "ctl.h"
#include "ctl_audit.h"
#include "ctl_remote.h"
#include "report.h"
#include "util.h"

/* What a scan of the records hands each one to. */
struct feed {
	struct lg_report *r;
	uint64_t bad; /* records that are not audit records */
};

/* Count one record of a directory. */
static int
feed_entry(void *arg, const struct lg_auditlog_entry *e)
{
	struct feed *f = arg;
	char err[128];

	if (lg_report_add(f->r, e->data, e->len, err, sizeof(err)) != 0 && f->bad++ == 0)
		fprintf(stderr, "lessongatectl: audit report: record %llu: %s (skipped)\n",
		        (unsigned long long)e->index, err);
	return 0;
}

/* Count one record pulled from the API. */
static int
feed_remote(void *arg, uint64_t index, const char *rec, size_t n)
{
	struct lg_auditlog_entry e = {.index = index, .data = rec, .len = n};

	return feed_entry(arg, &e);
}

/* A --from/--to date, or exit 2. */
static int32_t
date_or_die(const char *opt, const char *s)
{
	int32_t d;

	if (lg_parse_date(s, &d) != 0) {
		fprintf(stderr,
		        "lessongatectl: audit report: --%s \"%s\": not a date (YYYY-MM-DD)\n", opt,
		        s);
		exit(2);
	}
	return d;
}

/* audit report (DIR | --url URL ...) --from DATE --to DATE [--region R] [--format F] [-o FILE]. */
int
lgctl_audit_report(int argc, char **argv)
{
	struct lgctl_args a;
	struct feed f = {0};
	struct lg_buf out = {0};
	enum lg_report_format fmt = LG_REPORT_TEXT;
	char err[512];
	int32_t from, to;
	int rc = 1;

	if (lgctl_args_parse("audit report", argc, argv,
	                     "from to region format out url cert cert-key cacert", &a) != 0)
		return 2;
	if ((a.npos == 1) == (a.url != NULL)) {
		fprintf(stderr,
		        "lessongatectl: audit report: give a log directory or --url (one)\n");
		return 2;
	}
	if (a.from == NULL)
		return lgctl_missing("audit report", "from");
	if (a.to == NULL)
		return lgctl_missing("audit report", "to");
	from = date_or_die("from", a.from);
	to = date_or_die("to", a.to);
	if (to < from || to - from >= LG_REPORT_MAX_DAYS) {
		fprintf(stderr,
		        "lessongatectl: audit report: --to must be on or after --from, and at most "
		        "%d days later\n",
		        LG_REPORT_MAX_DAYS - 1);
		return 2;
	}
	if (a.format && strcmp(a.format, "csv") == 0)
		fmt = LG_REPORT_CSV;
	else if (a.format && strcmp(a.format, "html") == 0)
		fmt = LG_REPORT_HTML;
	else if (a.format && strcmp(a.format, "text") != 0) {
		fprintf(stderr,
		        "lessongatectl: audit report: --format \"%s\": one of text, csv, html\n",
		        a.format);
		return 2;
	}
	f.r = lg_report_new(from, to, parse_region_or_die(a.region));
	if (a.url) {
		if (lgctl_remote_each(&a, feed_remote, &f, err, sizeof(err)) != 0) {
			fprintf(stderr, "lessongatectl: audit report: %s: %s\n", a.url, err);
			goto out;
		}
	} else {
		struct lg_auditlog_scan_result res;
		int sr = lg_auditlog_scan(a.pos[0], feed_entry, &f, &res, err, sizeof(err));
		free(res.segments);
		if (sr != 0) {
			fprintf(stderr, "lessongatectl: audit report: %s\n", err);
			goto out;
		}
	}
	lg_report_write(f.r, fmt, a.url ? a.url : a.pos[0], &out);
	if (a.out) {
		FILE *o = fopen(a.out, "w");
		if (o == NULL || fwrite(out.data, 1, out.len, o) != out.len || fclose(o) != 0) {
			fprintf(stderr, "lessongatectl: audit report: %s: %s\n", a.out,
			        strerror(errno));
			goto out;
		}
	} else if (fwrite(out.data, 1, out.len, stdout) != out.len || fflush(stdout) != 0) {
		goto out;
	}
	if (f.bad)
		fprintf(stderr,
		        "lessongatectl: audit report: %llu records were not audit records\n",
		        (unsigned long long)f.bad);
	rc = f.bad ? 1 : 0;
out:
	lg_buf_free(&out);
	lg_report_free(f.r);
	return rc;
}
