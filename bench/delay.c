/* delay.c: a TCP relay that adds a fixed one-way delay each way, so that a service on loopback looks as far
 * away as a remote one (this kernel has no netem). bench/remote.sh puts it between the callers and a TLS
 * nginx: with -d 10 a round trip costs 20 ms more, handshakes included, as on a real network.
 *
 *   delay -l LISTEN_PORT -t TARGET_PORT -d ONE_WAY_MS [-m MAX_PAIRS]
 *
 * Each accepted connection gets its own connection to 127.0.0.1:TARGET_PORT. Bytes read from one side are
 * written to the other ONE_WAY_MS later, in order; an end of stream is passed on (shutdown) with the same
 * delay. The kernel completes the caller's TCP handshake at once, so the caller's first bytes wait two
 * more one-way delays: they reach the target when they would have after a SYN, a SYN-ACK and the data
 * (1.5 round trips after connect() began), as on a real network. Bandwidth is not limited. A side whose data waits beyond DELAY_QUEUE_MAX bytes is not read until
 * the queue drains (back-pressure). Prints "accepted N" to stderr for every connection (bench/remote.sh
 * counts upstream connections with it) and exits on SIGTERM or SIGINT.
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

#define DELAY_CHUNK     65536          /* bytes read at once */
#define DELAY_QUEUE_MAX (4 << 20)      /* bytes waiting in one direction before reading stops */
#define DELAY_PAIRS     4096           /* default -m */

struct chunk {
	struct chunk *next;
	int64_t due_us;
	size_t len, off; /* len 0: the end of the stream */
	char data[];
};

struct side {
	int fd;
	struct chunk *head, *tail; /* what was read FROM this side, waiting to be written to the peer */
	size_t queued;
	int eof_read;   /* read returned 0 */
	int got_data;   /* something was read from it */
	int shut_done;  /* the peer's end was passed on to this side */
	int want_out;   /* EPOLLOUT registered */
};

struct pair {
	struct side s[2]; /* 0: the caller, 1: the target */
	int connected;    /* the target's connect completed */
	int dead;
};

static volatile sig_atomic_t stop;
static int64_t delay_us;
static int ep;

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

static void side_events(struct pair *p, int i)
{
	struct side *s = &p->s[i];
	struct epoll_event ev = { 0 };

	ev.data.u64 = ((uint64_t)(uintptr_t)p << 1) | (uint64_t)i;
	if (!s->eof_read && s->queued < DELAY_QUEUE_MAX && (i == 0 || p->connected))
		ev.events |= EPOLLIN;
	if (s->want_out || (i == 1 && !p->connected))
		ev.events |= EPOLLOUT;
	epoll_ctl(ep, EPOLL_CTL_MOD, s->fd, &ev);
}

static void pair_free(struct pair *p)
{
	int i;

	for (i = 0; i < 2; i++) {
		struct chunk *c = p->s[i].head, *n;

		for (; c != NULL; c = n) {
			n = c->next;
			free(c);
		}
		close(p->s[i].fd);
	}
	free(p);
}

/* Read what side i has into its queue. */
static void side_read(struct pair *p, int i)
{
	struct side *s = &p->s[i];

	while (!s->eof_read && s->queued < DELAY_QUEUE_MAX) {
		struct chunk *c = malloc(sizeof(*c) + DELAY_CHUNK);
		ssize_t n;

		if (c == NULL) {
			p->dead = 1;
			return;
		}
		n = read(s->fd, c->data, DELAY_CHUNK);
		if (n < 0) {
			free(c);
			if (errno != EAGAIN && errno != EINTR)
				p->dead = 1;
			break;
		}
		c->next = NULL;
		/* the caller's first bytes also pay for the TCP handshake the kernel did not delay */
		c->due_us = now_us() + (i == 0 && !s->got_data ? 3 * delay_us : delay_us);
		s->got_data = 1;
		c->len = (size_t)n;
		c->off = 0;
		if (n == 0)
			s->eof_read = 1;
		if (s->tail != NULL)
			s->tail->next = c;
		else
			s->head = c;
		s->tail = c;
		s->queued += (size_t)n;
		if ((size_t)n < DELAY_CHUNK)
			break;
	}
	side_events(p, i);
}

/* Write what is due of side i's queue to its peer. Returns the next due time, or 0. */
static int64_t side_flush(struct pair *p, int i, int64_t now)
{
	struct side *s = &p->s[i], *o = &p->s[!i];

	if (i == 0 && !p->connected)
		return s->head != NULL ? s->head->due_us : 0;
	while (s->head != NULL && s->head->due_us <= now) {
		struct chunk *c = s->head;

		if (c->len == 0) {
			shutdown(o->fd, SHUT_WR);
			o->shut_done = 1;
		} else {
			ssize_t n = write(o->fd, c->data + c->off, c->len - c->off);

			if (n < 0) {
				if (errno == EAGAIN) {
					if (!o->want_out) {
						o->want_out = 1;
						side_events(p, !i);
					}
					return 0;
				}
				p->dead = 1;
				return 0;
			}
			c->off += (size_t)n;
			s->queued -= (size_t)n;
			if (c->off < c->len)
				continue;
		}
		s->head = c->next;
		if (s->head == NULL)
			s->tail = NULL;
		free(c);
		if (s->queued < DELAY_QUEUE_MAX && !s->eof_read)
			side_events(p, i);
	}
	if (o->want_out) {
		o->want_out = 0;
		side_events(p, !i);
	}
	return s->head != NULL ? s->head->due_us : 0;
}

static struct pair *pair_new(int cfd, int tport)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)tport) };
	struct pair *p = calloc(1, sizeof(*p));
	struct epoll_event ev = { 0 };
	int one = 1, i;

	if (p == NULL)
		return NULL;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	p->s[0].fd = cfd;
	p->s[1].fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p->s[1].fd < 0) {
		free(p);
		return NULL;
	}
	for (i = 0; i < 2; i++)
		setsockopt(p->s[i].fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(p->s[1].fd, (struct sockaddr *)&a, sizeof(a)) < 0 && errno != EINPROGRESS) {
		close(p->s[1].fd);
		free(p);
		return NULL;
	}
	for (i = 0; i < 2; i++) {
		ev.data.u64 = ((uint64_t)(uintptr_t)p << 1) | (uint64_t)i;
		ev.events = 0;
		epoll_ctl(ep, EPOLL_CTL_ADD, p->s[i].fd, &ev);
		side_events(p, i);
	}
	return p;
}

int main(int argc, char **argv)
{
	int lport = 0, tport = 0, maxp = DELAY_PAIRS, opt, lfd, one = 1;
	long accepted = 0, npairs = 0;
	struct pair **pairs;
	struct sockaddr_in a = { .sin_family = AF_INET };
	struct epoll_event ev = { .events = EPOLLIN };

	while ((opt = getopt(argc, argv, "l:t:d:m:")) != -1) {
		switch (opt) {
		case 'l': lport = atoi(optarg); break;
		case 't': tport = atoi(optarg); break;
		case 'd': delay_us = (int64_t)(atof(optarg) * 1000.0); break;
		case 'm': maxp = atoi(optarg); break;
		default: goto usage;
		}
	}
	if (lport <= 0 || lport > 65535 || tport <= 0 || tport > 65535 || delay_us < 0 || maxp <= 0)
		goto usage;
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	if ((pairs = calloc((size_t)maxp, sizeof(*pairs))) == NULL || (ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
		return 1;
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	a.sin_port = htons((uint16_t)lport);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(lfd, 4096) < 0) {
		perror("delay: listen");
		return 1;
	}
	ev.data.u64 = 0;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	while (!stop) {
		struct epoll_event evs[256];
		int64_t now, next = 0;
		int n, i, timeout;
		long k;

		now = now_us();
		for (k = 0; k < npairs; k++) { /* what is due, and when the next is */
			struct pair *p = pairs[k];
			int j;

			for (j = 0; j < 2 && !p->dead; j++) {
				int64_t d = side_flush(p, j, now);

				if (d > 0 && (next == 0 || d < next))
					next = d;
			}
			if (p->dead || (p->s[0].shut_done && p->s[1].shut_done)) {
				pair_free(p);
				pairs[k--] = pairs[--npairs];
			}
		}
		timeout = next == 0 ? 1000 : (int)((next - now_us() + 999) / 1000);
		if (timeout < 0)
			timeout = 0;
		n = epoll_wait(ep, evs, 256, timeout);
		for (i = 0; i < n; i++) {
			struct pair *p;
			int side;

			if (evs[i].data.u64 == 0) {
				int cfd;

				while ((cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
					if (npairs >= maxp || (pairs[npairs] = pair_new(cfd, tport)) == NULL) {
						close(cfd);
						continue;
					}
					npairs++;
					fprintf(stderr, "accepted %ld\n", ++accepted);
				}
				continue;
			}
			p = (struct pair *)(uintptr_t)(evs[i].data.u64 >> 1);
			side = (int)(evs[i].data.u64 & 1);
			if (p->dead)
				continue;
			if (side == 1 && !p->connected && (evs[i].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
				int err = 0;
				socklen_t len = sizeof(err);

				getsockopt(p->s[1].fd, SOL_SOCKET, SO_ERROR, &err, &len);
				if (err != 0) {
					p->dead = 1;
					continue;
				}
				p->connected = 1;
				side_events(p, 0);
				side_events(p, 1);
			}
			if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
				side_read(p, side);
			/* a hang-up is reported whatever the mask: once its end is read, stop watching it (writes to
			 * it need no events unless they block, and a closed peer fails them) */
			if ((evs[i].events & (EPOLLHUP | EPOLLERR)) && p->s[side].eof_read)
				epoll_ctl(ep, EPOLL_CTL_DEL, p->s[side].fd, NULL);
		}
	}
	return 0;
usage:
	fprintf(stderr, "usage: delay -l LISTEN_PORT -t TARGET_PORT -d ONE_WAY_MS [-m MAX_PAIRS]\n");
	return 2;
}
