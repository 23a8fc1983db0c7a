/* check_evsig.c: ce-signature made and checked, against the vectors of webpubsub-events.md (section 4,
 * from the .NET handler library's tests, rechecked with openssl dgst -sha256 -hmac). */
#include <config.h>

#include <check.h>
#include <string.h>

#include "check_main.h"
#include "evsig.h"

#define K1  "7aab239577fd4f24bc919802fb629f5f"
#define K2  "a5f2815d0d0c4b00bd27e832432f91ab"
#define CID "0f9c97a2f0bf4706afe87a14e0797b11"
#define S1  "sha256=7767effcb3946f3e1de039df4b986ef02c110b1469d02c0a06f41b3b727ab561"
#define S2  "sha256=d4aefb65547a00a9881fa8ac8bd03d0faf77af9da5205d45c6e57cbda4377760"

static const char *const one[] = { K1 };
static const size_t one_len[] = { sizeof K1 - 1 };
static const char *const two[] = { "not-this-one", K2 };
static const size_t two_len[] = { 12, sizeof K2 - 1 };

START_TEST(test_value)
{
	char v[EVSIG_VALUE_LEN + 1];

	ck_assert_int_eq(evsig_value(K1, strlen(K1), CID, v), 0);
	ck_assert_str_eq(v, S1);
	ck_assert_int_eq(evsig_value(K2, strlen(K2), CID, v), 0);
	ck_assert_str_eq(v, S2);
	ck_assert_int_eq(evsig_value(NULL, 0, CID, v), -1);
}
END_TEST

START_TEST(test_verify)
{
	/* one item, both keys in one header (either order), two header lines joined, blanks, hex case */
	ck_assert_int_eq(evsig_verify(S1, CID, one, one_len, 1), 1);
	ck_assert_int_eq(evsig_verify(S2 "," S1, CID, one, one_len, 1), 1);
	ck_assert_int_eq(evsig_verify(S1 ", " S2, CID, two, two_len, 2), 1);
	ck_assert_int_eq(evsig_verify(" ,," S2 " , ", CID, two, two_len, 2), 1);
	ck_assert_int_eq(
	        evsig_verify("sha256=7767EFFCB3946F3E1DE039DF4B986EF02C110B1469D02C0A06F41B3B727AB561", CID,
	                     one, one_len, 1),
	        1);
	/* the right form, the wrong value: another connection, another key, no key */
	ck_assert_int_eq(evsig_verify(S1, "another-connection", one, one_len, 1), 0);
	ck_assert_int_eq(evsig_verify(S1, CID, two, two_len, 2), 0);
	ck_assert_int_eq(evsig_verify(S1, CID, one, one_len, 0), 0);
	ck_assert_int_eq(evsig_verify("", CID, one, one_len, 1), 0);
	ck_assert_int_eq(evsig_verify(" , ", CID, one, one_len, 1), 0);
}
END_TEST

START_TEST(test_malformed)
{
	char big[EVSIG_HEADER_MAX + 80];
	size_t i;

	ck_assert_int_eq(evsig_verify(NULL, CID, one, one_len, 1), -1);
	ck_assert_int_eq(evsig_verify("sha1=7767effcb3946f3e1de039df4b986ef02c110b1469d02c0a06f41b3b727ab561",
	                              CID, one, one_len, 1),
	                 -1);
	ck_assert_int_eq(
	        evsig_verify("sha256=7767effcb3946f3e1de039df4b986ef02c110b1469d02c0a06f41b3b727ab56", CID,
	                     one, one_len, 1),
	        -1); /* 63 digits */
	ck_assert_int_eq(
	        evsig_verify("sha256=7767effcb3946f3e1de039df4b986ef02c110b1469d02c0a06f41b3b727ab56g", CID,
	                     one, one_len, 1),
	        -1);
	ck_assert_int_eq(evsig_verify(S1 ";" S2, CID, one, one_len, 1), -1);
	/* more items than EVSIG_ITEMS_MAX, a header longer than EVSIG_HEADER_MAX */
	big[0] = '\0';
	for (i = 0; i <= EVSIG_ITEMS_MAX; i++)
		strcat(big, i ? "," S2 : S2);
	ck_assert_int_eq(evsig_verify(big, CID, one, one_len, 1), -1);
	memset(big, ' ', sizeof big - 1);
	big[sizeof big - 1] = '\0';
	memcpy(big, S1, strlen(S1));
	ck_assert_int_eq(evsig_verify(big, CID, one, one_len, 1), -1);
}
END_TEST

static Suite *evsig_suite(void)
{
	Suite *s = suite_create("evsig");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_value);
	tcase_add_test(tc, test_verify);
	tcase_add_test(tc, test_malformed);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return check_run(evsig_suite());
}
