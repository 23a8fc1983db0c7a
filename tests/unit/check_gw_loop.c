/* check_gw_loop.c: Check suite for src/gateway/loop.c (timer order, re-arming, fd watchers, posts from threads, signals). */
#include <config.h>

#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "gateway/loop.h"
#include "check_main.h"

static struct loop *l;
static char order[64];
static size_t norder;

static void setup(void)
{
	l = loop_new();
	ck_assert_ptr_nonnull(l);
	norder = 0;
	memset(order, 0, sizeof order);
}

static void teardown(void)
{
	loop_free(l);
}

static void mark(void *arg)
{
	order[norder++] = *(const char *)arg;
	if (norder == 4)
		loop_stop(l);
}

START_TEST(timers_fire_in_order)
{
	static const char a = 'a', b = 'b', c = 'c', d = 'd';
	struct loop_timer *ta = loop_timer_new(l, mark, (void *)(uintptr_t)&a);
	struct loop_timer *tb = loop_timer_new(l, mark, (void *)(uintptr_t)&b);
	struct loop_timer *tc = loop_timer_new(l, mark, (void *)(uintptr_t)&c);
	struct loop_timer *td = loop_timer_new(l, mark, (void *)(uintptr_t)&d);
	struct loop_timer *tx = loop_timer_new(l, mark, (void *)(uintptr_t)&d);
	uint64_t t0 = loop_now_ms();

	loop_timer_start(tc, 30);
	loop_timer_start(ta, 5);
	loop_timer_start(td, 40);
	loop_timer_start(tb, 500);
	loop_timer_start(tb, 20); /* re-armed earlier */
	loop_timer_start(tx, 10);
	loop_timer_stop(tx); /* never fires */
	ck_assert_int_eq(loop_timer_active(tx), 0);
	ck_assert_int_eq(loop_timer_active(ta), 1);
	ck_assert_int_eq(loop_run(l), 0);
	ck_assert_str_eq(order, "abcd");
	ck_assert_uint_ge(loop_now_ms() - t0, 40);
	ck_assert_uint_lt(loop_now_ms() - t0, 2000);
	loop_timer_free(ta);
	loop_timer_free(tb);
	loop_timer_free(tc);
	loop_timer_free(td);
	loop_timer_free(tx);
}
END_TEST

static int reads;
static void on_read(int fd, unsigned ev, void *arg)
{
	char c;
	struct loop_io **io = arg;

	ck_assert(ev & LOOP_READ);
	ck_assert_int_eq(read(fd, &c, 1), 1);
	if (++reads == 3) {
		loop_io_free(*io); /* freeing itself inside its callback is safe */
		loop_stop(l);
	}
}

START_TEST(io_watcher)
{
	int p[2];
	struct loop_io *io;

	ck_assert_int_eq(pipe(p), 0);
	reads = 0;
	io = loop_io_add(l, p[0], LOOP_READ, on_read, &io);
	ck_assert_ptr_nonnull(io);
	ck_assert_int_eq(write(p[1], "xyz", 3), 3);
	ck_assert_int_eq(loop_run(l), 0);
	ck_assert_int_eq(reads, 3);
	close(p[0]);
	close(p[1]);
}
END_TEST

static int posted;
static void on_post(void *arg)
{
	posted += *(int *)arg;
	if (posted == 1000 * 3)
		loop_stop(l);
}

static void *poster(void *arg)
{
	static int three = 3;
	int i;

	(void)arg;
	for (i = 0; i < 1000; i++)
		ck_assert_int_eq(loop_post(l, on_post, &three), 0);
	return NULL;
}

START_TEST(post_from_threads)
{
	pthread_t t1, t2;

	posted = 0;
	ck_assert_int_eq(pthread_create(&t1, NULL, poster, NULL), 0);
	ck_assert_int_eq(pthread_create(&t2, NULL, poster, NULL), 0);
	pthread_join(t1, NULL);
	pthread_join(t2, NULL);
	while (posted < 6000)
		ck_assert_int_eq(loop_once(l, 1000), 0);
	ck_assert_int_eq(posted, 6000);
}
END_TEST

static int got_signal;
static void on_sig(int signo, void *arg)
{
	(void)arg;
	got_signal = signo;
	loop_stop(l);
}

START_TEST(signals_through_signalfd)
{
	got_signal = 0;
	loop_on_signal(l, on_sig, NULL);
	ck_assert_int_eq(kill(getpid(), SIGHUP), 0); /* blocked by loop_new: queued for the signalfd */
	ck_assert_int_eq(loop_run(l), 0);
	ck_assert_int_eq(got_signal, SIGHUP);
}
END_TEST

static long prep_calls;
static long prepare_hook(void *arg)
{
	(void)arg;
	prep_calls++;
	return 0; /* never sleep */
}

START_TEST(prepare_hook_bounds_the_wait)
{
	uint64_t t0 = loop_now_ms();
	int i;

	prep_calls = 0;
	ck_assert_int_eq(loop_add_prepare(l, prepare_hook, NULL), 0);
	for (i = 0; i < 5; i++)
		ck_assert_int_eq(loop_once(l, 5000), 0);
	ck_assert_int_eq(prep_calls, 5);
	ck_assert_uint_lt(loop_now_ms() - t0, 1000);
	loop_remove_prepare(l, prepare_hook, NULL);
}
END_TEST

/* Pre-sleep hooks run after every prepare hook of the iteration, once per iteration, in order. */
static long prepare_mark(void *arg)
{
	(void)arg;
	if (norder < sizeof(order) - 1)
		order[norder++] = 'p';
	return 0;
}
static void presleep_mark(void *arg)
{
	if (norder < sizeof(order) - 1)
		order[norder++] = *(const char *)arg;
}

START_TEST(presleep_hooks_after_prepare)
{
	static char a = 'a', b = 'b';
	int i;

	ck_assert_int_eq(loop_add_presleep(l, presleep_mark, &a), 0);
	ck_assert_int_eq(loop_add_prepare(l, prepare_mark, NULL), 0); /* added later, still runs first */
	ck_assert_int_eq(loop_add_presleep(l, presleep_mark, &b), 0);
	for (i = 0; i < 2; i++)
		ck_assert_int_eq(loop_once(l, 5000), 0);
	ck_assert_str_eq(order, "pabpab");
	loop_remove_presleep(l, presleep_mark, &a);
	ck_assert_int_eq(loop_once(l, 5000), 0);
	ck_assert_str_eq(order, "pabpabpb");
	loop_remove_presleep(l, presleep_mark, &b);
	loop_remove_prepare(l, prepare_mark, NULL);
	for (i = 2; i < LOOP_PRESLEEP_MAX + 2; i++)
		ck_assert_int_eq(loop_add_presleep(l, presleep_mark, &a), 0);
	ck_assert_int_eq(loop_add_presleep(l, presleep_mark, &a), -1); /* full */
	for (i = 2; i < LOOP_PRESLEEP_MAX + 2; i++)
		loop_remove_presleep(l, presleep_mark, &a);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("gw_loop");
	TCase *t = tcase_create("loop");

	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, timers_fire_in_order);
	tcase_add_test(t, io_watcher);
	tcase_add_test(t, post_from_threads);
	tcase_add_test(t, signals_through_signalfd);
	tcase_add_test(t, prepare_hook_bounds_the_wait);
	tcase_add_test(t, presleep_hooks_after_prepare);
	tcase_set_timeout(t, 10);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	return check_run(suite());
}
