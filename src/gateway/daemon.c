/* daemon.c: start-up order (config, credentials, loop, upstream, api, listeners), SIGHUP, SIGTERM drain. */
#include <config.h>
#include "daemon.h"

#include <curl/curl.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admit.h"
#include "api.h"
#include "batch_api.h"
#include "cfg.h"
#include "cred.h"
#include "monitor.h"
#include "httpd.h"
#include "listen.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "outbox.h"
#include "dispatch.h"
#include "events.h"
#include "sdnotify.h"
#include "arrival.h"
#include "outbox_api.h"
#include "upstream.h"

#ifndef WPSGATE_VERSION
#define WPSGATE_VERSION "0"
#endif

#define DAEMON_FLUSH_MS 1000 /* after the grace period: time to send the 503s */

struct daemon {
	const char *config_path;
	int verbose;
	struct cfg *cfg;
	struct loop *loop;
	/* per upstream, cfg->upstreams[i]: its credential, pool and retry driver */
	struct cred *creds[CFG_UPSTREAMS_MAX];
	struct up *ups[CFG_UPSTREAMS_MAX];
	struct dispatch *dispatches[CFG_UPSTREAMS_MAX];
	size_t nups;
	struct api *api;
	struct api *mapi;              /* the metrics-only listener's, or NULL */
	struct outbox_api *outbox_api; /* NULL: no outbox configured */
	struct batch_api *batch_api;
	struct admit *admit;
	struct monitor *monitor;
	struct arrival *arrival; /* request arrival deadlines (limits.request_timeout_s) */
	struct events *events;   /* the events listener's state, or NULL */
	struct listen_set ls;
	struct httpd *httpd[LISTEN_MAX];
	size_t nhttpd;
	struct loop_timer *watchdog;
	uint64_t watchdog_ms;
	int stopping;
};

/* Every upstream's credential into creds[0..cfg->nupstreams). 0, or -1 with err (none left loaded). */
static int load_creds(const struct cfg *cfg, struct cred **creds, char *err, size_t errlen)
{
	size_t i;

	for (i = 0; i < cfg->nupstreams; i++)
		if (cred_load_upstream(cfg, i, &creds[i], err, errlen) < 0) {
			while (i > 0)
				cred_free(creds[--i]), creds[i] = NULL;
			return -1;
		}
	return 0;
}

static void free_creds(struct cred **creds, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		cred_free(creds[i]);
		creds[i] = NULL;
	}
}

int daemon_check(const char *config_path, char *err, size_t errlen)
{
	struct cfg *cfg = NULL;
	struct cred *creds[CFG_UPSTREAMS_MAX] = { NULL };

	if (cfg_load(config_path, &cfg, err, errlen) < 0)
		return -1;
	if (load_creds(cfg, creds, err, errlen) < 0) {
		cfg_free(cfg);
		return -1;
	}
	free_creds(creds, cfg->nupstreams);
	cfg_free(cfg);
	return 0;
}

/* 1 when b has the same upstreams as a, by name and in order (a reload may change their settings). */
static int same_upstreams(const struct cfg *a, const struct cfg *b)
{
	size_t i;

	if (a->nupstreams != b->nupstreams)
		return 0;
	for (i = 0; i < a->nupstreams; i++)
		if (strcmp(a->upstreams[i].name, b->upstreams[i].name) != 0)
			return 0;
	return 1;
}

static void no_core_dumps(void)
{
	struct rlimit rl = { 0, 0 };

	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		log_warn("prctl(PR_SET_DUMPABLE): %s", strerror(errno));
	if (setrlimit(RLIMIT_CORE, &rl) < 0)
		log_warn("setrlimit(RLIMIT_CORE): %s", strerror(errno));
}

static void apply_log(const struct daemon *d, const struct cfg *c)
{
	log_set_level(d->verbose ? WLOG_DEBUG : c->log_level);
	log_set_format(c->log_format);
}

static void restart_needed(const char *key, void *arg)
{
	(void)arg;
	log_kv(WLOG_WARN, "reload: this key changed but takes effect only after a restart", "key", key, NULL);
}

static void reload(struct daemon *d)
{
	struct cfg *cfg = NULL;
	struct cred *creds[CFG_UPSTREAMS_MAX] = { NULL };
	char err[512], mono[64];
	size_t i;

	snprintf(mono, sizeof mono, "RELOADING=1\nMONOTONIC_USEC=%llu",
	         (unsigned long long)loop_now_ms() * 1000ULL);
	sdn_notify(mono);
	if (cfg_load(d->config_path, &cfg, err, sizeof err) < 0) {
		log_kv(WLOG_ERR, "reload refused, keeping the running configuration", "error", err, NULL);
		metrics_reload(0);
		sdn_notify("READY=1");
		return;
	}
	if (!same_upstreams(d->cfg, cfg)) {
		log_kv(WLOG_ERR, "reload refused, keeping the running configuration", "error",
		       "adding, removing or renaming upstreams takes a restart", NULL);
		metrics_reload(0);
		cfg_free(cfg);
		sdn_notify("READY=1");
		return;
	}
	if (load_creds(cfg, creds, err, sizeof err) < 0) {
		log_kv(WLOG_ERR, "reload refused, keeping the running configuration", "error", err, NULL);
		metrics_reload(0);
		metrics_credential_error();
		cfg_free(cfg);
		sdn_notify("READY=1");
		return;
	}
	cfg_restart_keys(d->cfg, cfg, restart_needed, NULL);
	for (i = 0; i < d->nups; i++) {
		up_configure(d->ups[i], &cfg->upstreams[i], creds[i]);
		dispatch_configure(d->dispatches[i], &cfg->retry);
	}
	api_configure(d->api, cfg, creds[0]);
	if (d->mapi != NULL)
		api_configure(d->mapi, cfg, creds[0]);
	for (i = 0; i < d->nups; i++) {
		api_set_upstream(d->api, i, d->ups[i], creds[i], d->dispatches[i]);
		if (d->mapi != NULL)
			api_set_upstream(d->mapi, i, d->ups[i], creds[i], NULL);
	}
	if (d->events != NULL)
		events_configure(d->events, cfg, creds[0]);
	arrival_set_timeout(d->arrival, (unsigned long)cfg->request_timeout_s * 1000);
	if (d->outbox_api != NULL)
		outbox_api_configure(d->outbox_api, cfg);
	batch_api_configure(d->batch_api, cfg);
	admit_configure(d->admit, cfg);
	monitor_set_cred(d->monitor, creds[0]);
	metrics_init(WPSGATE_VERSION, cfg->upstreams[0].api_version, 1);
	metrics_reload(1);
	apply_log(d, cfg);
	free_creds(d->creds, d->nups);
	for (i = 0; i < d->nups; i++)
		d->creds[i] = creds[i];
	cfg_free(d->cfg);
	d->cfg = cfg;
	log_kv(WLOG_INFO, "reloaded", "config", d->config_path, "endpoint", creds[0]->endpoint, "upstreams",
	       cfg->upstreams[0].name, NULL);
	sdn_notify("READY=1");
}

static void on_signal(int signo, void *arg)
{
	struct daemon *d = arg;

	if (signo == SIGHUP) {
		if (!d->stopping)
			reload(d);
		return;
	}
	if (!d->stopping) {
		log_info("received %s, shutting down", signo == SIGINT ? "SIGINT" : "SIGTERM");
		d->stopping = 1;
		loop_stop(d->loop);
	}
}

static void on_watchdog(void *arg)
{
	struct daemon *d = arg;

	sdn_notify("WATCHDOG=1");
	loop_timer_start(d->watchdog, d->watchdog_ms);
}

/* The events listener's sockets, named "events:ADDRESS", after the API's. */
static int open_events(struct daemon *d, char *err, size_t errlen)
{
	const struct events_cfg *ec = &d->cfg->events;
	size_t i;

	for (i = 0; i < ec->nlisten; i++) {
		struct listen_sock *s;
		const char *a = ec->listen[i];
		int fd;

		if (d->ls.n == LISTEN_MAX) {
			snprintf(err, errlen, "events.listen: too many listeners");
			return -1;
		}
		if (strncmp(a, "unix:", 5) == 0)
			fd = listen_unix(a + 5, 0660, 0, 0, err, errlen);
		else
			fd = listen_tcp(a, ec->allow_non_loopback, err, errlen);
		if (fd < 0)
			return -1;
		s = &d->ls.v[d->ls.n++];
		memset(s, 0, sizeof *s);
		s->fd = fd;
		s->is_unix = strncmp(a, "unix:", 5) == 0;
		if (s->is_unix && (s->unlink_path = strdup(a + 5)) == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		snprintf(s->name, sizeof s->name, "events:%s", a);
		if (!s->is_unix) {
			struct sockaddr_storage ss;
			socklen_t sl;
			char why[128];
			int loopback = 1;
			(void)listen_parse_tcp(a, 1, &ss, &sl, &loopback, why, sizeof why);
			if (!loopback)
				log_warn("events.listen %s is not a loopback address: put it behind TLS (the "
				         "signature "
				         "proves less than it seems, wpsgated(8), EVENTS)",
				         a);
		}
	}
	return 0;
}

static int start_listeners(struct daemon *d, char *err, size_t errlen)
{
	struct httpd_opts o;
	size_t i;

	if (listen_open_all(d->cfg, &d->ls, err, errlen) < 0)
		return -1;
	memset(&o, 0, sizeof o);
	o.conn_limit = (unsigned)d->cfg->max_connections;
	o.idle_timeout_s = (unsigned)d->cfg->idle_timeout_s;
	o.mem_limit = (size_t)d->cfg->max_header_bytes + 16384;
	o.handler = api_handler;
	o.handler_cls = d->api;
	o.completed = api_completed;
	o.completed_cls = d->api;
	o.uri_log = api_uri_check;
	o.notify_conn = arrival_notify;
	o.notify_conn_cls = d->arrival;
	if (d->cfg->metrics.listen_set) {
		struct listen_sock *m;
		int fd;
		if (d->ls.n == LISTEN_MAX) {
			snprintf(err, errlen, "metrics.listen: too many listeners");
			return -1;
		}
		if ((fd = listen_tcp(d->cfg->metrics.listen, 1, err, errlen)) < 0)
			return -1;
		m = &d->ls.v[d->ls.n++];
		memset(m, 0, sizeof *m);
		m->fd = fd;
		snprintf(m->name, sizeof m->name, "metrics:%s", d->cfg->metrics.listen);
		if (!d->cfg->metrics.loopback)
			log_warn("metrics.listen %s is not a loopback address: anyone who can reach it sees "
			         "the metrics",
			         d->cfg->metrics.listen);
	}
	if (d->events != NULL && open_events(d, err, errlen) < 0)
		return -1;
	for (i = 0; i < d->ls.n; i++) {
		char where[160];
		int metrics_only = strncmp(d->ls.v[i].name, "metrics:", 8) == 0;
		struct httpd_opts eo;
		const struct httpd_opts *lo = &o;

		o.handler_cls = o.completed_cls = metrics_only ? (void *)d->mapi : (void *)d->api;
		if (strncmp(d->ls.v[i].name, "events:", 7) == 0) {
			memset(&eo, 0, sizeof eo);
			eo.conn_limit = (unsigned)d->cfg->events.max_connections;
			eo.idle_timeout_s = (unsigned)d->cfg->idle_timeout_s;
			eo.mem_limit = o.mem_limit + EVENTS_HEADER_MAX;
			eo.handler = events_handler;
			eo.completed = events_completed;
			eo.handler_cls = eo.completed_cls = d->events;
			lo = &eo;
		}
		if ((d->httpd[d->nhttpd] = httpd_start(d->loop, &d->ls.v[i], lo, err, errlen)) == NULL)
			return -1;
		d->nhttpd++;
		listen_describe(d->ls.v[i].fd, where, sizeof where);
		log_kv(WLOG_INFO, "listening", "listener", d->ls.v[i].name, "address", where, NULL);
	}
	return 0;
}

/* SIGTERM: stop accepting, let requests in flight finish within the grace period, 503 the rest. */
static void drain(struct daemon *d)
{
	uint64_t until = loop_now_ms() + (uint64_t)d->cfg->shutdown_grace_ms;
	size_t i;

	sdn_notify("STOPPING=1");
	for (i = 0; i < d->nhttpd; i++)
		httpd_quiesce(d->httpd[i]);
	api_set_draining(d->api, 1);
	if (d->mapi != NULL)
		api_set_draining(d->mapi, 1);
	if (d->events != NULL)
		events_set_draining(d->events, 1);
	monitor_set_draining(d->monitor, 1);
	if (d->outbox_api != NULL)
		outbox_api_stop_delivery(d->outbox_api);
	while ((api_inflight(d->api) > 0 || events_inflight(d->events) > 0 ||
	        (d->outbox_api != NULL && outbox_api_inflight(d->outbox_api) > 0)) &&
	       loop_now_ms() < until)
		if (loop_once(d->loop, 100) < 0)
			break;
	if (d->outbox_api != NULL) {
		if (outbox_api_inflight(d->outbox_api) > 0)
			log_warn("shutdown: %u outbox deliveries still in flight; their rows are sent again "
			         "after a restart",
			         outbox_api_inflight(d->outbox_api));
		outbox_api_close(
		        d->outbox_api); /* commits what is queued; rows in flight go back to the queue */
	}
	if (api_inflight(d->api) > 0 || events_inflight(d->events) > 0) {
		log_warn("shutdown: answering %u request(s) and %u event call(s) still in flight with 503",
		         api_inflight(d->api), events_inflight(d->events));
		api_abort_all(d->api, 503, "ShuttingDown", "the gateway is shutting down");
		if (d->events != NULL)
			events_abort_all(d->events);
		until = loop_now_ms() + DAEMON_FLUSH_MS;
		while (loop_now_ms() < until)
			if (loop_once(d->loop, 50) < 0)
				break;
	} else {
		/* let the last answers leave, and posted outbox callbacks run */
		for (i = 0; i < 5; i++)
			loop_once(d->loop, 0);
	}
}

static void teardown(struct daemon *d)
{
	size_t i;

	for (i = d->nhttpd; i > 0; i--)
		httpd_free(d->httpd[i - 1]);
	d->nhttpd = 0;
	arrival_free(d->arrival);
	events_free(d->events);
	listen_close_all(&d->ls);
	loop_timer_free(d->watchdog);
	outbox_api_free(d->outbox_api);
	for (i = 0; d->loop != NULL && i < 5; i++) /* callbacks the outbox posted while closing */
		loop_once(d->loop, 0);
	batch_api_free(d->batch_api);
	api_free(d->mapi);
	api_free(d->api);
	admit_free(d->admit);
	monitor_free(d->monitor);
	for (i = d->nups; i > 0; i--) {
		dispatch_free(d->dispatches[i - 1]);
		up_free(d->ups[i - 1]);
	}
	loop_free(d->loop);
	if (d->cfg != NULL)
		free_creds(d->creds, d->cfg->nupstreams);
	cfg_free(d->cfg);
	curl_global_cleanup();
}

/* The breaker let attempts through again: rows that waited for it need not wait for their timers. */
static void on_breaker(enum retry_breaker_state from, enum retry_breaker_state to, void *arg)
{
	struct daemon *d = arg;

	(void)from;
	if (to != RETRY_BREAKER_OPEN)
		outbox_api_kick(d->outbox_api);
}

/* The group the default access rule grants: listen.unix.group, else the socket file's, else ours. */
static gid_t socket_gid(const struct cfg *c)
{
	struct stat st;

	if (c->unix_group_set)
		return c->unix_gid;
	if (c->unix_path != NULL && stat(c->unix_path, &st) == 0)
		return st.st_gid;
	return getegid();
}

/* `user`: switch to it once the sockets are open and the key is read. */
static int switch_user(const struct cfg *c, char *err, size_t errlen)
{
	if (c->user == NULL)
		return 0;
	if (geteuid() != 0) {
		if (geteuid() != c->user_uid)
			log_warn("user = %s: not started as root, staying uid %u", c->user,
			         (unsigned)geteuid());
		return 0;
	}
	if (initgroups(c->user, c->user_gid) < 0 || setgid(c->user_gid) < 0 || setuid(c->user_uid) < 0) {
		snprintf(err, errlen, "user: cannot switch to %s: %s", c->user, strerror(errno));
		return -1;
	}
	if (setuid(0) == 0) {
		snprintf(err, errlen, "user: the switch to %s can be undone", c->user);
		return -1;
	}
	no_core_dumps(); /* changing credentials reset the dumpable flag */
	log_kv(WLOG_INFO, "switched user", "user", c->user, NULL);
	return 0;
}

int daemon_run(const char *config_path, int verbose)
{
	struct daemon d;
	char err[512];
	int rc = 1;

	memset(&d, 0, sizeof d);
	d.config_path = config_path;
	d.verbose = verbose;
	no_core_dumps();
	if (cfg_load(config_path, &d.cfg, err, sizeof err) < 0) {
		log_kv(WLOG_ERR, "configuration error", "error", err, NULL);
		return 1;
	}
	apply_log(&d, d.cfg);
	if (load_creds(d.cfg, d.creds, err, sizeof err) < 0) {
		log_kv(WLOG_ERR, "credential error", "error", err, NULL);
		cfg_free(d.cfg);
		return 1;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_err("curl_global_init failed");
		free_creds(d.creds, d.cfg->nupstreams);
		cfg_free(d.cfg);
		return 1;
	}
	metrics_init(WPSGATE_VERSION, d.cfg->upstreams[0].api_version, 0);
	if (d.cfg->nupstreams > 1)
		log_warn("%zu upstreams: the metrics carry no upstream label yet (wpsgate_circuit_breaker_state "
		         "shows the breaker that changed last), the outbox, the events listener and /readyz "
		         "serve the first one only; see wpsgate.conf(5), UPSTREAMS",
		         d.cfg->nupstreams);
	if ((d.loop = loop_new()) == NULL ||
	    (d.arrival = arrival_new(d.loop, (unsigned long)d.cfg->request_timeout_s * 1000)) == NULL) {
		log_err("start-up failed: out of memory");
		goto out;
	}
	for (d.nups = 0; d.nups < d.cfg->nupstreams; d.nups++) {
		size_t i = d.nups;
		if ((d.ups[i] = up_new(d.loop, &d.cfg->upstreams[i], d.creds[i])) == NULL ||
		    (d.dispatches[i] = dispatch_new(d.loop, d.ups[i], &d.cfg->retry, on_breaker, &d)) == NULL) {
			up_free(d.ups[i]);
			log_err("start-up failed: out of memory");
			goto out;
		}
	}
	if ((d.api = api_new(d.loop, d.ups[0], d.cfg, d.creds[0])) == NULL ||
	    (d.cfg->metrics.listen_set && (d.mapi = api_new(d.loop, d.ups[0], d.cfg, d.creds[0])) == NULL) ||
	    (d.cfg->events.nlisten > 0 &&
	     (d.events = events_new(d.loop, d.ups[0], d.cfg, d.creds[0])) == NULL)) {
		log_err("start-up failed: out of memory");
		goto out;
	}
	for (size_t i = 0; i < d.nups; i++) {
		api_set_upstream(d.api, i, d.ups[i], d.creds[i], d.dispatches[i]);
		if (d.mapi != NULL)
			api_set_upstream(d.mapi, i, d.ups[i], d.creds[i], NULL);
	}
	if (d.mapi != NULL)
		api_set_local_only(d.mapi, 1);
	loop_on_signal(d.loop, on_signal, &d);
	if (start_listeners(&d, err, sizeof err) < 0) {
		log_kv(WLOG_ERR, "cannot listen", "error", err, NULL);
		goto out;
	}
	if ((d.admit = admit_new(d.cfg, socket_gid(d.cfg))) == NULL) {
		log_err("start-up failed: out of memory");
		goto out;
	}
	if (switch_user(d.cfg, err, sizeof err) < 0) {
		log_kv(WLOG_ERR, "cannot switch user", "error", err, NULL);
		goto out;
	}
	/* the outbox is opened as the user the daemon runs as from now on */
	if (d.cfg->outbox.path != NULL &&
	    (d.outbox_api = outbox_api_new(d.loop, d.api, d.dispatches[0], d.cfg, err, sizeof err)) == NULL) {
		log_kv(WLOG_ERR, "cannot open the outbox", "error", err, NULL);
		goto out;
	}
	if ((d.batch_api = batch_api_new(d.api, d.dispatches[0], d.outbox_api, d.cfg)) == NULL ||
	    (d.monitor = monitor_new(d.dispatches[0], d.outbox_api, d.creds[0])) == NULL ||
	    (monitor_set_upstream(d.monitor, d.ups[0]), 0) ||
	    monitor_install(d.monitor, d.api, d.cfg->metrics.on_api) < 0 ||
	    (d.mapi != NULL && monitor_install(d.monitor, d.mapi, 1) < 0) ||
	    admit_install(d.admit, d.api) < 0) {
		log_err("start-up failed: out of memory");
		goto out;
	}
	if ((d.watchdog_ms = sdn_watchdog_usec() / 2000) > 0) {
		if ((d.watchdog = loop_timer_new(d.loop, on_watchdog, &d)) == NULL)
			goto out;
		loop_timer_start(d.watchdog, d.watchdog_ms);
	}
	if (geteuid() == 0)
		log_warn("running as root; set `user` (or use the systemd unit's user) to drop privileges");
	for (size_t i = 0; i < d.nups; i++)
		log_kv(WLOG_INFO, "upstream", "upstream", d.cfg->upstreams[i].name, "endpoint",
		       d.creds[i]->endpoint, "api_version", d.cfg->upstreams[i].api_version, NULL);
	log_kv(WLOG_INFO, "started", "version", WPSGATE_VERSION, "endpoint", d.creds[0]->endpoint,
	       "api_version", d.cfg->upstreams[0].api_version, "outbox", d.cfg->outbox.path ? d.cfg->outbox.path : "-", NULL);
	sdn_notify("READY=1");
	if (loop_run(d.loop) < 0)
		goto out;
	drain(&d);
	log_info("stopped");
	rc = 0;
out:
	teardown(&d);
	return rc;
}
