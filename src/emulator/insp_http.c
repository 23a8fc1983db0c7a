/* insp_http.c: the inspector's routes on the emulator's libmicrohttpd server (one thread, external
 * epoll): the embedded page, GET /inspector/api/snapshot and the Server-Sent Events stream of
 * GET /inspector/api/events, whose connection is suspended while its watcher has nothing queued. */
#include <config.h>

#include <errno.h>
#include <sys/socket.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "insp_http.h"
#include "log.h"
#include "rest.h"

/* One event stream: its watcher and its MHD connection. Freed by MHD with the response. */
struct sse {
	struct insp_watch *w;
	struct MHD_Connection *c;
	int suspended;
	int *dirty;
};

int insp_http_match(const char *url)
{
	size_t n = strlen(INSP_PREFIX);
	return strncmp(url, INSP_PREFIX, n) == 0 && (url[n] == '\0' || url[n] == '/');
}

int insp_http_host_ok(const char *host)
{
	char h[300];
	size_t n;

	if (!host || (n = strlen(host)) == 0 || n >= sizeof h)
		return 0;
	memcpy(h, host, n + 1);
	if (h[0] == '[') {
		char *e = strchr(h, ']');
		if (!e || (e[1] != '\0' && e[1] != ':'))
			return 0;
		*e = '\0';
		return strcmp(h + 1, "::1") == 0;
	}
	char *colon = strchr(h, ':');
	if (colon) {
		if (!colon[1] || strspn(colon + 1, "0123456789") != strlen(colon + 1))
			return 0;
		*colon = '\0';
	}
	if (strcasecmp(h, "localhost") == 0)
		return 1;
	/* 127.a.b.c */
	unsigned a, b, c, d;
	char tail;
	return sscanf(h, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) == 4 && a == 127 && b < 256 && c < 256 &&
	       d < 256;
}

static void common_headers(struct MHD_Response *r)
{
	/* the page runs only its own script and style: data shown is never code */
	MHD_add_response_header(
	        r, "Content-Security-Policy",
	        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
	        "img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(r, "Cache-Control", "no-store");
}

static enum MHD_Result send_buf(struct MHD_Connection *c, int status, const char *ctype, const void *data,
                                size_t len, enum MHD_ResponseMemoryMode mode, const char *allow)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)(uintptr_t)data, mode);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	if (allow)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	common_headers(r);
	enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result send_error(struct MHD_Connection *c, int status, const char *code, const char *msg,
                                  const char *allow)
{
	struct buf b;
	buf_init(&b, 0);
	rest_error_json(&b, code, msg, NULL);
	enum MHD_Result ret = send_buf(c, status, "application/json; charset=utf-8", b.data ? b.data : "",
	                               b.len, MHD_RESPMEM_MUST_COPY, allow);
	buf_free(&b);
	return ret;
}

/* 1 when the client hung up: an event stream's client sends nothing after its request, so end of
 * file on the socket means it left (MHD does not read while it sends a response). */
static int peer_gone(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
	char b;
	if (!ci)
		return 0;
	ssize_t n = recv(ci->connect_fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

static ssize_t sse_read(void *cls, uint64_t pos, char *out, size_t max)
{
	struct sse *x = cls;
	ssize_t n = insp_watch_read(x->w, out, max);

	(void)pos;
	if (n < 0 || peer_gone(x->c))
		return MHD_CONTENT_READER_END_WITH_ERROR; /* dropped (too slow) or shutting down */
	if (n == 0) {
		/* nothing now: out of MHD's loop until the watcher wakes us (no busy polling) */
		x->suspended = 1;
		MHD_suspend_connection(x->c);
	}
	return n;
}

static void sse_wake(void *arg)
{
	struct sse *x = arg;
	if (!insp_watch_alive(x->w)) {
		/* dropped: MHD would call the reader (which ends the stream) only once the socket takes
		 * data again, which a client that does not read never does; shut the socket down so that
		 * MHD sees the error and frees the connection and the watcher now */
		const union MHD_ConnectionInfo *ci =
		        MHD_get_connection_info(x->c, MHD_CONNECTION_INFO_CONNECTION_FD);
		if (ci)
			shutdown(ci->connect_fd, SHUT_RDWR);
	}
	if (x->suspended) {
		x->suspended = 0;
		MHD_resume_connection(x->c);
		*x->dirty = 1;
	}
}

static void sse_free(void *cls)
{
	struct sse *x = cls;
	insp_watch_free(x->w);
	free(x);
}

static enum MHD_Result serve_events(struct insp *in, struct MHD_Connection *c, struct insp_filter *f,
                                    int *dirty)
{
	const char *last = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Last-Event-ID");
	struct sse *x;
	struct MHD_Response *r;

	if (last) {
		/* a browser reconnecting sends the last id it saw; the URL keeps the first "after" */
		char *end;
		unsigned long long v = strtoull(last, &end, 10);
		if (*last && !*end && (!f->has_after || v > f->after)) {
			f->after = v;
			f->has_after = 1;
		}
	}
	if (!(x = calloc(1, sizeof *x)))
		return MHD_NO;
	x->c = c;
	x->dirty = dirty;
	if (!(x->w = insp_watch_new(in, f, sse_wake, x))) {
		free(x);
		log_warn("inspector: event stream refused: %zu watchers already", insp_watchers(in));
		return send_error(c, 503, "ServiceUnavailable", "Too many inspector pages are watching",
		                  NULL);
	}
	r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, sse_read, x, sse_free);
	if (!r) {
		sse_free(x);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream; charset=utf-8");
	common_headers(r);
	enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

enum MHD_Result insp_http_handle(struct insp *in, const struct hub_state *st, struct MHD_Connection *c,
                                 const char *url, const char *method, const char *raw_uri, const char *host,
                                 int *dirty)
{
	const char *sub = url + strlen(INSP_PREFIX);
	const char *q = strchr(raw_uri ? raw_uri : "", '?');
	struct insp_filter f;
	char why[160];
	enum MHD_Result ret;

	if (!insp_http_host_ok(host))
		return send_error(c, 403, "Forbidden", "The inspector answers loopback host names only",
		                  NULL);
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return send_error(c, 405, "MethodNotAllowed", "The inspector takes GET", "GET, HEAD");
	if (*sub == '\0' || strcmp(sub, "/") == 0)
		sub = "/index.html";
	if (strncmp(sub, "/api/", 5) != 0) {
		for (size_t i = 0; i < insp_nassets; i++)
			if (strcmp(sub + 1, insp_assets[i].name) == 0)
				return send_buf(c, 200, insp_assets[i].ctype, insp_assets[i].data,
				                insp_assets[i].len, MHD_RESPMEM_PERSISTENT, NULL);
		return send_error(c, 404, "NotFound", "No such inspector file", NULL);
	}
	if (strcmp(sub, "/api/snapshot") != 0 && strcmp(sub, "/api/events") != 0)
		return send_error(c, 404, "NotFound", "The inspector API has /api/snapshot and /api/events",
		                  NULL);
	if (insp_filter_parse(q ? q + 1 : NULL, &f, why, sizeof why) < 0) {
		insp_filter_clear(&f);
		return send_error(c, 400, "InvalidParameter", why, NULL);
	}
	if (strcmp(sub, "/api/events") == 0) {
		ret = serve_events(in, c, &f, dirty);
	} else {
		struct buf b;
		buf_init(&b, 0);
		if (insp_snapshot(in, st, &f, &b) < 0) {
			buf_free(&b);
			insp_filter_clear(&f);
			return send_error(c, 500, "InternalServerError", "Out of memory", NULL);
		}
		ret = send_buf(c, 200, "application/json; charset=utf-8", b.data ? b.data : "{}", b.len,
		               MHD_RESPMEM_MUST_COPY, NULL);
		buf_free(&b);
	}
	insp_filter_clear(&f);
	return ret;
}
