// SPDX-License-Identifier: MIT
/*
 * The peers of peer-swarm: keys from the seed, handshakes through the noise and cookie code of
 * tun/, sessions, the inner packets, and what each received datagram means.
 *
 * A peer's life:
 *   new       never sent an initiation; the pump takes peers in order (next_new), in turn
 *             with the peers that wait to resend
 *   waiting   an initiation in flight, in a slot; ends with a response (a session), a cookie
 *             reply (the cookie is stored and the peer queued again after --cookie-delay) or
 *             the timeout (queued again at once)
 *   session   cur holds keys: a keepalive confirms them to the hub at once, then data.
 *             After REKEY_AFTER_TIME the peer queues itself for a new handshake and sends on
 *             the old session until the new one is derived; prev keeps the old receiving key
 *             for the hub's packets in flight.
 *
 * Slots: the noise code keeps each handshake in guarded memory (sodium_malloc, a few pages and
 * a locked page each), so 100,000 of them would exhaust the process's mappings. The swarm has
 * at most --slots handshakes in flight; a slot is bound to one peer's key at a time. With K at
 * most --slots every peer has its own slot, bound once at start; otherwise binding costs two
 * X25519 operations per handshake on the swarm's side.
 *
 * Transport data is encrypted with the primitives of tun/wg/crypto.h in the layout of tun/wg/wire.h,
 * not with struct ft_keypair, whose 8,192-bit replay window would cost 1 KiB per peer: the
 * swarm keeps a 64-message window, enough for a hub that answers in order.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tests/bench/swarm.h"
#include "tun/wg/crypto.h"
#include "tun/net/csum.h"
#include "tun/wg/key.h"

enum {
	IPV4_HDR = 20,
	ICMP_HDR = 8,
	UDP_HDR = 8,
	PROTO_ICMP = 1,
	PROTO_UDP = 17,
	ICMP_ECHO_REPLY = 0,
	ICMP_ECHO_REQUEST = 8,
	UDP_SOURCE_PORT = 40000,
	STAMP_LEN = 8, /* the send time in the payload, for the round-trip time */
};

static const uint32_t peer_mask = SW_MAX_PEERS - 1;

/* ---- keys ------------------------------------------------------------------------------- */

static void derive(const struct sw *s, const char label[4], uint32_t i,
		   uint8_t out[FT_WIRE_KEY_LEN])
{
	uint8_t in[8];

	memcpy(in, label, 4);
	ft_wire_store_le32(in + 4, i);
	ft_crypto_keyed_hash(out, FT_WIRE_KEY_LEN, s->seed_key, FT_WIRE_KEY_LEN, in, sizeof(in));
}

void sw_peer_private(const struct sw *s, uint32_t i, uint8_t out[FT_WIRE_KEY_LEN])
{
	derive(s, "priv", s->o.first + i, out);
	ft_key_clamp(out);
}

void sw_peer_psk(const struct sw *s, uint32_t i, uint8_t out[FT_WIRE_KEY_LEN])
{
	derive(s, "psk ", s->o.first + i, out);
}

static void ipv4_string(char out[16], uint32_t a)
{
	snprintf(out, 16, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
}

int sw_emit_config(const struct sw *s)
{
	uint8_t priv[FT_WIRE_KEY_LEN], pub[FT_WIRE_KEY_LEN], psk[FT_WIRE_KEY_LEN];
	char b64[FT_KEY_B64_LEN + 1], ip[16];

	for (uint32_t i = 0; i < s->o.peers; i++) {
		sw_peer_private(s, i, priv);
		if (ft_key_public(pub, priv) < 0) {
			fprintf(stderr,
				"peer-swarm: peer %u: the seed gives a key with no public key\n",
				i);
			return -EINVAL;
		}
		ft_key_to_base64(b64, pub);
		ipv4_string(ip, s->o.overlay + i);
		printf("\n[Peer]\nPublicKey = %s\nAllowedIPs = %s/32\n", b64, ip);
		if (s->o.psk) {
			sw_peer_psk(s, i, psk);
			ft_key_to_base64(b64, psk);
			printf("PresharedKey = %s\n", b64);
		}
	}
	sodium_memzero(priv, sizeof(priv));
	sodium_memzero(psk, sizeof(psk));
	sodium_memzero(b64, sizeof(b64));
	return fflush(stdout) == 0 ? 0 : -errno;
}

/* ---- endpoints, queues, slots ----------------------------------------------------------- */

uint32_t sw_peer_socket(const struct sw *s, uint32_t i)
{
	uint32_t naddr = s->o.src_count ? s->o.src_count : 1;

	return (i % s->endpoints) / naddr;
}

uint32_t sw_peer_address(const struct sw *s, uint32_t i)
{
	if (!s->o.src_count)
		return 0;
	return s->o.src_base + (i % s->endpoints) % s->o.src_count;
}

static int fifo_init(struct sw_fifo *f, uint32_t cap)
{
	f->peer = calloc(cap, sizeof(*f->peer));
	f->due = calloc(cap, sizeof(*f->due));
	f->cap = cap;
	f->head = f->len = 0;
	return f->peer && f->due ? 0 : -ENOMEM;
}

static void fifo_free(struct sw_fifo *f)
{
	free(f->peer);
	free(f->due);
}

bool sw_fifo_push(struct sw_fifo *f, uint32_t peer, uint64_t due)
{
	uint32_t at;

	if (f->len == f->cap)
		return false;
	at = (f->head + f->len++) % f->cap;
	f->peer[at] = peer;
	f->due[at] = due;
	return true;
}

/* The first peer of f if it is due by now. */
static bool fifo_pop_due(struct sw_fifo *f, uint64_t now, uint32_t *peer)
{
	if (f->len == 0 || f->due[f->head] > now)
		return false;
	*peer = f->peer[f->head];
	f->head = (f->head + 1) % f->cap;
	f->len--;
	return true;
}

/* Puts slot sl's identity on peer i's key. 0 or -errno. */
static int slot_bind(struct sw *s, struct sw_slot *sl, uint32_t i)
{
	uint8_t priv[FT_WIRE_KEY_LEN], psk[FT_WIRE_KEY_LEN];
	int rc;

	sw_peer_private(s, i, priv);
	rc = ft_noise_identity_set_private(&sl->id, priv);
	sodium_memzero(priv, sizeof(priv));
	if (rc < 0)
		return rc;
	ft_noise_handshake_reset_static(sl->hs);
	if (s->o.psk) {
		sw_peer_psk(s, i, psk);
		ft_noise_handshake_set_psk(sl->hs, psk);
		sodium_memzero(psk, sizeof(psk));
	}
	sl->bound = (int32_t)i;
	return 0;
}

int sw_peers_init(struct sw *s)
{
	uint32_t k = s->o.peers;
	int rc;

	s->peers = calloc(k, sizeof(*s->peers));
	s->nslots = k < s->o.slots ? k : s->o.slots;
	s->slots = calloc(s->nslots, sizeof(*s->slots));
	s->free_slots = calloc(s->nslots, sizeof(*s->free_slots));
	if (!s->peers || !s->slots || !s->free_slots)
		return -ENOMEM;
	if (fifo_init(&s->q_timeout, k) < 0 || fifo_init(&s->q_cookie, k) < 0 ||
	    fifo_init(&s->q_rekey, k) < 0)
		return -ENOMEM;
	for (uint32_t i = 0; i < k; i++) {
		struct sw_peer *p = &s->peers[i];

		ft_cookie_maker_init(&p->cookie, s->o.hub_key);
		p->slot = -1;
	}
	for (uint32_t j = 0; j < s->nslots; j++) {
		struct sw_slot *sl = &s->slots[j];

		sl->bound = sl->peer = -1;
		rc = ft_noise_identity_init(&sl->id, NULL);
		if (rc < 0)
			return rc;
		sl->hs = ft_noise_handshake_create(&sl->id, s->o.hub_key, NULL, NULL);
		if (!sl->hs)
			return -ENOMEM;
		ft_cookie_checker_init(&sl->checker, &sl->id);
		s->free_slots[s->nfree++] = (int32_t)(s->nslots - 1 - j);
		/* One slot per peer: bind it now, before anything is timed. */
		if (k <= s->nslots && (rc = slot_bind(s, sl, j)) < 0)
			return rc;
	}
	return 0;
}

void sw_peers_free(struct sw *s)
{
	if (s->slots)
		for (uint32_t j = 0; j < s->nslots; j++) {
			ft_cookie_checker_clear(&s->slots[j].checker);
			ft_noise_handshake_destroy(s->slots[j].hs);
			ft_noise_identity_clear(&s->slots[j].id);
		}
	if (s->peers) {
		sodium_memzero(s->peers, (size_t)s->o.peers * sizeof(*s->peers));
		free(s->peers);
	}
	free(s->slots);
	free(s->free_slots);
	fifo_free(&s->q_timeout);
	fifo_free(&s->q_cookie);
	fifo_free(&s->q_rekey);
}

/* ---- handshakes ------------------------------------------------------------------------- */

static int32_t slot_take(struct sw *s, uint32_t i)
{
	if (s->o.peers <= s->nslots)
		return (int32_t)i;
	return s->nfree ? s->free_slots[--s->nfree] : -1;
}

static void slot_release(struct sw *s, struct sw_peer *p)
{
	if (p->slot < 0)
		return;
	s->slots[p->slot].peer = -1;
	if (s->o.peers > s->nslots)
		s->free_slots[s->nfree++] = p->slot;
	p->slot = -1;
	p->waiting = false;
}

static bool slot_available(const struct sw *s)
{
	return s->o.peers <= s->nslots || s->nfree > 0;
}

/*
 * The next peer due for an initiation: new peers and resends (after a timeout, a cookie, for
 * a rekey) in turn, so that neither starves the other: peers the hub never answers would
 * otherwise keep the rest from their first initiation, or a long first pass keep the peers
 * that got a cookie from their second.
 */
static bool next_due(struct sw *s, uint64_t now, uint32_t *i)
{
	bool new_first = (s->picks++ & 1) && s->next_new < s->o.peers;

	if (!new_first &&
	    (fifo_pop_due(&s->q_timeout, now, i) || fifo_pop_due(&s->q_cookie, now, i) ||
	     fifo_pop_due(&s->q_rekey, now, i))) {
		s->peers[*i].queued = false;
		return true;
	}
	if (s->next_new < s->o.peers) {
		*i = s->next_new++;
		return true;
	}
	return false;
}

static int send_initiation(struct sw *s, uint32_t i, uint64_t now)
{
	struct sw_peer *p = &s->peers[i];
	int32_t slot = slot_take(s, i);
	struct sw_slot *sl = &s->slots[slot];
	uint8_t *buf;
	int rc;

	p->slot = slot;
	if (sl->bound != (int32_t)i && (rc = slot_bind(s, sl, i)) < 0)
		goto fail;
	/* Generation 0 never: index 0 of peer 0 would look unset in a capture. */
	p->gen = (uint16_t)(p->gen % ((1u << (32 - SW_PEER_BITS)) - 1) + 1);
	p->hs_index = i | (uint32_t)p->gen << SW_PEER_BITS;
	buf = sw_io_slot(s, i);
	rc = ft_noise_create_initiation(sl->hs, buf, p->hs_index);
	if (rc < 0) {
		rc = -EINVAL;
		goto fail;
	}
	ft_cookie_maker_add_macs(&p->cookie, buf, FT_WIRE_INITIATION_LEN, now);
	sw_io_commit(s, i, FT_WIRE_INITIATION_LEN, SW_KIND_INITIATION);
	p->waiting = true;
	sl->peer = (int32_t)i;
	sl->sent_ns = now;
	return 0;
fail:
	slot_release(s, p);
	return rc;
}

uint32_t sw_handshake_pump(struct sw *s, uint64_t now, uint32_t budget)
{
	uint32_t sent = 0, i;

	while (sent < budget) {
		if (!slot_available(s)) {
			s->g.no_slot_waits++;
			break;
		}
		if (!next_due(s, now, &i))
			break;
		if (s->peers[i].waiting)
			continue; /* a rekey queued while a handshake is in flight anyway */
		if (send_initiation(s, i, now) < 0) {
			fprintf(stderr, "peer-swarm: peer %u: cannot make an initiation\n", i);
			continue;
		}
		sent++;
	}
	return sent;
}

void sw_handshake_timeouts(struct sw *s, uint64_t now)
{
	uint64_t timeout = (uint64_t)(s->o.hs_timeout * 1e9);

	for (uint32_t j = 0; j < s->nslots; j++) {
		struct sw_slot *sl = &s->slots[j];
		struct sw_peer *p;

		if (sl->peer < 0 || now - sl->sent_ns < timeout)
			continue;
		p = &s->peers[sl->peer];
		p->n.timeouts++;
		slot_release(s, p);
		if (!p->queued && sw_fifo_push(&s->q_timeout, (uint32_t)(p - s->peers), now))
			p->queued = true;
	}
}

/* ---- transport -------------------------------------------------------------------------- */

/* Encrypts the len-byte inner packet at buf + 16 for session ss; the datagram's length. */
static size_t seal(struct sw_session *ss, uint8_t *buf, size_t len)
{
	size_t padded = ft_wire_padded_len(len, SW_MTU);
	uint8_t *payload = buf + FT_WIRE_TRANSPORT_HEADER_LEN;
	uint64_t counter = ss->send_counter++;

	memset(payload + len, 0, padded - len);
	memcpy(buf, (const uint8_t[4]){ FT_WIRE_TRANSPORT, 0, 0, 0 }, 4);
	ft_wire_store_le32(buf + FT_WIRE_DATA_OFF_RECEIVER, ss->remote_index);
	ft_wire_store_le64(buf + FT_WIRE_DATA_OFF_COUNTER, counter);
	ft_crypto_aead_encrypt_detached(payload, padded, payload + padded, NULL, 0, counter,
					ss->send_key);
	return FT_WIRE_TRANSPORT_HEADER_LEN + padded + FT_WIRE_TAG_LEN;
}

static void send_keepalive(struct sw *s, uint32_t i)
{
	uint8_t *buf = sw_io_slot(s, i);

	sw_io_commit(s, i, seal(&s->peers[i].cur, buf, 0), SW_KIND_KEEPALIVE);
}

static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	put_be16(p, (uint16_t)(v >> 16));
	put_be16(p + 2, (uint16_t)v);
}

static uint16_t get_be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)get_be16(p) << 16 | get_be16(p + 2);
}

/* The inner packet of peer i: an echo request or a UDP datagram of o.size bytes. */
static void build_inner(struct sw *s, uint32_t i, uint8_t *pkt, uint64_t now)
{
	struct sw_peer *p = &s->peers[i];
	uint32_t size = s->o.size;
	uint8_t *l4 = pkt + IPV4_HDR;
	uint16_t seq = p->icmp_seq++;

	pkt[0] = 0x45;
	pkt[1] = 0;
	put_be16(pkt + 2, (uint16_t)size);
	put_be16(pkt + 4, seq);
	put_be16(pkt + 6, 0x4000); /* DF */
	pkt[8] = 64;
	pkt[9] = s->o.mode == SW_MODE_ICMP ? PROTO_ICMP : PROTO_UDP;
	put_be16(pkt + 10, 0);
	put_be32(pkt + 12, s->o.overlay + i);
	put_be32(pkt + 16, s->o.hub_overlay);
	put_be16(pkt + 10, ft_csum(pkt, IPV4_HDR));

	memset(l4, 0xa5, size - IPV4_HDR);
	if (s->o.mode == SW_MODE_ICMP) {
		l4[0] = ICMP_ECHO_REQUEST;
		l4[1] = 0;
		put_be16(l4 + 2, 0);
		put_be16(l4 + 4, (uint16_t)i); /* identifier: the peer */
		put_be16(l4 + 6, seq);
		if (size >= IPV4_HDR + ICMP_HDR + STAMP_LEN)
			ft_wire_store_le64(l4 + ICMP_HDR, now);
		put_be16(l4 + 2, ft_csum(l4, size - IPV4_HDR));
	} else {
		put_be16(l4, UDP_SOURCE_PORT);
		put_be16(l4 + 2, s->o.udp_port);
		put_be16(l4 + 4, (uint16_t)(size - IPV4_HDR));
		uint32_t pseudo = ft_csum_pseudo_v4(pkt + 12, pkt + 16, PROTO_UDP, size - IPV4_HDR);

		put_be16(l4 + 6, 0);
		put_be16(l4 + 6, ft_csum_fold(ft_csum_partial(l4, size - IPV4_HDR, pseudo)));
	}
}

bool sw_data_send(struct sw *s, uint64_t now, uint32_t *cursor)
{
	if (s->established == 0)
		return false;
	for (uint32_t tries = 0; tries < s->o.peers; tries++) {
		uint32_t i = (*cursor)++ % s->o.peers;
		struct sw_peer *p = &s->peers[i];
		uint8_t *buf;
		size_t len;

		if (!p->cur.valid)
			continue;
		if (now - p->cur.birth_ns >= FT_REJECT_AFTER_TIME_NS) {
			s->g.expired_sessions++;
			continue;
		}
		if (now - p->cur.birth_ns >= FT_REKEY_AFTER_TIME_NS && !p->waiting && !p->queued &&
		    sw_fifo_push(&s->q_rekey, i, now))
			p->queued = true;
		buf = sw_io_slot(s, i);
		build_inner(s, i, buf + FT_WIRE_TRANSPORT_HEADER_LEN, now);
		len = seal(&p->cur, buf, s->o.size);
		sw_io_commit(s, i, len, SW_KIND_DATA);
		return true;
	}
	return false;
}

/* ---- receiving -------------------------------------------------------------------------- */

static struct sw_peer *peer_of(struct sw *s, uint32_t index, uint32_t *i)
{
	*i = index & peer_mask;
	if (*i >= s->o.peers) {
		s->g.rx_unknown_index++;
		return NULL;
	}
	return &s->peers[*i];
}

static void on_response(struct sw *s, const uint8_t *msg, size_t len, uint64_t now)
{
	uint32_t index = ft_wire_load_le32(msg + FT_WIRE_RESP_OFF_RECEIVER), i;
	struct sw_peer *p = peer_of(s, index, &i);
	struct ft_noise_session ns;
	struct sw_slot *sl;

	if (!p)
		return;
	/* The hub consumed an initiation of this peer, whether or not it is still wanted. */
	p->n.hs_answered++;
	if (!p->waiting || index != p->hs_index) {
		s->g.rx_stale_response++;
		return;
	}
	sl = &s->slots[p->slot];
	if (ft_cookie_checker_validate(&sl->checker, msg, len, NULL, 0, false, now) != 0 ||
	    ft_noise_consume_response(&sl->id, msg, len, sl->hs) != 0 ||
	    ft_noise_begin_session(sl->hs, &ns) != 0) {
		s->g.rx_bad_response++;
		return;
	}
	slot_release(s, p);
	p->prev = p->cur;
	memset(&p->cur, 0, sizeof(p->cur));
	memcpy(p->cur.send_key, ns.send_key, FT_WIRE_KEY_LEN);
	memcpy(p->cur.recv_key, ns.recv_key, FT_WIRE_KEY_LEN);
	p->cur.local_index = ns.local_index;
	p->cur.remote_index = ns.remote_index;
	p->cur.birth_ns = now;
	p->cur.valid = true;
	sodium_memzero(&ns, sizeof(ns));
	p->n.hs_done++;
	if (!p->first_done_ns) {
		p->first_done_ns = now;
		s->established++;
	}
	/* The hub may not send on the new keys until we have: confirm them at once. */
	if (!s->o.no_confirm)
		send_keepalive(s, i);
}

static void on_cookie(struct sw *s, const uint8_t *msg, size_t len, uint64_t now)
{
	uint32_t index = ft_wire_load_le32(msg + FT_WIRE_COOKIE_OFF_RECEIVER), i;
	struct sw_peer *p = peer_of(s, index, &i);

	s->g.cookie_replies_rx++;
	if (!p)
		return;
	if (!p->waiting || index != p->hs_index ||
	    ft_cookie_maker_consume_reply(&p->cookie, msg, len, now) != 0) {
		s->g.rx_bad_cookie++;
		return;
	}
	p->n.cookies++;
	slot_release(s, p);
	if (!p->queued && sw_fifo_push(&s->q_cookie, i, now + (uint64_t)(s->o.cookie_delay * 1e9)))
		p->queued = true;
}

/* The 64-message window: true when counter is new (and marks it). */
static bool replay_ok(struct sw_session *ss, uint64_t counter)
{
	uint64_t d;

	if (counter >= ss->replay_next) {
		d = counter - ss->replay_next + 1;
		ss->replay_bits = d >= 64 ? 0 : ss->replay_bits << d;
		ss->replay_bits |= 1;
		ss->replay_next = counter + 1;
		return true;
	}
	d = ss->replay_next - 1 - counter;
	if (d >= 64 || (ss->replay_bits >> d & 1))
		return false;
	ss->replay_bits |= 1ULL << d;
	return true;
}

static void rtt_add(struct sw_global *g, uint64_t ns)
{
	unsigned int octave = ns ? 63 - (unsigned int)__builtin_clzll(ns) : 0;
	unsigned int step = octave >= 3 ? (unsigned int)(ns >> (octave - 3)) & 7 : 0;

	g->rtt_count++;
	g->rtt_sum_ns += ns;
	if (ns > g->rtt_max_ns)
		g->rtt_max_ns = ns;
	g->rtt_hist[octave * 8 + step]++;
}

/* The inner packet of a transport message for peer i (length checked here). */
static void on_inner(struct sw *s, uint32_t i, const uint8_t *pkt, size_t len, uint64_t now)
{
	struct sw_peer *p = &s->peers[i];
	size_t ihl, total;
	const uint8_t *l4;

	if (len < IPV4_HDR || pkt[0] >> 4 != 4 || (ihl = (size_t)(pkt[0] & 15) * 4) < IPV4_HDR ||
	    (total = get_be16(pkt + 2)) > len || total < ihl ||
	    get_be32(pkt + 16) != s->o.overlay + i) {
		s->g.rx_bad_inner++;
		return;
	}
	p->n.data_rx_pkts++;
	p->n.data_rx_bytes += total;
	l4 = pkt + ihl;
	if (pkt[9] == PROTO_ICMP && get_be32(pkt + 12) == s->o.hub_overlay &&
	    total - ihl >= ICMP_HDR && l4[0] == ICMP_ECHO_REPLY &&
	    get_be16(l4 + 4) == (uint16_t)i) {
		p->n.answered++;
		if (total - ihl >= ICMP_HDR + STAMP_LEN) {
			uint64_t sent = ft_wire_load_le64(l4 + ICMP_HDR);

			if (sent && sent <= now)
				rtt_add(&s->g, now - sent);
		}
	}
}

static void on_transport(struct sw *s, uint8_t *msg, size_t len, uint64_t now)
{
	uint32_t index = ft_wire_load_le32(msg + FT_WIRE_DATA_OFF_RECEIVER), i;
	struct sw_peer *p = peer_of(s, index, &i);
	uint64_t counter = ft_wire_load_le64(msg + FT_WIRE_DATA_OFF_COUNTER);
	size_t clen = len - FT_WIRE_TRANSPORT_MIN_LEN;
	uint8_t *payload = msg + FT_WIRE_TRANSPORT_HEADER_LEN;
	struct sw_session *ss;

	if (!p)
		return;
	if (p->cur.valid && p->cur.local_index == index)
		ss = &p->cur;
	else if (p->prev.valid && p->prev.local_index == index)
		ss = &p->prev;
	else {
		s->g.rx_unknown_index++;
		return;
	}
	if (ft_crypto_aead_decrypt_detached(payload, clen, payload + clen, NULL, 0, counter,
					    ss->recv_key) != 0) {
		s->g.rx_decrypt_failed++;
		return;
	}
	if (!replay_ok(ss, counter)) {
		s->g.rx_replayed++;
		return;
	}
	p->n.transport_rx_pkts++;
	p->n.transport_rx_bytes += len;
	if (clen == 0)
		p->n.keepalive_rx++;
	else
		on_inner(s, i, payload, clen, now);
}

void sw_receive(struct sw *s, uint8_t *msg, size_t len, const struct sockaddr_in *from,
		uint32_t dst, uint32_t sock, uint64_t now)
{
	int type = ft_wire_message_type(msg, len);
	uint32_t i;

	s->g.rx_datagrams++;
	if (from->sin_addr.s_addr != s->o.hub.sin_addr.s_addr ||
	    from->sin_port != s->o.hub.sin_port) {
		s->g.rx_foreign++;
		return;
	}
	if (type == 0) {
		s->g.rx_bad_type++;
		return;
	}
	/* The receiver index names the peer: it must have come to that peer's endpoint. */
	i = ft_wire_load_le32(msg + (type == FT_WIRE_RESPONSE ? FT_WIRE_RESP_OFF_RECEIVER : 4)) &
	    peer_mask;
	if (type != FT_WIRE_INITIATION && i < s->o.peers &&
	    (sw_peer_socket(s, i) != sock ||
	     (dst && sw_peer_address(s, i) && dst != sw_peer_address(s, i))))
		s->g.rx_misdelivered++;
	switch (type) {
	case FT_WIRE_RESPONSE:
		on_response(s, msg, len, now);
		break;
	case FT_WIRE_COOKIE_REPLY:
		on_cookie(s, msg, len, now);
		break;
	case FT_WIRE_TRANSPORT:
		on_transport(s, msg, len, now);
		break;
	default:
		/* The hub is the responder here; an initiation from it is not answered. */
		s->g.rx_from_hub_initiation++;
		break;
	}
}
