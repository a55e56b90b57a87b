/* Make an audit log of N records for tests and the verify benchmark: mkauditlog DIR N [SEG]
 * [INSTANCE]. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auditlog.h"
#include "auditrec.h"

/* The event number i of a plausible day: lessons, their ends, refusals, forced closes. */
static void
event(uint64_t i, struct lg_audit_rec *r, char *id, size_t idcap)
{
	static const char *const routes[] = {"/live/", "/art/live/", "/live/math/"};

	memset(r, 0, sizeof(*r));
	snprintf(id, idcap, "stu-%" PRIu64, i % 5000);
	r->time = 1789956000 + (int64_t)(i / 10);
	r->student = id;
	r->student_len = strlen(id);
	r->region = i % 3 ? 533100 : 533102;
	r->cls = i % 4 == 0 ? LG_CLASS_NON_SUBJECT : LG_CLASS_SUBJECT;
	r->route = routes[i % 3];
	switch (i % 5) {
	case 0:
		r->type = LG_AUDIT_LESSON_START;
		break;
	case 1:
		r->type = LG_AUDIT_LESSON_END;
		r->start = r->time - 1790;
		r->end = r->time;
		break;
	case 2:
	case 3:
		r->type = LG_AUDIT_DENY;
		r->rule = i % 2 ? LG_RULE_LESSON_LIMIT : LG_RULE_DAY_END;
		r->status = i % 2 ? 429 : 451;
		r->enforced = true;
		break;
	default:
		r->type = LG_AUDIT_FORCED_CLOSE;
		r->rule = LG_RULE_LESSON_LIMIT;
		r->enforced = true;
		r->how = "websocket_close_4001";
		break;
	}
}

int
main(int argc, char **argv)
{
	struct lg_audit_ctx ctx;
	struct lg_auditlog_open_report rep;
	struct lg_auditlog *l;
	struct lg_buf b = {0};
	struct timespec t0, t1;
	char err[512], id[32];
	uint64_t n, start;
	double secs;

	if (argc < 3 || argc > 5) {
		fprintf(stderr, "usage: mkauditlog DIR COUNT [SEGMENT-BYTES] [INSTANCE]\n"
		                "appends COUNT records (in batches of 1000, each synced)\n");
		return 2;
	}
	n = strtoull(argv[2], NULL, 10);
	memset(&ctx, 0, sizeof(ctx));
	ctx.instance = argc > 4 ? argv[4] : "gw-1";
	ctx.tz = lg_tz_load("+08:00", err, sizeof(err));
	if ((l = lg_auditlog_open(argv[1], argc > 3 ? strtoull(argv[3], NULL, 10) : 0, &rep, err,
	                          sizeof(err))) == NULL) {
		fprintf(stderr, "mkauditlog: %s\n", err);
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	start = lg_auditlog_next_index(l);
	for (uint64_t i = start; i < start + n; i++) {
		struct lg_audit_rec r;
		event(i, &r, id, sizeof(id));
		b.len = 0;
		lg_audit_format(&b, i, &ctx, &r);
		if (lg_auditlog_append(l, b.data, b.len, err, sizeof(err)) != 0 ||
		    ((i + 1) % 1000 == 0 && lg_auditlog_sync(l, err, sizeof(err)) != 0)) {
			fprintf(stderr, "mkauditlog: %s\n", err);
			return 1;
		}
	}
	if (lg_auditlog_sync(l, err, sizeof(err)) != 0) {
		fprintf(stderr, "mkauditlog: %s\n", err);
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	fprintf(stderr,
	        "mkauditlog: %" PRIu64 " records appended in %.2f s (%.0f/s, synced every 1000)\n",
	        n, secs, secs > 0 ? (double)n / secs : 0.0);
	lg_auditlog_close(l);
	lg_buf_free(&b);
	lg_tz_free((struct lg_tz *)ctx.tz);
	return 0;
}
