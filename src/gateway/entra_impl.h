/* entra_impl.h: helpers shared by entra_cfg.c and entra.c (not for other modules). */
#ifndef WPS_GW_ENTRA_IMPL_H
#define WPS_GW_ENTRA_IMPL_H

#include <stddef.h>
#include "entra.h"

/* The secret a fetch sends: the client secret (the gateway's credential-file rules, SECRET_CREDENTIAL) or the federated token
 * (regular file, at most ENTRA_ASSERTION_MAX bytes, one line; its mode is the platform's). NULL for
 * managed identity. A new string (wipe with secret_free), or NULL with err naming key and file. */
char *entra_read_secret(const struct entra_cfg *c, size_t *len, char *err, size_t errlen);

#endif
