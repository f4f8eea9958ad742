// SPDX-License-Identifier: MIT
/*
 * The handshake rate limiter on a fake clock: the burst, the rate, refills, sources apart and
 * an IPv6 /64 together, the bound on the table and the collection of idle sources.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include <check.h>
#include <sodium.h>

#include "tests/check_main.h"
#include "tun/wg/ratelimit.h"

#define SEC 1000000000ull
#define MS 1000000ull

static struct sockaddr_storage addr(const char *s, uint16_t port)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *in = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, s, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons(port);
	} else {
		ck_assert_int_eq(inet_pton(AF_INET6, s, &in6->sin6_addr), 1);
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
	}
	return ss;
}

static bool allow(struct ft_ratelimit *rl, const char *s, uint64_t now)
{
	struct sockaddr_storage ss = addr(s, 51820);

	return ft_ratelimit_allow(rl, (struct sockaddr *)&ss, now);
}

/* How many of n messages sent at once at now go through. */
static int allowed_of(struct ft_ratelimit *rl, const char *s, int n, uint64_t now)
{
	int got = 0;

	for (int i = 0; i < n; i++)
		got += allow(rl, s, now);
	return got;
}

START_TEST(test_burst_then_rate)
{
	struct ft_ratelimit *rl = ft_ratelimit_create(0);
	uint64_t now = 10 * SEC;
	int got = 0;

	ck_assert_ptr_nonnull(rl);
	/* A burst of 5 at once, then nothing more at that instant. */
	ck_assert_int_eq(allowed_of(rl, "198.18.0.1", 100, now), FT_RATELIMIT_BURST);
	/* 50 ms later exactly one more token (1/20 s); 49 ms is not enough. */
	ck_assert(!allow(rl, "198.18.0.1", now + 49 * MS));
	ck_assert(allow(rl, "198.18.0.1", now + 50 * MS + 49 * MS));
	/* A steady flood of 1,000/s for 10 s: 20/s of it gets through. */
	now += SEC;
	for (int i = 0; i < 10000; i++)
		got += allow(rl, "198.18.0.1", now + (uint64_t)i * MS);
	ck_assert_int_ge(got, 10 * FT_RATELIMIT_PER_SECOND);
	ck_assert_int_le(got, 10 * FT_RATELIMIT_PER_SECOND + FT_RATELIMIT_BURST);
	ft_ratelimit_destroy(rl);
}
END_TEST

START_TEST(test_refill_caps_at_burst)
{
	struct ft_ratelimit *rl = ft_ratelimit_create(0);
	uint64_t now = SEC;

	ck_assert_int_eq(allowed_of(rl, "198.18.0.1", 10, now), FT_RATELIMIT_BURST);
	/* Quiet for 0.9 s (not collected): the bucket is full again, but no fuller. */
	now += 900 * MS;
	ck_assert_int_eq(allowed_of(rl, "198.18.0.1", 10, now), FT_RATELIMIT_BURST);
	/* Quiet for an hour (collected, then new): a fresh source's burst, no more. */
	now += 3600 * SEC;
	ck_assert_int_eq(allowed_of(rl, "198.18.0.1", 10, now), FT_RATELIMIT_BURST);
	ft_ratelimit_destroy(rl);
}
END_TEST

START_TEST(test_sources_apart_v6_by_64)
{
	struct ft_ratelimit *rl = ft_ratelimit_create(0);
	uint64_t now = SEC;

	ck_assert_int_eq(allowed_of(rl, "198.18.0.1", 10, now), FT_RATELIMIT_BURST);
	/* Another IPv4 address has its own bucket; the same address on another port does not. */
	ck_assert_int_eq(allowed_of(rl, "198.18.0.2", 10, now), FT_RATELIMIT_BURST);
	{
		struct sockaddr_storage other_port = addr("198.18.0.1", 40000);

		ck_assert(!ft_ratelimit_allow(rl, (struct sockaddr *)&other_port, now));
	}
	/* Two addresses of one /64 share a bucket... */
	ck_assert_int_eq(allowed_of(rl, "fd00:1:2:3::1", 3, now), 3);
	ck_assert_int_eq(allowed_of(rl, "fd00:1:2:3:ffff::9", 10, now), 2);
	/* ...and the next /64 is another source. */
	ck_assert_int_eq(allowed_of(rl, "fd00:1:2:4::1", 10, now), FT_RATELIMIT_BURST);
	/* An IPv4 address and an IPv6 /64 with the same bits are not one source. */
	ck_assert_int_eq(allowed_of(rl, "::", 10, now), FT_RATELIMIT_BURST);
	ck_assert_int_eq(allowed_of(rl, "0.0.0.0", 10, now), FT_RATELIMIT_BURST);
	ck_assert_uint_eq(ft_ratelimit_count(rl), 6);
	ft_ratelimit_destroy(rl);
}
END_TEST

START_TEST(test_bounded_and_collected)
{
	enum { MAX = 64 };
	struct ft_ratelimit *rl = ft_ratelimit_create(MAX);
	uint64_t now = SEC;
	char s[32];

	ck_assert_ptr_nonnull(rl);
	for (int i = 0; i < MAX; i++) {
		snprintf(s, sizeof(s), "198.18.1.%d", i);
		ck_assert(allow(rl, s, now));
	}
	ck_assert_uint_eq(ft_ratelimit_count(rl), MAX);
	/* Full: a new source is refused, a known one still has its tokens. */
	ck_assert(!allow(rl, "198.18.2.1", now));
	ck_assert(allow(rl, "198.18.1.7", now));
	/* Half of them keep talking; after a quiet second and more the others are collected. */
	for (int i = 0; i < MAX; i += 2) {
		snprintf(s, sizeof(s), "198.18.1.%d", i);
		ck_assert(allow(rl, s, now + 900 * MS));
	}
	ft_ratelimit_gc(rl, now + 1500 * MS);
	ck_assert_uint_eq(ft_ratelimit_count(rl), MAX / 2);
	/* Their places are free for new sources, MAX / 2 of them and not one more. */
	for (int i = 0; i < MAX / 2; i++) {
		snprintf(s, sizeof(s), "198.18.3.%d", i);
		ck_assert(allow(rl, s, now + 1500 * MS));
	}
	ck_assert(!allow(rl, "198.18.4.1", now + 1500 * MS));
	/* A source that stayed is refilled to its burst, full table or not. */
	ck_assert_int_eq(allowed_of(rl, "198.18.1.0", 10, now + 1500 * MS), FT_RATELIMIT_BURST);
	ft_ratelimit_destroy(rl);
}
END_TEST

START_TEST(test_collection_by_allow)
{
	struct ft_ratelimit *rl = ft_ratelimit_create(16);
	uint64_t now = SEC;
	char s[32];

	for (int i = 0; i < 16; i++) {
		snprintf(s, sizeof(s), "198.18.5.%d", i);
		ck_assert(allow(rl, s, now));
	}
	ck_assert(!allow(rl, "198.18.6.1", now + 500 * MS));
	/* Without a call to ft_ratelimit_gc: allow() collects once a second by itself. */
	ck_assert(allow(rl, "198.18.6.1", now + 2 * SEC + 1));
	ck_assert_uint_eq(ft_ratelimit_count(rl), 1);
	ft_ratelimit_destroy(rl);
}
END_TEST

START_TEST(test_hostile_sources)
{
	struct ft_ratelimit *rl = ft_ratelimit_create(0);
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_UNIX;
	ck_assert(!ft_ratelimit_allow(rl, NULL, SEC));
	ck_assert(!ft_ratelimit_allow(rl, (struct sockaddr *)&ss, SEC));
	ss.ss_family = AF_UNSPEC;
	ck_assert(!ft_ratelimit_allow(rl, (struct sockaddr *)&ss, SEC));
	ck_assert_uint_eq(ft_ratelimit_count(rl), 0);
	/* A clock at zero and one that goes back refill nothing and do not wrap. */
	ck_assert_int_eq(allowed_of(rl, "198.18.0.1", 10, 0), FT_RATELIMIT_BURST);
	ck_assert_int_eq(allowed_of(rl, "198.18.0.1", 10, 0), 0);
	ck_assert(allow(rl, "198.18.0.9", 5 * SEC));
	ck_assert_int_eq(allowed_of(rl, "198.18.0.9", 10, 4 * SEC), FT_RATELIMIT_BURST - 1);
	ft_ratelimit_destroy(rl);
	ft_ratelimit_destroy(NULL);
}
END_TEST

static Suite *ratelimit_suite(void)
{
	Suite *s = suite_create("ratelimit");
	TCase *tc = tcase_create("ratelimit");

	tcase_add_test(tc, test_burst_then_rate);
	tcase_add_test(tc, test_refill_caps_at_burst);
	tcase_add_test(tc, test_sources_apart_v6_by_64);
	tcase_add_test(tc, test_bounded_and_collected);
	tcase_add_test(tc, test_collection_by_allow);
	tcase_add_test(tc, test_hostile_sources);
	suite_add_tcase(s, tc);
	return s;
}

FT_CHECK_MAIN(ratelimit_suite, FT_CHECK_SODIUM)
