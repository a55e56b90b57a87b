/* lessongate.conf: loaded whole, validated, then used read-only. */
#include "config.h"

#include <errno.h>
#include <libconfig.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "auditrec.h"
#include "checkpoint.h"
#include "http1.h"
#include "path.h"

/* Where errors go while one file is read. */
struct cctx {
	const char *file;
	const char *basedir;
	struct lg_errors *errs;
	struct lg_errors *warns;
};

/* Which listener a listen group configures. */
enum listen_kind { LISTEN_PROXY, LISTEN_AUDIT, LISTEN_ADMIN };

static const char *const root_keys[] = {
    "instance", "timezone", "mode",  "workers",  "listen", "upstream", "timeouts", "limits",
    "identity", "routes",   "rules", "calendar", "state",  "audit",    "admin",    NULL};

/* The line a setting was read from (0 if unknown). */
static int
line_of(const config_setting_t *s)
{
	return s ? (int)config_setting_source_line(s) : 0;
}

/* The file a setting was read from (an @include may differ from the main file). */
static const char *
file_of(struct cctx *c, const config_setting_t *s)
{
	const char *f = s ? config_setting_source_file(s) : NULL;

	return f ? f : c->file;
}

#define CERR(c, s, ...)  lg_errors_add((c)->errs, file_of(c, s), line_of(s), __VA_ARGS__)
#define CWARN(c, s, ...) lg_errors_add((c)->warns, file_of(c, s), line_of(s), __VA_ARGS__)

/* Edit distance, to suggest the key an operator probably meant. */
static size_t
distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[64];

	if (la >= 63 || lb >= 63)
		return 99;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t prev = row[0], tmp;
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			tmp = row[j];
			size_t best = prev + (a[i - 1] != b[j - 1]);
			if (row[j] + 1 < best)
				best = row[j] + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			prev = tmp;
		}
	}
	return row[lb];
}

/* Every member of group g must be one of keys; say which is not, and what was meant. */
static void
check_keys(struct cctx *c, const config_setting_t *g, const char *where, const char *const *keys)
{
	int n = config_setting_length(g);

	for (int i = 0; i < n; i++) {
		const config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(m);
		const char *best = NULL;
		size_t bestd = 3;

		if (name == NULL)
			continue;
		for (const char *const *k = keys; *k; k++) {
			size_t d;
			if (strcmp(*k, name) == 0)
				goto known;
			if ((d = distance(*k, name)) < bestd) {
				bestd = d;
				best = *k;
			}
		}
		if (best)
			CERR(c, m, "unknown key \"%s\" in %s (did you mean \"%s\"?)", name, where,
			     best);
		else
			CERR(c, m, "unknown key \"%s\" in %s", name, where);
	known:;
	}
}

/* A member of group g, or NULL (and an error if required). */
static config_setting_t *
member(struct cctx *c, const config_setting_t *g, const char *where, const char *key, bool required)
{
	config_setting_t *s = g ? config_setting_get_member(g, key) : NULL;

	if (s == NULL && required)
		CERR(c, g, "%s%smissing required key \"%s\"", where, *where ? ": " : "", key);
	return s;
}

/* A group member that must be a group. */
static config_setting_t *
get_group(struct cctx *c, const config_setting_t *g, const char *where, const char *key,
          bool required)
{
	config_setting_t *s = member(c, g, where, key, required);

	if (s && config_setting_type(s) != CONFIG_TYPE_GROUP) {
		CERR(c, s, "%s%s%s: expected a group { ... }", where, *where ? "." : "", key);
		return NULL;
	}
	return s;
}

/* A string member, copied; 1 if present, 0 if absent, -1 on error. */
static int
get_str(struct cctx *c, const config_setting_t *g, const char *where, const char *key,
        bool required, char **out)
{
	config_setting_t *s = member(c, g, where, key, required);
	const char *v;

	if (s == NULL)
		return required ? -1 : 0;
	if ((v = config_setting_get_string(s)) == NULL) {
		CERR(c, s, "%s%s%s: expected a string in double quotes", where, *where ? "." : "",
		     key);
		return -1;
	}
	if (*v == '\0') {
		CERR(c, s, "%s%s%s: must not be empty", where, *where ? "." : "", key);
		return -1;
	}
	free(*out);
	*out = lg_strdup(v);
	return 1;
}

/* An integer member within [min, max]. */
static int
get_int(struct cctx *c, const config_setting_t *g, const char *where, const char *key,
        long long min, long long max, int64_t *out)
{
	config_setting_t *s = member(c, g, where, key, false);
	long long v;

	if (s == NULL)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_INT &&
	    config_setting_type(s) != CONFIG_TYPE_INT64) {
		CERR(c, s, "%s%s%s: expected an integer", where, *where ? "." : "", key);
		return -1;
	}
	v = config_setting_get_int64(s);
	if (v < min || v > max) {
		CERR(c, s, "%s%s%s: %lld is out of range (%lld .. %lld)", where, *where ? "." : "",
		     key, v, min, max);
		return -1;
	}
	*out = v;
	return 1;
}

/* A boolean member. */
static int
get_bool(struct cctx *c, const config_setting_t *g, const char *where, const char *key, bool *out)
{
	config_setting_t *s = member(c, g, where, key, false);

	if (s == NULL)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
		CERR(c, s, "%s%s%s: expected true or false", where, *where ? "." : "", key);
		return -1;
	}
	*out = config_setting_get_bool(s);
	return 1;
}

/* A duration string ("30m", "1h30m", "200ms") within [min_ms, max_ms]. */
static int
get_duration(struct cctx *c, const config_setting_t *g, const char *where, const char *key,
             int64_t min_ms, int64_t max_ms, int64_t *out_ms)
{
	config_setting_t *s = member(c, g, where, key, false);
	const char *v;
	int64_t ms;

	if (s == NULL)
		return 0;
	v = config_setting_get_string(s);
	if (v == NULL || lg_parse_duration_ms(v, &ms) != 0) {
		CERR(c, s, "%s%s%s: expected a duration such as \"30m\", \"90s\" or \"1h30m\"",
		     where, *where ? "." : "", key);
		return -1;
	}
	if (ms < min_ms || ms > max_ms) {
		CERR(c, s, "%s%s%s: \"%s\" is out of range (%lld ms .. %lld ms)", where,
		     *where ? "." : "", key, v, (long long)min_ms, (long long)max_ms);
		return -1;
	}
	*out_ms = ms;
	return 1;
}

/* A byte size: an integer, or a string "512", "16k", "10M", "1G". */
static int
get_size(struct cctx *c, const config_setting_t *g, const char *where, const char *key,
         int64_t *out)
{
	config_setting_t *s = member(c, g, where, key, false);
	const char *v;
	char *end;
	long long n;

	if (s == NULL)
		return 0;
	if (config_setting_type(s) == CONFIG_TYPE_INT ||
	    config_setting_type(s) == CONFIG_TYPE_INT64) {
		n = config_setting_get_int64(s);
		end = "";
	} else if ((v = config_setting_get_string(s)) != NULL && *v >= '0' && *v <= '9') {
		n = strtoll(v, &end, 10);
		if (*end == 'k' || *end == 'K')
			n <<= 10, end++;
		else if (*end == 'M')
			n <<= 20, end++;
		else if (*end == 'G')
			n <<= 30, end++;
	} else {
		end = "x";
	}
	if (*end != '\0' || n < 0 || n > (1LL << 50)) {
		CERR(c, s, "%s%s%s: expected a size such as 16384, \"16k\", \"10M\" or \"1G\"",
		     where, *where ? "." : "", key);
		return -1;
	}
	*out = n;
	return 1;
}

/* A time of day "HH:MM[:SS]". */
static int
get_time_of_day(struct cctx *c, const config_setting_t *g, const char *where, const char *key,
                int32_t *out)
{
	config_setting_t *s = member(c, g, where, key, false);
	const char *v;

	if (s == NULL)
		return 0;
	v = config_setting_get_string(s);
	if (v == NULL || lg_parse_time_of_day(v, out) != 0) {
		CERR(c, s, "%s%s%s: expected a time of day \"HH:MM\" (00:00 .. 24:00)", where,
		     *where ? "." : "", key);
		return -1;
	}
	return 1;
}

/* One of a fixed set of strings; returns its index, or -1. */
static int
get_enum(struct cctx *c, const config_setting_t *g, const char *where, const char *key,
         const char *const *names, int *out)
{
	config_setting_t *s = member(c, g, where, key, false);
	const char *v;
	char list[256] = "";

	if (s == NULL)
		return 0;
	if ((v = config_setting_get_string(s)) != NULL)
		for (int i = 0; names[i]; i++)
			if (strcmp(names[i], v) == 0) {
				*out = i;
				return 1;
			}
	for (int i = 0; names[i]; i++) {
		size_t l = strlen(list);
		snprintf(list + l, sizeof(list) - l, "%s\"%s\"", i ? ", " : "", names[i]);
	}
	CERR(c, s, "%s%s%s: expected one of %s", where, *where ? "." : "", key, list);
	return -1;
}

/* A list or array of strings, copied. */
static int
get_strlist(struct cctx *c, const config_setting_t *g, const char *where, const char *key,
            char ***out, size_t *nout)
{
	config_setting_t *s = member(c, g, where, key, false);
	int n, type;
	char **v;

	if (s == NULL)
		return 0;
	type = config_setting_type(s);
	if (type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST) {
		CERR(c, s, "%s%s%s: expected a list of strings [\"...\", ...]", where,
		     *where ? "." : "", key);
		return -1;
	}
	n = config_setting_length(s);
	v = lg_xcalloc((size_t)n + 1, sizeof(*v));
	for (int i = 0; i < n; i++) {
		const char *e = config_setting_get_string_elem(s, i);
		if (e == NULL || *e == '\0') {
			CERR(c, s, "%s%s%s[%d]: expected a non-empty string", where,
			     *where ? "." : "", key, i);
			for (int j = 0; j < i; j++)
				free(v[j]);
			free(v);
			return -1;
		}
		v[i] = lg_strdup(e);
	}
	for (size_t i = 0; i < *nout; i++)
		free((*out)[i]);
	free(*out);
	*out = v;
	*nout = (size_t)n;
	return 1;
}

/* Free a string list. */
static void
free_strlist(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* A path made absolute against the config file's folder. */
static char *
resolve_path(struct cctx *c, const char *p)
{
	char *r;
	size_t n;

	if (p[0] == '/' || c->basedir == NULL || c->basedir[0] == '\0')
		return lg_strdup(p);
	n = strlen(c->basedir) + strlen(p) + 2;
	r = lg_xcalloc(1, n);
	snprintf(r, n, "%s/%s", c->basedir, p);
	return r;
}

/* "host:port" or "[v6]:port" with a port 1..65535. */
static bool
valid_address(const char *a)
{
	const char *colon;
	char *end;
	long port;

	if (a[0] == '[') {
		const char *close = strchr(a, ']');
		if (close == NULL || close == a + 1 || close[1] != ':')
			return false;
		colon = close + 1;
	} else {
		colon = strrchr(a, ':');
		if (colon == NULL || colon == a || memchr(a, ':', (size_t)(colon - a)) != NULL)
			return false;
	}
	port = strtol(colon + 1, &end, 10);
	return colon[1] != '\0' && *end == '\0' && port > 0 && port <= 65535;
}

/* sni = ( { certificate; key; }, ... ): more certificates of a listener, chosen by name. */
static void
load_sni(struct cctx *c, const config_setting_t *g, const char *where, struct lg_tls_conf *t)
{
	static const char *const keys[] = {"certificate", "key", NULL};
	config_setting_t *s = member(c, g, where, "sni", false);
	int n;

	if (s == NULL)
		return;
	if (config_setting_type(s) != CONFIG_TYPE_LIST) {
		CERR(c, s,
		     "%s.sni: expected a list ( { certificate = \"...\"; key = \"...\"; }, "
		     "... )",
		     where);
		return;
	}
	n = config_setting_length(s);
	t->sni = lg_xcalloc((size_t)n + 1, sizeof(*t->sni));
	for (int i = 0; i < n; i++) {
		config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		struct lg_cert_conf *cc = &t->sni[t->nsni];
		char w[80], *cert = NULL, *key = NULL;

		snprintf(w, sizeof(w), "%s.sni[%d]", where, i);
		if (config_setting_type(e) != CONFIG_TYPE_GROUP) {
			CERR(c, e, "%s: expected a group { certificate = \"...\"; key = \"...\"; }",
			     w);
			continue;
		}
		check_keys(c, e, w, keys);
		cc->line = line_of(e);
		get_str(c, e, w, "certificate", true, &cert);
		get_str(c, e, w, "key", true, &key);
		cc->certificate = cert ? resolve_path(c, cert) : NULL;
		cc->key = key ? resolve_path(c, key) : NULL;
		free(cert);
		free(key);
		t->nsni++;
	}
}

/*
 * tls = { certificate; key; client_ca; ca; server_name; verify; sni; }; for a
 * server, client_ca is required (audit), optional (admin) or refused (proxy).
 */
static void
load_tls(struct cctx *c, const config_setting_t *g, const char *where, struct lg_tls_conf *t,
         bool server, enum listen_kind kind)
{
	static const char *const server_keys[] = {"certificate", "key", "client_ca", "sni", NULL};
	static const char *const client_keys[] = {"ca",          "server_name", "verify",
	                                          "certificate", "key",         NULL};
	char *cert = NULL, *key = NULL, *ca = NULL;

	check_keys(c, g, where, server ? server_keys : client_keys);
	t->verify = true;
	if (server) {
		get_str(c, g, where, "certificate", true, &cert);
		get_str(c, g, where, "key", true, &key);
		if (get_str(c, g, where, "client_ca", kind == LISTEN_AUDIT, &ca) > 0 &&
		    kind == LISTEN_PROXY)
			CERR(c, g,
			     "%s.client_ca: client certificates are only for the audit and admin "
			     "listeners",
			     where);
		load_sni(c, g, where, t);
	} else {
		get_str(c, g, where, "ca", false, &ca);
		get_str(c, g, where, "server_name", false, &t->server_name);
		get_bool(c, g, where, "verify", &t->verify);
		get_str(c, g, where, "certificate", false, &cert);
		get_str(c, g, where, "key", false, &key);
	}
	t->certificate = cert ? resolve_path(c, cert) : NULL;
	t->key = key ? resolve_path(c, key) : NULL;
	if (server)
		t->client_ca = ca ? resolve_path(c, ca) : NULL;
	else
		t->ca = ca ? resolve_path(c, ca) : NULL;
	free(cert);
	free(key);
	free(ca);
}

/* One listener { address; tls = {...}; } of a kind (the audit listener requires TLS). */
static void
load_listener(struct cctx *c, const config_setting_t *g, const char *where,
              struct lg_listen_conf *l, enum listen_kind kind)
{
	static const char *const keys[] = {"address", "tls", "test_hooks", NULL};
	config_setting_t *tls;

	check_keys(c, g, where, keys);
	l->line = line_of(g);
	if (get_bool(c, g, where, "test_hooks", &l->test_hooks) > 0 && kind != LISTEN_PROXY)
		CERR(c, g, "%s.test_hooks: only proxy listeners have test hooks", where);
	if (get_str(c, g, where, "address", true, &l->address) > 0 && !valid_address(l->address))
		CERR(c, config_setting_get_member(g, "address"),
		     "%s.address: \"%s\" is not \"host:port\" or \"[v6addr]:port\"", where,
		     l->address);
	if ((tls = get_group(c, g, where, "tls", kind == LISTEN_AUDIT)) != NULL) {
		char w[64];
		snprintf(w, sizeof(w), "%s.tls", where);
		l->tls = true;
		load_tls(c, tls, w, &l->tlsc, true, kind);
	}
}

/* listen = ( { ... }, ... ); */
static void
load_listen(struct cctx *c, const config_setting_t *root, struct lg_config *cf)
{
	config_setting_t *s = member(c, root, "", "listen", false);
	int n;

	if (s == NULL)
		return;
	if (config_setting_type(s) != CONFIG_TYPE_LIST) {
		CERR(c, s, "listen: expected a list of listeners ( { address = \"...\"; }, ... )");
		return;
	}
	n = config_setting_length(s);
	cf->listen = lg_xcalloc((size_t)n, sizeof(*cf->listen));
	for (int i = 0; i < n; i++) {
		config_setting_t *g = config_setting_get_elem(s, (unsigned)i);
		char where[32];

		snprintf(where, sizeof(where), "listen[%d]", i);
		if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
			CERR(c, g, "%s: expected a group { address = \"...\"; }", where);
			continue;
		}
		load_listener(c, g, where, &cf->listen[cf->nlisten++], LISTEN_PROXY);
	}
}

/* A list of field names: each a token; none of the names in `forbidden` (why says why). */
static void
check_field_names(struct cctx *c, const config_setting_t *g, const char *where, const char *key,
                  char *const *names, size_t n, const char *const *forbidden, const char *why)
{
	for (size_t i = 0; i < n; i++) {
		if (!lg_http_is_token(names[i], strlen(names[i]))) {
			CERR(c, config_setting_get_member(g, key),
			     "%s.%s: \"%s\" is not a header field name (a token: letters, digits, "
			     "\"-\", ...)",
			     where, key, names[i]);
			continue;
		}
		for (const char *const *f = forbidden; *f; f++)
			if (strcasecmp(*f, names[i]) == 0)
				CERR(c, config_setting_get_member(g, key), "%s.%s: \"%s\" %s",
				     where, key, names[i], why);
	}
}

/* The rewrite and method-override fields some origins obey: the gate never saw what they say. */
static const char *const default_strip_request_headers[] = {
    "X-Original-URL", "X-Rewrite-URL",     "X-HTTP-Method-Override",
    "X-HTTP-Method",  "X-Method-Override", NULL};

/* upstream.strip_request_headers: the default list, or the operator's (framing fields refused). */
static void
load_strip_request_headers(struct cctx *c, const config_setting_t *g, struct lg_upstream_conf *u)
{
	static const char *const framing[] = {"Host", "Content-Length", "Transfer-Encoding", NULL};

	if (g == NULL || get_strlist(c, g, "upstream", "strip_request_headers",
	                             &u->strip_request_headers, &u->nstrip_request_headers) == 0) {
		for (const char *const *d = default_strip_request_headers; *d; d++) {
			u->strip_request_headers =
			    lg_xrealloc(u->strip_request_headers, u->nstrip_request_headers + 1,
			                sizeof(char *));
			u->strip_request_headers[u->nstrip_request_headers++] = lg_strdup(*d);
		}
		return;
	}
	check_field_names(c, g, "upstream", "strip_request_headers", u->strip_request_headers,
	                  u->nstrip_request_headers, framing,
	                  "frames the request and cannot be removed");
}

/* upstream = { address; keepalive; tls; connect_timeout; response_timeout; strip_...; } */
static void
load_upstream(struct cctx *c, const config_setting_t *root, struct lg_config *cf)
{
	static const char *const keys[] = {"address",
	                                   "keepalive",
	                                   "tls",
	                                   "connect_timeout",
	                                   "response_timeout",
	                                   "strip_request_headers",
	                                   NULL};
	config_setting_t *g = get_group(c, root, "", "upstream", false), *tls;
	struct lg_upstream_conf *u = &cf->upstream;
	int64_t v;

	u->keepalive = 64;
	u->connect_timeout_ms = 5000;
	u->response_timeout_ms = 60000;
	load_strip_request_headers(c, g, u);
	if (g == NULL)
		return;
	check_keys(c, g, "upstream", keys);
	if (get_str(c, g, "upstream", "address", true, &u->address) > 0 &&
	    !valid_address(u->address))
		CERR(c, config_setting_get_member(g, "address"),
		     "upstream.address: \"%s\" is not \"host:port\"", u->address);
	if (get_int(c, g, "upstream", "keepalive", 0, 100000, &v) > 0)
		u->keepalive = (int)v;
	get_duration(c, g, "upstream", "connect_timeout", 1, 3600000, &u->connect_timeout_ms);
	get_duration(c, g, "upstream", "response_timeout", 1, 86400000, &u->response_timeout_ms);
	if ((tls = get_group(c, g, "upstream", "tls", false)) != NULL) {
		u->tls = true;
		load_tls(c, tls, "upstream.tls", &u->tlsc, false, LISTEN_PROXY);
	}
}

/* timeouts = { client_header; keepalive; body; drain; } and limits = { ... }. */
static void
load_timeouts_limits(struct cctx *c, const config_setting_t *root, struct lg_config *cf)
{
	static const char *const tkeys[] = {"client_header", "keepalive",  "body", "drain",
	                                    "body_min_rate", "body_total", NULL};
	static const char *const lkeys[] = {"max_connections",
	                                    "max_header_size",
	                                    "max_body_size",
	                                    "max_connections_per_address",
	                                    "max_event_streams_per_student",
	                                    NULL};
	struct lg_timeouts_conf *t = &cf->timeouts;
	struct lg_limits_conf *l = &cf->limits;
	config_setting_t *g;

	t->client_header_ms = 10000;
	t->keepalive_ms = 75000;
	t->body_ms = 60000;
	t->drain_ms = 30000;
	l->max_connections = 10000;
	l->max_header_bytes = 16384;
	l->max_body_bytes = 64LL << 20;
	if ((g = get_group(c, root, "", "timeouts", false)) != NULL) {
		check_keys(c, g, "timeouts", tkeys);
		get_duration(c, g, "timeouts", "client_header", 1, 3600000, &t->client_header_ms);
		get_duration(c, g, "timeouts", "keepalive", 0, 3600000, &t->keepalive_ms);
		get_duration(c, g, "timeouts", "body", 1, 86400000, &t->body_ms);
		get_duration(c, g, "timeouts", "drain", 0, 3600000, &t->drain_ms);
	}
	if ((g = get_group(c, root, "", "limits", false)) != NULL) {
		check_keys(c, g, "limits", lkeys);
		get_int(c, g, "limits", "max_connections", 1, 10000000, &l->max_connections);
		if (get_size(c, g, "limits", "max_header_size", &l->max_header_bytes) > 0 &&
		    (l->max_header_bytes < 1024 || l->max_header_bytes > (1 << 20)))
			CERR(c, config_setting_get_member(g, "max_header_size"),
			     "limits.max_header_size: must be between 1k and 1M");
		get_size(c, g, "limits", "max_body_size", &l->max_body_bytes);
	}
}

/*
 * What one slow or greedy client may hold: timeouts.body_min_rate and
 * body_total (slow request bodies), limits.max_connections_per_address and
 * max_event_streams_per_student (0 turns each off). Their keys are checked
 * with the rest of their group in load_timeouts_limits().
 */
static void
load_client_limits(struct cctx *c, const config_setting_t *root, struct lg_config *cf)
{
	struct lg_timeouts_conf *t = &cf->timeouts;
	struct lg_limits_conf *l = &cf->limits;
	config_setting_t *g;

	t->body_min_rate = 512;
	t->body_total_ms = 0;
	l->max_connections_per_address = 256;
	l->max_event_streams_per_student = 4;
	if ((g = get_group(c, root, "", "timeouts", false)) != NULL) {
		if (get_size(c, g, "timeouts", "body_min_rate", &t->body_min_rate) > 0 &&
		    t->body_min_rate > (1LL << 30))
			CERR(c, config_setting_get_member(g, "body_min_rate"),
			     "timeouts.body_min_rate: at most \"1G\" (bytes a second; 0 turns it "
			     "off)");
		get_duration(c, g, "timeouts", "body_total", 0, 86400000, &t->body_total_ms);
	}
	if ((g = get_group(c, root, "", "limits", false)) != NULL) {
		get_int(c, g, "limits", "max_connections_per_address", 0, 10000000,
		        &l->max_connections_per_address);
		get_int(c, g, "limits", "max_event_streams_per_student", 0, 100000,
		        &l->max_event_streams_per_student);
	}
}

/* identity.forward_header: a field name that carries no credential and frames nothing. */
static void
load_forward_header(struct cctx *c, const config_setting_t *g, struct lg_identity_conf *id)
{
	static const char *const reserved[] = {"Host",
	                                       "Content-Length",
	                                       "Transfer-Encoding",
	                                       "Connection",
	                                       "Keep-Alive",
	                                       "Upgrade",
	                                       "TE",
	                                       "Trailer",
	                                       "Proxy-Connection",
	                                       "Via",
	                                       "X-Forwarded-For",
	                                       "X-Forwarded-Proto",
	                                       "Authorization",
	                                       "Cookie",
	                                       "Lessongate-Test-Close",
	                                       NULL};

	if (get_str(c, g, "identity", "forward_header", false, &id->forward_header) <= 0)
		return;
	check_field_names(c, g, "identity", "forward_header", &id->forward_header, 1, reserved,
	                  "is a field lessongate or HTTP itself needs; choose another name");
	for (size_t i = 0; i < id->jwt.nsources; i++)
		if (strncmp(id->jwt.sources[i], "header:", 7) == 0 &&
		    strcasecmp(id->jwt.sources[i] + 7, id->forward_header) == 0)
			CERR(c, config_setting_get_member(g, "forward_header"),
			     "identity.forward_header: \"%s\" is also a token source "
			     "(identity.jwt.sources); choose another name",
			     id->forward_header);
}

/*
 * identity.login_url: an absolute http(s) URL with a host, or a path on this
 * site ("/login", not "//host"), with no spaces, quotes, angle brackets or
 * control bytes.
 */
static void
load_login_url(struct cctx *c, const config_setting_t *g, struct lg_identity_conf *id)
{
	const char *u, *rest = NULL;

	if (get_str(c, g, "identity", "login_url", false, &id->login_url) <= 0)
		return;
	u = id->login_url;
	if (strncasecmp(u, "https://", 8) == 0)
		rest = u + 8;
	else if (strncasecmp(u, "http://", 7) == 0)
		rest = u + 7;
	else if (u[0] == '/' && u[1] != '/' && u[1] != '\\')
		rest = "";
	for (const unsigned char *p = (const unsigned char *)u; rest != NULL && *p; p++)
		if (*p <= ' ' || *p == 0x7f || *p == '"' || *p == '<' || *p == '>' || *p == '\\')
			rest = NULL;
	if (rest == NULL || (*rest == '\0' && u[0] != '/') || *rest == '/' || *rest == '?' ||
	    *rest == '#')
		CERR(c, config_setting_get_member(g, "login_url"),
		     "identity.login_url: \"%s\" is neither an absolute http(s) URL nor a path "
		     "such as \"/login\"",
		     u);
}

/* identity = { jwt = {...}; header = {...}; forward_header; login_url; } */
static void
load_identity(struct cctx *c, const config_setting_t *root, struct lg_config *cf)
{
	static const char *const keys[] = {"jwt", "header", "forward_header", "login_url", NULL};
	static const char *const jkeys[] = {"keys",          "algorithms",   "sources",
	                                    "student_claim", "region_claim", "leeway",
	                                    "issuer",        "audience",     NULL};
	static const char *const hkeys[] = {"name", "trusted_peers", NULL};
	static const char *const algs[] = {"RS256", "RS384", "RS512", "PS256", "PS384",
	                                   "PS512", "ES256", "ES384", "EdDSA", "HS256",
	                                   "HS384", "HS512", NULL};
	config_setting_t *g = get_group(c, root, "", "identity", false), *j, *h;
	struct lg_identity_conf *id = &cf->identity;
	int64_t leeway_ms = 30000;

	id->forward_header = lg_strdup("Lessongate-Student");
	if (g == NULL)
		return;
	check_keys(c, g, "identity", keys);
	if ((j = get_group(c, g, "identity", "jwt", false)) != NULL) {
		char *keysfile = NULL;

		id->jwt_enabled = true;
		check_keys(c, j, "identity.jwt", jkeys);
		if (get_str(c, j, "identity.jwt", "keys", true, &keysfile) > 0)
			id->jwt.keys = resolve_path(c, keysfile);
		free(keysfile);
		if (get_strlist(c, j, "identity.jwt", "algorithms", &id->jwt.algorithms,
		                &id->jwt.nalgorithms) == 0)
			CERR(c, j,
			     "identity.jwt: missing required key \"algorithms\" (pin them, "
			     "e.g. [\"RS256\"])");
		for (size_t i = 0; i < id->jwt.nalgorithms; i++) {
			int k;
			for (k = 0; algs[k] && strcmp(algs[k], id->jwt.algorithms[i]) != 0; k++)
				;
			if (algs[k] == NULL)
				CERR(c, config_setting_get_member(j, "algorithms"),
				     "identity.jwt.algorithms: unsupported algorithm \"%s\"",
				     id->jwt.algorithms[i]);
		}
		get_strlist(c, j, "identity.jwt", "sources", &id->jwt.sources, &id->jwt.nsources);
		for (size_t i = 0; i < id->jwt.nsources; i++)
			if (strncmp(id->jwt.sources[i], "header:", 7) != 0 &&
			    strncmp(id->jwt.sources[i], "cookie:", 7) != 0 &&
			    strncmp(id->jwt.sources[i], "query:", 6) != 0)
				CERR(
				    c, config_setting_get_member(j, "sources"),
				    "identity.jwt.sources: \"%s\" must be header:NAME, cookie:NAME "
				    "or query:NAME",
				    id->jwt.sources[i]);
		get_str(c, j, "identity.jwt", "student_claim", false, &id->jwt.student_claim);
		get_str(c, j, "identity.jwt", "region_claim", false, &id->jwt.region_claim);
		get_duration(c, j, "identity.jwt", "leeway", 0, 3600000, &leeway_ms);
		id->jwt.leeway_s = leeway_ms / 1000;
		get_str(c, j, "identity.jwt", "issuer", false, &id->jwt.issuer);
		get_str(c, j, "identity.jwt", "audience", false, &id->jwt.audience);
		if (id->jwt.student_claim == NULL)
			id->jwt.student_claim = lg_strdup("sub");
	}
	if ((h = get_group(c, g, "identity", "header", false)) != NULL) {
		id->header_enabled = true;
		check_keys(c, h, "identity.header", hkeys);
		get_str(c, h, "identity.header", "name", true, &id->header_name);
		if (get_strlist(c, h, "identity.header", "trusted_peers", &id->trusted_peers,
		                &id->ntrusted_peers) == 0)
			CERR(c, h, "identity.header: missing required key \"trusted_peers\"");
		if (id->header_name != NULL &&
		    !lg_http_is_token(id->header_name, strlen(id->header_name)))
			CERR(c, config_setting_get_member(h, "name"),
			     "identity.header.name: \"%s\" is not a header field name",
			     id->header_name);
	}
	load_forward_header(c, g, id);
	load_login_url(c, g, id);
}

/*
 * state.redis.sentinel = { master; addresses; }: the master is asked of the
 * sentinels (Redis Sentinel) at every connect instead of a fixed address.
 */
static void
load_sentinel(struct cctx *c, const config_setting_t *g, struct lg_state_conf *st)
{
	static const char *const keys[] = {"master", "addresses", NULL};

	check_keys(c, g, "state.redis.sentinel", keys);
	get_str(c, g, "state.redis.sentinel", "master", true, &st->redis_sentinel_master);
	if (get_strlist(c, g, "state.redis.sentinel", "addresses", &st->redis_sentinels,
	                &st->redis_nsentinels) <= 0 ||
	    st->redis_nsentinels == 0) {
		CERR(c,
		     config_setting_get_member(g, "addresses")
		         ? config_setting_get_member(g, "addresses")
		         : g,
		     "state.redis.sentinel.addresses: needs the sentinels' \"host:port\" (at least "
		     "one)");
		return;
	}
	if (st->redis_nsentinels > 16)
		CERR(c, config_setting_get_member(g, "addresses"),
		     "state.redis.sentinel.addresses: at most 16 sentinels (%zu given)",
		     st->redis_nsentinels);
	for (size_t i = 0; i < st->redis_nsentinels; i++)
		if (!valid_address(st->redis_sentinels[i]))
			CERR(c, config_setting_get_member(g, "addresses"),
			     "state.redis.sentinel.addresses[%zu]: \"%s\" is not \"host:port\"", i,
			     st->redis_sentinels[i]);
}

/*
 * state.redis = { address | sentinel; timeout; on_failure; password; username;
 * database; key_prefix; }: the shared Redis store (address "host:port",
 * "[v6]:port" or "unix:/path"; or the master named by Redis Sentinel). TLS to
 * Redis is an error: Debian's hiredis 0.14 has none.
 */
static void
load_redis(struct cctx *c, const config_setting_t *r, struct lg_state_conf *st, int *fail)
{
	static const char *const rkeys[] = {"address",  "timeout",  "on_failure", "password",
	                                    "username", "database", "key_prefix", "tls",
	                                    "sentinel", NULL};
	static const char *const failures[] = {"closed", "local", NULL};
	config_setting_t *sg;
	const char *a;

	check_keys(c, r, "state.redis", rkeys);
	if ((sg = get_group(c, r, "state.redis", "sentinel", false)) != NULL) {
		load_sentinel(c, sg, st);
		if (config_setting_get_member(r, "address") != NULL)
			CERR(c, config_setting_get_member(r, "address"),
			     "state.redis.address: not with state.redis.sentinel (the sentinels "
			     "name "
			     "the master); remove one");
	} else if (get_str(c, r, "state.redis", "address", true, &st->redis_address) > 0) {
		a = st->redis_address;
		if (strncmp(a, "unix:", 5) == 0 ? a[5] != '/' : !valid_address(a))
			CERR(c, config_setting_get_member(r, "address"),
			     "state.redis.address: \"%s\" is not \"host:port\" or \"unix:/path\"",
			     a);
	}
	get_duration(c, r, "state.redis", "timeout", 1, 60000, &st->redis_timeout_ms);
	get_enum(c, r, "state.redis", "on_failure", failures, fail);
	get_str(c, r, "state.redis", "password", false, &st->redis_password);
	if (get_str(c, r, "state.redis", "username", false, &st->redis_username) > 0 &&
	    st->redis_password == NULL)
		CERR(c, config_setting_get_member(r, "username"),
		     "state.redis.username: needs state.redis.password (ACL AUTH username "
		     "password)");
	get_int(c, r, "state.redis", "database", 0, 1000000, &st->redis_database);
	if (get_str(c, r, "state.redis", "key_prefix", false, &st->redis_prefix) > 0 &&
	    (strlen(st->redis_prefix) > 200 || strpbrk(st->redis_prefix, "{}") != NULL))
		CERR(c, config_setting_get_member(r, "key_prefix"),
		     "state.redis.key_prefix: \"%s\" must be at most 200 bytes without \"{\" or "
		     "\"}\" "
		     "(the student is the key's hash tag)",
		     st->redis_prefix);
	if (config_setting_get_member(r, "tls") != NULL)
		CERR(c, config_setting_get_member(r, "tls"),
		     "state.redis.tls: TLS to Redis is not supported (Debian's hiredis 0.14 has no "
		     "TLS); use a loopback or private network, or a TLS tunnel such as stunnel");
}

/*
 * state = { store; dir; redis = {...}; }. "local" (the default, under dir),
 * "memory" and "redis" are implemented: a setting that would do nothing (a dir
 * for the memory or redis store, a redis group for another store) is an error
 * naming the key, never silently ignored.
 */
static void
load_state(struct cctx *c, const config_setting_t *root, struct lg_config *cf)
{
	static const char *const keys[] = {"store", "dir", "redis", NULL};
	static const char *const stores[] = {"memory", "local", "redis", NULL};
	static const char *const failures[] = {"closed", "local", NULL};
	config_setting_t *g = get_group(c, root, "", "state", false), *r;
	struct lg_state_conf *st = &cf->state;
	int store = 1, fail = 0; /* "local" unless told otherwise */

	st->redis_timeout_ms = 200;
	if (g != NULL) {
		check_keys(c, g, "state", keys);
		get_enum(c, g, "state", "store", stores, &store);
		if (get_str(c, g, "state", "dir", false, &st->dir) > 0) {
			if (store != 1)
				CERR(c, config_setting_get_member(g, "dir"),
				     "state.dir: the \"%s\" store keeps nothing on disk; remove "
				     "state.dir, or set store = \"local\" to keep clocks there",
				     stores[store]);
			else if (st->dir[0] != '/')
				CERR(c, config_setting_get_member(g, "dir"),
				     "state.dir: \"%s\" is not an absolute path", st->dir);
		}
		if ((r = get_group(c, g, "state", "redis", false)) != NULL) {
			if (store != 2)
				CERR(c, r,
				     "state.redis: only used with store = \"redis\" (the store is "
				     "\"%s\"); remove it or set store = \"redis\"",
				     stores[store]);
			load_redis(c, r, st, &fail);
		} else if (store == 2) {
			CERR(c, config_setting_get_member(g, "store"),
			     "state.store: \"redis\" needs a state.redis group with an address");
		}
	}
	st->store = lg_strdup(stores[store]);
	if (st->dir == NULL && store == 1)
		st->dir = lg_strdup(LG_STATE_DIR_DEFAULT);
	st->redis_on_failure = lg_strdup(failures[fail]);
	if (st->redis_prefix == NULL)
		st->redis_prefix = lg_strdup("lessongate:");
}

/* A small file's whole content (NUL-terminated) into *out; its length, or -1 with errno set. */
static long
read_small_file(const char *path, size_t max, char **out)
{
	FILE *f = fopen(path, "rb");
	char *b;
	size_t n;

	*out = NULL;
	if (f == NULL)
		return -1;
	b = lg_xcalloc(1, max + 1);
	n = fread(b, 1, max + 1, f);
	if (ferror(f) || n > max) {
		int e = ferror(f) ? EIO : EFBIG;
		fclose(f);
		free(b);
		errno = e;
		return -1;
	}
	fclose(f);
	*out = b;
	return (long)n;
}

/* audit.signing_key: an Ed25519 private key in PEM, named after the log's origin. */
static void
load_signing_key(struct cctx *c, const config_setting_t *g, struct lg_audit_conf *a)
{
	char err[256], *pem;
	long n = read_small_file(a->signing_key, 64 * 1024, &pem);
	struct lg_note_key *k;

	if (n < 0) {
		CERR(c, g, "audit.signing_key: cannot read \"%s\": %s", a->signing_key,
		     strerror(errno));
		return;
	}
	if ((k = lg_note_signer_new(a->name, pem, (size_t)n, err, sizeof(err))) == NULL) {
		CERR(c, g, "audit.signing_key: \"%s\": %s (make one with lessongatectl keygen)",
		     a->signing_key, err);
		free(pem);
		return;
	}
	lg_note_key_free(k);
	a->signing_pem = pem;
	a->signing_pem_len = (size_t)n;
}

/* audit.pseudonym_key: 64 hex digits; a file others can read is worth a warning. */
static void
load_pseudonym_key(struct cctx *c, const config_setting_t *g, struct lg_audit_conf *a)
{
	char err[256], *text;
	long n = read_small_file(a->pseudonym_key, 4096, &text);
	struct stat st;

	if (n < 0) {
		CERR(c, g, "audit.pseudonym_key: cannot read \"%s\": %s", a->pseudonym_key,
		     strerror(errno));
		return;
	}
	if (lg_audit_pseudonym_key_parse(text, (size_t)n, a->pseudonym, err, sizeof(err)) != 0)
		CERR(c, g, "audit.pseudonym_key: \"%s\": %s (make one with lessongatectl keygen)",
		     a->pseudonym_key, err);
	else if (stat(a->pseudonym_key, &st) == 0 && (st.st_mode & 077) != 0)
		CWARN(c, g,
		      "audit.pseudonym_key: \"%s\" is readable by group or others (mode %04o); "
		      "0600 keeps student pseudonyms unlinkable to ids",
		      a->pseudonym_key, (unsigned)(st.st_mode & 07777));
	explicit_bzero(text, (size_t)n);
	free(text);
}

/*
 * audit = { dir; signing_key; pseudonym_key; name; listen = {...}; }: the
 * regulators' audit log. dir, signing_key and pseudonym_key are required
 * and both keys are read and checked here, so -t and a reload catch a bad
 * key; name (the checkpoints' origin and the signing key's name) defaults
 * to the instance; listen (the regulator API) must have TLS with client_ca.
 */
static void
load_audit(struct cctx *c, const config_setting_t *root, struct lg_config *cf)
{
	static const char *const keys[] = {"dir",  "signing_key", "pseudonym_key",
	                                   "name", "listen",      NULL};
	config_setting_t *g = get_group(c, root, "", "audit", false), *l;
	struct lg_audit_conf *a = &cf->audit;
	char *v = NULL;

	if (g == NULL)
		return;
	a->enabled = true;
	check_keys(c, g, "audit", keys);
	if (get_str(c, g, "audit", "dir", true, &v) > 0)
		a->dir = resolve_path(c, v);
	free(v);
	v = NULL;
	if (get_str(c, g, "audit", "name", false, &a->name) == 0)
		a->name = lg_strdup(cf->instance ? cf->instance : "lessongate");
	if (!lg_note_name_valid(a->name))
		CERR(c, g,
		     "audit.name: \"%s\" is not a key name (1 to 255 bytes of UTF-8 without "
		     "space, '+' or control characters); it defaults to the instance",
		     a->name);
	if (get_str(c, g, "audit", "signing_key", true, &v) > 0) {
		a->signing_key = resolve_path(c, v);
		if (lg_note_name_valid(a->name))
			load_signing_key(c, g, a);
	}
	free(v);
	v = NULL;
	if (get_str(c, g, "audit", "pseudonym_key", true, &v) > 0) {
		a->pseudonym_key = resolve_path(c, v);
		load_pseudonym_key(c, g, a);
	}
	free(v);
	if ((l = get_group(c, g, "audit", "listen", false)) != NULL) {
		a->listen_enabled = true;
		load_listener(c, l, "audit.listen", &a->listen, LISTEN_AUDIT);
		if (!a->listen.tls)
			CERR(c, l,
			     "audit.listen: the regulator API needs tls = { certificate; key; "
			     "client_ca; } (client certificates are required)");
	}
}

/* Whether the host part of "host:port" (len n) is a wildcard address. */
static bool
wildcard_host(const char *h, size_t n)
{
	return (n == 7 && memcmp(h, "0.0.0.0", 7) == 0) || (n == 4 && memcmp(h, "[::]", 4) == 0) ||
	       (n == 1 && h[0] == '*') || n == 0;
}

/* Whether two listen addresses would take the same connections (same port, same or any host). */
static bool
addresses_overlap(const char *a, const char *b)
{
	const char *pa = strrchr(a, ':'), *pb = strrchr(b, ':');

	if (pa == NULL || pb == NULL || strcmp(pa, pb) != 0)
		return false;
	if ((size_t)(pa - a) == (size_t)(pb - b) && memcmp(a, b, (size_t)(pa - a)) == 0)
		return true;
	return wildcard_host(a, (size_t)(pa - a)) || wildcard_host(b, (size_t)(pb - b));
}

/* The client or audit listener whose address overlaps address (NULL if none). */
static const struct lg_listen_conf *
same_address(const struct lg_config *cf, const char *address)
{
	for (size_t i = 0; i < cf->nlisten; i++)
		if (cf->listen[i].address && addresses_overlap(cf->listen[i].address, address))
			return &cf->listen[i];
	if (cf->audit.listen_enabled && cf->audit.listen.address &&
	    addresses_overlap(cf->audit.listen.address, address))
		return &cf->audit.listen;
	return NULL;
}

/*
 * admin = { listen = { address; tls = { certificate; key; client_ca; }; }; }:
 * metrics, status, students, reload. Off unless configured; never on the
 * address of a client or the audit listener.
 */
static void
load_admin(struct cctx *c, const config_setting_t *root, struct lg_config *cf)
{
	static const char *const admin_keys[] = {"listen", NULL};
	config_setting_t *g = get_group(c, root, "", "admin", false), *l;
	const struct lg_listen_conf *other;

	if (g == NULL)
		return;
	check_keys(c, g, "admin", admin_keys);
	if ((l = get_group(c, g, "admin", "listen", true)) == NULL)
		return;
	cf->admin.enabled = true;
	load_listener(c, l, "admin.listen", &cf->admin.listen, LISTEN_ADMIN);
	if (cf->admin.listen.address &&
	    (other = same_address(cf, cf->admin.listen.address)) != NULL)
		CERR(c, config_setting_get_member(l, "address"),
		     "admin.listen.address: \"%s\" is already the address of %s (line %d); the "
		     "admin listener needs an address of its own",
		     cf->admin.listen.address,
		     other == &cf->audit.listen ? "the audit listener" : "a client listener",
		     other->line);
}

/* Whether a route path is already in normalised form. */
static bool
normalised_path(const char *p)
{
	if (p[0] != '/')
		return false;
	for (const char *s = p; *s; s++) {
		if ((unsigned char)*s <= 0x20 || *s == 0x7f || *s == '\\' || *s == '%' ||
		    *s == '?' || *s == '#')
			return false;
		if (s[0] == '/' && s[1] == '/')
			return false;
		if (s[0] == '/' && s[1] == '.' &&
		    (s[2] == '/' || s[2] == '\0' || (s[2] == '.' && (s[3] == '/' || s[3] == '\0'))))
			return false;
	}
	return true;
}

/* A route's canonical form (what canonical paths are matched against), or an error. */
static void
route_canon(struct cctx *c, const config_setting_t *g, const char *where, struct lg_route *r)
{
	const char *why = NULL;
	ssize_t n;

	r->canon = lg_xcalloc(1, r->len + 1);
	if ((n = lg_path_canonical(r->path, r->len, r->canon, r->len + 1, &why)) < 0) {
		CERR(c, config_setting_get_member(g, r->exact ? "path" : "prefix"),
		     "%s: \"%s\": %s", where, r->path, why);
		return;
	}
	r->canon_len = (size_t)n;
}

/* routes = ( { prefix | path; class; methods; }, ... ); */
static void
load_routes(struct cctx *c, const config_setting_t *root, struct lg_config *cf)
{
	static const char *const keys[] = {"prefix", "path", "class", "methods", NULL};
	static const char *const classes[] = {"subject", "non_subject", "free", NULL};
	config_setting_t *s = member(c, root, "", "routes", false);
	int n;

	if (s == NULL)
		return;
	if (config_setting_type(s) != CONFIG_TYPE_LIST) {
		CERR(c, s,
		     "routes: expected a list ( { prefix = \"/live/\"; class = \"subject\"; }, "
		     "... )");
		return;
	}
	n = config_setting_length(s);
	cf->routes = lg_xcalloc((size_t)n, sizeof(*cf->routes));
	for (int i = 0; i < n; i++) {
		config_setting_t *g = config_setting_get_elem(s, (unsigned)i);
		struct lg_route *r = &cf->routes[cf->nroutes];
		char where[32];
		int cls = -1, hp, hx;

		snprintf(where, sizeof(where), "routes[%d]", i);
		if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
			CERR(c, g, "%s: expected a group { prefix = \"...\"; class = \"...\"; }",
			     where);
			continue;
		}
		check_keys(c, g, where, keys);
		r->line = line_of(g);
		hp = get_str(c, g, where, "prefix", false, &r->path);
		hx = get_str(c, g, where, "path", false, &r->path);
		if (hp > 0 && hx > 0)
			CERR(c, g, "%s: give either \"prefix\" or \"path\", not both", where);
		else if (hp == 0 && hx == 0)
			CERR(c, g, "%s: missing \"prefix\" (or \"path\" for an exact match)",
			     where);
		r->exact = hx > 0;
		r->len = r->path ? strlen(r->path) : 0;
		if (r->path && !normalised_path(r->path))
			CERR(c, config_setting_get_member(g, r->exact ? "path" : "prefix"),
			     "%s: \"%s\" must be a normalised path: starting with \"/\", without "
			     "\"//\", dot segments, \"%%\", \"\\\", query or spaces",
			     where, r->path);
		else if (r->path)
			route_canon(c, g, where, r);
		if (member(c, g, where, "class", true) != NULL &&
		    get_enum(c, g, where, "class", classes, &cls) > 0)
			r->cls = (enum lg_class)cls;
		get_strlist(c, g, where, "methods", &r->methods, &r->nmethods);
		for (size_t k = 0; k < cf->nroutes && r->path; k++)
			if (cf->routes[k].path && strcmp(cf->routes[k].path, r->path) == 0 &&
			    cf->routes[k].exact == r->exact && r->nmethods == 0 &&
			    cf->routes[k].nmethods == 0)
				CERR(c, g,
				     "%s: \"%s\" repeats the route at line %d (first match wins, "
				     "so this one never applies)",
				     where, r->path, cf->routes[k].line);
		cf->nroutes++;
	}
}

/* Parse a blocked_days list into LG_BLOCK_* bits. */
static void
load_blocked_days(struct cctx *c, const config_setting_t *g, const char *where, unsigned *bits)
{
	char **v = NULL;
	size_t n = 0;

	if (get_strlist(c, g, where, "blocked_days", &v, &n) <= 0)
		return;
	*bits = 0;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(v[i], "holiday") == 0)
			*bits |= LG_BLOCK_HOLIDAY;
		else if (strcmp(v[i], "rest_day") == 0)
			*bits |= LG_BLOCK_REST;
		else if (strcmp(v[i], "vacation") == 0)
			*bits |= LG_BLOCK_VACATION;
		else
			CERR(c, config_setting_get_member(g, "blocked_days"),
			     "%s.blocked_days: \"%s\" is not one of \"holiday\", \"rest_day\", "
			     "\"vacation\"",
			     where, v[i]);
	}
	free_strlist(v, n);
}

/* One class's rules, over the regulation's defaults. */
static void
load_class_rules(struct cctx *c, const config_setting_t *rules, const char *name,
                 struct lg_class_rules *r)
{
	static const char *const keys[] = {"lesson_max", "break_min",    "day_end",
	                                   "day_start",  "blocked_days", NULL};
	config_setting_t *g;
	char where[48];
	int64_t ms;

	snprintf(where, sizeof(where), "rules.%s", name);
	if ((g = get_group(c, rules, "rules", name, false)) == NULL)
		return;
	check_keys(c, g, where, keys);
	if (get_duration(c, g, where, "lesson_max", 1000, 86400000, &ms) > 0) {
		if (ms % 1000)
			CERR(c, config_setting_get_member(g, "lesson_max"),
			     "%s.lesson_max: must be whole seconds", where);
		r->lesson_max = (int32_t)(ms / 1000);
		if (r->lesson_max > 1800)
			CWARN(c, config_setting_get_member(g, "lesson_max"),
			      "%s.lesson_max: %d s is longer than the regulation's 30 minutes",
			      where, r->lesson_max);
	}
	if (get_duration(c, g, where, "break_min", 0, 86400000, &ms) > 0) {
		if (ms % 1000)
			CERR(c, config_setting_get_member(g, "break_min"),
			     "%s.break_min: must be whole seconds", where);
		r->break_min = (int32_t)(ms / 1000);
		if (r->break_min < 600)
			CWARN(c, config_setting_get_member(g, "break_min"),
			      "%s.break_min: %d s is shorter than the regulation's 10 minutes",
			      where, r->break_min);
	}
	if (get_time_of_day(c, g, where, "day_end", &r->day_end) > 0 && r->day_end > 21 * 3600)
		CWARN(c, config_setting_get_member(g, "day_end"),
		      "%s.day_end: later than the regulation's 21:00", where);
	get_time_of_day(c, g, where, "day_start", &r->day_start);
	if (r->day_start >= r->day_end)
		CERR(c, config_setting_get_member(g, "day_start") ?: g,
		     "%s: day_start must be earlier than day_end", where);
	load_blocked_days(c, g, where, &r->blocked_days);
}

/* rules = { subject = {...}; non_subject = {...}; warn_before; regulation_url; } */
static void
load_rules(struct cctx *c, const config_setting_t *root, struct lg_config *cf)
{
	static const char *const keys[] = {"subject", "non_subject", "warn_before",
	                                   "regulation_url", NULL};
	config_setting_t *g = get_group(c, root, "", "rules", false);
	struct lg_rules *r = &cf->rules;
	int64_t ms;

	for (int i = 0; i < LG_LESSON_CLASSES; i++) {
		r->cls[i].lesson_max = 30 * 60;
		r->cls[i].break_min = 10 * 60;
		r->cls[i].day_end = 21 * 3600;
		r->cls[i].day_start = 0;
	}
	r->cls[LG_CLASS_SUBJECT].blocked_days =
	    LG_BLOCK_HOLIDAY | LG_BLOCK_REST | LG_BLOCK_VACATION;
	r->cls[LG_CLASS_NON_SUBJECT].blocked_days = 0;
	r->warn_before = 5 * 60;
	cf->regulation_url = lg_strdup("https://www.gov.cn/zhengce/2021-07/24/content_5627132.htm");
	if (g == NULL)
		return;
	check_keys(c, g, "rules", keys);
	load_class_rules(c, g, "subject", &r->cls[LG_CLASS_SUBJECT]);
	load_class_rules(c, g, "non_subject", &r->cls[LG_CLASS_NON_SUBJECT]);
	if (get_duration(c, g, "rules", "warn_before", 0, 86400000, &ms) > 0)
		r->warn_before = (int32_t)(ms / 1000);
	for (int i = 0; i < LG_LESSON_CLASSES; i++)
		if (r->warn_before >= r->cls[i].lesson_max)
			CERR(c, config_setting_get_member(g, "warn_before") ?: g,
			     "rules.warn_before: must be shorter than rules.%s.lesson_max",
			     lg_class_name((enum lg_class)i));
	get_str(c, g, "rules", "regulation_url", false, &cf->regulation_url);
}

/* calendar = { files; rest_weekdays; default_region; unknown_year; } */
static void
load_calendar(struct cctx *c, const config_setting_t *root, struct lg_config *cf)
{
	static const char *const keys[] = {"files", "rest_weekdays", "default_region",
	                                   "unknown_year", NULL};
	static const char *const days[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL};
	static const char *const unknown[] = {"weekly", "block", NULL};
	config_setting_t *g = get_group(c, root, "", "calendar", false);
	struct lg_calendar_opts *o = &cf->calendar_opts;
	char **files = NULL, **wd = NULL, *region = NULL;
	size_t nfiles = 0, nwd = 0;
	int uy = 0;

	o->rest_weekdays = (1u << 0) | (1u << 6);
	if (g != NULL) {
		check_keys(c, g, "calendar", keys);
		get_strlist(c, g, "calendar", "files", &files, &nfiles);
		if (get_strlist(c, g, "calendar", "rest_weekdays", &wd, &nwd) > 0) {
			o->rest_weekdays = 0;
			for (size_t i = 0; i < nwd; i++) {
				int d;
				for (d = 0; days[d] && strcmp(days[d], wd[i]) != 0; d++)
					;
				if (days[d] == NULL)
					CERR(c, config_setting_get_member(g, "rest_weekdays"),
					     "calendar.rest_weekdays: \"%s\" is not one of \"mon\" "
					     ".. "
					     "\"sun\"",
					     wd[i]);
				else
					o->rest_weekdays |= 1u << d;
			}
		}
		if (get_str(c, g, "calendar", "default_region", false, &region) > 0 &&
		    lg_region_parse(region, &o->default_region) != 0)
			CERR(c, config_setting_get_member(g, "default_region"),
			     "calendar.default_region: \"%s\" is not a six-digit GB/T 2260 region "
			     "code",
			     region);
		if (get_enum(c, g, "calendar", "unknown_year", unknown, &uy) > 0)
			o->unknown_year = (enum lg_unknown_year)uy;
	}
	cf->calendar = lg_calendar_new(o);
	cf->calendar_files = lg_xcalloc(nfiles + 1, sizeof(char *));
	for (size_t i = 0; i < nfiles; i++) {
		cf->calendar_files[cf->ncalendar_files++] = resolve_path(c, files[i]);
		lg_calendar_load_file(cf->calendar, cf->calendar_files[i], c->errs);
	}
	lg_calendar_finish(cf->calendar, c->errs);
	if (nfiles == 0)
		CWARN(c, g ? g : root,
		      "calendar.files: no calendar loaded: every year is "
		      "unknown (calendar.unknown_year applies)");
	free_strlist(files, nfiles);
	free_strlist(wd, nwd);
	free(region);
}

/* The top-level scalars. */
static void
load_main(struct cctx *c, const config_setting_t *root, struct lg_config *cf)
{
	static const char *const modes[] = {"enforce", "monitor", NULL};
	config_setting_t *s;
	int mode = 0;
	int64_t w = 0;
	char err[512];

	check_keys(c, root, "the top level", root_keys);
	if (get_str(c, root, "", "instance", false, &cf->instance) == 0)
		cf->instance = lg_strdup("lessongate");
	if (get_str(c, root, "", "timezone", false, &cf->timezone) == 0)
		cf->timezone = lg_strdup("Asia/Shanghai");
	if (cf->timezone != NULL && (cf->tz = lg_tz_load(cf->timezone, err, sizeof(err))) == NULL) {
		s = config_setting_get_member(root, "timezone");
		CERR(c, s ? s : root, "timezone: %s", err);
	}
	if (get_enum(c, root, "", "mode", modes, &mode) > 0)
		cf->rules.mode = (enum lg_mode)mode;
	if (get_int(c, root, "", "workers", 0, 256, &w) > 0)
		cf->workers = (int)w;
}

/* Read a parsed libconfig tree into cf. */
static struct lg_config *
load_tree(config_t *lc, const char *name, const char *basedir, struct lg_errors *errs)
{
	struct lg_config *cf = lg_xcalloc(1, sizeof(*cf));
	struct lg_errors warns;
	struct cctx c = {name, basedir, errs, &warns};
	config_setting_t *root = config_root_setting(lc);
	size_t before = errs->count;

	lg_errors_init(&warns);
	cf->file = lg_strdup(name);
	load_main(&c, root, cf);
	load_listen(&c, root, cf);
	load_upstream(&c, root, cf);
	load_timeouts_limits(&c, root, cf);
	load_client_limits(&c, root, cf);
	load_identity(&c, root, cf);
	load_routes(&c, root, cf);
	load_rules(&c, root, cf);
	load_calendar(&c, root, cf);
	load_state(&c, root, cf);
	load_audit(&c, root, cf);
	load_admin(&c, root, cf);
	for (size_t i = 0; i < warns.count; i++)
		lg_errors_add(&cf->warnings, NULL, 0, "%s", warns.msg[i]);
	lg_errors_free(&warns);
	if (errs->count != before) {
		lg_config_free(cf);
		return NULL;
	}
	cf->policy = lg_policy_new(&cf->rules, cf->calendar, cf->tz);
	return cf;
}

/* The folder part of a path ("." if none). */
static char *
dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *d;

	if (slash == NULL)
		return lg_strdup(".");
	if (slash == path)
		return lg_strdup("/");
	d = lg_xcalloc(1, (size_t)(slash - path) + 1);
	memcpy(d, path, (size_t)(slash - path));
	return d;
}

/* libconfig's own syntax error, as file:line: message. */
static void
syntax_error(config_t *lc, const char *name, struct lg_errors *errs)
{
	const char *f = config_error_file(lc);

	if (config_error_type(lc) == CONFIG_ERR_FILE_IO)
		lg_errors_add(errs, name, 0, "cannot read the file (%s)",
		              config_error_text(lc) ? config_error_text(lc) : "I/O error");
	else
		lg_errors_add(errs, f ? f : name, config_error_line(lc), "%s%s",
		              strcmp(config_error_text(lc), "syntax error") ? "syntax error: " : "",
		              config_error_text(lc));
}

/* Load from a file. */
struct lg_config *
lg_config_load(const char *path, struct lg_errors *errs)
{
	struct lg_config *cf = NULL;
	char *dir = dir_of(path);
	config_t lc;

	config_init(&lc);
	config_set_include_dir(&lc, dir);
	if (config_read_file(&lc, path) == CONFIG_TRUE)
		cf = load_tree(&lc, path, dir, errs);
	else
		syntax_error(&lc, path, errs);
	config_destroy(&lc);
	free(dir);
	return cf;
}

/* Load from text (embedded defaults, tests); relative paths resolve against basedir. */
struct lg_config *
lg_config_load_string(const char *text, const char *name, const char *basedir,
                      struct lg_errors *errs)
{
	struct lg_config *cf = NULL;
	config_t lc;

	config_init(&lc);
	if (basedir)
		config_set_include_dir(&lc, basedir);
	if (config_read_string(&lc, text) == CONFIG_TRUE)
		cf = load_tree(&lc, name, basedir, errs);
	else
		syntax_error(&lc, name, errs);
	config_destroy(&lc);
	return cf;
}

/* Free TLS settings. */
static void
free_tls(struct lg_tls_conf *t)
{
	free(t->certificate);
	free(t->key);
	free(t->client_ca);
	free(t->ca);
	free(t->server_name);
	for (size_t i = 0; i < t->nsni; i++) {
		free(t->sni[i].certificate);
		free(t->sni[i].key);
	}
	free(t->sni);
}

/* Free everything a config owns. */
void
lg_config_free(struct lg_config *cf)
{
	if (cf == NULL)
		return;
	lg_policy_free(cf->policy);
	lg_calendar_free(cf->calendar);
	lg_tz_free(cf->tz);
	for (size_t i = 0; i < cf->nlisten; i++) {
		free(cf->listen[i].address);
		free_tls(&cf->listen[i].tlsc);
	}
	free(cf->listen);
	free(cf->upstream.address);
	free_tls(&cf->upstream.tlsc);
	free_strlist(cf->upstream.strip_request_headers, cf->upstream.nstrip_request_headers);
	free(cf->identity.jwt.keys);
	free_strlist(cf->identity.jwt.algorithms, cf->identity.jwt.nalgorithms);
	free_strlist(cf->identity.jwt.sources, cf->identity.jwt.nsources);
	free(cf->identity.jwt.student_claim);
	free(cf->identity.jwt.region_claim);
	free(cf->identity.jwt.issuer);
	free(cf->identity.jwt.audience);
	free(cf->identity.header_name);
	free(cf->identity.forward_header);
	free(cf->identity.login_url);
	free_strlist(cf->identity.trusted_peers, cf->identity.ntrusted_peers);
	for (size_t i = 0; i < cf->nroutes; i++) {
		free(cf->routes[i].path);
		free(cf->routes[i].canon);
		free_strlist(cf->routes[i].methods, cf->routes[i].nmethods);
	}
	free(cf->routes);
	free_strlist(cf->calendar_files, cf->ncalendar_files);
	free(cf->state.store);
	free(cf->state.dir);
	free(cf->state.redis_address);
	free(cf->state.redis_sentinel_master);
	for (size_t i = 0; i < cf->state.redis_nsentinels; i++)
		free(cf->state.redis_sentinels[i]);
	free(cf->state.redis_sentinels);
	free(cf->state.redis_on_failure);
	free(cf->state.redis_password);
	free(cf->state.redis_username);
	free(cf->state.redis_prefix);
	free(cf->audit.dir);
	free(cf->audit.signing_key);
	free(cf->audit.pseudonym_key);
	free(cf->audit.name);
	free(cf->audit.signing_pem);
	explicit_bzero(cf->audit.pseudonym, sizeof(cf->audit.pseudonym));
	free(cf->audit.listen.address);
	free_tls(&cf->audit.listen.tlsc);
	free(cf->admin.listen.address);
	free_tls(&cf->admin.listen.tlsc);
	free(cf->regulation_url);
	free(cf->instance);
	free(cf->timezone);
	free(cf->file);
	lg_errors_free(&cf->warnings);
	free(cf);
}

/* Whether a route's path rp (rl bytes) matches path: as a prefix ("/x/" also takes "/x"), or
 * exactly (with or without one trailing "/"). */
static bool
route_path_matches(const char *rp, size_t rl, bool exact, const char *path, size_t len)
{
	if (!exact && rl <= len)
		return memcmp(rp, path, rl) == 0;
	if (exact && rl == len)
		return memcmp(rp, path, len) == 0;
	if (rl == len + 1 && rp[len] == '/') /* "/x/" and "/x" */
		return len > 0 && memcmp(rp, path, len) == 0;
	if (exact && len == rl + 1 && path[rl] == '/') /* exact "/x" and "/x/" */
		return rl > 1 && memcmp(rp, path, rl) == 0;
	return false;
}

/* Whether the route takes the method: any listed, ignoring case; HEAD where GET is. */
static bool
route_method_matches(const struct lg_route *r, const char *method)
{
	if (r->nmethods == 0 || method == NULL)
		return true;
	for (size_t k = 0; k < r->nmethods; k++)
		if (strcasecmp(r->methods[k], method) == 0 ||
		    (strcasecmp(method, "HEAD") == 0 && strcasecmp(r->methods[k], "GET") == 0))
			return true;
	return false;
}

/* First matching route wins (its path, or its canonical form); no route means free. */
static enum lg_class
classify(const struct lg_config *cf, bool canonical, const char *path, size_t len,
         const char *method)
{
	for (size_t i = 0; i < cf->nroutes; i++) {
		const struct lg_route *r = &cf->routes[i];

		if (route_path_matches(canonical ? r->canon : r->path,
		                       canonical ? r->canon_len : r->len, r->exact, path, len) &&
		    route_method_matches(r, method))
			return r->cls;
	}
	return LG_CLASS_FREE;
}

/* The first route a normalised path (without its query) matches, any method; NULL if free. */
const struct lg_route *
lg_config_route(const struct lg_config *cf, const char *path, size_t len)
{
	for (size_t i = 0; i < cf->nroutes; i++)
		if (route_path_matches(cf->routes[i].path, cf->routes[i].len, cf->routes[i].exact,
		                       path, len))
			return &cf->routes[i];
	return NULL;
}

/* The class of a normalised path. */
enum lg_class
lg_config_classify(const struct lg_config *cf, const char *path, size_t len, const char *method)
{
	return classify(cf, false, path, len, method);
}

/* The class of a canonical path. */
enum lg_class
lg_config_classify_canonical(const struct lg_config *cf, const char *canon, size_t len,
                             const char *method)
{
	return classify(cf, true, canon, len, method);
}
