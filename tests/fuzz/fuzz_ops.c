/* fuzz_ops.c: libFuzzer target for the operation table: ops_parse_request, ops_validate_body, the
 * canonical upstream path and query, error JSON, and the local client token answer.
 *
 * Input (text, so that seeds are readable requests):
 *   line 1: METHOD SP raw-target        ("POST /api/hubs/chat/:send?api-version=2024-12-01")
 *   line 2: the Content-Type, "-" for none
 *   rest:   the body
 * A missing line 2 means no Content-Type and no body. Bytes after a NUL in line 1 are cut, as a C
 * string would be. */
#include <config.h>
#include "fuzz.h"

#include <string.h>
#include <jansson.h>

#include "buf.h"
#include "ops.h"
#include "token.h"

#define FUZZ_BODY_MAX 4096 /* the body limit given to ops_validate_body (small, so 413 is reachable) */

static char *dup_n(const uint8_t *p, size_t n)
{
	char *s = malloc(n + 1);

	if (s == NULL)
		abort();
	memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

static void check_err(const struct ops_err *e)
{
	struct buf b;
	json_t *j;

	FUZZ_ASSERT(e->status == 400 || e->status == 404 || e->status == 405 || e->status == 413 ||
	            e->status == 415);
	FUZZ_ASSERT(memchr(e->code, '\0', sizeof e->code) != NULL && e->code[0] != '\0');
	FUZZ_ASSERT(memchr(e->message, '\0', sizeof e->message) != NULL);
	buf_init(&b, 0);
	FUZZ_ASSERT(ops_err_json(e, &b) == 0);
	/* the error body must be valid JSON with the two members */
	j = json_loadb(b.data, b.len, 0, NULL);
	FUZZ_ASSERT(json_is_object(j));
	FUZZ_ASSERT(json_is_string(json_object_get(j, "code")));
	FUZZ_ASSERT(json_is_string(json_object_get(j, "message")));
	json_decref(j);
	buf_free(&b);
}

static void check_ok(const struct ops_req *r)
{
	static const char key[] = "fuzz-access-key-0123456789abcdefghijklmnopq=";
	struct buf path, query;
	size_t i;

	FUZZ_ASSERT(r->op != NULL && r->nquery <= WPS_QUERY_PARAMS_MAX);
	buf_init(&path, 0);
	buf_init(&query, 0);
	FUZZ_ASSERT(ops_build_path(r, &path) == 0);
	FUZZ_ASSERT(ops_build_query(r, WPS_DEFAULT_API_VERSION, &query) == 0);
	/* canonical: only unreserved characters, '/', ':', '%XX' in the path; no CR, LF, space, NUL */
	for (i = 0; i < path.len; i++) {
		unsigned char ch = (unsigned char)path.data[i];
		FUZZ_ASSERT(ch > 0x20 && ch < 0x7f && ch != '?' && ch != '#');
	}
	FUZZ_ASSERT(path.len > 0 && path.data[0] == '/');
	FUZZ_ASSERT(strncmp(query.data, "api-version=" WPS_DEFAULT_API_VERSION,
	                    strlen("api-version=" WPS_DEFAULT_API_VERSION)) == 0);
	for (i = 0; i < query.len; i++) {
		unsigned char ch = (unsigned char)query.data[i];
		FUZZ_ASSERT(ch > 0x20 && ch < 0x7f && ch != '#');
	}
	/* no decoded path parameter is "." or ".." and none holds a NUL (it is a C string) */
	FUZZ_ASSERT(r->hub == NULL || (strcmp(r->hub, ".") != 0 && strcmp(r->hub, "..") != 0));
	FUZZ_ASSERT(r->group == NULL || (strcmp(r->group, ".") != 0 && strcmp(r->group, "..") != 0));
	FUZZ_ASSERT(r->user == NULL || (strcmp(r->user, ".") != 0 && strcmp(r->user, "..") != 0));
	FUZZ_ASSERT(r->connection == NULL ||
	            (strcmp(r->connection, ".") != 0 && strcmp(r->connection, "..") != 0));
	(void)ops_query_get(r, "api-version");
	buf_free(&path);
	buf_free(&query);

	if (r->op->id == OP_GENERATE_CLIENT_TOKEN && r->hub != NULL) {
		struct client_token_req tr;
		struct ops_err e;
		json_t *j;

		if (token_req_from_ops(r, &tr, &e) < 0) {
			check_err(&e);
			return;
		}
		j = token_client_response("https://fuzz.webpubsub.azure.com", r->hub, &tr, 1700000000, key,
		                          sizeof key - 1);
		FUZZ_ASSERT(j != NULL);
		FUZZ_ASSERT(json_is_string(json_object_get(j, "token")));
		json_decref(j);
		token_req_release(&tr);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nl1, *end = data + size, *ct_start = NULL, *body = NULL;
	char *line1, *sp, *ct = NULL;
	const char *method, *url;
	size_t body_len = 0;
	struct ops_req r;
	struct ops_err e;

	nl1 = memchr(data, '\n', size);
	line1 = dup_n(data, nl1 ? (size_t)(nl1 - data) : size);
	if (nl1 != NULL) {
		const uint8_t *nl2;
		ct_start = nl1 + 1;
		nl2 = memchr(ct_start, '\n', (size_t)(end - ct_start));
		if (nl2 == NULL)
			nl2 = end;
		ct = dup_n(ct_start, (size_t)(nl2 - ct_start));
		if (strcmp(ct, "-") == 0) {
			free(ct);
			ct = NULL;
		}
		if (nl2 < end) {
			body = nl2 + 1;
			body_len = (size_t)(end - body);
		}
	}
	sp = strchr(line1, ' ');
	if (sp != NULL) {
		method = line1;
		*sp = '\0';
		url = sp + 1;
	} else {
		method = "GET";
		url = line1;
	}

	ops_req_init(&r);
	memset(&e, 0, sizeof e);
	if (ops_parse_request(method, url, &r, &e) < 0) {
		check_err(&e);
	} else {
		/* the body, exactly as api.c gives it: NUL-terminated copy ("" when none) */
		char *b = dup_n(body ? body : (const uint8_t *)"", body_len);
		if (ops_validate_body(&r, ct, b, body_len, FUZZ_BODY_MAX, &e) < 0)
			check_err(&e);
		else
			check_ok(&r);
		free(b);
	}
	ops_req_free(&r);
	free(ct);
	free(line1);
	return 0;
}
