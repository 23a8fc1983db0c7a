/* server.c: libmicrohttpd (external epoll) plus upgraded WebSockets in one epoll loop: REST
 * requests go to rest.c, GET /client/hubs/{hub} with Upgrade becomes a hub connection. */
#include <config.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/crypto.h>

#include "auth.h"
#include "buf.h"
#include "emulimits.h"
#include "log.h"
#include "ops.h"
#include "pct.h"
#include "proto.h"
#include "rest.h"
#include "server.h"
#include "ws.h"
#include "secret.h"

#define CLIENT_PREFIX "/client/hubs/"

static int tag_mhd = 1, tag_sig = 2;

struct srv {
	struct emu *e;
	int epfd, sigfd, lfd;
	struct MHD_Daemon *d;
	struct ws_set ws;
};

/* Per request, created by the URI log callback, freed when the request completes. */
struct req {
	char *uri; /* raw request target */
	struct buf body;
	int started;
	int answered; /* a response was queued early (413 past the discard bound) */
	int too_big;  /* the body passed max_body: the rest is read and dropped */
	size_t dropped;
	/* upgrade: filled by the access handler for the upgrade handler */
	char *hub;
	enum hub_proto proto;
	struct auth_client client;
};

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
	struct srv *s = cls;
	struct req *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->uri = strdup(uri ? uri : "");
	buf_init(&r->body, s->e->max_body);
	return r;
}

static void req_free(struct req *r)
{
	if (!r)
		return;
	free(r->uri);
	buf_free(&r->body);
	free(r->hub);
	auth_client_release(&r->client);
	free(r);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	req_free(*con_cls);
	*con_cls = NULL;
}

static size_t unescape_none(void *cls, struct MHD_Connection *c, char *s)
{
	return strlen(s);
}

static enum MHD_Result reply(struct MHD_Connection *c, int status, const char *ctype, const char *xms,
                             const char *versions, const char *body, size_t len)
{
	struct MHD_Response *resp =
	        MHD_create_response_from_buffer(len, (void *)(uintptr_t)body, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	if (ctype)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	if (xms && *xms)
		MHD_add_response_header(resp, "x-ms-error-code", xms);
	if (versions)
		MHD_add_response_header(resp, "api-supported-versions", versions);
	enum MHD_Result ret = MHD_queue_response(c, (unsigned)status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result reply_error(struct MHD_Connection *c, int status, const char *code, const char *msg)
{
	struct buf b;
	buf_init(&b, 0);
	rest_error_json(&b, code, msg, NULL);
	enum MHD_Result ret =
	        reply(c, status, "application/json; charset=utf-8", code, NULL, b.data ? b.data : "", b.len);
	buf_free(&b);
	return ret;
}

static int header_has_token(const char *v, const char *tok)
{
	size_t tl = strlen(tok);
	while (v && *v) {
		while (*v == ' ' || *v == ',' || *v == '\t')
			v++;
		size_t n = strcspn(v, ", \t");
		if (n == tl && strncasecmp(v, tok, tl) == 0)
			return 1;
		v += n;
	}
	return 0;
}

static void on_upgrade(void *cls, struct MHD_Connection *c, void *con_cls, const char *extra,
                       size_t extra_len, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh)
{
	struct srv *s = cls;
	struct req *r = con_cls;

	if (!r || !r->hub || s->e->nws >= s->e->max_connections) {
		MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
		return;
	}
	struct ws *w = ws_open(&s->ws, sock, urh, extra, extra_len);
	if (!w)
		return;
	struct hub *h = hub_get(s->e->state, r->hub, 1);
	struct hub_conn_spec spec = {
		.user = r->client.user,
		.proto = r->proto,
		.roles = (const char *const *)r->client.roles,
		.nroles = r->client.nroles,
		.groups = (const char *const *)r->client.groups,
		.ngroups = r->client.ngroups,
		.transport = w,
	};
	struct hub_conn *hc = h ? hub_conn_add(h, &spec) : NULL;
	if (!hc) {
		log_warn("could not add a connection to hub %s", r->hub);
		ws_transport.close(w, 1011, "internal error");
		return;
	}
	ws_attach(w, hc);
	log_info("client %s connected to hub %s (user %s, %s)", hc->id, h->name, hc->user ? hc->user : "-",
	         hc->proto == HUB_PROTO_SIMPLE ? "simple"
	         : hc->proto == HUB_PROTO_JSON ? PROTO_JSON_V1
	                                       : PROTO_JSON_RELIABLE_V1);
	proto_connected(hc);
}

static enum MHD_Result handle_client(struct srv *s, struct MHD_Connection *c, struct req *r, const char *url,
                                     const char *method)
{
	char why[160], accept[40];
	const char *hubraw = url + strlen(CLIENT_PREFIX);
	char *tok = NULL;
	enum MHD_Result ret;

	if (strcmp(method, "GET") != 0)
		return reply_error(c, 405, "MethodNotAllowed",
		                   "The client endpoint takes GET with Upgrade: websocket");
	r->hub = pct_decode(hubraw, strlen(hubraw), 0, NULL);
	if (!r->hub || !ops_valid_hub(r->hub))
		return reply_error(c, 400, "InvalidParameter", "Invalid hub name");
	const char *upg = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_UPGRADE);
	const char *conn = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONNECTION);
	const char *key = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-WebSocket-Key");
	const char *ver = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-WebSocket-Version");
	if (!header_has_token(upg, "websocket") || !header_has_token(conn, "upgrade") || !key)
		return reply_error(c, 400, "BadRequest", "A WebSocket upgrade request is expected");
	if (!ver || strcmp(ver, "13") != 0) {
		struct MHD_Response *resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
		if (!resp)
			return MHD_NO;
		MHD_add_response_header(resp, "Sec-WebSocket-Version", "13");
		ret = MHD_queue_response(c, 426, resp);
		MHD_destroy_response(resp);
		return ret;
	}
	const char *qt = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "access_token");
	const char *authz = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	if (qt)
		tok = pct_decode(qt, strlen(qt), 1, NULL);
	else if (authz && strncasecmp(authz, "Bearer ", 7) == 0)
		tok = strdup(authz + 7);
	const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
	int arc = auth_client(s->e, tok, host, r->hub, time(NULL), &r->client, why, sizeof(why));
	secret_free(tok);
	if (arc < 0) {
		log_info("client refused on hub %s: %s", r->hub, why);
		return reply_error(c, 401, "Unauthorized", why);
	}
	if (s->e->nws >= s->e->max_connections) {
		log_warn("client refused on hub %s: %zu connections already", r->hub, s->e->nws);
		return reply_error(c, 503, "ServiceUnavailable", "Too many connections");
	}
	const char *pname = NULL;
	if (proto_choose(MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Sec-WebSocket-Protocol"), &r->proto,
	                 &pname) < 0)
		return reply_error(c, 400, "UnsupportedSubprotocol",
		                   "None of the offered subprotocols is supported");
	if (ws_accept_key(key, accept, sizeof(accept)) < 0)
		return reply_error(c, 400, "BadRequest", "Invalid Sec-WebSocket-Key");
	struct MHD_Response *resp = MHD_create_response_for_upgrade(on_upgrade, s);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_UPGRADE, "websocket");
	MHD_add_response_header(resp, "Sec-WebSocket-Accept", accept);
	if (pname)
		MHD_add_response_header(resp, "Sec-WebSocket-Protocol", pname);
	ret = MHD_queue_response(c, MHD_HTTP_SWITCHING_PROTOCOLS, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size,
                                  void **con_cls)
{
	struct srv *s = cls;
	struct req *r = *con_cls;

	if (!r)
		return MHD_NO;
	if (!r->started) {
		r->started = 1;
		if (strncmp(url, CLIENT_PREFIX, strlen(CLIENT_PREFIX)) == 0)
			return handle_client(s, c, r, url, method);
		return MHD_YES;
	}
	if (*upload_size) {
		/* Past the limit the body is read and dropped, so that the client gets its 413 instead of
		 * a reset; past EMU_DISCARD_MAX the answer goes out at once and the connection closes. */
		if (!r->too_big && buf_append(&r->body, upload, *upload_size) < 0)
			r->too_big = 1;
		if (r->too_big)
			r->dropped += *upload_size;
		*upload_size = 0;
		if (r->too_big && !r->answered && r->dropped > EMU_DISCARD_MAX) {
			r->answered = 1;
			return reply_error(c, 413, "PayloadTooLarge", "The request body is too large");
		}
		return MHD_YES;
	}
	if (r->answered)
		return MHD_YES;
	if (r->too_big)
		return reply_error(c, 413, "PayloadTooLarge", "The request body is too large");

	struct rest_req rq = {
		.method = method,
		.raw_uri = r->uri,
		.host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST),
		.authorization =
		        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
		.content_type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE),
		.body = r->body.data ? r->body.data : "",
		.len = r->body.len,
	};
	struct rest_resp rs;
	rest_handle(s->e, &rq, &rs, time(NULL));
	char st[8];
	snprintf(st, sizeof(st), "%d", rs.status);
	/* The path only: the query may carry user data, never a secret, but keep the line short. */
	size_t pl = strcspn(r->uri, "?");
	char path[256];
	snprintf(path, sizeof(path), "%.*s", (int)(pl < 255 ? pl : 255), r->uri);
	log_kv(WLOG_INFO, "request", "method", method, "path", path, "op", rs.op_label, "status", st, NULL);
	enum MHD_Result ret = reply(c, rs.status, rs.content_type, rs.error_code, rs.api_versions,
	                            rs.body.data ? rs.body.data : "", rs.body.len);
	rest_resp_release(&rs);
	return ret;
}

struct srv *srv_new(struct emu *e, int lfd)
{
	struct srv *s = calloc(1, sizeof(*s));
	sigset_t set;

	if (!s) {
		close(lfd);
		return NULL;
	}
	s->e = e;
	s->lfd = lfd;
	s->sigfd = -1;
	s->epfd = -1;
	s->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (s->epfd < 0) {
		log_err("epoll_create1: %s", strerror(errno));
		goto bad;
	}
	s->ws.epfd = s->epfd;
	s->ws.e = e;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	s->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (s->sigfd < 0) {
		log_err("signalfd: %s", strerror(errno));
		goto bad;
	}
	s->d = MHD_start_daemon(
	        MHD_USE_EPOLL | MHD_ALLOW_UPGRADE | MHD_ALLOW_SUSPEND_RESUME, 0, NULL, NULL, on_request, s,
	        MHD_OPTION_LISTEN_SOCKET, lfd, MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
	        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_UNESCAPE_CALLBACK, unescape_none,
	        NULL, MHD_OPTION_CONNECTION_LIMIT,
	        (unsigned)(e->max_connections + EMU_HTTP_EXTRA_CONNECTIONS), MHD_OPTION_CONNECTION_TIMEOUT,
	        (unsigned)EMU_HANDSHAKE_TIMEOUT_S, MHD_OPTION_END);
	if (!s->d) {
		log_err("could not start the HTTP server");
		goto bad;
	}
	s->lfd = -1; /* MHD owns it now */
	const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_EPOLL_FD);
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &tag_mhd };
	if (!di || epoll_ctl(s->epfd, EPOLL_CTL_ADD, di->epoll_fd, &ev) < 0) {
		log_err("could not watch the HTTP server");
		goto bad;
	}
	ev.data.ptr = &tag_sig;
	if (epoll_ctl(s->epfd, EPOLL_CTL_ADD, s->sigfd, &ev) < 0)
		goto bad;
	return s;
bad:
	srv_free(s);
	return NULL;
}

int srv_run(struct srv *s)
{
	struct epoll_event evs[64];

	for (;;) {
		int timeout = -1;
		MHD_UNSIGNED_LONG_LONG mt;
		if (MHD_get_timeout(s->d, &mt) == MHD_YES)
			timeout = mt > 1000 ? 1000 : (int)mt;
		int wt = ws_flush(&s->ws);
		if (s->ws.mhd_dirty) {
			/* MHD closes sockets given back after an upgrade only when it runs */
			s->ws.mhd_dirty = 0;
			MHD_run(s->d);
		}
		if (wt >= 0 && (timeout < 0 || wt < timeout))
			timeout = wt;
		int n = epoll_wait(s->epfd, evs, 64, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_err("epoll_wait: %s", strerror(errno));
			return -1;
		}
		int run_mhd = n == 0;
		for (int i = 0; i < n; i++) {
			void *p = evs[i].data.ptr;
			if (p == &tag_sig) {
				struct signalfd_siginfo si;
				if (read(s->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
					log_info("signal %u: shutting down", si.ssi_signo);
					return 0;
				}
			} else if (p == &tag_mhd) {
				run_mhd = 1;
			} else if (ws_is(p)) {
				ws_on_events(p, evs[i].events);
			}
		}
		if (run_mhd || timeout == 0)
			MHD_run(s->d);
	}
}

void srv_free(struct srv *s)
{
	if (!s)
		return;
	ws_shutdown(&s->ws);
	if (s->d) {
		MHD_run(s->d); /* lets MHD finish the upgraded connections closed above */
		MHD_stop_daemon(s->d);
	}
	if (s->lfd >= 0)
		close(s->lfd);
	if (s->sigfd >= 0)
		close(s->sigfd);
	if (s->epfd >= 0)
		close(s->epfd);
	free(s);
}
