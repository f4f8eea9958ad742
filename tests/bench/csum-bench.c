// SPDX-License-Identifier: MIT
/*
 * csum-bench: ns per Internet checksum of a 1500-byte packet (and 64 bytes, 64 KiB), the fast
 * loop against the one-word-at-a-time reference, and ns per packet to split a 64 KiB TCP
 * super-packet and to coalesce the segments back. Each figure is the best of many short runs.
 * It prints numbers and asserts nothing. Usage: csum-bench [scale], scale 1 by default.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tun/net/csum.h"
#include "tun/net/offload.h"

static volatile uint32_t sink;

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/*
 * The best of many short runs: the machines we build on are shared, and the minimum is the
 * closest to what the loop itself costs.
 */
static double per_op(uint16_t (*fn)(const void *, size_t), const uint8_t *buf, size_t len,
		     unsigned long n)
{
	double best = 1e18;

	for (int run = 0; run < 50; run++) {
		uint64_t t0 = mono_ns();
		uint32_t acc = 0;
		double ns;

		for (unsigned long i = 0; i < n; i++)
			acc += fn(buf + (i & 1), len); /* alternate alignments, defeat hoisting */
		sink = acc;
		ns = (double)(mono_ns() - t0) / (double)n;
		if (ns < best)
			best = ns;
	}
	return best;
}

/* A TCPv4 super-packet with 64 KiB - 1 total length, MSS 1448, checksums left to segment. */
static size_t make_super(uint8_t *p, struct ft_vnet_hdr *vh)
{
	const size_t len = 65535, hl = 52;
	static const uint8_t hdr[52] = {
		0x45, 0, 0xff, 0xff, 0,	 1, 0x40, 0,	64,   6,    0,	  0, 100,
		64,   0, 1,    100,  64, 0, 2,	  0x30, 0x39, 0x14, 0x51, 0, 0,
		0,    1, 0,    0,    0,	 1, 0x80, 0x18, 0x01, 0xf5, 0,	  0, 0,
		0,    1, 1,    8,    10, 0, 0,	  0,	1,    0,    0,	  0, 2,
	};

	memcpy(p, hdr, hl);
	for (size_t i = hl; i < len; i++)
		p[i] = (uint8_t)(i * 31);
	*vh = (struct ft_vnet_hdr){ .flags = FT_VNET_F_NEEDS_CSUM,
				    .gso_type = FT_VNET_GSO_TCPV4,
				    .hdr_len = (uint16_t)hl,
				    .gso_size = 1448,
				    .csum_start = 20,
				    .csum_offset = 16 };
	return len;
}

int main(int argc, char **argv)
{
	static uint8_t buf[65536 + 8], super[65535], slotmem[64][1600], arena[64 * 1600];
	const size_t lens[] = { 64, 1500, 65535 };
	double scale = argc > 1 ? atof(argv[1]) : 1.0;
	unsigned long n;
	uint8_t *slots[64];
	size_t seglens[64];
	struct iovec in[64], out[64];
	struct ft_vnet_hdr vh;
	size_t slen;
	uint64_t t0;
	double best, ns;
	int nseg = 0;

	if (scale <= 0)
		scale = 1.0;
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 131 + 7);
	printf("checksum, ns per buffer (odd and even alignment alternating):\n");
	for (size_t k = 0; k < sizeof(lens) / sizeof(lens[0]); k++) {
		n = (unsigned long)(scale * 4e6 / (double)(lens[k] + 64));
		if (!n)
			n = 1;
		double fast = per_op(ft_csum, buf, lens[k], n);
		double ref = per_op(ft_csum_reference, buf, lens[k], n / 4 ? n / 4 : 1);

		printf("  %5zu bytes: fast %8.1f ns (%.2f GB/s)   reference %8.1f ns\n", lens[k],
		       fast, (double)lens[k] / fast, ref);
	}

	for (int i = 0; i < 64; i++)
		slots[i] = slotmem[i];
	slen = make_super(super, &vh);
	n = (unsigned long)(scale * 500);
	if (!n)
		n = 1;
	best = 1e18;
	for (int run = 0; run < 40; run++) {
		t0 = mono_ns();
		for (unsigned long i = 0; i < n; i++)
			nseg = ft_offload_segment(super, slen, &vh, slots, 64, 32, 1600 - 32,
						  seglens);
		if (nseg <= 0) {
			printf("segment failed: %d\n", nseg);
			return 1;
		}
		ns = (double)(mono_ns() - t0) / (double)n / nseg;
		best = ns < best ? ns : best;
	}
	printf("segment a 64 KiB TCPv4 super-packet into %d x 1448: %.1f ns per segment\n", nseg,
	       best);

	for (int i = 0; i < nseg; i++) {
		in[i].iov_base = slots[i] + 32;
		in[i].iov_len = seglens[i];
	}
	best = 1e18;
	for (int run = 0; run < 40; run++) {
		t0 = mono_ns();
		for (unsigned long i = 0; i < n; i++)
			sink = (uint32_t)ft_offload_coalesce(in, (unsigned int)nseg, arena,
							     sizeof(arena), out, 64, NULL);
		ns = (double)(mono_ns() - t0) / (double)n / nseg;
		best = ns < best ? ns : best;
	}
	printf("coalesce %d segments into %u super-packet(s): %.1f ns per segment\n", nseg,
	       (unsigned int)sink, best);
	return 0;
}
