/* spool.h: the outbox wired into the gateway: Prefer: respond-async accepted with 202 after the commit,
 * the delivery worker (rows sent through the retry driver, per-target order kept by the outbox), and
 * the endpoints GET /outbox/{id}, GET /outbox?state=failed, POST /outbox/{id}/retry. Loop thread only. */
#ifndef WPS_GW_SPOOL_H
#define WPS_GW_SPOOL_H

#include <stddef.h>

struct loop;
struct api;
struct api_ctx;
struct relay;
struct cfg;
struct outbox;

struct spool;

/* Open cfg->outbox.path and start delivering; register the endpoints and the async hook on a. a, r and
 * cfg are borrowed (cfg until spool_configure). NULL with err. */
struct spool *spool_new(struct loop *l, struct api *a, struct relay *r, const struct cfg *cfg, char *err,
                        size_t errlen);
void spool_configure(struct spool *sp, const struct cfg *cfg);
/* Stop handing rows to the upstream (SIGTERM): rows handed out from now on stay `sending` and are
 * queued again by outbox_close. Deliveries in flight go on. */
void spool_stop_delivery(struct spool *sp);
unsigned spool_inflight(const struct spool *sp); /* deliveries in flight */
/* Hand out due rows now (the breaker let attempts through again). Accepts NULL. */
void spool_kick(struct spool *sp);
/* Cancel the deliveries still in flight (their rows are queued again), commit and close the outbox.
 * Run the loop a little afterwards so that posted callbacks complete, then spool_free. */
void spool_close(struct spool *sp);
void spool_free(struct spool *sp); /* accepts NULL */

struct outbox *spool_outbox(struct spool *sp); /* borrowed; NULL after spool_close */
/* The outbox gauges into the metrics (depth, dead letters, oldest queued). */
void spool_refresh_metrics(struct spool *sp);
/* 1 when the outbox is open and its last commit succeeded. */
int spool_writable(const struct spool *sp);

/* The 202 answer of an accepted row: Preference-Applied, Location: /outbox/{id} and {"id":"..."}. */
void spool_reply_accepted(struct api_ctx *c, const char *id);

#endif
