/*
 * The admin API on its own listener and thread (httpsrv.c): Prometheus
 * metrics, the status, one student's clock, the overview and a month's calendar
 * for the operator page (served at /), and reloads. It reads counters (counters.c) and the runtime
 * in force; the documents are rendered by lib/admin/. A reload it is asked for runs on the main
 * thread (the same code as SIGHUP) and is answered asynchronously: the admin thread never waits for
 * the main thread, and the main thread never joins an admin thread (a replaced listener retires on
 * its own).
 */
#include "admin.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>
#include <unistd.h>

#include "admindoc.h"
#include "adminguard.h"
#include "calendar_json.h"
#include "auditd.h"
#include "auditrec.h"
#include "counters.h"
#include "httpsrv.h"
#include "log.h"
#include "operator_page.h"
#include "store_local.h"
#include "worker.h"

#ifndef LG_VERSION
#define LG_VERSION "unknown"
#endif

/* How long a reload request waits for the main thread. */
#define RELOAD_WAIT_S 30
/* Longest student id in a path. */
#define ID_MAX 256

/*
 * A POST /admin/v1/reload waiting for the main thread. The admin thread never
 * blocks on it: the main thread hands the result back through ev (on the
 * server's own base) and that event answers; ev's 30 s timeout answers 503
 * if the main thread has not. Whoever takes it out of A.pending owns it.
 */
struct reload_job {
	struct evhttp_request *req;
	struct event_base *base; /* the server's, whose thread answers */
	struct event *ev;
	unsigned seq;
	int rc;
	bool stopping;
	unsigned generation;
	struct lg_errors errs;
};

static struct {
	pthread_mutex_t lock; /* rt, sha256, jwt_carry, pending, seq, stopping */
	struct lgd_runtime *rt;
	char sha256[65];
	uint64_t jwt_carry_hits, jwt_carry_misses; /* cache counts of earlier generations */
	struct lgd_httpsrv *srv, *next;
	SSL_CTX *next_ctx; /* the running listener kept at a reload: its new TLS context */
	bool keep;         /* the prepared reload keeps the running listener */
	int workers;
	int64_t start_time;
	/* The reload bridge: one request at a time waits for the main thread. */
	struct event *reload_ev, *reap_ev;
	lgd_admin_reload_fn reload;
	struct reload_job *pending;
	unsigned seq;
	bool stopping;
} A = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* The runtime in force, referenced (the caller unrefs it). */
static struct lgd_runtime *
current(void)
{
	struct lgd_runtime *rt;

	pthread_mutex_lock(&A.lock);
	rt = lgd_runtime_ref(A.rt);
	pthread_mutex_unlock(&A.lock);
	return rt;
}

/* What every document reads besides the counters: the gauges and the status's extras. */
struct scrape {
	struct lg_metrics_info in;
	int years[4]; /* years of the next 60 days with no national calendar */
	struct lg_admin_status st;
};

/* Collect one missing calendar year (lgd_calendar_gaps's callback). */
static void
collect_year(void *arg, int year, const char *text)
{
	struct scrape *sc = arg;

	(void)text;
	if (sc->st.nmissing < sizeof(sc->years) / sizeof(sc->years[0]))
		sc->years[sc->st.nmissing++] = year;
}

/* The students in the table of a store that keeps one in memory; -1 for others (redis). */
static int64_t
students(void)
{
	if (lgd_store == NULL)
		return -1;
	if (strcmp(lgd_store->kind, "memory") == 0)
		return (int64_t)lg_students_count(lg_store_memory_table(lgd_store));
	if (strcmp(lgd_store->kind, "local") == 0)
		return (int64_t)lg_students_count(lg_store_local_table(lgd_store));
	return -1;
}

/* Everything a scrape reads besides the counters, at now. */
static void
gather(const struct lgd_runtime *rt, struct scrape *sc, int64_t now)
{
	struct lg_metrics_info *in = &sc->in;
	uint64_t h = 0, m = 0;

	memset(sc, 0, sizeof(*sc));
	sc->st.info = in;
	sc->st.missing_years = sc->years;
	lgd_calendar_gaps(rt->cf, now, collect_year, sc);
	in->version = LG_VERSION;
	in->config_generation = rt->generation;
	in->students = students();
	in->connections_client = atomic_load(&lgd_total_conns);
	in->calendar_missing_years = (unsigned)sc->st.nmissing;
	lg_gate_jwt_cache_stats(rt->gate, &h, &m);
	pthread_mutex_lock(&A.lock);
	in->jwt_hits = h + A.jwt_carry_hits;
	in->jwt_misses = m + A.jwt_carry_misses;
	memcpy(sc->st.config_sha256, A.sha256, sizeof(sc->st.config_sha256));
	pthread_mutex_unlock(&A.lock);
	in->store_kind = lgd_store ? lgd_store->kind : NULL;
	in->store_up = lgd_store && lg_store_up(lgd_store);
	if (lgd_store)
		lg_store_health(lgd_store, &in->store_health);
	in->audit_on = lgd_auditd_on();
	in->audit_healthy = lgd_auditd_healthy();
	in->audit_records = in->audit_on ? lgd_auditd_durable() : 0; /* never waits */
	in->audit_queued = lgd_auditd_queued();
	in->audit_lost = lgd_auditd_lost();
	in->workers = A.workers;
	in->start_time = A.start_time;
}

/* The sum of every worker's counters. */
static void
sum_counters(struct lg_counters *c)
{
	struct lg_metrics *all[260];
	size_t n = lgd_counters_all(all, 260);

	lg_metrics_sum(c, all, n);
}

/* GET /metrics. */
static void
get_metrics(struct evhttp_request *req, const struct lgd_runtime *rt, int64_t now)
{
	struct scrape sc;
	struct lg_counters c;
	struct lg_buf b = {0};

	gather(rt, &sc, now);
	sum_counters(&c);
	lg_metrics_render(&b, &c, &sc.in);
	lgd_http_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8", b.data, b.len);
	lg_buf_free(&b);
}

/* GET /admin/v1/status. */
static void
get_status(struct evhttp_request *req, const struct lgd_runtime *rt, int64_t now)
{
	struct scrape sc;
	struct lg_buf b = {0};

	gather(rt, &sc, now);
	lg_admin_status_json(&b, rt->cf, &sc.st, now);
	lgd_http_reply(req, 200, "application/json", b.data, b.len);
	lg_buf_free(&b);
}

/* GET /admin/v1/overview. */
static void
get_overview(struct evhttp_request *req, const struct lgd_runtime *rt, int64_t now)
{
	struct scrape sc;
	struct lg_metrics *all[260];
	size_t n = lgd_counters_all(all, 260);
	uint64_t minutes[LG_M_MINUTES][LG_M_RULES];
	struct lg_counters c;
	struct lg_recent *recent = lg_xcalloc(1, sizeof(*recent));
	struct lg_buf b = {0};

	gather(rt, &sc, now);
	lg_metrics_sum(&c, all, n);
	lg_metrics_minutes(all, n, now, minutes);
	lgd_counters_recent(recent);
	lg_admin_overview_json(&b, rt->cf, &c, minutes, recent, &sc.in, now);
	lgd_http_reply(req, 200, "application/json", b.data, b.len);
	lg_buf_free(&b);
	free(recent);
}

/* The client's address, for the access line. */
static const char *
peer_of(struct evhttp_request *req)
{
	struct evhttp_connection *con = evhttp_request_get_connection(req);
	char *addr = NULL;
	ev_uint16_t port = 0;

	if (con)
		evhttp_connection_get_peer(con, &addr, &port);
	return addr ? addr : "-";
}

/* The id as the log names it: its audit pseudonym when the audit log is on, else escaped. */
static const char *
log_name(const struct lg_config *cf, const char *id, char *out, size_t len)
{
	if (cf->audit.enabled && len >= LG_PSEUDONYM_HEX) {
		lg_audit_pseudonym(cf->audit.pseudonym, id, strlen(id), out);
		return out;
	}
	return lgd_esc(id, out, len);
}

/* Percent-decode a path segment into out (len bytes); -1 if malformed, too long or with NUL. */
static int
decode_segment(const char *s, char *out, size_t len)
{
	size_t n = 0;

	for (; *s; s++) {
		int c = (unsigned char)*s;
		if (c == '%') {
			int hi = lg_hex_value((unsigned char)s[1]), lo;
			if (hi < 0 || (lo = lg_hex_value((unsigned char)s[2])) < 0)
				return -1;
			c = hi << 4 | lo;
			s += 2;
		}
		if (c == 0 || n + 1 >= len)
			return -1;
		out[n++] = (char)c;
	}
	out[n] = '\0';
	return 0;
}

/* GET /admin/v1/students/{id}[?region=NNNNNN]: one student's clock; access is logged. */
static void
get_student(struct evhttp_request *req, const struct lgd_runtime *rt, const char *raw,
            const char *query, int64_t now)
{
	char id[ID_MAX + 1], name[ID_MAX * 4 + 8];
	struct evkeyvalq q;
	const char *reg;
	uint32_t region = 0;
	struct lg_student_state s;
	struct lg_buf b = {0};
	int found;

	TAILQ_INIT(&q);
	if (decode_segment(raw, id, sizeof(id)) != 0 || *id == '\0' || strchr(id, '/')) {
		lgd_http_error(req, 400,
		               "student id: 1 to 256 bytes (percent-encoded), no '/' or NUL");
		goto out;
	}
	if (query && evhttp_parse_query_str(query, &q) != 0) {
		lgd_http_error(req, 400, "malformed query");
		goto out;
	}
	if ((reg = evhttp_find_header(&q, "region")) != NULL &&
	    lg_region_parse(reg, &region) != 0) {
		lgd_http_error(req, 400, "region: six digits (GB/T 2260)");
		goto out;
	}
	found = lg_store_snapshot(lgd_store, id, strlen(id), now, &s);
	lgd_info("admin student lookup", "student=\"%s\" peer=%s found=%s",
	         log_name(rt->cf, id, name, sizeof(name)), peer_of(req),
	         found > 0    ? "true"
	         : found == 0 ? "false"
	                      : "unavailable");
	if (found < 0) {
		lgd_http_error(req, 503, "the student store cannot answer");
		goto out;
	}
	if (found == 0) {
		lgd_http_error(req, 404, "no such student (no lesson clock kept for this id)");
		goto out;
	}
	lg_admin_student_json(&b, rt->cf, id, region, &s, now);
	lgd_http_reply(req, 200, "application/json", b.data, b.len);
	lg_buf_free(&b);
out:
	evhttp_clear_headers(&q);
}

/* On the server's thread: answer a reload request with its result (or 503), free it. */
static void
reload_done(evutil_socket_t fd, short what, void *arg)
{
	struct reload_job *job = arg;
	struct lg_buf b = {0};
	bool timed_out;

	(void)fd, (void)what;
	pthread_mutex_lock(&A.lock);
	timed_out = A.pending == job; /* not handed back: the timeout fired */
	if (timed_out)
		A.pending = NULL;
	pthread_mutex_unlock(&A.lock);
	if (timed_out || job->stopping) {
		lgd_http_error(job->req, 503,
		               job->stopping ? "the daemon is shutting down"
		                             : "the reload did not finish in time");
	} else if (job->rc == 0) {
		lg_buf_printf(&b, "{\"ok\":true,\"generation\":%u}\n", job->generation);
		lgd_http_reply(job->req, 200, "application/json", b.data, b.len);
	} else {
		LG_BUF_LIT(&b, "{\"ok\":false,\"errors\":[");
		for (size_t i = 0; i < job->errs.count; i++) {
			if (i)
				LG_BUF_LIT(&b, ",");
			lg_buf_json_str(&b, job->errs.msg[i]);
		}
		LG_BUF_LIT(&b, "]}\n");
		lgd_http_reply(job->req, 422, "application/json", b.data, b.len);
	}
	lg_buf_free(&b);
	lg_errors_free(&job->errs);
	event_free(job->ev);
	free(job);
}

/* POST /admin/v1/reload: ask the main thread to reload; answered later by reload_done. */
static void
post_reload(struct evhttp_request *req)
{
	struct timeval wait = {RELOAD_WAIT_S, 0};
	struct reload_job *job;

	pthread_mutex_lock(&A.lock);
	if (A.pending || A.reload_ev == NULL || A.stopping) {
		const char *why = A.pending ? "a reload is in progress" : "shutting down";
		int status = A.pending ? 409 : 503;
		pthread_mutex_unlock(&A.lock);
		lgd_http_error(req, status, why);
		return;
	}
	job = lg_xcalloc(1, sizeof(*job));
	job->req = req;
	job->base = evhttp_connection_get_base(evhttp_request_get_connection(req));
	job->ev = event_new(job->base, -1, 0, reload_done, job);
	job->seq = ++A.seq;
	lg_errors_init(&job->errs);
	event_add(job->ev, &wait);
	A.pending = job;
	event_active(A.reload_ev, EV_READ, 0);
	pthread_mutex_unlock(&A.lock);
}

/* Whether a reload request waits to be answered on base (a retiring server keeps serving). */
static bool
reload_pending_on(struct event_base *base, void *arg)
{
	bool busy;

	(void)arg;
	pthread_mutex_lock(&A.lock);
	busy = A.pending && A.pending->base == base;
	pthread_mutex_unlock(&A.lock);
	return busy;
}

/* GET /: the operator page (daemon/admin/page/operator.html, built in by embed.py). */
static void
get_root(struct evhttp_request *req)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	/* Its script and style are inline: nothing else may load. */
	evhttp_add_header(
	    h, "Content-Security-Policy",
	    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
	    "connect-src 'self'; img-src 'self' data:; base-uri 'none'; "
	    "form-action 'none'; frame-ancestors 'none'");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	lgd_http_reply(req, 200, "text/html; charset=utf-8", lgd_operator_page,
	               lgd_operator_page_len);
}

/* Parse "YYYY-MM" (1970-9999); 0, or -1. */
static int
parse_month(const char *s, int *y, int *m)
{
	if (strlen(s) != 7 || s[4] != '-')
		return -1;
	for (int i = 0; i < 7; i++)
		if (i != 4 && (s[i] < '0' || s[i] > '9'))
			return -1;
	*y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
	*m = (s[5] - '0') * 10 + (s[6] - '0');
	return *y >= 1970 && *m >= 1 && *m <= 12 ? 0 : -1;
}

/* GET /admin/v1/calendar[?month=YYYY-MM][&region=NNNNNN]: a month of day kinds (default: this
 * month, the default region); regions lists the default region and every regional entry's. */
static void
get_calendar(struct evhttp_request *req, const struct lgd_runtime *rt, const char *query,
             int64_t now)
{
	const struct lg_config *cf = rt->cf;
	uint32_t listed[64], regions[65], region = cf->calendar_opts.default_region;
	size_t nl, nr = 0;
	struct evkeyvalq q;
	struct lg_buf b = {0};
	const char *v;
	int y, m, d;

	TAILQ_INIT(&q);
	lg_civil_from_days(lg_day_of(lg_tz_local(cf->tz, now)), &y, &m, &d);
	if (query && evhttp_parse_query_str(query, &q) != 0) {
		lgd_http_error(req, 400, "malformed query");
		goto out;
	}
	if ((v = evhttp_find_header(&q, "month")) != NULL && parse_month(v, &y, &m) != 0) {
		lgd_http_error(req, 400, "month: YYYY-MM");
		goto out;
	}
	if ((v = evhttp_find_header(&q, "region")) != NULL && *v != '\0' &&
	    lg_region_parse(v, &region) != 0) {
		lgd_http_error(req, 400, "region: six digits (GB/T 2260)");
		goto out;
	}
	if (cf->calendar_opts.default_region)
		regions[nr++] = cf->calendar_opts.default_region;
	nl = lg_calendar_regions(cf->calendar, listed, 64);
	for (size_t i = 0; i < nl; i++)
		if (listed[i] != cf->calendar_opts.default_region)
			regions[nr++] = listed[i];
	lg_calendar_month_json(&b, cf->calendar, y, m, region, regions, nr);
	LG_BUF_LIT(&b, "\n");
	lgd_http_reply(req, 200, "application/json", b.data, b.len);
	lg_buf_free(&b);
out:
	evhttp_clear_headers(&q);
}

/* Whether the method is m, else a 405 with Allow said. */
static bool
method_is(struct evhttp_request *req, enum evhttp_cmd_type m)
{
	enum evhttp_cmd_type got = evhttp_request_get_command(req);

	if (got == m || (m == EVHTTP_REQ_GET && got == EVHTTP_REQ_HEAD))
		return true;
	evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
	                  m == EVHTTP_REQ_GET ? "GET, HEAD" : "POST");
	lgd_http_error(req, 405, m == EVHTTP_REQ_GET ? "only GET" : "only POST");
	return false;
}

/*
 * Whether the request may be served, else answered: its Host must be the
 * listener's own host, localhost or an IP literal (421: a DNS-rebinding page
 * names its own domain), and a POST's Origin, if any, its own origin (403: a
 * form on another site).
 */
static bool
allowed(struct evhttp_request *req, const struct lg_config *cf)
{
	const struct evkeyvalq *h = evhttp_request_get_input_headers(req);
	const char *host = evhttp_find_header(h, "Host");

	if (!lg_admin_host_ok(host, cf->admin.listen.address)) {
		lgd_http_error(req, 421,
		               "Host: the admin API answers only its own address, localhost or an "
		               "IP address (DNS rebinding)");
		return false;
	}
	if (evhttp_request_get_command(req) == EVHTTP_REQ_POST &&
	    !lg_admin_origin_ok(evhttp_find_header(h, "Origin"), host, cf->admin.listen.tls)) {
		lgd_http_error(
		    req, 403,
		    "Origin: a POST is taken only without Origin or from the admin API's "
		    "own origin (a cross-site request)");
		return false;
	}
	return true;
}

/* Every request of the admin API. */
static void
handle(struct evhttp_request *req, void *arg)
{
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
	const char *path = u ? evhttp_uri_get_path(u) : NULL;
	struct lgd_runtime *rt;
	int64_t now = time(NULL);

	(void)arg;
	if (path == NULL) {
		lgd_http_error(req, 400, "malformed request target");
		return;
	}
	rt = current();
	if (!allowed(req, rt->cf)) {
		lgd_runtime_unref(rt);
		return;
	}
	if (strcmp(path, "/admin/v1/reload") == 0) {
		if (method_is(req, EVHTTP_REQ_POST))
			post_reload(req);
		lgd_runtime_unref(rt);
		return;
	}
	if (strcmp(path, "/metrics") == 0) {
		if (method_is(req, EVHTTP_REQ_GET))
			get_metrics(req, rt, now);
	} else if (strcmp(path, "/admin/v1/status") == 0) {
		if (method_is(req, EVHTTP_REQ_GET))
			get_status(req, rt, now);
	} else if (strcmp(path, "/admin/v1/overview") == 0) {
		if (method_is(req, EVHTTP_REQ_GET))
			get_overview(req, rt, now);
	} else if (strncmp(path, "/admin/v1/students/", 19) == 0) {
		if (method_is(req, EVHTTP_REQ_GET))
			get_student(req, rt, path + 19, evhttp_uri_get_query(u), now);
	} else if (strcmp(path, "/admin/v1/calendar") == 0) {
		if (method_is(req, EVHTTP_REQ_GET))
			get_calendar(req, rt, evhttp_uri_get_query(u), now);
	} else if (strcmp(path, "/") == 0) {
		if (method_is(req, EVHTTP_REQ_GET))
			get_root(req);
	} else {
		lgd_http_error(
		    req, 404,
		    "no such admin path (/, /metrics, /admin/v1/status, /admin/v1/overview, "
		    "/admin/v1/calendar, /admin/v1/students/ID, /admin/v1/reload)");
	}
	lgd_runtime_unref(rt);
}

/* The main thread runs the reload a request asked for and hands the result back to the
 * request (never to a later one: the sequence number must still match). */
static void
reload_ev_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lg_errors errs;
	unsigned gen = 0, seq;
	int rc;

	(void)fd, (void)what, (void)arg;
	pthread_mutex_lock(&A.lock);
	seq = A.pending ? A.pending->seq : 0;
	pthread_mutex_unlock(&A.lock);
	if (seq == 0)
		return; /* it timed out already */
	lg_errors_init(&errs);
	rc = A.reload(&errs, &gen);
	pthread_mutex_lock(&A.lock);
	if (A.pending && A.pending->seq == seq) {
		struct reload_job *job = A.pending;
		A.pending = NULL;
		job->rc = rc;
		job->generation = gen;
		job->errs = errs;
		event_active(job->ev, EV_READ, 0);
	} else {
		lg_errors_free(&errs); /* it gave up waiting (503) */
	}
	pthread_mutex_unlock(&A.lock);
}

/* Join the retired listeners whose threads are done; again in a second while any is left. */
static void
reap_cb(evutil_socket_t fd, short what, void *arg)
{
	struct timeval second = {1, 0};

	(void)fd, (void)what, (void)arg;
	if (lgd_httpsrv_reap(false) > 0)
		evtimer_add(A.reap_ev, &second);
}

/* Retire a listener without waiting for it (its thread is joined later by reap_cb). */
static void
retire(struct lgd_httpsrv *s)
{
	struct timeval second = {1, 0};

	if (s == NULL)
		return;
	lgd_httpsrv_retire(s, reload_pending_on, NULL);
	if (A.reap_ev)
		evtimer_add(A.reap_ev, &second);
}

/* At start: the process's start time, its workers, and how the main thread reloads. */
void
lgd_admin_init(struct event_base *main_base, lgd_admin_reload_fn reload, int workers,
               int64_t start_time)
{
	A.workers = workers;
	A.start_time = start_time;
	A.reload = reload;
	A.reload_ev = event_new(main_base, -1, 0, reload_ev_cb, NULL);
	A.reap_ev = evtimer_new(main_base, reap_cb, NULL);
}

/* Whether two resolved addresses are the same (family, address and port). */
static bool
same_sockaddr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
		return x->sin6_port == y->sin6_port &&
		       memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
	}
	return false;
}

/* The SHA-256 of the configuration file, as hex. */
static void
sha256_hex(const char *path, char out[65])
{
	uint8_t h[32];

	lgd_file_sha256(path, h);
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", h[i]);
}

/* Answer with rt from now on (the cache counts of the runtime it replaces are carried). */
static void
set_runtime(struct lgd_runtime *rt)
{
	char sha[65];
	uint64_t h = 0, m = 0;

	sha256_hex(rt->cf->file, sha);
	pthread_mutex_lock(&A.lock);
	if (A.rt != rt) {
		if (A.rt) {
			lg_gate_jwt_cache_stats(A.rt->gate, &h, &m);
			A.jwt_carry_hits += h;
			A.jwt_carry_misses += m;
			lgd_runtime_unref(A.rt);
		}
		A.rt = lgd_runtime_ref(rt);
	}
	memcpy(A.sha256, sha, sizeof(sha));
	pthread_mutex_unlock(&A.lock);
}

/*
 * Before rt is put in force: when the admin listener keeps its (resolved)
 * address, load its TLS context (certificate files may have changed) for the
 * running listener to take at the commit; else start the new listener. 0, or
 * -1 with the reason in err.
 */
int
lgd_admin_prepare(struct lgd_runtime *rt, char *err, size_t errlen)
{
	const struct lg_config *cf = rt->cf;

	A.next = NULL;
	A.next_ctx = NULL;
	A.keep = false;
	if (A.rt == NULL)
		set_runtime(rt); /* at start: no request is ever answered without one */
	if (!cf->admin.enabled)
		return 0;
	if (A.srv != NULL && A.rt && A.rt->cf->admin.enabled &&
	    same_sockaddr(&A.rt->admin_sa, &rt->admin_sa)) {
		A.keep = true;
		return lgd_httpsrv_tls(cf, &cf->admin.listen, "admin.listen", &A.next_ctx, err,
		                       errlen);
	}
	A.next =
	    lgd_httpsrv_start(cf, &cf->admin.listen, "admin.listen", handle, NULL, err, errlen);
	return A.next ? 0 : -1;
}

/* rt is in force: answer with it, on the listener prepared for it (a replaced one retires). */
void
lgd_admin_commit(struct lgd_runtime *rt)
{
	set_runtime(rt);
	if (A.keep) {
		lgd_httpsrv_swap_tls(A.srv, A.next_ctx);
	} else if (A.next != NULL || !rt->cf->admin.enabled) {
		retire(A.srv);
		A.srv = A.next;
		if (A.srv)
			lgd_info("admin API listening", "address=%s tls=%s client_certificates=%s",
			         rt->cf->admin.listen.address,
			         rt->cf->admin.listen.tls ? "true" : "false",
			         rt->cf->admin.listen.tlsc.client_ca ? "true" : "false");
	}
	A.next = NULL;
	A.next_ctx = NULL;
	A.keep = false;
}

/* At exit: answer a reload request still waiting (503), retire the listener, join it. */
void
lgd_admin_stop(void)
{
	pthread_mutex_lock(&A.lock);
	A.stopping = true;
	if (A.pending) {
		A.pending->stopping = true;
		event_active(A.pending->ev, EV_READ, 0);
		A.pending = NULL;
	}
	pthread_mutex_unlock(&A.lock);
	lgd_httpsrv_retire(A.srv, NULL, NULL);
	lgd_httpsrv_stop(A.next);
	A.srv = A.next = NULL;
	lgd_httpsrv_reap(true);
	if (A.reload_ev)
		event_free(A.reload_ev);
	if (A.reap_ev)
		event_free(A.reap_ev);
	A.reload_ev = A.reap_ev = NULL;
	lgd_runtime_unref(A.rt);
	A.rt = NULL;
}
