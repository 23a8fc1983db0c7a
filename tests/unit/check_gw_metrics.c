/* check_gw_metrics.c: unit tests for the metrics (exact exposition text), /proc figures, health bodies. */
#include <config.h>

#include <check.h>

#include "check_cfg.h"
#include <fcntl.h>
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "gateway/metrics.h"
#include "gateway/procstat.h"
#include "check_main.h"

static struct buf b;

static void setup(void)
{
	metrics_init("1.2.3", "2024-12-01", 0);
	buf_init(&b, METRICS_RENDER_MAX);
}

static void teardown(void)
{
	buf_free(&b);
}

/* The known sequence of the exact-text test. */
static void known_sequence(void)
{
	int i;

	for (i = 0; i < 3; i++)
		metrics_request(OP_SEND_TO_ALL, 202);
	metrics_request(OP_SEND_TO_ALL, 400);
	metrics_request(OP_SEND_TO_GROUP, 202);
	metrics_request(METRICS_OP_NONE, 404);
	metrics_request(-5, 404);                    /* out of range: counted as "none" */
	metrics_request(OP_GET_SERVICE_STATUS, 299); /* unusual status: "other" */
	metrics_request(METRICS_OP_BATCH, 200);
	for (i = 0; i < 3; i++)
		metrics_inflight_add(1);
	metrics_inflight_add(-1);
	metrics_upstream_attempt(OP_SEND_TO_ALL, MA_RESPONSE, 202, 800);      /* le 0.001 */
	metrics_upstream_attempt(OP_SEND_TO_ALL, MA_RESPONSE, 503, 1000);     /* le 0.001: bounds inclusive */
	metrics_upstream_attempt(OP_SEND_TO_ALL, MA_CONNECT, 0, 1001);        /* le 0.0025 */
	metrics_upstream_attempt(OP_SEND_TO_ALL, MA_TIMEOUT, 0, 30000000);    /* le 30 */
	metrics_upstream_attempt(OP_SEND_TO_ALL, MA_RESPONSE, 500, 45000000); /* +Inf only */
	metrics_upstream_attempt(OP_SEND_TO_GROUP, MA_RESPONSE, 429, 250000); /* le 0.25 */
	metrics_upstream_attempt(OP_SEND_TO_GROUP, MA_RESPONSE, 301, 0);      /* le 0.001 */
	metrics_upstream_retry(MC_STATUS);
	metrics_upstream_retry(MC_STATUS);
	metrics_upstream_retry(MC_TIMEOUT);
	metrics_upstream_retry((enum metrics_cause)7); /* ignored */
	metrics_upstream_connections(1, 0);
	for (i = 0; i < 4; i++)
		metrics_upstream_connections(0, 1);
	metrics_bytes(MS_LOCAL, 100, 50);
	metrics_bytes(MS_UPSTREAM, 60, 100);
	metrics_bytes((enum metrics_side)9, 1, 1); /* ignored */
	metrics_refused(MR_RATE);
	metrics_refused(MR_RATE);
	metrics_refused(MR_ACCESS);
	metrics_set_outbox(7, 2);
	metrics_set_outbox_oldest(1700000000000LL - 12345);
	metrics_set_breaker(MB_HALF_OPEN);
	metrics_set_breaker((enum metrics_breaker)5); /* ignored */
	metrics_reload(1);
	metrics_reload(0);
	metrics_credential_error();
}

static const char expected[] =
        "# HELP wpsgate_build_info Build information: gateway version and default api-version; the value is "
        "1.\n"
        "# TYPE wpsgate_build_info gauge\n"
        "wpsgate_build_info{version=\"1.2.3\",api_version=\"2024-12-01\"} 1\n"
        "# HELP wpsgate_requests_total Requests answered, by operation and local HTTP status code.\n"
        "# TYPE wpsgate_requests_total counter\n"
        "wpsgate_requests_total{operation=\"get_service_status\",code=\"other\"} 1\n"
        "wpsgate_requests_total{operation=\"send_to_all\",code=\"202\"} 3\n"
        "wpsgate_requests_total{operation=\"send_to_all\",code=\"400\"} 1\n"
        "wpsgate_requests_total{operation=\"send_to_group\",code=\"202\"} 1\n"
        "wpsgate_requests_total{operation=\"none\",code=\"404\"} 2\n"
        "wpsgate_requests_total{operation=\"batch\",code=\"200\"} 1\n"
        "# HELP wpsgate_requests_in_flight Requests accepted and not yet answered.\n"
        "# TYPE wpsgate_requests_in_flight gauge\n"
        "wpsgate_requests_in_flight 2\n"
        "# HELP wpsgate_refused_total Requests refused before routing, by reason (access rules, TCP guard, "
        "rate, in-flight limit, overload).\n"
        "# TYPE wpsgate_refused_total counter\n"
        "wpsgate_refused_total{reason=\"access\"} 1\n"
        "wpsgate_refused_total{reason=\"guard\"} 0\n"
        "wpsgate_refused_total{reason=\"rate\"} 2\n"
        "wpsgate_refused_total{reason=\"inflight\"} 0\n"
        "wpsgate_refused_total{reason=\"overload\"} 0\n"
        "# HELP wpsgate_upstream_request_duration_seconds Duration of upstream attempts (request sent to "
        "answer or failure), by operation.\n"
        "# TYPE wpsgate_upstream_request_duration_seconds histogram\n"
        "wpsgate_upstream_request_duration_seconds_bucket{operation=\"send_to_all\",le=\"0.001\"} 2\n"
        "wpsgate_upstream_request_duration_seconds_bucket{operation=\"send_to_all\",le=\"0.0025\"} 3\n"
        "wpsgate_upstream_request_duration_seconds_bucket{operation=\"send_to_all\",le=\"0.005\"} 3\n"
        "wpsgate_upstream_request_duration_seconds_bucket{operation=\"send_to_all\",le=\"0.01\"} 3\n"
        "wpsgate_upstream_request_duration_seconds_bucket{operation=\"send_to_all\",le=\"0.025\"} 3\n"
        "wpsgate_upstream_request_duration_seconds_bucket{operation=\"send_to_all\",le=\"0.05\"} 3\n"
        "wpsgate_upstream_request_duration_seconds_bucket{operation=\"send_to_all\",le=\"0.1\"} 3\n"
        "wpsgate_upstream_request_duration_seconds_bucket{operation=\"send_to_all\",le=\"0.25\"} 3\n"
        "wpsgate_upstream_request_duration_seconds_bucket{operation=\"send_to_all\",le=\"0.5\"} 3\n"
        "wpsgate_upstream_request_duration_seconds_bucket{operation=\"send_to_all\",le=\"1\"} 3\n"
        "wpsgate_upstream_request_duration_seconds_bucket{operation=\"send_to_all\",le=\"2.5\"} 3\n"
        "wpsgate_upstream_request_duration_seconds_bucket{operation=\"send_to_all\",le=\"5\"} 3\n"
        "wpsgate_upstream_request_duration_seconds_bucket{operation=\"send_to_all\",le=\"10\"} 3\n"
        "wpsgate_upstream_request_duration_seconds_bucket{operation=\"send_to_all\",le=\"30\"} 4\n"
        "wpsgate_upstream_request_duration_seconds_bucket{operation=\"send_to_all\",le=\"+Inf\"} 5\n"
        "wpsgate_upstream_request_duration_seconds_sum{operation=\"send_to_all\"} 75.002801\n"
        "wpsgate_upstream_request_duration_seconds_count{operation=\"send_to_all\"} 5\n"
        "wpsgate_upstream_request_duration_seconds_bucket{operation=\"send_to_group\",le=\"0.001\"} 1\n"
        "wpsgate_upstream_request_duration_seconds_bucket{operation=\"send_to_group\",le=\"0.0025\"} 1\n"
        "wpsgate_upstream_request_duration_seconds_bucket{operation=\"send_to_group\",le=\"0.005\"} 1\n"
        "wpsgate_upstream_request_duration_seconds_bucket{operation=\"send_to_group\",le=\"0.01\"} 1\n"
        "wpsgate_upstream_request_duration_seconds_bucket{operation=\"send_to_group\",le=\"0.025\"} 1\n"
        "wpsgate_upstream_request_duration_seconds_bucket{operation=\"send_to_group\",le=\"0.05\"} 1\n"
        "wpsgate_upstream_request_duration_seconds_bucket{operation=\"send_to_group\",le=\"0.1\"} 1\n"
        "wpsgate_upstream_request_duration_seconds_bucket{operation=\"send_to_group\",le=\"0.25\"} 2\n"
        "wpsgate_upstream_request_duration_seconds_bucket{operation=\"send_to_group\",le=\"0.5\"} 2\n"
        "wpsgate_upstream_request_duration_seconds_bucket{operation=\"send_to_group\",le=\"1\"} 2\n"
        "wpsgate_upstream_request_duration_seconds_bucket{operation=\"send_to_group\",le=\"2.5\"} 2\n"
        "wpsgate_upstream_request_duration_seconds_bucket{operation=\"send_to_group\",le=\"5\"} 2\n"
        "wpsgate_upstream_request_duration_seconds_bucket{operation=\"send_to_group\",le=\"10\"} 2\n"
        "wpsgate_upstream_request_duration_seconds_bucket{operation=\"send_to_group\",le=\"30\"} 2\n"
        "wpsgate_upstream_request_duration_seconds_bucket{operation=\"send_to_group\",le=\"+Inf\"} 2\n"
        "wpsgate_upstream_request_duration_seconds_sum{operation=\"send_to_group\"} 0.250000\n"
        "wpsgate_upstream_request_duration_seconds_count{operation=\"send_to_group\"} 2\n"
        "# HELP wpsgate_upstream_attempts_total Upstream attempts, by how they ended (a response, a timeout, "
        "a connection failure).\n"
        "# TYPE wpsgate_upstream_attempts_total counter\n"
        "wpsgate_upstream_attempts_total{result=\"response\"} 5\n"
        "wpsgate_upstream_attempts_total{result=\"timeout\"} 1\n"
        "wpsgate_upstream_attempts_total{result=\"connect\"} 1\n"
        "# HELP wpsgate_upstream_responses_total Upstream responses by status class.\n"
        "# TYPE wpsgate_upstream_responses_total counter\n"
        "wpsgate_upstream_responses_total{code_class=\"2xx\"} 1\n"
        "wpsgate_upstream_responses_total{code_class=\"3xx\"} 1\n"
        "wpsgate_upstream_responses_total{code_class=\"4xx\"} 1\n"
        "wpsgate_upstream_responses_total{code_class=\"5xx\"} 2\n"
        "# HELP wpsgate_upstream_retries_total Upstream retries, by the cause of the failed attempt.\n"
        "# TYPE wpsgate_upstream_retries_total counter\n"
        "wpsgate_upstream_retries_total{cause=\"status\"} 2\n"
        "wpsgate_upstream_retries_total{cause=\"timeout\"} 1\n"
        "wpsgate_upstream_retries_total{cause=\"connect\"} 0\n"
        "# HELP wpsgate_upstream_connections_opened_total Upstream connections opened.\n"
        "# TYPE wpsgate_upstream_connections_opened_total counter\n"
        "wpsgate_upstream_connections_opened_total 1\n"
        "# HELP wpsgate_upstream_connections_reused_total Upstream transfers that reused an open "
        "connection.\n"
        "# TYPE wpsgate_upstream_connections_reused_total counter\n"
        "wpsgate_upstream_connections_reused_total 4\n"
        "# HELP wpsgate_received_bytes_total Body bytes received, from applications (local) or from the "
        "service (upstream).\n"
        "# TYPE wpsgate_received_bytes_total counter\n"
        "wpsgate_received_bytes_total{side=\"local\"} 100\n"
        "wpsgate_received_bytes_total{side=\"upstream\"} 60\n"
        "# HELP wpsgate_sent_bytes_total Body bytes sent, to applications (local) or to the service "
        "(upstream).\n"
        "# TYPE wpsgate_sent_bytes_total counter\n"
        "wpsgate_sent_bytes_total{side=\"local\"} 50\n"
        "wpsgate_sent_bytes_total{side=\"upstream\"} 100\n"
        "# HELP wpsgate_circuit_breaker_state Circuit breaker state: 1 for the current state, 0 for the "
        "others.\n"
        "# TYPE wpsgate_circuit_breaker_state gauge\n"
        "wpsgate_circuit_breaker_state{state=\"closed\"} 0\n"
        "wpsgate_circuit_breaker_state{state=\"open\"} 0\n"
        "wpsgate_circuit_breaker_state{state=\"half_open\"} 1\n"
        "# HELP wpsgate_outbox_depth Messages queued in the durable outbox.\n"
        "# TYPE wpsgate_outbox_depth gauge\n"
        "wpsgate_outbox_depth 7\n"
        "# HELP wpsgate_outbox_oldest_age_seconds Age of the oldest queued outbox message (0 when the outbox "
        "is empty).\n"
        "# TYPE wpsgate_outbox_oldest_age_seconds gauge\n"
        "wpsgate_outbox_oldest_age_seconds 12.345\n"
        "# HELP wpsgate_outbox_dead_letters Messages in the dead-letter table.\n"
        "# TYPE wpsgate_outbox_dead_letters gauge\n"
        "wpsgate_outbox_dead_letters 2\n"
        "# HELP wpsgate_config_reloads_total Configuration reloads, by result.\n"
        "# TYPE wpsgate_config_reloads_total counter\n"
        "wpsgate_config_reloads_total{result=\"success\"} 1\n"
        "wpsgate_config_reloads_total{result=\"failure\"} 1\n"
        "# HELP wpsgate_config_last_reload_successful Whether the last configuration reload succeeded (1 "
        "also before any reload).\n"
        "# TYPE wpsgate_config_last_reload_successful gauge\n"
        "wpsgate_config_last_reload_successful 0\n"
        "# HELP wpsgate_credential_errors_total Failures to load or obtain upstream credentials.\n"
        "# TYPE wpsgate_credential_errors_total counter\n"
        "wpsgate_credential_errors_total 1\n";

START_TEST(test_exact_text)
{
	known_sequence();
	ck_assert_int_eq(metrics_render_at(&b, 1700000000000LL, 0), 0);
	ck_assert_str_eq(b.data, expected);
	/* Rendering twice gives the same text: rendering changes nothing. */
	buf_reset(&b);
	ck_assert_int_eq(metrics_render_at(&b, 1700000000000LL, 0), 0);
	ck_assert_str_eq(b.data, expected);
}
END_TEST

/* The value of the sample line that starts with prefix (up to the value), or -1. */
static long long sample(const char *text, const char *prefix)
{
	const char *p = text;
	size_t n = strlen(prefix);

	while ((p = strstr(p, prefix)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[n] == ' ')
			return atoll(p + n + 1);
		p += n;
	}
	return -1;
}

START_TEST(test_histogram_cumulative)
{
	static const char *const le[] = { "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
		                          "0.5",   "1",      "2.5",   "5",    "10",    "30",   "+Inf" };
	/* One observation just above each bound, and one exactly on each bound. */
	static const uint64_t at[] = { 1000,   2500,   5000,    10000,   25000,   50000,    100000,
		                       250000, 500000, 1000000, 2500000, 5000000, 10000000, 30000000 };
	size_t i;
	long long prev = -1;
	uint64_t sum = 0;
	char prefix[160];

	for (i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		metrics_upstream_attempt(OP_USER_EXISTS, MA_RESPONSE, 200, at[i]);
		metrics_upstream_attempt(OP_USER_EXISTS, MA_RESPONSE, 200, at[i] + 1);
		sum += 2 * at[i] + 1;
	}
	ck_assert_int_eq(metrics_render_at(&b, 0, 0), 0);
	for (i = 0; i < sizeof(le) / sizeof(le[0]); i++) {
		long long v;

		snprintf(prefix, sizeof(prefix),
		         "wpsgate_upstream_request_duration_seconds_bucket{operation=\"user_exists\",le=\"%"
		         "s\"}",
		         le[i]);
		v = sample(b.data, prefix);
		/* bucket i holds the observation on its bound and the one above the previous bound */
		ck_assert_msg(v == (long long)(2 * i + 1) || (i == 14 && v == 28), "le=%s: %lld", le[i], v);
		ck_assert_int_ge(v, prev);
		prev = v;
	}
	ck_assert_int_eq(
	        sample(b.data, "wpsgate_upstream_request_duration_seconds_count{operation=\"user_exists\"}"),
	        28);
	snprintf(prefix, sizeof(prefix),
	         "wpsgate_upstream_request_duration_seconds_sum{operation=\"user_exists\"} %llu.%06llu\n",
	         (unsigned long long)(sum / 1000000), (unsigned long long)(sum % 1000000));
	ck_assert_ptr_nonnull(strstr(b.data, prefix));
	/* Other operations have no series. */
	ck_assert_ptr_null(strstr(b.data, "operation=\"send_to_all\""));
}
END_TEST

START_TEST(test_every_code_and_op)
{
	static const int codes[] = { 200, 201, 202, 204, 206, 400, 401, 403, 404, 405, 408, 409, 410,
		                     411, 413, 414, 415, 421, 429, 431, 500, 501, 502, 503, 504 };
	size_t i;
	int op;
	char prefix[160];

	for (op = 0; op < METRICS_OPS; op++)
		for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
			metrics_request(op, codes[i]);
	metrics_request(0, 0);
	metrics_request(0, -1);
	metrics_request(0, 100000);
	metrics_request(METRICS_OPS, 200); /* out of range op: "none" */
	ck_assert_int_eq(metrics_render_at(&b, 0, 1), 0);
	ck_assert_uint_lt(b.len, METRICS_RENDER_MAX / 4);
	for (op = 0; op < METRICS_OPS; op++) {
		for (i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
			snprintf(prefix, sizeof(prefix),
			         "wpsgate_requests_total{operation=\"%s\",code=\"%d\"}", metrics_op_label(op),
			         codes[i]);
			ck_assert_int_eq(sample(b.data, prefix),
			                 op == METRICS_OP_NONE && codes[i] == 200 ? 2 : 1);
		}
	}
	ck_assert_int_eq(
	        sample(b.data, "wpsgate_requests_total{operation=\"get_service_status\",code=\"other\"}"), 3);
	ck_assert_str_eq(metrics_op_label(OP_SEND_TO_ALL), "send_to_all");
	ck_assert_str_eq(metrics_op_label(METRICS_OP_LOCAL), "local");
	ck_assert_str_eq(metrics_op_label(-1), "none");
	ck_assert_str_eq(metrics_op_label(1000), "none");
}
END_TEST

START_TEST(test_render_bounded)
{
	struct buf small;

	buf_init(&small, 100);
	known_sequence();
	ck_assert_int_eq(metrics_render(&small), -1);
	buf_free(&small);
}
END_TEST

START_TEST(test_init_keep_and_labels)
{
	metrics_request(OP_SEND_TO_ALL, 202);
	metrics_init("9.9", "2023-07-01", 1);
	ck_assert_int_eq(metrics_render_at(&b, 0, 0), 0);
	ck_assert_ptr_nonnull(
	        strstr(b.data, "wpsgate_build_info{version=\"9.9\",api_version=\"2023-07-01\"} 1\n"));
	ck_assert_int_eq(sample(b.data, "wpsgate_requests_total{operation=\"send_to_all\",code=\"202\"}"), 1);
	metrics_init(NULL, "a\"b\\c\nd", 0);
	buf_reset(&b);
	ck_assert_int_eq(metrics_render_at(&b, 0, 0), 0);
	ck_assert_ptr_nonnull(strstr(
	        b.data, "wpsgate_build_info{version=\"unknown\",api_version=\"a\\\"b\\\\c\\nd\"} 1\n"));
	ck_assert_ptr_null(strstr(b.data, "wpsgate_requests_total{"));
	/* An empty outbox and a clock before the oldest row: age 0. */
	ck_assert_ptr_nonnull(strstr(b.data, "wpsgate_outbox_oldest_age_seconds 0.000\n"));
	metrics_set_outbox_oldest(5000);
	buf_reset(&b);
	ck_assert_int_eq(metrics_render_at(&b, 4000, 0), 0);
	ck_assert_ptr_nonnull(strstr(b.data, "wpsgate_outbox_oldest_age_seconds 0.000\n"));
	ck_assert_ptr_nonnull(strstr(b.data, "wpsgate_config_last_reload_successful 1\n"));
	ck_assert_ptr_nonnull(strstr(b.data, "wpsgate_circuit_breaker_state{state=\"closed\"} 1\n"));
	/* In flight never shows negative. */
	metrics_inflight_add(-3);
	buf_reset(&b);
	ck_assert_int_eq(metrics_render_at(&b, 0, 0), 0);
	ck_assert_ptr_nonnull(strstr(b.data, "wpsgate_requests_in_flight 0\n"));
}
END_TEST

START_TEST(test_process_families)
{
	struct timespec now;
	long long rss;
	const char *p;
	double start;

	clock_gettime(CLOCK_REALTIME, &now);
	ck_assert_int_eq(metrics_render(&b), 0);
	rss = sample(b.data, "process_resident_memory_bytes");
	ck_assert_int_gt(rss, 1024 * 1024 / 2);
	ck_assert_int_ge(sample(b.data, "process_open_fds"), 3);
	p = strstr(b.data, "\nprocess_start_time_seconds ");
	ck_assert_ptr_nonnull(p);
	start = atof(p + 28);
	/* This process started less than a minute ago (clock tick precision). */
	ck_assert(start <= (double)now.tv_sec + 1);
	ck_assert(start > (double)now.tv_sec - 60);
	ck_assert_ptr_nonnull(strstr(b.data, "# TYPE process_cpu_seconds_total counter\n"));
}
END_TEST

/* ---- procstat ---- */

START_TEST(test_procstat_parse)
{
	struct procstat ps;
	/* comm with a space and a parenthesis, as proc(5) allows. */
	static const char stat[] =
	        "4242 (we) ird (x)) S 1 4242 4242 0 -1 4194560 500 0 0 0 150 50 0 0 20 0 3 0 "
	        "123456 987654321 2048 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0\n";

	memset(&ps, 0, sizeof(ps));
	ck_assert_int_eq(procstat_parse_stat(stat, 4096, 100, 1700000000, &ps), 0);
	ck_assert_uint_eq(ps.cpu_ticks, 200);
	ck_assert_uint_eq(ps.vsize_bytes, 987654321);
	ck_assert_uint_eq(ps.rss_bytes, 2048ULL * 4096);
	ck_assert(ps.start_time_s == 1700000000.0 + 1234.56);
	ck_assert_int_eq(procstat_parse_stat("garbage", 4096, 100, 0, &ps), -1);
	ck_assert_int_eq(procstat_parse_stat("1 (x) S 1 2", 4096, 100, 0, &ps), -1);
	ck_assert_int_eq(procstat_parse_stat("1 (x)", 4096, 100, 0, &ps), -1);
	ck_assert_int_eq(procstat_parse_stat(stat, 4096, 0, 0, &ps), -1);
}
END_TEST

START_TEST(test_procstat_read)
{
	struct procstat a, c;
	int fd;

	ck_assert_int_eq(procstat_read(&a), 0);
	ck_assert_uint_gt(a.rss_bytes, 0);
	ck_assert_int_gt(a.ticks_per_s, 0);
	fd = open("/dev/null", O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(procstat_read(&c), 0);
	ck_assert_int_eq(c.open_fds, a.open_fds + 1);
	close(fd);
	ck_assert(c.start_time_s == a.start_time_s);
}
END_TEST

/* ---- health ---- */

START_TEST(test_healthz)
{
	ck_assert_int_eq(metrics_render_healthz(&b), 0);
	ck_assert_str_eq(b.data, "{\"status\":\"ok\"}");
}
END_TEST

static const struct {
	struct metrics_ready r;
	int status;
	const char *body;
} ready_rows[] = {
	{ { MCHK_OK, MCHK_OK, MCHK_OK, MCHK_UNUSED, MCHK_UNUSED, 0 },
	  200,
	  "{\"status\":\"ready\",\"checks\":{\"config\":\"ok\",\"credentials\":\"ok\",\"breaker\":\"ok\","
	  "\"outbox\":\"unused\",\"token_service\":\"unused\"}}" },
	{ { MCHK_OK, MCHK_OK, MCHK_OK, MCHK_OK, MCHK_OK, 0 },
	  200,
	  "{\"status\":\"ready\",\"checks\":{\"config\":\"ok\",\"credentials\":\"ok\",\"breaker\":\"ok\","
	  "\"outbox\":\"ok\",\"token_service\":\"ok\"}}" },
	{ { MCHK_OK, MCHK_OK, MCHK_FAIL, MCHK_OK, MCHK_UNUSED, 0 },
	  503,
	  "{\"status\":\"not "
	  "ready\",\"checks\":{\"config\":\"ok\",\"credentials\":\"ok\",\"breaker\":\"fail\","
	  "\"outbox\":\"ok\",\"token_service\":\"unused\"},"
	  "\"problems\":[\"the circuit breaker is open: the service failed repeatedly\"]}" },
	{ { MCHK_UNUSED, MCHK_FAIL, MCHK_OK, MCHK_FAIL, MCHK_FAIL, 0 },
	  503,
	  "{\"status\":\"not "
	  "ready\",\"checks\":{\"config\":\"fail\",\"credentials\":\"fail\",\"breaker\":\"ok\","
	  "\"outbox\":\"fail\",\"token_service\":\"fail\"},"
	  "\"problems\":[\"no configuration loaded\",\"no upstream credentials loaded\","
	  "\"the outbox is not writable\",\"the Entra ID token service is failing\"]}" },
	{ { MCHK_OK, MCHK_OK, MCHK_OK, MCHK_OK, MCHK_OK, 1 },
	  503,
	  "{\"status\":\"not ready\",\"checks\":{\"config\":\"ok\",\"credentials\":\"ok\",\"breaker\":\"ok\","
	  "\"outbox\":\"ok\",\"token_service\":\"ok\"},\"problems\":[\"shutting down\"]}" },
	{ { MCHK_OK, MCHK_UNUSED, MCHK_OK, MCHK_UNUSED, MCHK_UNUSED, 1 },
	  503,
	  "{\"status\":\"not "
	  "ready\",\"checks\":{\"config\":\"ok\",\"credentials\":\"fail\",\"breaker\":\"ok\","
	  "\"outbox\":\"unused\",\"token_service\":\"unused\"},"
	  "\"problems\":[\"shutting down\",\"no upstream credentials loaded\"]}" },
};

START_TEST(test_readyz_table)
{
	int status = 0;

	ck_assert_int_eq(metrics_render_readyz(&ready_rows[_i].r, &b, &status), 0);
	ck_assert_int_eq(status, ready_rows[_i].status);
	ck_assert_str_eq(b.data, ready_rows[_i].body);
}
END_TEST

/* ---- configuration ---- */

START_TEST(test_cfg_good)
{
	struct metrics_cfg m;
	config_t cf;
	char err[256];

	ck_assert_int_eq(check_cfg_setting(&metrics_cfg_section, NULL, &m, err, sizeof(err)), 0);
	ck_assert_int_eq(m.on_api, 1);
	ck_assert_int_eq(m.listen_set, 0);

	config_init(&cf);
	ck_assert_int_eq(
	        config_read_string(&cf, "metrics = { listen = \"127.0.0.1:9464\"; on_api = false; };"),
	        CONFIG_TRUE);
	ck_assert_int_eq(
	        check_cfg_setting(&metrics_cfg_section, config_lookup(&cf, "metrics"), &m, err, sizeof(err)),
	        0);
	ck_assert_int_eq(m.on_api, 0);
	ck_assert_int_eq(m.listen_set, 1);
	ck_assert_str_eq(m.listen, "127.0.0.1:9464");
	ck_assert_str_eq(m.host, "127.0.0.1");
	ck_assert_uint_eq(m.port, 9464);
	ck_assert_int_eq(m.loopback, 1);
	config_destroy(&cf);
	cfgtab_clear(&metrics_cfg_section, &m);

	config_init(&cf);
	ck_assert_int_eq(config_read_string(&cf, "metrics = { listen = \"[::1]:19464\"; };"), CONFIG_TRUE);
	ck_assert_int_eq(
	        check_cfg_setting(&metrics_cfg_section, config_lookup(&cf, "metrics"), &m, err, sizeof(err)),
	        0);
	ck_assert_str_eq(m.host, "::1");
	ck_assert_uint_eq(m.port, 19464);
	ck_assert_int_eq(m.loopback, 1);
	ck_assert_int_eq(m.on_api, 1);
	config_destroy(&cf);
	cfgtab_clear(&metrics_cfg_section, &m);

	config_init(&cf);
	ck_assert_int_eq(config_read_string(&cf, "metrics = { listen = \"0.0.0.0:9464\"; };"), CONFIG_TRUE);
	ck_assert_int_eq(
	        check_cfg_setting(&metrics_cfg_section, config_lookup(&cf, "metrics"), &m, err, sizeof(err)),
	        0);
	ck_assert_int_eq(m.loopback, 0);
	config_destroy(&cf);
	cfgtab_clear(&metrics_cfg_section, &m);
}
END_TEST

static const struct {
	const char *text;
	const char *err;
} bad_cfg[] = {
	{ "metrics = 1;", "t.conf:1: metrics: must be a group { ... }" },
	{ "metrics = { port = 1; };", "t.conf:1: metrics.port: unknown key" },
	{ "metrics = {\n on_api = 1; };", "t.conf:2: metrics.on_api: must be true or false" },
	{ "metrics = { listen = 9464; };", "t.conf:1: metrics.listen: must be a string" },
	{ "metrics = { listen = \"localhost:9464\"; };",
	  "t.conf:1: metrics.listen: must be \"IPv4:port\" or \"[IPv6]:port\"" },
	{ "metrics = { listen = \"127.0.0.1\"; };",
	  "t.conf:1: metrics.listen: must be \"IPv4:port\" or \"[IPv6]:port\"" },
	{ "metrics = { listen = \"127.0.0.1:\"; };",
	  "t.conf:1: metrics.listen: must be \"IPv4:port\" or \"[IPv6]:port\"" },
	{ "metrics = { listen = \"127.0.0.1:0\"; };",
	  "t.conf:1: metrics.listen: must be \"IPv4:port\" or \"[IPv6]:port\"" },
	{ "metrics = { listen = \"127.0.0.1:65536\"; };",
	  "t.conf:1: metrics.listen: must be \"IPv4:port\" or \"[IPv6]:port\"" },
	{ "metrics = { listen = \"127.0.0.1:9x\"; };",
	  "t.conf:1: metrics.listen: must be \"IPv4:port\" or \"[IPv6]:port\"" },
	{ "metrics = { listen = \"::1:9464\"; };",
	  "t.conf:1: metrics.listen: must be \"IPv4:port\" or \"[IPv6]:port\"" },
	{ "metrics = { listen = \"[::1]\"; };",
	  "t.conf:1: metrics.listen: must be \"IPv4:port\" or \"[IPv6]:port\"" },
	{ "metrics = { listen = \"[::1:9464\"; };",
	  "t.conf:1: metrics.listen: must be \"IPv4:port\" or \"[IPv6]:port\"" },
	{ "metrics = { listen = \"[127.0.0.1]:9464\"; };",
	  "t.conf:1: metrics.listen: must be \"IPv4:port\" or \"[IPv6]:port\"" },
	{ "metrics = { listen = \"1.2.3.4.5:9464\"; };",
	  "t.conf:1: metrics.listen: must be \"IPv4:port\" or \"[IPv6]:port\"" },
	{ "metrics = { listen = \"127.0.0.1:-1\"; };",
	  "t.conf:1: metrics.listen: must be \"IPv4:port\" or \"[IPv6]:port\"" },
	{ "metrics = { listen = \"127.0.0.1:+80\"; };",
	  "t.conf:1: metrics.listen: must be \"IPv4:port\" or \"[IPv6]:port\"" },
	{ "metrics = { listen = \"127.0.0.1:9464 \"; };",
	  "t.conf:1: metrics.listen: must be \"IPv4:port\" or \"[IPv6]:port\"" },
	{ "metrics = { listen = \"127.0.0.1:99999999999999999999999\"; };",
	  "t.conf:1: metrics.listen: must be \"IPv4:port\" or \"[IPv6]:port\"" },
	{ "metrics = { listen = "
	  "\"1111111111111111111111111111111111111111111111111111111111111111111111:1\"; };",
	  "t.conf:1: metrics.listen: must be a non-empty string of at most 63 bytes" },
};

START_TEST(test_cfg_bad)
{
	struct metrics_cfg m;
	config_t cf;
	char err[256] = "";

	config_init(&cf);
	ck_assert_int_eq(config_read_string(&cf, bad_cfg[_i].text), CONFIG_TRUE);
	ck_assert_int_eq(
	        check_cfg_setting(&metrics_cfg_section, config_lookup(&cf, "metrics"), &m, err, sizeof(err)),
	        -1);
	ck_assert_msg(strcmp(err, bad_cfg[_i].err) == 0, "row %d: got \"%s\"", _i, err);
	config_destroy(&cf);
}
END_TEST

static Suite *metrics_suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_exact_text);
	tcase_add_test(tc, test_histogram_cumulative);
	tcase_add_test(tc, test_every_code_and_op);
	tcase_add_test(tc, test_render_bounded);
	tcase_add_test(tc, test_init_keep_and_labels);
	tcase_add_test(tc, test_process_families);
	tcase_add_test(tc, test_procstat_parse);
	tcase_add_test(tc, test_procstat_read);
	tcase_add_test(tc, test_healthz);
	tcase_add_loop_test(tc, test_readyz_table, 0, (int)(sizeof(ready_rows) / sizeof(ready_rows[0])));
	tcase_add_test(tc, test_cfg_good);
	tcase_add_loop_test(tc, test_cfg_bad, 0, (int)(sizeof(bad_cfg) / sizeof(bad_cfg[0])));
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(metrics_suite());
}
