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

struct auth_client {
	char   *user;      /* sub, NULL when absent */
	char  **roles;
	size_t  nroles;
	char  **groups;    /* webpubsub.group */
	size_t  ngroups;
};

/* Check a client access token for the hub (decoded name): signature, exp, and aud whose host and
 * path are e->hostport or host, and "/client/hubs/<hub>" (the scheme is not checked). Fills out
 * (release with auth_client_release). Returns 0 or -1 with a reason in why. */
int  auth_client(const struct emu *e, const char *token, const char *host, const char *hub,
                 time_t now, struct auth_client *out, char *why, size_t whylen);
void auth_client_release(struct auth_client *a);   /* accepts NULL */

#endif
