/* Per-worker counters behind a thread-local pointer; per-worker rings of recent violations
 * (each under a lock only its worker and a reader take), merged when read. */
#include "counters.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auditrec.h"
#include "conn.h"
#include "runtime.h"

/* Counters of threads that are not workers (the main thread, tests). */
static struct lg_metrics spare;
_Thread_local struct lg_metrics *lgd_metrics = &spare;

/* Worker threads' counters, index worker + 1 (0: the spare); written once per worker. */
#define SLOTS 258
static struct lg_metrics *slots[SLOTS] = {&spare};

/* A thread's last enforced refusals, folded (lg_recent_push); its lock is contended only by a
 * reader of /overview, never by the other workers. */
struct ring {
	pthread_mutex_t lock;
	struct lg_recent r;
};
static struct ring spare_ring = {.lock = PTHREAD_MUTEX_INITIALIZER};
static _Thread_local struct ring *my_ring = &spare_ring;
/* Worker threads' rings, index as slots; written once per worker. */
static struct ring *rings[SLOTS] = {&spare_ring};

/* A worker thread starts: give it counters of its own (kept until exit). */
void
lgd_counters_attach(int worker)
{
	struct lg_metrics *m;
	struct ring *g;

	if (worker < 0 || worker + 1 >= SLOTS)
		return;
	if ((g = rings[worker + 1]) == NULL) {
		g = lg_xcalloc(1, sizeof(*g));
		pthread_mutex_init(&g->lock, NULL);
		__atomic_store_n(&rings[worker + 1], g, __ATOMIC_RELEASE);
	}
	my_ring = g;
	if ((m = slots[worker + 1]) == NULL) {
		m = aligned_alloc(64, sizeof(*m));
		if (m == NULL)
			return;
		memset(m, 0, sizeof(*m));
		__atomic_store_n(&slots[worker + 1], m, __ATOMIC_RELEASE);
	}
	lgd_metrics = m;
}

/* The counters of every thread that has any (up to max); how many. */
size_t
lgd_counters_all(struct lg_metrics **out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < SLOTS && n < max; i++) {
		struct lg_metrics *m = __atomic_load_n(&slots[i], __ATOMIC_ACQUIRE);
		if (m)
			out[n++] = m;
	}
	return n;
}

/* Keep an enforced refusal for the overview: the route, the student as the audit log names them. */
static void
keep_violation(const struct lgd_runtime *rt, const struct lg_event *ev, enum lg_m_rule rule)
{
	const struct lg_config *cf = rt->cf;
	struct lg_violation v = {.time = ev->time, .rule = rule, .cls = ev->cls};
	const struct lg_route *route = NULL;

	if (ev->path) {
		const char *q = strchr(ev->path, '?');
		route =
		    lg_config_route(cf, ev->path, q ? (size_t)(q - ev->path) : strlen(ev->path));
	}
	if (route)
		snprintf(v.route, sizeof(v.route), "%s", route->path);
	if (ev->student && cf->audit.enabled)
		lg_audit_pseudonym(cf->audit.pseudonym, ev->student, strlen(ev->student), v.who);
	else if (ev->student)
		snprintf(v.who, sizeof(v.who), "%s", ev->student);
	pthread_mutex_lock(&my_ring->lock);
	lg_recent_push(&my_ring->r, &v);
	pthread_mutex_unlock(&my_ring->lock);
}

/* Every lesson event: lessons started, refusals, forced closes, violations. */
void
lgd_counters_event(const struct lgd_runtime *rt, const struct lg_event *ev)
{
	struct lg_metrics *m = lgd_metrics;
	unsigned cls = (unsigned)ev->cls < LG_CLASS_FREE ? (unsigned)ev->cls : 0;

	switch (ev->type) {
	case LG_EV_LESSON_START:
		lg_ctr_add(&m->c.lessons_started[cls], 1);
		break;
	case LG_EV_DENY:
		if (!ev->enforced)
			break;
		lg_metrics_refusal(m, lg_metrics_rule(ev->rule), ev->cls, ev->time);
		keep_violation(rt, ev, lg_metrics_rule(ev->rule));
		break;
	case LG_EV_UNIDENTIFIED:
		lg_metrics_refusal(m, LG_M_UNIDENTIFIED, ev->cls, ev->time);
		break;
	case LG_EV_FORCED_CLOSE:
		lg_metrics_forced_close(m, lg_metrics_rule(ev->rule),
		                        lg_metrics_how(ev->enforced, ev->reason),
		                        lgd_now_us() - ev->time * 1000000);
		break;
	default:
		break;
	}
}

/* The recent violations of every thread, merged (runs of one student folded across workers). */
void
lgd_counters_recent(struct lg_recent *out)
{
	struct lg_violation *all = NULL;
	size_t n = 0;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < SLOTS; i++) {
		struct ring *g = __atomic_load_n(&rings[i], __ATOMIC_ACQUIRE);
		if (g == NULL)
			continue;
		pthread_mutex_lock(&g->lock);
		all = lg_xrealloc(all, n + g->r.count + 1, sizeof(*all));
		memcpy(all + n, g->r.v, g->r.count * sizeof(*all));
		n += g->r.count;
		pthread_mutex_unlock(&g->lock);
	}
	lg_recent_merge(out, all, n);
	free(all);
}

/* Free every worker's counters (at exit, after the workers are joined). */
void
lgd_counters_free(void)
{
	for (size_t i = 1; i < SLOTS; i++) {
		free(slots[i]);
		slots[i] = NULL;
		if (rings[i])
			pthread_mutex_destroy(&rings[i]->lock);
		free(rings[i]);
		rings[i] = NULL;
	}
}
