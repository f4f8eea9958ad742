// SPDX-License-Identifier: MIT
/* Peer state that is not protocol logic: endpoint, statistics and the packet queue. */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>

#include "tun/noise.h"
#include "tun/peer.h"

void ft_peer_get_info(const struct ft_peer *peer, struct ft_peer_info *info, uint64_t now_ns)
{
	static const uint8_t zero[FT_WIRE_KEY_LEN];
	const struct ft_keypair *kp = peer->keypairs->current;

	memset(info, 0, sizeof(*info));
	memcpy(info->public_key, peer->public_key, FT_WIRE_KEY_LEN);
	info->has_preshared_key = memcmp(peer->hs->psk, zero, FT_WIRE_KEY_LEN) != 0;
	info->endpoint = peer->endpoint;
	info->persistent_keepalive_s = peer->timers.persistent_keepalive_s;
	info->rx_bytes = peer->rx_bytes;
	info->tx_bytes = peer->tx_bytes;
	info->last_handshake = peer->last_handshake_wall;
	info->queued = peer->queue.count;
	info->has_session = ft_keypair_fresh(kp, now_ns, FT_REJECT_AFTER_TIME_NS);
	/* Armed by each initiation sent; disarmed by a completed handshake and by giving up. */
	info->handshake_pending = ft_timers_armed(&peer->timers, FT_TIMER_RETRANSMIT_HANDSHAKE);
	info->last_handshake_ns = peer->last_handshake_ns;
}

socklen_t ft_peer_sockaddr_len(const struct sockaddr *sa)
{
	switch (sa->sa_family) {
	case AF_INET:
		return sizeof(struct sockaddr_in);
	case AF_INET6:
		return sizeof(struct sockaddr_in6);
	default:
		return 0;
	}
}

int ft_peer_set_endpoint(struct ft_peer *peer, const struct sockaddr *sa)
{
	socklen_t len;

	if (!sa || sa->sa_family == AF_UNSPEC) {
		memset(&peer->endpoint, 0, sizeof(peer->endpoint));
		return 0;
	}
	len = ft_peer_sockaddr_len(sa);
	if (!len)
		return -EAFNOSUPPORT;
	memset(&peer->endpoint, 0, sizeof(peer->endpoint));
	memcpy(&peer->endpoint, sa, len);
	return 0;
}

bool ft_peer_roam(struct ft_peer *peer, const struct sockaddr *src)
{
	socklen_t len = src ? ft_peer_sockaddr_len(src) : 0;

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
	q->buf = malloc(FT_PEER_QUEUE_LEN * slot_size);
	if (!q->buf)
		return -ENOMEM;
	q->slot_size = slot_size;
	return 0;
}

void ft_peer_queue_free(struct ft_peer_queue *q)
{
	free(q->buf);
	memset(q, 0, sizeof(*q));
}

int ft_peer_queue_push(struct ft_peer_queue *q, const uint8_t *pkt, size_t len)
{
	uint32_t slot;
	int dropped = 0;

	if (len > q->slot_size)
		return -EMSGSIZE;
	if (q->count == FT_PEER_QUEUE_LEN) {
		/* The newest packets are the ones a retransmitting sender still cares about. */
		ft_peer_queue_pop(q);
		dropped = 1;
	}
	slot = (q->head + q->count) % FT_PEER_QUEUE_LEN;
	memcpy(q->buf + (size_t)slot * q->slot_size, pkt, len);
	q->len[slot] = (uint32_t)len;
	q->count++;
	return dropped;
}

const uint8_t *ft_peer_queue_peek(const struct ft_peer_queue *q, size_t *len)
{
	if (!q->count)
		return NULL;
	*len = q->len[q->head];
	return q->buf + (size_t)q->head * q->slot_size;
}

void ft_peer_queue_pop(struct ft_peer_queue *q)
{
	if (!q->count)
		return;
	q->head = (q->head + 1) % FT_PEER_QUEUE_LEN;
	q->count--;
}

uint32_t ft_peer_queue_purge(struct ft_peer_queue *q)
{
	uint32_t n = q->count;

	q->head = 0;
	q->count = 0;
	return n;
}
