/* api.h: the local HTTP API: the libmicrohttpd access handler, routing to the operation table or to
 * local endpoints that modules register, validation, and the hand-off to the upstream. */
#ifndef WPS_GW_API_H
#define WPS_GW_API_H

#include <microhttpd.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct loop;
struct up;
struct cfg;
struct cred;
struct ops_req;
struct api;
struct api_ctx; /* one request; valid from the first handler call until the request completes */
struct dispatch;
struct ops_err;

#define API_ROUTES_MAX        32
#define API_HOOKS_MAX         8
#define API_REQUEST_ID_MAX    64 /* bytes of an x-ms-client-request-id we accept from the application */
#define API_REPLY_HEADERS_MAX 12

struct api_peer {
	int is_unix; /* 1: uid/gid/pid are valid (SO_PEERCRED) */
	uid_t uid;
	gid_t gid;
	pid_t pid;
	char text[32]; /* "uid:1000" or "tcp" */
};

/* The lifetime of the objects passed: cfg, cred and up are borrowed until api_configure/api_free. */
struct api *api_new(struct loop *l, struct up *up, const struct cfg *cfg, const struct cred *cred);
void api_configure(struct api *a, const struct cfg *cfg, const struct cred *cred);
/* Send operations through the retry driver (borrowed) instead of one up_submit. */
void api_set_dispatch(struct api *a, struct dispatch *r);
/* The engine of cfg->upstreams[i] (api_new's up and cred, api_set_dispatch's r are upstream 0's).
 * Borrowed until the next call for i or api_free. Requests are routed by hub with cfg_route. */
void api_set_upstream(struct api *a, size_t i, struct up *up, const struct cred *cred, struct dispatch *r);
/* The index of the upstream a request for hub goes to (cfg_route), or CFG_NO_UPSTREAM. */
size_t api_route(const struct api *a, const char *hub);
/* The retry driver of upstream i (borrowed), NULL when there is none. */
struct dispatch *api_route_dispatch(const struct api *a, size_t i);
/* The index of the upstream the request goes to, CFG_NO_UPSTREAM before routing or for none. */
size_t api_ctx_upstream_index(const struct api_ctx *c);
/* The name of the upstream the request went to ("-": none, or not an operation). Borrowed. */
const char *api_ctx_upstream(const struct api_ctx *c);
/* Serve only the registered local endpoints (a metrics-only listener): /api/... is 404 there. */
void api_set_local_only(struct api *a, int on);
void api_free(struct api *a); /* accepts NULL */

/* libmicrohttpd callbacks; cls is the struct api. */
enum MHD_Result api_handler(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                            const char *version, const char *upload_data, size_t *upload_data_size,
                            void **req_cls);
void api_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                   enum MHD_RequestTerminationCode toe);
/* MHD_OPTION_URI_LOG_CALLBACK (cls: the api), called with the request target before libmicrohttpd
 * parses its query: 0.9.75 runs out of its per-connection pool on a few hundred query parameters and
 * then never answers. A target of more than WPS_URL_MAX bytes or a query of more than
 * WPS_QUERY_PARAMS_MAX parameters has its query cut off in place (it relies on 0.9.75 handing over
 * its own line buffer and splitting the arguments after this call) and is answered 414 UriTooLong /
 * 400 InvalidParameter by api_handler. Returns the first *req_cls: NULL, or a marker for api_handler. */
void *api_uri_check(void *cls, const char *uri, struct MHD_Connection *conn);

/* ---- extension points ---- */

enum api_match { API_EXACT, API_PREFIX };
/* A local endpoint. Called once the whole body is in (api_ctx_body). It must either reply
 * (api_reply / api_reply_error) before returning, or api_suspend and reply + api_resume later. */
typedef void (*api_handler_fn)(struct api_ctx *ctx, void *arg);
/* method NULL matches any method; path is borrowed (a string literal). Checked in registration
 * order before /api/... Returns 0, or -1 when the table is full. */
int api_register(struct api *a, const char *method, const char *path, enum api_match match, api_handler_fn fn,
                 void *arg);
/* The same with its own body limit (0: limits.max_body_bytes), e.g. POST /$batch. */
int api_register_limit(struct api *a, const char *method, const char *path, enum api_match match,
                       api_handler_fn fn, void *arg, size_t body_max);

/* Admission (access rules, rate limits): called after routing, before the body is read. Return 0 to
 * go on, or reply with api_reply_error and return -1. */
typedef int (*api_admit_fn)(struct api_ctx *ctx, void *arg);
int api_on_admit(struct api *a, api_admit_fn fn, void *arg);
/* Completion (metrics, audit): called once per request when libmicrohttpd is done with it. */
typedef void (*api_done_fn)(const struct api_ctx *ctx, void *arg);
int api_on_done(struct api *a, api_done_fn fn, void *arg);
/* Asynchronous acceptance (the outbox): called for every routed, validated operation before it is
 * forwarded. Return 1 when it took the request (replied, or suspended), 0 to forward it now. */
typedef int (*api_async_fn)(struct api_ctx *ctx, void *arg);
void api_on_async(struct api *a, api_async_fn fn, void *arg);
/* Access checks and audit lines for what a local endpoint does on behalf of the request ($batch
 * sub-requests, outbox rows). The admission module installs them. access returns 1 (allowed) or 0
 * (refused: it has logged the peer); audit writes the audit line of one mutating operation. */
typedef int (*api_access_fn)(const struct api_ctx *ctx, int ops_class, const char *hub, void *arg);
typedef void (*api_audit_fn)(const struct api_ctx *ctx, const struct ops_req *r, int status, const void *body,
                             size_t len, void *arg);
void api_set_access(struct api *a, api_access_fn access, api_audit_fn audit, void *arg);
int api_access(const struct api_ctx *c, int ops_class, const char *hub); /* 1 when no checker */
void api_audit(const struct api_ctx *c, const struct ops_req *r, int status, const void *body, size_t len);

/* ---- the request, for handlers and hooks (strings borrowed from the request) ---- */
const char *api_ctx_method(const struct api_ctx *c);
const char *api_ctx_path(const struct api_ctx *c); /* still percent-encoded */
const char *api_ctx_header(const struct api_ctx *c, const char *name);
const char *api_ctx_body(const struct api_ctx *c, size_t *len); /* NUL-terminated */
const struct ops_req *api_ctx_op(const struct api_ctx *c);      /* NULL for a local endpoint */
const char *api_ctx_request_id(const struct api_ctx *c);
const struct api_peer *api_ctx_peer(const struct api_ctx *c);
struct MHD_Connection *api_ctx_connection(const struct api_ctx *c);
int api_ctx_status(const struct api_ctx *c);          /* the reply's status, 0 before one */
int api_ctx_upstream_status(const struct api_ctx *c); /* 0 when nothing came back */
unsigned api_ctx_attempts(const struct api_ctx *c);
uint64_t api_ctx_duration_ms(const struct api_ctx *c);
size_t api_ctx_reply_len(const struct api_ctx *c);  /* bytes of the reply body */
const char *api_ctx_route(const struct api_ctx *c); /* the local endpoint's path, NULL for others */
struct api *api_ctx_api(const struct api_ctx *c);
const struct cfg *api_cfg(const struct api *a); /* borrowed: the running configuration */
/* One pointer for the admission module (its view of the peer, ...); free_fn(p) runs when the request
 * is completed, after the done hooks. */
void api_ctx_set_data(struct api_ctx *c, void *p, void (*free_fn)(void *));
void *api_ctx_data(const struct api_ctx *c);

/* Canonical upstream path and query ("api-version" first: the request's as given, else the
 * configured one) of a routed operation r. New strings in *path, *query. 0 or -1 (no memory). */
int api_upstream_target(const struct api *a, const struct ops_req *r, char **path, char **query);
/* A client token signed locally for GenerateClientToken r: 0 and the JSON body (a new string) in
 * *json; 1 when the gateway holds no key (forward the request); -1 with e filled. */
int api_client_token(const struct api *a, const struct ops_req *r, char **json, struct ops_err *e);
/* 1 when v is a W3C traceparent of version 00 (lower-case hex, ids not all zero). */
int api_traceparent_valid(const char *v);
/* The request's W3C trace context to pass on: its traceparent when valid (else NULL), and its
 * tracestate when that is there too and printable within UP_TRACESTATE_MAX (else NULL). Borrowed. */
void api_ctx_trace(const struct api_ctx *c, const char **traceparent, const char **tracestate);

/* ---- replying (once per request) ---- */
/* Copy body[0..len) as the reply. content_type may be NULL. Returns 0 or -1. */
int api_reply(struct api_ctx *c, int status, const char *content_type, const void *body, size_t len);
/* A JSON {"code","message"} reply with Content-Type application/json. */
int api_reply_error(struct api_ctx *c, int status, const char *code, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
/* Add a header to the reply (after api_reply). Returns 0 or -1 (too many, no memory). */
int api_reply_header(struct api_ctx *c, const char *name, const char *value);

/* Asynchronous local handlers: suspend the connection; later reply and api_resume. on_abort (may
 * be NULL) is called when the gateway shuts down before that: the ctx is then replied 503 and
 * resumed by the caller of api_abort_all; the handler must forget it. */
typedef void (*api_abort_fn)(struct api_ctx *c, void *arg);
void api_suspend(struct api_ctx *c, api_abort_fn on_abort, void *arg);
void api_resume(struct api_ctx *c);

/* ---- shutdown ---- */
unsigned api_inflight(const struct api *a); /* suspended requests (upstream or local) */
/* While draining, new requests are answered 503 ShuttingDown (with Connection: close). */
void api_set_draining(struct api *a, int on);
/* Answer every suspended request with status (503) and a JSON error, and resume it. */
void api_abort_all(struct api *a, int status, const char *code, const char *message);

#endif
