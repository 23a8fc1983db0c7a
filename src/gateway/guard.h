/* guard.h: browser-abuse checks for requests that arrive over TCP (DNS rebinding, cross-site requests). */
#ifndef WPS_GW_GUARD_H
#define WPS_GW_GUARD_H

#include <stddef.h>
#include "cfgtab.h"

#define GUARD_ORIGINS_MAX 32  /* entries in guard.allowed_origins */
#define GUARD_ORIGIN_MAX  256 /* bytes in one allowed origin */

/* `guard = { allowed_origins = [ "http://localhost:3000" ]; };`
 * An origin is "scheme://host[:port]" exactly as a browser sends it (no path, no trailing slash);
 * it is compared ASCII-case-insensitively. "*" and "null" are refused at parse time. */
struct guard_cfg {
	char *origins[GUARD_ORIGINS_MAX]; /* owned */
	size_t norigins;
};

/* The `guard` section (cfgtab.h): no origin allowed by default. */
extern const struct cfgtab_section guard_cfg_section;

/* The outcome of a refused request: an HTTP status and a JSON error code/message (static strings,
 * no user input). */
struct guard_err {
	int status; /* 400, 403 or 421 */
	const char
	        *code; /* "InvalidHost", "MisdirectedRequest", "CrossOriginForbidden", "CrossSiteForbidden" */
	const char *message;
};

/* Check one TCP request from its header values (each NULL when absent; all borrowed).
 * listen_port is the port of the listener the request came in on (0: accept any port in Host).
 * - Host, when present, must be `localhost`, a 127.0.0.0/8 dotted quad, or `[::1]` (any spelling
 *   of the IPv6 loopback), optionally followed by ":" and listen_port. A malformed Host is 400
 *   InvalidHost; a well-formed name that is not loopback, or another port, is 421.
 *   (An absent Host is accepted: every browser sends one.)
 * - An Origin header (any value, "null" included) is 403 unless it is in the allowed list.
 * - `Sec-Fetch-Site: cross-site` is 403 unless the request carries an allowed Origin.
 * Returns 0 (allowed) or -1 with e filled. Pure: no I/O, no allocation. */
int guard_check(const struct guard_cfg *c, const char *host, const char *origin, const char *sec_fetch_site,
                unsigned listen_port, struct guard_err *e);

#endif
