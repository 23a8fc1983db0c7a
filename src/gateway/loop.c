/* loop.c: epoll event loop with fd watchers, a timer min-heap, a signalfd and a cross-thread post queue. */
#include <config.h>
#include "loop.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define LOOP_EVENTS_MAX 256
#define TIMER_IDLE      SIZE_MAX

struct loop_io {
	struct loop *l;
	int fd;
	unsigned events;
	loop_io_fn fn;
	void *arg;
	int dead;
	struct loop_io *next_dead;
};

struct loop_timer {
	struct loop *l;
	uint64_t due;
	size_t idx; /* position in the heap, TIMER_IDLE when not armed */
	loop_timer_fn fn;
	void *arg;
};

struct post {
	loop_post_fn fn;
	void *arg;
	struct post *next;
};

struct hook { /* a prepare hook (prep set) or a pre-sleep hook (sleep set) */
	loop_prepare_fn prep;
	loop_presleep_fn sleep;
	void *arg;
};

struct loop {
	int epfd;
	int sigfd;
	int evfd;
	struct loop_io *sigio;
	struct loop_io *evio;
	struct loop_timer **heap;
	size_t nheap, capheap;
	struct hook prep[LOOP_PREPARE_MAX];
	size_t nprep;
	struct hook presleep[LOOP_PRESLEEP_MAX];
	size_t npresleep;
	loop_signal_fn sigfn;
	void *sigarg;
	pthread_mutex_t mu;
	struct post *phead, *ptail;
	struct loop_io *dead;
	int stop;
};

uint64_t loop_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- timers: a binary min-heap on due ---- */

static void heap_swap(struct loop *l, size_t a, size_t b)
{
	struct loop_timer *t = l->heap[a];

	l->heap[a] = l->heap[b];
	l->heap[b] = t;
	l->heap[a]->idx = a;
	l->heap[b]->idx = b;
}

static void heap_up(struct loop *l, size_t i)
{
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (l->heap[p]->due <= l->heap[i]->due)
			break;
		heap_swap(l, p, i);
		i = p;
	}
}

static void heap_down(struct loop *l, size_t i)
{
	for (;;) {
		size_t c = 2 * i + 1, m = i;
		if (c < l->nheap && l->heap[c]->due < l->heap[m]->due)
			m = c;
		if (c + 1 < l->nheap && l->heap[c + 1]->due < l->heap[m]->due)
			m = c + 1;
		if (m == i)
			break;
		heap_swap(l, i, m);
		i = m;
	}
}

static void heap_remove(struct loop *l, size_t i)
{
	size_t last = l->nheap - 1;

	l->heap[i]->idx = TIMER_IDLE;
	if (i != last) {
		l->heap[i] = l->heap[last];
		l->heap[i]->idx = i;
		l->nheap--;
		heap_down(l, i);
		heap_up(l, i);
	} else {
		l->nheap--;
	}
}

struct loop_timer *loop_timer_new(struct loop *l, loop_timer_fn fn, void *arg)
{
	struct loop_timer *t = calloc(1, sizeof *t);

	if (t == NULL)
		return NULL;
	t->l = l;
	t->fn = fn;
	t->arg = arg;
	t->idx = TIMER_IDLE;
	return t;
}

void loop_timer_start(struct loop_timer *t, uint64_t after_ms)
{
	struct loop *l = t->l;

	if (t->idx != TIMER_IDLE)
		heap_remove(l, t->idx);
	if (l->nheap == l->capheap) {
		size_t ncap = l->capheap ? l->capheap * 2 : 64;
		struct loop_timer **nh = realloc(l->heap, ncap * sizeof *nh);
		if (nh == NULL) {
			log_err("loop: out of memory arming a timer");
			return;
		}
		l->heap = nh;
		l->capheap = ncap;
	}
	t->due = loop_now_ms() + after_ms;
	t->idx = l->nheap;
	l->heap[l->nheap++] = t;
	heap_up(l, t->idx);
}

void loop_timer_stop(struct loop_timer *t)
{
	if (t != NULL && t->idx != TIMER_IDLE)
		heap_remove(t->l, t->idx);
}

int loop_timer_active(const struct loop_timer *t)
{
	return t != NULL && t->idx != TIMER_IDLE;
}

void loop_timer_free(struct loop_timer *t)
{
	if (t == NULL)
		return;
	loop_timer_stop(t);
	free(t);
}

/* ---- fd watchers ---- */

static uint32_t to_epoll(unsigned ev)
{
	return ((ev & LOOP_READ) ? EPOLLIN : 0u) | ((ev & LOOP_WRITE) ? EPOLLOUT : 0u);
}

struct loop_io *loop_io_add(struct loop *l, int fd, unsigned events, loop_io_fn fn, void *arg)
{
	struct loop_io *io = calloc(1, sizeof *io);
	struct epoll_event ev;

	if (io == NULL)
		return NULL;
	io->l = l;
	io->fd = fd;
	io->events = events;
	io->fn = fn;
	io->arg = arg;
	memset(&ev, 0, sizeof ev);
	ev.events = to_epoll(events);
	ev.data.ptr = io;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		log_err("loop: epoll_ctl(ADD, %d): %s", fd, strerror(errno));
		free(io);
		return NULL;
	}
	return io;
}

int loop_io_modify(struct loop_io *io, unsigned events)
{
	struct epoll_event ev;

	if (io->events == events)
		return 0;
	memset(&ev, 0, sizeof ev);
	ev.events = to_epoll(events);
	ev.data.ptr = io;
	if (epoll_ctl(io->l->epfd, EPOLL_CTL_MOD, io->fd, &ev) < 0) {
		log_err("loop: epoll_ctl(MOD, %d): %s", io->fd, strerror(errno));
		return -1;
	}
	io->events = events;
	return 0;
}

void loop_io_free(struct loop_io *io)
{
	if (io == NULL || io->dead)
		return;
	/* EBADF when the owner closed the fd first: the kernel already forgot it */
	(void)epoll_ctl(io->l->epfd, EPOLL_CTL_DEL, io->fd, NULL);
	io->dead = 1;
	io->next_dead = io->l->dead;
	io->l->dead = io; /* freed after the current batch of events */
}

static void reap(struct loop *l)
{
	while (l->dead != NULL) {
		struct loop_io *io = l->dead;
		l->dead = io->next_dead;
		free(io);
	}
}

/* ---- signals and posts ---- */

static void on_signalfd(int fd, unsigned events, void *arg)
{
	struct loop *l = arg;
	struct signalfd_siginfo si;

	(void)events;
	while (read(fd, &si, sizeof si) == (ssize_t)sizeof si) {
		if (l->sigfn != NULL)
			l->sigfn((int)si.ssi_signo, l->sigarg);
	}
}

static void on_eventfd(int fd, unsigned events, void *arg)
{
	struct loop *l = arg;
	struct post *p;
	uint64_t v;

	(void)events;
	while (read(fd, &v, sizeof v) == (ssize_t)sizeof v)
		;
	pthread_mutex_lock(&l->mu);
	p = l->phead;
	l->phead = l->ptail = NULL;
	pthread_mutex_unlock(&l->mu);
	while (p != NULL) {
		struct post *next = p->next;
		p->fn(p->arg);
		free(p);
		p = next;
	}
}

int loop_post(struct loop *l, loop_post_fn fn, void *arg)
{
	struct post *p = malloc(sizeof *p);
	uint64_t one = 1;

	if (p == NULL)
		return -1;
	p->fn = fn;
	p->arg = arg;
	p->next = NULL;
	pthread_mutex_lock(&l->mu);
	if (l->ptail != NULL)
		l->ptail->next = p;
	else
		l->phead = p;
	l->ptail = p;
	pthread_mutex_unlock(&l->mu);
	/* EAGAIN means the counter is already non-zero: the loop wakes anyway */
	(void)!write(l->evfd, &one, sizeof one);
	return 0;
}

void loop_on_signal(struct loop *l, loop_signal_fn fn, void *arg)
{
	l->sigfn = fn;
	l->sigarg = arg;
}

static int hook_add(struct hook *h, size_t *n, size_t max, struct hook v)
{
	if (*n == max)
		return -1;
	h[(*n)++] = v;
	return 0;
}

static void hook_remove(struct hook *h, size_t *n, struct hook v)
{
	size_t i;

	for (i = 0; i < *n; i++) {
		if (h[i].prep == v.prep && h[i].sleep == v.sleep && h[i].arg == v.arg) {
			memmove(&h[i], &h[i + 1], (*n - i - 1) * sizeof h[0]);
			(*n)--;
			return;
		}
	}
}

int loop_add_prepare(struct loop *l, loop_prepare_fn fn, void *arg)
{
	return hook_add(l->prep, &l->nprep, LOOP_PREPARE_MAX, (struct hook){ fn, NULL, arg });
}

void loop_remove_prepare(struct loop *l, loop_prepare_fn fn, void *arg)
{
	hook_remove(l->prep, &l->nprep, (struct hook){ fn, NULL, arg });
}

int loop_add_presleep(struct loop *l, loop_presleep_fn fn, void *arg)
{
	return hook_add(l->presleep, &l->npresleep, LOOP_PRESLEEP_MAX, (struct hook){ NULL, fn, arg });
}

void loop_remove_presleep(struct loop *l, loop_presleep_fn fn, void *arg)
{
	hook_remove(l->presleep, &l->npresleep, (struct hook){ NULL, fn, arg });
}

/* ---- life cycle ---- */

struct loop *loop_new(void)
{
	struct loop *l = calloc(1, sizeof *l);
	sigset_t set;

	if (l == NULL)
		return NULL;
	l->epfd = l->sigfd = l->evfd = -1;
	pthread_mutex_init(&l->mu, NULL);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
		goto bad;
	if ((l->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
	    (l->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) < 0 ||
	    (l->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
		goto bad;
	if ((l->sigio = loop_io_add(l, l->sigfd, LOOP_READ, on_signalfd, l)) == NULL ||
	    (l->evio = loop_io_add(l, l->evfd, LOOP_READ, on_eventfd, l)) == NULL)
		goto bad;
	return l;
bad:
	log_err("loop: cannot create the event loop: %s", strerror(errno));
	loop_free(l);
	return NULL;
}

void loop_free(struct loop *l)
{
	struct post *p;

	if (l == NULL)
		return;
	loop_io_free(l->sigio);
	loop_io_free(l->evio);
	reap(l);
	for (p = l->phead; p != NULL;) {
		struct post *next = p->next;
		free(p);
		p = next;
	}
	while (l->nheap > 0)
		heap_remove(l, l->nheap - 1);
	free(l->heap);
	if (l->evfd >= 0)
		close(l->evfd);
	if (l->sigfd >= 0)
		close(l->sigfd);
	if (l->epfd >= 0)
		close(l->epfd);
	pthread_mutex_destroy(&l->mu);
	free(l);
}

static void run_timers(struct loop *l)
{
	uint64_t now = loop_now_ms();
	size_t budget = l->nheap; /* a timer re-armed at 0 ms waits for the next iteration */

	while (budget-- > 0 && l->nheap > 0 && l->heap[0]->due <= now) {
		struct loop_timer *t = l->heap[0];
		heap_remove(l, 0);
		t->fn(t->arg);
	}
}

int loop_once(struct loop *l, long max_ms)
{
	struct epoll_event evs[LOOP_EVENTS_MAX];
	long timeout = max_ms;
	size_t i;
	int n;

	for (i = 0; i < l->nprep; i++) {
		long t = l->prep[i].prep(l->prep[i].arg);
		if (t >= 0 && (timeout < 0 || t < timeout))
			timeout = t;
	}
	if (l->nheap > 0) {
		uint64_t now = loop_now_ms(), due = l->heap[0]->due;
		long t = due <= now ? 0 : (long)(due - now > 86400000u ? 86400000u : due - now);
		if (timeout < 0 || t < timeout)
			timeout = t;
	}
	for (i = 0; i < l->npresleep; i++)
		l->presleep[i].sleep(l->presleep[i].arg);
	log_flush(); /* the lines of the last iteration, in one write, before sleeping */
	n = epoll_wait(l->epfd, evs, LOOP_EVENTS_MAX, timeout > 86400000L ? 86400000 : (int)timeout);
	if (n < 0) {
		if (errno == EINTR)
			return 0;
		log_err("loop: epoll_wait: %s", strerror(errno));
		return -1;
	}
	for (i = 0; i < (size_t)n; i++) {
		struct loop_io *io = evs[i].data.ptr;
		unsigned ev = 0;
		if (io->dead)
			continue;
		if (evs[i].events & EPOLLIN)
			ev |= LOOP_READ;
		if (evs[i].events & EPOLLOUT)
			ev |= LOOP_WRITE;
		if (evs[i].events & (EPOLLERR | EPOLLHUP))
			ev |= LOOP_ERROR;
		io->fn(io->fd, ev, io->arg);
	}
	run_timers(l);
	reap(l);
	return 0;
}

int loop_run(struct loop *l)
{
	int rc = 0;

	l->stop = 0;
	log_batch(1);
	while (!l->stop)
		if (loop_once(l, -1) < 0) {
			rc = -1;
			break;
		}
	log_batch(0);
	return rc;
}

void loop_stop(struct loop *l)
{
	l->stop = 1;
}
