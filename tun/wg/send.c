// SPDX-License-Identifier: MIT
/*
 * The send side of the protocol device: what leaves through the send callback (initiations,
 * data, keepalives, packets that waited for a session), the send path from the TUN, and the
 * actions of the timers (listed in timers.c).
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>
#include <sodium.h>

#include "stats/ipview.h"
#include "tun/wg/allowedips.h"
#include "tun/wg/cookie.h"
#include "tun/wg/key.h"
#include "tun/wg/noise.h"
#include "tun/wg/proto_internal.h"

void ft_proto_peer_count_sent(struct ft_proto *p, struct ft_peer *peer, size_t len)
{
	(void)p;
	peer->tx_bytes += len;
}

/* ---- output through the callback: the device's one way out (proto.h) ---- */

static void output_datagram(struct ft_proto *p, struct ft_peer *peer, const uint8_t *msg,
			    size_t len, const struct sockaddr *dst, const uint8_t *inner,
			    size_t inner_len, bool in_place)
{
	const struct ft_proto_datagram d = {
		.peer = peer,
		.msg = msg,
		.len = len,
		.dst = dst,
		.inner = inner,
		.inner_len = inner_len,
		.in_place = in_place,
	};

	p->cfg.send(p->cfg.send_arg, &d);
}

void ft_proto_output(struct ft_proto *p, struct ft_peer *peer, const uint8_t *msg, size_t len,
		     const struct sockaddr *dst)
{
	output_datagram(p, peer, msg, len, dst ? dst : (const struct sockaddr *)&peer->endpoint,
			NULL, 0, false);
}

/* A data message of the device's own (inner: the packet it carries; NULL for a keepalive). */
static void output(struct ft_proto *p, struct ft_peer *peer, const uint8_t *msg, size_t len,
		   const uint8_t *inner, size_t inner_len)
{
	output_datagram(p, peer, msg, len, (const struct sockaddr *)&peer->endpoint, inner,
			inner_len, false);
}

void ft_proto_send_initiation(struct ft_proto *p, struct ft_peer *peer, uint64_t now_ns,
			      bool is_retry)
{
	uint8_t msg[FT_WIRE_INITIATION_LEN];
	uint32_t idx;
	int err;

	if (!is_retry)
		peer->timers.handshake_attempts = 0;
	/* Never more than one initiation per REKEY_TIMEOUT, whatever asks for it. */
	if (peer->sent_initiation && now_ns - peer->last_initiation_ns < FT_REKEY_TIMEOUT_NS)
		return;
	if (!ft_peer_has_endpoint(peer))
		return;
	idx = ft_index_insert(p->index, &peer->hs_entry, ft_proto_random_index, p);
	err = ft_noise_create_initiation(peer->hs, msg, idx);
	if (err) {
		ft_index_remove(p->index, &peer->hs_entry);
		ft_proto_count(p, ft_proto_noise_reason(err));
		return;
	}
	ft_cookie_maker_add_macs(&peer->cookie, msg, sizeof(msg), now_ns);
	peer->last_initiation_ns = now_ns;
	peer->sent_initiation = true;
	ft_proto_count(p, FT_PROTO_handshake_initiated);
	ft_timers_any_authenticated_packet_traversal(&peer->timers, now_ns);
	ft_timers_any_authenticated_packet_sent(&peer->timers);
	ft_timers_handshake_initiated(&peer->timers, now_ns, ft_proto_jitter(p));
	memcpy(peer->last_initiation, msg, sizeof(msg));
	ft_proto_output(p, peer, msg, sizeof(msg), NULL);
}

static bool can_send(const struct ft_peer *peer, uint64_t now_ns)
{
	const struct ft_keypair *kp = ft_peer_current_keypair(peer);

	return ft_keypair_fresh(kp, now_ns, FT_REJECT_AFTER_TIME_NS) &&
	       kp->send_counter < FT_REJECT_AFTER_MESSAGES && ft_peer_has_endpoint(peer);
}

/* After sending with the current keypair: time for the initiator to rekey? */
static void keep_key_fresh_send(struct ft_proto *p, struct ft_peer *peer, uint64_t now_ns)
{
	const struct ft_keypair *kp = ft_peer_current_keypair(peer);

	if (kp && kp->in_use &&
	    (kp->send_counter > FT_REKEY_AFTER_MESSAGES ||
	     (kp->initiator && now_ns - kp->birth_ns >= FT_REKEY_AFTER_TIME_NS)))
		ft_proto_send_initiation(p, peer, now_ns, false);
}

/*
 * Encrypts the packet at buf + 16 with the current keypair (job: leaves the AEAD to it) and
 * updates the timers. The caller checked can_send(). 0 or the error of ft_keypair_encrypt().
 */
static int encrypt(struct ft_proto *p, struct ft_peer *peer, uint8_t *buf, size_t len, size_t cap,
		   uint64_t now_ns, size_t *out_len, struct ft_aead_job *job)
{
	int err = ft_keypair_encrypt_job(ft_peer_current_keypair(peer), buf, len, cap, p->pad_mtu,
					 now_ns, out_len, job);

	if (err)
		return err;
	/* The jitter (a getrandom call) only when the timer is not armed yet: not per packet. */
	if (len && !ft_timers_armed(&peer->timers, FT_TIMER_NEW_HANDSHAKE))
		ft_timers_data_sent(&peer->timers, now_ns, ft_proto_jitter(p));
	ft_timers_any_authenticated_packet_sent(&peer->timers);
	ft_timers_any_authenticated_packet_traversal(&peer->timers, now_ns);
	return 0;
}

/* Sends what waited for a session, or a keepalive when nothing did; false: no session. */
bool ft_proto_flush_queue(struct ft_proto *p, struct ft_peer *peer, uint64_t now_ns,
			  bool keepalive_if_empty)
{
	const uint8_t *pkt;
	size_t len, out_len;
	bool sent = false;

	if (!can_send(peer, now_ns))
		return false;
	while ((pkt = ft_peer_queue_peek(&peer->queue, &len))) {
		memcpy(p->scratch + FT_WIRE_TRANSPORT_HEADER_LEN, pkt, len);
		if (encrypt(p, peer, p->scratch, len, p->scratch_len, now_ns, &out_len, NULL) !=
		    0) {
			ft_proto_count(p, FT_PROTO_queue_dropped);
		} else {
			/* The plaintext stays in its queue slot until the pop, for the caller. */
			output(p, peer, p->scratch, out_len, pkt, len);
			sent = true;
		}
		ft_peer_queue_pop(&peer->queue);
	}
	if (!sent && keepalive_if_empty &&
	    encrypt(p, peer, p->scratch, 0, p->scratch_len, now_ns, &out_len, NULL) == 0) {
		output(p, peer, p->scratch, out_len, NULL, 0);
		sent = true;
	}
	if (sent)
		keep_key_fresh_send(p, peer, now_ns);
	return true;
}

void ft_proto_send_keepalive(struct ft_proto *p, struct ft_peer *peer, uint64_t now_ns)
{
	if (!ft_proto_flush_queue(p, peer, now_ns, true))
		ft_proto_send_initiation(p, peer, now_ns, false);
}

void ft_proto_peer_initiate(struct ft_proto *p, struct ft_peer *peer, uint64_t now_ns)
{
	/*
	 * An explicit request (the underlay link came back) overrides the one-per-REKEY_TIMEOUT
	 * rule: the initiation that rule waits for was most likely lost with the link. It runs on
	 * link events only, and the receiver limits initiation floods on its side.
	 */
	peer->sent_initiation = false;
	ft_proto_send_initiation(p, peer, now_ns, false);
}

int ft_proto_peer_resend_initiation(struct ft_proto *p, struct ft_peer *peer, uint64_t now_ns)
{
	/*
	 * A copy, not a new initiation: the responder answers whichever copy reaches it first
	 * (a later one fails its timestamp check), and that answer still matches our state. A
	 * new initiation would replace the state the answer to the first one needs.
	 */
	if (!peer->sent_initiation || peer->hs->state != FT_HANDSHAKE_CREATED_INITIATION ||
	    now_ns - peer->last_initiation_ns >= FT_REKEY_TIMEOUT_NS || !ft_peer_has_endpoint(peer))
		return -ENOENT;
	/* A cookie reply may have come since the first copy: mac2 uses it then. */
	ft_cookie_maker_add_macs(&peer->cookie, peer->last_initiation,
				 sizeof(peer->last_initiation), now_ns);
	ft_proto_output(p, peer, peer->last_initiation, sizeof(peer->last_initiation), NULL);
	return 0;
}

/* ---- send ---- */

enum ft_proto_action ft_proto_send(struct ft_proto *p, uint8_t *buf, size_t len, size_t cap,
				   uint64_t now_ns, struct ft_proto_result *res)
{
	return ft_proto_send_job(p, buf, len, cap, now_ns, res, NULL);
}

enum ft_proto_action ft_proto_send_job(struct ft_proto *p, uint8_t *buf, size_t len, size_t cap,
				       uint64_t now_ns, struct ft_proto_result *res,
				       struct ft_aead_job *job)
{
	uint8_t *pkt = buf + FT_PROTO_HEADROOM;
	struct ft_ipview ip;
	struct ft_peer *peer;
	size_t out_len;
	int err, q;

	memset(res, 0, sizeof(*res));
	if (job)
		job->payload = NULL;
	if (cap < FT_PROTO_HEADROOM || len > cap - FT_PROTO_HEADROOM)
		return ft_proto_drop(p, res, FT_PROTO_no_room);
	if (ft_ipview_parse(&ip, pkt, len) != FT_PACKET_OK)
		return ft_proto_drop(p, res, FT_PROTO_bad_packet);
	peer = ft_allowedips_lookup(p->allowedips, ip.family, ip.dst);
	if (!peer)
		return ft_proto_drop(p, res, FT_PROTO_no_peer);
	res->peer = peer;
	if (!ft_peer_has_endpoint(peer))
		return ft_proto_drop(p, res, FT_PROTO_no_endpoint);
	if (can_send(peer, now_ns)) {
		err = encrypt(p, peer, buf, len, cap, now_ns, &out_len, job);
		if (err == -ENOBUFS)
			return ft_proto_drop(p, res, FT_PROTO_no_room);
		if (err == 0) {
			/* The data first, then a rekey it may call for, as the kernel's send.c. */
			output_datagram(p, peer, buf, out_len,
					(const struct sockaddr *)&peer->endpoint, NULL, len, true);
			keep_key_fresh_send(p, peer, now_ns);
			res->action = FT_PROTO_SENT;
			return FT_PROTO_SENT;
		}
		/* The keypair just ran out: wait for a new one like any packet without. */
	}
	q = ft_peer_queue_push(&peer->queue, pkt, len);
	if (q < 0) {
		/* Out of memory for the queue's block: the packet is lost, the session still due. */
		if (q == -ENOMEM) {
			ft_proto_send_initiation(p, peer, now_ns, false);
			return ft_proto_drop(p, res, FT_PROTO_no_memory);
		}
		return ft_proto_drop(p, res, FT_PROTO_queue_dropped);
	}
	if (q > 0)
		ft_proto_count(p, FT_PROTO_queue_dropped);
	ft_proto_send_initiation(p, peer, now_ns, false);
	res->action = FT_PROTO_QUEUED;
	return FT_PROTO_QUEUED;
}

/* ---- timers ---- */

static void peer_tick(struct ft_proto *p, struct ft_peer *peer, uint64_t now_ns)
{
	unsigned int due = ft_timers_expired(&peer->timers, now_ns);
	struct ft_timers *t = &peer->timers;

	if (due & 1u << FT_TIMER_RETRANSMIT_HANDSHAKE) {
		if (t->handshake_attempts > FT_TIMERS_MAX_HANDSHAKES) {
			/* REKEY_ATTEMPT_TIME without an answer: stop trying until new traffic. */
			ft_proto_count(p, FT_PROTO_handshake_given_up);
			ft_timers_disarm(t, FT_TIMER_SEND_KEEPALIVE);
			p->counters.queue_dropped += ft_peer_queue_purge(&peer->queue);
			ft_noise_handshake_clear(peer->hs);
			ft_index_remove(p->index, &peer->hs_entry);
			if (!ft_timers_armed(t, FT_TIMER_ZERO_KEY_MATERIAL))
				ft_timers_session_derived(t, now_ns);
		} else {
			t->handshake_attempts++;
			ft_proto_send_initiation(p, peer, now_ns, true);
		}
	}
	if (due & 1u << FT_TIMER_SEND_KEEPALIVE) {
		ft_proto_send_keepalive(p, peer, now_ns);
		if (t->need_another_keepalive) {
			t->need_another_keepalive = false;
			ft_timers_arm(t, FT_TIMER_SEND_KEEPALIVE, now_ns + FT_KEEPALIVE_TIMEOUT_NS);
		}
	}
	if (due & 1u << FT_TIMER_NEW_HANDSHAKE)
		ft_proto_send_initiation(p, peer, now_ns, false);
	if (due & 1u << FT_TIMER_ZERO_KEY_MATERIAL)
		ft_proto_drop_sessions(p, peer);
	if (due & 1u << FT_TIMER_PERSISTENT_KEEPALIVE && t->persistent_keepalive_s)
		ft_proto_send_keepalive(p, peer, now_ns);
}

uint64_t ft_proto_tick(struct ft_proto *p, uint64_t now_ns)
{
	struct ft_timers *t;

	/*
	 * Only the peers whose key is due, earliest first, each once: a key may be early (a timer
	 * disarmed since), then the peer has nothing due and its key is settled to its real next
	 * deadline. What a peer's tick arms on another peer lowers that one's key at once.
	 */
	while ((t = ft_timer_heap_due(&p->timer_heap, now_ns))) {
		struct ft_peer *peer =
			(struct ft_peer *)(void *)((uint8_t *)t - offsetof(struct ft_peer, timers));

		peer_tick(p, peer, now_ns);
		ft_timer_heap_settle(t, now_ns);
		if (p->cfg.ticked)
			p->cfg.ticked(p->cfg.send_arg, peer);
	}
	return ft_timer_heap_next(&p->timer_heap);
}

uint64_t ft_proto_next_deadline(const struct ft_proto *p)
{
	/* O(1) after every batch: a bound that may be early (a disarmed timer), never late. */
	return ft_timer_heap_next(&p->timer_heap);
}
