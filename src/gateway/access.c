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
#include "gateway/dcfg.h"
#include "jwt.h"
#include "log.h"

/* A string or a list/array of strings and integers: calls fn for every element. */
static const config_setting_t *as_list(const config_setting_t *m)
{
	if (config_setting_is_array(m) || config_setting_is_list(m))
		return m;
	return NULL;
}

static int parse_ids(const config_setting_t *m, int users, struct access_rule *r, char *err, size_t errlen)
{
	const char *key = users ? "access.rules.users" : "access.rules.groups";
	int i, n;

	if (as_list(m) == NULL) {
		dcfg_keyfail(m, err, errlen, key, "must be a list of names or numeric ids");
		return -1;
	}
	n = config_setting_length(m);
	if (n > ACCESS_RULE_IDS_MAX) {
		dcfg_keyfail(m, err, errlen, key, "too many entries");
		return -1;
	}
	for (i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(m, (unsigned)i);
		long long id;

		switch (config_setting_type(e)) {
		case CONFIG_TYPE_INT:
		case CONFIG_TYPE_INT64:
			id = config_setting_get_int64(e);
			if (id < 0 || id >= (long long)UINT32_MAX) {
				dcfg_keyfail(e, err, errlen, key, "a numeric id is out of range");
				return -1;
			}
			break;
		case CONFIG_TYPE_STRING: {
			const char *name = config_setting_get_string(e);

			if (users && strcmp(name, "*") == 0) {
				r->any_user = 1;
				continue;
			}
			if (users) {
				struct passwd *pw = getpwnam(name);

				if (pw == NULL) {
					dcfg_keyfail(e, err, errlen, key, "unknown user name");
					return -1;
				}
				id = pw->pw_uid;
			} else {
				struct group *gr = getgrnam(name);

				if (gr == NULL) {
					dcfg_keyfail(e, err, errlen, key, "unknown group name");
					return -1;
				}
				id = gr->gr_gid;
			}
			break;
		}
		default: dcfg_keyfail(e, err, errlen, key, "entries must be names or numeric ids"); return -1;
		}
		if (users)
			r->uids[r->nuids++] = (uid_t)id;
		else
			r->gids[r->ngids++] = (gid_t)id;
	}
	return 0;
}

static int parse_hubs(const config_setting_t *m, struct access_rule *r, char *err, size_t errlen)
{
	int i, n;

	if (as_list(m) == NULL) {
		dcfg_keyfail(m, err, errlen, "access.rules.hubs", "must be a list of hub names or \"*\"");
		return -1;
	}
	n = config_setting_length(m);
	if (n == 0 || n > ACCESS_RULE_IDS_MAX) {
		dcfg_keyfail(m, err, errlen, "access.rules.hubs", "must have 1 to 64 entries");
		return -1;
	}
	r->any_hub = 0;
	for (i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(m, (unsigned)i);
		const char *h = config_setting_get_string(e);

		if (h == NULL) {
			dcfg_keyfail(e, err, errlen, "access.rules.hubs", "entries must be strings");
			return -1;
		}
		if (strcmp(h, "*") == 0) {
			r->any_hub = 1;
			continue;
		}
		if (!ops_valid_hub(h)) {
			dcfg_keyfail(e, err, errlen, "access.rules.hubs", "an entry is not a valid hub name");
			return -1;
		}
		r->hubs[r->nhubs] = strdup(h);
		if (r->hubs[r->nhubs] == NULL) {
			dcfg_keyfail(e, err, errlen, "access.rules.hubs", "out of memory");
			return -1;
		}
		r->nhubs++;
	}
	return 0;
}

static int parse_ops(const config_setting_t *m, struct access_rule *r, char *err, size_t errlen)
{
	int i, n;

	if (as_list(m) == NULL) {
		dcfg_keyfail(m, err, errlen, "access.rules.ops", "must be a list of operation classes");
		return -1;
	}
	n = config_setting_length(m);
	if (n == 0) {
		dcfg_keyfail(m, err, errlen, "access.rules.ops", "must not be empty");
		return -1;
	}
	r->classes = 0;
	for (i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(m, (unsigned)i);
		const char *v = config_setting_get_string(e);
		enum ops_class cls;

		if (v != NULL && strcmp(v, "*") == 0) {
			r->classes = (1u << OPC__COUNT) - 1;
			continue;
		}
		if (v == NULL || ops_class_parse(v, &cls) < 0) {
			dcfg_keyfail(e, err, errlen, "access.rules.ops",
			             "entries must be read, send, group, close, permission, token or \"*\"");
			return -1;
		}
		r->classes |= 1u << cls;
	}
	return 0;
}

static int parse_rule(const config_setting_t *g, struct access_rule *r, char *err, size_t errlen)
{
	int i, have_who = 0;

	memset(r, 0, sizeof(*r));
	r->any_hub = 1;
	r->classes = (1u << OPC__COUNT) - 1;
	r->line = config_setting_source_line(g);
	if (!config_setting_is_group(g)) {
		dcfg_keyfail(g, err, errlen, "access.rules", "each rule must be a group { ... }");
		return -1;
	}
	for (i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
		const char *name = config_setting_name(m);
		int rc;

		if (name == NULL) {
			dcfg_keyfail(m, err, errlen, "access.rules", "unknown key");
			return -1;
		}
		if (strcmp(name, "users") == 0) {
			rc = parse_ids(m, 1, r, err, errlen);
			have_who = 1;
		} else if (strcmp(name, "groups") == 0) {
			rc = parse_ids(m, 0, r, err, errlen);
			have_who = 1;
		} else if (strcmp(name, "hubs") == 0) {
			rc = parse_hubs(m, r, err, errlen);
		} else if (strcmp(name, "ops") == 0) {
			rc = parse_ops(m, r, err, errlen);
		} else {
			dcfg_keyfail(m, err, errlen, "access.rules", "unknown key");
			return -1;
		}
		if (rc < 0)
			return -1;
	}
	if (!have_who || (r->nuids == 0 && r->ngids == 0 && !r->any_user)) {
		dcfg_keyfail(g, err, errlen, "access.rules", "a rule needs users or groups");
		return -1;
	}
	return 0;
}

int access_cfg_parse(const config_setting_t *s, struct access_cfg *out, char *err, size_t errlen)
{
	int i, n;

	memset(out, 0, sizeof(*out));
	out->tcp_allow = 1;
	if (s == NULL)
		return 0;
	if (!config_setting_is_group(s)) {
		dcfg_keyfail(s, err, errlen, "access", "must be a group { ... }");
		goto bad;
	}
	for (i = 0; i < config_setting_length(s); i++) {
		const config_setting_t *m = config_setting_get_elem(s, (unsigned)i);
		const char *name = config_setting_name(m);

		if (name != NULL && strcmp(name, "tcp") == 0) {
			const char *v = config_setting_get_string(m);

			if (v != NULL && strcmp(v, "allow") == 0)
				out->tcp_allow = 1;
			else if (v != NULL && strcmp(v, "deny") == 0)
				out->tcp_allow = 0;
			else {
				dcfg_keyfail(m, err, errlen, "access.tcp", "must be \"allow\" or \"deny\"");
				goto bad;
			}
		} else if (name != NULL && strcmp(name, "rules") == 0) {
			if (!config_setting_is_list(m)) {
				dcfg_keyfail(m, err, errlen, "access.rules",
				             "must be a list ( { ... }, ... )");
				goto bad;
			}
			n = config_setting_length(m);
			if (n > ACCESS_RULES_MAX) {
				dcfg_keyfail(m, err, errlen, "access.rules", "too many rules");
				goto bad;
			}
			out->have_rules = 1;
			for (out->nrules = 0; out->nrules < (size_t)n; out->nrules++) {
				if (parse_rule(config_setting_get_elem(m, (unsigned)out->nrules),
				               &out->rules[out->nrules], err, errlen) < 0) {
					out->nrules++; /* so that fini frees what this rule holds */
					goto bad;
				}
			}
		} else {
			dcfg_keyfail(m, err, errlen, "access", "unknown key");
			goto bad;
		}
	}
	return 0;
bad:
	access_cfg_fini(out);
	return -1;
}

void access_cfg_fini(struct access_cfg *c)
{
	size_t i, j;

	if (c == NULL)
		return;
	for (i = 0; i < c->nrules; i++)
		for (j = 0; j < c->rules[i].nhubs; j++)
			free(c->rules[i].hubs[j]);
	memset(c, 0, sizeof(*c));
	c->tcp_allow = 1;
}

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
	gid_t gl[ACCESS_PEER_GROUPS_MAX];
	socklen_t glen = sizeof(gl);

	memset(p, 0, sizeof(*p));
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0)
		return -1;
	if (len != sizeof(uc) || uc.pid == 0) {
		errno = EINVAL;
		return -1;
	}
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

	if (p->is_unix) {
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
