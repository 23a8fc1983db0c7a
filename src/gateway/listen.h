/* listen.h: the gateway's listening sockets: a Unix socket, loopback TCP, or sockets systemd passed. */
#ifndef WPS_GW_LISTEN_H
#define WPS_GW_LISTEN_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

struct cfg;

#define LISTEN_MAX 32 /* listening sockets, configured or passed by systemd */

struct listen_sock {
	int fd;
	int is_unix;    /* AF_UNIX: peers identified by SO_PEERCRED */
	int activated;  /* passed by systemd (LISTEN_FDS) */
	char name[160]; /* for logs: "unix:/run/wpsgate/wpsgate.sock", "tcp:127.0.0.1:7080", "systemd:NAME" */
	char *unlink_path; /* the socket file this process created (unlinked on close), or NULL */
};

struct listen_set {
	struct listen_sock v[LISTEN_MAX];
	size_t n;
};

/* Parse "127.0.0.1:7080", "[::1]:7080" or "localhost:7080" (localhost = 127.0.0.1). Port 0 picks a
 * free port. A non-loopback address is refused unless allow_non_loopback (*loopback tells which).
 * Returns 0 or -1 with a reason in err. */
int listen_parse_tcp(const char *addr, int allow_non_loopback, struct sockaddr_storage *ss, socklen_t *sslen,
                     int *loopback, char *err, size_t errlen);

/* A listening Unix socket at path with mode and (when set_group) group gid. A stale socket file
 * (connect() refused) is replaced; a live one is not: "another wpsgated is listening on PATH".
 * Returns the fd (non-blocking, close-on-exec) or -1 with err. */
int listen_unix(const char *path, mode_t mode, int set_group, gid_t gid, char *err, size_t errlen);
/* A listening TCP socket on addr (listen_parse_tcp rules). Returns the fd or -1 with err. */
int listen_tcp(const char *addr, int allow_non_loopback, char *err, size_t errlen);

/* Take the sockets systemd passed (LISTEN_PID, LISTEN_FDS, LISTEN_FDNAMES) into set and unset
 * those variables. Returns how many (0: none were passed), or -1 with err. */
int listen_from_systemd(struct listen_set *set, char *err, size_t errlen);

/* Open every listener: the systemd ones when passed (they replace the configured ones), else
 * listen.unix and listen.tcp. Returns 0 or -1 with err (everything opened so far closed again). */
int listen_open_all(const struct cfg *c, struct listen_set *set, char *err, size_t errlen);
/* Close every fd still open (fd >= 0) and unlink the socket files this process created. */
void listen_close_all(struct listen_set *set);
/* The local address of fd as text ("127.0.0.1:43121", "[::1]:7080", "/path"), for logs and tests. */
void listen_describe(int fd, char *out, size_t outlen);

#endif
