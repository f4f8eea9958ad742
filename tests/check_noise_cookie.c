// SPDX-License-Identifier: MIT
/*
 * The cookie mechanism (tun/wg/cookie.h) between the two identities of tests/noise-harness.c:
 * macs, cookie replies, their staleness, the secret's rotation, the maker's expiry and the
 * source a cookie is bound to. The handshake itself is check_noise.c.
 */
#include "config.h"

#include <string.h>

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <sodium.h>

#include "tests/check_main.h"
#include "tests/noise-harness.h"

START_TEST(test_cookie_path)
{
	uint8_t m[FT_WIRE_INITIATION_LEN], reply[FT_WIRE_COOKIE_REPLY_LEN];
	uint8_t bad[FT_WIRE_COOKIE_REPLY_LEN];

	make_initiation(m, 0xabcdef01);
	ck_assert_int_eq(ft_cookie_checker_validate(&B.checker, m, sizeof(m), src_a, sizeof(src_a),
						    true, now),
			 -FT_NOISE_BAD_MAC2);
	ck_assert_int_eq(ft_cookie_checker_create_reply(&B.checker, reply, m, sizeof(m), src_a,
							sizeof(src_a), now),
			 0);
	/* type 3, receiver = the initiation's sender. */
	ck_assert_int_eq(ft_wire_message_type(reply, sizeof(reply)), FT_WIRE_COOKIE_REPLY);
	ck_assert_uint_eq(ft_wire_load_le32(reply + FT_WIRE_COOKIE_OFF_RECEIVER), 0xabcdef01);

	/* Tampered replies are refused and do not use up the reply. */
	for (size_t off = FT_WIRE_COOKIE_OFF_NONCE; off < sizeof(reply); off += 7) {
		memcpy(bad, reply, sizeof(bad));
		bad[off] ^= 1;
		ck_assert_int_eq(ft_cookie_maker_consume_reply(&A.maker, bad, sizeof(bad), now),
				 -FT_NOISE_DECRYPT_FAILED);
	}
	ck_assert_int_eq(ft_cookie_maker_consume_reply(&A.maker, reply, 63, now),
			 -FT_NOISE_TRUNCATED);
	ck_assert_int_eq(ft_cookie_maker_consume_reply(&A.maker, reply, sizeof(reply), now), 0);
	ck_assert_int_eq(ft_cookie_maker_consume_reply(&A.maker, reply, sizeof(reply), now),
			 -FT_NOISE_WRONG_STATE);

	now += FT_NSEC_PER_SEC;
	make_initiation(m, 2);
	ck_assert(!sodium_is_zero(m + FT_WIRE_INIT_OFF_MAC2, 16));
	ck_assert_int_eq(ft_cookie_checker_validate(&B.checker, m, sizeof(m), src_a, sizeof(src_a),
						    true, now),
			 0);
	/* The cookie is bound to the source address and port. */
	ck_assert_int_eq(ft_cookie_checker_validate(&B.checker, m, sizeof(m), src_a_other_port,
						    sizeof(src_a_other_port), true, now),
			 -FT_NOISE_BAD_MAC2);
	ck_assert_int_eq(b_consume(m, sizeof(m)), 0);

	/* The responder's response under load gets the same treatment from A. */
	{
		uint8_t resp[FT_WIRE_RESPONSE_LEN];
		const uint8_t src_b[6] = { 198, 18, 0, 2, 0xca, 0x6c };

		make_response(resp, 0x77);
		ck_assert_int_eq(ft_cookie_checker_validate(&A.checker, resp, sizeof(resp), src_b,
							    sizeof(src_b), true, now),
				 -FT_NOISE_BAD_MAC2);
		ck_assert_int_eq(ft_cookie_checker_create_reply(&A.checker, reply, resp,
								sizeof(resp), src_b, sizeof(src_b),
								now),
				 0);
		ck_assert_uint_eq(ft_wire_load_le32(reply + 4), 0x77);
		ck_assert_int_eq(ft_cookie_maker_consume_reply(&B.maker, reply, sizeof(reply), now),
				 0);
	}
}
END_TEST

/* A reply answers the message it was made for: after A sends another, it no longer opens. */
START_TEST(test_cookie_reply_stale)
{
	uint8_t m[FT_WIRE_INITIATION_LEN], reply[FT_WIRE_COOKIE_REPLY_LEN] = { 0 };

	ck_assert_int_eq(ft_cookie_maker_consume_reply(&A.maker, reply, sizeof(reply), now),
			 -FT_NOISE_TRUNCATED);
	make_initiation(m, 1);
	ck_assert_int_eq(ft_cookie_checker_create_reply(&B.checker, reply, m, sizeof(m), src_a,
							sizeof(src_a), now),
			 0);
	make_initiation(m, 2);
	ck_assert_int_eq(ft_cookie_maker_consume_reply(&A.maker, reply, sizeof(reply), now),
			 -FT_NOISE_DECRYPT_FAILED);
	/* A reply from someone else (made with another responder's key) does not open either. */
	ck_assert_int_eq(ft_cookie_checker_create_reply(&A.checker, reply, m, sizeof(m), src_a,
							sizeof(src_a), now),
			 0);
	ck_assert_int_eq(ft_cookie_maker_consume_reply(&A.maker, reply, sizeof(reply), now),
			 -FT_NOISE_DECRYPT_FAILED);
}
END_TEST

/* Responder time since the cookie was made, and whether mac2 must still be accepted. */
static const struct {
	uint64_t after_s;
	bool valid;
} rotation_cases[] = {
	{ 0, true },   { 119, true },  { 120, true }, /* rotated once: the previous secret */
	{ 239, true }, { 240, false },		      /* idle two periods: both secrets new */
};

START_TEST(test_cookie_rotation)
{
	uint8_t m[FT_WIRE_INITIATION_LEN], reply[FT_WIRE_COOKIE_REPLY_LEN], first[32];
	uint64_t t0 = now;

	B.id.random = fake_random;
	make_initiation(m, 1);
	ck_assert_int_eq(ft_cookie_checker_create_reply(&B.checker, reply, m, sizeof(m), src_a,
							sizeof(src_a), t0),
			 0);
	memcpy(first, B.checker.secret, 32);
	ck_assert_int_eq(ft_cookie_maker_consume_reply(&A.maker, reply, sizeof(reply), t0), 0);
	/* The maker keeps the cookie for 120 s; the checker is judged at after_s. */
	make_initiation(m, 2);
	ck_assert_int_eq(
		ft_cookie_checker_validate(&B.checker, m, sizeof(m), src_a, sizeof(src_a), true,
					   t0 + rotation_cases[_i].after_s * FT_NSEC_PER_SEC),
		rotation_cases[_i].valid ? 0 : -FT_NOISE_BAD_MAC2);
	if (rotation_cases[_i].after_s >= 120)
		ck_assert(memcmp(first, B.checker.secret, 32) != 0);
	else
		ck_assert_mem_eq(first, B.checker.secret, 32);
}
END_TEST

/* The secret rotated twice while in use: a cookie two generations old is refused. */
START_TEST(test_cookie_rotation_twice)
{
	uint8_t m[FT_WIRE_INITIATION_LEN], reply[FT_WIRE_COOKIE_REPLY_LEN];
	uint64_t t0 = now;

	make_initiation(m, 1);
	ck_assert_int_eq(ft_cookie_checker_create_reply(&B.checker, reply, m, sizeof(m), src_a,
							sizeof(src_a), t0),
			 0);
	ck_assert_int_eq(ft_cookie_maker_consume_reply(&A.maker, reply, sizeof(reply), t0), 0);
	make_initiation(m, 2);
	ck_assert_int_eq(ft_cookie_checker_validate(&B.checker, m, sizeof(m), src_a, sizeof(src_a),
						    true, t0 + 130 * FT_NSEC_PER_SEC),
			 0);
	ck_assert_int_eq(ft_cookie_checker_validate(&B.checker, m, sizeof(m), src_a, sizeof(src_a),
						    true, t0 + 251 * FT_NSEC_PER_SEC),
			 -FT_NOISE_BAD_MAC2);
}
END_TEST

/* The initiator stops sending an expired cookie: mac2 is zero again after 120 s. */
START_TEST(test_cookie_maker_expiry)
{
	uint8_t m[FT_WIRE_INITIATION_LEN], reply[FT_WIRE_COOKIE_REPLY_LEN];
	uint64_t t0 = now;

	make_initiation(m, 1);
	ck_assert_int_eq(ft_cookie_checker_create_reply(&B.checker, reply, m, sizeof(m), src_a,
							sizeof(src_a), t0),
			 0);
	ck_assert_int_eq(ft_cookie_maker_consume_reply(&A.maker, reply, sizeof(reply), t0), 0);
	now = t0 + FT_COOKIE_SECRET_MAX_AGE_NS - 1;
	make_initiation(m, 2);
	ck_assert(!sodium_is_zero(m + FT_WIRE_INIT_OFF_MAC2, 16));
	now = t0 + FT_COOKIE_SECRET_MAX_AGE_NS;
	make_initiation(m, 3);
	ck_assert(sodium_is_zero(m + FT_WIRE_INIT_OFF_MAC2, 16));
	ck_assert(!A.maker.have_cookie);
}
END_TEST

START_TEST(test_cookie_source)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(51820) };
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_port = htons(51820) };
	struct sockaddr_storage ss = { .ss_family = AF_UNIX };
	uint8_t out[FT_COOKIE_SOURCE_MAX];

	ck_assert_int_eq(inet_pton(AF_INET, "198.18.0.1", &sin.sin_addr), 1);
	ck_assert_uint_eq(ft_cookie_source(out, (struct sockaddr *)&sin), 6);
	ck_assert_mem_eq(out, src_a, 6);
	ck_assert_int_eq(inet_pton(AF_INET6, "fd00::1", &sin6.sin6_addr), 1);
	ck_assert_uint_eq(ft_cookie_source(out, (struct sockaddr *)&sin6), 18);
	ck_assert_int_eq(out[0], 0xfd);
	ck_assert_int_eq(out[15], 1);
	ck_assert_int_eq(out[16], 0xca);
	ck_assert_int_eq(out[17], 0x6c);
	ck_assert_uint_eq(ft_cookie_source(out, (struct sockaddr *)&ss), 0);
}
END_TEST

static Suite *noise_cookie_suite(void)
{
	Suite *s = suite_create("noise_cookie");
	TCase *tcc = tcase_create("cookie");

	tcase_add_checked_fixture(tcc, setup, teardown);
	tcase_add_test(tcc, test_cookie_path);
	tcase_add_test(tcc, test_cookie_reply_stale);
	tcase_add_loop_test(tcc, test_cookie_rotation, 0, N(rotation_cases));
	tcase_add_test(tcc, test_cookie_rotation_twice);
	tcase_add_test(tcc, test_cookie_maker_expiry);
	tcase_add_test(tcc, test_cookie_source);
	suite_add_tcase(s, tcc);
	return s;
}

FT_CHECK_MAIN(noise_cookie_suite, FT_CHECK_SODIUM)
