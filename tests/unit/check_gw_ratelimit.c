/* check_gw_ratelimit.c: unit tests for per-peer token buckets and in-flight limits (ratelimit.c). */
#include <config.h>

#include <check.h>

#include "check_cfg.h"
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/ratelimit.h"
#include "check_main.h"

static struct ratelimit *rl;

static struct ratelimit *mk(double rate, double burst, size_t peers, unsigned inflight)
{
	struct ratelimit_cfg c = { rate, burst, peers, inflight };

	ratelimit_free(rl);
	rl = ratelimit_new(&c);
	ck_assert_ptr_nonnull(rl);
	return rl;
}

static void setup(void)
{
	rl = NULL;
}

static void teardown(void)
{
	ratelimit_free(rl);
	rl = NULL;
}

START_TEST(test_bucket_exact)
{
	unsigned ra = 99;
	int i;
	uint64_t k = ratelimit_key_uid(1000);

	mk(2.0, 3.0, 8, 0);
	/* A new peer starts with a full bucket: 3 requests at once, then refused. */
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(ratelimit_acquire(rl, k, 1000, &ra), RL_ALLOW);
		ck_assert_uint_eq(ra, 0);
		ratelimit_release(rl, k);
	}
	ck_assert_int_eq(ratelimit_acquire(rl, k, 1000, &ra), RL_RATE);
	ck_assert_uint_eq(ra, 1); /* 0.5 s to the next token, rounded up */
	/* 499 ms later: 0.998 tokens, still refused. */
	ck_assert_int_eq(ratelimit_acquire(rl, k, 1499, &ra), RL_RATE);
	ck_assert_uint_eq(ra, 1);
	/* 500 ms after the last full token: exactly one more. */
	ck_assert_int_eq(ratelimit_acquire(rl, k, 1500, &ra), RL_ALLOW);
	ratelimit_release(rl, k);
	ck_assert_int_eq(ratelimit_acquire(rl, k, 1500, &ra), RL_RATE);
	/* A long pause refills to the burst, not beyond. */
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(ratelimit_acquire(rl, k, 100000, &ra), RL_ALLOW);
		ratelimit_release(rl, k);
	}
	ck_assert_int_eq(ratelimit_acquire(rl, k, 100000, &ra), RL_RATE);
}
END_TEST

START_TEST(test_retry_after_values)
{
	unsigned ra;
	uint64_t k = RATELIMIT_KEY_TCP;

	/* 0.1 request/s, burst 1: after one request the next token is 10 s away. */
	mk(0.1, 1.0, 4, 0);
	ck_assert_int_eq(ratelimit_acquire(rl, k, 0, &ra), RL_ALLOW);
	ck_assert_int_eq(ratelimit_acquire(rl, k, 0, &ra), RL_RATE);
	ck_assert_uint_eq(ra, 10);
	ck_assert_int_eq(ratelimit_acquire(rl, k, 2500, &ra), RL_RATE);
	ck_assert_uint_eq(ra, 8); /* 7.5 s left, rounded up */
	ck_assert_int_eq(ratelimit_acquire(rl, k, 9999, &ra), RL_RATE);
	ck_assert_uint_eq(ra, 1);
	ck_assert_int_eq(ratelimit_acquire(rl, k, 10000, &ra), RL_ALLOW);
	/* Very slow rates are capped. */
	mk(0.0001, 1.0, 4, 0);
	ck_assert_int_eq(ratelimit_acquire(rl, k, 0, &ra), RL_ALLOW);
	ck_assert_int_eq(ratelimit_acquire(rl, k, 0, &ra), RL_RATE);
	ck_assert_uint_eq(ra, RATELIMIT_RETRY_AFTER_MAX);
}
END_TEST

START_TEST(test_peers_independent)
{
	unsigned ra;

	mk(1.0, 1.0, 8, 0);
	ck_assert_int_eq(ratelimit_acquire(rl, ratelimit_key_uid(1), 0, &ra), RL_ALLOW);
	ck_assert_int_eq(ratelimit_acquire(rl, ratelimit_key_uid(1), 0, &ra), RL_RATE);
	ck_assert_int_eq(ratelimit_acquire(rl, ratelimit_key_uid(2), 0, &ra), RL_ALLOW);
	ck_assert_int_eq(ratelimit_acquire(rl, RATELIMIT_KEY_TCP, 0, &ra), RL_ALLOW);
	/* uid 0 and the TCP key are different peers; so are uid 2^32-1 and TCP. */
	ck_assert_int_eq(ratelimit_acquire(rl, ratelimit_key_uid(0), 0, &ra), RL_ALLOW);
	ck_assert_int_eq(ratelimit_acquire(rl, ratelimit_key_uid((uid_t)-1), 0, &ra), RL_ALLOW);
	ck_assert_int_eq(ratelimit_acquire(rl, RATELIMIT_KEY_TCP, 0, &ra), RL_RATE);
	ck_assert_uint_eq(ratelimit_peers(rl), 5);
}
END_TEST

START_TEST(test_inflight_limit)
{
	unsigned ra;
	uint64_t k = ratelimit_key_uid(33);
	int i;

	mk(0, 1, 8, 3); /* no rate limit, 3 in flight */
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(ratelimit_acquire(rl, k, 0, &ra), RL_ALLOW);
	ck_assert_uint_eq(ratelimit_inflight(rl, k), 3);
	ck_assert_int_eq(ratelimit_acquire(rl, k, 0, &ra), RL_INFLIGHT);
	ck_assert_uint_eq(ra, 1);
	ck_assert_uint_eq(ratelimit_inflight(rl, k), 3);
	ratelimit_release(rl, k);
	ck_assert_int_eq(ratelimit_acquire(rl, k, 0, &ra), RL_ALLOW);
	for (i = 0; i < 10; i++) /* extra releases never go below zero */
		ratelimit_release(rl, k);
	ck_assert_uint_eq(ratelimit_inflight(rl, k), 0);
	ratelimit_release(rl, ratelimit_key_uid(4242)); /* unknown peer: ignored */
	/* With no limits at all everything passes, and in-flight counts are still kept. */
	mk(0, 1, 8, 0);
	for (i = 0; i < 10000; i++)
		ck_assert_int_eq(ratelimit_acquire(rl, k, 0, &ra), RL_ALLOW);
	ck_assert_uint_eq(ratelimit_inflight(rl, k), 10000);
}
END_TEST

START_TEST(test_inflight_refusal_keeps_tokens)
{
	unsigned ra;
	uint64_t k = ratelimit_key_uid(5);

	mk(1.0, 2.0, 8, 1);
	ck_assert_int_eq(ratelimit_acquire(rl, k, 0, &ra), RL_ALLOW);
	ck_assert_int_eq(ratelimit_acquire(rl, k, 0, &ra), RL_INFLIGHT);
	ratelimit_release(rl, k);
	/* The refused request took no token: one is left. */
	ck_assert_int_eq(ratelimit_acquire(rl, k, 0, &ra), RL_ALLOW);
	ratelimit_release(rl, k);
	ck_assert_int_eq(ratelimit_acquire(rl, k, 0, &ra), RL_RATE);
}
END_TEST

START_TEST(test_lru_eviction)
{
	unsigned ra;
	uint64_t u;

	mk(1.0, 1.0, 4, 0);
	/* Four peers each spend their token. */
	for (u = 1; u <= 4; u++) {
		ck_assert_int_eq(ratelimit_acquire(rl, u, 0, &ra), RL_ALLOW);
		ratelimit_release(rl, u);
	}
	ck_assert_uint_eq(ratelimit_peers(rl), 4);
	/* Peer 1 is seen again (refused), so peer 2 is now the least recently seen. */
	ck_assert_int_eq(ratelimit_acquire(rl, 1, 10, &ra), RL_RATE);
	ck_assert_int_eq(ratelimit_acquire(rl, 5, 10, &ra), RL_ALLOW);
	ck_assert_uint_eq(ratelimit_peers(rl), 4);
	/* Peer 2 was forgotten: it starts afresh with a full bucket. Peers 1, 3, 4 are still empty. */
	ck_assert_int_eq(ratelimit_acquire(rl, 2, 20, &ra), RL_ALLOW); /* evicts 3 */
	ck_assert_int_eq(ratelimit_acquire(rl, 1, 20, &ra), RL_RATE);
	ck_assert_int_eq(ratelimit_acquire(rl, 4, 20, &ra), RL_RATE);
	ck_assert_int_eq(ratelimit_acquire(rl, 3, 20, &ra), RL_ALLOW); /* evicted, so fresh */
}
END_TEST

START_TEST(test_busy_peers_not_evicted)
{
	unsigned ra;
	uint64_t u;

	mk(0, 1, 3, 0);
	for (u = 1; u <= 3; u++)
		ck_assert_int_eq(ratelimit_acquire(rl, u, 0, &ra), RL_ALLOW); /* all in flight */
	ck_assert_int_eq(ratelimit_acquire(rl, 4, 0, &ra), RL_FULL);
	ck_assert_uint_eq(ra, 1);
	ratelimit_release(rl, 2);
	ck_assert_int_eq(ratelimit_acquire(rl, 4, 0, &ra), RL_ALLOW); /* takes 2's slot */
	ck_assert_uint_eq(ratelimit_inflight(rl, 2), 0);
	ck_assert_uint_eq(ratelimit_inflight(rl, 1), 1);
	ck_assert_uint_eq(ratelimit_inflight(rl, 3), 1);
	ck_assert_uint_eq(ratelimit_inflight(rl, 4), 1);
}
END_TEST

START_TEST(test_many_peers_churn)
{
	unsigned ra;
	uint64_t u;

	/* 100000 distinct peers through a 64-entry table: bounded, never wrong for recent ones. */
	mk(1.0, 1.0, 64, 0);
	for (u = 0; u < 100000; u++) {
		ck_assert_int_eq(ratelimit_acquire(rl, u, u, &ra), RL_ALLOW);
		ratelimit_release(rl, u);
		if (u >= 10)
			ck_assert_int_eq(ratelimit_acquire(rl, u - 10, u, &ra), RL_RATE);
	}
	ck_assert_uint_eq(ratelimit_peers(rl), 64);
}
END_TEST

START_TEST(test_reconfigure)
{
	unsigned ra;
	struct ratelimit_cfg c = { 1000.0, 1.0, 99, 0 };
	uint64_t k = 7;

	mk(1.0, 5.0, 4, 2);
	ck_assert_int_eq(ratelimit_acquire(rl, k, 0, &ra), RL_ALLOW); /* 4 tokens left, 1 in flight */
	ratelimit_reconfigure(rl, &c);
	ck_assert_uint_eq(ratelimit_inflight(rl, k), 1);              /* state kept */
	ck_assert_int_eq(ratelimit_acquire(rl, k, 0, &ra), RL_ALLOW); /* clamped to burst 1 */
	ck_assert_int_eq(ratelimit_acquire(rl, k, 0, &ra), RL_RATE);
	ck_assert_int_eq(ratelimit_acquire(rl, k, 1, &ra), RL_ALLOW); /* 1000/s: 1 ms */
	ck_assert_uint_eq(ratelimit_inflight(rl, k), 3);              /* no in-flight limit now */
}
END_TEST

START_TEST(test_time_going_back)
{
	unsigned ra;

	mk(1.0, 1.0, 4, 0);
	ck_assert_int_eq(ratelimit_acquire(rl, 1, 5000, &ra), RL_ALLOW);
	ck_assert_int_eq(ratelimit_acquire(rl, 1, 1000, &ra), RL_RATE); /* no refill from the past */
	ck_assert_int_eq(ratelimit_acquire(rl, 1, 6000, &ra), RL_ALLOW);
}
END_TEST

START_TEST(test_cfg_defaults_and_good)
{
	struct ratelimit_cfg c;
	config_t cf;
	char err[256];

	ck_assert_int_eq(check_cfg_setting(&ratelimit_cfg_section, NULL, &c, err, sizeof(err)), 0);
	ck_assert(c.rate == RATELIMIT_DEFAULT_RATE);
	ck_assert(c.burst == RATELIMIT_DEFAULT_BURST);
	ck_assert_uint_eq(c.max_peers, RATELIMIT_DEFAULT_PEERS);
	ck_assert_uint_eq(c.max_inflight, RATELIMIT_DEFAULT_INFLIGHT);

	config_init(&cf);
	ck_assert_int_eq(config_read_string(&cf, "ratelimit = { rate = 200.5; burst = 400; max_peers = 16; "
	                                         "max_inflight_per_peer = 0; };"),
	                 CONFIG_TRUE);
	ck_assert_int_eq(check_cfg_setting(&ratelimit_cfg_section, config_lookup(&cf, "ratelimit"), &c, err,
	                                   sizeof(err)),
	                 0);
	ck_assert(c.rate == 200.5);
	ck_assert(c.burst == 400.0);
	ck_assert_uint_eq(c.max_peers, 16);
	ck_assert_uint_eq(c.max_inflight, 0);
	config_destroy(&cf);

	/* A rate without a burst: two seconds' worth. Rate 0: off. */
	config_init(&cf);
	ck_assert_int_eq(config_read_string(&cf, "ratelimit = { rate = 50; };"), CONFIG_TRUE);
	ck_assert_int_eq(check_cfg_setting(&ratelimit_cfg_section, config_lookup(&cf, "ratelimit"), &c, err,
	                                   sizeof(err)),
	                 0);
	ck_assert(c.rate == 50.0);
	ck_assert(c.burst == 100.0);
	config_destroy(&cf);
	config_init(&cf);
	ck_assert_int_eq(config_read_string(&cf, "ratelimit = { rate = 0.1; };"), CONFIG_TRUE);
	ck_assert_int_eq(check_cfg_setting(&ratelimit_cfg_section, config_lookup(&cf, "ratelimit"), &c, err,
	                                   sizeof(err)),
	                 0);
	ck_assert(c.burst == 1.0);
	config_destroy(&cf);
}
END_TEST

static const struct {
	const char *text;
	const char *err;
} bad_cfg[] = {
	{ "ratelimit = 5;", "t.conf:1: ratelimit: must be a group { ... }" },
	{ "ratelimit = { speed = 5; };", "t.conf:1: ratelimit.speed: unknown key" },
	{ "ratelimit = {\n\n rate = -1; };", "t.conf:3: ratelimit.rate: must be a number in 0..1000000000" },
	{ "ratelimit = { rate = \"fast\"; };",
	  "t.conf:1: ratelimit.rate: must be a number in 0..1000000000" },
	{ "ratelimit = { rate = 1e10; };", "t.conf:1: ratelimit.rate: must be a number in 0..1000000000" },
	{ "ratelimit = { burst = 0; };", "t.conf:1: ratelimit.burst: must be a number in 1..1000000000" },
	{ "ratelimit = { burst = 0.5; };", "t.conf:1: ratelimit.burst: must be a number in 1..1000000000" },
	{ "ratelimit = { max_peers = 0; };",
	  "t.conf:1: ratelimit.max_peers: must be an integer in 1..65536" },
	{ "ratelimit = { max_peers = 65537; };",
	  "t.conf:1: ratelimit.max_peers: must be an integer in 1..65536" },
	{ "ratelimit = { max_peers = 1.5; };",
	  "t.conf:1: ratelimit.max_peers: must be an integer in 1..65536" },
	{ "ratelimit = { max_inflight_per_peer = -1; };",
	  "t.conf:1: ratelimit.max_inflight_per_peer: must be an integer in 0..10000000" },
	{ "ratelimit = { max_inflight_per_peer = true; };",
	  "t.conf:1: ratelimit.max_inflight_per_peer: must be an integer in 0..10000000" },
};

START_TEST(test_cfg_bad)
{
	struct ratelimit_cfg c;
	config_t cf;
	char err[256] = "";

	config_init(&cf);
	ck_assert_int_eq(config_read_string(&cf, bad_cfg[_i].text), CONFIG_TRUE);
	ck_assert_int_eq(check_cfg_setting(&ratelimit_cfg_section, config_lookup(&cf, "ratelimit"), &c, err,
	                                   sizeof(err)),
	                 -1);
	ck_assert_msg(strcmp(err, bad_cfg[_i].err) == 0, "row %d: got \"%s\"", _i, err);
	config_destroy(&cf);
}
END_TEST

static Suite *ratelimit_suite(void)
{
	Suite *s = suite_create("ratelimit");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_bucket_exact);
	tcase_add_test(tc, test_retry_after_values);
	tcase_add_test(tc, test_peers_independent);
	tcase_add_test(tc, test_inflight_limit);
	tcase_add_test(tc, test_inflight_refusal_keeps_tokens);
	tcase_add_test(tc, test_lru_eviction);
	tcase_add_test(tc, test_busy_peers_not_evicted);
	tcase_add_test(tc, test_many_peers_churn);
	tcase_add_test(tc, test_reconfigure);
	tcase_add_test(tc, test_time_going_back);
	tcase_add_test(tc, test_cfg_defaults_and_good);
	tcase_add_loop_test(tc, test_cfg_bad, 0, (int)(sizeof(bad_cfg) / sizeof(bad_cfg[0])));
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(ratelimit_suite());
}
