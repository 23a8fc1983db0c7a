/* check_emu_mqtt.c: unit tests of the emulator's MQTT clients: the packet codec (mqtt_codec.c) and
 * the session (mqtt.c) over a recording transport, with a JSON client beside it in the hub. */
#include <config.h>

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_emu_fake.h"
#include "emulator/emu.h"
#include "emulator/mqtt.h"
#include "emulator/mqtt_codec.h"
#include "emulator/proto.h"
#include "check_main.h"

/* ---- the codec ---- */

static const uint8_t CONNECT_V5[] = { 0x10, 0x0F, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x02, 0, 60, 0, 0, 2, 'c', '1' };
static const uint8_t CONNECT_V3[] = { 0x10, 0x0E, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60, 0, 2, 'c', '3' };
static const uint8_t SUB_V5[] = { 0x82, 0x07, 0, 1, 0, 0, 1, 'g', 1 };
static const uint8_t SUB_V3[] = { 0x82, 0x06, 0, 1, 0, 1, 'g', 1 };

START_TEST(test_frame)
{
	size_t total = 0;
	static const uint8_t p1[] = { 0x30 };
	static const uint8_t p2[] = { 0x30, 0x80, 0x80 };
	static const uint8_t p3[] = { 0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01 };
	static const uint8_t p4[] = { 0x30, 0xC1, 0x02 }; /* 321 */
	ck_assert_int_eq(mqtt_frame(p1, sizeof p1, 100, &total), 0);
	ck_assert_int_eq(mqtt_frame(p2, sizeof p2, 100, &total), 0);
	ck_assert_int_eq(mqtt_frame(p3, sizeof p3, 1u << 30, &total), -1);
	ck_assert_int_eq(mqtt_frame(p4, sizeof p4, 1000, &total), 1);
	ck_assert_uint_eq(total, 3 + 321);
	ck_assert_int_eq(mqtt_frame(p4, sizeof p4, 323, &total), -2);
	ck_assert_int_eq(mqtt_frame(CONNECT_V5, sizeof CONNECT_V5, 100, &total), 1);
	ck_assert_uint_eq(total, sizeof CONNECT_V5);
}
END_TEST

START_TEST(test_decode_connect)
{
	struct mqtt_pkt p;
	ck_assert_int_eq(mqtt_decode(CONNECT_V5, sizeof CONNECT_V5, 0, &p), 0);
	ck_assert_int_eq(p.type, MQTT_CONNECT);
	ck_assert_int_eq(p.version, MQTT_V5);
	ck_assert_int_eq(p.clean, 1);
	ck_assert_int_eq(p.keepalive, 60);
	ck_assert_uint_eq(p.client_id.len, 2);
	ck_assert_int_eq(memcmp(p.client_id.p, "c1", 2), 0);
	ck_assert_int_eq(mqtt_decode(CONNECT_V3, sizeof CONNECT_V3, 0, &p), 0);
	ck_assert_int_eq(p.version, MQTT_V311);

	/* user name, password, will (3.1.1) */
	static const uint8_t full[] = { 0x10, 31, 0, 4, 'M', 'Q', 'T', 'T', 4, 0xC6, 0, 10, 0, 1, 'x', 0, 2, 'w', 't',
		                        0, 2, 'w', 'p', 0, 3, 'b', 'o', 'b', 0, 3, 1, 2, 3 };
	ck_assert_int_eq(mqtt_decode(full, sizeof full, 0, &p), 0);
	ck_assert(p.has_user && p.has_pass && p.will);
	ck_assert_int_eq(memcmp(p.username.p, "bob", 3), 0);
	ck_assert_uint_eq(p.password.len, 3);
	ck_assert_uint_eq(p.will_topic.len, 2);

	uint8_t b[sizeof CONNECT_V5];
	memcpy(b, CONNECT_V5, sizeof b);
	b[8] = 3; /* level 3 */
	ck_assert_int_eq(mqtt_decode(b, sizeof b, 0, &p), MQTT_RC_BAD_VERSION);
	memcpy(b, CONNECT_V5, sizeof b);
	b[9] = 0x03; /* reserved flag */
	ck_assert_int_eq(mqtt_decode(b, sizeof b, 0, &p), MQTT_RC_MALFORMED);
	memcpy(b, CONNECT_V5, sizeof b);
	b[14] = 9; /* the client id runs past the end */
	ck_assert_int_eq(mqtt_decode(b, sizeof b, 0, &p), MQTT_RC_MALFORMED);
	memcpy(b, CONNECT_V5, sizeof b);
	b[0] = 0x11; /* flags on CONNECT */
	ck_assert_int_eq(mqtt_decode(b, sizeof b, 0, &p), MQTT_RC_MALFORMED);
	static const uint8_t v31[] = { 0x10, 0x10, 0, 6, 'M', 'Q', 'I', 's', 'd', 'p', 3, 0x02, 0, 60, 0, 2, 'c', '1' };
	ck_assert_int_eq(mqtt_decode(v31, sizeof v31, 0, &p), MQTT_RC_BAD_VERSION);
	/* before the CONNECT only a CONNECT; after it, no second one */
	ck_assert_int_eq(mqtt_decode(SUB_V5, sizeof SUB_V5, 0, &p), MQTT_RC_PROTOCOL_ERROR);
	ck_assert_int_eq(mqtt_decode(CONNECT_V5, sizeof CONNECT_V5, MQTT_V5, &p), MQTT_RC_PROTOCOL_ERROR);
	/* a NUL inside a string */
	memcpy(b, CONNECT_V5, sizeof b);
	b[16] = 0;
	ck_assert_int_eq(mqtt_decode(b, sizeof b, 0, &p), MQTT_RC_MALFORMED);
}
END_TEST

START_TEST(test_publish_roundtrip)
{
	struct buf b;
	struct mqtt_props pr;
	struct mqtt_pkt p;

	buf_init(&b, 0);
	memset(&pr, 0, sizeof pr);
	pr.content_type = (struct mqtt_str){ "text/plain", 10 };
	pr.correlation = (struct mqtt_str){ "c\0d", 3 };
	pr.user[0].name = (struct mqtt_str){ "k", 1 };
	pr.user[0].value = (struct mqtt_str){ "v", 1 };
	pr.nuser = 1;
	ck_assert_int_eq(mqtt_enc_publish(&b, MQTT_V5, "room", 4, 1, 7, &pr, "hi", 2), 0);
	ck_assert_int_eq(mqtt_decode((uint8_t *)b.data, b.len, MQTT_V5, &p), 0);
	ck_assert_int_eq(p.type, MQTT_PUBLISH);
	ck_assert_int_eq(p.qos, 1);
	ck_assert_int_eq(p.id, 7);
	ck_assert_int_eq(memcmp(p.topic.p, "room", 4), 0);
	ck_assert_uint_eq(p.payload.len, 2);
	ck_assert_uint_eq(p.props.content_type.len, 10);
	ck_assert_uint_eq(p.props.correlation.len, 3);
	ck_assert_uint_eq(p.props.nuser, 1);
	/* 3.1.1 has no properties */
	buf_reset(&b);
	ck_assert_int_eq(mqtt_enc_publish(&b, MQTT_V311, "t", 1, 0, 0, &pr, "x", 1), 0);
	ck_assert_uint_eq(b.len, 6);
	ck_assert_int_eq(mqtt_decode((uint8_t *)b.data, b.len, MQTT_V311, &p), 0);
	ck_assert_int_eq(p.payload.p[0], 'x');
	/* QoS 3, QoS 1 with id 0, DUP on QoS 0 */
	static const uint8_t q3[] = { 0x36, 3, 0, 1, 't' };
	static const uint8_t id0[] = { 0x32, 5, 0, 1, 't', 0, 0 };
	static const uint8_t dup0[] = { 0x38, 3, 0, 1, 't' };
	ck_assert_int_eq(mqtt_decode(q3, sizeof q3, MQTT_V311, &p), MQTT_RC_MALFORMED);
	ck_assert_int_eq(mqtt_decode(id0, sizeof id0, MQTT_V311, &p), MQTT_RC_PROTOCOL_ERROR);
	ck_assert_int_eq(mqtt_decode(dup0, sizeof dup0, MQTT_V311, &p), MQTT_RC_MALFORMED);
	/* an unknown property, a property length past the end */
	static const uint8_t badprop[] = { 0x30, 6, 0, 1, 't', 1, 0x7F, 0 };
	static const uint8_t longprop[] = { 0x30, 5, 0, 1, 't', 9, 0 };
	ck_assert_int_eq(mqtt_decode(badprop, sizeof badprop, MQTT_V5, &p), MQTT_RC_MALFORMED);
	ck_assert_int_eq(mqtt_decode(longprop, sizeof longprop, MQTT_V5, &p), MQTT_RC_MALFORMED);
	buf_free(&b);
}
END_TEST

START_TEST(test_subscribe_and_acks)
{
	struct mqtt_pkt p;
	struct buf b;

	ck_assert_int_eq(mqtt_decode(SUB_V5, sizeof SUB_V5, MQTT_V5, &p), 0);
	ck_assert_uint_eq(p.ntopics, 1);
	ck_assert_int_eq(p.topics[0].options, 1);
	ck_assert_int_eq(mqtt_decode(SUB_V3, sizeof SUB_V3, MQTT_V311, &p), 0);
	uint8_t bad[sizeof SUB_V3];
	memcpy(bad, SUB_V3, sizeof bad);
	bad[0] = 0x80; /* SUBSCRIBE flags must be 0010 */
	ck_assert_int_eq(mqtt_decode(bad, sizeof bad, MQTT_V311, &p), MQTT_RC_MALFORMED);
	static const uint8_t none[] = { 0x82, 2, 0, 1 };
	ck_assert_int_eq(mqtt_decode(none, sizeof none, MQTT_V311, &p), MQTT_RC_PROTOCOL_ERROR);
	/* more filters than MQTT_TOPICS_MAX */
	uint8_t many[3 + 2 + 4 * (MQTT_TOPICS_MAX + 1)];
	size_t n = 0, rl = 2 + 4 * (MQTT_TOPICS_MAX + 1);
	many[n++] = 0x82;
	many[n++] = (uint8_t)(0x80 | (rl & 0x7F));
	many[n++] = (uint8_t)(rl >> 7);
	many[n++] = 0;
	many[n++] = 1;
	for (int i = 0; i <= MQTT_TOPICS_MAX; i++) {
		many[n++] = 0;
		many[n++] = 1;
		many[n++] = 'a';
		many[n++] = 0;
	}
	ck_assert_int_eq(mqtt_decode(many, n, MQTT_V311, &p), MQTT_RC_QUOTA_EXCEEDED);

	buf_init(&b, 0);
	uint8_t codes[2] = { 1, 0x87 };
	ck_assert_int_eq(mqtt_enc_suback(&b, MQTT_V5, MQTT_SUBACK, 9, codes, 2), 0);
	static const uint8_t want5[] = { 0x90, 5, 0, 9, 0, 1, 0x87 };
	ck_assert_uint_eq(b.len, sizeof want5);
	ck_assert_int_eq(memcmp(b.data, want5, b.len), 0);
	buf_reset(&b);
	ck_assert_int_eq(mqtt_enc_suback(&b, MQTT_V311, MQTT_UNSUBACK, 9, codes, 2), 0);
	static const uint8_t want3[] = { 0xB0, 2, 0, 9 };
	ck_assert_int_eq(memcmp(b.data, want3, b.len), 0);
	buf_reset(&b);
	ck_assert_int_eq(mqtt_enc_connack(&b, MQTT_V311, 1, MQTT3_RC_NOT_AUTHORIZED, NULL), 0);
	static const uint8_t ca3[] = { 0x20, 2, 0, 5 }; /* session present only on success */
	ck_assert_int_eq(memcmp(b.data, ca3, b.len), 0);
	buf_reset(&b);
	ck_assert_int_eq(mqtt_enc_disconnect(&b, MQTT_V311, 0x95, "x"), 0);
	ck_assert_uint_eq(b.len, 0); /* nothing in 3.1.1 */
	ck_assert_int_eq(mqtt_enc_disconnect(&b, MQTT_V5, 0x95, NULL), 0);
	static const uint8_t d5[] = { 0xE0, 2, 0x95, 0 };
	ck_assert_int_eq(memcmp(b.data, d5, b.len), 0);
	buf_reset(&b);
	ck_assert_int_eq(mqtt_enc_ack(&b, MQTT_V5, MQTT_PUBACK, 3, 0x87), 0);
	static const uint8_t pa[] = { 0x40, 3, 0, 3, 0x87 };
	ck_assert_int_eq(memcmp(b.data, pa, b.len), 0);
	ck_assert_int_eq(mqtt_connack_v3_code(MQTT_RC_BAD_CLIENT_ID), MQTT3_RC_BAD_CLIENT_ID);
	buf_free(&b);
}
END_TEST

/* ---- the session ---- */

static struct emu e;
static struct fake fm, fj;
static char key[] = "k";

static int io_send(void *t, const void *d, size_t n)
{
	return fake_send(t, 1, d, n);
}

static const struct mqtt_io io = { io_send, fake_close };

static void setup(void)
{
	memset(&e, 0, sizeof e);
	e.key = key;
	e.keylen = 1;
	e.max_mqtt_packet = 256;
	e.state = hub_state_new(&fake_ops);
	memset(&fm, 0, sizeof fm);
	memset(&fj, 0, sizeof fj);
}

static void teardown(void)
{
	hub_state_free(e.state);
	fake_reset(&fm);
	fake_reset(&fj);
}

static struct mqtt_sess *sess(int ok, const char *role)
{
	struct auth_client a;
	memset(&a, 0, sizeof a);
	a.user = strdup("u1");
	if (role) {
		a.roles = calloc(1, sizeof(char *));
		a.roles[0] = strdup(role);
		a.nroles = 1;
	}
	struct mqtt_sess *s = mqtt_sess_new(&e, "chat", &a, ok, ok ? NULL : "The token is expired", NULL, &io, &fm);
	ck_assert_ptr_nonnull(s);
	auth_client_release(&a);
	return s;
}

START_TEST(test_connect_ok)
{
	struct mqtt_sess *s = sess(1, NULL);
	/* one byte at a time: packets may span WebSocket messages */
	for (size_t i = 0; i < sizeof CONNECT_V5; i++)
		ck_assert_int_eq(mqtt_on_bytes(s, CONNECT_V5 + i, 1), 0);
	ck_assert_int_eq(fm.nframes, 1);
	ck_assert_int_eq((uint8_t)fm.frames[0][0], 0x20);
	ck_assert_int_eq((uint8_t)fm.frames[0][3], 0); /* success */
	struct hub *h = hub_get(e.state, "chat", 0);
	struct hub_conn *c = hub_conn_find(h, "c1");
	ck_assert_ptr_nonnull(c);
	ck_assert(mqtt_conn_is(c));
	ck_assert_int_eq(mqtt_conn_version(c), 5);
	ck_assert_str_eq(mqtt_conn_client_id(c), "c1");
	ck_assert_str_eq(c->user, "u1");
	/* PINGREQ */
	static const uint8_t ping[] = { 0xC0, 0 };
	ck_assert_int_eq(mqtt_on_bytes(s, ping, 2), 0);
	ck_assert_int_eq((uint8_t)fm.frames[1][0], 0xD0);
	/* the service closes it: DISCONNECT administrative action */
	hub_conn_close(c, "bye");
	ck_assert_int_eq((uint8_t)fm.frames[2][0], 0xE0);
	ck_assert_int_eq((uint8_t)fm.frames[2][2], MQTT_RC_ADMIN_ACTION);
	ck_assert_int_eq(fm.closed, 1);
	ck_assert_ptr_null(hub_conn_find(h, "c1"));
	mqtt_sess_free(s);
}
END_TEST

START_TEST(test_connect_refused)
{
	struct mqtt_sess *s = sess(0, NULL);
	ck_assert_int_eq(mqtt_on_bytes(s, CONNECT_V5, sizeof CONNECT_V5), -1);
	ck_assert_int_eq((uint8_t)fm.frames[0][0], 0x20);
	ck_assert_int_eq((uint8_t)fm.frames[0][3], MQTT_RC_NOT_AUTHORIZED);
	ck_assert_ptr_nonnull(memmem(fm.frames[0], fm.lens[0], "expired", 7)); /* the reason string */
	ck_assert_int_eq(fm.closed, 1);
	ck_assert_ptr_null(hub_get(e.state, "chat", 0));
	mqtt_sess_free(s);
	fake_reset(&fm);

	s = sess(0, NULL);
	ck_assert_int_eq(mqtt_on_bytes(s, CONNECT_V3, sizeof CONNECT_V3), -1);
	ck_assert_int_eq(fm.lens[0], 4);
	ck_assert_int_eq((uint8_t)fm.frames[0][3], MQTT3_RC_NOT_AUTHORIZED);
	mqtt_sess_free(s);
	fake_reset(&fm);

	/* a client id outside [0-9a-zA-Z] */
	uint8_t b[sizeof CONNECT_V3];
	memcpy(b, CONNECT_V3, sizeof b);
	b[15] = '_';
	s = sess(1, NULL);
	ck_assert_int_eq(mqtt_on_bytes(s, b, sizeof b), -1);
	ck_assert_int_eq((uint8_t)fm.frames[0][3], MQTT3_RC_BAD_CLIENT_ID);
	mqtt_sess_free(s);
	fake_reset(&fm);

	/* not a CONNECT first: closed without an answer */
	s = sess(1, NULL);
	ck_assert_int_eq(mqtt_on_bytes(s, SUB_V3, sizeof SUB_V3), -1);
	ck_assert_int_eq(fm.nframes, 0);
	ck_assert_int_eq(fm.closed, 1);
	mqtt_sess_free(s);
}
END_TEST

START_TEST(test_roles_and_groups)
{
	struct mqtt_sess *s = sess(1, NULL);
	ck_assert_int_eq(mqtt_on_bytes(s, CONNECT_V5, sizeof CONNECT_V5), 0);
	ck_assert_int_eq(mqtt_on_bytes(s, SUB_V5, sizeof SUB_V5), 0);
	ck_assert_int_eq((uint8_t)fm.frames[1][0], 0x90);
	ck_assert_int_eq((uint8_t)fm.frames[1][5], MQTT_RC_NOT_AUTHORIZED);
	mqtt_sess_free(s);
	ck_assert_ptr_null(hub_conn_find(hub_get(e.state, "chat", 0), "c1"));
	fake_reset(&fm);

	s = sess(1, "webpubsub.joinLeaveGroup");
	ck_assert_int_eq(mqtt_on_bytes(s, CONNECT_V3, sizeof CONNECT_V3), 0);
	ck_assert_int_eq(mqtt_on_bytes(s, SUB_V3, sizeof SUB_V3), 0);
	ck_assert_int_eq((uint8_t)fm.frames[1][0], 0x90);
	ck_assert_int_eq((uint8_t)fm.frames[1][4], 1); /* granted QoS 1 */
	struct hub *h = hub_get(e.state, "chat", 0);
	struct hub_conn *c = hub_conn_find(h, "c3");
	ck_assert(hub_conn_in_group(c, "g"));

	/* a JSON client in g gets the MQTT publish (binary: 3.1.1 has no content type) ... */
	const char *roles[] = { "webpubsub.sendToGroup" };
	const char *groups[] = { "g" };
	struct hub_conn *jc = fake_conn(h, &fj, "json1", NULL, HUB_PROTO_JSON, roles, 1, groups, 1);
	ck_assert_ptr_nonnull(jc);
	struct buf b;
	buf_init(&b, 0);
	ck_assert_int_eq(mqtt_enc_publish(&b, MQTT_V311, "g", 1, 1, 5, NULL, "hey", 3), 0);
	ck_assert_int_eq(mqtt_on_bytes(s, (uint8_t *)b.data, b.len), 0);
	/* ... but c3 may not send: PUBACK (3.1.1: no reason code), nothing delivered */
	ck_assert_int_eq(fj.nframes, 0);
	ck_assert_int_eq((uint8_t)fm.frames[fm.nframes - 1][0], 0x40);
	hub_perm_grant(c, HUB_PERM_SEND_TO_GROUP, "g");
	ck_assert_int_eq(mqtt_on_bytes(s, (uint8_t *)b.data, b.len), 0);
	ck_assert_int_eq(fj.nframes, 1);
	ck_assert_ptr_nonnull(strstr(fj.frames[0], "\"dataType\":\"binary\""));
	ck_assert_ptr_nonnull(strstr(fj.frames[0], "\"data\":\"aGV5\""));
	ck_assert_ptr_nonnull(strstr(fj.frames[0], "\"fromUserId\":\"u1\""));

	/* a group message to the MQTT client: PUBLISH on topic g with the granted QoS */
	int before = fm.nframes;
	struct hub_msg m;
	char err[64];
	ck_assert_int_eq(proto_msg_from_body(&m, HUB_DT_TEXT, "hi", 2, err, sizeof err), 0);
	struct hub_sel sel = { .kind = HUB_T_GROUP, .id = "g" };
	hub_send(h, &sel, &m);
	struct hub_sel all = { .kind = HUB_T_ALL };
	m.group = NULL;
	hub_send(h, &all, &m);
	proto_msg_release(&m);
	ck_assert_int_eq(fm.nframes, before + 2);
	static const uint8_t want_g[] = { 0x32, 7, 0, 1, 'g' }; /* QoS 1 as granted, then id, "hi" */
	ck_assert_int_eq(memcmp(fm.frames[before], want_g, sizeof want_g), 0);
	ck_assert_int_eq(memcmp(fm.frames[before] + 7, "hi", 2), 0);
	ck_assert_int_eq((uint8_t)fm.frames[before + 1][0], 0x32); /* $webpubsub/server/messages, QoS 1 */
	ck_assert_ptr_nonnull(memmem(fm.frames[before + 1], fm.lens[before + 1], MQTT_SERVER_MESSAGES,
	                             strlen(MQTT_SERVER_MESSAGES)));
	buf_free(&b);
	mqtt_sess_free(s);
}
END_TEST

START_TEST(test_limits)
{
	struct mqtt_sess *s = sess(1, "webpubsub.sendToGroup");
	ck_assert_int_eq(mqtt_on_bytes(s, CONNECT_V5, sizeof CONNECT_V5), 0);
	/* the CONNACK says the limit */
	ck_assert_ptr_nonnull(memmem(fm.frames[0], fm.lens[0], "\x27\x00\x00\x01\x00", 5));
	/* many small packets in one message, more bytes than the packet limit: all taken */
	uint8_t pings[2 * 200];
	for (size_t i = 0; i < sizeof pings; i += 2)
		pings[i] = 0xC0, pings[i + 1] = 0;
	ck_assert_int_eq(mqtt_on_bytes(s, pings, sizeof pings), 0);
	ck_assert_int_eq(fm.closed, 0);
	ck_assert_int_eq(fm.nframes, FAKE_FRAMES_MAX); /* 1 CONNACK + PINGRESPs up to what the fake keeps */
	for (int i = 1; i < fm.nframes; i++)
		free(fm.frames[i]);
	fm.nframes = 1;
	/* a header announcing 300 bytes (limit 256): refused before the body comes */
	static const uint8_t big[] = { 0x30, 0xAC, 0x02, 0, 1, 'g' };
	ck_assert_int_eq(mqtt_on_bytes(s, big, sizeof big), -1);
	ck_assert_int_eq((uint8_t)fm.frames[1][0], 0xE0);
	ck_assert_int_eq((uint8_t)fm.frames[1][2], MQTT_RC_PACKET_TOO_LARGE);
	ck_assert_int_eq(fm.closed, 1);
	ck_assert_ptr_null(hub_conn_find(hub_get(e.state, "chat", 0), "c1"));
	mqtt_sess_free(s);
	fake_reset(&fm);

	/* keep-alive 60 s: nothing for 90 s closes with 0x8D */
	s = sess(1, NULL);
	ck_assert_int_eq(mqtt_on_bytes(s, CONNECT_V5, sizeof CONNECT_V5), 0);
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	uint64_t now = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
	ck_assert_int_gt(mqtt_tick(s, now), 80000);
	ck_assert_int_eq(mqtt_tick(s, now + 91000), -1);
	ck_assert_int_eq((uint8_t)fm.frames[1][2], MQTT_RC_KEEPALIVE_TIMEOUT);
	ck_assert_int_eq(fm.closed, 1);
	mqtt_sess_free(s);
	fake_reset(&fm);

	/* a QoS 0 publish without permission closes (DISCONNECT 0x87) */
	s = sess(1, NULL);
	ck_assert_int_eq(mqtt_on_bytes(s, CONNECT_V5, sizeof CONNECT_V5), 0);
	static const uint8_t pub0[] = { 0x30, 5, 0, 1, 'g', 0, 'x' };
	ck_assert_int_eq(mqtt_on_bytes(s, pub0, sizeof pub0), -1);
	ck_assert_int_eq((uint8_t)fm.frames[1][2], MQTT_RC_NOT_AUTHORIZED);
	mqtt_sess_free(s);
	fake_reset(&fm);

	/* a wildcard topic name is a protocol violation */
	s = sess(1, "webpubsub.sendToGroup");
	ck_assert_int_eq(mqtt_on_bytes(s, CONNECT_V5, sizeof CONNECT_V5), 0);
	static const uint8_t pubw[] = { 0x30, 5, 0, 1, '#', 0, 'x' };
	ck_assert_int_eq(mqtt_on_bytes(s, pubw, sizeof pubw), -1);
	ck_assert_int_eq((uint8_t)fm.frames[1][2], MQTT_RC_TOPIC_NAME_BAD);
	mqtt_sess_free(s);
}
END_TEST

START_TEST(test_takeover)
{
	struct fake f2;
	memset(&f2, 0, sizeof f2);
	struct mqtt_sess *s1 = sess(1, NULL);
	ck_assert_int_eq(mqtt_on_bytes(s1, CONNECT_V5, sizeof CONNECT_V5), 0);
	struct auth_client a;
	memset(&a, 0, sizeof a);
	struct mqtt_sess *s2 = mqtt_sess_new(&e, "chat", &a, 1, NULL, NULL, &io, &f2);
	ck_assert_int_eq(mqtt_on_bytes(s2, CONNECT_V5, sizeof CONNECT_V5), 0);
	/* the first one got DISCONNECT "session taken over", the second one its CONNACK */
	ck_assert_int_eq((uint8_t)fm.frames[1][2], MQTT_RC_SESSION_TAKEN_OVER);
	ck_assert_int_eq(fm.closed, 1);
	ck_assert_int_eq((uint8_t)f2.frames[0][3], 0);
	struct hub_conn *c = hub_conn_find(hub_get(e.state, "chat", 0), "c1");
	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_eq(c->transport, &f2);
	mqtt_sess_free(s1);
	ck_assert_ptr_nonnull(hub_conn_find(hub_get(e.state, "chat", 0), "c1"));
	mqtt_sess_free(s2);
	fake_reset(&f2);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("emu_mqtt");
	TCase *tc = tcase_create("codec");
	tcase_add_test(tc, test_frame);
	tcase_add_test(tc, test_decode_connect);
	tcase_add_test(tc, test_publish_roundtrip);
	tcase_add_test(tc, test_subscribe_and_acks);
	suite_add_tcase(s, tc);
	tc = tcase_create("session");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_connect_ok);
	tcase_add_test(tc, test_connect_refused);
	tcase_add_test(tc, test_roles_and_groups);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_takeover);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(suite());
}
