/* check_gw_events.c: the events listener's pure parts: the ce-* headers of a call checked against each
 * other (every refusal), the allowed origin, the endpoint's host, and the `events` table (defaults,
 * forward forms, refusals, the Entra ID refusal of the whole configuration). */
#include <config.h>

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check_cfg.h"
#include "check_main.h"
#include "gateway/cfg.h"
#include "gateway/events.h"

static struct events_headers h;
static struct events_id id;
static char why[256];

static void good(const char *type, const char *name)
{
	memset(&h, 0, sizeof h);
	h.specversion = "1.0";
	h.awpsversion = "1.0";
	h.type = type;
	h.source = "/hubs/chat/client/c1";
	h.event_name = name;
	h.hub = "chat";
	h.connection = "c1";
	h.user = "alice";
	h.origin = "x.webpubsub.azure.com";
}

static void refused(const char *header)
{
	ck_assert_int_eq(events_parse_id(&h, &id, why, sizeof why), -1);
	ck_assert_msg(strstr(why, header) != NULL, "\"%s\" does not name %s", why, header);
}

START_TEST(test_parse_ok)
{
	good("azure.webpubsub.sys.connect", "connect");
	ck_assert_int_eq(events_parse_id(&h, &id, why, sizeof why), 0);
	ck_assert_int_eq(id.kind, EVK_CONNECT);
	ck_assert_str_eq(id.hub, "chat");
	ck_assert_str_eq(id.connection, "c1");
	ck_assert_str_eq(id.user, "alice");
	good("azure.webpubsub.sys.connected", "connected");
	ck_assert_int_eq(events_parse_id(&h, &id, why, sizeof why), 0);
	ck_assert_int_eq(id.kind, EVK_CONNECTED);
	good("azure.webpubsub.sys.disconnected", "disconnected");
	h.user = NULL;
	ck_assert_int_eq(events_parse_id(&h, &id, why, sizeof why), 0);
	ck_assert_int_eq(id.kind, EVK_DISCONNECTED);
	ck_assert_str_eq(id.user, "");
	good("azure.webpubsub.user.chat-msg", "chat-msg");
	ck_assert_int_eq(events_parse_id(&h, &id, why, sizeof why), 0);
	ck_assert_int_eq(id.kind, EVK_USER);
	ck_assert_str_eq(id.event, "chat-msg");
	/* the documents' other source form for user events, and MQTT's physical connection segment */
	h.source = "/client/c1";
	ck_assert_int_eq(events_parse_id(&h, &id, why, sizeof why), 0);
	good("azure.webpubsub.sys.connect", "connect");
	h.source = "/hubs/chat/client/c1/phys-9";
	ck_assert_int_eq(events_parse_id(&h, &id, why, sizeof why), 0);
	ck_assert_str_eq(events_kind_label(EVK_USER), "user");
	ck_assert_str_eq(events_kind_label((enum events_kind)99), "unknown");
}
END_TEST

START_TEST(test_parse_refusals)
{
	char big[EVENTS_ID_MAX + 10];

	good("azure.webpubsub.sys.connect", "connect"), h.specversion = NULL, refused("ce-specversion");
	good("azure.webpubsub.sys.connect", "connect"), h.awpsversion = NULL, refused("ce-awpsversion");
	good("azure.webpubsub.sys.connect", "connect"), h.awpsversion = "2.0", refused("ce-awpsversion");
	good("azure.webpubsub.sys.connect", "connect"), h.type = NULL, refused("ce-type");
	good("azure.webpubsub.sys.connect", "connect"), h.source = "", refused("ce-source");
	good("azure.webpubsub.sys.connect", "connect"), h.event_name = NULL, refused("ce-eventName");
	good("azure.webpubsub.sys.connect", "connect"), h.hub = NULL, refused("ce-hub");
	good("azure.webpubsub.sys.connect", "connect"), h.connection = NULL, refused("ce-connectionId");
	good("azure.webpubsub.sys.connect", "connect"), h.hub = "no/such hub", refused("ce-hub");
	good("azure.webpubsub.sys.connect", "connect"), h.connection = "a,b", refused("ce-connectionId");
	good("azure.webpubsub.user.x y", "x y"), refused("ce-eventName");
	/* type and name disagree; an unknown system event; a user type for another name */
	good("azure.webpubsub.sys.connect", "connected"), refused("ce-type");
	good("azure.webpubsub.sys.reboot", "reboot"), refused("ce-type");
	good("azure.webpubsub.user.a", "b"), refused("ce-type");
	good("something.else", "connect"), refused("ce-type");
	/* source names another hub or connection, or only a prefix of the id */
	good("azure.webpubsub.sys.connect", "connect"), h.source = "/hubs/other/client/c1",
	                                                refused("ce-source");
	good("azure.webpubsub.sys.connect", "connect"), h.source = "/hubs/chat/client/c12",
	                                                refused("ce-source");
	good("azure.webpubsub.sys.connect", "connect"), h.source = "/client/c1", refused("ce-source");
	memset(big, 'u', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	good("azure.webpubsub.sys.connect", "connect"), h.user = big, refused("ce-userId");
}
END_TEST

START_TEST(test_origin_and_host)
{
	char host[64];

	ck_assert_int_eq(events_origin_ok("x.webpubsub.azure.com", "x.webpubsub.azure.com"), 1);
	ck_assert_int_eq(events_origin_ok("X.WebPubSub.Azure.com", "x.webpubsub.azure.com"), 1);
	ck_assert_int_eq(events_origin_ok("my-host.com, x.webpubsub.azure.com", "x.webpubsub.azure.com"), 1);
	ck_assert_int_eq(events_origin_ok("x.webpubsub.azure.com.evil", "x.webpubsub.azure.com"), 0);
	ck_assert_int_eq(events_origin_ok("evil.x.webpubsub.azure.com", "x.webpubsub.azure.com"), 0);
	ck_assert_int_eq(events_origin_ok("", "x.webpubsub.azure.com"), 0);
	ck_assert_int_eq(events_origin_ok(NULL, "x"), 0);
	ck_assert_int_eq(events_origin_ok("x", ""), 0);
	ck_assert_int_eq(events_endpoint_host("https://x.webpubsub.azure.com", host, sizeof host), 0);
	ck_assert_str_eq(host, "x.webpubsub.azure.com");
	ck_assert_int_eq(events_endpoint_host("http://127.0.0.1:8080", host, sizeof host), 0);
	ck_assert_str_eq(host, "127.0.0.1");
	ck_assert_int_eq(events_endpoint_host("ftp://x", host, sizeof host), -1);
	ck_assert_int_eq(events_endpoint_host(NULL, host, sizeof host), -1);
}
END_TEST

START_TEST(test_table)
{
	struct events_cfg c;
	char err[512];

	memset(&c, 0, sizeof c);
	ck_assert_int_eq(check_cfg_read(&events_cfg_section, NULL, "events", &c, err, sizeof err), 0);
	ck_assert_uint_eq(c.nlisten, 0);
	cfgtab_clear(&events_cfg_section, &c);

	ck_assert_int_eq(check_cfg_read(&events_cfg_section,
	                                "events = { listen = [ \"127.0.0.1:7081\", \"unix:/run/e.sock\" ];"
	                                " forward = \"unix:/run/app/events.sock\"; };",
	                                "events", &c, err, sizeof err),
	                 0);
	ck_assert_uint_eq(c.nlisten, 2);
	ck_assert_str_eq(c.path, "/eventhandler");
	ck_assert_int_eq(c.timeout_ms, 5000);
	ck_assert_str_eq(c.fwd_unix, "/run/app/events.sock");
	ck_assert_str_eq(c.fwd_base, "http://localhost");
	cfgtab_clear(&events_cfg_section, &c);

	ck_assert_int_eq(check_cfg_read(&events_cfg_section,
	                                "events = { listen = [ \"127.0.0.1:7081\" ]; path = \"/api/wps/\";"
	                                " forward = \"http://127.0.0.1:3000/hooks/\"; };",
	                                "events", &c, err, sizeof err),
	                 0);
	ck_assert_str_eq(c.fwd_unix, "");
	ck_assert_str_eq(c.fwd_base, "http://127.0.0.1:3000/hooks");
	ck_assert_str_eq(c.path, "/api/wps");
	cfgtab_clear(&events_cfg_section, &c);

#define BAD(text, what)                                                                                      \
	ck_assert_int_eq(check_cfg_read(&events_cfg_section, text, "events", &c, err, sizeof err), -1);      \
	ck_assert_msg(strstr(err, what) != NULL, "\"%s\" does not say %s", err, what);                       \
	cfgtab_clear(&events_cfg_section, &c)
	BAD("events = { forward = \"unix:/a\"; };", "events.listen: missing");
	BAD("events = { listen = [ \"127.0.0.1:7081\" ]; };", "events.forward: missing");
	BAD("events = { listen = [ \"10.1.2.3:7081\" ]; forward = \"unix:/a\"; };", "events.listen[1]");
	BAD("events = { listen = [ \"unix:rel\" ]; forward = \"unix:/a\"; };", "events.listen[1]");
	BAD("events = { listen = [ \"127.0.0.1:1\" ]; forward = \"unix:rel\"; };", "events.forward");
	BAD("events = { listen = [ \"127.0.0.1:1\" ]; forward = \"http://10.0.0.1:80\"; };", "loopback");
	BAD("events = { listen = [ \"127.0.0.1:1\" ]; forward = \"https://127.0.0.1:80\"; };",
	    "events.forward");
	BAD("events = { listen = [ \"127.0.0.1:1\" ]; forward = \"http://127.0.0.1:80/?q\"; };",
	    "events.forward");
	BAD("events = { listen = [ \"127.0.0.1:1\" ]; forward = \"unix:/a\"; path = \"x\"; };",
	    "events.path");
	BAD("events = { listen = [ \"127.0.0.1:1\" ]; forward = \"unix:/a\"; timeout_ms = 10; };",
	    "events.timeout_ms");
#undef BAD
	/* a non-loopback listener with the switch on */
	ck_assert_int_eq(check_cfg_read(&events_cfg_section,
	                                "events = { listen = [ \"0.0.0.0:7081\" ]; allow_non_loopback = true;"
	                                " forward = \"unix:/a\"; };",
	                                "events", &c, err, sizeof err),
	                 0);
	cfgtab_clear(&events_cfg_section, &c);
}
END_TEST

START_TEST(test_entra_refused)
{
	char dir[64], path[128], err[512];
	struct cfg *c = NULL;
	FILE *f;

	snprintf(dir, sizeof dir, "/tmp/check_gw_events.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/wpsgate.conf", dir);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	fputs("listen = { tcp = [ \"127.0.0.1:7080\" ]; };\n"
	      "upstream = { endpoint = \"https://x.webpubsub.azure.com\";\n"
	      "  entra = { kind = \"managed_identity\"; }; };\n"
	      "events = { listen = [ \"127.0.0.1:7081\" ]; forward = \"unix:/run/a.sock\"; };\n",
	      f);
	fclose(f);
	ck_assert_int_eq(cfg_load(path, &c, err, sizeof err), -1);
	ck_assert_msg(strstr(err, "events") != NULL && strstr(err, "access key") != NULL, "%s", err);
	unlink(path);
	rmdir(dir);
}
END_TEST

static Suite *events_suite(void)
{
	Suite *s = suite_create("gw_events");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_parse_ok);
	tcase_add_test(tc, test_parse_refusals);
	tcase_add_test(tc, test_origin_and_host);
	tcase_add_test(tc, test_table);
	tcase_add_test(tc, test_entra_refused);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(events_suite());
}
