/* SPDX-License-Identifier: MIT */
#ifndef FT_PROTO_H
#define FT_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <sys/socket.h>

#include "tun/wg/peer.h"

/*
 * The protocol device: WireGuard with no I/O. It ties together the handshake (noise,
 * cookie), the keypairs, the index table, the timers, the peers and their AllowedIPs.
 * The data plane feeds it datagrams from the UDP socket (ft_proto_receive), packets from
 * the TUN (ft_proto_send) and the time (ft_proto_tick), and gets back what to write where.
 * Time is always `now_ns` of CLOCK_MONOTONIC, passed in.
 *
 * One way out: every datagram the device creates goes to the send callback of the
 * configuration, and nowhere else: handshake initiations and their retries, the response to
 * an initiation, cookie replies, keepalives, packets that waited for a session, and the data
 * messages of ft_proto_send too. What ft_proto_send and ft_proto_receive return only says what
 * happened to their input (and, for a data message received, where its decrypted packet is:
 * a packet for the TUN, not a datagram). One channel, as the kernel's send.c and receive.c
 * hand every skb to the socket layer, because the device makes datagrams at moments and in
 * numbers the caller does not choose: a timer fires, a response releases up to
 * FT_PEER_QUEUE_LEN waiting packets and a keepalive, a send past REKEY_AFTER_MESSAGES adds an
 * initiation. Returned results would need a list of them or the callback anyway, and two
 * ways out would give the caller two places to count what it sends (the accounting below).
 *
 * The callback gets a struct ft_proto_datagram. Its message is the device's own, valid only
 * during the call (copy it into a send batch), except for the data message of ft_proto_send:
 * that is the caller's buffer encrypted in place (in_place), which the caller may queue as it
 * is, without a copy, for as long as it keeps the buffer. The destination is the peer's
 * endpoint, or the sender of the message answered. The callback must not call back into the
 * device.
 *
 * Accounting, as wg show reports it and the kernel counts: a peer's rx_bytes are the
 * datagrams from it that authenticated and were accepted (res->rx_counted says which); its
 * tx_bytes are the datagrams the caller's socket accepted for it, which the caller reports
 * with ft_proto_peer_count_sent() (the device cannot know whether a send succeeded). They are
 * the only byte counts of a peer: a caller that needs them per batch reads them
 * (ft_peer_transfer()) and keeps the difference, rather than counting the bytes again.
 *
 * Under load (the cookie mechanism's DoS defence) is the device's own decision, as in the
 * kernel's receive.c: more than FT_PROTO_LOAD_INITIATIONS handshake initiations arriving in a
 * second put it under load, and it stays so until a second after the last one over that rate.
 * Under load, a handshake message without a valid mac2 is answered with a cookie reply and
 * goes no further (no DH work).
 *
 * Buffers: ft_proto_receive decrypts in place; ft_proto_send encrypts in place, so its
 * buffer has FT_PROTO_HEADROOM bytes in front of the packet and FT_PROTO_TAILROOM after it.
 * Nothing allocates per packet.
 *
 * Every dropped message increments one named counter (struct ft_proto_counters) and is
 * reported with its reason. Loop thread only: no locking anywhere.
 */
struct ft_proto;
struct ft_allowedips;

enum {
	FT_PROTO_HEADROOM = FT_WIRE_TRANSPORT_HEADER_LEN,
	/* Padding (up to 15 bytes) and the tag. */
	FT_PROTO_TAILROOM = FT_WIRE_PADDING - 1 + FT_WIRE_TAG_LEN,
	FT_PROTO_DEFAULT_MTU = 1420,
	/* More handshake initiations than this in one second put the device under load. */
	FT_PROTO_LOAD_INITIATIONS = 128,
};

/* The named counters: one per reason to drop, and a few events. */
#define FT_PROTO_COUNTERS(X)                                                                    \
	X(truncated)	       /* shorter than its type needs, or not a message of ours */      \
	X(bad_mac1)	       /* handshake message with an invalid mac1 */                     \
	X(bad_mac2)	       /* under load without a valid cookie (a cookie reply is sent) */ \
	X(decrypt_failed)      /* an AEAD tag did not verify (handshake, cookie or data) */     \
	X(unknown_peer)	       /* initiation from a static key that is no peer of ours */       \
	X(stale_timestamp)     /* initiation replayed or older than the latest */               \
	X(handshake_flood)     /* more than 50 initiations per second from a peer */            \
	X(wrong_state)	       /* a response or cookie reply nobody waits for */                \
	X(unknown_index)       /* receiver index of no handshake or keypair */                  \
	X(bad_key)	       /* all-zero DH result */                                         \
	X(no_identity)	       /* no private key configured */                                  \
	X(replayed)	       /* transport counter seen before or older than the window */     \
	X(key_expired)	       /* transport message for a spent keypair */                      \
	X(source_not_allowed)  /* inner source address not in the peer's AllowedIPs */          \
	X(bad_packet)	       /* inner packet is not a well-formed IPv4 or IPv6 packet */      \
	X(no_peer)	       /* outbound destination in no peer's AllowedIPs */               \
	X(no_endpoint)	       /* outbound to a peer whose endpoint is unknown */               \
	X(queue_dropped)       /* waiting packet dropped: queue full, too big, or given up */   \
	X(no_room)	       /* send buffer without the head or tail room */                  \
	X(no_memory)	       /* no memory for a peer's first session or waiting packet */     \
	X(ratelimited)	       /* under load, over its source's 20 handshake messages/s */      \
	X(cookie_sent)	       /* event: cookie replies sent */                                 \
	X(cookie_received)     /* event: cookie replies consumed */                             \
	X(handshake_initiated) /* event: initiations sent, retries included */                  \
	X(handshake_completed) /* event: sessions derived */                                    \
	X(handshake_given_up)  /* event: REKEY_ATTEMPT_TIME passed without an answer */

enum ft_proto_reason {
#define FT_PROTO_REASON_ENUM(n) FT_PROTO_##n,
	FT_PROTO_COUNTERS(FT_PROTO_REASON_ENUM)
#undef FT_PROTO_REASON_ENUM
		FT_PROTO_REASON_COUNT,
	/* Reasons below this one are drops; from it on, events. */
	FT_PROTO_FIRST_EVENT = FT_PROTO_cookie_sent,
};

struct ft_proto_counters {
#define FT_PROTO_COUNTER_FIELD(n) uint64_t n;
	FT_PROTO_COUNTERS(FT_PROTO_COUNTER_FIELD)
#undef FT_PROTO_COUNTER_FIELD
};

/* The name of a counter ("bad_mac1"), or NULL past the last; for show and the API. */
const char *ft_proto_counter_name(enum ft_proto_reason r);
uint64_t ft_proto_counter_value(const struct ft_proto_counters *c, enum ft_proto_reason r);

/* A datagram the device hands to the send callback (see the top of this file). */
struct ft_proto_datagram {
	struct ft_peer *peer; /* NULL for a cookie reply: it answers no known peer */
	const uint8_t *msg;
	size_t len;
	const struct sockaddr *dst; /* valid during the call */
	/*
	 * The IP packet a data message carries, inner_len bytes (0 for handshake messages,
	 * cookie replies and keepalives), for the caller's counts of what went into the tunnel.
	 * inner is its plaintext, valid during the call, for a packet that waited for a session;
	 * NULL when in_place, whose plaintext the encryption overwrote (the caller had it).
	 */
	const uint8_t *inner;
	size_t inner_len;
	/*
	 * msg is the buffer the caller passed to ft_proto_send, encrypted in place: valid as
	 * long as the caller keeps that buffer, so it need not be copied. Otherwise msg is the
	 * device's and valid only during the call.
	 */
	bool in_place;
};

typedef void ft_proto_send_fn(void *arg, const struct ft_proto_datagram *d);

struct ft_proto_config {
	ft_proto_send_fn *send; /* required */
	void *send_arg;
	/*
	 * The TUN MTU: the padding limit (until ft_proto_set_mtu() changes it) and, for good, the
	 * largest packet a peer queue holds (0: 1420).
	 */
	size_t mtu;
	/* Test hooks; NULL: clock_gettime(CLOCK_REALTIME), randombytes_buf. */
	void (*wall_clock)(struct timespec *ts);
	void (*random)(void *buf, size_t len);
	/*
	 * Optional (NULL: none): called by ft_proto_tick() with send_arg for each peer whose
	 * timers came due, after they ran: what the owner derives from a peer's timers (a path
	 * state) may have changed then, and only then, so the owner need not look at every peer.
	 */
	void (*ticked)(void *arg, struct ft_peer *peer);
};

/* A device with no private key and no peers (no I/O), or NULL when out of memory. */
struct ft_proto *ft_proto_create(const struct ft_proto_config *cfg);
/* Removes every peer, wipes every secret and frees the device. NULL is allowed. */
void ft_proto_destroy(struct ft_proto *p);

/*
 * Sets (NULL: removes) the private key. Every peer's handshake is recomputed and its
 * sessions dropped, since they were made with the old identity; the key the device has
 * already (compared clamped, in constant time) changes nothing. 0, -EINVAL (all-zero public
 * key) or -ENOMEM.
 */
int ft_proto_set_private_key(struct ft_proto *p, const uint8_t key[FT_WIRE_KEY_LEN]);
/* Our public key; false when no private key is set. */
bool ft_proto_public_key(const struct ft_proto *p, uint8_t out[FT_WIRE_KEY_LEN]);

struct ft_peer_config {
	uint8_t public_key[FT_WIRE_KEY_LEN];
	const uint8_t *preshared_key;	 /* NULL: none */
	const struct sockaddr *endpoint; /* NULL: learnt from the peer's first handshake */
	uint32_t persistent_keepalive_s; /* 0: off; ft_proto_peer_set_persistent_keepalive starts it */
	void *ctx;			 /* the caller's own state: ft_peer_ctx() returns it */
};

/*
 * Adds a peer. 0 and *out, -EEXIST (that public key is already a peer), -EAFNOSUPPORT
 * (endpoint not IPv4 or IPv6) or -ENOMEM. The peer belongs to the device.
 */
int ft_proto_peer_add(struct ft_proto *p, const struct ft_peer_config *cfg, struct ft_peer **out);
/* Removes a peer: its AllowedIPs, sessions and queued packets go with it. */
void ft_proto_peer_remove(struct ft_proto *p, struct ft_peer *peer);
/*
 * Removes n distinct peers of p as ft_proto_peer_remove() does each, with one pass over the
 * AllowedIPs for all of them (a removal by peer walks the whole table: n of them at a hub of
 * 100,000 peers would be quadratic). ft_proto_peers_remove_all() removes every peer.
 */
void ft_proto_peers_remove(struct ft_proto *p, struct ft_peer *const *peers, size_t n);
void ft_proto_peers_remove_all(struct ft_proto *p);
/*
 * Removes every AllowedIP of n peers in one pass over the table (wg setconf replaces the
 * AllowedIPs of every peer it names: a walk per peer would be quadratic at 100,000).
 */
void ft_proto_peers_clear_allowedips(struct ft_proto *p, struct ft_peer *const *peers, size_t n);
/*
 * The peer with this public key, or NULL. O(1): a hash table keyed with SipHash under a random
 * key of the device (as the kernel's pubkey_hashtable), so a hub of 100,000 peers pays the same
 * per initiation and per configured peer as one of two. The packet path never searches: it
 * has the peer already.
 */
struct ft_peer *ft_proto_peer_find(const struct ft_proto *p, const uint8_t key[FT_WIRE_KEY_LEN]);
/* Iteration in the order of addition: ft_proto_peer_next(p, NULL) is the first peer. */
struct ft_peer *ft_proto_peer_next(const struct ft_proto *p, const struct ft_peer *peer);
/* Updates of a peer's settings; 0 or -EAFNOSUPPORT. */
int ft_proto_peer_set_endpoint(struct ft_proto *p, struct ft_peer *peer,
			       const struct sockaddr *endpoint);
void ft_proto_peer_set_preshared_key(struct ft_proto *p, struct ft_peer *peer, const uint8_t *psk);
/*
 * The preshared key into out (all zero when there is none), for the userspace API's get and
 * wg showconf: the handshake's copy is the only one kept. The caller wipes out after use
 * (sodium_memzero). False when the peer has none.
 */
bool ft_proto_peer_get_preshared_key(const struct ft_proto *p, const struct ft_peer *peer,
				     uint8_t out[FT_WIRE_KEY_LEN]);
/*
 * Sets the persistent keepalive (0: off). When it is on and not running yet (just switched on,
 * or given in ft_peer_config, which only stores it), a keepalive goes out at once through the
 * callback, a handshake initiation when there is no session: call it once the caller can
 * send, as the kernel and wireguard-go start a configured keepalive.
 */
void ft_proto_peer_set_persistent_keepalive(struct ft_proto *p, struct ft_peer *peer,
					    uint32_t seconds, uint64_t now_ns);

/* AllowedIPs of a peer (family AF_INET or AF_INET6; addr in network byte order). */
int ft_proto_allowedip_add(struct ft_proto *p, struct ft_peer *peer, int family,
			   const uint8_t *addr, uint8_t cidr);
int ft_proto_allowedip_remove(struct ft_proto *p, int family, const uint8_t *addr, uint8_t cidr);
/* The table itself, for walking (show, the userspace API). */
const struct ft_allowedips *ft_proto_allowedips(const struct ft_proto *p);

/*
 * The TUN MTU changed: transport messages are padded up to mtu from now on (0: back to the
 * config's). Packets waiting for a session are still held up to the config's mtu only: a
 * longer one is dropped and counted in queue_dropped, as before.
 */
void ft_proto_set_mtu(struct ft_proto *p, size_t mtu);
const struct ft_proto_counters *ft_proto_counters(const struct ft_proto *p);

/* The caller's socket accepted a datagram of len bytes for peer: its tx_bytes (wg show). */
void ft_proto_peer_count_sent(struct ft_proto *p, struct ft_peer *peer, size_t len);

/*
 * What happened to a datagram or packet handed in. Whatever it made the device send (an
 * answer, packets released by a completed handshake, an initiation) went through the send
 * callback during the call, whichever the action.
 */
enum ft_proto_action {
	FT_PROTO_DROP,	    /* dropped and counted: res->reason */
	FT_PROTO_DONE,	    /* receive: a handshake message or cookie reply consumed */
	FT_PROTO_KEEPALIVE, /* receive: an authenticated keepalive: nothing to deliver */
	FT_PROTO_PACKET,    /* receive: write res->data[0..len) to the TUN */
	FT_PROTO_SENT,	    /* send: encrypted in place and handed to the callback (in_place) */
	FT_PROTO_QUEUED,    /* send: the packet waits for a handshake (copied; buffer is free) */
	FT_PROTO_OPEN,	    /* ft_proto_receive_job: a transport message whose AEAD is the job's */
};

struct ft_proto_result {
	enum ft_proto_action action;
	enum ft_proto_reason reason; /* FT_PROTO_DROP only */
	struct ft_peer *peer;	     /* the peer concerned, when known */
	bool rx_counted;	     /* receive: counted in the peer's rx_bytes (see above) */
	uint8_t *data;		     /* PACKET: the decrypted packet, inside the datagram */
	size_t len;
};

/*
 * One datagram msg[0..len) from the UDP socket, from src. Transport data is decrypted in
 * place: on FT_PROTO_PACKET, res->data points into msg and res->len is the inner packet's
 * own length (padding removed), its source address checked against the peer's AllowedIPs.
 * An answer (the response to an initiation, or a cookie reply under load) goes to src
 * through the callback. The peer's endpoint becomes src on every authenticated message.
 */
enum ft_proto_action ft_proto_receive(struct ft_proto *p, uint8_t *msg, size_t len,
				      const struct sockaddr *src, uint64_t now_ns,
				      struct ft_proto_result *res);

/*
 * One IP packet from the TUN at buf + FT_PROTO_HEADROOM, len bytes; buf holds cap bytes in
 * all (len + FT_PROTO_HEADROOM + FT_PROTO_TAILROOM suffice). The destination address picks
 * the peer. FT_PROTO_SENT: the message, buf encrypted in place, went to the callback with
 * in_place set and inner_len len, before anything else this call sends (an initiation when
 * the keypair is due for a rekey). FT_PROTO_QUEUED: no session yet; the packet was copied
 * into the peer's queue and a handshake started (through the callback).
 */
enum ft_proto_action ft_proto_send(struct ft_proto *p, uint8_t *buf, size_t len, size_t cap,
				   uint64_t now_ns, struct ft_proto_result *res);

/*
 * The AEAD of data messages outside the device (Workers = N: the caller runs it without the
 * lock the device is shared under; tun/wg/keypair.h, struct ft_aead_job). Everything else is
 * as ft_proto_send and ft_proto_receive.
 *
 * ft_proto_send_job: on FT_PROTO_SENT with job->payload set, the in-place data message went
 * to the callback with its header written and its payload still plain: the caller runs
 * ft_aead_job_seal(job) before the message leaves. (Messages the device sends on its own are
 * sealed before the callback sees them, as always.) job->payload is NULL otherwise.
 *
 * ft_proto_receive_job: a transport message whose keypair may take it answers FT_PROTO_OPEN
 * (res->peer set) with job filled; the caller runs ft_aead_job_open(job) and hands the
 * result to ft_proto_receive_finish() with the same message, which then does what
 * ft_proto_receive does after its AEAD (the replay window, the timers, roaming, the
 * AllowedIPs check, the counts) and answers as ft_proto_receive would. Every other message
 * is handled in full, as by ft_proto_receive. Between the two calls the device may take
 * other messages and packets: a keypair that rotated out meanwhile drops the message
 * (key_expired). The caller keeps messages that wait for their finish in arrival order
 * relative to the other messages of the same peer it hands over (its handshake messages).
 */
enum ft_proto_action ft_proto_send_job(struct ft_proto *p, uint8_t *buf, size_t len, size_t cap,
				       uint64_t now_ns, struct ft_proto_result *res,
				       struct ft_aead_job *job);
enum ft_proto_action ft_proto_receive_job(struct ft_proto *p, uint8_t *msg, size_t len,
					  const struct sockaddr *src, uint64_t now_ns,
					  struct ft_proto_result *res, struct ft_aead_job *job);
enum ft_proto_action ft_proto_receive_finish(struct ft_proto *p, uint8_t *msg, size_t len,
					     const struct sockaddr *src, uint64_t now_ns,
					     struct ft_proto_result *res,
					     const struct ft_aead_job *job, int open_err);

/*
 * Does whatever the timers say is due at now_ns (handshake retries with jitter and the give
 * up after REKEY_ATTEMPT_TIME, keepalives, handshakes for silent sessions, zeroing of old
 * keys); output goes through the callback. Its cost is that of the peers with a due
 * deadline (a heap of the peers by deadline, tun/wg/timers.h), not of all peers. Returns
 * when to call it again (CLOCK_MONOTONIC ns), 0 when nothing is armed. That time, and
 * ft_proto_next_deadline()'s after a batch (O(1); ft_proto_send and ft_proto_receive may
 * arm earlier deadlines), may be earlier than any armed timer (one was disarmed since),
 * never later; ft_proto_tick() at such an early time does no protocol work, it only moves
 * the next deadline on.
 */
uint64_t ft_proto_tick(struct ft_proto *p, uint64_t now_ns);
uint64_t ft_proto_next_deadline(const struct ft_proto *p);

/* Starts a handshake with peer now (e.g. when its link came up). */
void ft_proto_peer_initiate(struct ft_proto *p, struct ft_peer *peer, uint64_t now_ns);
/*
 * Sends the initiation in flight again, byte for byte (mac2 refreshed if a cookie came), for a
 * path that has just come back and may have lost it. 0, or -ENOENT when no initiation of ours
 * awaits an answer (none sent, answered, superseded, or older than REKEY_TIMEOUT).
 */
int ft_proto_peer_resend_initiation(struct ft_proto *p, struct ft_peer *peer, uint64_t now_ns);

#endif
