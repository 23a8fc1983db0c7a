/* check_buf.c: unit tests for the bounded byte buffer (buf.c). */
#include <config.h>

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "check_main.h"

static struct buf b;

static void setup(void)
{
	buf_init(&b, 0);
}

static void teardown(void)
{
	buf_free(&b);
}

START_TEST(test_append_and_nul)
{
	ck_assert_int_eq(buf_append(&b, "abc", 3), 0);
	ck_assert_uint_eq(b.len, 3);
	ck_assert_str_eq(b.data, "abc");
	ck_assert_int_eq(buf_puts(&b, "def"), 0);
	ck_assert_str_eq(b.data, "abcdef");
	ck_assert_int_eq(buf_append(&b, "", 0), 0);
	ck_assert_uint_eq(b.len, 6);
	ck_assert_int_eq(buf_append(&b, "x\0y", 3), 0);
	ck_assert_uint_eq(b.len, 9);
	ck_assert_int_eq(memcmp(b.data, "abcdefx\0y", 10), 0);
}
END_TEST

START_TEST(test_printf_small_and_large)
{
	char big[1000];

	ck_assert_int_eq(buf_printf(&b, "%d-%s", 42, "x"), 0);
	ck_assert_str_eq(b.data, "42-x");
	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ck_assert_int_eq(buf_printf(&b, "[%s]", big), 0);
	ck_assert_uint_eq(b.len, 4 + 2 + 999);
	ck_assert_int_eq(b.data[4], '[');
	ck_assert_int_eq(b.data[b.len - 1], ']');
	ck_assert_int_eq(b.data[b.len], '\0');
}
END_TEST

START_TEST(test_max_bound)
{
	struct buf m;

	buf_init(&m, 5);
	ck_assert_int_eq(buf_append(&m, "12345", 5), 0);
	ck_assert_int_eq(buf_append(&m, "6", 1), -1);
	ck_assert_uint_eq(m.len, 5);
	ck_assert_str_eq(m.data, "12345");
	buf_reset(&m);
	ck_assert_int_eq(buf_printf(&m, "%s", "123456"), -1);
	ck_assert_uint_eq(m.len, 0);
	ck_assert_str_eq(m.data, "");
	ck_assert_int_eq(buf_printf(&m, "%s", "1234"), 0);
	ck_assert_int_eq(buf_puts(&m, "ab"), -1);
	ck_assert_str_eq(m.data, "1234");
	buf_free(&m);
}
END_TEST

START_TEST(test_max_bound_large_printf)
{
	struct buf m;
	char big[600];

	buf_init(&m, 500);
	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ck_assert_int_eq(buf_printf(&m, "%s", big), -1);
	ck_assert_uint_eq(m.len, 0);
	ck_assert_int_eq(buf_printf(&m, "%.500s", big), 0);
	ck_assert_uint_eq(m.len, 500);
	buf_free(&m);
}
END_TEST

START_TEST(test_steal_and_reset)
{
	char *s;

	s = buf_steal(&b);
	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(s, "");
	free(s);
	buf_puts(&b, "hello");
	buf_reset(&b);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_str_eq(b.data, "");
	buf_puts(&b, "world");
	s = buf_steal(&b);
	ck_assert_str_eq(s, "world");
	ck_assert_ptr_null(b.data);
	ck_assert_uint_eq(b.len, 0);
	free(s);
	buf_free(NULL);
}
END_TEST

START_TEST(test_grow_many)
{
	size_t i;

	for (i = 0; i < 100000; i++)
		ck_assert_int_eq(buf_append(&b, "0123456789", 10), 0);
	ck_assert_uint_eq(b.len, 1000000);
	ck_assert_int_eq(b.data[999999], '9');
	ck_assert_int_eq(b.data[1000000], '\0');
}
END_TEST

static Suite *buf_suite(void)
{
	Suite *s = suite_create("buf");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_append_and_nul);
	tcase_add_test(tc, test_printf_small_and_large);
	tcase_add_test(tc, test_max_bound);
	tcase_add_test(tc, test_max_bound_large_printf);
	tcase_add_test(tc, test_steal_and_reset);
	tcase_add_test(tc, test_grow_many);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(buf_suite());
}
