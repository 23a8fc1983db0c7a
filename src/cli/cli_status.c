/* cli_status.c: `wpsgate status`: health, readiness and key figures of a running wpsgated. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>

#include "cli.h"

#define STATUS_FAMILIES_MAX 512   /* metric names summed from one /metrics answer */
#define STATUS_LINE_MAX     4096  /* bytes of one /metrics line looked at */

/* What one endpoint answered: status 0 when it was not asked. */
struct probe {
	long status;
	json_t *body;     /* parsed JSON body or NULL */
};

/* The figures shown in the text view: the first metric name present of each row wins, so the view
 * keeps working whichever spelling the metrics module settles on. */
enum fig_unit { FIG_COUNT, FIG_BYTES, FIG_UPTIME };
static const struct {
	const char *label;
	enum fig_unit unit;
	const char *names[4];
} figures[] = {
	{ "requests",        FIG_COUNT,  { "wpsgate_requests_total", NULL } },
	{ "in flight",       FIG_COUNT,  { "wpsgate_requests_in_flight", "wpsgate_inflight_requests",
	                                   "wpsgate_requests_inflight", NULL } },
	{ "upstream retries", FIG_COUNT, { "wpsgate_upstream_retries_total", NULL } },
	{ "breaker",         FIG_COUNT,  { "wpsgate_circuit_breaker_state", "wpsgate_breaker_state",
	                                   "wpsgate_circuit_state", NULL } },
	{ "outbox queued",   FIG_COUNT,  { "wpsgate_outbox_depth", "wpsgate_outbox_queued",
	                                   "wpsgate_outbox_rows", NULL } },
	{ "dead letters",    FIG_COUNT,  { "wpsgate_outbox_dead_letters", "wpsgate_outbox_dead_letters_total",
	                                   "wpsgate_outbox_failed", NULL } },
	{ "config reloads",  FIG_COUNT,  { "wpsgate_config_reloads_total", "wpsgate_reloads_total", NULL } },
	{ "memory",          FIG_BYTES,  { "process_resident_memory_bytes", NULL } },
	{ "open files",      FIG_COUNT,  { "process_open_fds", NULL } },
	{ "uptime",          FIG_UPTIME, { "process_start_time_seconds", NULL } },
};

static int probe(struct cli_http *h, const char *method, const char *path, struct probe *p, struct buf *raw)
{
	struct cli_resp r;
	int rc;

	resp_init(&r);
	rc = http_do(h, method, path, NULL, NULL, 0, &r);
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

/* Sum every sample of /metrics by metric name into obj {"name": sum}; version labels of
 * wpsgate_build_info go to info. */
static void parse_metrics(const struct buf *m, json_t *obj, json_t *info)
{
	const char *p = m->data, *end = m->data + m->len;

	while (p != NULL && p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		char line[STATUS_LINE_MAX], *name_end, *val, *vend;
		double v;

		if (len > 0 && len < sizeof(line) && p[0] != '#') {
			memcpy(line, p, len);
			line[len] = '\0';
			name_end = line + strcspn(line, "{ \t");
			val = name_end;
			if (*val == '{') {
				char *close = strrchr(val, '}');

				if (close == NULL)
					goto next;
				*close = '\0';
				if (strncmp(line, "wpsgate_build_info", (size_t)(name_end - line)) == 0 &&
				    name_end - line == 18) {
					/* version="0.1.0",api_version="2024-12-01" */
					char *lab = name_end + 1, *tok, *save = NULL;

					for (tok = strtok_r(lab, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
						char *eq = strchr(tok, '=');
						size_t vl;

						if (eq == NULL || eq[1] != '"')
							continue;
						*eq = '\0';
						vl = strlen(eq + 2);
						if (vl > 0 && eq[2 + vl - 1] == '"')
							eq[2 + vl - 1] = '\0';
						json_object_set_new(info, tok, json_string(eq + 2));
					}
				}
				val = close + 1;
			} else if (*val == '\0') {
				goto next;
			} else {
				val = name_end + 1;
			}
			*name_end = '\0';
			v = strtod(val, &vend);
			if (vend != val && line[0] != '\0' && isfinite(v)) {
				json_t *old = json_object_get(obj, line);

				if (old != NULL)
					json_real_set(old, json_real_value(old) + v);
				else if (json_object_size(obj) < STATUS_FAMILIES_MAX)
					json_object_set_new(obj, line, json_real(v));
			}
		}
next:
		p = nl ? nl + 1 : NULL;
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
	case FIG_BYTES:
		printf("%.1f MiB\n", v / (1024.0 * 1024.0));
		break;
	case FIG_UPTIME: {
		double up = difftime(time(NULL), (time_t)v);

		if (up < 0)
			up = 0;
		printf("%ldd %02ldh %02ldm %02lds\n", (long)up / 86400, ((long)up / 3600) % 24,
		       ((long)up / 60) % 60, (long)up % 60);
		break;
	}
	default:
		printf("%.15g\n", v);
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
		json_t *out = json_pack("{s:s,s:o,s:o,s:O,s:O}", "gateway", http_where(h),
		                        "health", probe_json(&health), "readiness", probe_json(&ready),
		                        "build", info, "metrics", figs);

		if (out != NULL) {
			json_dumpf(out, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
			putchar('\n');
		}
		json_decref(out);
	} else {
		const char *ver = json_string_value(json_object_get(info, "version"));
		const char *api = json_string_value(json_object_get(info, "api_version"));

		printf("%-17s%s\n", "gateway", http_where(h));
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
