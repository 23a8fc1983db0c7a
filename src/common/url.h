/* url.h: the URL and host rules of wpsgate's configuration (service endpoints, metadata endpoints) and
 * the one loopback test, shared by the gateway, the emulator and the CLI. */
#ifndef WPS_URL_H
#define WPS_URL_H

#include <stddef.h>

/* The scheme of url: 1 "https://", 0 "http://" (*host: what follows it), -1 neither (*host untouched). */
int url_scheme(const char *url, const char **host);
/* The end of the host name in host..end without the port: "[::1]:8080" -> "[::1]", "127.0.0.1:8080" ->
 * "127.0.0.1". */
const char *url_host_end(const char *host, const char *end);
/* 1 when host[0..len) (no port; IPv6 in brackets) names the loopback: "localhost" (any case), an IPv4
 * address in 127.0.0.0/8 in the four-part decimal form, [::1] or [::ffff:127.x.y.z]; else 0. */
int url_host_is_loopback(const char *host, size_t len);
/* 1 when url is acceptable as a service endpoint: https://host[:port] (one trailing '/' tolerated), or
 * http:// on a loopback host; no path, query, fragment or user info. Else 0 with why filled. */
int url_endpoint_ok(const char *url, char *why, size_t whylen);
/* 1 when url is acceptable as a token metadata endpoint: http(s)://host[:port]/path without a query,
 * fragment or user info; plain http only to a loopback host or the link-local 169.254.169.254. Else 0. */
int url_metadata_ok(const char *url, char *why, size_t whylen);

#endif
