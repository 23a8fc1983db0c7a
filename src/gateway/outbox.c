/* outbox.c: durable asynchronous delivery store: SQLite (WAL) written by one thread that group-commits. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include "log.h"
#include "ops.h"
#include "pct.h"
#include "wpslimits.h"
#include "cfgtab.h"
#include "gateway/outbox.h"
#include "gateway/outbox_impl.h"

/* ---- configuration ---- */

#define O struct outbox_cfg
static const struct cfgtab_key outbox_keys[] = {
	CFGTAB_STRING_KEY(O, path, "path", NULL, OB_PATH_MAX, CFGTAB_ABSPATH | CFGTAB_RESTART | CFGTAB_SHOWN,
	                  NULL, "\"/var/lib/wpsgate/outbox.db\"",
	                  "the SQLite file; without it there is no outbox"),
	CFGTAB_INT_KEY(O, max_rows, "max_rows", 100000, 1, 100000000L, CFGTAB_RESTART,
	               "queued + sending + failed rows; past it: 503 OutboxFull"),
	CFGTAB_INT_KEY(O, max_bytes, "max_bytes", 256L * 1024 * 1024, 4096, 1L << 40, CFGTAB_RESTART,
	               "their bytes"),
	CFGTAB_INT_KEY(O, max_age_s, "max_age_s", 86400, 1, 365L * 86400, CFGTAB_RESTART,
	               "older rows become dead letters"),
	CFGTAB_INT_KEY(O, max_attempts, "max_attempts", 50, 1, 1000000, CFGTAB_RESTART,
	               "upstream attempts over a row's life, then a dead letter"),
	CFGTAB_INT_KEY(O, commit_interval_ms, "commit_interval_ms", 0, 0, 1000, CFGTAB_RESTART,
	               "extra wait to group more requests into one commit"),
	CFGTAB_INT_KEY(O, max_batch_rows, "max_batch_rows", 10000, 1, 1000000, CFGTAB_RESTART,
	               "rows in one transaction"),
	CFGTAB_INT_KEY(O, max_inflight, "max_inflight", 64, 1, OB_INFLIGHT_LIMIT, CFGTAB_RESTART,
	               "rows being delivered at once, over all targets"),
	CFGTAB_INT_KEY(O, max_inflight_per_target, "max_inflight_per_target", 1, 1, OB_INFLIGHT_LIMIT,
	               CFGTAB_RESTART,
	               "rows of one target in flight at once; 1 keeps its order, more drains it faster"),
	CFGTAB_INT_KEY(O, keep_delivered_s, "keep_delivered_s", 300, 0, 7L * 86400, CFGTAB_RESTART,
	               "delivered rows stay visible in GET /outbox/{id}"),
};
#undef O

const struct cfgtab_section outbox_cfg_section = CFGTAB_SECTION(
        "outbox", struct outbox_cfg, outbox_keys, NULL,
        "Durable asynchronous delivery: a request that changes something and carries `Prefer: "
        "respond-async`\n"
        "is stored (SQLite, WAL, fsync) and answered 202 with Location: /outbox/{id}. Without `path` there "
        "is\n"
        "no outbox and the preference is ignored. At-least-once: a message in flight at a crash may arrive\n"
        "twice. Dead letters: GET /outbox?state=failed, POST /outbox/{id}/retry. (Under systemd:\n"
        "StateDirectory.) Restart to change any of these.");

int64_t ob_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t real_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ob_put_req_free(struct put_req *p)
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

void outbox_msg_free(struct outbox_msg *m)
{
	if (m == NULL)
		return;
	free(m->hub);
	free(m->target);
	free(m->method);
	free(m->path);
	free(m->content_type);
	free(m->request_id);
	free(m->traceparent);
	free(m->tracestate);
	free(m->body);
	free(m->last_error);
	free(m);
}

const char *outbox_state_name(enum outbox_state s)
{
	switch (s) {
	case OUTBOX_QUEUED: return "queued";
	case OUTBOX_SENDING: return "sending";
	case OUTBOX_DELIVERED: return "delivered";
	case OUTBOX_FAILED: return "failed";
	}
	return "queued";
}

int outbox_state_parse(const char *s, enum outbox_state *out)
{
	static const enum outbox_state all[] = { OUTBOX_QUEUED, OUTBOX_SENDING, OUTBOX_DELIVERED,
		                                 OUTBOX_FAILED };
	size_t i;

	for (i = 0; i < 4; i++)
		if (s != NULL && strcmp(s, outbox_state_name(all[i])) == 0) {
			*out = all[i];
			return 0;
		}
	return -1;
}

/* ---- the public API ---- */

struct outbox *outbox_open(const struct outbox_open_args *a, char *err, size_t errlen)
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
	ob->defer_wake = a->defer_wake != 0;
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
	if (ob_db_open(ob, err, errlen) < 0)
		goto bad;
	ob->kick = 1; /* hand out what a previous run left */
	ob_update_oldest(ob);
	if (pthread_create(&ob->thread, NULL, ob_thread, ob) != 0) {
		snprintf(err, errlen, "outbox: cannot start its thread");
		goto bad;
	}
	ob->thread_started = 1;
	pthread_setname_np(ob->thread, "wpsgated-outbox"); /* for top -H, perf, /proc/PID/task/TID/comm */
	return ob;
bad:
	outbox_close(ob);
	return NULL;
}

void outbox_close(struct outbox *ob)
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
	ob_db_close(ob);
	ob_targets_clear(ob);
	free(ob->infl);
	while (ob->puts != NULL) {
		struct put_req *p = ob->puts;

		ob->puts = p->next;
		ob_put_req_free(p);
	}
	ob_mark_list_free(ob->marks);
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

/* 16 lowercase hex characters: (milliseconds since the epoch << 20) or, if that is not larger, the previous id + 1.
 * Ids grow in acceptance order, so each insert lands at the right edge of the id index (one page per commit,
 * where random ids dirtied one index page per row), and stay unique across restarts because last_id starts
 * from the largest id in the file. Called with mu held. */
static int ob_new_id(struct outbox *ob, char *out)
{
	static const char hex[] = "0123456789abcdef";
	int64_t ms = ob->clock_ms();
	uint64_t v = ms > 0 ? (uint64_t)ms << 20 : 0;
	int i;

	if (v <= ob->last_id) {
		if (ob->last_id == UINT64_MAX)
			return -1;
		v = ob->last_id + 1;
	}
	ob->last_id = v;
	for (i = OUTBOX_ID_LEN - 1; i >= 0; i--, v >>= 4)
		out[i] = hex[v & 15];
	out[OUTBOX_ID_LEN] = '\0';
	return 0;
}

/* Work was queued (mu held): wake the writer now, or at the owner's next outbox_wake. */
static void ob_wake_locked(struct outbox *ob)
{
	if (ob->defer_wake)
		__atomic_store_n(&ob->wake_pending, 1, __ATOMIC_RELEASE);
	else
		pthread_cond_signal(&ob->cv);
}

void outbox_wake(struct outbox *ob)
{
	if (ob == NULL || !__atomic_load_n(&ob->wake_pending, __ATOMIC_ACQUIRE))
		return;
	pthread_mutex_lock(&ob->mu);
	__atomic_store_n(&ob->wake_pending, 0, __ATOMIC_RELAXED);
	pthread_cond_signal(&ob->cv);
	pthread_mutex_unlock(&ob->mu);
}

static size_t opt_len(const char *s)
{
	return s != NULL ? strlen(s) + 1 : 0;
}

static char *copy_into(char **cursor, const char *s, size_t len)
{
	char *d = *cursor;

	memcpy(d, s, len);
	d[len] = '\0';
	*cursor += len + 1;
	return d;
}

/* Checks row r and copies it into one block (*block) that pr points into. */
static int put_row_copy(const struct outbox_row *r, struct pending_row *pr, char **block)
{
	size_t lh, lt, lm, lp, need;
	char *cur;

	if (r->hub == NULL || r->target == NULL || r->method == NULL || r->path == NULL || *r->hub == '\0' ||
	    *r->target == '\0' || *r->method == '\0' || *r->path == '\0' ||
	    (r->body == NULL && r->body_len > 0) || strlen(r->target) > OUTBOX_TARGET_MAX ||
	    strlen(r->path) > WPS_URL_MAX || r->body_len > (size_t)INT32_MAX)
		return OUTBOX_EINVAL;
	lh = strlen(r->hub);
	lt = strlen(r->target);
	lm = strlen(r->method);
	lp = strlen(r->path);
	need = lh + lt + lm + lp + 4 + opt_len(r->content_type) + opt_len(r->request_id) +
	       opt_len(r->traceparent) + opt_len(r->tracestate) + r->body_len + 1;
	if ((*block = malloc(need)) == NULL)
		return OUTBOX_ERROR;
	cur = *block;
	pr->hub = copy_into(&cur, r->hub, lh);
	pr->target = copy_into(&cur, r->target, lt);
	pr->method = copy_into(&cur, r->method, lm);
	pr->path = copy_into(&cur, r->path, lp);
	pr->content_type = r->content_type ? copy_into(&cur, r->content_type, strlen(r->content_type)) : NULL;
	pr->request_id = r->request_id ? copy_into(&cur, r->request_id, strlen(r->request_id)) : NULL;
	pr->traceparent = r->traceparent ? copy_into(&cur, r->traceparent, strlen(r->traceparent)) : NULL;
	pr->tracestate = r->tracestate ? copy_into(&cur, r->tracestate, strlen(r->tracestate)) : NULL;
	pr->body = copy_into(&cur, r->body_len > 0 ? r->body : "", r->body_len);
	pr->body_len = r->body_len;
	pr->bytes = need;
	return OUTBOX_OK;
}

/* Counts the put in, gives its rows their ids and queues it for the writer; the lock held. */
static int put_queue_locked(struct outbox *ob, struct put_req *p, char (*ids)[OUTBOX_ID_LEN + 1])
{
	size_t i, n = p->n;

	if (ob->stop)
		return OUTBOX_ERROR;
	if (ob->rows_counted + n > (uint64_t)ob->cfg.max_rows ||
	    ob->bytes_counted + p->bytes > (uint64_t)ob->cfg.max_bytes) {
		ob->st.put_refused_full++;
		return OUTBOX_EFULL;
	}
	for (i = 0; i < n; i++)
		if (ob_new_id(ob, p->rows[i].id) < 0)
			return OUTBOX_ERROR;
	if (ids != NULL)
		for (i = 0; i < n; i++)
			memcpy(ids[i], p->rows[i].id, OUTBOX_ID_LEN + 1);
	ob->rows_counted += n;
	ob->bytes_counted += p->bytes;
	ob->depth += n;
	if (ob->puts == NULL)
		ob->first_put_mono = ob_mono_ms();
	*ob->puts_tail = p;
	ob->puts_tail = &p->next;
	ob->puts_rows += n;
	ob_wake_locked(ob);
	return OUTBOX_OK;
}

int outbox_put(struct outbox *ob, const struct outbox_row *rows, size_t n, char (*ids)[OUTBOX_ID_LEN + 1],
               outbox_put_fn done, void *arg)
{
	struct put_req *p;
	size_t i, bytes = 0;
	int rc;

	if (ob == NULL || rows == NULL || n == 0 || n > (size_t)ob->cfg.max_batch_rows)
		return OUTBOX_EINVAL;
	if ((p = calloc(1, sizeof(*p))) == NULL || (p->rows = calloc(n, sizeof(*p->rows))) == NULL ||
	    (p->blocks = calloc(n, sizeof(*p->blocks))) == NULL) {
		ob_put_req_free(p);
		return OUTBOX_ERROR;
	}
	for (i = 0; i < n; i++) {
		if ((rc = put_row_copy(&rows[i], &p->rows[i], &p->blocks[i])) != OUTBOX_OK) {
			p->n = i;
			ob_put_req_free(p);
			return rc;
		}
		bytes += p->rows[i].bytes;
	}
	p->n = n;
	p->bytes = bytes;
	p->done = done;
	p->arg = arg;

	pthread_mutex_lock(&ob->mu);
	rc = put_queue_locked(ob, p, ids);
	pthread_mutex_unlock(&ob->mu);
	if (rc != OUTBOX_OK)
		ob_put_req_free(p);
	return rc;
}

int outbox_mark(struct outbox *ob, const char *id, const struct outbox_mark *m)
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
	ob_wake_locked(ob);
	pthread_mutex_unlock(&ob->mu);
	return OUTBOX_OK;
}

int outbox_retry(struct outbox *ob, const char *id, outbox_done_fn done, void *arg)
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
	ob_wake_locked(ob);
	pthread_mutex_unlock(&ob->mu);
	return OUTBOX_OK;
}

void outbox_kick(struct outbox *ob)
{
	if (ob == NULL)
		return;
	pthread_mutex_lock(&ob->mu);
	ob->kick = 1;
	ob_wake_locked(ob);
	pthread_mutex_unlock(&ob->mu);
}

int outbox_get(struct outbox *ob, const char *id, struct outbox_msg **out)
{
	int rc, ret = OUTBOX_ERROR;

	*out = NULL;
	if (ob == NULL || id == NULL)
		return OUTBOX_EINVAL;
	pthread_mutex_lock(&ob->rd_mu);
	sqlite3_bind_text(ob->r_get, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(ob->r_get);
	if (rc == SQLITE_ROW)
		ret = (*out = ob_msg_from_stmt(ob->r_get, 0)) != NULL ? OUTBOX_OK : OUTBOX_ERROR;
	else if (rc == SQLITE_DONE)
		ret = OUTBOX_ENOTFOUND;
	sqlite3_reset(ob->r_get);
	sqlite3_clear_bindings(ob->r_get);
	pthread_mutex_unlock(&ob->rd_mu);
	if (ret == OUTBOX_OK && (*out)->state == OUTBOX_QUEUED) {
		size_t i;

		/* handed out for delivery: `sending` is kept in memory, not written */
		pthread_mutex_lock(&ob->mu);
		for (i = 0; i < ob->ninfl; i++)
			if (strcmp(ob->infl[i].id, id) == 0) {
				(*out)->state = OUTBOX_SENDING;
				break;
			}
		pthread_mutex_unlock(&ob->mu);
	}
	return ret;
}

static void rfc3339(int64_t ms, char *out, size_t outlen)
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;

	char date[32];

	if (gmtime_r(&s, &tm) == NULL || strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
		date[0] = '\0';
	snprintf(out, outlen, "%s.%03dZ", date, (int)(ms % 1000));
}

static json_t *msg_to_json(const struct outbox_msg *m)
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

int outbox_msg_json(const struct outbox_msg *m, struct buf *out)
{
	return buf_put_json(out, msg_to_json(m));
}

int outbox_list_failed(struct outbox *ob, size_t limit, struct buf *out)
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
		struct outbox_msg *m = ob_msg_from_stmt(ob->r_failed, 0);
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
	return buf_put_json(out, root);
}

void outbox_get_stats(struct outbox *ob, struct outbox_stats *out)
{
	pthread_mutex_lock(&ob->mu);
	*out = ob->st;
	out->depth = ob->depth;
	out->bytes = ob->bytes_counted;
	out->failed = ob->failed;
	out->inflight = ob->inflight_n;
	pthread_mutex_unlock(&ob->mu);
}

int outbox_target_key(const struct ops_req *r, struct buf *out)
{
	const char *kind = NULL, *v = NULL;

	if (r->hub == NULL || buf_puts(out, r->hub) < 0)
		return -1;
	if (r->connection != NULL) {
		kind = "/conn/";
		v = r->connection;
	} else if (r->user != NULL) {
		kind = "/user/";
		v = r->user;
	} else if (r->group != NULL) {
		kind = "/group/";
		v = r->group;
	}
	if (kind == NULL)
		return 0;
	return buf_puts(out, kind) < 0 || pct_encode(out, v, strlen(v)) < 0 ? -1 : 0;
}

int outbox_prefer_async(const char *p)
{
	static const char tok[] = "respond-async";

	while (p != NULL && *p != '\0') {
		const char *start, *end;

		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		start = p;
		while (*p != '\0' && *p != ',' && *p != ';' && *p != '=' && *p != ' ' && *p != '\t')
			p++;
		end = p;
		if ((size_t)(end - start) == sizeof(tok) - 1 && strncasecmp(start, tok, sizeof(tok) - 1) == 0)
			return 1;
		/* skip the rest of this preference (its value and parameters; quoted strings may hold commas) */
		while (*p != '\0' && *p != ',') {
			if (*p == '"') {
				for (p++; *p != '\0' && *p != '"'; p++)
					if (*p == '\\' && p[1] != '\0')
						p++;
				if (*p == '"')
					p++;
			} else {
				p++;
			}
		}
	}
	return 0;
}
