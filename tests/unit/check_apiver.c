/* check_apiver.c: unit tests for the table of published api-versions and the per-version rules. */
#include <config.h>

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "apiver.h"
#include "check_main.h"
#include "ops.h"

static struct ops_req req;
static struct ops_err err;

static void setup(void)
{
	ops_req_init(&req);
	memset(&err, 0, sizeof(err));
}

static void teardown(void)
{
	ops_req_free(&req);
}

/* Route and validate a raw target, then apiver_validate; returns its result. */
static int check(const char *method, const char *target, const char *dflt)
{
	ops_req_free(&req);
	ops_req_init(&req);
	memset(&err, 0, sizeof(err));
	ck_assert_msg(ops_parse_request(method, target, &req, &err) == 0, "%s %s: %s", method, target,
	              err.message);
	return apiver_validate(&req, dflt, &err);
}

START_TEST(test_table)
{
	size_t n, i;
	const struct apiver *t = apiver_table(&n);
	static const char *const want[] = { "2020-10-01",         "2021-01-01", "2021-05-01-preview",
		                            "2021-08-01-preview", "2021-10-01", "2022-10-01-preview",
		                            "2022-11-01",         "2023-07-01", "2024-01-01",
		                            "2024-12-01" };

	ck_assert_uint_eq(n, sizeof(want) / sizeof(want[0]));
	for (i = 0; i < n; i++) {
		ck_assert_str_eq(t[i].name, want[i]);
		ck_assert_ptr_eq(apiver_find(want[i]), &t[i]);
		ck_assert_int_eq(ops_api_version_known(want[i]), 1);
		ck_assert_int_eq(apiver_syntax_ok(want[i]), 1);
		/* every version has the health probe; newer stable ones keep what older ones had */
		ck_assert(t[i].ops & (1ul << OP_GET_SERVICE_STATUS));
		if (i > 0 && !t[i].preview && !t[i - 1].preview)
			ck_assert_uint_eq(t[i].ops & t[i - 1].ops, t[i - 1].ops);
	}
	ck_assert_str_eq(apiver_newest()->name, WPS_DEFAULT_API_VERSION);
	ck_assert_ptr_null(apiver_find("2024-12-02"));
	ck_assert_ptr_null(apiver_find("2024-12-01 "));
	ck_assert_ptr_null(apiver_find(NULL));
	/* 2024-12-01 has every operation of the table */
	ck_assert_uint_eq(apiver_find("2024-12-01")->ops, (1ul << OP__COUNT) - 1);
}
END_TEST

START_TEST(test_first_with)
{
	ck_assert_str_eq(apiver_first_with(OP_LIST_CONNECTIONS_IN_GROUP)->name, "2024-12-01");
	ck_assert_str_eq(apiver_first_with(OP_ADD_CONNECTIONS_TO_GROUPS)->name, "2023-07-01");
	ck_assert_str_eq(apiver_first_with(OP_REMOVE_CONNECTION_FROM_ALL_GROUPS)->name, "2022-10-01-preview");
	ck_assert_str_eq(apiver_first_with(OP_CLOSE_ALL_CONNECTIONS)->name, "2021-10-01");
	ck_assert_str_eq(apiver_first_with(OP_GENERATE_CLIENT_TOKEN)->name, "2021-08-01-preview");
	ck_assert_str_eq(apiver_first_with(OP_SEND_TO_ALL)->name, "2020-10-01");
}
END_TEST

START_TEST(test_syntax)
{
	ck_assert_int_eq(apiver_syntax_ok("2099-01-01"), 1);
	ck_assert_int_eq(apiver_syntax_ok("2099-01-01-beta2"), 1);
	ck_assert_int_eq(apiver_syntax_ok("2099-01-01-"), 0);
	ck_assert_int_eq(apiver_syntax_ok("2099-01-01-Preview"), 0);
	ck_assert_int_eq(apiver_syntax_ok("2099-01-01-abcdefghijklmnopq"), 0); /* 17 letters */
	ck_assert_int_eq(apiver_syntax_ok("2099-01-01-abcdefghijklmnop"), 1);  /* 16 */
	ck_assert_int_eq(apiver_syntax_ok("2099-1-01"), 0);
	ck_assert_int_eq(apiver_syntax_ok("2024-13-01"), 0);
	ck_assert_int_eq(apiver_syntax_ok("2024-00-01"), 0);
	ck_assert_int_eq(apiver_syntax_ok("2024-12-32"), 0);
	ck_assert_int_eq(apiver_syntax_ok("2024-12-00"), 0);
	ck_assert_int_eq(apiver_syntax_ok("2024-12-31"), 1);
	ck_assert_int_eq(apiver_syntax_ok("latest"), 0);
	ck_assert_int_eq(apiver_syntax_ok(""), 0);
	ck_assert_int_eq(apiver_syntax_ok("2099-01-01x"), 0);
	ck_assert_int_eq(apiver_syntax_ok(NULL), 0);
}
END_TEST

START_TEST(test_query_masks)
{
	const struct apiver *v21 = apiver_find("2021-10-01"), *v22p = apiver_find("2022-10-01-preview");
	const struct apiver *v23 = apiver_find("2023-07-01"), *v24 = apiver_find("2024-01-01");

	ck_assert_uint_eq(apiver_query_mask(v21, OP_SEND_TO_ALL), OPQ_EXCLUDED);
	ck_assert_uint_eq(apiver_query_mask(v22p, OP_SEND_TO_GROUP), OPQ_EXCLUDED | OPQ_DOLLAR_FILTER);
	ck_assert_uint_eq(apiver_query_mask(apiver_find("2022-11-01"), OP_SEND_TO_USER), OPQ_FILTER);
	ck_assert_uint_eq(apiver_query_mask(v23, OP_SEND_TO_CONNECTION), OPQ_TTL);
	ck_assert_uint_eq(apiver_query_mask(v21, OP_GENERATE_CLIENT_TOKEN),
	                  OPQ_USER_ID | OPQ_ROLE | OPQ_MINUTES);
	ck_assert_uint_eq(apiver_query_mask(v23, OP_GENERATE_CLIENT_TOKEN),
	                  OPQ_USER_ID | OPQ_ROLE | OPQ_MINUTES | OPQ_GROUP);
	ck_assert_uint_eq(apiver_query_mask(v24, OP_GENERATE_CLIENT_TOKEN),
	                  OPQ_USER_ID | OPQ_ROLE | OPQ_MINUTES | OPQ_GROUP | OPQ_CLIENT_TYPE);
	ck_assert_uint_eq(apiver_query_mask(v24, OP_LIST_CONNECTIONS_IN_GROUP), 0);
	ck_assert_uint_eq(apiver_query_mask(NULL, OP_SEND_TO_ALL), 0);
}
END_TEST

START_TEST(test_validate)
{
	/* the caller's version decides; without one, the default */
	ck_assert_int_eq(check("POST",
	                       "/api/hubs/h/:send?filter=userId%20eq%20%27a%27&api-version=2022-11-01",
	                       "2024-12-01"),
	                 0);
	ck_assert_int_eq(check("POST", "/api/hubs/h/:send?filter=x&api-version=2021-10-01", "2024-12-01"),
	                 -1);
	ck_assert_int_eq(err.status, 400);
	ck_assert_str_eq(err.code, "InvalidParameter");
	ck_assert_str_eq(err.message, "SendToAll of api-version 2021-10-01 takes no query parameter filter");
	ck_assert_int_eq(check("POST", "/api/hubs/h/:send?filter=x", "2021-10-01"), -1);
	ck_assert_int_eq(check("POST", "/api/hubs/h/:send?filter=x", "2024-12-01"), 0);
	ck_assert_int_eq(check("POST", "/api/hubs/h/:send?%24filter=x&api-version=2022-10-01-preview", NULL),
	                 0);
	ck_assert_int_eq(check("POST", "/api/hubs/h/:send?%24filter=x&api-version=2024-12-01", NULL), -1);
	ck_assert_str_eq(err.message, "SendToAll of api-version 2024-12-01 takes no query parameter $filter");
	/* an operation the version does not have */
	ck_assert_int_eq(check("GET", "/api/hubs/h/groups/g/connections?api-version=2024-01-01", NULL), -1);
	ck_assert_str_eq(
	        err.message,
	        "api-version 2024-01-01 has no ListConnectionsInGroup (the service added it in 2024-12-01)");
	ck_assert_int_eq(check("POST", "/api/hubs/h/:send?api-version=2021-01-01", NULL), -1);
	ck_assert_int_eq(check("HEAD", "/api/health?api-version=2021-01-01", NULL), 0);
	ck_assert_int_eq(check("HEAD", "/api/health?api-version=2021-08-01-preview", NULL), 0);
	ck_assert_int_eq(
	        check("POST", "/api/hubs/h/:generateToken?clientType=MQTT&api-version=2023-07-01", NULL), -1);
	ck_assert_int_eq(
	        check("POST", "/api/hubs/h/:generateToken?clientType=MQTT&api-version=2024-01-01", NULL), 0);
	/* a version never published: the newest stable rules */
	ck_assert_int_eq(check("GET", "/api/hubs/h/groups/g/connections?top=1&api-version=2099-01-01", NULL),
	                 0);
	ck_assert_int_eq(check("POST", "/api/hubs/h/:send?%24filter=x&api-version=2099-01-01-preview", NULL),
	                 -1);
	/* not an api-version at all */
	ck_assert_int_eq(check("POST", "/api/hubs/h/:send?api-version=latest", NULL), -1);
	ck_assert_int_eq(err.status, 400);
	ck_assert_int_eq(check("POST", "/api/hubs/h/:send?api-version=", NULL), -1);
	/* no version given and no default: the newest rules */
	ck_assert_int_eq(check("POST", "/api/hubs/h/:send?messageTtlSeconds=5", NULL), 0);
}
END_TEST

static Suite *apiver_suite(void)
{
	Suite *s = suite_create("apiver");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_table);
	tcase_add_test(tc, test_first_with);
	tcase_add_test(tc, test_syntax);
	tcase_add_test(tc, test_query_masks);
	tcase_add_test(tc, test_validate);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(apiver_suite());
}
