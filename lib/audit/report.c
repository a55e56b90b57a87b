/* What an education bureau reads: audit records summed up per local day, as text, CSV or HTML. */
#include "report.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calendar.h"
#include "json.h"
#include "policy.h"
#include "util.h"

struct lg_report {
	int32_t from, to;
	uint32_t region;
	uint64_t records;
	struct lg_report_day *days;
	size_t nhows;
	char *hows[LG_REPORT_HOWS + 1]; /* the last one is "other" */
	char *keys;
	size_t keycap;
};

/* A report over [from, to] of region. */
struct lg_report *
lg_report_new(int32_t from, int32_t to, uint32_t region)
{
	struct lg_report *r = lg_xcalloc(1, sizeof(*r));
	size_t n;

	if (to < from)
		to = from;
	if (to - from >= LG_REPORT_MAX_DAYS)
		to = from + LG_REPORT_MAX_DAYS - 1;
	n = (size_t)(to - from) + 1;
	r->from = from;
	r->to = to;
	r->region = region;
	r->days = lg_xcalloc(n, sizeof(*r->days));
	for (size_t i = 0; i < n; i++)
		r->days[i].day = from + (int32_t)i;
	return r;
}

/* Free a report. */
void
lg_report_free(struct lg_report *r)
{
	if (r == NULL)
		return;
	for (size_t i = 0; i < r->nhows; i++)
		free(r->hows[i]);
	free(r->days);
	free(r->keys);
	free(r);
}

/* The number of days. */
size_t
lg_report_ndays(const struct lg_report *r)
{
	return (size_t)(r->to - r->from) + 1;
}

/* Day i of the report. */
const struct lg_report_day *
lg_report_day(const struct lg_report *r, size_t i)
{
	return i < lg_report_ndays(r) ? &r->days[i] : NULL;
}

/* The records counted. */
uint64_t
lg_report_records(const struct lg_report *r)
{
	return r->records;
}

/* The number of forced-close hows seen. */
size_t
lg_report_nhows(const struct lg_report *r)
{
	return r->nhows;
}

/* The name of how i. */
const char *
lg_report_how(const struct lg_report *r, size_t i)
{
	return i < r->nhows ? r->hows[i] : NULL;
}

/* The day entry of an RFC 3339 string value's local date, or NULL if outside (or not a time). */
static struct lg_report_day *
day_of(struct lg_report *r, const struct lg_json_value *v)
{
	char s[64];
	int32_t d;

	if (v->type != LG_JSON_STRING || lg_json_string(v, s, sizeof(s)) < 10)
		return NULL;
	s[10] = '\0';
	if (lg_parse_date(s, &d) != 0 || d < r->from || d > r->to)
		return NULL;
	return &r->days[d - r->from];
}

/* A non-negative integer value (absent: dflt); -1 if it is not one. */
static int
uint_of(const struct lg_json_value *v, uint64_t dflt, uint64_t *out)
{
	uint64_t x = 0;

	if (v->type == LG_JSON_ABSENT) {
		*out = dflt;
		return 0;
	}
	if (v->type != LG_JSON_NUMBER || v->n == 0 || v->n > 19)
		return -1;
	for (size_t i = 0; i < v->n; i++) {
		if (v->p[i] < '0' || v->p[i] > '9')
			return -1;
		x = x * 10 + (uint64_t)(v->p[i] - '0');
	}
	*out = x;
	return 0;
}

/* Whether a string value equals s. */
static bool
str_is(const struct lg_json_value *v, const char *s)
{
	size_t n = strlen(s);

	return v->type == LG_JSON_STRING && v->n == n && memcmp(v->p, s, n) == 0;
}

/* Whether the record's region is in the report's (a null region only when all are). */
static bool
region_in(const struct lg_report *r, const struct lg_json_value *v)
{
	char s[16];
	char *end;
	unsigned long code;

	if (r->region == 0)
		return true;
	if (v->type != LG_JSON_STRING || lg_json_string(v, s, sizeof(s)) != 6)
		return false;
	code = strtoul(s, &end, 10);
	return *end == '\0' && lg_region_covers(r->region, (uint32_t)code);
}

/* The column of a forced-close how (a new one while there is room, else "other"). */
static size_t
how_index(struct lg_report *r, const struct lg_json_value *v)
{
	char s[128];

	if (v->type != LG_JSON_STRING || lg_json_string(v, s, sizeof(s)) < 0)
		snprintf(s, sizeof(s), "unknown");
	for (size_t i = 0; i < r->nhows; i++)
		if (strcmp(r->hows[i], s) == 0)
			return i;
	if (r->nhows < LG_REPORT_HOWS) {
		r->hows[r->nhows] = lg_strdup(s);
		return r->nhows++;
	}
	if (r->nhows == LG_REPORT_HOWS)
		r->hows[r->nhows++] = lg_strdup("other");
	return LG_REPORT_HOWS;
}

/* Count one record. */
int
lg_report_add(struct lg_report *r, const char *rec, size_t n, char *err, size_t errlen)
{
	enum { TYPE, TIME, REGION, RULE, ENFORCED, COUNT, START, DURATION, HOW, NNAMES };
	static const char *const names[NNAMES] = {"type",  "time",  "region",   "rule", "enforced",
	                                          "count", "start", "duration", "how"};
	struct lg_json_value v[NNAMES];
	struct lg_report_day *d;
	uint64_t count, secs;

	if (n > r->keycap) {
		r->keycap = n;
		r->keys = lg_xrealloc(r->keys, n, 1);
	}
	if (lg_json_parse(rec, n, r->keys, r->keycap, names, v, NNAMES) != 0 ||
	    v[TYPE].type != LG_JSON_STRING || v[TIME].type != LG_JSON_STRING)
		return lg_fail(err, errlen,
		               "not an audit record (a JSON object with type and time)");
	if (uint_of(&v[COUNT], 1, &count) != 0)
		return lg_fail(err, errlen, "its count is not a number");
	if (str_is(&v[TYPE], "lesson_end")) {
		if (!region_in(r, &v[REGION]) || (d = day_of(r, &v[START])) == NULL)
			return 0;
		if (uint_of(&v[DURATION], 0, &secs) != 0)
			return lg_fail(err, errlen, "its duration is not a number");
		d->lessons++;
		d->lesson_seconds += secs;
	} else if (str_is(&v[TYPE], "deny")) {
		int rule = -1;
		if (!region_in(r, &v[REGION]) || (d = day_of(r, &v[TIME])) == NULL)
			return 0;
		for (int k = LG_RULE_BLOCKED_DAY; k <= LG_RULE_LESSON_LIMIT; k++)
			if (str_is(&v[RULE], lg_rule_name((enum lg_rule)k)))
				rule = k - LG_RULE_BLOCKED_DAY;
		if (rule < 0)
			return lg_fail(err, errlen, "a deny record without a known rule");
		d->refusals[rule] += count;
		if (v[ENFORCED].type == LG_JSON_BOOL && v[ENFORCED].p[0] == 'f')
			d->not_enforced += count;
	} else if (str_is(&v[TYPE], "forced_close")) {
		if (!region_in(r, &v[REGION]) || (d = day_of(r, &v[TIME])) == NULL)
			return 0;
		d->forced[how_index(r, &v[HOW])]++;
		d->forced_total++;
	} else if (str_is(&v[TYPE], "unidentified")) {
		if (r->region != 0 || (d = day_of(r, &v[TIME])) == NULL)
			return 0;
		d->unidentified += count;
	} else {
		return 0;
	}
	r->records++;
	return 0;
}

/* The columns every format has, by name in English and Chinese. */
enum col {
	C_DATE,
	C_LESSONS,
	C_MINUTES,
	C_MEAN,
	C_BLOCKED,
	C_DAY_END,
	C_DAY_START,
	C_LIMIT,
	C_NOT_ENFORCED,
	C_FORCED,
	C_UNIDENTIFIED,
	NCOLS
};

static const struct {
	const char *key, *text, *zh, *en; /* CSV header, text header, HTML headings */
} cols[NCOLS] = {
    {"date", "date", "日期", "Date"},
    {"lessons", "lessons", "课次", "Lessons"},
    {"lesson_minutes", "minutes", "总时长(分钟)", "Total minutes"},
    {"mean_minutes", "mean", "平均时长(分钟)", "Mean minutes"},
    {"refused_blocked_day", "blocked_day", "拒绝:禁止日", "Refused: blocked day"},
    {"refused_day_end", "day_end", "拒绝:超过结束时间", "Refused: after day end"},
    {"refused_day_start", "day_start", "拒绝:早于开始时间", "Refused: before day start"},
    {"refused_lesson_limit", "lesson_limit", "拒绝:课时超限", "Refused: lesson limit"},
    {"refused_not_enforced", "not_enforced", "仅记录未拒绝(监测模式)", "Not enforced (monitor)"},
    {"forced_closes", "forced", "强制结束", "Forced closes"},
    {"unidentified", "unidentified", "未识别身份", "Unidentified"},
};

/* The cell of column c for a day (text; a NULL day: the total over tot). */
static void
cell(const struct lg_report_day *d, enum col c, char *out, size_t cap)
{
	switch (c) {
	case C_DATE:
		lg_format_date(d->day, out);
		break;
	case C_LESSONS:
		snprintf(out, cap, "%" PRIu64, d->lessons);
		break;
	case C_MINUTES:
		snprintf(out, cap, "%.1f", (double)d->lesson_seconds / 60.0);
		break;
	case C_MEAN:
		snprintf(out, cap, "%.1f",
		         d->lessons ? (double)d->lesson_seconds / 60.0 / (double)d->lessons : 0.0);
		break;
	case C_BLOCKED:
	case C_DAY_END:
	case C_DAY_START:
	case C_LIMIT:
		snprintf(out, cap, "%" PRIu64, d->refusals[c - C_BLOCKED]);
		break;
	case C_NOT_ENFORCED:
		snprintf(out, cap, "%" PRIu64, d->not_enforced);
		break;
	case C_FORCED:
		snprintf(out, cap, "%" PRIu64, d->forced_total);
		break;
	case C_UNIDENTIFIED:
	default:
		snprintf(out, cap, "%" PRIu64, d->unidentified);
		break;
	}
}

/* Every day summed up (its date: LG_REPORT_NONE is not needed, the caller prints "total"). */
static void
total(const struct lg_report *r, struct lg_report_day *t)
{
	memset(t, 0, sizeof(*t));
	for (size_t i = 0; i < lg_report_ndays(r); i++) {
		const struct lg_report_day *d = &r->days[i];
		t->lessons += d->lessons;
		t->lesson_seconds += d->lesson_seconds;
		for (int k = 0; k < LG_REPORT_RULES; k++)
			t->refusals[k] += d->refusals[k];
		t->not_enforced += d->not_enforced;
		for (int k = 0; k <= LG_REPORT_HOWS; k++)
			t->forced[k] += d->forced[k];
		t->forced_total += d->forced_total;
		t->unidentified += d->unidentified;
	}
}

/* What the report covers, in one line (no newline). */
static void
heading(const struct lg_report *r, const char *title, struct lg_buf *b)
{
	char from[16], to[16];

	lg_format_date(r->from, from);
	lg_format_date(r->to, to);
	lg_buf_printf(b, "%s, %s .. %s, ", title ? title : "", from, to);
	if (r->region)
		lg_buf_printf(b, "region %06u", r->region);
	else
		LG_BUF_LIT(b, "all regions");
}

/* Pad s to width w (right-aligned unless left). */
static void
padded(struct lg_buf *b, const char *s, size_t w, bool left)
{
	size_t n = strlen(s);

	if (left)
		lg_buf_add(b, s, n);
	for (; n < w; n++)
		LG_BUF_LIT(b, " ");
	if (!left)
		lg_buf_add(b, s, strlen(s));
}

/* The text form: a heading, aligned columns, a total, then forced closes by how. */
static void
write_text(const struct lg_report *r, const char *title, struct lg_buf *b)
{
	size_t w[NCOLS], nd = lg_report_ndays(r);
	struct lg_report_day t;
	char s[48];

	total(r, &t);
	LG_BUF_LIT(b, "lessongate audit report: ");
	heading(r, title, b);
	LG_BUF_LIT(b, "\nminutes: lessons by the day they began; blocked_day .. lesson_limit: "
	              "refusals by rule\n(not_enforced: of those, monitor mode's); forced: lessons "
	              "closed at their deadline\n\n");
	for (int c = 0; c < NCOLS; c++) {
		w[c] = strlen(cols[c].text);
		for (size_t i = 0; i <= nd; i++) {
			cell(i < nd ? &r->days[i] : &t, (enum col)c, s, sizeof(s));
			if (strlen(s) > w[c])
				w[c] = strlen(s);
		}
	}
	for (int c = 0; c < NCOLS; c++) {
		padded(b, cols[c].text, w[c], c == C_DATE);
		lg_buf_printf(b, "%s", c + 1 < NCOLS ? "  " : "\n");
	}
	for (size_t i = 0; i <= nd; i++) {
		for (int c = 0; c < NCOLS; c++) {
			if (i == nd && c == C_DATE)
				snprintf(s, sizeof(s), "total");
			else
				cell(i < nd ? &r->days[i] : &t, (enum col)c, s, sizeof(s));
			padded(b, s, w[c], c == C_DATE);
			lg_buf_printf(b, "%s", c + 1 < NCOLS ? "  " : "\n");
		}
	}
	if (t.forced_total == 0)
		return;
	LG_BUF_LIT(b, "\nforced closes by how:\n");
	for (size_t i = 0; i < nd; i++)
		for (size_t k = 0; k < r->nhows; k++) {
			if (r->days[i].forced[k] == 0)
				continue;
			lg_format_date(r->days[i].day, s);
			lg_buf_printf(b, "%s  %" PRIu64 "  %s\n", s, r->days[i].forced[k],
			              r->hows[k]);
		}
}

/* The CSV form: a header line, then a row per day (CRLF; fields quoted when needed). */
static void
write_csv(const struct lg_report *r, struct lg_buf *b)
{
	char s[48], name[160];

	for (int c = 0; c < NCOLS; c++) {
		lg_buf_csv(b, cols[c].key);
		LG_BUF_LIT(b, ",");
	}
	for (size_t k = 0; k < r->nhows; k++) {
		snprintf(name, sizeof(name), "forced_close:%s", r->hows[k]);
		lg_buf_csv(b, name);
		lg_buf_printf(b, "%s", k + 1 < r->nhows ? "," : "");
	}
	if (r->nhows == 0)
		b->len--; /* the last comma */
	LG_BUF_LIT(b, "\r\n");
	for (size_t i = 0; i < lg_report_ndays(r); i++) {
		for (int c = 0; c < NCOLS; c++) {
			cell(&r->days[i], (enum col)c, s, sizeof(s));
			lg_buf_add(b, s, strlen(s));
			if (c + 1 < NCOLS || r->nhows)
				LG_BUF_LIT(b, ",");
		}
		for (size_t k = 0; k < r->nhows; k++)
			lg_buf_printf(b, "%" PRIu64 "%s", r->days[i].forced[k],
			              k + 1 < r->nhows ? "," : "");
		LG_BUF_LIT(b, "\r\n");
	}
}

/* The chart: per day a bar of lessons and one of refusals, scaled to the largest. */
static void
write_svg(const struct lg_report *r, struct lg_buf *b)
{
	size_t nd = lg_report_ndays(r);
	uint64_t max = 1;
	int bw = nd > 90 ? 4 : nd > 31 ? 8 : 16, gap = bw / 2, h = 200, left = 40;
	int width = left + (int)nd * (2 * bw + gap) + 20;
	char date[16];

	for (size_t i = 0; i < nd; i++) {
		const struct lg_report_day *d = &r->days[i];
		uint64_t ref = d->refusals[0] + d->refusals[1] + d->refusals[2] + d->refusals[3];
		if (d->lessons > max)
			max = d->lessons;
		if (ref > max)
			max = ref;
	}
	lg_buf_printf(b,
	              "<svg role=\"img\" width=\"%d\" "
	              "height=\"%d\" viewBox=\"0 0 %d %d\">\n"
	              "<title>课次与拒绝 / Lessons and refusals per day</title>\n"
	              "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" class=\"axis\"/>\n"
	              "<text x=\"%d\" y=\"12\" class=\"tick\" text-anchor=\"end\">%" PRIu64
	              "</text>\n<text x=\"%d\" y=\"%d\" class=\"tick\" "
	              "text-anchor=\"end\">0</text>\n",
	              width, h + 40, width, h + 40, left, h + 10, width - 10, h + 10, left - 4, max,
	              left - 4, h + 10);
	for (size_t i = 0; i < nd; i++) {
		const struct lg_report_day *d = &r->days[i];
		uint64_t ref = d->refusals[0] + d->refusals[1] + d->refusals[2] + d->refusals[3];
		int x = left + 4 + (int)i * (2 * bw + gap);
		int hl = (int)(d->lessons * (uint64_t)h / max), hr = (int)(ref * (uint64_t)h / max);

		lg_format_date(d->day, date);
		lg_buf_printf(b,
		              "<rect class=\"lessons\" x=\"%d\" y=\"%d\" width=\"%d\" "
		              "height=\"%d\"><title>%s: %" PRIu64 " lessons</title></rect>\n"
		              "<rect class=\"refusals\" x=\"%d\" y=\"%d\" width=\"%d\" "
		              "height=\"%d\"><title>%s: %" PRIu64 " refusals</title></rect>\n",
		              x, h + 10 - hl, bw, hl, date, d->lessons, x + bw, h + 10 - hr, bw, hr,
		              date, ref);
		if (nd <= 31 || i % 7 == 0)
			lg_buf_printf(b,
			              "<text x=\"%d\" y=\"%d\" class=\"tick\" "
			              "text-anchor=\"middle\">%s</text>\n",
			              x + bw, h + 26, date + 5);
	}
	LG_BUF_LIT(b, "</svg>\n");
}

/* The HTML form: one self-contained page (inline CSS and SVG, no script, nothing fetched). */
static void
write_html(const struct lg_report *r, const char *title, struct lg_buf *b)
{
	struct lg_buf h = {0};
	struct lg_report_day t;
	size_t nd = lg_report_ndays(r);
	char s[48];

	total(r, &t);
	heading(r, title, &h);
	lg_buf_add(&h, "", 1);
	LG_BUF_LIT(b, "<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n<meta charset=\"utf-8\">\n"
	              "<title>监管审计报告 / Audit report</title>\n<style>\n"
	              "body{font-family:sans-serif;margin:2em;color:#222}\n"
	              "h1,h2{font-weight:600}\n.en{color:#555}\n"
	              "table{border-collapse:collapse;margin:1em 0}\n"
	              "th,td{border:1px solid #ccc;padding:.3em .6em}\n"
	              "td{text-align:right}\ntd:first-child{text-align:left}\n"
	              "th{background:#f3f3f3;font-size:.85em}\ntr.total td{font-weight:600}\n"
	              ".lessons{fill:#3b6ea5}\n.refusals{fill:#c0392b}\n"
	              ".axis{stroke:#888}\n.tick{font-size:10px;fill:#555}\n"
	              ".key span{display:inline-block;width:1em;height:1em;margin:0 .3em}\n"
	              "</style>\n</head>\n<body>\n"
	              "<h1>监管审计报告 <span class=\"en\">/ Audit report</span></h1>\n<p>");
	lg_buf_html(b, h.data);
	lg_buf_printf(b, " — %" PRIu64 " records / 条记录</p>\n", r->records);
	lg_buf_free(&h);
	LG_BUF_LIT(b, "<h2>每日课次与拒绝 <span class=\"en\">/ Lessons and refusals per "
	              "day</span></h2>\n<p class=\"key\"><span class=\"lessons\" "
	              "style=\"background:#3b6ea5\"></span>课次 / lessons <span "
	              "class=\"refusals\" style=\"background:#c0392b\"></span>拒绝 / "
	              "refusals</p>\n");
	write_svg(r, b);
	LG_BUF_LIT(b, "<h2>每日明细 <span class=\"en\">/ Per day</span></h2>\n<table>\n<tr>");
	for (int c = 0; c < NCOLS; c++) {
		LG_BUF_LIT(b, "<th>");
		lg_buf_html(b, cols[c].zh);
		LG_BUF_LIT(b, "<br><span class=\"en\">");
		lg_buf_html(b, cols[c].en);
		LG_BUF_LIT(b, "</span></th>");
	}
	LG_BUF_LIT(b, "</tr>\n");
	for (size_t i = 0; i <= nd; i++) {
		lg_buf_printf(b, "%s", i < nd ? "<tr>" : "<tr class=\"total\">");
		for (int c = 0; c < NCOLS; c++) {
			if (i == nd && c == C_DATE)
				snprintf(s, sizeof(s), "合计 / Total");
			else
				cell(i < nd ? &r->days[i] : &t, (enum col)c, s, sizeof(s));
			LG_BUF_LIT(b, "<td>");
			lg_buf_html(b, s);
			LG_BUF_LIT(b, "</td>");
		}
		LG_BUF_LIT(b, "</tr>\n");
	}
	LG_BUF_LIT(b, "</table>\n");
	if (t.forced_total) {
		LG_BUF_LIT(b, "<h2>强制结束方式 <span class=\"en\">/ Forced closes by "
		              "how</span></h2>\n<table>\n<tr><th>日期<br><span "
		              "class=\"en\">Date</span></th><th>方式<br><span "
		              "class=\"en\">How</span></th><th>次数<br><span "
		              "class=\"en\">Count</span></th></tr>\n");
		for (size_t i = 0; i < nd; i++)
			for (size_t k = 0; k < r->nhows; k++) {
				if (r->days[i].forced[k] == 0)
					continue;
				lg_format_date(r->days[i].day, s);
				lg_buf_printf(b, "<tr><td>%s</td><td>", s);
				lg_buf_html(b, r->hows[k]);
				lg_buf_printf(b, "</td><td>%" PRIu64 "</td></tr>\n",
				              r->days[i].forced[k]);
			}
		LG_BUF_LIT(b, "</table>\n");
	}
	LG_BUF_LIT(b, "<p class=\"en\">Times are the records' local times; a lesson counts on "
	              "the day it began; a flood of repeated refusals counts every "
	              "repeat.</p>\n</body>\n</html>\n");
}

/* The report in a format. */
void
lg_report_write(const struct lg_report *r, enum lg_report_format f, const char *title,
                struct lg_buf *b)
{
	if (f == LG_REPORT_CSV)
		write_csv(r, b);
	else if (f == LG_REPORT_HTML)
		write_html(r, title, b);
	else
		write_text(r, title, b);
}
