/* check_gw_batch.c: unit tests for JSON batching (src/gateway/batch.c): parsing, errors, dependsOn, 424, encodings. */
#include <config.h>

#include <check.h>

#include "check_cfg.h"
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <libconfig.h>

#include "b64.h"
#include "buf.h"
#include "jwt.h"
#include "ops.h"
#include "gateway/batch.h"
#include "check_main.h"

static struct batch_cfg cfg;
static struct batch *b;
static struct buf out;

static void setup(void)
{
	cfgtab_defaults(&batch_cfg_section, &cfg);
	b = NULL;
	buf_init(&out, 0);
}

static void teardown(void)
{
	batch_free(b);
	buf_free(&out);
}

static int parse(const char *text, struct batch_err *e)
{
	batch_free(b);
	b = NULL;
	return batch_parse(text, strlen(text), &cfg, &b, e);
}

START_TEST(test_good_batch)
{
	struct batch_err e;
	const char *text =
	        "{\"requests\":["
	        "{\"id\":\"1\",\"method\":\"post\",\"url\":\"/api/hubs/chat/"
	        ":send?api-version=2024-12-01&excluded=c%201\","
	        " \"headers\":{\"Content-Type\":\"application/json\",\"x-ms-client-request-id\":\"r1\"},"
	        " \"body\":{\"text\": \"hi\",  \"n\": [1, 2]}},"
	        "{\"id\":\"two\",\"method\":\"POST\",\"url\":\"/api/hubs/chat/groups/g1/:send\","
	        " \"headers\":{\"content-type\":\"text/plain; "
	        "charset=utf-8\"},\"body\":\"h\\u00e9llo\",\"dependsOn\":[\"1\"]},"
	        "{\"id\":\"3\",\"method\":\"POST\",\"url\":\"/api/hubs/chat/users/u1/:send\","
	        " \"headers\":{\"Content-Type\":\"application/octet-stream\"},\"body\":\"AAEC/"
	        "w==\",\"dependsOn\":[\"1\",\"two\"]},"
	        "{\"id\":\"4\",\"method\":\"HEAD\",\"url\":\"/api/hubs/chat/groups/g1\",\"body\":null}"
	        "]}";

	ck_assert_int_eq(parse(text, &e), 0);
	ck_assert_uint_eq(b->n, 4);
	ck_assert_str_eq(b->req[0].id, "1");
	ck_assert_str_eq(b->req[0].method, "POST");
	ck_assert_str_eq(b->req[0].raw_path, "/api/hubs/chat/:send");
	ck_assert_str_eq(b->req[0].raw_query, "api-version=2024-12-01&excluded=c%201");
	ck_assert_str_eq(b->req[0].content_type, "application/json");
	ck_assert_int_eq(b->req[0].enc, BATCH_BODY_JSON);
	ck_assert_str_eq(b->req[0].body, "{\"text\":\"hi\",\"n\":[1,2]}");
	ck_assert_uint_eq(b->req[0].body_len, strlen("{\"text\":\"hi\",\"n\":[1,2]}"));
	ck_assert_uint_eq(b->req[0].nheaders, 2);
	ck_assert_str_eq(b->req[0].headers[1].name, "x-ms-client-request-id");
	ck_assert_str_eq(b->req[0].headers[1].value, "r1");
	ck_assert_uint_eq(b->req[0].ndeps, 0);

	ck_assert_str_eq(b->req[1].id, "two");
	ck_assert_ptr_null(b->req[1].raw_query);
	ck_assert_int_eq(b->req[1].enc, BATCH_BODY_TEXT);
	ck_assert_str_eq(b->req[1].content_type, "text/plain; charset=utf-8");
	ck_assert_str_eq(b->req[1].body, "h\xc3\xa9llo");
	ck_assert_uint_eq(b->req[1].ndeps, 1);
	ck_assert_uint_eq(b->req[1].deps[0], 0);

	ck_assert_int_eq(b->req[2].enc, BATCH_BODY_BASE64);
	ck_assert_uint_eq(b->req[2].body_len, 4);
	ck_assert_int_eq(memcmp(b->req[2].body, "\x00\x01\x02\xff", 4), 0);
	ck_assert_uint_eq(b->req[2].ndeps, 2);
	ck_assert_uint_eq(b->req[2].deps[1], 1);

	ck_assert_int_eq(b->req[3].enc, BATCH_BODY_NONE);
	ck_assert_ptr_null(b->req[3].body);
	ck_assert_ptr_null(b->req[3].content_type);
	ck_assert_int_eq(b->req[3].state, BATCH_PENDING);
}
END_TEST

START_TEST(test_route_sub_requests)
{
	struct batch_err e;
	struct ops_req o;
	struct ops_err oe;
	const char *text =
	        "{\"requests\":["
	        "{\"id\":\"a\",\"method\":\"POST\",\"url\":\"/api/hubs/chat/groups/g%201/"
	        ":send?api-version=2024-12-01\","
	        " \"headers\":{\"Content-Type\":\"text/plain\"},\"body\":\"x\"},"
	        "{\"id\":\"b\",\"method\":\"POST\",\"url\":\"/api/hubs/chat/nowhere\"},"
	        "{\"id\":\"c\",\"method\":\"GET\",\"url\":\"/api/hubs/chat/:send\"},"
	        "{\"id\":\"d\",\"method\":\"POST\",\"url\":\"/api/hubs/chat/"
	        ":send\",\"headers\":{\"Content-Type\":\"image/png\"},\"body\":\"AA==\"},"
	        "{\"id\":\"e\",\"method\":\"POST\",\"url\":\"/api/hubs/chat/:send?messageTtlSeconds=999\","
	        " \"headers\":{\"Content-Type\":\"text/plain\"},\"body\":\"x\"}"
	        "]}";

	ck_assert_int_eq(parse(text, &e), 0);
	ck_assert_int_eq(batch_req_route(&b->req[0], 1024, &o, &oe), 0);
	ck_assert_int_eq(o.op->id, OP_SEND_TO_GROUP);
	ck_assert_str_eq(o.hub, "chat");
	ck_assert_str_eq(o.group, "g 1");
	ck_assert_str_eq(ops_query_get(&o, "api-version"), "2024-12-01");
	ops_req_free(&o);
	ck_assert_int_eq(batch_req_route(&b->req[1], 1024, &o, &oe), -1);
	ck_assert_int_eq(oe.status, 404);
	ops_req_free(&o);
	ck_assert_int_eq(batch_req_route(&b->req[2], 1024, &o, &oe), -1);
	ck_assert_int_eq(oe.status, 405);
	ops_req_free(&o);
	ck_assert_int_eq(batch_req_route(&b->req[3], 1024, &o, &oe), -1);
	ck_assert_int_eq(oe.status, 415);
	ops_req_free(&o);
	ck_assert_int_eq(batch_req_route(&b->req[4], 1024, &o, &oe), -1);
	ck_assert_int_eq(oe.status, 400);
	ops_req_free(&o);
	ck_assert_int_eq(batch_req_route(&b->req[0], 0, &o, &oe), -1); /* the body limit */
	ck_assert_int_eq(oe.status, 413);
	ops_req_free(&o);

	/* a failed check becomes that request's response */
	ck_assert_int_eq(batch_req_route(&b->req[1], 1024, &o, &oe), -1);
	ops_req_free(&o);
	ck_assert_int_eq(batch_set_error(b, 1, &oe), 0);
	ck_assert_int_eq(b->req[1].status, 404);
	ck_assert_str_eq(b->req[1].resp_content_type, "application/json");
	ck_assert_ptr_nonnull(strstr(b->req[1].resp_body, "\"code\":\"NotFound\""));
}
END_TEST

START_TEST(test_malformed)
{
	static const struct {
		const char *text;
		int status;
		const char *message, *id;
	} cases[] = {
		{ "", 400, "the batch body is empty", "" },
		{ "{\"requests\":[", 400, NULL, "" },
		{ "[1]", 400, "the batch must be a JSON object {\"requests\":[...]}", "" },
		{ "{}", 400, "the batch needs a \"requests\" array", "" },
		{ "{\"requests\":{}}", 400, "the batch needs a \"requests\" array", "" },
		{ "{\"requests\":[]}", 400, "the batch has no requests", "" },
		{ "{\"requests\":[],\"x\":1}", 400, "unknown member \"x\" in the batch", "" },
		{ "{\"requests\":[1]}", 400, "requests[0] must be an object", "" },
		{ "{\"requests\":[{\"method\":\"GET\",\"url\":\"/api/health\"}]}", 400,
		  "requests[0]: \"id\" is missing", "" },
		{ "{\"requests\":[{\"id\":1,\"method\":\"GET\",\"url\":\"/api/health\"}]}", 400,
		  "requests[0]: \"id\" must be a string", "" },
		{ "{\"requests\":[{\"id\":\"\",\"method\":\"GET\",\"url\":\"/api/health\"}]}", 400,
		  "requests[0]: \"id\" must not be empty", "" },
		{ "{\"requests\":[{\"id\":\"a\\nb\",\"method\":\"GET\",\"url\":\"/api/health\"}]}", 400,
		  "requests[0]: \"id\" must not contain control characters", "" },
		{ "{\"requests\":[{\"id\":\"a\",\"method\":\"GET\",\"url\":\"/api/health\"},"
		  "{\"id\":\"a\",\"method\":\"GET\",\"url\":\"/api/health\"}]}",
		  400, "request \"a\": the id is used twice", "a" },
		{ "{\"requests\":[{\"id\":\"a\",\"url\":\"/api/health\"}]}", 400,
		  "request \"a\": \"method\" is missing", "a" },
		{ "{\"requests\":[{\"id\":\"a\",\"method\":\"G T\",\"url\":\"/api/health\"}]}", 400,
		  "request \"a\": \"method\" must be an HTTP method name", "a" },
		{ "{\"requests\":[{\"id\":\"a\",\"method\":5,\"url\":\"/api/health\"}]}", 400,
		  "request \"a\": \"method\" must be an HTTP method name", "a" },
		{ "{\"requests\":[{\"id\":\"a\",\"method\":\"GET\"}]}", 400,
		  "request \"a\": \"url\" is missing", "a" },
		{ "{\"requests\":[{\"id\":\"a\",\"method\":\"GET\",\"url\":\"https://x.example/api/"
		  "health\"}]}",
		  400, "request \"a\": \"url\" must be a relative URL starting with one '/'", "a" },
		{ "{\"requests\":[{\"id\":\"a\",\"method\":\"GET\",\"url\":\"//x.example/api\"}]}", 400,
		  "request \"a\": \"url\" must be a relative URL starting with one '/'", "a" },
		{ "{\"requests\":[{\"id\":\"a\",\"method\":\"GET\",\"url\":\"/api/he alth\"}]}", 400,
		  "request \"a\": \"url\" must be percent-encoded ASCII without spaces or a fragment", "a" },
		{ "{\"requests\":[{\"id\":\"a\",\"method\":\"GET\",\"url\":\"/api/health#x\"}]}", 400,
		  "request \"a\": \"url\" must be percent-encoded ASCII without spaces or a fragment", "a" },
		{ "{\"requests\":[{\"id\":\"a\",\"method\":\"GET\",\"url\":\"/api/h\\r\\nX: y\"}]}", 400,
		  "request \"a\": \"url\" must be percent-encoded ASCII without spaces or a fragment", "a" },
		{ "{\"requests\":[{\"id\":\"a\",\"method\":\"GET\",\"url\":\"/api/h\\u0000x\"}]}", 400, NULL,
		  "" },
		{ "{\"requests\":[{\"id\":\"a\",\"method\":\"GET\",\"url\":\"/api/health\",\"headers\":[]}]}",
		  400, "request \"a\": \"headers\" must be an object of strings", "a" },
		{ "{\"requests\":[{\"id\":\"a\",\"method\":\"GET\",\"url\":\"/api/"
		  "health\",\"headers\":{\"X\":1}}]}",
		  400, "request \"a\": header \"X\" must be a string", "a" },
		{ "{\"requests\":[{\"id\":\"a\",\"method\":\"GET\",\"url\":\"/api/health\",\"headers\":{\"X "
		  "Y\":\"1\"}}]}",
		  400, "request \"a\": header name \"X Y\" is not a token", "a" },
		{ "{\"requests\":[{\"id\":\"a\",\"method\":\"GET\",\"url\":\"/api/"
		  "health\",\"headers\":{\"X\":\"1\\r\\nY: 2\"}}]}",
		  400, "request \"a\": header \"X\" holds CR or LF", "a" },
		{ "{\"requests\":[{\"id\":\"a\",\"method\":\"GET\",\"url\":\"/api/health\",\"headers\":"
		  "{\"Content-Type\":\"text/plain\",\"content-type\":\"text/plain\"}}]}",
		  400, "request \"a\": Content-Type given twice", "a" },
		{ "{\"requests\":[{\"id\":\"a\",\"method\":\"POST\",\"url\":\"/api/hubs/h/"
		  ":send\",\"body\":\"x\"}]}",
		  400, "request \"a\": a body needs a Content-Type header", "a" },
		{ "{\"requests\":[{\"id\":\"a\",\"method\":\"POST\",\"url\":\"/api/hubs/h/:send\","
		  "\"headers\":{\"Content-Type\":\"text/plain\"},\"body\":{\"x\":1}}]}",
		  400, "request \"a\": a text body must be a JSON string", "a" },
		{ "{\"requests\":[{\"id\":\"a\",\"method\":\"POST\",\"url\":\"/api/hubs/h/:send\","
		  "\"headers\":{\"Content-Type\":\"application/octet-stream\"},\"body\":\"not base64!\"}]}",
		  400, "request \"a\": the body is not valid base64", "a" },
		{ "{\"requests\":[{\"id\":\"a\",\"method\":\"POST\",\"url\":\"/api/hubs/h/:send\","
		  "\"headers\":{\"Content-Type\":\"application/octet-stream\"},\"body\":[1]}]}",
		  400, "request \"a\": a binary body must be a base64 string", "a" },
		{ "{\"requests\":[{\"id\":\"a\",\"method\":\"GET\",\"url\":\"/api/"
		  "health\",\"dependsOn\":\"b\"}]}",
		  400, "request \"a\": \"dependsOn\" must be an array of ids", "a" },
		{ "{\"requests\":[{\"id\":\"a\",\"method\":\"GET\",\"url\":\"/api/"
		  "health\",\"dependsOn\":[\"a\"]}]}",
		  400, "request \"a\": it depends on itself", "a" },
		{ "{\"requests\":[{\"id\":\"a\",\"method\":\"GET\",\"url\":\"/api/"
		  "health\",\"dependsOn\":[\"zz\"]}]}",
		  400, "request \"a\": dependsOn \"zz\" is not a request of the batch", "a" },
		/* a cycle a -> b -> a: the forward reference is refused */
		{ "{\"requests\":[{\"id\":\"a\",\"method\":\"GET\",\"url\":\"/api/"
		  "health\",\"dependsOn\":[\"b\"]},"
		  "{\"id\":\"b\",\"method\":\"GET\",\"url\":\"/api/health\",\"dependsOn\":[\"a\"]}]}",
		  400, "request \"a\": dependsOn \"b\" names a later request; only earlier ones may be named",
		  "a" },
		{ "{\"requests\":[{\"id\":\"a\",\"method\":\"GET\",\"url\":\"/api/health\"},"
		  "{\"id\":\"b\",\"method\":\"GET\",\"url\":\"/api/health\",\"dependsOn\":[\"a\",\"a\"]}]}",
		  400, "request \"b\": dependsOn lists \"a\" twice", "b" },
		{ "{\"requests\":[{\"id\":\"a\",\"method\":\"GET\",\"url\":\"/api/"
		  "health\",\"atomicityGroup\":\"g\"}]}",
		  400, "request \"a\": unknown member \"atomicityGroup\"", "a" },
		{ "{\"requests\":[{\"id\":\"a\",\"id\":\"b\",\"method\":\"GET\",\"url\":\"/api/health\"}]}",
		  400, NULL, "" },
	};
	struct batch_err e;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ck_assert_msg(parse(cases[i].text, &e) == -1, "case %zu accepted", i);
		ck_assert_ptr_null(b);
		ck_assert_int_eq(e.status, cases[i].status);
		ck_assert_str_eq(e.code, "InvalidBatch");
		if (cases[i].message != NULL)
			ck_assert_str_eq(e.message, cases[i].message);
		else
			ck_assert_msg(strncmp(e.message, "the batch is not valid JSON", 27) == 0,
			              "case %zu: %s", i, e.message);
		ck_assert_str_eq(e.request_id, cases[i].id);
	}
	/* the error body */
	ck_assert_int_eq(parse("{\"requests\":[{\"id\":\"q\\\"1\",\"method\":\"GET\"}]}", &e), -1);
	ck_assert_int_eq(batch_err_json(&e, &out), 0);
	ck_assert_str_eq(
	        out.data,
	        "{\"code\":\"InvalidBatch\",\"message\":\"request \\\"q?1\\\": \\\"url\\\" is missing\","
	        "\"requestId\":\"q\\\"1\"}");
	buf_reset(&out);
	ck_assert_int_eq(parse("{}", &e), -1);
	ck_assert_int_eq(batch_err_json(&e, &out), 0);
	ck_assert_str_eq(
	        out.data,
	        "{\"code\":\"InvalidBatch\",\"message\":\"the batch needs a \\\"requests\\\" array\"}");
}
END_TEST

START_TEST(test_limits)
{
	struct batch_err e;
	struct buf t;
	int i;

	buf_init(&t, 0);
	buf_puts(&t, "{\"requests\":[");
	for (i = 0; i < 101; i++)
		buf_printf(&t, "%s{\"id\":\"%d\",\"method\":\"GET\",\"url\":\"/api/health\"}", i ? "," : "",
		           i);
	buf_puts(&t, "]}");
	ck_assert_int_eq(parse(t.data, &e), -1);
	ck_assert_int_eq(e.status, 400);
	ck_assert_str_eq(e.message, "the batch has 101 requests; at most 100 are allowed");
	cfg.max_requests = 101;
	ck_assert_int_eq(parse(t.data, &e), 0);
	ck_assert_uint_eq(b->n, 101);
	cfg.max_bytes = 1024;
	ck_assert_int_eq(parse(t.data, &e), -1);
	ck_assert_int_eq(e.status, 413);
	ck_assert_str_eq(e.code, "PayloadTooLarge");
	buf_free(&t);
	/* a long id is cut in messages */
	{
		char text[600], id[130];

		memset(id, 'i', 128);
		id[128] = '\0';
		snprintf(text, sizeof(text), "{\"requests\":[{\"id\":\"%s\",\"method\":\"GET\"}]}", id);
		cfg.max_bytes = 4096;
		ck_assert_int_eq(parse(text, &e), -1);
		ck_assert_str_eq(e.request_id, id);
		ck_assert_uint_lt(strlen(e.message), 64 + 40);
		id[128] = 'i';
		id[129] = '\0';
		snprintf(text, sizeof(text), "{\"requests\":[{\"id\":\"%s\",\"method\":\"GET\"}]}", id);
		ck_assert_int_eq(parse(text, &e), -1);
		ck_assert_str_eq(e.message, "requests[0]: \"id\" must be at most 128 bytes");
	}
}
END_TEST

static const char dep_batch[] =
        "{\"requests\":["
        "{\"id\":\"a\",\"method\":\"GET\",\"url\":\"/api/health\"},"
        "{\"id\":\"b\",\"method\":\"GET\",\"url\":\"/api/health\",\"dependsOn\":[\"a\"]},"
        "{\"id\":\"c\",\"method\":\"GET\",\"url\":\"/api/health\",\"dependsOn\":[\"b\"]},"
        "{\"id\":\"d\",\"method\":\"GET\",\"url\":\"/api/health\"},"
        "{\"id\":\"e\",\"method\":\"GET\",\"url\":\"/api/health\",\"dependsOn\":[\"a\",\"d\"]}"
        "]}";

START_TEST(test_depends_order)
{
	struct batch_err e;
	size_t idx[8], n;

	ck_assert_int_eq(parse(dep_batch, &e), 0);
	n = batch_next_ready(b, idx, 8);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(idx[0], 0);
	ck_assert_uint_eq(idx[1], 3);
	ck_assert_int_eq(b->req[0].state, BATCH_RUNNING);
	ck_assert_uint_eq(batch_next_ready(b, idx, 8), 0); /* nothing new until a result */
	ck_assert_int_eq(batch_set_result(b, 3, 200, NULL, NULL, 0, NULL, 0), 0);
	ck_assert_uint_eq(batch_next_ready(b, idx, 8), 0); /* e waits for a too */
	ck_assert_int_eq(batch_set_result(b, 0, 204, NULL, NULL, 0, NULL, 0), 0);
	n = batch_next_ready(b, idx, 8);
	ck_assert_uint_eq(n, 2);
	ck_assert_uint_eq(idx[0], 1);
	ck_assert_uint_eq(idx[1], 4);
	ck_assert_int_eq(batch_set_result(b, 1, 200, NULL, NULL, 0, NULL, 0), 0);
	ck_assert_int_eq(batch_set_result(b, 1, 200, NULL, NULL, 0, NULL, 0), -1); /* once */
	ck_assert_int_eq(batch_set_result(b, 99, 200, NULL, NULL, 0, NULL, 0), -1);
	ck_assert_int_eq(batch_done(b), 0);
	n = batch_next_ready(b, idx, 1);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(idx[0], 2);
	ck_assert_int_eq(batch_set_result(b, 2, 200, NULL, NULL, 0, NULL, 0), 0);
	ck_assert_int_eq(batch_set_result(b, 4, 200, NULL, NULL, 0, NULL, 0), 0);
	ck_assert_int_eq(batch_done(b), 1);
	/* max limits how many are handed out at once */
	ck_assert_int_eq(parse(dep_batch, &e), 0);
	ck_assert_uint_eq(batch_next_ready(b, idx, 1), 1);
	ck_assert_uint_eq(idx[0], 0);
	ck_assert_uint_eq(batch_next_ready(b, idx, 1), 1);
	ck_assert_uint_eq(idx[0], 3);
}
END_TEST

START_TEST(test_424_propagation)
{
	struct batch_err e;
	size_t idx[8], n;

	ck_assert_int_eq(parse(dep_batch, &e), 0);
	n = batch_next_ready(b, idx, 8);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(batch_set_result(b, 0, 503, "application/json", NULL, 0, "{\"code\":\"x\"}", 12), 0);
	n = batch_next_ready(b, idx, 8);
	ck_assert_uint_eq(n, 0);
	/* b failed because a did; c because b did (in the same pass); e waits for d still? no: a failed */
	ck_assert_int_eq(b->req[1].state, BATCH_DONE);
	ck_assert_int_eq(b->req[1].status, 424);
	ck_assert_int_eq(b->req[2].status, 424);
	ck_assert_int_eq(b->req[4].status, 424);
	ck_assert_str_eq(b->req[2].resp_body, "{\"code\":\"FailedDependency\",\"message\":\"request "
	                                      "\\\"b\\\" it depends on did not succeed\"}");
	ck_assert_int_eq(batch_done(b), 0); /* d still running */
	ck_assert_int_eq(batch_set_result(b, 3, 200, NULL, NULL, 0, NULL, 0), 0);
	ck_assert_int_eq(batch_done(b), 1);
	ck_assert_int_eq(batch_response_json(b, &out), 0);
	ck_assert_str_eq(
	        out.data,
	        "{\"responses\":["
	        "{\"id\":\"a\",\"status\":503,\"headers\":{\"Content-Type\":\"application/"
	        "json\"},\"body\":{\"code\":\"x\"}},"
	        "{\"id\":\"b\",\"status\":424,\"headers\":{\"Content-Type\":\"application/json\"},\"body\":"
	        "{\"code\":\"FailedDependency\",\"message\":\"request \\\"a\\\" it depends on did not "
	        "succeed\"}},"
	        "{\"id\":\"c\",\"status\":424,\"headers\":{\"Content-Type\":\"application/json\"},\"body\":"
	        "{\"code\":\"FailedDependency\",\"message\":\"request \\\"b\\\" it depends on did not "
	        "succeed\"}},"
	        "{\"id\":\"d\",\"status\":200,\"headers\":{}},"
	        "{\"id\":\"e\",\"status\":424,\"headers\":{\"Content-Type\":\"application/json\"},\"body\":"
	        "{\"code\":\"FailedDependency\",\"message\":\"request \\\"a\\\" it depends on did not "
	        "succeed\"}}"
	        "]}");
}
END_TEST

START_TEST(test_response_encodings)
{
	struct batch_err e;
	struct batch_kv h[2] = { { "x-ms-error-code", "Throttled" }, { "Retry-After", "3" } };
	static const char bin[] = { 0, 1, 2, (char)0xff };
	const char *text = "{\"requests\":["
	                   "{\"id\":\"j\",\"method\":\"GET\",\"url\":\"/api/health\"},"
	                   "{\"id\":\"t\",\"method\":\"GET\",\"url\":\"/api/health\"},"
	                   "{\"id\":\"b\",\"method\":\"GET\",\"url\":\"/api/health\"},"
	                   "{\"id\":\"badjson\",\"method\":\"GET\",\"url\":\"/api/health\"},"
	                   "{\"id\":\"badutf8\",\"method\":\"GET\",\"url\":\"/api/health\"},"
	                   "{\"id\":\"empty\",\"method\":\"GET\",\"url\":\"/api/health\"},"
	                   "{\"id\":\"noct\",\"method\":\"GET\",\"url\":\"/api/health\"}"
	                   "]}";

	ck_assert_int_eq(parse(text, &e), 0);
	ck_assert_int_eq(batch_set_result(b, 0, 200, "application/json; charset=utf-8", NULL, 0,
	                                  "{ \"a\" : [1, true] }", 19),
	                 0);
	ck_assert_int_eq(batch_set_result(b, 1, 429, "text/plain", h, 2, "slow \xc3\xa9", 7), 0);
	ck_assert_int_eq(batch_set_result(b, 2, 200, "application/octet-stream", NULL, 0, bin, 4), 0);
	ck_assert_int_eq(batch_set_result(b, 3, 500, "application/json", NULL, 0, "{oops", 5), 0);
	ck_assert_int_eq(batch_set_result(b, 4, 200, "text/plain", NULL, 0, "\xff\xfe", 2), 0);
	ck_assert_int_eq(batch_set_result(b, 5, 202, NULL, NULL, 0, NULL, 0), 0);
	ck_assert_int_eq(batch_set_result(b, 6, 200, NULL, NULL, 0, "raw", 3), 0);
	ck_assert_int_eq(batch_response_json(b, &out), 0);
	ck_assert_str_eq(out.data, "{\"responses\":["
	                           "{\"id\":\"j\",\"status\":200,\"headers\":{\"Content-Type\":\"application/"
	                           "json; charset=utf-8\"},"
	                           "\"body\":{\"a\":[1,true]}},"
	                           "{\"id\":\"t\",\"status\":429,\"headers\":{\"x-ms-error-code\":"
	                           "\"Throttled\",\"Retry-After\":\"3\","
	                           "\"Content-Type\":\"text/plain\"},\"body\":\"slow \xc3\xa9\"},"
	                           "{\"id\":\"b\",\"status\":200,\"headers\":{\"Content-Type\":\"application/"
	                           "octet-stream\"},\"body\":\"AAEC/w==\"},"
	                           "{\"id\":\"badjson\",\"status\":500,\"headers\":{\"Content-Type\":"
	                           "\"application/octet-stream\"},\"body\":\"e29vcHM=\"},"
	                           "{\"id\":\"badutf8\",\"status\":200,\"headers\":{\"Content-Type\":"
	                           "\"application/octet-stream\"},\"body\":\"//4=\"},"
	                           "{\"id\":\"empty\",\"status\":202,\"headers\":{}},"
	                           "{\"id\":\"noct\",\"status\":200,\"headers\":{\"Content-Type\":"
	                           "\"application/octet-stream\"},\"body\":\"cmF3\"}"
	                           "]}");
}
END_TEST

/* Request bodies survive the trip: in through the batch encoding, out through the response encoding. */
START_TEST(test_body_round_trip)
{
	struct batch_err e;
	unsigned char bytes[256];
	char *b64, text[2048];
	int i;

	for (i = 0; i < 256; i++)
		bytes[i] = (unsigned char)i;
	b64 = b64_encode(bytes, sizeof(bytes));
	ck_assert_ptr_nonnull(b64);
	snprintf(text, sizeof(text),
	         "{\"requests\":["
	         "{\"id\":\"bin\",\"method\":\"POST\",\"url\":\"/api/hubs/h/"
	         ":send\",\"headers\":{\"Content-Type\":"
	         "\"application/octet-stream\"},\"body\":\"%s\"},"
	         "{\"id\":\"txt\",\"method\":\"POST\",\"url\":\"/api/hubs/h/"
	         ":send\",\"headers\":{\"Content-Type\":"
	         "\"text/plain\"},\"body\":\"line1\\nline2 \\u2603 \\\"q\\\"\"},"
	         "{\"id\":\"json\",\"method\":\"POST\",\"url\":\"/api/hubs/h/"
	         ":send\",\"headers\":{\"Content-Type\":"
	         "\"application/json\"},\"body\":\"just a string\"},"
	         "{\"id\":\"num\",\"method\":\"POST\",\"url\":\"/api/hubs/h/"
	         ":send\",\"headers\":{\"Content-Type\":"
	         "\"application/cloudevents+json\"},\"body\":42}"
	         "]}",
	         b64);
	free(b64);
	ck_assert_int_eq(parse(text, &e), 0);
	ck_assert_uint_eq(b->req[0].body_len, 256);
	ck_assert_int_eq(memcmp(b->req[0].body, bytes, 256), 0);
	ck_assert_str_eq(b->req[1].body, "line1\nline2 \xe2\x98\x83 \"q\"");
	ck_assert_str_eq(b->req[2].body, "\"just a string\"");
	ck_assert_str_eq(b->req[3].body, "42");
	ck_assert_int_eq(b->req[3].enc, BATCH_BODY_JSON);
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(batch_set_result(b, (size_t)i, 200, b->req[i].content_type, NULL, 0,
		                                  b->req[i].body, b->req[i].body_len),
		                 0);
	ck_assert_int_eq(batch_response_json(b, &out), 0);
	/* decode the response: the same bytes come out */
	{
		json_t *root = json_loads(out.data, 0, NULL), *r;
		unsigned char *dec;
		size_t declen;

		ck_assert_ptr_nonnull(root);
		r = json_array_get(json_object_get(root, "responses"), 0);
		ck_assert_str_eq(
		        json_string_value(json_object_get(json_object_get(r, "headers"), "Content-Type")),
		        "application/octet-stream");
		dec = b64_decode(json_string_value(json_object_get(r, "body")),
		                 json_string_length(json_object_get(r, "body")), &declen);
		ck_assert_ptr_nonnull(dec);
		ck_assert_uint_eq(declen, 256);
		ck_assert_int_eq(memcmp(dec, bytes, 256), 0);
		free(dec);
		r = json_array_get(json_object_get(root, "responses"), 1);
		ck_assert_str_eq(json_string_value(json_object_get(r, "body")),
		                 "line1\nline2 \xe2\x98\x83 \"q\"");
		r = json_array_get(json_object_get(root, "responses"), 2);
		ck_assert_str_eq(json_string_value(json_object_get(r, "body")), "just a string");
		r = json_array_get(json_object_get(root, "responses"), 3);
		ck_assert_int_eq(json_integer_value(json_object_get(r, "body")), 42);
		json_decref(root);
	}
	ck_assert_ptr_nonnull(strstr(out.data, "\"body\":\"line1\\nline2 \xe2\x98\x83 \\\"q\\\"\""));
	ck_assert_ptr_nonnull(strstr(out.data, "\"body\":\"just a string\""));
	ck_assert_ptr_nonnull(strstr(out.data, "\"body\":42"));
	b64 = b64_encode(bytes, sizeof(bytes));
	ck_assert_ptr_nonnull(strstr(out.data, b64));
	free(b64);
}
END_TEST

START_TEST(test_enc_for)
{
	ck_assert_int_eq(batch_enc_for(NULL), BATCH_BODY_NONE);
	ck_assert_int_eq(batch_enc_for("application/json"), BATCH_BODY_JSON);
	ck_assert_int_eq(batch_enc_for(" Application/JSON ; charset=utf-8"), BATCH_BODY_JSON);
	ck_assert_int_eq(batch_enc_for("application/problem+json"), BATCH_BODY_JSON);
	ck_assert_int_eq(batch_enc_for("text/plain"), BATCH_BODY_TEXT);
	ck_assert_int_eq(batch_enc_for("TEXT/html;x=y"), BATCH_BODY_TEXT);
	ck_assert_int_eq(batch_enc_for("application/octet-stream"), BATCH_BODY_BASE64);
	ck_assert_int_eq(batch_enc_for("image/png"), BATCH_BODY_BASE64);
	ck_assert_int_eq(batch_enc_for("+json"), BATCH_BODY_BASE64);
}
END_TEST

static int parse_cfg(const char *text, struct batch_cfg *c, char *err, size_t errlen)
{
	config_t cf;
	int rc;

	config_init(&cf);
	ck_assert_int_eq(config_read_string(&cf, text), CONFIG_TRUE);
	rc = check_cfg_setting(&batch_cfg_section, config_lookup(&cf, "batch"), c, err, errlen);
	config_destroy(&cf);
	return rc;
}

START_TEST(test_cfg)
{
	struct batch_cfg c;
	char err[256];

	ck_assert_int_eq(check_cfg_setting(&batch_cfg_section, NULL, &c, err, sizeof(err)), 0);
	ck_assert_int_eq(c.max_requests, 100);
	ck_assert_int_eq(c.max_bytes, 4L * 1024 * 1024);
	ck_assert_int_eq(
	        parse_cfg("batch = { max_requests = 20; max_bytes = 65536; };", &c, err, sizeof(err)), 0);
	ck_assert_int_eq(c.max_requests, 20);
	ck_assert_int_eq(c.max_bytes, 65536);
	ck_assert_int_eq(parse_cfg("batch = {\n max_requests = 1001; };", &c, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "t.conf:2: batch.max_requests: must be an integer in 1..1000");
	ck_assert_int_eq(parse_cfg("batch = { max = 1; };", &c, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "t.conf:1: batch.max: unknown key");
}
END_TEST

static Suite *batch_suite(void)
{
	Suite *s = suite_create("gw_batch");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_good_batch);
	tcase_add_test(tc, test_route_sub_requests);
	tcase_add_test(tc, test_malformed);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_depends_order);
	tcase_add_test(tc, test_424_propagation);
	tcase_add_test(tc, test_response_encodings);
	tcase_add_test(tc, test_body_round_trip);
	tcase_add_test(tc, test_enc_for);
	tcase_add_test(tc, test_cfg);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(batch_suite());
}
