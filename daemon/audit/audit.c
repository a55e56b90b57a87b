/*
 * The one event sink: lesson events become records of the regulators' audit
 * log (auditd.c) when it is configured, structured log lines otherwise
 * (unidentified ones counted either way).
 */
#include "audit.h"

#include <stdio.h>
#include <string.h>

#include "auditd.h"
#include "auditwait.h"
#include "auditrec.h"
#include "counters.h"
#include "log.h"
#include "render.h"
#include "runtime.h"

/* The audit record's type for a lesson event. */
static enum lg_audit_type
audit_type(enum lg_event_type t)
{
	switch (t) {
	case LG_EV_LESSON_START:
		return LG_AUDIT_LESSON_START;
	case LG_EV_LESSON_END:
		return LG_AUDIT_LESSON_END;
	case LG_EV_DENY:
		return LG_AUDIT_DENY;
	case LG_EV_FORCED_CLOSE:
		return LG_AUDIT_FORCED_CLOSE;
	case LG_EV_UNIDENTIFIED:
	default:
		return LG_AUDIT_UNIDENTIFIED;
	}
}

/* The audit record of an event: the configured route, never the path; a client's prefix. */
void
lgd_audit_record(const struct lg_config *cf, const struct lg_event *ev, struct lg_audit_rec *r,
                 char client[LG_CLIENT_PREFIX_MAX])
{
	const struct lg_route *route = NULL;

	memset(r, 0, sizeof(*r));
	r->type = audit_type(ev->type);
	r->time = ev->time;
	r->student = ev->student;
	r->student_len = ev->student ? strlen(ev->student) : 0;
	r->region = ev->region ? ev->region : cf->calendar_opts.default_region;
	r->cls = (int)ev->cls;
	if (ev->path) {
		const char *q = strchr(ev->path, '?');
		route =
		    lg_config_route(cf, ev->path, q ? (size_t)(q - ev->path) : strlen(ev->path));
	}
	r->route = route ? route->path : NULL;
	r->rule = ev->rule;
	r->enforced = ev->enforced;
	r->status = ev->type == LG_EV_DENY ? lg_refusal_status(ev->rule) : 0;
	r->start = ev->start;
	r->end = ev->end;
	r->how = ev->type == LG_EV_FORCED_CLOSE ? ev->reason : NULL;
	r->reason = ev->type == LG_EV_UNIDENTIFIED ? ev->reason : NULL;
	if (ev->type == LG_EV_UNIDENTIFIED) {
		if (ev->peer)
			lg_audit_client_prefix(ev->peer, client);
		else
			snprintf(client, LG_CLIENT_PREFIX_MAX, "local");
		r->client = client;
	}
}

/* One "lesson event" line: event, time, student, region, class, then what the event adds. */
void
lgd_audit_emit(void *arg, const struct lg_event *ev)
{
	const struct lgd_runtime *rt = arg;
	const struct lg_config *cf = rt->cf;
	uint32_t region = ev->region ? ev->region : cf->calendar_opts.default_region;
	char at[32], start[32], end[32], student[300], path[300], reason[200], extra[400];

	lgd_counters_event(rt, ev);
	if (ev->type == LG_EV_UNIDENTIFIED)
		lgd_log_count(LGD_COUNT_UNIDENTIFIED); /* one line per interval (log.c) */
	if (lgd_auditd_on()) {
		/* The audit log has them (ids as pseudonyms): no lesson event lines. */
		struct lg_audit_rec r;
		char client[LG_CLIENT_PREFIX_MAX];

		void (*done)(void *, bool) = NULL;
		void *darg = NULL;

		lgd_audit_record(cf, ev, &r, client);
		/*
		 * Enforce mode: an enforced refusal (429, 451, and the 401 of an
		 * unidentified lesson request) is answered once its record is durable.
		 */
		if ((ev->type == LG_EV_DENY && ev->enforced) ||
		    (ev->type == LG_EV_UNIDENTIFIED && cf->rules.mode == LG_MODE_ENFORCE))
			lgd_auditwait_want(&done, &darg);
		lgd_auditd_submit(&r, done, darg);
		return;
	}
	if (ev->type == LG_EV_UNIDENTIFIED && lgd_log_level > LGD_DEBUG)
		return;
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
