// SPDX-License-Identifier: MIT
/*
 * The handshake (tun/wg/noise.h) between two identities in one process (the cookie mechanism
 * is check_noise_cookie.c; what both share is tests/noise-harness.c), with a fake wall clock, a fake monotonic clock and, where it
 * matters, a deterministic random source.
 *
 * A is the initiator with the RFC 7748 "Alice" key, B the responder with "Bob":
 *   A private 77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a
 *   A public  8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a
 *   B private 5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb
 *   B public  de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f
 */
#include "config.h"

#include <string.h>

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <sodium.h>

#include "tests/check_main.h"
#include "tests/noise-harness.h"

START_TEST(test_constants)
{
	uint8_t c0[32], h0[32], got[32];

	unhex(c0, 32, c0_hex);
	unhex(h0, 32, h0_hex);
	ft_crypto_hash(got, FT_WIRE_CONSTRUCTION, strlen(FT_WIRE_CONSTRUCTION));
	ck_assert_mem_eq(got, c0, 32);
	ft_crypto_hash2(got, c0, 32, FT_WIRE_IDENTIFIER, strlen(FT_WIRE_IDENTIFIER));
	ck_assert_mem_eq(got, h0, 32);

	/* The wire layout adds up. */
	ck_assert_int_eq(FT_WIRE_INIT_OFF_MAC2 + FT_WIRE_MAC_LEN, FT_WIRE_INITIATION_LEN);
	ck_assert_int_eq(FT_WIRE_RESP_OFF_MAC2 + FT_WIRE_MAC_LEN, FT_WIRE_RESPONSE_LEN);
	ck_assert_int_eq(FT_WIRE_COOKIE_OFF_COOKIE + 32, FT_WIRE_COOKIE_REPLY_LEN);
	ck_assert_int_eq(FT_WIRE_MAC1_OFFSET(FT_WIRE_INITIATION_LEN), FT_WIRE_INIT_OFF_MAC1);
	ck_assert_int_eq(FT_WIRE_MAC1_OFFSET(FT_WIRE_RESPONSE_LEN), FT_WIRE_RESP_OFF_MAC1);
	ck_assert(FT_REJECT_AFTER_MESSAGES == 18446744073709543423ULL);
}
END_TEST

/*
 * The initiation follows section 5.4.2 to the byte: the test redoes the formulas with the
 * primitives and the hex constants above, then opens msg.static and msg.timestamp.
 */
START_TEST(test_initiation_formulas)
{
	uint8_t msg[FT_WIRE_INITIATION_LEN], ck[32], h[32], k[32], dh[32], eph_priv[32];
	uint8_t eph_pub[32], plain[32], ts[12], mac1_key[32], mac1[16];
	const uint8_t *b_pub = B.id.public_key;

	A.id.random = fake_random;
	rng_counter = 7;
	fake_wall.tv_nsec = 123456789;
	ck_assert_int_eq(ft_noise_create_initiation(A.hs, msg, 0xa1b2c3d4), 0);
	ft_cookie_maker_add_macs(&A.maker, msg, sizeof(msg), now);

	/* Header: type 1, three zero bytes, sender little-endian. */
	ck_assert_int_eq(msg[0], 1);
	ck_assert_int_eq(msg[1] | msg[2] | msg[3], 0);
	ck_assert_int_eq(msg[4], 0xd4);
	ck_assert_int_eq(msg[7], 0xa1);

	/* The same ephemeral from the same random bytes. */
	rng_counter = 7;
	ft_crypto_dh_generate(eph_priv, eph_pub, fake_random);
	ck_assert_mem_eq(msg + 8, eph_pub, 32);

	unhex(ck, 32, c0_hex);
	unhex(h, 32, h0_hex);
	ft_crypto_hash2(h, h, 32, b_pub, 32);			/* Hi = HASH(Hi || Spub_r) */
	ft_crypto_kdf(ck, NULL, NULL, ck, eph_pub, 32);		/* Ci = KDF1(Ci, Epub_i) */
	ft_crypto_hash2(h, h, 32, eph_pub, 32);			/* Hi = HASH(Hi || Epub_i) */
	ck_assert_int_eq(ft_crypto_dh(dh, eph_priv, b_pub), 0); /* DH(Epriv_i, Spub_r) */
	ft_crypto_kdf(ck, k, NULL, ck, dh, 32);
	ck_assert_int_eq(ft_crypto_aead_decrypt(plain, msg + 40, 48, h, 32, 0, k), 0);
	ck_assert_mem_eq(plain, A.id.public_key, 32);
	ft_crypto_hash2(h, h, 32, msg + 40, 48);
	ck_assert_int_eq(ft_crypto_dh(dh, A.id.private_key, b_pub), 0); /* DH(Spriv_i, Spub_r) */
	ft_crypto_kdf(ck, k, NULL, ck, dh, 32);
	ck_assert_int_eq(ft_crypto_aead_decrypt(ts, msg + 88, 28, h, 32, 0, k), 0);
	/* 2^62 + 10 + 1700000000 s; 123456789 ns rounded down to a multiple of 2^24. */
	ck_assert_mem_eq(ts, "\x40\x00\x00\x00\x65\x53\xf1\x0a\x07\x00\x00\x00", 12);
	ft_crypto_hash2(h, h, 32, msg + 88, 28);
	ck_assert_mem_eq(h, A.hs->hash, 32);
	ck_assert_mem_eq(ck, A.hs->chaining_key, 32);

	/* mac1 = MAC(HASH("mac1----" || Spub_r), msg_a); mac2 zero without a cookie. */
	ft_crypto_hash2(mac1_key, "mac1----", 8, b_pub, 32);
	ck_assert_mem_eq(mac1_key, B.id.mac1_key, 32);
	ft_crypto_mac(mac1, mac1_key, 32, msg, 116);
	ck_assert_mem_eq(msg + 116, mac1, 16);
	ck_assert(sodium_is_zero(msg + 132, 16));
}
END_TEST

/* Preshared key: none, or the same on both sides. */
static const struct {
	bool psk;
} psk_cases[] = { { false }, { true } };

START_TEST(test_handshake)
{
	struct ft_noise_session sa, sb, sa2, sb2;
	uint8_t psk[32];

	if (psk_cases[_i].psk) {
		memset(psk, 0x5a, sizeof(psk));
		ft_noise_handshake_set_psk(A.hs, psk);
		ft_noise_handshake_set_psk(B.hs, psk);
	}
	ck_assert_int_eq(full_handshake(&sa, &sb), 0);
	assert_sessions_match(&sa, &sb, 0x11111111, 0x22222222);
	/* begin_session wiped the handshakes. */
	ck_assert_int_eq(A.hs->state, FT_HANDSHAKE_ZEROED);
	ck_assert_int_eq(B.hs->state, FT_HANDSHAKE_ZEROED);
	ck_assert(sodium_is_zero(A.hs->chaining_key, 32));
	ck_assert(sodium_is_zero(A.hs->ephemeral_private, 32));
	ck_assert(sodium_is_zero(B.hs->hash, 32));

	/* A second handshake (a rekey) derives fresh keys. */
	now += FT_NSEC_PER_SEC;
	ck_assert_int_eq(full_handshake(&sa2, &sb2), 0);
	assert_sessions_match(&sa2, &sb2, 0x11111111, 0x22222222);
	ck_assert(memcmp(sa.send_key, sa2.send_key, 32) != 0);
}
END_TEST

/* psk on A, psk on B (0: none); the response fails to open when they differ. */
static const struct {
	uint8_t a, b;
} psk_mismatch[] = { { 0, 1 }, { 1, 0 }, { 1, 2 } };

START_TEST(test_psk_mismatch)
{
	struct ft_noise_session sa, sb;
	uint8_t psk[32];

	if (psk_mismatch[_i].a) {
		memset(psk, psk_mismatch[_i].a, sizeof(psk));
		ft_noise_handshake_set_psk(A.hs, psk);
	}
	if (psk_mismatch[_i].b) {
		memset(psk, psk_mismatch[_i].b, sizeof(psk));
		ft_noise_handshake_set_psk(B.hs, psk);
	}
	ck_assert_int_eq(full_handshake(&sa, &sb), -FT_NOISE_DECRYPT_FAILED);
	ck_assert_int_eq(A.hs->state, FT_HANDSHAKE_CREATED_INITIATION);
}
END_TEST

START_TEST(test_replayed_initiation)
{
	uint8_t m1[FT_WIRE_INITIATION_LEN], m2[FT_WIRE_INITIATION_LEN], m3[FT_WIRE_INITIATION_LEN];

	make_initiation(m1, 1);
	make_initiation(m2, 2);
	ck_assert_int_eq(b_consume(m2, sizeof(m2)), 0);
	now += FT_NSEC_PER_SEC;
	/* The same message again. */
	ck_assert_int_eq(b_consume(m2, sizeof(m2)), -FT_NOISE_STALE_TIMESTAMP);
	/* An older one delivered late. */
	ck_assert_int_eq(b_consume(m1, sizeof(m1)), -FT_NOISE_STALE_TIMESTAMP);
	/* A new one with the same (rounded) timestamp. */
	fake_wall.tv_nsec = 1000;
	ck_assert_int_eq(ft_noise_create_initiation(A.hs, m3, 3), 0);
	fake_wall.tv_nsec = 0;
	ck_assert_int_eq(b_consume(m3, sizeof(m3)), -FT_NOISE_STALE_TIMESTAMP);
	/* Rejections changed nothing: B still holds the state of m2. */
	ck_assert_int_eq(B.hs->state, FT_HANDSHAKE_CONSUMED_INITIATION);
	ck_assert_uint_eq(B.hs->remote_index, 2);
	/* A fresh one is accepted. */
	make_initiation(m3, 3);
	ck_assert_int_eq(b_consume(m3, sizeof(m3)), 0);
	ck_assert_uint_eq(B.hs->remote_index, 3);
}
END_TEST

/* 100 initiations, 10 ms apart: one every 20 ms (50 per second) is accepted. */
START_TEST(test_flood)
{
	uint8_t m[FT_WIRE_INITIATION_LEN];
	int accepted = 0, flood = 0;

	for (uint32_t i = 0; i < 100; i++) {
		int err;

		make_initiation(m, i);
		err = b_consume(m, sizeof(m));
		if (err == 0)
			accepted++;
		else if (err == -FT_NOISE_FLOOD)
			flood++;
		else
			ck_abort_msg("unexpected %s", ft_noise_reject_name(err));
		now += 10 * FT_NSEC_PER_MSEC;
	}
	ck_assert_int_eq(accepted, 50);
	ck_assert_int_eq(flood, 50);

	/* A flood rejection does not consume the timestamp: the same message passes later. */
	make_initiation(m, 1000);
	ck_assert_int_eq(b_consume(m, sizeof(m)), 0);
	make_initiation(m, 1001);
	now += FT_INITIATION_MIN_INTERVAL_NS - 1;
	ck_assert_int_eq(b_consume(m, sizeof(m)), -FT_NOISE_FLOOD);
	now += 1;
	ck_assert_int_eq(b_consume(m, sizeof(m)), 0);
}
END_TEST

/*
 * One bit flipped at an offset of an initiation: what the cookie checker says (mac1 covers
 * everything before it), what noise says when the mac is skipped, and what the checker
 * says under load.
 */
static const struct {
	size_t off;
	int checker, noise, checker_load;
	const char *field;
} init_tamper[] = {
	{ 0, -FT_NOISE_TRUNCATED, -FT_NOISE_TRUNCATED, -FT_NOISE_TRUNCATED, "type" },
	{ 2, -FT_NOISE_TRUNCATED, -FT_NOISE_TRUNCATED, -FT_NOISE_TRUNCATED, "reserved" },
	/* Only mac1 protects the sender index. */
	{ 4, -FT_NOISE_BAD_MAC1, 0, -FT_NOISE_BAD_MAC1, "sender" },
	{ 8, -FT_NOISE_BAD_MAC1, -FT_NOISE_DECRYPT_FAILED, -FT_NOISE_BAD_MAC1, "ephemeral" },
	{ 39, -FT_NOISE_BAD_MAC1, -FT_NOISE_DECRYPT_FAILED, -FT_NOISE_BAD_MAC1, "ephemeral end" },
	{ 40, -FT_NOISE_BAD_MAC1, -FT_NOISE_DECRYPT_FAILED, -FT_NOISE_BAD_MAC1, "static" },
	{ 80, -FT_NOISE_BAD_MAC1, -FT_NOISE_DECRYPT_FAILED, -FT_NOISE_BAD_MAC1, "static tag" },
	{ 88, -FT_NOISE_BAD_MAC1, -FT_NOISE_DECRYPT_FAILED, -FT_NOISE_BAD_MAC1, "timestamp" },
	{ 115, -FT_NOISE_BAD_MAC1, -FT_NOISE_DECRYPT_FAILED, -FT_NOISE_BAD_MAC1, "timestamp tag" },
	{ 116, -FT_NOISE_BAD_MAC1, 0, -FT_NOISE_BAD_MAC1, "mac1" },
	{ 131, -FT_NOISE_BAD_MAC1, 0, -FT_NOISE_BAD_MAC1, "mac1 end" },
	{ 132, 0, 0, -FT_NOISE_BAD_MAC2, "mac2" },
	{ 147, 0, 0, -FT_NOISE_BAD_MAC2, "mac2 end" },
};

START_TEST(test_tamper_initiation)
{
	uint8_t m[FT_WIRE_INITIATION_LEN];

	make_initiation(m, 7);
	m[init_tamper[_i].off] ^= 0x04;
	ck_assert_msg(ft_cookie_checker_validate(&B.checker, m, sizeof(m), src_a, sizeof(src_a),
						 false, now) == init_tamper[_i].checker,
		      "checker, %s", init_tamper[_i].field);
	ck_assert_msg(ft_cookie_checker_validate(&B.checker, m, sizeof(m), src_a, sizeof(src_a),
						 true, now) == init_tamper[_i].checker_load,
		      "checker under load, %s", init_tamper[_i].field);
	ck_assert_msg(b_consume(m, sizeof(m)) == init_tamper[_i].noise, "noise, %s",
		      init_tamper[_i].field);
	if (init_tamper[_i].noise)
		ck_assert_int_eq(B.hs->state, FT_HANDSHAKE_ZEROED);
}
END_TEST

static const struct {
	size_t off;
	int checker, noise;
	const char *field;
} resp_tamper[] = {
	{ 0, -FT_NOISE_TRUNCATED, -FT_NOISE_TRUNCATED, "type" },
	{ 3, -FT_NOISE_TRUNCATED, -FT_NOISE_TRUNCATED, "reserved" },
	{ 4, -FT_NOISE_BAD_MAC1, 0, "sender" },
	{ 8, -FT_NOISE_BAD_MAC1, -FT_NOISE_UNKNOWN_INDEX, "receiver" },
	{ 12, -FT_NOISE_BAD_MAC1, -FT_NOISE_DECRYPT_FAILED, "ephemeral" },
	{ 44, -FT_NOISE_BAD_MAC1, -FT_NOISE_DECRYPT_FAILED, "empty" },
	{ 59, -FT_NOISE_BAD_MAC1, -FT_NOISE_DECRYPT_FAILED, "empty tag end" },
	{ 60, -FT_NOISE_BAD_MAC1, 0, "mac1" },
	{ 76, 0, 0, "mac2" },
};

START_TEST(test_tamper_response)
{
	uint8_t init[FT_WIRE_INITIATION_LEN], resp[FT_WIRE_RESPONSE_LEN];
	uint8_t good[FT_WIRE_RESPONSE_LEN];
	struct ft_noise_session sa;

	make_initiation(init, 0x1234);
	ck_assert_int_eq(b_consume(init, sizeof(init)), 0);
	make_response(good, 0x5678);
	memcpy(resp, good, sizeof(resp));
	resp[resp_tamper[_i].off] ^= 0x10;
	ck_assert_msg(ft_cookie_checker_validate(&A.checker, resp, sizeof(resp), NULL, 0, false,
						 now) == resp_tamper[_i].checker,
		      "checker, %s", resp_tamper[_i].field);
	ck_assert_msg(ft_noise_consume_response(&A.id, resp, sizeof(resp), A.hs) ==
			      resp_tamper[_i].noise,
		      "noise, %s", resp_tamper[_i].field);
	if (resp_tamper[_i].noise) {
		/* The rejected response left the handshake waiting for the real one. */
		ck_assert_int_eq(A.hs->state, FT_HANDSHAKE_CREATED_INITIATION);
		ck_assert_int_eq(ft_noise_consume_response(&A.id, good, sizeof(good), A.hs), 0);
	}
	ck_assert_int_eq(ft_noise_begin_session(A.hs, &sa), 0);
	sodium_memzero(&sa, sizeof(sa));
}
END_TEST

/* Lengths around each size: all rejected as truncated, by the checker and by noise. */
static const struct {
	enum ft_wire_type type;
	size_t len;
} bad_lengths[] = {
	{ FT_WIRE_INITIATION, 0 },   { FT_WIRE_INITIATION, 1 },	  { FT_WIRE_INITIATION, 4 },
	{ FT_WIRE_INITIATION, 116 }, { FT_WIRE_INITIATION, 147 }, { FT_WIRE_INITIATION, 149 },
	{ FT_WIRE_INITIATION, 256 }, { FT_WIRE_RESPONSE, 0 },	  { FT_WIRE_RESPONSE, 60 },
	{ FT_WIRE_RESPONSE, 91 },    { FT_WIRE_RESPONSE, 93 },	  { FT_WIRE_RESPONSE, 148 },
};

START_TEST(test_bad_length)
{
	uint8_t buf[256] = { 0 }, init[FT_WIRE_INITIATION_LEN], resp[FT_WIRE_RESPONSE_LEN];
	size_t len = bad_lengths[_i].len;

	make_initiation(init, 1);
	ck_assert_int_eq(b_consume(init, sizeof(init)), 0);
	make_response(resp, 2);
	if (bad_lengths[_i].type == FT_WIRE_INITIATION)
		memcpy(buf, init, len < sizeof(init) ? len : sizeof(init));
	else
		memcpy(buf, resp, len < sizeof(resp) ? len : sizeof(resp));
	ck_assert_int_eq(ft_cookie_checker_validate(&B.checker, buf, len, src_a, sizeof(src_a),
						    false, now),
			 -FT_NOISE_TRUNCATED);
	if (bad_lengths[_i].type == FT_WIRE_INITIATION) {
		now += FT_NSEC_PER_SEC;
		ck_assert_int_eq(b_consume(buf, len), -FT_NOISE_TRUNCATED);
	} else {
		ck_assert_int_eq(ft_noise_consume_response(&A.id, buf, len, A.hs),
				 -FT_NOISE_TRUNCATED);
		ck_assert_int_eq(A.hs->state, FT_HANDSHAKE_CREATED_INITIATION);
	}
}
END_TEST

START_TEST(test_unknown_peer)
{
	uint8_t m[FT_WIRE_INITIATION_LEN];
	struct ft_handshake *saved = B.hs;

	make_initiation(m, 1);
	B.hs = NULL; /* B has no peer with A's key */
	ck_assert_int_eq(b_consume(m, sizeof(m)), -FT_NOISE_UNKNOWN_PEER);
	B.hs = saved;
	ck_assert_int_eq(b_consume(m, sizeof(m)), 0);
}
END_TEST

START_TEST(test_wrong_state)
{
	uint8_t init[FT_WIRE_INITIATION_LEN], resp[FT_WIRE_RESPONSE_LEN];
	struct ft_noise_session s;

	/* Nothing in flight. */
	ck_assert_int_eq(ft_noise_create_response(B.hs, resp, 1), -FT_NOISE_WRONG_STATE);
	ck_assert(sodium_is_zero(resp, sizeof(resp)));
	ck_assert_int_eq(ft_noise_begin_session(A.hs, &s), -FT_NOISE_WRONG_STATE);

	make_initiation(init, 1);
	ck_assert_int_eq(ft_noise_begin_session(A.hs, &s), -FT_NOISE_WRONG_STATE);
	ck_assert_int_eq(b_consume(init, sizeof(init)), 0);
	ck_assert_int_eq(ft_noise_begin_session(B.hs, &s), -FT_NOISE_WRONG_STATE);
	make_response(resp, 2);

	/* A restarted its handshake: the response to the old one no longer fits. */
	make_initiation(init, 3);
	ck_assert_int_eq(ft_noise_consume_response(&A.id, resp, sizeof(resp), A.hs),
			 -FT_NOISE_UNKNOWN_INDEX);
	/* Even with a matching index the new ephemeral key makes it fail. */
	make_initiation(init, 1);
	ck_assert_int_eq(ft_noise_consume_response(&A.id, resp, sizeof(resp), A.hs),
			 -FT_NOISE_DECRYPT_FAILED);

	/* A response consumed once cannot be consumed again. */
	now += FT_NSEC_PER_SEC;
	ck_assert_int_eq(b_consume(init, sizeof(init)), 0);
	make_response(resp, 2);
	ck_assert_int_eq(ft_noise_consume_response(&A.id, resp, sizeof(resp), A.hs), 0);
	ck_assert_int_eq(ft_noise_consume_response(&A.id, resp, sizeof(resp), A.hs),
			 -FT_NOISE_WRONG_STATE);
	ck_assert_int_eq(ft_noise_begin_session(A.hs, &s), 0);
	ck_assert_int_eq(ft_noise_consume_response(&A.id, resp, sizeof(resp), A.hs),
			 -FT_NOISE_WRONG_STATE);
}
END_TEST

/*
 * Both sides initiate at once. Each consumes the other's initiation (which replaces its
 * own) and responds; each response then finds no initiation waiting for it. Both sides
 * hold a responder session that the peer protocol layer must reconcile by retrying.
 */
START_TEST(test_simultaneous)
{
	uint8_t ia[FT_WIRE_INITIATION_LEN], ib[FT_WIRE_INITIATION_LEN];
	uint8_t ra[FT_WIRE_RESPONSE_LEN], rb[FT_WIRE_RESPONSE_LEN];
	struct ft_handshake *hs = NULL;
	struct ft_noise_session sa, sb;

	make_initiation(ia, 10);
	ck_assert_int_eq(ft_noise_create_initiation(B.hs, ib, 20), 0);
	ck_assert_int_eq(b_consume(ia, sizeof(ia)), 0);
	ck_assert_int_eq(ft_noise_consume_initiation(&A.id, ib, sizeof(ib), lookup, &A, now, &hs),
			 0);
	ck_assert_ptr_eq(hs, A.hs);
	ck_assert_int_eq(ft_noise_create_response(A.hs, ra, 11), 0);
	ck_assert_int_eq(ft_noise_create_response(B.hs, rb, 21), 0);
	ck_assert_int_eq(ft_noise_begin_session(A.hs, &sa), 0);
	ck_assert_int_eq(ft_noise_begin_session(B.hs, &sb), 0);
	ck_assert(!sa.initiator && !sb.initiator);
	ck_assert_int_eq(ft_noise_consume_response(&A.id, rb, sizeof(rb), A.hs),
			 -FT_NOISE_WRONG_STATE);
	ck_assert_int_eq(ft_noise_consume_response(&B.id, ra, sizeof(ra), B.hs),
			 -FT_NOISE_WRONG_STATE);

	/* The next initiation completes normally. */
	now += FT_NSEC_PER_SEC;
	ck_assert_int_eq(full_handshake(&sa, &sb), 0);
	assert_sessions_match(&sa, &sb, 0x11111111, 0x22222222);
}
END_TEST

START_TEST(test_no_identity_and_bad_key)
{
	struct ft_noise_identity none;
	struct ft_handshake *hs, *out = NULL;
	uint8_t m[FT_WIRE_INITIATION_LEN], low_order[32] = { 0 };

	ck_assert_int_eq(ft_noise_identity_init(&none, NULL), 0);
	ck_assert(sodium_is_zero(none.public_key, 32));
	hs = ft_noise_handshake_create(&none, A.id.public_key, NULL, NULL);
	ck_assert_ptr_nonnull(hs);
	ck_assert_int_eq(ft_noise_create_initiation(hs, m, 1), -FT_NOISE_NO_IDENTITY);
	ck_assert(sodium_is_zero(m, sizeof(m)));
	make_initiation(m, 1);
	ck_assert_int_eq(ft_noise_consume_initiation(&none, m, sizeof(m), lookup, &B, now, &out),
			 -FT_NOISE_NO_IDENTITY);
	ft_noise_handshake_destroy(hs);
	ft_noise_identity_clear(&none);

	/* A peer whose public key is a low-order point. */
	hs = ft_noise_handshake_create(&A.id, low_order, NULL, NULL);
	ck_assert_ptr_nonnull(hs);
	ck_assert(!ft_noise_handshake_static_ok(hs));
	ck_assert_int_eq(ft_noise_create_initiation(hs, m, 1), -FT_NOISE_BAD_KEY);
	ft_noise_handshake_destroy(hs);

	/* An initiation whose ephemeral is a low-order point. */
	make_initiation(m, 1);
	memset(m + FT_WIRE_INIT_OFF_EPHEMERAL, 0, 32);
	ck_assert_int_eq(b_consume(m, sizeof(m)), -FT_NOISE_BAD_KEY);

	/* Changing the private key takes effect after the reset. */
	ck_assert_int_eq(ft_noise_identity_set_private(&B.id, NULL), 0);
	ck_assert_ptr_null(B.id.private_key);
	ft_noise_handshake_reset_static(B.hs);
	ck_assert(!ft_noise_handshake_static_ok(B.hs));
}
END_TEST

/*
 * The static-static DH is computed when a message first needs it, not when the peer is
 * added (a hub adding 100,000 peers), and is then the DH of the two static keys; a new
 * private key makes the next message compute it again with that key.
 */
START_TEST(test_static_lazy)
{
	struct ft_handshake *hs = ft_noise_handshake_create(&A.id, B.id.public_key, NULL, NULL);
	uint8_t m[FT_WIRE_INITIATION_LEN], want[32], key2[32];

	ck_assert_ptr_nonnull(hs);
	ck_assert(!hs->ss_known);
	ck_assert(sodium_is_zero(hs->precomputed_ss, 32));
	ck_assert_int_eq(ft_noise_create_initiation(hs, m, 7), 0);
	ck_assert(hs->ss_known && hs->ss_valid);
	ck_assert_int_eq(crypto_scalarmult(want, A.id.private_key, B.id.public_key), 0);
	ck_assert_mem_eq(hs->precomputed_ss, want, 32);

	randombytes_buf(key2, sizeof(key2));
	ck_assert_int_eq(ft_noise_identity_set_private(&A.id, key2), 0);
	ft_noise_handshake_reset_static(hs);
	ck_assert(!hs->ss_known);
	ck_assert(sodium_is_zero(hs->precomputed_ss, 32));
	ck_assert(ft_noise_handshake_static_ok(hs));
	ck_assert_int_eq(crypto_scalarmult(want, A.id.private_key, B.id.public_key), 0);
	ck_assert_mem_eq(hs->precomputed_ss, want, 32);
	ft_noise_handshake_destroy(hs);
}
END_TEST

START_TEST(test_reject_names)
{
	ck_assert_str_eq(ft_noise_reject_name(-FT_NOISE_BAD_MAC1), "bad_mac1");
	ck_assert_str_eq(ft_noise_reject_name(FT_NOISE_STALE_TIMESTAMP), "stale_timestamp");
	ck_assert_str_eq(ft_noise_reject_name(-FT_NOISE_DECRYPT_FAILED), "decrypt_failed");
	ck_assert_str_eq(ft_noise_reject_name(0), "unknown");
	ck_assert_str_eq(ft_noise_reject_name(-FT_NOISE_REJECT_COUNT), "unknown");
	for (int i = 1; i < FT_NOISE_REJECT_COUNT; i++)
		ck_assert_str_ne(ft_noise_reject_name(-i), "unknown");
}
END_TEST

/*
 * Under load: an initiation without mac2 gets a cookie reply bound to its source; A takes
 * the cookie and its next initiation carries a valid mac2 and is accepted.
 */
START_TEST(test_wire_helpers)
{
	uint8_t m[FT_WIRE_TRANSPORT_MIN_LEN] = { FT_WIRE_TRANSPORT };

	ck_assert_int_eq(ft_wire_message_type(m, sizeof(m)), FT_WIRE_TRANSPORT);
	ck_assert_int_eq(ft_wire_message_type(m, sizeof(m) - 1), 0);
	m[3] = 1;
	ck_assert_int_eq(ft_wire_message_type(m, sizeof(m)), 0);
	m[3] = 0;
	m[0] = 5;
	ck_assert_int_eq(ft_wire_message_type(m, sizeof(m)), 0);
	ck_assert_int_eq(ft_wire_message_type(m, 3), 0);

	ft_wire_store_le64(m, 0x0102030405060708ULL);
	ck_assert_int_eq(m[0], 8);
	ck_assert_uint_eq(ft_wire_load_le64(m), 0x0102030405060708ULL);

	ck_assert_uint_eq(ft_wire_padded_len(0, 1420), 0);
	ck_assert_uint_eq(ft_wire_padded_len(1, 1420), 16);
	ck_assert_uint_eq(ft_wire_padded_len(16, 1420), 16);
	ck_assert_uint_eq(ft_wire_padded_len(1419, 1420), 1420);
	ck_assert_uint_eq(ft_wire_padded_len(1420, 1420), 1420);
	ck_assert_uint_eq(ft_wire_padded_len(1500, 1420), 1500);
}
END_TEST

static Suite *noise_suite(void)
{
	Suite *s = suite_create("noise");
	TCase *tc = tcase_create("handshake");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_constants);
	tcase_add_test(tc, test_initiation_formulas);
	tcase_add_loop_test(tc, test_handshake, 0, N(psk_cases));
	tcase_add_loop_test(tc, test_psk_mismatch, 0, N(psk_mismatch));
	tcase_add_test(tc, test_replayed_initiation);
	tcase_add_test(tc, test_flood);
	tcase_add_loop_test(tc, test_tamper_initiation, 0, N(init_tamper));
	tcase_add_loop_test(tc, test_tamper_response, 0, N(resp_tamper));
	tcase_add_loop_test(tc, test_bad_length, 0, N(bad_lengths));
	tcase_add_test(tc, test_unknown_peer);
	tcase_add_test(tc, test_wrong_state);
	tcase_add_test(tc, test_simultaneous);
	tcase_add_test(tc, test_no_identity_and_bad_key);
	tcase_add_test(tc, test_static_lazy);
	tcase_add_test(tc, test_reject_names);
	tcase_add_test(tc, test_wire_helpers);
	suite_add_tcase(s, tc);
	return s;
}

FT_CHECK_MAIN(noise_suite, FT_CHECK_SODIUM)
