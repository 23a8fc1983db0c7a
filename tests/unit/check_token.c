/* check_token.c: unit tests for client access tokens and URLs (token.c) against the shared vectors. */
#include <config.h>

#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "jwt.h"
#include "ops.h"
#include "token.h"
#include "check_main.h"

#define KEY    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH"
#define KEYLEN (sizeof(KEY) - 1)
#define EP     "https://myservice.webpubsub.azure.com"
#define NOW    ((time_t)1700000000)

/* Vectors 2 and 3 of shared/vectors/jwt-signing.json */
#define V2_CLAIMS                                                                                            \
	"{\"aud\":\"https://myservice.webpubsub.azure.com/client/hubs/"                                      \
	"hub\",\"iat\":1700000000,\"exp\":1700003600,\"sub\":\"user1\",\"role\":[\"webpubsub.sendToGroup."   \
	"group1\",\"webpubsub.joinLeaveGroup\"],\"webpubsub.group\":[\"group1\"]}"
#define V2_TOKEN                                                                                             \
	"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."                                                              \
	"eyJhdWQiOiJodHRwczovL215c2VydmljZS53ZWJwdWJzdWIuYXp1cmUuY29tL2NsaWVudC9odWJzL2h1YiIsImlhdCI6MTcwMD" \
	"AwMDAwMCwiZXhwIjoxNzAwMDAzNjAwLCJzdWIiOiJ1c2VyMSIsInJvbGUiOlsid2VicHVic3ViLnNlbmRUb0dyb3VwLmdyb3Vw" \
	"MSIsIndlYnB1YnN1Yi5qb2luTGVhdmVHcm91cCJdLCJ3ZWJwdWJzdWIuZ3JvdXAiOlsiZ3JvdXAxIl19.BCc986bhbqvecent_" \
	"irASpT_FDrFj_MhPYSYQpeseV4"
#define V2_URL "wss://myservice.webpubsub.azure.com/client/hubs/hub?access_token=" V2_TOKEN
#define V3_CLAIMS                                                                                            \
	"{\"aud\":\"https://myservice.webpubsub.azure.com/clients/mqtt/hubs/"                                \
	"hub\",\"iat\":1700000000,\"exp\":1700003600}"
#define V3_TOKEN                                                                                             \
	"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."                                                              \
	"eyJhdWQiOiJodHRwczovL215c2VydmljZS53ZWJwdWJzdWIuYXp1cmUuY29tL2NsaWVudHMvbXF0dC9odWJzL2h1YiIsImlhdC" \
	"I6MTcwMDAwMDAwMCwiZXhwIjoxNzAwMDAzNjAwfQ.jjpMDHqypRFu07nsfOPveTU4wUOHm0-FTwSFSctAE18"
#define V3_URL "wss://myservice.webpubsub.azure.com/clients/mqtt/hubs/hub?access_token=" V3_TOKEN

static const char *const v2_roles[] = { "webpubsub.sendToGroup.group1", "webpubsub.joinLeaveGroup" };
static const char *const v2_groups[] = { "group1" };

static struct ops_req q;
static struct ops_err e;
static struct client_token_req tr;

static void setup(void)
{
	ops_req_init(&q);
	memset(&e, 0, sizeof(e));
	memset(&tr, 0, sizeof(tr));
}

static void teardown(void)
{
	token_req_release(&tr);
	ops_req_free(&q);
}

static void assert_response(json_t *res, const char *token, const char *base, const char *url)
{
	ck_assert_ptr_nonnull(res);
	ck_assert_str_eq(json_string_value(json_object_get(res, "token")), token);
	ck_assert_str_eq(json_string_value(json_object_get(res, "baseUrl")), base);
	ck_assert_str_eq(json_string_value(json_object_get(res, "url")), url);
	ck_assert_uint_eq(json_object_size(res), 3);
}

START_TEST(test_paths_and_types)
{
	enum client_type t;

	ck_assert_str_eq(token_client_path(CLIENT_DEFAULT), "client/hubs/");
	ck_assert_str_eq(token_client_path(CLIENT_MQTT), "clients/mqtt/hubs/");
	ck_assert_str_eq(token_client_path(CLIENT_SOCKETIO), "clients/socketio/hubs/");
	ck_assert_int_eq(token_client_type_parse("mqtt", &t), 0);
	ck_assert_int_eq(t, CLIENT_MQTT);
	ck_assert_int_eq(token_client_type_parse("DEFAULT", &t), 0);
	ck_assert_int_eq(t, CLIENT_DEFAULT);
	ck_assert_int_eq(token_client_type_parse("SocketIO", &t), 0);
	ck_assert_int_eq(t, CLIENT_SOCKETIO);
	ck_assert_int_eq(token_client_type_parse("ws", &t), -1);
	ck_assert_int_eq(token_client_type_parse(NULL, &t), -1);
}
END_TEST

START_TEST(test_vector2_claims_and_token)
{
	struct client_token_req r = { "user1", v2_roles, 2, v2_groups, 1, 60, CLIENT_DEFAULT };
	char *c = token_client_claims(EP, "hub", &r, NOW);
	json_t *res;

	ck_assert_str_eq(c, V2_CLAIMS);
	free(c);
	res = token_client_response(EP, "hub", &r, NOW, KEY, KEYLEN);
	assert_response(res, V2_TOKEN, "wss://myservice.webpubsub.azure.com/client/hubs/hub", V2_URL);
	json_decref(res);
}
END_TEST

START_TEST(test_vector3_mqtt)
{
	struct client_token_req r = { NULL, NULL, 0, NULL, 0, 60, CLIENT_MQTT };
	char *c = token_client_claims(EP, "hub", &r, NOW);
	json_t *res;

	ck_assert_str_eq(c, V3_CLAIMS);
	free(c);
	r.minutes = 0; /* the default is 60 */
	res = token_client_response(EP "/", "hub", &r, NOW, KEY, KEYLEN);
	assert_response(res, V3_TOKEN, "wss://myservice.webpubsub.azure.com/clients/mqtt/hubs/hub", V3_URL);
	json_decref(res);
}
END_TEST

START_TEST(test_http_socketio_and_hub_encoding)
{
	struct client_token_req r = { "u\"1/\xc3\xa9", NULL, 0, NULL, 0, 1, CLIENT_SOCKETIO };
	char *c = token_client_claims("http://127.0.0.1:7090", "a[b]", &r, 10);
	json_t *res, *claims = NULL;
	const char *url;

	ck_assert_str_eq(c, "{\"aud\":\"http://127.0.0.1:7090/clients/socketio/hubs/a%5Bb%5D\",\"iat\":10,"
	                    "\"exp\":70,\"sub\":\"u\\\"1/\xc3\xa9\"}");
	free(c);
	res = token_client_response("http://127.0.0.1:7090", "a[b]", &r, 10, KEY, KEYLEN);
	ck_assert_ptr_nonnull(res);
	ck_assert_str_eq(json_string_value(json_object_get(res, "baseUrl")),
	                 "ws://127.0.0.1:7090/clients/socketio/hubs/a%5Bb%5D");
	url = json_string_value(json_object_get(res, "url"));
#define SIO_PREFIX "ws://127.0.0.1:7090/clients/socketio/hubs/a%5Bb%5D?access_token="
	ck_assert_int_eq(strncmp(url, SIO_PREFIX, strlen(SIO_PREFIX)), 0);
	url += strlen(SIO_PREFIX);
	ck_assert_str_eq(url, json_string_value(json_object_get(res, "token")));
	ck_assert_int_eq(jwt_verify(url, KEY, KEYLEN, &claims), JWT_OK);
	ck_assert_str_eq(json_string_value(json_object_get(claims, "sub")), "u\"1/\xc3\xa9");
	ck_assert_int_eq(json_integer_value(json_object_get(claims, "exp")), 70);
	json_decref(claims);
	json_decref(res);
	ck_assert_ptr_null(token_client_response("ftp://x", "h", &r, 10, KEY, KEYLEN));
	ck_assert_ptr_null(token_client_response(NULL, "h", &r, 10, KEY, KEYLEN));
	ck_assert_ptr_null(token_client_claims(EP, NULL, &r, 10));
}
END_TEST

START_TEST(test_req_from_ops_vector2)
{
	json_t *res;

	ck_assert_int_eq(ops_parse_request("POST",
	                                   "/api/hubs/hub/:generateToken?userId=user1"
	                                   "&role=webpubsub.sendToGroup.group1&group=group1"
	                                   "&role=webpubsub.joinLeaveGroup&api-version=2024-12-01",
	                                   &q, &e),
	                 0);
	ck_assert_int_eq(token_req_from_ops(&q, &tr, &e), 0);
	ck_assert_str_eq(tr.user_id, "user1");
	ck_assert_uint_eq(tr.nroles, 2);
	ck_assert_str_eq(tr.roles[0], "webpubsub.sendToGroup.group1");
	ck_assert_str_eq(tr.roles[1], "webpubsub.joinLeaveGroup");
	ck_assert_uint_eq(tr.ngroups, 1);
	ck_assert_str_eq(tr.groups[0], "group1");
	ck_assert_int_eq(tr.minutes, 60);
	ck_assert_int_eq(tr.type, CLIENT_DEFAULT);
	res = token_client_response(EP, q.hub, &tr, NOW, KEY, KEYLEN);
	assert_response(res, V2_TOKEN, "wss://myservice.webpubsub.azure.com/client/hubs/hub", V2_URL);
	json_decref(res);
}
END_TEST

START_TEST(test_req_from_ops_options)
{
	ck_assert_int_eq(ops_parse_request("POST",
	                                   "/api/hubs/hub/:generateToken?minutesToExpire=5"
	                                   "&clientType=mqtt",
	                                   &q, &e),
	                 0);
	ck_assert_int_eq(token_req_from_ops(&q, &tr, &e), 0);
	ck_assert_ptr_null(tr.user_id);
	ck_assert_uint_eq(tr.nroles, 0);
	ck_assert_ptr_null(tr.roles);
	ck_assert_uint_eq(tr.ngroups, 0);
	ck_assert_int_eq(tr.minutes, 5);
	ck_assert_int_eq(tr.type, CLIENT_MQTT);
	token_req_release(&tr);
	ops_req_free(&q);
	ck_assert_int_eq(
	        ops_parse_request("POST", "/api/hubs/hub/:generateToken?group=a&group=b&group=c", &q, &e), 0);
	ck_assert_int_eq(token_req_from_ops(&q, &tr, &e), 0);
	ck_assert_uint_eq(tr.ngroups, 3);
	ck_assert_str_eq(tr.groups[2], "c");
}
END_TEST

START_TEST(test_req_from_ops_bad)
{
	/* not validated by ops_validate_query first: token_req_from_ops checks on its own */
	ck_assert_int_eq(ops_route("POST", "/api/hubs/hub/:generateToken", &q, &e), 0);
	ck_assert_int_eq(ops_add_query(&q, "minutesToExpire", "0", &e), 0);
	ck_assert_int_eq(token_req_from_ops(&q, &tr, &e), -1);
	ck_assert_int_eq(e.status, 400);
	ck_assert_ptr_null(tr.roles);
	ops_req_free(&q);
	ck_assert_int_eq(ops_route("POST", "/api/hubs/hub/:generateToken", &q, &e), 0);
	ck_assert_int_eq(ops_add_query(&q, "role", "r", &e), 0);
	ck_assert_int_eq(ops_add_query(&q, "clientType", "Browser", &e), 0);
	ck_assert_int_eq(token_req_from_ops(&q, &tr, &e), -1);
	ck_assert_int_eq(e.status, 400);
	ck_assert_ptr_null(tr.roles);
	token_req_release(NULL);
}
END_TEST

/* As the service's GenerateClientToken issues them (tests/vectors/service/python-legacy.json). */
START_TEST(test_service_sign)
{
	static const char *const groups[] = { "g1" };
	struct client_token_req r = { .user_id = NULL, .groups = groups, .ngroups = 1, .minutes = 60 };
	char *tok = token_service_sign("https://x.webpubsub.azure.com", "hub", &r, 1668665415, "s-k", KEY,
	                               KEYLEN);
	json_t *claims = NULL;
	size_t n;
	unsigned char *part;
	const char *dot;

	ck_assert_ptr_nonnull(tok);
	ck_assert_int_eq(jwt_verify(tok, KEY, KEYLEN, &claims), JWT_OK);
	part = b64url_decode(tok, strcspn(tok, "."), &n);
	ck_assert_str_eq((char *)part, "{\"alg\":\"HS256\",\"kid\":\"s-k\",\"typ\":\"JWT\",\"cty\":\"JWT\"}");
	free(part);
	dot = strchr(tok, '.') + 1;
	part = b64url_decode(dot, strcspn(dot, "."), &n);
	ck_assert_str_eq((char *)part,
	                 "{\"nbf\":1668665415,\"exp\":1668669015,\"iat\":1668665415,\"aud\":"
	                 "\"https://x.webpubsub.azure.com/client/hubs/hub\",\"webpubsub.group\":[\"g1\"]}");
	free(part);
	json_decref(claims);
	free(tok);
	ck_assert_ptr_null(token_service_sign("https://x", "hub", &r, 1, NULL, KEY, KEYLEN));
}
END_TEST

static Suite *token_suite(void)
{
	Suite *s = suite_create("token");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_paths_and_types);
	tcase_add_test(tc, test_vector2_claims_and_token);
	tcase_add_test(tc, test_vector3_mqtt);
	tcase_add_test(tc, test_http_socketio_and_hub_encoding);
	tcase_add_test(tc, test_req_from_ops_vector2);
	tcase_add_test(tc, test_req_from_ops_options);
	tcase_add_test(tc, test_req_from_ops_bad);
	tcase_add_test(tc, test_service_sign);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(token_suite());
}
