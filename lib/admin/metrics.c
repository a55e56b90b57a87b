/* Per-worker counters, their sum, and the Prometheus text exposition of /metrics. */
#include "metrics.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

const double lg_m_lateness_bounds[LG_M_LATENESS_BUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1,
                                                            0.25,  0.5,  1,     2.5,  5};

const double lg_m_decision_bounds[LG_M_DECISION_BUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                            0.025,  0.05,  0.1,    0.25,  1};

static const char *const rule_names[LG_M_RULES] = {"blocked_day", "day_end", "day_start",
                                                   "lesson_limit", "unidentified"};
static const char *const outcome_names[LG_M_OUTCOMES] = {"allowed", "refused", "free", "error"};
static const char *const how_names[LG_M_HOWS] = {"websocket", "stream_end", "connection",
                                                 "not_enforced"};
static const char *const upstream_names[LG_M_UPSTREAMS] = {"connect", "timeout", "protocol",
                                                           "closed"};

/* A class index that is always in range. */
static unsigned
cls_index(enum lg_class cls)
{
	return (unsigned)cls < LG_M_CLASSES ? (unsigned)cls : LG_CLASS_FREE;
}

/* A lesson-class or free request ended with outcome. */
void
lg_metrics_request(struct lg_metrics *m, enum lg_class cls, enum lg_m_outcome o)
{
	lg_ctr_add(&m->c.requests[cls_index(cls)][o], 1);
}

/* A refusal by rule of class cls at unix time now (also into the minute ring). */
void
lg_metrics_refusal(struct lg_metrics *m, enum lg_m_rule rule, enum lg_class cls, int64_t now)
{
	uint64_t minute = (uint64_t)(now / 60);
	unsigned i = (unsigned)(minute % LG_M_MINUTES);

	lg_ctr_add(&m->c.refusals[rule][cls_index(cls)], 1);
	if (lg_ctr_get(&m->minute_of[i]) != minute) {
		for (int r = 0; r < LG_M_RULES; r++)
			atomic_store_explicit(&m->minute_refusals[i][r], 0, memory_order_relaxed);
		atomic_store_explicit(&m->minute_of[i], minute, memory_order_relaxed);
	}
	lg_ctr_add(&m->minute_refusals[i][rule], 1);
}

/* One observation of us microseconds into a histogram's buckets (n bounds, +Inf last). */
static void
observe(lg_ctr *buckets, const double *bounds, int n, lg_ctr *sum_us, lg_ctr *count, int64_t us)
{
	int b = 0;

	if (us < 0)
		us = 0;
	while (b < n && (double)us / 1e6 > bounds[b])
		b++;
	lg_ctr_add(&buckets[b], 1);
	lg_ctr_add(sum_us, (uint64_t)us);
	lg_ctr_add(count, 1);
}

/* A forced close by rule, how, late_us after its deadline. */
void
lg_metrics_forced_close(struct lg_metrics *m, enum lg_m_rule rule, enum lg_m_how how,
                        int64_t late_us)
{
	lg_ctr_add(&m->c.forced_closes[rule][how], 1);
	observe(m->c.lateness, lg_m_lateness_bounds, LG_M_LATENESS_BUCKETS, &m->c.lateness_sum_us,
	        &m->c.lateness_count, late_us);
}

/* An asynchronous store answered a decision us microseconds after it was asked. */
void
lg_metrics_decision(struct lg_metrics *m, int64_t us)
{
	observe(m->c.decision, lg_m_decision_bounds, LG_M_DECISION_BUCKETS, &m->c.decision_sum_us,
	        &m->c.decision_count, us);
}

/* The metrics rule of a policy rule (LG_RULE_NONE: unidentified). */
enum lg_m_rule
lg_metrics_rule(enum lg_rule r)
{
	switch (r) {
	case LG_RULE_BLOCKED_DAY:
		return LG_M_BLOCKED_DAY;
	case LG_RULE_DAY_END:
		return LG_M_DAY_END;
	case LG_RULE_DAY_START:
		return LG_M_DAY_START;
	case LG_RULE_LESSON_LIMIT:
		return LG_M_LESSON_LIMIT;
	default:
		return LG_M_UNIDENTIFIED;
	}
}

/* The name of a metrics rule. */
const char *
lg_metrics_rule_name(enum lg_m_rule r)
{
	return (unsigned)r < LG_M_RULES ? rule_names[r] : "unknown";
}

/* The how of a forced_close event's reason. */
enum lg_m_how
lg_metrics_how(bool enforced, const char *reason)
{
	if (!enforced)
		return LG_M_HOW_MONITOR;
	if (reason && strncmp(reason, "websocket", 9) == 0)
		return LG_M_HOW_WEBSOCKET;
	if (reason && strstr(reason, "chunk boundary"))
		return LG_M_HOW_STREAM_END;
	return LG_M_HOW_CONNECTION;
}

/* Sum n workers' counters into out (zeroed first). */
void
lg_metrics_sum(struct lg_counters *out, struct lg_metrics *const *w, size_t n)
{
	size_t k = sizeof(*out) / sizeof(lg_ctr);
	lg_ctr *o = (lg_ctr *)out;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < n; i++) {
		const lg_ctr *c = (const lg_ctr *)&w[i]->c;
		for (size_t j = 0; j < k; j++)
			atomic_store_explicit(&o[j], lg_ctr_get(&o[j]) + lg_ctr_get(&c[j]),
			                      memory_order_relaxed);
	}
}

/* Refusals per rule in each of the last LG_M_MINUTES minutes, oldest first. */
void
lg_metrics_minutes(struct lg_metrics *const *w, size_t n, int64_t now,
                   uint64_t out[LG_M_MINUTES][LG_M_RULES])
{
	uint64_t last = (uint64_t)(now / 60);

	memset(out, 0, sizeof(uint64_t) * LG_M_MINUTES * LG_M_RULES);
	for (unsigned k = 0; k < LG_M_MINUTES; k++) {
		uint64_t minute = last - (LG_M_MINUTES - 1) + k;
		unsigned i = (unsigned)(minute % LG_M_MINUTES);
		for (size_t j = 0; j < n; j++) {
			if (lg_ctr_get(&w[j]->minute_of[i]) != minute)
				continue;
			for (int r = 0; r < LG_M_RULES; r++)
				out[k][r] += lg_ctr_get(&w[j]->minute_refusals[i][r]);
		}
	}
}

/* Append a label value escaped for the exposition format (\\, \", \n). */
void
lg_prom_escape(struct lg_buf *out, const char *s)
{
	for (const char *p = s; *p; p++) {
		if (*p == '\\')
			LG_BUF_LIT(out, "\\\\");
		else if (*p == '"')
			LG_BUF_LIT(out, "\\\"");
		else if (*p == '\n')
			LG_BUF_LIT(out, "\\n");
		else
			lg_buf_add(out, p, 1);
	}
}

/* The # HELP and # TYPE lines of a family. */
static void
family(struct lg_buf *b, const char *name, const char *type, const char *help)
{
	lg_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{k1="v1",...} (labels: n pairs; none: no braces), without the value. */
static void
series(struct lg_buf *b, const char *name, const char *const *labels, size_t n)
{
	lg_buf_add(b, name, strlen(name));
	if (n == 0)
		return;
	LG_BUF_LIT(b, "{");
	for (size_t i = 0; i < n; i++) {
		lg_buf_printf(b, "%s%s=\"", i ? "," : "", labels[2 * i]);
		lg_prom_escape(b, labels[2 * i + 1]);
		LG_BUF_LIT(b, "\"");
	}
	LG_BUF_LIT(b, "}");
}

/* One sample with an integer value. */
static void
sample(struct lg_buf *b, const char *name, const char *const *labels, size_t n, uint64_t v)
{
	series(b, name, labels, n);
	lg_buf_printf(b, " %" PRIu64 "\n", v);
}

/* A family without labels and one integer value. */
static void
single(struct lg_buf *b, const char *name, const char *type, const char *help, uint64_t v)
{
	family(b, name, type, help);
	sample(b, name, NULL, 0, v);
}

/* The class name a class index is labelled with. */
static const char *
cls_name(unsigned i)
{
	return lg_class_name((enum lg_class)i);
}

/* A histogram family: cumulative buckets (per-bucket counts in), +Inf, sum (seconds), count. */
static void
histogram(struct lg_buf *b, const char *name, const char *help, const lg_ctr *buckets,
          const double *bounds, int n, const lg_ctr *sum_us, const lg_ctr *count)
{
	char bucket[128], le[32];
	uint64_t cum = 0;

	family(b, name, "histogram", help);
	snprintf(bucket, sizeof(bucket), "%s_bucket", name);
	for (int i = 0; i <= n; i++) {
		const char *l[2] = {"le", le};
		cum += lg_ctr_get(&buckets[i]);
		if (i < n)
			snprintf(le, sizeof(le), "%g", bounds[i]);
		else
			snprintf(le, sizeof(le), "+Inf");
		sample(b, bucket, l, 1, cum);
	}
	lg_buf_printf(b, "%s_sum %.6f\n", name, (double)lg_ctr_get(sum_us) / 1e6);
	lg_buf_printf(b, "%s_count %" PRIu64 "\n", name, lg_ctr_get(count));
}

/* The request, refusal, lesson and tunnel families. */
static void
render_lessons(struct lg_buf *b, const struct lg_counters *c)
{
	family(b, "lessongate_requests_total", "counter",
	       "Requests by route class and outcome (allowed, refused, free, error).");
	for (unsigned k = 0; k < LG_M_CLASSES; k++)
		for (int o = 0; o < LG_M_OUTCOMES; o++) {
			const char *l[4] = {"class", cls_name(k), "outcome", outcome_names[o]};
			sample(b, "lessongate_requests_total", l, 2,
			       lg_ctr_get(&c->requests[k][o]));
		}
	family(b, "lessongate_refusals_total", "counter",
	       "Enforced refusals of lesson requests by rule and class.");
	for (int r = 0; r < LG_M_RULES; r++)
		for (unsigned k = 0; k < LG_CLASS_FREE; k++) {
			const char *l[4] = {"rule", rule_names[r], "class", cls_name(k)};
			sample(b, "lessongate_refusals_total", l, 2,
			       lg_ctr_get(&c->refusals[r][k]));
		}
	family(b, "lessongate_lessons_started_total", "counter", "Lessons started by class.");
	for (unsigned k = 0; k < LG_CLASS_FREE; k++) {
		const char *l[2] = {"class", cls_name(k)};
		sample(b, "lessongate_lessons_started_total", l, 1,
		       lg_ctr_get(&c->lessons_started[k]));
	}
	family(b, "lessongate_lesson_tunnels_open", "gauge",
	       "Open lesson tunnels (WebSockets, streamed lesson responses) by class.");
	for (unsigned k = 0; k < LG_CLASS_FREE; k++) {
		const char *l[2] = {"class", cls_name(k)};
		sample(b, "lessongate_lesson_tunnels_open", l, 1,
		       lg_ctr_gauge(&c->tunnels_opened[k], &c->tunnels_closed[k]));
	}
	family(b, "lessongate_forced_closes_total", "counter",
	       "Lesson tunnels ended at their deadline, by rule and how.");
	for (int r = LG_M_DAY_END; r <= LG_M_LESSON_LIMIT; r++) {
		if (r == LG_M_DAY_START)
			continue;
		for (int h = 0; h < LG_M_HOWS; h++) {
			const char *l[4] = {"rule", rule_names[r], "how", how_names[h]};
			sample(b, "lessongate_forced_closes_total", l, 2,
			       lg_ctr_get(&c->forced_closes[r][h]));
		}
	}
	histogram(b, "lessongate_forced_close_lateness_seconds",
	          "Time from a lesson tunnel's deadline to its forced close.", c->lateness,
	          lg_m_lateness_bounds, LG_M_LATENESS_BUCKETS, &c->lateness_sum_us,
	          &c->lateness_count);
}

/* The connection, upstream, identity and configuration families. */
static void
render_process(struct lg_buf *b, const struct lg_counters *c, const struct lg_metrics_info *in)
{
	const char *lc[2] = {"side", "client"}, *lu[2] = {"side", "upstream"};

	family(b, "lessongate_build_info", "gauge", "The running version (always 1).");
	{
		const char *l[2] = {"version", in->version};
		sample(b, "lessongate_build_info", l, 1, 1);
	}
	single(b, "lessongate_start_time_seconds", "gauge", "Unix time the process started.",
	       (uint64_t)in->start_time);
	single(b, "lessongate_workers", "gauge", "Worker threads.", (uint64_t)in->workers);
	single(b, "lessongate_config_generation", "gauge",
	       "The configuration generation in force (1 at start, +1 per reload).",
	       in->config_generation);
	single(b, "lessongate_calendar_missing_years", "gauge",
	       "Years of today and the next 60 days with no national calendar loaded.",
	       in->calendar_missing_years);
	if (in->students >= 0)
		single(b, "lessongate_students", "gauge", "Students in the lesson-clock table.",
		       (uint64_t)in->students);
	family(b, "lessongate_connections_open", "gauge", "Open connections by side.");
	sample(b, "lessongate_connections_open", lc, 1, (uint64_t)in->connections_client);
	sample(b, "lessongate_connections_open", lu, 1,
	       lg_ctr_gauge(&c->upstream_opened, &c->upstream_closed));
	family(b, "lessongate_upstream_errors_total", "counter", "Upstream failures by kind.");
	for (int k = 0; k < LG_M_UPSTREAMS; k++) {
		const char *l[2] = {"kind", upstream_names[k]};
		sample(b, "lessongate_upstream_errors_total", l, 1,
		       lg_ctr_get(&c->upstream_errors[k]));
	}
	single(b, "lessongate_jwt_cache_hits_total", "counter",
	       "Tokens found in the verified-token cache.", in->jwt_hits);
	single(b, "lessongate_jwt_cache_misses_total", "counter",
	       "Tokens verified (not in the cache).", in->jwt_misses);
}

/* The student store's and the audit log's health. */
static void
render_health(struct lg_buf *b, const struct lg_counters *c, const struct lg_metrics_info *in)
{
	family(b, "lessongate_store_up", "gauge",
	       "Whether the student store can answer (1) or not (0), by kind.");
	{
		const char *l[2] = {"kind", in->store_kind ? in->store_kind : "none"};
		sample(b, "lessongate_store_up", l, 1, in->store_up ? 1 : 0);
	}
	family(b, "lessongate_store_state", "gauge",
	       "The student store's state: 1 for the one it is in (ok; degraded: deciding on a "
	       "local copy; down: lesson routes fail).");
	for (int st = LG_STORE_HEALTH_OK; st <= LG_STORE_HEALTH_DOWN; st++) {
		const char *l[2] = {"state", lg_store_health_name((enum lg_store_health_state)st)};
		sample(b, "lessongate_store_state", l, 1,
		       (int)in->store_health.state == st ? 1 : 0);
	}
	single(b, "lessongate_store_local_decisions_total", "counter",
	       "Lesson decisions taken on the local copy while the shared store was unreachable.",
	       in->store_health.local_decisions);
	single(b, "lessongate_store_unreconciled_students", "gauge",
	       "Students decided locally and not yet merged back into the shared store.",
	       in->store_health.unreconciled);
	single(b, "lessongate_store_unavailable_total", "counter",
	       "Lesson decisions the store could not answer.", lg_ctr_get(&c->store_unavailable));
	single(b, "lessongate_store_timeouts_total", "counter",
	       "Lesson decisions the store did not answer in time.",
	       lg_ctr_get(&c->store_timeouts));
	histogram(b, "lessongate_store_decision_seconds",
	          "Time an asynchronous store (redis) took to answer a lesson decision.",
	          c->decision, lg_m_decision_bounds, LG_M_DECISION_BUCKETS, &c->decision_sum_us,
	          &c->decision_count);
	if (!in->audit_on)
		return;
	single(b, "lessongate_audit_writable", "gauge",
	       "Whether the audit log can be written (0: lesson routes answer 503).",
	       in->audit_healthy ? 1 : 0);
	single(b, "lessongate_audit_records", "gauge", "Durable records in the audit log.",
	       in->audit_records);
	single(b, "lessongate_audit_queue_depth", "gauge", "Records waiting for the audit writer.",
	       in->audit_queued);
	single(b, "lessongate_audit_records_lost_total", "counter",
	       "Records that could not be written.", in->audit_lost);
}

/* The whole /metrics document (Prometheus text format 0.0.4) into out. */
void
lg_metrics_render(struct lg_buf *out, const struct lg_counters *c, const struct lg_metrics_info *in)
{
	render_process(out, c, in);
	render_lessons(out, c);
	render_health(out, c, in);
}
