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

static int check_upstream(void *obj, const config_setting_t *s, struct cfgtab_err *e)
{
	const struct cfg *c = obj;

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

static const struct cfgtab_key upstream_keys[] = {
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
static const struct cfgtab_section upstream_section = CFGTAB_SECTION(
        "upstream", S, upstream_keys, check_upstream,
        "The Web PubSub resource and how the gateway signs for it: endpoint + access_key_file, a\n"
        "connection_string_file, or endpoint + entra.");

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
	CFGTAB_GROUP_KEY("upstream", 0, &upstream_section, CFGTAB_REQUIRED, "the service"),
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

/* The rules between sections. */
static int check_root(void *obj, const config_setting_t *s, struct cfgtab_err *e)
{
	const struct cfg *c = obj;

	if (c->events.nlisten > 0 && c->entra.kind != ENTRA_NONE)
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

size_t cfg_restart_keys(const struct cfg *a, const struct cfg *b, void (*fn)(const char *key, void *arg),
                        void *arg)
{
	return cfgtab_diff(&cfg_root_section, a, b, CFGTAB_RESTART, fn, arg);
}
