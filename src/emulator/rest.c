/* rest.c: the emulator's REST handlers: routing and validation by the shared operation table,
 * JWT checks as the service does them, and each operation applied to the hub state. */
#include <config.h>

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <pthread.h>

#include "apiver.h"
#include "auth.h"
#include "emulimits.h"
#include "filter.h"
#include "jwt.h"
#include "log.h"
#include "ops.h"
#include "pct.h"
#include "proto.h"
#include "rest.h"
#include "token.h"

#define CT_JSON           "application/json; charset=utf-8"
#define VERSIONS_LIST_MAX 256 /* bytes of the api-supported-versions value */
#define CT_PROBLEM        "application/problem+json; charset=utf-8"

/* Every 400 the service was recorded giving carries this code (tests/vectors/service). */
#define BAD_REQUEST "Error.BadRequest"
#define BAD_GROUP   "Invalid group name. Valid group name should be in between 1 and 1024 characters long."

static char versions_list[VERSIONS_LIST_MAX];

/* The stable versions of the table, oldest first, ", "-separated, as the service lists them. */
static void build_supported_versions(void)
{
	size_t n, i, o = 0;
	const struct apiver *t = apiver_table(&n);

	for (i = 0; i < n; i++) {
		if (t[i].preview)
			continue;
		int w = snprintf(versions_list + o, sizeof(versions_list) - o, "%s%s", o ? ", " : "",
		                 t[i].name);
		if (w < 0 || (size_t)w >= sizeof(versions_list) - o)
			break;
		o += (size_t)w;
	}
}

const char *rest_supported_versions(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, build_supported_versions);
	return versions_list;
}

int rest_error_json(struct buf *out, const char *code, const char *message, const char *target)
{
	json_t *o = json_pack("{s:s, s:s, s:s?, s:n, s:n}", "code", code, "message", message, "target",
	                      target, "details", "inner");
	return o != NULL ? buf_put_json(out, o) : -1; /* steals o */
}

/* The service's error: {"code","message","target","details":null,"inner":null}, x-ms-error-code. */
static void svc_error(struct rest_resp *rs, int status, const char *code, const char *target, const char *msg)
{
	rs->status = status;
	buf_reset(&rs->body);
	rest_error_json(&rs->body, code, msg, target);
	rs->content_type = CT_JSON;
	snprintf(rs->error_code, sizeof(rs->error_code), "%s", code);
}

static void fail(struct rest_resp *rs, int status, const char *code, const char *target, const char *fmt, ...)
        __attribute__((format(printf, 5, 6)));

static void fail(struct rest_resp *rs, int status, const char *code, const char *target, const char *fmt, ...)
{
	char msg[WPS_ERRMSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	svc_error(rs, status, code, target, msg);
}

/* "<Kind> `<id>` is not found." with code, the whole id as the service echoes it. */
static void not_found(struct rest_resp *rs, const char *code, const char *kind, const char *id)
{
	struct buf m;
	buf_init(&m, 0);
	if (buf_printf(&m, "%s `%s` is not found.", kind, id) < 0)
		buf_puts(&m, "Not found.");
	svc_error(rs, 404, code, kind, m.data != NULL ? m.data : "");
	buf_free(&m);
}

/* A validation problem as ASP.NET's model binding words it: {"code","message","target","errors":
 * {target:[message]},"type","title","status","detail","instance","extensions"}; the service sends
 * no api-supported-versions with it. ctype: the recordings show problem+json for a filter and
 * plain JSON for clientType. */
static void problem(struct rest_resp *rs, const char *ctype, const char *target, const char *msg)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:{s:[s]}, s:n, s:s, s:i, s:n, s:n, s:{}}", "code",
	                      BAD_REQUEST, "message", msg, "target", target, "errors", target, msg, "type",
	                      "title", "One or more validation errors occurred.", "status", 400, "detail",
	                      "instance", "extensions");
	rs->status = 400;
	buf_reset(&rs->body);
	if (o != NULL)
		buf_put_json(&rs->body, o); /* steals o */
	rs->content_type = ctype;
	rs->api_versions = NULL;
	snprintf(rs->error_code, sizeof(rs->error_code), "%s", BAD_REQUEST);
}

/* A filter the parser refused, worded as the service words it. target: "filter" for the query
 * parameter, "Filter" for the member of an add/removeFromGroups body (as recorded). */
static void bad_filter(struct rest_resp *rs, const char *target, const char *f, size_t len,
                       const struct filter_error *fe)
{
	struct buf m;
	buf_init(&m, 0);
	if (buf_printf(
	            &m,
	            "Invalid syntax for '%.*s': Syntax error at position %zu in '%.*s'. (Parameter 'filter')",
	            (int)len, f, fe->pos, (int)len, f) < 0) {
		buf_reset(&m);
		buf_puts(&m, "Invalid syntax for the filter. (Parameter 'filter')");
	}
	problem(rs, CT_PROBLEM, target, m.data != NULL ? m.data : "");
	buf_free(&m);
}

/* The shared table's validation errors: 400s as the service's Error.BadRequest (the message is the
 * emulator's own), other statuses with the emulator's codes, in the service's body shape. */
static void fail_ops(struct rest_resp *rs, const struct ops_err *e)
{
	if (e->status == 400)
		svc_error(rs, 400, BAD_REQUEST, "Request", e->message);
	else
		svc_error(rs, e->status, e->code, NULL, e->message);
}

static void ok(struct rest_resp *rs, int status)
{
	rs->status = status;
}

static void ok_json(struct rest_resp *rs, int status, json_t *o)
{
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	if (!s || buf_puts(&rs->body, s) < 0) {
		free(s);
		fail(rs, 500, "InternalServerError", NULL, "out of memory");
		return;
	}
	free(s);
	rs->status = status;
	rs->content_type = CT_JSON;
}

/* excluded=... values of the query (borrowed from r), at most WPS_QUERY_PARAMS_MAX. */
static size_t collect_excluded(const struct ops_req *r, char **out)
{
	size_t n = 0;
	for (size_t i = 0; i < r->nquery; i++)
		if (strcmp(r->query[i].key, "excluded") == 0)
			out[n++] = r->query[i].val;
	return n;
}

/* Parse the filter query parameter ($filter in 2022-10-01-preview; absent: *f = NULL). 0, or -1
 * with a 400 in rs. */
static int query_filter(const struct ops_req *r, struct filter **f, struct rest_resp *rs)
{
	struct filter_error fe;
	const char *s = ops_query_get(r, "filter");
	*f = NULL;
	if (!s)
		s = ops_query_get(r, "$filter");
	if (!s)
		return 0;
	if (filter_parse(s, strlen(s), f, &fe) < 0) {
		bad_filter(rs, "filter", s, strlen(s), &fe);
		return -1;
	}
	return 0;
}

static void do_send(struct hub *h, const struct ops_req *r, const struct rest_req *rq, struct rest_resp *rs,
                    enum hub_target kind, const char *id)
{
	struct filter *f = NULL;
	char *excluded[WPS_QUERY_PARAMS_MAX];
	struct hub_msg m;
	enum hub_dtype dt;
	char why[160];

	if (query_filter(r, &f, rs) < 0)
		return;
	if (proto_dtype_from_content_type(rq->content_type, &dt) < 0) {
		/* ops_validate_body already answered 415; kept as a guard */
		filter_free(f);
		fail(rs, 415, "UnsupportedMediaType", NULL, "%s", "Unsupported Content-Type");
		return;
	}
	if (proto_msg_from_body(&m, dt, rq->body, rq->len, why, sizeof(why)) < 0) {
		filter_free(f);
		proto_msg_release(&m);
		fail(rs, 400, BAD_REQUEST, "Request", "%s", why);
		return;
	}
	struct hub_sel sel = { .kind = kind, .id = id, .excluded = excluded, .filter = f };
	sel.nexcluded = collect_excluded(r, excluded);
	size_t n = hub_send(h, &sel, &m);
	log_debug("send to %zu connection(s)", n);
	proto_msg_release(&m);
	filter_free(f);
	ok(rs, 202);
}

static void do_close(struct hub *h, const struct ops_req *r, struct rest_resp *rs, enum hub_target kind,
                     const char *id)
{
	char *excluded[WPS_QUERY_PARAMS_MAX];
	const char *reason = ops_query_get(r, "reason");
	char cut[EMU_REASON_MAX + 1];
	if (reason && strlen(reason) > EMU_REASON_MAX) {
		memcpy(cut, reason, EMU_REASON_MAX);
		cut[EMU_REASON_MAX] = '\0';
		reason = cut;
	}
	struct hub_sel sel = { .kind = kind, .id = id, .excluded = excluded };
	sel.nexcluded = collect_excluded(r, excluded);
	hub_close(h, &sel, reason ? reason : "");
	ok(rs, 204);
}

static void do_groups(struct hub *h, const struct rest_req *rq, struct rest_resp *rs, int add)
{
	json_error_t je;
	struct filter *f = NULL;
	struct filter_error fe;
	char *groups[WPS_GROUPS_JSON_MAX];
	size_t n = 0;

	json_t *o = json_loadb(rq->body, rq->len, 0, &je);
	json_t *ga = json_object_get(o, "groups");
	json_t *fj = json_object_get(o, "filter");
	if (!json_is_array(ga) || json_array_size(ga) > WPS_GROUPS_JSON_MAX ||
	    (fj && !json_is_string(fj) && !json_is_null(fj))) {
		json_decref(o);
		fail(rs, 400, BAD_REQUEST, "Request", "%s",
		     "The body must be {\"groups\":[...],\"filter\":\"...\"}");
		return;
	}
	for (size_t i = 0; i < json_array_size(ga); i++) {
		const char *g = json_string_value(json_array_get(ga, i));
		if (!g || !ops_valid_group(g)) {
			json_decref(o);
			fail(rs, 400, BAD_REQUEST, "Request", "%s", BAD_GROUP);
			return;
		}
		groups[n++] = (char *)(uintptr_t)g;
	}
	if (json_is_string(fj) && filter_parse(json_string_value(fj), json_string_length(fj), &f, &fe) < 0) {
		bad_filter(rs, "Filter", json_string_value(fj), json_string_length(fj), &fe);
		json_decref(o);
		return;
	}
	if (h) {
		if (add)
			hub_groups_add(h, groups, n, f);
		else
			hub_groups_remove(h, groups, n, f);
	}
	filter_free(f);
	json_decref(o);
	ok(rs, 200);
}

static int parse_ulong(const char *s, unsigned long long *out)
{
	char *end;
	if (!s || !*s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	*out = strtoull(s, &end, 10);
	return (*end || errno) ? -1 : 0;
}

static void do_list(const struct emu *e, struct hub *h, const struct ops_req *r, struct rest_resp *rs)
{
	unsigned long long page = WPS_PAGESIZE_MAX, top = 0, after = 0;
	const char *v;
	int has_top = 0;

	if ((v = ops_query_get(r, "maxpagesize")) &&
	    (parse_ulong(v, &page) < 0 || page < 1 || page > WPS_PAGESIZE_MAX)) {
		fail(rs, 400, BAD_REQUEST, "maxpagesize", "maxpagesize must be 1..%d", WPS_PAGESIZE_MAX);
		return;
	}
	if ((v = ops_query_get(r, "top"))) {
		if (parse_ulong(v, &top) < 0 || top < 1) {
			fail(rs, 400, BAD_REQUEST, "top", "%s", "top must be >= 1");
			return;
		}
		has_top = 1;
	}
	if ((v = ops_query_get(r, "continuationToken")) && parse_ulong(v, &after) < 0) {
		fail(rs, 400, BAD_REQUEST, "continuationToken", "%s", "Invalid continuationToken");
		return;
	}
	unsigned long long limit = has_top && top < page ? top : page;
	json_t *arr = json_array();
	json_t *o = json_pack("{s:o}", "value", arr);
	unsigned long long n = 0, last = 0;
	int more = 0;
	for (struct hub_conn *c = h ? h->conns : NULL; o && c; c = c->next) {
		if (c->serial <= after || !hub_conn_in_group(c, r->group))
			continue;
		if (n == limit) {
			more = 1;
			break;
		}
		json_t *it = json_pack("{s:s, s:s?}", "connectionId", c->id, "userId", c->user);
		json_array_append_new(arr, it);
		last = c->serial;
		n++;
	}
	if (more && (!has_top || top > n)) {
		/* as the service writes it: absolute, top (what is left of it) and maxpagesize when the
		 * request had them, the token, the request's api-version last */
		struct buf link;
		const char *ver = ops_query_get(r, "api-version");
		buf_init(&link, WPS_URL_MAX);
		int brc = buf_puts(&link, e->endpoint);
		brc |= ops_build_path(r, &link);
		brc |= buf_puts(&link, "?");
		if (has_top)
			brc |= buf_printf(&link, "top=%llu&", top - n);
		if (ops_query_get(r, "maxpagesize"))
			brc |= buf_printf(&link, "maxpagesize=%llu&", page);
		brc |= buf_printf(&link, "continuationToken=%llu&api-version=", last);
		brc |= pct_encode(&link, ver ? ver : WPS_DEFAULT_API_VERSION,
		                  strlen(ver ? ver : WPS_DEFAULT_API_VERSION));
		if (brc == 0 && o)
			json_object_set_new(o, "nextLink", json_string(link.data));
		buf_free(&link);
	}
	ok_json(rs, 200, o);
	json_decref(o);
}

static struct hub_conn *need_conn(struct hub *h, const struct ops_req *r, struct rest_resp *rs,
                                  const char *code)
{
	struct hub_conn *c = hub_conn_find(h, r->connection);
	if (!c)
		not_found(rs, code, "Connection", r->connection);
	return c;
}

static void do_permission(struct hub *h, const struct ops_req *r, struct rest_resp *rs)
{
	enum hub_perm_kind kind;
	const char *target = ops_query_get(r, "targetName");
	struct hub_conn *c;

	if (hub_perm_parse(r->permission, &kind) < 0) {
		fail(rs, 400, BAD_REQUEST, "Request", "%s", "Unknown permission");
		return;
	}
	switch (r->op->id) {
	case OP_GRANT_PERMISSION:
		if (!(c = need_conn(h, r, rs, "Info.Connection.NotExisted")))
			return;
		if (hub_perm_grant(c, kind, target) < 0) {
			fail(rs, 400, BAD_REQUEST, "Request", "%s",
			     "Too many permissions on this connection");
			return;
		}
		ok(rs, 200);
		return;
	case OP_CHECK_PERMISSION:
		if (!(c = need_conn(h, r, rs, "Info.Connection.NotExisted")))
			return;
		if (hub_perm_check(c, kind, target))
			ok(rs, 200);
		else
			fail(rs, 404, "Info.Permission.NotGranted", "Permission", "%s",
			     "The permission is not granted");
		return;
	default:
		if ((c = hub_conn_find(h, r->connection)))
			hub_perm_revoke(c, kind, target);
		ok(rs, 204);
		return;
	}
}

static void dispatch(struct emu *e, struct hub *h, const struct ops_req *r, const struct rest_req *rq,
                     struct rest_resp *rs, time_t now)
{
	struct hub_conn *c;
	struct ops_err oe;

	switch (r->op->id) {
	case OP_GET_SERVICE_STATUS: ok(rs, 200); return;
	case OP_GENERATE_CLIENT_TOKEN: {
		struct client_token_req tr;
		if (token_req_from_ops(r, &tr, &oe) < 0) {
			fail_ops(rs, &oe);
			return;
		}
		char *t = token_service_sign(e->endpoint, r->hub, &tr, now, e->kid, e->key, e->keylen);
		token_req_release(&tr);
		json_t *o = t ? json_pack("{s:s}", "token", t) : NULL;
		if (o)
			ok_json(rs, 200, o);
		else
			fail(rs, 500, "InternalServerError", NULL, "%s", "Could not sign the token");
		json_decref(o);
		if (t) {
			OPENSSL_cleanse(t, strlen(t));
			free(t);
		}
		return;
	}
	case OP_SEND_TO_ALL: do_send(h, r, rq, rs, HUB_T_ALL, NULL); return;
	case OP_SEND_TO_GROUP: do_send(h, r, rq, rs, HUB_T_GROUP, r->group); return;
	case OP_SEND_TO_USER: do_send(h, r, rq, rs, HUB_T_USER, r->user); return;
	case OP_SEND_TO_CONNECTION: do_send(h, r, rq, rs, HUB_T_CONN, r->connection); return;
	case OP_CLOSE_ALL_CONNECTIONS: do_close(h, r, rs, HUB_T_ALL, NULL); return;
	case OP_CLOSE_GROUP_CONNECTIONS: do_close(h, r, rs, HUB_T_GROUP, r->group); return;
	case OP_CLOSE_USER_CONNECTIONS: do_close(h, r, rs, HUB_T_USER, r->user); return;
	case OP_CLOSE_CONNECTION: do_close(h, r, rs, HUB_T_CONN, r->connection); return;
	case OP_ADD_CONNECTIONS_TO_GROUPS: do_groups(h, rq, rs, 1); return;
	case OP_REMOVE_CONNECTIONS_FROM_GROUPS: do_groups(h, rq, rs, 0); return;
	case OP_CONNECTION_EXISTS:
		if (hub_conn_find(h, r->connection))
			ok(rs, 200);
		else
			not_found(rs, "Warning.Connection.NotExisted", "Connection", r->connection);
		return;
	case OP_REMOVE_CONNECTION_FROM_ALL_GROUPS:
		if ((c = hub_conn_find(h, r->connection)))
			hub_conn_leave_all(c);
		ok(rs, 204);
		return;
	case OP_GROUP_EXISTS:
		if (h && hub_group_exists(h, r->group))
			ok(rs, 200);
		else
			not_found(rs, "Warning.Group.NotExisted", "Group", r->group);
		return;
	case OP_LIST_CONNECTIONS_IN_GROUP: do_list(e, h, r, rs); return;
	case OP_ADD_CONNECTION_TO_GROUP:
		if (!(c = need_conn(h, r, rs, "Error.Connection.NotExisted")))
			return;
		if (hub_conn_join(c, r->group) < 0)
			fail(rs, 400, BAD_REQUEST, "Request", "%s", "The connection is in too many groups");
		else
			ok(rs, 200);
		return;
	case OP_REMOVE_CONNECTION_FROM_GROUP:
		if ((c = hub_conn_find(h, r->connection)))
			hub_conn_leave(c, r->group);
		ok(rs, 204);
		return;
	case OP_GRANT_PERMISSION:
	case OP_CHECK_PERMISSION:
	case OP_REVOKE_PERMISSION: do_permission(h, r, rs); return;
	case OP_USER_EXISTS:
		if (h && hub_user_exists(h, r->user))
			ok(rs, 200);
		else
			not_found(rs, "Warning.User.NotExisted", "User", r->user);
		return;
	case OP_REMOVE_USER_FROM_ALL_GROUPS:
		if (h)
			hub_user_remove_group(h, r->user, NULL);
		ok(rs, 204);
		return;
	case OP_ADD_USER_TO_GROUP:
		if (!h || hub_user_add_group(h, r->user, r->group) < 0)
			not_found(rs, "Warning.User.NotExisted", "User", r->user);
		else
			ok(rs, 200);
		return;
	case OP_REMOVE_USER_FROM_GROUP:
		if (h)
			hub_user_remove_group(h, r->user, r->group);
		ok(rs, 204);
		return;
	case OP__COUNT: break;
	}
	fail(rs, 500, "InternalServerError", NULL, "%s", "Unhandled operation");
}

/* The checks the service makes before an operation runs, worded as recorded
 * (tests/vectors/service): a permission operation needs a valid group as targetName; clientType
 * must be Default or MQTT (case-insensitive). 0, or -1 with the answer in rs. */
static int service_checks(const struct ops_req *r, struct rest_resp *rs)
{
	const char *v;

	switch (r->op->id) {
	case OP_GRANT_PERMISSION:
	case OP_CHECK_PERMISSION:
	case OP_REVOKE_PERMISSION:
		v = ops_query_get(r, "targetName");
		if (v == NULL || !ops_valid_group(v)) {
			svc_error(rs, 400, BAD_REQUEST, "Request", BAD_GROUP);
			return -1;
		}
		return 0;
	case OP_GENERATE_CLIENT_TOKEN:
		v = ops_query_get(r, "clientType");
		if (v != NULL && strcasecmp(v, "Default") != 0 && strcasecmp(v, "MQTT") != 0) {
			struct buf m;
			buf_init(&m, 0);
			if (buf_printf(&m, "The value '%s' is not valid.", v) < 0)
				buf_puts(&m, "The value is not valid.");
			problem(rs, CT_JSON, "clientType", m.data != NULL ? m.data : "");
			buf_free(&m);
			return -1;
		}
		return 0;
	default: return 0;
	}
}

void rest_handle(struct emu *e, const struct rest_req *rq, struct rest_resp *rs, time_t now)
{
	struct ops_req r;
	struct ops_err oe;
	char why[160];
	char *path = NULL;
	const char *q;

	memset(rs, 0, sizeof(*rs));
	buf_init(&rs->body, 0);
	rs->op_label = "-";
	rs->api_versions = rest_supported_versions();
	ops_req_init(&r);

	if (!rq->raw_uri || strlen(rq->raw_uri) > WPS_URL_MAX) {
		fail(rs, 414, "UriTooLong", NULL, "%s", "The request URL is too long");
		goto out;
	}
	q = strchr(rq->raw_uri, '?');
	path = q ? strndup(rq->raw_uri, (size_t)(q - rq->raw_uri)) : strdup(rq->raw_uri);
	if (!path) {
		fail(rs, 500, "InternalServerError", NULL, "%s", "out of memory");
		goto out;
	}
	if (ops_route(rq->method, path, &r, &oe) < 0) {
		fail_ops(rs, &oe);
		goto out;
	}
	rs->op_label = r.op->label;
	if (q && ops_parse_query(&r, q + 1, &oe) < 0) {
		fail_ops(rs, &oe);
		goto out;
	}
	if (r.op->id == OP_GET_SERVICE_STATUS) {
		/* the probe needs no token and takes any api-version (a preview one was recorded); the
		 * service lists no versions on it */
		rs->api_versions = NULL;
		if (ops_validate_query(&r, &oe) < 0)
			fail_ops(rs, &oe);
		else
			ok(rs, 200);
		goto out;
	}
	if (auth_rest(e, rq->authorization, rq->host, rq->raw_uri, now, why, sizeof(why)) < 0) {
		fail(rs, 401, "Unauthorized", NULL, "%s", why);
		goto out;
	}
	/* every version the service published is served, each with the newest rules (apiver.h) */
	const char *ver = ops_query_get(&r, "api-version");
	if (!ver) {
		fail(rs, 400, BAD_REQUEST, "api-version", "%s",
		     "The api-version query parameter is required");
		goto out;
	}
	if (!ops_api_version_known(ver)) {
		fail(rs, 400, BAD_REQUEST, "api-version", "Unsupported api-version '%.32s'", ver);
		goto out;
	}
	if (service_checks(&r, rs) < 0)
		goto out;
	if (ops_validate_query(&r, &oe) < 0 ||
	    ops_validate_body(&r, rq->content_type, rq->body, rq->len, e->max_body, &oe) < 0) {
		fail_ops(rs, &oe);
		goto out;
	}
	dispatch(e, r.hub ? hub_get(e->state, r.hub, 0) : NULL, &r, rq, rs, now);
out:
	free(path);
	ops_req_free(&r);
}

void rest_resp_release(struct rest_resp *rs)
{
	if (rs)
		buf_free(&rs->body);
}
