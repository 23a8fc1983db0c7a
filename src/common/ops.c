/* ops.c: the Web PubSub operation table, request routing and canonical upstream URLs. */
#include <config.h>

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "apiver.h"
#include "ops.h"
#include "pct.h"

#define OPS_SEGS_MAX 8 /* segments in the longest pattern is 7 */

#define Q_SEND  (OPQ_EXCLUDED | OPQ_FILTER | OPQ_DOLLAR_FILTER | OPQ_TTL)
#define Q_CLOSE (OPQ_EXCLUDED | OPQ_REASON)

static const struct ops_def ops_defs[OP__COUNT] = {
	{ OP_GET_SERVICE_STATUS, "GetServiceStatus", "get_service_status", "HEAD", "/api/health", 0, OPB_NONE,
	  200, OPC_READ, 0 },
	{ OP_GENERATE_CLIENT_TOKEN, "GenerateClientToken", "generate_client_token", "POST",
	  "/api/hubs/{hub}/:generateToken",
	  OPQ_USER_ID | OPQ_ROLE | OPQ_MINUTES | OPQ_GROUP | OPQ_CLIENT_TYPE, OPB_NONE, 200, OPC_TOKEN, 0 },
	{ OP_SEND_TO_ALL, "SendToAll", "send_to_all", "POST", "/api/hubs/{hub}/:send", Q_SEND, OPB_MESSAGE,
	  202, OPC_SEND, 1 },
	{ OP_CLOSE_ALL_CONNECTIONS, "CloseAllConnections", "close_all_connections", "POST",
	  "/api/hubs/{hub}/:closeConnections", Q_CLOSE, OPB_NONE, 204, OPC_CLOSE, 1 },
	{ OP_ADD_CONNECTIONS_TO_GROUPS, "AddConnectionsToGroups", "add_connections_to_groups", "POST",
	  "/api/hubs/{hub}/:addToGroups", 0, OPB_GROUPS_JSON, 200, OPC_GROUP, 1 },
	{ OP_REMOVE_CONNECTIONS_FROM_GROUPS, "RemoveConnectionsFromGroups", "remove_connections_from_groups",
	  "POST", "/api/hubs/{hub}/:removeFromGroups", 0, OPB_GROUPS_JSON, 200, OPC_GROUP, 1 },
	{ OP_CONNECTION_EXISTS, "ConnectionExists", "connection_exists", "HEAD",
	  "/api/hubs/{hub}/connections/{connectionId}", 0, OPB_NONE, 200, OPC_READ, 0 },
	{ OP_CLOSE_CONNECTION, "CloseConnection", "close_connection", "DELETE",
	  "/api/hubs/{hub}/connections/{connectionId}", OPQ_REASON, OPB_NONE, 204, OPC_CLOSE, 1 },
	{ OP_SEND_TO_CONNECTION, "SendToConnection", "send_to_connection", "POST",
	  "/api/hubs/{hub}/connections/{connectionId}/:send", OPQ_TTL, OPB_MESSAGE, 202, OPC_SEND, 1 },
	{ OP_REMOVE_CONNECTION_FROM_ALL_GROUPS, "RemoveConnectionFromAllGroups",
	  "remove_connection_from_all_groups", "DELETE", "/api/hubs/{hub}/connections/{connectionId}/groups",
	  0, OPB_NONE, 204, OPC_GROUP, 1 },
	{ OP_GROUP_EXISTS, "GroupExists", "group_exists", "HEAD", "/api/hubs/{hub}/groups/{group}", 0,
	  OPB_NONE, 200, OPC_READ, 0 },
	{ OP_CLOSE_GROUP_CONNECTIONS, "CloseGroupConnections", "close_group_connections", "POST",
	  "/api/hubs/{hub}/groups/{group}/:closeConnections", Q_CLOSE, OPB_NONE, 204, OPC_CLOSE, 1 },
	{ OP_SEND_TO_GROUP, "SendToGroup", "send_to_group", "POST", "/api/hubs/{hub}/groups/{group}/:send",
	  Q_SEND, OPB_MESSAGE, 202, OPC_SEND, 1 },
	{ OP_LIST_CONNECTIONS_IN_GROUP, "ListConnectionsInGroup", "list_connections_in_group", "GET",
	  "/api/hubs/{hub}/groups/{group}/connections", OPQ_MAXPAGESIZE | OPQ_TOP | OPQ_CONTINUATION,
	  OPB_NONE, 200, OPC_READ, 0 },
	{ OP_ADD_CONNECTION_TO_GROUP, "AddConnectionToGroup", "add_connection_to_group", "PUT",
	  "/api/hubs/{hub}/groups/{group}/connections/{connectionId}", 0, OPB_NONE, 200, OPC_GROUP, 1 },
	{ OP_REMOVE_CONNECTION_FROM_GROUP, "RemoveConnectionFromGroup", "remove_connection_from_group",
	  "DELETE", "/api/hubs/{hub}/groups/{group}/connections/{connectionId}", 0, OPB_NONE, 204, OPC_GROUP,
	  1 },
	{ OP_GRANT_PERMISSION, "GrantPermission", "grant_permission", "PUT",
	  "/api/hubs/{hub}/permissions/{permission}/connections/{connectionId}", OPQ_TARGET_NAME, OPB_NONE,
	  200, OPC_PERMISSION, 1 },
	{ OP_CHECK_PERMISSION, "CheckPermission", "check_permission", "HEAD",
	  "/api/hubs/{hub}/permissions/{permission}/connections/{connectionId}", OPQ_TARGET_NAME, OPB_NONE,
	  200, OPC_READ, 0 },
	{ OP_REVOKE_PERMISSION, "RevokePermission", "revoke_permission", "DELETE",
	  "/api/hubs/{hub}/permissions/{permission}/connections/{connectionId}", OPQ_TARGET_NAME, OPB_NONE,
	  204, OPC_PERMISSION, 1 },
	{ OP_USER_EXISTS, "UserExists", "user_exists", "HEAD", "/api/hubs/{hub}/users/{userId}", 0, OPB_NONE,
	  200, OPC_READ, 0 },
	{ OP_CLOSE_USER_CONNECTIONS, "CloseUserConnections", "close_user_connections", "POST",
	  "/api/hubs/{hub}/users/{userId}/:closeConnections", Q_CLOSE, OPB_NONE, 204, OPC_CLOSE, 1 },
	{ OP_SEND_TO_USER, "SendToUser", "send_to_user", "POST", "/api/hubs/{hub}/users/{userId}/:send",
	  OPQ_FILTER | OPQ_DOLLAR_FILTER | OPQ_TTL, OPB_MESSAGE, 202, OPC_SEND, 1 },
	{ OP_REMOVE_USER_FROM_ALL_GROUPS, "RemoveUserFromAllGroups", "remove_user_from_all_groups", "DELETE",
	  "/api/hubs/{hub}/users/{userId}/groups", 0, OPB_NONE, 204, OPC_GROUP, 1 },
	{ OP_ADD_USER_TO_GROUP, "AddUserToGroup", "add_user_to_group", "PUT",
	  "/api/hubs/{hub}/users/{userId}/groups/{group}", 0, OPB_NONE, 200, OPC_GROUP, 1 },
	{ OP_REMOVE_USER_FROM_GROUP, "RemoveUserFromGroup", "remove_user_from_group", "DELETE",
	  "/api/hubs/{hub}/users/{userId}/groups/{group}", 0, OPB_NONE, 204, OPC_GROUP, 1 },
};

static const char *const class_names[OPC__COUNT] = {
	"read", "send", "group", "close", "permission", "token"
};

const struct ops_def *ops_table(void)
{
	return ops_defs;
}

const struct ops_def *ops_by_id(enum ops_id id)
{
	if ((unsigned)id >= OP__COUNT)
		return NULL;
	return &ops_defs[id];
}

const struct ops_def *ops_by_name(const char *name)
{
	size_t i;

	if (name == NULL)
		return NULL;
	for (i = 0; i < OP__COUNT; i++)
		if (strcmp(ops_defs[i].name, name) == 0 || strcmp(ops_defs[i].label, name) == 0)
			return &ops_defs[i];
	return NULL;
}

const char *ops_class_name(enum ops_class cls)
{
	if ((unsigned)cls >= OPC__COUNT)
		return "unknown";
	return class_names[cls];
}

int ops_class_parse(const char *s, enum ops_class *out)
{
	size_t i;

	if (s == NULL)
		return -1;
	for (i = 0; i < OPC__COUNT; i++) {
		if (strcasecmp(s, class_names[i]) == 0) {
			*out = (enum ops_class)i;
			return 0;
		}
	}
	return -1;
}

int ops_api_version_known(const char *v)
{
	return apiver_find(v) != NULL;
}

void ops_req_init(struct ops_req *r)
{
	memset(r, 0, sizeof(*r));
}

void ops_req_free(struct ops_req *r)
{
	size_t i;

	if (r == NULL)
		return;
	free(r->hub);
	free(r->group);
	free(r->user);
	free(r->connection);
	free(r->permission);
	for (i = 0; i < r->nquery; i++) {
		free(r->query[i].key);
		free(r->query[i].val);
	}
	free(r->query);
	memset(r, 0, sizeof(*r));
}

int ops_fail(struct ops_err *e, int status, const char *code, const char *fmt, ...)
{
	va_list ap;

	if (e == NULL)
		return -1;
	e->status = status;
	snprintf(e->code, sizeof(e->code), "%s", code);
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
	return -1;
}

static int json_escape(struct buf *out, const char *s)
{
	static const char hex[] = "0123456789abcdef";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char esc[7];

		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			if (buf_append(out, esc, 2) < 0)
				return -1;
		} else if (c < 0x20 || c == 0x7f) {
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			if (buf_append(out, esc, 6) < 0)
				return -1;
		} else if (buf_append(out, s, 1) < 0) {
			return -1;
		}
	}
	return 0;
}

int ops_err_json(const struct ops_err *e, struct buf *out)
{
	size_t old = out->len;

	if (buf_puts(out, "{\"code\":\"") < 0 || json_escape(out, e->code) < 0 ||
	    buf_puts(out, "\",\"message\":\"") < 0 || json_escape(out, e->message) < 0 ||
	    buf_puts(out, "\"}") < 0) {
		out->len = old;
		if (out->data != NULL)
			out->data[old] = '\0';
		return -1;
	}
	return 0;
}

/* ---- routing ---- */

struct seg {
	const char *p;
	size_t len;
};

/* Split "/a/b/c" (up to end) into segments; -1 if there are too many. Empty segments are kept. */
static int split_path(const char *p, size_t len, struct seg *segs, size_t *nsegs)
{
	size_t n = 0, i, start;

	if (len == 0 || p[0] != '/')
		return -1;
	start = 1;
	for (i = 1; i <= len; i++) {
		if (i == len || p[i] == '/') {
			if (n == OPS_SEGS_MAX)
				return -1;
			segs[n].p = p + start;
			segs[n].len = i - start;
			n++;
			start = i + 1;
		}
	}
	*nsegs = n;
	return 0;
}

static int seg_is(const struct seg *s, const char *lit, size_t litlen)
{
	return s->len == litlen && memcmp(s->p, lit, litlen) == 0;
}

/* The patterns, split once into segments: routing compares a request's segments with each pattern's by
 * count, then by length and bytes (the patterns are fixed, so this runs once per process). */
struct cpat {
	size_t n;
	struct {
		const char *s;
		size_t len;
		int param;
	} seg[OPS_SEGS_MAX];
};
static struct cpat cpats[OP__COUNT];
static pthread_once_t cpats_once = PTHREAD_ONCE_INIT;

static void cpats_build(void)
{
	size_t i;

	for (i = 0; i < OP__COUNT; i++) {
		const char *q = ops_defs[i].pattern;
		struct cpat *c = &cpats[i];

		while (*q == '/' && c->n < OPS_SEGS_MAX) {
			size_t plen;

			q++;
			plen = (size_t)(strchrnul(q, '/') - q);
			c->seg[c->n].s = q;
			c->seg[c->n].len = plen;
			c->seg[c->n].param = plen > 2 && q[0] == '{';
			c->n++;
			q += plen;
		}
	}
}

/* Match path segments against pattern i; fill params[k] (and pnames[k], pointing at the "{name}" in the
 * pattern) for each parameter in order. */
static int pattern_match(size_t i, const struct seg *segs, size_t nsegs, struct seg *params,
                         const char **pnames, size_t *nparams)
{
	const struct cpat *c = &cpats[i];
	size_t j, k = 0;

	if (c->n != nsegs)
		return 0;
	for (j = 0; j < nsegs; j++) {
		if (c->seg[j].param) {
			if (params != NULL) {
				params[k] = segs[j];
				pnames[k] = c->seg[j].s;
			}
			k++;
		} else if (!seg_is(&segs[j], c->seg[j].s, c->seg[j].len)) {
			return 0;
		}
	}
	if (nparams != NULL)
		*nparams = k;
	return 1;
}

static int decode_param(const char *name, const struct seg *s, char **out, struct ops_err *e)
{
	size_t n;
	char *v = pct_decode(s->p, s->len, 0, &n);

	if (v == NULL)
		return ops_fail(e, 400, "InvalidParameter",
		                "The %s in the path has a malformed percent-escape or a NUL byte", name);
	if (strcmp(v, ".") == 0 || strcmp(v, "..") == 0) {
		/* would be a dot segment once decoded upstream; never normalised, never sent */
		free(v);
		return ops_fail(e, 400, "InvalidParameter", "The %s in the path must not be '.' or '..'",
		                name);
	}
	*out = v;
	return 0;
}

int ops_route(const char *method, const char *raw_path, struct ops_req *r, struct ops_err *e)
{
	struct seg segs[OPS_SEGS_MAX], params[4];
	const char *pnames[4];
	const struct ops_def *path_match = NULL, *op = NULL;
	size_t nsegs = 0, nparams = 0, i, len;
	char allowed[64] = "";

	if (method == NULL || raw_path == NULL)
		return ops_fail(e, 404, "NotFound", "No such operation");
	len = strcspn(raw_path, "?#");
	if (len > WPS_URL_MAX)
		return ops_fail(e, 400, "InvalidParameter", "The request path is too long");
	pthread_once(&cpats_once, cpats_build);
	if (split_path(raw_path, len, segs, &nsegs) < 0)
		return ops_fail(e, 404, "NotFound", "No such operation");
	for (i = 0; i < nsegs; i++) {
		/* dot segments are never normalised; an empty segment only matches a parameter,
		 * which then fails validation as empty (400) */
		if (seg_is(&segs[i], ".", 1) || seg_is(&segs[i], "..", 2))
			return ops_fail(e, 404, "NotFound", "No such operation");
	}
	for (i = 0; i < OP__COUNT; i++) {
		if (!pattern_match(i, segs, nsegs, NULL, NULL, NULL))
			continue;
		if (path_match == NULL)
			path_match = &ops_defs[i];
		if (strlen(allowed) + strlen(ops_defs[i].method) + 3 < sizeof(allowed)) {
			if (allowed[0] != '\0')
				strcat(allowed, ", ");
			strcat(allowed, ops_defs[i].method);
		}
		if (strcmp(ops_defs[i].method, method) == 0) {
			op = &ops_defs[i];
			break;
		}
	}
	if (path_match == NULL)
		return ops_fail(e, 404, "NotFound", "No such operation");
	if (op == NULL) {
		/* finish the list of allowed methods for the message */
		for (i = (size_t)(path_match - ops_defs) + 1; i < OP__COUNT; i++) {
			if (pattern_match(i, segs, nsegs, NULL, NULL, NULL) &&
			    strstr(allowed, ops_defs[i].method) == NULL &&
			    strlen(allowed) + strlen(ops_defs[i].method) + 3 < sizeof(allowed)) {
				strcat(allowed, ", ");
				strcat(allowed, ops_defs[i].method);
			}
		}
		return ops_fail(e, 405, "MethodNotAllowed",
		                "The method is not allowed for this path; allowed: %s", allowed);
	}

	ops_req_free(r);
	r->op = op;
	pattern_match((size_t)(op - ops_defs), segs, nsegs, params, pnames, &nparams);
	for (i = 0; i < nparams; i++) {
		const char *pn = pnames[i];

		if (strncmp(pn, "{hub}", 5) == 0) {
			if (decode_param("hub", &params[i], &r->hub, e) < 0)
				goto bad;
			if (!ops_valid_hub(r->hub)) {
				ops_fail(e, 400, "InvalidParameter",
				         "The hub name is invalid: it must match "
				         "^[A-Za-z][A-Za-z0-9_`,.[\\]]{0,127}$");
				goto bad;
			}
		} else if (strncmp(pn, "{group}", 7) == 0) {
			if (decode_param("group", &params[i], &r->group, e) < 0)
				goto bad;
			if (!ops_valid_group(r->group)) {
				ops_fail(e, 400, "InvalidParameter",
				         "The group name is invalid: it must be 1 to "
				         "%d characters of valid UTF-8, not only whitespace, without control "
				         "characters",
				         WPS_GROUP_MAX);
				goto bad;
			}
		} else if (strncmp(pn, "{userId}", 8) == 0) {
			if (decode_param("userId", &params[i], &r->user, e) < 0)
				goto bad;
			if (!ops_valid_id(r->user)) {
				ops_fail(e, 400, "InvalidParameter",
				         "The userId is invalid: it must be 1 to %d "
				         "characters of valid UTF-8 without control characters",
				         WPS_ID_MAX);
				goto bad;
			}
		} else if (strncmp(pn, "{connectionId}", 14) == 0) {
			if (decode_param("connectionId", &params[i], &r->connection, e) < 0)
				goto bad;
			if (!ops_valid_id(r->connection)) {
				ops_fail(e, 400, "InvalidParameter",
				         "The connectionId is invalid: it must be 1 to "
				         "%d characters of valid UTF-8 without control characters",
				         WPS_ID_MAX);
				goto bad;
			}
		} else if (strncmp(pn, "{permission}", 12) == 0) {
			if (decode_param("permission", &params[i], &r->permission, e) < 0)
				goto bad;
			if (!ops_valid_permission(r->permission)) {
				ops_fail(e, 400, "InvalidParameter",
				         "The permission must be sendToGroup or joinLeaveGroup");
				goto bad;
			}
		}
	}
	return 0;
bad:
	ops_req_free(r);
	return -1;
}

/* ---- canonical URLs ---- */

static const char *param_value(const struct ops_req *r, const char *name, size_t namelen)
{
	if (namelen == 5 && memcmp(name, "{hub}", 5) == 0)
		return r->hub;
	if (namelen == 7 && memcmp(name, "{group}", 7) == 0)
		return r->group;
	if (namelen == 8 && memcmp(name, "{userId}", 8) == 0)
		return r->user;
	if (namelen == 14 && memcmp(name, "{connectionId}", 14) == 0)
		return r->connection;
	if (namelen == 12 && memcmp(name, "{permission}", 12) == 0)
		return r->permission;
	return NULL;
}

static void buf_truncate(struct buf *b, size_t len)
{
	b->len = len;
	if (b->data != NULL)
		b->data[len] = '\0';
}

int ops_build_path(const struct ops_req *r, struct buf *out)
{
	const char *p, *q;
	size_t old = out->len;

	if (r->op == NULL)
		return -1;
	p = r->op->pattern;
	while (*p) {
		if (*p == '{') {
			const char *v;

			q = strchr(p, '}');
			if (q == NULL)
				goto fail;
			v = param_value(r, p, (size_t)(q - p + 1));
			if (v == NULL || pct_encode(out, v, strlen(v)) < 0)
				goto fail;
			p = q + 1;
		} else {
			q = strchr(p, '{');
			if (q == NULL)
				q = p + strlen(p);
			if (buf_append(out, p, (size_t)(q - p)) < 0)
				goto fail;
			p = q;
		}
	}
	return 0;
fail:
	buf_truncate(out, old);
	return -1;
}

int ops_build_query(const struct ops_req *r, const char *api_version, struct buf *out)
{
	size_t old = out->len, i;

	if (api_version == NULL)
		api_version = WPS_DEFAULT_API_VERSION;
	if (buf_puts(out, "api-version=") < 0 || pct_encode(out, api_version, strlen(api_version)) < 0)
		goto fail;
	for (i = 0; i < r->nquery; i++) {
		const struct ops_kv *kv = &r->query[i];

		if (strcmp(kv->key, "api-version") == 0)
			continue;
		if (buf_append(out, "&", 1) < 0 || pct_encode(out, kv->key, strlen(kv->key)) < 0 ||
		    buf_append(out, "=", 1) < 0 || pct_encode(out, kv->val, strlen(kv->val)) < 0)
			goto fail;
	}
	return 0;
fail:
	buf_truncate(out, old);
	return -1;
}
