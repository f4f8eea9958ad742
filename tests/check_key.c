// SPDX-License-Identifier: MIT
/* Keys: base64 and hex encodings as wg(8) writes them, and X25519 public keys. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include <check.h>
#include <sodium.h>

#include "tun/wg/key.h"

/*
 * RFC 7748, section 6.1: Alice's private key and its public key.
 *   a  = 77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a
 *   aG = 8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a
 * and Bob's:
 *   b  = 5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb
 *   bG = de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f
 */
static const struct {
	const char *priv_hex, *pub_hex, *priv_b64, *pub_b64;
} vectors[] = {
	{ "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
	  "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
	  "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=",
	  "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=" },
	{ "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
	  "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f",
	  "XasIfmJKikt54X+Lg4AO5m87sSkmGLb9HC+LJ/+I4Os=",
	  "3p7bfXt9wbTTW2HC7OQ1Nz+DQ8hbeGdNrfx+FG+IK08=" },
};

START_TEST(test_vectors)
{
	uint8_t priv[FT_KEY_LEN], pub[FT_KEY_LEN], want[FT_KEY_LEN];
	char b64[FT_KEY_B64_LEN + 1], hex[FT_KEY_HEX_LEN + 1];

	ck_assert_int_eq(ft_key_from_hex(priv, vectors[_i].priv_hex), 0);
	ck_assert_int_eq(ft_key_from_hex(want, vectors[_i].pub_hex), 0);
	ck_assert_int_eq(ft_key_public(pub, priv), 0);
	ck_assert_mem_eq(pub, want, FT_KEY_LEN);

	ft_key_to_base64(b64, priv);
	ck_assert_str_eq(b64, vectors[_i].priv_b64);
	ft_key_to_base64(b64, pub);
	ck_assert_str_eq(b64, vectors[_i].pub_b64);
	ft_key_to_hex(hex, pub);
	ck_assert_str_eq(hex, vectors[_i].pub_hex);

	ck_assert_int_eq(ft_key_from_base64(pub, vectors[_i].pub_b64), 0);
	ck_assert_mem_eq(pub, want, FT_KEY_LEN);
}
END_TEST

static const struct {
	const char *input;
	const char *why;
} bad_base64[] = {
	{ "", "empty" },
	{ "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo", "43 characters, no padding" },
	{ "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo==", "45 characters" },
	{ "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LC==", "two padding characters (31 bytes)" },
	{ "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCp=", "non-zero trailing bits" },
	{ "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25L!o=", "not a base64 digit" },
	{ "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LC-=", "URL-safe alphabet" },
	{ " dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LC=", "embedded space" },
};

START_TEST(test_bad_base64)
{
	uint8_t key[FT_KEY_LEN];

	ck_assert_msg(ft_key_from_base64(key, bad_base64[_i].input) == -EINVAL, "accepted: %s",
		      bad_base64[_i].why);
}
END_TEST

START_TEST(test_bad_hex)
{
	uint8_t key[FT_KEY_LEN];

	ck_assert_int_eq(ft_key_from_hex(key, ""), -EINVAL);
	ck_assert_int_eq(ft_key_from_hex(key, "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab1"
					      "77fba51db92c2"),
			 -EINVAL);
	ck_assert_int_eq(ft_key_from_hex(key, "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab1"
					      "77fba51db92c2g"),
			 -EINVAL);
	ck_assert_int_eq(ft_key_from_hex(key, "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab1"
					      "77fba51db92c2a0"),
			 -EINVAL);
}
END_TEST

START_TEST(test_generate_clamped)
{
	uint8_t key[FT_KEY_LEN], pub[FT_KEY_LEN], again[FT_KEY_LEN];

	for (int i = 0; i < 64; i++) {
		ft_key_generate_private(key);
		ck_assert_int_eq(key[0] & 7, 0);
		ck_assert_int_eq(key[31] & 128, 0);
		ck_assert_int_eq(key[31] & 64, 64);
		ck_assert_int_eq(ft_key_public(pub, key), 0);
		ck_assert_int_eq(ft_key_public(again, key), 0);
		ck_assert_mem_eq(pub, again, FT_KEY_LEN);
	}
}
END_TEST

START_TEST(test_unclamped_private_key)
{
	/* wg pubkey clamps its own copy: an unclamped private key gives the clamped one's key. */
	uint8_t priv[FT_KEY_LEN], clamped[FT_KEY_LEN], a[FT_KEY_LEN], b[FT_KEY_LEN];

	memset(priv, 0xff, sizeof(priv));
	memcpy(clamped, priv, sizeof(priv));
	ft_key_clamp(clamped);
	ck_assert_int_eq(ft_key_public(a, priv), 0);
	ck_assert_int_eq(ft_key_public(b, clamped), 0);
	ck_assert_mem_eq(a, b, FT_KEY_LEN);
}
END_TEST

static Suite *key_suite(void)
{
	Suite *s = suite_create("key");
	TCase *tc = tcase_create("key");

	tcase_add_loop_test(tc, test_vectors, 0, sizeof(vectors) / sizeof(vectors[0]));
	tcase_add_loop_test(tc, test_bad_base64, 0, sizeof(bad_base64) / sizeof(bad_base64[0]));
	tcase_add_test(tc, test_bad_hex);
	tcase_add_test(tc, test_generate_clamped);
	tcase_add_test(tc, test_unclamped_private_key);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	if (sodium_init() < 0)
		return 1;
	sr = srunner_create(key_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
