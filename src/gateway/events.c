/* events.c: the events listener (events.h): the abuse-protection handshake, ce-signature and the
 * consistency of the ce-* headers checked before the body is read, the verified call forwarded to the
 * application through the upstream's curl multi handle, the application's answer passed back. */
#include <config.h>
#include "events.h"

#include <curl/curl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "cfg.h"
#include "cred.h"
#include "evsig.h"
#include "hdrline.h"
#include "listen.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"
#include "ops.h"
#include "upstream.h"
#include "url.h"

/* ---- configuration ---- */

#define S struct events_cfg

static int check_forward(void *field, void *obj, const config_setting_t *m, struct cfgtab_err *e)
{
	struct events_cfg *c = obj;
	const char *v = *(char **)field, *host;
	size_t n = strlen(v);

	c->fwd_unix[0] = c->fwd_base[0] = '\0';
	if (strncmp(v, "unix:", 5) == 0) {
		if (v[5] != '/' || n - 5 >= sizeof c->fwd_unix)
			return cfgtab_fail(e, m, "unix: needs an absolute path of at most 107 bytes");
		memcpy(c->fwd_unix, v + 5, n - 4);
		snprintf(c->fwd_base, sizeof c->fwd_base, "http://localhost");
		return 0;
	}
	if (url_scheme(v, &host) != 0)
		return cfgtab_fail(e, m, "must be unix:/PATH or http://HOST:PORT on a loopback host");
	{
		const char *end = host + strcspn(host, "/?#"), *he = url_host_end(host, end);
		if (!url_host_is_loopback(host, (size_t)(he - host)) || strchr(host, '@') != NULL ||
		    (*end != '\0' && *end != '/') || strpbrk(host, "?#") != NULL)
			return cfgtab_fail(
			        e, m,
			        "must be unix:/PATH or http://HOST:PORT[/PATH] on a loopback host (no "
			        "query)");
	}
	while (n > 0 && v[n - 1] == '/')
		n--;
	if (n >= sizeof c->fwd_base)
		return cfgtab_fail(e, m, "too long");
	memcpy(c->fwd_base, v, n);
	c->fwd_base[n] = '\0';
	return 0;
}

static int check_path(void *field, void *obj, const config_setting_t *m, struct cfgtab_err *e)
{
	char *v = *(char **)field;
	size_t n = strlen(v);

	(void)obj;
	if (v[0] != '/' || strpbrk(v, "?# ") != NULL)
		return cfgtab_fail(e, m, "must be a path starting with '/', without query or blanks");
	while (n > 1 && v[n - 1] == '/') /* "/eventhandler/" serves the same as "/eventhandler" */
		v[--n] = '\0';
	return 0;
}

static int check_events(void *obj, const config_setting_t *s, struct cfgtab_err *e)
{
	struct events_cfg *c = obj;
	const config_setting_t *l = s != NULL ? config_setting_get_member(s, "listen") : NULL;
	size_t i;

	if (s == NULL)
		return 0;
	if (c->nlisten == 0)
		return cfgtab_fail_member(e, s, "listen",
		                          "missing (the address the service's calls arrive on)");
	if (c->forward == NULL)
		return cfgtab_fail_member(e, s, "forward", "missing (where the verified calls go)");
	for (i = 0; i < c->nlisten; i++) {
		struct sockaddr_storage ss;
		socklen_t sslen;
		char why[128];
		int loopback;

		if (strncmp(c->listen[i], "unix:", 5) == 0) {
			if (c->listen[i][5] != '/' || strlen(c->listen[i] + 5) > 107) {
				snprintf(e->key, sizeof e->key, "events.listen");
				return cfgtab_fail_entry(e, l, i,
				                         "unix: needs an absolute path of at most 107 bytes");
			}
			continue;
		}
		if (listen_parse_tcp(c->listen[i], c->allow_non_loopback, &ss, &sslen, &loopback, why,
		                     sizeof why) < 0) {
			snprintf(e->key, sizeof e->key, "events.listen");
			return cfgtab_fail_entry(e, l, i, "%s", why);
		}
	}
	return 0;
}

static const struct cfgtab_key events_keys[] = {
	CFGTAB_STRINGS_KEY(
	        S, listen, nlisten, "listen", EVENTS_LISTEN_MAX, 300, CFGTAB_RESTART | CFGTAB_SHOWN, NULL,
	        "[ \"127.0.0.1:7081\" ]",
	        "where the service's calls arrive: \"HOST:PORT\" (loopback unless allow_non_loopback) "
	        "or \"unix:/PATH\""),
	CFGTAB_BOOL_KEY(S, allow_non_loopback, "allow_non_loopback", 0, CFGTAB_RESTART,
	                "accept a TCP listen address that is not loopback (logged as a warning)"),
	CFGTAB_STRING_KEY(S, forward, "forward", NULL, EVENTS_FORWARD_MAX - 1, CFGTAB_SHOWN, check_forward,
	                  "\"unix:/run/app/events.sock\"",
	                  "the application: \"unix:/PATH\" or \"http://127.0.0.1:PORT[/PREFIX]\""),
	CFGTAB_STRING_KEY(S, path, "path", "/eventhandler", EVENTS_PATH_MAX - 1, 0, check_path, NULL,
	                  "the path the service calls: it and the paths below it are served (404 elsewhere)"),
	CFGTAB_INT_KEY(S, timeout_ms, "timeout_ms", 5000, 100, 120000, 0,
	               "the application's answer to one call; past it the service gets 504"),
	CFGTAB_INT_KEY(S, max_body_bytes, "max_body_bytes", 1024L * 1024, 1024, 16L * 1024 * 1024, 0,
	               "a call's body and the application's answer (413 / 502 beyond)"),
	CFGTAB_INT_KEY(S, max_inflight, "max_inflight", 1024, 1, 100000, 0,
	               "calls waiting on the application at once (503 beyond)"),
	CFGTAB_INT_KEY(S, max_connections, "max_connections", 1024, 1, 65536, CFGTAB_RESTART,
	               "connections from the service per listener"),
	CFGTAB_STRING_KEY(S, secondary_key_file, "secondary_key_file", NULL, 4096, 0, NULL,
	                  "\"secondary-key\"",
	                  "the resource's other access key: calls signed with either verify (key rotation)"),
};
#undef S

const struct cfgtab_section events_cfg_section = CFGTAB_SECTION(
        "events", struct events_cfg, events_keys, check_events,
        "The service's calls to the application's event handler (connect, messages, disconnect). wpsgated\n"
        "answers the abuse-protection OPTIONS, checks ce-signature against every key it holds and that the\n"
        "ce-* headers agree, and forwards only what it verified, without the signature, to the application.\n"
        "Point the hub's event handler URL at this listener (behind TLS: see wpsgated(8), EVENTS). Needs an\n"
        "access key: with upstream.entra it is refused.");

/* ---- the pure parts ---- */

static const char *const kind_labels[] = { "connect", "connected", "disconnected",
	                                   "user",    "validate",  "unknown" };

const char *events_kind_label(enum events_kind k)
{
	return (unsigned)k <= EVK_UNKNOWN ? kind_labels[k] : "unknown";
}

static int copy_hdr(char *dst, size_t size, const char *v)
{
	size_t n = strlen(v);

	if (n == 0 || n >= size)
		return -1;
	memcpy(dst, v, n + 1);
	return 0;
}

/* An event name as the service writes it: letters, digits and a few marks, no blanks or slashes. */
static int name_ok(const char *s)
{
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      *s == '_' || *s == '-' || *s == '.'))
			return 0;
	return 1;
}

int events_parse_id(const struct events_headers *h, struct events_id *id, char *why, size_t whylen)
{
	static const char sys[] = "azure.webpubsub.sys.", user[] = "azure.webpubsub.user.";
	char want[64 + EVENTS_HUB_MAX + EVENTS_ID_MAX];
	size_t wl;

	memset(id, 0, sizeof *id);
	id->kind = EVK_UNKNOWN;
#define NEED(v, name)                                                                                        \
	if ((v) == NULL || (v)[0] == '\0') {                                                                 \
		snprintf(why, whylen, "the header " name " is missing");                                     \
		return -1;                                                                                   \
	}
	NEED(h->specversion, "ce-specversion");
	NEED(h->awpsversion, "ce-awpsversion");
	NEED(h->type, "ce-type");
	NEED(h->source, "ce-source");
	NEED(h->event_name, "ce-eventName");
	NEED(h->hub, "ce-hub");
	NEED(h->connection, "ce-connectionId");
#undef NEED
	if (strcmp(h->specversion, "1.0") != 0 || strcmp(h->awpsversion, "1.0") != 0) {
		snprintf(why, whylen, "ce-specversion and ce-awpsversion must be 1.0");
		return -1;
	}
	if (copy_hdr(id->event, sizeof id->event, h->event_name) < 0 || !name_ok(id->event)) {
		snprintf(why, whylen, "ce-eventName is not an event name");
		return -1;
	}
	if (copy_hdr(id->hub, sizeof id->hub, h->hub) < 0 || !ops_valid_hub(id->hub)) {
		snprintf(why, whylen, "ce-hub is not a hub name");
		return -1;
	}
	if (copy_hdr(id->connection, sizeof id->connection, h->connection) < 0 ||
	    strpbrk(id->connection, "/ ,") != NULL) {
		snprintf(why, whylen, "ce-connectionId is not a connection id");
		return -1;
	}
	if (h->user != NULL && h->user[0] != '\0' && copy_hdr(id->user, sizeof id->user, h->user) < 0) {
		snprintf(why, whylen, "ce-userId is longer than %d bytes", EVENTS_ID_MAX);
		return -1;
	}
	/* ce-type and ce-eventName name the same event */
	if (strncmp(h->type, sys, sizeof sys - 1) == 0) {
		const char *t = h->type + sizeof sys - 1;
		if (strcmp(t, "connect") == 0)
			id->kind = EVK_CONNECT;
		else if (strcmp(t, "connected") == 0)
			id->kind = EVK_CONNECTED;
		else if (strcmp(t, "disconnected") == 0)
			id->kind = EVK_DISCONNECTED;
		if (id->kind == EVK_UNKNOWN || strcmp(t, id->event) != 0) {
			snprintf(why, whylen, "ce-type and ce-eventName do not name the same system event");
			return -1;
		}
	} else if (strncmp(h->type, user, sizeof user - 1) == 0 &&
	           strcmp(h->type + sizeof user - 1, id->event) == 0) {
		id->kind = EVK_USER;
	} else {
		snprintf(why, whylen,
		         "ce-type is not azure.webpubsub.sys.* or azure.webpubsub.user.<ce-eventName>");
		return -1;
	}
	/* ce-source is /hubs/{hub}/client/{connectionId} (MQTT: one more segment, the physical
	 * connection); some of the service's documents show /client/{connectionId} for user events */
	wl = (size_t)snprintf(want, sizeof want, "/hubs/%s/client/%s", id->hub, id->connection);
	if (!(strncmp(h->source, want, wl) == 0 && (h->source[wl] == '\0' || h->source[wl] == '/')) &&
	    !(id->kind == EVK_USER && strncmp(h->source, "/client/", 8) == 0 &&
	      strcmp(h->source + 8, id->connection) == 0)) {
		snprintf(why, whylen, "ce-source does not name ce-hub and ce-connectionId");
		return -1;
	}
	return 0;
}

int events_origin_ok(const char *origin, const char *host)
{
	size_t hl = strlen(host);
	const char *p = origin;

	if (origin == NULL || hl == 0)
		return 0;
	while (*p != '\0') {
		size_t n;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		n = strcspn(p, ", \t");
		if (n == hl && strncasecmp(p, host, hl) == 0)
			return 1;
		p += n;
	}
	return 0;
}

int events_endpoint_host(const char *endpoint, char *out, size_t outlen)
{
	const char *host, *end, *he;
	size_t n;

	if (endpoint == NULL || url_scheme(endpoint, &host) < 0)
		return -1;
	end = host + strcspn(host, "/?#");
	he = url_host_end(host, end);
	n = (size_t)(he - host);
	if (n == 0 || n >= outlen)
		return -1;
	memcpy(out, host, n);
	out[n] = '\0';
	return 0;
}

/* ---- the listener ---- */

enum verdict {
	V_FORWARDED,
	V_VALIDATED,
	V_UNSIGNED,
	V_BAD_SIGNATURE,
	V_MALFORMED,
	V_WRONG_ORIGIN,
	V_TOO_LARGE,
	V_BUSY,
	V_APP_TIMEOUT,
	V_APP_UNREACHABLE,
	V_SHUTTING_DOWN,
	V_NOT_FOUND,
	V__COUNT
};
static const char *const verdict_labels[V__COUNT] = {
	"forwarded", "validated", "unsigned",    "bad_signature",   "malformed",     "wrong_origin",
	"too_large", "busy",      "app_timeout", "app_unreachable", "shutting_down", "not_found",
};

struct ev_hdr {
	char *name, *value;
};

struct ev_call {
	struct events *ev;
	struct MHD_Connection *conn;
	struct ev_call *prev, *next; /* waiting on the application */
	struct events_id id;
	int first_done;
	int suspended;
	int ready; /* the answer is in status/rbody/rhdrs, to be queued */
	int replied;
	int too_large;
	enum verdict verdict;
	struct buf body;
	size_t body_max;
	uint64_t t0_ms, fwd_us;
	long timeout_ms;
	/* the forwarded request and its answer */
	CURL *easy;
	struct curl_slist *req_hdrs;
	char *url;
	int status;
	long app_status;
	struct buf resp;
	int resp_too_large;
	char *rtype;
	struct ev_hdr rhdrs[EVENTS_PASSBACK_MAX];
	size_t nrhdrs;
};

struct events {
	struct loop *loop;
	struct up *up;
	const struct cfg *cfg;
	const struct cred *cred;
	char host[EVENTS_HOST_MAX];      /* the service's host: the one allowed origin */
	char authority[EVENTS_HOST_MAX]; /* host:port as written in the endpoint (the emulator's origin) */
	unsigned inflight;
	int draining;
	struct ev_call *waiting;
};

static void set_origin(struct events *ev)
{
	const char *ep = ev->cred != NULL ? ev->cred->endpoint : NULL, *h;

	ev->host[0] = ev->authority[0] = '\0';
	if (events_endpoint_host(ep, ev->host, sizeof ev->host) < 0)
		return;
	if (url_scheme(ep, &h) >= 0) {
		size_t n = strcspn(h, "/?#");
		if (n < sizeof ev->authority) {
			memcpy(ev->authority, h, n);
			ev->authority[n] = '\0';
		}
	}
}

static int foreign_done(void *arg, void *easy, int rc);

struct events *events_new(struct loop *l, struct up *up, const struct cfg *cfg, const struct cred *cred)
{
	struct events *ev = calloc(1, sizeof *ev);

	if (ev == NULL)
		return NULL;
	ev->loop = l;
	ev->up = up;
	ev->cfg = cfg;
	ev->cred = cred;
	set_origin(ev);
	up_set_foreign(up, foreign_done, ev);
	metrics_events_enable(kind_labels, EVK_UNKNOWN + 1, verdict_labels, V__COUNT);
	return ev;
}

void events_configure(struct events *ev, const struct cfg *cfg, const struct cred *cred)
{
	ev->cfg = cfg;
	ev->cred = cred;
	set_origin(ev);
}

void events_set_draining(struct events *ev, int on)
{
	ev->draining = on;
}

unsigned events_inflight(const struct events *ev)
{
	return ev != NULL ? ev->inflight : 0;
}

static void call_unlink(struct ev_call *c)
{
	struct events *ev = c->ev;

	if (c->easy == NULL)
		return;
	curl_multi_remove_handle(up_multi(ev->up), c->easy);
	curl_easy_cleanup(c->easy);
	c->easy = NULL;
	curl_slist_free_all(c->req_hdrs);
	c->req_hdrs = NULL;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		ev->waiting = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	ev->inflight--;
}

static void call_free(struct ev_call *c)
{
	size_t i;

	if (c == NULL)
		return;
	call_unlink(c);
	curl_slist_free_all(c->req_hdrs); /* built but never sent (a failed start) */
	buf_free(&c->body);
	buf_free(&c->resp);
	free(c->url);
	free(c->rtype);
	for (i = 0; i < c->nrhdrs; i++) {
		free(c->rhdrs[i].name);
		free(c->rhdrs[i].value);
	}
	free(c);
}

/* The answer to queue: a JSON error body. */
static void set_error(struct ev_call *c, enum verdict v, int status, const char *code, const char *fmt, ...)
        __attribute__((format(printf, 5, 6)));
static void set_error(struct ev_call *c, enum verdict v, int status, const char *code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	json_t *j;
	char *s;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	c->verdict = v;
	c->status = status;
	buf_reset(&c->resp);
	j = json_pack("{s:s,s:s}", "code", code, "message", msg);
	s = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (s != NULL) {
		(void)buf_puts(&c->resp, s);
		free(s);
	}
	free(c->rtype);
	c->rtype = strdup("application/json");
	c->ready = 1;
}

static enum MHD_Result queue(struct ev_call *c)
{
	static char empty[1];
	struct MHD_Response *r;
	enum MHD_Result rc;
	size_t len = c->resp.len, i;
	char *body = len > 0 ? buf_steal(&c->resp) : NULL;

	r = MHD_create_response_from_buffer(len, body != NULL ? body : empty,
	                                    body != NULL ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	if (r == NULL) {
		free(body);
		return MHD_NO;
	}
	if (c->rtype != NULL)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, c->rtype);
	for (i = 0; i < c->nrhdrs; i++)
		MHD_add_response_header(r, c->rhdrs[i].name, c->rhdrs[i].value);
	if (c->status == 405)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "OPTIONS, POST");
	rc = MHD_queue_response(c->conn, (unsigned)c->status, r);
	MHD_destroy_response(r);
	c->replied = 1;
	return rc;
}

/* ---- the abuse-protection handshake ---- */

static void validate(struct ev_call *c)
{
	struct events *ev = c->ev;
	const char *origin = MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND, "WebHook-Request-Origin");

	c->id.kind = EVK_VALIDATE;
	if (origin == NULL || origin[0] == '\0') {
		set_error(c, V_MALFORMED, 400, "InvalidRequest",
		          "the header WebHook-Request-Origin is missing");
		return;
	}
	if (!events_origin_ok(origin, ev->host) && !events_origin_ok(origin, ev->authority)) {
		set_error(c, V_WRONG_ORIGIN, 400, "InvalidOrigin",
		          "WebHook-Request-Origin does not name the service this gateway serves");
		return;
	}
	c->verdict = V_VALIDATED;
	c->status = 200;
	c->rhdrs[0].name = strdup("WebHook-Allowed-Origin");
	c->rhdrs[0].value = strdup(events_origin_ok(origin, ev->host) ? ev->host : ev->authority);
	if (c->rhdrs[0].name != NULL && c->rhdrs[0].value != NULL)
		c->nrhdrs = 1;
	c->ready = 1;
}

/* ---- the checks of a POST, before its body is read ---- */

struct sig_acc {
	struct buf b;
	int lines;
	int repeated; /* a header that names the call appears more than once */
	unsigned seen;
};

/* The headers that say which call this is: each must appear once at most, or the gateway and the app
 * could read different ones (the signature is checked against the first). */
static const char *const single_headers[] = {
	"ce-specversion", "ce-awpsversion",  "ce-type",   "ce-source",          "ce-eventName",
	"ce-hub",         "ce-connectionId", "ce-userId", "ce-connectionState", "WebHook-Request-Origin",
	"Content-Type"
};

static enum MHD_Result collect_sig(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct sig_acc *a = cls;

	size_t i;

	(void)kind;
	if (strcasecmp(key, "ce-signature") == 0 && value != NULL) {
		if (a->lines++ > 0)
			(void)buf_puts(&a->b, ",");
		(void)buf_puts(&a->b, value);
	}
	for (i = 0; i < sizeof single_headers / sizeof single_headers[0]; i++)
		if (strcasecmp(key, single_headers[i]) == 0) {
			if (a->seen & (1u << i))
				a->repeated = 1;
			a->seen |= 1u << i;
		}
	return MHD_YES;
}

static void check_post(struct ev_call *c)
{
	struct events *ev = c->ev;
	const struct events_cfg *ec = &ev->cfg->events;
	struct events_headers h;
	struct sig_acc sa;
	const char *keys[2];
	size_t keylens[2], nkeys = 0;
	const char *cl;
	char why[200];
	int ok;

#define H(name) MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND, name)
	h.specversion = H("ce-specversion");
	h.awpsversion = H("ce-awpsversion");
	h.type = H("ce-type");
	h.source = H("ce-source");
	h.event_name = H("ce-eventName");
	h.hub = H("ce-hub");
	h.connection = H("ce-connectionId");
	h.user = H("ce-userId");
	h.origin = H("WebHook-Request-Origin");
	cl = H(MHD_HTTP_HEADER_CONTENT_LENGTH);
#undef H
	if (cl != NULL && strtoull(cl, NULL, 10) > (unsigned long long)ec->max_body_bytes) {
		set_error(c, V_TOO_LARGE, 413, "PayloadTooLarge",
		          "the body is larger than events.max_body_bytes (%ld)", ec->max_body_bytes);
		return;
	}
	if (events_parse_id(&h, &c->id, why, sizeof why) < 0) {
		set_error(c, V_MALFORMED, 400, "InvalidRequest", "%s", why);
		return;
	}
	if (h.origin == NULL ||
	    (!events_origin_ok(h.origin, ev->host) && !events_origin_ok(h.origin, ev->authority))) {
		set_error(c, V_WRONG_ORIGIN, 400, "InvalidOrigin",
		          "WebHook-Request-Origin does not name the service this gateway serves");
		return;
	}
	memset(&sa, 0, sizeof sa);
	buf_init(&sa.b, 0);
	MHD_get_connection_values(c->conn, MHD_HEADER_KIND, collect_sig, &sa);
	if (sa.repeated) {
		buf_free(&sa.b);
		set_error(c, V_MALFORMED, 400, "InvalidRequest",
		          "a ce-* header (or WebHook-Request-Origin, Content-Type) appears more than once");
		return;
	}
	if (sa.lines == 0) {
		buf_free(&sa.b);
		set_error(c, V_UNSIGNED, 401, "Unauthorized", "the call carries no ce-signature");
		return;
	}
	if (ev->cred->key != NULL) {
		keys[nkeys] = ev->cred->key;
		keylens[nkeys++] = ev->cred->keylen;
	}
	if (ev->cred->key2 != NULL) {
		keys[nkeys] = ev->cred->key2;
		keylens[nkeys++] = ev->cred->key2len;
	}
	ok = evsig_verify(sa.b.data != NULL ? sa.b.data : "", c->id.connection, keys, keylens, nkeys);
	buf_free(&sa.b);
	if (ok < 0) {
		set_error(c, V_MALFORMED, 400, "InvalidSignature",
		          "ce-signature is not a list of sha256=<hex> items");
		return;
	}
	if (ok == 0) {
		set_error(c, V_BAD_SIGNATURE, 401, "Unauthorized",
		          "ce-signature does not match ce-connectionId with any key of the resource");
		return;
	}
	if (ev->inflight >= (unsigned)ec->max_inflight) {
		set_error(c, V_BUSY, 503, "ServerBusy",
		          "events.max_inflight calls are waiting on the application");
		return;
	}
}

/* ---- forwarding ---- */

/* Request headers not forwarded: hop-by-hop ones, the signature, and ours (an X-Wpsgate-* header the
 * application sees is always the gateway's). */
static int hdr_dropped(const char *k)
{
	static const char *const drop[] = { "Host",
		                            "Content-Length",
		                            "Transfer-Encoding",
		                            "Connection",
		                            "Keep-Alive",
		                            "Expect",
		                            "TE",
		                            "Upgrade",
		                            "Trailer",
		                            "ce-signature",
		                            "Authorization",
		                            "Proxy-Authorization",
		                            "Proxy-Connection" };
	size_t i;

	if (strncasecmp(k, "X-Wpsgate-", 10) == 0)
		return 1;
	for (i = 0; i < sizeof drop / sizeof drop[0]; i++)
		if (strcasecmp(k, drop[i]) == 0)
			return 1;
	return 0;
}

static struct curl_slist *add_line(struct curl_slist *l, const char *k, const char *v, int *ok)
{
	struct buf b;
	struct curl_slist *n;

	if (!*ok)
		return l;
	buf_init(&b, 0);
	if (buf_printf(&b, v[0] != '\0' ? "%s: %s" : "%s;", k, v) < 0) { /* "K;": an empty value */
		*ok = 0;
		return l;
	}
	n = curl_slist_append(l, b.data);
	buf_free(&b);
	if (n == NULL)
		*ok = 0;
	return n != NULL ? n : l;
}

static struct curl_slist *raw_line(struct curl_slist *l, const char *line, int *ok)
{
	struct curl_slist *n;

	if (!*ok)
		return l;
	if ((n = curl_slist_append(l, line)) == NULL)
		*ok = 0;
	return n != NULL ? n : l;
}

struct hdr_acc {
	struct curl_slist *l;
	int ok;
};

static enum MHD_Result collect_hdr(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct hdr_acc *a = cls;

	(void)kind;
	if (!hdr_dropped(key) && value != NULL && strlen(value) <= EVENTS_HEADER_MAX)
		a->l = add_line(a->l, key, value, &a->ok);
	return MHD_YES;
}

struct q_acc {
	struct buf *b;
	int n;
};

static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct q_acc *a = cls;

	(void)kind;
	(void)buf_puts(a->b, a->n++ ? "&" : "?");
	(void)buf_puts(a->b, key);
	if (value != NULL) {
		(void)buf_puts(a->b, "=");
		(void)buf_puts(a->b, value);
	}
	return MHD_YES;
}

/* Response headers passed back to the service: the media type, the state, cookies, MQTT's and the
 * metadata ones (webpubsub-events.md, 7). */
static int hdr_passed(const char *k, size_t n)
{
	return (n == 18 && strncasecmp(k, "ce-connectionState", n) == 0) ||
	       (n == 10 && strncasecmp(k, "Set-Cookie", n) == 0) ||
	       (n > 5 && strncasecmp(k, "mqtt-", 5) == 0) ||
	       (n > 24 && strncasecmp(k, "x-webpubsub-metadata-", 21) == 0);
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	struct ev_call *c = arg;
	size_t len = size * n, kl, vl;
	const char *k, *v;
	enum hdrline_kind kind = hdrline_split(p, len, &k, &kl, &v, &vl);

	if (kind == HDRLINE_STATUS) { /* a new head (after a 100): forget the last */
		while (c->nrhdrs > 0) {
			c->nrhdrs--;
			free(c->rhdrs[c->nrhdrs].name);
			free(c->rhdrs[c->nrhdrs].value);
		}
		free(c->rtype);
		c->rtype = NULL;
		return len;
	}
	if (kind != HDRLINE_FIELD)
		return len;
	if (vl > EVENTS_HEADER_MAX)
		return len;
	if (kl == 12 && strncasecmp(k, "Content-Type", 12) == 0) {
		free(c->rtype);
		c->rtype = strndup(v, vl);
	} else if (hdr_passed(k, kl) && c->nrhdrs < EVENTS_PASSBACK_MAX) {
		c->rhdrs[c->nrhdrs].name = strndup(k, kl);
		c->rhdrs[c->nrhdrs].value = strndup(v, vl);
		if (c->rhdrs[c->nrhdrs].name == NULL || c->rhdrs[c->nrhdrs].value == NULL) {
			free(c->rhdrs[c->nrhdrs].name);
			free(c->rhdrs[c->nrhdrs].value);
		} else {
			c->nrhdrs++;
		}
	}
	return len;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	struct ev_call *c = arg;
	size_t len = size * n;

	if (c->resp.len + len > c->body_max) {
		c->resp_too_large = 1;
		return 0; /* CURLE_WRITE_ERROR */
	}
	return buf_append(&c->resp, p, len) < 0 ? 0 : len;
}

static void forward(struct ev_call *c, const char *url)
{
	struct events *ev = c->ev;
	const struct events_cfg *ec = &ev->cfg->events;
	struct hdr_acc ha = { NULL, 1 };
	struct q_acc qa;
	struct buf u;

	buf_init(&u, 0);
	qa.b = &u;
	qa.n = 0;
	if (buf_puts(&u, ec->fwd_base) < 0 || buf_puts(&u, url) < 0) {
		set_error(c, V_APP_UNREACHABLE, 500, "InternalError", "out of memory");
		buf_free(&u);
		return;
	}
	MHD_get_connection_values(c->conn, MHD_GET_ARGUMENT_KIND, collect_arg, &qa);
	c->url = buf_steal(&u);
	buf_free(&u);
	MHD_get_connection_values(c->conn, MHD_HEADER_KIND, collect_hdr, &ha);
	ha.l = add_line(ha.l, "X-Wpsgate-Verified", "ce-signature", &ha.ok);
	ha.l = add_line(ha.l, "X-Wpsgate-Event", c->id.event, &ha.ok);
	ha.l = add_line(ha.l, "X-Wpsgate-Hub", c->id.hub, &ha.ok);
	ha.l = add_line(ha.l, "X-Wpsgate-Connection-Id", c->id.connection, &ha.ok);
	if (c->id.user[0] != '\0')
		ha.l = add_line(ha.l, "X-Wpsgate-User-Id", c->id.user, &ha.ok);
	if (MHD_lookup_connection_value(c->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE) == NULL)
		ha.l = raw_line(ha.l, "Content-Type:", &ha.ok); /* no form-urlencoded default */
	ha.l = raw_line(ha.l, "Expect:", &ha.ok);               /* no 100-continue round trip */
	c->req_hdrs = ha.l;
	if (!ha.ok || c->url == NULL || (c->easy = curl_easy_init()) == NULL) {
		set_error(c, V_APP_UNREACHABLE, 500, "InternalError", "out of memory");
		return;
	}
	curl_easy_setopt(c->easy, CURLOPT_URL, c->url);
	if (ec->fwd_unix[0] != '\0')
		curl_easy_setopt(c->easy, CURLOPT_UNIX_SOCKET_PATH, ec->fwd_unix);
	curl_easy_setopt(c->easy, CURLOPT_PROTOCOLS_STR, "http");
	curl_easy_setopt(c->easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, c->timeout_ms);
	curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->req_hdrs);
	curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)c->body.len);
	curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, c->body.data != NULL ? c->body.data : "");
	curl_easy_setopt(c->easy, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c->easy, CURLOPT_HEADERDATA, c);
	curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(c->easy, CURLOPT_PRIVATE, c);
	if (curl_multi_add_handle(up_multi(ev->up), c->easy) != CURLM_OK) {
		curl_easy_cleanup(c->easy);
		c->easy = NULL;
		set_error(c, V_APP_UNREACHABLE, 500, "InternalError",
		          "cannot add the call to the multi handle");
		return;
	}
	c->next = ev->waiting;
	if (ev->waiting != NULL)
		ev->waiting->prev = c;
	ev->waiting = c;
	ev->inflight++;
	c->fwd_us = loop_now_ms() * 1000;
	MHD_suspend_connection(c->conn);
	c->suspended = 1;
}

static void resume(struct ev_call *c)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c->conn, MHD_CONNECTION_INFO_DAEMON);

	c->ready = 1;
	if (!c->suspended)
		return;
	c->suspended = 0;
	MHD_resume_connection(c->conn);
	if (ci != NULL && ci->daemon != NULL)
		MHD_run(ci->daemon); /* 0.9.75 does not wake its epoll fd for a resumed connection */
}

/* connect: what the application decided, as an audit line (the user, groups and roles it gave). */
static void audit_connect(const struct ev_call *c, const char *body, size_t len)
{
	json_t *j = NULL, *v;
	struct buf groups, roles;
	const char *user = "";
	size_t i;

	buf_init(&groups, 0);
	buf_init(&roles, 0);
	if (c->status >= 200 && c->status < 300 && len > 0)
		j = json_loadb(body, len, 0, NULL);
	if (j != NULL) {
		if (json_is_string(v = json_object_get(j, "userId")))
			user = json_string_value(v);
		for (i = 0; json_is_array(v = json_object_get(j, "groups")) && i < json_array_size(v); i++)
			if (json_is_string(json_array_get(v, i)))
				(void)buf_printf(&groups, "%s%s", groups.len ? "," : "",
				                 json_string_value(json_array_get(v, i)));
		for (i = 0; json_is_array(v = json_object_get(j, "roles")) && i < json_array_size(v); i++)
			if (json_is_string(json_array_get(v, i)))
				(void)buf_printf(&roles, "%s%s", roles.len ? "," : "",
				                 json_string_value(json_array_get(v, i)));
	}
	{
		char st[16];
		snprintf(st, sizeof st, "%d", c->status);
		log_kv(WLOG_INFO, "audit", "event", "connect", "hub", c->id.hub, "connection",
		       c->id.connection, "answer",
		       c->status >= 200 && c->status < 300 ? "accepted" : "refused", "status", st, "user",
		       user[0] != '\0' ? user : (c->id.user[0] != '\0' ? c->id.user : "-"), "groups",
		       groups.len ? groups.data : "-", "roles", roles.len ? roles.data : "-", NULL);
	}
	json_decref(j);
	buf_free(&groups);
	buf_free(&roles);
}

static int foreign_done(void *arg, void *easy, int rc)
{
	struct events *ev = arg;
	struct ev_call *c;
	uint64_t us;

	for (c = ev->waiting; c != NULL && c->easy != easy; c = c->next)
		;
	if (c == NULL)
		return 0;
	curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &c->app_status);
	us = loop_now_ms() * 1000 - c->fwd_us;
	call_unlink(c);
	if (rc == CURLE_OK && c->app_status >= 200 && c->app_status <= 599) {
		c->verdict = V_FORWARDED;
		c->status = (int)c->app_status;
		metrics_event_app(us);
		if (c->id.kind == EVK_CONNECT)
			audit_connect(c, c->resp.data, c->resp.len);
	} else if (c->resp_too_large) {
		set_error(c, V_APP_UNREACHABLE, 502, "BadGateway",
		          "the application's answer is larger than events.max_body_bytes");
	} else if (rc == CURLE_OPERATION_TIMEDOUT) {
		set_error(c, V_APP_TIMEOUT, 504, "GatewayTimeout",
		          "the application did not answer within %ld ms", c->timeout_ms);
	} else {
		set_error(c, V_APP_UNREACHABLE, 502, "BadGateway", "the application did not answer: %s",
		          rc != CURLE_OK ? curl_easy_strerror((CURLcode)rc) : "a status out of range");
	}
	resume(c);
	return 1;
}

void events_abort_all(struct events *ev)
{
	while (ev->waiting != NULL) {
		struct ev_call *c = ev->waiting;
		call_unlink(c);
		set_error(c, V_SHUTTING_DOWN, 503, "ShuttingDown", "the gateway is shutting down");
		resume(c);
	}
}

void events_free(struct events *ev)
{
	if (ev == NULL)
		return;
	while (ev->waiting != NULL)
		call_unlink(ev->waiting); /* MHD frees the calls when its daemons stop */
	up_set_foreign(ev->up, NULL, NULL);
	free(ev);
}

/* ---- the access handler ---- */

static int path_ok(const char *url, const char *path)
{
	size_t n = strlen(path);

	if (n == 1) /* "/": everything */
		return url[0] == '/';
	return strncmp(url, path, n) == 0 && (url[n] == '\0' || url[n] == '/');
}

static void first_call(struct ev_call *c, const char *url, const char *method)
{
	struct events *ev = c->ev;

	if (ev->draining)
		set_error(c, V_SHUTTING_DOWN, 503, "ShuttingDown", "the gateway is shutting down");
	else if (!path_ok(url, ev->cfg->events.path))
		set_error(c, V_NOT_FOUND, 404, "NotFound", "no event handler here (events.path)");
	else if (strcmp(method, "OPTIONS") == 0)
		validate(c);
	else if (strcmp(method, "POST") != 0)
		set_error(c, V_MALFORMED, 405, "MethodNotAllowed",
		          "the service calls with OPTIONS and POST only");
	else
		check_post(c);
}

enum MHD_Result events_handler(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                               const char *version, const char *upload_data, size_t *upload_data_size,
                               void **req_cls)
{
	struct events *ev = cls;
	struct ev_call *c = *req_cls;

	(void)version;
	if (c == NULL) {
		if ((c = calloc(1, sizeof *c)) == NULL)
			return MHD_NO;
		c->ev = ev;
		c->conn = conn;
		c->t0_ms = loop_now_ms();
		c->id.kind = EVK_UNKNOWN;
		c->body_max = (size_t)ev->cfg->events.max_body_bytes;
		c->timeout_ms = ev->cfg->events.timeout_ms;
		buf_init(&c->body, 0);
		buf_init(&c->resp, 0);
		*req_cls = c;
		first_call(c, url, method);
		if (c->ready)
			return queue(c); /* refused (or the handshake) before the body is read */
		return MHD_YES;
	}
	if (c->replied)
		return MHD_YES;
	if (*upload_data_size > 0) {
		if (!c->too_large && c->body.len + *upload_data_size > c->body_max)
			c->too_large = 1;
		if (!c->too_large && buf_append(&c->body, upload_data, *upload_data_size) < 0)
			c->too_large = 1;
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (c->ready)
		return queue(c); /* the application answered, or the call failed */
	if (c->suspended)
		return MHD_YES;
	if (c->too_large) {
		set_error(c, V_TOO_LARGE, 413, "PayloadTooLarge",
		          "the body is larger than events.max_body_bytes (%ld)",
		          ev->cfg->events.max_body_bytes);
		return queue(c);
	}
	forward(c, url);
	if (c->ready)
		return queue(c);
	return MHD_YES;
}

void events_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                      enum MHD_RequestTerminationCode toe)
{
	struct ev_call *c = *req_cls;
	char st[16], app[16], ms[24];

	(void)cls;
	(void)conn;
	if (c == NULL)
		return;
	*req_cls = NULL;
	(void)toe;
	snprintf(st, sizeof st, "%d", c->replied ? c->status : 0);
	snprintf(app, sizeof app, "%ld", c->app_status);
	snprintf(ms, sizeof ms, "%llu", (unsigned long long)(loop_now_ms() - c->t0_ms));
	metrics_event((int)c->id.kind, (int)c->verdict);
	log_kv(c->verdict <= V_VALIDATED ? WLOG_INFO : WLOG_WARN, "event call", "event",
	       c->id.event[0] != '\0' ? c->id.event : events_kind_label(c->id.kind), "hub",
	       c->id.hub[0] != '\0' ? c->id.hub : "-", "connection",
	       c->id.connection[0] != '\0' ? c->id.connection : "-", "user",
	       c->id.user[0] != '\0' ? c->id.user : "-", "verdict", verdict_labels[c->verdict], "status", st,
	       "app_status", c->app_status ? app : "-", "duration_ms", ms, NULL);
	call_free(c);
}
