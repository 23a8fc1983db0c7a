/* server.h: the emulator's HTTP server: libmicrohttpd in external epoll mode, WebSocket upgrades,
 * and the single-threaded event loop that drives both. */
#ifndef EMU_SERVER_H
#define EMU_SERVER_H

#include "emu.h"

struct srv;

/* Start serving on the bound, listening socket lfd (the server takes it). NULL on failure
 * (logged). */
struct srv *srv_new(struct emu *e, int lfd);
/* Run until SIGTERM or SIGINT (blocked by the caller before any thread exists). 0 or -1. */
int srv_run(struct srv *s);
void srv_free(struct srv *s); /* accepts NULL; closes every client */

#endif
