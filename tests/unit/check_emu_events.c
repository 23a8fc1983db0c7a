/* check_emu_events.c: the emulator's event-handler settings: --event-handler specs (every refusal), which
 * events a handler takes, and the URL template. */
#include <config.h>

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "check_main.h"
#include "emulator/events.h"

static struct evh_handler h;
static char why[256];

START_TEST(test_spec)
{
	ck_assert_int_eq(evh_parse_spec("chat=http://127.0.0.1:7081/"
	                                "eventhandler;user=*;system=connect,connected,disconnected",
	                                &h, why, sizeof why),
	                 0);
	ck_assert_str_eq(h.hub, "chat");
	ck_assert_str_eq(h.tmpl, "http://127.0.0.1:7081/eventhandler");
	ck_assert_int_eq(h.user_all, 1);
	ck_assert_uint_eq(h.sys, EVH_SYS_CONNECT | EVH_SYS_CONNECTED | EVH_SYS_DISCONNECTED);
	ck_assert(evh_handler_wants(&h, EVH_USER, "anything"));
	ck_assert(evh_handler_wants(&h, EVH_CONNECT, NULL));
	evh_handler_clear(&h);

	ck_assert_int_eq(evh_parse_spec("game=https://app.example/api/{hub}/{event}?code=abc;user=move, "
	                                "chat;system=disconnected",
	                                &h, why, sizeof why),
	                 0);
	ck_assert_int_eq(h.user_all, 0);
	ck_assert(evh_handler_wants(&h, EVH_USER, "move"));
	ck_assert(evh_handler_wants(&h, EVH_USER, "CHAT"));
	ck_assert(!evh_handler_wants(&h, EVH_USER, "mov"));
	ck_assert(!evh_handler_wants(&h, EVH_USER, NULL));
	ck_assert(!evh_handler_wants(&h, EVH_CONNECT, NULL));
	ck_assert(!evh_handler_wants(&h, EVH_CONNECTED, NULL));
	ck_assert(evh_handler_wants(&h, EVH_DISCONNECTED, NULL));
	evh_handler_clear(&h);

	/* only the URL: no user events, no system events */
	ck_assert_int_eq(evh_parse_spec("h=http://127.0.0.1:1/x", &h, why, sizeof why), 0);
	ck_assert(!evh_handler_wants(&h, EVH_USER, "message"));
	ck_assert(!evh_handler_wants(&h, EVH_CONNECT, NULL));
	evh_handler_clear(&h);
}
END_TEST

START_TEST(test_spec_refusals)
{
	static const char *const bad[] = {
		"http://127.0.0.1:1/x",                       /* no hub */
		"=http://127.0.0.1:1/x",                      /* empty hub */
		"bad hub=http://127.0.0.1:1/x",               /* invalid hub */
		"h=ftp://127.0.0.1/x",                        /* scheme */
		"h=http://{hub}.example/x",                   /* template in the host */
		"h=http://user@127.0.0.1/x",                  /* user info */
		"h=http://127.0.0.1:1/x;system=connect,boot", /* unknown system event */
		"h=http://127.0.0.1:1/x;color=red",           /* unknown part */
		"h=",                                         /* no URL */
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ck_assert_msg(evh_parse_spec(bad[i], &h, why, sizeof why) == -1, "%s was taken", bad[i]);
		ck_assert_msg(strstr(why, "--event-handler") != NULL, "%s: %s", bad[i], why);
		ck_assert_ptr_null(h.hub);
	}
}
END_TEST

START_TEST(test_expand)
{
	char *u = evh_expand("https://app/api/{hub}/{event}?h={hub}", "chat", "connect");

	ck_assert_str_eq(u, "https://app/api/chat/connect?h=chat");
	free(u);
	u = evh_expand("http://127.0.0.1/e/{event}", "x", "a b/c");
	ck_assert_str_eq(u, "http://127.0.0.1/e/a%20b%2Fc");
	free(u);
	u = evh_expand("http://127.0.0.1/plain", "x", "y");
	ck_assert_str_eq(u, "http://127.0.0.1/plain");
	free(u);
}
END_TEST

static Suite *events_suite(void)
{
	Suite *s = suite_create("emu_events");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_spec);
	tcase_add_test(tc, test_spec_refusals);
	tcase_add_test(tc, test_expand);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(events_suite());
}
