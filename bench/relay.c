/* relay.c: a user-space TCP latency relay (epoll, one thread) that makes a service on loopback look as far
 * away as a remote one (this kernel has no netem): bench/remote.sh puts it between the callers and a TLS
 * nginx.
 *
 *   relay -l LISTEN_PORT -t TARGET_PORT -r RTT_MS [-s STATS_FILE] [-m MAX_PAIRS]
 *
 * Every accepted connection gets its own connection to 127.0.0.1:TARGET_PORT. Bytes read from one side are
 * written to the other RTT/2 later, in order; an end of stream is passed on (shutdown) with the same delay.
 * The handshake: the relay's kernel completes the caller's connect() at once, so the relay opens the
 * target's connection 1.5 RTT after the accept and holds the caller's bytes until then; a caller's first
 * bytes reach the target when they would have on a network (SYN, SYN-ACK, then ACK with data), and a new
 * connection's first answer comes back 2 RTT after connect() began, as on a network. With TLS 1.3 a fresh
 * connection thus costs 3 RTT to its first answer. Bandwidth is not limited; a direction holding more than
 * RELAY_QUEUE_MAX bytes is not read until it drains (back-pressure).
 *
 * Each delay is the same, so what waits is due in the order it was read: two FIFOs (one of chunks, one of
 * connects) instead of a timer per chunk; a loop turn costs what is due, not the number of connections.
 *
 * Counts the upstream connections it opened: "connections N active A max_active M bytes_up U bytes_down D"
 * written to STATS_FILE after every accept and close (bench/remote.sh reads it) and to stderr at exit
 * (SIGTERM or SIGINT).
 */
#include <config.h>
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RELAY_CHUNK     65536     /* bytes read at once */
#define RELAY_QUEUE_MAX (4 << 20) /* bytes waiting in one direction before reading it stops */
#define RELAY_PAIRS     8192      /* default -m */
#define LISTENER        UINT64_MAX

struct chunk {
	struct chunk *next;
	int64_t due_us;
	size_t len, off; /* len 0: the end of the stream */
	char data[];
};

struct pair {
	int used;
	uint32_t gen;     /* FIFO entries of an earlier pair in this slot are stale */
	int fd[2];        /* 0: the caller, 1: the target (-1 until the delayed connect) */
	struct chunk *head[2], *tail[2]; /* read FROM side i, waiting to be written to side !i */
	size_t queued[2];
	int eof[2];       /* side i's end was read */
	int shut[2];      /* side i's end was passed on to !i */
	int blocked[2];   /* a write to side i would block: wait for EPOLLOUT */
	int connected;    /* the target's connect completed */
};

struct due { /* one FIFO entry */
	uint32_t slot, gen;
	int side;
	int64_t at;
};
struct fifo {
	struct due *v;
	size_t cap, head, n;
};

static volatile sig_atomic_t stop;
static int64_t half_us; /* RTT/2 */
static int ep, tport;
static struct pair *pairs;
static uint32_t *free_slots, nfree;
static struct fifo chunks_due, connects_due;
static unsigned long long n_conns, n_active, n_max_active, bytes[2];
static const char *stats_path;
static char rbuf[RELAY_CHUNK];

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int fifo_push(struct fifo *f, uint32_t slot, uint32_t gen, int side, int64_t at)
{
	if (f->n == f->cap) {
		size_t nc = f->cap ? f->cap * 2 : 4096, i;
		struct due *nv = malloc(nc * sizeof(*nv));

		if (nv == NULL)
			return -1;
		for (i = 0; i < f->n; i++)
			nv[i] = f->v[(f->head + i) % f->cap];
		free(f->v);
		f->v = nv;
		f->cap = nc;
		f->head = 0;
	}
	f->v[(f->head + f->n) % f->cap] = (struct due){ slot, gen, side, at };
	f->n++;
	return 0;
}

static struct due *fifo_peek(struct fifo *f)
{
	return f->n > 0 ? &f->v[f->head] : NULL;
}

static void fifo_pop(struct fifo *f)
{
	f->head = (f->head + 1) % f->cap;
	f->n--;
}

static void write_stats(void)
{
	char line[256];
	int n = snprintf(line, sizeof line, "connections %llu active %llu max_active %llu bytes_up %llu bytes_down %llu\n",
	                 n_conns, n_active, n_max_active, bytes[0], bytes[1]);
	char tmp[4096];
	FILE *f;

	if (stats_path == NULL || snprintf(tmp, sizeof tmp, "%s.tmp", stats_path) >= (int)sizeof tmp)
		return;
	/* a new file renamed over the old one: a reader never sees it empty or half written */
	if ((f = fopen(tmp, "w")) != NULL) {
		fwrite(line, 1, (size_t)n, f);
		if (fclose(f) == 0)
			rename(tmp, stats_path);
	}
}

static uint64_t tag(uint32_t slot, int side)
{
	return ((uint64_t)slot << 1) | (uint64_t)side;
}

/* What side i of a pair should be told about: readable while its queue has room, writable while a write
 * to it is blocked (the target also while its connect is under way). */
static void side_events(uint32_t slot, int i)
{
	struct pair *p = &pairs[slot];
	struct epoll_event ev = { .data.u64 = tag(slot, i) };

	if (p->fd[i] < 0)
		return;
	if (!p->eof[i] && p->queued[i] < RELAY_QUEUE_MAX && (i == 0 || p->connected))
		ev.events |= EPOLLIN;
	if (p->blocked[i] || (i == 1 && !p->connected))
		ev.events |= EPOLLOUT;
	if (epoll_ctl(ep, EPOLL_CTL_MOD, p->fd[i], &ev) < 0 && errno == ENOENT && ev.events != 0)
		epoll_ctl(ep, EPOLL_CTL_ADD, p->fd[i], &ev); /* dropped after its hang-up, wanted again */
}

static void pair_free(uint32_t slot)
{
	struct pair *p = &pairs[slot];
	int i;

	for (i = 0; i < 2; i++) {
		struct chunk *c = p->head[i], *n;

		for (; c != NULL; c = n) {
			n = c->next;
			free(c);
		}
		if (p->fd[i] >= 0)
			close(p->fd[i]);
	}
	p->used = 0;
	p->gen++;
	free_slots[nfree++] = slot;
	n_active--;
	write_stats();
}

/* Read what side i has; each read is due at the other side RTT/2 later. Returns -1 if the pair died. */
static int side_read(uint32_t slot, int i)
{
	struct pair *p = &pairs[slot];

	while (!p->eof[i] && p->queued[i] < RELAY_QUEUE_MAX) {
		ssize_t n = read(p->fd[i], rbuf, sizeof rbuf);
		struct chunk *c;

		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			return -1;
		}
		if ((c = malloc(sizeof(*c) + (size_t)n)) == NULL)
			return -1;
		memcpy(c->data, rbuf, (size_t)n);
		c->next = NULL;
		c->due_us = now_us() + half_us;
		c->len = (size_t)n;
		c->off = 0;
		if (n == 0)
			p->eof[i] = 1;
		if (p->tail[i] != NULL)
			p->tail[i]->next = c;
		else
			p->head[i] = c;
		p->tail[i] = c;
		p->queued[i] += (size_t)n;
		bytes[i] += (unsigned long long)n;
		if (fifo_push(&chunks_due, slot, p->gen, i, c->due_us) < 0)
			return -1;
		if ((size_t)n < sizeof rbuf)
			break;
	}
	side_events(slot, i);
	return 0;
}

/* Write what is due of what side i sent to side !i. Returns -1 if the pair died. */
static int side_flush(uint32_t slot, int i, int64_t now)
{
	struct pair *p = &pairs[slot];
	int o = !i;

	if (p->fd[o] < 0 || (o == 1 && !p->connected) || p->blocked[o])
		return 0;
	while (p->head[i] != NULL && p->head[i]->due_us <= now) {
		struct chunk *c = p->head[i];

		if (c->len == 0) {
			shutdown(p->fd[o], SHUT_WR);
			p->shut[i] = 1;
		} else {
			ssize_t n = write(p->fd[o], c->data + c->off, c->len - c->off);

			if (n < 0) {
				if (errno == EAGAIN) {
					p->blocked[o] = 1;
					side_events(slot, o);
					return 0;
				}
				return -1;
			}
			c->off += (size_t)n;
			p->queued[i] -= (size_t)n;
			if (c->off < c->len)
				continue;
		}
		p->head[i] = c->next;
		if (p->head[i] == NULL)
			p->tail[i] = NULL;
		free(c);
		if (!p->eof[i] && p->queued[i] + RELAY_CHUNK >= RELAY_QUEUE_MAX)
			side_events(slot, i);
	}
	return 0;
}

static int pair_done(const struct pair *p)
{
	return p->shut[0] && p->shut[1];
}

/* 1.5 RTT after the accept: the target's connection. */
static int pair_connect(uint32_t slot)
{
	struct pair *p = &pairs[slot];
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)tport) };
	struct epoll_event ev = { .data.u64 = tag(slot, 1) };
	int one = 1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((p->fd[1] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0)
		return -1;
	setsockopt(p->fd[1], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(p->fd[1], (struct sockaddr *)&a, sizeof(a)) < 0 && errno != EINPROGRESS)
		return -1;
	n_conns++;
	write_stats();
	if (epoll_ctl(ep, EPOLL_CTL_ADD, p->fd[1], &ev) < 0)
		return -1;
	side_events(slot, 1);
	return 0;
}

static void on_accept(int lfd)
{
	int cfd, one = 1;

	while ((cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		struct epoll_event ev = { 0 };
		uint32_t slot, gen;
		struct pair *p;

		if (nfree == 0) {
			close(cfd);
			continue;
		}
		slot = free_slots[--nfree];
		p = &pairs[slot];
		gen = p->gen;
		memset(p, 0, sizeof(*p));
		p->gen = gen;
		p->used = 1;
		p->fd[0] = cfd;
		p->fd[1] = -1;
		setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		ev.data.u64 = tag(slot, 0);
		epoll_ctl(ep, EPOLL_CTL_ADD, cfd, &ev);
		side_events(slot, 0);
		n_active++;
		if (n_active > n_max_active)
			n_max_active = n_active;
		if (half_us == 0) {
			if (pair_connect(slot) < 0)
				pair_free(slot);
		} else if (fifo_push(&connects_due, slot, p->gen, 1, now_us() + 3 * half_us) < 0) {
			pair_free(slot);
		}
	}
}

static void on_event(uint64_t data, uint32_t events)
{
	uint32_t slot = (uint32_t)(data >> 1);
	int side = (int)(data & 1);
	struct pair *p = &pairs[slot];
	int64_t now = now_us();

	if (!p->used)
		return;
	if (side == 1 && !p->connected && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
		int err = 0;
		socklen_t len = sizeof(err);

		getsockopt(p->fd[1], SOL_SOCKET, SO_ERROR, &err, &len);
		if (err != 0) {
			pair_free(slot);
			return;
		}
		p->connected = 1;
		side_events(slot, 0);
		side_events(slot, 1);
		if (side_flush(slot, 0, now) < 0) {
			pair_free(slot);
			return;
		}
	}
	if ((events & EPOLLOUT) && p->blocked[side]) {
		p->blocked[side] = 0;
		side_events(slot, side);
		if (side_flush(slot, !side, now) < 0) {
			pair_free(slot);
			return;
		}
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		if (side_read(slot, side) < 0) {
			pair_free(slot);
			return;
		}
		if (half_us == 0 && side_flush(slot, side, now_us()) < 0) {
			pair_free(slot);
			return;
		}
	}
	/* a hang-up is reported whatever the mask: once its end is read, stop watching it for reading */
	if ((events & (EPOLLHUP | EPOLLERR)) && p->eof[side] && !p->blocked[side])
		epoll_ctl(ep, EPOLL_CTL_DEL, p->fd[side], NULL);
	if (pair_done(p) && p->head[0] == NULL && p->head[1] == NULL)
		pair_free(slot);
}

/* Run what is due; returns the next due time or 0. */
static int64_t run_due(void)
{
	int64_t now = now_us();
	struct due *d;

	while ((d = fifo_peek(&connects_due)) != NULL && d->at <= now) {
		struct due e = *d;

		fifo_pop(&connects_due);
		if (pairs[e.slot].used && pairs[e.slot].gen == e.gen && pair_connect(e.slot) < 0)
			pair_free(e.slot);
	}
	while ((d = fifo_peek(&chunks_due)) != NULL && d->at <= now) {
		struct due e = *d;
		struct pair *p = &pairs[e.slot];

		fifo_pop(&chunks_due);
		if (!p->used || p->gen != e.gen)
			continue;
		if (side_flush(e.slot, e.side, now) < 0)
			pair_free(e.slot);
		else if (pair_done(p) && p->head[0] == NULL && p->head[1] == NULL)
			pair_free(e.slot);
	}
	{
		struct due *a = fifo_peek(&connects_due), *b = fifo_peek(&chunks_due);
		int64_t next = 0;

		if (a != NULL)
			next = a->at;
		if (b != NULL && (next == 0 || b->at < next))
			next = b->at;
		return next;
	}
}

int main(int argc, char **argv)
{
	int lport = 0, maxp = RELAY_PAIRS, opt, lfd, one = 1;
	double rtt = -1;
	struct sockaddr_in a = { .sin_family = AF_INET };
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = LISTENER };
	uint32_t i;

	while ((opt = getopt(argc, argv, "l:t:r:s:m:")) != -1) {
		switch (opt) {
		case 'l': lport = atoi(optarg); break;
		case 't': tport = atoi(optarg); break;
		case 'r': rtt = atof(optarg); break;
		case 's': stats_path = optarg; break;
		case 'm': maxp = atoi(optarg); break;
		default: goto usage;
		}
	}
	if (lport <= 0 || lport > 65535 || tport <= 0 || tport > 65535 || rtt < 0 || rtt > 10000 || maxp <= 0 ||
	    maxp > 1000000)
		goto usage;
	half_us = (int64_t)(rtt * 500.0);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	pairs = calloc((size_t)maxp, sizeof(*pairs));
	free_slots = calloc((size_t)maxp, sizeof(*free_slots));
	if (pairs == NULL || free_slots == NULL || (ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
		return 1;
	for (i = 0; i < (uint32_t)maxp; i++)
		free_slots[nfree++] = (uint32_t)maxp - 1 - i;
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		return 1;
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	a.sin_port = htons((uint16_t)lport);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(lfd, 4096) < 0) {
		perror("relay: listen");
		return 1;
	}
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	write_stats();
	while (!stop) {
		struct epoll_event evs[512];
		int64_t next = run_due();
		int64_t wait_us = next == 0 ? 1000000 : next - now_us();
		struct timespec ts;
		int n, k;

		if (wait_us < 0)
			wait_us = 0;
		ts.tv_sec = wait_us / 1000000;
		ts.tv_nsec = (long)(wait_us % 1000000) * 1000;
		/* epoll_pwait2: a microsecond timeout (epoll_wait's milliseconds would add up to 1 ms each way) */
		n = epoll_pwait2(ep, evs, 512, &ts, NULL);
		for (k = 0; k < n; k++) {
			if (evs[k].data.u64 == LISTENER)
				on_accept(lfd);
			else
				on_event(evs[k].data.u64, evs[k].events);
		}
	}
	write_stats();
	fprintf(stderr, "relay: connections %llu max_active %llu bytes_up %llu bytes_down %llu\n", n_conns,
	        n_max_active, bytes[0], bytes[1]);
	return 0;
usage:
	fprintf(stderr, "usage: relay -l LISTEN_PORT -t TARGET_PORT -r RTT_MS [-s STATS_FILE] [-m MAX_PAIRS]\n");
	return 2;
}
