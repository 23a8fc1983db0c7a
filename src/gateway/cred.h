/* cred.h: the upstream credential (access key or connection string) and the Authorization it yields. */
#ifndef WPS_GW_CRED_H
#define WPS_GW_CRED_H

#include <stddef.h>
#include <time.h>

struct cfg;

#define CRED_FILE_MAX 8192 /* bytes in a key or connection string file */

struct cred {
	char *key; /* the access key (wiped by cred_free) */
	size_t keylen;
	char *endpoint; /* the effective upstream endpoint, scheme://host[:port], no trailing slash */
};

/* Read the credential that cfg names. A name without '/' is looked up in $CREDENTIALS_DIRECTORY.
 * A file that group or others may read or write is refused. Returns 0 and a new struct in *out
 * (release with cred_free), or -1 with a message in err naming the file (never its content). */
int cred_load(const struct cfg *cfg, struct cred **out, char *err, size_t errlen);
void cred_free(struct cred *c); /* accepts NULL; cleanses the key */

/* Read a secret file into a new NUL-terminated string with trailing whitespace trimmed (the file
 * rules above). *len receives its length. Returns NULL with err filled. For cred_load and tests. */
char *cred_read_file(const char *name, size_t *len, char *err, size_t errlen);
/* The same reader for any one-line secret file of at most max bytes. flags: CRED_FILE_PRIVATE refuses a
 * file group or others may read or write; CRED_FILE_NO_CR refuses a '\r' inside the line too. Errors
 * read "credential file PATH: ..." when label is "credential", "PATH: ..." (200 bytes of PATH at most)
 * when label is NULL. */
#define CRED_FILE_PRIVATE 0x1u
#define CRED_FILE_NO_CR   0x2u
char *cred_read_bounded(const char *name, size_t max, unsigned flags, const char *label, size_t *len,
                        char *err, size_t errlen);
/* Free a string from cred_read_file, wiping it first. Accepts NULL. */
void cred_wipe_free(char *s);

/* The Authorization header value for one upstream attempt to the exact URL url (scheme, host, path
 * and query): "Bearer <HS256 JWT>" with aud = url and exp = now + WPS_JWT_LIFETIME_S. New string
 * (wipe with cred_wipe_free), NULL on failure. This is the one place a future Entra ID credential
 * plugs in. */
char *cred_authorization(const struct cred *c, const char *url, time_t now);

#endif
