/* Where lesson events go: one function, structured log lines for now. */
#ifndef LGD_AUDIT_H
#define LGD_AUDIT_H

#include "gate.h"

/*
 * The event sink of a runtime (arg: its struct lgd_runtime). Today one
 * "lesson event" log line per event; the regulators' tamper-evident audit
 * log replaces the body of this function, not its callers.
 */
void lgd_audit_emit(void *rt, const struct lg_event *ev);

#endif
