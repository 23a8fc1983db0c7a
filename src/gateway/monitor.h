/* monitor.h: the monitoring endpoints GET /healthz, /readyz and /metrics on an API, and the per-request
 * metrics (requests by operation and status, bytes) from its completion hook. Loop thread only. */
#ifndef WPS_GW_MONITOR_H
#define WPS_GW_MONITOR_H

struct api;
struct cred;
struct dispatch;
struct outbox_api;
struct up;
struct monitor;

/* Everything borrowed; outbox_api may be NULL (no outbox). */
struct monitor *monitor_new(struct dispatch *r, struct outbox_api *sp, const struct cred *cred);
void monitor_set_upstream(struct monitor *h, const struct up *up); /* Entra ID token state */
void monitor_set_cred(struct monitor *h, const struct cred *cred); /* after a reload */
void monitor_set_draining(struct monitor *h, int on);
void monitor_free(struct monitor *h); /* accepts NULL */
/* Register /healthz, /readyz, /metrics (when with_metrics) and the metrics completion hook on a. 0 or -1. */
int monitor_install(struct monitor *h, struct api *a, int with_metrics);

#endif
