/* pct.h: percent-encoding (RFC 3986) for path segments and query strings. */
#ifndef WPS_PCT_H
#define WPS_PCT_H

#include <stddef.h>
#include "buf.h"

/* Decode s[0..len). plus_as_space turns '+' into ' ' (query strings). Returns a new NUL-terminated
 * string and its length in *outlen (may be NULL), or NULL when an escape is malformed ("%4", "%zz")
 * or the result would contain a NUL byte. */
char *pct_decode(const char *s, size_t len, int plus_as_space, size_t *outlen);

/* Append the canonical encoding of s[0..len) to b: unreserved characters (A-Z a-z 0-9 - . _ ~)
 * as they are, every other byte as %XX with upper-case hex. Returns 0 or -1 (buffer full). */
int pct_encode(struct buf *b, const char *s, size_t len);

#endif
