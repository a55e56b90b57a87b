/*
 * The admin API's JSON documents, built from what the daemon hands in (time
 * passed in, no I/O): a student's clock, the status, the overview with its
 * ring of recent violations.
 */
#ifndef LG_ADMINDOC_H
#define LG_ADMINDOC_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "metrics.h"
#include "policy.h"
#include "render.h"

/* Recent violations the overview lists. */
#define LG_RECENT_MAX 50
/* Refusals of one student by one rule on one route within this many seconds of the last are
 * one entry with a count: a student's app retrying in a loop cannot push the others out. */
#define LG_RECENT_FOLD_S 60

/* One enforced refusal (or a run of them) as the overview lists it. */
struct lg_violation {
	int64_t time;   /* the last one */
	uint32_t count; /* how many were folded into it (0 counts as 1) */
	enum lg_m_rule rule;
	enum lg_class cls;
	char route[64]; /* the configured route, or "" */
	char who[80];   /* the student's audit pseudonym, or the id itself; "" if none */
};

/* The last LG_RECENT_MAX violations, oldest first (the caller locks it). */
struct lg_recent {
	struct lg_violation v[LG_RECENT_MAX];
	unsigned count;
};

/*
 * Keep a violation: folded into the entry of the same student, rule, class
 * and route if that is at most LG_RECENT_FOLD_S older (its count grows, it
 * becomes the newest), else added, dropping the oldest once full.
 */
void lg_recent_push(struct lg_recent *, const struct lg_violation *);
/* Push n violations (from several rings; sorted here by time, oldest first) into out. */
void lg_recent_merge(struct lg_recent *out, struct lg_violation *all, size_t n);
/* The violations as a JSON array, newest first (each with its count). */
void lg_recent_json(struct lg_buf *, const struct lg_recent *, const struct lg_tz *);

/*
 * GET /admin/v1/students/{id}: the student's clock (st, as the store has it at
 * now) and, per lesson class, whether a request now would be allowed, and why
 * not, in region (0: calendar.default_region).
 */
void lg_admin_student_json(struct lg_buf *, const struct lg_config *, const char *id,
                           uint32_t region, const struct lg_student_state *st, int64_t now);

/* What the status document says besides the configuration (the daemon fills it in). */
struct lg_admin_status {
	const struct lg_metrics_info *info;
	char config_sha256[65];
	const int *missing_years; /* years of the next 60 days with no national calendar */
	size_t nmissing;
};

/* GET /admin/v1/status. */
void lg_admin_status_json(struct lg_buf *, const struct lg_config *, const struct lg_admin_status *,
                          int64_t now);

/*
 * GET /admin/v1/overview: live counters, open lessons per class, refusals by
 * rule per minute over the last hour (oldest first), recent violations.
 */
void lg_admin_overview_json(struct lg_buf *, const struct lg_config *, const struct lg_counters *,
                            const uint64_t minutes[LG_M_MINUTES][LG_M_RULES],
                            const struct lg_recent *, const struct lg_metrics_info *, int64_t now);

#endif
