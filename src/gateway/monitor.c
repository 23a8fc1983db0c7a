/* monitor.c: the monitoring endpoints (/healthz, /readyz, /metrics) and the per-request counters. */
#include <config.h>
#include "monitor.h"

#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "buf.h"
#include "cred.h"
#include "entra.h"
#include "metrics.h"
#include "ops.h"
#include "dispatch.h"
#include "retry.h"
#include "outbox_api.h"
#include "upstream.h"

struct monitor {
	struct dispatch *dispatch;
	struct outbox_api *outbox_api;
	const struct cred *cred;
	const struct up *up;
	int draining;
};

struct monitor *monitor_new(struct dispatch *r, struct outbox_api *sp, const struct cred *cred)
{
	struct monitor *h = calloc(1, sizeof *h);

	if (h == NULL)
		return NULL;
	h->dispatch = r;
	h->outbox_api = sp;
	h->cred = cred;
	return h;
}

void monitor_set_cred(struct monitor *h, const struct cred *cred)
{
	h->cred = cred;
}
void monitor_set_upstream(struct monitor *h, const struct up *up)
{
	h->up = up;
}
void monitor_set_draining(struct monitor *h, int on)
{
	h->draining = on;
}
void monitor_free(struct monitor *h)
{
	free(h);
}

static void ep_metrics(struct api_ctx *c, void *arg)
{
	struct monitor *h = arg;
	struct buf out;

	outbox_api_refresh_metrics(h->outbox_api);
	buf_init(&out, METRICS_RENDER_MAX);
	if (metrics_render(&out) < 0)
		api_reply_error(c, 500, "InternalError", "the metrics do not fit");
	else
		api_reply(c, 200, METRICS_CONTENT_TYPE, out.data, out.len);
	buf_free(&out);
}

static void ep_healthz(struct api_ctx *c, void *arg)
{
	struct buf out;

	(void)arg;
	buf_init(&out, 0);
	if (metrics_render_healthz(&out) < 0)
		api_reply_error(c, 500, "InternalError", "out of memory");
	else
		api_reply(c, 200, "application/json", out.data, out.len);
	buf_free(&out);
}

static void ep_readyz(struct api_ctx *c, void *arg)
{
	struct monitor *h = arg;
	struct metrics_ready r;
	struct entra_status es;
	struct buf out;
	int status = 503, entra;

	memset(&r, 0, sizeof r);
	r.config = MCHK_OK;
	entra = h->up != NULL && up_entra_status(h->up, &es);
	r.credentials = h->cred != NULL && (h->cred->key != NULL || entra) ? MCHK_OK : MCHK_FAIL;
	r.breaker = h->dispatch == NULL ||
	                            retry_breaker_state(dispatch_policy(h->dispatch)) == RETRY_BREAKER_CLOSED
	                    ? MCHK_OK
	                    : MCHK_FAIL;
	r.outbox = h->outbox_api == NULL                ? MCHK_UNUSED
	           : outbox_api_writable(h->outbox_api) ? MCHK_OK
	                                                : MCHK_FAIL;
	r.token_service = !entra ? MCHK_UNUSED : es.ready ? MCHK_OK : MCHK_FAIL;
	r.draining = h->draining;
	buf_init(&out, 0);
	if (metrics_render_readyz(&r, &out, &status) < 0)
		api_reply_error(c, 500, "InternalError", "out of memory");
	else
		api_reply(c, status, "application/json", out.data, out.len);
	buf_free(&out);
}

/* The operation label of a finished request. */
static int op_index(const struct api_ctx *c)
{
	const struct ops_req *r = api_ctx_op(c);
	const char *route = api_ctx_route(c);

	if (r != NULL && r->op != NULL)
		return (int)r->op->id;
	if (route == NULL)
		return METRICS_OP_NONE;
	if (strcmp(route, "/$batch") == 0)
		return METRICS_OP_BATCH;
	if (strncmp(route, "/outbox", 7) == 0)
		return METRICS_OP_OUTBOX;
	return METRICS_OP_LOCAL;
}

static void on_done(const struct api_ctx *c, void *arg)
{
	size_t len;

	(void)arg;
	api_ctx_body(c, &len);
	metrics_request(op_index(c), api_ctx_status(c));
	metrics_bytes(MS_LOCAL, len, api_ctx_reply_len(c));
}

int monitor_install(struct monitor *h, struct api *a, int with_metrics)
{
	if (api_register(a, "GET", "/healthz", API_EXACT, ep_healthz, h) < 0 ||
	    api_register(a, "GET", "/readyz", API_EXACT, ep_readyz, h) < 0 ||
	    (with_metrics && api_register(a, "GET", "/metrics", API_EXACT, ep_metrics, h) < 0) ||
	    api_on_done(a, on_done, h) < 0)
		return -1;
	return 0;
}
