/* check_gw_guard.c: unit tests for the TCP request guard (guard.c): Host, Origin, Sec-Fetch-Site, config. */
#include <config.h>

#include <check.h>

#include "check_cfg.h"
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/guard.h"
#include "check_main.h"

static struct guard_cfg gc;

static void setup(void)
{
	char err[256];

	ck_assert_int_eq(check_cfg_setting(&guard_cfg_section, NULL, &gc, err, sizeof(err)), 0);
	ck_assert_uint_eq(gc.norigins, 0);
}

static void teardown(void)
{
	cfgtab_clear(&guard_cfg_section, &gc);
}

/* Host header value, listener port, expected status (0: allowed). */
static const struct {
	const char *host;
	unsigned port;
	int status;
} host_rows[] = {
	{ "localhost", 7080, 0 },
	{ "LOCALHOST", 7080, 0 },
	{ "LocalHost:7080", 7080, 0 },
	{ "localhost:7080", 0, 0 },
	{ "localhost:7081", 7080, 421 },
	{ "localhost:80", 7080, 421 },
	{ "127.0.0.1", 7080, 0 },
	{ "127.0.0.1:7080", 7080, 0 },
	{ "127.0.0.1:7081", 7080, 421 },
	{ "127.1.2.3:7080", 7080, 0 },
	{ "127.255.255.255", 7080, 0 },
	{ "[::1]", 7080, 0 },
	{ "[::1]:7080", 7080, 0 },
	{ "[::1]:9999", 7080, 421 },
	{ "[0:0:0:0:0:0:0:1]:7080", 7080, 0 },
	{ "[::ffff:127.0.0.1]:7080", 7080, 0 },
	{ "[::ffff:10.0.0.1]:7080", 7080, 421 },
	{ "[::2]", 7080, 421 },
	{ "[fe80::1]", 7080, 421 },
	{ "evil.example", 7080, 421 },
	{ "evil.example:7080", 7080, 421 },
	{ "localhost.", 7080, 421 },
	{ "localhost.evil.example", 7080, 421 },
	{ "a.localhost", 7080, 421 },
	{ "127.0.0.1.nip.io", 7080, 421 },
	{ "128.0.0.1", 7080, 421 },
	{ "10.0.0.1:7080", 7080, 421 },
	{ "0.0.0.0", 7080, 421 },
	{ "192.168.1.1", 7080, 421 },
	{ "127.1", 7080, 421 }, /* inet_aton would say 127.0.0.1; we do not */
	{ "0177.0.0.1", 7080, 421 },
	{ "0x7f.0.0.1", 7080, 421 },
	{ "2130706433", 7080, 421 },
	{ "127.0.0.256", 7080, 421 },
	{ "localhost_", 7080, 421 },
	{ "", 7080, 400 },
	{ ":7080", 7080, 400 },
	{ "localhost:", 7080, 400 },
	{ "localhost:0", 7080, 400 },
	{ "localhost:07080", 7080, 400 },
	{ "localhost:65536", 7080, 400 },
	{ "localhost:123456", 7080, 400 },
	{ "localhost:70a0", 7080, 400 },
	{ "localhost:+7080", 7080, 400 },
	{ "localhost:7080:7080", 7080, 400 },
	{ "::1", 7080, 400 },
	{ "[::1", 7080, 400 },
	{ "[::1]x", 7080, 400 },
	{ "[::1]:", 7080, 400 },
	{ "[]", 7080, 400 },
	{ "[::1%lo]", 7080, 400 },
	{ "[zz::1]", 7080, 400 },
	{ "user@localhost", 7080, 400 },
	{ "localhost/x", 7080, 400 },
	{ "local host", 7080, 400 },
	{ "localhost\r\nX: y", 7080, 400 },
	{ "localhost\t", 7080, 400 },
	{ "l\xc3\xb6"
	  "calhost",
	  7080, 400 },
	{ "%6cocalhost", 7080, 400 },
};

START_TEST(test_host_table)
{
	struct guard_err e = { 0, NULL, NULL };
	int rc = guard_check(&gc, host_rows[_i].host, NULL, NULL, host_rows[_i].port, &e);

	if (host_rows[_i].status == 0) {
		ck_assert_msg(rc == 0, "row %d: expected allowed, got %d", _i, e.status);
	} else {
		ck_assert_msg(rc == -1, "row %d: expected refused", _i);
		ck_assert_msg(e.status == host_rows[_i].status, "row %d: status %d, expected %d", _i,
		              e.status, host_rows[_i].status);
		ck_assert_ptr_nonnull(e.code);
		ck_assert_ptr_nonnull(e.message);
		ck_assert_str_eq(e.code, e.status == 400 ? "InvalidHost" : "MisdirectedRequest");
	}
}
END_TEST

START_TEST(test_host_absent_and_long)
{
	struct guard_err e;
	char longhost[400];

	ck_assert_int_eq(guard_check(&gc, NULL, NULL, NULL, 7080, &e), 0);
	memset(longhost, 'a', sizeof(longhost) - 1);
	longhost[sizeof(longhost) - 1] = '\0';
	ck_assert_int_eq(guard_check(&gc, longhost, NULL, NULL, 7080, &e), -1);
	ck_assert_int_eq(e.status, 400);
	/* NULL config: no origins allowed, host rules unchanged. */
	ck_assert_int_eq(guard_check(NULL, "localhost", NULL, NULL, 0, &e), 0);
	ck_assert_int_eq(guard_check(NULL, "localhost", "http://localhost", NULL, 0, &e), -1);
	ck_assert_int_eq(e.status, 403);
}
END_TEST

/* Origin, Sec-Fetch-Site, with the allowed list { "http://localhost:3000", "https://app.example" }. */
static const struct {
	const char *origin;
	const char *site;
	int status;
	const char *code;
} origin_rows[] = {
	{ NULL, NULL, 0, NULL },
	{ NULL, "none", 0, NULL },
	{ NULL, "same-origin", 0, NULL },
	{ NULL, "same-site", 0, NULL },
	{ NULL, "cross-site", 403, "CrossSiteForbidden" },
	{ NULL, "Cross-Site", 403, "CrossSiteForbidden" },
	{ "http://localhost:3000", NULL, 0, NULL },
	{ "HTTP://LOCALHOST:3000", NULL, 0, NULL },
	{ "http://localhost:3000", "cross-site", 0, NULL },
	{ "https://app.example", "cross-site", 0, NULL },
	{ "http://localhost:3001", NULL, 403, "CrossOriginForbidden" },
	{ "http://localhost:3000/", NULL, 403, "CrossOriginForbidden" },
	{ "http://localhost", NULL, 403, "CrossOriginForbidden" },
	{ "http://localhost:7080", "same-origin", 403, "CrossOriginForbidden" },
	{ "https://evil.example", "cross-site", 403, "CrossOriginForbidden" },
	{ "null", NULL, 403, "CrossOriginForbidden" },
	{ "", NULL, 403, "CrossOriginForbidden" },
	{ "*", NULL, 403, "CrossOriginForbidden" },
	{ "https://app.example.evil.example", NULL, 403, "CrossOriginForbidden" },
};

START_TEST(test_origin_table)
{
	struct guard_err e = { 0, NULL, NULL };
	config_t cf;
	struct guard_cfg c;
	char err[256];
	int rc;

	config_init(&cf);
	ck_assert_int_eq(config_read_string(&cf, "guard = { allowed_origins = [ \"http://localhost:3000\", "
	                                         "\"https://app.example\" ]; };"),
	                 CONFIG_TRUE);
	ck_assert_int_eq(
	        check_cfg_setting(&guard_cfg_section, config_lookup(&cf, "guard"), &c, err, sizeof(err)), 0);
	ck_assert_uint_eq(c.norigins, 2);
	rc = guard_check(&c, "127.0.0.1:7080", origin_rows[_i].origin, origin_rows[_i].site, 7080, &e);
	if (origin_rows[_i].status == 0) {
		ck_assert_msg(rc == 0, "row %d: expected allowed, got %d", _i, e.status);
	} else {
		ck_assert_msg(rc == -1, "row %d: expected refused", _i);
		ck_assert_int_eq(e.status, origin_rows[_i].status);
		ck_assert_str_eq(e.code, origin_rows[_i].code);
	}
	/* Without an allowed list every Origin is refused. */
	if (origin_rows[_i].origin != NULL) {
		ck_assert_int_eq(guard_check(&gc, "127.0.0.1:7080", origin_rows[_i].origin, NULL, 7080, &e),
		                 -1);
		ck_assert_int_eq(e.status, 403);
	}
	cfgtab_clear(&guard_cfg_section, &c);
	config_destroy(&cf);
}
END_TEST

START_TEST(test_host_checked_before_origin)
{
	struct guard_err e;

	ck_assert_int_eq(guard_check(&gc, "evil.example", "https://evil.example", "cross-site", 7080, &e),
	                 -1);
	ck_assert_int_eq(e.status, 421);
}
END_TEST

/* Configurations that must be refused, and the text the error must contain. */
static const struct {
	const char *text;
	const char *err;
} bad_cfg[] = {
	{ "guard = 1;", "t.conf:1: guard: must be a group { ... }" },
	{ "guard = { origins = [ \"http://a\" ]; };", "t.conf:1: guard.origins: unknown key" },
	{ "guard = { allowed_origins = \"http://a\"; };",
	  "t.conf:1: guard.allowed_origins: must be an array of strings" },
	{ "guard = {\n allowed_origins = [ 1 ]; };", "t.conf:2: guard.allowed_origins[1]: must be a string" },
	{ "guard = { allowed_origins = [ \"*\" ]; };",
	  "t.conf:1: guard.allowed_origins[1]: not an origin of the form scheme://host[:port]" },
	{ "guard = { allowed_origins = [ \"null\" ]; };",
	  "t.conf:1: guard.allowed_origins[1]: not an origin of the form scheme://host[:port]" },
	{ "guard = { allowed_origins = [ \"http://a/\" ]; };",
	  "t.conf:1: guard.allowed_origins[1]: not an origin of the form scheme://host[:port]" },
	{ "guard = { allowed_origins = [ \"http://a/path\" ]; };",
	  "t.conf:1: guard.allowed_origins[1]: not an origin of the form scheme://host[:port]" },
	{ "guard = { allowed_origins = [ \"localhost:3000\" ]; };",
	  "t.conf:1: guard.allowed_origins[1]: not an origin of the form scheme://host[:port]" },
	{ "guard = { allowed_origins = [ \"http://\" ]; };",
	  "t.conf:1: guard.allowed_origins[1]: not an origin of the form scheme://host[:port]" },
	{ "guard = { allowed_origins = [ \"http://u@a\" ]; };",
	  "t.conf:1: guard.allowed_origins[1]: not an origin of the form scheme://host[:port]" },
	{ "guard = { allowed_origins = [ \"http://*.a\" ]; };",
	  "t.conf:1: guard.allowed_origins[1]: not an origin of the form scheme://host[:port]" },
	{ "guard = { allowed_origins = [ \"http://a b\" ]; };",
	  "t.conf:1: guard.allowed_origins[1]: not an origin of the form scheme://host[:port]" },
	{ "guard = { allowed_origins = [ \"ht tp://a\" ]; };",
	  "t.conf:1: guard.allowed_origins[1]: not an origin of the form scheme://host[:port]" },
};

START_TEST(test_cfg_bad)
{
	config_t cf;
	struct guard_cfg c;
	char err[256] = "";

	config_init(&cf);
	ck_assert_int_eq(config_read_string(&cf, bad_cfg[_i].text), CONFIG_TRUE);
	ck_assert_int_eq(
	        check_cfg_setting(&guard_cfg_section, config_lookup(&cf, "guard"), &c, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, bad_cfg[_i].err) == err, "row %d: got \"%s\"", _i, err);
	ck_assert_uint_eq(c.norigins, 0);
	config_destroy(&cf);
}
END_TEST

START_TEST(test_cfg_too_many)
{
	config_t cf;
	struct guard_cfg c;
	struct buf_s {
		char d[8192];
		size_t n;
	} t;
	char err[256];
	int i;

	t.n = (size_t)snprintf(t.d, sizeof(t.d), "guard = { allowed_origins = [");
	for (i = 0; i <= GUARD_ORIGINS_MAX; i++)
		t.n += (size_t)snprintf(t.d + t.n, sizeof(t.d) - t.n, "%s\"http://h%d\"", i ? "," : "", i);
	snprintf(t.d + t.n, sizeof(t.d) - t.n, "]; };");
	config_init(&cf);
	ck_assert_int_eq(config_read_string(&cf, t.d), CONFIG_TRUE);
	ck_assert_int_eq(
	        check_cfg_setting(&guard_cfg_section, config_lookup(&cf, "guard"), &c, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "t.conf:1: guard.allowed_origins: at most 32 entries");
	config_destroy(&cf);
}
END_TEST

START_TEST(test_cfg_good)
{
	config_t cf;
	struct guard_cfg c;
	char err[256];

	config_init(&cf);
	ck_assert_int_eq(config_read_string(&cf, "guard = { allowed_origins = [ \"http://localhost:3000\", "
	                                         "\"https://[::1]:8443\", \"app://x\" ]; };"),
	                 CONFIG_TRUE);
	ck_assert_int_eq(
	        check_cfg_setting(&guard_cfg_section, config_lookup(&cf, "guard"), &c, err, sizeof(err)), 0);
	ck_assert_uint_eq(c.norigins, 3);
	ck_assert_str_eq(c.origins[1], "https://[::1]:8443");
	cfgtab_clear(&guard_cfg_section, &c);
	cfgtab_clear(&guard_cfg_section, &c); /* twice is harmless */
	cfgtab_clear(&guard_cfg_section, NULL);
	config_destroy(&cf);
	config_init(&cf);
	ck_assert_int_eq(config_read_string(&cf, "guard = { };"), CONFIG_TRUE);
	ck_assert_int_eq(
	        check_cfg_setting(&guard_cfg_section, config_lookup(&cf, "guard"), &c, err, sizeof(err)), 0);
	ck_assert_uint_eq(c.norigins, 0);
	config_destroy(&cf);
}
END_TEST

static Suite *guard_suite(void)
{
	Suite *s = suite_create("guard");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_host_table, 0, (int)(sizeof(host_rows) / sizeof(host_rows[0])));
	tcase_add_test(tc, test_host_absent_and_long);
	tcase_add_loop_test(tc, test_origin_table, 0, (int)(sizeof(origin_rows) / sizeof(origin_rows[0])));
	tcase_add_test(tc, test_host_checked_before_origin);
	tcase_add_loop_test(tc, test_cfg_bad, 0, (int)(sizeof(bad_cfg) / sizeof(bad_cfg[0])));
	tcase_add_test(tc, test_cfg_too_many);
	tcase_add_test(tc, test_cfg_good);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(guard_suite());
}
