// SPDX-License-Identifier: MIT
#include "config.h"

#include <sys/socket.h>

#include "tun/net/mtu.h"

/* IP and UDP headers of one datagram; 0 for an unknown family. */
static uint32_t headers(int family)
{
	return family == AF_INET ? 20 + 8 : family == AF_INET6 ? 40 + 8 : 0;
}

uint32_t ft_mtu_tun_for_path(uint32_t path_mtu, int family)
{
	uint32_t over = family == AF_INET    ? FT_MTU_OVERHEAD_V4
			: family == AF_INET6 ? FT_MTU_OVERHEAD_V6
					     : 0;

	if (!path_mtu || !over)
		return 0;
	if (path_mtu > FT_MTU_UNDERLAY_MAX)
		path_mtu = FT_MTU_UNDERLAY_MAX;
	return path_mtu < FT_MTU_MIN + over ? FT_MTU_MIN : path_mtu - over;
}

uint32_t ft_mtu_udp_payload(uint32_t path_mtu, int family)
{
	uint32_t h = headers(family);

	if (!h || path_mtu <= h)
		return 0;
	/* An IPv4 datagram is 65535 bytes at most, headers included; IPv6's payload length is
	 * 16 bits too (no jumbograms here). */
	if (path_mtu > 65535)
		path_mtu = 65535;
	return path_mtu - h;
}

uint32_t ft_mtu_path_for_payload(uint32_t len, int family)
{
	uint32_t h = headers(family);

	return len && h ? len + h : 0;
}
