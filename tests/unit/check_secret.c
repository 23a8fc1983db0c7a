/* check_secret.c: unit tests for the secret-file reader of src/common/secret.c: each flag, each refusal,
 * and that no error shows the content. */
#include <config.h>

#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check_main.h"
#include "log.h"
#include "secret.h"

#define SECRET_TEXT "s3cr3t-value-never-shown"

static char dir[64];
static int warnings;

static void sink(enum wlog_level lvl, const char *line, void *arg)
{
	(void)arg;
	ck_assert_ptr_null(strstr(line, SECRET_TEXT));
	if (lvl == WLOG_WARN)
		warnings++;
}

static void setup(void)
{
	snprintf(dir, sizeof dir, "/tmp/check_secret.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	warnings = 0;
	log_set_sink(sink, NULL);
	unsetenv("CREDENTIALS_DIRECTORY");
}

static void teardown(void)
{
	char cmd[128];

	log_set_sink(NULL, NULL);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* dir/name with content and mode; returns the path in a static buffer. */
static const char *put(const char *name, const char *content, size_t n, mode_t mode)
{
	static char path[128];
	int fd;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq((int)write(fd, content, n), (int)n);
	close(fd);
	ck_assert_int_eq(chmod(path, mode), 0);
	return path;
}

static void refused(const char *path, unsigned flags, const char *label, const char *want)
{
	char err[300] = "";
	size_t len = 99;
	char *v = secret_read(path, 64, flags, label, &len, err, sizeof err);

	ck_assert_ptr_null(v);
	ck_assert_uint_eq(len, 0);
	ck_assert_msg(strstr(err, want) != NULL, "\"%s\" does not say \"%s\"", err, want);
	ck_assert_msg(strstr(err, SECRET_TEXT) == NULL, "the error shows the secret: %s", err);
}

START_TEST(reads_one_line_trimmed)
{
	const char *p = put("k", SECRET_TEXT " \t\r\n\n", sizeof SECRET_TEXT + 4, 0600);
	char err[200];
	size_t len = 0;
	char *v = secret_read(p, 64, SECRET_PRIVATE, NULL, &len, err, sizeof err);

	ck_assert_ptr_nonnull(v);
	ck_assert_str_eq(v, SECRET_TEXT);
	ck_assert_uint_eq(len, strlen(SECRET_TEXT));
	secret_free(v);
	secret_free(NULL);
}
END_TEST

START_TEST(refusals)
{
	char big[80];

	memset(big, 'x', sizeof big);
	refused(put("empty", " \n", 2, 0600), 0, NULL, "empty");
	refused(put("two", "a\nb", 3, 0600), 0, NULL, "one line");
	refused(put("nul", "a\0b", 3, 0600), 0, NULL, "one line");
	refused(put("cr", "a\rb", 3, 0600), SECRET_NO_CR, NULL, "one line");
	refused(put("big", big, sizeof big, 0600), 0, NULL, "larger than 64 bytes");
	refused(put("open", SECRET_TEXT, sizeof SECRET_TEXT - 1, 0644), SECRET_PRIVATE, NULL, "mode 0644");
	refused(put("gw", SECRET_TEXT, sizeof SECRET_TEXT - 1, 0620), SECRET_PRIVATE, "credential",
	        "credential file ");
	refused("/nonexistent/secret", 0, NULL, "/nonexistent/secret: No such file");
	refused(dir, 0, NULL, "not a regular file");
}
END_TEST

START_TEST(cr_allowed_without_flag)
{
	const char *p = put("cr", "a\rb\n", 4, 0600);
	char err[200];
	size_t len;
	char *v = secret_read(p, 64, 0, NULL, &len, err, sizeof err);

	ck_assert_ptr_nonnull(v);
	ck_assert_uint_eq(len, 3);
	secret_free(v);
}
END_TEST

START_TEST(warn_open)
{
	const char *p = put("dev", SECRET_TEXT, sizeof SECRET_TEXT - 1, 0644);
	char err[200];
	size_t len;
	char *v = secret_read(p, 64, SECRET_WARN_OPEN, NULL, &len, err, sizeof err);

	ck_assert_ptr_nonnull(v);
	ck_assert_int_eq(warnings, 1);
	secret_free(v);
	v = secret_read(put("priv", "k", 1, 0600), 64, SECRET_WARN_OPEN, NULL, &len, err, sizeof err);
	ck_assert_ptr_nonnull(v);
	ck_assert_int_eq(warnings, 1);
	secret_free(v);
}
END_TEST

START_TEST(credentials_directory)
{
	char err[300];
	size_t len;
	char *v;

	put("access-key", SECRET_TEXT, sizeof SECRET_TEXT - 1, 0600);
	/* without the flag a bare name is a path relative to the working directory */
	refused("access-key", 0, NULL, "access-key: No such file");
	refused("access-key", SECRET_CREDDIR, "credential", "$CREDENTIALS_DIRECTORY, which is not set");
	setenv("CREDENTIALS_DIRECTORY", dir, 1);
	v = secret_read("access-key", 64, SECRET_CREDDIR | SECRET_PRIVATE, "credential", &len, err,
	                sizeof err);
	ck_assert_msg(v != NULL, "%s", err);
	ck_assert_str_eq(v, SECRET_TEXT);
	secret_free(v);
	refused("missing", SECRET_CREDDIR, "credential", "credential file ");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("secret");
	TCase *tc = tcase_create("secret");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, reads_one_line_trimmed);
	tcase_add_test(tc, refusals);
	tcase_add_test(tc, cr_allowed_without_flag);
	tcase_add_test(tc, warn_open);
	tcase_add_test(tc, credentials_directory);
	suite_add_tcase(s, tc);
	return check_run(s);
}
