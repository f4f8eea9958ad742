// SPDX-License-Identifier: MIT
/*
 * The TUN MTU against the underlay's (issue 20), and each peer's path MTU.
 *
 * Without MTU = N in the config, the TUN MTU follows the underlay: the smallest, over the
 * peers, of what the path to the endpoint carries (the route's MTU metric, else its link's
 * MTU) less the overhead of the endpoint's family (tun/net/mtu.h); the default routes' when a peer
 * has no endpoint (or there is no peer); never below 1280. When nothing is known the MTU stays
 * as it is (1420 at start). It is computed before the device is announced, and again
 *   - 20 ms after a route or link event (rtnetlink, mtu_watch: a burst makes one recompute;
 *     routes through our own device and changes of it alone only have its MTU looked at);
 *   - soon after a peer, an endpoint or the config changed (ft_worker_mtu_schedule());
 *   - when the endpoint check (mtu_timer, every 2 s) finds an endpoint that roamed or a peer
 *     gone;
 *   - soon after a refused UDP_SEGMENT send (ft_worker_mtu_refused()).
 * The device's own MTU is read first each time: when it is not what flowtun last set or saw,
 * someone else set it (wg-quick, `ip link set mtu`), and from then on flowtun follows the
 * device and never sets it again (FT_MTU_EXTERNAL); so does it from the start with MTU = N,
 * which is set once at start (setup.c), and under wg-quick (mtu_by_caller), which
 * always sets the MTU, maybe to the value the device had: no change anyone could see.
 *
 * Every peer's path MTU is kept whoever decides the TUN MTU: it bounds the datagrams that go
 * to that peer in a UDP_SEGMENT run (seg_max). The kernel refuses a whole run whose segments
 * are larger than the path, where it fragments single datagrams; a refusal (tun/net/udp.c sends
 * the run again datagram by datagram) lowers seg_max at once and the path MTU at the next
 * recompute, until a route or link changes.
 *
 * The buffers were sized for the MTU at start, or 1440 when it follows the underlay (every
 * Ethernet underlay fits); a larger MTU re-allocates them (ft_worker_buffers_grow()), which is
 * why everything here but ft_worker_mtu_refused() runs outside packet batches. Loop thread
 * only.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/sockaddr.h"
#include "tun/log.h"
#include "tun/net/mtu.h"
#include "tun/worker/internal.h"

enum {
	MTU_SETTLE_MS = 20,  /* after an event: the rest of its burst comes within this */
	MTU_CHECK_MS = 2000, /* the endpoint check: roaming changes no route, so no event says it */
	MTU_LINK_CACHE = 8,  /* links whose MTU one recompute remembers */
};

static const char *const source_names[] = {
	[FT_MTU_UNDERLAY] = "underlay",
	[FT_MTU_CONFIG] = "config",
	[FT_MTU_EXTERNAL] = "external",
};

const char *ft_worker_mtu_source_str(enum ft_mtu_source s)
{
	return (size_t)s < sizeof(source_names) / sizeof(source_names[0]) ? source_names[s]
									  : "unknown";
}

/* The peer's endpoint address (v4-mapped ones as IPv4: so they are sent); family 0: none. */
static void endpoint_addr(const struct wpeer *wp, struct ft_addr *a)
{
	struct sockaddr_storage ss;

	memset(a, 0, sizeof(*a));
	memcpy(&ss, ft_peer_endpoint(wp->peer), sizeof(ss));
	ft_udp_addr_unmap(&ss);
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in sin;

		memcpy(&sin, &ss, sizeof(sin));
		ft_addr_set_v4(a, (const uint8_t *)&sin.sin_addr);
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 sin6;

		memcpy(&sin6, &ss, sizeof(sin6));
		ft_addr_set_v6(a, sin6.sin6_addr.s6_addr);
	}
}

static bool same_addr(const struct ft_addr *a, const struct ft_addr *b)
{
	return a->family == b->family && memcmp(a->bytes, b->bytes, sizeof(a->bytes)) == 0;
}

/* The MTU of the links one recompute met, so that a hundred peers behind one link cost one
 * RTM_GETLINK. */
struct link_cache {
	int ifindex[MTU_LINK_CACHE];
	unsigned int mtu[MTU_LINK_CACHE];
	size_t n;
};

static unsigned int link_mtu(struct ft_worker *w, struct link_cache *c, int ifindex)
{
	unsigned int mtu = 0;

	for (size_t i = 0; i < c->n; i++)
		if (c->ifindex[i] == ifindex)
			return c->mtu[i];
	if (ft_netconf_link_get_mtu(w->rtnl, ifindex, &mtu) < 0)
		return 0;
	if (c->n < MTU_LINK_CACHE) {
		c->ifindex[c->n] = ifindex;
		c->mtu[c->n++] = mtu;
	}
	return mtu;
}

/*
 * What the route to dst carries: its MTU metric, else its link's MTU; 0 when unknown. A route
 * through our own device (the endpoint inside the tunnel: a loop, or a policy the fwmark would
 * have chosen) says nothing about the underlay.
 */
static uint32_t route_mtu(struct ft_worker *w, struct link_cache *c, const struct sockaddr *dst)
{
	unsigned int mtu = 0;
	int ifindex = 0;

	if (ft_netconf_route_get_mtu(w->rtnl, dst, w->fwmark, &ifindex, &mtu) < 0 ||
	    ifindex == w->ifindex)
		return 0;
	return mtu ? mtu : link_mtu(w, c, ifindex);
}

/* The TUN MTU the default routes allow, the smaller of IPv4's and IPv6's; 0: neither. */
static uint32_t default_route_mtu(struct ft_worker *w, struct link_cache *c)
{
	static const int families[] = { AF_INET, AF_INET6 };
	uint32_t best = 0;

	for (size_t i = 0; i < 2; i++) {
		unsigned int mtu = 0;
		int ifindex = 0;
		uint32_t tun;

		if (ft_netconf_default_route(w->rtnl, families[i], &ifindex, &mtu) < 0 ||
		    ifindex == w->ifindex)
			continue;
		tun = ft_mtu_tun_for_path(mtu ? mtu : link_mtu(w, c, ifindex), families[i]);
		if (tun && (!best || tun < best))
			best = tun;
	}
	return best;
}

/* The peer's path MTU and seg_max, for its endpoint now; logs what changed. */
static void update_path(struct ft_worker *w, struct wpeer *wp, struct link_cache *c)
{
	char ep[FT_SOCKADDR_STRLEN];
	struct ft_addr a;
	uint32_t mtu = 0, old = wp->path_mtu;

	endpoint_addr(wp, &a);
	if (!same_addr(&a, &wp->path_for)) {
		/* Another endpoint: what the old path refused says nothing of the new one. */
		wp->refused_len = 0;
		wp->refused_new = false;
		old = 0;
	}
	wp->path_for = a;
	if (a.family) {
		mtu = route_mtu(w, c, (const struct sockaddr *)ft_peer_endpoint(wp->peer));
		if (wp->refused_len) {
			uint32_t fits = ft_mtu_path_for_payload(wp->refused_len - 1u, a.family);

			if (!mtu || fits < mtu)
				mtu = fits;
		}
	}
	wp->path_mtu = mtu;
	if (mtu) {
		uint32_t payload = ft_mtu_udp_payload(mtu, a.family);

		wp->seg_max = (uint16_t)(payload > UINT16_MAX ? UINT16_MAX : payload);
	} else {
		wp->seg_max = wp->refused_len ? (uint16_t)(wp->refused_len - 1u) : 0;
	}
	if (!a.family)
		return;
	ft_sockaddr_format(ep, sizeof(ep), (const struct sockaddr *)ft_peer_endpoint(wp->peer));
	if (wp->refused_new) {
		/* Logged once per refused size: a later refusal needs a shorter datagram. */
		wp->refused_new = false;
		ft_log(FT_LOG_WARNING,
		       "%s: UDP_SEGMENT sends of %u-byte datagrams to %s were refused: path MTU %u; "
		       "longer datagrams go one by one (fragmented)",
		       w->ifname, wp->refused_len, ep, mtu);
	} else if (mtu != old && mtu) {
		/* Info only: a hub has a line per peer of it; the TUN MTU's change is a notice. */
		ft_log_info("%s: path MTU to %s: %u", w->ifname, ep, mtu);
	}
}

/* The data plane works with mtu from the next batch on; the buffers grow when they must. */
static void apply(struct ft_worker *w, uint32_t mtu)
{
	if (mtu > w->mtu_cap && ft_worker_buffers_grow(w, mtu) < 0) {
		ft_log_warnx("%s: no memory for the buffers of MTU %u: packets over %u are dropped "
			     "(tun_oversized)",
			     w->ifname, mtu, w->mtu_cap);
		mtu = w->mtu_cap;
	}
	if (mtu == w->mtu)
		return;
	w->mtu = mtu;
	/* One byte past the MTU tells an oversized packet from one that fits. */
	for (unsigned int i = 0; i < FT_WORKER_TUN_SLOTS; i++)
		w->tun_iov[i].iov_len = mtu + 1;
	ft_proto_set_mtu(w->proto, mtu);
	ft_worker_lanes_set_mtu(w);
}

/* Someone else changed the device's MTU since flowtun last set or saw it: follow it for good. */
static void check_device(struct ft_worker *w)
{
	unsigned int dev = 0;

	if (ft_netconf_link_get_mtu(w->rtnl, w->ifindex, &dev) < 0 || dev == w->mtu_dev)
		return;
	if (w->mtu_source != FT_MTU_EXTERNAL)
		ft_log(FT_LOG_NOTICE,
		       "%s: MTU %u set by someone else (flowtun's was %u): followed, and no longer "
		       "set by flowtun",
		       w->ifname, dev, w->mtu_dev);
	else
		ft_log(FT_LOG_NOTICE, "%s: MTU %u set by someone else: followed", w->ifname, dev);
	w->mtu_source = FT_MTU_EXTERNAL;
	w->mtu_dev = dev;
	apply(w, dev);
}

static void recompute(struct ft_worker *w)
{
	struct link_cache c = { .n = 0 };
	const struct wpeer *by = NULL;
	bool unknown = w->n_peers == 0;
	uint32_t best = 0;
	char why[160] = "";
	int rc;

	w->mtu_due = false;
	w->mtu_peers = w->n_peers;
	for (size_t i = 0; i < w->n_peers; i++) {
		struct wpeer *wp = w->peers[i];
		uint32_t tun;

		/* A route or a link changed: a path may carry more again than it refused (but a
		 * refusal not logged yet is news of that change). */
		if (w->mtu_events && !wp->refused_new)
			wp->refused_len = 0;
		update_path(w, wp, &c);
		tun = ft_mtu_tun_for_path(wp->path_mtu, wp->path_for.family);
		if (!tun) {
			unknown = true;
		} else if (!best || tun < best) {
			best = tun;
			by = wp;
		}
	}
	w->mtu_events = false;
	check_device(w);
	if (w->mtu_source != FT_MTU_UNDERLAY)
		return;
	if (by) {
		char ep[FT_SOCKADDR_STRLEN];

		ft_sockaddr_format(ep, sizeof(ep),
				   (const struct sockaddr *)ft_peer_endpoint(by->peer));
		snprintf(why, sizeof(why), "from the underlay: path MTU %u to %s less %u",
			 by->path_mtu, ep,
			 by->path_for.family == AF_INET ? FT_MTU_OVERHEAD_V4 : FT_MTU_OVERHEAD_V6);
	}
	if (unknown) {
		uint32_t d = default_route_mtu(w, &c);

		if (d && (!best || d < best)) {
			best = d;
			snprintf(why, sizeof(why), "from the underlay: the default route%s",
				 w->n_peers ? ", for a peer without an endpoint" : "");
		}
	}
	if (!best)
		return; /* nothing known: the MTU stays */
	if (best > w->mtu_cap && ft_worker_buffers_grow(w, best) < 0)
		best = w->mtu_cap; /* what the buffers hold: better than a dead tunnel */
	if (best == w->mtu_dev) {
		apply(w, best);
		return;
	}
	rc = ft_netconf_link_set_mtu(w->rtnl, w->ifindex, best);
	if (rc < 0) {
		ft_log_warnx("%s: cannot set the MTU to %u: %s", w->ifname, best, strerror(-rc));
		return;
	}
	ft_log(FT_LOG_NOTICE, "%s: MTU %u (was %u), %s", w->ifname, best, w->mtu_dev, why);
	w->mtu_dev = best;
	apply(w, best);
}

/* An endpoint moved (roaming tells no route), or a peer went, since the last recompute. */
static bool endpoints_moved(struct ft_worker *w)
{
	if (w->n_peers != w->mtu_peers)
		return true;
	for (size_t i = 0; i < w->n_peers; i++) {
		struct ft_addr a;

		endpoint_addr(w->peers[i], &a);
		if (!same_addr(&a, &w->peers[i]->path_for))
			return true;
	}
	return false;
}

static void on_mtu_timer(uv_timer_t *t)
{
	struct ft_worker *w = t->data;

	if (w->closing)
		return;
	if (w->mtu_due || endpoints_moved(w))
		recompute(w);
	else if (w->mtu_dev_due)
		check_device(w);
	w->mtu_dev_due = false;
	uv_timer_start(&w->mtu_timer, on_mtu_timer, MTU_CHECK_MS, 0);
}

/* The look comes MTU_SETTLE_MS from now: the rest of a burst of events comes first. */
static void settle(struct ft_worker *w)
{
	if (w->mtu_handles && !w->closing)
		uv_timer_start(&w->mtu_timer, on_mtu_timer, MTU_SETTLE_MS, 0);
}

void ft_worker_mtu_schedule(struct ft_worker *w)
{
	if (w->mtu_due)
		return;
	w->mtu_due = true;
	settle(w);
}

static void on_mtu_poll(uv_poll_t *h, int status, int events)
{
	struct ft_worker *w = h->data;
	unsigned int what = 0;
	int rc;

	(void)events;
	rc = status < 0 ? status : ft_netconf_watch_read(w->mtu_watch, &what);
	if (rc < 0) {
		/* A socket that keeps failing would spin the loop: the endpoint check remains. */
		ft_log_warnx(
			"%s: route and link events: %s (the MTU is no longer recomputed on them)",
			w->ifname, status < 0 ? uv_strerror(status) : strerror(-rc));
		uv_poll_stop(h);
		return;
	}
	if (what & (FT_NETCONF_WATCH_LINK | FT_NETCONF_WATCH_ROUTE | FT_NETCONF_WATCH_LOST)) {
		w->mtu_events = true;
		ft_worker_mtu_schedule(w);
	} else if ((what & FT_NETCONF_WATCH_OWN) && !w->mtu_due && !w->mtu_dev_due) {
		/* Only our device changed (its MTU set by us, or by someone else): no path did. */
		w->mtu_dev_due = true;
		settle(w);
	}
}

void ft_worker_mtu_refused(struct ft_worker *w, struct wpeer *wp, size_t len)
{
	if (len < 2 || len > UINT16_MAX || (wp->refused_len && wp->refused_len <= len))
		return;
	wp->refused_len = (uint16_t)len;
	wp->refused_new = true;
	/* At once, so that the rest of this burst goes out in runs that fit. */
	if (!wp->seg_max || wp->seg_max >= len)
		wp->seg_max = (uint16_t)(len - 1);
	/* A lane: the worker's loop schedules it (its timer is the worker's). */
	if (w->primary)
		w->primary->wake_flags |= FT_LANES_WAKE_MTU;
	else
		ft_worker_mtu_schedule(w);
}

void ft_worker_mtu_start(struct ft_worker *w)
{
	int rc;

	uv_timer_init(w->loop, &w->mtu_timer);
	w->mtu_timer.data = w;
	w->mtu_handles = true;
	rc = ft_netconf_watch_open(&w->mtu_watch, w->ifindex);
	if (rc == 0) {
		rc = uv_poll_init(w->loop, &w->mtu_poll, ft_netconf_watch_fd(w->mtu_watch));
		if (rc < 0) {
			ft_netconf_watch_close(w->mtu_watch);
			w->mtu_watch = NULL;
		}
	}
	if (rc == 0) {
		w->mtu_poll.data = w;
		uv_poll_start(&w->mtu_poll, UV_READABLE, on_mtu_poll);
	} else {
		ft_log_warnx(
			"%s: route and link events: %s (the MTU follows endpoint changes only)",
			w->ifname, strerror(-rc));
	}
	recompute(w);
	uv_timer_start(&w->mtu_timer, on_mtu_timer, MTU_CHECK_MS, 0);
}
