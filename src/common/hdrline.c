/* hdrline.c: response header lines split into name and value (hdrline.h). */
#include <config.h>
#include "hdrline.h"

#include <string.h>

enum hdrline_kind hdrline_split(const char *line, size_t len, const char **name, size_t *nlen,
                                const char **value, size_t *vlen)
{
	const char *colon, *v;
	size_t vl;

	if (len >= 5 && memcmp(line, "HTTP/", 5) == 0)
		return HDRLINE_STATUS;
	if ((colon = memchr(line, ':', len)) == NULL)
		return HDRLINE_OTHER;
	v = colon + 1;
	vl = len - (size_t)(colon - line) - 1;
	while (vl > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		vl--;
	}
	while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n' || v[vl - 1] == ' ' || v[vl - 1] == '\t'))
		vl--;
	*name = line;
	*nlen = (size_t)(colon - line);
	*value = v;
	*vlen = vl;
	return HDRLINE_FIELD;
}
