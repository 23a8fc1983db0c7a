/* secret.h: the one reader of secret files (access keys, connection strings, Entra ID client secrets and
 * federated tokens) for all three programs, and the wiping free of every secret string. */
#ifndef WPS_SECRET_H
#define WPS_SECRET_H

#include <stddef.h>

/* Flags of secret_read: each program says which rules its files follow. */
#define SECRET_CREDDIR   0x1u /* a name without '/' is looked up in $CREDENTIALS_DIRECTORY (systemd) */
#define SECRET_PRIVATE   0x2u /* refuse a file that group or others may read or write */
#define SECRET_NO_CR     0x4u /* refuse a '\r' inside the line too */
#define SECRET_WARN_OPEN 0x8u /* log a warning for a file that group or others may read or write */
/* The gateway's credential files (access key, connection string, Entra ID client secret). */
#define SECRET_CREDENTIAL (SECRET_CREDDIR | SECRET_PRIVATE)
#define SECRET_FILE_MAX   8192 /* bytes of a credential file */

/* Read a regular file of at most max bytes holding one line of text: trailing CR, LF, blanks and tabs
 * are dropped; an empty line, a NUL or a line break inside is refused. Returns a new NUL-terminated
 * string (release with secret_free) and its length in *len, or NULL with err filled and never the
 * content: "LABEL file PATH: what" when label is given (e.g. "credential"), "PATH: what" (200 bytes of
 * PATH at most) when it is NULL; "LABEL NAME: what" when a bare name could not be looked up. */
char *secret_read(const char *name, size_t max, unsigned flags, const char *label, size_t *len, char *err,
                  size_t errlen);
/* Wipe s (up to its NUL) and free it. Accepts NULL. */
void secret_free(char *s);

#endif
