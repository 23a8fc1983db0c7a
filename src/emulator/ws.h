/* ws.h: WebSocket clients of the emulator: upgraded sockets framed by wslay, driven from the
 * server's epoll loop, each one the transport of a hub connection. */
#ifndef EMU_WS_H
#define EMU_WS_H

#include <stddef.h>
#include <stdint.h>

#include <microhttpd.h>

#include "emu.h"
#include "hub.h"

#define WS_EPOLL_TAG 0x77730001

struct ws;

/* Every WebSocket of one server. */
struct ws_set {
	int epfd;
	struct emu *e;
	struct ws *all;
	size_t n;
	int mhd_dirty; /* a socket was handed back to MHD: run it soon */
};

/* The hub_transport_ops of a ws (hub_state_new takes it). */
extern const struct hub_transport_ops ws_transport;

/* Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key + GUID)). 0 or -1. */
int ws_accept_key(const char *key, char *out, size_t outlen);

/* Take over an upgraded socket (extra: bytes MHD already read past the handshake, copied).
 * Registers the socket in set->epfd. Returns the new ws (owned by set) or NULL (the socket is
 * then closed through urh). */
struct ws *ws_open(struct ws_set *set, int fd, struct MHD_UpgradeResponseHandle *urh, const char *extra,
                   size_t extra_len);
void ws_attach(struct ws *w, struct hub_conn *c);
/* An MQTT client: the ws carries an MQTT session (owned by the ws from now on) instead of a hub
 * connection; ws_mqtt_io is the byte stream the session writes to (binary frames). */
struct mqtt_sess;
void ws_attach_mqtt(struct ws *w, struct mqtt_sess *s);
extern const struct mqtt_io ws_mqtt_io;
/* The epoll tag/pointer check: 1 when ptr (from epoll_event.data.ptr) is a ws. */
int ws_is(const void *ptr);
/* Handle epoll events of one ws (readable, writable, hang-up). */
void ws_on_events(struct ws *w, uint32_t events);
/* Send what was queued, update epoll interest, drop dead clients (closed, slow, past their close
 * grace). Call after every batch of events. Returns the milliseconds until the next close
 * deadline, or -1 when none. */
int ws_flush(struct ws_set *set);
/* Close every client (1001, best effort) and free them; the hub connections are removed. */
void ws_shutdown(struct ws_set *set);

#endif
