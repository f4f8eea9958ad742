/* SPDX-License-Identifier: MIT */
#ifndef FT_NOISE_H
#define FT_NOISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "tun/wg/wire.h"

/*
 * The WireGuard handshake, Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s (paper, section 5.4),
 * with no I/O: messages are byte buffers, time is passed in. Noise knows nothing of index
 * tables, peer lists or sockets: the caller chooses local indices, finds the handshake of
 * a response by its receiver index, and finds a peer by static public key through the
 * lookup callback of ft_noise_consume_initiation().
 *
 * mac1 and mac2 are not noise's business: the caller validates them with the cookie
 * checker (tun/wg/cookie.h) before consuming a message, and adds them with the cookie maker
 * after creating one. Typical use:
 *
 *   initiator                                  responder
 *   ft_noise_create_initiation(hs, m, idx)
 *   ft_cookie_maker_add_macs(maker, m)   -->   ft_cookie_checker_validate(chk, m, src)
 *                                              ft_noise_consume_initiation(id, m, lookup)
 *                                              ft_noise_create_response(hs, r, idx)
 *                                              ft_cookie_maker_add_macs(maker, r)
 *                                              ft_noise_begin_session(hs, &session)
 *   ft_cookie_checker_validate(chk, r)   <--
 *   ft_noise_consume_response(id, r, hs)
 *   ft_noise_begin_session(hs, &session)
 *
 * Handshake states (struct ft_handshake.state):
 *   ZEROED              nothing in flight; the state after creation, clear and begin_session
 *   CREATED_INITIATION  initiator sent an initiation and waits for the response
 *   CONSUMED_INITIATION responder accepted an initiation and may create its response
 *   CREATED_RESPONSE    responder sent its response: begin_session may derive its keys
 *   CONSUMED_RESPONSE   initiator accepted the response: begin_session may derive its keys
 * Creating an initiation is allowed in any state (it restarts the handshake), and a valid
 * initiation from the peer is consumed in any state (simultaneous initiations: the one
 * consumed last wins this handshake, the other side's response then fails with
 * FT_NOISE_WRONG_STATE and is counted, as in the Linux module).
 *
 * Errors: setup functions return 0 or a negative errno. Message functions return 0 or the
 * negated value of one enum ft_noise_reject, never an errno, so that the caller can bump
 * one named counter per rejection: counters[-err] with a table of FT_NOISE_REJECT_COUNT,
 * named by ft_noise_reject_name(). cookie.h uses the same codes.
 *
 * Thread safety: none. An identity and the handshakes that point to it belong to one
 * thread (the worker's loop), or the caller serialises access.
 */
enum ft_noise_reject {
	FT_NOISE_TRUNCATED = 1,	  /* "truncated": wrong size for its type, or not that type */
	FT_NOISE_BAD_MAC1,	  /* "bad_mac1" (cookie checker) */
	FT_NOISE_BAD_MAC2,	  /* "bad_mac2": under load without a valid cookie: send a reply */
	FT_NOISE_DECRYPT_FAILED,  /* "decrypt_failed": an AEAD tag did not verify */
	FT_NOISE_UNKNOWN_PEER,	  /* "unknown_peer": the static key belongs to no peer */
	FT_NOISE_STALE_TIMESTAMP, /* "stale_timestamp": not later than the latest accepted */
	FT_NOISE_FLOOD,		  /* "handshake_flood": over 50 initiations per second */
	FT_NOISE_WRONG_STATE,	  /* "wrong_state": e.g. a response nobody waits for */
	FT_NOISE_UNKNOWN_INDEX,	  /* "unknown_index": receiver index not the handshake's */
	FT_NOISE_BAD_KEY,	  /* "bad_key": an all-zero DH result (low-order point) */
	FT_NOISE_NO_IDENTITY,	  /* "no_identity": no local private key configured */
	FT_NOISE_REJECT_COUNT,
};

/* The counter name of a rejection ("bad_mac1", ...); err may be negated. "unknown" otherwise. */
const char *ft_noise_reject_name(int err);

/*
 * The local static identity. private_key points to sodium_malloc memory (NULL when no key
 * is configured); the derived keys are public values. Tests may replace the two hooks.
 */
struct ft_noise_identity {
	uint8_t *private_key; /* FT_WIRE_KEY_LEN bytes, sodium_malloc, or NULL */
	uint8_t public_key[FT_WIRE_KEY_LEN];
	/* HASH("mac1----" || public_key): verifies mac1 of messages sent to us. */
	uint8_t mac1_key[FT_WIRE_KEY_LEN];
	/* HASH("cookie--" || public_key): encrypts the cookie replies we send. */
	uint8_t cookie_key[FT_WIRE_KEY_LEN];
	/* Wall clock for TAI64N timestamps; clock_gettime(CLOCK_REALTIME) by default. */
	void (*wall_clock)(struct timespec *ts);
	/* Randomness for ephemeral keys, cookie secrets and nonces; randombytes_buf by default. */
	void (*random)(void *buf, size_t len);
};

/*
 * Initialises id with private_key (copied, clamped; NULL for no key yet) and the default
 * hooks. 0, -ENOMEM, or -EINVAL when the key's public key is all zero. Pair with
 * ft_noise_identity_clear().
 */
int ft_noise_identity_init(struct ft_noise_identity *id, const uint8_t *private_key);
/*
 * Replaces the private key (NULL removes it). Every handshake using id must then be
 * refreshed with ft_noise_handshake_precompute(). 0, -ENOMEM or -EINVAL.
 */
int ft_noise_identity_set_private(struct ft_noise_identity *id, const uint8_t *private_key);
/* Wipes and frees the private key and clears everything. */
void ft_noise_identity_clear(struct ft_noise_identity *id);

enum ft_handshake_state {
	FT_HANDSHAKE_ZEROED = 0,
	FT_HANDSHAKE_CREATED_INITIATION,
	FT_HANDSHAKE_CONSUMED_INITIATION,
	FT_HANDSHAKE_CREATED_RESPONSE,
	FT_HANDSHAKE_CONSUMED_RESPONSE,
};

/*
 * The per-peer handshake. The whole struct lives in a secret-arena slot (secmem.h; it holds the
 * static-static DH, the PSK, the ephemeral private key and the chaining key), so create it
 * with ft_noise_handshake_create() and free it with ft_noise_handshake_destroy(). The
 * caller may read the fields; only noise.c writes them.
 */
struct ft_handshake {
	enum ft_handshake_state state;
	const struct ft_noise_identity *id; /* not owned; outlives the handshake */
	void *owner;			    /* the caller's peer, returned to it as is */

	uint8_t remote_static[FT_WIRE_KEY_LEN];
	/*
	 * DH(local static private, remote static), computed the first time a message needs it
	 * (ss_known), not when the peer is added: an X25519 costs ~40 us here, and a hub adding
	 * 100,000 peers would spend 4 s in them before its first packet, for peers most of which
	 * will not handshake soon. All zero while unknown or invalid (no identity, a low-order
	 * key); read it through ft_noise_handshake_static_ok().
	 */
	uint8_t precomputed_ss[FT_WIRE_KEY_LEN];
	bool ss_known;
	bool ss_valid;
	uint8_t psk[FT_WIRE_KEY_LEN]; /* all zero when there is no preshared key */

	/* Handshake in flight. */
	uint8_t ephemeral_private[FT_WIRE_KEY_LEN];
	uint8_t remote_ephemeral[FT_WIRE_KEY_LEN];
	uint8_t chaining_key[FT_WIRE_KEY_LEN];
	uint8_t hash[FT_WIRE_KEY_LEN];
	uint32_t local_index;  /* our sender index of the message in flight */
	uint32_t remote_index; /* the peer's sender index */

	/* Replay and flood protection of initiations from this peer, kept across handshakes. */
	uint8_t latest_timestamp[FT_WIRE_TIMESTAMP_LEN];
	uint64_t last_initiation_consumed_ns;
	bool consumed_any_initiation;
};

/*
 * A new handshake with the peer whose static public key is remote_static, with an optional
 * preshared key (NULL: none), owned by the caller's owner. NULL when out of memory. A
 * remote_static that gives an all-zero DH is accepted here (as wg(8) accepts such a peer),
 * but every message for it fails with FT_NOISE_BAD_KEY.
 */
struct ft_handshake *ft_noise_handshake_create(const struct ft_noise_identity *id,
					       const uint8_t remote_static[FT_WIRE_KEY_LEN],
					       const uint8_t *psk, void *owner);
/* Wipes and frees hs; NULL is allowed. */
void ft_noise_handshake_destroy(struct ft_handshake *hs);
/* Sets (psk) or removes (NULL) the preshared key. */
void ft_noise_handshake_set_psk(struct ft_handshake *hs, const uint8_t *psk);
/*
 * Forgets the static-static DH after the identity's private key changed (it is computed
 * again when next needed), and clears the handshake in flight.
 */
void ft_noise_handshake_reset_static(struct ft_handshake *hs);
/*
 * Whether the static-static DH with this peer is usable: false without an identity or for a
 * key whose DH is all zero. Computes it the first time (one X25519), then remembers.
 */
bool ft_noise_handshake_static_ok(struct ft_handshake *hs);
/* Abandons the handshake in flight (state ZEROED), keeping keys and replay protection. */
void ft_noise_handshake_clear(struct ft_handshake *hs);

/*
 * Writes an initiation (FT_WIRE_INITIATION_LEN bytes, mac1 and mac2 zero) with sender
 * index local_index, and moves hs to CREATED_INITIATION. The caller then adds the macs
 * with ft_cookie_maker_add_macs() and maps local_index to hs in its index table.
 * 0, -FT_NOISE_NO_IDENTITY or -FT_NOISE_BAD_KEY (msg is then zero).
 */
int ft_noise_create_initiation(struct ft_handshake *hs, uint8_t msg[FT_WIRE_INITIATION_LEN],
			       uint32_t local_index);

/*
 * Finds the handshake of the peer with this static public key, or NULL. Called at most
 * once per consumed initiation, after the static key has been authenticated.
 */
typedef struct ft_handshake *(*ft_noise_lookup_fn)(void *arg,
						   const uint8_t remote_static[FT_WIRE_KEY_LEN]);

/*
 * Consumes an initiation whose mac1 (and mac2 under load) the caller has validated. On
 * success *out is the peer's handshake, now CONSUMED_INITIATION with the peer's sender
 * index in remote_index; the caller then creates the response. now_ns (CLOCK_MONOTONIC)
 * drives the 50-per-second limit. Rejections: TRUNCATED, NO_IDENTITY, BAD_KEY,
 * DECRYPT_FAILED (static or timestamp), UNKNOWN_PEER, STALE_TIMESTAMP (replayed or older
 * than the latest accepted), FLOOD (less than 20 ms after the previous accepted one). A
 * rejected message changes no handshake.
 */
int ft_noise_consume_initiation(const struct ft_noise_identity *id, const uint8_t *msg, size_t len,
				ft_noise_lookup_fn lookup, void *arg, uint64_t now_ns,
				struct ft_handshake **out);

/*
 * Writes the response (FT_WIRE_RESPONSE_LEN bytes, macs zero) to the initiation consumed
 * by hs, with sender index local_index, and moves hs to CREATED_RESPONSE; the caller then
 * adds the macs and calls ft_noise_begin_session(). 0, -FT_NOISE_WRONG_STATE or
 * -FT_NOISE_BAD_KEY.
 */
int ft_noise_create_response(struct ft_handshake *hs, uint8_t msg[FT_WIRE_RESPONSE_LEN],
			     uint32_t local_index);

/*
 * Consumes a response addressed to hs (the caller found hs by the message's receiver
 * index) whose macs it has validated. On success hs is CONSUMED_RESPONSE and the caller
 * calls ft_noise_begin_session(). Rejections: TRUNCATED, WRONG_STATE (hs sent no
 * initiation), UNKNOWN_INDEX (receiver is not hs->local_index), BAD_KEY, DECRYPT_FAILED.
 * A rejected message leaves hs unchanged.
 */
int ft_noise_consume_response(const struct ft_noise_identity *id, const uint8_t *msg, size_t len,
			      struct ft_handshake *hs);

/* What a completed handshake hands to a keypair. Wipe it (sodium_memzero) after copying. */
struct ft_noise_session {
	uint8_t send_key[32];
	uint8_t recv_key[32];
	uint32_t local_index; /* chosen by the caller, passed in when creating a message */
	uint32_t remote_index;
	bool initiator;
};

/*
 * Derives the transport keys of a completed handshake into *out and wipes the handshake
 * (state ZEROED; keys, PSK and replay protection stay). hs must be CREATED_RESPONSE
 * (responder) or CONSUMED_RESPONSE (initiator): otherwise -FT_NOISE_WRONG_STATE.
 */
int ft_noise_begin_session(struct ft_handshake *hs, struct ft_noise_session *out);

#endif
