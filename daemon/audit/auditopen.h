/* The audit writer's open lessons: every lesson_start it wrote and no lesson_end yet. */
#ifndef LGD_AUDITOPEN_H
#define LGD_AUDITOPEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auditrec.h"
#include "students.h"

/*
 * One open lesson, by the raw student id (kept in memory only, never
 * written), or, for a lesson reopened after a restart (auditresume.c), by
 * the student's key in the local store (keyed: id holds the key's 16 bytes).
 */
struct lgd_open_lesson {
	struct lgd_open_lesson *next;
	int64_t start; /* when it began (the lesson_start's time) */
	int64_t last;  /* its last moment of activity seen so far */
	int cls;
	uint32_t region;
	char *route;
	bool ended; /* its lesson_end is written (by the sweep): the gate's is dropped */
	int gone;   /* sweeps since the store stopped holding this lesson */
	bool keyed; /* known by its store key only (reopened after a restart) */
	bool noted; /* key and pseudonym are set (the local store is in use) */
	struct lg_student_key key;
	char pseudonym[LG_PSEUDONYM_HEX];
	size_t len;
	char id[];
};

struct lgd_open;

struct lgd_open *lgd_open_new(void);
void lgd_open_free(struct lgd_open *);
/* A lesson began (replacing an older open lesson of the same student); its entry. */
struct lgd_open_lesson *lgd_open_put(struct lgd_open *, const char *id, size_t len, int64_t start,
                                     int cls, uint32_t region, const char *route);
/* A lesson reopened after a restart, known by the student's store key and pseudonym; its entry. */
struct lgd_open_lesson *lgd_open_put_keyed(struct lgd_open *, const struct lg_student_key *,
                                           const char *pseudonym, int64_t start, int cls,
                                           uint32_t region, const char *route);
/*
 * The gate says the lesson of id that began at start ended: 1 if it was open
 * (now removed: write the lesson_end), 0 if the sweep ended it already (removed:
 * drop it), -1 if unknown (begun before this process: write it).
 */
int lgd_open_take(struct lgd_open *, const char *id, size_t len, int64_t start);
/* The same for a lesson reopened after a restart, by the student's store key. */
int lgd_open_take_keyed(struct lgd_open *, const struct lg_student_key *, int64_t start);
/* How many of the open lessons are keyed (reopened after a restart). */
size_t lgd_open_keyed(const struct lgd_open *);
/* Call fn for every open lesson; those it returns true for are removed (after the call). */
void lgd_open_sweep(struct lgd_open *, bool (*fn)(void *arg, struct lgd_open_lesson *), void *arg);
/* How many lessons are open. */
size_t lgd_open_count(const struct lgd_open *);

#endif
