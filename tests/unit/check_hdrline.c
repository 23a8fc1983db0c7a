/* check_hdrline.c: response header lines as libcurl hands them over, split into name and value. */
#include <config.h>

#include <check.h>
#include <string.h>

#include "check_main.h"
#include "hdrline.h"

static enum hdrline_kind split(const char *line, const char **n, size_t *nl, const char **v, size_t *vl)
{
	return hdrline_split(line, strlen(line), n, nl, v, vl);
}

START_TEST(test_split)
{
	const char *n, *v;
	size_t nl, vl;

	ck_assert_int_eq(split("HTTP/1.1 200 OK\r\n", &n, &nl, &v, &vl), HDRLINE_STATUS);
	ck_assert_int_eq(split("HTTP/2 100\r\n", &n, &nl, &v, &vl), HDRLINE_STATUS);
	ck_assert_int_eq(split("\r\n", &n, &nl, &v, &vl), HDRLINE_OTHER);
	ck_assert_int_eq(split("no colon\r\n", &n, &nl, &v, &vl), HDRLINE_OTHER);
	ck_assert_int_eq(split("Content-Type: \t text/plain; charset=utf-8 \t\r\n", &n, &nl, &v, &vl),
	                 HDRLINE_FIELD);
	ck_assert_uint_eq(nl, 12);
	ck_assert(strncmp(n, "Content-Type", nl) == 0);
	ck_assert_uint_eq(vl, strlen("text/plain; charset=utf-8"));
	ck_assert(strncmp(v, "text/plain; charset=utf-8", vl) == 0);
	ck_assert_int_eq(split("X-Empty:\r\n", &n, &nl, &v, &vl), HDRLINE_FIELD);
	ck_assert_uint_eq(vl, 0);
	ck_assert_int_eq(split("A:b:c\n", &n, &nl, &v, &vl), HDRLINE_FIELD); /* the first colon splits */
	ck_assert_uint_eq(nl, 1);
	ck_assert(strncmp(v, "b:c", vl) == 0 && vl == 3);
	/* only len bytes are read */
	ck_assert_int_eq(hdrline_split("K: vw", 4, &n, &nl, &v, &vl), HDRLINE_FIELD);
	ck_assert_uint_eq(vl, 1);
	ck_assert_int_eq(hdrline_split("HTTP/", 4, &n, &nl, &v, &vl), HDRLINE_OTHER);
}
END_TEST

static Suite *hdrline_suite(void)
{
	Suite *s = suite_create("hdrline");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_split);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(hdrline_suite());
}
