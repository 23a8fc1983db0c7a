/* hub.c: per-hub state of the emulator (connections, users, groups, permissions) and targeting. */
#include <config.h>

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/rand.h>

#include "b64.h"
#include "emulimits.h"
#include "hub.h"
#include "insp.h"
#include "jwt.h"
#include "proto.h"

struct hub_state *hub_state_new(const struct hub_transport_ops *tops)
{
	struct hub_state *st = calloc(1, sizeof(*st));
	if (st)
		st->tops = tops;
	return st;
}

static void strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void perms_free(struct hub_perm *p)
{
	while (p) {
		struct hub_perm *n = p->next;
		free(p->target);
		free(p);
		p = n;
	}
}

static void conn_free(struct hub_conn *c)
{
	perms_free(c->roles);
	perms_free(c->grants);
	strv_free(c->groups, c->ngroups);
	free(c->ackring);
	free(c->ev_state);
	strv_free(c->rolenames, c->nrolenames);
	free(c->id);
	free(c->user);
	free(c);
}

static void user_free(struct hub_user *u)
{
	strv_free(u->groups, u->ngroups);
	free(u->id);
	free(u);
}

void hub_state_free(struct hub_state *st)
{
	if (!st)
		return;
	while (st->hubs) {
		struct hub *h = st->hubs;
		st->hubs = h->next;
		while (h->conns) {
			struct hub_conn *c = h->conns;
			h->conns = c->next;
			conn_free(c);
		}
		while (h->users) {
			struct hub_user *u = h->users;
			h->users = u->next;
			user_free(u);
		}
		free(h->name);
		free(h);
	}
	free(st);
}

struct hub *hub_get(struct hub_state *st, const char *name, int create)
{
	struct hub *h;
	for (h = st->hubs; h; h = h->next)
		if (strcasecmp(h->name, name) == 0)
			return h;
	if (!create)
		return NULL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->name = strdup(name);
	if (!h->name) {
		free(h);
		return NULL;
	}
	h->state = st;
	h->next = st->hubs;
	st->hubs = h;
	return h;
}

struct hub_conn *hub_conn_find(const struct hub *h, const char *id)
{
	if (!h || !id)
		return NULL;
	for (struct hub_conn *c = h->conns; c; c = c->next)
		if (strcmp(c->id, id) == 0)
			return c;
	return NULL;
}

static struct hub_user *user_find(const struct hub *h, const char *id)
{
	for (struct hub_user *u = h->users; u; u = u->next)
		if (strcmp(u->id, id) == 0)
			return u;
	return NULL;
}

/* "webpubsub.joinLeaveGroup[.g]" / "webpubsub.sendToGroup[.g]" into a permission; other roles: 0. */
static int role_to_perm(const char *role, struct hub_perm **list)
{
	static const struct {
		const char *prefix;
		enum hub_perm_kind kind;
	} map[] = {
		{ "webpubsub.joinLeaveGroup", HUB_PERM_JOIN_LEAVE_GROUP },
		{ "webpubsub.sendToGroup", HUB_PERM_SEND_TO_GROUP },
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		size_t n = strlen(map[i].prefix);
		if (strncmp(role, map[i].prefix, n) != 0 || (role[n] != '\0' && role[n] != '.'))
			continue;
		if (role[n] == '.' && role[n + 1] == '\0')
			return 0;
		struct hub_perm *p = calloc(1, sizeof(*p));
		if (!p)
			return -1;
		p->kind = map[i].kind;
		if (role[n] == '.' && !(p->target = strdup(role + n + 1))) {
			free(p);
			return -1;
		}
		p->next = *list;
		*list = p;
		return 0;
	}
	return 0;
}

void hub_make_id(char *out, size_t outlen)
{
	unsigned char raw[16];
	if (RAND_bytes(raw, sizeof(raw)) != 1) {
		/* Not reached on a sane system; fall back to something unique enough for a test tool. */
		static unsigned long ctr;
		for (size_t i = 0; i < sizeof(raw); i++)
			raw[i] = (unsigned char)(++ctr * 131u + i);
	}
	char *s = b64url_encode(raw, sizeof(raw));
	if (s) {
		strncpy(out, s, outlen - 1);
		out[outlen - 1] = '\0';
		free(s);
	} else {
		out[0] = '\0';
	}
}

struct hub_conn *hub_conn_add(struct hub *h, const struct hub_conn_spec *spec)
{
	struct hub_conn *c = NULL;
	char idbuf[40];
	const char *id = spec->id;

	if (!id) {
		hub_make_id(idbuf, sizeof(idbuf));
		if (!idbuf[0])
			return NULL;
		id = idbuf;
	}
	if (hub_conn_find(h, id))
		return NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->hub = h;
	c->proto = spec->proto;
	c->transport = spec->transport;
	c->mqtt = spec->mqtt;
	c->id = strdup(id);
	if (!c->id)
		goto bad;
	if (spec->user && !(c->user = strdup(spec->user)))
		goto bad;
	c->ackring = calloc(EMU_ACKIDS_MAX, sizeof(*c->ackring));
	if (!c->ackring)
		goto bad;
	for (size_t i = 0; i < spec->nroles; i++)
		if (role_to_perm(spec->roles[i], &c->roles) < 0)
			goto bad;
	if (spec->nroles) {
		if (!(c->rolenames = calloc(spec->nroles, sizeof(char *))))
			goto bad;
		for (; c->nrolenames < spec->nroles; c->nrolenames++)
			if (!(c->rolenames[c->nrolenames] = strdup(spec->roles[c->nrolenames])))
				goto bad;
	}
	c->protocol = spec->protocol;
	c->subprotocol = spec->subprotocol;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	c->connected_ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
	for (size_t i = 0; i < spec->ngroups; i++)
		if (hub_conn_join(c, spec->groups[i]) < 0)
			goto bad;
	if (c->user) {
		struct hub_user *u = user_find(h, c->user);
		for (size_t i = 0; u && i < u->ngroups; i++)
			if (hub_conn_join(c, u->groups[i]) < 0)
				goto bad;
	}
	c->serial = ++h->state->serial;
	c->prev = h->tail;
	if (h->tail)
		h->tail->next = c;
	else
		h->conns = c;
	h->tail = c;
	h->nconns++;
	h->state->nconns++;
	insp_conn_open(h->state->insp, c);
	return c;
bad:
	conn_free(c);
	return NULL;
}

/* Drop the user's persistent groups once the user has no connection left. */
static void user_gc(struct hub *h, const char *user)
{
	if (!user || hub_user_exists(h, user))
		return;
	for (struct hub_user **pp = &h->users; *pp; pp = &(*pp)->next) {
		if (strcmp((*pp)->id, user) == 0) {
			struct hub_user *u = *pp;
			*pp = u->next;
			user_free(u);
			return;
		}
	}
}

void hub_conn_remove(struct hub_conn *c)
{
	if (!c)
		return;
	struct hub *h = c->hub;
	if (h->state->on_gone)
		h->state->on_gone(c, c->gone_why ? c->gone_why : "The connection was closed by the client.",
		                  h->state->on_gone_arg);
	insp_conn_close(h->state->insp, c,
	                c->gone_why ? c->gone_why : "The connection was closed by the client.");
	if (c->prev)
		c->prev->next = c->next;
	else
		h->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	else
		h->tail = c->prev;
	h->nconns--;
	h->state->nconns--;
	char *user = c->user;
	c->user = NULL;
	conn_free(c);
	user_gc(h, user);
	free(user);
}

void hub_conn_close(struct hub_conn *c, const char *reason)
{
	const struct hub_transport_ops *tops = c->hub->state->tops;
	proto_disconnected(c, reason);
	if (tops && c->transport)
		tops->close(c->transport, 1000, reason);
	c->gone_why = reason ? reason : "";
	hub_conn_remove(c);
}

int hub_conn_in_group(const struct hub_conn *c, const char *group)
{
	for (size_t i = 0; i < c->ngroups; i++)
		if (strcmp(c->groups[i], group) == 0)
			return 1;
	return 0;
}

int hub_conn_join(struct hub_conn *c, const char *group)
{
	if (hub_conn_in_group(c, group))
		return 0;
	if (c->ngroups >= EMU_CONN_GROUPS_MAX)
		return -1;
	if (c->ngroups == c->capgroups) {
		size_t cap = c->capgroups ? c->capgroups * 2 : 4;
		char **g = realloc(c->groups, cap * sizeof(*g));
		if (!g)
			return -1;
		c->groups = g;
		c->capgroups = cap;
	}
	if (!(c->groups[c->ngroups] = strdup(group)))
		return -1;
	c->ngroups++;
	if (c->serial) /* not while hub_conn_add builds it */
		insp_group(c->hub->state->insp, c, "join", group);
	return 0;
}

int hub_conn_leave(struct hub_conn *c, const char *group)
{
	for (size_t i = 0; i < c->ngroups; i++) {
		if (strcmp(c->groups[i], group) == 0) {
			insp_group(c->hub->state->insp, c, "leave", group);
			free(c->groups[i]);
			memmove(&c->groups[i], &c->groups[i + 1], (c->ngroups - i - 1) * sizeof(char *));
			c->ngroups--;
			return 1;
		}
	}
	return 0;
}

void hub_conn_leave_all(struct hub_conn *c)
{
	for (size_t i = 0; i < c->ngroups; i++) {
		insp_group(c->hub->state->insp, c, "leave", c->groups[i]);
		free(c->groups[i]);
	}
	c->ngroups = 0;
}

int hub_user_exists(const struct hub *h, const char *user)
{
	for (struct hub_conn *c = h->conns; c; c = c->next)
		if (c->user && strcmp(c->user, user) == 0)
			return 1;
	return 0;
}

int hub_group_exists(const struct hub *h, const char *group)
{
	for (struct hub_conn *c = h->conns; c; c = c->next)
		if (hub_conn_in_group(c, group))
			return 1;
	return 0;
}

int hub_user_add_group(struct hub *h, const char *user, const char *group)
{
	if (!hub_user_exists(h, user))
		return -1;
	struct hub_user *u = user_find(h, user);
	if (!u) {
		u = calloc(1, sizeof(*u));
		if (!u || !(u->id = strdup(user))) {
			free(u);
			return -1;
		}
		u->next = h->users;
		h->users = u;
	}
	int known = 0;
	for (size_t i = 0; i < u->ngroups; i++)
		if (strcmp(u->groups[i], group) == 0)
			known = 1;
	if (!known && u->ngroups < EMU_CONN_GROUPS_MAX) {
		char **g = realloc(u->groups, (u->ngroups + 1) * sizeof(*g));
		if (!g)
			return -1;
		u->groups = g;
		if (!(g[u->ngroups] = strdup(group)))
			return -1;
		u->ngroups++;
	}
	for (struct hub_conn *c = h->conns; c; c = c->next)
		if (c->user && strcmp(c->user, user) == 0)
			(void)hub_conn_join(c, group);
	return 0;
}

void hub_user_remove_group(struct hub *h, const char *user, const char *group)
{
	struct hub_user *u = user_find(h, user);
	if (u) {
		for (size_t i = 0; i < u->ngroups;) {
			if (!group || strcmp(u->groups[i], group) == 0) {
				free(u->groups[i]);
				memmove(&u->groups[i], &u->groups[i + 1],
				        (u->ngroups - i - 1) * sizeof(char *));
				u->ngroups--;
			} else {
				i++;
			}
		}
	}
	for (struct hub_conn *c = h->conns; c; c = c->next) {
		if (!c->user || strcmp(c->user, user) != 0)
			continue;
		if (group)
			hub_conn_leave(c, group);
		else
			hub_conn_leave_all(c);
	}
}

int hub_perm_parse(const char *s, enum hub_perm_kind *out)
{
	if (strcmp(s, "sendToGroup") == 0)
		*out = HUB_PERM_SEND_TO_GROUP;
	else if (strcmp(s, "joinLeaveGroup") == 0)
		*out = HUB_PERM_JOIN_LEAVE_GROUP;
	else
		return -1;
	return 0;
}

static int same_target(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

int hub_perm_grant(struct hub_conn *c, enum hub_perm_kind kind, const char *target)
{
	for (struct hub_perm *p = c->grants; p; p = p->next)
		if (p->kind == kind && same_target(p->target, target))
			return 0;
	if (c->ngrants >= EMU_PERMS_MAX)
		return -1;
	struct hub_perm *p = calloc(1, sizeof(*p));
	if (!p)
		return -1;
	p->kind = kind;
	if (target && !(p->target = strdup(target))) {
		free(p);
		return -1;
	}
	p->next = c->grants;
	c->grants = p;
	c->ngrants++;
	return 0;
}

void hub_perm_revoke(struct hub_conn *c, enum hub_perm_kind kind, const char *target)
{
	struct hub_perm **pp = &c->grants;
	while (*pp) {
		struct hub_perm *p = *pp;
		if (p->kind == kind && (!target || same_target(p->target, target))) {
			*pp = p->next;
			free(p->target);
			free(p);
			c->ngrants--;
		} else {
			pp = &p->next;
		}
	}
}

static int perm_in(const struct hub_perm *list, enum hub_perm_kind kind, const char *target)
{
	for (const struct hub_perm *p = list; p; p = p->next) {
		if (p->kind != kind)
			continue;
		if (!p->target || (target && strcmp(p->target, target) == 0))
			return 1;
	}
	return 0;
}

int hub_perm_check(const struct hub_conn *c, enum hub_perm_kind kind, const char *target)
{
	return perm_in(c->roles, kind, target) || perm_in(c->grants, kind, target);
}

int hub_conn_ack_seen(struct hub_conn *c, uint64_t ack_id)
{
	for (size_t i = 0; i < c->nacks; i++)
		if (c->ackring[i] == ack_id)
			return 1;
	c->ackring[c->ackpos] = ack_id;
	c->ackpos = (c->ackpos + 1) % EMU_ACKIDS_MAX;
	if (c->nacks < EMU_ACKIDS_MAX)
		c->nacks++;
	return 0;
}

static int selected(const struct hub_conn *c, const struct hub_sel *sel)
{
	if (c == sel->skip)
		return 0;
	switch (sel->kind) {
	case HUB_T_ALL: break;
	case HUB_T_GROUP:
		if (!hub_conn_in_group(c, sel->id))
			return 0;
		break;
	case HUB_T_USER:
		if (!c->user || strcmp(c->user, sel->id) != 0)
			return 0;
		break;
	case HUB_T_CONN:
		if (strcmp(c->id, sel->id) != 0)
			return 0;
		break;
	}
	for (size_t i = 0; i < sel->nexcluded; i++)
		if (strcmp(sel->excluded[i], c->id) == 0)
			return 0;
	if (sel->filter) {
		struct filter_subject s = { c->id, c->user, c->groups, c->ngroups };
		if (!filter_eval(sel->filter, &s))
			return 0;
	}
	return 1;
}

size_t hub_foreach(struct hub *h, const struct hub_sel *sel, hub_conn_fn fn, void *arg)
{
	size_t n = 0;
	if (!h)
		return 0;
	/* Connections added by fn (none today) are not visited: stop at the current tail. */
	struct hub_conn *last = h->tail;
	for (struct hub_conn *c = h->conns, *next; c; c = next) {
		int at_end = c == last;
		next = c->next;
		if (selected(c, sel)) {
			fn(c, arg);
			n++;
		}
		if (at_end)
			break;
	}
	return n;
}

static void deliver_one(struct hub_conn *c, void *arg)
{
	proto_deliver(c, arg);
}

size_t hub_send(struct hub *h, const struct hub_sel *sel, const struct hub_msg *m)
{
	struct hub_msg gm = *m;
	/* A send to a group reaches its members as a group message. */
	if (sel->kind == HUB_T_GROUP && !gm.group)
		gm.group = sel->id;
	size_t n = hub_foreach(h, sel, deliver_one, &gm);
	if (h)
		insp_send(h->state->insp, h, sel, &gm, n);
	return n;
}

static void close_one(struct hub_conn *c, void *arg)
{
	hub_conn_close(c, arg);
}

size_t hub_close(struct hub *h, const struct hub_sel *sel, const char *reason)
{
	return hub_foreach(h, sel, close_one, (void *)(uintptr_t)reason);
}

void hub_groups_add(struct hub *h, char *const *groups, size_t n, const struct filter *f)
{
	struct hub_sel sel = { .kind = HUB_T_ALL, .filter = f };
	for (struct hub_conn *c = h->conns; c; c = c->next)
		if (selected(c, &sel))
			for (size_t i = 0; i < n; i++)
				(void)hub_conn_join(c, groups[i]);
}

void hub_groups_remove(struct hub *h, char *const *groups, size_t n, const struct filter *f)
{
	struct hub_sel sel = { .kind = HUB_T_ALL, .filter = f };
	for (struct hub_conn *c = h->conns; c; c = c->next)
		if (selected(c, &sel))
			for (size_t i = 0; i < n; i++)
				hub_conn_leave(c, groups[i]);
}
