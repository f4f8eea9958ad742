// SPDX-License-Identifier: MIT
/*
 * flush-bench: how long a flow-log flush holds the loop thread, which is the packet path.
 * Prints numbers, asserts nothing.
 *
 * FLOWS one-packet flows (unique 5-tuples, as a port scan makes them) are counted by a connstats
 * of FlowLogMaxConns 500 (a dump every 500 flows: a flush storm) or 100000, in batches of 64 as
 * the data path counts them, with one libuv loop iteration (UV_RUN_NOWAIT) between batches and
 * COST_NS of busy work per packet besides the update (what reading, encrypting and sending it
 * costs the tunnel: the rate at which a flood's flows arrive is bounded by it).
 * Each dump goes to a flow-log writer that appends to /dev/null, in one of two ways:
 *   sync   ft_flowwriter_write_dump() in the dump callback: classify, sort and format on the
 *          loop, as main did before the windows were handed off
 *   async  ft_flowwriter_submit(): the window is held, classified on the loop in slices and
 *          formatted on the thread pool, as the tunnel does now
 * The classify callback looks at two prefixes per address, about what the worker's does for a
 * tunnel with one address and one peer.
 *
 * Per case: the loop thread's time in the update calls (which include the dumps) per flow; the
 * update calls that dumped (the stall a flush puts on the packet path): their median and
 * longest; its time in everything else (slices, completions) per flow; its CPU time
 * (RUSAGE_THREAD) beyond the busy work per flow, which leaves out preemptions; and the wall time
 * until every line was written; the windows dumped (fewer than FLOWS / 500 when the writer fell
 * behind and new flows went to the overflow counts). Usage: flush-bench [FLOWS [COST_NS]],
 * default 60000 flows and 2000 ns per packet.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#include <uv.h>

#include "stats/connstats.h"
#include "stats/flowwriter.h"

enum { BATCH = 64 };

struct bench {
	uv_loop_t loop;
	struct ft_connstats *s;
	struct ft_flowwriter *w;
	bool async;
	uint64_t windows;
};

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t now_ns(void)
{
	return clock_ns(CLOCK_MONOTONIC);
}

/* 100.64.0.0/24 is ours, 100.64.1.0/24 a peer's subnet: two prefix tests per address. */
static enum ft_flowlog_addr_kind classify(void *arg, const struct ft_addr *a)
{
	(void)arg;
	if (a->family != AF_INET || a->bytes[0] != 100 || a->bytes[1] != 64)
		return FT_FLOWLOG_OTHER;
	if (a->bytes[2] == 0)
		return FT_FLOWLOG_OVERLAY;
	return a->bytes[2] == 1 ? FT_FLOWLOG_SUBNET : FT_FLOWLOG_OTHER;
}

static const struct ft_flowlog_meta meta = {
	.node_id = "bench",
	.classify = classify,
};

static void on_done(void *arg, const struct ft_conn_window *win)
{
	struct bench *b = arg;

	ft_connstats_release(b->s, win);
}

static void on_dump(void *arg, const struct ft_conn_window *win)
{
	struct bench *b = arg;

	b->windows++;
	if (!b->async) {
		ft_flowwriter_write_dump(b->w, &meta, win->start_ms, win->end_ms, win->v, win->nv,
					 win->p, win->np);
		return;
	}
	ft_connstats_hold(b->s, win);
	if (ft_flowwriter_submit(b->w, &meta, win, on_done, b) < 0)
		ft_connstats_release(b->s, win);
}

/* The CPU time of the calling thread (user and system), read once per case. */
static uint64_t thread_cpu_ns(void)
{
	struct rusage ru;

	getrusage(RUSAGE_THREAD, &ru);
	return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000u +
	       ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000u;
}

/* Busy work for about ns nanoseconds, as the rest of the packet path would take. */
static void spin(uint64_t ns)
{
	uint64_t end = now_ns() + ns;

	while (now_ns() < end)
		;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void run(size_t max_conns, bool async, uint32_t flows, uint64_t cost_ns)
{
	struct ft_flowwriter_config fc = { .path = "/dev/null" };
	struct bench b = { .async = async };
	size_t k = 0;
	uint64_t *dump_ns = malloc((flows / 2 + 1) * sizeof(*dump_ns));
	uint64_t in_updates = 0, in_loop = 0, t0, t, t1, cpu0, cpu;
	struct ft_flowwriter_counters c;
	struct ft_packet_info info;

	if (!dump_ns || uv_loop_init(&b.loop) < 0)
		exit(1);
	b.s = ft_connstats_create(&b.loop, 0, max_conns, on_dump, &b);
	b.w = ft_flowwriter_create(&b.loop, &fc);
	if (!b.s || !b.w)
		exit(1);
	memset(&info, 0, sizeof(info));
	info.proto = 17;
	info.version = 4;
	ft_addr_set_v4(&info.src, (const uint8_t[4]){ 100, 64, 0, 1 });
	t0 = now_ns();
	cpu0 = thread_cpu_ns();
	for (uint32_t i = 0; i < flows;) {
		for (int j = 0; j < BATCH && i < flows; j++, i++) {
			uint64_t before = b.windows, d;

			/* 100.64.0.1:40000 -> 100.64.1.x:port, one packet each. */
			ft_addr_set_v4(&info.dst,
				       (const uint8_t[4]){ 100, 64, 1, (uint8_t)(i >> 16) });
			info.src_port = 40000;
			info.dst_port = (uint16_t)i;
			t1 = now_ns();
			ft_connstats_update_virtual_parsed(b.s, &info, 29, false);
			d = now_ns() - t1;
			in_updates += d;
			if (b.windows != before)
				dump_ns[k++] = d;
			spin(cost_ns);
		}
		t = now_ns();
		uv_run(&b.loop, UV_RUN_NOWAIT);
		in_loop += now_ns() - t;
	}
	/* What the loop thread itself spent, with the busy work, preemptions left out. */
	cpu = thread_cpu_ns() - cpu0;
	ft_connstats_close(b.s, NULL);
	ft_flowwriter_get_counters(b.w, &c);
	ft_flowwriter_close(b.w, NULL);
	uv_run(&b.loop, UV_RUN_DEFAULT);
	t = now_ns() - t0;
	qsort(dump_ns, k, sizeof(*dump_ns), cmp_u64);
	printf("%-5s max_conns %6zu: %5.0f ns/flow in updates; an update that dumps: median %7.1f "
	       "us, longest %7.1f us; %4.0f ns/flow in the rest of the loop; loop thread CPU %4.0f "
	       "ns/flow beyond the busy work; %4.0f ms in all, %llu windows\n",
	       async ? "async" : "sync", max_conns, (double)in_updates / flows,
	       k ? (double)dump_ns[k / 2] / 1e3 : 0.0, k ? (double)dump_ns[k - 1] / 1e3 : 0.0,
	       (double)in_loop / flows, ((double)cpu - (double)cost_ns * flows) / flows,
	       (double)t / 1e6, (unsigned long long)b.windows);
	if (uv_loop_close(&b.loop) != 0)
		fprintf(stderr, "flush-bench: the loop still had handles\n");
	free(dump_ns);
}

int main(int argc, char *argv[])
{
	uint32_t flows = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 10) : 60000;
	uint64_t cost_ns = argc > 2 ? strtoull(argv[2], NULL, 10) : 2000;
	const char *only = getenv("FLUSH_BENCH_ONLY");

	if (flows < BATCH || flows > 16000000 || cost_ns > 1000000) {
		fprintf(stderr, "usage: flush-bench [FLOWS (64 to 16000000) [COST_NS (<= 1e6)]]\n");
		return 2;
	}
	printf("%u flows, %llu ns of other work per packet; batches of %d packets\n", flows,
	       (unsigned long long)cost_ns, BATCH);
	for (int round = 0; round < 2; round++) {
		/* FLUSH_BENCH_ONLY=sync or async: one of them, for a profiler. */
		for (int async = 0; async < 2; async++) {
			if (only && strcmp(only, async ? "async" : "sync") != 0)
				continue;
			run(500, async, flows, cost_ns);
			run(100000, async, flows, cost_ns);
		}
	}
	return 0;
}
