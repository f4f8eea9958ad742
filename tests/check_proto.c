// SPDX-License-Identifier: MIT
/*
 * The protocol device with two in-process peers, A and B, on a fake clock and no sockets:
 * each device's send callback puts the datagram on a simulated wire, and deliver() hands
 * every datagram on the wire to the other device's ft_proto_receive (replies too), until
 * the wire is empty. A test may drop or hold messages on the wire.
 *
 *   A: underlay 198.18.0.1:51820, overlay 100.64.0.1, AllowedIPs of B: 100.64.0.2/32
 *   B: underlay 198.18.0.2:51820, overlay 100.64.0.2, AllowedIPs of A: 100.64.0.1/32
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include <check.h>
#include <sodium.h>

#include "tun/key.h"
#include "tun/proto.h"

#define SEC FT_NSEC_PER_SEC
#define MSEC FT_NSEC_PER_MSEC

struct side {
	struct ft_proto *p;
	struct ft_peer *peer; /* the other side, as seen from here */
	struct sockaddr_in addr;
	uint8_t priv[32], pub[32];
	uint64_t rng;
	bool under_load;
	/* What reached this side's TUN. */
	unsigned int packets, keepalives;
	uint8_t last_packet[2048];
	size_t last_len;
};

struct wire_msg {
	int to;
	struct sockaddr_in from;
	uint8_t data[2048];
	size_t len;
};

static struct side S[2];
static struct wire_msg wire[64];
static unsigned int nwire;
static uint64_t now;
/* Messages of this type (0: none) are dropped on the wire, drop_count times. */
static int drop_type;
static unsigned int drop_count;
static unsigned int sent_by_type[2][5];

static void fake_wall(struct timespec *ts)
{
	ts->tv_sec = 1800000000 + (time_t)(now / SEC);
	ts->tv_nsec = (long)(now % SEC);
}

/* xorshift64*, one stream per side: deterministic keys, indices and jitter. */
static void side_random(struct side *s, void *buf, size_t len)
{
	uint8_t *b = buf;

	for (size_t i = 0; i < len; i++) {
		s->rng ^= s->rng >> 12;
		s->rng ^= s->rng << 25;
		s->rng ^= s->rng >> 27;
		b[i] = (uint8_t)((s->rng * UINT64_C(2685821657736338717)) >> 56);
	}
}

static void random_a(void *buf, size_t len)
{
	side_random(&S[0], buf, len);
}

static void random_b(void *buf, size_t len)
{
	side_random(&S[1], buf, len);
}

static void put_on_wire(int to, const struct sockaddr_in *from, const uint8_t *msg, size_t len)
{
	struct wire_msg *w;

	ck_assert_uint_lt(nwire, sizeof(wire) / sizeof(wire[0]));
	ck_assert_uint_le(len, sizeof(w->data));
	if (msg[0] >= 1 && msg[0] <= 4)
		sent_by_type[1 - to][msg[0]]++;
	if (drop_type && msg[0] == drop_type && drop_count) {
		drop_count--;
		return;
	}
	w = &wire[nwire++];
	w->to = to;
	w->from = *from;
	memcpy(w->data, msg, len);
	w->len = len;
}

static void send_cb(void *arg, struct ft_peer *peer, const uint8_t *msg, size_t len,
		    const struct sockaddr *dst)
{
	struct side *s = arg;
	int from = (int)(s - S);
	const struct sockaddr_in *d = (const struct sockaddr_in *)dst;

	ck_assert_ptr_eq(peer, s->peer);
	/* Only ever to the other side's underlay address. */
	ck_assert_int_eq(d->sin_family, AF_INET);
	ck_assert_int_eq(d->sin_addr.s_addr, S[1 - from].addr.sin_addr.s_addr);
	put_on_wire(1 - from, &s->addr, msg, len);
}

/* Delivers everything on the wire, replies included; returns the number delivered. */
static unsigned int deliver(void)
{
	unsigned int n = 0;

	while (nwire) {
		struct wire_msg m = wire[0];
		struct side *to = &S[m.to];
		struct ft_proto_result res;
		uint8_t reply[FT_PROTO_REPLY_MAX];

		memmove(wire, wire + 1, (nwire - 1) * sizeof(wire[0]));
		nwire--;
		n++;
		switch (ft_proto_receive(to->p, m.data, m.len, (struct sockaddr *)&m.from, now,
					 to->under_load, reply, sizeof(reply), &res)) {
		case FT_PROTO_REPLY:
			ck_assert_ptr_eq(res.data, reply);
			ck_assert_int_eq(((const struct sockaddr_in *)res.dst)->sin_addr.s_addr,
					 m.from.sin_addr.s_addr);
			put_on_wire(1 - m.to, &to->addr, res.data, res.len);
			break;
		case FT_PROTO_PACKET:
			ck_assert_ptr_eq(res.peer, to->peer);
			to->packets++;
			memcpy(to->last_packet, res.data, res.len);
			to->last_len = res.len;
			break;
		case FT_PROTO_KEEPALIVE:
			to->keepalives++;
			break;
		default:
			break;
		}
	}
	return n;
}

static void setup_side(int i, uint64_t seed)
{
	struct side *s = &S[i];
	struct ft_proto_config cfg = {
		.send = send_cb,
		.send_arg = s,
		.mtu = 1420,
		.wall_clock = fake_wall,
		.random = i == 0 ? random_a : random_b,
	};

	memset(s, 0, sizeof(*s));
	s->rng = seed;
	s->addr.sin_family = AF_INET;
	s->addr.sin_port = htons(51820);
	s->addr.sin_addr.s_addr = htonl(0xc6120001 + (uint32_t)i); /* 198.18.0.1, .2 */
	side_random(s, s->priv, sizeof(s->priv));
	ft_key_clamp(s->priv);
	ck_assert_int_eq(ft_key_public(s->pub, s->priv), 0);
	s->p = ft_proto_create(&cfg);
	ck_assert_ptr_nonnull(s->p);
	ck_assert_int_eq(ft_proto_set_private_key(s->p, s->priv), 0);
}

static void overlay(uint8_t out[4], int i)
{
	out[0] = 100;
	out[1] = 64;
	out[2] = 0;
	out[3] = (uint8_t)(1 + i);
}

/* Each side learns the other; psk[i] is side i's idea of the PSK (NULL: none). */
static void pair_up(const uint8_t *psk_a, const uint8_t *psk_b, uint32_t keepalive_a,
		    bool a_knows_b_endpoint, bool b_knows_a_endpoint)
{
	const uint8_t *psk[2] = { psk_a, psk_b };
	bool knows[2] = { a_knows_b_endpoint, b_knows_a_endpoint };

	for (int i = 0; i < 2; i++) {
		struct ft_peer_config pc = {
			.preshared_key = psk[i],
			.endpoint = knows[i] ? (struct sockaddr *)&S[1 - i].addr : NULL,
			.persistent_keepalive_s = i == 0 ? keepalive_a : 0,
		};
		uint8_t ip[4];

		memcpy(pc.public_key, S[1 - i].pub, 32);
		ck_assert_int_eq(ft_proto_peer_add(S[i].p, &pc, &S[i].peer), 0);
		ck_assert_int_eq(ft_proto_peer_add(S[i].p, &pc, &S[i].peer), -EEXIST);
		overlay(ip, 1 - i);
		ck_assert_int_eq(ft_proto_allowedip_add(S[i].p, S[i].peer, AF_INET, ip, 32), 0);
	}
}

static void setup(void)
{
	now = 1 * SEC;
	nwire = 0;
	drop_type = 0;
	drop_count = 0;
	memset(sent_by_type, 0, sizeof(sent_by_type));
	setup_side(0, 0x1234567887654321ULL);
	setup_side(1, 0x0fedcba987654321ULL);
}

static void teardown(void)
{
	ft_proto_destroy(S[0].p);
	ft_proto_destroy(S[1].p);
}

/*
 * An IPv4 packet from side i's overlay address (src_last overrides its last byte) to the
 * other side's, with payload_len bytes of payload, sent through side i's device. Sent
 * messages go on the wire; the action is returned.
 */
static enum ft_proto_action send_ip_from(int i, uint8_t src_last, size_t payload_len, uint8_t fill,
					 uint8_t *msg_out, size_t *msg_len)
{
	uint8_t buf[2048];
	uint8_t *ip = buf + FT_PROTO_HEADROOM;
	size_t len = 20 + payload_len;
	struct ft_proto_result res;
	enum ft_proto_action a;

	memset(ip, 0, 20);
	ip[0] = 0x45;
	ip[2] = (uint8_t)(len >> 8);
	ip[3] = (uint8_t)len;
	ip[8] = 64;
	ip[9] = 17;
	overlay(ip + 12, i);
	if (src_last)
		ip[15] = src_last;
	overlay(ip + 16, 1 - i);
	memset(ip + 20, fill, payload_len);
	a = ft_proto_send(S[i].p, buf, len, sizeof(buf), now, &res);
	if (a == FT_PROTO_SEND) {
		ck_assert_ptr_eq(res.data, buf);
		ck_assert_ptr_eq(res.peer, S[i].peer);
		if (msg_out) {
			memcpy(msg_out, res.data, res.len);
			*msg_len = res.len;
		} else {
			put_on_wire(1 - i, &S[i].addr, res.data, res.len);
		}
	}
	return a;
}

static enum ft_proto_action send_ip(int i, size_t payload_len)
{
	return send_ip_from(i, 0, payload_len, (uint8_t)(0x30 + i), NULL, NULL);
}

static uint64_t counter(int i, enum ft_proto_reason r)
{
	return ft_proto_counter_value(ft_proto_counters(S[i].p), r);
}

/* The sum of every drop counter of side i (the events excluded). */
static uint64_t drops(int i)
{
	uint64_t sum = 0;

	for (int r = 0; r < FT_PROTO_FIRST_EVENT; r++)
		sum += counter(i, (enum ft_proto_reason)r);
	return sum;
}

static bool has_session(int i)
{
	struct ft_peer_info info;

	ft_peer_get_info(S[i].peer, &info, now);
	return info.has_session;
}

/* Runs both devices' timers up to `until`, delivering after each tick. */
static void run_until(uint64_t until)
{
	for (;;) {
		uint64_t a = ft_proto_next_deadline(S[0].p), b = ft_proto_next_deadline(S[1].p);
		uint64_t next = !a ? b : !b ? a : a < b ? a : b;

		if (!next || next > until)
			break;
		if (next > now)
			now = next;
		ft_proto_tick(S[0].p, now);
		ft_proto_tick(S[1].p, now);
		deliver();
	}
	now = until;
}

/* A sends, B answers: a session both ways. */
static void establish(void)
{
	ck_assert_int_eq(send_ip(0, 100), FT_PROTO_QUEUED);
	deliver();
	ck_assert_uint_eq(S[1].packets, 1);
	ck_assert(has_session(0));
	ck_assert(has_session(1));
}

START_TEST(test_handshake_and_data)
{
	struct ft_peer_info info;

	pair_up(NULL, NULL, 0, true, false);
	ck_assert_int_eq(send_ip(0, 100), FT_PROTO_QUEUED);
	ck_assert_uint_eq(nwire, 1);
	ck_assert_uint_eq(wire[0].len, 148);
	deliver();
	/* initiation, response, the queued packet */
	ck_assert_uint_eq(sent_by_type[0][1], 1);
	ck_assert_uint_eq(sent_by_type[1][2], 1);
	ck_assert_uint_eq(sent_by_type[0][4], 1);
	ck_assert_uint_eq(S[1].packets, 1);
	ck_assert_uint_eq(S[1].last_len, 120);
	ck_assert_uint_eq(S[1].last_packet[20], 0x30);
	ck_assert_uint_eq(S[1].last_packet[119], 0x30);
	/* B learnt A's endpoint from the handshake, and now sends directly. */
	ck_assert_int_eq(send_ip(1, 1000), FT_PROTO_SEND);
	ck_assert_int_eq(send_ip(1, 0), FT_PROTO_SEND); /* a bare header: 20 bytes */
	deliver();
	ck_assert_uint_eq(S[0].packets, 2);
	ck_assert_uint_eq(S[0].last_len, 20);
	for (int i = 0; i < 50; i++) {
		ck_assert_int_eq(send_ip(i & 1, (size_t)i * 27), FT_PROTO_SEND);
		deliver();
	}
	ck_assert_uint_eq(S[0].packets + S[1].packets, 53);
	ck_assert_uint_eq(drops(0) + drops(1), 0);
	ck_assert_uint_eq(counter(0, FT_PROTO_handshake_completed), 1);
	ck_assert_uint_eq(counter(1, FT_PROTO_handshake_completed), 1);
	ft_peer_get_info(S[1].peer, &info, now);
	ck_assert_mem_eq(info.public_key, S[0].pub, 32);
	ck_assert(info.rx_bytes > 0 && info.tx_bytes > 0);
	ck_assert_int_eq(info.last_handshake.tv_sec, 1800000001);
	ck_assert_int_eq(((struct sockaddr_in *)&info.endpoint)->sin_addr.s_addr,
			 S[0].addr.sin_addr.s_addr);
	ck_assert_ptr_eq(ft_proto_peer_find(S[1].p, S[0].pub), S[1].peer);
	ck_assert_ptr_eq(ft_proto_peer_next(S[1].p, NULL), S[1].peer);
	ck_assert_ptr_null(ft_proto_peer_next(S[1].p, S[1].peer));

	/* Roaming: A's datagrams now come from another port; B follows. */
	S[0].addr.sin_port = htons(40000);
	ck_assert_int_eq(send_ip(0, 10), FT_PROTO_SEND);
	deliver();
	ft_peer_get_info(S[1].peer, &info, now);
	ck_assert_int_eq(((struct sockaddr_in *)&info.endpoint)->sin_port, htons(40000));
}
END_TEST

/*
 * The padding follows the TUN MTU as it changes (issue 20): a 1250-byte packet is padded to
 * 1264 under the MTU of 1420 the device was made with, not at all under an MTU of 1250 (its
 * message must fit the smaller path that MTU was chosen for), and again to 1264 when 0 puts
 * the device's MTU back.
 */
START_TEST(test_set_mtu)
{
	static const struct {
		size_t mtu, msg_len;
	} steps[] = { { 1420, 16 + 1264 + 16 },
		      { 1250, 16 + 1250 + 16 },
		      { 1256, 16 + 1256 + 16 },
		      { 0, 16 + 1264 + 16 } };
	uint8_t msg[2048];
	size_t len = 0;

	pair_up(NULL, NULL, 0, true, false);
	establish();
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		ft_proto_set_mtu(S[0].p, steps[i].mtu);
		ck_assert_int_eq(send_ip_from(0, 0, 1230, 0x41, msg, &len), FT_PROTO_SEND);
		ck_assert_uint_eq(len, steps[i].msg_len);
		put_on_wire(1, &S[0].addr, msg, len);
		deliver();
		ck_assert_uint_eq(S[1].last_len, 1250); /* the padding is gone on the way in */
	}
	ck_assert_uint_eq(drops(0) + drops(1), 0);
}
END_TEST

START_TEST(test_rekey_after_time)
{
	uint32_t first_index;

	pair_up(NULL, NULL, 0, true, false);
	establish();
	first_index = S[0].peer->keypairs->current->entry.index;
	/* Traffic both ways every 10 s across REKEY_AFTER_TIME. */
	for (int t = 2; t <= 200; t += 10) {
		run_until((uint64_t)t * SEC);
		ck_assert_int_eq(send_ip(0, 64), FT_PROTO_SEND);
		ck_assert_int_eq(send_ip(1, 64), FT_PROTO_SEND);
		deliver();
	}
	ck_assert_uint_eq(counter(0, FT_PROTO_handshake_completed), 2);
	ck_assert_uint_eq(counter(1, FT_PROTO_handshake_completed), 2);
	ck_assert_uint_ne(S[0].peer->keypairs->current->entry.index, first_index);
	ck_assert(S[0].peer->keypairs->current->initiator);
	ck_assert_uint_eq(S[0].packets, 20);
	ck_assert_uint_eq(S[1].packets, 21);
	ck_assert_uint_eq(drops(0) + drops(1), 0);
}
END_TEST

START_TEST(test_reject_after_time)
{
	uint8_t held[256];
	size_t held_len;

	pair_up(NULL, NULL, 0, true, false);
	establish();
	run_until(now + 179 * SEC);
	/* The responder does not rekey by time: it still sends on the old keypair. */
	ck_assert_int_eq(send_ip_from(1, 0, 10, 0x55, held, &held_len), FT_PROTO_SEND);
	ck_assert_uint_eq(nwire, 0);
	run_until(now + 2 * SEC);
	put_on_wire(0, &S[1].addr, held, held_len);
	deliver();
	ck_assert_uint_eq(counter(0, FT_PROTO_key_expired), 1);
	ck_assert(!has_session(1));
	/* Now B queues and starts a handshake itself. */
	ck_assert_int_eq(send_ip(1, 10), FT_PROTO_QUEUED);
	deliver();
	ck_assert_uint_eq(S[0].packets, 1);
	ck_assert(has_session(0) && has_session(1));
}
END_TEST

START_TEST(test_simultaneous_initiations)
{
	pair_up(NULL, NULL, 0, true, true);
	ck_assert_int_eq(send_ip(0, 10), FT_PROTO_QUEUED);
	ck_assert_int_eq(send_ip(1, 10), FT_PROTO_QUEUED);
	deliver();
	run_until(now + 30 * SEC);
	ck_assert_uint_eq(S[0].packets, 1);
	ck_assert_uint_eq(S[1].packets, 1);
	ck_assert(has_session(0) && has_session(1));
	ck_assert_int_eq(send_ip(0, 10), FT_PROTO_SEND);
	ck_assert_int_eq(send_ip(1, 10), FT_PROTO_SEND);
	deliver();
	ck_assert_uint_eq(S[0].packets, 2);
	ck_assert_uint_eq(S[1].packets, 2);
	/* The crossed responses were for handshakes already replaced. */
	ck_assert_uint_ge(counter(0, FT_PROTO_unknown_index) + counter(1, FT_PROTO_unknown_index) +
				  counter(0, FT_PROTO_wrong_state) +
				  counter(1, FT_PROTO_wrong_state),
			  1);
}
END_TEST

START_TEST(test_lost_response_retry)
{
	uint64_t t0 = now, next;

	pair_up(NULL, NULL, 0, true, false);
	drop_type = 2;
	drop_count = 1;
	ck_assert_int_eq(send_ip(0, 10), FT_PROTO_QUEUED);
	deliver();
	ck_assert_uint_eq(S[1].packets, 0);
	next = ft_proto_next_deadline(S[0].p);
	ck_assert_uint_ge(next, t0 + FT_REKEY_TIMEOUT_NS);
	ck_assert_uint_lt(next, t0 + FT_REKEY_TIMEOUT_NS + FT_REKEY_TIMEOUT_JITTER_MAX_NS);
	/* Nothing before the deadline... */
	now = next - 1;
	ft_proto_tick(S[0].p, now);
	ck_assert_uint_eq(nwire, 0);
	/* ... the retry at it, and the queued packet once the handshake completes. */
	now = next;
	ck_assert_uint_eq(ft_proto_tick(S[0].p, now) > now, true);
	ck_assert_uint_eq(nwire, 1);
	deliver();
	ck_assert_uint_eq(sent_by_type[0][1], 2);
	ck_assert_uint_eq(S[1].packets, 1);
	ck_assert_uint_eq(counter(0, FT_PROTO_handshake_initiated), 2);
}
END_TEST

START_TEST(test_give_up)
{
	uint64_t t0 = now, given_up_at = 0;

	pair_up(NULL, NULL, 0, true, false);
	drop_type = 1;
	drop_count = 1000;
	ck_assert_int_eq(send_ip(0, 10), FT_PROTO_QUEUED);
	while (now < t0 + 1000 * SEC) {
		uint64_t next = ft_proto_next_deadline(S[0].p);

		if (!next)
			break;
		now = next;
		ft_proto_tick(S[0].p, now);
		if (!given_up_at && counter(0, FT_PROTO_handshake_given_up))
			given_up_at = now;
	}
	ck_assert_uint_eq(counter(0, FT_PROTO_handshake_given_up), 1);
	ck_assert_uint_eq(sent_by_type[0][1], 20); /* the first and 19 retries */
	ck_assert_uint_ge(given_up_at - t0, FT_REKEY_ATTEMPT_TIME_NS);
	ck_assert_uint_le(given_up_at - t0,
			  20 * (FT_REKEY_TIMEOUT_NS + FT_REKEY_TIMEOUT_JITTER_MAX_NS));
	ck_assert_uint_eq(counter(0, FT_PROTO_queue_dropped), 1);
	ck_assert_uint_eq(ft_proto_next_deadline(S[0].p), 0);
	/* New traffic starts over. */
	ck_assert_int_eq(send_ip(0, 10), FT_PROTO_QUEUED);
	ck_assert_uint_eq(sent_by_type[0][1], 21);
}
END_TEST

START_TEST(test_keepalive)
{
	pair_up(NULL, NULL, 0, true, false);
	establish();
	/* B received data and says nothing: a keepalive after KEEPALIVE_TIMEOUT. */
	run_until(now + FT_KEEPALIVE_TIMEOUT_NS - 1);
	ck_assert_uint_eq(S[0].keepalives, 0);
	run_until(now + 1);
	ck_assert_uint_eq(S[0].keepalives, 1);
	/* When B answers with data in time, no keepalive. */
	ck_assert_int_eq(send_ip(0, 10), FT_PROTO_SEND);
	deliver();
	run_until(now + 5 * SEC);
	ck_assert_int_eq(send_ip(1, 10), FT_PROTO_SEND);
	deliver();
	run_until(now + 20 * SEC);
	ck_assert_uint_eq(S[0].keepalives, 1);
	/* A sends and hears nothing (B's keepalives are lost): a new handshake. */
	drop_type = 4;
	drop_count = 100;
	ck_assert_int_eq(send_ip(0, 10), FT_PROTO_SEND);
	deliver();
	ck_assert_uint_eq(sent_by_type[0][1], 1);
	run_until(now + FT_KEEPALIVE_TIMEOUT_NS + FT_REKEY_TIMEOUT_NS - 1);
	ck_assert_uint_eq(sent_by_type[0][1], 1);
	run_until(now + FT_REKEY_TIMEOUT_JITTER_MAX_NS + 1);
	ck_assert_uint_eq(sent_by_type[0][1], 2);
}
END_TEST

START_TEST(test_persistent_keepalive)
{
	pair_up(NULL, NULL, 25, true, false);
	establish();
	deliver();
	run_until(now + 101 * SEC);
	/*
	 * 25 s after the last authenticated packet either way: B's keepalive reached A at
	 * 11 s, so A's come at 36, 61 and 86 s.
	 */
	ck_assert_uint_eq(S[1].keepalives, 3);
	/* Switched off: no more. */
	ft_proto_peer_set_persistent_keepalive(S[0].p, S[0].peer, 0, now);
	S[1].keepalives = 0;
	run_until(now + 100 * SEC);
	ck_assert_uint_eq(S[1].keepalives, 0);
}
END_TEST

START_TEST(test_cookie_under_load)
{
	pair_up(NULL, NULL, 0, true, false);
	S[1].under_load = true;
	ck_assert_int_eq(send_ip(0, 10), FT_PROTO_QUEUED);
	deliver();
	ck_assert_uint_eq(counter(1, FT_PROTO_bad_mac2), 1);
	ck_assert_uint_eq(counter(1, FT_PROTO_cookie_sent), 1);
	ck_assert_uint_eq(sent_by_type[1][3], 1);
	ck_assert_uint_eq(counter(0, FT_PROTO_cookie_received), 1);
	ck_assert_uint_eq(S[1].packets, 0);
	/* The retry carries mac2 and gets through while B is still under load. */
	run_until(now + 6 * SEC);
	ck_assert_uint_eq(S[1].packets, 1);
	ck_assert_uint_eq(counter(1, FT_PROTO_bad_mac2), 1);
	ck_assert(has_session(0) && has_session(1));
}
END_TEST

START_TEST(test_psk)
{
	uint8_t psk[32], other[32];

	memset(psk, 0x42, sizeof(psk));
	memset(other, 0x43, sizeof(other));
	if (_i == 0) {
		pair_up(psk, psk, 0, true, false);
		establish();
		ck_assert_uint_eq(drops(0) + drops(1), 0);
		return;
	}
	pair_up(psk, other, 0, true, false);
	ck_assert_int_eq(send_ip(0, 10), FT_PROTO_QUEUED);
	deliver();
	/* The PSK enters only with the response: B answers, A cannot decrypt it. */
	ck_assert_uint_eq(counter(0, FT_PROTO_decrypt_failed), 1);
	ck_assert(!has_session(0));
	ck_assert_uint_eq(S[1].packets, 0);
}
END_TEST

START_TEST(test_rejected_transport)
{
	enum { N = 8 };
	uint8_t msgs[N][256], m[256];
	size_t lens[N];

	pair_up(NULL, NULL, 0, true, false);
	establish();
	for (int i = 0; i < N; i++)
		ck_assert_int_eq(send_ip_from(0, 0, 40, (uint8_t)i, msgs[i], &lens[i]),
				 FT_PROTO_SEND);
#define DELIVER(buf, len)                                 \
	do {                                              \
		put_on_wire(1, &S[0].addr, (buf), (len)); \
		deliver();                                \
	} while (0)
	/* Tampered ciphertext. */
	memcpy(m, msgs[1], lens[1]);
	m[30] ^= 0x80;
	DELIVER(m, lens[1]);
	ck_assert_uint_eq(counter(1, FT_PROTO_decrypt_failed), 1);
	/* Tampered counter. */
	memcpy(m, msgs[1], lens[1]);
	m[8] ^= 0x01;
	DELIVER(m, lens[1]);
	ck_assert_uint_eq(counter(1, FT_PROTO_decrypt_failed), 2);
	/* Truncated below a keepalive, and a non-zero reserved byte. */
	DELIVER(msgs[1], 31);
	ck_assert_uint_eq(counter(1, FT_PROTO_truncated), 1);
	memcpy(m, msgs[1], lens[1]);
	m[2] = 1;
	DELIVER(m, lens[1]);
	ck_assert_uint_eq(counter(1, FT_PROTO_truncated), 2);
	/* Cut tag. */
	DELIVER(msgs[1], lens[1] - 1);
	ck_assert_uint_eq(counter(1, FT_PROTO_decrypt_failed), 3);
	/* Unknown receiver index. */
	memcpy(m, msgs[1], lens[1]);
	m[4] ^= 0xff;
	DELIVER(m, lens[1]);
	ck_assert_uint_eq(counter(1, FT_PROTO_unknown_index), 1);
	ck_assert_uint_eq(S[1].packets, 1);
	/* Replayed. */
	memcpy(m, msgs[2], lens[2]);
	DELIVER(m, lens[2]);
	memcpy(m, msgs[2], lens[2]);
	DELIVER(m, lens[2]);
	ck_assert_uint_eq(counter(1, FT_PROTO_replayed), 1);
	ck_assert_uint_eq(S[1].packets, 2);
	/* Reordered inside the window: accepted. */
	DELIVER(msgs[7], lens[7]);
	DELIVER(msgs[5], lens[5]);
	DELIVER(msgs[3], lens[3]);
	ck_assert_uint_eq(S[1].packets, 5);
	ck_assert_uint_eq(S[1].last_packet[20], 3);
	/* Reordered beyond the window: rejected as replayed. */
	for (int i = 0; i < FT_REPLAY_WINDOW + 10; i++) {
		ck_assert_int_eq(send_ip(0, 0), FT_PROTO_SEND);
		deliver();
	}
	DELIVER(msgs[4], lens[4]);
	ck_assert_uint_eq(counter(1, FT_PROTO_replayed), 2);
	/* A tampered handshake message fails mac1 before any DH; garbage is "truncated". */
	ck_assert_int_eq(send_ip(1, 0), FT_PROTO_SEND); /* B sends: no handshake */
	nwire = 0;
	ft_proto_peer_initiate(S[0].p, S[0].peer, now + 10 * SEC);
	ck_assert_uint_eq(nwire, 1);
	wire[0].data[50] ^= 1;
	deliver();
	ck_assert_uint_eq(counter(1, FT_PROTO_bad_mac1), 1);
	memset(m, 0xee, 100);
	DELIVER(m, 100);
	ck_assert_uint_eq(counter(1, FT_PROTO_truncated), 3);
#undef DELIVER
}
END_TEST

START_TEST(test_replayed_initiation)
{
	struct wire_msg init;

	pair_up(NULL, NULL, 0, true, false);
	ck_assert_int_eq(send_ip(0, 10), FT_PROTO_QUEUED);
	init = wire[0];
	deliver();
	ck_assert_uint_eq(S[1].packets, 1);
	now += 2 * SEC;
	wire[nwire++] = init;
	deliver();
	ck_assert_uint_eq(counter(1, FT_PROTO_stale_timestamp), 1);
	ck_assert_uint_eq(counter(1, FT_PROTO_handshake_completed), 1);
}
END_TEST

START_TEST(test_source_not_allowed)
{
	uint8_t ip[4] = { 100, 64, 9, 0 };

	pair_up(NULL, NULL, 0, true, false);
	establish();
	/* From 100.64.0.99, which B does not route to A. */
	ck_assert_int_eq(send_ip_from(0, 99, 10, 1, NULL, NULL), FT_PROTO_SEND);
	deliver();
	ck_assert_uint_eq(counter(1, FT_PROTO_source_not_allowed), 1);
	ck_assert_uint_eq(S[1].packets, 1);
	/* Allowing it lets it through. */
	ck_assert_int_eq(ft_proto_allowedip_add(S[1].p, S[1].peer, AF_INET, ip, 16), 0);
	ck_assert_int_eq(send_ip_from(0, 99, 10, 1, NULL, NULL), FT_PROTO_SEND);
	deliver();
	ck_assert_uint_eq(S[1].packets, 2);
	/* Outbound to nobody's AllowedIPs. */
	ck_assert_int_eq(
		ft_proto_allowedip_remove(S[0].p, AF_INET, (uint8_t[]){ 100, 64, 0, 2 }, 32), 0);
	ck_assert_int_eq(send_ip(0, 10), FT_PROTO_DROP);
	ck_assert_uint_eq(counter(0, FT_PROTO_no_peer), 1);
}
END_TEST

/* Malformed packets from the TUN and buffers without room. */
START_TEST(test_send_malformed)
{
	uint8_t buf[128] = { 0 };
	struct ft_proto_result res;

	pair_up(NULL, NULL, 0, true, false);
	establish();
	ck_assert_int_eq(ft_proto_send(S[0].p, buf, 0, sizeof(buf), now, &res), FT_PROTO_DROP);
	ck_assert_int_eq(res.reason, FT_PROTO_bad_packet);
	buf[16] = 0x45;
	buf[19] = 60; /* total length 60 > 40 given */
	ck_assert_int_eq(ft_proto_send(S[0].p, buf, 40, sizeof(buf), now, &res), FT_PROTO_DROP);
	ck_assert_int_eq(res.reason, FT_PROTO_bad_packet);
	buf[16] = 0x60; /* IPv6 shorter than its header */
	ck_assert_int_eq(ft_proto_send(S[0].p, buf, 39, sizeof(buf), now, &res), FT_PROTO_DROP);
	ck_assert_int_eq(ft_proto_send(S[0].p, buf, 200, sizeof(buf), now, &res), FT_PROTO_DROP);
	ck_assert_int_eq(res.reason, FT_PROTO_no_room);
	/* A valid packet, but no room for the tag. */
	buf[16] = 0x45;
	buf[19] = 40;
	memcpy(buf + 16 + 16, (uint8_t[]){ 100, 64, 0, 2 }, 4);
	ck_assert_int_eq(ft_proto_send(S[0].p, buf, 40, 16 + 40 + 10, now, &res), FT_PROTO_DROP);
	ck_assert_int_eq(res.reason, FT_PROTO_no_room);
	ck_assert_int_eq(ft_proto_send(S[0].p, buf, 40, 16 + 40 + 16 + 8, now, &res),
			 FT_PROTO_SEND);
	ck_assert_uint_eq(res.len, 16 + 48 + 16);
	ck_assert_str_eq(ft_proto_counter_name(FT_PROTO_bad_mac1), "bad_mac1");
	ck_assert_ptr_null(ft_proto_counter_name(FT_PROTO_REASON_COUNT));
}
END_TEST

/* The queue holds FT_PEER_QUEUE_LEN packets and drops the oldest beyond. */
START_TEST(test_queue_bound)
{
	pair_up(NULL, NULL, 0, true, false);
	drop_type = 1;
	drop_count = 1;
	for (int i = 0; i < FT_PEER_QUEUE_LEN + 3; i++)
		ck_assert_int_eq(send_ip_from(0, 0, 10, (uint8_t)i, NULL, NULL), FT_PROTO_QUEUED);
	ck_assert_uint_eq(counter(0, FT_PROTO_queue_dropped), 3);
	ck_assert_uint_eq(sent_by_type[0][1], 1); /* one initiation per REKEY_TIMEOUT */
	run_until(now + 6 * SEC);
	ck_assert_uint_eq(S[1].packets, FT_PEER_QUEUE_LEN);
	ck_assert_uint_eq(S[1].last_packet[20], FT_PEER_QUEUE_LEN + 2);
}
END_TEST

static Suite *proto_suite(void)
{
	Suite *s = suite_create("proto");
	TCase *tc = tcase_create("proto");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_handshake_and_data);
	tcase_add_test(tc, test_set_mtu);
	tcase_add_test(tc, test_rekey_after_time);
	tcase_add_test(tc, test_reject_after_time);
	tcase_add_test(tc, test_simultaneous_initiations);
	tcase_add_test(tc, test_lost_response_retry);
	tcase_add_test(tc, test_give_up);
	tcase_add_test(tc, test_keepalive);
	tcase_add_test(tc, test_persistent_keepalive);
	tcase_add_test(tc, test_cookie_under_load);
	tcase_add_loop_test(tc, test_psk, 0, 2);
	tcase_add_test(tc, test_rejected_transport);
	tcase_add_test(tc, test_replayed_initiation);
	tcase_add_test(tc, test_source_not_allowed);
	tcase_add_test(tc, test_send_malformed);
	tcase_add_test(tc, test_queue_bound);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	if (sodium_init() < 0)
		return 1;
	sr = srunner_create(proto_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
