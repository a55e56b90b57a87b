/* Time zones: unix time to local civil time and back, from the system's TZif files. */
#include "tz.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct lg_tz {
	char *name;
	size_t n;      /* transitions */
	int64_t *when; /* transition times, ascending */
	int32_t *off;  /* offset in force from when[i] on */
	int32_t first; /* offset before the first transition */
	int32_t tail;  /* offset after the last one (from the POSIX footer) */
};

/* Big-endian readers for the TZif body. */
static int64_t
be64(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return (int64_t)v;
}

static int32_t
be32(const unsigned char *p)
{
	return (int32_t)((uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]);
}

/* Parse "[+-]HH[:MM]" into seconds; returns chars consumed or -1. */
static int
parse_offset(const char *s, int32_t *off)
{
	int sign = 1, h = 0, m = 0, i = 0;

	if (s[i] == '+' || s[i] == '-')
		sign = s[i++] == '-' ? -1 : 1;
	if (!isdigit((unsigned char)s[i]))
		return -1;
	while (isdigit((unsigned char)s[i]) && h < 100)
		h = h * 10 + (s[i++] - '0');
	if (s[i] == ':') {
		i++;
		if (!isdigit((unsigned char)s[i]) || !isdigit((unsigned char)s[i + 1]))
			return -1;
		m = (s[i] - '0') * 10 + (s[i + 1] - '0');
		i += 2;
	}
	if (h > 24 || m > 59)
		return -1;
	*off = sign * (h * 3600 + m * 60);
	return i;
}

/*
 * The footer is a POSIX TZ string such as "CST-8". Only its standard offset is
 * used; zones that still observe daylight saving beyond their table keep the
 * last tabulated offset (China has had none since 1991).
 */
static int
parse_footer(const char *s, int32_t *off)
{
	int32_t o;
	int n;

	if (*s == '<') {
		while (*s && *s != '>')
			s++;
		if (*s++ != '>')
			return -1;
	} else {
		while (isalpha((unsigned char)*s))
			s++;
	}
	if ((n = parse_offset(s, &o)) < 0)
		return -1;
	*off = -o; /* POSIX offsets are west-positive */
	return 0;
}

/* Read the version 2+ body of a TZif file. */
static int
parse_tzif(struct lg_tz *tz, const unsigned char *buf, size_t len)
{
	const unsigned char *p = buf;
	uint32_t cnt[6];
	size_t v1len, need;
	int64_t *when;
	int32_t *types;
	const unsigned char *idx, *tt;

	if (len < 44 || memcmp(p, "TZif", 4) != 0)
		return -1;
	for (int i = 0; i < 6; i++)
		cnt[i] = (uint32_t)be32(p + 20 + 4 * i);
	/* isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt */
	v1len = 44 + cnt[3] * 5 + cnt[4] * 6 + cnt[5] + cnt[2] * 8 + cnt[1] + cnt[0];
	if (p[4] < '2' || v1len + 44 > len)
		return -1;
	p += v1len;
	if (memcmp(p, "TZif", 4) != 0)
		return -1;
	for (int i = 0; i < 6; i++)
		cnt[i] = (uint32_t)be32(p + 20 + 4 * i);
	if (cnt[4] == 0 || cnt[3] > 100000 || cnt[4] > 256)
		return -1;
	need = 44 + cnt[3] * 9 + cnt[4] * 6 + cnt[5] + cnt[2] * 12 + cnt[1] + cnt[0];
	if ((size_t)(p - buf) + need > len)
		return -1;
	when = lg_xcalloc(cnt[3] + 1, sizeof(*when));
	types = lg_xcalloc(cnt[3] + 1, sizeof(*types));
	idx = p + 44 + cnt[3] * 8;
	tt = idx + cnt[3];
	for (uint32_t i = 0; i < cnt[3]; i++) {
		when[i] = be64(p + 44 + 8 * i);
		if (idx[i] >= cnt[4]) {
			free(when);
			free(types);
			return -1;
		}
		types[i] = be32(tt + 6 * idx[i]);
	}
	tz->n = cnt[3];
	tz->when = when;
	tz->off = types;
	tz->first = be32(tt); /* type 0 is in force before the first transition */
	tz->tail = tz->n ? types[tz->n - 1] : tz->first;
	{
		const unsigned char *f = p + need;
		size_t flen = len - (size_t)(f - buf);
		char footer[128];

		if (flen > 2 && f[0] == '\n' && flen < sizeof(footer)) {
			memcpy(footer, f + 1, flen - 1);
			footer[flen - 1] = '\0';
			footer[strcspn(footer, "\n")] = '\0';
			if (footer[0] != '\0' && strchr(footer, ',') == NULL)
				parse_footer(footer, &tz->tail);
		}
	}
	return 0;
}

/* A zone name must not escape the zoneinfo directory. */
static int
safe_name(const char *name)
{
	if (name[0] == '\0' || name[0] == '/' || strstr(name, "..") != NULL)
		return 0;
	for (const char *c = name; *c; c++)
		if (!isalnum((unsigned char)*c) && strchr("/_-+.", *c) == NULL)
			return 0;
	return 1;
}

/* Load a zone: "UTC", "+08:00", or an IANA name. */
struct lg_tz *
lg_tz_load(const char *name, char *err, size_t errlen)
{
	struct lg_tz *tz = lg_xcalloc(1, sizeof(*tz));
	const char *dir = getenv("TZDIR");
	char path[1024];
	unsigned char *buf = NULL;
	size_t len = 0, cap = 0;
	FILE *f;
	int32_t off;
	int n;

	tz->name = lg_strdup(name);
	if (strcmp(name, "UTC") == 0 || strcmp(name, "Etc/UTC") == 0)
		return tz;
	if ((name[0] == '+' || name[0] == '-') && (n = parse_offset(name, &off)) > 0 &&
	    name[n] == '\0') {
		tz->first = tz->tail = off;
		return tz;
	}
	if (!safe_name(name)) {
		snprintf(err, errlen, "\"%s\" is not a time zone name (e.g. \"Asia/Shanghai\")",
		         name);
		goto fail;
	}
	snprintf(path, sizeof(path), "%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", name);
	if ((f = fopen(path, "rb")) == NULL) {
		snprintf(err, errlen, "unknown time zone \"%s\" (%s: %s; is tzdata installed?)",
		         name, path, strerror(errno));
		goto fail;
	}
	for (;;) {
		size_t r;

		if (len == cap) {
			cap = cap ? cap * 2 : 4096;
			if (cap > (1 << 22))
				break;
			buf = lg_xrealloc(buf, cap, 1);
		}
		r = fread(buf + len, 1, cap - len, f);
		if (r == 0)
			break;
		len += r;
	}
	fclose(f);
	if (parse_tzif(tz, buf, len) != 0) {
		snprintf(err, errlen, "%s: not a valid TZif (version 2+) file", path);
		goto fail;
	}
	free(buf);
	return tz;
fail:
	free(buf);
	lg_tz_free(tz);
	return NULL;
}

/* Release a zone. */
void
lg_tz_free(struct lg_tz *tz)
{
	if (tz == NULL)
		return;
	free(tz->name);
	free(tz->when);
	free(tz->off);
	free(tz);
}

/* The name it was loaded by. */
const char *
lg_tz_name(const struct lg_tz *tz)
{
	return tz->name;
}

/* Binary search for the transition in force at t. */
int32_t
lg_tz_offset(const struct lg_tz *tz, int64_t t)
{
	size_t lo = 0, hi = tz->n;

	if (tz->n == 0 || t >= tz->when[tz->n - 1])
		return tz->tail;
	if (t < tz->when[0])
		return tz->first;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (tz->when[mid] <= t)
			lo = mid;
		else
			hi = mid;
	}
	return tz->off[lo];
}

/* Unix to local civil seconds. */
int64_t
lg_tz_local(const struct lg_tz *tz, int64_t t)
{
	return t + lg_tz_offset(tz, t);
}

/* Local civil seconds to unix: two fixed-point steps settle every real zone. */
int64_t
lg_tz_unix(const struct lg_tz *tz, int64_t local)
{
	int64_t u = local - lg_tz_offset(tz, local);

	u = local - lg_tz_offset(tz, u);
	return u;
}
