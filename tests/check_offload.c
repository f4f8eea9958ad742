// SPDX-License-Identifier: MIT
/*
 * TUN offloads: vnet header parsing and GSO segmentation (coalescing is check_offload_gro.c).
 * Packets are built field by field with checksums from ft_csum_reference()
 * (tests/offload-harness.c), so the expected segments are what the kernel's software GSO
 * sends, computed independently of the code under test.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <check.h>

#include "tests/check_main.h"
#include "tests/offload-harness.h"
#include "tun/net/csum.h"
#include "tun/net/offload.h"

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

static Suite *offload_suite(void)
{
	Suite *s = suite_create("offload");
	TCase *seg = tcase_create("segment");

	tcase_add_loop_test(seg, test_segment, 0, sizeof(seg_cases) / sizeof(seg_cases[0]));
	tcase_add_test(seg, test_no_gso);
	tcase_add_test(seg, test_segment_limits);
	tcase_add_test(seg, test_segment_in_parts);
	tcase_add_loop_test(seg, test_bad_vnet, 0, sizeof(bad_vnet) / sizeof(bad_vnet[0]));
	tcase_add_loop_test(seg, test_bad_packet, 0, sizeof(bad_pkt) / sizeof(bad_pkt[0]));
	suite_add_tcase(s, seg);
	return s;
}

FT_CHECK_MAIN(offload_suite, 0)
