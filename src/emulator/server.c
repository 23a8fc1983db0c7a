/* server.c: libmicrohttpd (external epoll) plus upgraded WebSockets in one epoll loop: REST
 * requests go to rest.c, GET /client/hubs/{hub} with Upgrade becomes a hub connection. */
#include <config.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/crypto.h>

#include "auth.h"
#include "buf.h"
#include "emulimits.h"
#include "events.h"
#include "insp_http.h"
#include "log.h"
#include "mqtt.h"
#include "ops.h"
#include "pct.h"
#include "proto.h"
#include "rest.h"
#include "server.h"
#include "ws.h"
#include "secret.h"

#define CLIENT_PREFIX "/client/hubs/"

static int tag_mhd = 1, tag_sig = 2;

struct srv {
	struct emu *e;
	int epfd, sigfd, lfd;
	struct MHD_Daemon *d;
	struct ws_set ws;
	struct evh *ev; /* event handlers, NULL: none */
};

/* Per request, created by the URI log callback, freed when the request completes. */
struct req {
	char *uri; /* raw request target */
	struct buf body;
	int started;
	int answered; /* a response was queued early (413 past the discard bound) */
	int too_big;  /* the body passed max_body: the rest is read and dropped */
	size_t dropped;
	/* upgrade: filled by the access handler for the upgrade handler */
	char *hub;
	enum hub_proto proto;
	struct auth_client client;
	/* a connect event in flight: the upgrade waits for the handler's answer */
	struct srv *srv;
	struct MHD_Connection *conn;
	int waiting; /* 1: the call is out, 2: answered */
	char conn_id[40];
	char accept[40];
	const char *pname;
	long cstatus;
	char *cbody, *cstate, *cerror;
	size_t clen;
	/* an MQTT client: the token's check is kept for its CONNECT */
	int mqtt, mqtt_auth_ok;
	char mqtt_why[160];
	json_t *mqtt_info;
};

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	struct srv *s = cls;
	struct req *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->uri = strdup(uri ? uri : "");
	buf_init(&r->body, s->e->max_body);
	return r;
}

static void req_free(struct req *r)
{
	if (!r)
		return;
	free(r->uri);
	buf_free(&r->body);
	free(r->hub);
	auth_client_release(&r->client);
	free(r->cbody);
	free(r->cstate);
	free(r->cerror);
	json_decref(r->mqtt_info);
	free(r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	req_free(*con_cls);
	*con_cls = NULL;
}

static size_t unescape_none(void *cls, struct MHD_Connection *c, char *s)
{
	return strlen(s);
}

static enum MHD_Result reply(struct MHD_Connection *c, int status, const char *ctype, const char *xms,
                             const char *versions, const char *body, size_t len)
{
	struct MHD_Response *resp =
	        MHD_create_response_from_buffer(len, (void *)(uintptr_t)body, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	if (ctype)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	if (xms && *xms)
		MHD_add_response_header(resp, "x-ms-error-code", xms);
	if (versions)
		MHD_add_response_header(resp, "api-supported-versions", versions);
	enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result reply_error(struct MHD_Connection *c, int status, const char *code, const char *msg)
{
	struct buf b;
	buf_init(&b, 0);
	rest_error_json(&b, code, msg, NULL);
	enum MHD_Result ret =
	        reply(c, status, "application/json; charset=utf-8", code, NULL, b.data ? b.data : "", b.len);
	buf_free(&b);
	return ret;
}

static int header_has_token(const char *v, const char *tok)
{
	size_t tl = strlen(tok);
	while (v && *v) {
		while (*v == ' ' || *v == ',' || *v == '\t')
			v++;
		size_t n = strcspn(v, ", \t");
		if (n == tl && strncasecmp(v, tok, tl) == 0)
			return 1;
		v += n;
	}
	return 0;
}

static void on_upgrade(void *cls, struct MHD_Connection *c, void *con_cls, const char *extra,
                       size_t extra_len, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
	struct srv *s = cls;
	struct req *r = con_cls;

	if (!r || !r->hub || s->e->nws >= s->e->max_connections) {
		MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
		return;
	}
	struct ws *w = ws_open(&s->ws, sock, urh, extra, extra_len);
	if (!w)
		return;
	if (r->mqtt) {
		struct mqtt_sess *ms = mqtt_sess_new(s->e, r->hub, &r->client, r->mqtt_auth_ok, r->mqtt_why,
		                                     r->mqtt_info, &ws_mqtt_io, w);
		r->mqtt_info = NULL;
		if (!ms) {
			ws_transport.close(w, 1011, "internal error");
			return;
		}
		ws_attach_mqtt(w, ms);
		return;
	}
	struct hub *h = hub_get(s->e->state, r->hub, 1);
	struct hub_conn_spec spec = {
		.id = r->conn_id[0] ? r->conn_id : NULL,
		.user = r->client.user,
		.proto = r->proto,
		.roles = (const char *const *)r->client.roles,
		.nroles = r->client.nroles,
		.groups = (const char *const *)r->client.groups,
		.ngroups = r->client.ngroups,
		.transport = w,
		.subprotocol = r->pname,
	};
	struct hub_conn *hc = h ? hub_conn_add(h, &spec) : NULL;
	if (!hc) {
		log_warn("could not add a connection to hub %s", r->hub);
		ws_transport.close(w, 1011, "internal error");
		return;
	}
	ws_attach(w, hc);
	hc->ev_seq = 1; /* 0 was the connect event's */
	hc->ev_state = r->cstate;
	r->cstate = NULL;
	log_info("client %s connected to hub %s (user %s, %s)", hc->id, h->name, hc->user ? hc->user : "-",
	         hc->proto == HUB_PROTO_SIMPLE ? "simple"
	         : hc->proto == HUB_PROTO_JSON ? PROTO_JSON_V1
	                                       : PROTO_JSON_RELIABLE_V1);
	proto_connected(hc);
	evh_connected(s->ev, hc);
}

/* The 101 that completes the upgrade. */
static enum MHD_Result upgrade_reply(struct srv *s, struct MHD_Connection *c, const char *accept,
                                     const char *pname)
{
	struct MHD_Response *resp = MHD_create_response_for_upgrade(on_upgrade, s);
	enum MHD_Result ret;

	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_UPGRADE, "websocket");
	MHD_add_response_header(resp, "Sec-WebSocket-Accept", accept);
	if (pname)
		MHD_add_response_header(resp, "Sec-WebSocket-Protocol", pname);
	ret = MHD_queue_response(c, MHD_HTTP_SWITCHING_PROTOCOLS, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result add_pair(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	json_t *o = cls, *a;
	char *k = NULL, *v = NULL;

	if (!key || !value || strcasecmp(key, "access_token") == 0 || strcasecmp(key, "Authorization") == 0)
		return MHD_YES;
	if (kind == MHD_GET_ARGUMENT_KIND) { /* the query reaches us still percent-encoded */
		k = pct_decode(key, strlen(key), 1, NULL);
		v = pct_decode(value, strlen(value), 1, NULL);
		if (!k || !v)
			goto out; /* not valid: left out */
		key = k;
		value = v;
	}
	if (!json_is_array(a = json_object_get(o, key))) {
		a = json_array();
		json_object_set_new(o, key, a);
	}
	json_array_append_new(a, json_string(value));
out:
	free(k);
	free(v);
	return MHD_YES;
}

static json_t *strv_json(char *const *v, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(v[i]));
	return a;
}

/* The connect event's body: claims, query, headers, subprotocols, client certificates. */
static char *connect_body(struct MHD_Connection *c, const struct req *r)
{
	json_t *o = json_object(), *claims = json_object(), *query = json_object(), *headers = json_object();
	json_t *protos = json_array();
	const char *sp = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-WebSocket-Protocol");
	char *s;

	if (r->client.user)
		json_object_set_new(claims, "sub", strv_json((char *const *)&r->client.user, 1));
	if (r->client.nroles)
		json_object_set_new(claims, "role", strv_json(r->client.roles, r->client.nroles));
	if (r->client.ngroups)
		json_object_set_new(claims, "webpubsub.group",
		                    strv_json(r->client.groups, r->client.ngroups));
	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, add_pair, query);
	MHD_get_connection_values(c, MHD_HEADER_KIND, add_pair, headers);
	while (sp && *sp) {
		while (*sp == ' ' || *sp == ',')
			sp++;
		size_t n = strcspn(sp, ", ");
		if (n)
			json_array_append_new(protos, json_stringn(sp, n));
		sp += n;
	}
	json_object_set_new(o, "claims", claims);
	json_object_set_new(o, "query", query);
	json_object_set_new(o, "headers", headers);
	json_object_set_new(o, "subprotocols", protos);
	json_object_set_new(o, "clientCertificates", json_array());
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

static void connect_done(void *arg, const struct evh_result *res)
{
	struct req *r = arg;

	r->cstatus = res->status;
	if (res->len && (r->cbody = malloc(res->len + 1)) != NULL) {
		memcpy(r->cbody, res->body, res->len);
		r->cbody[res->len] = '\0';
		r->clen = res->len;
	}
	if (res->state_set && res->state && res->state[0])
		r->cstate = strdup(res->state);
	if (res->error)
		r->cerror = strdup(res->error);
	r->waiting = 2;
	MHD_resume_connection(r->conn);
	r->srv->ws.mhd_dirty = 1;
}

static enum MHD_Result start_connect(struct srv *s, struct MHD_Connection *c, struct req *r,
                                     const char *accept, const char *pname)
{
	char *body = connect_body(c, r);
	struct evh_req rq = {
		.kind = EVH_CONNECT,
		.hub = r->hub,
		.connection = r->conn_id,
		.user = r->client.user,
		.content_type = "application/json; charset=utf-8",
		.body = body,
		.len = body ? strlen(body) : 0,
	};

	hub_make_id(r->conn_id, sizeof r->conn_id);
	snprintf(r->accept, sizeof r->accept, "%s", accept);
	r->pname = pname;
	r->srv = s;
	r->conn = c;
	if (!body || !r->conn_id[0] || evh_call(s->ev, &rq, connect_done, r) < 0) {
		free(body);
		return reply_error(c, 503, "ServiceUnavailable", "Too many event handler calls in flight");
	}
	free(body);
	r->waiting = 1;
	MHD_suspend_connection(c);
	return MHD_YES;
}

/* Append the strings of a JSON array to *v (bounded). */
static int strv_append(char ***v, size_t *n, json_t *a, size_t max)
{
	for (size_t i = 0; json_is_array(a) && i < json_array_size(a); i++) {
		const char *x = json_string_value(json_array_get(a, i));
		char **nv;
		if (!x || *n >= max)
			return -1;
		if (!(nv = realloc(*v, (*n + 1) * sizeof(*nv))) || !(nv[*n] = strdup(x))) {
			if (nv)
				*v = nv;
			return -1;
		}
		*v = nv;
		(*n)++;
	}
	return 0;
}

/* The handler answered the connect event: accept as it says, or refuse with its status. */
static enum MHD_Result finish_connect(struct srv *s, struct MHD_Connection *c, struct req *r)
{
	json_t *j = NULL, *v;

	r->waiting = 0;
	if (r->cstatus >= 400 && r->cstatus < 500) {
		log_info("client refused on hub %s by the event handler: %ld", r->hub, r->cstatus);
		return reply_error(c, (int)r->cstatus,
		                   r->cstatus == 401   ? "Unauthorized"
		                   : r->cstatus == 403 ? "Forbidden"
		                                       : "BadRequest",
		                   "The event handler refused the connection.");
	}
	if (r->cstatus < 200 || r->cstatus >= 300) {
		log_warn("connect event on hub %s failed: %s", r->hub,
		         r->cerror    ? r->cerror
		         : r->cstatus ? "the event handler answered with an error"
		                      : "no answer");
		return reply_error(c, 500, "InternalServerError", "The event handler failed.");
	}
	if (r->cstatus == 200 && r->clen > 0 && !(j = json_loads(r->cbody, JSON_DECODE_ANY, NULL))) {
		log_warn("connect event on hub %s: the answer is not JSON", r->hub);
		return reply_error(c, 500, "InternalServerError", "The event handler's answer is not JSON.");
	}
	if (json_is_object(j)) {
		/* names are matched case-insensitively, as the service's runtime does */
		const char *k;
		json_object_foreach(j, k, v)
		{
			if (strcasecmp(k, "userId") == 0 && json_is_string(v)) {
				free(r->client.user);
				r->client.user = strdup(json_string_value(v));
			} else if (strcasecmp(k, "groups") == 0) {
				if (strv_append(&r->client.groups, &r->client.ngroups, v,
				                EMU_CONN_GROUPS_MAX) < 0)
					goto bad;
			} else if (strcasecmp(k, "roles") == 0) {
				if (strv_append(&r->client.roles, &r->client.nroles, v, EMU_ROLES_MAX) < 0)
					goto bad;
			} else if (strcasecmp(k, "subprotocol") == 0 && json_is_string(v) &&
			           json_string_length(v)) {
				const char *sp = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
				                                             "Sec-WebSocket-Protocol");
				if (!sp || !header_has_token(sp, json_string_value(v)) ||
				    proto_choose(json_string_value(v), &r->proto, &r->pname) < 0)
					goto bad;
			}
		}
	}
	json_decref(j);
	return upgrade_reply(s, c, r->accept, r->pname);
bad:
	json_decref(j);
	log_warn("connect event on hub %s: the answer names too many groups or roles, or a subprotocol the "
	         "client did not offer",
	         r->hub);
	return reply_error(c, 500, "InternalServerError", "The event handler's answer cannot be applied.");
}

/* What every WebSocket endpoint checks first: the hub in the path (into r->hub) and an upgrade request
 * with a key, of version 13 (else 426 naming it, as RFC 6455 says). 1 when they pass (*key set); 0 when
 * the answer is queued, its result in *ret. */
static int ws_request_ok(struct MHD_Connection *c, struct req *r, const char *hubraw, const char **key,
                         enum MHD_Result *ret)
{
	r->hub = pct_decode(hubraw, strlen(hubraw), 0, NULL);
	if (!r->hub || !ops_valid_hub(r->hub)) {
		*ret = reply_error(c, 400, "InvalidParameter", "Invalid hub name");
		return 0;
	}
	const char *upg = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_UPGRADE);
	const char *conn = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONNECTION);
	const char *ver = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-WebSocket-Version");
	*key = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-WebSocket-Key");
	if (!header_has_token(upg, "websocket") || !header_has_token(conn, "upgrade") || !*key) {
		*ret = reply_error(c, 400, "BadRequest", "A WebSocket upgrade request is expected");
		return 0;
	}
	if (!ver || strcmp(ver, "13") != 0) {
		struct MHD_Response *resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
		*ret = MHD_NO;
		if (resp) {
			MHD_add_response_header(resp, "Sec-WebSocket-Version", "13");
			*ret = MHD_queue_response(c, 426, resp);
			MHD_destroy_response(resp);
		}
		return 0;
	}
	return 1;
}

/* The client's access token, from the query's access_token or an Authorization: Bearer header; a copy
 * (secret_free it), or NULL. */
static char *client_token(struct MHD_Connection *c)
{
	const char *qt = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "access_token");
	const char *authz = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);

	if (qt)
		return pct_decode(qt, strlen(qt), 1, NULL);
	if (authz && strncasecmp(authz, "Bearer ", 7) == 0)
		return strdup(authz + 7);
	return NULL;
}

/* GET /clients/mqtt/hubs/{hub} with Upgrade and subprotocol mqtt: the token is checked now, but a
 * bad one is answered in the CONNACK (not authorized), as MQTT clients expect. */
static enum MHD_Result handle_mqtt(struct srv *s, struct MHD_Connection *c, struct req *r, const char *url)
{
	char accept[40];
	const char *hubraw = url + strlen(MQTT_CLIENT_PREFIX);
	const char *key;
	char *tok;
	enum MHD_Result ret;

	if (!ws_request_ok(c, r, hubraw, &key, &ret))
		return ret;
	const char *sp = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-WebSocket-Protocol");
	if (!header_has_token(sp, MQTT_SUBPROTOCOL))
		return reply_error(c, 400, "UnsupportedSubprotocol",
		                   "MQTT clients offer the WebSocket subprotocol mqtt");
	tok = client_token(c);
	const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
	r->mqtt_auth_ok = auth_client_at(s->e, tok, host, MQTT_CLIENT_PREFIX, r->hub, time(NULL), &r->client,
	                                 r->mqtt_why, sizeof r->mqtt_why) == 0;
	secret_free(tok);
	if (s->e->nws >= s->e->max_connections) {
		log_warn("client refused on hub %s: %zu connections already", r->hub, s->e->nws);
		return reply_error(c, 503, "ServiceUnavailable", "Too many connections");
	}
	if (ws_accept_key(key, accept, sizeof(accept)) < 0)
		return reply_error(c, 400, "BadRequest", "Invalid Sec-WebSocket-Key");
	json_t *q = json_object(), *hd = json_object();
	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, add_pair, q);
	MHD_get_connection_values(c, MHD_HEADER_KIND, add_pair, hd);
	r->mqtt_info = json_pack("{s:o, s:o}", "query", q, "headers", hd);
	r->mqtt = 1;
	return upgrade_reply(s, c, accept, MQTT_SUBPROTOCOL);
}

static enum MHD_Result handle_client(struct srv *s, struct MHD_Connection *c, struct req *r, const char *url,
                                     const char *method)
{
	char why[160], accept[40];
	const char *hubraw = url + strlen(CLIENT_PREFIX);
	char *tok = NULL;
	enum MHD_Result ret;

	if (strcmp(method, "GET") != 0)
		return reply_error(c, 405, "MethodNotAllowed",
		                   "The client endpoint takes GET with Upgrade: websocket");
	const char *key;

	if (!ws_request_ok(c, r, hubraw, &key, &ret))
		return ret;
	tok = client_token(c);
	const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
	int arc = auth_client(s->e, tok, host, r->hub, time(NULL), &r->client, why, sizeof(why));
	secret_free(tok);
	if (arc < 0) {
		log_info("client refused on hub %s: %s", r->hub, why);
		return reply_error(c, 401, "Unauthorized", why);
	}
	if (s->e->nws >= s->e->max_connections) {
		log_warn("client refused on hub %s: %zu connections already", r->hub, s->e->nws);
		return reply_error(c, 503, "ServiceUnavailable", "Too many connections");
	}
	const char *pname = NULL;
	if (proto_choose(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-WebSocket-Protocol"), &r->proto,
	                 &pname) < 0)
		return reply_error(c, 400, "UnsupportedSubprotocol",
		                   "None of the offered subprotocols is supported");
	if (ws_accept_key(key, accept, sizeof(accept)) < 0)
		return reply_error(c, 400, "BadRequest", "Invalid Sec-WebSocket-Key");
	r->pname = pname; /* the connect event's answer may change it */
	if (evh_wants(s->ev, r->hub, EVH_CONNECT, NULL))
		return start_connect(s, c, r, accept, pname);
	return upgrade_reply(s, c, accept, pname);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size,
                                  void **con_cls)
{
	struct srv *s = cls;
	struct req *r = *con_cls;

	if (!r)
		return MHD_NO;
	if (!r->started) {
		r->started = 1;
		if (strncmp(url, CLIENT_PREFIX, strlen(CLIENT_PREFIX)) == 0)
			return handle_client(s, c, r, url, method);
		if (s->e->state->insp && insp_http_match(url))
			return insp_http_handle(
			        s->e->state->insp, s->e->state, c, url, method, r->uri,
			        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST),
			        &s->ws.mhd_dirty);
		if (strncmp(url, MQTT_CLIENT_PREFIX, strlen(MQTT_CLIENT_PREFIX)) == 0) {
			if (strcmp(method, "GET") != 0)
				return reply_error(
				        c, 405, "MethodNotAllowed",
				        "The MQTT client endpoint takes GET with Upgrade: websocket");
			return handle_mqtt(s, c, r, url);
		}
		return MHD_YES;
	}
	if (r->waiting)
		return r->waiting == 2 ? finish_connect(s, c, r) : MHD_YES;
	if (*upload_size) {
		/* Past the limit the body is read and dropped, so that the client gets its 413 instead of
		 * a reset; past EMU_DISCARD_MAX the answer goes out at once and the connection closes. */
		if (!r->too_big && buf_append(&r->body, upload, *upload_size) < 0)
			r->too_big = 1;
		if (r->too_big)
			r->dropped += *upload_size;
		*upload_size = 0;
		if (r->too_big && !r->answered && r->dropped > EMU_DISCARD_MAX) {
			r->answered = 1;
			return reply_error(c, 413, "PayloadTooLarge", "The request body is too large");
		}
		return MHD_YES;
	}
	if (r->answered)
		return MHD_YES;
	if (r->too_big)
		return reply_error(c, 413, "PayloadTooLarge", "The request body is too large");

	struct rest_req rq = {
		.method = method,
		.raw_uri = r->uri,
		.host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST),
		.authorization =
		        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
		.content_type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE),
		.body = r->body.data ? r->body.data : "",
		.len = r->body.len,
	};
	struct rest_resp rs;
	rest_handle(s->e, &rq, &rs, time(NULL));
	char st[8];
	snprintf(st, sizeof(st), "%d", rs.status);
	/* The path only: the query may carry user data, never a secret, but keep the line short. */
	size_t pl = strcspn(r->uri, "?");
	char path[256];
	snprintf(path, sizeof(path), "%.*s", (int)(pl < 255 ? pl : 255), r->uri);
	log_kv(WLOG_INFO, "request", "method", method, "path", path, "op", rs.op_label, "status", st, NULL);
	insp_rest(s->e->state->insp, method, path, rs.status);
	enum MHD_Result ret = reply(c, rs.status, rs.content_type, rs.error_code, rs.api_versions,
	                            rs.body.data ? rs.body.data : "", rs.body.len);
	rest_resp_release(&rs);
	return ret;
}

struct srv *srv_new(struct emu *e, int lfd)
{
	struct srv *s = calloc(1, sizeof(*s));
	sigset_t set;

	if (!s) {
		close(lfd);
		return NULL;
	}
	s->e = e;
	s->lfd = lfd;
	s->sigfd = -1;
	s->epfd = -1;
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s->epfd < 0) {
		log_err("epoll_create1: %s", strerror(errno));
		goto bad;
	}
	s->ws.epfd = s->epfd;
	s->ws.e = e;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	s->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (s->sigfd < 0) {
		log_err("signalfd: %s", strerror(errno));
		goto bad;
	}
	s->d = MHD_start_daemon(
	        MHD_USE_EPOLL | MHD_ALLOW_UPGRADE | MHD_ALLOW_SUSPEND_RESUME, 0, NULL, NULL, on_request, s,
	        MHD_OPTION_LISTEN_SOCKET, lfd, MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
	        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_UNESCAPE_CALLBACK, unescape_none,
	        NULL, MHD_OPTION_CONNECTION_LIMIT,
	        (unsigned)(e->max_connections + EMU_HTTP_EXTRA_CONNECTIONS), MHD_OPTION_CONNECTION_TIMEOUT,
	        (unsigned)EMU_HANDSHAKE_TIMEOUT_S, MHD_OPTION_END);
	if (!s->d) {
		log_err("could not start the HTTP server");
		goto bad;
	}
	s->lfd = -1; /* MHD owns it now */
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_EPOLL_FD);
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &tag_mhd };
	if (!di || epoll_ctl(s->epfd, EPOLL_CTL_ADD, di->epoll_fd, &ev) < 0) {
		log_err("could not watch the HTTP server");
		goto bad;
	}
	ev.data.ptr = &tag_sig;
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->sigfd, &ev) < 0)
		goto bad;
	if (e->inspector) {
		if (!(e->state->insp = insp_new(&e->insp_limits)))
			goto bad;
		const struct insp_limits *il = insp_limits(e->state->insp);
		log_info("inspector at %s" INSP_PREFIX "/ (%zu entries, %zu watchers, %zu-byte backlogs)",
		         e->endpoint, il->entries, il->watchers, il->backlog);
	}
	if (e->nevent_specs > 0) {
		char why[200];
		if (!(s->ev = evh_new(e, s->epfd, e->event_timeout_ms, e->event_max_inflight)))
			goto bad;
		for (size_t i = 0; i < e->nevent_specs; i++)
			if (evh_add(s->ev, e->event_specs[i], why, sizeof(why)) < 0) {
				log_err("%s", why);
				goto bad;
			}
		e->state->events = s->ev;
		e->state->on_gone = evh_on_gone;
		e->state->on_gone_arg = s->ev;
		log_info("%zu event handler(s); calls time out after %ld ms", evh_count(s->ev),
		         e->event_timeout_ms);
	}
	return s;
bad:
	srv_free(s);
	return NULL;
}

int srv_run(struct srv *s)
{
	struct epoll_event evs[64];

	for (;;) {
		int timeout = -1;
		MHD_UNSIGNED_LONG_LONG mt;
		if (MHD_get_timeout(s->d, &mt) == MHD_YES)
			timeout = mt > 1000 ? 1000 : (int)mt;
		int wt = ws_flush(&s->ws);
		if (s->e->state->insp) {
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			int it = insp_tick(s->e->state->insp,
			                   (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u);
			if (timeout < 0 || it < timeout)
				timeout = it;
		}
		int et = evh_timeout(s->ev);
		if (et >= 0 && (timeout < 0 || et < timeout))
			timeout = et;
		if (s->ws.mhd_dirty) {
			/* MHD closes sockets given back after an upgrade only when it runs */
			s->ws.mhd_dirty = 0;
			MHD_run(s->d);
		}
		if (wt >= 0 && (timeout < 0 || wt < timeout))
			timeout = wt;
		int n = epoll_wait(s->epfd, evs, 64, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_err("epoll_wait: %s", strerror(errno));
			return -1;
		}
		int run_mhd = n == 0;
		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;
			if (p == &tag_sig) {
				struct signalfd_siginfo si;
				if (read(s->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
					log_info("signal %u: shutting down", si.ssi_signo);
					return 0;
				}
			} else if (p == &tag_mhd) {
				run_mhd = 1;
			} else if (ws_is(p)) {
				ws_on_events(p, evs[i].events);
			} else if (evh_is(p)) {
				evh_on_events(p, evs[i].events);
			}
		}
		evh_run(s->ev);
		if (run_mhd || timeout == 0)
			MHD_run(s->d);
	}
}

void srv_free(struct srv *s)
{
	if (!s)
		return;
	ws_shutdown(&s->ws); /* the disconnected events it makes are not sent: evh_free ends them */
	if (s->ev) {
		s->e->state->on_gone = NULL;
		s->e->state->events = NULL;
		evh_free(s->ev); /* a connect still waiting is answered 500 and resumed */
		s->ev = NULL;
	}
	/* every event stream ends: their suspended connections are resumed before MHD stops */
	insp_shutdown(s->e->state->insp);
	if (s->d) {
		MHD_run(s->d); /* lets MHD finish the upgraded connections closed above */
		MHD_stop_daemon(s->d);
	}
	insp_free(s->e->state->insp); /* after MHD freed the streams' watchers */
	s->e->state->insp = NULL;
	if (s->lfd >= 0)
		close(s->lfd);
	if (s->sigfd >= 0)
		close(s->sigfd);
	if (s->epfd >= 0)
		close(s->epfd);
	free(s);
}
