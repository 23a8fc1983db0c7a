/* check_connstr.c: unit tests for connection string parsing (connstr.c). */
#include <config.h>

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "connstr.h"
#include "check_main.h"

#define SECRET "S3cr3tKeyABCDEFGHIJKLMNOPQRSTUVWXYZ0123456=="

static struct connstr cs;
static char err[256];

static void setup(void)
{
	memset(&cs, 0, sizeof(cs));
	memset(err, 0, sizeof(err));
}

static void teardown(void)
{
	connstr_free(&cs);
}

static void expect_ok(const char *s, const char *endpoint, const char *key)
{
	int rc = connstr_parse(s, &cs, err, sizeof(err));

	ck_assert_msg(rc == 0, "'%s' rejected: %s", s, err);
	ck_assert_str_eq(cs.endpoint, endpoint);
	ck_assert_str_eq(cs.access_key, key);
	connstr_free(&cs);
	ck_assert_ptr_null(cs.endpoint);
	ck_assert_ptr_null(cs.access_key);
}

static void expect_bad(const char *s, const char *errpart)
{
	int rc = connstr_parse(s, &cs, err, sizeof(err));

	ck_assert_msg(rc == -1, "'%s' accepted", s);
	ck_assert_ptr_null(cs.endpoint);
	ck_assert_ptr_null(cs.access_key);
	ck_assert_msg(strstr(err, errpart) != NULL, "error for '%s' is '%s', wanted '%s'", s, err, errpart);
	ck_assert_msg(strstr(err, "S3cr3t") == NULL, "error leaks the key: %s", err);
}

START_TEST(test_good)
{
	expect_ok("Endpoint=https://x.webpubsub.azure.com;AccessKey=" SECRET ";Version=1.0;",
	          "https://x.webpubsub.azure.com", SECRET);
	expect_ok("Endpoint=https://x.webpubsub.azure.com;AccessKey=" SECRET ";Version=1.0",
	          "https://x.webpubsub.azure.com", SECRET);
	expect_ok("AccessKey=" SECRET ";Endpoint=http://localhost/;Port=8080;Version=1.0;",
	          "http://localhost:8080", SECRET);
	expect_ok("endpoint=https://x.example//;accesskey=" SECRET, "https://x.example", SECRET);
	expect_ok("ENDPOINT=https://x.example;ACCESSKEY=a=b=c;VERSION=2.0;;", "https://x.example", "a=b=c");
	expect_ok("Endpoint=http://127.0.0.1:7090;AccessKey=k", "http://127.0.0.1:7090", "k");
	expect_ok(" Endpoint = https://x.example ; AccessKey = k \n", "https://x.example", "k");
	expect_ok("Endpoint=https://x.example;AccessKey=k;ClientEndpoint=https://y.example;",
	          "https://x.example", "k");
	expect_ok("Endpoint=http://[::1];AccessKey=k;Port=7090", "http://[::1]:7090", "k");
}
END_TEST

START_TEST(test_bad)
{
	expect_bad("", "no Endpoint");
	expect_bad(";;;", "no Endpoint");
	expect_bad("AccessKey=" SECRET, "no Endpoint");
	expect_bad("Endpoint=https://x.example", "no AccessKey");
	expect_bad("Endpoint=https://x.example;AccessKey=", "no AccessKey");
	expect_bad("Endpoint=;AccessKey=" SECRET, "no Endpoint");
	expect_bad("Endpoint=https://x.example;AccessKey", "segment 2");
	expect_bad("Endpoint=https://x.example;AccessKey=" SECRET ";garbage",
	           "segment 3 of the connection string has no '='");
	expect_bad("Endpoint=ftp://x.example;AccessKey=" SECRET, "http:// or https://");
	expect_bad("Endpoint=x.example;AccessKey=" SECRET, "http:// or https://");
	expect_bad("Endpoint=https://;AccessKey=" SECRET, "scheme://host");
	expect_bad("Endpoint=https://x.example/path;AccessKey=" SECRET, "scheme://host");
	expect_bad("Endpoint=https://x.example;AccessKey=" SECRET ";Port=0", "Port");
	expect_bad("Endpoint=https://x.example;AccessKey=" SECRET ";Port=65536", "Port");
	expect_bad("Endpoint=https://x.example;AccessKey=" SECRET ";Port=80a", "Port");
	expect_bad("Endpoint=https://x.example;AccessKey=" SECRET ";Port=", "Port");
	expect_bad("Endpoint=https://x.example:1;AccessKey=" SECRET ";Port=2", "both");
	expect_bad("Endpoint=https://a;Endpoint=https://b;AccessKey=" SECRET, "twice");
	expect_bad("Endpoint=https://a;AccessKey=" SECRET ";AccessKey=" SECRET, "twice");
}
END_TEST

START_TEST(test_null_and_long)
{
	char *big;

	ck_assert_int_eq(connstr_parse(NULL, &cs, err, sizeof(err)), -1);
	big = malloc(10000);
	memset(big, 'a', 9999);
	big[9999] = '\0';
	ck_assert_int_eq(connstr_parse(big, &cs, err, sizeof(err)), -1);
	ck_assert_ptr_null(cs.endpoint);
	free(big);
	/* a tiny error buffer is still NUL-terminated */
	{
		char small[8];

		ck_assert_int_eq(connstr_parse("x", &cs, small, sizeof(small)), -1);
		ck_assert_uint_eq(strlen(small), 7);
	}
	ck_assert_int_eq(connstr_parse("x", &cs, NULL, 0), -1);
	connstr_free(NULL);
}
END_TEST

static Suite *connstr_suite(void)
{
	Suite *s = suite_create("connstr");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_good);
	tcase_add_test(tc, test_bad);
	tcase_add_test(tc, test_null_and_long);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(connstr_suite());
}
