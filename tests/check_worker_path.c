// SPDX-License-Identifier: MIT
/*
 * The worker's view of a peer's path, without sockets: the state `flowtun show` reports
 * (tun/worker/ctl.c), the decisions of a kick when a path comes back (tun/worker/path.c),
 * and why a kick repeats its initiation byte for byte instead of making a new one. Two
 * protocol devices on a fake clock, A and B, exchange datagrams through a simulated wire.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include <check.h>
#include <linux/neighbour.h>
#include <sodium.h>

#include "tun/wg/key.h"
#include "tun/wg/proto.h"
#include "tun/worker/internal.h"

#define SEC FT_NSEC_PER_SEC
#define MSEC FT_NSEC_PER_MSEC

struct side {
	struct ft_proto *p;
	struct ft_peer *peer; /* the other side */
	struct sockaddr_in addr;
	uint8_t priv[32], pub[32];
	uint64_t rng;
};

struct wire_msg {
	int to;
	struct sockaddr_in from;
	uint8_t data[256];
	size_t len;
};

static struct side S[2];
static struct wire_msg wire[32];
static unsigned int nwire;
static uint64_t now;

static void fake_wall(struct timespec *ts)
{
	ts->tv_sec = 1800000000 + (time_t)(now / SEC);
	ts->tv_nsec = (long)(now % SEC);
}

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

/* Handshake messages are all we exchange here: they fit the wire's slots. */
static void put_on_wire(int to, const struct sockaddr_in *from, const uint8_t *msg, size_t len)
{
	ck_assert_uint_lt(nwire, sizeof(wire) / sizeof(wire[0]));
	ck_assert_uint_le(len, sizeof(wire[0].data));
	wire[nwire].to = to;
	wire[nwire].from = *from;
	memcpy(wire[nwire].data, msg, len);
	wire[nwire++].len = len;
}

/* Every datagram of a device, replies included, leaves through here (tun/wg/proto.h). */
static void send_cb(void *arg, const struct ft_proto_datagram *d)
{
	int from = (int)(intptr_t)arg;

	put_on_wire(1 - from, &S[from].addr, d->msg, d->len);
}

/* Hands the first n datagrams on the wire to their receivers (replies go on the wire too). */
static void deliver(unsigned int n)
{
	for (unsigned int done = 0; done < n && nwire > 0; done++) {
		struct wire_msg m = wire[0];
		struct ft_proto_result res;

		memmove(wire, wire + 1, (nwire - 1) * sizeof(wire[0]));
		nwire--;
		ft_proto_receive(S[m.to].p, m.data, m.len, (const struct sockaddr *)&m.from, now,
				 &res);
	}
}

static void setup(void)
{
	ck_assert_int_ge(sodium_init(), 0);
	memset(S, 0, sizeof(S));
	nwire = 0;
	now = 1000 * SEC;
	for (int i = 0; i < 2; i++) {
		struct ft_proto_config cfg = {
			.send = send_cb,
			.send_arg = (void *)(intptr_t)i,
			.wall_clock = fake_wall,
			.random = i ? random_b : random_a,
		};

		S[i].rng = 0x9e3779b97f4a7c15ULL * (uint64_t)(i + 1);
		side_random(&S[i], S[i].priv, sizeof(S[i].priv));
		ft_key_clamp(S[i].priv);
		ck_assert_int_eq(ft_key_public(S[i].pub, S[i].priv), 0);
		S[i].addr.sin_family = AF_INET;
		S[i].addr.sin_port = htons(51820);
		S[i].addr.sin_addr.s_addr = htonl(0xc6120001 + (uint32_t)i); /* 198.18.0.1, .2 */
		S[i].p = ft_proto_create(&cfg);
		ck_assert_ptr_nonnull(S[i].p);
		ck_assert_int_eq(ft_proto_set_private_key(S[i].p, S[i].priv), 0);
	}
	for (int i = 0; i < 2; i++) {
		struct ft_peer_config pc = { .endpoint = (const struct sockaddr *)&S[1 - i].addr };

		memcpy(pc.public_key, S[1 - i].pub, sizeof(pc.public_key));
		ck_assert_int_eq(ft_proto_peer_add(S[i].p, &pc, &S[i].peer), 0);
	}
}

static void teardown(void)
{
	for (int i = 0; i < 2; i++)
		ft_proto_destroy(S[i].p);
}

static uint64_t counter(int side, enum ft_proto_reason r)
{
	return ft_proto_counter_value(ft_proto_counters(S[side].p), r);
}

/* ---- the state `flowtun show` reports ------------------------------------------------------ */

static struct ft_worker W; /* ft_worker_path_state() reads nothing of the worker */

static enum ft_path_state state_of_a(struct wpeer *wp)
{
	wp->peer = S[0].peer;
	return ft_worker_path_state(&W, wp, now);
}

START_TEST(state_idle_failing_given_up)
{
	struct wpeer wp = { 0 };

	ck_assert_int_eq(state_of_a(&wp), FT_PATH_NO_SESSION);
	/* An initiation nobody answers: failing while the retries go on. */
	ft_proto_peer_initiate(S[0].p, S[0].peer, now);
	nwire = 0;
	ck_assert_int_eq(state_of_a(&wp), FT_PATH_FAILING);
	/* REKEY_ATTEMPT_TIME (90 s) without an answer: the handshake is given up... */
	for (int i = 0; i < 200 && !counter(0, FT_PROTO_handshake_given_up); i++) {
		now += SEC;
		ft_proto_tick(S[0].p, now);
		nwire = 0;
	}
	ck_assert_uint_eq(counter(0, FT_PROTO_handshake_given_up), 1);
	/* ...and with no traffic wanting to go, nothing is failing any more. */
	ck_assert_int_eq(state_of_a(&wp), FT_PATH_NO_SESSION);
	now += 600 * SEC;
	ft_proto_tick(S[0].p, now);
	ck_assert_int_eq(state_of_a(&wp), FT_PATH_NO_SESSION);
	/* The link going down wins over everything. */
	wp.path_down = true;
	ck_assert_int_eq(state_of_a(&wp), FT_PATH_LINK_DOWN);
}
END_TEST

START_TEST(state_up_after_answer)
{
	struct wpeer wp = { 0 };

	ft_proto_peer_initiate(S[0].p, S[0].peer, now);
	deliver(2); /* the initiation, then the response */
	ck_assert_int_eq(state_of_a(&wp), FT_PATH_UP);
}
END_TEST

/* ---- why a kick copies its initiation ------------------------------------------------------ */

/*
 * The carrier case: an initiation I1 of the outage waits in the kernel's neighbour queue;
 * a new I2 at link-up joins it; both leave together. B takes I1, drops I2 as a flood, and
 * answers I1, which A replaced by I2: the answer is useless and the session waits for the
 * retransmit timer.
 */
START_TEST(new_initiation_loses_the_race)
{
	ft_proto_peer_initiate(S[0].p, S[0].peer, now); /* I1: parked in the queue */
	now += 600 * MSEC;
	ft_proto_peer_initiate(S[0].p, S[0].peer, now); /* I2 at link-up */
	ck_assert_uint_eq(nwire, 2);
	deliver(3);
	ck_assert_uint_eq(counter(1, FT_PROTO_handshake_flood), 1);
	ck_assert_uint_eq(counter(0, FT_PROTO_unknown_index), 1);
	ck_assert_uint_eq(counter(0, FT_PROTO_handshake_completed), 0);
}
END_TEST

/* Copies of one initiation: whichever B takes, its answer fits, and the others are replays. */
START_TEST(copies_are_answered_once)
{
	const uint8_t *first;

	ft_proto_peer_initiate(S[0].p, S[0].peer, now);
	ck_assert_uint_eq(nwire, 1);
	first = wire[0].data;
	now += 40 * MSEC;
	ck_assert_int_eq(ft_proto_peer_resend_initiation(S[0].p, S[0].peer, now), 0);
	now += 40 * MSEC;
	ck_assert_int_eq(ft_proto_peer_resend_initiation(S[0].p, S[0].peer, now), 0);
	ck_assert_uint_eq(nwire, 3);
	ck_assert_mem_eq(wire[1].data, first, FT_WIRE_INITIATION_LEN);
	ck_assert_mem_eq(wire[2].data, first, FT_WIRE_INITIATION_LEN);
	ck_assert_uint_eq(counter(0, FT_PROTO_handshake_initiated), 1);
	deliver(8);
	ck_assert_uint_eq(counter(1, FT_PROTO_handshake_completed), 1);
	ck_assert_uint_eq(
		counter(1, FT_PROTO_stale_timestamp) + counter(1, FT_PROTO_handshake_flood), 2);
	ck_assert_uint_eq(counter(0, FT_PROTO_handshake_completed), 1);
	ck_assert_uint_eq(counter(0, FT_PROTO_unknown_index), 0);
	/* Answered: nothing in flight to copy any more. */
	ck_assert_int_eq(ft_proto_peer_resend_initiation(S[0].p, S[0].peer, now), -ENOENT);
}
END_TEST

/* The race above, with a copy after B's flood window: the copy is taken and answered. */
START_TEST(copy_wins_after_the_stale_one)
{
	ft_proto_peer_initiate(S[0].p, S[0].peer, now); /* I1, stale */
	now += 600 * MSEC;
	ft_proto_peer_initiate(S[0].p, S[0].peer, now); /* I2 */
	deliver(3);					/* I1 taken, I2 flooded, answer lost */
	ck_assert_uint_eq(counter(0, FT_PROTO_handshake_completed), 0);
	now += FT_KICK_COPY_GAP_MS * MSEC;
	ck_assert_int_eq(ft_proto_peer_resend_initiation(S[0].p, S[0].peer, now), 0);
	deliver(2);
	ck_assert_uint_eq(counter(0, FT_PROTO_handshake_completed), 1);
}
END_TEST

START_TEST(no_copy_without_initiation)
{
	ck_assert_int_eq(ft_proto_peer_resend_initiation(S[0].p, S[0].peer, now), -ENOENT);
	ft_proto_peer_initiate(S[0].p, S[0].peer, now);
	/* Past REKEY_TIMEOUT the retransmit timer makes a new one: no copy of the old. */
	now += FT_REKEY_TIMEOUT_NS;
	ck_assert_int_eq(ft_proto_peer_resend_initiation(S[0].p, S[0].peer, now), -ENOENT);
}
END_TEST

/* ---- the kick's decisions ------------------------------------------------------------------- */

#define READY .routable = true, .running = true, .needs_neigh = true

static const struct {
	const char *what;
	struct ft_kick_view v;
	unsigned int want;
} kick_cases[] = {
	{ "handshake done", { .handshake_done = true, READY }, FT_KICK_END },
	{ "span over", { .expired = true }, FT_KICK_END },
	{ "no route yet (or our address not ready)", { .routable = false }, FT_KICK_WAIT },
	{ "link not running yet", { .routable = true, .running = false }, FT_KICK_WAIT },
	{ "ready, no neighbours", { .routable = true, .running = true }, FT_KICK_SEND },
	{ "ready, neighbour reachable", { READY, .neigh = NUD_REACHABLE }, FT_KICK_SEND },
	{ "no neighbour entry: the send probes", { READY, .neigh = NUD_NONE }, FT_KICK_SEND },
	{ "failed entry: the send probes at once", { READY, .neigh = NUD_FAILED }, FT_KICK_SEND },
	{ "incomplete from the outage: flush, then send",
	  { READY, .neigh = NUD_INCOMPLETE },
	  FT_KICK_FLUSH | FT_KICK_SEND },
	{ "our probe within the gap: wait",
	  { READY, .neigh = NUD_INCOMPLETE, .initiations = 1, .copies = 1,
	    .since_copy_ms = FT_KICK_COPY_GAP_MS - 1 },
	  FT_KICK_WAIT },
	{ "our probe unanswered: probe again with a copy",
	  { READY, .neigh = NUD_INCOMPLETE, .initiations = 1, .copies = 1,
	    .since_copy_ms = FT_KICK_COPY_GAP_MS },
	  FT_KICK_FLUSH | FT_KICK_COPY },
	{ "sent, no answer yet",
	  { READY, .neigh = NUD_REACHABLE, .initiations = 1, .copies = 1,
	    .since_copy_ms = FT_KICK_COPY_GAP_MS - 1 },
	  FT_KICK_WAIT },
	{ "sent, no answer within the gap: a copy",
	  { READY, .neigh = NUD_REACHABLE, .initiations = 1, .copies = 1,
	    .since_copy_ms = FT_KICK_COPY_GAP_MS },
	  FT_KICK_COPY },
	{ "copies used up: a new initiation (an answer may have been lost)",
	  { READY, .neigh = NUD_STALE, .initiations = 1, .copies = FT_KICK_MAX_COPIES,
	    .since_copy_ms = FT_KICK_COPY_GAP_MS },
	  FT_KICK_SEND },
	{ "copies used up, probe unanswered: flush and a new one",
	  { READY, .neigh = NUD_INCOMPLETE, .initiations = 1, .copies = FT_KICK_MAX_COPIES,
	    .since_copy_ms = FT_KICK_COPY_GAP_MS },
	  FT_KICK_FLUSH | FT_KICK_SEND },
	{ "everything used up",
	  { READY, .neigh = NUD_REACHABLE, .initiations = FT_KICK_MAX_INITIATIONS,
	    .copies = FT_KICK_MAX_COPIES, .since_copy_ms = 1000 },
	  FT_KICK_WAIT },
};

START_TEST(kick_decide)
{
	unsigned int got = ft_worker_kick_decide(&kick_cases[_i].v);

	ck_assert_msg(got == kick_cases[_i].want, "%s: got %#x, want %#x", kick_cases[_i].what, got,
		      kick_cases[_i].want);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("worker_path");
	TCase *tc = tcase_create("state");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, state_idle_failing_given_up);
	tcase_add_test(tc, state_up_after_answer);
	suite_add_tcase(s, tc);
	tc = tcase_create("copies");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, new_initiation_loses_the_race);
	tcase_add_test(tc, copies_are_answered_once);
	tcase_add_test(tc, copy_wins_after_the_stale_one);
	tcase_add_test(tc, no_copy_without_initiation);
	suite_add_tcase(s, tc);
	tc = tcase_create("kick");
	tcase_add_loop_test(tc, kick_decide, 0, (int)(sizeof(kick_cases) / sizeof(kick_cases[0])));
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
