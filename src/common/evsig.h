/* evsig.h: ce-signature, the service's signature on its event-handler calls (webpubsub-events.md, 4):
 * "sha256=" + lowercase hex HMAC-SHA256 of the connection id, keyed with the access key's bytes as written
 * (not base64-decoded), one item per key of the resource, comma-separated. The emulator makes it, the
 * gateway checks it. It covers the connection id only: not the body, the time or the hub. */
#ifndef WPS_EVSIG_H
#define WPS_EVSIG_H

#include <stddef.h>

#define EVSIG_VALUE_LEN  71   /* "sha256=" + 64 hex digits */
#define EVSIG_HEADER_MAX 1024 /* bytes of a ce-signature header looked at: more is refused */
#define EVSIG_ITEMS_MAX  8    /* items in one header looked at: more is refused */

/* One item for key[0..keylen) and conn_id into out (NUL-terminated). Returns 0 or -1. */
int evsig_value(const char *key, size_t keylen, const char *conn_id, char out[EVSIG_VALUE_LEN + 1]);

/* Check a ce-signature header value (repeated header lines joined with ","): split on commas and
 * blanks, drop empty items; 1 when some item equals the value of some key (hex case ignored, compared
 * in constant time), 0 when none does, -1 when the header is malformed (too long, too many items, an
 * item that is not "sha256=" + 64 hex digits). */
int evsig_verify(const char *header, const char *conn_id, const char *const *keys, const size_t *keylens,
                 size_t nkeys);

#endif
