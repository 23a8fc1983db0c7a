/* check_gw_cfg.c: Check suite for src/gateway/cfg.c (cfg_load: values, defaults, errors with key and line). */
#include <config.h>

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_main.h"
#include "gateway/cfg.h"

static char dir[64];
static char path[128];
static char err[512];

static void setup(void)
{
	snprintf(dir, sizeof dir, "/tmp/check_gw_cfg.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/wpsgate.conf", dir);
	err[0] = '\0';
}

static void teardown(void)
{
	unlink(path);
	rmdir(dir);
}

static int load(const char *text, struct cfg **out)
{
	FILE *f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	err[0] = '\0';
	return cfg_load(path, out, err, sizeof err);
}

/* Expect a failure whose message names key and line, and does not contain forbidden. */
static void expect_error(const char *text, const char *key, int line, const char *forbidden)
{
	struct cfg *c = (struct cfg *)1;
	char want[64];

	ck_assert_int_eq(load(text, &c), -1);
	ck_assert_ptr_null(c);
	ck_assert_msg(strstr(err, key) != NULL, "error \"%s\" does not name %s", err, key);
	if (line > 0) {
		snprintf(want, sizeof want, ":%d: ", line);
		ck_assert_msg(strstr(err, want) != NULL, "error \"%s\" does not name line %d", err, line);
	}
	if (forbidden != NULL)
		ck_assert_msg(strstr(err, forbidden) == NULL, "error \"%s\" shows the value", err);
}

#define UPSTREAM_OK                                                                                          \
	"upstream = { endpoint = \"https://x.webpubsub.azure.com\"; access_key_file = \"/k\"; };\n"
#define LISTEN_OK "listen = { tcp = [ \"127.0.0.1:7080\" ]; };\n"

START_TEST(full_config)
{
	struct cfg *c = NULL;
	const char *text = "listen = { unix = { path = \"/run/wpsgate/wpsgate.sock\"; mode = \"0640\"; group "
	                   "= \"0\"; };\n"
	                   "           tcp = [ \"127.0.0.1:7080\", \"[::1]:7081\", \"localhost:7082\" ]; "
	                   "allow_non_loopback = false; };\n"
	                   "upstream = { endpoint = \"https://name.webpubsub.azure.com/\";\n"
	                   "             access_key_file = \"/etc/wpsgate/access-key\";\n"
	                   "             api_version = \"2024-01-01\"; timeout_ms = 1500; ca_file = "
	                   "\"/etc/ssl/ca.pem\";\n"
	                   "             max_connections = 8; max_response_bytes = 65536; http_version = \"1.1\"; };\n"
	                   "limits = { max_body_bytes = 2048; max_connections = 50; max_inflight = 70; "
	                   "idle_timeout_s = 9;\n"
	                   "           max_header_bytes = 8192; shutdown_grace_ms = 1234; };\n"
	                   "log = { level = \"debug\"; format = \"json\"; };\n";

	ck_assert_int_eq(load(text, &c), 0);
	ck_assert_str_eq(c->unix_path, "/run/wpsgate/wpsgate.sock");
	ck_assert_uint_eq(c->unix_mode, 0640);
	ck_assert_int_eq(c->unix_group_set, 1);
	ck_assert_uint_eq(c->unix_gid, 0);
	ck_assert_uint_eq(c->ntcp, 3);
	ck_assert_str_eq(c->tcp[0], "127.0.0.1:7080");
	ck_assert_str_eq(c->tcp[1], "[::1]:7081");
	ck_assert_str_eq(c->tcp[2], "localhost:7082");
	ck_assert_int_eq(c->allow_non_loopback, 0);
	ck_assert_str_eq(c->upstreams[0].endpoint, "https://name.webpubsub.azure.com"); /* trailing slash dropped */
	ck_assert_str_eq(c->upstreams[0].access_key_file, "/etc/wpsgate/access-key");
	ck_assert_ptr_null(c->upstreams[0].connection_string_file);
	ck_assert_str_eq(c->upstreams[0].api_version, "2024-01-01");
	ck_assert_int_eq(c->upstreams[0].timeout_ms, 1500);
	ck_assert_str_eq(c->upstreams[0].ca_file, "/etc/ssl/ca.pem");
	ck_assert_int_eq(c->upstreams[0].up_max_connections, 8);
	ck_assert_int_eq(c->upstreams[0].up_http_version, CFG_HTTP_1_1);
	ck_assert_int_eq(c->upstreams[0].max_response_bytes, 65536);
	ck_assert_int_eq(c->max_body_bytes, 2048);
	ck_assert_int_eq(c->max_connections, 50);
	ck_assert_int_eq(c->max_inflight, 70);
	ck_assert_int_eq(c->idle_timeout_s, 9);
	ck_assert_int_eq(c->max_header_bytes, 8192);
	ck_assert_int_eq(c->shutdown_grace_ms, 1234);
	ck_assert_int_eq(c->log_level, WLOG_DEBUG);
	ck_assert_int_eq(c->log_format, WLOG_FMT_JSON);
	cfg_free(c);
}
END_TEST

START_TEST(defaults)
{
	struct cfg *c = NULL;

	ck_assert_int_eq(load(LISTEN_OK UPSTREAM_OK, &c), 0);
	ck_assert_ptr_null(c->unix_path);
	ck_assert_str_eq(c->upstreams[0].api_version, "2024-12-01");
	ck_assert_int_eq(c->upstreams[0].timeout_ms, 30000);
	ck_assert_int_eq(c->upstreams[0].up_max_connections, 64);
	ck_assert_int_eq(c->upstreams[0].up_http_version, CFG_HTTP_2);
	ck_assert_int_eq(c->upstreams[0].max_response_bytes, 4194304);
	ck_assert_int_eq(c->max_body_bytes, 1048576);
	ck_assert_int_eq(c->max_connections, 1024);
	ck_assert_int_eq(c->max_inflight, 10000);
	ck_assert_int_eq(c->idle_timeout_s, 60);
	ck_assert_int_eq(c->max_header_bytes, 16384);
	ck_assert_int_eq(c->shutdown_grace_ms, 10000);
	ck_assert_int_eq(c->log_level, WLOG_INFO);
	ck_assert_int_eq(c->log_format, WLOG_FMT_LOGFMT);
	ck_assert_ptr_null(c->upstreams[0].ca_file);
	cfg_free(c);
}
END_TEST

START_TEST(connection_string_without_endpoint)
{
	struct cfg *c = NULL;

	ck_assert_int_eq(load(LISTEN_OK "upstream = { connection_string_file = \"cs\"; };\n", &c), 0);
	ck_assert_ptr_null(c->upstreams[0].endpoint);
	ck_assert_str_eq(c->upstreams[0].connection_string_file, "cs");
	cfg_free(c);
}
END_TEST

START_TEST(range_errors)
{
	expect_error(LISTEN_OK "upstream = { endpoint = \"https://x.webpubsub.azure.com\";\n"
	                       "  access_key_file = \"/k\";\n  timeout_ms = 77; };\n",
	             "upstream.timeout_ms", 4, "77");
	expect_error(LISTEN_OK UPSTREAM_OK "limits = {\n max_body_bytes = 0; };\n", "limits.max_body_bytes",
	             4, NULL);
	expect_error(LISTEN_OK UPSTREAM_OK "limits = { max_connections = 9999999; };\n",
	             "limits.max_connections", 3, "9999999");
	expect_error(LISTEN_OK UPSTREAM_OK "limits = { shutdown_grace_ms = -1; };\n",
	             "limits.shutdown_grace_ms", 3, NULL);
	expect_error(LISTEN_OK
	             "upstream = { endpoint = \"https://x.webpubsub.azure.com\"; access_key_file = \"/k\";\n"
	             " max_response_bytes = 10; };\n",
	             "upstream.max_response_bytes", 3, NULL);
	expect_error(LISTEN_OK UPSTREAM_OK "limits = { idle_timeout_s = \"60\"; };\n",
	             "limits.idle_timeout_s", 3, NULL);
	expect_error(LISTEN_OK
	             "upstream = { endpoint = \"https://x.webpubsub.azure.com\"; access_key_file = \"/k\";\n"
	             " http_version = \"3\"; };\n",
	             "upstream.http_version", 3, NULL);
	expect_error(LISTEN_OK
	             "upstream = { endpoint = \"https://x.webpubsub.azure.com\"; access_key_file = \"/k\";\n"
	             " http_version = 2; };\n",
	             "upstream.http_version", 3, NULL);
}
END_TEST

START_TEST(values_never_shown)
{
	expect_error("listen = { unix = { path = \"/tmp/s\";\n mode = \"SECRETMODE77\"; }; };\n" UPSTREAM_OK,
	             "listen.unix.mode", 2, "SECRETMODE77");
	expect_error(LISTEN_OK
	             "upstream = { endpoint = \"ftp://TOPSECRETHOST\"; access_key_file = \"/k\"; };\n",
	             "upstream.endpoint", 2, "TOPSECRETHOST");
	expect_error(LISTEN_OK UPSTREAM_OK "log = { level = \"SECRETLEVEL\"; };\n", "log.level", 3,
	             "SECRETLEVEL");
	expect_error("listen = { unix = { path = \"/tmp/s\"; group = \"no-such-group-SECRET\"; }; "
	             "};\n" UPSTREAM_OK,
	             "listen.unix.group", 1, "no-such-group-SECRET");
}
END_TEST

START_TEST(unknown_keys)
{
	expect_error(LISTEN_OK UPSTREAM_OK "\nupsteam = { };\n", "upsteam: unknown key", 4, NULL);
	expect_error(LISTEN_OK
	             "upstream = { endpoint = \"https://x.webpubsub.azure.com\"; access_key_file = \"/k\";\n"
	             "  timeout = 5; };\n",
	             "upstream.timeout: unknown key", 3, NULL);
	expect_error("listen = { unix = { path = \"/tmp/s\"; permissions = \"0660\"; }; };\n" UPSTREAM_OK,
	             "listen.unix.permissions: unknown key", 1, NULL);
	expect_error(LISTEN_OK UPSTREAM_OK "log = { level = \"info\"; colour = true; };\n",
	             "log.colour: unknown key", 3, NULL);
}
END_TEST

START_TEST(endpoints)
{
	struct cfg *c = NULL;

	expect_error(LISTEN_OK
	             "upstream = { endpoint = \"http://example.com\"; access_key_file = \"/k\"; };\n",
	             "upstream.endpoint", 2, NULL);
	ck_assert_msg(strstr(err, "loopback") != NULL, "%s", err);
	expect_error(LISTEN_OK
	             "upstream = { endpoint = \"http://10.0.0.1:8080\"; access_key_file = \"/k\"; };\n",
	             "upstream.endpoint", 2, NULL);
	expect_error(LISTEN_OK "upstream = { endpoint = \"https://x.webpubsub.azure.com/api\"; "
	                       "access_key_file = \"/k\"; };\n",
	             "upstream.endpoint", 2, NULL);
	ck_assert_int_eq(
	        load(LISTEN_OK
	             "upstream = { endpoint = \"http://127.0.0.1:8080\"; access_key_file = \"/k\"; };\n",
	             &c),
	        0);
	ck_assert_str_eq(c->upstreams[0].endpoint, "http://127.0.0.1:8080");
	cfg_free(c);
}
END_TEST

START_TEST(credentials_choice)
{
	expect_error(LISTEN_OK "upstream = { endpoint = \"https://x.webpubsub.azure.com\";\n"
	                       "  access_key_file = \"/k\"; connection_string_file = \"/c\"; };\n",
	             "exactly one", 3, NULL); /* the line of access_key_file */
	expect_error(LISTEN_OK "upstream = { endpoint = \"https://x.webpubsub.azure.com\"; };\n",
	             "exactly one", 2, NULL);
	expect_error(LISTEN_OK "upstream = { access_key_file = \"/k\"; };\n", "upstream.endpoint", 2, NULL);
	expect_error(LISTEN_OK, "upstream", 0, NULL);
	expect_error(LISTEN_OK
	             "upstream = { endpoint = \"https://x.webpubsub.azure.com\"; access_key_file = \"/k\";\n"
	             " api_version = \"2020-01-01\"; };\n",
	             "upstream.api_version", 3, NULL);
}
END_TEST

START_TEST(listeners)
{
	struct cfg *c = NULL;

	expect_error(UPSTREAM_OK, "listen", 0, NULL);
	expect_error("listen = { allow_non_loopback = false; };\n" UPSTREAM_OK, "at least one listener", 1,
	             NULL);
	expect_error("listen = { tcp = [ \"0.0.0.0:7080\" ]; };\n" UPSTREAM_OK, "listen.tcp", 1, NULL);
	ck_assert_msg(strstr(err, "loopback") != NULL, "%s", err);
	expect_error("listen = { tcp = [ \"127.0.0.1\" ]; };\n" UPSTREAM_OK, "listen.tcp", 1, NULL);
	expect_error("listen = { tcp = \"127.0.0.1:7080\"; };\n" UPSTREAM_OK, "listen.tcp", 1, NULL);
	expect_error("listen = { unix = { path = \"relative.sock\"; }; };\n" UPSTREAM_OK, "listen.unix.path",
	             1, NULL);
	expect_error("listen = { unix = { mode = \"0660\"; }; };\n" UPSTREAM_OK, "listen.unix.path", 1, NULL);
	expect_error("listen = { unix = { path = \"/tmp/x\"; mode = \"660\"; }; };\n" UPSTREAM_OK,
	             "listen.unix.mode", 1, NULL);
	expect_error("listen = { unix = { path = \"/tmp/x\"; mode = \"01777\"; }; };\n" UPSTREAM_OK,
	             "listen.unix.mode", 1, NULL);
	ck_assert_int_eq(
	        load("listen = { tcp = [ \"0.0.0.0:7080\" ]; allow_non_loopback = true; };\n" UPSTREAM_OK,
	             &c),
	        0);
	ck_assert_int_eq(c->allow_non_loopback, 1);
	ck_assert_str_eq(c->tcp[0], "0.0.0.0:7080");
	cfg_free(c);
}
END_TEST

START_TEST(syntax_and_missing_file)
{
	struct cfg *c = NULL;

	expect_error(LISTEN_OK "\nupstream = { endpoint = ; };\n", "syntax error", 3, NULL);
	ck_assert_int_eq(cfg_load("/nonexistent/wpsgate.conf", &c, err, sizeof err), -1);
	ck_assert_ptr_null(c);
	ck_assert_msg(strstr(err, "/nonexistent/wpsgate.conf") != NULL, "%s", err);
	cfg_free(NULL);
}
END_TEST

START_TEST(module_sections)
{
	struct cfg *c = NULL;

	/* absent: the modules' defaults */
	ck_assert_int_eq(load(LISTEN_OK UPSTREAM_OK, &c), 0);
	ck_assert_int_eq(c->upstreams[0].attempt_timeout_ms, 10000);
	ck_assert_ptr_null(c->user);
	ck_assert_int_eq(c->retry.max_attempts, 4);
	ck_assert_int_eq(c->retry.breaker_enabled, 1);
	ck_assert_ptr_null(c->outbox.path);
	ck_assert_int_eq(c->batch.max_requests, 100);
	ck_assert_int_eq(c->metrics.on_api, 1);
	ck_assert_int_eq(c->metrics.listen_set, 0);
	ck_assert_int_eq(c->access.tcp_allow, 1);
	ck_assert_int_eq(c->access.have_rules, 0);
	ck_assert_uint_eq(c->guard.norigins, 0);
	cfg_free(c);
	/* given */
	ck_assert_int_eq(
	        load(LISTEN_OK
	             "upstream = { endpoint = \"https://x.webpubsub.azure.com\"; access_key_file = \"/k\";\n"
	             " attempt_timeout_ms = 2500; };\n"
	             "user = \"root\";\n"
	             "retry = { max_attempts = 2; breaker = { failures = 9; }; };\n"
	             "outbox = { path = \"/var/lib/x/o.db\"; max_rows = 7; };\n"
	             "batch = { max_requests = 3; };\n"
	             "metrics = { listen = \"127.0.0.1:9464\"; on_api = false; };\n"
	             "access = { tcp = \"deny\"; rules = ( { users = [ 0 ]; hubs = [ \"chat\" ]; ops = [ "
	             "\"send\" ]; } ); };\n"
	             "guard = { allowed_origins = [ \"http://localhost:3000\" ]; };\n"
	             "ratelimit = { rate = 5.0; max_inflight_per_peer = 3; };\n",
	             &c),
	        0);
	ck_assert_int_eq(c->upstreams[0].attempt_timeout_ms, 2500);
	ck_assert_str_eq(c->user, "root");
	ck_assert_int_eq(c->user_uid, 0);
	ck_assert_int_eq(c->retry.max_attempts, 2);
	ck_assert_int_eq(c->retry.breaker_failures, 9);
	ck_assert_str_eq(c->outbox.path, "/var/lib/x/o.db");
	ck_assert_int_eq(c->outbox.max_rows, 7);
	ck_assert_int_eq(c->batch.max_requests, 3);
	ck_assert_int_eq(c->metrics.on_api, 0);
	ck_assert_uint_eq(c->metrics.port, 9464);
	ck_assert_int_eq(c->access.tcp_allow, 0);
	ck_assert_uint_eq(c->access.nrules, 1);
	ck_assert_uint_eq(c->guard.norigins, 1);
	ck_assert(c->ratelimit.rate == 5.0);
	ck_assert_uint_eq(c->ratelimit.max_inflight, 3);
	cfg_free(c);
}
END_TEST

static char restart_keys[8][CFGTAB_KEY_MAX];
static size_t nrestart;

static void on_restart(const char *key, void *arg)
{
	(void)arg;
	if (nrestart < 8)
		snprintf(restart_keys[nrestart], sizeof restart_keys[0], "%s", key);
	nrestart++;
}

/* What a reload reports as needing a restart comes from the table's CFGTAB_RESTART flags. */
START_TEST(restart_keys_of_a_reload)
{
	struct cfg *a = NULL, *b = NULL;

	ck_assert_int_eq(load(LISTEN_OK UPSTREAM_OK "limits = { max_inflight = 5; max_connections = 9; };\n"
	                                            "outbox = { path = \"/var/lib/x/o.db\"; };\n",
	                      &a),
	                 0);
	ck_assert_int_eq(load("listen = { tcp = [ \"127.0.0.1:7081\" ]; };\n" UPSTREAM_OK
	                      "limits = { max_inflight = 6; max_connections = 9; };\n"
	                      "outbox = { path = \"/var/lib/x/o.db\"; max_rows = 7; };\nretry = { "
	                      "max_attempts = 2; };\n",
	                      &b),
	                 0);
	nrestart = 0;
	ck_assert_uint_eq(cfg_restart_keys(a, b, on_restart, NULL), 2);
	ck_assert_str_eq(restart_keys[0], "listen.tcp");
	ck_assert_str_eq(restart_keys[1], "outbox.max_rows");
	ck_assert_uint_eq(cfg_restart_keys(a, a, on_restart, NULL), 0);
	cfg_free(a);
	cfg_free(b);
}
END_TEST

START_TEST(module_section_errors)
{
	expect_error(LISTEN_OK UPSTREAM_OK "retry = { max_attempts = 99; };\n", "retry.max_attempts", 0,
	             "99");
	expect_error(LISTEN_OK UPSTREAM_OK "retry = { breaker = { coldown_ms = 1; }; };\n", "coldown_ms", 0,
	             NULL);
	expect_error(LISTEN_OK UPSTREAM_OK "outbox = { path = \"relative.db\"; };\n", "outbox.path", 0,
	             "relative.db");
	expect_error(LISTEN_OK UPSTREAM_OK "batch = { max_requests = 0; };\n", "batch.max_requests", 0, NULL);
	expect_error(LISTEN_OK UPSTREAM_OK "metrics = { listen = \"SECRETHOST:1\"; };\n", "metrics.listen", 0,
	             "SECRETHOST");
	expect_error(LISTEN_OK UPSTREAM_OK "access = { tcp = \"maybe\"; };\n", "access.tcp", 0, "maybe");
	expect_error(LISTEN_OK UPSTREAM_OK "guard = { allowed_origins = [ \"*\" ]; };\n",
	             "guard.allowed_origins", 0, NULL);
	expect_error(LISTEN_OK UPSTREAM_OK "ratelimit = { rate = -1.0; };\n", "ratelimit.rate", 0, NULL);
	expect_error(LISTEN_OK UPSTREAM_OK "\nuser = \"no-such-user-SECRET\";\n", "user: no such user", 4,
	             "no-such-user-SECRET");
	expect_error(LISTEN_OK
	             "upstream = { endpoint = \"https://x.webpubsub.azure.com\"; access_key_file = \"/k\";\n"
	             " attempt_timeout_ms = 5; };\n",
	             "upstream.attempt_timeout_ms", 3, NULL);
}
END_TEST


#define UP_PROD                                                                                              \
	"{ name = \"prod\"; endpoint = \"https://p.webpubsub.azure.com\"; access_key_file = \"/kp\";\n"
#define UP_STAGE                                                                                             \
	"{ name = \"staging\"; endpoint = \"http://127.0.0.1:8081\"; access_key_file = \"/ks\";\n"

/* The single upstream section is a list of one, named "default", routing every hub to it. */
START_TEST(single_upstream_is_a_list_of_one)
{
	struct cfg *c = NULL;

	ck_assert_int_eq(load(LISTEN_OK UPSTREAM_OK, &c), 0);
	ck_assert_uint_eq(c->nupstreams, 1);
	ck_assert_str_eq(c->upstreams[0].name, "default");
	ck_assert_ptr_null(c->up0.endpoint);
	ck_assert_uint_eq(cfg_route(c, "chat"), 0);
	ck_assert_uint_eq(cfg_route(c, NULL), 0);
	cfg_free(c);
}
END_TEST

START_TEST(upstreams_list_and_routing)
{
	struct cfg *c = NULL;

	ck_assert_int_eq(load(LISTEN_OK "upstreams = (\n" UP_PROD " hubs = [ \"chat\", \"app*\" ]; },\n" UP_STAGE
	                                " hubs = [ \"stage_*\", \"chat2\" ]; api_version = \"2024-01-01\";\n"
	                                " timeout_ms = 2000; max_connections = 4; },\n"
	                                "{ name = \"other\"; connection_string_file = \"cs\"; default = true; }\n"
	                                ");\n",
	                      &c),
	                 0);
	ck_assert_uint_eq(c->nupstreams, 3);
	ck_assert_str_eq(c->upstreams[0].name, "prod");
	ck_assert_str_eq(c->upstreams[1].endpoint, "http://127.0.0.1:8081");
	ck_assert_str_eq(c->upstreams[1].api_version, "2024-01-01");
	ck_assert_int_eq(c->upstreams[1].timeout_ms, 2000);
	ck_assert_int_eq(c->upstreams[1].up_max_connections, 4);
	ck_assert_int_eq(c->upstreams[0].up_max_connections, 64); /* each its own defaults */
	ck_assert_uint_eq(c->default_up, 2);
	ck_assert_uint_eq(cfg_route(c, "chat"), 0);
	ck_assert_uint_eq(cfg_route(c, "app"), 0);
	ck_assert_uint_eq(cfg_route(c, "apples"), 0);
	ck_assert_uint_eq(cfg_route(c, "stage_1"), 1);
	ck_assert_uint_eq(cfg_route(c, "chat2"), 1);
	ck_assert_uint_eq(cfg_route(c, "unknown"), 2); /* the default */
	ck_assert_uint_eq(cfg_route(c, NULL), 2);
	ck_assert_uint_eq(cfg_upstream_index(c, "staging"), 1);
	ck_assert_uint_eq(cfg_upstream_index(c, "nope"), CFG_NO_UPSTREAM);
	cfg_free(c);

	/* no default: a hub that matches nothing has no upstream */
	ck_assert_int_eq(load(LISTEN_OK "upstreams = (\n" UP_PROD " hubs = [ \"a\" ]; },\n" UP_STAGE
	                                " hubs = [ \"b*\" ]; } );\n",
	                      &c),
	                 0);
	ck_assert_uint_eq(cfg_route(c, "a"), 0);
	ck_assert_uint_eq(cfg_route(c, "bb"), 1);
	ck_assert_uint_eq(cfg_route(c, "c"), CFG_NO_UPSTREAM);
	ck_assert_uint_eq(cfg_route(c, NULL), 0);
	cfg_free(c);

	/* an exact name listed before a pattern that covers it: a deliberate exception */
	ck_assert_int_eq(load(LISTEN_OK "upstreams = (\n" UP_PROD " hubs = [ \"app_legacy\" ]; },\n" UP_STAGE
	                                " hubs = [ \"app_*\" ]; } );\n",
	                      &c),
	                 0);
	ck_assert_uint_eq(cfg_route(c, "app_legacy"), 0);
	ck_assert_uint_eq(cfg_route(c, "app_new"), 1);
	cfg_free(c);
}
END_TEST

START_TEST(upstreams_errors)
{
	/* both forms */
	expect_error(LISTEN_OK UPSTREAM_OK "upstreams = (" UP_PROD "} );\n", "upstreams: cannot be combined", 3,
	             NULL);
	/* neither */
	expect_error(LISTEN_OK, "upstream: missing (or upstreams)", 0, NULL);
	/* names */
	expect_error(LISTEN_OK "upstreams = ( { endpoint = \"https://p.webpubsub.azure.com\";\n"
	                       " access_key_file = \"/kp\"; } );\n",
	             "upstreams[1]: missing: name", 2, NULL);
	expect_error(LISTEN_OK "upstreams = (" UP_PROD " hubs = [\"a\"]; },\n" UP_PROD " hubs = [\"b\"]; } );\n",
	             "upstreams[2]: the name of upstreams[1] again", 4, NULL);
	expect_error(LISTEN_OK "upstreams = ( { name = \"a b\"; connection_string_file = \"cs\"; } );\n",
	             "upstreams[1].name: only letters", 2, NULL);
	/* credentials per entry, named by the entry */
	expect_error(LISTEN_OK "upstreams = ( { name = \"p\"; endpoint = \"https://p.webpubsub.azure.com\"; } );\n",
	             "upstreams[1]", 2, NULL);
	expect_error(LISTEN_OK "upstreams = ( { name = \"p\"; connection_string_file = \"cs\";\n"
	                       " timeout_ms = 5; } );\n",
	             "upstreams[1].timeout_ms", 3, NULL);
	/* defaults and reachability */
	expect_error(LISTEN_OK "upstreams = (" UP_PROD " default = true; },\n" UP_STAGE " default = true; } );\n",
	             "upstreams[2]: default: upstreams[1] (\"prod\") is the default already", 4, NULL);
	expect_error(LISTEN_OK "upstreams = (" UP_PROD " default = true; },\n" UP_STAGE " } );\n",
	             "upstreams[2]: no request would reach it", 4, NULL);
	expect_error(LISTEN_OK "upstreams = (" UP_PROD " hubs = [ \"chat\", \"x\" ]; },\n" UP_STAGE
	                       " hubs = [ \"9\", \"*\" ]; } );\n",
	             "upstreams[2].hubs[1]: a hub name", 5, NULL);
	/* ambiguous routing names both entries */
	expect_error(LISTEN_OK "upstreams = (" UP_PROD " hubs = [ \"chat\", \"app*\" ]; },\n" UP_STAGE
	                       " hubs = [ \"x\", \"*_test\" ]; } );\n",
	             "upstreams[2].hubs[2]: a hub may match both this (\"staging\") and upstreams[1].hubs[2] "
	             "(\"prod\")",
	             5, NULL);
	expect_error(LISTEN_OK "upstreams = (" UP_PROD " hubs = [ \"chat\" ]; },\n" UP_STAGE
	                       " hubs = [ \"chat\" ]; } );\n",
	             "upstreams[2].hubs[1]: a hub may match both", 5, NULL);
	expect_error(LISTEN_OK "upstreams = (" UP_PROD " hubs = [ \"ch*\" ]; },\n" UP_STAGE
	                       " hubs = [ \"chat\" ]; } );\n",
	             "upstreams[2].hubs[1]: a hub may match both", 5, NULL); /* chat would be unreachable */
	expect_error(LISTEN_OK "upstreams = (" UP_PROD " hubs = [ \"a-b\" ]; } );\n", "upstreams[1].hubs", 0,
	             NULL);
}
END_TEST

START_TEST(hub_patterns)
{
	ck_assert(cfg_hub_match("chat", "chat"));
	ck_assert(!cfg_hub_match("chat", "chat2"));
	ck_assert(cfg_hub_match("app*", "app"));
	ck_assert(cfg_hub_match("app*", "apps"));
	ck_assert(cfg_hub_match("*_test", "a_test"));
	ck_assert(!cfg_hub_match("*_test", "a_tes"));
	ck_assert(cfg_hub_match("a*b*c", "aXbYbZc"));
	ck_assert(!cfg_hub_match("a*b*c", "aXbYbZ"));
	ck_assert(cfg_hub_match("*", "anything"));
	ck_assert(cfg_hubs_overlap("app*", "*_test"));  /* app_test */
	ck_assert(cfg_hubs_overlap("a*", "*b"));        /* ab */
	ck_assert(!cfg_hubs_overlap("a*", "b*"));
	ck_assert(!cfg_hubs_overlap("a*x", "b*x"));
	ck_assert(cfg_hubs_overlap("ab*", "abc"));
	ck_assert(!cfg_hubs_overlap("ab*", "ac*"));
	ck_assert(cfg_hubs_overlap("ab*", "abcd"));
	ck_assert(!cfg_hubs_overlap("chat", "chat2"));
	ck_assert(cfg_hubs_overlap("chat", "chat"));
	ck_assert(!cfg_hubs_overlap("*x", "*y"));
	ck_assert(cfg_hubs_overlap("x*y*z", "*q*"));    /* xqyz */
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("gw_config");
	TCase *t = tcase_create("cfg");

	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, full_config);
	tcase_add_test(t, defaults);
	tcase_add_test(t, connection_string_without_endpoint);
	tcase_add_test(t, range_errors);
	tcase_add_test(t, values_never_shown);
	tcase_add_test(t, unknown_keys);
	tcase_add_test(t, endpoints);
	tcase_add_test(t, credentials_choice);
	tcase_add_test(t, listeners);
	tcase_add_test(t, syntax_and_missing_file);
	tcase_add_test(t, module_sections);
	tcase_add_test(t, module_section_errors);
	tcase_add_test(t, restart_keys_of_a_reload);
	tcase_add_test(t, single_upstream_is_a_list_of_one);
	tcase_add_test(t, upstreams_list_and_routing);
	tcase_add_test(t, upstreams_errors);
	tcase_add_test(t, hub_patterns);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	return check_run(suite());
}
