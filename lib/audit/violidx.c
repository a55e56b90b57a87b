/* The violations index: deny and forced_close records by index and time, in blocks. */
#include "violidx.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* One kept record. */
struct ventry {
	uint64_t index;
	char time[LG_VIOLIDX_TIME];
};

/* A block of entries and the range of their times. */
struct vblock {
	struct ventry e[LG_VIOLIDX_BLOCK];
	size_t n;
	char min[LG_VIOLIDX_TIME], max[LG_VIOLIDX_TIME];
};

struct lg_violidx {
	struct vblock **b;
	size_t nb, cap;
	size_t count;
};

/* An empty index. */
struct lg_violidx *
lg_violidx_new(void)
{
	return lg_xcalloc(1, sizeof(struct lg_violidx));
}

/* Free an index. */
void
lg_violidx_free(struct lg_violidx *x)
{
	if (x == NULL)
		return;
	for (size_t i = 0; i < x->nb; i++)
		free(x->b[i]);
	free(x->b);
	free(x);
}

/* The string value after `key` at p (within end) into out; its length, or -1. */
static int
field(const char *p, const char *end, const char *key, char *out, size_t cap)
{
	size_t k = strlen(key), n;
	const char *q;

	if ((size_t)(end - p) < k || memcmp(p, key, k) != 0)
		return -1;
	p += k;
	if ((q = memchr(p, '"', (size_t)(end - p))) == NULL || (n = (size_t)(q - p)) >= cap)
		return -1;
	memcpy(out, p, n);
	out[n] = '\0';
	return (int)n;
}

/* Note a record if it is a violation. */
void
lg_violidx_add(struct lg_violidx *x, uint64_t index, const char *rec, size_t n)
{
	const char *end = rec + n, *p;
	char type[16], t[LG_VIOLIDX_TIME];
	struct vblock *b;
	int tl;

	if (n < 12 || memcmp(rec, "{\"index\":", 9) != 0)
		return;
	for (p = rec + 9; p < end && *p >= '0' && *p <= '9'; p++)
		;
	if ((tl = field(p, end, ",\"type\":\"", type, sizeof(type))) < 0 ||
	    (strcmp(type, "deny") != 0 && strcmp(type, "forced_close") != 0))
		return;
	p += 9 + (size_t)tl + 1;
	if (field(p, end, ",\"time\":\"", t, sizeof(t)) < 0)
		return;
	if (x->nb && (b = x->b[x->nb - 1])->n && b->e[b->n - 1].index >= index)
		return;
	if (x->nb == 0 || x->b[x->nb - 1]->n == LG_VIOLIDX_BLOCK) {
		if (x->nb == x->cap) {
			x->cap = x->cap ? 2 * x->cap : 16;
			x->b = lg_xrealloc(x->b, x->cap, sizeof(*x->b));
		}
		x->b[x->nb++] = lg_xcalloc(1, sizeof(struct vblock));
	}
	b = x->b[x->nb - 1];
	b->e[b->n].index = index;
	memcpy(b->e[b->n].time, t, sizeof(t));
	if (b->n == 0 || strcmp(t, b->min) < 0)
		memcpy(b->min, t, sizeof(t));
	if (b->n == 0 || strcmp(t, b->max) > 0)
		memcpy(b->max, t, sizeof(t));
	b->n++;
	x->count++;
}

/* Recompute a block's time range after it lost entries. */
static void
block_range(struct vblock *b)
{
	for (size_t i = 0; i < b->n; i++) {
		if (i == 0 || strcmp(b->e[i].time, b->min) < 0)
			memcpy(b->min, b->e[i].time, LG_VIOLIDX_TIME);
		if (i == 0 || strcmp(b->e[i].time, b->max) > 0)
			memcpy(b->max, b->e[i].time, LG_VIOLIDX_TIME);
	}
}

/* Forget records from index on. */
void
lg_violidx_truncate(struct lg_violidx *x, uint64_t index)
{
	while (x->nb) {
		struct vblock *b = x->b[x->nb - 1];
		size_t keep = b->n;
		while (keep && b->e[keep - 1].index >= index)
			keep--;
		x->count -= b->n - keep;
		if (keep == b->n)
			return;
		b->n = keep;
		if (keep) {
			block_range(b);
			return;
		}
		free(b);
		x->nb--;
	}
}

/* The records kept. */
size_t
lg_violidx_count(const struct lg_violidx *x)
{
	return x->count;
}

/* The indexes of kept records below `below` with a time in [from, to). */
size_t
lg_violidx_query(const struct lg_violidx *x, const char *from, const char *to, uint64_t below,
                 uint64_t **out, size_t *n)
{
	size_t looked = 0, cap = *n;

	for (size_t i = 0; i < x->nb; i++) {
		const struct vblock *b = x->b[i];
		if (b->n == 0 || b->e[0].index >= below)
			break;
		if (strcmp(b->max, from) < 0 || strcmp(b->min, to) >= 0)
			continue;
		looked++;
		for (size_t k = 0; k < b->n && b->e[k].index < below; k++) {
			if (strcmp(b->e[k].time, from) < 0 || strcmp(b->e[k].time, to) >= 0)
				continue;
			if (*n == cap) {
				cap = cap ? 2 * cap : 256;
				*out = lg_xrealloc(*out, cap, sizeof(**out));
			}
			(*out)[(*n)++] = b->e[k].index;
		}
	}
	return looked;
}
