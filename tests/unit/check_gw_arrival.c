/* check_gw_arrival.c: unit tests for the request arrival deadlines (arrival.c) on a real libmicrohttpd daemon. */
#include <config.h>

#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "gateway/httpd.h"
#include "gateway/listen.h"
#include "gateway/loop.h"
#include "gateway/arrival.h"
#include "check_main.h"

static struct loop *l;
static struct arrival *s;
static struct httpd *h;
static struct listen_sock ls;
static int port;

/* Answers 200 once the request is whole, marking it received and done as api.c does. */
static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                               const char *version, const char *data, size_t *size, void **req_cls)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	(void)cls;
	(void)url;
	(void)method;
	(void)version;
	(void)data;
	if (*req_cls == NULL) {
		*req_cls = conn;
		return MHD_YES;
	}
	if (*size > 0) {
		*size = 0;
		return MHD_YES;
	}
	arrival_request_received(conn);
	r = MHD_create_response_from_buffer(2, (void *)(uintptr_t) "ok", MHD_RESPMEM_PERSISTENT);
	ret = MHD_queue_response(conn, 200, r);
	MHD_destroy_response(r);
	return ret;
}

static void completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                      enum MHD_RequestTerminationCode t)
{
	(void)cls;
	(void)req_cls;
	(void)t;
	arrival_request_done(conn);
}

static void setup(void)
{
	struct httpd_opts o;
	struct sockaddr_in a;
	socklen_t al = sizeof a;
	char err[256];

	ck_assert_ptr_nonnull(l = loop_new());
	ck_assert_ptr_nonnull(s = arrival_new(l, 300));
	memset(&ls, 0, sizeof ls);
	ls.fd = listen_tcp("127.0.0.1:0", 0, err, sizeof err);
	ck_assert_msg(ls.fd >= 0, "%s", err);
	snprintf(ls.name, sizeof ls.name, "tcp:test");
	ck_assert_int_eq(getsockname(ls.fd, (struct sockaddr *)&a, &al), 0);
	port = ntohs(a.sin_port);
	memset(&o, 0, sizeof o);
	o.conn_limit = 16;
	o.idle_timeout_s = 60;
	o.mem_limit = 32768;
	o.handler = handler;
	o.completed = completed;
	o.notify_conn = arrival_notify;
	o.notify_conn_cls = s;
	ck_assert_ptr_nonnull(h = httpd_start(l, &ls, &o, err, sizeof err));
}

static void teardown(void)
{
	httpd_free(h);
	arrival_free(s);
	close(ls.fd);
	loop_free(l);
}

static int client(void)
{
	struct sockaddr_in a;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);

	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_ge(fd, 0);
	ck_assert(connect(fd, (struct sockaddr *)&a, sizeof a) == 0 || errno == EINPROGRESS);
	return fd;
}

static void send_str(int fd, const char *str)
{
	ck_assert_int_eq(write(fd, str, strlen(str)), (ssize_t)strlen(str));
}

/* Run the loop for ms; read what fd got into out. Returns 1 when the server closed fd's connection. */
static int pump(int fd, int ms, char *out, size_t outlen)
{
	uint64_t until = loop_now_ms() + (uint64_t)ms;
	size_t n = strlen(out);

	while (loop_now_ms() < until) {
		ssize_t r;

		loop_once(l, 20);
		r = read(fd, out + n, outlen - 1 - n);
		if (r > 0) {
			n += (size_t)r;
			out[n] = '\0';
		} else if (r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
			return 1;
		}
	}
	return 0;
}

START_TEST(test_incomplete_headers_cut_off)
{
	char got[1024] = "";
	int fd = client();

	pump(fd, 50, got, sizeof got);
	send_str(fd, "GET / HTTP/1.1\r\nHost: x\r\n");       /* never finished */
	ck_assert_int_eq(pump(fd, 150, got, sizeof got), 0); /* not before the deadline */
	ck_assert_int_eq(pump(fd, 1500, got, sizeof got), 1);
	ck_assert_str_eq(got, "");
	ck_assert_uint_eq(arrival_closed_total(s), 1);
	close(fd);
}
END_TEST

START_TEST(test_whole_request_answered_then_idle_cut)
{
	char got[1024] = "";
	int fd = client();

	send_str(fd, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
	ck_assert_int_eq(pump(fd, 200, got, sizeof got), 0);
	ck_assert_ptr_nonnull(strstr(got, "HTTP/1.1 200"));
	ck_assert_uint_eq(arrival_closed_total(s), 0);
	/* keep-alive: the next request does not come within the timeout */
	ck_assert_int_eq(pump(fd, 1500, got, sizeof got), 1);
	ck_assert_uint_eq(arrival_closed_total(s), 1);
	close(fd);
}
END_TEST

START_TEST(test_timeout_zero_is_off)
{
	char got[1024] = "";
	int fd = client();

	arrival_set_timeout(s, 0);
	send_str(fd, "GET / HTTP/1.1\r\nHost: x\r\n");
	ck_assert_int_eq(pump(fd, 800, got, sizeof got), 0);
	ck_assert_uint_eq(arrival_closed_total(s), 0);
	/* turned on again (SIGHUP): a request in progress gets its deadline at the next arming only */
	arrival_set_timeout(s, 300);
	send_str(fd, "\r\n");
	ck_assert_int_eq(pump(fd, 200, got, sizeof got), 0);
	ck_assert_ptr_nonnull(strstr(got, "HTTP/1.1 200"));
	ck_assert_int_eq(pump(fd, 1500, got, sizeof got), 1);
	ck_assert_uint_eq(arrival_closed_total(s), 1);
	close(fd);
}
END_TEST

static Suite *suite(void)
{
	Suite *su = suite_create("slow");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 20);
	tcase_add_test(tc, test_incomplete_headers_cut_off);
	tcase_add_test(tc, test_whole_request_answered_then_idle_cut);
	tcase_add_test(tc, test_timeout_zero_is_off);
	suite_add_tcase(su, tc);
	return su;
}

int main(void)
{
	return check_run(suite());
}
