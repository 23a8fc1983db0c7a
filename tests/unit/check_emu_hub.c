/* check_emu_hub.c: unit tests of the emulator's hub state and client protocol (hub.c, proto.c). */
#include <config.h>

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_emu_fake.h"
#include "emulator/filter.h"
#include "emulator/hub.h"
#include "emulator/proto.h"
#include "check_main.h"

static struct hub_state *st;
static struct hub *h;
static struct fake f1, f2, f3;

static void setup(void)
{
	st = hub_state_new(&fake_ops);
	ck_assert_ptr_nonnull(st);
	h = hub_get(st, "chat", 1);
	ck_assert_ptr_nonnull(h);
	memset(&f1, 0, sizeof(f1));
	memset(&f2, 0, sizeof(f2));
	memset(&f3, 0, sizeof(f3));
}

static void teardown(void)
{
	hub_state_free(st);
	fake_reset(&f1);
	fake_reset(&f2);
	fake_reset(&f3);
}

static void rest_send(enum hub_target kind, const char *id, enum hub_dtype dt, const char *body,
                      const struct filter *flt, char *const *excl, size_t nexcl)
{
	struct hub_msg m;
	char err[100];
	ck_assert_int_eq(proto_msg_from_body(&m, dt, body, strlen(body), err, sizeof(err)), 0);
	struct hub_sel sel = { .kind = kind, .id = id, .excluded = excl, .nexcluded = nexcl, .filter = flt };
	hub_send(h, &sel, &m);
	proto_msg_release(&m);
}

static void client(struct hub_conn *c, const char *json)
{
	proto_on_message(c, 0, json, strlen(json));
}

START_TEST(state_transitions)
{
	static const char *const tg[] = { "g1" };
	struct hub_conn *a = fake_conn(h, &f1, "A", "alice", HUB_PROTO_SIMPLE, NULL, 0, tg, 1);
	struct hub_conn *b = fake_conn(h, &f2, "B", NULL, HUB_PROTO_SIMPLE, NULL, 0, NULL, 0);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_ptr_null(fake_conn(h, &f3, "A", NULL, HUB_PROTO_SIMPLE, NULL, 0, NULL, 0)); /* id taken */
	ck_assert_uint_eq(st->nconns, 2);
	ck_assert_ptr_eq(hub_get(st, "CHAT", 0), h); /* hub names are case-insensitive */
	ck_assert_ptr_null(hub_get(st, "other", 0));
	ck_assert_int_eq(hub_group_exists(h, "g1"), 1);
	ck_assert_int_eq(hub_group_exists(h, "g2"), 0);
	ck_assert_int_eq(hub_user_exists(h, "alice"), 1);
	ck_assert_int_eq(hub_user_exists(h, "bob"), 0);
	ck_assert_int_eq(hub_conn_join(b, "g2"), 0);
	ck_assert_int_eq(hub_conn_join(b, "g2"), 0);
	ck_assert_uint_eq(b->ngroups, 1);
	ck_assert_int_eq(hub_conn_leave(b, "g2"), 1);
	ck_assert_int_eq(hub_conn_leave(b, "g2"), 0);
	ck_assert_int_eq(hub_group_exists(h, "g2"), 0);

	/* users: AddUserToGroup needs a connection, and the user's later connections join too */
	ck_assert_int_eq(hub_user_add_group(h, "bob", "g3"), -1);
	ck_assert_int_eq(hub_user_add_group(h, "alice", "g3"), 0);
	ck_assert_int_eq(hub_conn_in_group(a, "g3"), 1);
	struct hub_conn *a2 = fake_conn(h, &f3, "A2", "alice", HUB_PROTO_SIMPLE, NULL, 0, NULL, 0);
	ck_assert_int_eq(hub_conn_in_group(a2, "g3"), 1);
	hub_user_remove_group(h, "alice", "g3");
	ck_assert_int_eq(hub_conn_in_group(a, "g3"), 0);
	ck_assert_int_eq(hub_conn_in_group(a2, "g3"), 0);
	ck_assert_int_eq(hub_conn_in_group(a, "g1"), 1);
	hub_user_remove_group(h, "alice", NULL);
	ck_assert_uint_eq(a->ngroups, 0);

	/* the client leaves: gone, nothing sent */
	hub_conn_remove(a2);
	hub_conn_remove(a);
	ck_assert_int_eq(hub_user_exists(h, "alice"), 0);
	ck_assert_ptr_null(hub_conn_find(h, "A"));
	ck_assert_ptr_eq(hub_conn_find(h, "B"), b);
	ck_assert_uint_eq(st->nconns, 1);
	ck_assert_int_eq(f1.nframes + f1.closed, 0);

	/* random ids are distinct and URL-safe */
	struct hub_conn *r1 = fake_conn(h, &f1, NULL, NULL, HUB_PROTO_SIMPLE, NULL, 0, NULL, 0);
	struct hub_conn *r2 = fake_conn(h, &f1, NULL, NULL, HUB_PROTO_SIMPLE, NULL, 0, NULL, 0);
	ck_assert_uint_eq(strlen(r1->id), 22);
	ck_assert_str_ne(r1->id, r2->id);
	ck_assert_uint_eq(strspn(r1->id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
	                  22);
}
END_TEST

START_TEST(targets_and_formats)
{
	static const char *const tg[] = { "g" };
	struct hub_conn *a = fake_conn(h, &f1, "A", "alice", HUB_PROTO_SIMPLE, NULL, 0, tg, 1);
	struct hub_conn *b = fake_conn(h, &f2, "B", "bob", HUB_PROTO_JSON, NULL, 0, tg, 1);
	struct hub_conn *c = fake_conn(h, &f3, "C", NULL, HUB_PROTO_RELIABLE, NULL, 0, NULL, 0);
	ck_assert_ptr_nonnull(a && b && c ? a : NULL);

	rest_send(HUB_T_ALL, NULL, HUB_DT_TEXT, "hello", NULL, NULL, 0);
	ck_assert_int_eq(f1.nframes, 1);
	ck_assert_str_eq(f1.frames[0], "hello");
	ck_assert_int_eq(f1.binary[0], 0);
	ck_assert_str_eq(
	        f2.frames[0],
	        "{\"type\":\"message\",\"from\":\"server\",\"dataType\":\"text\",\"data\":\"hello\"}");
	ck_assert_str_eq(f3.frames[0], "{\"type\":\"message\",\"from\":\"server\",\"dataType\":\"text\","
	                               "\"data\":\"hello\",\"sequenceId\":1}");

	rest_send(HUB_T_GROUP, "g", HUB_DT_JSON, "{\"x\": [1, 2]}", NULL, NULL, 0);
	ck_assert_int_eq(f1.nframes, 2);
	ck_assert_str_eq(f1.frames[1], "{\"x\": [1, 2]}"); /* simple clients: the body as is */
	ck_assert_str_eq(f2.frames[1], "{\"type\":\"message\",\"from\":\"group\",\"group\":\"g\","
	                               "\"dataType\":\"json\",\"data\":{\"x\":[1,2]}}");
	ck_assert_int_eq(f3.nframes, 1); /* not in g */

	rest_send(HUB_T_USER, "bob", HUB_DT_BINARY, "\x01\x02\xff", NULL, NULL, 0);
	ck_assert_int_eq(f1.nframes, 2);
	ck_assert_str_eq(
	        f2.frames[2],
	        "{\"type\":\"message\",\"from\":\"server\",\"dataType\":\"binary\",\"data\":\"AQL/\"}");

	rest_send(HUB_T_CONN, "A", HUB_DT_BINARY, "\x01\x02", NULL, NULL, 0);
	ck_assert_int_eq(f1.nframes, 3);
	ck_assert_int_eq(f1.binary[2], 1);
	ck_assert_uint_eq(f1.lens[2], 2);
	ck_assert_int_eq(f2.nframes, 3);

	/* excluded and filter */
	char ex[] = "B";
	char *excl[] = { ex };
	rest_send(HUB_T_ALL, NULL, HUB_DT_TEXT, "x1", NULL, excl, 1);
	ck_assert_int_eq(f1.nframes, 4);
	ck_assert_int_eq(f2.nframes, 3);
	ck_assert_int_eq(f3.nframes, 2);
	ck_assert_str_eq(f3.frames[1], "{\"type\":\"message\",\"from\":\"server\",\"dataType\":\"text\","
	                               "\"data\":\"x1\",\"sequenceId\":2}");
	struct filter *flt = NULL;
	struct filter_error err;
	ck_assert_int_eq(filter_parse("userId ne 'alice'", 17, &flt, &err), 0);
	rest_send(HUB_T_ALL, NULL, HUB_DT_TEXT, "x2", flt, NULL, 0);
	filter_free(flt);
	ck_assert_int_eq(f1.nframes, 4);
	ck_assert_int_eq(f2.nframes, 4);
	ck_assert_int_eq(f3.nframes, 3);

	/* invalid bodies are refused before anything is sent */
	struct hub_msg m;
	char why[100];
	ck_assert_int_eq(proto_msg_from_body(&m, HUB_DT_JSON, "{bad", 4, why, sizeof(why)), -1);
	proto_msg_release(&m);
	ck_assert_int_eq(proto_msg_from_body(&m, HUB_DT_TEXT, "\xc3\x28", 2, why, sizeof(why)), -1);
	proto_msg_release(&m);
}
END_TEST

START_TEST(close_by_service)
{
	struct hub_conn *a = fake_conn(h, &f1, "A", "alice", HUB_PROTO_JSON, NULL, 0, NULL, 0);
	fake_conn(h, &f2, "B", "alice", HUB_PROTO_SIMPLE, NULL, 0, NULL, 0);
	fake_conn(h, &f3, "C", "carol", HUB_PROTO_SIMPLE, NULL, 0, NULL, 0);
	proto_connected(a);
	ck_assert_str_eq(
	        f1.frames[0],
	        "{\"type\":\"system\",\"event\":\"connected\",\"connectionId\":\"A\",\"userId\":\"alice\"}");
	struct hub_sel sel = { .kind = HUB_T_USER, .id = "alice" };
	ck_assert_uint_eq(hub_close(h, &sel, "bye now"), 2);
	ck_assert_str_eq(f1.frames[1],
	                 "{\"type\":\"system\",\"event\":\"disconnected\",\"message\":\"bye now\"}");
	ck_assert_int_eq(f1.closed, 1);
	ck_assert_int_eq(f1.code, 1000);
	ck_assert_str_eq(f1.reason, "bye now");
	ck_assert_int_eq(f2.nframes, 0); /* simple clients get no system messages */
	ck_assert_int_eq(f2.closed, 1);
	ck_assert_int_eq(f3.closed, 0);
	ck_assert_ptr_null(hub_conn_find(h, "A"));
	ck_assert_ptr_null(hub_conn_find(h, "B"));
	ck_assert_uint_eq(h->nconns, 1);
	ck_assert_int_eq(hub_user_exists(h, "alice"), 0);
	/* all but excluded */
	fake_conn(h, &f1, "D", NULL, HUB_PROTO_SIMPLE, NULL, 0, NULL, 0);
	char ex[] = "C";
	char *excl[] = { ex };
	struct hub_sel all = { .kind = HUB_T_ALL, .excluded = excl, .nexcluded = 1 };
	ck_assert_uint_eq(hub_close(h, &all, ""), 1);
	ck_assert_ptr_nonnull(hub_conn_find(h, "C"));
}
END_TEST

START_TEST(permissions)
{
	static const char *const roles[] = { "webpubsub.sendToGroup.g1", "webpubsub.joinLeaveGroup",
		                             "other.role", "webpubsub.sendToGroupX" };
	struct hub_conn *a = fake_conn(h, &f1, "A", NULL, HUB_PROTO_JSON, roles, 4, NULL, 0);
	struct hub_conn *b = fake_conn(h, &f2, "B", NULL, HUB_PROTO_JSON, NULL, 0, NULL, 0);
	enum hub_perm_kind k;
	ck_assert_int_eq(hub_perm_parse("sendToGroup", &k), 0);
	ck_assert_int_eq(k, HUB_PERM_SEND_TO_GROUP);
	ck_assert_int_eq(hub_perm_parse("joinLeaveGroup", &k), 0);
	ck_assert_int_eq(k, HUB_PERM_JOIN_LEAVE_GROUP);
	ck_assert_int_eq(hub_perm_parse("sendtogroup", &k), -1);

	ck_assert_int_eq(hub_perm_check(a, HUB_PERM_SEND_TO_GROUP, "g1"), 1);
	ck_assert_int_eq(hub_perm_check(a, HUB_PERM_SEND_TO_GROUP, "g2"), 0);
	ck_assert_int_eq(hub_perm_check(a, HUB_PERM_SEND_TO_GROUP, NULL), 0);
	ck_assert_int_eq(hub_perm_check(a, HUB_PERM_JOIN_LEAVE_GROUP, "any"), 1);
	ck_assert_int_eq(hub_perm_check(a, HUB_PERM_JOIN_LEAVE_GROUP, NULL), 1);
	ck_assert_int_eq(hub_perm_check(b, HUB_PERM_JOIN_LEAVE_GROUP, "g"), 0);

	ck_assert_int_eq(hub_perm_grant(b, HUB_PERM_JOIN_LEAVE_GROUP, "g"), 0);
	ck_assert_int_eq(hub_perm_grant(b, HUB_PERM_JOIN_LEAVE_GROUP, "g"), 0);
	ck_assert_uint_eq(b->ngrants, 1);
	ck_assert_int_eq(hub_perm_check(b, HUB_PERM_JOIN_LEAVE_GROUP, "g"), 1);
	ck_assert_int_eq(hub_perm_check(b, HUB_PERM_JOIN_LEAVE_GROUP, "h"), 0);
	ck_assert_int_eq(hub_perm_check(b, HUB_PERM_SEND_TO_GROUP, "g"), 0);
	ck_assert_int_eq(hub_perm_grant(b, HUB_PERM_SEND_TO_GROUP, NULL), 0);
	ck_assert_int_eq(hub_perm_check(b, HUB_PERM_SEND_TO_GROUP, "zz"), 1);
	hub_perm_revoke(b, HUB_PERM_JOIN_LEAVE_GROUP, "g");
	ck_assert_int_eq(hub_perm_check(b, HUB_PERM_JOIN_LEAVE_GROUP, "g"), 0);
	hub_perm_revoke(b, HUB_PERM_SEND_TO_GROUP, NULL);
	ck_assert_int_eq(hub_perm_check(b, HUB_PERM_SEND_TO_GROUP, "zz"), 0);
	ck_assert_uint_eq(b->ngrants, 0);
	/* revoking never takes away a role from the token */
	hub_perm_revoke(a, HUB_PERM_JOIN_LEAVE_GROUP, NULL);
	ck_assert_int_eq(hub_perm_check(a, HUB_PERM_JOIN_LEAVE_GROUP, "any"), 1);
}
END_TEST

START_TEST(client_protocol)
{
	struct hub_conn *a = fake_conn(h, &f1, "A", "alice", HUB_PROTO_JSON, NULL, 0, NULL, 0);
	struct hub_conn *b = fake_conn(h, &f2, "B", "bob", HUB_PROTO_JSON, NULL, 0, NULL, 0);

	client(a, "{\"type\":\"joinGroup\",\"group\":\"g\",\"ackId\":1}");
	ck_assert_str_eq(f1.frames[0],
	                 "{\"type\":\"ack\",\"ackId\":1,\"success\":false,\"error\":{\"name\":\"Forbidden\","
	                 "\"message\":\"No permission to join or leave the group.\"}}");
	ck_assert_int_eq(hub_conn_in_group(a, "g"), 0);
	client(a, "{\"type\":\"joinGroup\",\"group\":\"g\",\"ackId\":1}");
	ck_assert_str_eq(f1.frames[1], "{\"type\":\"ack\",\"ackId\":1,\"success\":false,\"error\":{\"name\":"
	                               "\"Duplicate\",\"message\":\"The ackId has been used before.\"}}");

	/* a permission granted at run time applies at once */
	ck_assert_int_eq(hub_perm_grant(a, HUB_PERM_JOIN_LEAVE_GROUP, "g"), 0);
	client(a, "{\"type\":\"joinGroup\",\"group\":\"g\",\"ackId\":2}");
	ck_assert_str_eq(f1.frames[2], "{\"type\":\"ack\",\"ackId\":2,\"success\":true}");
	ck_assert_int_eq(hub_conn_in_group(a, "g"), 1);
	ck_assert_int_eq(hub_conn_join(b, "g"), 0);

	/* sendToGroup needs its own permission */
	client(a, "{\"type\":\"sendToGroup\",\"group\":\"g\",\"ackId\":3,\"dataType\":\"text\",\"data\":"
	          "\"hi\"}");
	ck_assert_str_eq(f1.frames[3], "{\"type\":\"ack\",\"ackId\":3,\"success\":false,\"error\":{\"name\":"
	                               "\"Forbidden\",\"message\":\"No permission to send to the group.\"}}");
	ck_assert_int_eq(f2.nframes, 0);
	ck_assert_int_eq(hub_perm_grant(a, HUB_PERM_SEND_TO_GROUP, NULL), 0);
	client(a, "{\"type\":\"sendToGroup\",\"group\":\"g\",\"ackId\":4,\"dataType\":\"json\",\"data\":{"
	          "\"k\":true}}");
	ck_assert_int_eq(f1.nframes, 6); /* echo, then the ack */
	ck_assert_str_eq(f1.frames[4],
	                 "{\"type\":\"message\",\"from\":\"group\",\"group\":\"g\",\"dataType\":\"json\","
	                 "\"data\":{\"k\":true},\"fromUserId\":\"alice\"}");
	ck_assert_str_eq(f1.frames[5], "{\"type\":\"ack\",\"ackId\":4,\"success\":true}");
	ck_assert_str_eq(f2.frames[0], f1.frames[4]);
	client(a, "{\"type\":\"sendToGroup\",\"group\":\"g\",\"noEcho\":true,\"dataType\":\"binary\","
	          "\"data\":\"AAE=\"}");
	ck_assert_int_eq(f1.nframes, 6); /* noEcho and no ackId: nothing back */
	ck_assert_str_eq(f2.frames[1], "{\"type\":\"message\",\"from\":\"group\",\"group\":\"g\","
	                               "\"dataType\":\"binary\",\"data\":\"AAE=\",\"fromUserId\":\"alice\"}");
	client(a, "{\"type\":\"sendToGroup\",\"group\":\"g\",\"ackId\":5,\"dataType\":\"binary\",\"data\":\"!"
	          "!\"}");
	ck_assert_str_eq(
	        f1.frames[6],
	        "{\"type\":\"ack\",\"ackId\":5,\"success\":false,\"error\":{\"name\":\"InvalidMessage\","
	        "\"message\":\"dataType and data do not form a valid message.\"}}");

	/* events are acknowledged (no upstream handler), ping gets pong, junk is ignored */
	client(a, "{\"type\":\"event\",\"event\":\"e\",\"ackId\":6,\"dataType\":\"text\",\"data\":\"x\"}");
	ck_assert_str_eq(f1.frames[7], "{\"type\":\"ack\",\"ackId\":6,\"success\":true}");
	client(a, "{\"type\":\"ping\"}");
	ck_assert_str_eq(f1.frames[8], "{\"type\":\"pong\"}");
	client(a, "not json");
	client(a, "[1]");
	client(a, "{\"type\":\"sequenceAck\",\"sequenceId\":3}");
	client(a, "{\"type\":\"whatever\",\"ackId\":9}");
	ck_assert_int_eq(f1.nframes, 9);

	/* leaveGroup */
	client(a, "{\"type\":\"leaveGroup\",\"group\":\"g\",\"ackId\":7}");
	ck_assert_str_eq(f1.frames[9], "{\"type\":\"ack\",\"ackId\":7,\"success\":true}");
	ck_assert_int_eq(hub_conn_in_group(a, "g"), 0);
	/* a simple client's messages go nowhere */
	struct hub_conn *s = fake_conn(h, &f3, "S", NULL, HUB_PROTO_SIMPLE, NULL, 0, NULL, 0);
	client(s, "{\"type\":\"ping\"}");
	ck_assert_int_eq(f3.nframes, 0);
}
END_TEST

START_TEST(choose_subprotocol)
{
	enum hub_proto p;
	const char *name;
	ck_assert_int_eq(proto_choose(NULL, &p, &name), 0);
	ck_assert_int_eq(p, HUB_PROTO_SIMPLE);
	ck_assert_ptr_null(name);
	ck_assert_int_eq(proto_choose("json.webpubsub.azure.v1", &p, &name), 0);
	ck_assert_int_eq(p, HUB_PROTO_JSON);
	ck_assert_str_eq(name, "json.webpubsub.azure.v1");
	ck_assert_int_eq(proto_choose("foo, json.reliable.webpubsub.azure.v1", &p, &name), 0);
	ck_assert_int_eq(p, HUB_PROTO_RELIABLE);
	ck_assert_int_eq(proto_choose("protobuf.webpubsub.azure.v1", &p, &name), -1);
	enum hub_dtype dt;
	ck_assert_int_eq(proto_dtype_from_content_type("text/plain; charset=utf-8", &dt), 0);
	ck_assert_int_eq(dt, HUB_DT_TEXT);
	ck_assert_int_eq(proto_dtype_from_content_type("Application/JSON", &dt), 0);
	ck_assert_int_eq(dt, HUB_DT_JSON);
	ck_assert_int_eq(proto_dtype_from_content_type("application/octet-stream", &dt), 0);
	ck_assert_int_eq(dt, HUB_DT_BINARY);
	ck_assert_int_eq(proto_dtype_from_content_type("application/xml", &dt), -1);
}
END_TEST

START_TEST(ack_ring_bounded)
{
	struct hub_conn *a = fake_conn(h, &f1, "A", NULL, HUB_PROTO_JSON, NULL, 0, NULL, 0);
	for (uint64_t i = 0; i < 3000; i++)
		ck_assert_int_eq(hub_conn_ack_seen(a, i), 0);
	ck_assert_int_eq(hub_conn_ack_seen(a, 2999), 1);
	ck_assert_int_eq(hub_conn_ack_seen(a, 0), 0); /* forgotten: the ring keeps the newest */
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("emu_hub");
	TCase *tc = tcase_create("hub");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, state_transitions);
	tcase_add_test(tc, targets_and_formats);
	tcase_add_test(tc, close_by_service);
	tcase_add_test(tc, permissions);
	tcase_add_test(tc, client_protocol);
	tcase_add_test(tc, choose_subprotocol);
	tcase_add_test(tc, ack_ring_bounded);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(suite());
}
