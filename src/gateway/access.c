/* access.c: access rules for Unix-socket peers (SO_PEERCRED), TCP policy, and the audit line. */
#include <config.h>

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "access.h"
#include "digest.h"
#include "cfgtab.h"
#include "jwt.h"
#include "log.h"
#include "ops.h"

static int is_list(const config_setting_t *m)
{
	return config_setting_is_array(m) || config_setting_is_list(m);
}

/* users or groups: names or numeric ids ("*" among users: anyone). */
static int parse_ids(const config_setting_t *m, int users, struct access_rule *r, struct cfgtab_err *e)
{
	int i, n;

	if (!is_list(m))
		return cfgtab_fail(e, m, "must be a list of names or numeric ids");
	n = config_setting_length(m);
	if (n > ACCESS_RULE_IDS_MAX)
		return cfgtab_fail(e, m, "at most %d entries", ACCESS_RULE_IDS_MAX);
	for (i = 0; i < n; i++) {
		const config_setting_t *el = config_setting_get_elem(m, (unsigned)i);
		const char *name;
		long long id;

		switch (config_setting_type(el)) {
		case CONFIG_TYPE_INT:
		case CONFIG_TYPE_INT64:
			id = config_setting_get_int64(el);
			if (id < 0 || id >= (long long)UINT32_MAX)
				return cfgtab_fail(e, el, "a numeric id is out of range");
			break;
		case CONFIG_TYPE_STRING:
			name = config_setting_get_string(el);
			if (users && strcmp(name, "*") == 0) {
				r->any_user = 1;
				continue;
			}
			if (users) {
				struct passwd *pw = getpwnam(name);
				if (pw == NULL)
					return cfgtab_fail(e, el, "unknown user name");
				id = pw->pw_uid;
			} else {
				struct group *gr = getgrnam(name);
				if (gr == NULL)
					return cfgtab_fail(e, el, "unknown group name");
				id = gr->gr_gid;
			}
			break;
		default: return cfgtab_fail(e, el, "entries must be names or numeric ids");
		}
		if (users)
			r->uids[r->nuids++] = (uid_t)id;
		else
			r->gids[r->ngids++] = (gid_t)id;
	}
	return 0;
}

static int parse_users(const config_setting_t *m, void *obj, struct cfgtab_err *e)
{
	return parse_ids(m, 1, obj, e);
}

static int parse_groups(const config_setting_t *m, void *obj, struct cfgtab_err *e)
{
	return parse_ids(m, 0, obj, e);
}

static int parse_hubs(const config_setting_t *m, void *obj, struct cfgtab_err *e)
{
	struct access_rule *r = obj;
	int i, n;

	if (!is_list(m))
		return cfgtab_fail(e, m, "must be a list of hub names or \"*\"");
	n = config_setting_length(m);
	if (n == 0 || n > ACCESS_RULE_IDS_MAX)
		return cfgtab_fail(e, m, "must have 1 to %d entries", ACCESS_RULE_IDS_MAX);
	r->any_hub = 0;
	for (i = 0; i < n; i++) {
		const config_setting_t *el = config_setting_get_elem(m, (unsigned)i);
		const char *h = config_setting_get_string(el);

		if (h == NULL)
			return cfgtab_fail(e, el, "entries must be strings");
		if (strcmp(h, "*") == 0) {
			r->any_hub = 1;
			continue;
		}
		if (!ops_valid_hub(h))
			return cfgtab_fail(e, el, "an entry is not a valid hub name");
		if ((r->hubs[r->nhubs] = strdup(h)) == NULL)
			return cfgtab_fail(e, el, "out of memory");
		r->nhubs++;
	}
	return 0;
}

static void clear_hubs(void *obj)
{
	struct access_rule *r = obj;

	while (r->nhubs > 0)
		free(r->hubs[--r->nhubs]);
}

static int parse_ops(const config_setting_t *m, void *obj, struct cfgtab_err *e)
{
	struct access_rule *r = obj;
	int i, n;

	if (!is_list(m))
		return cfgtab_fail(e, m, "must be a list of operation classes");
	if ((n = config_setting_length(m)) == 0)
		return cfgtab_fail(e, m, "must not be empty");
	r->classes = 0;
	for (i = 0; i < n; i++) {
		const config_setting_t *el = config_setting_get_elem(m, (unsigned)i);
		const char *v = config_setting_get_string(el);
		enum ops_class cls;

		if (v != NULL && strcmp(v, "*") == 0) {
			r->classes = (1u << OPC__COUNT) - 1;
			continue;
		}
		if (v == NULL || ops_class_parse(v, &cls) < 0)
			return cfgtab_fail(
			        e, el,
			        "entries must be read, send, group, close, permission, token or \"*\"");
		r->classes |= 1u << cls;
	}
	return 0;
}

/* The defaults of a rule (every hub, every class) for the keys it leaves out, and who it is for. */
static int check_rule(void *obj, const config_setting_t *s, struct cfgtab_err *e)
{
	struct access_rule *r = obj;

	r->line = s != NULL ? config_setting_source_line(s) : 0;
	if (config_setting_get_member(s, "hubs") == NULL)
		r->any_hub = 1;
	if (config_setting_get_member(s, "ops") == NULL)
		r->classes = (1u << OPC__COUNT) - 1;
	if (r->nuids == 0 && r->ngids == 0 && !r->any_user)
		return cfgtab_fail(e, s, "a rule needs users or groups");
	return 0;
}

static const struct cfgtab_key rule_keys[] = {
	CFGTAB_CUSTOM_KEY("users", parse_users, NULL, 0, "array of user names or uids, or \"*\"",
	                  "[ \"www-data\", 1001 ]", "the Unix-socket peers it is for, by user"),
	CFGTAB_CUSTOM_KEY("groups", parse_groups, NULL, 0, "array of group names or gids",
	                  "[ \"monitoring\" ]",
	                  "the Unix-socket peers it is for, by group (primary or supplementary)"),
	CFGTAB_CUSTOM_KEY("hubs", parse_hubs, clear_hubs, 0, "array of hub names, or \"*\"", "[ \"chat\" ]",
	                  "the hubs it allows (default: every hub)"),
	CFGTAB_CUSTOM_KEY("ops", parse_ops, NULL, 0,
	                  "array of read, send, group, close, permission, token, or \"*\"",
	                  "[ \"send\", \"token\" ]", "the operation classes it allows (default: all)"),
};
static const struct cfgtab_section rule_section =
        CFGTAB_SECTION("access.rules[]", struct access_rule, rule_keys, check_rule, "one access rule");

static const char *const tcp_names[] = { "allow", "deny", NULL };
static const int tcp_values[] = { 1, 0 };

static int check_access(void *obj, const config_setting_t *s, struct cfgtab_err *e)
{
	struct access_cfg *c = obj;

	(void)e;
	c->have_rules = s != NULL && config_setting_get_member(s, "rules") != NULL;
	return 0;
}

static const struct cfgtab_key access_keys[] = {
	CFGTAB_ENUM_KEY(struct access_cfg, tcp_allow, "tcp", 1, tcp_names, tcp_values, CFGTAB_SHOWN,
	                "\"deny\": refuse TCP peers, which carry no credentials"),
	CFGTAB_LIST_KEY(struct access_cfg, rules, nrules, "rules", ACCESS_RULES_MAX, &rule_section, 0, NULL,
	                "with rules: root and the peers a rule allows"),
};

const struct cfgtab_section access_cfg_section = CFGTAB_SECTION(
        "access", struct access_cfg, access_keys, check_access,
        "Who may use the gateway. Without `rules`: root and the members of the socket's group may do\n"
        "everything, nobody else anything (403 AccessDenied, logged with the peer's uid, gid, pid and\n"
        "executable). With rules: root and the peers a rule allows. Classes: read send group close\n"
        "permission token, or \"*\" (/metrics and GET /outbox need read on every hub; /healthz and /readyz\n"
        "are open). Every request that changes something gets an audit line (peer, operation, hub, target,\n"
        "body size and SHA-256; never the body).");

void access_peer_tcp(struct access_peer *p)
{
	memset(p, 0, sizeof(*p));
	p->is_unix = 0;
	p->uid = (uid_t)-1;
	p->gid = (gid_t)-1;
	p->pid = 0;
}

int access_peer_groups_from_uid(struct access_peer *p)
{
	struct passwd pwbuf, *pw = NULL;
	char sbuf[4096];
	gid_t gl[ACCESS_PEER_GROUPS_MAX];
	int n = ACCESS_PEER_GROUPS_MAX;

	p->groups[0] = p->gid;
	p->ngroups = 1;
	if (getpwuid_r(p->uid, &pwbuf, sbuf, sizeof(sbuf), &pw) != 0 || pw == NULL)
		return -1;
	/* When the user is in more groups than fit, getgrouplist fills what fits and returns -1;
	 * rules are allow-lists, so a group left out can only deny, never allow. */
	if (getgrouplist(pw->pw_name, pw->pw_gid, gl, &n) < 0)
		n = ACCESS_PEER_GROUPS_MAX;
	if (n > ACCESS_PEER_GROUPS_MAX)
		n = ACCESS_PEER_GROUPS_MAX;
	if (n < 0)
		n = 0;
	memcpy(p->groups, gl, (size_t)n * sizeof(gid_t));
	p->ngroups = (size_t)n;
	return 0;
}

int access_peer_from_fd(int fd, struct access_peer *p)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);
	struct sockaddr_storage sa;
	socklen_t salen = sizeof(sa);
	gid_t gl[ACCESS_PEER_GROUPS_MAX];
	socklen_t glen = sizeof(gl);

	memset(p, 0, sizeof(*p));
	if (getsockname(fd, (struct sockaddr *)&sa, &salen) < 0)
		return -1;
	if (sa.ss_family != AF_UNIX) {
		errno = EINVAL;
		return -1;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0)
		return -1;
	if (len != sizeof(uc)) {
		errno = EINVAL;
		return -1;
	}
	/* pid 0: the peer is in a PID namespace this one does not see (another container of the pod, the
	 * host); its uid, gid and groups are still the kernel's, mapped into our user namespace. */
	p->is_unix = 1;
	p->uid = uc.uid;
	p->gid = uc.gid;
	p->pid = uc.pid;
#ifdef SO_PEERGROUPS
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, gl, &glen) == 0) {
		p->ngroups = glen / sizeof(gid_t);
		memcpy(p->groups, gl, p->ngroups * sizeof(gid_t));
		return 0;
	}
	/* ERANGE: more groups than we look at; the first ones are not returned, ask the database. */
#else
	(void)gl;
	(void)glen;
#endif
	access_peer_groups_from_uid(p);
	return 0;
}

static int peer_in_group(const struct access_peer *p, gid_t g)
{
	size_t i;

	if (p->gid == g)
		return 1;
	for (i = 0; i < p->ngroups; i++)
		if (p->groups[i] == g)
			return 1;
	return 0;
}

static int rule_matches(const struct access_rule *r, const struct access_peer *p, enum ops_class cls,
                        const char *hub)
{
	size_t i;
	int who = r->any_user;

	if (!(r->classes & (1u << cls)))
		return 0;
	if (!r->any_hub) {
		int hit = 0;

		if (hub == NULL)
			return 0;
		for (i = 0; i < r->nhubs && !hit; i++)
			hit = strcmp(r->hubs[i], hub) == 0;
		if (!hit)
			return 0;
	}
	for (i = 0; i < r->nuids && !who; i++)
		who = r->uids[i] == p->uid;
	for (i = 0; i < r->ngids && !who; i++)
		who = peer_in_group(p, r->gids[i]);
	return who;
}

int access_allow(const struct access_cfg *c, const struct access_peer *p, enum ops_class cls, const char *hub,
                 gid_t socket_gid)
{
	size_t i;

	if ((unsigned)cls >= OPC__COUNT)
		return 0;
	if (!p->is_unix)
		return c->tcp_allow;
	if (p->uid == 0)
		return 1;
	if (!c->have_rules)
		return peer_in_group(p, socket_gid);
	for (i = 0; i < c->nrules; i++)
		if (rule_matches(&c->rules[i], p, cls, hub))
			return 1;
	return 0;
}

int access_audit_fill(struct access_audit *a, const struct access_peer *p, const void *body, size_t len)
{
	unsigned char md[32];
	unsigned int mdlen = sizeof md, i;
	static const char hex[] = "0123456789abcdef";

	if (p->is_unix && p->pid == 0) { /* in another PID namespace: no pid, no executable to name */
		snprintf(a->uid, sizeof(a->uid), "%lu", (unsigned long)p->uid);
		strcpy(a->pid, "-");
		strcpy(a->exe, "-");
	} else if (p->is_unix) {
		char path[64];
		ssize_t n;

		snprintf(a->uid, sizeof(a->uid), "%lu", (unsigned long)p->uid);
		snprintf(a->pid, sizeof(a->pid), "%ld", (long)p->pid);
		snprintf(path, sizeof(path), "/proc/%ld/exe", (long)p->pid);
		n = readlink(path, a->exe, sizeof(a->exe) - 1);
		if (n < 0)
			strcpy(a->exe, "?");
		else
			a->exe[n] = '\0';
	} else {
		strcpy(a->uid, "-");
		strcpy(a->pid, "-");
		strcpy(a->exe, "-");
	}
	snprintf(a->body_bytes, sizeof(a->body_bytes), "%zu", len);
	if (digest_sha256(len > 0 ? body : "", len, md) < 0) {
		strcpy(a->body_sha256, "?");
		return -1;
	}
	for (i = 0; i < mdlen; i++) {
		a->body_sha256[2 * i] = hex[md[i] >> 4];
		a->body_sha256[2 * i + 1] = hex[md[i] & 15];
	}
	a->body_sha256[2 * mdlen] = '\0';
	return 0;
}

void access_audit_log(const struct access_peer *p, const char *request_id, int status, const char *op_label,
                      const char *hub, const char *target, const void *body, size_t len)
{
	struct access_audit a;
	char st[16] = "-";

	access_audit_fill(&a, p, body, len);
	if (status > 0)
		snprintf(st, sizeof(st), "%d", status);
	log_kv(WLOG_INFO, "audit", "request_id", request_id != NULL ? request_id : "-", "status", st, "peer",
	       p->is_unix ? "unix" : "tcp", "uid", a.uid, "pid", a.pid, "exe", a.exe, "op",
	       op_label != NULL ? op_label : "-", "hub", hub != NULL ? hub : "-", "target",
	       target != NULL ? target : "-", "body_bytes", a.body_bytes, "body_sha256", a.body_sha256,
	       (char *)NULL);
}
