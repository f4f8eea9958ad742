// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for the handshake parsers: the cookie checker, noise's consumers and
 * the cookie maker. The first byte picks the target, the rest is the datagram:
 *   0  an initiation to B: mac checks (with and without load), consume, respond
 *   1  a response to A's initiation (A's initiation is deterministic, so a seed response
 *      made for it decrypts and the fuzzer explores past the AEAD)
 *   2  a cookie reply to A's initiation
 * Both identities, the random source and the wall clock are fixed, so that each input
 * always takes the same path.
 */
#include "config.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tun/wg/cookie.h"
#include "tun/wg/noise.h"
#include "tun/wg/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct ft_noise_identity id_a, id_b;
static struct ft_handshake *hs_a, *hs_b;
static struct ft_cookie_checker checker_a, checker_b;
static struct ft_cookie_maker maker_a;
static uint8_t rng_state;
static uint64_t now = 1000000000000ULL;
static const uint8_t src[6] = { 198, 18, 0, 1, 0xca, 0x6c };

static void fixed_random(void *buf, size_t len)
{
	uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(rng_state * 13 + i);
	rng_state++;
}

static void fixed_wall_clock(struct timespec *ts)
{
	ts->tv_sec = 1700000000;
	ts->tv_nsec = 0;
}

static struct ft_handshake *lookup(void *arg, const uint8_t remote_static[FT_WIRE_KEY_LEN])
{
	(void)arg;
	return memcmp(remote_static, hs_b->remote_static, FT_WIRE_KEY_LEN) == 0 ? hs_b : NULL;
}

static void setup_once(void)
{
	uint8_t priv[FT_WIRE_KEY_LEN];

	if (hs_a)
		return;
	if (sodium_init() < 0)
		abort();
	memset(priv, 0xa1, sizeof(priv));
	if (ft_noise_identity_init(&id_a, priv) != 0)
		abort();
	memset(priv, 0xb2, sizeof(priv));
	if (ft_noise_identity_init(&id_b, priv) != 0)
		abort();
	id_a.random = id_b.random = fixed_random;
	id_a.wall_clock = id_b.wall_clock = fixed_wall_clock;
	hs_a = ft_noise_handshake_create(&id_a, id_b.public_key, NULL, NULL);
	hs_b = ft_noise_handshake_create(&id_b, id_a.public_key, NULL, NULL);
	if (!hs_a || !hs_b)
		abort();
	ft_cookie_checker_init(&checker_a, &id_a);
	ft_cookie_checker_init(&checker_b, &id_b);
	ft_cookie_maker_init(&maker_a, id_b.public_key);
}

/* A's initiation with index 42, the same bytes every time. */
static void a_initiates(uint8_t msg[FT_WIRE_INITIATION_LEN])
{
	rng_state = 0;
	if (ft_noise_create_initiation(hs_a, msg, 42) != 0)
		abort();
	ft_cookie_maker_add_macs(&maker_a, msg, FT_WIRE_INITIATION_LEN, now);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t init[FT_WIRE_INITIATION_LEN], resp[FT_WIRE_RESPONSE_LEN];
	uint8_t reply[FT_WIRE_COOKIE_REPLY_LEN];
	struct ft_noise_session session;
	struct ft_handshake *hs = NULL;
	const uint8_t *msg;
	size_t len;

	setup_once();
	if (size < 1)
		return 0;
	msg = data + 1;
	len = size - 1;
	now += FT_NSEC_PER_SEC;

	switch (data[0] % 3) {
	case 0: {
		int type = ft_wire_message_type(msg, len);
		bool handshake = type == FT_WIRE_INITIATION || type == FT_WIRE_RESPONSE;

		(void)ft_cookie_checker_validate(&checker_b, msg, len, src, sizeof(src), false,
						 now);
		(void)ft_cookie_checker_validate(&checker_b, msg, len, src, sizeof(src), true, now);
		/* Every well-formed handshake message, and only those, can get a reply. */
		if ((ft_cookie_checker_create_reply(&checker_b, reply, msg, len, src, sizeof(src),
						    now) == 0) != handshake)
			abort();
		/* Forget the replay state so that each input is judged alone. */
		memset(hs_b->latest_timestamp, 0, sizeof(hs_b->latest_timestamp));
		hs_b->consumed_any_initiation = false;
		if (ft_noise_consume_initiation(&id_b, msg, len, lookup, NULL, now, &hs) == 0) {
			if (hs != hs_b || ft_noise_create_response(hs, resp, 7) != 0 ||
			    ft_noise_begin_session(hs, &session) != 0)
				abort();
		}
		break;
	}
	case 1:
		a_initiates(init);
		(void)ft_cookie_checker_validate(&checker_a, msg, len, src, sizeof(src), true, now);
		if (ft_noise_consume_response(&id_a, msg, len, hs_a) == 0 &&
		    ft_noise_begin_session(hs_a, &session) != 0)
			abort();
		break;
	default:
		a_initiates(init);
		(void)ft_cookie_maker_consume_reply(&maker_a, msg, len, now);
		break;
	}
	sodium_memzero(&session, sizeof(session));
	return 0;
}
