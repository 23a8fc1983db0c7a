/* uload.c: a tiny keep-alive HTTP/1.1 load generator (TCP or Unix socket) with an exact latency histogram.
 *
 * Why not only wrk: wrk cannot talk to a Unix socket, and the gateway's main local API is one. uload sends one
 * fixed request per connection at a time (no pipelining), over N keep-alive connections, from one epoll thread,
 * and prints one line of key=value figures that bench/run.sh parses.
 *
 *   uload (-t HOST:PORT | -u PATH) [-c CONNS] [-d SECONDS] [-w WARMUP_SECONDS] [-m METHOD] [-p PATH]
 *         [-b BODY_BYTES | -B BODY_FILE] [-H 'Name: value']... [-o] [-q]
 *
 *   -T N  N targets: every "%d" in PATH becomes 0..N-1, the requests taking them in turn (N <= 100000).
 *   -n N  send N requests in all (warm-up included), then wait for their answers and stop (or at -d).
 *   -o  one-shot: every connection sends exactly one request and waits for its answer (up to -d seconds);
 *       used to hold CONNS requests in flight against a slow upstream.  Prints progress lines to stderr.
 *
 * Output (stdout, one line):
 *   requests=N seconds=S rps=R p50_us=.. p90_us=.. p99_us=.. p999_us=.. max_us=.. status2xx=N other=N
 *   first_other=CODE errors=N connects=N
 *
 * Every loop is bounded by the duration; the program always exits by itself.
 */
#include <config.h>
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define UL_MAX_HEADERS 16
#define UL_RBUF        16384
#define UL_MAX_SAMPLES (64u * 1024u * 1024u)

enum cstate { C_IDLE, C_CONNECTING, C_WRITING, C_READING, C_DONE };

struct conn {
	int fd;
	enum cstate st;
	size_t woff;     /* bytes of the request written */
	size_t rlen;     /* bytes in rbuf */
	uint64_t t_sent; /* ns, monotonic, when the first byte of the request went out */
	const char *rq;  /* the request being sent, rql bytes */
	size_t rql;
	int retries;     /* one-shot: connect attempts refused with EAGAIN (full unix backlog) */
	int started;     /* one-shot: this connection has been started once */
	char rbuf[UL_RBUF];
};

static struct {
	const char *tcp;
	const char *unix_path;
	int conns;
	double duration;
	double warmup;
	const char *method;
	const char *path;
	size_t body_bytes;
	const char *body_file;
	const char *headers[UL_MAX_HEADERS];
	int nheaders;
	int oneshot;
	int quiet;
	int targets;
	long long max_requests;
} opt = { NULL, NULL, 64,       10.0, 0.0, "POST", "/api/hubs/bench/groups/g1/:send?api-version=2024-12-01",
	  256,  NULL, { NULL }, 0,    0,   0, 1, 0 };

static char *req;    /* the requests, one after the other (-T: one per target) */
static size_t req_len;
static size_t *req_off, *req_lens;
static unsigned long long n_sent;
static struct sockaddr_storage addr;
static socklen_t addr_len;
static int epfd = -1;

static uint32_t *samples;
static size_t nsamples, cap_samples;
static uint64_t n_2xx, n_other, n_errors, n_connects, n_answered_total;
static int first_other;
static int measuring;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void usage(void)
{
	fprintf(stderr,
	        "usage: uload (-t HOST:PORT | -u PATH) [-c CONNS] [-d SECONDS] [-w WARMUP] [-m METHOD]\n"
	        "             [-p PATH] [-b BODY_BYTES | -B BODY_FILE] [-H 'Name: value']... [-o] [-q]\n"
	        "             [-T TARGETS] [-n REQUESTS]\n");
	exit(2);
}

static int parse_addr(void)
{
	memset(&addr, 0, sizeof(addr));
	if (opt.unix_path) {
		struct sockaddr_un *un = (struct sockaddr_un *)&addr;
		if (strlen(opt.unix_path) >= sizeof(un->sun_path))
			return -1;
		un->sun_family = AF_UNIX;
		strcpy(un->sun_path, opt.unix_path);
		addr_len = sizeof(*un);
		return 0;
	}
	char host[128];
	const char *colon = strrchr(opt.tcp, ':');
	if (!colon || (size_t)(colon - opt.tcp) >= sizeof(host))
		return -1;
	memcpy(host, opt.tcp, (size_t)(colon - opt.tcp));
	host[colon - opt.tcp] = '\0';
	int port = atoi(colon + 1);
	if (port <= 0 || port > 65535)
		return -1;
	struct sockaddr_in *in = (struct sockaddr_in *)&addr;
	in->sin_family = AF_INET;
	in->sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, host, &in->sin_addr) != 1)
		return -1;
	addr_len = sizeof(*in);
	return 0;
}

/* A JSON body of exactly n bytes: {"msg":"xxxx...","seq":0} padded. */
static char *make_body(size_t n, size_t *out_len)
{
	char *b;
	if (opt.body_file) {
		FILE *f = fopen(opt.body_file, "rb");
		if (!f)
			return NULL;
		b = malloc(1u << 20);
		if (!b) {
			fclose(f);
			return NULL;
		}
		*out_len = fread(b, 1, 1u << 20, f);
		fclose(f);
		return b;
	}
	const char *head = "{\"seq\":1,\"msg\":\"";
	const char *tail = "\"}";
	size_t fixed = strlen(head) + strlen(tail);
	if (n < fixed)
		n = fixed;
	b = malloc(n + 1);
	if (!b)
		return NULL;
	strcpy(b, head);
	memset(b + strlen(head), 'x', n - fixed);
	strcpy(b + n - strlen(tail), tail);
	*out_len = n;
	return b;
}

static int build_request(void)
{
	size_t blen = 0;
	char *body = NULL;
	int has_body = strcmp(opt.method, "GET") != 0 && strcmp(opt.method, "HEAD") != 0;
	if (has_body) {
		body = make_body(opt.body_bytes, &blen);
		if (!body)
			return -1;
	}
	size_t one = 4096 + strlen(opt.path) * 2 + blen, cap = one * (size_t)opt.targets, n = 0;
	req = malloc(cap);
	req_off = calloc((size_t)opt.targets, sizeof(*req_off));
	req_lens = calloc((size_t)opt.targets, sizeof(*req_lens));
	if (!req || !req_off || !req_lens) {
		free(body);
		return -1;
	}
	for (int t = 0; t < opt.targets; t++) {
		char path[8192];
		const char *p = opt.path, *pc;
		size_t pl = 0, start = n;
		/* every %d of the path: the target's number */
		while ((pc = strstr(p, "%d")) != NULL && pl + (size_t)(pc - p) + 12 < sizeof path) {
			memcpy(path + pl, p, (size_t)(pc - p));
			pl += (size_t)(pc - p);
			pl += (size_t)snprintf(path + pl, sizeof path - pl, "%d", t);
			p = pc + 2;
		}
		snprintf(path + pl, sizeof path - pl, "%s", p);
		n += (size_t)snprintf(req + n, cap - n, "%s %s HTTP/1.1\r\nHost: %s\r\n", opt.method, path,
		                      opt.unix_path ? "localhost" : opt.tcp);
		for (int i = 0; i < opt.nheaders; i++)
			n += (size_t)snprintf(req + n, cap - n, "%s\r\n", opt.headers[i]);
		if (has_body)
			n += (size_t)snprintf(req + n, cap - n, "Content-Length: %zu\r\n", blen);
		n += (size_t)snprintf(req + n, cap - n, "\r\n");
		if (has_body) {
			memcpy(req + n, body, blen);
			n += blen;
		}
		req_off[t] = start;
		req_lens[t] = n - start;
	}
	req_len = req_lens[0];
	free(body);
	return 0;
}

static void record(uint64_t lat_ns, int status)
{
	n_answered_total++;
	if (!measuring)
		return;
	if (status >= 200 && status < 300)
		n_2xx++;
	else {
		n_other++;
		if (!first_other)
			first_other = status;
	}
	if (nsamples == cap_samples && cap_samples < UL_MAX_SAMPLES) {
		size_t nc = cap_samples ? cap_samples * 2 : 65536;
		uint32_t *ns = realloc(samples, nc * sizeof(*ns));
		if (ns) {
			samples = ns;
			cap_samples = nc;
		}
	}
	if (nsamples < cap_samples) {
		uint64_t us = lat_ns / 1000u;
		samples[nsamples++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
	}
}

static void conn_close(struct conn *c)
{
	if (c->fd >= 0) {
		epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
		close(c->fd);
	}
	c->fd = -1;
	c->st = opt.oneshot ? C_DONE : C_IDLE;
	c->rlen = 0;
	c->woff = 0;
}

static int conn_open(struct conn *c)
{
	int fd = socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (addr.ss_family == AF_INET) {
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	c->fd = fd;
	c->rlen = 0;
	c->woff = 0;
	struct epoll_event ev = { .events = EPOLLOUT | EPOLLIN, .data.ptr = c };
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		close(fd);
		c->fd = -1;
		return -1;
	}
	if (connect(fd, (struct sockaddr *)&addr, addr_len) < 0 && errno != EINPROGRESS) {
		int again = errno == EAGAIN;
		conn_close(c);
		c->st = C_IDLE;
		return again ? -2 : -1;
	}
	n_connects++;
	c->st = C_CONNECTING;
	c->t_sent = now_ns();
	return 0;
}

static void want(struct conn *c, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = c };
	epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

static void start_write(struct conn *c)
{
	if (opt.max_requests > 0 && n_sent >= (unsigned long long)opt.max_requests) {
		conn_close(c);
		c->st = C_DONE;
		return;
	}
	size_t t = (size_t)(n_sent++ % (unsigned long long)opt.targets);
	c->rq = req + req_off[t];
	c->rql = req_lens[t];
	c->st = C_WRITING;
	c->woff = 0;
	c->t_sent = now_ns();
	for (;;) {
		ssize_t w = send(c->fd, c->rq + c->woff, c->rql - c->woff, MSG_NOSIGNAL);
		if (w > 0) {
			c->woff += (size_t)w;
			if (c->woff == c->rql) {
				c->st = C_READING;
				want(c, EPOLLIN);
				return;
			}
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			want(c, EPOLLOUT);
			return;
		}
		n_errors++;
		conn_close(c);
		return;
	}
}

/* Returns total response length when rbuf holds a complete response, 0 when more is needed, -1 on garbage.
 * Sets *status and *close_after. Understands Content-Length and chunked bodies (HEAD/204/304: none). */
static long parse_response(struct conn *c, int *status, int *close_after)
{
	c->rbuf[c->rlen] = '\0';
	char *eoh = memmem(c->rbuf, c->rlen, "\r\n\r\n", 4);
	if (!eoh)
		return c->rlen >= UL_RBUF - 1 ? -1 : 0;
	size_t hlen = (size_t)(eoh - c->rbuf) + 4;
	if (strncmp(c->rbuf, "HTTP/1.", 7) != 0 || c->rlen < 12)
		return -1;
	*status = atoi(c->rbuf + 9);
	*close_after = 0;
	long clen = -1;
	int chunked = 0;
	for (char *p = strstr(c->rbuf, "\r\n"); p && p < eoh; p = strstr(p + 2, "\r\n")) {
		char *h = p + 2;
		if (strncasecmp(h, "Content-Length:", 15) == 0)
			clen = strtol(h + 15, NULL, 10);
		else if (strncasecmp(h, "Transfer-Encoding:", 18) == 0 && strcasestr(h, "chunked") &&
		         strcasestr(h, "chunked") < strstr(h, "\r\n"))
			chunked = 1;
		else if (strncasecmp(h, "Connection:", 11) == 0 && strncasecmp(h + 11, " close", 6) == 0)
			*close_after = 1;
	}
	if (strcmp(opt.method, "HEAD") == 0 || *status == 204 || *status == 304 ||
	    (*status >= 100 && *status < 200))
		return (long)hlen;
	if (chunked) {
		size_t off = hlen;
		for (;;) {
			char *nl = memmem(c->rbuf + off, c->rlen - off, "\r\n", 2);
			if (!nl)
				return 0;
			long sz = strtol(c->rbuf + off, NULL, 16);
			off = (size_t)(nl - c->rbuf) + 2;
			if (sz == 0) {
				char *end = memmem(c->rbuf + off, c->rlen - off, "\r\n", 2);
				if (!end)
					return 0;
				return (long)((size_t)(end - c->rbuf) + 2);
			}
			if (off + (size_t)sz + 2 > c->rlen)
				return c->rlen >= UL_RBUF - 1 ? -1 : 0;
			off += (size_t)sz + 2;
		}
	}
	if (clen < 0) {
		*close_after = 1; /* body until close: not expected from the servers we measure */
		return -1;
	}
	if (hlen + (size_t)clen > UL_RBUF - 1)
		return -1;
	return hlen + (size_t)clen <= c->rlen ? (long)(hlen + (size_t)clen) : 0;
}

static void on_readable(struct conn *c, uint64_t deadline)
{
	for (;;) {
		ssize_t r = recv(c->fd, c->rbuf + c->rlen, UL_RBUF - 1 - c->rlen, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (r <= 0) {
			/* The peer closed (or reset): a keep-alive connection closed between requests is not an error. */
			if (c->rlen > 0 || c->st == C_READING)
				n_errors++;
			conn_close(c);
			return;
		}
		c->rlen += (size_t)r;
		int status = 0, close_after = 0;
		long len = parse_response(c, &status, &close_after);
		if (len < 0) {
			n_errors++;
			conn_close(c);
			return;
		}
		if (len == 0)
			continue;
		record(now_ns() - c->t_sent, status);
		memmove(c->rbuf, c->rbuf + len, c->rlen - (size_t)len);
		c->rlen -= (size_t)len;
		if (opt.oneshot) {
			conn_close(c);
			return;
		}
		if (close_after) {
			conn_close(c);
			return;
		}
		if (now_ns() >= deadline)
			return;
		start_write(c);
		return;
	}
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static uint32_t pct(double p)
{
	if (!nsamples)
		return 0;
	size_t i = (size_t)(p / 100.0 * (double)nsamples);
	if (i >= nsamples)
		i = nsamples - 1;
	return samples[i];
}

int main(int argc, char **argv)
{
	int ch;
	while ((ch = getopt(argc, argv, "t:u:c:d:w:m:p:b:B:H:oqT:n:")) != -1) {
		switch (ch) {
		case 't': opt.tcp = optarg; break;
		case 'u': opt.unix_path = optarg; break;
		case 'c': opt.conns = atoi(optarg); break;
		case 'd': opt.duration = atof(optarg); break;
		case 'w': opt.warmup = atof(optarg); break;
		case 'm': opt.method = optarg; break;
		case 'p': opt.path = optarg; break;
		case 'b': opt.body_bytes = (size_t)atol(optarg); break;
		case 'B': opt.body_file = optarg; break;
		case 'H':
			if (opt.nheaders == UL_MAX_HEADERS)
				usage();
			opt.headers[opt.nheaders++] = optarg;
			break;
		case 'o': opt.oneshot = 1; break;
		case 'q': opt.quiet = 1; break;
		case 'T': opt.targets = atoi(optarg); break;
		case 'n': opt.max_requests = atoll(optarg); break;
		default: usage();
		}
	}
	if ((!opt.tcp) == (!opt.unix_path) || opt.conns < 1 || opt.conns > 1000000 || opt.duration <= 0 ||
	    opt.duration > 3600 || opt.warmup < 0 || opt.warmup > 600 || opt.targets < 1 || opt.targets > 100000 ||
	    opt.max_requests < 0)
		usage();
	if (parse_addr() < 0) {
		fprintf(stderr, "uload: bad address\n");
		return 2;
	}
	if (build_request() < 0) {
		fprintf(stderr, "uload: cannot build the request\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	struct conn *cs = calloc((size_t)opt.conns, sizeof(*cs));
	if (epfd < 0 || !cs) {
		fprintf(stderr, "uload: out of resources\n");
		return 1;
	}
	for (int i = 0; i < opt.conns; i++) {
		cs[i].fd = -1;
		cs[i].st = C_IDLE;
	}

	uint64_t t0 = now_ns();
	uint64_t t_measure = t0 + (uint64_t)(opt.warmup * 1e9);
	uint64_t deadline = t_measure + (uint64_t)(opt.duration * 1e9);
	measuring = opt.warmup == 0;
	uint64_t t_start = measuring ? t0 : 0;
	uint64_t next_report = t0 + 1000000000u;
	struct epoll_event evs[512];

	for (;;) {
		uint64_t now = now_ns();
		if (!measuring && now >= t_measure) {
			measuring = 1;
			t_start = now;
		}
		if (now >= deadline)
			break;
		/* Open (or re-open) connections: at most 512 new ones per turn, so a listen backlog is not flooded. */
		int budget = 512, done = 0, inflight = 0, opened = 0;
		for (int i = 0; i < opt.conns; i++) {
			struct conn *c = &cs[i];
			if (c->st == C_IDLE && budget > 0) {
				budget--;
				c->started = 1;
				int r = conn_open(c);
				if (r == -2 && opt.oneshot && ++c->retries > 50)
					c->st = C_DONE;
				if (r == -1) {
					n_errors++;
					if (opt.oneshot)
						c->st = C_DONE;
				}
			}
			done += c->st == C_DONE;
			inflight += c->st == C_READING || c->st == C_WRITING;
			opened += c->started;
		}
		if ((opt.oneshot || opt.max_requests > 0) && done == opt.conns)
			break;
		if (opt.oneshot && !opt.quiet && now >= next_report) {
			fprintf(stderr, "uload: t=%.0fs opened=%d in_flight=%d answered=%llu errors=%llu\n",
			        (double)(now - t0) / 1e9, opened, inflight,
			        (unsigned long long)n_answered_total, (unsigned long long)n_errors);
			next_report += 1000000000u;
		}
		int timeout_ms = (int)((deadline - now) / 1000000u) + 1;
		if (timeout_ms > 100)
			timeout_ms = budget == 0 ? 5 : 100; /* more connections to open: come back soon */
		int n = epoll_wait(epfd, evs, 512, timeout_ms);
		if (n < 0 && errno != EINTR)
			break;
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (c->fd < 0)
				continue;
			if (c->st == C_CONNECTING) {
				int err = 0;
				socklen_t el = sizeof(err);
				getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
				if (err) {
					n_errors++;
					conn_close(c);
					continue;
				}
				start_write(c);
				continue;
			}
			if (c->st == C_WRITING && (evs[i].events & EPOLLOUT)) {
				ssize_t w = send(c->fd, c->rq + c->woff, c->rql - c->woff, MSG_NOSIGNAL);
				if (w > 0) {
					c->woff += (size_t)w;
					if (c->woff == c->rql) {
						c->st = C_READING;
						want(c, EPOLLIN);
					}
				} else if (w < 0 && errno != EAGAIN && errno != EINTR) {
					n_errors++;
					conn_close(c);
				}
				continue;
			}
			if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP))
				on_readable(c, deadline);
		}
	}
	uint64_t t_end = now_ns();
	double secs = measuring ? (double)(t_end - t_start) / 1e9 : 0;
	qsort(samples, nsamples, sizeof(*samples), cmp_u32);
	uint64_t reqs = n_2xx + n_other;
	printf("requests=%llu seconds=%.3f rps=%.0f p50_us=%u p90_us=%u p99_us=%u p999_us=%u max_us=%u "
	       "status2xx=%llu other=%llu first_other=%d errors=%llu connects=%llu\n",
	       (unsigned long long)reqs, secs, secs > 0 ? (double)reqs / secs : 0.0, pct(50), pct(90),
	       pct(99), pct(99.9), nsamples ? samples[nsamples - 1] : 0, (unsigned long long)n_2xx,
	       (unsigned long long)n_other, first_other, (unsigned long long)n_errors,
	       (unsigned long long)n_connects);
	for (int i = 0; i < opt.conns; i++)
		if (cs[i].fd >= 0)
			close(cs[i].fd);
	free(cs);
	free(samples);
	free(req);
	free(req_off);
	free(req_lens);
	close(epfd);
	return 0;
}
