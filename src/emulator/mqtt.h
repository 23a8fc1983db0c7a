/* mqtt.h: MQTT clients of the emulator (MQTT 3.1.1 and 5.0 over WebSocket, subprotocol "mqtt", at
 * /clients/mqtt/hubs/{hub}), mapped onto the hub as the service maps them: the client id is the
 * connection id, SUBSCRIBE joins the group named by the topic, PUBLISH sends to it, a PUBLISH to
 * $webpubsub/server/events/<e> is the user event <e>, and what the REST API sends to the hub, a
 * user or a connection arrives on the topic $webpubsub/server/messages. */
#ifndef EMU_MQTT_H
#define EMU_MQTT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "auth.h"
#include "emu.h"
#include "hub.h"

#define MQTT_SUBPROTOCOL      "mqtt"
#define MQTT_CLIENT_PREFIX    "/clients/mqtt/hubs/"
#define MQTT_SERVER_MESSAGES  "$webpubsub/server/messages"
#define MQTT_EVENTS_PREFIX    "$webpubsub/server/events/"
#define MQTT_CLIENT_ID_MAX    128  /* [0-9a-zA-Z]{1,128}, as the service allows */
#define MQTT_V311_KEEPALIVE_MAX 180 /* seconds; MQTT 3.1.1 clients outside 1..180 are refused */
#define MQTT_WILL_TOPIC_MAX   1024
#define MQTT_WILL_PAYLOAD_MAX 2000
#define MQTT_CONNECT_TIMEOUT_MS 30000 /* from the upgrade to the CONNECT packet */
#define MQTT_INBUF_SLACK      (64 * 1024) /* bytes buffered beyond one packet while the connect event is out */
#define MQTT_EVENT_NAME_MAX   256  /* $webpubsub/server/events/<e>: longer names are refused (0x90) */

/* What an MQTT connection adds to its hub_conn (hub_conn.mqtt), for the event handler calls and
 * for listings (the inspector). Valid while the hub_conn lives. */
struct hub_mqtt {
	uint8_t version;         /* 4 (MQTT 3.1.1) or 5 (MQTT 5.0) */
	const char *client_id;   /* = the connection id */
	char physical[24];       /* physicalConnectionId: one per WebSocket */
	char session[24];        /* sessionId: one per session (a clean one per CONNECT here) */
	int initiated_by_client; /* the client sent DISCONNECT */
	int has_disconnect;      /* a DISCONNECT was sent by either side */
	uint8_t disconnect_code;
	json_t *disconnect_user_props; /* [{"name","value"}] of the client's DISCONNECT, or NULL */
};

/* 1 when c is an MQTT connection. */
int mqtt_conn_is(const struct hub_conn *c);
/* 4 or 5 for an MQTT connection, 0 for others. */
int mqtt_conn_version(const struct hub_conn *c);
/* The MQTT client id (the connection id), NULL for other connections. */
const char *mqtt_conn_client_id(const struct hub_conn *c);

struct mqtt_sess;

/* The byte stream under a session: the WebSocket of ws.c. send queues one binary frame (0 or -1);
 * close sends a close frame and hangs up (the session is freed later, by mqtt_sess_free). */
struct mqtt_io {
	int (*send)(void *t, const void *data, size_t len);
	void (*close)(void *t, int code, const char *reason);
};

/* A session on a new WebSocket of hub (decoded name). auth: the access token's check (steals its
 * contents; auth_ok 0 with why: the CONNECT is refused as not authorized). info: {"query","headers"}
 * for the connect event (stolen; may be NULL). Returns NULL on out of memory. */
struct mqtt_sess *mqtt_sess_new(struct emu *e, const char *hub, struct auth_client *auth, int auth_ok,
                                const char *why, json_t *info, const struct mqtt_io *io, void *t);
/* The socket is gone: the hub connection (if any) goes with it (the disconnected event, the will
 * message). Accepts NULL. */
void mqtt_sess_free(struct mqtt_sess *s);
/* Bytes from the client (one WebSocket message; packets may span messages). 0, or -1 when the
 * session closed the socket. */
int mqtt_on_bytes(struct mqtt_sess *s, const uint8_t *data, size_t len);
/* Close the session (the client broke the transport's rules). */
void mqtt_close(struct mqtt_sess *s, const char *reason);
/* Timers (the CONNECT deadline, keep-alive): may close. Returns the milliseconds until the next
 * deadline, or -1 when none. */
int mqtt_tick(struct mqtt_sess *s, uint64_t now_ms);

/* The hub's side (proto.c calls these for MQTT connections). */
void mqtt_deliver(struct hub_conn *c, const struct hub_msg *m);
/* The service closes c: MQTT 5.0 clients get DISCONNECT (administrative action, reason). */
void mqtt_disconnected(struct hub_conn *c, const char *reason);

#endif
