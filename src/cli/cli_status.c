/* cli_status.c: `wpsgate status`: health, readiness and key figures of a running wpsgated. */
#include <config.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>

#include "cli.h"

#define STATUS_FAMILIES_MAX 512  /* metric names summed from one /metrics answer */
#define STATUS_LINE_MAX     4096 /* bytes of one /metrics line looked at */

/* What one endpoint answered: status 0 when it was not asked. */
struct probe {
	long status;
	json_t *body; /* parsed JSON body or NULL */
};

/* The figures shown in the text view (metric names of src/gateway/metrics.c; the first name present
 * of a row wins). A figure the gateway does not serve is left out. */
enum fig_unit { FIG_COUNT, FIG_BYTES, FIG_SECONDS, FIG_UPTIME };
static const struct {
	const char *label;
	enum fig_unit unit;
	const char *names[4];
} figures[] = {
	{ "requests", FIG_COUNT, { "wpsgate_requests_total", NULL } },
	{ "in flight", FIG_COUNT, { "wpsgate_requests_in_flight", NULL } },
	{ "refused", FIG_COUNT, { "wpsgate_refused_total", NULL } },
	{ "upstream retries", FIG_COUNT, { "wpsgate_upstream_retries_total", NULL } },
	{ "outbox queued", FIG_COUNT, { "wpsgate_outbox_depth", NULL } },
	{ "outbox oldest", FIG_SECONDS, { "wpsgate_outbox_oldest_age_seconds", NULL } },
	{ "dead letters", FIG_COUNT, { "wpsgate_outbox_dead_letters", NULL } },
	{ "config reloads", FIG_COUNT, { "wpsgate_config_reloads_total", NULL } },
	{ "credential errors", FIG_COUNT, { "wpsgate_credential_errors_total", NULL } },
	{ "memory", FIG_BYTES, { "process_resident_memory_bytes", NULL } },
	{ "open files", FIG_COUNT, { "process_open_fds", NULL } },
	{ "uptime", FIG_UPTIME, { "process_start_time_seconds", NULL } },
};

static int probe(struct cli_http *h, const char *method, const char *path, struct probe *p, struct buf *raw)
{
	struct cli_resp r;
	int rc;

	resp_init(&r);
	rc = cli_http_do(h, method, path, NULL, NULL, 0, &r);
	if (rc == 0) {
		p->status = r.status;
		if (r.body.len > 0)
			p->body = json_loadb(r.body.data, r.body.len, 0, NULL);
		if (raw != NULL && r.status == 200) {
			*raw = r.body;
			buf_init(&r.body, CLI_RESPONSE_MAX);
		}
	}
	resp_free(&r);
	return rc;
}

/* Copy the value of label `key` out of labels (`a="x",b="y"`, escapes kept) into out. 0 or -1. */
static int label_value(const char *labels, const char *key, char *out, size_t outsz)
{
	size_t kl = strlen(key);
	const char *p = labels;

	while (*p != '\0') {
		const char *eq = strchr(p, '='), *v, *q;
		size_t n;

		if (eq == NULL || eq[1] != '"')
			return -1;
		v = eq + 2;
		for (q = v; *q != '\0' && *q != '"'; q++)
			if (*q == '\\' && q[1] != '\0')
				q++;
		if (*q != '"')
			return -1;
		if ((size_t)(eq - p) == kl && strncmp(p, key, kl) == 0) {
			n = (size_t)(q - v);
			if (n >= outsz)
				n = outsz - 1;
			memcpy(out, v, n);
			out[n] = '\0';
			return 0;
		}
		p = q + 1;
		if (*p == ',')
			p++;
	}
	return -1;
}

/* Sum every sample of /metrics by metric name into sums {"name": sum}. The labels of
 * wpsgate_build_info (version, api_version) and the current state of the one-hot
 * wpsgate_circuit_breaker_state (breaker) go to info. */
static void parse_metrics(const struct buf *m, json_t *sums, json_t *info)
{
	const char *p = m->data, *end = m->data + m->len;

	while (p != NULL && p < end) {
		const char *start = p, *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		char line[STATUS_LINE_MAX], val[128], *name_end, *labels = NULL, *num, *nend;
		double v;

		p = nl ? nl + 1 : NULL;
		if (len == 0 || len >= sizeof(line) || start[0] == '#')
			continue;
		memcpy(line, start, len);
		line[len] = '\0';
		name_end = line + strcspn(line, "{ \t");
		if (*name_end == '{') {
			char *close = strrchr(name_end, '}');

			if (close == NULL)
				continue;
			*close = '\0';
			labels = name_end + 1;
			num = close + 1;
		} else if (*name_end == '\0') {
			continue;
		} else {
			num = name_end + 1;
		}
		*name_end = '\0';
		v = strtod(num, &nend);
		if (nend == num || line[0] == '\0' || !isfinite(v))
			continue;
		if (labels != NULL && strcmp(line, "wpsgate_build_info") == 0) {
			if (label_value(labels, "version", val, sizeof(val)) == 0)
				json_object_set_new(info, "version", json_string(val));
			if (label_value(labels, "api_version", val, sizeof(val)) == 0)
				json_object_set_new(info, "api_version", json_string(val));
		}
		if (labels != NULL && v == 1.0 && strcmp(line, "wpsgate_circuit_breaker_state") == 0 &&
		    label_value(labels, "state", val, sizeof(val)) == 0)
			json_object_set_new(info, "breaker", json_string(val));
		{
			json_t *old = json_object_get(sums, line);

			if (old != NULL)
				json_real_set(old, json_real_value(old) + v);
			else if (json_object_size(sums) < STATUS_FAMILIES_MAX)
				json_object_set_new(sums, line, json_real(v));
		}
	}
}

static void print_body_summary(const struct probe *p)
{
	char *s;

	if (p->body == NULL)
		return;
	s = json_dumps(p->body, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (s != NULL)
		printf(" %.300s", s);
	free(s);
}

static void print_figure(const char *label, enum fig_unit unit, double v)
{
	printf("%-17s", label);
	switch (unit) {
	case FIG_BYTES: printf("%.1f MiB\n", v / (1024.0 * 1024.0)); break;
	case FIG_SECONDS: printf("%.0f s\n", v); break;
	case FIG_UPTIME: {
		double up = difftime(time(NULL), (time_t)v);

		if (up < 0)
			up = 0;
		printf("%ldd %02ldh %02ldm %02lds\n", (long)up / 86400, ((long)up / 3600) % 24,
		       ((long)up / 60) % 60, (long)up % 60);
		break;
	}
	default: printf("%.15g\n", v);
	}
}

static json_t *probe_json(const struct probe *p)
{
	return json_pack("{s:I,s:O?}", "status", (json_int_t)p->status, "body", p->body);
}

int cmd_status(const struct cli_cmd *c, struct cli_opts *o, struct cli_http *h)
{
	struct probe health = { 0, NULL }, ready = { 0, NULL }, metrics = { 0, NULL };
	struct buf raw;
	json_t *figs = json_object(), *info = json_object();
	int rc, alive, is_ready;
	size_t i, k;

	buf_init(&raw, CLI_RESPONSE_MAX);
	if ((rc = probe(h, "GET", "/healthz", &health, NULL)) != 0 ||
	    (rc = probe(h, "GET", "/readyz", &ready, NULL)) != 0 ||
	    (rc = probe(h, "GET", "/metrics", &metrics, &raw)) != 0)
		goto done;
	if (raw.len > 0 && figs != NULL && info != NULL)
		parse_metrics(&raw, figs, info);
	alive = health.status == 200;
	is_ready = ready.status == 200 || ready.status == 404;

	if (o->seen & OB(O_JSON)) {
		json_t *out = json_pack("{s:s,s:o,s:o,s:O,s:O}", "gateway", cli_http_where(h), "health",
		                        probe_json(&health), "readiness", probe_json(&ready), "info", info,
		                        "metrics", figs);

		if (out != NULL) {
			json_dumpf(out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
			putchar('\n');
		}
		json_decref(out);
	} else {
		const char *ver = json_string_value(json_object_get(info, "version"));
		const char *api = json_string_value(json_object_get(info, "api_version"));

		printf("%-17s%s\n", "gateway", cli_http_where(h));
		printf("%-17s%s", "health", alive ? "ok" : "failing");
		if (!alive) {
			printf(" (%ld)", health.status);
			print_body_summary(&health);
		}
		putchar('\n');
		if (ready.status == 404)
			printf("%-17s%s\n", "readiness", "not served by this gateway");
		else {
			printf("%-17s%s", "readiness", ready.status == 200 ? "ready" : "not ready");
			if (ready.status != 200) {
				printf(" (%ld)", ready.status);
				print_body_summary(&ready);
			}
			putchar('\n');
		}
		if (ver != NULL)
			printf("%-17s%s%s%s%s\n", "version", ver, api ? " (api-version " : "", api ? api : "",
			       api ? ")" : "");
		if (json_is_string(json_object_get(info, "breaker")))
			printf("%-17s%s\n", "breaker", json_string_value(json_object_get(info, "breaker")));
		if (metrics.status != 200)
			printf("%-17s%s (%ld)\n", "metrics", "not served by this gateway", metrics.status);
		for (i = 0; metrics.status == 200 && i < sizeof(figures) / sizeof(figures[0]); i++)
			for (k = 0; figures[i].names[k] != NULL; k++) {
				json_t *v = json_object_get(figs, figures[i].names[k]);

				if (v != NULL) {
					print_figure(figures[i].label, figures[i].unit, json_real_value(v));
					break;
				}
			}
	}
	rc = alive && is_ready ? CLI_OK : CLI_ERR_ANSWER;
done:
	json_decref(figs);
	json_decref(info);
	json_decref(health.body);
	json_decref(ready.body);
	json_decref(metrics.body);
	buf_free(&raw);
	return rc;
}
