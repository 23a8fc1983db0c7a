/* b64.c: base64 (RFC 4648 section 4, padded) and base64url (section 5, unpadded) encoding and decoding. */
#include <config.h>

#include <stdlib.h>

#include "b64.h"

static const char b64_std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t b64_encoded_len(size_t n, int pad)
{
	return pad ? (n + 2) / 3 * 4 : n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

static size_t encode_into(char *out, const unsigned char *in, size_t n, const char *alpha, int pad)
{
	size_t i, o = 0;

	for (i = 0; i + 3 <= n; i += 3) {
		unsigned long v = ((unsigned long)in[i] << 16) | ((unsigned long)in[i + 1] << 8) | in[i + 2];

		out[o++] = alpha[(v >> 18) & 63];
		out[o++] = alpha[(v >> 12) & 63];
		out[o++] = alpha[(v >> 6) & 63];
		out[o++] = alpha[v & 63];
	}
	if (n - i == 1) {
		unsigned long v = (unsigned long)in[i] << 16;

		out[o++] = alpha[(v >> 18) & 63];
		out[o++] = alpha[(v >> 12) & 63];
		if (pad) {
			out[o++] = '=';
			out[o++] = '=';
		}
	} else if (n - i == 2) {
		unsigned long v = ((unsigned long)in[i] << 16) | ((unsigned long)in[i + 1] << 8);

		out[o++] = alpha[(v >> 18) & 63];
		out[o++] = alpha[(v >> 12) & 63];
		out[o++] = alpha[(v >> 6) & 63];
		if (pad)
			out[o++] = '=';
	}
	return o;
}

static char *b64_encode_alloc(const void *data, size_t len, const char *alpha, int pad)
{
	size_t n;
	char *out;

	if (len > ((size_t)-1 / 4) * 3 - 4)
		return NULL;
	out = malloc(b64_encoded_len(len, pad) + 1);
	if (out == NULL)
		return NULL;
	n = encode_into(out, data, len, alpha, pad);
	out[n] = '\0';
	return out;
}

static int b64_val(unsigned char c, int url)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == (url ? '-' : '+'))
		return 62;
	if (c == (url ? '_' : '/'))
		return 63;
	return -1;
}

/* Decode; '=' padding is optional but, when present, must be complete and final.
 * Non-zero trailing bits are rejected so that every byte string has one encoding. */
static unsigned char *b64_decode_any(const char *s, size_t len, size_t *outlen, int url)
{
	unsigned char *out;
	size_t i, o = 0, data_len = len;
	unsigned long acc = 0;
	int bits = 0;

	while (data_len > 0 && s[data_len - 1] == '=')
		data_len--;
	if (len - data_len > 2)
		return NULL;
	if (len != data_len && len % 4 != 0)
		return NULL;
	if (data_len % 4 == 1)
		return NULL;
	out = malloc(data_len / 4 * 3 + 3);
	if (out == NULL)
		return NULL;
	for (i = 0; i < data_len; i++) {
		int v = b64_val((unsigned char)s[i], url);

		if (v < 0)
			goto bad;
		acc = (acc << 6) | (unsigned long)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)((acc >> bits) & 0xFF);
		}
	}
	if (bits > 0 && (acc & ((1ul << bits) - 1)) != 0)
		goto bad;
	out[o] = '\0';
	if (outlen != NULL)
		*outlen = o;
	return out;
bad:
	free(out);
	return NULL;
}

char *b64url_encode(const void *data, size_t len)
{
	return b64_encode_alloc(data, len, b64_url, 0);
}

unsigned char *b64url_decode(const char *s, size_t len, size_t *outlen)
{
	return b64_decode_any(s, len, outlen, 1);
}

char *b64_encode(const void *data, size_t len)
{
	return b64_encode_alloc(data, len, b64_std, 1);
}

unsigned char *b64_decode(const char *s, size_t len, size_t *outlen)
{
	return b64_decode_any(s, len, outlen, 0);
}

size_t b64url_encode_into(char *out, const void *data, size_t len)
{
	return encode_into(out, data, len, b64_url, 0);
}
