/* What a student is told: refusal bodies (JSON or a bilingual page) and times. */
#include "render.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logfmt.h"

/* Make room for n more bytes and a terminating NUL. */
static void
reserve(struct lg_buf *b, size_t n)
{
	if (b->len + n + 1 <= b->cap)
		return;
	while (b->len + n + 1 > b->cap)
		b->cap = b->cap ? b->cap * 2 : 256;
	b->data = lg_xrealloc(b->data, b->cap, 1);
}

/* Release the buffer. */
void
lg_buf_free(struct lg_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

/* Append bytes. */
void
lg_buf_add(struct lg_buf *b, const char *s, size_t n)
{
	reserve(b, n);
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

/* Append formatted text. */
void
lg_buf_printf(struct lg_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n <= 0)
		return;
	reserve(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* Append s as a JSON string literal, quotes included. */
void
lg_buf_json_str(struct lg_buf *b, const char *s)
{
	lg_buf_json_strn(b, s ? s : "", s ? strlen(s) : 0);
}

/*
 * Append s[0..n) as a JSON string literal: `"` and `\` escaped, control bytes
 * and DEL as \u00XX, each byte that is not part of valid UTF-8 as \ufffd, so
 * any bytes make valid JSON on one line.
 */
void
lg_buf_json_strn(struct lg_buf *b, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, run = 0;

	LG_BUF_LIT(b, "\"");
	while (i < n) {
		unsigned char c = p[i];
		size_t l = 1;

		if (c >= 0x20 && c != '"' && c != '\\' && c < 0x7f) {
			i++;
			run++;
			continue;
		}
		lg_buf_add(b, s + i - run, run);
		run = 0;
		if (c == '"' || c == '\\') {
			char e[2] = {'\\', (char)c};
			lg_buf_add(b, e, 2);
		} else if (c < 0x20 || c == 0x7f) {
			lg_buf_printf(b, "\\u%04x", c);
		} else if ((l = lg_utf8_len(p + i, n - i)) > 0) {
			lg_buf_add(b, s + i, l);
		} else {
			LG_BUF_LIT(b, "\\ufffd");
			l = 1;
		}
		i += l;
	}
	lg_buf_add(b, s + i - run, run);
	LG_BUF_LIT(b, "\"");
}

/* HTML text escaping. */
void
lg_buf_html(struct lg_buf *b, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '<':
			LG_BUF_LIT(b, "&lt;");
			break;
		case '>':
			LG_BUF_LIT(b, "&gt;");
			break;
		case '&':
			LG_BUF_LIT(b, "&amp;");
			break;
		case '"':
			LG_BUF_LIT(b, "&quot;");
			break;
		case '\'':
			LG_BUF_LIT(b, "&#39;");
			break;
		default:
			lg_buf_add(b, s, 1);
		}
	}
}

/* One CSV field, quoted only when it has to be. */
void
lg_buf_csv(struct lg_buf *b, const char *s)
{
	if (s == NULL || strpbrk(s, ",\"\r\n") == NULL) {
		lg_buf_add(b, s ? s : "", s ? strlen(s) : 0);
		return;
	}
	LG_BUF_LIT(b, "\"");
	for (; *s; s++) {
		if (*s == '"')
			LG_BUF_LIT(b, "\"");
		lg_buf_add(b, s, 1);
	}
	LG_BUF_LIT(b, "\"");
}

/* Split a unix time into local date and time of day. */
static void
local_parts(int64_t t, const struct lg_tz *tz, int *y, int *mo, int *d, int *h, int *mi, int *s,
            int32_t *off)
{
	int64_t local;
	int32_t day, sod;

	*off = lg_tz_offset(tz, t);
	local = t + *off;
	day = lg_day_of(local);
	sod = (int32_t)(local - (int64_t)day * LG_DAY_SECONDS);
	lg_civil_from_days(day, y, mo, d);
	*h = sod / 3600;
	*mi = sod / 60 % 60;
	*s = sod % 60;
}

/* Two decimal digits of v % 100. */
static void
two(char *p, int v)
{
	v %= 100;
	p[0] = (char)('0' + v / 10);
	p[1] = (char)('0' + v % 10);
}

/* RFC 3339 with the zone's offset. */
void
lg_format_rfc3339(int64_t t, const struct lg_tz *tz, char *buf)
{
	int y, mo, d, h, mi, s;
	int32_t off, a;

	local_parts(t, tz, &y, &mo, &d, &h, &mi, &s, &off);
	a = off < 0 ? -off : off;
	if (y < 0) {
		snprintf(buf, 32, "%04d-%02d-%02dT%02d:%02d:%02d%c%02d:%02d", y % 10000, mo % 100,
		         d % 100, h % 100, mi % 100, s % 100, off < 0 ? '-' : '+', a / 3600 % 100,
		         a / 60 % 60);
		return;
	}
	/* Digit by digit: this is on every allowed request's path (Lessongate-Deadline). */
	y %= 10000;
	buf[0] = (char)('0' + y / 1000);
	buf[1] = (char)('0' + y / 100 % 10);
	buf[2] = (char)('0' + y / 10 % 10);
	buf[3] = (char)('0' + y % 10);
	buf[4] = '-';
	two(buf + 5, mo);
	buf[7] = '-';
	two(buf + 8, d);
	buf[10] = 'T';
	two(buf + 11, h);
	buf[13] = ':';
	two(buf + 14, mi);
	buf[16] = ':';
	two(buf + 17, s);
	buf[19] = off < 0 ? '-' : '+';
	two(buf + 20, a / 3600);
	buf[22] = ':';
	two(buf + 23, a / 60 % 60);
	buf[25] = '\0';
}

/* Local "YYYY-MM-DD HH:MM" for people. */
void
lg_format_local(int64_t t, const struct lg_tz *tz, char *buf)
{
	int y, mo, d, h, mi, s;
	int32_t off;

	local_parts(t, tz, &y, &mo, &d, &h, &mi, &s, &off);
	snprintf(buf, 32, "%04d-%02d-%02d %02d:%02d", y % 10000, mo % 100, d % 100, h % 100,
	         mi % 100);
}

/* 429 when only the lesson clock refused; 451 when law-given days and hours did. */
int
lg_refusal_status(enum lg_rule r)
{
	return r == LG_RULE_LESSON_LIMIT ? 429 : 451;
}

/* A day kind in Chinese. */
static const char *
kind_zh(enum lg_day_kind k)
{
	switch (k) {
	case LG_DAY_HOLIDAY:
		return "法定节假日";
	case LG_DAY_REST:
		return "休息日";
	case LG_DAY_VACATION:
		return "寒暑假";
	case LG_DAY_MAKEUP:
		return "调休工作日";
	case LG_DAY_UNKNOWN:
		return "尚未载入节假日安排的日期";
	default:
		return "工作日";
	}
}

/* A day kind in English. */
static const char *
kind_en(enum lg_day_kind k)
{
	switch (k) {
	case LG_DAY_HOLIDAY:
		return "a statutory holiday";
	case LG_DAY_REST:
		return "a rest day";
	case LG_DAY_VACATION:
		return "a school vacation day";
	case LG_DAY_MAKEUP:
		return "a make-up workday";
	case LG_DAY_UNKNOWN:
		return "a day with no holiday calendar loaded";
	default:
		return "a workday";
	}
}

/* "30 分钟", or "90 秒" when not whole minutes (the demo's short rules). */
static void
span_zh(struct lg_buf *b, int32_t s)
{
	if (s % 60 == 0)
		lg_buf_printf(b, "%d 分钟", s / 60);
	else
		lg_buf_printf(b, "%d 秒", s);
}

/* "10 minutes", "1 minute", or "90 seconds" when not whole minutes. */
static void
span_en(struct lg_buf *b, int32_t s)
{
	if (s % 60 == 0 && s != 0)
		lg_buf_printf(b, "%d minute%s", s / 60, s == 60 ? "" : "s");
	else
		lg_buf_printf(b, "%d second%s", s, s == 1 ? "" : "s");
}

/* Explain a refusal in Chinese and English, one sentence each. */
static void
explain(const struct lg_refusal *r, struct lg_buf *zh, struct lg_buf *en)
{
	const struct lg_class_rules *cr = r->rules;
	int end_h = cr->day_end / 3600, end_m = cr->day_end / 60 % 60;

	switch (r->d->rule) {
	case LG_RULE_LESSON_LIMIT:
		LG_BUF_LIT(zh, "本节线上课程已达 ");
		span_zh(zh, cr->lesson_max);
		LG_BUF_LIT(zh, "上限，课程间隔不少于 ");
		span_zh(zh, cr->break_min);
		LG_BUF_LIT(zh, "。");
		if (cr->lesson_max % 60 == 0)
			lg_buf_printf(en, "This online lesson has reached its %d-minute limit",
			              cr->lesson_max / 60);
		else
			lg_buf_printf(en, "This online lesson has reached its %d-second limit",
			              cr->lesson_max);
		LG_BUF_LIT(en, "; lessons must be at least ");
		span_en(en, cr->break_min);
		LG_BUF_LIT(en, " apart.");
		break;
	case LG_RULE_DAY_END:
		lg_buf_printf(zh, "线上培训结束时间不晚于 %02d:%02d。", end_h, end_m);
		lg_buf_printf(en, "Online training ends at %02d:%02d.", end_h, end_m);
		break;
	case LG_RULE_DAY_START:
		lg_buf_printf(zh, "今天的线上培训从 %02d:%02d 开始。", cr->day_start / 3600,
		              cr->day_start / 60 % 60);
		lg_buf_printf(en, "Online training starts at %02d:%02d.", cr->day_start / 3600,
		              cr->day_start / 60 % 60);
		break;
	default:
		lg_buf_printf(zh, "今天是%s%s%s%s，不得组织学科类培训。", kind_zh(r->d->day.kind),
		              r->d->day.name ? "（" : "", r->d->day.name ? r->d->day.name : "",
		              r->d->day.name ? "）" : "");
		lg_buf_printf(en,
		              "Today is %s%s%s%s: no subject training is held on statutory "
		              "holidays, rest days or school vacations.",
		              kind_en(r->d->day.kind), r->d->day.name ? " (" : "",
		              r->d->day.name ? r->d->day.name : "", r->d->day.name ? ")" : "");
		break;
	}
}

/* The page's head and style, shared by the refusal and sign-in pages. */
static void
page_head(struct lg_buf *b, const char *title)
{
	lg_buf_printf(b,
	              "<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n<meta charset=\"utf-8\">\n"
	              "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	              "<title>%s</title>\n<style>body{font-family:sans-serif;max-width:40em;"
	              "margin:3em auto;padding:0 1em;line-height:1.6;color:#222}"
	              "h1{font-size:1.4em}.en{color:#555}.when{font-size:1.2em;font-weight:bold}"
	              "</style>\n</head>\n<body>\n",
	              title);
}

/* {"error": ..., "rule": ..., "message": ..., "retry_after": ..., ...} */
void
lg_render_refusal_json(struct lg_buf *b, const struct lg_refusal *r)
{
	struct lg_buf zh = {0}, en = {0};
	char when[32];

	explain(r, &zh, &en);
	lg_buf_printf(b, "{\"error\":\"%s\",\"rule\":\"%s\",\"class\":\"%s\",\"enforced\":%s,",
	              r->d->rule == LG_RULE_LESSON_LIMIT ? "lesson_limit" : "not_allowed_now",
	              lg_rule_name(r->d->rule), lg_class_name(r->cls),
	              r->d->enforced ? "true" : "false");
	LG_BUF_LIT(b, "\"message\":");
	lg_buf_json_str(b, en.data);
	LG_BUF_LIT(b, ",\"message_zh\":");
	lg_buf_json_str(b, zh.data);
	if (r->d->retry_at > 0) {
		lg_format_rfc3339(r->d->retry_at, r->tz, when);
		lg_buf_printf(b, ",\"retry_after\":%lld,\"retry_at\":\"%s\"",
		              (long long)r->d->retry_after, when);
	} else {
		LG_BUF_LIT(b, ",\"retry_after\":null,\"retry_at\":null");
	}
	lg_buf_printf(b, ",\"day\":{\"kind\":\"%s\",\"name\":", lg_day_kind_name(r->d->day.kind));
	if (r->d->day.name)
		lg_buf_json_str(b, r->d->day.name);
	else
		LG_BUF_LIT(b, "null");
	LG_BUF_LIT(b, "},\"regulation\":");
	lg_buf_json_str(b, r->regulation_url);
	LG_BUF_LIT(b, "}\n");
	lg_buf_free(&zh);
	lg_buf_free(&en);
}

/* A small self-contained page: no scripts, no external resources. */
void
lg_render_refusal_html(struct lg_buf *b, const struct lg_refusal *r)
{
	struct lg_buf zh = {0}, en = {0};
	char when[32];
	bool limit = r->d->rule == LG_RULE_LESSON_LIMIT;

	explain(r, &zh, &en);
	page_head(b, limit ? "休息一下 / Time for a break" : "现在不能上课 / No lessons now");
	lg_buf_printf(b, "<h1>%s</h1>\n<p>",
	              limit ? "休息一下 <span class=\"en\">/ Time for a break</span>"
	                    : "现在不能上课 <span class=\"en\">/ No lessons now</span>");
	lg_buf_html(b, zh.data);
	LG_BUF_LIT(b, "</p>\n<p class=\"en\">");
	lg_buf_html(b, en.data);
	LG_BUF_LIT(b, "</p>\n");
	if (r->d->retry_at > 0) {
		lg_format_local(r->d->retry_at, r->tz, when);
		lg_buf_printf(b,
		              "<p class=\"when\">可以再来的时间 / You may come back at: %s "
		              "(%s)",
		              when, lg_tz_name(r->tz));
		if (r->d->retry_after < 3600) {
			LG_BUF_LIT(b, " — ");
			span_zh(b, (int32_t)r->d->retry_after);
			LG_BUF_LIT(b, "后 / in ");
			span_en(b, (int32_t)r->d->retry_after);
		}
		LG_BUF_LIT(b, "</p>\n");
	}
	LG_BUF_LIT(b, "<p><small>依据 / Under: ");
	lg_buf_html(b, "《关于进一步减轻义务教育阶段学生作业负担和校外培训负担的意见》 — "
	               "线上培训每课时不超过30分钟，课程间隔不少于10分钟，培训结束时间不晚于21:00；"
	               "不得占用国家法定节假日、休息日及寒暑假期组织学科类培训。");
	LG_BUF_LIT(b, " <a href=\"");
	lg_buf_html(b, r->regulation_url);
	LG_BUF_LIT(b, "\">");
	lg_buf_html(b, r->regulation_url);
	LG_BUF_LIT(b, "</a></small></p>\n</body>\n</html>\n");
	lg_buf_free(&zh);
	lg_buf_free(&en);
}

/* A small self-contained page: no scripts, no external resources. */
void
lg_render_unauthorized_html(struct lg_buf *b, const char *login_url, const char *reason)
{
	bool sent = strcmp(reason, "missing token") != 0 && strcmp(reason, "no identity") != 0;

	page_head(b, "请先登录 / Please sign in");
	LG_BUF_LIT(b, "<h1>请先登录 <span class=\"en\">/ Please sign in</span></h1>\n");
	if (sent) {
		LG_BUF_LIT(
		    b, "<p>登录信息无效或已过期，请重新登录。</p>\n<p class=\"en\">Your sign-in "
		       "could not be accepted (");
		lg_buf_html(b, reason);
		LG_BUF_LIT(b, "); please sign in again.</p>\n");
	} else {
		LG_BUF_LIT(b, "<p>上课前请先登录。</p>\n<p class=\"en\">Please sign in before "
		              "joining a lesson.</p>\n");
	}
	if (login_url != NULL) {
		LG_BUF_LIT(b, "<p class=\"when\"><a href=\"");
		lg_buf_html(b, login_url);
		LG_BUF_LIT(b, "\">登录 / Sign in</a></p>\n");
	} else {
		LG_BUF_LIT(b, "<p>请回到平台登录后再进入课堂。<span class=\"en\"> Sign in on the "
		              "platform, then come back to the lesson.</span></p>\n");
	}
	LG_BUF_LIT(b, "</body>\n</html>\n");
}

/* The q value of an Accept element's parameters (1 if none, 0 on nonsense). */
static double
q_of(const char *p, const char *end)
{
	while (p < end) {
		const char *semi = memchr(p, ';', (size_t)(end - p));
		const char *stop = semi ? semi : end;
		while (p < stop && (*p == ' ' || *p == '\t'))
			p++;
		if (stop - p >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
			char tmp[8];
			size_t n = (size_t)(stop - p - 2);
			if (n == 0 || n >= sizeof(tmp))
				return 0;
			memcpy(tmp, p + 2, n);
			tmp[n] = '\0';
			return atof(tmp);
		}
		p = semi ? semi + 1 : end;
	}
	return 1;
}

/* How well one media range matches type/subtype: 3 exact, 2 type/ *, 1 * / *, 0 no. */
static int
specificity(const char *r, size_t n, const char *type, const char *sub)
{
	size_t tl = strlen(type), sl = strlen(sub);

	if (n == tl + 1 + sl && strncasecmp(r, type, tl) == 0 && r[tl] == '/' &&
	    strncasecmp(r + tl + 1, sub, sl) == 0)
		return 3;
	if (n == tl + 2 && strncasecmp(r, type, tl) == 0 && r[tl] == '/' && r[tl + 1] == '*')
		return 2;
	if (n == 3 && memcmp(r, "*/*", 3) == 0)
		return 1;
	return 0;
}

/* The q an Accept header gives a media type (its most specific matching range). */
static double
accept_q(const char *a, size_t len, const char *type, const char *sub)
{
	const char *p = a, *end = a + len;
	int best = 0;
	double q = 0;

	while (p < end) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		const char *stop = comma ? comma : end;
		const char *semi = memchr(p, ';', (size_t)(stop - p));
		const char *rend = semi ? semi : stop;
		int sp;

		while (p < rend && (*p == ' ' || *p == '\t'))
			p++;
		while (rend > p && (rend[-1] == ' ' || rend[-1] == '\t'))
			rend--;
		sp = specificity(p, (size_t)(rend - p), type, sub);
		if (sp > best) {
			best = sp;
			q = semi ? q_of(semi + 1, stop) : 1;
		}
		p = comma ? comma + 1 : end;
	}
	return q;
}

/* HTML only when the client ranks it above JSON. */
bool
lg_accept_prefers_html(const char *accept, size_t len)
{
	if (accept == NULL || len == 0)
		return false;
	return accept_q(accept, len, "text", "html") > accept_q(accept, len, "application", "json");
}
