// SPDX-License-Identifier: MIT
/*
 * UDP coalescing for the TUN (ft_offload_coalesce_ex with FT_OFFLOAD_GRO_UDP): which datagrams
 * Linux's UDP GRO would merge into one GSO_UDP_L4 super-packet, what that super-packet looks
 * like byte for byte, and that it splits back (ft_offload_segment, as the kernel's
 * __udp_gso_segment would) into the datagrams it was made of. Packets are built field by field
 * with checksums from ft_csum_reference(), independently of the code under test; one case is
 * raw bytes throughout. Also the order within a flow: a packet that merges with nothing ends
 * its flow's super-packet (TCP too).
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <check.h>

#include "tun/net/csum.h"
#include "tun/net/offload.h"

#define BATCH FT_OFFLOAD_GRO_MAX_BATCH
#define PKT_MAX 1600
#define BOTH (FT_OFFLOAD_GRO_TCP | FT_OFFLOAD_GRO_UDP)

static uint8_t pktmem[BATCH][PKT_MAX];
static struct iovec in[BATCH], out[BATCH];
static uint8_t arena[BATCH * (PKT_MAX + FT_OFFLOAD_VNET_HDR_LEN)];
static unsigned int owner[BATCH];
static uint8_t segmem[BATCH][PKT_MAX];
static uint8_t *segs[BATCH];
static size_t seglens[BATCH];

static const uint8_t src4[4] = { 100, 64, 0, 1 }, dst4[4] = { 100, 64, 0, 2 };
static const uint8_t src6[16] = { 0xfd, [15] = 1 }, dst6[16] = { 0xfd, [15] = 2 };

static void put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* One datagram's fields; addresses 100.64.0.1 -> .2 or fd00::1 -> fd00::2. */
struct dg {
	bool v6;
	uint16_t sport, dport;
	uint16_t id;	  /* IPv4 */
	bool no_df;	  /* IPv4: DF clear */
	uint8_t ttl, tos; /* hop limit and traffic class for IPv6 */
	uint32_t flow;	  /* IPv6 flow label */
	bool no_csum;	  /* IPv4: UDP checksum 0 (none) */
};

/* The L4 checksum over pseudo-header + l4, by the reference loop. */
static uint16_t ref_csum(bool v6, uint8_t proto, const uint8_t *l4, size_t l4len)
{
	static uint8_t tmp[40 + 65536];
	size_t ph = v6 ? 40 : 12;

	memset(tmp, 0, ph);
	if (v6) {
		memcpy(tmp, src6, 16);
		memcpy(tmp + 16, dst6, 16);
		put16(tmp + 34, (uint32_t)l4len);
		tmp[39] = proto;
	} else {
		memcpy(tmp, src4, 4);
		memcpy(tmp + 4, dst4, 4);
		tmp[9] = proto;
		put16(tmp + 10, (uint32_t)l4len);
	}
	memcpy(tmp + ph, l4, l4len);
	return ft_csum_reference(tmp, ph + l4len);
}

/* Datagram k with plen payload bytes (seed-dependent) into slot; returns its length. */
static size_t build(unsigned int slot, const struct dg *k, size_t plen, unsigned int seed)
{
	uint8_t *b = pktmem[slot];
	size_t iphl = k->v6 ? 40 : 20, len = iphl + 8 + plen;
	uint8_t *u = b + iphl;
	uint16_t c;

	memset(b, 0, iphl + 8);
	if (k->v6) {
		b[0] = (uint8_t)(0x60 | k->tos >> 4);
		b[1] = (uint8_t)(k->tos << 4 | (k->flow >> 16 & 0x0f));
		put16(b + 2, k->flow & 0xffff);
		put16(b + 4, (uint32_t)(len - 40));
		b[6] = 17;
		b[7] = k->ttl;
		memcpy(b + 8, src6, 16);
		memcpy(b + 24, dst6, 16);
	} else {
		b[0] = 0x45;
		b[1] = k->tos;
		put16(b + 2, (uint32_t)len);
		put16(b + 4, k->id);
		put16(b + 6, k->no_df ? 0 : 0x4000);
		b[8] = k->ttl;
		b[9] = 17;
		memcpy(b + 12, src4, 4);
		memcpy(b + 16, dst4, 4);
		put16(b + 10, ft_csum_reference(b, 20));
	}
	put16(u, k->sport);
	put16(u + 2, k->dport);
	put16(u + 4, (uint32_t)(8 + plen));
	for (size_t i = 0; i < plen; i++)
		u[8 + i] = (uint8_t)(i * 13 + seed * 7 + 1);
	c = ref_csum(k->v6, 17, u, 8 + plen);
	put16(u + 6, k->no_csum ? 0 : (c ? c : 0xffff));
	in[slot].iov_base = b;
	in[slot].iov_len = len;
	return len;
}

/* n datagrams of one flow, payload gso each (last: last), ids counting up from base->id. */
static void build_flow(unsigned int first, const struct dg *base, unsigned int n, size_t gso,
		       size_t last)
{
	for (unsigned int i = 0; i < n; i++) {
		struct dg k = *base;

		k.id = (uint16_t)(base->id + i);
		build(first + i, &k, i == n - 1 ? last : gso, first + i);
	}
}

/*
 * Splits output o back; its segments must be inputs [first, first + count) byte for byte,
 * but for the IPv4 id and header checksum when ids_differ (a fixed-id run: the split counts
 * ids up, as Linux's does).
 */
static void check_split(const struct iovec *o, unsigned int first, unsigned int count,
			bool ids_differ)
{
	struct ft_vnet_hdr vh;
	int n;

	ck_assert_int_eq(ft_offload_parse_vnet(o->iov_base, o->iov_len, &vh), 0);
	for (unsigned int i = 0; i < BATCH; i++)
		segs[i] = segmem[i];
	n = ft_offload_segment((const uint8_t *)o->iov_base + FT_OFFLOAD_VNET_HDR_LEN,
			       o->iov_len - FT_OFFLOAD_VNET_HDR_LEN, &vh, segs, BATCH, 0, PKT_MAX,
			       seglens);
	ck_assert_int_eq(n, (int)count);
	for (unsigned int i = 0; i < count; i++) {
		const uint8_t *want = in[first + i].iov_base;

		ck_assert_uint_eq(seglens[i], in[first + i].iov_len);
		if (ids_differ) {
			ck_assert_mem_eq(segs[i], want, 4);
			ck_assert_mem_eq(segs[i] + 6, want + 6, 4);
			ck_assert_mem_eq(segs[i] + 12, want + 12, seglens[i] - 12);
			ck_assert_uint_eq(ft_csum_reference(segs[i], 20), 0);
		} else {
			ck_assert_msg(memcmp(segs[i], want, seglens[i]) == 0,
				      "segment %u differs from input %u", i, first + i);
		}
	}
}

/* The case from the header comment of the suite, as raw bytes. */
START_TEST(test_raw_bytes)
{
	static uint8_t a[] = {
		/* IPv4 len 32 id 0x1234 DF ttl 64 UDP csum 0x6016 100.64.0.1 -> 100.64.0.2 */
		0x45, 0x00, 0x00, 0x20, 0x12, 0x34, 0x40, 0x00, 0x40, 0x11, 0x60, 0x16, 0x64, 0x40,
		0x00, 0x01, 0x64, 0x40, 0x00, 0x02,
		/* UDP 5000 -> 5001 len 12 csum 0x4b7b, "abcd" */
		0x13, 0x88, 0x13, 0x89, 0x00, 0x0c, 0x4b, 0x7b, 0x61, 0x62, 0x63, 0x64
	};
	static uint8_t b[] = { /* the same with id 0x1235 (csum 0x6015), "efgh" (UDP csum 0x4373) */
			       0x45, 0x00, 0x00, 0x20, 0x12, 0x35, 0x40, 0x00, 0x40, 0x11, 0x60,
			       0x15, 0x64, 0x40, 0x00, 0x01, 0x64, 0x40, 0x00, 0x02, 0x13, 0x88,
			       0x13, 0x89, 0x00, 0x0c, 0x43, 0x73, 0x65, 0x66, 0x67, 0x68
	};
	static const uint8_t want[] = {
		/* vnet: NEEDS_CSUM, GSO_UDP_L4, hdr_len 28, gso_size 4, csum_start 20, offset 6 */
		0x01, 0x05, 0x1c, 0x00, 0x04, 0x00, 0x14, 0x00, 0x06, 0x00,
		/* IPv4 len 36, the first id, header checksum 0x6012 */
		0x45, 0x00, 0x00, 0x24, 0x12, 0x34, 0x40, 0x00, 0x40, 0x11, 0x60, 0x12, 0x64, 0x40,
		0x00, 0x01, 0x64, 0x40, 0x00, 0x02,
		/* UDP len 16, checksum field: the pseudo-header sum 0xc8a4 (folded, not inverted) */
		0x13, 0x88, 0x13, 0x89, 0x00, 0x10, 0xc8, 0xa4,
		/* both payloads */
		0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68
	};
	struct iovec raw[2] = { { a, sizeof(a) }, { b, sizeof(b) } };

	ck_assert_int_eq(ft_offload_coalesce_ex(raw, 2, BOTH, arena, sizeof(arena), out, 2, owner),
			 1);
	ck_assert_uint_eq(owner[0], 0);
	ck_assert_uint_eq(owner[1], 0);
	ck_assert_uint_eq(out[0].iov_len, sizeof(want));
	ck_assert_mem_eq(out[0].iov_base, want, sizeof(want));
	/* Without the UDP flag (what ft_offload_coalesce does) both go alone, unchanged. */
	ck_assert_int_eq(ft_offload_coalesce(raw, 2, arena, sizeof(arena), out, 2, owner), 2);
	ck_assert_mem_eq((uint8_t *)out[1].iov_base + FT_OFFLOAD_VNET_HDR_LEN, b, sizeof(b));
}
END_TEST

static const struct {
	const char *what;
	struct dg k;
	unsigned int n;
	size_t gso, last;
} merge_cases[] = {
	{ "UDPv4, 8 of 1000 bytes",
	  { .sport = 40000, .dport = 5201, .id = 7, .ttl = 64 },
	  8,
	  1000,
	  1000 },
	{ "UDPv4, 64-byte datagrams, a shorter last, id wraps",
	  { .sport = 40000, .dport = 5201, .id = 0xfffd, .ttl = 64, .tos = 0xb8 },
	  20,
	  64,
	  10 },
	{ "UDPv4 without DF",
	  { .sport = 1, .dport = 2, .id = 9, .no_df = true, .ttl = 3 },
	  3,
	  500,
	  500 },
	{ "UDPv6, 5 of 1392 bytes",
	  { .v6 = true, .sport = 40000, .dport = 5201, .ttl = 64, .tos = 0x28, .flow = 0xabcde },
	  5,
	  1392,
	  1392 },
	{ "UDPv6, a 1-byte last", { .v6 = true, .sport = 9, .dport = 9, .ttl = 1 }, 2, 100, 1 },
	{ "64 datagrams: the most one super-packet takes",
	  { .sport = 3, .dport = 4, .id = 1, .ttl = 64 },
	  64,
	  16,
	  16 },
};

START_TEST(test_merge)
{
	const struct dg *k = &merge_cases[_i].k;
	unsigned int n = merge_cases[_i].n;
	size_t iphl = k->v6 ? 40 : 20, total = iphl + 8;
	struct ft_vnet_hdr vh;
	uint32_t ps;
	uint8_t *p;

	build_flow(0, k, n, merge_cases[_i].gso, merge_cases[_i].last);
	total += (n - 1) * merge_cases[_i].gso + merge_cases[_i].last;
	ck_assert_int_eq(ft_offload_coalesce_ex(in, n, BOTH, arena, sizeof(arena), out, n, owner),
			 1);
	for (unsigned int i = 0; i < n; i++)
		ck_assert_uint_eq(owner[i], 0);
	ck_assert_uint_eq(out[0].iov_len, FT_OFFLOAD_VNET_HDR_LEN + total);
	ck_assert_int_eq(ft_offload_parse_vnet(out[0].iov_base, out[0].iov_len, &vh), 0);
	ck_assert_uint_eq(vh.flags, FT_VNET_F_NEEDS_CSUM);
	ck_assert_uint_eq(vh.gso_type, FT_VNET_GSO_UDP_L4);
	ck_assert_uint_eq(vh.gso_size, merge_cases[_i].gso);
	ck_assert_uint_eq(vh.hdr_len, iphl + 8);
	ck_assert_uint_eq(vh.csum_start, iphl);
	ck_assert_uint_eq(vh.csum_offset, 6);
	p = (uint8_t *)out[0].iov_base + FT_OFFLOAD_VNET_HDR_LEN;
	if (k->v6) {
		ck_assert_uint_eq(get16(p + 4), total - 40);
		ps = ft_csum_pseudo_v6(src6, dst6, 17, (uint32_t)(total - 40));
	} else {
		ck_assert_uint_eq(get16(p + 2), total);
		ck_assert_uint_eq(get16(p + 4), k->id); /* the first datagram's id */
		ck_assert_uint_eq(ft_csum_reference(p, 20), 0);
		ps = ft_csum_pseudo_v4(src4, dst4, 17, (uint32_t)(total - 20));
	}
	ck_assert_uint_eq(get16(p + iphl + 4), total - iphl);
	ck_assert_uint_eq(get16(p + iphl + 6), (uint16_t)~ft_csum_fold(ps));
	check_split(&out[0], 0, n, false);
}
END_TEST

/* What must not merge: 4 datagrams of 200 bytes of one IPv4 flow, datagram `at` changed. */
enum mutation {
	M_NONE,
	M_SPORT,
	M_DPORT,
	M_ADDR,
	M_TTL,
	M_TOS,
	M_DF,
	M_ID,
	M_NO_CSUM,
	M_BAD_CSUM,
	M_BAD_IPCSUM,
	M_UDP_LEN,
	M_IPOPT,
	M_FRAGMENT,
	M_BIGGER,
	M_SMALLER,
	M_TCP_ONLY,
	M_V6_FLOW,
	M_V6_HOPS,
	M_V6_TCLASS,
	M_PADDED,
};

static const struct {
	const char *what;
	enum mutation m;
	unsigned int at;
	unsigned int want[5]; /* inputs per output, in order */
} no_merge[] = {
	{ "all four merge", M_NONE, 0, { 4 } },
	{ "different source port", M_SPORT, 2, { 2, 1, 1 } },
	{ "different destination port", M_DPORT, 1, { 1, 1, 2 } },
	{ "different address", M_ADDR, 1, { 1, 1, 2 } },
	{ "different TTL", M_TTL, 2, { 2, 1, 1 } },
	{ "different TOS", M_TOS, 2, { 2, 1, 1 } },
	{ "DF cleared", M_DF, 2, { 2, 1, 1 } },
	{ "IPv4 id out of step", M_ID, 2, { 2, 1, 1 } },
	/* Not a candidate: it ends the flow's super-packet, so 3 cannot join 0 and 1. */
	{ "no UDP checksum", M_NO_CSUM, 2, { 2, 1, 1 } },
	{ "bad UDP checksum", M_BAD_CSUM, 1, { 1, 1, 2 } },
	{ "bad IPv4 header checksum", M_BAD_IPCSUM, 2, { 2, 1, 1 } },
	{ "UDP length short of the IP payload", M_UDP_LEN, 2, { 2, 1, 1 } },
	{ "IPv4 options", M_IPOPT, 0, { 1, 3 } },
	{ "a fragment (MF)", M_FRAGMENT, 2, { 2, 1, 1 } },
	/* A bigger one starts anew, and the next, smaller again, is its last. */
	{ "a bigger datagram after the first", M_BIGGER, 1, { 1, 2, 1 } },
	{ "a smaller datagram ends the super-packet", M_SMALLER, 1, { 2, 2 } },
	{ "TCP only: UDP goes alone", M_TCP_ONLY, 0, { 1, 1, 1, 1 } },
	{ "IPv6, different flow label", M_V6_FLOW, 2, { 2, 1, 1 } },
	{ "IPv6, different hop limit", M_V6_HOPS, 1, { 1, 1, 2 } },
	{ "IPv6, different traffic class", M_V6_TCLASS, 3, { 3, 1 } },
	/* Bytes after the IP length (WireGuard's padding) are not the datagram's: they go. */
	{ "padding after the IP length", M_PADDED, 1, { 4 } },
};

START_TEST(test_no_merge)
{
	enum mutation m = no_merge[_i].m;
	struct dg base = { .sport = 4000, .dport = 5000, .id = 100, .ttl = 64 };
	unsigned int at = no_merge[_i].at, first = 0, nout = 0;
	unsigned int flags = m == M_TCP_ONLY ? FT_OFFLOAD_GRO_TCP : BOTH;
	uint8_t *p = pktmem[at];
	int r;

	if (m == M_V6_FLOW || m == M_V6_HOPS || m == M_V6_TCLASS)
		base.v6 = true;
	for (unsigned int i = 0; i < 4; i++) {
		struct dg k = base;
		size_t plen = 200;

		k.id = (uint16_t)(base.id + i);
		if (i == at) {
			k.sport = (uint16_t)(k.sport + (m == M_SPORT));
			k.dport = (uint16_t)(k.dport + (m == M_DPORT));
			k.ttl = (uint8_t)(k.ttl - (m == M_TTL || m == M_V6_HOPS));
			k.tos = m == M_TOS || m == M_V6_TCLASS ? 0x10 : 0;
			k.no_df = m == M_DF;
			k.id = (uint16_t)(k.id + 3 * (m == M_ID));
			k.no_csum = m == M_NO_CSUM;
			k.flow = m == M_V6_FLOW ? 5 : 0;
			plen = m == M_BIGGER ? 201 : m == M_SMALLER ? 199 : 200;
		}
		build(i, &k, plen, i);
	}
	switch (m) {
	case M_ADDR:
		p[19] = 3; /* 100.64.0.3: both checksums fixed */
		put16(p + 10, 0);
		put16(p + 10, ft_csum_reference(p, 20));
		put16(p + 26, ft_csum_update16(get16(p + 26), 0x0002, 0x0003));
		break;
	case M_BAD_CSUM:
		p[40] ^= 1;
		break;
	case M_BAD_IPCSUM:
		p[10] ^= 1;
		break;
	case M_UDP_LEN:
		/* One byte shorter than the IP payload, checksummed over what it claims. */
		put16(p + 24, get16(p + 24) - 1);
		put16(p + 26, 0);
		put16(p + 26, ref_csum(false, 17, p + 20, get16(p + 24)));
		break;
	case M_IPOPT:
		memmove(p + 24, p + 20, in[at].iov_len - 20);
		memset(p + 20, 1, 4); /* NOP options */
		p[0] = 0x46;
		in[at].iov_len += 4;
		put16(p + 2, (uint32_t)in[at].iov_len);
		put16(p + 10, 0);
		put16(p + 10, ft_csum_reference(p, 24));
		break;
	case M_FRAGMENT:
		put16(p + 6, 0x6000); /* DF | MF */
		put16(p + 10, 0);
		put16(p + 10, ft_csum_reference(p, 20));
		break;
	case M_PADDED:
		memset(p + in[at].iov_len, 0xee, 12);
		in[at].iov_len += 12;
		break;
	default:
		break;
	}
	r = ft_offload_coalesce_ex(in, 4, flags, arena, sizeof(arena), out, 4, owner);
	for (unsigned int k = 0; k < 5 && no_merge[_i].want[k]; k++)
		nout++;
	ck_assert_msg(r == (int)nout, "%s: %d outputs, want %u", no_merge[_i].what, r, nout);
	for (unsigned int k = 0; k < nout; k++) {
		unsigned int cnt = no_merge[_i].want[k];
		struct ft_vnet_hdr vh;

		for (unsigned int i = first; i < first + cnt; i++)
			ck_assert_msg(owner[i] == k, "%s: input %u owned by %u, want %u",
				      no_merge[_i].what, i, owner[i], k);
		ck_assert_int_eq(ft_offload_parse_vnet(out[k].iov_base, out[k].iov_len, &vh), 0);
		if (cnt == 1) {
			ck_assert_uint_eq(vh.gso_type, FT_VNET_GSO_NONE);
			ck_assert_uint_eq(out[k].iov_len,
					  FT_OFFLOAD_VNET_HDR_LEN + in[first].iov_len);
			ck_assert_mem_eq((uint8_t *)out[k].iov_base + FT_OFFLOAD_VNET_HDR_LEN,
					 in[first].iov_base, in[first].iov_len);
		} else {
			ck_assert_uint_eq(vh.gso_type, FT_VNET_GSO_UDP_L4);
			if (m == M_PADDED)
				in[at].iov_len -= 12; /* the split gives the datagram alone */
			check_split(&out[k], first, cnt, false);
		}
		first += cnt;
	}
}
END_TEST

/* With DF, ids may all be the first's (Linux's fixed-id flows); without DF they may not. */
START_TEST(test_fixed_id)
{
	struct dg k = { .sport = 1, .dport = 2, .id = 77, .ttl = 64 };

	for (unsigned int i = 0; i < 5; i++)
		build(i, &k, 300, i);
	ck_assert_int_eq(ft_offload_coalesce_ex(in, 5, BOTH, arena, sizeof(arena), out, 5, owner),
			 1);
	check_split(&out[0], 0, 5, true);
	/* Fixed, then one counting up: that one cannot join. */
	k.id = 78;
	build(2, &k, 300, 2);
	ck_assert_int_eq(ft_offload_coalesce_ex(in, 5, BOTH, arena, sizeof(arena), out, 5, owner),
			 3);
	ck_assert_uint_eq(owner[1], 0);
	ck_assert_uint_eq(owner[2], 1);
	ck_assert_uint_eq(owner[3], 2);
	ck_assert_uint_eq(owner[4], 2);
	/* Without DF an equal id is no flow Linux merges. */
	k.no_df = true;
	k.id = 77;
	for (unsigned int i = 0; i < 3; i++)
		build(i, &k, 300, i);
	ck_assert_int_eq(ft_offload_coalesce_ex(in, 3, BOTH, arena, sizeof(arena), out, 3, owner),
			 3);
}
END_TEST

/* The limits: 64 datagrams per super-packet, FT_OFFLOAD_MAX_LEN bytes. */
START_TEST(test_limits)
{
	struct dg k = { .sport = 5, .dport = 6, .id = 1, .ttl = 64 };

	build_flow(0, &k, 70, 32, 32);
	ck_assert_int_eq(ft_offload_coalesce_ex(in, 70, BOTH, arena, sizeof(arena), out, 70, owner),
			 2);
	check_split(&out[0], 0, 64, false);
	check_split(&out[1], 64, 6, false);
	/* 50 of 1400 bytes: (65535 - 28) / 1400 = 46 in the first. */
	build_flow(0, &k, 50, 1400, 1400);
	ck_assert_int_eq(ft_offload_coalesce_ex(in, 50, BOTH, arena, sizeof(arena), out, 50, owner),
			 2);
	check_split(&out[0], 0, 46, false);
	check_split(&out[1], 46, 4, false);
	ck_assert_uint_le(out[0].iov_len, FT_OFFLOAD_VNET_HDR_LEN + FT_OFFLOAD_MAX_LEN);
	ck_assert_int_eq(ft_offload_coalesce_ex(in, 50, BOTH, arena, out[0].iov_len, out, 50,
						owner),
			 -ENOBUFS);
	ck_assert_int_eq(ft_offload_coalesce_ex(in, BATCH + 1, BOTH, arena, sizeof(arena), out,
						BATCH, owner),
			 -EINVAL);
}
END_TEST

/* Two UDP flows and a TCP-looking one interleaved: each UDP flow merges, outputs in order. */
START_TEST(test_two_flows)
{
	struct dg a = { .sport = 1000, .dport = 53, .id = 10, .ttl = 64 };
	struct dg b = { .v6 = true, .sport = 1001, .dport = 53, .ttl = 64 };

	for (unsigned int i = 0; i < 6; i++) {
		struct dg x = a;

		x.id = (uint16_t)(a.id + i);
		build(2 * i, &x, 100, 2 * i);
		build(2 * i + 1, &b, 120, 2 * i + 1);
	}
	ck_assert_int_eq(ft_offload_coalesce_ex(in, 12, BOTH, arena, sizeof(arena), out, 12, owner),
			 2);
	for (unsigned int i = 0; i < 12; i++)
		ck_assert_uint_eq(owner[i], i % 2);
}
END_TEST

/*
 * The order within a flow: a datagram that cannot merge (no checksum) ends the super-packet
 * before it, so the next datagram, which could have joined it, starts a new one after it.
 * Before this rule, 0 and 2 merged and 1 was written after them: reordered.
 */
START_TEST(test_order_kept)
{
	struct dg k = { .v6 = true, .sport = 7, .dport = 8, .ttl = 64 };

	/* IPv6: no ids to tell the gap (IPv4's counting ids would refuse 2 after 0 anyway). */
	build_flow(0, &k, 3, 200, 200);
	k.no_csum = true;
	build(1, &k, 200, 1);
	ck_assert_int_eq(ft_offload_coalesce_ex(in, 3, BOTH, arena, sizeof(arena), out, 3, owner),
			 3);
	for (unsigned int i = 0; i < 3; i++)
		ck_assert_uint_eq(owner[i], i);
}
END_TEST

/*
 * The same for TCP (ft_offload_coalesce): a pure ACK between two segments of its flow, with
 * ids that do not tell the gap (1, 9, 2: a stack whose ACKs take ids of their own).
 */
START_TEST(test_order_kept_tcp)
{
	/* IPv4 100.64.0.1:1000 -> .2:2000, ACK, seq 1, ack 1, window 1; 100 payload bytes. */
	for (unsigned int i = 0; i < 3; i++) {
		uint8_t *b = pktmem[i];
		size_t plen = i == 1 ? 0 : 100, len = 40 + plen;
		uint32_t seq = 1 + (i == 2 ? 100 : 0) + (i == 1 ? 100 : 0);

		memset(b, 0, 40);
		b[0] = 0x45;
		put16(b + 2, (uint32_t)len);
		put16(b + 4, i == 1 ? 9 : 1 + i / 2);
		b[8] = 64;
		b[9] = 6;
		memcpy(b + 12, src4, 4);
		memcpy(b + 16, dst4, 4);
		put16(b + 10, ft_csum_reference(b, 20));
		put16(b + 20, 1000);
		put16(b + 22, 2000);
		put16(b + 24, seq >> 16);
		put16(b + 26, seq & 0xffff);
		put16(b + 30, 1);
		b[32] = 0x50;
		b[33] = 0x10;
		put16(b + 34, 1);
		memset(b + 40, 'x', plen);
		put16(b + 36, ref_csum(false, 6, b + 20, len - 20));
		in[i].iov_base = b;
		in[i].iov_len = len;
	}
	ck_assert_int_eq(ft_offload_coalesce(in, 3, arena, sizeof(arena), out, 3, owner), 3);
	for (unsigned int i = 0; i < 3; i++)
		ck_assert_uint_eq(owner[i], i);
}
END_TEST

static Suite *offload_udp_suite(void)
{
	Suite *s = suite_create("offload_udp");
	TCase *tc = tcase_create("coalesce");

	tcase_add_test(tc, test_raw_bytes);
	tcase_add_loop_test(tc, test_merge, 0, sizeof(merge_cases) / sizeof(merge_cases[0]));
	tcase_add_loop_test(tc, test_no_merge, 0, sizeof(no_merge) / sizeof(no_merge[0]));
	tcase_add_test(tc, test_fixed_id);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_two_flows);
	tcase_add_test(tc, test_order_kept);
	tcase_add_test(tc, test_order_kept_tcp);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(offload_udp_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
