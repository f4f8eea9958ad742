// SPDX-License-Identifier: MIT
/*
 * TUN offloads: GRO coalescing of a receive batch into TSO super-packets, each split back by
 * the segmentation code and compared with the packets it was made of (segmentation itself is
 * check_offload.c; the packets are built by tests/offload-harness.c).
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

static Suite *offload_gro_suite(void)
{
	Suite *s = suite_create("offload_gro");
	TCase *gro = tcase_create("coalesce");

	tcase_add_loop_test(gro, test_coalesce, 0, sizeof(gro_cases) / sizeof(gro_cases[0]));
	tcase_add_loop_test(gro, test_no_merge, 0, sizeof(no_merge) / sizeof(no_merge[0]));
	tcase_add_test(gro, test_two_flows);
	tcase_add_test(gro, test_coalesce_limits);
	tcase_add_test(gro, test_coalesce_garbage);
	suite_add_tcase(s, gro);
	return s;
}

FT_CHECK_MAIN(offload_gro_suite, 0)
