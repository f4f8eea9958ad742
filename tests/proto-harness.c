// SPDX-License-Identifier: MIT
/* The two-device harness of the protocol tests: see proto-harness.h. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

#include <check.h>

#include "tests/proto-harness.h"
#include "tun/wg/key.h"
#include "tun/wg/proto.h"

struct side S[2];
struct wire_msg wire[64];
unsigned int nwire;
uint64_t now;
int drop_type;
unsigned int drop_count;
unsigned int sent_by_type[2][5];

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

void put_on_wire(int to, const struct sockaddr_in *from, const uint8_t *msg, size_t len)
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

/*
 * The data message of the ft_proto_send() under way (send_ip_from): the buffer it was given,
 * and where a test wants the message instead of the wire (NULL: the wire).
 */
static const uint8_t *sending_buf;
static uint8_t *capture;
static size_t *capture_len;

static void send_cb(void *arg, const struct ft_proto_datagram *dg)
{
	struct side *s = arg;
	int from = (int)(s - S);
	const struct sockaddr_in *d = (const struct sockaddr_in *)dg->dst;

	/* The other side, or nobody for a cookie reply (an answer to no known peer). */
	if (dg->msg[0] == 3)
		ck_assert_ptr_null(dg->peer);
	else
		ck_assert_ptr_eq(dg->peer, s->peer);
	/* Only ever to the other side's underlay address. */
	ck_assert_int_eq(d->sin_family, AF_INET);
	ck_assert_int_eq(d->sin_addr.s_addr, S[1 - from].addr.sin_addr.s_addr);
	/*
	 * A data message comes with the length of the packet it carries, and its plaintext
	 * unless it is the caller's own buffer encrypted in place; handshakes, cookie replies and
	 * keepalives with neither.
	 */
	if (dg->msg[0] == 4 && dg->len > 32) {
		ck_assert_uint_ge(dg->len, 32 + dg->inner_len);
		ck_assert_uint_gt(dg->inner_len, 0);
		if (dg->in_place)
			ck_assert_ptr_null(dg->inner);
		else
			ck_assert_ptr_nonnull(dg->inner);
		s->inner_sent++;
	} else {
		ck_assert_ptr_null(dg->inner);
		ck_assert_uint_eq(dg->inner_len, 0);
		ck_assert(!dg->in_place);
	}
	/* In place: ft_proto_send's data message, in the very buffer it was given. */
	if (dg->in_place) {
		if (sending_buf)
			ck_assert_ptr_eq(dg->msg, sending_buf);
		s->sent_in_place++;
		s->in_place_len = dg->len;
	}
	/* The socket took it: what a real caller reports (nobody's for a cookie reply). */
	if (dg->peer && !s->socket_refuses)
		ft_proto_peer_count_sent(s->p, dg->peer, dg->len);
	if (dg->in_place && capture) {
		memcpy(capture, dg->msg, dg->len);
		*capture_len = dg->len;
		return;
	}
	put_on_wire(1 - from, &s->addr, dg->msg, dg->len);
}

/* Delivers everything on the wire, replies included; returns the number delivered. */
unsigned int deliver(void)
{
	unsigned int n = 0;

	while (nwire) {
		struct wire_msg m = wire[0];
		struct side *to = &S[m.to];
		struct ft_proto_result res;

		memmove(wire, wire + 1, (nwire - 1) * sizeof(wire[0]));
		nwire--;
		n++;
		/* An answer goes on the wire through the callback (to m.from: send_cb checks). */
		switch (ft_proto_receive(to->p, m.data, m.len, (struct sockaddr *)&m.from, now,
					 &res)) {
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
		if (res.rx_counted)
			to->rx_counted += m.len;
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

void overlay(uint8_t out[4], int i)
{
	out[0] = 100;
	out[1] = 64;
	out[2] = 0;
	out[3] = (uint8_t)(1 + i);
}

/* Each side learns the other; psk[i] is side i's idea of the PSK (NULL: none). */
void pair_up(const uint8_t *psk_a, const uint8_t *psk_b, uint32_t keepalive_a,
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

void setup(void)
{
	now = 1 * SEC;
	nwire = 0;
	drop_type = 0;
	drop_count = 0;
	memset(sent_by_type, 0, sizeof(sent_by_type));
	setup_side(0, 0x1234567887654321ULL);
	setup_side(1, 0x0fedcba987654321ULL);
}

void teardown(void)
{
	ft_proto_destroy(S[0].p);
	ft_proto_destroy(S[1].p);
}

/*
 * An IPv4 packet from side i's overlay address (src_last overrides its last byte) to the
 * other side's, with payload_len bytes of payload, sent through side i's device. Sent
 * messages go on the wire (its data message into msg_out instead, when msg_out is given);
 * the action is returned.
 */
enum ft_proto_action send_ip_from(int i, uint8_t src_last, size_t payload_len, uint8_t fill,
				  uint8_t *msg_out, size_t *msg_len)
{
	uint8_t buf[2048];
	uint8_t *ip = buf + FT_PROTO_HEADROOM;
	size_t len = 20 + payload_len;
	struct ft_proto_result res;
	enum ft_proto_action a;
	unsigned int in_place0;

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
	in_place0 = S[i].sent_in_place;
	sending_buf = buf;
	capture = msg_out;
	capture_len = msg_len;
	a = ft_proto_send(S[i].p, buf, len, sizeof(buf), now, &res);
	sending_buf = NULL;
	capture = NULL;
	/* Sent: the data message went through the callback, once, in place. */
	ck_assert_uint_eq(S[i].sent_in_place - in_place0, a == FT_PROTO_SENT ? 1 : 0);
	if (a == FT_PROTO_SENT)
		ck_assert_ptr_eq(res.peer, S[i].peer);
	return a;
}

enum ft_proto_action send_ip(int i, size_t payload_len)
{
	return send_ip_from(i, 0, payload_len, (uint8_t)(0x30 + i), NULL, NULL);
}

uint64_t counter(int i, enum ft_proto_reason r)
{
	return ft_proto_counter_value(ft_proto_counters(S[i].p), r);
}

/* The sum of every drop counter of side i (the events excluded). */
uint64_t drops(int i)
{
	uint64_t sum = 0;

	for (int r = 0; r < FT_PROTO_FIRST_EVENT; r++)
		sum += counter(i, (enum ft_proto_reason)r);
	return sum;
}

bool has_session(int i)
{
	struct ft_peer_info info;

	ft_peer_get_info(S[i].peer, &info, now);
	return info.has_session;
}

/* Runs both devices' timers up to `until`, delivering after each tick. */
void run_until(uint64_t until)
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
void establish(void)
{
	ck_assert_int_eq(send_ip(0, 100), FT_PROTO_QUEUED);
	deliver();
	ck_assert_uint_eq(S[1].packets, 1);
	ck_assert(has_session(0));
	ck_assert(has_session(1));
}

/* A flood of bad initiations against side i (see proto-harness.h). */
void flood_initiations(int i, unsigned int n)
{
	struct sockaddr_in stranger = S[1 - i].addr;
	uint64_t bad_mac1 = counter(i, FT_PROTO_bad_mac1);

	stranger.sin_port = htons(40000);
	for (unsigned int k = 0; k < n; k++) {
		uint8_t msg[FT_WIRE_INITIATION_LEN] = { FT_WIRE_INITIATION };
		struct ft_proto_result res;

		msg[4] = (uint8_t)k;
		ck_assert_int_eq(ft_proto_receive(S[i].p, msg, sizeof(msg),
						  (struct sockaddr *)&stranger, now, &res),
				 FT_PROTO_DROP);
	}
	/* Each was dropped at mac1, before any DH work. */
	ck_assert_uint_eq(counter(i, FT_PROTO_bad_mac1), bad_mac1 + n);
}
