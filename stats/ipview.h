/* SPDX-License-Identifier: MIT */
#ifndef FT_IPVIEW_H
#define FT_IPVIEW_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/bytes.h"
#include "stats/packet.h"

/*
 * The one validated view of an IPv4 or IPv6 header, for everybody who reads one: the
 * connection statistics (stats/packet.c), the protocol's length and AllowedIPs checks
 * (tun/wg/send.c and receive.c), and the offloads' segmentation and coalescing
 * (tun/net/offload.c).
 *
 * Two steps, as OpenBSD's daemons parse: ft_ipview_parse() checks every bound of the fixed
 * header once, against the buffer and against the header's own length fields, and fills a
 * small struct; only then does a caller interpret the packet, through the struct, reading
 * nothing of the fixed header past what it validated. The IP length is trusted only as far
 * as the buffer goes (tcpdump's rule: the smaller of the claimed and the captured length).
 *
 * What it checks, the same for every caller:
 *   IPv4  at least 20 bytes; a header length (IHL) of 20 to 60 bytes within the buffer; a
 *         total length no smaller than the header and no larger than the buffer.
 *   IPv6  at least 40 bytes; 40 + the payload length no larger than the buffer. Extension
 *         headers are payload here (stats/packet.c walks them); a payload length of 0 is an
 *         empty payload (a TUN device never carries a jumbogram).
 * Bytes past the IP length (padding, a link layer's trailer) are left out of len, not refused.
 *
 * Inline and allocation-free: it runs once per packet on the packet path. Any thread.
 */

struct ft_ipview {
	const uint8_t *src, *dst; /* the addresses inside the header: addr_len bytes each */
	uint32_t len;		  /* the IP length (IPv4 total length, 40 + IPv6 payload) */
	uint16_t hlen;		  /* IPv4: IHL * 4, 20..60; IPv6: 40 (extension headers excluded) */
	uint16_t frag;		  /* IPv4 flags and fragment offset (DF 0x4000, MF 0x2000,
				   * offset 0x1fff); 0 for IPv6 (its fragment header is payload) */
	uint8_t version;	  /* 4 or 6; also set when a 4 or 6 header then fails a check */
	uint8_t family;		  /* AF_INET or AF_INET6 */
	uint8_t proto;		  /* IPv4 protocol, IPv6 next header */
	uint8_t addr_len;	  /* 4 or 16 */
};

/* Flags and offset of ft_ipview.frag. */
enum {
	FT_IPVIEW_DF = 0x4000,
	FT_IPVIEW_MF = 0x2000,
	FT_IPVIEW_OFFSET = 0x1fff,
};

/*
 * Validates pkt[0..len) and fills *v. Returns FT_PACKET_OK, or the first check that failed:
 * FT_PACKET_EMPTY, FT_PACKET_BAD_VERSION (v->version 0), FT_PACKET_V4_SHORT,
 * FT_PACKET_V4_BAD_IHL, FT_PACKET_V4_BAD_TOTAL_LEN, FT_PACKET_V6_SHORT or FT_PACKET_TRUNCATED
 * (v->version 4 or 6). On failure only v->version is meaningful.
 */
static inline enum ft_packet_reason ft_ipview_parse(struct ft_ipview *v, const uint8_t *pkt,
						    size_t len)
{
	size_t total;

	v->version = 0;
	if (len == 0)
		return FT_PACKET_EMPTY;
	switch (pkt[0] >> 4) {
	case 4:
		v->version = 4;
		if (len < 20)
			return FT_PACKET_V4_SHORT;
		v->hlen = (uint16_t)((pkt[0] & 0x0f) * 4);
		if (v->hlen < 20 || v->hlen > len)
			return FT_PACKET_V4_BAD_IHL;
		total = ft_be16_load(pkt + 2);
		if (total < v->hlen)
			return FT_PACKET_V4_BAD_TOTAL_LEN;
		if (total > len)
			return FT_PACKET_TRUNCATED;
		v->frag = ft_be16_load(pkt + 6);
		v->family = AF_INET;
		v->proto = pkt[9];
		v->addr_len = 4;
		v->src = pkt + 12;
		v->dst = pkt + 16;
		break;
	case 6:
		v->version = 6;
		if (len < 40)
			return FT_PACKET_V6_SHORT;
		total = 40 + (size_t)ft_be16_load(pkt + 4);
		if (total > len)
			return FT_PACKET_TRUNCATED;
		v->hlen = 40;
		v->frag = 0;
		v->family = AF_INET6;
		v->proto = pkt[6];
		v->addr_len = 16;
		v->src = pkt + 8;
		v->dst = pkt + 24;
		break;
	default:
		return FT_PACKET_BAD_VERSION;
	}
	v->len = (uint32_t)total;
	return FT_PACKET_OK;
}

#endif
