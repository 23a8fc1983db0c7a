/* fuzz_inspect.c: libFuzzer target for the emulator inspector's input: the query filters of its API
 * (insp_filter_parse) and the text it turns into JSON (insp_json_text), then a snapshot selected by
 * the parsed filter. Input: the raw query string (a NUL ends it); the whole input is also the text. */
#include <config.h>
#include "fuzz.h"

#include <string.h>

#include <jansson.h>

#include "emulator/hub.h"
#include "emulator/insp.h"

/* a transport that takes every frame and forgets it */
static int sink_send(void *t, int binary, const char *d, size_t n)
{
	(void)t, (void)binary, (void)d, (void)n;
	return 0;
}
static void sink_close(void *t, int code, const char *reason)
{
	(void)t, (void)code, (void)reason;
}
static const struct hub_transport_ops sink = { sink_send, sink_close };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *q = malloc(size + 1), why[160];
	struct insp_filter f;
	struct insp_limits lim = { .entries = 3, .watchers = 1, .backlog = INSP_BACKLOG_MIN };

	if (!q)
		return 0;
	memcpy(q, data, size);
	q[size] = '\0';

	/* any bytes become one valid JSON string, cut at the bound */
	json_t *t = insp_json_text((const char *)data, size, 64);
	FUZZ_ASSERT(t != NULL);
	FUZZ_ASSERT(json_string_length(t) <= 64 + 3);
	char *s = json_dumps(t, JSON_ENCODE_ANY);
	FUZZ_ASSERT(s != NULL && strchr(s, '\n') == NULL);
	json_t *back = json_loads(s, JSON_DECODE_ANY, NULL);
	FUZZ_ASSERT(json_equal(back, t));
	json_decref(back);
	free(s);
	json_decref(t);

	why[0] = '\0';
	if (insp_filter_parse(q, &f, why, sizeof why) == 0) {
		char *const fields[] = { f.hub, f.group, f.user, f.conn };
		for (size_t i = 0; i < 4; i++)
			FUZZ_ASSERT(!fields[i] || (fields[i][0] && strlen(fields[i]) <= INSP_FIELD_MAX));
		/* the filter selects from a ring that holds the input itself as a path */
		struct insp *in = insp_new(&lim);
		struct hub_state *st = hub_state_new(&sink);
		if (in && st) {
			struct buf b;
			struct hub *h = hub_get(st, "h", 1);
			struct hub_conn_spec spec = { .id = "c1", .user = f.user, .transport = &st };
			struct hub_conn *c = h ? hub_conn_add(h, &spec) : NULL;
			st->insp = in;
			insp_rest(in, "GET", q, 200);
			insp_rest(in, "POST", "/api/hubs/h/groups/g/:send", 202);
			/* the input as a client's frame and as a message, as text and as binary */
			if (c) {
				struct hub_msg m = { .dtype = size && data[0] & 1 ? HUB_DT_BINARY
					                                          : HUB_DT_TEXT,
					             .raw = (const char *)data,
					             .rawlen = size };
				struct hub_sel sel = { .kind = HUB_T_ALL };
				insp_client(in, c, "publish", f.group, f.hub, (const char *)data, size,
				            size && data[0] & 2);
				hub_send(h, &sel, &m);
			}
			buf_init(&b, 0);
			FUZZ_ASSERT(insp_snapshot(in, st, &f, &b) == 0);
			json_t *j = json_loadb(b.data, b.len, 0, NULL);
			FUZZ_ASSERT(json_is_object(j));
			json_decref(j);
			buf_free(&b);
		}
		hub_state_free(st);
		insp_free(in);
	} else {
		FUZZ_ASSERT(why[0] != '\0');
	}
	insp_filter_clear(&f);
	free(q);
	return 0;
}
