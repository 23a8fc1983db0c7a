/* curlfloor.c: the smallest libcurl multi client doing wpsgated's upstream work, to measure what libcurl costs.
 *
 *   curlfloor -t HOST:PORT [-n CONCURRENT] [-d SECONDS] [-w WARMUP_SECONDS] [-T TIMEOUT_MS] [-P]
 *
 * One thread, one multi handle, N (default 64) easy handles created once and reused: per transfer only the URL,
 * the header list and the body are set (CURLOPT_URL, CURLOPT_HTTPHEADER, CURLOPT_POSTFIELDS(+SIZE)), then the
 * handle is added to the multi handle again.  CURLMOPT_MAX_HOST_CONNECTIONS = CURLMOPT_MAXCONNECTS = N, so the N
 * keep-alive connections are reused.  Each transfer is a POST of a 256-byte JSON body to
 * /api/hubs/bench/groups/g1/:send?api-version=2024-12-01 with "Authorization: Bearer <230 characters>",
 * "Content-Type: application/json" and "Expect:" (disabled); the response body is discarded.
 *
 * The loop is the multi socket API driven by this program's epoll (CURLMOPT_SOCKETFUNCTION/TIMERFUNCTION and
 * curl_multi_socket_action), as wpsgated's upstream.c does; -P uses curl_multi_perform + curl_multi_poll instead.
 * -T sets CURLOPT_TIMEOUT_MS on every transfer (default: none, the strict floor).
 *
 * After WARMUP seconds (default 1) it measures for SECONDS (default 10) and prints one line on stdout:
 *   requests=N seconds=S rps=R cpu_us_per_req=C user_us_per_req=U sys_us_per_req=Y errors=E non202=M mode=socket|poll
 * CPU is getrusage(RUSAGE_SELF) user+sys over the measured window divided by the transfers completed in it.
 * Every loop is bounded by the duration; the program always exits by itself.
 */
#include <config.h>
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#define CF_MAX_CONC  4096
#define CF_EVENTS    256
#define CF_PATH      "/api/hubs/bench/groups/g1/:send?api-version=2024-12-01"
#define CF_TOKEN_LEN 230
#define CF_BODY_LEN  256

static struct {
	const char *target;
	int conc;
	double duration, warmup;
	long timeout_ms;
	int poll_mode;
} opt = { NULL, 64, 10.0, 1.0, 0, 0 };

static int epfd = -1;
static double timer_due = -1; /* when curl wants CURL_SOCKET_TIMEOUT (monotonic s); -1: never */
static char url[256];
static char body[CF_BODY_LEN + 1];
static struct curl_slist *headers;
static unsigned long long n_done, n_errors, n_non202;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(double *user, double *sys)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	*user = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6;
	*sys = (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
	return *user + *sys;
}

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

static int socket_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct epoll_event ev;

	(void)e;
	(void)userp;
	memset(&ev, 0, sizeof ev);
	ev.data.fd = s;
	if (what == CURL_POLL_REMOVE) {
		(void)epoll_ctl(epfd, EPOLL_CTL_DEL, s, NULL);
		return 0;
	}
	ev.events = (what & CURL_POLL_IN ? EPOLLIN : 0u) | (what & CURL_POLL_OUT ? EPOLLOUT : 0u);
	if (socketp == NULL) {
		if (epoll_ctl(epfd, EPOLL_CTL_ADD, s, &ev) < 0 && errno == EEXIST)
			(void)epoll_ctl(epfd, EPOLL_CTL_MOD, s, &ev);
		/* mark the socket as known so the next call does a MOD */
		curl_multi_assign((CURLM *)userp, s, (void *)1);
	} else if (epoll_ctl(epfd, EPOLL_CTL_MOD, s, &ev) < 0 && errno == ENOENT) {
		(void)epoll_ctl(epfd, EPOLL_CTL_ADD, s, &ev);
	}
	return 0;
}

static double now_s(void);

static int timer_cb(CURLM *m, long ms, void *userp)
{
	(void)m;
	(void)userp;
	timer_due = ms < 0 ? -1 : now_s() + (double)ms / 1000.0;
	return 0;
}

/* Set the per-transfer options (URL, headers, body) and hand the easy handle to the multi handle. */
static int start(CURLM *m, CURL *e)
{
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)CF_BODY_LEN);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
	if (opt.timeout_ms > 0)
		curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, opt.timeout_ms);
	return curl_multi_add_handle(m, e) == CURLM_OK ? 0 : -1;
}

/* Count finished transfers and start each easy handle again. */
static void reap(CURLM *m, int counting)
{
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(m, &left)) != NULL) {
		CURL *e = msg->easy_handle;
		long code = 0;

		if (msg->msg != CURLMSG_DONE)
			continue;
		if (counting) {
			n_done++;
			if (msg->data.result != CURLE_OK)
				n_errors++;
			else if (curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK &&
			         code != 202)
				n_non202++;
		}
		curl_multi_remove_handle(m, e);
		if (start(m, e) < 0)
			n_errors++;
	}
}

static void usage(void)
{
	fprintf(stderr, "usage: curlfloor -t HOST:PORT [-n CONCURRENT] [-d SECONDS] [-w WARMUP] [-T "
	                "TIMEOUT_MS] [-P]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	CURLM *m = NULL;
	CURL **easy = NULL;
	char auth[64 + CF_TOKEN_LEN];
	struct epoll_event evs[CF_EVENTS];
	double t0, t_meas = 0, t_end, u0 = 0, s0 = 0, u1, s1, c0 = 0, c1, secs;
	int ch, i, running = 0, counting = 0, rc = 1;

	while ((ch = getopt(argc, argv, "t:n:d:w:T:P")) != -1) {
		switch (ch) {
		case 't': opt.target = optarg; break;
		case 'n': opt.conc = atoi(optarg); break;
		case 'd': opt.duration = atof(optarg); break;
		case 'w': opt.warmup = atof(optarg); break;
		case 'T': opt.timeout_ms = atol(optarg); break;
		case 'P': opt.poll_mode = 1; break;
		default: usage();
		}
	}
	if (opt.target == NULL || opt.conc < 1 || opt.conc > CF_MAX_CONC || opt.duration <= 0 ||
	    opt.warmup < 0)
		usage();
	snprintf(url, sizeof url, "http://%s%s", opt.target, CF_PATH);
	snprintf(body, sizeof body, "{\"seq\":1,\"msg\":\"%.*s\"}", CF_BODY_LEN - 18,
	         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	         "xxxxxxxxxxxxx"
	         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	         "xxxxxxxxxxxxx"
	         "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
	if (strlen(body) != CF_BODY_LEN) {
		fprintf(stderr, "curlfloor: body is %zu bytes, not %d\n", strlen(body), CF_BODY_LEN);
		return 1;
	}
	/* a dummy token of the length of a real Web PubSub JWT; "Bearer " + 230 characters */
	memcpy(auth, "Authorization: Bearer ", 22);
	for (i = 0; i < CF_TOKEN_LEN; i++)
		auth[22 + i] = "abcdefghijklmnopqrstuvwxyz0123456789"[i % 36];
	auth[22 + CF_TOKEN_LEN] = '\0';
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return 1;
	headers = curl_slist_append(headers, auth);
	headers = curl_slist_append(headers, "Content-Type: application/json");
	headers = curl_slist_append(headers, "Expect:");
	if (headers == NULL || (m = curl_multi_init()) == NULL ||
	    (easy = calloc((size_t)opt.conc, sizeof *easy)) == NULL)
		goto out;
	curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, (long)opt.conc);
	curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, (long)opt.conc);
	if (!opt.poll_mode) {
		if ((epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
			goto out;
		curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, socket_cb);
		curl_multi_setopt(m, CURLMOPT_SOCKETDATA, m);
		curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, timer_cb);
		curl_multi_setopt(m, CURLMOPT_TIMERDATA, NULL);
	}
	for (i = 0; i < opt.conc; i++) {
		if ((easy[i] = curl_easy_init()) == NULL)
			goto out;
		curl_easy_setopt(easy[i], CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(easy[i], CURLOPT_WRITEFUNCTION, discard);
		if (start(m, easy[i]) < 0)
			goto out;
	}

	t0 = now_s();
	t_end = t0 + opt.warmup + opt.duration;
	if (opt.warmup == 0) {
		counting = 1;
		t_meas = t0;
		c0 = cpu_s(&u0, &s0);
	}
	if (!opt.poll_mode)
		curl_multi_socket_action(m, CURL_SOCKET_TIMEOUT, 0, &running);
	for (;;) {
		double now = now_s();
		int n, wait_ms;

		if (!counting && now >= t0 + opt.warmup) {
			counting = 1;
			t_meas = now;
			c0 = cpu_s(&u0, &s0);
		}
		if (now >= t_end)
			break;
		wait_ms = (int)((t_end - now) * 1000) + 1;
		if (opt.poll_mode) {
			if (wait_ms > 1000)
				wait_ms = 1000;
			curl_multi_perform(m, &running);
			reap(m, counting);
			if (curl_multi_poll(m, NULL, 0, wait_ms, NULL) != CURLM_OK)
				goto out;
			continue;
		}
		if (timer_due >= 0) {
			int left = timer_due <= now ? 0 : (int)((timer_due - now) * 1000) + 1;

			if (left < wait_ms)
				wait_ms = left;
		}
		n = epoll_wait(epfd, evs, CF_EVENTS, wait_ms);
		if (n < 0 && errno != EINTR)
			goto out;
		for (i = 0; i < n; i++) {
			int f = (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR) ? CURL_CSELECT_IN : 0) |
			        (evs[i].events & (EPOLLOUT | EPOLLERR) ? CURL_CSELECT_OUT : 0) |
			        (evs[i].events & EPOLLERR ? CURL_CSELECT_ERR : 0);

			curl_multi_socket_action(m, evs[i].data.fd, f, &running);
		}
		reap(m, counting);
		/* curl's timer (a re-added handle asks for 0 ms): due now or earlier */
		if (timer_due >= 0 && timer_due <= now_s()) {
			timer_due = -1;
			curl_multi_socket_action(m, CURL_SOCKET_TIMEOUT, 0, &running);
			reap(m, counting);
		}
	}
	c1 = cpu_s(&u1, &s1);
	secs = now_s() - t_meas;
	if (n_done == 0) {
		fprintf(stderr, "curlfloor: no transfer completed\n");
		printf("requests=0 seconds=%.3f rps=0 cpu_us_per_req=0 errors=%llu\n", secs, n_errors);
		goto out;
	}
	printf("requests=%llu seconds=%.3f rps=%.0f cpu_us_per_req=%.1f user_us_per_req=%.1f "
	       "sys_us_per_req=%.1f "
	       "errors=%llu non202=%llu mode=%s\n",
	       n_done, secs, (double)n_done / secs, (c1 - c0) / (double)n_done * 1e6,
	       (u1 - u0) / (double)n_done * 1e6, (s1 - s0) / (double)n_done * 1e6, n_errors, n_non202,
	       opt.poll_mode ? "poll" : "socket");
	rc = n_errors == 0 && n_non202 == 0 ? 0 : 3;
out:
	if (easy != NULL) {
		for (i = 0; i < opt.conc; i++) {
			if (easy[i] != NULL) {
				curl_multi_remove_handle(m, easy[i]);
				curl_easy_cleanup(easy[i]);
			}
		}
		free(easy);
	}
	if (m != NULL)
		curl_multi_cleanup(m);
	curl_slist_free_all(headers);
	if (epfd >= 0)
		close(epfd);
	curl_global_cleanup();
	return rc;
}
