/* httpd.c: drive libmicrohttpd daemons from the loop (their epoll fd, MHD_run, MHD_get_timeout). */
#include <config.h>
#include "httpd.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "listen.h"
#include "log.h"
#include "loop.h"

struct httpd {
	struct loop *loop;
	struct MHD_Daemon *d;
	struct loop_io *io;
	int quiesced;
	char name[160];
};

/* The url and the query arguments reach the handler still percent-encoded: ops decodes them. */
static size_t no_unescape(void *cls, struct MHD_Connection *c, char *s)
{
	(void)cls;
	(void)c;
	return strlen(s);
}

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
	struct httpd *h = cls;
	char msg[512];
	size_t n;

	vsnprintf(msg, sizeof msg, fmt, ap);
	n = strlen(msg);
	while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	log_kv(WLOG_WARN, "libmicrohttpd", "listener", h->name, "error", msg, NULL);
}

static void on_readable(int fd, unsigned events, void *arg)
{
	struct httpd *h = arg;

	(void)fd;
	(void)events;
	MHD_run(h->d);
}

/* Before the loop sleeps: MHD may hold connections with data already read (timeout 0). */
static long prepare(void *arg)
{
	struct httpd *h = arg;
	MHD_UNSIGNED_LONG_LONG t;

	if (MHD_get_timeout(h->d, &t) != MHD_YES)
		return -1;
	if (t == 0) {
		MHD_run(h->d);
		if (MHD_get_timeout(h->d, &t) != MHD_YES)
			return -1;
	}
	return t > 86400000ULL ? 86400000L : (long)t;
}

struct httpd *httpd_start(struct loop *l, const struct listen_sock *ls, const struct httpd_opts *o, char *err,
                          size_t errlen)
{
	struct httpd *h = calloc(1, sizeof *h);
	const union MHD_DaemonInfo *info;

	if (h == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	h->loop = l;
	snprintf(h->name, sizeof h->name, "%s", ls->name);
	h->d = MHD_start_daemon(
	        MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG, 0, NULL, NULL, o->handler,
	        o->handler_cls, MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, h, MHD_OPTION_LISTEN_SOCKET,
	        (MHD_socket)ls->fd, MHD_OPTION_UNESCAPE_CALLBACK, no_unescape, NULL,
	        MHD_OPTION_CONNECTION_LIMIT, o->conn_limit, MHD_OPTION_CONNECTION_TIMEOUT, o->idle_timeout_s,
	        MHD_OPTION_CONNECTION_MEMORY_LIMIT, o->mem_limit, MHD_OPTION_NOTIFY_COMPLETED, o->completed,
	        o->completed_cls, MHD_OPTION_URI_LOG_CALLBACK, o->uri_log, o->uri_log_cls,
	        MHD_OPTION_NOTIFY_CONNECTION, o->notify_conn, o->notify_conn_cls, MHD_OPTION_END);
	if (h->d == NULL) {
		snprintf(err, errlen, "%s: cannot start libmicrohttpd", ls->name);
		goto bad;
	}
	info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_EPOLL_FD);
	if (info == NULL || info->epoll_fd < 0) {
		snprintf(err, errlen, "%s: libmicrohttpd has no epoll fd", ls->name);
		goto bad;
	}
	if ((h->io = loop_io_add(l, info->epoll_fd, LOOP_READ, on_readable, h)) == NULL ||
	    loop_add_prepare(l, prepare, h) < 0) {
		snprintf(err, errlen, "%s: cannot watch the daemon", ls->name);
		goto bad;
	}
	return h;
bad:
	httpd_free(h);
	return NULL;
}

void httpd_quiesce(struct httpd *h)
{
	if (h == NULL || h->d == NULL || h->quiesced)
		return;
	(void)MHD_quiesce_daemon(h->d); /* the listening fd is ours again; MHD will not close it */
	h->quiesced = 1;
}

void httpd_free(struct httpd *h)
{
	if (h == NULL)
		return;
	loop_remove_prepare(h->loop, prepare, h);
	loop_io_free(h->io);
	if (h->d != NULL) {
		httpd_quiesce(h);
		MHD_stop_daemon(h->d);
	}
	free(h);
}

void httpd_run(struct httpd *h)
{
	MHD_run(h->d);
}

unsigned httpd_connections(struct httpd *h)
{
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);

	return info ? info->num_connections : 0;
}

const char *httpd_name(const struct httpd *h)
{
	return h->name;
}
