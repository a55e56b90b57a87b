/* Lesson enforcement in the proxy: the gate per request, open lesson tunnels and their deadlines.
 */
#include "conn.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

#include "auditd.h"
#include "auditwait.h"
#include "counters.h"
#include "log.h"
#include "clock.h"

/* The system's wall clock in microseconds. */
static int64_t
wall_clock_us(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

int64_t (*lgd_clock_us)(void) = wall_clock_us;

/* Wall-clock microseconds (what deadlines, which are unix times, are compared with). */
int64_t
lgd_now_us(void)
{
	return lgd_clock_us();
}

/* The rule a deadline enforces: day_end when the day ends first (or at the same moment). */
enum lg_rule
lgd_deadline_rule(const struct lg_config *cf, enum lg_class cls, int64_t start, int64_t deadline)
{
	const struct lg_class_rules *r = &cf->rules.cls[cls];
	int64_t local = lg_tz_local(cf->tz, deadline);
	int64_t sod = local - (int64_t)lg_day_of(local) * LG_DAY_SECONDS;

	if (deadline < start + r->lesson_max || sod == r->day_end ||
	    (r->day_end == LG_DAY_SECONDS && sod == 0))
		return LG_RULE_DAY_END;
	return LG_RULE_LESSON_LIMIT;
}

/* Whether the connection may stay open after the proxy answers this request itself. */
bool
lgd_lesson_keep_alive(const struct lgd_conn *c, const struct lg_http_request *req)
{
	bool body = req->framing == LG_HTTP_BODY_CHUNKED ||
	            (req->framing == LG_HTTP_BODY_LENGTH && req->content_length > 0);

	/* A body we never read would be taken for the next request: close instead. */
	return !body && c->req_keep_alive && !c->req_http10 && !c->w->draining &&
	       c->rt->cf->timeouts.keepalive_ms > 0;
}

/* Refuse a request here: the gate's page, then keep-alive or close; nothing goes upstream. */
static void
refuse(struct lgd_conn *c, const struct lg_gate_verdict *v, const struct lg_gate_request *gr,
       size_t head_len, int64_t now)
{
	struct lgd_worker *w = c->w;
	bool keep = v->status != 400 && v->status != 405 && lgd_lesson_keep_alive(c, gr->req);

	if (v->status == 503)
		lgd_log_count_status(v->status);
	if (v->status == 400 || v->status == 405) {
		lgd_log_count_status(v->status); /* one line per interval */
		lgd_debug("request refused", "worker=%d peer=%s status=%d reason=\"%s\"", w->id,
		          c->peer, v->status, v->reason);
	}
	w->out.len = 0;
	lg_gate_refusal(c->rt->gate, v, now, gr, keep, &w->out);
	evbuffer_add(bufferevent_get_output(c->down.bev), w->out.data, w->out.len);
	lgd_proxy_answered(c, head_len, keep, "request refused");
}

/* Remember an allowed lesson: who, the deadline, and the response fields to add. */
static void
remember(struct lgd_conn *c, const struct lg_gate_verdict *v, int64_t now)
{
	struct lgd_lesson *l = &c->lesson;
	struct lgd_worker *w = c->w;
	size_t n;

	l->active = true;
	l->cls = v->cls;
	l->region = v->id.region;
	l->deadline = v->d.rule == LG_RULE_NONE ? v->d.deadline : 0;
	l->start = v->d.start;
	/*
	 * A monitored violation's decision recorded no activity (the rules
	 * that refuse leave the clock alone): its response is recorded at its
	 * end whenever it ends, as a tunnel's would be.
	 */
	l->since = v->d.rule == LG_RULE_NONE ? now : 0;
	l->student_len = v->id.student_len;
	memcpy(l->student, v->id.student, v->id.student_len + 1);
	n = strcspn(v->target, "?");
	if (n > sizeof(l->path) - 1)
		n = sizeof(l->path) - 1;
	memcpy(l->path, v->target, n);
	l->path[n] = '\0';
	w->out.len = 0;
	lg_gate_allow_headers(c->rt->gate, v, &w->out);
	if (w->out.len < sizeof(l->hdr)) {
		memcpy(l->hdr, w->out.data, w->out.len);
		l->hdr_len = w->out.len;
	}
}

/* A pending-decision slot for c in its worker; its tag. */
static uint64_t
pending_take(struct lgd_conn *c)
{
	struct lgd_worker *w = c->w;
	uint32_t i;

	if (w->pending_free != 0) {
		i = w->pending_free - 1;
		w->pending_free = w->pending[i].next_free;
	} else {
		i = w->npending++;
		w->pending = lg_xrealloc(w->pending, w->npending, sizeof(*w->pending));
		w->pending[i].gen = 1;
	}
	w->pending[i].c = c;
	w->pending[i].next_free = 0;
	return (uint64_t)i << 32 | w->pending[i].gen;
}

/* Free c's pending slot (if any): a later answer with its tag finds nothing. */
void
lgd_lesson_forget_decision(struct lgd_conn *c)
{
	struct lgd_worker *w = c->w;
	uint32_t i = (uint32_t)(c->decide_tag >> 32);

	if (c->decide_tag == 0)
		return;
	c->decide_tag = 0;
	if (i >= w->npending || w->pending[i].c != c)
		return;
	w->pending[i].c = NULL;
	w->pending[i].gen++;
	if (w->pending[i].gen == 0)
		w->pending[i].gen = 1; /* tag 0 means "none" */
	w->pending[i].next_free = w->pending_free;
	w->pending_free = i + 1;
}

/*
 * A store's answer, on the worker's loop (arg is the worker): during the
 * decide call it is kept for lgd_lesson_request; later, the connection it
 * belongs to (if still waiting) goes on with it; else it is dropped.
 */
void
lgd_lesson_decided(void *arg, uint64_t tag, const struct lg_store_result *r)
{
	struct lgd_worker *w = arg;
	uint32_t i = (uint32_t)(tag >> 32);
	struct lgd_conn *c;

	if (w->in_decide && tag == w->inline_tag) {
		w->inline_result = *r;
		w->inline_done = true;
		return;
	}
	if (tag == 0 || i >= w->npending || w->pending[i].gen != (uint32_t)tag ||
	    (c = w->pending[i].c) == NULL || c->state != LGD_CONN_DECIDE)
		return; /* the connection closed or gave up meanwhile */
	lgd_lesson_forget_decision(c);
	lg_metrics_decision(lgd_metrics, lgd_mono_us() - c->decide_asked_us);
	c->answer = *r;
	c->decided = LGD_DECIDED_ANSWER;
	lgd_proxy_resume(c);
}

/* The store did not answer within its timeout: go on as if it could not answer. */
void
lgd_lesson_decide_timeout(struct lgd_conn *c)
{
	lgd_warn("student store timeout", "worker=%d peer=%s store=%s timeout_ms=%d", c->w->id,
	         c->peer, lgd_store->kind, lgd_store->timeout_ms);
	lg_ctr_add(&lgd_metrics->c.store_timeouts, 1);
	lgd_lesson_forget_decision(c);
	c->decided = c->audit_wait ? LGD_DECIDED_AUDIT_BAD : LGD_DECIDED_TIMEOUT;
	lgd_proxy_resume(c);
}

/*
 * The audit writer's verdict on a refusal's record (auditwait.c, on the
 * worker's loop): the connection waiting for it (if still there) answers.
 */
void
lgd_lesson_audited(struct lgd_worker *w, uint64_t tag, bool ok)
{
	uint32_t i = (uint32_t)(tag >> 32);
	struct lgd_conn *c;

	if (w == NULL || tag == 0 || i >= w->npending || w->pending[i].gen != (uint32_t)tag ||
	    (c = w->pending[i].c) == NULL || c->state != LGD_CONN_DECIDE || !c->audit_wait)
		return;
	lgd_lesson_forget_decision(c);
	c->decided = ok ? LGD_DECIDED_AUDITED : LGD_DECIDED_AUDIT_BAD;
	lgd_proxy_resume(c);
}

/*
 * After a commit or a prepare under the audit wait for tag: 1 if no record
 * is awaited (the slot is freed), else 0 with c waiting in DECIDE.
 */
static int
wait_for_record(struct lgd_conn *c, uint64_t tag, int64_t now)
{
	c->decide_tag = tag;
	if (!lgd_auditwait_end()) {
		lgd_lesson_forget_decision(c);
		return 1;
	}
	c->decide_now = now;
	c->decided = LGD_DECIDED_NONE;
	c->audit_wait = true;
	return 0;
}

/*
 * Commit a store's answer on the first pass; in enforce mode with the audit
 * log, a refusal then waits for its record (0: c waits in DECIDE), else 1.
 */
static int
commit_first(struct lgd_conn *c, struct lg_gate_verdict *v, int64_t now,
             const struct lg_store_result *r)
{
	uint64_t tag;

	if (!lgd_auditd_on() || c->rt->cf->rules.mode != LG_MODE_ENFORCE) {
		lg_gate_commit(c->rt->gate, v, now, r, &c->rt->sink);
		return 1;
	}
	tag = pending_take(c);
	lgd_auditwait_begin(c->w, tag);
	lg_gate_commit(c->rt->gate, v, now, r, &c->rt->sink);
	c->answer = *r;
	return wait_for_record(c, tag, now);
}

/*
 * Prepare a request on the first pass; in enforce mode with the audit log, an
 * unidentified lesson request's 401 then waits for its record like a 429 or
 * 451 (0: c waits in DECIDE), else 1.
 */
static int
prepare_first(struct lgd_conn *c, const struct lg_gate_request *gr, int64_t now,
              struct lg_gate_verdict *v)
{
	struct lgd_runtime *rt = c->rt;
	uint64_t tag;

	if (!lgd_auditd_on() || rt->cf->rules.mode != LG_MODE_ENFORCE) {
		lg_gate_prepare(rt->gate, gr, now, c->w->target, c->w->target_cap, &rt->sink, v);
		return 1;
	}
	tag = pending_take(c);
	lgd_auditwait_begin(c->w, tag);
	lg_gate_prepare(rt->gate, gr, now, c->w->target, c->w->target_cap, &rt->sink, v);
	return wait_for_record(c, tag, now);
}

/*
 * The store gave no answer (timeout, connection lost): on_failure = "local"
 * decides on this instance's copy into *r (true); else false (503).
 */
static bool
fallback(struct lgd_conn *c, const struct lg_gate_verdict *v, int64_t now,
         struct lg_store_result *r)
{
	struct lg_store_query q;

	lg_gate_query(c->rt->gate, v, now, &q);
	return lg_store_decide_fallback(lgd_store, &q, r);
}

/*
 * Ask the store about a prepared lesson request: 1 with *r set when it
 * answered at once, 0 when the answer comes later (c then waits in DECIDE).
 */
static int
ask_store(struct lgd_conn *c, const struct lg_gate_verdict *v, int64_t now,
          struct lg_store_result *r)
{
	struct lgd_worker *w = c->w;
	struct lg_store_query q;
	uint64_t tag = lgd_store->synchronous ? 0 : pending_take(c);

	lg_gate_query(c->rt->gate, v, now, &q);
	w->in_decide = true;
	w->inline_done = false;
	w->inline_tag = tag;
	lg_store_decide(lgd_store, &q, lgd_lesson_decided, w, tag);
	w->in_decide = false;
	if (w->inline_done) {
		c->decide_tag = tag;
		lgd_lesson_forget_decision(c);
		*r = w->inline_result;
		return 1;
	}
	c->decide_tag = tag;
	c->decide_now = now;
	c->decide_asked_us = lgd_mono_us();
	c->decided = LGD_DECIDED_NONE;
	return 0;
}

/* Count a request the gate is done with (lessongate_requests_total), once per request. */
static void
count_request(const struct lg_gate_verdict *v)
{
	struct lg_metrics *m = lgd_metrics;

	switch (v->action) {
	case LG_GATE_ALLOW:
	case LG_GATE_DECIDE:
		lg_metrics_request(m, v->cls, LG_M_ALLOWED);
		break;
	case LG_GATE_REFUSE:
		if (v->status == 503 && strcmp(v->reason, LGD_AUDIT_DOWN) != 0)
			lg_ctr_add(&m->c.store_unavailable, 1);
		lg_metrics_request(m, v->cls,
		                   v->status == 401 || v->status == 429 || v->status == 451
		                       ? LG_M_REFUSED
		                       : LG_M_ERROR);
		break;
	default: /* free routes, the status and calendar endpoints */
		lg_metrics_request(m, LG_CLASS_FREE, LG_M_FREE);
		break;
	}
}

/*
 * The gate for one request head, at one reading of the clock: 1 to forward
 * it (fwd says how), 0 if the proxy answered it itself, LGD_LESSON_WAIT if
 * the store answers later (the caller leaves the head in the input and the
 * connection in DECIDE; lgd_proxy_resume parses the head again and calls
 * this once more, which then takes c->answer and the same clock reading).
 */
int
lgd_lesson_request(struct lgd_conn *c, const struct lg_http_request *req, size_t head_len,
                   struct lgd_fwd *fwd)
{
	struct lgd_worker *w = c->w;
	struct lgd_runtime *rt = c->rt;
	struct lg_gate_request gr = {req, w->headers, req->num_headers,
	                             (const struct sockaddr *)&c->peer_sa};
	struct lg_gate_verdict v;
	struct lg_store_result r;
	size_t need = 2 * req->path.len + 4; /* the normalised target, then the canonical path */
	uint8_t decided = c->decided;
	int64_t now = decided != LGD_DECIDED_NONE ? c->decide_now : lgd_now_us() / 1000000;

	c->decided = LGD_DECIDED_NONE;
	if (c->lesson.tunnel || c->lesson.pending)
		lgd_lesson_finish(c); /* never reached today: every open is closed once */
	c->lesson.active = c->lesson.tunnel = c->lesson.pending = false;
	c->lesson.fired = c->lesson.end_pending = false;
	c->lesson.hdr_len = 0;
	if (w->target_cap < need) {
		w->target_cap = need < 1024 ? 1024 : need;
		w->target = lg_xrealloc(w->target, w->target_cap, 1);
	}
	c->audit_wait = false;
	if (decided >= LGD_DECIDED_AUDITED) {
		/* A second pass after an audit wait decided already: no events again. */
		lg_gate_prepare(rt->gate, &gr, now, w->target, w->target_cap, NULL, &v);
		if (decided == LGD_DECIDED_AUDIT_BAD && v.action == LG_GATE_REFUSE &&
		    v.status == 401) {
			/* Fail closed: no 401 whose record could not be written. */
			v.status = 503;
			snprintf(v.reason, sizeof(v.reason), "%s", LGD_AUDIT_DOWN);
		}
	} else if (!prepare_first(c, &gr, now, &v)) {
		return LGD_LESSON_WAIT;
	}
	if (v.action == LG_GATE_DECIDE) {
		if (decided == LGD_DECIDED_AUDITED) {
			lg_gate_commit(rt->gate, &v, now, &c->answer, NULL);
		} else if (decided == LGD_DECIDED_AUDIT_BAD || !lgd_auditd_healthy()) {
			/* Fail closed: no lesson decision that cannot be recorded. */
			lg_gate_commit(rt->gate, &v, now, NULL, NULL);
			snprintf(v.reason, sizeof(v.reason), "%s", LGD_AUDIT_DOWN);
		} else if (decided == LGD_DECIDED_ANSWER) {
			if (c->answer.status != LG_STORE_OK)
				fallback(c, &v, now, &c->answer); /* left as it is if none */
			if (!commit_first(c, &v, now, &c->answer))
				return LGD_LESSON_WAIT;
		} else if (decided == LGD_DECIDED_TIMEOUT) {
			if (!fallback(c, &v, now, &r))
				lg_gate_commit(rt->gate, &v, now, NULL, &rt->sink);
			else if (!commit_first(c, &v, now, &r))
				return LGD_LESSON_WAIT;
		} else if (ask_store(c, &v, now, &r)) {
			if (!commit_first(c, &v, now, &r))
				return LGD_LESSON_WAIT;
		} else {
			return LGD_LESSON_WAIT;
		}
	}
	count_request(&v);
	switch (v.action) {
	case LG_GATE_STATUS:
		lgd_status_answer(c, &gr, head_len, now);
		return 0;
	case LG_GATE_CALENDAR:
		lgd_calfeed_answer(c, &gr, head_len, now);
		return 0;
	case LG_GATE_REFUSE:
		refuse(c, &v, &gr, head_len, now);
		return 0;
	case LG_GATE_ALLOW:
		remember(c, &v, now);
		break;
	case LG_GATE_PASS:
	case LG_GATE_DECIDE:
		break;
	}
	fwd->target = v.target;
	fwd->target_len = v.target_len;
	memset(fwd->strip, 0, sizeof(fwd->strip));
	for (size_t i = 0; i < gr.nheaders && i < LGD_MAX_HEADERS; i++)
		if (lg_gate_strips(rt->gate, &v, &gr.headers[i]))
			fwd->strip[i / 64] |= UINT64_C(1) << (i % 64);
	fwd->student = v.action == LG_GATE_ALLOW ? c->lesson.student : NULL;
	fwd->student_len = v.action == LG_GATE_ALLOW ? c->lesson.student_len : 0;
	return 1;
}

/* Arm the connection's lesson timer for a wall-clock moment (microseconds). */
void
lgd_lesson_timer(struct lgd_conn *c, int64_t at_us)
{
	int64_t d = at_us - lgd_now_us();
	struct timeval tv;

	if (d < 0)
		d = 0;
	tv = lgd_tv_us(d);
	evtimer_add(c->lesson_timer, &tv);
}

/* The forced_close event of the exchange's lesson, saying how it ended (or that it did not). */
static void
report_forced_close(struct lgd_conn *c, bool enforced, const char *reason)
{
	struct lgd_lesson *l = &c->lesson;
	struct lg_event ev = {.type = LG_EV_FORCED_CLOSE,
	                      .time = l->deadline,
	                      .student = l->student,
	                      .region = l->region,
	                      .cls = l->cls,
	                      .rule = l->rule,
	                      .enforced = enforced,
	                      .reason = reason,
	                      .path = l->path};

	l->end_pending = false;
	c->rt->sink.emit(c->rt->sink.arg, &ev);
}

/*
 * A lesson response ended at its deadline: the forced_close event says how
 * (at_boundary: the last-chunk went out at a chunk boundary; else the
 * connection was closed). Nothing if no deadline was being enforced.
 */
void
lgd_lesson_ended(struct lgd_conn *c, bool at_boundary)
{
	if (c->lesson.end_pending)
		report_forced_close(
		    c, true, at_boundary ? "stream ended at chunk boundary" : "connection closed");
}

/*
 * The deadline of a lesson tunnel: a WebSocket gets its Close frames, a lesson
 * response ends at a chunk boundary if one comes within the grace
 * (lgd_conn_end_stream) or by closing the connection; the event follows the
 * outcome. Monitor mode reports and ends nothing.
 */
static void
deadline_reached(struct lgd_conn *c)
{
	struct lgd_lesson *l = &c->lesson;
	bool enforce = c->rt->cf->rules.mode == LG_MODE_ENFORCE, ws = c->state == LGD_CONN_TUNNEL;
	uint16_t code = l->rule == LG_RULE_DAY_END ? 4002 : 4001;
	char reason[64];

	l->fired = true;
	if (ws) {
		snprintf(reason, sizeof(reason), "websocket close %u", code);
		report_forced_close(c, enforce, reason);
		if (enforce)
			lgd_conn_close_tunnel(c, code, lg_rule_name(l->rule));
		return;
	}
	if (!enforce) {
		report_forced_close(c, false, "response not ended (monitor mode)");
		return;
	}
	l->end_pending = true;
	if (lgd_conn_end_stream(c, lg_rule_name(l->rule)) != 0)
		lgd_conn_close(c, "lesson deadline");
}

/* The lesson timer: a tunnel's deadline, or the status stream's tick. */
static void
lesson_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lgd_conn *c = arg;
	struct lgd_lesson *l = &c->lesson;

	if (c->sse != NULL) {
		lgd_status_tick(c);
	} else if (l->tunnel && !l->fired && l->deadline > 0) {
		/* The event loop's clock is monotonic; the deadline is wall-clock time. */
		if (lgd_now_us() < l->deadline * 1000000)
			lgd_lesson_timer(c, l->deadline * 1000000);
		else
			deadline_reached(c);
	}
	lgd_conn_flush(c);
}

/* The exchange's lesson activity lasts until it ends: take a lease, arm the deadline. */
static void
hold(struct lgd_conn *c)
{
	struct lgd_lesson *l = &c->lesson;

	/* A store that is down takes no lease: the deadline below still ends the tunnel. */
	if (lg_store_lease_open(lgd_store, l->student, l->student_len, lgd_now_us() / 1000000,
	                        &l->lease) != 0)
		l->lease.id = 0;
	l->tunnel = true;
	lg_ctr_add(&lgd_metrics->c.tunnels_opened[l->cls], 1);
	if (l->deadline <= 0)
		return;
	l->rule = lgd_deadline_rule(c->rt->cf, l->cls, l->start, l->deadline);
	lgd_lesson_timer_init(c);
	lgd_lesson_timer(c, l->deadline * 1000000);
	lgd_debug("lesson tunnel open", "worker=%d peer=%s deadline=%lld rule=%s", c->w->id,
	          c->peer, (long long)l->deadline, lg_rule_name(l->rule));
}

/*
 * A final response head to the current exchange: a 101, or any response with
 * a body (Content-Length, chunked or until close), to an allowed lesson is
 * lesson activity until it completes: an open lesson tunnel with the lesson's
 * deadline. A 101 holds at once. A response with a body is only marked
 * pending: most end in the read that began them, and those need no lease,
 * no timer and no store operation (lgd_lesson_finish records the activity
 * until their end if it ran into a later second); one still running when the
 * read is done holds then (lgd_lesson_outlived).
 */
void
lgd_lesson_response(struct lgd_conn *c, const struct lg_http_response *res,
                    const struct lg_http_header *h, size_t n)
{
	struct lgd_lesson *l = &c->lesson;

	if (!l->active || l->tunnel || l->pending || (res->status < 200 && res->status != 101))
		return;
	if (res->status == 101)
		hold(c);
	else
		l->pending = true;
}

/* The read that began a lesson response is done and the response goes on: hold now. */
void
lgd_lesson_outlived(struct lgd_conn *c)
{
	if (c->lesson.pending) {
		c->lesson.pending = false;
		hold(c);
	}
}

/* The exchange is over (for any reason): an open lesson tunnel closes, timers stop. */
void
lgd_lesson_finish(struct lgd_conn *c)
{
	struct lgd_lesson *l = &c->lesson;

	if (c->lesson_timer)
		evtimer_del(c->lesson_timer);
	lgd_lesson_ended(c, false);
	if (l->pending) {
		/*
		 * A response that ended in the read that began it: the decision
		 * recorded activity until its second; a later second is recorded
		 * as a lease over the last second, opened and closed at once.
		 */
		int64_t now = lgd_now_us() / 1000000;
		struct lg_lease lease;

		l->pending = false;
		if (now > l->since && lg_store_lease_open(lgd_store, l->student, l->student_len,
		                                          now - 1, &lease) == 0)
			lg_store_lease_close(lgd_store, c->rt->cf->policy, l->student,
			                     l->student_len, l->cls, now, &lease);
	}
	if (l->tunnel) {
		lg_store_lease_close(lgd_store, c->rt->cf->policy, l->student, l->student_len,
		                     l->cls, lgd_now_us() / 1000000, &l->lease);
		lg_ctr_add(&lgd_metrics->c.tunnels_closed[l->cls], 1);
		l->tunnel = false;
	}
	l->active = false;
}

/*
 * Each worker tick: if the wall clock stepped against the monotonic clock the
 * loop's timers run on (an NTP correction, an operator), every wall-clock
 * timer (lesson deadlines, status-stream ticks) is run now and re-armed from
 * the new wall clock, whichever way the step went.
 */
void
lgd_lesson_clock_check(struct lgd_worker *w)
{
	int64_t skew = lgd_now_us() - lgd_mono_us(), step = skew - w->clock_skew;
	struct lgd_conn *c;

	if (w->clock_skew != 0 && step > -LGD_CLOCK_STEP_US && step < LGD_CLOCK_STEP_US)
		return;
	if (w->clock_skew != 0)
		lgd_info("wall clock stepped, re-arming lesson timers", "worker=%d step_ms=%lld",
		         w->id, (long long)(step / 1000));
	w->clock_skew = skew;
	TAILQ_FOREACH(c, &w->conns, link)
	if (c->lesson_timer && evtimer_pending(c->lesson_timer, NULL))
		event_active(c->lesson_timer, EV_TIMEOUT, 1);
}

/* Create the lesson timer if the connection has none yet. */
void
lgd_lesson_timer_init(struct lgd_conn *c)
{
	if (c->lesson_timer == NULL)
		c->lesson_timer = evtimer_new(c->w->base, lesson_timer_cb, c);
}

/* Each worker tick: every LG_LEASE_RENEW seconds, renew the leases of open lesson tunnels. */
void
lgd_lesson_renew(struct lgd_worker *w)
{
	int64_t now = lgd_now_us() / 1000000;
	struct lgd_conn *c;

	if (now < w->lease_renew_at && w->lease_renew_at - now <= LG_LEASE_RENEW)
		return; /* (a wall clock stepped back renews at once) */
	w->lease_renew_at = now + LG_LEASE_RENEW;
	TAILQ_FOREACH(c, &w->conns, link)
	if (c->lesson.tunnel)
		lg_store_lease_renew(lgd_store, c->lesson.student, c->lesson.student_len, now,
		                     &c->lesson.lease);
}
