/* check_emu_inspect.c: the emulator's inspector (src/emulator/insp.c): the ring of entries, the
 * JSON it emits (always valid, whatever bytes came in), the query filters, the watchers and their
 * bounded backlogs (a slow watcher is dropped, its memory freed), and the hooks in hub.c. */
#include <config.h>

#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <jansson.h>

#include "check_emu_fake.h"
#include "check_main.h"
#include "emulator/insp.h"
#include "emulator/insp_http.h"
#include "emulator/proto.h"

static struct insp *in;
static struct hub_state *st;

static void setup(void)
{
	struct insp_limits lim = { .entries = 4, .watchers = 2, .backlog = INSP_BACKLOG_MIN };
	in = insp_new(&lim);
	st = hub_state_new(&fake_ops);
	ck_assert_ptr_nonnull(in);
	ck_assert_ptr_nonnull(st);
	st->insp = in;
}

static void teardown(void)
{
	hub_state_free(st);
	insp_free(in);
}

/* The snapshot, parsed. */
static json_t *snap(const struct insp_filter *f)
{
	struct buf b;
	buf_init(&b, 0);
	ck_assert_int_eq(insp_snapshot(in, st, f, &b), 0);
	json_error_t je;
	json_t *j = json_loadb(b.data, b.len, 0, &je);
	if (!j)
		ck_abort_msg("snapshot is not JSON: %s: %s", je.text, b.data);
	buf_free(&b);
	return j;
}

static int wakes;
static void count_wake(void *arg)
{
	(void)arg;
	wakes++;
}

/* Everything a watcher has queued, as a string. */
static char *drain(struct insp_watch *w)
{
	struct buf b;
	char tmp[512];
	ssize_t n;
	buf_init(&b, 0);
	while ((n = insp_watch_read(w, tmp, sizeof tmp)) > 0)
		buf_append(&b, tmp, (size_t)n);
	return buf_steal(&b);
}

START_TEST(ring_keeps_the_newest)
{
	for (int i = 0; i < 10; i++)
		insp_rest(in, "POST", "/api/hubs/chat/:send", 202);
	ck_assert_uint_eq(insp_count(in), 4);
	ck_assert_uint_eq(insp_last_id(in), 10);
	json_t *j = snap(NULL);
	json_t *e = json_object_get(j, "entries");
	ck_assert_uint_eq(json_array_size(e), 4);
	/* oldest first: 7, 8, 9, 10 */
	for (size_t i = 0; i < 4; i++)
		ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(e, i), "id")),
		                 (json_int_t)(7 + i));
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(e, 0), "hub")), "chat");
	ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(j, "limits"), "entries")), 4);
	json_decref(j);
}
END_TEST

START_TEST(limits_are_clamped)
{
	struct insp_limits lim = { .entries = 0, .watchers = 0, .backlog = 1 };
	struct insp *x = insp_new(&lim);
	ck_assert_uint_eq(insp_limits(x)->entries, INSP_DEFAULT_ENTRIES);
	ck_assert_uint_eq(insp_limits(x)->watchers, INSP_DEFAULT_WATCHERS);
	ck_assert_uint_eq(insp_limits(x)->backlog, INSP_BACKLOG_MIN);
	insp_free(x);
}
END_TEST

START_TEST(json_text_is_always_valid)
{
	/* invalid UTF-8, a NUL, control characters, quotes and HTML: all survive as a JSON string */
	static const char bad[] = "<b>x</b>\"\\\n\x01\xff\xc3(\xed\xa0\x80\xf0\x9f\x98\x80z";
	json_t *j = insp_json_text(bad, sizeof bad - 1, 1000);
	ck_assert_ptr_nonnull(j);
	char *s = json_dumps(j, JSON_ENCODE_ANY);
	ck_assert_ptr_nonnull(s);
	json_t *back = json_loads(s, JSON_DECODE_ANY, NULL);
	ck_assert_ptr_nonnull(back);
	/* the HTML stays as text; the bad bytes became U+FFFD; the emoji is kept */
	ck_assert_ptr_nonnull(strstr(json_string_value(back), "<b>x</b>"));
	ck_assert_ptr_nonnull(strstr(json_string_value(back), "\xef\xbf\xbd"));
	ck_assert_ptr_nonnull(strstr(json_string_value(back), "\xf0\x9f\x98\x80z"));
	ck_assert_ptr_null(strchr(s, '\n')); /* one line: safe in an SSE data field */
	free(s);
	json_decref(back);
	json_decref(j);

	/* cut on a character boundary, marked with an ellipsis */
	j = insp_json_text("\xc3\xa9\xc3\xa9\xc3\xa9", 6, 5);
	ck_assert_str_eq(json_string_value(j), "\xc3\xa9\xc3\xa9\xe2\x80\xa6");
	json_decref(j);
	j = insp_json_text(NULL, 0, 10);
	ck_assert_str_eq(json_string_value(j), "");
	json_decref(j);
}
END_TEST

START_TEST(send_preview_bounded_and_escaped)
{
	struct fake f1 = { 0 };
	struct hub *h = hub_get(st, "chat", 1);
	fake_conn(h, &f1, "c1", "alice", HUB_PROTO_JSON, NULL, 0, NULL, 0);
	char big[5000];
	memset(big, 'a', sizeof big);
	memcpy(big, "<b>html</b>\xff", 12);
	struct hub_msg m = { .dtype = HUB_DT_TEXT, .raw = big, .rawlen = sizeof big };
	struct hub_sel sel = { .kind = HUB_T_USER, .id = "alice" };
	ck_assert_uint_eq(hub_send(h, &sel, &m), 1);
	json_t *j = snap(NULL);
	json_t *e = json_array_get(json_object_get(j, "entries"),
	                           json_array_size(json_object_get(j, "entries")) - 1);
	ck_assert_str_eq(json_string_value(json_object_get(e, "kind")), "send");
	ck_assert_str_eq(json_string_value(json_object_get(json_object_get(e, "to"), "type")), "user");
	ck_assert_int_eq(json_integer_value(json_object_get(e, "size")), 5000);
	ck_assert_int_eq(json_integer_value(json_object_get(e, "recipients")), 1);
	const char *p = json_string_value(json_object_get(e, "preview"));
	ck_assert_ptr_nonnull(p);
	ck_assert_uint_le(strlen(p), INSP_PREVIEW_MAX + 3);
	ck_assert_int_eq(strncmp(p, "<b>html</b>\xef\xbf\xbd", 14), 0);
	json_decref(j);
	fake_reset(&f1);
}
END_TEST

START_TEST(binary_preview)
{
	struct fake f1 = { 0 };
	struct hub *h = hub_get(st, "chat", 1);
	fake_conn(h, &f1, "c1", NULL, HUB_PROTO_SIMPLE, NULL, 0, NULL, 0);
	struct hub_sel sel = { .kind = HUB_T_ALL };
	struct hub_msg bin = { .dtype = HUB_DT_BINARY, .raw = "\x00\x01\xff", .rawlen = 3 };
	struct hub_msg txt = { .dtype = HUB_DT_BINARY, .raw = "{\"t\":1}", .rawlen = 7 };
	hub_send(h, &sel, &bin);
	hub_send(h, &sel, &txt);
	json_t *j = snap(NULL), *e = json_object_get(j, "entries");
	size_t n = json_array_size(e);
	/* bytes that are not text as hex; binary that reads as text (an MQTT payload) as text */
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(e, n - 2), "preview")), "00 01 ff");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(e, n - 1), "preview")),
	                 "{\"t\":1}");
	ck_assert_str_eq(json_string_value(json_object_get(json_array_get(e, n - 1), "dataType")), "binary");
	json_decref(j);
	fake_reset(&f1);
}
END_TEST

START_TEST(connections_listed_from_the_hub)
{
	struct fake f1 = { 0 }, f2 = { 0 };
	static const char *const roles[] = { "webpubsub.joinLeaveGroup" };
	static const char *const groups[] = { "g1" };
	struct hub *h = hub_get(st, "chat", 1);
	struct hub_conn_spec spec = { .id = "c1",
		                      .user = "alice",
		                      .proto = HUB_PROTO_JSON,
		                      .roles = roles,
		                      .nroles = 1,
		                      .groups = groups,
		                      .ngroups = 1,
		                      .transport = &f1,
		                      .subprotocol = PROTO_JSON_V1 };
	struct hub_conn *c1 = hub_conn_add(h, &spec);
	struct hub_conn_spec spec2 = { .id = "m1", .user = "dev", .transport = &f2, .protocol = "mqtt" };
	ck_assert_ptr_nonnull(c1);
	ck_assert_ptr_nonnull(hub_conn_add(hub_get(st, "iot", 1), &spec2));
	ck_assert_int_eq(hub_conn_join(c1, "g2"), 0);

	json_t *j = snap(NULL);
	json_t *hubs = json_object_get(j, "hubs");
	ck_assert_uint_eq(json_array_size(hubs), 2);
	json_t *c = NULL, *m = NULL;
	for (size_t i = 0; i < 2; i++) {
		json_t *hb = json_array_get(hubs, i), *cs = json_object_get(hb, "connections");
		ck_assert_uint_eq(json_array_size(cs), 1);
		if (strcmp(json_string_value(json_object_get(hb, "name")), "chat") == 0)
			c = json_array_get(cs, 0);
		else
			m = json_array_get(cs, 0);
	}
	ck_assert_ptr_nonnull(c);
	ck_assert_ptr_nonnull(m);
	ck_assert_str_eq(json_string_value(json_object_get(c, "userId")), "alice");
	ck_assert_str_eq(json_string_value(json_object_get(c, "protocol")), "json");
	ck_assert_str_eq(json_string_value(json_object_get(c, "subprotocol")), PROTO_JSON_V1);
	ck_assert_str_eq(json_string_value(json_array_get(json_object_get(c, "roles"), 0)),
	                 "webpubsub.joinLeaveGroup");
	ck_assert_uint_eq(json_array_size(json_object_get(c, "groups")), 2);
	ck_assert_int_gt(json_integer_value(json_object_get(c, "connectedAt")), 1700000000000LL);
	ck_assert_str_eq(json_string_value(json_object_get(m, "protocol")), "mqtt");
	ck_assert(json_is_null(json_object_get(m, "subprotocol")));
	json_decref(j);

	/* filters pick connections by hub, user and group */
	char g2[] = "g2";
	struct insp_filter f = { .group = g2 };
	j = snap(&f);
	hubs = json_object_get(j, "hubs");
	size_t total = 0;
	for (size_t i = 0; i < json_array_size(hubs); i++)
		total += json_array_size(json_object_get(json_array_get(hubs, i), "connections"));
	ck_assert_uint_eq(total, 1);
	/* the entries with group g2: only the join */
	ck_assert_uint_eq(json_array_size(json_object_get(j, "entries")), 1);
	ck_assert_str_eq(
	        json_string_value(json_object_get(json_array_get(json_object_get(j, "entries"), 0), "kind")),
	        "group.join");
	json_decref(j);

	hub_conn_remove(c1);
	j = snap(NULL);
	json_t *e = json_object_get(j, "entries");
	ck_assert_str_eq(
	        json_string_value(json_object_get(json_array_get(e, json_array_size(e) - 1), "kind")),
	        "conn.close");
	json_decref(j);
}
END_TEST

START_TEST(entry_lists_bounded)
{
	/* a connection in 100 groups with long names: its conn.open entry lists INSP_LIST_MAX of
	 * them and counts the rest, so one entry always fits a backlog; the snapshot lists them all */
	static char names[100][201];
	const char *groups[100];
	struct fake f1 = { 0 };
	for (int i = 0; i < 100; i++) {
		memset(names[i], 'g', 200);
		snprintf(names[i], 8, "%03d", i);
		names[i][3] = 'g';
		names[i][200] = '\0';
		groups[i] = names[i];
	}
	struct hub_conn_spec spec = { .id = "c1", .groups = groups, .ngroups = 100, .transport = &f1 };
	ck_assert_ptr_nonnull(hub_conn_add(hub_get(st, "chat", 1), &spec));
	json_t *j = snap(NULL);
	json_t *e = json_array_get(json_object_get(j, "entries"), 0);
	json_t *c = json_object_get(e, "conn");
	ck_assert_uint_eq(json_array_size(json_object_get(c, "groups")), INSP_LIST_MAX);
	ck_assert_int_eq(json_integer_value(json_object_get(c, "moreGroups")), 100 - INSP_LIST_MAX);
	char *text = json_dumps(e, JSON_COMPACT);
	ck_assert_uint_lt(strlen(text) + 64, INSP_BACKLOG_MIN);
	free(text);
	json_t *listed = json_array_get(
	        json_object_get(json_array_get(json_object_get(j, "hubs"), 0), "connections"), 0);
	ck_assert_uint_eq(json_array_size(json_object_get(listed, "groups")), 100);
	json_decref(j);
}
END_TEST

START_TEST(watcher_gets_new_entries_and_replay)
{
	insp_rest(in, "GET", "/api/hubs/a/users/u1", 200); /* 1 */
	insp_rest(in, "GET", "/api/hubs/b/users/u1", 200); /* 2 */
	char hub_a[] = "A";
	struct insp_filter f = { .hub = hub_a, .after = 0, .has_after = 1 };
	wakes = 0;
	struct insp_watch *w = insp_watch_new(in, &f, count_wake, NULL);
	ck_assert_ptr_nonnull(w);
	char *s = drain(w);
	ck_assert_ptr_nonnull(strstr(s, "id: 1\ndata: {\"id\":1,"));
	ck_assert_ptr_null(strstr(s, "id: 2\n")); /* another hub */
	free(s);
	ck_assert_int_eq(insp_watch_read(w, (char[8]){ 0 }, 8), 0);
	insp_rest(in, "GET", "/api/hubs/b/x", 200);
	ck_assert_int_eq(wakes, 0);
	insp_rest(in, "DELETE", "/api/hubs/a/groups/g%2F1", 200);
	ck_assert_int_eq(wakes, 1);
	s = drain(w);
	ck_assert_ptr_nonnull(strstr(s, "id: 4\ndata: "));
	ck_assert_ptr_nonnull(strstr(s, "\"group\":\"g/1\""));
	ck_assert_ptr_nonnull(strstr(s, "\n\n"));
	free(s);
	/* heartbeats */
	insp_tick(in, 100000);
	s = drain(w);
	ck_assert_str_eq(s, ": hb\n\n");
	free(s);
	insp_watch_free(w);
	ck_assert_uint_eq(insp_watchers(in), 0);
}
END_TEST

START_TEST(watcher_limit)
{
	struct insp_watch *a = insp_watch_new(in, NULL, NULL, NULL),
	                  *b = insp_watch_new(in, NULL, NULL, NULL);
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_ptr_null(insp_watch_new(in, NULL, NULL, NULL));
	insp_watch_free(a);
	a = insp_watch_new(in, NULL, NULL, NULL);
	ck_assert_ptr_nonnull(a);
	insp_watch_free(a);
	insp_watch_free(b);
}
END_TEST

START_TEST(slow_watcher_is_dropped)
{
	struct insp_watch *slow = insp_watch_new(in, NULL, count_wake, NULL);
	struct insp_watch *fast = insp_watch_new(in, NULL, NULL, NULL);
	char path[200];
	wakes = 0;
	/* nobody reads slow: its queue stays within its backlog, then it is dropped */
	for (int i = 0; i < 200; i++) {
		snprintf(path, sizeof path, "/api/hubs/chat/groups/g%d/:send", i);
		insp_rest(in, "POST", path, 202);
		ck_assert_uint_le(insp_watch_queued(slow), INSP_BACKLOG_MIN);
		char *s = drain(fast);
		free(s);
	}
	ck_assert_int_lt(insp_watch_read(slow, path, sizeof path), 0);
	ck_assert_uint_eq(insp_watch_queued(slow), 0);
	ck_assert_uint_eq(insp_dropped_watchers(in), 1);
	ck_assert_int_ge(wakes, 1); /* told, so that its stream ends */
	/* the fast one still gets entries */
	insp_rest(in, "POST", "/api/hubs/chat/:send", 202);
	char *s = drain(fast);
	ck_assert_ptr_nonnull(strstr(s, "id: 201\n"));
	free(s);
	insp_watch_free(slow);
	insp_watch_free(fast);
}
END_TEST

START_TEST(shutdown_ends_watchers)
{
	struct insp_watch *w = insp_watch_new(in, NULL, count_wake, NULL);
	wakes = 0;
	insp_shutdown(in);
	ck_assert_int_eq(wakes, 1);
	ck_assert_int_lt(insp_watch_read(w, (char[8]){ 0 }, 8), 0);
	ck_assert_ptr_null(insp_watch_new(in, NULL, NULL, NULL));
	ck_assert_uint_eq(insp_dropped_watchers(in), 0);
	insp_watch_free(w);
}
END_TEST

START_TEST(query_filters)
{
	struct insp_filter f;
	char why[160];
	ck_assert_int_eq(
	        insp_filter_parse("hub=chat&user=a%20b&group=g+1&connection=c&after=42", &f, why, sizeof why),
	        0);
	ck_assert_str_eq(f.hub, "chat");
	ck_assert_str_eq(f.user, "a b");
	ck_assert_str_eq(f.group, "g 1");
	ck_assert_str_eq(f.conn, "c");
	ck_assert(f.has_after && f.after == 42);
	insp_filter_clear(&f);
	ck_assert_int_eq(insp_filter_parse("", &f, why, sizeof why), 0);
	ck_assert_ptr_null(f.hub);
	insp_filter_clear(&f);
	ck_assert_int_eq(insp_filter_parse(NULL, &f, why, sizeof why), 0);
	insp_filter_clear(&f);
	static const char *const bad[] = { "nope=1",   "hub",      "hub=%zz", "hub=a&hub=b",     "hub=",
		                           "after=-1", "after=1x", "after=",  "after=1&after=2", "user=%00" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		why[0] = '\0';
		ck_assert_msg(insp_filter_parse(bad[i], &f, why, sizeof why) < 0, "%s accepted", bad[i]);
		ck_assert_msg(why[0], "no reason for %s", bad[i]);
		insp_filter_clear(&f);
	}
	char longq[INSP_QUERY_MAX + 10];
	memset(longq, 'a', sizeof longq - 1);
	longq[sizeof longq - 1] = '\0';
	memcpy(longq, "hub=", 4);
	ck_assert_int_lt(insp_filter_parse(longq, &f, why, sizeof why), 0);
	insp_filter_clear(&f);
}
END_TEST

START_TEST(http_host_and_paths)
{
	static const char *const good[] = { "localhost",   "LOCALHOST:8080", "127.0.0.1",
		                            "127.1.2.3:1", "[::1]",          "[::1]:80" };
	static const char *const bad[] = { NULL,
		                           "",
		                           "evil.example",
		                           "127.0.0.1.evil.example",
		                           "127.0.0.1:",
		                           "127.0.0.1:8o",
		                           "128.0.0.1",
		                           "127.0.0.256",
		                           "[::2]",
		                           "[::1]x",
		                           "localhost.evil",
		                           "10.0.0.1:80",
		                           "[::1" };
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		ck_assert_msg(insp_http_host_ok(good[i]), "%s refused", good[i]);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		ck_assert_msg(!insp_http_host_ok(bad[i]), "%s accepted", bad[i] ? bad[i] : "(null)");
	ck_assert(insp_http_match("/inspector"));
	ck_assert(insp_http_match("/inspector/"));
	ck_assert(insp_http_match("/inspector/api/events"));
	ck_assert(!insp_http_match("/inspectorx"));
	ck_assert(!insp_http_match("/api/hubs/inspector"));
	/* the page is in the binary */
	int html = 0, js = 0;
	for (size_t i = 0; i < insp_nassets; i++) {
		html |= strcmp(insp_assets[i].name, "index.html") == 0 && insp_assets[i].len > 100;
		js |= strcmp(insp_assets[i].name, "app.js") == 0 &&
		      strstr((const char *)insp_assets[i].data, "textContent");
	}
	ck_assert(html && js);
}
END_TEST

START_TEST(off_is_a_no_op)
{
	insp_rest(NULL, "GET", "/", 200);
	insp_event(NULL, "h", "c", "u", "connect", 200, 1, NULL);
	ck_assert_int_lt(insp_tick(NULL, 0), 0);
	insp_shutdown(NULL);
	insp_free(NULL);
	insp_watch_free(NULL);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("emu_inspect");
	TCase *tc = tcase_create("inspect");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, ring_keeps_the_newest);
	tcase_add_test(tc, limits_are_clamped);
	tcase_add_test(tc, json_text_is_always_valid);
	tcase_add_test(tc, send_preview_bounded_and_escaped);
	tcase_add_test(tc, binary_preview);
	tcase_add_test(tc, connections_listed_from_the_hub);
	tcase_add_test(tc, entry_lists_bounded);
	tcase_add_test(tc, watcher_gets_new_entries_and_replay);
	tcase_add_test(tc, watcher_limit);
	tcase_add_test(tc, slow_watcher_is_dropped);
	tcase_add_test(tc, shutdown_ends_watchers);
	tcase_add_test(tc, query_filters);
	tcase_add_test(tc, http_host_and_paths);
	tcase_add_test(tc, off_is_a_no_op);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(suite());
}
