// SPDX-License-Identifier: MIT
/*
 * Anti-replay window after RFC 6479 (appendix "sliding window without bit shifting"): the
 * bitmap is a ring of words; moving the window forward only clears the words it passes, so
 * the cost of a check does not depend on how far the counter jumped.
 */
#include "config.h"

#include <string.h>

#include "tun/wg/replay.h"

_Static_assert((FT_REPLAY_WORDS & (FT_REPLAY_WORDS - 1)) == 0, "ring of 2^n words");

void ft_replay_init(struct ft_replay *r)
{
	memset(r, 0, sizeof(*r));
}

bool ft_replay_check(struct ft_replay *r, uint64_t counter, uint64_t reject_after)
{
	uint64_t pos, word, cur_word, bit, n;

	if (counter >= reject_after || r->next >= reject_after)
		return false;
	/*
	 * Work on counter + 1 so that r->next == 0 can mean "nothing yet" and counter 0 is
	 * still accepted; reject_after is below 2^64 - 1, so this cannot wrap.
	 */
	pos = counter + 1;
	if (pos + FT_REPLAY_WINDOW < r->next)
		return false; /* older than the window */
	word = pos / FT_REPLAY_WORD_BITS;
	if (pos > r->next) {
		cur_word = r->next / FT_REPLAY_WORD_BITS;
		n = word - cur_word;
		if (n > FT_REPLAY_WORDS)
			n = FT_REPLAY_WORDS;
		/* The words between the old top and the new one hold bits of counters long gone. */
		for (uint64_t i = 1; i <= n; i++)
			r->bitmap[(cur_word + i) & (FT_REPLAY_WORDS - 1)] = 0;
		r->next = pos;
	}
	word &= FT_REPLAY_WORDS - 1;
	bit = UINT64_C(1) << (pos & (FT_REPLAY_WORD_BITS - 1));
	if (r->bitmap[word] & bit)
		return false;
	r->bitmap[word] |= bit;
	return true;
}
