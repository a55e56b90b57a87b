/* iCalendar out: runs of special days as all-day events, written to RFC 5545. */
#include "calendar_ics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"

#define ICS_LINE_OCTETS 75

/* Append one content line folded at 75 octets (never inside a UTF-8 sequence), with CRLF. */
static void
ics_line(struct lg_buf *b, const char *s, size_t n)
{
	size_t used = 0; /* octets on the current physical line */

	for (size_t i = 0; i < n;) {
		size_t k = 1;
		while (i + k < n && ((unsigned char)s[i + k] & 0xc0) == 0x80)
			k++;
		if (used + k > ICS_LINE_OCTETS) {
			LG_BUF_LIT(b, "\r\n ");
			used = 1;
		}
		lg_buf_add(b, s + i, k);
		used += k;
		i += k;
	}
	LG_BUF_LIT(b, "\r\n");
}

/* Append a property NAME:VALUE with the value escaped as TEXT (RFC 5545, 3.3.11). */
static void
ics_text(struct lg_buf *b, const char *name, const char *value)
{
	struct lg_buf line = {0};

	lg_buf_printf(&line, "%s:", name);
	for (const char *p = value; *p; p++) {
		switch (*p) {
		case '\\':
		case ';':
		case ',':
			lg_buf_add(&line, "\\", 1);
			lg_buf_add(&line, p, 1);
			break;
		case '\n':
			LG_BUF_LIT(&line, "\\n");
			break;
		case '\r':
			break;
		default:
			lg_buf_add(&line, p, 1);
		}
	}
	ics_line(b, line.data, line.len);
	lg_buf_free(&line);
}

/* Append a preformatted line. */
static void
ics_fmt(struct lg_buf *b, const char *fmt, const char *arg)
{
	char line[256];
	int n = snprintf(line, sizeof(line), fmt, arg);

	ics_line(b, line, n < (int)sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

/* "20261001" for a day (buf of 16 bytes). */
static void
ics_date(int32_t day, char *buf)
{
	int y, m, d;

	lg_civil_from_days(day, &y, &m, &d);
	snprintf(buf, 16, "%04d%02d%02d", y % 10000, m % 100, d % 100);
}

/* Whether a day goes into the feed: anything that is not an ordinary weekday or weekend. */
static bool
listed(const struct lg_day *d)
{
	switch (d->kind) {
	case LG_DAY_HOLIDAY:
	case LG_DAY_VACATION:
	case LG_DAY_MAKEUP:
		return d->name != NULL;
	case LG_DAY_REST:
		return d->name != NULL; /* a regional rest day; weekends have no name */
	case LG_DAY_WORKDAY:
	case LG_DAY_UNKNOWN:
		break;
	}
	return false;
}

/* The bilingual description of a kind, and whether subject lessons run. */
static void
describe(struct lg_buf *b, enum lg_day_kind k, unsigned blocked)
{
	struct lg_day d = {.kind = k};
	bool off = lg_day_blocked(&d, blocked);

	switch (k) {
	case LG_DAY_HOLIDAY:
		LG_BUF_LIT(b, "法定节假日 statutory holiday");
		break;
	case LG_DAY_VACATION:
		LG_BUF_LIT(b, "寒暑假 school vacation");
		break;
	case LG_DAY_MAKEUP:
		LG_BUF_LIT(b, "调休上班 make-up workday");
		break;
	default:
		LG_BUF_LIT(b, "休息日 rest day");
		break;
	}
	if (off)
		LG_BUF_LIT(b, ": 学科类培训暂停 no subject lessons");
	else
		LG_BUF_LIT(b, ": 学科类培训照常 subject lessons as on a workday");
}

/* One VEVENT for the days first..last of one kind and name. */
static void
ics_event(struct lg_buf *b, const struct lg_ics_feed *f, const struct lg_day *d, int32_t first,
          int32_t last, const char *region, const char *stamp)
{
	struct lg_buf desc = {0};
	char date[16], end[16], line[160];

	ics_date(first, date);
	ics_date(last + 1, end);
	LG_BUF_LIT(b, "BEGIN:VEVENT\r\n");
	snprintf(line, sizeof(line), "UID:%s-%s-%s@lessongate", date, lg_day_kind_name(d->kind),
	         region);
	ics_line(b, line, strlen(line));
	ics_fmt(b, "DTSTAMP:%s", stamp);
	ics_fmt(b, "DTSTART;VALUE=DATE:%s", date);
	ics_fmt(b, "DTEND;VALUE=DATE:%s", end);
	ics_text(b, "SUMMARY", d->name);
	describe(&desc, d->kind, f->subject_blocked);
	ics_text(b, "DESCRIPTION", desc.data);
	ics_fmt(b, "CATEGORIES:%s", lg_day_kind_name(d->kind));
	LG_BUF_LIT(b, "TRANSP:TRANSPARENT\r\n");
	LG_BUF_LIT(b, "END:VEVENT\r\n");
	lg_buf_free(&desc);
}

/* Whether two classified days belong to one event. */
static bool
same_run(const struct lg_day *a, const struct lg_day *b)
{
	return a->kind == b->kind && strcmp(a->name, b->name) == 0;
}

/* The whole feed: header, one event per run, footer. */
void
lg_calendar_ics(const struct lg_calendar *cal, const struct lg_ics_feed *f, struct lg_buf *out)
{
	char region[16], stamp[40], name[64];
	int32_t day = lg_day_of(f->stamp);
	unsigned sod = (unsigned)(f->stamp - (int64_t)day * LG_DAY_SECONDS);

	ics_date(day, stamp);
	snprintf(stamp + 8, sizeof(stamp) - 8, "T%02u%02u%02uZ", sod / 3600 % 100, sod / 60 % 60,
	         sod % 60);
	if (f->region == LG_REGION_NONE || f->region == 0)
		snprintf(region, sizeof(region), "national");
	else
		snprintf(region, sizeof(region), "%06u", (unsigned)f->region);
	snprintf(name, sizeof(name), "lessongate %s", region);
	LG_BUF_LIT(out, "BEGIN:VCALENDAR\r\n"
	                "VERSION:2.0\r\n"
	                "PRODID:-//lessongate//calendar feed//EN\r\n"
	                "CALSCALE:GREGORIAN\r\n"
	                "METHOD:PUBLISH\r\n");
	ics_text(out, "X-WR-CALNAME", name);
	ics_text(out, "X-WR-CALDESC",
	         "节假日、寒暑假、调休上班：学科类培训安排 / holidays, vacations and make-up "
	         "workdays: when subject lessons are held");
	LG_BUF_LIT(out, "REFRESH-INTERVAL;VALUE=DURATION:P1D\r\nX-PUBLISHED-TTL:P1D\r\n");
	for (int32_t i = f->from; i <= f->to; i++) {
		struct lg_day a, b;
		int32_t j = i;

		lg_calendar_day(cal, i, f->region, &a);
		if (!listed(&a))
			continue;
		for (; j < f->to; j++) {
			lg_calendar_day(cal, j + 1, f->region, &b);
			if (!listed(&b) || !same_run(&a, &b))
				break;
		}
		ics_event(out, f, &a, i, j, region, stamp);
		i = j;
	}
	LG_BUF_LIT(out, "END:VCALENDAR\r\n");
}

/* Hash the feed as written with DTSTAMP 0 (SipHash under a fixed key: not a secret, a checksum). */
void
lg_calendar_ics_etag(const struct lg_calendar *cal, const struct lg_ics_feed *f, char *tag)
{
	static const uint8_t key[16] = "lessongate-feed";
	struct lg_ics_feed zero = *f;
	struct lg_buf b = {0};
	uint64_t h[2];

	zero.stamp = 0;
	lg_calendar_ics(cal, &zero, &b);
	lg_siphash128(key, b.data, b.len, h);
	snprintf(tag, LG_ICS_ETAG_SIZE, "W/\"%016llx%016llx\"", (unsigned long long)h[0],
	         (unsigned long long)h[1]);
	lg_buf_free(&b);
}

/* RFC 9110, 13.1.2: "*", or a comma-separated list of tags; W/ is ignored on both sides. */
bool
lg_ics_etag_match(const char *value, size_t len, const char *tag)
{
	const char *opaque = strncmp(tag, "W/", 2) == 0 ? tag + 2 : tag;
	size_t olen = strlen(opaque);

	for (size_t i = 0; i < len;) {
		size_t j;
		while (i < len && (value[i] == ' ' || value[i] == '\t' || value[i] == ','))
			i++;
		j = i;
		while (j < len && value[j] != ',')
			j++;
		{
			size_t a = i, b = j;
			while (b > a && (value[b - 1] == ' ' || value[b - 1] == '\t'))
				b--;
			if (b - a == 1 && value[a] == '*')
				return true;
			if (b - a > 2 && value[a] == 'W' && value[a + 1] == '/')
				a += 2;
			if (b - a == olen && memcmp(value + a, opaque, olen) == 0)
				return true;
		}
		i = j;
	}
	return false;
}
