/* entra_impl.h: helpers shared by entra_cfg.c and entra.c (not for other modules). */
#ifndef WPS_GW_ENTRA_IMPL_H
#define WPS_GW_ENTRA_IMPL_H

#include <stddef.h>
#include "entra.h"

/* The secret a fetch sends: the client secret (cred_read_file's rules) or the federated token
 * (regular file, at most ENTRA_ASSERTION_MAX bytes, one line; its mode is the platform's). NULL for
 * managed identity. A new string (wipe with cred_wipe_free), or NULL with err naming key and file. */
char *entra_read_secret(const struct entra_cfg *c, size_t *len, char *err, size_t errlen);

/* Deep copy of src into dst (initialised). 0 or -1 (out of memory; dst then empty). */
int entra_cfg_copy(struct entra_cfg *dst, const struct entra_cfg *src);

/* A metadata endpoint URL: http(s)://host[:port]/path without query, fragment or user info; plain
 * http only to a loopback host or 169.254.169.254. 1 or 0 with a reason in why (no value in it). */
int entra_url_ok(const char *url, char *why, size_t whylen);

#endif
