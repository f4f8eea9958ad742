/* SPDX-License-Identifier: MIT */
#ifndef FT_LINK_H
#define FT_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

/*
 * link/: the link status of underlay interfaces, and a monitor that reports changes.
 * A C port of ifplugo (Go) with ifplugd's debounce delays and rtnetlink events added.
 *
 * Status: ft_link_status() asks the kernel through a chain of ioctls, in ifplugo's order; the
 * first whose ioctl succeeds decides:
 *   1. SIOCETHTOOL ETHTOOL_GLINK        link when data != 0
 *   2. SIOCGMIIPHY + SIOCGMIIREG BMSR   link when BMSR_LSTATUS is set
 *   3. SIOCGIWAP                        link when the AP address is set (associated)
 *   4. SIOCGIFFLAGS                     link when IFF_RUNNING
 * When all fail the state is FT_LINK_ERROR and the errno of the last one is kept.
 *
 * Differences from ifplugo, on purpose:
 *  - An administratively down interface is always `no link`: when a method says link, IFF_UP
 *    is checked too (one more ioctl, only then).
 *  - MII: BMSR is read twice, because its link bit latches low until read; the second read
 *    is the current state.
 *  - ENODEV ends the chain at once: no later method can succeed for a missing interface.
 *  - The monitor polls at a fixed period (deadlines k * period from start; ifplugo's period
 *    drifts by the length of each poll) and reacts to rtnetlink RTM_NEWLINK/RTM_DELLINK at
 *    once, the poll staying the baseline.
 *  - Samples are callbacks on the loop, not a channel: a slow consumer delays the monitor but
 *    cannot deadlock it; start and stop are idempotent and the monitor restartable.
 *  - Incoming-delta mode: the counters come from rtnetlink IFLA_STATS64 of the monitor's own
 *    network namespace (ifplugo reads /proc/net/dev). ifplugo's first delta is the cumulative
 *    counter, so its first poll usually says up; here the counters are read once at start
 *    as a baseline and the first sample comes one period later, from a real delta. An
 *    interface whose counters could not be read (missing) gets a new baseline when it comes
 *    back: that poll's delta is 0.
 *  - Up and down delays as in ifplugd (-u/-d), which ifplugo lacks.
 */

enum ft_link_state {
	FT_LINK_UNKNOWN = 0, /* "unknown": not checked yet */
	FT_LINK_UP = 1,	     /* "link" */
	FT_LINK_DOWN = 2,    /* "no link" */
	FT_LINK_ERROR = 3,   /* "error": the status could not be read (see the errno) */
};

/* "unknown", "link", "no link" or "error"; "unknown" for a value out of range. */
const char *ft_link_state_str(enum ft_link_state state);

/*
 * The status of one interface in the caller's network namespace. On FT_LINK_ERROR, *err (when
 * err is not NULL) holds a negative errno: -ENODEV for a missing interface, -EINVAL for a name
 * that cannot be an interface name; otherwise *err is 0. Opens one socket per call: a
 * caller that asks often should use ft_link_status_fd().
 */
enum ft_link_state ft_link_status(const char *ifname, int *err);
/* The same on the caller's socket (any AF_INET/AF_UNIX datagram socket). */
enum ft_link_state ft_link_status_fd(int fd, const char *ifname, int *err);

/* The interface's received bytes, from rtnetlink IFLA_STATS64: 0 or a negative errno. */
int ft_link_rx_bytes(const char *ifname, uint64_t *bytes);

/*
 * "500ms", "2s", "1.5s", "1m", "1h" or a bare number of seconds ("2", "0.5") into
 * milliseconds. 0 or -EINVAL (empty, unknown unit, finer than 1 ms, over 1000 days).
 */
int ft_link_parse_duration(const char *s, uint64_t *ms);

/*
 * The monitor.
 *
 * Timers (all on the caller's loop):
 *   poll     one-shot, re-armed for the next deadline start + k * period, so the period
 *            does not drift; a poll reads every interface's status (and, in delta mode, its
 *            counters) and emits a sample when one changed. The first poll is at start (in
 *            delta mode, one period after start, see above) and always emits.
 *   recheck  one-shot: an rtnetlink event, ft_link_monitor_check() or ft_link_monitor_add()
 *            arms it for "now"; a pending up/down delay arms it for the delay's end. It
 *            re-reads the status only (never the counters, so the deltas stay per period).
 * Plus a uv_poll_t on the rtnetlink socket (RTMGRP_LINK) unless options.poll_only.
 *
 * Each interface's reported state changes only through a check: when the state read differs
 * from the reported one, it must stay the same for up_delay_ms (to link) or down_delay_ms
 * (to anything else) before it is reported; a change that reverts within the delay is never
 * reported. The first sample after start reports every interface at once, with no delay.
 *
 * Incoming-delta mode (options.delta, ifplugo's CheckIncomingDelta): rx bytes per period
 * from the counters. Once an interface has shown link by status, status alone decides for
 * it. Before that: link when delta > delta_threshold, otherwise the status read (no link or
 * error); a counter that went backwards counts as delta 0.
 *
 * Loop thread only. Callbacks may call any ft_link_monitor_* function, including _close.
 */
struct ft_link_monitor;

struct ft_link_iface_sample {
	const char *name;	  /* valid during the callback */
	unsigned int ifindex;	  /* 0 when unknown (missing, or an injected source) */
	enum ft_link_state state; /* as reported, after delays */
	int err;		  /* negative errno when state is FT_LINK_ERROR, else 0 */
	bool changed;		  /* differs from the previous sample (always in the first) */
	bool has_rx_delta;	  /* delta mode and the last poll measured a delta */
	uint64_t rx_delta;	  /* bytes received in the last period */
};

struct ft_link_sample {
	uint64_t seq;	  /* 0 for the first sample after start */
	uint64_t wall_ms; /* realtime clock, ms since the epoch, when the status was read */
	uint64_t mono_ms; /* uv_now() of the loop at the check */
	size_t n_ifaces;  /* every watched interface, in the order added */
	const struct ft_link_iface_sample *ifaces;
};

typedef void (*ft_link_sample_cb)(struct ft_link_monitor *mon, const struct ft_link_sample *s,
				  void *arg);
typedef void (*ft_link_close_cb)(struct ft_link_monitor *mon);

/* Injectable sources; the real ones are ft_link_status_fd() and rtnetlink IFLA_STATS64. */
typedef enum ft_link_state (*ft_link_status_fn)(void *arg, const char *ifname, int *err);
typedef int (*ft_link_rx_bytes_fn)(void *arg, const char *ifname, uint64_t *bytes);

#define FT_LINK_DEFAULT_PERIOD_MS 2000

struct ft_link_monitor_options {
	const char *const *ifnames; /* copied; may be empty (add later) */
	size_t n_ifnames;
	uint64_t period_ms; /* 0: FT_LINK_DEFAULT_PERIOD_MS */
	uint64_t up_delay_ms;
	uint64_t down_delay_ms;
	bool delta; /* incoming-delta mode */
	uint64_t delta_threshold;
	bool poll_only; /* no rtnetlink socket: changes are seen at the next poll only */
	/*
	 * The status from rtnetlink (RTM_GETLINK: link when IFF_UP and IFLA_CARRIER) instead
	 * of the ioctl chain: the kernel's carrier, which is what ethtool's link reports for
	 * most drivers, with no ethtool, MII or wireless ioctl. For a process under a seccomp
	 * filter that allows none of those (the tunnel: SIOCETHTOOL also carries ethtool's
	 * set commands, which CAP_NET_ADMIN would let through). Ignored with status.
	 */
	bool carrier_rtnl;
	ft_link_status_fn status;     /* NULL: the ioctl chain (or carrier_rtnl) */
	ft_link_rx_bytes_fn rx_bytes; /* NULL: rtnetlink IFLA_STATS64 */
	void *source_arg;
};

/*
 * Allocates a stopped monitor; no I/O. 0 or -EINVAL (a bad or repeated interface name, a
 * period over a day) or -ENOMEM. The monitor is freed by ft_link_monitor_close() only.
 */
int ft_link_monitor_create(struct ft_link_monitor **monp, uv_loop_t *loop,
			   const struct ft_link_monitor_options *opts, ft_link_sample_cb cb,
			   void *arg);
/*
 * Opens the sockets (in the caller's network namespace) and starts polling; the next sample
 * is a first sample again. 0 when started or already running, or a negative errno (then
 * nothing runs and no callback comes).
 */
int ft_link_monitor_start(struct ft_link_monitor *mon);
/* Stops polling and listening; no callback after it returns. Idempotent. */
void ft_link_monitor_stop(struct ft_link_monitor *mon);
/* Stops, closes the handles and frees the monitor once they have closed, then calls cb. */
void ft_link_monitor_close(struct ft_link_monitor *mon, ft_link_close_cb cb);
/* Re-reads every status soon, as an rtnetlink event does. No-op when stopped. */
void ft_link_monitor_check(struct ft_link_monitor *mon);
/* Watches one more interface (reported as changed at the next check, which comes soon). */
int ft_link_monitor_add(struct ft_link_monitor *mon, const char *ifname);
/* Stops watching one: 0 or -ENOENT. The next sample does not list it; removal alone emits none. */
int ft_link_monitor_remove(struct ft_link_monitor *mon, const char *ifname);
bool ft_link_monitor_is_running(const struct ft_link_monitor *mon);

#endif
