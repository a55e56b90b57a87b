/* The lesson rules: for one student at one moment, may the lesson go on? */
#ifndef LG_POLICY_H
#define LG_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "calendar.h"
#include "tz.h"

/* What a request is, by its route. Only the first two are lessons. */
enum lg_class {
	LG_CLASS_SUBJECT = 0,
	LG_CLASS_NON_SUBJECT = 1,
	LG_CLASS_FREE = 2,
};
#define LG_LESSON_CLASSES 2

enum lg_mode {
	LG_MODE_ENFORCE = 0,
	LG_MODE_MONITOR, /* refuse nothing, record would-be refusals */
};

/* The rule that refused (or, in monitor mode, would have refused). */
enum lg_rule {
	LG_RULE_NONE = 0,
	LG_RULE_BLOCKED_DAY,
	LG_RULE_DAY_END,
	LG_RULE_DAY_START,
	LG_RULE_LESSON_LIMIT,
};

/* One lesson class's rules; times of day in seconds since local midnight. */
struct lg_class_rules {
	int32_t lesson_max;    /* seconds */
	int32_t break_min;     /* seconds */
	int32_t day_end;       /* nothing at or after this time of day */
	int32_t day_start;     /* nothing before this time of day (0 = midnight) */
	unsigned blocked_days; /* LG_BLOCK_* bits */
};

struct lg_rules {
	struct lg_class_rules cls[LG_LESSON_CLASSES];
	int32_t warn_before; /* seconds before a deadline to warn */
	enum lg_mode mode;
};

/*
 * A student's lesson clock, 16 bytes. start is the unix time the current
 * lesson began (0: none yet); the last moment of lesson activity is
 * start + last_off and never passes start + lesson_max. tunnels counts the
 * leases of open lesson tunnels, which keep the lesson active until they
 * close or expire; lease_until is the low 16 bits of the unix second the
 * latest of them expires (compared with wrap-around: valid while the state
 * is looked at within 9 hours of that moment, which the expiry sweep does).
 */
struct lg_student_state {
	int64_t start;
	uint32_t last_off;
	uint16_t tunnels;
	uint16_t lease_until;
};

/* The outcome of one lesson request. */
struct lg_decision {
	bool allow;          /* the request may pass (always true in monitor mode) */
	bool enforced;       /* a refusal is enforced (false in monitor mode) */
	enum lg_rule rule;   /* LG_RULE_NONE, or the rule that refused */
	int64_t remaining;   /* allowed: seconds until the deadline */
	int64_t deadline;    /* allowed: unix time the lesson must end */
	int64_t retry_after; /* refused: seconds until the next allowed moment */
	int64_t retry_at;    /* refused: that moment as unix time (0 if none within a year) */
	int64_t start;       /* allowed: unix time the current lesson began */
	bool new_lesson;     /* this request started a new lesson */
	int64_t ended_start; /* a new lesson ended the previous one: its start ... */
	int64_t ended_last;  /* ... and its last moment (both 0 if none) */
	struct lg_day day;   /* today's classification */
};

struct lg_policy;

/* A policy over these rules, calendar and zone; it keeps pointers, not copies. */
struct lg_policy *lg_policy_new(const struct lg_rules *, const struct lg_calendar *,
                                const struct lg_tz *);
void lg_policy_free(struct lg_policy *);
const struct lg_rules *lg_policy_rules(const struct lg_policy *);

/*
 * Decide a lesson request of class cls (subject or non_subject) from a
 * student in region (0: default) at unix time now, and update the state.
 */
void lg_policy_decide(const struct lg_policy *, struct lg_student_state *, enum lg_class cls,
                      uint32_t region, int64_t now, struct lg_decision *);

/*
 * The same decision in three steps, so a remote store can run only the
 * middle one (the lesson clock) where the state lives: the calendar and day
 * window first (false: refused, d filled in), then the clock, then the
 * deadline or the time to come back (calendar again) from its outcome.
 */
struct lg_clock_outcome {
	bool allow;          /* the clock allows (false: lesson_limit) */
	int64_t start;       /* the current lesson's start (after a new one began) */
	int64_t last;        /* the last moment of activity before this request */
	bool new_lesson;     /* this request started a new lesson */
	int64_t ended_start; /* the lesson it ended: start ... */
	int64_t ended_last;  /* ... and last moment (0 if none) */
};
bool lg_policy_decide_day(const struct lg_policy *, enum lg_class cls, uint32_t region, int64_t now,
                          struct lg_decision *);
void lg_policy_clock(const struct lg_policy *, struct lg_student_state *, enum lg_class cls,
                     int64_t now, struct lg_clock_outcome *);
void lg_policy_decide_finish(const struct lg_policy *, enum lg_class cls, uint32_t region,
                             int64_t now, const struct lg_clock_outcome *, struct lg_decision *);

/* A lesson tunnel opened at now with a lease that expires at `expires` unless renewed. */
void lg_policy_tunnel_open(struct lg_student_state *, int64_t now, int64_t expires);
/* A lease of the student was renewed to `expires`. */
void lg_policy_tunnel_renew(struct lg_student_state *, int64_t now, int64_t expires);
/* A lesson tunnel closed at now: activity lasted until then; its lease ends. */
void lg_policy_tunnel_close(const struct lg_policy *, struct lg_student_state *, enum lg_class,
                            int64_t now);
/* Whether open tunnels hold the student's lesson at now (a lease held and not expired). */
bool lg_policy_tunnels_held(const struct lg_student_state *, int64_t now);

/*
 * The next moment at or after unix time t when class cls is allowed by the
 * calendar and day window (ignoring the lesson clock); 0 if none within a year.
 */
int64_t lg_policy_next_allowed(const struct lg_policy *, enum lg_class cls, uint32_t region,
                               int64_t t);

/* Whether the state still matters at now (else it may be forgotten). */
bool lg_policy_state_live(const struct lg_policy *, const struct lg_student_state *, int64_t now);

const char *lg_rule_name(enum lg_rule);
const char *lg_class_name(enum lg_class);
/* "subject", "non_subject", "free" to a class; -1 if none. */
int lg_class_parse(const char *);

#endif
