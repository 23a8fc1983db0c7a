/* hdrline.h: one line of an HTTP response head as libcurl's header callback hands it over (CR LF
 * included, not NUL-terminated), split into name and value. The gateway's upstream, its events listener
 * and the emulator's event-handler client read their answers' headers with it. */
#ifndef WPS_HDRLINE_H
#define WPS_HDRLINE_H

#include <stddef.h>

enum hdrline_kind {
	HDRLINE_STATUS, /* "HTTP/...": a new head begins (after a 1xx the final one follows) */
	HDRLINE_FIELD, /* "Name: value": name, nlen, value and vlen set; the value without its blanks and CR LF */
	HDRLINE_OTHER /* the empty line that ends the head, or a line without a colon */
};

enum hdrline_kind hdrline_split(const char *line, size_t len, const char **name, size_t *nlen,
                                const char **value, size_t *vlen);

#endif
