/* utf8.c: UTF-8 validation (RFC 3629: no overlong forms, no surrogates, nothing past U+10FFFF). */
#include <config.h>
#include "utf8.h"

int utf8_valid(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		size_t n, k;
		unsigned long cp;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF) {
			n = 1;
			cp = c & 0x1F;
		} else if (c >= 0xE0 && c <= 0xEF) {
			n = 2;
			cp = c & 0x0F;
		} else if (c >= 0xF0 && c <= 0xF4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return 0; /* continuation byte, 0xC0/0xC1 overlong lead, or > U+10FFFF lead */
		}
		if (len - i - 1 < n)
			return 0;
		for (k = 1; k <= n; k++) {
			if ((s[i + k] & 0xC0) != 0x80)
				return 0;
			cp = (cp << 6) | (s[i + k] & 0x3F);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000))
			return 0; /* overlong */
		if (cp >= 0xD800 && cp <= 0xDFFF)
			return 0; /* surrogate */
		if (cp > 0x10FFFF)
			return 0;
		i += n + 1;
	}
	return 1;
}
