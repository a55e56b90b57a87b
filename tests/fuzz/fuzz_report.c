/*
 * libFuzzer harness for lib/audit/report.c and lib/audit/violidx.c: any lines
 * (a log, or a server's pages, is read as records) are counted or refused
 * without harm, every form of the report is written, and the violations
 * index answers what a scan of the same lines finds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "render.h"
#include "report.h"
#include "violidx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Input: lines; each is offered to a report over 2026-03-01 .. 03-31 and to the index. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct lg_report *r = lg_report_new(20513, 20543, size && data[0] & 1 ? 533100 : 0);
	struct lg_violidx *x = lg_violidx_new();
	struct lg_buf b = {0};
	const char *p = (const char *)data, *end = p + size;
	uint64_t index = 0, *got = NULL;
	size_t n = 0;
	char err[128];

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		lg_report_add(r, p, len, err, sizeof(err));
		lg_violidx_add(x, index++, p, len);
		p += len + 1;
	}
	for (int f = LG_REPORT_TEXT; f <= LG_REPORT_HTML; f++) {
		b.len = 0;
		lg_report_write(r, (enum lg_report_format)f, "fuzz", &b);
	}
	lg_violidx_query(x, "2026-03-01", "2026-03-02", index, &got, &n);
	if (n > lg_violidx_count(x))
		abort();
	for (size_t i = 1; i < n; i++)
		if (got[i] <= got[i - 1])
			abort();
	lg_violidx_truncate(x, index / 2);
	free(got);
	lg_buf_free(&b);
	lg_violidx_free(x);
	lg_report_free(r);
	return 0;
}
