/* SPDX-License-Identifier: MIT */
#ifndef FT_COOKIE_H
#define FT_COOKIE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>

#include "tun/wg/noise.h"
#include "tun/wg/wire.h"

/*
 * mac1, mac2 and cookie replies (paper, section 5.4.4 and 5.4.7), with no I/O.
 *
 * Responder side, one checker per device: every handshake message's mac1 is checked
 * before any DH (a cheap drop for garbage). When the caller says it is under load, a
 * message must also carry a valid mac2, a MAC keyed with the cookie
 * MAC(secret, source address || source port); without one the caller answers with a
 * cookie reply (ft_cookie_checker_create_reply) and drops the message. The secret rotates
 * every FT_COOKIE_SECRET_MAX_AGE_NS (lazily, on the first use after that); mac2 is
 * accepted against the current or the previous secret, so a cookie handed out just before
 * a rotation still works for its lifetime.
 *
 * Initiator side, one maker per peer: adds mac1 (keyed with the peer's public key) and
 * mac2 (keyed with the latest cookie from that peer, zero when there is none or it is
 * older than FT_COOKIE_SECRET_MAX_AGE_NS) to every handshake message it sends, and
 * decrypts the peer's cookie replies, which are bound to the mac1 it sent last.
 *
 * The source is given as bytes: the IP address in network byte order followed by the UDP
 * port in network byte order (6 bytes for IPv4, 18 for IPv6); ft_cookie_source() builds
 * it from a sockaddr.
 *
 * Errors are 0 or the negated enum ft_noise_reject codes of noise.h. Loop thread only.
 */
enum {
	FT_COOKIE_SOURCE_MAX = 18,
};

/* Writes the source bytes of sa (AF_INET or AF_INET6) to out; their length, 0 otherwise. */
size_t ft_cookie_source(uint8_t out[FT_COOKIE_SOURCE_MAX], const struct sockaddr *sa);

struct ft_cookie_checker {
	const struct ft_noise_identity *id; /* mac1_key and cookie_key; not owned */
	uint8_t secret[FT_WIRE_KEY_LEN];
	uint8_t previous_secret[FT_WIRE_KEY_LEN];
	uint64_t secret_birth_ns;
	bool have_secret;
	bool have_previous;
};

/* No I/O, no allocation; the secret is made on first use. Pair with _clear(). */
void ft_cookie_checker_init(struct ft_cookie_checker *c, const struct ft_noise_identity *id);
/* Wipes the secrets. */
void ft_cookie_checker_clear(struct ft_cookie_checker *c);

/*
 * Validates the macs of a received initiation or response (msg, len: the whole message;
 * its type and size are checked here too). 0 when mac1 is valid and, if under_load, mac2
 * is valid for this source. -FT_NOISE_TRUNCATED: not a handshake message of the right size.
 * -FT_NOISE_BAD_MAC1: drop. -FT_NOISE_BAD_MAC2 (only under load): drop and send a cookie
 * reply. now_ns (CLOCK_MONOTONIC) may rotate the secret.
 */
int ft_cookie_checker_validate(struct ft_cookie_checker *c, const uint8_t *msg, size_t len,
			       const uint8_t *src, size_t src_len, bool under_load,
			       uint64_t now_ns);

/*
 * Writes the 64-byte cookie reply to msg (a handshake message whose mac1 is valid) for
 * this source: receiver = msg's sender index, a random nonce, and the cookie encrypted
 * under the identity's cookie_key with msg's mac1 as additional data.
 * 0 or -FT_NOISE_TRUNCATED.
 */
int ft_cookie_checker_create_reply(struct ft_cookie_checker *c,
				   uint8_t reply[FT_WIRE_COOKIE_REPLY_LEN], const uint8_t *msg,
				   size_t len, const uint8_t *src, size_t src_len, uint64_t now_ns);

struct ft_cookie_maker {
	uint8_t mac1_key[FT_WIRE_KEY_LEN];   /* HASH("mac1----" || peer's public key) */
	uint8_t cookie_key[FT_WIRE_KEY_LEN]; /* HASH("cookie--" || peer's public key) */
	uint8_t cookie[FT_WIRE_COOKIE_LEN];
	uint64_t cookie_birth_ns;
	bool have_cookie;
	uint8_t last_mac1[FT_WIRE_MAC_LEN]; /* the additional data of the reply we may get */
	bool have_last_mac1;
};

/* For the peer with this static public key. Pair with _clear(). */
void ft_cookie_maker_init(struct ft_cookie_maker *m, const uint8_t peer_public[FT_WIRE_KEY_LEN]);
/* Wipes the cookie. */
void ft_cookie_maker_clear(struct ft_cookie_maker *m);

/*
 * Fills in mac1 and mac2 of a handshake message the caller created (len is
 * FT_WIRE_INITIATION_LEN or FT_WIRE_RESPONSE_LEN; asserted) and remembers mac1.
 */
void ft_cookie_maker_add_macs(struct ft_cookie_maker *m, uint8_t *msg, size_t len, uint64_t now_ns);

/*
 * Consumes a cookie reply the caller routed to this peer by its receiver index. 0 when the
 * cookie was stored (the next message carries mac2). -FT_NOISE_TRUNCATED: wrong type or
 * size; -FT_NOISE_WRONG_STATE: we sent no handshake message it could answer;
 * -FT_NOISE_DECRYPT_FAILED: not from the peer, or not for our latest message.
 */
int ft_cookie_maker_consume_reply(struct ft_cookie_maker *m, const uint8_t *reply, size_t len,
				  uint64_t now_ns);

#endif
