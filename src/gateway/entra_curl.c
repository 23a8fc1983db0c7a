/* entra_curl.c: token requests of the Entra ID cache as easy handles on upstream.c's multi handle. */
#include <config.h>
#include "entra_curl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>

#include "buf.h"
#include "log.h"
#include "loop.h"
#include "metrics.h"

#ifndef WPSGATE_VERSION
#define WPSGATE_VERSION "0"
#endif

struct ec_req {
	CURL *easy;
	struct curl_slist *headers; /* may hold a secret (X-IDENTITY-HEADER): wiped */
	char *body;                 /* the form with the secret or assertion: wiped */
	size_t len;
	struct buf resp; /* holds the token: wiped */
	int too_large;
	char errbuf[CURL_ERROR_SIZE];
	entra_http_done_fn done;
	void *arg;
};

struct entra_curl {
	CURLM *multi;
	struct loop *loop;
	struct loop_timer *timer;
	struct entra *cache;
	struct ec_req *req; /* at most one in flight (the cache fetches one at a time) */
};

static void wipe_slist(struct curl_slist *l)
{
	struct curl_slist *p;

	for (p = l; p != NULL; p = p->next)
		OPENSSL_cleanse(p->data, strlen(p->data));
	curl_slist_free_all(l);
}

static void req_free(struct ec_req *r)
{
	if (r == NULL)
		return;
	if (r->easy != NULL)
		curl_easy_cleanup(r->easy);
	wipe_slist(r->headers);
	if (r->body != NULL) {
		OPENSSL_cleanse(r->body, r->len);
		free(r->body);
	}
	if (r->resp.data != NULL)
		OPENSSL_cleanse(r->resp.data, r->resp.len);
	buf_free(&r->resp);
	free(r);
}

static size_t write_cb(char *ptr, size_t size, size_t n, void *userdata)
{
	struct ec_req *r = userdata;

	if (buf_append(&r->resp, ptr, size * n) < 0) {
		r->too_large = 1;
		return 0;
	}
	return size * n;
}

static int ec_request(void *ctx, const struct entra_http_req *q, entra_http_done_fn done, void *arg,
                      void **handle)
{
	struct entra_curl *ec = ctx;
	struct ec_req *r;
	size_t i;

	if (ec->req != NULL || (r = calloc(1, sizeof *r)) == NULL)
		return -1;
	buf_init(&r->resp, ENTRA_RESPONSE_MAX);
	r->done = done;
	r->arg = arg;
	if ((r->easy = curl_easy_init()) == NULL)
		goto bad;
	for (i = 0; q->headers[i] != NULL; i++) {
		struct curl_slist *n = curl_slist_append(r->headers, q->headers[i]);
		if (n == NULL)
			goto bad;
		r->headers = n;
	}
	if ((r->headers = curl_slist_append(r->headers, "Expect:")) == NULL)
		goto bad;
	curl_easy_setopt(r->easy, CURLOPT_URL, q->url);
	curl_easy_setopt(r->easy, CURLOPT_PRIVATE, r);
	curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(r->easy, CURLOPT_FOLLOWLOCATION, 0L); /* never carry a secret elsewhere */
	curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(r->easy, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(r->easy, CURLOPT_SSL_VERIFYHOST, 2L);
	curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS,
	                 q->timeout_ms > 0 ? q->timeout_ms : (long)ENTRA_DEFAULT_TIMEOUT_MS);
	curl_easy_setopt(r->easy, CURLOPT_USERAGENT, "wpsgate/" WPSGATE_VERSION);
	curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers);
	curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->errbuf);
	if (strcmp(q->method, "POST") == 0) {
		if ((r->body = malloc(q->len + 1)) == NULL)
			goto bad;
		memcpy(r->body, q->body, q->len);
		r->body[q->len] = '\0';
		r->len = q->len;
		curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->len);
		curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, r->body);
	}
	if (curl_multi_add_handle(ec->multi, r->easy) != CURLM_OK)
		goto bad;
	log_debug("Entra ID token request: %s %s", q->method, q->url); /* the URL holds no secret */
	ec->req = r;
	*handle = r;
	return 0;
bad:
	req_free(r);
	return -1;
}

static void ec_cancel(void *ctx, void *handle)
{
	struct entra_curl *ec = ctx;
	struct ec_req *r = handle;

	if (r == NULL || r != ec->req)
		return;
	curl_multi_remove_handle(ec->multi, r->easy);
	ec->req = NULL;
	req_free(r);
}

int entra_curl_done(struct entra_curl *ec, CURL *easy, CURLcode rc)
{
	struct ec_req *r;
	long status = 0;
	char err[CURL_ERROR_SIZE + 64];

	if (ec == NULL || (r = ec->req) == NULL || r->easy != easy)
		return 0;
	ec->req = NULL;
	curl_multi_remove_handle(ec->multi, easy);
	err[0] = '\0';
	if (rc == CURLE_OK)
		curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	else if (r->too_large)
		snprintf(err, sizeof err, "answer larger than %d bytes", ENTRA_RESPONSE_MAX);
	else if (rc == CURLE_OPERATION_TIMEDOUT)
		snprintf(err, sizeof err, "no answer within upstream.entra.timeout_ms");
	else
		snprintf(err, sizeof err, "%s", r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc));
	r->done(r->arg, (int)status, r->resp.data ? r->resp.data : "", r->resp.len, err);
	req_free(r);
	return 1;
}

static void on_timer(void *arg)
{
	struct entra_curl *ec = arg;

	if (ec->cache != NULL)
		entra_tick(ec->cache);
}

static void ec_arm(void *ctx, uint64_t due)
{
	struct entra_curl *ec = ctx;
	uint64_t now = loop_now_ms();

	if (due == 0)
		loop_timer_stop(ec->timer);
	else
		loop_timer_start(ec->timer, due > now ? due - now : 0);
}

static uint64_t ec_now(void *ctx)
{
	(void)ctx;
	return loop_now_ms();
}

static void ec_on_fetch(void *ctx, int ok, const char *reason)
{
	(void)ctx;
	(void)reason; /* the cache logs it */
	if (!ok)
		metrics_credential_error();
}

struct entra_curl *entra_curl_new(CURLM *multi, struct loop *l)
{
	struct entra_curl *ec = calloc(1, sizeof *ec);

	if (ec == NULL)
		return NULL;
	ec->multi = multi;
	ec->loop = l;
	if ((ec->timer = loop_timer_new(l, on_timer, ec)) == NULL) {
		free(ec);
		return NULL;
	}
	return ec;
}

void entra_curl_set_cache(struct entra_curl *ec, struct entra *e)
{
	ec->cache = e;
}

void entra_curl_ops(struct entra_curl *ec, struct entra_ops *ops)
{
	memset(ops, 0, sizeof *ops);
	ops->request = ec_request;
	ops->cancel = ec_cancel;
	ops->arm = ec_arm;
	ops->now_ms = ec_now;
	ops->wall = NULL;
	ops->on_fetch = ec_on_fetch;
	ops->ctx = ec;
}

void entra_curl_free(struct entra_curl *ec)
{
	if (ec == NULL)
		return;
	ec_cancel(ec, ec->req);
	loop_timer_free(ec->timer);
	free(ec);
}
