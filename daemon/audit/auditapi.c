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
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <unistd.h>

#include "auditd.h"
#include "httpsrv.h"
#include "json.h"
#include "log.h"
#include "render.h"

/* Records per page of /entries and records read per lock of /violations. */
#define PAGE 1000

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

	if (param_u64(q, an, &a) <= 0 || param_u64(q, bn, &b) <= 0) {
		snprintf(why, sizeof(why), "%s and %s: required, decimal", an, bn);
		lgd_http_error(req, 400, why);
		return;
	}
	if ((consistency ? a > b || a == 0 : a >= b) ||
	    lgd_auditd_proof(a, b, consistency, proof, &n, leaf) != 0) {
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

/*
 * GET /audit/v1/violations?from=&to=&rule=&region=: deny and forced_close
 * records whose local time is in [from, to) (RFC 3339 or YYYY-MM-DD, compared
 * as the records write them), NDJSON or CSV (Accept: text/csv).
 */
static void
get_violations(struct evhttp_request *req, struct evkeyvalq *q)
{
	static const char *const names[] = {"index", "type",  "time", "student", "region",
	                                    "class", "route", "rule", "status",  "enforced",
	                                    "count", "how",   NULL};
	const char *from = evhttp_find_header(q, "from"), *to = evhttp_find_header(q, "to");
	const char *rule = evhttp_find_header(q, "rule"), *region = evhttp_find_header(q, "region");
	const char *accept = evhttp_find_header(evhttp_request_get_input_headers(req), "Accept");
	bool csv = accept && strstr(accept, "text/csv");
	uint64_t *list = NULL;
	size_t nlist = 0;
	struct lg_buf out = {0}, page = {0};
	char err[256], *keys = NULL;
	size_t keycap = 0;

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
	if (csv)
		LG_BUF_LIT(&out, "index,type,time,student,region,class,route,rule,status,enforced,"
		                 "count,how\r\n");
	/* Only the records the violations index names: deny and forced_close in [from, to). */
	lgd_auditd_violations(from, to, &list, &nlist);
	for (size_t s = 0; s < nlist; s += PAGE) {
		size_t e = s + PAGE < nlist ? s + PAGE : nlist;
		page.len = 0;
		if (lgd_auditd_read_list(list + s, e - s, &page, err, sizeof(err)) != 0) {
			lg_buf_free(&out);
			lg_buf_free(&page);
			free(keys);
			free(list);
			lgd_http_error(req, 503, err);
			return;
		}
		for (char *l = page.data, *nl; l && l < page.data + page.len; l = nl + 1) {
			struct lg_json_value v[12];
			char t[64];
			nl = memchr(l, '\n', (size_t)(page.data + page.len - l));
			if (nl == NULL)
				break;
			if ((size_t)(nl - l) > keycap) {
				keycap = (size_t)(nl - l);
				keys = lg_xrealloc(keys, keycap, 1);
			}
			if (lg_json_parse(l, (size_t)(nl - l), keys, keycap, names, v, 12) != 0)
				continue;
			if (!member_is(&v[1], "deny") && !member_is(&v[1], "forced_close"))
				continue;
			if (lg_json_string(&v[2], t, sizeof(t)) < 0 || strcmp(t, from) < 0 ||
			    strcmp(t, to) >= 0 || !member_is(&v[7], rule) ||
			    !member_is(&v[4], region))
				continue;
			if (!csv) {
				lg_buf_add(&out, l, (size_t)(nl - l) + 1);
				continue;
			}
			for (int k = 0; k < 12; k++)
				csv_field(&out, &v[k], k == 11);
		}
	}
	free(list);
	reply(req, csv ? "text/csv; charset=utf-8" : "application/x-ndjson",
	      out.data ? out.data : "", out.len);
	lg_buf_free(&out);
	lg_buf_free(&page);
	free(keys);
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
