/* evsig.c: ce-signature, made and checked (evsig.h). */
#include <config.h>
#include "evsig.h"

#include <openssl/crypto.h>
#include <string.h>

#include "digest.h"

static const char hexd[] = "0123456789abcdef";

int evsig_value(const char *key, size_t keylen, const char *conn_id, char out[EVSIG_VALUE_LEN + 1])
{
	unsigned char mac[DIGEST_SHA256_LEN];
	size_t i;

	if (key == NULL || conn_id == NULL ||
	    digest_hmac_sha256(key, keylen, conn_id, strlen(conn_id), mac) < 0)
		return -1;
	memcpy(out, "sha256=", 7);
	for (i = 0; i < DIGEST_SHA256_LEN; i++) {
		out[7 + 2 * i] = hexd[mac[i] >> 4];
		out[8 + 2 * i] = hexd[mac[i] & 15];
	}
	out[EVSIG_VALUE_LEN] = '\0';
	OPENSSL_cleanse(mac, sizeof mac);
	return 0;
}

static int is_sep(char c)
{
	return c == ',' || c == ' ' || c == '\t';
}

/* item[0..n) into lower-case form in out; -1 unless it is "sha256=" + 64 hex digits. */
static int normalize(const char *item, size_t n, char out[EVSIG_VALUE_LEN])
{
	size_t i;

	if (n != EVSIG_VALUE_LEN || strncmp(item, "sha256=", 7) != 0)
		return -1;
	memcpy(out, item, 7);
	for (i = 7; i < n; i++) {
		char c = item[i];
		if (c >= 'A' && c <= 'F')
			c = (char)(c - 'A' + 'a');
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return -1;
		out[i] = c;
	}
	return 0;
}

int evsig_verify(const char *header, const char *conn_id, const char *const *keys, const size_t *keylens,
                 size_t nkeys)
{
	char items[EVSIG_ITEMS_MAX][EVSIG_VALUE_LEN];
	char want[EVSIG_VALUE_LEN + 1];
	size_t n = 0, k, i;
	const char *p = header;
	int match = 0;

	if (header == NULL || conn_id == NULL || strlen(header) > EVSIG_HEADER_MAX)
		return -1;
	while (*p != '\0') {
		size_t len = 0;

		while (is_sep(*p))
			p++;
		if (*p == '\0')
			break;
		while (p[len] != '\0' && !is_sep(p[len]))
			len++;
		if (n == EVSIG_ITEMS_MAX || normalize(p, len, items[n]) < 0)
			return -1;
		n++;
		p += len;
	}
	/* every key against every item, without an early exit: the time does not tell which matched */
	for (k = 0; k < nkeys; k++) {
		if (keys[k] == NULL || evsig_value(keys[k], keylens[k], conn_id, want) < 0)
			continue;
		for (i = 0; i < n; i++)
			match |= CRYPTO_memcmp(items[i], want, EVSIG_VALUE_LEN) == 0;
	}
	OPENSSL_cleanse(want, sizeof want);
	return match;
}
