/* mhdfloor.c: the smallest libmicrohttpd server configured like wpsgated's front end, to measure what MHD costs.
 *
 *   mhdfloor (-p PORT | -u PATH) [-s MS | -r] [-c] [-l CONN_LIMIT] [-m MEM_LIMIT] [-t IDLE_TIMEOUT_S]
 *
 * One thread.  MHD runs with MHD_USE_EPOLL (no internal thread) and MHD_ALLOW_SUSPEND_RESUME; this program's
 * own epoll loop watches MHD's epoll fd and calls MHD_run, exactly as wpsgated's loop.c/httpd.c do (including
 * the "MHD_get_timeout says 0: run again before sleeping" step).  The listening socket is created here and
 * handed over with MHD_OPTION_LISTEN_SOCKET (127.0.0.1:PORT or a Unix socket at PATH), like wpsgated's listen.c.
 * Options as wpsgated's defaults: CONNECTION_MEMORY_LIMIT 32768, CONNECTION_LIMIT 20000, CONNECTION_TIMEOUT 60 s,
 * an UNESCAPE_CALLBACK that does nothing.
 *
 * Every request's body is accumulated into a malloc'd buffer (as a gateway that forwards it must), then:
 *   default  answer 202 with an empty body at once;
 *   -r       suspend the connection and resume it on the next loop iteration, then answer (the cost of
 *            MHD_suspend_connection + MHD_resume_connection, which wpsgated pays for every request);
 *   -s MS    suspend and resume MS milliseconds later (a FIFO of deadlines in the loop), to hold requests in flight.
 *   -c       also call curl_global_init() and OPENSSL_init_crypto() (idle-RSS probe: the libraries wpsgated
 *            cannot do without, initialised).  Only when built with -DFLOOR_CURL.
 *
 * Prints "mhdfloor: ready" on stderr once listening; SIGTERM/SIGINT end it (prints the number of requests).
 */
#include <config.h>
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#ifdef FLOOR_CURL
#include <curl/curl.h>
#include <openssl/crypto.h>
#endif

#define MF_EVENTS 64

/* One request: its body and its place in the resume queue. */
struct mf_req {
	struct MHD_Connection *conn;
	char *body;
	size_t len, cap;
	int suspended; /* 1 while in the queue, 2 once resumed */
	uint64_t due_ms;
	struct mf_req *next;
};

static struct {
	int delay_ms; /* -1: answer at once; 0: -r; > 0: -s */
	unsigned conn_limit;
	size_t mem_limit;
	unsigned idle_timeout_s;
} opt = { -1, 20000, 32768, 60 };

static struct MHD_Response *resp202; /* shared, empty, never freed before exit */
static struct mf_req *q_head,
        *q_tail; /* resume FIFO: every request gets the same delay, so deadlines ascend */
static unsigned long long n_requests, n_suspended_now;

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static size_t no_unescape(void *cls, struct MHD_Connection *c, char *s)
{
	(void)cls;
	(void)c;
	return strlen(s);
}

static int body_append(struct mf_req *r, const char *data, size_t n)
{
	if (r->len + n > r->cap) {
		size_t cap = r->cap != 0 ? r->cap : 512;
		char *p;

		while (cap < r->len + n)
			cap *= 2;
		if ((p = realloc(r->body, cap)) == NULL)
			return -1;
		r->body = p;
		r->cap = cap;
	}
	memcpy(r->body + r->len, data, n);
	r->len += n;
	return 0;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                               const char *version, const char *upload_data, size_t *upload_data_size,
                               void **con_cls)
{
	struct mf_req *r = *con_cls;

	(void)cls;
	(void)url;
	(void)method;
	(void)version;
	if (r == NULL) {
		if ((r = calloc(1, sizeof *r)) == NULL)
			return MHD_NO;
		r->conn = c;
		*con_cls = r;
		return MHD_YES;
	}
	if (*upload_data_size != 0) {
		if (body_append(r, upload_data, *upload_data_size) < 0)
			return MHD_NO;
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (opt.delay_ms >= 0 && r->suspended == 0) {
		r->suspended = 1;
		r->due_ms = now_ms() + (uint64_t)opt.delay_ms;
		r->next = NULL;
		if (q_tail != NULL)
			q_tail->next = r;
		else
			q_head = r;
		q_tail = r;
		n_suspended_now++;
		MHD_suspend_connection(c);
		return MHD_YES;
	}
	n_requests++;
	return MHD_queue_response(c, 202, resp202);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
	struct mf_req *r = *con_cls;

	(void)cls;
	(void)c;
	(void)toe;
	if (r == NULL)
		return;
	/* A suspended connection is not closed by MHD while suspended, so r is never in the queue here. */
	free(r->body);
	free(r);
	*con_cls = NULL;
}

/* Resume every queued request whose deadline has passed (-r: every queued request). */
static void resume_due(uint64_t now)
{
	while (q_head != NULL && q_head->due_ms <= now) {
		struct mf_req *r = q_head;

		q_head = r->next;
		if (q_head == NULL)
			q_tail = NULL;
		r->suspended = 2;
		n_suspended_now--;
		MHD_resume_connection(r->conn);
	}
}

static int listen_tcp(int port)
{
	struct sockaddr_in sa;
	int fd, one = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	memset(&sa, 0, sizeof sa);
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, SOMAXCONN) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static int listen_unix(const char *path)
{
	struct sockaddr_un sa;
	int fd;

	if (strlen(path) >= sizeof sa.sun_path)
		return -1;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	(void)unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, SOMAXCONN) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void usage(void)
{
	fprintf(stderr, "usage: mhdfloor (-p PORT | -u PATH) [-s MS | -r] [-c] [-l CONN_LIMIT] [-m MEM_LIMIT]"
	                " [-t IDLE_TIMEOUT_S]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *upath = NULL;
	int port = 0, with_curl = 0, ch, lfd = -1, ep = -1, sfd = -1, rc = 1;
	struct MHD_Daemon *d = NULL;
	const union MHD_DaemonInfo *info;
	struct epoll_event ev, evs[MF_EVENTS];
	sigset_t ss;

	while ((ch = getopt(argc, argv, "p:u:s:rcl:m:t:")) != -1) {
		switch (ch) {
		case 'p': port = atoi(optarg); break;
		case 'u': upath = optarg; break;
		case 's':
			opt.delay_ms = atoi(optarg);
			if (opt.delay_ms < 0)
				usage();
			break;
		case 'r': opt.delay_ms = 0; break;
		case 'c': with_curl = 1; break;
		case 'l': opt.conn_limit = (unsigned)atoi(optarg); break;
		case 'm': opt.mem_limit = (size_t)atol(optarg); break;
		case 't': opt.idle_timeout_s = (unsigned)atoi(optarg); break;
		default: usage();
		}
	}
	if ((port <= 0) == (upath == NULL))
		usage();
	if (with_curl) {
#ifdef FLOOR_CURL
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK ||
		    OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, NULL) != 1) {
			fprintf(stderr, "mhdfloor: curl_global_init/OPENSSL_init_crypto failed\n");
			return 1;
		}
#else
		fprintf(stderr, "mhdfloor: -c needs a build with -DFLOOR_CURL (and -lcurl -lcrypto)\n");
		return 2;
#endif
	}

	sigemptyset(&ss);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGINT);
	sigprocmask(SIG_BLOCK, &ss, NULL);
	signal(SIGPIPE, SIG_IGN);
	if ((sfd = signalfd(-1, &ss, SFD_NONBLOCK | SFD_CLOEXEC)) < 0)
		goto out;

	lfd = upath != NULL ? listen_unix(upath) : listen_tcp(port);
	if (lfd < 0) {
		fprintf(stderr, "mhdfloor: cannot listen: %s\n", strerror(errno));
		goto out;
	}
	resp202 = MHD_create_response_from_buffer(0, (void *)(uintptr_t) "", MHD_RESPMEM_PERSISTENT);
	d = MHD_start_daemon(MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, 0, NULL, NULL,
	                     handler, NULL, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)lfd,
	                     MHD_OPTION_UNESCAPE_CALLBACK, no_unescape, NULL, MHD_OPTION_CONNECTION_LIMIT,
	                     opt.conn_limit, MHD_OPTION_CONNECTION_TIMEOUT, opt.idle_timeout_s,
	                     MHD_OPTION_CONNECTION_MEMORY_LIMIT, opt.mem_limit, MHD_OPTION_NOTIFY_COMPLETED,
	                     completed, NULL, MHD_OPTION_END);
	if (resp202 == NULL || d == NULL) {
		fprintf(stderr, "mhdfloor: cannot start libmicrohttpd\n");
		goto out;
	}
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_EPOLL_FD);
	if (info == NULL || info->epoll_fd < 0 || (ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
		goto out;
	memset(&ev, 0, sizeof ev);
	ev.events = EPOLLIN;
	ev.data.fd = info->epoll_fd;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, info->epoll_fd, &ev) < 0)
		goto out;
	ev.data.fd = sfd;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev) < 0)
		goto out;
	fprintf(stderr, "mhdfloor: ready (MHD_USE_EPOLL, external loop; mode %s)\n",
	        opt.delay_ms < 0    ? "answer at once"
	        : opt.delay_ms == 0 ? "suspend/resume next iteration"
	                            : "suspend/resume after a delay");

	for (;;) {
		MHD_UNSIGNED_LONG_LONG t;
		long timeout = -1;
		int n, i, stop = 0;

		/* like wpsgated's prepare(): MHD may hold connections with data already read (timeout 0) */
		if (MHD_get_timeout(d, &t) == MHD_YES) {
			if (t == 0) {
				MHD_run(d);
				if (MHD_get_timeout(d, &t) != MHD_YES)
					t = 86400000ULL;
			}
			timeout = t > 86400000ULL ? 86400000L : (long)t;
		}
		if (q_head != NULL) {
			uint64_t now = now_ms();
			long left = q_head->due_ms <= now ? 0 : (long)(q_head->due_ms - now);

			if (timeout < 0 || left < timeout)
				timeout = left;
		}
		n = epoll_wait(ep, evs, MF_EVENTS, (int)timeout);
		if (n < 0 && errno != EINTR)
			goto out;
		for (i = 0; i < n; i++)
			if (evs[i].data.fd == sfd)
				stop = 1;
		if (stop)
			break;
		if (q_head != NULL)
			resume_due(now_ms());
		MHD_run(d);
	}
	fprintf(stderr, "mhdfloor: %llu requests answered, %llu still suspended\n", n_requests,
	        n_suspended_now);
	rc = 0;
out:
	if (rc != 0)
		fprintf(stderr, "mhdfloor: failed: %s\n", strerror(errno));
	/* suspended connections must be resumed before MHD_stop_daemon */
	if (d != NULL) {
		resume_due(UINT64_MAX);
		MHD_stop_daemon(d);
	}
	if (resp202 != NULL)
		MHD_destroy_response(resp202);
	if (ep >= 0)
		close(ep);
	if (sfd >= 0)
		close(sfd);
	if (upath != NULL && lfd >= 0)
		(void)unlink(upath);
#ifdef FLOOR_CURL
	if (with_curl)
		curl_global_cleanup();
#endif
	return rc;
}
