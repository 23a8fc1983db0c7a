/* outbox.h: the durable asynchronous delivery store (SQLite, WAL) with a writer thread that group-commits.
 *
 * Threads. outbox_put, outbox_mark, outbox_retry and outbox_stats are called from the loop thread and never
 * wait for a disk: they queue work under a mutex and wake the writer thread. The writer thread owns the
 * write connection; each cycle it takes everything queued, runs it in ONE transaction (marks, new rows,
 * retries, rows handed out for delivery), commits (synchronous=FULL: one fsync of the WAL when the cycle
 * holds puts or retries; a cycle with only marks and hand-outs commits with synchronous=NORMAL and is made
 * durable by the next FULL commit), then posts one batch of callbacks to the loop thread through the
 * `post` function given at open. Every callback runs on the loop thread.
 * outbox_get and outbox_list_failed run synchronously on the caller's thread, on a separate read-only
 * connection (indexed lookups; they may touch the disk on a cold page cache, never wait for the writer).
 *
 * Durability: a put's callback reports success only after its transaction committed with
 * synchronous=FULL in WAL mode, i.e. after fsync of the WAL: the row survives kill -9 and power loss.
 *
 * Delivery is at-least-once. Rows handed out are marked `sending`; on open (and on close) every row left
 * in `sending` goes back to `queued`, so a message whose delivery was in flight at a crash is sent again
 * (the service may then see it twice). Nothing else is ever sent twice.
 *
 * Ordering: rows with the same target key are handed out one at a time, oldest first; the next one only
 * after outbox_mark settled the previous one (delivered, or failed into the dead letters). Different
 * targets go in parallel, at most max_inflight rows at a time. With max_inflight_per_target N > 1, a
 * target's N oldest rows (its window) may be in flight at once and arrive in any order among
 * themselves; a row of the window waiting for its retry delay no longer holds up the others, and a row
 * beyond the window waits until an older one settles.
 *
 * Bounds: queued + sending + failed rows count against max_rows and max_bytes (body and strings);
 * outbox_put refuses with OUTBOX_EFULL what would pass them; nothing accepted is ever dropped. Delivered
 * rows are kept keep_delivered_s for GET /outbox/{id} and do not count.
 *
 * Config section `outbox = { ... }` (all optional except that without `path` there is no outbox):
 *   path = "/var/lib/wpsgate/outbox.db";
 *   max_rows = 100000; max_bytes = 268435456 (256 MiB);
 *   max_age_s = 86400          a row older than this goes to the dead letters instead of being sent
 *   max_attempts = 50          upstream attempts over the life of a row, then dead letter
 *   commit_interval_ms = 0     extra wait for more puts before a commit (0: commit as soon as the
 *                              thread is free; puts that arrive while it commits share the next one)
 *   max_batch_rows = 10000     rows written by one transaction at most
 *   max_inflight = 64          rows handed out for delivery and not yet marked
 *   max_inflight_per_target = 1   rows of one target in flight at once (1: the target's order kept)
 *   keep_delivered_s = 300
 */
#ifndef WPS_GW_OUTBOX_H
#define WPS_GW_OUTBOX_H

#include <stddef.h>
#include <stdint.h>
#include "cfgtab.h"

#include "buf.h"

struct ops_req;

#define OUTBOX_ID_LEN     16   /* hex characters of a row id */
#define OUTBOX_TARGET_MAX 2200 /* bytes of a target key */
#define OUTBOX_LIST_MAX   1000 /* rows in one outbox_list_failed answer */
#define OUTBOX_ERROR_MAX  256  /* bytes of last_error kept */

struct outbox_cfg {
	char *path; /* NULL: no outbox configured */
	long max_rows;
	long max_bytes;
	long max_age_s;
	long max_attempts;
	long commit_interval_ms;
	long max_batch_rows;
	long max_inflight;
	long max_inflight_per_target;
	long keep_delivered_s;
};

/* The `outbox` section (cfgtab.h): path NULL, no outbox, by default. */
extern const struct cfgtab_section outbox_cfg_section;

enum outbox_rc {
	OUTBOX_OK = 0,
	OUTBOX_ERROR = -1,     /* disk or memory failure, or closed */
	OUTBOX_EFULL = -2,     /* max_rows / max_bytes would be passed: answer 503, nothing was taken */
	OUTBOX_ENOTFOUND = -3, /* no such id */
	OUTBOX_ESTATE = -4,    /* the row is not in a state that allows this (retry of a row not failed) */
	OUTBOX_EINVAL = -5     /* a row with a missing or oversized field */
};

enum outbox_state { OUTBOX_QUEUED = 0, OUTBOX_SENDING = 1, OUTBOX_DELIVERED = 2, OUTBOX_FAILED = 3 };

/* A row to store; every pointer is borrowed for the duration of outbox_put (it copies). */
struct outbox_row {
	const char *hub;
	const char *target;       /* ordering key: "hub" or "hub/group/G", "hub/user/U", "hub/conn/C" */
	const char *method;       /* "POST" */
	const char *path;         /* canonical path + "?" + canonical query */
	const char *content_type; /* NULL: none */
	const void *body;         /* NULL with body_len 0: none */
	size_t body_len;
	const char *request_id;               /* NULL: none */
	const char *traceparent, *tracestate; /* W3C trace context to send with it; NULL: none */
};

/* A row handed out for delivery, or read back by outbox_get. Owned by the receiver: outbox_msg_free. */
struct outbox_msg {
	char id[OUTBOX_ID_LEN + 1];
	int64_t seq;
	int64_t created_ms; /* wall clock, ms since the epoch */
	char *hub, *target, *method, *path, *content_type,
	        *request_id;            /* content_type, request_id may be NULL */
	char *traceparent, *tracestate; /* NULL: none */
	char *body;                     /* NUL-terminated copy, body_len bytes */
	size_t body_len;
	enum outbox_state state;
	long attempts;
	int status;              /* last upstream status, 0 when none */
	char *last_error;        /* NULL when none */
	int64_t next_attempt_ms; /* wall clock */
	int64_t done_ms;         /* wall clock when delivered or failed, 0 otherwise */
};
void outbox_msg_free(struct outbox_msg *m); /* accepts NULL */

/* The result of one delivery round of a handed-out row. */
enum outbox_result {
	OUTBOX_RES_DELIVERED, /* 2xx: the row is done */
	OUTBOX_RES_RETRY,     /* try again after delay_ms (retryable failure, breaker open, ...) */
	OUTBOX_RES_FAILED     /* permanent failure (other 4xx, ...): dead letter now */
};
struct outbox_mark {
	enum outbox_result result;
	int status;        /* last upstream status, 0 when none */
	long attempts;     /* upstream attempts made in this round (0 when the breaker refused) */
	long delay_ms;     /* RETRY: earliest next round */
	const char *error; /* borrowed; NULL when none; kept up to OUTBOX_ERROR_MAX bytes */
};

/* Put completion: status OUTBOX_OK (every row is on disk; ids[i] is rows[i]'s id) or OUTBOX_ERROR
 * (none of them was stored). ids are borrowed for the call. */
typedef void (*outbox_put_fn)(void *arg, int status, const char *const *ids, size_t n);
/* A row to deliver; the receiver owns msg and must call outbox_mark(msg->id) exactly once. */
typedef void (*outbox_deliver_fn)(void *arg, struct outbox_msg *msg);
/* Completion of outbox_retry: OUTBOX_OK, OUTBOX_ENOTFOUND, OUTBOX_ESTATE or OUTBOX_ERROR. */
typedef void (*outbox_done_fn)(void *arg, int status);
/* Runs fn(arg) on the loop thread; 0, or -1 when it cannot (the outbox tries again a little later). */
typedef int (*outbox_post_fn)(void *post_ctx, void (*fn)(void *), void *arg);

struct outbox_open_args {
	const struct outbox_cfg *cfg; /* copied */
	outbox_post_fn post;          /* required */
	void *post_ctx;
	outbox_deliver_fn deliver; /* NULL: nothing is handed out (tests, or delivery not started) */
	void *deliver_arg;
	int64_t (*clock_ms)(void); /* wall clock in ms; NULL: CLOCK_REALTIME. For tests. */
	int defer_wake;            /* puts, marks, retries and kicks do not wake the writer thread: the
	                                 * owner calls outbox_wake once per loop iteration, before it sleeps,
	                                 * so they must all come from that loop's thread */
};

struct outbox_stats {
	uint64_t depth;                     /* queued + sending rows (including puts not yet committed) */
	uint64_t bytes;                     /* counted bytes of queued + sending + failed rows */
	uint64_t failed;                    /* dead letters */
	uint64_t inflight;                  /* rows handed out, not yet marked */
	int64_t oldest_queued_ms;           /* created_ms of the oldest queued or sending row; 0 when none */
	uint64_t commits;                   /* transactions committed */
	uint64_t fsync_commits;             /* of these, with synchronous=FULL */
	uint64_t rows_accepted;             /* rows acknowledged to put callers since open */
	uint64_t rows_delivered, rows_dead; /* since open */
	uint64_t put_refused_full;
};

struct outbox;

/* Open (creating) the database at cfg->path, requeue rows left in `sending`, start the writer thread.
 * Returns a new outbox or NULL with a message in err (the path's errors, never row contents). */
struct outbox *outbox_open(const struct outbox_open_args *a, char *err, size_t errlen);
/* Commit whatever is queued (its callbacks are posted), put rows still `sending` back to `queued`, stop
 * the thread, close. Callbacks already posted may still run on the loop after this returns: the loop
 * must run them (or be freed) before their args die. Accepts NULL. */
void outbox_close(struct outbox *ob);

/* Queue n rows (1..max_batch_rows) as one put: all of them are stored in the same transaction or none.
 * ids (may be NULL) receives their ids at once (each OUTBOX_ID_LEN + 1 bytes). done is called once, on the
 * loop thread, after the commit. Returns OUTBOX_OK, OUTBOX_EFULL, OUTBOX_EINVAL or OUTBOX_ERROR; on any
 * error nothing was taken and done will not be called. */
int outbox_put(struct outbox *ob, const struct outbox_row *rows, size_t n, char (*ids)[OUTBOX_ID_LEN + 1],
               outbox_put_fn done, void *arg);

/* With defer_wake: wake the writer thread if anything was queued since the last call (one wake-up, so
 * one transaction, for all the puts of a loop iteration). Cheap when nothing is pending. Accepts NULL. */
void outbox_wake(struct outbox *ob);

/* Settle one handed-out row. Returns OUTBOX_OK or OUTBOX_ERROR (no memory; try again). */
int outbox_mark(struct outbox *ob, const char *id, const struct outbox_mark *m);

/* Move a dead letter back to the queue (a new place at the end of its target's order, attempts 0).
 * done (may be NULL) gets the outcome on the loop thread. Returns OUTBOX_OK (done will be called) or
 * OUTBOX_ERROR. */
int outbox_retry(struct outbox *ob, const char *id, outbox_done_fn done, void *arg);

/* Synchronous reads (see the top). outbox_get: OUTBOX_OK and *out (a new row, body not loaded), or
 * OUTBOX_ENOTFOUND / OUTBOX_ERROR. */
int outbox_get(struct outbox *ob, const char *id, struct outbox_msg **out);
/* Append {"items":[...]} of the oldest `limit` (1..OUTBOX_LIST_MAX) dead letters to out. */
int outbox_list_failed(struct outbox *ob, size_t limit, struct buf *out);

/* JSON of one row for GET /outbox/{id}: {"id","state","attempts","status","lastError","createdAt",
 * "nextAttemptAt","completedAt","hub","target","method","path"} (times RFC 3339 UTC; absent ones omitted). */
int outbox_msg_json(const struct outbox_msg *m, struct buf *out);
const char *outbox_state_name(enum outbox_state s); /* "queued", "sending", "delivered", "failed" */
int outbox_state_parse(const char *s, enum outbox_state *out);

void outbox_get_stats(struct outbox *ob, struct outbox_stats *out);

/* Append the ordering key of a routed request: "<hub>/conn/<id>", "<hub>/user/<id>", "<hub>/group/<name>"
 * (the most specific entity in its path: connection, then user, then group; ids percent-encoded), or
 * "<hub>" for hub-wide operations. Returns 0 or -1. */
int outbox_target_key(const struct ops_req *r, struct buf *out);

/* 1 when a Prefer header value (RFC 7240: comma-separated preferences, each with optional "=value" and
 * ";param"s) holds respond-async (case-insensitive); 0 otherwise, also for NULL. */
int outbox_prefer_async(const char *prefer);

/* Wake the writer thread to hand out due rows now (e.g. after the breaker closed). */
void outbox_kick(struct outbox *ob);

#endif
