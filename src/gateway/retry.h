/* retry.h: the upstream retry policy: which outcomes to retry, backoff with full jitter, server hints
 * (Retry-After, retry-after-ms, x-ms-retry-after-ms), a retry budget and a circuit breaker.
 *
 * Pure logic: no I/O, no clock of its own. Every call takes `now_ms`, a monotonic time in milliseconds
 * (and, for HTTP dates, the wall clock in seconds), so tests are deterministic. A struct retry_policy is
 * not thread-safe: the gateway uses it from the loop thread only.
 *
 * How a request uses it (the caller owns the overall deadline):
 *   retry_begin(p, now)                       once per new request (feeds the budget)
 *   for (attempt = 1;; attempt++) {
 *     retry_admit(p, now, &probe, &wait_ms)   before every attempt; RETRY_ADMIT_OPEN: answer 503 with
 *                                             Retry-After = ceil(wait_ms / 1000) at once
 *     ... send, sign a fresh JWT ...
 *     retry_decide(p, &outcome, attempt, probe, now, deadline, &d)   records the result (breaker) and says
 *                                             RETRY_AGAIN after d.delay_ms, or final
 *   }
 *
 * Defaults (config section `retry = { ... }`, every key optional):
 *   max_attempts = 4             attempts per request, the first included (1..20)
 *   base_delay_ms = 200          backoff: attempt n waits uniform(0, min(max_delay_ms, base * 2^(n-1)))
 *   max_delay_ms = 10000
 *   retry_after_max_ms = 30000   server hints above this are cut to it
 *   statuses = [408, 429, 500, 502, 503, 504]   retried statuses (only 408, 429 and 5xx may be listed)
 *   on_connect_error = true; on_timeout = true; on_reset = true;
 *   budget_ratio = 0.2           retries <= ratio * requests over the window ...
 *   budget_window_ms = 10000
 *   budget_min_per_s = 10        ... + min_per_s * window seconds
 *   breaker = { enabled = true; failures = 5; cooldown_ms = 5000; probes = 1; };
 * A breaker failure is an attempt that ended in a network error of any kind or a retryable status;
 * any other answer from the service, 4xx included, shows that it is up and counts as a success.
 */
#ifndef WPS_GW_RETRY_H
#define WPS_GW_RETRY_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "cfgtab.h"

#define RETRY_STATUSES_MAX       16
#define RETRY_MAX_ATTEMPTS_LIMIT 20
#define RETRY_BUDGET_SLOTS       60 /* the budget window is kept in this many slots */

struct retry_cfg {
	long max_attempts;
	long base_delay_ms;
	long max_delay_ms;
	long retry_after_max_ms;
	int statuses[RETRY_STATUSES_MAX];
	size_t nstatuses;
	int on_connect_error, on_timeout, on_reset;
	double budget_ratio;
	long budget_window_ms;
	long budget_min_per_s;
	int breaker_enabled;
	long breaker_failures;
	long breaker_cooldown_ms;
	long breaker_probes;
};

/* The `retry` section: read, default and describe a struct retry_cfg with cfgtab.h. */
extern const struct cfgtab_section retry_cfg_section;

/* What an attempt ended with. upstream.c maps CURLcode with retry_net_from_curl(). */
enum retry_net {
	RETRY_NET_NONE = 0, /* a response arrived: look at status */
	RETRY_NET_CONNECT,  /* DNS, refused, unreachable, TLS handshake: nothing was sent */
	RETRY_NET_TIMEOUT,  /* the attempt's own timeout */
	RETRY_NET_RESET,    /* the connection broke after the request went out (reset, empty reply) */
	RETRY_NET_FATAL     /* never retried: certificate rejected, bad URL, out of memory, ... */
};
enum retry_net retry_net_from_curl(int curlcode);

struct retry_outcome {
	enum retry_net net;
	int status;              /* HTTP status when net == RETRY_NET_NONE */
	const char *retry_after; /* header values, borrowed; NULL when absent */
	const char *retry_after_ms;
	const char *x_ms_retry_after_ms;
	time_t wall_now; /* wall clock (seconds) for an HTTP-date Retry-After */
};

enum retry_verdict {
	RETRY_SUCCESS, /* 2xx: give the answer to the application */
	RETRY_FINAL,   /* not retryable (other 4xx/5xx, fatal network error): give it as it is */
	RETRY_AGAIN,   /* attempt again after delay_ms */
	RETRY_GIVE_UP  /* retryable, but attempts, deadline or budget are spent: give the last answer */
};

enum retry_reason {
	RETRY_R_NONE,
	RETRY_R_STATUS, /* a retryable status */
	RETRY_R_CONNECT,
	RETRY_R_TIMEOUT,
	RETRY_R_RESET,
	RETRY_R_ATTEMPTS, /* GIVE_UP: max_attempts reached */
	RETRY_R_DEADLINE, /* GIVE_UP: the delay would pass the caller's deadline */
	RETRY_R_BUDGET,   /* GIVE_UP: the retry budget is spent */
	RETRY_R_BREAKER   /* GIVE_UP: the breaker opened; the next admit would refuse */
};

struct retry_decision {
	enum retry_verdict verdict;
	enum retry_reason reason; /* why it was retryable (AGAIN) or why it stopped (GIVE_UP) */
	enum retry_reason cause;  /* for AGAIN and GIVE_UP: the failure kind (STATUS/CONNECT/TIMEOUT/RESET) */
	long delay_ms;            /* AGAIN: how long to wait */
	int hinted;               /* 1 when delay_ms came from a server hint */
};

enum retry_breaker_state { RETRY_BREAKER_CLOSED, RETRY_BREAKER_OPEN, RETRY_BREAKER_HALF_OPEN };

enum retry_admit {
	RETRY_ADMIT_OK,
	RETRY_ADMIT_PROBE, /* half-open: this attempt is a probe; pass probe = 1 to retry_decide/retry_record */
	RETRY_ADMIT_OPEN   /* refused: answer 503 with Retry-After from *wait_ms */
};

typedef uint64_t (*retry_rng_fn)(void *arg);
typedef void (*retry_change_fn)(enum retry_breaker_state from, enum retry_breaker_state to, void *arg);

struct retry_stats {
	uint64_t requests, retries, budget_refusals, breaker_refusals, breaker_opens;
	enum retry_breaker_state state;
	long consecutive_failures;
};

struct retry_policy;

/* A new policy with a copy of cfg. rng NULL: an internal generator seeded from the kernel.
 * on_change may be NULL. Returns NULL when out of memory. */
struct retry_policy *retry_new(const struct retry_cfg *cfg, retry_rng_fn rng, void *rng_arg,
                               retry_change_fn on_change, void *change_arg);
void retry_free(struct retry_policy *p); /* accepts NULL */
/* Replace the configuration (SIGHUP), keeping the breaker state and the budget's counts. */
void retry_set_cfg(struct retry_policy *p, const struct retry_cfg *cfg);
const struct retry_cfg *retry_get_cfg(const struct retry_policy *p); /* borrowed */

/* Count a new request for the budget. */
void retry_begin(struct retry_policy *p, int64_t now_ms);

/* Ask the breaker before an attempt. *probe is set to 1 for a half-open probe; on RETRY_ADMIT_OPEN
 * *wait_ms says how long until the breaker lets attempts through again (>= 1). */
enum retry_admit retry_admit(struct retry_policy *p, int64_t now_ms, int *probe, long *wait_ms);

/* Record one attempt's outcome in the breaker and decide. attempt: attempts made so far for this
 * request (1 after the first). deadline_ms: absolute monotonic deadline, 0 for none. */
enum retry_verdict retry_decide(struct retry_policy *p, const struct retry_outcome *o, long attempt,
                                int probe, int64_t now_ms, int64_t deadline_ms, struct retry_decision *d);

/* Pieces of retry_decide, for callers that want them alone. */
int retry_is_retryable(const struct retry_cfg *cfg, const struct retry_outcome *o, enum retry_reason *cause);
void retry_record(struct retry_policy *p, int failed, int probe, int64_t now_ms);
/* Full-jitter backoff before attempt `attempt + 1`: uniform in [0, min(max, base * 2^(attempt-1))]. */
long retry_backoff_ms(struct retry_policy *p, long attempt);
/* Server hint in ms from the three headers (retry-after-ms, then x-ms-retry-after-ms, then Retry-After
 * as seconds or an HTTP date), capped at retry_after_max_ms. -1 when none is present and valid. */
long retry_hint_ms(const struct retry_cfg *cfg, const struct retry_outcome *o);
/* Parse an HTTP date (IMF-fixdate, RFC 850, asctime). Returns 0 and *out, or -1. */
int retry_parse_http_date(const char *s, time_t *out);

enum retry_breaker_state retry_breaker_state(const struct retry_policy *p);
const char *retry_breaker_state_name(enum retry_breaker_state s); /* "closed", "open", "half_open" */
const char *retry_reason_name(enum retry_reason r);               /* "status", "connect", ... */
void retry_get_stats(const struct retry_policy *p, struct retry_stats *out);

#endif
