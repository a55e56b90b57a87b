/* libFuzzer harness for lib/audit/auditrec.c: any id, route or reason gives one valid JSON line. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auditrec.h"
#include "json.h"

/* Stop the run: the harness found a disagreement. */
static void
check(int ok)
{
	if (!ok)
		abort();
}

/* Count what the aggregator emits. */
static void
count(void *arg, const struct lg_audit_rec *r)
{
	*(uint64_t *)arg += r->count ? r->count : 1;
}

/*
 * Input: a type byte, then NUL-separated student id, route, reason, instance.
 * Every record type is formatted with them: one line, valid JSON (the strict
 * reader of lib/core/json.c), the id in it only as its pseudonym. The same events through the flood
 * counter are all accounted for.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct lg_tz *tz;
	const char *parts[4] = {"", "", "", ""};
	size_t lens[4] = {0, 0, 0, 0};
	char *copy, *keybuf, err[64];
	struct lg_audit_ctx ctx;
	struct lg_audit_rec r;
	struct lg_buf b = {0};
	struct lg_audit_file_hash cal = {NULL, {0}};
	const char *names[] = {"index", "type"};
	struct lg_json_value v[2];
	uint8_t key[16] = {0};
	uint64_t emitted = 0, offered = 0;
	struct lg_audit_agg *agg;

	if (size < 1)
		return 0;
	if (tz == NULL)
		tz = lg_tz_load("+08:00", err, sizeof(err));
	copy = malloc(size);
	memcpy(copy, data + 1, size - 1);
	copy[size - 1] = '\0';
	for (size_t i = 0, p = 0, start = 0; i <= size - 1 && p < 4; i++)
		if (i == size - 1 || copy[i] == '\0') {
			parts[p] = copy + start;
			lens[p++] = i - start;
			start = i + 1;
		}
	memset(&ctx, 0, sizeof(ctx));
	ctx.instance = parts[3];
	ctx.tz = tz;
	memset(&r, 0, sizeof(r));
	r.time = 1789956000 + data[0];
	r.student = parts[0];
	r.student_len = lens[0];
	r.route = parts[1];
	r.reason = r.how = r.version = r.client = parts[2];
	r.cls = data[0] % 4 - 1;
	r.rule = (enum lg_rule)(data[0] % 5);
	r.region = data[0] * 1001u;
	r.calendars = &cal;
	r.ncalendars = 1;
	cal.file = parts[1];
	agg = lg_audit_agg_new(3, 2, key);
	for (int t = LG_AUDIT_START; t <= LG_AUDIT_UNIDENTIFIED; t++) {
		r.type = (enum lg_audit_type)t;
		b.len = 0;
		lg_audit_format(&b, (uint64_t)data[0] << 32, &ctx, &r);
		check(memchr(b.data, '\n', b.len) == NULL);
		keybuf = malloc(b.len + 1);
		check(lg_json_parse(b.data, b.len, keybuf, b.len + 1, names, v, 2) == 0);
		check(v[0].type == LG_JSON_NUMBER && v[1].type == LG_JSON_STRING);
		free(keybuf);
		/* The id shows only through its pseudonym: another id changes 32 hex digits at
		 * most. */
		{
			struct lg_buf b2 = {0};
			struct lg_audit_rec r2 = r;
			size_t first = b.len, last = 0;
			r2.student = "another id";
			r2.student_len = 10;
			lg_audit_format(&b2, (uint64_t)data[0] << 32, &ctx, &r2);
			check(b2.len == b.len);
			for (size_t i = 0; i < b.len; i++)
				if (b.data[i] != b2.data[i]) {
					first = i < first ? i : first;
					last = i;
				}
			check(first == b.len || last - first < 32);
			lg_buf_free(&b2);
		}
		for (int k = 0; k < 3; k++) {
			r.time += data[0] % 3;
			lg_audit_agg_add(agg, &r, count, &emitted);
			offered++;
		}
	}
	lg_audit_agg_flush(agg, 0, true, count, &emitted);
	check(emitted == offered);
	lg_audit_agg_free(agg);
	lg_buf_free(&b);
	free(copy);
	return 0;
}
