/* upstream.h: jobs sent to the Web PubSub service through one libcurl multi handle on the event loop. */
#ifndef WPS_GW_UPSTREAM_H
#define WPS_GW_UPSTREAM_H

#include <stddef.h>
#include <stdint.h>
#include "buf.h"

struct loop;
struct cfg_upstream;
struct cred;
struct up;

#define UP_FREE_EASY_MAX 256 /* idle easy handles kept for reuse */
#define UP_H2_STREAMS    100 /* transfers per connection allowed to an https endpoint (HTTP/2) */
#define UP_ERRMSG_MAX    256 /* CURL_ERROR_SIZE */

#define UP_TRACEPARENT_MAX  56   /* "00-<32 hex>-<16 hex>-<2 hex>" + NUL */
#define UP_TRACESTATE_MAX   512  /* bytes of a tracestate passed along */
#define UP_HEADER_VALUE_MAX 1024 /* longer response header values are not kept */

enum up_result {
	UP_OK = 0,       /* an HTTP response arrived: see status */
	UP_TIMEOUT,      /* the request's deadline passed (attempt_timed_out: only this attempt's) */
	UP_NO_ANSWER,    /* refused, reset, DNS, TLS, ...: errmsg says which */
	UP_TOO_LARGE,    /* the response body exceeded upstream.max_response_bytes */
	UP_FAILED,       /* a local failure (out of memory, signing) */
	UP_NO_CREDENTIAL /* Entra ID: no token could be had (errmsg says why); nothing was sent */
};

struct up_job;
/* Called on the loop thread when an attempt ends (never from inside up_submit). The job is no
 * longer in flight: the callback may free it or up_submit it again (a retry). */
typedef void (*up_done_fn)(struct up_job *job, void *arg);

struct up_job {
	/* The request. Strings owned by the job (up_job_free frees them); method is static. */
	const char *method; /* "GET" "HEAD" "POST" "PUT" "DELETE" */
	char *path;         /* canonical, from ops_build_path */
	char *query;        /* canonical, from ops_build_query (starts with api-version) */
	char *body;         /* may be NULL; sent byte for byte (POST/PUT) */
	size_t body_len;
	char *content_type;                   /* of body; NULL: none sent */
	char request_id[72];                  /* x-ms-client-request-id */
	char traceparent[UP_TRACEPARENT_MAX]; /* W3C trace context, "" when none (validated by the caller) */
	char *tracestate;                     /* NULL when none; sent only with a traceparent */
	int metrics_op;       /* the "operation" label of its metrics (enum ops_id or METRICS_OP_*) */
	uint64_t deadline_ms; /* loop_now_ms() time; each attempt gets what is left */
	unsigned attempts;    /* incremented by every up_submit */
	up_done_fn done;
	void *arg;

	/* The outcome of the last attempt (reset by up_submit). */
	enum up_result result;
	long status;           /* HTTP status when result == UP_OK */
	int curlcode;          /* CURLcode of the attempt (0: CURLE_OK), for retry_net_from_curl */
	int attempt_timed_out; /* UP_TIMEOUT of this attempt (upstream.attempt_timeout_ms) with time left */
	struct buf resp;       /* the response body */
	char *resp_content_type, *resp_error_code;
	char *resp_retry_after, *resp_retry_after_ms, *resp_x_ms_retry_after_ms;
	char *resp_api_versions; /* api-supported-versions */
	char errmsg[UP_ERRMSG_MAX];

	/* A cleanup that up_job_free calls first (the retry driver's per-job state); NULL: none. */
	void (*cleanup)(struct up_job *job);
	void *cleanup_arg;

	/* private to upstream.c */
	struct up *up_;
	void *easy_;
	unsigned easy_gen_;       /* the up's easy_gen when easy_ was taken */
	void *entra_wait_;        /* queued for an Entra ID token */
	unsigned long entra_gen_; /* the token generation this attempt carried */
	int entra_retried_;       /* the one refresh-and-retry after a 401 was used */
	void *headers_;
	int too_large_;
	int queued_; /* waiting for a connection slot (up->qhead list) */
	struct up_job *qprev_, *qnext_;
	struct loop_timer *qtimer_; /* its deadline while queued */
};

/* The engine. cfg and cred are borrowed and must stay valid until up_configure replaces them. */
struct up *up_new(struct loop *l, const struct cfg_upstream *cfg, const struct cred *cred);
/* Apply new upstream settings to the next attempts (SIGHUP). */
void up_configure(struct up *up, const struct cfg_upstream *cfg, const struct cred *cred);
void up_free(struct up *up); /* accepts NULL; cancels every job still in flight (no callbacks) */
/* Attempts handed to libcurl plus those queued for a connection slot. */
unsigned up_inflight(const struct up *up);
/* Entra ID: 1 and *st filled when the upstream authenticates with upstream.entra, else 0. */
struct entra_status;
int up_entra_status(const struct up *up, struct entra_status *st);
/* Other transfers on the same multi handle and event loop (the events listener's calls to the app),
 * so that one pool of sockets, one timer and one loop drive every HTTP client of the daemon. The
 * owner adds its easy handles to up_multi() (a CURLM *) itself; fn is called for every finished
 * transfer that is not a job's or a token request's, and returns 1 when it was its own (it then
 * removes and frees it), 0 otherwise. One owner; fn NULL removes it. Remove every such handle before
 * up_free. */
typedef int (*up_foreign_fn)(void *arg, void *easy, int curlcode);
void *up_multi(struct up *up);
void up_set_foreign(struct up *up, up_foreign_fn fn, void *arg);
/* The effective endpoint (borrowed). */
const char *up_endpoint(const struct up *up);

struct up_job *up_job_new(void); /* zeroed, resp bounded later by up_submit */

/* What a request to the service is made of. The API, the $batch sub-requests and the outbox
 * deliveries all build their jobs with up_job_make, so that each carries the same things (trace
 * context included). */
struct up_job_spec {
	const char *method; /* static: "GET" "HEAD" "POST" "PUT" "DELETE" */
	char *path, *query; /* canonical; taken by the job (freed by up_job_make on failure too) */
	char *body;         /* taken; NULL: none */
	size_t body_len;
	const char *content_type; /* copied; NULL: none sent */
	const char *request_id;   /* copied, cut to fit */
	const char *traceparent;  /* copied; NULL: none. Validated by the caller (api_ctx_trace) */
	const char *tracestate;   /* copied with a traceparent; NULL: none */
	int metrics_op;
	uint64_t deadline_ms;
	up_done_fn done;
	void *arg;
};
/* A job from spec, or NULL when out of memory (what it would have taken is freed). */
struct up_job *up_job_make(const struct up_job_spec *spec);
void up_job_free(struct up_job *job); /* accepts NULL; cancels it when in flight */

/* Start one attempt: builds the URL endpoint+path+"?"+query, signs a fresh Authorization for it,
 * and adds it to the multi handle. While upstream.max_connections transfers are running (times
 * UP_H2_STREAMS for an https endpoint with upstream.http_version "2", where HTTP/2 multiplexes), the job waits in a FIFO instead
 * and is signed and added when a transfer ends; its deadline still applies (UP_TIMEOUT). Returns 0 (done will be called) or -1 (not started: result and
 * errmsg say why; done is not called). */
int up_submit(struct up *up, struct up_job *job);
/* Stop an attempt in flight without calling done. */
void up_cancel(struct up_job *job);
int up_job_inflight(const struct up_job *job);

/* One line of a response head as libcurl hands it to the header callback (with its CR LF; not
 * NUL-terminated): a status line forgets the headers kept so far; Content-Type, x-ms-error-code,
 * Retry-After, retry-after-ms, x-ms-retry-after-ms and api-supported-versions (values of at most UP_HEADER_VALUE_MAX bytes, blanks and
 * CR LF trimmed) are kept in the job's resp_* fields. Public for the fuzz target. */
void up_job_header(struct up_job *job, const char *line, size_t len);

#endif
