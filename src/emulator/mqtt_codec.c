/* mqtt_codec.c: decoding and encoding of MQTT 3.1.1 / 5.0 control packets (OASIS mqtt-v3.1.1 and
 * mqtt-v5.0), every length checked against what is left of the packet. */
#include <config.h>

#include <string.h>

#include "mqtt_codec.h"
#include "utf8.h"

/* ---- decoding ---- */

struct rd {
	const uint8_t *p;
	size_t n; /* bytes left */
	int bad;  /* a read ran past the end or met an invalid value */
};

static uint8_t rd_u8(struct rd *r)
{
	if (r->n < 1) {
		r->bad = 1;
		return 0;
	}
	r->n--;
	return *r->p++;
}

static uint16_t rd_u16(struct rd *r)
{
	if (r->n < 2) {
		r->bad = 1;
		r->n = 0;
		return 0;
	}
	uint16_t v = (uint16_t)(r->p[0] << 8 | r->p[1]);
	r->p += 2;
	r->n -= 2;
	return v;
}

static uint32_t rd_u32(struct rd *r)
{
	if (r->n < 4) {
		r->bad = 1;
		r->n = 0;
		return 0;
	}
	uint32_t v = (uint32_t)r->p[0] << 24 | (uint32_t)r->p[1] << 16 | (uint32_t)r->p[2] << 8 | r->p[3];
	r->p += 4;
	r->n -= 4;
	return v;
}

static uint32_t rd_varint(struct rd *r)
{
	uint32_t v = 0;
	for (int i = 0; i < 4; i++) {
		uint8_t b = rd_u8(r);
		if (r->bad)
			return 0;
		v |= (uint32_t)(b & 0x7F) << (7 * i);
		if (!(b & 0x80))
			return v;
	}
	r->bad = 1;
	return 0;
}

/* Binary data: 2-byte length and the bytes. */
static void rd_bin(struct rd *r, struct mqtt_str *out)
{
	uint16_t l = rd_u16(r);
	if (r->bad || l > r->n) {
		r->bad = 1;
		r->n = 0;
		out->p = NULL;
		out->len = 0;
		return;
	}
	out->p = (const char *)r->p;
	out->len = l;
	r->p += l;
	r->n -= l;
}

/* A UTF-8 string: valid UTF-8 without U+0000 (MQTT 1.5.4). */
static void rd_str(struct rd *r, struct mqtt_str *out)
{
	rd_bin(r, out);
	if (!r->bad && (memchr(out->p, 0, out->len) || !utf8_valid(out->p, out->len)))
		r->bad = 1;
	if (!out->p && !r->bad)
		out->p = "";
}

static int rd_props(struct rd *r, struct mqtt_props *pr)
{
	uint32_t plen = rd_varint(r);
	if (r->bad || plen > r->n)
		return -1;
	struct rd s = { r->p, plen, 0 };
	r->p += plen;
	r->n -= plen;
	while (s.n > 0 && !s.bad) {
		uint32_t id = rd_varint(&s);
		struct mqtt_str skip;
		switch (id) {
		case 0x01: pr->payload_format = rd_u8(&s), pr->has_payload_format = 1; break;
		case 0x02: pr->message_expiry = rd_u32(&s), pr->has_message_expiry = 1; break;
		case 0x03: rd_str(&s, &pr->content_type); break;
		case 0x08: rd_str(&s, &pr->response_topic); break;
		case 0x09: rd_bin(&s, &pr->correlation); if (!pr->correlation.p) pr->correlation.p = ""; break;
		case 0x0B:
			pr->sub_id = rd_varint(&s), pr->has_sub_id = 1;
			if (pr->sub_id == 0)
				s.bad = 1;
			break;
		case 0x11: pr->session_expiry = rd_u32(&s), pr->has_session_expiry = 1; break;
		case 0x12: rd_str(&s, &pr->assigned_client_id); break;
		case 0x13: (void)rd_u16(&s); break;
		case 0x15: rd_str(&s, &pr->auth_method); break;
		case 0x16: rd_bin(&s, &skip); break;
		case 0x17: case 0x19: case 0x24: case 0x25: case 0x28: case 0x29: case 0x2A:
			(void)rd_u8(&s);
			break;
		case 0x18: (void)rd_u32(&s); break;
		case 0x1A: case 0x1C: rd_str(&s, &skip); break;
		case 0x1F: rd_str(&s, &pr->reason); break;
		case 0x21:
			pr->receive_max = rd_u16(&s), pr->has_receive_max = 1;
			if (pr->receive_max == 0)
				s.bad = 1;
			break;
		case 0x22: pr->topic_alias_max = rd_u16(&s), pr->has_topic_alias_max = 1; break;
		case 0x23: pr->topic_alias = rd_u16(&s), pr->has_topic_alias = 1; break;
		case 0x26:
			if (pr->nuser >= MQTT_USER_PROPS_MAX)
				return -1;
			rd_str(&s, &pr->user[pr->nuser].name);
			rd_str(&s, &pr->user[pr->nuser].value);
			pr->nuser++;
			break;
		case 0x27:
			pr->max_packet = rd_u32(&s), pr->has_max_packet = 1;
			if (pr->max_packet == 0)
				s.bad = 1;
			break;
		default: return -1;
		}
	}
	return s.bad ? -1 : 0;
}

int mqtt_frame(const uint8_t *buf, size_t len, size_t max, size_t *total)
{
	uint32_t v = 0;
	for (size_t i = 0; i < 4; i++) {
		if (1 + i >= len)
			return 0;
		uint8_t b = buf[1 + i];
		v |= (uint32_t)(b & 0x7F) << (7 * i);
		if (!(b & 0x80)) {
			*total = 2 + i + (size_t)v;
			return *total > max ? -2 : 1;
		}
	}
	return -1;
}

static int dec_connect(struct rd *r, struct mqtt_pkt *o)
{
	struct mqtt_str name;
	rd_bin(r, &name);
	uint8_t level = rd_u8(r);
	if (r->bad)
		return MQTT_RC_MALFORMED;
	if (name.len == 6 && memcmp(name.p, "MQIsdp", 6) == 0)
		return MQTT_RC_BAD_VERSION; /* MQTT 3.1 */
	if (name.len != 4 || memcmp(name.p, "MQTT", 4) != 0)
		return MQTT_RC_PROTOCOL_ERROR;
	if (level != MQTT_V311 && level != MQTT_V5)
		return MQTT_RC_BAD_VERSION;
	o->version = level;
	uint8_t fl = rd_u8(r);
	o->keepalive = rd_u16(r);
	if (r->bad || (fl & 0x01))
		return MQTT_RC_MALFORMED;
	o->clean = !!(fl & 0x02);
	o->will = !!(fl & 0x04);
	o->will_qos = (fl >> 3) & 3;
	o->will_retain = !!(fl & 0x20);
	o->has_pass = !!(fl & 0x40);
	o->has_user = !!(fl & 0x80);
	if (o->will_qos == 3 || (!o->will && (o->will_qos || o->will_retain)))
		return MQTT_RC_MALFORMED;
	if (level == MQTT_V311 && o->has_pass && !o->has_user)
		return MQTT_RC_MALFORMED;
	if (level == MQTT_V5 && rd_props(r, &o->props) < 0)
		return MQTT_RC_MALFORMED;
	rd_str(r, &o->client_id);
	if (o->will) {
		if (level == MQTT_V5) {
			struct mqtt_props wp;
			memset(&wp, 0, sizeof wp);
			if (rd_props(r, &wp) < 0)
				return MQTT_RC_MALFORMED;
		}
		rd_str(r, &o->will_topic);
		rd_bin(r, &o->will_payload);
	}
	if (o->has_user)
		rd_str(r, &o->username);
	if (o->has_pass) {
		rd_bin(r, &o->password);
		if (!o->password.p)
			o->password.p = "";
	}
	if (r->bad || r->n != 0)
		return MQTT_RC_MALFORMED;
	return 0;
}

static int dec_publish(struct rd *r, uint8_t version, struct mqtt_pkt *o)
{
	o->dup = !!(o->flags & 0x08);
	o->qos = (o->flags >> 1) & 3;
	o->retain = o->flags & 1;
	if (o->qos == 3 || (o->qos == 0 && o->dup))
		return MQTT_RC_MALFORMED;
	rd_str(r, &o->topic);
	if (o->qos > 0) {
		o->id = rd_u16(r);
		if (!r->bad && o->id == 0)
			return MQTT_RC_PROTOCOL_ERROR;
	}
	if (r->bad)
		return MQTT_RC_MALFORMED;
	if (version == MQTT_V5 && rd_props(r, &o->props) < 0)
		return MQTT_RC_MALFORMED;
	if (o->topic.len == 0 && !o->props.has_topic_alias)
		return MQTT_RC_PROTOCOL_ERROR;
	o->payload.p = (const char *)r->p;
	o->payload.len = r->n;
	r->n = 0;
	return 0;
}

static int dec_topics(struct rd *r, uint8_t version, struct mqtt_pkt *o, int with_options)
{
	o->id = rd_u16(r);
	if (r->bad)
		return MQTT_RC_MALFORMED;
	if (o->id == 0)
		return MQTT_RC_PROTOCOL_ERROR;
	if (version == MQTT_V5 && rd_props(r, &o->props) < 0)
		return MQTT_RC_MALFORMED;
	while (r->n > 0) {
		if (o->ntopics >= MQTT_TOPICS_MAX)
			return MQTT_RC_QUOTA_EXCEEDED;
		struct mqtt_topic *t = &o->topics[o->ntopics];
		rd_str(r, &t->filter);
		if (with_options) {
			t->options = rd_u8(r);
			if ((t->options & 3) == 3 || (version == MQTT_V311 && (t->options & 0xFC)) ||
			    (version == MQTT_V5 && ((t->options & 0xC0) || ((t->options >> 4) & 3) == 3)))
				return MQTT_RC_MALFORMED;
		}
		if (r->bad)
			return MQTT_RC_MALFORMED;
		o->ntopics++;
	}
	return o->ntopics == 0 ? MQTT_RC_PROTOCOL_ERROR : 0;
}

int mqtt_decode(const uint8_t *pkt, size_t len, uint8_t version, struct mqtt_pkt *out)
{
	size_t total;

	memset(out, 0, sizeof *out);
	if (len < 2 || mqtt_frame(pkt, len, len, &total) != 1 || total != len)
		return MQTT_RC_MALFORMED;
	out->type = pkt[0] >> 4;
	out->flags = pkt[0] & 0x0F;
	size_t hl = 2;
	while (pkt[hl - 1] & 0x80)
		hl++;
	struct rd r = { pkt + hl, len - hl, 0 };

	if (version == 0) {
		if (out->type != MQTT_CONNECT)
			return MQTT_RC_PROTOCOL_ERROR;
		if (out->flags != 0)
			return MQTT_RC_MALFORMED;
		return dec_connect(&r, out);
	}
	out->version = version;
	switch (out->type) {
	case MQTT_CONNECT: return MQTT_RC_PROTOCOL_ERROR; /* a second CONNECT */
	case MQTT_PUBLISH: return dec_publish(&r, version, out);
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBREL:
	case MQTT_PUBCOMP:
		if (out->flags != (out->type == MQTT_PUBREL ? 2 : 0))
			return MQTT_RC_MALFORMED;
		out->id = rd_u16(&r);
		if (version == MQTT_V5 && r.n > 0)
			out->reason = rd_u8(&r);
		if (version == MQTT_V5 && r.n > 0 && rd_props(&r, &out->props) < 0)
			return MQTT_RC_MALFORMED;
		return r.bad || r.n ? MQTT_RC_MALFORMED : 0;
	case MQTT_SUBSCRIBE:
	case MQTT_UNSUBSCRIBE:
		if (out->flags != 2)
			return MQTT_RC_MALFORMED;
		return dec_topics(&r, version, out, out->type == MQTT_SUBSCRIBE);
	case MQTT_PINGREQ:
		return out->flags || r.n ? MQTT_RC_MALFORMED : 0;
	case MQTT_DISCONNECT:
		if (out->flags)
			return MQTT_RC_MALFORMED;
		if (version == MQTT_V5 && r.n > 0)
			out->reason = rd_u8(&r);
		if (version == MQTT_V5 && r.n > 0 && rd_props(&r, &out->props) < 0)
			return MQTT_RC_MALFORMED;
		return r.bad || r.n ? MQTT_RC_MALFORMED : 0;
	default:
		/* server-to-client packets, AUTH (no enhanced authentication here), type 0 and 15 */
		return MQTT_RC_PROTOCOL_ERROR;
	}
}

/* ---- encoding ---- */

struct wr {
	uint8_t *p;
	size_t n, cap; /* cap 0: measuring only */
};

static void w_bytes(struct wr *w, const void *d, size_t n)
{
	if (w->cap && w->n + n <= w->cap)
		memcpy(w->p + w->n, d, n);
	w->n += n;
}

static void w_u8(struct wr *w, uint8_t v)
{
	w_bytes(w, &v, 1);
}

static void w_u16(struct wr *w, uint16_t v)
{
	uint8_t b[2] = { (uint8_t)(v >> 8), (uint8_t)v };
	w_bytes(w, b, 2);
}

static void w_u32(struct wr *w, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
	w_bytes(w, b, 4);
}

static size_t varint_len(uint32_t v)
{
	return v < 128 ? 1 : v < 16384 ? 2 : v < 2097152 ? 3 : 4;
}

static void w_varint(struct wr *w, uint32_t v)
{
	do {
		uint8_t b = v & 0x7F;
		v >>= 7;
		if (v)
			b |= 0x80;
		w_u8(w, b);
	} while (v);
}

static void w_str(struct wr *w, const char *s, size_t n)
{
	if (n > 65535)
		n = 65535;
	w_u16(w, (uint16_t)n);
	w_bytes(w, s, n);
}

static void w_props_body(struct wr *w, const struct mqtt_props *pr, uint8_t type)
{
	if (!pr)
		return;
	if (pr->has_payload_format)
		w_u8(w, 0x01), w_u8(w, pr->payload_format);
	if (pr->has_message_expiry)
		w_u8(w, 0x02), w_u32(w, pr->message_expiry);
	if (pr->content_type.p)
		w_u8(w, 0x03), w_str(w, pr->content_type.p, pr->content_type.len);
	if (pr->response_topic.p)
		w_u8(w, 0x08), w_str(w, pr->response_topic.p, pr->response_topic.len);
	if (pr->correlation.p)
		w_u8(w, 0x09), w_str(w, pr->correlation.p, pr->correlation.len);
	if (pr->has_sub_id)
		w_u8(w, 0x0B), w_varint(w, pr->sub_id);
	if (pr->has_session_expiry)
		w_u8(w, 0x11), w_u32(w, pr->session_expiry);
	if (pr->assigned_client_id.p)
		w_u8(w, 0x12), w_str(w, pr->assigned_client_id.p, pr->assigned_client_id.len);
	if (pr->reason.p)
		w_u8(w, 0x1F), w_str(w, pr->reason.p, pr->reason.len);
	if (pr->has_receive_max)
		w_u8(w, 0x21), w_u16(w, pr->receive_max);
	if (pr->has_topic_alias_max)
		w_u8(w, 0x22), w_u16(w, pr->topic_alias_max);
	if (type == MQTT_CONNACK && pr->connack_limits) {
		w_u8(w, 0x24), w_u8(w, 1); /* Maximum QoS 1 */
		w_u8(w, 0x25), w_u8(w, 0); /* no retained messages */
		w_u8(w, 0x28), w_u8(w, 0); /* no wildcard subscriptions */
		w_u8(w, 0x2A), w_u8(w, 0); /* no shared subscriptions */
	}
	for (size_t i = 0; i < pr->nuser; i++) {
		w_u8(w, 0x26);
		w_str(w, pr->user[i].name.p, pr->user[i].name.len);
		w_str(w, pr->user[i].value.p, pr->user[i].value.len);
	}
	if (pr->has_max_packet)
		w_u8(w, 0x27), w_u32(w, pr->max_packet);
}

static void w_props(struct wr *w, const struct mqtt_props *pr, uint8_t type)
{
	struct wr m = { NULL, 0, 0 };
	w_props_body(&m, pr, type);
	w_varint(w, (uint32_t)m.n);
	w_props_body(w, pr, type);
}

/* The packet is written twice: once to measure the remaining length, once into b. */
typedef void (*body_fn)(struct wr *w, const void *arg);

static int emit(struct buf *b, uint8_t first, body_fn fn, const void *arg)
{
	struct wr m = { NULL, 0, 0 };
	fn(&m, arg);
	if (m.n > 268435455)
		return -1;
	size_t total = 1 + varint_len((uint32_t)m.n) + m.n;
	uint8_t stackbuf[256];
	uint8_t *p = total <= sizeof stackbuf ? stackbuf : malloc(total);
	if (!p)
		return -1;
	struct wr w = { p, 0, total };
	w_u8(&w, first);
	w_varint(&w, (uint32_t)m.n);
	fn(&w, arg);
	int rc = w.n == total ? buf_append(b, p, total) : -1;
	if (p != stackbuf)
		free(p);
	return rc;
}

struct connack_arg {
	uint8_t version, sp, code;
	const struct mqtt_props *props;
};

static void body_connack(struct wr *w, const void *a)
{
	const struct connack_arg *c = a;
	w_u8(w, c->sp ? 1 : 0);
	w_u8(w, c->code);
	if (c->version == MQTT_V5)
		w_props(w, c->props, MQTT_CONNACK);
}

int mqtt_enc_connack(struct buf *b, uint8_t version, int session_present, uint8_t code,
                     const struct mqtt_props *props)
{
	struct connack_arg a = { version, (uint8_t)(session_present && code == 0), code, props };
	return emit(b, MQTT_CONNACK << 4, body_connack, &a);
}

struct publish_arg {
	uint8_t version, qos;
	uint16_t id;
	const char *topic;
	size_t tlen;
	const struct mqtt_props *props;
	const void *payload;
	size_t plen;
};

static void body_publish(struct wr *w, const void *a)
{
	const struct publish_arg *p = a;
	w_str(w, p->topic, p->tlen);
	if (p->qos)
		w_u16(w, p->id);
	if (p->version == MQTT_V5)
		w_props(w, p->props, MQTT_PUBLISH);
	w_bytes(w, p->payload, p->plen);
}

int mqtt_enc_publish(struct buf *b, uint8_t version, const char *topic, size_t topic_len, uint8_t qos,
                     uint16_t id, const struct mqtt_props *props, const void *payload, size_t plen)
{
	struct publish_arg a = { version, qos, id, topic, topic_len, props, payload, plen };
	if (topic_len > 65535 || qos > 2)
		return -1;
	return emit(b, (uint8_t)(MQTT_PUBLISH << 4 | qos << 1), body_publish, &a);
}

struct ack_arg {
	uint8_t version, reason;
	uint16_t id;
};

static void body_ack(struct wr *w, const void *a)
{
	const struct ack_arg *k = a;
	w_u16(w, k->id);
	if (k->version == MQTT_V5 && k->reason != 0)
		w_u8(w, k->reason);
}

int mqtt_enc_ack(struct buf *b, uint8_t version, uint8_t type, uint16_t id, uint8_t reason)
{
	struct ack_arg a = { version, reason, id };
	if (type < MQTT_PUBACK || type > MQTT_PUBCOMP)
		return -1;
	return emit(b, (uint8_t)(type << 4 | (type == MQTT_PUBREL ? 2 : 0)), body_ack, &a);
}

struct suback_arg {
	uint8_t version, type;
	uint16_t id;
	const uint8_t *codes;
	size_t n;
};

static void body_suback(struct wr *w, const void *a)
{
	const struct suback_arg *s = a;
	w_u16(w, s->id);
	if (s->version == MQTT_V5)
		w_u8(w, 0); /* no properties */
	if (s->version == MQTT_V5 || s->type == MQTT_SUBACK)
		w_bytes(w, s->codes, s->n);
}

int mqtt_enc_suback(struct buf *b, uint8_t version, uint8_t type, uint16_t id, const uint8_t *codes,
                    size_t n)
{
	struct suback_arg a = { version, type, id, codes, n };
	if (type != MQTT_SUBACK && type != MQTT_UNSUBACK)
		return -1;
	return emit(b, (uint8_t)(type << 4), body_suback, &a);
}

int mqtt_enc_pingresp(struct buf *b)
{
	static const uint8_t p[2] = { MQTT_PINGRESP << 4, 0 };
	return buf_append(b, p, 2);
}

struct disc_arg {
	uint8_t reason;
	const char *rs;
};

static void body_disc(struct wr *w, const void *a)
{
	const struct disc_arg *d = a;
	struct mqtt_props pr;
	memset(&pr, 0, sizeof pr);
	w_u8(w, d->reason);
	if (d->rs) {
		pr.reason.p = d->rs;
		pr.reason.len = strlen(d->rs);
	}
	w_props(w, &pr, MQTT_DISCONNECT);
}

int mqtt_enc_disconnect(struct buf *b, uint8_t version, uint8_t reason, const char *reason_str)
{
	struct disc_arg a = { reason, reason_str };
	if (version != MQTT_V5)
		return 0;
	return emit(b, MQTT_DISCONNECT << 4, body_disc, &a);
}

uint8_t mqtt_connack_v3_code(uint8_t v5code)
{
	switch (v5code) {
	case MQTT_RC_SUCCESS: return 0;
	case MQTT_RC_BAD_VERSION: return MQTT3_RC_BAD_VERSION;
	case MQTT_RC_BAD_CLIENT_ID: return MQTT3_RC_BAD_CLIENT_ID;
	case MQTT_RC_BAD_USER_PASS: return MQTT3_RC_BAD_USER_PASS;
	case MQTT_RC_SERVER_UNAVAILABLE:
	case MQTT_RC_SERVER_BUSY: return MQTT3_RC_UNAVAILABLE;
	default: return MQTT3_RC_NOT_AUTHORIZED;
	}
}
