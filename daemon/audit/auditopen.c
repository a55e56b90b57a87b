/* The audit writer's open lessons: a chained hash table by student id or store key (writer thread
 * only). */
#include "auditopen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct lgd_open {
	struct lgd_open_lesson **b;
	size_t nb, n, keyed;
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

/* Free one entry (and count it out). */
static void
entry_free(struct lgd_open *t, struct lgd_open_lesson *e)
{
	if (t) {
		t->n--;
		t->keyed -= e->keyed;
	}
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
			entry_free(NULL, e);
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

/* The link that points at id's entry (a keyed one's id: its key) or the bucket's end. */
static struct lgd_open_lesson **
find(struct lgd_open *t, const char *id, size_t len, bool keyed)
{
	struct lgd_open_lesson **p = &t->b[hash(id, len) & (t->nb - 1)];

	while (*p && ((*p)->keyed != keyed || (*p)->len != len || memcmp((*p)->id, id, len) != 0))
		p = &(*p)->next;
	return p;
}

/* Put an entry for id (replacing one), keyed or not. */
static struct lgd_open_lesson *
put(struct lgd_open *t, const char *id, size_t len, bool keyed, int64_t start, int cls,
    uint32_t region, const char *route)
{
	struct lgd_open_lesson **p = find(t, id, len, keyed), *e;

	if (*p) {
		e = *p;
		*p = e->next;
		entry_free(t, e);
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
	e->keyed = keyed;
	e->next = *p;
	*p = e;
	t->n++;
	t->keyed += keyed;
	return e;
}

/* A lesson began. */
struct lgd_open_lesson *
lgd_open_put(struct lgd_open *t, const char *id, size_t len, int64_t start, int cls,
             uint32_t region, const char *route)
{
	return put(t, id, len, false, start, cls, region, route);
}

/* A lesson reopened after a restart, by store key. */
struct lgd_open_lesson *
lgd_open_put_keyed(struct lgd_open *t, const struct lg_student_key *k, const char *pseudonym,
                   int64_t start, int cls, uint32_t region, const char *route)
{
	struct lgd_open_lesson *e =
	    put(t, (const char *)k, sizeof(*k), true, start, cls, region, route);

	e->key = *k;
	e->noted = true;
	snprintf(e->pseudonym, sizeof(e->pseudonym), "%s", pseudonym);
	return e;
}

/* Take id's entry if it is the lesson begun at start: 1 it was open, 0 ended, -1 unknown. */
static int
take(struct lgd_open *t, const char *id, size_t len, bool keyed, int64_t start)
{
	struct lgd_open_lesson **p = find(t, id, len, keyed), *e = *p;
	int r;

	if (e == NULL || e->start != start)
		return -1;
	r = e->ended ? 0 : 1;
	*p = e->next;
	entry_free(t, e);
	return r;
}

/* The gate ended a lesson: 1 it was open, 0 the sweep ended it, -1 unknown. */
int
lgd_open_take(struct lgd_open *t, const char *id, size_t len, int64_t start)
{
	return take(t, id, len, false, start);
}

/* The gate ended a lesson reopened after a restart. */
int
lgd_open_take_keyed(struct lgd_open *t, const struct lg_student_key *k, int64_t start)
{
	return take(t, (const char *)k, sizeof(*k), true, start);
}

/* How many open lessons are keyed. */
size_t
lgd_open_keyed(const struct lgd_open *t)
{
	return t->keyed;
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
				entry_free(t, e);
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
