/* keyfile.c: read the emulator's access key from a file, never echoing it. */
#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "connstr.h"
#include "keyfile.h"
#include "log.h"

#define KEYFILE_MAX 4096

int keyfile_load(const char *path, int is_connstr, char **key, size_t *keylen, char *err, size_t errlen)
{
	char buf[KEYFILE_MAX + 1];
	struct stat st;
	ssize_t n;
	size_t len = 0;
	int fd, rc = -1;
	struct connstr cs = { NULL, NULL };
	int parsed = 0;

	*key = NULL;
	*keylen = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == 0 && (st.st_mode & (S_IRGRP | S_IROTH)))
		log_warn("%s can be read by other users", path);
	while (len < KEYFILE_MAX && (n = read(fd, buf + len, KEYFILE_MAX - len)) > 0)
		len += (size_t)n;
	close(fd);
	if (len == KEYFILE_MAX) {
		snprintf(err, errlen, "%s is too large for a key", path);
		goto out;
	}
	while (len &&
	       (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' ' || buf[len - 1] == '\t'))
		len--;
	buf[len] = '\0';
	if (len == 0 || strlen(buf) != len) {
		snprintf(err, errlen, "%s holds no usable key", path);
		goto out;
	}
	if (is_connstr) {
		char why[200];
		if (connstr_parse(buf, &cs, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "%s: %s", path, why);
			goto out;
		}
		parsed = 1;
		*key = strdup(cs.access_key);
	} else {
		*key = strdup(buf);
	}
	if (!*key) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	*keylen = strlen(*key);
	rc = 0;
out:
	if (parsed)
		connstr_free(&cs);
	OPENSSL_cleanse(buf, sizeof(buf));
	return rc;
}
