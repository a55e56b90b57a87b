/* The gate: from a parsed request to a verdict (who, which class, allowed, what to strip). */
#include "gate.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "path.h"

struct lg_gate {
	const struct lg_config *cf;
	struct lg_jwt_verifier *jwt;
	struct lg_cidr_set *trusted;
	char **sources;
	size_t nsources;
	size_t *strip_len;   /* strlen of each upstream.strip_request_headers name */
	size_t forward_len;  /* strlen(identity.forward_header) */
	size_t identity_len; /* strlen(identity.header.name), 0 without one */
};

static const char *const default_sources[] = {"header:Authorization", "cookie:lg_token",
                                              "query:access_token"};

/* A gate over a loaded configuration; keys and networks are loaded here. */
struct lg_gate *
lg_gate_new(const struct lg_config *cf, struct lg_errors *errs)
{
	struct lg_gate *g = lg_xcalloc(1, sizeof(*g));
	const struct lg_identity_conf *id = &cf->identity;
	char err[512];
	size_t before = errs->count;

	g->cf = cf;
	if (id->jwt_enabled) {
		struct lg_jwt_opts o = {
		    .keys = id->jwt.keys,
		    .algorithms = id->jwt.algorithms,
		    .nalgorithms = id->jwt.nalgorithms,
		    .student_claim = id->jwt.student_claim,
		    .region_claim = id->jwt.region_claim,
		    .issuer = id->jwt.issuer,
		    .audience = id->jwt.audience,
		    .leeway = id->jwt.leeway_s,
		};
		if ((g->jwt = lg_jwt_verifier_new(&o, err, sizeof(err))) == NULL)
			lg_errors_add(errs, cf->file, 0, "identity.jwt.keys: %s", err);
		if (id->jwt.nsources) {
			g->sources = id->jwt.sources;
			g->nsources = id->jwt.nsources;
		} else {
			g->sources = (char **)default_sources;
			g->nsources = sizeof(default_sources) / sizeof(default_sources[0]);
		}
	}
	if (id->header_enabled) {
		g->trusted = lg_cidr_set_new();
		for (size_t i = 0; i < id->ntrusted_peers; i++)
			if (lg_cidr_set_add(g->trusted, id->trusted_peers[i], err, sizeof(err)) !=
			    0)
				lg_errors_add(errs, cf->file, 0,
				              "identity.header.trusted_peers: %s", err);
	}
	g->forward_len = strlen(cf->identity.forward_header);
	g->identity_len = id->header_enabled ? strlen(id->header_name) : 0;
	g->strip_len = lg_xcalloc(cf->upstream.nstrip_request_headers + 1, sizeof(size_t));
	for (size_t i = 0; i < cf->upstream.nstrip_request_headers; i++)
		g->strip_len[i] = strlen(cf->upstream.strip_request_headers[i]);
	if (errs->count != before) {
		lg_gate_free(g);
		return NULL;
	}
	return g;
}

/* The verified-token cache's hits and misses (0 and 0 without JWT identity). */
void
lg_gate_jwt_cache_stats(const struct lg_gate *g, uint64_t *hits, uint64_t *misses)
{
	*hits = *misses = 0;
	if (g->jwt)
		lg_jwt_cache_stats(g->jwt, hits, misses);
}

/* Free the gate (not the configuration). */
void
lg_gate_free(struct lg_gate *g)
{
	if (g == NULL)
		return;
	lg_jwt_verifier_free(g->jwt);
	lg_cidr_set_free(g->trusted);
	free(g->strip_len);
	free(g);
}

/* The configuration the gate was made for. */
const struct lg_config *
lg_gate_config(const struct lg_gate *g)
{
	return g->cf;
}

/* Index of the only header called name; -1 if none, -2 if more than one. */
static ssize_t
only_header(const struct lg_gate_request *r, const char *name)
{
	ssize_t i = lg_http_find_header(r->headers, r->nheaders, 0, name);

	if (i < 0)
		return -1;
	if (lg_http_find_header(r->headers, r->nheaders, (size_t)i + 1, name) >= 0)
		return -2;
	return i;
}

/* An id from a trusted header: printable, not empty, not too long. */
static bool
valid_student(const char *s, size_t n)
{
	if (n == 0 || n > LG_JWT_STUDENT_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f)
			return false;
	return true;
}

/* Whether the peer may set the identity header (identity.header.trusted_peers). */
static bool
peer_trusted(const struct lg_gate *g, const struct lg_gate_request *r)
{
	return g->cf->identity.header_enabled && r->peer != NULL &&
	       lg_cidr_set_match(g->trusted, r->peer);
}

/* The identity header from a trusted peer: 1 found, 0 none, -1 invalid (reason set). */
static int
identify_header(struct lg_gate *g, const struct lg_gate_request *r, struct lg_identity *id,
                char *reason, size_t rlen)
{
	ssize_t i = only_header(r, g->cf->identity.header_name);

	if (i == -1)
		return 0;
	if (i == -2) {
		snprintf(reason, rlen, "more than one identity header");
		return -1;
	}
	if (!valid_student(r->headers[i].value, r->headers[i].value_len)) {
		snprintf(reason, rlen, "invalid identity header");
		return -1;
	}
	memcpy(id->student, r->headers[i].value, r->headers[i].value_len);
	id->student[r->headers[i].value_len] = '\0';
	id->student_len = r->headers[i].value_len;
	id->region = 0;
	id->expires = 0;
	return 1;
}

/* A token from one source: 1 found, 0 not in this source, -1 malformed or ambiguous. */
static int
token_from(const struct lg_gate_request *r, const char *source, char *qbuf, const char **tok,
           size_t *toklen)
{
	if (strncmp(source, "header:", 7) == 0) {
		ssize_t i = only_header(r, source + 7);
		if (i == -1)
			return 0;
		if (i == -2)
			return -1;
		if (strcasecmp(source + 7, "Authorization") == 0)
			return lg_jwt_from_authorization(r->headers[i].value,
			                                 r->headers[i].value_len, tok, toklen);
		*tok = r->headers[i].value;
		*toklen = r->headers[i].value_len;
		return *toklen ? 1 : -1;
	}
	if (strncmp(source, "cookie:", 7) == 0) {
		int found = 0;
		for (ssize_t i = lg_http_find_header(r->headers, r->nheaders, 0, "Cookie"); i >= 0;
		     i = lg_http_find_header(r->headers, r->nheaders, (size_t)i + 1, "Cookie")) {
			const char *t;
			size_t tl;
			int rc = lg_jwt_from_cookie(r->headers[i].value, r->headers[i].value_len,
			                            source + 7, &t, &tl);
			if (rc < 0 || (rc == 1 && found && (tl != *toklen || memcmp(t, *tok, tl))))
				return -1;
			if (rc == 1) {
				found = 1;
				*tok = t;
				*toklen = tl;
			}
		}
		return found;
	}
	if (strncmp(source, "query:", 6) == 0) {
		const char *p = r->req->path.p, *q = memchr(p, '?', r->req->path.len);
		int rc;
		if (q == NULL)
			return 0;
		rc = lg_jwt_from_query(q + 1, r->req->path.len - (size_t)(q + 1 - p), source + 6,
		                       qbuf, LG_JWT_MAX_TOKEN + 1, toklen);
		*tok = qbuf;
		return rc;
	}
	return 0;
}

/* The field a source reads its credential from ("Cookie" for cookies), or NULL (the query). */
static const char *
source_field(const char *source)
{
	if (strncmp(source, "header:", 7) == 0)
		return source + 7;
	if (strncmp(source, "cookie:", 7) == 0)
		return "Cookie";
	return NULL;
}

/* Whether a Connection header lists field (so it would not reach the origin). */
static bool
hidden_field(const struct lg_gate_request *r, const char *field)
{
	return field != NULL &&
	       lg_http_connection_lists(r->headers, r->nheaders, field, strlen(field));
}

/* The credentials found so far: how many, and whether they agree on one valid identity. */
struct found {
	int count;
	bool have;    /* *id holds the identity the valid ones name */
	bool invalid; /* some credential did not verify (the reason says why) */
	bool disagree;
	bool hidden; /* a field that carried one is listed in Connection */
};

/* Whether the credentials found so far are more than one and not one valid identity. */
static bool
ambiguous(const struct found *f)
{
	return f->count > 1 && (f->invalid || f->disagree);
}

/*
 * Count one more credential, verified (ok) as cur, against the identity found
 * before in *id: the same student, and the same region where both name one (a
 * trusted header names none).
 */
static void
found_one(struct found *f, bool ok, const struct lg_identity *cur, struct lg_identity *id,
          bool hidden)
{
	f->count++;
	f->hidden |= hidden;
	if (!ok) {
		f->invalid = true;
	} else if (!f->have) {
		*id = *cur;
		f->have = true;
	} else if (cur->student_len != id->student_len ||
	           memcmp(cur->student, id->student, cur->student_len) != 0 ||
	           (cur->region != 0 && id->region != 0 && cur->region != id->region)) {
		f->disagree = true;
	} else if (id->region == 0) {
		id->region = cur->region;
	}
}

/* Who the request is from: every source is read, and they must agree. */
int
lg_gate_identify(struct lg_gate *g, const struct lg_gate_request *r, int64_t now,
                 struct lg_identity *id, char *reason, size_t rlen)
{
	char qbuf[LG_JWT_MAX_TOKEN + 1], why[96] = "";
	struct lg_identity cur;
	struct found f = {0};
	int rc;

	if (rlen >= sizeof("missing token")) /* no printf on the hot path */
		memcpy(reason, "missing token", sizeof("missing token"));
	else if (rlen > 0)
		reason[0] = '\0';
	if (peer_trusted(g, r) && (rc = identify_header(g, r, &cur, why, sizeof(why))) != 0)
		found_one(&f, rc > 0, &cur, id, hidden_field(r, g->cf->identity.header_name));
	if (g->jwt == NULL && f.count == 0) {
		snprintf(reason, rlen, "no identity");
		return 0;
	}
	for (size_t s = 0; g->jwt != NULL && s < g->nsources && !ambiguous(&f); s++) {
		const char *tok = NULL;
		size_t toklen = 0;

		rc = token_from(r, g->sources[s], qbuf, &tok, &toklen);
		if (rc == 0)
			continue;
		if (rc < 0)
			snprintf(why, sizeof(why), "malformed or ambiguous token");
		/* Reasons are fixed strings of lib/jwt, never token text. */
		else if (lg_jwt_verify(g->jwt, tok, toklen, now, &cur, why, sizeof(why)) != 0)
			rc = -1;
		found_one(&f, rc > 0, &cur, id, hidden_field(r, source_field(g->sources[s])));
	}
	if (f.count == 0)
		return 0;
	if (ambiguous(&f) || (f.have && f.hidden)) {
		snprintf(reason, rlen, "%s", LG_GATE_AMBIGUOUS);
		return -1;
	}
	if (f.invalid) {
		snprintf(reason, rlen, "%s", why);
		return -1;
	}
	return 1;
}

/* Whether a field is (or looks like) name, and, when exact_too is false, is not exactly it. */
static bool
alike(const struct lg_http_header *h, const char *name, size_t len, bool exact_too)
{
	if (!lg_http_name_alike(h->name, h->name_len, name, len))
		return false;
	return exact_too || strncasecmp(h->name, name, len) != 0;
}

/* Fields the origin must not get from the client. */
bool
lg_gate_strips(const struct lg_gate *g, const struct lg_gate_verdict *v,
               const struct lg_http_header *h)
{
	const struct lg_config *cf = g->cf;

	if (alike(h, cf->identity.forward_header, g->forward_len, true))
		return true;
	if (g->identity_len > 0 &&
	    alike(h, cf->identity.header_name, g->identity_len, !v->trusted_peer))
		return true;
	for (size_t i = 0; i < cf->upstream.nstrip_request_headers; i++)
		if (h->name_len == g->strip_len[i] &&
		    strncasecmp(h->name, cf->upstream.strip_request_headers[i], h->name_len) == 0)
			return true;
	return false;
}

/* Send one event to the sink, if there is one. */
static void
emit(const struct lg_event_sink *sink, const struct lg_event *ev)
{
	if (sink != NULL && sink->emit != NULL)
		sink->emit(sink->arg, ev);
}

/* Refuse with a status and a short reason. */
static void
refuse(struct lg_gate_verdict *v, int status, const char *reason)
{
	v->action = LG_GATE_REFUSE;
	v->status = status;
	if (reason != v->reason)
		snprintf(v->reason, sizeof(v->reason), "%s", reason);
}

/* Normalise the target into buf: path normalised, query kept as it is. */
static int
normalise_target(const struct lg_http_request *req, char *buf, size_t cap, size_t *pathlen,
                 const char **reason)
{
	const char *p = req->path.p, *q;
	size_t len = req->path.len, plen;
	ssize_t n;

	if (len == 0) {
		p = "/";
		len = 1;
	}
	q = memchr(p, '?', len);
	plen = q ? (size_t)(q - p) : len;
	if (cap < len + 2) {
		*reason = "request target too long";
		return -1;
	}
	if ((n = lg_path_normalise(p, plen, buf, cap, reason)) < 0)
		return -1;
	*pathlen = (size_t)n;
	memcpy(buf + n, p + plen, len - plen);
	buf[(size_t)n + len - plen] = '\0';
	return (int)((size_t)n + len - plen);
}

/* Commit a store's answer: the verdict, then the events of the committed decision. */
void
lg_gate_commit(struct lg_gate *g, struct lg_gate_verdict *v, int64_t now,
               const struct lg_store_result *r, const struct lg_event_sink *sink)
{
	struct lg_event ev = {.time = now,
	                      .student = v->id.student,
	                      .region = v->id.region,
	                      .cls = v->cls,
	                      .path = v->target};

	if (r == NULL || r->status != LG_STORE_OK) {
		memset(&v->d, 0, sizeof(v->d));
		refuse(v, 503, LG_GATE_STORE_DOWN);
		return;
	}
	if (!r->clock_only)
		v->d = r->d;
	else if (lg_policy_decide_day(g->cf->policy, v->cls, v->id.region, now, &v->d))
		lg_policy_decide_finish(g->cf->policy, v->cls, v->id.region, now, &r->clock, &v->d);
	if (v->d.ended_start != 0) {
		ev.type = LG_EV_LESSON_END;
		ev.start = v->d.ended_start;
		ev.end = v->d.ended_last;
		emit(sink, &ev);
	}
	if (v->d.new_lesson) {
		ev.type = LG_EV_LESSON_START;
		ev.start = now;
		ev.end = 0;
		emit(sink, &ev);
	}
	if (v->d.rule != LG_RULE_NONE) {
		ev.type = LG_EV_DENY;
		ev.rule = v->d.rule;
		ev.enforced = v->d.enforced;
		emit(sink, &ev);
	}
	if (v->d.allow) {
		v->action = LG_GATE_ALLOW;
	} else {
		v->action = LG_GATE_REFUSE;
		v->status = lg_refusal_status(v->d.rule);
	}
}

/* The query for the store of a prepared lesson request. */
void
lg_gate_query(const struct lg_gate *g, const struct lg_gate_verdict *v, int64_t now,
              struct lg_store_query *q)
{
	q->policy = g->cf->policy;
	q->student = v->id.student;
	q->student_len = v->id.student_len;
	q->cls = v->cls;
	q->region = v->id.region;
	q->now = now;
}

/*
 * The class of the normalised path (pathlen bytes at the start of buf, the
 * target after it): that of the path or, when that is free, of its canonical
 * form, written past the target. -1 with a reason if the path has no
 * canonical form or buf is too small.
 */
static int
classify(const struct lg_gate *g, struct lg_gate_verdict *v, char *buf, size_t pathlen, size_t cap,
         const char *method, const char **reason)
{
	char *canon = buf + v->target_len + 1;
	ssize_t n;

	if (cap < v->target_len + 1 + pathlen + 1) {
		*reason = "request target too long";
		return -1;
	}
	if ((n = lg_path_canonical(buf, pathlen, canon, pathlen + 1, reason)) < 0)
		return -1;
	v->cls = lg_config_classify(g->cf, buf, pathlen, method);
	if (v->cls == LG_CLASS_FREE) /* fail closed: any reading that is a lesson makes one */
		v->cls = lg_config_classify_canonical(g->cf, canon, (size_t)n, method);
	return 0;
}

/* Normalise, classify and identify one request; a lesson request is left to decide. */
void
lg_gate_prepare(struct lg_gate *g, const struct lg_gate_request *r, int64_t now, char *target_buf,
                size_t target_cap, const struct lg_event_sink *sink, struct lg_gate_verdict *v)
{
	const struct lg_http_request *req = r->req;
	char method[32];
	size_t pathlen = 0;
	const char *reason = NULL;
	int n;

	memset(v, 0, sizeof(*v));
	v->cls = LG_CLASS_FREE;
	v->target = target_buf;
	v->trusted_peer = peer_trusted(g, r);
	if (req->form == LG_HTTP_AUTHORITY_FORM) {
		refuse(v, 405, "CONNECT is not served by a reverse proxy");
		return;
	}
	if (req->form == LG_HTTP_ASTERISK_FORM) {
		snprintf(target_buf, target_cap, "*");
		v->target_len = 1;
		return; /* OPTIONS *: about the server, never a lesson */
	}
	if ((n = normalise_target(req, target_buf, target_cap, &pathlen, &reason)) < 0) {
		refuse(v, 400, reason);
		return;
	}
	v->target_len = (size_t)n;
	if (pathlen == sizeof(LG_GATE_STATUS_PATH) - 1 &&
	    memcmp(target_buf, LG_GATE_STATUS_PATH, pathlen) == 0) {
		v->action = LG_GATE_STATUS; /* never a lesson, never forwarded */
		return;
	}
	if (pathlen == sizeof(LG_GATE_CALENDAR_PATH) - 1 &&
	    memcmp(target_buf, LG_GATE_CALENDAR_PATH, pathlen) == 0) {
		v->action = LG_GATE_CALENDAR;
		return;
	}
	n = req->method_name.len < sizeof(method) - 1 ? (int)req->method_name.len
	                                              : (int)sizeof(method) - 1;
	memcpy(method, req->method_name.p, (size_t)n);
	method[n] = '\0';
	if (classify(g, v, target_buf, pathlen, target_cap, method, &reason) < 0) {
		refuse(v, 400, reason);
		return;
	}
	if (v->cls == LG_CLASS_FREE)
		return; /* free routes verify no token (lg_gate_strips still applies) */
	if (lg_gate_identify(g, r, now, &v->id, v->reason, sizeof(v->reason)) <= 0) {
		struct lg_event ev = {.type = LG_EV_UNIDENTIFIED,
		                      .time = now,
		                      .cls = v->cls,
		                      .reason = v->reason,
		                      .path = target_buf,
		                      .peer = r->peer};
		emit(sink, &ev);
		refuse(v, 401, v->reason);
		return;
	}
	v->identified = true;
	v->action = LG_GATE_DECIDE;
}

/* Where lg_gate_check's synchronous decide leaves its answer. */
struct sync_answer {
	bool done;
	struct lg_store_result r;
};

/* Keep the answer of a synchronous decide. */
static void
sync_done(void *arg, uint64_t tag, const struct lg_store_result *r)
{
	struct sync_answer *a = arg;

	(void)tag;
	a->r = *r;
	a->done = true;
}

/* prepare + decide + commit, for a store that answers before decide returns. */
void
lg_gate_check(struct lg_gate *g, struct lg_store *store, const struct lg_gate_request *r,
              int64_t now, char *target_buf, size_t target_cap, const struct lg_event_sink *sink,
              struct lg_gate_verdict *v)
{
	struct lg_store_query q;
	struct sync_answer a = {0};

	lg_gate_prepare(g, r, now, target_buf, target_cap, sink, v);
	if (v->action != LG_GATE_DECIDE)
		return;
	lg_gate_query(g, v, now, &q);
	if (store->synchronous)
		lg_store_decide(store, &q, sync_done, &a, 0);
	lg_gate_commit(g, v, now, a.done ? &a.r : NULL, sink);
}

/* Remaining time and deadline of an allowed lesson; a monitored violation says so. */
void
lg_gate_allow_headers(const struct lg_gate *g, const struct lg_gate_verdict *v, struct lg_buf *b)
{
	char when[32], digits[24];
	size_t n;
	uint64_t r;

	if (v->action != LG_GATE_ALLOW || v->cls == LG_CLASS_FREE)
		return;
	if (v->d.rule != LG_RULE_NONE) {
		lg_buf_printf(b, "Lessongate-Remaining: 0\r\nLessongate-Violation: %s\r\n",
		              lg_rule_name(v->d.rule));
		return;
	}
	/* No printf: these two fields go on every allowed response. */
	LG_BUF_LIT(b, "Lessongate-Remaining: ");
	n = sizeof(digits);
	r = v->d.remaining > 0 ? (uint64_t)v->d.remaining : 0;
	do
		digits[--n] = (char)('0' + r % 10);
	while ((r /= 10) != 0);
	lg_buf_add(b, digits + n, sizeof(digits) - n);
	LG_BUF_LIT(b, "\r\nLessongate-Deadline: ");
	lg_format_rfc3339(v->d.deadline, g->cf->tz, when);
	lg_buf_add(b, when, strlen(when));
	LG_BUF_LIT(b, "\r\n");
}

/* The reason phrase of the statuses the gate answers with. */
static const char *
status_text(int status)
{
	switch (status) {
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 405:
		return "Method Not Allowed";
	case 429:
		return "Too Many Requests";
	case 451:
		return "Unavailable For Legal Reasons";
	case 503:
		return "Service Unavailable";
	default:
		return "Error";
	}
}

/* The body of a 400/401/405: {"error": ..., "reason": ...}. */
static void
simple_body(const struct lg_gate_verdict *v, struct lg_buf *body)
{
	const char *err = v->status == 401   ? "unauthorized"
	                  : v->status == 405 ? "method_not_allowed"
	                  : v->status == 503 ? "unavailable"
	                                     : "bad_request";

	lg_buf_printf(body, "{\"error\":\"%s\",\"reason\":", err);
	lg_buf_json_str(body, v->reason);
	LG_BUF_LIT(body, "}\n");
}

/* The RFC 6750 error of a 401: none without a token, invalid_request for several (§3.1). */
static const char *
bearer_error(const char *reason)
{
	if (strcmp(reason, LG_GATE_AMBIGUOUS) == 0)
		return ", error=\"invalid_request\"";
	if (strcmp(reason, "missing token") == 0 || strcmp(reason, "no identity") == 0)
		return "";
	return ", error=\"invalid_token\"";
}

/* A whole refusal response. */
void
lg_gate_refusal(const struct lg_gate *g, const struct lg_gate_verdict *v, int64_t now,
                const struct lg_gate_request *r, bool keep_alive, struct lg_buf *out)
{
	struct lg_buf body = {0};
	bool html = false, rules = v->status == 429 || v->status == 451;
	ssize_t a = lg_http_find_header(r->headers, r->nheaders, 0, "Accept");

	if (rules) {
		struct lg_refusal rf = {.d = &v->d,
		                        .cls = v->cls,
		                        .rules = &g->cf->rules.cls[v->cls],
		                        .tz = g->cf->tz,
		                        .regulation_url = g->cf->regulation_url,
		                        .now = now};
		html =
		    a >= 0 && lg_accept_prefers_html(r->headers[a].value, r->headers[a].value_len);
		if (html)
			lg_render_refusal_html(&body, &rf);
		else
			lg_render_refusal_json(&body, &rf);
	} else if (v->status == 401 && a >= 0 &&
	           lg_accept_prefers_html(r->headers[a].value, r->headers[a].value_len)) {
		html = true;
		lg_render_unauthorized_html(&body, g->cf->identity.login_url, v->reason);
	} else {
		simple_body(v, &body);
	}
	lg_buf_printf(out, "HTTP/1.1 %d %s\r\nContent-Type: %s; charset=utf-8\r\n", v->status,
	              status_text(v->status), html ? "text/html" : "application/json");
	lg_buf_printf(out, "Content-Length: %zu\r\nCache-Control: no-store\r\n", body.len);
	if (rules || v->status == 401)
		LG_BUF_LIT(out, "Vary: Accept\r\n");
	if (rules) {
		lg_buf_printf(out, "Lessongate-Rule: %s\r\n", lg_rule_name(v->d.rule));
		if (v->d.retry_at > 0)
			lg_buf_printf(out, "Retry-After: %lld\r\n", (long long)v->d.retry_after);
	}
	if (v->status == 451)
		lg_buf_printf(out, "Link: <%s>; rel=\"blocked-by\"\r\n", g->cf->regulation_url);
	if (v->status == 401)
		lg_buf_printf(out, "WWW-Authenticate: Bearer realm=\"lessongate\"%s\r\n",
		              bearer_error(v->reason));
	if (v->status == 503)
		lg_buf_printf(out, "Retry-After: %d\r\n", LG_GATE_STORE_RETRY);
	if (v->status == 405)
		LG_BUF_LIT(out, "Allow: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS\r\n");
	if (!keep_alive)
		LG_BUF_LIT(out, "Connection: close\r\n");
	LG_BUF_LIT(out, "\r\n");
	if (r->req->method != LG_HTTP_HEAD)
		lg_buf_add(out, body.data, body.len);
	lg_buf_free(&body);
}

/* One class's part of the status document, decided on a copy of the state. */
static void
status_class(const struct lg_gate *g, const struct lg_student_state *st,
             const struct lg_identity *id, enum lg_class cls, int64_t now, struct lg_buf *b)
{
	const struct lg_class_rules *r = &g->cf->rules.cls[cls];
	struct lg_student_state copy = *st;
	struct lg_decision d;
	char when[32];

	lg_policy_decide(g->cf->policy, &copy, cls, id->region, now, &d);
	lg_buf_printf(b,
	              "\"%s\":{\"lesson_max\":%d,\"break_min\":%d,\"day_end\":\"%02d:%02d\","
	              "\"day_start\":\"%02d:%02d\",\"blocked\":%s,",
	              lg_class_name(cls), r->lesson_max, r->break_min, r->day_end / 3600,
	              r->day_end / 60 % 60, r->day_start / 3600, r->day_start / 60 % 60,
	              lg_day_blocked(&d.day, r->blocked_days) ? "true" : "false");
	if (d.rule == LG_RULE_NONE) {
		lg_format_rfc3339(d.deadline, g->cf->tz, when);
		lg_buf_printf(b, "\"allowed\":true,\"remaining\":%lld,\"deadline\":\"%s\"}",
		              (long long)d.remaining, when);
		return;
	}
	lg_buf_printf(b, "\"allowed\":false,\"rule\":\"%s\",", lg_rule_name(d.rule));
	if (d.retry_at > 0) {
		lg_format_rfc3339(d.retry_at, g->cf->tz, when);
		lg_buf_printf(b, "\"retry_after\":%lld,\"retry_at\":\"%s\"}",
		              (long long)d.retry_after, when);
	} else {
		LG_BUF_LIT(b, "\"retry_after\":null,\"retry_at\":null}");
	}
}

/* The status document for one student; nothing is changed. */
void
lg_gate_status_json(const struct lg_gate *g, struct lg_store *store, const struct lg_identity *id,
                    int64_t now, struct lg_buf *b)
{
	const struct lg_config *cf = g->cf;
	struct lg_student_state st = {0};
	struct lg_day day;
	char when[32];
	uint32_t region = id->region ? id->region : cf->calendar_opts.default_region;
	int64_t last;
	bool active;

	if (lg_store_snapshot(store, id->student, id->student_len, now, &st) < 0)
		memset(&st, 0, sizeof(st)); /* shown as unknown: the status never fails for it */
	lg_calendar_day(cf->calendar, lg_day_of(lg_tz_local(cf->tz, now)), id->region, &day);
	lg_format_rfc3339(now, cf->tz, when);
	LG_BUF_LIT(b, "{\"student\":");
	lg_buf_json_str(b, id->student);
	if (region)
		lg_buf_printf(b, ",\"region\":\"%06u\"", region);
	lg_buf_printf(b, ",\"time\":\"%s\",\"timezone\":", when);
	lg_buf_json_str(b, lg_tz_name(cf->tz));
	lg_buf_printf(b, ",\"mode\":\"%s\",\"day\":{\"kind\":\"%s\",\"name\":",
	              cf->rules.mode == LG_MODE_MONITOR ? "monitor" : "enforce",
	              lg_day_kind_name(day.kind));
	if (day.name)
		lg_buf_json_str(b, day.name);
	else
		LG_BUF_LIT(b, "null");
	lg_buf_printf(b, ",\"calendar_known\":%s},", day.unknown_year ? "false" : "true");
	last = st.start + st.last_off;
	active = st.start != 0 &&
	         (lg_policy_tunnels_held(&st, now) || now - last < cf->rules.cls[0].break_min);
	lg_buf_printf(b, "\"lesson\":{\"active\":%s,\"tunnels\":%u", active ? "true" : "false",
	              st.tunnels);
	if (st.start != 0) {
		lg_format_rfc3339(st.start, cf->tz, when);
		lg_buf_printf(b, ",\"start\":\"%s\"", when);
		lg_format_rfc3339(last, cf->tz, when);
		lg_buf_printf(b, ",\"last\":\"%s\"", when);
	}
	lg_buf_printf(b, "},\"warn_before\":%d,\"classes\":{", cf->rules.warn_before);
	status_class(g, &st, id, LG_CLASS_SUBJECT, now, b);
	LG_BUF_LIT(b, ",");
	status_class(g, &st, id, LG_CLASS_NON_SUBJECT, now, b);
	LG_BUF_LIT(b, "},\"regulation\":");
	lg_buf_json_str(b, cf->regulation_url);
	LG_BUF_LIT(b, "}\n");
}

/* Event names as they appear in logs and the audit log. */
const char *
lg_event_name(enum lg_event_type t)
{
	switch (t) {
	case LG_EV_LESSON_START:
		return "lesson_start";
	case LG_EV_LESSON_END:
		return "lesson_end";
	case LG_EV_DENY:
		return "deny";
	case LG_EV_FORCED_CLOSE:
		return "forced_close";
	case LG_EV_UNIDENTIFIED:
		return "unidentified";
	}
	return "unknown";
}
