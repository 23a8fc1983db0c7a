/* cli_http.c: the wpsgate client's transport: one HTTP/1.1 request at a time to wpsgated, over its unix
 * socket or plain TCP, written and read here (cli_parse.c reads the answer).
 *
 * Why not libcurl: a client runs once per send from shell scripts and cron jobs, and loading libcurl
 * and the thirty libraries it pulls in (TLS, HTTP/2, IDN, LDAP, Kerberos...) cost about 10 ms per process
 * on the benchmark machine, more than the request itself (docs/benchmarks.md, "Fresh processes"). The
 * gateway speaks plain HTTP/1.1 on loopback, which is all this needs. */
#include <config.h>

#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <jansson.h>

#include "cli.h"

struct cli_http {
	const char *socket; /* borrowed; NULL when a URL was given with --url */
	char *host;         /* --url: the host (without brackets), its port, and the Host header */
	char *port;
	char *hosthdr;
	char *prefix; /* --url: its path without a trailing '/', "" if none */
	char *where;  /* for messages */
	long timeout_ms;
	int verbose;
};

/* Split "http://HOST[:PORT][/PATH]" into h. Returns 0, or -1 after printing why. */
static int parse_url(struct cli_http *h, const char *url)
{
	const char *p, *hend, *slash;
	size_t n = strlen(url);

	if (strncasecmp(url, "https://", 8) == 0) {
		cli_usage_error("--url: https is not spoken here: the gateway serves plain HTTP on loopback "
		                "(use http://)");
		return -1;
	}
	if (strncasecmp(url, "http://", 7) != 0) {
		cli_usage_error("--url must start with http:// (got a %zu-byte value)", n);
		return -1;
	}
	p = url + 7;
	slash = strchr(p, '/');
	if (slash == NULL)
		slash = url + n;
	if (*p == '[') { /* [v6]:port */
		hend = memchr(p, ']', (size_t)(slash - p));
		if (hend == NULL)
			goto bad;
		h->host = strndup(p + 1, (size_t)(hend - p - 1));
		p = hend + 1;
	} else {
		hend = memchr(p, ':', (size_t)(slash - p));
		if (hend == NULL)
			hend = slash;
		h->host = strndup(p, (size_t)(hend - p));
		p = hend;
	}
	if (h->host == NULL || h->host[0] == '\0')
		goto bad;
	if (*p == ':') {
		const char *q;

		for (q = p + 1; q < slash; q++)
			if (!isdigit((unsigned char)*q))
				goto bad;
		if (slash - p < 2 || slash - p > 6)
			goto bad;
		h->port = strndup(p + 1, (size_t)(slash - p - 1));
	} else if (p == slash) {
		h->port = strdup("80");
	} else {
		goto bad;
	}
	h->hosthdr = strndup(url + 7, (size_t)(slash - (url + 7)));
	n = strlen(slash);
	while (n > 0 && slash[n - 1] == '/')
		n--;
	h->prefix = strndup(slash, n);
	if (h->port == NULL || h->hosthdr == NULL || h->prefix == NULL)
		goto nomem;
	return 0;
bad:
	cli_usage_error("--url: not an http://HOST[:PORT][/PATH] URL");
	return -1;
nomem:
	cli_warn("out of memory");
	return -1;
}

struct cli_http *cli_http_new(const struct cli_opts *o)
{
	struct cli_http *h = calloc(1, sizeof(*h));
	struct buf b;

	buf_init(&b, 4096);
	if (h == NULL)
		goto nomem;
	h->timeout_ms = o->timeout_s * 1000;
	h->verbose = o->verbose;
	if (o->url != NULL) {
		size_t n = strlen(o->url);

		if (parse_url(h, o->url) < 0)
			goto bad;
		while (n > 0 && o->url[n - 1] == '/')
			n--;
		h->where = strndup(o->url, n);
	} else {
		const char *env = getenv("WPSGATE_SOCKET");

		h->socket = o->socket != NULL               ? o->socket
		            : (env != NULL && *env != '\0') ? env
		                                            : CLI_DEFAULT_SOCKET;
		if (buf_printf(&b, "unix:%s", h->socket) < 0)
			goto nomem;
		h->where = buf_steal(&b);
		h->hosthdr = strdup("localhost");
		h->prefix = strdup("");
		if (h->hosthdr == NULL || h->prefix == NULL)
			goto nomem;
	}
	if (h->where == NULL)
		goto nomem;
	buf_free(&b);
	return h;
nomem:
	cli_warn("out of memory");
bad:
	buf_free(&b);
	cli_http_free(h);
	return NULL;
}

void cli_http_free(struct cli_http *h)
{
	if (h == NULL)
		return;
	free(h->host);
	free(h->port);
	free(h->hosthdr);
	free(h->prefix);
	free(h->where);
	free(h);
}

const char *cli_http_where(const struct cli_http *h)
{
	return h->where;
}

void resp_init(struct cli_resp *r)
{
	r->status = 0;
	buf_init(&r->body, CLI_RESPONSE_MAX);
	r->ctype[0] = '\0';
	r->errcode[0] = '\0';
}

void resp_free(struct cli_resp *r)
{
	if (r == NULL)
		return;
	buf_free(&r->body);
}

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait until fd is ready for ev or the deadline passes: 1, 0 on timeout, -1 on error. */
static int wait_fd(int fd, short ev, int64_t deadline)
{
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = ev };
		int64_t left = deadline - mono_ms();
		int n;

		if (left <= 0)
			return 0;
		n = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
		if (n > 0)
			return 1;
		if (n < 0 && errno != EINTR)
			return -1;
	}
}

/* Connect (non-blocking, within the deadline). Returns the fd, or -1 with *why set. */
static int connect_to(const struct cli_http *h, int64_t deadline, const char **why)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res = NULL, *ai;
	int fd = -1, rc;

	if (h->socket != NULL) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };

		if (strlen(h->socket) >= sizeof(sa.sun_path)) {
			*why = "the socket path is too long";
			return -1;
		}
		memcpy(sa.sun_path, h->socket, strlen(h->socket));
		if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
		    connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			*why = strerror(errno);
			if (fd >= 0)
				close(fd);
			return -1;
		}
		return fd;
	}
	if ((rc = getaddrinfo(h->host, h->port, &hints, &res)) != 0) {
		*why = gai_strerror(rc);
		return -1;
	}
	*why = "no address";
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		int err = 0;
		socklen_t len = sizeof(err);

		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
		if (fd < 0) {
			*why = strerror(errno);
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (errno == EINPROGRESS) {
			rc = wait_fd(fd, POLLOUT, deadline);
			if (rc > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0)
				break;
			*why = rc == 0 ? "timed out" : strerror(err ? err : errno);
		} else {
			*why = strerror(errno);
		}
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

/* Write all of p within the deadline: 0, or -1 with *why set. */
static int write_all(int fd, const char *p, size_t len, int64_t deadline, const char **why)
{
	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int rc = wait_fd(fd, POLLOUT, deadline);

			if (rc > 0)
				continue;
			*why = rc == 0 ? "timed out" : strerror(errno);
			return -1;
		}
		*why = strerror(errno);
		return -1;
	}
	return 0;
}

int cli_http_do(struct cli_http *h, const char *method, const char *pathq, const char *ctype,
                const void *body, size_t len, struct cli_resp *r)
{
	int64_t deadline = mono_ms() + h->timeout_ms;
	const char *why = "out of memory";
	struct buf req, in;
	struct cli_parse ps;
	int fd = -1, ret = CLI_ERR_CONNECT, rc = 0;
	int head = strcmp(method, "HEAD") == 0;

	buf_init(&req, CLI_PATH_MAX + 8192);
	buf_init(&in, CLI_RESPONSE_MAX + 65536);
	cli_parse_init(&ps, head);
	/* a body, or a method other than GET, HEAD and DELETE: a Content-Length (0 without a body) */
	if (buf_printf(&req,
	               "%s %s%s HTTP/1.1\r\nHost: %s\r\nUser-Agent: " PACKAGE_NAME "/" PACKAGE_VERSION
	               "\r\nAccept: */*\r\nConnection: close\r\n",
	               method, h->prefix, pathq, h->hosthdr) < 0 ||
	    (ctype != NULL && buf_printf(&req, "Content-Type: %s\r\n", ctype) < 0) ||
	    ((body != NULL || (strcmp(method, "GET") != 0 && !head && strcmp(method, "DELETE") != 0)) &&
	     buf_printf(&req, "Content-Length: %zu\r\n", body != NULL ? len : 0) < 0) ||
	    buf_puts(&req, "\r\n") < 0)
		goto done;
	if (h->verbose)
		fprintf(stderr, "wpsgate: > %s %s (%s)\n", method, pathq, h->where);
	if ((fd = connect_to(h, deadline, &why)) < 0)
		goto done;
	if (write_all(fd, req.data, req.len, deadline, &why) < 0 ||
	    (body != NULL && len > 0 && write_all(fd, body, len, deadline, &why) < 0))
		goto done;
	for (;;) {
		char chunk[16384];
		ssize_t n = recv(fd, chunk, sizeof(chunk), MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int w = wait_fd(fd, POLLIN, deadline);

			if (w > 0)
				continue;
			why = w == 0 ? "timed out waiting for the answer" : strerror(errno);
			goto done;
		}
		if (n < 0) {
			why = strerror(errno);
			goto done;
		}
		if (n > 0 && buf_append(&in, chunk, (size_t)n) < 0) {
			cli_warn("the answer from %s is larger than %ld bytes", h->where,
			         (long)CLI_RESPONSE_MAX);
			ret = CLI_ERR_ANSWER;
			goto done;
		}
		rc = cli_parse(&ps, in.data, in.len, n == 0, r);
		if (rc != 0)
			break;
		if (n == 0) { /* cannot happen: at the end cli_parse decides */
			rc = -1;
			break;
		}
	}
	if (rc < 0 && ps.too_large) {
		cli_warn("the answer from %s is larger than %ld bytes", h->where, (long)CLI_RESPONSE_MAX);
		ret = CLI_ERR_ANSWER;
		goto done;
	}
	if (rc < 0) {
		why = ps.error;
		goto done;
	}
	if (h->verbose)
		fprintf(stderr, "wpsgate: < %ld (%zu bytes)\n", r->status, r->body.len);
	ret = 0;
done:
	if (ret == CLI_ERR_CONNECT)
		cli_warn("cannot reach the gateway at %s: %s", h->where, why);
	if (fd >= 0)
		close(fd);
	buf_free(&req);
	buf_free(&in);
	return ret;
}

/* Print at most 200 bytes of a non-JSON error body, control characters replaced. */
static void print_snippet(const struct buf *b)
{
	size_t i, n = b->len < 200 ? b->len : 200;

	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)b->data[i];

		fputc(ch < 0x20 || ch == 0x7f ? ' ' : ch, stderr);
	}
	if (b->len > n)
		fputs("...", stderr);
}

int resp_error(const struct cli_resp *r, const char *what)
{
	json_t *j = NULL, *code, *msg;

	if (r->body.len > 0)
		j = json_loadb(r->body.data, r->body.len, 0, NULL);
	code = json_is_object(j) ? json_object_get(j, "code") : NULL;
	msg = json_is_object(j) ? json_object_get(j, "message") : NULL;
	fprintf(stderr, "wpsgate: %s: %ld", what, r->status);
	if (json_is_string(code))
		fprintf(stderr, " %s", json_string_value(code));
	else if (r->errcode[0] != '\0')
		fprintf(stderr, " %s", r->errcode);
	if (json_is_string(msg)) {
		fprintf(stderr, ": %s", json_string_value(msg));
	} else if (j == NULL && r->body.len > 0) {
		fputs(": ", stderr);
		print_snippet(&r->body);
	}
	fputc('\n', stderr);
	json_decref(j);
	return CLI_ERR_ANSWER;
}
