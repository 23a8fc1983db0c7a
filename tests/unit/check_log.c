/* check_log.c: unit tests for the logger (log.c): formats, escaping, levels, sinks, journald prefixes. */
#include <config.h>

#include <check.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>

#include "buf.h"
#include "log.h"
#include "check_main.h"

static struct buf captured;
static int nlines;
static enum wlog_level last_lvl;

static void sink(enum wlog_level lvl, const char *line, void *arg)
{
	ck_assert_ptr_eq(arg, &captured);
	buf_puts(&captured, line);
	buf_puts(&captured, "\n");
	nlines++;
	last_lvl = lvl;
}

static void setup(void)
{
	unsetenv("JOURNAL_STREAM");
	buf_init(&captured, 0);
	nlines = 0;
	log_init("check_log", WLOG_DEBUG, WLOG_FMT_LOGFMT);
	log_set_sink(sink, &captured);
}

static void teardown(void)
{
	log_set_sink(NULL, NULL);
	buf_free(&captured);
}

/* The captured text after "ts=... " (the timestamp varies). */
static const char *after_ts(const char *line)
{
	const char *sp;

	ck_assert_msg(strncmp(line, "ts=", 3) == 0, "line does not start with ts=: %s", line);
	sp = strchr(line, ' ');
	ck_assert_ptr_nonnull(sp);
	return sp + 1;
}

START_TEST(test_logfmt_kv)
{
	log_kv(WLOG_INFO, "request", "method", "POST", "op", "SendToAll", "hub", "chat", "status", "202",
	       NULL);
	ck_assert_int_eq(nlines, 1);
	ck_assert_int_eq(last_lvl, WLOG_INFO);
	ck_assert_str_eq(after_ts(captured.data),
	                 "level=info msg=\"request\" method=POST op=SendToAll hub=chat status=202\n");
}
END_TEST

START_TEST(test_logfmt_timestamp)
{
	const char *ts;

	log_msg(WLOG_WARN, "x");
	ts = captured.data + 3;
	/* 2024-01-02T03:04:05.678Z */
	ck_assert_uint_ge(strlen(ts), 24);
	ck_assert_int_eq(ts[4], '-');
	ck_assert_int_eq(ts[7], '-');
	ck_assert_int_eq(ts[10], 'T');
	ck_assert_int_eq(ts[13], ':');
	ck_assert_int_eq(ts[16], ':');
	ck_assert_int_eq(ts[19], '.');
	ck_assert_int_eq(ts[23], 'Z');
	ck_assert_int_eq(ts[24], ' ');
	ck_assert_str_eq(after_ts(captured.data), "level=warn msg=\"x\"\n");
}
END_TEST

START_TEST(test_logfmt_quoting)
{
	log_kv(WLOG_ERR, "bad \"thing\"", "a", "two words", "b", "q\"uote", "c", "k=v", "d", "", "e",
	       "line\nbreak\r\t\x01", "f", "back\\slash", "g", NULL, "h", "\xff", NULL);
	ck_assert_str_eq(after_ts(captured.data),
	                 "level=err msg=\"bad \\\"thing\\\"\" a=\"two words\" b=\"q\\\"uote\" c=\"k=v\" "
	                 "d=\"\" e=\"line\\nbreak\\r\\t\\u0001\" f=\"back\\\\slash\" g=\"\" h=\"\\xff\"\n");
}
END_TEST

START_TEST(test_logfmt_key_sanitised)
{
	log_kv(WLOG_INFO, "m", "bad key=", "v", NULL);
	ck_assert_str_eq(after_ts(captured.data), "level=info msg=\"m\" bad_key_=v\n");
}
END_TEST

START_TEST(test_log_msg_escapes_newlines)
{
	log_info("one %s\ntwo", "and");
	ck_assert_int_eq(nlines, 1);
	ck_assert_str_eq(after_ts(captured.data), "level=info msg=\"one and\\ntwo\"\n");
}
END_TEST

START_TEST(test_json)
{
	json_t *j;
	json_error_t err;

	log_set_format(WLOG_FMT_JSON);
	ck_assert_int_eq(log_get_format(), WLOG_FMT_JSON);
	log_kv(WLOG_INFO, "request", "method", "POST", "x", "q\"\\\n\x01/\xc3\xa9", "bad", "\xc3", NULL);
	ck_assert_int_eq(nlines, 1);
	ck_assert_msg(strncmp(captured.data, "{\"ts\":\"", 7) == 0, "%s", captured.data);
	j = json_loads(captured.data, 0, &err);
	ck_assert_msg(j != NULL, "not JSON: %s (%s)", captured.data, err.text);
	ck_assert_str_eq(json_string_value(json_object_get(j, "level")), "info");
	ck_assert_str_eq(json_string_value(json_object_get(j, "msg")), "request");
	ck_assert_str_eq(json_string_value(json_object_get(j, "method")), "POST");
	ck_assert_str_eq(json_string_value(json_object_get(j, "x")), "q\"\\\n\x01/\xc3\xa9");
	ck_assert_str_eq(json_string_value(json_object_get(j, "bad")), "\xef\xbf\xbd");
	ck_assert_uint_eq(strlen(json_string_value(json_object_get(j, "ts"))), 24);
	ck_assert_ptr_nonnull(strstr(captured.data, "\"method\":\"POST\""));
	json_decref(j);
}
END_TEST

START_TEST(test_levels)
{
	enum wlog_level l;

	log_set_level(WLOG_WARN);
	ck_assert_int_eq(log_get_level(), WLOG_WARN);
	ck_assert_int_eq(log_enabled(WLOG_ERR), 1);
	ck_assert_int_eq(log_enabled(WLOG_WARN), 1);
	ck_assert_int_eq(log_enabled(WLOG_INFO), 0);
	log_info("dropped");
	log_debug("dropped");
	log_kv(WLOG_INFO, "dropped", NULL);
	ck_assert_int_eq(nlines, 0);
	log_warn("kept");
	log_err("kept");
	ck_assert_int_eq(nlines, 2);
	ck_assert_int_eq(log_level_parse("debug", &l), 0);
	ck_assert_int_eq(l, WLOG_DEBUG);
	ck_assert_int_eq(log_level_parse("ERR", &l), 0);
	ck_assert_int_eq(l, WLOG_ERR);
	ck_assert_int_eq(log_level_parse("warn", &l), 0);
	ck_assert_int_eq(l, WLOG_WARN);
	ck_assert_int_eq(log_level_parse("info", &l), 0);
	ck_assert_int_eq(l, WLOG_INFO);
	ck_assert_int_eq(log_level_parse("verbose", &l), -1);
	ck_assert_int_eq(log_level_parse("", &l), -1);
	ck_assert_int_eq(log_level_parse(NULL, &l), -1);
}
END_TEST

START_TEST(test_long_value_cut)
{
	char *big = malloc(10000);

	memset(big, 'a', 9999);
	big[9999] = '\0';
	log_kv(WLOG_INFO, "m", "v", big, NULL);
	ck_assert_uint_lt(captured.len, 2300);
	ck_assert_ptr_nonnull(strstr(captured.data, "aaa...\"\n"));
	free(big);
}
END_TEST

/* Point fd 2 at a temporary file and return it for reading back. */
static FILE *capture_stderr(void)
{
	FILE *f = tmpfile();

	ck_assert_ptr_nonnull(f);
	ck_assert_int_ge(dup2(fileno(f), STDERR_FILENO), 0);
	return f;
}

static char *read_all(FILE *f)
{
	long n;
	char *s;

	fflush(f);
	n = lseek(fileno(f), 0, SEEK_END);
	ck_assert_int_ge(n, 0);
	s = calloc(1, (size_t)n + 1);
	ck_assert_int_eq(pread(fileno(f), s, (size_t)n, 0), n);
	return s;
}

START_TEST(test_stderr_plain)
{
	FILE *f;
	char *s;

	log_set_sink(NULL, NULL);
	f = capture_stderr();
	log_kv(WLOG_WARN, "hello", "k", "v", NULL);
	s = read_all(f);
	ck_assert_str_eq(after_ts(s), "level=warn msg=\"hello\" k=v\n");
	free(s);
	fclose(f);
}
END_TEST

START_TEST(test_stderr_journal_prefix)
{
	FILE *f;
	char *s, *nl;

	setenv("JOURNAL_STREAM", "8:12345", 1);
	log_init("check_log", WLOG_DEBUG, WLOG_FMT_LOGFMT);
	log_set_sink(NULL, NULL);
	f = capture_stderr();
	log_err("boom");
	log_debug("dbg");
	s = read_all(f);
	ck_assert_msg(strncmp(s, "<3>ts=", 6) == 0, "%s", s);
	nl = strchr(s, '\n');
	ck_assert_ptr_nonnull(nl);
	ck_assert_msg(strncmp(nl + 1, "<7>ts=", 6) == 0, "%s", s);
	ck_assert_ptr_nonnull(strstr(s, "level=debug msg=\"dbg\"\n"));
	free(s);
	fclose(f);
}
END_TEST

/* fatal() logs its line and exits 1; in a child of the test's own, so that the suite runs with CK_FORK=no. */
START_TEST(test_fatal_exits)
{
	int p[2];
	pid_t pid;
	char out[512] = "";
	ssize_t n, got = 0;
	int st = 0;

	ck_assert_int_eq(pipe(p), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(p[1], STDERR_FILENO);
		close(p[0]);
		log_init("check_log", WLOG_INFO, WLOG_FMT_LOGFMT);
		log_set_sink(NULL, NULL);
		fatal("cannot start: %s", "reason");
	}
	close(p[1]);
	while (got < (ssize_t)sizeof out - 1 && (n = read(p[0], out + got, sizeof out - 1 - (size_t)got)) > 0)
		got += n;
	close(p[0]);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 1, "status %d", st);
	ck_assert_msg(strstr(out, "cannot start: reason") != NULL, "%s", out);
}
END_TEST

/* log_batch: info lines wait for log_flush; a warning writes what is held and itself, in order;
 * other threads write at once; turning batching off flushes. */
static void *other_thread(void *arg)
{
	(void)arg;
	log_kv(WLOG_INFO, "other", NULL);
	return NULL;
}

START_TEST(test_batch)
{
	FILE *f;
	char *s;
	pthread_t th;

	log_init("check_log", WLOG_INFO, WLOG_FMT_LOGFMT);
	log_set_sink(NULL, NULL);
	f = capture_stderr();
	log_batch(1);
	log_kv(WLOG_INFO, "one", NULL);
	log_kv(WLOG_INFO, "two", NULL);
	s = read_all(f);
	ck_assert_str_eq(s, "");
	free(s);
	ck_assert_int_eq(pthread_create(&th, NULL, other_thread, NULL), 0);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	s = read_all(f);
	ck_assert_str_eq(after_ts(s), "level=info msg=\"other\"\n");
	free(s);
	log_kv(WLOG_WARN, "three", NULL);
	s = read_all(f);
	ck_assert_msg(strstr(s, "msg=\"other\"\nts=") != NULL && strstr(s, "msg=\"one\"\nts=") != NULL &&
	                      strstr(s, "msg=\"two\"\nts=") != NULL && strstr(s, "msg=\"three\"\n") != NULL &&
	                      strstr(s, "one") < strstr(s, "two") && strstr(s, "two") < strstr(s, "three"),
	              "%s", s);
	free(s);
	log_kv(WLOG_INFO, "four", NULL);
	log_flush();
	s = read_all(f);
	ck_assert_ptr_nonnull(strstr(s, "msg=\"three\"\nts="));
	ck_assert_ptr_nonnull(strstr(s, "level=info msg=\"four\"\n"));
	free(s);
	log_kv(WLOG_INFO, "five", NULL);
	log_batch(0);
	log_kv(WLOG_INFO, "six", NULL);
	s = read_all(f);
	ck_assert_ptr_nonnull(strstr(s, "msg=\"four\"\nts="));
	ck_assert_ptr_nonnull(strstr(s, "msg=\"five\"\nts="));
	ck_assert_ptr_nonnull(strstr(s, "level=info msg=\"six\"\n"));
	free(s);
	fclose(f);
}
END_TEST

/* Lines held at exit(3) are written. */
START_TEST(test_batch_exit_check)
{
	int p[2];
	pid_t pid;
	char out[512] = "";
	ssize_t n, got = 0;
	int st = 0;

	ck_assert_int_eq(pipe(p), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(p[1], STDERR_FILENO);
		close(p[0]);
		log_init("check_log", WLOG_INFO, WLOG_FMT_LOGFMT);
		log_set_sink(NULL, NULL);
		log_batch(1);
		log_kv(WLOG_INFO, "held", NULL);
		exit(3);
	}
	close(p[1]);
	while (got < (ssize_t)sizeof out - 1 && (n = read(p[0], out + got, sizeof out - 1 - (size_t)got)) > 0)
		got += n;
	close(p[0]);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 3);
	ck_assert_ptr_nonnull(strstr(out, "level=info msg=\"held\"\n"));
}
END_TEST

#define NTHREADS 4
#define NPER     500

static void *logger_thread(void *arg)
{
	int i;

	for (i = 0; i < NPER; i++)
		log_kv(WLOG_INFO, "threaded", "thread", (const char *)arg, "pad",
		       "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
		       NULL);
	return NULL;
}

START_TEST(test_threads_whole_lines)
{
	static const char *names[NTHREADS] = { "a", "b", "c", "d" };
	pthread_t t[NTHREADS];
	FILE *f;
	char *s, *line, *save = NULL;
	int i, n = 0;

	log_set_sink(NULL, NULL);
	log_set_format(WLOG_FMT_JSON);
	f = capture_stderr();
	for (i = 0; i < NTHREADS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, logger_thread, (void *)(uintptr_t)names[i]), 0);
	for (i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
	s = read_all(f);
	for (line = strtok_r(s, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		json_t *j = json_loads(line, 0, NULL);

		ck_assert_msg(j != NULL, "interleaved line: %s", line);
		json_decref(j);
		n++;
	}
	ck_assert_int_eq(n, NTHREADS * NPER);
	free(s);
	fclose(f);
}
END_TEST

static Suite *log_suite(void)
{
	Suite *s = suite_create("log");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_logfmt_kv);
	tcase_add_test(tc, test_logfmt_timestamp);
	tcase_add_test(tc, test_logfmt_quoting);
	tcase_add_test(tc, test_logfmt_key_sanitised);
	tcase_add_test(tc, test_log_msg_escapes_newlines);
	tcase_add_test(tc, test_json);
	tcase_add_test(tc, test_levels);
	tcase_add_test(tc, test_long_value_cut);
	tcase_add_test(tc, test_stderr_plain);
	tcase_add_test(tc, test_stderr_journal_prefix);
	tcase_add_test(tc, test_fatal_exits);
	tcase_add_test(tc, test_threads_whole_lines);
	tcase_add_test(tc, test_batch);
	tcase_add_test(tc, test_batch_exit_check);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(log_suite());
}
