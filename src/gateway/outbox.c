/* outbox.c: durable asynchronous delivery store: SQLite (WAL) written by one thread that group-commits. */
#include <config.h>   /* autoconf; "config.h" would find src/gateway/config.h */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include "log.h"
#include "wpslimits.h"
#include "gateway/dcfg.h"
#include "gateway/outbox.h"

#define OB_SCHEMA_VERSION   1
#define OB_PURGE_EVERY_MS   1000
#define OB_PURGE_CHUNK      5000
#define OB_STATS_EVERY_MS   1000
#define OB_FAIL_BACKOFF_MS  200
#define OB_INFLIGHT_LIMIT   4096
#define OB_PATH_MAX         4096

/* ---- configuration ---- */

void
outbox_cfg_defaults(struct outbox_cfg *out)
{
	memset(out, 0, sizeof(*out));
	out->max_rows = 100000;
	out->max_bytes = 256L * 1024 * 1024;
	out->max_age_s = 86400;
	out->max_attempts = 50;
	out->commit_interval_ms = 0;
	out->max_batch_rows = 10000;
	out->max_inflight = 64;
	out->keep_delivered_s = 300;
}

int
outbox_cfg_parse(const config_setting_t *s, struct outbox_cfg *out, char *err, size_t errlen)
{
	static const char *const known[] = { "path", "max_rows", "max_bytes", "max_age_s", "max_attempts",
		"commit_interval_ms", "max_batch_rows", "max_inflight", "keep_delivered_s", NULL };

	outbox_cfg_defaults(out);
	if (s == NULL)
		return 0;
	if (dcfg_check_members(s, known, err, errlen) < 0 ||
	    dcfg_string(s, "path", OB_PATH_MAX, &out->path, err, errlen) < 0 ||
	    dcfg_long(s, "max_rows", 1, 100000000L, &out->max_rows, err, errlen) < 0 ||
	    dcfg_long(s, "max_bytes", 4096, 1L << 40, &out->max_bytes, err, errlen) < 0 ||
	    dcfg_long(s, "max_age_s", 1, 365L * 86400, &out->max_age_s, err, errlen) < 0 ||
	    dcfg_long(s, "max_attempts", 1, 1000000, &out->max_attempts, err, errlen) < 0 ||
	    dcfg_long(s, "commit_interval_ms", 0, 1000, &out->commit_interval_ms, err, errlen) < 0 ||
	    dcfg_long(s, "max_batch_rows", 1, 1000000, &out->max_batch_rows, err, errlen) < 0 ||
	    dcfg_long(s, "max_inflight", 1, OB_INFLIGHT_LIMIT, &out->max_inflight, err, errlen) < 0 ||
	    dcfg_long(s, "keep_delivered_s", 0, 7L * 86400, &out->keep_delivered_s, err, errlen) < 0)
		goto bad;
	if (out->path != NULL && out->path[0] != '/') {
		dcfg_fail(config_setting_get_member(s, "path"), err, errlen, "must be an absolute path");
		goto bad;
	}
	return 0;
bad:
	outbox_cfg_clear(out);
	return -1;
}

void
outbox_cfg_clear(struct outbox_cfg *c)
{
	if (c == NULL)
		return;
	free(c->path);
	c->path = NULL;
}

/* ---- internal structures ---- */

struct pending_row {            /* one row of a put; strings point into the same allocation */
	char    id[OUTBOX_ID_LEN + 1];
	char   *hub, *target, *method, *path, *content_type, *request_id, *body;
	size_t  body_len;
	size_t  bytes;              /* what it counts against max_bytes */
};

struct put_req {
	struct put_req     *next;
	struct pending_row *rows;   /* n pointers' worth: an array of structs, each with its own allocation */
	char              **blocks;
	size_t              n;
	size_t              bytes;
	int                 status;
	outbox_put_fn       done;
	void               *arg;
};

struct mark_req {
	struct mark_req   *next;
	char               id[OUTBOX_ID_LEN + 1];
	struct outbox_mark m;
	char               error[OUTBOX_ERROR_MAX + 1];
	int                has_error;
};

struct retry_req {
	struct retry_req *next;
	char              id[OUTBOX_ID_LEN + 1];
	int               status;
	outbox_done_fn    done;
	void             *arg;
};

struct msg_item {
	struct msg_item   *next;
	struct outbox_msg *msg;
};

/* What one cycle posts to the loop thread. */
struct ob_batch {
	struct put_req    *puts;
	struct retry_req  *retries;
	struct msg_item   *msgs;
	outbox_deliver_fn  deliver;
	void              *deliver_arg;
};

struct target {                 /* writer-thread private */
	struct target *next;        /* hash chain */
	char          *key;
	uint64_t       pending;     /* queued + sending rows */
	int            busy;        /* a row of it is handed out */
	int64_t        head_due_ms; /* wall clock when its head may go; 0: now / unknown */
	int            maybe_empty; /* listed in the cycle's drop candidates */
};

struct inflight {               /* writer-thread private */
	char           id[OUTBOX_ID_LEN + 1];
	int64_t        seq;
	int64_t        created_ms;
	long           attempts;
	size_t         bytes;
	struct target *t;
};

struct outbox {
	struct outbox_cfg cfg;
	outbox_post_fn    post;
	void             *post_ctx;
	outbox_deliver_fn deliver;
	void             *deliver_arg;
	int64_t         (*clock_ms)(void);

	/* shared with the loop thread, under mu */
	pthread_mutex_t   mu;
	pthread_cond_t    cv;
	struct put_req   *puts, **puts_tail;
	size_t            puts_rows;
	int64_t           first_put_mono;
	struct mark_req  *marks, **marks_tail;
	struct retry_req *retries, **retries_tail;
	int               kick, stop;
	uint64_t          rows_counted, bytes_counted;   /* queued + sending + failed + queued puts */
	uint64_t          depth, failed, inflight_n;
	struct outbox_stats st;                          /* the rest of the figures */
	unsigned char     rnd[256];
	size_t            rnd_left;

	/* writer thread */
	pthread_t         thread;
	int               thread_started;
	sqlite3          *db;
	sqlite3_stmt     *s_insert, *s_delivered, *s_delete, *s_failed, *s_requeue, *s_head, *s_sending,
	                 *s_retry_get, *s_retry_set, *s_purge, *s_oldest, *s_begin, *s_commit, *s_rollback;
	int               sync_full;                     /* current PRAGMA synchronous */
	struct target   **tbuckets;
	size_t            tnbuckets, tcount;
	struct inflight  *infl;
	size_t            ninfl;
	int64_t           next_due_wall;                 /* earliest head_due in the future, 0: none */
	int64_t           next_purge_mono, next_stats_mono;

	/* reader */
	pthread_mutex_t   rd_mu;
	sqlite3          *rdb;
	sqlite3_stmt     *r_get, *r_failed;
};

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t
real_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
put_req_free(struct put_req *p)
{
	size_t i;

	if (p == NULL)
		return;
	for (i = 0; i < p->n; i++)
		free(p->blocks[i]);
	free(p->blocks);
	free(p->rows);
	free(p);
}

void
outbox_msg_free(struct outbox_msg *m)
{
	if (m == NULL)
		return;
	free(m->hub);
	free(m->target);
	free(m->method);
	free(m->path);
	free(m->content_type);
	free(m->request_id);
	free(m->body);
	free(m->last_error);
	free(m);
}

const char *
outbox_state_name(enum outbox_state s)
{
	switch (s) {
	case OUTBOX_QUEUED:    return "queued";
	case OUTBOX_SENDING:   return "sending";
	case OUTBOX_DELIVERED: return "delivered";
	case OUTBOX_FAILED:    return "failed";
	}
	return "queued";
}

int
outbox_state_parse(const char *s, enum outbox_state *out)
{
	static const enum outbox_state all[] = { OUTBOX_QUEUED, OUTBOX_SENDING, OUTBOX_DELIVERED, OUTBOX_FAILED };
	size_t i;

	for (i = 0; i < 4; i++)
		if (s != NULL && strcmp(s, outbox_state_name(all[i])) == 0) {
			*out = all[i];
			return 0;
		}
	return -1;
}

/* ---- the target table (writer thread) ---- */

static uint64_t
fnv1a(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h;
}

static int
targets_grow(struct outbox *ob)
{
	size_t nb = ob->tnbuckets ? ob->tnbuckets * 2 : 256, i;
	struct target **b = calloc(nb, sizeof(*b));

	if (b == NULL)
		return -1;
	for (i = 0; i < ob->tnbuckets; i++) {
		struct target *t = ob->tbuckets[i], *next;

		for (; t != NULL; t = next) {
			next = t->next;
			t->next = b[fnv1a(t->key) & (nb - 1)];
			b[fnv1a(t->key) & (nb - 1)] = t;
		}
	}
	free(ob->tbuckets);
	ob->tbuckets = b;
	ob->tnbuckets = nb;
	return 0;
}

static struct target *
target_get(struct outbox *ob, const char *key, int create)
{
	struct target *t;
	size_t h;

	if (ob->tnbuckets == 0 && (!create || targets_grow(ob) < 0))
		return NULL;
	h = fnv1a(key) & (ob->tnbuckets - 1);
	for (t = ob->tbuckets[h]; t != NULL; t = t->next)
		if (strcmp(t->key, key) == 0)
			return t;
	if (!create)
		return NULL;
	if (ob->tcount >= ob->tnbuckets * 2) {
		if (targets_grow(ob) < 0)
			return NULL;
		h = fnv1a(key) & (ob->tnbuckets - 1);
	}
	if ((t = calloc(1, sizeof(*t))) == NULL || (t->key = strdup(key)) == NULL) {
		free(t);
		return NULL;
	}
	t->next = ob->tbuckets[h];
	ob->tbuckets[h] = t;
	ob->tcount++;
	return t;
}

/* Drop t when nothing of it is left. */
static void
target_maybe_drop(struct outbox *ob, struct target *t)
{
	struct target **pp;

	if (t->pending > 0 || t->busy)
		return;
	for (pp = &ob->tbuckets[fnv1a(t->key) & (ob->tnbuckets - 1)]; *pp != NULL; pp = &(*pp)->next)
		if (*pp == t) {
			*pp = t->next;
			free(t->key);
			free(t);
			ob->tcount--;
			return;
		}
}

static void
targets_clear(struct outbox *ob)
{
	size_t i;

	for (i = 0; i < ob->tnbuckets; i++) {
		struct target *t = ob->tbuckets[i], *next;

		for (; t != NULL; t = next) {
			next = t->next;
			free(t->key);
			free(t);
		}
	}
	free(ob->tbuckets);
	ob->tbuckets = NULL;
	ob->tnbuckets = ob->tcount = 0;
}

/* ---- SQLite ---- */

static const char ob_schema[] =
	"CREATE TABLE IF NOT EXISTS outbox("
	" seq INTEGER PRIMARY KEY,"          /* order of acceptance: per-target ordering */
	" id TEXT NOT NULL UNIQUE,"
	" created_ms INTEGER NOT NULL,"
	" hub TEXT NOT NULL, target TEXT NOT NULL, method TEXT NOT NULL, path TEXT NOT NULL,"
	" content_type TEXT, body BLOB, request_id TEXT,"
	" state INTEGER NOT NULL,"           /* 0 queued, 1 sending, 2 delivered, 3 failed */
	" attempts INTEGER NOT NULL DEFAULT 0, status INTEGER NOT NULL DEFAULT 0, last_error TEXT,"
	" next_attempt_ms INTEGER NOT NULL DEFAULT 0, done_ms INTEGER NOT NULL DEFAULT 0,"
	" bytes INTEGER NOT NULL);"
	"CREATE INDEX IF NOT EXISTS outbox_target ON outbox(target, seq) WHERE state < 2;"
	"CREATE INDEX IF NOT EXISTS outbox_state ON outbox(state, seq);"
	"CREATE INDEX IF NOT EXISTS outbox_done ON outbox(done_ms) WHERE state = 2;";

#define OB_COLS "seq, id, created_ms, hub, target, method, path, content_type, request_id, state, attempts, " \
	"status, last_error, next_attempt_ms, done_ms, bytes"

static int
ob_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st, char *err, size_t errlen)
{
	if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "outbox: cannot prepare a statement: %s", sqlite3_errmsg(db));
		return -1;
	}
	return 0;
}

static int
ob_exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		log_err("outbox: %s", msg != NULL ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

static int
ob_set_sync(struct outbox *ob, int full)
{
	if (ob->sync_full == full)
		return 0;
	if (ob_exec(ob->db, full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL") < 0)
		return -1;
	ob->sync_full = full;
	return 0;
}

static int
ob_step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static char *
col_strdup(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	return s != NULL ? strdup((const char *)s) : NULL;
}

/* A row from a SELECT of OB_COLS (and body at column 16 when with_body). */
static struct outbox_msg *
msg_from_stmt(sqlite3_stmt *st, int with_body)
{
	struct outbox_msg *m = calloc(1, sizeof(*m));
	const unsigned char *id;

	if (m == NULL)
		return NULL;
	m->seq = sqlite3_column_int64(st, 0);
	id = sqlite3_column_text(st, 1);
	snprintf(m->id, sizeof(m->id), "%s", id != NULL ? (const char *)id : "");
	m->created_ms = sqlite3_column_int64(st, 2);
	m->hub = col_strdup(st, 3);
	m->target = col_strdup(st, 4);
	m->method = col_strdup(st, 5);
	m->path = col_strdup(st, 6);
	m->content_type = col_strdup(st, 7);
	m->request_id = col_strdup(st, 8);
	m->state = (enum outbox_state)sqlite3_column_int(st, 9);
	m->attempts = (long)sqlite3_column_int64(st, 10);
	m->status = sqlite3_column_int(st, 11);
	m->last_error = col_strdup(st, 12);
	m->next_attempt_ms = sqlite3_column_int64(st, 13);
	m->done_ms = sqlite3_column_int64(st, 14);
	if (m->hub == NULL || m->target == NULL || m->method == NULL || m->path == NULL)
		goto bad;
	if (with_body) {
		const void *b = sqlite3_column_blob(st, 16);
		int n = sqlite3_column_bytes(st, 16);

		if ((m->body = malloc((size_t)n + 1)) == NULL)
			goto bad;
		if (n > 0)
			memcpy(m->body, b, (size_t)n);
		m->body[n] = '\0';
		m->body_len = (size_t)n;
	}
	return m;
bad:
	outbox_msg_free(m);
	return NULL;
}

/* Figures from the database (open, and after a failed commit). Called with mu NOT held. */
static int
ob_recount(struct outbox *ob)
{
	sqlite3_stmt *st = NULL;
	uint64_t rows = 0, bytes = 0, depth = 0, failed = 0;
	int rc;

	if (sqlite3_prepare_v2(ob->db, "SELECT state, count(*), total(bytes) FROM outbox GROUP BY state", -1,
	                       &st, NULL) != SQLITE_OK)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int state = sqlite3_column_int(st, 0);
		uint64_t n = (uint64_t)sqlite3_column_int64(st, 1);
		uint64_t b = (uint64_t)sqlite3_column_double(st, 2);

		if (state == OUTBOX_DELIVERED)
			continue;
		rows += n;
		bytes += b;
		if (state == OUTBOX_FAILED)
			failed += n;
		else
			depth += n;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return -1;
	pthread_mutex_lock(&ob->mu);
	{
		struct put_req *p;

		for (p = ob->puts; p != NULL; p = p->next) {
			rows += p->n;
			bytes += p->bytes;
			depth += p->n;
		}
	}
	ob->rows_counted = rows;
	ob->bytes_counted = bytes;
	ob->depth = depth;
	ob->failed = failed;
	pthread_mutex_unlock(&ob->mu);
	return 0;
}

/* Rebuild the target table from the rows not yet settled (open, and after a failed transaction). Entries
 * of targets with rows handed out survive, so the pointers in ob->infl stay valid. */
static int
ob_load_targets(struct outbox *ob)
{
	sqlite3_stmt *st = NULL;
	size_t i;
	int rc;

	for (i = 0; i < ob->tnbuckets; i++) {
		struct target *t;

		for (t = ob->tbuckets[i]; t != NULL; t = t->next) {
			t->pending = 0;
			t->busy = 0;
			t->head_due_ms = 0;
			t->maybe_empty = 0;
		}
	}
	for (i = 0; i < ob->ninfl; i++)
		ob->infl[i].t->busy = 1;
	if (sqlite3_prepare_v2(ob->db, "SELECT target, count(*) FROM outbox WHERE state < 2 GROUP BY target",
	                       -1, &st, NULL) != SQLITE_OK)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct target *t = target_get(ob, (const char *)sqlite3_column_text(st, 0), 1);

		if (t == NULL) {
			sqlite3_finalize(st);
			return -1;
		}
		t->pending = (uint64_t)sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	for (i = 0; i < ob->tnbuckets; i++) {
		struct target *t, *next;

		for (t = ob->tbuckets[i]; t != NULL; t = next) {
			next = t->next;
			target_maybe_drop(ob, t);
		}
	}
	return rc == SQLITE_DONE ? 0 : -1;
}

static int
ob_open_db(struct outbox *ob, char *err, size_t errlen)
{
	const char *path = ob->cfg.path;
	sqlite3_stmt *st = NULL;
	int fd, ver = -1;

	/* Create the file ourselves so that it is private (messages are the applications' data). */
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "outbox: cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	close(fd);
	if (sqlite3_open_v2(path, &ob->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "outbox: cannot open %s: %s", path,
		         ob->db != NULL ? sqlite3_errmsg(ob->db) : "out of memory");
		return -1;
	}
	sqlite3_busy_timeout(ob->db, 5000);
	if (sqlite3_prepare_v2(ob->db, "PRAGMA journal_mode=WAL", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW ||
	    strcmp((const char *)sqlite3_column_text(st, 0), "wal") != 0) {
		sqlite3_finalize(st);
		snprintf(err, errlen, "outbox: %s: cannot switch to WAL mode: %s", path, sqlite3_errmsg(ob->db));
		return -1;
	}
	sqlite3_finalize(st);
	ob->sync_full = -1;
	if (ob_set_sync(ob, 1) < 0 || ob_exec(ob->db, ob_schema) < 0) {
		snprintf(err, errlen, "outbox: %s: cannot create the schema: %s", path, sqlite3_errmsg(ob->db));
		return -1;
	}
	if (sqlite3_prepare_v2(ob->db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		ver = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	if (ver == 0)
		ob_exec(ob->db, "PRAGMA user_version=1");
	else if (ver != OB_SCHEMA_VERSION) {
		snprintf(err, errlen, "outbox: %s: unknown schema version %d", path, ver);
		return -1;
	}
	/* At-least-once: deliveries in flight at a crash are sent again. */
	if (ob_exec(ob->db, "UPDATE outbox SET state = 0 WHERE state = 1") < 0) {
		snprintf(err, errlen, "outbox: %s: cannot requeue: %s", path, sqlite3_errmsg(ob->db));
		return -1;
	}
	if (ob_prepare(ob->db, "INSERT INTO outbox(id, created_ms, hub, target, method, path, content_type, body,"
	               " request_id, state, bytes) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 0, ?10)",
	               &ob->s_insert, err, errlen) < 0 ||
	    ob_prepare(ob->db, "UPDATE outbox SET state = 2, body = NULL, status = ?2, attempts = attempts + ?3,"
	               " last_error = NULL, done_ms = ?4 WHERE seq = ?1", &ob->s_delivered, err, errlen) < 0 ||
	    ob_prepare(ob->db, "DELETE FROM outbox WHERE seq = ?1", &ob->s_delete, err, errlen) < 0 ||
	    ob_prepare(ob->db, "UPDATE outbox SET state = 3, status = ?2, attempts = attempts + ?3,"
	               " last_error = ?4, done_ms = ?5 WHERE seq = ?1", &ob->s_failed, err, errlen) < 0 ||
	    ob_prepare(ob->db, "UPDATE outbox SET state = 0, status = ?2, attempts = attempts + ?3,"
	               " last_error = ?4, next_attempt_ms = ?5 WHERE seq = ?1", &ob->s_requeue, err, errlen) < 0 ||
	    ob_prepare(ob->db, "SELECT " OB_COLS ", body FROM outbox WHERE target = ?1 AND state < 2"
	               " ORDER BY seq LIMIT 1", &ob->s_head, err, errlen) < 0 ||
	    ob_prepare(ob->db, "UPDATE outbox SET state = 1 WHERE seq = ?1", &ob->s_sending, err, errlen) < 0 ||
	    ob_prepare(ob->db, "SELECT seq, state, target FROM outbox WHERE id = ?1", &ob->s_retry_get, err,
	               errlen) < 0 ||
	    ob_prepare(ob->db, "UPDATE outbox SET seq = (SELECT max(seq) + 1 FROM outbox), state = 0, attempts = 0,"
	               " next_attempt_ms = 0, done_ms = 0 WHERE seq = ?1", &ob->s_retry_set, err, errlen) < 0 ||
	    ob_prepare(ob->db, "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox WHERE state = 2"
	               " AND done_ms < ?1 LIMIT 5000)", &ob->s_purge, err, errlen) < 0 ||
	    ob_prepare(ob->db, "SELECT min(created_ms) FROM (SELECT created_ms FROM (SELECT created_ms FROM outbox"
	               " WHERE state = 0 ORDER BY seq LIMIT 1) UNION ALL SELECT created_ms FROM (SELECT created_ms"
	               " FROM outbox WHERE state = 1 ORDER BY seq LIMIT 1))", &ob->s_oldest, err, errlen) < 0 ||
	    ob_prepare(ob->db, "BEGIN IMMEDIATE", &ob->s_begin, err, errlen) < 0 ||
	    ob_prepare(ob->db, "COMMIT", &ob->s_commit, err, errlen) < 0 ||
	    ob_prepare(ob->db, "ROLLBACK", &ob->s_rollback, err, errlen) < 0)
		return -1;
	if (ob_recount(ob) < 0 || ob_load_targets(ob) < 0) {
		snprintf(err, errlen, "outbox: %s: cannot read: %s", path, sqlite3_errmsg(ob->db));
		return -1;
	}

	/* The read-only connection for outbox_get / outbox_list_failed. */
	if (sqlite3_open_v2(path, &ob->rdb, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "outbox: cannot open %s for reading: %s", path,
		         ob->rdb != NULL ? sqlite3_errmsg(ob->rdb) : "out of memory");
		return -1;
	}
	sqlite3_busy_timeout(ob->rdb, 2000);
	if (ob_prepare(ob->rdb, "SELECT " OB_COLS " FROM outbox WHERE id = ?1", &ob->r_get, err, errlen) < 0 ||
	    ob_prepare(ob->rdb, "SELECT " OB_COLS " FROM outbox WHERE state = 3 ORDER BY seq LIMIT ?1",
	               &ob->r_failed, err, errlen) < 0)
		return -1;
	return 0;
}

static void
ob_close_db(struct outbox *ob)
{
	sqlite3_stmt **all[] = { &ob->s_insert, &ob->s_delivered, &ob->s_delete, &ob->s_failed, &ob->s_requeue,
		&ob->s_head, &ob->s_sending, &ob->s_retry_get, &ob->s_retry_set, &ob->s_purge, &ob->s_oldest,
		&ob->s_begin, &ob->s_commit, &ob->s_rollback, &ob->r_get, &ob->r_failed };
	size_t i;

	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		sqlite3_finalize(*all[i]);
		*all[i] = NULL;
	}
	if (ob->rdb != NULL)
		sqlite3_close(ob->rdb);
	if (ob->db != NULL)
		sqlite3_close(ob->db);
	ob->rdb = ob->db = NULL;
}

/* ---- one cycle of the writer thread ---- */

struct cycle {
	struct put_req   *puts;
	struct mark_req  *marks;
	struct retry_req *retries;
	struct msg_item  *msgs, **msgs_tail;
	int               stopping;
	int               scan;          /* something may have become deliverable */
	/* deltas applied to the shared figures after the commit */
	int64_t           d_rows, d_bytes, d_depth, d_failed, d_inflight;
	uint64_t          delivered, dead;
	struct inflight  *new_infl;      /* handed out by this cycle: joined to ob->infl after the commit */
	size_t            n_new_infl;
	struct target   **empties;       /* targets that may have nothing left: dropped after the commit */
	size_t            nempties, cap_empties;
};

/* Remember t for target_maybe_drop after the commit (never during: ob->infl may be restored). */
static int
cycle_maybe_empty(struct cycle *c, struct target *t)
{
	if (t->maybe_empty || t->pending > 0 || t->busy)
		return 0;
	if (c->nempties == c->cap_empties) {
		size_t ncap = c->cap_empties ? c->cap_empties * 2 : 64;
		struct target **n = realloc(c->empties, ncap * sizeof(*n));

		if (n == NULL)
			return -1;
		c->empties = n;
		c->cap_empties = ncap;
	}
	t->maybe_empty = 1;
	c->empties[c->nempties++] = t;
	return 0;
}

static struct inflight *
inflight_find(struct outbox *ob, const char *id, size_t *idx)
{
	size_t i;

	for (i = 0; i < ob->ninfl; i++)
		if (strcmp(ob->infl[i].id, id) == 0) {
			*idx = i;
			return &ob->infl[i];
		}
	return NULL;
}

static int
cycle_mark(struct outbox *ob, struct cycle *c, struct mark_req *mr, int64_t now)
{
	const struct outbox_mark *m = &mr->m;
	struct inflight *in;
	size_t idx;
	int to_dead = 0, rc;

	if ((in = inflight_find(ob, mr->id, &idx)) == NULL) {
		log_warn("outbox: mark of a row that was not handed out (ignored)");
		return 0;
	}
	if (m->result == OUTBOX_RES_RETRY) {
		long total = in->attempts + m->attempts;

		if (total >= ob->cfg.max_attempts || now - in->created_ms >= ob->cfg.max_age_s * 1000)
			to_dead = 1;
	}
	if (m->result == OUTBOX_RES_DELIVERED) {
		if (ob->cfg.keep_delivered_s == 0) {
			sqlite3_bind_int64(ob->s_delete, 1, in->seq);
			rc = ob_step_done(ob->s_delete);
		} else {
			sqlite3_bind_int64(ob->s_delivered, 1, in->seq);
			sqlite3_bind_int(ob->s_delivered, 2, m->status);
			sqlite3_bind_int64(ob->s_delivered, 3, m->attempts);
			sqlite3_bind_int64(ob->s_delivered, 4, now);
			rc = ob_step_done(ob->s_delivered);
		}
		c->d_rows--;
		c->d_bytes -= (int64_t)in->bytes;
		c->d_depth--;
		c->delivered++;
		in->t->pending--;
		in->t->head_due_ms = 0;
	} else if (m->result == OUTBOX_RES_FAILED || to_dead) {
		char why[OUTBOX_ERROR_MAX + 64];

		snprintf(why, sizeof(why), "%s%s", mr->has_error ? mr->error : "delivery failed",
		         m->result == OUTBOX_RES_FAILED ? "" :
		         in->attempts + m->attempts >= ob->cfg.max_attempts ? " (attempts exhausted)" :
		         " (maximum age reached)");
		sqlite3_bind_int64(ob->s_failed, 1, in->seq);
		sqlite3_bind_int(ob->s_failed, 2, m->status);
		sqlite3_bind_int64(ob->s_failed, 3, m->attempts);
		sqlite3_bind_text(ob->s_failed, 4, why, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(ob->s_failed, 5, now);
		rc = ob_step_done(ob->s_failed);
		c->d_depth--;
		c->d_failed++;
		c->dead++;
		in->t->pending--;
		in->t->head_due_ms = 0;
	} else {
		sqlite3_bind_int64(ob->s_requeue, 1, in->seq);
		sqlite3_bind_int(ob->s_requeue, 2, m->status);
		sqlite3_bind_int64(ob->s_requeue, 3, m->attempts);
		if (mr->has_error)
			sqlite3_bind_text(ob->s_requeue, 4, mr->error, -1, SQLITE_STATIC);
		sqlite3_bind_int64(ob->s_requeue, 5, now + (m->delay_ms > 0 ? m->delay_ms : 0));
		rc = ob_step_done(ob->s_requeue);
		in->t->head_due_ms = now + (m->delay_ms > 0 ? m->delay_ms : 0);
	}
	if (rc < 0)
		return -1;
	in->t->busy = 0;
	c->d_inflight--;
	c->scan = 1;
	if (cycle_maybe_empty(c, in->t) < 0)
		return -1;
	ob->infl[idx] = ob->infl[--ob->ninfl];
	return 0;
}

static int
cycle_put(struct outbox *ob, struct cycle *c, struct put_req *p, int64_t now)
{
	size_t i;

	for (i = 0; i < p->n; i++) {
		const struct pending_row *r = &p->rows[i];
		sqlite3_stmt *st = ob->s_insert;
		struct target *t;

		sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, now);
		sqlite3_bind_text(st, 3, r->hub, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, r->target, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, r->method, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 6, r->path, -1, SQLITE_STATIC);
		if (r->content_type != NULL)
			sqlite3_bind_text(st, 7, r->content_type, -1, SQLITE_STATIC);
		sqlite3_bind_blob(st, 8, r->body_len > 0 ? r->body : "", (int)r->body_len, SQLITE_STATIC);
		if (r->request_id != NULL)
			sqlite3_bind_text(st, 9, r->request_id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 10, (sqlite3_int64)r->bytes);
		if (ob_step_done(st) < 0)
			return -1;
		if ((t = target_get(ob, r->target, 1)) == NULL)
			return -1;
		t->pending++;
	}
	c->scan = 1;
	return 0;
}

static int
cycle_retry(struct outbox *ob, struct cycle *c, struct retry_req *rr)
{
	sqlite3_stmt *st = ob->s_retry_get;
	struct target *t;
	int64_t seq;
	int state, rc;
	char *target;

	sqlite3_bind_text(st, 1, rr->id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		sqlite3_reset(st);
		rr->status = OUTBOX_ENOTFOUND;
		return 0;
	}
	if (rc != SQLITE_ROW) {
		sqlite3_reset(st);
		return -1;
	}
	seq = sqlite3_column_int64(st, 0);
	state = sqlite3_column_int(st, 1);
	target = col_strdup(st, 2);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (target == NULL)
		return -1;
	if (state != OUTBOX_FAILED) {
		free(target);
		rr->status = OUTBOX_ESTATE;
		return 0;
	}
	sqlite3_bind_int64(ob->s_retry_set, 1, seq);
	if (ob_step_done(ob->s_retry_set) < 0 || (t = target_get(ob, target, 1)) == NULL) {
		free(target);
		return -1;
	}
	free(target);
	t->pending++;
	c->d_depth++;
	c->d_failed--;
	c->scan = 1;
	rr->status = OUTBOX_OK;
	return 0;
}

/* Hand out the head of target t when it is due. Returns 1 when one was handed out, 0 when not, -1 on error. */
static int
cycle_handout_one(struct outbox *ob, struct cycle *c, struct target *t, int64_t now)
{
	for (;;) {
		sqlite3_stmt *st = ob->s_head;
		struct outbox_msg *m;
		struct msg_item *it;
		struct inflight *in;
		int rc;
		size_t bytes;

		sqlite3_bind_text(st, 1, t->key, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		if (rc == SQLITE_DONE) {
			sqlite3_reset(st);
			t->pending = 0;       /* the table disagreed: trust the database */
			return 0;
		}
		if (rc != SQLITE_ROW) {
			sqlite3_reset(st);
			return -1;
		}
		if (sqlite3_column_int(st, 9) != OUTBOX_QUEUED) {   /* already sending: keep the order */
			sqlite3_reset(st);
			t->busy = 1;
			return 0;
		}
		if (sqlite3_column_int64(st, 13) > now) {
			t->head_due_ms = sqlite3_column_int64(st, 13);
			sqlite3_reset(st);
			return 0;
		}
		m = msg_from_stmt(st, 1);
		bytes = (size_t)sqlite3_column_int64(st, 15);
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		if (m == NULL)
			return -1;
		if (now - m->created_ms >= ob->cfg.max_age_s * 1000) {
			/* too old to send: a dead letter; try the next row of the target */
			sqlite3_bind_int64(ob->s_failed, 1, m->seq);
			sqlite3_bind_int(ob->s_failed, 2, m->status);
			sqlite3_bind_int64(ob->s_failed, 3, 0);
			sqlite3_bind_text(ob->s_failed, 4, "maximum age reached before delivery", -1, SQLITE_STATIC);
			sqlite3_bind_int64(ob->s_failed, 5, now);
			outbox_msg_free(m);
			if (ob_step_done(ob->s_failed) < 0)
				return -1;
			c->d_depth--;
			c->d_failed++;
			c->dead++;
			if (--t->pending == 0)
				return 0;
			continue;
		}
		sqlite3_bind_int64(ob->s_sending, 1, m->seq);
		if (ob_step_done(ob->s_sending) < 0 ||
		    (it = calloc(1, sizeof(*it))) == NULL) {
			outbox_msg_free(m);
			return -1;
		}
		in = realloc(c->new_infl, (c->n_new_infl + 1) * sizeof(*in));
		if (in == NULL) {
			free(it);
			outbox_msg_free(m);
			return -1;
		}
		c->new_infl = in;
		in = &c->new_infl[c->n_new_infl++];
		memcpy(in->id, m->id, sizeof(in->id));
		in->seq = m->seq;
		in->created_ms = m->created_ms;
		in->attempts = m->attempts;
		in->bytes = bytes;
		in->t = t;
		m->state = OUTBOX_SENDING;
		it->msg = m;
		*c->msgs_tail = it;
		c->msgs_tail = &it->next;
		t->busy = 1;
		t->head_due_ms = 0;
		c->d_inflight++;
		return 1;
	}
}

static int
cycle_handout(struct outbox *ob, struct cycle *c, int64_t now)
{
	size_t i, room;
	uint64_t infl;

	pthread_mutex_lock(&ob->mu);
	infl = (uint64_t)((int64_t)ob->inflight_n + c->d_inflight);   /* with this cycle's marks */
	pthread_mutex_unlock(&ob->mu);
	ob->next_due_wall = 0;     /* a mark will start the next scan */
	if (infl >= (uint64_t)ob->cfg.max_inflight)
		return 0;
	room = (size_t)((uint64_t)ob->cfg.max_inflight - infl);
	for (i = 0; i < ob->tnbuckets && room > 0; i++) {
		struct target *t, *next;

		for (t = ob->tbuckets[i]; t != NULL && room > 0; t = next) {
			int rc;

			next = t->next;
			if (t->busy || t->pending == 0)
				continue;
			if (t->head_due_ms > now) {
				if (ob->next_due_wall == 0 || t->head_due_ms < ob->next_due_wall)
					ob->next_due_wall = t->head_due_ms;
				continue;
			}
			if ((rc = cycle_handout_one(ob, c, t, now)) < 0)
				return -1;
			if (rc == 1)
				room--;
			else if (t->head_due_ms > now &&
			         (ob->next_due_wall == 0 || t->head_due_ms < ob->next_due_wall))
				ob->next_due_wall = t->head_due_ms;
			if (cycle_maybe_empty(c, t) < 0)
				return -1;
		}
	}
	return 0;
}

static void
ob_dispatch(void *arg)
{
	struct ob_batch *b = arg;

	while (b->puts != NULL) {
		struct put_req *p = b->puts;
		const char *idv[64];
		const char **ids = p->n <= 64 ? idv : malloc(p->n * sizeof(*ids));
		size_t i;

		b->puts = p->next;
		if (ids != NULL) {
			for (i = 0; i < p->n; i++)
				ids[i] = p->rows[i].id;
		}
		if (p->done != NULL)
			p->done(p->arg, ids != NULL ? p->status : OUTBOX_ERROR, ids, ids != NULL ? p->n : 0);
		if (ids != idv)
			free(ids);
		put_req_free(p);
	}
	while (b->retries != NULL) {
		struct retry_req *r = b->retries;

		b->retries = r->next;
		if (r->done != NULL)
			r->done(r->arg, r->status);
		free(r);
	}
	while (b->msgs != NULL) {
		struct msg_item *it = b->msgs;

		b->msgs = it->next;
		b->deliver(b->deliver_arg, it->msg);
		free(it);
	}
	free(b);
}

static void
ob_post_batch(struct outbox *ob, struct ob_batch *b)
{
	int tries;

	if (b->puts == NULL && b->retries == NULL && b->msgs == NULL) {
		free(b);
		return;
	}
	for (tries = 0; ob->post(ob->post_ctx, ob_dispatch, b) != 0; tries++) {
		if (tries == 1000) {
			log_err("outbox: cannot post completions to the loop; giving up on them");
			return;
		}
		usleep(10000);
	}
}

static void
mark_list_free(struct mark_req *m)
{
	while (m != NULL) {
		struct mark_req *next = m->next;

		free(m);
		m = next;
	}
}

/* Run one transaction. Returns 0, or -1 when it failed (puts reported failed, the rest queued again). */
static int
ob_cycle(struct outbox *ob, struct cycle *c)
{
	int64_t now = ob->clock_ms();
	int full = c->puts != NULL || c->retries != NULL;
	struct ob_batch *b = calloc(1, sizeof(*b));
	struct mark_req *m;
	struct put_req *p;
	struct retry_req *r;
	uint64_t accepted = 0;
	int ok = b != NULL, did_anything = c->puts || c->marks || c->retries;
	size_t saved_ninfl = ob->ninfl;
	struct inflight *saved_infl = NULL;

	c->msgs_tail = &c->msgs;
	if (ok && c->marks != NULL && ob->ninfl > 0) {
		/* marks remove entries as they go; keep a copy in case the transaction fails */
		if ((saved_infl = malloc(ob->ninfl * sizeof(*saved_infl))) == NULL)
			ok = 0;
		else
			memcpy(saved_infl, ob->infl, ob->ninfl * sizeof(*saved_infl));
	}
	if (ok && ob_set_sync(ob, full) < 0)
		ok = 0;
	if (ok && ob_step_done(ob->s_begin) < 0)
		ok = 0;
	for (m = c->marks; ok && m != NULL; m = m->next)
		if (cycle_mark(ob, c, m, now) < 0)
			ok = 0;
	for (p = c->puts; ok && p != NULL; p = p->next)
		if (cycle_put(ob, c, p, now) < 0)
			ok = 0;
	for (r = c->retries; ok && r != NULL; r = r->next)
		if (cycle_retry(ob, c, r) < 0)
			ok = 0;
	if (ok && !c->stopping && ob->deliver != NULL && (c->scan || (ob->next_due_wall != 0 &&
	    ob->next_due_wall <= now))) {
		if (cycle_handout(ob, c, now) < 0)
			ok = 0;
		else if (c->msgs != NULL)
			did_anything = 1;
	}
	if (ok && !c->stopping && ob->cfg.keep_delivered_s > 0 && mono_ms() >= ob->next_purge_mono) {
		sqlite3_bind_int64(ob->s_purge, 1, now - ob->cfg.keep_delivered_s * 1000);
		if (ob_step_done(ob->s_purge) < 0)
			ok = 0;
		else if (sqlite3_changes(ob->db) > 0)
			did_anything = 1;
		ob->next_purge_mono = mono_ms() + (sqlite3_changes(ob->db) >= OB_PURGE_CHUNK ? 0 : OB_PURGE_EVERY_MS);
	}
	if (ok && ob_step_done(ob->s_commit) < 0) {
		log_err("outbox: commit failed: %s", sqlite3_errmsg(ob->db));
		ok = 0;
	}
	if (!ok) {
		struct mark_req **tail;

		if (sqlite3_get_autocommit(ob->db) == 0)
			ob_step_done(ob->s_rollback);
		log_err("outbox: transaction failed: %s", sqlite3_errmsg(ob->db));
		/* The database is as before: restore the in-memory view of it. */
		if (saved_infl != NULL) {
			memcpy(ob->infl, saved_infl, saved_ninfl * sizeof(*saved_infl));
			ob->ninfl = saved_ninfl;
		}
		free(c->new_infl);
		c->new_infl = NULL;
		c->n_new_infl = 0;
		while (c->msgs != NULL) {
			struct msg_item *it = c->msgs;

			c->msgs = it->next;
			outbox_msg_free(it->msg);
			free(it);
		}
		for (p = c->puts; p != NULL; p = p->next)
			p->status = OUTBOX_ERROR;
		/* marks and retries go back to the front of the queues */
		pthread_mutex_lock(&ob->mu);
		if (c->marks != NULL) {
			for (tail = &c->marks; *tail != NULL; tail = &(*tail)->next)
				;
			*tail = ob->marks;
			if (ob->marks == NULL)
				ob->marks_tail = tail;
			ob->marks = c->marks;
			c->marks = NULL;
		}
		if (c->retries != NULL) {
			struct retry_req **rt;

			for (rt = &c->retries; *rt != NULL; rt = &(*rt)->next)
				;
			*rt = ob->retries;
			if (ob->retries == NULL)
				ob->retries_tail = rt;
			ob->retries = c->retries;
			c->retries = NULL;
		}
		pthread_mutex_unlock(&ob->mu);
		free(c->empties);
		c->empties = NULL;
		c->nempties = 0;
		if (ob_load_targets(ob) < 0 || ob_recount(ob) < 0)
			log_err("outbox: cannot re-read the queue: %s", sqlite3_errmsg(ob->db));
		pthread_mutex_lock(&ob->mu);
		ob->inflight_n = ob->ninfl;
		pthread_mutex_unlock(&ob->mu);
	} else {
		if (c->n_new_infl > 0) {
			struct inflight *n = realloc(ob->infl, (ob->ninfl + c->n_new_infl) * sizeof(*n));

			if (n == NULL) {
				/* cannot happen in practice: the array only grows to max_inflight entries */
				log_err("outbox: out of memory tracking deliveries");
			} else {
				ob->infl = n;
				memcpy(ob->infl + ob->ninfl, c->new_infl, c->n_new_infl * sizeof(*n));
				ob->ninfl += c->n_new_infl;
			}
		}
		free(c->new_infl);
		c->new_infl = NULL;
		{
			size_t i;

			for (i = 0; i < c->nempties; i++) {
				c->empties[i]->maybe_empty = 0;
				target_maybe_drop(ob, c->empties[i]);
			}
			free(c->empties);
			c->empties = NULL;
			c->nempties = 0;
		}
		for (p = c->puts; p != NULL; p = p->next) {
			p->status = OUTBOX_OK;
			accepted += p->n;
		}
		pthread_mutex_lock(&ob->mu);
		ob->rows_counted = (uint64_t)((int64_t)ob->rows_counted + c->d_rows);
		ob->bytes_counted = (uint64_t)((int64_t)ob->bytes_counted + c->d_bytes);
		ob->depth = (uint64_t)((int64_t)ob->depth + c->d_depth);
		ob->failed = (uint64_t)((int64_t)ob->failed + c->d_failed);
		ob->inflight_n = (uint64_t)((int64_t)ob->inflight_n + c->d_inflight);
		if (did_anything) {
			ob->st.commits++;
			if (full)
				ob->st.fsync_commits++;
		}
		ob->st.rows_accepted += accepted;
		ob->st.rows_delivered += c->delivered;
		ob->st.rows_dead += c->dead;
		pthread_mutex_unlock(&ob->mu);
	}
	free(saved_infl);
	mark_list_free(c->marks);
	c->marks = NULL;
	if (b != NULL) {
		b->puts = c->puts;
		b->retries = c->retries;
		b->msgs = c->msgs;
		b->deliver = ob->deliver;
		b->deliver_arg = ob->deliver_arg;
		ob_post_batch(ob, b);
	} else {
		/* no memory for the batch: the callers' callbacks cannot be posted */
		log_err("outbox: out of memory posting completions");
	}
	c->puts = NULL;
	c->retries = NULL;
	c->msgs = NULL;
	return ok ? 0 : -1;
}

static void
ob_update_oldest(struct outbox *ob)
{
	int64_t oldest = 0;

	if (sqlite3_step(ob->s_oldest) == SQLITE_ROW && sqlite3_column_type(ob->s_oldest, 0) != SQLITE_NULL)
		oldest = sqlite3_column_int64(ob->s_oldest, 0);
	sqlite3_reset(ob->s_oldest);
	pthread_mutex_lock(&ob->mu);
	ob->st.oldest_queued_ms = oldest;
	pthread_mutex_unlock(&ob->mu);
}

static void
timespec_after(struct timespec *ts, int64_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

static void *
ob_thread(void *arg)
{
	struct outbox *ob = arg;
	int failures = 0;

	for (;;) {
		struct cycle c;
		int64_t wait;

		memset(&c, 0, sizeof(c));
		pthread_mutex_lock(&ob->mu);
		for (;;) {
			int64_t now_mono = mono_ms(), now = ob->clock_ms();

			if (ob->stop)
				break;
			if (ob->puts != NULL) {
				int64_t until = ob->first_put_mono + ob->cfg.commit_interval_ms;

				if (ob->cfg.commit_interval_ms == 0 || now_mono >= until ||
				    ob->puts_rows >= (size_t)ob->cfg.max_batch_rows)
					break;
				wait = until - now_mono;
			} else if (ob->marks != NULL || ob->retries != NULL || ob->kick) {
				break;
			} else {
				wait = -1;
				if (ob->deliver != NULL && ob->next_due_wall != 0) {
					if (ob->next_due_wall <= now)
						break;
					wait = ob->next_due_wall - now;
				}
				if (ob->cfg.keep_delivered_s > 0) {
					int64_t p = ob->next_purge_mono - now_mono;

					if (p <= 0)
						break;
					if (wait < 0 || p < wait)
						wait = p;
				}
			}
			if (wait < 0) {
				pthread_cond_wait(&ob->cv, &ob->mu);
			} else {
				struct timespec ts;

				timespec_after(&ts, wait);
				pthread_cond_timedwait(&ob->cv, &ob->mu, &ts);
			}
		}
		/* take the work: puts up to max_batch_rows rows (at least one put), every mark and retry */
		{
			struct put_req **pp = &ob->puts;
			size_t rows = 0;

			while (*pp != NULL && (rows == 0 || rows + (*pp)->n <= (size_t)ob->cfg.max_batch_rows)) {
				rows += (*pp)->n;
				pp = &(*pp)->next;
			}
			c.puts = ob->puts;
			ob->puts = *pp;
			*pp = NULL;
			ob->puts_rows -= rows;
			if (ob->puts == NULL)
				ob->puts_tail = &ob->puts;
			else
				ob->first_put_mono = mono_ms();
		}
		c.marks = ob->marks;
		ob->marks = NULL;
		ob->marks_tail = &ob->marks;
		c.retries = ob->retries;
		ob->retries = NULL;
		ob->retries_tail = &ob->retries;
		c.scan = ob->kick;
		ob->kick = 0;
		c.stopping = ob->stop;
		pthread_mutex_unlock(&ob->mu);

		if (ob_cycle(ob, &c) < 0) {
			if (++failures > 1)
				usleep(OB_FAIL_BACKOFF_MS * 1000);
		} else {
			failures = 0;
		}
		if (mono_ms() >= ob->next_stats_mono) {
			ob_update_oldest(ob);
			ob->next_stats_mono = mono_ms() + OB_STATS_EVERY_MS;
		}
		if (c.stopping) {
			int empty;

			pthread_mutex_lock(&ob->mu);
			empty = ob->puts == NULL && ob->marks == NULL && ob->retries == NULL;
			pthread_mutex_unlock(&ob->mu);
			if (empty || failures > 10)
				break;
		}
	}
	/* leave the file consistent: nothing stays `sending` */
	ob_set_sync(ob, 1);
	if (ob_exec(ob->db, "UPDATE outbox SET state = 0 WHERE state = 1") == 0)
		ob_exec(ob->db, "PRAGMA wal_checkpoint(TRUNCATE)");
	return NULL;
}

/* ---- the public API ---- */

struct outbox *
outbox_open(const struct outbox_open_args *a, char *err, size_t errlen)
{
	struct outbox *ob;
	pthread_condattr_t ca;

	if (a == NULL || a->cfg == NULL || a->cfg->path == NULL || a->post == NULL) {
		snprintf(err, errlen, "outbox: no path configured");
		return NULL;
	}
	if ((ob = calloc(1, sizeof(*ob))) == NULL) {
		snprintf(err, errlen, "outbox: out of memory");
		return NULL;
	}
	ob->cfg = *a->cfg;
	ob->cfg.path = strdup(a->cfg->path);
	ob->post = a->post;
	ob->post_ctx = a->post_ctx;
	ob->deliver = a->deliver;
	ob->deliver_arg = a->deliver_arg;
	ob->clock_ms = a->clock_ms != NULL ? a->clock_ms : real_ms;
	ob->puts_tail = &ob->puts;
	ob->marks_tail = &ob->marks;
	ob->retries_tail = &ob->retries;
	pthread_mutex_init(&ob->mu, NULL);
	pthread_mutex_init(&ob->rd_mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ob->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (ob->cfg.path == NULL) {
		snprintf(err, errlen, "outbox: out of memory");
		goto bad;
	}
	if (ob_open_db(ob, err, errlen) < 0)
		goto bad;
	ob->kick = 1;   /* hand out what a previous run left */
	ob_update_oldest(ob);
	if (pthread_create(&ob->thread, NULL, ob_thread, ob) != 0) {
		snprintf(err, errlen, "outbox: cannot start its thread");
		goto bad;
	}
	ob->thread_started = 1;
	return ob;
bad:
	outbox_close(ob);
	return NULL;
}

void
outbox_close(struct outbox *ob)
{
	if (ob == NULL)
		return;
	if (ob->thread_started) {
		pthread_mutex_lock(&ob->mu);
		ob->stop = 1;
		pthread_cond_signal(&ob->cv);
		pthread_mutex_unlock(&ob->mu);
		pthread_join(ob->thread, NULL);
	}
	ob_close_db(ob);
	targets_clear(ob);
	free(ob->infl);
	while (ob->puts != NULL) {
		struct put_req *p = ob->puts;

		ob->puts = p->next;
		put_req_free(p);
	}
	mark_list_free(ob->marks);
	while (ob->retries != NULL) {
		struct retry_req *r = ob->retries;

		ob->retries = r->next;
		free(r);
	}
	pthread_cond_destroy(&ob->cv);
	pthread_mutex_destroy(&ob->mu);
	pthread_mutex_destroy(&ob->rd_mu);
	free(ob->cfg.path);
	free(ob);
}

/* 16 lowercase hex characters from the kernel's generator. Called with mu held. */
static int
ob_new_id(struct outbox *ob, char *out)
{
	static const char hex[] = "0123456789abcdef";
	size_t i;

	if (ob->rnd_left < OUTBOX_ID_LEN / 2) {
		if (getrandom(ob->rnd, sizeof(ob->rnd), 0) != (ssize_t)sizeof(ob->rnd))
			return -1;
		ob->rnd_left = sizeof(ob->rnd);
	}
	for (i = 0; i < OUTBOX_ID_LEN / 2; i++) {
		unsigned char b = ob->rnd[--ob->rnd_left];

		out[2 * i] = hex[b >> 4];
		out[2 * i + 1] = hex[b & 15];
	}
	out[OUTBOX_ID_LEN] = '\0';
	return 0;
}

static size_t
opt_len(const char *s)
{
	return s != NULL ? strlen(s) + 1 : 0;
}

static char *
copy_into(char **cursor, const char *s, size_t len)
{
	char *d = *cursor;

	memcpy(d, s, len);
	d[len] = '\0';
	*cursor += len + 1;
	return d;
}

int
outbox_put(struct outbox *ob, const struct outbox_row *rows, size_t n, char (*ids)[OUTBOX_ID_LEN + 1],
           outbox_put_fn done, void *arg)
{
	struct put_req *p;
	size_t i, bytes = 0;

	if (ob == NULL || rows == NULL || n == 0 || n > (size_t)ob->cfg.max_batch_rows)
		return OUTBOX_EINVAL;
	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (p->rows = calloc(n, sizeof(*p->rows))) == NULL ||
	    (p->blocks = calloc(n, sizeof(*p->blocks))) == NULL) {
		put_req_free(p);
		return OUTBOX_ERROR;
	}
	for (i = 0; i < n; i++) {
		const struct outbox_row *r = &rows[i];
		struct pending_row *pr = &p->rows[i];
		size_t lh, lt, lm, lp, need;
		char *cur;

		if (r->hub == NULL || r->target == NULL || r->method == NULL || r->path == NULL ||
		    *r->hub == '\0' || *r->target == '\0' || *r->method == '\0' || *r->path == '\0' ||
		    (r->body == NULL && r->body_len > 0) || strlen(r->target) > OUTBOX_TARGET_MAX ||
		    strlen(r->path) > WPS_URL_MAX || r->body_len > (size_t)INT32_MAX) {
			p->n = i;
			put_req_free(p);
			return OUTBOX_EINVAL;
		}
		lh = strlen(r->hub);
		lt = strlen(r->target);
		lm = strlen(r->method);
		lp = strlen(r->path);
		need = lh + lt + lm + lp + 4 + opt_len(r->content_type) + opt_len(r->request_id) + r->body_len + 1;
		if ((p->blocks[i] = malloc(need)) == NULL) {
			p->n = i;
			put_req_free(p);
			return OUTBOX_ERROR;
		}
		cur = p->blocks[i];
		pr->hub = copy_into(&cur, r->hub, lh);
		pr->target = copy_into(&cur, r->target, lt);
		pr->method = copy_into(&cur, r->method, lm);
		pr->path = copy_into(&cur, r->path, lp);
		pr->content_type = r->content_type ? copy_into(&cur, r->content_type, strlen(r->content_type)) : NULL;
		pr->request_id = r->request_id ? copy_into(&cur, r->request_id, strlen(r->request_id)) : NULL;
		pr->body = copy_into(&cur, r->body_len > 0 ? r->body : "", r->body_len);
		pr->body_len = r->body_len;
		pr->bytes = need;
		bytes += need;
	}
	p->n = n;
	p->bytes = bytes;
	p->done = done;
	p->arg = arg;

	pthread_mutex_lock(&ob->mu);
	if (ob->stop) {
		pthread_mutex_unlock(&ob->mu);
		put_req_free(p);
		return OUTBOX_ERROR;
	}
	if (ob->rows_counted + n > (uint64_t)ob->cfg.max_rows ||
	    ob->bytes_counted + bytes > (uint64_t)ob->cfg.max_bytes) {
		ob->st.put_refused_full++;
		pthread_mutex_unlock(&ob->mu);
		put_req_free(p);
		return OUTBOX_EFULL;
	}
	for (i = 0; i < n; i++)
		if (ob_new_id(ob, p->rows[i].id) < 0) {
			pthread_mutex_unlock(&ob->mu);
			put_req_free(p);
			return OUTBOX_ERROR;
		}
	if (ids != NULL)
		for (i = 0; i < n; i++)
			memcpy(ids[i], p->rows[i].id, OUTBOX_ID_LEN + 1);
	ob->rows_counted += n;
	ob->bytes_counted += bytes;
	ob->depth += n;
	if (ob->puts == NULL)
		ob->first_put_mono = mono_ms();
	*ob->puts_tail = p;
	ob->puts_tail = &p->next;
	ob->puts_rows += n;
	pthread_cond_signal(&ob->cv);
	pthread_mutex_unlock(&ob->mu);
	return OUTBOX_OK;
}

int
outbox_mark(struct outbox *ob, const char *id, const struct outbox_mark *m)
{
	struct mark_req *mr;

	if (ob == NULL || id == NULL || m == NULL || strlen(id) != OUTBOX_ID_LEN)
		return OUTBOX_EINVAL;
	if ((mr = calloc(1, sizeof(*mr))) == NULL)
		return OUTBOX_ERROR;
	memcpy(mr->id, id, OUTBOX_ID_LEN + 1);
	mr->m = *m;
	mr->m.error = NULL;
	if (m->error != NULL) {
		snprintf(mr->error, sizeof(mr->error), "%s", m->error);
		mr->has_error = 1;
	}
	pthread_mutex_lock(&ob->mu);
	*ob->marks_tail = mr;
	ob->marks_tail = &mr->next;
	pthread_cond_signal(&ob->cv);
	pthread_mutex_unlock(&ob->mu);
	return OUTBOX_OK;
}

int
outbox_retry(struct outbox *ob, const char *id, outbox_done_fn done, void *arg)
{
	struct retry_req *r;

	if (ob == NULL || id == NULL || strlen(id) != OUTBOX_ID_LEN)
		return OUTBOX_EINVAL;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return OUTBOX_ERROR;
	memcpy(r->id, id, OUTBOX_ID_LEN + 1);
	r->done = done;
	r->arg = arg;
	pthread_mutex_lock(&ob->mu);
	*ob->retries_tail = r;
	ob->retries_tail = &r->next;
	pthread_cond_signal(&ob->cv);
	pthread_mutex_unlock(&ob->mu);
	return OUTBOX_OK;
}

void
outbox_kick(struct outbox *ob)
{
	if (ob == NULL)
		return;
	pthread_mutex_lock(&ob->mu);
	ob->kick = 1;
	pthread_cond_signal(&ob->cv);
	pthread_mutex_unlock(&ob->mu);
}

int
outbox_get(struct outbox *ob, const char *id, struct outbox_msg **out)
{
	int rc, ret = OUTBOX_ERROR;

	*out = NULL;
	if (ob == NULL || id == NULL)
		return OUTBOX_EINVAL;
	pthread_mutex_lock(&ob->rd_mu);
	sqlite3_bind_text(ob->r_get, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(ob->r_get);
	if (rc == SQLITE_ROW)
		ret = (*out = msg_from_stmt(ob->r_get, 0)) != NULL ? OUTBOX_OK : OUTBOX_ERROR;
	else if (rc == SQLITE_DONE)
		ret = OUTBOX_ENOTFOUND;
	sqlite3_reset(ob->r_get);
	sqlite3_clear_bindings(ob->r_get);
	pthread_mutex_unlock(&ob->rd_mu);
	return ret;
}

static void
rfc3339(int64_t ms, char *out, size_t outlen)
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&s, &tm);
	snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
	         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

static json_t *
msg_to_json(const struct outbox_msg *m)
{
	json_t *o = json_object();
	char t[40];

	if (o == NULL)
		return NULL;
	json_object_set_new(o, "id", json_string(m->id));
	json_object_set_new(o, "state", json_string(outbox_state_name(m->state)));
	json_object_set_new(o, "attempts", json_integer(m->attempts));
	if (m->status != 0)
		json_object_set_new(o, "status", json_integer(m->status));
	if (m->last_error != NULL)
		json_object_set_new(o, "lastError", json_string(m->last_error));
	rfc3339(m->created_ms, t, sizeof(t));
	json_object_set_new(o, "createdAt", json_string(t));
	if (m->state == OUTBOX_QUEUED && m->next_attempt_ms > 0) {
		rfc3339(m->next_attempt_ms, t, sizeof(t));
		json_object_set_new(o, "nextAttemptAt", json_string(t));
	}
	if (m->done_ms > 0 && (m->state == OUTBOX_DELIVERED || m->state == OUTBOX_FAILED)) {
		rfc3339(m->done_ms, t, sizeof(t));
		json_object_set_new(o, "completedAt", json_string(t));
	}
	json_object_set_new(o, "hub", json_string(m->hub));
	json_object_set_new(o, "target", json_string(m->target));
	json_object_set_new(o, "method", json_string(m->method));
	json_object_set_new(o, "path", json_string(m->path));
	return o;
}

static int
json_append(json_t *j, struct buf *out)
{
	char *s;
	int rc;

	if (j == NULL)
		return -1;
	s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(j);
	if (s == NULL)
		return -1;
	rc = buf_puts(out, s);
	free(s);
	return rc;
}

int
outbox_msg_json(const struct outbox_msg *m, struct buf *out)
{
	return json_append(msg_to_json(m), out);
}

int
outbox_list_failed(struct outbox *ob, size_t limit, struct buf *out)
{
	json_t *root = json_object(), *items = json_array();
	int rc, ret = 0;

	if (root == NULL || items == NULL || limit == 0) {
		json_decref(root);
		json_decref(items);
		return -1;
	}
	if (limit > OUTBOX_LIST_MAX)
		limit = OUTBOX_LIST_MAX;
	json_object_set_new(root, "items", items);
	pthread_mutex_lock(&ob->rd_mu);
	sqlite3_bind_int64(ob->r_failed, 1, (sqlite3_int64)limit);
	while ((rc = sqlite3_step(ob->r_failed)) == SQLITE_ROW) {
		struct outbox_msg *m = msg_from_stmt(ob->r_failed, 0);
		json_t *j = m != NULL ? msg_to_json(m) : NULL;

		outbox_msg_free(m);
		if (j == NULL || json_array_append_new(items, j) < 0) {
			ret = -1;
			break;
		}
	}
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		ret = -1;
	sqlite3_reset(ob->r_failed);
	pthread_mutex_unlock(&ob->rd_mu);
	if (ret < 0) {
		json_decref(root);
		return -1;
	}
	return json_append(root, out);
}

void
outbox_get_stats(struct outbox *ob, struct outbox_stats *out)
{
	pthread_mutex_lock(&ob->mu);
	*out = ob->st;
	out->depth = ob->depth;
	out->bytes = ob->bytes_counted;
	out->failed = ob->failed;
	out->inflight = ob->inflight_n;
	pthread_mutex_unlock(&ob->mu);
}
