/* check_gw_listen.c: Check suite for src/gateway/listen.c (TCP parsing, unix socket takeover, LISTEN_FDS). */
#include <config.h>

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check_main.h"
#include "gateway/cfg.h"
#include "gateway/listen.h"

static char dir[64];
static char sock[96];
static char err[512];

static void setup(void)
{
	snprintf(dir, sizeof dir, "/tmp/check_gw_listen.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(sock, sizeof sock, "%s/gw.sock", dir);
	err[0] = '\0';
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
}

static void teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static int parse(const char *addr, int allow, int *loopback, char *text, size_t n)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	char a[INET6_ADDRSTRLEN];
	int rc = listen_parse_tcp(addr, allow, &ss, &sl, loopback, err, sizeof err);

	if (rc == 0 && text != NULL) {
		if (ss.ss_family == AF_INET)
			snprintf(text, n, "%s:%u",
			         inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, a, sizeof a),
			         ntohs(((struct sockaddr_in *)&ss)->sin_port));
		else
			snprintf(text, n, "[%s]:%u",
			         inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, a, sizeof a),
			         ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
	}
	return rc;
}

START_TEST(tcp_parsing)
{
	char t[64];
	int lo = -1;

	ck_assert_int_eq(parse("127.0.0.1:7080", 0, &lo, t, sizeof t), 0);
	ck_assert_str_eq(t, "127.0.0.1:7080");
	ck_assert_int_eq(lo, 1);
	ck_assert_int_eq(parse("127.9.8.7:1", 0, &lo, t, sizeof t), 0);
	ck_assert_int_eq(lo, 1);
	ck_assert_int_eq(parse("[::1]:7081", 0, &lo, t, sizeof t), 0);
	ck_assert_str_eq(t, "[::1]:7081");
	ck_assert_int_eq(lo, 1);
	ck_assert_int_eq(parse("localhost:7082", 0, &lo, t, sizeof t), 0);
	ck_assert_str_eq(t, "127.0.0.1:7082");
	ck_assert_int_eq(parse("LocalHost:0", 0, &lo, t, sizeof t), 0);
	ck_assert_str_eq(t, "127.0.0.1:0");

	ck_assert_int_eq(parse("0.0.0.0:7080", 0, &lo, NULL, 0), -1);
	ck_assert_msg(strstr(err, "allow_non_loopback") != NULL, "%s", err);
	ck_assert_int_eq(parse("10.1.2.3:80", 0, &lo, NULL, 0), -1);
	ck_assert_int_eq(parse("[::]:80", 0, &lo, NULL, 0), -1);
	ck_assert_int_eq(parse("0.0.0.0:7080", 1, &lo, t, sizeof t), 0);
	ck_assert_int_eq(lo, 0);
	ck_assert_str_eq(t, "0.0.0.0:7080");
	ck_assert_int_eq(parse("[::]:7080", 1, &lo, t, sizeof t), 0);
	ck_assert_int_eq(lo, 0);

	ck_assert_int_eq(parse("127.0.0.1", 0, &lo, NULL, 0), -1);
	ck_assert_int_eq(parse("127.0.0.1:", 0, &lo, NULL, 0), -1);
	ck_assert_int_eq(parse("127.0.0.1:70000", 0, &lo, NULL, 0), -1);
	ck_assert_int_eq(parse("127.0.0.1:80x", 0, &lo, NULL, 0), -1);
	ck_assert_int_eq(parse("127.0.0.1:-1", 0, &lo, NULL, 0), -1);
	ck_assert_int_eq(parse("[::1]7080", 0, &lo, NULL, 0), -1);
	ck_assert_int_eq(parse("::1:7080", 0, &lo, NULL, 0), -1);
	ck_assert_int_eq(parse("example.com:80", 1, &lo, NULL, 0), -1);
	ck_assert_int_eq(parse(":80", 0, &lo, NULL, 0), -1);
}
END_TEST

static int connect_unix(const char *path)
{
	struct sockaddr_un sa;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0), rc;

	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path);
	rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
	close(fd);
	return rc;
}

START_TEST(unix_fresh_mode_and_group)
{
	struct stat st;
	int fd = listen_unix(sock, 0660, 1, getgid(), err, sizeof err);

	ck_assert_msg(fd >= 0, "%s", err);
	ck_assert_int_eq(stat(sock, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 07777, 0660);
	ck_assert_uint_eq(st.st_gid, getgid());
	ck_assert_int_eq(connect_unix(sock), 0);
	close(fd);
	fd = listen_unix(sock, 0600, 0, 0, err, sizeof err); /* our own leftover: replaced */
	ck_assert_msg(fd >= 0, "%s", err);
	ck_assert_int_eq(stat(sock, &st), 0);
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	close(fd);
}
END_TEST

START_TEST(unix_stale_replaced)
{
	struct sockaddr_un sa;
	int stale = socket(AF_UNIX, SOCK_STREAM, 0), fd;

	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock);
	ck_assert_int_eq(bind(stale, (struct sockaddr *)&sa, sizeof sa), 0);
	close(stale); /* the file stays, nobody listens: a crash leftover */
	ck_assert_int_eq(connect_unix(sock), -1);
	fd = listen_unix(sock, 0660, 0, 0, err, sizeof err);
	ck_assert_msg(fd >= 0, "%s", err);
	ck_assert_int_eq(connect_unix(sock), 0);
	close(fd);
}
END_TEST

START_TEST(unix_live_not_stolen)
{
	int fd = listen_unix(sock, 0660, 0, 0, err, sizeof err), fd2;
	char want[200];

	ck_assert_msg(fd >= 0, "%s", err);
	fd2 = listen_unix(sock, 0660, 0, 0, err, sizeof err);
	ck_assert_int_eq(fd2, -1);
	snprintf(want, sizeof want, "another wpsgated is listening on %s", sock);
	ck_assert_str_eq(err, want);
	ck_assert_int_eq(connect_unix(sock), 0); /* the first one still serves */
	close(fd);
}
END_TEST

START_TEST(unix_not_a_socket)
{
	FILE *f = fopen(sock, "w");

	ck_assert_ptr_nonnull(f);
	fclose(f);
	ck_assert_int_eq(listen_unix(sock, 0660, 0, 0, err, sizeof err), -1);
	ck_assert_msg(strstr(err, "not a socket") != NULL, "%s", err);
	ck_assert_int_eq(access(sock, F_OK), 0); /* a regular file is never removed */
}
END_TEST

START_TEST(tcp_listen_describe)
{
	char where[128];
	int fd = listen_tcp("127.0.0.1:0", 0, err, sizeof err);

	ck_assert_msg(fd >= 0, "%s", err);
	listen_describe(fd, where, sizeof where);
	ck_assert_int_eq(strncmp(where, "127.0.0.1:", 10), 0);
	ck_assert_int_ne(strcmp(where, "127.0.0.1:0"), 0);
	close(fd);
	ck_assert_int_eq(listen_tcp("0.0.0.0:0", 0, err, sizeof err), -1);
}
END_TEST

START_TEST(open_all_from_config)
{
	struct cfg c;
	struct listen_set set;
	char where[200];

	memset(&c, 0, sizeof c);
	c.unix_path = sock;
	c.unix_mode = 0660;
	c.tcp[0] = (char *)(uintptr_t) "127.0.0.1:0";
	c.ntcp = 1;
	ck_assert_msg(listen_open_all(&c, &set, err, sizeof err) == 0, "%s", err);
	ck_assert_uint_eq(set.n, 2);
	ck_assert_int_eq(set.v[0].is_unix, 1);
	snprintf(where, sizeof where, "unix:%s", sock);
	ck_assert_str_eq(set.v[0].name, where);
	ck_assert_int_eq(set.v[1].is_unix, 0);
	ck_assert_int_eq(strncmp(set.v[1].name, "tcp:127.0.0.1:", 14), 0);
	listen_close_all(&set);
	ck_assert_int_eq(access(sock, F_OK), -1); /* the file it created is gone */
}
END_TEST

/* LISTEN_FDS puts sockets at fd 3...; do it in a child so the Check runner's own fds stay intact. */
static int child_systemd(int variant)
{
	struct listen_set set;
	char e[256], pid[32];
	int a = listen_tcp("127.0.0.1:0", 0, e, sizeof e);
	int b = socket(AF_UNIX, SOCK_STREAM, 0), n;
	struct sockaddr_un sa;

	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock);
	if (a < 0 || b < 0 || bind(b, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(b, 4) < 0)
		return 10;
	/* move them out of the way first: a or b may already be fd 3 or 4 */
	a = fcntl(a, F_DUPFD, 100);
	b = fcntl(b, F_DUPFD, 101);
	if (a < 0 || b < 0 || dup2(a, 3) < 0 || dup2(b, 4) < 0)
		return 11;
	close(a);
	close(b);
	close(5);
	snprintf(pid, sizeof pid, "%d", variant == 1 ? (int)getpid() + 1 : (int)getpid());
	setenv("LISTEN_PID", pid, 1);
	setenv("LISTEN_FDS", variant == 2 ? "3" : "2", 1);
	setenv("LISTEN_FDNAMES", "web:sock", 1);
	memset(&set, 0, sizeof set);
	n = listen_from_systemd(&set, e, sizeof e);
	if (getenv("LISTEN_PID") || getenv("LISTEN_FDS") || getenv("LISTEN_FDNAMES"))
		return 12; /* always unset, so children do not inherit them */
	if (variant == 1)
		return n == 0 && set.n == 0 ? 0 : 13;
	if (variant == 2) /* fd 5 is not a listening socket */
		return n == -1 && strstr(e, "fd 5") != NULL ? 0 : 14;
	if (n != 2 || set.n != 2)
		return 15;
	if (set.v[0].fd != 3 || set.v[0].is_unix || !set.v[0].activated ||
	    strncmp(set.v[0].name, "systemd:web:127.0.0.1:", 22) != 0)
		return 16;
	if (set.v[1].fd != 4 || !set.v[1].is_unix || strncmp(set.v[1].name, "systemd:sock:", 13) != 0)
		return 17;
	return 0;
}

static void run_child(int variant)
{
	pid_t p = fork();
	int st;

	ck_assert_int_ge(p, 0);
	if (p == 0)
		_exit(child_systemd(variant));
	ck_assert_int_eq(waitpid(p, &st, 0), p);
	ck_assert(WIFEXITED(st));
	ck_assert_int_eq(WEXITSTATUS(st), 0);
}

START_TEST(systemd_fds)
{
	run_child(0);
}
END_TEST
START_TEST(systemd_other_pid)
{
	run_child(1);
}
END_TEST
START_TEST(systemd_not_a_socket)
{
	run_child(2);
}
END_TEST

START_TEST(systemd_absent)
{
	struct listen_set set;

	memset(&set, 0, sizeof set);
	ck_assert_int_eq(listen_from_systemd(&set, err, sizeof err), 0);
	ck_assert_uint_eq(set.n, 0);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("gw_listen");
	TCase *t = tcase_create("listen");

	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, tcp_parsing);
	tcase_add_test(t, unix_fresh_mode_and_group);
	tcase_add_test(t, unix_stale_replaced);
	tcase_add_test(t, unix_live_not_stolen);
	tcase_add_test(t, unix_not_a_socket);
	tcase_add_test(t, tcp_listen_describe);
	tcase_add_test(t, open_all_from_config);
	tcase_add_test(t, systemd_fds);
	tcase_add_test(t, systemd_other_pid);
	tcase_add_test(t, systemd_not_a_socket);
	tcase_add_test(t, systemd_absent);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	return check_run(suite());
}
