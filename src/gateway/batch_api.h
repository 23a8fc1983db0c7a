/* batch_api.h: the POST /$batch endpoint: sub-requests run concurrently through the retry driver in
 * dependsOn order, or (Prefer: respond-async) stored in the outbox in one transaction. */
#ifndef WPS_GW_BAPI_H
#define WPS_GW_BAPI_H

struct api;
struct dispatch;
struct outbox_api;
struct cfg;
struct batch_api;

/* Register POST /$batch on a (body limit batch.max_bytes). a, r, sp (NULL: no outbox) and cfg are
 * borrowed (cfg until batch_api_configure). NULL when out of memory or the route table is full. */
struct batch_api *batch_api_new(struct api *a, struct dispatch *r, struct outbox_api *sp,
                                const struct cfg *cfg);
void batch_api_configure(struct batch_api *b, const struct cfg *cfg);
void batch_api_free(struct batch_api *b); /* accepts NULL; after every request is done or aborted */

#endif
