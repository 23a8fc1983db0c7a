/* admit.h: who may use the gateway and how much: the admission hook (peer credentials, the TCP guard,
 * access rules, per-peer rate and in-flight limits), the access checker for local endpoints, and the
 * audit line of every request that changes something. Loop thread only. */
#ifndef WPS_GW_ADMIT_H
#define WPS_GW_ADMIT_H

#include <sys/types.h>

struct api;
struct cfg;
struct admit;

/* cfg is borrowed until admit_configure. socket_gid: the group of the Unix socket file (the default
 * access rule). NULL when out of memory. */
struct admit *admit_new(const struct cfg *cfg, gid_t socket_gid);
void admit_configure(struct admit *ad, const struct cfg *cfg); /* SIGHUP: rules, limits, origins */
void admit_free(struct admit *ad);                             /* accepts NULL; after the api is gone */
/* Install the hooks on the application API. Returns 0 or -1. */
int admit_install(struct admit *ad, struct api *a);

#endif
