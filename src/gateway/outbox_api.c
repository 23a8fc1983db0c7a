/* outbox_api.c: async acceptance into the outbox, the delivery worker and the /outbox endpoints. */
#include <config.h>
#include "outbox_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "buf.h"
#include "cfg.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "ops.h"
#include "outbox.h"
#include "dispatch.h"
#include "upstream.h"

#define OUTBOX_API_LIST_DEFAULT   100
#define OUTBOX_API_RETRY_LATER_MS 1000 /* a delivery that could not even start */

struct delivery {
	struct outbox_api *sp;
	struct up_job *job;
	char id[OUTBOX_ID_LEN + 1];
	struct delivery *prev, *next;
};

/* A request waiting for its put or retry to commit. c is NULL once the request was aborted. */
struct pending {
	struct outbox_api *sp;
	struct api_ctx *c;
};

struct outbox_api {
	struct loop *loop;
	struct api *api;
	struct dispatch *dispatch;
	const struct cfg *cfg;
	struct outbox *ob;
	struct delivery *live; /* deliveries in flight */
	unsigned nlive;
	int stopping;
	int write_failed;
};

static int post(void *ctx, void (*fn)(void *), void *arg)
{
	return loop_post(ctx, fn, arg);
}

/* ---- delivery ---- */

static const char *static_method(const char *m)
{
	static const char *const known[] = { "POST", "PUT", "DELETE", "GET", "HEAD" };
	size_t i;

	for (i = 0; i < sizeof known / sizeof known[0]; i++)
		if (strcmp(m, known[i]) == 0)
			return known[i];
	return NULL;
}

static void delivery_free(struct delivery *d)
{
	struct outbox_api *sp = d->sp;

	if (d->prev != NULL)
		d->prev->next = d->next;
	else
		sp->live = d->next;
	if (d->next != NULL)
		d->next->prev = d->prev;
	sp->nlive--;
	up_job_free(d->job);
	free(d);
}

static void mark(struct outbox_api *sp, const char *id, enum outbox_result res, int status, long attempts,
                 long delay_ms, const char *error)
{
	struct outbox_mark m;

	m.result = res;
	m.status = status;
	m.attempts = attempts;
	m.delay_ms = delay_ms;
	m.error = error;
	if (sp->ob != NULL && outbox_mark(sp->ob, id, &m) != OUTBOX_OK)
		log_kv(WLOG_ERR, "outbox: cannot record a delivery; the row is sent again after a restart",
		       "id", id, NULL);
}

static void on_delivered(struct up_job *job, const struct dispatch_result *r, void *arg)
{
	struct delivery *d = arg;
	struct outbox_api *sp = d->sp;
	char why[UP_ERRMSG_MAX + 32];
	int status = job->result == UP_OK ? (int)job->status : 0;

	if (status > 0)
		snprintf(why, sizeof why, "upstream status %d", status);
	else
		snprintf(why, sizeof why, "%s", job->errmsg[0] ? job->errmsg : "no answer");
	switch (r->verdict) {
	case RETRY_SUCCESS:
		mark(sp, d->id, OUTBOX_RES_DELIVERED, status, (long)job->attempts, 0, NULL);
		break;
	case RETRY_GIVE_UP:
		mark(sp, d->id, OUTBOX_RES_RETRY, status, (long)job->attempts,
		     r->delay_ms > 0 ? r->delay_ms : OUTBOX_API_RETRY_LATER_MS, why);
		break;
	case RETRY_FINAL:
	default:
		if (job->result == UP_FAILED || job->result == UP_NO_CREDENTIAL)
			/* nothing reached the service: a local failure, not the row's */
			mark(sp, d->id, OUTBOX_RES_RETRY, 0, (long)job->attempts, OUTBOX_API_RETRY_LATER_MS,
			     why);
		else
			mark(sp, d->id, OUTBOX_RES_FAILED, status, (long)job->attempts, 0, why);
		break;
	}
	delivery_free(d);
}

static void deliver(void *arg, struct outbox_msg *msg)
{
	struct outbox_api *sp = arg;
	struct delivery *d = NULL;
	struct up_job_spec js;
	struct up_job *job;
	const char *q, *method;
	struct ops_req r;
	struct ops_err e;
	long wait_ms = 0;
	int rc;

	if (sp->stopping ||
	    sp->ob == NULL) { /* not marked: queued in the file, sent again at the next start */
		outbox_msg_free(msg);
		return;
	}
	method = static_method(msg->method);
	if (method == NULL) {
		mark(sp, msg->id, OUTBOX_RES_FAILED, 0, 0, 0, "unknown method");
		outbox_msg_free(msg);
		return;
	}
	memset(&js, 0, sizeof js);
	q = strchr(msg->path, '?');
	js.path = q ? strndup(msg->path, (size_t)(q - msg->path)) : strdup(msg->path);
	js.query = strdup(q ? q + 1 : "");
	js.method = method;
	js.body = msg->body;
	js.body_len = msg->body_len;
	msg->body = NULL;
	js.content_type = msg->content_type;
	js.request_id = msg->request_id ? msg->request_id : msg->id;
	js.traceparent = msg->traceparent;
	js.tracestate = msg->tracestate;
	js.deadline_ms = loop_now_ms() + (uint64_t)sp->cfg->upstreams[0].timeout_ms;
	ops_req_init(&r);
	js.metrics_op = js.path != NULL && ops_route(method, js.path, &r, &e) == 0 ? (int)r.op->id
	                                                                           : METRICS_OP_OUTBOX;
	ops_req_free(&r);
	if ((d = calloc(1, sizeof *d)) == NULL) {
		free(js.path);
		free(js.query);
		free(js.body);
		goto later;
	}
	if ((d->job = job = up_job_make(&js)) == NULL) {
		free(d);
		d = NULL;
		goto later;
	}
	d->sp = sp;
	memcpy(d->id, msg->id, sizeof d->id);
	d->next = sp->live;
	if (sp->live != NULL)
		sp->live->prev = d;
	sp->live = d;
	sp->nlive++;
	outbox_msg_free(msg);
	msg = NULL;
	rc = dispatch_start(sp->dispatch, job, on_delivered, d, &wait_ms);
	if (rc == DISPATCH_OPEN) {
		mark(sp, d->id, OUTBOX_RES_RETRY, 0, 0, wait_ms, "circuit breaker open");
		delivery_free(d);
	} else if (rc < 0) {
		mark(sp, d->id, OUTBOX_RES_RETRY, 0, 0, OUTBOX_API_RETRY_LATER_MS, job->errmsg);
		delivery_free(d);
	}
	return;
later:
	if (d != NULL)
		free(d);
	mark(sp, msg->id, OUTBOX_RES_RETRY, 0, 0, OUTBOX_API_RETRY_LATER_MS, "out of memory");
	outbox_msg_free(msg);
}

/* ---- replies ---- */

void outbox_api_reply_accepted(struct api_ctx *c, const char *id)
{
	char body[64], loc[48];

	snprintf(body, sizeof body, "{\"id\":\"%s\"}", id);
	snprintf(loc, sizeof loc, "/outbox/%s", id);
	api_reply(c, 202, "application/json", body, strlen(body));
	api_reply_header(c, "Preference-Applied", "respond-async");
	api_reply_header(c, "Location", loc);
}

static void on_abort(struct api_ctx *c, void *arg)
{
	struct pending *p = arg;

	(void)c;
	p->c = NULL; /* the put still completes; its answer has nobody to go to */
}

static void put_done(void *arg, int status, const char *const *ids, size_t n)
{
	struct pending *p = arg;

	p->sp->write_failed = status != OUTBOX_OK;
	if (p->c != NULL) {
		if (status == OUTBOX_OK && n == 1)
			outbox_api_reply_accepted(p->c, ids[0]);
		else
			api_reply_error(p->c, 503, "OutboxUnavailable",
			                "the outbox could not store the request");
		api_resume(p->c);
	}
	free(p);
}

/* 503 for a full outbox; 500 for a failure. */
static void reply_put_error(struct api_ctx *c, int rc)
{
	if (rc == OUTBOX_EFULL) {
		api_reply_error(c, 503, "OutboxFull",
		                "the outbox is full (outbox.max_rows / outbox.max_bytes)");
		api_reply_header(c, "Retry-After", "1");
	} else if (rc == OUTBOX_EINVAL) {
		api_reply_error(c, 400, "InvalidRequest", "the request cannot be stored in the outbox");
	} else {
		api_reply_error(c, 503, "OutboxUnavailable", "the outbox could not store the request");
	}
}

/* The async hook: a mutating operation with Prefer: respond-async. */
static int async_accept(struct api_ctx *c, void *arg)
{
	struct outbox_api *sp = arg;
	const struct ops_req *r = api_ctx_op(c);
	const char *ct = api_ctx_header(c, "Content-Type");
	char *path = NULL, *query = NULL, ids[1][OUTBOX_ID_LEN + 1];
	struct buf target, full;
	struct outbox_row row;
	struct pending *p;
	size_t blen;
	const char *body;
	int rc;

	if (r == NULL || !r->op->mutating || sp->ob == NULL ||
	    !outbox_prefer_async(api_ctx_header(c, "Prefer")))
		return 0;
	/* rows are delivered to the first upstream only (issue 17): the others' are sent at once */
	if (api_ctx_upstream_index(c) != 0)
		return 0;
	buf_init(&target, OUTBOX_TARGET_MAX);
	buf_init(&full, 0);
	if (api_upstream_target(sp->api, r, &path, &query) < 0 || outbox_target_key(r, &target) < 0 ||
	    buf_printf(&full, "%s?%s", path, query) < 0 || (p = calloc(1, sizeof *p)) == NULL) {
		api_reply_error(c, 500, "InternalError", "out of memory");
		goto out;
	}
	body = api_ctx_body(c, &blen);
	memset(&row, 0, sizeof row);
	row.hub = r->hub;
	row.target = target.data;
	row.method = r->op->method;
	row.path = full.data;
	if (r->op->body != OPB_NONE) {
		row.content_type = ct;
		row.body = body;
		row.body_len = blen;
	}
	row.request_id = api_ctx_request_id(c);
	api_ctx_trace(c, &row.traceparent, &row.tracestate);
	p->sp = sp;
	p->c = c;
	rc = outbox_put(sp->ob, &row, 1, ids, put_done, p);
	if (rc != OUTBOX_OK) {
		free(p);
		reply_put_error(c, rc);
		goto out;
	}
	api_suspend(c, on_abort, p);
out:
	free(path);
	free(query);
	buf_free(&target);
	buf_free(&full);
	return 1;
}

/* ---- endpoints ---- */

static int valid_id(const char *s, size_t n)
{
	size_t i;

	if (n != OUTBOX_ID_LEN)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

static int need_outbox(struct outbox_api *sp, struct api_ctx *c)
{
	if (sp->ob != NULL)
		return 1;
	api_reply_error(c, 503, "OutboxUnavailable", "the outbox is closed");
	return 0;
}

/* GET /outbox?state=failed[&limit=N] */
static void ep_list(struct api_ctx *c, void *arg)
{
	struct outbox_api *sp = arg;
	struct MHD_Connection *conn = api_ctx_connection(c);
	const char *state = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "state");
	const char *lim = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "limit");
	long limit = OUTBOX_API_LIST_DEFAULT;
	struct buf out;

	if (!api_access(c, OPC_READ, NULL)) {
		api_reply_error(c, 403, "AccessDenied", "this peer may not read the outbox");
		return;
	}
	if (state == NULL || strcmp(state, "failed") != 0) {
		api_reply_error(c, 400, "InvalidParameter", "state=failed is the one listing supported");
		return;
	}
	if (lim != NULL) {
		char *end;
		limit = strtol(lim, &end, 10);
		if (*lim == '\0' || *end != '\0' || limit < 1 || limit > OUTBOX_LIST_MAX) {
			api_reply_error(c, 400, "InvalidParameter", "limit must be 1..%d", OUTBOX_LIST_MAX);
			return;
		}
	}
	if (!need_outbox(sp, c))
		return;
	buf_init(&out, 0);
	if (outbox_list_failed(sp->ob, (size_t)limit, &out) < 0)
		api_reply_error(c, 500, "InternalError", "cannot read the outbox");
	else
		api_reply(c, 200, "application/json", out.data, out.len);
	buf_free(&out);
}

/* GET /outbox/{id} */
static void ep_get(struct api_ctx *c, void *arg)
{
	struct outbox_api *sp = arg;
	const char *id = api_ctx_path(c) + strlen("/outbox/");
	struct outbox_msg *m = NULL;
	struct buf out;
	int rc;

	if (!api_access(c, OPC_READ, NULL)) {
		api_reply_error(c, 403, "AccessDenied", "this peer may not read the outbox");
		return;
	}
	if (!valid_id(id, strlen(id))) {
		api_reply_error(c, 404, "NotFound", "no such outbox entry");
		return;
	}
	if (!need_outbox(sp, c))
		return;
	rc = outbox_get(sp->ob, id, &m);
	if (rc == OUTBOX_ENOTFOUND) {
		api_reply_error(c, 404, "NotFound", "no such outbox entry");
		return;
	}
	buf_init(&out, 0);
	if (rc != OUTBOX_OK || outbox_msg_json(m, &out) < 0)
		api_reply_error(c, 500, "InternalError", "cannot read the outbox");
	else
		api_reply(c, 200, "application/json", out.data, out.len);
	buf_free(&out);
	outbox_msg_free(m);
}

struct retry_pending {
	struct pending p;
	char id[OUTBOX_ID_LEN + 1];
};

static void retry_done(void *arg, int status)
{
	struct retry_pending *rp = arg;
	struct api_ctx *c = rp->p.c;

	if (c != NULL) {
		if (status == OUTBOX_OK) {
			char body[80], loc[48];
			snprintf(body, sizeof body, "{\"id\":\"%s\",\"state\":\"queued\"}", rp->id);
			snprintf(loc, sizeof loc, "/outbox/%s", rp->id);
			api_reply(c, 202, "application/json", body, strlen(body));
			api_reply_header(c, "Location", loc);
		} else if (status == OUTBOX_ENOTFOUND) {
			api_reply_error(c, 404, "NotFound", "no such outbox entry");
		} else if (status == OUTBOX_ESTATE) {
			api_reply_error(c, 409, "Conflict", "only a failed entry can be retried");
		} else {
			api_reply_error(c, 500, "InternalError", "cannot update the outbox");
		}
		api_resume(c);
	}
	free(rp);
}

/* POST /outbox/{id}/retry */
static void ep_retry(struct api_ctx *c, void *arg)
{
	struct outbox_api *sp = arg;
	const char *id = api_ctx_path(c) + strlen("/outbox/");
	const char *slash = strchr(id, '/');
	struct retry_pending *rp;

	if (slash == NULL || strcmp(slash, "/retry") != 0 || !valid_id(id, (size_t)(slash - id))) {
		api_reply_error(c, 404, "NotFound", "no such outbox endpoint");
		return;
	}
	if (!api_access(c, OPC_SEND, NULL)) {
		api_reply_error(c, 403, "AccessDenied", "this peer may not retry outbox entries");
		return;
	}
	if (!need_outbox(sp, c))
		return;
	if ((rp = calloc(1, sizeof *rp)) == NULL) {
		api_reply_error(c, 500, "InternalError", "out of memory");
		return;
	}
	memcpy(rp->id, id, OUTBOX_ID_LEN);
	rp->p.sp = sp;
	rp->p.c = c;
	if (outbox_retry(sp->ob, rp->id, retry_done, rp) != OUTBOX_OK) {
		free(rp);
		api_reply_error(c, 500, "InternalError", "cannot update the outbox");
		return;
	}
	api_suspend(c, on_abort, &rp->p);
}

/* ---- module ---- */

/* Before the loop sleeps: one wake-up of the writer for every put and mark of the iteration (with 64
 * clients the writer then commits them in one transaction instead of being woken, on a shared CPU, for
 * the first one). */
static void presleep(void *arg)
{
	struct outbox_api *sp = arg;

	outbox_wake(sp->ob);
}

struct outbox_api *outbox_api_new(struct loop *l, struct api *a, struct dispatch *r, const struct cfg *cfg,
                                  char *err, size_t errlen)
{
	struct outbox_api *sp = calloc(1, sizeof *sp);
	struct outbox_open_args oa;

	if (sp == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	sp->loop = l;
	sp->api = a;
	sp->dispatch = r;
	sp->cfg = cfg;
	memset(&oa, 0, sizeof oa);
	oa.cfg = &cfg->outbox;
	oa.post = post;
	oa.post_ctx = l;
	oa.deliver = deliver;
	oa.deliver_arg = sp;
	oa.defer_wake = 1;
	if ((sp->ob = outbox_open(&oa, err, errlen)) == NULL) {
		free(sp);
		return NULL;
	}
	if (loop_add_presleep(l, presleep, sp) < 0) {
		snprintf(err, errlen, "too many pre-sleep hooks");
		outbox_close(sp->ob);
		free(sp);
		return NULL;
	}
	if (api_register(a, "GET", "/outbox", API_EXACT, ep_list, sp) < 0 ||
	    api_register(a, "GET", "/outbox/", API_PREFIX, ep_get, sp) < 0 ||
	    api_register(a, "POST", "/outbox/", API_PREFIX, ep_retry, sp) < 0) {
		snprintf(err, errlen, "too many local endpoints");
		loop_remove_presleep(l, presleep, sp);
		outbox_close(sp->ob);
		free(sp);
		return NULL;
	}
	api_on_async(a, async_accept, sp);
	return sp;
}

void outbox_api_configure(struct outbox_api *sp, const struct cfg *cfg)
{
	sp->cfg = cfg;
}

void outbox_api_stop_delivery(struct outbox_api *sp)
{
	struct delivery *d, *next;

	sp->stopping = 1;
	/* deliveries waiting before their next attempt would only hold the drain up: not marked, their rows
	 * stay queued in the file and are sent again at the next start */
	for (d = sp->live; d != NULL; d = next) {
		next = d->next;
		if (!up_job_inflight(d->job))
			delivery_free(d);
	}
}

void outbox_api_kick(struct outbox_api *sp)
{
	if (sp != NULL && sp->ob != NULL && !sp->stopping)
		outbox_kick(sp->ob);
}

unsigned outbox_api_inflight(const struct outbox_api *sp)
{
	return sp->nlive;
}

void outbox_api_close(struct outbox_api *sp)
{
	if (sp == NULL)
		return;
	sp->stopping = 1;
	while (sp->live != NULL)
		delivery_free(sp->live); /* up_job_free cancels; the row stays queued in the file */
	loop_remove_presleep(sp->loop, presleep, sp);
	outbox_close(sp->ob);
	sp->ob = NULL;
}

void outbox_api_free(struct outbox_api *sp)
{
	if (sp == NULL)
		return;
	outbox_api_close(sp);
	free(sp);
}

struct outbox *outbox_api_outbox(struct outbox_api *sp)
{
	return sp->ob;
}

void outbox_api_refresh_metrics(struct outbox_api *sp)
{
	struct outbox_stats st;

	if (sp == NULL || sp->ob == NULL)
		return;
	outbox_get_stats(sp->ob, &st);
	metrics_set_outbox(st.depth, st.failed);
	metrics_set_outbox_oldest(st.oldest_queued_ms);
}

int outbox_api_writable(const struct outbox_api *sp)
{
	return sp != NULL && sp->ob != NULL && !sp->write_failed;
}
