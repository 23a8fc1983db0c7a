/* check_emu_rest.c: unit tests of the emulator's REST operations (rest.c) with recorded clients. */
#include <config.h>

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check_emu_fake.h"
#include "emulator/emu.h"
#include "emulator/rest.h"
#include "b64.h"
#include "jwt.h"
#include "check_main.h"

#define KEY "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH"
#define V   "api-version=2024-12-01"

static struct emu e;
static struct hub *h;
static struct fake fa, fb, fc;
static struct rest_resp rs;
static char keybuf[] = KEY;

static void setup(void)
{
	memset(&e, 0, sizeof(e));
	e.key = keybuf;
	e.keylen = strlen(KEY);
	strcpy(e.hostport, "127.0.0.1:8080");
	strcpy(e.endpoint, "http://127.0.0.1:8080");
	strcpy(e.kid, "s-00000000-0000-4000-8000-000000000000");
	e.max_body = 1024 * 1024;
	e.state = hub_state_new(&fake_ops);
	h = hub_get(e.state, "chat", 1);
	memset(&fa, 0, sizeof(fa));
	memset(&fb, 0, sizeof(fb));
	memset(&fc, 0, sizeof(fc));
	static const char *const g1[] = { "g1" };
	fake_conn(h, &fa, "A", "alice", HUB_PROTO_SIMPLE, NULL, 0, g1, 1);
	fake_conn(h, &fb, "B", "bob", HUB_PROTO_JSON, NULL, 0, g1, 1);
	fake_conn(h, &fc, "C", NULL, HUB_PROTO_SIMPLE, NULL, 0, NULL, 0);
	memset(&rs, 0, sizeof(rs));
}

static void teardown(void)
{
	rest_resp_release(&rs);
	hub_state_free(e.state);
	fake_reset(&fa);
	fake_reset(&fb);
	fake_reset(&fc);
}

/* One request signed for aud = http://<host>/<uri>; returns the status. */
static int call_as(const char *method, const char *uri, const char *ct, const char *body,
                   const char *aud_host, long long exp_delta, const char *key)
{
	char aud[9000], authz[9000];
	snprintf(aud, sizeof(aud), "http://%s%s", aud_host, uri);
	char *tok = jwt_server_token(aud, (long long)time(NULL) + exp_delta, key, strlen(key));
	ck_assert_ptr_nonnull(tok);
	snprintf(authz, sizeof(authz), "Bearer %s", tok);
	free(tok);
	struct rest_req rq = {
		method, uri, "localhost:8080", authz, ct, body ? body : "", body ? strlen(body) : 0
	};
	rest_resp_release(&rs);
	rest_handle(&e, &rq, &rs, time(NULL));
	return rs.status;
}

static int call(const char *method, const char *uri, const char *ct, const char *body)
{
	return call_as(method, uri, ct, body, "127.0.0.1:8080", 300, KEY);
}

static const char *body(void)
{
	return rs.body.data ? rs.body.data : "";
}

START_TEST(auth_rules)
{
	ck_assert_int_eq(call("HEAD", "/api/hubs/chat/connections/A?" V, NULL, NULL), 200);
	/* the Host header's name is accepted too */
	ck_assert_int_eq(
	        call_as("HEAD", "/api/hubs/chat/connections/A?" V, NULL, NULL, "localhost:8080", 300, KEY),
	        200);
	ck_assert_int_eq(
	        call_as("HEAD", "/api/hubs/chat/connections/A?" V, NULL, NULL, "other:8080", 300, KEY), 401);
	ck_assert_str_eq(rs.error_code, "Unauthorized");
	ck_assert_int_eq(
	        call_as("HEAD", "/api/hubs/chat/connections/A?" V, NULL, NULL, "127.0.0.1:8080", -5, KEY),
	        401);
	ck_assert_str_eq(body(),
	                 "{\"code\":\"Unauthorized\",\"message\":\"The token is expired\",\"target\":null,"
	                 "\"details\":null,\"inner\":null}");
	ck_assert_int_eq(call_as("HEAD", "/api/hubs/chat/connections/A?" V, NULL, NULL, "127.0.0.1:8080", 300,
	                         "otherkey"),
	                 401);
	ck_assert_str_eq(body(), "{\"code\":\"Unauthorized\",\"message\":\"The token signature is invalid\","
	                         "\"target\":null,\"details\":null,\"inner\":null}");
	/* aud must be the exact URL, query included */
	char aud[200], authz[400];
	snprintf(aud, sizeof(aud), "http://127.0.0.1:8080/api/hubs/chat/connections/A");
	char *tok = jwt_server_token(aud, (long long)time(NULL) + 60, KEY, strlen(KEY));
	snprintf(authz, sizeof(authz), "Bearer %s", tok);
	free(tok);
	struct rest_req rq = { "HEAD", "/api/hubs/chat/connections/A?" V, NULL, authz, NULL, "", 0 };
	rest_resp_release(&rs);
	rest_handle(&e, &rq, &rs, time(NULL));
	ck_assert_int_eq(rs.status, 401);
	/* no token at all */
	struct rest_req none = { "HEAD", "/api/hubs/chat/connections/A?" V, NULL, NULL, NULL, "", 0 };
	rest_resp_release(&rs);
	rest_handle(&e, &none, &rs, time(NULL));
	ck_assert_int_eq(rs.status, 401);
	/* the key never shows in an answer */
	ck_assert_ptr_null(strstr(body(), KEY));
	/* the health probe needs none */
	struct rest_req health = { "HEAD", "/api/health?" V, NULL, NULL, NULL, "", 0 };
	rest_resp_release(&rs);
	rest_handle(&e, &health, &rs, time(NULL));
	ck_assert_int_eq(rs.status, 200);
	ck_assert_ptr_null(rs.api_versions);
	ck_assert_ptr_null(rs.content_type);
	/* ... with any api-version, a preview one too (recorded in 2021) */
	struct rest_req preview = {
		"HEAD", "/api/health?api-version=2021-08-01-preview", NULL, NULL, NULL, "", 0
	};
	rest_resp_release(&rs);
	rest_handle(&e, &preview, &rs, time(NULL));
	ck_assert_int_eq(rs.status, 200);
}
END_TEST

START_TEST(versions_and_routes)
{
	ck_assert_int_eq(call("HEAD", "/api/hubs/chat/connections/A?api-version=2099-01-01", NULL, NULL),
	                 400);
	ck_assert_str_eq(rs.error_code, "Error.BadRequest");
	/* every published version is served, previews included */
	ck_assert_int_eq(
	        call("HEAD", "/api/hubs/chat/connections/A?api-version=2022-10-01-preview", NULL, NULL), 200);
	ck_assert_str_eq(rs.api_versions, "2021-10-01, 2022-11-01, 2023-07-01, 2024-01-01, 2024-12-01");
	ck_assert_int_eq(call("HEAD", "/api/hubs/chat/connections/A", NULL, NULL), 400);
	ck_assert_int_eq(call("HEAD", "/api/hubs/chat/connections/A?api-version=2021-10-01", NULL, NULL),
	                 200);
	ck_assert_int_eq(call("GET", "/api/hubs/chat/nothing?" V, NULL, NULL), 404);
	ck_assert_int_eq(call("GET", "/api/hubs/chat/:send?" V, NULL, NULL), 405);
	ck_assert_int_eq(call("POST", "/api/hubs/chat/:send?" V, "application/xml", "<a/>"), 415);
	ck_assert_int_eq(call("POST", "/api/hubs/chat/:send?" V "&messageTtlSeconds=301", "text/plain", "x"),
	                 400);
	ck_assert_int_eq(call("POST", "/api/hubs/chat/:send?" V "&messageTtlSeconds=300", "text/plain", "x"),
	                 202);
}
END_TEST

START_TEST(sends)
{
	ck_assert_int_eq(call("POST", "/api/hubs/chat/:send?" V, "text/plain", "all"), 202);
	ck_assert_str_eq(fa.frames[0], "all");
	ck_assert_str_eq(fc.frames[0], "all");
	ck_assert_int_eq(call("POST", "/api/hubs/CHAT/groups/g1/:send?" V "&excluded=A", "application/json",
	                      "{\"a\":1}"),
	                 202);
	ck_assert_int_eq(fa.nframes, 1);
	ck_assert_str_eq(fb.frames[1], "{\"type\":\"message\",\"from\":\"group\",\"group\":\"g1\","
	                               "\"dataType\":\"json\",\"data\":{\"a\":1}}");
	ck_assert_int_eq(fc.nframes, 1);
	ck_assert_int_eq(
	        call("POST", "/api/hubs/chat/users/alice/:send?" V, "application/octet-stream", "\x01"), 202);
	ck_assert_int_eq(fa.binary[1], 1);
	ck_assert_int_eq(fb.nframes, 2);
	ck_assert_int_eq(call("POST", "/api/hubs/chat/connections/C/:send?" V, "text/plain", "c"), 202);
	ck_assert_str_eq(fc.frames[1], "c");
	/* filter (percent-encoded, '+' as space) */
	ck_assert_int_eq(call("POST",
	                      "/api/hubs/chat/:send?" V
	                      "&filter=userId%20eq%20%27bob%27+or+connectionId+eq+%27C%27",
	                      "text/plain", "f"),
	                 202);
	ck_assert_int_eq(fa.nframes, 2);
	ck_assert_int_eq(fb.nframes, 3);
	ck_assert_str_eq(fc.frames[2], "f");
	ck_assert_int_eq(call("POST", "/api/hubs/chat/:send?" V "&filter=userId%20eq", "text/plain", "f"),
	                 400);
	ck_assert_str_eq(rs.error_code, "Error.BadRequest");
	ck_assert_str_eq(rs.content_type, "application/problem+json; charset=utf-8");
	ck_assert_ptr_null(rs.api_versions);
	/* the recorded answer, byte for byte (tests/vectors/service/js.json) */
	ck_assert_int_eq(
	        call("POST", "/api/hubs/chat/:send?" V "&filter=invalid%20filter", "text/plain", "f"), 400);
	ck_assert_str_eq(
	        body(),
	        "{\"code\":\"Error.BadRequest\",\"message\":\"Invalid syntax for 'invalid filter': "
	        "Syntax error at position 14 in 'invalid filter'. (Parameter 'filter')\",\"target\":"
	        "\"filter\",\"errors\":{\"filter\":[\"Invalid syntax for 'invalid filter': Syntax error "
	        "at position 14 in 'invalid filter'. (Parameter 'filter')\"]},\"type\":null,\"title\":"
	        "\"One or more validation errors occurred.\",\"status\":400,\"detail\":null,"
	        "\"instance\":null,\"extensions\":{}}");
	ck_assert_uint_eq(rs.body.len, 416);
	/* $filter (2022-10-01-preview) filters too */
	ck_assert_int_eq(
	        call("POST",
	             "/api/hubs/chat/:send?api-version=2022-10-01-preview&%24filter=userId%20eq%20%27zz%27",
	             "text/plain", "none"),
	        202);
	ck_assert_int_eq(call("POST", "/api/hubs/chat/:send?" V, "application/json", "{nope"), 400);
	ck_assert_int_eq(fa.nframes + fb.nframes + fc.nframes, 8);
	/* a hub nobody connected to takes sends */
	ck_assert_int_eq(call("POST", "/api/hubs/empty/:send?" V, "text/plain", "x"), 202);
}
END_TEST

START_TEST(existence_and_groups)
{
	ck_assert_int_eq(call("HEAD", "/api/hubs/chat/connections/Z?" V, NULL, NULL), 404);
	ck_assert_str_eq(rs.error_code, "Warning.Connection.NotExisted");
	ck_assert_int_eq(call("HEAD", "/api/hubs/chat/groups/g1?" V, NULL, NULL), 200);
	ck_assert_int_eq(call("HEAD", "/api/hubs/chat/groups/g2?" V, NULL, NULL), 404);
	ck_assert_str_eq(rs.error_code, "Warning.Group.NotExisted");
	ck_assert_int_eq(call("HEAD", "/api/hubs/chat/users/alice?" V, NULL, NULL), 200);
	ck_assert_int_eq(call("HEAD", "/api/hubs/chat/users/zed?" V, NULL, NULL), 404);
	ck_assert_str_eq(rs.error_code, "Warning.User.NotExisted");
	ck_assert_int_eq(call("HEAD", "/api/hubs/nohub/users/alice?" V, NULL, NULL), 404);

	ck_assert_int_eq(call("PUT", "/api/hubs/chat/groups/g2/connections/C?" V, NULL, NULL), 200);
	ck_assert_int_eq(call("HEAD", "/api/hubs/chat/groups/g2?" V, NULL, NULL), 200);
	ck_assert_int_eq(call("PUT", "/api/hubs/chat/groups/g2/connections/Z?" V, NULL, NULL), 404);
	ck_assert_str_eq(rs.error_code, "Error.Connection.NotExisted");
	ck_assert_str_eq(body(),
	                 "{\"code\":\"Error.Connection.NotExisted\",\"message\":\"Connection `Z` is not "
	                 "found.\",\"target\":\"Connection\",\"details\":null,\"inner\":null}");
	ck_assert_str_eq(rs.content_type, "application/json; charset=utf-8");
	ck_assert_int_eq(call("DELETE", "/api/hubs/chat/groups/g2/connections/C?" V, NULL, NULL), 204);
	ck_assert_int_eq(call("HEAD", "/api/hubs/chat/groups/g2?" V, NULL, NULL), 404);

	ck_assert_int_eq(call("PUT", "/api/hubs/chat/users/alice/groups/g3?" V, NULL, NULL), 200);
	ck_assert_int_eq(call("PUT", "/api/hubs/chat/users/zed/groups/g3?" V, NULL, NULL), 404);
	ck_assert_str_eq(rs.error_code, "Warning.User.NotExisted");
	ck_assert_int_eq(call("POST", "/api/hubs/chat/groups/g3/:send?" V, "text/plain", "to g3"), 202);
	ck_assert_str_eq(fa.frames[0], "to g3");
	ck_assert_int_eq(call("DELETE", "/api/hubs/chat/users/alice/groups/g3?" V, NULL, NULL), 204);
	ck_assert_int_eq(call("HEAD", "/api/hubs/chat/groups/g3?" V, NULL, NULL), 404);
	ck_assert_int_eq(call("DELETE", "/api/hubs/chat/users/alice/groups?" V, NULL, NULL), 204);
	ck_assert_int_eq(hub_conn_in_group(hub_conn_find(h, "A"), "g1"), 0);
	ck_assert_int_eq(call("DELETE", "/api/hubs/chat/connections/B/groups?" V, NULL, NULL), 204);
	ck_assert_int_eq(call("HEAD", "/api/hubs/chat/groups/g1?" V, NULL, NULL), 404);

	/* add/remove by filter */
	ck_assert_int_eq(call("POST", "/api/hubs/chat/:addToGroups?" V, "application/json",
	                      "{\"groups\":[\"x\",\"y\"],\"filter\":\"userId ne 'alice'\"}"),
	                 200);
	ck_assert_int_eq(hub_conn_in_group(hub_conn_find(h, "A"), "x"), 0);
	ck_assert_int_eq(hub_conn_in_group(hub_conn_find(h, "B"), "y"), 1);
	ck_assert_int_eq(hub_conn_in_group(hub_conn_find(h, "C"), "x"), 1);
	ck_assert_int_eq(call("POST", "/api/hubs/chat/:removeFromGroups?" V, "application/json",
	                      "{\"groups\":[\"x\"],\"filter\":\"connectionId eq 'C'\"}"),
	                 200);
	ck_assert_int_eq(hub_conn_in_group(hub_conn_find(h, "C"), "x"), 0);
	ck_assert_int_eq(hub_conn_in_group(hub_conn_find(h, "B"), "x"), 1);
	ck_assert_int_eq(call("POST", "/api/hubs/chat/:addToGroups?" V, "application/json",
	                      "{\"groups\":[\"x\"],\"filter\":\"userId eq\"}"),
	                 400);
	ck_assert_str_eq(rs.error_code, "Error.BadRequest");
	ck_assert_ptr_nonnull(strstr(body(), "\"target\":\"Filter\",\"errors\":{\"Filter\":"));
	ck_assert_ptr_nonnull(strstr(body(), "Syntax error at position 9 in 'userId eq'"));
	ck_assert_int_eq(
	        call("POST", "/api/hubs/chat/:addToGroups?" V, "application/json", "{\"groups\":\"x\"}"),
	        400);
	ck_assert_int_eq(
	        call("POST", "/api/hubs/chat/:removeFromGroups?" V, "application/json", "{\"groups\":[]}"),
	        400);
}
END_TEST

START_TEST(closes)
{
	ck_assert_int_eq(call("DELETE", "/api/hubs/chat/connections/B?" V "&reason=done%20here", NULL, NULL),
	                 204);
	ck_assert_str_eq(fb.frames[0],
	                 "{\"type\":\"system\",\"event\":\"disconnected\",\"message\":\"done here\"}");
	ck_assert_str_eq(fb.reason, "done here");
	ck_assert_int_eq(call("HEAD", "/api/hubs/chat/connections/B?" V, NULL, NULL), 404);
	ck_assert_int_eq(call("DELETE", "/api/hubs/chat/connections/B?" V, NULL, NULL), 204);
	ck_assert_int_eq(call("POST", "/api/hubs/chat/users/alice/:closeConnections?" V, NULL, NULL), 204);
	ck_assert_int_eq(fa.closed, 1);
	ck_assert_int_eq(call("POST", "/api/hubs/chat/groups/g1/:closeConnections?" V, NULL, NULL), 204);
	ck_assert_int_eq(
	        call("POST", "/api/hubs/chat/:closeConnections?" V "&excluded=C&reason=r", NULL, NULL), 204);
	ck_assert_int_eq(fc.closed, 0);
	ck_assert_int_eq(call("POST", "/api/hubs/chat/:closeConnections?" V, NULL, NULL), 204);
	ck_assert_int_eq(fc.closed, 1);
	ck_assert_uint_eq(h->nconns, 0);
}
END_TEST

START_TEST(permissions)
{
	ck_assert_int_eq(call("HEAD",
	                      "/api/hubs/chat/permissions/joinLeaveGroup/connections/B?" V "&targetName=g9",
	                      NULL, NULL),
	                 404);
	ck_assert_int_eq(call("PUT",
	                      "/api/hubs/chat/permissions/joinLeaveGroup/connections/B?" V "&targetName=g9",
	                      NULL, NULL),
	                 200);
	ck_assert_int_eq(call("HEAD",
	                      "/api/hubs/chat/permissions/joinLeaveGroup/connections/B?" V "&targetName=g9",
	                      NULL, NULL),
	                 200);
	ck_assert_int_eq(call("HEAD",
	                      "/api/hubs/chat/permissions/sendToGroup/connections/B?" V "&targetName=g9",
	                      NULL, NULL),
	                 404);
	ck_assert_int_eq(call("PUT",
	                      "/api/hubs/chat/permissions/joinLeaveGroup/connections/Z?" V "&targetName=g",
	                      NULL, NULL),
	                 404);
	ck_assert_str_eq(rs.error_code, "Info.Connection.NotExisted");
	ck_assert_int_eq(call("HEAD",
	                      "/api/hubs/chat/permissions/joinLeaveGroup/connections/Z?" V "&targetName=g",
	                      NULL, NULL),
	                 404);
	ck_assert_str_eq(rs.error_code, "Info.Connection.NotExisted");
	/* targetName is required (as recorded for RevokePermission; the spec says so for all three) */
	ck_assert_int_eq(
	        call("DELETE", "/api/hubs/chat/permissions/joinLeaveGroup/connections/Z?" V, NULL, NULL),
	        400);
	ck_assert_str_eq(body(),
	                 "{\"code\":\"Error.BadRequest\",\"message\":\"Invalid group name. Valid group name "
	                 "should be in between 1 and 1024 characters long.\",\"target\":\"Request\","
	                 "\"details\":null,\"inner\":null}");
	ck_assert_int_eq(call("PUT",
	                      "/api/hubs/chat/permissions/joinLeaveGroup/connections/B?" V "&targetName=%20",
	                      NULL, NULL),
	                 400);
	ck_assert_int_eq(call("PUT", "/api/hubs/chat/permissions/bogus/connections/B?" V, NULL, NULL), 400);
	ck_assert_int_eq(call("DELETE",
	                      "/api/hubs/chat/permissions/joinLeaveGroup/connections/B?" V "&targetName=g9",
	                      NULL, NULL),
	                 204);
	ck_assert_int_eq(call("HEAD",
	                      "/api/hubs/chat/permissions/joinLeaveGroup/connections/B?" V "&targetName=g9",
	                      NULL, NULL),
	                 404);
}
END_TEST

START_TEST(list_and_token)
{
	static const char *const gp[] = { "p" };
	struct fake extra[5];
	memset(extra, 0, sizeof(extra));
	for (int i = 0; i < 5; i++) {
		char id[8];
		snprintf(id, sizeof(id), "P%d", i);
		ck_assert_ptr_nonnull(
		        fake_conn(h, &extra[i], id, i == 0 ? "u0" : NULL, HUB_PROTO_SIMPLE, NULL, 0, gp, 1));
	}
	ck_assert_int_eq(call("GET", "/api/hubs/chat/groups/p/connections?" V "&maxpagesize=2", NULL, NULL),
	                 200);
	/* as recorded: userId null for an anonymous connection, an absolute nextLink with top,
	 * maxpagesize (when asked), the token and the request's api-version last */
	ck_assert_str_eq(body(),
	                 "{\"value\":[{\"connectionId\":\"P0\",\"userId\":\"u0\"},{\"connectionId\":\"P1\","
	                 "\"userId\":null}],\"nextLink\":\"http://127.0.0.1:8080/api/hubs/chat/groups/p/"
	                 "connections?maxpagesize=2&continuationToken=5&api-version=2024-12-01\"}");
	ck_assert_int_eq(call("GET",
	                      "/api/hubs/chat/groups/p/"
	                      "connections?maxpagesize=2&continuationToken=5&api-version=2024-12-01",
	                      NULL, NULL),
	                 200);
	ck_assert_str_eq(body(),
	                 "{\"value\":[{\"connectionId\":\"P2\",\"userId\":null},{\"connectionId\":\"P3\","
	                 "\"userId\":null}],\"nextLink\":\"http://127.0.0.1:8080/api/hubs/chat/groups/p/"
	                 "connections?maxpagesize=2&continuationToken=7&api-version=2024-12-01\"}");
	ck_assert_int_eq(call("GET",
	                      "/api/hubs/chat/groups/p/"
	                      "connections?maxpagesize=2&continuationToken=7&api-version=2024-12-01",
	                      NULL, NULL),
	                 200);
	ck_assert_str_eq(body(), "{\"value\":[{\"connectionId\":\"P4\",\"userId\":null}]}");
	ck_assert_int_eq(
	        call("GET", "/api/hubs/chat/groups/p/connections?api-version=2023-07-01&top=3&maxpagesize=2",
	             NULL, NULL),
	        200);
	ck_assert_str_eq(body(),
	                 "{\"value\":[{\"connectionId\":\"P0\",\"userId\":\"u0\"},{\"connectionId\":\"P1\","
	                 "\"userId\":null}],\"nextLink\":\"http://127.0.0.1:8080/api/hubs/chat/groups/p/"
	                 "connections?top=1&maxpagesize=2&continuationToken=5&api-version=2023-07-01\"}");
	ck_assert_int_eq(call("GET",
	                      "/api/hubs/chat/groups/p/"
	                      "connections?top=1&maxpagesize=2&continuationToken=5&api-version=2024-12-01",
	                      NULL, NULL),
	                 200);
	ck_assert_str_eq(body(), "{\"value\":[{\"connectionId\":\"P2\",\"userId\":null}]}");
	ck_assert_int_eq(call("GET", "/api/hubs/chat/groups/none/connections?" V, NULL, NULL), 200);
	ck_assert_str_eq(body(), "{\"value\":[]}");
	ck_assert_int_eq(
	        call("GET", "/api/hubs/chat/groups/p/connections?" V "&continuationToken=abc", NULL, NULL),
	        400);
	ck_assert_int_eq(call("GET", "/api/hubs/chat/groups/p/connections?" V "&maxpagesize=0", NULL, NULL),
	                 400);
	for (int i = 0; i < 5; i++)
		fake_reset(&extra[i]);

	ck_assert_int_eq(call("POST",
	                      "/api/hubs/chat/:generateToken?" V
	                      "&userId=u1&role=webpubsub.joinLeaveGroup&minutesToExpire=5",
	                      NULL, NULL),
	                 200);
	json_error_t je;
	json_t *o = json_loads(body(), 0, &je);
	ck_assert_ptr_nonnull(o);
	ck_assert_uint_eq(json_object_size(o), 1);
	const char *tok = json_string_value(json_object_get(o, "token"));
	json_t *claims = NULL;
	ck_assert_int_eq(jwt_verify(tok, KEY, strlen(KEY), &claims), JWT_OK);
	/* as the service issues them (tests/vectors/service/python-legacy.json): header alg, kid, typ,
	 * cty; claims nbf, exp, iat, aud, then sub and role */
	size_t hl;
	unsigned char *hdr = b64url_decode(tok, strcspn(tok, "."), &hl);
	ck_assert_ptr_nonnull(hdr);
	ck_assert_str_eq((char *)hdr,
	                 "{\"alg\":\"HS256\",\"kid\":\"s-00000000-0000-4000-8000-000000000000\",\"typ\":"
	                 "\"JWT\",\"cty\":\"JWT\"}");
	free(hdr);
	const char *k;
	json_t *v;
	static const char *const order[] = { "nbf", "exp", "iat", "aud", "sub", "role" };
	size_t i = 0;
	json_object_foreach(claims, k, v)
	{
		ck_assert_uint_lt(i, sizeof(order) / sizeof(order[0]));
		ck_assert_str_eq(k, order[i++]);
	}
	ck_assert_uint_eq(i, 6);
	ck_assert_str_eq(json_string_value(json_object_get(claims, "aud")),
	                 "http://127.0.0.1:8080/client/hubs/chat");
	ck_assert_str_eq(json_string_value(json_object_get(claims, "sub")), "u1");
	ck_assert_int_eq(json_integer_value(json_object_get(claims, "nbf")),
	                 json_integer_value(json_object_get(claims, "iat")));
	ck_assert_int_eq(json_integer_value(json_object_get(claims, "exp")) -
	                         json_integer_value(json_object_get(claims, "iat")),
	                 300);
	json_decref(claims);
	json_decref(o);
	ck_assert_int_eq(call("POST", "/api/hubs/chat/:generateToken?" V "&minutesToExpire=0", NULL, NULL),
	                 400);
	/* clientType: Default or MQTT; anything else as recorded for socketio */
	ck_assert_int_eq(call("POST", "/api/hubs/chat/:generateToken?" V "&clientType=mqtt", NULL, NULL),
	                 200);
	ck_assert_int_eq(call("POST", "/api/hubs/chat/:generateToken?" V "&clientType=socketio", NULL, NULL),
	                 400);
	ck_assert_str_eq(
	        body(), "{\"code\":\"Error.BadRequest\",\"message\":\"The value 'socketio' is not valid.\","
	                "\"target\":\"clientType\",\"errors\":{\"clientType\":[\"The value 'socketio' is not "
	                "valid.\"]},\"type\":null,\"title\":\"One or more validation errors occurred.\","
	                "\"status\":400,\"detail\":null,\"instance\":null,\"extensions\":{}}");
	ck_assert_str_eq(rs.content_type, "application/json; charset=utf-8");
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("emu_rest");
	TCase *tc = tcase_create("rest");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, auth_rules);
	tcase_add_test(tc, versions_and_routes);
	tcase_add_test(tc, sends);
	tcase_add_test(tc, existence_and_groups);
	tcase_add_test(tc, closes);
	tcase_add_test(tc, permissions);
	tcase_add_test(tc, list_and_token);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(suite());
}
