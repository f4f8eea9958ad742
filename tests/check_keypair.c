// SPDX-License-Identifier: MIT
/*
 * Keypairs: transport encryption in place (padding, header, limits, tampering), the
 * current/previous/next rotation, the receiver-index table and the timer rules.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include <check.h>
#include <sodium.h>

#include "tun/wg/index.h"
#include "tun/wg/keypair.h"
#include "tun/wg/timers.h"

static uint32_t counter_rng_state;

/* A deterministic "random" index source: small consecutive numbers collide on purpose. */
static uint32_t test_rng(void *arg)
{
	(void)arg;
	return counter_rng_state++ % 5;
}

struct pair {
	struct ft_index_table *t;
	struct ft_keypair_set *a, *b; /* a initiated, b responded */
	struct ft_index_entry hs_a, hs_b;
};

static void pair_setup(struct pair *p)
{
	uint8_t k1[32], k2[32];

	memset(k1, 0x11, sizeof(k1));
	memset(k2, 0x22, sizeof(k2));
	counter_rng_state = 1000;
	p->t = ft_index_create();
	ck_assert_ptr_nonnull(p->t);
	p->a = sodium_malloc(sizeof(*p->a));
	p->b = sodium_malloc(sizeof(*p->b));
	ck_assert(p->a && p->b);
	ft_keypair_set_init(p->a);
	ft_keypair_set_init(p->b);
	memset(&p->hs_a, 0, sizeof(p->hs_a));
	memset(&p->hs_b, 0, sizeof(p->hs_b));
	p->hs_a.kind = p->hs_b.kind = FT_INDEX_HANDSHAKE;
	ft_index_insert(p->t, &p->hs_a, test_rng, NULL);
	ft_index_insert(p->t, &p->hs_b, test_rng, NULL);
	ck_assert_ptr_nonnull(
		ft_keypair_set_install(p->a, p->t, &p->hs_a, NULL, k1, k2, p->hs_b.index, true, 0));
	ck_assert_ptr_nonnull(ft_keypair_set_install(p->b, p->t, &p->hs_b, NULL, k2, k1,
						     p->a->current->entry.index, false, 0));
}

static void pair_teardown(struct pair *p)
{
	ft_keypair_set_clear(p->a, p->t);
	ft_keypair_set_clear(p->b, p->t);
	ck_assert_uint_eq(ft_index_count(p->t), 0);
	sodium_free(p->a);
	sodium_free(p->b);
	ft_index_destroy(p->t);
}

static const struct {
	size_t len, mtu, padded;
} sizes[] = {
	{ 0, 1420, 0 }, /* keepalive */
	{ 1, 1420, 16 },      { 15, 1420, 16 },	    { 16, 1420, 16 },
	{ 17, 1420, 32 },     { 1419, 1420, 1420 }, /* padding stops at the MTU */
	{ 1420, 1420, 1420 }, { 1413, 1420, 1420 }, { 1500, 1420, 1500 }, /* above the MTU */
	{ 64, 1420, 64 },     { 65, 0, 65 },				  /* mtu 0: no padding */
};

START_TEST(test_transport_sizes)
{
	struct pair p;
	uint8_t buf[2048], plain[1600];
	size_t out_len = 0, plain_len = 0, len = sizes[_i].len;

	pair_setup(&p);
	for (size_t i = 0; i < len; i++)
		plain[i] = (uint8_t)(i * 7 + 1);
	memset(buf, 0xaa, sizeof(buf));
	memcpy(buf + 16, plain, len);
	ck_assert_int_eq(ft_keypair_encrypt(p.b->next ? p.a->current : NULL, buf, len, sizeof(buf),
					    sizes[_i].mtu, 1, &out_len),
			 0);
	ck_assert_uint_eq(out_len, 32 + sizes[_i].padded);
	ck_assert_uint_eq(out_len, ft_keypair_message_len(len, sizes[_i].mtu));
	/* type 4, three zero bytes, receiver = b's index, counter 0 */
	ck_assert_uint_eq(buf[0], 4);
	ck_assert_uint_eq(buf[1] | buf[2] | buf[3], 0);
	ck_assert_uint_eq(ft_wire_load_le32(buf + 4), p.b->next->entry.index);
	ck_assert_uint_eq(ft_wire_load_le64(buf + 8), 0);
	ck_assert_int_eq(ft_keypair_decrypt(p.b->next, buf, out_len, 1, &plain_len), 0);
	ck_assert_uint_eq(plain_len, sizes[_i].padded);
	ck_assert_mem_eq(buf + 16, plain, len);
	for (size_t i = len; i < plain_len; i++)
		ck_assert_uint_eq(buf[16 + i], 0);
	pair_teardown(&p);
}
END_TEST

/* Every byte of a message matters: flipping any one is rejected with the right error. */
START_TEST(test_tamper_each_byte)
{
	struct pair p;
	uint8_t buf[128], copy[128];
	size_t out_len, plain_len;

	pair_setup(&p);
	memset(buf + 16, 0x5a, 40);
	ck_assert_int_eq(ft_keypair_encrypt(p.a->current, buf, 40, sizeof(buf), 1420, 1, &out_len),
			 0);
	memcpy(copy, buf, out_len);
	/* Bytes 0..7 (type, receiver) pick the keypair: the caller checks them, not decrypt. */
	for (size_t i = 8; i < out_len; i++) {
		memcpy(buf, copy, out_len);
		buf[i] ^= 0x01;
		ck_assert_int_eq(ft_keypair_decrypt(p.b->next, buf, out_len, 1, &plain_len),
				 -EBADMSG);
	}
	/* Truncated: below a keepalive, and a tag cut short. */
	memcpy(buf, copy, out_len);
	ck_assert_int_eq(ft_keypair_decrypt(p.b->next, buf, 31, 1, &plain_len), -EMSGSIZE);
	ck_assert_int_eq(ft_keypair_decrypt(p.b->next, buf, 0, 1, &plain_len), -EMSGSIZE);
	ck_assert_int_eq(ft_keypair_decrypt(p.b->next, buf, out_len - 1, 1, &plain_len), -EBADMSG);
	/* The original still decrypts once (failed attempts did not move the window), then not. */
	memcpy(buf, copy, out_len);
	ck_assert_int_eq(ft_keypair_decrypt(p.b->next, buf, out_len, 1, &plain_len), 0);
	memcpy(buf, copy, out_len);
	ck_assert_int_eq(ft_keypair_decrypt(p.b->next, buf, out_len, 1, &plain_len), -EALREADY);
	pair_teardown(&p);
}
END_TEST

/*
 * The AEAD as a job (Workers = N: run outside the lock): the same bytes as in one step, the
 * key copy wiped once run, and the acceptance refuses a job whose keypair left its slot while
 * it ran, even when a new keypair took the slot; replays and forgeries as in one step.
 */
START_TEST(test_aead_jobs)
{
	static const uint8_t zero[32];
	struct pair p;
	struct ft_aead_job job;
	uint8_t a[128], b[128], copy[128], k3[32], k4[32];
	size_t la = 0, lb = 0, plain_len = 0;
	struct ft_keypair *kp;
	struct ft_index_entry hs;

	pair_setup(&p);
	memset(a + 16, 0x5a, 40);
	memcpy(b, a, sizeof(a));
	/* a: in one step (counter 0); b: as a job, after a (counter 1), sealed later. */
	ck_assert_int_eq(ft_keypair_encrypt(p.a->current, a, 40, sizeof(a), 1420, 1, &la), 0);
	ck_assert_int_eq(ft_keypair_encrypt_job(p.a->current, b, 40, sizeof(b), 1420, 1, &lb, &job),
			 0);
	ck_assert_uint_eq(la, lb);
	ck_assert_uint_eq(ft_wire_load_le64(b + 8), 1);
	ck_assert_ptr_eq(job.payload, b + 16);
	ck_assert_uint_eq(job.len, 48);
	ck_assert_uint_eq(b[16], 0x5a); /* still plain */
	ft_aead_job_seal(&job);
	ck_assert_mem_eq(job.key, zero, 32);
	ck_assert_ptr_null(job.payload);
	/* Both open, as jobs, in either order; each once. */
	kp = p.b->next;
	memcpy(copy, b, lb);
	ck_assert_int_eq(ft_keypair_open_prepare(kp, b, lb, 1, &job), 0);
	ck_assert_int_eq(ft_keypair_open_finish(&job, ft_aead_job_open(&job), &plain_len), 0);
	ck_assert_mem_eq(job.key, zero, 32);
	ck_assert_uint_eq(plain_len, 48);
	ck_assert_uint_eq(b[16], 0x5a);
	ck_assert_int_eq(ft_keypair_decrypt(kp, a, la, 1, &plain_len), 0);
	memcpy(b, copy, lb);
	ck_assert_int_eq(ft_keypair_open_prepare(kp, b, lb, 1, &job), 0);
	ck_assert_int_eq(ft_keypair_open_finish(&job, ft_aead_job_open(&job), &plain_len),
			 -EALREADY);
	/* A forged one fails its open: the window does not move, the job says -EBADMSG. */
	ck_assert_int_eq(ft_keypair_encrypt(p.a->current, a, 40, sizeof(a), 1420, 1, &la), 0);
	memcpy(copy, a, la);
	a[20] ^= 1;
	ck_assert_int_eq(ft_keypair_open_prepare(kp, a, la, 1, &job), 0);
	ck_assert_int_eq(ft_keypair_open_finish(&job, ft_aead_job_open(&job), &plain_len),
			 -EBADMSG);
	memcpy(a, copy, la);
	ck_assert_int_eq(ft_keypair_decrypt(kp, a, la, 1, &plain_len), 0);
	ck_assert_int_eq(ft_keypair_open_prepare(kp, b, 31, 1, &job), -EMSGSIZE);
	/*
	 * Prepared, then b's keypairs rotate (a new handshake b answered, confirmed: the old one
	 * is released and a new keypair may take its slot) before the job is accepted.
	 */
	ck_assert_int_eq(ft_keypair_encrypt(p.a->current, a, 40, sizeof(a), 1420, 1, &la), 0);
	ck_assert_int_eq(ft_keypair_open_prepare(kp, a, la, 1, &job), 0);
	ck_assert_int_eq(ft_aead_job_open(&job), 0);
	memset(k3, 0x33, sizeof(k3));
	memset(k4, 0x44, sizeof(k4));
	ft_keypair_set_received(p.b, p.t, kp); /* kp is current now */
	for (int round = 0; round < 2; round++) {
		memset(&hs, 0, sizeof(hs));
		hs.kind = FT_INDEX_HANDSHAKE;
		ft_index_insert(p.t, &hs, test_rng, NULL);
		ck_assert_ptr_nonnull(
			ft_keypair_set_install(p.b, p.t, &hs, NULL, k3, k4, 7, false, 1));
		ft_keypair_set_received(p.b, p.t, p.b->next);
	}
	/* kp's slot was released and taken again: not the keypair the job was made for. */
	ck_assert(kp->in_use);
	ck_assert_int_eq(ft_keypair_open_finish(&job, 0, &plain_len), -EKEYEXPIRED);
	pair_teardown(&p);
}
END_TEST

START_TEST(test_limits)
{
	struct pair p;
	uint8_t buf[256];
	size_t out_len, plain_len;
	struct ft_keypair *a;

	pair_setup(&p);
	a = p.a->current;
	/* Not enough room for padding and tag. */
	ck_assert_int_eq(ft_keypair_encrypt(a, buf, 17, 16 + 32 + 15, 1420, 1, &out_len), -ENOBUFS);
	ck_assert_int_eq(ft_keypair_encrypt(a, buf, 0, 31, 1420, 1, &out_len), -ENOBUFS);
	ck_assert_int_eq(ft_keypair_encrypt(a, buf, 17, 16 + 32 + 16, 1420, 1, &out_len), 0);
	/* The last counter a keypair may use, then none. */
	a->send_counter = FT_REJECT_AFTER_MESSAGES - 1;
	ck_assert_int_eq(ft_keypair_encrypt(a, buf, 0, sizeof(buf), 1420, 1, &out_len), 0);
	ck_assert_uint_eq(ft_wire_load_le64(buf + 8), FT_REJECT_AFTER_MESSAGES - 1);
	ck_assert_int_eq(ft_keypair_decrypt(p.b->next, buf, out_len, 1, &plain_len), 0);
	ck_assert_int_eq(ft_keypair_encrypt(a, buf, 0, sizeof(buf), 1420, 1, &out_len),
			 -EKEYEXPIRED);
	/* The receiver's window reached the limit too: nothing more is accepted. */
	ck_assert_int_eq(ft_keypair_decrypt(p.b->next, buf, out_len, 1, &plain_len), -EKEYEXPIRED);
	pair_teardown(&p);

	/* REJECT_AFTER_TIME on both sides. */
	pair_setup(&p);
	ck_assert_int_eq(ft_keypair_encrypt(p.a->current, buf, 0, sizeof(buf), 1420,
					    FT_REJECT_AFTER_TIME_NS - 1, &out_len),
			 0);
	ck_assert_int_eq(ft_keypair_decrypt(p.b->next, buf, out_len, FT_REJECT_AFTER_TIME_NS,
					    &plain_len),
			 -EKEYEXPIRED);
	ck_assert_int_eq(ft_keypair_encrypt(p.a->current, buf, 0, sizeof(buf), 1420,
					    FT_REJECT_AFTER_TIME_NS, &out_len),
			 -EKEYEXPIRED);
	ck_assert(!ft_keypair_fresh(p.a->current, FT_REJECT_AFTER_TIME_NS, UINT64_MAX));
	pair_teardown(&p);
}
END_TEST

START_TEST(test_reorder_and_replay)
{
	struct pair p;
	enum { N = 40 };
	uint8_t msgs[N][64] = { { 0 } }, buf[64];
	size_t lens[N], plain_len;

	pair_setup(&p);
	for (int i = 0; i < N; i++)
		ck_assert_int_eq(ft_keypair_encrypt(p.a->current, msgs[i], 8, sizeof(msgs[i]), 1420,
						    1, &lens[i]),
				 0);
	/* Deliver in reverse order: all inside the window, all accepted; then none again. */
	for (int i = N - 1; i >= 0; i--) {
		memcpy(buf, msgs[i], lens[i]);
		ck_assert_int_eq(ft_keypair_decrypt(p.b->next, buf, lens[i], 2, &plain_len), 0);
	}
	for (int i = 0; i < N; i++) {
		memcpy(buf, msgs[i], lens[i]);
		ck_assert_int_eq(ft_keypair_decrypt(p.b->next, buf, lens[i], 2, &plain_len),
				 -EALREADY);
	}
	pair_teardown(&p);
}
END_TEST

/*
 * Rotation: each step installs a keypair as initiator ('I') or responder ('R'), or receives
 * on the keypair of the n-th install ('0' + n); then which step's keypair is current, previous and
 * next ('-': none, else the install's number) and how many indices are hashed.
 */
static const struct {
	const char *steps;
	const char *want; /* current, previous, next */
	uint32_t hashed;
} rotations[] = {
	{ "I", "0--", 1 },    { "II", "10-", 2 },   { "III", "21-", 2 },
	{ "R", "--0", 1 },    { "R0", "0--", 1 },   { "R0R", "0-1", 2 },
	{ "R0R1", "10-", 2 }, { "R0R0", "0-1", 2 }, /* receiving on current changes nothing */
	{ "IR", "0-1", 2 },   { "IRI", "21-", 2 }, /* unconfirmed next kept as previous, old current dropped */
	{ "IRR", "0-2", 2 }, /* a newer response replaces an unconfirmed next */
	{ "IIR2", "21-", 2 }, { "IIR1", "1-2", 2 }, /* receiving on current changes nothing */
};

START_TEST(test_rotation)
{
	struct ft_index_table *t = ft_index_create();
	struct ft_keypair_set *set = sodium_malloc(sizeof(*set));
	struct ft_keypair *made[16] = { 0 };
	uint32_t idx[16] = { 0 };
	uint8_t k[32] = { 1 };
	const char *s = rotations[_i].steps, *w = rotations[_i].want;
	struct ft_keypair *got[3];
	int n = 0;

	ft_keypair_set_init(set);
	for (; *s; s++) {
		if (*s == 'I' || *s == 'R') {
			struct ft_index_entry hs = { .kind = FT_INDEX_HANDSHAKE };

			ft_index_insert(t, &hs, test_rng, NULL);
			made[n] = ft_keypair_set_install(set, t, &hs, NULL, k, k, 7, *s == 'I', 0);
			ck_assert_ptr_nonnull(made[n]);
			ck_assert(!hs.hashed);
			idx[n] = made[n]->entry.index;
			ck_assert_ptr_eq(ft_index_lookup(t, idx[n], FT_INDEX_KEYPAIR)->keypair,
					 made[n]);
			ck_assert_ptr_null(ft_index_lookup(t, idx[n], FT_INDEX_HANDSHAKE));
			n++;
		} else {
			ft_keypair_set_received(set, t, made[*s - '0']);
		}
	}
	got[0] = set->current;
	got[1] = set->previous;
	got[2] = set->next;
	for (int i = 0; i < 3; i++) {
		if (w[i] == '-') {
			ck_assert_msg(got[i] == NULL, "%s: slot %d should be empty",
				      rotations[_i].steps, i);
			continue;
		}
		/* Slots are reused, so compare by the index each step's keypair got. */
		ck_assert_msg(got[i] && got[i]->entry.index == idx[w[i] - '0'],
			      "%s: slot %d should hold step %c", rotations[_i].steps, i, w[i]);
	}
	ck_assert_uint_eq(ft_index_count(t), rotations[_i].hashed);
	ft_keypair_set_clear(set, t);
	ck_assert_uint_eq(ft_index_count(t), 0);
	for (int i = 0; i < 3; i++)
		ck_assert(!set->slot[i].in_use && set->slot[i].send_key[0] == 0);
	sodium_free(set);
	ft_index_destroy(t);
}
END_TEST

START_TEST(test_index_table)
{
	struct ft_index_table *t = ft_index_create();
	struct ft_index_entry e[64], other = { .kind = FT_INDEX_KEYPAIR };

	counter_rng_state = 0;
	for (int i = 0; i < 5; i++) {
		e[i] = (struct ft_index_entry){ .kind = FT_INDEX_HANDSHAKE };
		ft_index_insert(t, &e[i], test_rng, NULL);
	}
	/* The source yields only 0..4: all five distinct despite the collisions. */
	for (int i = 0; i < 5; i++) {
		ck_assert_ptr_eq(ft_index_lookup(t, e[i].index, FT_INDEX_HANDSHAKE), &e[i]);
		ck_assert_ptr_null(ft_index_lookup(t, e[i].index, FT_INDEX_KEYPAIR));
		ck_assert_ptr_eq(ft_index_lookup(t, e[i].index,
						 FT_INDEX_KEYPAIR | FT_INDEX_HANDSHAKE),
				 &e[i]);
	}
	ck_assert_ptr_null(ft_index_lookup(t, 5, ~0u));
	ck_assert(ft_index_replace(t, &e[2], &other));
	ck_assert_ptr_eq(ft_index_lookup(t, other.index, FT_INDEX_KEYPAIR), &other);
	ck_assert(!e[2].hashed);
	ck_assert(!ft_index_replace(t, &e[2], &other));
	ft_index_remove(t, &e[2]); /* not hashed: a no-op */
	ck_assert_uint_eq(ft_index_count(t), 5);
	ft_index_remove(t, &other);
	ft_index_remove(t, &e[0]);
	ck_assert_uint_eq(ft_index_count(t), 3);
	ck_assert_ptr_null(ft_index_lookup(t, e[0].index, ~0u));
	ft_index_destroy(t);
}
END_TEST

/* Timer rules, with a fake clock. */
START_TEST(test_timers)
{
	struct ft_timers t;
	const uint64_t s = FT_NSEC_PER_SEC;

	ft_timers_init(&t, 25);
	ck_assert_uint_eq(ft_timers_next(&t), 0);
	ck_assert_uint_eq(ft_timers_expired(&t, UINT64_MAX), 0);

	ft_timers_data_sent(&t, 100 * s, 7);
	ck_assert_uint_eq(ft_timers_next(&t), 115 * s + 7);
	ft_timers_data_sent(&t, 101 * s, 0); /* already armed: unchanged */
	ck_assert_uint_eq(ft_timers_next(&t), 115 * s + 7);
	ft_timers_any_authenticated_packet_received(&t);
	ck_assert_uint_eq(ft_timers_next(&t), 0);

	ft_timers_data_received(&t, 100 * s);
	ft_timers_data_received(&t, 101 * s);
	ck_assert(t.need_another_keepalive);
	ck_assert_uint_eq(ft_timers_expired(&t, 110 * s - 1), 0);
	ck_assert_uint_eq(ft_timers_expired(&t, 110 * s), 1u << FT_TIMER_SEND_KEEPALIVE);
	ck_assert_uint_eq(ft_timers_expired(&t, 110 * s), 0); /* disarmed when reported */
	ft_timers_data_received(&t, 111 * s);
	ft_timers_any_authenticated_packet_sent(&t);
	ck_assert(!ft_timers_armed(&t, FT_TIMER_SEND_KEEPALIVE));

	ft_timers_any_authenticated_packet_traversal(&t, 200 * s);
	ck_assert_uint_eq(ft_timers_next(&t), 225 * s);
	ft_timers_handshake_initiated(&t, 200 * s, 333 * FT_NSEC_PER_MSEC);
	ck_assert_uint_eq(ft_timers_next(&t), 205 * s + 333 * FT_NSEC_PER_MSEC);
	ft_timers_session_derived(&t, 200 * s);
	ck_assert_uint_eq(ft_timers_expired(&t, 300 * s),
			  1u << FT_TIMER_RETRANSMIT_HANDSHAKE |
				  1u << FT_TIMER_PERSISTENT_KEEPALIVE);
	ck_assert_uint_eq(ft_timers_next(&t), 740 * s);
	ft_timers_handshake_complete(&t);
	ft_timers_stop(&t);
	ck_assert_uint_eq(ft_timers_next(&t), 0);

	/* Persistent keepalive off: traversal arms nothing. A deadline of 0 still counts. */
	ft_timers_init(&t, 0);
	ft_timers_any_authenticated_packet_traversal(&t, 5 * s);
	ck_assert_uint_eq(ft_timers_next(&t), 0);
	ft_timers_arm(&t, FT_TIMER_NEW_HANDSHAKE, 0);
	ck_assert(ft_timers_armed(&t, FT_TIMER_NEW_HANDSHAKE));
	ck_assert_uint_eq(ft_timers_expired(&t, 1), 1u << FT_TIMER_NEW_HANDSHAKE);
}
END_TEST

/*
 * The owner's heap (ft_proto_next_deadline and ft_proto_tick without a scan): every arm on
 * any of the peers lowers its key at once, a disarm leaves it early, never late, and settling
 * makes it exact again or takes the peer out.
 */
START_TEST(test_timers_heap_bound)
{
	struct ft_timer_heap h = { 0 };
	struct ft_timers a, b;
	const uint64_t s = FT_NSEC_PER_SEC;

	ft_timers_init(&a, 25);
	ft_timers_init(&b, 0);
	ck_assert_int_eq(ft_timer_heap_reserve(&h, 2), 0);
	ft_timers_attach(&a, &h);
	ft_timers_attach(&b, &h);
	ck_assert_uint_eq(ft_timer_heap_next(&h), 0); /* nothing armed: an empty heap */
	ft_timers_data_sent(&a, 100 * s, 0);
	ck_assert_uint_eq(ft_timer_heap_next(&h), 115 * s);
	ft_timers_handshake_initiated(&b, 101 * s, 0);
	ck_assert_uint_eq(ft_timer_heap_next(&h), 106 * s);
	ft_timers_any_authenticated_packet_traversal(&a, 200 * s); /* later: bound unchanged */
	ck_assert_uint_eq(ft_timer_heap_next(&h), 106 * s);
	ck_assert_uint_le(ft_timer_heap_next(&h), ft_timers_next(&a));
	ck_assert_uint_le(ft_timer_heap_next(&h), ft_timers_next(&b));
	ft_timers_handshake_complete(&b); /* a disarm may leave the bound early, never late */
	ck_assert_uint_eq(ft_timer_heap_next(&h), 106 * s);
	ck_assert_ptr_null(ft_timer_heap_due(&h, 106 * s - 1));
	ck_assert_ptr_eq(ft_timer_heap_due(&h, 106 * s), &b);
	ft_timer_heap_settle(&b, 106 * s); /* nothing armed on b: out of the heap */
	ck_assert_uint_eq(b.heap_key, 0);
	ck_assert_uint_eq(ft_timer_heap_next(&h), 115 * s);
	ft_timers_arm(&a, FT_TIMER_NEW_HANDSHAKE, 0); /* deadline 0 is 1: still a bound */
	ck_assert_uint_eq(ft_timer_heap_next(&h), 1);
	ft_timers_detach(&a);
	ck_assert_uint_eq(ft_timer_heap_next(&h), 0);
	ft_timers_arm(&a, FT_TIMER_NEW_HANDSHAKE, 5); /* detached: no heap to tell */
	ck_assert_uint_eq(ft_timer_heap_next(&h), 0);
	ft_timer_heap_free(&h);
}
END_TEST

/*
 * Many entries: only the due ones come out, earliest first, each once per tick; removal of
 * armed entries anywhere in the heap; a re-arm moves an entry up or (settled) down.
 */
START_TEST(test_timers_heap_many)
{
	enum { N = 1000 };
	static struct ft_timers t[N];
	static bool seen[N];
	struct ft_timer_heap h = { 0 };
	struct ft_timers *e;
	uint64_t last = 0, now;
	unsigned int n_due = 0, n_out = 0;

	ck_assert_int_eq(ft_timer_heap_reserve(&h, N), 0);
	ck_assert_uint_ge(h.cap, N);
	for (int i = 0; i < N; i++) {
		ft_timers_init(&t[i], 0);
		ft_timers_attach(&t[i], &h);
		/* A scrambled order of deadlines 1000 + 7i mod N (7 is prime to 1000), even i only. */
		if (i % 2 == 0)
			ft_timers_arm(&t[i], FT_TIMER_SEND_KEEPALIVE,
				      1000 + (uint64_t)((i * 7) % N));
	}
	ck_assert_uint_eq(h.n, N / 2);
	/* Out while armed: every tenth of the armed ones, from anywhere in the heap. */
	for (int i = 0; i < N; i += 20)
		ft_timers_detach(&t[i]);
	ck_assert_uint_eq(h.n, N / 2 - N / 20);
	/* One disarmed (lazy: still in the heap, settled away when it comes due). */
	ft_timers_disarm(&t[2], FT_TIMER_SEND_KEEPALIVE);

	now = 1000 + N / 2; /* about half the deadlines are due */
	while ((e = ft_timer_heap_due(&h, now))) {
		int i = (int)(e - t);
		unsigned int mask = ft_timers_expired(e, now);

		ck_assert(i >= 0 && i < N && i % 2 == 0 && i % 20 != 0);
		ck_assert(!seen[i]);
		seen[i] = true;
		ck_assert_uint_ge(e->heap_key, last);
		last = e->heap_key;
		ck_assert_uint_le(e->heap_key, now);
		if (i == 2) {
			ck_assert_uint_eq(mask, 0);
		} else {
			ck_assert_uint_eq(mask, 1u << FT_TIMER_SEND_KEEPALIVE);
			n_due++;
		}
		/* Every third re-arms at now: settled to now + 1, not visited again this tick. */
		if (n_due % 3 == 0)
			ft_timers_arm(e, FT_TIMER_SEND_KEEPALIVE, now);
		else
			n_out++;
		ft_timer_heap_settle(e, now);
	}
	/* Exactly the armed, attached deadlines <= now fired. */
	for (int i = 0; i < N; i++) {
		bool due = i % 2 == 0 && i % 20 != 0 && 1000 + (uint64_t)((i * 7) % N) <= now;

		ck_assert_int_eq(seen[i], due);
	}
	ck_assert_uint_eq(ft_timer_heap_next(&h), now + 1);
	for (int i = 0; i < N; i++)
		ft_timers_detach(&t[i]);
	ck_assert_uint_eq(h.n, 0);
	ck_assert_uint_gt(n_due, 100);
	ck_assert_uint_gt(n_out, 50);
	ft_timer_heap_free(&h);
}
END_TEST

static Suite *keypair_suite(void)
{
	Suite *s = suite_create("keypair");
	TCase *tc = tcase_create("keypair");

	tcase_add_loop_test(tc, test_transport_sizes, 0, sizeof(sizes) / sizeof(sizes[0]));
	tcase_add_test(tc, test_tamper_each_byte);
	tcase_add_test(tc, test_aead_jobs);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_reorder_and_replay);
	tcase_add_loop_test(tc, test_rotation, 0, sizeof(rotations) / sizeof(rotations[0]));
	tcase_add_test(tc, test_index_table);
	tcase_add_test(tc, test_timers);
	tcase_add_test(tc, test_timers_heap_bound);
	tcase_add_test(tc, test_timers_heap_many);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	if (sodium_init() < 0)
		return 1;
	sr = srunner_create(keypair_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
