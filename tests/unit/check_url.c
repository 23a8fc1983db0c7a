/* check_url.c: unit tests for the URL and loopback rules of src/common/url.c. */
#include <config.h>

#include <check.h>
#include <string.h>

#include "check_main.h"
#include "url.h"

static int loop(const char *h)
{
	return url_host_is_loopback(h, strlen(h));
}

START_TEST(loopback)
{
	ck_assert_int_eq(loop("localhost"), 1);
	ck_assert_int_eq(loop("LocalHost"), 1);
	ck_assert_int_eq(loop("127.0.0.1"), 1);
	ck_assert_int_eq(loop("127.255.1.2"), 1);
	ck_assert_int_eq(loop("[::1]"), 1);
	ck_assert_int_eq(loop("[0:0:0:0:0:0:0:1]"), 1);
	ck_assert_int_eq(loop("[::ffff:127.0.0.1]"), 1);
	/* one form only: no shortened, octal or hex IPv4, no suffixes */
	ck_assert_int_eq(loop("127.1"), 0);
	ck_assert_int_eq(loop("0177.0.0.1"), 0);
	ck_assert_int_eq(loop("0x7f.0.0.1"), 0);
	ck_assert_int_eq(loop("127.0.0.1.evil.com"), 0);
	ck_assert_int_eq(loop("localhost.evil.com"), 0);
	ck_assert_int_eq(loop("128.0.0.1"), 0);
	ck_assert_int_eq(loop("[::2]"), 0);
	ck_assert_int_eq(loop("[::ffff:10.0.0.1]"), 0);
	ck_assert_int_eq(loop("::1"), 0);
	ck_assert_int_eq(loop(""), 0);
}
END_TEST

START_TEST(scheme_and_host_end)
{
	const char *h = NULL;
	const char *u = "https://x.example:443/p";

	ck_assert_int_eq(url_scheme(u, &h), 1);
	ck_assert_str_eq(h, "x.example:443/p");
	ck_assert_int_eq(url_scheme("http://a", &h), 0);
	ck_assert_str_eq(h, "a");
	h = NULL;
	ck_assert_int_eq(url_scheme("ftp://a", &h), -1);
	ck_assert_ptr_null(h);
	h = "[::1]:8080";
	ck_assert_int_eq((int)(url_host_end(h, h + strlen(h)) - h), 5);
	h = "127.0.0.1:8080";
	ck_assert_int_eq((int)(url_host_end(h, h + strlen(h)) - h), 9);
	h = "example";
	ck_assert_int_eq((int)(url_host_end(h, h + strlen(h)) - h), 7);
}
END_TEST

START_TEST(endpoint)
{
	char e[160];

	ck_assert_int_eq(url_endpoint_ok("http://localhost:8080", e, sizeof e), 1);
	ck_assert_int_eq(url_endpoint_ok("http://[::1]:8080", e, sizeof e), 1);
	ck_assert_int_eq(url_endpoint_ok("http://127.1.2.3", e, sizeof e), 1);
	ck_assert_int_eq(url_endpoint_ok("https://x.webpubsub.azure.com", e, sizeof e), 1);
	ck_assert_int_eq(url_endpoint_ok("https://x.webpubsub.azure.com/", e, sizeof e), 1);
	ck_assert_int_eq(url_endpoint_ok("http://localhost.evil.com", e, sizeof e), 0);
	ck_assert_ptr_nonnull(strstr(e, "loopback"));
	ck_assert_int_eq(url_endpoint_ok("http://127.0.0.1.evil.com", e, sizeof e), 0);
	ck_assert_int_eq(url_endpoint_ok("http://[::2]:80", e, sizeof e), 0);
	ck_assert_int_eq(url_endpoint_ok("https://user@x.webpubsub.azure.com", e, sizeof e), 0);
	ck_assert_int_eq(url_endpoint_ok("https://", e, sizeof e), 0);
	ck_assert_int_eq(url_endpoint_ok("x.webpubsub.azure.com", e, sizeof e), 0);
	ck_assert_int_eq(url_endpoint_ok("https://x.webpubsub.azure.com/api", e, sizeof e), 0);
	ck_assert_int_eq(url_endpoint_ok("https://x.webpubsub.azure.com?a=b", e, sizeof e), 0);
	ck_assert_int_eq(url_endpoint_ok("https://x y", e, sizeof e), 0);
}
END_TEST

START_TEST(metadata)
{
	char e[160];

	ck_assert_int_eq(
	        url_metadata_ok("http://169.254.169.254/metadata/identity/oauth2/token", e, sizeof e), 1);
	ck_assert_int_eq(url_metadata_ok("http://127.0.0.1:4000/msi/token", e, sizeof e), 1);
	ck_assert_int_eq(url_metadata_ok("https://login.example/t", e, sizeof e), 1);
	ck_assert_int_eq(url_metadata_ok("http://169.254.169.253/x", e, sizeof e), 0);
	ck_assert_int_eq(url_metadata_ok("http://10.0.0.1/x", e, sizeof e), 0);
	ck_assert_int_eq(url_metadata_ok("http://127.0.0.1/x?api-version=1", e, sizeof e), 0);
	ck_assert_int_eq(url_metadata_ok("http://u@127.0.0.1/x", e, sizeof e), 0);
	ck_assert_int_eq(url_metadata_ok("ftp://127.0.0.1/x", e, sizeof e), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("url");
	TCase *tc = tcase_create("url");

	tcase_add_test(tc, loopback);
	tcase_add_test(tc, scheme_and_host_end);
	tcase_add_test(tc, endpoint);
	tcase_add_test(tc, metadata);
	suite_add_tcase(s, tc);
	return check_run(s);
}
