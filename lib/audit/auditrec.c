/* Audit records: canonical JSON per event, student pseudonyms, client prefixes, flood counting. */
#include "auditrec.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "util.h"

static const char *const type_names[] = {
    "start",      "stop", "config_loaded", "lesson_start",
    "lesson_end", "deny", "forced_close",  "unidentified",
};

/* The record type's name as written. */
const char *
lg_audit_type_name(enum lg_audit_type t)
{
	return (unsigned)t < sizeof(type_names) / sizeof(type_names[0]) ? type_names[t] : "unknown";
}

/* HMAC-SHA256(key, id) cut to 128 bits, as hex. */
void
lg_audit_pseudonym(const uint8_t key[LG_PSEUDONYM_KEY], const char *id, size_t n,
                   char out[LG_PSEUDONYM_HEX])
{
	static const char hex[] = "0123456789abcdef";
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned len = 0;

	if (HMAC(EVP_sha256(), key, LG_PSEUDONYM_KEY, (const uint8_t *)id, n, mac, &len) == NULL ||
	    len < 16)
		abort(); /* only on allocation failure */
	for (int i = 0; i < 16; i++) {
		out[2 * i] = hex[mac[i] >> 4];
		out[2 * i + 1] = hex[mac[i] & 15];
	}
	out[32] = '\0';
}

/* A pseudonym key file's text: 64 hex digits, one optional newline. */
int
lg_audit_pseudonym_key_parse(const char *text, size_t n, uint8_t key[LG_PSEUDONYM_KEY], char *err,
                             size_t errlen)
{
	if (n == 2 * LG_PSEUDONYM_KEY + 1 && text[n - 1] == '\n')
		n--;
	if (n != 2 * LG_PSEUDONYM_KEY) {
		snprintf(err, errlen,
		         "a pseudonym key is 64 hex digits (`lessongatectl keygen` writes one)");
		return -1;
	}
	for (size_t i = 0; i < LG_PSEUDONYM_KEY; i++) {
		int hi = lg_hex_value((unsigned char)text[2 * i]);
		int lo = lg_hex_value((unsigned char)text[2 * i + 1]);
		if (hi < 0 || lo < 0) {
			snprintf(err, errlen,
			         "a pseudonym key is 64 hex digits; byte %zu is not one",
			         hi < 0 ? 2 * i : 2 * i + 1);
			return -1;
		}
		key[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

/* A client address cut to its network: IPv4 /24, IPv6 /48. */
void
lg_audit_client_prefix(const struct sockaddr *sa, char out[LG_CLIENT_PREFIX_MAX])
{
	char a[INET6_ADDRSTRLEN];

	if (sa && sa->sa_family == AF_INET6) {
		struct in6_addr x = ((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(&x)) {
			struct in_addr v4;
			memcpy(&v4, x.s6_addr + 12, 4);
			((uint8_t *)&v4)[3] = 0;
			inet_ntop(AF_INET, &v4, a, sizeof(a));
			snprintf(out, LG_CLIENT_PREFIX_MAX, "%s/24", a);
			return;
		}
		memset(x.s6_addr + 6, 0, 10);
		inet_ntop(AF_INET6, &x, a, sizeof(a));
		snprintf(out, LG_CLIENT_PREFIX_MAX, "%s/48", a);
	} else if (sa && sa->sa_family == AF_INET) {
		struct in_addr v4 = ((const struct sockaddr_in *)sa)->sin_addr;
		((uint8_t *)&v4)[3] = 0;
		inet_ntop(AF_INET, &v4, a, sizeof(a));
		snprintf(out, LG_CLIENT_PREFIX_MAX, "%s/24", a);
	} else {
		snprintf(out, LG_CLIENT_PREFIX_MAX, "local");
	}
}

/* ,"key":"string" (null for NULL). */
static void
put_str(struct lg_buf *b, const char *key, const char *s, size_t n)
{
	lg_buf_printf(b, ",\"%s\":", key);
	if (s == NULL)
		LG_BUF_LIT(b, "null");
	else
		lg_buf_json_strn(b, s, n);
}

/* ,"key":"RFC 3339 local time". */
static void
put_time(struct lg_buf *b, const char *key, int64_t t, const struct lg_tz *tz)
{
	char when[32];

	lg_format_rfc3339(t, tz, when);
	lg_buf_printf(b, ",\"%s\":\"%s\"", key, when);
}

/* ,"key":"64 hex digits". */
static void
put_sha256(struct lg_buf *b, const char *key, const uint8_t h[32])
{
	lg_buf_printf(b, ",\"%s\":\"", key);
	for (int i = 0; i < 32; i++)
		lg_buf_printf(b, "%02x", h[i]);
	LG_BUF_LIT(b, "\"");
}

/* The fields about one student's lesson: student, class, route, region. */
static void
put_lesson(struct lg_buf *b, const struct lg_audit_ctx *ctx, const struct lg_audit_rec *r)
{
	char pseudonym[LG_PSEUDONYM_HEX];

	if (r->student) {
		lg_audit_pseudonym(ctx->pseudonym_key, r->student, r->student_len, pseudonym);
		lg_buf_printf(b, ",\"student\":\"%s\"", pseudonym);
	} else if (r->pseudonym && strlen(r->pseudonym) == LG_PSEUDONYM_HEX - 1 &&
	           strspn(r->pseudonym, "0123456789abcdef") == LG_PSEUDONYM_HEX - 1) {
		lg_buf_printf(b, ",\"student\":\"%s\"", r->pseudonym);
	} else {
		LG_BUF_LIT(b, ",\"student\":null");
	}
	put_str(b, "class",
	        r->cls >= 0 && r->cls < LG_LESSON_CLASSES ? lg_class_name(r->cls) : NULL,
	        r->cls >= 0 && r->cls < LG_LESSON_CLASSES ? strlen(lg_class_name(r->cls)) : 0);
	put_str(b, "route", r->route, r->route ? strlen(r->route) : 0);
	if (r->region)
		lg_buf_printf(b, ",\"region\":\"%06u\"", r->region % 1000000);
	else
		LG_BUF_LIT(b, ",\"region\":null");
}

/* ,"rule":"...","enforced":true|false. */
static void
put_rule(struct lg_buf *b, const struct lg_audit_rec *r)
{
	lg_buf_printf(b, ",\"rule\":\"%s\",\"enforced\":%s", lg_rule_name(r->rule),
	              r->enforced ? "true" : "false");
}

/* ,"count":N,"last":"time" of a counted record. */
static void
put_count(struct lg_buf *b, const struct lg_audit_ctx *ctx, const struct lg_audit_rec *r)
{
	lg_buf_printf(b, ",\"count\":%llu", (unsigned long long)(r->count ? r->count : 1));
	put_time(b, "last", r->last ? r->last : r->time, ctx->tz);
}

/* The canonical record: one JSON object, fixed key order. */
void
lg_audit_format(struct lg_buf *b, uint64_t index, const struct lg_audit_ctx *ctx,
                const struct lg_audit_rec *r)
{
	lg_buf_printf(b, "{\"index\":%llu,\"type\":\"%s\"", (unsigned long long)index,
	              lg_audit_type_name(r->type));
	put_time(b, "time", r->time, ctx->tz);
	put_str(b, "instance", ctx->instance, ctx->instance ? strlen(ctx->instance) : 0);
	switch (r->type) {
	case LG_AUDIT_START:
		put_str(b, "version", r->version, r->version ? strlen(r->version) : 0);
		break;
	case LG_AUDIT_STOP:
		put_str(b, "reason", r->reason, r->reason ? strlen(r->reason) : 0);
		break;
	case LG_AUDIT_CONFIG_LOADED:
		lg_buf_printf(b, ",\"mode\":\"%s\"",
		              r->mode == LG_MODE_MONITOR ? "monitor" : "enforce");
		put_sha256(b, "config_sha256", r->config_sha256);
		LG_BUF_LIT(b, ",\"calendars\":[");
		for (size_t i = 0; i < r->ncalendars; i++) {
			const char *f = r->calendars[i].file;
			lg_buf_printf(b, "%s{\"file\":", i ? "," : "");
			lg_buf_json_strn(b, f ? f : "", f ? strlen(f) : 0);
			put_sha256(b, "sha256", r->calendars[i].sha256);
			LG_BUF_LIT(b, "}");
		}
		LG_BUF_LIT(b, "]");
		break;
	case LG_AUDIT_LESSON_START:
		put_lesson(b, ctx, r);
		break;
	case LG_AUDIT_LESSON_END:
		put_lesson(b, ctx, r);
		put_time(b, "start", r->start, ctx->tz);
		put_time(b, "end", r->end, ctx->tz);
		lg_buf_printf(b, ",\"duration\":%lld", (long long)(r->end - r->start));
		break;
	case LG_AUDIT_DENY:
		put_lesson(b, ctx, r);
		put_rule(b, r);
		lg_buf_printf(b, ",\"status\":%d", r->status);
		put_count(b, ctx, r);
		break;
	case LG_AUDIT_FORCED_CLOSE:
		put_lesson(b, ctx, r);
		put_rule(b, r);
		put_str(b, "how", r->how, r->how ? strlen(r->how) : 0);
		break;
	case LG_AUDIT_UNIDENTIFIED:
		put_str(b, "class",
		        r->cls >= 0 && r->cls < LG_LESSON_CLASSES ? lg_class_name(r->cls) : NULL,
		        r->cls >= 0 && r->cls < LG_LESSON_CLASSES ? strlen(lg_class_name(r->cls))
		                                                  : 0);
		put_str(b, "route", r->route, r->route ? strlen(r->route) : 0);
		put_str(b, "client", r->client, r->client ? strlen(r->client) : 0);
		put_str(b, "reason", r->reason, r->reason ? strlen(r->reason) : 0);
		put_count(b, ctx, r);
		break;
	}
	LG_BUF_LIT(b, "}");
}

/* --- flood counting --- */

/* One open window: a copy of its first event and the repeats counted since. */
struct agg_entry {
	struct agg_entry *next;          /* in its bucket */
	struct agg_entry *lprev, *lnext; /* in the list of open windows */
	uint64_t hash;
	struct lg_audit_rec rec; /* strings point into the allocation after this struct */
	uint8_t *key;
	size_t keylen;
	uint64_t seq;
	int64_t window_end;
	uint64_t repeats;
	int64_t first_repeat, last_repeat;
};

struct lg_audit_agg {
	int64_t window;
	int64_t earliest; /* the first window_end of any open window (INT64_MAX: none) */
	size_t max, n, nbuckets;
	uint64_t seq;
	uint8_t key[16];
	struct agg_entry **buckets;
	struct agg_entry *head, *tail; /* open windows, oldest first: a flush walks only these */
};

/* A flood counter. */
struct lg_audit_agg *
lg_audit_agg_new(int64_t window, size_t max, const uint8_t key[16])
{
	struct lg_audit_agg *a = lg_xcalloc(1, sizeof(*a));

	a->window = window;
	a->max = max ? max : 1;
	for (a->nbuckets = 16; a->nbuckets < a->max * 2; a->nbuckets *= 2)
		;
	a->buckets = lg_xcalloc(a->nbuckets, sizeof(*a->buckets));
	a->earliest = INT64_MAX;
	memcpy(a->key, key, 16);
	return a;
}

/* Free a flood counter (open windows are dropped: flush them first). */
void
lg_audit_agg_free(struct lg_audit_agg *a)
{
	if (a == NULL)
		return;
	for (size_t i = 0; i < a->nbuckets; i++)
		for (struct agg_entry *e = a->buckets[i], *nx; e; e = nx) {
			nx = e->next;
			free(e);
		}
	free(a->buckets);
	free(a);
}

/* The number of open windows. */
size_t
lg_audit_agg_open(const struct lg_audit_agg *a)
{
	return a->n;
}

/* Whether records of this type are counted rather than written one by one. */
static bool
counted(const struct lg_audit_rec *r)
{
	return r->type == LG_AUDIT_DENY || r->type == LG_AUDIT_UNIDENTIFIED;
}

/* Append a length-prefixed piece to a key. */
static size_t
key_piece(uint8_t *out, const void *p, size_t n)
{
	uint32_t len = (uint32_t)n;

	if (out) {
		memcpy(out, &len, 4);
		if (n)
			memcpy(out + 4, p, n);
	}
	return 4 + n;
}

/* What makes two events the same kind: every field but the time (out NULL: just the length). */
static size_t
make_key(const struct lg_audit_rec *r, uint8_t *out)
{
	int32_t nums[5] = {(int32_t)r->type, (int32_t)r->rule, r->cls, r->status, r->enforced};
	const char *s[3] = {r->route, r->client, r->reason};
	size_t o = 0;

	o += key_piece(out ? out + o : NULL, nums, sizeof(nums));
	o += key_piece(out ? out + o : NULL, &r->region, sizeof(r->region));
	o += key_piece(out ? out + o : NULL, r->student, r->student ? r->student_len : 0);
	for (int i = 0; i < 3; i++)
		o += key_piece(out ? out + o : NULL, s[i], s[i] ? strlen(s[i]) + 1 : 0);
	return o;
}

/* A new window for r, its strings and key copied into one allocation. */
static struct agg_entry *
entry_new(const struct lg_audit_rec *r, size_t keylen)
{
	size_t sl = r->student ? r->student_len : 0, rl = r->route ? strlen(r->route) + 1 : 0;
	size_t cl = r->client ? strlen(r->client) + 1 : 0,
	       el = r->reason ? strlen(r->reason) + 1 : 0;
	struct agg_entry *e = lg_xcalloc(1, sizeof(*e) + keylen + sl + rl + cl + el);
	char *p = (char *)(e + 1);

	e->rec = *r;
	e->key = (uint8_t *)p;
	e->keylen = make_key(r, e->key);
	p += keylen;
	if (r->student) {
		memcpy(p, r->student, sl);
		e->rec.student = p;
		p += sl;
	}
	if (r->route) {
		memcpy(p, r->route, rl);
		e->rec.route = p;
		p += rl;
	}
	if (r->client) {
		memcpy(p, r->client, cl);
		e->rec.client = p;
		p += cl;
	}
	if (r->reason) {
		memcpy(p, r->reason, el);
		e->rec.reason = p;
	}
	e->rec.calendars = NULL;
	e->rec.ncalendars = 0;
	e->rec.how = e->rec.version = NULL;
	return e;
}

/* Emit the summary of a window's repeats, if there were any. */
static void
emit_summary(const struct agg_entry *e, lg_audit_emit_fn emit, void *arg)
{
	struct lg_audit_rec s = e->rec;

	if (e->repeats == 0)
		return;
	s.time = e->first_repeat;
	s.last = e->last_repeat;
	s.count = e->repeats;
	emit(arg, &s);
}

/* Order closed windows by first repeat, then by when they opened. */
static int
cmp_entries(const void *x, const void *y)
{
	const struct agg_entry *a = *(struct agg_entry *const *)x,
	                       *b = *(struct agg_entry *const *)y;

	if (a->first_repeat != b->first_repeat)
		return a->first_repeat < b->first_repeat ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Emit the summaries of windows closed by now (all if all), in time order, and forget them. */
void
lg_audit_agg_flush(struct lg_audit_agg *a, int64_t now, bool all, lg_audit_emit_fn emit, void *arg)
{
	struct agg_entry **closed = NULL;
	size_t n = 0;

	if (a->n == 0 || (!all && now < a->earliest))
		return; /* nothing closes yet: no walk over the table for every event */
	closed = lg_xcalloc(a->n, sizeof(*closed));
	a->earliest = INT64_MAX;
	for (struct agg_entry *e = a->head, *nx; e; e = nx) {
		nx = e->lnext;
		if (all || e->window_end <= now) {
			struct agg_entry **pp = &a->buckets[e->hash & (a->nbuckets - 1)];
			while (*pp != e)
				pp = &(*pp)->next;
			*pp = e->next;
			*(e->lprev ? &e->lprev->lnext : &a->head) = e->lnext;
			*(e->lnext ? &e->lnext->lprev : &a->tail) = e->lprev;
			closed[n++] = e;
			a->n--;
		} else if (e->window_end < a->earliest) {
			a->earliest = e->window_end;
		}
	}
	qsort(closed, n, sizeof(*closed), cmp_entries);
	for (size_t i = 0; i < n; i++) {
		emit_summary(closed[i], emit, arg);
		free(closed[i]);
	}
	free(closed);
}

/* Offer one event. */
void
lg_audit_agg_add(struct lg_audit_agg *a, const struct lg_audit_rec *r, lg_audit_emit_fn emit,
                 void *arg)
{
	size_t keylen;
	uint8_t *key;
	uint64_t h[2];
	struct agg_entry **pp, *e;

	if (!counted(r)) {
		emit(arg, r);
		return;
	}
	keylen = make_key(r, NULL);
	key = lg_xcalloc(1, keylen);
	make_key(r, key);
	lg_siphash128(a->key, key, keylen, h);
	pp = &a->buckets[h[0] & (a->nbuckets - 1)];
	for (e = *pp; e; e = e->next)
		if (e->keylen == keylen && memcmp(e->key, key, keylen) == 0)
			break;
	if (e && r->time < e->window_end) {
		if (e->repeats++ == 0)
			e->first_repeat = r->time;
		e->last_repeat = r->time > e->last_repeat ? r->time : e->last_repeat;
		free(key);
		return;
	}
	/* This event is written now: first whatever windows it closes, in order. */
	lg_audit_agg_flush(a, r->time, false, emit, arg);
	free(key);
	emit(arg, r);
	if (a->n >= a->max)
		return; /* no room to count its repeats: they will be written one by one */
	e = entry_new(r, keylen);
	e->seq = a->seq++;
	e->window_end = r->time + a->window;
	if (e->window_end < a->earliest)
		a->earliest = e->window_end;
	e->hash = h[0];
	pp = &a->buckets[h[0] & (a->nbuckets - 1)];
	e->next = *pp;
	*pp = e;
	e->lprev = a->tail;
	*(a->tail ? &a->tail->lnext : &a->head) = e;
	a->tail = e;
	a->n++;
}
