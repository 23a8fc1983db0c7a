/* batch.h: POST /$batch in the shape of Microsoft Graph JSON batching: parse and validate the request,
 * schedule sub-requests by dependsOn (424 Failed Dependency), build the response.
 *
 * Request:  {"requests":[{"id":"1","method":"POST","url":"/api/hubs/h/:send?api-version=2024-12-01",
 *                          "headers":{"Content-Type":"application/json"},"body":{...},"dependsOn":["0"]}]}
 * Response: {"responses":[{"id":"1","status":202,"headers":{...},"body":...}]} in request order.
 *
 * Body encoding, the same both ways, chosen by the Content-Type header of that request or response
 * (the marker is the Content-Type, as in Graph):
 *   application/json or any +json type   the body is the JSON value itself, sent upstream compactly
 *                                        serialized (a JSON string value is sent as a JSON string);
 *   text/...                             the body is a JSON string: its UTF-8 bytes;
 *   anything else (application/octet-stream)  the body is a JSON string in standard base64 (RFC 4648,
 *                                        padded), the bytes are its decoding.
 * A request body needs a Content-Type header. A response body that claims JSON but does not parse, or
 * text that is not UTF-8, is returned as base64 with Content-Type application/octet-stream.
 *
 * Structural problems (not JSON, no "requests", too many, a duplicate or empty id, a bad method, url,
 * header or body encoding, dependsOn naming an unknown, later or its own id, unknown members) reject the
 * whole batch: 400 {"code":"InvalidBatch","message":"...","requestId":"<id, when known>"}. Problems of one
 * sub-request that the operation table finds (404, 405, 400, 413, 415) are that sub-request's response.
 * dependsOn may only name earlier requests, so there are no cycles.
 *
 * Config section `batch = { max_requests = 100; max_bytes = 4194304; };` (max_requests 1..1000).
 */
#ifndef WPS_GW_BATCH_H
#define WPS_GW_BATCH_H

#include <stddef.h>
#include "cfgtab.h"

#include "buf.h"
#include "ops.h"

#define BATCH_DEFAULT_MAX_REQUESTS 100
#define BATCH_MAX_REQUESTS_LIMIT   1000
#define BATCH_DEFAULT_MAX_BYTES    (4L * 1024 * 1024)
#define BATCH_ID_MAX               128 /* bytes of a request id */
#define BATCH_HEADERS_MAX          32  /* headers of one sub-request */
#define BATCH_HEADER_VALUE_MAX     8192

struct batch_cfg {
	long max_requests;
	long max_bytes; /* of the whole $batch body */
};
/* The `batch` section (cfgtab.h). */
extern const struct cfgtab_section batch_cfg_section;

enum batch_body_enc { BATCH_BODY_NONE, BATCH_BODY_JSON, BATCH_BODY_TEXT, BATCH_BODY_BASE64 };
enum batch_state { BATCH_PENDING, BATCH_RUNNING, BATCH_DONE };

struct batch_hdr { /* owned by the batch */
	char *name;
	char *value;
};

struct batch_kv { /* borrowed, for batch_set_result */
	const char *name;
	const char *value;
};

/* One sub-request. Every string is owned by the batch. */
struct batch_req {
	char *id;
	char *method;              /* upper case */
	char *url;                 /* as given */
	char *raw_path;            /* before '?', still percent-encoded */
	char *raw_query;           /* after '?', NULL when there is none */
	char *content_type;        /* the Content-Type header's value, NULL when none */
	struct batch_hdr *headers; /* all headers as given, Content-Type included */
	size_t nheaders;
	char *body; /* decoded bytes, NUL-terminated; NULL when no body */
	size_t body_len;
	enum batch_body_enc enc;
	size_t *deps; /* indexes of the requests it depends on (all smaller) */
	size_t ndeps;

	/* the result */
	enum batch_state state;
	int status;
	char *resp_content_type;
	struct batch_hdr *resp_headers;
	size_t nresp_headers;
	char *resp_body;
	size_t resp_len;
};

struct batch {
	struct batch_req *req;
	size_t n;
	size_t ndone;
};

struct batch_err {
	int status;                        /* 400 or 413 */
	char code[32];                     /* "InvalidBatch", "PayloadTooLarge" */
	char message[256];                 /* at most 64 bytes of input in it */
	char request_id[BATCH_ID_MAX + 1]; /* "" when the problem is not in one request */
};

/* Parse body[0..len). Returns 0 and a new batch in *out (batch_free), or -1 with e filled. */
int batch_parse(const char *body, size_t len, const struct batch_cfg *cfg, struct batch **out,
                struct batch_err *e);
void batch_free(struct batch *b); /* accepts NULL */
/* {"code","message","requestId"?} for e. */
int batch_err_json(const struct batch_err *e, struct buf *out);

/* Route and validate sub-request r against the operation table: ops_route, ops_parse_query,
 * ops_validate_query and ops_validate_body(body_max). Returns 0 with *o filled (ops_req_free it), or -1
 * with e filled (its status is the sub-request's response; ops_req_free *o anyway). */
int batch_req_route(const struct batch_req *r, size_t body_max, struct ops_req *o, struct ops_err *e);

/* The scheduler. Fills idx with up to max indexes of requests that may start now (every dependency
 * succeeded, i.e. answered 2xx) and marks them RUNNING; requests with a dependency that did not succeed
 * get their result, 424 FailedDependency, on the way (transitively). Returns how many it filled. */
size_t batch_next_ready(struct batch *b, size_t *idx, size_t max);
/* Record request i's result (it is PENDING or RUNNING). content_type may be NULL; headers (n pairs) are
 * extra response headers (x-ms-error-code, Retry-After, ...); body may be NULL with len 0. Copies
 * everything. Returns 0, or -1 (already done, bad index, no memory). */
int batch_set_result(struct batch *b, size_t i, int status, const char *content_type,
                     const struct batch_kv *headers, size_t nheaders, const void *body, size_t len);
/* The result of a failed check, as {"code","message"} JSON. */
int batch_set_error(struct batch *b, size_t i, const struct ops_err *e);
int batch_done(const struct batch *b); /* 1 when every request has its result */

/* Append {"responses":[...]} (requests without a result are left out). Returns 0 or -1. */
int batch_response_json(const struct batch *b, struct buf *out);

/* The body encoding a Content-Type selects (NULL: BATCH_BODY_NONE). */
enum batch_body_enc batch_enc_for(const char *content_type);

#endif
