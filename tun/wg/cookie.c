// SPDX-License-Identifier: MIT
/*
 * mac1, mac2 and cookie replies (paper, section 5.4.4 and 5.4.7):
 *   msg.mac1 = MAC(HASH(Label-Mac1 || Spub_m'), msg_a)          msg_a: bytes before mac1
 *   msg.mac2 = MAC(Tau_m, msg_b) or zero                         msg_b: bytes before mac2
 *   Tau      = MAC(Rm, Am)                Rm: the responder's secret, Am: source IP || port
 *   reply.cookie = XAEAD(HASH(Label-Cookie || Spub_m), nonce, Tau, M)  M: the message's mac1
 */
#include "config.h"

#include <assert.h>
#include <string.h>

#include <netinet/in.h>
#include <sodium.h>

#include "tun/wg/cookie.h"
#include "tun/wg/crypto.h"

size_t ft_cookie_source(uint8_t out[FT_COOKIE_SOURCE_MAX], const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		struct sockaddr_in sin;

		memcpy(&sin, sa, sizeof(sin));
		memcpy(out, &sin.sin_addr.s_addr, 4);
		memcpy(out + 4, &sin.sin_port, 2);
		return 6;
	}
	if (sa->sa_family == AF_INET6) {
		struct sockaddr_in6 sin6;

		memcpy(&sin6, sa, sizeof(sin6));
		memcpy(out, sin6.sin6_addr.s6_addr, 16);
		memcpy(out + 16, &sin6.sin6_port, 2);
		return 18;
	}
	return 0;
}

static bool is_handshake(const uint8_t *msg, size_t len)
{
	int type = ft_wire_message_type(msg, len);

	return type == FT_WIRE_INITIATION || type == FT_WIRE_RESPONSE;
}

void ft_cookie_checker_init(struct ft_cookie_checker *c, const struct ft_noise_identity *id)
{
	memset(c, 0, sizeof(*c));
	c->id = id;
}

void ft_cookie_checker_clear(struct ft_cookie_checker *c)
{
	sodium_memzero(c, sizeof(*c));
}

/*
 * Makes a new secret once the current one is FT_COOKIE_SECRET_MAX_AGE_NS old; the old one
 * stays valid as the previous secret for one more period, and is forgotten when it is
 * older than that (when the checker was idle for two periods).
 */
static void checker_rotate(struct ft_cookie_checker *c, uint64_t now_ns)
{
	if (c->have_secret) {
		uint64_t age = now_ns > c->secret_birth_ns ? now_ns - c->secret_birth_ns : 0;

		if (age < FT_COOKIE_SECRET_MAX_AGE_NS)
			return;
		if (age < 2 * FT_COOKIE_SECRET_MAX_AGE_NS) {
			memcpy(c->previous_secret, c->secret, FT_WIRE_KEY_LEN);
			c->have_previous = true;
		} else {
			sodium_memzero(c->previous_secret, FT_WIRE_KEY_LEN);
			c->have_previous = false;
		}
	}
	c->id->random(c->secret, FT_WIRE_KEY_LEN);
	c->secret_birth_ns = now_ns;
	c->have_secret = true;
}

/* Tau = MAC(secret, source) */
static void make_cookie(uint8_t cookie[FT_WIRE_COOKIE_LEN], const uint8_t secret[FT_WIRE_KEY_LEN],
			const uint8_t *src, size_t src_len)
{
	ft_crypto_mac(cookie, secret, FT_WIRE_KEY_LEN, src, src_len);
}

static bool mac2_valid(const uint8_t *msg, size_t len, const uint8_t secret[FT_WIRE_KEY_LEN],
		       const uint8_t *src, size_t src_len)
{
	uint8_t cookie[FT_WIRE_COOKIE_LEN], mac2[FT_WIRE_MAC_LEN];
	bool ok;

	make_cookie(cookie, secret, src, src_len);
	ft_crypto_mac(mac2, cookie, sizeof(cookie), msg, FT_WIRE_MAC2_OFFSET(len));
	ok = sodium_memcmp(mac2, msg + FT_WIRE_MAC2_OFFSET(len), FT_WIRE_MAC_LEN) == 0;
	sodium_memzero(cookie, sizeof(cookie));
	return ok;
}

int ft_cookie_checker_validate(struct ft_cookie_checker *c, const uint8_t *msg, size_t len,
			       const uint8_t *src, size_t src_len, bool under_load, uint64_t now_ns)
{
	uint8_t mac1[FT_WIRE_MAC_LEN];

	if (!is_handshake(msg, len))
		return -FT_NOISE_TRUNCATED;

	ft_crypto_mac(mac1, c->id->mac1_key, FT_WIRE_KEY_LEN, msg, FT_WIRE_MAC1_OFFSET(len));
	if (sodium_memcmp(mac1, msg + FT_WIRE_MAC1_OFFSET(len), FT_WIRE_MAC_LEN) != 0)
		return -FT_NOISE_BAD_MAC1;
	if (!under_load)
		return 0;

	checker_rotate(c, now_ns);
	if (mac2_valid(msg, len, c->secret, src, src_len))
		return 0;
	if (c->have_previous && mac2_valid(msg, len, c->previous_secret, src, src_len))
		return 0;
	return -FT_NOISE_BAD_MAC2;
}

int ft_cookie_checker_create_reply(struct ft_cookie_checker *c,
				   uint8_t reply[FT_WIRE_COOKIE_REPLY_LEN], const uint8_t *msg,
				   size_t len, const uint8_t *src, size_t src_len, uint64_t now_ns)
{
	uint8_t cookie[FT_WIRE_COOKIE_LEN];

	memset(reply, 0, FT_WIRE_COOKIE_REPLY_LEN);
	if (!is_handshake(msg, len))
		return -FT_NOISE_TRUNCATED;

	checker_rotate(c, now_ns);
	reply[FT_WIRE_OFF_TYPE] = FT_WIRE_COOKIE_REPLY;
	/* The sender index sits at offset 4 in both handshake messages. */
	memcpy(reply + FT_WIRE_COOKIE_OFF_RECEIVER, msg + FT_WIRE_INIT_OFF_SENDER, 4);
	c->id->random(reply + FT_WIRE_COOKIE_OFF_NONCE, FT_WIRE_COOKIE_NONCE_LEN);
	make_cookie(cookie, c->secret, src, src_len);
	ft_crypto_xaead_encrypt(reply + FT_WIRE_COOKIE_OFF_COOKIE, cookie, sizeof(cookie),
				msg + FT_WIRE_MAC1_OFFSET(len), FT_WIRE_MAC_LEN,
				reply + FT_WIRE_COOKIE_OFF_NONCE, c->id->cookie_key);
	sodium_memzero(cookie, sizeof(cookie));
	return 0;
}

void ft_cookie_maker_init(struct ft_cookie_maker *m, const uint8_t peer_public[FT_WIRE_KEY_LEN])
{
	memset(m, 0, sizeof(*m));
	ft_crypto_hash2(m->mac1_key, FT_WIRE_LABEL_MAC1, strlen(FT_WIRE_LABEL_MAC1), peer_public,
			FT_WIRE_KEY_LEN);
	ft_crypto_hash2(m->cookie_key, FT_WIRE_LABEL_COOKIE, strlen(FT_WIRE_LABEL_COOKIE),
			peer_public, FT_WIRE_KEY_LEN);
}

void ft_cookie_maker_clear(struct ft_cookie_maker *m)
{
	sodium_memzero(m, sizeof(*m));
}

void ft_cookie_maker_add_macs(struct ft_cookie_maker *m, uint8_t *msg, size_t len, uint64_t now_ns)
{
	uint8_t *mac1 = msg + FT_WIRE_MAC1_OFFSET(len), *mac2 = msg + FT_WIRE_MAC2_OFFSET(len);

	assert(len == FT_WIRE_INITIATION_LEN || len == FT_WIRE_RESPONSE_LEN);
	ft_crypto_mac(mac1, m->mac1_key, FT_WIRE_KEY_LEN, msg, FT_WIRE_MAC1_OFFSET(len));
	memcpy(m->last_mac1, mac1, FT_WIRE_MAC_LEN);
	m->have_last_mac1 = true;

	if (m->have_cookie && now_ns >= m->cookie_birth_ns &&
	    now_ns - m->cookie_birth_ns < FT_COOKIE_SECRET_MAX_AGE_NS) {
		ft_crypto_mac(mac2, m->cookie, FT_WIRE_COOKIE_LEN, msg, FT_WIRE_MAC2_OFFSET(len));
	} else {
		if (m->have_cookie) {
			sodium_memzero(m->cookie, FT_WIRE_COOKIE_LEN);
			m->have_cookie = false;
		}
		memset(mac2, 0, FT_WIRE_MAC_LEN);
	}
}

int ft_cookie_maker_consume_reply(struct ft_cookie_maker *m, const uint8_t *reply, size_t len,
				  uint64_t now_ns)
{
	uint8_t cookie[FT_WIRE_COOKIE_LEN];

	if (ft_wire_message_type(reply, len) != FT_WIRE_COOKIE_REPLY)
		return -FT_NOISE_TRUNCATED;
	if (!m->have_last_mac1)
		return -FT_NOISE_WRONG_STATE;
	if (ft_crypto_xaead_decrypt(cookie, reply + FT_WIRE_COOKIE_OFF_COOKIE,
				    FT_WIRE_COOKIE_LEN + FT_WIRE_TAG_LEN, m->last_mac1,
				    FT_WIRE_MAC_LEN, reply + FT_WIRE_COOKIE_OFF_NONCE,
				    m->cookie_key) != 0) {
		sodium_memzero(cookie, sizeof(cookie));
		return -FT_NOISE_DECRYPT_FAILED;
	}
	memcpy(m->cookie, cookie, FT_WIRE_COOKIE_LEN);
	m->cookie_birth_ns = now_ns;
	m->have_cookie = true;
	/* One reply per message sent: a second one for the same mac1 is a replay. */
	m->have_last_mac1 = false;
	sodium_memzero(cookie, sizeof(cookie));
	return 0;
}
