/* SPDX-License-Identifier: MIT */
#ifndef FT_REPLAY_H
#define FT_REPLAY_H

#include <stdbool.h>
#include <stdint.h>

/*
 * The anti-replay window of one receiving keypair: an RFC 6479 ring of bitmap words.
 * FT_REPLAY_WINDOW_BITS bits are kept, of which one word is the slack the ring needs to
 * advance, so any counter within FT_REPLAY_WINDOW (8128) of the highest one accepted so far
 * is accepted once, in any order. Loop thread only; no allocation.
 */
enum {
	FT_REPLAY_WINDOW_BITS = 8192,
	FT_REPLAY_WORD_BITS = 64,
	FT_REPLAY_WORDS = FT_REPLAY_WINDOW_BITS / FT_REPLAY_WORD_BITS,
	FT_REPLAY_WINDOW = FT_REPLAY_WINDOW_BITS - FT_REPLAY_WORD_BITS,
};

struct ft_replay {
	uint64_t next;			  /* highest counter accepted, plus one; 0: none yet */
	uint64_t bitmap[FT_REPLAY_WORDS]; /* bit (c + 1) % BITS set: counter c seen */
};

void ft_replay_init(struct ft_replay *r);
/*
 * True when counter is fresh: below reject_after, inside the window and not seen before; it
 * is then marked as seen. Call it only after the packet has been authenticated, or a forged
 * counter would move the window.
 */
bool ft_replay_check(struct ft_replay *r, uint64_t counter, uint64_t reject_after);

#endif
