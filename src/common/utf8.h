/* utf8.h: UTF-8 validation for the strings wpsgate takes from the network. */
#ifndef WPS_UTF8_H
#define WPS_UTF8_H

#include <stddef.h>

/* 1 when s[0..len) is valid UTF-8 (no overlongs, no surrogates), else 0. */
int utf8_valid(const char *s, size_t len);

#endif
