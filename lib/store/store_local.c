/*
 * The local store's pure part (see store_local.h): the memory table with a
 * per-shard journal of changes for the writer, and the on-disk encoding.
 */
#include "store_local.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* One shard's journal; guarded by the shard's lock. */
struct journal {
	struct lg_local_change *v; /* LG_LOCAL_JOURNAL entries */
	unsigned n;
	bool overflow; /* changes were missed: the writer copies the whole shard */
};

struct local_store {
	struct lg_store base;
	struct lg_students *table;
	unsigned nshards;
	struct journal *journals;
	struct journal spare; /* the writer's buffer, swapped with a shard's */
	uint64_t next_lease;
	void (*on_free)(void *);
	void *on_free_arg;
	/* The writer's copy of an overflowed shard. */
	struct lg_local_change *copy;
	size_t ncopy, capcopy;
};

/* The local store behind a generic one. */
static struct local_store *
loc(struct lg_store *s)
{
	return (struct local_store *)s;
}

/* Little-endian stores and loads. */
static void
put_le(uint8_t *p, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Read `bytes` little-endian bytes. */
static uint64_t
get_le(const uint8_t *p, int bytes)
{
	uint64_t v = 0;

	for (int i = 0; i < bytes; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* magic(8) version(4) record_size(4) hash_key(16) alive_at(8). */
void
lg_local_header_encode(const struct lg_local_header *h, uint8_t out[LG_LOCAL_HEADER_SIZE])
{
	memcpy(out, LG_LOCAL_MAGIC, 8);
	put_le(out + 8, h->version, 4);
	put_le(out + 12, h->record_size, 4);
	memcpy(out + 16, h->hash_key, 16);
	put_le(out + 32, (uint64_t)h->alive_at, 8);
}

/* Check and decode a header. */
int
lg_local_header_decode(const void *buf, size_t len, struct lg_local_header *h, char *why,
                       size_t whylen)
{
	const uint8_t *p = buf;

	if (len < 16 || memcmp(p, LG_LOCAL_MAGIC, 8) != 0) {
		snprintf(why, whylen, "its header is not a lessongate state header (wrong magic)");
		return -1;
	}
	h->version = (uint32_t)get_le(p + 8, 4);
	h->record_size = (uint32_t)get_le(p + 12, 4);
	if (h->version != LG_LOCAL_VERSION) {
		snprintf(why, whylen,
		         "it is in state format version %u; this lessongated reads version %u",
		         h->version, LG_LOCAL_VERSION);
		return -1;
	}
	if (h->record_size != LG_LOCAL_RECORD_SIZE || len != LG_LOCAL_HEADER_SIZE) {
		snprintf(why, whylen,
		         "its header says records of %u bytes in a %zu-byte header; version %u "
		         "has %u and %u",
		         h->record_size, len, LG_LOCAL_VERSION, LG_LOCAL_RECORD_SIZE,
		         LG_LOCAL_HEADER_SIZE);
		return -1;
	}
	memcpy(h->hash_key, p + 16, 16);
	h->alive_at = (int64_t)get_le(p + 32, 8);
	return 0;
}

/* Two halves of the hash. */
void
lg_local_key_encode(const struct lg_student_key *k, uint8_t out[LG_LOCAL_KEY_SIZE])
{
	put_le(out, k->h[0], 8);
	put_le(out + 8, k->h[1], 8);
}

/* Decode a key; the free-slot key (0,0) is never written. */
int
lg_local_key_decode(const void *buf, size_t len, struct lg_student_key *k)
{
	if (len != LG_LOCAL_KEY_SIZE)
		return -1;
	k->h[0] = get_le(buf, 8);
	k->h[1] = get_le((const uint8_t *)buf + 8, 8);
	return (k->h[0] | k->h[1]) == 0 ? -1 : 0;
}

/* The 16 bytes of a state, field by field. */
void
lg_local_record_encode(const struct lg_student_state *st, uint8_t out[LG_LOCAL_RECORD_SIZE])
{
	put_le(out, (uint64_t)st->start, 8);
	put_le(out + 8, st->last_off, 4);
	put_le(out + 12, st->tunnels, 2);
	put_le(out + 14, st->lease_until, 2);
}

/* Decode a record; a negative start cannot have been written. */
int
lg_local_record_decode(const void *buf, size_t len, struct lg_student_state *st)
{
	const uint8_t *p = buf;

	if (len != LG_LOCAL_RECORD_SIZE)
		return -1;
	st->start = (int64_t)get_le(p, 8);
	st->last_off = (uint32_t)get_le(p + 8, 4);
	st->tunnels = (uint16_t)get_le(p + 12, 2);
	st->lease_until = (uint16_t)get_le(p + 14, 2);
	return st->start < 0 ? -1 : 0;
}

/* End the leases of a gone process, counting activity while they were surely held. */
void
lg_local_settle(struct lg_student_state *st, int64_t alive_at, int32_t lesson_max)
{
	int64_t lease, until;

	if (st->tunnels == 0) {
		st->lease_until = 0;
		return;
	}
	/* lease_until is the low 16 bits of a moment near alive_at (within 9 hours). */
	lease = alive_at + (int16_t)(uint16_t)(st->lease_until - (uint16_t)alive_at);
	until = lease < alive_at ? lease : alive_at;
	if (st->start != 0) {
		if (until > st->start + lesson_max)
			until = st->start + lesson_max;
		if (until - st->start > (int64_t)st->last_off)
			st->last_off = (uint32_t)(until - st->start);
	}
	st->tunnels = 0;
	st->lease_until = 0;
}

/* Whether two student keys are the same. */
static bool
same_key(const struct lg_student_key *a, const struct lg_student_key *b)
{
	return a->h[0] == b->h[0] && a->h[1] == b->h[1];
}

/*
 * Record a change in shard i's journal (its lock held). A change to the
 * student of the journal's last entry replaces it: a lesson request's decide,
 * lease open and close are usually one entry.
 */
static void
journal_add(struct local_store *l, unsigned i, const struct lg_student_key *k,
            const struct lg_student_state *st, bool gone)
{
	struct journal *j = &l->journals[i];
	struct lg_local_change *c;

	if (j->overflow)
		return;
	if (j->n > 0 && same_key(&j->v[j->n - 1].key, k)) {
		c = &j->v[j->n - 1];
		if (st != NULL)
			c->st = *st;
		else
			memset(&c->st, 0, sizeof(c->st));
		c->gone = gone;
		return;
	}
	if (j->n == LG_LOCAL_JOURNAL) {
		__atomic_store_n(&j->overflow, true, __ATOMIC_RELAXED);
		return;
	}
	c = &j->v[j->n];
	c->key = *k;
	if (st != NULL)
		c->st = *st;
	else
		memset(&c->st, 0, sizeof(c->st));
	c->gone = gone;
	/* Read racily by lg_store_local_pressure. */
	__atomic_store_n(&j->n, j->n + 1, __ATOMIC_RELAXED);
}

/* The sweep removed a student: delete it on disk too. */
static void
removed(void *arg, unsigned shard, const struct lg_student_key *k)
{
	journal_add(arg, shard, k, NULL, true);
}

/* A student whose state a worker is about to change, held under its shard lock. */
struct held {
	struct lg_students_ref ref;
	struct lg_student_key key;
	struct lg_student_state before, *st;
};

/* Find or create the student and lock its shard. */
static void
hold(struct local_store *l, const char *student, size_t len, struct held *h)
{
	lg_students_key(l->table, student, len, &h->key);
	h->st = lg_students_acquire_key(l->table, &h->key, &h->ref);
	h->before = *h->st;
}

/* Journal the state if it changed, and unlock. */
static void
unhold(struct local_store *l, struct held *h)
{
	if (memcmp(&h->before, h->st, sizeof(h->before)) != 0)
		journal_add(l, lg_students_shard_index(l->table, &h->key), &h->key, h->st, false);
	lg_students_release(&h->ref);
}

/* Decide in memory, journal the change, call back at once. */
static void
local_decide(struct lg_store *s, const struct lg_store_query *q, lg_store_done done, void *arg,
             uint64_t tag)
{
	struct lg_store_result r;
	struct held h;

	r.status = LG_STORE_OK;
	r.clock_only = false; /* a whole decision, as the memory store gives */
	hold(loc(s), q->student, q->student_len, &h);
	lg_policy_decide(q->policy, h.st, q->cls, q->region, q->now, &r.d);
	unhold(loc(s), &h);
	done(arg, tag, &r);
}

/* Count the tunnel; its lease expiry is journalled with the state. */
static int
local_lease_open(struct lg_store *s, const char *student, size_t len, int64_t now,
                 struct lg_lease *le)
{
	struct held h;

	hold(loc(s), student, len, &h);
	le->id = __atomic_add_fetch(&loc(s)->next_lease, 1, __ATOMIC_RELAXED);
	le->expires = now + LG_LEASE_TTL;
	lg_policy_tunnel_open(h.st, now, le->expires);
	unhold(loc(s), &h);
	return 0;
}

/* Push the student's lease expiry on. */
static void
local_lease_renew(struct lg_store *s, const char *student, size_t len, int64_t now,
                  struct lg_lease *le)
{
	struct held h;

	hold(loc(s), student, len, &h);
	le->expires = now + LG_LEASE_TTL;
	lg_policy_tunnel_renew(h.st, now, le->expires);
	unhold(loc(s), &h);
}

/* The tunnel closed: activity until now, one lease fewer. */
static void
local_lease_close(struct lg_store *s, const struct lg_policy *p, const char *student, size_t len,
                  enum lg_class cls, int64_t now, const struct lg_lease *le)
{
	struct held h;

	(void)le;
	hold(loc(s), student, len, &h);
	lg_policy_tunnel_close(p, h.st, cls, now);
	unhold(loc(s), &h);
}

/* A copy of the state, expired leases shown as none (as the memory store gives it). */
static int
local_snapshot(struct lg_store *s, const char *student, size_t len, int64_t now,
               struct lg_student_state *out)
{
	return lg_store_table_snapshot(loc(s)->table, student, len, now, out);
}

/* A sixteenth of the shards per call; removals reach the journal through the hook. */
static size_t
local_expire(struct lg_store *s, const struct lg_policy *p, int64_t now)
{
	unsigned n = loc(s)->nshards / 16;

	return lg_students_expire(loc(s)->table, p, now, n ? n : 1);
}

/* The table is always there (disk trouble is the writer's to report). */
static bool
local_up(struct lg_store *s)
{
	(void)s;
	return true;
}

/* Let the writer finish, then free everything. */
static void
local_free(struct lg_store *s)
{
	struct local_store *l = loc(s);

	if (l->on_free != NULL)
		l->on_free(l->on_free_arg);
	lg_students_free(l->table);
	for (unsigned i = 0; i < l->nshards; i++)
		free(l->journals[i].v);
	free(l->journals);
	free(l->spare.v);
	free(l->copy);
	free(l);
}

static const struct lg_store_ops local_ops = {
    .decide = local_decide,
    .lease_open = local_lease_open,
    .lease_renew = local_lease_renew,
    .lease_close = local_lease_close,
    .snapshot = local_snapshot,
    .expire = local_expire,
    .up = local_up,
    .free = local_free,
};

/* A local store whose table hashes with the saved key. */
struct lg_store *
lg_store_local_new(size_t expected, unsigned shards, const uint8_t hash_key[16])
{
	struct local_store *l = lg_xcalloc(1, sizeof(*l));

	l->base.ops = &local_ops;
	l->base.kind = "local";
	l->base.timeout_ms = 0;
	l->base.synchronous = true;
	l->table = lg_students_new(expected, shards);
	lg_students_set_key(l->table, hash_key);
	l->nshards = lg_students_shards(l->table);
	l->journals = lg_xcalloc(l->nshards, sizeof(*l->journals));
	for (unsigned i = 0; i < l->nshards; i++)
		l->journals[i].v = lg_xcalloc(LG_LOCAL_JOURNAL, sizeof(struct lg_local_change));
	l->spare.v = lg_xcalloc(LG_LOCAL_JOURNAL, sizeof(struct lg_local_change));
	lg_students_on_remove(l->table, removed, l);
	return &l->base;
}

/* Insert a loaded student as it was saved. */
void
lg_store_local_put(struct lg_store *s, const struct lg_student_key *k,
                   const struct lg_student_state *st)
{
	struct lg_students_ref ref;

	*lg_students_acquire_key(loc(s)->table, k, &ref) = *st;
	lg_students_release(&ref);
}

/* The table of a local store. */
struct lg_students *
lg_store_local_table(struct lg_store *s)
{
	return loc(s)->table;
}

/* What swap() works on. */
struct swap_arg {
	struct local_store *l;
	unsigned shard;
	bool overflow;
};

/* Under the shard lock: take its journal, leave the empty spare in its place. */
static void
swap(void *arg)
{
	struct swap_arg *a = arg;
	struct journal *j = &a->l->journals[a->shard];
	struct journal t = *j;

	*j = a->l->spare;
	j->n = 0;
	j->overflow = false;
	a->l->spare = t;
	a->overflow = t.overflow;
}

/* Under the shard lock: copy one student of an overflowed shard. */
static void
copy_one(void *arg, const struct lg_student_key *k, const struct lg_student_state *st)
{
	struct local_store *l = arg;

	if (l->ncopy == l->capcopy) {
		l->capcopy = l->capcopy ? l->capcopy * 2 : 1024;
		l->copy = lg_xrealloc(l->copy, l->capcopy, sizeof(*l->copy));
	}
	l->copy[l->ncopy].key = *k;
	l->copy[l->ncopy].st = *st;
	l->copy[l->ncopy].gone = false;
	l->ncopy++;
}

/* Swap each shard's journal out and pass its changes on, or the whole shard after an overflow. */
size_t
lg_store_local_drain(struct lg_store *s, void (*fn)(void *, const struct lg_local_change *),
                     void *arg)
{
	struct local_store *l = loc(s);
	size_t total = 0;

	for (unsigned i = 0; i < l->nshards; i++) {
		struct swap_arg a = {l, i, false};

		if (__atomic_load_n(&l->journals[i].n, __ATOMIC_RELAXED) == 0 &&
		    !__atomic_load_n(&l->journals[i].overflow, __ATOMIC_RELAXED))
			continue; /* a change missed here is seen next time */
		lg_students_locked(l->table, i, swap, &a);
		for (unsigned k = 0; k < l->spare.n; k++)
			fn(arg, &l->spare.v[k]);
		total += l->spare.n;
		if (a.overflow) {
			l->ncopy = 0;
			lg_students_each(l->table, i, copy_one, l);
			for (size_t k = 0; k < l->ncopy; k++)
				fn(arg, &l->copy[k]);
			total += l->ncopy;
		}
	}
	return total;
}

/* Keep each student's last change: drop earlier ones (a hash set of keys, walked backwards). */
size_t
lg_local_changes_compact(struct lg_local_change *v, size_t n)
{
	size_t cap = 16, kept = 0;
	size_t *slot; /* index + 1 of a kept change, 0: empty */
	bool *drop;

	if (n < 2)
		return n;
	while (cap < 2 * n)
		cap <<= 1;
	slot = lg_xcalloc(cap, sizeof(*slot));
	drop = lg_xcalloc(n, sizeof(*drop));
	for (size_t i = n; i-- > 0;) {
		size_t h = (size_t)v[i].key.h[0] & (cap - 1); /* keys are SipHash outputs */
		while (slot[h] != 0 && !same_key(&v[slot[h] - 1].key, &v[i].key))
			h = (h + 1) & (cap - 1);
		if (slot[h] != 0)
			drop[i] = true; /* a later change of this student wins */
		else
			slot[h] = i + 1;
	}
	for (size_t i = 0; i < n; i++)
		if (!drop[i])
			v[kept++] = v[i];
	free(slot);
	free(drop);
	return kept;
}

/* The fullest journal, in percent. */
unsigned
lg_store_local_pressure(struct lg_store *s)
{
	struct local_store *l = loc(s);
	unsigned most = 0;

	for (unsigned i = 0; i < l->nshards; i++) {
		unsigned n = __atomic_load_n(&l->journals[i].n, __ATOMIC_RELAXED);
		if (__atomic_load_n(&l->journals[i].overflow, __ATOMIC_RELAXED))
			return 100;
		if (n > most)
			most = n;
	}
	return most * 100 / LG_LOCAL_JOURNAL;
}

/* Register the hook local_free calls first. */
void
lg_store_local_on_free(struct lg_store *s, void (*fn)(void *), void *arg)
{
	loc(s)->on_free = fn;
	loc(s)->on_free_arg = arg;
}
