/* Lesson events as structured log lines (the audit log's stand-in); unidentified ones counted. */
#include "audit.h"

#include <stdio.h>
#include <string.h>

#include "log.h"
#include "runtime.h"

/* One "lesson event" line: event, time, student, region, class, then what the event adds. */
void
lgd_audit_emit(void *arg, const struct lg_event *ev)
{
	const struct lgd_runtime *rt = arg;
	const struct lg_config *cf = rt->cf;
	uint32_t region = ev->region ? ev->region : cf->calendar_opts.default_region;
	char at[32], start[32], end[32], student[300], path[300], reason[200], extra[400];

	if (ev->type == LG_EV_UNIDENTIFIED) {
		/* Any client can cause these: counted, one line per interval (log.c). */
		lgd_log_count(LGD_COUNT_UNIDENTIFIED);
		if (lgd_log_level > LGD_DEBUG)
			return;
	}
	if (lgd_log_level > LGD_INFO)
		return;
	lg_format_rfc3339(ev->time, cf->tz, at);
	extra[0] = '\0';
	switch (ev->type) {
	case LG_EV_LESSON_END:
		lg_format_rfc3339(ev->start, cf->tz, start);
		lg_format_rfc3339(ev->end, cf->tz, end);
		snprintf(extra, sizeof(extra), " start=%s end=%s duration=%lld", start, end,
		         (long long)(ev->end - ev->start));
		break;
	case LG_EV_DENY:
		snprintf(extra, sizeof(extra), " rule=%s enforced=%s", lg_rule_name(ev->rule),
		         ev->enforced ? "true" : "false");
		break;
	case LG_EV_FORCED_CLOSE:
		snprintf(extra, sizeof(extra), " rule=%s enforced=%s reason=\"%s\"",
		         lg_rule_name(ev->rule), ev->enforced ? "true" : "false",
		         lgd_esc(ev->reason, reason, sizeof(reason)));
		break;
	case LG_EV_UNIDENTIFIED:
		snprintf(extra, sizeof(extra), " reason=\"%s\"",
		         lgd_esc(ev->reason, reason, sizeof(reason)));
		break;
	default:
		break;
	}
	if (ev->student)
		snprintf(student, sizeof(student), " student=\"%s\"",
		         lgd_esc(ev->student, path, sizeof(path)));
	else
		student[0] = '\0';
	/* The path only: a query may carry the student's token (query:access_token). */
	if (ev->path) {
		const char *q = strchr(ev->path, '?');
		size_t n = q ? (size_t)(q - ev->path) : strlen(ev->path);
		char bare[256];
		snprintf(bare, sizeof(bare), "%.*s", (int)(n < sizeof(bare) ? n : sizeof(bare) - 1),
		         ev->path);
		lgd_esc(bare, path, sizeof(path));
	} else {
		path[0] = '\0';
	}
	if (ev->type == LG_EV_UNIDENTIFIED)
		lgd_debug("lesson event", "event=%s at=%s class=%s%s path=\"%s\"",
		          lg_event_name(ev->type), at, lg_class_name(ev->cls), extra, path);
	else if (ev->student && region)
		lgd_info("lesson event", "event=%s at=%s%s region=%06u class=%s%s path=\"%s\"",
		         lg_event_name(ev->type), at, student, region, lg_class_name(ev->cls),
		         extra, path);
	else
		lgd_info("lesson event", "event=%s at=%s%s class=%s%s path=\"%s\"",
		         lg_event_name(ev->type), at, student, lg_class_name(ev->cls), extra, path);
}
