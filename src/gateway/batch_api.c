/* batch_api.c: POST /$batch: parse (batch.c), check each sub-request (routing, access), run the ready ones
 * through the dispatch, collect results in place, answer {"responses":[...]}; or queue them all at once. */
#include <config.h>
#include "batch_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "apiver.h"
#include "batch.h"
#include "buf.h"
#include "cfg.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "ops.h"
#include "outbox.h"
#include "dispatch.h"
#include "outbox_api.h"
#include "upstream.h"

struct batch_api {
	struct api *api;
	struct dispatch *dispatch;
	struct outbox_api *outbox_api;
	const struct cfg *cfg;
};

struct bsub;

/* One batch being executed; lives until its reply (or the abort). */
struct brun {
	struct batch_api *b;
	struct api_ctx *c; /* NULL once aborted */
	struct batch *batch;
	struct bsub *subs; /* one per request */
	size_t running;
	uint64_t deadline_ms;
	int async;
	int suspended;
	char (*ids)[OUTBOX_ID_LEN + 1];
};

struct bsub {
	struct brun *run;
	size_t i;
	struct up_job *job;
	struct ops_req req; /* routed */
};

static void run_free(struct brun *run)
{
	size_t i;

	if (run->subs != NULL)
		for (i = 0; i < run->batch->n; i++) {
			up_job_free(run->subs[i].job);
			ops_req_free(&run->subs[i].req);
		}
	free(run->subs);
	free(run->ids);
	batch_free(run->batch);
	free(run);
}

static void reply_batch(struct brun *run)
{
	struct buf out;

	buf_init(&out, 0);
	if (batch_response_json(run->batch, &out) < 0)
		api_reply_error(run->c, 500, "InternalError", "out of memory");
	else
		api_reply(run->c, run->async ? 202 : 200, "application/json", out.data, out.len);
	if (run->async)
		api_reply_header(run->c, "Preference-Applied", "respond-async");
	buf_free(&out);
}

static void set_error(struct brun *run, size_t i, int status, const char *code, const char *msg)
{
	struct ops_err e;

	ops_fail(&e, status, code, "%s", msg);
	if (batch_set_error(run->batch, i, &e) < 0)
		batch_set_result(run->batch, i, status, NULL, NULL, 0, NULL, 0);
}

/* The result of sub-request i from its job. */
static void set_from_job(struct brun *run, struct bsub *s, struct up_job *job)
{
	struct batch_kv h[4];
	size_t nh = 0;
	char msg[UP_ERRMSG_MAX + 32];

	switch (job->result) {
	case UP_OK:
		if (job->resp_error_code != NULL)
			h[nh++] = (struct batch_kv){ "x-ms-error-code", job->resp_error_code };
		if (job->resp_retry_after != NULL)
			h[nh++] = (struct batch_kv){ "Retry-After", job->resp_retry_after };
		if (job->resp_api_versions != NULL)
			h[nh++] = (struct batch_kv){ "api-supported-versions", job->resp_api_versions };
		if (batch_set_result(run->batch, s->i, (int)job->status, job->resp_content_type, h, nh,
		                     job->resp.data, job->resp.len) < 0)
			set_error(run, s->i, 500, "InternalError", "out of memory");
		break;
	case UP_TIMEOUT:
		set_error(run, s->i, 504, "GatewayTimeout", "the upstream did not answer in time");
		break;
	default:
		snprintf(msg, sizeof msg, "upstream: %s", job->errmsg[0] ? job->errmsg : "request failed");
		set_error(run, s->i, 502, "BadGateway", msg);
		break;
	}
}

static int pump(struct brun *run);

static void on_sub_done(struct up_job *job, const struct dispatch_result *r, void *arg)
{
	struct bsub *s = arg;
	struct brun *run = s->run;
	size_t len;

	(void)r;
	set_from_job(run, s, job);
	if (run->c != NULL && s->req.op->mutating) {
		len = job->body_len;
		api_audit(run->c, &s->req, run->batch->req[s->i].status, job->body, len);
	}
	up_job_free(job);
	s->job = NULL;
	run->running--;
	if (run->c == NULL) { /* aborted: the last one out frees */
		if (run->running == 0)
			run_free(run);
		return;
	}
	pump(run);
}

/* Start sub-request i (routing and access were checked by start). */
static void start_sub(struct brun *run, size_t i)
{
	struct batch_api *b = run->b;
	struct bsub *s = &run->subs[i];
	const struct batch_req *br = &run->batch->req[i];
	struct ops_err e;
	struct up_job_spec sp;
	struct up_job *job;
	char *tok = NULL, rid[72];
	long wait_ms = 0;
	int rc;

	size_t upi;

	if (batch_req_route(br, (size_t)b->cfg->max_body_bytes, &s->req, &e) < 0)
		goto bad;
	if ((upi = api_route(b->api, s->req.hub)) == CFG_NO_UPSTREAM) {
		set_error(run, i, 404, "UpstreamNotFound", "no upstream serves this hub");
		return;
	}
	if (apiver_validate(&s->req, b->cfg->upstreams[upi].api_version, &e) < 0) {
	bad:
		batch_set_error(run->batch, i, &e);
		return;
	}
	if (!api_access(run->c, (int)s->req.op->cls, s->req.hub)) {
		set_error(run, i, 403, "AccessDenied", "this peer may not use this operation on this hub");
		return;
	}
	if (s->req.op->id == OP_GENERATE_CLIENT_TOKEN) {
		rc = api_client_token(b->api, &s->req, &tok, &e);
		if (rc < 0) {
			batch_set_error(run->batch, i, &e);
			return;
		}
		if (rc == 0) {
			batch_set_result(run->batch, i, 200, "application/json", NULL, 0, tok, strlen(tok));
			free(tok);
			return;
		}
	}
	memset(&sp, 0, sizeof sp);
	if (api_upstream_target(b->api, &s->req, &sp.path, &sp.query) < 0)
		goto oom;
	sp.method = s->req.op->method;
	sp.metrics_op = (int)s->req.op->id;
	if (s->req.op->body != OPB_NONE && br->body != NULL) {
		if ((sp.body = malloc(br->body_len + 1)) == NULL) {
			free(sp.path);
			free(sp.query);
			goto oom;
		}
		memcpy(sp.body, br->body, br->body_len);
		sp.body[br->body_len] = '\0';
		sp.body_len = br->body_len;
		sp.content_type = br->content_type;
	}
	snprintf(rid, sizeof rid, "%.40s-%.24s", api_ctx_request_id(run->c), br->id);
	sp.request_id = rid;
	api_ctx_trace(run->c, &sp.traceparent, &sp.tracestate); /* the batch's own trace context */
	sp.deadline_ms = run->deadline_ms;
	if ((s->job = job = up_job_make(&sp)) == NULL)
		goto oom;
	s->run = run;
	s->i = i;
	rc = dispatch_start(api_route_dispatch(b->api, upi) != NULL ? api_route_dispatch(b->api, upi)
	                                                            : b->dispatch,
	                    job, on_sub_done, s, &wait_ms);
	if (rc == 0) {
		run->running++;
		return;
	}
	if (rc == DISPATCH_OPEN) {
		char ra[24];
		struct batch_kv h = { "Retry-After", ra };
		static const char body[] =
		        "{\"code\":\"" DISPATCH_OPEN_CODE "\",\"message\":\"" DISPATCH_OPEN_MESSAGE "\"}";
		dispatch_retry_after(wait_ms, ra, sizeof ra);
		batch_set_result(run->batch, i, 503, "application/json", &h, 1, body, sizeof body - 1);
	} else {
		set_from_job(run, s, job);
	}
	up_job_free(job);
	s->job = NULL;
	return;
oom:
	up_job_free(s->job);
	s->job = NULL;
	set_error(run, i, 500, "InternalError", "out of memory");
}

/* Start whatever is ready; reply when everything has its result (then run is gone: returns 1). */
static int pump(struct brun *run)
{
	size_t idx[64], n, k;

	while ((n = batch_next_ready(run->batch, idx, sizeof idx / sizeof idx[0])) > 0)
		for (k = 0; k < n; k++)
			start_sub(run, idx[k]);
	if (run->running == 0 && batch_done(run->batch)) {
		struct api_ctx *c = run->c;
		int suspended = run->suspended;
		reply_batch(run);
		run_free(run);
		if (suspended)
			api_resume(c);
		return 1;
	}
	return 0;
}

static void on_abort(struct api_ctx *c, void *arg)
{
	struct brun *run = arg;
	size_t i;

	(void)c;
	run->c = NULL;
	if (run->async)
		return; /* the put callback frees */
	for (i = 0; i < run->batch->n; i++)
		if (run->subs[i].job != NULL) {
			up_job_free(run->subs[i].job);
			run->subs[i].job = NULL;
		}
	run_free(run);
}

/* ---- async: every sub-request into the outbox in one put ---- */

static void put_done(void *arg, int status, const char *const *ids, size_t n)
{
	struct brun *run = arg;
	size_t i;

	if (run->c != NULL) {
		if (status != OUTBOX_OK || n != run->batch->n) {
			api_reply_error(run->c, 503, "OutboxUnavailable",
			                "the outbox could not store the batch");
		} else {
			for (i = 0; i < n; i++) {
				char body[64], loc[48];
				struct batch_kv h = { "Location", loc };
				snprintf(body, sizeof body, "{\"id\":\"%s\"}", ids[i]);
				snprintf(loc, sizeof loc, "/outbox/%s", ids[i]);
				batch_set_result(run->batch, i, 202, "application/json", &h, 1, body,
				                 strlen(body));
			}
			reply_batch(run);
		}
		api_resume(run->c);
	}
	run_free(run);
}

/* Returns 1 when it replied (an error), 0 when the put is under way. */
/* Checks sub-request i of an asynchronous batch and fills its outbox row (target and path kept in
 * targets[i] and paths[i]); -1 when refused, the reply written. */
static int async_row(struct brun *run, size_t i, struct buf *targets, struct buf *paths,
                     struct outbox_row *row)
{
	struct api_ctx *c = run->c;
	struct bsub *s = &run->subs[i];
	const struct batch_req *br = &run->batch->req[i];
	struct ops_err e;
	char *p = NULL, *q = NULL;
	size_t k;

	if (batch_req_route(br, (size_t)run->b->cfg->max_body_bytes, &s->req, &e) < 0 ||
	    apiver_validate(&s->req, run->b->cfg->upstreams[0].api_version, &e) < 0) {
		api_reply_error(c, 400, "InvalidBatch", "request %.64s: %s", br->id, e.message);
		return -1;
	}
	if (api_route(run->b->api, s->req.hub) != 0) {
		/* the outbox delivers to the first upstream only (issue 17: rows do not yet name theirs) */
		api_reply_error(c, 501, "NotImplemented",
		                "request %.64s: asynchronous $batch is for the first upstream's hubs only",
		                br->id);
		return -1;
	}
	if (!s->req.op->mutating) {
		api_reply_error(c, 400, "InvalidBatch",
		                "request %.64s: %s changes nothing and cannot be "
		                "delivered asynchronously",
		                br->id, s->req.op->name);
		return -1;
	}
	if (!api_access(c, (int)s->req.op->cls, s->req.hub)) {
		api_reply_error(c, 403, "AccessDenied",
		                "request %.64s: this peer may not use this operation "
		                "on this hub",
		                br->id);
		return -1;
	}
	if (outbox_target_key(&s->req, &targets[i]) < 0 ||
	    api_upstream_target(run->b->api, &s->req, &p, &q) < 0 ||
	    buf_printf(&paths[i], "%s?%s", p, q) < 0) {
		free(p);
		free(q);
		api_reply_error(c, 500, "InternalError", "out of memory");
		return -1;
	}
	free(p);
	free(q);
	/* the outbox keeps order per target only: a dependency on another target cannot be kept */
	for (k = 0; k < br->ndeps; k++)
		if (strcmp(targets[br->deps[k]].data, targets[i].data) != 0) {
			api_reply_error(c, 400, "InvalidBatch",
			                "request %.64s: dependsOn across targets cannot "
			                "be kept in asynchronous delivery",
			                br->id);
			return -1;
		}
	row->hub = s->req.hub;
	row->target = targets[i].data;
	row->method = s->req.op->method;
	row->path = paths[i].data;
	if (s->req.op->body != OPB_NONE) {
		row->content_type = br->content_type;
		row->body = br->body;
		row->body_len = br->body_len;
	}
	row->request_id = api_ctx_request_id(c);
	api_ctx_trace(c, &row->traceparent, &row->tracestate);
	return 0;
}

static int run_async(struct brun *run)
{
	struct api_ctx *c = run->c;
	struct batch *bt = run->batch;
	struct outbox *ob = outbox_api_outbox(run->b->outbox_api);
	struct outbox_row *rows = NULL;
	struct buf *targets = NULL, *paths = NULL;
	size_t i, n = bt->n;
	int rc = 1;

	if (ob == NULL) {
		api_reply_error(c, 503, "OutboxUnavailable", "the outbox is closed");
		return 1;
	}
	rows = calloc(n, sizeof *rows);
	targets = calloc(n, sizeof *targets);
	paths = calloc(n, sizeof *paths);
	run->ids = calloc(n, sizeof *run->ids);
	if (rows == NULL || targets == NULL || paths == NULL || run->ids == NULL) {
		api_reply_error(c, 500, "InternalError", "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		buf_init(&targets[i], OUTBOX_TARGET_MAX);
		buf_init(&paths[i], 0);
		if (async_row(run, i, targets, paths, &rows[i]) < 0)
			goto out;
	}
	rc = outbox_put(ob, rows, n, run->ids, put_done, run);
	if (rc == OUTBOX_EFULL) {
		api_reply_error(c, 503, "OutboxFull",
		                "the outbox is full (outbox.max_rows / outbox.max_bytes)");
		api_reply_header(c, "Retry-After", "1");
		rc = 1;
	} else if (rc != OUTBOX_OK) {
		api_reply_error(c, 503, "OutboxUnavailable", "the outbox could not store the batch");
		rc = 1;
	} else {
		for (i = 0; i < n; i++)
			api_audit(c, &run->subs[i].req, 202, rows[i].body, rows[i].body_len);
		rc = 0;
	}
out:
	if (targets != NULL)
		for (i = 0; i < n; i++)
			buf_free(&targets[i]);
	if (paths != NULL)
		for (i = 0; i < n; i++)
			buf_free(&paths[i]);
	free(targets);
	free(paths);
	free(rows);
	return rc;
}

/* ---- the endpoint ---- */

/* 1 when the media type of ct is application/json (case-insensitive; parameters after ';' ignored). */
static int is_json_type(const char *ct)
{
	static const char jt[] = "application/json";
	size_t n = sizeof jt - 1;

	if (ct == NULL)
		return 0;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	if (strncasecmp(ct, jt, n) != 0)
		return 0;
	ct += n;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return *ct == '\0' || *ct == ';';
}

static void ep_batch(struct api_ctx *c, void *arg)
{
	struct batch_api *b = arg;
	struct brun *run = NULL;
	struct batch_err be;
	struct batch *bt = NULL;
	const char *body;
	size_t len;

	if (!is_json_type(api_ctx_header(c, "Content-Type"))) {
		api_reply_error(c, 415, "UnsupportedMediaType",
		                "The Content-Type of a $batch must be application/json");
		return;
	}
	body = api_ctx_body(c, &len);
	if (batch_parse(body, len, &b->cfg->batch, &bt, &be) < 0) {
		struct buf out;
		buf_init(&out, 0);
		if (batch_err_json(&be, &out) < 0)
			api_reply_error(c, be.status, be.code, "%s", be.message);
		else
			api_reply(c, be.status, "application/json", out.data, out.len);
		buf_free(&out);
		return;
	}
	if ((run = calloc(1, sizeof *run)) == NULL ||
	    (run->subs = calloc(bt->n ? bt->n : 1, sizeof *run->subs)) == NULL) {
		free(run);
		batch_free(bt);
		api_reply_error(c, 500, "InternalError", "out of memory");
		return;
	}
	run->b = b;
	run->c = c;
	run->batch = bt;
	run->deadline_ms = loop_now_ms() + (uint64_t)b->cfg->upstreams[0].timeout_ms;
	for (len = 0; len < bt->n; len++) {
		ops_req_init(&run->subs[len].req);
		run->subs[len].run = run;
		run->subs[len].i = len;
	}
	if (b->outbox_api != NULL && outbox_prefer_async(api_ctx_header(c, "Prefer"))) {
		run->async = 1;
		if (run_async(run) != 0) {
			run_free(run);
			return;
		}
		run->suspended = 1;
		api_suspend(c, on_abort, run);
		return;
	}
	if (pump(run))
		return; /* answered at once (every sub-request failed its checks) */
	run->suspended = 1;
	api_suspend(c, on_abort, run);
}

struct batch_api *batch_api_new(struct api *a, struct dispatch *r, struct outbox_api *sp,
                                const struct cfg *cfg)
{
	struct batch_api *b = calloc(1, sizeof *b);

	if (b == NULL)
		return NULL;
	b->api = a;
	b->dispatch = r;
	b->outbox_api = sp;
	b->cfg = cfg;
	if (api_register_limit(a, "POST", "/$batch", API_EXACT, ep_batch, b, (size_t)cfg->batch.max_bytes) <
	    0) {
		free(b);
		return NULL;
	}
	return b;
}

void batch_api_configure(struct batch_api *b, const struct cfg *cfg)
{
	b->cfg = cfg;
}

void batch_api_free(struct batch_api *b)
{
	free(b);
}
