/* token.c: client access tokens and WebSocket URLs for Web PubSub clients, signed with the key. */
#include <config.h>

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "buf.h"
#include "jwt.h"
#include "pct.h"
#include "secret.h"
#include "token.h"

#define TOKEN_DEFAULT_MINUTES 60

const char *token_client_path(enum client_type t)
{
	switch (t) {
	case CLIENT_MQTT: return "clients/mqtt/hubs/";
	case CLIENT_SOCKETIO: return "clients/socketio/hubs/";
	case CLIENT_DEFAULT: break;
	}
	return "client/hubs/";
}

int token_client_type_parse(const char *s, enum client_type *out)
{
	if (s == NULL)
		return -1;
	if (strcasecmp(s, "Default") == 0)
		*out = CLIENT_DEFAULT;
	else if (strcasecmp(s, "MQTT") == 0)
		*out = CLIENT_MQTT;
	else if (strcasecmp(s, "SocketIO") == 0)
		*out = CLIENT_SOCKETIO;
	else
		return -1;
	return 0;
}

/* prefix + "/" + client path + encoded hub, into b. */
static int client_url(struct buf *b, const char *prefix, size_t prefixlen, enum client_type t,
                      const char *hub)
{
	if (buf_append(b, prefix, prefixlen) < 0 || buf_puts(b, "/") < 0 ||
	    buf_puts(b, token_client_path(t)) < 0 || pct_encode(b, hub, strlen(hub)) < 0)
		return -1;
	return 0;
}

/* The token's audience: the endpoint (trailing slashes dropped) + "/" + client path + encoded hub. */
static int client_aud(struct buf *b, const char *endpoint, enum client_type t, const char *hub)
{
	size_t elen = strlen(endpoint);

	while (elen > 0 && endpoint[elen - 1] == '/')
		elen--;
	return client_url(b, endpoint, elen, t, hub);
}

static json_t *string_array(const char *const *v, size_t n)
{
	json_t *a = json_array();
	size_t i;

	if (a == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		if (v[i] == NULL || json_array_append_new(a, json_string(v[i])) < 0) {
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

/* The claims that say who the client is: sub, role, webpubsub.group (each only when given). */
static int set_identity(json_t *c, const struct client_token_req *r)
{
	if (r->user_id != NULL && json_object_set_new(c, "sub", json_string(r->user_id)) < 0)
		return -1;
	if (r->nroles > 0 && json_object_set_new(c, "role", string_array(r->roles, r->nroles)) < 0)
		return -1;
	if (r->ngroups > 0 &&
	    json_object_set_new(c, "webpubsub.group", string_array(r->groups, r->ngroups)) < 0)
		return -1;
	return 0;
}

char *token_client_claims(const char *endpoint, const char *hub, const struct client_token_req *r, time_t now)
{
	struct buf aud;
	json_t *c = NULL;
	char *out = NULL;
	long minutes = r->minutes > 0 ? r->minutes : TOKEN_DEFAULT_MINUTES;

	if (endpoint == NULL || hub == NULL)
		return NULL;
	buf_init(&aud, WPS_URL_MAX);
	if (client_aud(&aud, endpoint, r->type, hub) < 0)
		goto out;
	c = json_object();
	if (c == NULL || json_object_set_new(c, "aud", json_string(aud.data)) < 0 ||
	    json_object_set_new(c, "iat", json_integer((json_int_t)now)) < 0 ||
	    json_object_set_new(c, "exp", json_integer((json_int_t)now + (json_int_t)minutes * 60)) < 0)
		goto out;
	if (set_identity(c, r) < 0)
		goto out;
	out = json_dumps(c, JSON_COMPACT | JSON_PRESERVE_ORDER);
out:
	json_decref(c);
	buf_free(&aud);
	return out;
}

char *token_service_sign(const char *endpoint, const char *hub, const struct client_token_req *r, time_t now,
                         const char *kid, const void *key, size_t keylen)
{
	struct buf aud;
	json_t *c = NULL, *h = NULL;
	char *claims = NULL, *header = NULL, *tok = NULL;
	long minutes = r->minutes > 0 ? r->minutes : TOKEN_DEFAULT_MINUTES;

	if (endpoint == NULL || hub == NULL || kid == NULL)
		return NULL;
	buf_init(&aud, WPS_URL_MAX);
	if (client_aud(&aud, endpoint, r->type, hub) < 0)
		goto out;
	c = json_object();
	if (c == NULL || json_object_set_new(c, "nbf", json_integer((json_int_t)now)) < 0 ||
	    json_object_set_new(c, "exp", json_integer((json_int_t)now + (json_int_t)minutes * 60)) < 0 ||
	    json_object_set_new(c, "iat", json_integer((json_int_t)now)) < 0 ||
	    json_object_set_new(c, "aud", json_string(aud.data)) < 0)
		goto out;
	if (set_identity(c, r) < 0)
		goto out;
	h = json_pack("{s:s, s:s, s:s, s:s}", "alg", "HS256", "kid", kid, "typ", "JWT", "cty", "JWT");
	if (h == NULL || (claims = json_dumps(c, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL ||
	    (header = json_dumps(h, JSON_COMPACT | JSON_PRESERVE_ORDER)) == NULL)
		goto out;
	tok = jwt_sign_header(header, strlen(header), claims, strlen(claims), key, keylen);
out:
	json_decref(c);
	json_decref(h);
	free(claims);
	free(header);
	buf_free(&aud);
	return tok;
}

json_t *token_client_response(const char *endpoint, const char *hub, const struct client_token_req *r,
                              time_t now, const void *key, size_t keylen)
{
	struct buf url;
	char *claims = NULL, *tok = NULL;
	const char *host;
	json_t *res = NULL;
	size_t base_len, hlen;
	int tls;

	buf_init(&url, 0);
	if (endpoint == NULL || hub == NULL)
		goto out;
	if (strncasecmp(endpoint, "https://", 8) == 0) {
		tls = 1;
		host = endpoint + 8;
	} else if (strncasecmp(endpoint, "http://", 7) == 0) {
		tls = 0;
		host = endpoint + 7;
	} else {
		goto out;
	}
	claims = token_client_claims(endpoint, hub, r, now);
	if (claims == NULL)
		goto out;
	tok = jwt_sign(claims, strlen(claims), key, keylen);
	if (tok == NULL)
		goto out;
	hlen = strlen(host);
	while (hlen > 0 && host[hlen - 1] == '/')
		hlen--;
	if (buf_puts(&url, tls ? "wss://" : "ws://") < 0 || client_url(&url, host, hlen, r->type, hub) < 0)
		goto out;
	base_len = url.len;
	if (buf_puts(&url, "?access_token=") < 0 || buf_puts(&url, tok) < 0)
		goto out;
	res = json_object();
	if (res == NULL || json_object_set_new(res, "token", json_string(tok)) < 0 ||
	    json_object_set_new(res, "baseUrl", json_stringn(url.data, base_len)) < 0 ||
	    json_object_set_new(res, "url", json_string(url.data)) < 0) {
		json_decref(res);
		res = NULL;
	}
out:
	if (url.data != NULL)
		OPENSSL_cleanse(url.data, url.len);
	buf_free(&url);
	secret_free(tok);
	free(claims);
	return res;
}

/* Strictly decimal, 1..INT_MAX. */
static int parse_minutes(const char *s, long *out)
{
	long v = 0;

	if (*s == '\0')
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
		if (v > INT_MAX)
			return -1;
	}
	if (v < 1)
		return -1;
	*out = v;
	return 0;
}

int token_req_from_ops(const struct ops_req *q, struct client_token_req *r, struct ops_err *e)
{
	const char **roles = NULL, **groups = NULL;
	size_t i, nr = 0, ng = 0;

	memset(r, 0, sizeof(*r));
	r->minutes = TOKEN_DEFAULT_MINUTES;
	r->type = CLIENT_DEFAULT;
	for (i = 0; i < q->nquery; i++) {
		if (strcmp(q->query[i].key, "role") == 0)
			nr++;
		else if (strcmp(q->query[i].key, "group") == 0)
			ng++;
	}
	if (nr > 0 && (roles = calloc(nr, sizeof(*roles))) == NULL)
		goto oom;
	if (ng > 0 && (groups = calloc(ng, sizeof(*groups))) == NULL)
		goto oom;
	nr = ng = 0;
	for (i = 0; i < q->nquery; i++) {
		const char *k = q->query[i].key, *v = q->query[i].val;

		if (strcmp(k, "role") == 0) {
			roles[nr++] = v;
		} else if (strcmp(k, "group") == 0) {
			groups[ng++] = v;
		} else if (strcmp(k, "userId") == 0) {
			if (r->user_id == NULL)
				r->user_id = v;
		} else if (strcmp(k, "minutesToExpire") == 0) {
			if (parse_minutes(v, &r->minutes) < 0) {
				ops_fail(e, 400, "InvalidParameter",
				         "minutesToExpire must be an integer of at least 1");
				goto bad;
			}
		} else if (strcmp(k, "clientType") == 0) {
			if (token_client_type_parse(v, &r->type) < 0) {
				ops_fail(e, 400, "InvalidParameter", "clientType must be Default or MQTT");
				goto bad;
			}
		}
	}
	r->roles = roles;
	r->nroles = nr;
	r->groups = groups;
	r->ngroups = ng;
	return 0;
oom:
	ops_fail(e, 500, "InternalError", "Out of memory");
bad:
	free(roles);
	free(groups);
	memset(r, 0, sizeof(*r));
	return -1;
}

void token_req_release(struct client_token_req *r)
{
	if (r == NULL)
		return;
	free((void *)(uintptr_t)r->roles);
	free((void *)(uintptr_t)r->groups);
	r->roles = NULL;
	r->groups = NULL;
	r->nroles = 0;
	r->ngroups = 0;
}
