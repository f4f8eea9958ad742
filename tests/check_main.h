/* SPDX-License-Identifier: MIT */
#ifndef FT_CHECK_MAIN_H
#define FT_CHECK_MAIN_H

/*
 * The main() of every Check suite, written once. A suite file builds its Suite in a function
 * and ends with
 *
 *	FT_CHECK_MAIN(packet_suite, 0)
 *	FT_CHECK_MAIN(noise_suite, FT_CHECK_SODIUM)      (sodium_init() first)
 *
 * or, when it must do more around the run, calls ft_check_main() from a main() of its own.
 *
 * One suite file holds one suite and several named test cases (TCase), so a single case runs
 * by its name through Check's own environment variables:
 *
 *	CK_RUN_CASE=limits tests/check_packet        one case
 *	CK_RUN_SUITE=packet tests/check_packet       one suite (all its cases)
 *	CK_FORK=no CK_RUN_CASE=... gdb tests/check_x  in this process, for a debugger
 *	CK_VERBOSITY=verbose                          every test's result, not only the failures
 *
 * A name that matches nothing runs nothing: the summary line says "0%: Checks: 0".
 */
#include <check.h>
#include <sodium.h>
#include <stdlib.h>

enum {
	FT_CHECK_SODIUM = 1 << 0, /* sodium_init() before the suite is built */
	FT_CHECK_FORK = 1 << 1,	  /* a process per test even under CK_FORK=no */
};

/*
 * Builds the suite with make() after the set-up flags asks for, runs it, frees it, then calls
 * after() (NULL: nothing), for what a test left in this process under CK_FORK=no. Returns
 * EXIT_SUCCESS when every test passed, EXIT_FAILURE otherwise.
 */
static inline int ft_check_main(Suite *(*make)(void), unsigned int flags, void (*after)(void))
{
	SRunner *sr;
	int failed;

	if ((flags & FT_CHECK_SODIUM) && sodium_init() < 0)
		return EXIT_FAILURE;
	sr = srunner_create(make());
	if (flags & FT_CHECK_FORK)
		srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	if (after)
		after();
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#define FT_CHECK_MAIN(make, flags)                           \
	int main(void)                                       \
	{                                                    \
		return ft_check_main((make), (flags), NULL); \
	}

#endif
