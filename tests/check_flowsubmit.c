// SPDX-License-Identifier: MIT
/*
 * The flow-log writer's submitted windows (stats/flowwriter.h, "Windows"): what is written is
 * exactly what ft_flowlog_format() makes of the window; classify runs on the loop thread only,
 * a slice per loop iteration; windows are written in the order submitted, close writes them
 * all and gives every window back; the rate limit lists what its token bucket allows, the
 * largest first, and sums up the rest. Every test ends with uv_loop_close() == 0.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <check.h>
#include <jansson.h>
#include <uv.h>

#include "stats/flowwriter.h"

static const uint64_t T0 = 1767323045123ULL;

struct ctx {
	uv_loop_t loop;
	uv_prepare_t iter;
	uint64_t iterations;	  /* loop iterations so far */
	uint64_t calls_this_iter; /* classify calls in the current one */
	uint64_t max_calls_iter;
	uint64_t classify_calls;
	bool off_loop; /* classify ran on another thread */
	pthread_t loop_thread;
	int done;
	const struct ft_conn_window *done_order[64];
	bool closed;
	struct ft_flowwriter_counters final;
	char path[64];
};

static struct ctx *g; /* for classify, whose arg is the writer's caller's */

static void on_iter(uv_prepare_t *h)
{
	struct ctx *c = h->data;

	c->iterations++;
	c->calls_this_iter = 0;
}

/* 100.64.0.0/16 overlay, 10.0.0.0/8 a subnet; counts its calls per loop iteration. */
static enum ft_flowlog_addr_kind classify(void *arg, const struct ft_addr *a)
{
	struct ctx *c = arg;

	if (!pthread_equal(pthread_self(), c->loop_thread))
		c->off_loop = true;
	c->classify_calls++;
	if (++c->calls_this_iter > c->max_calls_iter)
		c->max_calls_iter = c->calls_this_iter;
	if (a->family == AF_INET && a->bytes[0] == 100 && a->bytes[1] == 64)
		return FT_FLOWLOG_OVERLAY;
	return a->family == AF_INET && a->bytes[0] == 10 ? FT_FLOWLOG_SUBNET : FT_FLOWLOG_OTHER;
}

static void on_done(void *arg, const struct ft_conn_window *win)
{
	struct ctx *c = arg;

	ck_assert_int_lt(c->done, 64);
	c->done_order[c->done++] = win;
}

static void on_closed(void *arg, const struct ft_flowwriter_counters *final)
{
	struct ctx *c = arg;

	c->closed = true;
	c->final = *final;
}

static struct ft_flowwriter *setup(struct ctx *c, uint64_t rate, uint64_t burst)
{
	struct ft_flowwriter_config cfg = {
		.arg = c,
		.max_entries_per_s = rate,
		.max_entries_burst = burst,
	};
	struct ft_flowwriter *w;

	memset(c, 0, sizeof(*c));
	g = c;
	snprintf(c->path, sizeof(c->path), "/tmp/check_flowsubmit.XXXXXX");
	ck_assert_int_ge(mkstemp(c->path), 0);
	cfg.path = c->path;
	c->loop_thread = pthread_self();
	ck_assert_int_eq(uv_loop_init(&c->loop), 0);
	uv_prepare_init(&c->loop, &c->iter);
	c->iter.data = c;
	uv_prepare_start(&c->iter, on_iter);
	uv_unref((uv_handle_t *)&c->iter); /* it does not keep the loop running */
	w = ft_flowwriter_create(&c->loop, &cfg);
	ck_assert_ptr_nonnull(w);
	return w;
}

static char *finish(struct ctx *c, struct ft_flowwriter *w)
{
	FILE *f;
	char *s;
	long n;

	ft_flowwriter_close(w, on_closed);
	ck_assert_int_eq(uv_run(&c->loop, UV_RUN_DEFAULT), 0);
	uv_close((uv_handle_t *)&c->iter, NULL);
	ck_assert_int_eq(uv_run(&c->loop, UV_RUN_DEFAULT), 0);
	ck_assert(c->closed);
	ck_assert_int_eq(uv_loop_close(&c->loop), 0);
	f = fopen(c->path, "r");
	ck_assert_ptr_nonnull(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	s = calloc(1, (size_t)n + 1);
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(fread(s, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	unlink(c->path);
	return s;
}

/* n UDP entries 100.64.0.1:port -> DST:53, entry i of i + 1 packets; every third to 10.1.0.2. */
static struct ft_conn_entry *entries(size_t n)
{
	struct ft_conn_entry *v = calloc(n, sizeof(*v));

	ck_assert_ptr_nonnull(v);
	for (size_t i = 0; i < n; i++) {
		v[i].key.proto = 17;
		ft_addr_set_v4(&v[i].key.src, (const uint8_t[4]){ 100, 64, 0, 1 });
		ft_addr_set_v4(&v[i].key.dst, i % 3 ? (const uint8_t[4]){ 100, 64, 0, 2 }
						    : (const uint8_t[4]){ 10, 1, 0, 2 });
		v[i].key.src_port = (uint16_t)(1024 + i);
		v[i].key.dst_port = 53;
		v[i].tx_packets = i + 1;
		v[i].tx_bytes = 100 * (i + 1);
	}
	return v;
}

static struct ft_conn_window window(const struct ft_conn_entry *v, size_t nv, uint64_t start,
				    uint64_t end)
{
	struct ft_conn_window win = { .start_ms = start, .end_ms = end, .v = v, .nv = nv };

	return win;
}

/* What the writer writes is what the formatter makes of the window, classified on the loop. */
START_TEST(test_submit_equals_format)
{
	enum { N = 3 * FT_FLOWWRITER_CLASSIFY_SLICE + 17 };
	struct ctx c;
	struct ft_flowwriter *w = setup(&c, 0, 0);
	struct ft_conn_entry *v = entries(N);
	struct ft_conn_entry p = { .tx_packets = 4, .tx_bytes = 400 };
	struct ft_conn_window win = window(v, N, T0, T0 + 5000);
	struct ft_flowlog_meta meta = {
		.node_id = "node",
		.node_name = "name",
		.classify = classify,
		.classify_arg = &c,
		.has_tun_dropped = true,
		.tun_dropped = 42,
	};
	struct ft_flowlog_buf want = { 0 };
	char *got;

	ft_addr_set_v4(&p.key.src, (const uint8_t[4]){ 100, 64, 0, 2 });
	ft_addr_set_v4(&p.key.dst, (const uint8_t[4]){ 198, 18, 0, 2 });
	p.key.dst_port = 51820;
	win.p = &p;
	win.np = 1;
	win.overflow_v.tx_packets = 3;
	ck_assert_int_eq(ft_flowwriter_submit(w, &meta, &win, on_done, &c), 0);
	ck_assert_uint_eq(c.classify_calls, 0); /* nothing on the caller's stack */
	got = finish(&c, w);
	ck_assert_int_eq(c.done, 1);
	ck_assert_ptr_eq(c.done_order[0], &win);
	ck_assert(!c.off_loop);
	ck_assert_uint_eq(c.classify_calls, 2 * N);
	ck_assert_uint_le(c.max_calls_iter, 2 * FT_FLOWWRITER_CLASSIFY_SLICE);
	ck_assert_uint_ge(c.iterations, 4);
	meta.max_line = FT_FLOWLOG_MAX_LINE;
	meta.overflow_v = win.overflow_v;
	ck_assert_int_ge(ft_flowlog_format(&want, &meta, win.start_ms, win.end_ms, v, N, &p, 1), 1);
	ck_assert_str_eq(got, want.data);
	ck_assert_ptr_nonnull(strstr(got, "\"tunDropped\":42,\"omittedTraffic\":{\"txPkts\":3}"));
	ck_assert_uint_eq(c.final.windows, 1);
	ck_assert_uint_eq(c.final.pending_windows, 0);
	ck_assert_uint_eq(c.final.lost, 0);
	free(want.data);
	free(got);
	free(v);
}
END_TEST

/* Windows are written in order; close formats and writes every one, and gives each back. */
START_TEST(test_order_and_close)
{
	enum { W = 12 };
	struct ctx c;
	struct ft_flowwriter *w = setup(&c, 0, 0);
	struct ft_conn_entry *v = entries(200);
	struct ft_conn_window wins[W];
	struct ft_flowlog_meta meta = { .node_id = "n", .classify = classify, .classify_arg = &c };
	struct ft_conn_window empty = { .start_ms = T0 + 100000, .end_ms = T0 + 100000 };
	char *got, *line;
	int i = 0;

	for (int k = 0; k < W; k++) {
		wins[k] = window(v + 10 * k, 10 + (size_t)k, T0 + 1000 * (uint64_t)k,
				 T0 + 1000 * (uint64_t)k + 999);
		ck_assert_int_eq(ft_flowwriter_submit(w, &meta, &wins[k], on_done, &c), 0);
	}
	/* A window with no entries and no owner: a message for tunDropped alone. */
	meta.has_tun_dropped = true;
	meta.tun_dropped = 5;
	ck_assert_int_eq(ft_flowwriter_submit(w, &meta, &empty, NULL, NULL), 0);
	ft_flowwriter_close(w, on_closed);
	ck_assert_int_eq(ft_flowwriter_submit(w, &meta, &wins[0], on_done, &c), -ESHUTDOWN);
	/* finish() closes again: a second close is a no-op. */
	got = finish(&c, w);
	ck_assert_int_eq(c.done, W);
	for (int k = 0; k < W; k++)
		ck_assert_ptr_eq(c.done_order[k], &wins[k]);
	for (line = strtok(got, "\n"); line; line = strtok(NULL, "\n"), i++) {
		json_error_t err;
		json_t *j = json_loads(line, 0, &err);
		char want[32];

		ck_assert_ptr_nonnull(j);
		ft_flowlog_time(want, i < W ? T0 + 1000 * (uint64_t)i : T0 + 100000);
		ck_assert_str_eq(json_string_value(json_object_get(j, "start")), want);
		if (i < W)
			ck_assert_uint_eq(
				json_array_size(json_object_get(j, "virtualTraffic")) +
					json_array_size(json_object_get(j, "subnetTraffic")),
				10 + (size_t)i);
		else
			ck_assert_int_eq(json_integer_value(json_object_get(j, "tunDropped")), 5);
		json_decref(j);
	}
	ck_assert_int_eq(i, W + 1);
	ck_assert_uint_eq(c.final.lines, W + 1);
	free(got);
	free(v);
}
END_TEST

/* The virtual entries listed and omitted of one line: {listed, conns, omitted tx bytes}. */
static void line_counts(const char *line, size_t len, size_t out[3])
{
	json_error_t err;
	json_t *j = json_loadb(line, len, 0, &err), *o;

	ck_assert_ptr_nonnull(j);
	out[0] = json_array_size(json_object_get(j, "virtualTraffic")) +
		 json_array_size(json_object_get(j, "subnetTraffic"));
	o = json_object_get(j, "omittedTraffic");
	out[1] = o ? (size_t)json_integer_value(json_object_get(o, "conns")) : 0;
	out[2] = o ? (size_t)json_integer_value(json_object_get(o, "txBytes")) : 0;
	json_decref(j);
}

/*
 * 10 entries a second, a burst of 20; windows of 30 entries ending at 0 s, 1 s and 5 s: the
 * first lists 20 (a full bucket), the second 10, the third 20 (refilled to the burst, not 50).
 * What is listed is the largest by bytes; the rest is summed up.
 */
START_TEST(test_rate_limit)
{
	struct ctx c;
	struct ft_flowwriter *w = setup(&c, 10, 20);
	struct ft_conn_entry *v = entries(30);
	struct ft_conn_window wins[3] = {
		window(v, 30, T0 - 1000, T0),
		window(v, 30, T0, T0 + 1000),
		window(v, 30, T0 + 1000, T0 + 5000),
	};
	static const size_t want[3][2] = { { 20, 10 }, { 10, 20 }, { 20, 10 } };
	struct ft_flowlog_meta meta = { .node_id = "n", .classify = classify, .classify_arg = &c };
	size_t n[3], k = 0;
	char *got, *s;

	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(ft_flowwriter_submit(w, &meta, &wins[i], on_done, &c), 0);
	got = finish(&c, w);
	for (s = got; *s; s = strchr(s, '\n') + 1, k++) {
		size_t omitted_bytes = 0;

		line_counts(s, (size_t)(strchr(s, '\n') - s), n);
		ck_assert_uint_eq(n[0], want[k][0]);
		ck_assert_uint_eq(n[1], want[k][1]);
		/* The omitted are the smallest: entries 0..want-1 of 100 * (i + 1) bytes. */
		for (size_t i = 0; i < want[k][1]; i++)
			omitted_bytes += 100 * (i + 1);
		ck_assert_uint_eq(n[2], omitted_bytes);
	}
	ck_assert_uint_eq(k, 3);
	ck_assert_uint_eq(c.final.omitted, 40);
	ck_assert_uint_eq(c.final.limited_windows, 3);
	ck_assert_int_eq(c.done, 3);
	free(got);
	free(v);
}
END_TEST

static Suite *flowsubmit_suite(void)
{
	Suite *s = suite_create("flowsubmit");
	TCase *tc = tcase_create("flowsubmit");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_submit_equals_format);
	tcase_add_test(tc, test_order_and_close);
	tcase_add_test(tc, test_rate_limit);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(flowsubmit_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
