/* proto.c: client protocol of the emulator: framing of messages per subprotocol and the handling
 * of joinGroup/leaveGroup/sendToGroup/event/ping/sequenceAck from JSON clients. */
#include <config.h>

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "utf8.h"
#include "b64.h"
#include "jwt.h"
#include "log.h"
#include "ops.h"
#include "pct.h"
#include "proto.h"
#include "insp.h"
#include "events.h"
#include "mqtt.h"

int proto_choose(const char *header, enum hub_proto *out, const char **name)
{
	*out = HUB_PROTO_SIMPLE;
	*name = NULL;
	if (!header)
		return 0;
	const char *p = header;
	int any = 0;
	while (*p) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		const char *start = p;
		while (*p && *p != ',' && *p != ' ' && *p != '\t')
			p++;
		size_t n = (size_t)(p - start);
		if (!n)
			continue;
		any = 1;
		if (n == strlen(PROTO_JSON_RELIABLE_V1) && strncmp(start, PROTO_JSON_RELIABLE_V1, n) == 0) {
			*out = HUB_PROTO_RELIABLE;
			*name = PROTO_JSON_RELIABLE_V1;
			return 0;
		}
		if (n == strlen(PROTO_JSON_V1) && strncmp(start, PROTO_JSON_V1, n) == 0) {
			*out = HUB_PROTO_JSON;
			*name = PROTO_JSON_V1;
			return 0;
		}
	}
	return any ? -1 : 0;
}

int proto_dtype_from_content_type(const char *ct, enum hub_dtype *out)
{
	static const struct {
		const char *type;
		enum hub_dtype dt;
	} map[] = {
		{ "text/plain", HUB_DT_TEXT },
		{ "application/json", HUB_DT_JSON },
		{ "application/octet-stream", HUB_DT_BINARY },
	};
	if (!ct)
		return -1;
	while (*ct == ' ')
		ct++;
	size_t n = strcspn(ct, ";");
	while (n && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
		n--;
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (strlen(map[i].type) == n && strncasecmp(ct, map[i].type, n) == 0) {
			*out = map[i].dt;
			return 0;
		}
	}
	return -1;
}

static const char *dtype_name(enum hub_dtype dt)
{
	switch (dt) {
	case HUB_DT_TEXT: return "text";
	case HUB_DT_JSON: return "json";
	case HUB_DT_BINARY: return "binary";
	}
	return "text";
}

int proto_msg_from_body(struct hub_msg *m, enum hub_dtype dtype, const char *body, size_t len, char *err,
                        size_t errlen)
{
	json_error_t je;

	memset(m, 0, sizeof(*m));
	m->dtype = dtype;
	m->raw = body ? body : "";
	m->rawlen = len;
	switch (dtype) {
	case HUB_DT_TEXT:
		if (!utf8_valid(m->raw, len)) {
			snprintf(err, errlen, "A text/plain message must be valid UTF-8");
			return -1;
		}
		m->data = json_stringn(m->raw, len);
		break;
	case HUB_DT_JSON:
		m->data = json_loadb(m->raw, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
		if (!m->data) {
			snprintf(err, errlen, "An application/json message must be valid JSON");
			return -1;
		}
		break;
	case HUB_DT_BINARY: {
		char *b = b64_encode(m->raw, len);
		if (b)
			m->data = json_string(b);
		free(b);
		break;
	}
	}
	if (!m->data) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

void proto_msg_release(struct hub_msg *m)
{
	if (!m)
		return;
	json_decref(m->data);
	free(m->owned_raw);
	memset(m, 0, sizeof(*m));
}

static void send_json(struct hub_conn *c, json_t *o)
{
	const struct hub_transport_ops *tops = c->hub->state->tops;
	char *s = json_dumps(o, JSON_COMPACT);
	if (s && tops && c->transport)
		(void)tops->send(c->transport, 0, s, strlen(s));
	free(s);
}

void proto_connected(struct hub_conn *c)
{
	if (c->proto == HUB_PROTO_SIMPLE || c->proto == HUB_PROTO_MQTT)
		return;
	json_t *o =
	        json_pack("{s:s, s:s, s:s}", "type", "system", "event", "connected", "connectionId", c->id);
	if (!o)
		return;
	if (c->user)
		json_object_set_new(o, "userId", json_string(c->user));
	send_json(c, o);
	json_decref(o);
}

void proto_disconnected(struct hub_conn *c, const char *reason)
{
	if (c->proto == HUB_PROTO_MQTT) {
		mqtt_disconnected(c, reason);
		return;
	}
	if (c->proto == HUB_PROTO_SIMPLE)
		return;
	json_t *o = json_pack("{s:s, s:s, s:s}", "type", "system", "event", "disconnected", "message",
	                      reason ? reason : "");
	if (!o)
		return;
	send_json(c, o);
	json_decref(o);
}

void proto_deliver(struct hub_conn *c, const struct hub_msg *m)
{
	const struct hub_transport_ops *tops = c->hub->state->tops;

	if (!tops || !c->transport)
		return;
	if (c->proto == HUB_PROTO_MQTT) {
		mqtt_deliver(c, m);
		return;
	}
	if (c->proto == HUB_PROTO_SIMPLE) {
		(void)tops->send(c->transport, m->dtype == HUB_DT_BINARY, m->raw, m->rawlen);
		return;
	}
	json_t *o = json_pack("{s:s, s:s}", "type", "message", "from", m->group ? "group" : "server");
	if (!o)
		return;
	if (m->group)
		json_object_set_new(o, "group", json_string(m->group));
	json_object_set_new(o, "dataType", json_string(dtype_name(m->dtype)));
	json_object_set(o, "data", m->data);
	if (m->group && m->from_user)
		json_object_set_new(o, "fromUserId", json_string(m->from_user));
	if (c->proto == HUB_PROTO_RELIABLE)
		json_object_set_new(o, "sequenceId", json_integer((json_int_t)++c->seq));
	send_json(c, o);
	json_decref(o);
}

void proto_ack(struct hub_conn *c, long long ack_id, const char *error, const char *message)
{
	json_t *o = json_pack("{s:s, s:I, s:b}", "type", "ack", "ackId", (json_int_t)ack_id, "success",
	                      error == NULL);
	if (!o)
		return;
	if (error)
		json_object_set_new(o, "error", json_pack("{s:s, s:s}", "name", error, "message", message));
	send_json(c, o);
	json_decref(o);
}

/* Turn a client's dataType/data into a message for the group. 0 or -1 (invalid). */
static int msg_from_client(struct hub_msg *m, const char *dtype, json_t *data)
{
	memset(m, 0, sizeof(*m));
	if (!dtype || !data)
		return -1;
	if (strcmp(dtype, "text") == 0) {
		if (!json_is_string(data))
			return -1;
		m->dtype = HUB_DT_TEXT;
		m->raw = json_string_value(data);
		m->rawlen = json_string_length(data);
	} else if (strcmp(dtype, "json") == 0) {
		m->dtype = HUB_DT_JSON;
		m->owned_raw = json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY);
		if (!m->owned_raw)
			return -1;
		m->raw = m->owned_raw;
		m->rawlen = strlen(m->owned_raw);
	} else if (strcmp(dtype, "binary") == 0 || strcmp(dtype, "protobuf") == 0) {
		size_t n = 0;
		if (!json_is_string(data))
			return -1;
		unsigned char *bin = b64_decode(json_string_value(data), json_string_length(data), &n);
		if (!bin)
			return -1;
		m->dtype = HUB_DT_BINARY;
		m->owned_raw = (char *)bin;
		m->raw = m->owned_raw;
		m->rawlen = n;
	} else {
		return -1;
	}
	m->data = json_incref(data);
	return 0;
}

static void on_group_op(struct hub_conn *c, const char *type, json_t *o, int has_ack, json_int_t ack_id)
{
	const char *group = json_string_value(json_object_get(o, "group"));
	int send = strcmp(type, "sendToGroup") == 0;
	enum hub_perm_kind kind = send ? HUB_PERM_SEND_TO_GROUP : HUB_PERM_JOIN_LEAVE_GROUP;

	if (!group || !ops_valid_group(group)) {
		if (has_ack)
			proto_ack(c, ack_id, "InvalidMessage", "The group name is missing or invalid.");
		return;
	}
	if (!hub_perm_check(c, kind, group)) {
		if (has_ack)
			proto_ack(c, ack_id, "Forbidden",
			          send ? "No permission to send to the group."
			               : "No permission to join or leave the group.");
		return;
	}
	if (strcmp(type, "joinGroup") == 0) {
		if (hub_conn_join(c, group) < 0) {
			if (has_ack)
				proto_ack(c, ack_id, "InternalServerError", "Too many groups.");
			return;
		}
	} else if (strcmp(type, "leaveGroup") == 0) {
		hub_conn_leave(c, group);
	} else {
		struct hub_msg m;
		if (msg_from_client(&m, json_string_value(json_object_get(o, "dataType")),
		                    json_object_get(o, "data")) < 0) {
			proto_msg_release(&m);
			if (has_ack)
				proto_ack(c, ack_id, "InvalidMessage",
				          "dataType and data do not form a valid message.");
			return;
		}
		m.group = group;
		m.from_user = c->user;
		struct hub_sel sel = { .kind = HUB_T_GROUP, .id = group };
		if (json_is_true(json_object_get(o, "noEcho")))
			sel.skip = c;
		/* The sender may be closed for overflow by its transport later; it stays valid now. */
		hub_send(c->hub, &sel, &m);
		proto_msg_release(&m);
	}
	if (has_ack)
		proto_ack(c, ack_id, NULL, NULL);
}

/* {"type":"event","event","dataType","data"}: to the hub's event handler, which answers the client;
 * without a handler for it the event is acknowledged and dropped. */
static void on_event(struct hub_conn *c, json_t *o, int has_ack, json_int_t ack_id)
{
	const char *name = json_string_value(json_object_get(o, "event"));
	const char *dt = json_string_value(json_object_get(o, "dataType"));
	struct hub_msg m;

	if (!name || !*name) {
		if (has_ack)
			proto_ack(c, ack_id, "InvalidMessage", "The event name is missing.");
		return;
	}
	if (msg_from_client(&m, dt ? dt : "json", json_object_get(o, "data")) < 0) {
		proto_msg_release(&m);
		if (has_ack)
			proto_ack(c, ack_id, "InvalidMessage",
			          "dataType and data do not form a valid message.");
		return;
	}
	if (!evh_user_event(c->hub->state->events, c, name, m.dtype, m.raw, m.rawlen, has_ack, ack_id) &&
	    has_ack)
		proto_ack(c, ack_id, NULL, NULL);
	proto_msg_release(&m);
}

/* The inspector's entry of a client frame: its type, group or event, and its data as text. */
static void note_frame(struct hub_conn *c, const char *type, json_t *o)
{
	struct insp *in = c->hub->state->insp;
	json_t *d = json_object_get(o, "data");
	const char *p = NULL;
	char *dump = NULL;
	size_t n = 0;

	if (!in)
		return;
	if (json_is_string(d)) {
		p = json_string_value(d);
		n = json_string_length(d);
	} else if (d && (dump = json_dumps(d, JSON_COMPACT | JSON_ENCODE_ANY)) != NULL) {
		p = dump;
		n = strlen(dump);
	}
	insp_client(in, c, type, json_string_value(json_object_get(o, "group")),
	            json_string_value(json_object_get(o, "event")), p, n, 0);
	free(dump);
}

void proto_on_message(struct hub_conn *c, int binary, const char *data, size_t len)
{
	json_error_t je;

	if (c->proto == HUB_PROTO_SIMPLE) {
		insp_client(c->hub->state->insp, c, "message", NULL, "message", data, len, binary);
		/* every frame is the user event "message"; with no handler it goes nowhere */
		(void)evh_user_event(c->hub->state->events, c, "message",
		                     binary ? HUB_DT_BINARY : HUB_DT_TEXT, data, len, 0, 0);
		return;
	}
	if (binary)
		return;
	json_t *o = json_loadb(data, len, 0, &je);
	if (!json_is_object(o)) {
		log_debug("client %s sent a message that is not a JSON object", c->id);
		json_decref(o);
		return;
	}
	const char *type = json_string_value(json_object_get(o, "type"));
	json_t *aj = json_object_get(o, "ackId");
	int has_ack = json_is_integer(aj) && json_integer_value(aj) >= 0;
	json_int_t ack_id = has_ack ? json_integer_value(aj) : 0;

	if (!type) {
		/* ignored, as the service ignores messages it does not understand */
	} else if (strcmp(type, "ping") == 0) {
		json_t *p = json_pack("{s:s}", "type", "pong");
		if (p)
			send_json(c, p);
		json_decref(p);
	} else if (strcmp(type, "sequenceAck") == 0) {
		/* Nothing is kept for redelivery, so there is nothing to release. */
	} else if (strcmp(type, "joinGroup") == 0 || strcmp(type, "leaveGroup") == 0 ||
	           strcmp(type, "sendToGroup") == 0 || strcmp(type, "event") == 0) {
		note_frame(c, type, o);
		if (has_ack && hub_conn_ack_seen(c, (uint64_t)ack_id)) {
			proto_ack(c, ack_id, "Duplicate", "The ackId has been used before.");
		} else if (strcmp(type, "event") == 0) {
			on_event(c, o, has_ack, ack_id);
		} else {
			on_group_op(c, type, o, has_ack, ack_id);
		}
	}
	json_decref(o);
}
