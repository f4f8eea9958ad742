/* SPDX-License-Identifier: MIT */
#ifndef FT_WG_RATELIMIT_H
#define FT_WG_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/*
 * Per-source rate limit of handshake messages under load, as the kernel's ratelimiter.c: a
 * token bucket per source address, FT_RATELIMIT_PER_SECOND messages a second with bursts of
 * FT_RATELIMIT_BURST, an IPv6 source keyed by its /64 (one host owns at least that much),
 * IPv4 by the address. The device asks only for messages whose mac2 (cookie) is valid, so a
 * source is an address that proved it receives at it, and only while under load.
 *
 * Bounded: at most max_entries sources are tracked (a fixed pool allocated at creation, no
 * allocation afterwards); a new source when the pool is full is refused, as the kernel does,
 * until entries idle for a second are collected (done by ft_ratelimit_allow() itself, at
 * most once a second, in one pass over the pool). The table is keyed with SipHash under a
 * random key of its own, so a sender cannot aim its addresses at one chain.
 *
 * No I/O, no clock: now_ns is CLOCK_MONOTONIC (or a test's). Not thread-safe: one per device.
 */
enum {
	FT_RATELIMIT_PER_SECOND = 20,
	FT_RATELIMIT_BURST = 5,
	FT_RATELIMIT_DEFAULT_ENTRIES = 65536,
};

struct ft_ratelimit;

/* max_entries 0: FT_RATELIMIT_DEFAULT_ENTRIES (at most 2^24). NULL when out of memory. */
struct ft_ratelimit *ft_ratelimit_create(size_t max_entries);
void ft_ratelimit_destroy(struct ft_ratelimit *rl);

/*
 * Whether one more message from src may go on now: true and a token spent, or false. A
 * source that is neither IPv4 nor IPv6 (NULL, another family) is refused.
 */
bool ft_ratelimit_allow(struct ft_ratelimit *rl, const struct sockaddr *src, uint64_t now_ns);

/* Forgets the sources idle for over a second (ft_ratelimit_allow does it once a second). */
void ft_ratelimit_gc(struct ft_ratelimit *rl, uint64_t now_ns);

/* The sources tracked now (tests, diagnostics). */
size_t ft_ratelimit_count(const struct ft_ratelimit *rl);

#endif
