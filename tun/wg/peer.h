/* SPDX-License-Identifier: MIT */
#ifndef FT_PEER_H
#define FT_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <sys/socket.h>

#include "tun/wg/cookie.h"
#include "tun/wg/index.h"
#include "tun/wg/keypair.h"
#include "tun/wg/timers.h"
#include "tun/wg/wire.h"

/*
 * A peer of the protocol device: its static public key, its handshake (noise), cookie
 * maker, keypairs, timers, endpoint, statistics and the bounded queue of packets waiting for
 * a session. Peers are created and destroyed by the device (tun/wg/proto.h); the fields are
 * for the protocol code in tun/wg/, other readers use ft_peer_get_info(), or the few
 * accessors below where a copy of everything per batch would be waste. Loop thread only.
 *
 * Ownership: the handshake and the keypair set live in the secret arena (secmem.h; keys, PSK,
 * chaining key) and are wiped when freed. What an idle peer (configured, never handshaked)
 * does not use is not allocated, so that a hub of 100,000 peers stays within ~2 KB each: the
 * keypair set (3.5 KB of locked memory) is allocated by the first handshake that completes
 * and freed when its sessions are dropped (ft_proto_drop_sessions: key material zeroed, peer
 * removed); the packet queue's block (~45 KB of slots) by the first packet that has to wait
 * for a session, and freed when the queue empties. Neither happens per packet: a packet is
 * queued only while there is no session, and a handshake is under way then.
 */
struct ft_proto;
struct ft_handshake;

enum {
	/* Packets held per peer while a handshake is under way; the oldest is dropped first. */
	FT_PEER_QUEUE_LEN = 32,
};

struct ft_peer_queue {
	/*
	 * NULL while empty; else FT_PEER_QUEUE_LEN packet lengths (uint32_t) followed by as many
	 * slots of slot_size bytes: one block, allocated by the push onto an empty queue and
	 * freed by the pop or purge that empties it.
	 */
	uint8_t *buf;
	uint32_t slot_size;
	uint32_t head; /* the oldest packet */
	uint32_t count;
};

struct ft_peer {
	struct ft_proto *proto;
	struct ft_peer *prev, *next; /* the device's list */
	struct ft_peer *key_next;    /* the device's public-key hash chain */
	uint8_t public_key[FT_WIRE_KEY_LEN];

	struct ft_handshake *hs;	/* a secret-arena slot (secmem.h), owned */
	struct ft_index_entry hs_entry; /* the index of our handshake message in flight */
	struct ft_cookie_maker cookie;
	/* A secret-arena slot (secmem.h), owned; NULL until the first session (see above). */
	struct ft_keypair_set *keypairs;
	struct ft_timers timers;
	uint64_t last_initiation_ns; /* when we last sent an initiation */
	bool sent_initiation;
	bool doomed;	   /* ft_proto_peers_remove(): in the batch being removed */
	bool clearing_ips; /* ft_proto_peers_clear_allowedips(): in that batch */
	/* That initiation as sent (it went on the wire: no secret), for identical copies. */
	uint8_t last_initiation[FT_WIRE_INITIATION_LEN];

	struct sockaddr_storage endpoint; /* ss_family AF_UNSPEC: none known */

	uint64_t rx_bytes, tx_bytes; /* authenticated datagrams, as on the wire */
	uint64_t last_handshake_ns;  /* 0: never */
	struct timespec last_handshake_wall;

	struct ft_peer_queue queue;

	/*
	 * The owner's own state for this peer (the worker's struct wpeer), set from
	 * ft_peer_config.ctx when the peer is added: the device never reads or writes it. A peer
	 * never moves, so the owner reaches its state from a peer in O(1), with no search.
	 */
	void *ctx;
};

/* The owner's state given to ft_proto_peer_add() (ft_peer_config.ctx). */
static inline void *ft_peer_ctx(const struct ft_peer *peer)
{
	return peer->ctx;
}

/* What `flowtun show` and the userspace API report of a peer. */
struct ft_peer_info {
	uint8_t public_key[FT_WIRE_KEY_LEN];
	bool has_preshared_key;
	struct sockaddr_storage endpoint; /* AF_UNSPEC: none */
	uint32_t persistent_keepalive_s;
	uint64_t rx_bytes, tx_bytes;
	struct timespec last_handshake; /* wall clock; zero: never */
	uint32_t queued;		/* packets waiting for a session */
	bool has_session;		/* a current keypair we may send with */
	bool handshake_pending;		/* our initiation awaits its answer; retries are armed */
	uint64_t last_handshake_ns;	/* CLOCK_MONOTONIC of the latest session; 0: never */
};

void ft_peer_get_info(const struct ft_peer *peer, struct ft_peer_info *info, uint64_t now_ns);

/*
 * What the packet path reads of a peer once per batch, without ft_peer_get_info()'s copy of
 * everything: the endpoint (ss_family AF_UNSPEC: none; it changes when the peer roams), the
 * byte counts of wg show (the only ones: see "Accounting" in tun/wg/proto.h), and the two
 * facts of the worker's path state, as in struct ft_peer_info.
 */
static inline const struct sockaddr_storage *ft_peer_endpoint(const struct ft_peer *peer)
{
	return &peer->endpoint;
}

static inline void ft_peer_transfer(const struct ft_peer *peer, uint64_t *rx_bytes,
				    uint64_t *tx_bytes)
{
	*rx_bytes = peer->rx_bytes;
	*tx_bytes = peer->tx_bytes;
}

bool ft_peer_has_session(const struct ft_peer *peer, uint64_t now_ns);
bool ft_peer_handshake_pending(const struct ft_peer *peer);

/*
 * Sets the endpoint (AF_INET or AF_INET6; NULL or AF_UNSPEC clears it). 0 or -EAFNOSUPPORT.
 * True from ft_peer_roam() when it changed: the peer roamed.
 */
int ft_peer_set_endpoint(struct ft_peer *peer, const struct sockaddr *sa);
bool ft_peer_roam(struct ft_peer *peer, const struct sockaddr *src);
bool ft_peer_has_endpoint(const struct ft_peer *peer);

/*
 * The packet queue. init sets its slot size and allocates nothing (0, or -EINVAL when
 * slot_size is 0 or above UINT32_MAX); free drops what it holds.
 */
int ft_peer_queue_init(struct ft_peer_queue *q, size_t slot_size);
void ft_peer_queue_free(struct ft_peer_queue *q);
/*
 * Copies a packet in. -EMSGSIZE when it is bigger than a slot, -ENOMEM when the queue was
 * empty and its block could not be allocated (not queued, either way); 1 when the queue was
 * full and the oldest packet was dropped to make room; 0 otherwise.
 */
int ft_peer_queue_push(struct ft_peer_queue *q, const uint8_t *pkt, size_t len);
/*
 * The oldest packet (NULL when empty), valid until the next push or pop; pop removes it (and
 * frees the block with the last packet).
 */
const uint8_t *ft_peer_queue_peek(const struct ft_peer_queue *q, size_t *len);
void ft_peer_queue_pop(struct ft_peer_queue *q);
/* Drops every packet; returns how many there were. */
uint32_t ft_peer_queue_purge(struct ft_peer_queue *q);

#endif
