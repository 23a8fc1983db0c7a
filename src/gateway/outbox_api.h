/* outbox_api.h: the outbox wired into the gateway: Prefer: respond-async accepted with 202 after the commit,
 * the delivery worker (rows sent through the retry driver, per-target order kept by the outbox), and
 * the endpoints GET /outbox/{id}, GET /outbox?state=failed, POST /outbox/{id}/retry. Loop thread only. */
#ifndef WPS_GW_SPOOL_H
#define WPS_GW_SPOOL_H

#include <stddef.h>

struct loop;
struct api;
struct api_ctx;
struct dispatch;
struct cfg;
struct outbox;

struct outbox_api;

/* Open cfg->outbox.path and start delivering; register the endpoints and the async hook on a. a, r and
 * cfg are borrowed (cfg until outbox_api_configure). NULL with err. */
struct outbox_api *outbox_api_new(struct loop *l, struct api *a, struct dispatch *r, const struct cfg *cfg,
                                  char *err, size_t errlen);
void outbox_api_configure(struct outbox_api *sp, const struct cfg *cfg);
/* Stop handing rows to the upstream (SIGTERM): rows handed out from now on stay `sending` and are
 * queued again by outbox_close. Deliveries in flight go on. */
void outbox_api_stop_delivery(struct outbox_api *sp);
unsigned outbox_api_inflight(const struct outbox_api *sp); /* deliveries in flight */
/* Hand out due rows now (the breaker let attempts through again). Accepts NULL. */
void outbox_api_kick(struct outbox_api *sp);
/* Cancel the deliveries still in flight (their rows are queued again), commit and close the outbox.
 * Run the loop a little afterwards so that posted callbacks complete, then outbox_api_free. */
void outbox_api_close(struct outbox_api *sp);
void outbox_api_free(struct outbox_api *sp); /* accepts NULL */

struct outbox *outbox_api_outbox(struct outbox_api *sp); /* borrowed; NULL after outbox_api_close */
/* The outbox gauges into the metrics (depth, dead letters, oldest queued). */
void outbox_api_refresh_metrics(struct outbox_api *sp);
/* 1 when the outbox is open and its last commit succeeded. */
int outbox_api_writable(const struct outbox_api *sp);

/* The 202 answer of an accepted row: Preference-Applied, Location: /outbox/{id} and {"id":"..."}. */
void outbox_api_reply_accepted(struct api_ctx *c, const char *id);

#endif
