/* The admin API's JSON documents: a student's clock, the status, the overview. */
#include "admindoc.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calendar.h"

/* Whether a and b are refusals of the same student by the same rule on the same route. */
static bool
same_run(const struct lg_violation *a, const struct lg_violation *b)
{
	return a->rule == b->rule && a->cls == b->cls && strcmp(a->who, b->who) == 0 &&
	       strcmp(a->route, b->route) == 0;
}

/* Keep a violation, folded into a recent one of the same run, else added (oldest dropped). */
void
lg_recent_push(struct lg_recent *r, const struct lg_violation *v)
{
	struct lg_violation e = *v;
	unsigned i;

	if (e.count == 0)
		e.count = 1;
	for (i = r->count; i-- > 0;) {
		const struct lg_violation *o = &r->v[i];
		if (same_run(o, &e) && e.time - o->time <= LG_RECENT_FOLD_S &&
		    o->time - e.time <= LG_RECENT_FOLD_S) {
			e.count += o->count ? o->count : 1;
			if (o->time > e.time)
				e.time = o->time;
			break;
		}
	}
	if (i < r->count) { /* folded: take it out, the run becomes the newest */
		memmove(&r->v[i], &r->v[i + 1], (r->count - i - 1) * sizeof(r->v[0]));
		r->count--;
	} else if (r->count == LG_RECENT_MAX) {
		memmove(&r->v[0], &r->v[1], (LG_RECENT_MAX - 1) * sizeof(r->v[0]));
		r->count--;
	}
	r->v[r->count++] = e;
}

/* Order violations by time, oldest first (qsort). */
static int
by_time(const void *a, const void *b)
{
	const struct lg_violation *x = a, *y = b;

	return (x->time > y->time) - (x->time < y->time);
}

/* Push n violations from several rings into out, oldest first. */
void
lg_recent_merge(struct lg_recent *out, struct lg_violation *all, size_t n)
{
	qsort(all, n, sizeof(*all), by_time);
	for (size_t i = 0; i < n; i++)
		lg_recent_push(out, &all[i]);
}

/* "key":"RFC 3339 time" (or null for 0). */
static void
json_time(struct lg_buf *b, const char *key, int64_t t, const struct lg_tz *tz)
{
	char s[40];

	if (t == 0) {
		lg_buf_printf(b, "\"%s\":null", key);
		return;
	}
	lg_format_rfc3339(t, tz, s);
	lg_buf_printf(b, "\"%s\":\"%s\"", key, s);
}

/* The violations as a JSON array, newest first. */
void
lg_recent_json(struct lg_buf *b, const struct lg_recent *r, const struct lg_tz *tz)
{
	LG_BUF_LIT(b, "[");
	for (unsigned k = 0; k < r->count; k++) {
		const struct lg_violation *v = &r->v[r->count - 1 - k];
		if (k)
			LG_BUF_LIT(b, ",");
		LG_BUF_LIT(b, "{");
		json_time(b, "time", v->time, tz);
		lg_buf_printf(b, ",\"rule\":\"%s\",\"class\":\"%s\",\"route\":",
		              lg_metrics_rule_name(v->rule), lg_class_name(v->cls));
		lg_buf_json_str(b, v->route);
		LG_BUF_LIT(b, ",\"student\":");
		lg_buf_json_str(b, v->who);
		lg_buf_printf(b, ",\"count\":%" PRIu32 "}", v->count ? v->count : 1);
	}
	LG_BUF_LIT(b, "]");
}

/* One class's verdict for a request now, on a copy of the state. */
static void
class_verdict(struct lg_buf *b, const struct lg_config *cf, enum lg_class cls, uint32_t region,
              const struct lg_student_state *st, int64_t now)
{
	struct lg_student_state copy = *st;
	struct lg_decision d;
	int64_t last = st->start ? st->start + st->last_off : 0;
	bool held = lg_policy_tunnels_held(st, now);

	memset(&d, 0, sizeof(d));
	lg_policy_decide(cf->policy, &copy, cls, region, now, &d);
	lg_buf_printf(b, "\"%s\":{\"allowed_now\":%s,\"rule\":", lg_class_name(cls),
	              d.rule == LG_RULE_NONE ? "true" : "false");
	if (d.rule == LG_RULE_NONE) {
		LG_BUF_LIT(b, "null,\"retry_after_s\":null,");
		lg_buf_printf(b, "\"remaining_s\":%" PRId64 ",", d.remaining);
	} else {
		lg_buf_printf(b, "\"%s\",\"retry_after_s\":%" PRId64 ",\"remaining_s\":null,",
		              lg_rule_name(d.rule), d.retry_after);
	}
	json_time(b, "retry_at", d.rule == LG_RULE_NONE ? 0 : d.retry_at, cf->tz);
	LG_BUF_LIT(b, ",");
	json_time(b, "break_ends",
	          last && !held && now - last < cf->rules.cls[cls].break_min
	              ? last + cf->rules.cls[cls].break_min
	              : 0,
	          cf->tz);
	LG_BUF_LIT(b, "}");
}

/* GET /admin/v1/students/{id}: the student's clock and each class's verdict now. */
void
lg_admin_student_json(struct lg_buf *b, const struct lg_config *cf, const char *id, uint32_t region,
                      const struct lg_student_state *st, int64_t now)
{
	int64_t last = st->start ? st->start + st->last_off : 0;

	if (region == 0)
		region = cf->calendar_opts.default_region;
	LG_BUF_LIT(b, "{\"student\":");
	lg_buf_json_str(b, id);
	LG_BUF_LIT(b, ",");
	json_time(b, "now", now, cf->tz);
	if (region)
		lg_buf_printf(b, ",\"region\":\"%06" PRIu32 "\"", region);
	else
		LG_BUF_LIT(b, ",\"region\":null");
	LG_BUF_LIT(b, ",\"lesson\":");
	if (st->start == 0) {
		LG_BUF_LIT(b, "null");
	} else {
		LG_BUF_LIT(b, "{");
		json_time(b, "start", st->start, cf->tz);
		LG_BUF_LIT(b, ",");
		json_time(b, "last_activity", last, cf->tz);
		lg_buf_printf(b, ",\"used_s\":%" PRId64 "}", last - st->start);
	}
	lg_buf_printf(b, ",\"open_tunnels\":%u,\"tunnels_hold_lesson\":%s,\"classes\":{",
	              (unsigned)st->tunnels, lg_policy_tunnels_held(st, now) ? "true" : "false");
	class_verdict(b, cf, LG_CLASS_SUBJECT, region, st, now);
	LG_BUF_LIT(b, ",");
	class_verdict(b, cf, LG_CLASS_NON_SUBJECT, region, st, now);
	LG_BUF_LIT(b, "}}\n");
}

/* "store":{...},"audit":{...} from the scrape's health fields. */
static void
health_json(struct lg_buf *b, const struct lg_metrics_info *in, const struct lg_tz *tz)
{
	LG_BUF_LIT(b, "\"store\":{\"kind\":");
	lg_buf_json_str(b, in->store_kind ? in->store_kind : "none");
	lg_buf_printf(b, ",\"up\":%s,\"state\":\"%s\",", in->store_up ? "true" : "false",
	              lg_store_health_name(in->store_health.state));
	json_time(b, "since", in->store_health.since, tz);
	LG_BUF_LIT(b, ",\"last_error\":");
	if (in->store_health.error[0])
		lg_buf_json_str(b, in->store_health.error);
	else
		LG_BUF_LIT(b, "null");
	lg_buf_printf(b, ",\"local_decisions\":%" PRIu64 ",\"unreconciled\":%" PRIu64,
	              in->store_health.local_decisions, in->store_health.unreconciled);
	if (in->students >= 0)
		lg_buf_printf(b, ",\"students\":%" PRId64, in->students);
	LG_BUF_LIT(b, "},\"audit\":");
	if (!in->audit_on)
		LG_BUF_LIT(b, "null");
	else
		lg_buf_printf(b,
		              "{\"writable\":%s,\"records\":%" PRIu64 ",\"queue_depth\":%" PRIu64
		              ",\"lost\":%" PRIu64 "}",
		              in->audit_healthy ? "true" : "false", in->audit_records,
		              in->audit_queued, in->audit_lost);
}

/* One listener {"kind","address","tls","client_certificates"}. */
static void
listener_json(struct lg_buf *b, const char *kind, const struct lg_listen_conf *l, bool first)
{
	lg_buf_printf(b, "%s{\"kind\":\"%s\",\"address\":", first ? "" : ",", kind);
	lg_buf_json_str(b, l->address);
	lg_buf_printf(b, ",\"tls\":%s,\"client_certificates\":%s}", l->tls ? "true" : "false",
	              l->tls && l->tlsc.client_ca ? "true" : "false");
}

/* Today's day kind in one region (0: national). */
static void
day_json(struct lg_buf *b, const struct lg_config *cf, uint32_t region, int32_t day, bool first)
{
	struct lg_day d;

	lg_calendar_day(cf->calendar, day, region, &d);
	if (region)
		lg_buf_printf(b, "%s{\"region\":\"%06" PRIu32 "\",\"kind\":\"%s\",\"name\":",
		              first ? "" : ",", region, lg_day_kind_name(d.kind));
	else
		lg_buf_printf(b, "%s{\"region\":null,\"kind\":\"%s\",\"name\":", first ? "" : ",",
		              lg_day_kind_name(d.kind));
	if (d.name)
		lg_buf_json_str(b, d.name);
	else
		LG_BUF_LIT(b, "null");
	lg_buf_printf(b, ",\"unknown_year\":%s}", d.unknown_year ? "true" : "false");
}

/* GET /admin/v1/status. */
void
lg_admin_status_json(struct lg_buf *b, const struct lg_config *cf, const struct lg_admin_status *s,
                     int64_t now)
{
	const struct lg_metrics_info *in = s->info;
	int32_t day = lg_day_of(lg_tz_local(cf->tz, now));
	bool first = true;

	LG_BUF_LIT(b, "{\"version\":");
	lg_buf_json_str(b, in->version);
	LG_BUF_LIT(b, ",\"instance\":");
	lg_buf_json_str(b, cf->instance);
	lg_buf_printf(b, ",\"mode\":\"%s\",\"config\":{\"file\":",
	              cf->rules.mode == LG_MODE_ENFORCE ? "enforce" : "monitor");
	lg_buf_json_str(b, cf->file);
	lg_buf_printf(b, ",\"generation\":%u,\"sha256\":\"%s\"},", in->config_generation,
	              s->config_sha256);
	json_time(b, "started", in->start_time, cf->tz);
	lg_buf_printf(b, ",\"uptime_s\":%" PRId64 ",\"workers\":%d,\"connections\":%" PRId64,
	              now - in->start_time, in->workers, in->connections_client);
	LG_BUF_LIT(b, ",\"listeners\":[");
	for (size_t i = 0; i < cf->nlisten; i++, first = false)
		listener_json(b, "client", &cf->listen[i], first);
	if (cf->audit.listen_enabled)
		listener_json(b, "audit", &cf->audit.listen, first), first = false;
	if (cf->admin.enabled)
		listener_json(b, "admin", &cf->admin.listen, first);
	LG_BUF_LIT(b, "],\"today\":[");
	day_json(b, cf, 0, day, true);
	if (cf->calendar_opts.default_region)
		day_json(b, cf, cf->calendar_opts.default_region, day, false);
	lg_buf_printf(b, "],\"unknown_year\":{\"applies\":\"%s\",\"missing_years\":[",
	              cf->calendar_opts.unknown_year == LG_UNKNOWN_BLOCK ? "block" : "weekly");
	for (size_t i = 0; i < s->nmissing; i++)
		lg_buf_printf(b, "%s%d", i ? "," : "", s->missing_years[i]);
	LG_BUF_LIT(b, "]},");
	health_json(b, in, cf->tz);
	LG_BUF_LIT(b, "}\n");
}

/* GET /admin/v1/overview: counters, open lessons, refusals per minute, recent violations. */
void
lg_admin_overview_json(struct lg_buf *b, const struct lg_config *cf, const struct lg_counters *c,
                       const uint64_t minutes[LG_M_MINUTES][LG_M_RULES],
                       const struct lg_recent *recent, const struct lg_metrics_info *in,
                       int64_t now)
{
	static const char *const outcomes[LG_M_OUTCOMES] = {"allowed", "refused", "free", "error"};
	int64_t first_minute = (now / 60 - (LG_M_MINUTES - 1)) * 60;

	LG_BUF_LIT(b, "{");
	json_time(b, "now", now, cf->tz);
	LG_BUF_LIT(b, ",\"requests\":{");
	for (unsigned k = 0; k < LG_M_CLASSES; k++) {
		lg_buf_printf(b, "%s\"%s\":{", k ? "," : "", lg_class_name((enum lg_class)k));
		for (int o = 0; o < LG_M_OUTCOMES; o++)
			lg_buf_printf(b, "%s\"%s\":%" PRIu64, o ? "," : "", outcomes[o],
			              lg_ctr_get(&c->requests[k][o]));
		LG_BUF_LIT(b, "}");
	}
	LG_BUF_LIT(b, "},\"open_lessons\":{");
	for (unsigned k = 0; k < LG_CLASS_FREE; k++)
		lg_buf_printf(b, "%s\"%s\":%" PRIu64, k ? "," : "", lg_class_name((enum lg_class)k),
		              lg_ctr_gauge(&c->tunnels_opened[k], &c->tunnels_closed[k]));
	LG_BUF_LIT(b, "},\"lessons_started\":{");
	for (unsigned k = 0; k < LG_CLASS_FREE; k++)
		lg_buf_printf(b, "%s\"%s\":%" PRIu64, k ? "," : "", lg_class_name((enum lg_class)k),
		              lg_ctr_get(&c->lessons_started[k]));
	lg_buf_printf(b, "},\"connections\":%" PRId64 ",", in->connections_client);
	json_time(b, "refusals_first_minute", first_minute, cf->tz);
	LG_BUF_LIT(b, ",\"refusals_per_minute\":{");
	for (int r = 0; r < LG_M_RULES; r++) {
		lg_buf_printf(b, "%s\"%s\":[", r ? "," : "",
		              lg_metrics_rule_name((enum lg_m_rule)r));
		for (int m = 0; m < LG_M_MINUTES; m++)
			lg_buf_printf(b, "%s%" PRIu64, m ? "," : "", minutes[m][r]);
		LG_BUF_LIT(b, "]");
	}
	LG_BUF_LIT(b, "},\"recent_violations\":");
	lg_recent_json(b, recent, cf->tz);
	LG_BUF_LIT(b, ",");
	health_json(b, in, cf->tz);
	LG_BUF_LIT(b, "}\n");
}
