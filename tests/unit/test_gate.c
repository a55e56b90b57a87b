/* Tests for lib/rules/gate.c: identity, classification, decisions and what the client is told. */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "gate.h"
#include "testutil.h"

#define SECRET "0123456789abcdef0123456789abcdef-test-secret"

static char dir[] = "/tmp/lg-gate-XXXXXX";
static struct lg_config *cf;
static struct lg_gate *gate;
static struct lg_store *students;
static int nevents;
static struct lg_event last_event;
static char last_reason[96];

/* Record events for assertions. */
static void
record(void *arg, const struct lg_event *ev)
{
	(void)arg;
	nevents++;
	last_event = *ev;
	snprintf(last_reason, sizeof(last_reason), "%s", ev->reason ? ev->reason : "");
}

static const struct lg_event_sink sink = {record, NULL};

/* Base64url without padding. */
static void
b64url(const unsigned char *in, size_t n, char *out)
{
	int len = EVP_EncodeBlock((unsigned char *)out, in, (int)n);

	while (len > 0 && out[len - 1] == '=')
		len--;
	out[len] = '\0';
	for (char *p = out; *p; p++)
		*p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
}

/* An HS256 token for sub with exp (and a region if non-NULL). */
static void
make_token(const char *sub, int64_t exp, const char *region, char *out)
{
	char payload[256], h[64], p[512], sig[128];
	unsigned char mac[32];
	unsigned int maclen = 0;
	char signing[1024];

	b64url((const unsigned char *)"{\"alg\":\"HS256\",\"typ\":\"JWT\"}", 27, h);
	snprintf(payload, sizeof(payload), "{\"sub\":\"%s\",\"exp\":%lld%s%s%s}", sub,
	         (long long)exp, region ? ",\"region\":\"" : "", region ? region : "",
	         region ? "\"" : "");
	b64url((const unsigned char *)payload, strlen(payload), p);
	snprintf(signing, sizeof(signing), "%s.%s", h, p);
	HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), (const unsigned char *)signing,
	     strlen(signing), mac, &maclen);
	b64url(mac, maclen, sig);
	sprintf(out, "%s.%s", signing, sig);
}

/* Load a config with the JWT secret and a trusted header, plus extra text. */
static struct lg_config *
load(const char *extra)
{
	char path[256], text[2048];
	struct lg_errors errs;
	struct lg_config *c;
	FILE *f;

	snprintf(path, sizeof(path), "%s/secret", dir);
	f = fopen(path, "w");
	fputs(SECRET, f);
	fclose(f);
	snprintf(text, sizeof(text),
	         "identity = { jwt = { keys = \"%s\"; algorithms = [\"HS256\"]; region_claim = "
	         "\"region\"; };\n header = { name = \"X-Student-Id\"; trusted_peers = "
	         "[\"127.0.0.1/32\"]; }; };\n"
	         "routes = ( { prefix = \"/live/\"; class = \"subject\"; },\n"
	         " { prefix = \"/art/live/\"; class = \"non_subject\"; } );\n"
	         "calendar = { files = [\"%s/conf/calendar/cn-2026.conf\"]; default_region = "
	         "\"533100\"; };\n%s",
	         path, LG_SOURCE_ROOT, extra);
	lg_errors_init(&errs);
	c = lg_config_load_string(text, "gate.conf", dir, &errs);
	for (size_t i = 0; i < errs.count; i++)
		fprintf(stderr, "%s\n", errs.msg[i]);
	lg_errors_free(&errs);
	return c;
}

static int
setup(void **state)
{
	struct lg_errors errs;

	(void)state;
	if (mkdtemp(dir) == NULL)
		return 1;
	cf = load("");
	lg_errors_init(&errs);
	gate = cf ? lg_gate_new(cf, &errs) : NULL;
	lg_errors_free(&errs);
	students = lg_store_memory_new(64, 4);
	return gate == NULL;
}

static int
teardown(void **state)
{
	char path[256];

	(void)state;
	lg_gate_free(gate);
	lg_config_free(cf);
	lg_store_free(students);
	snprintf(path, sizeof(path), "%s/secret", dir);
	unlink(path);
	rmdir(dir);
	return 0;
}

struct parsed {
	char raw[4096];
	struct lg_http_header h[32];
	struct lg_http_request req;
	struct sockaddr_in peer;
	struct lg_gate_request gr;
	char target[4096];
};

/* Parse a request head as the daemon would, from peer address `ip`. */
static void
parse(struct parsed *p, const char *ip, const char *fmt, ...)
{
	struct lg_http_parser ps;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(p->raw, sizeof(p->raw), fmt, ap);
	va_end(ap);
	lg_http_parser_init(&ps, NULL, p->h, 32);
	rc = lg_http_parse_request(&ps, p->raw, strlen(p->raw), &p->req);
	if (rc <= 0)
		fail_msg("request did not parse (%d): %s", rc, p->raw);
	memset(&p->peer, 0, sizeof(p->peer));
	p->peer.sin_family = AF_INET;
	inet_pton(AF_INET, ip, &p->peer.sin_addr);
	p->gr.req = &p->req;
	p->gr.headers = p->h;
	p->gr.nheaders = p->req.num_headers;
	p->gr.peer = (struct sockaddr *)&p->peer;
}

/* Run the gate on a request. */
static void
check(struct parsed *p, int64_t now, struct lg_gate_verdict *v)
{
	lg_gate_check(gate, students, &p->gr, now, p->target, sizeof(p->target), &sink, v);
}

/* Free routes pass with the normalised target; the query is kept. */
static void
test_free_route(void **state)
{
	struct parsed p;
	struct lg_gate_verdict v;

	(void)state;
	parse(&p, "10.0.0.1", "GET /static/./app.js?v=1 HTTP/1.1\r\nHost: a\r\n\r\n");
	check(&p, tu_at(cf, 2026, 10, 1, 22, 0, 0), &v);
	assert_int_equal(v.action, LG_GATE_PASS);
	assert_int_equal(v.cls, LG_CLASS_FREE);
	assert_string_equal(v.target, "/static/app.js?v=1");
	assert_int_equal(v.target_len, strlen("/static/app.js?v=1"));
}

/* The status endpoint is the proxy's own, whatever the routes say; odd spellings too. */
static void
test_status_path(void **state)
{
	struct parsed p;
	struct lg_gate_verdict v;
	int before = nevents;

	(void)state;
	parse(&p, "10.0.0.1",
	      "GET /.well-known/lessongate/status?stream=1 HTTP/1.1\r\nHost: a\r\n\r\n");
	check(&p, tu_at(cf, 2026, 9, 21, 10, 0, 0), &v);
	assert_int_equal(v.action, LG_GATE_STATUS);
	parse(&p, "10.0.0.1", "GET //.well-known/lessongate/./status HTTP/1.1\r\nHost: a\r\n\r\n");
	check(&p, tu_at(cf, 2026, 9, 21, 10, 0, 0), &v);
	assert_int_equal(v.action, LG_GATE_STATUS);
	assert_int_equal(nevents, before);
	parse(&p, "10.0.0.1", "GET /.well-known/lessongate/status/x HTTP/1.1\r\nHost: a\r\n\r\n");
	check(&p, tu_at(cf, 2026, 9, 21, 10, 0, 0), &v);
	assert_int_equal(v.action, LG_GATE_PASS);
}

/* Path tricks land where the platform would see them, or are refused. */
static void
test_path_tricks(void **state)
{
	/* status 0: passed as a free route; 401: a lesson route (no token here); 400: refused. */
	static const struct {
		const char *target;
		int status;
		const char *normalised;
	} cases[] = {
	    {"/live/../live/x", 401, "/live/x"},
	    {"/%6Cive/x", 401, "/live/x"},
	    {"//live/x", 401, "/live/x"},
	    {"/art/../live/x", 401, "/live/x"},
	    {"/live%2Fx", 400, NULL},
	    {"/live\\x", 400, NULL},
	    {"/../live/x", 400, NULL},
	    {"/live/%2e%2e/x", 0, "/x"},
	    {"/live/x?q=/../y", 401, "/live/x?q=/../y"},
	    /* Lesson routes in other spellings an origin may serve as the lesson (issue 7):
	     * classified as lessons, forwarded as normalised, not as canonical. */
	    {"/LIVE/room", 401, "/LIVE/room"},
	    {"/%4cIVE/room", 401, "/LIVE/room"},
	    {"/live;x/room", 401, "/live;x/room"},
	    {"/live./room", 401, "/live./room"},
	    {"/live", 401, "/live"},
	    {"/LIVE", 401, "/LIVE"},
	    {"/live%20/room", 401, "/live%20/room"},
	    {"/Live.%20;v=1/room?x=1", 401, "/Live.%20;v=1/room?x=1"},
	    {"/;x/live/room", 401, "/;x/live/room"},
	    {"/ART/LIVE/x", 401, "/ART/LIVE/x"},
	    {"/livex/room", 0, "/livex/room"},
	    {"/li%20ve/room", 0, "/li%20ve/room"},
	    {"/live/.../x", 400, NULL},
	    {"/live/..%20/x", 400, NULL},
	    {"/x/...", 400, NULL},
	};
	struct parsed p;
	struct lg_gate_verdict v;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		parse(&p, "10.0.0.1", "GET %s HTTP/1.1\r\nHost: a\r\n\r\n", cases[i].target);
		check(&p, tu_at(cf, 2026, 9, 21, 10, 0, 0), &v);
		if (v.action != (cases[i].status ? LG_GATE_REFUSE : LG_GATE_PASS) ||
		    (cases[i].status && v.status != cases[i].status))
			fail_msg("%s: action %d status %d, want status %d (%s)", cases[i].target,
			         v.action, v.status, cases[i].status, v.reason);
		if (cases[i].normalised)
			assert_string_equal(v.target, cases[i].normalised);
	}
}

/* The canonical form is written after the target: a buffer too small for both is refused. */
static void
test_target_buffer(void **state)
{
	struct parsed p;
	struct lg_gate_verdict v;
	char small[26]; /* "/LIVE/room?abc" and NUL, then "/live/room" and NUL */

	(void)state;
	parse(&p, "10.0.0.1", "GET /LIVE/room?abc HTTP/1.1\r\nHost: a\r\n\r\n");
	lg_gate_check(gate, students, &p.gr, tu_at(cf, 2026, 9, 21, 10, 0, 0), small, sizeof(small),
	              &sink, &v);
	assert_int_equal(v.status, 401);
	assert_string_equal(v.target, "/LIVE/room?abc");
	lg_gate_check(gate, students, &p.gr, tu_at(cf, 2026, 9, 21, 10, 0, 0), small, 25, &sink,
	              &v);
	assert_int_equal(v.status, 400);
	assert_string_equal(v.reason, "request target too long");
}

/* Sources that name different students, or a bad token beside a good one: ambiguous. */
static void
test_ambiguous_identity(void **state)
{
	struct parsed p;
	struct lg_gate_verdict v;
	struct lg_buf out = {0};
	char a[1024], a2[1024], b[1024], expired[1024], ar[1024];
	int64_t now = tu_at(cf, 2026, 9, 21, 9, 0, 0);

	(void)state;
	make_token("stu-a", now + 3600, NULL, a);
	make_token("stu-a", now + 7200, NULL, a2); /* another token for the same student */
	make_token("stu-b", now + 3600, NULL, b);
	make_token("stu-a", now - 60, NULL, expired);
	make_token("stu-a", now + 3600, "110000", ar);

	/* The same student in every source (even with two different tokens): fine. */
	parse(&p, "10.0.0.1",
	      "GET /live/amb HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer %s\r\nCookie: lg_token=%s"
	      "\r\n\r\n",
	      a, a2);
	check(&p, now, &v);
	assert_int_equal(v.action, LG_GATE_ALLOW);
	assert_string_equal(v.id.student, "stu-a");
	parse(
	    &p, "10.0.0.1",
	    "GET /live/amb?access_token=%s HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer %s\r\n\r\n",
	    a, a);
	check(&p, now, &v);
	assert_int_equal(v.action, LG_GATE_ALLOW);

	/* Header for one student, cookie for another: 401 ambiguous_identity. */
	parse(&p, "10.0.0.1",
	      "GET /live/amb HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer %s\r\nCookie: lg_token=%s"
	      "\r\n\r\n",
	      a, b);
	nevents = 0;
	check(&p, now, &v);
	assert_int_equal(v.status, 401);
	assert_string_equal(v.reason, "ambiguous_identity");
	assert_int_equal(last_event.type, LG_EV_UNIDENTIFIED);
	lg_gate_refusal(gate, &v, now, &p.gr, true, &out);
	assert_non_null(strstr(out.data, "WWW-Authenticate: Bearer realm=\"lessongate\", "
	                                 "error=\"invalid_request\"\r\n"));
	assert_non_null(
	    strstr(out.data, "{\"error\":\"unauthorized\",\"reason\":\"ambiguous_identity\"}"));
	lg_buf_free(&out);
	/* ... the query for a third: the same. */
	parse(
	    &p, "10.0.0.1",
	    "GET /live/amb?access_token=%s HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer %s\r\n\r\n",
	    b, a);
	check(&p, now, &v);
	assert_string_equal(v.reason, "ambiguous_identity");
	/* A present but invalid token beside a valid one is not ignored. */
	parse(&p, "10.0.0.1",
	      "GET /live/amb HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer %s\r\nCookie: lg_token=%s"
	      "\r\n\r\n",
	      a, expired);
	check(&p, now, &v);
	assert_string_equal(v.reason, "ambiguous_identity");
	parse(&p, "10.0.0.1",
	      "GET /live/amb?access_token=garbage HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer %s"
	      "\r\n\r\n",
	      a);
	check(&p, now, &v);
	assert_string_equal(v.reason, "ambiguous_identity");
	/* The same student in two regions: which calendar applies is ambiguous too. */
	parse(&p, "10.0.0.1",
	      "GET /live/amb HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer %s\r\nCookie: lg_token=%s"
	      "\r\n\r\n",
	      ar, a);
	check(&p, now, &v);
	assert_int_equal(v.action, LG_GATE_ALLOW); /* a names no region: no disagreement */
	assert_int_equal(v.id.region, 110000);
	make_token("stu-a", now + 3600, "533100", a2);
	parse(&p, "10.0.0.1",
	      "GET /live/amb HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer %s\r\nCookie: lg_token=%s"
	      "\r\n\r\n",
	      ar, a2);
	check(&p, now, &v);
	assert_string_equal(v.reason, "ambiguous_identity");
	/* One invalid token alone keeps its own reason. */
	parse(&p, "10.0.0.1", "GET /live/amb HTTP/1.1\r\nHost: a\r\nCookie: lg_token=%s\r\n\r\n",
	      expired);
	check(&p, now, &v);
	assert_string_equal(v.reason, "expired");

	/* A trusted identity header and a token must agree too. */
	parse(&p, "127.0.0.1",
	      "GET /live/amb HTTP/1.1\r\nHost: a\r\nX-Student-Id: stu-a\r\nAuthorization: Bearer %s"
	      "\r\n\r\n",
	      ar);
	check(&p, now, &v);
	assert_int_equal(v.action, LG_GATE_ALLOW);
	assert_int_equal(v.id.region, 110000);
	parse(&p, "127.0.0.1",
	      "GET /live/amb HTTP/1.1\r\nHost: a\r\nX-Student-Id: stu-a\r\nAuthorization: Bearer %s"
	      "\r\n\r\n",
	      b);
	check(&p, now, &v);
	assert_string_equal(v.reason, "ambiguous_identity");
	/* From an untrusted peer the header is no credential: the token alone decides. */
	parse(&p, "10.0.0.1",
	      "GET /live/amb HTTP/1.1\r\nHost: a\r\nX-Student-Id: stu-a\r\nAuthorization: Bearer %s"
	      "\r\n\r\n",
	      b);
	check(&p, now, &v);
	assert_int_equal(v.action, LG_GATE_ALLOW);
	assert_string_equal(v.id.student, "stu-b");
}

/* A credential in a field the Connection header lists would not reach the origin: refused. */
static void
test_credential_in_connection(void **state)
{
	struct parsed p;
	struct lg_gate_verdict v;
	char a[1024];
	int64_t now = tu_at(cf, 2026, 9, 21, 9, 0, 0);

	(void)state;
	make_token("stu-c", now + 3600, NULL, a);
	parse(&p, "10.0.0.1",
	      "GET /live/conn HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Authorization\r\n"
	      "Authorization: Bearer %s\r\n\r\n",
	      a);
	check(&p, now, &v);
	assert_int_equal(v.status, 401);
	assert_string_equal(v.reason, "ambiguous_identity");
	parse(&p, "10.0.0.1",
	      "GET /live/conn HTTP/1.1\r\nHost: a\r\nConnection: cookie\r\nCookie: lg_token=%s\r\n"
	      "\r\n",
	      a);
	check(&p, now, &v);
	assert_string_equal(v.reason, "ambiguous_identity");
	parse(&p, "127.0.0.1",
	      "GET /live/conn HTTP/1.1\r\nHost: a\r\nConnection: X-Student-Id\r\nX-Student-Id: "
	      "stu-c\r\n\r\n");
	check(&p, now, &v);
	assert_string_equal(v.reason, "ambiguous_identity");
	/* Listing a field that carried nothing is harmless. */
	parse(&p, "10.0.0.1",
	      "GET /live/conn HTTP/1.1\r\nHost: a\r\nConnection: Cookie\r\nAuthorization: Bearer "
	      "%s\r\n\r\n",
	      a);
	check(&p, now, &v);
	assert_int_equal(v.action, LG_GATE_ALLOW);
	parse(&p, "10.0.0.1",
	      "GET /live/conn?access_token=%s HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", a);
	check(&p, now, &v);
	assert_int_equal(v.action, LG_GATE_ALLOW);
}

/* A lesson without identity is 401, reported as unidentified, and says why. */
static void
test_unidentified(void **state)
{
	struct parsed p;
	struct lg_gate_verdict v;
	struct lg_buf out = {0};

	(void)state;
	nevents = 0;
	parse(&p, "10.0.0.1", "GET /live/room HTTP/1.1\r\nHost: a\r\n\r\n");
	check(&p, tu_at(cf, 2026, 9, 21, 10, 0, 0), &v);
	assert_int_equal(v.status, 401);
	assert_string_equal(v.reason, "missing token");
	assert_int_equal(nevents, 1);
	assert_int_equal(last_event.type, LG_EV_UNIDENTIFIED);
	lg_gate_refusal(gate, &v, tu_at(cf, 2026, 9, 21, 10, 0, 0), &p.gr, true, &out);
	assert_non_null(strstr(out.data, "HTTP/1.1 401 Unauthorized\r\n"));
	assert_non_null(strstr(out.data, "WWW-Authenticate: Bearer realm=\"lessongate\"\r\n"));
	assert_non_null(
	    strstr(out.data, "{\"error\":\"unauthorized\",\"reason\":\"missing token\"}"));
	lg_buf_free(&out);
}

/*
 * A browser (Accept prefers text/html) gets a bilingual 401 page linking to
 * identity.login_url; an expired cookie says why; API clients keep the JSON.
 */
static void
test_unauthorized_page(void **state)
{
	struct lg_config *c;
	struct lg_errors errs;
	struct lg_gate *g;
	struct parsed p;
	struct lg_gate_verdict v;
	struct lg_buf out = {0};
	int64_t now = tu_at(cf, 2026, 9, 21, 10, 0, 0);
	char text[1024], tok[512];

	(void)state;
	/* Without login_url (the shared gate): the page, no link. */
	parse(&p, "10.0.0.1",
	      "GET /live/room HTTP/1.1\r\nHost: a\r\nAccept: "
	      "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n\r\n");
	check(&p, now, &v);
	assert_int_equal(v.status, 401);
	lg_gate_refusal(gate, &v, now, &p.gr, true, &out);
	assert_non_null(strstr(out.data, "HTTP/1.1 401 Unauthorized\r\n"));
	assert_non_null(strstr(out.data, "Content-Type: text/html; charset=utf-8\r\n"));
	assert_non_null(strstr(out.data, "Vary: Accept\r\n"));
	assert_non_null(strstr(out.data, "WWW-Authenticate: Bearer realm=\"lessongate\"\r\n"));
	assert_non_null(strstr(out.data, "请先登录"));
	assert_non_null(strstr(out.data, "Please sign in"));
	assert_null(strstr(out.data, "<a href"));
	lg_buf_free(&out);

	snprintf(text, sizeof(text),
	         "identity = { jwt = { keys = \"%s/secret\"; algorithms = [\"HS256\"];\n"
	         " sources = [\"cookie:lg_token\"]; };\n login_url = \"/login?x=1&y=2\"; };\n"
	         "routes = ( { prefix = \"/live/\"; class = \"subject\"; } );\n"
	         "calendar = { files = [\"%s/conf/calendar/cn-2026.conf\"]; };\n",
	         dir, LG_SOURCE_ROOT);
	lg_errors_init(&errs);
	c = lg_config_load_string(text, "login.conf", dir, &errs);
	assert_non_null(c);
	g = lg_gate_new(c, &errs);
	assert_non_null(g);
	/* An expired cookie: the page says the sign-in was not accepted, and links to it. */
	make_token("stu-1", now - 3600, NULL, tok);
	parse(&p, "10.0.0.1",
	      "GET /live/room HTTP/1.1\r\nHost: a\r\nAccept: text/html\r\nCookie: "
	      "lg_token=%s\r\n\r\n",
	      tok);
	lg_gate_check(g, students, &p.gr, now, p.target, sizeof(p.target), &sink, &v);
	assert_int_equal(v.status, 401);
	lg_gate_refusal(g, &v, now, &p.gr, true, &out);
	assert_non_null(strstr(out.data, "Content-Type: text/html; charset=utf-8\r\n"));
	assert_non_null(strstr(out.data, "<a href=\"/login?x=1&amp;y=2\">登录 / Sign in</a>"));
	assert_non_null(strstr(out.data, "登录信息无效或已过期"));
	assert_non_null(strstr(out.data, "could not be accepted ("));
	lg_buf_free(&out);
	/* The same request from an API client: JSON, as before. */
	parse(&p, "10.0.0.1",
	      "GET /live/room HTTP/1.1\r\nHost: a\r\nAccept: application/json\r\n\r\n");
	lg_gate_check(g, students, &p.gr, now, p.target, sizeof(p.target), &sink, &v);
	lg_gate_refusal(g, &v, now, &p.gr, true, &out);
	assert_non_null(strstr(out.data, "Content-Type: application/json; charset=utf-8\r\n"));
	assert_non_null(
	    strstr(out.data, "{\"error\":\"unauthorized\",\"reason\":\"missing token\"}"));
	lg_buf_free(&out);
	lg_gate_free(g);
	lg_config_free(c);
	lg_errors_free(&errs);
}

/* Tokens: valid from each source, expired, forged. */
static void
test_tokens(void **state)
{
	struct parsed p;
	struct lg_gate_verdict v;
	char tok[1024], bad[1024];
	int64_t now = tu_at(cf, 2026, 9, 21, 9, 0, 0);
	struct lg_buf h = {0};

	(void)state;
	make_token("stu-1", now + 3600, "533102", tok);
	parse(&p, "10.0.0.1",
	      "GET /live/room HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer %s\r\n\r\n", tok);
	nevents = 0;
	check(&p, now, &v);
	assert_int_equal(v.action, LG_GATE_ALLOW);
	assert_true(v.identified);
	assert_string_equal(v.id.student, "stu-1");
	assert_int_equal(v.id.region, 533102);
	assert_int_equal(v.d.remaining, 1800);
	assert_int_equal(nevents, 1);
	assert_int_equal(last_event.type, LG_EV_LESSON_START);
	lg_gate_allow_headers(gate, &v, &h);
	assert_string_equal(h.data, "Lessongate-Remaining: 1800\r\nLessongate-Deadline: "
	                            "2026-09-21T09:30:00+08:00\r\n");
	lg_buf_free(&h);

	make_token("stu-2", now + 3600, NULL, tok);
	parse(&p, "10.0.0.1",
	      "GET /live/room HTTP/1.1\r\nHost: a\r\nCookie: a=b; lg_token=%s\r\n\r\n", tok);
	check(&p, now, &v);
	assert_int_equal(v.action, LG_GATE_ALLOW);
	assert_string_equal(v.id.student, "stu-2");
	parse(&p, "10.0.0.1", "GET /live/ws?room=1&access_token=%s HTTP/1.1\r\nHost: a\r\n\r\n",
	      tok);
	check(&p, now, &v);
	assert_int_equal(v.action, LG_GATE_ALLOW);
	assert_string_equal(v.id.student, "stu-2");

	make_token("stu-3", now - 60, NULL, tok);
	parse(&p, "10.0.0.1",
	      "GET /live/room HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer %s\r\n\r\n", tok);
	check(&p, now, &v);
	assert_int_equal(v.status, 401);
	assert_string_equal(v.reason, "expired");

	make_token("stu-4", now + 3600, NULL, tok);
	snprintf(bad, sizeof(bad), "%s", tok);
	bad[strlen(bad) - 2] = bad[strlen(bad) - 2] == 'A' ? 'B' : 'A';
	parse(&p, "10.0.0.1",
	      "GET /live/room HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer %s\r\n\r\n", bad);
	check(&p, now, &v);
	assert_int_equal(v.status, 401);
	assert_string_equal(v.reason, "signature does not verify");

	/* Two different tokens in two Authorization fields: ambiguous. */
	parse(&p, "10.0.0.1",
	      "GET /live/room HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer %s\r\nAuthorization: "
	      "Bearer %s\r\n\r\n",
	      tok, bad);
	check(&p, now, &v);
	assert_int_equal(v.status, 401);
}

/* Whether the gate strips the request's field number i (with the expected name). */
static bool
strips(const struct parsed *p, const struct lg_gate_verdict *v, size_t i, const char *name)
{
	assert_true(i < p->req.num_headers);
	assert_true(lg_http_header_is(&p->h[i], name));
	return lg_gate_strips(gate, v, &p->h[i]);
}

/* The trusted header is honoured from trusted peers only, and stripped from others. */
static void
test_trusted_header(void **state)
{
	struct parsed p;
	struct lg_gate_verdict v;
	int64_t now = tu_at(cf, 2026, 9, 21, 9, 0, 0);

	(void)state;
	parse(&p, "127.0.0.1", "GET /live/room HTTP/1.1\r\nHost: a\r\nX-Student-Id: hdr-1\r\n\r\n");
	check(&p, now, &v);
	assert_int_equal(v.action, LG_GATE_ALLOW);
	assert_string_equal(v.id.student, "hdr-1");
	assert_true(v.trusted_peer);
	assert_false(strips(&p, &v, 1, "X-Student-Id"));
	assert_false(strips(&p, &v, 0, "Host"));

	parse(&p, "10.9.9.9", "GET /live/room HTTP/1.1\r\nHost: a\r\nX-Student-Id: hdr-1\r\n\r\n");
	check(&p, now, &v);
	assert_int_equal(v.status, 401);
	assert_false(v.trusted_peer);
	assert_true(strips(&p, &v, 1, "X-Student-Id"));

	parse(&p, "10.9.9.9", "GET /free HTTP/1.1\r\nHost: a\r\nx-student-id: hdr-1\r\n\r\n");
	check(&p, now, &v);
	assert_int_equal(v.action, LG_GATE_PASS);
	assert_true(strips(&p, &v, 1, "X-Student-Id"));
}

/* Look-alikes of the identity header ('_' for '-', any case) never reach the origin from
 * untrusted peers; from trusted ones only the exact name is kept (and honoured). */
static void
test_identity_lookalikes(void **state)
{
	struct parsed p;
	struct lg_gate_verdict v;
	int64_t now = tu_at(cf, 2026, 9, 21, 9, 0, 0);

	(void)state;
	parse(&p, "10.9.9.9",
	      "GET /free HTTP/1.1\r\nHost: a\r\nX_Student_Id: s1\r\nx_STUDENT-id: s2\r\n"
	      "X-Student-Idx: s3\r\nX-Student: s4\r\n\r\n");
	check(&p, now, &v);
	assert_int_equal(v.action, LG_GATE_PASS);
	assert_true(strips(&p, &v, 1, "X_Student_Id"));
	assert_true(strips(&p, &v, 2, "x_STUDENT-id"));
	assert_false(strips(&p, &v, 3, "X-Student-Idx"));
	assert_false(strips(&p, &v, 4, "X-Student"));

	parse(&p, "127.0.0.1",
	      "GET /live/alike HTTP/1.1\r\nHost: a\r\nX-Student-Id: hdr-2\r\nX_Student_Id: "
	      "other\r\n\r\n");
	check(&p, now, &v);
	assert_int_equal(v.action, LG_GATE_ALLOW);
	assert_string_equal(v.id.student, "hdr-2");
	assert_false(strips(&p, &v, 1, "X-Student-Id"));
	assert_true(strips(&p, &v, 2, "X_Student_Id"));
}

/* Lessongate-Student is lessongate's own: every client copy and look-alike goes, from anyone. */
static void
test_forward_header_stripped(void **state)
{
	struct parsed p;
	struct lg_gate_verdict v;
	int64_t now = tu_at(cf, 2026, 9, 21, 9, 0, 0);

	(void)state;
	parse(&p, "127.0.0.1",
	      "GET /free HTTP/1.1\r\nHost: a\r\nLessongate-Student: spoof\r\n"
	      "lessongate_student: spoof2\r\nLessongate-Students: ok\r\n\r\n");
	check(&p, now, &v);
	assert_int_equal(v.action, LG_GATE_PASS);
	assert_true(strips(&p, &v, 1, "Lessongate-Student"));
	assert_true(strips(&p, &v, 2, "lessongate_student"));
	assert_false(strips(&p, &v, 3, "Lessongate-Students"));
}

/* identity.forward_header may be the trusted header's own name: the client's copy always goes
 * (lessongate sets the verified value itself), and it still identifies from trusted peers. */
static void
test_forward_header_is_identity_header(void **state)
{
	struct lg_config *c;
	struct lg_errors errs;
	struct lg_gate *g;
	struct parsed p;
	struct lg_gate_verdict v;
	char text[1024];

	(void)state;
	snprintf(text, sizeof(text),
	         "identity = { forward_header = \"x-student-id\";\n header = { name = "
	         "\"X-Student-Id\"; trusted_peers = [\"127.0.0.1/32\"]; }; };\n"
	         "routes = ( { prefix = \"/live/\"; class = \"subject\"; } );\n"
	         "calendar = { files = [\"%s/conf/calendar/cn-2026.conf\"]; };\n",
	         LG_SOURCE_ROOT);
	lg_errors_init(&errs);
	c = lg_config_load_string(text, "fwd.conf", dir, &errs);
	assert_non_null(c);
	g = lg_gate_new(c, &errs);
	assert_non_null(g);
	parse(&p, "127.0.0.1", "GET /live/x HTTP/1.1\r\nHost: a\r\nX-Student-Id: hdr-9\r\n\r\n");
	lg_gate_check(g, students, &p.gr, tu_at(cf, 2026, 9, 21, 9, 0, 0), p.target,
	              sizeof(p.target), &sink, &v);
	assert_int_equal(v.action, LG_GATE_ALLOW);
	assert_string_equal(v.id.student, "hdr-9");
	assert_true(lg_gate_strips(g, &v, &p.h[1]));
	lg_gate_free(g);
	lg_config_free(c);
	lg_errors_free(&errs);
}

/* The rewrite and method-override fields are stripped by default; the list is configurable. */
static void
test_rewrite_headers_stripped(void **state)
{
	static const char *const names[] = {"X-Original-URL", "x-rewrite-url",
	                                    "X-HTTP-Method-Override", "X-HTTP-Method",
	                                    "X-Method-Override"};
	struct lg_config *c;
	struct lg_gate *g;
	struct lg_errors errs;
	struct parsed p;
	struct lg_gate_verdict v;

	(void)state;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		parse(&p, "10.0.0.1", "GET /free HTTP/1.1\r\nHost: a\r\n%s: /live/x\r\n\r\n",
		      names[i]);
		check(&p, tu_at(cf, 2026, 9, 21, 9, 0, 0), &v);
		assert_true(strips(&p, &v, 1, names[i]));
	}
	parse(&p, "10.0.0.1", "GET /free HTTP/1.1\r\nHost: a\r\nX-Original-URLs: x\r\n\r\n");
	check(&p, tu_at(cf, 2026, 9, 21, 9, 0, 0), &v);
	assert_false(strips(&p, &v, 1, "X-Original-URLs"));

	c = load("upstream = { address = \"127.0.0.1:9\"; strip_request_headers = "
	         "[\"X-Debug\"]; };\n");
	assert_non_null(c);
	lg_errors_init(&errs);
	g = lg_gate_new(c, &errs);
	assert_non_null(g);
	parse(&p, "10.0.0.1",
	      "GET /free HTTP/1.1\r\nHost: a\r\nX-Debug: 1\r\nX-Original-URL: /x\r\n\r\n");
	lg_gate_check(g, students, &p.gr, tu_at(cf, 2026, 9, 21, 9, 0, 0), p.target,
	              sizeof(p.target), &sink, &v);
	assert_true(lg_gate_strips(g, &v, &p.h[1]));
	assert_false(lg_gate_strips(g, &v, &p.h[2]));
	lg_gate_free(g);
	lg_config_free(c);
	lg_errors_free(&errs);
}

/* 21:00: 451 with Retry-After, Link and a JSON body; a browser gets the page. */
static void
test_day_end_refusal(void **state)
{
	struct parsed p;
	struct lg_gate_verdict v;
	struct lg_buf out = {0};
	char tok[1024];
	int64_t now = tu_at(cf, 2026, 9, 21, 21, 0, 0);

	(void)state;
	make_token("stu-night", now + 3600, NULL, tok);
	parse(&p, "10.0.0.1",
	      "GET /live/room HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer %s\r\n\r\n", tok);
	nevents = 0;
	check(&p, now, &v);
	assert_int_equal(v.action, LG_GATE_REFUSE);
	assert_int_equal(v.status, 451);
	assert_int_equal(last_event.type, LG_EV_DENY);
	assert_int_equal(last_event.rule, LG_RULE_DAY_END);
	lg_gate_refusal(gate, &v, now, &p.gr, false, &out);
	assert_non_null(strstr(out.data, "HTTP/1.1 451 Unavailable For Legal Reasons\r\n"));
	assert_non_null(strstr(out.data, "Retry-After: 10800\r\n"));
	assert_non_null(strstr(out.data, "Link: <https://www.gov.cn/zhengce/2021-07/24/"
	                                 "content_5627132.htm>; rel=\"blocked-by\"\r\n"));
	assert_non_null(strstr(out.data, "Connection: close\r\n"));
	assert_non_null(strstr(out.data, "application/json"));
	assert_non_null(strstr(out.data, "\"rule\":\"day_end\""));
	lg_buf_free(&out);

	parse(&p, "10.0.0.1",
	      "GET /live/room HTTP/1.1\r\nHost: a\r\nAccept: text/html,*/*;q=0.8\r\nAuthorization: "
	      "Bearer %s\r\n\r\n",
	      tok);
	check(&p, now, &v);
	lg_gate_refusal(gate, &v, now, &p.gr, true, &out);
	assert_non_null(strstr(out.data, "Content-Type: text/html; charset=utf-8\r\n"));
	assert_non_null(strstr(out.data, "现在不能上课"));
	assert_null(strstr(out.data, "Connection: close"));
	lg_buf_free(&out);

	/* HEAD: same head, no body. */
	parse(&p, "10.0.0.1",
	      "HEAD /live/room HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer %s\r\n\r\n", tok);
	check(&p, now, &v);
	lg_gate_refusal(gate, &v, now, &p.gr, true, &out);
	assert_non_null(strstr(out.data, "Content-Length: "));
	assert_int_equal(strstr(out.data, "\r\n\r\n") + 4 - out.data, (long)out.len);
	lg_buf_free(&out);
}

/* Thirty minutes of activity, then 429; the status document tells the student. */
static void
test_lesson_limit_and_status(void **state)
{
	struct parsed p;
	struct lg_gate_verdict v;
	struct lg_buf out = {0};
	char tok[1024];
	int64_t t0 = tu_at(cf, 2026, 9, 22, 15, 0, 0);

	(void)state;
	make_token("stu-long", t0 + 7200, NULL, tok);
	parse(&p, "10.0.0.1",
	      "GET /art/live/room HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer %s\r\n\r\n", tok);
	for (int m = 0; m < 30; m += 5) {
		check(&p, t0 + m * 60, &v);
		assert_int_equal(v.action, LG_GATE_ALLOW);
		assert_int_equal(v.cls, LG_CLASS_NON_SUBJECT);
	}
	check(&p, t0 + 1800, &v);
	assert_int_equal(v.status, 429);
	lg_gate_refusal(gate, &v, t0 + 1800, &p.gr, true, &out);
	assert_non_null(strstr(out.data, "HTTP/1.1 429 Too Many Requests\r\n"));
	assert_non_null(strstr(out.data, "Retry-After: 300\r\n"));
	assert_null(strstr(out.data, "Link:"));
	lg_buf_free(&out);

	lg_gate_status_json(gate, students, &v.id, t0 + 1800, &out);
	assert_non_null(strstr(out.data, "\"student\":\"stu-long\""));
	assert_non_null(strstr(out.data, "\"region\":\"533100\""));
	assert_non_null(strstr(out.data, "\"day\":{\"kind\":\"workday\",\"name\":null,"
	                                 "\"calendar_known\":true}"));
	assert_non_null(strstr(out.data, "\"lesson\":{\"active\":true,\"tunnels\":0,\"start\":"
	                                 "\"2026-09-22T15:00:00+08:00\""));
	assert_non_null(strstr(out.data, "\"subject\":{\"lesson_max\":1800,\"break_min\":600,"
	                                 "\"day_end\":\"21:00\""));
	assert_non_null(strstr(out.data,
	                       "\"allowed\":false,\"rule\":\"lesson_limit\","
	                       "\"retry_after\":300,\"retry_at\":\"2026-09-22T15:35:00+08:00\""));
	lg_buf_free(&out);
	/* The status document did not move the clock: still 429 at the same moment. */
	check(&p, t0 + 1800, &v);
	assert_int_equal(v.status, 429);
	check(&p, t0 + 2100, &v);
	assert_int_equal(v.action, LG_GATE_ALLOW);
}

/*
 * Issue 8: prepare decides nothing and emits nothing for a lesson request;
 * commit emits the events of the store's answer; no answer is a 503 with
 * Retry-After and the reason, and no event.
 */
static void
test_prepare_commit(void **state)
{
	struct parsed p;
	struct lg_gate_verdict v;
	struct lg_store_query q;
	struct lg_store_result r = {.status = LG_STORE_OK};
	struct lg_student_state st = {0};
	struct lg_buf out = {0};
	int64_t now = tu_at(cf, 2026, 9, 21, 16, 0, 0);
	char tok[1024];
	int before;

	(void)state;
	make_token("stu-seam", now + 3600, NULL, tok);
	parse(&p, "10.0.0.1",
	      "GET /live/room HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer %s\r\n\r\n", tok);
	before = nevents;
	lg_gate_prepare(gate, &p.gr, now, p.target, sizeof(p.target), &sink, &v);
	assert_int_equal(v.action, LG_GATE_DECIDE);
	assert_true(v.identified);
	assert_int_equal(nevents, before);
	lg_gate_query(gate, &v, now, &q);
	assert_string_equal(q.student, "stu-seam");
	assert_int_equal(q.cls, LG_CLASS_SUBJECT);
	assert_int_equal(q.now, now);
	lg_policy_decide(q.policy, &st, q.cls, q.region, q.now, &r.d);
	lg_gate_commit(gate, &v, now, &r, &sink);
	assert_int_equal(v.action, LG_GATE_ALLOW);
	assert_int_equal(nevents, before + 1);
	assert_int_equal(last_event.type, LG_EV_LESSON_START);
	/* The store did not answer (timeout) or cannot: 503, nothing happened, no event. */
	lg_gate_prepare(gate, &p.gr, now, p.target, sizeof(p.target), &sink, &v);
	lg_gate_commit(gate, &v, now, NULL, &sink);
	assert_int_equal(v.action, LG_GATE_REFUSE);
	assert_int_equal(v.status, 503);
	assert_int_equal(nevents, before + 1);
	lg_gate_refusal(gate, &v, now, &p.gr, true, &out);
	assert_non_null(strstr(out.data, "HTTP/1.1 503 Service Unavailable\r\n"));
	assert_non_null(strstr(out.data, "Retry-After: 5\r\n"));
	assert_non_null(strstr(out.data, "\"reason\":\"student store unavailable\""));
	lg_buf_free(&out);
	r.status = LG_STORE_UNAVAILABLE;
	lg_gate_prepare(gate, &p.gr, now, p.target, sizeof(p.target), &sink, &v);
	lg_gate_commit(gate, &v, now, &r, &sink);
	assert_int_equal(v.status, 503);
}

/* Monitor mode lets everything through but marks the would-be refusal. */
static void
test_monitor(void **state)
{
	struct lg_config *c = load("mode = \"monitor\";\n");
	struct lg_errors errs;
	struct lg_gate *g;
	struct parsed p;
	struct lg_gate_verdict v;
	struct lg_buf h = {0};
	char tok[1024];
	int64_t now = tu_at(cf, 2026, 10, 1, 10, 0, 0);

	(void)state;
	assert_non_null(c);
	lg_errors_init(&errs);
	g = lg_gate_new(c, &errs);
	assert_non_null(g);
	make_token("stu-mon", now + 60, NULL, tok);
	parse(&p, "10.0.0.1",
	      "GET /live/room HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer %s\r\n\r\n", tok);
	nevents = 0;
	lg_gate_check(g, students, &p.gr, now, p.target, sizeof(p.target), &sink, &v);
	assert_int_equal(v.action, LG_GATE_ALLOW);
	assert_int_equal(last_event.type, LG_EV_DENY);
	assert_false(last_event.enforced);
	lg_gate_allow_headers(g, &v, &h);
	assert_string_equal(h.data,
	                    "Lessongate-Remaining: 0\r\nLessongate-Violation: blocked_day\r\n");
	lg_buf_free(&h);
	lg_gate_free(g);
	lg_config_free(c);
	lg_errors_free(&errs);
}

/* A key file that cannot be loaded is a gate error (so -t and reload catch it). */
static void
test_bad_keys(void **state)
{
	struct lg_errors errs;
	struct lg_config *c;
	char text[512];

	(void)state;
	snprintf(text, sizeof(text),
	         "identity = { jwt = { keys = \"/nonexistent/jwt.pem\"; algorithms = [\"RS256\"]; "
	         "}; };\n");
	lg_errors_init(&errs);
	c = lg_config_load_string(text, "k.conf", "/", &errs);
	assert_non_null(c);
	assert_null(lg_gate_new(c, &errs));
	assert_int_equal(errs.count, 1);
	assert_non_null(strstr(errs.msg[0], "k.conf: identity.jwt.keys:"));
	assert_non_null(strstr(errs.msg[0], "/nonexistent/jwt.pem"));
	lg_config_free(c);
	lg_errors_free(&errs);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_free_route),
	    cmocka_unit_test(test_status_path),
	    cmocka_unit_test(test_path_tricks),
	    cmocka_unit_test(test_unidentified),
	    cmocka_unit_test(test_tokens),
	    cmocka_unit_test(test_trusted_header),
	    cmocka_unit_test(test_day_end_refusal),
	    cmocka_unit_test(test_lesson_limit_and_status),
	    cmocka_unit_test(test_prepare_commit),
	    cmocka_unit_test(test_monitor),
	    cmocka_unit_test(test_bad_keys),
	    cmocka_unit_test(test_identity_lookalikes),
	    cmocka_unit_test(test_target_buffer),
	    cmocka_unit_test(test_ambiguous_identity),
	    cmocka_unit_test(test_credential_in_connection),
	    cmocka_unit_test(test_forward_header_stripped),
	    cmocka_unit_test(test_rewrite_headers_stripped),
	    cmocka_unit_test(test_forward_header_is_identity_header),
	    cmocka_unit_test(test_unauthorized_page),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
