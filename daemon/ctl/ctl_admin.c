/*
 * lessongatectl status, student ID, reload: one HTTP/1.1 request to the
 * admin listener named in the configuration (plain, or TLS with an optional
 * client certificate) through ctl_fetch.c, at most 10 s; the answer printed
 * readably or, with --json, as sent.
 */
#include "ctl_admin.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "ctl_fetch.h"
#include "json.h"
#include "render.h"
#include "util.h"

/* Exit codes (documented in lessongatectl(8)). */
enum { EX_OK = 0, EX_ANSWER = 1, EX_USAGE = 2, EX_NOADMIN = 3, EX_UNREACHABLE = 4 };

const char lgctl_admin_usage[] =
    "  status [--json]                    the running daemon: version, configuration,\n"
    "                                     listeners, today, store and audit log\n"
    "  student ID [--region CODE] [--json]\n"
    "                                     one student's lesson clock, and why a request\n"
    "                                     now would be refused\n"
    "  reload [--json]                    reload the configuration (as SIGHUP) and say\n"
    "                                     how it went (errors with file:line)\n"
    "      (these talk to admin.listen, 10 s at most; over TLS: [--cacert FILE]\n"
    "       [--cert FILE [--cert-key FILE]])\n";

/* What the command line asked for. */
struct opts {
	bool json;
	const char *cacert, *cert, *cert_key, *region;
};

/* A response: status and body. */
struct answer {
	int status;
	struct lg_buf body;
};

/* Seconds a request to the admin listener may take in all (documented in lessongatectl(8)). */
#define ADMIN_TIMEOUT_S 10
/* The largest answer taken. */
#define ADMIN_ANSWER_MAX (1 << 20)

/* The URL that reaches the admin listener at address: a wildcard host ("*", "", "0.0.0.0",
 * "[::]") becomes loopback of its family; -1 if the address is malformed. */
static int
admin_url(const char *address, bool tls, char *out, size_t cap)
{
	const char *colon = strrchr(address, ':'), *host = address;
	size_t hl;

	if (colon == NULL || colon[1] == '\0')
		return -1;
	hl = (size_t)(colon - address);
	if (hl == 0 || (hl == 1 && *host == '*') || (hl == 7 && strncmp(host, "0.0.0.0", 7) == 0))
		host = "127.0.0.1", hl = 9;
	else if (hl == 4 && strncmp(host, "[::]", 4) == 0)
		host = "[::1]", hl = 5;
	return snprintf(out, cap, "%s://%.*s%s", tls ? "https" : "http", (int)hl, host, colon) <
	               (int)cap
	           ? 0
	           : -1;
}

/* One request to the admin listener of cf; an exit code (EX_OK with a filled in). */
static int
request(const struct lg_config *cf, const char *method, const char *path, const struct opts *o,
        struct answer *a)
{
	const struct lg_listen_conf *l = &cf->admin.listen;
	char url[400], err[768];
	struct lgctl_https *h;
	int rc;

	if (!cf->admin.enabled) {
		fprintf(stderr,
		        "lessongatectl: %s: no admin listener is configured "
		        "(admin = { listen = { address = \"127.0.0.1:9180\"; }; }; then reload)\n",
		        cf->file);
		return EX_NOADMIN;
	}
	if (admin_url(l->address, l->tls, url, sizeof(url)) != 0) {
		fprintf(stderr, "lessongatectl: admin.listen.address \"%s\" is malformed\n",
		        l->address);
		return EX_NOADMIN;
	}
	if ((h = lgctl_https_new(url, o->cert, o->cert_key, o->cacert, err, sizeof(err))) == NULL) {
		fprintf(stderr, "lessongatectl: %s\n", err);
		return EX_USAGE;
	}
	lgctl_https_timeout(h, ADMIN_TIMEOUT_S);
	rc = lgctl_https_request_buf(h, method, path, "application/json", &a->status, &a->body,
	                             ADMIN_ANSWER_MAX, err, sizeof(err));
	lgctl_https_free(h);
	if (rc == LGCTL_UNREACHABLE) {
		fprintf(stderr,
		        "lessongatectl: cannot reach the admin listener at %s: %s (is lessongated "
		        "running with %s? over TLS: --cacert, --cert, --cert-key)\n",
		        l->address, err, cf->file);
		return EX_UNREACHABLE;
	}
	if (rc != 0) {
		fprintf(stderr, "lessongatectl: the admin listener at %s: %s\n", l->address, err);
		return EX_ANSWER;
	}
	lg_buf_add(&a->body, "", 1); /* NUL-terminated for printing */
	a->body.len--;
	return EX_OK;
}

/*
 * The value at a dotted path ("config.generation") of a JSON object, as text
 * (strings decoded; null, numbers and booleans as written); "" if absent.
 */
static const char *
field(const char *doc, size_t n, const char *path, char *out, size_t cap)
{
	char key[64], *keys = lg_xcalloc(n + 1, 1);
	const char *names[2] = {key, NULL};
	struct lg_json_value v = {.type = LG_JSON_OBJECT, .p = doc, .n = n};

	out[0] = '\0';
	while (*path) {
		size_t k = strcspn(path, ".");
		snprintf(key, sizeof(key), "%.*s", (int)k, path);
		if (v.type != LG_JSON_OBJECT || lg_json_parse(v.p, v.n, keys, n + 1, names, &v, 1))
			v.type = LG_JSON_ABSENT;
		path += k + (path[k] == '.');
	}
	if (v.type == LG_JSON_STRING)
		lg_json_string(&v, out, cap);
	else if (v.type != LG_JSON_ABSENT)
		snprintf(out, cap, "%.*s", (int)v.n, v.p);
	free(keys);
	return out;
}

/* One listener of the status, "kind address [tls]" (lg_json_each's callback). */
static int
print_listener(const struct lg_json_value *el, void *arg)
{
	char k[32], a[300], t[8], c[8];
	int *first = arg;

	field(el->p, el->n, "kind", k, sizeof(k));
	field(el->p, el->n, "address", a, sizeof(a));
	field(el->p, el->n, "tls", t, sizeof(t));
	field(el->p, el->n, "client_certificates", c, sizeof(c));
	printf("%s%s %s%s", *first ? "" : "; ", k, a,
	       strcmp(c, "true") == 0   ? " (TLS, client certificates)"
	       : strcmp(t, "true") == 0 ? " (TLS)"
	                                : "");
	*first = 0;
	return 0;
}

/* One region's day of the status (lg_json_each's callback). */
static int
print_day(const struct lg_json_value *el, void *arg)
{
	char r[16], k[32], nm[128];
	int *first = arg;

	field(el->p, el->n, "region", r, sizeof(r));
	field(el->p, el->n, "kind", k, sizeof(k));
	field(el->p, el->n, "name", nm, sizeof(nm));
	printf("%s%s: %s%s%s%s", *first ? "" : "; ", strcmp(r, "null") ? r : "national", k,
	       strcmp(nm, "null") ? " (" : "", strcmp(nm, "null") ? nm : "",
	       strcmp(nm, "null") ? ")" : "");
	*first = 0;
	return 0;
}

/* Call fn on each element of the array at a top-level key. */
static void
each(const char *doc, size_t n, const char *key, int (*fn)(const struct lg_json_value *, void *))
{
	char *keys = lg_xcalloc(n + 1, 1);
	const char *names[2] = {key, NULL};
	struct lg_json_value v;
	int first = 1;

	if (lg_json_parse(doc, n, keys, n + 1, names, &v, 1) == 0 && v.type == LG_JSON_ARRAY)
		lg_json_each(&v, keys, n + 1, fn, &first);
	free(keys);
}

/* The status document, readably. */
static void
print_status(const char *d, size_t n)
{
	char a[512], b[512], c[512], e[128];
	long up = atol(field(d, n, "uptime_s", a, sizeof(a)));

	printf("lessongated  %s, instance %s, %s mode, up %ldd %02ldh%02ldm (since %s)\n",
	       field(d, n, "version", a, sizeof(a)), field(d, n, "instance", b, sizeof(b)),
	       field(d, n, "mode", c, sizeof(c)), up / 86400, up % 86400 / 3600, up % 3600 / 60,
	       field(d, n, "started", e, sizeof(e)));
	printf("config       %s, generation %s, sha256 %s\n",
	       field(d, n, "config.file", a, sizeof(a)),
	       field(d, n, "config.generation", b, sizeof(b)),
	       field(d, n, "config.sha256", c, sizeof(c)));
	printf("workers      %s, %s client connection(s)\n", field(d, n, "workers", a, sizeof(a)),
	       field(d, n, "connections", b, sizeof(b)));
	printf("listeners    ");
	each(d, n, "listeners", print_listener);
	printf("\ntoday        ");
	each(d, n, "today", print_day);
	printf("\nunknown_year %s (years without a national calendar in the next 60 days: %s)\n",
	       field(d, n, "unknown_year.applies", a, sizeof(a)),
	       field(d, n, "unknown_year.missing_years", b, sizeof(b)));
	printf("store        %s, %s", field(d, n, "store.kind", a, sizeof(a)),
	       strcmp(field(d, n, "store.up", b, sizeof(b)), "true") == 0 ? "up" : "UNAVAILABLE");
	if (*field(d, n, "store.students", a, sizeof(a)))
		printf(", %s student(s)", a);
	if (strcmp(field(d, n, "audit", a, sizeof(a)), "null") == 0)
		printf("\naudit log    off\n");
	else
		printf("\naudit log    %s, %s record(s), %s queued, %s lost\n",
		       strcmp(field(d, n, "audit.writable", a, sizeof(a)), "true") == 0
		           ? "writable"
		           : "CANNOT BE WRITTEN (lesson routes answer 503)",
		       field(d, n, "audit.records", b, sizeof(b)),
		       field(d, n, "audit.queue_depth", c, sizeof(c)),
		       field(d, n, "audit.lost", e, sizeof(e)));
}

/* One class's verdict in a student document. */
static void
print_class(const char *d, size_t n, const char *cls)
{
	char p[64], a[128], b[128], c[128];

	snprintf(p, sizeof(p), "classes.%s.allowed_now", cls);
	if (strcmp(field(d, n, p, a, sizeof(a)), "true") == 0) {
		snprintf(p, sizeof(p), "classes.%s.remaining_s", cls);
		printf("%-12s allowed now, %s s left in the lesson", cls,
		       field(d, n, p, b, sizeof(b)));
	} else {
		snprintf(p, sizeof(p), "classes.%s.rule", cls);
		field(d, n, p, a, sizeof(a));
		snprintf(p, sizeof(p), "classes.%s.retry_after_s", cls);
		field(d, n, p, b, sizeof(b));
		snprintf(p, sizeof(p), "classes.%s.retry_at", cls);
		printf("%-12s REFUSED now: %s, retry after %s s (at %s)", cls, a, b,
		       field(d, n, p, c, sizeof(c)));
	}
	snprintf(p, sizeof(p), "classes.%s.break_ends", cls);
	if (strcmp(field(d, n, p, a, sizeof(a)), "null") != 0)
		printf("; the break ends at %s", a);
	printf("\n");
}

/* A student document, readably. */
static void
print_student(const char *d, size_t n)
{
	char a[512], b[128], c[128];

	printf("student      %s (region %s) at %s\n", field(d, n, "student", a, sizeof(a)),
	       field(d, n, "region", b, sizeof(b)), field(d, n, "now", c, sizeof(c)));
	if (strcmp(field(d, n, "lesson", a, sizeof(a)), "null") == 0)
		printf("lesson       none\n");
	else
		printf("lesson       started %s, last activity %s, %s s used\n",
		       field(d, n, "lesson.start", a, sizeof(a)),
		       field(d, n, "lesson.last_activity", b, sizeof(b)),
		       field(d, n, "lesson.used_s", c, sizeof(c)));
	printf("tunnels      %s open%s\n", field(d, n, "open_tunnels", a, sizeof(a)),
	       strcmp(field(d, n, "tunnels_hold_lesson", b, sizeof(b)), "true") == 0
	           ? " (they hold the lesson: it goes on while they are open)"
	           : "");
	print_class(d, n, "subject");
	print_class(d, n, "non_subject");
}

/* One reload error on stderr (lg_json_each's callback). */
static int
print_error(const struct lg_json_value *el, void *arg)
{
	char s[2048];

	(void)arg;
	if (lg_json_string(el, s, sizeof(s)) >= 0)
		fprintf(stderr, "  %s\n", s);
	return 0;
}

/* The answer to a reload, readably: the generation, or every error on stderr. */
static void
print_reload(const char *d, size_t n)
{
	char a[64];
	char *keys = lg_xcalloc(n + 1, 1);
	const char *names[2] = {"errors", NULL};
	struct lg_json_value v;

	if (strcmp(field(d, n, "ok", a, sizeof(a)), "true") == 0) {
		printf("reloaded: configuration generation %s\n",
		       field(d, n, "generation", a, sizeof(a)));
	} else if (lg_json_parse(d, n, keys, n + 1, names, &v, 1) == 0 && v.type == LG_JSON_ARRAY) {
		fprintf(stderr, "lessongatectl: reload failed, the running configuration stays:\n");
		each(d, n, "errors", print_error);
	}
	free(keys);
}

/* Parse the options after the command; positional arguments into rest. */
static int
parse_opts(int argc, char **argv, struct opts *o, char **rest, int *nrest)
{
	static const struct option longopts[] = {
	    {"json", no_argument, NULL, 'j'},         {"cacert", required_argument, NULL, 'A'},
	    {"cert", required_argument, NULL, 'C'},   {"cert-key", required_argument, NULL, 'K'},
	    {"region", required_argument, NULL, 'r'}, {NULL, 0, NULL, 0}};
	int ch;

	optind = 0; /* a full restart: lessongatectl's own getopt stopped at the command */
	opterr = 1;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (ch) {
		case 'j':
			o->json = true;
			break;
		case 'A':
			o->cacert = optarg;
			break;
		case 'C':
			o->cert = optarg;
			break;
		case 'K':
			o->cert_key = optarg;
			break;
		case 'r':
			o->region = optarg;
			break;
		default:
			return -1;
		}
	}
	*nrest = 0;
	while (optind < argc && *nrest < 2)
		rest[(*nrest)++] = argv[optind++];
	return optind < argc ? -1 : 0;
}

/* Percent-encode a student id for the path. */
static void
encode_id(const char *id, char *out, size_t cap)
{
	size_t n = 0;

	for (const unsigned char *p = (const unsigned char *)id; *p && n + 4 < cap; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~", *p))
			out[n++] = (char)*p;
		else
			n += (size_t)snprintf(out + n, cap - n, "%%%02X", *p);
	}
	out[n] = '\0';
}

/* `status`, `student ID`, `reload` against the configured admin listener. */
int
lgctl_admin_main(const char *config_path, int argc, char **argv)
{
	const char *cmd = argv[0];
	struct opts o = {0};
	struct answer a = {0};
	struct lg_errors errs;
	struct lg_config *cf;
	char *rest[2], path[1200], enc[1024];
	int nrest, rc;

	if (parse_opts(argc, argv, &o, rest, &nrest) != 0 ||
	    nrest != (strcmp(cmd, "student") == 0 ? 1 : 0) || (o.cert_key && !o.cert) ||
	    (o.region && strcmp(cmd, "student") != 0)) {
		fprintf(stderr, "usage:\n%s", lgctl_admin_usage);
		return EX_USAGE;
	}
	signal(SIGPIPE, SIG_IGN); /* a listener that drops us is an error, not a signal */
	lg_errors_init(&errs);
	if ((cf = lg_config_load(config_path, &errs)) == NULL) {
		for (size_t i = 0; i < errs.count; i++)
			fprintf(stderr, "%s\n", errs.msg[i]);
		fprintf(stderr, "lessongatectl: %s is not valid%s\n", config_path,
		        strcmp(cmd, "reload") == 0 ? "; the daemon was not asked to reload" : "");
		lg_errors_free(&errs);
		return EX_ANSWER;
	}
	lg_errors_free(&errs);
	if (strcmp(cmd, "student") == 0) {
		encode_id(rest[0], enc, sizeof(enc));
		snprintf(path, sizeof(path), "/admin/v1/students/%s%s%s", enc,
		         o.region ? "?region=" : "", o.region ? o.region : "");
	} else {
		snprintf(path, sizeof(path), "/admin/v1/%s", cmd);
	}
	rc = request(cf, strcmp(cmd, "reload") == 0 ? "POST" : "GET", path, &o, &a);
	if (rc == EX_OK) {
		bool good = a.status == 200;
		if (o.json)
			fwrite(a.body.data, 1, a.body.len, stdout);
		else if (strcmp(cmd, "reload") == 0 && (good || a.status == 422))
			print_reload(a.body.data, a.body.len);
		else if (!good)
			fprintf(stderr, "lessongatectl: %s: %d %s\n", path, a.status,
			        field(a.body.data, a.body.len, "error", enc, sizeof(enc)));
		else if (strcmp(cmd, "status") == 0)
			print_status(a.body.data, a.body.len);
		else
			print_student(a.body.data, a.body.len);
		rc = good ? EX_OK : EX_ANSWER;
	}
	lg_buf_free(&a.body);
	lg_config_free(cf);
	return rc;
}
