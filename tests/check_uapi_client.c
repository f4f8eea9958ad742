// SPDX-License-Identifier: MIT
/*
 * The client side of a get (tun/ctl/uapi_client.c) on answers nobody well-behaved writes: cut
 * short, overlong numbers, fields missing or extra, keys that are no keys, a server's errno,
 * keys of a newer server. The writer-to-reader round trip of a real worker's answer is in
 * check_worker.c (uapi_roundtrip); the key table's own rules are here too.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "tests/check_main.h"
#include "tun/ctl/uapi_client.h"
#include "tun/ctl/uapi_keys.h"

#define KA "0101010101010101010101010101010101010101010101010101010101010101"
#define KZ "0000000000000000000000000000000000000000000000000000000000000000"

static char text[4096];
static struct ft_uapi_info in;
static struct ft_uapi_info_error e;

/* Parses a copy of s (the parser writes into its text). */
static int parse(const char *s)
{
	ck_assert_uint_lt(strlen(s), sizeof(text));
	snprintf(text, sizeof(text), "%s", s);
	ft_uapi_info_free(&in);
	return ft_uapi_info_parse(&in, text, &e);
}

static void teardown(void)
{
	ft_uapi_info_free(&in);
}

START_TEST(keys_named_once)
{
	ck_assert_str_eq(FT_UAPI_KEY(listen_port), "listen_port");
	ck_assert_str_eq(FT_UAPI_KEY(errno), "errno");
	for (int k = FT_UAPI_KEY_NONE + 1; k < FT_UAPI_KEY_COUNT; k++) {
		const char *name = ft_uapi_key_names[k];

		ck_assert_int_eq(ft_uapi_key_find(name, strlen(name)), k);
		for (int j = k + 1; j < FT_UAPI_KEY_COUNT; j++)
			ck_assert_str_ne(name, ft_uapi_key_names[j]);
	}
	ck_assert_int_eq(ft_uapi_key_find("", 0), FT_UAPI_KEY_NONE);
	ck_assert_int_eq(ft_uapi_key_find("listen_por", 10), FT_UAPI_KEY_NONE);
	ck_assert_int_eq(ft_uapi_key_find("listen_portx", 12), FT_UAPI_KEY_NONE);
	ck_assert_int_eq(ft_uapi_key_find("listen_portx", 11), FT_UAPI_KEY_listen_port);
}
END_TEST

START_TEST(well_formed)
{
	ck_assert_int_eq(parse("private_key=" KA "\nlisten_port=51820\nflowtun_newer=x y z\n"
			       "flowtun_link=eth0 up 12\nflowtun_link_changes=eth0 3\n"
			       "flowtun_counter=decrypt_failed 7\n"
			       "public_key=" KA "\npreshared_key=" KZ
			       "\nendpoint=198.18.0.2:51820\n"
			       "allowed_ip=100.64.0.2/32\nallowed_ip=fd00::2/128\n"
			       "last_handshake_time_sec=5\nlast_handshake_time_nsec=999999999\n"
			       "rx_bytes=18446744073709551615\ntx_bytes=0\nflowtun_peer_future=1\n"
			       "public_key=" KA "\npreshared_key=" KA "\n"
			       "errno=0\n\n"),
			 0);
	ck_assert(in.has_public_key);
	ck_assert_uint_eq(in.listen_port, 51820);
	ck_assert_uint_eq(in.n_links, 1);
	ck_assert_str_eq(in.links[0].name, "eth0");
	ck_assert(in.links[0].has_changes);
	ck_assert_uint_eq(in.links[0].changes, 3);
	ck_assert_uint_eq(in.n_counters, 1);
	ck_assert_uint_eq(in.n_peers, 2);
	ck_assert(!in.peers[0].has_psk);
	ck_assert(in.peers[1].has_psk);
	ck_assert_uint_eq(in.peers[0].n_allowed, 2);
	ck_assert_uint_eq(in.peers[0].rx_bytes, UINT64_MAX);
	ck_assert_str_eq(in.peers[0].endpoint, "198.18.0.2:51820");
	/* The secrets are gone from the text. */
	ck_assert_ptr_null(strstr(text, KA));
}
END_TEST

/* Each refused as a whole, with the line and the key (never the value). */
static const struct {
	const char *answer;
	unsigned int line;
	const char *key;
} bad[] = {
	{ "listen_port=\nerrno=0\n\n", 1, "listen_port" },
	{ "listen_port=18446744073709551616\nerrno=0\n\n", 1, "listen_port" },
	{ "listen_port=-1\nerrno=0\n\n", 1, "listen_port" },
	{ "listen_port=1 \nerrno=0\n\n", 1, "listen_port" },
	{ "fwmark=1\nno equals sign\nerrno=0\n\n", 2, "" },
	{ "=1\nerrno=0\n\n", 1, "" },
	{ "private_key=0101\nerrno=0\n\n", 1, "private_key" },
	{ "public_key=" KA "x\nerrno=0\n\n", 1, "public_key" },
	{ "flowtun_link=eth0 up\nerrno=0\n\n", 1, "flowtun_link" },
	{ "flowtun_link=eth0 up 1 2\nerrno=0\n\n", 1, "flowtun_link" },
	{ "flowtun_link=eth0  1\nerrno=0\n\n", 1, "flowtun_link" },
	{ "flowtun_link_changes=eth9 1\nerrno=0\n\n", 1, "flowtun_link_changes" },
	{ "flowtun_top=256 a b 1 1 1 1\nerrno=0\n\n", 1, "flowtun_top" },
	{ "flowtun_top=6 a b 1 1 1\nerrno=0\n\n", 1, "flowtun_top" },
	{ "flowtun_metrics_last_scrape=1 2 3 4 5\nerrno=0\n\n", 1, "flowtun_metrics_last_scrape" },
	{ "public_key=" KA "\nlast_handshake_time_nsec=1000000000\nerrno=0\n\n", 2,
	  "last_handshake_time_nsec" },
	{ "public_key=" KA "\npreshared_key=zz\nerrno=0\n\n", 2, "preshared_key" },
	{ "errno=x\n\n", 1, "errno" },
	{ "errno=0\nlisten_port=1\n\n", 1, "errno" },
	{ "listen_port=1", 1, "" }, /* cut short: the line is not read */
	{ "listen_port=1\n", 0, "" },
	{ "listen_port=1\n\n", 0, "" },
	{ "", 0, "" },
};

START_TEST(refused)
{
	ck_assert_int_eq(parse(bad[_i].answer), -EBADMSG);
	ck_assert_uint_eq(e.line, bad[_i].line);
	ck_assert_str_eq(e.key, bad[_i].key);
}
END_TEST

START_TEST(server_errno)
{
	ck_assert_int_eq(parse("errno=22\n\n"), -ENOEXEC);
	ck_assert_uint_eq(e.server_errno, 22);
	ck_assert_int_eq(parse("listen_port=1\nerrno=0\n\n"), 0);
	ck_assert_uint_eq(e.server_errno, 0);
	ck_assert_uint_eq(e.line, 0);
}
END_TEST

/* A long key is cut in the error, not overflowing it. */
START_TEST(long_key)
{
	char answer[512];

	memset(answer, 'k', 300);
	snprintf(answer + 300, sizeof(answer) - 300, "=1\nerrno=0\n\n");
	ck_assert_int_eq(parse(answer), 0); /* unknown: skipped */
	memset(answer, 'k', 300);
	snprintf(answer + 300, sizeof(answer) - 300, "\nerrno=0\n\n");
	ck_assert_int_eq(parse(answer), -EBADMSG);
	ck_assert_str_eq(e.key, "");
	snprintf(answer, sizeof(answer), "flowtun_link=");
	memset(answer + 13, 'x', 300);
	snprintf(answer + 313, sizeof(answer) - 313, "\nerrno=0\n\n");
	ck_assert_int_eq(parse(answer), -EBADMSG);
	ck_assert_str_eq(e.key, "flowtun_link");
}
END_TEST

static Suite *uapi_client_suite(void)
{
	Suite *s = suite_create("uapi_client");
	TCase *tc = tcase_create("keys");

	tcase_add_test(tc, keys_named_once);
	suite_add_tcase(s, tc);

	tc = tcase_create("answers");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, well_formed);
	tcase_add_loop_test(tc, refused, 0, (int)(sizeof(bad) / sizeof(bad[0])));
	tcase_add_test(tc, server_errno);
	tcase_add_test(tc, long_key);
	suite_add_tcase(s, tc);
	return s;
}

FT_CHECK_MAIN(uapi_client_suite, FT_CHECK_SODIUM)
