/* check_cli_parse.c: unit tests for the client's reader of one HTTP/1.1 answer (src/cli/cli_parse.c):
 * Content-Length, chunked and close-delimited bodies, interim 1xx answers, HEAD/204, answers fed a byte
 * at a time, and every refusal (malformed, cut short, too large). */
#include <config.h>

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "check_main.h"

static struct cli_resp r;
static struct cli_parse ps;

static void setup(void)
{
	resp_init(&r);
}

static void teardown(void)
{
	resp_free(&r);
}

/* Feed text whole, then (for rc 1) again a byte at a time: both must give the same verdict. */
static int parse_all(const char *text, int head, int eof)
{
	size_t len = strlen(text), i;
	int rc, rc1 = 0;

	cli_parse_init(&ps, head);
	rc = cli_parse(&ps, text, len, eof, &r);
	if (rc != 1)
		return rc;
	{
		struct cli_resp r2;
		struct cli_parse p2;

		resp_init(&r2);
		cli_parse_init(&p2, head);
		for (i = 1; i <= len && rc1 == 0; i++)
			rc1 = cli_parse(&p2, text, i, eof && i == len, &r2);
		ck_assert_int_eq(rc1, 1);
		ck_assert_int_eq(r2.status, r.status);
		ck_assert_uint_eq(r2.body.len, r.body.len);
		ck_assert(r.body.len == 0 || memcmp(r2.body.data, r.body.data, r.body.len) == 0);
		resp_free(&r2);
	}
	return rc;
}

START_TEST(test_content_length)
{
	ck_assert_int_eq(parse_all("HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\n"
	                           "x-ms-error-code:  Warning.Foo \r\nContent-Length: 9\r\n\r\n{\"id\":1}\n",
	                           0, 0),
	                 1);
	ck_assert_int_eq(r.status, 202);
	ck_assert_str_eq(r.ctype, "application/json");
	ck_assert_str_eq(r.errcode, "Warning.Foo");
	ck_assert_uint_eq(r.body.len, 9);
	ck_assert_str_eq(r.body.data, "{\"id\":1}\n");
	/* not yet: the body is short and the connection open */
	cli_parse_init(&ps, 0);
	ck_assert_int_eq(cli_parse(&ps, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", 40, 0, &r), 0);
}
END_TEST

START_TEST(test_chunked)
{
	ck_assert_int_eq(parse_all("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	                           "3\r\nabc\r\nA;ext=1\r\n0123456789\r\n0\r\nTrailer: x\r\n\r\n",
	                           0, 0),
	                 1);
	ck_assert_uint_eq(r.body.len, 13);
	ck_assert_str_eq(r.body.data, "abc0123456789");
	ck_assert_int_eq(parse_all("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 0, 0),
	                 1);
	ck_assert_uint_eq(r.body.len, 0);
}
END_TEST

START_TEST(test_close_delimited_head_204_interim)
{
	ck_assert_int_eq(parse_all("HTTP/1.0 200 OK\r\n\r\nuntil the end", 0, 1), 1);
	ck_assert_str_eq(r.body.data, "until the end");
	cli_parse_init(&ps, 0);
	ck_assert_int_eq(cli_parse(&ps, "HTTP/1.0 200 OK\r\n\r\nmore", 23, 0, &r), 0);
	ck_assert_int_eq(parse_all("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", 1, 0), 1);
	ck_assert_uint_eq(r.body.len, 0);
	ck_assert_int_eq(parse_all("HTTP/1.1 204 No Content\r\n\r\n", 0, 0), 1);
	ck_assert_int_eq(r.status, 204);
	ck_assert_int_eq(parse_all("HTTP/1.1 100 Continue\r\nX: y\r\n\r\nHTTP/1.1 404 Not Found\r\n"
	                           "Content-Length: 2\r\n\r\nno",
	                           0, 0),
	                 1);
	ck_assert_int_eq(r.status, 404);
	ck_assert_str_eq(r.body.data, "no");
}
END_TEST

START_TEST(test_refusals)
{
	static const struct {
		const char *text;
		int eof;
		const char *why;
	} bad[] = {
		{ "SSH-2.0-OpenSSH\r\n\r\n", 0, "not an HTTP/1.x answer" },
		{ "HTTP/2 200\r\n\r\n", 0, "not an HTTP/1.x answer" },
		{ "HTTP/1.1 2x0 OK\r\n\r\n", 0, "a malformed status line" },
		{ "HTTP/1.1 2000 OK\r\n\r\n", 0, "a malformed status line" },
		{ "HTTP/1.1 000 OK\r\n\r\n", 0, "a malformed status line" },
		{ "HTTP/1.1 600 OK\r\n\r\n", 0, "a malformed status line" },
		{ "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", 0, "a malformed Content-Length" },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n", 0, "a malformed Content-Length" },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 0,
		  "a malformed Content-Length" },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", 0,
		  "a Transfer-Encoding other than chunked" },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 0, "a malformed chunk" },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n0\r\n\r\n", 0,
		  "a malformed chunk" },
		{ "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab", 1,
		  "the answer was cut short" },
		{ "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", 1, "the answer was cut short" },
		{ "HTTP/1.1 200 OK\r\nContent-Le", 1, "the connection closed before the answer" },
		{ "", 1, "the connection closed before the answer" },
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cli_parse_init(&ps, 0);
		ck_assert_msg(cli_parse(&ps, bad[i].text, strlen(bad[i].text), bad[i].eof, &r) == -1,
		              "case %zu", i);
		ck_assert_str_eq(ps.error, bad[i].why);
		ck_assert_int_eq(ps.too_large, 0);
	}
}
END_TEST

START_TEST(test_bounds)
{
	size_t n = CLI_RESPONSE_MAX + 1, hl;
	char *big = malloc(n + 128), *hdr = malloc(70000);

	ck_assert_ptr_nonnull(big);
	ck_assert_ptr_nonnull(hdr);
	hl = (size_t)sprintf(big, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", n);
	memset(big + hl, 'x', n);
	cli_parse_init(&ps, 0);
	ck_assert_int_eq(cli_parse(&ps, big, hl + n, 0, &r), -1);
	ck_assert_int_eq(ps.too_large, 1);
	/* headers that never end */
	memcpy(hdr, "HTTP/1.1 200 OK\r\n", 17);
	memset(hdr + 17, 'h', 70000 - 17);
	cli_parse_init(&ps, 0);
	ck_assert_int_eq(cli_parse(&ps, hdr, 70000, 0, &r), -1);
	ck_assert_str_eq(ps.error, "an answer whose headers are too large");
	free(big);
	free(hdr);
}
END_TEST

static Suite *cli_parse_suite(void)
{
	Suite *s = suite_create("cli_parse");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_content_length);
	tcase_add_test(tc, test_chunked);
	tcase_add_test(tc, test_close_delimited_head_204_interim);
	tcase_add_test(tc, test_refusals);
	tcase_add_test(tc, test_bounds);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(cli_parse_suite());
}
