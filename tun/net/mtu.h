/* SPDX-License-Identifier: MIT */
#ifndef FT_MTU_H
#define FT_MTU_H

#include <stdint.h>

/*
 * The arithmetic of the TUN MTU against the underlay's (issue 20), with no I/O: what a path of
 * a given MTU to an endpoint of a given family carries. The worker (tun/worker/mtu.c) finds
 * the paths' MTUs and applies the results.
 *
 * A transport message of a packet of the TUN MTU is that packet (no padding: WireGuard never
 * pads past the MTU), a 16-byte header and a 16-byte tag, in UDP (8) in IPv4 (20) or IPv6 (40).
 */
enum {
	FT_MTU_OVERHEAD_V4 = 20 + 8 + 16 + 16,
	FT_MTU_OVERHEAD_V6 = 40 + 8 + 16 + 16,
	/* IPv6's minimum link MTU: the TUN never goes below it, whatever the underlay says (the
	 * kernel fragments what does not fit, and IPv6 on the TUN stays possible). */
	FT_MTU_MIN = 1280,
	/*
	 * Underlay MTUs above jumbo frames (loopback's 65536) count as 9000: a TUN MTU beyond
	 * that gains nothing with offloads (the TUN hands over 64 KiB super-packets anyway) and
	 * every packet buffer grows with it.
	 */
	FT_MTU_UNDERLAY_MAX = 9000,
};

/*
 * The TUN MTU that a path of MTU path_mtu (the IP packet size the underlay carries) to an
 * endpoint of family (AF_INET or AF_INET6) allows: path_mtu less the overhead, path_mtu capped
 * at FT_MTU_UNDERLAY_MAX, never below FT_MTU_MIN. 0 when path_mtu is 0 (unknown) or the family
 * is neither.
 */
uint32_t ft_mtu_tun_for_path(uint32_t path_mtu, int family);

/*
 * The longest UDP payload that fits in one IP packet of path_mtu bytes to family: path_mtu
 * less the IP and UDP headers, at most 65535 - those; 0 when it is unknown or nothing fits.
 */
uint32_t ft_mtu_udp_payload(uint32_t path_mtu, int family);

/* The reverse: the path MTU that carries UDP payloads of len bytes to family (0 for len 0). */
uint32_t ft_mtu_path_for_payload(uint32_t len, int family);

#endif
