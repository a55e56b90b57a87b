/* The lesson rules: for one student at one moment, may the lesson go on? */
#include "policy.h"

#include <stdlib.h>
#include <string.h>

struct lg_policy {
	const struct lg_rules *rules;
	const struct lg_calendar *cal;
	const struct lg_tz *tz;
	int32_t max_break; /* the longest break_min: state older than this is forgotten */
};

/* How far ahead Retry-After looks for an allowed moment. */
#define LOOKAHEAD_DAYS 400

/* A policy over borrowed rules, calendar and zone. */
struct lg_policy *
lg_policy_new(const struct lg_rules *rules, const struct lg_calendar *cal, const struct lg_tz *tz)
{
	struct lg_policy *p = lg_xcalloc(1, sizeof(*p));

	p->rules = rules;
	p->cal = cal;
	p->tz = tz;
	for (int i = 0; i < LG_LESSON_CLASSES; i++)
		if (rules->cls[i].break_min > p->max_break)
			p->max_break = rules->cls[i].break_min;
	return p;
}

/* Free the policy (not what it points to). */
void
lg_policy_free(struct lg_policy *p)
{
	free(p);
}

/* The rules it applies. */
const struct lg_rules *
lg_policy_rules(const struct lg_policy *p)
{
	return p->rules;
}

/* The unix time of second `sod` of local day `day`. */
static int64_t
local_moment(const struct lg_policy *p, int32_t day, int32_t sod)
{
	return lg_tz_unix(p->tz, (int64_t)day * LG_DAY_SECONDS + sod);
}

/* Calendar and day window only: the first allowed moment at or after t. */
int64_t
lg_policy_next_allowed(const struct lg_policy *p, enum lg_class cls, uint32_t region, int64_t t)
{
	const struct lg_class_rules *r = &p->rules->cls[cls];
	int64_t local = lg_tz_local(p->tz, t);
	int32_t day = lg_day_of(local);
	int32_t sod = (int32_t)(local - (int64_t)day * LG_DAY_SECONDS);
	struct lg_day d;

	lg_calendar_day(p->cal, day, region, &d);
	if (!lg_day_blocked(&d, r->blocked_days)) {
		if (sod < r->day_start)
			return local_moment(p, day, r->day_start);
		if (sod < r->day_end)
			return t;
	}
	day = lg_calendar_next_open(p->cal, day + 1, region, r->blocked_days, LOOKAHEAD_DAYS);
	if (day < 0)
		return 0;
	return local_moment(p, day, r->day_start);
}

/* Fill in a refusal; the state is not touched, so retrying never lengthens a break. */
static void
refuse(const struct lg_policy *p, struct lg_decision *d, enum lg_rule rule, int64_t retry_at,
       int64_t now)
{
	d->rule = rule;
	d->retry_at = retry_at;
	d->retry_after = retry_at > now ? retry_at - now : 0;
	if (p->rules->mode == LG_MODE_MONITOR) {
		d->allow = true;
		d->enforced = false;
	} else {
		d->allow = false;
		d->enforced = true;
	}
}

/* Open tunnels hold the lesson: a lease counted and the latest expiry not passed. */
bool
lg_policy_tunnels_held(const struct lg_student_state *st, int64_t now)
{
	return st->tunnels > 0 && (int16_t)(uint16_t)(st->lease_until - (uint16_t)now) > 0;
}

/* The last moment of activity, counting open tunnels as active until now. */
static int64_t
last_activity(const struct lg_student_state *st, int32_t lesson_max, int64_t now)
{
	int64_t last = st->start + st->last_off;

	if (lg_policy_tunnels_held(st, now)) {
		int64_t cap = st->start + lesson_max;
		int64_t active = now < cap ? now : cap;
		if (active > last)
			last = active;
	}
	return last;
}

/*
 * The calendar and the day window (no state needed): false with d filled in
 * as a refusal, true (d->day set) when the lesson clock decides.
 */
bool
lg_policy_decide_day(const struct lg_policy *p, enum lg_class cls, uint32_t region, int64_t now,
                     struct lg_decision *d)
{
	const struct lg_class_rules *r = &p->rules->cls[cls];
	int64_t local = lg_tz_local(p->tz, now);
	int32_t day = lg_day_of(local);
	int32_t sod = (int32_t)(local - (int64_t)day * LG_DAY_SECONDS);

	memset(d, 0, sizeof(*d));
	lg_calendar_day(p->cal, day, region, &d->day);
	if (lg_day_blocked(&d->day, r->blocked_days)) {
		refuse(p, d, LG_RULE_BLOCKED_DAY, lg_policy_next_allowed(p, cls, region, now), now);
		return false;
	}
	if (sod >= r->day_end) {
		refuse(p, d, LG_RULE_DAY_END, lg_policy_next_allowed(p, cls, region, now), now);
		return false;
	}
	if (sod < r->day_start) {
		refuse(p, d, LG_RULE_DAY_START, local_moment(p, day, r->day_start), now);
		return false;
	}
	return true;
}

/* The lesson clock alone (lesson_max, break_min, leases): the outcome, st updated. */
void
lg_policy_clock(const struct lg_policy *p, struct lg_student_state *st, enum lg_class cls,
                int64_t now, struct lg_clock_outcome *o)
{
	const struct lg_class_rules *r = &p->rules->cls[cls];
	int64_t last = last_activity(st, r->lesson_max, now);

	memset(o, 0, sizeof(*o));
	o->last = last;
	if (st->start == 0 || now - last >= r->break_min) {
		if (st->start != 0) {
			o->ended_start = st->start;
			o->ended_last = last;
		}
		st->start = now;
		st->last_off = 0;
		o->new_lesson = true;
	} else if (now - st->start >= r->lesson_max) {
		o->start = st->start;
		return; /* refused: the state is not touched */
	}
	/* The last moment only moves forward, even if clocks of two workers disagree. */
	if (now - st->start > (int64_t)st->last_off)
		st->last_off = (uint32_t)(now - st->start);
	o->start = st->start;
	o->allow = true;
}

/* The decision from the clock's outcome: the deadline, or when to come back. */
void
lg_policy_decide_finish(const struct lg_policy *p, enum lg_class cls, uint32_t region, int64_t now,
                        const struct lg_clock_outcome *o, struct lg_decision *d)
{
	const struct lg_class_rules *r = &p->rules->cls[cls];
	int64_t local = lg_tz_local(p->tz, now);
	int32_t day = lg_day_of(local);
	int64_t day_end;

	d->new_lesson = o->new_lesson;
	d->ended_start = o->ended_start;
	d->ended_last = o->ended_last;
	if (!o->allow) {
		int64_t back = lg_policy_next_allowed(p, cls, region, o->last + r->break_min);
		refuse(p, d, LG_RULE_LESSON_LIMIT, back, now);
		return;
	}
	day_end = local_moment(p, day, r->day_end);
	d->start = o->start;
	d->deadline = o->start + r->lesson_max;
	if (day_end < d->deadline)
		d->deadline = day_end;
	d->remaining = d->deadline - now;
	d->allow = true;
	d->enforced = p->rules->mode == LG_MODE_ENFORCE;
}

/* The rules of DESIGN.md, in their order: blocked day, day window, lesson clock. */
void
lg_policy_decide(const struct lg_policy *p, struct lg_student_state *st, enum lg_class cls,
                 uint32_t region, int64_t now, struct lg_decision *d)
{
	struct lg_clock_outcome o;

	if (!lg_policy_decide_day(p, cls, region, now, d))
		return;
	lg_policy_clock(p, st, cls, now, &o);
	lg_policy_decide_finish(p, cls, region, now, &o, d);
}

/* An open tunnel keeps the lesson active; leases that expired unclosed are dropped first. */
void
lg_policy_tunnel_open(struct lg_student_state *st, int64_t now, int64_t expires)
{
	if (!lg_policy_tunnels_held(st, now)) {
		st->tunnels = 0;
		st->lease_until = (uint16_t)expires; /* what it held before means nothing now */
	}
	if (st->tunnels < UINT16_MAX)
		st->tunnels++;
	lg_policy_tunnel_renew(st, now, expires);
}

/* The latest expiry of the student's leases moves on (never back while they are held). */
void
lg_policy_tunnel_renew(struct lg_student_state *st, int64_t now, int64_t expires)
{
	uint16_t e = (uint16_t)expires;

	if (st->tunnels == 0)
		return;
	if (!lg_policy_tunnels_held(st, now) || (int16_t)(uint16_t)(e - st->lease_until) > 0)
		st->lease_until = e;
}

/*
 * Activity lasted until the tunnel closed (never past the lesson's end). Every
 * open is matched by this close, whatever the mode: a tunnel opened without a
 * lesson (a monitored violation) still gives its count back.
 */
void
lg_policy_tunnel_close(const struct lg_policy *p, struct lg_student_state *st, enum lg_class cls,
                       int64_t now)
{
	int64_t last;

	if (!lg_policy_tunnels_held(st, now)) {
		st->tunnels = 0; /* expired: activity was counted only while renewed */
		return;
	}
	if (cls < LG_LESSON_CLASSES && st->start != 0) {
		last = last_activity(st, p->rules->cls[cls].lesson_max, now);
		if (last - st->start > (int64_t)st->last_off)
			st->last_off = (uint32_t)(last - st->start);
	}
	st->tunnels--;
}

/* A state matters while a tunnel is open or a break is still running. */
bool
lg_policy_state_live(const struct lg_policy *p, const struct lg_student_state *st, int64_t now)
{
	if (lg_policy_tunnels_held(st, now))
		return true;
	return st->start != 0 && now - (st->start + st->last_off) < p->max_break;
}

/* Rule names as they appear in logs, JSON and `simulate`. */
const char *
lg_rule_name(enum lg_rule r)
{
	switch (r) {
	case LG_RULE_NONE:
		return "none";
	case LG_RULE_BLOCKED_DAY:
		return "blocked_day";
	case LG_RULE_DAY_END:
		return "day_end";
	case LG_RULE_DAY_START:
		return "day_start";
	case LG_RULE_LESSON_LIMIT:
		return "lesson_limit";
	}
	return "unknown";
}

/* Class names as in the configuration. */
const char *
lg_class_name(enum lg_class c)
{
	switch (c) {
	case LG_CLASS_SUBJECT:
		return "subject";
	case LG_CLASS_NON_SUBJECT:
		return "non_subject";
	case LG_CLASS_FREE:
		return "free";
	}
	return "unknown";
}

/* The class a name stands for. */
int
lg_class_parse(const char *s)
{
	if (strcmp(s, "subject") == 0)
		return LG_CLASS_SUBJECT;
	if (strcmp(s, "non_subject") == 0)
		return LG_CLASS_NON_SUBJECT;
	if (strcmp(s, "free") == 0)
		return LG_CLASS_FREE;
	return -1;
}
