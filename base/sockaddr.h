/* SPDX-License-Identifier: MIT */
#ifndef FT_BASE_SOCKADDR_H
#define FT_BASE_SOCKADDR_H

#include <stddef.h>
#include <sys/socket.h>

/*
 * The two questions every user of an IPv4 or IPv6 socket address asks: how long is it, and how
 * does it read. The answers are numeric (no name lookup), so any thread, never blocking.
 */

enum {
	/* "[ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255%4294967295]:65535" and the NUL fit. */
	FT_SOCKADDR_STRLEN = 72,
};

/* sizeof(struct sockaddr_in) or sizeof(struct sockaddr_in6) by sa's family; 0 for any other. */
socklen_t ft_sockaddr_len(const struct sockaddr *sa);

/*
 * The endpoint as wg(8) writes and reads it: "192.0.2.1:51820", "[2001:db8::1]:51820", with a
 * scope as a number, "[fe80::1%2]:51820" (an interface's name may change; wg parses either).
 * sa is read through a copy, so it may be unaligned. Returns 0; -EAFNOSUPPORT for another
 * family, -ENOSPC when len is too small (FT_SOCKADDR_STRLEN never is); buf holds "" on an
 * error when len > 0.
 */
int ft_sockaddr_format(char *buf, size_t len, const struct sockaddr *sa);

#endif
