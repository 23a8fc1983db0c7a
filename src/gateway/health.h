/* health.h: GET /metrics, GET /readyz (and the core's /healthz) on an API, and the per-request
 * metrics (requests by operation and status, bytes) from its completion hook. Loop thread only. */
#ifndef WPS_GW_HEALTH_H
#define WPS_GW_HEALTH_H

struct api;
struct cred;
struct relay;
struct spool;
struct up;
struct health;

/* Everything borrowed; spool may be NULL (no outbox). */
struct health *health_new(struct relay *r, struct spool *sp, const struct cred *cred);
void health_set_upstream(struct health *h, const struct up *up); /* Entra ID token state */
void health_set_cred(struct health *h, const struct cred *cred); /* after a reload */
void health_set_draining(struct health *h, int on);
void health_free(struct health *h); /* accepts NULL */
/* Register /readyz, /metrics (when with_metrics) and the metrics completion hook on a. 0 or -1. */
int health_install(struct health *h, struct api *a, int with_metrics);

#endif
