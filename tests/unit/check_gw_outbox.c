/* check_gw_outbox.c: unit tests for the durable outbox (src/gateway/outbox.c): commit, reload, kill -9, order, bounds. */
#include <config.h>

#include <check.h>

#include "check_cfg.h"
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libconfig.h>
#include <sqlite3.h>

#include "buf.h"
#include "ops.h"
#include "gateway/outbox.h"
#include "check_main.h"

/* ---- a tiny stand-in for the event loop: posted callbacks run on the test thread in pump() ---- */

struct posted {
	struct posted *next;
	void (*fn)(void *);
	void *arg;
};

static pthread_mutex_t q_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_cv = PTHREAD_COND_INITIALIZER;
static struct posted *q_head, **q_tail = &q_head;

static int test_post(void *ctx, void (*fn)(void *), void *arg)
{
	struct posted *p = malloc(sizeof(*p));

	(void)ctx;
	if (p == NULL)
		return -1;
	p->fn = fn;
	p->arg = arg;
	p->next = NULL;
	pthread_mutex_lock(&q_mu);
	*q_tail = p;
	q_tail = &p->next;
	pthread_cond_signal(&q_cv);
	pthread_mutex_unlock(&q_mu);
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Run posted callbacks until *flag >= want or timeout_ms passes. Returns 1 when reached. */
static int pump_until(const long *flag, long want, long timeout_ms)
{
	int64_t end = now_ms() + timeout_ms;

	for (;;) {
		struct posted *p;

		if (flag != NULL && *flag >= want)
			return 1;
		pthread_mutex_lock(&q_mu);
		while (q_head == NULL) {
			struct timespec ts;

			if (now_ms() >= end) {
				pthread_mutex_unlock(&q_mu);
				return flag == NULL;
			}
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 5 * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&q_cv, &q_mu, &ts);
		}
		p = q_head;
		q_head = p->next;
		if (q_head == NULL)
			q_tail = &q_head;
		pthread_mutex_unlock(&q_mu);
		p->fn(p->arg);
		free(p);
	}
}

/* Run whatever arrives during ms. */
static void pump_for(long ms)
{
	pump_until(NULL, 0, ms);
}

/* ---- fixture ---- */

static char dir[64];
static char dbpath[128];
static struct outbox_cfg cfg;
static struct outbox *ob;
static int64_t fake_clock; /* 0: real time */

#define MAX_DELIVERED 256
static struct outbox_msg *delivered[MAX_DELIVERED];
static long ndelivered;
static long acks, ack_status_sum;
static char last_ids[16][OUTBOX_ID_LEN + 1];

static int64_t test_clock(void)
{
	int64_t f = __atomic_load_n(&fake_clock, __ATOMIC_RELAXED);
	struct timespec ts;

	if (f != 0)
		return f;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_deliver(void *arg, struct outbox_msg *m)
{
	(void)arg;
	if (ndelivered < MAX_DELIVERED)
		delivered[ndelivered] = m;
	else
		outbox_msg_free(m);
	ndelivered++;
}

static void on_put(void *arg, int status, const char *const *ids, size_t n)
{
	size_t i;

	(void)arg;
	acks++;
	ack_status_sum += status;
	for (i = 0; i < n && i < 16; i++)
		snprintf(last_ids[i], sizeof(last_ids[i]), "%s", ids[i]);
}

static struct outbox *open_ob(int with_deliver)
{
	struct outbox_open_args a;
	char err[256] = "";
	struct outbox *o;

	memset(&a, 0, sizeof(a));
	a.cfg = &cfg;
	a.post = test_post;
	a.deliver = with_deliver ? on_deliver : NULL;
	a.clock_ms = test_clock;
	o = outbox_open(&a, err, sizeof(err));
	ck_assert_msg(o != NULL, "open: %s", err);
	return o;
}

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/check_outbox.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(dbpath, sizeof(dbpath), "%s/outbox.db", dir);
	cfgtab_defaults(&outbox_cfg_section, &cfg);
	cfg.path = strdup(dbpath);
	ob = NULL;
	fake_clock = 0;
	ndelivered = 0;
	acks = 0;
	ack_status_sum = 0;
}

static void teardown(void)
{
	char cmd[160];
	long i;

	outbox_close(ob);
	pump_for(0);
	for (i = 0; i < ndelivered && i < MAX_DELIVERED; i++)
		outbox_msg_free(delivered[i]);
	cfgtab_clear(&outbox_cfg_section, &cfg);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

static struct outbox_row row(const char *target, const char *body)
{
	struct outbox_row r;

	memset(&r, 0, sizeof(r));
	r.hub = "chat";
	r.target = target;
	r.method = "POST";
	r.path = "/api/hubs/chat/:send?api-version=2024-12-01";
	r.content_type = "text/plain";
	r.body = body;
	r.body_len = strlen(body);
	r.request_id = "req-1";
	return r;
}

static void mark(const char *id, enum outbox_result res, int status, long attempts, long delay,
                 const char *error)
{
	struct outbox_mark m;

	memset(&m, 0, sizeof(m));
	m.result = res;
	m.status = status;
	m.attempts = attempts;
	m.delay_ms = delay;
	m.error = error;
	ck_assert_int_eq(outbox_mark(ob, id, &m), OUTBOX_OK);
}

static enum outbox_state state_of(const char *id)
{
	struct outbox_msg *m;
	enum outbox_state s;

	ck_assert_int_eq(outbox_get(ob, id, &m), OUTBOX_OK);
	s = m->state;
	outbox_msg_free(m);
	return s;
}

/* ---- tests ---- */

START_TEST(test_put_commit_reload)
{
	struct outbox_row rows[2];
	char ids[2][OUTBOX_ID_LEN + 1], id3[1][OUTBOX_ID_LEN + 1];
	struct outbox_stats st;
	struct outbox_msg *m;
	static const char bin[] = { 'a', 0, 'b' };

	ob = open_ob(0);
	rows[0] = row("chat", "hello");
	rows[1] = row("chat/group/g1", "{\"x\":1}");
	rows[1].content_type = "application/json";
	rows[1].request_id = NULL;
	ck_assert_int_eq(outbox_put(ob, rows, 2, ids, on_put, NULL), OUTBOX_OK);
	rows[0] = row("chat/user/u", "");
	rows[0].body = bin;
	rows[0].body_len = sizeof(bin);
	rows[0].content_type = NULL;
	ck_assert_int_eq(outbox_put(ob, rows, 1, id3, on_put, NULL), OUTBOX_OK);
	ck_assert_uint_eq(strlen(ids[0]), OUTBOX_ID_LEN);
	ck_assert_str_ne(ids[0], ids[1]);
	ck_assert(pump_until(&acks, 2, 5000));
	ck_assert_int_eq(ack_status_sum, OUTBOX_OK);
	ck_assert_str_eq(last_ids[0], id3[0]);

	outbox_get_stats(ob, &st);
	ck_assert_uint_eq(st.depth, 3);
	ck_assert_uint_eq(st.rows_accepted, 3);
	ck_assert_uint_eq(st.failed, 0);
	outbox_close(ob);
	pump_for(0);

	ob = open_ob(0);
	ck_assert_int_eq(outbox_get(ob, ids[0], &m), OUTBOX_OK);
	ck_assert_str_eq(m->id, ids[0]);
	ck_assert_int_eq(m->state, OUTBOX_QUEUED);
	ck_assert_str_eq(m->hub, "chat");
	ck_assert_str_eq(m->target, "chat");
	ck_assert_str_eq(m->method, "POST");
	ck_assert_str_eq(m->path, "/api/hubs/chat/:send?api-version=2024-12-01");
	ck_assert_str_eq(m->content_type, "text/plain");
	ck_assert_str_eq(m->request_id, "req-1");
	ck_assert_int_eq(m->attempts, 0);
	ck_assert_ptr_null(m->last_error);
	ck_assert(m->created_ms > 1600000000000LL);
	outbox_msg_free(m);
	ck_assert_int_eq(outbox_get(ob, ids[1], &m), OUTBOX_OK);
	ck_assert_str_eq(m->content_type, "application/json");
	ck_assert_ptr_null(m->request_id);
	ck_assert_str_eq(m->target, "chat/group/g1");
	outbox_msg_free(m);
	ck_assert_int_eq(outbox_get(ob, "0123456789abcdef", &m), OUTBOX_ENOTFOUND);
	ck_assert_ptr_null(m);
	outbox_get_stats(ob, &st);
	ck_assert_uint_eq(st.depth, 3);
	ck_assert(st.oldest_queued_ms > 1600000000000LL);
	ck_assert_uint_eq(st.bytes > 0, 1);
}
END_TEST

/* Ids grow in acceptance order (time-based, so inserts land at the right edge of the id index) and keep
 * growing across a reopen even when the clock has gone back. */
START_TEST(test_ids_ordered)
{
	struct outbox_row rows[3];
	char a[3][OUTBOX_ID_LEN + 1], b[1][OUTBOX_ID_LEN + 1], c[1][OUTBOX_ID_LEN + 1];
	int i;

	__atomic_store_n(&fake_clock, (int64_t)1800000000000LL, __ATOMIC_RELAXED);
	ob = open_ob(0);
	for (i = 0; i < 3; i++)
		rows[i] = row("chat", "x");
	ck_assert_int_eq(outbox_put(ob, rows, 3, a, on_put, NULL), OUTBOX_OK);
	ck_assert_str_eq(a[0], "1a3185c500000000"); /* 1800000000000 << 20 */
	ck_assert_str_eq(a[1], "1a3185c500000001"); /* same millisecond: the previous id + 1 */
	ck_assert_str_eq(a[2], "1a3185c500000002");
	__atomic_store_n(&fake_clock, (int64_t)1800000000001LL, __ATOMIC_RELAXED);
	ck_assert_int_eq(outbox_put(ob, rows, 1, b, on_put, NULL), OUTBOX_OK);
	ck_assert_str_eq(b[0], "1a3185c500100000");
	ck_assert(pump_until(&acks, 2, 5000));
	outbox_close(ob);
	pump_for(0);
	/* the clock went back an hour: new ids still follow the largest one in the file */
	__atomic_store_n(&fake_clock, (int64_t)1800000000001LL - 3600000, __ATOMIC_RELAXED);
	ob = open_ob(0);
	ck_assert_int_eq(outbox_put(ob, rows, 1, c, on_put, NULL), OUTBOX_OK);
	ck_assert_str_eq(c[0], "1a3185c500100001");
	ck_assert(pump_until(&acks, 3, 5000));
	ck_assert_int_eq(ack_status_sum, OUTBOX_OK);
	__atomic_store_n(&fake_clock, (int64_t)0, __ATOMIC_RELAXED);
}
END_TEST

/* A row handed out is `sending` for outbox_get, but the file keeps it queued (nothing written per hand-out). */
START_TEST(test_sending_not_written)
{
	struct outbox_row r = row("chat", "m1");
	char id[1][OUTBOX_ID_LEN + 1];
	sqlite3 *db;
	sqlite3_stmt *st;

	ob = open_ob(1);
	ck_assert_int_eq(outbox_put(ob, &r, 1, id, on_put, NULL), OUTBOX_OK);
	ck_assert(pump_until(&ndelivered, 1, 5000));
	ck_assert_int_eq(state_of(id[0]), OUTBOX_SENDING);
	ck_assert_int_eq(sqlite3_open_v2(dbpath, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT state FROM outbox WHERE id = ?1", -1, &st, NULL),
	                 SQLITE_OK);
	sqlite3_bind_text(st, 1, id[0], -1, SQLITE_STATIC);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	ck_assert_int_eq(sqlite3_column_int(st, 0), OUTBOX_QUEUED);
	sqlite3_finalize(st);
	sqlite3_close(db);
	mark(id[0], OUTBOX_RES_DELIVERED, 202, 1, 0, NULL);
	ck_assert(pump_until(&acks, 1, 5000));
}
END_TEST

/* defer_wake: a put waits for outbox_wake (the loop's pre-sleep hook), then all that was queued goes in
 * one transaction. */
START_TEST(test_defer_wake)
{
	struct outbox_open_args a;
	struct outbox_row r = row("chat", "m");
	char err[256] = "";
	struct outbox_stats st, st0;

	cfg.keep_delivered_s = 0; /* no purge timer to wake the writer */
	memset(&a, 0, sizeof(a));
	a.cfg = &cfg;
	a.post = test_post;
	a.clock_ms = test_clock;
	a.defer_wake = 1;
	ob = outbox_open(&a, err, sizeof(err));
	ck_assert_msg(ob != NULL, "open: %s", err);
	pump_for(100);   /* the first cycle (the kick at open) is over */
	outbox_wake(ob); /* nothing pending: no effect */
	outbox_get_stats(ob, &st0);
	ck_assert_int_eq(outbox_put(ob, &r, 1, NULL, on_put, NULL), OUTBOX_OK);
	ck_assert_int_eq(outbox_put(ob, &r, 1, NULL, on_put, NULL), OUTBOX_OK);
	ck_assert_int_eq(outbox_put(ob, &r, 1, NULL, on_put, NULL), OUTBOX_OK);
	pump_for(200);
	ck_assert_int_eq(acks, 0); /* not woken: nothing committed */
	outbox_wake(ob);
	ck_assert(pump_until(&acks, 3, 5000));
	ck_assert_int_eq(ack_status_sum, OUTBOX_OK);
	outbox_get_stats(ob, &st);
	ck_assert_uint_eq(st.rows_accepted, 3);
	ck_assert_uint_eq(st.commits - st0.commits, 1); /* the three puts in one transaction */
}
END_TEST

START_TEST(test_bodies_delivered_intact)
{
	struct outbox_row r = row("chat", "");
	static const char bin[] = { 'a', 0, 'b', (char)0xff };

	r.body = bin;
	r.body_len = sizeof(bin);
	r.content_type = "application/octet-stream";
	ob = open_ob(1);
	ck_assert_int_eq(outbox_put(ob, &r, 1, NULL, on_put, NULL), OUTBOX_OK);
	ck_assert(pump_until(&ndelivered, 1, 5000));
	ck_assert_uint_eq(delivered[0]->body_len, 4);
	ck_assert_int_eq(memcmp(delivered[0]->body, bin, 4), 0);
	ck_assert_str_eq(delivered[0]->content_type, "application/octet-stream");
	ck_assert_int_eq(delivered[0]->state, OUTBOX_SENDING);
	ck_assert_int_eq(state_of(delivered[0]->id), OUTBOX_SENDING);
	ck_assert_int_eq(acks, 1);
}
END_TEST

START_TEST(test_bad_rows)
{
	struct outbox_row r = row("chat", "x");
	char longt[OUTBOX_TARGET_MAX + 2];

	ob = open_ob(0);
	r.hub = NULL;
	ck_assert_int_eq(outbox_put(ob, &r, 1, NULL, on_put, NULL), OUTBOX_EINVAL);
	r = row("", "x");
	ck_assert_int_eq(outbox_put(ob, &r, 1, NULL, on_put, NULL), OUTBOX_EINVAL);
	r = row("chat", "x");
	r.body = NULL;
	ck_assert_int_eq(outbox_put(ob, &r, 1, NULL, on_put, NULL), OUTBOX_EINVAL);
	memset(longt, 't', sizeof(longt) - 1);
	longt[sizeof(longt) - 1] = '\0';
	r = row(longt, "x");
	ck_assert_int_eq(outbox_put(ob, &r, 1, NULL, on_put, NULL), OUTBOX_EINVAL);
	r = row("chat", "x");
	ck_assert_int_eq(outbox_put(ob, &r, 0, NULL, on_put, NULL), OUTBOX_EINVAL);
	ck_assert_int_eq(outbox_mark(ob, "short", NULL), OUTBOX_EINVAL);
	ck_assert_int_eq(outbox_retry(ob, "short", NULL, NULL), OUTBOX_EINVAL);
	pump_for(50);
	ck_assert_int_eq(acks, 0);
}
END_TEST

/* The child puts rows one at a time and reports every acknowledged id on a pipe; it is killed with
 * SIGKILL in the middle. Every id it reported must be in the file afterwards. */
struct child_ctx {
	int fd;
	long acked;
};

static void child_on_put(void *arg, int status, const char *const *ids, size_t n)
{
	struct child_ctx *cc = arg;
	char line[OUTBOX_ID_LEN + 1];
	size_t i;

	if (status != OUTBOX_OK)
		_exit(3);
	for (i = 0; i < n; i++) {
		memcpy(line, ids[i], OUTBOX_ID_LEN);
		line[OUTBOX_ID_LEN] = '\n';
		if (write(cc->fd, line, sizeof(line)) != (ssize_t)sizeof(line))
			_exit(4);
		cc->acked++;
	}
}

static void crash_child(int fd)
{
	struct child_ctx cc = { fd, 0 };
	struct outbox_open_args a;
	char err[256];
	long put = 0;
	struct outbox *o;

	memset(&a, 0, sizeof(a));
	a.cfg = &cfg;
	a.post = test_post;
	if ((o = outbox_open(&a, err, sizeof(err))) == NULL)
		_exit(2);
	for (;;) { /* bounded by the parent's SIGKILL; and by 1,000,000 rows */
		while (put - cc.acked < 500 && put < 1000000) {
			struct outbox_row r =
			        row(put % 2 ? "chat/group/a" : "chat/group/b", "crash test body");

			if (outbox_put(o, &r, 1, NULL, child_on_put, &cc) != OUTBOX_OK)
				_exit(5);
			put++;
		}
		pump_for(1);
	}
}

START_TEST(test_kill9_keeps_acked_rows)
{
	int p[2], status;
	pid_t pid;
	char *ids;
	size_t cap = 64 * 1024 * 17, len = 0;
	ssize_t n;
	long nids, i, missing = 0;
	int64_t end;

	cfg.max_rows = 10000000;
	ck_assert_int_eq(pipe(p), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(p[0]);
		crash_child(p[1]);
		_exit(0);
	}
	close(p[1]);
	ids = malloc(cap);
	ck_assert_ptr_nonnull(ids);
	/* read until 5000 acks or 20 s, then kill it in the middle of its stream */
	end = now_ms() + 20000;
	while (len < 5000 * 17 && now_ms() < end && (n = read(p[0], ids + len, cap - len)) > 0)
		len += (size_t)n;
	kill(pid, SIGKILL);
	while (len < cap && (n = read(p[0], ids + len, cap - len)) > 0) /* acks written before the kill */
		len += (size_t)n;
	close(p[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	nids = (long)(len / 17);
	ck_assert_int_ge(nids, 5000);

	ob = open_ob(0);
	for (i = 0; i < nids; i++) {
		struct outbox_msg *m;
		char id[OUTBOX_ID_LEN + 1];

		memcpy(id, ids + i * 17, OUTBOX_ID_LEN);
		id[OUTBOX_ID_LEN] = '\0';
		if (outbox_get(ob, id, &m) != OUTBOX_OK)
			missing++;
		else if (m->state != OUTBOX_QUEUED)
			missing++;
		outbox_msg_free(m);
	}
	free(ids);
	ck_assert_int_eq(missing, 0);
	{
		struct outbox_stats st;

		outbox_get_stats(ob, &st);
		ck_assert_uint_ge(st.depth, (uint64_t)nids);
	}
}
END_TEST

/* Rows left `sending` by a crash go back to `queued` on open, and are handed out again. */
START_TEST(test_sending_requeued_on_open)
{
	struct outbox_row r = row("chat", "m1");
	char id[1][OUTBOX_ID_LEN + 1];
	sqlite3 *db;
	struct outbox_msg *m;

	ob = open_ob(0);
	ck_assert_int_eq(outbox_put(ob, &r, 1, id, on_put, NULL), OUTBOX_OK);
	ck_assert(pump_until(&acks, 1, 5000));
	outbox_close(ob);
	ob = NULL;
	ck_assert_int_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, "UPDATE outbox SET state = 1", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	ob = open_ob(1);
	ck_assert(pump_until(&ndelivered, 1, 5000));
	ck_assert_str_eq(delivered[0]->id, id[0]);
	ck_assert_int_eq(outbox_get(ob, id[0], &m), OUTBOX_OK);
	ck_assert_int_eq(m->state, OUTBOX_SENDING);
	outbox_msg_free(m);
	/* closing with the row still handed out leaves it queued */
	outbox_close(ob);
	ob = open_ob(0);
	ck_assert_int_eq(state_of(id[0]), OUTBOX_QUEUED);
}
END_TEST

/* A file of schema version 1 (before the trace context columns) opens with its rows, is upgraded in
 * place, and takes rows with a trace context afterwards. */
START_TEST(test_schema_v1_upgraded)
{
	static const char v1[] =
	        "CREATE TABLE outbox(seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, created_ms INTEGER "
	        "NOT NULL,"
	        " hub TEXT NOT NULL, target TEXT NOT NULL, method TEXT NOT NULL, path TEXT NOT NULL,"
	        " content_type TEXT, body BLOB, request_id TEXT, state INTEGER NOT NULL,"
	        " attempts INTEGER NOT NULL DEFAULT 0, status INTEGER NOT NULL DEFAULT 0, last_error TEXT,"
	        " next_attempt_ms INTEGER NOT NULL DEFAULT 0, done_ms INTEGER NOT NULL DEFAULT 0,"
	        " bytes INTEGER NOT NULL);"
	        "INSERT INTO outbox(id, created_ms, hub, target, method, path, content_type, body, "
	        "request_id, state,"
	        " bytes) VALUES ('00000000000a0000', CAST(strftime('%s','now') AS INTEGER) * 1000, 'chat', "
	        "'chat', 'POST',"
	        " '/api/hubs/chat/:send?api-version=2024-12-01', 'text/plain', 'old', 'r-old', 0, 3);"
	        "PRAGMA user_version=1;";
	struct outbox_row r = row("chat/group/g", "new"); /* another target: both are handed out at once */
	char id[1][OUTBOX_ID_LEN + 1];
	sqlite3 *db;
	sqlite3_stmt *st;
	struct outbox_msg *m;

	ck_assert_int_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_exec(db, v1, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	ob = open_ob(0);
	ck_assert_int_eq(outbox_get(ob, "00000000000a0000", &m), OUTBOX_OK);
	ck_assert_str_eq(m->request_id, "r-old");
	ck_assert_ptr_null(m->traceparent);
	outbox_msg_free(m);
	r.traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
	r.tracestate = "congo=t61rcWkgMzE";
	ck_assert_int_eq(outbox_put(ob, &r, 1, id, on_put, NULL), OUTBOX_OK);
	ck_assert(pump_until(&acks, 1, 5000));
	ck_assert_int_eq(outbox_get(ob, id[0], &m), OUTBOX_OK);
	ck_assert_str_eq(m->traceparent, r.traceparent);
	ck_assert_str_eq(m->tracestate, r.tracestate);
	outbox_msg_free(m);
	outbox_close(ob);
	ob = NULL;
	ck_assert_int_eq(sqlite3_open(dbpath, &db), SQLITE_OK);
	ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
	ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
	ck_assert_int_eq(sqlite3_column_int(st, 0), 2);
	sqlite3_finalize(st);
	sqlite3_close(db);
	/* and the delivery of both hands out the trace context of each */
	ob = open_ob(1);
	pump_until(&ndelivered, 2, 3000);
	ck_assert_msg(ndelivered == 2, "delivered %ld: %s", ndelivered,
	              ndelivered > 0 ? delivered[0]->id : "-");
	ck_assert_str_eq(delivered[0]->id, "00000000000a0000");
	ck_assert_ptr_null(delivered[0]->traceparent);
	ck_assert_str_eq(delivered[1]->traceparent, r.traceparent);
	ck_assert_str_eq(delivered[1]->tracestate, r.tracestate);
}
END_TEST

START_TEST(test_order_per_target)
{
	struct outbox_row rows[5];
	char ids[5][OUTBOX_ID_LEN + 1];

	ob = open_ob(1);
	rows[0] = row("chat/group/a", "a1");
	rows[1] = row("chat/group/b", "b1");
	rows[2] = row("chat/group/a", "a2");
	rows[3] = row("chat/group/a", "a3");
	rows[4] = row("chat/group/b", "b2");
	ck_assert_int_eq(outbox_put(ob, rows, 5, ids, on_put, NULL), OUTBOX_OK);
	ck_assert(pump_until(&ndelivered, 2, 5000));
	pump_for(100);
	ck_assert_int_eq(ndelivered, 2); /* only the heads, in parallel */
	ck_assert(strcmp(delivered[0]->body, "a1") == 0 || strcmp(delivered[1]->body, "a1") == 0);
	ck_assert(strcmp(delivered[0]->body, "b1") == 0 || strcmp(delivered[1]->body, "b1") == 0);
	ck_assert_int_eq(state_of(ids[0]), OUTBOX_SENDING);
	ck_assert_int_eq(state_of(ids[2]), OUTBOX_QUEUED);

	mark(ids[0], OUTBOX_RES_DELIVERED, 202, 1, 0, NULL); /* a1 done: a2 next */
	ck_assert(pump_until(&ndelivered, 3, 5000));
	ck_assert_str_eq(delivered[2]->body, "a2");
	ck_assert_int_eq(state_of(ids[0]), OUTBOX_DELIVERED);
	mark(ids[1], OUTBOX_RES_RETRY, 503, 2, 0, "upstream status 503"); /* b1 again, not b2 */
	ck_assert(pump_until(&ndelivered, 4, 5000));
	ck_assert_str_eq(delivered[3]->body, "b1");
	ck_assert_str_eq(delivered[3]->id, ids[1]);
	ck_assert_int_eq(delivered[3]->attempts, 2);
	ck_assert_str_eq(delivered[3]->last_error, "upstream status 503");
	mark(ids[1], OUTBOX_RES_DELIVERED, 202, 1, 0, NULL);
	ck_assert(pump_until(&ndelivered, 5, 5000));
	ck_assert_str_eq(delivered[4]->body, "b2");
	mark(ids[2], OUTBOX_RES_DELIVERED, 202, 1, 0, NULL);
	ck_assert(pump_until(&ndelivered, 6, 5000));
	ck_assert_str_eq(delivered[5]->body, "a3");
	mark(ids[3], OUTBOX_RES_DELIVERED, 202, 1, 0, NULL);
	mark(ids[4], OUTBOX_RES_DELIVERED, 204, 1, 0, NULL);
	pump_for(100);
	ck_assert_int_eq(ndelivered, 6);
	{
		struct outbox_stats st;
		struct outbox_msg *m;

		outbox_get_stats(ob, &st);
		ck_assert_uint_eq(st.depth, 0);
		ck_assert_uint_eq(st.inflight, 0);
		ck_assert_uint_eq(st.rows_delivered, 5);
		ck_assert_uint_eq(st.bytes, 0);
		ck_assert_int_eq(outbox_get(ob, ids[1], &m), OUTBOX_OK);
		ck_assert_int_eq(m->state, OUTBOX_DELIVERED);
		ck_assert_int_eq(m->attempts, 3);
		ck_assert_int_eq(m->status, 202);
		ck_assert_ptr_null(m->last_error);
		ck_assert(m->done_ms > 0);
		outbox_msg_free(m);
	}
}
END_TEST

/* max_inflight_per_target 3: a target's three oldest unsettled rows go at once, in any order; a row
 * waiting for its retry delay does not hold up the others of the window; a row beyond the window waits
 * until an older one settles; the other targets are not affected. */
START_TEST(test_target_window)
{
	struct outbox_row rows[6];
	char ids[6][OUTBOX_ID_LEN + 1];
	int seen[6] = { 0 };
	long i, j;
	int64_t t0;

	cfg.max_inflight_per_target = 3;
	ob = open_ob(1);
	for (i = 0; i < 5; i++) {
		static const char *const body[] = { "a1", "a2", "a3", "a4", "a5" };

		rows[i] = row("chat/group/a", body[i]);
	}
	rows[5] = row("chat/group/b", "b1");
	ck_assert_int_eq(outbox_put(ob, rows, 6, ids, on_put, NULL), OUTBOX_OK);
	ck_assert(pump_until(&ndelivered, 4, 5000));
	pump_for(100);
	ck_assert_int_eq(ndelivered, 4); /* a1, a2, a3 and b1 */
	for (i = 0; i < 4; i++)
		for (j = 0; j < 6; j++)
			if (strcmp(delivered[i]->id, ids[j]) == 0)
				seen[j]++;
	ck_assert(seen[0] == 1 && seen[1] == 1 && seen[2] == 1 && seen[5] == 1);
	ck_assert_int_eq(state_of(ids[3]), OUTBOX_QUEUED);

	mark(ids[1], OUTBOX_RES_DELIVERED, 202, 1, 0, NULL); /* a2 settles before a1: a4 joins the window */
	ck_assert(pump_until(&ndelivered, 5, 5000));
	ck_assert_str_eq(delivered[4]->body, "a4");
	t0 = now_ms();
	mark(ids[0], OUTBOX_RES_RETRY, 503, 1, 300,
	     "upstream status 503"); /* a1 waits 300 ms, in the window */
	pump_for(100);
	ck_assert_int_eq(ndelivered, 5);                     /* a5 is beyond the window (a1, a3, a4) */
	mark(ids[2], OUTBOX_RES_DELIVERED, 202, 1, 0, NULL); /* a3 settles: a5 goes, before a1's retry */
	ck_assert(pump_until(&ndelivered, 6, 5000));
	ck_assert_str_eq(delivered[5]->body, "a5");
	ck_assert(pump_until(&ndelivered, 7, 5000));
	ck_assert_str_eq(delivered[6]->id, ids[0]);
	ck_assert_int_ge(now_ms() - t0, 290);
	for (i = 0; i < 6; i++)
		if (i != 1 && i != 2)
			mark(ids[i], OUTBOX_RES_DELIVERED, 202, 1, 0, NULL);
	pump_for(100);
	ck_assert_int_eq(ndelivered, 7);
	{
		struct outbox_stats st;

		outbox_get_stats(ob, &st);
		ck_assert_uint_eq(st.depth, 0);
		ck_assert_uint_eq(st.inflight, 0);
		ck_assert_uint_eq(st.rows_delivered, 6);
	}
}
END_TEST

START_TEST(test_retry_delay_and_max_inflight)
{
	struct outbox_row rows[3];
	char ids[3][OUTBOX_ID_LEN + 1];
	int64_t t0;

	cfg.max_inflight = 2;
	ob = open_ob(1);
	rows[0] = row("t1", "1");
	rows[1] = row("t2", "2");
	rows[2] = row("t3", "3");
	ck_assert_int_eq(outbox_put(ob, rows, 3, ids, on_put, NULL), OUTBOX_OK);
	ck_assert(pump_until(&ndelivered, 2, 5000));
	pump_for(100);
	ck_assert_int_eq(ndelivered, 2); /* max_inflight */
	/* retry the first after 300 ms: the third goes now, the first only after the delay */
	t0 = now_ms();
	mark(delivered[0]->id, OUTBOX_RES_RETRY, 0, 1, 300, "connect: refused");
	ck_assert(pump_until(&ndelivered, 3, 5000));
	ck_assert_str_eq(delivered[2]->body, "3");
	mark(delivered[1]->id, OUTBOX_RES_DELIVERED, 202, 1, 0, NULL);
	ck_assert(pump_until(&ndelivered, 4, 5000));
	ck_assert_int_ge(now_ms() - t0, 290);
	ck_assert_str_eq(delivered[3]->id, delivered[0]->id);
}
END_TEST

START_TEST(test_full_refused)
{
	struct outbox_row r = row("chat", "0123456789");
	struct outbox_row two[2];
	struct outbox_stats st;
	int i;

	cfg.max_rows = 5;
	ob = open_ob(1);
	for (i = 0; i < 5; i++)
		ck_assert_int_eq(outbox_put(ob, &r, 1, NULL, on_put, NULL), OUTBOX_OK);
	ck_assert_int_eq(outbox_put(ob, &r, 1, NULL, on_put, NULL), OUTBOX_EFULL);
	ck_assert(pump_until(&acks, 5, 5000));
	ck_assert_int_eq(outbox_put(ob, &r, 1, NULL, on_put, NULL), OUTBOX_EFULL);
	outbox_get_stats(ob, &st);
	ck_assert_uint_eq(st.put_refused_full, 2);
	ck_assert_uint_eq(st.depth, 5);
	/* a delivered row frees its place */
	ck_assert(pump_until(&ndelivered, 1, 5000));
	mark(delivered[0]->id, OUTBOX_RES_DELIVERED, 202, 1, 0, NULL);
	pump_for(100);
	ck_assert_int_eq(outbox_put(ob, &r, 1, NULL, on_put, NULL), OUTBOX_OK);
	two[0] = two[1] = r;
	ck_assert_int_eq(outbox_put(ob, two, 2, NULL, on_put, NULL), OUTBOX_EFULL); /* all or nothing */
	ck_assert(pump_until(&acks, 6, 5000));
	outbox_close(ob);
	ob = NULL;

	/* bytes */
	cfg.max_rows = 1000;
	cfg.max_bytes = 4096;
	ob = open_ob(0);
	{
		char big[3800];
		struct outbox_row b;

		memset(big, 'x', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		b = row("other", big);
		ck_assert_int_eq(outbox_put(ob, &b, 1, NULL, on_put, NULL),
		                 OUTBOX_EFULL); /* 5 rows already */
	}
	outbox_get_stats(ob, &st);
	ck_assert_uint_eq(st.depth, 5);
	ck_assert_uint_eq(st.put_refused_full, 1);
}
END_TEST

START_TEST(test_dead_letter_and_retry)
{
	struct outbox_row rows[2];
	char ids[2][OUTBOX_ID_LEN + 1];
	struct outbox_msg *m;
	struct outbox_stats st;
	struct buf b;
	long rdone = 0;

	cfg.max_attempts = 3;
	ob = open_ob(1);
	rows[0] = row("chat/user/u1", "one");
	rows[1] = row("chat/user/u1", "two");
	ck_assert_int_eq(outbox_put(ob, rows, 2, ids, on_put, NULL), OUTBOX_OK);
	ck_assert(pump_until(&ndelivered, 1, 5000));
	mark(ids[0], OUTBOX_RES_RETRY, 503, 2, 0, "upstream status 503");
	ck_assert(pump_until(&ndelivered, 2, 5000));
	ck_assert_str_eq(delivered[1]->id, ids[0]);
	mark(ids[0], OUTBOX_RES_RETRY, 503, 1, 0, "upstream status 503"); /* 3 attempts: dead */
	ck_assert(pump_until(&ndelivered, 3, 5000));
	ck_assert_str_eq(delivered[2]->id, ids[1]); /* the next of the target goes on */
	ck_assert_int_eq(outbox_get(ob, ids[0], &m), OUTBOX_OK);
	ck_assert_int_eq(m->state, OUTBOX_FAILED);
	ck_assert_int_eq(m->attempts, 3);
	ck_assert_int_eq(m->status, 503);
	ck_assert_str_eq(m->last_error, "upstream status 503 (attempts exhausted)");
	outbox_msg_free(m);
	/* a permanent failure is a dead letter at once */
	mark(ids[1], OUTBOX_RES_FAILED, 400, 1, 0, "upstream status 400");
	pump_for(100);
	ck_assert_int_eq(state_of(ids[1]), OUTBOX_FAILED);
	outbox_get_stats(ob, &st);
	ck_assert_uint_eq(st.failed, 2);
	ck_assert_uint_eq(st.depth, 0);
	ck_assert_uint_eq(st.rows_dead, 2);

	buf_init(&b, 0);
	ck_assert_int_eq(outbox_list_failed(ob, 10, &b), 0);
	ck_assert_ptr_nonnull(strstr(b.data, ids[0]));
	ck_assert_ptr_nonnull(strstr(b.data, ids[1]));
	ck_assert_ptr_nonnull(strstr(b.data, "\"state\":\"failed\""));
	ck_assert(strncmp(b.data, "{\"items\":[{\"id\":\"", 17) == 0);
	buf_reset(&b);
	ck_assert_int_eq(outbox_list_failed(ob, 1, &b), 0);
	ck_assert_ptr_nonnull(strstr(b.data, ids[0]));
	ck_assert_ptr_null(strstr(b.data, ids[1]));
	buf_free(&b);

	/* retry the first: queued again, attempts 0, delivered again */
	ck_assert_int_eq(outbox_retry(ob, ids[0], (outbox_done_fn)NULL, NULL), OUTBOX_OK);
	ck_assert(pump_until(&ndelivered, 4, 5000));
	ck_assert_str_eq(delivered[3]->id, ids[0]);
	ck_assert_int_eq(delivered[3]->attempts, 0);
	outbox_get_stats(ob, &st);
	ck_assert_uint_eq(st.failed, 1);
	ck_assert_uint_eq(st.depth, 1);
	(void)rdone;
}
END_TEST

static long retry_results[4];
static long nretry_results;

static void on_retry_done(void *arg, int status)
{
	(void)arg;
	if (nretry_results < 4)
		retry_results[nretry_results] = status;
	nretry_results++;
}

START_TEST(test_retry_outcomes)
{
	struct outbox_row r = row("chat", "x");
	char id[1][OUTBOX_ID_LEN + 1];

	nretry_results = 0;
	ob = open_ob(0);
	ck_assert_int_eq(outbox_put(ob, &r, 1, id, on_put, NULL), OUTBOX_OK);
	ck_assert_int_eq(outbox_retry(ob, id[0], on_retry_done, NULL), OUTBOX_OK); /* queued */
	ck_assert_int_eq(outbox_retry(ob, "ffffffffffffffff", on_retry_done, NULL), OUTBOX_OK);
	ck_assert(pump_until(&nretry_results, 2, 5000));
	ck_assert_int_eq(retry_results[0], OUTBOX_ESTATE);
	ck_assert_int_eq(retry_results[1], OUTBOX_ENOTFOUND);
}
END_TEST

START_TEST(test_max_age)
{
	struct outbox_row r = row("chat", "old");
	char id[1][OUTBOX_ID_LEN + 1];
	struct outbox_msg *m;

	fake_clock = 1700000000000LL;
	cfg.max_age_s = 60;
	ob = open_ob(0);
	ck_assert_int_eq(outbox_put(ob, &r, 1, id, on_put, NULL), OUTBOX_OK);
	ck_assert(pump_until(&acks, 1, 5000));
	outbox_close(ob);
	__atomic_add_fetch(&fake_clock, 60 * 1000, __ATOMIC_RELAXED);
	ob = open_ob(1); /* delivery starts a minute later: too old */
	pump_for(200);
	ck_assert_int_eq(ndelivered, 0);
	ck_assert_int_eq(outbox_get(ob, id[0], &m), OUTBOX_OK);
	ck_assert_int_eq(m->state, OUTBOX_FAILED);
	ck_assert_str_eq(m->last_error, "maximum age reached before delivery");
	ck_assert_int_eq(m->created_ms, 1700000000000LL);
	ck_assert_int_eq(m->done_ms, 1700000060000LL);
	outbox_msg_free(m);
	/* and one that ages while retried */
	ck_assert_int_eq(outbox_put(ob, &r, 1, id, on_put, NULL), OUTBOX_OK);
	ck_assert(pump_until(&ndelivered, 1, 5000));
	__atomic_add_fetch(&fake_clock, 61 * 1000, __ATOMIC_RELAXED);
	mark(id[0], OUTBOX_RES_RETRY, 503, 1, 0, "upstream status 503");
	pump_for(200);
	ck_assert_int_eq(ndelivered, 1);
	ck_assert_int_eq(outbox_get(ob, id[0], &m), OUTBOX_OK);
	ck_assert_int_eq(m->state, OUTBOX_FAILED);
	ck_assert_str_eq(m->last_error, "upstream status 503 (maximum age reached)");
	outbox_msg_free(m);
}
END_TEST

START_TEST(test_delivered_kept_then_purged)
{
	struct outbox_row r = row("chat", "x");
	char id[1][OUTBOX_ID_LEN + 1];
	struct outbox_msg *m;

	fake_clock = 1700000000000LL;
	cfg.keep_delivered_s = 10;
	ob = open_ob(1);
	ck_assert_int_eq(outbox_put(ob, &r, 1, id, on_put, NULL), OUTBOX_OK);
	ck_assert(pump_until(&ndelivered, 1, 5000));
	mark(id[0], OUTBOX_RES_DELIVERED, 202, 1, 0, NULL);
	pump_for(100);
	ck_assert_int_eq(state_of(id[0]), OUTBOX_DELIVERED);
	__atomic_add_fetch(&fake_clock, 11 * 1000, __ATOMIC_RELAXED);
	pump_for(1500); /* the purge runs about once a second */
	ck_assert_int_eq(outbox_get(ob, id[0], &m), OUTBOX_ENOTFOUND);
	outbox_close(ob);

	/* keep_delivered_s = 0: gone at once */
	cfg.keep_delivered_s = 0;
	ob = open_ob(1);
	ck_assert_int_eq(outbox_put(ob, &r, 1, id, on_put, NULL), OUTBOX_OK);
	ck_assert(pump_until(&ndelivered, 2, 5000));
	mark(id[0], OUTBOX_RES_DELIVERED, 202, 1, 0, NULL);
	pump_for(100);
	ck_assert_int_eq(outbox_get(ob, id[0], &m), OUTBOX_ENOTFOUND);
}
END_TEST

START_TEST(test_group_commit_1000)
{
	struct outbox_row r = row("chat", "group commit");
	struct outbox_stats st;
	int i;

	ob = open_ob(0);
	for (i = 0; i < 1000; i++)
		ck_assert_int_eq(outbox_put(ob, &r, 1, NULL, on_put, NULL), OUTBOX_OK);
	ck_assert(pump_until(&acks, 1000, 10000));
	ck_assert_int_eq(ack_status_sum, 0);
	outbox_get_stats(ob, &st);
	ck_assert_uint_eq(st.rows_accepted, 1000);
	fprintf(stderr, "group commit: 1000 puts in %" PRIu64 " transactions (%" PRIu64 " with fsync)\n",
	        st.commits, st.fsync_commits);
	ck_assert_uint_le(st.fsync_commits, 10);
	ck_assert_uint_ge(st.fsync_commits, 1);
	outbox_close(ob);

	/* with a commit interval they all share one (or two) */
	cfg.commit_interval_ms = 200;
	ob = open_ob(0);
	acks = 0;
	for (i = 0; i < 1000; i++)
		ck_assert_int_eq(outbox_put(ob, &r, 1, NULL, on_put, NULL), OUTBOX_OK);
	ck_assert(pump_until(&acks, 1000, 10000));
	outbox_get_stats(ob, &st);
	ck_assert_uint_le(st.fsync_commits, 2);
}
END_TEST

START_TEST(test_max_batch_rows)
{
	struct outbox_row rows[3];
	struct outbox_stats st;
	int i;

	cfg.max_batch_rows = 3;
	cfg.commit_interval_ms = 300;
	ob = open_ob(0);
	rows[0] = rows[1] = rows[2] = row("chat", "b");
	ck_assert_int_eq(outbox_put(ob, rows, 3, NULL, on_put, NULL), OUTBOX_OK);
	ck_assert_int_eq(outbox_put(ob, rows, 4 - 1, NULL, on_put, NULL), OUTBOX_OK);
	ck_assert_int_eq(outbox_put(ob, rows, 3, NULL, on_put, NULL), OUTBOX_OK);
	ck_assert(pump_until(&acks, 3, 5000));
	outbox_get_stats(ob, &st);
	ck_assert_uint_eq(st.fsync_commits, 3); /* each put alone fills a transaction */
	for (i = 0; i < 1; i++)
		ck_assert_int_eq(outbox_put(ob, rows, 1, NULL, on_put, NULL), OUTBOX_OK);
	{
		struct outbox_row four[4];

		four[0] = four[1] = four[2] = four[3] = rows[0];
		ck_assert_int_eq(outbox_put(ob, four, 4, NULL, on_put, NULL), OUTBOX_EINVAL);
	}
}
END_TEST

/* The accept rate: rows acknowledged (on disk) per second with many puts in flight. */
START_TEST(test_accept_rate)
{
	char body[257];
	struct outbox_row r;
	long put = 0, total = 40000;
	int64_t t0, dt;
	struct outbox_stats st;

	memset(body, 'm', 256);
	body[256] = '\0';
	r = row("chat/group/g", body);
	cfg.max_rows = 1000000;
	ob = open_ob(0);
	t0 = now_ms();
	while (acks < total && now_ms() - t0 < 20000) {
		while (put - acks < 5000 && put < total) {
			ck_assert_int_eq(outbox_put(ob, &r, 1, NULL, on_put, NULL), OUTBOX_OK);
			put++;
		}
		pump_until(&acks, acks + 1, 100);
	}
	dt = now_ms() - t0;
	ck_assert_int_eq(acks, total);
	outbox_get_stats(ob, &st);
	fprintf(stderr,
	        "outbox accept rate: %ld rows in %" PRId64 " ms = %.0f rows/s, %" PRIu64 " fsync commits\n",
	        total, dt, total * 1000.0 / (double)(dt > 0 ? dt : 1), st.fsync_commits);
	ck_assert_int_eq(ack_status_sum, 0);
}
END_TEST

START_TEST(test_msg_json)
{
	struct outbox_msg m;
	struct buf b;
	char lastErr[] = "upstream \"503\"";
	char hub[] = "chat", target[] = "chat", method[] = "POST", path[] = "/api/hubs/chat/:send";

	memset(&m, 0, sizeof(m));
	snprintf(m.id, sizeof(m.id), "0123456789abcdef");
	m.created_ms = 1700000000123LL;
	m.next_attempt_ms = 1700000005000LL;
	m.state = OUTBOX_QUEUED;
	m.attempts = 2;
	m.status = 503;
	m.last_error = lastErr;
	m.hub = hub;
	m.target = target;
	m.method = method;
	m.path = path;
	buf_init(&b, 0);
	ck_assert_int_eq(outbox_msg_json(&m, &b), 0);
	ck_assert_str_eq(
	        b.data, "{\"id\":\"0123456789abcdef\",\"state\":\"queued\",\"attempts\":2,\"status\":503,"
	                "\"lastError\":\"upstream \\\"503\\\"\",\"createdAt\":\"2023-11-14T22:13:20.123Z\","
	                "\"nextAttemptAt\":\"2023-11-14T22:13:25.000Z\",\"hub\":\"chat\",\"target\":\"chat\","
	                "\"method\":\"POST\",\"path\":\"/api/hubs/chat/:send\"}");
	buf_free(&b);
	{
		enum outbox_state s;

		ck_assert_int_eq(outbox_state_parse("failed", &s), 0);
		ck_assert_int_eq(s, OUTBOX_FAILED);
		ck_assert_int_eq(outbox_state_parse("delivered", &s), 0);
		ck_assert_int_eq(s, OUTBOX_DELIVERED);
		ck_assert_int_eq(outbox_state_parse("FAILED", &s), -1);
		ck_assert_int_eq(outbox_state_parse(NULL, &s), -1);
		ck_assert_str_eq(outbox_state_name(OUTBOX_SENDING), "sending");
	}
}
END_TEST

START_TEST(test_open_errors)
{
	struct outbox_open_args a;
	char err[256] = "";

	memset(&a, 0, sizeof(a));
	a.cfg = &cfg;
	a.post = test_post;
	free(cfg.path);
	cfg.path = strdup("/nonexistent-dir/for/outbox.db");
	ck_assert_ptr_null(outbox_open(&a, err, sizeof(err)));
	ck_assert_str_eq(err,
	                 "outbox: cannot open /nonexistent-dir/for/outbox.db: No such file or directory");
	free(cfg.path);
	cfg.path = NULL;
	ck_assert_ptr_null(outbox_open(&a, err, sizeof(err)));
	ck_assert_str_eq(err, "outbox: no path configured");
}
END_TEST

static int parse_text(const char *text, struct outbox_cfg *out, char *err, size_t errlen)
{
	config_t c;
	int rc;

	config_init(&c);
	ck_assert_int_eq(config_read_string(&c, text), CONFIG_TRUE);
	rc = check_cfg_setting(&outbox_cfg_section, config_lookup(&c, "outbox"), out, err, errlen);
	config_destroy(&c);
	return rc;
}

START_TEST(test_cfg_parse)
{
	static const struct {
		const char *text, *err;
	} bad[] = {
		{ "outbox = { path = \"rel/outbox.db\"; };",
		  "t.conf:1: outbox.path: must be an absolute path" },
		{ "outbox = { path = 5; };", "t.conf:1: outbox.path: must be a string" },
		{ "outbox = { path = \"\"; };",
		  "t.conf:1: outbox.path: must be a non-empty string of at most 4096 bytes" },
		{ "outbox = {\n max_rows = 0; };",
		  "t.conf:2: outbox.max_rows: must be an integer in 1..100000000" },
		{ "outbox = { max_inflight = 5000; };",
		  "t.conf:1: outbox.max_inflight: must be an integer in 1..4096" },
		{ "outbox = { max_inflight_per_target = 0; };",
		  "t.conf:1: outbox.max_inflight_per_target: must be an integer in 1..4096" },
		{ "outbox = { commit_interval_ms = -1; };",
		  "t.conf:1: outbox.commit_interval_ms: must be an integer in 0..1000" },
		{ "outbox = { pth = \"/x\"; };", "t.conf:1: outbox.pth: unknown key" },
	};
	struct outbox_cfg c;
	char err[256];
	size_t i;

	ck_assert_int_eq(check_cfg_setting(&outbox_cfg_section, NULL, &c, err, sizeof(err)), 0);
	ck_assert_ptr_null(c.path);
	ck_assert_int_eq(c.max_rows, 100000);
	ck_assert_int_eq(c.max_bytes, 256L * 1024 * 1024);
	ck_assert_int_eq(c.max_age_s, 86400);
	ck_assert_int_eq(c.max_attempts, 50);
	ck_assert_int_eq(c.commit_interval_ms, 0);
	ck_assert_int_eq(c.max_batch_rows, 10000);
	ck_assert_int_eq(c.max_inflight, 64);
	ck_assert_int_eq(c.max_inflight_per_target, 1);
	ck_assert_int_eq(c.keep_delivered_s, 300);
	ck_assert_int_eq(
	        parse_text(
	                "outbox = { path = \"/var/lib/wpsgate/outbox.db\"; max_rows = 10; max_bytes = 8192;"
	                " max_age_s = 5; max_attempts = 2; commit_interval_ms = 3; max_batch_rows = 7;"
	                " max_inflight = 9; max_inflight_per_target = 4; keep_delivered_s = 0; };",
	                &c, err, sizeof(err)),
	        0);
	ck_assert_str_eq(c.path, "/var/lib/wpsgate/outbox.db");
	ck_assert_int_eq(c.max_rows, 10);
	ck_assert_int_eq(c.max_bytes, 8192);
	ck_assert_int_eq(c.max_age_s, 5);
	ck_assert_int_eq(c.max_attempts, 2);
	ck_assert_int_eq(c.commit_interval_ms, 3);
	ck_assert_int_eq(c.max_batch_rows, 7);
	ck_assert_int_eq(c.max_inflight, 9);
	ck_assert_int_eq(c.max_inflight_per_target, 4);
	ck_assert_int_eq(c.keep_delivered_s, 0);
	cfgtab_clear(&outbox_cfg_section, &c);
	ck_assert_ptr_null(c.path);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		ck_assert_msg(parse_text(bad[i].text, &c, err, sizeof(err)) == -1, "case %zu", i);
		ck_assert_str_eq(err, bad[i].err);
		ck_assert_ptr_null(c.path);
	}
}
END_TEST

START_TEST(test_target_key)
{
	static const struct {
		const char *method, *path, *key;
	} cases[] = {
		{ "POST", "/api/hubs/chat/:send", "chat" },
		{ "POST", "/api/hubs/chat/:closeConnections", "chat" },
		{ "POST", "/api/hubs/chat/groups/g%201/:send", "chat/group/g%201" },
		{ "POST", "/api/hubs/chat/users/a%40b%2Fc/:send", "chat/user/a%40b%2Fc" },
		{ "POST", "/api/hubs/chat/connections/c1/:send", "chat/conn/c1" },
		{ "PUT", "/api/hubs/chat/groups/g/connections/c1", "chat/conn/c1" },
		{ "PUT", "/api/hubs/chat/users/u/groups/g", "chat/user/u" },
		{ "PUT", "/api/hubs/chat/permissions/sendToGroup/connections/c2", "chat/conn/c2" },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct ops_req r;
		struct ops_err e;
		struct buf b;

		ops_req_init(&r);
		ck_assert_msg(ops_route(cases[i].method, cases[i].path, &r, &e) == 0, "route %zu", i);
		buf_init(&b, 0);
		ck_assert_int_eq(outbox_target_key(&r, &b), 0);
		ck_assert_str_eq(b.data, cases[i].key);
		buf_free(&b);
		ops_req_free(&r);
	}
}
END_TEST

START_TEST(test_prefer_async)
{
	ck_assert_int_eq(outbox_prefer_async("respond-async"), 1);
	ck_assert_int_eq(outbox_prefer_async("Respond-Async"), 1);
	ck_assert_int_eq(outbox_prefer_async("wait=10, respond-async"), 1);
	ck_assert_int_eq(outbox_prefer_async("return=minimal,respond-async;x=1"), 1);
	ck_assert_int_eq(outbox_prefer_async(" respond-async=\"\""), 1);
	ck_assert_int_eq(outbox_prefer_async("foo=\"a, respond-async\""), 0);
	ck_assert_int_eq(outbox_prefer_async("respond-asynchronously"), 0);
	ck_assert_int_eq(outbox_prefer_async("x-respond-async"), 0);
	ck_assert_int_eq(outbox_prefer_async("wait=respond-async"), 0);
	ck_assert_int_eq(outbox_prefer_async(""), 0);
	ck_assert_int_eq(outbox_prefer_async(NULL), 0);
}
END_TEST

static Suite *outbox_suite(void)
{
	Suite *s = suite_create("gw_outbox");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_put_commit_reload);
	tcase_add_test(tc, test_bodies_delivered_intact);
	tcase_add_test(tc, test_bad_rows);
	tcase_add_test(tc, test_kill9_keeps_acked_rows);
	tcase_add_test(tc, test_sending_requeued_on_open);
	tcase_add_test(tc, test_schema_v1_upgraded);
	tcase_add_test(tc, test_ids_ordered);
	tcase_add_test(tc, test_defer_wake);
	tcase_add_test(tc, test_sending_not_written);
	tcase_add_test(tc, test_order_per_target);
	tcase_add_test(tc, test_retry_delay_and_max_inflight);
	tcase_add_test(tc, test_target_window);
	tcase_add_test(tc, test_full_refused);
	tcase_add_test(tc, test_dead_letter_and_retry);
	tcase_add_test(tc, test_retry_outcomes);
	tcase_add_test(tc, test_max_age);
	tcase_add_test(tc, test_delivered_kept_then_purged);
	tcase_add_test(tc, test_group_commit_1000);
	tcase_add_test(tc, test_max_batch_rows);
	tcase_add_test(tc, test_accept_rate);
	tcase_add_test(tc, test_msg_json);
	tcase_add_test(tc, test_open_errors);
	tcase_add_test(tc, test_cfg_parse);
	tcase_add_test(tc, test_target_key);
	tcase_add_test(tc, test_prefer_async);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(outbox_suite());
}
