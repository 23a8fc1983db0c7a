/* connstr.h: Web PubSub connection strings ("Endpoint=...;AccessKey=...;Version=1.0;Port=..."). */
#ifndef WPS_CONNSTR_H
#define WPS_CONNSTR_H

#include <stddef.h>

struct connstr {
	char *endpoint;   /* scheme://host[:port], no trailing slash; Port= appended when given */
	char *access_key; /* as given; wiped by connstr_free */
};

/* Parse s. Returns 0, or -1 with a reason in err (never containing the key). On success the
 * caller owns out's strings and releases them with connstr_free. */
int connstr_parse(const char *s, struct connstr *out, char *err, size_t errlen);
void connstr_free(struct connstr *c); /* accepts NULL; cleanses the key */

#endif
