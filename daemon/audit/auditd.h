/* The regulators' audit log writer: one thread for the whole process, fed through a queue. */
#ifndef LGD_AUDITD_H
#define LGD_AUDITD_H

#include <stdbool.h>

#include "auditrec.h"
#include "config.h"
#include "merkle.h"
#include "render.h"

/* Seconds between checkpoints (when the tree grew). */
#define LGD_AUDIT_CHECKPOINT_S 5
/* The flood-counting window (seconds) and the most windows open at once. */
#define LGD_AUDIT_FLOOD_S   10
#define LGD_AUDIT_FLOOD_MAX 65536
/* Records queued at most; past this, records are refused (and lesson routes fail closed). */
#define LGD_AUDIT_QUEUE_MAX 1000000
/* Why a lesson request is refused with 503 while the audit log cannot be written. */
#define LGD_AUDIT_DOWN "audit log unavailable"
/* Seconds between two "audit log unavailable" lines, and between attempts to reopen it. */
#define LGD_AUDIT_RETRY_S 1

/*
 * Open cf->audit.dir (cutting a torn tail, rebuilding the tree) and start the
 * writer thread; writes the start record. 0, or -1 with the reason in err.
 */
int lgd_auditd_start(const struct lg_config *cf, const char *version, char *err, size_t errlen);
/* Whether the writer runs (an audit section was configured at start). */
bool lgd_auditd_on(void);
/* Whether records can be written now (false: lesson routes fail closed). */
bool lgd_auditd_healthy(void);
/*
 * Hand the writer a copy of one record (any thread, never blocks on I/O);
 * done(arg, ok), if given, is called from the writer thread once the record
 * is durable (ok) or was lost (the log could not be written).
 */
void lgd_auditd_submit(const struct lg_audit_rec *, void (*done)(void *arg, bool ok), void *arg);
/* A configuration is in force: the config_loaded record (hashes of it and its calendars). */
void lgd_auditd_config_loaded(const struct lg_config *cf);
/* Write the stop record and every counted flood, sync, stop the thread, close the log. */
void lgd_auditd_stop(const char *reason);

/* Readers (the regulator API, any thread): what is durable, under the writer's lock. */
uint64_t lgd_auditd_size(void);
/* Whether the log can be read now (false while it could not be reopened after a failure). */
bool lgd_auditd_readable(void);
/* The records known durable (updated after every successful sync), read without any lock: for
 * scrapes, which must not wait behind a group commit or a hung disk. */
uint64_t lgd_auditd_durable(void);
/* Records waiting for the writer (0 if off). */
uint64_t lgd_auditd_queued(void);
/* Records that could not be written since start. */
uint64_t lgd_auditd_lost(void);
/* Records [start, end) appended to out, each with a newline; 0, or -1 with the reason. */
int lgd_auditd_read(uint64_t start, uint64_t end, struct lg_buf *out, char *err, size_t errlen);
/* The records of list[0..n) (ascending indexes), the same way. */
int lgd_auditd_read_list(const uint64_t *list, size_t n, struct lg_buf *out, char *err,
                         size_t errlen);
/*
 * Append to *list (NULL and *n 0 at first; free it) the indexes of the deny
 * and forced_close records whose time t has from <= t < to (compared as the
 * records write them), from the violations index: no record is read. 0, or
 * -1 while the log is not readable (it could not be reopened).
 */
int lgd_auditd_violations(const char *from, const char *to, uint64_t **list, size_t *n);
/*
 * The inclusion proof of leaf a in size b (and the leaf hash), or the
 * consistency proof a..b: 0, -1 if the arguments are out of range, -2 while
 * the log is not readable.
 */
int lgd_auditd_proof(uint64_t a, uint64_t b, bool consistency, uint8_t proof[][LG_MERKLE_HASH],
                     size_t *n, uint8_t leaf[LG_MERKLE_HASH]);
/* The audit log's directory (NULL if off); its latest signed checkpoint is DIR/checkpoint. */
const char *lgd_auditd_dir(void);

#endif
