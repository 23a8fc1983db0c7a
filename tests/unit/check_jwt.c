/* check_jwt.c: unit tests for base64/base64url and HS256 JWTs (jwt.c) against the shared vectors. */
#include <config.h>
#include "digest.h"
#include "b64.h"

#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "jwt.h"
#include "check_main.h"

#define KEY    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH"
#define KEYLEN (sizeof(KEY) - 1)

/* Vector 1 of shared/vectors/jwt-signing.json, embedded so the test cannot pass without the file. */
#define V1_PAYLOAD                                                                                           \
	"{\"aud\":\"https://myservice.webpubsub.azure.com/api/hubs/hub/"                                     \
	":send?api-version=2024-12-01\",\"exp\":1700000060}"
#define V1_AUD "https://myservice.webpubsub.azure.com/api/hubs/hub/:send?api-version=2024-12-01"
#define V1_TOKEN                                                                                             \
	"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."                                                              \
	"eyJhdWQiOiJodHRwczovL215c2VydmljZS53ZWJwdWJzdWIuYXp1cmUuY29tL2FwaS9odWJzL2h1Yi86c2VuZD9hcGktdmVyc2" \
	"lvbj0yMDI0LTEyLTAxIiwiZXhwIjoxNzAwMDAwMDYwfQ.AKEH6UxSbrzYxu-UrHWw9-XPTpkn61lqlC-9ULAsSDo"

static json_t *vectors;

static void setup(void)
{
	const char *src = getenv("WPSGATE_SRCDIR");
	char path[4096];

	json_t *shared;

	vectors = NULL;
	if (src == NULL)
		src = CHECK_SRCDIR; /* run by hand: the source tree this was built from */
	/* the project's copy (distributed), checked against the shared original when that is beside it */
	snprintf(path, sizeof(path), "%s/tests/unit/vectors/jwt-signing.json", src);
	vectors = json_load_file(path, 0, NULL);
	snprintf(path, sizeof(path), "%s/../shared/vectors/jwt-signing.json", src);
	shared = json_load_file(path, 0, NULL);
	if (shared != NULL && vectors != NULL && !json_equal(shared, vectors)) {
		json_decref(vectors);
		vectors = NULL; /* the copy drifted: test_file_vectors fails */
	}
	json_decref(shared);
}

static void teardown(void)
{
	json_decref(vectors);
	vectors = NULL;
}

START_TEST(test_sha256_digest)
{
	static const unsigned char abc[32] = { 0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea,
		                               0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
		                               0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c,
		                               0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad };
	static const unsigned char empty[32] = { 0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14,
		                                 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
		                                 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c,
		                                 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55 };
	unsigned char md[32];

	ck_assert_int_eq(digest_sha256("abc", 3, md), 0);
	ck_assert_mem_eq(md, abc, 32);
	ck_assert_int_eq(digest_sha256("", 0, md), 0);
	ck_assert_mem_eq(md, empty, 32);
}
END_TEST

START_TEST(test_embedded_vector)
{
	char *t = jwt_sign(V1_PAYLOAD, strlen(V1_PAYLOAD), KEY, KEYLEN);

	ck_assert_str_eq(t, V1_TOKEN);
	free(t);
	t = jwt_server_token(V1_AUD, 1700000060LL, KEY, KEYLEN);
	ck_assert_str_eq(t, V1_TOKEN);
	free(t);
}
END_TEST

START_TEST(test_file_vectors)
{
	json_t *arr, *v;
	const char *key;
	size_t i;

	ck_assert_msg(vectors != NULL, "tests/unit/vectors/jwt-signing.json missing, unreadable, or "
	                               "different from shared/vectors/jwt-signing.json");
	key = json_string_value(json_object_get(vectors, "access_key"));
	ck_assert_str_eq(key, KEY);
	arr = json_object_get(vectors, "vectors");
	ck_assert_uint_eq(json_array_size(arr), 3);
	json_array_foreach(arr, i, v)
	{
		const char *payload = json_string_value(json_object_get(v, "payload_json"));
		const char *want = json_string_value(json_object_get(v, "token"));
		const char *hdr = json_string_value(json_object_get(v, "header_json"));
		char *t, *h;
		json_t *claims = NULL, *expect;

		ck_assert_ptr_nonnull(payload);
		ck_assert_ptr_nonnull(want);
		ck_assert_str_eq(hdr, "{\"alg\":\"HS256\",\"typ\":\"JWT\"}");
		h = b64url_encode(hdr, strlen(hdr));
		ck_assert_int_eq(strncmp(want, h, strlen(h)), 0);
		free(h);
		t = jwt_sign(payload, strlen(payload), key, strlen(key));
		ck_assert_str_eq(t, want);
		ck_assert_int_eq(jwt_verify(t, key, strlen(key), &claims), JWT_OK);
		expect = json_loads(payload, 0, NULL);
		ck_assert_int_eq(json_equal(claims, expect), 1);
		json_decref(expect);
		json_decref(claims);
		free(t);
	}
}
END_TEST

START_TEST(test_server_token_escaping)
{
	char *t;
	json_t *claims = NULL;
	size_t n;
	unsigned char *p;
	const char *dot1, *dot2;

	t = jwt_server_token("http://h/a\"b\\c\x01/d", -5, KEY, KEYLEN);
	ck_assert_ptr_nonnull(t);
	dot1 = strchr(t, '.');
	dot2 = strchr(dot1 + 1, '.');
	p = b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), &n);
	ck_assert_str_eq((char *)p, "{\"aud\":\"http://h/a\\\"b\\\\c\\u0001/d\",\"exp\":-5}");
	free(p);
	ck_assert_int_eq(jwt_verify(t, KEY, KEYLEN, &claims), JWT_OK);
	ck_assert_str_eq(json_string_value(json_object_get(claims, "aud")), "http://h/a\"b\\c\x01/d");
	ck_assert_int_eq(json_integer_value(json_object_get(claims, "exp")), -5);
	json_decref(claims);
	free(t);
}
END_TEST

START_TEST(test_server_token_long_aud)
{
	char *aud = malloc(5001), *t;
	json_t *claims = NULL;

	memset(aud, 'a', 5000);
	aud[5000] = '\0';
	t = jwt_server_token(aud, 1, KEY, KEYLEN);
	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(jwt_verify(t, KEY, KEYLEN, &claims), JWT_OK);
	ck_assert_str_eq(json_string_value(json_object_get(claims, "aud")), aud);
	json_decref(claims);
	free(t);
	free(aud);
}
END_TEST

/* Replace the byte at index i of a copy of tok. */
static char *tamper(const char *tok, size_t i, char c)
{
	char *s = strdup(tok);

	s[i] = c;
	return s;
}

START_TEST(test_verify_tampered)
{
	char *t;
	json_t *claims = (json_t *)1;
	size_t len = strlen(V1_TOKEN);
	const char *dot1 = strchr(V1_TOKEN, '.');

	ck_assert_int_eq(jwt_verify(V1_TOKEN, KEY, KEYLEN, NULL), JWT_OK);
	ck_assert_int_eq(
	        jwt_verify(V1_TOKEN, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGI", KEYLEN, &claims),
	        JWT_BAD_SIGNATURE);
	ck_assert_ptr_null(claims);
	ck_assert_int_eq(jwt_verify(V1_TOKEN, KEY, KEYLEN - 1, NULL), JWT_BAD_SIGNATURE);
	/* signature: change a middle character */
	t = tamper(V1_TOKEN, len - 10, V1_TOKEN[len - 10] == 'A' ? 'B' : 'A');
	ck_assert_int_eq(jwt_verify(t, KEY, KEYLEN, NULL), JWT_BAD_SIGNATURE);
	free(t);
	/* payload */
	t = tamper(V1_TOKEN, (size_t)(dot1 - V1_TOKEN) + 5, 'Z');
	ck_assert_int_eq(jwt_verify(t, KEY, KEYLEN, NULL), JWT_BAD_SIGNATURE);
	free(t);
	/* signature truncated */
	t = strdup(V1_TOKEN);
	t[len - 4] = '\0';
	ck_assert_int_ne(jwt_verify(t, KEY, KEYLEN, NULL), JWT_OK);
	t[len - 11] = '\0'; /* 32 characters: decodes to 24 bytes */
	ck_assert_int_eq(jwt_verify(t, KEY, KEYLEN, NULL), JWT_BAD_SIGNATURE);
	free(t);
}
END_TEST

/* Build header.payload.signature with a given header JSON, signed with KEY. */
static char *make_token(const char *header, const char *payload)
{
	char *h = b64url_encode(header, strlen(header));
	char *good = jwt_sign(payload, strlen(payload), KEY, KEYLEN);
	const char *rest = strchr(good, '.');
	char *t = malloc(strlen(h) + strlen(rest) + 1);

	strcpy(t, h);
	strcat(t, rest);
	free(h);
	free(good);
	return t;
}

START_TEST(test_verify_header_and_alg)
{
	char *t;

	/* a valid HS256 header that differs from ours: the signature no longer matches */
	t = make_token("{\"typ\":\"JWT\",\"alg\":\"HS256\"}", "{\"a\":1}");
	ck_assert_int_eq(jwt_verify(t, KEY, KEYLEN, NULL), JWT_BAD_SIGNATURE);
	free(t);
	t = make_token("{\"alg\":\"none\",\"typ\":\"JWT\"}", "{\"a\":1}");
	ck_assert_int_eq(jwt_verify(t, KEY, KEYLEN, NULL), JWT_BAD_ALG);
	free(t);
	t = make_token("{\"alg\":\"HS512\"}", "{\"a\":1}");
	ck_assert_int_eq(jwt_verify(t, KEY, KEYLEN, NULL), JWT_BAD_ALG);
	free(t);
	t = make_token("{\"alg\":\"hs256\"}", "{\"a\":1}");
	ck_assert_int_eq(jwt_verify(t, KEY, KEYLEN, NULL), JWT_BAD_ALG);
	free(t);
	t = make_token("{\"typ\":\"JWT\"}", "{\"a\":1}");
	ck_assert_int_eq(jwt_verify(t, KEY, KEYLEN, NULL), JWT_BAD_ALG);
	free(t);
	t = make_token("{\"alg\":null}", "{\"a\":1}");
	ck_assert_int_eq(jwt_verify(t, KEY, KEYLEN, NULL), JWT_BAD_ALG);
	free(t);
	t = make_token("[\"HS256\"]", "{\"a\":1}");
	ck_assert_int_eq(jwt_verify(t, KEY, KEYLEN, NULL), JWT_MALFORMED);
	free(t);
	t = make_token("not json", "{\"a\":1}");
	ck_assert_int_eq(jwt_verify(t, KEY, KEYLEN, NULL), JWT_MALFORMED);
	free(t);
	/* alg none with an empty signature */
	{
		char *h = b64url_encode("{\"alg\":\"none\"}", 14);
		char *p = b64url_encode("{\"a\":1}", 7);
		char tok[256];

		snprintf(tok, sizeof(tok), "%s.%s.", h, p);
		ck_assert_int_eq(jwt_verify(tok, KEY, KEYLEN, NULL), JWT_BAD_ALG);
		free(h);
		free(p);
	}
}
END_TEST

START_TEST(test_verify_payload_must_be_object)
{
	json_t *claims = NULL;
	char *t;

	t = jwt_sign("[1,2]", 5, KEY, KEYLEN);
	ck_assert_int_eq(jwt_verify(t, KEY, KEYLEN, &claims), JWT_MALFORMED);
	ck_assert_ptr_null(claims);
	free(t);
	t = jwt_sign("{\"a\":", 5, KEY, KEYLEN);
	ck_assert_int_eq(jwt_verify(t, KEY, KEYLEN, &claims), JWT_MALFORMED);
	free(t);
	t = jwt_sign("{}", 2, KEY, KEYLEN);
	ck_assert_int_eq(jwt_verify(t, KEY, KEYLEN, &claims), JWT_OK);
	ck_assert_int_eq(json_object_size(claims), 0);
	json_decref(claims);
	free(t);
}
END_TEST

START_TEST(test_verify_malformed)
{
	static const char *bad[] = {
		"",
		".",
		"..",
		"...",
		"abc",
		"abc.def",
		"a.b.c.d",
		"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9..",
		"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.e30.@@@",
		"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9!.e30.AAAA",
		"e.e30.AKEH6UxSbrzYxu-UrHWw9-XPTpkn61lqlC-9ULAsSDo",
	};
	size_t i;
	char *huge;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(jwt_verify(bad[i], KEY, KEYLEN, NULL) != JWT_OK, "accepted '%s'", bad[i]);
	ck_assert_int_eq(jwt_verify(NULL, KEY, KEYLEN, NULL), JWT_MALFORMED);
	ck_assert_int_eq(jwt_verify("a.b.c.d", KEY, KEYLEN, NULL), JWT_MALFORMED);
	huge = malloc(100001);
	memset(huge, 'A', 100000);
	huge[100000] = '\0';
	huge[10] = '.';
	huge[20] = '.';
	ck_assert_int_eq(jwt_verify(huge, KEY, KEYLEN, NULL), JWT_MALFORMED);
	free(huge);
}
END_TEST

START_TEST(test_b64url)
{
	static const struct {
		const char *in;
		const char *out;
	} v[] = {
		{ "", "" },
		{ "f", "Zg" },
		{ "fo", "Zm8" },
		{ "foo", "Zm9v" },
		{ "foob", "Zm9vYg" },
		{ "fooba", "Zm9vYmE" },
		{ "foobar", "Zm9vYmFy" },
		{ "\xfb\xff\xbf", "-_-_" },
	};
	size_t i, n;

	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		char *e = b64url_encode(v[i].in, strlen(v[i].in));
		unsigned char *d;

		ck_assert_str_eq(e, v[i].out);
		d = b64url_decode(e, strlen(e), &n);
		ck_assert_ptr_nonnull(d);
		ck_assert_uint_eq(n, strlen(v[i].in));
		ck_assert_int_eq(memcmp(d, v[i].in, n), 0);
		ck_assert_int_eq(d[n], '\0');
		free(d);
		free(e);
	}
}
END_TEST

START_TEST(test_b64url_decode_edges)
{
	size_t n;
	unsigned char *d;

	d = b64url_decode("Zg==", 4, &n); /* padding tolerated */
	ck_assert_ptr_nonnull(d);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(d[0], 'f');
	free(d);
	d = b64url_decode("Zm8=", 4, &n);
	ck_assert_ptr_nonnull(d);
	ck_assert_uint_eq(n, 2);
	free(d);
	ck_assert_ptr_null(b64url_decode("Z", 1, &n));   /* impossible length */
	ck_assert_ptr_null(b64url_decode("Zg=", 3, &n)); /* incomplete padding */
	ck_assert_ptr_null(b64url_decode("Zg===", 5, &n));
	ck_assert_ptr_null(b64url_decode("Z=g=", 4, &n)); /* padding in the middle */
	ck_assert_ptr_null(b64url_decode("Zh", 2, &n));   /* non-zero trailing bits */
	ck_assert_ptr_null(b64url_decode("Zm9+", 4, &n)); /* standard alphabet */
	ck_assert_ptr_null(b64url_decode("Zm9/", 4, &n));
	ck_assert_ptr_null(b64url_decode("Zm 9", 4, &n));
	ck_assert_ptr_null(b64url_decode("Zm9\n", 4, &n));
	d = b64url_decode("", 0, &n);
	ck_assert_ptr_nonnull(d);
	ck_assert_uint_eq(n, 0);
	free(d);
	d = b64url_decode("Zm9vYmFyXXX", 8, &n); /* only len bytes looked at */
	ck_assert_ptr_nonnull(d);
	ck_assert_str_eq((char *)d, "foobar");
	free(d);
}
END_TEST

START_TEST(test_b64_standard)
{
	unsigned char all[256];
	char *e;
	unsigned char *d;
	size_t i, n;

	for (i = 0; i < 256; i++)
		all[i] = (unsigned char)i;
	for (i = 0; i <= 256; i += 1) {
		e = b64_encode(all, i);
		ck_assert_uint_eq(strlen(e), (i + 2) / 3 * 4);
		d = b64_decode(e, strlen(e), &n);
		ck_assert_ptr_nonnull(d);
		ck_assert_uint_eq(n, i);
		ck_assert_int_eq(memcmp(d, all, i), 0);
		free(d);
		free(e);
	}
	e = b64_encode("\xfb\xff\xbf"
	               "f",
	               4);
	ck_assert_str_eq(e, "+/+/Zg==");
	free(e);
	ck_assert_ptr_null(b64_decode("-_-_", 4, &n));
	d = b64_decode("aGk=", 4, &n);
	ck_assert_str_eq((char *)d, "hi");
	free(d);
	d = b64_decode("aGk", 3, &n);
	ck_assert_str_eq((char *)d, "hi");
	free(d);
}
END_TEST

/* The signature must equal OpenSSL's own HMAC() for every key length, including the block size. */
START_TEST(test_hmac_key_lengths)
{
	static const size_t lens[] = { 0, 1, 44, 63, 64, 65, 128, 1000 };
	unsigned char key[1000];
	size_t i;

	for (i = 0; i < sizeof(key); i++)
		key[i] = (unsigned char)(i * 7 + 1);
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		char *t = jwt_sign("{\"a\":1}", 7, key, lens[i]);
		const char *sig = strrchr(t, '.') + 1;
		unsigned char mac[32], *got;
		unsigned int ml = 0;
		size_t n;

		ck_assert_ptr_nonnull(HMAC(EVP_sha256(), lens[i] ? key : (const unsigned char *)"",
		                           (int)lens[i], (const unsigned char *)t, (size_t)(sig - 1 - t), mac,
		                           &ml));
		got = b64url_decode(sig, strlen(sig), &n);
		ck_assert_uint_eq(n, 32);
		ck_assert_msg(memcmp(got, mac, 32) == 0, "key length %zu", lens[i]);
		ck_assert_int_eq(jwt_verify(t, key, lens[i], NULL), JWT_OK);
		if (lens[i] > 0)
			ck_assert_int_eq(jwt_verify(t, key, lens[i] - 1, NULL), JWT_BAD_SIGNATURE);
		free(got);
		free(t);
	}
}
END_TEST

START_TEST(test_sign_header)
{
	static const char hdr[] = "{\"alg\":\"HS256\",\"kid\":\"k1\",\"typ\":\"JWT\"}";
	char *t = jwt_sign_header(hdr, strlen(hdr), "{\"a\":1}", 7, KEY, KEYLEN);
	char *plain = jwt_sign("{\"a\":1}", 7, KEY, KEYLEN);
	size_t n;
	unsigned char *h;

	ck_assert_ptr_nonnull(t);
	ck_assert_int_eq(jwt_verify(t, KEY, KEYLEN, NULL), JWT_OK);
	ck_assert_int_eq(jwt_verify(t, "other", 5, NULL), JWT_BAD_SIGNATURE);
	h = b64url_decode(t, strcspn(t, "."), &n);
	ck_assert_str_eq((char *)h, hdr);
	free(h);
	/* the same payload segment, another header, so another signature */
	ck_assert_str_ne(t, plain);
	ck_assert_int_eq(strncmp(strchr(t, '.'), strchr(plain, '.'), 12), 0);
	ck_assert_str_ne(strrchr(t, '.'), strrchr(plain, '.'));
	free(t);
	free(plain);
}
END_TEST

static Suite *jwt_suite(void)
{
	Suite *s = suite_create("jwt");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_embedded_vector);
	tcase_add_test(tc, test_sha256_digest);
	tcase_add_test(tc, test_file_vectors);
	tcase_add_test(tc, test_server_token_escaping);
	tcase_add_test(tc, test_server_token_long_aud);
	tcase_add_test(tc, test_verify_tampered);
	tcase_add_test(tc, test_verify_header_and_alg);
	tcase_add_test(tc, test_verify_payload_must_be_object);
	tcase_add_test(tc, test_verify_malformed);
	tcase_add_test(tc, test_b64url);
	tcase_add_test(tc, test_b64url_decode_edges);
	tcase_add_test(tc, test_b64_standard);
	tcase_add_test(tc, test_hmac_key_lengths);
	tcase_add_test(tc, test_sign_header);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(jwt_suite());
}
