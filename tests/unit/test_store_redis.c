/*
 * The Redis store's rules against the C policy: randomized timelines of lesson
 * requests and tunnel leases run through the memory store (lib/rules/policy.c) and
 * through the Lua scripts of lib/store/store_redis.c on a real redis-server (started
 * here on a unix socket in a temp dir; skipped if redis-server is missing),
 * and every decision must be identical.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "config.h"
#include "store.h"
#include "store_redis.h"
#include "students.h"
#include "testutil.h"

static struct lg_config *cf;
static pid_t server;
static char dir[256], sock[300];
static redisContext *rc;
static int cur_tl; /* the timeline being run, for failure messages */

/* Start redis-server on a unix socket in a temp dir; connect. */
static int
start_redis(void)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

	snprintf(dir, sizeof(dir), "%s/lg-redis-XXXXXX", tmp);
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(sock, sizeof(sock), "%s/redis.sock", dir);
	if ((server = fork()) == 0) {
		int fd = open("/dev/null", O_WRONLY);
		dup2(fd, 1);
		dup2(fd, 2);
		execlp("redis-server", "redis-server", "--port", "0", "--unixsocket", sock,
		       "--save", "", "--appendonly", "no", "--dir", dir, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 100; i++) {
		struct stat sb;
		if (stat(sock, &sb) == 0 && (rc = redisConnectUnix(sock)) != NULL && !rc->err)
			return 0;
		if (rc != NULL) {
			redisFree(rc);
			rc = NULL;
		}
		if (waitpid(server, NULL, WNOHANG) == server) {
			server = 0;
			return -1;
		}
		usleep(50000);
	}
	return -1;
}

/* The default rules over the shipped calendars; a redis-server. */
static int
setup(void **state)
{
	(void)state;
	cf = tu_config(TU_CALENDAR_2026, "test.conf", NULL);
	if (cf == NULL)
		return 1;
	if (start_redis() != 0)
		fprintf(stderr, "redis-server not available: the Redis tests are skipped\n");
	return 0;
}

/* Stop the server, remove its files. */
static int
teardown(void **state)
{
	(void)state;
	if (rc != NULL)
		redisFree(rc);
	if (server > 0) {
		kill(server, SIGKILL);
		waitpid(server, NULL, 0);
	}
	unlink(sock);
	rmdir(dir);
	lg_config_free(cf);
	return 0;
}

/* Record a memory store answer. */
static void
keep(void *arg, uint64_t tag, const struct lg_store_result *r)
{
	(void)tag;
	*(struct lg_store_result *)arg = *r;
}

/* The longest break_min (the scripts' "keep"), or lesson_max (the merge's cap on leases). */
static int32_t
longest(bool lesson)
{
	int32_t m = 0;

	for (int i = 0; i < LG_LESSON_CLASSES; i++) {
		int32_t v = lesson ? cf->rules.cls[i].lesson_max : cf->rules.cls[i].break_min;
		if (v > m)
			m = v;
	}
	return m;
}

/* A decision as the Redis store makes it: the day in C, the clock in Lua, the finish in C. */
static void
redis_decide(const char *key, enum lg_class cls, int64_t now, struct lg_decision *d)
{
	const struct lg_class_rules *r = &cf->rules.cls[cls];
	struct lg_clock_outcome o;
	struct lg_student_state st;
	long long v[8];
	redisReply *reply;

	if (!lg_policy_decide_day(cf->policy, cls, 0, now, d))
		return;
	reply = redisCommand(rc, "EVAL %s 1 %s %lld %d %d %d %d", lg_redis_decide_lua, key,
	                     (long long)now, r->lesson_max, r->break_min, longest(false),
	                     LG_REDIS_EXPIRY_SLACK);
	assert_non_null(reply);
	if (reply->type == REDIS_REPLY_ERROR)
		fail_msg("decide script: %s", reply->str);
	assert_int_equal(reply->type, REDIS_REPLY_ARRAY);
	assert_int_equal(reply->elements, 8);
	for (size_t i = 0; i < 8; i++) {
		assert_int_equal(reply->element[i]->type, REDIS_REPLY_INTEGER);
		v[i] = reply->element[i]->integer;
	}
	freeReplyObject(reply);
	assert_int_equal(lg_redis_decide_answer(v, 8, &o, &st), 0);
	lg_policy_decide_finish(cf->policy, cls, 0, now, &o, d);
}

/* A lease operation through the lease script. */
static void
redis_lease(const char *key, const char *op, int64_t now, uint64_t id, int64_t exp, int lmax)
{
	redisReply *reply = redisCommand(
	    rc, "EVAL %s 1 %s %s %lld %llu %lld %d %d", lg_redis_lease_lua, key, op, (long long)now,
	    (unsigned long long)id, (long long)exp, lmax, longest(false));

	assert_non_null(reply);
	if (reply->type == REDIS_REPLY_ERROR)
		fail_msg("lease script %s: %s", op, reply->str);
	freeReplyObject(reply);
}

/* Two decisions must be the same in everything a request's answer shows. */
static void
same(const struct lg_decision *m, const struct lg_decision *r, int step, int64_t now)
{
	if (m->allow != r->allow || m->rule != r->rule || m->deadline != r->deadline ||
	    m->retry_at != r->retry_at || m->start != r->start || m->new_lesson != r->new_lesson ||
	    m->ended_start != r->ended_start || m->ended_last != r->ended_last ||
	    m->remaining != r->remaining)
		fail_msg("timeline %d step %d at %lld: memory allow=%d rule=%d deadline=%lld "
		         "retry_at=%lld "
		         "start=%lld new=%d ended=%lld..%lld; redis allow=%d rule=%d deadline=%lld "
		         "retry_at=%lld start=%lld new=%d ended=%lld..%lld",
		         cur_tl, step, (long long)now, m->allow, m->rule, (long long)m->deadline,
		         (long long)m->retry_at, (long long)m->start, m->new_lesson,
		         (long long)m->ended_start, (long long)m->ended_last, r->allow, r->rule,
		         (long long)r->deadline, (long long)r->retry_at, (long long)r->start,
		         r->new_lesson, (long long)r->ended_start, (long long)r->ended_last);
}

#define MAX_OPEN 4

/*
 * Random timelines: requests of both classes at random gaps (seconds to
 * hours: breaks, day ends, weekends), tunnels opened and closed, their leases
 * renewed together every <= 10 s like a worker's tick, or (an instance
 * crashed) never again, so they expire.
 */
static void
test_random_timelines_match(void **state)
{
	int decisions = 0, refusals = 0, news = 0;

	(void)state;
	if (rc == NULL)
		skip();
	for (int tl = 0; tl < 60; tl++) {
		struct lg_store *mem = lg_store_memory_new(16, 1);
		char student[32], key[64];
		struct lg_lease open[MAX_OPEN];
		enum lg_class ocls[MAX_OPEN];
		int nopen = 0;
		bool crashed = false;
		int64_t stale = 0; /* abandoned leases since then (0: none) */
		int64_t now = tu_at(cf, 2026, 9, 21 + tl % 7, 7 + tl % 5, 30, 0);

		srand(1000 + tl);
		cur_tl = tl;
		snprintf(student, sizeof(student), "s%d", tl);
		lg_redis_key("t:", student, strlen(student), key, sizeof(key));
		for (int step = 0; step < 400; step++) {
			int op = rand() % 10;
			int gap = rand() % 100;

			/* Time goes on: mostly seconds, sometimes a break, rarely hours. */
			if (nopen > 0 && !crashed)
				now += 1 + rand() % LG_LEASE_RENEW;
			else if (gap < 70)
				now += 1 + rand() % 120;
			else if (gap < 95 || stale != 0)
				now += 300 + rand() % 900;
			else
				now += 3600 +
				       rand() % 25000; /* < 9 h: the memory store's 16-bit expiry */
			if (nopen > 0 && !crashed)
				for (int i = 0; i < nopen; i++) {
					lg_store_lease_renew(mem, student, strlen(student), now,
					                     &open[i]);
					redis_lease(key, "renew", now, open[i].id, open[i].expires,
					            -1);
				}
			if (getenv("LG_TEST_DEBUG") && tl == atoi(getenv("LG_TEST_DEBUG"))) {
				struct lg_students_ref ref;
				struct lg_student_state *ms = lg_students_find(
				    lg_store_memory_table(mem), student, strlen(student), &ref);
				fprintf(stderr,
				        "step %d now %lld op %d nopen %d crashed %d mem %u/%u\n",
				        step, (long long)now, op, nopen, crashed,
				        ms ? ms->tunnels : 0, ms ? ms->lease_until : 0);
				if (ms)
					lg_students_release(&ref);
			}
			/*
			 * The memory store compares lease expiries in 16 bits (valid
			 * within 9 hours, which its sweep guarantees): a new tunnel
			 * resets abandoned leases before that.
			 */
			if (stale != 0 && now - stale > 20000) {
				nopen = 0; /* a new instance took over ... */
				crashed = false;
				op = 6; /* ... and opens a tunnel */
			}
			if (op < 6) {
				enum lg_class cls =
				    rand() % 4 == 0 ? LG_CLASS_NON_SUBJECT : LG_CLASS_SUBJECT;
				struct lg_store_query q = {cf->policy, student, strlen(student),
				                           cls,        0,       now};
				struct lg_store_result mr;
				struct lg_decision rd;

				lg_store_decide(mem, &q, keep, &mr, 0);
				redis_decide(key, cls, now, &rd);
				same(&mr.d, &rd, step, now);
				decisions++;
				refusals += !mr.d.allow;
				news += mr.d.new_lesson;
			} else if (op < 8 && nopen < MAX_OPEN && !crashed) {
				ocls[nopen] =
				    rand() % 4 == 0 ? LG_CLASS_NON_SUBJECT : LG_CLASS_SUBJECT;
				assert_int_equal(lg_store_lease_open(mem, student, strlen(student),
				                                     now, &open[nopen]),
				                 0);
				redis_lease(key, "open", now, open[nopen].id, open[nopen].expires,
				            -1);
				nopen++;
				stale = 0;
			} else if (op == 8 && nopen > 0 && !crashed) {
				int i = rand() % nopen;
				const struct lg_class_rules *r = &cf->rules.cls[ocls[i]];
				lg_store_lease_close(mem, cf->policy, student, strlen(student),
				                     ocls[i], now, &open[i]);
				redis_lease(key, "close", now, open[i].id, open[i].expires,
				            r->lesson_max);
				open[i] = open[--nopen];
				ocls[i] = ocls[nopen];
			} else if (op == 9 && nopen > 0 && rand() % 3 == 0) {
				/*
				 * The holder crashed: its leases are never renewed or closed
				 * again, and expire. (An expired lease stays expired in Redis;
				 * the memory store, which keeps only a count and the latest
				 * expiry, would revive it on a late renewal.)
				 */
				crashed = true;
				if (stale == 0)
					stale = now;
			}
			if (crashed && rand() % 8 == 0) {
				nopen = 0; /* a new instance takes over, with no tunnels */
				crashed = false;
			}
		}
		lg_store_free(mem);
	}
	/* The timelines exercise every branch. */
	assert_true(decisions > 10000);
	assert_true(refusals > 500);
	assert_true(news > 500);
	print_message("%d decisions (%d refused, %d new lessons) identical\n", decisions, refusals,
	              news);
}

/* A key expires when its state no longer matters; leases keep it alive meanwhile. */
static void
test_key_expiry(void **state)
{
	int64_t now = tu_at(cf, 2026, 9, 21, 10, 0, 0);
	struct lg_decision d;
	redisReply *reply;

	(void)state;
	if (rc == NULL)
		skip();
	redis_decide("t:{ttl}", LG_CLASS_SUBJECT, now, &d);
	assert_true(d.allow);
	reply = redisCommand(rc, "PTTL t:{ttl}");
	/* The break (600 s of the default rules), the slack and a second more. */
	assert_int_equal(reply->type, REDIS_REPLY_INTEGER);
	assert_true(reply->integer > (600 + LG_REDIS_EXPIRY_SLACK) * 1000 &&
	            reply->integer <= (601 + LG_REDIS_EXPIRY_SLACK) * 1000);
	freeReplyObject(reply);
	/* A lease beyond that keeps the key. */
	redis_lease("t:{ttl}", "open", now, 7, now + 3600, -1);
	reply = redisCommand(rc, "PTTL t:{ttl}");
	assert_true(reply->integer > 3600000);
	freeReplyObject(reply);
	/* A decision that changes nothing (the same second, a refusal) writes nothing. */
	{
		long long hset = -1, pexpire = -1;
		freeReplyObject(redisCommand(rc, "CONFIG RESETSTAT"));
		redis_decide("t:{ttl}", LG_CLASS_SUBJECT, now, &d);
		redis_decide("t:{ttl}", LG_CLASS_SUBJECT, now, &d);
		assert_true(d.allow);
		redis_decide("t:{ttl}", LG_CLASS_SUBJECT, now + 1, &d);
		/* The lease's hour outgrew the expiry set last: set once, the slack further on;
		 * the next second's activity moves the clock but not the expiry. */
		redis_decide("t:{ttl}", LG_CLASS_SUBJECT, now + 2, &d);
		reply = redisCommand(rc, "INFO commandstats");
		const char *h = strstr(reply->str, "cmdstat_hset:calls=");
		const char *p = strstr(reply->str, "cmdstat_pexpire:calls=");
		if (h != NULL)
			hset = atoll(h + strlen("cmdstat_hset:calls="));
		if (p != NULL)
			pexpire = atoll(p + strlen("cmdstat_pexpire:calls="));
		freeReplyObject(reply);
		assert_int_equal(hset, 2); /* only now + 1 and now + 2 moved the last activity */
		assert_int_equal(pexpire, 1);
		reply = redisCommand(rc, "PTTL t:{ttl}");
		assert_true(reply->integer > (3600 - 2 + LG_REDIS_EXPIRY_SLACK) * 1000 &&
		            reply->integer <= (3601 + LG_REDIS_EXPIRY_SLACK) * 1000);
		freeReplyObject(reply);
	}
	/* The lease closed, the last one: the key expires a break after the last activity. */
	redis_lease("t:{ttl}", "close", now + 3, 7, now + 3600, 1800);
	reply = redisCommand(rc, "PTTL t:{ttl}");
	assert_true(reply->integer > 598000 && reply->integer <= 601000);
	freeReplyObject(reply);
	/* A decision in the slack after that sets the expiry again (the field 'x' followed it). */
	freeReplyObject(redisCommand(rc, "CONFIG RESETSTAT"));
	redis_decide("t:{ttl}", LG_CLASS_SUBJECT, now + 4, &d);
	assert_true(d.allow);
	reply = redisCommand(rc, "PTTL t:{ttl}");
	assert_true(reply->integer > (600 + LG_REDIS_EXPIRY_SLACK) * 1000);
	freeReplyObject(reply);
	/* Hash tag: the student in braces. */
	char key[64];
	assert_int_equal(lg_redis_key("lg:", "abc", 3, key, sizeof(key)), 8);
	assert_string_equal(key, "lg:{abc}");
	assert_int_equal(lg_redis_key("lg:", "abc", 3, key, 8), 0);
	/* A malformed answer is refused, never half read. */
	{
		long long ok[8] = {1, 100, 100, 1, 0, 0, 0, 0}, bad[8] = {2, 0, 0, 0, 0, 0, 0, 0};
		struct lg_clock_outcome o;
		struct lg_student_state st;
		assert_int_equal(lg_redis_decide_answer(ok, 8, &o, &st), 0);
		assert_true(o.allow && o.new_lesson && o.start == 100);
		assert_int_equal(lg_redis_decide_answer(ok, 7, &o, &st), -1);
		assert_int_equal(lg_redis_decide_answer(bad, 8, &o, &st), -1);
		bad[0] = 1;
		bad[6] = -5;
		assert_int_equal(lg_redis_decide_answer(bad, 8, &o, &st), -1);
	}
}

/* A random lesson near base: none, or a start and a last moment up to 40 minutes on. */
static struct lg_clock_span
random_span(int64_t base)
{
	struct lg_clock_span s = {0, 0};

	if (rand() % 8 == 0)
		return s;
	s.start = base + rand() % 7200;
	s.last = s.start + (rand() % 3 == 0 ? 0 : rand() % 2400);
	return s;
}

/*
 * The merge never gives back used time: the result is one of the two
 * lessons, or both joined; a lesson is dropped only when the kept one began a
 * full break after it ended; joined lessons keep the earlier start and the
 * later last moment. It is commutative and idempotent.
 */
static void
test_merge_properties(void **state)
{
	int joined = 0, superseded = 0;

	(void)state;
	srand(77);
	for (int i = 0; i < 200000; i++) {
		struct lg_clock_span a = random_span(1000000), b = random_span(1000000);
		int32_t brk = 1 + rand() % 1200;
		struct lg_clock_span m = lg_clock_merge(a, b, brk), m2 = lg_clock_merge(b, a, brk);
		struct lg_clock_span again = lg_clock_merge(m, a, brk);

		assert_true(m.start == m2.start && m.last == m2.last);
		assert_true(again.start == m.start && again.last == m.last);
		if (a.start == 0 || b.start == 0) {
			struct lg_clock_span o = a.start == 0 ? b : a;
			assert_true(m.start == o.start && m.last == o.last);
			continue;
		}
		struct lg_clock_span e = a.start <= b.start ? a : b, l = a.start <= b.start ? b : a;
		if (m.start == l.start && m.last == l.last && l.start - e.last >= brk) {
			superseded++;
			continue;
		}
		assert_int_equal(m.start, e.start);
		assert_int_equal(m.last, e.last > l.last ? e.last : l.last);
		assert_true(l.start - e.last < brk || l.start == e.start);
		joined++;
	}
	assert_true(joined > 10000 && superseded > 10000);
}

/* Run the merge script on key with this view; the merged state's start and last. */
static struct lg_clock_span
redis_merge(const char *key, int64_t now, struct lg_clock_span mine, int32_t brk)
{
	redisReply *reply = redisCommand(
	    rc, "EVAL %s 1 %s %lld %lld %lld %d %d %d", lg_redis_merge_lua, key, (long long)now,
	    (long long)mine.start, (long long)mine.last, brk, longest(true), longest(false));
	long long v[3];
	struct lg_student_state st;
	struct lg_clock_span out;

	assert_non_null(reply);
	if (reply->type == REDIS_REPLY_ERROR)
		fail_msg("merge script: %s", reply->str);
	assert_int_equal(reply->type, REDIS_REPLY_ARRAY);
	assert_int_equal(reply->elements, 3);
	for (size_t i = 0; i < 3; i++)
		v[i] = reply->element[i]->integer;
	freeReplyObject(reply);
	assert_int_equal(lg_redis_merge_answer(v, 3, &st), 0);
	out.start = st.start;
	out.last = st.start + st.last_off;
	return out;
}

/*
 * The merge script and lg_clock_merge agree on random stored clocks (with and
 * without a live or an expired lease) and random local views; a merge that
 * changes nothing leaves no key behind, and the merged key expires after the break.
 */
static void
test_merge_script_matches(void **state)
{
	int64_t now = 1000000 + 9000;

	(void)state;
	if (rc == NULL)
		skip();
	srand(78);
	for (int i = 0; i < 3000; i++) {
		struct lg_clock_span shared = random_span(1000000), mine = random_span(1000000);
		struct lg_clock_span want, got;
		int32_t brk = 1 + rand() % 1200;
		int lease = rand() % 3; /* none, live, expired */
		redisReply *r;

		freeReplyObject(redisCommand(rc, "DEL m:{x}"));
		if (shared.start != 0)
			freeReplyObject(redisCommand(rc, "HSET m:{x} s %lld o %lld",
			                             (long long)shared.start,
			                             (long long)(shared.last - shared.start)));
		if (lease != 0)
			freeReplyObject(redisCommand(rc, "HSET m:{x} l:9 %lld",
			                             (long long)(lease == 1 ? now + 20 : now - 5)));
		if (lease == 1 && shared.start != 0) {
			/* A live lease: activity until now, capped at the longest lesson. */
			int64_t cap = shared.start + longest(true);
			int64_t active = now < cap ? now : cap;
			if (active > shared.last)
				shared.last = active;
		}
		want = lg_clock_merge(shared, mine, brk);
		got = redis_merge("m:{x}", now, mine, brk);
		if (want.start != got.start || want.last != got.last)
			fail_msg("case %d: shared %lld..%lld lease %d mine %lld..%lld brk %d: C "
			         "%lld..%lld, Lua %lld..%lld",
			         i, (long long)shared.start, (long long)shared.last, lease,
			         (long long)mine.start, (long long)mine.last, brk,
			         (long long)want.start, (long long)want.last, (long long)got.start,
			         (long long)got.last);
		r = redisCommand(rc, "PTTL m:{x}");
		if (mine.start == 0 && shared.start == 0 && lease == 0)
			assert_int_equal(r->integer, -2); /* nothing stored */
		else if (mine.start != 0)
			assert_true(r->integer > 0); /* the merged clock expires */
		freeReplyObject(r);
	}
	/* A malformed answer is refused. */
	{
		long long bad[3] = {100, -1, 0};
		struct lg_student_state st;
		assert_int_equal(lg_redis_merge_answer(bad, 3, &st), -1);
		assert_int_equal(lg_redis_merge_answer(bad, 2, &st), -1);
	}
}

/* lg_redis_format writes what hiredis's redisFormatCommandArgv writes, or 0 if out is short. */
static void
test_format_matches_hiredis(void **state)
{
	char out[4096], big[3000];
	(void)state;
	memset(big, 'z', sizeof(big));
	for (int trial = 0; trial < 2000; trial++) {
		const char *argv[10];
		size_t argvlen[10];
		char text[10][64];
		int argc = 1 + rand() % 10;
		for (int i = 0; i < argc; i++) {
			size_t n = (size_t)(rand() % 64);
			for (size_t j = 0; j < n; j++)
				text[i][j] =
				    (char)(rand() % 256); /* binary safe: CR, LF, NUL too */
			argv[i] = text[i];
			argvlen[i] = n;
		}
		if (trial % 100 == 0) { /* a long argument: 4-digit length */
			argv[0] = big;
			argvlen[0] = sizeof(big);
		}
		char *want = NULL;
		long long wn = redisFormatCommandArgv(&want, argc, argv, argvlen);
		size_t n = lg_redis_format(out, sizeof(out), argc, argv, argvlen);
		if (wn + 24 * (argc + 1) <= (long long)sizeof(out)) {
			assert_int_equal(n, (size_t)wn);
			assert_memory_equal(out, want, n);
		}
		/* Too small a buffer: 0, never a partial command. */
		assert_int_equal(lg_redis_format(out, (size_t)wn / 2, argc, argv, argvlen), 0);
		redisFreeCommand(want);
	}
	assert_int_equal(lg_redis_format(out, sizeof(out), 0, NULL, NULL), 4);
	assert_memory_equal(out, "*0\r\n", 4);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_random_timelines_match),
	    cmocka_unit_test(test_key_expiry),
	    cmocka_unit_test(test_merge_properties),
	    cmocka_unit_test(test_merge_script_matches),
	    cmocka_unit_test(test_format_matches_hiredis),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
