/*
 * The memory store: the sharded student table (students.c) with the policy
 * applied under the student's shard lock. Every operation completes before it
 * returns; clocks do not survive a restart.
 */
#include "store.h"

#include <stdlib.h>
#include <string.h>

#include "students.h"

struct memory_store {
	struct lg_store base;
	struct lg_students *table;
	uint64_t next_lease; /* lease ids, for the holder's logs: unique per store */
};

/* The memory store behind a generic one. */
static struct memory_store *
mem(struct lg_store *s)
{
	return (struct memory_store *)s;
}

/* Decide under the shard lock, then call back at once (the lock is released first). */
static void
mem_decide(struct lg_store *s, const struct lg_store_query *q, lg_store_done done, void *arg,
           uint64_t tag)
{
	struct lg_store_result r;
	struct lg_students_ref ref;
	struct lg_student_state *st;

	r.status = LG_STORE_OK;
	r.clock_only = false;
	st = lg_students_acquire(mem(s)->table, q->student, q->student_len, &ref);
	lg_policy_decide(q->policy, st, q->cls, q->region, q->now, &r.d);
	lg_students_release(&ref);
	done(arg, tag, &r);
}

/* Count the tunnel and push the student's lease expiry on. */
static int
mem_lease_open(struct lg_store *s, const char *student, size_t len, int64_t now, struct lg_lease *l)
{
	struct lg_students_ref ref;
	struct lg_student_state *st = lg_students_acquire(mem(s)->table, student, len, &ref);

	l->id = __atomic_add_fetch(&mem(s)->next_lease, 1, __ATOMIC_RELAXED);
	l->expires = now + LG_LEASE_TTL;
	lg_policy_tunnel_open(st, now, l->expires);
	lg_students_release(&ref);
	return 0;
}

/* The student's latest lease expiry moves on. */
static void
mem_lease_renew(struct lg_store *s, const char *student, size_t len, int64_t now,
                struct lg_lease *l)
{
	struct lg_students_ref ref;
	struct lg_student_state *st = lg_students_acquire(mem(s)->table, student, len, &ref);

	l->expires = now + LG_LEASE_TTL;
	lg_policy_tunnel_renew(st, now, l->expires);
	lg_students_release(&ref);
}

/* The tunnel closed: activity until now, one lease fewer. */
static void
mem_lease_close(struct lg_store *s, const struct lg_policy *p, const char *student, size_t len,
                enum lg_class cls, int64_t now, const struct lg_lease *l)
{
	struct lg_students_ref ref;
	struct lg_student_state *st = lg_students_acquire(mem(s)->table, student, len, &ref);

	(void)l;
	lg_policy_tunnel_close(p, st, cls, now);
	lg_students_release(&ref);
}

/* A copy of a student's state in an in-process table, expired leases shown as none. */
int
lg_store_table_snapshot(struct lg_students *table, const char *student, size_t len, int64_t now,
                        struct lg_student_state *out)
{
	struct lg_student_key k;

	lg_students_key(table, student, len, &k);
	return lg_store_table_snapshot_key(table, &k, now, out);
}

/* The same for a student known by its key in the table. */
int
lg_store_table_snapshot_key(struct lg_students *table, const struct lg_student_key *k, int64_t now,
                            struct lg_student_state *out)
{
	struct lg_students_ref ref;
	struct lg_student_state *st = lg_students_find_key(table, k, &ref);

	memset(out, 0, sizeof(*out));
	if (st == NULL)
		return 0;
	*out = *st;
	lg_students_release(&ref);
	if (!lg_policy_tunnels_held(out, now))
		out->tunnels = 0;
	return 1;
}

/* A copy of the state, expired leases shown as none. */
static int
mem_snapshot(struct lg_store *s, const char *student, size_t len, int64_t now,
             struct lg_student_state *out)
{
	return lg_store_table_snapshot(mem(s)->table, student, len, now, out);
}

/* A sixteenth of the shards per call: the whole table every 16 calls. */
static size_t
mem_expire(struct lg_store *s, const struct lg_policy *p, int64_t now)
{
	unsigned n = lg_students_shards(mem(s)->table) / 16;

	return lg_students_expire(mem(s)->table, p, now, n ? n : 1);
}

/* Memory is always there. */
static bool
mem_up(struct lg_store *s)
{
	(void)s;
	return true;
}

/* Free the table and the store. */
static void
mem_free(struct lg_store *s)
{
	lg_students_free(mem(s)->table);
	free(s);
}

static const struct lg_store_ops memory_ops = {
    .decide = mem_decide,
    .lease_open = mem_lease_open,
    .lease_renew = mem_lease_renew,
    .lease_close = mem_lease_close,
    .snapshot = mem_snapshot,
    .expire = mem_expire,
    .up = mem_up,
    .free = mem_free,
};

/* A memory store for about `expected` students in `shards` shards (see lg_students_new). */
struct lg_store *
lg_store_memory_new(size_t expected, unsigned shards)
{
	struct memory_store *m = lg_xcalloc(1, sizeof(*m));

	m->base.ops = &memory_ops;
	m->base.kind = "memory";
	m->base.timeout_ms = 0; /* never waited for */
	m->base.synchronous = true;
	m->table = lg_students_new(expected, shards);
	return &m->base;
}

/* The table of a memory store. */
struct lg_students *
lg_store_memory_table(struct lg_store *s)
{
	return mem(s)->table;
}
