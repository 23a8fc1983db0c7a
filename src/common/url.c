/* url.c: the checks every program makes of the URLs in its configuration: scheme, host, loopback. */
#include <config.h>
#include "url.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

int url_scheme(const char *url, const char **host)
{
	if (strncmp(url, "https://", 8) == 0) {
		*host = url + 8;
		return 1;
	}
	if (strncmp(url, "http://", 7) == 0) {
		*host = url + 7;
		return 0;
	}
	return -1;
}

const char *url_host_end(const char *host, const char *end)
{
	const char *c;

	if (*host == '[')
		return (c = memchr(host, ']', (size_t)(end - host))) != NULL ? c + 1 : end;
	return (c = memchr(host, ':', (size_t)(end - host))) != NULL ? c : end;
}

int url_host_is_loopback(const char *host, size_t len)
{
	char tmp[64];

	if (len == 0 || len >= sizeof(tmp))
		return 0;
	if (host[0] == '[') {
		struct in6_addr a6;

		if (len < 3 || host[len - 1] != ']')
			return 0;
		memcpy(tmp, host + 1, len - 2);
		tmp[len - 2] = '\0';
		if (inet_pton(AF_INET6, tmp, &a6) != 1)
			return 0;
		if (IN6_IS_ADDR_LOOPBACK(&a6))
			return 1;
		return IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127;
	}
	if (len == 9 && strncasecmp(host, "localhost", 9) == 0)
		return 1;
	memcpy(tmp, host, len);
	tmp[len] = '\0';
	{
		struct in_addr a4;

		/* inet_pton takes only the four-part decimal form: no "127.1", no octal, no hex. */
		if (inet_pton(AF_INET, tmp, &a4) == 1)
			return (ntohl(a4.s_addr) >> 24) == 127;
	}
	return 0;
}

int url_endpoint_ok(const char *url, char *err, size_t errlen)
{
	const char *host, *end, *p;
	int https;

	if ((https = url_scheme(url, &host)) < 0) {
		snprintf(err, errlen, "must start with https:// (or http:// on loopback)");
		return 0;
	}
	end = host + strcspn(host, "/?#");
	if (*end == '/' && end[1] == '\0')
		; /* one trailing slash is tolerated */
	else if (*end != '\0') {
		snprintf(err, errlen, "must be scheme://host[:port] without a path, query or fragment");
		return 0;
	}
	if (end == host || memchr(host, '@', (size_t)(end - host)) != NULL) {
		snprintf(err, errlen, "must name a host (and no user info)");
		return 0;
	}
	for (p = host; p < end; p++)
		if ((unsigned char)*p <= ' ' || *p == '\\' || (unsigned char)*p >= 0x7f) {
			snprintf(err, errlen, "contains a character not allowed in a host name");
			return 0;
		}
	if (!https) {
		const char *hend = url_host_end(host, end);
		if (!url_host_is_loopback(host, (size_t)(hend - host))) {
			snprintf(err, errlen,
			         "http:// is accepted only for a loopback host (127.0.0.1, [::1], "
			         "localhost); use https://");
			return 0;
		}
	}
	return 1;
}

int url_metadata_ok(const char *url, char *why, size_t whylen)
{
	const char *host, *end, *hend, *p;
	int https;

	if ((https = url_scheme(url, &host)) < 0) {
		snprintf(why, whylen, "must start with http:// or https://");
		return 0;
	}
	end = host + strcspn(host, "/?#");
	if (strpbrk(url, "?#") != NULL) {
		snprintf(why, whylen, "must not have a query or fragment");
		return 0;
	}
	if (end == host || memchr(host, '@', (size_t)(end - host)) != NULL) {
		snprintf(why, whylen, "must name a host (and no user info)");
		return 0;
	}
	for (p = url; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f || *p == '\\') {
			snprintf(why, whylen, "contains a character not allowed in a URL");
			return 0;
		}
	if (https)
		return 1;
	hend = url_host_end(host, end);
	if (url_host_is_loopback(host, (size_t)(hend - host)) ||
	    ((size_t)(hend - host) == 15 && strncmp(host, "169.254.169.254", 15) == 0))
		return 1;
	snprintf(why, whylen,
	         "http:// is accepted only for 169.254.169.254 or a loopback host; use https://");
	return 0;
}
