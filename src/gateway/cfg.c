/* cfg.c: the gateway's configuration file: the top-level table (user, listen, upstream, limits, log, and
 * a group per module's section), its rules between keys, and loading a file into struct cfg. */
#include <config.h>
#include "cfg.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "listen.h"
#include "ops.h"
#include "url.h"
#include "wpslimits.h"

#define S struct cfg

/* ---- rules of single keys ---- */

/* A name or a numeric id, resolved now so that -t names a missing one. */
static int check_group(void *field, void *obj, const config_setting_t *m, struct cfgtab_err *e)
{
	struct cfg *c = obj;
	const char *v = *(char **)field;
	const struct group *g;
	char *end;
	unsigned long id;

	errno = 0;
	id = strtoul(v, &end, 10);
	if (*v >= '0' && *v <= '9' && *end == '\0' && errno == 0 && id < 0xffffffffUL) {
		c->unix_gid = (gid_t)id;
	} else if ((g = getgrnam(v)) != NULL) {
		c->unix_gid = g->gr_gid;
	} else {
		return cfgtab_fail(e, m, "no such group");
	}
	c->unix_group_set = 1;
	return 0;
}

static int check_user(void *field, void *obj, const config_setting_t *m, struct cfgtab_err *e)
{
	struct cfg *c = obj;
	const char *v = *(char **)field;
	const struct passwd *pw;

	errno = 0;
	pw = getpwnam(v);
	if (pw == NULL && v[0] >= '0' && v[0] <= '9') {
		char *end;
		unsigned long id = strtoul(v, &end, 10);
		if (*end == '\0' && id < 0xffffffffUL)
			pw = getpwuid((uid_t)id);
	}
	if (pw == NULL)
		return cfgtab_fail(e, m, "no such user");
	c->user_uid = pw->pw_uid;
	c->user_gid = pw->pw_gid;
	return 0;
}

/* One trailing slash is dropped, so that the URLs made from the endpoint have one. */
static int check_endpoint(void *field, void *obj, const config_setting_t *m, struct cfgtab_err *e)
{
	char *v = *(char **)field, why[160];
	size_t n;

	(void)obj;
	if (!url_endpoint_ok(v, why, sizeof why))
		return cfgtab_fail(e, m, "%s", why);
	n = strlen(v);
	if (n > 0 && v[n - 1] == '/')
		v[n - 1] = '\0';
	return 0;
}

static int check_api_version(void *field, void *obj, const config_setting_t *m, struct cfgtab_err *e)
{
	(void)obj;
	if (!ops_api_version_known(*(char **)field))
		return cfgtab_fail(e, m,
		                   "not a version the service has published (wpsgated(8), API VERSIONS)");
	return 0;
}

/* ---- rules between keys ---- */

static int check_listen(void *obj, const config_setting_t *s, struct cfgtab_err *e)
{
	const struct cfg *c = obj;
	const config_setting_t *t = s != NULL ? config_setting_get_member(s, "tcp") : NULL;
	size_t i;

	if (s == NULL)
		return cfgtab_fail(e, NULL,
		                   "missing: at least one listener (listen.unix or listen.tcp) is needed");
	/* the addresses now that allow_non_loopback is known, whatever the order in the file */
	for (i = 0; i < c->ntcp; i++) {
		struct sockaddr_storage ss;
		socklen_t sslen;
		char why[128];
		int loopback;

		if (listen_parse_tcp(c->tcp[i], c->allow_non_loopback, &ss, &sslen, &loopback, why,
		                     sizeof why) < 0) {
			snprintf(e->key, sizeof e->key, "listen.tcp");
			return cfgtab_fail_entry(e, t, i, "%s", why);
		}
	}
	if (c->unix_path == NULL && c->ntcp == 0)
		return cfgtab_fail(e, s, "at least one listener (listen.unix or listen.tcp) is needed");
	return 0;
}

/* An upstream name: [A-Za-z0-9_-], so that it fits a metric label, a log value and a command line. */
static int check_up_name(void *field, void *obj, const config_setting_t *m, struct cfgtab_err *e)
{
	const char *v = *(char **)field;

	(void)obj;
	if (strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != strlen(v))
		return cfgtab_fail(e, m, "only letters, digits, '_' and '-'");
	return 0;
}

/* A hub name or a pattern of one: what a hub may hold, and '*' (any run of characters). */
static int check_hubs(void *field, void *obj, const config_setting_t *m, struct cfgtab_err *e)
{
	const struct cfg_upstream *u = obj;
	size_t i;

	(void)field;
	for (i = 0; i < u->nhubs; i++) {
		const char *h = u->hubs[i];
		int first_ok = (h[0] >= 'a' && h[0] <= 'z') || (h[0] >= 'A' && h[0] <= 'Z') || h[0] == '*';

		if (!first_ok ||
		    strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_`,.[]*") != strlen(h))
			return cfgtab_fail_entry(e, m, i,
			                         "a hub name (^[A-Za-z][A-Za-z0-9_`,.[\\]]*$), or a pattern of "
			                         "one with '*' (any characters)");
	}
	return 0;
}

static int check_upstream(void *obj, const config_setting_t *s, struct cfgtab_err *e)
{
	const struct cfg_upstream *c = obj;

	if (s == NULL) /* absent: `upstreams` instead (check_root) */
		return 0;

	if (c->entra.kind != ENTRA_NONE) {
		if (c->access_key_file != NULL || c->connection_string_file != NULL)
			return cfgtab_fail_member(e, s, "entra",
			                          "cannot be combined with upstream.access_key_file or "
			                          "upstream.connection_string_file");
		if (c->endpoint == NULL)
			return cfgtab_fail_member(e, s, "endpoint", "missing (needed with upstream.entra)");
		return 0;
	}
	if ((c->access_key_file == NULL) == (c->connection_string_file == NULL))
		return cfgtab_fail_member(
		        e, s, "access_key_file",
		        "exactly one of upstream.access_key_file and upstream.connection_string_file "
		        "is needed");
	if (c->access_key_file != NULL && c->endpoint == NULL)
		return cfgtab_fail_member(e, s, "endpoint", "missing (needed with upstream.access_key_file)");
	return 0;
}

/* ---- the tables ---- */

static const struct cfgtab_key unix_keys[] = {
	CFGTAB_STRING_KEY(S, unix_path, "path", NULL, 107,
	                  CFGTAB_REQUIRED | CFGTAB_ABSPATH | CFGTAB_RESTART | CFGTAB_SHOWN, NULL,
	                  "\"/run/wpsgate/wpsgate.sock\"", "the socket file the applications post to"),
	CFGTAB_OCTAL_KEY(S, unix_mode, "mode", 0660, 0, 0777, CFGTAB_RESTART, "its mode, as an octal string"),
	CFGTAB_STRING_KEY(S, unix_group, "group", NULL, 64, CFGTAB_RESTART | CFGTAB_SHOWN, check_group,
	                  "\"wpsgate\"", "its group (name or number): the members of it may use the gateway"),
};
static const struct cfgtab_section unix_section = CFGTAB_SECTION(
        "listen.unix", S, unix_keys, NULL,
        "The Unix socket the applications post to. The file is created with this mode and group; a stale\n"
        "socket left by a crash is replaced, a live one (another wpsgated) is never taken over.");

static const struct cfgtab_key listen_keys[] = {
	CFGTAB_GROUP_KEY("unix", 0, &unix_section, CFGTAB_SHOWN, "the Unix socket"),
	CFGTAB_STRINGS_KEY(S, tcp, ntcp, "tcp", CFG_TCP_MAX, 300, CFGTAB_RESTART | CFGTAB_SHOWN, NULL,
	                   "[ \"127.0.0.1:7080\" ]",
	                   "TCP addresses: \"127.0.0.1:PORT\", \"[::1]:PORT\" or \"localhost:PORT\""),
	CFGTAB_BOOL_KEY(S, allow_non_loopback, "allow_non_loopback", 0, CFGTAB_RESTART,
	                "accept a TCP address that is not loopback (logged as a warning)"),
};
static const struct cfgtab_section listen_section = CFGTAB_SECTION(
        "listen", S, listen_keys, check_listen,
        "Where the applications reach the gateway: at least one of unix and tcp. TCP is loopback only\n"
        "unless allow_non_loopback = true (anyone who can reach it can send through it). Under systemd\n"
        "socket activation (wpsgated.socket) the passed sockets replace both. Restart to change.");

static const char *const http_version_names[] = { "2", "1.1", NULL };
static const int http_version_values[] = { CFG_HTTP_2, CFG_HTTP_1_1 };
#undef S
#define S struct cfg_upstream

static const struct cfgtab_key upstream_keys[] = {
	CFGTAB_STRING_KEY(S, name, "name", NULL, CFG_UPSTREAM_NAME_MAX - 1, 0, check_up_name, "\"prod\"",
	                  "its name in log lines (upstream=NAME) and errors (required in "
	                  "upstreams; the single upstream section is \"default\")"),
	CFGTAB_STRINGS_KEY(S, hubs, nhubs, "hubs", CFG_HUBS_MAX, 128, 0, check_hubs, "[ \"chat\", \"app_*\" ]",
	                   "hub names and '*' patterns routed here (upstreams: first match in the file wins)"),
	CFGTAB_BOOL_KEY(S, is_default, "default", 0, 0,
	                "hubs that no entry's hubs match come here (at most one upstream)"),
	CFGTAB_STRING_KEY(S, endpoint, "endpoint", NULL, 2048, CFGTAB_SHOWN, check_endpoint,
	                  "\"https://NAME.webpubsub.azure.com\"",
	                  "the Web PubSub resource: https://, or http:// on a loopback host"),
	CFGTAB_STRING_KEY(
	        S, reverse_proxy, "reverse_proxy_endpoint", NULL, 2048, CFGTAB_SHOWN, check_endpoint,
	        "\"https://NAME.azure-api.net\"",
	        "send requests to this proxy (an API gateway such as Azure API Management) instead; "
	        "tokens stay made for the endpoint"),
	CFGTAB_STRING_KEY(S, access_key_file, "access_key_file", NULL, 4096, CFGTAB_SHOWN, NULL,
	                  "\"access-key\"",
	                  "the access key alone on one line, mode 0600 or 0400; a name without '/' is in "
	                  "$CREDENTIALS_DIRECTORY"),
	CFGTAB_STRING_KEY(S, connection_string_file, "connection_string_file", NULL, 4096, 0, NULL,
	                  "\"connection-string\"",
	                  "or instead of endpoint + access_key_file: a file with the connection string"),
	CFGTAB_STRING_KEY(
	        S, api_version, "api_version", WPS_DEFAULT_API_VERSION, 32, 0, check_api_version, NULL,
	        "sent when the application's request has none; one it gives is forwarded unchanged"),
	CFGTAB_INT_KEY(S, timeout_ms, "timeout_ms", WPS_DEFAULT_TIMEOUT_MS, 100, 600000, 0,
	               "deadline of one request, retries included; past it: 504"),
	CFGTAB_STRING_KEY(S, ca_file, "ca_file", NULL, 4096, 0, NULL,
	                  "\"/etc/ssl/certs/ca-certificates.crt\"",
	                  "CA certificates (PEM) to verify the service (default: the system's store)"),
	CFGTAB_INT_KEY(S, up_max_connections, "max_connections", WPS_DEFAULT_UPSTREAM_CONNS, 1, 1024, 0,
	               "connections to the service (HTTP/2 multiplexes over them)"),
	CFGTAB_ENUM_KEY(S, up_http_version, "http_version", CFG_HTTP_2, http_version_names,
	                http_version_values, 0,
	                "\"2\": HTTP/2 over TLS, many requests on each connection; \"1.1\": one at a time"),
	CFGTAB_INT_KEY(S, max_response_bytes, "max_response_bytes", CFG_DEFAULT_MAX_RESPONSE, 1024,
	               64L * 1024 * 1024, 0, "a larger response body from the service is answered 502"),
	CFGTAB_INT_KEY(S, attempt_timeout_ms, "attempt_timeout_ms", CFG_DEFAULT_ATTEMPT_TIMEOUT_MS, 100,
	               600000, 0, "one attempt; a hung attempt is retried within timeout_ms"),
	CFGTAB_GROUP_KEY("entra", offsetof(S, entra), &entra_cfg_section, 0, "Microsoft Entra ID"),
};
const struct cfgtab_section cfg_upstream_section = CFGTAB_SECTION(
        "upstream", S, upstream_keys, check_upstream,
        "The Web PubSub resource and how the gateway signs for it: endpoint + access_key_file, a\n"
        "connection_string_file, or endpoint + entra. Several resources: `upstreams = ( { name = ...;\n"
        "hubs = [ ... ]; ...the same keys... }, ... );` instead (wpsgate.conf(5), UPSTREAMS).");

#undef S
#define S struct cfg

static const struct cfgtab_key limits_keys[] = {
	CFGTAB_INT_KEY(S, max_body_bytes, "max_body_bytes", WPS_DEFAULT_BODY_MAX, 1, 16L * 1024 * 1024, 0,
	               "request bodies (413 beyond)"),
	CFGTAB_INT_KEY(S, max_connections, "max_connections", WPS_DEFAULT_MAX_CONNECTIONS, 1, 65536,
	               CFGTAB_RESTART, "application connections per listener"),
	CFGTAB_INT_KEY(S, max_inflight, "max_inflight", WPS_DEFAULT_MAX_INFLIGHT, 1, 1000000, 0,
	               "requests waiting on the service at once (503 ServerBusy beyond)"),
	CFGTAB_INT_KEY(S, idle_timeout_s, "idle_timeout_s", CFG_DEFAULT_IDLE_TIMEOUT_S, 1, 3600,
	               CFGTAB_RESTART, "an idle application connection is closed after this"),
	CFGTAB_INT_KEY(S, request_timeout_s, "request_timeout_s", CFG_DEFAULT_REQUEST_TIMEOUT_S, 0, 3600, 0,
	               "a whole request must arrive within this, or its connection is shut (0: off)"),
	CFGTAB_INT_KEY(S, max_header_bytes, "max_header_bytes", CFG_DEFAULT_HEADER_BYTES, 1024, 1024L * 1024,
	               CFGTAB_RESTART, "request line and headers (431 beyond)"),
	CFGTAB_INT_KEY(S, shutdown_grace_ms, "shutdown_grace_ms", CFG_DEFAULT_SHUTDOWN_GRACE_MS, 0, 600000, 0,
	               "on SIGTERM requests in flight get this long before a 503 ShuttingDown"),
};
static const struct cfgtab_section limits_section =
        CFGTAB_SECTION("limits", S, limits_keys, NULL, "Bounds on what applications may send and hold.");

static const char *const level_names[] = { "err", "warn", "info", "debug", NULL };
static const int level_values[] = { WLOG_ERR, WLOG_WARN, WLOG_INFO, WLOG_DEBUG };
static const char *const format_names[] = { "logfmt", "json", NULL };
static const int format_values[] = { WLOG_FMT_LOGFMT, WLOG_FMT_JSON };

static const struct cfgtab_key log_keys[] = {
	CFGTAB_ENUM_KEY(S, log_level, "level", WLOG_INFO, level_names, level_values, 0,
	                "info: one line per request; debug: HTTP exchanges, redacted"),
	CFGTAB_ENUM_KEY(S, log_format, "format", WLOG_FMT_LOGFMT, format_names, format_values, 0,
	                "always to stderr (the journal under systemd)"),
};
static const struct cfgtab_section log_section = CFGTAB_SECTION("log", S, log_keys, NULL, "Logging.");

static const struct cfgtab_key root_keys[] = {
	CFGTAB_STRING_KEY(S, user, "user", NULL, CFG_USER_MAX - 1, CFGTAB_RESTART, check_user, "\"wpsgate\"",
	                  "started as root, switch to this user (name or uid) once the sockets are open "
	                  "(unset under systemd)"),
	CFGTAB_GROUP_KEY("listen", 0, &listen_section, CFGTAB_SHOWN, "the application side"),
	CFGTAB_GROUP_KEY("upstream", offsetof(S, up0), &cfg_upstream_section, CFGTAB_SHOWN,
	                 "the service (or upstreams)"),
	CFGTAB_LIST_KEY(S, upstreams, nupstreams, "upstreams", CFG_UPSTREAMS_MAX, &cfg_upstream_section, 0,
	                NULL, "several services, each named, routed by hub (instead of upstream)"),
	CFGTAB_GROUP_KEY("retry", offsetof(S, retry), &retry_cfg_section, CFGTAB_SHOWN, "retries"),
	CFGTAB_GROUP_KEY("outbox", offsetof(S, outbox), &outbox_cfg_section, 0, "the durable outbox"),
	CFGTAB_GROUP_KEY("batch", offsetof(S, batch), &batch_cfg_section, CFGTAB_SHOWN, "$batch"),
	CFGTAB_GROUP_KEY("metrics", offsetof(S, metrics), &metrics_cfg_section, CFGTAB_SHOWN, "monitoring"),
	CFGTAB_GROUP_KEY("access", offsetof(S, access), &access_cfg_section, CFGTAB_SHOWN, "access rules"),
	CFGTAB_GROUP_KEY("guard", offsetof(S, guard), &guard_cfg_section, CFGTAB_SHOWN,
	                 "the TCP browser guard"),
	CFGTAB_GROUP_KEY("ratelimit", offsetof(S, ratelimit), &ratelimit_cfg_section, CFGTAB_SHOWN,
	                 "rate limits"),
	CFGTAB_GROUP_KEY("events", offsetof(S, events), &events_cfg_section, 0,
	                 "the service's calls to the event handler"),
	CFGTAB_GROUP_KEY("limits", 0, &limits_section, CFGTAB_SHOWN, "limits"),
	CFGTAB_GROUP_KEY("log", 0, &log_section, CFGTAB_SHOWN, "logging"),
};

/* Two hubs entries of different upstreams, a of the earlier (i) and b of the later (j), are ambiguous
 * when a hub may match both, unless a is an exact name (a deliberate exception before a pattern). */
static int hubs_ambiguous(const char *a, const char *b)
{
	return strchr(a, '*') != NULL ? cfg_hubs_overlap(a, b) : strcmp(a, b) == 0;
}

static int check_upstreams(struct cfg *c, const config_setting_t *s, struct cfgtab_err *e)
{
	const config_setting_t *list = s != NULL ? config_setting_get_member(s, "upstreams") : NULL;
	size_t i, j, hi, hj;

	c->default_up = CFG_NO_UPSTREAM;
	for (i = 0; i < c->nupstreams; i++) {
		const struct cfg_upstream *u = &c->upstreams[i];

		snprintf(e->key, sizeof e->key, "upstreams");
		if (u->name == NULL)
			return cfgtab_fail_entry(e, list, i, "missing: name");
		if (u->entra.kind == ENTRA_NONE && u->access_key_file == NULL &&
		    u->connection_string_file == NULL)
			return cfgtab_fail_entry(e, list, i,
			                         "missing: access_key_file, connection_string_file or entra");
		for (j = 0; j < i; j++)
			if (strcmp(c->upstreams[j].name, u->name) == 0)
				return cfgtab_fail_entry(e, list, i, "the name of upstreams[%zu] again", j + 1);
		if (u->is_default) {
			if (c->default_up != CFG_NO_UPSTREAM)
				return cfgtab_fail_entry(e, list, i,
				                         "default: upstreams[%zu] (\"%s\") is the default already",
				                         c->default_up + 1, c->upstreams[c->default_up].name);
			c->default_up = i;
		}
		if (u->nhubs == 0 && !u->is_default && c->nupstreams > 1)
			return cfgtab_fail_entry(e, list, i,
			                         "no request would reach it: give it hubs or default = true");
		for (j = 0; j < i; j++)
			for (hj = 0; hj < c->upstreams[j].nhubs; hj++)
				for (hi = 0; hi < u->nhubs; hi++) {
					const char *a = c->upstreams[j].hubs[hj], *b = u->hubs[hi];
					if (!hubs_ambiguous(a, b))
						continue;
					snprintf(e->key, sizeof e->key, "upstreams[%zu].hubs", i + 1);
					return cfgtab_fail_entry(
					        e, list != NULL ? config_setting_get_member(
					                                  config_setting_get_elem(list, (unsigned)i),
					                                  "hubs")
					                        : NULL,
					        hi,
					        "a hub may match both this (\"%s\") and upstreams[%zu].hubs[%zu] "
					        "(\"%s\"): routing would depend on the order; make one an exact "
					        "name listed first, or narrow the patterns",
					        u->name, j + 1, hj + 1, c->upstreams[j].name);
				}
	}
	return 0;
}

/* The rules between sections. */
static int check_root(void *obj, const config_setting_t *s, struct cfgtab_err *e)
{
	struct cfg *c = obj;
	int has_up = s != NULL && config_setting_get_member(s, "upstream") != NULL;
	size_t i;

	if (has_up && c->nupstreams > 0)
		return cfgtab_fail_member(e, s, "upstreams", "cannot be combined with upstream");
	if (!has_up && c->nupstreams == 0)
		return cfgtab_fail_member(e, s, "upstream", "missing (or upstreams)");
	if (has_up) { /* a list of one: the entry takes what the section holds */
		c->upstreams[0] = c->up0;
		memset(&c->up0, 0, sizeof c->up0);
		c->nupstreams = 1;
		if (c->upstreams[0].name == NULL && (c->upstreams[0].name = strdup("default")) == NULL)
			return cfgtab_fail(e, s, "out of memory");
	}
	if (check_upstreams(c, s, e) < 0)
		return -1;
	snprintf(e->key, sizeof e->key, "%s", "");
	for (i = 0; i < c->nupstreams; i++)
		if (c->events.nlisten > 0 && c->upstreams[i].entra.kind != ENTRA_NONE)
			return cfgtab_fail_member(
			        e, s, "events",
			        "needs the access key to verify ce-signature; with upstream.entra the "
			        "service sends a managed-identity bearer token instead, which wpsgated does "
			        "not verify (wpsgated(8), EVENTS)");
	return 0;
}

const struct cfgtab_section cfg_root_section = CFGTAB_SECTION(
        "", S, root_keys, check_root,
        "wpsgate.conf: configuration of wpsgated, the local gateway to the Azure Web PubSub REST API.\n"
        "libconfig syntax: `key = value;`, groups in { }, arrays in [ ], lists in ( ). Every key, its\n"
        "default and its range: wpsgate.conf(5). Check a file with `wpsgated -c FILE -t`. Unknown keys\n"
        "are errors, so a typo is never silent. SIGHUP (systemctl reload wpsgated) re-reads the file and\n"
        "the credentials; a file that does not validate is refused and the running one stays. Keys marked\n"
        "\"restart\" in wpsgate.conf(5) take effect only after a restart.");

#undef S

/* ---- loading ---- */

int cfg_load(const char *path, struct cfg **out, char *err, size_t errlen)
{
	struct cfgtab_err e;
	struct cfg *c = NULL;
	config_t lc;
	FILE *f;
	int rc = -1;

	*out = NULL;
	config_init(&lc);
	if ((f = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		goto out;
	}
	if (config_read(&lc, f) != CONFIG_TRUE) {
		snprintf(err, errlen, "%s:%d: syntax error: %s", path, config_error_line(&lc),
		         config_error_text(&lc) ? config_error_text(&lc) : "?");
		fclose(f);
		goto out;
	}
	fclose(f);
	if ((c = calloc(1, sizeof *c)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto out;
	}
	if (cfgtab_read(&cfg_root_section, config_root_setting(&lc), c, &e) < 0) {
		cfgtab_err_format(&e, path, err, errlen);
		goto out;
	}
	if ((c->file = strdup(path)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto out;
	}
	*out = c;
	c = NULL;
	rc = 0;
out:
	cfg_free(c);
	config_destroy(&lc);
	return rc;
}

void cfg_free(struct cfg *c)
{
	if (c == NULL)
		return;
	cfgtab_clear(&cfg_root_section, c);
	free(c->file);
	free(c);
}

/* ---- routing ---- */

int cfg_hub_match(const char *p, const char *h)
{
	/* '*' backtracking to the last star: linear enough for names of at most 128 bytes */
	const char *star = NULL, *resume = NULL;

	while (*h != '\0') {
		if (*p == '*') {
			star = p++;
			resume = h;
		} else if (*p == *h) {
			p++;
			h++;
		} else if (star != NULL) {
			p = star + 1;
			h = ++resume;
		} else {
			return 0;
		}
	}
	while (*p == '*')
		p++;
	return *p == '\0';
}

#define OVERLAP_MAX 129 /* a pattern's bytes + 1 (hubs entries are at most 128) */

/* Does some string match both a[i..] and b[j..]? memo: 0 unknown, 1 no, 2 yes. */
static int overlap_at(const char *a, const char *b, size_t i, size_t j, unsigned char (*memo)[OVERLAP_MAX])
{
	int r;

	if (memo[i][j] != 0)
		return memo[i][j] == 2;
	if (a[i] == '\0' && b[j] == '\0')
		r = 1;
	else if (a[i] == '*')
		r = overlap_at(a, b, i + 1, j, memo) || (b[j] != '\0' && overlap_at(a, b, i, j + 1, memo));
	else if (b[j] == '*')
		r = overlap_at(a, b, i, j + 1, memo) || (a[i] != '\0' && overlap_at(a, b, i + 1, j, memo));
	else
		r = a[i] != '\0' && a[i] == b[j] && overlap_at(a, b, i + 1, j + 1, memo);
	memo[i][j] = r ? 2 : 1;
	return r;
}

int cfg_hubs_overlap(const char *a, const char *b)
{
	static unsigned char memo[OVERLAP_MAX][OVERLAP_MAX];

	if (strlen(a) >= OVERLAP_MAX || strlen(b) >= OVERLAP_MAX)
		return 1; /* not checked: said to overlap */
	memset(memo, 0, sizeof memo);
	return overlap_at(a, b, 0, 0, memo);
}

size_t cfg_route(const struct cfg *c, const char *hub)
{
	size_t i, k;

	if (hub == NULL)
		return c->default_up != CFG_NO_UPSTREAM ? c->default_up : 0;
	for (i = 0; i < c->nupstreams; i++)
		for (k = 0; k < c->upstreams[i].nhubs; k++)
			if (cfg_hub_match(c->upstreams[i].hubs[k], hub))
				return i;
	if (c->default_up != CFG_NO_UPSTREAM)
		return c->default_up;
	return c->nupstreams == 1 && c->upstreams[0].nhubs == 0 ? 0 : CFG_NO_UPSTREAM;
}

size_t cfg_upstream_index(const struct cfg *c, const char *name)
{
	size_t i;

	for (i = 0; name != NULL && i < c->nupstreams; i++)
		if (strcmp(c->upstreams[i].name, name) == 0)
			return i;
	return CFG_NO_UPSTREAM;
}

size_t cfg_restart_keys(const struct cfg *a, const struct cfg *b, void (*fn)(const char *key, void *arg),
                        void *arg)
{
	return cfgtab_diff(&cfg_root_section, a, b, CFGTAB_RESTART, fn, arg);
}
