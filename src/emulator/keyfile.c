/* keyfile.c: the emulator's access key, from a key file or a connection string file, never echoed. */
#include <config.h>
#include "keyfile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connstr.h"
#include "secret.h"

#define KEYFILE_MAX 4096

int keyfile_load(const char *path, int is_connstr, char **key, size_t *keylen, char *err, size_t errlen)
{
	struct connstr cs = { NULL, NULL };
	char why[200], *raw;
	size_t len;

	*key = NULL;
	*keylen = 0;
	/* A development key: a file others can read is accepted, with a warning. */
	if ((raw = secret_read(path, KEYFILE_MAX, SECRET_WARN_OPEN, NULL, &len, err, errlen)) == NULL)
		return -1;
	if (!is_connstr) {
		*key = raw;
		*keylen = len;
		return 0;
	}
	if (connstr_parse(raw, &cs, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "%.200s: %s", path, why);
		secret_free(raw);
		return -1;
	}
	secret_free(raw);
	*key = strdup(cs.access_key);
	connstr_free(&cs);
	if (*key == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	*keylen = strlen(*key);
	return 0;
}
