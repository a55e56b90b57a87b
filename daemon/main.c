/* lessongated: arguments, start-up, signals (reload, drain), systemd notifications. */
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "clock.h"
#include "auditapi.h"
#include "caps.h"
#include "counters.h"
#include "auditd.h"
#include "io.h"
#include "log.h"
#include "notify.h"
#include "runtime.h"
#include "store_lmdb.h"
#include "worker.h"

#ifndef LG_VERSION
#define LG_VERSION "unknown"
#endif

/* The main thread's state: it only supervises; workers do all I/O. */
static struct {
	const char *conf;
	struct lgd_runtime *rt;
	struct lgd_worker *workers;
	int nworkers;
	struct event_base *base;
	struct event *sigs[4];
	struct event *drain_timer, *poll_timer, *wd_timer, *sweep_timer, *counts_timer;
	struct event *calendar_timer;
	int32_t calendar_checked; /* the local day the missing-calendar check last ran */
	unsigned *last_beats;
	bool stopping;
	unsigned reloads;
	char state_sig[2048]; /* the store settings in force (state_signature) */
	char *audit_dir;      /* the audit log in use (it is the process's, not a generation's) */
	bool audit_healthy;   /* as last told to systemd (STATUS=) */
	long long nofile;     /* the descriptor limit (soft, raised to the hard one at start) */
} m;

/* How to call us. */
static void
usage(FILE *f)
{
	fprintf(f, "usage: lessongated [-d] -c FILE    run in the foreground\n"
	           "       lessongated -t -c FILE       check the configuration and exit 0/1\n"
	           "       lessongated -V               print the version\n"
	           "  -d  debug logging (every connection state transition)\n");
}

/* Print every collected error, one "file:line: message" per line. */
static void
print_errors(const struct lg_errors *errs, const char *suffix)
{
	for (size_t i = 0; i < errs->count; i++)
		fprintf(stderr, "%s%s\n", errs->msg[i], suffix);
}

/* The student store settings of cf, as one string (the store is made once, at start). */
static void
state_signature(const struct lg_config *cf, char *out, size_t len)
{
	const struct lg_state_conf *st = &cf->state;

	snprintf(out, len, "%s|%s|%s|%lld|%s|%s|%s|%lld|%s", st->store, st->dir ? st->dir : "",
	         st->redis_address ? st->redis_address : "", (long long)st->redis_timeout_ms,
	         st->redis_on_failure ? st->redis_on_failure : "",
	         st->redis_password ? st->redis_password : "",
	         st->redis_username ? st->redis_username : "", (long long)st->redis_database,
	         st->redis_prefix ? st->redis_prefix : "");
	if (st->redis_sentinel_master != NULL) { /* the sentinels count too */
		size_t n = strlen(out);
		snprintf(out + n, len - n, "|%s", st->redis_sentinel_master);
		for (size_t i = 0; i < st->redis_nsentinels; i++) {
			n = strlen(out);
			snprintf(out + n, len - n, ",%s", st->redis_sentinels[i]);
		}
	}
}

/* The student store's state for the status line: up, degraded (deciding locally), unavailable. */
static const char *
store_state(void)
{
	struct lg_store_health h;

	if (lgd_store == NULL)
		return "unavailable";
	lg_store_health(lgd_store, &h);
	return h.state == LG_STORE_HEALTH_OK         ? "up"
	       : h.state == LG_STORE_HEALTH_DEGRADED ? "degraded (lesson routes decided locally)"
	                                             : "unavailable";
}

/* Tell systemd what we are doing. */
static void
notify_status(const char *what)
{
	lgd_notify(
	    "%s\nSTATUS=%s; config generation %u, %d worker(s), %d connection(s); "
	    "student store %s %s%s",
	    what, m.stopping ? "draining" : "serving", m.rt->generation, m.nworkers,
	    atomic_load(&lgd_total_conns), lgd_store ? lgd_store->kind : "none", store_state(),
	    lgd_auditd_healthy() ? "" : "; AUDIT LOG CANNOT BE WRITTEN: lesson routes answer 503");
}

/* Log one missing-calendar sentence as a warning. */
static void
say_log(void *arg, int year, const char *text)
{
	char esc[1024];

	lgd_warn("calendar missing", "year=%d unknown_year=%s detail=\"%s\"", year,
	         m.rt->cf->calendar_opts.unknown_year == LG_UNKNOWN_BLOCK ? "block" : "weekly",
	         lgd_esc(text, esc, sizeof(esc)));
}

/*
 * Warn when today or a day in the next 60 days falls in a year with no
 * national calendar: at start, after each reload (force) and once a day.
 */
static void
check_calendars(bool force)
{
	time_t now = time(NULL);
	int32_t today = lg_day_of(lg_tz_local(m.rt->cf->tz, now));

	if (!force && today == m.calendar_checked)
		return;
	m.calendar_checked = today;
	lgd_calendar_gaps(m.rt->cf, now, say_log, NULL);
}

/* Hourly: run the missing-calendar check when the local day has changed. */
static void
calendar_cb(evutil_socket_t fd, short what, void *arg)
{
	check_calendars(false);
}

/* One reload error: logged, and kept for whoever asked (POST /admin/v1/reload). */
static void
reload_error(struct lg_errors *out, const char *msg)
{
	char esc[1024];

	lgd_err("reload failed, keeping the running configuration", "error=\"%s\"",
	        lgd_esc(msg, esc, sizeof(esc)));
	lg_errors_add(out, NULL, 0, "%s", msg);
}

/*
 * Load and validate the whole new configuration; swap only if all of it is
 * good (SIGHUP and POST /admin/v1/reload). 0 with the new generation, or -1
 * with every error in out (file:line: message).
 */
static int
do_reload(struct lg_errors *out, unsigned *generation)
{
	struct lg_errors errs;
	struct lgd_runtime *rt;
	char esc[1024], err[512];
	int *fds, bad;
	size_t nl;

	if (m.stopping) {
		lg_errors_add(out, NULL, 0, "the daemon is shutting down");
		return -1;
	}
	lgd_notify("RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading %s",
	           (unsigned long long)lgd_mono_us(), m.conf);
	lgd_info("reloading configuration", "file=%s", m.conf);
	lg_errors_init(&errs);
	rt = lgd_runtime_load(m.conf, &errs);
	if (rt == NULL) {
		for (size_t i = 0; i < errs.count; i++)
			reload_error(out, errs.msg[i]);
		lg_errors_free(&errs);
		notify_status("READY=1");
		return -1;
	}
	lg_errors_free(&errs);
	/* New addresses are bound here, before anything is swapped: all or nothing. */
	nl = rt->cf->nlisten;
	fds = lg_xcalloc((size_t)m.nworkers * nl + 1, sizeof(int));
	bad = lgd_listeners_bind(m.rt->cf, rt, m.nworkers, fds, err, sizeof(err));
	if (bad == 0 && (bad = lgd_admin_prepare(rt, err, sizeof(err))) != 0)
		lgd_listeners_close(fds, (size_t)m.nworkers * nl);
	if (bad != 0) {
		reload_error(out, err);
		free(fds);
		lgd_runtime_unref(rt);
		notify_status("READY=1");
		return -1;
	}
	for (size_t i = 0; i < rt->cf->warnings.count; i++)
		lgd_warn("configuration warning", "warning=\"%s\"",
		         lgd_esc(rt->cf->warnings.msg[i], esc, sizeof(esc)));
	if (rt->cf->workers != m.rt->cf->workers)
		lgd_warn("workers changed; takes effect at the next restart", "workers=%d",
		         rt->cf->workers);
	{
		char now_sig[2048];
		state_signature(rt->cf, now_sig, sizeof(now_sig));
		if (strcmp(now_sig, m.state_sig) != 0)
			lgd_warn("state changed; takes effect at the next restart",
			         "store=%s running=%s", rt->cf->state.store, lgd_store->kind);
	}
	lgd_size_connections(rt->cf, m.nworkers, m.nofile);
	for (int i = 0; i < m.nworkers; i++) {
		int *wfds = lg_xcalloc(nl + 1, sizeof(int));
		memcpy(wfds, fds + (size_t)i * nl, nl * sizeof(int));
		lgd_worker_post_reload(&m.workers[i], lgd_runtime_ref(rt), wfds);
	}
	free(fds);
	lgd_admin_commit(rt);
	lgd_runtime_unref(m.rt);
	m.rt = rt;
	m.reloads++;
	lgd_info("configuration reloaded", "file=%s generation=%u", m.conf, rt->generation);
	if (rt->cf->audit.enabled != lgd_auditd_on() ||
	    (lgd_auditd_on() && strcmp(rt->cf->audit.dir, m.audit_dir) != 0))
		lgd_warn("audit section changed; the log in use changes at the next restart",
		         "dir=%s", lgd_auditd_on() ? m.audit_dir : "none");
	lgd_auditd_config_loaded(rt->cf);
	check_calendars(true);
	notify_status("READY=1");
	*generation = rt->generation;
	return 0;
}

/* SIGHUP: reload. */
static void
reload_cb(evutil_socket_t sig, short what, void *arg)
{
	struct lg_errors errs;
	unsigned gen;

	lg_errors_init(&errs);
	do_reload(&errs, &gen);
	lg_errors_free(&errs);
}

/* While stopping: leave once every worker's loop is done. */
static void
poll_cb(evutil_socket_t fd, short what, void *arg)
{
	static unsigned polls;

	if (atomic_load(&lgd_workers_done) >= m.nworkers)
		event_base_loopexit(m.base, NULL);
	else if (++polls % 20 == 0)
		notify_status("STOPPING=1"); /* once a second: how far the drain is */
}

/* The drain grace period is over: close whatever is still open. */
static void
drain_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	lgd_warn("drain timeout, closing remaining connections", "open=%d",
	         atomic_load(&lgd_total_conns));
	for (int i = 0; i < m.nworkers; i++)
		lgd_worker_post_stop(&m.workers[i]);
}

/* SIGTERM/SIGINT: stop accepting, drain in-flight requests, exit 0; a second one hurries. */
static void
stop_cb(evutil_socket_t sig, short what, void *arg)
{
	int64_t ms = m.rt->cf->timeouts.drain_ms;
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000}, poll = {0, 50000};

	if (m.stopping) {
		drain_timeout_cb(-1, 0, NULL);
		return;
	}
	m.stopping = true;
	lgd_info("shutting down", "signal=%s drain_ms=%lld open=%d", strsignal((int)sig),
	         (long long)ms, atomic_load(&lgd_total_conns));
	notify_status("STOPPING=1");
	for (int i = 0; i < m.nworkers; i++)
		lgd_worker_post_drain(&m.workers[i]);
	m.drain_timer = evtimer_new(m.base, drain_timeout_cb, NULL);
	evtimer_add(m.drain_timer, &tv);
	m.poll_timer = event_new(m.base, -1, EV_PERSIST, poll_cb, NULL);
	evtimer_add(m.poll_timer, &poll);
}

/* Ping the systemd watchdog only while every worker loop is still turning. */
static void
watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	bool alive = true;

	for (int i = 0; i < m.nworkers; i++) {
		unsigned b = atomic_load(&m.workers[i].heartbeat);
		if (b == m.last_beats[i] && atomic_load(&lgd_workers_done) == 0) {
			lgd_err("worker loop stalled", "worker=%d", i);
			alive = false;
		}
		m.last_beats[i] = b;
	}
	if (alive)
		lgd_notify("WATCHDOG=1");
}

/* At exit, queued log lines get this long to reach a slow stderr. */
#define LOG_FLUSH_MS 5000

/* Students expected at first (the table grows past this), and its independently locked shards. */
#define STUDENTS_EXPECTED 100000
#define STUDENTS_SHARDS   64

/* Forget students whose breaks are over: a few shards a second, under the current rules. */
static void
sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	static int was_up = -1;
	struct lg_store_health h;
	int up;

	lg_store_health(lgd_store, &h);
	up = (int)h.state;

	lg_store_expire(lgd_store, m.rt->cf->policy, time(NULL));
	if (up != was_up && !m.stopping) /* the status systemd shows follows the store */
		notify_status("");
	was_up = up;
	if (lgd_auditd_healthy() != m.audit_healthy) {
		m.audit_healthy = !m.audit_healthy; /* systemctl status shows it */
		notify_status("READY=1");
	}
}

/* Print one missing-calendar sentence for -t. */
static void
say_stderr(void *file, int year, const char *text)
{
	fprintf(stderr, "%s: %s (warning)\n", (const char *)file, text);
}

/* Write the counts of client-caused errors (log.c) once per interval. */
static void
counts_cb(evutil_socket_t fd, short what, void *arg)
{
	lgd_log_flush_counts(LGD_COUNT_INTERVAL_S);
}

/* -t: check the configuration, certificates and keys; 0 if good. */
static int
check_config(const char *conf)
{
	struct lg_errors errs;
	struct lgd_runtime *rt;

	lg_errors_init(&errs);
	rt = lgd_runtime_load(conf, &errs);
	print_errors(&errs, "");
	lg_errors_free(&errs);
	if (rt == NULL) {
		fprintf(stderr, "lessongated: %s: configuration is not valid\n", conf);
		return 1;
	}
	print_errors(&rt->cf->warnings, " (warning)");
	lgd_calendar_gaps(rt->cf, time(NULL), say_stderr, (void *)rt->cf->file);
	fprintf(stderr, "lessongated: %s: configuration is valid\n", conf);
	lgd_runtime_unref(rt);
	return 0;
}

/* Start the workers; -1 if a listener could not be opened. */
static int
start_workers(void)
{
	sigset_t set, old;
	long n = m.rt->cf->workers;

	if (n <= 0 && (n = sysconf(_SC_NPROCESSORS_ONLN)) < 1)
		n = 1;
	for (size_t i = 0; i < m.rt->cf->nlisten; i++)
		if (lgd_listen_probe(&m.rt->listen_sa[i], m.rt->listen_salen[i]) != 0) {
			lgd_err("cannot listen", "address=%s error=\"%s\"%s",
			        m.rt->cf->listen[i].address, strerror(errno),
			        errno == EADDRINUSE
			            ? " hint=\"another process (another lessongated?) "
			              "listens there\""
			            : "");
			return -1;
		}
	m.nworkers = (int)n;
	lgd_size_connections(m.rt->cf, m.nworkers, m.nofile);
	m.workers = lg_xcalloc((size_t)n, sizeof(*m.workers));
	m.last_beats = lg_xcalloc((size_t)n, sizeof(unsigned));
	for (int i = 0; i < m.nworkers; i++)
		if (lgd_worker_init(&m.workers[i], i, m.rt) != 0)
			return -1;
	lgd_workers = m.workers;
	lgd_nworkers = m.nworkers;
	/* Signals go to the main thread only: workers start with them blocked. */
	sigemptyset(&set);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	for (int i = 0; i < m.nworkers; i++)
		if (lgd_worker_start(&m.workers[i]) != 0)
			return -1;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return 0;
}

/* The student store of state.store, loaded before any listener opens; -1 if it cannot be. */
static int
open_store(void)
{
	const struct lg_state_conf *st = &m.rt->cf->state;
	char err[1024], esc[1200];

	if (strcmp(st->store, "redis") == 0) {
		if ((lgd_store = lgd_store_redis_new(m.rt->cf, err, sizeof(err))) != NULL)
			return 0;
		lgd_err("student store", "store=redis error=\"%s\"",
		        lgd_esc(err, esc, sizeof(esc)));
		return -1;
	}
	if (strcmp(st->store, "local") != 0) {
		lgd_store = lg_store_memory_new(STUDENTS_EXPECTED, STUDENTS_SHARDS);
		return 0;
	}
	lgd_store = lgd_store_local_open(m.rt->cf, time(NULL), STUDENTS_EXPECTED, STUDENTS_SHARDS,
	                                 err, sizeof(err));
	if (lgd_store != NULL)
		return 0;
	lgd_err("cannot open the student state", "file=%s key=state.dir error=\"%s\"", m.conf,
	        lgd_esc(err, esc, sizeof(esc)));
	return -1;
}

/* Parse arguments, then check or run. */
int
main(int argc, char **argv)
{
	struct lg_errors errs;
	bool test = false, debug = false;
	uint64_t wd;
	int ch, rc = 0;

	lgd_io_mem_init(); /* before any other libevent call */

	while ((ch = getopt(argc, argv, "c:dtVh")) != -1) {
		switch (ch) {
		case 'c':
			m.conf = optarg;
			break;
		case 'd':
			debug = true;
			break;
		case 't':
			test = true;
			break;
		case 'V':
			printf("lessongated %s (%s, libevent %s)\n", LG_VERSION,
			       OpenSSL_version(OPENSSL_VERSION), event_get_version());
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (m.conf == NULL || optind != argc) {
		usage(stderr);
		return 1;
	}
	lgd_log_init(debug ? LGD_DEBUG : LGD_INFO, getenv("JOURNAL_STREAM") == NULL);
	if (test)
		return check_config(m.conf);
	lg_errors_init(&errs);
	m.rt = lgd_runtime_load(m.conf, &errs);
	if (m.rt == NULL) {
		print_errors(&errs, "");
		lgd_err("configuration is not valid", "file=%s errors=%zu", m.conf, errs.count);
		lg_errors_free(&errs);
		return 1;
	}
	lg_errors_free(&errs);
	for (size_t i = 0; i < m.rt->cf->warnings.count; i++) {
		char esc[1024];
		lgd_warn("configuration warning", "warning=\"%s\"",
		         lgd_esc(m.rt->cf->warnings.msg[i], esc, sizeof(esc)));
	}
	signal(SIGPIPE, SIG_IGN);
	lgd_log_start(); /* from here on, no thread waits for stderr */
	m.nofile = lgd_raise_nofile();
	evthread_use_pthreads();
	m.base = event_base_new();
	if (open_store() != 0) {
		rc = 1;
		goto out;
	}
	state_signature(m.rt->cf, m.state_sig, sizeof(m.state_sig));
	m.audit_healthy = true;
	if (m.rt->cf->audit.enabled) {
		char err[512];

		if (lgd_auditd_start(m.rt->cf, LG_VERSION, err, sizeof(err)) != 0) {
			lgd_err("cannot open the audit log", "dir=%s error=\"%s\"",
			        m.rt->cf->audit.dir, err);
			rc = 1;
			goto out;
		}
		m.audit_dir = lg_strdup(m.rt->cf->audit.dir);
		if (m.rt->cf->audit.listen_enabled &&
		    lgd_auditapi_start(m.rt->cf, err, sizeof(err)) != 0) {
			lgd_err("cannot start the audit API", "error=\"%s\"", err);
			rc = 1;
			goto out;
		}
	}
	lgd_limits_init();
	if (start_workers() != 0) {
		lgd_err("start-up failed", "file=%s", m.conf);
		for (int i = 0; i < m.nworkers; i++)
			if (m.workers[i].thread)
				lgd_worker_post_stop(&m.workers[i]);
		rc = 1;
		goto out;
	}
	lgd_admin_init(m.base, do_reload, m.nworkers, (int64_t)time(NULL));
	{
		char err[512];

		if (lgd_admin_prepare(m.rt, err, sizeof(err)) != 0) {
			lgd_err("cannot start the admin API", "error=\"%s\"", err);
			for (int i = 0; i < m.nworkers; i++)
				lgd_worker_post_stop(&m.workers[i]);
			rc = 1;
			goto out;
		}
		lgd_admin_commit(m.rt);
	}
	m.sigs[0] = evsignal_new(m.base, SIGHUP, reload_cb, NULL);
	m.sigs[1] = evsignal_new(m.base, SIGTERM, stop_cb, NULL);
	m.sigs[2] = evsignal_new(m.base, SIGINT, stop_cb, NULL);
	for (int i = 0; i < 3; i++)
		event_add(m.sigs[i], NULL);
	{
		struct timeval sweep = {1, 0};
		struct timeval counts = {LGD_COUNT_INTERVAL_S, 0};
		m.sweep_timer = event_new(m.base, -1, EV_PERSIST, sweep_cb, NULL);
		event_add(m.sweep_timer, &sweep);
		m.counts_timer = event_new(m.base, -1, EV_PERSIST, counts_cb, NULL);
		event_add(m.counts_timer, &counts);
	}
	if ((wd = lgd_notify_watchdog_usec()) > 0) {
		struct timeval tv = {(time_t)(wd / 2 / 1000000), (suseconds_t)(wd / 2 % 1000000)};
		m.wd_timer = event_new(m.base, -1, EV_PERSIST, watchdog_cb, NULL);
		event_add(m.wd_timer, &tv);
	}
	{
		struct timeval hourly = {3600, 0};
		m.calendar_timer = event_new(m.base, -1, EV_PERSIST, calendar_cb, NULL);
		event_add(m.calendar_timer, &hourly);
	}
	lgd_info("started", "version=%s config=%s workers=%d pid=%d nofile=%lld max_connections=%d",
	         LG_VERSION, m.conf, m.nworkers, (int)getpid(), m.nofile,
	         atomic_load(&lgd_max_conns));
	if (strcmp(lgd_store->kind, "memory") == 0)
		lgd_warn(
		    "lesson clocks are kept in memory only",
		    "store=memory effect=\"a restart gives every student a fresh lesson clock\"");
	else if (strcmp(lgd_store->kind, "redis") == 0)
		lgd_info("student store", "store=%s address=%s%s timeout_ms=%d on_failure=%s",
		         lgd_store->kind, m.rt->cf->state.redis_address ? "" : "sentinel:",
		         m.rt->cf->state.redis_address ? m.rt->cf->state.redis_address
		                                       : m.rt->cf->state.redis_sentinel_master,
		         lgd_store->timeout_ms, m.rt->cf->state.redis_on_failure);
	check_calendars(true);
	notify_status("READY=1");
	event_base_dispatch(m.base);
	lgd_info("stopped", "open=%d", atomic_load(&lgd_total_conns));
out:
	for (int i = 0; i < m.nworkers; i++) {
		lgd_worker_join(&m.workers[i]);
	}
	for (int i = 0; i < 3; i++)
		if (m.sigs[i])
			event_free(m.sigs[i]);
	if (m.drain_timer)
		event_free(m.drain_timer);
	if (m.poll_timer)
		event_free(m.poll_timer);
	if (m.wd_timer)
		event_free(m.wd_timer);
	if (m.sweep_timer)
		event_free(m.sweep_timer);
	if (m.calendar_timer)
		event_free(m.calendar_timer);
	if (m.counts_timer)
		event_free(m.counts_timer);
	lgd_admin_stop();
	event_base_free(m.base);
	free(m.workers);
	free(m.last_beats);
	lgd_auditapi_stop();
	lgd_auditd_stop(rc == 0 ? "shutdown" : "start-up failed");
	lgd_counters_free();
	free(m.audit_dir);
	lgd_runtime_unref(m.rt);
	lg_store_free(lgd_store);
	lgd_limits_free();
	lgd_log_flush_counts(LGD_COUNT_INTERVAL_S);
	lgd_log_stop(LOG_FLUSH_MS);
	return rc;
}
