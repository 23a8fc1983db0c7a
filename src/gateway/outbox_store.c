/* outbox_store.c: the outbox database (schema, statements, open, counts) and the writer thread's target table. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "log.h"
#include "gateway/outbox.h"
#include "gateway/outbox_impl.h"

/* ---- the target table (writer thread) ---- */

static uint64_t fnv1a(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h;
}

static int targets_grow(struct outbox *ob)
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

struct target *ob_target_get(struct outbox *ob, const char *key, int create)
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
void ob_target_maybe_drop(struct outbox *ob, struct target *t)
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

void ob_targets_clear(struct outbox *ob)
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
        " seq INTEGER PRIMARY KEY," /* order of acceptance: per-target ordering */
        " id TEXT NOT NULL UNIQUE,"
        " created_ms INTEGER NOT NULL,"
        " hub TEXT NOT NULL, target TEXT NOT NULL, method TEXT NOT NULL, path TEXT NOT NULL,"
        " content_type TEXT, body BLOB, request_id TEXT,"
        " state INTEGER NOT NULL," /* 0 queued, 1 sending, 2 delivered, 3 failed */
        " attempts INTEGER NOT NULL DEFAULT 0, status INTEGER NOT NULL DEFAULT 0, last_error TEXT,"
        " next_attempt_ms INTEGER NOT NULL DEFAULT 0, done_ms INTEGER NOT NULL DEFAULT 0,"
        " bytes INTEGER NOT NULL, traceparent TEXT, tracestate TEXT);"
        "CREATE INDEX IF NOT EXISTS outbox_target ON outbox(target, seq) WHERE state < 2;"
        "CREATE INDEX IF NOT EXISTS outbox_state ON outbox(state, seq);"
        "CREATE INDEX IF NOT EXISTS outbox_done ON outbox(done_ms) WHERE state = 2;";

static int ob_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st, char *err, size_t errlen)
{
	if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "outbox: cannot prepare a statement: %s", sqlite3_errmsg(db));
		return -1;
	}
	return 0;
}

int ob_exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		log_err("outbox: %s", msg != NULL ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

int ob_set_sync(struct outbox *ob, int full)
{
	if (ob->sync_full == full)
		return 0;
	if (ob_exec(ob->db, full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL") < 0)
		return -1;
	ob->sync_full = full;
	return 0;
}

int ob_step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

char *ob_col_strdup(sqlite3_stmt *st, int i)
{
	const unsigned char *s = sqlite3_column_text(st, i);

	return s != NULL ? strdup((const char *)s) : NULL;
}

/* A row from a SELECT of OB_COLS (and body at column 18 when with_body). */
struct outbox_msg *ob_msg_from_stmt(sqlite3_stmt *st, int with_body)
{
	struct outbox_msg *m = calloc(1, sizeof(*m));
	const unsigned char *id;

	if (m == NULL)
		return NULL;
	m->seq = sqlite3_column_int64(st, 0);
	id = sqlite3_column_text(st, 1);
	snprintf(m->id, sizeof(m->id), "%s", id != NULL ? (const char *)id : "");
	m->created_ms = sqlite3_column_int64(st, 2);
	m->hub = ob_col_strdup(st, 3);
	m->target = ob_col_strdup(st, 4);
	m->method = ob_col_strdup(st, 5);
	m->path = ob_col_strdup(st, 6);
	m->content_type = ob_col_strdup(st, 7);
	m->request_id = ob_col_strdup(st, 8);
	m->state = (enum outbox_state)sqlite3_column_int(st, 9);
	m->attempts = (long)sqlite3_column_int64(st, 10);
	m->status = sqlite3_column_int(st, 11);
	m->last_error = ob_col_strdup(st, 12);
	m->next_attempt_ms = sqlite3_column_int64(st, 13);
	m->done_ms = sqlite3_column_int64(st, 14);
	m->traceparent = ob_col_strdup(st, 16);
	m->tracestate = ob_col_strdup(st, 17);
	if (m->hub == NULL || m->target == NULL || m->method == NULL || m->path == NULL)
		goto bad;
	if (with_body) {
		const void *b = sqlite3_column_blob(st, 18);
		int n = sqlite3_column_bytes(st, 18);

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
int ob_recount(struct outbox *ob)
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
int ob_load_targets(struct outbox *ob)
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
		ob->infl[i].t->busy++;
	if (sqlite3_prepare_v2(ob->db, "SELECT target, count(*) FROM outbox WHERE state < 2 GROUP BY target",
	                       -1, &st, NULL) != SQLITE_OK)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct target *t = ob_target_get(ob, (const char *)sqlite3_column_text(st, 0), 1);

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
			ob_target_maybe_drop(ob, t);
		}
	}
	return rc == SQLITE_DONE ? 0 : -1;
}

/* Creates (private) or opens the file, in WAL mode with the schema of a new file. */
static int db_open_file(struct outbox *ob, char *err, size_t errlen)
{
	const char *path = ob->cfg.path;
	sqlite3_stmt *st = NULL;
	int fd;

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
	    sqlite3_step(st) != SQLITE_ROW || strcmp((const char *)sqlite3_column_text(st, 0), "wal") != 0) {
		sqlite3_finalize(st);
		snprintf(err, errlen, "outbox: %s: cannot switch to WAL mode: %s", path,
		         sqlite3_errmsg(ob->db));
		return -1;
	}
	sqlite3_finalize(st);
	ob->sync_full = -1;
	if (ob_set_sync(ob, 1) < 0 || ob_exec(ob->db, ob_schema) < 0) {
		snprintf(err, errlen, "outbox: %s: cannot create the schema: %s", path,
		         sqlite3_errmsg(ob->db));
		return -1;
	}
	return 0;
}

/* Brings a file of an older schema version up to OB_SCHEMA_VERSION, in place. */
static int db_migrate(struct outbox *ob, char *err, size_t errlen)
{
	const char *path = ob->cfg.path;
	sqlite3_stmt *st = NULL;
	int ver = -1;

	if (sqlite3_prepare_v2(ob->db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		ver = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	/* A new file has the whole schema. A file of version 1 (or of the versions before user_version
	 * was set) gets the trace context columns in place, its rows kept. */
	if (ver == 0 || ver == 1) {
		int has = sqlite3_prepare_v2(ob->db, "SELECT traceparent, tracestate FROM outbox LIMIT 0", -1,
		                             &st, NULL) == SQLITE_OK;
		sqlite3_finalize(st);
		st = NULL;
		if (!has && ob_exec(ob->db, "BEGIN;"
		                            "ALTER TABLE outbox ADD COLUMN traceparent TEXT;"
		                            "ALTER TABLE outbox ADD COLUMN tracestate TEXT;"
		                            "COMMIT;") < 0) {
			ob_exec(ob->db, "ROLLBACK");
			snprintf(err, errlen, "outbox: %s: cannot upgrade the schema from version %d: %s",
			         path, ver, sqlite3_errmsg(ob->db));
			return -1;
		}
		ob_exec(ob->db, "PRAGMA user_version=2");
	} else if (ver != OB_SCHEMA_VERSION) {
		snprintf(err, errlen, "outbox: %s: unknown schema version %d", path, ver);
		return -1;
	}
	return 0;
}

/* Requeues what was in flight at a crash and prepares the writer's statements. */
static int db_prepare_writer(struct outbox *ob, char *err, size_t errlen)
{
	const char *path = ob->cfg.path;

	/* At-least-once: deliveries in flight at a crash are sent again (files of versions that wrote `sending`). */
	if (ob_exec(ob->db, "UPDATE outbox SET state = 0 WHERE state = 1") < 0) {
		snprintf(err, errlen, "outbox: %s: cannot requeue: %s", path, sqlite3_errmsg(ob->db));
		return -1;
	}
	if (ob_prepare(ob->db,
	               "INSERT INTO outbox(id, created_ms, hub, target, method, path, content_type, body,"
	               " request_id, state, bytes, traceparent, tracestate)"
	               " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 0, ?10, ?11, ?12)",
	               &ob->s_insert, err, errlen) < 0 ||
	    ob_prepare(ob->db,
	               "UPDATE outbox SET state = 2, body = NULL, status = ?2, attempts = attempts + ?3,"
	               " last_error = NULL, done_ms = ?4 WHERE seq = ?1",
	               &ob->s_delivered, err, errlen) < 0 ||
	    ob_prepare(ob->db, "DELETE FROM outbox WHERE seq = ?1", &ob->s_delete, err, errlen) < 0 ||
	    ob_prepare(ob->db,
	               "UPDATE outbox SET state = 3, status = ?2, attempts = attempts + ?3,"
	               " last_error = ?4, done_ms = ?5 WHERE seq = ?1",
	               &ob->s_failed, err, errlen) < 0 ||
	    ob_prepare(ob->db,
	               "UPDATE outbox SET state = 0, status = ?2, attempts = attempts + ?3,"
	               " last_error = ?4, next_attempt_ms = ?5 WHERE seq = ?1",
	               &ob->s_requeue, err, errlen) < 0 ||
	    ob_prepare(ob->db,
	               "SELECT " OB_COLS ", body FROM outbox WHERE target = ?1 AND state < 2"
	               " ORDER BY seq LIMIT 1 OFFSET ?2",
	               &ob->s_head, err, errlen) < 0 ||
	    ob_prepare(ob->db, "SELECT seq, state, target FROM outbox WHERE id = ?1", &ob->s_retry_get, err,
	               errlen) < 0 ||
	    ob_prepare(ob->db,
	               "UPDATE outbox SET seq = (SELECT max(seq) + 1 FROM outbox), state = 0, attempts = 0,"
	               " next_attempt_ms = 0, done_ms = 0 WHERE seq = ?1",
	               &ob->s_retry_set, err, errlen) < 0 ||
	    ob_prepare(ob->db,
	               "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox WHERE state = 2"
	               " AND done_ms < ?1 LIMIT 5000)",
	               &ob->s_purge, err, errlen) < 0 ||
	    ob_prepare(ob->db,
	               "SELECT min(created_ms) FROM (SELECT created_ms FROM (SELECT created_ms FROM outbox"
	               " WHERE state = 0 ORDER BY seq LIMIT 1) UNION ALL SELECT created_ms FROM (SELECT "
	               "created_ms"
	               " FROM outbox WHERE state = 1 ORDER BY seq LIMIT 1))",
	               &ob->s_oldest, err, errlen) < 0 ||
	    ob_prepare(ob->db, "BEGIN IMMEDIATE", &ob->s_begin, err, errlen) < 0 ||
	    ob_prepare(ob->db, "COMMIT", &ob->s_commit, err, errlen) < 0 ||
	    ob_prepare(ob->db, "ROLLBACK", &ob->s_rollback, err, errlen) < 0)
		return -1;
	return 0;
}

/* Reads what the file already holds: the last id, the counts, the targets. */
static int db_read_state(struct outbox *ob, char *err, size_t errlen)
{
	const char *path = ob->cfg.path;
	sqlite3_stmt *st = NULL;

	/* New ids continue above every id in the file (all are OUTBOX_ID_LEN hex digits: text order = number order). */
	if (sqlite3_prepare_v2(ob->db, "SELECT max(id) FROM outbox", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_TEXT)
		ob->last_id = strtoull((const char *)sqlite3_column_text(st, 0), NULL, 16);
	sqlite3_finalize(st);
	if (ob_recount(ob) < 0 || ob_load_targets(ob) < 0) {
		snprintf(err, errlen, "outbox: %s: cannot read: %s", path, sqlite3_errmsg(ob->db));
		return -1;
	}
	return 0;
}

static int db_open_reader(struct outbox *ob, char *err, size_t errlen)
{
	const char *path = ob->cfg.path;

	/* The read-only connection for outbox_get / outbox_list_failed. */
	if (sqlite3_open_v2(path, &ob->rdb, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "outbox: cannot open %s for reading: %s", path,
		         ob->rdb != NULL ? sqlite3_errmsg(ob->rdb) : "out of memory");
		return -1;
	}
	sqlite3_busy_timeout(ob->rdb, 2000);
	if (ob_prepare(ob->rdb, "SELECT " OB_COLS " FROM outbox WHERE id = ?1", &ob->r_get, err, errlen) <
	            0 ||
	    ob_prepare(ob->rdb, "SELECT " OB_COLS " FROM outbox WHERE state = 3 ORDER BY seq LIMIT ?1",
	               &ob->r_failed, err, errlen) < 0)
		return -1;
	return 0;
}

int ob_db_open(struct outbox *ob, char *err, size_t errlen)
{
	if (db_open_file(ob, err, errlen) < 0 || db_migrate(ob, err, errlen) < 0 ||
	    db_prepare_writer(ob, err, errlen) < 0 || db_read_state(ob, err, errlen) < 0 ||
	    db_open_reader(ob, err, errlen) < 0)
		return -1;
	return 0;
}

void ob_db_close(struct outbox *ob)
{
	sqlite3_stmt **all[] = { &ob->s_insert,   &ob->s_delivered, &ob->s_delete,    &ob->s_failed,
		                 &ob->s_requeue,  &ob->s_head,      &ob->s_retry_get, &ob->s_retry_set,
		                 &ob->s_purge,    &ob->s_oldest,    &ob->s_begin,     &ob->s_commit,
		                 &ob->s_rollback, &ob->r_get,       &ob->r_failed };
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
