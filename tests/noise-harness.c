// SPDX-License-Identifier: MIT
/*
 * The two identities, the fake clocks and the message helpers of check_noise.c (the
 * handshake) and check_noise_cookie.c (the cookie mechanism); tests/noise-harness.h says what
 * each is.
 */
#include "config.h"

#include <string.h>

#include <arpa/inet.h>
#include <check.h>
#include <netinet/in.h>
#include <sodium.h>

#include "tests/noise-harness.h"

/*
 * Computed independently with Python's hashlib:
 *   ck = blake2s(b"Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s").digest()
 *   h  = blake2s(ck + b"WireGuard v1 zx2c4 Jason@zx2c4.com").digest()
 */
const char c0_hex[] = "60e26daef327efc02ec335e2a025d2d016eb4206f87277f52d38d1988b78cd36";
const char h0_hex[] = "2211b361081ac566691243db458ad5322d9c6c662293e8b70ee19c65ba079ef3";

struct side A, B;
struct timespec fake_wall;
uint64_t now;
uint8_t rng_counter;

/* Sources of A's datagrams as B sees them: 198.18.0.1:51820 and another port. */
const uint8_t src_a[6] = { 198, 18, 0, 1, 0xca, 0x6c };
const uint8_t src_a_other_port[6] = { 198, 18, 0, 1, 0xca, 0x6d };

void fake_wall_clock(struct timespec *ts)
{
	*ts = fake_wall;
}

void fake_random(void *buf, size_t len)
{
	uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(rng_counter * 31 + i);
	rng_counter++;
}

void unhex(uint8_t *out, size_t outlen, const char *hex)
{
	size_t len = 0;

	ck_assert_int_eq(sodium_hex2bin(out, outlen, hex, strlen(hex), NULL, &len, NULL), 0);
	ck_assert_uint_eq(len, outlen);
}

struct ft_handshake *lookup(void *arg, const uint8_t remote_static[FT_WIRE_KEY_LEN])
{
	struct side *s = arg;

	if (s->hs && memcmp(s->hs->remote_static, remote_static, FT_WIRE_KEY_LEN) == 0)
		return s->hs;
	return NULL;
}

void side_init(struct side *s, const char *priv_hex)
{
	uint8_t priv[32];

	unhex(priv, sizeof(priv), priv_hex);
	ck_assert_int_eq(ft_noise_identity_init(&s->id, priv), 0);
	s->id.wall_clock = fake_wall_clock;
	ft_cookie_checker_init(&s->checker, &s->id);
	sodium_memzero(priv, sizeof(priv));
}

void setup(void)
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

void teardown(void)
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
void make_initiation(uint8_t msg[FT_WIRE_INITIATION_LEN], uint32_t index)
{
	fake_wall.tv_sec++;
	ck_assert_int_eq(ft_noise_create_initiation(A.hs, msg, index), 0);
	ft_cookie_maker_add_macs(&A.maker, msg, FT_WIRE_INITIATION_LEN, now);
}

int b_consume(const uint8_t *msg, size_t len)
{
	struct ft_handshake *hs = NULL;
	int err = ft_noise_consume_initiation(&B.id, msg, len, lookup, &B, now, &hs);

	ck_assert(err ? hs == NULL : hs == B.hs);
	return err;
}

void make_response(uint8_t msg[FT_WIRE_RESPONSE_LEN], uint32_t index)
{
	ck_assert_int_eq(ft_noise_create_response(B.hs, msg, index), 0);
	ft_cookie_maker_add_macs(&B.maker, msg, FT_WIRE_RESPONSE_LEN, now);
}

void assert_sessions_match(const struct ft_noise_session *a, const struct ft_noise_session *b,
			   uint32_t ia, uint32_t ib)
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
int full_handshake(struct ft_noise_session *sa, struct ft_noise_session *sb)
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
