/* token.h: client access tokens and URLs for WebSocket clients, signed locally with the key. */
#ifndef WPS_TOKEN_H
#define WPS_TOKEN_H

#include <stddef.h>
#include <time.h>
#include <jansson.h>
#include "ops.h"

enum client_type { CLIENT_DEFAULT, CLIENT_MQTT, CLIENT_SOCKETIO };

struct client_token_req {
	const char *user_id;      /* sub; NULL for none */
	const char *const *roles; /* role claim (array), omitted when nroles == 0 */
	size_t nroles;
	const char *const *groups; /* webpubsub.group claim (array), omitted when ngroups == 0 */
	size_t ngroups;
	long minutes; /* lifetime; default 60 */
	enum client_type type;
};

/* "client/hubs/", "clients/mqtt/hubs/", "clients/socketio/hubs/" */
const char *token_client_path(enum client_type t);
/* Parse a clientType value (Default, MQTT, SocketIO; case-insensitive). 0 or -1. */
int token_client_type_parse(const char *s, enum client_type *out);

/* The claims JSON exactly as the SDKs order them: aud, iat, exp, sub?, role?, webpubsub.group?
 * aud = endpoint (http(s)://host[:port], no trailing slash) + "/" + path + hub. New string. */
char *token_client_claims(const char *endpoint, const char *hub, const struct client_token_req *r,
                          time_t now);

/* Sign a client token and build {"token","baseUrl","url"} with baseUrl = ws(s)://host[:port]/<path><hub>
 * and url = baseUrl + "?access_token=" + token. Returns a new reference or NULL. */
json_t *token_client_response(const char *endpoint, const char *hub, const struct client_token_req *r,
                              time_t now, const void *key, size_t keylen);

/* A client token as the service's GenerateClientToken issues it (tests/vectors/service/
 * python-legacy.json): header {"alg":"HS256","kid":kid,"typ":"JWT","cty":"JWT"}; claims nbf, exp, iat,
 * aud in that order (nbf = iat = now, aud as token_client_claims), then sub, role and
 * webpubsub.group when given. Returns a new string or NULL. */
char *token_service_sign(const char *endpoint, const char *hub, const struct client_token_req *r, time_t now,
                         const char *kid, const void *key, size_t keylen);

/* Fill r from a GenerateClientToken request's query (userId, role*, group*, minutesToExpire,
 * clientType). The arrays are allocated (free with token_req_release); strings are borrowed from q. */
int token_req_from_ops(const struct ops_req *q, struct client_token_req *r, struct ops_err *e);
void token_req_release(struct client_token_req *r);

#endif
