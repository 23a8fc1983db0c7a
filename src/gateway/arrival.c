/* arrival.c: per-connection deadlines for requests to arrive whole; a sweep shuts down the late ones. */
#include <config.h>
#include "arrival.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "log.h"
#include "loop.h"

#define ARRIVAL_SWEEP_MS_MAX 1000 /* a late connection is shut down at most this much after its deadline */

struct arrival_conn {
	struct arrival *s;
	struct arrival_conn *prev, *next;
	int fd;
	uint64_t deadline_ms; /* 0: none (a whole request is being handled) */
};

struct arrival {
	struct loop *loop;
	struct loop_timer *sweep;
	struct arrival_conn *head;
	unsigned long timeout_ms;
	unsigned long long closed;
};

static unsigned long sweep_interval(const struct arrival *s)
{
	unsigned long t = s->timeout_ms / 2;

	return t == 0 ? 1 : t > ARRIVAL_SWEEP_MS_MAX ? ARRIVAL_SWEEP_MS_MAX : t;
}

static void on_sweep(void *arg)
{
	struct arrival *s = arg;
	uint64_t now = loop_now_ms();
	struct arrival_conn *sc;

	for (sc = s->head; sc != NULL; sc = sc->next) {
		if (sc->deadline_ms == 0 || sc->deadline_ms > now)
			continue;
		/* libmicrohttpd sees the end of the stream at once and closes the connection */
		shutdown(sc->fd, SHUT_RDWR);
		sc->deadline_ms = 0;
		s->closed++;
		log_debug("slow sender: connection fd %d shut down after %lu ms without a whole request",
		          sc->fd, s->timeout_ms);
	}
	if (s->head != NULL && s->timeout_ms > 0)
		loop_timer_start(s->sweep, sweep_interval(s));
}

struct arrival *arrival_new(struct loop *l, unsigned long timeout_ms)
{
	struct arrival *s = calloc(1, sizeof *s);

	if (s == NULL)
		return NULL;
	s->loop = l;
	s->timeout_ms = timeout_ms;
	if ((s->sweep = loop_timer_new(l, on_sweep, s)) == NULL) {
		free(s);
		return NULL;
	}
	return s;
}

void arrival_free(struct arrival *s)
{
	struct arrival_conn *sc, *next;

	if (s == NULL)
		return;
	for (sc = s->head; sc != NULL; sc = next) { /* only if libmicrohttpd did not say CLOSED */
		next = sc->next;
		sc->s = NULL;
		sc->prev = sc->next = NULL;
	}
	loop_timer_free(s->sweep);
	free(s);
}

void arrival_set_timeout(struct arrival *s, unsigned long timeout_ms)
{
	s->timeout_ms = timeout_ms;
	if (timeout_ms == 0)
		loop_timer_stop(s->sweep);
	else if (s->head != NULL)
		loop_timer_start(s->sweep, sweep_interval(s));
}

unsigned long long arrival_closed_total(const struct arrival *s)
{
	return s->closed;
}

static void arm(struct arrival_conn *sc)
{
	struct arrival *s = sc->s;

	if (s == NULL || s->timeout_ms == 0) {
		sc->deadline_ms = 0;
		return;
	}
	sc->deadline_ms = loop_now_ms() + s->timeout_ms;
	if (!loop_timer_active(s->sweep))
		loop_timer_start(s->sweep, sweep_interval(s));
}

void arrival_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                    enum MHD_ConnectionNotificationCode toe)
{
	struct arrival *s = cls;
	struct arrival_conn *sc = *socket_context;
	const union MHD_ConnectionInfo *ci;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		if (ci == NULL || (sc = calloc(1, sizeof *sc)) == NULL)
			return; /* without a record the connection has only the idle timeout */
		sc->s = s;
		sc->fd = ci->connect_fd;
		sc->next = s->head;
		if (s->head != NULL)
			s->head->prev = sc;
		s->head = sc;
		*socket_context = sc;
		arm(sc);
	} else if (toe == MHD_CONNECTION_NOTIFY_CLOSED && sc != NULL) {
		if (sc->s != NULL) {
			if (sc->prev != NULL)
				sc->prev->next = sc->next;
			else
				sc->s->head = sc->next;
			if (sc->next != NULL)
				sc->next->prev = sc->prev;
		}
		free(sc);
		*socket_context = NULL;
	}
}

static struct arrival_conn *conn_record(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
	        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci != NULL ? ci->socket_context : NULL;
}

void arrival_request_received(struct MHD_Connection *conn)
{
	struct arrival_conn *sc = conn_record(conn);

	if (sc != NULL)
		sc->deadline_ms = 0;
}

void arrival_request_done(struct MHD_Connection *conn)
{
	struct arrival_conn *sc = conn_record(conn);

	if (sc != NULL)
		arm(sc);
}
