/* secret.c: read one-line secret files (keys, connection strings, client secrets) and wipe secrets. */
#include <config.h>
#include "secret.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "log.h"

void secret_free(char *s)
{
	if (s == NULL)
		return;
	OPENSSL_cleanse(s, strlen(s));
	free(s);
}

/* err = "credential file PATH: message" (label "credential") or "PATH: message" with at most 200 bytes of
 * PATH (label NULL); subject NULL: "credential file: message" or "message". is_name: the subject is the
 * name as configured ("credential NAME: ..."). */
__attribute__((format(printf, 6, 7))) static void
file_err(char *err, size_t errlen, const char *label, const char *subject, int is_name, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (label == NULL && subject == NULL)
		snprintf(err, errlen, "%s", msg);
	else if (label == NULL)
		snprintf(err, errlen, "%.200s: %s", subject, msg);
	else if (subject == NULL)
		snprintf(err, errlen, "%s file: %s", label, msg);
	else
		snprintf(err, errlen, "%s%s %s: %s", label, is_name ? "" : " file", subject, msg);
}

char *secret_read(const char *name, size_t max, unsigned flags, const char *label, size_t *len, char *err,
                  size_t errlen)
{
	char path[4096];
	char *data = NULL;
	struct stat st;
	size_t n = 0;
	int fd = -1;

	*len = 0;
	if ((flags & SECRET_CREDDIR) && strchr(name, '/') == NULL) {
		const char *dir = getenv("CREDENTIALS_DIRECTORY");
		if (dir == NULL || *dir == '\0') {
			file_err(err, errlen, label, name, 1,
			         "a name without '/' is looked up in $CREDENTIALS_DIRECTORY, "
			         "which is not set");
			return NULL;
		}
		if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path) {
			file_err(err, errlen, label, name, 1, "path too long");
			return NULL;
		}
	} else if ((size_t)snprintf(path, sizeof path, "%s", name) >= sizeof path) {
		file_err(err, errlen, label, NULL, 0, "path too long");
		return NULL;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		file_err(err, errlen, label, path, 0, "%s", strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) < 0) {
		file_err(err, errlen, label, path, 0, "%s", strerror(errno));
		goto bad;
	}
	if (!S_ISREG(st.st_mode)) {
		file_err(err, errlen, label, path, 0, "not a regular file");
		goto bad;
	}
	if ((flags & SECRET_WARN_OPEN) && (st.st_mode & 077) != 0)
		log_warn("%.200s can be read or written by other users", path);
	if ((flags & SECRET_PRIVATE) && (st.st_mode & 077) != 0) {
		file_err(err, errlen, label, path, 0,
		         "mode %04o lets group or others read or write it; "
		         "chmod 0600 (or 0400) it",
		         (unsigned)(st.st_mode & 07777));
		goto bad;
	}
	if ((uintmax_t)st.st_size > max) {
		file_err(err, errlen, label, path, 0, "larger than %zu bytes", max);
		goto bad;
	}
	if ((data = malloc(max + 1)) == NULL) {
		file_err(err, errlen, label, path, 0, "out of memory");
		goto bad;
	}
	for (;;) {
		ssize_t r = read(fd, data + n, max + 1 - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			file_err(err, errlen, label, path, 0, "%s", strerror(errno));
			goto bad;
		}
		if (r == 0)
			break;
		n += (size_t)r;
		if (n > max) {
			file_err(err, errlen, label, path, 0, "larger than %zu bytes", max);
			goto bad;
		}
	}
	close(fd);
	fd = -1;
	while (n > 0 &&
	       (data[n - 1] == '\n' || data[n - 1] == '\r' || data[n - 1] == ' ' || data[n - 1] == '\t'))
		n--;
	data[n] = '\0';
	if (n == 0) {
		file_err(err, errlen, label, path, 0, "empty");
		goto bad;
	}
	if (memchr(data, '\0', n) != NULL || memchr(data, '\n', n) != NULL ||
	    ((flags & SECRET_NO_CR) && memchr(data, '\r', n) != NULL)) {
		file_err(err, errlen, label, path, 0, "must hold one line of text");
		goto bad;
	}
	*len = n;
	return data;
bad:
	if (data != NULL) {
		OPENSSL_cleanse(data, max + 1);
		free(data);
	}
	if (fd >= 0)
		close(fd);
	return NULL;
}
