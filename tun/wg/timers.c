// SPDX-License-Identifier: MIT
/*
 * The timers of one peer (paper, section 6), as deadlines; send.c acts on them (peer_tick).
 *
 * retransmit_handshake  armed REKEY_TIMEOUT + jitter after an initiation is sent;
 *                       disarmed when a handshake completes. On expiry: resend the
 *                       initiation, or after FT_TIMERS_MAX_HANDSHAKES retries (about
 *                       REKEY_ATTEMPT_TIME) give up: drop the queued packets, stop the
 *                       keepalive and make sure zero_key_material is armed.
 * send_keepalive        armed KEEPALIVE_TIMEOUT after a data packet is received, unless
 *                       already armed (then one more keepalive is owed after it);
 *                       disarmed by any authenticated packet sent. On expiry: send a
 *                       keepalive, and re-arm if another one is owed.
 * new_handshake         armed KEEPALIVE_TIMEOUT + REKEY_TIMEOUT + jitter after a data
 *                       packet is sent, unless already armed; disarmed by any
 *                       authenticated packet received. On expiry (we talk, the peer is
 *                       silent): start a new handshake.
 * zero_key_material     armed 3 * REJECT_AFTER_TIME after a session is derived. On expiry:
 *                       wipe every keypair and the handshake state of the peer.
 * persistent_keepalive  re-armed persistent_keepalive_s after every authenticated packet
 *                       sent or received, when the option is on. On expiry: send a
 *                       keepalive (which re-arms it).
 *
 * Besides these, the send and receive paths start handshakes themselves: the initiator
 * after REKEY_AFTER_TIME or REKEY_AFTER_MESSAGES when sending, and once more when receiving
 * on a keypair close to REJECT_AFTER_TIME (sent_lastminute_handshake), and initiations are
 * never sent less than REKEY_TIMEOUT apart.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tun/wg/timers.h"
#include "tun/wg/wire.h"

void ft_timers_init(struct ft_timers *t, uint32_t persistent_keepalive_s)
{
	/* Not in a heap: an owner re-initialising an attached t detaches it first. */
	memset(t, 0, sizeof(*t));
	t->persistent_keepalive_s = persistent_keepalive_s;
}

/* ---- the owner's heap ---- */

static void heap_place(struct ft_timer_heap *h, uint32_t i, struct ft_timers *t)
{
	h->v[i] = t;
	t->heap_pos = i;
}

static void sift_up(struct ft_timer_heap *h, uint32_t i)
{
	struct ft_timers *t = h->v[i];

	while (i > 0) {
		uint32_t parent = (i - 1) / 2;

		if (h->v[parent]->heap_key <= t->heap_key)
			break;
		heap_place(h, i, h->v[parent]);
		i = parent;
	}
	heap_place(h, i, t);
}

static void sift_down(struct ft_timer_heap *h, uint32_t i)
{
	struct ft_timers *t = h->v[i];

	for (;;) {
		uint32_t c = 2 * i + 1;

		if (c >= h->n)
			break;
		if (c + 1 < h->n && h->v[c + 1]->heap_key < h->v[c]->heap_key)
			c++;
		if (t->heap_key <= h->v[c]->heap_key)
			break;
		heap_place(h, i, h->v[c]);
		i = c;
	}
	heap_place(h, i, t);
}

/* Sets t's key (0: out of the heap) and restores the heap order. */
static void heap_set_key(struct ft_timers *t, uint64_t key)
{
	struct ft_timer_heap *h = t->heap;
	uint32_t i;

	if (!t->heap_key) {
		if (!key)
			return;
		/* ft_timer_heap_reserve() made room for every attached entry. */
		assert(h->n < h->cap);
		t->heap_key = key;
		heap_place(h, h->n++, t);
		sift_up(h, t->heap_pos);
		return;
	}
	i = t->heap_pos;
	if (!key) {
		struct ft_timers *last = h->v[--h->n];

		t->heap_key = 0;
		if (last == t)
			return;
		heap_place(h, i, last);
		sift_down(h, i);
		sift_up(h, last->heap_pos);
		return;
	}
	if (key < t->heap_key) {
		t->heap_key = key;
		sift_up(h, i);
	} else {
		t->heap_key = key;
		sift_down(h, i);
	}
}

int ft_timer_heap_reserve(struct ft_timer_heap *h, size_t n)
{
	struct ft_timers **v;
	size_t cap = h->cap ? h->cap : 16;

	if (n <= h->cap)
		return 0;
	if (n > UINT32_MAX)
		return -ENOMEM;
	while (cap < n)
		cap = cap * 2 > UINT32_MAX ? UINT32_MAX : cap * 2;
	v = realloc(h->v, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	h->v = v;
	h->cap = (uint32_t)cap;
	return 0;
}

void ft_timer_heap_free(struct ft_timer_heap *h)
{
	free(h->v);
	memset(h, 0, sizeof(*h));
}

void ft_timers_attach(struct ft_timers *t, struct ft_timer_heap *h)
{
	t->heap = h;
	t->heap_key = 0;
	heap_set_key(t, ft_timers_next(t));
}

void ft_timers_detach(struct ft_timers *t)
{
	if (t->heap)
		heap_set_key(t, 0);
	t->heap = NULL;
}

struct ft_timers *ft_timer_heap_due(const struct ft_timer_heap *h, uint64_t now_ns)
{
	return h->n && h->v[0]->heap_key <= now_ns ? h->v[0] : NULL;
}

void ft_timer_heap_settle(struct ft_timers *t, uint64_t now_ns)
{
	uint64_t next = ft_timers_next(t);

	if (t->heap)
		heap_set_key(t, next && next <= now_ns ? now_ns + 1 : next);
}

uint64_t ft_timer_heap_next(const struct ft_timer_heap *h)
{
	return h->n ? h->v[0]->heap_key : 0;
}

/* ---- one peer's timers ---- */

void ft_timers_arm(struct ft_timers *t, enum ft_timer which, uint64_t deadline_ns)
{
	/* 0 means "not armed", so a deadline at time 0 is moved by one nanosecond. */
	t->deadline[which] = deadline_ns ? deadline_ns : 1;
	/* Earlier than the key: lowered now; later ones wait for the settle at the key. */
	if (t->heap && (!t->heap_key || t->deadline[which] < t->heap_key))
		heap_set_key(t, t->deadline[which]);
}

void ft_timers_disarm(struct ft_timers *t, enum ft_timer which)
{
	t->deadline[which] = 0;
}

bool ft_timers_armed(const struct ft_timers *t, enum ft_timer which)
{
	return t->deadline[which] != 0;
}

void ft_timers_data_sent(struct ft_timers *t, uint64_t now_ns, uint64_t jitter_ns)
{
	if (!ft_timers_armed(t, FT_TIMER_NEW_HANDSHAKE))
		ft_timers_arm(t, FT_TIMER_NEW_HANDSHAKE,
			      now_ns + FT_KEEPALIVE_TIMEOUT_NS + FT_REKEY_TIMEOUT_NS + jitter_ns);
}

void ft_timers_data_received(struct ft_timers *t, uint64_t now_ns)
{
	if (!ft_timers_armed(t, FT_TIMER_SEND_KEEPALIVE))
		ft_timers_arm(t, FT_TIMER_SEND_KEEPALIVE, now_ns + FT_KEEPALIVE_TIMEOUT_NS);
	else
		t->need_another_keepalive = true;
}

void ft_timers_any_authenticated_packet_sent(struct ft_timers *t)
{
	ft_timers_disarm(t, FT_TIMER_SEND_KEEPALIVE);
}

void ft_timers_any_authenticated_packet_received(struct ft_timers *t)
{
	ft_timers_disarm(t, FT_TIMER_NEW_HANDSHAKE);
}

void ft_timers_any_authenticated_packet_traversal(struct ft_timers *t, uint64_t now_ns)
{
	if (t->persistent_keepalive_s)
		ft_timers_arm(t, FT_TIMER_PERSISTENT_KEEPALIVE,
			      now_ns + (uint64_t)t->persistent_keepalive_s * FT_NSEC_PER_SEC);
}

void ft_timers_handshake_initiated(struct ft_timers *t, uint64_t now_ns, uint64_t jitter_ns)
{
	ft_timers_arm(t, FT_TIMER_RETRANSMIT_HANDSHAKE, now_ns + FT_REKEY_TIMEOUT_NS + jitter_ns);
}

void ft_timers_handshake_complete(struct ft_timers *t)
{
	ft_timers_disarm(t, FT_TIMER_RETRANSMIT_HANDSHAKE);
	t->handshake_attempts = 0;
	t->sent_lastminute_handshake = false;
}

void ft_timers_session_derived(struct ft_timers *t, uint64_t now_ns)
{
	ft_timers_arm(t, FT_TIMER_ZERO_KEY_MATERIAL, now_ns + FT_ZERO_KEYS_AFTER_NS);
}

void ft_timers_stop(struct ft_timers *t)
{
	for (int i = 0; i < FT_TIMER_COUNT; i++)
		t->deadline[i] = 0;
	t->need_another_keepalive = false;
}

unsigned int ft_timers_expired(struct ft_timers *t, uint64_t now_ns)
{
	unsigned int mask = 0;

	for (int i = 0; i < FT_TIMER_COUNT; i++) {
		if (t->deadline[i] && t->deadline[i] <= now_ns) {
			t->deadline[i] = 0;
			mask |= 1u << i;
		}
	}
	return mask;
}

uint64_t ft_timers_next(const struct ft_timers *t)
{
	uint64_t next = 0;

	for (int i = 0; i < FT_TIMER_COUNT; i++)
		if (t->deadline[i] && (!next || t->deadline[i] < next))
			next = t->deadline[i];
	return next;
}
