/* api.c: the access handler: route, bound, validate, answer locally or hand the request to the upstream. */
#include <config.h>
#include "api.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>

#include "apiver.h"
#include "buf.h"
#include "cfg.h"
#include "cred.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "ops.h"
#include "dispatch.h"
#include "arrival.h"
#include "token.h"
#include "upstream.h"

#define API_KICK_MAX 32

struct route {
	const char *method;
	const char *path;
	enum api_match match;
	api_handler_fn fn;
	void *arg;
	size_t body_max; /* 0: limits.max_body_bytes */
};

struct admit_hook {
	api_admit_fn fn;
	void *arg;
};
struct done_hook {
	api_done_fn fn;
	void *arg;
};

struct api {
	struct loop *loop;
	struct up *up;
	const struct cfg *cfg;
	const struct cred *cred;
	struct route routes[API_ROUTES_MAX];
	size_t nroutes;
	struct admit_hook admit[API_HOOKS_MAX];
	size_t nadmit;
	struct done_hook done[API_HOOKS_MAX];
	size_t ndone;
	struct api_ctx *suspended; /* doubly linked list of suspended requests */
	unsigned nsuspended;
	uint64_t rid_state; /* xorshift state for generated request ids */
	/* Daemons with resumed connections: libmicrohttpd 0.9.75 in external epoll mode does not wake
	 * its epoll fd on MHD_resume_connection, so they are run before the loop sleeps again. */
	struct MHD_Daemon *kick[API_KICK_MAX];
	size_t nkick;
	int draining;
	int local_only;
	struct dispatch *dispatch;
	/* per upstream (cfg->upstreams[i]); [0] is up, cred and dispatch above */
	struct up *ups[CFG_UPSTREAMS_MAX];
	const struct cred *creds[CFG_UPSTREAMS_MAX];
	struct dispatch *dispatches[CFG_UPSTREAMS_MAX];
	size_t nups;
	api_async_fn async_fn;
	void *async_arg;
	api_access_fn access_fn;
	api_audit_fn audit_fn;
	void *access_arg;
};

struct hdr {
	char *name, *value;
};

enum phase { PH_BODY, PH_WAIT, PH_REPLIED };

struct api_ctx {
	struct api *api;
	struct MHD_Connection *conn;
	const char *method; /* borrowed from MHD */
	const char *url;    /* borrowed from MHD, percent-encoded, no query */
	enum phase phase;
	const struct route *route; /* local endpoint, or NULL */
	int is_op;                 /* routed to the operation table */
	struct ops_req req;
	struct buf body;
	int body_over; /* the body exceeded the limit */
	size_t discarded;
	struct api_peer peer;
	char request_id[API_REQUEST_ID_MAX + 8];
	uint64_t t0;
	uint64_t t_end;
	/* upstream */
	struct up_job *job;
	struct loop_timer *deadline;
	int upstream_status;
	size_t upi; /* the upstream it goes to (cfg_route) */
	/* suspension */
	int suspended;
	api_abort_fn on_abort;
	void *abort_arg;
	struct api_ctx *prev, *next;
	/* the reply */
	int status;
	char *r_body;
	size_t r_len;
	struct hdr r_hdrs[API_REPLY_HEADERS_MAX];
	size_t r_nhdrs;
	int queued;
	size_t body_max;
	/* the admission module's */
	void *data;
	void (*data_free)(void *);
};

static long run_kicked(void *arg);

/* ---- module ---- */

struct api *api_new(struct loop *l, struct up *up, const struct cfg *cfg, const struct cred *cred)
{
	struct api *a = calloc(1, sizeof *a);

	if (a == NULL)
		return NULL;
	a->loop = l;
	a->up = up;
	a->cfg = cfg;
	a->cred = cred;
	a->ups[0] = up;
	a->creds[0] = cred;
	a->nups = 1;
	if (getrandom(&a->rid_state, sizeof a->rid_state, 0) != (ssize_t)sizeof a->rid_state)
		a->rid_state = (uint64_t)time(NULL) ^ (uint64_t)loop_now_ms() << 20;
	a->rid_state |= 1;
	if (loop_add_prepare(l, run_kicked, a) < 0) {
		free(a);
		return NULL;
	}
	return a;
}

void api_configure(struct api *a, const struct cfg *cfg, const struct cred *cred)
{
	a->cfg = cfg;
	a->cred = cred;
	a->creds[0] = cred;
}

void api_set_dispatch(struct api *a, struct dispatch *r)
{
	a->dispatch = r;
	a->dispatches[0] = r;
}

void api_set_upstream(struct api *a, size_t i, struct up *up, const struct cred *cred, struct dispatch *r)
{
	if (i >= CFG_UPSTREAMS_MAX)
		return;
	a->ups[i] = up;
	a->creds[i] = cred;
	a->dispatches[i] = r;
	if (i == 0) {
		a->up = up;
		a->cred = cred;
		a->dispatch = r;
	}
	if (i >= a->nups)
		a->nups = i + 1;
}

/* The upstream of a request for hub: its index, or CFG_NO_UPSTREAM (none matches, no default). */
static size_t route_index(const struct api *a, const char *hub)
{
	size_t i = a->cfg != NULL && a->cfg->nupstreams > 0 ? cfg_route(a->cfg, hub) : 0;

	return i != CFG_NO_UPSTREAM && i >= a->nups ? CFG_NO_UPSTREAM : i;
}

size_t api_route(const struct api *a, const char *hub)
{
	return route_index(a, hub);
}

struct dispatch *api_route_dispatch(const struct api *a, size_t i)
{
	return i < a->nups ? a->dispatches[i] : NULL;
}

size_t api_ctx_upstream_index(const struct api_ctx *c)
{
	return c->upi;
}

const char *api_ctx_upstream(const struct api_ctx *c)
{
	const struct cfg *cfg = c->api->cfg;

	if (c->upi == CFG_NO_UPSTREAM || cfg == NULL || c->upi >= cfg->nupstreams)
		return "-";
	return cfg->upstreams[c->upi].name;
}

/* The settings of upstream i (a->cfg->upstreams[i]). */
static const struct cfg_upstream *up_cfg(const struct api *a, size_t i)
{
	return &a->cfg->upstreams[i != CFG_NO_UPSTREAM && i < a->cfg->nupstreams ? i : 0];
}

void api_set_local_only(struct api *a, int on)
{
	a->local_only = on;
}

void api_on_async(struct api *a, api_async_fn fn, void *arg)
{
	a->async_fn = fn;
	a->async_arg = arg;
}

void api_set_access(struct api *a, api_access_fn access, api_audit_fn audit, void *arg)
{
	a->access_fn = access;
	a->audit_fn = audit;
	a->access_arg = arg;
}

int api_access(const struct api_ctx *c, int ops_class, const char *hub)
{
	struct api *a = c->api;

	return a->access_fn == NULL ? 1 : a->access_fn(c, ops_class, hub, a->access_arg);
}

void api_audit(const struct api_ctx *c, const struct ops_req *r, int status, const void *body, size_t len)
{
	struct api *a = c->api;

	if (a->audit_fn != NULL)
		a->audit_fn(c, r, status, body, len, a->access_arg);
}

const struct cfg *api_cfg(const struct api *a)
{
	return a->cfg;
}

void api_free(struct api *a)
{
	if (a == NULL)
		return;
	loop_remove_prepare(a->loop, run_kicked, a);
	free(a);
}

int api_register(struct api *a, const char *method, const char *path, enum api_match match, api_handler_fn fn,
                 void *arg)
{
	return api_register_limit(a, method, path, match, fn, arg, 0);
}

int api_register_limit(struct api *a, const char *method, const char *path, enum api_match match,
                       api_handler_fn fn, void *arg, size_t body_max)
{
	struct route *r;

	if (a->nroutes == API_ROUTES_MAX)
		return -1;
	r = &a->routes[a->nroutes++];
	r->method = method;
	r->path = path;
	r->match = match;
	r->fn = fn;
	r->arg = arg;
	r->body_max = body_max;
	return 0;
}

int api_on_admit(struct api *a, api_admit_fn fn, void *arg)
{
	if (a->nadmit == API_HOOKS_MAX)
		return -1;
	a->admit[a->nadmit].fn = fn;
	a->admit[a->nadmit].arg = arg;
	a->nadmit++;
	return 0;
}

int api_on_done(struct api *a, api_done_fn fn, void *arg)
{
	if (a->ndone == API_HOOKS_MAX)
		return -1;
	a->done[a->ndone].fn = fn;
	a->done[a->ndone].arg = arg;
	a->ndone++;
	return 0;
}

unsigned api_inflight(const struct api *a)
{
	return a->nsuspended;
}

void api_set_draining(struct api *a, int on)
{
	a->draining = on;
}

/* ---- accessors ---- */

const char *api_ctx_method(const struct api_ctx *c)
{
	return c->method;
}
const char *api_ctx_path(const struct api_ctx *c)
{
	return c->url;
}
const struct ops_req *api_ctx_op(const struct api_ctx *c)
{
	return c->is_op ? &c->req : NULL;
}
const char *api_ctx_request_id(const struct api_ctx *c)
{
	return c->request_id;
}
const struct api_peer *api_ctx_peer(const struct api_ctx *c)
{
	return &c->peer;
}
struct MHD_Connection *api_ctx_connection(const struct api_ctx *c)
{
	return c->conn;
}
int api_ctx_status(const struct api_ctx *c)
{
	return c->status;
}
int api_ctx_upstream_status(const struct api_ctx *c)
{
	return c->upstream_status;
}
unsigned api_ctx_attempts(const struct api_ctx *c)
{
	return c->job ? c->job->attempts : 0;
}

size_t api_ctx_reply_len(const struct api_ctx *c)
{
	return c->r_len;
}
const char *api_ctx_route(const struct api_ctx *c)
{
	return c->route ? c->route->path : NULL;
}
struct api *api_ctx_api(const struct api_ctx *c)
{
	return c->api;
}
void *api_ctx_data(const struct api_ctx *c)
{
	return c->data;
}

void api_ctx_set_data(struct api_ctx *c, void *p, void (*free_fn)(void *))
{
	if (c->data_free != NULL)
		c->data_free(c->data);
	c->data = p;
	c->data_free = free_fn;
}

uint64_t api_ctx_duration_ms(const struct api_ctx *c)
{
	return (c->t_end ? c->t_end : loop_now_ms()) - c->t0;
}

const char *api_ctx_header(const struct api_ctx *c, const char *name)
{
	return MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND, name);
}

const char *api_ctx_body(const struct api_ctx *c, size_t *len)
{
	if (c->body.data == NULL && c->job != NULL && c->job->body != NULL) { /* handed to the upstream */
		if (len != NULL)
			*len = c->job->body_len;
		return c->job->body;
	}
	if (len != NULL)
		*len = c->body.len;
	return c->body.data ? c->body.data : "";
}

/* ---- replies ---- */

static void reply_clear(struct api_ctx *c)
{
	size_t i;

	free(c->r_body);
	c->r_body = NULL;
	c->r_len = 0;
	for (i = 0; i < c->r_nhdrs; i++) {
		free(c->r_hdrs[i].name);
		free(c->r_hdrs[i].value);
	}
	c->r_nhdrs = 0;
	c->status = 0;
}

int api_reply_header(struct api_ctx *c, const char *name, const char *value)
{
	struct hdr *h;

	if (c->r_nhdrs == API_REPLY_HEADERS_MAX)
		return -1;
	h = &c->r_hdrs[c->r_nhdrs];
	h->name = strdup(name);
	h->value = strdup(value);
	if (h->name == NULL || h->value == NULL) {
		free(h->name);
		free(h->value);
		return -1;
	}
	c->r_nhdrs++;
	return 0;
}

/* Take ownership of body (malloc'ed, may be NULL when len is 0). */
static int reply_take(struct api_ctx *c, int status, const char *content_type, char *body, size_t len)
{
	reply_clear(c);
	c->status = status;
	c->r_body = body;
	c->r_len = len;
	c->phase = PH_REPLIED;
	if (content_type != NULL && api_reply_header(c, "Content-Type", content_type) < 0)
		return -1;
	return 0;
}

int api_reply(struct api_ctx *c, int status, const char *content_type, const void *body, size_t len)
{
	char *copy = NULL;

	if (len > 0) {
		if ((copy = malloc(len)) == NULL) {
			reply_take(c, 500, NULL, NULL, 0);
			return -1;
		}
		memcpy(copy, body, len);
	}
	return reply_take(c, status, content_type, copy, len);
}

static int reply_json_error(struct api_ctx *c, int status, const char *code, const char *msg)
{
	json_t *j = json_pack("{s:s,s:s}", "code", code, "message", msg);
	char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
	int rc;

	json_decref(j);
	if (s == NULL)
		return reply_take(c, status, NULL, NULL, 0);
	rc = reply_take(c, status, "application/json", s, strlen(s));
	return rc;
}

int api_reply_error(struct api_ctx *c, int status, const char *code, const char *fmt, ...)
{
	char msg[WPS_ERRMSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return reply_json_error(c, status, code, msg);
}

static int reply_ops_error(struct api_ctx *c, const struct ops_err *e)
{
	return reply_json_error(c, e->status, e->code, e->message);
}

static enum MHD_Result queue_reply(struct api_ctx *c)
{
	static char empty[1];
	struct MHD_Response *r;
	enum MHD_Result rc;
	size_t i;

	r = MHD_create_response_from_buffer(c->r_len, c->r_body ? c->r_body : empty,
	                                    c->r_body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	if (r == NULL)
		return MHD_NO;
	c->r_body = NULL; /* MHD frees it */
	for (i = 0; i < c->r_nhdrs; i++)
		MHD_add_response_header(r, c->r_hdrs[i].name, c->r_hdrs[i].value);
	MHD_add_response_header(r, "x-ms-client-request-id", c->request_id);
	rc = MHD_queue_response(c->conn, (unsigned)c->status, r);
	MHD_destroy_response(r);
	if (rc == MHD_YES)
		c->queued = 1;
	return rc;
}

/* ---- suspension ---- */

void api_suspend(struct api_ctx *c, api_abort_fn on_abort, void *arg)
{
	struct api *a = c->api;

	if (c->suspended)
		return;
	c->on_abort = on_abort;
	c->abort_arg = arg;
	c->phase = PH_WAIT;
	c->suspended = 1;
	c->prev = NULL;
	c->next = a->suspended;
	if (a->suspended != NULL)
		a->suspended->prev = c;
	a->suspended = c;
	a->nsuspended++;
	MHD_suspend_connection(c->conn);
}

static void kick(struct api_ctx *c)
{
	struct api *a = c->api;
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c->conn, MHD_CONNECTION_INFO_DAEMON);
	size_t i;

	if (ci == NULL || ci->daemon == NULL)
		return;
	for (i = 0; i < a->nkick; i++)
		if (a->kick[i] == ci->daemon)
			return;
	if (a->nkick < API_KICK_MAX)
		a->kick[a->nkick++] = ci->daemon;
	else
		MHD_run(ci->daemon);
}

static long run_kicked(void *arg)
{
	struct api *a = arg;

	while (a->nkick > 0)
		MHD_run(a->kick[--a->nkick]);
	return -1;
}

static void unlink_suspended(struct api_ctx *c)
{
	struct api *a = c->api;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		a->suspended = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	c->suspended = 0;
	a->nsuspended--;
}

void api_resume(struct api_ctx *c)
{
	if (!c->suspended)
		return;
	unlink_suspended(c);
	if (c->phase != PH_REPLIED)
		reply_json_error(c, 500, "InternalError", "request resumed without a reply");
	MHD_resume_connection(c->conn);
	kick(c);
}

void api_abort_all(struct api *a, int status, const char *code, const char *message)
{
	while (a->suspended != NULL) {
		struct api_ctx *c = a->suspended;
		if (c->job != NULL)
			dispatch_cancel(c->job);
		loop_timer_stop(c->deadline);
		if (c->on_abort != NULL)
			c->on_abort(c, c->abort_arg);
		c->on_abort = NULL;
		reply_json_error(c, status, code, message);
		api_resume(c);
	}
}

/* ---- per request ---- */

/* The low n hex digits of v, lower case, at out (no NUL). */
static void hex_into(char *out, uint64_t v, int n)
{
	static const char hex[] = "0123456789abcdef";

	while (n-- > 0) {
		out[n] = hex[v & 15u];
		v >>= 4;
	}
}

static void make_request_id(struct api *a, struct api_ctx *c)
{
	const char *given = MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND, "x-ms-client-request-id");
	uint64_t x, y;

	if (given != NULL) {
		size_t i, n = strlen(given);
		int ok = n > 0 && n <= API_REQUEST_ID_MAX;
		for (i = 0; ok && i < n; i++)
			if ((unsigned char)given[i] < 0x20 || (unsigned char)given[i] > 0x7e)
				ok = 0;
		if (ok) {
			memcpy(c->request_id, given, n + 1);
			return;
		}
	}
	/* xorshift64*: unique enough for correlation, not a secret */
	a->rid_state ^= a->rid_state >> 12;
	a->rid_state ^= a->rid_state << 25;
	a->rid_state ^= a->rid_state >> 27;
	x = a->rid_state * 0x2545F4914F6CDD1DULL;
	a->rid_state ^= a->rid_state >> 12;
	a->rid_state ^= a->rid_state << 25;
	a->rid_state ^= a->rid_state >> 27;
	y = a->rid_state * 0x2545F4914F6CDD1DULL;
	/* "%08x-%04x-4%03x-%04x-%012llx" of (x >> 32, x >> 16, x, (y >> 48 & 0x3fff) | 0x8000, y), without
	 * snprintf (~2,600 instructions per request) */
	hex_into(c->request_id, x >> 32, 8);
	c->request_id[8] = '-';
	hex_into(c->request_id + 9, x >> 16, 4);
	c->request_id[13] = '-';
	c->request_id[14] = '4';
	hex_into(c->request_id + 15, x, 3);
	c->request_id[18] = '-';
	hex_into(c->request_id + 19, ((y >> 48) & 0x3fffu) | 0x8000u, 4);
	c->request_id[23] = '-';
	hex_into(c->request_id + 24, y, 12);
	c->request_id[36] = '\0';
}

static void get_peer(struct api_ctx *c)
{
	const union MHD_ConnectionInfo *ci =
	        MHD_get_connection_info(c->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	const union MHD_ConnectionInfo *fi;

	snprintf(c->peer.text, sizeof c->peer.text, "tcp");
	if (ci == NULL || ci->client_addr == NULL || ci->client_addr->sa_family != AF_UNIX)
		return;
	snprintf(c->peer.text, sizeof c->peer.text, "unix");
	fi = MHD_get_connection_info(c->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	if (fi != NULL) {
		struct ucred uc;
		socklen_t l = sizeof uc;
		if (getsockopt(fi->connect_fd, SOL_SOCKET, SO_PEERCRED, &uc, &l) == 0) {
			c->peer.is_unix = 1;
			c->peer.uid = uc.uid;
			c->peer.gid = uc.gid;
			c->peer.pid = uc.pid;
			snprintf(c->peer.text, sizeof c->peer.text, "uid:%u", (unsigned)uc.uid);
		}
	}
}

static const struct route *find_route(const struct api *a, const char *method, const char *url, int *path_hit)
{
	size_t i;

	*path_hit = 0;
	for (i = 0; i < a->nroutes; i++) {
		const struct route *r = &a->routes[i];
		int hit = r->match == API_EXACT ? strcmp(url, r->path) == 0
		                                : strncmp(url, r->path, strlen(r->path)) == 0;
		if (!hit)
			continue;
		*path_hit = 1;
		if (r->method == NULL || strcmp(r->method, method) == 0)
			return r;
	}
	return NULL;
}

static void ctx_free(struct api_ctx *c)
{
	if (c == NULL)
		return;
	up_job_free(c->job);
	loop_timer_free(c->deadline);
	if (c->data_free != NULL)
		c->data_free(c->data);
	ops_req_free(&c->req);
	buf_free(&c->body);
	reply_clear(c);
	free(c);
}

/* What the framing checks of ctx_new need from the header block: one pass over it. */
struct head_scan {
	size_t bytes;   /* name and value bytes of every header */
	unsigned n_cl;  /* Content-Length headers */
	unsigned n_te;  /* Transfer-Encoding headers */
	const char *te; /* the last Transfer-Encoding value */
};

static enum MHD_Result scan_head(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct head_scan *s = cls;

	(void)kind;
	s->bytes += strlen(key) + (value != NULL ? strlen(value) : 0);
	if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
		s->n_cl++;
	else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
		s->n_te++;
		s->te = value;
	}
	return MHD_YES;
}

/* 1 when v is "chunked" (case-insensitive) after leading blanks. Trailing blanks are refused:
 * libmicrohttpd 0.9.75 keeps them in the value and then does not decode "chunked  " as chunked
 * (it would read the body up to EOF). */
static int te_is_chunked(const char *v)
{
	if (v == NULL)
		return 0;
	while (*v == ' ' || *v == '\t')
		v++;
	return strcasecmp(v, "chunked") == 0;
}

/* RFC 9112 section 6: a request whose framing is ambiguous or unknown is refused before anything
 * else, and its connection closed (what follows on it cannot be trusted to be a request). The
 * header block is bounded by limits.max_header_bytes (libmicrohttpd's pool only bounds it loosely).
 * 0: fine; -1: c holds the reply. */
static int check_head(struct api_ctx *c)
{
	struct head_scan s;
	long max = c->api->cfg->max_header_bytes;

	memset(&s, 0, sizeof s);
	MHD_get_connection_values(c->conn, MHD_HEADER_KIND, scan_head, &s);
	if ((s.n_te > 0 && s.n_cl > 0) || s.n_cl > 1) {
		api_reply_error(c, 400, "InvalidFraming",
		                s.n_cl > 1 ? "more than one Content-Length header"
		                           : "Transfer-Encoding together with Content-Length");
		api_reply_header(c, "Connection", "close");
		return -1;
	}
	if (s.n_te > 1 || (s.n_te == 1 && !te_is_chunked(s.te))) {
		api_reply_error(c, 501, "NotImplemented", "the only Transfer-Encoding supported is chunked");
		api_reply_header(c, "Connection", "close");
		return -1;
	}
	if (max > 0 && s.bytes > (size_t)max) {
		api_reply_error(c, 431, "RequestHeaderFieldsTooLarge",
		                "the header fields are larger than %ld bytes (limits.max_header_bytes)", max);
		return -1;
	}
	return 0;
}

/* The markers api_uri_check leaves in *req_cls (their addresses only). */
static char uri_too_long, too_many_params;

void *api_uri_check(void *cls, const char *uri, struct MHD_Connection *conn)
{
	const char *q, *p;
	unsigned n = 1;
	void *mark = NULL;

	(void)cls;
	(void)conn;
	if (uri == NULL || (q = strchr(uri, '?')) == NULL)
		return NULL; /* without a query libmicrohttpd adds nothing to its pool for the target */
	for (p = q + 1; *p != '\0' && n <= WPS_QUERY_PARAMS_MAX; p++)
		n += *p == '&';
	if (n > WPS_QUERY_PARAMS_MAX)
		mark = &too_many_params;
	else if (strlen(uri) > WPS_URL_MAX)
		mark = &uri_too_long;
	if (mark != NULL && q[1] != '\0')
		*(char *)(uintptr_t)(q + 1) = '\0'; /* libmicrohttpd's buffer: nothing left to split */
	return mark;
}

static int is_uri_mark(const void *p)
{
	return p == &uri_too_long || p == &too_many_params;
}

/* The first call: a new request with its headers. Returns the ctx, which may already hold a reply.
 * mark: what api_uri_check found (NULL: nothing). */
/* Finds the request's route or, for /api/, its operation; -1 when refused, the reply written. */
static int ctx_route(struct api_ctx *c, const char *url, const char *method)
{
	struct api *a = c->api;
	struct ops_err e;
	int path_hit;

	c->route = find_route(a, method, url, &path_hit);
	if (c->route != NULL && c->route->body_max > 0) {
		c->body_max = c->route->body_max;
		buf_init(&c->body, c->body_max);
	}
	if (c->route == NULL) {
		if (path_hit) {
			api_reply_error(c, 405, "MethodNotAllowed", "%s is not allowed here", method);
			return -1;
		}
		if (a->local_only || (strncmp(url, "/api/", 5) != 0 && strcmp(url, "/api") != 0)) {
			api_reply_error(c, 404, "NotFound", "no such endpoint");
			return -1;
		}
		if (strlen(url) > WPS_URL_MAX) {
			api_reply_error(c, 414, "UriTooLong", "the path is longer than %d bytes",
			                WPS_URL_MAX);
			return -1;
		}
		if (ops_route(method, url, &c->req, &e) < 0) {
			reply_ops_error(c, &e);
			return -1;
		}
		c->is_op = 1;
	}
	return 0;
}

/* The admission checks (access list, ...); -1 when refused, the reply written. */
static int ctx_admit(struct api_ctx *c)
{
	struct api *a = c->api;
	size_t i;

	for (i = 0; i < a->nadmit; i++)
		if (a->admit[i].fn(c, a->admit[i].arg) < 0) {
			if (c->phase != PH_REPLIED)
				api_reply_error(c, 403, "Forbidden", "refused");
			return -1;
		}
	return 0;
}

/* A declared Content-Length over the body limit is refused before the body is read. */
static void ctx_check_length(struct api_ctx *c)
{
	const char *cl =
	        MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);

	if (cl != NULL) {
		char *end;
		unsigned long long n;
		errno = 0;
		n = strtoull(cl, &end, 10);
		if (errno == 0 && *end == '\0' && n > (unsigned long long)c->body_max)
			api_reply_error(c, 413, "PayloadTooLarge",
			                "the request body is larger than %zu bytes", c->body_max);
	}
}

static struct api_ctx *ctx_new(struct api *a, struct MHD_Connection *conn, const char *url,
                               const char *method, const void *mark)
{
	struct api_ctx *c = calloc(1, sizeof *c);

	if (c == NULL)
		return NULL;
	c->api = a;
	c->conn = conn;
	c->url = url;
	c->method = method;
	c->t0 = loop_now_ms();
	c->phase = PH_BODY;
	c->upi = CFG_NO_UPSTREAM;
	ops_req_init(&c->req);
	c->body_max = (size_t)a->cfg->max_body_bytes;
	buf_init(&c->body, c->body_max);
	make_request_id(a, c);
	get_peer(c);
	metrics_inflight_add(1);

	if (a->draining) {
		api_reply_error(c, 503, "ShuttingDown", "the gateway is shutting down");
		api_reply_header(c, "Connection", "close");
		return c;
	}
	if (check_head(c) < 0)
		return c;
	if (mark == &uri_too_long) {
		api_reply_error(c, 414, "UriTooLong", "the request target is longer than %d bytes",
		                WPS_URL_MAX);
		return c;
	}
	if (mark == &too_many_params) {
		api_reply_error(c, 400, "InvalidParameter", "more than %d query parameters",
		                WPS_QUERY_PARAMS_MAX);
		return c;
	}
	if (ctx_route(c, url, method) < 0 || ctx_admit(c) < 0)
		return c;
	ctx_check_length(c);
	return c;
}

static enum MHD_Result add_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct api_ctx *c = cls;
	struct ops_err e;

	(void)kind;
	if (c->phase == PH_REPLIED)
		return MHD_NO;
	if (ops_add_query(&c->req, key, value, &e) < 0) {
		reply_ops_error(c, &e);
		return MHD_NO;
	}
	return MHD_YES;
}

static void on_upstream_done(struct up_job *job, void *arg);

static void on_deadline(void *arg)
{
	struct api_ctx *c = arg;

	dispatch_cancel(c->job);
	api_reply_error(c, 504, "GatewayTimeout", "the upstream did not answer within %ld ms",
	                up_cfg(c->api, c->upi)->timeout_ms);
	api_resume(c);
}

/* ListConnectionsInGroup: the service writes nextLink as an absolute URL on its own host (a reverse
 * proxy may rewrite it to its own); one that starts with the endpoint or the proxy is cut to its path and query, so that the caller's next page
 * comes through the gateway as well (and is signed by it). Edits body[0..*len) in place. */
static void next_link_local(const char *endpoint, char *body, size_t *len)
{
	static const char key[] = "\"nextLink\":\"";
	size_t kl = sizeof(key) - 1, el = endpoint != NULL ? strlen(endpoint) : 0;
	char *p, *end = body + *len;

	while (el > 0 && endpoint[el - 1] == '/')
		el--;
	if (el == 0)
		return;
	for (p = body; (size_t)(end - p) > kl + el; p++) {
		if (memcmp(p, key, kl) != 0)
			continue;
		p += kl;
		if (strncasecmp(p, endpoint, el) == 0 && p[el] == '/') {
			memmove(p, p + el, (size_t)(end - p) - el);
			*len -= el;
		}
		return;
	}
}

static void reply_from_job(struct api_ctx *c, struct up_job *job)
{
	struct api *a = c->api;

	switch (job->result) {
	case UP_OK: {
		size_t len = job->resp.len;
		char *body;
		c->upstream_status = (int)job->status;
		if (job->status < 100 || job->status > 599) { /* not a status an application can act on */
			api_reply_error(c, 502, "BadGateway", "upstream: the status %ld is out of range",
			                job->status);
			break;
		}
		body = len > 0 ? buf_steal(&job->resp) : NULL;
		if (body != NULL && job->status == 200 && c->req.op != NULL &&
		    c->req.op->id == OP_LIST_CONNECTIONS_IN_GROUP) {
			next_link_local(a->creds[c->upi]->endpoint, body, &len);
			next_link_local(up_cfg(a, c->upi)->reverse_proxy, body, &len);
		}
		reply_take(c, (int)job->status, job->resp_content_type, body, len);
		if (job->resp_error_code != NULL)
			api_reply_header(c, "x-ms-error-code", job->resp_error_code);
		if (job->resp_retry_after != NULL)
			api_reply_header(c, "Retry-After", job->resp_retry_after);
		if (job->resp_retry_after_ms != NULL)
			api_reply_header(c, "retry-after-ms", job->resp_retry_after_ms);
		if (job->resp_x_ms_retry_after_ms != NULL)
			api_reply_header(c, "x-ms-retry-after-ms", job->resp_x_ms_retry_after_ms);
		if (job->resp_api_versions != NULL)
			api_reply_header(c, "api-supported-versions", job->resp_api_versions);
		break;
	}
	case UP_TIMEOUT:
		if (job->attempt_timed_out)
			api_reply_error(c, 504, "GatewayTimeout",
			                "the upstream did not answer within %ld ms "
			                "(upstream.attempt_timeout_ms)",
			                up_cfg(a, c->upi)->attempt_timeout_ms);
		else
			api_reply_error(c, 504, "GatewayTimeout", "the upstream did not answer within %ld ms",
			                up_cfg(a, c->upi)->timeout_ms);
		break;
	case UP_TOO_LARGE:
		c->upstream_status = (int)job->status;
		api_reply_error(c, 502, "BadGateway", "upstream: %s", job->errmsg);
		break;
	case UP_NO_CREDENTIAL: api_reply_error(c, 503, "CredentialUnavailable", "%s", job->errmsg); break;
	case UP_NO_ANSWER:
	case UP_FAILED:
	default:
		api_reply_error(c, 502, "BadGateway", "upstream: %s",
		                job->errmsg[0] ? job->errmsg : "request failed");
		break;
	}
}

static void on_upstream_done(struct up_job *job, void *arg)
{
	struct api_ctx *c = arg;

	loop_timer_stop(c->deadline);
	reply_from_job(c, job);
	api_resume(c);
}

static void on_dispatch_done(struct up_job *job, const struct dispatch_result *r, void *arg)
{
	(void)r;
	on_upstream_done(job, arg);
}

/* 503 CircuitOpen with Retry-After in whole seconds (rounded up). */
static void reply_circuit_open(struct api_ctx *c, long wait_ms)
{
	char ra[24];

	api_reply_error(c, 503, DISPATCH_OPEN_CODE, DISPATCH_OPEN_MESSAGE);
	dispatch_retry_after(wait_ms, ra, sizeof ra);
	api_reply_header(c, "Retry-After", ra);
}

int api_traceparent_valid(const char *v)
{
	static const int len[4] = { 2, 32, 16, 2 };
	const char *p = v;
	int i, j, nonzero;

	if (v == NULL || strlen(v) != 55)
		return 0;
	for (i = 0; i < 4; i++) {
		nonzero = 0;
		for (j = 0; j < len[i]; j++, p++) {
			if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
				return 0;
			nonzero |= *p != '0';
		}
		if ((i == 1 || i == 2) && !nonzero)
			return 0; /* an all-zero trace id or parent id is invalid */
		if (i < 3 && *p++ != '-')
			return 0;
	}
	return strncmp(v, "00-", 3) == 0;
}

static int tracestate_ok(const char *v)
{
	size_t n = strlen(v), i;

	if (n == 0 || n > UP_TRACESTATE_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] > 0x7e)
			return 0;
	return 1;
}

void api_ctx_trace(const struct api_ctx *c, const char **traceparent, const char **tracestate)
{
	const char *tp = api_ctx_header(c, "traceparent"), *ts = api_ctx_header(c, "tracestate");

	*traceparent = api_traceparent_valid(tp) ? tp : NULL;
	*tracestate = *traceparent != NULL && ts != NULL && tracestate_ok(ts) ? ts : NULL;
}

int api_upstream_target(const struct api *a, const struct ops_req *r, char **path, char **query)
{
	const char *v = ops_query_get(r, "api-version");
	const struct cfg_upstream *u = up_cfg(a, route_index(a, r->hub));
	struct buf p, q;

	buf_init(&p, 0);
	buf_init(&q, 0);
	/* the caller's version is the service's business: forwarded as given, the default only when
	 * there is none (apiver_validate has checked it by that version's rules) */
	if (ops_build_path(r, &p) < 0 || ops_build_query(r, v != NULL ? v : u->api_version, &q) < 0) {
		buf_free(&p);
		buf_free(&q);
		return -1;
	}
	*path = buf_steal(&p);
	*query = buf_steal(&q);
	return 0;
}

int api_client_token(const struct api *a, const struct ops_req *r, char **json, struct ops_err *e)
{
	struct client_token_req tr;
	size_t i = route_index(a, r->hub);
	const struct cred *cred;
	json_t *j;

	*json = NULL;
	if (i == CFG_NO_UPSTREAM)
		return ops_fail(e, 404, "UpstreamNotFound",
		                "no upstream serves this hub (upstreams: no hubs entry matches it and none "
		                "is the default)");
	if ((cred = a->creds[i]) == NULL || cred->key == NULL)
		return 1;
	memset(&tr, 0, sizeof tr);
	if (token_req_from_ops(r, &tr, e) < 0)
		return -1;
	j = token_client_response(cred->endpoint, r->hub, &tr, time(NULL), cred->key, cred->keylen);
	token_req_release(&tr);
	*json = j ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (*json == NULL)
		return ops_fail(e, 500, "InternalError", "cannot sign the client token");
	return 0;
}

static void generate_token(struct api_ctx *c)
{
	struct ops_err e;
	char *s;

	if (api_client_token(c->api, &c->req, &s, &e) != 0) {
		reply_ops_error(c, &e);
		return;
	}
	reply_take(c, 200, "application/json", s, strlen(s));
}

static void forward(struct api_ctx *c)
{
	struct api *a = c->api;
	const struct ops_def *op = c->req.op;
	struct up_job_spec sp;
	struct up_job *job;
	long wait_ms = 0;
	int rc;

	if (a->nsuspended >= (unsigned long)a->cfg->max_inflight) {
		api_reply_error(c, 503, "ServerBusy", "too many requests in flight (limits.max_inflight)");
		api_reply_header(c, "Retry-After", "1");
		return;
	}
	memset(&sp, 0, sizeof sp);
	if (api_upstream_target(a, &c->req, &sp.path, &sp.query) < 0)
		goto oom;
	sp.method = op->method;
	sp.metrics_op = (int)op->id;
	api_ctx_trace(c, &sp.traceparent, &sp.tracestate);
	if (op->body != OPB_NONE) {
		sp.body_len = c->body.len;
		sp.body = buf_steal(&c->body);
		sp.content_type = api_ctx_header(c, MHD_HTTP_HEADER_CONTENT_TYPE);
	}
	sp.request_id = c->request_id;
	sp.deadline_ms = c->t0 + (uint64_t)up_cfg(a, c->upi)->timeout_ms;
	sp.done = on_upstream_done;
	sp.arg = c;
	if ((c->job = job = up_job_make(&sp)) == NULL)
		goto oom;
	if (c->deadline == NULL && (c->deadline = loop_timer_new(a->loop, on_deadline, c)) == NULL)
		goto oom;
	rc = a->dispatches[c->upi] != NULL
	             ? dispatch_start(a->dispatches[c->upi], job, on_dispatch_done, c, &wait_ms)
	             : up_submit(a->ups[c->upi], job);
	if (rc == DISPATCH_OPEN) {
		reply_circuit_open(c, wait_ms);
		return;
	}
	if (rc < 0) {
		reply_from_job(c, job);
		return;
	}
	loop_timer_start(c->deadline,
	                 job->deadline_ms > loop_now_ms() ? job->deadline_ms - loop_now_ms() : 0);
	api_suspend(c, NULL, NULL);
	return;
oom:
	api_reply_error(c, 500, "InternalError", "out of memory");
}

/* The last call: the whole body is in. */
static void dispatch(struct api_ctx *c)
{
	struct api *a = c->api;
	struct ops_err e;

	if (c->body_over) {
		api_reply_error(c, 413, "PayloadTooLarge", "the request body is larger than %zu bytes",
		                c->body_max);
		return;
	}
	if (c->route != NULL) {
		c->route->fn(c, c->route->arg);
		if (c->phase == PH_BODY)
			api_reply_error(c, 500, "InternalError", "the endpoint gave no reply");
		return;
	}
	MHD_get_connection_values(c->conn, MHD_GET_ARGUMENT_KIND, add_arg, c);
	if (c->phase == PH_REPLIED)
		return;
	if ((c->upi = route_index(a, c->req.hub)) == CFG_NO_UPSTREAM) {
		api_reply_error(c, 404, "UpstreamNotFound",
		                "no upstream serves the hub %s (upstreams: no hubs entry matches it and none "
		                "is the default)",
		                c->req.hub != NULL ? c->req.hub : "-");
		return;
	}
	if (ops_validate_query(&c->req, &e) < 0 ||
	    apiver_validate(&c->req, up_cfg(a, c->upi)->api_version, &e) < 0 ||
	    ops_validate_body(&c->req, api_ctx_header(c, MHD_HTTP_HEADER_CONTENT_TYPE),
	                      c->body.data ? c->body.data : "", c->body.len, (size_t)a->cfg->max_body_bytes,
	                      &e) < 0) {
		reply_ops_error(c, &e);
		return;
	}
	if (c->req.op->id == OP_GENERATE_CLIENT_TOKEN && a->creds[c->upi] != NULL &&
	    a->creds[c->upi]->key != NULL) {
		generate_token(c);
		return;
	}
	if (a->async_fn != NULL && a->async_fn(c, a->async_arg))
		return;
	forward(c);
}

enum MHD_Result api_handler(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                            const char *version, const char *upload_data, size_t *upload_data_size,
                            void **req_cls)
{
	struct api *a = cls;
	struct api_ctx *c = *req_cls;

	(void)version;
	if (c == NULL || is_uri_mark(c)) {
		if ((c = ctx_new(a, conn, url, method, c)) == NULL)
			return MHD_NO;
		*req_cls = c;
		if (c->phase == PH_REPLIED)
			return queue_reply(c); /* at once: the body is not read */
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		size_t n = *upload_data_size;
		*upload_data_size = 0;
		if (c->phase == PH_REPLIED || c->body_over) {
			c->discarded += n;
			/* a sender that goes on and on after the limit is cut off */
			if (c->discarded > 4 * c->body_max + 65536)
				return MHD_NO;
			return MHD_YES;
		}
		if (buf_append(&c->body, upload_data, n) < 0) {
			c->body_over = 1;
			buf_free(&c->body);
			c->discarded = n;
			/* The 413 waits for the end of the body: libmicrohttpd 0.9.75 refuses MHD_queue_response
			 * while it reads one (only right after the headers or after the whole request). */
		}
		return MHD_YES;
	}
	if (c->phase == PH_BODY) {
		arrival_request_received(conn); /* whole: no arrival deadline while it is handled */
		dispatch(c);
	}
	if (c->phase == PH_REPLIED && !c->queued)
		return queue_reply(c);
	return MHD_YES; /* suspended: called again after api_resume */
}

static void log_request(const struct api_ctx *c)
{
	char status[16], ustatus[16], attempts[16], dur[24];
	const struct ops_req *r = c->is_op ? &c->req : NULL;

	if (!log_enabled(WLOG_INFO))
		return; /* the four snprintf below cost ~2,000 instructions per request */
	snprintf(status, sizeof status, "%d", c->status);
	if (c->upstream_status > 0)
		snprintf(ustatus, sizeof ustatus, "%d", c->upstream_status);
	else
		snprintf(ustatus, sizeof ustatus, "-");
	snprintf(attempts, sizeof attempts, "%u", api_ctx_attempts(c));
	snprintf(dur, sizeof dur, "%llu", (unsigned long long)api_ctx_duration_ms(c));
	log_kv(WLOG_INFO, "request", "method", c->method, "op",
	       r != NULL && r->op != NULL ? r->op->name
	       : c->route != NULL         ? c->route->path
	                                  : "-",
	       "hub", r != NULL && r->hub != NULL ? r->hub : "-", "status", c->queued ? status : "-",
	       "upstream_status", ustatus, "attempts", attempts, "duration_ms", dur, "request_id",
	       c->request_id, "peer", c->peer.text, "upstream", api_ctx_upstream(c), NULL);
}

void api_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                   enum MHD_RequestTerminationCode toe)
{
	struct api *a = cls;
	struct api_ctx *c = *req_cls;
	size_t i;

	(void)toe;
	arrival_request_done(conn); /* the next request on this connection must arrive in time */
	if (c == NULL || is_uri_mark(c))
		return;
	*req_cls = NULL;
	if (c->suspended) { /* only when libmicrohttpd stops with the connection still suspended */
		if (c->on_abort != NULL)
			c->on_abort(c, c->abort_arg);
		c->on_abort = NULL;
		unlink_suspended(c);
	}
	c->t_end = loop_now_ms();
	if (!c->queued)
		c->status = 0;
	metrics_inflight_add(-1);
	log_request(c);
	for (i = 0; i < a->ndone; i++)
		a->done[i].fn(c, a->done[i].arg);
	ctx_free(c);
}
