/* ops.h: the Web PubSub data-plane operation table (api-version 2024-12-01), shared by the
 * gateway, the emulator and the CLI: routing, parameter validation, canonical upstream URLs. */
#ifndef WPS_OPS_H
#define WPS_OPS_H

#include <stddef.h>
#include "buf.h"
#include "wpslimits.h"

enum ops_id {
	OP_GET_SERVICE_STATUS,
	OP_GENERATE_CLIENT_TOKEN,
	OP_SEND_TO_ALL,
	OP_CLOSE_ALL_CONNECTIONS,
	OP_ADD_CONNECTIONS_TO_GROUPS,
	OP_REMOVE_CONNECTIONS_FROM_GROUPS,
	OP_CONNECTION_EXISTS,
	OP_CLOSE_CONNECTION,
	OP_SEND_TO_CONNECTION,
	OP_REMOVE_CONNECTION_FROM_ALL_GROUPS,
	OP_GROUP_EXISTS,
	OP_CLOSE_GROUP_CONNECTIONS,
	OP_SEND_TO_GROUP,
	OP_LIST_CONNECTIONS_IN_GROUP,
	OP_ADD_CONNECTION_TO_GROUP,
	OP_REMOVE_CONNECTION_FROM_GROUP,
	OP_GRANT_PERMISSION,
	OP_CHECK_PERMISSION,
	OP_REVOKE_PERMISSION,
	OP_USER_EXISTS,
	OP_CLOSE_USER_CONNECTIONS,
	OP_SEND_TO_USER,
	OP_REMOVE_USER_FROM_ALL_GROUPS,
	OP_ADD_USER_TO_GROUP,
	OP_REMOVE_USER_FROM_GROUP,
	OP__COUNT
};

/* Classes of operation, for access rules and metrics. */
enum ops_class { OPC_READ, OPC_SEND, OPC_GROUP, OPC_CLOSE, OPC_PERMISSION, OPC_TOKEN, OPC__COUNT };

enum ops_body {
	OPB_NONE,       /* no body; one sent by the application is not forwarded */
	OPB_MESSAGE,    /* application/json, text/plain or application/octet-stream, <= body limit */
	OPB_GROUPS_JSON /* application/json {"groups":[...],"filter":"..."} */
};

/* Query parameters, as bits of ops_def.query. */
enum ops_qparam {
	OPQ_API_VERSION = 1u << 0,   /* api-version */
	OPQ_EXCLUDED = 1u << 1,      /* excluded (repeated) */
	OPQ_FILTER = 1u << 2,        /* filter */
	OPQ_TTL = 1u << 3,           /* messageTtlSeconds 0..300 */
	OPQ_REASON = 1u << 4,        /* reason */
	OPQ_USER_ID = 1u << 5,       /* userId */
	OPQ_ROLE = 1u << 6,          /* role (repeated) */
	OPQ_MINUTES = 1u << 7,       /* minutesToExpire >= 1 */
	OPQ_GROUP = 1u << 8,         /* group (repeated) */
	OPQ_CLIENT_TYPE = 1u << 9,   /* clientType Default|MQTT (case-insensitive) */
	OPQ_TARGET_NAME = 1u << 10,  /* targetName */
	OPQ_MAXPAGESIZE = 1u << 11,  /* maxpagesize 1..200 */
	OPQ_TOP = 1u << 12,          /* top >= 1 */
	OPQ_CONTINUATION = 1u << 13, /* continuationToken */
	OPQ_DOLLAR_FILTER = 1u << 14 /* $filter: the name of filter in 2022-10-01-preview (apiver.h) */
};

struct ops_def {
	enum ops_id id;
	const char *name;    /* "SendToAll": the spec's operation name */
	const char *label;   /* "send_to_all": for metrics and logs */
	const char *method;  /* "POST" */
	const char *pattern; /* "/api/hubs/{hub}/:send" */
	unsigned query;      /* allowed OPQ_* bits (api-version is always allowed) */
	enum ops_body body;
	int success; /* the documented success status */
	enum ops_class cls;
	int mutating; /* 1 when it changes something (async/outbox eligible, audited) */
};

struct ops_kv {
	char *key; /* decoded */
	char *val; /* decoded; "" for a key given without '=' */
};

/* A request matched against the table. Strings are owned by the struct (ops_req_free). */
struct ops_req {
	const struct ops_def *op;
	char *hub, *group, *user, *connection, *permission; /* decoded; NULL when not in the path */
	struct ops_kv *query; /* decoded query parameters, in the order given (owned; grown as they come, at
	                         * most WPS_QUERY_PARAMS_MAX: a request holds what it has, not 64 slots) */
	size_t nquery, capquery;
};

struct ops_err {
	int status;        /* 400, 404, 405, 413, 415 */
	char code[48];     /* "InvalidParameter", "NotFound", "MethodNotAllowed", ... */
	char message[256]; /* for the JSON error body; never contains more than 64 bytes of user input */
};

/* The table: ops_table()[i].id == i. */
const struct ops_def *ops_table(void);
const struct ops_def *ops_by_id(enum ops_id id);
const struct ops_def *ops_by_name(const char *name); /* "SendToAll" or "send_to_all"; NULL if none */
const char *ops_class_name(enum ops_class cls); /* "read", "send", "group", "close", "permission", "token" */
int ops_class_parse(const char *s, enum ops_class *out);

void ops_req_init(struct ops_req *r);
void ops_req_free(struct ops_req *r); /* frees the contents; r can be re-initialised */

/* Match method and raw (still percent-encoded) path against the table and decode the path
 * parameters into r. Returns 0, or -1 with e filled: 404 NotFound (no pattern matches the path),
 * 405 MethodNotAllowed (a pattern matches with another method), 400 InvalidParameter (bad escape,
 * an empty or too long parameter, one that decodes to "." or "..", a hub that breaks the pattern,
 * an unknown permission). An empty segment ("//", a trailing '/') matches only a parameter's place
 * (and is then an empty parameter: 400); a raw "." or ".." segment is 404. */
int ops_route(const char *method, const char *raw_path, struct ops_req *r, struct ops_err *e);

/* Add one raw (percent-encoded, '+' = space) query parameter. Returns 0, or -1 with e filled
 * (400 for a bad escape, invalid UTF-8, or more than WPS_QUERY_PARAMS_MAX parameters).
 * raw_val may be NULL for a key without '='. */
int ops_add_query(struct ops_req *r, const char *raw_key, const char *raw_val, struct ops_err *e);
/* Split a raw query string ("a=b&c=d", without '?') and ops_add_query each pair. */
int ops_parse_query(struct ops_req *r, const char *raw_query, struct ops_err *e);

/* Check the query parameters against the operation's rules: unknown parameters, repeated
 * singular ones, integer ranges (messageTtlSeconds, minutesToExpire, maxpagesize, top), enum
 * values (clientType), group names in `group`. Returns 0 or -1 with a 400 in e. */
int ops_validate_query(const struct ops_req *r, struct ops_err *e);

/* Check a body against the operation: for OPB_MESSAGE the media type of content_type (parameters
 * after ';' ignored, case-insensitive) must be one of the three (else 415) and len <= max (else 413);
 * for OPB_GROUPS_JSON the body must be JSON {"groups":[1..WPS_GROUPS_JSON_MAX valid group names],
 * "filter":string?} with no other members (400) and an application/json type (415).
 * content_type may be NULL. Returns 0 or -1 with e filled. */
int ops_validate_body(const struct ops_req *r, const char *content_type, const char *body, size_t len,
                      size_t max, struct ops_err *e);

/* All of the above for a raw request target ("/api/hubs/h/:send?excluded=a&api-version=..."):
 * ops_route on the path, ops_parse_query on what follows '?', ops_validate_query. On -1 r has
 * been freed. The body is left to ops_validate_body. (A single entry point for fuzzing too.) */
int ops_parse_request(const char *method, const char *raw_url, struct ops_req *r, struct ops_err *e);

/* Value of the first query parameter named key (exact match), borrowed, or NULL. */
const char *ops_query_get(const struct ops_req *r, const char *key);

/* 1 when v is an api-version the service has published (the table of apiver.h, previews
 * included). */
int ops_api_version_known(const char *v);
/* The OPQ_* bit of a query parameter name, or 0 for a name the table does not know. */
unsigned ops_query_bit(const char *key);

/* Validation rules, exposed for the emulator and the client protocol. 1 when valid. */
int ops_valid_hub(const char *s);
int ops_valid_group(const char *s);
int ops_valid_id(const char *s);         /* userId / connectionId */
int ops_valid_permission(const char *s); /* sendToGroup | joinLeaveGroup */

/* Append the canonical upstream path ("/api/hubs/chat/users/a%40b%2Fc/:send"), every path
 * parameter encoded with pct_encode. Returns 0 or -1 (buffer full). */
int ops_build_path(const struct ops_req *r, struct buf *out);
/* Append the canonical query: "api-version=<api_version>" first, then every other parameter in the
 * order given, keys and values encoded with pct_encode, joined by '&'. The request's own
 * api-version parameter is skipped (the caller passes it, or the default when there is none). */
int ops_build_query(const struct ops_req *r, const char *api_version, struct buf *out);

/* Fill e and return -1: a convenience for handlers. */
int ops_fail(struct ops_err *e, int status, const char *code, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));
/* Append the JSON error body {"code":"...","message":"..."} for e. */
int ops_err_json(const struct ops_err *e, struct buf *out);

#endif
