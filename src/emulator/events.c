/* events.c: the emulator's event-handler calls (events.h). */
#include <config.h>
#include "events.h"
#include "insp.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <time.h>

#include "buf.h"
#include "emu.h"
#include "evsig.h"
#include "hdrline.h"
#include "log.h"
#include "mqtt.h"
#include "ops.h"
#include "pct.h"
#include "proto.h"
#include "url.h"

/* ---- handler specs ---- */

void evh_handler_clear(struct evh_handler *h)
{
	free(h->hub);
	free(h->tmpl);
	free(h->user_list);
	memset(h, 0, sizeof *h);
}

static int set_fail(char *why, size_t whylen, const char *msg)
{
	snprintf(why, whylen, "%s", msg);
	return -1;
}

/* 1 when name is in the comma-separated list (blanks trimmed, case ignored). */
static int in_list(const char *list, const char *name)
{
	size_t nl = strlen(name);

	while (list != NULL && *list != '\0') {
		while (*list == ' ' || *list == ',')
			list++;
		size_t n = strcspn(list, ",");
		size_t m = n;
		while (m > 0 && list[m - 1] == ' ')
			m--;
		if (m == nl && strncasecmp(list, name, nl) == 0)
			return 1;
		list += n;
	}
	return 0;
}

int evh_parse_spec(const char *spec, struct evh_handler *h, char *why, size_t whylen)
{
	const char *eq = strchr(spec, '='), *p, *host;
	char *copy = NULL, *save = NULL, *tok;

	memset(h, 0, sizeof *h);
	if (eq == NULL || eq == spec)
		return set_fail(why, whylen, "--event-handler wants HUB=URL[;user=PATTERN][;system=EVENTS]");
	if ((h->hub = strndup(spec, (size_t)(eq - spec))) == NULL || !ops_valid_hub(h->hub)) {
		evh_handler_clear(h);
		return set_fail(why, whylen, "--event-handler: invalid hub name");
	}
	if ((copy = strdup(eq + 1)) == NULL)
		goto oom;
	for (tok = strtok_r(copy, ";", &save); tok != NULL; tok = strtok_r(NULL, ";", &save)) {
		if (h->tmpl == NULL) {
			if ((h->tmpl = strdup(tok)) == NULL)
				goto oom;
		} else if (strncmp(tok, "user=", 5) == 0) {
			free(h->user_list);
			h->user_list = NULL;
			h->user_all = strcmp(tok + 5, "*") == 0;
			if (!h->user_all && tok[5] != '\0' && (h->user_list = strdup(tok + 5)) == NULL)
				goto oom;
		} else if (strncmp(tok, "system=", 7) == 0) {
			h->sys = 0;
			for (p = tok + 7; *p != '\0';) {
				size_t n = strcspn(p, ",");
				if (n == 7 && strncmp(p, "connect", 7) == 0)
					h->sys |= EVH_SYS_CONNECT;
				else if (n == 9 && strncmp(p, "connected", 9) == 0)
					h->sys |= EVH_SYS_CONNECTED;
				else if (n == 12 && strncmp(p, "disconnected", 12) == 0)
					h->sys |= EVH_SYS_DISCONNECTED;
				else if (n > 0) {
					free(copy);
					evh_handler_clear(h);
					return set_fail(why, whylen,
					                "--event-handler: system= takes connect, connected, "
					                "disconnected");
				}
				p += n;
				if (*p == ',')
					p++;
			}
		} else {
			free(copy);
			evh_handler_clear(h);
			return set_fail(why, whylen,
			                "--event-handler: after the URL only user= and system= may follow");
		}
	}
	free(copy);
	/* the URL: http(s), a host without {hub}/{event} in it */
	if (h->tmpl == NULL || url_scheme(h->tmpl, &host) < 0) {
		evh_handler_clear(h);
		return set_fail(why, whylen, "--event-handler: the URL must be http:// or https://");
	}
	{
		size_t hl = strcspn(host, "/?#");
		if (hl == 0 || memchr(host, '{', hl) != NULL || memchr(host, '@', hl) != NULL) {
			evh_handler_clear(h);
			return set_fail(
			        why, whylen,
			        "--event-handler: the URL's host may not hold {hub}, {event} or user info");
		}
	}
	return 0;
oom:
	free(copy);
	evh_handler_clear(h);
	return set_fail(why, whylen, "out of memory");
}

int evh_handler_wants(const struct evh_handler *h, enum evh_kind kind, const char *event)
{
	switch (kind) {
	case EVH_CONNECT: return (h->sys & EVH_SYS_CONNECT) != 0;
	case EVH_CONNECTED: return (h->sys & EVH_SYS_CONNECTED) != 0;
	case EVH_DISCONNECTED: return (h->sys & EVH_SYS_DISCONNECTED) != 0;
	case EVH_USER: return event != NULL && (h->user_all || in_list(h->user_list, event));
	}
	return 0;
}

char *evh_expand(const char *tmpl, const char *hub, const char *event)
{
	struct buf b;
	const char *p = tmpl;

	buf_init(&b, 0);
	while (*p != '\0') {
		if (strncmp(p, "{hub}", 5) == 0 || strncmp(p, "{event}", 7) == 0) {
			int is_hub = p[1] == 'h';
			const char *v = is_hub ? hub : event;
			if (pct_encode(&b, v, strlen(v)) < 0) {
				buf_free(&b);
				return NULL;
			}
			p += is_hub ? 5 : 7;
		} else {
			if (buf_append(&b, p, 1) < 0) {
				buf_free(&b);
				return NULL;
			}
			p++;
		}
	}
	return buf_steal(&b);
}

/* ---- the engine ---- */

struct evh_sock {
	int tag; /* EVH_EPOLL_TAG */
	struct evh *ev;
	curl_socket_t fd;
	uint32_t events;
};

struct evh_call {
	struct evh *ev;
	struct evh_handler *h;
	struct evh_call *next, *prev; /* in flight (or waiting for the handshake) */
	struct evh_call *wnext;
	int validate; /* the handshake itself */
	int waiting;  /* on h->waitq */
	CURL *easy;
	struct curl_slist *hdrs;
	char *url;
	char *body;
	size_t len;
	struct buf resp;
	int too_large;
	char *rtype, *rstate;
	int rstate_set;
	char *rmqtt[2 * EVH_MQTT_HEADERS_MAX]; /* mqtt-* answer headers: name, value */
	size_t nrmqtt;
	evh_done_fn done;
	void *arg;
	char err[CURL_ERROR_SIZE];
	/* for the inspector: what the call was about and when it started */
	char *ihub, *iconn, *iuser, *iname;
	uint64_t started_ms;
};

struct evh {
	struct emu *e;
	int epfd;
	CURLM *multi;
	long timeout_ms;
	unsigned max_inflight, inflight;
	long curl_timeout; /* ms, -1: none */
	uint64_t curl_at;
	struct evh_handler h[EVH_HANDLERS_MAX];
	size_t nh;
	struct evh_call *calls;
	char origin[300]; /* WebHook-Request-Origin: the emulator's host */
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int sock_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct evh *ev = userp;
	struct evh_sock *k = socketp;
	struct epoll_event e;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (k != NULL) {
			epoll_ctl(ev->epfd, EPOLL_CTL_DEL, s, NULL);
			free(k);
			curl_multi_assign(ev->multi, s, NULL);
		}
		return 0;
	}
	if (k == NULL) {
		if ((k = calloc(1, sizeof *k)) == NULL)
			return -1;
		k->tag = EVH_EPOLL_TAG;
		k->ev = ev;
		k->fd = s;
		curl_multi_assign(ev->multi, s, k);
	}
	memset(&e, 0, sizeof e);
	e.events = (what & CURL_POLL_IN ? EPOLLIN : 0) | (what & CURL_POLL_OUT ? EPOLLOUT : 0);
	e.data.ptr = k;
	if (epoll_ctl(ev->epfd, k->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, s, &e) < 0 &&
	    epoll_ctl(ev->epfd, EPOLL_CTL_ADD, s, &e) < 0)
		return -1;
	k->events = e.events ? e.events : EPOLLIN;
	return 0;
}

static int timer_cb(CURLM *m, long timeout_ms, void *userp)
{
	struct evh *ev = userp;

	(void)m;
	ev->curl_timeout = timeout_ms;
	ev->curl_at = timeout_ms >= 0 ? now_ms() + (uint64_t)timeout_ms : 0;
	return 0;
}

struct evh *evh_new(struct emu *e, int epfd, long timeout_ms, unsigned max_inflight)
{
	struct evh *ev = calloc(1, sizeof *ev);
	const char *colon;
	size_t n;

	if (ev == NULL)
		return NULL;
	ev->e = e;
	ev->epfd = epfd;
	ev->timeout_ms = timeout_ms;
	ev->max_inflight = max_inflight;
	ev->curl_timeout = -1;
	/* the service names its host, without a port */
	colon = e->hostport[0] == '[' ? strchr(e->hostport, ']') : strrchr(e->hostport, ':');
	n = colon != NULL ? (size_t)(colon - e->hostport) + (e->hostport[0] == '[') : strlen(e->hostport);
	snprintf(ev->origin, sizeof ev->origin, "%.*s", (int)n, e->hostport);
	if ((ev->multi = curl_multi_init()) == NULL) {
		free(ev);
		return NULL;
	}
	curl_multi_setopt(ev->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
	curl_multi_setopt(ev->multi, CURLMOPT_SOCKETDATA, ev);
	curl_multi_setopt(ev->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(ev->multi, CURLMOPT_TIMERDATA, ev);
	return ev;
}

int evh_add(struct evh *ev, const char *spec, char *why, size_t whylen)
{
	struct evh_handler h;
	size_t i;

	if (ev->nh == EVH_HANDLERS_MAX)
		return set_fail(why, whylen, "--event-handler: too many");
	if (evh_parse_spec(spec, &h, why, whylen) < 0)
		return -1;
	for (i = 0; i < ev->nh; i++)
		if (strcasecmp(ev->h[i].hub, h.hub) == 0) {
			evh_handler_clear(&h);
			return set_fail(why, whylen, "--event-handler: a second handler for the same hub");
		}
	ev->h[ev->nh++] = h;
	return 0;
}

size_t evh_count(const struct evh *ev)
{
	return ev != NULL ? ev->nh : 0;
}

static struct evh_handler *find(struct evh *ev, const char *hub)
{
	size_t i;

	for (i = 0; ev != NULL && i < ev->nh; i++)
		if (strcasecmp(ev->h[i].hub, hub) == 0)
			return &ev->h[i];
	return NULL;
}

int evh_wants(const struct evh *ev, const char *hub, enum evh_kind kind, const char *event)
{
	size_t i;

	for (i = 0; ev != NULL && i < ev->nh; i++)
		if (strcasecmp(ev->h[i].hub, hub) == 0)
			return evh_handler_wants(&ev->h[i], kind, event);
	return 0;
}

static void rmqtt_clear(struct evh_call *c)
{
	for (size_t i = 0; i < 2 * c->nrmqtt; i++)
		free(c->rmqtt[i]);
	c->nrmqtt = 0;
}

static void call_free(struct evh_call *c)
{
	rmqtt_clear(c);
	if (c->easy != NULL) {
		curl_multi_remove_handle(c->ev->multi, c->easy);
		curl_easy_cleanup(c->easy);
	}
	curl_slist_free_all(c->hdrs);
	free(c->url);
	free(c->body);
	buf_free(&c->resp);
	free(c->rtype);
	free(c->rstate);
	free(c->ihub);
	free(c->iconn);
	free(c->iuser);
	free(c->iname);
	free(c);
}

static void list_add(struct evh *ev, struct evh_call *c)
{
	c->prev = NULL;
	c->next = ev->calls;
	if (ev->calls != NULL)
		ev->calls->prev = c;
	ev->calls = c;
	ev->inflight++;
}

static void list_del(struct evh *ev, struct evh_call *c)
{
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		ev->calls = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	c->next = c->prev = NULL;
	ev->inflight--;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct evh_call *c = arg;
	size_t len = size * n, kl, vl;
	const char *k, *v;
	enum hdrline_kind kind = hdrline_split(p, len, &k, &kl, &v, &vl);

	if (kind == HDRLINE_STATUS) {
		free(c->rtype);
		free(c->rstate);
		c->rtype = c->rstate = NULL;
		c->rstate_set = 0;
		rmqtt_clear(c);
		return len;
	}
	if (kind != HDRLINE_FIELD)
		return len;
	if (kl == 12 && strncasecmp(k, "Content-Type", 12) == 0 && vl < 256) {
		free(c->rtype);
		c->rtype = strndup(v, vl);
	} else if (kl == 18 && strncasecmp(k, "ce-connectionState", 18) == 0 && vl <= EVH_STATE_MAX) {
		free(c->rstate);
		c->rstate = strndup(v, vl);
		c->rstate_set = c->rstate != NULL;
	} else if (kl > 5 && strncasecmp(k, "mqtt-", 5) == 0 && c->nrmqtt < EVH_MQTT_HEADERS_MAX &&
	           vl < 4096) {
		char *nm = strndup(k + 5, kl - 5), *val = strndup(v, vl);
		if (nm && val) {
			c->rmqtt[2 * c->nrmqtt] = nm;
			c->rmqtt[2 * c->nrmqtt + 1] = val;
			c->nrmqtt++;
		} else {
			free(nm);
			free(val);
		}
	} else if (kl == 22 && strncasecmp(k, "WebHook-Allowed-Origin", 22) == 0 && c->validate) {
		/* one value equal to * or to our host (case ignored), as the service wants */
		if ((vl == 1 && v[0] == '*') ||
		    (vl == strlen(c->ev->origin) && strncasecmp(v, c->ev->origin, vl) == 0))
			c->rstate_set = 1; /* reused as "allowed" for the handshake */
	}
	return len;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct evh_call *c = arg;
	size_t len = size * n;

	if (c->resp.len + len > EVH_RESPONSE_MAX) {
		c->too_large = 1;
		return 0;
	}
	return buf_append(&c->resp, p, len) < 0 ? 0 : len;
}

static struct curl_slist *hdr(struct curl_slist *l, int *ok, const char *k, const char *v)
{
	char line[EVH_STATE_MAX + 64];
	struct curl_slist *n;

	if (!*ok || v == NULL)
		return l;
	if ((size_t)snprintf(line, sizeof line, "%s: %s", k, v) >= sizeof line) {
		*ok = 0;
		return l;
	}
	n = curl_slist_append(l, line);
	if (n == NULL)
		*ok = 0;
	return n != NULL ? n : l;
}

static int start(struct evh_call *c)
{
	struct evh *ev = c->ev;

	if ((c->easy = curl_easy_init()) == NULL)
		return -1;
	curl_easy_setopt(c->easy, CURLOPT_URL, c->url);
	curl_easy_setopt(c->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, ev->timeout_ms);
	curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->hdrs);
	curl_easy_setopt(c->easy, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c->easy, CURLOPT_HEADERDATA, c);
	curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(c->easy, CURLOPT_ERRORBUFFER, c->err);
	curl_easy_setopt(c->easy, CURLOPT_PRIVATE, c);
	if (c->validate) {
		curl_easy_setopt(c->easy, CURLOPT_CUSTOMREQUEST, "OPTIONS");
		curl_easy_setopt(c->easy, CURLOPT_NOBODY, 1L);
	} else {
		curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->len);
		curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, c->body != NULL ? c->body : "");
	}
	return curl_multi_add_handle(ev->multi, c->easy) == CURLM_OK ? 0 : -1;
}

/* The handshake for h: OPTIONS to the template with {event} = validate. */
static int start_validation(struct evh *ev, struct evh_handler *h)
{
	struct evh_call *c = calloc(1, sizeof *c);
	int ok = 1;

	if (c == NULL)
		return -1;
	c->ev = ev;
	c->h = h;
	c->validate = 1;
	c->started_ms = now_ms();
	buf_init(&c->resp, 0);
	c->url = evh_expand(h->tmpl, h->hub, "validate");
	c->hdrs = hdr(c->hdrs, &ok, "WebHook-Request-Origin", ev->origin);
	c->hdrs = hdr(c->hdrs, &ok, "ce-awpsversion", "1.0");
	if (c->url == NULL || !ok || start(c) < 0) {
		call_free(c);
		return -1;
	}
	h->vstate = 1;
	list_add(ev, c);
	return 0;
}

static void finish(struct evh_call *c, long status, const char *error)
{
	struct evh_result r;

	memset(&r, 0, sizeof r);
	r.status = status;
	r.content_type = c->rtype;
	r.body = c->resp.data != NULL ? c->resp.data : "";
	r.len = c->resp.len;
	r.state_set = c->rstate_set;
	r.state = c->rstate;
	r.error = error;
	insp_event(c->ev->e->state->insp, c->ihub, c->iconn, c->iuser, c->iname, status,
	           (long)(now_ms() - c->started_ms), error);
	r.mqtt = c->rmqtt;
	r.nmqtt = c->nrmqtt;
	if (c->done != NULL)
		c->done(c->arg, &r);
}

/* The handshake ended: release (or fail) the calls that waited for it. */
static void validated(struct evh *ev, struct evh_handler *h, int ok, const char *why)
{
	struct evh_call *w = h->waitq;
	uint64_t now = now_ms();

	h->waitq = NULL;
	if (ok) {
		h->vstate = 2;
		h->vuntil_ms = now + EVH_REVALIDATE_MS;
		h->vbackoff_ms = 0;
	} else {
		h->vstate = 3;
		h->vbackoff_ms = h->vbackoff_ms ? h->vbackoff_ms * 2 : EVH_RETRY_MIN_MS;
		if (h->vbackoff_ms > EVH_RETRY_MAX_MS)
			h->vbackoff_ms = EVH_RETRY_MAX_MS;
		h->vuntil_ms = now + h->vbackoff_ms;
		log_warn("event handler of hub %s: abuse protection failed: %s", h->hub, why);
	}
	while (w != NULL) {
		struct evh_call *n = w->wnext;
		w->waiting = 0;
		if (!ok || start(w) < 0) {
			finish(w, 0,
			       ok ? "cannot start the call"
			          : "the event handler failed the abuse protection");
			list_del(ev, w);
			call_free(w);
		}
		w = n;
	}
}

static void check_done(struct evh *ev)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(ev->multi, &left)) != NULL) {
		struct evh_call *c = NULL;
		long status = 0;
		CURLcode rc;

		if (m->msg != CURLMSG_DONE)
			continue;
		rc = m->data.result;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&c);
		if (c == NULL)
			continue;
		if (rc == CURLE_OK)
			curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
		list_del(ev, c);
		if (c->validate) {
			char why[CURL_ERROR_SIZE + 64];
			int ok = rc == CURLE_OK && status >= 200 && status < 300 && c->rstate_set;
			if (rc != CURLE_OK)
				snprintf(why, sizeof why, "%s", c->err[0] ? c->err : curl_easy_strerror(rc));
			else
				snprintf(why, sizeof why, "status %ld%s", status,
				         c->rstate_set ? "" : ", no matching WebHook-Allowed-Origin");
			insp_event(ev->e->state->insp, c->h->hub, NULL, NULL, "validate", status,
			           (long)(now_ms() - c->started_ms), ok ? NULL : why);
			validated(ev, c->h, ok, why);
		} else if (rc != CURLE_OK) {
			finish(c, 0,
			       c->too_large                     ? "the answer is too large"
			       : rc == CURLE_OPERATION_TIMEDOUT ? "no answer in time"
			       : c->err[0]                      ? c->err
			                                        : curl_easy_strerror(rc));
		} else {
			finish(c, status, NULL);
		}
		call_free(c);
	}
}

static void ce_time(char *out, size_t n)
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int evh_call(struct evh *ev, const struct evh_req *rq, evh_done_fn done, void *arg)
{
	static const char *const sys_names[] = { "connect", "connected", "disconnected" };
	struct evh_handler *h = find(ev, rq->hub);
	const char *name = rq->kind == EVH_USER ? rq->event : sys_names[rq->kind];
	char type[200], source[1200], id[24], tm[32], sig[EVSIG_VALUE_LEN + 1];
	struct evh_call *c;
	uint64_t now = now_ms();
	int ok = 1;

	if (h == NULL || !evh_handler_wants(h, rq->kind, rq->event) || ev->inflight >= ev->max_inflight)
		return -1;
	if ((c = calloc(1, sizeof *c)) == NULL)
		return -1;
	c->ev = ev;
	c->h = h;
	c->done = done;
	c->arg = arg;
	c->started_ms = now;
	c->ihub = strdup(rq->hub);
	c->iconn = rq->connection ? strdup(rq->connection) : NULL;
	c->iuser = rq->user ? strdup(rq->user) : NULL;
	c->iname = strdup(name);
	buf_init(&c->resp, 0);
	snprintf(type, sizeof type, "azure.webpubsub.%s.%s", rq->kind == EVH_USER ? "user" : "sys", name);
	if (rq->physical)
		snprintf(source, sizeof source, "/hubs/%s/client/%s/%s", rq->hub, rq->connection,
		         rq->physical);
	else
		snprintf(source, sizeof source, "/hubs/%s/client/%s", rq->hub, rq->connection);
	snprintf(id, sizeof id, "%llu", (unsigned long long)rq->ce_id);
	ce_time(tm, sizeof tm);
	if (evsig_value(ev->e->key, ev->e->keylen, rq->connection, sig) < 0)
		ok = 0;
	c->url = evh_expand(h->tmpl, h->hub, name);
	c->hdrs = hdr(c->hdrs, &ok, "Content-Type", rq->content_type);
	c->hdrs = hdr(c->hdrs, &ok, "ce-specversion", "1.0");
	c->hdrs = hdr(c->hdrs, &ok, "ce-awpsversion", "1.0");
	c->hdrs = hdr(c->hdrs, &ok, "ce-type", type);
	c->hdrs = hdr(c->hdrs, &ok, "ce-source", source);
	c->hdrs = hdr(c->hdrs, &ok, "ce-id", id);
	c->hdrs = hdr(c->hdrs, &ok, "ce-time", tm);
	c->hdrs = hdr(c->hdrs, &ok, "ce-signature", sig);
	c->hdrs = hdr(c->hdrs, &ok, "ce-userId", rq->user);
	c->hdrs = hdr(c->hdrs, &ok, "ce-connectionId", rq->connection);
	c->hdrs = hdr(c->hdrs, &ok, "ce-hub", rq->hub);
	c->hdrs = hdr(c->hdrs, &ok, "ce-eventName", name);
	if (rq->kind != EVH_CONNECT)
		c->hdrs = hdr(c->hdrs, &ok, "ce-subprotocol", rq->subprotocol);
	c->hdrs = hdr(c->hdrs, &ok, "ce-connectionState", rq->state);
	c->hdrs = hdr(c->hdrs, &ok, "ce-physicalConnectionId", rq->physical);
	if (rq->kind != EVH_CONNECT)
		c->hdrs = hdr(c->hdrs, &ok, "ce-sessionId", rq->session);
	for (size_t i = 0; ok && i < rq->nextra; i++) {
		struct curl_slist *n = curl_slist_append(c->hdrs, rq->extra_headers[i]);
		if (n == NULL)
			ok = 0;
		else
			c->hdrs = n;
	}
	c->hdrs = hdr(c->hdrs, &ok, "WebHook-Request-Origin", ev->origin);
	if (ok && (c->hdrs = curl_slist_append(c->hdrs, "Expect:")) == NULL)
		ok = 0;
	if (ok && rq->len > 0 && (c->body = malloc(rq->len)) == NULL)
		ok = 0;
	if (!ok || c->url == NULL) {
		call_free(c);
		return -1;
	}
	if (rq->len > 0)
		memcpy(c->body, rq->body, rq->len);
	c->len = rq->len;
	/* the handshake first: once per URL, again after a while; a failed one is retried after a delay
	 * and, until then, the call fails at once */
	if (h->vstate == 2 && now >= h->vuntil_ms)
		h->vstate = 0;
	if (h->vstate == 3 && now >= h->vuntil_ms)
		h->vstate = 0;
	if (h->vstate == 0 && start_validation(ev, h) < 0)
		h->vstate = 3, h->vuntil_ms = now + EVH_RETRY_MIN_MS;
	list_add(ev, c);
	if (h->vstate == 1) {
		c->waiting = 1;
		c->wnext = h->waitq;
		h->waitq = c;
		return 0;
	}
	if (h->vstate == 3 || start(c) < 0) {
		/* done must not run inside evh_call: fail it at the next evh_run */
		c->waiting = 2;
		return 0;
	}
	return 0;
}

int evh_is(const void *ptr)
{
	return ptr != NULL && *(const int *)ptr == EVH_EPOLL_TAG;
}

void evh_on_events(void *ptr, uint32_t events)
{
	struct evh_sock *k = ptr;
	struct evh *ev = k->ev;
	int running, flags = 0;

	if (events & (EPOLLIN | EPOLLHUP))
		flags |= CURL_CSELECT_IN;
	if (events & EPOLLOUT)
		flags |= CURL_CSELECT_OUT;
	if (events & EPOLLERR)
		flags |= CURL_CSELECT_ERR;
	curl_multi_socket_action(ev->multi, k->fd, flags, &running); /* k may be freed inside */
	check_done(ev);
}

int evh_timeout(const struct evh *ev)
{
	uint64_t now;

	if (ev == NULL)
		return -1;
	for (const struct evh_call *c = ev->calls; c != NULL; c = c->next)
		if (c->waiting == 2)
			return 0;
	if (ev->curl_timeout < 0)
		return -1;
	now = now_ms();
	return ev->curl_at <= now ? 0 : (int)(ev->curl_at - now);
}

void evh_run(struct evh *ev)
{
	struct evh_call *c, *n;
	int running;

	if (ev == NULL)
		return;
	for (c = ev->calls; c != NULL; c = n) {
		n = c->next;
		if (c->waiting == 2) {
			list_del(ev, c);
			finish(c, 0,
			       c->h->vstate == 3 ? "the event handler failed the abuse protection"
			                         : "cannot start the call");
			call_free(c);
			n = ev->calls; /* done may have made or ended calls */
		}
	}
	if (ev->curl_timeout >= 0 && now_ms() >= ev->curl_at) {
		ev->curl_timeout = -1;
		curl_multi_socket_action(ev->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	}
	check_done(ev);
}

void evh_free(struct evh *ev)
{
	size_t i;

	if (ev == NULL)
		return;
	while (ev->calls != NULL) {
		struct evh_call *c = ev->calls;
		list_del(ev, c);
		if (!c->validate)
			finish(c, 0, "the emulator is shutting down");
		call_free(c);
	}
	for (i = 0; i < ev->nh; i++)
		evh_handler_clear(&ev->h[i]);
	curl_multi_cleanup(ev->multi);
	free(ev);
}

/* ---- the glue with the hubs ---- */

static const char *proto_name(enum hub_proto p)
{
	return p == HUB_PROTO_JSON       ? PROTO_JSON_V1
	       : p == HUB_PROTO_RELIABLE ? PROTO_JSON_RELIABLE_V1
	       : p == HUB_PROTO_MQTT     ? MQTT_SUBPROTOCOL
	                                 : NULL;
}

static void fill(struct evh_req *rq, struct hub_conn *c, enum evh_kind kind)
{
	memset(rq, 0, sizeof *rq);
	rq->kind = kind;
	rq->hub = c->hub->name;
	rq->connection = c->id;
	rq->user = c->user;
	rq->subprotocol = proto_name(c->proto);
	rq->state = c->ev_state;
	rq->ce_id = c->ev_seq++;
	if (c->mqtt != NULL) {
		rq->physical = c->mqtt->physical;
		rq->session = c->mqtt->session;
	}
}

void evh_connected(struct evh *ev, struct hub_conn *c)
{
	struct evh_req rq;

	if (!evh_wants(ev, c->hub->name, EVH_CONNECTED, NULL))
		return;
	fill(&rq, c, EVH_CONNECTED);
	rq.content_type = "application/json; charset=utf-8";
	rq.body = "{}";
	rq.len = 2;
	if (evh_call(ev, &rq, NULL, NULL) < 0)
		log_warn("connected event of %s not sent: too many calls in flight", c->id);
}

void evh_on_gone(struct hub_conn *c, const char *reason, void *arg)
{
	struct evh *ev = arg;
	struct evh_req rq;
	json_t *j;
	char *s;

	if (!evh_wants(ev, c->hub->name, EVH_DISCONNECTED, NULL))
		return;
	j = json_pack("{s:s}", "reason", reason != NULL ? reason : "");
	if (j != NULL && c->mqtt != NULL) {
		json_t *dp = json_null();
		if (c->mqtt->has_disconnect)
			dp = json_pack("{s:i, s:O?}", "code", (int)c->mqtt->disconnect_code, "userProperties",
			               c->mqtt->disconnect_user_props);
		json_object_set_new(j, "mqtt", json_pack("{s:b, s:o}", "initiatedByClient",
		                                         c->mqtt->initiated_by_client, "disconnectPacket",
		                                         dp ? dp : json_null()));
	}
	s = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (s == NULL)
		return;
	fill(&rq, c, EVH_DISCONNECTED);
	rq.content_type = "application/json; charset=utf-8";
	rq.body = s;
	rq.len = strlen(s);
	if (evh_call(ev, &rq, NULL, NULL) < 0)
		log_warn("disconnected event of %s not sent: too many calls in flight", c->id);
	free(s);
}

/* What a user event's answer needs to find its connection again (it may be gone by then). */
struct user_wait {
	struct evh *ev;
	char *hub, *conn;
	int has_ack;
	long long ack_id;
};

static void user_done(void *arg, const struct evh_result *r)
{
	struct user_wait *u = arg;
	struct hub *h = hub_get(u->ev->e->state, u->hub, 0);
	struct hub_conn *c = h != NULL ? hub_conn_find(h, u->conn) : NULL;

	if (c == NULL)
		goto out;
	if (r->state_set) {
		free(c->ev_state);
		c->ev_state = r->state != NULL && r->state[0] != '\0' ? strdup(r->state) : NULL;
	}
	if (r->status >= 200 && r->status < 300) {
		enum hub_dtype dt = HUB_DT_BINARY;
		struct hub_msg m;
		char err[128];

		if (r->len > 0 && r->status != 204) {
			if (r->content_type == NULL ||
			    proto_dtype_from_content_type(r->content_type, &dt) < 0)
				dt = HUB_DT_BINARY;
			if (proto_msg_from_body(&m, dt, r->body, r->len, err, sizeof err) == 0)
				proto_deliver(c, &m);
			else
				log_warn("event handler answer for %s is not a valid %s message: %s", c->id,
				         dt == HUB_DT_JSON ? "json" : "text", err);
			proto_msg_release(&m);
		}
		if (u->has_ack)
			proto_ack(c, u->ack_id, NULL, NULL);
	} else if (c->proto != HUB_PROTO_SIMPLE) {
		if (u->has_ack)
			proto_ack(c, u->ack_id, "InternalServerError",
			          r->status ? "The event handler answered with an error."
			                    : "The event handler did not answer.");
	} else {
		/* a simple client has no ack: the service closes it */
		const struct hub_transport_ops *tops = c->hub->state->tops;
		c->gone_why = "The event handler failed.";
		if (tops != NULL && c->transport != NULL)
			tops->close(c->transport, 1011, "The event handler failed.");
		hub_conn_remove(c);
	}
out:
	free(u->hub);
	free(u->conn);
	free(u);
}

int evh_user_event(struct evh *ev, struct hub_conn *c, const char *event, enum hub_dtype dtype,
                   const char *data, size_t len, int has_ack, long long ack_id)
{
	static const char *const types[] = { "text/plain; charset=utf-8", "application/json",
		                             "application/octet-stream" };
	struct user_wait *u;
	struct evh_req rq;

	if (!evh_wants(ev, c->hub->name, EVH_USER, event))
		return 0;
	if ((u = calloc(1, sizeof *u)) == NULL || (u->hub = strdup(c->hub->name)) == NULL ||
	    (u->conn = strdup(c->id)) == NULL) {
		if (u != NULL) {
			free(u->hub);
			free(u);
		}
		if (has_ack)
			proto_ack(c, ack_id, "InternalServerError", "Out of memory.");
		return 1;
	}
	u->ev = ev;
	u->has_ack = has_ack;
	u->ack_id = ack_id;
	fill(&rq, c, EVH_USER);
	rq.event = event;
	rq.content_type = types[dtype];
	rq.body = data;
	rq.len = len;
	if (evh_call(ev, &rq, user_done, u) < 0) {
		if (has_ack)
			proto_ack(c, ack_id, "InternalServerError",
			          "Too many event handler calls in flight.");
		free(u->hub);
		free(u->conn);
		free(u);
	}
	return 1;
}
