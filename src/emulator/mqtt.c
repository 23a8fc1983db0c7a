/* mqtt.c: the MQTT session of one WebSocket (mqtt.h): CONNECT to CONNACK (token, client id, the
 * connect event), SUBSCRIBE/UNSUBSCRIBE as join/leave, PUBLISH as send to group or user event,
 * QoS 0/1 (QoS 2 acknowledged), keep-alive, and the hub's messages out as PUBLISH. */
#include <config.h>

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/rand.h>

#include "b64.h"
#include "emulimits.h"
#include "events.h"
#include "insp.h"
#include "log.h"
#include "mqtt.h"
#include "mqtt_codec.h"
#include "ops.h"
#include "proto.h"
#include "utf8.h"

enum { ST_WAIT_CONNECT, ST_CONNECT_EVENT, ST_CONNECTED, ST_CLOSED };

struct mqtt_sub {
	struct mqtt_sub *next;
	char *group;
	uint8_t qos;
};

struct connect_wait {
	struct mqtt_sess *s; /* NULL once the session is gone */
};

struct mqtt_sess {
	struct emu *e;
	char *hub;
	struct auth_client auth;
	int auth_ok;
	char why[160];
	json_t *info; /* {"query","headers"} for the connect event */
	const struct mqtt_io *io;
	void *t;
	struct hub_mqtt m;
	char client_id[MQTT_CLIENT_ID_MAX + 1];
	int state, assigned, takeover;
	struct hub_conn *conn;
	uint8_t version;
	uint16_t keepalive;
	uint64_t connect_deadline, last_rx;
	uint32_t client_max_packet; /* 0: none */
	uint16_t next_id;
	struct mqtt_sub *subs;
	char *will_topic, *will_payload;
	size_t will_len;
	int will;
	struct connect_wait *cw;
	char *cstate; /* ce-connectionState from the connect event */
	uint8_t *in;
	size_t inlen, incap;
	struct buf out;
	char gone[EMU_REASON_MAX];
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static struct mqtt_sess *sess_of(const struct hub_conn *c)
{
	return (struct mqtt_sess *)((char *)c->mqtt - offsetof(struct mqtt_sess, m));
}

int mqtt_conn_is(const struct hub_conn *c)
{
	return c && c->proto == HUB_PROTO_MQTT && c->mqtt;
}

int mqtt_conn_version(const struct hub_conn *c)
{
	return mqtt_conn_is(c) ? c->mqtt->version : 0;
}

const char *mqtt_conn_client_id(const struct hub_conn *c)
{
	return mqtt_conn_is(c) ? c->mqtt->client_id : NULL;
}

static void random_alnum(char *out, size_t n)
{
	static const char set[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	unsigned char raw[64];
	if (n > sizeof raw)
		n = sizeof raw;
	if (RAND_bytes(raw, (int)n) != 1)
		for (size_t i = 0; i < n; i++)
			raw[i] = (unsigned char)(rand() & 0xFF);
	for (size_t i = 0; i < n; i++)
		out[i] = set[raw[i] % (sizeof set - 1)];
}

struct mqtt_sess *mqtt_sess_new(struct emu *e, const char *hub, struct auth_client *auth, int auth_ok,
                                const char *why, json_t *info, const struct mqtt_io *io, void *t)
{
	struct mqtt_sess *s = calloc(1, sizeof *s);
	if (!s || !(s->hub = strdup(hub))) {
		free(s);
		json_decref(info);
		return NULL;
	}
	s->e = e;
	if (auth) {
		s->auth = *auth;
		memset(auth, 0, sizeof *auth);
	}
	s->auth_ok = auth_ok;
	snprintf(s->why, sizeof s->why, "%s", why ? why : "");
	s->info = info;
	s->io = io;
	s->t = t;
	random_alnum(s->m.physical, 22);
	s->m.client_id = s->client_id;
	s->connect_deadline = now_ms() + MQTT_CONNECT_TIMEOUT_MS;
	buf_init(&s->out, 0);
	return s;
}

static void subs_free(struct mqtt_sess *s)
{
	while (s->subs) {
		struct mqtt_sub *n = s->subs->next;
		free(s->subs->group);
		free(s->subs);
		s->subs = n;
	}
}

static struct mqtt_sub **sub_find(struct mqtt_sess *s, const char *g)
{
	struct mqtt_sub **pp = &s->subs;
	while (*pp && strcmp((*pp)->group, g) != 0)
		pp = &(*pp)->next;
	return pp;
}

/* ---- output ---- */

static void flush_out(struct mqtt_sess *s)
{
	if (s->out.len && s->io && s->state != ST_CLOSED)
		(void)s->io->send(s->t, s->out.data, s->out.len);
	buf_reset(&s->out);
}

static void send_disconnect(struct mqtt_sess *s, uint8_t code, const char *reason)
{
	if (s->version != MQTT_V5)
		return;
	buf_reset(&s->out);
	if (mqtt_enc_disconnect(&s->out, s->version, code, reason) == 0)
		flush_out(s);
	s->m.has_disconnect = 1;
	s->m.disconnect_code = code;
}

/* Publish the will message (the connection ended without a DISCONNECT that drops it). */
static void publish_will(struct mqtt_sess *s, struct hub_conn *c)
{
	if (!s->will || !c)
		return;
	s->will = 0;
	if (!ops_valid_group(s->will_topic) || !hub_perm_check(c, HUB_PERM_SEND_TO_GROUP, s->will_topic))
		return;
	struct hub_msg m;
	char err[64];
	if (proto_msg_from_body(&m, HUB_DT_BINARY, s->will_payload, s->will_len, err, sizeof err) == 0) {
		m.group = s->will_topic;
		m.from_user = c->user;
		struct hub_sel sel = { .kind = HUB_T_GROUP, .id = s->will_topic, .skip = c };
		hub_send(c->hub, &sel, &m);
	}
	proto_msg_release(&m);
}

/* End the session: the hub connection goes (disconnected event), the socket closes. */
static void close_sess(struct mqtt_sess *s, const char *reason)
{
	if (s->state == ST_CLOSED)
		return;
	if (s->conn) {
		struct hub_conn *c = s->conn;
		s->conn = NULL;
		publish_will(s, c);
		snprintf(s->gone, sizeof s->gone, "%s", reason ? reason : "");
		c->gone_why = s->gone;
		log_info("client %s disconnected (%s)", c->id, reason ? reason : "-");
		hub_conn_remove(c);
	}
	s->state = ST_CLOSED;
	if (s->io)
		s->io->close(s->t, 1000, NULL);
}

/* A protocol violation after the CONNECT: MQTT 5.0 gets DISCONNECT with the reason code. */
static int fail(struct mqtt_sess *s, uint8_t code, const char *reason)
{
	log_info("MQTT client %s on hub %s: %s (reason 0x%02x)", s->client_id[0] ? s->client_id : "-",
	         s->hub, reason, code);
	if (s->state == ST_CONNECTED)
		send_disconnect(s, code, reason);
	close_sess(s, reason);
	return -1;
}

/* Append JSON [{"name","value"}] to props (borrowed strings; bounded). */
static void user_props_from_json(struct mqtt_props *pr, json_t *a)
{
	size_t i;
	json_t *v;
	json_array_foreach(a, i, v)
	{
		const char *n = json_string_value(json_object_get(v, "name"));
		const char *val = json_string_value(json_object_get(v, "value"));
		if (!n || !val || pr->nuser >= MQTT_USER_PROPS_MAX)
			continue;
		pr->user[pr->nuser].name = (struct mqtt_str){ n, strlen(n) };
		pr->user[pr->nuser].value = (struct mqtt_str){ val, strlen(val) };
		pr->nuser++;
	}
}

static json_t *user_props_to_json(const struct mqtt_props *pr)
{
	if (pr->nuser == 0)
		return json_null();
	json_t *a = json_array();
	for (size_t i = 0; a && i < pr->nuser; i++)
		json_array_append_new(a, json_pack("{s:s%, s:s%}", "name", pr->user[i].name.p,
		                                   pr->user[i].name.len, "value", pr->user[i].value.p,
		                                   pr->user[i].value.len));
	return a;
}

/* Refuse the CONNECT: CONNACK with v5code (MQTT 5.0) or v3code (3.1.1), then close. */
static int refuse(struct mqtt_sess *s, uint8_t v5code, uint8_t v3code, const char *reason, json_t *uprops)
{
	struct mqtt_props pr;
	memset(&pr, 0, sizeof pr);
	if (reason)
		pr.reason = (struct mqtt_str){ reason, strlen(reason) };
	if (json_is_array(uprops))
		user_props_from_json(&pr, uprops);
	log_info("MQTT client %s refused on hub %s: %s", s->client_id[0] ? s->client_id : "-", s->hub,
	         reason ? reason : "-");
	buf_reset(&s->out);
	if (mqtt_enc_connack(&s->out, s->version, 0, s->version == MQTT_V5 ? v5code : v3code, &pr) == 0)
		flush_out(s);
	close_sess(s, reason);
	return -1;
}

/* ---- the CONNECT ---- */

static json_t *strv_json(char *const *v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

static char *connect_body(struct mqtt_sess *s, const struct mqtt_pkt *p)
{
	json_t *o = json_object(), *claims = json_object(), *mq;
	char *pw = NULL, *out;

	if (p->has_pass)
		pw = b64_encode(p->password.p, p->password.len);
	mq = json_pack("{s:i, s:b}", "protocolVersion", (int)p->version, "cleanStart", p->clean);
	if (mq) {
		json_object_set_new(mq, "username",
		                    p->has_user ? json_stringn(p->username.p, p->username.len) : json_null());
		json_object_set_new(mq, "password", pw ? json_string(pw) : json_null());
		json_object_set_new(mq, "userProperties", user_props_to_json(&p->props));
	}
	free(pw);
	if (s->auth.user)
		json_object_set_new(claims, "sub", strv_json(&s->auth.user, 1));
	if (s->auth.nroles)
		json_object_set_new(claims, "role", strv_json(s->auth.roles, s->auth.nroles));
	if (s->auth.ngroups)
		json_object_set_new(claims, "webpubsub.group", strv_json(s->auth.groups, s->auth.ngroups));
	json_object_set_new(o, "mqtt", mq ? mq : json_null());
	json_object_set_new(o, "claims", claims);
	json_t *q = json_object_get(s->info, "query"), *h = json_object_get(s->info, "headers");
	json_object_set(o, "query", q ? q : json_object());
	json_object_set(o, "headers", h ? h : json_object());
	json_object_set_new(o, "subprotocols", json_pack("[s]", MQTT_SUBPROTOCOL));
	json_object_set_new(o, "clientCertificates", json_array());
	out = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return out;
}

static int strv_add(char ***v, size_t *n, const char *x, size_t max)
{
	char **nv;
	if (*n >= max || !(nv = realloc(*v, (*n + 1) * sizeof *nv)))
		return -1;
	*v = nv;
	if (!(nv[*n] = strdup(x)))
		return -1;
	(*n)++;
	return 0;
}

/* Accept: the hub connection, CONNACK, the connected event. answer: the connect event's 200 body. */
static int accept_sess(struct mqtt_sess *s, json_t *answer)
{
	json_t *uprops = NULL, *v;
	const char *k;

	if (json_is_object(answer)) {
		json_object_foreach(answer, k, v)
		{
			size_t i;
			json_t *x;
			if (strcasecmp(k, "userId") == 0 && json_is_string(v)) {
				free(s->auth.user);
				s->auth.user = strdup(json_string_value(v));
			} else if (strcasecmp(k, "groups") == 0 && json_is_array(v)) {
				json_array_foreach(v, i, x) if (json_is_string(x) &&
				                                strv_add(&s->auth.groups, &s->auth.ngroups,
				                                         json_string_value(x), EMU_CONN_GROUPS_MAX) < 0)
				        return refuse(s, MQTT_RC_UNSPECIFIED, MQTT3_RC_UNAVAILABLE,
				                      "The event handler's answer names too many groups.", NULL);
			} else if (strcasecmp(k, "roles") == 0 && json_is_array(v)) {
				json_array_foreach(v, i, x) if (json_is_string(x) &&
				                                strv_add(&s->auth.roles, &s->auth.nroles,
				                                         json_string_value(x), EMU_ROLES_MAX) < 0)
				        return refuse(s, MQTT_RC_UNSPECIFIED, MQTT3_RC_UNAVAILABLE,
				                      "The event handler's answer names too many roles.", NULL);
			} else if (strcasecmp(k, "mqtt") == 0 && json_is_object(v)) {
				uprops = json_object_get(v, "userProperties");
			}
		}
	}
	struct hub *h = hub_get(s->e->state, s->hub, 1);
	if (!h)
		return refuse(s, MQTT_RC_UNSPECIFIED, MQTT3_RC_UNAVAILABLE, "Out of memory.", NULL);
	struct hub_conn *old = hub_conn_find(h, s->client_id);
	if (old) {
		if (mqtt_conn_is(old))
			sess_of(old)->takeover = 1;
		hub_conn_close(old, "The session was taken over by a new connection with the same client id.");
	}
	struct hub_conn_spec spec = {
		.id = s->client_id,
		.user = s->auth.user,
		.proto = HUB_PROTO_MQTT,
		.roles = (const char *const *)s->auth.roles,
		.nroles = s->auth.nroles,
		.groups = (const char *const *)s->auth.groups,
		.ngroups = s->auth.ngroups,
		.transport = s->t,
		.mqtt = &s->m,
		.subprotocol = "mqtt",
		.protocol = s->version == MQTT_V5 ? "mqtt 5.0" : "mqtt 3.1.1",
	};
	struct hub_conn *c = hub_conn_add(h, &spec);
	if (!c)
		return refuse(s, MQTT_RC_UNSPECIFIED, MQTT3_RC_UNAVAILABLE, "Could not add the connection.",
		              NULL);
	s->conn = c;
	c->ev_seq = 1;
	c->ev_state = s->cstate;
	s->cstate = NULL;
	random_alnum(s->m.session, 22);
	s->m.version = s->version;

	struct mqtt_props pr;
	memset(&pr, 0, sizeof pr);
	pr.connack_limits = 1;
	pr.has_max_packet = 1;
	pr.max_packet = (uint32_t)(s->e->max_mqtt_packet > 0xFFFFFFFFu ? 0xFFFFFFFFu : s->e->max_mqtt_packet);
	if (s->assigned)
		pr.assigned_client_id = (struct mqtt_str){ s->client_id, strlen(s->client_id) };
	if (json_is_array(uprops))
		user_props_from_json(&pr, uprops);
	buf_reset(&s->out);
	s->state = ST_CONNECTED;
	s->last_rx = now_ms();
	if (mqtt_enc_connack(&s->out, s->version, 0, 0, &pr) == 0)
		flush_out(s);
	log_info("client %s connected to hub %s (user %s, mqtt %s)", c->id, h->name, c->user ? c->user : "-",
	         s->version == MQTT_V5 ? "5.0" : "3.1.1");
	evh_connected(s->e->state->events, c);
	return 0;
}

static void connect_done(void *arg, const struct evh_result *r)
{
	struct connect_wait *cw = arg;
	struct mqtt_sess *s = cw->s;
	json_t *j = NULL;

	free(cw);
	if (!s)
		return;
	s->cw = NULL;
	if (s->state != ST_CONNECT_EVENT)
		return; /* closed meanwhile (too many bytes buffered) */
	if (r->state_set && r->state && r->state[0]) {
		free(s->cstate);
		s->cstate = strdup(r->state);
	}
	if (r->len > 0)
		j = json_loadb(r->body, r->len, JSON_DECODE_ANY, NULL);
	if (r->status >= 200 && r->status < 300) {
		if (r->status == 200 && r->len > 0 && !j) {
			refuse(s, MQTT_RC_UNSPECIFIED, MQTT3_RC_UNAVAILABLE, "The event handler's answer is not JSON.",
			       NULL);
		} else if (accept_sess(s, j) == 0 && s->inlen > 0) {
			/* packets that came while the event was out */
			(void)mqtt_on_bytes(s, NULL, 0);
		}
		json_decref(j);
		return;
	}
	/* refused (4xx) or failed (5xx, no answer): {"mqtt":{"code","reason","userProperties"}} */
	json_t *mq = json_object_get(j, "mqtt");
	json_t *code = json_object_get(mq, "code");
	const char *reason = json_string_value(json_object_get(mq, "reason"));
	int cv = json_is_integer(code) ? (int)json_integer_value(code) : -1;
	uint8_t v5 = cv >= 0x80 && cv <= 0xFF ? (uint8_t)cv : MQTT_RC_UNSPECIFIED;
	uint8_t v3 = cv >= 1 && cv <= 5 ? (uint8_t)cv
	             : r->status == 401 ? MQTT3_RC_BAD_USER_PASS
	             : r->status == 403 ? MQTT3_RC_NOT_AUTHORIZED
	                                : MQTT3_RC_UNAVAILABLE;
	if (!reason)
		reason = r->status >= 400 && r->status < 500 ? "The event handler refused the connection."
		                                             : "The event handler failed.";
	refuse(s, v5, v3, reason, json_object_get(mq, "userProperties"));
	json_decref(j);
}

static int valid_client_id(const struct mqtt_str *id)
{
	if (id->len < 1 || id->len > MQTT_CLIENT_ID_MAX)
		return 0;
	for (size_t i = 0; i < id->len; i++) {
		char ch = id->p[i];
		if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')))
			return 0;
	}
	return 1;
}

static int on_connect(struct mqtt_sess *s, const struct mqtt_pkt *p)
{
	s->version = p->version;
	if (p->client_id.len == 0) {
		if (p->version == MQTT_V311 && !p->clean)
			return refuse(s, MQTT_RC_BAD_CLIENT_ID, MQTT3_RC_BAD_CLIENT_ID,
			              "An empty client id needs a clean session.", NULL);
		random_alnum(s->client_id, 22);
		s->assigned = 1;
	} else if (!valid_client_id(&p->client_id)) {
		return refuse(s, MQTT_RC_BAD_CLIENT_ID, MQTT3_RC_BAD_CLIENT_ID,
		              "The client id must be 1 to 128 characters of 0-9, a-z, A-Z.", NULL);
	} else {
		memcpy(s->client_id, p->client_id.p, p->client_id.len);
		s->client_id[p->client_id.len] = '\0';
	}
	if (p->version == MQTT_V311 && (p->keepalive < 1 || p->keepalive > MQTT_V311_KEEPALIVE_MAX))
		return refuse(s, MQTT_RC_PROTOCOL_ERROR, MQTT3_RC_UNAVAILABLE,
		              "The keep-alive of an MQTT 3.1.1 client must be 1 to 180 seconds.", NULL);
	if (p->will) {
		size_t tl = p->will_topic.len, i;
		for (i = 0; i < tl && (p->will_topic.p[i] == ' ' || p->will_topic.p[i] == '\t'); i++)
			;
		if (tl == 0 || tl > MQTT_WILL_TOPIC_MAX || i == tl)
			return refuse(s, MQTT_RC_TOPIC_NAME_BAD, MQTT3_RC_UNAVAILABLE, "Invalid will topic.", NULL);
		if (p->will_payload.len > MQTT_WILL_PAYLOAD_MAX)
			return refuse(s, MQTT_RC_PACKET_TOO_LARGE, MQTT3_RC_UNAVAILABLE,
			              "The will message is over 2000 bytes.", NULL);
		if (p->will_retain && p->version == MQTT_V5)
			return refuse(s, MQTT_RC_RETAIN_UNSUPPORTED, MQTT3_RC_UNAVAILABLE,
			              "Retained messages are not supported.", NULL);
		s->will_topic = strndup(p->will_topic.p, tl);
		s->will_payload = malloc(p->will_payload.len + 1);
		if (!s->will_topic || !s->will_payload)
			return refuse(s, MQTT_RC_UNSPECIFIED, MQTT3_RC_UNAVAILABLE, "Out of memory.", NULL);
		memcpy(s->will_payload, p->will_payload.p, p->will_payload.len);
		s->will_len = p->will_payload.len;
		s->will = 1;
	}
	if (!s->auth_ok)
		return refuse(s, MQTT_RC_NOT_AUTHORIZED, MQTT3_RC_NOT_AUTHORIZED, s->why, NULL);
	s->keepalive = p->keepalive;
	if (p->props.has_max_packet)
		s->client_max_packet = p->props.max_packet;

	struct evh *ev = s->e->state->events;
	if (!evh_wants(ev, s->hub, EVH_CONNECT, NULL))
		return accept_sess(s, NULL);
	char *body = connect_body(s, p);
	struct connect_wait *cw = calloc(1, sizeof *cw);
	struct evh_req rq = {
		.kind = EVH_CONNECT,
		.hub = s->hub,
		.connection = s->client_id,
		.user = s->auth.user,
		.content_type = "application/json; charset=utf-8",
		.body = body,
		.len = body ? strlen(body) : 0,
		.physical = s->m.physical,
	};
	if (!body || !cw || (cw->s = s, evh_call(ev, &rq, connect_done, cw) < 0)) {
		free(body);
		free(cw);
		return refuse(s, MQTT_RC_SERVER_BUSY, MQTT3_RC_UNAVAILABLE,
		              "Too many event handler calls in flight.", NULL);
	}
	free(body);
	s->cw = cw;
	s->state = ST_CONNECT_EVENT;
	return 0;
}

/* ---- after the CONNECT ---- */

struct event_wait {
	struct hub_state *st;
	char *hub, *conn, *event, *corr;
	size_t corrlen;
	int has_corr;
	uint8_t qos;
};

static void event_done(void *arg, const struct evh_result *r)
{
	struct event_wait *w = arg;
	struct hub *h = hub_get(w->st, w->hub, 0);
	struct hub_conn *c = h ? hub_conn_find(h, w->conn) : NULL;

	if (c && mqtt_conn_is(c) && sess_of(c)->state == ST_CONNECTED) {
		struct mqtt_sess *s = sess_of(c);
		int ok = r->status >= 200 && r->status < 300;
		char topic[600], st[8];
		struct mqtt_props pr;

		if (r->state_set) {
			free(c->ev_state);
			c->ev_state = r->state && r->state[0] ? strdup(r->state) : NULL;
		}
		memset(&pr, 0, sizeof pr);
		snprintf(topic, sizeof topic, MQTT_EVENTS_PREFIX "%s/%s", w->event, ok ? "succeeded" : "failed");
		snprintf(st, sizeof st, "%ld", r->status);
		if (r->content_type && ok)
			pr.content_type = (struct mqtt_str){ r->content_type, strlen(r->content_type) };
		if (w->has_corr)
			pr.correlation = (struct mqtt_str){ w->corr ? w->corr : "", w->corrlen };
		pr.user[0].name = (struct mqtt_str){ "azure-status-code", 17 };
		pr.user[0].value = (struct mqtt_str){ st, strlen(st) };
		pr.nuser = 1;
		for (size_t i = 0; i < r->nmqtt && pr.nuser < MQTT_USER_PROPS_MAX; i++, pr.nuser++) {
			pr.user[pr.nuser].name = (struct mqtt_str){ r->mqtt[2 * i], strlen(r->mqtt[2 * i]) };
			pr.user[pr.nuser].value =
			        (struct mqtt_str){ r->mqtt[2 * i + 1], strlen(r->mqtt[2 * i + 1]) };
		}
		uint8_t qos = w->qos ? 1 : 0;
		uint16_t id = qos ? (s->next_id = (uint16_t)(s->next_id % 65535 + 1)) : 0;
		buf_reset(&s->out);
		if (mqtt_enc_publish(&s->out, s->version, topic, strlen(topic), qos, id, &pr,
		                     ok && r->status != 204 ? r->body : "", ok && r->status != 204 ? r->len : 0) ==
		            0 &&
		    (!s->client_max_packet || s->out.len <= s->client_max_packet))
			flush_out(s);
		buf_reset(&s->out);
	}
	free(w->hub);
	free(w->conn);
	free(w->event);
	free(w->corr);
	free(w);
}

static void user_event(struct mqtt_sess *s, const struct mqtt_pkt *p, const char *event)
{
	struct evh *ev = s->e->state->events;
	struct hub_conn *c = s->conn;
	char *hdrs[MQTT_USER_PROPS_MAX];
	size_t nh = 0;

	if (!evh_wants(ev, c->hub->name, EVH_USER, event))
		return; /* no handler: dropped, as for JSON clients */
	struct event_wait *w = calloc(1, sizeof *w);
	if (!w)
		return;
	w->st = s->e->state;
	w->hub = strdup(c->hub->name);
	w->conn = strdup(c->id);
	w->event = strdup(event);
	w->qos = p->qos;
	if (p->props.correlation.p) {
		w->has_corr = 1;
		w->corrlen = p->props.correlation.len;
		if (w->corrlen && (w->corr = malloc(w->corrlen)))
			memcpy(w->corr, p->props.correlation.p, w->corrlen);
	}
	for (size_t i = 0; i < p->props.nuser; i++) {
		const struct mqtt_user_prop *u = &p->props.user[i];
		/* a header name is a token: user properties that cannot be one are left out */
		int ok = u->name.len > 0 && u->name.len < 200 && u->value.len < 4096;
		for (size_t k = 0; ok && k < u->name.len; k++)
			ok = strchr("!#$%&'*+-.^_`|~", u->name.p[k]) || (u->name.p[k] >= '0' && u->name.p[k] <= '9') ||
			     ((u->name.p[k] | 0x20) >= 'a' && (u->name.p[k] | 0x20) <= 'z');
		for (size_t k = 0; ok && k < u->value.len; k++)
			ok = u->value.p[k] != '\r' && u->value.p[k] != '\n';
		if (ok && asprintf(&hdrs[nh], "mqtt-%.*s: %.*s", (int)u->name.len, u->name.p, (int)u->value.len,
		                   u->value.p) >= 0)
			nh++;
	}
	char ct[256];
	if (p->props.content_type.p && p->props.content_type.len < sizeof ct)
		snprintf(ct, sizeof ct, "%.*s", (int)p->props.content_type.len, p->props.content_type.p);
	else
		snprintf(ct, sizeof ct, "application/octet-stream");
	struct evh_req rq;
	memset(&rq, 0, sizeof rq);
	rq.kind = EVH_USER;
	rq.hub = c->hub->name;
	rq.event = event;
	rq.connection = c->id;
	rq.user = c->user;
	rq.subprotocol = MQTT_SUBPROTOCOL;
	rq.state = c->ev_state;
	rq.ce_id = c->ev_seq++;
	rq.content_type = ct;
	rq.body = p->payload.p;
	rq.len = p->payload.len;
	rq.physical = s->m.physical;
	rq.session = s->m.session;
	rq.extra_headers = (const char *const *)hdrs;
	rq.nextra = nh;
	if (!w->hub || !w->conn || !w->event || evh_call(ev, &rq, event_done, w) < 0) {
		log_warn("user event %s of %s not sent", event, c->id);
		free(w->hub);
		free(w->conn);
		free(w->event);
		free(w->corr);
		free(w);
	}
	for (size_t i = 0; i < nh; i++)
		free(hdrs[i]);
}

/* Answer a PUBLISH: QoS 1 PUBACK, QoS 2 PUBREC; a refused QoS 0 publish closes (as the service). */
static int pub_answer(struct mqtt_sess *s, const struct mqtt_pkt *p, uint8_t code, const char *why)
{
	if (p->qos == 0) {
		if (code >= 0x80)
			return fail(s, code, why);
		return 0;
	}
	if (code >= 0x80)
		log_info("MQTT client %s: publish to %.*s refused: %s", s->client_id, (int)p->topic.len,
		         p->topic.p, why);
	buf_reset(&s->out);
	if (mqtt_enc_ack(&s->out, s->version, p->qos == 1 ? MQTT_PUBACK : MQTT_PUBREC, p->id, code) == 0)
		flush_out(s);
	return 0;
}

static int on_publish(struct mqtt_sess *s, const struct mqtt_pkt *p)
{
	struct hub_conn *c = s->conn;
	char *topic;
	int rc;

	if (p->props.has_topic_alias)
		return fail(s, 0x94, "Topic aliases are not supported.");
	if (p->retain && s->version == MQTT_V5)
		return fail(s, MQTT_RC_RETAIN_UNSUPPORTED, "Retained messages are not supported.");
	if (memchr(p->topic.p, '+', p->topic.len) || memchr(p->topic.p, '#', p->topic.len))
		return fail(s, MQTT_RC_TOPIC_NAME_BAD, "A topic name has no wildcards.");
	if (!(topic = strndup(p->topic.p, p->topic.len)))
		return fail(s, MQTT_RC_UNSPECIFIED, "Out of memory.");
	{
		/* the inspector: a publish, to a group or (under the events prefix) a user event */
		int ev = strncmp(topic, MQTT_EVENTS_PREFIX, strlen(MQTT_EVENTS_PREFIX)) == 0;
		insp_client(c->hub->state->insp, c, "publish", ev ? NULL : topic,
		            ev ? topic + strlen(MQTT_EVENTS_PREFIX) : NULL, p->payload.p, p->payload.len,
		            !utf8_valid(p->payload.p, p->payload.len));
	}
	if (strncmp(topic, MQTT_EVENTS_PREFIX, strlen(MQTT_EVENTS_PREFIX)) == 0) {
		const char *ev = topic + strlen(MQTT_EVENTS_PREFIX);
		if (!*ev || strchr(ev, '/') || strlen(ev) > MQTT_EVENT_NAME_MAX) {
			rc = pub_answer(s, p, MQTT_RC_TOPIC_NAME_BAD, "Invalid event name.");
		} else {
			user_event(s, p, ev);
			rc = pub_answer(s, p, 0, NULL);
		}
		free(topic);
		return rc;
	}
	if (strncmp(topic, "$webpubsub/", 11) == 0 || !ops_valid_group(topic)) {
		rc = pub_answer(s, p, MQTT_RC_TOPIC_NAME_BAD, "The topic is reserved or not a valid group name.");
	} else if (!hub_perm_check(c, HUB_PERM_SEND_TO_GROUP, topic)) {
		rc = pub_answer(s, p, MQTT_RC_NOT_AUTHORIZED, "No permission to send to the group.");
	} else {
		enum hub_dtype dt = HUB_DT_BINARY;
		struct hub_msg m;
		char err[128], ct[128];
		if (p->props.content_type.p && p->props.content_type.len < sizeof ct) {
			snprintf(ct, sizeof ct, "%.*s", (int)p->props.content_type.len, p->props.content_type.p);
			if (proto_dtype_from_content_type(ct, &dt) < 0)
				dt = HUB_DT_BINARY;
		}
		if (proto_msg_from_body(&m, dt, p->payload.p, p->payload.len, err, sizeof err) < 0) {
			rc = pub_answer(s, p, MQTT_RC_PAYLOAD_FORMAT_BAD, err);
		} else {
			m.group = topic;
			m.from_user = c->user;
			m.mqtt = s->version == MQTT_V5 ? &p->props : NULL;
			struct hub_sel sel = { .kind = HUB_T_GROUP, .id = topic };
			hub_send(c->hub, &sel, &m);
			rc = pub_answer(s, p, 0, NULL);
		}
		proto_msg_release(&m);
	}
	free(topic);
	return rc;
}

static int on_subscribe(struct mqtt_sess *s, const struct mqtt_pkt *p)
{
	uint8_t codes[MQTT_TOPICS_MAX];
	int v5 = s->version == MQTT_V5;

	for (size_t i = 0; i < p->ntopics; i++) {
		const struct mqtt_topic *t = &p->topics[i];
		char *g = strndup(t->filter.p, t->filter.len);
		uint8_t qos = (t->options & 3) > 1 ? 1 : (t->options & 3);
		if (g)
			insp_client(s->conn->hub->state->insp, s->conn, "subscribe", g, NULL, NULL, 0, 0);
		if (!g)
			codes[i] = MQTT_RC_UNSPECIFIED;
		else if (strncmp(g, "$share/", 7) == 0)
			codes[i] = v5 ? MQTT_RC_SHARED_UNSUPPORTED : 0x80;
		else if (strpbrk(g, "+#"))
			codes[i] = v5 ? MQTT_RC_WILDCARD_UNSUPPORTED : 0x80;
		else if (strncmp(g, "$webpubsub/", 11) == 0 || !ops_valid_group(g))
			codes[i] = v5 ? MQTT_RC_TOPIC_FILTER_BAD : 0x80;
		else if (!hub_perm_check(s->conn, HUB_PERM_JOIN_LEAVE_GROUP, g))
			codes[i] = v5 ? MQTT_RC_NOT_AUTHORIZED : 0x80;
		else if (hub_conn_join(s->conn, g) < 0)
			codes[i] = v5 ? MQTT_RC_QUOTA_EXCEEDED : 0x80;
		else {
			struct mqtt_sub **pp = sub_find(s, g), *n;
			if (*pp) {
				(*pp)->qos = qos;
			} else if ((n = calloc(1, sizeof *n))) {
				n->group = g;
				n->qos = qos;
				n->next = s->subs;
				s->subs = n;
				g = NULL;
			}
			codes[i] = qos;
		}
		if (codes[i] >= 0x80)
			log_info("MQTT client %s: subscribe to %.*s refused (0x%02x)", s->client_id,
			         (int)t->filter.len, t->filter.p, codes[i]);
		free(g);
	}
	buf_reset(&s->out);
	if (mqtt_enc_suback(&s->out, s->version, MQTT_SUBACK, p->id, codes, p->ntopics) == 0)
		flush_out(s);
	return 0;
}

static int on_unsubscribe(struct mqtt_sess *s, const struct mqtt_pkt *p)
{
	uint8_t codes[MQTT_TOPICS_MAX];
	for (size_t i = 0; i < p->ntopics; i++) {
		char *g = strndup(p->topics[i].filter.p, p->topics[i].filter.len);
		if (!g) {
			codes[i] = MQTT_RC_UNSPECIFIED;
			continue;
		}
		insp_client(s->conn->hub->state->insp, s->conn, "unsubscribe", g, NULL, NULL, 0, 0);
		if (!ops_valid_group(g) || !hub_perm_check(s->conn, HUB_PERM_JOIN_LEAVE_GROUP, g)) {
			codes[i] = ops_valid_group(g) ? MQTT_RC_NOT_AUTHORIZED : MQTT_RC_TOPIC_FILTER_BAD;
		} else {
			codes[i] = hub_conn_leave(s->conn, g) ? MQTT_RC_SUCCESS : MQTT_RC_NO_SUBSCRIPTION;
			struct mqtt_sub **pp = sub_find(s, g);
			if (*pp) {
				struct mqtt_sub *x = *pp;
				*pp = x->next;
				free(x->group);
				free(x);
			}
		}
		free(g);
	}
	buf_reset(&s->out);
	if (mqtt_enc_suback(&s->out, s->version, MQTT_UNSUBACK, p->id, codes, p->ntopics) == 0)
		flush_out(s);
	return 0;
}

static int on_packet(struct mqtt_sess *s, const uint8_t *pkt, size_t len)
{
	struct mqtt_pkt *p = malloc(sizeof *p);
	int rc, ret = 0;

	if (!p)
		return fail(s, MQTT_RC_UNSPECIFIED, "Out of memory.");
	rc = mqtt_decode(pkt, len, s->state == ST_WAIT_CONNECT ? 0 : s->version, p);
	if (rc != 0) {
		if (s->state == ST_WAIT_CONNECT) {
			if (rc == MQTT_RC_BAD_VERSION) {
				s->version = p->version == MQTT_V5 ? MQTT_V5 : MQTT_V311;
				ret = refuse(s, MQTT_RC_BAD_VERSION, MQTT3_RC_BAD_VERSION,
				             "Only MQTT 3.1.1 and 5.0 are supported.", NULL);
			} else {
				log_info("MQTT client on hub %s: the first packet is not a valid CONNECT", s->hub);
				close_sess(s, "invalid CONNECT");
				ret = -1;
			}
		} else {
			ret = fail(s, (uint8_t)rc,
			           rc == MQTT_RC_MALFORMED ? "Malformed packet." : "Protocol error.");
		}
		free(p);
		return ret;
	}
	switch (p->type) {
	case MQTT_CONNECT: ret = on_connect(s, p); break;
	case MQTT_PUBLISH: ret = on_publish(s, p); break;
	case MQTT_PUBREL:
		buf_reset(&s->out);
		if (mqtt_enc_ack(&s->out, s->version, MQTT_PUBCOMP, p->id, 0) == 0)
			flush_out(s);
		break;
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBCOMP: break; /* nothing is kept for redelivery */
	case MQTT_SUBSCRIBE: ret = on_subscribe(s, p); break;
	case MQTT_UNSUBSCRIBE: ret = on_unsubscribe(s, p); break;
	case MQTT_PINGREQ:
		buf_reset(&s->out);
		if (mqtt_enc_pingresp(&s->out) == 0)
			flush_out(s);
		break;
	case MQTT_DISCONNECT: {
		char why[200];
		s->m.initiated_by_client = 1;
		s->m.has_disconnect = 1;
		s->m.disconnect_code = p->reason;
		json_decref(s->m.disconnect_user_props);
		s->m.disconnect_user_props = p->props.nuser ? user_props_to_json(&p->props) : NULL;
		if (!(s->version == MQTT_V5 && p->reason == 0x04))
			s->will = 0;
		if (p->props.reason.p)
			snprintf(why, sizeof why, "%.*s", (int)p->props.reason.len, p->props.reason.p);
		else
			snprintf(why, sizeof why, "The client disconnected.");
		close_sess(s, why);
		ret = -1;
		break;
	}
	default: ret = fail(s, MQTT_RC_PROTOCOL_ERROR, "Unexpected packet."); break;
	}
	free(p);
	return ret;
}

int mqtt_on_bytes(struct mqtt_sess *s, const uint8_t *data, size_t len)
{
	size_t max = s->e->max_mqtt_packet;

	if (s->state == ST_CLOSED)
		return -1;
	if (len) {
		s->last_rx = now_ms();
		/* a WebSocket message is bound by --max-frame-bytes, and what stays buffered after the
		 * loop below by one packet; only while the connect event is out may more pile up */
		if (s->state == ST_CONNECT_EVENT && s->inlen + len > max + MQTT_INBUF_SLACK)
			return fail(s, MQTT_RC_PACKET_TOO_LARGE, "Too many bytes buffered.");
		if (s->inlen + len > s->incap) {
			size_t nc = s->incap ? s->incap : 1024;
			while (nc < s->inlen + len)
				nc *= 2;
			uint8_t *ni = realloc(s->in, nc);
			if (!ni)
				return fail(s, MQTT_RC_UNSPECIFIED, "Out of memory.");
			s->in = ni;
			s->incap = nc;
		}
		memcpy(s->in + s->inlen, data, len);
		s->inlen += len;
	}
	size_t off = 0;
	while (s->state == ST_WAIT_CONNECT || s->state == ST_CONNECTED) {
		size_t total;
		int r = mqtt_frame(s->in + off, s->inlen - off, max, &total);
		if (r == 0)
			break;
		if (r == -1)
			return fail(s, MQTT_RC_MALFORMED, "Malformed remaining length.");
		if (r == -2) {
			log_info("MQTT client %s on hub %s: a packet of %zu bytes is over the limit of %zu",
			         s->client_id[0] ? s->client_id : "-", s->hub, total, max);
			return fail(s, MQTT_RC_PACKET_TOO_LARGE, "The packet is too large.");
		}
		if (s->inlen - off < total)
			break;
		if (on_packet(s, s->in + off, total) < 0)
			return -1;
		off += total;
	}
	if (s->state == ST_CLOSED)
		return -1;
	memmove(s->in, s->in + off, s->inlen - off);
	s->inlen -= off;
	return 0;
}

void mqtt_close(struct mqtt_sess *s, const char *reason)
{
	fail(s, MQTT_RC_PROTOCOL_ERROR, reason);
}

int mqtt_tick(struct mqtt_sess *s, uint64_t now)
{
	if (s->state == ST_WAIT_CONNECT) {
		if (now >= s->connect_deadline) {
			close_sess(s, "No CONNECT in time.");
			return -1;
		}
		return (int)(s->connect_deadline - now);
	}
	if (s->state == ST_CONNECTED && s->keepalive > 0) {
		uint64_t dl = s->last_rx + (uint64_t)s->keepalive * 1500u;
		if (now >= dl) {
			fail(s, MQTT_RC_KEEPALIVE_TIMEOUT, "Keep-alive timeout.");
			return -1;
		}
		return (int)(dl - now);
	}
	return -1;
}

void mqtt_sess_free(struct mqtt_sess *s)
{
	if (!s)
		return;
	if (s->cw)
		s->cw->s = NULL;
	s->io = NULL; /* the socket is going: nothing more is sent */
	if (s->conn) {
		struct hub_conn *c = s->conn;
		s->conn = NULL;
		publish_will(s, c);
		if (!c->gone_why)
			c->gone_why = "The connection was closed by the client.";
		log_info("client %s disconnected", c->id);
		hub_conn_remove(c);
	}
	auth_client_release(&s->auth);
	json_decref(s->info);
	json_decref(s->m.disconnect_user_props);
	subs_free(s);
	free(s->will_topic);
	free(s->will_payload);
	free(s->cstate);
	free(s->in);
	buf_free(&s->out);
	free(s->hub);
	free(s);
}

/* ---- the hub's side ---- */

void mqtt_deliver(struct hub_conn *c, const struct hub_msg *m)
{
	if (!mqtt_conn_is(c))
		return;
	struct mqtt_sess *s = sess_of(c);
	if (s->state != ST_CONNECTED)
		return;
	const char *topic = m->group ? m->group : MQTT_SERVER_MESSAGES;
	uint8_t qos = 1;
	if (m->group) {
		struct mqtt_sub **pp = sub_find(s, m->group);
		qos = *pp ? (*pp)->qos : 0; /* joined over REST or the token: default options, QoS 0 */
	}
	struct mqtt_props pr;
	memset(&pr, 0, sizeof pr);
	const char *ct = m->dtype == HUB_DT_TEXT   ? "text/plain"
	                 : m->dtype == HUB_DT_JSON ? "application/json"
	                                           : "application/octet-stream";
	pr.content_type = (struct mqtt_str){ ct, strlen(ct) };
	if (m->dtype != HUB_DT_BINARY)
		pr.payload_format = 1, pr.has_payload_format = 1;
	if (m->mqtt) {
		/* from an MQTT 5.0 client: its application properties pass to MQTT clients as they are */
		const struct mqtt_props *q = m->mqtt;
		pr.content_type = q->content_type;
		pr.has_payload_format = q->has_payload_format;
		pr.payload_format = q->payload_format;
		pr.has_message_expiry = q->has_message_expiry;
		pr.message_expiry = q->message_expiry;
		pr.response_topic = q->response_topic;
		pr.correlation = q->correlation;
		memcpy(pr.user, q->user, q->nuser * sizeof q->user[0]);
		pr.nuser = q->nuser;
	}
	uint16_t id = qos ? (s->next_id = (uint16_t)(s->next_id % 65535 + 1)) : 0;
	buf_reset(&s->out);
	if (mqtt_enc_publish(&s->out, s->version, topic, strlen(topic), qos, id, &pr, m->raw, m->rawlen) ==
	    0) {
		if (s->client_max_packet && s->out.len > s->client_max_packet)
			buf_reset(&s->out); /* over the client's Maximum Packet Size: dropped [MQTT-3.1.2-24] */
		flush_out(s);
	}
	buf_reset(&s->out);
}

void mqtt_disconnected(struct hub_conn *c, const char *reason)
{
	if (!mqtt_conn_is(c))
		return;
	struct mqtt_sess *s = sess_of(c);
	if (s->state != ST_CONNECTED)
		return;
	send_disconnect(s, s->takeover ? MQTT_RC_SESSION_TAKEN_OVER : MQTT_RC_ADMIN_ACTION, reason);
	publish_will(s, c);
	/* hub_conn_close closes the transport and removes c next */
	s->conn = NULL;
	s->state = ST_CLOSED;
}
