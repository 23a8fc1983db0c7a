/* outbox_writer.c: the outbox's writer thread: one transaction per cycle (group commit), hand-outs in target order. */
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

/* ---- one cycle of the writer thread ---- */

struct cycle {
	struct put_req *puts;
	struct mark_req *marks;
	struct retry_req *retries;
	struct msg_item *msgs, **msgs_tail;
	int stopping;
	int scan; /* something may have become deliverable */
	/* deltas applied to the shared figures after the commit */
	int64_t d_rows, d_bytes, d_depth, d_failed, d_inflight;
	uint64_t delivered, dead;
	struct inflight *new_infl; /* handed out by this cycle: joined to ob->infl after the commit */
	size_t n_new_infl;
	struct target **empties; /* targets that may have nothing left: dropped after the commit */
	size_t nempties, cap_empties;
};

/* Remember t for target_maybe_drop after the commit (never during: ob->infl may be restored). */
static int cycle_maybe_empty(struct cycle *c, struct target *t)
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

static struct inflight *inflight_find(struct outbox *ob, const char *id, size_t *idx)
{
	size_t i;

	for (i = 0; i < ob->ninfl; i++)
		if (strcmp(ob->infl[i].id, id) == 0) {
			*idx = i;
			return &ob->infl[i];
		}
	return NULL;
}

static int cycle_mark(struct outbox *ob, struct cycle *c, struct mark_req *mr, int64_t now)
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
		         m->result == OUTBOX_RES_FAILED                       ? ""
		         : in->attempts + m->attempts >= ob->cfg.max_attempts ? " (attempts exhausted)"
		                                                              : " (maximum age reached)");
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
		/* the head waits; with a window, the scan finds what else of it may go */
		in->t->head_due_ms =
		        ob->cfg.max_inflight_per_target > 1 ? 0 : now + (m->delay_ms > 0 ? m->delay_ms : 0);
	}
	if (rc < 0)
		return -1;
	in->t->busy--;
	c->d_inflight--;
	c->scan = 1;
	if (cycle_maybe_empty(c, in->t) < 0)
		return -1;
	pthread_mutex_lock(&ob->mu); /* outbox_get reads ob->infl */
	ob->infl[idx] = ob->infl[--ob->ninfl];
	pthread_mutex_unlock(&ob->mu);
	return 0;
}

static int cycle_put(struct outbox *ob, struct cycle *c, struct put_req *p, int64_t now)
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
		if (r->traceparent != NULL)
			sqlite3_bind_text(st, 11, r->traceparent, -1, SQLITE_STATIC);
		if (r->tracestate != NULL)
			sqlite3_bind_text(st, 12, r->tracestate, -1, SQLITE_STATIC);
		if (ob_step_done(st) < 0)
			return -1;
		if ((t = ob_target_get(ob, r->target, 1)) == NULL)
			return -1;
		t->pending++;
	}
	c->scan = 1;
	return 0;
}

static int cycle_retry(struct outbox *ob, struct cycle *c, struct retry_req *rr)
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
	target = ob_col_strdup(st, 2);
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
	if (ob_step_done(ob->s_retry_set) < 0 || (t = ob_target_get(ob, target, 1)) == NULL) {
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

/* Marks m, too old to send, a dead letter (m freed). */
static int cycle_dead_letter(struct outbox *ob, struct cycle *c, struct outbox_msg *m, int64_t now)
{
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
	return 0;
}

/* Hands m out for delivery (taken; freed on failure): 1, or -1. */
static int cycle_hand_out(struct cycle *c, struct target *t, struct outbox_msg *m, size_t bytes)
{
	struct msg_item *it;
	struct inflight *in;

	/* `sending` lives in memory only (ob->infl): in the file the row stays queued, which is also what a
	 * crash must leave (at-least-once), and the hand-out costs no write. */
	if ((it = calloc(1, sizeof(*it))) == NULL) {
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
	t->busy++;
	c->d_inflight++;
	return 1;
}

/* Is the row seq handed out (by an earlier cycle, or by this one)? */
static int cycle_row_in_flight(const struct outbox *ob, const struct cycle *c, int64_t seq)
{
	size_t i;

	for (i = 0; i < ob->ninfl; i++)
		if (ob->infl[i].seq == seq)
			return 1;
	for (i = 0; i < c->n_new_infl; i++)
		if (c->new_infl[i].seq == seq)
			return 1;
	return 0;
}

/* Hand out what is due in target t's window, its max_inflight_per_target oldest rows, while *room
 * lasts. With a window of 1 that is the head, and only when nothing of t is in flight (the caller
 * checks). When nothing more can go, t->head_due_ms is when the earliest row of the window waiting for
 * its retry delay may go. Returns 0, or -1 on error. */
static int cycle_handout_target(struct outbox *ob, struct cycle *c, struct target *t, int64_t now,
                                size_t *room)
{
	long window = ob->cfg.max_inflight_per_target;
	int64_t off = 0, due = 0; /* rows of the window passed over (in flight or not due); earliest due */

	while (*room > 0 && t->busy < window && off < window) {
		sqlite3_stmt *st = ob->s_head;
		struct outbox_msg *m;
		int64_t next;
		int rc;
		size_t bytes;

		sqlite3_bind_text(st, 1, t->key, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, off);
		rc = sqlite3_step(st);
		if (rc == SQLITE_DONE) {
			sqlite3_reset(st);
			if (off == 0)
				t->pending = 0; /* the table disagreed: trust the database */
			break;
		}
		if (rc != SQLITE_ROW) {
			sqlite3_reset(st);
			return -1;
		}
		/* in flight: state `sending` of an older file, or handed out and still queued in the file */
		if (sqlite3_column_int(st, 9) != OUTBOX_QUEUED ||
		    cycle_row_in_flight(ob, c, sqlite3_column_int64(st, 0))) {
			sqlite3_reset(st);
			if (window == 1)
				t->busy = 1; /* keep the order */
			off++;
			continue;
		}
		if ((next = sqlite3_column_int64(st, 13)) > now) {
			sqlite3_reset(st);
			if (due == 0 || next < due)
				due = next;
			off++;
			continue;
		}
		m = ob_msg_from_stmt(st, 1);
		bytes = (size_t)sqlite3_column_int64(st, 15);
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		if (m == NULL)
			return -1;
		/* too old: a dead letter, and the next row takes its place in the window */
		if (now - m->created_ms >= ob->cfg.max_age_s * 1000) {
			if (cycle_dead_letter(ob, c, m, now) < 0)
				return -1;
			if (--t->pending == 0)
				break;
			continue;
		}
		if (cycle_hand_out(c, t, m, bytes) < 0)
			return -1;
		(*room)--;
		off++;
	}
	/* out of room before the window was seen: its rows are not known to wait */
	t->head_due_ms = (*room == 0 && t->busy < window && off < window) ? 0 : due;
	return 0;
}

static int cycle_handout(struct outbox *ob, struct cycle *c, int64_t now)
{
	size_t i, room;
	uint64_t infl;

	pthread_mutex_lock(&ob->mu);
	infl = (uint64_t)((int64_t)ob->inflight_n + c->d_inflight); /* with this cycle's marks */
	pthread_mutex_unlock(&ob->mu);
	ob->next_due_wall = 0; /* a mark will start the next scan */
	if (infl >= (uint64_t)ob->cfg.max_inflight)
		return 0;
	room = (size_t)((uint64_t)ob->cfg.max_inflight - infl);
	for (i = 0; i < ob->tnbuckets && room > 0; i++) {
		struct target *t, *next;

		for (t = ob->tbuckets[i]; t != NULL && room > 0; t = next) {
			next = t->next;
			if (t->busy >= ob->cfg.max_inflight_per_target || t->pending <= (uint64_t)t->busy)
				continue;
			if (t->head_due_ms <= now && cycle_handout_target(ob, c, t, now, &room) < 0)
				return -1;
			if (t->head_due_ms > now &&
			    (ob->next_due_wall == 0 || t->head_due_ms < ob->next_due_wall))
				ob->next_due_wall = t->head_due_ms;
			if (cycle_maybe_empty(c, t) < 0)
				return -1;
		}
	}
	return 0;
}

static void ob_dispatch(void *arg)
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
		ob_put_req_free(p);
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

static void ob_post_batch(struct outbox *ob, struct ob_batch *b)
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

void ob_mark_list_free(struct mark_req *m)
{
	while (m != NULL) {
		struct mark_req *next = m->next;

		free(m);
		m = next;
	}
}

/* Run one transaction. Returns 0, or -1 when it failed (puts reported failed, the rest queued again). */
/* Run the cycle's work inside the open transaction: marks, puts, retries, the hand-out and the purge.
 * 0, or -1 when a statement failed. *did_anything is set when something changed. */
static int cycle_work(struct outbox *ob, struct cycle *c, int64_t now, int *did_anything)
{
	struct mark_req *m;
	struct put_req *p;
	struct retry_req *r;

	for (m = c->marks; m != NULL; m = m->next)
		if (cycle_mark(ob, c, m, now) < 0)
			return -1;
	for (p = c->puts; p != NULL; p = p->next)
		if (cycle_put(ob, c, p, now) < 0)
			return -1;
	for (r = c->retries; r != NULL; r = r->next)
		if (cycle_retry(ob, c, r) < 0)
			return -1;
	if (!c->stopping && ob->deliver != NULL &&
	    (c->scan || (ob->next_due_wall != 0 && ob->next_due_wall <= now))) {
		if (cycle_handout(ob, c, now) < 0)
			return -1;
		if (c->msgs != NULL)
			*did_anything = 1;
	}
	if (!c->stopping && ob->cfg.keep_delivered_s > 0 && ob_mono_ms() >= ob->next_purge_mono) {
		sqlite3_bind_int64(ob->s_purge, 1, now - ob->cfg.keep_delivered_s * 1000);
		if (ob_step_done(ob->s_purge) < 0)
			return -1;
		if (sqlite3_changes(ob->db) > 0)
			*did_anything = 1;
		ob->next_purge_mono =
		        ob_mono_ms() + (sqlite3_changes(ob->db) >= OB_PURGE_CHUNK ? 0 : OB_PURGE_EVERY_MS);
	}
	return 0;
}

/* The transaction failed and was rolled back: the database is as before, so put the in-memory view
 * back (the deliveries in flight as saved, the queue figures re-read), fail the puts, and return the
 * marks and retries to the front of their queues for the next cycle. */
static void cycle_undo(struct outbox *ob, struct cycle *c, const struct inflight *saved_infl,
                       size_t saved_ninfl)
{
	struct put_req *p;

	if (saved_infl != NULL) {
		pthread_mutex_lock(&ob->mu);
		memcpy(ob->infl, saved_infl, saved_ninfl * sizeof(*saved_infl));
		ob->ninfl = saved_ninfl;
		pthread_mutex_unlock(&ob->mu);
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
	pthread_mutex_lock(&ob->mu);
	if (c->marks != NULL) {
		struct mark_req **tail;

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
}

/* The transaction committed: take the new deliveries in flight, drop the targets that emptied, mark
 * the puts done and add the cycle's changes to the shared figures and statistics. */
static void cycle_apply(struct outbox *ob, struct cycle *c, int did_anything, int full)
{
	struct put_req *p;
	uint64_t accepted = 0;
	size_t i;

	if (c->n_new_infl > 0) {
		struct inflight *n = realloc(ob->infl, (ob->ninfl + c->n_new_infl) * sizeof(*n));

		if (n == NULL) {
			/* cannot happen in practice: the array only grows to max_inflight entries */
			log_err("outbox: out of memory tracking deliveries");
		} else {
			pthread_mutex_lock(&ob->mu);
			ob->infl = n;
			memcpy(ob->infl + ob->ninfl, c->new_infl, c->n_new_infl * sizeof(*n));
			ob->ninfl += c->n_new_infl;
			pthread_mutex_unlock(&ob->mu);
		}
	}
	free(c->new_infl);
	c->new_infl = NULL;
	for (i = 0; i < c->nempties; i++) {
		c->empties[i]->maybe_empty = 0;
		ob_target_maybe_drop(ob, c->empties[i]);
	}
	free(c->empties);
	c->empties = NULL;
	c->nempties = 0;
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

/* One writer cycle: everything queued in one transaction (fsync when it holds new rows or retries),
 * then one batch of completions posted to the loop. 0, or -1 when the transaction failed. */
static int ob_cycle(struct outbox *ob, struct cycle *c)
{
	int64_t now = ob->clock_ms();
	int full = c->puts != NULL || c->retries != NULL;
	struct ob_batch *b = calloc(1, sizeof(*b));
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
	if (ok && (ob_set_sync(ob, full) < 0 || ob_step_done(ob->s_begin) < 0 ||
	           cycle_work(ob, c, now, &did_anything) < 0))
		ok = 0;
	if (ok && ob_step_done(ob->s_commit) < 0) {
		log_err("outbox: commit failed: %s", sqlite3_errmsg(ob->db));
		ok = 0;
	}
	if (!ok) {
		if (sqlite3_get_autocommit(ob->db) == 0)
			ob_step_done(ob->s_rollback);
		log_err("outbox: transaction failed: %s", sqlite3_errmsg(ob->db));
		cycle_undo(ob, c, saved_infl, saved_ninfl);
	} else {
		cycle_apply(ob, c, did_anything, full);
	}
	free(saved_infl);
	ob_mark_list_free(c->marks);
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

void ob_update_oldest(struct outbox *ob)
{
	int64_t oldest = 0;

	if (sqlite3_step(ob->s_oldest) == SQLITE_ROW && sqlite3_column_type(ob->s_oldest, 0) != SQLITE_NULL)
		oldest = sqlite3_column_int64(ob->s_oldest, 0);
	sqlite3_reset(ob->s_oldest);
	pthread_mutex_lock(&ob->mu);
	ob->st.oldest_queued_ms = oldest;
	pthread_mutex_unlock(&ob->mu);
}

static void timespec_after(struct timespec *ts, int64_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

/* Waits, the lock held, until there is work: puts due for a commit, marks, retries, a scan, a
 * delivery due, a purge due, or the stop. */
static void thread_wait(struct outbox *ob)
{
	int64_t wait;

	for (;;) {
		int64_t now_mono = ob_mono_ms(), now = ob->clock_ms();

		if (ob->stop)
			return;
		if (ob->puts != NULL) {
			int64_t until = ob->first_put_mono + ob->cfg.commit_interval_ms;

			if (ob->cfg.commit_interval_ms == 0 || now_mono >= until ||
			    ob->puts_rows >= (size_t)ob->cfg.max_batch_rows)
				return;
			wait = until - now_mono;
		} else if (ob->marks != NULL || ob->retries != NULL || ob->kick) {
			return;
		} else {
			wait = -1;
			if (ob->deliver != NULL && ob->next_due_wall != 0) {
				if (ob->next_due_wall <= now)
					return;
				wait = ob->next_due_wall - now;
			}
			if (ob->cfg.keep_delivered_s > 0) {
				int64_t p = ob->next_purge_mono - now_mono;

				if (p <= 0)
					return;
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
}

/* Takes the work into c, the lock held: puts up to max_batch_rows rows (at least one put), every mark
 * and retry. */
static void thread_take(struct outbox *ob, struct cycle *c)
{
	struct put_req **pp = &ob->puts;
	size_t rows = 0;

	while (*pp != NULL && (rows == 0 || rows + (*pp)->n <= (size_t)ob->cfg.max_batch_rows)) {
		rows += (*pp)->n;
		pp = &(*pp)->next;
	}
	c->puts = ob->puts;
	ob->puts = *pp;
	*pp = NULL;
	ob->puts_rows -= rows;
	if (ob->puts == NULL)
		ob->puts_tail = &ob->puts;
	else
		ob->first_put_mono = ob_mono_ms();
	c->marks = ob->marks;
	ob->marks = NULL;
	ob->marks_tail = &ob->marks;
	c->retries = ob->retries;
	ob->retries = NULL;
	ob->retries_tail = &ob->retries;
	c->scan = ob->kick;
	ob->kick = 0;
	c->stopping = ob->stop;
}

void *ob_thread(void *arg)
{
	struct outbox *ob = arg;
	int failures = 0;

	for (;;) {
		struct cycle c;

		memset(&c, 0, sizeof(c));
		pthread_mutex_lock(&ob->mu);
		thread_wait(ob);
		thread_take(ob, &c);
		pthread_mutex_unlock(&ob->mu);

		if (ob_cycle(ob, &c) < 0) {
			if (++failures > 1)
				usleep(OB_FAIL_BACKOFF_MS * 1000);
		} else {
			failures = 0;
		}
		if (ob_mono_ms() >= ob->next_stats_mono) {
			ob_update_oldest(ob);
			ob->next_stats_mono = ob_mono_ms() + OB_STATS_EVERY_MS;
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
	/* rows handed out and not marked are queued in the file already: they go again at the next start */
	ob_set_sync(ob, 1);
	ob_exec(ob->db, "PRAGMA wal_checkpoint(TRUNCATE)");
	return NULL;
}
