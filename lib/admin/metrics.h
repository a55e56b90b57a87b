/*
 * The admin listener's counters and their Prometheus text exposition: one
 * struct lg_metrics per worker thread, written by that thread only (relaxed
 * atomic loads and stores, so a scrape on another thread reads them without
 * a lock and the owner pays a plain add), summed when /metrics is scraped.
 */
#ifndef LG_METRICS_H
#define LG_METRICS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy.h"
#include "render.h"
#include "store.h"

/* Classes counted: subject, non_subject, free. */
#define LG_M_CLASSES 3

/* What became of a request (lessongate_requests_total{outcome}). */
enum lg_m_outcome {
	LG_M_ALLOWED = 0, /* a lesson request allowed (monitor mode: every decided one) */
	LG_M_REFUSED,     /* refused by a rule or for want of an identity: 401, 429, 451 */
	LG_M_FREE,        /* a free route (and the proxy's own status and calendar endpoints) */
	LG_M_ERROR,       /* refused as malformed or failed: 400, 405, 503 */
	LG_M_OUTCOMES
};

/* Why a refusal (lessongate_refusals_total{rule}): the policy's rules, then unidentified. */
enum lg_m_rule {
	LG_M_BLOCKED_DAY = 0,
	LG_M_DAY_END,
	LG_M_DAY_START,
	LG_M_LESSON_LIMIT,
	LG_M_UNIDENTIFIED,
	LG_M_RULES
};

/* How a lesson tunnel ended at its deadline (lessongate_forced_closes_total{how}). */
enum lg_m_how {
	LG_M_HOW_WEBSOCKET = 0, /* Close frames 4001/4002 */
	LG_M_HOW_STREAM_END,    /* a chunked response ended at a chunk boundary */
	LG_M_HOW_CONNECTION,    /* the connection was closed */
	LG_M_HOW_MONITOR,       /* monitor mode: reported, not ended */
	LG_M_HOWS
};

/* Why the upstream failed (lessongate_upstream_errors_total{kind}). */
enum lg_m_upstream {
	LG_M_UP_CONNECT = 0, /* connect refused, unreachable, TLS handshake failed */
	LG_M_UP_TIMEOUT,     /* connect or response timeout */
	LG_M_UP_PROTOCOL,    /* a response the parser rejected */
	LG_M_UP_CLOSED,      /* closed before a complete response */
	LG_M_UPSTREAMS
};

/* Upper bounds (seconds) of lessongate_forced_close_lateness_seconds; +Inf follows. */
#define LG_M_LATENESS_BUCKETS 10
extern const double lg_m_lateness_bounds[LG_M_LATENESS_BUCKETS];
/* Upper bounds (seconds) of lessongate_store_decision_seconds; +Inf follows. */
#define LG_M_DECISION_BUCKETS 10
extern const double lg_m_decision_bounds[LG_M_DECISION_BUCKETS];

typedef atomic_uint_fast64_t lg_ctr;

/* Counters of one worker; every member is an lg_ctr, so a sum is a walk over them. */
struct lg_counters {
	lg_ctr requests[LG_M_CLASSES][LG_M_OUTCOMES];
	lg_ctr refusals[LG_M_RULES][LG_M_CLASSES];
	lg_ctr lessons_started[LG_M_CLASSES];
	lg_ctr tunnels_opened[LG_M_CLASSES], tunnels_closed[LG_M_CLASSES];
	lg_ctr forced_closes[LG_M_RULES][LG_M_HOWS];
	lg_ctr lateness[LG_M_LATENESS_BUCKETS + 1]; /* per bucket (not cumulative), +Inf last */
	lg_ctr lateness_sum_us, lateness_count;
	lg_ctr upstream_opened, upstream_closed;
	lg_ctr upstream_errors[LG_M_UPSTREAMS];
	lg_ctr store_unavailable, store_timeouts;
	lg_ctr decision[LG_M_DECISION_BUCKETS + 1]; /* answers of an asynchronous store */
	lg_ctr decision_sum_us, decision_count;
};

/* Minutes kept for refusals by rule per minute (the overview's last hour). */
#define LG_M_MINUTES 60

/* One worker's counters and its per-minute refusals ring, on cache lines of its own. */
struct lg_metrics {
	_Alignas(64) struct lg_counters c;
	lg_ctr minute_of[LG_M_MINUTES]; /* the unix minute bucket i holds (i = minute % 60) */
	lg_ctr minute_refusals[LG_M_MINUTES][LG_M_RULES];
};

/* Add n to a counter its owner alone writes (a plain add; readers see it relaxed). */
static inline void
lg_ctr_add(lg_ctr *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
	                      memory_order_relaxed);
}

/* Read a counter. */
static inline uint64_t
lg_ctr_get(const lg_ctr *c)
{
	return atomic_load_explicit(c, memory_order_relaxed);
}

/* A gauge kept as opened - closed, read from a snapshot in which closed may be ahead of
 * opened (both relaxed loads of an owner still counting): never below 0. */
static inline uint64_t
lg_ctr_gauge(const lg_ctr *opened, const lg_ctr *closed)
{
	uint64_t c = lg_ctr_get(closed), o = lg_ctr_get(opened);

	return o > c ? o - c : 0;
}

/* A lesson-class or free request ended with outcome. */
void lg_metrics_request(struct lg_metrics *, enum lg_class cls, enum lg_m_outcome);
/* A refusal by rule of class cls at unix time now (also into the minute ring). */
void lg_metrics_refusal(struct lg_metrics *, enum lg_m_rule, enum lg_class cls, int64_t now);
/* A forced close by rule, how, late_us after its deadline. */
void lg_metrics_forced_close(struct lg_metrics *, enum lg_m_rule, enum lg_m_how, int64_t late_us);
/* An asynchronous store answered a decision us microseconds after it was asked. */
void lg_metrics_decision(struct lg_metrics *, int64_t us);
/* The metrics rule of a policy rule (LG_RULE_NONE: unidentified). */
enum lg_m_rule lg_metrics_rule(enum lg_rule);
/* The name of a metrics rule ("lesson_limit", ..., "unidentified"). */
const char *lg_metrics_rule_name(enum lg_m_rule);
/* The how of a forced_close event's reason ("websocket close 4001", ...). */
enum lg_m_how lg_metrics_how(bool enforced, const char *reason);

/* Sum n workers' counters into out (zeroed first). */
void lg_metrics_sum(struct lg_counters *out, struct lg_metrics *const *w, size_t n);
/*
 * Refusals per rule in each of the LG_M_MINUTES minutes up to the one of now,
 * oldest first, summed over n workers (buckets of older minutes count 0).
 */
void lg_metrics_minutes(struct lg_metrics *const *w, size_t n, int64_t now,
                        uint64_t out[LG_M_MINUTES][LG_M_RULES]);

/* What a scrape knows besides the counters (gauges the daemon reads when asked). */
struct lg_metrics_info {
	const char *version;
	unsigned config_generation;
	int64_t students; /* -1: the store cannot count them (redis) */
	int64_t connections_client;
	unsigned calendar_missing_years;
	uint64_t jwt_hits, jwt_misses;
	const char *store_kind;
	bool store_up;
	struct lg_store_health store_health; /* ok, degraded (deciding locally) or down */
	bool audit_on, audit_healthy;
	uint64_t audit_records, audit_queued, audit_lost;
	int workers;
	int64_t start_time; /* unix time the process started */
};

/* The whole /metrics document (Prometheus text format 0.0.4) into out. */
void lg_metrics_render(struct lg_buf *out, const struct lg_counters *,
                       const struct lg_metrics_info *);
/* Append a label value escaped for the exposition format (\\, \", \n). */
void lg_prom_escape(struct lg_buf *out, const char *s);

#endif
