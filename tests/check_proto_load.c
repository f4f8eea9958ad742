// SPDX-License-Identifier: MIT
/*
 * The device under load against one sender with a valid cookie: the per-source rate limit of
 * handshake messages (tun/wg/ratelimit.h), as the kernel applies it after mac2.
 */
#include "config.h"

#include <string.h>

#include <check.h>
#include <sodium.h>

#include "tests/check_main.h"
#include "tests/proto-harness.h"
#include "tun/wg/ratelimit.h"
#include "tun/wg/wire.h"

/* Sends msg to B n times from A's address at now; counts what the device did with them. */
static void replay_to_b(const uint8_t *msg, size_t len, int n, unsigned int *done)
{
	for (int k = 0; k < n; k++) {
		uint8_t copy[FT_WIRE_INITIATION_LEN];
		struct ft_proto_result res;

		ck_assert_uint_eq(len, sizeof(copy));
		memcpy(copy, msg, len); /* the device works in place */
		if (ft_proto_receive(S[1].p, copy, len, (struct sockaddr *)&S[0].addr, now, &res) ==
		    FT_PROTO_DONE)
			(*done)++;
		nwire = 0; /* B's answers, if any: not delivered */
	}
}

START_TEST(test_ratelimit_under_load)
{
	uint8_t init[FT_WIRE_INITIATION_LEN];
	unsigned int done = 0;
	uint64_t stale0, limited0;

	pair_up(NULL, NULL, 0, true, false);
	/* B under load: A's first initiation gets a cookie reply, A takes the cookie. */
	flood_initiations(1, FT_PROTO_LOAD_INITIATIONS + 1);
	ck_assert_int_eq(send_ip(0, 10), FT_PROTO_QUEUED);
	deliver();
	ck_assert_uint_eq(counter(0, FT_PROTO_cookie_received), 1);
	/* A's retry carries mac2: keep it off the wire, to send it as a flooder would. */
	now = ft_proto_next_deadline(S[0].p);
	ft_proto_tick(S[0].p, now);
	ck_assert_uint_eq(nwire, 1);
	ck_assert_uint_eq(wire[0].len, sizeof(init));
	ck_assert_int_eq(wire[0].data[0], FT_WIRE_INITIATION);
	memcpy(init, wire[0].data, sizeof(init));
	nwire = 0;

	/*
	 * 100 copies at one instant, B still under load: the burst of 5 passes mac2 and the
	 * limiter (the first is a handshake, the other 4 replays), the other 95 stop there,
	 * before any DH.
	 */
	flood_initiations(1, FT_PROTO_LOAD_INITIATIONS + 1);
	replay_to_b(init, sizeof(init), 100, &done);
	ck_assert_uint_eq(done, 1);
	ck_assert_uint_eq(counter(1, FT_PROTO_handshake_completed), 1);
	ck_assert_uint_eq(counter(1, FT_PROTO_ratelimited), 95);
	ck_assert_uint_eq(counter(1, FT_PROTO_stale_timestamp), 4);
	ck_assert_uint_eq(counter(1, FT_PROTO_bad_mac2), 1); /* A's first, before the cookie */

	/* A second later, under load still: the rate's 20 tokens, capped at the burst of 5. */
	now += SEC;
	flood_initiations(1, FT_PROTO_LOAD_INITIATIONS + 1);
	replay_to_b(init, sizeof(init), 100, &done);
	ck_assert_uint_eq(counter(1, FT_PROTO_ratelimited), 95 + 95);
	ck_assert_uint_eq(counter(1, FT_PROTO_stale_timestamp), 4 + 5);
	/* Spread over a second, 20 messages pass, one every 50 ms. */
	now += SEC;
	flood_initiations(1, FT_PROTO_LOAD_INITIATIONS + 1);
	stale0 = counter(1, FT_PROTO_stale_timestamp);
	limited0 = counter(1, FT_PROTO_ratelimited);
	replay_to_b(init, sizeof(init), 5, &done); /* empty the bucket */
	for (int ms = 0; ms < 1000; ms++) {
		now += MSEC;
		replay_to_b(init, sizeof(init), 1, &done);
	}
	ck_assert_uint_eq(counter(1, FT_PROTO_stale_timestamp) - stale0,
			  FT_RATELIMIT_BURST + FT_RATELIMIT_PER_SECOND);
	ck_assert_uint_eq(counter(1, FT_PROTO_ratelimited) - limited0,
			  1000 - FT_RATELIMIT_PER_SECOND);

	/* Not under load (no flood for over a second): nothing is rate limited. */
	now += 3 * SEC;
	limited0 = counter(1, FT_PROTO_ratelimited);
	stale0 = counter(1, FT_PROTO_stale_timestamp);
	replay_to_b(init, sizeof(init), 50, &done);
	ck_assert_uint_eq(counter(1, FT_PROTO_ratelimited), limited0);
	ck_assert_uint_eq(counter(1, FT_PROTO_stale_timestamp), stale0 + 50);
	ck_assert_uint_eq(done, 1);
}
END_TEST

static Suite *proto_load_suite(void)
{
	Suite *s = suite_create("proto_load");
	TCase *tc = tcase_create("ratelimit");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_ratelimit_under_load);
	suite_add_tcase(s, tc);
	return s;
}

FT_CHECK_MAIN(proto_load_suite, FT_CHECK_SODIUM)
