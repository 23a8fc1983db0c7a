/* check_gw_api.c: the API's pure helpers: W3C traceparent validation, the canonical upstream target, and
 * the upstream response header lines kept (up_job_header), the early check of the request target. */
#include <config.h>

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_main.h"
#include "gateway/api.h"
#include "gateway/cfg.h"
#include "gateway/loop.h"
#include "gateway/upstream.h"
#include "ops.h"
#include "wpslimits.h"

START_TEST(traceparent)
{
	ck_assert_int_eq(api_traceparent_valid("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), 1);
	ck_assert_int_eq(api_traceparent_valid("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"), 1);
	ck_assert_int_eq(api_traceparent_valid(NULL), 0);
	ck_assert_int_eq(api_traceparent_valid(""), 0);
	/* all-zero trace id or parent id */
	ck_assert_int_eq(api_traceparent_valid("00-00000000000000000000000000000000-00f067aa0ba902b7-01"), 0);
	ck_assert_int_eq(api_traceparent_valid("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"), 0);
	/* upper case, version ff, other versions, wrong separators and lengths */
	ck_assert_int_eq(api_traceparent_valid("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"), 0);
	ck_assert_int_eq(api_traceparent_valid("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), 0);
	ck_assert_int_eq(api_traceparent_valid("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), 0);
	ck_assert_int_eq(api_traceparent_valid("00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), 0);
	ck_assert_int_eq(api_traceparent_valid("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-"),
	                 0);
	ck_assert_int_eq(api_traceparent_valid("00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01"), 0);
	ck_assert_int_eq(api_traceparent_valid("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0\r"),
	                 0);
}
END_TEST

START_TEST(upstream_target)
{
	char dir[] = "/tmp/check_gw_api.XXXXXX", path[64], err[256];
	struct cfg *c = NULL;
	struct loop *l;
	struct api *a;
	struct ops_req r;
	struct ops_err e;
	char *p = NULL, *q = NULL;
	FILE *f;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/c.conf", dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs("listen = { tcp = [ \"127.0.0.1:7080\" ]; };\n"
	      "upstream = { endpoint = \"https://x.webpubsub.azure.com\"; access_key_file = \"/k\"; "
	      "api_version = \"2024-01-01\"; };\n",
	      f);
	fclose(f);
	ck_assert_int_eq(cfg_load(path, &c, err, sizeof err), 0);
	ck_assert_ptr_nonnull(l = loop_new());
	ck_assert_ptr_nonnull(a = api_new(l, NULL, c, NULL));
	ops_req_init(&r);
	ck_assert_int_eq(
	        ops_parse_request("POST", "/api/hubs/chat/groups/a%40b/:send?excluded=x&excluded=y", &r, &e),
	        0);
	ck_assert_int_eq(api_upstream_target(a, &r, &p, &q), 0);
	ck_assert_str_eq(p, "/api/hubs/chat/groups/a%40b/:send");
	ck_assert_str_eq(q, "api-version=2024-01-01&excluded=x&excluded=y"); /* the configured default */
	free(p);
	free(q);
	ops_req_free(&r);
	ops_req_init(&r);
	ck_assert_int_eq(ops_parse_request("POST", "/api/hubs/chat/:send?api-version=2024-12-01", &r, &e), 0);
	ck_assert_int_eq(api_upstream_target(a, &r, &p, &q), 0);
	ck_assert_str_eq(q, "api-version=2024-12-01"); /* a known version from the application */
	free(p);
	free(q);
	ops_req_free(&r);
	api_free(a);
	loop_free(l);
	cfg_free(c);
	unlink(path);
	rmdir(dir);
}
END_TEST

static void hdr(struct up_job *j, const char *line)
{
	up_job_header(j, line, strlen(line));
}

/* up_job_make: what the three callers give becomes the job's, copied or taken. */
START_TEST(job_make)
{
	struct up_job_spec sp;
	struct up_job *j;
	char ct[] = "text/plain";

	memset(&sp, 0, sizeof sp);
	sp.method = "POST";
	sp.path = strdup("/api/hubs/h/:send");
	sp.query = strdup("api-version=2024-12-01");
	sp.body = strdup("hello");
	sp.body_len = 5;
	sp.content_type = ct;
	sp.request_id = "r-1";
	sp.traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
	sp.tracestate = "a=b";
	sp.metrics_op = 3;
	sp.deadline_ms = 99;
	ck_assert_ptr_nonnull(j = up_job_make(&sp));
	ct[0] = 'X'; /* copied, not borrowed */
	ck_assert_str_eq(j->content_type, "text/plain");
	ck_assert_str_eq(j->path, "/api/hubs/h/:send");
	ck_assert_str_eq(j->query, "api-version=2024-12-01");
	ck_assert_uint_eq(j->body_len, 5);
	ck_assert_str_eq(j->request_id, "r-1");
	ck_assert_str_eq(j->traceparent, sp.traceparent);
	ck_assert_str_eq(j->tracestate, "a=b");
	ck_assert_int_eq(j->metrics_op, 3);
	ck_assert_uint_eq(j->deadline_ms, 99);
	up_job_free(j);
	/* no trace context: none sent; a tracestate alone is dropped */
	memset(&sp, 0, sizeof sp);
	sp.method = "GET";
	sp.path = strdup("/api/health");
	sp.query = strdup("api-version=2024-12-01");
	sp.tracestate = "a=b";
	ck_assert_ptr_nonnull(j = up_job_make(&sp));
	ck_assert_str_eq(j->traceparent, "");
	ck_assert_ptr_null(j->tracestate);
	ck_assert_ptr_null(j->body);
	up_job_free(j);
	/* a missing path: NULL, and what it would have taken is freed (ASan: no leak) */
	memset(&sp, 0, sizeof sp);
	sp.query = strdup("x");
	sp.body = strdup("y");
	ck_assert_ptr_null(up_job_make(&sp));
}
END_TEST

START_TEST(upstream_header_lines)
{
	struct up_job *j = up_job_new();
	char big[UP_HEADER_VALUE_MAX + 64];

	ck_assert_ptr_nonnull(j);
	hdr(j, "HTTP/1.1 100 Continue\r\n");
	hdr(j, "x-ms-error-code: early\r\n");
	ck_assert_str_eq(j->resp_error_code, "early");
	hdr(j, "HTTP/1.1 429 Too Many Requests\r\n"); /* a new head forgets the 1xx's headers */
	ck_assert_ptr_null(j->resp_error_code);
	hdr(j, "Content-Type: \t application/json; charset=utf-8 \t\r\n");
	ck_assert_str_eq(j->resp_content_type, "application/json; charset=utf-8");
	hdr(j, "RETRY-AFTER:5\r\n");
	ck_assert_str_eq(j->resp_retry_after, "5");
	hdr(j, "retry-after-ms: 1500\r\n");
	ck_assert_str_eq(j->resp_retry_after_ms, "1500");
	hdr(j, "X-Ms-Retry-After-Ms: 250\n");
	ck_assert_str_eq(j->resp_x_ms_retry_after_ms, "250");
	hdr(j, "api-supported-versions: 2021-10-01, 2024-12-01\r\n");
	ck_assert_str_eq(j->resp_api_versions, "2021-10-01, 2024-12-01");
	hdr(j, "Content-Type: text/plain\r\n"); /* the last one wins */
	ck_assert_str_eq(j->resp_content_type, "text/plain");
	hdr(j, "Content-Type : text/html\r\n"); /* "Content-Type " is another name */
	ck_assert_str_eq(j->resp_content_type, "text/plain");
	hdr(j, "no colon at all\r\n");
	hdr(j, "Set-Cookie: a=b\r\n");
	hdr(j, "\r\n");
	/* not NUL-terminated: only len bytes are read */
	up_job_header(j, "x-ms-error-code: AB", 18);
	ck_assert_str_eq(j->resp_error_code, "A");
	/* values up to UP_HEADER_VALUE_MAX bytes are kept, longer ones ignored (the earlier value stays) */
	memcpy(big, "retry-after: ", 13);
	memset(big + 13, '7', UP_HEADER_VALUE_MAX);
	memcpy(big + 13 + UP_HEADER_VALUE_MAX, "\r\n", 3);
	hdr(j, big);
	ck_assert_uint_eq(strlen(j->resp_retry_after), UP_HEADER_VALUE_MAX);
	memcpy(big + 13 + UP_HEADER_VALUE_MAX, "8\r\n", 4);
	hdr(j, big);
	ck_assert_uint_eq(strlen(j->resp_retry_after), UP_HEADER_VALUE_MAX);
	ck_assert_int_eq(j->resp_retry_after[UP_HEADER_VALUE_MAX - 1], '7');
	hdr(j, "HTTP/1.1 200 OK\r\n");
	ck_assert_ptr_null(j->resp_content_type);
	ck_assert_ptr_null(j->resp_retry_after);
	ck_assert_ptr_null(j->resp_retry_after_ms);
	ck_assert_ptr_null(j->resp_x_ms_retry_after_ms);
	ck_assert_ptr_null(j->resp_api_versions);
	up_job_free(j);
}
END_TEST

/* A query of n parameters "a=b&a=b..." after "/api/hubs/h/:send?", in a malloc'ed buffer. */
static char *target(unsigned n, size_t pad)
{
	size_t len = 32 + 4 * (size_t)n + pad, i;
	char *u = malloc(len), *p;

	ck_assert_ptr_nonnull(u);
	p = u + sprintf(u, "/api/hubs/h/:send?");
	for (i = 0; i < n; i++)
		p += sprintf(p, i ? "&a=b" : "a=b");
	memset(p, 'x', pad);
	p[pad] = '\0';
	return u;
}

START_TEST(uri_check)
{
	char *u, plain[] = "/api/hubs/h/:send";
	size_t n;

	ck_assert_ptr_null(api_uri_check(NULL, plain, NULL));
	ck_assert_ptr_null(api_uri_check(NULL, NULL, NULL));
	/* WPS_QUERY_PARAMS_MAX parameters pass untouched */
	u = target(WPS_QUERY_PARAMS_MAX, 0);
	n = strlen(u);
	ck_assert_ptr_null(api_uri_check(NULL, u, NULL));
	ck_assert_uint_eq(strlen(u), n);
	free(u);
	/* one more: marked, and the query is cut right after the '?' */
	u = target(WPS_QUERY_PARAMS_MAX + 1, 0);
	ck_assert_ptr_nonnull(api_uri_check(NULL, u, NULL));
	ck_assert_str_eq(u, "/api/hubs/h/:send?");
	free(u);
	u = target(5000, 0);
	ck_assert_ptr_nonnull(api_uri_check(NULL, u, NULL));
	ck_assert_str_eq(u, "/api/hubs/h/:send?");
	free(u);
	/* a target of exactly WPS_URL_MAX bytes passes, one byte more is marked (another marker) */
	u = target(1, WPS_URL_MAX - strlen("/api/hubs/h/:send?a=b"));
	ck_assert_uint_eq(strlen(u), WPS_URL_MAX);
	ck_assert_ptr_null(api_uri_check(NULL, u, NULL));
	free(u);
	u = target(1, WPS_URL_MAX + 1 - strlen("/api/hubs/h/:send?a=b"));
	{
		char *m1 = api_uri_check(NULL, u, NULL), *m2, *v = target(WPS_QUERY_PARAMS_MAX + 1, 0);
		ck_assert_ptr_nonnull(m1);
		ck_assert_str_eq(u, "/api/hubs/h/:send?");
		m2 = api_uri_check(NULL, v, NULL);
		ck_assert_ptr_nonnull(m2);
		ck_assert_ptr_ne(m1, m2);
		free(v);
	}
	free(u);
}
END_TEST

static void nothing(void)
{
}

static Suite *suite(void)
{
	Suite *s = suite_create("gw_api");
	TCase *t = tcase_create("api");

	tcase_add_checked_fixture(t, nothing, nothing);
	tcase_add_test(t, traceparent);
	tcase_add_test(t, upstream_target);
	tcase_add_test(t, upstream_header_lines);
	tcase_add_test(t, job_make);
	tcase_add_test(t, uri_check);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	return check_run(suite());
}
