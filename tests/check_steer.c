// SPDX-License-Identifier: MIT
/*
 * The SO_REUSEPORT group's steering by receiver index (tun/net/steer.h), on 127.0.0.1 only:
 * groups of 2, 3 and 4 sockets with the program attached, WireGuard-shaped datagrams of each
 * type sent to them; each must arrive on socket ft_steer_lane(index, n) of the index the
 * type says (offset 8 for a response, 4 otherwise), a datagram too short for it on socket 0.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <check.h>

#include "tests/check_main.h"
#include "tun/net/steer.h"
#include "tun/net/udp.h"

enum { MAX_N = 4 };

static struct ft_udp group[MAX_N];
static int sender = -1;
static unsigned int n_open;

static void open_group(unsigned int n)
{
	struct sockaddr_in lo = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

	for (unsigned int i = 0; i < n; i++) {
		ck_assert_int_eq(ft_udp_open(&group[i], (const struct sockaddr *)&lo, 0,
					     FT_UDP_REUSEPORT | FT_UDP_IPV4_ONLY),
				 0);
		lo.sin_port = htons(group[0].port);
		n_open = i + 1;
	}
	ck_assert_int_eq(ft_steer_attach(group[0].fd, n), 0);
	sender = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(sender, 0);
}

static void close_group(void)
{
	for (unsigned int i = 0; i < n_open; i++)
		ft_udp_close(&group[i]);
	n_open = 0;
	if (sender >= 0)
		close(sender);
	sender = -1;
}

/* Sends msg to the group and returns the socket it arrived on (checking it is msg). */
static unsigned int arrival(unsigned int n, const uint8_t *msg, size_t len)
{
	struct sockaddr_in to = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				  .sin_port = htons(group[0].port) };
	struct pollfd pfd[MAX_N];
	uint8_t got[64];

	ck_assert_int_eq(sendto(sender, msg, len, 0, (const struct sockaddr *)&to, sizeof(to)),
			 (ssize_t)len);
	for (unsigned int i = 0; i < n; i++)
		pfd[i] = (struct pollfd){ .fd = group[i].fd, .events = POLLIN };
	ck_assert_int_eq(poll(pfd, n, 2000) > 0, 1);
	for (unsigned int i = 0; i < n; i++) {
		if (!(pfd[i].revents & POLLIN))
			continue;
		ck_assert_int_eq(recv(group[i].fd, got, sizeof(got), 0), (ssize_t)len);
		ck_assert_mem_eq(got, msg, len);
		return i;
	}
	ck_abort_msg("no socket readable");
	return 0;
}

/* A message of type with index at its offset (little-endian) and another one at the other. */
static size_t make_msg(uint8_t *m, uint8_t type, uint32_t index, uint32_t other, uint8_t seq)
{
	size_t at = type == 2 ? 8 : 4, not_at = type == 2 ? 4 : 8;

	memset(m, 0, 32);
	m[0] = type;
	for (int b = 0; b < 4; b++) {
		m[at + (size_t)b] = (uint8_t)(index >> (8 * b));
		m[not_at + (size_t)b] = (uint8_t)(other >> (8 * b));
	}
	m[20] = seq;
	return 32;
}

static const uint32_t indices[] = { 0x00000000, 0x00000001, 0x00000002, 0x00000003,
				    0x12345678, 0xfedcba99, 0x7f00000a, 0x800000ff,
				    0x000001fe, 0xffffff07, 0x5a5a5a5b, 0xdeadbe0d };

/* Every type, every index: the socket of the index at the type's offset. */
START_TEST(test_by_index)
{
	unsigned int n = (unsigned int)_i;
	uint8_t msg[64], seq = 0;
	unsigned int seen[MAX_N] = { 0 };

	open_group(n);
	for (uint8_t type = 1; type <= 4; type++) {
		for (size_t k = 0; k < sizeof(indices) / sizeof(indices[0]); k++) {
			/* The other offset holds an index of another lane: a wrong offset shows. */
			uint32_t idx = indices[k], other = idx + 1;
			size_t len = make_msg(msg, type, idx, other, seq++);
			unsigned int got = arrival(n, msg, len);

			ck_assert_msg(got == ft_steer_lane(idx, n),
				      "n %u, type %u, index %08x: socket %u, want %u", n, type, idx,
				      got, ft_steer_lane(idx, n));
			seen[got]++;
		}
	}
	/* Each socket of the group got its share. */
	for (unsigned int i = 0; i < n; i++)
		ck_assert_uint_gt(seen[i], 0);
	close_group();
}
END_TEST

/* Too short to hold the byte the program reads: socket 0, never lost. */
START_TEST(test_short)
{
	uint8_t msg[8] = { 4, 0, 0, 0, 3 };

	open_group(4);
	ck_assert_uint_eq(arrival(4, msg, 3), 0);
	msg[0] = 2;
	ck_assert_uint_eq(arrival(4, msg, 7), 0);
	/* 5 bytes of transport data reach offset 4: index byte 3 -> socket 3. */
	msg[0] = 4;
	ck_assert_uint_eq(arrival(4, msg, 5), 3);
	close_group();
}
END_TEST

START_TEST(test_bad_n)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ft_steer_attach(fd, 0), -EINVAL);
	ck_assert_int_eq(ft_steer_attach(fd, FT_STEER_MAX + 1), -EINVAL);
	close(fd);
	ck_assert_uint_eq(ft_steer_lane(0x12345678, 4), 0x78 % 4);
	ck_assert_uint_eq(ft_steer_lane(0xffffff07, 3), 7 % 3);
}
END_TEST

static Suite *steer_suite(void)
{
	Suite *s = suite_create("steer");
	TCase *tc = tcase_create("steer");

	tcase_add_loop_test(tc, test_by_index, 2, MAX_N + 1);
	tcase_add_test(tc, test_short);
	tcase_add_test(tc, test_bad_n);
	suite_add_tcase(s, tc);
	return s;
}

FT_CHECK_MAIN(steer_suite, 0)
