/* fuzz_mqtt.c: libFuzzer target for the emulator's MQTT codec (mqtt_codec.c) and session (mqtt.c).
 * Input: one byte of setup (bit 0: the codec alone or a whole session; bits 1-4: the chunk size the
 * bytes arrive in, 1..16 or all at once; bit 5: the session's token is valid; bit 6: it may join and
 * send), then the bytes a client sends. Invariants: decoded views lie inside the packet, a decoded
 * PUBLISH encodes and decodes back to the same fields, and a session never answers beyond its limit. */
#include <config.h>
#include "fuzz.h"

#include <string.h>

#include "emulator/emu.h"
#include "emulator/hub.h"
#include "emulator/mqtt.h"
#include "emulator/mqtt_codec.h"

#define PACKET_MAX 2048

static int inside(const struct mqtt_str *s, const uint8_t *p, size_t n)
{
	return s->p == NULL || s->len == 0 ||
	       ((const uint8_t *)s->p >= p && (const uint8_t *)s->p + s->len <= p + n);
}

static void codec(const uint8_t *d, size_t n)
{
	size_t off = 0, total;
	uint8_t version = 0;
	while (off < n) {
		int r = mqtt_frame(d + off, n - off, PACKET_MAX, &total);
		if (r != 1 || total > n - off)
			return;
		FUZZ_ASSERT(total >= 2 && total <= PACKET_MAX);
		struct mqtt_pkt *p = malloc(sizeof *p);
		if (!p)
			abort();
		const uint8_t *pk = d + off;
		int rc = mqtt_decode(pk, total, version, p);
		if (rc == 0) {
			FUZZ_ASSERT(inside(&p->client_id, pk, total) && inside(&p->username, pk, total) &&
			            inside(&p->password, pk, total) && inside(&p->topic, pk, total) &&
			            inside(&p->payload, pk, total) && inside(&p->will_topic, pk, total));
			FUZZ_ASSERT(p->ntopics <= MQTT_TOPICS_MAX && p->props.nuser <= MQTT_USER_PROPS_MAX);
			if (version == 0) {
				FUZZ_ASSERT(p->type == MQTT_CONNECT);
				FUZZ_ASSERT(p->version == MQTT_V311 || p->version == MQTT_V5);
				version = p->version;
			} else if (p->type == MQTT_PUBLISH && p->qos < 3 && !p->props.has_topic_alias) {
				/* what the session forwards re-encodes to the same fields; a publish with a topic
				 * alias is refused by the session (DISCONNECT 0x94) before anything is forwarded,
				 * and its topic may be empty, which the encoder never writes */
				struct buf b;
				struct mqtt_pkt *q = malloc(sizeof *q);
				if (!q)
					abort();
				buf_init(&b, 0);
				p->props.connack_limits = 0;
				FUZZ_ASSERT(mqtt_enc_publish(&b, version, p->topic.p, p->topic.len, p->qos, p->id,
				                             &p->props, p->payload.p, p->payload.len) == 0);
				FUZZ_ASSERT(mqtt_decode((const uint8_t *)b.data, b.len, version, q) == 0);
				FUZZ_ASSERT(q->qos == p->qos && q->id == p->id && q->topic.len == p->topic.len &&
				            q->payload.len == p->payload.len &&
				            memcmp(q->payload.p, p->payload.p, p->payload.len) == 0);
				buf_free(&b);
				free(q);
			}
		} else {
			FUZZ_ASSERT(rc >= 0x80 && rc <= 0xFF);
		}
		free(p);
		if (rc != 0)
			return;
		off += total;
	}
}

struct sink {
	size_t frames, closes;
};

static int io_send(void *t, const void *data, size_t len)
{
	struct sink *s = t;
	FUZZ_ASSERT(len >= 2 && data != NULL);
	s->frames++;
	return 0;
}

static void io_close(void *t, int code, const char *reason)
{
	struct sink *s = t;
	s->closes++;
}

static int t_send(void *t, int binary, const char *data, size_t len)
{
	return 0;
}

static void t_close(void *t, int code, const char *reason)
{
}

static const struct mqtt_io io = { io_send, io_close };
static const struct hub_transport_ops tops = { t_send, t_close };

static void session(uint8_t setup, const uint8_t *d, size_t n)
{
	static char key[] = "fuzz-key";
	struct emu e;
	struct sink sk = { 0, 0 };
	struct auth_client a;
	size_t chunk = ((setup >> 1) & 15) ? ((setup >> 1) & 15) : n;

	memset(&e, 0, sizeof e);
	memset(&a, 0, sizeof a);
	e.key = key;
	e.keylen = strlen(key);
	e.max_mqtt_packet = PACKET_MAX;
	e.state = hub_state_new(&tops);
	if (!e.state)
		abort();
	if (setup & 0x40) {
		a.roles = calloc(2, sizeof(char *));
		a.roles[0] = strdup("webpubsub.joinLeaveGroup");
		a.roles[1] = strdup("webpubsub.sendToGroup");
		a.nroles = 2;
	}
	struct mqtt_sess *s = mqtt_sess_new(&e, "hub", &a, (setup & 0x20) != 0, "no", NULL, &io, &sk);
	if (!s)
		abort();
	for (size_t off = 0; off < n; off += chunk) {
		size_t k = n - off < chunk ? n - off : chunk;
		if (mqtt_on_bytes(s, d + off, k) < 0)
			break;
	}
	(void)mqtt_tick(s, UINT64_MAX / 2);
	FUZZ_ASSERT(sk.closes <= 1);
	mqtt_sess_free(s);
	auth_client_release(&a);
	FUZZ_ASSERT(e.state->nconns == 0);
	hub_state_free(e.state);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 1)
		session(data[0], data + 1, size - 1);
	else
		codec(data + 1, size - 1);
	return 0;
}
