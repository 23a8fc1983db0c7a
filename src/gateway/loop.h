/* loop.h: the single-threaded event loop (epoll) that owns the request path: fd watchers, timers on
 * CLOCK_MONOTONIC, signals through a signalfd, and callbacks posted from other threads. */
#ifndef WPS_GW_LOOP_H
#define WPS_GW_LOOP_H

#include <stdint.h>

struct loop;
struct loop_io;
struct loop_timer;

#define LOOP_READ  0x1u
#define LOOP_WRITE 0x2u
#define LOOP_ERROR 0x4u /* reported, never requested: EPOLLERR / EPOLLHUP */

typedef void (*loop_io_fn)(int fd, unsigned events, void *arg);
typedef void (*loop_timer_fn)(void *arg);
typedef void (*loop_signal_fn)(int signo, void *arg);
typedef void (*loop_post_fn)(void *arg);
/* Called before each wait; returns the longest the loop may sleep in ms (-1: no limit). */
typedef long (*loop_prepare_fn)(void *arg);

/* A new loop. Blocks SIGTERM, SIGINT, SIGHUP and SIGPIPE (ignored) in the calling thread, which
 * must be the main thread before any other starts, so every thread inherits the mask. NULL on failure. */
struct loop *loop_new(void);
void loop_free(struct loop *l); /* accepts NULL; every io/timer must be gone */

/* Monotonic clock in milliseconds. */
uint64_t loop_now_ms(void);

/* Watch fd for events (LOOP_READ|LOOP_WRITE). Returns a new watcher or NULL. The fd stays the
 * caller's. loop_io_free stops watching (safe inside any callback, also of this watcher). */
struct loop_io *loop_io_add(struct loop *l, int fd, unsigned events, loop_io_fn fn, void *arg);
int loop_io_modify(struct loop_io *io, unsigned events);
void loop_io_free(struct loop_io *io); /* accepts NULL */

/* Timers: one-shot; start re-arms (also from the timer's own callback). */
struct loop_timer *loop_timer_new(struct loop *l, loop_timer_fn fn, void *arg);
void loop_timer_start(struct loop_timer *t, uint64_t after_ms);
void loop_timer_stop(struct loop_timer *t);
int loop_timer_active(const struct loop_timer *t);
void loop_timer_free(struct loop_timer *t); /* accepts NULL; stops it */

/* The handler for SIGTERM, SIGINT and SIGHUP (read from a signalfd on the loop). */
void loop_on_signal(struct loop *l, loop_signal_fn fn, void *arg);

/* Register a prepare hook (at most LOOP_PREPARE_MAX). Returns 0 or -1. */
#define LOOP_PREPARE_MAX 32
int loop_add_prepare(struct loop *l, loop_prepare_fn fn, void *arg);
void loop_remove_prepare(struct loop *l, loop_prepare_fn fn, void *arg);

/* Register a pre-sleep hook (at most LOOP_PRESLEEP_MAX): called after every prepare hook, right before
 * the loop sleeps, to hand what this iteration queued to another thread in one go (e.g. one wake-up of
 * the outbox writer for all the puts of an iteration). It must not queue work for the loop itself. */
#define LOOP_PRESLEEP_MAX 4
typedef void (*loop_presleep_fn)(void *arg);
int loop_add_presleep(struct loop *l, loop_presleep_fn fn, void *arg);
void loop_remove_presleep(struct loop *l, loop_presleep_fn fn, void *arg);

/* Run fn(arg) on the loop thread soon. Safe from any thread (mutex + eventfd). 0 or -1 (no memory). */
int loop_post(struct loop *l, loop_post_fn fn, void *arg);

/* Run until loop_stop. Returns 0, or -1 when epoll fails. */
int loop_run(struct loop *l);
void loop_stop(struct loop *l);
/* One iteration, sleeping at most max_ms (-1: as the hooks and timers allow). For tests and drains. */
int loop_once(struct loop *l, long max_ms);

#endif
