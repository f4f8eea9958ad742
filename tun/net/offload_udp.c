// SPDX-License-Identifier: MIT
/*
 * UDP GRO for the TUN: consecutive datagrams of one flow in a receive batch become one
 * GSO_UDP_L4 super-packet (USO, Linux >= 6.2), which the kernel splits again at the socket
 * that reads them, so that the TUN takes one write for up to FT_OFFLOAD_UDP_GRO_MAX_SEGS
 * datagrams. The rules are Linux's own for UDP GRO (net/ipv4/udp_offload.c,
 * udp_gro_receive_segment; the IP checks of inet_gro_receive and ipv6_gro_receive), so that
 * the super-packet is one the kernel could have built itself and segments back into the
 * datagrams it was made of. As in offload.c: every length checked before a field is read,
 * fields read through get16() and friends.
 */
#include "config.h"

#include <string.h>

#include "stats/ipview.h"
#include "tun/net/csum.h"
#include "tun/net/offload_internal.h"

/*
 * Whether p (len bytes) is a UDP datagram that Linux's udp_gro_receive_segment() would merge:
 * a plain IPv4 header (no options, not a fragment, a valid header checksum) or IPv6 header (no
 * extension headers), a UDP length that is the IP payload's (no padding inside the IP
 * length), some payload, and a checksum that is present (Linux merges none without, as GSO
 * always computes one) and verifies (a damaged datagram must reach the kernel on its own: the
 * super-packet's checksums are computed afresh). Fills *it and *len as gro_candidate() does.
 */
bool ft_offload_udp_candidate(const uint8_t *p, size_t *len, struct gro_item *it)
{
	struct ft_ipview ip;
	size_t iplen, iphl;
	uint32_t sum;

	if (ft_ipview_parse(&ip, p, *len) != FT_PACKET_OK || ip.proto != IPPROTO_UDP_)
		return false;
	/* IPv4: no options, not a fragment, a header checksum that verifies. */
	if (ip.version == 4 &&
	    (ip.hlen != IPV4_MIN_HL || (ip.frag & (FT_IPVIEW_MF | FT_IPVIEW_OFFSET)) ||
	     ft_csum(p, ip.hlen) != 0))
		return false;
	iphl = ip.hlen;
	iplen = ip.len;
	if (iplen <= iphl + UDP_HL || get16(p + iphl + 4) != iplen - iphl ||
	    get16(p + iphl + UDP_CSUM_OFF) == 0)
		return false;
	if (ip.version == 6)
		sum = ft_csum_pseudo_v6(ip.src, ip.dst, IPPROTO_UDP_, (uint32_t)(iplen - iphl));
	else
		sum = ft_csum_pseudo_v4(ip.src, ip.dst, IPPROTO_UDP_, (uint32_t)(iplen - iphl));
	if (ft_csum_fold(ft_csum_partial(p + iphl, iplen - iphl, sum)) != 0)
		return false;
	it->v6 = ip.version == 6;
	it->udp = true;
	it->iphl = (uint16_t)iphl;
	it->thl = UDP_HL;
	*len = iplen;
	return true;
}

/* Item it starts with one datagram of IP length len. */
void ft_offload_udp_start(struct gro_item *it, size_t len)
{
	it->open = true;
	it->gso_size = (uint16_t)(len - it->iphl - UDP_HL);
	it->total = len;
	it->first_len = len;
}

/*
 * Appends datagram i (IP length len) to item k when Linux would: the same addresses and
 * ports; for IPv4 the same TOS, TTL and DF bit, ids that count up from the first or, with
 * DF, all equal to it (inet_gro_flush(): the second datagram decides which); for IPv6 the
 * same traffic class, flow label and hop limit; no more payload than the first (a shorter
 * one is the last); at most FT_OFFLOAD_UDP_GRO_MAX_SEGS datagrams and FT_OFFLOAD_MAX_LEN
 * bytes. True when it was appended.
 */
bool ft_offload_udp_append(struct gro_table *t, const struct iovec *in, unsigned int i, size_t len,
			   int k)
{
	struct gro_item *it = &t->items[k];
	const uint8_t *h = in[it->first].iov_base, *p = in[i].iov_base;
	size_t payload = len - it->iphl - UDP_HL;
	bool fixed_id = it->fixed_id;

	if (!it->open || !it->udp || it->v6 != (p[0] >> 4 == 6))
		return false;
	if (it->v6) {
		if (memcmp(h, p, 4) != 0 || h[7] != p[7] || memcmp(h + 8, p + 8, 32) != 0)
			return false;
	} else {
		uint16_t hid = get16(h + 4), pid = get16(p + 4);
		bool df = get16(h + 6) & 0x4000;

		if (h[1] != p[1] || ((get16(h + 6) ^ get16(p + 6)) & 0x4000) || h[8] != p[8] ||
		    memcmp(h + 12, p + 12, 8) != 0)
			return false;
		if (it->count == 1 && df && pid == hid)
			fixed_id = true;
		else if (pid != (fixed_id ? hid : (uint16_t)(hid + it->count)))
			return false;
	}
	if (memcmp(h + it->iphl, p + it->iphl, 4) != 0 || payload > it->gso_size ||
	    it->total + payload > FT_OFFLOAD_MAX_LEN)
		return false;
	t->next[it->last] = i;
	t->len[i] = len;
	t->item_of[i] = (unsigned int)k;
	it->fixed_id = fixed_id;
	it->last = i;
	it->count++;
	it->total += payload;
	if (payload < it->gso_size || it->count >= FT_OFFLOAD_UDP_GRO_MAX_SEGS)
		it->open = false;
	return true;
}

/*
 * Writes UDP item it (two datagrams or more) as one USO super-packet: the first datagram's
 * headers with the IP and UDP lengths of the whole, and in the UDP checksum field the
 * pseudo-header sum (folded, not complemented) over that length, which Linux's
 * __udp_gso_segment() adjusts per datagram (udp4_gro_complete() leaves the same).
 */
size_t ft_offload_udp_emit(const struct gro_table *t, const struct gro_item *it,
			   const struct iovec *in, uint8_t *dst)
{
	struct ft_vnet_hdr vh = {
		.flags = FT_VNET_F_NEEDS_CSUM,
		.gso_type = FT_VNET_GSO_UDP_L4,
		.hdr_len = (uint16_t)(it->iphl + UDP_HL),
		.gso_size = it->gso_size,
		.csum_start = it->iphl,
		.csum_offset = UDP_CSUM_OFF,
	};
	uint8_t *pkt = dst + FT_OFFLOAD_VNET_HDR_LEN, *uh = pkt + it->iphl;
	size_t off = ft_offload_gro_gather(t, it, in, pkt, (size_t)it->iphl + UDP_HL);
	uint32_t sum;

	if (it->v6) {
		put16(pkt + 4, (uint16_t)(off - IPV6_HL));
		sum = ft_csum_pseudo_v6(pkt + 8, pkt + 24, IPPROTO_UDP_, (uint32_t)(off - IPV6_HL));
	} else {
		put16(pkt + 2, (uint16_t)off);
		put16(pkt + 10, 0);
		put16(pkt + 10, ft_csum(pkt, IPV4_MIN_HL));
		sum = ft_csum_pseudo_v4(pkt + 12, pkt + 16, IPPROTO_UDP_,
					(uint32_t)(off - IPV4_MIN_HL));
	}
	put16(uh + 4, (uint16_t)(off - it->iphl));
	put16(uh + UDP_CSUM_OFF, (uint16_t)~ft_csum_fold(sum));
	ft_offload_write_vnet(dst, &vh);
	return FT_OFFLOAD_VNET_HDR_LEN + off;
}
