/* metrics.c: counters, gauges and histograms in fixed arrays, rendered in Prometheus text format 0.0.4. */
#include <config.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "metrics.h"
#include "cfgtab.h"
#include "procstat.h"

/* Local HTTP statuses with a series of their own; any other code is counted as "other". */
static const int codes[] = { 200, 201, 202, 204, 206, 400, 401, 403, 404, 405, 408, 409, 410,
	                     411, 413, 414, 415, 421, 429, 431, 500, 501, 502, 503, 504 };
#define NCODES     (sizeof(codes) / sizeof(codes[0]))
#define CODE_OTHER NCODES

/* Histogram bounds in microseconds, and as they are written in the `le` label. */
static const uint64_t bounds_us[] = { 1000,   2500,   5000,    10000,   25000,   50000,    100000,
	                              250000, 500000, 1000000, 2500000, 5000000, 10000000, 30000000 };
static const char *const bounds_le[] = { "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1",
	                                 "0.25",  "0.5",    "1",     "2.5",  "5",     "10",   "30" };
#define NBOUNDS (sizeof(bounds_us) / sizeof(bounds_us[0]))

static const char *const extra_ops[] = { "none", "batch", "outbox", "local" };
static const char *const attempt_names[MA__COUNT] = { "response", "timeout", "connect" };
static const char *const cause_names[MC__COUNT] = { "status", "timeout", "connect" };
static const char *const side_names[MS__COUNT] = { "local", "upstream" };
static const char *const breaker_names[MB__COUNT] = { "closed", "open", "half_open" };
static const char *const refusal_names[MR__COUNT] = { "access", "guard", "rate", "inflight", "overload" };
static const char *const class_names[5] = { "1xx", "2xx", "3xx", "4xx", "5xx" };

static struct {
	uint64_t requests[METRICS_OPS][NCODES + 1];
	uint64_t hist[METRICS_OPS][NBOUNDS + 1]; /* per bucket (not cumulative); last: > 30 s */
	uint64_t hist_sum_us[METRICS_OPS];
	uint64_t attempts[MA__COUNT];
	uint64_t responses[5]; /* by status class */
	uint64_t retries[MC__COUNT];
	uint64_t conn_opened, conn_reused;
	uint64_t rx[MS__COUNT], tx[MS__COUNT];
	uint64_t refused[MR__COUNT];
	int64_t inflight;
	uint64_t outbox_depth, outbox_dead;
	int64_t outbox_oldest_ms;
	int breaker;
	uint64_t reloads_ok, reloads_failed;
	int last_reload_ok;
	uint64_t cred_errors;
	uint64_t events[METRICS_EVENT_KINDS][METRICS_EVENT_VERDICTS];
	uint64_t ev_hist[NBOUNDS + 1];
	uint64_t ev_hist_sum_us;
} M;

static const char *const *ev_kinds, *const *ev_verdicts; /* NULL: no events listener */
static int ev_nkinds, ev_nverdicts;

static char build_version[METRICS_LABEL_MAX * 2 + 1] = "unknown";
static char build_api[METRICS_LABEL_MAX * 2 + 1] = "unknown";

#define ADD(x, n) __atomic_fetch_add(&(x), (n), __ATOMIC_RELAXED)
#define GET(x)    __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define SET(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)

/* ---- configuration ---- */

/* "1.2.3.4:P" or "[v6]:P" into out. Returns 0 or -1. */
static int parse_listen(const char *v, struct metrics_cfg *out)
{
	const char *colon;
	size_t hl;
	char *end;
	unsigned long port;
	unsigned char addr[16];

	if (strlen(v) >= sizeof(out->host))
		return -1;
	if (v[0] == '[') {
		const char *rb = strchr(v, ']');

		if (rb == NULL || rb[1] != ':')
			return -1;
		hl = (size_t)(rb - v - 1);
		memcpy(out->host, v + 1, hl);
		out->host[hl] = '\0';
		out->family = AF_INET6;
		colon = rb + 1;
	} else {
		colon = strrchr(v, ':');
		if (colon == NULL)
			return -1;
		hl = (size_t)(colon - v);
		memcpy(out->host, v, hl);
		out->host[hl] = '\0';
		out->family = AF_INET;
	}
	if (inet_pton(out->family, out->host, addr) != 1)
		return -1;
	if (colon[1] < '1' || colon[1] > '9')
		return -1;
	port = strtoul(colon + 1, &end, 10);
	if (*end != '\0' || port == 0 || port > 65535)
		return -1;
	out->port = (unsigned)port;
	if (out->family == AF_INET)
		out->loopback = addr[0] == 127;
	else
		out->loopback = IN6_IS_ADDR_LOOPBACK((const struct in6_addr *)(const void *)addr);
	out->listen_set = 1;
	return 0;
}

static int check_listen(void *field, void *obj, const config_setting_t *m, struct cfgtab_err *e)
{
	struct metrics_cfg *c = obj;

	if (parse_listen(*(char **)field, c) < 0)
		return cfgtab_fail(e, m, "must be \"IPv4:port\" or \"[IPv6]:port\"");
	return 0;
}

static const struct cfgtab_key metrics_keys[] = {
	CFGTAB_BOOL_KEY(struct metrics_cfg, on_api, "on_api", 1, CFGTAB_RESTART,
	                "serve them on the API listeners too"),
	CFGTAB_STRING_KEY(struct metrics_cfg, listen, "listen", NULL, METRICS_LISTEN_MAX - 1, CFGTAB_RESTART,
	                  check_listen, "\"127.0.0.1:9464\"",
	                  "a TCP listener serving only those three (an IP literal and a port)"),
};

const struct cfgtab_section metrics_cfg_section = CFGTAB_SECTION(
        "metrics", struct metrics_cfg, metrics_keys, NULL,
        "GET /metrics (Prometheus text format), /healthz and /readyz. `listen` is for Prometheus when the\n"
        "applications use the Unix socket. Restart to change.");

/* ---- recording ---- */

/* Label values are escaped as the text format wants: backslash, double quote and newline. */
static void escape_label(char *dst, size_t size, const char *src)
{
	size_t o = 0, n = 0;

	for (; src[n] != '\0' && n < METRICS_LABEL_MAX && o + 3 < size; n++) {
		char ch = src[n];

		if (ch == '\\' || ch == '"') {
			dst[o++] = '\\';
			dst[o++] = ch;
		} else if (ch == '\n') {
			dst[o++] = '\\';
			dst[o++] = 'n';
		} else {
			dst[o++] = ch;
		}
	}
	dst[o] = '\0';
}

void metrics_init(const char *version, const char *api_version, int keep)
{
	if (!keep)
		memset(&M, 0, sizeof(M));
	escape_label(build_version, sizeof(build_version), version != NULL ? version : "unknown");
	escape_label(build_api, sizeof(build_api), api_version != NULL ? api_version : "unknown");
}

static int op_index(int op)
{
	return op >= 0 && op < METRICS_OPS ? op : METRICS_OP_NONE;
}

const char *metrics_op_label(int op)
{
	op = op_index(op);
	if (op >= OP__COUNT)
		return extra_ops[op - OP__COUNT];
	return ops_by_id((enum ops_id)op)->label;
}

static size_t code_index(int status)
{
	size_t i;

	for (i = 0; i < NCODES; i++)
		if (codes[i] == status)
			return i;
	return CODE_OTHER;
}

void metrics_request(int op, int status)
{
	ADD(M.requests[op_index(op)][code_index(status)], 1);
}

void metrics_inflight_add(int delta)
{
	ADD(M.inflight, (int64_t)delta);
}

void metrics_upstream_attempt(int op, enum metrics_attempt how, int http_status, uint64_t usec)
{
	size_t b;

	op = op_index(op);
	if ((unsigned)how < MA__COUNT)
		ADD(M.attempts[how], 1);
	if (http_status >= 100 && http_status <= 599)
		ADD(M.responses[http_status / 100 - 1], 1);
	for (b = 0; b < NBOUNDS && usec > bounds_us[b]; b++)
		;
	ADD(M.hist[op][b], 1);
	ADD(M.hist_sum_us[op], usec);
}

void metrics_upstream_retry(enum metrics_cause cause)
{
	if ((unsigned)cause < MC__COUNT)
		ADD(M.retries[cause], 1);
}

void metrics_upstream_connections(uint64_t opened, uint64_t reused)
{
	ADD(M.conn_opened, opened);
	ADD(M.conn_reused, reused);
}

void metrics_bytes(enum metrics_side side, uint64_t received, uint64_t sent)
{
	if ((unsigned)side >= MS__COUNT)
		return;
	ADD(M.rx[side], received);
	ADD(M.tx[side], sent);
}

void metrics_refused(enum metrics_refusal why)
{
	if ((unsigned)why < MR__COUNT)
		ADD(M.refused[why], 1);
}

void metrics_events_enable(const char *const *kinds, int nkinds, const char *const *verdicts, int nverdicts)
{
	ev_kinds = kinds;
	ev_verdicts = verdicts;
	ev_nkinds = nkinds < METRICS_EVENT_KINDS ? nkinds : METRICS_EVENT_KINDS;
	ev_nverdicts = nverdicts < METRICS_EVENT_VERDICTS ? nverdicts : METRICS_EVENT_VERDICTS;
}

void metrics_event(int kind, int verdict)
{
	if (kind >= 0 && kind < METRICS_EVENT_KINDS && verdict >= 0 && verdict < METRICS_EVENT_VERDICTS)
		ADD(M.events[kind][verdict], 1);
}

void metrics_event_app(uint64_t usec)
{
	size_t b = 0;

	while (b < NBOUNDS && usec > bounds_us[b])
		b++;
	ADD(M.ev_hist[b], 1);
	ADD(M.ev_hist_sum_us, usec);
}

void metrics_set_outbox(uint64_t depth, uint64_t dead_letters)
{
	SET(M.outbox_depth, depth);
	SET(M.outbox_dead, dead_letters);
}

void metrics_set_outbox_oldest(int64_t accepted_unix_ms)
{
	SET(M.outbox_oldest_ms, accepted_unix_ms);
}

void metrics_set_breaker(enum metrics_breaker state)
{
	if ((unsigned)state < MB__COUNT)
		SET(M.breaker, (int)state);
}

void metrics_reload(int ok)
{
	if (ok)
		ADD(M.reloads_ok, 1);
	else
		ADD(M.reloads_failed, 1);
	SET(M.last_reload_ok, ok ? 1 : 2);
}

void metrics_credential_error(void)
{
	ADD(M.cred_errors, 1);
}

/* ---- rendering ---- */

static int family(struct buf *out, const char *name, const char *type, const char *help)
{
	return buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static int render_requests(struct buf *out)
{
	int op;
	size_t c;

	if (family(out, "wpsgate_requests_total", "counter",
	           "Requests answered, by operation and local HTTP status code.") < 0)
		return -1;
	for (op = 0; op < METRICS_OPS; op++) {
		for (c = 0; c <= NCODES; c++) {
			uint64_t v = GET(M.requests[op][c]);
			char code[8];

			if (v == 0)
				continue;
			if (c == CODE_OTHER)
				strcpy(code, "other");
			else
				snprintf(code, sizeof(code), "%d", codes[c]);
			if (buf_printf(out, "wpsgate_requests_total{operation=\"%s\",code=\"%s\"} %llu\n",
			               metrics_op_label(op), code, (unsigned long long)v) < 0)
				return -1;
		}
	}
	return 0;
}

static int render_histogram(struct buf *out)
{
	static const char name[] = "wpsgate_upstream_request_duration_seconds";
	int op;
	size_t b;

	if (family(out, name, "histogram",
	           "Duration of upstream attempts (request sent to answer or failure), by operation.") < 0)
		return -1;
	for (op = 0; op < METRICS_OPS; op++) {
		uint64_t counts[NBOUNDS + 1], cum = 0, sum;

		for (b = 0; b <= NBOUNDS; b++) {
			counts[b] = GET(M.hist[op][b]);
			cum += counts[b];
		}
		if (cum == 0)
			continue;
		cum = 0;
		for (b = 0; b < NBOUNDS; b++) {
			cum += counts[b];
			if (buf_printf(out, "%s_bucket{operation=\"%s\",le=\"%s\"} %llu\n", name,
			               metrics_op_label(op), bounds_le[b], (unsigned long long)cum) < 0)
				return -1;
		}
		cum += counts[NBOUNDS];
		sum = GET(M.hist_sum_us[op]);
		if (buf_printf(out,
		               "%s_bucket{operation=\"%s\",le=\"+Inf\"} %llu\n"
		               "%s_sum{operation=\"%s\"} %llu.%06llu\n"
		               "%s_count{operation=\"%s\"} %llu\n",
		               name, metrics_op_label(op), (unsigned long long)cum, name,
		               metrics_op_label(op), (unsigned long long)(sum / 1000000),
		               (unsigned long long)(sum % 1000000), name, metrics_op_label(op),
		               (unsigned long long)cum) < 0)
			return -1;
	}
	return 0;
}

/* wpsgate_events_total (the series seen so far) and the application's latency, once enabled. */
static int render_events(struct buf *out)
{
	static const char hn[] = "wpsgate_events_app_duration_seconds";
	uint64_t cum = 0, counts[NBOUNDS + 1], sum;
	int k, v;
	size_t b;

	if (ev_kinds == NULL)
		return 0;
	if (family(out, "wpsgate_events_total", "counter",
	           "Calls of the service to the events listener, by event and verdict (forwarded, validated, "
	           "or why refused).") < 0)
		return -1;
	for (k = 0; k < ev_nkinds; k++)
		for (v = 0; v < ev_nverdicts; v++) {
			uint64_t n = GET(M.events[k][v]);
			if (n > 0 &&
			    buf_printf(out, "wpsgate_events_total{event=\"%s\",verdict=\"%s\"} %llu\n",
			               ev_kinds[k], ev_verdicts[v], (unsigned long long)n) < 0)
				return -1;
		}
	if (family(out, hn, "histogram", "Time the application took to answer a forwarded call.") < 0)
		return -1;
	for (b = 0; b <= NBOUNDS; b++)
		counts[b] = GET(M.ev_hist[b]);
	for (b = 0; b < NBOUNDS; b++) {
		cum += counts[b];
		if (buf_printf(out, "%s_bucket{le=\"%s\"} %llu\n", hn, bounds_le[b],
		               (unsigned long long)cum) < 0)
			return -1;
	}
	cum += counts[NBOUNDS];
	sum = GET(M.ev_hist_sum_us);
	return buf_printf(out, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %llu.%06llu\n%s_count %llu\n", hn,
	                  (unsigned long long)cum, hn, (unsigned long long)(sum / 1000000),
	                  (unsigned long long)(sum % 1000000), hn, (unsigned long long)cum);
}

/* A family with one label over a fixed set of values, every value written (zeros included). */
static int render_set(struct buf *out, const char *name, const char *type, const char *help,
                      const char *label, const char *const *values, const uint64_t *counts, size_t n)
{
	size_t i;

	if (family(out, name, type, help) < 0)
		return -1;
	for (i = 0; i < n; i++)
		if (buf_printf(out, "%s{%s=\"%s\"} %llu\n", name, label, values[i],
		               (unsigned long long)GET(counts[i])) < 0)
			return -1;
	return 0;
}

static int render_one(struct buf *out, const char *name, const char *type, const char *help,
                      unsigned long long v)
{
	if (family(out, name, type, help) < 0)
		return -1;
	return buf_printf(out, "%s %llu\n", name, v);
}

static int render_process(struct buf *out)
{
	struct procstat ps;

	if (procstat_read(&ps) < 0 && ps.open_fds < 0)
		return 0; /* no /proc: leave the process_* families out rather than lie */
	if (family(out, "process_cpu_seconds_total", "counter",
	           "Total user and system CPU time spent in seconds.") < 0 ||
	    buf_printf(out, "process_cpu_seconds_total %.2f\n",
	               (double)ps.cpu_ticks / (double)(ps.ticks_per_s > 0 ? ps.ticks_per_s : 100)) < 0 ||
	    render_one(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
	               (unsigned long long)ps.rss_bytes) < 0 ||
	    render_one(out, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
	               (unsigned long long)ps.vsize_bytes) < 0 ||
	    render_one(out, "process_open_fds", "gauge", "Number of open file descriptors.",
	               (unsigned long long)ps.open_fds) < 0)
		return -1;
	if (ps.max_fds >= 0 &&
	    render_one(out, "process_max_fds", "gauge", "Maximum number of open file descriptors.",
	               (unsigned long long)ps.max_fds) < 0)
		return -1;
	if (family(out, "process_start_time_seconds", "gauge",
	           "Start time of the process since unix epoch in seconds.") < 0 ||
	    buf_printf(out, "process_start_time_seconds %.2f\n", ps.start_time_s) < 0)
		return -1;
	return 0;
}

int metrics_render_at(struct buf *out, int64_t now_unix_ms, int with_process)
{
	uint64_t breaker_onehot[MB__COUNT] = { 0 };
	uint64_t reloads[2];
	static const char *const reload_names[2] = { "success", "failure" };
	int64_t oldest = GET(M.outbox_oldest_ms), inflight = GET(M.inflight);
	int64_t age_ms = oldest > 0 && now_unix_ms > oldest ? now_unix_ms - oldest : 0;
	int breaker = GET(M.breaker), last = GET(M.last_reload_ok);

	if (breaker >= 0 && breaker < MB__COUNT)
		breaker_onehot[breaker] = 1;
	reloads[0] = GET(M.reloads_ok);
	reloads[1] = GET(M.reloads_failed);

	if (family(out, "wpsgate_build_info", "gauge",
	           "Build information: gateway version and default api-version; the value is 1.") < 0 ||
	    buf_printf(out, "wpsgate_build_info{version=\"%s\",api_version=\"%s\"} 1\n", build_version,
	               build_api) < 0 ||
	    render_requests(out) < 0 ||
	    render_one(out, "wpsgate_requests_in_flight", "gauge", "Requests accepted and not yet answered.",
	               (unsigned long long)(inflight > 0 ? inflight : 0)) < 0 ||
	    render_set(out, "wpsgate_refused_total", "counter",
	               "Requests refused before routing, by reason (access rules, TCP guard, rate, in-flight "
	               "limit, overload).",
	               "reason", refusal_names, M.refused, MR__COUNT) < 0 ||
	    render_histogram(out) < 0 ||
	    render_set(out, "wpsgate_upstream_attempts_total", "counter",
	               "Upstream attempts, by how they ended (a response, a timeout, a connection failure).",
	               "result", attempt_names, M.attempts, MA__COUNT) < 0 ||
	    render_set(out, "wpsgate_upstream_responses_total", "counter",
	               "Upstream responses by status class.", "code_class", class_names + 1, M.responses + 1,
	               4) < 0 ||
	    render_set(out, "wpsgate_upstream_retries_total", "counter",
	               "Upstream retries, by the cause of the failed attempt.", "cause", cause_names,
	               M.retries, MC__COUNT) < 0 ||
	    render_one(out, "wpsgate_upstream_connections_opened_total", "counter",
	               "Upstream connections opened.", (unsigned long long)GET(M.conn_opened)) < 0 ||
	    render_one(out, "wpsgate_upstream_connections_reused_total", "counter",
	               "Upstream transfers that reused an open connection.",
	               (unsigned long long)GET(M.conn_reused)) < 0 ||
	    render_set(out, "wpsgate_received_bytes_total", "counter",
	               "Body bytes received, from applications (local) or from the service (upstream).",
	               "side", side_names, M.rx, MS__COUNT) < 0 ||
	    render_set(out, "wpsgate_sent_bytes_total", "counter",
	               "Body bytes sent, to applications (local) or to the service (upstream).", "side",
	               side_names, M.tx, MS__COUNT) < 0 ||
	    render_set(out, "wpsgate_circuit_breaker_state", "gauge",
	               "Circuit breaker state: 1 for the current state, 0 for the others.", "state",
	               breaker_names, breaker_onehot, MB__COUNT) < 0 ||
	    render_one(out, "wpsgate_outbox_depth", "gauge", "Messages queued in the durable outbox.",
	               (unsigned long long)GET(M.outbox_depth)) < 0 ||
	    family(out, "wpsgate_outbox_oldest_age_seconds", "gauge",
	           "Age of the oldest queued outbox message (0 when the outbox is empty).") < 0 ||
	    buf_printf(out, "wpsgate_outbox_oldest_age_seconds %lld.%03lld\n", (long long)(age_ms / 1000),
	               (long long)(age_ms % 1000)) < 0 ||
	    render_one(out, "wpsgate_outbox_dead_letters", "gauge", "Messages in the dead-letter table.",
	               (unsigned long long)GET(M.outbox_dead)) < 0 ||
	    render_set(out, "wpsgate_config_reloads_total", "counter", "Configuration reloads, by result.",
	               "result", reload_names, reloads, 2) < 0 ||
	    render_one(out, "wpsgate_config_last_reload_successful", "gauge",
	               "Whether the last configuration reload succeeded (1 also before any reload).",
	               last == 2 ? 0ULL : 1ULL) < 0 ||
	    render_one(out, "wpsgate_credential_errors_total", "counter",
	               "Failures to load or obtain upstream credentials.",
	               (unsigned long long)GET(M.cred_errors)) < 0)
		return -1;
	if (render_events(out) < 0)
		return -1;
	if (with_process && render_process(out) < 0)
		return -1;
	return 0;
}

int metrics_render(struct buf *out)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return metrics_render_at(out, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, 1);
}

/* ---- health ---- */

int metrics_render_healthz(struct buf *out)
{
	return buf_puts(out, "{\"status\":\"ok\"}");
}

static const char *check_word(enum metrics_check c)
{
	switch (c) {
	case MCHK_OK: return "ok";
	case MCHK_FAIL: return "fail";
	case MCHK_UNUSED: break;
	}
	return "unused";
}

int metrics_render_readyz(const struct metrics_ready *r, struct buf *out, int *http_status)
{
	static const char *const names[5] = { "config", "credentials", "breaker", "outbox", "token_service" };
	static const char *const problems[5] = { "no configuration loaded", "no upstream credentials loaded",
		                                 "the circuit breaker is open: the service failed repeatedly",
		                                 "the outbox is not writable",
		                                 "the Entra ID token service is failing" };
	enum metrics_check v[5];
	int i, ready = !r->draining, first = 1;

	v[0] = r->config;
	v[1] = r->credentials;
	v[2] = r->breaker;
	v[3] = r->outbox;
	v[4] = r->token_service;
	/* Configuration and credentials are required: "unused" there means missing. */
	for (i = 0; i < 5; i++)
		if (v[i] == MCHK_FAIL || (i < 2 && v[i] != MCHK_OK))
			ready = 0;
	if (buf_printf(out, "{\"status\":\"%s\",\"checks\":{", ready ? "ready" : "not ready") < 0)
		return -1;
	for (i = 0; i < 5; i++)
		if (buf_printf(out, "%s\"%s\":\"%s\"", i ? "," : "", names[i],
		               check_word(i < 2 && v[i] == MCHK_UNUSED ? MCHK_FAIL : v[i])) < 0)
			return -1;
	if (buf_puts(out, "}") < 0)
		return -1;
	if (!ready) {
		if (buf_puts(out, ",\"problems\":[") < 0)
			return -1;
		if (r->draining) {
			if (buf_puts(out, "\"shutting down\"") < 0)
				return -1;
			first = 0;
		}
		for (i = 0; i < 5; i++) {
			if (!(v[i] == MCHK_FAIL || (i < 2 && v[i] != MCHK_OK)))
				continue;
			if (buf_printf(out, "%s\"%s\"", first ? "" : ",", problems[i]) < 0)
				return -1;
			first = 0;
		}
		if (buf_puts(out, "]") < 0)
			return -1;
	}
	if (buf_puts(out, "}") < 0)
		return -1;
	*http_status = ready ? 200 : 503;
	return 0;
}
