/* pct.c: percent-encoding (RFC 3986) and strict UTF-8 validation. */
#include <config.h>

#include <stdlib.h>
#include <string.h>

#include "pct.h"

static int hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

char *pct_decode(const char *s, size_t len, int plus_as_space, size_t *outlen)
{
	char *out;
	size_t i, o = 0;

	out = malloc(len + 1);
	if (out == NULL)
		return NULL;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '%') {
			int hi, lo;

			if (len - i < 3)
				goto bad;
			hi = hexval((unsigned char)s[i + 1]);
			lo = hexval((unsigned char)s[i + 2]);
			if (hi < 0 || lo < 0)
				goto bad;
			c = (unsigned char)(hi * 16 + lo);
			i += 2;
		} else if (c == '+' && plus_as_space) {
			c = ' ';
		}
		if (c == '\0')
			goto bad;
		out[o++] = (char)c;
	}
	out[o] = '\0';
	if (outlen != NULL)
		*outlen = o;
	return out;
bad:
	free(out);
	return NULL;
}

static int unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
	       c == '.' || c == '_' || c == '~';
}

int pct_encode(struct buf *b, const char *s, size_t len)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i, start = 0, oldlen = b->len;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[3];

		if (unreserved(c))
			continue;
		if (i > start && buf_append(b, s + start, i - start) < 0)
			goto fail;
		esc[0] = '%';
		esc[1] = hex[c >> 4];
		esc[2] = hex[c & 15];
		if (buf_append(b, esc, 3) < 0)
			goto fail;
		start = i + 1;
	}
	if (i > start && buf_append(b, s + start, i - start) < 0)
		goto fail;
	return 0;
fail:
	/* leave the buffer as it was */
	b->len = oldlen;
	if (b->data != NULL)
		b->data[oldlen] = '\0';
	return -1;
}
