/* SPDX-License-Identifier: MIT */
#ifndef FT_TIMERS_H
#define FT_TIMERS_H

#include <stdbool.h>
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

struct ft_timers {
	uint64_t deadline[FT_TIMER_COUNT]; /* 0: not armed */
	uint32_t handshake_attempts;
	bool need_another_keepalive;
	bool sent_lastminute_handshake;
	uint32_t persistent_keepalive_s; /* 0: off */
	/*
	 * The owner's bound on the earliest deadline of all its peers (NULL: none kept):
	 * every arm lowers it, so the owner learns its next deadline without a scan over its
	 * peers. Disarming does not raise it; the owner recomputes it exactly when it ticks.
	 */
	uint64_t *earliest;
};

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
