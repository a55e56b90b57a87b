/* A loaded configuration with everything derived from it (TLS contexts, upstream address). */
#include "runtime.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit.h"
#include "tls.h"

struct lg_store *lgd_store;

static atomic_uint generations;

/* Parse "host:port" or "[v6]:port" into a socket address (resolving names); 0 or -1. */
int
lgd_parse_sockaddr(const char *addr, struct sockaddr_storage *ss, socklen_t *len, char **hostp)
{
	struct addrinfo hints, *res = NULL;
	char host[256];
	const char *port;
	size_t hl;
	int r;

	if (addr[0] == '[') {
		const char *close = strchr(addr, ']');
		if (close == NULL || close[1] != ':')
			return -1;
		hl = (size_t)(close - addr - 1);
		if (hl >= sizeof(host))
			return -1;
		memcpy(host, addr + 1, hl);
		port = close + 2;
	} else {
		const char *colon = strrchr(addr, ':');
		if (colon == NULL)
			return -1;
		hl = (size_t)(colon - addr);
		if (hl >= sizeof(host))
			return -1;
		memcpy(host, addr, hl);
		port = colon + 1;
	}
	host[hl] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | (hl == 0 || strcmp(host, "*") == 0 ? AI_PASSIVE : 0);
	r = getaddrinfo(hl == 0 || strcmp(host, "*") == 0 ? NULL : host, port, &hints, &res);
	if (r != 0 || res == NULL)
		return -1;
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	if (hostp)
		*hostp = lg_strdup(host);
	return 0;
}

/* Whether two resolved addresses would take the same connections (same family and port, same
 * address or either the family's wildcard). */
bool
lgd_sockaddr_overlap(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port && (x->sin_addr.s_addr == y->sin_addr.s_addr ||
		                                      x->sin_addr.s_addr == htonl(INADDR_ANY) ||
		                                      y->sin_addr.s_addr == htonl(INADDR_ANY));
	}
	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
		return x->sin6_port == y->sin6_port &&
		       (IN6_ARE_ADDR_EQUAL(&x->sin6_addr, &y->sin6_addr) ||
		        IN6_IS_ADDR_UNSPECIFIED(&x->sin6_addr) ||
		        IN6_IS_ADDR_UNSPECIFIED(&y->sin6_addr));
	}
	return false;
}

/* Resolve l's address (what: "admin.listen") into ss; false with an error in errs. */
static bool
resolve_own(const struct lg_config *cf, const struct lg_listen_conf *l, const char *what,
            struct sockaddr_storage *ss, socklen_t *sl, struct lg_errors *errs)
{
	if (lgd_parse_sockaddr(l->address, ss, sl, NULL) == 0)
		return true;
	lg_errors_add(errs, cf->file, l->line, "%s.address: cannot resolve \"%s\"", what,
	              l->address);
	return false;
}

/* The error for l (what) sharing the socket address of other (named by other_what). */
static void
clash(const struct lg_config *cf, const struct lg_listen_conf *l, const char *what,
      const struct lg_listen_conf *other, const char *other_what, struct lg_errors *errs)
{
	lg_errors_add(errs, cf->file, l->line,
	              "%s.address: \"%s\" is the same socket address as %s \"%s\" (line %d); "
	              "the %.5s listener needs an address of its own",
	              what, l->address, other_what, other->address, other->line, what);
}

/*
 * The admin and audit listeners resolved and checked against the client
 * listeners and each other: a listener that shares a client listener's
 * socket address (by another spelling, "localhost" or "08080", or through a
 * wildcard) would take proxy clients' connections. Errors go to errs.
 */
static void
check_own_addresses(struct lgd_runtime *rt, struct lg_errors *errs)
{
	const struct lg_config *cf = rt->cf;
	struct sockaddr_storage audit_sa;
	socklen_t audit_salen;
	bool admin = cf->admin.enabled && cf->admin.listen.address &&
	             resolve_own(cf, &cf->admin.listen, "admin.listen", &rt->admin_sa,
	                         &rt->admin_salen, errs);
	bool audit =
	    cf->audit.listen_enabled && cf->audit.listen.address &&
	    resolve_own(cf, &cf->audit.listen, "audit.listen", &audit_sa, &audit_salen, errs);
	char name[64];

	for (size_t i = 0; i < cf->nlisten; i++) {
		if (rt->listen_salen[i] == 0)
			continue;
		snprintf(name, sizeof(name), "listen[%zu].address, a client listener,", i);
		if (admin && lgd_sockaddr_overlap(&rt->admin_sa, &rt->listen_sa[i]))
			clash(cf, &cf->admin.listen, "admin.listen", &cf->listen[i], name, errs);
		if (audit && lgd_sockaddr_overlap(&audit_sa, &rt->listen_sa[i]))
			clash(cf, &cf->audit.listen, "audit.listen", &cf->listen[i], name, errs);
	}
	if (admin && audit && lgd_sockaddr_overlap(&rt->admin_sa, &audit_sa))
		clash(cf, &cf->admin.listen, "admin.listen", &cf->audit.listen,
		      "audit.listen.address", errs);
}

/* Load, validate and prepare a configuration; NULL with every error in errs. */
struct lgd_runtime *
lgd_runtime_load(const char *path, struct lg_errors *errs)
{
	struct lg_config *cf = lg_config_load(path, errs);
	struct lgd_runtime *rt;
	size_t before = errs->count;

	if (cf == NULL)
		return NULL;
	rt = lg_xcalloc(1, sizeof(*rt));
	atomic_init(&rt->refs, 1);
	rt->cf = cf;
	rt->generation = atomic_fetch_add(&generations, 1) + 1;
	if (cf->nlisten == 0)
		lg_errors_add(errs, cf->file, 0, "listen: at least one listener is required");
	if (cf->upstream.address == NULL)
		lg_errors_add(errs, cf->file, 0,
		              "upstream: missing required group upstream = { "
		              "address = \"host:port\"; }");
	else if (lgd_parse_sockaddr(cf->upstream.address, &rt->upstream_addr, &rt->upstream_addrlen,
	                            &rt->upstream_host) != 0)
		lg_errors_add(errs, cf->file, 0, "upstream.address: cannot resolve \"%s\"",
		              cf->upstream.address);
	rt->listen_ctx = lg_xcalloc(cf->nlisten + 1, sizeof(SSL_CTX *));
	rt->listen_sa = lg_xcalloc(cf->nlisten + 1, sizeof(*rt->listen_sa));
	rt->listen_salen = lg_xcalloc(cf->nlisten + 1, sizeof(*rt->listen_salen));
	for (size_t i = 0; i < cf->nlisten; i++) {
		/* Resolved here, on the main thread: a worker's loop never waits for DNS. */
		if (lgd_parse_sockaddr(cf->listen[i].address, &rt->listen_sa[i],
		                       &rt->listen_salen[i], NULL) != 0)
			lg_errors_add(errs, cf->file, cf->listen[i].line,
			              "listen[%zu].address: cannot resolve \"%s\"", i,
			              cf->listen[i].address);
		if (cf->listen[i].tls)
			rt->listen_ctx[i] = lgd_tls_server_ctx(cf, &cf->listen[i], errs);
	}
	check_own_addresses(rt, errs);
	if (cf->upstream.tls)
		rt->upstream_ctx = lgd_tls_client_ctx(cf, errs);
	if (cf->audit.listen_enabled && cf->audit.listen.tls) {
		/* The regulator API's certificate, key and client CA: checked by -t and reloads. */
		SSL_CTX *a = lgd_tls_server_ctx(cf, &cf->audit.listen, errs);
		if (a &&
		    SSL_CTX_load_verify_locations(a, cf->audit.listen.tlsc.client_ca, NULL) != 1)
			lg_errors_add(errs, cf->file, cf->audit.listen.line,
			              "audit.listen.tls.client_ca: cannot load \"%s\" as PEM "
			              "certificates",
			              cf->audit.listen.tlsc.client_ca);
		lgd_tls_ctx_free(a);
	}
	/* JWT keys and trusted networks: a bad key file fails -t and reloads here. */
	rt->gate = lg_gate_new(cf, errs);
	rt->sink.emit = lgd_audit_emit;
	rt->sink.arg = rt;
	lg_http_limits_default(&rt->req_limits);
	rt->req_limits.max_fields = (size_t)cf->limits.max_header_bytes;
	rt->req_limits.max_body = (uint64_t)cf->limits.max_body_bytes;
	lg_http_limits_default(&rt->res_limits);
	rt->res_limits.max_fields = 64 * 1024;
	rt->res_limits.max_body = 0;
	if (errs->count != before) {
		lgd_runtime_unref(rt);
		return NULL;
	}
	return rt;
}

/* The SHA-256 of a file's content; 0, or -1 if it cannot be read. */
int
lgd_file_sha256(const char *path, uint8_t out[32])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	char b[65536];
	ssize_t n;
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc = -1;

	if (fd >= 0 && md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1) {
		while ((n = read(fd, b, sizeof(b))) > 0)
			EVP_DigestUpdate(md, b, (size_t)n);
		if (n == 0 && EVP_DigestFinal_ex(md, out, NULL) == 1)
			rc = 0;
	}
	if (fd >= 0)
		close(fd);
	EVP_MD_CTX_free(md);
	if (rc != 0)
		memset(out, 0, 32);
	return rc;
}

/* Take a reference. */
struct lgd_runtime *
lgd_runtime_ref(struct lgd_runtime *rt)
{
	atomic_fetch_add_explicit(&rt->refs, 1, memory_order_relaxed);
	return rt;
}

/* Drop a reference; the last one frees everything. */
void
lgd_runtime_unref(struct lgd_runtime *rt)
{
	if (rt == NULL || atomic_fetch_sub_explicit(&rt->refs, 1, memory_order_acq_rel) != 1)
		return;
	for (size_t i = 0; rt->listen_ctx && i < rt->cf->nlisten; i++)
		lgd_tls_ctx_free(rt->listen_ctx[i]);
	free(rt->listen_ctx);
	free(rt->listen_sa);
	free(rt->listen_salen);
	lgd_tls_ctx_free(rt->upstream_ctx);
	lg_gate_free(rt->gate);
	free(rt->upstream_host);
	lg_config_free(rt->cf);
	free(rt);
}

/* Days ahead in which a year with no national calendar is announced. */
#define CALENDAR_LOOKAHEAD_DAYS 60

/*
 * Say (through say) one sentence per year that today or one of the next 60
 * days falls in and that has no national calendar, with what
 * calendar.unknown_year will do; returns how many.
 */
size_t
lgd_calendar_gaps(const struct lg_config *cf, int64_t now,
                  void (*say)(void *arg, int year, const char *text), void *arg)
{
	int32_t today = lg_day_of(lg_tz_local(cf->tz, now));
	int years[4];
	size_t n =
	    lg_calendar_missing_years(cf->calendar, today, CALENDAR_LOOKAHEAD_DAYS + 1, years, 4);
	char day[16], first[16], text[512];

	lg_format_date(today, day);
	for (size_t i = 0; i < n; i++) {
		int32_t from = lg_days_from_civil(years[i], 1, 1);
		const char *effect =
		    cf->calendar_opts.unknown_year == LG_UNKNOWN_BLOCK
		        ? "calendar.unknown_year = \"block\" blocks every day of it for each "
		          "class with blocked_days"
		        : "calendar.unknown_year = \"weekly\" treats its days as workdays and rest "
		          "weekdays only: no statutory holiday and no make-up workday is known";
		lg_format_date(from, first);
		if (from <= today)
			snprintf(
			    text, sizeof(text),
			    "today (%s) falls in %d, for which no national calendar is loaded: "
			    "%s; add the State Council's notice for %d to calendar.files",
			    day, years[i], effect, years[i]);
		else
			snprintf(
			    text, sizeof(text),
			    "no national calendar is loaded for %d, which begins in %d day(s) "
			    "(%s): %s; add the State Council's notice for %d to calendar.files",
			    years[i], from - today, first, effect, years[i]);
		say(arg, years[i], text);
	}
	return n;
}
