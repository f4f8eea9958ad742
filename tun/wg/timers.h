/* SPDX-License-Identifier: MIT */
#ifndef FT_TIMERS_H
#define FT_TIMERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The per-peer protocol timers as deadlines on the caller's clock (CLOCK_MONOTONIC ns): the
 * events below arm and disarm them, ft_timers_expired() reports which are due, and the
 * protocol device (send.c) does what each one means. No clock is read here and nothing
 * sleeps, so every rule can be tested with a fake clock. The list of timers and what arms
 * them is at the top of timers.c. Loop thread only.
 */
enum ft_timer {
	FT_TIMER_RETRANSMIT_HANDSHAKE,
	FT_TIMER_SEND_KEEPALIVE,
	FT_TIMER_NEW_HANDSHAKE,
	FT_TIMER_ZERO_KEY_MATERIAL,
	FT_TIMER_PERSISTENT_KEEPALIVE,
	FT_TIMER_COUNT,
};

/* REKEY_ATTEMPT_TIME / REKEY_TIMEOUT: retries before a handshake is given up. */
enum { FT_TIMERS_MAX_HANDSHAKES = 18 };

struct ft_timer_heap;

struct ft_timers {
	uint64_t deadline[FT_TIMER_COUNT]; /* 0: not armed */
	uint32_t handshake_attempts;
	bool need_another_keepalive;
	bool sent_lastminute_handshake;
	uint32_t persistent_keepalive_s; /* 0: off */
	/*
	 * The owner's heap these timers are in (NULL: none, see struct ft_timer_heap), their key
	 * there (a bound on the earliest armed deadline; 0: not in the heap) and position.
	 */
	struct ft_timer_heap *heap;
	uint64_t heap_key;
	uint32_t heap_pos;
};

/*
 * The owner's timers of all its peers as a binary min-heap of struct ft_timers by heap_key,
 * so that a tick visits only the peers with a due deadline (O(log n) each), not every peer.
 * Lazy: an arm earlier than the key lowers it at once (O(log n)); a disarm leaves it early,
 * and the owner settles the entry (ft_timer_heap_settle) when it comes due, to its exact
 * next deadline or out of the heap. Each timers struct is in the heap at most once.
 *
 * The heap never allocates while timers are armed (the packet path arms them): its owner
 * reserves a slot per attached timers struct beforehand (ft_timer_heap_reserve, e.g. at
 * peer add), and attach and arm rely on it. Loop thread only.
 */
struct ft_timer_heap {
	struct ft_timers **v;
	uint32_t n, cap;
};

/* Room for n entries in all (0 or -ENOMEM); free releases the array (entries stay valid). */
int ft_timer_heap_reserve(struct ft_timer_heap *h, size_t n);
void ft_timer_heap_free(struct ft_timer_heap *h);
/*
 * attach puts t under h: its deadlines armed from now on (and those armed already) enter the
 * heap; detach takes it out (peer removed). The caller reserved a slot for it.
 */
void ft_timers_attach(struct ft_timers *t, struct ft_timer_heap *h);
void ft_timers_detach(struct ft_timers *t);
/* The entry with the earliest key when that key is due at now_ns, else NULL. */
struct ft_timers *ft_timer_heap_due(const struct ft_timer_heap *h, uint64_t now_ns);
/*
 * After the owner acted on t's expired timers: its key becomes its exact next deadline, no
 * earlier than now_ns + 1 (so that one tick visits an entry once), or t leaves the heap
 * when nothing is armed.
 */
void ft_timer_heap_settle(struct ft_timers *t, uint64_t now_ns);
/* The earliest key: never later than any armed deadline; 0 when the heap is empty. */
uint64_t ft_timer_heap_next(const struct ft_timer_heap *h);

void ft_timers_init(struct ft_timers *t, uint32_t persistent_keepalive_s);

/* Events; jitter_ns is a random value in [0, FT_REKEY_TIMEOUT_JITTER_MAX_NS). */
void ft_timers_data_sent(struct ft_timers *t, uint64_t now_ns, uint64_t jitter_ns);
void ft_timers_data_received(struct ft_timers *t, uint64_t now_ns);
void ft_timers_any_authenticated_packet_sent(struct ft_timers *t);
void ft_timers_any_authenticated_packet_received(struct ft_timers *t);
void ft_timers_any_authenticated_packet_traversal(struct ft_timers *t, uint64_t now_ns);
void ft_timers_handshake_initiated(struct ft_timers *t, uint64_t now_ns, uint64_t jitter_ns);
void ft_timers_handshake_complete(struct ft_timers *t);
void ft_timers_session_derived(struct ft_timers *t, uint64_t now_ns);
/* Disarms every timer (peer removed, or its keys zeroed). */
void ft_timers_stop(struct ft_timers *t);

void ft_timers_arm(struct ft_timers *t, enum ft_timer which, uint64_t deadline_ns);
void ft_timers_disarm(struct ft_timers *t, enum ft_timer which);
bool ft_timers_armed(const struct ft_timers *t, enum ft_timer which);

/* A mask of (1 << enum ft_timer) of the timers due at now_ns; they are disarmed. */
unsigned int ft_timers_expired(struct ft_timers *t, uint64_t now_ns);
/* The earliest armed deadline, or 0 when none is armed. */
uint64_t ft_timers_next(const struct ft_timers *t);

#endif
