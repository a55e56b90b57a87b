/* Tests for lib/core/config.c: every mistake gets file:line, the key and what was expected. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

static char path[64];
static char errors[8192];

/* Write text to a temp file in conf/ (so calendar paths resolve) and load it. */
static struct lg_config *
load_text(const char *text)
{
	struct lg_errors errs;
	struct lg_config *cf;
	int fd;
	FILE *f;

	snprintf(path, sizeof(path), "%s", "/tmp/lg-conf-XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	fputs(text, f);
	fclose(f);
	lg_errors_init(&errs);
	cf = lg_config_load(path, &errs);
	lg_errors_join(&errs, errors, sizeof(errors));
	/* All or nothing: a config comes back only when there was no error. */
	assert_true((cf == NULL) == (errs.count > 0));
	lg_errors_free(&errs);
	unlink(path);
	return cf;
}

/* Assert that loading failed with a message "<tmpfile>:line: ...needle...". */
static void
expect_error(const char *text, int line, const char *needle)
{
	char prefix[96];
	struct lg_config *cf = load_text(text);

	if (cf != NULL) {
		lg_config_free(cf);
		fail_msg("config loaded, expected an error containing \"%s\"", needle);
	}
	snprintf(prefix, sizeof(prefix), "%s:%d: ", path, line);
	if (strstr(errors, prefix) == NULL || strstr(errors, needle) == NULL)
		fail_msg("expected \"%s...%s\", got:\n%s", prefix, needle, errors);
}

/* The shipped example config loads with no error and no warning. */
static void
test_example_loads(void **state)
{
	struct lg_errors errs;
	struct lg_config *cf;

	(void)state;
	lg_errors_init(&errs);
	cf = lg_config_load(LG_SOURCE_ROOT "/conf/lessongate.conf", &errs);
	for (size_t i = 0; i < errs.count; i++)
		fprintf(stderr, "%s\n", errs.msg[i]);
	assert_non_null(cf);
	assert_int_equal(cf->warnings.count, 0);
	assert_string_equal(cf->instance, "gw-1");
	assert_int_equal(cf->rules.mode, LG_MODE_ENFORCE);
	assert_int_equal(cf->rules.cls[LG_CLASS_SUBJECT].lesson_max, 1800);
	assert_int_equal(cf->rules.cls[LG_CLASS_SUBJECT].break_min, 600);
	assert_int_equal(cf->rules.cls[LG_CLASS_SUBJECT].day_end, 75600);
	assert_int_equal(cf->rules.cls[LG_CLASS_SUBJECT].blocked_days,
	                 LG_BLOCK_HOLIDAY | LG_BLOCK_REST | LG_BLOCK_VACATION);
	assert_int_equal(cf->rules.cls[LG_CLASS_NON_SUBJECT].blocked_days, 0);
	assert_int_equal(cf->rules.warn_before, 300);
	assert_int_equal(cf->nroutes, 2);
	assert_int_equal(cf->nlisten, 1);
	assert_string_equal(cf->upstream.address, "127.0.0.1:9000");
	assert_int_equal(cf->calendar_opts.default_region, 533100);
	assert_true(lg_calendar_has_year(cf->calendar, 2026));
	assert_int_equal(cf->limits.max_header_bytes, 16384);
	assert_int_equal(cf->limits.max_body_bytes, 64 << 20);
	lg_config_free(cf);
	lg_errors_free(&errs);
}

/* An empty file is valid: the regulation's defaults apply. */
static void
test_defaults(void **state)
{
	struct lg_config *cf = load_text("");

	(void)state;
	assert_non_null(cf);
	assert_string_equal(cf->timezone, "Asia/Shanghai");
	assert_int_equal(cf->rules.cls[LG_CLASS_NON_SUBJECT].lesson_max, 1800);
	assert_int_equal(cf->calendar_opts.rest_weekdays, (1u << 0) | (1u << 6));
	assert_int_equal(cf->calendar_opts.unknown_year, LG_UNKNOWN_WEEKLY);
	/* Clocks survive restarts unless told otherwise. */
	assert_string_equal(cf->state.store, "local");
	assert_string_equal(cf->state.dir, "/var/lib/lessongate/state");
	/* No calendar at all is allowed but said. */
	assert_int_equal(cf->warnings.count, 1);
	assert_non_null(strstr(cf->warnings.msg[0], "no calendar loaded"));
	lg_config_free(cf);
	/* The Redis store with every setting. */
	cf = load_text("state = { store = \"redis\"; redis = { address = \"[::1]:6380\"; "
	               "timeout = \"150ms\"; on_failure = \"closed\"; password = \"pw\"; "
	               "username = \"lg\"; database = 3; key_prefix = \"lg:\"; }; };\n");
	assert_non_null(cf);
	assert_string_equal(cf->state.store, "redis");
	assert_string_equal(cf->state.redis_address, "[::1]:6380");
	assert_int_equal(cf->state.redis_timeout_ms, 150);
	assert_string_equal(cf->state.redis_password, "pw");
	assert_string_equal(cf->state.redis_username, "lg");
	assert_int_equal(cf->state.redis_database, 3);
	assert_string_equal(cf->state.redis_prefix, "lg:");
	lg_config_free(cf);
}

/* Unknown keys are errors, with a suggestion when one is close. */
static void
test_unknown_keys(void **state)
{
	(void)state;
	expect_error("mode = \"enforce\";\nrules = {\n  subject = {\n    lesson_maxx = \"30m\";\n"
	             "  };\n};\n",
	             4,
	             "unknown key \"lesson_maxx\" in rules.subject (did you mean \"lesson_max\"?)");
	expect_error("\ntimezon = \"UTC\";\n", 2, "unknown key \"timezon\" in the top level");
	expect_error("calendar = {\n  fils = [];\n};\n", 2, "did you mean \"files\"");
	expect_error("routes = ( { prefix = \"/a/\"; class = \"free\"; weight = 3; } );\n", 1,
	             "unknown key \"weight\" in routes[0]");
}

/* Values of the wrong shape name the key and what was expected. */
static void
test_bad_values(void **state)
{
	(void)state;
	expect_error("rules = { subject = {\n lesson_max = \"30 minutes\"; }; };\n", 2,
	             "rules.subject.lesson_max: expected a duration such as \"30m\"");
	expect_error("rules = { subject = {\n lesson_max = 30; }; };\n", 2,
	             "rules.subject.lesson_max: expected a duration");
	expect_error("rules = { subject = {\n day_end = \"9pm\"; }; };\n", 2,
	             "rules.subject.day_end: expected a time of day \"HH:MM\"");
	expect_error("rules = { non_subject = {\n blocked_days = [\"sunday\"]; }; };\n", 2,
	             "\"sunday\" is not one of \"holiday\", \"rest_day\", \"vacation\"");
	expect_error("\n\nmode = \"strict\";\n", 3,
	             "mode: expected one of \"enforce\", \"monitor\"");
	expect_error("workers = -1;\n", 1, "workers: -1 is out of range (0 .. 256)");
	expect_error("workers = \"4\";\n", 1, "workers: expected an integer");
	expect_error("timezone = \"Mars/Olympus\";\n", 1, "unknown time zone \"Mars/Olympus\"");
	expect_error("calendar = {\n default_region = \"5331\"; };\n", 2,
	             "calendar.default_region: \"5331\" is not a six-digit GB/T 2260 region code");
	expect_error("calendar = {\n rest_weekdays = [\"sat\", \"sunday\"]; };\n", 2,
	             "calendar.rest_weekdays: \"sunday\" is not one of");
	expect_error("calendar = {\n unknown_year = \"guess\"; };\n", 2,
	             "calendar.unknown_year: expected one of \"weekly\", \"block\"");
	expect_error("listen = ( {\n address = \"8080\"; } );\n", 2,
	             "listen[0].address: \"8080\" is not \"host:port\"");
	expect_error("upstream = { address = \"127.0.0.1:9000\";\n keepalive = 1000000; };\n", 2,
	             "upstream.keepalive: 1000000 is out of range");
	expect_error("limits = {\n max_body_size = \"lots\"; };\n", 2,
	             "limits.max_body_size: expected a size");
	expect_error("rules = \"strict\";\n", 1, "rules: expected a group");
	expect_error("identity = { jwt = {\n keys = \"k.pem\"; algorithms = [\"none\"]; }; };\n", 2,
	             "unsupported algorithm \"none\"");
	expect_error("identity = { jwt = { keys = \"k.pem\";\n algorithms = [\"RS256\"];\n sources "
	             "= [\"body:token\"]; }; };\n",
	             3, "\"body:token\" must be header:NAME, cookie:NAME or query:NAME");
	/* Settings that would do nothing yet are errors naming the key, not ignored. */
	expect_error("state = {\n store = \"redis\"; };\n", 2,
	             "state.store: \"redis\" needs a state.redis group");
	expect_error("state = { store = \"memory\";\n dir = \"/var/lib/lessongate\"; };\n", 2,
	             "state.dir: the \"memory\" store keeps nothing on disk");
	expect_error("state = { store = \"local\";\n dir = \"state\"; };\n", 2,
	             "state.dir: \"state\" is not an absolute path");
	expect_error(
	    "state = { store = \"memory\";\n redis = { address = \"127.0.0.1:6379\"; }; };\n", 2,
	    "state.redis: only used with store = \"redis\"");
	expect_error("state = { store = \"redis\"; redis = {\n address = \"redis\"; }; };\n", 2,
	             "state.redis.address: \"redis\" is not \"host:port\" or \"unix:/path\"");
	expect_error("state = { store = \"redis\"; redis = {\n address = \"unix:x\"; }; };\n", 2,
	             "state.redis.address: \"unix:x\" is not");
	expect_error("state = { redis = { address = \"127.0.0.1:6379\";\n tls = true; }; };\n", 2,
	             "state.redis.tls: TLS to Redis is not supported (Debian's hiredis 0.14");
	expect_error(
	    "state = { redis = { address = \"127.0.0.1:6379\";\n on_failure = \"open\"; }; };\n", 2,
	    "state.redis.on_failure: expected one of \"closed\", \"local\"");
	{
		struct lg_config *c =
		    load_text("state = { store = \"redis\"; redis = { address = "
		              "\"127.0.0.1:6379\"; on_failure = \"local\"; }; };\n");
		assert_non_null(c);
		assert_string_equal(c->state.redis_on_failure, "local");
		lg_config_free(c);
	}
	expect_error("state = { store = \"redis\"; redis = {\n address = \"127.0.0.1:6379\";"
	             " sentinel = { master = \"m\"; addresses = [\"127.0.0.1:26379\"]; }; }; };\n",
	             2, "state.redis.address: not with state.redis.sentinel");
	expect_error("state = { store = \"redis\"; redis = {\n"
	             " sentinel = { master = \"m\"; addresses = [\"sentinel\"]; }; }; };\n",
	             2, "state.redis.sentinel.addresses[0]: \"sentinel\" is not \"host:port\"");
	expect_error("state = { store = \"redis\"; redis = {\n"
	             " sentinel = { addresses = [\"127.0.0.1:26379\"]; }; }; };\n",
	             2, "master");
	{
		struct lg_config *c = load_text(
		    "state = { store = \"redis\"; redis = { sentinel = { master = \"mymaster\"; "
		    "addresses = [\"127.0.0.1:26379\", \"[::1]:26380\"]; }; }; };\n");
		assert_non_null(c);
		assert_string_equal(c->state.redis_sentinel_master, "mymaster");
		assert_int_equal(c->state.redis_nsentinels, 2);
		assert_null(c->state.redis_address);
		lg_config_free(c);
	}
	expect_error(
	    "state = { redis = { address = \"127.0.0.1:6379\";\n username = \"u\"; }; };\n", 2,
	    "state.redis.username: needs state.redis.password");
	expect_error(
	    "state = { redis = { address = \"127.0.0.1:6379\";\n key_prefix = \"a{b\"; }; };\n", 2,
	    "state.redis.key_prefix: \"a{b\" must be");
	expect_error("state = { redis = { address = \"127.0.0.1:6379\";\n database = -1; }; };\n",
	             2, "database");
	expect_error("state = { redis = { address = \"127.0.0.1:6379\";\n timout = \"1s\"; }; };\n",
	             2, "timout");
	expect_error("state = {\n store = \"disk\"; };\n", 2,
	             "state.store: expected one of \"memory\", \"local\", \"redis\"");
}

/* Write text to a file at p with mode. */
static void
write_file(const char *p, const char *text, mode_t mode)
{
	FILE *f = fopen(p, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(p, mode), 0);
}

/* The audit section: both keys read and checked at load, the origin a key name. */
static void
test_audit_section(void **state)
{
	char text[1024], sk[64], xk[64], pk[64];
	struct lg_config *cf;
	uint8_t zero[32] = {0};

	(void)state;
	snprintf(sk, sizeof(sk), "/tmp/lg-conf-sk-%d.pem", (int)getpid());
	snprintf(xk, sizeof(xk), "/tmp/lg-conf-xk-%d.pem", (int)getpid());
	snprintf(pk, sizeof(pk), "/tmp/lg-conf-pk-%d.key", (int)getpid());
	write_file(sk,
	           "-----BEGIN PRIVATE KEY-----\n"
	           "MC4CAQAwBQYDK2VwBCIEIDlq360V0V1+xnW6MgBadOgRd+5/eONyhgbsOpVaPXCA\n"
	           "-----END PRIVATE KEY-----\n",
	           0600);
	write_file(xk,
	           "-----BEGIN PRIVATE KEY-----\n"
	           "MC4CAQAwBQYDK2VuBCIEIOigazlhgUqMhFzKkvror3yow2AnOnS8FFA4oPslXWRO\n"
	           "-----END PRIVATE KEY-----\n",
	           0600);
	write_file(pk, "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20\n", 0600);

	expect_error("audit = {\n dir = \"/var/lib/lessongate/audit\"; };\n", 1,
	             "audit: missing required key \"signing_key\"");
	snprintf(text, sizeof(text),
	         "audit = { dir = \"/tmp/a\"; signing_key = \"%s\";\n pseudonym_key = \"%s\"; };\n",
	         xk, pk);
	expect_error(text, 1, "audit.signing_key: ");
	snprintf(
	    text, sizeof(text),
	    "audit = { dir = \"/tmp/a\"; signing_key = \"%s.none\"; pseudonym_key = \"%s\"; };\n",
	    sk, pk);
	expect_error(text, 1, "No such file");
	snprintf(text, sizeof(text),
	         "audit = { dir = \"/tmp/a\"; signing_key = \"%s\"; pseudonym_key = \"%s\";\n name "
	         "= \"a b\"; };\n",
	         sk, sk);
	expect_error(text, 1, "audit.name: \"a b\" is not a key name");
	expect_error(text, 1, "audit.pseudonym_key: ");
	snprintf(text, sizeof(text),
	         "audit = { dir = \"/tmp/a\"; signing_key = \"%s\"; pseudonym_key = \"%s\";\n "
	         "listen = { address = \"127.0.0.1:9443\"; }; };\n",
	         sk, pk);
	expect_error(text, 2, "audit.listen: the regulator API needs tls");

	snprintf(text, sizeof(text),
	         "instance = \"gw-1\";\naudit = { dir = \"/tmp/a\"; signing_key = \"%s\"; "
	         "pseudonym_key = \"%s\"; };\n",
	         sk, pk);
	cf = load_text(text);
	assert_non_null(cf);
	assert_true(cf->audit.enabled);
	assert_string_equal(cf->audit.name, "gw-1");
	assert_int_equal(cf->audit.pseudonym[0], 1);
	assert_int_equal(cf->audit.pseudonym[31], 0x20);
	assert_non_null(cf->audit.signing_pem);
	lg_errors_join(&cf->warnings, errors, sizeof(errors));
	assert_null(strstr(errors, "audit.pseudonym_key"));
	lg_config_free(cf);
	/* A pseudonym key others can read loads, with a warning. */
	assert_int_equal(chmod(pk, 0644), 0);
	cf = load_text(text);
	assert_non_null(cf);
	lg_errors_join(&cf->warnings, errors, sizeof(errors));
	assert_non_null(strstr(errors, "audit.pseudonym_key: "));
	assert_non_null(strstr(errors, "readable by group or others"));
	assert_memory_not_equal(cf->audit.pseudonym, zero, 32);
	lg_config_free(cf);
	unlink(sk);
	unlink(xk);
	unlink(pk);
}

/* Rules that contradict themselves are errors; weaker ones are warnings. */
static void
test_rule_consistency(void **state)
{
	struct lg_config *cf;

	(void)state;
	expect_error("rules = { subject = {\n day_start = \"22:00\"; }; };\n", 2,
	             "rules.subject: day_start must be earlier than day_end");
	expect_error("rules = {\n warn_before = \"45m\"; };\n", 2,
	             "rules.warn_before: must be shorter than rules.subject.lesson_max");
	expect_error("rules = { subject = {\n lesson_max = \"90s500ms\"; }; };\n", 2,
	             "must be whole seconds");
	cf = load_text("rules = { subject = { lesson_max = \"45m\"; break_min = \"5m\"; day_end = "
	               "\"22:00\"; }; };\n");
	assert_non_null(cf);
	lg_errors_join(&cf->warnings, errors, sizeof(errors));
	assert_non_null(strstr(errors, "rules.subject.lesson_max: 2700 s is longer than the "
	                               "regulation's 30 minutes"));
	assert_non_null(strstr(errors, "rules.subject.break_min: 300 s is shorter"));
	assert_non_null(strstr(errors, "rules.subject.day_end: later than the regulation's 21:00"));
	lg_config_free(cf);
}

/* Routes: normalised paths only, no useless repeats; first match wins. */
static void
test_routes(void **state)
{
	struct lg_config *cf;

	(void)state;
	expect_error("routes = (\n { prefix = \"live/\"; class = \"subject\"; } );\n", 2,
	             "\"live/\" must be a normalised path");
	expect_error("routes = (\n { prefix = \"/a/../live/\"; class = \"subject\"; } );\n", 2,
	             "must be a normalised path");
	expect_error("routes = (\n { prefix = \"/live//x\"; class = \"subject\"; } );\n", 2,
	             "must be a normalised path");
	expect_error("routes = (\n { prefix = \"/live/%41\"; class = \"subject\"; } );\n", 2,
	             "must be a normalised path");
	expect_error("routes = (\n { prefix = \"/live/\"; class = \"lesson\"; } );\n", 2,
	             "routes[0].class: expected one of \"subject\", \"non_subject\", \"free\"");
	expect_error("routes = (\n { prefix = \"/live/\"; } );\n", 2,
	             "routes[0]: missing required key \"class\"");
	expect_error("routes = (\n { class = \"free\"; } );\n", 2, "routes[0]: missing \"prefix\"");
	expect_error("routes = (\n { prefix = \"/a/\"; path = \"/a\"; class = \"free\"; } );\n", 2,
	             "give either \"prefix\" or \"path\", not both");
	expect_error("routes = (\n { prefix = \"/a/\"; class = \"free\"; },\n { prefix = \"/a/\"; "
	             "class = \"subject\"; } );\n",
	             3, "repeats the route at line 2");

	cf = load_text(
	    "routes = ( { path = \"/live/lobby\"; class = \"free\"; },\n"
	    "  { prefix = \"/live/\"; class = \"subject\"; },\n"
	    "  { prefix = \"/art/\"; class = \"non_subject\"; methods = [\"GET\"]; } );\n");
	assert_non_null(cf);
	assert_int_equal(lg_config_classify(cf, "/live/lobby", 11, "GET"), LG_CLASS_FREE);
	assert_int_equal(lg_config_classify(cf, "/live/lobby/x", 13, "GET"), LG_CLASS_SUBJECT);
	assert_int_equal(lg_config_classify(cf, "/live/x", 7, "GET"), LG_CLASS_SUBJECT);
	/* A prefix "/live/" also takes "/live" itself (frameworks serve both alike). */
	assert_int_equal(lg_config_classify(cf, "/live", 5, "GET"), LG_CLASS_SUBJECT);
	assert_int_equal(lg_config_classify(cf, "/liv", 4, "GET"), LG_CLASS_FREE);
	assert_int_equal(lg_config_classify(cf, "/lively", 7, "GET"), LG_CLASS_FREE);
	/* An exact path also matches with one trailing slash. */
	assert_int_equal(lg_config_classify(cf, "/live/lobby/", 12, "GET"), LG_CLASS_FREE);
	assert_int_equal(lg_config_classify(cf, "/art/x", 6, "GET"), LG_CLASS_NON_SUBJECT);
	assert_int_equal(lg_config_classify(cf, "/art/x", 6, "POST"), LG_CLASS_FREE);
	/* Methods ignore case; HEAD runs the GET handler in most frameworks. */
	assert_int_equal(lg_config_classify(cf, "/art/x", 6, "get"), LG_CLASS_NON_SUBJECT);
	assert_int_equal(lg_config_classify(cf, "/art/x", 6, "HEAD"), LG_CLASS_NON_SUBJECT);
	assert_int_equal(lg_config_classify(cf, "/art/x", 6, "head"), LG_CLASS_NON_SUBJECT);
	assert_int_equal(lg_config_classify(cf, "/", 1, "GET"), LG_CLASS_FREE);
	lg_config_free(cf);

	cf = load_text("routes = ( { path = \"/ws/\"; class = \"subject\"; },\n"
	               "  { prefix = \"/Live./\"; class = \"subject\"; methods = [\"post\"]; },\n"
	               "  { path = \"/\"; class = \"non_subject\"; } );\n");
	assert_non_null(cf);
	assert_int_equal(lg_config_classify(cf, "/ws", 3, "GET"), LG_CLASS_SUBJECT);
	assert_int_equal(lg_config_classify(cf, "/ws/", 4, "GET"), LG_CLASS_SUBJECT);
	assert_int_equal(lg_config_classify(cf, "/wsx", 4, "GET"), LG_CLASS_FREE);
	assert_int_equal(lg_config_classify(cf, "/", 1, "GET"), LG_CLASS_NON_SUBJECT);
	/* Routes are canonical too: "/Live./" is matched as "/live/" on canonical paths. */
	assert_string_equal(cf->routes[1].canon, "/live/");
	assert_int_equal(cf->routes[1].canon_len, 6);
	assert_int_equal(lg_config_classify(cf, "/live/x", 7, "POST"), LG_CLASS_FREE);
	assert_int_equal(lg_config_classify_canonical(cf, "/live/x", 7, "POST"), LG_CLASS_SUBJECT);
	assert_int_equal(lg_config_classify_canonical(cf, "/live", 5, "Post"), LG_CLASS_SUBJECT);
	assert_int_equal(lg_config_classify_canonical(cf, "/live/x", 7, "PUT"), LG_CLASS_FREE);
	assert_int_equal(lg_config_classify(cf, "/Live./x", 8, "POST"), LG_CLASS_SUBJECT);
	lg_config_free(cf);

	expect_error("routes = (\n { prefix = \"/a/.../\"; class = \"subject\"; } );\n", 2,
	             "routes[0]: \"/a/.../\": segment of only dots and spaces in path");
}

/*
 * identity.forward_header, identity.login_url and upstream.strip_request_headers:
 * defaults and checks.
 */
static void
test_forward_and_strip_headers(void **state)
{
	struct lg_config *cf;

	(void)state;
	cf = load_text("instance = \"x\";\n");
	assert_non_null(cf);
	assert_string_equal(cf->identity.forward_header, "Lessongate-Student");
	assert_int_equal(cf->upstream.nstrip_request_headers, 5);
	assert_string_equal(cf->upstream.strip_request_headers[0], "X-Original-URL");
	assert_string_equal(cf->upstream.strip_request_headers[1], "X-Rewrite-URL");
	assert_string_equal(cf->upstream.strip_request_headers[2], "X-HTTP-Method-Override");
	assert_string_equal(cf->upstream.strip_request_headers[3], "X-HTTP-Method");
	assert_string_equal(cf->upstream.strip_request_headers[4], "X-Method-Override");
	lg_config_free(cf);

	cf = load_text("identity = { forward_header = \"X-Platform-Student\"; };\n"
	               "upstream = { address = \"127.0.0.1:9\"; strip_request_headers = []; };\n");
	assert_non_null(cf);
	assert_string_equal(cf->identity.forward_header, "X-Platform-Student");
	assert_int_equal(cf->upstream.nstrip_request_headers, 0);
	lg_config_free(cf);

	expect_error("identity = {\n forward_header = \"Lessongate Student\"; };\n", 2,
	             "identity.forward_header: \"Lessongate Student\" is not a header field name");
	expect_error("identity = {\n forward_header = \"\"; };\n", 2,
	             "identity.forward_header: must not be empty");
	expect_error(
	    "identity = {\n forward_header = \"host\"; };\n", 2,
	    "identity.forward_header: \"host\" is a field lessongate or HTTP itself needs");
	expect_error("identity = {\n forward_header = \"Authorization\"; };\n", 2,
	             "\"Authorization\" is a field lessongate or HTTP itself needs");
	expect_error("identity = { jwt = { keys = \"k\"; algorithms = [\"HS256\"]; sources = "
	             "[\"header:X-Token\"]; };\n forward_header = \"x-token\"; };\n",
	             2, "identity.forward_header: \"x-token\" is also a token source");
	cf = load_text(
	    "identity = { login_url = \"https://platform.example/login?next=/live/\"; };\n");
	assert_non_null(cf);
	assert_string_equal(cf->identity.login_url, "https://platform.example/login?next=/live/");
	lg_config_free(cf);
	cf = load_text("identity = { login_url = \"/login\"; };\n");
	assert_non_null(cf);
	assert_string_equal(cf->identity.login_url, "/login");
	lg_config_free(cf);
	cf = load_text("instance = \"x\";\n");
	assert_null(cf->identity.login_url);
	lg_config_free(cf);
	expect_error("identity = {\n login_url = \"javascript:alert(1)\"; };\n", 2,
	             "identity.login_url: \"javascript:alert(1)\" is neither an absolute http(s) "
	             "URL nor a path such as \"/login\"");
	expect_error("identity = {\n login_url = \"//evil.example/login\"; };\n", 2,
	             "identity.login_url: \"//evil.example/login\" is neither");
	expect_error("identity = {\n login_url = \"https://\"; };\n", 2,
	             "identity.login_url: \"https://\" is neither");
	expect_error("identity = {\n login_url = \"login\"; };\n", 2,
	             "identity.login_url: \"login\" is neither");
	expect_error("identity = {\n login_url = \"/log in\"; };\n", 2,
	             "identity.login_url: \"/log in\" is neither");
	expect_error("identity = {\n login_url = \"https://a\\\"b/\"; };\n", 2,
	             "identity.login_url:");
	expect_error(
	    "identity = {\n forward_headr = \"X\"; };\n", 2,
	    "unknown key \"forward_headr\" in identity (did you mean \"forward_header\"?)");
	expect_error("identity = { header = {\n name = \"X Student\"; trusted_peers = []; }; };\n",
	             2, "identity.header.name: \"X Student\" is not a header field name");
	expect_error("upstream = { address = \"127.0.0.1:9\";\n strip_request_headers = "
	             "[\"X-Original-URL\", \"Content-Length\"]; };\n",
	             2, "upstream.strip_request_headers: \"Content-Length\" frames the request");
	expect_error("upstream = { address = \"127.0.0.1:9\";\n strip_request_headers = "
	             "[\"X:Y\"]; };\n",
	             2, "upstream.strip_request_headers: \"X:Y\" is not a header field name");
	expect_error("upstream = { address = \"127.0.0.1:9\";\n strip_request_headers = "
	             "\"X-Original-URL\"; };\n",
	             2, "upstream.strip_request_headers: expected a list of strings");
}

/* Syntax errors come from libconfig with their line; unreadable files are said. */
static void
test_syntax_and_io(void **state)
{
	struct lg_errors errs;

	(void)state;
	expect_error("mode = \"enforce\";\n\nrules = { subject = { lesson_max = 30m; }; };\n", 3,
	             "syntax error");
	expect_error("mode = \"enforce\";\nrules = { subject = { lesson_max = \"30m\"; };\n", 3,
	             "syntax error");
	lg_errors_init(&errs);
	assert_null(lg_config_load("/nonexistent/lessongate.conf", &errs));
	assert_int_equal(errs.count, 1);
	assert_non_null(strstr(errs.msg[0], "/nonexistent/lessongate.conf: cannot read the file"));
	lg_errors_free(&errs);
}

/* Many mistakes in one file are all reported in one go. */
static void
test_all_errors_reported(void **state)
{
	struct lg_config *cf;

	(void)state;
	cf = load_text("mode = \"x\";\nworkers = 999;\nrules = { subject = { day_end = \"25:00\"; "
	               "}; };\nbogus = 1;\n");
	assert_null(cf);
	if (strstr(errors, ":1: mode:") == NULL)
		fail_msg("got:\n%s", errors);
	assert_non_null(strstr(errors, ":2: workers:"));
	assert_non_null(strstr(errors, ":3: rules.subject.day_end:"));
	assert_non_null(strstr(errors, ":4: unknown key \"bogus\""));
}

/* Calendar file errors surface through the config, with the calendar's own file:line. */
static void
test_calendar_errors_surface(void **state)
{
	char cal[] = "/tmp/lg-cal-XXXXXX";
	char text[256];
	int fd = mkstemp(cal);
	FILE *f = fdopen(fd, "w");
	struct lg_config *cf;
	char want[64];

	(void)state;
	fputs("year = 2026;\nsource = \"x\";\nholidays = (\n { name = \"x\"; from = "
	      "\"2026-10-07\"; to = \"2026-10-01\"; } );\n",
	      f);
	fclose(f);
	snprintf(text, sizeof(text), "calendar = { files = [\"%s\"]; };\n", cal);
	cf = load_text(text);
	assert_null(cf);
	snprintf(want, sizeof(want), "%s:4: ", cal);
	if (strstr(errors, want) == NULL)
		fail_msg("expected %s in:\n%s", want, errors);
	snprintf(text, sizeof(text), "calendar = { files = [\"/nonexistent/cn-2030.conf\"]; };\n");
	cf = load_text(text);
	assert_null(cf);
	assert_non_null(strstr(errors, "/nonexistent/cn-2030.conf"));
	unlink(cal);
}

/* The limits one slow or greedy client meets: defaults, values, and errors naming file:line. */
static void
test_client_limits(void **state)
{
	struct lg_config *cf = load_text("");

	(void)state;
	assert_non_null(cf);
	assert_int_equal(cf->timeouts.body_min_rate, 512);
	assert_int_equal(cf->timeouts.body_total_ms, 0);
	assert_int_equal(cf->limits.max_connections_per_address, 256);
	assert_int_equal(cf->limits.max_event_streams_per_student, 4);
	lg_config_free(cf);
	cf = load_text("timeouts = { body_min_rate = \"2k\"; body_total = \"5m\"; };\n"
	               "limits = { max_connections_per_address = 0;\n"
	               "           max_event_streams_per_student = 1; };\n");
	assert_non_null(cf);
	assert_int_equal(cf->timeouts.body_min_rate, 2048);
	assert_int_equal(cf->timeouts.body_total_ms, 300000);
	assert_int_equal(cf->limits.max_connections_per_address, 0);
	assert_int_equal(cf->limits.max_event_streams_per_student, 1);
	lg_config_free(cf);
	cf = load_text("timeouts = { body_min_rate = 0; body_total = \"0s\"; };\n");
	assert_non_null(cf);
	assert_int_equal(cf->timeouts.body_min_rate, 0);
	assert_int_equal(cf->timeouts.body_total_ms, 0);
	lg_config_free(cf);
	expect_error("timeouts = {\n body_min_rate = \"fast\"; };\n", 2,
	             "timeouts.body_min_rate: expected a size");
	expect_error("timeouts = {\n body_min_rate = \"2G\"; };\n", 2,
	             "timeouts.body_min_rate: at most \"1G\"");
	expect_error("timeouts = {\n\n body_total = 30; };\n", 3,
	             "timeouts.body_total: expected a duration");
	expect_error("timeouts = {\n body_total = \"2d\"; };\n", 2,
	             "timeouts.body_total: \"2d\" is out of range");
	expect_error("limits = {\n max_connections_per_address = -1; };\n", 2,
	             "limits.max_connections_per_address: -1 is out of range (0 .. 10000000)");
	expect_error("limits = {\n max_event_streams_per_student = \"4\"; };\n", 2,
	             "limits.max_event_streams_per_student: expected an integer");
	expect_error("limits = {\n max_streams_per_student = 4; };\n", 2,
	             "unknown key \"max_streams_per_student\" in limits");
	expect_error("timeouts = {\n body_min_ratte = 1; };\n", 2,
	             "did you mean \"body_min_rate\"");
}

/* admin.listen: off by default; TLS and client_ca optional; never a client's or the audit's
 * address. */
static void
test_admin_listener(void **state)
{
	struct lg_config *cf = load_text("");

	(void)state;
	assert_false(cf->admin.enabled);
	lg_config_free(cf);
	cf = load_text("admin = { listen = { address = \"127.0.0.1:9180\"; }; };\n");
	assert_non_null(cf);
	assert_true(cf->admin.enabled);
	assert_string_equal(cf->admin.listen.address, "127.0.0.1:9180");
	assert_false(cf->admin.listen.tls);
	lg_config_free(cf);
	cf = load_text("admin = { listen = { address = \"127.0.0.1:9180\"; tls = { certificate = "
	               "\"/c.pem\"; key = \"/k.pem\"; client_ca = \"/ca.pem\"; }; }; };\n");
	assert_non_null(cf);
	assert_true(cf->admin.listen.tls);
	assert_string_equal(cf->admin.listen.tlsc.client_ca, "/ca.pem");
	lg_config_free(cf);
	expect_error("listen = ( { address = \"127.0.0.1:8080\"; } );\nadmin = { listen = {\n"
	             " address = \"127.0.0.1:8080\"; }; };\n",
	             3,
	             "admin.listen.address: \"127.0.0.1:8080\" is already the address of a "
	             "client listener (line 1)");
	/* A wildcard client listener takes the loopback port too. */
	expect_error("listen = ( { address = \"0.0.0.0:8080\"; } );\nadmin = { listen = {\n"
	             " address = \"127.0.0.1:8080\"; }; };\n",
	             3, "already the address of a client listener");
	expect_error("audit = { dir = \"/x\"; signing_key = \"/s\"; pseudonym_key = \"/p\";\n"
	             " listen = { address = \"127.0.0.1:9443\"; tls = { certificate = \"/c\"; "
	             "key = \"/k\"; client_ca = \"/ca\"; }; }; };\nadmin = { listen = {\n"
	             " address = \"127.0.0.1:9443\"; }; };\n",
	             4, "is already the address of the audit listener");
	expect_error("admin = {\n port = 9180; };\n", 2, "unknown key \"port\" in admin");
	expect_error("admin = {\n};\n", 1, "listen");
	expect_error(
	    "admin = { listen = { address = \"127.0.0.1:9180\";\n test_hooks = true; }; };\n", 1,
	    "admin.listen.test_hooks: only proxy listeners have test hooks");
	expect_error("listen = ( { address = \"127.0.0.1:8080\"; tls = { certificate = \"/c\";\n "
	             "key = \"/k\"; client_ca = \"/ca\"; }; } );\n",
	             1, "client certificates are only for the audit and admin listeners");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_example_loads),
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_unknown_keys),
	    cmocka_unit_test(test_bad_values),
	    cmocka_unit_test(test_rule_consistency),
	    cmocka_unit_test(test_audit_section),
	    cmocka_unit_test(test_routes),
	    cmocka_unit_test(test_forward_and_strip_headers),
	    cmocka_unit_test(test_syntax_and_io),
	    cmocka_unit_test(test_all_errors_reported),
	    cmocka_unit_test(test_calendar_errors_surface),
	    cmocka_unit_test(test_client_limits),
	    cmocka_unit_test(test_admin_listener),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
