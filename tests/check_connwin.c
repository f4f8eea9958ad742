// SPDX-License-Identifier: MIT
/*
 * Connection statistics, the hand-off of windows (stats/connstats.h, "Hand-off"): a consumer
 * holds windows while the next one fills; a dump that finds every window held waits and the new
 * connections meanwhile go to the overflow counts; nothing is lost, whatever the consumer does;
 * close waits for the last hold. check_connstats.c has the counting itself.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <check.h>
#include <uv.h>

#include "stats/connstats.h"

enum { FLOWS = 4096, MAX_HELD = 64 };

/* The consumer: counts per flow (dst port), and the windows it holds. */
struct consumer {
	struct ft_connstats *s;
	uint64_t pkts[FLOWS], bytes[FLOWS];
	uint64_t overflow_pkts, overflow_bytes;
	const struct ft_conn_window *held[MAX_HELD];
	size_t n_held;
	bool hold; /* take a hold on every window */
	int dumps;
	uint64_t last_seq;
	size_t max_entries;
	int closed;
};

static void count_window(struct consumer *c, const struct ft_conn_window *win)
{
	for (size_t i = 0; i < win->nv; i++) {
		uint16_t port = win->v[i].key.dst_port;

		ck_assert_uint_lt(port, FLOWS);
		c->pkts[port] += win->v[i].tx_packets;
		c->bytes[port] += win->v[i].tx_bytes;
	}
	c->overflow_pkts += win->overflow_v.tx_packets;
	c->overflow_bytes += win->overflow_v.tx_bytes;
}

static void on_dump(void *arg, const struct ft_conn_window *win)
{
	struct consumer *c = arg;

	ck_assert_uint_gt(win->nv + win->np, 0);
	if (c->dumps > 0)
		ck_assert_uint_eq(win->seq, c->last_seq + 1);
	c->last_seq = win->seq;
	c->dumps++;
	if (win->nv + win->np > c->max_entries)
		c->max_entries = win->nv + win->np;
	if (!c->hold) {
		count_window(c, win);
		return;
	}
	ck_assert_uint_lt(c->n_held, MAX_HELD);
	ft_connstats_hold(c->s, win);
	c->held[c->n_held++] = win;
}

/* Counts and releases the oldest window held. */
static void release_one(struct consumer *c)
{
	const struct ft_conn_window *win = c->held[0];

	ck_assert_uint_gt(c->n_held, 0);
	memmove(c->held, c->held + 1, --c->n_held * sizeof(c->held[0]));
	count_window(c, win);
	ft_connstats_release(c->s, win);
}

static void on_closed(void *arg)
{
	((struct consumer *)arg)->closed++;
}

/* One UDP packet of len bytes, 100.64.0.1:1000 -> 100.64.0.2:flow. */
static void feed(struct ft_connstats *s, uint16_t flow, size_t len)
{
	struct ft_packet_info info;

	memset(&info, 0, sizeof(info));
	info.proto = 17;
	info.version = 4;
	ft_addr_set_v4(&info.src, (const uint8_t[4]){ 100, 64, 0, 1 });
	ft_addr_set_v4(&info.dst, (const uint8_t[4]){ 100, 64, 0, 2 });
	info.src_port = 1000;
	info.dst_port = flow;
	ft_connstats_update_virtual_parsed(s, &info, len, false);
}

static struct consumer *consumer_new(uv_loop_t *loop, uint64_t period_ms, size_t max_conns)
{
	struct consumer *c = calloc(1, sizeof(*c));

	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(uv_loop_init(loop), 0);
	c->s = ft_connstats_create(loop, period_ms, max_conns, on_dump, c);
	ck_assert_ptr_nonnull(c->s);
	return c;
}

static void close_and_check(struct consumer *c, uv_loop_t *loop)
{
	ft_connstats_close(c->s, on_closed);
	while (c->n_held)
		release_one(c);
	ck_assert_int_eq(uv_run(loop, UV_RUN_DEFAULT), 0);
	ck_assert_int_eq(c->closed, 1);
	ck_assert_int_eq(uv_loop_close(loop), 0);
}

/* A held window keeps its entries while the next one fills in a spare. */
START_TEST(test_hold_keeps_entries)
{
	uv_loop_t loop;
	struct consumer *c = consumer_new(&loop, 0, 4);
	const struct ft_conn_window *win;

	c->hold = true;
	for (uint16_t f = 0; f < 4; f++)
		feed(c->s, f, 100);
	ft_connstats_flush(c->s);
	ck_assert_int_eq(c->dumps, 1);
	win = c->held[0];
	ck_assert_uint_eq(win->nv, 4);
	for (uint16_t f = 0; f < 4; f++)
		feed(c->s, f, 7); /* the same keys, in the next window */
	ck_assert_uint_eq(win->v[0].tx_bytes, 100);
	ck_assert_uint_eq(win->v[3].tx_bytes, 100);
	ft_connstats_flush(c->s);
	ck_assert_int_eq(c->dumps, 2);
	ck_assert_ptr_ne(c->held[1], win);
	ck_assert_uint_eq(c->held[1]->v[0].tx_bytes, 7);
	close_and_check(c, &loop);
	ck_assert_uint_eq(c->pkts[0], 2);
	ck_assert_uint_eq(c->bytes[0], 107);
	free(c);
}
END_TEST

/*
 * The consumer is behind: with every other window held, a full window's dump waits (once
 * counted), connections already in it go on counting, new ones go to the overflow counts; the
 * first release lets the dump run, overflow and all, and a new window starts.
 */
START_TEST(test_behind_overflows)
{
	uv_loop_t loop;
	struct consumer *c = consumer_new(&loop, 0, 4);
	struct ft_connstats_counters cnt;

	ck_assert_int_eq(ft_connstats_set_max_windows(c->s, 2), 0);
	c->hold = true;
	for (uint16_t f = 0; f < 8; f++) /* 4 fill the first window; the fifth dumps it */
		feed(c->s, f, 10);
	ck_assert_int_eq(c->dumps, 1);
	ck_assert_uint_eq(c->held[0]->nv, 4);
	/* Flows 4..7 are in the second window, which is full; both windows are taken. */
	feed(c->s, 8, 20);
	feed(c->s, 9, 20);
	feed(c->s, 4, 30); /* an existing connection: counted in its entry */
	ck_assert_int_eq(c->dumps, 1);
	ft_connstats_get_counters(c->s, &cnt);
	ck_assert_uint_eq(cnt.dumps_deferred, 1);
	ck_assert_uint_eq(cnt.overflow_packets, 2);
	/* The release runs the waiting dump at once. */
	release_one(c);
	ck_assert_int_eq(c->dumps, 2);
	ck_assert_uint_eq(c->held[0]->nv, 4);
	ck_assert_uint_eq(c->held[0]->overflow_v.tx_packets, 2);
	ck_assert_uint_eq(c->held[0]->overflow_v.tx_bytes, 40);
	ck_assert_uint_eq(c->held[0]->overflow_p.tx_packets, 0);
	feed(c->s, 9, 5); /* room again: a new entry */
	close_and_check(c, &loop);
	ck_assert_uint_eq(c->pkts[4], 2);
	ck_assert_uint_eq(c->bytes[4], 40);
	ck_assert_uint_eq(c->overflow_pkts, 2);
	ck_assert_uint_eq(c->pkts[9], 1);
	ck_assert_uint_eq(c->bytes[9], 5);
	ck_assert_int_eq(c->dumps, 3);
	free(c);
}
END_TEST

static void on_stop_timer(uv_timer_t *t)
{
	uv_stop(t->loop);
}

/* A period that ends while every window is held waits for a release, then dumps. */
START_TEST(test_period_waits)
{
	uv_loop_t loop;
	struct consumer *c = consumer_new(&loop, 10, 100);
	uv_timer_t stop;

	ck_assert_int_eq(ft_connstats_set_max_windows(c->s, 2), 0);
	c->hold = true;
	uv_timer_init(&loop, &stop);
	feed(c->s, 1, 10);
	ft_connstats_flush(c->s); /* held: no spare left */
	feed(c->s, 2, 10);
	uv_timer_start(&stop, on_stop_timer, 50, 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	ck_assert_int_eq(c->dumps, 1); /* the period ended, the dump waits */
	feed(c->s, 2, 10);
	release_one(c);
	ck_assert_int_eq(c->dumps, 2);
	ck_assert_uint_eq(c->held[0]->v[0].tx_packets, 2);
	uv_close((uv_handle_t *)&stop, NULL);
	close_and_check(c, &loop);
	free(c);
}
END_TEST

/* The final dump never waits, and close waits for the last hold before it frees anything. */
START_TEST(test_close_waits_for_holds)
{
	uv_loop_t loop;
	struct consumer *c = consumer_new(&loop, 0, 2);

	ck_assert_int_eq(ft_connstats_set_max_windows(c->s, 2), 0);
	c->hold = true;
	for (uint16_t f = 0; f < 4; f++)
		feed(c->s, f, 10); /* two windows, both held by now... */
	feed(c->s, 5, 10);	   /* ...so this one overflows */
	ck_assert_int_eq(c->dumps, 1);
	ft_connstats_close(c->s, on_closed);
	ck_assert_int_eq(c->dumps, 2); /* the final dump, with no spare */
	ck_assert_uint_eq(c->held[1]->overflow_v.tx_packets, 1);
	ck_assert_int_eq(uv_run(&loop, UV_RUN_NOWAIT), 0);
	ck_assert_int_eq(c->closed, 0);
	release_one(c);
	ck_assert_int_eq(c->closed, 0);
	release_one(c);
	ck_assert_int_eq(c->closed, 1);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
	for (uint16_t f = 0; f < 4; f++)
		ck_assert_uint_eq(c->pkts[f], 1);
	ck_assert_uint_eq(c->overflow_pkts, 1);
	free(c);
}
END_TEST

START_TEST(test_max_windows_invalid)
{
	uv_loop_t loop;
	struct consumer *c = consumer_new(&loop, 0, 2);

	ck_assert_int_eq(ft_connstats_set_max_windows(c->s, 1), -EINVAL);
	ck_assert_int_eq(ft_connstats_set_max_windows(c->s, 2), 0);
	feed(c->s, 1, 1);
	ft_connstats_flush(c->s);
	ck_assert_int_eq(ft_connstats_set_max_windows(c->s, 3), -EINVAL); /* after a dump */
	close_and_check(c, &loop);
	free(c);
}
END_TEST

static uint64_t rng_next(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/*
 * A random feed with a consumer that holds windows and releases them at random: whatever it
 * does, the entries and the overflow counts of all windows add up to exactly what was fed, and
 * no window holds more than max_conns.
 */
START_TEST(test_random_holds)
{
	static const size_t max_conns[] = { 1, 5, 64, 1000 };
	uv_loop_t loop;
	struct consumer *c = consumer_new(&loop, 0, max_conns[_i]);
	uint64_t want_pkts[FLOWS] = { 0 }, want_bytes[FLOWS] = { 0 }, x = 88172645463325252ull;
	uint64_t total_pkts = 0, got = 0;

	ck_assert_int_eq(ft_connstats_set_max_windows(c->s, 2 + (size_t)_i), 0);
	c->hold = true;
	for (int n = 0; n < 50000; n++) {
		uint64_t r = rng_next(&x);
		uint16_t flow = (uint16_t)(r % (r >> 60 ? 200 : FLOWS));
		size_t len = 20 + (size_t)(r >> 32) % 1400;

		feed(c->s, flow, len);
		want_pkts[flow]++;
		want_bytes[flow] += len;
		total_pkts++;
		if ((r >> 20) % 97 == 0 && c->n_held)
			release_one(c);
	}
	close_and_check(c, &loop);
	ck_assert_uint_le(c->max_entries, max_conns[_i]);
	for (int f = 0; f < FLOWS; f++) {
		ck_assert_uint_le(c->pkts[f], want_pkts[f]);
		got += c->pkts[f];
	}
	ck_assert_uint_eq(got + c->overflow_pkts, total_pkts);
	if (c->overflow_pkts == 0)
		for (int f = 0; f < FLOWS; f++)
			ck_assert_uint_eq(c->bytes[f], want_bytes[f]);
	free(c);
}
END_TEST

static Suite *connwin_suite(void)
{
	Suite *s = suite_create("connwin");
	TCase *tc = tcase_create("windows");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_hold_keeps_entries);
	tcase_add_test(tc, test_behind_overflows);
	tcase_add_test(tc, test_period_waits);
	tcase_add_test(tc, test_close_waits_for_holds);
	tcase_add_test(tc, test_max_windows_invalid);
	tcase_add_loop_test(tc, test_random_holds, 0, 4);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(connwin_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
