/* b64.h: base64 (padded) and base64url (unpadded) encoding and decoding. */
#ifndef WPS_B64_H
#define WPS_B64_H

#include <stddef.h>

/* base64url without padding. Returns a new string, NULL on out of memory. */
char *b64url_encode(const void *data, size_t len);
/* Decode base64url (padding tolerated). Returns a new buffer (NUL-terminated for convenience,
 * the NUL not counted in *outlen), or NULL when s is not base64url. */
unsigned char *b64url_decode(const char *s, size_t len, size_t *outlen);
/* Standard base64 with padding (binary message data in the JSON protocol). New string. */
char *b64_encode(const void *data, size_t len);
unsigned char *b64_decode(const char *s, size_t len, size_t *outlen);

/* The length of the encoding of n bytes, with or without '=' padding (no NUL counted). */
size_t b64_encoded_len(size_t n, int pad);
/* base64url of data into out, which has room for b64_encoded_len(len, 0) bytes; no NUL is written.
 * Returns the length written. */
size_t b64url_encode_into(char *out, const void *data, size_t len);

#endif
