/*
 * Lessons open across a restart (state.store = "local"): a journal of lesson
 * starts beside the audit log, and the writer's open-lesson table rebuilt from
 * it and the log at start. Writer thread only.
 */
#ifndef LGD_AUDITRESUME_H
#define LGD_AUDITRESUME_H

#include <stddef.h>
#include <stdint.h>

#include "auditopen.h"
#include "students.h"
#include "tz.h"

/* The journal's file name in the audit directory. */
#define LGD_RESUME_FILE "open-lessons"

struct lgd_resume;

/*
 * Open (creating) DIR/open-lessons for the local store's table (which keys
 * students by a keyed hash that survives restarts). NULL with the reason.
 */
struct lgd_resume *lgd_resume_open(const char *dir, struct lg_students *table, char *err,
                                   size_t errlen);
void lgd_resume_close(struct lgd_resume *);

/*
 * A lesson began (e: its new entry, by raw id): note the student's store key
 * and pseudonym in e, and queue a journal line for the next sync.
 */
void lgd_resume_note(struct lgd_resume *, struct lgd_open_lesson *e,
                     const uint8_t pseudonym_key[LG_PSEUDONYM_KEY]);
/* The student's key in the store's table. */
void lgd_resume_key(const struct lgd_resume *, const char *id, size_t len,
                    struct lg_student_key *out);
/* The store's table. */
struct lg_students *lgd_resume_table(const struct lgd_resume *);
/* Make the queued lines durable: before the log's sync of their lesson_start. 0 or -1. */
int lgd_resume_sync(struct lgd_resume *, char *err, size_t errlen);

/*
 * At start, before any record: every journalled lesson whose lesson_start is
 * in the log in dir (as time tz) without a lesson_end is put back in t, keyed,
 * for the sweep to end; one already ended that the store still holds is put
 * back as ended (so the gate's own end of it is dropped). The journal is
 * rewritten with those. Returns how many lessons were reopened.
 */
size_t lgd_resume_rebuild(struct lgd_resume *, const char *dir, const struct lg_tz *tz,
                          struct lgd_open *t);
/* Rewrite the journal from t's entries once it holds many more lines than t lessons. */
void lgd_resume_compact(struct lgd_resume *, struct lgd_open *t);

#endif
