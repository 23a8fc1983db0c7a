/* dispatch.h: one upstream request with retries: attempts through up_submit (a fresh JWT each), the retry
 * policy (backoff with jitter, server hints, budget, circuit breaker) and the timers between attempts.
 * Used by the synchronous API, $batch and the outbox's delivery worker. Loop thread only. */
#ifndef WPS_GW_RELAY_H
#define WPS_GW_RELAY_H

#include "retry.h"

struct loop;
struct up;
struct up_job;
struct dispatch;

#define DISPATCH_OPEN (-2) /* dispatch_start: the breaker refused the first attempt, nothing was sent */
/* The answer to a request the breaker refused: 503 with this code and message, and Retry-After. */
#define DISPATCH_OPEN_CODE    "CircuitOpen"
#define DISPATCH_OPEN_MESSAGE "the upstream failed repeatedly; the circuit breaker is open"
/* Retry-After for it: wait_ms in whole seconds, rounded up, at least 1. */
void dispatch_retry_after(long wait_ms, char *out, size_t outlen);

struct dispatch_result {
	enum retry_verdict verdict; /* RETRY_SUCCESS, RETRY_FINAL or RETRY_GIVE_UP (never RETRY_AGAIN) */
	enum retry_reason reason;   /* GIVE_UP: why it stopped; else the failure kind or NONE */
	long delay_ms;              /* GIVE_UP: the wait the policy suggests before the next try (>= 0) */
};
/* The request is over: job holds the last attempt's answer (result, status, body, headers). The job is
 * no longer in flight; the callback may free it. */
typedef void (*dispatch_done_fn)(struct up_job *job, const struct dispatch_result *r, void *arg);

/* on_change (may be NULL) hears every breaker transition (after it has been logged and set in the
 * metrics). The policy starts with a copy of cfg. NULL when out of memory. */
struct dispatch *dispatch_new(struct loop *l, struct up *up, const struct retry_cfg *cfg,
                              retry_change_fn on_change, void *change_arg);
void dispatch_free(struct dispatch *r); /* accepts NULL; every job must be cancelled or done before */
/* New policy settings (SIGHUP); the breaker state and the budget's counts stay. */
void dispatch_configure(struct dispatch *r, const struct retry_cfg *cfg);
struct retry_policy *dispatch_policy(struct dispatch *r); /* borrowed */

/* Start the request in job (method, path, query, body, headers, deadline_ms, metrics_op set; job->done
 * and job->arg are the dispatch's from now on). Returns 0: done will be called once, never from inside
 * dispatch_start; DISPATCH_OPEN: the breaker is open, *wait_ms (>= 1) until it lets attempts through;
 * -1: not started (job->result and job->errmsg say why). */
int dispatch_start(struct dispatch *r, struct up_job *job, dispatch_done_fn done, void *arg, long *wait_ms);
/* Stop the attempt in flight or the wait before the next one, without calling done. Accepts a job that
 * was never started. up_job_free does this too. */
void dispatch_cancel(struct up_job *job);

#endif
