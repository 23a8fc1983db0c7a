/* entra.h: Microsoft Entra ID access tokens for the upstream: the upstream.entra config section, and a
 * token cache that fetches through an HTTP interface its owner supplies (it never blocks, never owns curl). */
#ifndef WPS_GW_ENTRA_H
#define WPS_GW_ENTRA_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "cfgtab.h"

#define ENTRA_RESOURCE          "https://webpubsub.azure.com"
#define ENTRA_SCOPE             ENTRA_RESOURCE "/.default"
#define ENTRA_DEFAULT_AUTHORITY "https://login.microsoftonline.com"
#define ENTRA_DEFAULT_IMDS      "http://169.254.169.254/metadata/identity/oauth2/token"

/* Limits and timings. */
#define ENTRA_DEFAULT_TIMEOUT_MS   10000            /* one token request (upstream.entra.timeout_ms) */
#define ENTRA_BACKOFF_MIN_MS       1000             /* after the first failed fetch; doubles ... */
#define ENTRA_BACKOFF_MAX_MS       60000            /* ... up to this */
#define ENTRA_REFRESH_PCT          80               /* refresh at this share of a token's lifetime ... */
#define ENTRA_REFRESH_AHEAD_MAX_MS (5L * 60 * 1000) /* ... but no earlier than 5 min before expiry */
#define ENTRA_SKEW_MAX_MS          30000            /* a token is not used in its last min(30 s, 10%) */
#define ENTRA_LIFETIME_MAX_S       (24L * 3600)     /* longer expires_in values are cut to this */
#define ENTRA_WAITERS_MAX          10000 /* requests queued for one fetch (= limits.max_inflight default) */
#define ENTRA_RESPONSE_MAX         65536 /* bytes of a token service answer */
#define ENTRA_TOKEN_MAX            16384 /* bytes of an access token */
#define ENTRA_ASSERTION_MAX        16384 /* bytes of a federated token file */
#define ENTRA_ID_MAX               256   /* bytes of tenant_id / client_id */
#define ENTRA_REASON_MAX           256   /* bytes of a failure reason */

/* ---- configuration: upstream.entra = { kind = "..."; ... }; ---- */

enum entra_kind { ENTRA_NONE = 0, ENTRA_CLIENT_SECRET, ENTRA_MANAGED_IDENTITY, ENTRA_WORKLOAD_IDENTITY };

struct entra_cfg {
	enum entra_kind kind;       /* ENTRA_NONE: no upstream.entra section */
	char *tenant_id;            /* client_secret, workload_identity */
	char *client_id;            /* required but for managed_identity (NULL there: system-assigned) */
	char *client_secret_file;   /* client_secret: a name without '/' is in $CREDENTIALS_DIRECTORY */
	char *federated_token_file; /* workload_identity: re-read on every fetch */
	char *authority_host;       /* scheme://host[:port], no trailing slash */
	char *imds_endpoint;        /* managed_identity: token URL without query */
	int imds_set;    /* imds_endpoint was configured (else App Service's IDENTITY_ENDPOINT may win) */
	long timeout_ms; /* one token request */
};

/* The upstream.entra section (cfgtab.h); absent: kind ENTRA_NONE. Workload identity takes tenant_id,
 * client_id, federated_token_file and authority_host from AZURE_TENANT_ID, AZURE_CLIENT_ID,
 * AZURE_FEDERATED_TOKEN_FILE and AZURE_AUTHORITY_HOST when the section does not set them (as the Azure
 * SDKs do). Keys another kind uses are refused. Files are not opened here: entra_preflight does that. */
extern const struct cfgtab_section entra_cfg_section;
/* 1 when a and b ask for the same credential (SIGHUP: keep the cached token). */
int entra_cfg_equal(const struct entra_cfg *a, const struct entra_cfg *b);
/* Read (then wipe) the secret or federated token file once, so that -t, start-up and SIGHUP refuse
 * an unreadable one (the client secret file with cred.c's rules: regular, not group/other
 * accessible, one line). Returns 0, or -1 with err naming the key and file (never the content). */
int entra_preflight(const struct entra_cfg *c, char *err, size_t errlen);
const char *entra_kind_name(enum entra_kind k); /* "client_secret", ...; static */

/* ---- the HTTP interface the owner implements (upstream.c, on the shared CURLM) ---- */

struct entra_http_req {
	const char *method; /* "GET" or "POST" */
	const char *url;
	const char *const *headers; /* "Name: value" lines, NULL-terminated */
	const char *body;           /* POST: application/x-www-form-urlencoded; NULL for GET */
	size_t len;
	long timeout_ms;
};
/* The outcome: status is the HTTP status, or 0 when no answer came (err then says why: refused,
 * timeout, ...). body is borrowed for the call. Called on the loop thread, never from inside request. */
typedef void (*entra_http_done_fn)(void *arg, int status, const char *body, size_t len, const char *err);

struct entra_ops {
	/* Start req (everything in it is borrowed for this call only: copy it; the body and headers
	 * hold secrets: never log them, wipe the copies). Bound the answer at ENTRA_RESPONSE_MAX, follow
	 * no redirect. Returns 0 and an opaque *handle (done is then called exactly once, unless cancel),
	 * or -1 (done is not called). */
	int (*request)(void *ctx, const struct entra_http_req *req, entra_http_done_fn done, void *arg,
	               void **handle);
	void (*cancel)(void *ctx, void *handle); /* stop a request without calling done */
	/* Call entra_tick at monotonic time due_ms (replaces any earlier; 0: no tick needed). */
	void (*arm)(void *ctx, uint64_t due_ms);
	uint64_t (*now_ms)(void *ctx); /* monotonic milliseconds (loop_now_ms) */
	time_t (*wall)(void *ctx);     /* NULL: time(NULL); for expires_on */
	/* Optional: every finished fetch (ok 0: failed, reason says why). For metrics. */
	void (*on_fetch)(void *ctx, int ok, const char *reason);
	void *ctx;
};

/* ---- the token cache ---- */

struct entra;
struct entra_wait;

/* A new cache for cfg (copied) that uses ops (copied). It does not fetch yet: entra_start. Returns
 * NULL with err (entra_preflight's errors included). Release with entra_free. */
struct entra *entra_new(const struct entra_cfg *cfg, const struct entra_ops *ops, char *err, size_t errlen);
/* Drop the fetch in flight and the waiters without calling them (their owner cancels its own work
 * first); wipe the token. Accepts NULL. */
void entra_free(struct entra *e);
/* SIGHUP: a different credential drops the token and starts a new fetch; waiters stay queued for it.
 * Same credential: nothing changes. Returns 0, or -1 (preflight failed; e unchanged). */
int entra_configure(struct entra *e, const struct entra_cfg *cfg, char *err, size_t errlen);
/* Fetch the first token now (start-up), so that the first request finds one. */
void entra_start(struct entra *e);
/* The timer that ops->arm asked for has fired. */
void entra_tick(struct entra *e);

enum entra_rc { ENTRA_OK = 0, ENTRA_WAIT = 1, ENTRA_ERR = -1 };
/* fn(arg, ok, err): ok 1: entra_bearer now gives a token; ok 0: err says why (no secret in it). */
typedef void (*entra_ready_fn)(void *arg, int ok, const char *err);
/* Ask for a token for one upstream attempt.
 * ENTRA_OK: a usable token is cached (entra_bearer); a refresh may have started in the background.
 * ENTRA_WAIT: a fetch is in flight; fn is called once when it ends, unless entra_wait_cancel(*w).
 * ENTRA_ERR: err says why: the token service is failing and the next try is not due yet, the
 * queue is full (ENTRA_WAITERS_MAX), or a fetch could not start. */
enum entra_rc entra_acquire(struct entra *e, entra_ready_fn fn, void *arg, struct entra_wait **w, char *err,
                            size_t errlen);
void entra_wait_cancel(struct entra *e, struct entra_wait *w); /* fn is not called; accepts NULL w */
/* "Bearer <token>" as a new string (wipe with secret_free), and the token's generation in *gen,
 * or NULL when no usable token is cached. */
char *entra_bearer(struct entra *e, unsigned long *gen);
/* The upstream answered 401 to the token of generation gen: forget it and fetch a new one at once
 * (once per generation: later 401s for the same old token do nothing). */
void entra_invalidate(struct entra *e, unsigned long gen);

/* ---- state for /readyz, metrics and logs ---- */
enum entra_state {
	ENTRA_ST_STARTING, /* no token yet, the first fetch has not ended */
	ENTRA_ST_OK,       /* a usable token, the last fetch succeeded */
	ENTRA_ST_DEGRADED, /* a usable token, but the last refresh failed */
	ENTRA_ST_FAILING   /* no usable token and the last fetch failed */
};
struct entra_status {
	enum entra_state state;
	int ready;                       /* 1: a usable token is cached (/readyz ok) */
	char reason[ENTRA_REASON_MAX];   /* the last failure ("" when none since the last success) */
	long token_ttl_s;                /* seconds until the cached token expires (-1: none) */
	uint64_t next_retry_ms;          /* monotonic time of the next try while failing (0: none) */
	unsigned long generation;        /* tokens received so far */
	uint64_t fetch_ok, fetch_failed; /* finished fetches */
	uint64_t invalidated;            /* tokens dropped after a 401 */
	uint64_t rejected;               /* acquire calls answered ENTRA_ERR */
	size_t waiting;                  /* requests queued now */
	int fetching;                    /* 1: a fetch is in flight */
};
void entra_get_status(const struct entra *e, struct entra_status *st);
const char *entra_state_name(enum entra_state s); /* "starting", "ok", "degraded", "failing" */

/* ---- exposed for tests ---- */
/* Parse a token service answer: a new token string (wipe with secret_free) and its lifetime in
 * seconds (expires_in, or expires_on - wall_now). NULL with a reason in err (no token text in it). */
char *entra_parse_token(int status, const char *body, size_t len, time_t wall_now, long *lifetime_s,
                        char *err, size_t errlen);

#endif
