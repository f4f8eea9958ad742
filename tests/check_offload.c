// SPDX-License-Identifier: MIT
/*
 * TUN offloads: vnet header parsing, GSO segmentation and GRO coalescing. Packets are built
 * here field by field with checksums from ft_csum_reference(), so the expected segments are
 * what the kernel's software GSO sends, computed independently of the code under test.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <check.h>

#include "tun/net/csum.h"
#include "tun/net/offload.h"

#define SLOT_SIZE 2048
#define HEADROOM 16
#define NSLOTS 64

/* The fields of one test packet; addresses are 100.64.0.1 -> .2 or fd00::1 -> fd00::2. */
struct pk {
	bool v6;
	uint8_t proto; /* 6 TCP, 17 UDP, 1 ICMP */
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t win;
	uint16_t id;
	uint8_t optlen; /* TCP options: a multiple of 4 */
	uint8_t ttl, tos;
};

enum {
	FIN = 0x01,
	SYN = 0x02,
	RST = 0x04,
	PSH = 0x08,
	ACK = 0x10,
	URG = 0x20,
	ECE = 0x40,
	CWR = 0x80
};

static const uint8_t src4[4] = { 100, 64, 0, 1 }, dst4[4] = { 100, 64, 0, 2 };
static const uint8_t src6[16] = { 0xfd, [15] = 1 }, dst6[16] = { 0xfd, [15] = 2 };

static uint8_t payload_byte(size_t i)
{
	return (uint8_t)(i * 7 + (i >> 8) + 3);
}

static void put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v & 0xffff);
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* The L4 checksum over pseudo-header + segment, by the reference loop. */
static uint16_t ref_l4_csum(const struct pk *k, const uint8_t *l4, size_t l4len)
{
	static uint8_t tmp[40 + 65536];
	size_t ph;

	if (k->v6) {
		memcpy(tmp, src6, 16);
		memcpy(tmp + 16, dst6, 16);
		put32(tmp + 32, (uint32_t)l4len);
		tmp[36] = tmp[37] = tmp[38] = 0;
		tmp[39] = k->proto;
		ph = 40;
	} else {
		memcpy(tmp, src4, 4);
		memcpy(tmp + 4, dst4, 4);
		tmp[8] = 0;
		tmp[9] = k->proto;
		put16(tmp + 10, (uint32_t)l4len);
		ph = 12;
	}
	memcpy(tmp + ph, l4, l4len);
	return ft_csum_reference(tmp, ph + l4len);
}

/* Builds the packet k carrying payload bytes [poff, poff + plen) into b; returns its length. */
static size_t build(uint8_t *b, const struct pk *k, size_t poff, size_t plen)
{
	size_t iphl = k->v6 ? 40 : 20, l4hl, len;
	uint8_t *l4 = b + iphl;
	uint16_t c;

	l4hl = k->proto == 6 ? 20u + k->optlen : 8;
	len = iphl + l4hl + plen;
	memset(b, 0, iphl + l4hl);
	if (k->v6) {
		b[0] = 0x60 | (k->tos >> 4);
		b[1] = (uint8_t)(k->tos << 4) | 0x0a; /* flow label 0xabcde */
		b[2] = 0xbc;
		b[3] = 0xde;
		put16(b + 4, (uint32_t)(len - 40));
		b[6] = k->proto;
		b[7] = k->ttl;
		memcpy(b + 8, src6, 16);
		memcpy(b + 24, dst6, 16);
	} else {
		b[0] = 0x45;
		b[1] = k->tos;
		put16(b + 2, (uint32_t)len);
		put16(b + 4, k->id);
		put16(b + 6, 0x4000); /* DF */
		b[8] = k->ttl;
		b[9] = k->proto;
		memcpy(b + 12, src4, 4);
		memcpy(b + 16, dst4, 4);
		put16(b + 10, ft_csum_reference(b, 20));
	}
	put16(l4, k->sport);
	put16(l4 + 2, k->dport);
	for (size_t i = 0; i < plen; i++)
		b[iphl + l4hl + i] = payload_byte(poff + i);
	if (k->proto == 6) {
		put32(l4 + 4, k->seq);
		put32(l4 + 8, k->ack);
		l4[12] = (uint8_t)((l4hl / 4) << 4);
		l4[13] = k->flags;
		put16(l4 + 14, k->win);
		/* Options: NOP NOP timestamps(10) when 12 bytes, else NOPs. */
		memset(l4 + 20, 1, k->optlen);
		if (k->optlen == 12) {
			l4[22] = 8;
			l4[23] = 10;
			put32(l4 + 24, 0x01020304);
			put32(l4 + 28, 0x05060708);
		}
		c = ref_l4_csum(k, l4, len - iphl);
		put16(l4 + 16, c);
	} else if (k->proto == 17) {
		put16(l4 + 4, (uint32_t)(len - iphl));
		c = ref_l4_csum(k, l4, len - iphl);
		put16(l4 + 6, c ? c : 0xffff);
	}
	return len;
}

static uint8_t slotmem[NSLOTS][SLOT_SIZE];
static uint8_t *slots[NSLOTS];
static size_t lens[NSLOTS];
static uint8_t super[65536], expect[SLOT_SIZE];
static unsigned int owner[FT_OFFLOAD_GRO_MAX_BATCH];

static void reset_slots(void)
{
	memset(slotmem, 0xaa, sizeof(slotmem));
	for (int i = 0; i < NSLOTS; i++)
		slots[i] = slotmem[i];
}

/* The vnet header Linux puts before a TSO/USO super-packet from a socket. */
static struct ft_vnet_hdr gso_hdr(const struct pk *k, uint16_t gso_size)
{
	struct ft_vnet_hdr vh = { .flags = FT_VNET_F_NEEDS_CSUM, .gso_size = gso_size };
	size_t iphl = k->v6 ? 40 : 20;

	vh.csum_start = (uint16_t)iphl;
	if (k->proto == 17) {
		vh.gso_type = FT_VNET_GSO_UDP_L4;
		vh.csum_offset = 6;
		vh.hdr_len = (uint16_t)(iphl + 8);
	} else {
		vh.gso_type = k->v6 ? FT_VNET_GSO_TCPV6 : FT_VNET_GSO_TCPV4;
		vh.csum_offset = 16;
		vh.hdr_len = (uint16_t)(iphl + 20 + k->optlen);
	}
	return vh;
}

/*
 * Segmentation cases: the super-packet's fields, its payload and gso_size; the expected
 * segments are built one by one with seq + i * gso_size, id + i, FIN/PSH last, CWR first.
 */
static const struct {
	const char *what;
	struct pk k;
	size_t payload;
	uint16_t gso_size;
	unsigned int nseg;
} seg_cases[] = {
	{ "TCPv4, 3 segments, last short, PSH|FIN",
	  { .proto = 6,
	    .sport = 40000,
	    .dport = 5201,
	    .seq = 1000,
	    .ack = 77,
	    .flags = ACK | PSH | FIN,
	    .win = 502,
	    .id = 0x1234,
	    .optlen = 12,
	    .ttl = 64 },
	  2 * 1388 + 500,
	  1388,
	  3 },
	{ "TCPv6, 3 segments, exact multiple",
	  { .v6 = true,
	    .proto = 6,
	    .sport = 40000,
	    .dport = 5201,
	    .seq = 5,
	    .ack = 9,
	    .flags = ACK | PSH,
	    .win = 1000,
	    .optlen = 12,
	    .ttl = 63,
	    .tos = 0x28 },
	  3 * 1368,
	  1368,
	  3 },
	{ "TCPv4, sequence number wraps",
	  { .proto = 6,
	    .sport = 1,
	    .dport = 2,
	    .seq = 0xfffffc00,
	    .ack = 1,
	    .flags = ACK,
	    .win = 1,
	    .id = 7,
	    .ttl = 64 },
	  4000,
	  1400,
	  3 },
	{ "TCPv4, IPv4 id wraps, CWR on the first only",
	  { .proto = 6,
	    .sport = 1,
	    .dport = 2,
	    .seq = 1,
	    .ack = 1,
	    .flags = ACK | CWR | PSH,
	    .win = 1,
	    .id = 0xffff,
	    .ttl = 64 },
	  3000,
	  1000,
	  3 },
	{ "TCPv4, payload fits one segment",
	  { .proto = 6,
	    .sport = 1,
	    .dport = 2,
	    .seq = 1,
	    .ack = 1,
	    .flags = ACK | PSH,
	    .win = 1,
	    .id = 3,
	    .ttl = 64 },
	  900,
	  1400,
	  1 },
	{ "TCPv4, 64 KiB into 46 segments",
	  { .proto = 6,
	    .sport = 443,
	    .dport = 50000,
	    .seq = 99,
	    .ack = 1,
	    .flags = ACK,
	    .win = 9,
	    .id = 100,
	    .optlen = 12,
	    .ttl = 64 },
	  65535 - 52,
	  1448,
	  46 },
	{ "UDPv4 (USO), 3 segments",
	  { .proto = 17, .sport = 4433, .dport = 443, .id = 50, .ttl = 64 },
	  2 * 1200 + 1,
	  1200,
	  3 },
	{ "UDPv6 (USO), 2 segments",
	  { .v6 = true, .proto = 17, .sport = 4433, .dport = 443, .ttl = 64 },
	  2400,
	  1200,
	  2 },
};

START_TEST(test_segment)
{
	const struct pk *k = &seg_cases[_i].k;
	uint16_t gso = seg_cases[_i].gso_size;
	struct ft_vnet_hdr vh = gso_hdr(k, gso), parsed;
	size_t len, off = 0, iphl = k->v6 ? 40 : 20;
	uint8_t wire[FT_OFFLOAD_VNET_HDR_LEN + 65536];
	int n;

	len = build(super, k, 0, seg_cases[_i].payload);
	/* The kernel leaves the pseudo-header sum in the field; we must not depend on it. */
	put16(super + vh.csum_start + vh.csum_offset, 0x1234);
	ft_offload_write_vnet(wire, &vh);
	memcpy(wire + FT_OFFLOAD_VNET_HDR_LEN, super, len);
	ck_assert_int_eq(ft_offload_parse_vnet(wire, FT_OFFLOAD_VNET_HDR_LEN + len, &parsed), 0);
	ck_assert_mem_eq(&parsed, &vh, sizeof(vh));

	reset_slots();
	n = ft_offload_segment(super, len, &parsed, slots, NSLOTS, HEADROOM, SLOT_SIZE - HEADROOM,
			       lens);
	ck_assert_int_eq(n, (int)seg_cases[_i].nseg);
	for (int i = 0; i < n; i++) {
		struct pk e = *k;
		bool last = i == n - 1;
		size_t plen = last ? seg_cases[_i].payload - off : gso;
		size_t elen;
		uint8_t head[HEADROOM];

		e.seq = k->seq + (uint32_t)i * gso;
		e.id = (uint16_t)(k->id + i);
		if (!last)
			e.flags &= (uint8_t) ~(FIN | PSH);
		if (i > 0)
			e.flags &= (uint8_t)~CWR;
		elen = build(expect, &e, off, plen);
		off += plen;
		ck_assert_msg(lens[i] == elen, "%s: segment %d length %zu, want %zu",
			      seg_cases[_i].what, i, lens[i], elen);
		ck_assert_msg(memcmp(slots[i] + HEADROOM, expect, elen) == 0,
			      "%s: segment %d differs", seg_cases[_i].what, i);
		/* The head room is left for the caller. */
		memset(head, 0xaa, sizeof(head));
		ck_assert_mem_eq(slots[i], head, HEADROOM);
		/* Checksums verify with the reference loop. */
		if (!k->v6)
			ck_assert_uint_eq(ft_csum_reference(slots[i] + HEADROOM, 20), 0);
		ck_assert_uint_eq(ref_l4_csum(k, slots[i] + HEADROOM + iphl, elen - iphl), 0);
	}
	ck_assert_uint_eq(off, seg_cases[_i].payload);
}
END_TEST

/* A packet without GSO: copied; NEEDS_CSUM completes the checksum over the pseudo sum. */
START_TEST(test_no_gso)
{
	const struct pk tcp = { .proto = 6,
				.sport = 1,
				.dport = 2,
				.seq = 3,
				.ack = 4,
				.flags = ACK | PSH,
				.win = 5,
				.id = 6,
				.ttl = 64 };
	const struct pk udp6 = { .v6 = true, .proto = 17, .sport = 53, .dport = 53, .ttl = 1 };
	const struct pk *ks[] = { &tcp, &udp6 };

	for (size_t j = 0; j < 2; j++) {
		const struct pk *k = ks[j];
		struct ft_vnet_hdr vh = gso_hdr(k, 0), none = { 0 };
		size_t len = build(expect, k, 0, 333), iphl = k->v6 ? 40 : 20;
		uint32_t ps;

		vh.gso_type = FT_VNET_GSO_NONE;
		memcpy(super, expect, len);
		ps = k->v6 ? ft_csum_pseudo_v6(src6, dst6, k->proto, (uint32_t)(len - iphl))
			   : ft_csum_pseudo_v4(src4, dst4, k->proto, (uint32_t)(len - iphl));
		put16(super + vh.csum_start + vh.csum_offset, (uint16_t)~ft_csum_fold(ps));
		reset_slots();
		ck_assert_int_eq(ft_offload_segment(super, len, &vh, slots, 1, HEADROOM, len, lens),
				 1);
		ck_assert_uint_eq(lens[0], len);
		ck_assert_mem_eq(slots[0] + HEADROOM, expect, len);

		/* Without NEEDS_CSUM the packet is copied as it is. */
		ck_assert_int_eq(ft_offload_segment(expect, len, &none, slots, 1, 0, len, lens), 1);
		ck_assert_mem_eq(slots[0], expect, len);
		ck_assert_int_eq(ft_offload_segment(expect, len, &none, slots, 1, 0, len - 1, lens),
				 -EMSGSIZE);
	}
}
END_TEST

/* Limits: one slot too few, one byte too little room; exactly enough of each works. */
START_TEST(test_segment_limits)
{
	const struct pk k = { .proto = 6,
			      .sport = 1,
			      .dport = 2,
			      .seq = 3,
			      .ack = 4,
			      .flags = ACK,
			      .win = 5,
			      .id = 6,
			      .ttl = 64 };
	struct ft_vnet_hdr vh = gso_hdr(&k, 1000);
	size_t len = build(super, &k, 0, 3000), need = 40 + 1000;

	reset_slots();
	ck_assert_int_eq(ft_offload_segment(super, len, &vh, slots, 2, 0, SLOT_SIZE, lens),
			 -ENOBUFS);
	ck_assert_int_eq(ft_offload_segment(super, len, &vh, slots, 0, 0, SLOT_SIZE, lens),
			 -ENOBUFS);
	ck_assert_int_eq(ft_offload_segment(super, len, &vh, slots, 3, 0, SLOT_SIZE, lens), 3);
	ck_assert_int_eq(ft_offload_segment(super, len, &vh, slots, 3, 8, need - 1, lens),
			 -EMSGSIZE);
	ck_assert_int_eq(ft_offload_segment(super, len, &vh, slots, 3, 8, need, lens), 3);
	/* gso_size 1: 3000 segments cannot fit 64 slots. */
	vh.gso_size = 1;
	ck_assert_int_eq(ft_offload_segment(super, len, &vh, slots, NSLOTS, 0, SLOT_SIZE, lens),
			 -ENOBUFS);
}
END_TEST

/*
 * A super-packet of more segments than there are slots (a small MSS: 64 KiB in 88-byte
 * segments is 745), split in parts of a few slots each with ft_offload_segment_from(): every
 * segment exactly as the kernel's software GSO makes it, in order, none lost or repeated.
 */
START_TEST(test_segment_in_parts)
{
	static const unsigned int part_slots[] = { 1, 3, 7, NSLOTS };
	const struct pk k = { .proto = 6,
			      .sport = 40000,
			      .dport = 5201,
			      .seq = 0xfffff000, /* the sequence number wraps on the way */
			      .ack = 77,
			      .flags = ACK | PSH | CWR,
			      .win = 500,
			      .id = 0xfff0,
			      .optlen = 12,
			      .ttl = 64 };
	const uint16_t gso = 88;
	const size_t payload = 65535 - 20 - 32;
	const unsigned int nseg = (unsigned int)((payload + gso - 1) / gso);
	struct ft_vnet_hdr vh = gso_hdr(&k, gso);
	size_t len = build(super, &k, 0, payload);

	ck_assert_uint_gt(nseg, NSLOTS);
	/* All at once does not fit the slots: that is what the parts are for. */
	reset_slots();
	ck_assert_int_eq(ft_offload_segment(super, len, &vh, slots, NSLOTS, HEADROOM,
					    SLOT_SIZE - HEADROOM, lens),
			 -ENOBUFS);
	for (size_t p = 0; p < sizeof(part_slots) / sizeof(part_slots[0]); p++) {
		unsigned int first = 0, total = 0;
		size_t off = 0;

		while (first < nseg) {
			int n = ft_offload_segment_from(super, len, &vh, first, slots,
							part_slots[p], HEADROOM,
							SLOT_SIZE - HEADROOM, lens, &total);

			ck_assert_uint_eq(total, nseg);
			ck_assert_int_eq(n, (int)(nseg - first < part_slots[p] ? nseg - first
									       : part_slots[p]));
			for (int j = 0; j < n; j++) {
				unsigned int i = first + (unsigned int)j;
				struct pk e = k;
				bool last = i == nseg - 1;
				size_t plen = last ? payload - off : gso, elen;

				e.seq = k.seq + i * gso;
				e.id = (uint16_t)(k.id + i);
				if (!last)
					e.flags &= (uint8_t) ~(FIN | PSH);
				if (i > 0)
					e.flags &= (uint8_t)~CWR;
				elen = build(expect, &e, off, plen);
				off += plen;
				ck_assert_msg(lens[j] == elen && memcmp(slots[j] + HEADROOM, expect,
									elen) == 0,
					      "parts of %u: segment %u differs", part_slots[p], i);
				ck_assert_uint_eq(
					ref_l4_csum(&k, slots[j] + HEADROOM + 20, elen - 20), 0);
			}
			first += (unsigned int)n;
		}
		ck_assert_uint_eq(off, payload);
		/* Past the end, and no slots at all. */
		ck_assert_int_eq(ft_offload_segment_from(super, len, &vh, nseg, slots, 1, HEADROOM,
							 SLOT_SIZE - HEADROOM, lens, &total),
				 -EINVAL);
		ck_assert_int_eq(ft_offload_segment_from(super, len, &vh, 0, slots, 0, HEADROOM,
							 SLOT_SIZE - HEADROOM, lens, &total),
				 -ENOBUFS);
	}
}
END_TEST

/*
 * Bad vnet headers, each against a valid 3-segment TCPv4 super-packet (40 + 3000 bytes) or
 * UDPv4/TCPv6 where named; want is the error of parse (and segment, given the struct).
 */
enum mut_pkt { PKT_TCP4, PKT_UDP4, PKT_TCP6, PKT_TCP6_EXT };

static const struct {
	const char *what;
	enum mut_pkt pkt;
	struct ft_vnet_hdr vh;
	int parse_err, seg_err;
} bad_vnet[] = {
	{ "hdr_len past the packet", PKT_TCP4, { 1, 1, 3041, 1000, 20, 16 }, -EINVAL, -EINVAL },
	{ "gso_size 0", PKT_TCP4, { 1, 1, 40, 0, 20, 16 }, -EINVAL, -EINVAL },
	{ "csum_start past the end", PKT_TCP4, { 1, 1, 40, 1000, 3040, 16 }, -EINVAL, -EINVAL },
	{ "csum_start + csum_offset past the end",
	  PKT_TCP4,
	  { 1, 0, 0, 0, 3000, 39 },
	  -EINVAL,
	  -EINVAL },
	{ "csum_offset 65535", PKT_TCP4, { 1, 0, 0, 0, 20, 0xffff }, -EINVAL, -EINVAL },
	{ "csum_offset not TCP's", PKT_TCP4, { 1, 1, 40, 1000, 20, 6 }, -EINVAL, -EINVAL },
	{ "unknown flag", PKT_TCP4, { 0x05, 1, 40, 1000, 20, 16 }, -EINVAL, -EINVAL },
	{ "unknown gso type", PKT_TCP4, { 1, 2, 40, 1000, 20, 16 }, -EINVAL, -EINVAL },
	{ "UFO", PKT_TCP4, { 1, 3, 40, 1000, 20, 6 }, -EOPNOTSUPP, -EOPNOTSUPP },
	{ "GSO without NEEDS_CSUM", PKT_TCP4, { 0, 1, 40, 1000, 20, 16 }, -EINVAL, -EINVAL },
	{ "ECN without GSO", PKT_TCP4, { 0, 0x80, 0, 0, 0, 0 }, -EINVAL, -EINVAL },
	/* Valid headers that do not match the packet: only segment can tell. */
	{ "TCPV4 on a UDP packet", PKT_UDP4, { 1, 1, 28, 1000, 20, 16 }, 0, -EINVAL },
	{ "UDP_L4 on a TCP packet", PKT_TCP4, { 1, 5, 40, 1000, 20, 6 }, 0, -EINVAL },
	{ "TCPV4 on an IPv6 packet", PKT_TCP6, { 1, 1, 60, 1000, 40, 16 }, 0, -EINVAL },
	{ "TCPV6 on an IPv4 packet", PKT_TCP4, { 1, 4, 40, 1000, 20, 16 }, 0, -EINVAL },
	{ "csum_start not the IP header length", PKT_TCP4, { 1, 1, 40, 1000, 24, 16 }, 0, -EINVAL },
	{ "IPv6 extension header", PKT_TCP6_EXT, { 1, 4, 60, 1000, 40, 16 }, 0, -EOPNOTSUPP },
};

static size_t build_mut(enum mut_pkt which, uint8_t *b)
{
	struct pk k = { .proto = 6,
			.sport = 1,
			.dport = 2,
			.seq = 3,
			.ack = 4,
			.flags = ACK,
			.win = 5,
			.id = 6,
			.ttl = 64 };
	size_t len;

	if (which == PKT_UDP4)
		k.proto = 17;
	if (which == PKT_TCP6 || which == PKT_TCP6_EXT)
		k.v6 = true;
	len = build(b, &k, 0, which == PKT_UDP4 ? 3012 : 3000);
	if (which == PKT_TCP6_EXT)
		b[6] = 0; /* hop-by-hop options */
	return len;
}

START_TEST(test_bad_vnet)
{
	uint8_t wire[FT_OFFLOAD_VNET_HDR_LEN + 4096];
	struct ft_vnet_hdr vh = { 0 };
	size_t len = build_mut(bad_vnet[_i].pkt, wire + FT_OFFLOAD_VNET_HDR_LEN);

	ft_offload_write_vnet(wire, &bad_vnet[_i].vh);
	ck_assert_msg(ft_offload_parse_vnet(wire, FT_OFFLOAD_VNET_HDR_LEN + len, &vh) ==
			      bad_vnet[_i].parse_err,
		      "parse: %s", bad_vnet[_i].what);
	reset_slots();
	ck_assert_msg(ft_offload_segment(wire + FT_OFFLOAD_VNET_HDR_LEN, len, &bad_vnet[_i].vh,
					 slots, NSLOTS, 0, SLOT_SIZE, lens) == bad_vnet[_i].seg_err,
		      "segment: %s", bad_vnet[_i].what);
}
END_TEST

/* Malformed IP and TCP headers under a valid TCPV4 vnet header. */
static const struct {
	const char *what;
	size_t at;
	uint8_t val;
	size_t cut; /* bytes to drop from the end, after the change */
} bad_pkt[] = {
	{ "IPv4 total length past the end", 2, 0x0f, 0 },
	{ "IPv4 header length 16", 0, 0x44, 0 },
	{ "IPv4 header length 60 with a 20-byte header", 0, 0x4f, 0 },
	{ "more fragments", 6, 0x60, 0 },
	{ "IP version 5", 0, 0x55, 0 },
	{ "TCP data offset 4", 32, 0x40, 0 },
	{ "TCP data offset past the packet", 32, 0xf0, 3000 - 10 + 0 },
	{ "truncated below the TCP header", 0, 0x45, 3000 + 10 },
};

START_TEST(test_bad_packet)
{
	const struct pk k = { .proto = 6,
			      .sport = 1,
			      .dport = 2,
			      .seq = 3,
			      .ack = 4,
			      .flags = ACK,
			      .win = 5,
			      .id = 6,
			      .ttl = 64 };
	struct ft_vnet_hdr vh = gso_hdr(&k, 1000);
	size_t len = build(super, &k, 0, 3000);

	super[bad_pkt[_i].at] = bad_pkt[_i].val;
	len -= bad_pkt[_i].cut;
	/* Keep the IP length consistent with the cut, so only the named field is wrong. */
	if (bad_pkt[_i].cut && bad_pkt[_i].at != 2) {
		put16(super + 2, (uint32_t)len);
		vh.hdr_len = 0;
	}
	reset_slots();
	ck_assert_msg(ft_offload_segment(super, len, &vh, slots, NSLOTS, 0, SLOT_SIZE, lens) ==
			      -EINVAL,
		      "%s", bad_pkt[_i].what);
}
END_TEST

/* ---- coalescing ---- */

static uint8_t pktmem[FT_OFFLOAD_GRO_MAX_BATCH + 1][SLOT_SIZE];
static struct iovec in[FT_OFFLOAD_GRO_MAX_BATCH + 1], out[FT_OFFLOAD_GRO_MAX_BATCH + 1];
static uint8_t arena[(FT_OFFLOAD_GRO_MAX_BATCH + 1) * (SLOT_SIZE + FT_OFFLOAD_VNET_HDR_LEN)];

/* Builds segment i of a flow: payload gso bytes (plen for the last), seq and id counting up. */
static void flow_seg(unsigned int slot, const struct pk *base, unsigned int i, size_t gso,
		     size_t plen)
{
	struct pk k = *base;

	k.seq = base->seq + (uint32_t)(i * gso);
	k.id = (uint16_t)(base->id + i);
	in[slot].iov_base = pktmem[slot];
	in[slot].iov_len = build(pktmem[slot], &k, i * gso, plen);
}

/* Splits a coalesced output back and checks it equals inputs [first, first + count). */
static void check_roundtrip(const struct iovec *o, unsigned int first, unsigned int count)
{
	struct ft_vnet_hdr vh;
	int n;

	ck_assert_int_eq(ft_offload_parse_vnet(o->iov_base, o->iov_len, &vh), 0);
	reset_slots();
	n = ft_offload_segment((const uint8_t *)o->iov_base + FT_OFFLOAD_VNET_HDR_LEN,
			       o->iov_len - FT_OFFLOAD_VNET_HDR_LEN, &vh, slots, NSLOTS, 0,
			       SLOT_SIZE, lens);
	ck_assert_int_eq(n, (int)count);
	for (unsigned int i = 0; i < count; i++) {
		ck_assert_uint_eq(lens[i], in[first + i].iov_len);
		ck_assert_msg(memcmp(slots[i], in[first + i].iov_base, lens[i]) == 0,
			      "segment %u differs from input %u", i, first + i);
	}
}

static const struct {
	const char *what;
	struct pk k;
	unsigned int n;
	size_t gso, last;
} gro_cases[] = {
	{ "TCPv4, 8 full segments",
	  { .proto = 6,
	    .sport = 5201,
	    .dport = 40000,
	    .seq = 7,
	    .ack = 8,
	    .flags = ACK,
	    .win = 9,
	    .id = 10,
	    .optlen = 12,
	    .ttl = 64 },
	  8,
	  1388,
	  1388 },
	{ "TCPv4, last short with PSH",
	  { .proto = 6,
	    .sport = 5201,
	    .dport = 40000,
	    .seq = 0xfffff000,
	    .ack = 8,
	    .flags = ACK,
	    .win = 9,
	    .id = 0xfffe,
	    .ttl = 64 },
	  5,
	  1400,
	  17 },
	{ "TCPv6, 4 segments",
	  { .v6 = true,
	    .proto = 6,
	    .sport = 5201,
	    .dport = 40000,
	    .seq = 7,
	    .ack = 8,
	    .flags = ACK,
	    .win = 9,
	    .optlen = 12,
	    .ttl = 64,
	    .tos = 0xb8 },
	  4,
	  1368,
	  1000 },
};

START_TEST(test_coalesce)
{
	const struct pk *k = &gro_cases[_i].k;
	unsigned int n = gro_cases[_i].n;
	size_t iphl = k->v6 ? 40 : 20, hl = iphl + 20 + k->optlen, total = hl;
	struct ft_vnet_hdr vh;
	uint8_t *p;
	uint32_t ps;
	int r;

	for (unsigned int i = 0; i < n; i++) {
		size_t plen = i == n - 1 ? gro_cases[_i].last : gro_cases[_i].gso;

		flow_seg(i, k, i, gro_cases[_i].gso, plen);
		if (i == n - 1 && plen < gro_cases[_i].gso) {
			/* A last short segment usually carries PSH. */
			struct pk e = *k;

			e.seq = k->seq + (uint32_t)(i * gro_cases[_i].gso);
			e.id = (uint16_t)(k->id + i);
			e.flags |= PSH;
			in[i].iov_len = build(pktmem[i], &e, i * gro_cases[_i].gso, plen);
		}
		total += plen;
	}
	r = ft_offload_coalesce(in, n, arena, sizeof(arena), out, n, owner);
	ck_assert_int_eq(r, 1);
	for (unsigned int i = 0; i < n; i++)
		ck_assert_uint_eq(owner[i], 0);
	ck_assert_uint_eq(out[0].iov_len, FT_OFFLOAD_VNET_HDR_LEN + total);
	ck_assert_int_eq(ft_offload_parse_vnet(out[0].iov_base, out[0].iov_len, &vh), 0);
	ck_assert_uint_eq(vh.flags, FT_VNET_F_NEEDS_CSUM);
	ck_assert_uint_eq(vh.gso_type, k->v6 ? FT_VNET_GSO_TCPV6 : FT_VNET_GSO_TCPV4);
	ck_assert_uint_eq(vh.gso_size, gro_cases[_i].gso);
	ck_assert_uint_eq(vh.hdr_len, hl);
	ck_assert_uint_eq(vh.csum_start, iphl);
	ck_assert_uint_eq(vh.csum_offset, 16);
	p = (uint8_t *)out[0].iov_base + FT_OFFLOAD_VNET_HDR_LEN;
	if (k->v6) {
		ck_assert_uint_eq(get16(p + 4), total - 40);
		ps = ft_csum_pseudo_v6(src6, dst6, 6, (uint32_t)(total - 40));
	} else {
		ck_assert_uint_eq(get16(p + 2), total);
		ck_assert_uint_eq(ft_csum_reference(p, 20), 0);
		ps = ft_csum_pseudo_v4(src4, dst4, 6, (uint32_t)(total - 20));
	}
	/* The pseudo-header sum, folded and not complemented, as the kernel expects. */
	ck_assert_uint_eq(get16(p + iphl + 16), (uint16_t)~ft_csum_fold(ps));
	/* Completing it as the kernel will gives a packet that verifies. */
	memcpy(super, p, total);
	put16(super + iphl + 16, ft_csum(super + iphl, total - iphl));
	ck_assert_uint_eq(ref_l4_csum(k, super + iphl, total - iphl), 0);
	check_roundtrip(&out[0], 0, n);
}
END_TEST

/*
 * What must not merge: a base flow of 4 full TCPv4 segments, with segment `at` changed. want
 * lists the number of inputs in each output, in order. Only the newest super-packet of a flow
 * takes more segments, so a segment that broke the run may start one that the next cannot
 * join either (a gap, then the old numbering).
 */
enum mutation {
	M_NONE,
	M_SEQ_GAP,
	M_SWAP,
	M_PORT,
	M_ADDR,
	M_SYN,
	M_FIN,
	M_RST,
	M_URG,
	M_ECE,
	M_PSH,
	M_ACKNUM,
	M_WINDOW,
	M_OPTIONS,
	M_TTL,
	M_TOS,
	M_ID,
	M_BAD_CSUM,
	M_BAD_IPCSUM,
	M_BIGGER,
	M_SMALLER,
	M_PURE_ACK,
	M_UDP,
	M_IPOPT,
};

static const struct {
	const char *what;
	enum mutation m;
	unsigned int at;
	unsigned int want[5];
} no_merge[] = {
	{ "all four merge", M_NONE, 0, { 4 } },
	{ "sequence gap", M_SEQ_GAP, 2, { 2, 1, 1 } },
	{ "out of order (0 2 3 1)", M_SWAP, 1, { 1, 2, 1 } },
	{ "different port", M_PORT, 2, { 2, 1, 1 } },
	{ "different address", M_ADDR, 1, { 1, 1, 2 } },
	{ "SYN", M_SYN, 2, { 2, 1, 1 } },
	{ "FIN", M_FIN, 2, { 2, 1, 1 } },
	{ "RST", M_RST, 2, { 2, 1, 1 } },
	{ "URG", M_URG, 2, { 2, 1, 1 } },
	{ "ECE", M_ECE, 2, { 2, 1, 1 } },
	{ "PSH in the middle ends the super-packet", M_PSH, 1, { 2, 2 } },
	{ "different ACK number", M_ACKNUM, 2, { 2, 1, 1 } },
	{ "different window", M_WINDOW, 2, { 2, 1, 1 } },
	{ "different options", M_OPTIONS, 2, { 2, 1, 1 } },
	{ "different TTL", M_TTL, 2, { 2, 1, 1 } },
	{ "different TOS", M_TOS, 2, { 2, 1, 1 } },
	{ "IPv4 id out of step", M_ID, 2, { 2, 1, 1 } },
	{ "bad TCP checksum", M_BAD_CSUM, 2, { 2, 1, 1 } },
	{ "bad IPv4 header checksum", M_BAD_IPCSUM, 2, { 2, 1, 1 } },
	{ "a bigger segment after the first", M_BIGGER, 1, { 1, 1, 2 } },
	{ "a smaller segment ends the super-packet", M_SMALLER, 1, { 2, 2 } },
	{ "a pure ACK", M_PURE_ACK, 0, { 1, 3 } },
	{ "UDP in place of segment 1", M_UDP, 1, { 1, 1, 2 } },
	{ "IPv4 options", M_IPOPT, 0, { 1, 3 } },
};

START_TEST(test_no_merge)
{
	const struct pk base = { .proto = 6,
				 .sport = 5201,
				 .dport = 40000,
				 .seq = 7,
				 .ack = 8,
				 .flags = ACK,
				 .win = 9,
				 .id = 10,
				 .optlen = 12,
				 .ttl = 64 };
	const size_t gso = 1000;
	unsigned int at = no_merge[_i].at, first = 0, nout = 0;
	int r;

	for (unsigned int i = 0; i < 4; i++) {
		struct pk k = base;
		size_t plen = gso;

		k.seq = base.seq + (uint32_t)(i * gso);
		k.id = (uint16_t)(base.id + i);
		if (i == at) {
			switch (no_merge[_i].m) {
			case M_SEQ_GAP:
				k.seq += 1;
				break;
			case M_PORT:
				k.sport++;
				break;
			case M_SYN:
				k.flags |= SYN;
				break;
			case M_FIN:
				k.flags |= FIN;
				break;
			case M_RST:
				k.flags |= RST;
				break;
			case M_URG:
				k.flags |= URG;
				break;
			case M_ECE:
				k.flags |= ECE;
				break;
			case M_PSH:
				k.flags |= PSH;
				break;
			case M_ACKNUM:
				k.ack++;
				break;
			case M_WINDOW:
				k.win++;
				break;
			case M_OPTIONS:
				k.optlen = 8;
				break;
			case M_TTL:
				k.ttl--;
				break;
			case M_TOS:
				k.tos = 0x02;
				break;
			case M_ID:
				k.id += 5;
				break;
			case M_BIGGER:
				plen = gso + 1;
				break;
			case M_SMALLER:
				plen = gso - 1;
				break;
			case M_PURE_ACK:
				plen = 0;
				break;
			case M_UDP:
				k.proto = 17;
				break;
			default:
				break;
			}
		}
		in[i].iov_base = pktmem[i];
		in[i].iov_len = build(pktmem[i], &k, i * gso, plen);
	}
	if (no_merge[_i].m == M_SMALLER) {
		/* Rebuild 2 and 3 with sequence numbers after the short segment 1. */
		for (unsigned int i = 2; i < 4; i++) {
			struct pk k = base;

			k.seq = base.seq + (uint32_t)(i * gso) - 1;
			k.id = (uint16_t)(base.id + i);
			in[i].iov_len = build(pktmem[i], &k, i * gso, gso);
		}
	}
	if (no_merge[_i].m == M_PURE_ACK) {
		/* The pure ACK has the same seq as the next segment, which starts the merge. */
		for (unsigned int i = 1; i < 4; i++) {
			struct pk k = base;

			k.seq = base.seq + (uint32_t)((i - 1) * gso);
			k.id = (uint16_t)(base.id + i);
			in[i].iov_len = build(pktmem[i], &k, (i - 1) * gso, gso);
		}
	}
	if (no_merge[_i].m == M_SWAP) {
		struct iovec t = in[1];

		in[1] = in[2];
		in[2] = t;
		/* And 3 now follows 1 (in slot 2), which follows nothing: all alone. */
		t = in[2];
		in[2] = in[3];
		in[3] = t;
	}
	if (no_merge[_i].m == M_ADDR)
		pktmem[at][19] = 3; /* 100.64.0.3; checksums fixed below */
	if (no_merge[_i].m == M_BAD_CSUM)
		pktmem[at][60] ^= 1; /* a payload byte */
	if (no_merge[_i].m == M_BAD_IPCSUM)
		pktmem[at][10] ^= 1;
	if (no_merge[_i].m == M_IPOPT) {
		/* A 4-byte NOP option in front of the TCP header of packet 0. */
		uint8_t *p = pktmem[at];

		memmove(p + 24, p + 20, in[at].iov_len - 20);
		memset(p + 20, 1, 4);
		p[0] = 0x46;
		in[at].iov_len += 4;
		put16(p + 2, (uint32_t)in[at].iov_len);
		put16(p + 10, 0);
		put16(p + 10, ft_csum_reference(p, 24));
	}
	if (no_merge[_i].m == M_ADDR) {
		uint8_t *p = pktmem[at];

		put16(p + 10, 0);
		put16(p + 10, ft_csum_reference(p, 20));
		/* The TCP checksum covers the address: adjust it by the change 2 -> 3. */
		put16(p + 36, ft_csum_update16(get16(p + 36), 0x0002, 0x0003));
	}

	r = ft_offload_coalesce(in, 4, arena, sizeof(arena), out, 4, owner);
	for (unsigned int k = 0; k < 5 && no_merge[_i].want[k]; k++)
		nout++;
	ck_assert_msg(r == (int)nout, "%s: %d outputs, want %u", no_merge[_i].what, r, nout);
	for (unsigned int k = 0; k < nout; k++) {
		unsigned int cnt = no_merge[_i].want[k];
		struct ft_vnet_hdr vh;

		/* Each input is owned by the output that carries it: what a write counts. */
		for (unsigned int i = first; i < first + cnt; i++)
			ck_assert_msg(owner[i] == k, "%s: input %u owned by %u, want %u",
				      no_merge[_i].what, i, owner[i], k);
		ck_assert_int_eq(ft_offload_parse_vnet(out[k].iov_base, out[k].iov_len, &vh), 0);
		if (cnt == 1) {
			/* Alone: unchanged, behind an all-zero header. */
			struct ft_vnet_hdr zero = { 0 };

			ck_assert_mem_eq(&vh, &zero, sizeof(vh));
			ck_assert_uint_eq(out[k].iov_len,
					  FT_OFFLOAD_VNET_HDR_LEN + in[first].iov_len);
			ck_assert_mem_eq((uint8_t *)out[k].iov_base + FT_OFFLOAD_VNET_HDR_LEN,
					 in[first].iov_base, in[first].iov_len);
		} else {
			ck_assert_msg(vh.gso_type == FT_VNET_GSO_TCPV4, "%s: output %u not GSO",
				      no_merge[_i].what, k);
			check_roundtrip(&out[k], first, cnt);
		}
		first += cnt;
	}
}
END_TEST

/* Two flows interleaved: each merges, and outputs keep the order of their first packets. */
START_TEST(test_two_flows)
{
	const struct pk a = { .proto = 6,
			      .sport = 1000,
			      .dport = 2000,
			      .seq = 1,
			      .ack = 1,
			      .flags = ACK,
			      .win = 1,
			      .id = 1,
			      .ttl = 64 };
	struct pk b = a;
	struct iovec saved[8];

	b.sport = 1001;
	b.id = 500;
	for (unsigned int i = 0; i < 4; i++) {
		flow_seg(2 * i, &a, i, 1200, 1200);
		flow_seg(2 * i + 1, &b, i, 1200, 1200);
	}
	memcpy(saved, in, sizeof(saved));
	ck_assert_int_eq(ft_offload_coalesce(in, 8, arena, sizeof(arena), out, 8, owner), 2);
	for (unsigned int i = 0; i < 8; i++)
		ck_assert_uint_eq(owner[i], i % 2);
	/* Compare each output with its flow's inputs, gathered in order. */
	for (unsigned int i = 0; i < 4; i++) {
		in[i] = saved[2 * i];
		in[4 + i] = saved[2 * i + 1];
	}
	check_roundtrip(&out[0], 0, 4);
	check_roundtrip(&out[1], 4, 4);
}
END_TEST

/* The 64 KiB limit: 50 x 1400-byte segments need two super-packets; output buffers bound. */
START_TEST(test_coalesce_limits)
{
	const struct pk k = { .proto = 6,
			      .sport = 1,
			      .dport = 2,
			      .seq = 1,
			      .ack = 1,
			      .flags = ACK,
			      .win = 1,
			      .id = 1,
			      .ttl = 64 };
	size_t need = 0;
	int r;

	for (unsigned int i = 0; i < 50; i++) {
		flow_seg(i, &k, i, 1400, 1400);
		need += in[i].iov_len + FT_OFFLOAD_VNET_HDR_LEN;
	}
	r = ft_offload_coalesce(in, 50, arena, sizeof(arena), out, 50, NULL);
	ck_assert_int_eq(r, 2);
	/* (65535 - 40) / 1400 = 46 segments fit in the first. */
	check_roundtrip(&out[0], 0, 46);
	check_roundtrip(&out[1], 46, 4);
	ck_assert_uint_le(out[0].iov_len, FT_OFFLOAD_VNET_HDR_LEN + FT_OFFLOAD_MAX_LEN);

	/* The documented bound suffices; less arena or fewer outputs fail cleanly. */
	ck_assert_int_eq(ft_offload_coalesce(in, 50, arena, need, out, 50, NULL), 2);
	ck_assert_int_eq(ft_offload_coalesce(in, 50, arena, out[0].iov_len, out, 50, NULL),
			 -ENOBUFS);
	ck_assert_int_eq(ft_offload_coalesce(in, 50, arena, sizeof(arena), out, 1, NULL), -ENOBUFS);
	ck_assert_int_eq(ft_offload_coalesce(in, FT_OFFLOAD_GRO_MAX_BATCH + 1, arena, sizeof(arena),
					     out, FT_OFFLOAD_GRO_MAX_BATCH + 1, NULL),
			 -EINVAL);
	ck_assert_int_eq(ft_offload_coalesce(in, 0, arena, 0, out, 0, NULL), 0);
}
END_TEST

/* Garbage inputs pass through one by one, unchanged: empty, one byte, a truncated header. */
START_TEST(test_coalesce_garbage)
{
	static const size_t glen[] = { 0, 1, 19, 20, 39, 40, 59 };
	const struct pk k = { .proto = 6,
			      .sport = 1,
			      .dport = 2,
			      .seq = 1,
			      .ack = 1,
			      .flags = ACK,
			      .win = 1,
			      .id = 1,
			      .ttl = 64 };
	const unsigned int n = sizeof(glen) / sizeof(glen[0]);

	for (unsigned int i = 0; i < n; i++) {
		flow_seg(i, &k, i, 1400, 1400);
		/* A TCPv4 header cut short, claiming the full length. */
		in[i].iov_len = glen[i];
	}
	pktmem[6][0] = 0x60; /* 59 bytes claiming IPv6 */
	ck_assert_int_eq(ft_offload_coalesce(in, n, arena, sizeof(arena), out, n, NULL), (int)n);
	for (unsigned int i = 0; i < n; i++)
		ck_assert_uint_eq(out[i].iov_len, FT_OFFLOAD_VNET_HDR_LEN + glen[i]);
}
END_TEST

static Suite *offload_suite(void)
{
	Suite *s = suite_create("offload");
	TCase *seg = tcase_create("segment");
	TCase *gro = tcase_create("coalesce");

	tcase_add_loop_test(seg, test_segment, 0, sizeof(seg_cases) / sizeof(seg_cases[0]));
	tcase_add_test(seg, test_no_gso);
	tcase_add_test(seg, test_segment_limits);
	tcase_add_test(seg, test_segment_in_parts);
	tcase_add_loop_test(seg, test_bad_vnet, 0, sizeof(bad_vnet) / sizeof(bad_vnet[0]));
	tcase_add_loop_test(seg, test_bad_packet, 0, sizeof(bad_pkt) / sizeof(bad_pkt[0]));
	suite_add_tcase(s, seg);
	tcase_add_loop_test(gro, test_coalesce, 0, sizeof(gro_cases) / sizeof(gro_cases[0]));
	tcase_add_loop_test(gro, test_no_merge, 0, sizeof(no_merge) / sizeof(no_merge[0]));
	tcase_add_test(gro, test_two_flows);
	tcase_add_test(gro, test_coalesce_limits);
	tcase_add_test(gro, test_coalesce_garbage);
	suite_add_tcase(s, gro);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(offload_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
