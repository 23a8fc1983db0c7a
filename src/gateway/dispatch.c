/* dispatch.c: the retry loop around up_submit: decide after each attempt, wait on a loop timer, ask the
 * breaker again, resubmit the same job. */
#include <config.h>
#include "dispatch.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "upstream.h"

struct dispatch {
	struct loop *loop;
	struct up *up;
	struct retry_policy *policy;
	retry_change_fn on_change;
	void *change_arg;
};

/* Per-job state, hung on the job (job->cleanup_arg) until up_job_free. */
struct dispatch_job {
	struct dispatch *r;
	struct up_job *job;
	struct loop_timer *timer; /* the wait before the next attempt */
	dispatch_done_fn done;
	void *arg;
	int probe; /* the attempt in flight is a half-open probe */
};

static void on_breaker(enum retry_breaker_state from, enum retry_breaker_state to, void *arg)
{
	struct dispatch *r = arg;
	static const enum metrics_breaker mb[] = { MB_CLOSED, MB_OPEN, MB_HALF_OPEN };

	log_kv(to == RETRY_BREAKER_OPEN ? WLOG_WARN : WLOG_INFO, "circuit breaker", "from",
	       retry_breaker_state_name(from), "to", retry_breaker_state_name(to), NULL);
	metrics_set_breaker(mb[to]);
	if (r->on_change != NULL)
		r->on_change(from, to, r->change_arg);
}

struct dispatch *dispatch_new(struct loop *l, struct up *up, const struct retry_cfg *cfg,
                              retry_change_fn on_change, void *change_arg)
{
	struct dispatch *r = calloc(1, sizeof *r);

	if (r == NULL)
		return NULL;
	r->loop = l;
	r->up = up;
	r->on_change = on_change;
	r->change_arg = change_arg;
	if ((r->policy = retry_new(cfg, NULL, NULL, on_breaker, r)) == NULL) {
		free(r);
		return NULL;
	}
	metrics_set_breaker(MB_CLOSED);
	return r;
}

void dispatch_free(struct dispatch *r)
{
	if (r == NULL)
		return;
	retry_free(r->policy);
	free(r);
}

void dispatch_configure(struct dispatch *r, const struct retry_cfg *cfg)
{
	retry_set_cfg(r->policy, cfg);
}

struct retry_policy *dispatch_policy(struct dispatch *r)
{
	return r->policy;
}

static void rj_cleanup(struct up_job *job)
{
	struct dispatch_job *rj = job->cleanup_arg;

	job->cleanup = NULL;
	job->cleanup_arg = NULL;
	if (rj == NULL)
		return;
	loop_timer_free(rj->timer);
	free(rj);
}

void dispatch_cancel(struct up_job *job)
{
	struct dispatch_job *rj;

	if (job == NULL)
		return;
	up_cancel(job);
	if (job->cleanup == rj_cleanup && (rj = job->cleanup_arg) != NULL)
		loop_timer_stop(rj->timer);
}

static void finish(struct dispatch_job *rj, enum retry_verdict v, enum retry_reason why, long delay_ms)
{
	struct dispatch_result res;

	res.verdict = v;
	res.reason = why;
	res.delay_ms = delay_ms > 0 ? delay_ms : 0;
	rj->done(rj->job, &res, rj->arg); /* may free the job, and rj with it */
}

static void outcome_of(const struct up_job *job, struct retry_outcome *o)
{
	o->status = 0;
	o->retry_after = job->resp_retry_after;
	o->retry_after_ms = job->resp_retry_after_ms;
	o->x_ms_retry_after_ms = job->resp_x_ms_retry_after_ms;
	o->wall_now = time(NULL);
	switch (job->result) {
	case UP_OK:
		o->net = RETRY_NET_NONE;
		o->status = (int)job->status;
		break;
	case UP_TIMEOUT: o->net = RETRY_NET_TIMEOUT; break;
	case UP_NO_ANSWER: o->net = retry_net_from_curl(job->curlcode); break;
	case UP_TOO_LARGE:
	case UP_FAILED:
	default: o->net = RETRY_NET_FATAL; break;
	}
}

static enum metrics_cause cause_metric(enum retry_reason c)
{
	switch (c) {
	case RETRY_R_TIMEOUT: return MC_TIMEOUT;
	case RETRY_R_CONNECT:
	case RETRY_R_RESET: return MC_CONNECT;
	default: return MC_STATUS;
	}
}

static void on_attempt(struct up_job *job, void *arg);

/* Ask the breaker and send. Returns 0 (in flight), DISPATCH_OPEN with *wait_ms, or -1 (up_submit failed). */
static int attempt(struct dispatch_job *rj, long *wait_ms)
{
	struct up_job *job = rj->job;
	int probe = 0;

	if (retry_admit(rj->r->policy, (int64_t)loop_now_ms(), &probe, wait_ms) == RETRY_ADMIT_OPEN)
		return DISPATCH_OPEN;
	rj->probe = probe;
	job->done = on_attempt;
	job->arg = rj;
	if (up_submit(rj->r->up, job) < 0) {
		/* nothing went out: give the probe slot back as a failure */
		if (probe)
			retry_record(rj->r->policy, 1, 1, (int64_t)loop_now_ms());
		return -1;
	}
	return 0;
}

static void on_timer(void *arg)
{
	struct dispatch_job *rj = arg;
	long wait_ms = 0;
	int rc = attempt(rj, &wait_ms);

	if (rc == DISPATCH_OPEN)
		finish(rj, RETRY_GIVE_UP, RETRY_R_BREAKER, wait_ms);
	else if (rc < 0)
		finish(rj, RETRY_FINAL, RETRY_R_NONE, 0);
}

static void on_attempt(struct up_job *job, void *arg)
{
	struct dispatch_job *rj = arg;
	struct retry_outcome o;
	struct retry_decision d;
	uint64_t now = loop_now_ms();
	enum retry_verdict v;

	if (job->result == UP_NO_CREDENTIAL) {
		/* nothing reached the service: not a breaker failure, not worth a retry now */
		rj->probe = 0;
		finish(rj, RETRY_FINAL, RETRY_R_NONE, 0);
		return;
	}
	outcome_of(job, &o);
	v = retry_decide(rj->r->policy, &o, (long)job->attempts, rj->probe, (int64_t)now,
	                 (int64_t)job->deadline_ms, &d);
	rj->probe = 0;
	if (v == RETRY_AGAIN) {
		metrics_upstream_retry(cause_metric(d.cause));
		if (log_enabled(WLOG_INFO)) {
			char delay[24], n[24], st[16];
			snprintf(delay, sizeof delay, "%ld", d.delay_ms);
			snprintf(n, sizeof n, "%u", job->attempts);
			snprintf(st, sizeof st, "%ld", job->result == UP_OK ? job->status : 0L);
			log_kv(WLOG_INFO, "retry", "request_id", job->request_id, "attempt", n, "cause",
			       retry_reason_name(d.cause), "status", st, "delay_ms", delay, "hinted",
			       d.hinted ? "1" : "0", NULL);
		}
		loop_timer_start(rj->timer, (uint64_t)d.delay_ms);
		return;
	}
	finish(rj, v, v == RETRY_GIVE_UP ? d.reason : d.cause, v == RETRY_GIVE_UP ? d.delay_ms : 0);
}

int dispatch_start(struct dispatch *r, struct up_job *job, dispatch_done_fn done, void *arg, long *wait_ms)
{
	struct dispatch_job *rj = job->cleanup == rj_cleanup ? job->cleanup_arg : NULL;
	long w = 0;
	int rc;

	if (rj == NULL) {
		if ((rj = calloc(1, sizeof *rj)) == NULL)
			goto oom;
		if ((rj->timer = loop_timer_new(r->loop, on_timer, rj)) == NULL) {
			free(rj);
			goto oom;
		}
		job->cleanup = rj_cleanup;
		job->cleanup_arg = rj;
	}
	rj->r = r;
	rj->job = job;
	rj->done = done;
	rj->arg = arg;
	retry_begin(r->policy, (int64_t)loop_now_ms());
	rc = attempt(rj, &w);
	if (rc == DISPATCH_OPEN && wait_ms != NULL)
		*wait_ms = w > 0 ? w : 1;
	return rc;
oom:
	job->result = UP_FAILED;
	snprintf(job->errmsg, sizeof job->errmsg, "out of memory");
	return -1;
}

void dispatch_retry_after(long wait_ms, char *out, size_t outlen)
{
	snprintf(out, outlen, "%ld", wait_ms <= 0 ? 1L : (wait_ms + 999) / 1000);
}
