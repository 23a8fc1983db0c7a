/* bapi.h: the POST /$batch endpoint: sub-requests run concurrently through the retry driver in
 * dependsOn order, or (Prefer: respond-async) stored in the outbox in one transaction. */
#ifndef WPS_GW_BAPI_H
#define WPS_GW_BAPI_H

struct api;
struct relay;
struct spool;
struct cfg;
struct bapi;

/* Register POST /$batch on a (body limit batch.max_bytes). a, r, sp (NULL: no outbox) and cfg are
 * borrowed (cfg until bapi_configure). NULL when out of memory or the route table is full. */
struct bapi *bapi_new(struct api *a, struct relay *r, struct spool *sp, const struct cfg *cfg);
void bapi_configure(struct bapi *b, const struct cfg *cfg);
void bapi_free(struct bapi *b); /* accepts NULL; after every request is done or aborted */

#endif
