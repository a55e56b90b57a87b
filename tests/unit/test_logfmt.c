/* Tests for lib/core/logfmt.c: log values are always escaped and never cut inside an escape. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "logfmt.h"

/* Escape a C string with room for cap bytes; the result in a static buffer. */
static const char *
esc(const char *s, size_t cap, size_t *used)
{
	static char out[256];

	assert_true(cap <= sizeof(out));
	memset(out, 'Z', sizeof(out));
	lg_log_escape(out, cap, s, strlen(s), used);
	return out;
}

/* Quotes, backslashes, control bytes, DEL and broken UTF-8 are escaped; good UTF-8 is kept. */
static void
test_escape_values(void **state)
{
	size_t used;

	(void)state;
	assert_string_equal(esc("plain /live/x", 64, NULL), "plain /live/x");
	assert_string_equal(esc("a\"b\\c", 64, NULL), "a\\\"b\\\\c");
	assert_string_equal(esc("l1\nl2\r\t", 64, NULL), "l1\\nl2\\r\\t");
	assert_string_equal(esc("\x01\x1b[31m\x7f", 64, NULL), "\\x01\\x1b[31m\\x7f");
	assert_string_equal(esc("\xe5\xad\xa6\xe7\x94\x9f", 64, NULL), "学生");
	assert_string_equal(esc("\xff\xc3(", 64, NULL), "\\xff\\xc3(");
	assert_string_equal(esc("\xc0\xaf", 64, NULL), "\\xc0\\xaf");          /* overlong '/' */
	assert_string_equal(esc("\xed\xa0\x80", 64, NULL), "\\xed\\xa0\\x80"); /* a surrogate */
	assert_string_equal(esc("\xe5\xad", 64, &used), "\\xe5\\xad"); /* a cut-off character */
	assert_int_equal(used, 2);
	{
		char out[8];
		const char nul[] = {'a', 0, 'b'};
		assert_int_equal(lg_log_escape(out, sizeof(out), nul, 3, NULL), 6);
		assert_string_equal(out, "a\\x00b");
	}
}

/* Without room, whole units only: never half an escape or half a character. */
static void
test_escape_cut_between_units(void **state)
{
	size_t used;

	(void)state;
	assert_string_equal(esc("ab\"cd", 4, &used), "ab"); /* \" needs 2, 1 left */
	assert_int_equal(used, 2);
	assert_string_equal(esc("ab\"cd", 5, &used), "ab\\\"");
	assert_int_equal(used, 3);
	assert_string_equal(esc("a\x01", 5, &used), "a"); /* \x01 needs 4 */
	assert_int_equal(used, 1);
	assert_string_equal(esc("a\xe5\xad\xa6", 4, &used), "a");
	assert_int_equal(used, 1);
	assert_string_equal(esc("a\xe5\xad\xa6", 5, &used), "a\xe5\xad\xa6");
	assert_int_equal(used, 4);
	assert_string_equal(esc("abc", 1, &used), "");
	/* Whatever the room, the result never ends in a lone backslash. */
	for (size_t cap = 1; cap < 40; cap++) {
		const char *o = esc("x\\\"\n\x02\xe5\xad\xa6\\\\\"yz\x7f", cap, NULL);
		size_t n = strlen(o), bs = 0;
		assert_true(n < cap);
		while (bs < n && o[n - 1 - bs] == '\\')
			bs++;
		assert_int_equal(bs % 2, 0);
	}
}

/* A line too long is cut between units, its open quote closed, and marked. */
static void
test_fit_line(void **state)
{
	char line[128];
	size_t n;

	(void)state;
	strcpy(line, "level=info msg=\"x\"");
	assert_int_equal(lg_log_fit(line, strlen(line), sizeof(line)), strlen(line));
	/* The cut would fall inside \" of a quoted value: before it, after it, one more byte. */
	strcpy(line, "level=info msg=\"x\" reason=\"ab\\\"cd\\\"ef\" tail=1234567890");
	n = lg_log_fit(line, strlen(line), 47);
	assert_string_equal(line, "level=info msg=\"x\" reason=\"ab\" truncated=true");
	assert_int_equal(n, strlen(line));
	assert_true(n < 47);
	strcpy(line, "level=info msg=\"x\" reason=\"ab\\\"cd\\\"ef\" tail=1234567890");
	lg_log_fit(line, strlen(line), 48);
	assert_string_equal(line, "level=info msg=\"x\" reason=\"ab\\\"\" truncated=true");
	strcpy(line, "level=info msg=\"x\" reason=\"ab\\\"cd\\\"ef\" tail=1234567890");
	lg_log_fit(line, strlen(line), 49);
	assert_string_equal(line, "level=info msg=\"x\" reason=\"ab\\\"c\" truncated=true");
	/* Inside \xNN. */
	strcpy(line, "level=info msg=\"\\x01\\x02\\x03\\x04\\x05\\x06\\x07\" k=v");
	lg_log_fit(line, strlen(line), 42);
	assert_string_equal(line, "level=info msg=\"\\x01\\x02\" truncated=true");
	/* Inside a UTF-8 character, outside quotes. */
	strcpy(line,
	       "level=info msg=\"x\" student=\xe5\xad\xa6\xe7\x94\x9f\xe5\xad\xa6 k=vvvvvvvvvvvvv");
	n = lg_log_fit(line, strlen(line), 51);
	assert_string_equal(line, "level=info msg=\"x\" student=\xe5\xad\xa6\xe7\x94\x9f"
	                          " truncated=true");
	assert_int_equal(n, strlen(line));
	/* A backslash outside quotes is an ordinary byte. */
	strcpy(line, "level=info msg=\"x\" path=a\\b\\c\\d\\e\\f\\g\\h\\i\\j\\k\\l");
	lg_log_fit(line, strlen(line), 43);
	assert_string_equal(line, "level=info msg=\"x\" path=a\\ truncated=true");
	assert_int_equal(lg_log_fit(line, strlen(line), 10), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_escape_values),
	    cmocka_unit_test(test_escape_cut_between_units),
	    cmocka_unit_test(test_fit_line),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
