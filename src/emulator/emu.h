/* emu.h: the emulator's run-time settings and state, shared by its modules. */
#ifndef EMU_EMU_H
#define EMU_EMU_H

#include <stddef.h>
#include "hub.h"
#include "insp.h"

struct emu {
	char *key; /* the access key (owned; cleansed by emu_fini) */
	size_t keylen;
	char hostport[300]; /* "127.0.0.1:PORT" or "[::1]:PORT" */
	char endpoint[320]; /* "http://" hostport */
	char kid[40];       /* "kid" of the client tokens it issues: "s-" and a random UUID, per process */
	struct hub_state *state;
	size_t max_connections;
	size_t max_frame;
	size_t max_mqtt_packet; /* MQTT clients: the largest packet taken (and the CONNACK's Maximum Packet Size) */
	size_t max_send_queue;
	size_t max_body;
	size_t nws; /* WebSocket clients connected now */
	/* --event-handler specs (borrowed from argv) and the limits of the calls */
	const char *event_specs[64];
	size_t nevent_specs;
	long event_timeout_ms;
	unsigned event_max_inflight;
	/* the inspector page (insp.h): on by default for a loopback listener; --no-inspector */
	int inspector;
	struct insp_limits insp_limits;
};

#endif
