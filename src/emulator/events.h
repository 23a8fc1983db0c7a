/* events.h: the emulator's calls to the application's event handlers, as the service makes them
 * (shared/docs/webpubsub-events.md): per hub a URL template, a user event pattern and the system
 * events; the abuse-protection OPTIONS before the first call to a URL; CloudEvents binary mode with
 * ce-signature over the connection id; connect and user events block, connected and disconnected do
 * not. The calls run on a curl multi handle driven by the emulator's epoll loop. */
#ifndef EMU_EVENTS_H
#define EMU_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "hub.h"

#define EVH_HANDLERS_MAX       64            /* --event-handler flags */
#define EVH_DEFAULT_TIMEOUT_MS 10000         /* one call, the handshake included */
#define EVH_DEFAULT_INFLIGHT   256           /* calls in flight at once; more are refused */
#define EVH_RESPONSE_MAX       (1024 * 1024) /* bytes of a handler's answer kept */
#define EVH_STATE_MAX          8192          /* bytes of a ce-connectionState kept */
#define EVH_RETRY_MIN_MS       1000          /* a failed handshake is tried again after this, */
#define EVH_RETRY_MAX_MS       60000         /* doubling up to this */
#define EVH_REVALIDATE_MS      60000         /* a good handshake is trusted this long */
#define EVH_EPOLL_TAG          0x45564831    /* first member of the emulator's curl sockets */

enum evh_kind { EVH_CONNECT, EVH_CONNECTED, EVH_DISCONNECTED, EVH_USER };
#define EVH_SYS_CONNECT      0x1u
#define EVH_SYS_CONNECTED    0x2u
#define EVH_SYS_DISCONNECTED 0x4u

/* One --event-handler: "HUB=URL;user=PATTERN;system=connect,connected,disconnected". */
struct evh_handler {
	char *hub;
	char *tmpl;      /* http(s)://host[:port]/path?query with {hub} and {event} */
	int user_all;    /* user=* */
	char *user_list; /* "a,b" (NULL: none, unless user_all) */
	unsigned sys;    /* EVH_SYS_* */
	/* the abuse-protection handshake */
	int vstate;         /* 0 not done, 1 in flight, 2 passed, 3 failed */
	uint64_t vuntil_ms; /* passed: trusted until; failed: retried after */
	uint64_t vbackoff_ms;
	struct evh_call *waitq; /* calls waiting for the handshake */
};

/* Parse a spec into h (release with evh_handler_clear). 0, or -1 with why. */
int evh_parse_spec(const char *spec, struct evh_handler *h, char *why, size_t whylen);
void evh_handler_clear(struct evh_handler *h);
/* 1 when h takes this event of its hub. */
int evh_handler_wants(const struct evh_handler *h, enum evh_kind kind, const char *event);
/* The template with {hub} and {event} replaced (percent-encoded). New string or NULL. */
char *evh_expand(const char *tmpl, const char *hub, const char *event);

/* One call's request. */
struct evh_req {
	enum evh_kind kind;
	const char *hub;
	const char *event; /* the user event's name; NULL for system events */
	const char *connection;
	const char *user;        /* NULL: none */
	const char *subprotocol; /* NULL: none (never sent on connect) */
	const char *state;       /* ce-connectionState, NULL: none */
	uint64_t ce_id;
	const char *content_type;
	const char *body;
	size_t len;
	/* MQTT clients: ce-physicalConnectionId (also a segment of ce-source), ce-sessionId (not on
	 * connect), and "mqtt-<name>: <value>" header lines from the PUBLISH's user properties */
	const char *physical;
	const char *session;
	const char *const *extra_headers;
	size_t nextra;
};

#define EVH_MQTT_HEADERS_MAX 32 /* mqtt-* headers of an answer kept (user properties for MQTT) */

/* How it ended. status 0: no answer (error says why: the handshake failed, a timeout, ...). */
struct evh_result {
	long status;
	const char *content_type; /* NULL: none */
	const char *body;
	size_t len;
	int state_set;     /* the answer carried ce-connectionState */
	const char *state; /* its value ("" clears) */
	const char *error;
	/* the answer's mqtt-* headers, name (without "mqtt-") and value in turn: nmqtt pairs */
	char *const *mqtt;
	size_t nmqtt;
};
typedef void (*evh_done_fn)(void *arg, const struct evh_result *r);

struct emu;
struct evh;

struct evh *evh_new(struct emu *e, int epfd, long timeout_ms, unsigned max_inflight);
/* Add a handler from a spec. 0, or -1 with why (a second handler for the same hub included). */
int evh_add(struct evh *ev, const char *spec, char *why, size_t whylen);
size_t evh_count(const struct evh *ev);
/* 1 when some handler takes this event of hub. */
int evh_wants(const struct evh *ev, const char *hub, enum evh_kind kind, const char *event);
/* Make the call. done (may be NULL for non-blocking events) is called once, later, from the loop
 * (never from inside evh_call). Returns 0, or -1 when no handler takes it or too many calls are in
 * flight (done not called). */
int evh_call(struct evh *ev, const struct evh_req *rq, evh_done_fn done, void *arg);

/* The loop: curl's sockets carry EVH_EPOLL_TAG; evh_timeout is the milliseconds until curl's
 * timer (-1: none); evh_run after every epoll_wait. */
int evh_is(const void *ptr);
void evh_on_events(void *ptr, uint32_t events);
int evh_timeout(const struct evh *ev);
void evh_run(struct evh *ev);
/* Every call still in flight ends now with status 0 (done called), then everything is freed. */
void evh_free(struct evh *ev);

/* The glue with the hubs: the disconnected event (hub_state.on_gone), connected, user events. */
void evh_on_gone(struct hub_conn *c, const char *reason, void *arg);
void evh_connected(struct evh *ev, struct hub_conn *c);
/* A user event from a client; 1 when a handler took it (the answer and ack follow), 0 when none. */
int evh_user_event(struct evh *ev, struct hub_conn *c, const char *event, enum hub_dtype dtype,
                   const char *data, size_t len, int has_ack, long long ack_id);

#endif
