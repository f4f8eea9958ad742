// SPDX-License-Identifier: MIT
/*
 * GSO segmentation and GRO coalescing of untrusted packets. Byte 0 picks the operation:
 *
 *   even  the rest is one read from the TUN: a vnet header, then the packet. It is parsed
 *         and segmented; every GSO segment must carry valid checksums; then the segments are
 *         coalesced and each output split again, and the result must equal the segments
 *         (segment o coalesce is the identity where GRO merges anything).
 *   odd   the rest is a batch of received packets, each with a 2-byte big-endian length in
 *         front. They are coalesced (bits 1-2 of byte 0: TCP, UDP or both merge); every
 *         output must carry a vnet header that parses and, when it asks for GSO, splits
 *         back into exactly the packets it owns, in order within each flow.
 *
 * A crash, a sanitizer report or a broken property is a failure (abort).
 */
#include "config.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "tun/net/csum.h"
#include "tun/net/offload.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NSLOTS FT_OFFLOAD_GRO_MAX_BATCH
#define ROOM 4096
#define HEADROOM 16

static uint8_t slotmem[NSLOTS][HEADROOM + ROOM], slotmem2[NSLOTS][ROOM];
static uint8_t arena[NSLOTS * (ROOM + FT_OFFLOAD_VNET_HDR_LEN) + 65536];
static uint8_t pktcopy[65536];
static unsigned int owner[NSLOTS];

static void check(int ok)
{
	if (!ok)
		abort();
}

/* A GSO segment: IPv4 header checksum, TCP/UDP checksum over the pseudo-header. */
static void check_segment_csum(const uint8_t *p, size_t len)
{
	size_t iphl;
	uint32_t ps;

	check(len >= 20);
	if (p[0] >> 4 == 4) {
		iphl = (size_t)(p[0] & 0x0f) * 4;
		check(ft_csum(p, iphl) == 0);
		ps = ft_csum_pseudo_v4(p + 12, p + 16, p[9], (uint32_t)(len - iphl));
	} else {
		iphl = 40;
		ps = ft_csum_pseudo_v6(p + 8, p + 24, p[6], (uint32_t)(len - iphl));
	}
	check(ft_csum_fold(ft_csum_partial(p + iphl, len - iphl, ps)) == 0);
}

static void segment_roundtrip(const uint8_t *data, size_t size)
{
	uint8_t *slots[NSLOTS], *slots2[NSLOTS];
	size_t lens[NSLOTS], lens2[NSLOTS];
	struct iovec in[NSLOTS], out[NSLOTS];
	struct ft_vnet_hdr vh;
	size_t pos = 0;
	int n, nout;

	if (ft_offload_parse_vnet(data, size, &vh) < 0)
		return;
	for (int i = 0; i < NSLOTS; i++) {
		slots[i] = slotmem[i];
		slots2[i] = slotmem2[i];
	}
	/* Segment from a copy, so that ASan sees any read past the packet. */
	size -= FT_OFFLOAD_VNET_HDR_LEN;
	memcpy(pktcopy, data + FT_OFFLOAD_VNET_HDR_LEN, size);
	n = ft_offload_segment(pktcopy, size, &vh, slots, NSLOTS, HEADROOM, ROOM, lens);
	if (n <= 0)
		return;
	for (int i = 0; i < n; i++) {
		check(lens[i] <= ROOM);
		if (vh.gso_type != FT_VNET_GSO_NONE)
			check_segment_csum(slots[i] + HEADROOM, lens[i]);
		in[i].iov_base = slots[i] + HEADROOM;
		in[i].iov_len = lens[i];
	}
	/* In parts of 1 to 3 slots (the worker's way with small MSS): the same segments. */
	for (unsigned int first = 0, part = 1 + data[0] % 3, total = 0; first < (unsigned int)n;) {
		int m = ft_offload_segment_from(pktcopy, size, &vh, first, slots2, part, 0, ROOM,
						lens2, &total);

		check(m >= 1 && total == (unsigned int)n && first + (unsigned int)m <= total);
		for (int j = 0; j < m; j++)
			check(lens2[j] == lens[first + (unsigned int)j] &&
			      memcmp(slots2[j], slots[first + (unsigned int)j] + HEADROOM,
				     lens2[j]) == 0);
		first += (unsigned int)m;
	}
	if (vh.gso_type == FT_VNET_GSO_NONE)
		return;

	nout = ft_offload_coalesce(in, (unsigned int)n, arena, sizeof(arena), out, NSLOTS, owner);
	check(nout >= 1 && nout <= n);
	for (int k = 0; k < nout; k++) {
		struct ft_vnet_hdr ovh;
		const uint8_t *op = (const uint8_t *)out[k].iov_base + FT_OFFLOAD_VNET_HDR_LEN;
		size_t olen = out[k].iov_len - FT_OFFLOAD_VNET_HDR_LEN;
		int m;

		check(ft_offload_parse_vnet(out[k].iov_base, out[k].iov_len, &ovh) == 0);
		m = ft_offload_segment(op, olen, &ovh, slots2, NSLOTS, 0, ROOM, lens2);
		check(m >= 1 && pos + (size_t)m <= (size_t)n);
		for (int j = 0; j < m; j++, pos++) {
			/* The inputs an output carries are the segments it splits back into. */
			check(owner[pos] == (unsigned int)k);
			check(lens2[j] == lens[pos]);
			check(memcmp(slots2[j], slots[pos] + HEADROOM, lens2[j]) == 0);
		}
	}
	check(pos == (size_t)n);
}

/* The IP length of a packet that merged: the version's length field. */
static size_t ip_len(const uint8_t *p)
{
	return p[0] >> 4 == 6 ? 40 + (size_t)(p[4] << 8 | p[5]) : (size_t)(p[2] << 8 | p[3]);
}

/*
 * The flow of a TCP or UDP packet whose ports are there to read (what the coalescing keeps
 * in order): 0 when it has none, else 1 + the index of the first packet of the same flow.
 */
static unsigned int flow_of(const struct iovec *in, unsigned int i)
{
	for (unsigned int j = 0; j <= i; j++) {
		const uint8_t *a = in[j].iov_base, *b = in[i].iov_base;
		size_t la = in[j].iov_len, lb = in[i].iov_len, hl, ahl, bhl;

		if (la < 1 || lb < 1 || a[0] >> 4 != b[0] >> 4)
			continue;
		if (b[0] >> 4 == 4) {
			ahl = (size_t)(a[0] & 0x0f) * 4;
			bhl = (size_t)(b[0] & 0x0f) * 4;
			if (ahl < 20 || bhl < 20 || la < ahl + 4 || lb < bhl + 4 ||
			    (b[9] != 6 && b[9] != 17) || (a[9] != 6 && a[9] != 17) ||
			    memcmp(a + 12, b + 12, 8) != 0 || memcmp(a + ahl, b + bhl, 4) != 0)
				continue;
		} else if (b[0] >> 4 == 6) {
			hl = 40;
			if (la < hl + 4 || lb < hl + 4 || (b[6] != 6 && b[6] != 17) ||
			    (a[6] != 6 && a[6] != 17) || memcmp(a + 8, b + 8, 32) != 0 ||
			    memcmp(a + hl, b + hl, 4) != 0)
				continue;
		} else {
			continue;
		}
		return j + 1;
	}
	return 0;
}

static void coalesce_batch(const uint8_t *data, size_t size, unsigned int flags)
{
	static uint8_t copies[FT_OFFLOAD_GRO_MAX_BATCH][2048];
	struct iovec in[FT_OFFLOAD_GRO_MAX_BATCH], out[FT_OFFLOAD_GRO_MAX_BATCH];
	uint8_t *slots[NSLOTS];
	size_t lens[NSLOTS], total = 0;
	unsigned int n = 0, pos[FT_OFFLOAD_GRO_MAX_BATCH] = { 0 }, flow[FT_OFFLOAD_GRO_MAX_BATCH];
	int nout;

	while (size >= 2 && n < FT_OFFLOAD_GRO_MAX_BATCH) {
		size_t len = (size_t)(data[0] << 8 | data[1]) % 2048;

		data += 2;
		size -= 2;
		if (len > size)
			len = size;
		memcpy(copies[n], data, len);
		in[n].iov_base = copies[n];
		in[n].iov_len = len;
		total += len + FT_OFFLOAD_VNET_HDR_LEN;
		data += len;
		size -= len;
		n++;
	}
	/* Exactly the documented bound: it must suffice. */
	nout = ft_offload_coalesce_ex(in, n, flags, arena, total, out, n, owner);
	check(nout >= 0 && (unsigned int)nout <= n);
	for (int i = 0; i < NSLOTS; i++)
		slots[i] = slotmem[i];
	/* Order: owners never go back within a flow. */
	for (unsigned int i = 0; i < n; i++) {
		check(owner[i] < (unsigned int)nout);
		flow[i] = flow_of(in, i);
		for (unsigned int j = 0; j < i && flow[i]; j++)
			check(flow[j] != flow[i] || owner[j] <= owner[i]);
	}
	for (int k = 0; k < nout; k++) {
		const uint8_t *op = (const uint8_t *)out[k].iov_base + FT_OFFLOAD_VNET_HDR_LEN;
		struct ft_vnet_hdr vh;
		unsigned int first = n, m = 0;
		int got;

		check(ft_offload_parse_vnet(out[k].iov_base, out[k].iov_len, &vh) == 0);
		for (unsigned int i = 0; i < n; i++)
			if (owner[i] == (unsigned int)k) {
				first = first < i ? first : i;
				pos[m++] = i;
			}
		check(m >= 1);
		if (vh.gso_type == FT_VNET_GSO_NONE) {
			check(m == 1 &&
			      out[k].iov_len == FT_OFFLOAD_VNET_HDR_LEN + in[first].iov_len &&
			      memcmp(op, in[first].iov_base, in[first].iov_len) == 0);
			continue;
		}
		got = ft_offload_segment(op, out[k].iov_len - FT_OFFLOAD_VNET_HDR_LEN, &vh, slots,
					 NSLOTS, 0, ROOM, lens);
		check(got >= 2 && (unsigned int)got == m);
		for (unsigned int j = 0; j < m; j++) {
			const uint8_t *want = in[pos[j]].iov_base, *seg = slots[j];
			bool udp4 = vh.gso_type == FT_VNET_GSO_UDP_L4 && want[0] >> 4 == 4;
			const uint8_t *head = in[pos[0]].iov_base;

			check(lens[j] == ip_len(want) && lens[j] <= in[pos[j]].iov_len);
			if (udp4 && memcmp(head + 4, want + 4, 2) == 0 && j > 0) {
				/* A run of equal ids (DF): the split counts them up. */
				check(memcmp(seg, want, 4) == 0 &&
				      memcmp(seg + 6, want + 6, 4) == 0 &&
				      memcmp(seg + 12, want + 12, lens[j] - 12) == 0);
				check(ft_csum(seg, 20) == 0);
			} else {
				check(memcmp(seg, want, lens[j]) == 0);
			}
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 1)
		/* Bits 1-2 pick what merges: nothing, TCP, UDP or both (the worker's default). */
		coalesce_batch(data + 1, size - 1, (unsigned int)(data[0] >> 1) & 3);
	else
		segment_roundtrip(data + 1, size - 1);
	return 0;
}
