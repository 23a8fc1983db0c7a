/* metrics.h: the gateway's Prometheus metrics (fixed arrays, text format 0.0.4) and the
 * /healthz and /readyz bodies. */
#ifndef WPS_GW_METRICS_H
#define WPS_GW_METRICS_H

#include <stddef.h>
#include <stdint.h>
#include "cfgtab.h"

#include "buf.h"
#include "ops.h"

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define METRICS_RENDER_MAX   (512 * 1024) /* the whole exposition is far below this */
#define METRICS_LABEL_MAX    64           /* bytes of the version and api_version labels */
#define METRICS_LISTEN_MAX   64           /* bytes of metrics.listen */
#define METRICS_DEFAULT_PORT 9464

/*
 * metrics = {
 *   listen = "127.0.0.1:9464";   # optional: a TCP listener that serves only /metrics, /healthz,
 *                                # /readyz (an IP literal: "0.0.0.0:9464", "[::1]:9464")
 *   on_api = true;               # also serve them on the API listeners (default true)
 * };
 */
struct metrics_cfg {
	int on_api;
	int listen_set;                /* 1 when metrics.listen was given */
	char *listen;                  /* as written; NULL: none */
	char host[METRICS_LISTEN_MAX]; /* the address without brackets: "127.0.0.1", "::1" */
	int family;                    /* AF_INET or AF_INET6 */
	unsigned port;
	int loopback; /* 1 when host is a loopback address (else: log a warning) */
};

/* The `metrics` section (cfgtab.h); host, family, port, loopback and listen_set follow from listen. */
extern const struct cfgtab_section metrics_cfg_section;

/* The "operation" label: an enum ops_id, or one of these for requests that are not operations. */
enum {
	METRICS_OP_NONE = OP__COUNT, /* "none": matched no route (404, 405, refused before routing) */
	METRICS_OP_BATCH,            /* "batch": POST /$batch */
	METRICS_OP_OUTBOX,           /* "outbox": /outbox endpoints */
	METRICS_OP_LOCAL,            /* "local": /metrics, /healthz, /readyz */
	METRICS_OPS
};

enum metrics_attempt { MA_RESPONSE, MA_TIMEOUT, MA_CONNECT, MA__COUNT }; /* how an attempt ended */
enum metrics_cause { MC_STATUS, MC_TIMEOUT, MC_CONNECT, MC__COUNT };     /* why a retry happened */
enum metrics_side { MS_LOCAL, MS_UPSTREAM, MS__COUNT };                  /* applications / service */
enum metrics_breaker { MB_CLOSED, MB_OPEN, MB_HALF_OPEN, MB__COUNT };
enum metrics_refusal { MR_ACCESS, MR_GUARD, MR_RATE, MR_INFLIGHT, MR_OVERLOAD, MR__COUNT };

/* Every function below may be called from any thread (relaxed atomics); out-of-range enum values
 * are counted as METRICS_OP_NONE / ignored, never written out of bounds. */

/* Zero everything and set the build info labels (copied; NULL: "unknown"). Call once at start-up;
 * calling it again (tests, reload with another api_version) keeps the counters only when keep != 0. */
void metrics_init(const char *version, const char *api_version, int keep);

/* One request answered locally with HTTP status (any code; unusual ones count as "other"). */
void metrics_request(int op, int status);
/* Requests in flight: +1 when a request is accepted, -1 when it is answered. */
void metrics_inflight_add(int delta);
/* One upstream attempt of operation op ended: how, and the service's status (0: none) and the
 * attempt's duration in microseconds (observed in the histogram by operation). */
void metrics_upstream_attempt(int op, enum metrics_attempt how, int http_status, uint64_t usec);
/* A retry was scheduled because of cause. */
void metrics_upstream_retry(enum metrics_cause cause);
/* Connections the upstream transfers opened and reused (e.g. CURLINFO_NUM_CONNECTS of a finished
 * transfer: > 0 counts as opened, 0 as reused). */
void metrics_upstream_connections(uint64_t opened, uint64_t reused);
/* Body bytes received and sent, on the side of the applications or of the service. */
void metrics_bytes(enum metrics_side side, uint64_t received, uint64_t sent);
/* A request refused by the access rules, the TCP guard, the rate or in-flight limits, or overload. */
void metrics_refused(enum metrics_refusal why);

/* The events listener (events.c): its kinds and verdicts name the series of wpsgate_events_total, which
 * with wpsgate_events_app_duration_seconds is written only once this is called (labels borrowed:
 * static arrays of at most METRICS_EVENT_KINDS and METRICS_EVENT_VERDICTS names). */
#define METRICS_EVENT_KINDS    8
#define METRICS_EVENT_VERDICTS 16
void metrics_events_enable(const char *const *kinds, int nkinds, const char *const *verdicts, int nverdicts);
/* One call of the service, answered: its kind and the verdict (indexes into those arrays). */
void metrics_event(int kind, int verdict);
/* The application answered one forwarded call after usec microseconds. */
void metrics_event_app(uint64_t usec);

/* Gauges set by their owners. */
void metrics_set_outbox(uint64_t depth, uint64_t dead_letters);
/* Wall-clock time (ms since the epoch) at which the oldest queued row was accepted; 0: queue empty.
 * The exposition shows its age at the time of the scrape. */
void metrics_set_outbox_oldest(int64_t accepted_unix_ms);
void metrics_set_breaker(enum metrics_breaker state);

/* Configuration reloads (ok != 0: the new configuration was taken) and credential errors
 * (an unreadable key file, a failed Entra ID token request). */
void metrics_reload(int ok);
void metrics_credential_error(void);

/* Append the whole exposition to out (give it max METRICS_RENDER_MAX). Returns 0 or -1 (out full;
 * out then holds a truncated text that must not be served). */
int metrics_render(struct buf *out);
/* The same with a given wall clock (ms since the epoch) and without the process_* families that
 * vary on their own: for exact tests. */
int metrics_render_at(struct buf *out, int64_t now_unix_ms, int with_process);

/* The label of an operation index ("send_to_all", ..., "none", "batch", "outbox", "local"). */
const char *metrics_op_label(int op);

/* Readiness facts, gathered by the daemon. */
enum metrics_check { MCHK_UNUSED, MCHK_OK, MCHK_FAIL };
struct metrics_ready {
	enum metrics_check config;        /* a configuration is loaded */
	enum metrics_check credentials;   /* an access key or an Entra ID credential is there */
	enum metrics_check breaker;       /* the circuit breaker is closed (half-open counts as fail) */
	enum metrics_check outbox;        /* the outbox is writable (UNUSED: none configured) */
	enum metrics_check token_service; /* Entra ID tokens come (UNUSED: access key) */
	int draining;                     /* SIGTERM received */
};

/* Append the /healthz body: {"status":"ok"}. The answer is always 200 while the loop runs. */
int metrics_render_healthz(struct buf *out);
/* Append the /readyz body and set *http_status to 200 (ready) or 503 (not ready), e.g.
 * {"status":"not ready","checks":{"config":"ok","credentials":"fail",...},
 *  "problems":["no credentials loaded"]}. Returns 0 or -1 (out full). */
int metrics_render_readyz(const struct metrics_ready *r, struct buf *out, int *http_status);

#endif
