/* mqtt_codec.h: MQTT 3.1.1 and 5.0 packets, bytes to packets and back; pure (no I/O, no state
 * beyond the packet), bounded. Decoded strings and binaries are views into the caller's bytes. */
#ifndef EMU_MQTT_CODEC_H
#define EMU_MQTT_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

enum mqtt_type {
	MQTT_CONNECT = 1,
	MQTT_CONNACK,
	MQTT_PUBLISH,
	MQTT_PUBACK,
	MQTT_PUBREC,
	MQTT_PUBREL,
	MQTT_PUBCOMP,
	MQTT_SUBSCRIBE,
	MQTT_SUBACK,
	MQTT_UNSUBSCRIBE,
	MQTT_UNSUBACK,
	MQTT_PINGREQ,
	MQTT_PINGRESP,
	MQTT_DISCONNECT,
	MQTT_AUTH
};

#define MQTT_V311 4
#define MQTT_V5   5

/* MQTT 5.0 reason codes used here (section 2.4) */
#define MQTT_RC_SUCCESS             0x00
#define MQTT_RC_GRANTED_QOS1        0x01
#define MQTT_RC_NO_SUBSCRIPTION     0x11
#define MQTT_RC_UNSPECIFIED         0x80
#define MQTT_RC_MALFORMED           0x81
#define MQTT_RC_PROTOCOL_ERROR      0x82
#define MQTT_RC_IMPL_SPECIFIC       0x83
#define MQTT_RC_BAD_VERSION         0x84
#define MQTT_RC_BAD_CLIENT_ID       0x85
#define MQTT_RC_BAD_USER_PASS       0x86
#define MQTT_RC_NOT_AUTHORIZED      0x87
#define MQTT_RC_SERVER_UNAVAILABLE  0x88
#define MQTT_RC_SERVER_BUSY         0x89
#define MQTT_RC_SESSION_TAKEN_OVER  0x8E
#define MQTT_RC_TOPIC_FILTER_BAD    0x8F
#define MQTT_RC_TOPIC_NAME_BAD      0x90
#define MQTT_RC_KEEPALIVE_TIMEOUT   0x8D
#define MQTT_RC_PACKET_TOO_LARGE    0x95
#define MQTT_RC_QUOTA_EXCEEDED      0x97
#define MQTT_RC_ADMIN_ACTION        0x98
#define MQTT_RC_PAYLOAD_FORMAT_BAD  0x99
#define MQTT_RC_RETAIN_UNSUPPORTED  0x9A
#define MQTT_RC_SHARED_UNSUPPORTED  0x9E
#define MQTT_RC_WILDCARD_UNSUPPORTED 0xA2

/* MQTT 3.1.1 CONNACK return codes (section 3.2.2.3) */
#define MQTT3_RC_BAD_VERSION    0x01
#define MQTT3_RC_BAD_CLIENT_ID  0x02
#define MQTT3_RC_UNAVAILABLE    0x03
#define MQTT3_RC_BAD_USER_PASS  0x04
#define MQTT3_RC_NOT_AUTHORIZED 0x05

#define MQTT_USER_PROPS_MAX 32 /* user properties kept from one packet (more: refused as malformed) */
#define MQTT_TOPICS_MAX     32 /* topic filters in one SUBSCRIBE / UNSUBSCRIBE (more: refused) */
#define MQTT_HEADER_MAX     5  /* fixed header: type byte + at most 4 bytes of remaining length */

struct mqtt_str {
	const char *p; /* NULL when absent */
	size_t len;
};

struct mqtt_user_prop {
	struct mqtt_str name, value;
};

/* MQTT 5.0 properties; "has_" says whether it was present. */
struct mqtt_props {
	int has_payload_format, has_message_expiry, has_session_expiry, has_receive_max, has_max_packet,
	        has_sub_id, has_topic_alias_max, has_topic_alias;
	uint8_t payload_format;
	uint32_t message_expiry, session_expiry, max_packet, sub_id;
	uint16_t receive_max, topic_alias_max, topic_alias;
	struct mqtt_str content_type, response_topic, correlation, reason, assigned_client_id,
	        auth_method;
	struct mqtt_user_prop user[MQTT_USER_PROPS_MAX];
	size_t nuser;
	/* CONNACK only (when encoding): advertise the server's limits */
	int connack_limits;
};

struct mqtt_topic {
	struct mqtt_str filter;
	uint8_t options; /* SUBSCRIBE: QoS in bits 0-1 (v5: No Local, RAP, Retain Handling above) */
};

struct mqtt_pkt {
	uint8_t type, flags;
	/* CONNECT */
	uint8_t version; /* MQTT_V311 or MQTT_V5 */
	int clean, has_user, has_pass, will;
	uint8_t will_qos;
	int will_retain;
	uint16_t keepalive;
	struct mqtt_str client_id, username, password, will_topic, will_payload;
	/* PUBLISH */
	struct mqtt_str topic, payload;
	uint8_t qos;
	int dup, retain;
	/* PUBLISH (QoS > 0), PUBACK.., SUBSCRIBE, UNSUBSCRIBE */
	uint16_t id;
	/* acks, DISCONNECT, CONNACK */
	uint8_t reason;
	int session_present;
	/* SUBSCRIBE, UNSUBSCRIBE */
	struct mqtt_topic topics[MQTT_TOPICS_MAX];
	size_t ntopics;
	struct mqtt_props props;
};

/* How far the packet at buf goes. 1: complete header, *total = the whole packet's length (which may
 * not all be there yet); 0: more bytes needed for the header; -1: malformed (the remaining length
 * runs past 4 bytes); -2: *total is over max (the packet is refused before it is read). */
int mqtt_frame(const uint8_t *buf, size_t len, size_t max, size_t *total);

/* Decode one complete packet (pkt, len: as mqtt_frame measured it). version: MQTT_V311 or MQTT_V5,
 * or 0 before the CONNECT (only a CONNECT is accepted then, and it sets out->version). Returns 0, or
 * an MQTT 5.0 reason code (MQTT_RC_MALFORMED, MQTT_RC_PROTOCOL_ERROR, MQTT_RC_BAD_VERSION, ...). out
 * holds views into pkt. */
int mqtt_decode(const uint8_t *pkt, size_t len, uint8_t version, struct mqtt_pkt *out);

/* Encoders append one packet to b; 0, or -1 (b's bound or out of memory). props may be NULL; under
 * MQTT 3.1.1 properties and reason strings are left out. */
int mqtt_enc_connack(struct buf *b, uint8_t version, int session_present, uint8_t code,
                     const struct mqtt_props *props);
int mqtt_enc_publish(struct buf *b, uint8_t version, const char *topic, size_t topic_len, uint8_t qos,
                     uint16_t id, const struct mqtt_props *props, const void *payload, size_t plen);
/* PUBACK, PUBREC, PUBREL, PUBCOMP (reason code: MQTT 5.0 only) */
int mqtt_enc_ack(struct buf *b, uint8_t version, uint8_t type, uint16_t id, uint8_t reason);
/* SUBACK or UNSUBACK with one code per topic (a 3.1.1 UNSUBACK carries none) */
int mqtt_enc_suback(struct buf *b, uint8_t version, uint8_t type, uint16_t id, const uint8_t *codes,
                    size_t n);
int mqtt_enc_pingresp(struct buf *b);
/* DISCONNECT from the server: MQTT 5.0 only (3.1.1 has none; nothing is written). */
int mqtt_enc_disconnect(struct buf *b, uint8_t version, uint8_t reason, const char *reason_str);

/* A v5 reason code as the 3.1.1 CONNACK return code that means the same (bad version, client id,
 * user/password, not authorized, unavailable; anything else: not authorized). */
uint8_t mqtt_connack_v3_code(uint8_t v5code);

#endif
