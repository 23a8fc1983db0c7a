/* batch.c: JSON batching (POST /$batch, Microsoft Graph shape): parsing, dependsOn scheduling, responses. */
#include <config.h>

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "utf8.h"
#include "b64.h"
#include "jwt.h"
#include "pct.h"
#include "wpslimits.h"
#include "gateway/batch.h"
#include "cfgtab.h"

static const struct cfgtab_key batch_keys[] = {
	CFGTAB_INT_KEY(struct batch_cfg, max_requests, "max_requests", BATCH_DEFAULT_MAX_REQUESTS, 1,
	               BATCH_MAX_REQUESTS_LIMIT, 0, "sub-requests in one batch"),
	CFGTAB_INT_KEY(struct batch_cfg, max_bytes, "max_bytes", BATCH_DEFAULT_MAX_BYTES, 1024,
	               256L * 1024 * 1024, CFGTAB_RESTART, "the whole batch body"),
};

const struct cfgtab_section batch_cfg_section = CFGTAB_SECTION(
        "batch", struct batch_cfg, batch_keys, NULL, "POST /$batch (Microsoft Graph JSON batching shape).");

/* ---- helpers ---- */

static int berr(struct batch_err *e, int status, const char *id, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

static int berr(struct batch_err *e, int status, const char *id, const char *fmt, ...)
{
	va_list ap;

	e->status = status;
	snprintf(e->code, sizeof(e->code), "%s", status == 413 ? "PayloadTooLarge" : "InvalidBatch");
	snprintf(e->request_id, sizeof(e->request_id), "%s", id != NULL ? id : "");
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
	return -1;
}

/* A printable, shortened copy of user input for a message (at most 64 bytes). */
static const char *shorten(const char *s, char *out, size_t outlen)
{
	size_t i, o = 0;

	for (i = 0; s[i] != '\0' && o + 4 < outlen && i < 64; i++)
		out[o++] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f || s[i] == '"' || s[i] == '\\' ? '?'
		                                                                                     : s[i];
	if (s[i] != '\0' && o + 4 < outlen) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}

static int is_tchar(int c)
{
	return isalnum(c) || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

enum batch_body_enc batch_enc_for(const char *ct)
{
	char mt[128];
	size_t i;

	if (ct == NULL)
		return BATCH_BODY_NONE;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	for (i = 0; ct[i] != '\0' && ct[i] != ';' && ct[i] != ' ' && ct[i] != '\t' && i + 1 < sizeof(mt); i++)
		mt[i] = (char)tolower((unsigned char)ct[i]);
	mt[i] = '\0';
	if (strcmp(mt, "application/json") == 0 || (i > 5 && strcmp(mt + i - 5, "+json") == 0))
		return BATCH_BODY_JSON;
	if (strncmp(mt, "text/", 5) == 0)
		return BATCH_BODY_TEXT;
	return BATCH_BODY_BASE64;
}

static void hdrs_free(struct batch_hdr *h, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(h[i].name);
		free(h[i].value);
	}
	free(h);
}

static void req_clear(struct batch_req *r)
{
	free(r->id);
	free(r->method);
	free(r->url);
	free(r->raw_path);
	free(r->raw_query);
	free(r->content_type);
	hdrs_free(r->headers, r->nheaders);
	free(r->body);
	free(r->deps);
	free(r->resp_content_type);
	hdrs_free(r->resp_headers, r->nresp_headers);
	free(r->resp_body);
}

void batch_free(struct batch *b)
{
	size_t i;

	if (b == NULL)
		return;
	for (i = 0; i < b->n; i++)
		req_clear(&b->req[i]);
	free(b->req);
	free(b);
}

/* ---- parsing ---- */

static int parse_id(json_t *j, size_t i, struct batch *b, struct batch_req *r, struct batch_err *e)
{
	const char *s;
	size_t k, len;
	char tmp[80];

	if (j == NULL)
		return berr(e, 400, NULL, "requests[%zu]: \"id\" is missing", i);
	if (!json_is_string(j))
		return berr(e, 400, NULL, "requests[%zu]: \"id\" must be a string", i);
	s = json_string_value(j);
	len = json_string_length(j);
	if (len == 0)
		return berr(e, 400, NULL, "requests[%zu]: \"id\" must not be empty", i);
	if (len > BATCH_ID_MAX || strlen(s) != len)
		return berr(e, 400, NULL, "requests[%zu]: \"id\" must be at most %d bytes", i, BATCH_ID_MAX);
	for (k = 0; k < len; k++)
		if ((unsigned char)s[k] < 0x20 || s[k] == 0x7f)
			return berr(e, 400, NULL, "requests[%zu]: \"id\" must not contain control characters",
			            i);
	for (k = 0; k < i; k++)
		if (strcmp(b->req[k].id, s) == 0)
			return berr(e, 400, s, "request \"%s\": the id is used twice",
			            shorten(s, tmp, sizeof(tmp)));
	if ((r->id = strdup(s)) == NULL)
		return berr(e, 400, NULL, "out of memory");
	return 0;
}

static int parse_method(json_t *j, struct batch_req *r, struct batch_err *e, const char *sid)
{
	const char *s;
	size_t k, len;

	if (j == NULL)
		return berr(e, 400, r->id, "request \"%s\": \"method\" is missing", sid);
	if (!json_is_string(j) || (len = json_string_length(j)) == 0 || len > 16)
		return berr(e, 400, r->id, "request \"%s\": \"method\" must be an HTTP method name", sid);
	s = json_string_value(j);
	for (k = 0; k < len; k++)
		if (!isalpha((unsigned char)s[k]))
			return berr(e, 400, r->id, "request \"%s\": \"method\" must be an HTTP method name",
			            sid);
	if ((r->method = strdup(s)) == NULL)
		return berr(e, 400, r->id, "out of memory");
	for (k = 0; k < len; k++)
		r->method[k] = (char)toupper((unsigned char)r->method[k]);
	return 0;
}

static int parse_url(json_t *j, struct batch_req *r, struct batch_err *e, const char *sid)
{
	const char *s, *q;
	size_t k, len;

	if (j == NULL)
		return berr(e, 400, r->id, "request \"%s\": \"url\" is missing", sid);
	if (!json_is_string(j))
		return berr(e, 400, r->id, "request \"%s\": \"url\" must be a string", sid);
	s = json_string_value(j);
	len = json_string_length(j);
	if (len == 0 || s[0] != '/' || s[1] == '/')
		return berr(e, 400, r->id,
		            "request \"%s\": \"url\" must be a relative URL starting with one '/'", sid);
	if (len > WPS_URL_MAX || strlen(s) != len)
		return berr(e, 400, r->id, "request \"%s\": \"url\" is longer than %d bytes", sid,
		            WPS_URL_MAX);
	for (k = 0; k < len; k++) {
		unsigned char c = (unsigned char)s[k];

		if (c <= 0x20 || c >= 0x7f || c == '#')
			return berr(e, 400, r->id,
			            "request \"%s\": \"url\" must be percent-encoded ASCII without "
			            "spaces or a fragment",
			            sid);
	}
	q = strchr(s, '?');
	if ((r->url = strdup(s)) == NULL ||
	    (r->raw_path = strndup(s, q != NULL ? (size_t)(q - s) : len)) == NULL ||
	    (q != NULL && (r->raw_query = strdup(q + 1)) == NULL))
		return berr(e, 400, r->id, "out of memory");
	return 0;
}

static int parse_headers(json_t *j, struct batch_req *r, struct batch_err *e, const char *sid)
{
	const char *name;
	json_t *v;
	size_t n;

	if (j == NULL)
		return 0;
	if (!json_is_object(j))
		return berr(e, 400, r->id, "request \"%s\": \"headers\" must be an object of strings", sid);
	n = json_object_size(j);
	if (n > BATCH_HEADERS_MAX)
		return berr(e, 400, r->id, "request \"%s\": more than %d headers", sid, BATCH_HEADERS_MAX);
	if (n == 0)
		return 0;
	if ((r->headers = calloc(n, sizeof(*r->headers))) == NULL)
		return berr(e, 400, r->id, "out of memory");
	json_object_foreach(j, name, v)
	{
		const char *val;
		size_t k, len;
		char tmp[80];

		if (*name == '\0')
			return berr(e, 400, r->id, "request \"%s\": an empty header name", sid);
		for (k = 0; name[k] != '\0'; k++)
			if (!is_tchar((unsigned char)name[k]))
				return berr(e, 400, r->id,
				            "request \"%s\": header name \"%s\" is not a token", sid,
				            shorten(name, tmp, sizeof(tmp)));
		if (!json_is_string(v))
			return berr(e, 400, r->id, "request \"%s\": header \"%s\" must be a string", sid,
			            shorten(name, tmp, sizeof(tmp)));
		val = json_string_value(v);
		len = json_string_length(v);
		if (len > BATCH_HEADER_VALUE_MAX || strlen(val) != len)
			return berr(e, 400, r->id, "request \"%s\": header \"%s\" is too long or holds NUL",
			            sid, shorten(name, tmp, sizeof(tmp)));
		for (k = 0; k < len; k++)
			if (val[k] == '\r' || val[k] == '\n')
				return berr(e, 400, r->id, "request \"%s\": header \"%s\" holds CR or LF",
				            sid, shorten(name, tmp, sizeof(tmp)));
		if (strcasecmp(name, "Content-Type") == 0) {
			if (r->content_type != NULL)
				return berr(e, 400, r->id, "request \"%s\": Content-Type given twice", sid);
			if ((r->content_type = strdup(val)) == NULL)
				return berr(e, 400, r->id, "out of memory");
		}
		if ((r->headers[r->nheaders].name = strdup(name)) == NULL ||
		    (r->headers[r->nheaders].value = strdup(val)) == NULL) {
			r->nheaders++;
			return berr(e, 400, r->id, "out of memory");
		}
		r->nheaders++;
	}
	return 0;
}

static int parse_body(json_t *j, struct batch_req *r, struct batch_err *e, const char *sid)
{
	if (j == NULL || json_is_null(j)) {
		r->enc = BATCH_BODY_NONE;
		return 0;
	}
	if (r->content_type == NULL)
		return berr(e, 400, r->id, "request \"%s\": a body needs a Content-Type header", sid);
	r->enc = batch_enc_for(r->content_type);
	switch (r->enc) {
	case BATCH_BODY_JSON:
		if ((r->body = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY | JSON_PRESERVE_ORDER)) == NULL)
			return berr(e, 400, r->id, "request \"%s\": the JSON body cannot be serialized", sid);
		r->body_len = strlen(r->body);
		return 0;
	case BATCH_BODY_TEXT:
		if (!json_is_string(j))
			return berr(e, 400, r->id, "request \"%s\": a text body must be a JSON string", sid);
		if ((r->body = malloc(json_string_length(j) + 1)) == NULL)
			return berr(e, 400, r->id, "out of memory");
		memcpy(r->body, json_string_value(j), json_string_length(j) + 1);
		r->body_len = json_string_length(j);
		return 0;
	case BATCH_BODY_BASE64:
		if (!json_is_string(j))
			return berr(e, 400, r->id, "request \"%s\": a binary body must be a base64 string",
			            sid);
		r->body = (char *)b64_decode(json_string_value(j), json_string_length(j), &r->body_len);
		if (r->body == NULL)
			return berr(e, 400, r->id, "request \"%s\": the body is not valid base64", sid);
		return 0;
	case BATCH_BODY_NONE: break;
	}
	return 0;
}

static int parse_deps(json_t *j, json_t *reqs, size_t i, struct batch *b, struct batch_req *r,
                      struct batch_err *e, const char *sid)
{
	size_t k, n;

	if (j == NULL)
		return 0;
	if (!json_is_array(j))
		return berr(e, 400, r->id, "request \"%s\": \"dependsOn\" must be an array of ids", sid);
	n = json_array_size(j);
	if (n == 0)
		return 0;
	if ((r->deps = calloc(n, sizeof(*r->deps))) == NULL)
		return berr(e, 400, r->id, "out of memory");
	for (k = 0; k < n; k++) {
		json_t *d = json_array_get(j, k);
		const char *ds;
		size_t m, x;
		char tmp[80];

		if (!json_is_string(d))
			return berr(e, 400, r->id, "request \"%s\": \"dependsOn\" must be an array of ids",
			            sid);
		ds = json_string_value(d);
		if (strcmp(ds, r->id) == 0)
			return berr(e, 400, r->id, "request \"%s\": it depends on itself", sid);
		for (m = 0; m < i; m++)
			if (strcmp(b->req[m].id, ds) == 0)
				break;
		if (m == i) {
			for (x = i + 1; x < b->n; x++) {
				const char *later =
				        json_string_value(json_object_get(json_array_get(reqs, x), "id"));

				if (later != NULL && strcmp(later, ds) == 0)
					return berr(e, 400, r->id,
					            "request \"%s\": dependsOn \"%s\" names a later "
					            "request; only earlier ones may be named",
					            sid, shorten(ds, tmp, sizeof(tmp)));
			}
			return berr(e, 400, r->id,
			            "request \"%s\": dependsOn \"%s\" is not a request of the batch", sid,
			            shorten(ds, tmp, sizeof(tmp)));
		}
		for (x = 0; x < r->ndeps; x++)
			if (r->deps[x] == m)
				return berr(e, 400, r->id, "request \"%s\": dependsOn lists \"%s\" twice",
				            sid, shorten(ds, tmp, sizeof(tmp)));
		r->deps[r->ndeps++] = m;
	}
	return 0;
}

static int parse_one(json_t *j, json_t *reqs, size_t i, struct batch *b, struct batch_err *e)
{
	static const char *const known[] = { "id", "method", "url", "headers", "body", "dependsOn", NULL };
	struct batch_req *r = &b->req[i];
	const char *key;
	json_t *v;
	char sid[80];

	if (!json_is_object(j))
		return berr(e, 400, NULL, "requests[%zu] must be an object", i);
	if (parse_id(json_object_get(j, "id"), i, b, r, e) < 0)
		return -1;
	shorten(r->id, sid, sizeof(sid));
	json_object_foreach(j, key, v)
	{
		size_t k;
		char tmp[80];

		for (k = 0; known[k] != NULL && strcmp(key, known[k]) != 0; k++)
			;
		if (known[k] == NULL)
			return berr(e, 400, r->id, "request \"%s\": unknown member \"%s\"", sid,
			            shorten(key, tmp, sizeof(tmp)));
	}
	if (parse_method(json_object_get(j, "method"), r, e, sid) < 0 ||
	    parse_url(json_object_get(j, "url"), r, e, sid) < 0 ||
	    parse_headers(json_object_get(j, "headers"), r, e, sid) < 0 ||
	    parse_body(json_object_get(j, "body"), r, e, sid) < 0 ||
	    parse_deps(json_object_get(j, "dependsOn"), reqs, i, b, r, e, sid) < 0)
		return -1;
	return 0;
}

int batch_parse(const char *body, size_t len, const struct batch_cfg *cfg, struct batch **out,
                struct batch_err *e)
{
	struct batch *b = NULL;
	json_error_t jerr;
	json_t *root = NULL, *reqs;
	const char *key;
	json_t *v;
	size_t i, n;

	*out = NULL;
	memset(e, 0, sizeof(*e));
	if (len > (size_t)cfg->max_bytes)
		return berr(e, 413, NULL, "the batch is larger than %ld bytes", cfg->max_bytes);
	if (body == NULL || len == 0)
		return berr(e, 400, NULL, "the batch body is empty");
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		char tmp[80];

		berr(e, 400, NULL, "the batch is not valid JSON (line %d, column %d): %s", jerr.line,
		     jerr.column, shorten(jerr.text, tmp, sizeof(tmp)));
		goto bad;
	}
	if (!json_is_object(root)) {
		berr(e, 400, NULL, "the batch must be a JSON object {\"requests\":[...]}");
		goto bad;
	}
	json_object_foreach(root, key, v)
	{
		if (strcmp(key, "requests") != 0) {
			char tmp[80];

			berr(e, 400, NULL, "unknown member \"%s\" in the batch",
			     shorten(key, tmp, sizeof(tmp)));
			goto bad;
		}
	}
	reqs = json_object_get(root, "requests");
	if (reqs == NULL || !json_is_array(reqs)) {
		berr(e, 400, NULL, "the batch needs a \"requests\" array");
		goto bad;
	}
	n = json_array_size(reqs);
	if (n == 0) {
		berr(e, 400, NULL, "the batch has no requests");
		goto bad;
	}
	if (n > (size_t)cfg->max_requests) {
		berr(e, 400, NULL, "the batch has %zu requests; at most %ld are allowed", n,
		     cfg->max_requests);
		goto bad;
	}
	if ((b = calloc(1, sizeof(*b))) == NULL || (b->req = calloc(n, sizeof(*b->req))) == NULL) {
		berr(e, 400, NULL, "out of memory");
		goto bad;
	}
	b->n = n;
	for (i = 0; i < n; i++)
		if (parse_one(json_array_get(reqs, i), reqs, i, b, e) < 0)
			goto bad;
	json_decref(root);
	*out = b;
	return 0;
bad:
	batch_free(b);
	json_decref(root);
	return -1;
}

int batch_err_json(const struct batch_err *e, struct buf *out)
{
	json_t *o = json_object();

	if (o == NULL)
		return -1;
	json_object_set_new(o, "code", json_string(e->code));
	json_object_set_new(o, "message", json_string(e->message));
	if (e->request_id[0] != '\0')
		json_object_set_new(o, "requestId", json_string(e->request_id));
	return buf_put_json(out, o);
}

int batch_req_route(const struct batch_req *r, size_t body_max, struct ops_req *o, struct ops_err *e)
{
	ops_req_init(o);
	if (ops_route(r->method, r->raw_path, o, e) < 0)
		return -1;
	if (r->raw_query != NULL && ops_parse_query(o, r->raw_query, e) < 0)
		return -1;
	if (ops_validate_query(o, e) < 0)
		return -1;
	return ops_validate_body(o, r->content_type, r->body, r->body_len, body_max, e);
}

/* ---- scheduling and results ---- */

static int set_result(struct batch *b, size_t i, int status, const char *ct, const struct batch_kv *h,
                      size_t nh, const void *body, size_t len)
{
	struct batch_req *r;
	size_t k;

	if (i >= b->n || b->req[i].state == BATCH_DONE)
		return -1;
	r = &b->req[i];
	if (nh > 0 && (r->resp_headers = calloc(nh, sizeof(*r->resp_headers))) == NULL)
		return -1;
	for (k = 0; k < nh; k++) {
		if ((r->resp_headers[k].name = strdup(h[k].name)) == NULL ||
		    (r->resp_headers[k].value = strdup(h[k].value)) == NULL) {
			r->nresp_headers = k + 1;
			goto bad;
		}
	}
	r->nresp_headers = nh;
	if (ct != NULL && (r->resp_content_type = strdup(ct)) == NULL)
		goto bad;
	if (len > 0) {
		if ((r->resp_body = malloc(len + 1)) == NULL)
			goto bad;
		memcpy(r->resp_body, body, len);
		r->resp_body[len] = '\0';
		r->resp_len = len;
	}
	r->status = status;
	r->state = BATCH_DONE;
	b->ndone++;
	return 0;
bad:
	hdrs_free(r->resp_headers, r->nresp_headers);
	r->resp_headers = NULL;
	r->nresp_headers = 0;
	free(r->resp_content_type);
	r->resp_content_type = NULL;
	return -1;
}

int batch_set_result(struct batch *b, size_t i, int status, const char *content_type,
                     const struct batch_kv *headers, size_t nheaders, const void *body, size_t len)
{
	return set_result(b, i, status, content_type, headers, nheaders, body, len);
}

static int set_error_json(struct batch *b, size_t i, int status, const char *code, const char *message)
{
	json_t *o = json_object();
	char *s;
	int rc;

	if (o == NULL)
		return -1;
	json_object_set_new(o, "code", json_string(code));
	json_object_set_new(o, "message", json_string(message));
	s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (s == NULL)
		return -1;
	rc = set_result(b, i, status, "application/json", NULL, 0, s, strlen(s));
	free(s);
	return rc;
}

int batch_set_error(struct batch *b, size_t i, const struct ops_err *e)
{
	return set_error_json(b, i, e->status, e->code, e->message);
}

size_t batch_next_ready(struct batch *b, size_t *idx, size_t max)
{
	size_t i, k, n = 0;

	/* dependencies are earlier, so one pass settles failures transitively */
	for (i = 0; i < b->n; i++) {
		struct batch_req *r = &b->req[i];
		int waiting = 0;

		if (r->state != BATCH_PENDING)
			continue;
		for (k = 0; k < r->ndeps; k++) {
			const struct batch_req *d = &b->req[r->deps[k]];

			if (d->state != BATCH_DONE) {
				waiting = 1;
			} else if (d->status < 200 || d->status > 299) {
				char msg[BATCH_ID_MAX + 64], sid[80];

				snprintf(msg, sizeof(msg), "request \"%s\" it depends on did not succeed",
				         shorten(d->id, sid, sizeof(sid)));
				if (set_error_json(b, i, 424, "FailedDependency", msg) < 0) {
					/* no memory: leave it pending; the caller sees it not done */
					waiting = 1;
					break;
				}
				break;
			}
		}
		if (r->state == BATCH_DONE || waiting)
			continue;
		if (n < max) {
			r->state = BATCH_RUNNING;
			idx[n++] = i;
		}
	}
	return n;
}

int batch_done(const struct batch *b)
{
	return b->ndone == b->n;
}

/* The body of a response, encoded by its Content-Type; *fallback = 1 when it had to use base64 instead. */
static json_t *encode_body(const struct batch_req *r, int *fallback)
{
	enum batch_body_enc enc = batch_enc_for(r->resp_content_type);
	json_t *j;
	char *b64;

	*fallback = 0;
	if (enc == BATCH_BODY_JSON) {
		if ((j = json_loadb(r->resp_body, r->resp_len, JSON_DECODE_ANY, NULL)) != NULL)
			return j;
		*fallback = 1;
	} else if (enc == BATCH_BODY_TEXT || enc == BATCH_BODY_NONE) {
		if (utf8_valid(r->resp_body, r->resp_len) && strlen(r->resp_body) == r->resp_len &&
		    enc == BATCH_BODY_TEXT)
			return json_stringn(r->resp_body, r->resp_len);
		*fallback = 1;
	}
	if ((b64 = b64_encode(r->resp_body, r->resp_len)) == NULL)
		return NULL;
	j = json_string(b64);
	free(b64);
	return j;
}

int batch_response_json(const struct batch *b, struct buf *out)
{
	json_t *root = json_object(), *arr = json_array();
	size_t i, k;

	if (root == NULL || arr == NULL) {
		json_decref(root);
		json_decref(arr);
		return -1;
	}
	json_object_set_new(root, "responses", arr);
	for (i = 0; i < b->n; i++) {
		const struct batch_req *r = &b->req[i];
		json_t *o, *h;

		if (r->state != BATCH_DONE)
			continue;
		if ((o = json_object()) == NULL || json_array_append_new(arr, o) < 0 ||
		    (h = json_object()) == NULL)
			goto bad;
		json_object_set_new(o, "id", json_string(r->id));
		json_object_set_new(o, "status", json_integer(r->status));
		json_object_set_new(o, "headers", h);
		for (k = 0; k < r->nresp_headers; k++)
			if (strcasecmp(r->resp_headers[k].name, "Content-Type") != 0)
				json_object_set_new(h, r->resp_headers[k].name,
				                    json_string(r->resp_headers[k].value));
		if (r->resp_len > 0) {
			int fallback;
			json_t *body = encode_body(r, &fallback);

			if (body == NULL)
				goto bad;
			json_object_set_new(h, "Content-Type",
			                    json_string(fallback || r->resp_content_type == NULL
			                                        ? "application/octet-stream"
			                                        : r->resp_content_type));
			json_object_set_new(o, "body", body);
		} else if (r->resp_content_type != NULL) {
			json_object_set_new(h, "Content-Type", json_string(r->resp_content_type));
		}
	}
	return buf_put_json(out, root);
bad:
	json_decref(root);
	return -1;
}
