/* cli_cmd.c: the wpsgate commands: each builds one Web PubSub REST request for wpsgated. */
#include <config.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "cli.h"
#include "pct.h"

/* ---- building requests ---- */

struct req {
	struct buf pq; /* path and query, percent-encoded */
	int has_query;
};

static void req_init(struct req *r)
{
	buf_init(&r->pq, CLI_PATH_MAX);
	r->has_query = 0;
}

static void req_free(struct req *r)
{
	buf_free(&r->pq);
}

/* Append "/api/hubs/<hub>" then, for each NULL-terminated pair of (literal, value), the literal
 * and the encoded value (value NULL: literal only). */
static int req_path(struct req *r, const char *hub, ...)
{
	va_list ap;
	const char *lit, *val;
	int rc = 0;

	if (buf_puts(&r->pq, "/api/hubs/") < 0 || pct_encode(&r->pq, hub, strlen(hub)) < 0)
		return -1;
	va_start(ap, hub);
	while (rc == 0 && (lit = va_arg(ap, const char *)) != NULL) {
		val = va_arg(ap, const char *);
		if (buf_puts(&r->pq, lit) < 0 || (val != NULL && pct_encode(&r->pq, val, strlen(val)) < 0))
			rc = -1;
	}
	va_end(ap);
	return rc;
}

static int req_query(struct req *r, const char *key, const char *val)
{
	if (buf_puts(&r->pq, r->has_query ? "&" : "?") < 0 || buf_puts(&r->pq, key) < 0 ||
	    buf_puts(&r->pq, "=") < 0 || pct_encode(&r->pq, val, strlen(val)) < 0)
		return -1;
	r->has_query = 1;
	return 0;
}

static int req_query_strv(struct req *r, const char *key, const struct cli_strv *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (req_query(r, key, s->v[i]) < 0)
			return -1;
	return 0;
}

static int req_query_long(struct req *r, const char *key, long v)
{
	char num[32];

	if (v < 0)
		return 0;
	snprintf(num, sizeof(num), "%ld", v);
	return req_query(r, key, num);
}

static int too_long(void)
{
	return cli_usage_error("the request would be longer than %d bytes", CLI_PATH_MAX);
}

/* ---- checking options ---- */

static int need(const struct cli_opts *o, enum cli_opt which, const char *name)
{
	if (!(o->seen & OB(which)))
		return cli_usage_error("%s is required (see --help)", name);
	return 0;
}

static int one_group(const struct cli_opts *o)
{
	if (o->groups.n == 0)
		return cli_usage_error("--group is required (see --help)");
	if (o->groups.n > 1)
		return cli_usage_error("--group given more than once");
	return 0;
}

static const char *ctype_name(enum cli_ctype t)
{
	switch (t) {
	case CT_JSON: return "application/json";
	case CT_BINARY: return "application/octet-stream";
	default: return "text/plain";
	}
}

/* Send and map the answer: 2xx -> CLI_OK, else the printed error. */
static int call(struct cli_http *h, const char *method, const struct req *r, const char *ctype,
                const void *body, size_t len, const char *what)
{
	struct cli_resp resp;
	int rc;

	resp_init(&resp);
	rc = cli_http_do(h, method, r->pq.data, ctype, body, len, &resp);
	if (rc == 0)
		rc = resp.status >= 200 && resp.status < 300 ? CLI_OK : resp_error(&resp, what);
	resp_free(&resp);
	return rc;
}

/* HEAD for the `exists`/`check` commands: 2xx -> 0, 404 -> 1 silently, anything else -> 1 printed. */
static int call_exists(struct cli_http *h, const struct req *r, const char *what)
{
	struct cli_resp resp;
	int rc;

	resp_init(&resp);
	rc = cli_http_do(h, "HEAD", r->pq.data, NULL, NULL, 0, &resp);
	if (rc == 0) {
		if (resp.status >= 200 && resp.status < 300)
			rc = CLI_OK;
		else if (resp.status == 404)
			rc = CLI_ERR_ANSWER;
		else
			rc = resp_error(&resp, what);
	}
	resp_free(&resp);
	return rc;
}

/* ---- send ---- */

static int read_stdin(struct buf *b)
{
	char chunk[65536];
	size_t n;

	while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0)
		if (buf_append(b, chunk, n) < 0)
			return cli_usage_error("the message on stdin is larger than %ld bytes",
			                       (long)CLI_BODY_MAX);
	if (ferror(stdin))
		return cli_usage_error("cannot read the message from stdin");
	return 0;
}

static int cmd_send(const struct cli_cmd *c, struct cli_opts *o, struct cli_http *h)
{
	struct req r;
	struct buf in;
	const char *body;
	size_t len;
	int ntarget, ntype, rc;

	req_init(&r);
	buf_init(&in, CLI_BODY_MAX);
	if ((rc = need(o, O_HUB, "--hub")) != 0)
		goto done;
	ntarget = (o->groups.n > 0) + (o->user != NULL) + (o->connection != NULL);
	ntype = !!(o->seen & OB(O_JSON)) + !!(o->seen & OB(O_TEXT)) + !!(o->seen & OB(O_BINARY));
	rc = CLI_ERR_USAGE;
	if (ntarget > 1 || o->groups.n > 1) {
		cli_usage_error("give at most one of --group, --user, --connection");
		goto done;
	}
	if (ntype > 1) {
		cli_usage_error("give at most one of --json, --text, --binary");
		goto done;
	}
	if (o->excludes.n > 0 && (o->user != NULL || o->connection != NULL)) {
		cli_usage_error("--exclude applies to sends to the hub or a group only");
		goto done;
	}
	if (o->filter != NULL && o->connection != NULL) {
		cli_usage_error("--filter does not apply to a send to one connection");
		goto done;
	}
	o->ctype = (o->seen & OB(O_JSON)) ? CT_JSON : (o->seen & OB(O_BINARY)) ? CT_BINARY : CT_TEXT;

	if (o->nargs == 1 && strcmp(o->args[0], "-") != 0) {
		body = o->args[0];
		len = strlen(body);
	} else {
		if ((rc = read_stdin(&in)) != 0)
			goto done;
		body = in.data ? in.data : "";
		len = in.len;
	}
	if (o->ctype == CT_JSON) {
		json_error_t jerr;
		json_t *j = json_loadb(body, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);

		if (j == NULL) {
			rc = cli_usage_error("the message is not valid JSON (line %d, column %d: %s)",
			                     jerr.line, jerr.column, jerr.text);
			goto done;
		}
		json_decref(j);
	}

	if (o->groups.n == 1)
		rc = req_path(&r, o->hub, "/groups/", o->groups.v[0], "/:send", NULL, NULL);
	else if (o->user != NULL)
		rc = req_path(&r, o->hub, "/users/", o->user, "/:send", NULL, NULL);
	else if (o->connection != NULL)
		rc = req_path(&r, o->hub, "/connections/", o->connection, "/:send", NULL, NULL);
	else
		rc = req_path(&r, o->hub, "/:send", NULL, NULL);
	if (rc == 0)
		rc = req_query_strv(&r, "excluded", &o->excludes);
	if (rc == 0 && o->filter != NULL)
		rc = req_query(&r, "filter", o->filter);
	if (rc == 0)
		rc = req_query_long(&r, "messageTtlSeconds", o->ttl);
	if (rc != 0) {
		rc = too_long();
		goto done;
	}
	rc = call(h, "POST", &r, ctype_name(o->ctype), body, len, "send");
done:
	buf_free(&in);
	req_free(&r);
	return rc;
}

/* ---- token ---- */

static int cmd_token(const struct cli_cmd *c, struct cli_opts *o, struct cli_http *h)
{
	struct req r;
	struct cli_resp resp;
	json_t *j = NULL, *url, *tok;
	int rc;

	req_init(&r);
	resp_init(&resp);
	if ((rc = need(o, O_HUB, "--hub")) != 0)
		goto done;
	rc = req_path(&r, o->hub, "/:generateToken", NULL, NULL);
	if (rc == 0 && o->user != NULL)
		rc = req_query(&r, "userId", o->user);
	if (rc == 0)
		rc = req_query_strv(&r, "role", &o->roles);
	if (rc == 0)
		rc = req_query_strv(&r, "group", &o->groups);
	if (rc == 0)
		rc = req_query_long(&r, "minutesToExpire", o->minutes);
	if (rc == 0 && o->mqtt)
		rc = req_query(&r, "clientType", "MQTT");
	if (rc != 0) {
		rc = too_long();
		goto done;
	}
	if ((rc = cli_http_do(h, "POST", r.pq.data, NULL, NULL, 0, &resp)) != 0)
		goto done;
	if (resp.status < 200 || resp.status >= 300) {
		rc = resp_error(&resp, "token");
		goto done;
	}
	j = json_loadb(resp.body.data ? resp.body.data : "", resp.body.len, 0, NULL);
	url = json_object_get(j, "url");
	tok = json_object_get(j, "token");
	if (!json_is_object(j) || !json_is_string(tok)) {
		cli_warn("token: the gateway's answer is not a token object");
		rc = CLI_ERR_ANSWER;
	} else if (o->seen & OB(O_JSON)) {
		json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		putchar('\n');
	} else if (json_is_string(url)) {
		printf("%s\n", json_string_value(url));
	} else {
		/* a service that signs the token itself (Entra ID) answers {"token"} only */
		cli_warn("token: the answer has no client URL; printing the token");
		printf("%s\n", json_string_value(tok));
	}
done:
	json_decref(j);
	resp_free(&resp);
	req_free(&r);
	return rc;
}

/* ---- group ---- */

/* {"groups":[...],"filter":"..."} for :addToGroups / :removeFromGroups; a new string. */
static char *groups_body(const struct cli_opts *o)
{
	json_t *j = json_object(), *arr = json_array();
	char *s = NULL;
	size_t i;

	if (j == NULL || arr == NULL)
		goto done;
	for (i = 0; i < o->groups.n; i++)
		if (json_array_append_new(arr, json_string(o->groups.v[i])) < 0)
			goto done;
	if (json_object_set(j, "groups", arr) < 0 ||
	    json_object_set_new(j, "filter", json_string(o->filter)) < 0)
		goto done;
	s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
done:
	json_decref(arr);
	json_decref(j);
	return s;
}

static int group_membership(const struct cli_cmd *c, struct cli_opts *o, struct cli_http *h, int add)
{
	const char *method = add ? "PUT" : "DELETE";
	const char *what = add ? "group add" : "group remove";
	struct req r;
	char *body = NULL;
	int n, rc;

	req_init(&r);
	if ((rc = need(o, O_HUB, "--hub")) != 0)
		goto done;
	rc = CLI_ERR_USAGE;
	n = (o->connection != NULL) + (o->user != NULL) + (o->filter != NULL);
	if (n != 1) {
		cli_usage_error("give exactly one of --connection, --user, --filter");
		goto done;
	}
	if (o->filter != NULL) {
		if (o->groups.n == 0) {
			cli_usage_error("--group is required (see --help)");
			goto done;
		}
		if ((body = groups_body(o)) == NULL ||
		    req_path(&r, o->hub, add ? "/:addToGroups" : "/:removeFromGroups", NULL, NULL) != 0) {
			cli_usage_error("out of memory");
			goto done;
		}
		rc = call(h, "POST", &r, "application/json", body, strlen(body), what);
		goto done;
	}
	if ((rc = one_group(o)) != 0)
		goto done;
	if (o->connection != NULL)
		rc = req_path(&r, o->hub, "/groups/", o->groups.v[0], "/connections/", o->connection, NULL,
		              NULL);
	else
		rc = req_path(&r, o->hub, "/users/", o->user, "/groups/", o->groups.v[0], NULL, NULL);
	rc = rc != 0 ? too_long() : call(h, method, &r, NULL, NULL, 0, what);
done:
	free(body);
	req_free(&r);
	return rc;
}

static int cmd_group_add(const struct cli_cmd *c, struct cli_opts *o, struct cli_http *h)
{
	return group_membership(c, o, h, 1);
}

static int cmd_group_remove(const struct cli_cmd *c, struct cli_opts *o, struct cli_http *h)
{
	return group_membership(c, o, h, 0);
}

static int cmd_group_exists(const struct cli_cmd *c, struct cli_opts *o, struct cli_http *h)
{
	struct req r;
	int rc;

	req_init(&r);
	if ((rc = need(o, O_HUB, "--hub")) == 0 && (rc = one_group(o)) == 0)
		rc = req_path(&r, o->hub, "/groups/", o->groups.v[0], NULL, NULL) != 0
		             ? too_long()
		             : call_exists(h, &r, "group exists");
	req_free(&r);
	return rc;
}

/* The continuationToken in a nextLink's query (a new string), or NULL. */
static char *next_token(const char *link)
{
	const char *p = strchr(link, '?');

	while (p != NULL) {
		const char *k = p + 1, *amp = strchr(k, '&');
		size_t klen = amp ? (size_t)(amp - k) : strlen(k);

		if (klen > 18 && strncmp(k, "continuationToken=", 18) == 0)
			return pct_decode(k + 18, klen - 18, 1, NULL);
		p = amp;
	}
	return NULL;
}

static int cmd_group_list(const struct cli_cmd *c, struct cli_opts *o, struct cli_http *h)
{
	struct req r;
	struct cli_resp resp;
	json_t *all = json_array(), *page = NULL;
	char *token = NULL;
	long pages = 0;
	int rc;

	req_init(&r);
	resp_init(&resp);
	if (all == NULL) {
		rc = cli_usage_error("out of memory");
		goto done;
	}
	if ((rc = need(o, O_HUB, "--hub")) != 0 || (rc = one_group(o)) != 0)
		goto done;
	for (;;) {
		json_t *value, *next, *it;
		size_t i;
		char *ntok;

		buf_reset(&r.pq);
		r.has_query = 0;
		rc = req_path(&r, o->hub, "/groups/", o->groups.v[0], "/connections", NULL, NULL);
		if (rc == 0)
			rc = req_query_long(&r, "maxpagesize", o->maxpagesize);
		if (rc == 0)
			rc = req_query_long(&r, "top", o->top);
		if (rc == 0 && token != NULL)
			rc = req_query(&r, "continuationToken", token);
		if (rc != 0) {
			rc = too_long();
			goto done;
		}
		resp_free(&resp);
		resp_init(&resp);
		if ((rc = cli_http_do(h, "GET", r.pq.data, NULL, NULL, 0, &resp)) != 0)
			goto done;
		if (resp.status != 200) {
			rc = resp_error(&resp, "group list");
			goto done;
		}
		json_decref(page);
		page = json_loadb(resp.body.data ? resp.body.data : "", resp.body.len, 0, NULL);
		value = json_object_get(page, "value");
		if (!json_is_array(value)) {
			cli_warn("group list: the answer has no \"value\" array");
			rc = CLI_ERR_ANSWER;
			goto done;
		}
		json_array_foreach(value, i, it)
		{
			if (o->top > 0 && (long)json_array_size(all) >= o->top)
				break;
			json_array_append(all, it);
		}
		next = json_object_get(page, "nextLink");
		if (!json_is_string(next) || (o->top > 0 && (long)json_array_size(all) >= o->top))
			break;
		ntok = next_token(json_string_value(next));
		if (ntok == NULL || (token != NULL && strcmp(ntok, token) == 0) || ++pages >= CLI_PAGES_MAX) {
			free(ntok);
			cli_warn("group list: cannot follow the nextLink of the answer");
			rc = CLI_ERR_ANSWER;
			goto done;
		}
		free(token);
		token = ntok;
	}
	if (o->seen & OB(O_JSON)) {
		json_dumpf(all, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		putchar('\n');
	} else {
		size_t i;
		json_t *it;

		json_array_foreach(all, i, it)
		{
			const char *cid = json_string_value(json_object_get(it, "connectionId"));
			const char *uid = json_string_value(json_object_get(it, "userId"));

			printf("%s\t%s\n", cid ? cid : "", uid ? uid : "");
		}
	}
	rc = CLI_OK;
done:
	free(token);
	json_decref(page);
	json_decref(all);
	resp_free(&resp);
	req_free(&r);
	return rc;
}

/* Send r (built when rc is 0, too long otherwise) without a body: HEAD answers exists / does not exist.
 * Frees r. */
static int send_built(struct cli_http *h, struct req *r, int rc, const char *method, const char *what)
{
	if (rc != 0)
		rc = too_long();
	else if (strcmp(method, "HEAD") == 0)
		rc = call_exists(h, r, what);
	else
		rc = call(h, method, r, NULL, NULL, 0, what);
	req_free(r);
	return rc;
}

/* POST .../:closeConnections with excluded* and reason; path_lit/path_val name the scope. */
static int close_scope(struct cli_opts *o, struct cli_http *h, const char *lit, const char *val,
                       const char *what)
{
	struct req r;
	int rc;

	req_init(&r);
	rc = val != NULL ? req_path(&r, o->hub, lit, val, "/:closeConnections", NULL, NULL)
	                 : req_path(&r, o->hub, "/:closeConnections", NULL, NULL);
	if (rc == 0)
		rc = req_query_strv(&r, "excluded", &o->excludes);
	if (rc == 0 && o->reason != NULL)
		rc = req_query(&r, "reason", o->reason);
	return send_built(h, &r, rc, "POST", what);
}

static int cmd_group_close(const struct cli_cmd *c, struct cli_opts *o, struct cli_http *h)
{
	int rc;

	if ((rc = need(o, O_HUB, "--hub")) != 0 || (rc = one_group(o)) != 0)
		return rc;
	return close_scope(o, h, "/groups/", o->groups.v[0], "group close");
}

/* ---- user ---- */

/* A request on /api/hubs/H/<kind>/<id><suffix> with no query: the common shape of the simple commands. */
static int simple(struct cli_opts *o, struct cli_http *h, enum cli_opt need_opt, const char *need_name,
                  const char *kind, const char *id, const char *suffix, const char *method, const char *what)
{
	struct req r;
	int rc;

	if ((rc = need(o, O_HUB, "--hub")) != 0 || (rc = need(o, need_opt, need_name)) != 0)
		return rc;
	req_init(&r);
	rc = req_path(&r, o->hub, kind, id, suffix, NULL, NULL);
	if (rc == 0 && o->reason != NULL)
		rc = req_query(&r, "reason", o->reason);
	return send_built(h, &r, rc, method, what);
}

static int cmd_user_exists(const struct cli_cmd *c, struct cli_opts *o, struct cli_http *h)
{
	return simple(o, h, O_USER, "--user", "/users/", o->user, "", "HEAD", "user exists");
}

static int cmd_user_close(const struct cli_cmd *c, struct cli_opts *o, struct cli_http *h)
{
	int rc;

	if ((rc = need(o, O_HUB, "--hub")) != 0 || (rc = need(o, O_USER, "--user")) != 0)
		return rc;
	return close_scope(o, h, "/users/", o->user, "user close");
}

static int cmd_user_ungroup(const struct cli_cmd *c, struct cli_opts *o, struct cli_http *h)
{
	return simple(o, h, O_USER, "--user", "/users/", o->user, "/groups", "DELETE",
	              "user remove-from-groups");
}

/* ---- connection ---- */

static int cmd_conn_exists(const struct cli_cmd *c, struct cli_opts *o, struct cli_http *h)
{
	return simple(o, h, O_CONNECTION, "--connection", "/connections/", o->connection, "", "HEAD",
	              "connection exists");
}

static int cmd_conn_close(const struct cli_cmd *c, struct cli_opts *o, struct cli_http *h)
{
	return simple(o, h, O_CONNECTION, "--connection", "/connections/", o->connection, "", "DELETE",
	              "connection close");
}

static int cmd_conn_close_all(const struct cli_cmd *c, struct cli_opts *o, struct cli_http *h)
{
	int rc;

	if ((rc = need(o, O_HUB, "--hub")) != 0)
		return rc;
	return close_scope(o, h, NULL, NULL, "connection close-all");
}

static int cmd_conn_ungroup(const struct cli_cmd *c, struct cli_opts *o, struct cli_http *h)
{
	return simple(o, h, O_CONNECTION, "--connection", "/connections/", o->connection, "/groups", "DELETE",
	              "connection remove-from-groups");
}

/* ---- permission ---- */

static int permission(struct cli_opts *o, struct cli_http *h, const char *method, const char *what)
{
	struct req r;
	int rc;

	if ((rc = need(o, O_HUB, "--hub")) != 0 || (rc = need(o, O_CONNECTION, "--connection")) != 0 ||
	    (rc = need(o, O_PERMISSION, "--permission")) != 0)
		return rc;
	if (strcmp(o->permission, "sendToGroup") != 0 && strcmp(o->permission, "joinLeaveGroup") != 0)
		return cli_usage_error("--permission must be sendToGroup or joinLeaveGroup");
	req_init(&r);
	rc = req_path(&r, o->hub, "/permissions/", o->permission, "/connections/", o->connection, NULL, NULL);
	if (rc == 0 && o->target != NULL)
		rc = req_query(&r, "targetName", o->target);
	return send_built(h, &r, rc, method, what);
}

static int cmd_perm_grant(const struct cli_cmd *c, struct cli_opts *o, struct cli_http *h)
{
	return permission(o, h, "PUT", "permission grant");
}

static int cmd_perm_revoke(const struct cli_cmd *c, struct cli_opts *o, struct cli_http *h)
{
	return permission(o, h, "DELETE", "permission revoke");
}

static int cmd_perm_check(const struct cli_cmd *c, struct cli_opts *o, struct cli_http *h)
{
	return permission(o, h, "HEAD", "permission check");
}

/* ---- the table ---- */

#define H_  OB(O_HUB)
#define HG_ (OB(O_HUB) | OB(O_GROUP))
#define HU_ (OB(O_HUB) | OB(O_USER))
#define HC_ (OB(O_HUB) | OB(O_CONNECTION))

const struct cli_cmd cli_commands[] = {
	{ NULL, "send",
	  H_ | OB(O_GROUP) | OB(O_USER) | OB(O_CONNECTION) | OB(O_JSON) | OB(O_TEXT) | OB(O_BINARY) |
	          OB(O_EXCLUDE) | OB(O_FILTER) | OB(O_TTL),
	  1, cmd_send,
	  "wpsgate send --hub H [--group G | --user U | --connection C] [--json | --text | --binary]\n"
	  "                    [--exclude ID]... [--filter F] [--ttl S] [DATA | -]",
	  "Send a message to every connection of hub H, or to a group, a user or one connection.\n"
	  "DATA is sent byte for byte; without DATA or with `-` the message is read from stdin.\n"
	  "  --json, --text, --binary   Content-Type application/json (checked to be JSON), text/plain\n"
	  "                             (the default), or application/octet-stream\n"
	  "  --exclude ID               leave out this connection (repeatable; hub and group sends)\n"
	  "  --filter F                 an OData filter, e.g. \"userId ne 'bob'\" (not for --connection)\n"
	  "  --ttl S                    drop the message if not delivered within S seconds (0..300)\n" },
	{ NULL, "token", H_ | OB(O_USER) | OB(O_ROLE) | OB(O_GROUP) | OB(O_MINUTES) | OB(O_MQTT) |
	          OB(O_CLIENT_TYPE) | OB(O_JSON),
	  0, cmd_token,
	  "wpsgate token --hub H [--user U] [--role R]... [--group G]... [--minutes N]\n"
	  "              [--mqtt | --client-type default|mqtt] [--json]",
	  "Print a client access URL (wss://.../client/hubs/H?access_token=...) for a WebSocket client.\n"
	  "  --user U       the userId of the client\n"
	  "  --role R       a role, e.g. webpubsub.joinLeaveGroup or webpubsub.sendToGroup.G (repeatable)\n"
	  "  --group G      a group the client joins on connect (repeatable)\n"
	  "  --minutes N    lifetime of the token (default 60)\n"
	  "  --mqtt         a URL for an MQTT client\n"
	  "  --client-type T\n"
	  "                 the service's clientType: default or mqtt (any case; mqtt is --mqtt)\n"
	  "  --json         print the whole answer {\"token\",\"baseUrl\",\"url\"}\n" },
	{ "group", "add", HG_ | OB(O_CONNECTION) | OB(O_USER) | OB(O_FILTER), 0, cmd_group_add,
	  "wpsgate group add --hub H --group G (--connection C | --user U | --filter F)",
	  "Add a connection or every connection of a user to group G. With --filter, add the connections\n"
	  "that match the OData filter to every --group given (repeatable).\n" },
	{ "group", "remove", HG_ | OB(O_CONNECTION) | OB(O_USER) | OB(O_FILTER), 0, cmd_group_remove,
	  "wpsgate group remove --hub H --group G (--connection C | --user U | --filter F)",
	  "Remove a connection or a user from group G. With --filter, remove the connections that match\n"
	  "the OData filter from every --group given (repeatable).\n" },
	{ "group", "exists", HG_, 0, cmd_group_exists, "wpsgate group exists --hub H --group G",
	  "Exit 0 when group G has a connection, 1 when not.\n" },
	{ "group", "list", HG_ | OB(O_JSON) | OB(O_TOP) | OB(O_MAXPAGESIZE), 0, cmd_group_list,
	  "wpsgate group list --hub H --group G [--top N] [--max-page-size N] [--json]",
	  "List the connections in group G, one per line: connectionId, a tab, userId. Pages are followed.\n"
	  "  --top N            at most N connections\n"
	  "  --max-page-size N  connections per page asked of the service (1..200)\n"
	  "  --json             print a JSON array of {\"connectionId\",\"userId\"}\n" },
	{ "group", "close", HG_ | OB(O_EXCLUDE) | OB(O_REASON), 0, cmd_group_close,
	  "wpsgate group close --hub H --group G [--exclude ID]... [--reason R]",
	  "Close every connection in group G, except the --exclude ones; R is told to the clients.\n" },
	{ "user", "exists", HU_, 0, cmd_user_exists, "wpsgate user exists --hub H --user U",
	  "Exit 0 when user U has a connection, 1 when not.\n" },
	{ "user", "close", HU_ | OB(O_EXCLUDE) | OB(O_REASON), 0, cmd_user_close,
	  "wpsgate user close --hub H --user U [--exclude ID]... [--reason R]",
	  "Close every connection of user U, except the --exclude ones.\n" },
	{ "user", "remove-from-groups", HU_, 0, cmd_user_ungroup,
	  "wpsgate user remove-from-groups --hub H --user U", "Remove user U from every group.\n" },
	{ "connection", "exists", HC_, 0, cmd_conn_exists, "wpsgate connection exists --hub H --connection C",
	  "Exit 0 when connection C is open, 1 when not.\n" },
	{ "connection", "close", HC_ | OB(O_REASON), 0, cmd_conn_close,
	  "wpsgate connection close --hub H --connection C [--reason R]",
	  "Close connection C; R is told to the client.\n" },
	{ "connection", "close-all", H_ | OB(O_EXCLUDE) | OB(O_REASON), 0, cmd_conn_close_all,
	  "wpsgate connection close-all --hub H [--exclude ID]... [--reason R]",
	  "Close every connection of hub H, except the --exclude ones.\n" },
	{ "connection", "remove-from-groups", HC_, 0, cmd_conn_ungroup,
	  "wpsgate connection remove-from-groups --hub H --connection C",
	  "Remove connection C from every group.\n" },
	{ "permission", "grant", HC_ | OB(O_PERMISSION) | OB(O_TARGET), 0, cmd_perm_grant,
	  "wpsgate permission grant --hub H --connection C --permission P [--target G]",
	  "Grant P (sendToGroup or joinLeaveGroup) to connection C, for group G or for every group.\n" },
	{ "permission", "revoke", HC_ | OB(O_PERMISSION) | OB(O_TARGET), 0, cmd_perm_revoke,
	  "wpsgate permission revoke --hub H --connection C --permission P [--target G]",
	  "Revoke P (sendToGroup or joinLeaveGroup) from connection C.\n" },
	{ "permission", "check", HC_ | OB(O_PERMISSION) | OB(O_TARGET), 0, cmd_perm_check,
	  "wpsgate permission check --hub H --connection C --permission P [--target G]",
	  "Exit 0 when connection C has P (for group G), 1 when not.\n" },
	{ NULL, "status", OB(O_JSON), 0, cmd_status, "wpsgate status [--json]",
	  "Show whether the gateway is alive (/healthz) and ready (/readyz), and key figures from /metrics.\n"
	  "Exit 0 when alive and ready (or readiness is not served), 1 when not, 3 when unreachable.\n"
	  "  --json     print {\"gateway\",\"health\",\"readiness\",\"metrics\"} as JSON\n" },
	{ NULL, NULL, 0, 0, NULL, NULL, NULL }
};
