/* cfg.c: parse and validate the gateway's libconfig file into struct cfg; errors name key and line. */
#include <config.h>
#include "cfg.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "wpslimits.h"
#include "ops.h"
#include "listen.h"
#include "url.h"

/* Keys each group may hold: anything else is an error, so that a typo is never silent. Modules that
 * add keys later (retry, outbox, metrics, acl, entra) extend these lists. */
static const char *const top_keys[] = { "listen", "upstream", "limits", "log", "user", NULL };
static const char *const listen_keys[] = { "unix", "tcp", "allow_non_loopback", NULL };
static const char *const unix_keys[] = { "path", "mode", "group", NULL };
static const char *const upstream_keys[] = {
	"endpoint", "access_key_file", "connection_string_file", "api_version",        "timeout_ms",
	"ca_file",  "max_connections", "max_response_bytes",     "attempt_timeout_ms", NULL
};
static const char *const limits_keys[] = { "max_body_bytes",    "max_connections",
	                                   "max_inflight",      "idle_timeout_s",
	                                   "request_timeout_s", "max_header_bytes",
	                                   "shutdown_grace_ms", NULL };
static const char *const log_keys[] = { "level", "format", NULL };

/* Sections other modules own, kept parsed in struct cfg. */
static int load_retry(const config_setting_t *s, struct cfg *c, char *err, size_t n)
{
	return retry_cfg_parse(s, &c->retry, err, n);
}
static int load_outbox(const config_setting_t *s, struct cfg *c, char *err, size_t n)
{
	return outbox_cfg_parse(s, &c->outbox, err, n);
}
static int load_batch(const config_setting_t *s, struct cfg *c, char *err, size_t n)
{
	return batch_cfg_parse(s, &c->batch, err, n);
}
static int load_metrics(const config_setting_t *s, struct cfg *c, char *err, size_t n)
{
	return metrics_cfg_parse(s, &c->metrics, err, n);
}
static int load_access(const config_setting_t *s, struct cfg *c, char *err, size_t n)
{
	return access_cfg_parse(s, &c->access, err, n);
}
static int load_ratelimit(const config_setting_t *s, struct cfg *c, char *err, size_t n)
{
	return ratelimit_cfg_parse(s, &c->ratelimit, err, n);
}
static int load_guard(const config_setting_t *s, struct cfg *c, char *err, size_t n)
{
	return guard_cfg_parse(s, &c->guard, err, n);
}
static int load_entra(const config_setting_t *s, struct cfg *c, char *err, size_t n)
{
	return entra_cfg_parse(s, &c->entra, err, n);
}

/* Sections other modules own (see cfg.h). Add one line per module: { "outbox", check, load }. */
static const struct cfg_section sections[] = { { "retry", NULL, load_retry },
	                                       { "outbox", NULL, load_outbox },
	                                       { "batch", NULL, load_batch },
	                                       { "metrics", NULL, load_metrics },
	                                       { "access", NULL, load_access },
	                                       { "ratelimit", NULL, load_ratelimit },
	                                       { "guard", NULL, load_guard },
	                                       { "upstream.entra", NULL, load_entra },
	                                       { NULL, NULL, NULL } };

struct ctx {
	const char *file;
	char *err;
	size_t errlen;
};

__attribute__((format(printf, 4, 5))) static int fail(struct ctx *x, const config_setting_t *s,
                                                      const char *key, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (s != NULL && config_setting_source_line(s) > 0)
		snprintf(x->err, x->errlen, "%s:%u: %s: %s", x->file, config_setting_source_line(s), key,
		         msg);
	else
		snprintf(x->err, x->errlen, "%s: %s: %s", x->file, key, msg);
	return -1;
}

static void keypath(char *out, size_t n, const char *prefix, const char *name)
{
	if (prefix == NULL || *prefix == '\0')
		snprintf(out, n, "%s", name);
	else
		snprintf(out, n, "%s.%s", prefix, name);
}

/* 1 when prefix.name (or name at the top) is a registered section. */
static int is_section(const char *prefix, const char *name)
{
	const struct cfg_section *sec;
	size_t pl = prefix ? strlen(prefix) : 0;

	for (sec = sections; sec->name != NULL; sec++) {
		if (pl == 0 && strcmp(sec->name, name) == 0)
			return 1;
		if (pl > 0 && strncmp(sec->name, prefix, pl) == 0 && sec->name[pl] == '.' &&
		    strcmp(sec->name + pl + 1, name) == 0)
			return 1;
	}
	return 0;
}

static const config_setting_t *lookup_section(const config_t *lc, const char *name)
{
	const config_setting_t *s = config_root_setting(lc);
	char part[64];
	const char *p = name;

	while (s != NULL && *p != '\0') {
		size_t n = strcspn(p, ".");
		if (n >= sizeof part)
			return NULL;
		memcpy(part, p, n);
		part[n] = '\0';
		s = config_setting_get_member(s, part);
		p += n + (p[n] == '.');
	}
	return s;
}

const config_setting_t *cfg_section(const struct cfg *c, const char *name)
{
	return c->tree_ != NULL ? lookup_section(c->tree_, name) : NULL;
}

static int check_sections(struct ctx *x, const config_t *lc, struct cfg *c)
{
	const struct cfg_section *sec;

	for (sec = sections; sec->name != NULL; sec++) {
		const config_setting_t *s = lookup_section(lc, sec->name);
		char msg[400];
		int rc =
		        sec->load != NULL ? sec->load(s, c, msg, sizeof msg) : sec->check(s, msg, sizeof msg);
		if (rc < 0) {
			snprintf(x->err, x->errlen, "%s: %s", x->file, msg);
			return -1;
		}
	}
	return 0;
}

static int check_keys(struct ctx *x, const config_setting_t *grp, const char *prefix,
                      const char *const *allowed)
{
	int i, n = config_setting_length(grp);

	for (i = 0; i < n; i++) {
		const config_setting_t *s = config_setting_get_elem(grp, (unsigned)i);
		const char *name = config_setting_name(s);
		const char *const *a;
		char kp[128];

		if (name == NULL)
			continue;
		for (a = allowed; *a != NULL; a++)
			if (strcmp(*a, name) == 0)
				break;
		if (*a == NULL && !is_section(prefix, name)) {
			keypath(kp, sizeof kp, prefix, name);
			return fail(x, s, kp, "unknown key");
		}
	}
	return 0;
}

static int get_group(struct ctx *x, const config_setting_t *parent, const char *prefix, const char *name,
                     const config_setting_t **out)
{
	const config_setting_t *s = config_setting_get_member(parent, name);
	char kp[128];

	*out = NULL;
	if (s == NULL)
		return 0;
	keypath(kp, sizeof kp, prefix, name);
	if (!config_setting_is_group(s))
		return fail(x, s, kp, "must be a group { ... }");
	*out = s;
	return 0;
}

static int get_str(struct ctx *x, const config_setting_t *grp, const char *prefix, const char *name,
                   char **out)
{
	const config_setting_t *s;
	const char *v;
	char kp[128];

	if (grp == NULL || (s = config_setting_get_member(grp, name)) == NULL)
		return 0;
	keypath(kp, sizeof kp, prefix, name);
	if (config_setting_type(s) != CONFIG_TYPE_STRING)
		return fail(x, s, kp, "must be a string");
	v = config_setting_get_string(s);
	if (v == NULL || *v == '\0')
		return fail(x, s, kp, "must not be empty");
	free(*out);
	if ((*out = strdup(v)) == NULL)
		return fail(x, s, kp, "out of memory");
	return 0;
}

static int get_int(struct ctx *x, const config_setting_t *grp, const char *prefix, const char *name, long min,
                   long max, long *out)
{
	const config_setting_t *s;
	long long v;
	char kp[128];

	if (grp == NULL || (s = config_setting_get_member(grp, name)) == NULL)
		return 0;
	keypath(kp, sizeof kp, prefix, name);
	if (config_setting_type(s) == CONFIG_TYPE_INT)
		v = config_setting_get_int(s);
	else if (config_setting_type(s) == CONFIG_TYPE_INT64)
		v = config_setting_get_int64(s);
	else
		return fail(x, s, kp, "must be an integer");
	if (v < min || v > max)
		return fail(x, s, kp, "out of range (%ld..%ld)", min, max);
	*out = (long)v;
	return 0;
}

static int get_bool(struct ctx *x, const config_setting_t *grp, const char *prefix, const char *name,
                    int *out)
{
	const config_setting_t *s;
	char kp[128];

	if (grp == NULL || (s = config_setting_get_member(grp, name)) == NULL)
		return 0;
	keypath(kp, sizeof kp, prefix, name);
	if (config_setting_type(s) != CONFIG_TYPE_BOOL)
		return fail(x, s, kp, "must be true or false");
	*out = config_setting_get_bool(s);
	return 0;
}

static const config_setting_t *member(const config_setting_t *grp, const char *name)
{
	return grp == NULL ? NULL : config_setting_get_member(grp, name);
}

static int parse_mode(const char *s, mode_t *out)
{
	char *end;
	unsigned long v;

	if (s[0] != '0' || strlen(s) < 2 || strlen(s) > 5)
		return -1;
	errno = 0;
	v = strtoul(s, &end, 8);
	if (errno != 0 || *end != '\0' || v > 0777)
		return -1;
	*out = (mode_t)v;
	return 0;
}

static int parse_group(const char *s, gid_t *out)
{
	char *end;
	unsigned long v;
	struct group *g;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (*s >= '0' && *s <= '9' && *end == '\0' && errno == 0 && v < 0xffffffffUL) {
		*out = (gid_t)v;
		return 0;
	}
	g = getgrnam(s);
	if (g == NULL)
		return -1;
	*out = g->gr_gid;
	return 0;
}

static int load_listen(struct ctx *x, const config_setting_t *root, struct cfg *c)
{
	const config_setting_t *l, *u, *t;
	char *mode = NULL, *group = NULL;
	int rc = -1;

	if (get_group(x, root, "", "listen", &l) < 0)
		return -1;
	if (l == NULL)
		return fail(x, NULL, "listen",
		            "missing: at least one listener (listen.unix or listen.tcp) is needed");
	if (check_keys(x, l, "listen", listen_keys) < 0)
		return -1;
	if (get_group(x, l, "listen", "unix", &u) < 0)
		return -1;
	if (u != NULL) {
		if (check_keys(x, u, "listen.unix", unix_keys) < 0)
			goto out;
		if (get_str(x, u, "listen.unix", "path", &c->unix_path) < 0 ||
		    get_str(x, u, "listen.unix", "mode", &mode) < 0 ||
		    get_str(x, u, "listen.unix", "group", &group) < 0)
			goto out;
		if (c->unix_path == NULL) {
			fail(x, u, "listen.unix.path", "missing");
			goto out;
		}
		if (c->unix_path[0] != '/' || strlen(c->unix_path) >= 108) {
			fail(x, member(u, "path"), "listen.unix.path",
			     "must be an absolute path shorter than 108 bytes");
			goto out;
		}
		if (mode != NULL && parse_mode(mode, &c->unix_mode) < 0) {
			fail(x, member(u, "mode"), "listen.unix.mode",
			     "must be an octal string such as \"0660\"");
			goto out;
		}
		if (group != NULL) {
			if (parse_group(group, &c->unix_gid) < 0) {
				fail(x, member(u, "group"), "listen.unix.group", "no such group");
				goto out;
			}
			c->unix_group_set = 1;
		}
	}
	if (get_bool(x, l, "listen", "allow_non_loopback", &c->allow_non_loopback) < 0)
		goto out;
	t = config_setting_get_member(l, "tcp");
	if (t != NULL) {
		struct sockaddr_storage ss;
		socklen_t sslen;
		char why[128];
		int i, n, loopback;
		if (!config_setting_is_array(t) && !config_setting_is_list(t)) {
			fail(x, t, "listen.tcp", "must be an array of strings [ \"127.0.0.1:7080\" ]");
			goto out;
		}
		n = config_setting_length(t);
		if (n > CFG_TCP_MAX) {
			fail(x, t, "listen.tcp", "at most %d addresses", CFG_TCP_MAX);
			goto out;
		}
		c->tcp = calloc((size_t)n + 1, sizeof *c->tcp);
		if (c->tcp == NULL) {
			fail(x, t, "listen.tcp", "out of memory");
			goto out;
		}
		for (i = 0; i < n; i++) {
			const config_setting_t *e = config_setting_get_elem(t, (unsigned)i);
			const char *v = config_setting_get_string(e);
			if (v == NULL || *v == '\0' || strlen(v) > 300) {
				fail(x, e, "listen.tcp", "entry %d must be a non-empty string \"HOST:PORT\"",
				     i + 1);
				goto out;
			}
			if (listen_parse_tcp(v, c->allow_non_loopback, &ss, &sslen, &loopback, why,
			                     sizeof why) < 0) {
				fail(x, e, "listen.tcp", "entry %d: %s", i + 1, why);
				goto out;
			}
			if ((c->tcp[c->ntcp++] = strdup(v)) == NULL) {
				fail(x, t, "listen.tcp", "out of memory");
				goto out;
			}
		}
	}
	if (c->unix_path == NULL && c->ntcp == 0) {
		fail(x, l, "listen", "at least one listener (listen.unix or listen.tcp) is needed");
		goto out;
	}
	rc = 0;
out:
	free(mode);
	free(group);
	return rc;
}

static int load_upstream(struct ctx *x, const config_setting_t *root, struct cfg *c)
{
	const config_setting_t *u;
	char msg[160];

	if (get_group(x, root, "", "upstream", &u) < 0)
		return -1;
	if (u == NULL)
		return fail(x, NULL, "upstream", "missing");
	if (check_keys(x, u, "upstream", upstream_keys) < 0)
		return -1;
	if (get_str(x, u, "upstream", "endpoint", &c->endpoint) < 0 ||
	    get_str(x, u, "upstream", "access_key_file", &c->access_key_file) < 0 ||
	    get_str(x, u, "upstream", "connection_string_file", &c->connection_string_file) < 0 ||
	    get_str(x, u, "upstream", "api_version", &c->api_version) < 0 ||
	    get_str(x, u, "upstream", "ca_file", &c->ca_file) < 0 ||
	    get_int(x, u, "upstream", "timeout_ms", 100, 600000, &c->timeout_ms) < 0 ||
	    get_int(x, u, "upstream", "max_connections", 1, 1024, &c->up_max_connections) < 0 ||
	    get_int(x, u, "upstream", "max_response_bytes", 1024, 64L * 1024 * 1024, &c->max_response_bytes) <
	            0 ||
	    get_int(x, u, "upstream", "attempt_timeout_ms", 100, 600000, &c->attempt_timeout_ms) < 0)
		return -1;
	if (member(u, "entra") != NULL) {
		if (c->access_key_file != NULL || c->connection_string_file != NULL)
			return fail(x, member(u, "entra"), "upstream.entra",
			            "cannot be combined with upstream.access_key_file or "
			            "upstream.connection_string_file");
		if (c->endpoint == NULL)
			return fail(x, u, "upstream.endpoint", "missing (needed with upstream.entra)");
	} else if ((c->access_key_file == NULL) == (c->connection_string_file == NULL))
		return fail(x, u, "upstream.access_key_file",
		            "exactly one of upstream.access_key_file and upstream.connection_string_file is "
		            "needed");
	if (c->access_key_file != NULL && c->endpoint == NULL)
		return fail(x, u, "upstream.endpoint", "missing (needed with upstream.access_key_file)");
	if (c->endpoint != NULL) {
		size_t n;
		if (!url_endpoint_ok(c->endpoint, msg, sizeof msg))
			return fail(x, member(u, "endpoint"), "upstream.endpoint", "%s", msg);
		n = strlen(c->endpoint);
		if (n > 0 && c->endpoint[n - 1] == '/')
			c->endpoint[n - 1] = '\0';
	}
	if (c->api_version == NULL) {
		if ((c->api_version = strdup(WPS_DEFAULT_API_VERSION)) == NULL)
			return fail(x, u, "upstream.api_version", "out of memory");
	} else if (!ops_api_version_known(c->api_version)) {
		return fail(
		        x, member(u, "api_version"), "upstream.api_version",
		        "unknown version (known: 2021-10-01 2022-11-01 2023-07-01 2024-01-01 2024-12-01)");
	}
	return 0;
}

static int load_limits(struct ctx *x, const config_setting_t *root, struct cfg *c)
{
	const config_setting_t *l;

	if (get_group(x, root, "", "limits", &l) < 0)
		return -1;
	if (l == NULL)
		return 0;
	if (check_keys(x, l, "limits", limits_keys) < 0)
		return -1;
	if (get_int(x, l, "limits", "max_body_bytes", 1, 16L * 1024 * 1024, &c->max_body_bytes) < 0 ||
	    get_int(x, l, "limits", "max_connections", 1, 65536, &c->max_connections) < 0 ||
	    get_int(x, l, "limits", "max_inflight", 1, 1000000, &c->max_inflight) < 0 ||
	    get_int(x, l, "limits", "idle_timeout_s", 1, 3600, &c->idle_timeout_s) < 0 ||
	    get_int(x, l, "limits", "request_timeout_s", 0, 3600, &c->request_timeout_s) < 0 ||
	    get_int(x, l, "limits", "max_header_bytes", 1024, 1024L * 1024, &c->max_header_bytes) < 0 ||
	    get_int(x, l, "limits", "shutdown_grace_ms", 0, 600000, &c->shutdown_grace_ms) < 0)
		return -1;
	return 0;
}

static int load_log(struct ctx *x, const config_setting_t *root, struct cfg *c)
{
	const config_setting_t *l;
	char *level = NULL, *format = NULL;
	int rc = -1;

	if (get_group(x, root, "", "log", &l) < 0)
		return -1;
	if (l == NULL)
		return 0;
	if (check_keys(x, l, "log", log_keys) < 0)
		return -1;
	if (get_str(x, l, "log", "level", &level) < 0 || get_str(x, l, "log", "format", &format) < 0)
		goto out;
	if (level != NULL && log_level_parse(level, &c->log_level) < 0) {
		fail(x, member(l, "level"), "log.level", "must be one of err, warn, info, debug");
		goto out;
	}
	if (format != NULL) {
		if (strcmp(format, "logfmt") == 0)
			c->log_format = WLOG_FMT_LOGFMT;
		else if (strcmp(format, "json") == 0)
			c->log_format = WLOG_FMT_JSON;
		else {
			fail(x, member(l, "format"), "log.format", "must be \"logfmt\" or \"json\"");
			goto out;
		}
	}
	rc = 0;
out:
	free(level);
	free(format);
	return rc;
}

/* `user = "name";` (or a numeric uid): resolved now, so that -t names a missing user. */
static int load_user(struct ctx *x, const config_setting_t *root, struct cfg *c)
{
	const config_setting_t *s = config_setting_get_member(root, "user");
	const struct passwd *pw;

	if (get_str(x, root, "", "user", &c->user) < 0 || c->user == NULL)
		return 0;
	if (strlen(c->user) >= CFG_USER_MAX)
		return fail(x, s, "user", "longer than %d bytes", CFG_USER_MAX - 1);
	errno = 0;
	pw = getpwnam(c->user);
	if (pw == NULL && c->user[0] >= '0' && c->user[0] <= '9') {
		char *end;
		unsigned long v = strtoul(c->user, &end, 10);
		if (*end == '\0' && v < 0xffffffffUL)
			pw = getpwuid((uid_t)v);
	}
	if (pw == NULL)
		return fail(x, s, "user", "no such user");
	c->user_uid = pw->pw_uid;
	c->user_gid = pw->pw_gid;
	return 0;
}

static void set_defaults(struct cfg *c)
{
	c->unix_mode = CFG_DEFAULT_UNIX_MODE;
	c->timeout_ms = WPS_DEFAULT_TIMEOUT_MS;
	c->up_max_connections = WPS_DEFAULT_UPSTREAM_CONNS;
	c->max_response_bytes = CFG_DEFAULT_MAX_RESPONSE;
	c->max_body_bytes = WPS_DEFAULT_BODY_MAX;
	c->max_connections = WPS_DEFAULT_MAX_CONNECTIONS;
	c->max_inflight = WPS_DEFAULT_MAX_INFLIGHT;
	c->idle_timeout_s = CFG_DEFAULT_IDLE_TIMEOUT_S;
	c->request_timeout_s = CFG_DEFAULT_REQUEST_TIMEOUT_S;
	c->max_header_bytes = CFG_DEFAULT_HEADER_BYTES;
	c->shutdown_grace_ms = CFG_DEFAULT_SHUTDOWN_GRACE_MS;
	c->attempt_timeout_ms = CFG_DEFAULT_ATTEMPT_TIMEOUT_MS;
	c->log_level = WLOG_INFO;
	c->log_format = WLOG_FMT_LOGFMT;
}

int cfg_load(const char *path, struct cfg **out, char *err, size_t errlen)
{
	struct ctx x = { path, err, errlen };
	struct cfg *c = NULL;
	config_t *lc;
	const config_setting_t *root;
	FILE *f;
	int rc = -1;

	*out = NULL;
	if ((lc = malloc(sizeof *lc)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		return -1;
	}
	config_init(lc);
	f = fopen(path, "r");
	if (f == NULL) {
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
		goto out;
	}
	if (config_read(lc, f) != CONFIG_TRUE) {
		snprintf(err, errlen, "%s:%d: syntax error: %s", path, config_error_line(lc),
		         config_error_text(lc) ? config_error_text(lc) : "?");
		fclose(f);
		goto out;
	}
	fclose(f);
	if ((c = calloc(1, sizeof *c)) == NULL || (c->file = strdup(path)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto out;
	}
	set_defaults(c);
	root = config_root_setting(lc);
	if (check_keys(&x, root, "", top_keys) < 0 || load_listen(&x, root, c) < 0 ||
	    load_upstream(&x, root, c) < 0 || load_limits(&x, root, c) < 0 || load_log(&x, root, c) < 0 ||
	    load_user(&x, root, c) < 0 || check_sections(&x, lc, c) < 0)
		goto out;
	c->tree_ = lc;
	lc = NULL;
	*out = c;
	c = NULL;
	rc = 0;
out:
	cfg_free(c);
	if (lc != NULL) {
		config_destroy(lc);
		free(lc);
	}
	return rc;
}

void cfg_free(struct cfg *c)
{
	size_t i;

	if (c == NULL)
		return;
	free(c->file);
	free(c->unix_path);
	for (i = 0; i < c->ntcp; i++)
		free(c->tcp[i]);
	free(c->tcp);
	free(c->endpoint);
	free(c->access_key_file);
	entra_cfg_fini(&c->entra);
	free(c->connection_string_file);
	free(c->api_version);
	free(c->ca_file);
	free(c->user);
	outbox_cfg_clear(&c->outbox);
	access_cfg_fini(&c->access);
	guard_cfg_fini(&c->guard);
	if (c->tree_ != NULL) {
		config_destroy(c->tree_);
		free(c->tree_);
	}
	free(c);
}
