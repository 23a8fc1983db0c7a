/* insp.c: the inspector's ring of entries, its watchers' bounded backlogs, the hooks that make
 * entries, the snapshot JSON and the query filters of its API. */
#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "insp.h"
#include "pct.h"
#include "proto.h"
#include "utf8.h"

struct insp_ent {
	uint64_t id;
	char *text; /* the entry's compact JSON */
	size_t len;
	char *hub, *group, *user, *conn; /* what filters match on (NULL: absent) */
};

struct insp_watch {
	struct insp_watch *next, *prev;
	struct insp *in;
	struct insp_filter f;
	struct buf q; /* queued bytes from off on */
	size_t off;
	int dead; /* 1 dropped (backlog full), 2 closed (shutdown) */
	void (*wake)(void *arg);
	void *arg;
};

struct insp {
	struct insp_limits lim;
	struct insp_ent *ring;
	size_t head, count; /* oldest at head */
	uint64_t next_id;
	struct insp_watch *watchers;
	size_t nwatchers;
	uint64_t dropped;
	uint64_t next_beat;
	int closed;
};

static size_t clamp(size_t v, size_t dflt, size_t lo, size_t hi)
{
	if (v == 0)
		return dflt;
	return v < lo ? lo : v > hi ? hi : v;
}

struct insp *insp_new(const struct insp_limits *lim)
{
	struct insp *in = calloc(1, sizeof(*in));
	if (!in)
		return NULL;
	in->lim.entries = clamp(lim ? lim->entries : 0, INSP_DEFAULT_ENTRIES, 1, INSP_ENTRIES_MAX);
	in->lim.watchers = clamp(lim ? lim->watchers : 0, INSP_DEFAULT_WATCHERS, 1, INSP_WATCHERS_MAX);
	in->lim.backlog =
	        clamp(lim ? lim->backlog : 0, INSP_DEFAULT_BACKLOG, INSP_BACKLOG_MIN, INSP_BACKLOG_MAX);
	in->ring = calloc(in->lim.entries, sizeof(*in->ring));
	if (!in->ring) {
		free(in);
		return NULL;
	}
	in->next_id = 1;
	return in;
}

static void ent_clear(struct insp_ent *e)
{
	free(e->text);
	free(e->hub);
	free(e->group);
	free(e->user);
	free(e->conn);
	memset(e, 0, sizeof(*e));
}

void insp_free(struct insp *in)
{
	if (!in)
		return;
	for (size_t i = 0; i < in->lim.entries; i++)
		ent_clear(&in->ring[i]);
	free(in->ring);
	/* watchers still alive are detached: their owner frees them */
	for (struct insp_watch *w = in->watchers; w; w = w->next)
		w->in = NULL;
	free(in);
}

const struct insp_limits *insp_limits(const struct insp *in)
{
	return &in->lim;
}
size_t insp_count(const struct insp *in)
{
	return in ? in->count : 0;
}
uint64_t insp_last_id(const struct insp *in)
{
	return in ? in->next_id - 1 : 0;
}
size_t insp_watchers(const struct insp *in)
{
	return in ? in->nwatchers : 0;
}
uint64_t insp_dropped_watchers(const struct insp *in)
{
	return in ? in->dropped : 0;
}

/* ---- JSON ---- */

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 when invalid. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t k;
	unsigned cp;

	if (c == 0)
		return 0; /* a NUL is shown as U+FFFD too: the text stays a C string for every reader */
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		k = 2, cp = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		k = 3, cp = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		k = 4, cp = c & 0x07;
	else
		return 0;
	if (n < k)
		return 0;
	for (size_t i = 1; i < k; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((k == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (k == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return k;
}

json_t *insp_json_text(const char *s, size_t len, size_t max)
{
	static const char repl[] = "\xef\xbf\xbd", ell[] = "\xe2\x80\xa6";
	const unsigned char *u = (const unsigned char *)s;
	char *out;
	size_t o = 0, i = 0;
	json_t *j;

	if (!s)
		len = 0;
	/* each input byte yields at most 3 output bytes; the output stops at max anyway */
	size_t cap = (len < max ? len : max) * 3 + sizeof(ell) + 4;
	if (!(out = malloc(cap)))
		return NULL;
	while (i < len) {
		size_t k = utf8_len(u + i, len - i);
		const char *piece = k ? s + i : repl;
		size_t pl = k ? k : 3;
		if (o + pl > max) {
			memcpy(out + o, ell, 3);
			o += 3;
			break;
		}
		memcpy(out + o, piece, pl);
		o += pl;
		i += k ? k : 1;
	}
	j = json_stringn(out, o);
	free(out);
	return j;
}

static json_t *jstr(const char *s)
{
	json_t *j = s ? insp_json_text(s, strlen(s), INSP_FIELD_MAX) : NULL;
	return j ? j : json_null();
}

static char *field_dup(const char *s)
{
	if (!s)
		return NULL;
	size_t n = strlen(s);
	return strndup(s, n > INSP_FIELD_MAX ? INSP_FIELD_MAX : n);
}

static const char *proto_label(const struct hub_conn *c)
{
	if (c->protocol)
		return c->protocol;
	switch (c->proto) {
	case HUB_PROTO_SIMPLE: return "simple";
	case HUB_PROTO_JSON: return "json";
	case HUB_PROTO_RELIABLE: return "json.reliable";
	case HUB_PROTO_MQTT: return "mqtt";
	}
	return "unknown";
}

json_t *insp_conn_json(const struct hub_conn *c, size_t max)
{
	json_t *o = json_object(), *g = json_array(), *r = json_array();
	size_t ng = max && c->ngroups > max ? max : c->ngroups,
	       nr = max && c->nrolenames > max ? max : c->nrolenames;
	for (size_t i = 0; i < ng; i++)
		json_array_append_new(g, jstr(c->groups[i]));
	for (size_t i = 0; i < nr; i++)
		json_array_append_new(r, jstr(c->rolenames[i]));
	if (ng < c->ngroups)
		json_object_set_new(o, "moreGroups", json_integer((json_int_t)(c->ngroups - ng)));
	if (nr < c->nrolenames)
		json_object_set_new(o, "moreRoles", json_integer((json_int_t)(c->nrolenames - nr)));
	json_object_set_new(o, "id", jstr(c->id));
	json_object_set_new(o, "hub", jstr(c->hub ? c->hub->name : NULL));
	json_object_set_new(o, "userId", jstr(c->user));
	json_object_set_new(o, "groups", g);
	json_object_set_new(o, "roles", r);
	json_object_set_new(o, "protocol", json_string(proto_label(c)));
	json_object_set_new(o, "subprotocol", jstr(c->subprotocol));
	json_object_set_new(o, "connectedAt", json_integer((json_int_t)c->connected_ms));
	return o;
}

/* ---- the ring and the watchers ---- */

static uint64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int feq(const char *want, const char *have, int icase)
{
	if (!want)
		return 1;
	if (!have)
		return 0;
	return icase ? strcasecmp(want, have) == 0 : strcmp(want, have) == 0;
}

static int ent_match(const struct insp_filter *f, const struct insp_ent *e)
{
	return !f || (feq(f->hub, e->hub, 1) && feq(f->group, e->group, 0) && feq(f->user, e->user, 0) &&
	              feq(f->conn, e->conn, 0));
}

static void watch_drop(struct insp_watch *w, int why)
{
	if (w->dead)
		return;
	w->dead = why;
	buf_free(&w->q);
	w->off = 0;
	if (why == 1 && w->in)
		w->in->dropped++;
	if (w->wake)
		w->wake(w->arg);
}

/* Queue bytes to w; past its backlog it is dropped. No wake. 0 or -1 (dropped). */
static int watch_put(struct insp_watch *w, const char *p, size_t n)
{
	if (w->dead)
		return -1;
	if (w->q.len - w->off + n > w->in->lim.backlog) {
		watch_drop(w, 1);
		return -1;
	}
	if (w->off && w->off >= w->q.len / 2) {
		memmove(w->q.data, w->q.data + w->off, w->q.len - w->off);
		w->q.len -= w->off;
		w->q.data[w->q.len] = '\0';
		w->off = 0;
	}
	if (buf_append(&w->q, p, n) < 0) {
		watch_drop(w, 1);
		return -1;
	}
	return 0;
}

static int watch_put_ent(struct insp_watch *w, const struct insp_ent *e)
{
	char head[40];
	int hl = snprintf(head, sizeof head, "id: %llu\ndata: ", (unsigned long long)e->id);
	size_t need = (size_t)hl + e->len + 2;
	if (w->dead)
		return -1;
	if (w->q.len - w->off + need > w->in->lim.backlog) {
		watch_drop(w, 1);
		return -1;
	}
	if (watch_put(w, head, (size_t)hl) < 0 || watch_put(w, e->text, e->len) < 0 ||
	    watch_put(w, "\n\n", 2) < 0)
		return -1;
	return 0;
}

/* Record o (stolen) as the next entry with the filter keys given, and hand it to the watchers. */
static void insp_add(struct insp *in, json_t *o, const char *hub, const char *group, const char *user,
                     const char *conn)
{
	struct insp_ent e = { 0 };
	if (!o)
		return;
	e.id = in->next_id;
	/* id and ts first, for readers of the raw stream */
	json_t *full = json_pack("{s:I, s:I}", "id", (json_int_t)e.id, "ts", (json_int_t)wall_ms());
	if (!full || json_object_update(full, o) < 0) {
		json_decref(full);
		json_decref(o);
		return;
	}
	json_decref(o);
	e.text = json_dumps(full, JSON_COMPACT);
	json_decref(full);
	if (!e.text)
		return;
	e.len = strlen(e.text);
	e.hub = field_dup(hub);
	e.group = field_dup(group);
	e.user = field_dup(user);
	e.conn = field_dup(conn);
	in->next_id++;
	size_t slot;
	if (in->count == in->lim.entries) {
		slot = in->head;
		ent_clear(&in->ring[slot]);
		in->head = (in->head + 1) % in->lim.entries;
	} else {
		slot = (in->head + in->count) % in->lim.entries;
		in->count++;
	}
	in->ring[slot] = e;
	for (struct insp_watch *w = in->watchers, *next; w; w = next) {
		next = w->next; /* wake never frees a watcher, but be safe */
		if (w->dead || !ent_match(&w->f, &in->ring[slot]))
			continue;
		if (watch_put_ent(w, &in->ring[slot]) == 0 && w->wake)
			w->wake(w->arg);
	}
}

static const struct insp_ent *ring_at(const struct insp *in, size_t i)
{
	return &in->ring[(in->head + i) % in->lim.entries];
}

static int dup_filter(struct insp_filter *dst, const struct insp_filter *src)
{
	memset(dst, 0, sizeof(*dst));
	if (!src)
		return 0;
	dst->after = src->after;
	dst->has_after = src->has_after;
	if ((src->hub && !(dst->hub = strdup(src->hub))) ||
	    (src->group && !(dst->group = strdup(src->group))) ||
	    (src->user && !(dst->user = strdup(src->user))) ||
	    (src->conn && !(dst->conn = strdup(src->conn)))) {
		insp_filter_clear(dst);
		return -1;
	}
	return 0;
}

struct insp_watch *insp_watch_new(struct insp *in, const struct insp_filter *f, void (*wake)(void *arg),
                                  void *arg)
{
	struct insp_watch *w;

	if (!in || in->closed || in->nwatchers >= in->lim.watchers)
		return NULL;
	if (!(w = calloc(1, sizeof(*w))))
		return NULL;
	if (dup_filter(&w->f, f) < 0) {
		free(w);
		return NULL;
	}
	w->in = in;
	buf_init(&w->q, 0);
	/* a retry comment first, then the missed entries that fit in half the backlog (newest kept) */
	watch_put(w, "retry: 2000\n\n", 13);
	if (w->f.has_after) {
		size_t budget = in->lim.backlog / 2, used = 0, first = in->count;
		while (first > 0) {
			const struct insp_ent *e = ring_at(in, first - 1);
			if (e->id <= w->f.after)
				break;
			if (ent_match(&w->f, e)) {
				if (used + e->len + 32 > budget)
					break;
				used += e->len + 32;
			}
			first--;
		}
		for (size_t i = first; i < in->count; i++)
			if (ent_match(&w->f, ring_at(in, i)))
				watch_put_ent(w, ring_at(in, i));
	}
	w->wake = wake;
	w->arg = arg;
	w->next = in->watchers;
	if (in->watchers)
		in->watchers->prev = w;
	in->watchers = w;
	in->nwatchers++;
	return w;
}

ssize_t insp_watch_read(struct insp_watch *w, char *out, size_t max)
{
	if (w->dead || !w->in)
		return -1;
	size_t n = w->q.len - w->off;
	if (n > max)
		n = max;
	if (n == 0)
		return 0;
	memcpy(out, w->q.data + w->off, n);
	w->off += n;
	if (w->off == w->q.len) {
		buf_reset(&w->q);
		w->off = 0;
	}
	return (ssize_t)n;
}

size_t insp_watch_queued(const struct insp_watch *w)
{
	return w->dead ? 0 : w->q.len - w->off;
}

int insp_watch_alive(const struct insp_watch *w)
{
	return !w->dead && w->in;
}

void insp_watch_free(struct insp_watch *w)
{
	if (!w)
		return;
	if (w->in) {
		if (w->prev)
			w->prev->next = w->next;
		else
			w->in->watchers = w->next;
		if (w->next)
			w->next->prev = w->prev;
		w->in->nwatchers--;
	}
	insp_filter_clear(&w->f);
	buf_free(&w->q);
	free(w);
}

int insp_tick(struct insp *in, uint64_t now)
{
	if (!in)
		return -1;
	if (now >= in->next_beat) {
		in->next_beat = now + INSP_HEARTBEAT_MS;
		for (struct insp_watch *w = in->watchers; w; w = w->next)
			if (!w->dead && watch_put(w, ": hb\n\n", 6) == 0 && w->wake)
				w->wake(w->arg);
	}
	return (int)(in->next_beat - now);
}

void insp_shutdown(struct insp *in)
{
	if (!in)
		return;
	in->closed = 1;
	for (struct insp_watch *w = in->watchers; w; w = w->next)
		watch_drop(w, 2);
}

/* ---- the snapshot ---- */

static int conn_match(const struct insp_filter *f, const struct hub_conn *c)
{
	if (!f)
		return 1;
	if (f->hub && strcasecmp(f->hub, c->hub->name) != 0)
		return 0;
	if (!feq(f->user, c->user, 0) || !feq(f->conn, c->id, 0))
		return 0;
	return !f->group || hub_conn_in_group(c, f->group);
}

int insp_snapshot(struct insp *in, const struct hub_state *st, const struct insp_filter *f, struct buf *b)
{
	json_t *hubs = json_array();
	int rc = -1;

	for (const struct hub *h = st ? st->hubs : NULL; h; h = h->next) {
		if (f && f->hub && strcasecmp(f->hub, h->name) != 0)
			continue;
		json_t *conns = json_array();
		for (const struct hub_conn *c = h->conns; c; c = c->next)
			if (conn_match(f, c))
				json_array_append_new(conns, insp_conn_json(c, 0));
		json_array_append_new(hubs,
		                      json_pack("{s:o, s:o}", "name", jstr(h->name), "connections", conns));
	}
	if (buf_puts(b, "{\"hubs\":") < 0 || buf_put_json(b, hubs) < 0 || buf_puts(b, ",\"entries\":[") < 0)
		return -1;
	int first = 1;
	for (size_t i = 0; in && i < in->count; i++) {
		const struct insp_ent *e = ring_at(in, i);
		if (!ent_match(f, e) || (f && f->has_after && e->id <= f->after))
			continue;
		if ((!first && buf_puts(b, ",") < 0) || buf_append(b, e->text, e->len) < 0)
			goto out;
		first = 0;
	}
	if (buf_printf(b,
	               "],\"lastId\":%llu,\"limits\":{\"entries\":%zu,\"watchers\":%zu,\"backlogBytes\":%zu},"
	               "\"watchers\":%zu,\"droppedWatchers\":%llu}",
	               (unsigned long long)insp_last_id(in), in ? in->lim.entries : 0,
	               in ? in->lim.watchers : 0, in ? in->lim.backlog : 0, insp_watchers(in),
	               (unsigned long long)insp_dropped_watchers(in)) < 0)
		goto out;
	rc = 0;
out:
	return rc;
}

/* ---- query filters ---- */

void insp_filter_clear(struct insp_filter *f)
{
	free(f->hub);
	free(f->group);
	free(f->user);
	free(f->conn);
	memset(f, 0, sizeof(*f));
}

int insp_filter_parse(const char *q, struct insp_filter *f, char *why, size_t whylen)
{
	memset(f, 0, sizeof(*f));
	if (!q)
		return 0;
	if (strlen(q) > INSP_QUERY_MAX) {
		snprintf(why, whylen, "The query is longer than %d bytes", INSP_QUERY_MAX);
		return -1;
	}
	while (*q) {
		size_t n = strcspn(q, "&");
		const char *eq = memchr(q, '=', n);
		size_t kl = eq ? (size_t)(eq - q) : n;
		char *v = NULL, **slot = NULL;

		if (n == 0) {
			q++;
			continue;
		}
		if (!eq) {
			snprintf(why, whylen, "A query parameter has no value");
			return -1;
		}
		if (!(v = pct_decode(eq + 1, n - kl - 1, 1, NULL))) {
			snprintf(why, whylen, "A query value has a malformed percent-escape");
			return -1;
		}
		if (kl == 3 && memcmp(q, "hub", 3) == 0)
			slot = &f->hub;
		else if (kl == 5 && memcmp(q, "group", 5) == 0)
			slot = &f->group;
		else if (kl == 4 && memcmp(q, "user", 4) == 0)
			slot = &f->user;
		else if (kl == 10 && memcmp(q, "connection", 10) == 0)
			slot = &f->conn;
		else if (kl == 5 && memcmp(q, "after", 5) == 0) {
			char *end;
			errno = 0;
			unsigned long long a = strtoull(v, &end, 10);
			int bad = !*v || *end || errno || v[0] == '-' || f->has_after;
			free(v);
			if (bad) {
				snprintf(why, whylen, "after takes one entry id (a decimal number)");
				return -1;
			}
			f->after = a;
			f->has_after = 1;
			q += n;
			continue;
		} else {
			free(v);
			snprintf(
			        why, whylen,
			        "Unknown query parameter (hub, group, user, connection and after are known)");
			return -1;
		}
		if (*slot || !*v || strlen(v) > INSP_FIELD_MAX) {
			free(v);
			snprintf(why, whylen, "Each filter is given once, not empty, at most %d bytes",
			         INSP_FIELD_MAX);
			return -1;
		}
		*slot = v;
		q += n;
	}
	return 0;
}

/* ---- the hooks ---- */

/* 1 when binary data reads as text (valid UTF-8, no control characters but tab and line ends):
 * then the preview shows it as text, else as hex bytes. */
static int looks_like_text(const char *data, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)data[i];
		if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f)
			return 0;
	}
	return utf8_valid(data, len);
}

static json_t *preview(const char *data, size_t len, int binary)
{
	if (!data)
		return json_null();
	if (binary && !looks_like_text(data, len)) {
		static const char hx[] = "0123456789abcdef";
		char out[INSP_PREVIEW_MAX / 2 * 3 + 8];
		size_t n = len < INSP_PREVIEW_MAX / 6 ? len : INSP_PREVIEW_MAX / 6, o = 0;
		for (size_t i = 0; i < n; i++) {
			out[o++] = hx[(unsigned char)data[i] >> 4];
			out[o++] = hx[(unsigned char)data[i] & 15];
			out[o++] = ' ';
		}
		if (n < len)
			memcpy(out + o, "\xe2\x80\xa6", 3), o += 3;
		else if (o)
			o--;
		return json_stringn(out, o);
	}
	json_t *j = insp_json_text(data, len, INSP_PREVIEW_MAX);
	return j ? j : json_null();
}

void insp_rest(struct insp *in, const char *method, const char *path, int status)
{
	char *seg[8] = { 0 }, *hub = NULL, *group = NULL, *user = NULL, *conn = NULL;
	size_t ns = 0;

	if (!in)
		return;
	/* /api/hubs/{hub}[/groups/{g}|/users/{u}|/connections/{c}][/...]: the filter keys */
	for (const char *p = path; p && *p == '/' && ns < 8;) {
		p++;
		size_t n = strcspn(p, "/");
		seg[ns++] = pct_decode(p, n, 0, NULL);
		p += n;
	}
	if (ns >= 3 && seg[0] && seg[1] && strcmp(seg[0], "api") == 0 && strcmp(seg[1], "hubs") == 0) {
		hub = seg[2];
		for (size_t i = 3; i + 1 < ns; i += 2) {
			if (!seg[i] || !seg[i + 1])
				continue;
			if (strcmp(seg[i], "groups") == 0 && !group)
				group = seg[i + 1];
			else if (strcmp(seg[i], "users") == 0 && !user)
				user = seg[i + 1];
			else if (strcmp(seg[i], "connections") == 0 && !conn)
				conn = seg[i + 1];
		}
	}
	json_t *o = json_pack("{s:s, s:o, s:o, s:i, s:o, s:o, s:o, s:o}", "kind", "rest", "method",
	                      jstr(method), "path", jstr(path), "status", status, "hub", jstr(hub), "group",
	                      jstr(group), "userId", jstr(user), "connection", jstr(conn));
	insp_add(in, o, hub, group, user, conn);
	for (size_t i = 0; i < ns; i++)
		free(seg[i]);
}

void insp_send(struct insp *in, const struct hub *h, const struct hub_sel *sel, const struct hub_msg *m,
               size_t recipients)
{
	static const char *const kinds[] = { "all", "group", "user", "connection" };
	const char *id = sel->kind == HUB_T_ALL ? NULL : sel->id;

	if (!in)
		return;
	json_t *o = json_pack("{s:s, s:o, s:{s:s, s:o}, s:o, s:s, s:I, s:o, s:I, s:I, s:b}", "kind", "send",
	                      "hub", jstr(h->name), "to", "type", kinds[sel->kind], "id", jstr(id),
	                      "fromUser", jstr(m->from_user), "dataType",
	                      m->dtype == HUB_DT_BINARY ? "binary"
	                      : m->dtype == HUB_DT_JSON ? "json"
	                                                : "text",
	                      "size", (json_int_t)m->rawlen, "preview",
	                      preview(m->raw, m->rawlen, m->dtype == HUB_DT_BINARY), "recipients",
	                      (json_int_t)recipients, "excluded", (json_int_t)sel->nexcluded, "filtered",
	                      sel->filter != NULL);
	insp_add(in, o, h->name, sel->kind == HUB_T_GROUP ? id : m->group,
	         sel->kind == HUB_T_USER ? id : m->from_user, sel->kind == HUB_T_CONN ? id : NULL);
}

void insp_client(struct insp *in, const struct hub_conn *c, const char *type, const char *group,
                 const char *event, const char *data, size_t len, int binary)
{
	if (!in)
		return;
	json_t *o = json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:I, s:o}", "kind", "client", "hub",
	                      jstr(c->hub->name), "connection", jstr(c->id), "userId", jstr(c->user), "type",
	                      jstr(type), "group", jstr(group), "event", jstr(event), "size", (json_int_t)len,
	                      "preview", preview(data, len, binary));
	insp_add(in, o, c->hub->name, group, c->user, c->id);
}

void insp_event(struct insp *in, const char *hub, const char *conn, const char *user, const char *event,
                long status, long ms, const char *error)
{
	if (!in)
		return;
	json_t *o = json_pack("{s:s, s:o, s:o, s:o, s:o, s:i, s:i, s:o}", "kind", "event", "hub", jstr(hub),
	                      "connection", jstr(conn), "userId", jstr(user), "event", jstr(event), "status",
	                      (int)status, "ms", (int)ms, "error", jstr(error));
	insp_add(in, o, hub, NULL, user, conn);
}

void insp_conn_open(struct insp *in, const struct hub_conn *c)
{
	if (!in)
		return;
	json_t *o = json_pack("{s:s, s:o, s:o, s:o, s:o}", "kind", "conn.open", "hub", jstr(c->hub->name),
	                      "connection", jstr(c->id), "userId", jstr(c->user), "conn",
	                      insp_conn_json(c, INSP_LIST_MAX));
	insp_add(in, o, c->hub->name, NULL, c->user, c->id);
}

void insp_conn_close(struct insp *in, const struct hub_conn *c, const char *reason)
{
	if (!in)
		return;
	json_t *o = json_pack("{s:s, s:o, s:o, s:o, s:o}", "kind", "conn.close", "hub", jstr(c->hub->name),
	                      "connection", jstr(c->id), "userId", jstr(c->user), "reason", jstr(reason));
	insp_add(in, o, c->hub->name, NULL, c->user, c->id);
}

void insp_group(struct insp *in, const struct hub_conn *c, const char *op, const char *group)
{
	if (!in)
		return;
	char kind[16];
	snprintf(kind, sizeof kind, "group.%s", op);
	json_t *o = json_pack("{s:s, s:o, s:o, s:o, s:o}", "kind", kind, "hub", jstr(c->hub->name),
	                      "connection", jstr(c->id), "userId", jstr(c->user), "group", jstr(group));
	insp_add(in, o, c->hub->name, group, c->user, c->id);
}
