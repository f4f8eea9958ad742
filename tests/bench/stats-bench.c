// SPDX-License-Identifier: MIT
/*
 * stats-bench: nanoseconds per connstats update. Prints numbers, asserts nothing.
 *
 *   1 flow             the same packet again and again (the table is hot)
 *   100,000 flows      existing flows in a random order, single and batched calls (the entries
 *                      do not fit in L2); "insert" is the first sight of each flow
 *   realistic mix      parse only, and parse + update, over v4/v6 TCP, UDP, ICMP, extension
 *                      headers and fragments, 2,000 flows with a skewed popularity
 *
 * Packets are written into a small ring of hot buffers just before they are counted, as the
 * data path reads them into its own buffers; "generate only" is that cost alone, included in
 * the other numbers. Usage: stats-bench [iterations, default 10000000]
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uv.h>

#include "stats/connstats.h"

enum { RING = 64, BATCH = 32, FLOWS = 100000 };

static uint8_t ring[RING][128];
static uint64_t sink;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t rng(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static void on_dump(void *arg, const struct ft_conn_window *win)
{
	*(uint64_t *)arg += win->nv + win->np;
}

/* An IPv4 UDP packet template (20 + 8 + 72 bytes), 100.64.0.0/10 to 100.64.0.0/10. */
static size_t template_v4(uint8_t *b, uint8_t proto)
{
	size_t len = 100;

	memset(b, 0, len);
	b[0] = 0x45;
	b[3] = (uint8_t)len;
	b[8] = 64;
	b[9] = proto;
	b[12] = 100;
	b[13] = 64;
	b[16] = 100;
	b[17] = 65;
	b[20 + 12] = 5 << 4;
	return len;
}

/* Flow i: source 100.64.x.y:port, destination 100.65.0.z:443. */
static void set_flow(uint8_t *b, uint32_t i)
{
	b[14] = (uint8_t)(i >> 8);
	b[15] = (uint8_t)i;
	b[19] = (uint8_t)(i >> 16);
	b[20] = (uint8_t)((1024 + (i & 0x3fff)) >> 8);
	b[21] = (uint8_t)(1024 + (i & 0x3fff));
	b[23] = 0xbb;
}

static void report(const char *what, uint64_t ns, uint64_t n)
{
	printf("%-44s %8.1f ns/update  (%llu updates)\n", what, (double)ns / (double)n,
	       (unsigned long long)n);
}

static struct ft_connstats *make(uv_loop_t *loop, size_t max_conns, uint64_t *dumped)
{
	struct ft_connstats *s = ft_connstats_create(loop, 0, max_conns, on_dump, dumped);

	if (!s) {
		perror("ft_connstats_create");
		exit(1);
	}
	return s;
}

static void bench_one_flow(uv_loop_t *loop, uint64_t iters)
{
	uint64_t dumped = 0, t;
	struct ft_connstats *s = make(loop, 1060, &dumped);
	size_t len = template_v4(ring[0], 17);

	set_flow(ring[0], 1);
	t = now_ns();
	for (uint64_t i = 0; i < iters; i++)
		ft_connstats_update_tx_virtual(s, ring[0], len);
	report("1 flow, single calls", now_ns() - t, iters);
	ft_connstats_close(s, NULL);
}

static void bench_many_flows(uv_loop_t *loop, uint64_t iters)
{
	uint64_t dumped = 0, t, x = 88172645463325252ull;
	struct ft_connstats *s = make(loop, 131072, &dumped);
	uint32_t *order = malloc(iters * sizeof(*order));
	const uint8_t *pkts[BATCH];
	size_t lens[BATCH], len = 0;

	if (!order) {
		perror("malloc");
		exit(1);
	}
	for (int r = 0; r < RING; r++)
		len = template_v4(ring[r], 17);
	for (uint64_t i = 0; i < iters; i++)
		order[i] = (uint32_t)(rng(&x) % FLOWS);

	t = now_ns();
	for (uint32_t i = 0; i < FLOWS; i++) {
		uint8_t *b = ring[i % RING];

		set_flow(b, i);
		ft_connstats_update_tx_virtual(s, b, len);
	}
	report("100,000 flows, insert", now_ns() - t, FLOWS);

	t = now_ns();
	for (uint64_t i = 0; i < iters; i++) {
		uint8_t *b = ring[i % RING];

		set_flow(b, order[i]);
		sink += b[15];
	}
	uint64_t gen = now_ns() - t;
	report("100,000 flows, generate only", gen, iters);

	t = now_ns();
	for (uint64_t i = 0; i < iters; i++) {
		uint8_t *b = ring[i % RING];

		set_flow(b, order[i]);
		ft_connstats_update_tx_virtual(s, b, len);
	}
	report("100,000 flows, random order, single calls", now_ns() - t, iters);

	t = now_ns();
	for (uint64_t i = 0; i + BATCH <= iters; i += BATCH) {
		for (int j = 0; j < BATCH; j++) {
			uint8_t *b = ring[(i + (uint64_t)j) % RING];

			set_flow(b, order[i + (uint64_t)j]);
			pkts[j] = b;
			lens[j] = len;
		}
		ft_connstats_update_tx_virtual_batch(s, pkts, lens, BATCH);
	}
	report("100,000 flows, random order, batches of 32", now_ns() - t, iters / BATCH * BATCH);
	if (dumped)
		printf("(unexpected: %llu entries dumped)\n", (unsigned long long)dumped);
	ft_connstats_close(s, NULL);
	free(order);
}

/* The realistic mix: kinds of packets by share of traffic. */
static const uint8_t v6_tcp[] = {
	/* IPv6 plen 32 nh 6 fd00::1 > fd00::2; TCP 40000 > 443 ACK, 12 bytes of options */
	0x60, 0,    0, 0, 0,	32,   6,    64,	  0xfd, 0,  0, 0, 0, 0, 0, 0, 0,    0,
	0,    0,    0, 0, 0,	1,    0xfd, 0,	  0,	0,  0, 0, 0, 0, 0, 0, 0,    0,
	0,    0,    0, 2, 0x9c, 0x40, 0x01, 0xbb, 0,	0,  0, 1, 0, 0, 0, 1, 0x80, 0x10,
	0xfa, 0xf0, 0, 0, 0,	0,    1,    1,	  8,	10, 0, 0, 0, 1, 0, 0, 0,    2,
};
static const uint8_t v6_frag_udp[] = {
	/* IPv6 plen 24 nh 44 fd00::1 > fd00::2; fragment nh 17 offset 0 M; UDP 3333 > 4444 */
	0x60, 0, 0, 0, 0,  24, 44,   64, 0xfd, 0,    0,	   0,	 0,    0,    0,	   0,	 0, 0,
	0,    0, 0, 0, 0,  1,  0xfd, 0,	 0,    0,    0,	   0,	 0,    0,    0,	   0,	 0, 0,
	0,    0, 0, 2, 17, 0,  0,    1,	 0xde, 0xad, 0xbe, 0xef, 0x0d, 0x05, 0x11, 0x5c, 0, 24,
	0,    0, 0, 0, 0,  0,  0,    0,	 0,    0,    0,	   0,	 0,    0,    0,	   0,	 0, 0,
};

static void bench_mix(uv_loop_t *loop, uint64_t iters)
{
	uint64_t dumped = 0, t, x = 0x2545f4914f6cdd1dull;
	struct ft_connstats *s = make(loop, 4096, &dumped);
	struct ft_packet_info info;
	uint8_t *b;
	size_t *lens = malloc(RING * sizeof(*lens));
	uint32_t *flow = malloc(iters * sizeof(*flow));
	uint8_t *kind = malloc(iters);

	if (!lens || !flow || !kind) {
		perror("malloc");
		exit(1);
	}
	/*
	 * 60% IPv4 TCP, 20% IPv4 UDP, 5% IPv4 ICMP, 10% IPv6 TCP with options, 3% IPv6 first
	 * fragments behind a fragment header, 2% IPv4 later fragments; flow numbers skewed so that
	 * a few flows carry most packets.
	 */
	for (uint64_t i = 0; i < iters; i++) {
		uint64_t r = rng(&x), pct = r % 100;
		uint32_t f = (uint32_t)((r >> 8) % 2000);

		flow[i] = (r >> 40) % 4 ? f % 50 : f;
		kind[i] = pct < 60   ? 0
			  : pct < 80 ? 1
			  : pct < 85 ? 2
			  : pct < 95 ? 3
			  : pct < 98 ? 4
				     : 5;
	}

	for (int pass = 0; pass < 2; pass++) {
		t = now_ns();
		for (uint64_t i = 0; i < iters; i++) {
			int r = (int)(i % RING);

			b = ring[r];
			switch (kind[i]) {
			case 0:
			case 1:
			case 2:
				lens[r] = template_v4(b, kind[i] == 0 ? 6 : kind[i] == 1 ? 17 : 1);
				set_flow(b, flow[i]);
				break;
			case 3:
				memcpy(b, v6_tcp, sizeof(v6_tcp));
				lens[r] = sizeof(v6_tcp);
				b[23] = (uint8_t)flow[i];
				break;
			case 4:
				memcpy(b, v6_frag_udp, sizeof(v6_frag_udp));
				lens[r] = sizeof(v6_frag_udp);
				b[23] = (uint8_t)flow[i];
				break;
			default:
				lens[r] = template_v4(b, 17);
				set_flow(b, flow[i]);
				b[6] = 0x20;
				b[7] = 185;
				break;
			}
			if (pass == 0) {
				ft_packet_parse(b, lens[r], &info);
				sink += info.src_port;
			} else {
				ft_connstats_update_tx_virtual(s, b, lens[r]);
			}
		}
		report(pass == 0 ? "realistic mix, generate + parse"
				 : "realistic mix, generate + parse + update",
		       now_ns() - t, iters);
	}
	ft_connstats_close(s, NULL);
	free(lens);
	free(flow);
	free(kind);
}

int main(int argc, char **argv)
{
	uint64_t iters = argc > 1 ? strtoull(argv[1], NULL, 10) : 10000000;
	uv_loop_t loop;

	if (iters < BATCH)
		iters = BATCH;
	uv_loop_init(&loop);
	bench_one_flow(&loop, iters);
	bench_many_flows(&loop, iters);
	bench_mix(&loop, iters);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
	printf("(sink %llu)\n", (unsigned long long)(sink & 1));
	return 0;
}
