/* connstr.c: parse Web PubSub connection strings without ever echoing the key. */
#include <config.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "connstr.h"
#include "secret.h"

#define CONNSTR_MAX 4096 /* bytes in a connection string */

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static char *dup_trim(const char *s, size_t n)
{
	char *r;

	while (n > 0 && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')) {
		s++;
		n--;
	}
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
		n--;
	r = malloc(n + 1);
	if (r == NULL)
		return NULL;
	memcpy(r, s, n);
	r[n] = '\0';
	return r;
}

static int valid_port(const char *p)
{
	long v = 0;

	if (*p == '\0' || strlen(p) > 5)
		return 0;
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return 0;
		v = v * 10 + (*p - '0');
	}
	return v >= 1 && v <= 65535;
}

int connstr_parse(const char *s, struct connstr *out, char *err, size_t errlen)
{
	char *endpoint = NULL, *key = NULL, *port = NULL, *host_end;
	const char *seg, *end, *eq, *host;
	size_t slen, klen, hlen;
	int rc = -1, segno = 0;

	out->endpoint = NULL;
	out->access_key = NULL;
	if (s == NULL)
		return fail(err, errlen, "empty connection string");
	slen = strnlen(s, CONNSTR_MAX + 1);
	if (slen > CONNSTR_MAX)
		return fail(err, errlen, "connection string longer than %d bytes", CONNSTR_MAX);

	for (seg = s; seg < s + slen; seg = end + 1) {
		end = memchr(seg, ';', (size_t)(s + slen - seg));
		if (end == NULL)
			end = s + slen;
		segno++;
		{
			/* empty (or blank) segments, e.g. after a trailing ';', are ignored */
			const char *q = seg;

			while (q < end && (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n'))
				q++;
			if (q == end)
				continue;
		}
		eq = memchr(seg, '=', (size_t)(end - seg));
		if (eq == NULL) {
			fail(err, errlen, "segment %d of the connection string has no '='", segno);
			goto out;
		}
		while (seg < eq && (*seg == ' ' || *seg == '\t' || *seg == '\r' || *seg == '\n'))
			seg++;
		klen = (size_t)(eq - seg);
		while (klen > 0 && (seg[klen - 1] == ' ' || seg[klen - 1] == '\t'))
			klen--;
		if (klen == 8 && strncasecmp(seg, "Endpoint", 8) == 0) {
			if (endpoint != NULL) {
				fail(err, errlen, "Endpoint given twice in the connection string");
				goto out;
			}
			if ((endpoint = dup_trim(eq + 1, (size_t)(end - eq - 1))) == NULL)
				goto oom;
		} else if (klen == 9 && strncasecmp(seg, "AccessKey", 9) == 0) {
			if (key != NULL) {
				fail(err, errlen, "AccessKey given twice in the connection string");
				goto out;
			}
			if ((key = dup_trim(eq + 1, (size_t)(end - eq - 1))) == NULL)
				goto oom;
		} else if (klen == 4 && strncasecmp(seg, "Port", 4) == 0) {
			free(port);
			if ((port = dup_trim(eq + 1, (size_t)(end - eq - 1))) == NULL)
				goto oom;
		} else if (klen == 7 && strncasecmp(seg, "Version", 7) == 0) {
			/* ignored */
		} else {
			/* other keys (ClientEndpoint, ServerEndpoint, ...) are not used */
		}
		if (end == s + slen)
			break;
	}

	if (endpoint == NULL || *endpoint == '\0') {
		fail(err, errlen, "the connection string has no Endpoint");
		goto out;
	}
	if (key == NULL || *key == '\0') {
		fail(err, errlen, "the connection string has no AccessKey");
		goto out;
	}
	if (strncasecmp(endpoint, "https://", 8) == 0)
		host = endpoint + 8;
	else if (strncasecmp(endpoint, "http://", 7) == 0)
		host = endpoint + 7;
	else {
		fail(err, errlen, "the connection string's Endpoint must start with http:// or https://");
		goto out;
	}
	hlen = strlen(host);
	while (hlen > 0 && host[hlen - 1] == '/')
		hlen--;
	host_end = endpoint + (host - endpoint) + hlen;
	*host_end = '\0';
	if (hlen == 0 || strpbrk(host, "/?#@ \t") != NULL) {
		fail(err, errlen, "the connection string's Endpoint must be scheme://host[:port]");
		goto out;
	}
	if (port != NULL) {
		char *ne;
		size_t n;
		const char *colon = strrchr(host, ':');

		if (!valid_port(port)) {
			fail(err, errlen, "the connection string's Port is not a port number");
			goto out;
		}
		if (colon != NULL && strchr(colon, ']') == NULL) {
			fail(err, errlen, "the connection string gives a port both in Endpoint and in Port");
			goto out;
		}
		n = strlen(endpoint) + 1 + strlen(port) + 1;
		if ((ne = malloc(n)) == NULL)
			goto oom;
		snprintf(ne, n, "%s:%s", endpoint, port);
		free(endpoint);
		endpoint = ne;
	}
	out->endpoint = endpoint;
	out->access_key = key;
	endpoint = NULL;
	key = NULL;
	rc = 0;
	goto out;
oom:
	fail(err, errlen, "out of memory");
out:
	free(port);
	free(endpoint);
	secret_free(key);
	return rc;
}

void connstr_free(struct connstr *c)
{
	if (c == NULL)
		return;
	free(c->endpoint);
	secret_free(c->access_key);
	c->endpoint = NULL;
	c->access_key = NULL;
}
