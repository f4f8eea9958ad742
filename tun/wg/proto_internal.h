/* SPDX-License-Identifier: MIT */
#ifndef FT_PROTO_INTERNAL_H
#define FT_PROTO_INTERNAL_H

/*
 * The protocol device's state, shared by its files and nobody else: device.c (creation, the
 * identity, counters, AllowedIPs), peer.c (peers added and removed), send.c (everything that
 * leaves through the send callback, the send path, the timers' actions) and receive.c (message
 * dispatch). Loop thread only.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tun/wg/cookie.h"
#include "tun/wg/index.h"
#include "tun/wg/noise.h"
#include "tun/wg/proto.h"
#include "tun/wg/timers.h"

struct ft_proto {
	struct ft_proto_config cfg;
	struct ft_noise_identity id;
	struct ft_cookie_checker checker;
	struct ft_index_table *index;
	struct ft_allowedips *allowedips;
	struct ft_ratelimit *ratelimit; /* handshake messages per source, under load */
	struct ft_peer *first, *last;
	/*
	 * Public key -> peer: chains in a power-of-two table, SipHash-2-4 (crypto_shorthash) of
	 * the key under a random key of this device, so that no one who picks public keys can
	 * pile them into one chain. Grows to keep n_peers <= key_nbuckets.
	 */
	struct ft_peer **key_buckets;
	size_t key_nbuckets;
	size_t n_peers;
	uint8_t key_hash_key[16];
	/* The peers with armed timers, by their earliest deadline (timers.h): ticks visit those due. */
	struct ft_timer_heap timer_heap;
	struct ft_proto_counters counters;
	/* Where queued packets and keepalives are encrypted before the callback sees them. */
	uint8_t *scratch;
	size_t scratch_len;
	/* The padding limit, the TUN MTU now (ft_proto_set_mtu); cfg.mtu sized the buffers. */
	size_t pad_mtu;
	/*
	 * Under load (receive.c): the initiations counted in the window that began at
	 * load_window_ns, and the end of the load (0: never under load yet).
	 */
	uint64_t load_window_ns;
	uint32_t load_count;
	uint64_t under_load_until_ns;
};

/* device.c */
void ft_proto_count(struct ft_proto *p, enum ft_proto_reason r);
/* Counts r and marks res a drop for r; returns FT_PROTO_DROP. */
enum ft_proto_action ft_proto_drop(struct ft_proto *p, struct ft_proto_result *res,
				   enum ft_proto_reason r);
/* The counter of a noise or cookie rejection code (negative or not). */
enum ft_proto_reason ft_proto_noise_reason(int err);
/* A random receiver index (ft_index_random_fn; arg is the device). */
uint32_t ft_proto_random_index(void *arg);
/* A random delay below REKEY_TIMEOUT_JITTER_MAX for a timer. */
uint64_t ft_proto_jitter(struct ft_proto *p);
/* peer.c: the public-key table of a new device (0 or -ENOMEM); its memory freed. */
int ft_proto_keys_init(struct ft_proto *p);
void ft_proto_keys_free(struct ft_proto *p);
/* The peer's keypairs and handshake state wiped, its indices unhashed, its keypair set freed. */
void ft_proto_drop_sessions(struct ft_proto *p, struct ft_peer *peer);
/*
 * peer.c: the peer's keypair set, allocated in the secret arena when it has none yet (its
 * first session, or the first since ft_proto_drop_sessions); NULL when that failed.
 */
struct ft_keypair_set *ft_peer_keypairs(struct ft_peer *peer);
/* The keypair the peer sends with (NULL: none, or no keypair set at all). */
static inline struct ft_keypair *ft_peer_current_keypair(const struct ft_peer *peer)
{
	return peer->keypairs ? peer->keypairs->current : NULL;
}

/* send.c */
/*
 * A message of the device's own making that carries no packet (handshake, cookie reply) out
 * through the callback, to dst (NULL: the peer's endpoint; peer NULL: a cookie reply).
 */
void ft_proto_output(struct ft_proto *p, struct ft_peer *peer, const uint8_t *msg, size_t len,
		     const struct sockaddr *dst);
void ft_proto_send_initiation(struct ft_proto *p, struct ft_peer *peer, uint64_t now_ns,
			      bool is_retry);
/* Sends what waited for a session, or a keepalive when nothing did; false: no session. */
bool ft_proto_flush_queue(struct ft_proto *p, struct ft_peer *peer, uint64_t now_ns,
			  bool keepalive_if_empty);
void ft_proto_send_keepalive(struct ft_proto *p, struct ft_peer *peer, uint64_t now_ns);

#endif
