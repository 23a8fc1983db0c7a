/* insp_http.h: the inspector's HTTP side in the emulator's libmicrohttpd server: the page and its
 * assets under /inspector/, the snapshot (JSON) and the live entries (Server-Sent Events). */
#ifndef EMU_INSP_HTTP_H
#define EMU_INSP_HTTP_H

#include <microhttpd.h>

#include "insp.h"

#define INSP_PREFIX "/inspector"

/* One embedded file of the page (insp_assets.c, generated from src/emulator/inspector/). */
struct insp_asset {
	const char *name; /* "index.html", "app.js", ... */
	const char *ctype;
	const unsigned char *data;
	size_t len;
};
extern const struct insp_asset insp_assets[];
extern const size_t insp_nassets;

/* 1 when url (the path, without the query) is /inspector or under it. */
int insp_http_match(const char *url);

/* Answer a request under /inspector. raw_uri: the request target with its query; host: the Host
 * header (NULL: none); dirty: set to 1 when a suspended event stream was resumed, so that the loop
 * runs MHD soon. The event stream suspends its connection while nothing is queued; the watcher
 * wakes it (MHD_resume_connection) from any hook. */
enum MHD_Result insp_http_handle(struct insp *in, const struct hub_state *st, struct MHD_Connection *c,
                                 const char *url, const char *method, const char *raw_uri, const char *host,
                                 int *dirty);

/* 1 when a Host header names a loopback host ("localhost", 127.0.0.0/8, [::1], with any port). */
int insp_http_host_ok(const char *host);

#endif
