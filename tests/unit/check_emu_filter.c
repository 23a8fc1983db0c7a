/* check_emu_filter.c: unit tests of the emulator's OData filter parser and evaluator. */
#include <config.h>

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emulator/filter.h"
#include "check_main.h"

static char s_a[] = "a", s_bc[] = "b c";
static char *g_none[] = { NULL };
static char *g_ab[] = { s_a, s_bc };

/* Evaluate src against a subject; -1 when it does not parse. */
static int ev(const char *src, const char *conn, const char *user, char **groups, size_t n)
{
	struct filter *f = NULL;
	struct filter_error err;
	if (filter_parse(src, strlen(src), &f, &err) < 0) {
		ck_assert_ptr_null(f);
		ck_assert_ptr_nonnull(err.reason);
		ck_assert_uint_le(err.pos, strlen(src));
		return -1;
	}
	struct filter_subject s = { conn, user, groups, n };
	int r = filter_eval(f, &s);
	filter_free(f);
	return r;
}

static void setup(void)
{
}
static void teardown(void)
{
}

START_TEST(eq_ne)
{
	ck_assert_int_eq(ev("userId eq 'u1'", "c1", "u1", g_none, 0), 1);
	ck_assert_int_eq(ev("userId eq 'u1'", "c1", "u2", g_none, 0), 0);
	ck_assert_int_eq(ev("userId ne 'u1'", "c1", "u2", g_none, 0), 1);
	ck_assert_int_eq(ev("userId ne 'u1'", "c1", "u1", g_none, 0), 0);
	ck_assert_int_eq(ev("connectionId eq 'c1'", "c1", NULL, g_none, 0), 1);
	ck_assert_int_eq(ev("'c1' eq connectionId", "c1", NULL, g_none, 0), 1);
	/* anonymous connections have a null userId */
	ck_assert_int_eq(ev("userId eq null", "c1", NULL, g_none, 0), 1);
	ck_assert_int_eq(ev("userId eq null", "c1", "u", g_none, 0), 0);
	ck_assert_int_eq(ev("userId ne 'x'", "c1", NULL, g_none, 0), 1);
	/* case-sensitive values */
	ck_assert_int_eq(ev("userId eq 'U1'", "c1", "u1", g_none, 0), 0);
}
END_TEST

START_TEST(logic_and_groups)
{
	ck_assert_int_eq(ev("'a' in groups", "c", "u", g_ab, 2), 1);
	ck_assert_int_eq(ev("'b c' in groups", "c", "u", g_ab, 2), 1);
	ck_assert_int_eq(ev("'b' in groups", "c", "u", g_ab, 2), 0);
	ck_assert_int_eq(ev("'x' in groups or 'a' in groups", "c", "u", g_ab, 2), 1);
	ck_assert_int_eq(ev("'x' in groups and 'a' in groups", "c", "u", g_ab, 2), 0);
	ck_assert_int_eq(ev("not('a' in groups)", "c", "u", g_ab, 2), 0);
	ck_assert_int_eq(ev("not ('x' in groups)", "c", "u", g_ab, 2), 1);
	ck_assert_int_eq(ev("not not ('a' in groups)", "c", "u", g_ab, 2), 1);
	/* and binds tighter than or */
	ck_assert_int_eq(ev("userId eq 'u' or userId eq 'v' and 'x' in groups", "c", "u", g_ab, 2), 1);
	ck_assert_int_eq(ev("(userId eq 'u' or userId eq 'v') and 'x' in groups", "c", "u", g_ab, 2), 0);
	ck_assert_int_eq(ev("  ( ( userId eq 'u' ) )  ", "c", "u", g_none, 0), 1);
}
END_TEST

START_TEST(functions_and_quotes)
{
	ck_assert_int_eq(ev("startswith(userId, 'listener-')", "c", "listener-7", g_none, 0), 1);
	ck_assert_int_eq(ev("startswith(userId,'listener-')", "c", "talker-7", g_none, 0), 0);
	ck_assert_int_eq(ev("startswith(userId, 'x')", "c", NULL, g_none, 0), 0);
	ck_assert_int_eq(ev("endswith(connectionId, '7')", "conn7", NULL, g_none, 0), 1);
	ck_assert_int_eq(ev("contains(userId, 'ste')", "c", "listener", g_none, 0), 1);
	ck_assert_int_eq(ev("userId eq 'O''Brien'", "c", "O'Brien", g_none, 0), 1);
	ck_assert_int_eq(ev("userId eq 'O''Brien'", "c", "OBrien", g_none, 0), 0);
	ck_assert_int_eq(ev("userId eq ''''", "c", "'", g_none, 0), 1);
	ck_assert_int_eq(ev("userId eq ''", "c", "", g_none, 0), 1);
}
END_TEST

START_TEST(malformed)
{
	static const char *bad[] = {
		"",
		"   ",
		"userId",
		"userId eq",
		"eq 'a'",
		"userId eq 'a",
		"userId eq 'a' and",
		"userId == 'a'",
		"userId eq \"a\"",
		"(userId eq 'a'",
		"userId eq 'a')",
		"userId eq 'a' 'b'",
		"'a' in",
		"'a' in group",
		"userId in groups",
		"startswith(userId 'a')",
		"startswith userId",
		"foo eq 'a'",
		"userId EQ 'a'",
		"not",
		"not()",
		"userId eq 'a' or or userId eq 'b'",
		"userId eq 1",
		"userId eq 'a' ; drop",
		"'a' eq",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(ev(bad[i], "c", "u", g_ab, 2) == -1, "accepted: %s", bad[i]);
}
END_TEST

START_TEST(limits)
{
	char deep[400], *big;
	size_t i, n = 0;
	/* 100 nested parentheses exceed the depth bound: an error, not a stack overflow */
	for (i = 0; i < 100; i++)
		deep[n++] = '(';
	memcpy(deep + n, "userId eq 'a'", 13);
	n += 13;
	for (i = 0; i < 100; i++)
		deep[n++] = ')';
	deep[n] = '\0';
	ck_assert_int_eq(ev(deep, "c", "a", g_none, 0), -1);
	/* 10 levels are fine */
	ck_assert_int_eq(ev("((((((((((userId eq 'a'))))))))))", "c", "a", g_none, 0), 1);
	/* more terms than the node bound */
	big = malloc(4000);
	n = 0;
	for (i = 0; i < 200; i++)
		n += (size_t)sprintf(big + n, "%s'g%zu' in groups", i ? " or " : "", i % 10);
	ck_assert_uint_lt(n, 4000);
	ck_assert_int_eq(ev(big, "c", "u", g_none, 0), -1);
	free(big);
	/* a NUL byte inside is refused */
	struct filter *f = NULL;
	struct filter_error err;
	ck_assert_int_eq(filter_parse("userId eq 'a\0b'", 15, &f, &err), -1);
	ck_assert_uint_eq(err.pos, 12);
	filter_free(NULL);
}
END_TEST

/* The position the service reports ("Syntax error at position N"): recorded for "invalid filter"
 * (tests/vectors/service/js.json); the others follow the same rule (the token where parsing stops). */
static size_t errpos(const char *src)
{
	struct filter *f = NULL;
	struct filter_error err;
	ck_assert_int_eq(filter_parse(src, strlen(src), &f, &err), -1);
	ck_assert_ptr_null(f);
	return err.pos;
}

START_TEST(positions)
{
	ck_assert_uint_eq(errpos("invalid filter"), 14);
	ck_assert_uint_eq(errpos("userId"), 6);
	ck_assert_uint_eq(errpos("userId eq"), 9);
	ck_assert_uint_eq(errpos("userId foo 'a'"), 11);
	ck_assert_uint_eq(errpos("foo eq 'x'"), 0);
	ck_assert_uint_eq(errpos("userId eq 'a' and bar ne 'b'"), 18);
	ck_assert_uint_eq(errpos("'a' in"), 6);
	ck_assert_uint_eq(errpos("   "), 3);
	ck_assert_uint_eq(errpos("(userId eq 'a'"), 14);
	ck_assert_uint_eq(errpos("userId eq 'a"), 10);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("emu_filter");
	TCase *tc = tcase_create("filter");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, eq_ne);
	tcase_add_test(tc, logic_and_groups);
	tcase_add_test(tc, functions_and_quotes);
	tcase_add_test(tc, malformed);
	tcase_add_test(tc, limits);
	tcase_add_test(tc, positions);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(suite());
}
