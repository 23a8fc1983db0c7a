/* ws.c: the emulator's WebSocket transport: wslay event contexts on non-blocking upgraded
 * sockets, bounded send queues, and graceful or forced closes. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <wslay/wslay.h>

#include "b64.h"
#include "emulimits.h"
#include "jwt.h"
#include "log.h"
#include "mqtt.h"
#include "proto.h"
#include "ws.h"

struct ws {
	int tag; /* WS_EPOLL_TAG: first member */
	struct ws *next, *prev;
	struct ws_set *set;
	int fd;
	struct MHD_UpgradeResponseHandle *urh;
	wslay_event_context_ptr ctx;
	struct hub_conn *conn;
	struct mqtt_sess *mqtt; /* an MQTT client (then conn stays NULL) */
	char *extra;
	size_t extra_len, extra_off;
	uint32_t events;  /* epoll interest now */
	int dead;         /* tear down at the next flush */
	int closing;      /* closed by the service: no more messages */
	int close_queued; /* the close frame is in wslay's queue */
	uint16_t close_code;
	char close_reason[124];
	size_t close_len;
	uint64_t close_deadline;
};

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int ws_accept_key(const char *key, char *out, size_t outlen)
{
	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	unsigned char md[SHA_DIGEST_LENGTH];
	char cat[128];
	size_t kl = strlen(key);

	if (kl == 0 || kl + sizeof(guid) > sizeof(cat) || outlen < 29)
		return -1;
	memcpy(cat, key, kl);
	memcpy(cat + kl, guid, sizeof(guid) - 1);
	if (!EVP_Digest(cat, kl + sizeof(guid) - 1, md, NULL, EVP_sha1(), NULL))
		return -1;
	char *b = b64_encode(md, sizeof(md));
	if (!b || strlen(b) >= outlen) {
		free(b);
		return -1;
	}
	strcpy(out, b);
	free(b);
	return 0;
}

int ws_is(const void *ptr)
{
	return ptr && *(const int *)ptr == WS_EPOLL_TAG;
}

static ssize_t cb_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *user)
{
	struct ws *w = user;
	if (w->extra_off < w->extra_len) {
		size_t n = w->extra_len - w->extra_off;
		if (n > len)
			n = len;
		memcpy(buf, w->extra + w->extra_off, n);
		w->extra_off += n;
		return (ssize_t)n;
	}
	ssize_t r;
	do
		r = recv(w->fd, buf, len, 0);
	while (r < 0 && errno == EINTR);
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
		wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
		return -1;
	}
	if (r <= 0) {
		wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
		return -1;
	}
	return r;
}

static ssize_t cb_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags, void *user)
{
	struct ws *w = user;
	ssize_t r;
	do
		r = send(w->fd, data, len, MSG_NOSIGNAL);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		wslay_event_set_error(ctx, (errno == EAGAIN || errno == EWOULDBLOCK)
		                                   ? WSLAY_ERR_WOULDBLOCK
		                                   : WSLAY_ERR_CALLBACK_FAILURE);
		return -1;
	}
	return r;
}

static void cb_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg, void *user)
{
	struct ws *w = user;
	if (w->mqtt && !w->closing && !wslay_is_ctrl_frame(arg->opcode)) {
		/* MQTT over WebSocket is carried in binary frames only [MQTT-6.0.0-1] */
		if (arg->opcode != WSLAY_BINARY_FRAME)
			mqtt_close(w->mqtt, "MQTT over WebSocket needs binary frames.");
		else
			(void)mqtt_on_bytes(w->mqtt, arg->msg, arg->msg_length);
		return;
	}
	if (!w->conn || w->closing || wslay_is_ctrl_frame(arg->opcode))
		return;
	proto_on_message(w->conn, arg->opcode == WSLAY_BINARY_FRAME, (const char *)arg->msg, arg->msg_length);
}

static const struct wslay_event_callbacks callbacks = {
	.recv_callback = cb_recv,
	.send_callback = cb_send,
	.on_msg_recv_callback = cb_msg,
};

static int ws_send(void *t, int binary, const char *data, size_t len)
{
	struct ws *w = t;
	if (w->dead || w->closing)
		return -1;
	if (wslay_event_get_queued_msg_length(w->ctx) + len > w->set->e->max_send_queue) {
		if (!w->dead)
			log_warn("connection %s is too slow: more than %zu bytes queued, dropped",
			         w->conn ? w->conn->id : "-", w->set->e->max_send_queue);
		w->dead = 1;
		return -1;
	}
	struct wslay_event_msg m = {
		.opcode = binary ? WSLAY_BINARY_FRAME : WSLAY_TEXT_FRAME,
		.msg = (const uint8_t *)data,
		.msg_length = len,
	};
	if (wslay_event_queue_msg(w->ctx, &m) != 0) {
		w->dead = 1;
		return -1;
	}
	return 0;
}

/* wslay sends control frames before queued messages; the close frame waits until the messages
 * queued before it (the disconnected message) are out. */
static void queue_close_when_drained(struct ws *w)
{
	if (!w->closing || w->close_queued || w->dead || wslay_event_get_queued_msg_count(w->ctx) > 0)
		return;
	if (wslay_event_queue_close(w->ctx, w->close_code, (const uint8_t *)w->close_reason, w->close_len) !=
	    0) {
		w->dead = 1;
		return;
	}
	w->close_queued = 1;
}

static void ws_close_cb(void *t, int code, const char *reason)
{
	struct ws *w = t;
	size_t rl = reason ? strlen(reason) : 0;

	w->conn = NULL;
	if (w->dead || w->closing)
		return;
	/* A close frame carries at most 123 bytes of reason; cut at a UTF-8 boundary. */
	if (rl > 123) {
		rl = 123;
		while (rl > 0 && ((unsigned char)reason[rl] & 0xC0) == 0x80)
			rl--;
	}
	if (rl)
		memcpy(w->close_reason, reason, rl);
	w->close_len = rl;
	w->close_code = (uint16_t)code;
	w->closing = 1;
	w->close_deadline = now_ms() + EMU_CLOSE_GRACE_MS;
	queue_close_when_drained(w);
}

const struct hub_transport_ops ws_transport = { ws_send, ws_close_cb };

static int ws_mqtt_send(void *t, const void *data, size_t len)
{
	return ws_send(t, 1, data, len);
}

const struct mqtt_io ws_mqtt_io = { ws_mqtt_send, ws_close_cb };

void ws_attach_mqtt(struct ws *w, struct mqtt_sess *s)
{
	w->mqtt = s;
}

static void ws_destroy(struct ws *w)
{
	struct ws_set *set = w->set;
	if (w->mqtt) {
		mqtt_sess_free(w->mqtt);
		w->mqtt = NULL;
	}
	if (w->conn) {
		log_info("client %s disconnected", w->conn->id);
		hub_conn_remove(w->conn);
		w->conn = NULL;
	}
	epoll_ctl(set->epfd, EPOLL_CTL_DEL, w->fd, NULL);
	if (w->prev)
		w->prev->next = w->next;
	else
		set->all = w->next;
	if (w->next)
		w->next->prev = w->prev;
	set->n--;
	set->e->nws--;
	wslay_event_context_free(w->ctx);
	MHD_upgrade_action(w->urh, MHD_UPGRADE_ACTION_CLOSE);
	set->mhd_dirty = 1;
	free(w->extra);
	free(w);
}

struct ws *ws_open(struct ws_set *set, int fd, struct MHD_UpgradeResponseHandle *urh, const char *extra,
                   size_t extra_len)
{
	struct ws *w = calloc(1, sizeof(*w));
	if (!w)
		goto bad;
	w->tag = WS_EPOLL_TAG;
	w->set = set;
	w->fd = fd;
	w->urh = urh;
	if (extra_len) {
		if (!(w->extra = malloc(extra_len)))
			goto bad;
		memcpy(w->extra, extra, extra_len);
		w->extra_len = extra_len;
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		goto bad;
	if (wslay_event_context_server_init(&w->ctx, &callbacks, w) != 0)
		goto bad;
	wslay_event_config_set_max_recv_msg_length(w->ctx, set->e->max_frame);
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = w };
	if (epoll_ctl(set->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		goto bad;
	w->events = EPOLLIN;
	w->next = set->all;
	if (set->all)
		set->all->prev = w;
	set->all = w;
	set->n++;
	set->e->nws++;
	return w;
bad:
	if (w) {
		if (w->ctx)
			wslay_event_context_free(w->ctx);
		free(w->extra);
		free(w);
	}
	MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
	return NULL;
}

void ws_attach(struct ws *w, struct hub_conn *c)
{
	w->conn = c;
}

void ws_on_events(struct ws *w, uint32_t events)
{
	if (w->dead)
		return;
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		if (wslay_event_recv(w->ctx) != 0) {
			w->dead = 1;
			return;
		}
	}
	if (events & EPOLLOUT) {
		if (wslay_event_send(w->ctx) != 0)
			w->dead = 1;
	}
}

int ws_flush(struct ws_set *set)
{
	uint64_t now = now_ms();
	int next = -1;

	for (struct ws *w = set->all, *nx; w; w = nx) {
		nx = w->next;
		if (w->mqtt && !w->dead && !w->closing) {
			int t = mqtt_tick(w->mqtt, now);
			if (t >= 0 && (next < 0 || t < next))
				next = t;
		}
		if (!w->dead && wslay_event_want_write(w->ctx) && wslay_event_send(w->ctx) != 0)
			w->dead = 1;
		if (!w->dead && w->closing && !w->close_queued) {
			queue_close_when_drained(w);
			if (w->close_queued && wslay_event_send(w->ctx) != 0)
				w->dead = 1;
		}
		if (!w->dead && w->closing) {
			if (now >= w->close_deadline ||
			    (w->close_queued && wslay_event_get_close_sent(w->ctx) &&
			     !wslay_event_want_write(w->ctx) && !wslay_event_want_read(w->ctx)))
				w->dead = 1;
			else if (next < 0 || (int)(w->close_deadline - now) < next)
				next = (int)(w->close_deadline - now);
		}
		if (!w->dead && !wslay_event_want_read(w->ctx) && !wslay_event_want_write(w->ctx))
			w->dead = 1;
		if (w->dead) {
			ws_destroy(w);
			continue;
		}
		uint32_t want = (wslay_event_want_read(w->ctx) ? EPOLLIN : 0) |
		                (wslay_event_want_write(w->ctx) ? EPOLLOUT : 0);
		if (want != w->events) {
			struct epoll_event ev = { .events = want, .data.ptr = w };
			if (epoll_ctl(set->epfd, EPOLL_CTL_MOD, w->fd, &ev) == 0)
				w->events = want;
		}
	}
	return next;
}

void ws_shutdown(struct ws_set *set)
{
	while (set->all) {
		struct ws *w = set->all;
		if (!w->dead && !w->closing &&
		    wslay_event_queue_close(w->ctx, WSLAY_CODE_GOING_AWAY, NULL, 0) == 0)
			(void)wslay_event_send(w->ctx);
		ws_destroy(w);
	}
}
