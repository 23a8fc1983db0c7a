/* check_gw_cred.c: Check suite for src/gateway/cred.c (key files, modes, connection strings, $CREDENTIALS_DIRECTORY). */
#include <config.h>

#include <check.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check_main.h"
#include "jwt.h"
#include "wpslimits.h"
#include "gateway/cfg.h"
#include "gateway/cred.h"
#include "secret.h"

#define KEY "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH"

static char dir[64];
static char err[512];
static struct cfg cfg;

static void setup(void)
{
	snprintf(dir, sizeof dir, "/tmp/check_gw_cred.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	memset(&cfg, 0, sizeof cfg);
	err[0] = '\0';
	unsetenv("CREDENTIALS_DIRECTORY");
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

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

START_TEST(key_file_0600_trimmed)
{
	struct cred *c = NULL;

	cfg.upstreams[0].access_key_file = write_file("key", KEY "\n \t\r\n", 0600);
	cfg.upstreams[0].endpoint = (char *)(uintptr_t) "https://x.webpubsub.azure.com";
	ck_assert_int_eq(cred_load(&cfg, &c, err, sizeof err), 0);
	ck_assert_str_eq(c->key, KEY);
	ck_assert_uint_eq(c->keylen, strlen(KEY));
	ck_assert_str_eq(c->endpoint, "https://x.webpubsub.azure.com");
	cred_free(c);
	cred_free(NULL);
	cfg.upstreams[0].access_key_file = write_file("key4", KEY, 0400);
	ck_assert_int_eq(cred_load(&cfg, &c, err, sizeof err), 0);
	cred_free(c);
}
END_TEST

START_TEST(key_file_0644_refused)
{
	struct cred *c = (struct cred *)1;
	static const mode_t bad[] = { 0644, 0640, 0604, 0620, 0602, 0660 };
	size_t i;

	cfg.upstreams[0].endpoint = (char *)(uintptr_t) "https://x.webpubsub.azure.com";
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		cfg.upstreams[0].access_key_file = write_file("key", KEY, bad[i]);
		ck_assert_int_eq(cred_load(&cfg, &c, err, sizeof err), -1);
		ck_assert_ptr_null(c);
		ck_assert_msg(strstr(err, cfg.upstreams[0].access_key_file) != NULL, "error does not name the file: %s",
		              err);
		ck_assert_msg(strstr(err, "group or others") != NULL, "%s", err);
		ck_assert_msg(strstr(err, KEY) == NULL, "the key is in the error");
	}
}
END_TEST

START_TEST(key_file_errors)
{
	struct cred *c = NULL;
	char p[200];

	cfg.upstreams[0].endpoint = (char *)(uintptr_t) "https://x.webpubsub.azure.com";
	cfg.upstreams[0].access_key_file = write_file("empty", "\n\n", 0600);
	ck_assert_int_eq(cred_load(&cfg, &c, err, sizeof err), -1);
	ck_assert_msg(strstr(err, "empty") != NULL, "%s", err);
	snprintf(p, sizeof p, "%s/missing", dir);
	cfg.upstreams[0].access_key_file = p;
	ck_assert_int_eq(cred_load(&cfg, &c, err, sizeof err), -1);
	ck_assert_msg(strstr(err, p) != NULL, "%s", err);
	cfg.upstreams[0].access_key_file = dir; /* a directory */
	ck_assert_int_eq(cred_load(&cfg, &c, err, sizeof err), -1);
	cfg.upstreams[0].access_key_file = write_file("twolines", KEY "\nsecond\n", 0600);
	ck_assert_int_eq(cred_load(&cfg, &c, err, sizeof err), -1);
	ck_assert_msg(strstr(err, KEY) == NULL && strstr(err, "second") == NULL, "%s", err);
}
END_TEST

START_TEST(credentials_directory)
{
	struct cred *c = NULL;

	write_file("access-key", KEY "\n", 0400);
	cfg.upstreams[0].endpoint = (char *)(uintptr_t) "https://x.webpubsub.azure.com";
	cfg.upstreams[0].access_key_file = (char *)(uintptr_t) "access-key";
	ck_assert_int_eq(cred_load(&cfg, &c, err, sizeof err), -1); /* no $CREDENTIALS_DIRECTORY */
	ck_assert_msg(strstr(err, "CREDENTIALS_DIRECTORY") != NULL, "%s", err);
	setenv("CREDENTIALS_DIRECTORY", dir, 1);
	ck_assert_int_eq(cred_load(&cfg, &c, err, sizeof err), 0);
	ck_assert_str_eq(c->key, KEY);
	cred_free(c);
}
END_TEST

START_TEST(connection_string)
{
	struct cred *c = NULL;

	cfg.upstreams[0].connection_string_file =
	        write_file("cs", "Endpoint=http://127.0.0.1:8080;AccessKey=" KEY ";Version=1.0;\n", 0600);
	ck_assert_int_eq(cred_load(&cfg, &c, err, sizeof err), 0);
	ck_assert_str_eq(c->endpoint, "http://127.0.0.1:8080");
	ck_assert_str_eq(c->key, KEY);
	cred_free(c);

	/* a configured endpoint must agree */
	cfg.upstreams[0].endpoint = (char *)(uintptr_t) "http://127.0.0.1:8080";
	ck_assert_int_eq(cred_load(&cfg, &c, err, sizeof err), 0);
	cred_free(c);
	cfg.upstreams[0].endpoint = (char *)(uintptr_t) "http://127.0.0.1:9090";
	ck_assert_int_eq(cred_load(&cfg, &c, err, sizeof err), -1);
	ck_assert_msg(strstr(err, "upstream.endpoint") != NULL, "%s", err);
	ck_assert_msg(strstr(err, KEY) == NULL, "the key is in the error");
	cfg.upstreams[0].endpoint = NULL;

	/* http:// only on loopback, also from a connection string */
	cfg.upstreams[0].connection_string_file =
	        write_file("cs2", "Endpoint=http://example.com;AccessKey=" KEY ";Version=1.0;", 0600);
	ck_assert_int_eq(cred_load(&cfg, &c, err, sizeof err), -1);
	ck_assert_msg(strstr(err, "loopback") != NULL, "%s", err);
	ck_assert_msg(strstr(err, KEY) == NULL, "the key is in the error");

	/* malformed */
	cfg.upstreams[0].connection_string_file =
	        write_file("cs3", "Endpoint=https://x.webpubsub.azure.com;Version=1.0;", 0600);
	ck_assert_int_eq(cred_load(&cfg, &c, err, sizeof err), -1);
	cfg.upstreams[0].connection_string_file = write_file("cs4", "AccessKey=" KEY, 0644);
	ck_assert_int_eq(cred_load(&cfg, &c, err, sizeof err), -1);
	ck_assert_msg(strstr(err, "group or others") != NULL, "%s", err);
	ck_assert_msg(strstr(err, KEY) == NULL, "the key is in the error");
}
END_TEST

START_TEST(authorization_jwt)
{
	struct cred *c = NULL;
	const char *url = "https://x.webpubsub.azure.com/api/hubs/h/:send?api-version=2024-12-01";
	json_t *claims = NULL;
	char *auth;
	time_t now = time(NULL);

	cfg.upstreams[0].access_key_file = write_file("key", KEY, 0600);
	cfg.upstreams[0].endpoint = (char *)(uintptr_t) "https://x.webpubsub.azure.com";
	ck_assert_int_eq(cred_load(&cfg, &c, err, sizeof err), 0);
	auth = cred_authorization(c, url, now);
	ck_assert_ptr_nonnull(auth);
	ck_assert_int_eq(strncmp(auth, "Bearer ", 7), 0);
	ck_assert_int_eq(jwt_verify(auth + 7, KEY, strlen(KEY), &claims), JWT_OK);
	ck_assert_str_eq(json_string_value(json_object_get(claims, "aud")), url);
	ck_assert_int_eq(json_integer_value(json_object_get(claims, "exp")),
	                 (json_int_t)now + WPS_JWT_LIFETIME_S);
	json_decref(claims);
	secret_free(auth);
	cred_free(c);
}
END_TEST

/* The per-second cache of Authorization values: the same bytes as signing afresh, per URL, per
 * second and per credential (a second credential at the same URL and second signs with its key). */
static void check_auth(const char *auth, const char *key, const char *url, time_t now)
{
	json_t *claims = NULL;

	ck_assert_ptr_nonnull(auth);
	ck_assert_int_eq(strncmp(auth, "Bearer ", 7), 0);
	ck_assert_int_eq(jwt_verify(auth + 7, key, strlen(key), &claims), JWT_OK);
	ck_assert_str_eq(json_string_value(json_object_get(claims, "aud")), url);
	ck_assert_int_eq(json_integer_value(json_object_get(claims, "exp")),
	                 (json_int_t)now + WPS_JWT_LIFETIME_S);
	json_decref(claims);
}

START_TEST(authorization_cache)
{
	struct cred *c = NULL, *c2 = NULL;
	char urls[40][128], *a, *b, *fresh;
	const char *url = "http://127.0.0.1:1/api/hubs/h/groups/g/:send?api-version=2024-12-01";
	time_t now = 1800000000;
	int i;

	cfg.upstreams[0].access_key_file = write_file("key", KEY, 0600);
	cfg.upstreams[0].endpoint = (char *)(uintptr_t) "http://127.0.0.1:1";
	ck_assert_int_eq(cred_load(&cfg, &c, err, sizeof err), 0);
	cfg.upstreams[0].access_key_file =
	        write_file("key2", "another-key-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef", 0600);
	ck_assert_int_eq(cred_load(&cfg, &c2, err, sizeof err), 0);

	a = cred_authorization(c, url, now);
	b = cred_authorization(c, url, now);
	check_auth(a, KEY, url, now);
	ck_assert_str_eq(a, b);
	ck_assert_ptr_ne(a, b);
	fresh = jwt_server_token(url, (long long)now + WPS_JWT_LIFETIME_S, KEY, strlen(KEY));
	ck_assert_str_eq(a + 7, fresh);
	secret_free(fresh);
	secret_free(b);
	b = cred_authorization(c, url, now + 1); /* the next second: a new exp */
	check_auth(b, KEY, url, now + 1);
	ck_assert_str_ne(a, b);
	secret_free(b);
	b = cred_authorization(c2, url, now); /* the same URL and second, another key */
	check_auth(b, "another-key-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef", url, now);
	secret_free(b);
	/* more URLs than slots, asked twice: every answer names its own URL */
	for (i = 0; i < 40; i++)
		snprintf(urls[i], sizeof urls[i],
		         "http://127.0.0.1:1/api/hubs/h/groups/g%d/:send?api-version=2024-12-01", i);
	for (i = 0; i < 80; i++) {
		b = cred_authorization(c, urls[(i * 7) % 40], now);
		check_auth(b, KEY, urls[(i * 7) % 40], now);
		secret_free(b);
	}
	cred_free(c2);
	b = cred_authorization(c, url, now);
	ck_assert_str_eq(a, b);
	secret_free(b);
	secret_free(a);
	cred_free(c);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("gw_cred");
	TCase *t = tcase_create("cred");

	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, key_file_0600_trimmed);
	tcase_add_test(t, key_file_0644_refused);
	tcase_add_test(t, key_file_errors);
	tcase_add_test(t, credentials_directory);
	tcase_add_test(t, connection_string);
	tcase_add_test(t, authorization_jwt);
	tcase_add_test(t, authorization_cache);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	return check_run(suite());
}
