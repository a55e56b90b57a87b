/* Tests for lib/audit/auditrec.c: canonical records, pseudonyms, client prefixes, flood counting.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <netinet/in.h>
#include <sys/un.h>

#include "auditrec.h"
#include "json.h"

/* 2026-09-21T10:00:00+08:00 */
#define T0 1789956000

static struct lg_tz *tz;
static struct lg_audit_ctx ctx;

/* Load the zone and a key 00 01 .. 1f once. */
static int
setup(void **state)
{
	char err[128];

	(void)state;
	tz = lg_tz_load("+08:00", err, sizeof(err));
	assert_non_null(tz);
	ctx.instance = "gw-1";
	ctx.tz = tz;
	for (int i = 0; i < 32; i++)
		ctx.pseudonym_key[i] = (uint8_t)i;
	return 0;
}

/* Free the zone. */
static int
teardown(void **state)
{
	(void)state;
	lg_tz_free(tz);
	return 0;
}

/* Format one record; the result stays valid until the next call. */
static const char *
fmt(uint64_t index, const struct lg_audit_rec *r)
{
	static struct lg_buf b;

	b.len = 0;
	lg_audit_format(&b, index, &ctx, r);
	lg_buf_add(&b, "", 0);
	return b.data;
}

/* Whether s is one valid JSON object on one line (the strict reader of lib/core/json.c). */
static void
assert_json_line(const char *s)
{
	size_t n = strlen(s);
	char *keybuf = malloc(n + 1);
	const char *names[] = {"index"};
	struct lg_json_value v[1];

	assert_null(strchr(s, '\n'));
	if (lg_json_parse(s, n, keybuf, n + 1, names, v, 1) != 0)
		fail_msg("not valid JSON: %s", s);
	assert_int_equal(v[0].type, LG_JSON_NUMBER);
	free(keybuf);
}

/* Pseudonyms: HMAC-SHA256 cut to 128 bits (values from `openssl dgst -mac HMAC`). */
static void
test_pseudonym(void **state)
{
	char p[LG_PSEUDONYM_HEX];
	uint8_t key[32];
	char err[128];

	(void)state;
	lg_audit_pseudonym(ctx.pseudonym_key, "stu-1", 5, p);
	assert_string_equal(p, "f1c2f23cdb9b23ea9d5c0d457ec9b37e");
	lg_audit_pseudonym(ctx.pseudonym_key, "a\"b", 3, p);
	assert_string_equal(p, "a1d5dc30e8525510cc68326741e0c6e7");
	/* Key files. */
	assert_int_equal(lg_audit_pseudonym_key_parse(
	                     "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n",
	                     65, key, err, sizeof(err)),
	                 0);
	assert_memory_equal(key, ctx.pseudonym_key, 32);
	assert_int_equal(lg_audit_pseudonym_key_parse("0001", 4, key, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "64 hex digits"));
	assert_int_equal(lg_audit_pseudonym_key_parse(
	                     "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1g", 64,
	                     key, err, sizeof(err)),
	                 -1);
	assert_non_null(strstr(err, "byte 63"));
}

/* Every type's record, exactly: fixed key order, local times with offset, no student id. */
static void
test_records_exact(void **state)
{
	struct lg_audit_file_hash cal[2] = {{"conf/calendar/cn-2026.conf", {0xab}}, {"x\"y", {1}}};
	struct lg_audit_rec r;

	(void)state;
	memset(&r, 0, sizeof(r));
	r.type = LG_AUDIT_START;
	r.time = T0;
	r.version = "0.1.0";
	assert_string_equal(
	    fmt(0, &r), "{\"index\":0,\"type\":\"start\",\"time\":\"2026-09-21T10:00:00+08:00\","
	                "\"instance\":\"gw-1\",\"version\":\"0.1.0\"}");
	r.type = LG_AUDIT_CONFIG_LOADED;
	r.mode = LG_MODE_MONITOR;
	r.config_sha256[31] = 0xff;
	r.calendars = cal;
	r.ncalendars = 2;
	assert_string_equal(
	    fmt(1, &r),
	    "{\"index\":1,\"type\":\"config_loaded\",\"time\":\"2026-09-21T10:00:00+08:00\","
	    "\"instance\":\"gw-1\",\"mode\":\"monitor\",\"config_sha256\":"
	    "\"00000000000000000000000000000000000000000000000000000000000000ff\",\"calendars\":[{"
	    "\"file\":\"conf/calendar/cn-2026.conf\",\"sha256\":"
	    "\"ab00000000000000000000000000000000000000000000000000000000000000\"},{\"file\":"
	    "\"x\\\"y\","
	    "\"sha256\":\"0100000000000000000000000000000000000000000000000000000000000000\"}]}");

	memset(&r, 0, sizeof(r));
	r.type = LG_AUDIT_LESSON_END;
	r.time = T0 + 1800;
	r.student = "stu-1";
	r.student_len = 5;
	r.region = 533100;
	r.cls = LG_CLASS_SUBJECT;
	r.route = "/live/";
	r.start = T0;
	r.end = T0 + 1799;
	assert_string_equal(
	    fmt(7, &r),
	    "{\"index\":7,\"type\":\"lesson_end\",\"time\":\"2026-09-21T10:30:00+08:00\","
	    "\"instance\":\"gw-1\",\"student\":\"f1c2f23cdb9b23ea9d5c0d457ec9b37e\","
	    "\"class\":\"subject\",\"route\":\"/live/\",\"region\":\"533100\","
	    "\"start\":\"2026-09-21T10:00:00+08:00\",\"end\":\"2026-09-21T10:29:59+08:00\","
	    "\"duration\":1799}");
	r.type = LG_AUDIT_LESSON_START;
	r.region = 0;
	r.cls = LG_CLASS_NON_SUBJECT;
	assert_string_equal(
	    fmt(8, &r),
	    "{\"index\":8,\"type\":\"lesson_start\",\"time\":\"2026-09-21T10:30:00+08:00\","
	    "\"instance\":\"gw-1\",\"student\":\"f1c2f23cdb9b23ea9d5c0d457ec9b37e\","
	    "\"class\":\"non_subject\",\"route\":\"/live/\",\"region\":null}");
	r.type = LG_AUDIT_DENY;
	r.cls = LG_CLASS_SUBJECT;
	r.region = 533100;
	r.rule = LG_RULE_LESSON_LIMIT;
	r.enforced = true;
	r.status = 429;
	assert_string_equal(
	    fmt(9, &r), "{\"index\":9,\"type\":\"deny\",\"time\":\"2026-09-21T10:30:00+08:00\","
	                "\"instance\":\"gw-1\",\"student\":\"f1c2f23cdb9b23ea9d5c0d457ec9b37e\","
	                "\"class\":\"subject\",\"route\":\"/live/\",\"region\":\"533100\","
	                "\"rule\":\"lesson_limit\",\"enforced\":true,\"status\":429,\"count\":1,"
	                "\"last\":\"2026-09-21T10:30:00+08:00\"}");
	r.count = 12;
	r.last = T0 + 1860;
	r.enforced = false;
	r.rule = LG_RULE_DAY_END;
	r.status = 451;
	assert_non_null(strstr(fmt(9, &r), "\"rule\":\"day_end\",\"enforced\":false,\"status\":451,"
	                                   "\"count\":12,\"last\":\"2026-09-21T10:31:00+08:00\"}"));
	r.type = LG_AUDIT_FORCED_CLOSE;
	r.rule = LG_RULE_LESSON_LIMIT;
	r.enforced = true;
	r.how = "websocket_close_4001";
	assert_non_null(strstr(fmt(10, &r), "\"region\":\"533100\",\"rule\":\"lesson_limit\","
	                                    "\"enforced\":true,\"how\":\"websocket_close_4001\"}"));
	memset(&r, 0, sizeof(r));
	r.type = LG_AUDIT_UNIDENTIFIED;
	r.time = T0;
	r.cls = LG_CLASS_SUBJECT;
	r.route = "/live/";
	r.client = "203.0.113.0/24";
	r.reason = "missing token";
	assert_string_equal(
	    fmt(11, &r),
	    "{\"index\":11,\"type\":\"unidentified\",\"time\":\"2026-09-21T10:00:00+08:00\","
	    "\"instance\":\"gw-1\",\"class\":\"subject\",\"route\":\"/live/\","
	    "\"client\":\"203.0.113.0/24\",\"reason\":\"missing token\",\"count\":1,"
	    "\"last\":\"2026-09-21T10:00:00+08:00\"}");
	memset(&r, 0, sizeof(r));
	r.type = LG_AUDIT_STOP;
	r.time = T0;
	r.reason = "SIGTERM";
	assert_string_equal(
	    fmt(12, &r), "{\"index\":12,\"type\":\"stop\",\"time\":\"2026-09-21T10:00:00+08:00\","
	                 "\"instance\":\"gw-1\",\"reason\":\"SIGTERM\"}");
}

/* Ids with quotes, newlines, 256 bytes, NUL and invalid UTF-8: never written, records stay JSON. */
static void
test_nasty_ids(void **state)
{
	char long_id[257], p[LG_PSEUDONYM_HEX];
	const char nul_id[] = {'a', '\0', 'b'};
	const struct {
		const char *id;
		size_t n;
	} ids[] = {
	    {"stu\"1\\", 6}, {"line1\nline2\r\n", 13}, {long_id, 256}, {"\xff\xfe\xc3(", 4},
	    {nul_id, 3},     {"\xed\xa0\x80", 3},      {"", 0},
	};
	struct lg_audit_rec r;

	(void)state;
	memset(long_id, 'x', 256);
	long_id[256] = '\0';
	memset(&r, 0, sizeof(r));
	r.type = LG_AUDIT_DENY;
	r.time = T0;
	r.cls = LG_CLASS_SUBJECT;
	r.rule = LG_RULE_BLOCKED_DAY;
	r.status = 451;
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		const char *s;
		r.student = ids[i].id;
		r.student_len = ids[i].n;
		/* Hostile bytes in every free-text field as well. */
		r.route = ids[i].n ? ids[i].id : "/live/";
		s = fmt(i, &r);
		assert_json_line(s);
		lg_audit_pseudonym(ctx.pseudonym_key, ids[i].id, ids[i].n, p);
		assert_non_null(strstr(s, p));
		if (ids[i].n > 3)
			assert_null(
			    strstr(s + strlen("{\"index\":0,\"type\":\"deny\""), "line1\n"));
	}
	/* Different ids, different pseudonyms (including ids that differ after a NUL). */
	{
		char a[LG_PSEUDONYM_HEX], b[LG_PSEUDONYM_HEX];
		lg_audit_pseudonym(ctx.pseudonym_key, nul_id, 3, a);
		lg_audit_pseudonym(ctx.pseudonym_key, nul_id, 1, b);
		assert_string_not_equal(a, b);
	}
	/* The escaping itself. */
	r.type = LG_AUDIT_UNIDENTIFIED;
	r.route = "/a\"b\\c\n\x01\x7f\xff\xe5\xad\xa6";
	r.client = NULL;
	r.reason = NULL;
	assert_non_null(strstr(fmt(0, &r),
	                       "\"route\":\"/a\\\"b\\\\c\\u000a\\u0001\\u007f\\ufffd学\","
	                       "\"client\":null,\"reason\":null"));
	assert_json_line(fmt(0, &r));
	ctx.instance = "gw\n\xc0\xaf";
	assert_json_line(fmt(0, &r));
	ctx.instance = "gw-1";
}

/* Client addresses: /24 for IPv4 (also when mapped into IPv6), /48 for IPv6. */
static void
test_client_prefix(void **state)
{
	struct sockaddr_in v4 = {.sin_family = AF_INET};
	struct sockaddr_in6 v6 = {.sin6_family = AF_INET6};
	struct sockaddr_un un = {.sun_family = AF_UNIX};
	char out[LG_CLIENT_PREFIX_MAX];

	(void)state;
	inet_pton(AF_INET, "203.0.113.77", &v4.sin_addr);
	lg_audit_client_prefix((struct sockaddr *)&v4, out);
	assert_string_equal(out, "203.0.113.0/24");
	inet_pton(AF_INET6, "2001:db8:1234:5678:9abc::1", &v6.sin6_addr);
	lg_audit_client_prefix((struct sockaddr *)&v6, out);
	assert_string_equal(out, "2001:db8:1234::/48");
	inet_pton(AF_INET6, "::ffff:198.51.100.9", &v6.sin6_addr);
	lg_audit_client_prefix((struct sockaddr *)&v6, out);
	assert_string_equal(out, "198.51.100.0/24");
	lg_audit_client_prefix((struct sockaddr *)&un, out);
	assert_string_equal(out, "local");
	lg_audit_client_prefix(NULL, out);
	assert_string_equal(out, "local");
}

/* What the aggregator let through, formatted. */
struct sink {
	char lines[64][512];
	size_t n;
	uint64_t total; /* events accounted for */
};

/* Record an emitted record. */
static void
collect(void *arg, const struct lg_audit_rec *r)
{
	struct sink *s = arg;

	s->total += r->count ? r->count : 1;
	if (s->n < 64) {
		snprintf(s->lines[s->n], 512, "%s", fmt(s->n, r));
		s->n++;
	}
}

/* A deny by student id at time t. */
static struct lg_audit_rec
deny(const char *id, int64_t t, enum lg_rule rule)
{
	struct lg_audit_rec r;

	memset(&r, 0, sizeof(r));
	r.type = LG_AUDIT_DENY;
	r.time = t;
	r.student = id;
	r.student_len = strlen(id);
	r.cls = LG_CLASS_SUBJECT;
	r.route = "/live/";
	r.rule = rule;
	r.enforced = true;
	r.status = rule == LG_RULE_LESSON_LIMIT ? 429 : 451;
	return r;
}

/* The first deny is written at once; repeats in the window become one record with a count. */
static void
test_flood_counting(void **state)
{
	uint8_t key[16] = {9};
	struct lg_audit_agg *a = lg_audit_agg_new(60, 100, key);
	struct sink s = {.n = 0};
	struct lg_audit_rec r;

	(void)state;
	for (int i = 0; i < 50; i++) {
		r = deny("stu-1", T0 + i, LG_RULE_LESSON_LIMIT);
		lg_audit_agg_add(a, &r, collect, &s);
	}
	r = deny("stu-2", T0 + 5, LG_RULE_LESSON_LIMIT); /* another student: its own record */
	lg_audit_agg_add(a, &r, collect, &s);
	r = deny("stu-1", T0 + 6, LG_RULE_DAY_END); /* another rule: its own record */
	lg_audit_agg_add(a, &r, collect, &s);
	r.type = LG_AUDIT_LESSON_START; /* never counted */
	lg_audit_agg_add(a, &r, collect, &s);
	lg_audit_agg_add(a, &r, collect, &s);
	assert_int_equal(s.n, 5);
	assert_non_null(strstr(s.lines[0], "\"count\":1,\"last\":\"2026-09-21T10:00:00+08:00\""));
	assert_int_equal(lg_audit_agg_open(a), 3);
	/* Not yet closed at T0 + 59; closed at T0 + 60. */
	lg_audit_agg_flush(a, T0 + 59, false, collect, &s);
	assert_int_equal(s.n, 5);
	lg_audit_agg_flush(a, T0 + 60, false, collect, &s);
	assert_int_equal(s.n, 6);
	assert_non_null(strstr(s.lines[5], "\"time\":\"2026-09-21T10:00:01+08:00\""));
	assert_non_null(strstr(s.lines[5], "\"count\":49,\"last\":\"2026-09-21T10:00:49+08:00\""));
	assert_int_equal(lg_audit_agg_open(a), 2); /* the two with no repeats are still open */
	assert_int_equal(s.total, 54);
	/* An event after its window: the old window's summary (none here) and then it, at once. */
	r = deny("stu-2", T0 + 65, LG_RULE_LESSON_LIMIT);
	lg_audit_agg_add(a, &r, collect, &s);
	r = deny("stu-2", T0 + 66, LG_RULE_LESSON_LIMIT);
	lg_audit_agg_add(a, &r, collect, &s);
	r = deny("stu-2", T0 + 130, LG_RULE_LESSON_LIMIT);
	lg_audit_agg_add(a, &r, collect, &s);
	assert_int_equal(s.n, 9);
	assert_non_null(strstr(s.lines[7], "\"count\":1,\"last\":\"2026-09-21T10:01:06+08:00\""));
	assert_non_null(strstr(s.lines[8], "\"time\":\"2026-09-21T10:02:10+08:00\""));
	lg_audit_agg_flush(a, 0, true, collect, &s);
	assert_int_equal(lg_audit_agg_open(a), 0);
	assert_int_equal(s.total, 57);
	lg_audit_agg_free(a);
}

/* Unidentified requests count by client prefix and route. */
static void
test_flood_unidentified(void **state)
{
	uint8_t key[16] = {1};
	struct lg_audit_agg *a = lg_audit_agg_new(10, 100, key);
	struct sink s = {.n = 0};
	struct lg_audit_rec r;

	(void)state;
	memset(&r, 0, sizeof(r));
	r.type = LG_AUDIT_UNIDENTIFIED;
	r.cls = LG_CLASS_SUBJECT;
	r.reason = "missing token";
	for (int i = 0; i < 20; i++) {
		r.time = T0 + i / 4;
		r.client = i % 2 ? "203.0.113.0/24" : "198.51.100.0/24";
		r.route = i % 4 < 2 ? "/live/" : "/art/live/";
		lg_audit_agg_add(a, &r, collect, &s);
	}
	assert_int_equal(s.n, 4);
	lg_audit_agg_flush(a, T0 + 100, false, collect, &s);
	assert_int_equal(s.n, 8);
	assert_int_equal(s.total, 20);
	for (size_t i = 4; i < 8; i++)
		assert_non_null(strstr(s.lines[i], "\"count\":4,"));
	lg_audit_agg_free(a);
}

/* With every window in use, new kinds are written one by one: still nothing uncounted. */
static void
test_flood_full_table(void **state)
{
	uint8_t key[16] = {2};
	struct lg_audit_agg *a = lg_audit_agg_new(60, 4, key);
	struct sink s = {.n = 0};
	unsigned seed = 7;
	uint64_t events = 0;

	(void)state;
	for (int i = 0; i < 2000; i++) {
		char id[8];
		struct lg_audit_rec r;
		snprintf(id, sizeof(id), "s%d", rand_r(&seed) % 9);
		r = deny(id, T0 + i / 10,
		         rand_r(&seed) % 2 ? LG_RULE_LESSON_LIMIT : LG_RULE_DAY_END);
		lg_audit_agg_add(a, &r, collect, &s);
		events++;
		assert_true(lg_audit_agg_open(a) <= 4);
	}
	lg_audit_agg_flush(a, 0, true, collect, &s);
	assert_int_equal(s.total, events);
	lg_audit_agg_free(a);
}

/*
 * Windows opened at different times close in the middle of the list of open
 * windows, by time and all at once, again and again: every event is
 * accounted for and the counter stays usable (the list a flush walks).
 */
static void
test_flood_windows_close_in_any_order(void **state)
{
	uint8_t key[16] = {3};
	struct lg_audit_agg *a = lg_audit_agg_new(10, 1000, key);
	struct sink s = {.n = 0};
	uint64_t events = 0;
	char id[32];

	(void)state;
	for (int round = 0; round < 5; round++) {
		for (int i = 0; i < 300; i++) {
			struct lg_audit_rec r;
			snprintf(id, sizeof(id), "stu-%d", (i * 7) % 150);
			r = deny(id, T0 + round * 100 + i % 20, LG_RULE_DAY_END);
			lg_audit_agg_add(a, &r, collect, &s);
			events++;
		}
		lg_audit_agg_flush(a, T0 + round * 100 + 12, false, collect, &s); /* some close */
		assert_true(lg_audit_agg_open(a) > 0);
		if (round % 2)
			lg_audit_agg_flush(a, 0, true, collect, &s);
	}
	lg_audit_agg_flush(a, 0, true, collect, &s);
	assert_int_equal(lg_audit_agg_open(a), 0);
	assert_int_equal(s.total, events);
	lg_audit_agg_free(a);
}

/* A lesson known only by its pseudonym (reopened after a restart) is written with it. */
static void
test_pseudonym_given(void **state)
{
	struct lg_audit_rec r = {.type = LG_AUDIT_LESSON_END,
	                         .time = T0,
	                         .cls = 0,
	                         .start = T0 - 60,
	                         .end = T0 - 30,
	                         .pseudonym = "00112233445566778899aabbccddeeff"};

	(void)state;
	assert_non_null(strstr(fmt(0, &r), "\"student\":\"00112233445566778899aabbccddeeff\""));
	r.pseudonym = "not-a-pseudonym\"";
	assert_non_null(strstr(fmt(0, &r), "\"student\":null"));
	r.pseudonym = "00112233445566778899aabbccddeeff";
	r.student = "s";
	r.student_len = 1;
	assert_null(strstr(fmt(0, &r), "00112233445566778899aabbccddeeff")); /* the id wins */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pseudonym),
	    cmocka_unit_test(test_records_exact),
	    cmocka_unit_test(test_nasty_ids),
	    cmocka_unit_test(test_client_prefix),
	    cmocka_unit_test(test_flood_counting),
	    cmocka_unit_test(test_flood_unidentified),
	    cmocka_unit_test(test_flood_full_table),
	    cmocka_unit_test(test_pseudonym_given),
	    cmocka_unit_test(test_flood_windows_close_in_any_order),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
