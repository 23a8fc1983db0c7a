/* insp.h: the emulator's inspector: a bounded ring of recent entries (REST calls, messages sent,
 * client frames, event handler calls, connections opening and closing), the live watchers of the
 * inspector page with bounded backlogs of Server-Sent Events, and the JSON of the snapshot. No HTTP
 * here: insp_http.c serves it. Every hook accepts a NULL struct insp (the inspector is off). */
#ifndef EMU_INSP_H
#define EMU_INSP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "emulimits.h"
#include "hub.h"

/* The inspector's limits (INSP_*) are in emulimits.h with the emulator's others. */

struct insp_limits {
	size_t entries;  /* ring capacity */
	size_t watchers; /* live watchers */
	size_t backlog;  /* bytes per watcher */
};

/* What an API call asks for: entries (and connections) whose fields equal the ones given (NULL:
 * any), and for the event stream those after the entry id "after". */
struct insp_filter {
	char *hub, *group, *user, *conn;
	uint64_t after;
	int has_after;
};

struct insp;
struct insp_watch;

/* New inspector with these limits (each clamped to its bounds). NULL on out of memory. */
struct insp *insp_new(const struct insp_limits *lim);
/* Frees the ring; every watcher must have been freed (insp_watch_free) before. Accepts NULL. */
void insp_free(struct insp *in);
const struct insp_limits *insp_limits(const struct insp *in);
size_t insp_count(const struct insp *in);              /* entries held now */
uint64_t insp_last_id(const struct insp *in);          /* id of the newest entry, 0: none yet */
size_t insp_watchers(const struct insp *in);           /* live watchers now */
uint64_t insp_dropped_watchers(const struct insp *in); /* watchers dropped for a full backlog */

/* ---- the hooks (named after what they record; all accept in == NULL) ---- */
/* A REST call answered: method, path without the query, status. */
void insp_rest(struct insp *in, const char *method, const char *path, int status);
/* A message delivered by hub_send: target kind and id, the sending user (m->from_user) and how
 * many connections it was queued to. */
void insp_send(struct insp *in, const struct hub *h, const struct hub_sel *sel, const struct hub_msg *m,
               size_t recipients);
/* A frame from a client: type ("joinGroup", "leaveGroup", "sendToGroup", "event", "message",
 * "publish", ...), the group or event it names (NULL: none), its data (NULL: none). */
void insp_client(struct insp *in, const struct hub_conn *c, const char *type, const char *group,
                 const char *event, const char *data, size_t len, int binary);
/* An event handler call answered (status 0: no answer, error says why) after ms milliseconds. */
void insp_event(struct insp *in, const char *hub, const char *conn, const char *user, const char *event,
                long status, long ms, const char *error);
/* A connection opened (after hub_conn_add) or goes (before it is freed). */
void insp_conn_open(struct insp *in, const struct hub_conn *c);
void insp_conn_close(struct insp *in, const struct hub_conn *c, const char *reason);
/* A connection joined or left a group (op "join" or "leave"). */
void insp_group(struct insp *in, const struct hub_conn *c, const char *op, const char *group);

/* ---- JSON ---- */
/* A JSON string of s[0..len) that is always valid: invalid UTF-8 bytes and NULs become U+FFFD, the text is
 * cut at max bytes (on a character boundary) and "…" appended when cut. New reference. */
json_t *insp_json_text(const char *s, size_t len, size_t max);
/* The connection as the page lists it: id, hub, userId, groups, roles, protocol, subprotocol,
 * connectedAt (ms since the epoch); with max, at most max groups and roles, and "moreGroups",
 * "moreRoles" counting the rest (0: all of them). New reference. */
json_t *insp_conn_json(const struct hub_conn *c, size_t max);
/* Append the snapshot to b: {"hubs":[{"name","connections":[...]}],"entries":[...],"lastId",
 * "limits":{...}} with only what f selects (f may be NULL). 0 or -1. */
int insp_snapshot(struct insp *in, const struct hub_state *st, const struct insp_filter *f, struct buf *b);

/* ---- query filters ---- */
/* Parse a raw query string ("hub=a&user=b%20c&after=12"; NULL or "" for none) into f. Keys: hub,
 * group, user, connection, after. 0, or -1 with why (unknown key, bad escape, repeated key, value
 * too long). Release f with insp_filter_clear (also after -1). */
int insp_filter_parse(const char *query, struct insp_filter *f, char *why, size_t whylen);
void insp_filter_clear(struct insp_filter *f);

/* ---- watchers ---- */
/* A watcher gets every new entry that f selects (f is copied) as one Server-Sent Event, after the
 * entries of the ring with an id above f->after when f->has_after. wake(arg) is called when data
 * is queued for it or it is dropped or closed (possibly from inside any hook). NULL when at the
 * watcher limit or out of memory. */
struct insp_watch *insp_watch_new(struct insp *in, const struct insp_filter *f, void (*wake)(void *arg),
                                  void *arg);
/* Move up to max queued bytes to out. Returns the count, 0 when nothing is queued now, -1 when the
 * watcher was dropped (its backlog passed the limit) or the inspector shuts down. */
ssize_t insp_watch_read(struct insp_watch *w, char *out, size_t max);
size_t insp_watch_queued(const struct insp_watch *w);
/* 0 once the watcher was dropped or the inspector shut down (its reads return -1), else 1. */
int insp_watch_alive(const struct insp_watch *w);
void insp_watch_free(struct insp_watch *w); /* accepts NULL */
/* The heartbeat: a comment line to every watcher when INSP_HEARTBEAT_MS passed since the last one.
 * Returns the milliseconds until the next one is due. */
int insp_tick(struct insp *in, uint64_t now_ms);
/* Close every watcher (their reads return -1, wake called). */
void insp_shutdown(struct insp *in);

#endif
