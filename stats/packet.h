/* SPDX-License-Identifier: MIT */
#ifndef FT_PACKET_H
#define FT_PACKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Header parsing for IP packets as they come off a TUN device (no link-layer header), and the
 * address type the rest of flowtun reuses.
 *
 * The parser reads only through bounds checks against the trusted length, which is the smaller
 * of the buffer length and the length the IP header claims (tcpdump's rule). It never reads
 * past the buffer, whatever the bytes, and never allocates.
 *
 * Keying, compared with Tailscale's net/connstats (which we port):
 * - TCP, UDP and SCTP get their ports when the whole transport header is present; ICMP and
 *   ICMPv6 keep their protocol with ports 0 (type and code are reported in the info, not
 *   keyed, so that an echo request and its reply land on one connection); any other protocol
 *   keeps its number with ports 0. Same as Tailscale.
 * - IPv6 extension headers (hop-by-hop, routing, destination options, fragment) are walked, and
 *   AH is skipped in IPv4 and IPv6, to reach the transport header. Tailscale stops at the first
 *   next-header value, so a hop-by-hop or fragment header hides the transport there.
 * - A first fragment (offset 0, more fragments) is keyed as its transport protocol, with ports
 *   when its transport header is whole and ports 0 when not. A later fragment (offset > 0) is
 *   keyed as FT_IPPROTO_FRAGMENT with its addresses and ports 0, for IPv4 and IPv6 alike.
 *   Tailscale uses protocol 0xFF for IPv4 fragments only, a value that is an IANA number; ours
 *   is outside the 8-bit range, so no real protocol can collide with it. A flow-log writer that
 *   must match Tailscale's output writes it as 255.
 * - Empty, non-IP, truncated and malformed buffers are keyed as FT_IPPROTO_INVALID with both
 *   addresses family 0 and ports 0 (one connection for all of them), and the info names the
 *   reason. Tailscale counts them under the all-zero key, which is also IPv4 protocol 0
 *   (HOPOPT). A buffer shorter than its IP length field is invalid (it was cut); a buffer
 *   longer than it is parsed up to the IP length only.
 */

/* An IPv4 or IPv6 address; v4 in bytes[0..3] and every unused byte zero, so memcmp compares. */
struct ft_addr {
	uint8_t family; /* AF_INET, AF_INET6, or 0 for none */
	uint8_t bytes[16];
};

enum {
	FT_ADDR_STRLEN = 46,	 /* INET6_ADDRSTRLEN, with the NUL */
	FT_ADDRPORT_STRLEN = 54, /* "[" addr "]:" 5 digits and the NUL */
};

/* Connection protocols beyond the 8-bit IANA numbers. */
enum {
	FT_IPPROTO_FRAGMENT = 0x100, /* a non-first fragment: addresses kept, ports 0 */
	FT_IPPROTO_INVALID = 0x101,  /* not a parseable IP packet: addresses and ports zero */
};

/* Why a packet is FT_IPPROTO_INVALID. ft_packet_reason_str() names each one. */
enum ft_packet_reason {
	FT_PACKET_OK = 0,
	FT_PACKET_EMPTY,	       /* zero-length buffer */
	FT_PACKET_BAD_VERSION,	       /* first nibble is neither 4 nor 6 */
	FT_PACKET_V4_SHORT,	       /* fewer than 20 bytes */
	FT_PACKET_V4_BAD_IHL,	       /* header length < 20 or longer than the packet */
	FT_PACKET_V4_BAD_TOTAL_LEN,    /* total length smaller than the header length */
	FT_PACKET_V6_SHORT,	       /* fewer than 40 bytes */
	FT_PACKET_TRUNCATED,	       /* buffer shorter than the IP length field says */
	FT_PACKET_EXT_TRUNCATED,       /* an IPv6 extension header or AH runs past the packet */
	FT_PACKET_EXT_TOO_MANY,	       /* more than FT_PACKET_MAX_EXT extension headers */
	FT_PACKET_TRANSPORT_TRUNCATED, /* an unfragmented TCP/UDP/SCTP/ICMP header is cut short */
	FT_PACKET_TCP_BAD_OFFSET,      /* TCP data offset below 5 words */
	FT_PACKET_REASON_COUNT
};

/* Extension headers (and AH) walked before giving up; real traffic uses at most a few. */
#define FT_PACKET_MAX_EXT 8

/* ft_packet_info.flags */
enum {
	FT_PACKET_F_PORTS = 1 << 0, /* src_port and dst_port come from the packet */
	FT_PACKET_F_ICMP = 1 << 1,  /* icmp_type and icmp_code are valid */
	FT_PACKET_F_FRAGMENT = 1
			       << 2, /* a fragment, first or later (IPv4 MF/offset, IPv6 header) */
};

/*
 * The decoded packet. The first five fields are the connection key as connstats keys it (the
 * packet's own direction); the rest describes the packet.
 */
struct ft_packet_info {
	struct ft_addr src, dst;
	uint16_t proto; /* IANA protocol 0..255, FT_IPPROTO_FRAGMENT or FT_IPPROTO_INVALID */
	uint16_t src_port, dst_port;
	uint8_t version; /* 4 or 6; 0 when the buffer is empty or not IP */
	uint8_t flags;	 /* FT_PACKET_F_* */
	uint8_t icmp_type, icmp_code;
	uint8_t transport; /* the last next-header value reached, also for fragments */
	enum ft_packet_reason reason;
	uint32_t len; /* trusted length: min(buffer, IP length); 0 when invalid */
};

/*
 * Parses pkt[0..len). Always fills *out. Returns 0, or -EINVAL when the packet is
 * FT_IPPROTO_INVALID (out->reason says why).
 */
int ft_packet_parse(const uint8_t *pkt, size_t len, struct ft_packet_info *out);

/* A static string naming reason, e.g. "ipv4-truncated"; "unknown" when out of range. */
const char *ft_packet_reason_str(enum ft_packet_reason reason);

/* Sets a from 4 or 16 network-order bytes, zeroing the rest. */
void ft_addr_set_v4(struct ft_addr *a, const uint8_t bytes[4]);
void ft_addr_set_v6(struct ft_addr *a, const uint8_t bytes[16]);
/* Parses an IPv4 or IPv6 literal; 0 or -EINVAL. */
int ft_addr_parse(struct ft_addr *a, const char *s);
bool ft_addr_equal(const struct ft_addr *a, const struct ft_addr *b);

/*
 * Formats "192.0.2.1" / "2001:db8::1" into buf, or "" for family 0. Returns the length written
 * (without the NUL), or -ENOSPC when size is too small (buf then holds "" if size > 0).
 */
int ft_addr_format(const struct ft_addr *a, char *buf, size_t size);
/* Formats "192.0.2.1:80" / "[2001:db8::1]:80", or "" for family 0; as ft_addr_format. */
int ft_addrport_format(const struct ft_addr *a, uint16_t port, char *buf, size_t size);

#endif
