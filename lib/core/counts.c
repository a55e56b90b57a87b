/* Counts per key (a client address, a student): take one under a cap, give it back. */
#include "counts.h"

#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "util.h"

struct node {
	struct node *next;
	uint64_t h;
	int64_t count;
	size_t len;
	unsigned char key[];
};

struct lg_counts {
	uint8_t key[16];
	struct node **b;
	size_t nb; /* a power of two */
	size_t n;
};

/* The key's hash under the table's key. */
static uint64_t
hash_of(const struct lg_counts *t, const void *key, size_t len)
{
	uint64_t h[2];

	lg_siphash128(t->key, key, len, h);
	return h[0];
}

/* The slot holding key's node (or where it would go). */
static struct node **
find(const struct lg_counts *t, uint64_t h, const void *key, size_t len)
{
	struct node **p = &t->b[h & (t->nb - 1)];

	while (*p && !((*p)->h == h && (*p)->len == len && memcmp((*p)->key, key, len) == 0))
		p = &(*p)->next;
	return p;
}

/* Double the buckets once the chains grow past two nodes on average. */
static void
grow(struct lg_counts *t)
{
	size_t nb = t->nb * 2;
	struct node **b = lg_xcalloc(nb, sizeof(*b));

	for (size_t i = 0; i < t->nb; i++)
		for (struct node *x = t->b[i], *next; x; x = next) {
			next = x->next;
			x->next = b[x->h & (nb - 1)];
			b[x->h & (nb - 1)] = x;
		}
	free(t->b);
	t->b = b;
	t->nb = nb;
}

/* An empty table; key is the SipHash key (16 random bytes). */
struct lg_counts *
lg_counts_new(const uint8_t key[16])
{
	struct lg_counts *t = lg_xcalloc(1, sizeof(*t));

	memcpy(t->key, key, sizeof(t->key));
	t->nb = 256;
	t->b = lg_xcalloc(t->nb, sizeof(*t->b));
	return t;
}

void
lg_counts_free(struct lg_counts *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->nb; i++)
		for (struct node *x = t->b[i], *next; x; x = next) {
			next = x->next;
			free(x);
		}
	free(t->b);
	free(t);
}

/* Add one to key's count unless it is already max (0: no cap); 0 if added, -1 if at the cap. */
int
lg_counts_acquire(struct lg_counts *t, const void *key, size_t len, int64_t max)
{
	uint64_t h = hash_of(t, key, len);
	struct node **p = find(t, h, key, len), *x = *p;

	if (x == NULL) {
		x = lg_xcalloc(1, sizeof(*x) + len);
		x->h = h;
		x->len = len;
		memcpy(x->key, key, len);
		*p = x;
		if (++t->n > 2 * t->nb)
			grow(t);
	} else if (max > 0 && x->count >= max) {
		return -1;
	}
	x->count++;
	return 0;
}

/* Take one from key's count (forgetting the key at zero); -1 if key had none. */
int
lg_counts_release(struct lg_counts *t, const void *key, size_t len)
{
	struct node **p = find(t, hash_of(t, key, len), key, len), *x = *p;

	if (x == NULL)
		return -1;
	if (--x->count == 0) {
		*p = x->next;
		free(x);
		t->n--;
	}
	return 0;
}

/* key's current count. */
int64_t
lg_counts_get(const struct lg_counts *t, const void *key, size_t len)
{
	struct node *x = *find(t, hash_of(t, key, len), key, len);

	return x ? x->count : 0;
}

/* How many keys have a count above zero. */
size_t
lg_counts_keys(const struct lg_counts *t)
{
	return t->n;
}
