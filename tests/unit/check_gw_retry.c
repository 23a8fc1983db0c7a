/* check_gw_retry.c: unit tests for the retry policy (src/gateway/retry.c): every branch, with a fixed clock and RNG. */
#include <config.h>

#include <check.h>

#include "check_cfg.h"
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include <libconfig.h>

#include "gateway/retry.h"
#include "check_main.h"

static struct retry_cfg cfg;
static struct retry_policy *pol;
static uint64_t rng_value; /* what the fake RNG returns */
static int changes[16][2];
static int nchanges;

static uint64_t fake_rng(void *arg)
{
	(void)arg;
	return rng_value;
}

static void on_change(enum retry_breaker_state from, enum retry_breaker_state to, void *arg)
{
	(void)arg;
	if (nchanges < 16) {
		changes[nchanges][0] = (int)from;
		changes[nchanges][1] = (int)to;
	}
	nchanges++;
}

static void setup(void)
{
	cfgtab_defaults(&retry_cfg_section, &cfg);
	rng_value = 0;
	nchanges = 0;
	pol = retry_new(&cfg, fake_rng, NULL, on_change, NULL);
	ck_assert_ptr_nonnull(pol);
}

static void teardown(void)
{
	retry_free(pol);
	pol = NULL;
}

static struct retry_outcome status_outcome(int status)
{
	struct retry_outcome o;

	memset(&o, 0, sizeof(o));
	o.status = status;
	return o;
}

static struct retry_outcome net_outcome(enum retry_net net)
{
	struct retry_outcome o;

	memset(&o, 0, sizeof(o));
	o.net = net;
	return o;
}

/* Re-create the policy after changing cfg. */
static void renew(void)
{
	retry_free(pol);
	pol = retry_new(&cfg, fake_rng, NULL, on_change, NULL);
	ck_assert_ptr_nonnull(pol);
}

START_TEST(test_defaults)
{
	ck_assert_int_eq(cfg.max_attempts, 4);
	ck_assert_int_eq(cfg.base_delay_ms, 200);
	ck_assert_int_eq(cfg.max_delay_ms, 10000);
	ck_assert_int_eq(cfg.retry_after_max_ms, 30000);
	ck_assert_uint_eq(cfg.nstatuses, 6);
	ck_assert_int_eq(cfg.statuses[0], 408);
	ck_assert_int_eq(cfg.statuses[5], 504);
	ck_assert(cfg.budget_ratio > 0.199 && cfg.budget_ratio < 0.201);
	ck_assert_int_eq(cfg.breaker_failures, 5);
	ck_assert_int_eq(cfg.breaker_cooldown_ms, 5000);
	ck_assert_int_eq(cfg.breaker_probes, 1);
	ck_assert_int_eq(cfg.on_connect_error && cfg.on_timeout && cfg.on_reset && cfg.breaker_enabled, 1);
}
END_TEST

/* Which statuses and network errors are retried: all of 100..599 checked against the list. */
START_TEST(test_classification)
{
	enum retry_reason cause;
	struct retry_outcome o;
	int s;

	for (s = 100; s < 600; s++) {
		int expect = s == 408 || s == 429 || s == 500 || s == 502 || s == 503 || s == 504;

		o = status_outcome(s);
		ck_assert_msg(retry_is_retryable(&cfg, &o, &cause) == expect, "status %d", s);
		ck_assert_int_eq(cause, RETRY_R_STATUS);
	}
	o = net_outcome(RETRY_NET_CONNECT);
	ck_assert_int_eq(retry_is_retryable(&cfg, &o, &cause), 1);
	ck_assert_int_eq(cause, RETRY_R_CONNECT);
	o = net_outcome(RETRY_NET_TIMEOUT);
	ck_assert_int_eq(retry_is_retryable(&cfg, &o, &cause), 1);
	ck_assert_int_eq(cause, RETRY_R_TIMEOUT);
	o = net_outcome(RETRY_NET_RESET);
	ck_assert_int_eq(retry_is_retryable(&cfg, &o, &cause), 1);
	ck_assert_int_eq(cause, RETRY_R_RESET);
	o = net_outcome(RETRY_NET_FATAL);
	ck_assert_int_eq(retry_is_retryable(&cfg, &o, &cause), 0);
	cfg.on_connect_error = cfg.on_timeout = cfg.on_reset = 0;
	o = net_outcome(RETRY_NET_CONNECT);
	ck_assert_int_eq(retry_is_retryable(&cfg, &o, &cause), 0);
	o = net_outcome(RETRY_NET_TIMEOUT);
	ck_assert_int_eq(retry_is_retryable(&cfg, &o, &cause), 0);
	o = net_outcome(RETRY_NET_RESET);
	ck_assert_int_eq(retry_is_retryable(&cfg, &o, &cause), 0);
}
END_TEST

START_TEST(test_curl_mapping)
{
	ck_assert_int_eq(retry_net_from_curl(CURLE_OK), RETRY_NET_NONE);
	ck_assert_int_eq(retry_net_from_curl(CURLE_COULDNT_CONNECT), RETRY_NET_CONNECT);
	ck_assert_int_eq(retry_net_from_curl(CURLE_COULDNT_RESOLVE_HOST), RETRY_NET_CONNECT);
	ck_assert_int_eq(retry_net_from_curl(CURLE_SSL_CONNECT_ERROR), RETRY_NET_CONNECT);
	ck_assert_int_eq(retry_net_from_curl(CURLE_OPERATION_TIMEDOUT), RETRY_NET_TIMEOUT);
	ck_assert_int_eq(retry_net_from_curl(CURLE_RECV_ERROR), RETRY_NET_RESET);
	ck_assert_int_eq(retry_net_from_curl(CURLE_GOT_NOTHING), RETRY_NET_RESET);
	ck_assert_int_eq(retry_net_from_curl(CURLE_SEND_ERROR), RETRY_NET_RESET);
	ck_assert_int_eq(retry_net_from_curl(CURLE_PEER_FAILED_VERIFICATION), RETRY_NET_FATAL);
	ck_assert_int_eq(retry_net_from_curl(CURLE_OUT_OF_MEMORY), RETRY_NET_FATAL);
}
END_TEST

START_TEST(test_success_and_final)
{
	struct retry_decision d;
	struct retry_outcome o = status_outcome(202);

	ck_assert_int_eq(retry_decide(pol, &o, 1, 0, 0, 0, &d), RETRY_SUCCESS);
	o = status_outcome(204);
	ck_assert_int_eq(retry_decide(pol, &o, 1, 0, 0, 0, &d), RETRY_SUCCESS);
	o = status_outcome(400);
	ck_assert_int_eq(retry_decide(pol, &o, 1, 0, 0, 0, &d), RETRY_FINAL);
	o = status_outcome(404);
	ck_assert_int_eq(retry_decide(pol, &o, 1, 0, 0, 0, &d), RETRY_FINAL);
	o = status_outcome(401);
	ck_assert_int_eq(retry_decide(pol, &o, 1, 0, 0, 0, &d), RETRY_FINAL);
	o = status_outcome(501);
	ck_assert_int_eq(retry_decide(pol, &o, 1, 0, 0, 0, &d), RETRY_FINAL);
	o = status_outcome(302);
	ck_assert_int_eq(retry_decide(pol, &o, 1, 0, 0, 0, &d), RETRY_FINAL);
	o = net_outcome(RETRY_NET_FATAL);
	ck_assert_int_eq(retry_decide(pol, &o, 1, 0, 0, 0, &d), RETRY_FINAL);
	/* even with a Retry-After on a 400 */
	o = status_outcome(400);
	o.retry_after = "1";
	ck_assert_int_eq(retry_decide(pol, &o, 1, 0, 0, 0, &d), RETRY_FINAL);
	ck_assert_uint_eq(pol != NULL, 1);
}
END_TEST

START_TEST(test_backoff_full_jitter)
{
	/* The RNG decides the point in [0, cap]; cap doubles from 200 up to 10000. */
	rng_value = UINT64_MAX; /* UINT64_MAX % (cap + 1) */
	ck_assert_int_eq(retry_backoff_ms(pol, 1), (long)(UINT64_MAX % 201));
	rng_value = 200;
	ck_assert_int_eq(retry_backoff_ms(pol, 1), 200);
	rng_value = 400;
	ck_assert_int_eq(retry_backoff_ms(pol, 2), 400);
	rng_value = 401;
	ck_assert_int_eq(retry_backoff_ms(pol, 2), 0);
	rng_value = 800;
	ck_assert_int_eq(retry_backoff_ms(pol, 3), 800);
	rng_value = 6400;
	ck_assert_int_eq(retry_backoff_ms(pol, 6), 6400);
	rng_value = 10000;
	ck_assert_int_eq(retry_backoff_ms(pol, 7), 10000);  /* 12800 capped at 10000 */
	ck_assert_int_eq(retry_backoff_ms(pol, 60), 10000); /* no overflow */
	rng_value = 10001;
	ck_assert_int_eq(retry_backoff_ms(pol, 60), 0);
	rng_value = 0;
	ck_assert_int_eq(retry_backoff_ms(pol, 1), 0);
}
END_TEST

START_TEST(test_internal_rng_in_range)
{
	struct retry_policy *p = retry_new(&cfg, NULL, NULL, NULL, NULL);
	long v, mn = 100000, mx = -1;
	int i;

	ck_assert_ptr_nonnull(p);
	for (i = 0; i < 2000; i++) {
		v = retry_backoff_ms(p, 3);
		ck_assert(v >= 0 && v <= 800);
		mn = v < mn ? v : mn;
		mx = v > mx ? v : mx;
	}
	ck_assert(mn < 100 && mx > 700); /* spread over the range */
	retry_free(p);
}
END_TEST

START_TEST(test_retry_sequence_and_attempts)
{
	struct retry_decision d;
	struct retry_outcome o = status_outcome(503);

	rng_value = 150;
	retry_begin(pol, 0);
	ck_assert_int_eq(retry_decide(pol, &o, 1, 0, 0, 0, &d), RETRY_AGAIN);
	ck_assert_int_eq(d.reason, RETRY_R_STATUS);
	ck_assert_int_eq(d.cause, RETRY_R_STATUS);
	ck_assert_int_eq(d.delay_ms, 150);
	ck_assert_int_eq(d.hinted, 0);
	o = net_outcome(RETRY_NET_TIMEOUT);
	ck_assert_int_eq(retry_decide(pol, &o, 2, 0, 100, 0, &d), RETRY_AGAIN);
	ck_assert_int_eq(d.reason, RETRY_R_TIMEOUT);
	o = net_outcome(RETRY_NET_CONNECT);
	ck_assert_int_eq(retry_decide(pol, &o, 3, 0, 200, 0, &d), RETRY_AGAIN);
	ck_assert_int_eq(d.reason, RETRY_R_CONNECT);
	o = net_outcome(RETRY_NET_RESET);
	ck_assert_int_eq(retry_decide(pol, &o, 4, 0, 300, 0, &d), RETRY_GIVE_UP);
	ck_assert_int_eq(d.reason, RETRY_R_ATTEMPTS);
	ck_assert_int_eq(d.cause, RETRY_R_RESET);

	cfg.max_attempts = 1;
	renew();
	o = status_outcome(429);
	ck_assert_int_eq(retry_decide(pol, &o, 1, 0, 0, 0, &d), RETRY_GIVE_UP);
	ck_assert_int_eq(d.reason, RETRY_R_ATTEMPTS);
}
END_TEST

START_TEST(test_hints)
{
	struct retry_outcome o = status_outcome(429);
	struct retry_decision d;

	ck_assert_int_eq(retry_hint_ms(&cfg, &o), -1);
	o.retry_after = "3";
	ck_assert_int_eq(retry_hint_ms(&cfg, &o), 3000);
	o.retry_after = " 0 ";
	ck_assert_int_eq(retry_hint_ms(&cfg, &o), 0);
	o.retry_after = "999999999999999999999";
	ck_assert_int_eq(retry_hint_ms(&cfg, &o), 30000); /* capped */
	o.retry_after = "-1";
	ck_assert_int_eq(retry_hint_ms(&cfg, &o), -1);
	o.retry_after = "1.5";
	ck_assert_int_eq(retry_hint_ms(&cfg, &o), -1);
	o.retry_after = "";
	ck_assert_int_eq(retry_hint_ms(&cfg, &o), -1);
	/* HTTP date, 7 seconds after wall_now */
	o.wall_now = 784111770; /* Sun, 06 Nov 1994 08:49:30 GMT */
	o.retry_after = "Sun, 06 Nov 1994 08:49:37 GMT";
	ck_assert_int_eq(retry_hint_ms(&cfg, &o), 7000);
	o.retry_after = "Sunday, 06-Nov-94 08:49:37 GMT";
	ck_assert_int_eq(retry_hint_ms(&cfg, &o), 7000);
	o.retry_after = "Sun Nov  6 08:49:37 1994";
	ck_assert_int_eq(retry_hint_ms(&cfg, &o), 7000);
	o.retry_after = "Sun, 06 Nov 1994 08:49:00 GMT"; /* in the past: now */
	ck_assert_int_eq(retry_hint_ms(&cfg, &o), 0);
	o.retry_after = "Sun, 06 Nov 1994 09:49:37 GMT"; /* an hour: capped */
	ck_assert_int_eq(retry_hint_ms(&cfg, &o), 30000);
	o.retry_after = "Sun, 06 Nov 1994 08:49:37 PST";
	ck_assert_int_eq(retry_hint_ms(&cfg, &o), -1);
	o.retry_after = "Sun, 06 Foo 1994 08:49:37 GMT";
	ck_assert_int_eq(retry_hint_ms(&cfg, &o), -1);
	o.retry_after = "Sun, 06 Nov 1994 25:49:37 GMT";
	ck_assert_int_eq(retry_hint_ms(&cfg, &o), -1);
	o.retry_after = "Sun, 06 Nov 1994 08:49:37 GMT trailing";
	ck_assert_int_eq(retry_hint_ms(&cfg, &o), -1);
	/* precedence: retry-after-ms, then x-ms-retry-after-ms, then Retry-After */
	o.retry_after = "3";
	o.x_ms_retry_after_ms = "700";
	ck_assert_int_eq(retry_hint_ms(&cfg, &o), 700);
	o.retry_after_ms = "250";
	ck_assert_int_eq(retry_hint_ms(&cfg, &o), 250);
	o.retry_after_ms = "bogus"; /* an invalid one is skipped */
	ck_assert_int_eq(retry_hint_ms(&cfg, &o), 700);
	o.x_ms_retry_after_ms = "x";
	ck_assert_int_eq(retry_hint_ms(&cfg, &o), 3000);
	o.retry_after_ms = "45000";
	ck_assert_int_eq(retry_hint_ms(&cfg, &o), 30000);

	/* a hint replaces the backoff */
	rng_value = 77;
	o = status_outcome(503);
	o.retry_after = "2";
	ck_assert_int_eq(retry_decide(pol, &o, 1, 0, 0, 0, &d), RETRY_AGAIN);
	ck_assert_int_eq(d.delay_ms, 2000);
	ck_assert_int_eq(d.hinted, 1);
}
END_TEST

START_TEST(test_http_date_parse)
{
	time_t t;

	ck_assert_int_eq(retry_parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT", &t), 0);
	ck_assert_int_eq((long)t, 0);
	ck_assert_int_eq(retry_parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT", &t), 0);
	ck_assert_int_eq((long)t, 1445412480L);
	ck_assert_int_eq(retry_parse_http_date("Wednesday, 21-Oct-15 07:28:00 GMT", &t), 0);
	ck_assert_int_eq((long)t, 1445412480L);
	ck_assert_int_eq(retry_parse_http_date("Wed Oct 21 07:28:00 2015", &t), 0);
	ck_assert_int_eq((long)t, 1445412480L);
	ck_assert_int_eq(retry_parse_http_date("Wed, 21 Oct 1969 07:28:00 GMT", &t), -1);
	ck_assert_int_eq(retry_parse_http_date("garbage", &t), -1);
	ck_assert_int_eq(retry_parse_http_date("", &t), -1);
	ck_assert_int_eq(retry_parse_http_date("Wed, 32 Oct 2015 07:28:00 GMT", &t), -1);
}
END_TEST

START_TEST(test_deadline)
{
	struct retry_outcome o = status_outcome(503);
	struct retry_decision d;

	rng_value = 200; /* backoff 200 */
	ck_assert_int_eq(retry_decide(pol, &o, 1, 0, 1000, 1200, &d), RETRY_GIVE_UP);
	ck_assert_int_eq(d.reason, RETRY_R_DEADLINE);
	ck_assert_int_eq(retry_decide(pol, &o, 1, 0, 1000, 1201, &d), RETRY_AGAIN);
	o.retry_after = "5";
	ck_assert_int_eq(retry_decide(pol, &o, 1, 0, 1000, 5000, &d), RETRY_GIVE_UP);
	ck_assert_int_eq(d.reason, RETRY_R_DEADLINE);
	ck_assert_int_eq(d.delay_ms, 5000);
}
END_TEST

START_TEST(test_budget)
{
	struct retry_outcome o = status_outcome(500);
	struct retry_decision d;
	int i, again = 0;

	/* no minimum: exactly 20% of 100 requests may be retried */
	cfg.budget_min_per_s = 0;
	cfg.breaker_enabled = 0;
	renew();
	for (i = 0; i < 100; i++)
		retry_begin(pol, 1000);
	for (i = 0; i < 50; i++)
		if (retry_decide(pol, &o, 1, 0, 1000, 0, &d) == RETRY_AGAIN)
			again++;
	ck_assert_int_eq(again, 20);
	ck_assert_int_eq(d.verdict, RETRY_GIVE_UP);
	ck_assert_int_eq(d.reason, RETRY_R_BUDGET);
	ck_assert_int_eq(d.cause, RETRY_R_STATUS);
	{
		struct retry_stats st;

		retry_get_stats(pol, &st);
		ck_assert_uint_eq(st.retries, 20);
		ck_assert_uint_eq(st.budget_refusals, 30);
		ck_assert_uint_eq(st.requests, 100);
	}
	/* the window slides: 10 s later the old requests and retries no longer count */
	ck_assert_int_eq(retry_decide(pol, &o, 1, 0, 1000 + 9999, 0, &d), RETRY_GIVE_UP);
	retry_begin(pol, 1000 + 11000);
	for (i = 0, again = 0; i < 5; i++)
		if (retry_decide(pol, &o, 1, 0, 1000 + 11000, 0, &d) == RETRY_AGAIN)
			again++;
	ck_assert_int_eq(again, 0); /* 0.2 * 1 request < 1 */
	for (i = 0; i < 10; i++)
		retry_begin(pol, 1000 + 11000);
	for (i = 0, again = 0; i < 5; i++)
		if (retry_decide(pol, &o, 1, 0, 1000 + 11000, 0, &d) == RETRY_AGAIN)
			again++;
	ck_assert_int_eq(again, 2); /* 0.2 * 11 = 2.2 */

	/* the minimum: 1 per second over a 10 s window = 10 retries with no traffic at all */
	cfg.budget_min_per_s = 1;
	renew();
	for (i = 0, again = 0; i < 30; i++)
		if (retry_decide(pol, &o, 1, 0, 5000, 0, &d) == RETRY_AGAIN)
			again++;
	ck_assert_int_eq(again, 10);
	/* ratio 0 and minimum 0: never a retry */
	cfg.budget_min_per_s = 0;
	cfg.budget_ratio = 0;
	renew();
	retry_begin(pol, 0);
	ck_assert_int_eq(retry_decide(pol, &o, 1, 0, 0, 0, &d), RETRY_GIVE_UP);
	ck_assert_int_eq(d.reason, RETRY_R_BUDGET);
}
END_TEST

START_TEST(test_breaker_cycle)
{
	struct retry_outcome bad = status_outcome(503), good = status_outcome(202),
	                     r400 = status_outcome(400);
	struct retry_decision d;
	int probe, i;
	long wait;

	ck_assert_int_eq(retry_admit(pol, 0, &probe, &wait), RETRY_ADMIT_OK);
	ck_assert_int_eq(probe, 0);
	/* 4 failures, then a 400 (the service answered): the count starts again */
	for (i = 0; i < 4; i++)
		retry_record(pol, 1, 0, 10);
	retry_decide(pol, &r400, 1, 0, 10, 0, &d);
	ck_assert_int_eq(retry_breaker_state(pol), RETRY_BREAKER_CLOSED);
	for (i = 0; i < 4; i++)
		retry_decide(pol, &bad, 1, 0, 20, 0, &d);
	ck_assert_int_eq(retry_breaker_state(pol), RETRY_BREAKER_CLOSED);
	ck_assert_int_eq(nchanges, 0);
	retry_decide(pol, &bad, 1, 0, 100, 0, &d); /* the fifth: open */
	ck_assert_int_eq(retry_breaker_state(pol), RETRY_BREAKER_OPEN);
	ck_assert_int_eq(nchanges, 1);
	ck_assert_int_eq(changes[0][0], RETRY_BREAKER_CLOSED);
	ck_assert_int_eq(changes[0][1], RETRY_BREAKER_OPEN);
	/* the attempt that opened it is not retried into the open breaker */
	ck_assert_int_eq(d.verdict, RETRY_GIVE_UP);
	ck_assert_int_eq(d.reason, RETRY_R_BREAKER);

	/* open: refused at once, with the time left */
	ck_assert_int_eq(retry_admit(pol, 100, &probe, &wait), RETRY_ADMIT_OPEN);
	ck_assert_int_eq(wait, 5000);
	ck_assert_int_eq(retry_admit(pol, 5099, &probe, &wait), RETRY_ADMIT_OPEN);
	ck_assert_int_eq(wait, 1);
	/* a late success of an attempt admitted before changes nothing */
	retry_decide(pol, &good, 1, 0, 200, 0, &d);
	ck_assert_int_eq(retry_breaker_state(pol), RETRY_BREAKER_OPEN);

	/* cool-down over: one probe through, others refused */
	ck_assert_int_eq(retry_admit(pol, 5100, &probe, &wait), RETRY_ADMIT_PROBE);
	ck_assert_int_eq(probe, 1);
	ck_assert_int_eq(retry_breaker_state(pol), RETRY_BREAKER_HALF_OPEN);
	ck_assert_int_eq(retry_admit(pol, 5101, &probe, &wait), RETRY_ADMIT_OPEN);
	ck_assert_int_eq(probe, 0);
	ck_assert_int_eq(wait, 1000);
	/* a non-probe result in half-open changes nothing */
	retry_record(pol, 1, 0, 5102);
	ck_assert_int_eq(retry_breaker_state(pol), RETRY_BREAKER_HALF_OPEN);
	/* the probe fails: open again for a full cool-down */
	retry_decide(pol, &bad, 1, 1, 5200, 0, &d);
	ck_assert_int_eq(retry_breaker_state(pol), RETRY_BREAKER_OPEN);
	ck_assert_int_eq(retry_admit(pol, 5300, &probe, &wait), RETRY_ADMIT_OPEN);
	ck_assert_int_eq(wait, 4900);
	/* next probe succeeds: closed */
	ck_assert_int_eq(retry_admit(pol, 10200, &probe, &wait), RETRY_ADMIT_PROBE);
	ck_assert_int_eq(retry_decide(pol, &good, 1, 1, 10250, 0, &d), RETRY_SUCCESS);
	ck_assert_int_eq(retry_breaker_state(pol), RETRY_BREAKER_CLOSED);
	ck_assert_int_eq(retry_admit(pol, 10251, &probe, &wait), RETRY_ADMIT_OK);
	ck_assert_int_eq(nchanges, 5); /* open, half, open, half, closed */
	ck_assert_int_eq(changes[1][1], RETRY_BREAKER_HALF_OPEN);
	ck_assert_int_eq(changes[2][1], RETRY_BREAKER_OPEN);
	ck_assert_int_eq(changes[3][1], RETRY_BREAKER_HALF_OPEN);
	ck_assert_int_eq(changes[4][0], RETRY_BREAKER_HALF_OPEN);
	ck_assert_int_eq(changes[4][1], RETRY_BREAKER_CLOSED);
	{
		struct retry_stats st;

		retry_get_stats(pol, &st);
		ck_assert_uint_eq(st.breaker_opens, 2);
		ck_assert_uint_eq(st.breaker_refusals, 4);
		ck_assert_int_eq(st.state, RETRY_BREAKER_CLOSED);
		ck_assert_int_eq(st.consecutive_failures, 0);
	}
}
END_TEST

START_TEST(test_breaker_probes_and_abandoned)
{
	int probe, i;
	long wait;

	cfg.breaker_probes = 2;
	cfg.breaker_failures = 1;
	cfg.breaker_cooldown_ms = 500;
	renew();
	retry_record(pol, 1, 0, 0);
	ck_assert_int_eq(retry_breaker_state(pol), RETRY_BREAKER_OPEN);
	ck_assert_int_eq(retry_admit(pol, 500, &probe, &wait), RETRY_ADMIT_PROBE);
	ck_assert_int_eq(retry_admit(pol, 501, &probe, &wait), RETRY_ADMIT_PROBE);
	ck_assert_int_eq(retry_admit(pol, 502, &probe, &wait), RETRY_ADMIT_OPEN);
	ck_assert_int_eq(wait, 500); /* min(cooldown, 1000) */
	/* the probes never report back: after a cool-down new probes go through */
	ck_assert_int_eq(retry_admit(pol, 1000, &probe, &wait), RETRY_ADMIT_OPEN);
	ck_assert_int_eq(retry_admit(pol, 1001, &probe, &wait), RETRY_ADMIT_PROBE);
	/* connect errors, resets and fatal errors all count as failures */
	cfg.breaker_failures = 3;
	renew();
	for (i = 0; i < 2; i++) {
		struct retry_outcome o;
		struct retry_decision d;

		memset(&o, 0, sizeof(o));
		o.net = i == 0 ? RETRY_NET_FATAL : RETRY_NET_RESET;
		retry_decide(pol, &o, 1, 0, 0, 0, &d);
	}
	ck_assert_int_eq(retry_breaker_state(pol), RETRY_BREAKER_CLOSED);
	retry_record(pol, 1, 0, 0);
	ck_assert_int_eq(retry_breaker_state(pol), RETRY_BREAKER_OPEN);
}
END_TEST

START_TEST(test_breaker_disabled)
{
	int probe, i;
	long wait;

	cfg.breaker_enabled = 0;
	renew();
	for (i = 0; i < 50; i++)
		retry_record(pol, 1, 0, 0);
	ck_assert_int_eq(retry_breaker_state(pol), RETRY_BREAKER_CLOSED);
	ck_assert_int_eq(retry_admit(pol, 1, &probe, &wait), RETRY_ADMIT_OK);
	ck_assert_int_eq(nchanges, 0);
}
END_TEST

START_TEST(test_set_cfg_keeps_state)
{
	struct retry_cfg c2;
	int probe;
	long wait;

	cfg.breaker_failures = 1;
	renew();
	retry_record(pol, 1, 0, 0);
	c2 = cfg;
	c2.breaker_cooldown_ms = 100;
	retry_set_cfg(pol, &c2);
	ck_assert_int_eq(retry_get_cfg(pol)->breaker_cooldown_ms, 100);
	ck_assert_int_eq(retry_breaker_state(pol), RETRY_BREAKER_OPEN);
	ck_assert_int_eq(retry_admit(pol, 100, &probe, &wait), RETRY_ADMIT_PROBE);
}
END_TEST

START_TEST(test_names)
{
	ck_assert_str_eq(retry_breaker_state_name(RETRY_BREAKER_CLOSED), "closed");
	ck_assert_str_eq(retry_breaker_state_name(RETRY_BREAKER_OPEN), "open");
	ck_assert_str_eq(retry_breaker_state_name(RETRY_BREAKER_HALF_OPEN), "half_open");
	ck_assert_str_eq(retry_reason_name(RETRY_R_STATUS), "status");
	ck_assert_str_eq(retry_reason_name(RETRY_R_CONNECT), "connect");
	ck_assert_str_eq(retry_reason_name(RETRY_R_TIMEOUT), "timeout");
	ck_assert_str_eq(retry_reason_name(RETRY_R_RESET), "reset");
	ck_assert_str_eq(retry_reason_name(RETRY_R_BUDGET), "budget");
	ck_assert_str_eq(retry_reason_name(RETRY_R_DEADLINE), "deadline");
	ck_assert_str_eq(retry_reason_name(RETRY_R_ATTEMPTS), "attempts");
	ck_assert_str_eq(retry_reason_name(RETRY_R_BREAKER), "breaker");
}
END_TEST

/* ---- configuration ---- */

static int parse_text(const char *text, struct retry_cfg *out, char *err, size_t errlen)
{
	config_t c;
	int rc;

	config_init(&c);
	ck_assert_int_eq(config_read_string(&c, text), CONFIG_TRUE);
	rc = check_cfg_setting(&retry_cfg_section, config_lookup(&c, "retry"), out, err, errlen);
	config_destroy(&c);
	return rc;
}

START_TEST(test_cfg_parse_good)
{
	struct retry_cfg c;
	char err[256] = "";

	ck_assert_int_eq(check_cfg_setting(&retry_cfg_section, NULL, &c, err, sizeof(err)), 0);
	ck_assert_int_eq(c.max_attempts, 4);
	ck_assert_int_eq(
	        parse_text("retry = { max_attempts = 6; base_delay_ms = 50; max_delay_ms = 2000;\n"
	                   " retry_after_max_ms = 1000; statuses = [429, 503];\n"
	                   " on_reset = false; budget_ratio = 0.5; budget_window_ms = 5000;\n"
	                   " budget_min_per_s = 0;\n"
	                   " breaker = { enabled = true; failures = 3; cooldown_ms = 700; probes = 2; }; };",
	                   &c, err, sizeof(err)),
	        0);
	ck_assert_int_eq(c.max_attempts, 6);
	ck_assert_int_eq(c.base_delay_ms, 50);
	ck_assert_int_eq(c.max_delay_ms, 2000);
	ck_assert_int_eq(c.retry_after_max_ms, 1000);
	ck_assert_uint_eq(c.nstatuses, 2);
	ck_assert_int_eq(c.statuses[0], 429);
	ck_assert_int_eq(c.statuses[1], 503);
	ck_assert_int_eq(c.on_reset, 0);
	ck_assert_int_eq(c.on_timeout, 1);
	ck_assert(c.budget_ratio > 0.49 && c.budget_ratio < 0.51);
	ck_assert_int_eq(c.budget_window_ms, 5000);
	ck_assert_int_eq(c.budget_min_per_s, 0);
	ck_assert_int_eq(c.breaker_failures, 3);
	ck_assert_int_eq(c.breaker_cooldown_ms, 700);
	ck_assert_int_eq(c.breaker_probes, 2);
	ck_assert_int_eq(parse_text("retry = { budget_ratio = 1; statuses = (); };", &c, err, sizeof(err)),
	                 0);
	ck_assert_uint_eq(c.nstatuses, 0);
}
END_TEST

START_TEST(test_cfg_parse_errors)
{
	static const struct {
		const char *text, *err;
	} cases[] = {
		{ "retry = { max_attempts = 0; };",
		  "t.conf:1: retry.max_attempts: must be an integer in 1..20" },
		{ "retry = { max_attempts = \"4\"; };",
		  "t.conf:1: retry.max_attempts: must be an integer in 1..20" },
		{ "retry = {\n bogus = 1; };", "t.conf:2: retry.bogus: unknown key" },
		{ "retry = { statuses = [404]; };",
		  "t.conf:1: retry.statuses[1]: only 408, 429 and 500..599 may be retried" },
		{ "retry = { statuses = [200]; };",
		  "t.conf:1: retry.statuses[1]: only 408, 429 and 500..599 may be retried" },
		{ "retry = { statuses = 503; };",
		  "t.conf:1: retry.statuses: must be an array of integers [ ... ]" },
		{ "retry = { on_timeout = 1; };", "t.conf:1: retry.on_timeout: must be true or false" },
		{ "retry = { budget_ratio = -0.5; };",
		  "t.conf:1: retry.budget_ratio: must be a number in 0..10" },
		{ "retry = { base_delay_ms = 500; max_delay_ms = 100; };",
		  "t.conf:1: retry.max_delay_ms: must not be below base_delay_ms" },
		{ "retry = {\n\n breaker = { failures = 0; }; };",
		  "t.conf:3: retry.breaker.failures: must be an integer in 1..1000000" },
		{ "retry = { breaker = { colldown_ms = 5; }; };",
		  "t.conf:1: retry.breaker.colldown_ms: unknown key" },
		{ "retry = 5;", "t.conf:1: retry: must be a group { ... }" },
	};
	struct retry_cfg c;
	char err[256];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		ck_assert_msg(parse_text(cases[i].text, &c, err, sizeof(err)) == -1, "case %zu", i);
		ck_assert_str_eq(err, cases[i].err);
	}
}
END_TEST

static Suite *retry_suite(void)
{
	Suite *s = suite_create("gw_retry");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_classification);
	tcase_add_test(tc, test_curl_mapping);
	tcase_add_test(tc, test_success_and_final);
	tcase_add_test(tc, test_backoff_full_jitter);
	tcase_add_test(tc, test_internal_rng_in_range);
	tcase_add_test(tc, test_retry_sequence_and_attempts);
	tcase_add_test(tc, test_hints);
	tcase_add_test(tc, test_http_date_parse);
	tcase_add_test(tc, test_deadline);
	tcase_add_test(tc, test_budget);
	tcase_add_test(tc, test_breaker_cycle);
	tcase_add_test(tc, test_breaker_probes_and_abandoned);
	tcase_add_test(tc, test_breaker_disabled);
	tcase_add_test(tc, test_set_cfg_keeps_state);
	tcase_add_test(tc, test_names);
	tcase_add_test(tc, test_cfg_parse_good);
	tcase_add_test(tc, test_cfg_parse_errors);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(retry_suite());
}
