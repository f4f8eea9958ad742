// SPDX-License-Identifier: MIT
/*
 * link/: state strings, duration parsing, the ioctl chain on interfaces every host has (or
 * lacks), and the monitor on a real uv loop with injected status and counter sources.
 *
 * A fake interface follows a script: its n-th status read returns st[n] (the last entry
 * repeats) and its n-th counter read rx[n] (then the counter goes on at the last step's rate). A status read is one check; in delta mode a counter
 * read is one poll (the first is the baseline taken at start). The tests stop the loop on a
 * read count, never on elapsed time, and assert on the samples collected.
 */
#include "config.h"

#include <errno.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>

#include <libmnl/libmnl.h>

#include <check.h>
#include <uv.h>

#include "link/internal.h"
#include "link/link.h"

#define U FT_LINK_UP
#define D FT_LINK_DOWN
#define E FT_LINK_ERROR
#define RX_ERR UINT64_MAX /* a counter read that fails with -ENODEV */
#define MAX_SCRIPT 16
#define MAX_IFACES 4
#define MAX_SAMPLES 64

struct fake_iface {
	const char *name;
	enum ft_link_state st[MAX_SCRIPT]; /* ends at the first 0 (FT_LINK_UNKNOWN) */
	uint64_t rx[MAX_SCRIPT];	   /* n_rx entries */
	int n_rx;
	unsigned int st_calls, rx_calls;
	uint64_t first_change_ms; /* loop time of the first read that differed from st[0] */
};

struct recorded {
	uint64_t seq, mono_ms;
	size_t n;
	struct {
		char name[16];
		enum ft_link_state state;
		int err;
		bool changed, has_rx_delta;
		uint64_t rx_delta;
	} ifaces[MAX_IFACES];
};

struct harness {
	uv_loop_t loop;
	uv_timer_t watchdog, driver;
	struct ft_link_monitor *mon;
	struct fake_iface *fakes;
	size_t n_fakes;
	struct recorded samples[MAX_SAMPLES];
	size_t n_samples;
	unsigned int stop_after_st_calls; /* of fakes[0] */
	unsigned int stop_after_samples;
	bool timed_out, closed;
	/* Optional action on a sample, for tests that act from inside the callback. */
	void (*on_sample)(struct harness *h, const struct ft_link_sample *s);
};

static struct fake_iface *fake_find(struct harness *h, const char *name)
{
	for (size_t i = 0; i < h->n_fakes; i++)
		if (strcmp(h->fakes[i].name, name) == 0)
			return &h->fakes[i];
	return NULL;
}

static enum ft_link_state fake_status(void *arg, const char *ifname, int *err)
{
	struct harness *h = arg;
	struct fake_iface *f = fake_find(h, ifname);
	unsigned int n = 0;
	enum ft_link_state st;

	if (!f) {
		*err = -ENODEV;
		return FT_LINK_ERROR;
	}
	while (n + 1 < MAX_SCRIPT && f->st[n + 1] != FT_LINK_UNKNOWN && n < f->st_calls)
		n++;
	st = f->st[n];
	if (st != f->st[0] && !f->first_change_ms)
		f->first_change_ms = uv_now(&h->loop);
	f->st_calls++;
	*err = st == FT_LINK_ERROR ? -ENODEV : 0;
	return st;
}

static int fake_rx(void *arg, const char *ifname, uint64_t *bytes)
{
	struct harness *h = arg;
	struct fake_iface *f = fake_find(h, ifname);
	uint64_t last, step;
	unsigned int n;

	if (!f || f->n_rx == 0)
		return -ENODEV;
	n = f->rx_calls++;
	if (n < (unsigned int)f->n_rx) {
		if (f->rx[n] == RX_ERR)
			return -ENODEV;
		*bytes = f->rx[n];
		return 0;
	}
	/* Past the script the traffic goes on at the last step's rate, so states stay put. */
	last = f->rx[f->n_rx - 1];
	step = f->n_rx >= 2 && f->rx[f->n_rx - 2] != RX_ERR && last >= f->rx[f->n_rx - 2]
		       ? last - f->rx[f->n_rx - 2]
		       : 0;
	*bytes = last + (n - (unsigned int)f->n_rx + 1) * step;
	return 0;
}

static void on_closed(struct ft_link_monitor *mon)
{
	(void)mon;
}

static void finish(struct harness *h)
{
	if (h->closed)
		return;
	h->closed = true;
	ft_link_monitor_close(h->mon, on_closed);
	uv_close((uv_handle_t *)&h->watchdog, NULL);
	uv_close((uv_handle_t *)&h->driver, NULL);
}

static void on_sample(struct ft_link_monitor *mon, const struct ft_link_sample *s, void *arg)
{
	struct harness *h = arg;
	struct recorded *r;

	ck_assert_ptr_eq(mon, h->mon);
	ck_assert_uint_lt(h->n_samples, MAX_SAMPLES);
	ck_assert_uint_le(s->n_ifaces, MAX_IFACES);
	r = &h->samples[h->n_samples++];
	r->seq = s->seq;
	r->mono_ms = s->mono_ms;
	r->n = s->n_ifaces;
	ck_assert_uint_gt(s->wall_ms, 0);
	for (size_t i = 0; i < s->n_ifaces; i++) {
		ck_assert_uint_lt(strlen(s->ifaces[i].name), sizeof(r->ifaces[i].name));
		strcpy(r->ifaces[i].name, s->ifaces[i].name);
		r->ifaces[i].state = s->ifaces[i].state;
		r->ifaces[i].err = s->ifaces[i].err;
		r->ifaces[i].changed = s->ifaces[i].changed;
		r->ifaces[i].has_rx_delta = s->ifaces[i].has_rx_delta;
		r->ifaces[i].rx_delta = s->ifaces[i].rx_delta;
	}
	if (h->on_sample)
		h->on_sample(h, s);
	if (h->stop_after_samples && h->n_samples >= h->stop_after_samples)
		finish(h);
}

static void watchdog_cb(uv_timer_t *t)
{
	struct harness *h = t->data;

	h->timed_out = true;
	finish(h);
}

/* Polls the fake's read count every millisecond: the only way the tests decide to stop. */
static void driver_cb(uv_timer_t *t)
{
	struct harness *h = t->data;

	if (h->stop_after_st_calls && h->fakes[0].st_calls >= h->stop_after_st_calls)
		finish(h);
}

static void harness_run(struct harness *h, struct ft_link_monitor_options *opts)
{
	const char *names[MAX_IFACES];

	ck_assert_int_eq(uv_loop_init(&h->loop), 0);
	for (size_t i = 0; i < h->n_fakes; i++)
		names[i] = h->fakes[i].name;
	if (!opts->ifnames) {
		opts->ifnames = names;
		opts->n_ifnames = h->n_fakes;
	}
	opts->status = fake_status;
	opts->rx_bytes = fake_rx;
	opts->source_arg = h;
	ck_assert_int_eq(ft_link_monitor_create(&h->mon, &h->loop, opts, on_sample, h), 0);
	ck_assert_int_eq(ft_link_monitor_start(h->mon), 0);
	ck_assert(ft_link_monitor_is_running(h->mon));
	uv_timer_init(&h->loop, &h->watchdog);
	uv_timer_init(&h->loop, &h->driver);
	h->watchdog.data = h->driver.data = h;
	uv_timer_start(&h->watchdog, watchdog_cb, 10000, 0);
	uv_timer_start(&h->driver, driver_cb, 1, 1);
	ck_assert_int_eq(uv_run(&h->loop, UV_RUN_DEFAULT), 0);
	ck_assert_msg(!h->timed_out, "the test did not finish within 10 s");
	/* A handle the monitor leaked would make this fail with UV_EBUSY. */
	ck_assert_int_eq(uv_loop_close(&h->loop), 0);
}

static void assert_iface(const struct recorded *r, size_t i, const char *name,
			 enum ft_link_state st, bool changed)
{
	ck_assert_uint_lt(i, r->n);
	ck_assert_str_eq(r->ifaces[i].name, name);
	ck_assert_msg(r->ifaces[i].state == st, "sample %llu, %s: state %s, want %s",
		      (unsigned long long)r->seq, name, ft_link_state_str(r->ifaces[i].state),
		      ft_link_state_str(st));
	ck_assert_msg(r->ifaces[i].changed == changed, "sample %llu, %s: changed %d, want %d",
		      (unsigned long long)r->seq, name, r->ifaces[i].changed, changed);
}

/* ---- strings, durations, the real ioctl chain ---- */

static const struct {
	enum ft_link_state state;
	const char *str;
} state_strings[] = {
	{ FT_LINK_UNKNOWN, "unknown" },	       { FT_LINK_UP, "link" },
	{ FT_LINK_DOWN, "no link" },	       { FT_LINK_ERROR, "error" },
	{ (enum ft_link_state)42, "unknown" },
};

START_TEST(test_state_str)
{
	ck_assert_str_eq(ft_link_state_str(state_strings[_i].state), state_strings[_i].str);
}
END_TEST

static const struct {
	const char *in;
	int rc;
	uint64_t ms;
} durations[] = {
	{ "500ms", 0, 500 },	   { "2s", 0, 2000 },
	{ "1m", 0, 60000 },	   { "1h", 0, 3600000 },
	{ "2", 0, 2000 },	   { "0", 0, 0 },
	{ "0.5", 0, 500 },	   { "1.5s", 0, 1500 },
	{ "0.001s", 0, 1 },	   { "24000h", 0, 24000ULL * 3600000 }, /* the limit, 1000 days */
	{ "24001h", -EINVAL, 0 },  { "99999999999999999999999", -EINVAL, 0 },
	{ "0.0005s", -EINVAL, 0 }, /* finer than a millisecond */
	{ "1.5ms", -EINVAL, 0 },   { "", -EINVAL, 0 },
	{ "s", -EINVAL, 0 },	   { "2x", -EINVAL, 0 },
	{ "2 s", -EINVAL, 0 },	   { "-1s", -EINVAL, 0 },
	{ "1.", -EINVAL, 0 },	   { ".5s", -EINVAL, 0 },
	{ "2sec", -EINVAL, 0 },	   { "0x10", -EINVAL, 0 },
};

START_TEST(test_parse_duration)
{
	uint64_t ms = 12345;
	int rc = ft_link_parse_duration(durations[_i].in, &ms);

	ck_assert_msg(rc == durations[_i].rc, "'%s': rc %d, want %d", durations[_i].in, rc,
		      durations[_i].rc);
	if (rc == 0)
		ck_assert_uint_eq(ms, durations[_i].ms);
	else
		ck_assert_uint_eq(ms, 12345); /* untouched on error */
}
END_TEST

static const struct {
	const char *name;
	int err;
} bad_names[] = {
	{ "ftnosuchif0", -ENODEV },
	{ "", -EINVAL },
	{ "0123456789abcdef", -EINVAL }, /* 16 characters: IFNAMSIZ includes the NUL */
	{ "a/b", -EINVAL },
	{ "a:b", -EINVAL },
	{ "a b", -EINVAL },
	{ "..", -EINVAL },
};

START_TEST(test_status_bad_names)
{
	int err = 0;

	ck_assert_int_eq(ft_link_status(bad_names[_i].name, &err), FT_LINK_ERROR);
	ck_assert_int_eq(err, bad_names[_i].err);
	ck_assert_int_eq(ft_link_status(bad_names[_i].name, NULL), FT_LINK_ERROR);
}
END_TEST

START_TEST(test_status_lo)
{
	int err = -1;
	enum ft_link_state st = ft_link_status("lo", &err);
	uint64_t rx = 0;

	/* lo is up in any sane test environment; down would still be an answer, not an error. */
	ck_assert_msg(st == FT_LINK_UP || st == FT_LINK_DOWN, "lo: %s (%s)", ft_link_state_str(st),
		      strerror(-err));
	ck_assert_int_eq(err, 0);
	ck_assert_int_eq(ft_link_rx_bytes("lo", &rx), 0);
	ck_assert_int_eq(ft_link_rx_bytes("ftnosuchif0", &rx), -ENODEV);
	ck_assert_int_eq(ft_link_rx_bytes("a/b", &rx), -EINVAL);
}
END_TEST

/*
 * The status from rtnetlink (carrier_rtnl) against the ioctl chain, on every interface of
 * the test's namespace: both read the kernel's carrier where a driver has no link test of
 * its own (lo, veth, tun), and agree; a missing or invalid name is the same error.
 */
START_TEST(test_status_rtnl)
{
	struct if_nameindex *names = if_nameindex(), *n;
	struct mnl_socket *nl;
	uint32_t seq = 1;
	unsigned int ifindex;
	int err, err2;

	ck_assert_ptr_nonnull(names);
	ck_assert_int_eq(ft_link_rtnl_open_query(&nl), 0);
	for (n = names; n->if_name; n++) {
		enum ft_link_state want = ft_link_status(n->if_name, &err2);
		enum ft_link_state got = ft_link_rtnl_status(nl, &seq, n->if_name, &err, &ifindex);

		if (want == FT_LINK_ERROR)
			continue;
		ck_assert_msg(got == want, "%s: rtnetlink says %s, the ioctl chain %s", n->if_name,
			      ft_link_state_str(got), ft_link_state_str(want));
		ck_assert_int_eq(err, 0);
		ck_assert_uint_eq(ifindex, n->if_index);
	}
	if_freenameindex(names);
	ck_assert_int_eq(ft_link_rtnl_status(nl, &seq, "ftnosuchif0", &err, &ifindex),
			 FT_LINK_ERROR);
	ck_assert_int_eq(err, -ENODEV);
	ck_assert_uint_eq(ifindex, 0);
	ck_assert_int_eq(ft_link_rtnl_status(nl, &seq, "a/b", &err, &ifindex), FT_LINK_ERROR);
	ck_assert_int_eq(err, -EINVAL);
	mnl_socket_close(nl);
}
END_TEST

/* ---- the monitor ---- */

START_TEST(test_first_sample)
{
	struct fake_iface f[] = {
		{ .name = "fk0", .st = { U } },
		{ .name = "fk1", .st = { D } },
		{ .name = "fk2", .st = { E } },
	};
	struct harness h = { .fakes = f, .n_fakes = 3, .stop_after_st_calls = 6 };
	struct ft_link_monitor_options o = { .period_ms = 2, .poll_only = true };

	harness_run(&h, &o);
	/* Six polls, no change after the first: exactly one sample, in the order given. */
	ck_assert_uint_eq(h.n_samples, 1);
	ck_assert_uint_eq(h.samples[0].seq, 0);
	ck_assert_uint_eq(h.samples[0].n, 3);
	assert_iface(&h.samples[0], 0, "fk0", U, true);
	assert_iface(&h.samples[0], 1, "fk1", D, true);
	assert_iface(&h.samples[0], 2, "fk2", E, true);
	ck_assert_int_eq(h.samples[0].ifaces[0].err, 0);
	ck_assert_int_eq(h.samples[0].ifaces[2].err, -ENODEV);
}
END_TEST

START_TEST(test_change_detection)
{
	struct fake_iface f[] = {
		{ .name = "fk0", .st = { U, U, U, U, D } },
		{ .name = "fk1", .st = { U, U, D } },
	};
	struct harness h = { .fakes = f, .n_fakes = 2, .stop_after_st_calls = 8 };
	struct ft_link_monitor_options o = { .period_ms = 2, .poll_only = true };

	harness_run(&h, &o);
	ck_assert_uint_eq(h.n_samples, 3);
	assert_iface(&h.samples[0], 0, "fk0", U, true);
	assert_iface(&h.samples[0], 1, "fk1", U, true);
	/* Poll 2: fk1 went down; the sample holds both, only fk1 marked. */
	assert_iface(&h.samples[1], 0, "fk0", U, false);
	assert_iface(&h.samples[1], 1, "fk1", D, true);
	assert_iface(&h.samples[2], 0, "fk0", D, true);
	assert_iface(&h.samples[2], 1, "fk1", D, false);
	ck_assert_uint_eq(h.samples[2].seq, 2);
}
END_TEST

START_TEST(test_vanished_interface)
{
	struct fake_iface f[] = {
		{ .name = "fk0", .st = { U, E, E, U } },
	};
	struct harness h = { .fakes = f, .n_fakes = 1, .stop_after_st_calls = 6 };
	struct ft_link_monitor_options o = { .period_ms = 2, .poll_only = true };

	harness_run(&h, &o);
	ck_assert_uint_eq(h.n_samples, 3);
	assert_iface(&h.samples[0], 0, "fk0", U, true);
	assert_iface(&h.samples[1], 0, "fk0", E, true);
	ck_assert_int_eq(h.samples[1].ifaces[0].err, -ENODEV);
	assert_iface(&h.samples[2], 0, "fk0", U, true);
	ck_assert_int_eq(h.samples[2].ifaces[0].err, 0);
}
END_TEST

/* The real ioctl chain on an interface that does not exist: error, every poll, no crash. */
START_TEST(test_real_source_missing)
{
	struct harness h = { .stop_after_samples = 1 };
	const char *names[] = { "ftnosuchif0" };
	struct ft_link_monitor_options o = {
		.ifnames = names,
		.n_ifnames = 1,
		.period_ms = 5,
		.delta = true,
	};

	ck_assert_int_eq(uv_loop_init(&h.loop), 0);
	ck_assert_int_eq(ft_link_monitor_create(&h.mon, &h.loop, &o, on_sample, &h), 0);
	ck_assert_int_eq(ft_link_monitor_start(h.mon), 0);
	uv_timer_init(&h.loop, &h.watchdog);
	uv_timer_init(&h.loop, &h.driver);
	h.watchdog.data = h.driver.data = &h;
	uv_timer_start(&h.watchdog, watchdog_cb, 10000, 0);
	ck_assert_int_eq(uv_run(&h.loop, UV_RUN_DEFAULT), 0);
	ck_assert(!h.timed_out);
	ck_assert_int_eq(uv_loop_close(&h.loop), 0);
	ck_assert_uint_eq(h.n_samples, 1);
	assert_iface(&h.samples[0], 0, "ftnosuchif0", E, true);
	ck_assert_int_eq(h.samples[0].ifaces[0].err, -ENODEV);
	ck_assert(!h.samples[0].ifaces[0].has_rx_delta);
}
END_TEST

/*
 * Delays. A flap shorter than a long delay is never reported; a change that holds is
 * reported, and never before its delay has passed (a lower bound the code guarantees, not a
 * timing measurement).
 */
static const struct {
	const char *why;
	enum ft_link_state st[MAX_SCRIPT];
	uint64_t up_delay, down_delay;
	size_t want_samples;
	enum ft_link_state want_last;
} delay_cases[] = {
	{ "down flap within the down delay", { U, D, D, U }, 0, 60000, 1, U },
	{ "up flap within the up delay", { D, U, U, D }, 60000, 0, 1, D },
	{ "down then error within the down delay", { U, D, E, U }, 0, 60000, 1, U },
	{ "down held past the down delay", { U, D }, 0, 20, 2, D },
	{ "up held past the up delay", { D, U }, 20, 0, 2, U },
	{ "up delay does not delay down", { U, D }, 60000, 0, 2, D },
	{ "down delay does not delay up", { D, U }, 0, 60000, 2, U },
};

START_TEST(test_delays)
{
	struct fake_iface f[] = { { .name = "fk0" } };
	struct harness h = { .fakes = f, .n_fakes = 1 };
	struct ft_link_monitor_options o = {
		.period_ms = 2,
		.poll_only = true,
		.up_delay_ms = delay_cases[_i].up_delay,
		.down_delay_ms = delay_cases[_i].down_delay,
	};
	const struct recorded *last;
	uint64_t delay;

	memcpy(f[0].st, delay_cases[_i].st, sizeof(f[0].st));
	if (delay_cases[_i].want_samples > 1)
		h.stop_after_samples = (unsigned int)delay_cases[_i].want_samples;
	else
		h.stop_after_st_calls = 12;
	harness_run(&h, &o);
	ck_assert_msg(h.n_samples == delay_cases[_i].want_samples, "%s: %zu samples, want %zu",
		      delay_cases[_i].why, h.n_samples, delay_cases[_i].want_samples);
	last = &h.samples[h.n_samples - 1];
	assert_iface(last, 0, "fk0", delay_cases[_i].want_last, true);
	if (h.n_samples > 1) {
		delay = delay_cases[_i].want_last == U ? o.up_delay_ms : o.down_delay_ms;
		ck_assert_uint_ne(f[0].first_change_ms, 0);
		ck_assert_msg(last->mono_ms >= f[0].first_change_ms + delay,
			      "%s: reported at %llu, change seen at %llu, delay %llu",
			      delay_cases[_i].why, (unsigned long long)last->mono_ms,
			      (unsigned long long)f[0].first_change_ms, (unsigned long long)delay);
	}
}
END_TEST

/*
 * Incoming-delta mode, threshold 1000, status always "no link" unless given. rx[0] is the
 * baseline read at start; rx[k] is poll k's reading. want[k-1] is poll k's reported state.
 */
static const struct {
	const char *why;
	uint64_t rx[MAX_SCRIPT];
	int n_rx;
	enum ft_link_state st[MAX_SCRIPT];
	enum ft_link_state want[MAX_SCRIPT];
	int n_polls;
} delta_cases[] = {
	{ "thresholds: above is link, equal or below is no link",
	  { 0, 500, 2500, 3500, 4500, 5501 },
	  6,
	  { D },
	  { D, U, D, D, U },
	  5 },
	{ "first poll: the cumulative counter is not a delta (ifplugo's quirk)",
	  { 1000000000, 1000000010, 1000000020 },
	  3,
	  { D },
	  { D, D },
	  2 },
	{ "a counter that went backwards gives 0", { 0, 10000, 50, 3050 }, 4, { D }, { U, D, U }, 3 },
	{ "link status wins once it has shown up",
	  { 0, 10000, 20000, 30000, 40000 },
	  5,
	  { D, U, D },
	  { U, U, D, D },
	  4 },
	{ "a failed counter read is a new baseline",
	  { 0, 5000, RX_ERR, 100000, 100500 },
	  5,
	  { D },
	  { U, D, D, D },
	  4 },
	{ "an error status with traffic is still link", { 0, 5000, 5100 }, 3, { E }, { U, E }, 2 },
};

START_TEST(test_delta)
{
	struct fake_iface f[] = { { .name = "fk0" } };
	struct harness h = { .fakes = f, .n_fakes = 1 };
	struct ft_link_monitor_options o = {
		.period_ms = 2,
		.poll_only = true,
		.delta = true,
		.delta_threshold = 1000,
	};
	enum ft_link_state prev = FT_LINK_UNKNOWN;
	size_t k = 0;

	memcpy(f[0].rx, delta_cases[_i].rx, sizeof(f[0].rx));
	f[0].n_rx = delta_cases[_i].n_rx;
	memcpy(f[0].st, delta_cases[_i].st, sizeof(f[0].st));
	/* One status read per poll (no delays, no events): stop after n_polls + 2 polls. */
	h.stop_after_st_calls = (unsigned int)delta_cases[_i].n_polls + 2;
	harness_run(&h, &o);
	/* Only changes are emitted: replay the expected states and compare at each change. */
	for (int p = 0; p < delta_cases[_i].n_polls; p++) {
		enum ft_link_state want = delta_cases[_i].want[p];

		if (p > 0 && want == prev)
			continue;
		ck_assert_msg(k < h.n_samples, "%s: poll %d: no sample", delta_cases[_i].why,
			      p + 1);
		ck_assert_msg(h.samples[k].ifaces[0].state == want, "%s: poll %d: %s, want %s",
			      delta_cases[_i].why, p + 1,
			      ft_link_state_str(h.samples[k].ifaces[0].state),
			      ft_link_state_str(want));
		prev = want;
		k++;
	}
	ck_assert_msg(k == h.n_samples, "%s: %zu samples, want %zu", delta_cases[_i].why,
		      h.n_samples, k);
	/* The baseline was read at start, before the first poll. */
	ck_assert_uint_ge(f[0].rx_calls, (unsigned int)delta_cases[_i].n_polls + 1);
}
END_TEST

START_TEST(test_delta_values)
{
	struct fake_iface f[] = {
		{ .name = "fk0", .st = { U }, .rx = { 100, 1100, 1000 }, .n_rx = 3 }
	};
	struct harness h = { .fakes = f, .n_fakes = 1, .stop_after_samples = 1 };
	struct ft_link_monitor_options o = {
		.period_ms = 2,
		.poll_only = true,
		.delta = true,
		.delta_threshold = 1,
	};

	harness_run(&h, &o);
	ck_assert(h.samples[0].ifaces[0].has_rx_delta);
	ck_assert_uint_eq(h.samples[0].ifaces[0].rx_delta, 1000);
}
END_TEST

/* An event (what rtnetlink triggers) re-checks at once: the period here is an hour. */
static void change_and_check(struct harness *h, const struct ft_link_sample *s)
{
	if (s->seq == 0) {
		h->fakes[0].st[0] = D;
		ft_link_monitor_check(h->mon);
	}
}

START_TEST(test_event_recheck)
{
	struct fake_iface f[] = { { .name = "fk0", .st = { U }, .rx = { 0 }, .n_rx = 1 } };
	struct harness h = {
		.fakes = f,
		.n_fakes = 1,
		.stop_after_samples = 2,
		.on_sample = change_and_check,
	};
	struct ft_link_monitor_options o = { .period_ms = 3600000, .poll_only = true };

	harness_run(&h, &o);
	ck_assert_uint_eq(h.n_samples, 2);
	assert_iface(&h.samples[1], 0, "fk0", D, true);
	ck_assert_uint_eq(f[0].st_calls, 2);
	ck_assert_uint_eq(f[0].rx_calls, 0); /* not delta mode: counters never read */
}
END_TEST

/* Stop, restart (the next sample is a first sample again), add and remove from a callback. */
static void restart_and_edit(struct harness *h, const struct ft_link_sample *s)
{
	if (h->n_samples == 1) {
		ft_link_monitor_stop(h->mon);
		ft_link_monitor_stop(h->mon);
		ck_assert(!ft_link_monitor_is_running(h->mon));
		ck_assert_int_eq(ft_link_monitor_start(h->mon), 0);
		ck_assert_int_eq(ft_link_monitor_start(h->mon), 0);
	} else if (h->n_samples == 2) {
		ck_assert_int_eq(ft_link_monitor_add(h->mon, "fk1"), 0);
		ck_assert_int_eq(ft_link_monitor_add(h->mon, "fk1"), -EEXIST);
		ck_assert_int_eq(ft_link_monitor_add(h->mon, "bad/name"), -EINVAL);
		/* The sample in hand stays valid while we edit the list. */
		ck_assert_str_eq(s->ifaces[0].name, "fk0");
	} else if (h->n_samples == 3) {
		ck_assert_int_eq(ft_link_monitor_remove(h->mon, "fk0"), 0);
		ck_assert_int_eq(ft_link_monitor_remove(h->mon, "fk0"), -ENOENT);
		h->fakes[1].st[0] = D;
		ft_link_monitor_check(h->mon);
	}
}

START_TEST(test_restart_add_remove)
{
	struct fake_iface f[] = { { .name = "fk0", .st = { U } }, { .name = "fk1", .st = { U } } };
	struct harness h = {
		.fakes = f,
		.n_fakes = 2,
		.stop_after_samples = 4,
		.on_sample = restart_and_edit,
	};
	const char *names[] = { "fk0" };
	struct ft_link_monitor_options o = {
		.ifnames = names,
		.n_ifnames = 1,
		.period_ms = 3600000,
		.poll_only = true,
	};

	harness_run(&h, &o);
	ck_assert_uint_eq(h.n_samples, 4);
	ck_assert_uint_eq(h.samples[1].seq, 0); /* first sample after the restart */
	assert_iface(&h.samples[1], 0, "fk0", U, true);
	ck_assert_uint_eq(h.samples[2].n, 2); /* fk1 added: reported at once, marked */
	assert_iface(&h.samples[2], 0, "fk0", U, false);
	assert_iface(&h.samples[2], 1, "fk1", U, true);
	ck_assert_uint_eq(h.samples[3].n, 1); /* fk0 removed; fk1 changed */
	assert_iface(&h.samples[3], 0, "fk1", D, true);
}
END_TEST

/* Close from inside the callback, with the rtnetlink socket open: no leak, no late callback. */
static void close_now(struct harness *h, const struct ft_link_sample *s)
{
	(void)s;
	h->stop_after_samples = 1;
}

START_TEST(test_close_in_callback_with_netlink)
{
	struct fake_iface f[] = { { .name = "fk0", .st = { U, D } } };
	struct harness h = { .fakes = f, .n_fakes = 1, .on_sample = close_now };
	struct ft_link_monitor_options o = { .period_ms = 1 };

	harness_run(&h, &o);
	ck_assert_uint_eq(h.n_samples, 1);
}
END_TEST

static const struct {
	const char *why;
	const char *names[3];
	size_t n;
	uint64_t period_ms;
	int rc;
} bad_options[] = {
	{ "repeated name", { "fk0", "fk0" }, 2, 0, -EEXIST },
	{ "bad name", { "fk0", "a b" }, 2, 0, -EINVAL },
	{ "long name", { "0123456789abcdef" }, 1, 0, -EINVAL },
	{ "period over a day", { "fk0" }, 1, 24ULL * 3600 * 1000 + 1, -EINVAL },
	{ "a day is fine", { "fk0" }, 1, 24ULL * 3600 * 1000, 0 },
	{ "no interface is fine", { NULL }, 0, 0, 0 },
};

static void never_called(struct ft_link_monitor *mon, const struct ft_link_sample *s, void *arg)
{
	(void)mon;
	(void)s;
	(void)arg;
	ck_abort_msg("a sample from a monitor never started");
}

START_TEST(test_create_options)
{
	uv_loop_t loop;
	struct ft_link_monitor *mon = NULL;
	struct ft_link_monitor_options o = {
		.ifnames = bad_options[_i].names,
		.n_ifnames = bad_options[_i].n,
		.period_ms = bad_options[_i].period_ms,
		.poll_only = true,
	};
	int rc;

	ck_assert_int_eq(uv_loop_init(&loop), 0);
	rc = ft_link_monitor_create(&mon, &loop, &o, never_called, NULL);
	ck_assert_msg(rc == bad_options[_i].rc, "%s: %d", bad_options[_i].why, rc);
	if (rc == 0) {
		ft_link_monitor_stop(mon); /* stopping a monitor never started is fine */
		ft_link_monitor_close(mon, NULL);
	}
	ck_assert_int_eq(uv_run(&loop, UV_RUN_DEFAULT), 0);
	ck_assert_int_eq(uv_loop_close(&loop), 0);
}
END_TEST

static Suite *link_suite(void)
{
	Suite *s = suite_create("link");
	TCase *tc = tcase_create("status");
	TCase *tm = tcase_create("monitor");

	tcase_add_loop_test(tc, test_state_str, 0,
			    sizeof(state_strings) / sizeof(state_strings[0]));
	tcase_add_loop_test(tc, test_parse_duration, 0, sizeof(durations) / sizeof(durations[0]));
	tcase_add_loop_test(tc, test_status_bad_names, 0, sizeof(bad_names) / sizeof(bad_names[0]));
	tcase_add_test(tc, test_status_lo);
	tcase_add_test(tc, test_status_rtnl);
	suite_add_tcase(s, tc);

	tcase_set_timeout(tm, 30);
	tcase_add_test(tm, test_first_sample);
	tcase_add_test(tm, test_change_detection);
	tcase_add_test(tm, test_vanished_interface);
	tcase_add_test(tm, test_real_source_missing);
	tcase_add_loop_test(tm, test_delays, 0, sizeof(delay_cases) / sizeof(delay_cases[0]));
	tcase_add_loop_test(tm, test_delta, 0, sizeof(delta_cases) / sizeof(delta_cases[0]));
	tcase_add_test(tm, test_delta_values);
	tcase_add_test(tm, test_event_recheck);
	tcase_add_test(tm, test_restart_add_remove);
	tcase_add_test(tm, test_close_in_callback_with_netlink);
	tcase_add_loop_test(tm, test_create_options, 0,
			    sizeof(bad_options) / sizeof(bad_options[0]));
	suite_add_tcase(s, tm);
	return s;
}

int main(void)
{
	SRunner *sr;
	int failed;

	sr = srunner_create(link_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
