// SPDX-License-Identifier: MIT
/*
 * Peers of the protocol device: added, found, updated and removed (ft_proto_peer_*), and the
 * peer state that is not protocol logic: endpoint, statistics and the packet queue.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>
#include <sodium.h>

#include "base/sockaddr.h"
#include "tun/wg/allowedips.h"
#include "tun/wg/noise.h"
#include "tun/wg/peer.h"
#include "tun/wg/proto_internal.h"
#include "tun/wg/secmem.h"

/* The keypair set lives in a secret-arena slot (64-byte aligned, at most a page). */
_Static_assert(_Alignof(struct ft_keypair_set) <= 64, "keypair set alignment above the arena's");
_Static_assert(sizeof(struct ft_keypair_set) <= FT_SECMEM_MAX_SLOT, "keypair set above a slot");

void ft_peer_get_info(const struct ft_peer *peer, struct ft_peer_info *info, uint64_t now_ns)
{
	static const uint8_t zero[FT_WIRE_KEY_LEN];

	memset(info, 0, sizeof(*info));
	memcpy(info->public_key, peer->public_key, FT_WIRE_KEY_LEN);
	info->has_preshared_key = memcmp(peer->hs->psk, zero, FT_WIRE_KEY_LEN) != 0;
	info->endpoint = peer->endpoint;
	info->persistent_keepalive_s = peer->timers.persistent_keepalive_s;
	info->rx_bytes = peer->rx_bytes;
	info->tx_bytes = peer->tx_bytes;
	info->last_handshake = peer->last_handshake_wall;
	info->queued = peer->queue.count;
	info->has_session = ft_peer_has_session(peer, now_ns);
	info->handshake_pending = ft_peer_handshake_pending(peer);
	info->last_handshake_ns = peer->last_handshake_ns;
}

struct ft_keypair_set *ft_peer_keypairs(struct ft_peer *peer)
{
	/* Arena memory comes zeroed: an empty set (ft_keypair_set_init). */
	if (!peer->keypairs)
		peer->keypairs = ft_secmem_alloc(sizeof(*peer->keypairs));
	return peer->keypairs;
}

bool ft_peer_has_session(const struct ft_peer *peer, uint64_t now_ns)
{
	return ft_keypair_fresh(ft_peer_current_keypair(peer), now_ns, FT_REJECT_AFTER_TIME_NS);
}

bool ft_peer_handshake_pending(const struct ft_peer *peer)
{
	/* Armed by each initiation sent; disarmed by a completed handshake and by giving up. */
	return ft_timers_armed(&peer->timers, FT_TIMER_RETRANSMIT_HANDSHAKE);
}

int ft_peer_set_endpoint(struct ft_peer *peer, const struct sockaddr *sa)
{
	socklen_t len;

	if (!sa || sa->sa_family == AF_UNSPEC) {
		memset(&peer->endpoint, 0, sizeof(peer->endpoint));
		return 0;
	}
	len = ft_sockaddr_len(sa);
	if (!len)
		return -EAFNOSUPPORT;
	memset(&peer->endpoint, 0, sizeof(peer->endpoint));
	memcpy(&peer->endpoint, sa, len);
	return 0;
}

bool ft_peer_roam(struct ft_peer *peer, const struct sockaddr *src)
{
	socklen_t len = src ? ft_sockaddr_len(src) : 0;

	/* Compare first: on the packet path the endpoint almost never changes. */
	if (!len || memcmp(&peer->endpoint, src, len) == 0)
		return false;
	ft_peer_set_endpoint(peer, src);
	return true;
}

bool ft_peer_has_endpoint(const struct ft_peer *peer)
{
	return peer->endpoint.ss_family != AF_UNSPEC;
}

int ft_peer_queue_init(struct ft_peer_queue *q, size_t slot_size)
{
	memset(q, 0, sizeof(*q));
	if (slot_size == 0 || slot_size > UINT32_MAX)
		return -EINVAL;
	q->slot_size = (uint32_t)slot_size;
	return 0;
}

void ft_peer_queue_free(struct ft_peer_queue *q)
{
	ft_peer_queue_purge(q);
}

/* The lengths, then the slots (queue_slot), in the one block of a non-empty queue. */
static uint32_t *queue_lens(const struct ft_peer_queue *q)
{
	return (uint32_t *)(void *)q->buf;
}

static uint8_t *queue_slot(const struct ft_peer_queue *q, uint32_t slot)
{
	return q->buf + FT_PEER_QUEUE_LEN * sizeof(uint32_t) + (size_t)slot * q->slot_size;
}

int ft_peer_queue_push(struct ft_peer_queue *q, const uint8_t *pkt, size_t len)
{
	uint32_t slot;
	int dropped = 0;

	if (len > q->slot_size)
		return -EMSGSIZE;
	/*
	 * Only a peer without a session queues, so this runs once per handshake that packets
	 * wait for, not per packet; an idle peer never holds the block.
	 */
	if (!q->buf) {
		q->buf = malloc(FT_PEER_QUEUE_LEN * (sizeof(uint32_t) + (size_t)q->slot_size));
		if (!q->buf)
			return -ENOMEM;
		q->head = q->count = 0;
	}
	if (q->count == FT_PEER_QUEUE_LEN) {
		/* The newest packets are the ones a retransmitting sender still cares about. */
		q->head = (q->head + 1) % FT_PEER_QUEUE_LEN;
		q->count--;
		dropped = 1;
	}
	slot = (q->head + q->count) % FT_PEER_QUEUE_LEN;
	memcpy(queue_slot(q, slot), pkt, len);
	queue_lens(q)[slot] = (uint32_t)len;
	q->count++;
	return dropped;
}

const uint8_t *ft_peer_queue_peek(const struct ft_peer_queue *q, size_t *len)
{
	if (!q->count)
		return NULL;
	*len = queue_lens(q)[q->head];
	return queue_slot(q, q->head);
}

void ft_peer_queue_pop(struct ft_peer_queue *q)
{
	if (!q->count)
		return;
	q->head = (q->head + 1) % FT_PEER_QUEUE_LEN;
	if (--q->count == 0)
		ft_peer_queue_purge(q);
}

uint32_t ft_peer_queue_purge(struct ft_peer_queue *q)
{
	uint32_t n = q->count;

	free(q->buf);
	q->buf = NULL;
	q->head = 0;
	q->count = 0;
	return n;
}

/* ---- public key -> peer ---- */

#define KEY_BUCKETS_MIN 64

static_assert(sizeof(((struct ft_proto *)0)->key_hash_key) == crypto_shorthash_KEYBYTES,
	      "the hash key is SipHash-2-4's");

int ft_proto_keys_init(struct ft_proto *p)
{
	p->key_buckets = calloc(KEY_BUCKETS_MIN, sizeof(*p->key_buckets));
	if (!p->key_buckets)
		return -ENOMEM;
	p->key_nbuckets = KEY_BUCKETS_MIN;
	p->cfg.random(p->key_hash_key, sizeof(p->key_hash_key));
	return 0;
}

void ft_proto_keys_free(struct ft_proto *p)
{
	free(p->key_buckets);
	p->key_buckets = NULL;
	p->key_nbuckets = 0;
	sodium_memzero(p->key_hash_key, sizeof(p->key_hash_key));
}

static size_t key_slot(const struct ft_proto *p, const uint8_t key[FT_WIRE_KEY_LEN],
		       size_t nbuckets)
{
	uint8_t h[crypto_shorthash_BYTES];
	uint64_t v;

	crypto_shorthash(h, key, FT_WIRE_KEY_LEN, p->key_hash_key);
	memcpy(&v, h, sizeof(v));
	return (size_t)(v & (nbuckets - 1));
}

/*
 * Doubles the table when a peer more would make the chains longer than one on average. A
 * failed allocation keeps the old table: lookups stay right, only longer.
 */
static void keys_grow(struct ft_proto *p)
{
	size_t n = p->key_nbuckets * 2;
	struct ft_peer **b;

	if (p->n_peers < p->key_nbuckets || n > SIZE_MAX / sizeof(*b) ||
	    !(b = calloc(n, sizeof(*b))))
		return;
	for (size_t i = 0; i < p->key_nbuckets; i++) {
		struct ft_peer *peer = p->key_buckets[i], *next;

		for (; peer; peer = next) {
			size_t s = key_slot(p, peer->public_key, n);

			next = peer->key_next;
			peer->key_next = b[s];
			b[s] = peer;
		}
	}
	free(p->key_buckets);
	p->key_buckets = b;
	p->key_nbuckets = n;
}

static void keys_insert(struct ft_proto *p, struct ft_peer *peer)
{
	size_t s;

	keys_grow(p);
	s = key_slot(p, peer->public_key, p->key_nbuckets);
	peer->key_next = p->key_buckets[s];
	p->key_buckets[s] = peer;
	p->n_peers++;
}

static void keys_remove(struct ft_proto *p, struct ft_peer *peer)
{
	struct ft_peer **pp = &p->key_buckets[key_slot(p, peer->public_key, p->key_nbuckets)];

	while (*pp && *pp != peer)
		pp = &(*pp)->key_next;
	if (*pp) {
		*pp = peer->key_next;
		p->n_peers--;
	}
	peer->key_next = NULL;
}

struct ft_peer *ft_proto_peer_find(const struct ft_proto *p, const uint8_t key[FT_WIRE_KEY_LEN])
{
	struct ft_peer *peer = p->key_buckets[key_slot(p, key, p->key_nbuckets)];

	/* The whole chain is compared in constant time per entry: no early exit on a byte. */
	for (; peer; peer = peer->key_next)
		if (sodium_memcmp(peer->public_key, key, FT_WIRE_KEY_LEN) == 0)
			return peer;
	return NULL;
}

/* ---- peers of the device ---- */

int ft_proto_peer_add(struct ft_proto *p, const struct ft_peer_config *cfg, struct ft_peer **out)
{
	struct ft_peer *peer;
	int err = -ENOMEM;

	if (ft_proto_peer_find(p, cfg->public_key))
		return -EEXIST;
	if (cfg->endpoint && cfg->endpoint->sa_family != AF_UNSPEC &&
	    !ft_sockaddr_len(cfg->endpoint))
		return -EAFNOSUPPORT;
	/* A heap slot per peer, so that arming a timer never allocates (timers.h). */
	if (ft_timer_heap_reserve(&p->timer_heap, p->n_peers + 1) < 0)
		return -ENOMEM;
	peer = calloc(1, sizeof(*peer));
	if (!peer)
		return -ENOMEM;
	peer->proto = p;
	peer->ctx = cfg->ctx;
	memcpy(peer->public_key, cfg->public_key, FT_WIRE_KEY_LEN);
	peer->hs = ft_noise_handshake_create(&p->id, cfg->public_key, cfg->preshared_key, peer);
	if (!peer->hs)
		goto err;
	/*
	 * The keypair set comes with the first session, but its locked memory is promised now:
	 * a peer is refused here when RLIMIT_MEMLOCK is too low, as before, and a handshake
	 * after privileges were dropped needs no mlock() (secmem.h).
	 */
	err = ft_secmem_reserve(sizeof(struct ft_keypair_set), 1);
	if (err)
		goto err;
	err = ft_peer_queue_init(&peer->queue, p->cfg.mtu);
	if (err) {
		ft_secmem_unreserve(sizeof(struct ft_keypair_set), 1);
		goto err;
	}
	peer->hs_entry.kind = FT_INDEX_HANDSHAKE;
	peer->hs_entry.peer = peer;
	ft_cookie_maker_init(&peer->cookie, cfg->public_key);
	ft_timers_init(&peer->timers, cfg->persistent_keepalive_s);
	ft_timers_attach(&peer->timers, &p->timer_heap);
	ft_peer_set_endpoint(peer, cfg->endpoint);
	peer->prev = p->last;
	if (p->last)
		p->last->next = peer;
	else
		p->first = peer;
	p->last = peer;
	keys_insert(p, peer);
	*out = peer;
	return 0;
err:
	ft_noise_handshake_destroy(peer->hs);
	free(peer);
	return err;
}

/* Everything of a removal but its AllowedIPs, which the caller has taken out. */
static void peer_unlink(struct ft_proto *p, struct ft_peer *peer)
{
	ft_proto_drop_sessions(p, peer);
	ft_timers_detach(&peer->timers);
	keys_remove(p, peer);
	if (peer->prev)
		peer->prev->next = peer->next;
	else
		p->first = peer->next;
	if (peer->next)
		peer->next->prev = peer->prev;
	else
		p->last = peer->prev;
	ft_cookie_maker_clear(&peer->cookie);
	ft_noise_handshake_destroy(peer->hs);
	ft_secmem_unreserve(sizeof(struct ft_keypair_set), 1);
	ft_peer_queue_free(&peer->queue);
	free(peer);
}

void ft_proto_peer_remove(struct ft_proto *p, struct ft_peer *peer)
{
	ft_allowedips_remove_by_peer(p->allowedips, peer);
	peer_unlink(p, peer);
}

static bool peer_doomed_all(void *arg, const struct ft_peer *peer)
{
	(void)arg;
	(void)peer;
	return true;
}

static bool peer_doomed(void *arg, const struct ft_peer *peer)
{
	(void)arg;
	return peer->doomed;
}

void ft_proto_peers_remove(struct ft_proto *p, struct ft_peer *const *peers, size_t n)
{
	if (n == 0)
		return;
	if (n == 1) {
		ft_proto_peer_remove(p, peers[0]);
		return;
	}
	for (size_t i = 0; i < n; i++)
		peers[i]->doomed = true;
	ft_allowedips_remove_if(p->allowedips, peer_doomed, NULL);
	for (size_t i = 0; i < n; i++)
		peer_unlink(p, peers[i]);
}

static bool peer_clearing(void *arg, const struct ft_peer *peer)
{
	(void)arg;
	return peer->clearing_ips;
}

void ft_proto_peers_clear_allowedips(struct ft_proto *p, struct ft_peer *const *peers, size_t n)
{
	if (n == 0)
		return;
	for (size_t i = 0; i < n; i++)
		peers[i]->clearing_ips = true;
	ft_allowedips_remove_if(p->allowedips, peer_clearing, NULL);
	for (size_t i = 0; i < n; i++)
		peers[i]->clearing_ips = false;
}

void ft_proto_peers_remove_all(struct ft_proto *p)
{
	/* Every prefix goes: no walk deciding which. */
	ft_allowedips_remove_if(p->allowedips, peer_doomed_all, NULL);
	while (p->first)
		peer_unlink(p, p->first);
}

struct ft_peer *ft_proto_peer_next(const struct ft_proto *p, const struct ft_peer *peer)
{
	return peer ? peer->next : p->first;
}

int ft_proto_peer_set_endpoint(struct ft_proto *p, struct ft_peer *peer,
			       const struct sockaddr *endpoint)
{
	(void)p;
	return ft_peer_set_endpoint(peer, endpoint);
}

void ft_proto_peer_set_preshared_key(struct ft_proto *p, struct ft_peer *peer, const uint8_t *psk)
{
	(void)p;
	ft_noise_handshake_set_psk(peer->hs, psk);
}

bool ft_proto_peer_get_preshared_key(const struct ft_proto *p, const struct ft_peer *peer,
				     uint8_t out[FT_WIRE_KEY_LEN])
{
	static const uint8_t zero[FT_WIRE_KEY_LEN];

	(void)p;
	memcpy(out, peer->hs->psk, FT_WIRE_KEY_LEN);
	return sodium_memcmp(out, zero, FT_WIRE_KEY_LEN) != 0;
}

void ft_proto_peer_set_persistent_keepalive(struct ft_proto *p, struct ft_peer *peer,
					    uint32_t seconds, uint64_t now_ns)
{
	peer->timers.persistent_keepalive_s = seconds;
	if (!seconds) {
		ft_timers_disarm(&peer->timers, FT_TIMER_PERSISTENT_KEEPALIVE);
		return;
	}
	/*
	 * On, and not running: switched on now, or set when the peer was added (which sends
	 * nothing). One at once opens the path, as the kernel and wireguard-go do when they are
	 * configured: a handshake when there is no session. Whatever goes out arms the timer,
	 * and every authenticated packet sent or received re-arms it from then on.
	 */
	if (!ft_timers_armed(&peer->timers, FT_TIMER_PERSISTENT_KEEPALIVE))
		ft_proto_send_keepalive(p, peer, now_ns);
}
