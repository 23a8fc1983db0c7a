/* check_gw_entra.c: Check suite for src/gateway/entra*.c: the upstream.entra section, the token requests of
 * each kind, answer parsing, and the cache's state machine against a fake HTTP interface and a fake clock. */
#include <config.h>

#include <check.h>

#include "check_cfg.h"
#include <fcntl.h>
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "gateway/cred.h"
#include "gateway/entra.h"
#include "secret.h"
#include "check_main.h"

#define SECRET     "Sup3r~Secr3t.value_with+plus"
#define SECRET_ENC "Sup3r~Secr3t.value_with%2Bplus"
#define TENANT     "72f988bf-86f1-41af-91ab-2d7cd011db47"
#define CLIENT     "0b1e2c3d-4e5f-6071-8293-a4b5c6d7e8f9"

static char dir[64];
static char err[512];

/* ---- fake clock, timer and HTTP ---- */

struct fake_req {
	char *method, *url, *body;
	char *headers[8];
	size_t nheaders;
	long timeout_ms;
	entra_http_done_fn done;
	void *arg;
	int cancelled, completed;
};

#define FAKE_MAX 64
static struct fake_req reqs[FAKE_MAX];
static size_t nreqs;
static uint64_t clock_ms;
static time_t wall_s;
static uint64_t armed_at;
static int narms;
static int fail_request; /* the next request() returns -1 */
static int nfetch_ok, nfetch_fail;

static int fake_request(void *ctx, const struct entra_http_req *r, entra_http_done_fn done, void *arg,
                        void **handle)
{
	struct fake_req *q;
	size_t i;

	(void)ctx;
	if (fail_request) {
		fail_request = 0;
		return -1;
	}
	ck_assert_uint_lt(nreqs, FAKE_MAX);
	q = &reqs[nreqs++];
	memset(q, 0, sizeof *q);
	q->method = strdup(r->method);
	q->url = strdup(r->url);
	q->body = r->body ? strndup(r->body, r->len) : NULL;
	for (i = 0; r->headers[i] != NULL; i++) {
		ck_assert_uint_lt(i, 8);
		q->headers[i] = strdup(r->headers[i]);
	}
	q->nheaders = i;
	q->timeout_ms = r->timeout_ms;
	q->done = done;
	q->arg = arg;
	*handle = q;
	return 0;
}

static void fake_cancel(void *ctx, void *handle)
{
	struct fake_req *q = handle;

	(void)ctx;
	ck_assert_int_eq(q->completed, 0);
	q->cancelled = 1;
}

static void fake_arm(void *ctx, uint64_t due)
{
	(void)ctx;
	armed_at = due;
	narms++;
}

static uint64_t fake_now(void *ctx)
{
	(void)ctx;
	return clock_ms;
}
static time_t fake_wall(void *ctx)
{
	(void)ctx;
	return wall_s;
}

static void fake_on_fetch(void *ctx, int ok, const char *reason)
{
	(void)ctx;
	(void)reason;
	if (ok)
		nfetch_ok++;
	else
		nfetch_fail++;
}

static const struct entra_ops ops = { fake_request, fake_cancel,   fake_arm, fake_now,
	                              fake_wall,    fake_on_fetch, NULL };

/* Answer the last request. */
static void complete(int status, const char *body)
{
	struct fake_req *q;

	ck_assert_uint_gt(nreqs, 0);
	q = &reqs[nreqs - 1];
	ck_assert_int_eq(q->completed, 0);
	ck_assert_int_eq(q->cancelled, 0);
	q->completed = 1;
	q->done(q->arg, status, body, body ? strlen(body) : 0, status == 0 ? "Connection refused" : NULL);
}

static void token_ok(const char *tok, long expires_in)
{
	char body[512];

	snprintf(body, sizeof body,
	         "{\"token_type\":\"Bearer\",\"expires_in\":%ld,\"ext_expires_in\":%ld,"
	         "\"access_token\":\"%s\"}",
	         expires_in, expires_in, tok);
	complete(200, body);
}

/* ---- log capture ---- */

static char logbuf[65536];
static size_t loglen;

static void sink(enum wlog_level lvl, const char *line, void *arg)
{
	size_t n = strlen(line);

	(void)lvl;
	(void)arg;
	if (loglen + n + 1 < sizeof logbuf) {
		memcpy(logbuf + loglen, line, n);
		loglen += n;
		logbuf[loglen++] = '\n';
		logbuf[loglen] = '\0';
	}
}

/* ---- waiters ---- */

struct waiter {
	int called, ok;
	char err[256];
	struct entra_wait *w;
};

static void on_ready(void *arg, int ok, const char *e)
{
	struct waiter *w = arg;

	w->called++;
	w->ok = ok;
	snprintf(w->err, sizeof w->err, "%s", e ? e : "");
}

/* ---- files and config ---- */

static char *write_file(const char *name, const char *content, mode_t mode)
{
	static char p[4][160];
	static int i;
	char *path = p[i++ % 4];
	int fd;

	snprintf(path, 160, "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	close(fd);
	ck_assert_int_eq(chmod(path, mode), 0);
	return path;
}

static config_t lc;
static int lc_used;

/* Parse "upstream = { entra = { <body> }; };" (body may hold newlines for line numbers). */
static int parse(const char *body, struct entra_cfg *out)
{
	char text[4096];
	const config_setting_t *s;

	if (lc_used)
		config_destroy(&lc);
	config_init(&lc);
	lc_used = 1;
	snprintf(text, sizeof text, "upstream = {\n  entra = {\n%s\n  };\n};\n", body);
	ck_assert_msg(config_read_string(&lc, text) == CONFIG_TRUE, "libconfig: %s", config_error_text(&lc));
	s = config_lookup(&lc, "upstream.entra");
	return check_cfg_setting(&entra_cfg_section, s, out, err, sizeof err);
}

static void setup(void)
{
	size_t i;

	snprintf(dir, sizeof dir, "/tmp/check_gw_entra.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	err[0] = '\0';
	unsetenv("CREDENTIALS_DIRECTORY");
	unsetenv("AZURE_TENANT_ID");
	unsetenv("AZURE_CLIENT_ID");
	unsetenv("AZURE_FEDERATED_TOKEN_FILE");
	unsetenv("AZURE_AUTHORITY_HOST");
	unsetenv("IDENTITY_ENDPOINT");
	unsetenv("IDENTITY_HEADER");
	/* the previous test's requests (CK_FORK=no runs every test in this process) */
	for (i = 0; i < nreqs; i++) {
		free(reqs[i].method);
		free(reqs[i].url);
		free(reqs[i].body);
		for (size_t h = 0; h < reqs[i].nheaders; h++)
			free(reqs[i].headers[h]);
		memset(&reqs[i], 0, sizeof reqs[i]);
	}
	nreqs = 0;
	clock_ms = 1000000;
	wall_s = 1700000000;
	armed_at = 0;
	narms = 0;
	fail_request = 0;
	nfetch_ok = nfetch_fail = 0;
	loglen = 0;
	logbuf[0] = '\0';
	log_init("check_gw_entra", WLOG_DEBUG, WLOG_FMT_LOGFMT);
	log_set_sink(sink, NULL);
}

static void teardown(void)
{
	char cmd[128];

	if (lc_used) {
		config_destroy(&lc);
		lc_used = 0;
	}
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
	/* nothing secret ever reached a log line */
	ck_assert_ptr_null(strstr(logbuf, SECRET));
	ck_assert_ptr_null(strstr(logbuf, "tok-"));
	ck_assert_ptr_null(strstr(logbuf, "eyJ"));
}

/* A client_secret cache with its secret file. */
static struct entra *new_secret_cache(struct entra_cfg *c)
{
	char body[600];
	struct entra *e;

	snprintf(body, sizeof body,
	         "kind = \"client_secret\"; tenant_id = \"" TENANT "\"; client_id = \"" CLIENT "\";\n"
	         "client_secret_file = \"%s\"; authority_host = \"http://127.0.0.1:9/\";",
	         write_file("secret", SECRET "\n", 0600));
	ck_assert_int_eq(parse(body, c), 0);
	e = entra_new(c, &ops, err, sizeof err);
	ck_assert_msg(e != NULL, "%s", err);
	return e;
}

static int has_token(struct entra *e)
{
	char *b = entra_bearer(e, NULL);

	secret_free(b);
	return b != NULL;
}

/* ================= configuration ================= */

START_TEST(cfg_absent_is_none)
{
	struct entra_cfg c;

	ck_assert_int_eq(check_cfg_setting(&entra_cfg_section, NULL, &c, err, sizeof err), 0);
	ck_assert_int_eq(c.kind, ENTRA_NONE);
	ck_assert_int_eq(c.timeout_ms, ENTRA_DEFAULT_TIMEOUT_MS);
	cfgtab_clear(&entra_cfg_section, &c);
}
END_TEST

START_TEST(cfg_client_secret_defaults)
{
	struct entra_cfg c;

	ck_assert_int_eq(parse("kind = \"client_secret\"; tenant_id = \"contoso.onmicrosoft.com\";"
	                       " client_id = \"" CLIENT "\"; client_secret_file = \"entra-secret\";",
	                       &c),
	                 0);
	ck_assert_int_eq(c.kind, ENTRA_CLIENT_SECRET);
	ck_assert_str_eq(c.tenant_id, "contoso.onmicrosoft.com");
	ck_assert_str_eq(c.client_id, CLIENT);
	ck_assert_str_eq(c.client_secret_file, "entra-secret");
	ck_assert_str_eq(c.authority_host, "https://login.microsoftonline.com");
	ck_assert_ptr_null(c.imds_endpoint);
	ck_assert_int_eq(c.timeout_ms, 10000);
	cfgtab_clear(&entra_cfg_section, &c);
	/* a trailing slash goes; timeout_ms is taken */
	ck_assert_int_eq(
	        parse("kind = \"client_secret\"; tenant_id = \"" TENANT "\"; client_id = \"" CLIENT "\";"
	              " client_secret_file = \"/x\"; authority_host = \"https://login.microsoftonline.us/\";"
	              " timeout_ms = 2500;",
	              &c),
	        0);
	ck_assert_str_eq(c.authority_host, "https://login.microsoftonline.us");
	ck_assert_int_eq(c.timeout_ms, 2500);
	cfgtab_clear(&entra_cfg_section, &c);
}
END_TEST

START_TEST(cfg_errors_name_key_and_line)
{
	struct entra_cfg c;

	ck_assert_int_eq(parse("kind = \"client_secret\";\ntenant_id = \"" TENANT "\";\nclient_id = \"" CLIENT
	                       "\";",
	                       &c),
	                 -1);
	ck_assert_str_eq(err, "t.conf:2: upstream.entra.client_secret_file: missing");
	ck_assert_int_eq(c.kind, ENTRA_NONE);
	ck_assert_int_eq(parse("tenant_id = \"" TENANT "\";", &c), -1);
	ck_assert_str_eq(err, "t.conf:2: upstream.entra.kind: missing: one of \"client_secret\", "
	                      "\"managed_identity\", \"workload_identity\"");
	ck_assert_int_eq(parse("kind = \"password\";", &c), -1);
	ck_assert_str_eq(err, "t.conf:3: upstream.entra.kind: must be one of \"client_secret\", "
	                      "\"managed_identity\", \"workload_identity\"");
	ck_assert_int_eq(parse("kind = \"managed_identity\";\n\nclient_secret = \"x\";", &c), -1);
	ck_assert_str_eq(err, "t.conf:5: upstream.entra.client_secret: unknown key");
	ck_assert_int_eq(parse("kind = \"managed_identity\";\ntenant_id = \"" TENANT "\";", &c), -1);
	ck_assert_str_eq(err, "t.conf:4: upstream.entra.tenant_id: not used with kind \"managed_identity\"");
	ck_assert_int_eq(parse("kind = \"client_secret\"; tenant_id = \"" TENANT "\"; client_id = \"" CLIENT
	                       "\";"
	                       " client_secret_file = \"s\";\nimds_endpoint = \"http://127.0.0.1:1/\";",
	                       &c),
	                 -1);
	ck_assert_str_eq(err, "t.conf:4: upstream.entra.imds_endpoint: not used with kind \"client_secret\"");
	ck_assert_int_eq(parse("kind = 1;", &c), -1);
	ck_assert_str_eq(err, "t.conf:3: upstream.entra.kind: must be one of \"client_secret\", "
	                      "\"managed_identity\", \"workload_identity\"");
	ck_assert_int_eq(parse("kind = \"managed_identity\"; timeout_ms = 5;", &c), -1);
	ck_assert_str_eq(err, "t.conf:3: upstream.entra.timeout_ms: must be an integer in 100..120000");
	ck_assert_int_eq(parse("kind = \"managed_identity\"; client_id = \"\";", &c), -1);
	ck_assert_str_eq(
	        err, "t.conf:3: upstream.entra.client_id: must be a non-empty string of at most 4096 bytes");
}
END_TEST

START_TEST(cfg_errors_never_show_values)
{
	struct entra_cfg c;

	/* a secret pasted where a name belongs */
	ck_assert_int_eq(parse("kind = \"client_secret\"; tenant_id = \"" SECRET "\"; client_id = \"" CLIENT
	                       "\";"
	                       " client_secret_file = \"s\";",
	                       &c),
	                 -1);
	ck_assert_str_eq(err, "t.conf:3: upstream.entra.tenant_id: must be a GUID or a domain name");
	ck_assert_int_eq(parse("kind = \"managed_identity\"; client_id = \"" SECRET " x\";", &c), -1);
	ck_assert_str_eq(err, "t.conf:3: upstream.entra.client_id: must be a GUID");
	ck_assert_int_eq(parse("kind = \"client_secret\"; tenant_id = \"" TENANT "\"; client_id = \"" CLIENT
	                       "\";"
	                       " client_secret_file = \"s\"; authority_host = \"http://" SECRET ".example\";",
	                       &c),
	                 -1);
	ck_assert_ptr_null(strstr(err, SECRET));
	ck_assert_str_eq(err, "t.conf:3: upstream.entra.authority_host: http:// is accepted only for a "
	                      "loopback host (127.0.0.1, [::1], localhost); use https://");
}
END_TEST

START_TEST(cfg_imds_endpoint_rules)
{
	struct entra_cfg c;

	ck_assert_int_eq(parse("kind = \"managed_identity\";", &c), 0);
	ck_assert_int_eq(c.kind, ENTRA_MANAGED_IDENTITY);
	ck_assert_str_eq(c.imds_endpoint, "http://169.254.169.254/metadata/identity/oauth2/token");
	ck_assert_int_eq(c.imds_set, 0);
	ck_assert_ptr_null(c.client_id);
	ck_assert_ptr_null(c.authority_host);
	cfgtab_clear(&entra_cfg_section, &c);
	ck_assert_int_eq(parse("kind = \"managed_identity\"; client_id = \"" CLIENT "\";"
	                       " imds_endpoint = \"http://127.0.0.1:8123/metadata/identity/oauth2/token\";",
	                       &c),
	                 0);
	ck_assert_int_eq(c.imds_set, 1);
	ck_assert_str_eq(c.client_id, CLIENT);
	cfgtab_clear(&entra_cfg_section, &c);
	ck_assert_int_eq(parse("kind = \"managed_identity\"; imds_endpoint = \"http://10.0.0.4/token\";", &c),
	                 -1);
	ck_assert_str_eq(err, "t.conf:3: upstream.entra.imds_endpoint: http:// is accepted only for "
	                      "169.254.169.254 or a loopback host; use https://");
	ck_assert_int_eq(
	        parse("kind = \"managed_identity\"; imds_endpoint = \"http://127.0.0.1/t?api-version=1\";",
	              &c),
	        -1);
	ck_assert_str_eq(err, "t.conf:3: upstream.entra.imds_endpoint: must not have a query or fragment");
	ck_assert_int_eq(parse("kind = \"managed_identity\"; imds_endpoint = \"https://user@h/t\";", &c), -1);
	ck_assert_str_eq(err, "t.conf:3: upstream.entra.imds_endpoint: must name a host (and no user info)");
}
END_TEST

START_TEST(cfg_workload_identity_environment)
{
	struct entra_cfg c;

	ck_assert_int_eq(parse("kind = \"workload_identity\";", &c), -1);
	ck_assert_str_eq(err, "t.conf:2: upstream.entra.tenant_id: missing (and AZURE_TENANT_ID is not set)");
	setenv("AZURE_TENANT_ID", TENANT, 1);
	setenv("AZURE_CLIENT_ID", CLIENT, 1);
	ck_assert_int_eq(parse("kind = \"workload_identity\";", &c), -1);
	ck_assert_str_eq(err, "t.conf:2: upstream.entra.federated_token_file: missing (and "
	                      "AZURE_FEDERATED_TOKEN_FILE is not set)");
	setenv("AZURE_FEDERATED_TOKEN_FILE", "/var/run/secrets/azure/tokens/azure-identity-token", 1);
	setenv("AZURE_AUTHORITY_HOST", "https://login.microsoftonline.de/", 1);
	ck_assert_int_eq(parse("kind = \"workload_identity\";", &c), 0);
	ck_assert_str_eq(c.tenant_id, TENANT);
	ck_assert_str_eq(c.client_id, CLIENT);
	ck_assert_str_eq(c.federated_token_file, "/var/run/secrets/azure/tokens/azure-identity-token");
	ck_assert_str_eq(c.authority_host, "https://login.microsoftonline.de");
	cfgtab_clear(&entra_cfg_section, &c);
	/* the section wins over the environment */
	ck_assert_int_eq(
	        parse("kind = \"workload_identity\"; tenant_id = \"other-tenant\"; client_id = \"c2\";"
	              " federated_token_file = \"/t\"; authority_host = \"https://login.chinacloudapi.cn\";",
	              &c),
	        0);
	ck_assert_str_eq(c.tenant_id, "other-tenant");
	ck_assert_str_eq(c.client_id, "c2");
	ck_assert_str_eq(c.federated_token_file, "/t");
	ck_assert_str_eq(c.authority_host, "https://login.chinacloudapi.cn");
	cfgtab_clear(&entra_cfg_section, &c);
	/* a bad value from the environment is named as such */
	setenv("AZURE_TENANT_ID", "bad tenant", 1);
	ck_assert_int_eq(parse("kind = \"workload_identity\";", &c), -1);
	ck_assert_str_eq(
	        err, "t.conf:2: upstream.entra.tenant_id: AZURE_TENANT_ID must be a GUID or a domain name");
	/* environment is only read for workload identity */
	setenv("AZURE_TENANT_ID", TENANT, 1);
	ck_assert_int_eq(parse("kind = \"client_secret\"; client_secret_file = \"s\";", &c), -1);
	ck_assert_str_eq(err, "t.conf:2: upstream.entra.tenant_id: missing");
}
END_TEST

START_TEST(cfg_equal_and_preflight)
{
	struct entra_cfg a, b;
	char body[600];

	snprintf(body, sizeof body,
	         "kind = \"client_secret\"; tenant_id = \"" TENANT "\"; client_id = \"" CLIENT "\";"
	         " client_secret_file = \"%s\";",
	         write_file("secret", SECRET "\n", 0640));
	ck_assert_int_eq(parse(body, &a), 0);
	ck_assert_int_eq(parse(body, &b), 0);
	ck_assert_int_eq(entra_cfg_equal(&a, &b), 1);
	free(b.client_id);
	b.client_id = strdup("other");
	ck_assert_int_eq(entra_cfg_equal(&a, &b), 0);
	/* group-readable secret file: refused, the message names key and file, not the secret */
	ck_assert_int_eq(entra_preflight(&a, err, sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "upstream.entra.client_secret_file: credential file "));
	ck_assert_ptr_nonnull(strstr(err, "mode 0640 lets group or others read or write it"));
	ck_assert_ptr_null(strstr(err, SECRET));
	ck_assert_ptr_null(entra_new(&a, &ops, err, sizeof err));
	write_file("secret", SECRET "\n", 0600);
	ck_assert_int_eq(entra_preflight(&a, err, sizeof err), 0);
	cfgtab_clear(&entra_cfg_section, &a);
	cfgtab_clear(&entra_cfg_section, &b);
	/* a bare name is looked up in $CREDENTIALS_DIRECTORY */
	ck_assert_int_eq(parse("kind = \"client_secret\"; tenant_id = \"" TENANT "\"; client_id = \"" CLIENT
	                       "\";"
	                       " client_secret_file = \"secret\";",
	                       &a),
	                 0);
	ck_assert_int_eq(entra_preflight(&a, err, sizeof err), -1);
	ck_assert_str_eq(
	        err,
	        "upstream.entra.client_secret_file: credential secret: a name without '/' is looked up in "
	        "$CREDENTIALS_DIRECTORY, which is not set");
	setenv("CREDENTIALS_DIRECTORY", dir, 1);
	ck_assert_int_eq(entra_preflight(&a, err, sizeof err), 0);
	cfgtab_clear(&entra_cfg_section, &a);
	/* the federated token file has no mode rule (Kubernetes projects it 0644), but must exist */
	snprintf(body, sizeof body,
	         "kind = \"workload_identity\"; tenant_id = \"" TENANT "\"; client_id = \"" CLIENT "\";"
	         " federated_token_file = \"%s/nope\";",
	         dir);
	ck_assert_int_eq(parse(body, &a), 0);
	ck_assert_int_eq(entra_preflight(&a, err, sizeof err), -1);
	ck_assert_ptr_nonnull(strstr(err, "upstream.entra.federated_token_file: "));
	ck_assert_ptr_nonnull(strstr(err, "No such file or directory"));
	write_file("nope", "eyJhbGciOi.x.y\n", 0644);
	ck_assert_int_eq(entra_preflight(&a, err, sizeof err), 0);
	cfgtab_clear(&entra_cfg_section, &a);
}
END_TEST

/* ================= token requests ================= */

START_TEST(request_client_secret)
{
	struct entra_cfg c;
	struct entra *e = new_secret_cache(&c);

	ck_assert_uint_eq(nreqs, 0); /* entra_new does not fetch */
	entra_start(e);
	ck_assert_uint_eq(nreqs, 1);
	ck_assert_str_eq(reqs[0].method, "POST");
	ck_assert_str_eq(reqs[0].url, "http://127.0.0.1:9/" TENANT "/oauth2/v2.0/token");
	ck_assert_str_eq(reqs[0].body,
	                 "grant_type=client_credentials&client_id=" CLIENT "&client_secret=" SECRET_ENC
	                 "&scope=https%3A%2F%2Fwebpubsub.azure.com%2F.default");
	ck_assert_uint_eq(reqs[0].nheaders, 2);
	ck_assert_str_eq(reqs[0].headers[0], "Content-Type: application/x-www-form-urlencoded");
	ck_assert_str_eq(reqs[0].headers[1], "Accept: application/json");
	ck_assert_int_eq(reqs[0].timeout_ms, 10000);
	entra_free(e);
	ck_assert_int_eq(reqs[0].cancelled, 1); /* freed while in flight */
	cfgtab_clear(&entra_cfg_section, &c);
}
END_TEST

START_TEST(request_workload_identity_rereads_assertion)
{
	struct entra_cfg c;
	struct entra *e;
	char body[600];

	snprintf(body, sizeof body,
	         "kind = \"workload_identity\"; tenant_id = \"" TENANT "\"; client_id = \"" CLIENT "\";"
	         " federated_token_file = \"%s\"; authority_host = \"http://localhost:8/\";",
	         write_file("fed", "assertion.one.sig\n", 0644));
	ck_assert_int_eq(parse(body, &c), 0);
	ck_assert_ptr_nonnull(e = entra_new(&c, &ops, err, sizeof err));
	entra_start(e);
	ck_assert_str_eq(reqs[0].url, "http://localhost:8/" TENANT "/oauth2/v2.0/token");
	ck_assert_str_eq(
	        reqs[0].body,
	        "grant_type=client_credentials&client_id=" CLIENT
	        "&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer"
	        "&client_assertion=assertion.one.sig&scope=https%3A%2F%2Fwebpubsub.azure.com%2F.default");
	token_ok("tok-1", 3600);
	/* the platform rotates the file: the refresh sends the new one */
	write_file("fed", "assertion.two.sig", 0644);
	clock_ms += 3300 * 1000;
	entra_tick(e);
	ck_assert_uint_eq(nreqs, 2);
	ck_assert_ptr_nonnull(strstr(reqs[1].body, "&client_assertion=assertion.two.sig&"));
	/* a vanished file is a failed fetch with a reason naming key and file */
	token_ok("tok-2", 3600);
	unlink(c.federated_token_file);
	clock_ms += 3300 * 1000;
	entra_tick(e);
	ck_assert_uint_eq(nreqs, 2);
	ck_assert_int_eq(nfetch_fail, 1);
	{
		struct entra_status st;
		entra_get_status(e, &st);
		ck_assert_int_eq(st.state, ENTRA_ST_DEGRADED);
		ck_assert_int_eq(st.ready, 1);
		ck_assert_ptr_nonnull(strstr(st.reason, "upstream.entra.federated_token_file: "));
		ck_assert_ptr_nonnull(strstr(st.reason, "No such file or directory"));
	}
	entra_free(e);
	cfgtab_clear(&entra_cfg_section, &c);
}
END_TEST

START_TEST(request_managed_identity_imds)
{
	struct entra_cfg c;
	struct entra *e;

	ck_assert_int_eq(parse("kind = \"managed_identity\"; imds_endpoint = "
	                       "\"http://127.0.0.1:7/metadata/identity/oauth2/token\";",
	                       &c),
	                 0);
	ck_assert_ptr_nonnull(e = entra_new(&c, &ops, err, sizeof err));
	entra_start(e);
	ck_assert_str_eq(reqs[0].method, "GET");
	ck_assert_str_eq(reqs[0].url,
	                 "http://127.0.0.1:7/metadata/identity/oauth2/token?api-version=2018-02-01"
	                 "&resource=https%3A%2F%2Fwebpubsub.azure.com");
	ck_assert_ptr_null(reqs[0].body);
	ck_assert_uint_eq(reqs[0].nheaders, 2);
	ck_assert_str_eq(reqs[0].headers[0], "Metadata: true");
	/* IMDS sends numbers as strings */
	complete(200, "{\"access_token\":\"tok-imds\",\"client_id\":\"x\",\"expires_in\":\"86399\",\"expires_"
	              "on\":\"1700086399\","
	              "\"ext_expires_in\":\"86399\",\"not_before\":\"1700000000\",\"resource\":\"https://"
	              "webpubsub.azure.com\","
	              "\"token_type\":\"Bearer\"}");
	{
		unsigned long gen = 0;
		char *b = entra_bearer(e, &gen);
		ck_assert_str_eq(b, "Bearer tok-imds");
		ck_assert_uint_eq(gen, 1);
		secret_free(b);
	}
	entra_free(e);
	cfgtab_clear(&entra_cfg_section, &c);
	/* user-assigned */
	ck_assert_int_eq(parse("kind = \"managed_identity\"; client_id = \"" CLIENT "\";", &c), 0);
	ck_assert_ptr_nonnull(e = entra_new(&c, &ops, err, sizeof err));
	entra_start(e);
	ck_assert_str_eq(reqs[1].url,
	                 "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01"
	                 "&resource=https%3A%2F%2Fwebpubsub.azure.com&client_id=" CLIENT);
	entra_free(e);
	cfgtab_clear(&entra_cfg_section, &c);
}
END_TEST

START_TEST(request_managed_identity_app_service)
{
	struct entra_cfg c;
	struct entra *e;
	unsigned long gen;
	char *b;

	setenv("IDENTITY_ENDPOINT", "http://127.0.0.1:41741/MSI/token/", 1);
	setenv("IDENTITY_HEADER", "hdr-" SECRET, 1);
	ck_assert_int_eq(parse("kind = \"managed_identity\";", &c), 0);
	ck_assert_ptr_nonnull(e = entra_new(&c, &ops, err, sizeof err));
	entra_start(e);
	ck_assert_str_eq(reqs[0].url, "http://127.0.0.1:41741/MSI/token/?api-version=2019-08-01"
	                              "&resource=https%3A%2F%2Fwebpubsub.azure.com");
	ck_assert_uint_eq(reqs[0].nheaders, 3);
	ck_assert_str_eq(reqs[0].headers[1], "X-IDENTITY-HEADER: hdr-" SECRET);
	/* App Service answers expires_on (epoch seconds) */
	complete(200, "{\"access_token\":\"tok-as\",\"expires_on\":1700003600,\"resource\":\"https://"
	              "webpubsub.azure.com\","
	              "\"token_type\":\"Bearer\"}");
	b = entra_bearer(e, &gen);
	ck_assert_str_eq(b, "Bearer tok-as");
	secret_free(b);
	/* 3600 s: refresh 5 min ahead */
	ck_assert_uint_eq(armed_at, 1000000 + 3300 * 1000);
	entra_free(e);
	cfgtab_clear(&entra_cfg_section, &c);
	/* an explicit imds_endpoint wins over the environment */
	ck_assert_int_eq(parse("kind = \"managed_identity\"; imds_endpoint = \"http://127.0.0.1:7/t\";", &c),
	                 0);
	ck_assert_ptr_nonnull(e = entra_new(&c, &ops, err, sizeof err));
	entra_start(e);
	ck_assert_str_eq(
	        reqs[1].url,
	        "http://127.0.0.1:7/t?api-version=2018-02-01&resource=https%3A%2F%2Fwebpubsub.azure.com");
	entra_free(e);
	cfgtab_clear(&entra_cfg_section, &c);
}
END_TEST

/* ================= answers ================= */

START_TEST(parse_answers)
{
	long life;
	char *t;

	t = entra_parse_token(200, "{\"access_token\":\"a.b-c_d\",\"expires_in\":3599}", 44, 0, &life, err,
	                      sizeof err);
	ck_assert_str_eq(t, "a.b-c_d");
	ck_assert_int_eq(life, 3599);
	secret_free(t);
#define BAD(st, body, msg)                                                                                   \
	do {                                                                                                 \
		ck_assert_ptr_null(                                                                          \
		        entra_parse_token(st, body, strlen(body), 1700000000, &life, err, sizeof err));      \
		ck_assert_str_eq(err, msg);                                                                  \
	} while (0)
	BAD(200, "<html>oops</html>", "token service answer is not a JSON object");
	BAD(200, "", "token service answer is not a JSON object");
	BAD(200, "[\"tok-in-array\"]", "token service answer is not a JSON object");
	BAD(200, "{\"access_token\":\"tok-x\",\"access_token\":\"tok-y\",\"expires_in\":1}",
	    "token service answer is not a JSON object");
	BAD(200, "{\"expires_in\":3600}", "token service answer has no access_token");
	BAD(200, "{\"access_token\":\"\",\"expires_in\":3600}", "token service answer has no access_token");
	BAD(200, "{\"access_token\":42,\"expires_in\":3600}", "token service answer has no access_token");
	BAD(200, "{\"access_token\":\"tok-a\\r\\nX-Evil: 1\",\"expires_in\":3600}",
	    "token service answer has an access_token that cannot be sent as a bearer token");
	BAD(200, "{\"access_token\":\"tok-a b\",\"expires_in\":3600}",
	    "token service answer has an access_token that cannot be sent as a bearer token");
	BAD(200, "{\"access_token\":\"tok-a\",\"token_type\":\"pop\",\"expires_in\":3600}",
	    "token service answer has a token_type other than Bearer");
	BAD(200, "{\"access_token\":\"tok-a\"}",
	    "token service answer has no usable expires_in or expires_on");
	BAD(200, "{\"access_token\":\"tok-a\",\"expires_in\":\"soon\"}",
	    "token service answer has no usable expires_in or expires_on");
	BAD(200, "{\"access_token\":\"tok-a\",\"expires_in\":0}",
	    "token service answer holds a token that has already expired");
	BAD(200, "{\"access_token\":\"tok-a\",\"expires_on\":\"1699999999\"}",
	    "token service answer holds a token that has already expired");
	/* errors: only the error code and the AADSTS number, never the free text */
	BAD(401,
	    "{\"error\":\"invalid_client\",\"error_description\":\"AADSTS7000215: Invalid client secret "
	    "provided. "
	    "Ensure the secret being sent is " SECRET "\"}",
	    "token service answered HTTP 401 (error invalid_client, AADSTS7000215)");
	BAD(400, "{\"error\":\"invalid_request\",\"error_description\":\"Identity not found\"}",
	    "token service answered HTTP 400 (error invalid_request)");
	BAD(500, "<html>" SECRET "</html>", "token service answered HTTP 500");
	BAD(503, "{\"error\":\"bad\\\"code\"}", "token service answered HTTP 503 (error bad)");
#undef BAD
	/* expires_on, lifetime cap */
	t = entra_parse_token(200, "{\"access_token\":\"x\",\"expires_on\":\"1700000600\"}", 46, 1700000000,
	                      &life, err, sizeof err);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(life, 600);
	secret_free(t);
	t = entra_parse_token(200, "{\"access_token\":\"x\",\"expires_in\":9999999}", 41, 0, &life, err,
	                      sizeof err);
	ck_assert_int_eq(life, ENTRA_LIFETIME_MAX_S);
	secret_free(t);
}
END_TEST

/* ================= the state machine ================= */

START_TEST(first_fetch_queues_waiters)
{
	struct entra_cfg c;
	struct entra *e = new_secret_cache(&c);
	struct waiter w1 = { 0 }, w2 = { 0 };
	struct entra_status st;
	unsigned long gen = 0;
	char *b;

	entra_get_status(e, &st);
	ck_assert_int_eq(st.state, ENTRA_ST_STARTING);
	ck_assert_int_eq(st.ready, 0);
	/* no token yet: acquire starts the fetch and queues */
	ck_assert_int_eq(entra_acquire(e, on_ready, &w1, &w1.w, err, sizeof err), ENTRA_WAIT);
	ck_assert_ptr_nonnull(w1.w);
	ck_assert_uint_eq(nreqs, 1);
	ck_assert_int_eq(entra_acquire(e, on_ready, &w2, &w2.w, err, sizeof err), ENTRA_WAIT);
	ck_assert_uint_eq(nreqs, 1); /* one fetch for both */
	ck_assert_ptr_null(entra_bearer(e, &gen));
	entra_get_status(e, &st);
	ck_assert_uint_eq(st.waiting, 2);
	ck_assert_int_eq(st.fetching, 1);
	ck_assert_uint_eq(armed_at, 0); /* no timer while a fetch is in flight */
	clock_ms += 200;                /* the answer takes 200 ms: lifetimes count from the request */
	token_ok("tok-1", 3600);
	ck_assert_int_eq(w1.called, 1);
	ck_assert_int_eq(w1.ok, 1);
	ck_assert_int_eq(w2.called, 1);
	ck_assert_int_eq(w2.ok, 1);
	ck_assert_int_eq(nfetch_ok, 1);
	b = entra_bearer(e, &gen);
	ck_assert_str_eq(b, "Bearer tok-1");
	ck_assert_uint_eq(gen, 1);
	secret_free(b);
	/* 3600 s: refresh at expiry - 5 min, from the request's start */
	ck_assert_uint_eq(armed_at, 1000000 + 3300 * 1000);
	entra_get_status(e, &st);
	ck_assert_int_eq(st.state, ENTRA_ST_OK);
	ck_assert_int_eq(st.ready, 1);
	ck_assert_int_eq(st.token_ttl_s, 3600 - 30 - 1); /* usable until 30 s before exp; 0.2 s gone */
	ck_assert_uint_eq(st.waiting, 0);
	/* cached: OK at once, no request */
	ck_assert_int_eq(entra_acquire(e, on_ready, &w1, &w1.w, err, sizeof err), ENTRA_OK);
	ck_assert_ptr_null(w1.w);
	ck_assert_uint_eq(nreqs, 1);
	ck_assert_ptr_nonnull(strstr(
	        logbuf, "msg=\"Entra ID token acquired\" kind=client_secret generation=1 expires_in_s=3600"));
	entra_free(e);
	cfgtab_clear(&entra_cfg_section, &c);
}
END_TEST

START_TEST(refresh_ahead_short_lifetime)
{
	struct entra_cfg c;
	struct entra *e = new_secret_cache(&c);
	struct waiter w = { 0 };
	unsigned long gen;
	char *b;

	entra_start(e);
	token_ok("tok-1", 10); /* 10 s: refresh at 80% (8 s), unusable in the last 1 s */
	ck_assert_uint_eq(armed_at, 1000000 + 8000);
	clock_ms += 7999;
	ck_assert_int_eq(entra_acquire(e, on_ready, &w, &w.w, err, sizeof err), ENTRA_OK);
	ck_assert_uint_eq(nreqs, 1);
	clock_ms += 1;
	entra_tick(e); /* the timer */
	ck_assert_uint_eq(nreqs, 2);
	/* while the refresh is in flight the old token still serves */
	ck_assert_int_eq(entra_acquire(e, on_ready, &w, &w.w, err, sizeof err), ENTRA_OK);
	b = entra_bearer(e, &gen);
	ck_assert_str_eq(b, "Bearer tok-1");
	secret_free(b);
	token_ok("tok-2", 10);
	b = entra_bearer(e, &gen);
	ck_assert_str_eq(b, "Bearer tok-2");
	ck_assert_uint_eq(gen, 2);
	secret_free(b);
	ck_assert_uint_eq(armed_at, 1000000 + 8000 + 8000);
	/* no refresh when asked by a request before it is due, one when it is due (timer or not) */
	clock_ms += 8000;
	ck_assert_int_eq(entra_acquire(e, on_ready, &w, &w.w, err, sizeof err), ENTRA_OK);
	ck_assert_uint_eq(nreqs, 3);
	ck_assert_int_eq(entra_acquire(e, on_ready, &w, &w.w, err, sizeof err), ENTRA_OK);
	ck_assert_uint_eq(nreqs, 3);
	/* the refresh hangs: at 9 s the token is no longer used, requests wait for the fetch */
	clock_ms += 1000;
	ck_assert_int_eq(entra_acquire(e, on_ready, &w, &w.w, err, sizeof err), ENTRA_WAIT);
	ck_assert_uint_eq(nreqs, 3);
	token_ok("tok-3", 10);
	ck_assert_int_eq(w.called, 1);
	ck_assert_int_eq(w.ok, 1);
	entra_free(e);
	cfgtab_clear(&entra_cfg_section, &c);
}
END_TEST

START_TEST(invalidate_once_per_generation)
{
	struct entra_cfg c;
	struct entra *e = new_secret_cache(&c);
	struct waiter w = { 0 }, w2 = { 0 };
	struct entra_status st;
	unsigned long gen;
	char *b;

	entra_start(e);
	token_ok("tok-1", 3600);
	b = entra_bearer(e, &gen);
	secret_free(b);
	ck_assert_uint_eq(gen, 1);
	/* a 401 with generation 1: dropped, a fetch starts at once */
	entra_invalidate(e, 1);
	ck_assert_uint_eq(nreqs, 2);
	ck_assert_int_eq(has_token(e), 0);
	/* 99 more 401s for the same token: nothing more */
	for (int i = 0; i < 99; i++)
		entra_invalidate(e, 1);
	ck_assert_uint_eq(nreqs, 2);
	ck_assert_int_eq(entra_acquire(e, on_ready, &w, &w.w, err, sizeof err), ENTRA_WAIT);
	token_ok("tok-2", 3600);
	ck_assert_int_eq(w.ok, 1);
	/* a late 401 for generation 1 does not throw away generation 2 */
	entra_invalidate(e, 1);
	b = entra_bearer(e, &gen);
	ck_assert_str_eq(b, "Bearer tok-2");
	ck_assert_uint_eq(gen, 2);
	secret_free(b);
	ck_assert_uint_eq(nreqs, 2);
	entra_get_status(e, &st);
	ck_assert_uint_eq(st.invalidated, 1);
	ck_assert_uint_eq(st.generation, 2);
	/* a 401 while the token service is in backoff still gets its one forced fetch */
	entra_invalidate(e, 2);
	ck_assert_uint_eq(nreqs, 3);
	complete(500, "{}");
	ck_assert_int_eq(entra_acquire(e, on_ready, &w2, &w2.w, err, sizeof err), ENTRA_ERR);
	ck_assert_ptr_nonnull(strstr(
	        logbuf,
	        "msg=\"the upstream rejected the Entra ID token (401): fetching a new one\" generation=1"));
	entra_free(e);
	cfgtab_clear(&entra_cfg_section, &c);
}
END_TEST

START_TEST(backoff_doubles_to_60s_and_resets)
{
	struct entra_cfg c;
	struct entra *e = new_secret_cache(&c);
	struct waiter w = { 0 };
	struct entra_status st;
	uint64_t expect = 1000;
	int i;

	ck_assert_int_eq(entra_acquire(e, on_ready, &w, &w.w, err, sizeof err), ENTRA_WAIT);
	complete(500, "{\"error\":\"temporarily_unavailable\"}");
	/* the waiter learns why */
	ck_assert_int_eq(w.called, 1);
	ck_assert_int_eq(w.ok, 0);
	ck_assert_str_eq(w.err, "token service answered HTTP 500 (error temporarily_unavailable)");
	entra_get_status(e, &st);
	ck_assert_int_eq(st.state, ENTRA_ST_FAILING);
	ck_assert_int_eq(st.ready, 0);
	ck_assert_str_eq(st.reason, "token service answered HTTP 500 (error temporarily_unavailable)");
	ck_assert_uint_eq(st.fetch_failed, 1);
	ck_assert_int_eq(nfetch_fail, 1);
	/* during the backoff: an immediate, clear error, and no new request */
	ck_assert_uint_eq(armed_at, clock_ms + 1000);
	clock_ms += 400;
	ck_assert_int_eq(entra_acquire(e, on_ready, &w, &w.w, err, sizeof err), ENTRA_ERR);
	ck_assert_str_eq(
	        err,
	        "Entra ID token unavailable: token service answered HTTP 500 (error temporarily_unavailable) "
	        "(next try in 1 s)");
	ck_assert_uint_eq(nreqs, 1);
	clock_ms -= 400;
	/* the timer retries on its own: 1, 2, 4, ... 60, 60 s */
	for (i = 0; i < 9; i++) {
		clock_ms += expect;
		ck_assert_uint_eq(armed_at, clock_ms);
		entra_tick(e);
		ck_assert_uint_eq(nreqs, (size_t)i + 2);
		complete(0, NULL);
		expect = expect * 2 > 60000 ? 60000 : expect * 2;
		ck_assert_uint_eq(armed_at, clock_ms + expect);
	}
	ck_assert_uint_eq(expect, 60000);
	entra_get_status(e, &st);
	ck_assert_str_eq(st.reason, "token service did not answer: Connection refused");
	ck_assert_uint_eq(st.fetch_failed, 10);
	/* a success resets it */
	clock_ms += expect;
	entra_tick(e);
	token_ok("tok-1", 3600);
	entra_get_status(e, &st);
	ck_assert_int_eq(st.state, ENTRA_ST_OK);
	ck_assert_str_eq(st.reason, "");
	ck_assert_ptr_nonnull(strstr(logbuf, "level=info msg=\"Entra ID token acquired\""));
	clock_ms += 3300 * 1000;
	entra_tick(e);
	complete(503, "");
	ck_assert_uint_eq(armed_at, clock_ms + 1000); /* 1 s again, not 120 s */
	entra_get_status(e, &st);
	ck_assert_int_eq(st.state, ENTRA_ST_DEGRADED); /* the token is still good */
	ck_assert_int_eq(st.ready, 1);
	ck_assert_int_eq(entra_acquire(e, on_ready, &w, &w.w, err, sizeof err), ENTRA_OK);
	ck_assert_ptr_nonnull(strstr(logbuf,
	                             "level=warn msg=\"Entra ID token request failed\" kind=client_secret "
	                             "reason=\"token service answered HTTP 503\" retry_in_ms=1000 "
	                             "token=\"cached one still valid\""));
	entra_free(e);
	cfgtab_clear(&entra_cfg_section, &c);
}
END_TEST

START_TEST(request_start_failure_is_a_failed_fetch)
{
	struct entra_cfg c;
	struct entra *e = new_secret_cache(&c);
	struct waiter w = { 0 };

	fail_request = 1;
	ck_assert_int_eq(entra_acquire(e, on_ready, &w, &w.w, err, sizeof err), ENTRA_ERR);
	ck_assert_str_eq(err, "Entra ID token unavailable: token request could not be started");
	ck_assert_int_eq(w.called, 0);
	ck_assert_uint_eq(armed_at, clock_ms + 1000);
	entra_free(e);
	cfgtab_clear(&entra_cfg_section, &c);
}
END_TEST

START_TEST(queue_is_bounded)
{
	struct entra_cfg c;
	struct entra *e = new_secret_cache(&c);
	static struct waiter ws[ENTRA_WAITERS_MAX + 1];
	struct entra_status st;
	int i;

	for (i = 0; i < ENTRA_WAITERS_MAX; i++)
		ck_assert_int_eq(entra_acquire(e, on_ready, &ws[i], &ws[i].w, err, sizeof err), ENTRA_WAIT);
	ck_assert_int_eq(entra_acquire(e, on_ready, &ws[i], &ws[i].w, err, sizeof err), ENTRA_ERR);
	ck_assert_str_eq(err, "Entra ID token unavailable: 10000 requests are already waiting for one");
	entra_get_status(e, &st);
	ck_assert_uint_eq(st.waiting, ENTRA_WAITERS_MAX);
	ck_assert_uint_eq(st.rejected, 1);
	token_ok("tok-1", 3600);
	for (i = 0; i < ENTRA_WAITERS_MAX; i++)
		ck_assert_int_eq(ws[i].called, 1);
	ck_assert_int_eq(ws[ENTRA_WAITERS_MAX].called, 0);
	entra_free(e);
	cfgtab_clear(&entra_cfg_section, &c);
}
END_TEST

/* A waiter whose callback cancels another that has not been called yet. */
static struct entra *cb_e;
static struct waiter cb_w[3];
static void on_ready_cancel(void *arg, int ok, const char *e)
{
	on_ready(arg, ok, e);
	entra_wait_cancel(cb_e, cb_w[2].w);
}

START_TEST(cancel_waiters)
{
	struct entra_cfg c;
	struct entra *e = new_secret_cache(&c);

	cb_e = e;
	memset(cb_w, 0, sizeof cb_w);
	ck_assert_int_eq(entra_acquire(e, on_ready, &cb_w[0], &cb_w[0].w, err, sizeof err), ENTRA_WAIT);
	ck_assert_int_eq(entra_acquire(e, on_ready_cancel, &cb_w[1], &cb_w[1].w, err, sizeof err),
	                 ENTRA_WAIT);
	ck_assert_int_eq(entra_acquire(e, on_ready, &cb_w[2], &cb_w[2].w, err, sizeof err), ENTRA_WAIT);
	entra_wait_cancel(e, cb_w[0].w); /* e.g. the request's deadline passed */
	entra_wait_cancel(e, NULL);
	token_ok("tok-1", 3600);
	ck_assert_int_eq(cb_w[0].called, 0);
	ck_assert_int_eq(cb_w[1].called, 1);
	ck_assert_int_eq(cb_w[2].called, 0); /* cancelled from inside the other's callback */
	entra_free(e);
	cfgtab_clear(&entra_cfg_section, &c);
}
END_TEST

START_TEST(bad_answers_fail_waiters_without_secrets)
{
	struct entra_cfg c;
	struct entra *e = new_secret_cache(&c);
	struct waiter w = { 0 };

	ck_assert_int_eq(entra_acquire(e, on_ready, &w, &w.w, err, sizeof err), ENTRA_WAIT);
	complete(200, "{\"access_token\":\"tok-" SECRET "\","); /* cut JSON */
	ck_assert_int_eq(w.ok, 0);
	ck_assert_str_eq(w.err, "token service answer is not a JSON object");
	clock_ms += 1000;
	entra_tick(e);
	complete(400,
	         "{\"error\":\"invalid_client\",\"error_description\":\"AADSTS7000215: bad secret " SECRET
	         "\"}");
	ck_assert_ptr_null(strstr(logbuf, SECRET));
	ck_assert_ptr_nonnull(strstr(
	        logbuf, "reason=\"token service answered HTTP 400 (error invalid_client, AADSTS7000215)\""));
	entra_free(e);
	cfgtab_clear(&entra_cfg_section, &c);
}
END_TEST

START_TEST(expired_token_is_not_used)
{
	struct entra_cfg c;
	struct entra *e = new_secret_cache(&c);
	struct waiter w = { 0 };

	entra_start(e);
	token_ok("tok-1", 100);
	/* the refresh fails and keeps failing: at 90 s (100 - 10%) the token is gone */
	clock_ms += 80000;
	entra_tick(e);
	complete(500, "");
	clock_ms += 9999;
	ck_assert_int_eq(has_token(e), 1);
	clock_ms += 1;
	ck_assert_int_eq(has_token(e), 0);
	ck_assert_int_eq(entra_acquire(e, on_ready, &w, &w.w, err, sizeof err),
	                 ENTRA_WAIT); /* backoff over: fetch */
	entra_free(e);
	cfgtab_clear(&entra_cfg_section, &c);
}
END_TEST

START_TEST(configure_keeps_or_replaces)
{
	struct entra_cfg c, c2;
	struct entra *e = new_secret_cache(&c);
	struct waiter w = { 0 };
	char body[600];

	entra_start(e);
	token_ok("tok-1", 3600);
	ck_assert_int_eq(entra_configure(e, &c, err, sizeof err), 0);
	ck_assert_uint_eq(nreqs, 1);
	ck_assert_int_eq(has_token(e), 1);
	/* another client id: token dropped, new fetch; the waiter is served by it */
	snprintf(body, sizeof body,
	         "kind = \"client_secret\"; tenant_id = \"" TENANT "\"; client_id = \"other\";"
	         " client_secret_file = \"%s/secret\"; authority_host = \"http://127.0.0.1:9\";",
	         dir);
	ck_assert_int_eq(parse(body, &c2), 0);
	ck_assert_int_eq(entra_configure(e, &c2, err, sizeof err), 0);
	ck_assert_uint_eq(nreqs, 2);
	ck_assert_ptr_nonnull(strstr(reqs[1].body, "client_id=other&"));
	ck_assert_int_eq(entra_acquire(e, on_ready, &w, &w.w, err, sizeof err), ENTRA_WAIT);
	/* a new configuration during a fetch cancels it */
	ck_assert_int_eq(entra_configure(e, &c, err, sizeof err), 0);
	ck_assert_int_eq(reqs[1].cancelled, 1);
	ck_assert_uint_eq(nreqs, 3);
	token_ok("tok-3", 3600);
	ck_assert_int_eq(w.ok, 1);
	/* an unreadable secret: refused, nothing changes */
	write_file("secret", SECRET, 0644);
	ck_assert_int_eq(entra_configure(e, &c2, err, sizeof err), -1);
	ck_assert_uint_eq(nreqs, 3);
	entra_free(e);
	cfgtab_clear(&entra_cfg_section, &c);
	cfgtab_clear(&entra_cfg_section, &c2);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("gw_entra");
	TCase *tc = tcase_create("cfg");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, cfg_absent_is_none);
	tcase_add_test(tc, cfg_client_secret_defaults);
	tcase_add_test(tc, cfg_errors_name_key_and_line);
	tcase_add_test(tc, cfg_errors_never_show_values);
	tcase_add_test(tc, cfg_imds_endpoint_rules);
	tcase_add_test(tc, cfg_workload_identity_environment);
	tcase_add_test(tc, cfg_equal_and_preflight);
	suite_add_tcase(s, tc);

	tc = tcase_create("requests");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, request_client_secret);
	tcase_add_test(tc, request_workload_identity_rereads_assertion);
	tcase_add_test(tc, request_managed_identity_imds);
	tcase_add_test(tc, request_managed_identity_app_service);
	tcase_add_test(tc, parse_answers);
	suite_add_tcase(s, tc);

	tc = tcase_create("cache");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, first_fetch_queues_waiters);
	tcase_add_test(tc, refresh_ahead_short_lifetime);
	tcase_add_test(tc, invalidate_once_per_generation);
	tcase_add_test(tc, backoff_doubles_to_60s_and_resets);
	tcase_add_test(tc, request_start_failure_is_a_failed_fetch);
	tcase_add_test(tc, queue_is_bounded);
	tcase_add_test(tc, cancel_waiters);
	tcase_add_test(tc, bad_answers_fail_waiters_without_secrets);
	tcase_add_test(tc, expired_token_is_not_used);
	tcase_add_test(tc, configure_keeps_or_replaces);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(suite());
}
