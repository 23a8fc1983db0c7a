/* fuzz_batch.c: libFuzzer target for POST /$batch: batch_parse, batch_req_route of every sub-request,
 * the dependsOn scheduler with results (upstream answers are made up from the request), and the
 * response and error JSON.
 * Input: the $batch request body. */
#include <config.h>
#include "fuzz.h"

#include <string.h>
#include <jansson.h>

#include "gateway/batch.h"
#include "buf.h"
#include "ops.h"

#define FUZZ_BODY_MAX  4096  /* body limit of one sub-request (small, so 413 is reachable) */
#define FUZZ_MAX_BYTES 65536 /* of the whole batch */

/* A made-up upstream status for sub-request r: mostly the operation's success, sometimes a failure,
 * so that 424 chains are exercised. Deterministic in the input. */
static int fake_status(const struct batch_req *r, const struct ops_req *o)
{
	unsigned h = 0;
	const char *p;

	for (p = r->id; *p; p++)
		h = h * 31 + (unsigned char)*p;
	switch (h % 5) {
	case 0: return 500;
	case 1: return 429;
	default: return o->op->success;
	}
}

static void check_response(const struct batch *b)
{
	struct buf out;
	json_t *j, *arr;

	buf_init(&out, 0);
	FUZZ_ASSERT(batch_response_json(b, &out) == 0);
	j = json_loadb(out.data, out.len, 0, NULL);
	FUZZ_ASSERT(json_is_object(j));
	arr = json_object_get(j, "responses");
	FUZZ_ASSERT(json_is_array(arr) && json_array_size(arr) == b->n);
	json_decref(j);
	buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct batch_cfg cfg;
	struct batch *b = NULL;
	struct batch_err be;
	struct ops_req *routed = NULL;
	int *ok = NULL;
	size_t i, *idx = NULL, rounds = 0;

	cfgtab_defaults(&batch_cfg_section, &cfg);
	cfg.max_bytes = FUZZ_MAX_BYTES;
	if (batch_parse((const char *)data, size, &cfg, &b, &be) < 0) {
		struct buf out;
		json_t *j;

		FUZZ_ASSERT(b == NULL);
		FUZZ_ASSERT(be.status == 400 || be.status == 413);
		FUZZ_ASSERT(memchr(be.message, '\0', sizeof be.message) != NULL);
		buf_init(&out, 0);
		FUZZ_ASSERT(batch_err_json(&be, &out) == 0);
		j = json_loadb(out.data, out.len, 0, NULL);
		FUZZ_ASSERT(json_is_object(j));
		json_decref(j);
		buf_free(&out);
		return 0;
	}
	FUZZ_ASSERT(b != NULL && b->n >= 1 && b->n <= (size_t)cfg.max_requests);
	routed = calloc(b->n, sizeof *routed);
	ok = calloc(b->n, sizeof *ok);
	idx = calloc(b->n, sizeof *idx);
	if (routed == NULL || ok == NULL || idx == NULL)
		abort();

	/* every sub-request through the operation table; failures are their response at once */
	for (i = 0; i < b->n; i++) {
		struct ops_err e;
		const struct batch_req *r = &b->req[i];

		FUZZ_ASSERT(r->id != NULL && r->method != NULL && r->raw_path != NULL);
		FUZZ_ASSERT(r->body == NULL || r->body[r->body_len] == '\0');
		memset(&e, 0, sizeof e);
		if (batch_req_route(r, FUZZ_BODY_MAX, &routed[i], &e) == 0) {
			ok[i] = 1;
		} else {
			FUZZ_ASSERT(e.status >= 400 && e.status <= 415);
			ops_req_free(&routed[i]);
			FUZZ_ASSERT(batch_set_error(b, i, &e) == 0);
		}
	}

	/* the scheduler, as the gateway runs it: start what is ready, answer it, repeat */
	while (!batch_done(b)) {
		size_t n = batch_next_ready(b, idx, b->n), k;

		FUZZ_ASSERT(++rounds <= b->n + 1); /* dependsOn names only earlier requests: no stall */
		for (k = 0; k < n; k++) {
			const struct batch_req *r = &b->req[idx[k]];
			struct batch_kv h[1] = { { "x-ms-error-code", "FuzzError" } };
			int st;

			FUZZ_ASSERT(ok[idx[k]] && r->state == BATCH_RUNNING);
			st = fake_status(r, &routed[idx[k]]);
			/* echo the request body back under its own Content-Type: exercises the encodings */
			FUZZ_ASSERT(batch_set_result(b, idx[k], st, r->content_type, h, st >= 400 ? 1 : 0,
			                             r->body, r->body ? r->body_len : 0) == 0);
			FUZZ_ASSERT(batch_set_result(b, idx[k], 200, NULL, NULL, 0, NULL, 0) == -1);
		}
		if (n == 0)
			FUZZ_ASSERT(batch_done(b));
	}
	check_response(b);

	for (i = 0; i < b->n; i++)
		ops_req_free(&routed[i]);
	free(routed);
	free(ok);
	free(idx);
	batch_free(b);
	return 0;
}
