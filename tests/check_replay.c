// SPDX-License-Identifier: MIT
/*
 * Replay window: sequences of counters, each with the verdict it must get, in the spirit of
 * the counter self-test of the Linux module (written anew here), plus a long random walk
 * checked against a naive model that remembers every counter.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "tun/wg/replay.h"

#define W ((uint64_t)FT_REPLAY_WINDOW)
/* REJECT_AFTER_MESSAGES of the WireGuard paper: 2^64 - 2^13 - 1. */
#define REJECT (UINT64_MAX - 8192)
#define X (UINT64_C(1) << 20) /* a multiple of the word size, far from the start */

struct step {
	uint64_t counter;
	bool fresh;
};

static const struct step seq_main[] = {
	{ 0, true },
	{ 1, true },
	{ 1, false }, /* duplicate */
	{ 9, true },  /* a gap */
	{ 8, true },  /* reordered inside the window */
	{ 7, true },
	{ 7, false },
	{ W, true },  /* now 0 sits exactly on the lower edge */
	{ 0, false }, /* on the edge, but seen */
	{ 2, true },  /* on the edge and never seen */
	{ W + 2, true },
	{ 1, false }, /* one below the edge */
	{ 3, true },
	{ 2, false },
	{ W + 3, true },
	{ 2, false },
	{ 4, true },
	{ 3 * W, true }, /* a jump of more than the window clears everything */
	{ 2 * W, true }, /* the new lower edge */
	{ 2 * W - 1, false },
	{ 3 * W, false },
	{ 3 * W - 1, true },
	{ 3 * W + 8192, true }, /* a jump of exactly the whole ring */
	{ 3 * W + 8192 - W, true },
	{ 3 * W, false },
	/* Around word boundaries (the bitmap is kept in 64-bit words, pos = counter + 1). */
	{ X + 62, true },
	{ X + 63, true },
	{ X + 64, true },
	{ X + 65, true },
	{ X + 64, false },
	{ X + 63, false },
	{ X + 62, false },
	{ X + 10, true },
	{ X + 127, true },
	{ X + 128, true },
	{ X + 126, true },
	{ X + 128, false },
	/* Several ring sizes at once: the whole ring is cleared, old counters stay rejected. */
	{ X + 5 * 8192 + 7, true },
	{ X + 65, false },
	{ X + 5 * 8192 + 6, true },
	{ X + 5 * 8192 + 7 - W, true },
	{ X + 5 * 8192 + 6 - W, false },
	/*
	 * Its bitmap word shares a ring slot with the word that held X + 126..X + 128 before
	 * the jump: it must have been cleared too.
	 */
	{ X + 5 * 8192 - 8064, true },
	/* Walk the window one word at a time: each word's bits come back cleared. */
	{ X + 5 * 8192 + 7 + 64, true },
	{ X + 5 * 8192 + 7 + 128, true },
	{ X + 5 * 8192 + 7 + 64 - 1, true },
	/* REJECT_AFTER_MESSAGES. */
	{ REJECT, false },
	{ REJECT + 1, false },
	{ UINT64_MAX, false },
	{ REJECT - 2, true },
	{ REJECT - 3, true },
	{ REJECT - 1, true },  /* the last counter a keypair may use */
	{ REJECT - 4, false }, /* in the window, but the keypair is spent */
	{ REJECT - 1, false },
};

/* A tiny reject_after: the limit applies to the counter and to the window's top. */
static const struct step seq_small_limit[] = {
	{ 10, false }, { 5, true }, { 8, true }, { 9, true }, { 6, false }, { 7, false },
};

/* Starting anywhere: the first counter may be large, then smaller ones inside the window. */
static const struct step seq_first_large[] = {
	{ 100000, true },     { 100000 - W, true },	{ 100000 - W - 1, false },
	{ 100000 - 1, true }, { 100000 - 8192, false }, { 100000 - W + 1, true },
};

static const struct {
	const char *name;
	const struct step *steps;
	size_t n;
	uint64_t reject_after;
} seqs[] = {
	{ "main", seq_main, sizeof(seq_main) / sizeof(seq_main[0]), REJECT },
	{ "small limit", seq_small_limit, sizeof(seq_small_limit) / sizeof(seq_small_limit[0]),
	  10 },
	{ "first large", seq_first_large, sizeof(seq_first_large) / sizeof(seq_first_large[0]),
	  REJECT },
};

START_TEST(test_sequences)
{
	struct ft_replay r;

	ft_replay_init(&r);
	for (size_t i = 0; i < seqs[_i].n; i++) {
		const struct step *s = &seqs[_i].steps[i];

		ck_assert_msg(ft_replay_check(&r, s->counter, seqs[_i].reject_after) == s->fresh,
			      "%s: step %zu: counter %llu: expected %s", seqs[_i].name, i,
			      (unsigned long long)s->counter, s->fresh ? "fresh" : "rejected");
	}
}
END_TEST

START_TEST(test_init_resets)
{
	struct ft_replay r;

	ft_replay_init(&r);
	ck_assert(ft_replay_check(&r, 5, REJECT));
	ck_assert(!ft_replay_check(&r, 5, REJECT));
	ft_replay_init(&r);
	ck_assert(ft_replay_check(&r, 5, REJECT));
	ck_assert(ft_replay_check(&r, 0, REJECT));
}
END_TEST

/* Every counter once, in order: all fresh, and none of them twice. */
START_TEST(test_in_order)
{
	struct ft_replay r;

	ft_replay_init(&r);
	for (uint64_t c = 0; c < 5 * 8192; c++)
		ck_assert(ft_replay_check(&r, c, REJECT));
	for (uint64_t c = 5 * 8192 - W; c < 5 * 8192; c++)
		ck_assert(!ft_replay_check(&r, c, REJECT));
}
END_TEST

/*
 * A random walk (fixed seed): forward jumps of every size and reordering back into and out
 * of the window, against a model that remembers every counter it accepted.
 */
START_TEST(test_random_against_model)
{
	enum { RANGE = 1 << 20 };
	uint8_t *seen = calloc(RANGE, 1);
	struct ft_replay r;
	uint64_t max = 0, c;
	bool any = false;
	unsigned int seed = 12345;

	ck_assert_ptr_nonnull(seen);
	ft_replay_init(&r);
	for (int i = 0; i < 400000; i++) {
		int kind = rand_r(&seed) % 8;
		bool want;

		if (kind == 0)
			c = max + (uint64_t)(rand_r(&seed) % 20000); /* forward, maybe far */
		else if (kind < 3)
			c = max + (uint64_t)(rand_r(&seed) % 70); /* forward, a word or so */
		else
			c = max - (uint64_t)(rand_r(&seed) % (max < 9000 ? max + 1 : 9000));
		if (c >= RANGE)
			break;
		want = !seen[c] && (!any || c + W >= max);
		ck_assert_msg(ft_replay_check(&r, c, REJECT) == want, "step %d: counter %llu", i,
			      (unsigned long long)c);
		if (want) {
			seen[c] = 1;
			if (!any || c > max)
				max = c;
			any = true;
		}
	}
	free(seen);
}
END_TEST

static Suite *replay_suite(void)
{
	Suite *s = suite_create("replay");
	TCase *tc = tcase_create("replay");

	tcase_add_loop_test(tc, test_sequences, 0, sizeof(seqs) / sizeof(seqs[0]));
	tcase_add_test(tc, test_init_resets);
	tcase_add_test(tc, test_in_order);
	tcase_add_test(tc, test_random_against_model);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(replay_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
