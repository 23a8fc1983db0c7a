/* check_emu_auth.c: unit tests of the emulator's token checks (auth.c): REST and client tokens. */
#include <config.h>

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "emulator/auth.h"
#include "emulator/emu.h"
#include "jwt.h"
#include "check_main.h"

#define KEY "emulator-test-key-0123456789"

static struct emu e;
static char keybuf[] = KEY;
static struct auth_client ac;
static char why[160];

static void setup(void)
{
	memset(&e, 0, sizeof(e));
	e.key = keybuf;
	e.keylen = strlen(KEY);
	strcpy(e.hostport, "127.0.0.1:9000");
	strcpy(e.endpoint, "http://127.0.0.1:9000");
	memset(&ac, 0, sizeof(ac));
}

static void teardown(void)
{
	auth_client_release(&ac);
}

static char *sign(const char *payload)
{
	char *t = jwt_sign(payload, strlen(payload), KEY, strlen(KEY));
	ck_assert_ptr_nonnull(t);
	return t;
}

static int client_check(const char *payload, const char *host, const char *hub)
{
	char *t = sign(payload);
	auth_client_release(&ac);
	int rc = auth_client(&e, t, host, hub, 1700000000, &ac, why, sizeof(why));
	free(t);
	return rc;
}

START_TEST(rest_tokens)
{
	char authz[600];
	char *t = jwt_server_token("http://127.0.0.1:9000/api/hubs/h/:send?api-version=2024-12-01",
	                           1700000060, KEY, strlen(KEY));
	snprintf(authz, sizeof(authz), "Bearer %s", t);
	ck_assert_int_eq(auth_rest(&e, authz, NULL, "/api/hubs/h/:send?api-version=2024-12-01", 1700000000,
	                           why, sizeof(why)),
	                 0);
	/* scheme "bearer" is case-insensitive */
	authz[0] = 'b';
	ck_assert_int_eq(auth_rest(&e, authz, NULL, "/api/hubs/h/:send?api-version=2024-12-01", 1700000000,
	                           why, sizeof(why)),
	                 0);
	/* a different query, path, or an expired token */
	ck_assert_int_eq(auth_rest(&e, authz, NULL, "/api/hubs/h/:send?api-version=2024-01-01", 1700000000,
	                           why, sizeof(why)),
	                 -1);
	ck_assert_str_eq(why, "The token's aud is not the request URL");
	ck_assert_int_eq(auth_rest(&e, authz, NULL, "/api/hubs/H/:send?api-version=2024-12-01", 1700000000,
	                           why, sizeof(why)),
	                 -1);
	ck_assert_int_eq(auth_rest(&e, authz, NULL, "/api/hubs/h/:send?api-version=2024-12-01", 1700000060,
	                           why, sizeof(why)),
	                 -1);
	ck_assert_str_eq(why, "The token is expired");
	free(t);
	/* encoded paths are compared as received */
	t = jwt_server_token("http://127.0.0.1:9000/api/hubs/h/users/a%40b/:send?api-version=2024-12-01",
	                     1700000060, KEY, strlen(KEY));
	snprintf(authz, sizeof(authz), "Bearer %s", t);
	ck_assert_int_eq(auth_rest(&e, authz, NULL, "/api/hubs/h/users/a%40b/:send?api-version=2024-12-01",
	                           1700000000, why, sizeof(why)),
	                 0);
	ck_assert_int_eq(auth_rest(&e, authz, NULL, "/api/hubs/h/users/a@b/:send?api-version=2024-12-01",
	                           1700000000, why, sizeof(why)),
	                 -1);
	free(t);
	/* other host only when it is the request's Host */
	t = jwt_server_token("http://localhost:9000/api/health", 1700000060, KEY, strlen(KEY));
	snprintf(authz, sizeof(authz), "Bearer %s", t);
	ck_assert_int_eq(auth_rest(&e, authz, NULL, "/api/health", 1700000000, why, sizeof(why)), -1);
	ck_assert_int_eq(auth_rest(&e, authz, "localhost:9000", "/api/health", 1700000000, why, sizeof(why)),
	                 0);
	free(t);
	/* no exp, no token, junk */
	t = sign("{\"aud\":\"http://127.0.0.1:9000/api/health\"}");
	snprintf(authz, sizeof(authz), "Bearer %s", t);
	ck_assert_int_eq(auth_rest(&e, authz, NULL, "/api/health", 1700000000, why, sizeof(why)), -1);
	ck_assert_str_eq(why, "The token has no exp claim");
	free(t);
	ck_assert_int_eq(auth_rest(&e, NULL, NULL, "/api/health", 1700000000, why, sizeof(why)), -1);
	ck_assert_int_eq(auth_rest(&e, "Basic abc", NULL, "/api/health", 1700000000, why, sizeof(why)), -1);
	ck_assert_int_eq(auth_rest(&e, "Bearer not.a.jwt", NULL, "/api/health", 1700000000, why, sizeof(why)),
	                 -1);
	ck_assert_ptr_null(strstr(why, "not.a.jwt"));
}
END_TEST

START_TEST(client_tokens)
{
	ck_assert_int_eq(client_check("{\"aud\":\"http://127.0.0.1:9000/client/hubs/"
	                              "chat\",\"iat\":1699999000,\"exp\":1700003600,"
	                              "\"sub\":\"alice\",\"role\":[\"webpubsub.joinLeaveGroup\",\"webpubsub."
	                              "sendToGroup.g\"],"
	                              "\"webpubsub.group\":[\"g1\",\"g2\"]}",
	                              NULL, "chat"),
	                 0);
	ck_assert_str_eq(ac.user, "alice");
	ck_assert_uint_eq(ac.nroles, 2);
	ck_assert_str_eq(ac.roles[1], "webpubsub.sendToGroup.g");
	ck_assert_uint_eq(ac.ngroups, 2);
	ck_assert_str_eq(ac.groups[0], "g1");
	/* the scheme is not checked (ws://, https://), the hub is case-insensitive */
	ck_assert_int_eq(client_check("{\"aud\":\"ws://127.0.0.1:9000/client/hubs/Chat\",\"exp\":1700003600}",
	                              NULL, "chat"),
	                 0);
	ck_assert_ptr_null(ac.user);
	ck_assert_uint_eq(ac.nroles, 0);
	ck_assert_int_eq(
	        client_check("{\"aud\":\"https://localhost:9000/client/hubs/chat\",\"exp\":1700003600}",
	                     "localhost:9000", "chat"),
	        0);
	/* the SDK's trailing-slash endpoint joins to the same path */
	ck_assert_int_eq(client_check("{\"aud\":\"http://127.0.0.1:9000/client/hubs/"
	                              "chat\",\"exp\":1700003600,\"role\":\"webpubsub.joinLeaveGroup\"}",
	                              NULL, "chat"),
	                 0);
	ck_assert_uint_eq(ac.nroles, 1);
	/* wrong host, hub, path, expired, bad claim types */
	ck_assert_int_eq(
	        client_check("{\"aud\":\"http://127.0.0.2:9000/client/hubs/chat\",\"exp\":1700003600}", NULL,
	                     "chat"),
	        -1);
	ck_assert_str_eq(why, "The token's aud is not this hub's client endpoint");
	ck_assert_int_eq(
	        client_check("{\"aud\":\"http://127.0.0.1:9000/client/hubs/other\",\"exp\":1700003600}", NULL,
	                     "chat"),
	        -1);
	ck_assert_int_eq(
	        client_check("{\"aud\":\"http://127.0.0.1:9000/clients/mqtt/hubs/chat\",\"exp\":1700003600}",
	                     NULL, "chat"),
	        -1);
	ck_assert_int_eq(client_check("{\"aud\":\"127.0.0.1:9000/client/hubs/chat\",\"exp\":1700003600}",
	                              NULL, "chat"),
	                 -1);
	ck_assert_int_eq(
	        client_check("{\"aud\":\"http://127.0.0.1:9000/client/hubs/chat\",\"exp\":1699999999}", NULL,
	                     "chat"),
	        -1);
	ck_assert_str_eq(why, "The token is expired");
	ck_assert_int_eq(client_check("{\"aud\":\"http://127.0.0.1:9000/client/hubs/"
	                              "chat\",\"exp\":1700003600,\"role\":[1]}",
	                              NULL, "chat"),
	                 -1);
	ck_assert_str_eq(why, "The token's role claim is invalid");
	ck_assert_int_eq(
	        client_check(
	                "{\"aud\":\"http://127.0.0.1:9000/client/hubs/chat\",\"exp\":1700003600,\"sub\":5}",
	                NULL, "chat"),
	        -1);
	ck_assert_int_eq(client_check("{\"aud\":\"http://127.0.0.1:9000/client/hubs/"
	                              "chat\",\"exp\":1700003600,\"webpubsub.group\":[\"\"]}",
	                              NULL, "chat"),
	                 -1);
	ck_assert_int_eq(client_check("{\"aud\":\"http://127.0.0.1:9000/client/hubs/"
	                              "chat\",\"exp\":1700003600,\"nbf\":1700009999}",
	                              NULL, "chat"),
	                 -1);
	ck_assert_ptr_null(ac.user);
	/* wrong key */
	char *t = jwt_sign("{\"aud\":\"http://127.0.0.1:9000/client/hubs/chat\",\"exp\":1700003600}", 62,
	                   "k2", 2);
	ck_assert_int_eq(auth_client(&e, t, NULL, "chat", 1700000000, &ac, why, sizeof(why)), -1);
	ck_assert_str_eq(why, "The token signature is invalid");
	free(t);
	ck_assert_int_eq(auth_client(&e, NULL, NULL, "chat", 1700000000, &ac, why, sizeof(why)), -1);
	ck_assert_int_eq(auth_client(&e, "", NULL, "chat", 1700000000, &ac, why, sizeof(why)), -1);
}
END_TEST

/* The Entra ID test mode: tokens of the fake issuer (HS256 with its own key, aud = the resource). */
#define ISSUER_KEY "fake-entra-issuer-key-0123456789"
static char *issuer_token(const char *payload, const char *key)
{
	char *t = jwt_sign(payload, strlen(payload), key, strlen(key));
	ck_assert_ptr_nonnull(t);
	return t;
}

static int rest_check(const char *tok)
{
	char authz[2048];
	snprintf(authz, sizeof(authz), "Bearer %s", tok);
	return auth_rest(&e, authz, NULL, "/api/hubs/h/:send?api-version=2024-12-01", 1700000000, why,
	                 sizeof(why));
}

START_TEST(entra_test_mode)
{
	char *t, *k;

	t = issuer_token("{\"aud\":\"https://webpubsub.azure.com\",\"exp\":1700000060,\"n\":1}", ISSUER_KEY);
	/* off by default: the access key is all that counts */
	ck_assert_int_eq(rest_check(t), -1);
	ck_assert_str_eq(why, "The token signature is invalid");
	ck_assert_int_eq(auth_set_entra_issuer(ISSUER_KEY, strlen(ISSUER_KEY)), 0);
	ck_assert_int_eq(rest_check(t), 0);
	free(t);
	/* aud as an array, with a trailing slash */
	t = issuer_token("{\"aud\":[\"api://x\",\"https://webpubsub.azure.com/\"],\"exp\":1700000060}",
	                 ISSUER_KEY);
	ck_assert_int_eq(rest_check(t), 0);
	free(t);
	/* wrong aud, expired, no exp, not yet valid */
	t = issuer_token("{\"aud\":\"https://management.azure.com\",\"exp\":1700000060}", ISSUER_KEY);
	ck_assert_int_eq(rest_check(t), -1);
	ck_assert_str_eq(why, "The Entra ID token's aud is not https://webpubsub.azure.com");
	free(t);
	t = issuer_token("{\"aud\":\"https://webpubsub.azure.com\",\"exp\":1700000000}", ISSUER_KEY);
	ck_assert_int_eq(rest_check(t), -1);
	ck_assert_str_eq(why, "The token is expired");
	free(t);
	t = issuer_token("{\"aud\":\"https://webpubsub.azure.com\"}", ISSUER_KEY);
	ck_assert_int_eq(rest_check(t), -1);
	ck_assert_str_eq(why, "The token has no exp claim");
	free(t);
	t = issuer_token("{\"aud\":\"https://webpubsub.azure.com\",\"exp\":1700009999,\"nbf\":1700009000}",
	                 ISSUER_KEY);
	ck_assert_int_eq(rest_check(t), -1);
	ck_assert_str_eq(why, "The token is not valid yet");
	free(t);
	/* signed with another key: neither issuer nor access key */
	t = issuer_token("{\"aud\":\"https://webpubsub.azure.com\",\"exp\":1700000060}", "some-other-key");
	ck_assert_int_eq(rest_check(t), -1);
	ck_assert_str_eq(why, "The token signature is invalid");
	free(t);
	/* access-key tokens still work... */
	k = jwt_server_token("http://127.0.0.1:9000/api/hubs/h/:send?api-version=2024-12-01", 1700000060, KEY,
	                     strlen(KEY));
	ck_assert_int_eq(rest_check(k), 0);
	/* ...unless local auth is disabled */
	auth_set_local_auth(0);
	ck_assert_int_eq(rest_check(k), -1);
	ck_assert_str_eq(why, "Local auth is disabled: use a Microsoft Entra ID token");
	t = issuer_token("{\"aud\":\"https://webpubsub.azure.com\",\"exp\":1700000060}", ISSUER_KEY);
	ck_assert_int_eq(rest_check(t), 0);
	free(t);
	auth_set_local_auth(1);
	ck_assert_int_eq(rest_check(k), 0);
	/* off again */
	ck_assert_int_eq(auth_set_entra_issuer(NULL, 0), 0);
	t = issuer_token("{\"aud\":\"https://webpubsub.azure.com\",\"exp\":1700000060}", ISSUER_KEY);
	ck_assert_int_eq(rest_check(t), -1);
	free(t);
	free(k);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("emu_auth");
	TCase *tc = tcase_create("auth");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, rest_tokens);
	tcase_add_test(tc, client_tokens);
	tcase_add_test(tc, entra_test_mode);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(suite());
}
