/* Tests for lib/http/path.c: path normalisation and the canonical form, every refusal, idempotence;
 * trusted networks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "path.h"

/* in (len bytes) must normalise to want, and want to itself. */
static void
norm_len(const char *in, size_t len, const char *want)
{
	char *out = malloc(len + 1), again[512];
	const char *reason = NULL;
	ssize_t n = lg_path_normalise(in, len, out, len + 1, &reason);

	if (n < 0)
		fail_msg("\"%s\" refused: %s", in, reason);
	assert_string_equal(out, want);
	assert_int_equal((size_t)n, strlen(want));
	assert_true((size_t)n <= len);
	assert_int_equal(lg_path_normalise(out, (size_t)n, again, sizeof(again), &reason), n);
	assert_string_equal(again, out);
	free(out);
}

/* in must normalise to want. */
static void
norm(const char *in, const char *want)
{
	norm_len(in, strlen(in), want);
}

/* in (len bytes) must be refused with reason. */
static void
refuse_len(const char *in, size_t len, const char *want)
{
	char *out = malloc(len + 1);
	const char *reason = NULL;

	if (lg_path_normalise(in, len, out, len + 1, &reason) >= 0)
		fail_msg("\"%s\" accepted as \"%s\"", in, out);
	assert_string_equal(reason, want);
	free(out);
}

/* in must be refused with reason. */
static void
refuse(const char *in, const char *want)
{
	refuse_len(in, strlen(in), want);
}

/* The examples of the issue. */
static void
test_examples(void **state)
{
	(void)state;
	norm("/live/../live/x", "/live/x");
	norm("/%6Cive/x", "/live/x");
	norm("//live/x", "/live/x");
	refuse("/live%2Fx", "encoded slash in path");
	refuse("/live%2fx", "encoded slash in path");
	refuse("/live\\x", "backslash in path");
	refuse("/../x", "\"..\" above the root");
	norm("/a/./b/", "/a/b/");
	norm("/a%20b", "/a%20b");
}

/* Decoding: unreserved once, the rest upper-cased and kept. */
static void
test_decoding(void **state)
{
	(void)state;
	norm("/%41%5a%61%7A%30%39%2D%2E%5F%7E", "/AZaz09-._~");
	norm("/a%2b%3a%40%21%25", "/a%2B%3A%40%21%25");
	norm("/%252e%252e/x", "/%252e%252e/x"); /* decoded once only */
	norm("/caf%C3%A9", "/caf%C3%A9");
	norm("/caf%c3%a9", "/caf%C3%A9");
	norm("/caf\xc3\xa9", "/caf\xc3\xa9");
	norm("/\xe4\xb8\xad%E6%96%87", "/\xe4\xb8\xad%E6%96%87");
	norm("/\xf0\x9f\x98\x80", "/\xf0\x9f\x98\x80");
	norm("/a;b=c/d", "/a;b=c/d");
	norm("/a%3B/d", "/a%3B/d");
	norm("/~user/", "/~user/");
	norm("/a..b/.c/..d/c.", "/a..b/.c/..d/c.");
}

/* Dot segments, encoded or not, and merged slashes. */
static void
test_dot_segments(void **state)
{
	(void)state;
	norm("/", "/");
	norm("//", "/");
	norm("///a///b///", "/a/b/");
	norm("/.", "/");
	norm("/./", "/");
	norm("/a/.", "/a/");
	norm("/a/..", "/");
	norm("/a/../", "/");
	norm("/a/b/..", "/a/");
	norm("/a/b/../c", "/a/c");
	norm("/a/b/c/../../d", "/a/d");
	norm("/a//../b", "/b");
	norm("/%2e/a/%2E%2e/b", "/b");
	norm("/live/%2e%2e/free", "/free");
	norm("/a/.%2E/b", "/b");
	norm("/a/./././b", "/a/b");
	norm("/a/b/./../c/", "/a/c/");
	refuse("/..", "\"..\" above the root");
	refuse("/a/../..", "\"..\" above the root");
	refuse("/a/../../b", "\"..\" above the root");
	refuse("/%2e%2e/x", "\"..\" above the root");
	refuse("//../x", "\"..\" above the root");
	refuse("/free/..;/live/x", "dot segment with parameters in path");
	refuse("/a/.;x/b", "dot segment with parameters in path");
	refuse("/a/%2e%2E;/b", "dot segment with parameters in path");
	norm("/a/..%3B/b", "/a/..%3B/b"); /* an encoded ';' is not a parameter */
}

/* Every class of refusal. */
static void
test_refusals(void **state)
{
	(void)state;
	refuse("", "path does not start with \"/\"");
	refuse("live/x", "path does not start with \"/\"");
	refuse("*", "path does not start with \"/\"");
	refuse("%2Flive", "path does not start with \"/\"");
	refuse("/a%5Cb", "encoded backslash in path");
	refuse("/a%5cb", "encoded backslash in path");
	refuse("/a%00b", "encoded NUL in path");
	refuse_len("/a\0b", 4, "NUL in path");
	refuse("/a%0Ab", "encoded control character in path");
	refuse("/a%0d%0aX-Injected:1", "encoded control character in path");
	refuse("/a%7Fb", "encoded control character in path");
	refuse("/a%1fb", "encoded control character in path");
	refuse("/a\tb", "control character in path");
	refuse("/a\x7f", "control character in path");
	refuse("/a b", "space in path");
	refuse("/a?b", "'?' or '#' in path");
	refuse("/a#b", "'?' or '#' in path");
	refuse("/a%", "invalid percent-encoding in path");
	refuse("/a%4", "invalid percent-encoding in path");
	refuse("/a%4g", "invalid percent-encoding in path");
	refuse("/a%%41", "invalid percent-encoding in path");
	refuse("/a%G1", "invalid percent-encoding in path");
}

/* UTF-8, raw and decoded: overlongs, surrogates, truncation, stray continuations. */
static void
test_utf8(void **state)
{
	(void)state;
	refuse("/%C0%AE%C0%AE/x", "invalid UTF-8 in path"); /* overlong "." */
	refuse("/%C0%AF", "invalid UTF-8 in path");         /* overlong "/" */
	refuse("/\xc0\xaf", "invalid UTF-8 in path");
	refuse("/%E0%80%AE", "invalid UTF-8 in path");
	refuse("/%F0%80%80%AE", "invalid UTF-8 in path");
	refuse("/%ED%A0%80", "invalid UTF-8 in path"); /* surrogate */
	refuse("/%F4%90%80%80", "invalid UTF-8 in path");
	refuse("/%F5%80%80%80", "invalid UTF-8 in path");
	refuse("/%80", "invalid UTF-8 in path");
	refuse("/%C3", "invalid UTF-8 in path");
	refuse("/%C3/%A9", "invalid UTF-8 in path"); /* a separator inside a character */
	refuse("/\xc3", "invalid UTF-8 in path");
	refuse("/\xc3x", "invalid UTF-8 in path");
	refuse("/\xff", "invalid UTF-8 in path");
	norm("/\xc3%A9", "/\xc3%A9"); /* raw lead, encoded continuation: one valid character */
	norm("/%C3\xa9", "/%C3\xa9");
	norm("/%F4%8F%BF%BF", "/%F4%8F%BF%BF");
}

/* The output buffer: len + 1 suffices, less is refused without writing past it. */
static void
test_buffer(void **state)
{
	char out[8];
	const char *reason;

	(void)state;
	assert_int_equal(lg_path_normalise("/abcdefg", 8, out, 8, &reason), -1);
	assert_string_equal(reason, "path buffer too small");
	memset(out, 'x', sizeof(out));
	assert_int_equal(lg_path_normalise("/abcdef", 7, out, 8, &reason), 7);
	assert_string_equal(out, "/abcdef");
	norm_len("/a/b/..//c/./%7e", 16, "/a/c/~");
}

/* in (a normalised path) must have the canonical form want, which is its own canonical form. */
static void
canon(const char *in, const char *want)
{
	size_t len = strlen(in);
	char *out = malloc(len + 1), again[512], norm[512];
	const char *reason = NULL;
	ssize_t n = lg_path_canonical(in, len, out, len + 1, &reason);

	if (n < 0)
		fail_msg("\"%s\" has no canonical form: %s", in, reason);
	if (strcmp(out, want) != 0)
		fail_msg("\"%s\": canonical \"%s\", want \"%s\"", in, out, want);
	assert_int_equal((size_t)n, strlen(want));
	assert_true((size_t)n <= len);
	assert_int_equal(lg_path_canonical(out, (size_t)n, again, sizeof(again), &reason), n);
	assert_string_equal(again, out);
	assert_int_equal(lg_path_normalise(out, (size_t)n, norm, sizeof(norm), &reason), n);
	assert_string_equal(norm, out);
	free(out);
}

/* The raw target in normalises, then has the canonical form want. */
static void
norm_canon(const char *in, const char *want)
{
	char norm[512];
	const char *reason = NULL;
	ssize_t n = lg_path_normalise(in, strlen(in), norm, sizeof(norm), &reason);

	if (n < 0)
		fail_msg("\"%s\" refused: %s", in, reason);
	canon(norm, want);
}

/* in (a normalised path) has no canonical form, for reason want. */
static void
canon_refused(const char *in, const char *want)
{
	char out[512];
	const char *reason = NULL;

	if (lg_path_canonical(in, strlen(in), out, sizeof(out), &reason) >= 0)
		fail_msg("\"%s\" canonical as \"%s\"", in, out);
	assert_string_equal(reason, want);
}

/* Case, ";" parameters, trailing dots and spaces: the readings lenient origins make. */
static void
test_canonical(void **state)
{
	(void)state;
	canon("/", "/");
	canon("/live/room", "/live/room");
	canon("/LIVE/Room", "/live/room");
	canon("/live;x/room", "/live/room");
	canon("/live;jsessionid=AB/room;v=2", "/live/room");
	canon("/live./room", "/live/room");
	canon("/live.../room..", "/live/room");
	canon("/live%20/room", "/live/room");
	canon("/live.%20.%20/room", "/live/room");
	canon("/live/", "/live/");
	canon("/live", "/live");
	canon("/live/;x", "/live/");
	canon("/;x/live/room", "/live/room");
	canon("/live/;/room", "/live/room");
	canon("/live;x", "/live");
	canon("/a.b/c%20d/e.json", "/a.b/c%20d/e.json");
	canon("/%C3%A9t%C3%89/X", "/%C3%A9t%C3%89/x"); /* the hex of %XX stays as it is */
	canon("/%3B/x", "/%3B/x");                     /* an encoded ';' is no parameter */
	canon("/Ä/x", "/Ä/x");                         /* ASCII only */
	norm_canon("/%4cIVE/room", "/live/room");
	norm_canon("/%6c%69%76%65%2e/room", "/live/room");
	norm_canon("//LIVE//./room/", "/live/room/");
	canon_refused("/live/.../x", "segment of only dots and spaces in path");
	canon_refused("/live/..%20/x", "segment of only dots and spaces in path");
	canon_refused("/live/.%20/x", "segment of only dots and spaces in path");
	canon_refused("/%20", "segment of only dots and spaces in path");
	canon_refused("/a/...;x", "segment of only dots and spaces in path");
	canon_refused("live", "path does not start with \"/\"");
	canon_refused("", "path does not start with \"/\"");
}

/* The canonical form's buffer: len + 1 suffices, less is refused. */
static void
test_canonical_buffer(void **state)
{
	char out[8];
	const char *reason;

	(void)state;
	assert_int_equal(lg_path_canonical("/ABCDEFG", 8, out, 8, &reason), -1);
	assert_string_equal(reason, "path buffer too small");
	assert_int_equal(lg_path_canonical("/ABCDEF", 7, out, 8, &reason), 7);
	assert_string_equal(out, "/abcdef");
}

/* Parse a list into a set, which must succeed. */
static struct lg_cidr_set *
cidrs(const char *const *list)
{
	struct lg_cidr_set *s = lg_cidr_set_new();
	char err[256];

	for (; *list; list++)
		if (lg_cidr_set_add(s, *list, err, sizeof(err)) < 0)
			fail_msg("%s", err);
	return s;
}

/* Whether the textual address matches. */
static bool
match(const struct lg_cidr_set *s, const char *addr)
{
	struct sockaddr_in6 in6;
	struct sockaddr_in in;

	memset(&in, 0, sizeof(in));
	memset(&in6, 0, sizeof(in6));
	if (inet_pton(AF_INET, addr, &in.sin_addr) == 1) {
		in.sin_family = AF_INET;
		return lg_cidr_set_match(s, (struct sockaddr *)&in);
	}
	assert_int_equal(inet_pton(AF_INET6, addr, &in6.sin6_addr), 1);
	in6.sin6_family = AF_INET6;
	return lg_cidr_set_match(s, (struct sockaddr *)&in6);
}

/* Matching IPv4, IPv6 and IPv4-mapped peers. */
static void
test_cidr_match(void **state)
{
	static const char *const list[] = {"127.0.0.1/32", "10.0.0.0/8",    "::1/128", "fd00::/8",
	                                   "192.168.1.7",  "172.16.0.0/12", NULL};
	struct lg_cidr_set *s = cidrs(list), *empty = lg_cidr_set_new(), *all;
	static const char *const any[] = {"0.0.0.0/0", "::/0", NULL};
	struct sockaddr sa;

	(void)state;
	assert_int_equal(lg_cidr_set_count(s), 6);
	assert_true(match(s, "127.0.0.1"));
	assert_false(match(s, "127.0.0.2"));
	assert_true(match(s, "10.0.0.0"));
	assert_true(match(s, "10.255.255.255"));
	assert_false(match(s, "11.0.0.1"));
	assert_false(match(s, "9.255.255.255"));
	assert_true(match(s, "172.16.0.1"));
	assert_true(match(s, "172.31.255.255"));
	assert_false(match(s, "172.32.0.0"));
	assert_false(match(s, "172.15.255.255"));
	assert_true(match(s, "192.168.1.7"));
	assert_false(match(s, "192.168.1.8"));
	assert_true(match(s, "::1"));
	assert_false(match(s, "::2"));
	assert_true(match(s, "fd12:3456::1"));
	assert_true(match(s, "fdff:ffff::1"));
	assert_false(match(s, "fe00::1"));
	assert_false(match(s, "fc00::1"));
	/* IPv4-mapped peers, as a dual-stack socket reports them, match IPv4 networks. */
	assert_true(match(s, "::ffff:127.0.0.1"));
	assert_true(match(s, "::ffff:10.1.2.3"));
	assert_false(match(s, "::ffff:11.1.2.3"));
	assert_false(match(s, "::127.0.0.1")); /* IPv4-compatible is not IPv4-mapped */
	assert_false(match(empty, "127.0.0.1"));
	memset(&sa, 0, sizeof(sa));
	sa.sa_family = AF_UNIX;
	assert_false(lg_cidr_set_match(s, &sa));
	assert_false(lg_cidr_set_match(s, NULL));
	all = cidrs(any);
	assert_true(match(all, "1.2.3.4"));
	assert_true(match(all, "2001:db8::1"));
	lg_cidr_set_free(all);
	lg_cidr_set_free(s);
	lg_cidr_set_free(empty);
	lg_cidr_set_free(NULL);
}

/* text must be refused with a message that names it and says err_part. */
static void
bad_cidr(const char *text, const char *err_part)
{
	struct lg_cidr_set *s = lg_cidr_set_new();
	char err[256] = "";

	assert_int_equal(lg_cidr_set_add(s, text, err, sizeof(err)), -1);
	if (strstr(err, err_part) == NULL)
		fail_msg("\"%s\": \"%s\" does not say \"%s\"", text, err, err_part);
	assert_int_equal(lg_cidr_set_count(s), 0);
	lg_cidr_set_free(s);
}

/* Malformed networks name themselves. */
static void
test_cidr_errors(void **state)
{
	(void)state;
	bad_cidr("", "\"\": not an IPv4 or IPv6 address");
	bad_cidr("localhost", "\"localhost\": not an IPv4 or IPv6 address");
	bad_cidr("10.0.0/8", "not an IPv4 or IPv6 address");
	bad_cidr("010.0.0.0/8", "not an IPv4 or IPv6 address");
	bad_cidr("10.0.0.0/33", "\"10.0.0.0/33\": prefix length must be a number 0..32");
	bad_cidr("::/129", "prefix length must be a number 0..128");
	bad_cidr("10.0.0.0/", "prefix length");
	bad_cidr("10.0.0.0/08", "prefix length");
	bad_cidr("10.0.0.0/+8", "prefix length");
	bad_cidr("10.0.0.0/8/8", "prefix length");
	bad_cidr("10.0.0.0/ 8", "prefix length");
	bad_cidr("10.0.0.1/8", "\"10.0.0.1/8\": address has bits set beyond the /8 prefix");
	bad_cidr("fd00::1/8", "bits set beyond the /8 prefix");
	bad_cidr("fe80::1%eth0", "not an IPv4 or IPv6 address");
	bad_cidr("1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16.17.18.19.20.21.22.23.24.25.26.27",
	         "not an address or network");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_examples),     cmocka_unit_test(test_decoding),
	    cmocka_unit_test(test_dot_segments), cmocka_unit_test(test_refusals),
	    cmocka_unit_test(test_utf8),         cmocka_unit_test(test_buffer),
	    cmocka_unit_test(test_cidr_match),   cmocka_unit_test(test_cidr_errors),
	    cmocka_unit_test(test_canonical),    cmocka_unit_test(test_canonical_buffer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
