/* Tests for lib/admin/adminguard.c: the admin API's Host and Origin checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "adminguard.h"

/* Loopback names, IP literals and the listener's own host pass, with or without a port. */
static void
test_host_allowed(void **state)
{
	(void)state;
	assert_true(lg_admin_host_ok("127.0.0.1:9180", "127.0.0.1:9180"));
	assert_true(lg_admin_host_ok("127.0.0.1", "127.0.0.1:9180"));
	assert_true(lg_admin_host_ok("localhost:9180", "127.0.0.1:9180"));
	assert_true(lg_admin_host_ok("LOCALHOST", "127.0.0.1:9180"));
	assert_true(lg_admin_host_ok("[::1]:9180", "[::1]:9180"));
	assert_true(lg_admin_host_ok("10.1.2.3:9180", "0.0.0.0:9180"));
	assert_true(lg_admin_host_ok("admin.school.example:9180", "admin.school.example:9180"));
	assert_true(lg_admin_host_ok("Admin.School.Example", "admin.school.example:9180"));
	assert_true(lg_admin_host_ok("*:9180", "*:9180")); /* lessongatectl names it so */
}

/* A rebinding attacker's name, a missing or malformed Host: refused. */
static void
test_host_refused(void **state)
{
	(void)state;
	assert_false(lg_admin_host_ok(NULL, "127.0.0.1:9180"));
	assert_false(lg_admin_host_ok("", "127.0.0.1:9180"));
	assert_false(lg_admin_host_ok("evil.example:9180", "127.0.0.1:9180"));
	assert_false(lg_admin_host_ok("evil.example", "admin.school.example:9180"));
	assert_false(lg_admin_host_ok("127.0.0.1.evil.example", "127.0.0.1:9180"));
	assert_false(lg_admin_host_ok("127.0.0.1:91x0", "127.0.0.1:9180"));
	assert_false(lg_admin_host_ok("127.0.0.1:", "127.0.0.1:9180"));
	assert_false(lg_admin_host_ok("[::1", "127.0.0.1:9180"));
	assert_false(lg_admin_host_ok("[evil]:9180", "127.0.0.1:9180"));
	assert_false(lg_admin_host_ok("::1", "127.0.0.1:9180")); /* IPv6 needs brackets */
}

/* No Origin or the request's own origin passes; any other, "null" included, is refused. */
static void
test_origin(void **state)
{
	(void)state;
	assert_true(lg_admin_origin_ok(NULL, "127.0.0.1:9180", false));
	assert_true(lg_admin_origin_ok("http://127.0.0.1:9180", "127.0.0.1:9180", false));
	assert_true(lg_admin_origin_ok("https://localhost:9180", "localhost:9180", true));
	assert_false(lg_admin_origin_ok("http://127.0.0.1:9180", "127.0.0.1:9180", true));
	assert_false(lg_admin_origin_ok("https://evil.example", "127.0.0.1:9180", true));
	assert_false(lg_admin_origin_ok("http://evil.example", "127.0.0.1:9180", false));
	assert_false(lg_admin_origin_ok("null", "127.0.0.1:9180", false));
	assert_false(lg_admin_origin_ok("http://127.0.0.1:9181", "127.0.0.1:9180", false));
	assert_false(lg_admin_origin_ok("http://127.0.0.1:9180", NULL, false));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_host_allowed),
	    cmocka_unit_test(test_host_refused),
	    cmocka_unit_test(test_origin),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
