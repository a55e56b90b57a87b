/*
 * The regulator API on its own listener (audit.listen): TLS with a client
 * certificate required and verified against client_ca, one thread with its
 * own event loop (libevent's evhttp), GET only, /audit/v1/ only. It reads
 * the log through auditd.c's readers (under the writer's lock), never the
 * proxy's code: this listener serves no proxy traffic, and client listeners
 * never reach this file.
 */
#include "auditapi.h"

#include <errno.h>
#include <fcntl.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include "auditd.h"
#include "httpsrv.h"
#include "json.h"
#include "log.h"
#include "render.h"

/* Records per page of /entries. */
#define PAGE 1000
/* Records of /violations read per hold of the writer's lock, and sent per chunk. */
#define VBATCH 256

/* The API's server (httpsrv.c: its thread, TLS with client certificates required). */
static struct lgd_httpsrv *api;

/* Send body with a content type, 200. */
static void
reply(struct evhttp_request *req, const char *type, const char *body, size_t n)
{
	lgd_http_reply(req, 200, type, body, n);
}

/* A decimal parameter: 1 found and valid, 0 absent, -1 invalid. */
static int
param_u64(struct evkeyvalq *q, const char *name, uint64_t *out)
{
	const char *v = evhttp_find_header(q, name);
	char *end;

	if (v == NULL)
		return 0;
	if (*v < '0' || *v > '9' || strlen(v) > 19)
		return -1;
	errno = 0;
	*out = strtoull(v, &end, 10);
	return *end || errno ? -1 : 1;
}

/* Hex of a hash into out (65 bytes). */
static void
hex(const uint8_t h[LG_MERKLE_HASH], char out[65])
{
	for (int i = 0; i < LG_MERKLE_HASH; i++)
		snprintf(out + 2 * i, 3, "%02x", h[i]);
}

/* GET /audit/v1/checkpoint: the latest signed checkpoint (C2SP tlog-checkpoint). */
static void
get_checkpoint(struct evhttp_request *req)
{
	char path[4096], buf[8192];
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/checkpoint", lgd_auditd_dir());
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		lgd_http_error(req, 503, "no checkpoint yet");
		return;
	}
	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n <= 0) {
		lgd_http_error(req, 503, "no checkpoint yet");
		return;
	}
	reply(req, "text/plain; charset=utf-8", buf, (size_t)n);
}

/* GET /audit/v1/entries?start=&end=: records [start, end) as NDJSON, at most PAGE. */
static void
get_entries(struct evhttp_request *req, struct evkeyvalq *q)
{
	uint64_t start = 0, end = 0, size = lgd_auditd_size();
	int hs = param_u64(q, "start", &start), he = param_u64(q, "end", &end);
	struct lg_buf out = {0};
	char err[256];

	if (hs <= 0) {
		lgd_http_error(req, 400, "start: required, a record index (decimal)");
		return;
	}
	if (he < 0) {
		lgd_http_error(req, 400, "end: a record index (decimal), exclusive");
		return;
	}
	if (he == 0 || end > start + PAGE)
		end = start + PAGE;
	if (end > size)
		end = size;
	if (start >= size && !lgd_auditd_readable()) {
		lgd_http_error(req, 503, "the audit log is not readable now");
		return;
	}
	if (start >= size || start >= end) {
		lgd_http_error(req, 400, "start: beyond the log's size (or not below end)");
		return;
	}
	if (lgd_auditd_read(start, end, &out, err, sizeof(err)) != 0) {
		lg_buf_free(&out);
		lgd_http_error(req, 503, err);
		return;
	}
	snprintf(err, sizeof(err), "%" PRIu64, end);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Audit-Next-Start", err);
	reply(req, "application/x-ndjson", out.data ? out.data : "", out.len);
	lg_buf_free(&out);
}

/* GET /audit/v1/proof/inclusion?index=&size= and /proof/consistency?old=&new=. */
static void
get_proof(struct evhttp_request *req, struct evkeyvalq *q, bool consistency)
{
	const char *an = consistency ? "old" : "index", *bn = consistency ? "new" : "size";
	uint64_t a = 0, b = 0;
	uint8_t proof[130][LG_MERKLE_HASH], leaf[LG_MERKLE_HASH];
	size_t n = 0;
	struct lg_buf out = {0};
	char h[65], why[160];
	int rc;

	if (param_u64(q, an, &a) <= 0 || param_u64(q, bn, &b) <= 0) {
		snprintf(why, sizeof(why), "%s and %s: required, decimal", an, bn);
		lgd_http_error(req, 400, why);
		return;
	}
	rc = (consistency ? a > b || a == 0 : a >= b)
	         ? -1
	         : lgd_auditd_proof(a, b, consistency, proof, &n, leaf);
	if (rc == -2) {
		lgd_http_error(req, 503, "the audit log is not readable now");
		return;
	}
	if (rc != 0) {
		snprintf(why, sizeof(why),
		         consistency ? "need 0 < old <= new <= the log's size"
		                     : "need index < size <= the log's size");
		lgd_http_error(req, 400, why);
		return;
	}
	lg_buf_printf(&out, "{\"%s\":%" PRIu64 ",\"%s\":%" PRIu64, an, a, bn, b);
	if (!consistency) {
		hex(leaf, h);
		lg_buf_printf(&out, ",\"leaf_hash\":\"%s\"", h);
	}
	LG_BUF_LIT(&out, ",\"hashes\":[");
	for (size_t i = 0; i < n; i++) {
		hex(proof[i], h);
		lg_buf_printf(&out, "%s\"%s\"", i ? "," : "", h);
	}
	LG_BUF_LIT(&out, "]}\n");
	reply(req, "application/json", out.data, out.len);
	lg_buf_free(&out);
}

/* Whether s names a rule a record can carry. */
static bool
rule_known(const char *s)
{
	for (int r = LG_RULE_BLOCKED_DAY; r <= LG_RULE_LESSON_LIMIT; r++)
		if (strcmp(lg_rule_name((enum lg_rule)r), s) == 0)
			return true;
	return false;
}

/* A CSV field (quoted when it needs to be). */
static void
csv_field(struct lg_buf *b, const struct lg_json_value *v, bool last)
{
	char s[512];

	if (v->type == LG_JSON_STRING && lg_json_string(v, s, sizeof(s)) >= 0) {
		lg_buf_csv(b, s);
	} else if (v->type == LG_JSON_NUMBER || v->type == LG_JSON_BOOL) {
		lg_buf_add(b, v->p, v->n);
	}
	if (last)
		LG_BUF_LIT(b, "\r\n");
	else
		LG_BUF_LIT(b, ",");
}

/* Whether a string member equals want (NULL want: anything). */
static bool
member_is(const struct lg_json_value *v, const char *want)
{
	char s[256];

	if (want == NULL)
		return true;
	return v->type == LG_JSON_STRING && lg_json_string(v, s, sizeof(s)) >= 0 &&
	       strcmp(s, want) == 0;
}

/* A /violations answer being streamed: the records it names, and how far it got. */
struct vstream {
	struct evhttp_request *req;
	uint64_t *list;
	size_t n, at;
	char *from, *to, *rule, *region;
	bool csv, cut;
	char *keys;
	size_t keycap;
	struct lg_buf page, out;
};

/* Free a stream's state (not its request). */
static void
vs_free(struct vstream *vs)
{
	free(vs->list);
	free(vs->from);
	free(vs->to);
	free(vs->rule);
	free(vs->region);
	free(vs->keys);
	lg_buf_free(&vs->page);
	lg_buf_free(&vs->out);
	free(vs);
}

/*
 * Read the next VBATCH records the index named (one hold of the writer's
 * lock) and append those that match to vs->out, as NDJSON or CSV rows. 0, or
 * -1 with the reason (the log is not readable now).
 */
static int
vs_fill(struct vstream *vs, char *err, size_t errlen)
{
	static const char *const names[] = {"index", "type",  "time", "student", "region",
	                                    "class", "route", "rule", "status",  "enforced",
	                                    "count", "how",   NULL};
	size_t e = vs->at + VBATCH < vs->n ? vs->at + VBATCH : vs->n;

	vs->page.len = 0;
	if (lgd_auditd_read_list(vs->list + vs->at, e - vs->at, &vs->page, err, errlen) != 0)
		return -1;
	vs->at = e;
	for (char *l = vs->page.data, *nl; l && l < vs->page.data + vs->page.len; l = nl + 1) {
		struct lg_json_value v[12];
		char t[64];
		nl = memchr(l, '\n', (size_t)(vs->page.data + vs->page.len - l));
		if (nl == NULL)
			break;
		if ((size_t)(nl - l) > vs->keycap) {
			vs->keycap = (size_t)(nl - l);
			vs->keys = lg_xrealloc(vs->keys, vs->keycap, 1);
		}
		if (lg_json_parse(l, (size_t)(nl - l), vs->keys, vs->keycap, names, v, 12) != 0)
			continue;
		if (!member_is(&v[1], "deny") && !member_is(&v[1], "forced_close"))
			continue;
		if (lg_json_string(&v[2], t, sizeof(t)) < 0 || strcmp(t, vs->from) < 0 ||
		    strcmp(t, vs->to) >= 0 || !member_is(&v[7], vs->rule) ||
		    !member_is(&v[4], vs->region))
			continue;
		if (!vs->csv) {
			lg_buf_add(&vs->out, l, (size_t)(nl - l) + 1);
			continue;
		}
		for (int k = 0; k < 12; k++)
			csv_field(&vs->out, &v[k], k == 11);
	}
	return 0;
}

/* The client went away (or the server stops) in the middle of a stream. */
static void
vs_closed(struct evhttp_connection *evcon, void *arg)
{
	struct vstream *vs = arg;

	(void)evcon;
	/* A request its failed connection let go of is ours to free (reply_end does). */
	if (evhttp_request_get_connection(vs->req) == NULL)
		evhttp_send_reply_end(vs->req);
	vs_free(vs);
}

/*
 * Send the next chunk of a stream, and come back once it is written out (so
 * at most one chunk is in memory); end the reply after the last. If the log
 * stops being readable half-way, the connection is cut without the final
 * chunk: the client sees an incomplete answer, never a short complete one.
 */
static void
vs_send(struct evhttp_connection *evcon, void *arg)
{
	struct vstream *vs = arg;
	struct evhttp_connection *c = evhttp_request_get_connection(vs->req);
	struct evbuffer *b;
	char err[256];

	(void)evcon;
	if (vs->cut || c == NULL)
		return;
	while (vs->out.len == 0 && vs->at < vs->n) {
		if (vs_fill(vs, err, sizeof(err)) != 0) {
			lgd_warn("audit API: a /violations answer cut short", "error=\"%s\"", err);
			vs->cut = true;
			shutdown(bufferevent_getfd(evhttp_connection_get_bufferevent(c)),
			         SHUT_RDWR);
			return;
		}
	}
	if (vs->out.len == 0) {
		evhttp_connection_set_closecb(c, NULL, NULL);
		evhttp_send_reply_end(vs->req);
		vs_free(vs);
		return;
	}
	b = evbuffer_new();
	evbuffer_add(b, vs->out.data, vs->out.len);
	vs->out.len = 0;
	evhttp_send_reply_chunk_with_cb(vs->req, b, vs_send, vs);
	evbuffer_free(b);
}

/*
 * GET /audit/v1/violations?from=&to=&rule=&region=: deny and forced_close
 * records whose local time is in [from, to) (RFC 3339 or YYYY-MM-DD, compared
 * as the records write them), NDJSON or CSV (Accept: text/csv), streamed in
 * chunks: VBATCH records read per hold of the writer's lock, and the next
 * batch read only once the previous chunk is written out.
 */
static void
get_violations(struct evhttp_request *req, struct evkeyvalq *q)
{
	const char *from = evhttp_find_header(q, "from"), *to = evhttp_find_header(q, "to");
	const char *rule = evhttp_find_header(q, "rule"), *region = evhttp_find_header(q, "region");
	const char *accept = evhttp_find_header(evhttp_request_get_input_headers(req), "Accept");
	struct vstream *vs;
	char err[256];

	if (from == NULL || to == NULL || strlen(from) < 10 || strlen(to) < 10) {
		lgd_http_error(req, 400,
		               "from and to: required, RFC 3339 local times or YYYY-MM-DD");
		return;
	}
	if (rule && !rule_known(rule)) {
		lgd_http_error(req, 400, "rule: not a rule name");
		return;
	}
	if (region && (strlen(region) != 6 || strspn(region, "0123456789") != 6)) {
		lgd_http_error(req, 400, "region: six digits (GB/T 2260)");
		return;
	}
	vs = lg_xcalloc(1, sizeof(*vs));
	vs->req = req;
	vs->csv = accept && strstr(accept, "text/csv");
	vs->from = lg_strdup(from);
	vs->to = lg_strdup(to);
	vs->rule = rule ? lg_strdup(rule) : NULL;
	vs->region = region ? lg_strdup(region) : NULL;
	if (vs->csv)
		LG_BUF_LIT(&vs->out, "index,type,time,student,region,class,route,rule,status,"
		                     "enforced,count,how\r\n");
	/* Only the records the violations index names: deny and forced_close in [from, to). */
	if (lgd_auditd_violations(from, to, &vs->list, &vs->n) != 0 ||
	    (vs->n && vs_fill(vs, err, sizeof(err)) != 0)) {
		vs_free(vs);
		lgd_http_error(req, 503, "the audit log is not readable now");
		return;
	}
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	                  vs->csv ? "text/csv; charset=utf-8" : "application/x-ndjson");
	evhttp_send_reply_start(req, 200, "OK");
	evhttp_connection_set_closecb(evhttp_request_get_connection(req), vs_closed, vs);
	vs_send(NULL, vs);
}

/* Every request of the regulator API. */
static void
handle(struct evhttp_request *req, void *arg)
{
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
	const char *path = u ? evhttp_uri_get_path(u) : NULL,
	           *query = u ? evhttp_uri_get_query(u) : NULL;
	struct evkeyvalq q;

	(void)arg;
	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET");
		lgd_http_error(req, 405, "only GET");
		return;
	}
	if (path == NULL || strncmp(path, "/audit/v1/", 10) != 0) {
		lgd_http_error(req, 404, "not an audit API path (/audit/v1/...)");
		return;
	}
	TAILQ_INIT(&q);
	if (query && evhttp_parse_query_str(query, &q) != 0) {
		lgd_http_error(req, 400, "malformed query");
		return;
	}
	path += 10;
	if (strcmp(path, "checkpoint") == 0)
		get_checkpoint(req);
	else if (strcmp(path, "entries") == 0)
		get_entries(req, &q);
	else if (strcmp(path, "proof/inclusion") == 0)
		get_proof(req, &q, false);
	else if (strcmp(path, "proof/consistency") == 0)
		get_proof(req, &q, true);
	else if (strcmp(path, "violations") == 0)
		get_violations(req, &q);
	else
		lgd_http_error(req, 404, "no such audit API path");
	evhttp_clear_headers(&q);
}

/* Start the regulator API on cf->audit.listen; 0, or -1 with the reason in err. */
int
lgd_auditapi_start(const struct lg_config *cf, char *err, size_t errlen)
{
	if ((api = lgd_httpsrv_start(cf, &cf->audit.listen, "audit.listen", handle, NULL, err,
	                             errlen)) == NULL)
		return -1;
	lgd_info("audit API listening", "address=%s", cf->audit.listen.address);
	return 0;
}

/* Stop the API thread and close its listener. */
void
lgd_auditapi_stop(void)
{
	lgd_httpsrv_stop(api);
	api = NULL;
}
