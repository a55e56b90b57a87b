/* Where lesson events go: one function, structured log lines for now. */
#ifndef LGD_AUDIT_H
#define LGD_AUDIT_H

#include "auditrec.h"
#include "gate.h"

/*
 * The event sink of a runtime (arg: its struct lgd_runtime): a record of the
 * regulators' audit log (auditd.c) when one is configured, else one "lesson
 * event" log line per event.
 */
void lgd_audit_emit(void *rt, const struct lg_event *ev);

/* The audit record of an event (client: room for an unidentified client's prefix). */
void lgd_audit_record(const struct lg_config *cf, const struct lg_event *ev, struct lg_audit_rec *r,
                      char client[LG_CLIENT_PREFIX_MAX]);

#endif
