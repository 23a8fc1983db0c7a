/* health.c: the Prometheus exposition and readiness endpoints, and the request counters. */
#include <config.h> /* autoconf; "config.h" is src/gateway/config.h */
#include "health.h"

#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "buf.h"
#include "cred.h"
#include "entra.h"
#include "metrics.h"
#include "ops.h"
#include "relay.h"
#include "retry.h"
#include "spool.h"
#include "upstream.h"

struct health {
	struct relay *relay;
	struct spool *spool;
	const struct cred *cred;
	const struct up *up;
	int draining;
};

struct health *health_new(struct relay *r, struct spool *sp, const struct cred *cred)
{
	struct health *h = calloc(1, sizeof *h);

	if (h == NULL)
		return NULL;
	h->relay = r;
	h->spool = sp;
	h->cred = cred;
	return h;
}

void health_set_cred(struct health *h, const struct cred *cred)
{
	h->cred = cred;
}
void health_set_upstream(struct health *h, const struct up *up)
{
	h->up = up;
}
void health_set_draining(struct health *h, int on)
{
	h->draining = on;
}
void health_free(struct health *h)
{
	free(h);
}

static void ep_metrics(struct api_ctx *c, void *arg)
{
	struct health *h = arg;
	struct buf out;

	spool_refresh_metrics(h->spool);
	buf_init(&out, METRICS_RENDER_MAX);
	if (metrics_render(&out) < 0)
		api_reply_error(c, 500, "InternalError", "the metrics do not fit");
	else
		api_reply(c, 200, METRICS_CONTENT_TYPE, out.data, out.len);
	buf_free(&out);
}

static void ep_readyz(struct api_ctx *c, void *arg)
{
	struct health *h = arg;
	struct metrics_ready r;
	struct entra_status es;
	struct buf out;
	int status = 503, entra;

	memset(&r, 0, sizeof r);
	r.config = MCHK_OK;
	entra = h->up != NULL && up_entra_status(h->up, &es);
	r.credentials = h->cred != NULL && (h->cred->key != NULL || entra) ? MCHK_OK : MCHK_FAIL;
	r.breaker = h->relay == NULL || retry_breaker_state(relay_policy(h->relay)) == RETRY_BREAKER_CLOSED
	                    ? MCHK_OK
	                    : MCHK_FAIL;
	r.outbox = h->spool == NULL ? MCHK_UNUSED : spool_writable(h->spool) ? MCHK_OK : MCHK_FAIL;
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

int health_install(struct health *h, struct api *a, int with_metrics)
{
	if (api_register(a, "GET", "/readyz", API_EXACT, ep_readyz, h) < 0 ||
	    (with_metrics && api_register(a, "GET", "/metrics", API_EXACT, ep_metrics, h) < 0) ||
	    api_on_done(a, on_done, h) < 0)
		return -1;
	return 0;
}
