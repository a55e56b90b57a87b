/*
 * The daemon's counters (lib/admin/metrics.h): one struct lg_metrics per
 * worker thread, reached through a thread-local pointer, so counting is a
 * plain add on memory no other thread writes; summed when scraped.
 */
#ifndef LGD_COUNTERS_H
#define LGD_COUNTERS_H

#include "admindoc.h"
#include "gate.h"
#include "metrics.h"

struct lgd_runtime;

/* The calling thread's counters (a shared spare for threads that are not workers). */
extern _Thread_local struct lg_metrics *lgd_metrics;

/* A worker thread starts: give it counters of its own. */
void lgd_counters_attach(int worker);
/* The counters of every thread that has any (up to max); how many. */
size_t lgd_counters_all(struct lg_metrics **out, size_t max);
/* Every lesson event (audit.c's sink): lessons started, refusals, forced closes, violations. */
void lgd_counters_event(const struct lgd_runtime *rt, const struct lg_event *ev);
/* A copy of the recent violations. */
void lgd_counters_recent(struct lg_recent *out);
/* Free every worker's counters (at exit, after the workers are joined). */
void lgd_counters_free(void);

#endif
