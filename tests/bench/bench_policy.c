/* A benchmark, not a test: policy decisions per second over a large student table. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "policy.h"
#include "students.h"

struct run {
	struct lg_config *cf;
	struct lg_students *table;
	unsigned nstudents;
	uint64_t decisions;
	uint64_t seed;
	int64_t base;
	int pipeline; /* 0: one at a time; N: key and prefetch N requests ahead */
	uint64_t allowed, denied[5];
	double seconds;
};

/* Monotonic seconds, for measuring only. */
static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* xorshift64*: cheap random student picks. */
static uint64_t
next_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

/* Resident set size in KiB, from /proc. */
static long
rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld", &v) == 1)
			break;
	fclose(f);
	return v;
}

/*
 * Student k's id, "stu-" and eight hex digits. Built on the stack as a
 * request's id would be in its (cache-hot) header buffer.
 */
static size_t
make_id(unsigned k, char *id)
{
	static const char hex[] = "0123456789abcdef";

	memcpy(id, "stu-", 4);
	for (int i = 0; i < 8; i++)
		id[4 + i] = hex[(k >> (28 - 4 * i)) & 15];
	return 12;
}

/* Count one outcome. */
static void
tally(struct run *r, const struct lg_decision *d)
{
	if (d->allow)
		r->allowed++;
	else
		r->denied[d->rule]++;
}

/*
 * One thread's share: random students, a clock moving 256 decisions a
 * second. With a pipeline, each request's student is hashed and its slot
 * prefetched `pipeline` requests before the decision, as a caller that
 * handles requests in batches can (lessongated does not need to: its
 * per-request work is tens of microseconds, the table lookup well under one).
 */
static void *
drive(void *p)
{
	struct run *r = p;
	struct lg_students_ref ref;
	struct lg_decision d;
	struct lg_student_key ring[64];
	unsigned cls[64];
	uint64_t s = r->seed;
	unsigned depth = (unsigned)r->pipeline;
	double t0 = now_s();

	for (unsigned j = 0; j < depth; j++) {
		char id[16];
		unsigned k = (unsigned)(next_rand(&s) % r->nstudents);
		lg_students_key(r->table, id, make_id(k, id), &ring[j]);
		lg_students_prefetch(r->table, &ring[j]);
		cls[j] = k & 7;
	}
	for (uint64_t i = 0; i < r->decisions; i++) {
		unsigned k = (unsigned)(next_rand(&s) % r->nstudents);
		int64_t t = r->base + (int64_t)(i >> 8);
		struct lg_student_state *st;
		char id[16];
		size_t len = make_id(k, id);

		if (depth == 0) {
			st = lg_students_acquire(r->table, id, len, &ref);
		} else {
			unsigned slot = (unsigned)(i % depth);
			struct lg_student_key next;
			unsigned c = cls[slot];

			lg_students_key(r->table, id, len, &next);
			lg_students_prefetch(r->table, &next);
			st = lg_students_acquire_key(r->table, &ring[slot], &ref);
			ring[slot] = next;
			cls[slot] = k & 7;
			k = c;
		}
		lg_policy_decide(r->cf->policy, st, (k & 7) ? LG_CLASS_SUBJECT : LG_CLASS_NON_SUBJECT,
				 0, t, &d);
		lg_students_release(&ref);
		tally(r, &d);
	}
	r->seconds = now_s() - t0;
	return NULL;
}

int
main(int argc, char **argv)
{
	const char *conf = argc > 1 ? argv[1] : "conf/lessongate.conf";
	unsigned nstudents = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 1000000;
	uint64_t total = argc > 3 ? strtoull(argv[3], NULL, 10) : 20000000;
	int threads = argc > 4 ? atoi(argv[4]) : 1;
	int pipeline = argc > 5 ? atoi(argv[5]) : 0;
	struct lg_errors errs;
	struct lg_config *cf;
	struct run runs[16];
	pthread_t th[16];
	long rss0, rss1;
	struct lg_students *table;
	double t0, fill, slowest = 0;
	uint64_t allowed = 0, denied[5] = {0};

	if (threads < 1 || threads > 16)
		threads = 1;
	if (pipeline < 0 || pipeline > 64)
		pipeline = 0;
	lg_errors_init(&errs);
	if ((cf = lg_config_load(conf, &errs)) == NULL) {
		for (size_t i = 0; i < errs.count; i++)
			fprintf(stderr, "%s\n", errs.msg[i]);
		return 1;
	}
	rss0 = rss_kib();
	table = lg_students_new(nstudents, 0);
	t0 = now_s();
	for (unsigned i = 0; i < nstudents; i++) {
		struct lg_students_ref ref;
		char id[16];
		size_t len = make_id(i, id);
		lg_students_acquire(table, id, len, &ref);
		lg_students_release(&ref);
	}
	fill = now_s() - t0;
	rss1 = rss_kib();

	for (int i = 0; i < threads; i++) {
		memset(&runs[i], 0, sizeof(runs[i]));
		runs[i].cf = cf;
		runs[i].table = table;
		runs[i].nstudents = nstudents;
		runs[i].decisions = total / (uint64_t)threads;
		runs[i].pipeline = pipeline;
		runs[i].seed = 0x9E3779B97F4A7C15ULL * (uint64_t)(i + 1);
		/* 2026-09-21 08:00 local, a Monday: the day runs into 21:00 and beyond. */
		runs[i].base = lg_tz_unix(cf->tz, (int64_t)lg_days_from_civil(2026, 9, 21) * 86400 +
							  8 * 3600);
		pthread_create(&th[i], NULL, drive, &runs[i]);
	}
	for (int i = 0; i < threads; i++) {
		pthread_join(th[i], NULL);
		if (runs[i].seconds > slowest)
			slowest = runs[i].seconds;
		allowed += runs[i].allowed;
		for (int k = 0; k < 5; k++)
			denied[k] += runs[i].denied[k];
	}
	printf("bench-policy: students=%u threads=%d pipeline=%d decisions=%" PRIu64 "\n",
	       nstudents, threads, pipeline, total);
	printf("bench-policy: decisions/s=%.0f (%.1f ns each per thread)\n",
	       (double)total / slowest, slowest * 1e9 / ((double)total / threads));
	printf("bench-policy: table bytes/student=%.1f (accounted) rss bytes/student=%.1f "
	       "(measured) fill=%.0f inserts/s\n",
	       (double)lg_students_memory(table) / nstudents,
	       (double)(rss1 - rss0) * 1024.0 / nstudents, nstudents / fill);
	printf("bench-policy: outcomes allow=%" PRIu64 " lesson_limit=%" PRIu64 " day_end=%" PRIu64
	       " blocked_day=%" PRIu64 "\n",
	       allowed, denied[LG_RULE_LESSON_LIMIT], denied[LG_RULE_DAY_END],
	       denied[LG_RULE_BLOCKED_DAY]);
	lg_students_free(table);
	lg_config_free(cf);
	lg_errors_free(&errs);
	return 0;
}
