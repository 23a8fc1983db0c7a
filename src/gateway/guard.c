/* guard.c: Host / Origin / Sec-Fetch-Site checks that keep web pages from sending through the TCP listener. */
#include <config.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "guard.h"
#include "cfgtab.h"
#include "url.h"

#define GUARD_HOST_MAX 262 /* 255 for a DNS name plus ":65535" and brackets */

/* "scheme://host[:port]": a lower-case-insensitive scheme of letters, then a host and an optional
 * port, no path, query, fragment, userinfo or whitespace. */
static int origin_well_formed(const char *o)
{
	const char *p = o, *sep;
	size_t n = strlen(o);

	if (n == 0 || n >= GUARD_ORIGIN_MAX)
		return 0;
	sep = strstr(o, "://");
	if (sep == NULL || sep == o)
		return 0;
	for (; p < sep; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '+' || *p == '-' ||
		      *p == '.'))
			return 0;
	p = sep + 3;
	if (*p == '\0')
		return 0;
	for (; *p != '\0'; p++)
		if (*p <= ' ' || *p >= 0x7f || *p == '/' || *p == '?' || *p == '#' || *p == '@' || *p == '*')
			return 0;
	return 1;
}

static int check_origins(void *field, void *obj, const config_setting_t *m, struct cfgtab_err *e)
{
	const struct guard_cfg *c = obj;
	size_t i;

	(void)field;
	for (i = 0; i < c->norigins; i++)
		if (strcmp(c->origins[i], "null") == 0 || !origin_well_formed(c->origins[i]))
			return cfgtab_fail_entry(e, m, i, "not an origin of the form scheme://host[:port]");
	return 0;
}

static const struct cfgtab_key guard_keys[] = {
	CFGTAB_STRINGS_KEY(
	        struct guard_cfg, origins, norigins, "allowed_origins", GUARD_ORIGINS_MAX,
	        GUARD_ORIGIN_MAX - 1, CFGTAB_SHOWN, check_origins, "[ ]",
	        "origins let through, e.g. [ \"http://localhost:3000\" ] as the browser sends them"),
};

const struct cfgtab_section guard_cfg_section = CFGTAB_SECTION(
        "guard", struct guard_cfg, guard_keys, NULL,
        "TCP requests with a malformed Host (400 InvalidHost), a Host that is not a loopback name of the\n"
        "listener (421 MisdirectedRequest), an Origin header (403 CrossOriginForbidden) or\n"
        "Sec-Fetch-Site: cross-site (403 CrossSiteForbidden) are refused, unless the origin is listed here.");

static int fail(struct guard_err *e, int status, const char *code, const char *message)
{
	e->status = status;
	e->code = code;
	e->message = message;
	return -1;
}

/* A name made only of the characters a DNS name or an IPv4 address may hold. */
static int plain_name(const char *h, size_t len)
{
	size_t i;

	if (len == 0)
		return 0;
	for (i = 0; i < len; i++) {
		char ch = h[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		      ch == '-' || ch == '.' || ch == '_'))
			return 0;
	}
	return 1;
}

/* "[...]" holding only the characters of an IPv6 address (with an embedded IPv4 part). */
static int v6_literal(const char *h, size_t len)
{
	size_t i;

	if (len < 4 || h[0] != '[' || h[len - 1] != ']')
		return 0;
	for (i = 1; i < len - 1; i++) {
		char ch = h[i];

		if (!((ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F') || (ch >= '0' && ch <= '9') ||
		      ch == ':' || ch == '.'))
			return 0;
	}
	return 1;
}

/* Split "name[:port]" / "[v6][:port]". Returns 0 with the name's extent and the port (0 when
 * absent), or -1 when malformed. */
static int host_split(const char *h, size_t len, size_t *namelen, unsigned long *port)
{
	const char *colon = NULL;
	size_t i;

	*port = 0;
	if (h[0] == '[') {
		const char *rb = memchr(h, ']', len);

		if (rb == NULL)
			return -1;
		*namelen = (size_t)(rb - h) + 1;
		if (*namelen == len)
			return 0;
		if (h[*namelen] != ':')
			return -1;
		colon = h + *namelen;
	} else {
		for (i = 0; i < len; i++) {
			if (h[i] == ':') {
				if (colon != NULL)
					return -1;
				colon = h + i;
			}
		}
		*namelen = colon != NULL ? (size_t)(colon - h) : len;
		if (colon == NULL)
			return 0;
	}
	/* A port: 1 to 5 digits, no leading zero, 1..65535. */
	{
		const char *p = colon + 1, *end = h + len;
		unsigned long v = 0;

		if (p == end || end - p > 5 || *p == '0')
			return -1;
		for (; p < end; p++) {
			if (*p < '0' || *p > '9')
				return -1;
			v = v * 10 + (unsigned long)(*p - '0');
		}
		if (v > 65535)
			return -1;
		*port = v;
	}
	return 0;
}

static int origin_allowed(const struct guard_cfg *c, const char *origin)
{
	size_t i;

	if (c == NULL)
		return 0;
	for (i = 0; i < c->norigins; i++)
		if (strcasecmp(c->origins[i], origin) == 0)
			return 1;
	return 0;
}

int guard_check(const struct guard_cfg *c, const char *host, const char *origin, const char *sec_fetch_site,
                unsigned listen_port, struct guard_err *e)
{
	int allowed_origin = 0;

	if (host != NULL) {
		size_t len = strlen(host), namelen;
		unsigned long port;

		if (len == 0 || len > GUARD_HOST_MAX || host_split(host, len, &namelen, &port) < 0)
			return fail(e, 400, "InvalidHost", "The Host header is malformed.");
		if (host[0] == '[' ? !v6_literal(host, namelen) : !plain_name(host, namelen))
			return fail(e, 400, "InvalidHost", "The Host header is malformed.");
		if (!url_host_is_loopback(host, namelen))
			return fail(e, 421, "MisdirectedRequest",
			            "The Host header does not name a loopback address of this gateway.");
		if (port != 0 && listen_port != 0 && port != listen_port)
			return fail(e, 421, "MisdirectedRequest",
			            "The Host header names another port than this listener's.");
	}
	if (origin != NULL) {
		if (!origin_allowed(c, origin))
			return fail(e, 403, "CrossOriginForbidden",
			            "Requests from web pages (with an Origin header) are not accepted from "
			            "this origin.");
		allowed_origin = 1;
	}
	if (sec_fetch_site != NULL && !allowed_origin && strcasecmp(sec_fetch_site, "cross-site") == 0)
		return fail(e, 403, "CrossSiteForbidden", "Cross-site requests are not accepted.");
	return 0;
}
