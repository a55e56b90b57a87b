/* The audit writer's open lessons: every lesson_start it wrote and no lesson_end yet. */
#ifndef LGD_AUDITOPEN_H
#define LGD_AUDITOPEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One open lesson, by the raw student id (kept in memory only, never written). */
struct lgd_open_lesson {
	struct lgd_open_lesson *next;
	int64_t start; /* when it began (the lesson_start's time) */
	int64_t last;  /* its last moment of activity seen so far */
	int cls;
	uint32_t region;
	char *route;
	bool ended; /* its lesson_end is written (by the sweep): the gate's is dropped */
	int gone;   /* sweeps since the store stopped holding this lesson */
	size_t len;
	char id[];
};

struct lgd_open;

struct lgd_open *lgd_open_new(void);
void lgd_open_free(struct lgd_open *);
/* A lesson began (replacing an older open lesson of the same student). */
void lgd_open_put(struct lgd_open *, const char *id, size_t len, int64_t start, int cls,
                  uint32_t region, const char *route);
/*
 * The gate says the lesson of id that began at start ended: 1 if it was open
 * (now removed: write the lesson_end), 0 if the sweep ended it already (removed:
 * drop it), -1 if unknown (begun before this process: write it).
 */
int lgd_open_take(struct lgd_open *, const char *id, size_t len, int64_t start);
/* Call fn for every open lesson; those it returns true for are removed (after the call). */
void lgd_open_sweep(struct lgd_open *, bool (*fn)(void *arg, struct lgd_open_lesson *), void *arg);
/* How many lessons are open. */
size_t lgd_open_count(const struct lgd_open *);

#endif
