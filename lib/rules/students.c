/* The student table: every student's lesson clock, shared by all worker threads. */
#include "students.h"

#include "hash.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>

/* One student: 128-bit id hash and 16 bytes of state; (0,0) marks a free slot. */
struct slot {
	uint64_t k0, k1;
	struct lg_student_state st;
};

/* An independently locked open-addressing table (linear probing, backward-shift delete). */
struct shard {
	pthread_mutex_t lock;
	struct slot *slots;
	size_t cap;
	size_t count;
} __attribute__((aligned(64)));

struct lg_students {
	uint8_t key[16];
	unsigned nshards;
	unsigned shift; /* 64 - log2(nshards) */
	unsigned expire_next;
	struct shard *shards;
	/* Told of every student the sweep removes (lg_students_on_remove), or NULL. */
	void (*on_remove)(void *, unsigned, const struct lg_student_key *);
	void *on_remove_arg;
};

_Static_assert(sizeof(struct slot) == 32, "a student slot is 32 bytes");

/* Grow when more than 85% full, to 150% of the count: 32 to 48 bytes a student. */
#define LOAD_NUM 85
#define LOAD_DEN 100

/* The home slot of a hash in a table of cap slots (multiply-shift, any cap). */
static size_t
home(uint64_t k1, size_t cap)
{
	return (size_t)(((unsigned __int128)k1 * cap) >> 64);
}

#define HUGE_PAGE (2u << 20)

/*
 * Zeroed slots. Large arrays are 2 MiB aligned and their whole 2 MiB
 * stretches marked for transparent huge pages: a lookup is one random
 * memory access, and with 4 KiB pages it also misses the TLB, which costs
 * about as much again. The size is not rounded up, so no memory is wasted.
 */
static struct slot *
alloc_slots(size_t n)
{
	size_t bytes = n * sizeof(struct slot);
	void *p;

	if (bytes < HUGE_PAGE)
		return lg_xcalloc(n, sizeof(struct slot));
	if (posix_memalign(&p, HUGE_PAGE, bytes) != 0)
		abort();
	madvise(p, bytes & ~(size_t)(HUGE_PAGE - 1), MADV_HUGEPAGE);
	memset(p, 0, bytes);
	return p;
}

/* A table for about `expected` students. */
struct lg_students *
lg_students_new(size_t expected, unsigned shards)
{
	struct lg_students *t = lg_xcalloc(1, sizeof(*t));
	unsigned n = 1, bits = 0;
	size_t per;

	if (shards == 0)
		shards = 16;
	while (n < shards && n < 65536) {
		n <<= 1;
		bits++;
	}
	t->nshards = n;
	t->shift = 64 - bits;
	if (getrandom(t->key, sizeof(t->key), 0) != sizeof(t->key)) {
		/* No entropy yet (early boot): fall back to something unpredictable enough. */
		uint64_t k[2] = {(uint64_t)(uintptr_t)t ^ 0x9e3779b97f4a7c15ULL,
		                 (uint64_t)(uintptr_t)&n ^ 0xc2b2ae3d27d4eb4fULL};
		memcpy(t->key, k, sizeof(t->key));
	}
	if (posix_memalign((void **)&t->shards, 64, n * sizeof(struct shard)) != 0)
		abort();
	per = expected / n;
	per = per * LOAD_DEN / LOAD_NUM + 16;
	for (unsigned i = 0; i < n; i++) {
		struct shard *s = &t->shards[i];
		memset(s, 0, sizeof(*s));
		pthread_mutex_init(&s->lock, NULL);
		s->cap = per;
		s->slots = alloc_slots(per);
	}
	return t;
}

/* Free the table; nobody may hold an entry. */
void
lg_students_free(struct lg_students *t)
{
	if (t == NULL)
		return;
	for (unsigned i = 0; i < t->nshards; i++) {
		pthread_mutex_destroy(&t->shards[i].lock);
		free(t->shards[i].slots);
	}
	free(t->shards);
	free(t);
}

/* Place a slot into a table known to have room and not to hold its key. */
static struct slot *
place(struct slot *slots, size_t cap, const struct slot *e)
{
	size_t i = home(e->k1, cap);

	while (slots[i].k0 | slots[i].k1)
		if (++i == cap)
			i = 0;
	slots[i] = *e;
	return &slots[i];
}

/* Rehash a shard to about 1.5 times its count. */
static void
grow(struct shard *s)
{
	size_t ncap = s->count + s->count / 2 + 16;
	struct slot *n = alloc_slots(ncap);

	for (size_t i = 0; i < s->cap; i++)
		if (s->slots[i].k0 | s->slots[i].k1)
			place(n, ncap, &s->slots[i]);
	free(s->slots);
	/* Atomic stores pair with lg_students_prefetch's unlocked reads. */
	__atomic_store_n(&s->slots, n, __ATOMIC_RELAXED);
	__atomic_store_n(&s->cap, ncap, __ATOMIC_RELAXED);
}

/* Hash an id; (0,0) is reserved for free slots. */
void
lg_students_key(const struct lg_students *t, const char *id, size_t len, struct lg_student_key *k)
{
	lg_siphash128(t->key, id, len, k->h);
	if ((k->h[0] | k->h[1]) == 0)
		k->h[1] = 1;
}

/* The shard a key lives in. */
static struct shard *
shard_of(struct lg_students *t, const struct lg_student_key *k)
{
	return &t->shards[lg_students_shard_index(t, k)];
}

/* A cache hint only: reads the slot array racily (atomically), locks nothing. */
void
lg_students_prefetch(struct lg_students *t, const struct lg_student_key *k)
{
	struct shard *s = shard_of(t, k);
	struct slot *slots = __atomic_load_n(&s->slots, __ATOMIC_RELAXED);
	size_t cap = __atomic_load_n(&s->cap, __ATOMIC_RELAXED);

	__builtin_prefetch(&slots[home(k->h[1], cap)], 1, 1);
}

/* The slot holding h, or the free slot where it would go. */
static struct slot *
probe(struct shard *s, const uint64_t h[2])
{
	size_t i = home(h[1], s->cap);

	for (;;) {
		struct slot *e = &s->slots[i];
		if ((e->k0 == h[0] && e->k1 == h[1]) || (e->k0 | e->k1) == 0)
			return e;
		if (++i == s->cap)
			i = 0;
	}
}

/* Lock the student's shard and find its slot, creating it if asked; NULL if absent. */
static struct lg_student_state *
lookup(struct lg_students *t, const struct lg_student_key *k, struct lg_students_ref *ref,
       bool create)
{
	struct shard *s = shard_of(t, k);
	struct slot *e;

	pthread_mutex_lock(&s->lock);
	e = probe(s, k->h);
	if ((e->k0 | e->k1) == 0) {
		if (!create) {
			pthread_mutex_unlock(&s->lock);
			ref->shard = NULL;
			return NULL;
		}
		if ((s->count + 1) * LOAD_DEN > s->cap * LOAD_NUM) {
			grow(s);
			e = probe(s, k->h);
		}
		memset(e, 0, sizeof(*e));
		e->k0 = k->h[0];
		e->k1 = k->h[1];
		s->count++;
	}
	ref->shard = s;
	return &e->st;
}

/* Find or create a student by key, with its shard locked. */
struct lg_student_state *
lg_students_acquire_key(struct lg_students *t, const struct lg_student_key *k,
                        struct lg_students_ref *ref)
{
	return lookup(t, k, ref, true);
}

/* Find a student by key without creating one. */
struct lg_student_state *
lg_students_find_key(struct lg_students *t, const struct lg_student_key *k,
                     struct lg_students_ref *ref)
{
	return lookup(t, k, ref, false);
}

/* Find or create a student, with its shard locked. */
struct lg_student_state *
lg_students_acquire(struct lg_students *t, const char *id, size_t len, struct lg_students_ref *ref)
{
	struct lg_student_key k;

	lg_students_key(t, id, len, &k);
	return lg_students_acquire_key(t, &k, ref);
}

/* Find a student without creating one. */
struct lg_student_state *
lg_students_find(struct lg_students *t, const char *id, size_t len, struct lg_students_ref *ref)
{
	struct lg_student_key k;

	lg_students_key(t, id, len, &k);
	return lg_students_find_key(t, &k, ref);
}

/* Unlock what acquire or find locked. */
void
lg_students_release(struct lg_students_ref *ref)
{
	if (ref->shard != NULL) {
		pthread_mutex_unlock(&((struct shard *)ref->shard)->lock);
		ref->shard = NULL;
	}
}

/* Whether slot j may move back to hole i (its home is not in (i, j]). */
static bool
may_move(size_t i, size_t j, size_t h)
{
	if (i <= j)
		return h <= i || h > j;
	return h <= i && h > j;
}

/* Empty slot i and shift later members of its cluster back (no tombstones). */
static void
remove_at(struct shard *s, size_t i)
{
	size_t j = i;

	for (;;) {
		if (++j == s->cap)
			j = 0;
		if ((s->slots[j].k0 | s->slots[j].k1) == 0)
			break;
		if (may_move(i, j, home(s->slots[j].k1, s->cap))) {
			s->slots[i] = s->slots[j];
			i = j;
		}
	}
	memset(&s->slots[i], 0, sizeof(s->slots[i]));
	s->count--;
}

/* Sweep some shards for students whose breaks are over. */
size_t
lg_students_expire(struct lg_students *t, const struct lg_policy *p, int64_t now,
                   unsigned max_shards)
{
	size_t removed = 0;

	if (max_shards == 0 || max_shards > t->nshards)
		max_shards = t->nshards;
	for (unsigned n = 0; n < max_shards; n++) {
		unsigned si = t->expire_next;
		struct shard *s = &t->shards[si];

		t->expire_next = (t->expire_next + 1) % t->nshards;
		pthread_mutex_lock(&s->lock);
		for (size_t i = 0; i < s->cap; i++) {
			struct slot *e = &s->slots[i];
			/* A shift may bring another stale student into slot i: look again. */
			while ((e->k0 | e->k1) != 0 && !lg_policy_state_live(p, &e->st, now)) {
				if (t->on_remove != NULL) {
					struct lg_student_key k = {{e->k0, e->k1}};
					t->on_remove(t->on_remove_arg, si, &k);
				}
				remove_at(s, i);
				removed++;
			}
		}
		pthread_mutex_unlock(&s->lock);
	}
	return removed;
}

/* Use a saved hash key (the table must be empty). */
void
lg_students_set_key(struct lg_students *t, const uint8_t key[16])
{
	memcpy(t->key, key, sizeof(t->key));
}

/* The index of a key's shard. */
unsigned
lg_students_shard_index(const struct lg_students *t, const struct lg_student_key *k)
{
	return t->shift == 64 ? 0 : (unsigned)(k->h[0] >> t->shift);
}

/* Run fn with one shard locked. */
void
lg_students_locked(struct lg_students *t, unsigned i, void (*fn)(void *), void *arg)
{
	pthread_mutex_lock(&t->shards[i].lock);
	fn(arg);
	pthread_mutex_unlock(&t->shards[i].lock);
}

/* Visit every student of one shard under its lock. */
void
lg_students_each(struct lg_students *t, unsigned i,
                 void (*fn)(void *, const struct lg_student_key *, const struct lg_student_state *),
                 void *arg)
{
	struct shard *s = &t->shards[i];

	pthread_mutex_lock(&s->lock);
	for (size_t j = 0; j < s->cap; j++)
		if (s->slots[j].k0 | s->slots[j].k1) {
			struct lg_student_key k = {{s->slots[j].k0, s->slots[j].k1}};
			fn(arg, &k, &s->slots[j].st);
		}
	pthread_mutex_unlock(&s->lock);
}

/* Register the sweep's removal hook. */
void
lg_students_on_remove(struct lg_students *t,
                      void (*fn)(void *, unsigned, const struct lg_student_key *), void *arg)
{
	t->on_remove = fn;
	t->on_remove_arg = arg;
}

/* How many students are held. */
size_t
lg_students_count(struct lg_students *t)
{
	size_t n = 0;

	for (unsigned i = 0; i < t->nshards; i++) {
		pthread_mutex_lock(&t->shards[i].lock);
		n += t->shards[i].count;
		pthread_mutex_unlock(&t->shards[i].lock);
	}
	return n;
}

/* Bytes of slots and shard headers. */
size_t
lg_students_memory(const struct lg_students *t)
{
	size_t n = sizeof(*t) + t->nshards * sizeof(struct shard);

	for (unsigned i = 0; i < t->nshards; i++)
		n += t->shards[i].cap * sizeof(struct slot);
	return n;
}

/* The number of shards. */
unsigned
lg_students_shards(const struct lg_students *t)
{
	return t->nshards;
}
