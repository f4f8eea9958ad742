// SPDX-License-Identifier: MIT
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stddef.h>
#include <string.h>

#include "base/sockaddr.h"

socklen_t ft_sockaddr_len(const struct sockaddr *sa)
{
	switch (sa->sa_family) {
	case AF_INET:
		return sizeof(struct sockaddr_in);
	case AF_INET6:
		return sizeof(struct sockaddr_in6);
	default:
		return 0;
	}
}

int ft_sockaddr_format(char *buf, size_t len, const struct sockaddr *sa)
{
	char host[INET6_ADDRSTRLEN];
	sa_family_t family;
	int n;

	/* By copy, the family too: sa may sit unaligned in a packed buffer. */
	memcpy(&family, (const char *)sa + offsetof(struct sockaddr, sa_family), sizeof(family));
	if (family == AF_INET) {
		struct sockaddr_in sin;

		memcpy(&sin, sa, sizeof(sin));
		inet_ntop(AF_INET, &sin.sin_addr, host, sizeof(host));
		n = snprintf(buf, len, "%s:%u", host, ntohs(sin.sin_port));
	} else if (family == AF_INET6) {
		struct sockaddr_in6 sin6;

		memcpy(&sin6, sa, sizeof(sin6));
		inet_ntop(AF_INET6, &sin6.sin6_addr, host, sizeof(host));
		if (sin6.sin6_scope_id)
			n = snprintf(buf, len, "[%s%%%u]:%u", host, sin6.sin6_scope_id,
				     ntohs(sin6.sin6_port));
		else
			n = snprintf(buf, len, "[%s]:%u", host, ntohs(sin6.sin6_port));
	} else {
		if (len > 0)
			buf[0] = '\0';
		return -EAFNOSUPPORT;
	}
	if (n < 0 || (size_t)n >= len) {
		if (len > 0)
			buf[0] = '\0';
		return -ENOSPC;
	}
	return 0;
}
