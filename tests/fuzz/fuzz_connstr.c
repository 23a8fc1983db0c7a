/* fuzz_connstr.c: libFuzzer target for connection strings (connstr_parse / connstr_free).
 * Input: the connection string as the file connection_string_file would hold it (a NUL ends it). */
#include <config.h>
#include "fuzz.h"

#include <string.h>
#include <strings.h>

#include "connstr.h"

#define KEY_CHECK_MIN 24 /* keys this long must never show up in an error message */

/* The value of the last AccessKey= segment of s, trimmed, in out (empty when none). */
static void find_key(const char *s, char *out, size_t outlen)
{
	const char *p = s, *v, *e;
	size_t n;

	out[0] = '\0';
	while ((p = strcasestr(p, "AccessKey")) != NULL) {
		v = p + 9;
		while (*v == ' ' || *v == '\t')
			v++;
		p += 9;
		if (*v != '=')
			continue;
		v++;
		while (*v == ' ' || *v == '\t' || *v == '\r' || *v == '\n')
			v++;
		e = strchr(v, ';');
		n = e ? (size_t)(e - v) : strlen(v);
		while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t' || v[n - 1] == '\r' || v[n - 1] == '\n'))
			n--;
		if (n >= outlen)
			n = outlen - 1;
		memcpy(out, v, n);
		out[n] = '\0';
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), err[256], key[8192];
	struct connstr c;
	int rc;

	if (s == NULL)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	memset(err, 0, sizeof err);
	rc = connstr_parse(s, &c, err, sizeof err);
	if (rc == 0) {
		const char *host;
		FUZZ_ASSERT(c.endpoint != NULL && c.access_key != NULL && c.access_key[0] != '\0');
		FUZZ_ASSERT(strncasecmp(c.endpoint, "https://", 8) == 0 ||
		            strncasecmp(c.endpoint, "http://", 7) == 0);
		host = strstr(c.endpoint, "://") + 3;
		FUZZ_ASSERT(host[0] != '\0' && strpbrk(host, "/?#@ \t") == NULL);
		FUZZ_ASSERT(c.endpoint[strlen(c.endpoint) - 1] != '/');
		connstr_free(&c);
		FUZZ_ASSERT(c.endpoint == NULL && c.access_key == NULL);
	} else {
		FUZZ_ASSERT(rc == -1);
		FUZZ_ASSERT(err[0] != '\0');
		FUZZ_ASSERT(c.endpoint == NULL && c.access_key == NULL);
		/* the reason never carries the key */
		find_key(s, key, sizeof key);
		if (strlen(key) >= KEY_CHECK_MIN)
			FUZZ_ASSERT(strstr(err, key) == NULL);
	}
	connstr_free(NULL);
	free(s);
	return 0;
}
