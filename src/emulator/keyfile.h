/* keyfile.h: the emulator's access key, from a key file or a connection string file. */
#ifndef EMU_KEYFILE_H
#define EMU_KEYFILE_H

#include <stddef.h>

/* Read path: the key itself (trailing whitespace dropped), or with is_connstr a connection string
 * whose AccessKey is taken. On 0, *key is a new string (cleanse and free it). On -1, err says why
 * without the key. A file others can read is accepted with a warning (it is a development key). */
int keyfile_load(const char *path, int is_connstr, char **key, size_t *keylen, char *err, size_t errlen);

#endif
