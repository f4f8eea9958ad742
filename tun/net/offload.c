// SPDX-License-Identifier: MIT
/*
 * Segmentation (GSO) of TUN super-packets and coalescing (GRO) of received TCP segments.
 *
 * The kernel's rules are the reference: net/ipv4/tcp_offload.c (tcp_gso_segment and
 * tcp_gro_receive), net/ipv4/udp_offload.c (__udp_gso_segment) and include/linux/virtio_net.h.
 * Each packet is validated into local offsets first and only then interpreted: the IP header
 * by the one view of it (stats/ipview.h), the rest into struct gso_layout and struct gro_item;
 * every field is read through get16/get32 after a length check, never through a cast struct.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "base/bytes.h"
#include "stats/ipview.h"
#include "tun/net/csum.h"
#include "tun/net/offload_internal.h"
#include "tun/net/tundev.h"

_Static_assert(FT_OFFLOAD_VNET_HDR_LEN == FT_TUNDEV_VNET_HDR_LEN, "vnet header length");

enum tcp_flag {
	TCP_FIN = 0x01,
	TCP_SYN = 0x02,
	TCP_RST = 0x04,
	TCP_PSH = 0x08,
	TCP_ACK = 0x10,
	TCP_URG = 0x20,
	TCP_ECE = 0x40,
	TCP_CWR = 0x80,
};

/* The checks of ft_offload_parse_vnet() against a packet of pkt_len bytes. */
static int check_vnet(const struct ft_vnet_hdr *vh, size_t pkt_len)
{
	unsigned int gso = vh->gso_type & ~FT_VNET_GSO_ECN;

	if (vh->flags & ~(FT_VNET_F_NEEDS_CSUM | FT_VNET_F_DATA_VALID))
		return -EINVAL;
	if (vh->hdr_len > pkt_len)
		return -EINVAL;
	if ((vh->flags & FT_VNET_F_NEEDS_CSUM) &&
	    (size_t)vh->csum_start + vh->csum_offset + 2 > pkt_len)
		return -EINVAL;
	switch (gso) {
	case FT_VNET_GSO_NONE:
		/* ECN describes a GSO packet's CWR; without GSO it is nonsense. */
		return vh->gso_type == FT_VNET_GSO_NONE ? 0 : -EINVAL;
	case FT_VNET_GSO_TCPV4:
	case FT_VNET_GSO_TCPV6:
	case FT_VNET_GSO_UDP_L4:
		break;
	case FT_VNET_GSO_UDP:
		return -EOPNOTSUPP;
	default:
		return -EINVAL;
	}
	/* Segments need their checksums computed, so the kernel always asks for it with GSO. */
	if (!(vh->flags & FT_VNET_F_NEEDS_CSUM) || vh->gso_size == 0)
		return -EINVAL;
	if (vh->csum_offset != (gso == FT_VNET_GSO_UDP_L4 ? UDP_CSUM_OFF : TCP_CSUM_OFF))
		return -EINVAL;
	return 0;
}

int ft_offload_parse_vnet(const uint8_t *buf, size_t len, struct ft_vnet_hdr *vh)
{
	struct ft_vnet_hdr v;
	int r;

	if (len < FT_OFFLOAD_VNET_HDR_LEN)
		return -EINVAL;
	v.flags = buf[0];
	v.gso_type = buf[1];
	v.hdr_len = ft_le16_load(buf + 2);
	v.gso_size = ft_le16_load(buf + 4);
	v.csum_start = ft_le16_load(buf + 6);
	v.csum_offset = ft_le16_load(buf + 8);
	r = check_vnet(&v, len - FT_OFFLOAD_VNET_HDR_LEN);
	if (r < 0)
		return r;
	*vh = v;
	return 0;
}

void ft_offload_write_vnet(uint8_t *out, const struct ft_vnet_hdr *vh)
{
	out[0] = vh->flags;
	out[1] = vh->gso_type;
	ft_le16_store(out + 2, vh->hdr_len);
	ft_le16_store(out + 4, vh->gso_size);
	ft_le16_store(out + 6, vh->csum_start);
	ft_le16_store(out + 8, vh->csum_offset);
}

/* Completes a NEEDS_CSUM checksum: the field holds the pseudo-header sum already. */
static void complete_csum(uint8_t *pkt, size_t len, const struct ft_vnet_hdr *vh)
{
	uint16_t c = ft_csum(pkt + vh->csum_start, len - vh->csum_start);

	/* As skb_checksum_help(): a zero result goes out as 0xffff, which UDP needs. */
	put16(pkt + vh->csum_start + vh->csum_offset, c ? c : 0xffff);
}

/* Where the headers of a GSO super-packet end, after checking them. */
struct gso_layout {
	bool v6, tcp;
	size_t len;  /* the packet's length: the IP length field */
	size_t iphl; /* IP header length, = csum_start */
	size_t hl;   /* IP + transport header length */
};

static int gso_layout(const uint8_t *pkt, size_t len, const struct ft_vnet_hdr *vh,
		      struct gso_layout *lo)
{
	unsigned int gso = vh->gso_type & ~FT_VNET_GSO_ECN;
	struct ft_ipview ip;
	size_t iplen, thl;

	if (ft_ipview_parse(&ip, pkt, len) != FT_PACKET_OK)
		return -EINVAL;
	lo->tcp = gso != FT_VNET_GSO_UDP_L4;
	lo->v6 = ip.version == 6;
	lo->iphl = ip.hlen;
	iplen = ip.len;
	if (gso == (lo->v6 ? FT_VNET_GSO_TCPV4 : FT_VNET_GSO_TCPV6))
		return -EINVAL;
	/* A fragment cannot be segmented: MF or a fragment offset (IPv6's are below). */
	if (ip.frag & (FT_IPVIEW_MF | FT_IPVIEW_OFFSET))
		return -EINVAL;
	/* An IPv6 extension header (a fragment header among them) is not walked here. */
	if (lo->v6 && ip.proto != IPPROTO_TCP_ && ip.proto != IPPROTO_UDP_)
		return -EOPNOTSUPP;
	if (ip.proto != (lo->tcp ? IPPROTO_TCP_ : IPPROTO_UDP_))
		return -EINVAL;
	if (vh->csum_start != lo->iphl)
		return -EINVAL;
	lo->len = iplen;
	if (lo->tcp) {
		if (iplen < lo->iphl + TCP_MIN_HL)
			return -EINVAL;
		/* Not hdr_len: that can be the whole linear part of the skb (wireguard-go saw it). */
		thl = (size_t)(pkt[lo->iphl + 12] >> 4) * 4;
		if (thl < TCP_MIN_HL)
			return -EINVAL;
	} else {
		thl = UDP_HL;
	}
	lo->hl = lo->iphl + thl;
	if (lo->hl > iplen)
		return -EINVAL;
	return 0;
}

/*
 * Segments [first, first + n) of the packet into slots[0..n), n = min(nslots, what is left);
 * *total: the packet's segment count. With whole, all segments or -ENOBUFS.
 */
static int segment(const uint8_t *pkt, size_t len, const struct ft_vnet_hdr *vh, size_t first,
		   uint8_t *const *slots, unsigned int nslots, size_t headroom, size_t room,
		   size_t *lens, unsigned int *total, bool whole)
{
	struct gso_layout lo;
	size_t payload, gso_size, nseg, off, n;
	uint16_t id = 0;
	uint32_t seq = 0;
	uint8_t flags = 0;
	int r;

	r = check_vnet(vh, len);
	if (r < 0)
		return r;
	if (nslots < 1)
		return -ENOBUFS;
	if ((vh->gso_type & ~FT_VNET_GSO_ECN) == FT_VNET_GSO_NONE) {
		if (first > 0)
			return -EINVAL;
		if (len > room)
			return -EMSGSIZE;
		memcpy(slots[0] + headroom, pkt, len);
		if (vh->flags & FT_VNET_F_NEEDS_CSUM)
			complete_csum(slots[0] + headroom, len, vh);
		lens[0] = len;
		*total = 1;
		return 1;
	}

	r = gso_layout(pkt, len, vh, &lo);
	if (r < 0)
		return r;
	payload = lo.len - lo.hl;
	gso_size = vh->gso_size;
	nseg = payload ? (payload + gso_size - 1) / gso_size : 1;
	if (first >= nseg)
		return -EINVAL;
	if (whole && nseg > nslots)
		return -ENOBUFS;
	if (lo.hl + (payload < gso_size ? payload : gso_size) > room)
		return -EMSGSIZE;
	n = nseg - first < nslots ? nseg - first : nslots;
	if (!lo.v6)
		id = get16(pkt + 4);
	if (lo.tcp) {
		seq = get32(pkt + lo.iphl + 4);
		flags = pkt[lo.iphl + 13];
	}

	off = lo.hl + first * gso_size;
	for (size_t i = first; i < first + n; i++) {
		size_t seg = payload - (off - lo.hl) < gso_size ? payload - (off - lo.hl)
								: gso_size;
		size_t seglen = lo.hl + seg, l4len = seglen - lo.iphl;
		uint8_t *out = slots[i - first] + headroom;
		uint8_t *th = out + lo.iphl;
		bool last = i == nseg - 1;
		uint32_t sum;

		memcpy(out, pkt, lo.hl);
		memcpy(out + lo.hl, pkt + off, seg);
		off += seg;
		if (lo.v6) {
			put16(out + 4, (uint16_t)l4len);
			sum = ft_csum_pseudo_v6(out + 8, out + 24, out[6], (uint32_t)l4len);
		} else {
			put16(out + 2, (uint16_t)seglen);
			put16(out + 4, (uint16_t)(id + i));
			put16(out + 10, 0);
			put16(out + 10, ft_csum(out, lo.iphl));
			sum = ft_csum_pseudo_v4(out + 12, out + 16, out[9], (uint32_t)l4len);
		}
		if (lo.tcp) {
			uint8_t f = flags;

			put32(th + 4, seq + (uint32_t)(i * gso_size));
			if (!last)
				f &= (uint8_t) ~(TCP_FIN | TCP_PSH);
			if (i > 0)
				f &= (uint8_t)~TCP_CWR;
			th[13] = f;
			put16(th + TCP_CSUM_OFF, 0);
			put16(th + TCP_CSUM_OFF, ft_csum_fold(ft_csum_partial(th, l4len, sum)));
		} else {
			uint16_t c;

			put16(th + 4, (uint16_t)l4len);
			put16(th + UDP_CSUM_OFF, 0);
			c = ft_csum_fold(ft_csum_partial(th, l4len, sum));
			put16(th + UDP_CSUM_OFF, c ? c : 0xffff);
		}
		lens[i - first] = seglen;
	}
	*total = (unsigned int)nseg;
	return (int)n;
}

int ft_offload_segment(const uint8_t *pkt, size_t len, const struct ft_vnet_hdr *vh,
		       uint8_t *const *slots, unsigned int nslots, size_t headroom, size_t room,
		       size_t *lens)
{
	unsigned int total;

	return segment(pkt, len, vh, 0, slots, nslots, headroom, room, lens, &total, true);
}

int ft_offload_segment_from(const uint8_t *pkt, size_t len, const struct ft_vnet_hdr *vh,
			    unsigned int first, uint8_t *const *slots, unsigned int nslots,
			    size_t headroom, size_t room, size_t *lens, unsigned int *total)
{
	return segment(pkt, len, vh, first, slots, nslots, headroom, room, lens, total, false);
}

/* ---- GRO ---- */

/* The flow key: addresses (contiguous in both headers) and the two ports. */
static void flow_key(const uint8_t *p, bool v6, size_t iphl, const uint8_t **addr, size_t *addr_len,
		     const uint8_t **ports)
{
	*addr = v6 ? p + 8 : p + 12;
	*addr_len = v6 ? 32 : 8;
	*ports = p + iphl;
}

static unsigned int flow_hash(const uint8_t *p, bool v6, size_t iphl)
{
	const uint8_t *addr, *ports;
	size_t alen;
	uint32_t h = 2166136261u;

	flow_key(p, v6, iphl, &addr, &alen, &ports);
	for (size_t i = 0; i < alen; i++)
		h = (h ^ addr[i]) * 16777619u;
	for (size_t i = 0; i < 4; i++)
		h = (h ^ ports[i]) * 16777619u;
	return h % GRO_BUCKETS;
}

/*
 * Whether p (len bytes) is a TCP segment we could merge: a plain IPv4 or IPv6 header, only
 * ACK or ACK|PSH, some payload and correct checksums. A bad checksum must reach the kernel
 * on its own, since a merged packet's checksum is recomputed and would hide the damage.
 * Fills *it with the headers' layout and *len with the IP length.
 */
static bool gro_candidate(const uint8_t *p, size_t *len, struct gro_item *it)
{
	struct ft_ipview ip;
	size_t iplen, iphl, thl;
	uint32_t sum;
	uint8_t flags;

	if (ft_ipview_parse(&ip, p, *len) != FT_PACKET_OK || ip.proto != IPPROTO_TCP_)
		return false;
	iphl = ip.hlen;
	iplen = ip.len;
	if (iplen < iphl + TCP_MIN_HL)
		return false;
	if (ip.version == 4) {
		/* No options (the merged header is rebuilt at 20 bytes), no fragment. */
		if (iphl != IPV4_MIN_HL || (ip.frag & (FT_IPVIEW_MF | FT_IPVIEW_OFFSET)))
			return false;
		if (ft_csum(p, iphl) != 0)
			return false;
	}
	sum = ip.version == 4
		      ? ft_csum_pseudo_v4(ip.src, ip.dst, IPPROTO_TCP_, (uint32_t)(iplen - iphl))
		      : ft_csum_pseudo_v6(ip.src, ip.dst, IPPROTO_TCP_, (uint32_t)(iplen - iphl));
	it->v6 = ip.version == 6;
	thl = (size_t)(p[iphl + 12] >> 4) * 4;
	if (thl < TCP_MIN_HL || iphl + thl >= iplen)
		return false;
	flags = p[iphl + 13];
	if (flags != TCP_ACK && flags != (TCP_ACK | TCP_PSH))
		return false;
	if (ft_csum_fold(ft_csum_partial(p + iphl, iplen - iphl, sum)) != 0)
		return false;
	it->iphl = (uint16_t)iphl;
	it->thl = (uint16_t)thl;
	*len = iplen;
	return true;
}

/* Whether segment p (len bytes, the layout of it) can be appended to item it with head h. */
static bool gro_can_append(const struct gro_item *it, const uint8_t *h, const uint8_t *p,
			   size_t len)
{
	const uint8_t *th = h + it->iphl, *tp = p + it->iphl;
	size_t hl = (size_t)it->iphl + it->thl, payload = len - hl;

	if (!it->open || it->v6 != (p[0] >> 4 == 6))
		return false;
	if ((size_t)(tp[12] >> 4) * 4 != it->thl)
		return false;
	if (it->v6) {
		/* Version, traffic class and flow label; hop limit; addresses. */
		if (memcmp(h, p, 4) != 0 || h[7] != p[7] || memcmp(h + 8, p + 8, 32) != 0)
			return false;
	} else {
		/* TOS, the DF bit, TTL, addresses; ids must count up from the first. */
		if (h[1] != p[1] || ((get16(h + 6) ^ get16(p + 6)) & 0x4000) || h[8] != p[8] ||
		    memcmp(h + 12, p + 12, 8) != 0)
			return false;
		if (get16(p + 4) != (uint16_t)(get16(h + 4) + it->count))
			return false;
	}
	/* Ports, then the ACK number, the window and the options: all as in the first. */
	if (memcmp(th, tp, 4) != 0 || memcmp(th + 8, tp + 8, 4) != 0 ||
	    memcmp(th + 14, tp + 14, 2) != 0 ||
	    memcmp(th + TCP_MIN_HL, tp + TCP_MIN_HL, it->thl - TCP_MIN_HL) != 0)
		return false;
	if (get32(tp + 4) != it->next_seq)
		return false;
	if (payload > it->gso_size || it->total + payload > FT_OFFLOAD_MAX_LEN)
		return false;
	return true;
}

/*
 * A packet that merges with nothing ends any super-packet of its flow that is still open, so
 * that no later packet of the flow can join one written before it: Linux flushes a flow's
 * held packet on such a packet too. Only the flow's hash is known here, so this may end a
 * colliding flow's super-packet as well, which costs a merge, never the order.
 */
static void gro_end_flow(struct gro_table *t, const uint8_t *p, size_t len)
{
	size_t iphl;
	uint8_t proto;
	int b;

	if (len < 1)
		return;
	if (p[0] >> 4 == 4) {
		iphl = (size_t)(p[0] & 0x0f) * 4;
		if (iphl < IPV4_MIN_HL || len < iphl + 4)
			return;
		proto = p[9];
	} else if (p[0] >> 4 == 6) {
		iphl = IPV6_HL;
		if (len < iphl + 4)
			return;
		proto = p[6];
	} else {
		return;
	}
	if (proto != IPPROTO_TCP_ && proto != IPPROTO_UDP_)
		return;
	b = t->bucket[flow_hash(p, p[0] >> 4 == 6, iphl)];
	if (b >= 0)
		t->items[b].open = false;
}

static void gro_add(struct gro_table *t, const struct iovec *in, unsigned int i)
{
	const uint8_t *p = in[i].iov_base;
	struct gro_item cand = { 0 }, *it;
	size_t len = in[i].iov_len;
	unsigned int b = 0;

	t->next[i] = i;
	t->len[i] = len;
	if (((t->flags & FT_OFFLOAD_GRO_TCP) && gro_candidate(p, &len, &cand)) ||
	    ((t->flags & FT_OFFLOAD_GRO_UDP) && ft_offload_udp_candidate(p, &len, &cand))) {
		b = flow_hash(p, cand.v6, cand.iphl);
		if (t->bucket[b] >= 0 && cand.udp) {
			if (ft_offload_udp_append(t, in, i, len, t->bucket[b]))
				return;
		} else if (t->bucket[b] >= 0) {
			it = &t->items[t->bucket[b]];
			if (!it->udp && it->iphl == cand.iphl &&
			    gro_can_append(it, in[it->first].iov_base, p, len)) {
				size_t payload = len - it->iphl - it->thl;
				const uint8_t *tp = p + it->iphl;

				t->next[it->last] = i;
				t->len[i] = len;
				t->item_of[i] = (unsigned int)t->bucket[b];
				it->last = i;
				it->count++;
				it->total += payload;
				it->next_seq += (uint32_t)payload;
				if (payload < it->gso_size || (tp[13] & TCP_PSH))
					it->open = false;
				return;
			}
		}
	} else {
		gro_end_flow(t, p, len);
	}
	t->item_of[i] = t->nitems;
	it = &t->items[t->nitems];
	*it = cand;
	it->first = it->last = i;
	it->count = 1;
	if (cand.udp) {
		ft_offload_udp_start(it, len);
		t->bucket[b] = (int)t->nitems;
	} else if (cand.iphl) {
		const uint8_t *tp = p + cand.iphl;
		size_t payload = len - cand.iphl - cand.thl;

		it->tcp = true;
		it->open = !(tp[13] & TCP_PSH);
		it->gso_size = (uint16_t)payload;
		it->next_seq = get32(tp + 4) + (uint32_t)payload;
		it->total = len;
		it->first_len = len;
		t->bucket[b] = (int)t->nitems;
	}
	t->nitems++;
}

size_t ft_offload_gro_gather(const struct gro_table *t, const struct gro_item *it,
			     const struct iovec *in, uint8_t *pkt, size_t hl)
{
	size_t off = it->first_len;

	memcpy(pkt, in[it->first].iov_base, it->first_len);
	for (unsigned int i = t->next[it->first];; i = t->next[i]) {
		size_t seg = t->len[i] - hl;

		memcpy(pkt + off, (const uint8_t *)in[i].iov_base + hl, seg);
		off += seg;
		if (i == it->last)
			break;
	}
	return off;
}

/* Writes item it as one packet behind its vnet header at dst; returns the bytes written. */
static size_t gro_emit(const struct gro_table *t, const struct gro_item *it, const struct iovec *in,
		       uint8_t *dst)
{
	struct ft_vnet_hdr vh = { 0 };
	uint8_t *pkt = dst + FT_OFFLOAD_VNET_HDR_LEN;
	size_t off, hl = (size_t)it->iphl + it->thl;
	uint8_t *th = pkt + it->iphl;
	uint32_t sum;

	if (it->count == 1) {
		/* Unchanged, with whatever followed the IP length. */
		memcpy(pkt, in[it->first].iov_base, in[it->first].iov_len);
		ft_offload_write_vnet(dst, &vh);
		return FT_OFFLOAD_VNET_HDR_LEN + in[it->first].iov_len;
	}
	if (it->udp)
		return ft_offload_udp_emit(t, it, in, dst);
	off = ft_offload_gro_gather(t, it, in, pkt, hl);
	/* PSH of the last segment goes on the super-packet; the split puts it back at the end. */
	th[13] |= ((const uint8_t *)in[it->last].iov_base)[it->iphl + 13] & TCP_PSH;
	if (it->v6) {
		put16(pkt + 4, (uint16_t)(off - IPV6_HL));
		sum = ft_csum_pseudo_v6(pkt + 8, pkt + 24, IPPROTO_TCP_, (uint32_t)(off - IPV6_HL));
		vh.gso_type = FT_VNET_GSO_TCPV6;
	} else {
		put16(pkt + 2, (uint16_t)off);
		put16(pkt + 10, 0);
		put16(pkt + 10, ft_csum(pkt, IPV4_MIN_HL));
		sum = ft_csum_pseudo_v4(pkt + 12, pkt + 16, IPPROTO_TCP_,
					(uint32_t)(off - IPV4_MIN_HL));
		vh.gso_type = FT_VNET_GSO_TCPV4;
	}
	/* NEEDS_CSUM: the field holds the folded pseudo-header sum, not complemented. */
	put16(th + TCP_CSUM_OFF, (uint16_t)~ft_csum_fold(sum));
	vh.flags = FT_VNET_F_NEEDS_CSUM;
	vh.hdr_len = (uint16_t)hl;
	vh.gso_size = it->gso_size;
	vh.csum_start = it->iphl;
	vh.csum_offset = TCP_CSUM_OFF;
	ft_offload_write_vnet(dst, &vh);
	return FT_OFFLOAD_VNET_HDR_LEN + off;
}

int ft_offload_coalesce(const struct iovec *in, unsigned int n, uint8_t *arena, size_t arena_len,
			struct iovec *out, unsigned int max_out, unsigned int *owner)
{
	return ft_offload_coalesce_ex(in, n, FT_OFFLOAD_GRO_TCP, arena, arena_len, out, max_out,
				      owner);
}

int ft_offload_coalesce_ex(const struct iovec *in, unsigned int n, unsigned int flags,
			   uint8_t *arena, size_t arena_len, struct iovec *out,
			   unsigned int max_out, unsigned int *owner)
{
	struct gro_table t;
	size_t used = 0;

	if (n > FT_OFFLOAD_GRO_MAX_BATCH)
		return -EINVAL;
	t.nitems = 0;
	t.flags = flags;
	for (unsigned int b = 0; b < GRO_BUCKETS; b++)
		t.bucket[b] = -1;
	for (unsigned int i = 0; i < n; i++)
		gro_add(&t, in, i);
	if (t.nitems > max_out)
		return -ENOBUFS;
	for (unsigned int k = 0; k < t.nitems; k++) {
		const struct gro_item *it = &t.items[k];
		size_t need = FT_OFFLOAD_VNET_HDR_LEN +
			      (it->count == 1 ? in[it->first].iov_len : it->total);

		if (need > arena_len - used)
			return -ENOBUFS;
		out[k].iov_base = arena + used;
		out[k].iov_len = gro_emit(&t, it, in, arena + used);
		used += out[k].iov_len;
	}
	if (owner)
		memcpy(owner, t.item_of, n * sizeof(*owner));
	return (int)t.nitems;
}
