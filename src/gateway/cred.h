/* cred.h: the upstream credential (access key or connection string) and the Authorization it yields. */
#ifndef WPS_GW_CRED_H
#define WPS_GW_CRED_H

#include <stddef.h>
#include <time.h>

struct cfg;

struct cred {
	char *key; /* the access key (wiped by cred_free) */
	size_t keylen;
	char *endpoint; /* the effective upstream endpoint, scheme://host[:port], no trailing slash */
	char *key2;     /* events.secondary_key_file: the resource's other key, for ce-signature only */
	size_t key2len;
};

/* Read the credential that cfg names. A name without '/' is looked up in $CREDENTIALS_DIRECTORY.
 * A file that group or others may read or write is refused. Returns 0 and a new struct in *out
 * (release with cred_free), or -1 with a message in err naming the file (never its content). */
int cred_load(const struct cfg *cfg, struct cred **out, char *err, size_t errlen);
/* The same for cfg->upstreams[i] (cred_load: upstream 0). events.secondary_key_file goes with
 * upstream 0 only. */
int cred_load_upstream(const struct cfg *cfg, size_t i, struct cred **out, char *err, size_t errlen);
void cred_free(struct cred *c); /* accepts NULL; cleanses the key */

/* The Authorization header value for one upstream attempt to the exact URL url (scheme, host, path
 * and query): "Bearer <HS256 JWT>" with aud = url and exp = now + WPS_JWT_LIFETIME_S. New string
 * (wipe with secret_free), NULL on failure. With Entra ID the bearer token comes from entra.h instead. */
char *cred_authorization(const struct cred *c, const char *url, time_t now);

#endif
