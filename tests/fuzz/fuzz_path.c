/* libFuzzer harness for lib/http/path.c: normal and canonical forms are what they say and stable;
 * networks match themselves. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "path.h"

/* Stop the run: the harness found a disagreement. */
static void
check(int ok)
{
	if (!ok)
		abort();
}

/* Whether s (n bytes) ends with suffix. */
static int
ends_with(const char *s, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);

	return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

/* Whether c is an upper-case hex digit. */
static int
upper_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

/* What is left encoded is upper case and neither unreserved nor '/' nor '\'. */
static void
check_encodings(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v;

		if (s[i] != '%')
			continue;
		check(i + 2 < n && upper_hex(s[i + 1]) && upper_hex(s[i + 2]));
		v = (unsigned)strtoul((char[3]){s[i + 1], s[i + 2], 0}, NULL, 16);
		check(!((v >= 'a' && v <= 'z') || (v >= 'A' && v <= 'Z') ||
		        (v >= '0' && v <= '9') || v == '-' || v == '.' || v == '_' || v == '~'));
		check(v != '/' && v != '\\' && v >= 0x20 && v != 0x7f);
	}
}

/* Whether segment s[0..n) is made only of dots and encoded spaces. */
static int
dots_spaces(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '.')
			continue;
		if (n - i >= 3 && memcmp(s + i, "%20", 3) == 0) {
			i += 2;
			continue;
		}
		return 0;
	}
	return 1;
}

/* The canonical form of a normalised path: its form, its stability, and when it is refused. */
static void
fuzz_canonical(const char *norm, size_t n)
{
	char *out = malloc(n + 1), *again = malloc(n + 1), *renorm = malloc(n + 1);
	const char *reason = NULL;
	ssize_t c = lg_path_canonical(norm, n, out, n + 1, &reason), m;
	int odd = 0;

	/* Refused exactly when some segment, parameters cut, is only dots and spaces. */
	for (size_t i = 0; i < n;) {
		size_t s = ++i, e;
		while (i < n && norm[i] != '/')
			i++;
		e = i;
		for (size_t k = s; k < e; k++)
			if (norm[k] == ';') {
				e = k;
				break;
			}
		odd |= e > s && dots_spaces(norm + s, e - s);
	}
	if (c < 0) {
		check(odd && reason != NULL && *reason != '\0');
		goto done;
	}
	check(!odd);
	check((size_t)c <= n && out[c] == '\0' && strlen(out) == (size_t)c && out[0] == '/');
	check(strchr(out, ';') == NULL && strstr(out, "//") == NULL);
	check(strstr(out, "./") == NULL && !ends_with(out, (size_t)c, ".") &&
	      strstr(out, "%20/") == NULL && !ends_with(out, (size_t)c, "%20"));
	for (ssize_t i = 0; i < c; i++) {
		if (out[i] == '%') { /* an escape is copied as it is */
			i += 2;
			continue;
		}
		check(!(out[i] >= 'A' && out[i] <= 'Z'));
	}
	/* A trailing slash is kept. */
	check(!ends_with(norm, n, "/") || ends_with(out, (size_t)c, "/"));
	/* Idempotent, and a normalised path itself. */
	m = lg_path_canonical(out, (size_t)c, again, (size_t)c + 1, &reason);
	check(m == c && memcmp(out, again, (size_t)c + 1) == 0);
	m = lg_path_normalise(out, (size_t)c, renorm, (size_t)c + 1, &reason);
	check(m == c && memcmp(out, renorm, (size_t)c + 1) == 0);
	/* Too small a buffer is refused. */
	check(lg_path_canonical(norm, n, again, n, &reason) < 0);
done:
	free(out);
	free(again);
	free(renorm);
}

/* Normalise, check the result's form, normalise it again, then check its canonical form. */
static void
fuzz_normalise(const uint8_t *data, size_t size)
{
	char *out = malloc(size + 1), *again = malloc(size + 1);
	const char *reason = NULL;
	ssize_t n = lg_path_normalise((const char *)data, size, out, size + 1, &reason), m;

	if (n < 0) {
		check(reason != NULL && *reason != '\0');
		if (size > 0)
			check(lg_path_normalise((const char *)data, size, out, size, &reason) < 0);
		goto done;
	}
	check((size_t)n <= size && out[n] == '\0' && strlen(out) == (size_t)n);
	check(out[0] == '/');
	check(strstr(out, "//") == NULL && strstr(out, "/./") == NULL &&
	      strstr(out, "/../") == NULL);
	check(strstr(out, "%2F") == NULL && strstr(out, "%2f") == NULL &&
	      strchr(out, '\\') == NULL);
	check(!ends_with(out, (size_t)n, "/.") && !ends_with(out, (size_t)n, "/.."));
	check_encodings(out, (size_t)n);
	m = lg_path_normalise(out, (size_t)n, again, (size_t)n + 1, &reason);
	check(m == n && memcmp(out, again, (size_t)n + 1) == 0);
	fuzz_canonical(out, (size_t)n);
done:
	free(out);
	free(again);
}

/* Parse the input as a network; if it parses, its own address lies in it. */
static void
fuzz_cidr(const uint8_t *data, size_t size)
{
	struct lg_cidr_set *s = lg_cidr_set_new();
	char text[96], err[256], *slash;
	struct sockaddr_in6 in6;
	struct sockaddr_in in;

	if (size >= sizeof(text))
		size = sizeof(text) - 1;
	memcpy(text, data, size);
	text[size] = '\0';
	if (lg_cidr_set_add(s, text, err, sizeof(err)) < 0) {
		check(err[0] == '"');
		check(lg_cidr_set_count(s) == 0);
		lg_cidr_set_free(s);
		return;
	}
	check(lg_cidr_set_count(s) == 1);
	if ((slash = strchr(text, '/')) != NULL)
		*slash = '\0';
	memset(&in, 0, sizeof(in));
	memset(&in6, 0, sizeof(in6));
	if (inet_pton(AF_INET, text, &in.sin_addr) == 1) {
		in.sin_family = AF_INET;
		check(lg_cidr_set_match(s, (struct sockaddr *)&in));
		/* the same address, IPv4-mapped */
		in6.sin6_family = AF_INET6;
		in6.sin6_addr.s6_addr[10] = in6.sin6_addr.s6_addr[11] = 0xff;
		memcpy(&in6.sin6_addr.s6_addr[12], &in.sin_addr, 4);
		check(lg_cidr_set_match(s, (struct sockaddr *)&in6));
	} else {
		check(inet_pton(AF_INET6, text, &in6.sin6_addr) == 1);
		in6.sin6_family = AF_INET6;
		check(lg_cidr_set_match(s, (struct sockaddr *)&in6));
	}
	lg_cidr_set_free(s);
}

/* Input: a path; a first byte 'C' makes the rest a network instead. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 0 && data[0] == 'C')
		fuzz_cidr(data + 1, size - 1);
	else
		fuzz_normalise(data, size);
	return 0;
}
