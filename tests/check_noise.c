// SPDX-License-Identifier: MIT
/*
 * The handshake (tun/wg/noise.h) and the cookie mechanism (tun/wg/cookie.h) between two
 * identities in one process, with a fake wall clock, a fake monotonic clock and, where it
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

#include "tun/wg/cookie.h"
#include "tun/wg/crypto.h"
#include "tun/wg/noise.h"
#include "tun/wg/wire.h"

/*
 * Computed independently with Python's hashlib:
 *   ck = blake2s(b"Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s").digest()
 *   h  = blake2s(ck + b"WireGuard v1 zx2c4 Jason@zx2c4.com").digest()
 */
static const char c0_hex[] = "60e26daef327efc02ec335e2a025d2d016eb4206f87277f52d38d1988b78cd36";
static const char h0_hex[] = "2211b361081ac566691243db458ad5322d9c6c662293e8b70ee19c65ba079ef3";

struct side {
	struct ft_noise_identity id;
	struct ft_handshake *hs; /* the handshake with the other side */
	struct ft_cookie_checker checker;
	struct ft_cookie_maker maker; /* macs of messages to the other side */
};

static struct side A, B;
static struct timespec fake_wall;
static uint64_t now;
static uint8_t rng_counter;

/* Sources of A's datagrams as B sees them: 198.18.0.1:51820 and another port. */
static const uint8_t src_a[6] = { 198, 18, 0, 1, 0xca, 0x6c };
static const uint8_t src_a_other_port[6] = { 198, 18, 0, 1, 0xca, 0x6d };

static void fake_wall_clock(struct timespec *ts)
{
	*ts = fake_wall;
}

static void fake_random(void *buf, size_t len)
{
	uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(rng_counter * 31 + i);
	rng_counter++;
}

static void unhex(uint8_t *out, size_t outlen, const char *hex)
{
	size_t len = 0;

	ck_assert_int_eq(sodium_hex2bin(out, outlen, hex, strlen(hex), NULL, &len, NULL), 0);
	ck_assert_uint_eq(len, outlen);
}

static struct ft_handshake *lookup(void *arg, const uint8_t remote_static[FT_WIRE_KEY_LEN])
{
	struct side *s = arg;

	if (s->hs && memcmp(s->hs->remote_static, remote_static, FT_WIRE_KEY_LEN) == 0)
		return s->hs;
	return NULL;
}

static void side_init(struct side *s, const char *priv_hex)
{
	uint8_t priv[32];

	unhex(priv, sizeof(priv), priv_hex);
	ck_assert_int_eq(ft_noise_identity_init(&s->id, priv), 0);
	s->id.wall_clock = fake_wall_clock;
	ft_cookie_checker_init(&s->checker, &s->id);
	sodium_memzero(priv, sizeof(priv));
}

static void setup(void)
{
	fake_wall.tv_sec = 1700000000;
	fake_wall.tv_nsec = 0;
	now = 1000 * FT_NSEC_PER_SEC;
	rng_counter = 0;
	side_init(&A, "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
	side_init(&B, "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
	A.hs = ft_noise_handshake_create(&A.id, B.id.public_key, NULL, &A);
	B.hs = ft_noise_handshake_create(&B.id, A.id.public_key, NULL, &B);
	ck_assert_ptr_nonnull(A.hs);
	ck_assert_ptr_nonnull(B.hs);
	ft_cookie_maker_init(&A.maker, B.id.public_key);
	ft_cookie_maker_init(&B.maker, A.id.public_key);
}

static void teardown(void)
{
	struct side *sides[] = { &A, &B };

	for (int i = 0; i < 2; i++) {
		ft_noise_handshake_destroy(sides[i]->hs);
		sides[i]->hs = NULL;
		ft_cookie_checker_clear(&sides[i]->checker);
		ft_cookie_maker_clear(&sides[i]->maker);
		ft_noise_identity_clear(&sides[i]->id);
	}
}

/* A new initiation from A, a second of wall-clock time after the previous one, with macs. */
static void make_initiation(uint8_t msg[FT_WIRE_INITIATION_LEN], uint32_t index)
{
	fake_wall.tv_sec++;
	ck_assert_int_eq(ft_noise_create_initiation(A.hs, msg, index), 0);
	ft_cookie_maker_add_macs(&A.maker, msg, FT_WIRE_INITIATION_LEN, now);
}

static int b_consume(const uint8_t *msg, size_t len)
{
	struct ft_handshake *hs = NULL;
	int err = ft_noise_consume_initiation(&B.id, msg, len, lookup, &B, now, &hs);

	ck_assert(err ? hs == NULL : hs == B.hs);
	return err;
}

static void make_response(uint8_t msg[FT_WIRE_RESPONSE_LEN], uint32_t index)
{
	ck_assert_int_eq(ft_noise_create_response(B.hs, msg, index), 0);
	ft_cookie_maker_add_macs(&B.maker, msg, FT_WIRE_RESPONSE_LEN, now);
}

static void assert_sessions_match(const struct ft_noise_session *a,
				  const struct ft_noise_session *b, uint32_t ia, uint32_t ib)
{
	ck_assert(a->initiator);
	ck_assert(!b->initiator);
	ck_assert_mem_eq(a->send_key, b->recv_key, 32);
	ck_assert_mem_eq(a->recv_key, b->send_key, 32);
	ck_assert(memcmp(a->send_key, a->recv_key, 32) != 0);
	ck_assert_uint_eq(a->local_index, ia);
	ck_assert_uint_eq(a->remote_index, ib);
	ck_assert_uint_eq(b->local_index, ib);
	ck_assert_uint_eq(b->remote_index, ia);
}

/* A complete handshake; 0 or the first rejection. */
static int full_handshake(struct ft_noise_session *sa, struct ft_noise_session *sb)
{
	uint8_t init[FT_WIRE_INITIATION_LEN], resp[FT_WIRE_RESPONSE_LEN];
	int err;

	make_initiation(init, 0x11111111);
	ck_assert_int_eq(ft_cookie_checker_validate(&B.checker, init, sizeof(init), src_a,
						    sizeof(src_a), false, now),
			 0);
	err = b_consume(init, sizeof(init));
	if (err)
		return err;
	make_response(resp, 0x22222222);
	ck_assert_int_eq(ft_noise_begin_session(B.hs, sb), 0);
	ck_assert_int_eq(
		ft_cookie_checker_validate(&A.checker, resp, sizeof(resp), NULL, 0, false, now), 0);
	err = ft_noise_consume_response(&A.id, resp, sizeof(resp), A.hs);
	if (err)
		return err;
	return ft_noise_begin_session(A.hs, sa);
}

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
	ck_assert(!hs->ss_valid);
	ck_assert_int_eq(ft_noise_create_initiation(hs, m, 1), -FT_NOISE_BAD_KEY);
	ft_noise_handshake_destroy(hs);

	/* An initiation whose ephemeral is a low-order point. */
	make_initiation(m, 1);
	memset(m + FT_WIRE_INIT_OFF_EPHEMERAL, 0, 32);
	ck_assert_int_eq(b_consume(m, sizeof(m)), -FT_NOISE_BAD_KEY);

	/* Changing the private key takes effect after precompute. */
	ck_assert_int_eq(ft_noise_identity_set_private(&B.id, NULL), 0);
	ck_assert_ptr_null(B.id.private_key);
	ft_noise_handshake_precompute(B.hs);
	ck_assert(!B.hs->ss_valid);
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

#define N(a) (int)(sizeof(a) / sizeof((a)[0]))

static Suite *noise_suite(void)
{
	Suite *s = suite_create("noise");
	TCase *tc = tcase_create("handshake");
	TCase *tcc = tcase_create("cookie");

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
	tcase_add_test(tc, test_reject_names);
	tcase_add_test(tc, test_wire_helpers);
	suite_add_tcase(s, tc);

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

int main(void)
{
	SRunner *sr;
	int failed;

	if (sodium_init() < 0)
		return 1;
	sr = srunner_create(noise_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
