/* entra.c: the Entra ID token cache: building token requests, parsing answers, refresh ahead of expiry,
 * one forced refresh per rejected token, backoff while the token service fails, and queued waiters. */
#include <config.h>
#include "entra.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "secret.h"
#include "buf.h"
#include "cred.h"
#include "entra_impl.h"
#include "log.h"
#include "pct.h"
#include "url.h"

#define IMDS_API_VERSION       "2018-02-01"
#define APPSERVICE_API_VERSION "2019-08-01"
#define HEADERS_MAX            4

struct wlist {
	struct entra_wait *head, *tail;
	size_t n;
};

struct entra_wait {
	struct entra_wait *prev, *next;
	struct wlist *list;
	entra_ready_fn fn;
	void *arg;
};

struct entra {
	struct entra_cfg cfg;
	struct entra_ops ops;
	char *identity_endpoint; /* App Service (IDENTITY_ENDPOINT), NULL: IMDS */
	char *identity_header;   /* IDENTITY_HEADER: a secret, wiped */

	char *token; /* wiped */
	size_t toklen;
	unsigned long gen; /* tokens received; the cached one is generation gen */
	uint64_t t_refresh, t_expire;

	int fetching;
	void *handle;
	uint64_t t_fetch; /* when the fetch in flight started */
	int failed_last;
	uint64_t t_retry; /* no new fetch before this while failing */
	uint64_t backoff_ms;
	char reason[ENTRA_REASON_MAX];
	uint64_t armed;

	struct wlist waiting, firing;
	uint64_t fetch_ok, fetch_failed, invalidated, rejected;
};

static void rearm(struct entra *e);
static int fetch_start(struct entra *e);

static uint64_t now_ms(const struct entra *e)
{
	return e->ops.now_ms(e->ops.ctx);
}

static time_t wall_now(const struct entra *e)
{
	return e->ops.wall != NULL ? e->ops.wall(e->ops.ctx) : time(NULL);
}

/* ---- waiters ---- */

static void wl_append(struct wlist *l, struct entra_wait *w)
{
	w->list = l;
	w->next = NULL;
	w->prev = l->tail;
	if (l->tail != NULL)
		l->tail->next = w;
	else
		l->head = w;
	l->tail = w;
	l->n++;
}

static void wl_unlink(struct entra_wait *w)
{
	struct wlist *l = w->list;

	if (w->prev != NULL)
		w->prev->next = w->next;
	else
		l->head = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
	else
		l->tail = w->prev;
	l->n--;
	w->list = NULL;
	w->prev = w->next = NULL;
}

static void wl_free_all(struct wlist *l)
{
	while (l->head != NULL) {
		struct entra_wait *w = l->head;
		wl_unlink(w);
		free(w);
	}
}

/* Call every queued waiter once. A callback may acquire again, cancel another waiter (still queued
 * here or already moved to `firing`) or invalidate; not free e. */
static void fire_waiters(struct entra *e, int ok, const char *err)
{
	char why[ENTRA_REASON_MAX];

	snprintf(why, sizeof why, "%s", err ? err : "");
	while (e->waiting.head != NULL) {
		struct entra_wait *w = e->waiting.head;
		wl_unlink(w);
		wl_append(&e->firing, w);
	}
	while (e->firing.head != NULL) {
		struct entra_wait *w = e->firing.head;
		entra_ready_fn fn = w->fn;
		void *arg = w->arg;

		wl_unlink(w);
		free(w);
		fn(arg, ok, ok ? NULL : why);
	}
}

/* ---- the token ---- */

static void drop_token(struct entra *e)
{
	if (e->token != NULL) {
		OPENSSL_cleanse(e->token, e->toklen);
		free(e->token);
	}
	e->token = NULL;
	e->toklen = 0;
	e->t_refresh = e->t_expire = 0;
}

static int usable(struct entra *e, uint64_t now)
{
	if (e->token != NULL && now >= e->t_expire)
		drop_token(e);
	return e->token != NULL;
}

/* ---- parsing an answer ---- */

/* Characters of a bearer token (RFC 6750 b64token): never a space, quote or line break. */
static int token_chars_ok(const char *t, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)t[i];
		if (!(isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~' || ch == '+' ||
		      ch == '/' || ch == '='))
			return 0;
	}
	return 1;
}

/* A number or a string of decimal digits (IMDS sends strings). -1 when neither. */
static long long num_or_digits(const json_t *v)
{
	const char *s;
	long long n = 0;

	if (json_is_integer(v))
		return json_integer_value(v);
	if (json_is_real(v))
		return (long long)json_real_value(v);
	if (!json_is_string(v))
		return -1;
	s = json_string_value(v);
	if (*s == '\0' || strlen(s) > 18)
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		n = n * 10 + (*s - '0');
	}
	return n;
}

/* " (error invalid_client, AADSTS7000215)" from an error answer: only the machine-readable parts,
 * never the description's free text. */
static void error_detail(const json_t *j, char *out, size_t n)
{
	const char *code = json_string_value(json_object_get(j, "error"));
	const char *desc = json_string_value(json_object_get(j, "error_description"));
	char c[48] = "", a[24] = "";
	size_t i;

	out[0] = '\0';
	if (code != NULL) {
		for (i = 0; code[i] != '\0' && i < sizeof c - 1; i++) {
			if (!((code[i] >= 'a' && code[i] <= 'z') || (code[i] >= 'A' && code[i] <= 'Z') ||
			      code[i] == '_'))
				break;
			c[i] = code[i];
		}
		c[i] = '\0';
	}
	if (desc != NULL && strncmp(desc, "AADSTS", 6) == 0) {
		memcpy(a, "AADSTS", 6);
		for (i = 6; desc[i] >= '0' && desc[i] <= '9' && i < sizeof a - 1; i++)
			a[i] = desc[i];
		a[i] = '\0';
		if (i == 6)
			a[0] = '\0';
	}
	if (c[0] && a[0])
		snprintf(out, n, " (error %s, %s)", c, a);
	else if (c[0])
		snprintf(out, n, " (error %s)", c);
	else if (a[0])
		snprintf(out, n, " (%s)", a);
}

char *entra_parse_token(int status, const char *body, size_t len, time_t wall, long *lifetime_s, char *err,
                        size_t errlen)
{
	json_t *j = NULL;
	json_error_t je;
	const json_t *at, *tt;
	const char *tok;
	char detail[96], *out = NULL;
	size_t tl;
	long long life;

	*lifetime_s = 0;
	if (len > ENTRA_RESPONSE_MAX) {
		snprintf(err, errlen, "token service answer larger than %d bytes", ENTRA_RESPONSE_MAX);
		return NULL;
	}
	/* jansson's error text quotes the input: never show it */
	j = len > 0 ? json_loadb(body, len, JSON_REJECT_DUPLICATES, &je) : NULL;
	if (status != 200) {
		detail[0] = '\0';
		if (json_is_object(j))
			error_detail(j, detail, sizeof detail);
		snprintf(err, errlen, "token service answered HTTP %d%s", status, detail);
		goto out;
	}
	if (!json_is_object(j)) {
		snprintf(err, errlen, "token service answer is not a JSON object");
		goto out;
	}
	at = json_object_get(j, "access_token");
	if (!json_is_string(at) || (tl = json_string_length(at)) == 0) {
		snprintf(err, errlen, "token service answer has no access_token");
		goto out;
	}
	tok = json_string_value(at);
	if (tl > ENTRA_TOKEN_MAX || !token_chars_ok(tok, tl)) {
		snprintf(err, errlen,
		         "token service answer has an access_token that cannot be sent as a bearer token");
		goto out;
	}
	tt = json_object_get(j, "token_type");
	if (tt != NULL && (!json_is_string(tt) || strcasecmp(json_string_value(tt), "Bearer") != 0)) {
		snprintf(err, errlen, "token service answer has a token_type other than Bearer");
		goto out;
	}
	if ((life = num_or_digits(json_object_get(j, "expires_in"))) < 0) {
		long long on = num_or_digits(json_object_get(j, "expires_on"));
		if (on < 0) {
			snprintf(err, errlen, "token service answer has no usable expires_in or expires_on");
			goto out;
		}
		life = on - (long long)wall;
	}
	if (life <= 0) {
		snprintf(err, errlen, "token service answer holds a token that has already expired");
		goto out;
	}
	if (life > ENTRA_LIFETIME_MAX_S)
		life = ENTRA_LIFETIME_MAX_S;
	if ((out = strndup(tok, tl)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	*lifetime_s = (long)life;
out:
	if (j != NULL) {
		/* cleanse the token inside jansson's copy before it is freed */
		json_t *v = json_object_get(j, "access_token");
		if (json_is_string(v))
			OPENSSL_cleanse((char *)(uintptr_t)json_string_value(v), json_string_length(v));
		json_decref(j);
	}
	return out;
}

/* ---- fetching ---- */

static void fetch_failed(struct entra *e, const char *reason)
{
	uint64_t now = now_ms(e);
	char wait[32];

	e->fetching = 0;
	e->handle = NULL;
	e->failed_last = 1;
	e->fetch_failed++;
	snprintf(e->reason, sizeof e->reason, "%s", reason);
	e->backoff_ms = e->backoff_ms == 0 ? ENTRA_BACKOFF_MIN_MS
	                                   : (e->backoff_ms * 2 > ENTRA_BACKOFF_MAX_MS ? ENTRA_BACKOFF_MAX_MS
	                                                                               : e->backoff_ms * 2);
	e->t_retry = now + e->backoff_ms;
	snprintf(wait, sizeof wait, "%llu", (unsigned long long)e->backoff_ms);
	log_kv(WLOG_WARN, "Entra ID token request failed", "kind", entra_kind_name(e->cfg.kind), "reason",
	       e->reason, "retry_in_ms", wait, "token", usable(e, now) ? "cached one still valid" : "none",
	       NULL);
	if (e->ops.on_fetch != NULL)
		e->ops.on_fetch(e->ops.ctx, 0, e->reason);
	fire_waiters(e, 0, e->reason);
	rearm(e);
}

static void on_done(void *arg, int status, const char *body, size_t len, const char *err)
{
	struct entra *e = arg;
	char why[ENTRA_REASON_MAX], n1[24], n2[24];
	long life = 0;
	uint64_t lms, skew, ahead;
	char *tok;
	int was_failing = e->failed_last || e->gen == 0;

	e->fetching = 0;
	e->handle = NULL;
	if (status == 0) {
		snprintf(why, sizeof why, "token service did not answer: %s",
		         err && *err ? err : "no response");
		fetch_failed(e, why);
		return;
	}
	if ((tok = entra_parse_token(status, body, len, wall_now(e), &life, why, sizeof why)) == NULL) {
		fetch_failed(e, why);
		return;
	}
	drop_token(e);
	e->token = tok;
	e->toklen = strlen(tok);
	e->gen++;
	lms = (uint64_t)life * 1000;
	skew = lms / 10 < ENTRA_SKEW_MAX_MS ? lms / 10 : ENTRA_SKEW_MAX_MS;
	ahead = lms * (100 - ENTRA_REFRESH_PCT) / 100;
	if (ahead > (uint64_t)ENTRA_REFRESH_AHEAD_MAX_MS)
		ahead = ENTRA_REFRESH_AHEAD_MAX_MS;
	/* counted from when the request left: the token may be that old already */
	e->t_expire = e->t_fetch + lms - skew;
	e->t_refresh = e->t_fetch + lms - ahead;
	e->failed_last = 0;
	e->backoff_ms = 0;
	e->t_retry = 0;
	e->reason[0] = '\0';
	e->fetch_ok++;
	snprintf(n1, sizeof n1, "%lu", e->gen);
	snprintf(n2, sizeof n2, "%ld", life);
	log_kv(was_failing ? WLOG_INFO : WLOG_DEBUG, "Entra ID token acquired", "kind",
	       entra_kind_name(e->cfg.kind), "generation", n1, "expires_in_s", n2, NULL);
	if (e->ops.on_fetch != NULL)
		e->ops.on_fetch(e->ops.ctx, 1, NULL);
	fire_waiters(e, 1, NULL);
	rearm(e);
}

static int form_kv(struct buf *b, const char *k, const char *v, size_t vl)
{
	if (b->len > 0 && buf_puts(b, "&") < 0)
		return -1;
	if (buf_puts(b, k) < 0 || buf_puts(b, "=") < 0)
		return -1;
	return pct_encode(b, v, vl);
}

/* Build and start one token request. 0, or -1 after fetch_failed. */
/* The client-credentials request's URL and form (client secret or workload identity assertion). */
static int token_form(const struct entra *e, const char *secret, size_t slen, struct buf *url,
                      struct buf *body)
{
	if (buf_printf(url, "%s/%s/oauth2/v2.0/token", e->cfg.authority_host, e->cfg.tenant_id) < 0 ||
	    form_kv(body, "grant_type", "client_credentials", 18) < 0 ||
	    form_kv(body, "client_id", e->cfg.client_id, strlen(e->cfg.client_id)) < 0)
		return -1;
	if (e->cfg.kind == ENTRA_CLIENT_SECRET) {
		if (form_kv(body, "client_secret", secret, slen) < 0)
			return -1;
	} else {
		static const char at[] = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
		if (form_kv(body, "client_assertion_type", at, sizeof at - 1) < 0 ||
		    form_kv(body, "client_assertion", secret, slen) < 0)
			return -1;
	}
	if (form_kv(body, "scope", ENTRA_SCOPE, sizeof ENTRA_SCOPE - 1) < 0)
		return -1;
	return 0;
}

/* The managed identity request's URL (IMDS or App Service) and, for App Service, its identity header. */
static int mi_request(const struct entra *e, struct buf *url, char **idh, size_t *idhn)
{
	const char *base = e->identity_endpoint != NULL ? e->identity_endpoint : e->cfg.imds_endpoint;
	const char *ver = e->identity_endpoint != NULL ? APPSERVICE_API_VERSION : IMDS_API_VERSION;

	if (buf_printf(url, "%s?api-version=%s&resource=", base, ver) < 0 ||
	    pct_encode(url, ENTRA_RESOURCE, sizeof ENTRA_RESOURCE - 1) < 0)
		return -1;
	if (e->cfg.client_id != NULL && (buf_puts(url, "&client_id=") < 0 ||
	                                 pct_encode(url, e->cfg.client_id, strlen(e->cfg.client_id)) < 0))
		return -1;
	if (e->identity_endpoint != NULL) {
		*idhn = strlen(e->identity_header) + sizeof "X-IDENTITY-HEADER: ";
		if ((*idh = malloc(*idhn)) == NULL)
			return -1;
		snprintf(*idh, *idhn, "X-IDENTITY-HEADER: %s", e->identity_header);
	}
	return 0;
}

static int fetch_start(struct entra *e)
{
	struct entra_http_req req;
	struct buf url, body;
	const char *headers[HEADERS_MAX + 1];
	char *secret = NULL, *idh = NULL, why[ENTRA_REASON_MAX];
	size_t slen = 0, nh = 0, idhn = 0;
	int rc = -1;

	buf_init(&url, 0);
	buf_init(&body, 0);
	memset(&req, 0, sizeof req);
	if (e->cfg.kind == ENTRA_CLIENT_SECRET || e->cfg.kind == ENTRA_WORKLOAD_IDENTITY) {
		if ((secret = entra_read_secret(&e->cfg, &slen, why, sizeof why)) == NULL)
			goto fail;
		if (token_form(e, secret, slen, &url, &body) < 0)
			goto oom;
		headers[nh++] = "Content-Type: application/x-www-form-urlencoded";
		req.method = "POST";
		req.body = body.data;
		req.len = body.len;
	} else {
		if (mi_request(e, &url, &idh, &idhn) < 0)
			goto oom;
		headers[nh++] = "Metadata: true";
		if (idh != NULL)
			headers[nh++] = idh;
		req.method = "GET";
	}
	headers[nh++] = "Accept: application/json";
	headers[nh] = NULL;
	req.url = url.data;
	req.headers = headers;
	req.timeout_ms = e->cfg.timeout_ms;
	e->fetching = 1;
	e->t_fetch = now_ms(e);
	if (e->ops.request(e->ops.ctx, &req, on_done, e, &e->handle) < 0) {
		e->fetching = 0;
		snprintf(why, sizeof why, "token request could not be started");
		goto fail;
	}
	rc = 0;
	rearm(e);
	goto out;
oom:
	snprintf(why, sizeof why, "out of memory building the token request");
fail:
	fetch_failed(e, why);
out:
	if (body.data != NULL)
		OPENSSL_cleanse(body.data, body.len);
	buf_free(&body);
	buf_free(&url);
	if (idh != NULL) {
		OPENSSL_cleanse(idh, idhn);
		free(idh);
	}
	secret_free(secret);
	return rc;
}

/* ---- timer ---- */

static void rearm(struct entra *e)
{
	uint64_t due = 0;

	if (!e->fetching) {
		if (e->token != NULL)
			due = e->t_refresh > e->t_retry ? e->t_refresh : e->t_retry;
		else if (e->failed_last)
			due = e->t_retry;
	}
	if (due != e->armed) {
		e->armed = due;
		if (e->ops.arm != NULL)
			e->ops.arm(e->ops.ctx, due);
	}
}

void entra_tick(struct entra *e)
{
	uint64_t now = now_ms(e);
	int have;

	e->armed = 0;
	have = usable(e, now);
	if (!e->fetching && ((have && now >= e->t_refresh && now >= e->t_retry) ||
	                     (!have && e->failed_last && now >= e->t_retry)))
		fetch_start(e);
	rearm(e);
}

/* ---- public ---- */

struct entra *entra_new(const struct entra_cfg *cfg, const struct entra_ops *ops, char *err, size_t errlen)
{
	struct entra *e;
	char why[160];

	if (cfg->kind == ENTRA_NONE || ops->request == NULL || ops->cancel == NULL || ops->now_ms == NULL) {
		snprintf(err, errlen, "upstream.entra: not configured");
		return NULL;
	}
	if (entra_preflight(cfg, err, errlen) < 0)
		return NULL;
	if ((e = calloc(1, sizeof *e)) == NULL || cfgtab_copy(&entra_cfg_section, &e->cfg, cfg) < 0)
		goto oom;
	e->ops = *ops;
	if (cfg->kind == ENTRA_MANAGED_IDENTITY && !cfg->imds_set) {
		/* App Service / Functions / Container Apps: the SDKs prefer these when both are set */
		const char *ep = getenv("IDENTITY_ENDPOINT"), *hd = getenv("IDENTITY_HEADER");
		if (ep != NULL && *ep != '\0' && hd != NULL && *hd != '\0') {
			if (!url_metadata_ok(ep, why, sizeof why) || strpbrk(hd, "\r\n") != NULL) {
				snprintf(err, errlen, "upstream.entra: IDENTITY_ENDPOINT/IDENTITY_HEADER: %s",
				         strpbrk(hd, "\r\n") ? "IDENTITY_HEADER has a line break" : why);
				entra_free(e);
				return NULL;
			}
			if ((e->identity_endpoint = strdup(ep)) == NULL ||
			    (e->identity_header = strdup(hd)) == NULL)
				goto oom;
		}
	}
	return e;
oom:
	snprintf(err, errlen, "out of memory");
	entra_free(e);
	return NULL;
}

void entra_free(struct entra *e)
{
	if (e == NULL)
		return;
	if (e->fetching && e->handle != NULL)
		e->ops.cancel(e->ops.ctx, e->handle);
	if (e->armed && e->ops.arm != NULL)
		e->ops.arm(e->ops.ctx, 0);
	wl_free_all(&e->waiting);
	wl_free_all(&e->firing);
	drop_token(e);
	secret_free(e->identity_header);
	free(e->identity_endpoint);
	cfgtab_clear(&entra_cfg_section, &e->cfg);
	free(e);
}

int entra_configure(struct entra *e, const struct entra_cfg *cfg, char *err, size_t errlen)
{
	struct entra_cfg copy;

	if (entra_preflight(cfg, err, errlen) < 0)
		return -1;
	if (entra_cfg_equal(&e->cfg, cfg))
		return 0;
	if (cfgtab_copy(&entra_cfg_section, &copy, cfg) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	cfgtab_clear(&entra_cfg_section, &e->cfg);
	e->cfg = copy;
	if (e->fetching && e->handle != NULL)
		e->ops.cancel(e->ops.ctx, e->handle);
	e->fetching = 0;
	e->handle = NULL;
	drop_token(e);
	e->failed_last = 0;
	e->backoff_ms = 0;
	e->t_retry = 0;
	e->reason[0] = '\0';
	log_kv(WLOG_INFO, "Entra ID credential changed: fetching a new token", "kind",
	       entra_kind_name(cfg->kind), NULL);
	fetch_start(e);
	return 0;
}

void entra_start(struct entra *e)
{
	if (!e->fetching && !usable(e, now_ms(e)))
		fetch_start(e);
}

enum entra_rc entra_acquire(struct entra *e, entra_ready_fn fn, void *arg, struct entra_wait **w, char *err,
                            size_t errlen)
{
	uint64_t now = now_ms(e);
	struct entra_wait *nw;

	*w = NULL;
	if (usable(e, now)) {
		if (!e->fetching && now >= e->t_refresh && now >= e->t_retry)
			fetch_start(e); /* in the background: this token is still good */
		return ENTRA_OK;
	}
	if (!e->fetching) {
		if (e->failed_last && now < e->t_retry) {
			e->rejected++;
			snprintf(err, errlen, "Entra ID token unavailable: %s (next try in %llu s)",
			         e->reason, (unsigned long long)((e->t_retry - now + 999) / 1000));
			return ENTRA_ERR;
		}
		if (fetch_start(e) < 0) {
			e->rejected++;
			snprintf(err, errlen, "Entra ID token unavailable: %s", e->reason);
			return ENTRA_ERR;
		}
	}
	if (e->waiting.n >= ENTRA_WAITERS_MAX) {
		e->rejected++;
		snprintf(err, errlen, "Entra ID token unavailable: %d requests are already waiting for one",
		         ENTRA_WAITERS_MAX);
		return ENTRA_ERR;
	}
	if ((nw = calloc(1, sizeof *nw)) == NULL) {
		e->rejected++;
		snprintf(err, errlen, "out of memory");
		return ENTRA_ERR;
	}
	nw->fn = fn;
	nw->arg = arg;
	wl_append(&e->waiting, nw);
	*w = nw;
	return ENTRA_WAIT;
}

void entra_wait_cancel(struct entra *e, struct entra_wait *w)
{
	(void)e;
	if (w == NULL || w->list == NULL)
		return;
	wl_unlink(w);
	free(w);
}

char *entra_bearer(struct entra *e, unsigned long *gen)
{
	size_t n;
	char *out;

	if (!usable(e, now_ms(e)))
		return NULL;
	n = e->toklen + sizeof "Bearer ";
	if ((out = malloc(n)) == NULL)
		return NULL;
	snprintf(out, n, "Bearer %s", e->token);
	if (gen != NULL)
		*gen = e->gen;
	return out;
}

void entra_invalidate(struct entra *e, unsigned long gen)
{
	char g[24];

	if (e->token == NULL || gen != e->gen)
		return; /* already replaced (or dropped): the next attempt takes the new one */
	drop_token(e);
	e->invalidated++;
	snprintf(g, sizeof g, "%lu", gen);
	log_kv(WLOG_WARN, "the upstream rejected the Entra ID token (401): fetching a new one", "generation",
	       g, NULL);
	if (!e->fetching)
		fetch_start(e); /* at once, backoff or not: a rejected token is worth one try */
	rearm(e);
}

const char *entra_state_name(enum entra_state s)
{
	switch (s) {
	case ENTRA_ST_STARTING: return "starting";
	case ENTRA_ST_OK: return "ok";
	case ENTRA_ST_DEGRADED: return "degraded";
	case ENTRA_ST_FAILING:
	default: return "failing";
	}
}

void entra_get_status(const struct entra *e, struct entra_status *st)
{
	uint64_t now = now_ms(e);
	int have = e->token != NULL && now < e->t_expire;

	memset(st, 0, sizeof *st);
	st->ready = have;
	if (have)
		st->state = e->failed_last ? ENTRA_ST_DEGRADED : ENTRA_ST_OK;
	else
		st->state = e->failed_last ? ENTRA_ST_FAILING : ENTRA_ST_STARTING;
	snprintf(st->reason, sizeof st->reason, "%s", e->reason);
	st->token_ttl_s = have ? (long)((e->t_expire - now) / 1000) : -1;
	st->next_retry_ms = e->failed_last ? e->t_retry : 0;
	st->generation = e->gen;
	st->fetch_ok = e->fetch_ok;
	st->fetch_failed = e->fetch_failed;
	st->invalidated = e->invalidated;
	st->rejected = e->rejected;
	st->waiting = e->waiting.n;
	st->fetching = e->fetching;
}
