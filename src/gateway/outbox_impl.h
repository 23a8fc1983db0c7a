/* outbox_impl.h: what outbox.c (the API, on the loop thread), outbox_store.c (the SQLite file: schema,
 * statements, the figures) and outbox_writer.c (the writer thread) share; private to them. */
#ifndef WPS_GW_OUTBOX_IMPL_H
#define WPS_GW_OUTBOX_IMPL_H

#include <pthread.h>
#include <stdint.h>
#include <sqlite3.h>

#include "gateway/outbox.h"

#define OB_SCHEMA_VERSION  2 /* 2: traceparent and tracestate columns */
#define OB_PURGE_EVERY_MS  1000
#define OB_PURGE_CHUNK     5000
#define OB_STATS_EVERY_MS  1000
#define OB_FAIL_BACKOFF_MS 200
#define OB_INFLIGHT_LIMIT  4096
#define OB_PATH_MAX        4096

struct pending_row { /* one row of a put; strings point into the same allocation */
	char id[OUTBOX_ID_LEN + 1];
	char *hub, *target, *method, *path, *content_type, *request_id, *traceparent, *tracestate, *body;
	size_t body_len;
	size_t bytes; /* what it counts against max_bytes */
};

struct put_req {
	struct put_req *next;
	struct pending_row *rows; /* n pointers' worth: an array of structs, each with its own allocation */
	char **blocks;
	size_t n;
	size_t bytes;
	int status;
	outbox_put_fn done;
	void *arg;
};

struct mark_req {
	struct mark_req *next;
	char id[OUTBOX_ID_LEN + 1];
	struct outbox_mark m;
	char error[OUTBOX_ERROR_MAX + 1];
	int has_error;
};

struct retry_req {
	struct retry_req *next;
	char id[OUTBOX_ID_LEN + 1];
	int status;
	outbox_done_fn done;
	void *arg;
};

struct msg_item {
	struct msg_item *next;
	struct outbox_msg *msg;
};

/* What one cycle posts to the loop thread. */
struct ob_batch {
	struct put_req *puts;
	struct retry_req *retries;
	struct msg_item *msgs;
	outbox_deliver_fn deliver;
	void *deliver_arg;
};

struct target {              /* writer-thread private */
	struct target *next; /* hash chain */
	char *key;
	uint64_t pending;    /* queued + sending rows */
	long busy;           /* rows of it handed out (at most max_inflight_per_target) */
	int64_t head_due_ms; /* wall clock when its head may go; 0: now / unknown */
	int maybe_empty;     /* listed in the cycle's drop candidates */
};

struct inflight { /* changed by the writer thread under mu; read by outbox_get under mu */
	char id[OUTBOX_ID_LEN + 1];
	int64_t seq;
	int64_t created_ms;
	long attempts;
	size_t bytes;
	struct target *t;
};

struct outbox {
	struct outbox_cfg cfg;
	outbox_post_fn post;
	void *post_ctx;
	outbox_deliver_fn deliver;
	void *deliver_arg;
	int64_t (*clock_ms)(void);

	/* shared with the loop thread, under mu */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct put_req *puts, **puts_tail;
	size_t puts_rows;
	int64_t first_put_mono;
	struct mark_req *marks, **marks_tail;
	struct retry_req *retries, **retries_tail;
	int kick, stop;
	int defer_wake;                       /* set at open */
	int wake_pending;                     /* defer_wake: work queued, writer not woken (atomic) */
	uint64_t rows_counted, bytes_counted; /* queued + sending + failed + queued puts */
	uint64_t depth, failed, inflight_n;
	struct outbox_stats st; /* the rest of the figures */
	uint64_t last_id;       /* the newest row id given out (ids only grow) */

	/* writer thread */
	pthread_t thread;
	int thread_started;
	sqlite3 *db;
	sqlite3_stmt *s_insert, *s_delivered, *s_delete, *s_failed, *s_requeue, *s_head, *s_retry_get,
	        *s_retry_set, *s_purge, *s_oldest, *s_begin, *s_commit, *s_rollback;
	int sync_full; /* current PRAGMA synchronous */
	struct target **tbuckets;
	size_t tnbuckets, tcount;
	struct inflight *infl;
	size_t ninfl;
	int64_t next_due_wall; /* earliest head_due in the future, 0: none */
	int64_t next_purge_mono, next_stats_mono;

	/* reader */
	pthread_mutex_t rd_mu;
	sqlite3 *rdb;
	sqlite3_stmt *r_get, *r_failed;
};

/* outbox.c */
int64_t ob_mono_ms(void);
void ob_put_req_free(struct put_req *p); /* accepts NULL */
void ob_mark_list_free(struct mark_req *m);

/* outbox_store.c. ob_db_open runs before the thread starts; after that the write connection, the target
 * table and ob->infl belong to the writer thread. */
int ob_db_open(struct outbox *ob, char *err, size_t errlen);
void ob_db_close(struct outbox *ob);
void ob_update_oldest(struct outbox *ob);
int ob_exec(sqlite3 *db, const char *sql);
int ob_set_sync(struct outbox *ob, int full); /* PRAGMA synchronous FULL (1) or NORMAL (0) */
int ob_step_done(sqlite3_stmt *st);           /* step, reset, clear bindings: 0 when DONE */
char *ob_col_strdup(sqlite3_stmt *st, int i);
struct outbox_msg *ob_msg_from_stmt(sqlite3_stmt *st, int with_body); /* a row of OB_COLS [, body] */
int ob_recount(struct outbox *ob);      /* the shared figures from the database */
int ob_load_targets(struct outbox *ob); /* the target table from the database */
struct target *ob_target_get(struct outbox *ob, const char *key, int create);
void ob_target_maybe_drop(struct outbox *ob, struct target *t);
void ob_targets_clear(struct outbox *ob);

/* outbox_writer.c */
void *ob_thread(void *arg);

#define OB_COLS                                                                                              \
	"seq, id, created_ms, hub, target, method, path, content_type, request_id, state, attempts, "        \
	"status, last_error, next_attempt_ms, done_ms, bytes, traceparent, tracestate"

#endif
