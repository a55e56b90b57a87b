/*
 * The Redis store's pure part: the Lua scripts that keep a student's lesson
 * clock in Redis, the key of a student, and reading a script's answer. The
 * I/O (hiredis on each worker's event loop) is daemon/store/store_redis.c.
 *
 * The split of the rules: the calendar and the day window need no state and
 * are decided in C before Redis is asked (lg_policy_decide_day); only the
 * lesson clock (lesson_max, break_min, leases) runs in Redis, atomically per
 * student, in LG_REDIS_DECIDE_LUA, which mirrors lg_policy_clock line by line
 * (tests/unit/test_store_redis.c runs randomized timelines through both on a
 * real redis-server and demands identical outcomes). The deadline and the
 * time to come back are computed in C from the script's answer
 * (lg_policy_decide_finish).
 *
 * One hash per student, "<prefix>{<student>}" (the hash tag keeps every
 * operation on one Redis Cluster slot): s = lesson start, o = last activity
 * offset, l:<lease id> = that lease's expiry (unix seconds). Expired leases
 * are pruned on every decide; the key expires (PEXPIRE) when neither a lease
 * nor a running break needs it. A decision that changes nothing (a refusal,
 * or a request in the second of the last activity) writes nothing.
 */
#ifndef LG_STORE_REDIS_H
#define LG_STORE_REDIS_H

#include <stddef.h>
#include <stdint.h>

#include "policy.h"

/*
 * How much longer than needed a key may live (seconds): the decide script
 * sets a key's expiry (PEXPIRE) only when its clock outgrows the one set
 * last (the hash field 'x', the expiry's second, which every script that
 * sets an expiry keeps equal to it), then this far ahead, so an active
 * student's key costs one PEXPIRE a minute instead of one a second.
 */
#define LG_REDIS_EXPIRY_SLACK 60

/*
 * KEYS[1] the student; ARGV now, lesson_max, break_min, keep (the longest
 * break_min), slack (LG_REDIS_EXPIRY_SLACK). Answers {allow, start, last,
 * new, ended_start, ended_last, last_off, lease_until} (lease_until: the
 * latest live lease's expiry, 0 if none).
 */
extern const char lg_redis_decide_lua[];
/*
 * KEYS[1] the student; ARGV op ("open", "renew", "close"), now, lease id,
 * expiry, lesson_max of the tunnel's class (-1: not a lesson), keep.
 * open/renew set the lease's expiry; close counts activity until now (while
 * a lease is held, as lg_policy_tunnel_close) and removes the lease.
 */
extern const char lg_redis_lease_lua[];

/*
 * KEYS[1] the student; ARGV now, start, last (this instance's view of the
 * student's lesson: its start and last moment of activity), brk (the longest
 * break_min), lmax (the longest lesson_max), keep. Merges that view into the
 * shared clock as lg_clock_merge does (the shared last moment counts held
 * leases as activity until now, capped at start + lmax) and answers
 * {start, last_off, lease_until} of the merged state; a view with start 0
 * changes nothing.
 */
extern const char lg_redis_merge_lua[];

/* One student's lesson: its start and its last moment of activity (start 0: none). */
struct lg_clock_span {
	int64_t start, last;
};

/*
 * Two views of one student's clock (the shared store's and this instance's,
 * which decided alone while the shared store could not be reached) to one
 * that gives back no time either view used: two lessons less than brk apart
 * (the later start minus the earlier's last moment) were one lesson, from the
 * earlier start to the later last moment; a lesson begun after a full break
 * supersedes the earlier one. Commutative and idempotent, so pushing a view
 * twice is harmless.
 */
struct lg_clock_span lg_clock_merge(struct lg_clock_span a, struct lg_clock_span b, int32_t brk);

/* The merge script's 3 integers to the merged state; -1 if malformed. */
int lg_redis_merge_answer(const long long *v, size_t n, struct lg_student_state *st);

/* The student's key, prefix + "{" + student + "}", into out (cap bytes); its length or 0 if too
 * long. */
size_t lg_redis_key(const char *prefix, const char *student, size_t len, char *out, size_t cap);

/* A command in the Redis protocol (RESP: an array of bulk strings) into out (cap bytes); its
 * length, or 0 if it does not fit. */
size_t lg_redis_format(char *out, size_t cap, int argc, const char *const *argv,
                       const size_t *argvlen);

/* The decide script's 8 integers to a clock outcome and a copy of the state; -1 if malformed. */
int lg_redis_decide_answer(const long long *v, size_t n, struct lg_clock_outcome *o,
                           struct lg_student_state *st);

#endif
