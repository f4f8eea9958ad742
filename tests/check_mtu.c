// SPDX-License-Identifier: MIT
/*
 * The TUN MTU arithmetic against the underlay (tun/net/mtu.h): the issue 20 table (1500, 1492,
 * 1460, 1420, 1280 over IPv4 and IPv6), the floor of 1280, the jumbo cap, unknown inputs, and
 * the UDP payload a path carries in both directions.
 */
#include "config.h"

#include <sys/socket.h>

#include <check.h>

#include "tun/net/mtu.h"

static const struct {
	uint32_t path_mtu;
	int family;
	uint32_t tun;
} tun_cases[] = {
	{ 1500, AF_INET, 1440 },   { 1492, AF_INET, 1432 },  { 1460, AF_INET, 1400 },
	{ 1420, AF_INET, 1360 },   { 1280, AF_INET, 1280 }, /* 1220: the floor */
	{ 1340, AF_INET, 1280 },   { 1341, AF_INET, 1281 }, /* just above the floor */
	{ 1500, AF_INET6, 1420 },  { 1492, AF_INET6, 1412 }, { 1460, AF_INET6, 1380 },
	{ 1420, AF_INET6, 1340 },  { 1280, AF_INET6, 1280 }, { 1360, AF_INET6, 1280 },
	{ 9000, AF_INET, 8940 },   { 65536, AF_INET, 8940 }, /* loopback counts as jumbo */
	{ 65536, AF_INET6, 8920 }, { 68, AF_INET, 1280 },    /* IPv4's minimum link */
	{ 0, AF_INET, 0 },	   { 0, AF_INET6, 0 },	     /* unknown path */
	{ 1500, AF_UNSPEC, 0 },	   { 1500, AF_UNIX, 0 },     /* no such family */
};

START_TEST(test_tun_for_path)
{
	ck_assert_msg(ft_mtu_tun_for_path(tun_cases[_i].path_mtu, tun_cases[_i].family) ==
			      tun_cases[_i].tun,
		      "path MTU %u, family %d: %u, not %u", tun_cases[_i].path_mtu,
		      tun_cases[_i].family,
		      ft_mtu_tun_for_path(tun_cases[_i].path_mtu, tun_cases[_i].family),
		      tun_cases[_i].tun);
}
END_TEST

static const struct {
	uint32_t path_mtu;
	int family;
	uint32_t payload;
} payload_cases[] = {
	{ 1500, AF_INET, 1472 }, { 1500, AF_INET6, 1452 },  { 1280, AF_INET6, 1232 },
	{ 1460, AF_INET, 1432 }, { 28, AF_INET, 0 },	    { 29, AF_INET, 1 },
	{ 48, AF_INET6, 0 },	 { 65536, AF_INET, 65507 }, { 70000, AF_INET6, 65487 },
	{ 0, AF_INET, 0 },	 { 1500, AF_UNSPEC, 0 },
};

START_TEST(test_udp_payload)
{
	uint32_t got = ft_mtu_udp_payload(payload_cases[_i].path_mtu, payload_cases[_i].family);

	ck_assert_uint_eq(got, payload_cases[_i].payload);
	/* The way back gives the path MTU again, where one was found. */
	if (got && payload_cases[_i].path_mtu <= 65535)
		ck_assert_uint_eq(ft_mtu_path_for_payload(got, payload_cases[_i].family),
				  payload_cases[_i].path_mtu);
}
END_TEST

/* A full-sized packet of the TUN MTU, encrypted, is exactly one datagram the path carries. */
START_TEST(test_tun_fits_path)
{
	static const int families[] = { AF_INET, AF_INET6 };

	for (uint32_t path = 1200; path <= 9100; path++)
		for (size_t f = 0; f < 2; f++) {
			uint32_t tun = ft_mtu_tun_for_path(path, families[f]);
			uint32_t dgram = tun + 16 + 16; /* header and tag around the packet */

			ck_assert_uint_ge(tun, FT_MTU_MIN);
			if (tun > FT_MTU_MIN)
				ck_assert_uint_le(dgram, ft_mtu_udp_payload(path, families[f]));
		}
	ck_assert_uint_eq(ft_mtu_path_for_payload(0, AF_INET), 0);
	ck_assert_uint_eq(ft_mtu_path_for_payload(1000, AF_UNSPEC), 0);
}
END_TEST

static Suite *mtu_suite(void)
{
	Suite *s = suite_create("mtu");
	TCase *tc = tcase_create("arithmetic");

	tcase_add_loop_test(tc, test_tun_for_path, 0, sizeof(tun_cases) / sizeof(tun_cases[0]));
	tcase_add_loop_test(tc, test_udp_payload, 0,
			    sizeof(payload_cases) / sizeof(payload_cases[0]));
	tcase_add_test(tc, test_tun_fits_path);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(mtu_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
