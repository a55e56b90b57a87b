/* /.well-known/lessongate/status: the student's status as JSON, or as a stream of events. */
#include "conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "caps.h"
#include "log.h"

/* The warning before the last one comes this long before the deadline. */
#define LAST_WARNING 60
/* A comment line keeps proxies and browsers from timing the stream out. */
#define PING_INTERVAL 15

/* A status event stream: the student it follows and where that student's lesson is. */
struct lgd_sse {
	struct lg_identity id;
	int64_t deadline; /* the lesson being followed (unix time); 0 if none */
	int64_t ended;    /* the deadline an `ended` event was last sent for */
	enum lg_class cls;
	enum lg_rule rule;
	bool warned_before; /* the warn_before warning went out */
	bool warned_last;   /* the one-minute warning went out */
	int64_t last_write; /* unix time of the last event or ping */
	bool counted;       /* counted in limits.max_event_streams_per_student */
};

/* The client asked for the event stream: Accept: text/event-stream, or ?stream=1. */
static bool
wants_stream(const struct lg_gate_request *gr)
{
	const struct lg_http_str *p = &gr->req->path;
	const char *q = memchr(p->p, '?', p->len);
	ssize_t a = lg_http_find_header(gr->headers, gr->nheaders, 0, "accept");

	if (a >= 0 &&
	    memmem(gr->headers[a].value, gr->headers[a].value_len, "text/event-stream", 17) != NULL)
		return true;
	for (const char *s = q, *end = p->p + p->len; s != NULL && s < end;) {
		const char *amp;
		s++;
		amp = memchr(s, '&', (size_t)(end - s));
		if ((amp ? amp : end) - s == 8 && memcmp(s, "stream=1", 8) == 0)
			return true;
		s = amp;
	}
	return false;
}

/*
 * The student's current lesson at now, decided on a copy of the state (nothing
 * changes): 1 with its class, deadline and rule, 0 if none is running.
 */
static int
current_lesson(const struct lgd_runtime *rt, const struct lg_identity *id, int64_t now,
               enum lg_class *cls, int64_t *deadline, enum lg_rule *rule)
{
	struct lg_student_state st;
	int64_t best = 0, start = 0;

	if (lg_store_snapshot(lgd_store, id->student, id->student_len, now, &st) <= 0)
		return 0;
	if (st.start == 0)
		return 0;
	for (int k = 0; k < LG_LESSON_CLASSES; k++) {
		struct lg_student_state copy = st;
		struct lg_decision d;
		lg_policy_decide(rt->cf->policy, &copy, (enum lg_class)k, id->region, now, &d);
		if (d.rule != LG_RULE_NONE || d.new_lesson)
			continue;
		if (best == 0 || d.deadline < best) {
			best = d.deadline;
			start = copy.start;
			*cls = (enum lg_class)k;
		}
	}
	if (best == 0)
		return 0;
	*deadline = best;
	*rule = lgd_deadline_rule(rt->cf, *cls, start, best);
	return 1;
}

/* One event of the stream: "event: NAME\ndata: {...}\n\n". */
static void
send_event(struct lgd_conn *c, const char *name, const char *data, size_t len, int64_t now)
{
	struct evbuffer *out = bufferevent_get_output(c->down.bev);

	evbuffer_add_printf(out, "event: %s\ndata: ", name);
	evbuffer_add(out, data, len);
	evbuffer_add(out, "\n\n", 2);
	c->sse->last_write = now;
}

/* A warning or ended event about the followed lesson. */
static void
lesson_event(struct lgd_conn *c, const char *name, int64_t now, int warn)
{
	struct lgd_sse *s = c->sse;
	const struct lg_config *cf = c->rt->cf;
	char when[32], data[320];
	int n;

	lg_format_rfc3339(s->deadline, cf->tz, when);
	n = snprintf(data, sizeof(data),
	             "{\"class\":\"%s\",\"rule\":\"%s\",\"remaining\":%lld,\"deadline\":\"%s\","
	             "\"deadline_unix\":%lld",
	             lg_class_name(s->cls), lg_rule_name(s->rule),
	             (long long)(s->deadline > now ? s->deadline - now : 0), when,
	             (long long)s->deadline);
	if (warn > 0)
		n += snprintf(data + n, sizeof(data) - (size_t)n, ",\"warn_before\":%d", warn);
	n += snprintf(data + n, sizeof(data) - (size_t)n, "}");
	send_event(c, name, data, (size_t)n, now);
}

/*
 * Look at the student's lesson again: `ended` at the deadline, warnings when
 * the time left first drops to warn_before and to one minute (one event if
 * both are crossed at once), pings when quiet; then tick again at the next
 * whole second of the wall clock.
 */
void
lgd_status_tick(struct lgd_conn *c)
{
	struct lgd_sse *s = c->sse;
	int64_t now_us = lgd_now_us(), now = now_us / 1000000, deadline;
	int32_t warn_before = c->rt->cf->rules.warn_before;
	enum lg_class cls;
	enum lg_rule rule;

	if (c->state != LGD_CONN_EVENTS)
		return;
	/* A stream lasts long: each tick follows the newest configuration (rules, calendars). */
	if (lgd_conn_adopt_runtime(c) != 0) {
		lgd_conn_closing(c, "listener removed by a reload");
		return;
	}
	warn_before = c->rt->cf->rules.warn_before;
	if (s->deadline && now >= s->deadline) {
		lesson_event(c, "ended", now, 0);
		s->ended = s->deadline;
		s->deadline = 0;
	}
	if (current_lesson(c->rt, &s->id, now, &cls, &deadline, &rule) && deadline != s->deadline &&
	    deadline != s->ended) {
		/* A new lesson (or the first one seen): its warnings are still to come. */
		s->deadline = deadline;
		s->cls = cls;
		s->rule = rule;
		s->warned_before = s->warned_last = false;
	}
	if (s->deadline) {
		int64_t left = s->deadline - now;
		if (left <= LAST_WARNING && !s->warned_last) {
			lesson_event(c, "warning", now, LAST_WARNING);
			s->warned_last = s->warned_before = true;
		} else if (left <= warn_before && !s->warned_before) {
			lesson_event(c, "warning", now, warn_before);
			s->warned_before = true;
		}
	}
	if (now - s->last_write >= PING_INTERVAL) {
		evbuffer_add(bufferevent_get_output(c->down.bev), ": ping\n\n", 8);
		s->last_write = now;
	}
	/* 1 ms past the next second, so that second's thresholds are already crossed. */
	lgd_lesson_timer(c, (now + 1) * 1000000 + 1000);
}

/* The stream ends with its connection: free it and give its slot back. */
void
lgd_status_end(struct lgd_conn *c)
{
	if (c->sse && c->sse->counted)
		lgd_limit_streams_release(c->sse->id.student, c->sse->id.student_len);
	free(c->sse);
	c->sse = NULL;
}

/* 429: the student has limits.max_event_streams_per_student streams open already. */
static void
refuse_stream(struct lgd_conn *c, size_t head_len, bool keep, int64_t max)
{
	struct evbuffer *out = bufferevent_get_output(c->down.bev);
	char body[256];
	int n = snprintf(body, sizeof(body),
	                 "{\"error\":\"too_many_streams\",\"reason\":\"this student already has "
	                 "%lld status event streams open (limits.max_event_streams_per_student); "
	                 "close one first\",\"limit\":%lld}\n",
	                 (long long)max, (long long)max);

	lgd_log_count(LGD_COUNT_STREAMS);
	evbuffer_add_printf(out,
	                    "HTTP/1.1 429 Too Many Requests\r\n"
	                    "Content-Type: application/json; charset=utf-8\r\n"
	                    "Content-Length: %d\r\nCache-Control: no-store\r\n%s\r\n%s",
	                    n, keep ? "" : "Connection: close\r\n", body);
	lgd_proxy_answered(c, head_len, keep, "status: too many streams");
}

/* Turn the connection into an event stream for one student (within the per-student cap). */
static void
start_stream(struct lgd_conn *c, const struct lg_identity *id, bool head_only, size_t head_len,
             int64_t now, bool keep)
{
	struct lgd_worker *w = c->w;
	struct evbuffer *out = bufferevent_get_output(c->down.bev);
	int64_t max = c->rt->cf->limits.max_event_streams_per_student;
	size_t len;

	if (!head_only && max > 0 &&
	    !lgd_limit_streams_acquire(id->student, id->student_len, max)) {
		refuse_stream(c, head_len, keep, max);
		return;
	}

	evbuffer_add_printf(out,
	                    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream; charset=utf-8\r\n"
	                    "Cache-Control: no-store\r\nX-Accel-Buffering: no\r\n"
	                    "Connection: close\r\n\r\n");
	if (head_only) {
		lgd_proxy_answered(c, head_len, false, "status stream (HEAD)");
		return;
	}
	evbuffer_drain(bufferevent_get_input(c->down.bev), head_len);
	c->res_started = true;
	c->close_after = true;
	c->down.st = c->up.st = LGD_HALF_DONE;
	lgd_conn_timer(c, 0);
	lgd_conn_release_upstream(c); /* a clean one goes back to the pool */
	lgd_conn_set_state(c, LGD_CONN_EVENTS);
	c->sse = lg_xcalloc(1, sizeof(*c->sse));
	c->sse->id = *id;
	c->sse->counted = max > 0;
	w->out.len = 0;
	lg_gate_status_json(c->rt->gate, lgd_store, id, now, &w->out);
	len = w->out.len;
	while (len > 0 && w->out.data[len - 1] == '\n')
		len--;
	send_event(c, "status", w->out.data, len, now);
	lgd_lesson_timer_init(c);
	lgd_status_tick(c);
}

/* Answer the status endpoint: 401 without an identity, else the JSON document or the stream. */
void
lgd_status_answer(struct lgd_conn *c, const struct lg_gate_request *gr, size_t head_len,
                  int64_t now)
{
	struct lgd_worker *w = c->w;
	struct evbuffer *out = bufferevent_get_output(c->down.bev);
	bool keep = lgd_lesson_keep_alive(c, gr->req), head = gr->req->method == LG_HTTP_HEAD;
	struct lg_identity id;
	char reason[96];

	if (gr->req->method != LG_HTTP_GET && !head) {
		static const char body[] = "{\"error\":\"method_not_allowed\",\"reason\":\"the "
		                           "status is read with GET\"}\n";
		evbuffer_add_printf(out,
		                    "HTTP/1.1 405 Method Not Allowed\r\nAllow: GET, HEAD\r\n"
		                    "Content-Type: application/json; charset=utf-8\r\n"
		                    "Content-Length: %zu\r\nCache-Control: no-store\r\n%s\r\n%s",
		                    sizeof(body) - 1, keep ? "" : "Connection: close\r\n", body);
		lgd_proxy_answered(c, head_len, keep, "status: method not allowed");
		return;
	}
	if (lg_gate_identify(c->rt->gate, gr, now, &id, reason, sizeof(reason)) <= 0) {
		struct lg_gate_verdict v;
		memset(&v, 0, sizeof(v));
		v.action = LG_GATE_REFUSE;
		v.status = 401;
		v.cls = LG_CLASS_FREE;
		snprintf(v.reason, sizeof(v.reason), "%s", reason);
		w->out.len = 0;
		lg_gate_refusal(c->rt->gate, &v, now, gr, keep, &w->out);
		evbuffer_add(out, w->out.data, w->out.len);
		lgd_proxy_answered(c, head_len, keep, "status: no identity");
		return;
	}
	if (wants_stream(gr)) {
		start_stream(c, &id, head, head_len, now, keep);
		return;
	}
	w->out.len = 0;
	lg_gate_status_json(c->rt->gate, lgd_store, &id, now, &w->out);
	evbuffer_add_printf(out,
	                    "HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\n"
	                    "Content-Length: %zu\r\nCache-Control: no-store\r\n%s\r\n",
	                    w->out.len, keep ? "" : "Connection: close\r\n");
	if (!head)
		evbuffer_add(out, w->out.data, w->out.len);
	lgd_proxy_answered(c, head_len, keep, "status answered");
}
