/* httpd.h: one libmicrohttpd daemon per listening socket, in external epoll mode on the event loop. */
#ifndef WPS_GW_HTTPD_H
#define WPS_GW_HTTPD_H

#include <microhttpd.h>
#include <stddef.h>

struct loop;
struct listen_sock;

struct httpd_opts {
	unsigned conn_limit;     /* limits.max_connections */
	unsigned idle_timeout_s; /* limits.idle_timeout_s */
	size_t mem_limit;        /* per-connection memory pool (bounds the header size) */
	MHD_AccessHandlerCallback handler;
	void *handler_cls;
	MHD_RequestCompletedCallback completed;
	void *completed_cls;
	/* MHD_OPTION_URI_LOG_CALLBACK: sees the request target before libmicrohttpd splits the query */
	void *(*uri_log)(void *cls, const char *uri, struct MHD_Connection *conn);
	void *uri_log_cls;
	MHD_NotifyConnectionCallback notify_conn; /* connection start and close (arrival.c) */
	void *notify_conn_cls;
};

struct httpd;

/* Start a daemon on ls->fd (borrowed: it stays the caller's to close, see httpd_free). NULL with err. */
struct httpd *httpd_start(struct loop *l, const struct listen_sock *ls, const struct httpd_opts *o, char *err,
                          size_t errlen);
/* Stop accepting connections (MHD_quiesce_daemon); existing ones continue. Idempotent. */
void httpd_quiesce(struct httpd *h);
/* Quiesce, then stop the daemon and close its connections; the listening fd is left open. Accepts NULL. */
void httpd_free(struct httpd *h);
/* Let MHD process what is pending now (after MHD_resume_connection). */
void httpd_run(struct httpd *h);
unsigned httpd_connections(struct httpd *h);
const char *httpd_name(const struct httpd *h); /* the listener's name, borrowed */

#endif
