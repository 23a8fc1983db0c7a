/* check_pct.c: unit tests for percent-encoding and UTF-8 validation (pct.c). */
#include <config.h>
#include "utf8.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "pct.h"
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

static void expect_decode(const char *in, int plus, const char *want)
{
	size_t n = 12345;
	char *s = pct_decode(in, strlen(in), plus, &n);

	ck_assert_msg(s != NULL, "decode of '%s' failed", in);
	ck_assert_str_eq(s, want);
	ck_assert_uint_eq(n, strlen(want));
	free(s);
}

static void expect_decode_fail(const char *in)
{
	char *s = pct_decode(in, strlen(in), 1, NULL);

	ck_assert_msg(s == NULL, "decode of '%s' should fail", in);
}

START_TEST(test_decode_ok)
{
	expect_decode("", 0, "");
	expect_decode("abc", 0, "abc");
	expect_decode("user%40example.com%2Fx", 0, "user@example.com/x");
	expect_decode("%e2%82%AC", 0, "\xe2\x82\xac");
	expect_decode("a+b", 0, "a+b");
	expect_decode("a+b", 1, "a b");
	expect_decode("%2B", 1, "+");
	expect_decode("%2e%2e", 0, "..");
	expect_decode("%0d%0a", 0, "\r\n");
	expect_decode("100%25", 0, "100%");
}
END_TEST

START_TEST(test_decode_bad)
{
	expect_decode_fail("%");
	expect_decode_fail("%4");
	expect_decode_fail("a%4");
	expect_decode_fail("%zz");
	expect_decode_fail("%g0");
	expect_decode_fail("%0g");
	expect_decode_fail("%00");
	expect_decode_fail("ab%00cd");
	expect_decode_fail("%%41");
}
END_TEST

START_TEST(test_decode_len_bound)
{
	/* only len bytes are looked at: "%41" cut after two bytes is malformed */
	char *s = pct_decode("%41", 2, 0, NULL);

	ck_assert_ptr_null(s);
	s = pct_decode("abcdef", 3, 0, NULL);
	ck_assert_str_eq(s, "abc");
	free(s);
}
END_TEST

START_TEST(test_encode)
{
	ck_assert_int_eq(pct_encode(&b, "AZaz09-._~", 10), 0);
	ck_assert_str_eq(b.data, "AZaz09-._~");
	buf_reset(&b);
	ck_assert_int_eq(pct_encode(&b, "user@example.com/x", 18), 0);
	ck_assert_str_eq(b.data, "user%40example.com%2Fx");
	buf_reset(&b);
	ck_assert_int_eq(pct_encode(&b, "a b+c&d=e?f#g%h:i", 17), 0);
	ck_assert_str_eq(b.data, "a%20b%2Bc%26d%3De%3Ff%23g%25h%3Ai");
	buf_reset(&b);
	ck_assert_int_eq(pct_encode(&b, "\xe2\x82\xac\x01\x7f\xff", 6), 0);
	ck_assert_str_eq(b.data, "%E2%82%AC%01%7F%FF");
	buf_reset(&b);
	ck_assert_int_eq(pct_encode(&b, "x\0y", 3), 0);
	ck_assert_str_eq(b.data, "x%00y");
}
END_TEST

START_TEST(test_encode_full_buffer)
{
	struct buf m;

	buf_init(&m, 8);
	ck_assert_int_eq(pct_encode(&m, "ab", 2), 0);
	ck_assert_int_eq(pct_encode(&m, "c d e", 5), -1);
	ck_assert_uint_eq(m.len, 2);
	ck_assert_str_eq(m.data, "ab");
	buf_free(&m);
}
END_TEST

START_TEST(test_roundtrip_all_bytes)
{
	char in[255], *out;
	size_t i, n;

	for (i = 0; i < sizeof(in); i++)
		in[i] = (char)(i + 1);
	ck_assert_int_eq(pct_encode(&b, in, sizeof(in)), 0);
	out = pct_decode(b.data, b.len, 0, &n);
	ck_assert_ptr_nonnull(out);
	ck_assert_uint_eq(n, sizeof(in));
	ck_assert_int_eq(memcmp(in, out, n), 0);
	free(out);
}
END_TEST

#define V(s) utf8_valid(s, sizeof(s) - 1)

START_TEST(test_utf8)
{
	ck_assert_int_eq(V(""), 1);
	ck_assert_int_eq(V("plain ascii"), 1);
	ck_assert_int_eq(V("\xc3\xa9"), 1);         /* é */
	ck_assert_int_eq(V("\xe2\x82\xac"), 1);     /* € */
	ck_assert_int_eq(V("\xf0\x9f\x98\x80"), 1); /* U+1F600 */
	ck_assert_int_eq(V("\xf4\x8f\xbf\xbf"), 1); /* U+10FFFF */
	ck_assert_int_eq(V("\xed\x9f\xbf"), 1);     /* U+D7FF */
	ck_assert_int_eq(V("\xee\x80\x80"), 1);     /* U+E000 */
	ck_assert_int_eq(V("a\0b"), 1);             /* NUL is valid UTF-8 */
	ck_assert_int_eq(V("\x80"), 0);             /* lone continuation */
	ck_assert_int_eq(V("\xc3"), 0);             /* truncated */
	ck_assert_int_eq(V("\xe2\x82"), 0);
	ck_assert_int_eq(V("\xc0\xaf"), 0); /* overlong '/' */
	ck_assert_int_eq(V("\xc1\xbf"), 0);
	ck_assert_int_eq(V("\xe0\x80\xaf"), 0); /* overlong 3-byte */
	ck_assert_int_eq(V("\xe0\x9f\xbf"), 0);
	ck_assert_int_eq(V("\xf0\x80\x80\xaf"), 0); /* overlong 4-byte */
	ck_assert_int_eq(V("\xf0\x8f\xbf\xbf"), 0);
	ck_assert_int_eq(V("\xed\xa0\x80"), 0);     /* U+D800 surrogate */
	ck_assert_int_eq(V("\xed\xbf\xbf"), 0);     /* U+DFFF */
	ck_assert_int_eq(V("\xf4\x90\x80\x80"), 0); /* > U+10FFFF */
	ck_assert_int_eq(V("\xf5\x80\x80\x80"), 0);
	ck_assert_int_eq(V("\xfe"), 0);
	ck_assert_int_eq(V("\xff"), 0);
	ck_assert_int_eq(V("\xc3\x28"), 0); /* bad continuation */
	ck_assert_int_eq(V("ok\xe2\x82\xac\xe2"), 0);
	ck_assert_int_eq(utf8_valid("\xc3\xa9", 1), 0); /* len bounds the look */
}
END_TEST

static Suite *pct_suite(void)
{
	Suite *s = suite_create("pct");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_decode_ok);
	tcase_add_test(tc, test_decode_bad);
	tcase_add_test(tc, test_decode_len_bound);
	tcase_add_test(tc, test_encode);
	tcase_add_test(tc, test_encode_full_buffer);
	tcase_add_test(tc, test_roundtrip_all_bytes);
	tcase_add_test(tc, test_utf8);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(pct_suite());
}
