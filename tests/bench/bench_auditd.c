/*
 * Benchmark (not a test): the sustained write rate of lessongated's audit
 * writer (daemon/audit/auditd.c) with group commit. Threads hand it deny records
 * of distinct students (so none is folded by flood counting), each with a
 * done callback as an enforced refusal has; the rate counts records durable
 * (fdatasync'd) per second. Usage: bench_auditd DIR [RECORDS] [THREADS].
 */
#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auditd.h"
#include "config.h"
#include "log.h"
#include "runtime.h"

static atomic_ulong durable, lost;
static unsigned long per_thread;

/* A record is durable (or lost). */
static void
done(void *arg, bool ok)
{
	(void)arg;
	if (ok)
		atomic_fetch_add(&durable, 1);
	else
		atomic_fetch_add(&lost, 1);
}

/* One submitting thread (a worker). */
static void *
submit(void *arg)
{
	unsigned long t = (unsigned long)(uintptr_t)arg;
	char id[32];
	struct lg_audit_rec r = {.type = LG_AUDIT_DENY,
	                         .cls = 0,
	                         .route = "/lesson/",
	                         .region = 110101,
	                         .rule = LG_RULE_LESSON_LIMIT,
	                         .enforced = true,
	                         .status = 429};

	for (unsigned long i = 0; i < per_thread; i++) {
		r.student_len = (size_t)snprintf(id, sizeof(id), "student-%lu-%lu", t, i);
		r.student = id;
		r.time = time(NULL);
		lgd_auditd_submit(&r, done, NULL);
	}
	return NULL;
}

/* Seconds on the monotonic clock. */
static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Write an Ed25519 key, a pseudonym key and a configuration naming them into dir. */
static void
make_config(const char *dir, char *conf, size_t cap)
{
	char p[4096];
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	uint8_t pk[32];
	FILE *f;

	snprintf(p, sizeof(p), "%s/sign.pem", dir);
	f = fopen(p, "w");
	PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	EVP_PKEY_free(k);
	snprintf(p, sizeof(p), "%s/pseudo.key", dir);
	f = fopen(p, "w");
	RAND_bytes(pk, sizeof(pk));
	for (int i = 0; i < 32; i++)
		fprintf(f, "%02x", pk[i]);
	fputc('\n', f);
	fclose(f);
	chmod(p, 0600);
	snprintf(conf, cap, "%s/bench.conf", dir);
	f = fopen(conf, "w");
	fprintf(f,
	        "instance = \"bench\";\nlisten = ( { address = \"127.0.0.1:1\"; } );\n"
	        "upstream = { address = \"127.0.0.1:2\"; };\n"
	        "audit = { dir = \"%s/log\"; signing_key = \"%s/sign.pem\"; "
	        "pseudonym_key = \"%s/pseudo.key\"; };\n",
	        dir, dir, dir);
	fclose(f);
}

int
main(int argc, char **argv)
{
	unsigned long n = argc > 2 ? strtoul(argv[2], NULL, 10) : 500000;
	unsigned nt = argc > 3 ? (unsigned)atoi(argv[3]) : 2;
	char conf[4096], err[512];
	struct lg_errors errs;
	struct lg_config *cf;
	pthread_t th[64];
	double t0, t1;

	if (argc < 2 || nt == 0 || nt > 64) {
		fprintf(stderr, "usage: bench_auditd DIR [RECORDS] [THREADS]\n");
		return 2;
	}
	make_config(argv[1], conf, sizeof(conf));
	lg_errors_init(&errs);
	if ((cf = lg_config_load(conf, &errs)) == NULL) {
		lg_errors_join(&errs, err, sizeof(err));
		fprintf(stderr, "bench_auditd: %s\n", err);
		return 1;
	}
	lgd_log_init(LGD_WARN, 1);
	lgd_log_start();
	lgd_store = lg_store_memory_new(1024, 4);
	if (lgd_auditd_start(cf, "bench", err, sizeof(err)) != 0) {
		fprintf(stderr, "bench_auditd: %s\n", err);
		return 1;
	}
	per_thread = n / nt;
	n = per_thread * nt;
	t0 = now_s();
	for (unsigned i = 0; i < nt; i++)
		pthread_create(&th[i], NULL, submit, (void *)(uintptr_t)i);
	for (unsigned i = 0; i < nt; i++)
		pthread_join(th[i], NULL);
	t1 = now_s();
	while (atomic_load(&durable) + atomic_load(&lost) < n)
		usleep(200);
	{
		/* On a shared machine the wall-clock rate is what this process got; CPU time says
		 * what the work costs. */
		double t2 = now_s(), cpu;
		struct rusage ru;
		getrusage(RUSAGE_SELF, &ru);
		cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
		      (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
		printf("bench: audit-write records=%lu threads=%u submit=%.2fs durable=%.2fs "
		       "rate=%.0f records/s cpu=%.2fs records_per_cpu_second=%.0f lost=%lu\n",
		       n, nt, t1 - t0, t2 - t0, (double)n / (t2 - t0), cpu, (double)n / cpu,
		       atomic_load(&lost));
	}
	lgd_auditd_stop("bench");
	lg_store_free(lgd_store);
	lg_config_free(cf);
	lg_errors_free(&errs);
	lgd_log_stop(1000);
	return 0;
}
