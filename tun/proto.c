// SPDX-License-Identifier: MIT
/*
 * The protocol device: message dispatch, the send path, and the actions of the timers
 * (listed in timers.c). Every length is checked before a byte is trusted; every rejection
 * bumps its own counter.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>
#include <sodium.h>

#include "tun/allowedips.h"
#include "tun/cookie.h"
#include "tun/key.h"
#include "tun/noise.h"
#include "tun/proto.h"

struct ft_proto {
	struct ft_proto_config cfg;
	struct ft_noise_identity id;
	struct ft_cookie_checker checker;
	struct ft_index_table *index;
	struct ft_allowedips *allowedips;
	struct ft_peer *first, *last;
	struct ft_proto_counters counters;
	/* Where queued packets and keepalives are encrypted before the callback sees them. */
	uint8_t *scratch;
	size_t scratch_len;
	/* The padding limit, the TUN MTU now (ft_proto_set_mtu); cfg.mtu sized the buffers. */
	size_t pad_mtu;
};

static const char *const counter_names[] = {
#define FT_PROTO_NAME(n) #n,
	FT_PROTO_COUNTERS(FT_PROTO_NAME)
#undef FT_PROTO_NAME
};

static const size_t counter_offsets[] = {
#define FT_PROTO_OFFSET(n) offsetof(struct ft_proto_counters, n),
	FT_PROTO_COUNTERS(FT_PROTO_OFFSET)
#undef FT_PROTO_OFFSET
};

/* The counter of each noise/cookie rejection code. */
static const enum ft_proto_reason noise_reasons[FT_NOISE_REJECT_COUNT] = {
	[0] = FT_PROTO_truncated,
	[FT_NOISE_TRUNCATED] = FT_PROTO_truncated,
	[FT_NOISE_BAD_MAC1] = FT_PROTO_bad_mac1,
	[FT_NOISE_BAD_MAC2] = FT_PROTO_bad_mac2,
	[FT_NOISE_DECRYPT_FAILED] = FT_PROTO_decrypt_failed,
	[FT_NOISE_UNKNOWN_PEER] = FT_PROTO_unknown_peer,
	[FT_NOISE_STALE_TIMESTAMP] = FT_PROTO_stale_timestamp,
	[FT_NOISE_FLOOD] = FT_PROTO_handshake_flood,
	[FT_NOISE_WRONG_STATE] = FT_PROTO_wrong_state,
	[FT_NOISE_UNKNOWN_INDEX] = FT_PROTO_unknown_index,
	[FT_NOISE_BAD_KEY] = FT_PROTO_bad_key,
	[FT_NOISE_NO_IDENTITY] = FT_PROTO_no_identity,
};

const char *ft_proto_counter_name(enum ft_proto_reason r)
{
	return (unsigned int)r < FT_PROTO_REASON_COUNT ? counter_names[r] : NULL;
}

uint64_t ft_proto_counter_value(const struct ft_proto_counters *c, enum ft_proto_reason r)
{
	uint64_t v;

	if ((unsigned int)r >= FT_PROTO_REASON_COUNT)
		return 0;
	memcpy(&v, (const char *)c + counter_offsets[r], sizeof(v));
	return v;
}

static void count(struct ft_proto *p, enum ft_proto_reason r)
{
	uint64_t v;

	memcpy(&v, (char *)&p->counters + counter_offsets[r], sizeof(v));
	v++;
	memcpy((char *)&p->counters + counter_offsets[r], &v, sizeof(v));
}

static enum ft_proto_action drop(struct ft_proto *p, struct ft_proto_result *res,
				 enum ft_proto_reason r)
{
	count(p, r);
	res->action = FT_PROTO_DROP;
	res->reason = r;
	return FT_PROTO_DROP;
}

static enum ft_proto_reason noise_reason(int err)
{
	unsigned int code = (unsigned int)(err < 0 ? -err : err);

	return code < FT_NOISE_REJECT_COUNT ? noise_reasons[code] : FT_PROTO_truncated;
}

static void random_bytes(struct ft_proto *p, void *buf, size_t len)
{
	p->cfg.random(buf, len);
}

static uint32_t random_index(void *arg)
{
	uint32_t v;

	random_bytes(arg, &v, sizeof(v));
	return v;
}

static uint64_t jitter(struct ft_proto *p)
{
	return random_index(p) % FT_REKEY_TIMEOUT_JITTER_MAX_NS;
}

static void default_wall_clock(struct timespec *ts)
{
	clock_gettime(CLOCK_REALTIME, ts);
}

static void default_random(void *buf, size_t len)
{
	randombytes_buf(buf, len);
}

/* ---- accounting ---- */

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

void ft_proto_peer_count_sent(struct ft_proto *p, struct ft_peer *peer, size_t len)
{
	(void)p;
	peer->tx_bytes += len;
}

/* ---- output through the callback ---- */

/* inner: the IP packet a data message carries (NULL for handshakes and keepalives). */
static void output(struct ft_proto *p, struct ft_peer *peer, const uint8_t *msg, size_t len,
		   const uint8_t *inner, size_t inner_len)
{
	p->cfg.send(p->cfg.send_arg, peer, msg, len, (const struct sockaddr *)&peer->endpoint,
		    inner, inner_len);
}

static void send_initiation(struct ft_proto *p, struct ft_peer *peer, uint64_t now_ns,
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
	idx = ft_index_insert(p->index, &peer->hs_entry, random_index, p);
	err = ft_noise_create_initiation(peer->hs, msg, idx);
	if (err) {
		ft_index_remove(p->index, &peer->hs_entry);
		count(p, noise_reason(err));
		return;
	}
	ft_cookie_maker_add_macs(&peer->cookie, msg, sizeof(msg), now_ns);
	peer->last_initiation_ns = now_ns;
	peer->sent_initiation = true;
	count(p, FT_PROTO_handshake_initiated);
	ft_timers_any_authenticated_packet_traversal(&peer->timers, now_ns);
	ft_timers_any_authenticated_packet_sent(&peer->timers);
	ft_timers_handshake_initiated(&peer->timers, now_ns, jitter(p));
	memcpy(peer->last_initiation, msg, sizeof(msg));
	output(p, peer, msg, sizeof(msg), NULL, 0);
}

static bool can_send(const struct ft_peer *peer, uint64_t now_ns)
{
	const struct ft_keypair *kp = peer->keypairs->current;

	return ft_keypair_fresh(kp, now_ns, FT_REJECT_AFTER_TIME_NS) &&
	       kp->send_counter < FT_REJECT_AFTER_MESSAGES && ft_peer_has_endpoint(peer);
}

/* After sending with the current keypair: time for the initiator to rekey? */
static void keep_key_fresh_send(struct ft_proto *p, struct ft_peer *peer, uint64_t now_ns)
{
	const struct ft_keypair *kp = peer->keypairs->current;

	if (kp && kp->in_use &&
	    (kp->send_counter > FT_REKEY_AFTER_MESSAGES ||
	     (kp->initiator && now_ns - kp->birth_ns >= FT_REKEY_AFTER_TIME_NS)))
		send_initiation(p, peer, now_ns, false);
}

/*
 * Encrypts the packet at buf + 16 with the current keypair and updates the timers. The
 * caller checked can_send(). 0 or the error of ft_keypair_encrypt().
 */
static int encrypt(struct ft_proto *p, struct ft_peer *peer, uint8_t *buf, size_t len, size_t cap,
		   uint64_t now_ns, size_t *out_len)
{
	int err = ft_keypair_encrypt(peer->keypairs->current, buf, len, cap, p->pad_mtu, now_ns,
				     out_len);

	if (err)
		return err;
	/* The jitter (a getrandom call) only when the timer is not armed yet: not per packet. */
	if (len && !ft_timers_armed(&peer->timers, FT_TIMER_NEW_HANDSHAKE))
		ft_timers_data_sent(&peer->timers, now_ns, jitter(p));
	ft_timers_any_authenticated_packet_sent(&peer->timers);
	ft_timers_any_authenticated_packet_traversal(&peer->timers, now_ns);
	return 0;
}

/* Sends what waited for a session, or a keepalive when nothing did; false: no session. */
static bool flush_queue(struct ft_proto *p, struct ft_peer *peer, uint64_t now_ns,
			bool keepalive_if_empty)
{
	const uint8_t *pkt;
	size_t len, out_len;
	bool sent = false;

	if (!can_send(peer, now_ns))
		return false;
	while ((pkt = ft_peer_queue_peek(&peer->queue, &len))) {
		memcpy(p->scratch + FT_WIRE_TRANSPORT_HEADER_LEN, pkt, len);
		if (encrypt(p, peer, p->scratch, len, p->scratch_len, now_ns, &out_len) != 0) {
			count(p, FT_PROTO_queue_dropped);
		} else {
			/* The plaintext stays in its queue slot until the pop, for the caller. */
			output(p, peer, p->scratch, out_len, pkt, len);
			sent = true;
		}
		ft_peer_queue_pop(&peer->queue);
	}
	if (!sent && keepalive_if_empty &&
	    encrypt(p, peer, p->scratch, 0, p->scratch_len, now_ns, &out_len) == 0) {
		output(p, peer, p->scratch, out_len, NULL, 0);
		sent = true;
	}
	if (sent)
		keep_key_fresh_send(p, peer, now_ns);
	return true;
}

static void send_keepalive(struct ft_proto *p, struct ft_peer *peer, uint64_t now_ns)
{
	if (!flush_queue(p, peer, now_ns, true))
		send_initiation(p, peer, now_ns, false);
}

/* ---- configuration ---- */

struct ft_proto *ft_proto_create(const struct ft_proto_config *cfg)
{
	struct ft_proto *p;

	assert(cfg->send);
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->cfg = *cfg;
	if (!p->cfg.mtu)
		p->cfg.mtu = FT_PROTO_DEFAULT_MTU;
	p->pad_mtu = p->cfg.mtu;
	if (!p->cfg.wall_clock)
		p->cfg.wall_clock = default_wall_clock;
	if (!p->cfg.random)
		p->cfg.random = default_random;
	p->scratch_len = FT_PROTO_HEADROOM + p->cfg.mtu + FT_PROTO_TAILROOM;
	p->scratch = malloc(p->scratch_len);
	p->index = ft_index_create();
	p->allowedips = ft_allowedips_create();
	if (!p->scratch || !p->index || !p->allowedips || ft_noise_identity_init(&p->id, NULL) != 0)
		goto err;
	p->id.wall_clock = p->cfg.wall_clock;
	p->id.random = p->cfg.random;
	ft_cookie_checker_init(&p->checker, &p->id);
	return p;
err:
	ft_allowedips_destroy(p->allowedips);
	ft_index_destroy(p->index);
	free(p->scratch);
	free(p);
	return NULL;
}

void ft_proto_destroy(struct ft_proto *p)
{
	if (!p)
		return;
	while (p->first)
		ft_proto_peer_remove(p, p->first);
	ft_cookie_checker_clear(&p->checker);
	ft_noise_identity_clear(&p->id);
	ft_allowedips_destroy(p->allowedips);
	ft_index_destroy(p->index);
	sodium_memzero(p->scratch, p->scratch_len);
	free(p->scratch);
	free(p);
}

static void drop_sessions(struct ft_proto *p, struct ft_peer *peer)
{
	ft_keypair_set_clear(peer->keypairs, p->index);
	ft_index_remove(p->index, &peer->hs_entry);
	ft_noise_handshake_clear(peer->hs);
}

/* Whether key (NULL: none) is the identity's own, compared in constant time, both clamped. */
static bool same_private_key(const struct ft_noise_identity *id, const uint8_t key[FT_WIRE_KEY_LEN])
{
	uint8_t k[FT_WIRE_KEY_LEN];
	bool same;

	if (!key || !id->private_key)
		return !key && !id->private_key;
	memcpy(k, key, sizeof(k));
	ft_key_clamp(k);
	same = sodium_memcmp(k, id->private_key, sizeof(k)) == 0;
	sodium_memzero(k, sizeof(k));
	return same;
}

int ft_proto_set_private_key(struct ft_proto *p, const uint8_t key[FT_WIRE_KEY_LEN])
{
	int err;

	/*
	 * wg syncconf and setconf send the key every time: the key we have already changes
	 * nothing, and the sessions stay (the kernel and wireguard-go skip it too).
	 */
	if (same_private_key(&p->id, key))
		return 0;
	err = ft_noise_identity_set_private(&p->id, key);
	if (err)
		return err;
	for (struct ft_peer *peer = p->first; peer; peer = peer->next) {
		ft_noise_handshake_precompute(peer->hs);
		drop_sessions(p, peer);
	}
	return 0;
}

bool ft_proto_public_key(const struct ft_proto *p, uint8_t out[FT_WIRE_KEY_LEN])
{
	if (!p->id.private_key)
		return false;
	memcpy(out, p->id.public_key, FT_WIRE_KEY_LEN);
	return true;
}

int ft_proto_peer_add(struct ft_proto *p, const struct ft_peer_config *cfg, struct ft_peer **out)
{
	struct ft_peer *peer;
	int err = -ENOMEM;

	if (ft_proto_peer_find(p, cfg->public_key))
		return -EEXIST;
	if (cfg->endpoint && cfg->endpoint->sa_family != AF_UNSPEC &&
	    !ft_peer_sockaddr_len(cfg->endpoint))
		return -EAFNOSUPPORT;
	peer = calloc(1, sizeof(*peer));
	if (!peer)
		return -ENOMEM;
	peer->proto = p;
	peer->ctx = cfg->ctx;
	memcpy(peer->public_key, cfg->public_key, FT_WIRE_KEY_LEN);
	peer->hs = ft_noise_handshake_create(&p->id, cfg->public_key, cfg->preshared_key, peer);
	peer->keypairs = sodium_malloc(sizeof(*peer->keypairs));
	if (!peer->hs || !peer->keypairs)
		goto err;
	ft_keypair_set_init(peer->keypairs);
	err = ft_peer_queue_init(&peer->queue, p->cfg.mtu);
	if (err)
		goto err;
	peer->hs_entry.kind = FT_INDEX_HANDSHAKE;
	peer->hs_entry.peer = peer;
	ft_cookie_maker_init(&peer->cookie, cfg->public_key);
	ft_timers_init(&peer->timers, cfg->persistent_keepalive_s);
	ft_peer_set_endpoint(peer, cfg->endpoint);
	peer->prev = p->last;
	if (p->last)
		p->last->next = peer;
	else
		p->first = peer;
	p->last = peer;
	*out = peer;
	return 0;
err:
	if (peer->keypairs)
		sodium_free(peer->keypairs);
	ft_noise_handshake_destroy(peer->hs);
	free(peer);
	return err;
}

void ft_proto_peer_remove(struct ft_proto *p, struct ft_peer *peer)
{
	ft_allowedips_remove_by_peer(p->allowedips, peer);
	drop_sessions(p, peer);
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
	sodium_free(peer->keypairs);
	ft_peer_queue_free(&peer->queue);
	free(peer);
}

struct ft_peer *ft_proto_peer_find(const struct ft_proto *p, const uint8_t key[FT_WIRE_KEY_LEN])
{
	/* A list: configuration and initiations only (see proto.h); a keyed hash at hub scale. */
	for (struct ft_peer *peer = p->first; peer; peer = peer->next)
		if (sodium_memcmp(peer->public_key, key, FT_WIRE_KEY_LEN) == 0)
			return peer;
	return NULL;
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
		send_keepalive(p, peer, now_ns);
}

int ft_proto_allowedip_add(struct ft_proto *p, struct ft_peer *peer, int family,
			   const uint8_t *addr, uint8_t cidr)
{
	return ft_allowedips_insert(p->allowedips, family, addr, cidr, peer);
}

int ft_proto_allowedip_remove(struct ft_proto *p, int family, const uint8_t *addr, uint8_t cidr)
{
	return ft_allowedips_remove(p->allowedips, family, addr, cidr);
}

const struct ft_allowedips *ft_proto_allowedips(const struct ft_proto *p)
{
	return p->allowedips;
}

void ft_proto_set_mtu(struct ft_proto *p, size_t mtu)
{
	p->pad_mtu = mtu ? mtu : p->cfg.mtu;
}

const struct ft_proto_counters *ft_proto_counters(const struct ft_proto *p)
{
	return &p->counters;
}

void ft_proto_peer_initiate(struct ft_proto *p, struct ft_peer *peer, uint64_t now_ns)
{
	/*
	 * An explicit request (the underlay link came back) overrides the one-per-REKEY_TIMEOUT
	 * rule: the initiation that rule waits for was most likely lost with the link. It runs on
	 * link events only, and the receiver limits initiation floods on its side.
	 */
	peer->sent_initiation = false;
	send_initiation(p, peer, now_ns, false);
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
	output(p, peer, peer->last_initiation, sizeof(peer->last_initiation), NULL, 0);
	return 0;
}

/* ---- receive ---- */

static struct ft_handshake *lookup_handshake(void *arg, const uint8_t key[FT_WIRE_KEY_LEN])
{
	struct ft_peer *peer = ft_proto_peer_find(arg, key);

	return peer ? peer->hs : NULL;
}

/* Installs the session of a completed handshake; false when it could not be. */
static bool begin_session(struct ft_proto *p, struct ft_peer *peer, uint64_t now_ns)
{
	struct ft_noise_session s;
	struct ft_keypair *kp = NULL;
	int err = ft_noise_begin_session(peer->hs, &s);

	if (err == 0)
		kp = ft_keypair_set_install(peer->keypairs, p->index, &peer->hs_entry, peer,
					    s.send_key, s.recv_key, s.remote_index, s.initiator,
					    now_ns);
	sodium_memzero(&s, sizeof(s));
	if (!kp) {
		count(p, err ? noise_reason(err) : FT_PROTO_wrong_state);
		return false;
	}
	count(p, FT_PROTO_handshake_completed);
	peer->last_handshake_ns = now_ns;
	p->cfg.wall_clock(&peer->last_handshake_wall);
	ft_timers_session_derived(&peer->timers, now_ns);
	return true;
}

/* mac1, and mac2 under load: 0, or the action already taken (drop or cookie reply). */
static int check_macs(struct ft_proto *p, const uint8_t *msg, size_t len,
		      const struct sockaddr *src, uint64_t now_ns, bool under_load, uint8_t *reply,
		      size_t reply_cap, struct ft_proto_result *res, enum ft_proto_action *action)
{
	uint8_t source[FT_COOKIE_SOURCE_MAX];
	size_t source_len = ft_cookie_source(source, src);
	int err = ft_cookie_checker_validate(&p->checker, msg, len, source, source_len, under_load,
					     now_ns);

	if (!err)
		return 0;
	*action = drop(p, res, noise_reason(err));
	if (err == -FT_NOISE_BAD_MAC2 && source_len && reply_cap >= FT_WIRE_COOKIE_REPLY_LEN &&
	    ft_cookie_checker_create_reply(&p->checker, reply, msg, len, source, source_len,
					   now_ns) == 0) {
		count(p, FT_PROTO_cookie_sent);
		res->action = *action = FT_PROTO_REPLY;
		res->data = reply;
		res->len = FT_WIRE_COOKIE_REPLY_LEN;
		res->dst = src;
	}
	return err;
}

static enum ft_proto_action receive_initiation(struct ft_proto *p, uint8_t *msg, size_t len,
					       const struct sockaddr *src, uint64_t now_ns,
					       bool under_load, uint8_t *reply, size_t reply_cap,
					       struct ft_proto_result *res)
{
	enum ft_proto_action action;
	struct ft_handshake *hs;
	struct ft_peer *peer;
	uint32_t idx;
	int err;

	if (check_macs(p, msg, len, src, now_ns, under_load, reply, reply_cap, res, &action))
		return action;
	if (reply_cap < FT_WIRE_RESPONSE_LEN)
		return drop(p, res, FT_PROTO_no_room);
	err = ft_noise_consume_initiation(&p->id, msg, len, lookup_handshake, p, now_ns, &hs);
	if (err)
		return drop(p, res, noise_reason(err));
	peer = hs->owner;
	res->peer = peer;
	ft_peer_roam(peer, src);
	count_received(peer, len, res);
	ft_timers_any_authenticated_packet_received(&peer->timers);
	ft_timers_any_authenticated_packet_traversal(&peer->timers, now_ns);

	idx = ft_index_insert(p->index, &peer->hs_entry, random_index, p);
	err = ft_noise_create_response(hs, reply, idx);
	if (err) {
		ft_index_remove(p->index, &peer->hs_entry);
		return drop(p, res, noise_reason(err));
	}
	ft_cookie_maker_add_macs(&peer->cookie, reply, FT_WIRE_RESPONSE_LEN, now_ns);
	if (!begin_session(p, peer, now_ns)) {
		ft_index_remove(p->index, &peer->hs_entry);
		res->action = FT_PROTO_DROP;
		res->reason = FT_PROTO_wrong_state;
		return FT_PROTO_DROP;
	}
	ft_timers_any_authenticated_packet_sent(&peer->timers);
	res->action = FT_PROTO_REPLY;
	res->data = reply;
	res->len = FT_WIRE_RESPONSE_LEN;
	res->dst = (const struct sockaddr *)&peer->endpoint;
	return FT_PROTO_REPLY;
}

static enum ft_proto_action receive_response(struct ft_proto *p, uint8_t *msg, size_t len,
					     const struct sockaddr *src, uint64_t now_ns,
					     bool under_load, uint8_t *reply, size_t reply_cap,
					     struct ft_proto_result *res)
{
	enum ft_proto_action action;
	struct ft_index_entry *e;
	struct ft_peer *peer;
	int err;

	if (check_macs(p, msg, len, src, now_ns, under_load, reply, reply_cap, res, &action))
		return action;
	e = ft_index_lookup(p->index, ft_wire_load_le32(msg + FT_WIRE_RESP_OFF_RECEIVER),
			    FT_INDEX_HANDSHAKE);
	if (!e)
		return drop(p, res, FT_PROTO_unknown_index);
	peer = e->peer;
	res->peer = peer;
	err = ft_noise_consume_response(&p->id, msg, len, peer->hs);
	if (err)
		return drop(p, res, noise_reason(err));
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
	flush_queue(p, peer, now_ns, true);
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
		return drop(p, res, FT_PROTO_unknown_index);
	res->peer = e->peer;
	err = ft_cookie_maker_consume_reply(&e->peer->cookie, msg, len, now_ns);
	if (err)
		return drop(p, res, noise_reason(err));
	/* No resend now: the retransmit timer's next initiation carries mac2. */
	count(p, FT_PROTO_cookie_received);
	res->action = FT_PROTO_DONE;
	return FT_PROTO_DONE;
}

/* The length of the IP packet at pkt (at most len bytes), 0 when it is not well formed. */
static size_t ip_packet_len(const uint8_t *pkt, size_t len, int *family)
{
	size_t n;

	if (len < 1)
		return 0;
	switch (pkt[0] >> 4) {
	case 4:
		if (len < 20)
			return 0;
		n = (size_t)pkt[2] << 8 | pkt[3];
		*family = AF_INET;
		return n >= 20 && n <= len ? n : 0;
	case 6:
		if (len < 40)
			return 0;
		n = 40 + ((size_t)pkt[4] << 8 | pkt[5]);
		*family = AF_INET6;
		return n <= len ? n : 0;
	default:
		return 0;
	}
}

static enum ft_proto_action receive_transport(struct ft_proto *p, uint8_t *msg, size_t len,
					      const struct sockaddr *src, uint64_t now_ns,
					      struct ft_proto_result *res)
{
	struct ft_index_entry *e = ft_index_lookup(
		p->index, ft_wire_load_le32(msg + FT_WIRE_DATA_OFF_RECEIVER), FT_INDEX_KEYPAIR);
	struct ft_keypair *kp, *cur;
	struct ft_peer *peer;
	size_t plain_len, ip_len;
	uint8_t *inner = msg + FT_WIRE_TRANSPORT_HEADER_LEN;
	int family = 0;
	int err;

	if (!e)
		return drop(p, res, FT_PROTO_unknown_index);
	kp = e->keypair;
	peer = e->peer;
	res->peer = peer;
	err = ft_keypair_decrypt(kp, msg, len, now_ns, &plain_len);
	switch (err) {
	case 0:
		break;
	case -EKEYEXPIRED:
		return drop(p, res, FT_PROTO_key_expired);
	case -EALREADY:
		return drop(p, res, FT_PROTO_replayed);
	case -EBADMSG:
		return drop(p, res, FT_PROTO_decrypt_failed);
	default:
		return drop(p, res, FT_PROTO_truncated);
	}
	ft_peer_roam(peer, src);
	if (ft_keypair_set_received(peer->keypairs, p->index, kp)) {
		/* The initiator confirmed our (responder's) keypair: it is current now. */
		ft_timers_handshake_complete(&peer->timers);
		flush_queue(p, peer, now_ns, false);
	}
	/* Close to REJECT_AFTER_TIME on a session we initiated: rekey once, before it dies. */
	cur = peer->keypairs->current;
	if (cur && cur == kp && cur->initiator && !peer->timers.sent_lastminute_handshake &&
	    now_ns - cur->birth_ns >=
		    FT_REJECT_AFTER_TIME_NS - FT_KEEPALIVE_TIMEOUT_NS - FT_REKEY_TIMEOUT_NS) {
		peer->timers.sent_lastminute_handshake = true;
		send_initiation(p, peer, now_ns, false);
	}
	ft_timers_any_authenticated_packet_received(&peer->timers);
	ft_timers_any_authenticated_packet_traversal(&peer->timers, now_ns);
	if (plain_len == 0) {
		count_received(peer, len, res);
		res->action = FT_PROTO_KEEPALIVE;
		return FT_PROTO_KEEPALIVE;
	}
	ft_timers_data_received(&peer->timers, now_ns);
	ip_len = ip_packet_len(inner, plain_len, &family);
	if (!ip_len)
		return drop(p, res, FT_PROTO_bad_packet);
	if (ft_allowedips_lookup(p->allowedips, family, inner + (family == AF_INET ? 12 : 8)) !=
	    peer)
		return drop(p, res, FT_PROTO_source_not_allowed);
	count_received(peer, len, res);
	res->action = FT_PROTO_PACKET;
	res->data = inner;
	res->len = ip_len;
	return FT_PROTO_PACKET;
}

enum ft_proto_action ft_proto_receive(struct ft_proto *p, uint8_t *msg, size_t len,
				      const struct sockaddr *src, uint64_t now_ns, bool under_load,
				      uint8_t *reply, size_t reply_cap, struct ft_proto_result *res)
{
	memset(res, 0, sizeof(*res));
	switch (ft_wire_message_type(msg, len)) {
	case FT_WIRE_INITIATION:
		return receive_initiation(p, msg, len, src, now_ns, under_load, reply, reply_cap,
					  res);
	case FT_WIRE_RESPONSE:
		return receive_response(p, msg, len, src, now_ns, under_load, reply, reply_cap,
					res);
	case FT_WIRE_COOKIE_REPLY:
		return receive_cookie(p, msg, len, now_ns, res);
	case FT_WIRE_TRANSPORT:
		return receive_transport(p, msg, len, src, now_ns, res);
	default:
		return drop(p, res, FT_PROTO_truncated);
	}
}

/* ---- send ---- */

enum ft_proto_action ft_proto_send(struct ft_proto *p, uint8_t *buf, size_t len, size_t cap,
				   uint64_t now_ns, struct ft_proto_result *res)
{
	uint8_t *pkt = buf + FT_PROTO_HEADROOM;
	struct ft_peer *peer;
	size_t out_len;
	int family = 0;
	int err, q;

	memset(res, 0, sizeof(*res));
	if (cap < FT_PROTO_HEADROOM || len > cap - FT_PROTO_HEADROOM)
		return drop(p, res, FT_PROTO_no_room);
	if (!ip_packet_len(pkt, len, &family))
		return drop(p, res, FT_PROTO_bad_packet);
	peer = ft_allowedips_lookup(p->allowedips, family, pkt + (family == AF_INET ? 16 : 24));
	if (!peer)
		return drop(p, res, FT_PROTO_no_peer);
	res->peer = peer;
	if (!ft_peer_has_endpoint(peer))
		return drop(p, res, FT_PROTO_no_endpoint);
	if (can_send(peer, now_ns)) {
		err = encrypt(p, peer, buf, len, cap, now_ns, &out_len);
		if (err == -ENOBUFS)
			return drop(p, res, FT_PROTO_no_room);
		if (err == 0) {
			keep_key_fresh_send(p, peer, now_ns);
			res->action = FT_PROTO_SEND;
			res->data = buf;
			res->len = out_len;
			res->dst = (const struct sockaddr *)&peer->endpoint;
			return FT_PROTO_SEND;
		}
		/* The keypair just ran out: wait for a new one like any packet without. */
	}
	q = ft_peer_queue_push(&peer->queue, pkt, len);
	if (q < 0)
		return drop(p, res, FT_PROTO_queue_dropped);
	if (q > 0)
		count(p, FT_PROTO_queue_dropped);
	send_initiation(p, peer, now_ns, false);
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
			count(p, FT_PROTO_handshake_given_up);
			ft_timers_disarm(t, FT_TIMER_SEND_KEEPALIVE);
			p->counters.queue_dropped += ft_peer_queue_purge(&peer->queue);
			ft_noise_handshake_clear(peer->hs);
			ft_index_remove(p->index, &peer->hs_entry);
			if (!ft_timers_armed(t, FT_TIMER_ZERO_KEY_MATERIAL))
				ft_timers_session_derived(t, now_ns);
		} else {
			t->handshake_attempts++;
			send_initiation(p, peer, now_ns, true);
		}
	}
	if (due & 1u << FT_TIMER_SEND_KEEPALIVE) {
		send_keepalive(p, peer, now_ns);
		if (t->need_another_keepalive) {
			t->need_another_keepalive = false;
			ft_timers_arm(t, FT_TIMER_SEND_KEEPALIVE, now_ns + FT_KEEPALIVE_TIMEOUT_NS);
		}
	}
	if (due & 1u << FT_TIMER_NEW_HANDSHAKE)
		send_initiation(p, peer, now_ns, false);
	if (due & 1u << FT_TIMER_ZERO_KEY_MATERIAL)
		drop_sessions(p, peer);
	if (due & 1u << FT_TIMER_PERSISTENT_KEEPALIVE && t->persistent_keepalive_s)
		send_keepalive(p, peer, now_ns);
}

uint64_t ft_proto_tick(struct ft_proto *p, uint64_t now_ns)
{
	/* One pass over the peers: fine for tens of peers; a timer wheel would serve thousands. */
	for (struct ft_peer *peer = p->first; peer; peer = peer->next)
		peer_tick(p, peer, now_ns);
	return ft_proto_next_deadline(p);
}

uint64_t ft_proto_next_deadline(const struct ft_proto *p)
{
	uint64_t next = 0, d;

	for (const struct ft_peer *peer = p->first; peer; peer = peer->next) {
		d = ft_timers_next(&peer->timers);
		if (d && (!next || d < next))
			next = d;
	}
	return next;
}
