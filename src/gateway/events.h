/* events.h: the events listener. The service calls the application's event handler (connect, client
 * messages, disconnect) with webhooks signed with the access key (ce-signature); wpsgated answers the
 * abuse-protection handshake, verifies each call against every key it holds, and forwards what it
 * verified to a keyless application on a Unix socket or loopback HTTP, passing the application's answer
 * back (shared/docs/webpubsub-events.md). Forwarding uses the upstream's curl multi handle on the loop.
 *
 * events = {
 *   listen = [ "127.0.0.1:7081" ];          # TCP "host:port" or "unix:/path"; what the ingress exposes
 *   forward = "unix:/run/app/events.sock";  # or "http://127.0.0.1:3000"
 *   path = "/eventhandler";                 # the path (or path prefix) the service is configured with
 *   timeout_ms = 5000;
 * };
 */
#ifndef WPS_GW_EVENTS_H
#define WPS_GW_EVENTS_H

#include <microhttpd.h>
#include <stddef.h>

#include "cfgtab.h"

#define EVENTS_LISTEN_MAX   8    /* events.listen entries */
#define EVENTS_FORWARD_MAX  512  /* bytes of events.forward */
#define EVENTS_PATH_MAX     256  /* bytes of events.path */
#define EVENTS_NAME_MAX     128  /* bytes of an event name (ce-eventName) */
#define EVENTS_HUB_MAX      128  /* bytes of ce-hub */
#define EVENTS_ID_MAX       1024 /* bytes of ce-connectionId, ce-userId */
#define EVENTS_HEADER_MAX   8192 /* bytes of one ce-* value forwarded (ce-connectionState included) */
#define EVENTS_PASSBACK_MAX 16   /* headers of the application's answer passed back */
#define EVENTS_HOST_MAX     256  /* bytes of the service's host (the allowed origin) */

struct events_cfg {
	char *listen[EVENTS_LISTEN_MAX];
	size_t nlisten; /* 0: no events listener */
	int allow_non_loopback;
	char *forward;
	char *path;
	long timeout_ms;
	long max_body_bytes;
	long max_inflight;
	long max_connections;
	char *secondary_key_file;
	/* from forward */
	char fwd_unix[108]; /* "" unless forward is unix:PATH */
	char fwd_base
	        [EVENTS_FORWARD_MAX]; /* "http://localhost" for unix, else the URL without a trailing / */
};

extern const struct cfgtab_section events_cfg_section;

struct loop;
struct up;
struct cfg;
struct cred;
struct events;

/* The listener's state; cfg, cred and up are borrowed until events_configure/events_free. */
struct events *events_new(struct loop *l, struct up *up, const struct cfg *cfg, const struct cred *cred);
void events_configure(struct events *ev, const struct cfg *cfg, const struct cred *cred);
/* New calls get 503 ShuttingDown; calls in flight finish. */
void events_set_draining(struct events *ev, int on);
unsigned events_inflight(const struct events *ev);
/* Answer every call still waiting on the application with 503 and stop its transfer. */
void events_abort_all(struct events *ev);
void events_free(struct events *ev); /* accepts NULL; call before up_free */

/* libmicrohttpd callbacks; cls is the struct events. */
enum MHD_Result events_handler(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                               const char *version, const char *upload_data, size_t *upload_data_size,
                               void **req_cls);
void events_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                      enum MHD_RequestTerminationCode toe);

/* ---- the pure parts, for the unit tests ---- */

enum events_kind { EVK_CONNECT, EVK_CONNECTED, EVK_DISCONNECTED, EVK_USER, EVK_VALIDATE, EVK_UNKNOWN };

/* The identity of one call, from its ce-* headers, checked against each other. */
struct events_id {
	enum events_kind kind;
	char event[EVENTS_NAME_MAX + 1];
	char hub[EVENTS_HUB_MAX + 1];
	char connection[EVENTS_ID_MAX + 1];
	char user[EVENTS_ID_MAX + 1]; /* "" when the connection has no user */
};

/* The headers of a call: each NULL when absent. */
struct events_headers {
	const char *specversion, *awpsversion, *type, *source, *event_name, *hub, *connection, *user;
	const char *origin; /* WebHook-Request-Origin */
};

/* Check the ce-* headers of a POST and fill id. 0, or -1 with why (a sentence naming the header). */
int events_parse_id(const struct events_headers *h, struct events_id *id, char *why, size_t whylen);
/* 1 when one of the comma-separated hosts of a WebHook-Request-Origin value is host (case ignored). */
int events_origin_ok(const char *origin, const char *host);
/* The host of an endpoint URL ("https://x.webpubsub.azure.com:443" -> "x.webpubsub.azure.com") into
 * out; 0 or -1. */
int events_endpoint_host(const char *endpoint, char *out, size_t outlen);
/* The label of a kind for logs and metrics ("connect", ..., "user", "validate", "unknown"). */
const char *events_kind_label(enum events_kind k);

#endif
