// SPDX-License-Identifier: MIT
/*
 * The link monitor: a fixed-period poll of every watched interface, rtnetlink link events
 * for an immediate re-check, incoming-delta mode and up/down delays. The timers and the
 * rules are listed in link.h; this file keeps them.
 *
 * Per interface, the state read by a check goes through two steps:
 *   raw       the status source's answer, or link in delta mode (see link.h);
 *   reported  what samples say: raw once it has held for the delay of its direction.
 * A sample is emitted after a check in which at least one reported state changed, and after
 * the first poll since start whatever happened.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <net/if.h>

#include <libmnl/libmnl.h>
#include <uv.h>

#include "link/internal.h"
#include "link/link.h"

/* Longest period or delay accepted: a day. Longer is surely a unit mistake. */
#define MAX_INTERVAL_MS (24ULL * 3600 * 1000)

struct iface {
	char name[IFNAMSIZ];
	unsigned int ifindex;
	enum ft_link_state reported;
	int reported_err;
	bool changed; /* since the last sample */
	bool is_new;  /* added after the first sample: reported at the next check, no delay */

	bool has_pending; /* raw differs from reported, since pending_since */
	enum ft_link_state pending;
	uint64_t pending_since;

	/* Incoming-delta mode. */
	bool link_seen; /* the status source said link once: from then on it alone decides */
	bool have_baseline;
	uint64_t last_rx;
	bool has_rx_delta;
	uint64_t rx_delta;
	bool delta_up; /* the last period's delta exceeded the threshold */
};

struct ft_link_monitor {
	uv_loop_t *loop;
	uv_timer_t poll_timer;
	uv_timer_t recheck_timer;
	uv_poll_t nl_poll;
	bool nl_poll_inited;

	struct mnl_socket *events; /* RTMGRP_LINK, unless poll_only */
	struct mnl_socket *query;  /* RTM_GETLINK: counters (delta mode), status (carrier_rtnl) */
	uint32_t query_seq;
	int ioctl_fd; /* for the real status source */
	bool carrier_rtnl;

	struct iface *ifaces;
	size_t n_ifaces, cap_ifaces;
	/* The sample's view, resized only when emitting so that add/remove in a callback is safe. */
	struct ft_link_iface_sample *out;
	char (*out_names)[IFNAMSIZ];
	size_t cap_out;

	uint64_t period_ms, up_delay_ms, down_delay_ms, delta_threshold;
	bool delta, poll_only;
	ft_link_status_fn status;
	ft_link_rx_bytes_fn rx_bytes;
	void *source_arg;
	ft_link_sample_cb cb;
	void *cb_arg;

	bool running, closing, first_done;
	uint64_t start_ms, seq;
	bool recheck_armed;
	uint64_t recheck_due;

	int pending_closes;
	ft_link_close_cb close_cb;
};

enum check_kind {
	CHECK_POLL,  /* period boundary: counters too */
	CHECK_EVENT, /* rtnetlink, ft_link_monitor_check(), a delay's end: status only */
};

static struct iface *find_iface(struct ft_link_monitor *mon, const char *name)
{
	for (size_t i = 0; i < mon->n_ifaces; i++)
		if (strcmp(mon->ifaces[i].name, name) == 0)
			return &mon->ifaces[i];
	return NULL;
}

static void iface_reset(struct iface *ifc)
{
	char name[IFNAMSIZ];

	memcpy(name, ifc->name, sizeof(name));
	memset(ifc, 0, sizeof(*ifc));
	memcpy(ifc->name, name, sizeof(name));
	ifc->reported = FT_LINK_UNKNOWN;
}

static enum ft_link_state read_status(struct ft_link_monitor *mon, struct iface *ifc, int *err)
{
	struct ifreq ifr;

	*err = 0;
	if (mon->status)
		return mon->status(mon->source_arg, ifc->name, err);
	if (mon->carrier_rtnl)
		return ft_link_rtnl_status(mon->query, &mon->query_seq, ifc->name, err,
					   &ifc->ifindex);
	/* The ifindex lets rtnetlink events match after a rename, and subscribers want it. */
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, ifc->name, sizeof(ifr.ifr_name));
	ifc->ifindex = ioctl(mon->ioctl_fd, SIOCGIFINDEX, &ifr) == 0 && ifr.ifr_ifindex > 0
			       ? (unsigned int)ifr.ifr_ifindex
			       : 0;
	return ft_link_status_fd(mon->ioctl_fd, ifc->name, err);
}

static int read_rx(struct ft_link_monitor *mon, struct iface *ifc, uint64_t *rx)
{
	if (mon->rx_bytes)
		return mon->rx_bytes(mon->source_arg, ifc->name, rx);
	return ft_link_rtnl_rx_bytes(mon->query, &mon->query_seq, ifc->name, rx, NULL);
}

/* One period's delta per interface; the first read (or the first after a failure) is a baseline. */
static void read_counters(struct ft_link_monitor *mon)
{
	for (size_t i = 0; i < mon->n_ifaces; i++) {
		struct iface *ifc = &mon->ifaces[i];
		uint64_t rx;

		ifc->has_rx_delta = false;
		ifc->rx_delta = 0;
		ifc->delta_up = false;
		if (read_rx(mon, ifc, &rx) < 0) {
			ifc->have_baseline = false;
			continue;
		}
		if (ifc->have_baseline) {
			/* A counter that went backwards was reset: count nothing, as ifplugo does. */
			ifc->rx_delta = rx >= ifc->last_rx ? rx - ifc->last_rx : 0;
			ifc->has_rx_delta = true;
			ifc->delta_up = ifc->rx_delta > mon->delta_threshold;
		}
		ifc->have_baseline = true;
		ifc->last_rx = rx;
	}
}

static void recheck_cb(uv_timer_t *t);

/* Arms the recheck timer for `due` (loop time) unless it is already due sooner. */
static void arm_recheck(struct ft_link_monitor *mon, uint64_t due)
{
	uint64_t now = uv_now(mon->loop);

	if (mon->recheck_armed && mon->recheck_due <= due)
		return;
	mon->recheck_armed = true;
	mon->recheck_due = due;
	uv_timer_start(&mon->recheck_timer, recheck_cb, due > now ? due - now : 0, 0);
}

static void emit(struct ft_link_monitor *mon, uint64_t now)
{
	struct ft_link_sample s;
	uv_timeval64_t tv;
	size_t n = mon->n_ifaces;

	if (n > mon->cap_out) {
		struct ft_link_iface_sample *out = realloc(mon->out, n * sizeof(*out));
		char(*names)[IFNAMSIZ];

		if (!out)
			return; /* A sample lost to memory pressure: the changes stay marked. */
		mon->out = out;
		names = realloc(mon->out_names, n * sizeof(*names));
		if (!names)
			return;
		mon->out_names = names;
		mon->cap_out = n;
	}
	for (size_t i = 0; i < n; i++) {
		struct iface *ifc = &mon->ifaces[i];

		memcpy(mon->out_names[i], ifc->name, IFNAMSIZ);
		mon->out[i] = (struct ft_link_iface_sample){
			.name = mon->out_names[i],
			.ifindex = ifc->ifindex,
			.state = ifc->reported,
			.err = ifc->reported == FT_LINK_ERROR ? ifc->reported_err : 0,
			.changed = ifc->changed,
			.has_rx_delta = ifc->has_rx_delta,
			.rx_delta = ifc->rx_delta,
		};
		ifc->changed = false;
	}
	s.seq = mon->seq++;
	s.wall_ms = uv_gettimeofday(&tv) == 0
			    ? (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000
			    : 0;
	s.mono_ms = now;
	s.n_ifaces = n;
	s.ifaces = mon->out;
	/* Last thing we do: the callback may stop, restart, add, remove or close. */
	mon->cb(mon, &s, mon->cb_arg);
}

static void check(struct ft_link_monitor *mon, enum check_kind kind)
{
	uint64_t now, next_due = UINT64_MAX;
	bool any_changed = false;

	if (!mon->running)
		return;
	uv_update_time(mon->loop);
	now = uv_now(mon->loop);
	if (kind == CHECK_POLL && mon->delta)
		read_counters(mon);
	/* Before the first poll there is nothing to compare with: it reports everything. */
	if (!mon->first_done && kind != CHECK_POLL)
		return;

	for (size_t i = 0; i < mon->n_ifaces; i++) {
		struct iface *ifc = &mon->ifaces[i];
		int err;
		enum ft_link_state raw = read_status(mon, ifc, &err);
		uint64_t delay;

		if (raw == FT_LINK_UP)
			ifc->link_seen = true;
		if (mon->delta && !ifc->link_seen && ifc->delta_up)
			raw = FT_LINK_UP;
		if (raw != FT_LINK_ERROR)
			err = 0;

		if (!mon->first_done || ifc->is_new) {
			ifc->reported = raw;
			ifc->reported_err = err;
			ifc->changed = true;
			ifc->is_new = false;
			ifc->has_pending = false;
		} else if (raw == ifc->reported) {
			ifc->has_pending = false;
			ifc->reported_err =
				err; /* still an error, perhaps another one: not a change */
		} else {
			if (!ifc->has_pending || ifc->pending != raw) {
				ifc->has_pending = true;
				ifc->pending = raw;
				ifc->pending_since = now;
			}
			delay = raw == FT_LINK_UP ? mon->up_delay_ms : mon->down_delay_ms;
			if (now - ifc->pending_since >= delay) {
				ifc->reported = raw;
				ifc->reported_err = err;
				ifc->changed = true;
				ifc->has_pending = false;
			} else if (ifc->pending_since + delay < next_due) {
				next_due = ifc->pending_since + delay;
			}
		}
		any_changed |= ifc->changed;
	}
	if (next_due != UINT64_MAX)
		arm_recheck(mon, next_due);
	if (!mon->first_done || any_changed) {
		mon->first_done = true;
		emit(mon, now);
	}
}

static void poll_cb(uv_timer_t *t);

/* Arms the poll timer for deadline k, start + k * period in loop time. */
static void arm_poll(struct ft_link_monitor *mon, uint64_t k)
{
	uint64_t due = mon->start_ms + k * mon->period_ms, now = uv_now(mon->loop);

	uv_timer_start(&mon->poll_timer, poll_cb, due > now ? due - now : 0, 0);
}

static void poll_cb(uv_timer_t *t)
{
	struct ft_link_monitor *mon = t->data;
	uint64_t now = uv_now(mon->loop);

	/*
	 * The next deadline is start + k * period, counted from start and not from now, so a late
	 * wake-up does not push every later poll back. Deadlines missed entirely (the machine
	 * slept) are skipped, not run in a burst.
	 */
	arm_poll(mon, (now - mon->start_ms) / mon->period_ms + 1);
	check(mon, CHECK_POLL);
}

static void recheck_cb(uv_timer_t *t)
{
	struct ft_link_monitor *mon = t->data;

	mon->recheck_armed = false;
	check(mon, CHECK_EVENT);
}

static bool nl_match(void *arg, const char *name, unsigned int ifindex)
{
	struct ft_link_monitor *mon = arg;

	for (size_t i = 0; i < mon->n_ifaces; i++) {
		const struct iface *ifc = &mon->ifaces[i];

		if ((name && strcmp(ifc->name, name) == 0) || (ifindex && ifc->ifindex == ifindex))
			return true;
	}
	return false;
}

static void nl_cb(uv_poll_t *p, int status, int events)
{
	struct ft_link_monitor *mon = p->data;
	bool recheck = status < 0; /* a socket error: look at everything, the poll continues */

	if (status == 0)
		(void)ft_link_rtnl_read_events(mon->events, nl_match, mon, &recheck);
	/* At once, not through the timer: this is the path whose latency matters. */
	if (recheck)
		check(mon, CHECK_EVENT);
}

int ft_link_monitor_create(struct ft_link_monitor **monp, uv_loop_t *loop,
			   const struct ft_link_monitor_options *opts, ft_link_sample_cb cb,
			   void *arg)
{
	struct ft_link_monitor *mon;
	int rc;

	assert(monp && loop && opts && cb);
	if (opts->period_ms > MAX_INTERVAL_MS || opts->up_delay_ms > MAX_INTERVAL_MS ||
	    opts->down_delay_ms > MAX_INTERVAL_MS || (opts->n_ifnames && !opts->ifnames))
		return -EINVAL;
	mon = calloc(1, sizeof(*mon));
	if (!mon)
		return -ENOMEM;
	mon->loop = loop;
	mon->ioctl_fd = -1;
	mon->period_ms = opts->period_ms ? opts->period_ms : FT_LINK_DEFAULT_PERIOD_MS;
	mon->up_delay_ms = opts->up_delay_ms;
	mon->down_delay_ms = opts->down_delay_ms;
	mon->delta = opts->delta;
	mon->delta_threshold = opts->delta_threshold;
	mon->poll_only = opts->poll_only;
	mon->status = opts->status;
	mon->carrier_rtnl = opts->carrier_rtnl && !opts->status;
	mon->rx_bytes = opts->rx_bytes;
	mon->source_arg = opts->source_arg;
	mon->cb = cb;
	mon->cb_arg = arg;
	for (size_t i = 0; i < opts->n_ifnames; i++) {
		rc = ft_link_monitor_add(mon, opts->ifnames[i]);
		if (rc < 0) {
			free(mon->ifaces);
			free(mon);
			return rc;
		}
	}
	/* Timers do no I/O and cannot fail on an initialised loop. */
	uv_timer_init(loop, &mon->poll_timer);
	uv_timer_init(loop, &mon->recheck_timer);
	mon->poll_timer.data = mon;
	mon->recheck_timer.data = mon;
	*monp = mon;
	return 0;
}

/* Sockets are opened at the first start and kept until close. */
static int open_sockets(struct ft_link_monitor *mon)
{
	int rc;

	if (!mon->status && !mon->carrier_rtnl && mon->ioctl_fd < 0) {
		mon->ioctl_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (mon->ioctl_fd < 0)
			mon->ioctl_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (mon->ioctl_fd < 0)
			return -errno;
	}
	if (((mon->delta && !mon->rx_bytes) || mon->carrier_rtnl) && !mon->query) {
		rc = ft_link_rtnl_open_query(&mon->query);
		if (rc < 0)
			return rc;
	}
	if (!mon->poll_only && !mon->events) {
		rc = ft_link_rtnl_open_events(&mon->events);
		if (rc < 0)
			return rc;
		rc = uv_poll_init(mon->loop, &mon->nl_poll, mnl_socket_get_fd(mon->events));
		if (rc < 0) {
			mnl_socket_close(mon->events);
			mon->events = NULL;
			return rc;
		}
		mon->nl_poll.data = mon;
		mon->nl_poll_inited = true;
	}
	return 0;
}

int ft_link_monitor_start(struct ft_link_monitor *mon)
{
	int rc;

	assert(!mon->closing);
	if (mon->running)
		return 0;
	rc = open_sockets(mon);
	if (rc < 0)
		return rc;
	if (mon->nl_poll_inited) {
		rc = uv_poll_start(&mon->nl_poll, UV_READABLE, nl_cb);
		if (rc < 0)
			return rc;
	}
	for (size_t i = 0; i < mon->n_ifaces; i++)
		iface_reset(&mon->ifaces[i]);
	mon->first_done = false;
	mon->seq = 0;
	mon->recheck_armed = false;
	mon->running = true;
	uv_update_time(mon->loop);
	mon->start_ms = uv_now(mon->loop);
	if (mon->delta) {
		/* The baseline now, the first sample from a whole period's delta. */
		read_counters(mon);
		arm_poll(mon, 1);
	} else {
		arm_poll(mon, 0);
	}
	return 0;
}

void ft_link_monitor_stop(struct ft_link_monitor *mon)
{
	if (!mon->running)
		return;
	mon->running = false;
	mon->recheck_armed = false;
	uv_timer_stop(&mon->poll_timer);
	uv_timer_stop(&mon->recheck_timer);
	if (mon->nl_poll_inited)
		uv_poll_stop(&mon->nl_poll);
}

bool ft_link_monitor_is_running(const struct ft_link_monitor *mon)
{
	return mon->running;
}

void ft_link_monitor_check(struct ft_link_monitor *mon)
{
	if (mon->running)
		arm_recheck(mon, uv_now(mon->loop));
}

int ft_link_monitor_add(struct ft_link_monitor *mon, const char *ifname)
{
	struct iface *ifc;

	if (!ifname || !ft_link_valid_ifname(ifname))
		return -EINVAL;
	if (find_iface(mon, ifname))
		return -EEXIST;
	if (mon->n_ifaces == mon->cap_ifaces) {
		size_t cap = mon->cap_ifaces ? 2 * mon->cap_ifaces : 4;
		struct iface *a = realloc(mon->ifaces, cap * sizeof(*a));

		if (!a)
			return -ENOMEM;
		mon->ifaces = a;
		mon->cap_ifaces = cap;
	}
	ifc = &mon->ifaces[mon->n_ifaces++];
	memset(ifc, 0, sizeof(*ifc));
	memcpy(ifc->name, ifname, strlen(ifname));
	iface_reset(ifc);
	if (mon->running && mon->first_done) {
		ifc->is_new = true;
		ft_link_monitor_check(mon);
	}
	return 0;
}

int ft_link_monitor_remove(struct ft_link_monitor *mon, const char *ifname)
{
	struct iface *ifc = ifname ? find_iface(mon, ifname) : NULL;
	size_t i;

	if (!ifc)
		return -ENOENT;
	i = (size_t)(ifc - mon->ifaces);
	memmove(ifc, ifc + 1, (mon->n_ifaces - i - 1) * sizeof(*ifc));
	mon->n_ifaces--;
	return 0;
}

static void on_handle_closed(uv_handle_t *h)
{
	struct ft_link_monitor *mon = h->data;
	ft_link_close_cb cb;

	if (--mon->pending_closes > 0)
		return;
	/* Every handle has closed: the fds are ours to close now, and the memory to free. */
	if (mon->events)
		mnl_socket_close(mon->events);
	if (mon->query)
		mnl_socket_close(mon->query);
	if (mon->ioctl_fd >= 0)
		close(mon->ioctl_fd);
	free(mon->ifaces);
	free(mon->out);
	free(mon->out_names);
	cb = mon->close_cb;
	if (cb)
		cb(mon);
	free(mon);
}

void ft_link_monitor_close(struct ft_link_monitor *mon, ft_link_close_cb cb)
{
	assert(!mon->closing);
	ft_link_monitor_stop(mon);
	mon->closing = true;
	mon->close_cb = cb;
	mon->pending_closes = 2 + (mon->nl_poll_inited ? 1 : 0);
	uv_close((uv_handle_t *)&mon->poll_timer, on_handle_closed);
	uv_close((uv_handle_t *)&mon->recheck_timer, on_handle_closed);
	if (mon->nl_poll_inited)
		uv_close((uv_handle_t *)&mon->nl_poll, on_handle_closed);
}
