/* The regulator API (/audit/v1/) as lessongatectl reads it: records pulled in pages, and verify. */
#ifndef LGCTL_REMOTE_H
#define LGCTL_REMOTE_H

#include <stddef.h>
#include <stdint.h>

#include "ctl_audit.h"

/* Called for each record pulled, in order (no newline); non-zero stops. */
typedef int (*lgctl_remote_fn)(void *arg, uint64_t index, const char *rec, size_t n);

/*
 * Every record of the log at a->url (client certificate a->cert and
 * a->cert_key, CA a->cacert) up to its current checkpoint's size, in pages
 * of /audit/v1/entries. 0, or -1 with the reason in err.
 */
int lgctl_remote_each(const struct lgctl_args *a, lgctl_remote_fn fn, void *arg, char *err,
                      size_t errlen);

/*
 * audit verify --url: pull the checkpoint (or read a->checkpoint) and every
 * record it covers, check the signature with k and that the records give its
 * root (else name the first bad record, found with consistency proofs), and
 * given a->old, that the log's consistency proof leads from that earlier
 * checkpoint to this one. The exit status (0 verified, 1 not, 2 usage).
 */
int lgctl_audit_verify_url(const struct lgctl_args *a, const struct lg_note_key *k);

#endif
