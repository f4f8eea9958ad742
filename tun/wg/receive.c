// SPDX-License-Identifier: MIT
/*
 * The receive side of the protocol device: message dispatch, the handshake messages, cookie
 * replies and transport data. Every length is checked before a byte is trusted; every
 * rejection bumps its own counter.
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
#include "tun/wg/ratelimit.h"

/*
 * A datagram from the peer that authenticated and that the device accepted: a handshake
 * message consumed, a keepalive, a data packet whose inner source is allowed. These are the
 * bytes wg show reports as received (as the kernel counts them); the caller's own per-peer
 * counts follow res->rx_counted so that both agree. Cookie replies, replays, failed tags and
 * refused inner packets are not counted.
 */
static void count_received(struct ft_peer *peer, size_t len, struct ft_proto_result *res)
{
	peer->rx_bytes += len;
	res->rx_counted = true;
}

static struct ft_handshake *lookup_handshake(void *arg, const uint8_t key[FT_WIRE_KEY_LEN])
{
	struct ft_peer *peer = ft_proto_peer_find(arg, key);

	return peer ? peer->hs : NULL;
}

/* Installs the session of a completed handshake; false when it could not be. */
static bool begin_session(struct ft_proto *p, struct ft_peer *peer, uint64_t now_ns)
{
	struct ft_noise_session s;
	struct ft_keypair_set *set = ft_peer_keypairs(peer); /* the first session's allocation */
	struct ft_keypair *kp = NULL;
	int err;

	if (!set) {
		ft_proto_count(p, FT_PROTO_no_memory);
		return false;
	}
	err = ft_noise_begin_session(peer->hs, &s);
	if (err == 0)
		kp = ft_keypair_set_install(set, p->index, &peer->hs_entry, peer, s.send_key,
					    s.recv_key, s.remote_index, s.initiator, now_ns);
	sodium_memzero(&s, sizeof(s));
	if (!kp) {
		ft_proto_count(p, err ? ft_proto_noise_reason(err) : FT_PROTO_wrong_state);
		return false;
	}
	ft_proto_count(p, FT_PROTO_handshake_completed);
	peer->last_handshake_ns = now_ns;
	p->cfg.wall_clock(&peer->last_handshake_wall);
	ft_timers_session_derived(&peer->timers, now_ns);
	return true;
}

/*
 * Under load: more than FT_PROTO_LOAD_INITIATIONS initiations arrived in a second, and for a
 * second after that (proto.h). The kernel's receive.c measures the same thing by the length
 * of its queue of handshake messages; this device has no queue, so it counts their rate.
 * Every initiation of the right size counts, before its mac1 is checked, as every message
 * in the kernel's queue does: a flood that fails mac1 is cheap per message, yet a flood.
 */
static bool under_load(struct ft_proto *p, uint64_t now_ns, bool initiation)
{
	if (now_ns - p->load_window_ns >= FT_NSEC_PER_SEC) {
		p->load_window_ns = now_ns;
		p->load_count = 0;
	}
	if (initiation && ++p->load_count > FT_PROTO_LOAD_INITIATIONS)
		p->under_load_until_ns = now_ns + FT_NSEC_PER_SEC;
	return now_ns < p->under_load_until_ns;
}

/*
 * mac1, and mac2 under load: 0, or the rejection (counted in res; under load without mac2
 * a cookie reply went to src).
 */
static int check_macs(struct ft_proto *p, const uint8_t *msg, size_t len,
		      const struct sockaddr *src, uint64_t now_ns, struct ft_proto_result *res)
{
	uint8_t source[FT_COOKIE_SOURCE_MAX], reply[FT_WIRE_COOKIE_REPLY_LEN];
	size_t source_len = ft_cookie_source(source, src);
	bool load = under_load(p, now_ns, msg[0] == FT_WIRE_INITIATION);
	int err =
		ft_cookie_checker_validate(&p->checker, msg, len, source, source_len, load, now_ns);

	/*
	 * Under load a valid mac2 proves the sender receives at its address; it still gets no
	 * more than its share of our DH work (ratelimit.h), as in the kernel's cookie.c.
	 */
	if (!err && load && !ft_ratelimit_allow(p->ratelimit, src, now_ns)) {
		ft_proto_drop(p, res, FT_PROTO_ratelimited);
		return -FT_NOISE_FLOOD;
	}
	if (!err)
		return 0;
	ft_proto_drop(p, res, ft_proto_noise_reason(err));
	if (err == -FT_NOISE_BAD_MAC2 && source_len &&
	    ft_cookie_checker_create_reply(&p->checker, reply, msg, len, source, source_len,
					   now_ns) == 0) {
		ft_proto_count(p, FT_PROTO_cookie_sent);
		ft_proto_output(p, NULL, reply, sizeof(reply), src);
	}
	return err;
}

static enum ft_proto_action receive_initiation(struct ft_proto *p, uint8_t *msg, size_t len,
					       const struct sockaddr *src, uint64_t now_ns,
					       struct ft_proto_result *res)
{
	uint8_t reply[FT_WIRE_RESPONSE_LEN];
	struct ft_handshake *hs;
	struct ft_peer *peer;
	uint32_t idx;
	int err;

	if (check_macs(p, msg, len, src, now_ns, res))
		return FT_PROTO_DROP;
	err = ft_noise_consume_initiation(&p->id, msg, len, lookup_handshake, p, now_ns, &hs);
	if (err)
		return ft_proto_drop(p, res, ft_proto_noise_reason(err));
	peer = hs->owner;
	res->peer = peer;
	ft_peer_roam(peer, src);
	count_received(peer, len, res);
	ft_timers_any_authenticated_packet_received(&peer->timers);
	ft_timers_any_authenticated_packet_traversal(&peer->timers, now_ns);

	idx = ft_index_insert(p->index, &peer->hs_entry, ft_proto_random_index, p);
	err = ft_noise_create_response(hs, reply, idx);
	if (err) {
		ft_index_remove(p->index, &peer->hs_entry);
		return ft_proto_drop(p, res, ft_proto_noise_reason(err));
	}
	ft_cookie_maker_add_macs(&peer->cookie, reply, sizeof(reply), now_ns);
	if (!begin_session(p, peer, now_ns)) {
		ft_index_remove(p->index, &peer->hs_entry);
		res->action = FT_PROTO_DROP;
		res->reason = FT_PROTO_wrong_state;
		return FT_PROTO_DROP;
	}
	ft_timers_any_authenticated_packet_sent(&peer->timers);
	/* To the endpoint, which is src now: the peer roamed to it above. */
	ft_proto_output(p, peer, reply, sizeof(reply), NULL);
	res->action = FT_PROTO_DONE;
	return FT_PROTO_DONE;
}

static enum ft_proto_action receive_response(struct ft_proto *p, uint8_t *msg, size_t len,
					     const struct sockaddr *src, uint64_t now_ns,
					     struct ft_proto_result *res)
{
	struct ft_index_entry *e;
	struct ft_peer *peer;
	int err;

	if (check_macs(p, msg, len, src, now_ns, res))
		return FT_PROTO_DROP;
	e = ft_index_lookup(p->index, ft_wire_load_le32(msg + FT_WIRE_RESP_OFF_RECEIVER),
			    FT_INDEX_HANDSHAKE);
	if (!e)
		return ft_proto_drop(p, res, FT_PROTO_unknown_index);
	peer = e->peer;
	res->peer = peer;
	err = ft_noise_consume_response(&p->id, msg, len, peer->hs);
	if (err)
		return ft_proto_drop(p, res, ft_proto_noise_reason(err));
	if (!begin_session(p, peer, now_ns)) {
		res->action = FT_PROTO_DROP;
		res->reason = FT_PROTO_wrong_state;
		return FT_PROTO_DROP;
	}
	ft_peer_roam(peer, src);
	count_received(peer, len, res);
	ft_timers_handshake_complete(&peer->timers);
	ft_timers_any_authenticated_packet_received(&peer->timers);
	ft_timers_any_authenticated_packet_traversal(&peer->timers, now_ns);
	/* The responder may not send until it hears from us on the new keypair: tell it. */
	ft_proto_flush_queue(p, peer, now_ns, true);
	res->action = FT_PROTO_DONE;
	return FT_PROTO_DONE;
}

static enum ft_proto_action receive_cookie(struct ft_proto *p, const uint8_t *msg, size_t len,
					   uint64_t now_ns, struct ft_proto_result *res)
{
	/* It may answer an initiation (handshake index) or a response (now a keypair's). */
	struct ft_index_entry *e =
		ft_index_lookup(p->index, ft_wire_load_le32(msg + FT_WIRE_COOKIE_OFF_RECEIVER),
				FT_INDEX_HANDSHAKE | FT_INDEX_KEYPAIR);
	int err;

	if (!e)
		return ft_proto_drop(p, res, FT_PROTO_unknown_index);
	res->peer = e->peer;
	err = ft_cookie_maker_consume_reply(&e->peer->cookie, msg, len, now_ns);
	if (err)
		return ft_proto_drop(p, res, ft_proto_noise_reason(err));
	/* No resend now: the retransmit timer's next initiation carries mac2. */
	ft_proto_count(p, FT_PROTO_cookie_received);
	res->action = FT_PROTO_DONE;
	return FT_PROTO_DONE;
}

/* The keypair a transport message names, or the drop (res) when none does. */
static struct ft_keypair *transport_keypair(struct ft_proto *p, const uint8_t *msg,
					    struct ft_proto_result *res)
{
	struct ft_index_entry *e = ft_index_lookup(
		p->index, ft_wire_load_le32(msg + FT_WIRE_DATA_OFF_RECEIVER), FT_INDEX_KEYPAIR);

	if (!e) {
		ft_proto_drop(p, res, FT_PROTO_unknown_index);
		return NULL;
	}
	res->peer = e->peer;
	return e->keypair;
}

/* A transport message after its AEAD (err: ft_keypair_decrypt's), at msg + 16 in plain. */
static enum ft_proto_action transport_accepted(struct ft_proto *p, struct ft_keypair *kp,
					       uint8_t *msg, size_t len, size_t plain_len, int err,
					       const struct sockaddr *src, uint64_t now_ns,
					       struct ft_proto_result *res)
{
	struct ft_peer *peer = res->peer;
	struct ft_keypair *cur;
	struct ft_ipview ip;
	uint8_t *inner = msg + FT_WIRE_TRANSPORT_HEADER_LEN;

	switch (err) {
	case 0:
		break;
	case -EKEYEXPIRED:
		return ft_proto_drop(p, res, FT_PROTO_key_expired);
	case -EALREADY:
		return ft_proto_drop(p, res, FT_PROTO_replayed);
	case -EBADMSG:
		return ft_proto_drop(p, res, FT_PROTO_decrypt_failed);
	default:
		return ft_proto_drop(p, res, FT_PROTO_truncated);
	}
	ft_peer_roam(peer, src);
	if (ft_keypair_set_received(peer->keypairs, p->index, kp)) {
		/* The initiator confirmed our (responder's) keypair: it is current now. */
		ft_timers_handshake_complete(&peer->timers);
		ft_proto_flush_queue(p, peer, now_ns, false);
	}
	/* Close to REJECT_AFTER_TIME on a session we initiated: rekey once, before it dies. */
	cur = peer->keypairs->current;
	if (cur && cur == kp && cur->initiator && !peer->timers.sent_lastminute_handshake &&
	    now_ns - cur->birth_ns >=
		    FT_REJECT_AFTER_TIME_NS - FT_KEEPALIVE_TIMEOUT_NS - FT_REKEY_TIMEOUT_NS) {
		peer->timers.sent_lastminute_handshake = true;
		ft_proto_send_initiation(p, peer, now_ns, false);
	}
	ft_timers_any_authenticated_packet_received(&peer->timers);
	ft_timers_any_authenticated_packet_traversal(&peer->timers, now_ns);
	if (plain_len == 0) {
		count_received(peer, len, res);
		res->action = FT_PROTO_KEEPALIVE;
		return FT_PROTO_KEEPALIVE;
	}
	ft_timers_data_received(&peer->timers, now_ns);
	if (ft_ipview_parse(&ip, inner, plain_len) != FT_PACKET_OK)
		return ft_proto_drop(p, res, FT_PROTO_bad_packet);
	if (ft_allowedips_lookup(p->allowedips, ip.family, ip.src) != peer)
		return ft_proto_drop(p, res, FT_PROTO_source_not_allowed);
	count_received(peer, len, res);
	res->action = FT_PROTO_PACKET;
	res->data = inner;
	res->len = ip.len;
	return FT_PROTO_PACKET;
}

static enum ft_proto_action receive_transport(struct ft_proto *p, uint8_t *msg, size_t len,
					      const struct sockaddr *src, uint64_t now_ns,
					      struct ft_proto_result *res)
{
	struct ft_keypair *kp = transport_keypair(p, msg, res);
	size_t plain_len = 0;
	int err;

	if (!kp)
		return FT_PROTO_DROP;
	err = ft_keypair_decrypt(kp, msg, len, now_ns, &plain_len);
	return transport_accepted(p, kp, msg, len, plain_len, err, src, now_ns, res);
}

enum ft_proto_action ft_proto_receive_job(struct ft_proto *p, uint8_t *msg, size_t len,
					  const struct sockaddr *src, uint64_t now_ns,
					  struct ft_proto_result *res, struct ft_aead_job *job)
{
	struct ft_keypair *kp;
	int err;

	job->payload = NULL;
	if (ft_wire_message_type(msg, len) != FT_WIRE_TRANSPORT)
		return ft_proto_receive(p, msg, len, src, now_ns, res);
	memset(res, 0, sizeof(*res));
	if (!(kp = transport_keypair(p, msg, res)))
		return FT_PROTO_DROP;
	err = ft_keypair_open_prepare(kp, msg, len, now_ns, job);
	if (err)
		return transport_accepted(p, kp, msg, len, 0, err, src, now_ns, res);
	res->action = FT_PROTO_OPEN;
	return FT_PROTO_OPEN;
}

enum ft_proto_action ft_proto_receive_finish(struct ft_proto *p, uint8_t *msg, size_t len,
					     const struct sockaddr *src, uint64_t now_ns,
					     struct ft_proto_result *res,
					     const struct ft_aead_job *job, int open_err)
{
	struct ft_index_entry *e = ft_index_lookup(
		p->index, ft_wire_load_le32(msg + FT_WIRE_DATA_OFF_RECEIVER), FT_INDEX_KEYPAIR);
	size_t plain_len = 0;
	int err;

	memset(res, 0, sizeof(*res));
	res->peer = job->peer;
	/*
	 * Its keypair may be gone since the job was made, and with it the set that held it
	 * (sessions dropped: a new private key): its index entry goes first, so an entry that
	 * still names the job's keypair says the memory is that keypair's set.
	 */
	if (!e || e->keypair != job->kp || e->peer != job->peer)
		return ft_proto_drop(p, res, FT_PROTO_key_expired);
	err = ft_keypair_open_finish(job, open_err, &plain_len);
	return transport_accepted(p, job->kp, msg, len, plain_len, err, src, now_ns, res);
}

enum ft_proto_action ft_proto_receive(struct ft_proto *p, uint8_t *msg, size_t len,
				      const struct sockaddr *src, uint64_t now_ns,
				      struct ft_proto_result *res)
{
	memset(res, 0, sizeof(*res));
	switch (ft_wire_message_type(msg, len)) {
	case FT_WIRE_INITIATION:
		return receive_initiation(p, msg, len, src, now_ns, res);
	case FT_WIRE_RESPONSE:
		return receive_response(p, msg, len, src, now_ns, res);
	case FT_WIRE_COOKIE_REPLY:
		return receive_cookie(p, msg, len, now_ns, res);
	case FT_WIRE_TRANSPORT:
		return receive_transport(p, msg, len, src, now_ns, res);
	default:
		return ft_proto_drop(p, res, FT_PROTO_truncated);
	}
}
