/* SPDX-License-Identifier: MIT */
#ifndef FT_WIRE_H
#define FT_WIRE_H

#include <stddef.h>
#include <stdint.h>

/*
 * The WireGuard wire format and protocol constants, in one header for every part of the
 * protocol (noise, cookie, keypair, replay, timers, proto). Values are from the WireGuard
 * paper, sections 5 and 6.
 *
 * Every message starts with a little-endian 32-bit type: the type byte and three zero
 * bytes. Multi-byte header fields are little-endian. Read and write them only through the
 * ft_wire_load_* and ft_wire_store_* helpers below, after checking the length: never cast
 * a packet pointer to a struct.
 *
 *   type 1, initiation (148 bytes)
 *     0 type(1) reserved(3) | 4 sender(4) | 8 ephemeral(32) | 40 static(32+16)
 *     | 88 timestamp(12+16) | 116 mac1(16) | 132 mac2(16)
 *   type 2, response (92 bytes)
 *     0 type(1) reserved(3) | 4 sender(4) | 8 receiver(4) | 12 ephemeral(32)
 *     | 44 empty(0+16) | 60 mac1(16) | 76 mac2(16)
 *   type 3, cookie reply (64 bytes)
 *     0 type(1) reserved(3) | 4 receiver(4) | 8 nonce(24) | 32 cookie(16+16)
 *   type 4, transport data (32 + n bytes, n a multiple of 16 except at the MTU)
 *     0 type(1) reserved(3) | 4 receiver(4) | 8 counter(8) | 16 ciphertext(n+16)
 */
enum ft_wire_type {
	FT_WIRE_INITIATION = 1,
	FT_WIRE_RESPONSE = 2,
	FT_WIRE_COOKIE_REPLY = 3,
	FT_WIRE_TRANSPORT = 4,
};

/* Sizes of the primitives' inputs and outputs as they appear on the wire. */
enum {
	FT_WIRE_KEY_LEN = 32,	    /* X25519 keys, symmetric keys, hashes */
	FT_WIRE_TAG_LEN = 16,	    /* Poly1305 tag: AEAD_LEN(n) = n + 16 */
	FT_WIRE_MAC_LEN = 16,	    /* mac1, mac2, cookie: keyed BLAKE2s-128 */
	FT_WIRE_TIMESTAMP_LEN = 12, /* TAI64N */
	FT_WIRE_COOKIE_LEN = 16,
	FT_WIRE_COOKIE_NONCE_LEN = 24, /* XChaCha20-Poly1305 nonce */
	FT_WIRE_PADDING = 16, /* transport plaintext is zero-padded to a multiple of this */
};

/* Message sizes. */
enum {
	FT_WIRE_INITIATION_LEN = 148,
	FT_WIRE_RESPONSE_LEN = 92,
	FT_WIRE_COOKIE_REPLY_LEN = 64,
	FT_WIRE_TRANSPORT_HEADER_LEN = 16,
	/* A keepalive: header and the tag of an empty payload. */
	FT_WIRE_TRANSPORT_MIN_LEN = FT_WIRE_TRANSPORT_HEADER_LEN + FT_WIRE_TAG_LEN,
};

/* Field offsets; every message has its type at 0. */
enum {
	FT_WIRE_OFF_TYPE = 0,

	FT_WIRE_INIT_OFF_SENDER = 4,
	FT_WIRE_INIT_OFF_EPHEMERAL = 8,
	FT_WIRE_INIT_OFF_STATIC = 40,	 /* 32 + 16 bytes */
	FT_WIRE_INIT_OFF_TIMESTAMP = 88, /* 12 + 16 bytes */
	FT_WIRE_INIT_OFF_MAC1 = 116,
	FT_WIRE_INIT_OFF_MAC2 = 132,

	FT_WIRE_RESP_OFF_SENDER = 4,
	FT_WIRE_RESP_OFF_RECEIVER = 8,
	FT_WIRE_RESP_OFF_EPHEMERAL = 12,
	FT_WIRE_RESP_OFF_EMPTY = 44, /* 0 + 16 bytes */
	FT_WIRE_RESP_OFF_MAC1 = 60,
	FT_WIRE_RESP_OFF_MAC2 = 76,

	FT_WIRE_COOKIE_OFF_RECEIVER = 4,
	FT_WIRE_COOKIE_OFF_NONCE = 8,
	FT_WIRE_COOKIE_OFF_COOKIE = 32, /* 16 + 16 bytes */

	FT_WIRE_DATA_OFF_RECEIVER = 4,
	FT_WIRE_DATA_OFF_COUNTER = 8,
	FT_WIRE_DATA_OFF_PAYLOAD = 16,
};

/*
 * The mac1 and mac2 fields are the last 32 bytes of both handshake messages, so the
 * cookie code finds them from the message length alone.
 */
#define FT_WIRE_MAC1_OFFSET(len) ((len)-2 * FT_WIRE_MAC_LEN)
#define FT_WIRE_MAC2_OFFSET(len) ((len)-FT_WIRE_MAC_LEN)

/* Protocol strings (without their terminating NUL). */
#define FT_WIRE_CONSTRUCTION "Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s"
#define FT_WIRE_IDENTIFIER "WireGuard v1 zx2c4 Jason@zx2c4.com"
#define FT_WIRE_LABEL_MAC1 "mac1----"
#define FT_WIRE_LABEL_COOKIE "cookie--"

/*
 * Protocol constants (paper, section 6). Times are in nanoseconds of CLOCK_MONOTONIC, the
 * unit of every `now_ns` in the protocol code.
 */
#define FT_NSEC_PER_SEC 1000000000ULL
#define FT_NSEC_PER_MSEC 1000000ULL

#define FT_REKEY_AFTER_MESSAGES (1ULL << 60)
#define FT_REJECT_AFTER_MESSAGES (UINT64_MAX - (1ULL << 13)) /* 2^64 - 2^13 - 1 */
#define FT_REKEY_AFTER_TIME_NS (120 * FT_NSEC_PER_SEC)
#define FT_REJECT_AFTER_TIME_NS (180 * FT_NSEC_PER_SEC)
#define FT_REKEY_ATTEMPT_TIME_NS (90 * FT_NSEC_PER_SEC)
#define FT_REKEY_TIMEOUT_NS (5 * FT_NSEC_PER_SEC)
#define FT_REKEY_TIMEOUT_JITTER_MAX_NS (333 * FT_NSEC_PER_MSEC) /* added at random, 0..333 ms */
#define FT_KEEPALIVE_TIMEOUT_NS (10 * FT_NSEC_PER_SEC)
/* Keys of a peer with no new handshake for this long are zeroed. */
#define FT_ZERO_KEYS_AFTER_NS (3 * FT_REJECT_AFTER_TIME_NS)
/* The responder's cookie secret rotates this often; the initiator keeps a cookie as long. */
#define FT_COOKIE_SECRET_MAX_AGE_NS (120 * FT_NSEC_PER_SEC)
/* At most this many initiations per second from one peer are consumed ... */
#define FT_MAX_INITIATIONS_PER_SECOND 50
/* ... that is, one at least this long after the previous accepted one. */
#define FT_INITIATION_MIN_INTERVAL_NS (FT_NSEC_PER_SEC / FT_MAX_INITIATIONS_PER_SECOND)

/* Little-endian field access; the caller has checked that the bytes are there. */
static inline uint32_t ft_wire_load_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t ft_wire_load_le64(const uint8_t *p)
{
	return (uint64_t)ft_wire_load_le32(p) | (uint64_t)ft_wire_load_le32(p + 4) << 32;
}

static inline void ft_wire_store_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline void ft_wire_store_le64(uint8_t *p, uint64_t v)
{
	ft_wire_store_le32(p, (uint32_t)v);
	ft_wire_store_le32(p + 4, (uint32_t)(v >> 32));
}

/*
 * The type of a received datagram, or 0 when it is none of ours: the header is not a type
 * byte followed by three zero bytes, or the length does not fit the type (handshake
 * messages have exactly their size; transport data is at least FT_WIRE_TRANSPORT_MIN_LEN).
 * The caller counts a 0 as `truncated` (or `unknown_type` when len >= 4 and the type is
 * unknown, if it wants to tell them apart).
 */
static inline int ft_wire_message_type(const uint8_t *pkt, size_t len)
{
	if (len < 4 || pkt[1] != 0 || pkt[2] != 0 || pkt[3] != 0)
		return 0;
	switch (pkt[0]) {
	case FT_WIRE_INITIATION:
		return len == FT_WIRE_INITIATION_LEN ? FT_WIRE_INITIATION : 0;
	case FT_WIRE_RESPONSE:
		return len == FT_WIRE_RESPONSE_LEN ? FT_WIRE_RESPONSE : 0;
	case FT_WIRE_COOKIE_REPLY:
		return len == FT_WIRE_COOKIE_REPLY_LEN ? FT_WIRE_COOKIE_REPLY : 0;
	case FT_WIRE_TRANSPORT:
		return len >= FT_WIRE_TRANSPORT_MIN_LEN ? FT_WIRE_TRANSPORT : 0;
	default:
		return 0;
	}
}

/*
 * The padded length of a transport plaintext of len bytes: rounded up to a multiple of
 * FT_WIRE_PADDING, but never past mtu (when len is already at or above the MTU nothing is
 * added).
 */
static inline size_t ft_wire_padded_len(size_t len, size_t mtu)
{
	size_t padded = (len + FT_WIRE_PADDING - 1) & ~(size_t)(FT_WIRE_PADDING - 1);

	if (len >= mtu)
		return len;
	return padded > mtu ? mtu : padded;
}

#endif
