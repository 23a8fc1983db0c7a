/* admit.c: the admission and completion hooks: access.c, guard.c and ratelimit.c applied to each request,
 * refusals answered with a JSON error and logged with the peer, audit lines for mutating operations. */
#include <config.h>
#include "admit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include "access.h"
#include "api.h"
#include "cfg.h"
#include "guard.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "ops.h"
#include "ratelimit.h"

struct admit {
	const struct cfg *cfg;
	struct ratelimit *rl;
	gid_t socket_gid;
};

/* What admission learnt about one request (api_ctx_data). */
struct admit_req {
	struct access_peer peer;
	uint64_t key; /* rate limiter key */
	int limited;  /* ratelimit_acquire said RL_ALLOW: release once */
	struct admit *ad;
};

struct admit *admit_new(const struct cfg *cfg, gid_t socket_gid)
{
	struct admit *ad = calloc(1, sizeof *ad);

	if (ad == NULL)
		return NULL;
	ad->cfg = cfg;
	ad->socket_gid = socket_gid;
	if ((ad->rl = ratelimit_new(&cfg->ratelimit)) == NULL) {
		free(ad);
		return NULL;
	}
	return ad;
}

void admit_configure(struct admit *ad, const struct cfg *cfg)
{
	ad->cfg = cfg;
	ratelimit_reconfigure(ad->rl, &cfg->ratelimit);
}

void admit_free(struct admit *ad)
{
	if (ad == NULL)
		return;
	ratelimit_free(ad->rl);
	free(ad);
}

static void req_free(void *p)
{
	struct admit_req *ar = p;

	if (ar != NULL && ar->limited)
		ratelimit_release(ar->ad->rl, ar->key);
	free(ar);
}

static int conn_fd(const struct api_ctx *c)
{
	const union MHD_ConnectionInfo *fi =
	        MHD_get_connection_info(api_ctx_connection(c), MHD_CONNECTION_INFO_CONNECTION_FD);
	return fi != NULL ? fi->connect_fd : -1;
}

/* The port the request came in on. Each listening socket has its own daemon, so the daemon's
 * bound port is the connection's local port without a getsockname(2) per request; the socket is
 * asked only when libmicrohttpd does not know it. */
static unsigned local_port(const struct api_ctx *c)
{
	struct MHD_Connection *conn = api_ctx_connection(c);
	const union MHD_ConnectionInfo *di = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_DAEMON);
	const union MHD_DaemonInfo *pi;
	struct sockaddr_storage ss;
	socklen_t l = sizeof ss;
	int fd;

	if (di != NULL && (pi = MHD_get_daemon_info(di->daemon, MHD_DAEMON_INFO_BIND_PORT)) != NULL &&
	    pi->port != 0)
		return pi->port;
	fd = conn_fd(c);
	if (fd < 0 || getsockname(fd, (struct sockaddr *)&ss, &l) < 0)
		return 0;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return 0;
}

/* Log a refused request, naming the peer. */
static void log_refusal(const struct api_ctx *c, const struct access_peer *p, const char *why, const char *op,
                        const char *hub)
{
	char uid[24] = "-", gid[24] = "-", pid[24] = "-", exe[ACCESS_EXE_MAX] = "-";

	if (p->is_unix) {
		char path[64];
		ssize_t n;
		snprintf(uid, sizeof uid, "%lu", (unsigned long)p->uid);
		snprintf(gid, sizeof gid, "%lu", (unsigned long)p->gid);
		snprintf(pid, sizeof pid, "%ld", (long)p->pid);
		snprintf(path, sizeof path, "/proc/%ld/exe", (long)p->pid);
		if ((n = readlink(path, exe, sizeof exe - 1)) < 0)
			snprintf(exe, sizeof exe, "?");
		else
			exe[n] = '\0';
	}
	log_kv(WLOG_WARN, why, "request_id", api_ctx_request_id(c), "peer", p->is_unix ? "unix" : "tcp",
	       "uid", uid, "gid", gid, "pid", pid, "exe", exe, "method", api_ctx_method(c), "op",
	       op ? op : "-", "hub", hub ? hub : "-", NULL);
}

static int check_access(const struct api_ctx *c, int cls, const char *hub, void *arg)
{
	struct admit *ad = arg;
	const struct admit_req *ar = api_ctx_data(c);
	struct access_peer tcp;

	if (ar == NULL) {
		access_peer_tcp(&tcp);
		return access_allow(&ad->cfg->access, &tcp, (enum ops_class)cls, hub, ad->socket_gid);
	}
	if (access_allow(&ad->cfg->access, &ar->peer, (enum ops_class)cls, hub, ad->socket_gid))
		return 1;
	metrics_refused(MR_ACCESS);
	log_refusal(c, &ar->peer, "access denied", ops_class_name((enum ops_class)cls), hub);
	return 0;
}

static void audit(const struct api_ctx *c, const struct ops_req *r, int status, const void *body, size_t len,
                  void *arg)
{
	const struct admit_req *ar = api_ctx_data(c);
	struct access_peer tcp;

	(void)arg;
	if (!log_enabled(WLOG_INFO))
		return; /* the audit line is info: no body digest, no /proc lookup for nothing */
	if (ar == NULL)
		access_peer_tcp(&tcp);
	access_audit_log(ar != NULL ? &ar->peer : &tcp, api_ctx_request_id(c), status, r->op->label, r->hub,
	                 r->group  ? r->group
	                 : r->user ? r->user
	                           : r->connection,
	                 body, len);
}

/* The class a local endpoint needs, or -1 when it is open to every peer that can connect. */
static int local_class(const struct api_ctx *c)
{
	const char *route = api_ctx_route(c);

	if (route == NULL || strcmp(route, "/healthz") == 0 || strcmp(route, "/readyz") == 0 ||
	    strcmp(route, "/$batch") == 0) /* $batch: each sub-request is checked */
		return -1;
	if (strcmp(api_ctx_method(c), "GET") == 0 || strcmp(api_ctx_method(c), "HEAD") == 0)
		return OPC_READ;
	return OPC_SEND;
}

static int on_admit(struct api_ctx *c, void *arg)
{
	struct admit *ad = arg;
	const struct ops_req *r = api_ctx_op(c);
	const struct api_peer *ap = api_ctx_peer(c);
	const char *route = api_ctx_route(c);
	struct admit_req *ar = calloc(1, sizeof *ar);
	unsigned retry_after = 1;
	int cls;

	if (ar == NULL) {
		api_reply_error(c, 503, "ServerBusy", "out of memory");
		return -1;
	}
	ar->ad = ad;
	api_ctx_set_data(c, ar, req_free);
	if (ap->is_unix) {
		int fd = conn_fd(c);
		if (fd < 0 || access_peer_from_fd(fd, &ar->peer) < 0) {
			ar->peer.is_unix =
			        1; /* credentials unknown: nothing but root rules can match nobody */
			ar->peer.uid = (uid_t)-1;
			ar->peer.gid = (gid_t)-1;
		}
		ar->key = ratelimit_key_uid(ar->peer.uid);
	} else {
		struct guard_err e;
		access_peer_tcp(&ar->peer);
		ar->key = RATELIMIT_KEY_TCP;
		if (guard_check(&ad->cfg->guard, api_ctx_header(c, "Host"), api_ctx_header(c, "Origin"),
		                api_ctx_header(c, "Sec-Fetch-Site"), local_port(c), &e) < 0) {
			metrics_refused(MR_GUARD);
			log_refusal(c, &ar->peer, "refused by the TCP guard", e.code, NULL);
			api_reply_error(c, e.status, e.code, "%s", e.message);
			return -1;
		}
	}
	cls = r != NULL ? (int)r->op->cls : local_class(c);
	if (cls >= 0 && !access_allow(&ad->cfg->access, &ar->peer, (enum ops_class)cls, r ? r->hub : NULL,
	                              ad->socket_gid)) {
		metrics_refused(MR_ACCESS);
		log_refusal(c, &ar->peer, "access denied", r ? r->op->label : route, r ? r->hub : NULL);
		api_reply_error(c, 403, "AccessDenied", "this peer may not use %s%s%s",
		                r ? r->op->name : "this endpoint", r && r->hub ? " on hub " : "",
		                r && r->hub ? r->hub : "");
		return -1;
	}
	if (route != NULL && (strcmp(route, "/healthz") == 0 || strcmp(route, "/readyz") == 0))
		return 0; /* probes are never limited */
	switch (ratelimit_acquire(ad->rl, ar->key, loop_now_ms(), &retry_after)) {
	case RL_ALLOW: ar->limited = 1; return 0;
	case RL_RATE: {
		char ra[16];
		metrics_refused(MR_RATE);
		snprintf(ra, sizeof ra, "%u", retry_after);
		api_reply_error(c, 429, "TooManyRequests",
		                "request rate limit of this peer reached (ratelimit.rate)");
		api_reply_header(c, "Retry-After", ra);
		return -1;
	}
	case RL_INFLIGHT:
		metrics_refused(MR_INFLIGHT);
		api_reply_error(c, 429, "TooManyRequests",
		                "too many requests of this peer in flight (ratelimit.max_inflight_per_peer)");
		api_reply_header(c, "Retry-After", "1");
		return -1;
	case RL_FULL:
	default:
		metrics_refused(MR_OVERLOAD);
		api_reply_error(c, 503, "ServerBusy",
		                "too many peers with requests in flight (ratelimit.max_peers)");
		api_reply_header(c, "Retry-After", "1");
		return -1;
	}
}

/* Completion: the audit line of a mutating operation that was admitted. */
static void on_done(const struct api_ctx *c, void *arg)
{
	const struct ops_req *r = api_ctx_op(c);
	const struct admit_req *ar = api_ctx_data(c);
	const char *body;
	size_t len;

	(void)arg;
	if (r == NULL || ar == NULL || !r->op->mutating || !ar->limited || !log_enabled(WLOG_INFO))
		return; /* the audit line is info: no body digest, no /proc lookup for nothing */
	body = api_ctx_body(c, &len);
	access_audit_log(&ar->peer, api_ctx_request_id(c), api_ctx_status(c), r->op->label, r->hub,
	                 r->group  ? r->group
	                 : r->user ? r->user
	                           : r->connection,
	                 body, len);
}

int admit_install(struct admit *ad, struct api *a)
{
	if (api_on_admit(a, on_admit, ad) < 0 || api_on_done(a, on_done, ad) < 0)
		return -1;
	api_set_access(a, check_access, audit, ad);
	return 0;
}
