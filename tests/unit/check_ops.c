/* check_ops.c: unit tests for the operation table, routing and validation (ops.c, ops_valid.c). */
#include <config.h>

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops.h"
#include "check_main.h"

static struct ops_req req;
static struct ops_err err;
static struct buf out;

static void setup(void)
{
	ops_req_init(&req);
	memset(&err, 0, sizeof(err));
	buf_init(&out, 0);
}

static void teardown(void)
{
	ops_req_free(&req);
	buf_free(&out);
}

/* One row per operation: a request with encoded characters and what it must decode to. */
static const struct row {
	enum ops_id id;
	const char *method;
	const char *path;
	const char *allowed; /* every method the path answers to */
	const char *hub, *group, *user, *conn, *perm;
	const char *canonical; /* ops_build_path */
} rows[] = {
	{ OP_GET_SERVICE_STATUS, "HEAD", "/api/health", "HEAD", NULL, NULL, NULL, NULL, NULL, "/api/health" },
	{ OP_GENERATE_CLIENT_TOKEN, "POST", "/api/hubs/chat/:generateToken", "POST", "chat", NULL, NULL, NULL,
	  NULL, "/api/hubs/chat/:generateToken" },
	{ OP_SEND_TO_ALL, "POST", "/api/hubs/Hub_1.%5Bx%5D/:send", "POST", "Hub_1.[x]", NULL, NULL, NULL,
	  NULL, "/api/hubs/Hub_1.%5Bx%5D/:send" },
	{ OP_CLOSE_ALL_CONNECTIONS, "POST", "/api/hubs/chat/:closeConnections", "POST", "chat", NULL, NULL,
	  NULL, NULL, "/api/hubs/chat/:closeConnections" },
	{ OP_ADD_CONNECTIONS_TO_GROUPS, "POST", "/api/hubs/chat/:addToGroups", "POST", "chat", NULL, NULL,
	  NULL, NULL, "/api/hubs/chat/:addToGroups" },
	{ OP_REMOVE_CONNECTIONS_FROM_GROUPS, "POST", "/api/hubs/chat/:removeFromGroups", "POST", "chat", NULL,
	  NULL, NULL, NULL, "/api/hubs/chat/:removeFromGroups" },
	{ OP_CONNECTION_EXISTS, "HEAD", "/api/hubs/chat/connections/conn%2f1", "HEAD,DELETE", "chat", NULL,
	  NULL, "conn/1", NULL, "/api/hubs/chat/connections/conn%2F1" },
	{ OP_CLOSE_CONNECTION, "DELETE", "/api/hubs/chat/connections/c:1~", "HEAD,DELETE", "chat", NULL, NULL,
	  "c:1~", NULL, "/api/hubs/chat/connections/c%3A1~" },
	{ OP_SEND_TO_CONNECTION, "POST", "/api/hubs/chat/connections/c%40x/:send", "POST", "chat", NULL, NULL,
	  "c@x", NULL, "/api/hubs/chat/connections/c%40x/:send" },
	{ OP_REMOVE_CONNECTION_FROM_ALL_GROUPS, "DELETE", "/api/hubs/chat/connections/c1/groups", "DELETE",
	  "chat", NULL, NULL, "c1", NULL, "/api/hubs/chat/connections/c1/groups" },
	{ OP_GROUP_EXISTS, "HEAD", "/api/hubs/chat/groups/g%20one", "HEAD", "chat", "g one", NULL, NULL, NULL,
	  "/api/hubs/chat/groups/g%20one" },
	{ OP_CLOSE_GROUP_CONNECTIONS, "POST", "/api/hubs/chat/groups/g+1/:closeConnections", "POST", "chat",
	  "g+1", NULL, NULL, NULL, "/api/hubs/chat/groups/g%2B1/:closeConnections" },
	{ OP_SEND_TO_GROUP, "POST", "/api/hubs/chat/groups/g%2Fx%3Fy%23z/:send", "POST", "chat", "g/x?y#z",
	  NULL, NULL, NULL, "/api/hubs/chat/groups/g%2Fx%3Fy%23z/:send" },
	{ OP_LIST_CONNECTIONS_IN_GROUP, "GET", "/api/hubs/chat/groups/g1/connections", "GET", "chat", "g1",
	  NULL, NULL, NULL, "/api/hubs/chat/groups/g1/connections" },
	{ OP_ADD_CONNECTION_TO_GROUP, "PUT", "/api/hubs/chat/groups/g1/connections/c%2F2", "PUT,DELETE",
	  "chat", "g1", NULL, "c/2", NULL, "/api/hubs/chat/groups/g1/connections/c%2F2" },
	{ OP_REMOVE_CONNECTION_FROM_GROUP, "DELETE", "/api/hubs/chat/groups/g1/connections/c2", "PUT,DELETE",
	  "chat", "g1", NULL, "c2", NULL, "/api/hubs/chat/groups/g1/connections/c2" },
	{ OP_GRANT_PERMISSION, "PUT", "/api/hubs/chat/permissions/sendToGroup/connections/c1",
	  "PUT,HEAD,DELETE", "chat", NULL, NULL, "c1", "sendToGroup",
	  "/api/hubs/chat/permissions/sendToGroup/connections/c1" },
	{ OP_CHECK_PERMISSION, "HEAD", "/api/hubs/chat/permissions/joinLeaveGroup/connections/c%201",
	  "PUT,HEAD,DELETE", "chat", NULL, NULL, "c 1", "joinLeaveGroup",
	  "/api/hubs/chat/permissions/joinLeaveGroup/connections/c%201" },
	{ OP_REVOKE_PERMISSION, "DELETE", "/api/hubs/chat/permissions/sendTo%47roup/connections/c1",
	  "PUT,HEAD,DELETE", "chat", NULL, NULL, "c1", "sendToGroup",
	  "/api/hubs/chat/permissions/sendToGroup/connections/c1" },
	{ OP_USER_EXISTS, "HEAD", "/api/hubs/chat/users/user%40example.com%2Fx", "HEAD", "chat", NULL,
	  "user@example.com/x", NULL, NULL, "/api/hubs/chat/users/user%40example.com%2Fx" },
	{ OP_CLOSE_USER_CONNECTIONS, "POST", "/api/hubs/chat/users/u1/:closeConnections", "POST", "chat",
	  NULL, "u1", NULL, NULL, "/api/hubs/chat/users/u1/:closeConnections" },
	{ OP_SEND_TO_USER, "POST", "/api/hubs/chat/users/user%40example.com%2Fx/:send", "POST", "chat", NULL,
	  "user@example.com/x", NULL, NULL, "/api/hubs/chat/users/user%40example.com%2Fx/:send" },
	{ OP_REMOVE_USER_FROM_ALL_GROUPS, "DELETE", "/api/hubs/chat/users/u1/groups", "DELETE", "chat", NULL,
	  "u1", NULL, NULL, "/api/hubs/chat/users/u1/groups" },
	{ OP_ADD_USER_TO_GROUP, "PUT", "/api/hubs/chat/users/%E2%82%AC/groups/g%c3%a9", "PUT,DELETE", "chat",
	  "g\xc3\xa9", "\xe2\x82\xac", NULL, NULL, "/api/hubs/chat/users/%E2%82%AC/groups/g%C3%A9" },
	{ OP_REMOVE_USER_FROM_GROUP, "DELETE", "/api/hubs/chat/users/u1/groups/g1", "PUT,DELETE", "chat",
	  "g1", "u1", NULL, NULL, "/api/hubs/chat/users/u1/groups/g1" },
};
#define NROWS (sizeof(rows) / sizeof(rows[0]))

static void assert_str_or_null(const char *got, const char *want, const char *what, size_t i)
{
	if (want == NULL)
		ck_assert_msg(got == NULL, "row %zu: %s should be NULL, is '%s'", i, what, got);
	else
		ck_assert_msg(got != NULL && strcmp(got, want) == 0, "row %zu: %s is '%s', wanted '%s'", i,
		              what, got ? got : "(null)", want);
}

START_TEST(test_table_shape)
{
	const struct ops_def *t = ops_table();
	size_t i, nmut = 0;

	ck_assert_uint_eq(NROWS, OP__COUNT);
	for (i = 0; i < OP__COUNT; i++) {
		ck_assert_int_eq(t[i].id, (int)i);
		ck_assert_ptr_eq(ops_by_id((enum ops_id)i), &t[i]);
		ck_assert_ptr_eq(ops_by_name(t[i].name), &t[i]);
		ck_assert_ptr_eq(ops_by_name(t[i].label), &t[i]);
		ck_assert_int_eq(t[i].mutating, t[i].cls != OPC_READ && t[i].cls != OPC_TOKEN);
		nmut += (size_t)t[i].mutating;
		ck_assert_str_eq(t[i].method, rows[i].method);
		ck_assert_int_eq(rows[i].id, (int)i);
	}
	ck_assert_uint_eq(nmut, 18);
	ck_assert_ptr_null(ops_by_id(OP__COUNT));
	ck_assert_ptr_null(ops_by_name("sendToAll"));
	ck_assert_ptr_null(ops_by_name(NULL));
	ck_assert_str_eq(ops_by_id(OP_SEND_TO_ALL)->label, "send_to_all");
	ck_assert_str_eq(ops_by_id(OP_REMOVE_CONNECTIONS_FROM_GROUPS)->pattern,
	                 "/api/hubs/{hub}/:removeFromGroups");
	ck_assert_str_eq(ops_by_id(OP_GRANT_PERMISSION)->pattern,
	                 "/api/hubs/{hub}/permissions/{permission}/connections/{connectionId}");
}
END_TEST

START_TEST(test_classes_and_success)
{
	static const struct {
		enum ops_id id;
		enum ops_class cls;
		int success;
		enum ops_body body;
	} c[] = {
		{ OP_GET_SERVICE_STATUS, OPC_READ, 200, OPB_NONE },
		{ OP_GENERATE_CLIENT_TOKEN, OPC_TOKEN, 200, OPB_NONE },
		{ OP_SEND_TO_ALL, OPC_SEND, 202, OPB_MESSAGE },
		{ OP_CLOSE_ALL_CONNECTIONS, OPC_CLOSE, 204, OPB_NONE },
		{ OP_ADD_CONNECTIONS_TO_GROUPS, OPC_GROUP, 200, OPB_GROUPS_JSON },
		{ OP_REMOVE_CONNECTIONS_FROM_GROUPS, OPC_GROUP, 200, OPB_GROUPS_JSON },
		{ OP_CONNECTION_EXISTS, OPC_READ, 200, OPB_NONE },
		{ OP_CLOSE_CONNECTION, OPC_CLOSE, 204, OPB_NONE },
		{ OP_SEND_TO_CONNECTION, OPC_SEND, 202, OPB_MESSAGE },
		{ OP_REMOVE_CONNECTION_FROM_ALL_GROUPS, OPC_GROUP, 204, OPB_NONE },
		{ OP_GROUP_EXISTS, OPC_READ, 200, OPB_NONE },
		{ OP_CLOSE_GROUP_CONNECTIONS, OPC_CLOSE, 204, OPB_NONE },
		{ OP_SEND_TO_GROUP, OPC_SEND, 202, OPB_MESSAGE },
		{ OP_LIST_CONNECTIONS_IN_GROUP, OPC_READ, 200, OPB_NONE },
		{ OP_ADD_CONNECTION_TO_GROUP, OPC_GROUP, 200, OPB_NONE },
		{ OP_REMOVE_CONNECTION_FROM_GROUP, OPC_GROUP, 204, OPB_NONE },
		{ OP_GRANT_PERMISSION, OPC_PERMISSION, 200, OPB_NONE },
		{ OP_CHECK_PERMISSION, OPC_READ, 200, OPB_NONE },
		{ OP_REVOKE_PERMISSION, OPC_PERMISSION, 204, OPB_NONE },
		{ OP_USER_EXISTS, OPC_READ, 200, OPB_NONE },
		{ OP_CLOSE_USER_CONNECTIONS, OPC_CLOSE, 204, OPB_NONE },
		{ OP_SEND_TO_USER, OPC_SEND, 202, OPB_MESSAGE },
		{ OP_REMOVE_USER_FROM_ALL_GROUPS, OPC_GROUP, 204, OPB_NONE },
		{ OP_ADD_USER_TO_GROUP, OPC_GROUP, 200, OPB_NONE },
		{ OP_REMOVE_USER_FROM_GROUP, OPC_GROUP, 204, OPB_NONE },
	};
	size_t i;
	enum ops_class cls;

	ck_assert_uint_eq(sizeof(c) / sizeof(c[0]), OP__COUNT);
	for (i = 0; i < OP__COUNT; i++) {
		const struct ops_def *d = ops_by_id(c[i].id);

		ck_assert_msg(d->cls == c[i].cls, "%s class", d->name);
		ck_assert_msg(d->success == c[i].success, "%s success", d->name);
		ck_assert_msg(d->body == c[i].body, "%s body", d->name);
	}
	ck_assert_str_eq(ops_class_name(OPC_READ), "read");
	ck_assert_str_eq(ops_class_name(OPC_SEND), "send");
	ck_assert_str_eq(ops_class_name(OPC_GROUP), "group");
	ck_assert_str_eq(ops_class_name(OPC_CLOSE), "close");
	ck_assert_str_eq(ops_class_name(OPC_PERMISSION), "permission");
	ck_assert_str_eq(ops_class_name(OPC_TOKEN), "token");
	ck_assert_int_eq(ops_class_parse("permission", &cls), 0);
	ck_assert_int_eq(cls, OPC_PERMISSION);
	ck_assert_int_eq(ops_class_parse("Send", &cls), 0);
	ck_assert_int_eq(cls, OPC_SEND);
	ck_assert_int_eq(ops_class_parse("write", &cls), -1);
}
END_TEST

START_TEST(test_query_bits)
{
	ck_assert_uint_eq(ops_by_id(OP_GENERATE_CLIENT_TOKEN)->query,
	                  OPQ_USER_ID | OPQ_ROLE | OPQ_MINUTES | OPQ_GROUP | OPQ_CLIENT_TYPE);
	ck_assert_uint_eq(ops_by_id(OP_SEND_TO_ALL)->query,
	                  OPQ_EXCLUDED | OPQ_FILTER | OPQ_DOLLAR_FILTER | OPQ_TTL);
	ck_assert_uint_eq(ops_by_id(OP_SEND_TO_GROUP)->query,
	                  OPQ_EXCLUDED | OPQ_FILTER | OPQ_DOLLAR_FILTER | OPQ_TTL);
	ck_assert_uint_eq(ops_by_id(OP_SEND_TO_USER)->query, OPQ_FILTER | OPQ_DOLLAR_FILTER | OPQ_TTL);
	ck_assert_uint_eq(ops_by_id(OP_SEND_TO_CONNECTION)->query, OPQ_TTL);
	ck_assert_uint_eq(ops_by_id(OP_CLOSE_ALL_CONNECTIONS)->query, OPQ_EXCLUDED | OPQ_REASON);
	ck_assert_uint_eq(ops_by_id(OP_CLOSE_GROUP_CONNECTIONS)->query, OPQ_EXCLUDED | OPQ_REASON);
	ck_assert_uint_eq(ops_by_id(OP_CLOSE_USER_CONNECTIONS)->query, OPQ_EXCLUDED | OPQ_REASON);
	ck_assert_uint_eq(ops_by_id(OP_CLOSE_CONNECTION)->query, OPQ_REASON);
	ck_assert_uint_eq(ops_by_id(OP_LIST_CONNECTIONS_IN_GROUP)->query,
	                  OPQ_MAXPAGESIZE | OPQ_TOP | OPQ_CONTINUATION);
	ck_assert_uint_eq(ops_by_id(OP_GRANT_PERMISSION)->query, OPQ_TARGET_NAME);
	ck_assert_uint_eq(ops_by_id(OP_CHECK_PERMISSION)->query, OPQ_TARGET_NAME);
	ck_assert_uint_eq(ops_by_id(OP_REVOKE_PERMISSION)->query, OPQ_TARGET_NAME);
	ck_assert_uint_eq(ops_by_id(OP_ADD_USER_TO_GROUP)->query, 0);
	ck_assert_uint_eq(ops_by_id(OP_GET_SERVICE_STATUS)->query, 0);
}
END_TEST

START_TEST(test_every_row_matches)
{
	size_t i = (size_t)_i;
	const struct row *w = &rows[i];

	ck_assert_msg(ops_route(w->method, w->path, &req, &err) == 0, "row %zu %s %s: %d %s", i, w->method,
	              w->path, err.status, err.message);
	ck_assert_ptr_eq(req.op, ops_by_id(w->id));
	assert_str_or_null(req.hub, w->hub, "hub", i);
	assert_str_or_null(req.group, w->group, "group", i);
	assert_str_or_null(req.user, w->user, "user", i);
	assert_str_or_null(req.connection, w->conn, "connection", i);
	assert_str_or_null(req.permission, w->perm, "permission", i);
	ck_assert_int_eq(ops_build_path(&req, &out), 0);
	ck_assert_str_eq(out.data, w->canonical);
	/* the canonical path routes to the same operation and values */
	{
		struct ops_req again;

		ops_req_init(&again);
		ck_assert_int_eq(ops_route(w->method, out.data, &again, &err), 0);
		ck_assert_ptr_eq(again.op, req.op);
		assert_str_or_null(again.user, w->user, "user", i);
		assert_str_or_null(again.group, w->group, "group", i);
		ops_req_free(&again);
	}
}
END_TEST

static void expect_route_fail(const char *method, const char *path, int status, const char *code)
{
	struct ops_req r;
	struct ops_err e;

	ops_req_init(&r);
	memset(&e, 0, sizeof(e));
	ck_assert_msg(ops_route(method, path, &r, &e) == -1, "%s %s routed to %s", method, path,
	              r.op ? r.op->name : "?");
	ck_assert_msg(e.status == status, "%s %s: status %d (%s), wanted %d", method, path, e.status,
	              e.message, status);
	ck_assert_str_eq(e.code, code);
	ck_assert_ptr_null(r.op);
	ck_assert_ptr_null(r.hub);
	ops_req_free(&r);
}

START_TEST(test_every_row_non_match)
{
	size_t i = (size_t)_i;
	const struct row *w = &rows[i];
	char p[512];

	/* trailing slash: an empty last segment, which only matches a parameter's place */
	snprintf(p, sizeof(p), "%s/", w->path);
	if (strcmp(w->method, "GET") == 0 && strstr(w->path, "/groups/") != NULL)
		/* .../groups/{group}/connections/ is the place of {connectionId}: PUT/DELETE only */
		expect_route_fail(w->method, p, 405, "MethodNotAllowed");
	else if (strcmp(w->method, "DELETE") == 0 && strstr(w->path, "/users/") != NULL &&
	         strcmp(w->path + strlen(w->path) - 7, "/groups") == 0)
		/* .../users/{userId}/groups/ is RemoveUserFromGroup with an empty group */
		expect_route_fail(w->method, p, 400, "InvalidParameter");
	else
		expect_route_fail(w->method, p, 404, "NotFound");
	snprintf(p, sizeof(p), "/%s", w->path); /* leading empty segment */
	expect_route_fail(w->method, p, 404, "NotFound");
	snprintf(p, sizeof(p), "/API%s", w->path + 4); /* case-sensitive */
	expect_route_fail(w->method, p, 404, "NotFound");
	snprintf(p, sizeof(p), "%s/x/y/z/w", w->path); /* too deep */
	expect_route_fail(w->method, p, 404, "NotFound");
	snprintf(p, sizeof(p), "/api/v2%s", w->path + 4);
	expect_route_fail(w->method, p, 404, "NotFound");
	/* a doubled slash inside */
	snprintf(p, sizeof(p), "/api//%s", w->path + 5);
	expect_route_fail(w->method, p, 404, "NotFound");
}
END_TEST

START_TEST(test_every_row_wrong_method)
{
	static const char *methods[] = { "GET",   "POST",    "PUT",  "DELETE", "HEAD",
		                         "PATCH", "OPTIONS", "post", "TRACE" };
	size_t i = (size_t)_i, m, n405 = 0;
	const struct row *w = &rows[i];

	for (m = 0; m < sizeof(methods) / sizeof(methods[0]); m++) {
		char want[16];

		snprintf(want, sizeof(want), "%s", methods[m]);
		if (strstr(w->allowed, methods[m]) != NULL)
			continue;
		expect_route_fail(methods[m], w->path, 405, "MethodNotAllowed");
		n405++;
	}
	ck_assert_uint_ge(n405, 5);
}
END_TEST

START_TEST(test_405_message_lists_methods)
{
	ck_assert_int_eq(ops_route("POST", "/api/hubs/h/permissions/sendToGroup/connections/c", &req, &err),
	                 -1);
	ck_assert_int_eq(err.status, 405);
	ck_assert_ptr_nonnull(strstr(err.message, "PUT, HEAD, DELETE"));
}
END_TEST

START_TEST(test_route_misc_404)
{
	expect_route_fail("GET", "", 404, "NotFound");
	expect_route_fail("GET", "/", 404, "NotFound");
	expect_route_fail("GET", "api/health", 404, "NotFound");
	expect_route_fail("HEAD", "/api/health/", 404, "NotFound");
	expect_route_fail("HEAD", "/api/Health", 404, "NotFound");
	expect_route_fail("POST", "/api/hubs/chat", 404, "NotFound");
	expect_route_fail("POST", "/api/hubs/chat/", 404, "NotFound");
	expect_route_fail("POST", "/api/hubs/chat/:Send", 404, "NotFound");
	expect_route_fail("POST", "/api/hubs/chat/%3Asend", 404, "NotFound");
	expect_route_fail("POST", "/api/hubs/chat/send", 404, "NotFound");
	expect_route_fail("POST", "/api/hubs/chat/:send/", 404, "NotFound");
	expect_route_fail("POST", "/api/HUBS/chat/:send", 404, "NotFound");
	/* empty parameters: 400, or 405 where the path is another operation's */
	expect_route_fail("POST", "/api/hubs//:send", 400, "InvalidParameter");
	expect_route_fail("HEAD", "/api/hubs/chat/connections/", 400, "InvalidParameter");
	expect_route_fail("POST", "/api/hubs/chat/users//:send", 400, "InvalidParameter");
	expect_route_fail("DELETE", "/api/hubs/chat/connections//groups", 400, "InvalidParameter");
	expect_route_fail("HEAD", "/api/hubs/chat/connections//groups", 405, "MethodNotAllowed");
	expect_route_fail("HEAD", "/api/hubs/chat/users/..", 404, "NotFound");
	expect_route_fail("HEAD", "/api/hubs/chat/users/.", 404, "NotFound");
	expect_route_fail("HEAD", "/api/hubs/chat/users/../../health", 404, "NotFound");
	expect_route_fail("HEAD", "/api/hubs/../health", 404, "NotFound");
	expect_route_fail("HEAD", "/api/./health", 404, "NotFound");
	expect_route_fail("GET", "/metrics", 404, "NotFound");
	expect_route_fail(NULL, "/api/health", 404, "NotFound");
	expect_route_fail("HEAD", NULL, 404, "NotFound");
}
END_TEST

START_TEST(test_route_query_ignored)
{
	ck_assert_int_eq(ops_route("POST", "/api/hubs/chat/:send?api-version=2024-12-01", &req, &err), 0);
	ck_assert_int_eq(req.op->id, OP_SEND_TO_ALL);
	ck_assert_uint_eq(req.nquery, 0);
}
END_TEST

START_TEST(test_route_param_validation)
{
	char p[4096];
	int n;

	/* hub pattern */
	expect_route_fail("POST", "/api/hubs/1chat/:send", 400, "InvalidParameter");
	expect_route_fail("POST", "/api/hubs/_chat/:send", 400, "InvalidParameter");
	expect_route_fail("POST", "/api/hubs/ch-at/:send", 400, "InvalidParameter");
	expect_route_fail("POST", "/api/hubs/ch%20at/:send", 400, "InvalidParameter");
	expect_route_fail("POST", "/api/hubs/ch%2Fat/:send", 400, "InvalidParameter");
	expect_route_fail("POST", "/api/hubs/%2e%2e/:send", 400, "InvalidParameter");
	expect_route_fail("POST", "/api/hubs/%2E/:send", 400, "InvalidParameter");
	expect_route_fail("POST", "/api/hubs/ch%C3%A9/:send", 400, "InvalidParameter");
	ck_assert_int_eq(ops_route("POST", "/api/hubs/a%60b%2Cc.d%5B%5D_9/:send", &req, &err), 0);
	ck_assert_str_eq(req.hub, "a`b,c.d[]_9");
	ops_req_free(&req);
	n = snprintf(p, sizeof(p), "/api/hubs/");
	memset(p + n, 'h', 128);
	strcpy(p + n + 128, "/:send");
	ck_assert_int_eq(ops_route("POST", p, &req, &err), 0);
	ops_req_free(&req);
	memset(p + n, 'h', 129);
	strcpy(p + n + 129, "/:send");
	expect_route_fail("POST", p, 400, "InvalidParameter");

	/* group: 1024 ok, 1025 too long; whitespace only; control characters */
	n = snprintf(p, sizeof(p), "/api/hubs/h/groups/");
	memset(p + n, 'g', 1024);
	strcpy(p + n + 1024, "/:send");
	ck_assert_int_eq(ops_route("POST", p, &req, &err), 0);
	ck_assert_uint_eq(strlen(req.group), 1024);
	ops_req_free(&req);
	memset(p + n, 'g', 1025);
	strcpy(p + n + 1025, "/:send");
	expect_route_fail("POST", p, 400, "InvalidParameter");
	expect_route_fail("HEAD", "/api/hubs/h/groups/%20%20", 400, "InvalidParameter");
	expect_route_fail("HEAD", "/api/hubs/h/groups/%E3%80%80", 400, "InvalidParameter"); /* U+3000 */
	expect_route_fail("HEAD", "/api/hubs/h/groups/%09", 400, "InvalidParameter");
	expect_route_fail("HEAD", "/api/hubs/h/groups/a%0d%0ab", 400, "InvalidParameter");
	expect_route_fail("HEAD", "/api/hubs/h/groups/a%00b", 400, "InvalidParameter");
	expect_route_fail("HEAD", "/api/hubs/h/groups/a%7fb", 400, "InvalidParameter");
	expect_route_fail("HEAD", "/api/hubs/h/groups/%2e%2e", 400, "InvalidParameter");
	ck_assert_int_eq(ops_route("HEAD", "/api/hubs/h/groups/%20a%20", &req, &err), 0);
	ck_assert_str_eq(req.group, " a ");
	ops_req_free(&req);

	/* ids: empty (encoded), control characters, invalid UTF-8, bad escapes, dot segments */
	expect_route_fail("HEAD", "/api/hubs/h/users/%0d%0a", 400, "InvalidParameter");
	expect_route_fail("HEAD", "/api/hubs/h/users/a%00", 400, "InvalidParameter");
	expect_route_fail("HEAD", "/api/hubs/h/users/%ff", 400, "InvalidParameter");
	expect_route_fail("HEAD", "/api/hubs/h/users/%c0%af", 400, "InvalidParameter");
	expect_route_fail("HEAD", "/api/hubs/h/users/%ed%a0%80", 400, "InvalidParameter");
	expect_route_fail("HEAD", "/api/hubs/h/users/%zz", 400, "InvalidParameter");
	expect_route_fail("HEAD", "/api/hubs/h/users/%4", 400, "InvalidParameter");
	expect_route_fail("HEAD", "/api/hubs/h/users/abc%", 400, "InvalidParameter");
	expect_route_fail("HEAD", "/api/hubs/h/users/%2e%2e", 400, "InvalidParameter");
	expect_route_fail("HEAD", "/api/hubs/h/users/%2E", 400, "InvalidParameter");
	expect_route_fail("HEAD", "/api/hubs/h/connections/%2e%2E", 400, "InvalidParameter");
	expect_route_fail("DELETE", "/api/hubs/h/connections/\x01", 400, "InvalidParameter");
	ck_assert_int_eq(ops_route("HEAD", "/api/hubs/h/users/...", &req, &err), 0);
	ck_assert_str_eq(req.user, "...");
	ops_req_free(&req);
	n = snprintf(p, sizeof(p), "/api/hubs/h/connections/");
	memset(p + n, 'c', 1024);
	p[n + 1024] = '\0';
	ck_assert_int_eq(ops_route("HEAD", p, &req, &err), 0);
	ops_req_free(&req);
	memset(p + n, 'c', 1025);
	p[n + 1025] = '\0';
	expect_route_fail("HEAD", p, 400, "InvalidParameter");

	/* permission names */
	expect_route_fail("PUT", "/api/hubs/h/permissions/sendtogroup/connections/c", 400,
	                  "InvalidParameter");
	expect_route_fail("PUT", "/api/hubs/h/permissions/admin/connections/c", 400, "InvalidParameter");
	expect_route_fail("PUT", "/api/hubs/h/permissions/sendToGroup%20/connections/c", 400,
	                  "InvalidParameter");
}
END_TEST

START_TEST(test_route_too_long)
{
	char *p = malloc(WPS_URL_MAX + 100);

	strcpy(p, "/api/hubs/h/users/");
	memset(p + 18, 'u', WPS_URL_MAX + 50);
	p[WPS_URL_MAX + 68] = '\0';
	expect_route_fail("HEAD", p, 400, "InvalidParameter");
	free(p);
}
END_TEST

/* A whole request through ops_parse_request. */
static void expect_request(const char *method, const char *url, int status, const char *code)
{
	struct ops_req r;
	struct ops_err e;
	int rc;

	ops_req_init(&r);
	memset(&e, 0, sizeof(e));
	rc = ops_parse_request(method, url, &r, &e);
	if (status == 0) {
		ck_assert_msg(rc == 0, "%s %s: %d %s %s", method, url, e.status, e.code, e.message);
	} else {
		ck_assert_msg(rc == -1, "%s %s accepted", method, url);
		ck_assert_msg(e.status == status, "%s %s: %d (%s), wanted %d", method, url, e.status,
		              e.message, status);
		ck_assert_str_eq(e.code, code);
		ck_assert_ptr_null(r.op);
		ck_assert_uint_eq(r.nquery, 0);
	}
	ops_req_free(&r);
}

#define OK(m, u)  expect_request(m, u, 0, NULL)
#define BAD(m, u) expect_request(m, u, 400, "InvalidParameter")

START_TEST(test_query_validation)
{
	OK("POST", "/api/hubs/h/:send?messageTtlSeconds=0");
	OK("POST", "/api/hubs/h/:send?messageTtlSeconds=300");
	BAD("POST", "/api/hubs/h/:send?messageTtlSeconds=301");
	BAD("POST", "/api/hubs/h/:send?messageTtlSeconds=-1");
	BAD("POST", "/api/hubs/h/:send?messageTtlSeconds=abc");
	BAD("POST", "/api/hubs/h/:send?messageTtlSeconds=");
	BAD("POST", "/api/hubs/h/:send?messageTtlSeconds");
	BAD("POST", "/api/hubs/h/:send?messageTtlSeconds=+5");
	BAD("POST", "/api/hubs/h/:send?messageTtlSeconds=%205");
	BAD("POST", "/api/hubs/h/:send?messageTtlSeconds=5%20");
	BAD("POST", "/api/hubs/h/:send?messageTtlSeconds=1.5");
	BAD("POST", "/api/hubs/h/:send?messageTtlSeconds=99999999999999999999999");
	BAD("POST", "/api/hubs/h/:send?messageTtlSeconds=1&messageTtlSeconds=2");
	OK("POST", "/api/hubs/h/users/u/:send?messageTtlSeconds=10&filter=x");
	OK("POST", "/api/hubs/h/connections/c/:send?messageTtlSeconds=10");
	BAD("POST", "/api/hubs/h/connections/c/:send?filter=x");
	BAD("POST", "/api/hubs/h/connections/c/:send?excluded=x");

	OK("POST", "/api/hubs/h/:generateToken?minutesToExpire=1");
	BAD("POST", "/api/hubs/h/:generateToken?minutesToExpire=0");
	BAD("POST", "/api/hubs/h/:generateToken?minutesToExpire=-5");
	BAD("POST", "/api/hubs/h/:generateToken?minutesToExpire=2147483648");
	OK("POST", "/api/hubs/h/:generateToken?minutesToExpire=2147483647");
	OK("POST", "/api/hubs/h/:generateToken?clientType=mqtt");
	OK("POST", "/api/hubs/h/:generateToken?clientType=Default");
	OK("POST", "/api/hubs/h/:generateToken?clientType=SocketIO");
	BAD("POST", "/api/hubs/h/:generateToken?clientType=Other");
	BAD("POST", "/api/hubs/h/:generateToken?clientType=");
	BAD("POST", "/api/hubs/h/:generateToken?clientType=MQTT&clientType=MQTT");
	OK("POST", "/api/hubs/h/:generateToken?group=a&group=b&role=r1&role=r2&userId=u");
	BAD("POST", "/api/hubs/h/:generateToken?group=%20");
	BAD("POST", "/api/hubs/h/:generateToken?group=");
	BAD("POST", "/api/hubs/h/:generateToken?role=");
	BAD("POST", "/api/hubs/h/:generateToken?userId=");
	BAD("POST", "/api/hubs/h/:generateToken?userId=a&userId=b");

	OK("GET", "/api/hubs/h/groups/g/connections?maxpagesize=1&top=1&continuationToken=abc");
	OK("GET", "/api/hubs/h/groups/g/connections?maxpagesize=200");
	BAD("GET", "/api/hubs/h/groups/g/connections?maxpagesize=0");
	BAD("GET", "/api/hubs/h/groups/g/connections?maxpagesize=201");
	BAD("GET", "/api/hubs/h/groups/g/connections?top=0");
	BAD("GET", "/api/hubs/h/groups/g/connections?continuationToken=");
	BAD("GET", "/api/hubs/h/groups/g/connections?top=1&top=2");

	OK("POST", "/api/hubs/h/:send?excluded=a&excluded=b");
	BAD("POST", "/api/hubs/h/:send?excluded=");
	OK("POST", "/api/hubs/h/:closeConnections?excluded=a&reason=bye%20now");
	BAD("POST", "/api/hubs/h/:closeConnections?reason=a&reason=b");
	OK("PUT", "/api/hubs/h/permissions/sendToGroup/connections/c?targetName=g1");
	BAD("PUT", "/api/hubs/h/permissions/sendToGroup/connections/c?targetName=%20");

	/* unknown parameters, api-version */
	BAD("POST", "/api/hubs/h/:send?foo=1");
	BAD("POST", "/api/hubs/h/:send?Filter=1");
	BAD("HEAD", "/api/health?reason=x");
	OK("HEAD", "/api/health?api-version=2024-12-01");
	OK("HEAD", "/api/health?api-version=1999-01-01");
	BAD("HEAD", "/api/health?api-version=2024-12-01&api-version=2024-12-01");
	OK("POST", "/api/hubs/h/:send");
	OK("POST", "/api/hubs/h/:send?");
	OK("POST", "/api/hubs/h/:send?&&api-version=2024-12-01&");

	/* escapes, control characters, UTF-8, empty names */
	BAD("POST", "/api/hubs/h/:send?excluded=%zz");
	BAD("POST", "/api/hubs/h/:send?excluded=%0d%0aX-Injected:%201");
	BAD("POST", "/api/hubs/h/:send?excluded=a%00b");
	BAD("POST", "/api/hubs/h/:send?excluded=%ff");
	BAD("POST", "/api/hubs/h/:send?filter=%0a");
	BAD("POST", "/api/hubs/h/:send?ex%00cluded=a");
	BAD("POST", "/api/hubs/h/:send?=a");
	BAD("POST", "/api/hubs/h/:send?%=a");
	OK("POST", "/api/hubs/h/:send?filter=userId%20ne%20%27O%27%27Brien%27");
	OK("POST", "/api/hubs/h/:send?filter=userId+ne+'u1'");
	expect_request("POST", "/api/hubs/1h/:send?foo=1", 400, "InvalidParameter");
	expect_request("GET", "/api/hubs/h/:send?foo=1", 405, "MethodNotAllowed");
	expect_request("GET", "/nope?foo=1", 404, "NotFound");
}
END_TEST

START_TEST(test_unknown_param_message)
{
	char url[300];

	ck_assert_int_eq(ops_parse_request("POST", "/api/hubs/h/:send?bogus=1", &req, &err), -1);
	ck_assert_str_eq(err.message, "Unknown query parameter 'bogus' for SendToAll");
	snprintf(url, sizeof(url), "/api/hubs/h/:send?%0100d%%0a=1", 0);
	ck_assert_int_eq(ops_parse_request("POST", url, &req, &err), -1);
	/* control characters are refused before; a long name is cut to 64 bytes */
	snprintf(url, sizeof(url), "/api/hubs/h/:send?%0100d=1", 0);
	ck_assert_int_eq(ops_parse_request("POST", url, &req, &err), -1);
	ck_assert_str_eq(
	        err.message,
	        "Unknown query parameter "
	        "'0000000000000000000000000000000000000000000000000000000000000000...' for SendToAll");
	ck_assert_int_eq(ops_parse_request("POST", "/api/hubs/h/:send?%C3%A9=1", &req, &err), -1);
	ck_assert_str_eq(err.message, "Unknown query parameter '?\?' for SendToAll");
}
END_TEST

START_TEST(test_too_many_params)
{
	struct buf u;
	int i;

	buf_init(&u, 0);
	buf_puts(&u, "/api/hubs/h/:send?");
	for (i = 0; i < WPS_QUERY_PARAMS_MAX; i++)
		buf_printf(&u, "excluded=c%d&", i);
	ck_assert_int_eq(ops_parse_request("POST", u.data, &req, &err), 0);
	ck_assert_uint_eq(req.nquery, WPS_QUERY_PARAMS_MAX);
	ops_req_free(&req);
	buf_puts(&u, "excluded=last");
	ck_assert_int_eq(ops_parse_request("POST", u.data, &req, &err), -1);
	ck_assert_int_eq(err.status, 400);
	buf_free(&u);
}
END_TEST

START_TEST(test_filter_length)
{
	struct buf u;

	buf_init(&u, 0);
	buf_puts(&u, "/api/hubs/h/:send?filter=");
	while (u.len < 25 + WPS_FILTER_MAX)
		buf_puts(&u, "a");
	ck_assert_int_eq(ops_parse_request("POST", u.data, &req, &err), 0);
	ops_req_free(&req);
	buf_puts(&u, "a");
	ck_assert_int_eq(ops_parse_request("POST", u.data, &req, &err), -1);
	ck_assert_int_eq(err.status, 400);
	buf_free(&u);
}
END_TEST

START_TEST(test_query_decoding_and_get)
{
	ck_assert_int_eq(ops_parse_request("POST",
	                                   "/api/hubs/h/:send?excluded=a+b&excluded=c%2Bd"
	                                   "&filter=x%3Dy&api-version=2023-07-01",
	                                   &req, &err),
	                 0);
	ck_assert_uint_eq(req.nquery, 4);
	ck_assert_str_eq(req.query[0].key, "excluded");
	ck_assert_str_eq(req.query[0].val, "a b");
	ck_assert_str_eq(req.query[1].val, "c+d");
	ck_assert_str_eq(ops_query_get(&req, "excluded"), "a b");
	ck_assert_str_eq(ops_query_get(&req, "filter"), "x=y");
	ck_assert_str_eq(ops_query_get(&req, "api-version"), "2023-07-01");
	ck_assert_ptr_null(ops_query_get(&req, "Filter"));
	ck_assert_ptr_null(ops_query_get(&req, "reason"));
}
END_TEST

START_TEST(test_add_query_direct)
{
	ck_assert_int_eq(ops_route("POST", "/api/hubs/h/:closeConnections", &req, &err), 0);
	ck_assert_int_eq(ops_add_query(&req, "reason", NULL, &err), 0);
	ck_assert_str_eq(req.query[0].val, "");
	ck_assert_int_eq(ops_add_query(&req, "excluded", "%41", &err), 0);
	ck_assert_str_eq(req.query[1].val, "A");
	ck_assert_int_eq(ops_add_query(&req, "excluded", "%4", &err), -1);
	ck_assert_int_eq(err.status, 400);
	ck_assert_uint_eq(req.nquery, 2);
	ck_assert_int_eq(ops_validate_query(&req, &err), 0);
}
END_TEST

START_TEST(test_build_query)
{
	ck_assert_int_eq(ops_parse_request("POST",
	                                   "/api/hubs/h/groups/g/:send?excluded=a+b"
	                                   "&api-version=2021-10-01&excluded=c%2fd"
	                                   "&filter=userId%20ne%20'x'&messageTtlSeconds=5",
	                                   &req, &err),
	                 0);
	ck_assert_int_eq(ops_build_query(&req, "2024-12-01", &out), 0);
	ck_assert_str_eq(out.data, "api-version=2024-12-01&excluded=a%20b&excluded=c%2Fd"
	                           "&filter=userId%20ne%20%27x%27&messageTtlSeconds=5");
	buf_reset(&out);
	ck_assert_int_eq(ops_build_path(&req, &out), 0);
	ck_assert_str_eq(out.data, "/api/hubs/h/groups/g/:send");
	ops_req_free(&req);
	buf_reset(&out);
	ck_assert_int_eq(ops_parse_request("HEAD", "/api/health", &req, &err), 0);
	ck_assert_int_eq(ops_build_query(&req, "2024-01-01", &out), 0);
	ck_assert_str_eq(out.data, "api-version=2024-01-01");
	ops_req_free(&req);
	buf_reset(&out);
	ck_assert_int_eq(ops_parse_request("POST",
	                                   "/api/hubs/h/:generateToken?role=webpubsub.sendToGroup.g%201"
	                                   "&userId=u%40x&group=%E2%82%AC",
	                                   &req, &err),
	                 0);
	ck_assert_int_eq(ops_build_query(&req, "2024-12-01", &out), 0);
	ck_assert_str_eq(out.data, "api-version=2024-12-01&role=webpubsub.sendToGroup.g%201&userId=u%40x"
	                           "&group=%E2%82%AC");
}
END_TEST

START_TEST(test_build_full_buffer)
{
	struct buf small;

	buf_init(&small, 20);
	ck_assert_int_eq(ops_route("HEAD", "/api/hubs/chat/users/user%40example.com", &req, &err), 0);
	buf_puts(&small, "X");
	ck_assert_int_eq(ops_build_path(&req, &small), -1);
	ck_assert_str_eq(small.data, "X");
	ck_assert_int_eq(ops_build_query(&req, "2024-12-01-and-some-more", &small), -1);
	ck_assert_str_eq(small.data, "X");
	buf_free(&small);
}
END_TEST

START_TEST(test_api_versions)
{
	ck_assert_int_eq(ops_api_version_known("2021-10-01"), 1);
	ck_assert_int_eq(ops_api_version_known("2022-11-01"), 1);
	ck_assert_int_eq(ops_api_version_known("2023-07-01"), 1);
	ck_assert_int_eq(ops_api_version_known("2024-01-01"), 1);
	ck_assert_int_eq(ops_api_version_known("2024-12-01"), 1);
	ck_assert_int_eq(ops_api_version_known("2021-08-01-preview"), 1);
	ck_assert_int_eq(ops_api_version_known("2020-10-01"), 1);
	ck_assert_int_eq(ops_api_version_known("2024-12-02"), 0);
	ck_assert_int_eq(ops_api_version_known(""), 0);
	ck_assert_int_eq(ops_api_version_known(NULL), 0);
}
END_TEST

START_TEST(test_validators)
{
	ck_assert_int_eq(ops_valid_hub("a"), 1);
	ck_assert_int_eq(ops_valid_hub("Z`,.[]_0"), 1);
	ck_assert_int_eq(ops_valid_hub(""), 0);
	ck_assert_int_eq(ops_valid_hub("0a"), 0);
	ck_assert_int_eq(ops_valid_hub("a-b"), 0);
	ck_assert_int_eq(ops_valid_hub(NULL), 0);
	ck_assert_int_eq(ops_valid_group("g"), 1);
	ck_assert_int_eq(ops_valid_group(" "), 0);
	ck_assert_int_eq(ops_valid_group("\xc2\xa0"), 0); /* NBSP only */
	ck_assert_int_eq(ops_valid_group("\xc2\xa0x"), 1);
	ck_assert_int_eq(ops_valid_group("a\tb"), 0);
	ck_assert_int_eq(ops_valid_group("\xff"), 0);
	ck_assert_int_eq(ops_valid_group(""), 0);
	ck_assert_int_eq(ops_valid_id("x"), 1);
	ck_assert_int_eq(ops_valid_id(" "), 1);
	ck_assert_int_eq(ops_valid_id(""), 0);
	ck_assert_int_eq(ops_valid_id("a\nb"), 0);
	ck_assert_int_eq(ops_valid_permission("sendToGroup"), 1);
	ck_assert_int_eq(ops_valid_permission("joinLeaveGroup"), 1);
	ck_assert_int_eq(ops_valid_permission("JoinLeaveGroup"), 0);
	ck_assert_int_eq(ops_valid_permission(NULL), 0);
	{
		/* 1024 three-byte characters are 1024 characters */
		char g[1025 * 3 + 1];
		int i;

		for (i = 0; i < 1024; i++)
			memcpy(g + i * 3, "\xe2\x82\xac", 3);
		g[1024 * 3] = '\0';
		ck_assert_int_eq(ops_valid_group(g), 1);
		memcpy(g + 1024 * 3, "\xe2\x82\xac", 3);
		g[1025 * 3] = '\0';
		ck_assert_int_eq(ops_valid_group(g), 0);
	}
}
END_TEST

static void expect_body(enum ops_id id, const char *ct, const char *body, size_t max, int status,
                        const char *code)
{
	struct ops_req r;
	struct ops_err e;
	int rc;

	ops_req_init(&r);
	memset(&e, 0, sizeof(e));
	r.op = ops_by_id(id);
	rc = ops_validate_body(&r, ct, body, body ? strlen(body) : 0, max, &e);
	if (status == 0) {
		ck_assert_msg(rc == 0, "body '%s' (%s): %d %s", body, ct, e.status, e.message);
	} else {
		ck_assert_msg(rc == -1, "body '%s' (%s) accepted", body, ct ? ct : "(null)");
		ck_assert_msg(e.status == status, "body '%s' (%s): %d, wanted %d", body, ct, e.status,
		              status);
		ck_assert_str_eq(e.code, code);
	}
}

START_TEST(test_message_bodies)
{
	expect_body(OP_SEND_TO_ALL, "application/json", "{\"a\":1}", 100, 0, NULL);
	expect_body(OP_SEND_TO_ALL, "text/plain", "hi", 100, 0, NULL);
	expect_body(OP_SEND_TO_ALL, "text/plain; charset=utf-8", "hi", 100, 0, NULL);
	expect_body(OP_SEND_TO_ALL, "Text/Plain;charset=UTF-8", "hi", 100, 0, NULL);
	expect_body(OP_SEND_TO_ALL, " application/octet-stream ", "\x01", 100, 0, NULL);
	expect_body(OP_SEND_TO_GROUP, "application/json", "not json but passed through", 100, 0, NULL);
	expect_body(OP_SEND_TO_USER, "text/plain", "", 100, 0, NULL);
	expect_body(OP_SEND_TO_ALL, "text/html", "hi", 100, 415, "UnsupportedMediaType");
	expect_body(OP_SEND_TO_ALL, "application/jsonx", "hi", 100, 415, "UnsupportedMediaType");
	expect_body(OP_SEND_TO_ALL, "application/xml", "hi", 100, 415, "UnsupportedMediaType");
	expect_body(OP_SEND_TO_ALL, "", "hi", 100, 415, "UnsupportedMediaType");
	expect_body(OP_SEND_TO_CONNECTION, NULL, "hi", 100, 415, "UnsupportedMediaType");
	expect_body(OP_SEND_TO_ALL, "text/plain", "0123456789", 10, 0, NULL);
	expect_body(OP_SEND_TO_ALL, "text/plain", "0123456789A", 10, 413, "PayloadTooLarge");
	/* operations without a body ignore one */
	expect_body(OP_CLOSE_CONNECTION, "text/html", "ignored", 1, 0, NULL);
	expect_body(OP_GET_SERVICE_STATUS, NULL, NULL, 0, 0, NULL);
}
END_TEST

START_TEST(test_groups_bodies)
{
	struct buf b;
	int i;

	expect_body(OP_ADD_CONNECTIONS_TO_GROUPS, "application/json", "{\"groups\":[\"a\",\"b\"]}", 4096, 0,
	            NULL);
	expect_body(OP_REMOVE_CONNECTIONS_FROM_GROUPS, "application/json; charset=utf-8",
	            "{\"groups\":[\"a\"],\"filter\":\"userId eq 'x'\"}", 4096, 0, NULL);
	/* the SDKs send "filter":null when the application gives no filter */
	expect_body(OP_ADD_CONNECTIONS_TO_GROUPS, "application/json", "{\"groups\":[\"a\"],\"filter\":null}",
	            4096, 0, NULL);
	expect_body(OP_ADD_CONNECTIONS_TO_GROUPS, "text/plain", "{\"groups\":[\"a\"]}", 4096, 415,
	            "UnsupportedMediaType");
	expect_body(OP_ADD_CONNECTIONS_TO_GROUPS, NULL, "{\"groups\":[\"a\"]}", 4096, 415,
	            "UnsupportedMediaType");
	expect_body(OP_ADD_CONNECTIONS_TO_GROUPS, "application/json", "{\"groups\":[\"a\"]}", 5, 413,
	            "PayloadTooLarge");
	{
		static const char *bad[] = {
			"",
			"null",
			"[]",
			"{",
			"{}",
			"{\"groups\":[]}",
			"{\"groups\":\"a\"}",
			"{\"groups\":[1]}",
			"{\"groups\":[\"\"]}",
			"{\"groups\":[\"  \"]}",
			"{\"groups\":[\"a\\nb\"]}",
			"{\"groups\":[\"a\\u0000b\"]}",
			"{\"groups\":[null]}",
			"{\"groups\":[\"a\"],\"filter\":1}",
			"{\"groups\":[\"a\"],\"other\":1}",
			"{\"groups\":[\"a\"],\"groups\":[\"b\"]}",
			"{\"groups\":[\"a\"]} trailing",
			"{\"groups\":[\"\xff\"]}",
		};
		size_t k;

		for (k = 0; k < sizeof(bad) / sizeof(bad[0]); k++)
			expect_body(OP_ADD_CONNECTIONS_TO_GROUPS, "application/json", bad[k], 4096, 400,
			            "InvalidBody");
	}
	buf_init(&b, 0);
	buf_puts(&b, "{\"groups\":[\"g0\"");
	for (i = 1; i < WPS_GROUPS_JSON_MAX; i++)
		buf_printf(&b, ",\"g%d\"", i);
	buf_puts(&b, "]}");
	expect_body(OP_ADD_CONNECTIONS_TO_GROUPS, "application/json", b.data, 1 << 20, 0, NULL);
	b.len -= 2;
	buf_puts(&b, ",\"one-too-many\"]}");
	expect_body(OP_ADD_CONNECTIONS_TO_GROUPS, "application/json", b.data, 1 << 20, 400, "InvalidBody");
	buf_free(&b);
}
END_TEST

START_TEST(test_err_json)
{
	ck_assert_int_eq(ops_fail(&err, 400, "InvalidParameter", "bad \"%s\" \\ \n", "x"), -1);
	ck_assert_int_eq(err.status, 400);
	ck_assert_int_eq(ops_err_json(&err, &out), 0);
	ck_assert_str_eq(out.data,
	                 "{\"code\":\"InvalidParameter\",\"message\":\"bad \\\"x\\\" \\\\ \\u000a\"}");
	buf_reset(&out);
	ck_assert_int_eq(ops_route("GET", "/api/health", &req, &err), -1);
	ck_assert_int_eq(ops_err_json(&err, &out), 0);
	ck_assert_str_eq(out.data, "{\"code\":\"MethodNotAllowed\",\"message\":"
	                           "\"The method is not allowed for this path; allowed: HEAD\"}");
	{
		char longmsg[600];

		memset(longmsg, 'm', sizeof(longmsg) - 1);
		longmsg[sizeof(longmsg) - 1] = '\0';
		ops_fail(&err, 404, "NotFound", "%s", longmsg);
		ck_assert_uint_eq(strlen(err.message), sizeof(err.message) - 1);
	}
}
END_TEST

static Suite *ops_suite(void)
{
	Suite *s = suite_create("ops");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_table_shape);
	tcase_add_test(tc, test_classes_and_success);
	tcase_add_test(tc, test_query_bits);
	tcase_add_loop_test(tc, test_every_row_matches, 0, (int)NROWS);
	tcase_add_loop_test(tc, test_every_row_non_match, 0, (int)NROWS);
	tcase_add_loop_test(tc, test_every_row_wrong_method, 0, (int)NROWS);
	tcase_add_test(tc, test_405_message_lists_methods);
	tcase_add_test(tc, test_route_misc_404);
	tcase_add_test(tc, test_route_query_ignored);
	tcase_add_test(tc, test_route_param_validation);
	tcase_add_test(tc, test_route_too_long);
	tcase_add_test(tc, test_query_validation);
	tcase_add_test(tc, test_unknown_param_message);
	tcase_add_test(tc, test_too_many_params);
	tcase_add_test(tc, test_filter_length);
	tcase_add_test(tc, test_query_decoding_and_get);
	tcase_add_test(tc, test_add_query_direct);
	tcase_add_test(tc, test_build_query);
	tcase_add_test(tc, test_build_full_buffer);
	tcase_add_test(tc, test_api_versions);
	tcase_add_test(tc, test_validators);
	tcase_add_test(tc, test_message_bodies);
	tcase_add_test(tc, test_groups_bodies);
	tcase_add_test(tc, test_err_json);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(ops_suite());
}
