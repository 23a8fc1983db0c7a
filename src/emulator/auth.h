/* auth.h: the emulator's checks of REST tokens (aud = the request URL) and client tokens. */
#ifndef EMU_AUTH_H
#define EMU_AUTH_H

#include <stddef.h>
#include <time.h>

#include "emu.h"

/* Check "Authorization: Bearer <jwt>" of a REST request: HS256 with the key; aud equal to
 * "http://" + (e->hostport or the Host header) + raw_uri (the request target as received); exp in
 * the future; nbf (when present) not in the future. Returns 0, or -1 with a reason in why (never
 * containing the token). */
int auth_rest(const struct emu *e, const char *authorization, const char *host, const char *raw_uri,
              time_t now, char *why, size_t whylen);

/* Test mode for the gateway's Entra ID support (--entra-issuer-key-file): REST requests may also carry
 * a bearer token of the fake token service (tests/integration/lib/fake-token.js): HS256 with this
 * key, aud "https://webpubsub.azure.com" (a string, or an array holding it), exp in the future, nbf
 * (when present) not in the future. Real Entra ID tokens are RS256, checked against the tenant's JWKS
 * (https://login.microsoftonline.com/{tenant}/discovery/v2.0/keys) with iss and the caller's role
 * checked too; the emulator does none of that. key NULL turns the mode off. The key is copied
 * (process-wide setting). Returns 0 or -1 (out of memory). */
int auth_set_entra_issuer(const char *key, size_t keylen);
/* disable_local_auth: refuse REST tokens signed with the access key, as the service does when
 * local auth is disabled (with the Entra ID test mode, proves that a caller used Entra ID). */
void auth_set_local_auth(int enabled);

struct auth_client {
	char *user; /* sub, NULL when absent */
	char **roles;
	size_t nroles;
	char **groups; /* webpubsub.group */
	size_t ngroups;
};

/* Check a client access token for the hub (decoded name): signature, exp, and aud whose host and
 * path are e->hostport or host, and "/client/hubs/<hub>" (the scheme is not checked). Fills out
 * (release with auth_client_release). Returns 0 or -1 with a reason in why. */
int auth_client(const struct emu *e, const char *token, const char *host, const char *hub, time_t now,
                struct auth_client *out, char *why, size_t whylen);
/* The same for another client endpoint: aud's path is prefix + hub (prefix "/client/hubs/" or
 * "/clients/mqtt/hubs/"). */
int auth_client_at(const struct emu *e, const char *token, const char *host, const char *prefix,
                   const char *hub, time_t now, struct auth_client *out, char *why, size_t whylen);
void auth_client_release(struct auth_client *a); /* accepts NULL */

#endif
