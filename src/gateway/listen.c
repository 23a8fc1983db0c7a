/* listen.c: open the listening sockets (Unix with mode and group, loopback TCP, systemd socket activation). */
#include <config.h>
#include "listen.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "cfg.h"
#include "log.h"

#define SD_LISTEN_FDS_START 3

int listen_parse_tcp(const char *addr, int allow_non_loopback, struct sockaddr_storage *ss, socklen_t *sslen,
                     int *loopback, char *err, size_t errlen)
{
	char host[128];
	const char *colon, *port;
	char *end;
	unsigned long pv;
	size_t hl;

	memset(ss, 0, sizeof *ss);
	if (addr[0] == '[') {
		const char *rb = strchr(addr, ']');
		if (rb == NULL || rb[1] != ':') {
			snprintf(err, errlen, "expected [IPV6]:PORT");
			return -1;
		}
		hl = (size_t)(rb - addr - 1);
		colon = rb + 1;
		if (hl == 0 || hl >= sizeof host) {
			snprintf(err, errlen, "bad IPv6 address");
			return -1;
		}
		memcpy(host, addr + 1, hl);
	} else {
		colon = strrchr(addr, ':');
		if (colon == NULL || colon == addr) {
			snprintf(err, errlen, "expected HOST:PORT");
			return -1;
		}
		hl = (size_t)(colon - addr);
		if (hl >= sizeof host) {
			snprintf(err, errlen, "host too long");
			return -1;
		}
		memcpy(host, addr, hl);
	}
	host[hl] = '\0';
	port = colon + 1;
	errno = 0;
	pv = strtoul(port, &end, 10);
	if (*port < '0' || *port > '9' || *end != '\0' || errno != 0 || pv > 65535) {
		snprintf(err, errlen, "bad port (0..65535)");
		return -1;
	}
	if (addr[0] != '[' && strcasecmp(host, "localhost") == 0)
		snprintf(host, sizeof host, "127.0.0.1");
	if (addr[0] == '[') {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
		if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1) {
			snprintf(err, errlen, "bad IPv6 address");
			return -1;
		}
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)pv);
		*sslen = sizeof *s6;
		*loopback = IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr) ||
		            (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr) && s6->sin6_addr.s6_addr[12] == 127);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
		if (inet_pton(AF_INET, host, &s4->sin_addr) != 1) {
			snprintf(err, errlen, "bad address (an IPv4 address, [IPv6] or localhost)");
			return -1;
		}
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)pv);
		*sslen = sizeof *s4;
		*loopback = (ntohl(s4->sin_addr.s_addr) >> 24) == 127;
	}
	if (!*loopback && !allow_non_loopback) {
		snprintf(err, errlen,
		         "not a loopback address (set listen.allow_non_loopback = true to allow it)");
		return -1;
	}
	return 0;
}

static int set_flags(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -1;
	fl = fcntl(fd, F_GETFD);
	if (fl < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0)
		return -1;
	return 0;
}

int listen_unix(const char *path, mode_t mode, int set_group, gid_t gid, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	struct stat st;
	mode_t old;
	int fd = -1, probe;

	if (strlen(path) >= sizeof sa.sun_path) {
		snprintf(err, errlen, "unix socket %s: path too long", path);
		return -1;
	}
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path));
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "unix socket %s: the path exists and is not a socket", path);
			return -1;
		}
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe < 0) {
			snprintf(err, errlen, "socket(): %s", strerror(errno));
			return -1;
		}
		if (connect(probe, (struct sockaddr *)&sa, sizeof sa) == 0) {
			close(probe);
			snprintf(err, errlen, "another wpsgated is listening on %s", path);
			return -1;
		}
		if (errno != ECONNREFUSED && errno != ENOENT) {
			snprintf(err, errlen, "unix socket %s: probing the existing socket: %s", path,
			         strerror(errno));
			close(probe);
			return -1;
		}
		close(probe);
		if (unlink(path) < 0 && errno != ENOENT) {
			snprintf(err, errlen, "unix socket %s: removing the stale socket: %s", path,
			         strerror(errno));
			return -1;
		}
		log_info("removed the stale socket %s", path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket(): %s", strerror(errno));
		return -1;
	}
	old = umask(0177); /* no moment with a wider mode than 0600 */
	if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		umask(old);
		snprintf(err, errlen, "unix socket %s: bind: %s", path, strerror(errno));
		goto bad;
	}
	umask(old);
	if (set_group && chown(path, (uid_t)-1, gid) < 0) {
		snprintf(err, errlen, "unix socket %s: chown to group %u: %s", path, (unsigned)gid,
		         strerror(errno));
		goto bad_unlink;
	}
	if (chmod(path, mode) < 0) {
		snprintf(err, errlen, "unix socket %s: chmod: %s", path, strerror(errno));
		goto bad_unlink;
	}
	if (listen(fd, SOMAXCONN) < 0) {
		snprintf(err, errlen, "unix socket %s: listen: %s", path, strerror(errno));
		goto bad_unlink;
	}
	return fd;
bad_unlink:
	unlink(path);
bad:
	close(fd);
	return -1;
}

int listen_tcp(const char *addr, int allow_non_loopback, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	char why[128];
	int fd, loopback, one = 1;

	if (listen_parse_tcp(addr, allow_non_loopback, &ss, &sl, &loopback, why, sizeof why) < 0) {
		snprintf(err, errlen, "listen.tcp %s: %s", addr, why);
		return -1;
	}
	if (!loopback)
		log_warn("listening on %s, which is not a loopback address: anyone who can reach it can send "
		         "through the gateway (listen.allow_non_loopback = true)",
		         addr);
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		snprintf(err, errlen, "listen.tcp %s: socket: %s", addr, strerror(errno));
		return -1;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (ss.ss_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	if (bind(fd, (struct sockaddr *)&ss, sl) < 0) {
		snprintf(err, errlen, "listen.tcp %s: bind: %s", addr, strerror(errno));
		goto bad;
	}
	if (listen(fd, SOMAXCONN) < 0) {
		snprintf(err, errlen, "listen.tcp %s: listen: %s", addr, strerror(errno));
		goto bad;
	}
	return fd;
bad:
	close(fd);
	return -1;
}

void listen_describe(int fd, char *out, size_t outlen)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	char a[INET6_ADDRSTRLEN];

	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
		snprintf(out, outlen, "fd%d", fd);
		return;
	}
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &s4->sin_addr, a, sizeof a);
		snprintf(out, outlen, "%s:%u", a, ntohs(s4->sin_port));
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof a);
		snprintf(out, outlen, "[%s]:%u", a, ntohs(s6->sin6_port));
	} else if (ss.ss_family == AF_UNIX) {
		struct sockaddr_un *su = (struct sockaddr_un *)&ss;
		if (sl > offsetof(struct sockaddr_un, sun_path) && su->sun_path[0] != '\0')
			snprintf(out, outlen, "%.*s", (int)(sl - offsetof(struct sockaddr_un, sun_path)),
			         su->sun_path);
		else
			snprintf(out, outlen, "unix:(unnamed)");
	} else {
		snprintf(out, outlen, "fd%d", fd);
	}
}

int listen_from_systemd(struct listen_set *set, char *err, size_t errlen)
{
	const char *spid = getenv("LISTEN_PID"), *sfds = getenv("LISTEN_FDS"),
	           *snames = getenv("LISTEN_FDNAMES");
	char names[1024] = "";
	char *end, *save = NULL, *tok;
	unsigned long pid, nfds, i;
	int rc = -1;

	if (spid == NULL || sfds == NULL)
		return 0;
	errno = 0;
	pid = strtoul(spid, &end, 10);
	if (errno != 0 || *end != '\0' || pid != (unsigned long)getpid()) {
		rc = 0; /* meant for another process */
		goto out;
	}
	nfds = strtoul(sfds, &end, 10);
	if (errno != 0 || *end != '\0' || nfds > LISTEN_MAX - set->n) {
		snprintf(err, errlen, "LISTEN_FDS: not a number of sockets up to %d", LISTEN_MAX);
		goto out;
	}
	if (snames != NULL)
		snprintf(names, sizeof names, "%s", snames);
	tok = strtok_r(names, ":", &save);
	for (i = 0; i < nfds; i++, tok = tok ? strtok_r(NULL, ":", &save) : NULL) {
		struct listen_sock *ls = &set->v[set->n];
		struct sockaddr_storage ss;
		socklen_t sl = sizeof ss;
		int fd = SD_LISTEN_FDS_START + (int)i, acc = 0;
		socklen_t al = sizeof acc;
		char where[128];

		if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &al) < 0 || !acc ||
		    getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) {
			snprintf(err, errlen, "LISTEN_FDS: fd %d is not a listening socket", fd);
			goto out;
		}
		if (ss.ss_family != AF_UNIX && ss.ss_family != AF_INET && ss.ss_family != AF_INET6) {
			snprintf(err, errlen, "LISTEN_FDS: fd %d is not a unix or TCP socket", fd);
			goto out;
		}
		if (set_flags(fd) < 0) {
			snprintf(err, errlen, "LISTEN_FDS: fd %d: %s", fd, strerror(errno));
			goto out;
		}
		memset(ls, 0, sizeof *ls);
		ls->fd = fd;
		ls->is_unix = ss.ss_family == AF_UNIX;
		ls->activated = 1;
		listen_describe(fd, where, sizeof where);
		snprintf(ls->name, sizeof ls->name, "systemd:%s:%s", tok ? tok : "-", where);
		set->n++;
	}
	rc = (int)nfds;
out:
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return rc;
}

int listen_open_all(const struct cfg *c, struct listen_set *set, char *err, size_t errlen)
{
	size_t i;
	int n;

	memset(set, 0, sizeof *set);
	n = listen_from_systemd(set, err, errlen);
	if (n < 0)
		goto bad;
	if (n > 0) {
		log_info("using %d socket(s) passed by systemd; listen.unix and listen.tcp are not opened",
		         n);
		return 0;
	}
	if (c->unix_path != NULL) {
		struct listen_sock *ls = &set->v[set->n];
		int fd = listen_unix(c->unix_path, c->unix_mode, c->unix_group_set, c->unix_gid, err, errlen);
		if (fd < 0)
			goto bad;
		memset(ls, 0, sizeof *ls);
		ls->fd = fd;
		ls->is_unix = 1;
		snprintf(ls->name, sizeof ls->name, "unix:%s", c->unix_path);
		if ((ls->unlink_path = strdup(c->unix_path)) == NULL) {
			close(fd);
			unlink(c->unix_path);
			snprintf(err, errlen, "out of memory");
			goto bad;
		}
		set->n++;
	}
	for (i = 0; i < c->ntcp && set->n < LISTEN_MAX; i++) {
		struct listen_sock *ls = &set->v[set->n];
		char where[128];
		int fd = listen_tcp(c->tcp[i], c->allow_non_loopback, err, errlen);
		if (fd < 0)
			goto bad;
		memset(ls, 0, sizeof *ls);
		ls->fd = fd;
		listen_describe(fd, where, sizeof where);
		snprintf(ls->name, sizeof ls->name, "tcp:%s", where);
		set->n++;
	}
	return 0;
bad:
	listen_close_all(set);
	return -1;
}

void listen_close_all(struct listen_set *set)
{
	size_t i;

	for (i = 0; i < set->n; i++) {
		struct listen_sock *ls = &set->v[i];
		if (ls->fd >= 0)
			close(ls->fd);
		ls->fd = -1;
		if (ls->unlink_path != NULL) {
			unlink(ls->unlink_path);
			free(ls->unlink_path);
			ls->unlink_path = NULL;
		}
	}
	set->n = 0;
}
