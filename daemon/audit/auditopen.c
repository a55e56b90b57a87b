/* The audit writer's open lessons: a chained hash table by student id (writer thread only). */
#include "auditopen.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

struct lgd_open {
	struct lgd_open_lesson **b;
	size_t nb, n;
};

/* FNV-1a of an id. */
static uint64_t
hash(const char *id, size_t len)
{
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)id[i]) * 1099511628211ULL;
	return h;
}

/* An empty table. */
struct lgd_open *
lgd_open_new(void)
{
	struct lgd_open *t = lg_xcalloc(1, sizeof(*t));

	t->nb = 1024;
	t->b = lg_xcalloc(t->nb, sizeof(*t->b));
	return t;
}

/* Free one entry. */
static void
entry_free(struct lgd_open_lesson *e)
{
	free(e->route);
	free(e);
}

/* Free the table and every entry. */
void
lgd_open_free(struct lgd_open *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->nb; i++)
		while (t->b[i]) {
			struct lgd_open_lesson *e = t->b[i];
			t->b[i] = e->next;
			entry_free(e);
		}
	free(t->b);
	free(t);
}

/* Double the buckets. */
static void
grow(struct lgd_open *t)
{
	size_t nb = t->nb * 2;
	struct lgd_open_lesson **b = lg_xcalloc(nb, sizeof(*b));

	for (size_t i = 0; i < t->nb; i++)
		while (t->b[i]) {
			struct lgd_open_lesson *e = t->b[i];
			size_t k = hash(e->id, e->len) & (nb - 1);
			t->b[i] = e->next;
			e->next = b[k];
			b[k] = e;
		}
	free(t->b);
	t->b = b;
	t->nb = nb;
}

/* The link that points at id's entry (or the bucket's end). */
static struct lgd_open_lesson **
find(struct lgd_open *t, const char *id, size_t len)
{
	struct lgd_open_lesson **p = &t->b[hash(id, len) & (t->nb - 1)];

	while (*p && ((*p)->len != len || memcmp((*p)->id, id, len) != 0))
		p = &(*p)->next;
	return p;
}

/* A lesson began. */
void
lgd_open_put(struct lgd_open *t, const char *id, size_t len, int64_t start, int cls,
             uint32_t region, const char *route)
{
	struct lgd_open_lesson **p = find(t, id, len), *e;

	if (*p) {
		e = *p;
		*p = e->next;
		entry_free(e);
		t->n--;
	}
	if (t->n + 1 > t->nb)
		grow(t);
	p = &t->b[hash(id, len) & (t->nb - 1)];
	e = lg_xcalloc(1, sizeof(*e) + len + 1);
	memcpy(e->id, id, len);
	e->len = len;
	e->start = e->last = start;
	e->cls = cls;
	e->region = region;
	e->route = route ? lg_strdup(route) : NULL;
	e->next = *p;
	*p = e;
	t->n++;
}

/* The gate ended a lesson: 1 it was open, 0 the sweep ended it, -1 unknown. */
int
lgd_open_take(struct lgd_open *t, const char *id, size_t len, int64_t start)
{
	struct lgd_open_lesson **p = find(t, id, len), *e = *p;
	int r;

	if (e == NULL || e->start != start)
		return -1;
	r = e->ended ? 0 : 1;
	*p = e->next;
	entry_free(e);
	t->n--;
	return r;
}

/* Visit every open lesson; remove those fn says are over. */
void
lgd_open_sweep(struct lgd_open *t, bool (*fn)(void *arg, struct lgd_open_lesson *), void *arg)
{
	for (size_t i = 0; i < t->nb; i++)
		for (struct lgd_open_lesson **p = &t->b[i]; *p;) {
			struct lgd_open_lesson *e = *p;
			if (fn(arg, e)) {
				*p = e->next;
				entry_free(e);
				t->n--;
			} else {
				p = &e->next;
			}
		}
}

/* How many lessons are open. */
size_t
lgd_open_count(const struct lgd_open *t)
{
	return t->n;
}
