// SPDX-License-Identifier: MIT
/*
 * What a peer holds while idle, on the two-device harness of proto-harness.h: a configured
 * peer that never handshaked has no keypair set (secret arena) and no packet queue block; the
 * first session allocates the one, the first waiting packet the other; both go again when
 * they are no longer needed (the queue drained, the key material zeroed), and a session still
 * comes when the arena is exhausted at the first try. And the timers of a device with many
 * peers: only the peers with a due deadline act, a peer removed while armed never does.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <time.h>

#include <check.h>
#include <sodium.h>

#include "tests/check_main.h"
#include "tests/proto-harness.h"
#include "tun/wg/key.h"
#include "tun/wg/keypair.h"
#include "tun/wg/peer.h"
#include "tun/wg/proto.h"
#include "tun/wg/secmem.h"
#include "tun/wg/timers.h"

static size_t slots_in_use(void)
{
	struct ft_secmem_stats st;

	ft_secmem_stats(&st);
	return st.slots_in_use;
}

START_TEST(test_idle_peer_holds_nothing)
{
	size_t slots0;

	pair_up(NULL, NULL, 0, true, false);
	slots0 = slots_in_use();
	for (int i = 0; i < 2; i++) {
		ck_assert_ptr_null(S[i].peer->keypairs);
		ck_assert_ptr_null(S[i].peer->queue.buf);
		ck_assert(!ft_peer_has_session(S[i].peer, now));
	}

	/* The first packet waits: the queue's block exists, no keypair set yet. */
	ck_assert_int_eq(send_ip(0, 100), FT_PROTO_QUEUED);
	ck_assert_ptr_nonnull(S[0].peer->queue.buf);
	ck_assert_uint_eq(S[0].peer->queue.count, 1);
	ck_assert_ptr_null(S[0].peer->keypairs);
	ck_assert_uint_eq(slots_in_use(), slots0);

	/* The handshake: a keypair set on each side, the queue drained and its block freed. */
	deliver();
	ck_assert_uint_eq(S[1].packets, 1);
	for (int i = 0; i < 2; i++) {
		ck_assert_ptr_nonnull(S[i].peer->keypairs);
		ck_assert_ptr_null(S[i].peer->queue.buf);
		ck_assert_uint_eq(S[i].peer->queue.count, 0);
	}
	ck_assert_uint_eq(slots_in_use(), slots0 + 2);
	ck_assert_int_eq(send_ip(0, 10), FT_PROTO_SENT);
	ck_assert_int_eq(send_ip(1, 10), FT_PROTO_SENT);
	deliver();
	ck_assert_uint_eq(S[0].packets, 1);
	ck_assert_uint_eq(S[1].packets, 2);

	/* Idle again: the key material zeroed after 3 * REJECT_AFTER_TIME frees the sets. */
	run_until(now + 3 * FT_REJECT_AFTER_TIME_NS + 10 * SEC);
	for (int i = 0; i < 2; i++) {
		ck_assert_ptr_null(S[i].peer->keypairs);
		ck_assert_ptr_null(S[i].peer->queue.buf);
		ck_assert(!ft_peer_has_session(S[i].peer, now));
	}
	ck_assert_uint_eq(slots_in_use(), slots0);

	/* And a new session allocates them again. */
	ck_assert_int_eq(send_ip(0, 30), FT_PROTO_QUEUED);
	deliver();
	ck_assert_uint_eq(S[1].packets, 3);
	ck_assert_uint_eq(counter(0, FT_PROTO_handshake_completed), 2);
	ck_assert_uint_eq(counter(1, FT_PROTO_handshake_completed), 2);
	ck_assert_uint_eq(slots_in_use(), slots0 + 2);
	ck_assert_uint_eq(drops(0) + drops(1), 0);
}
END_TEST

/* The queue alone: empty costs no block; the pop of the last packet frees it. */
START_TEST(test_queue_block)
{
	struct ft_peer_queue q;
	uint8_t pkt[100];
	const uint8_t *out;
	size_t len;

	ck_assert_int_eq(ft_peer_queue_init(&q, 0), -EINVAL);
	ck_assert_int_eq(ft_peer_queue_init(&q, sizeof(pkt)), 0);
	ck_assert_ptr_null(q.buf);
	ck_assert_ptr_null(ft_peer_queue_peek(&q, &len));
	ft_peer_queue_pop(&q); /* empty: nothing happens */
	ck_assert_uint_eq(ft_peer_queue_purge(&q), 0);
	ck_assert_int_eq(ft_peer_queue_push(&q, pkt, sizeof(pkt) + 1), -EMSGSIZE);
	ck_assert_ptr_null(q.buf);

	for (int i = 0; i < FT_PEER_QUEUE_LEN + 2; i++) {
		memset(pkt, i, sizeof(pkt));
		ck_assert_int_eq(ft_peer_queue_push(&q, pkt, (size_t)i + 1),
				 i < FT_PEER_QUEUE_LEN ? 0 : 1);
		ck_assert_ptr_nonnull(q.buf);
	}
	/* The two oldest went; the rest come out in order, each with its own length. */
	for (int i = 2; i < FT_PEER_QUEUE_LEN + 2; i++) {
		out = ft_peer_queue_peek(&q, &len);
		ck_assert_ptr_nonnull(out);
		ck_assert_uint_eq(len, (size_t)i + 1);
		ck_assert_uint_eq(out[0], i);
		ck_assert_uint_eq(out[len - 1], i);
		ft_peer_queue_pop(&q);
	}
	ck_assert_uint_eq(q.count, 0);
	ck_assert_ptr_null(q.buf);

	ck_assert_int_eq(ft_peer_queue_push(&q, pkt, 10), 0);
	ck_assert_int_eq(ft_peer_queue_push(&q, pkt, 20), 0);
	ck_assert_uint_eq(ft_peer_queue_purge(&q), 2);
	ck_assert_ptr_null(q.buf);
	ck_assert_int_eq(ft_peer_queue_push(&q, pkt, 30), 0);
	ft_peer_queue_free(&q); /* with a packet in: no leak (valgrind, ASan) */
	ck_assert_ptr_null(q.buf);
}
END_TEST

/*
 * The secret arena cannot give the first session its keypair set: the handshake fails with
 * no_memory counted (no crash, no session), and the retry after REKEY_TIMEOUT succeeds once
 * there is room again.
 */
START_TEST(test_first_session_no_memory)
{
	enum { MAX_HOARD = 3 * FT_SECMEM_CHUNK / sizeof(struct ft_keypair_set) };
	static void *hoard[MAX_HOARD];
	struct ft_secmem_stats st;
	size_t n = 0;

	pair_up(NULL, NULL, 0, true, false);
	/* No new chunk, and every free slot of the keypair set's size taken. */
	ft_secmem_stats(&st);
	ft_secmem_set_limit(st.chunk_bytes);
	while (n < MAX_HOARD && (hoard[n] = ft_secmem_alloc(sizeof(struct ft_keypair_set))))
		n++;
	ck_assert_uint_lt(n, MAX_HOARD);

	ck_assert_int_eq(send_ip(0, 50), FT_PROTO_QUEUED);
	deliver();
	/* B, the responder, could not keep the session: no response, nothing installed. */
	ck_assert_uint_eq(counter(1, FT_PROTO_no_memory), 1);
	ck_assert_uint_eq(sent_by_type[1][2], 0);
	ck_assert_ptr_null(S[1].peer->keypairs);
	ck_assert(!has_session(0) && !has_session(1));
	ck_assert_uint_eq(S[1].packets, 0);

	while (n)
		ft_secmem_free(hoard[--n], sizeof(struct ft_keypair_set));
	ft_secmem_set_limit(0);
	run_until(now + FT_REKEY_TIMEOUT_NS + FT_REKEY_TIMEOUT_JITTER_MAX_NS + SEC);
	ck_assert(has_session(0) && has_session(1));
	ck_assert_uint_eq(S[1].packets, 1);
	ck_assert_uint_eq(counter(1, FT_PROTO_no_memory), 1);
}
END_TEST

/* ---- many peers, few timers: a device of its own, its send callback counting per peer ---- */

enum { MANY = 2000 };
static unsigned int initiations[MANY];
static unsigned int other_sends;
static unsigned int ticked[MANY];

static void many_ticked(void *arg, struct ft_peer *peer)
{
	const unsigned int *idx = ft_peer_ctx(peer);

	ck_assert_ptr_null(arg);
	ticked[*idx]++;
}

static void many_send(void *arg, const struct ft_proto_datagram *dg)
{
	const unsigned int *idx = dg->peer ? ft_peer_ctx(dg->peer) : NULL;

	if (idx && dg->len && dg->msg[0] == 1)
		initiations[*idx]++;
	else
		other_sends++;
}

static void many_wall(struct timespec *ts)
{
	ts->tv_sec = 1800000000;
	ts->tv_nsec = 0;
}

static void many_random(void *buf, size_t len)
{
	randombytes_buf(buf, len);
}

START_TEST(test_many_peers_few_timers)
{
	static unsigned int idx[MANY];
	static struct ft_peer *peer[MANY];
	const struct ft_proto_config cfg = {
		.send = many_send,
		.mtu = 1420,
		.wall_clock = many_wall,
		.random = many_random,
		.ticked = many_ticked,
	};
	struct sockaddr_in ep = { .sin_family = AF_INET, .sin_port = htons(51820) };
	uint8_t priv[32];
	struct ft_proto *p = ft_proto_create(&cfg);
	uint64_t t = 1 * SEC, d;
	unsigned int ticks = 0, visits = 0;
	const unsigned int busy[3] = { 10, 1000, MANY - 1 };

	ck_assert_ptr_nonnull(p);
	randombytes_buf(priv, sizeof(priv));
	ft_key_clamp(priv);
	ck_assert_int_eq(ft_proto_set_private_key(p, priv), 0);
	ep.sin_addr.s_addr = htonl(0xc6120009); /* 198.18.0.9 */
	for (unsigned int i = 0; i < MANY; i++) {
		struct ft_peer_config pc = { .endpoint = (struct sockaddr *)&ep, .ctx = &idx[i] };

		idx[i] = i;
		randombytes_buf(pc.public_key, sizeof(pc.public_key));
		ck_assert_int_eq(ft_proto_peer_add(p, &pc, &peer[i]), 0);
	}
	/* Idle: nothing armed, nothing to do, at any time. */
	ck_assert_uint_eq(ft_proto_next_deadline(p), 0);
	ck_assert_uint_eq(ft_proto_tick(p, 1000 * SEC), 0);

	for (int i = 0; i < 3; i++)
		ft_proto_peer_initiate(p, peer[busy[i]], t);
	ck_assert_uint_eq(initiations[busy[0]] + initiations[busy[1]] + initiations[busy[2]], 3);
	d = ft_proto_next_deadline(p);
	ck_assert_uint_ge(d, t + FT_REKEY_TIMEOUT_NS);
	ck_assert_uint_lt(d, t + FT_REKEY_TIMEOUT_NS + FT_REKEY_TIMEOUT_JITTER_MAX_NS);
	/* Removed while its retransmission is armed: it never fires (ASan: no use after free). */
	ft_proto_peer_remove(p, peer[busy[1]]);
	peer[busy[1]] = NULL;

	/* Every deadline until nothing is armed: the retries, the give-up, the key zeroing. */
	while ((d = ft_proto_next_deadline(p)) != 0) {
		ck_assert_uint_lt(++ticks, 200);
		ck_assert_uint_ge(d, t);
		t = d;
		ft_proto_tick(p, t);
	}
	ck_assert_uint_ge(t, 1 * SEC + FT_REKEY_ATTEMPT_TIME_NS + FT_ZERO_KEYS_AFTER_NS);
	for (unsigned int i = 0; i < MANY; i++) {
		if (i == busy[0] || i == busy[2])
			/* The first, then a retry per REKEY_TIMEOUT until given up. */
			ck_assert_uint_eq(initiations[i], 1 + FT_TIMERS_MAX_HANDSHAKES + 1);
		else if (i == busy[1])
			ck_assert_uint_eq(initiations[i], 1);
		else
			ck_assert_uint_eq(initiations[i], 0);
		/* The owner hears of the peers whose timers ran, of no other. */
		if (i == busy[0] || i == busy[2])
			ck_assert_uint_gt(ticked[i], FT_TIMERS_MAX_HANDSHAKES);
		else
			ck_assert_uint_eq(ticked[i], 0);
		visits += ticked[i];
	}
	ck_assert_uint_eq(other_sends, 0);
	ck_assert_uint_eq(ft_proto_counter_value(ft_proto_counters(p), FT_PROTO_handshake_given_up),
			  2);
	/* The two that acted visited the heap about once per retry each: no scan per tick. */
	ck_assert_uint_le(ticks, 2 * (FT_TIMERS_MAX_HANDSHAKES + 3));
	ck_assert_uint_le(visits, 2 * (FT_TIMERS_MAX_HANDSHAKES + 3));
	ft_proto_destroy(p);
}
END_TEST

static Suite *proto_idle_suite(void)
{
	Suite *s = suite_create("proto_idle");
	TCase *tc = tcase_create("lazy");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_idle_peer_holds_nothing);
	tcase_add_test(tc, test_queue_block);
	tcase_add_test(tc, test_first_session_no_memory);
	suite_add_tcase(s, tc);

	tc = tcase_create("timers");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_many_peers_few_timers);
	suite_add_tcase(s, tc);
	return s;
}

FT_CHECK_MAIN(proto_idle_suite, FT_CHECK_SODIUM)
