/* check_gw_access.c: unit tests for access rules, peer credentials and the audit line (access.c). */
#include <config.h>

#include <check.h>

#include "check_cfg.h"
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gateway/access.h"
#include "log.h"
#include "check_main.h"

static config_t cf;
static struct access_cfg ac;

static void setup(void)
{
	config_init(&cf);
	memset(&ac, 0, sizeof(ac));
}

static void teardown(void)
{
	cfgtab_clear(&access_cfg_section, &ac);
	config_destroy(&cf);
}

static void parse_ok(const char *text)
{
	char err[256] = "";

	ck_assert_int_eq(config_read_string(&cf, text), CONFIG_TRUE);
	ck_assert_msg(check_cfg_setting(&access_cfg_section, config_lookup(&cf, "access"), &ac, err,
	                                sizeof(err)) == 0,
	              "%s", err);
}

static struct access_peer peer(uid_t uid, gid_t gid, gid_t g1, gid_t g2)
{
	struct access_peer p;

	memset(&p, 0, sizeof(p));
	p.is_unix = 1;
	p.uid = uid;
	p.gid = gid;
	p.pid = 1;
	p.groups[p.ngroups++] = gid;
	if (g1 != (gid_t)-1)
		p.groups[p.ngroups++] = g1;
	if (g2 != (gid_t)-1)
		p.groups[p.ngroups++] = g2;
	return p;
}

#define NOG ((gid_t)-1)

/* ---- defaults: no rules ---- */

static const struct {
	uid_t uid;
	gid_t gid, g1;
	int allow;
} default_rows[] = {
	{ 0, 0, NOG, 1 },                                 /* root */
	{ 0, 5, NOG, 1 },         { 1000, 2000, NOG, 1 }, /* primary group is the socket's */
	{ 1000, 100, 2000, 1 },                           /* supplementary group is the socket's */
	{ 1000, 100, NOG, 0 },    { 1000, 100, 2001, 0 },
	{ 2000, 100, NOG, 0 }, /* a uid equal to the socket gid means nothing */
	{ 65534, 65534, NOG, 0 },
};

START_TEST(test_default_rules)
{
	struct access_peer p = peer(default_rows[_i].uid, default_rows[_i].gid, default_rows[_i].g1, NOG);
	int cls;

	ck_assert_int_eq(check_cfg_setting(&access_cfg_section, NULL, &ac, NULL, 0), 0);
	ck_assert_int_eq(ac.have_rules, 0);
	for (cls = 0; cls < OPC__COUNT; cls++) {
		ck_assert_msg(access_allow(&ac, &p, (enum ops_class)cls, "chat", 2000) ==
		                      default_rows[_i].allow,
		              "row %d class %d", _i, cls);
		ck_assert_int_eq(access_allow(&ac, &p, (enum ops_class)cls, NULL, 2000),
		                 default_rows[_i].allow);
	}
	ck_assert_int_eq(access_allow(&ac, &p, OPC__COUNT, "chat", 2000), 0); /* out of range: deny */
}
END_TEST

START_TEST(test_tcp_policy)
{
	struct access_peer t;

	access_peer_tcp(&t);
	ck_assert_int_eq(t.is_unix, 0);
	ck_assert_int_eq(check_cfg_setting(&access_cfg_section, NULL, &ac, NULL, 0), 0);
	ck_assert_int_eq(access_allow(&ac, &t, OPC_SEND, "chat", 0), 1);
	cfgtab_clear(&access_cfg_section, &ac);
	parse_ok("access = { tcp = \"deny\"; };");
	ck_assert_int_eq(access_allow(&ac, &t, OPC_SEND, "chat", 0), 0);
	ck_assert_int_eq(access_allow(&ac, &t, OPC_READ, NULL, 0), 0);
	cfgtab_clear(&access_cfg_section, &ac);
	config_destroy(&cf);
	config_init(&cf);
	parse_ok("access = { tcp = \"allow\"; rules = (); };");
	ck_assert_int_eq(access_allow(&ac, &t, OPC_TOKEN, "chat", 0), 1);
}
END_TEST

/* ---- explicit rules ---- */

static const char rules_text[] = "access = {\n"
                                 "  tcp = \"deny\";\n"
                                 "  rules = (\n"
                                 "    { users = ( \"www-data\", 1001 ); hubs = [ \"chat\", \"news\" ]; ops = "
                                 "[ \"send\", \"read\" ]; },\n"
                                 "    { groups = ( \"nogroup\", 3000 ); ops = [ \"group\" ]; },\n"
                                 "    { users = [ \"*\" ]; hubs = [ \"public\" ]; ops = [ \"read\" ]; },\n"
                                 "    { users = [ 1500 ]; },\n"
                                 "    { groups = [ 3001 ]; hubs = [ \"*\" ]; ops = [ \"*\" ]; }\n"
                                 "  );\n"
                                 "};\n";

static const struct {
	uid_t uid;
	gid_t gid, g1;
	enum ops_class cls;
	const char *hub;
	int allow;
} rule_rows[] = {
	/* www-data (33) and 1001: send and read on chat and news only */
	{ 33, 33, NOG, OPC_SEND, "chat", 1 },
	{ 33, 33, NOG, OPC_READ, "news", 1 },
	{ 33, 33, NOG, OPC_SEND, "Chat", 0 }, /* hub names are exact */
	{ 33, 33, NOG, OPC_SEND, "other", 0 },
	{ 33, 33, NOG, OPC_GROUP, "chat", 0 },
	{ 33, 33, NOG, OPC_CLOSE, "chat", 0 },
	{ 33, 33, NOG, OPC_PERMISSION, "chat", 0 },
	{ 33, 33, NOG, OPC_TOKEN, "chat", 0 },
	{ 33, 33, NOG, OPC_READ, NULL, 0 }, /* no hub: needs a rule for any hub */
	{ 1001, 100, NOG, OPC_SEND, "news", 1 },
	{ 1001, 100, NOG, OPC_TOKEN, "news", 0 },
	{ 1002, 100, NOG, OPC_SEND, "news", 0 },
	/* groups nogroup (65534) and 3000: group membership on any hub */
	{ 5000, 65534, NOG, OPC_GROUP, "anything", 1 },
	{ 5000, 100, 3000, OPC_GROUP, "chat", 1 },
	{ 5000, 100, 3000, OPC_GROUP, NULL, 1 },
	{ 5000, 100, 3000, OPC_SEND, "chat", 0 },
	{ 5000, 100, 2999, OPC_GROUP, "chat", 0 },
	/* everybody: read on public */
	{ 7777, 7777, NOG, OPC_READ, "public", 1 },
	{ 7777, 7777, NOG, OPC_SEND, "public", 0 },
	{ 7777, 7777, NOG, OPC_READ, "chat", 0 },
	/* 1500: everything everywhere (hubs and ops omitted) */
	{ 1500, 1500, NOG, OPC_TOKEN, "x", 1 },
	{ 1500, 1500, NOG, OPC_PERMISSION, NULL, 1 },
	{ 1500, 1500, NOG, OPC_CLOSE, "chat", 1 },
	/* group 3001 with explicit "*" */
	{ 8000, 100, 3001, OPC_CLOSE, "z", 1 },
	{ 8000, 3001, NOG, OPC_TOKEN, NULL, 1 },
	/* root always; the socket group means nothing once there are rules */
	{ 0, 0, NOG, OPC_CLOSE, "chat", 1 },
	{ 9000, 2000, NOG, OPC_SEND, "chat", 0 },
};

START_TEST(test_rule_table)
{
	struct access_peer p = peer(rule_rows[_i].uid, rule_rows[_i].gid, rule_rows[_i].g1, NOG);

	parse_ok(rules_text);
	ck_assert_uint_eq(ac.nrules, 5);
	ck_assert_int_eq(ac.tcp_allow, 0);
	ck_assert_msg(access_allow(&ac, &p, rule_rows[_i].cls, rule_rows[_i].hub, 2000) ==
	                      rule_rows[_i].allow,
	              "row %d: expected %d", _i, rule_rows[_i].allow);
}
END_TEST

START_TEST(test_rule_parsed_fields)
{
	parse_ok(rules_text);
	ck_assert_uint_eq(ac.rules[0].nuids, 2);
	ck_assert_uint_eq(ac.rules[0].uids[0], 33);
	ck_assert_uint_eq(ac.rules[0].uids[1], 1001);
	ck_assert_uint_eq(ac.rules[0].nhubs, 2);
	ck_assert_str_eq(ac.rules[0].hubs[1], "news");
	ck_assert_uint_eq(ac.rules[0].classes, (1u << OPC_SEND) | (1u << OPC_READ));
	ck_assert_int_eq(ac.rules[0].line, 4);
	ck_assert_uint_eq(ac.rules[1].ngids, 2);
	ck_assert_uint_eq(ac.rules[1].gids[0], 65534);
	ck_assert_int_eq(ac.rules[1].any_hub, 1);
	ck_assert_int_eq(ac.rules[2].any_user, 1);
	ck_assert_uint_eq(ac.rules[3].classes, (1u << OPC__COUNT) - 1);
}
END_TEST

START_TEST(test_empty_rules_only_root)
{
	struct access_peer r = peer(0, 0, NOG, NOG), u = peer(1000, 2000, NOG, NOG);

	parse_ok("access = { rules = ( ); };");
	ck_assert_int_eq(ac.have_rules, 1);
	ck_assert_int_eq(access_allow(&ac, &r, OPC_SEND, "chat", 2000), 1);
	ck_assert_int_eq(access_allow(&ac, &u, OPC_SEND, "chat", 2000), 0);
}
END_TEST

static const struct {
	const char *text;
	const char *err;
} bad_cfg[] = {
	{ "access = 1;", "t.conf:1: access: must be a group { ... }" },
	{ "access = { who = 1; };", "t.conf:1: access.who: unknown key" },
	{ "access = { tcp = true; };", "t.conf:1: access.tcp: must be one of \"allow\", \"deny\"" },
	{ "access = { tcp = \"maybe\"; };", "t.conf:1: access.tcp: must be one of \"allow\", \"deny\"" },
	{ "access = { rules = [ 1 ]; };", "t.conf:1: access.rules: must be a list ( { ... }, ... )" },
	{ "access = { rules = ( 1 ); };", "t.conf:1: access.rules[1]: must be a group { ... }" },
	{ "access = {\n rules = (\n { hubs = [ \"a\" ]; } ); };",
	  "t.conf:3: access.rules[1]: a rule needs users or groups" },
	{ "access = { rules = ( { users = [ ]; } ); };",
	  "t.conf:1: access.rules[1]: a rule needs users or groups" },
	{ "access = { rules = ( { users = \"root\"; } ); };",
	  "t.conf:1: access.rules[1].users: must be a list of names or numeric ids" },
	{ "access = { rules = ( { users = [ \"no-such-user-xyz\" ]; } ); };",
	  "t.conf:1: access.rules[1].users: unknown user name" },
	{ "access = { rules = ( { groups = [ \"no-such-group-xyz\" ]; } ); };",
	  "t.conf:1: access.rules[1].groups: unknown group name" },
	{ "access = { rules = ( { users = [ -1 ]; } ); };",
	  "t.conf:1: access.rules[1].users: a numeric id is out of range" },
	{ "access = { rules = ( { groups = [ 4294967295L ]; } ); };",
	  "t.conf:1: access.rules[1].groups: a numeric id is out of range" },
	{ "access = { rules = ( { users = [ 1.5 ]; } ); };",
	  "t.conf:1: access.rules[1].users: entries must be names or numeric ids" },
	{ "access = { rules = ( { users = [ 1 ]; hubs = [ ]; } ); };",
	  "t.conf:1: access.rules[1].hubs: must have 1 to 64 entries" },
	{ "access = { rules = ( { users = [ 1 ]; hubs = [ \"a b\" ]; } ); };",
	  "t.conf:1: access.rules[1].hubs: an entry is not a valid hub name" },
	{ "access = { rules = ( { users = [ 1 ]; hubs = [ 5 ]; } ); };",
	  "t.conf:1: access.rules[1].hubs: entries must be strings" },
	{ "access = { rules = ( { users = [ 1 ]; ops = [ \"write\" ]; } ); };",
	  "t.conf:1: access.rules[1].ops: entries must be read, send, group, close, permission, token or "
	  "\"*\"" },
	{ "access = { rules = ( { users = [ 1 ]; ops = [ ]; } ); };",
	  "t.conf:1: access.rules[1].ops: must not be empty" },
	{ "access = { rules = ( { users = [ 1 ]; ops = \"send\"; } ); };",
	  "t.conf:1: access.rules[1].ops: must be a list of operation classes" },
	{ "access = { rules = ( { users = [ 1 ]; color = 1; } ); };",
	  "t.conf:1: access.rules[1].color: unknown key" },
	/* the second rule is bad: the first one's memory is freed (checked under ASan) */
	{ "access = { rules = ( { users = [ 1 ]; hubs = [ \"a\", \"b\" ]; },\n"
	  "                     { users = [ 1 ]; hubs = [ \"c\", \"d d\" ]; } ); };",
	  "t.conf:2: access.rules[2].hubs: an entry is not a valid hub name" },
};

START_TEST(test_cfg_bad)
{
	char err[256] = "";

	ck_assert_int_eq(config_read_string(&cf, bad_cfg[_i].text), CONFIG_TRUE);
	ck_assert_int_eq(
	        check_cfg_setting(&access_cfg_section, config_lookup(&cf, "access"), &ac, err, sizeof(err)),
	        -1);
	ck_assert_msg(strcmp(err, bad_cfg[_i].err) == 0, "row %d: got \"%s\"", _i, err);
	ck_assert_uint_eq(ac.nrules, 0);
	ck_assert_int_eq(ac.have_rules, 0);
	/* The error never names the value. */
	ck_assert_ptr_null(strstr(err, "no-such"));
}
END_TEST

START_TEST(test_cfg_too_many_rules)
{
	char text[16384];
	size_t n;
	int i;
	char err[256];

	n = (size_t)snprintf(text, sizeof(text), "access = { rules = (");
	for (i = 0; i <= ACCESS_RULES_MAX; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "%s{ users = [ %d ]; }", i ? "," : "", i);
	snprintf(text + n, sizeof(text) - n, "); };");
	ck_assert_int_eq(config_read_string(&cf, text), CONFIG_TRUE);
	ck_assert_int_eq(
	        check_cfg_setting(&access_cfg_section, config_lookup(&cf, "access"), &ac, err, sizeof(err)),
	        -1);
	ck_assert_str_eq(err, "t.conf:1: access.rules: at most 64 entries");
}
END_TEST

/* ---- peers ---- */

START_TEST(test_peer_from_socketpair)
{
	int sv[2];
	struct access_peer p;
	size_t i;
	int found_gid = 0;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(access_peer_from_fd(sv[0], &p), 0);
	ck_assert_int_eq(p.is_unix, 1);
	ck_assert_uint_eq(p.uid, geteuid());
	ck_assert_uint_eq(p.gid, getegid());
	ck_assert_int_eq(p.pid, getpid());
	ck_assert_uint_le(p.ngroups, ACCESS_PEER_GROUPS_MAX);
	{
		gid_t mine[ACCESS_PEER_GROUPS_MAX];
		int n = getgroups(ACCESS_PEER_GROUPS_MAX, mine);

		ck_assert_int_ge(n, 0);
		ck_assert_uint_eq(p.ngroups, (size_t)n);
		for (i = 0; i < p.ngroups; i++)
			ck_assert_uint_eq(p.groups[i], mine[i]);
		(void)found_gid;
	}
	close(sv[0]);
	close(sv[1]);
	/* Not a socket. */
	ck_assert_int_eq(access_peer_from_fd(-1, &p), -1);
}
END_TEST

START_TEST(test_groups_from_uid)
{
	struct access_peer p;
	size_t i;
	int has_root = 0;

	memset(&p, 0, sizeof(p));
	p.uid = 0;
	p.gid = 0;
	ck_assert_int_eq(access_peer_groups_from_uid(&p), 0);
	ck_assert_uint_ge(p.ngroups, 1);
	for (i = 0; i < p.ngroups; i++)
		has_root |= p.groups[i] == 0;
	ck_assert_int_eq(has_root, 1);
	/* An unknown uid keeps only its gid. */
	p.uid = 3999999;
	p.gid = 42;
	ck_assert_int_eq(access_peer_groups_from_uid(&p), -1);
	ck_assert_uint_eq(p.ngroups, 1);
	ck_assert_uint_eq(p.groups[0], 42);
}
END_TEST

/* ---- audit ---- */

START_TEST(test_audit_fill)
{
	struct access_audit a;
	struct access_peer p, t;
	char self[ACCESS_EXE_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	ck_assert_int_gt(n, 0);
	self[n] = '\0';
	p = peer(1234, 5, NOG, NOG);
	p.pid = getpid();
	ck_assert_int_eq(access_audit_fill(&a, &p, "hello", 5), 0);
	ck_assert_str_eq(a.uid, "1234");
	ck_assert_int_eq(atoi(a.pid), getpid());
	ck_assert_str_eq(a.exe, self);
	ck_assert_str_eq(a.body_bytes, "5");
	ck_assert_str_eq(a.body_sha256, "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
	ck_assert_int_eq(access_audit_fill(&a, &p, NULL, 0), 0);
	ck_assert_str_eq(a.body_bytes, "0");
	ck_assert_str_eq(a.body_sha256, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	/* A pid that does not exist: exe unknown. */
	p.pid = 0x3ffffff0;
	ck_assert_int_eq(access_audit_fill(&a, &p, "x", 1), 0);
	ck_assert_str_eq(a.exe, "?");
	/* A peer in another PID namespace: neither pid nor exe to name (not /proc/0). */
	p.pid = 0;
	ck_assert_int_eq(access_audit_fill(&a, &p, "x", 1), 0);
	ck_assert_str_eq(a.uid, "1234");
	ck_assert_str_eq(a.pid, "-");
	ck_assert_str_eq(a.exe, "-");
	access_peer_tcp(&t);
	ck_assert_int_eq(access_audit_fill(&a, &t, "x", 1), 0);
	ck_assert_str_eq(a.uid, "-");
	ck_assert_str_eq(a.pid, "-");
	ck_assert_str_eq(a.exe, "-");
}
END_TEST

/* The reader in a PID namespace of its own, the peer outside it (as two containers of a pod, or the
 * host and a container): SO_PEERCRED gives pid 0, and the peer is still known by its uid and groups.
 * Needs CAP_SYS_ADMIN for the namespace: skipped (passes) without it. */
START_TEST(test_peer_in_other_pid_namespace)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int ls, cs, st = -1;
	pid_t child;

	/* an abstract name, unique to this process */
	snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1, "check_gw_access.%ld", (long)getpid());
	ls = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_ge(ls, 0);
	ck_assert_int_eq(bind(ls, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(ls, 1), 0);
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		pid_t reader;

		if (unshare(CLONE_NEWPID) < 0)
			_exit(77);
		reader = fork(); /* pid 1 of the new namespace */
		if (reader == 0) {
			struct access_peer p;
			int fd = accept(ls, NULL, NULL);

			if (fd < 0 || access_peer_from_fd(fd, &p) < 0)
				_exit(1);
			_exit(p.is_unix == 1 && p.pid == 0 && p.uid == geteuid() && p.gid == getegid() ? 0
			                                                                               : 2);
		}
		if (reader < 0 || waitpid(reader, &st, 0) != reader || !WIFEXITED(st))
			_exit(3);
		_exit(WEXITSTATUS(st));
	}
	cs = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_ge(cs, 0);
	ck_assert_int_eq(connect(cs, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(waitpid(child, &st, 0), child);
	close(cs);
	close(ls);
	ck_assert(WIFEXITED(st));
	if (WEXITSTATUS(st) == 77) {
		printf("check_gw_access: no PID namespace here (not root): the pid-0 peer is not tried\n");
		return;
	}
	ck_assert_int_eq(WEXITSTATUS(st), 0);
}
END_TEST

static char captured[4096];

static void sink(enum wlog_level lvl, const char *line, void *arg)
{
	(void)arg;
	ck_assert_int_eq(lvl, WLOG_INFO);
	snprintf(captured, sizeof(captured), "%s", line);
}

START_TEST(test_audit_log_line)
{
	struct access_peer p = peer(1234, 5, NOG, NOG);
	static const char body[] = "{\"secret-body-marker\":1}";

	p.pid = getpid();
	log_init("test", WLOG_INFO, WLOG_FMT_LOGFMT);
	log_set_sink(sink, NULL);
	captured[0] = '\0';
	access_audit_log(&p, "rid-1", 202, "send_to_group", "chat", "g\"1", body, sizeof(body) - 1);
	ck_assert_ptr_nonnull(strstr(captured, "audit"));
	ck_assert_ptr_nonnull(strstr(captured, "request_id=rid-1 status=202 peer=unix uid=1234"));
	ck_assert_ptr_nonnull(strstr(captured, "op=send_to_group"));
	ck_assert_ptr_nonnull(strstr(captured, "hub=chat"));
	ck_assert_ptr_nonnull(strstr(captured, "body_bytes=24"));
	ck_assert_ptr_nonnull(strstr(captured, "body_sha256="));
	ck_assert_ptr_nonnull(strstr(captured, "exe="));
	ck_assert_ptr_null(strstr(captured, "secret-body-marker"));
	/* The target is escaped by the log module: no bare quote inside the value. */
	ck_assert_ptr_null(strstr(captured, "target=g\"1"));
	captured[0] = '\0';
	access_audit_log(&p, NULL, 0, NULL, NULL, NULL, NULL, 0);
	ck_assert_ptr_nonnull(strstr(captured, "request_id=- status=- "));
	ck_assert_ptr_nonnull(strstr(captured, "op=-"));
	ck_assert_ptr_nonnull(strstr(captured, "target=-"));
	log_set_sink(NULL, NULL);
}
END_TEST

static Suite *access_suite(void)
{
	Suite *s = suite_create("acl");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_default_rules, 0, (int)(sizeof(default_rows) / sizeof(default_rows[0])));
	tcase_add_test(tc, test_tcp_policy);
	tcase_add_loop_test(tc, test_rule_table, 0, (int)(sizeof(rule_rows) / sizeof(rule_rows[0])));
	tcase_add_test(tc, test_rule_parsed_fields);
	tcase_add_test(tc, test_empty_rules_only_root);
	tcase_add_loop_test(tc, test_cfg_bad, 0, (int)(sizeof(bad_cfg) / sizeof(bad_cfg[0])));
	tcase_add_test(tc, test_cfg_too_many_rules);
	tcase_add_test(tc, test_peer_from_socketpair);
	tcase_add_test(tc, test_peer_in_other_pid_namespace);
	tcase_add_test(tc, test_groups_from_uid);
	tcase_add_test(tc, test_audit_fill);
	tcase_add_test(tc, test_audit_log_line);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(access_suite());
}
