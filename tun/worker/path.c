// SPDX-License-Identifier: MIT
/*
 * The path to each peer's endpoint, and what the worker does when it comes back. Loop thread
 * only, never inside a packet batch.
 *
 * A path comes back when the underlay link of its route comes up (the link monitor, see
 * peers.c), when a route or an address appears that makes the endpoint routable again
 * (rtnetlink route and address events, here), or when the endpoint's name resolves to a new
 * address (resolve.c). The peer is then kicked: a handshake starts as soon as the path
 * can carry it, and not before.
 *
 * Why not at once. After a far-end carrier loss (a pulled cable: our link stays up, only its
 * carrier goes), an initiation sent during the outage is accepted by sendmmsg and parked in
 * the queue of the next hop's neighbour entry, INCOMPLETE while its ARP/NDP probes go
 * nowhere. When the carrier returns the kernel does not probe again before that entry's
 * retransmit timer (up to retrans_time, 1 s by default), so an initiation sent at link-up
 * joins the queue and nothing reaches the wire meanwhile; and when the probe is answered both
 * initiations leave back to back. The responder accepts the first (the stale one) and drops
 * the second as a flood (at most one initiation per 20 ms per peer), and its answer fits a
 * handshake we replaced at link-up: we drop it as unknown_index, and only the retransmit
 * timer (REKEY_TIMEOUT, 5 s) recovers. Measured with tcpdump, the kernel's neigh tracepoints
 * and the counters of both ends (tests/netns/recover.sh prints the figures).
 * Also: the carrier can be seen (ETHTOOL_GLINK) before the kernel's linkwatch has made the
 * device operational, and a device that is not yet drops what it is given; a route or an
 * address that was removed makes sendmmsg fail with ENETUNREACH, and nothing but an event
 * says when it is back.
 *
 * The kick, per peer: one check at once, then one every FT_KICK_INTERVAL_MS until a handshake
 * completes or FT_KICK_SPAN_MS has passed (then the protocol's retransmit timer carries on
 * as usual). Each check looks, in order, at
 *   route      the kernel's route to the endpoint (none: wait for one), and that the answer
 *              can come back (the route's source address has its local route);
 *   link       that route's link, up and running (IFF_RUNNING: operational);
 *   neighbour  the next hop's entry, on links that resolve neighbours. INCOMPLETE before the
 *              first send dates from the outage: it is deleted (the stale packets queued on
 *              it go with it), so that the send makes a fresh entry that probes at once.
 * and sends: first a new initiation (ft_proto_peer_initiate: the explicit exception to one
 * initiation per REKEY_TIMEOUT). While no answer comes, every FT_KICK_COPY_GAP_MS an
 * identical copy of it (ft_proto_peer_resend_initiation), FT_KICK_MAX_COPIES sends of it in
 * all; a copy is answered like the first (whichever reaches the responder first wins, the
 * others fail its timestamp check), so it can never make an answer in flight useless. Then,
 * in case an answer was lost (a responder answers a copy of what it took once only), a new
 * initiation, FT_KICK_MAX_INITIATIONS in all. Our own probe still INCOMPLETE at a resend went
 * unanswered: the entry is deleted again so that the resend probes at once rather than a
 * second later (an answer is lost when the far end is not operational yet: its linkwatch lags
 * its carrier; seen after our admin down/up, its ARP reply dropped by its inactive queue).
 *
 * Route and address events: a removed route that covered an endpoint, or a removed address
 * on the link of an endpoint's route, marks that peer's path as lost; an added address marks
 * the peers that wait for a handshake. After each batch of events that added something, each
 * marked or unroutable peer's route is looked up again, and those that have one are kicked.
 */
#include "config.h"

#include <errno.h>
#include <net/if.h>
#include <string.h>

#include <linux/neighbour.h>

#include "tun/log.h"
#include "tun/worker/internal.h"

#define NS_PER_MS 1000000ULL

/* ---- the decision ------------------------------------------------------------------------ */

unsigned int ft_worker_kick_decide(const struct ft_kick_view *v)
{
	bool incomplete = v->needs_neigh && v->neigh == NUD_INCOMPLETE;
	unsigned int flush = incomplete ? FT_KICK_FLUSH : 0;

	if (v->handshake_done || v->expired)
		return FT_KICK_END;
	if (!v->routable || !v->running)
		return FT_KICK_WAIT;
	/* The first send: an INCOMPLETE entry seen now dates from the outage. */
	if (!v->initiations)
		return flush | FT_KICK_SEND;
	if (v->since_copy_ms < FT_KICK_COPY_GAP_MS)
		return FT_KICK_WAIT;
	/* Unanswered: INCOMPLETE now is our probe, unanswered too; it is made again. */
	if (v->copies < FT_KICK_MAX_COPIES)
		return flush | FT_KICK_COPY;
	if (v->initiations < FT_KICK_MAX_INITIATIONS)
		return flush | FT_KICK_SEND;
	return FT_KICK_WAIT;
}

/* ---- what the kernel says, cached for one round of checks -------------------------------- */

enum { CACHE_SLOTS = 4 };

struct look_cache {
	struct {
		int oif, rc;
		unsigned int flags;
	} link[CACHE_SLOTS];
	size_t n_link;
	struct {
		int oif, family, rc;
		uint8_t addr[16];
		uint16_t state;
	} neigh[CACHE_SLOTS];
	size_t n_neigh;
};

static int link_flags(struct ft_worker *w, struct look_cache *c, int oif, unsigned int *flags)
{
	int rc;

	for (size_t i = 0; i < c->n_link; i++)
		if (c->link[i].oif == oif) {
			*flags = c->link[i].flags;
			return c->link[i].rc;
		}
	*flags = 0;
	rc = ft_netconf_link_flags(w->rtnl, oif, flags);
	if (c->n_link < CACHE_SLOTS) {
		c->link[c->n_link].oif = oif;
		c->link[c->n_link].rc = rc;
		c->link[c->n_link++].flags = *flags;
	}
	return rc;
}

static uint16_t neigh_state(struct ft_worker *w, struct look_cache *c,
			    const struct ft_netconf_path *p)
{
	size_t bytes = p->family == AF_INET ? 4 : 16;
	uint16_t state = NUD_NONE;
	int rc;

	for (size_t i = 0; i < c->n_neigh; i++)
		if (c->neigh[i].oif == p->oif && c->neigh[i].family == p->family &&
		    memcmp(c->neigh[i].addr, p->nexthop, bytes) == 0)
			return c->neigh[i].rc == 0 ? c->neigh[i].state : NUD_NONE;
	/* No entry (-ENOENT), or a kernel that cannot tell: as if there were none. */
	rc = ft_netconf_neigh_get(w->rtnl, p->oif, p->family, p->nexthop, &state);
	if (c->n_neigh < CACHE_SLOTS) {
		c->neigh[c->n_neigh].oif = p->oif;
		c->neigh[c->n_neigh].family = p->family;
		memcpy(c->neigh[c->n_neigh].addr, p->nexthop, bytes);
		c->neigh[c->n_neigh].rc = rc;
		c->neigh[c->n_neigh++].state = state;
	}
	return rc == 0 ? state : NUD_NONE;
}

static void forget_neigh(struct look_cache *c, const struct ft_netconf_path *p)
{
	size_t bytes = p->family == AF_INET ? 4 : 16;

	for (size_t i = 0; i < c->n_neigh; i++)
		if (c->neigh[i].oif == p->oif && c->neigh[i].family == p->family &&
		    memcmp(c->neigh[i].addr, p->nexthop, bytes) == 0)
			c->neigh[i] = c->neigh[--c->n_neigh];
}

/* ---- the route ------------------------------------------------------------------------------ */

void ft_worker_path_update(struct ft_worker *w, struct wpeer *wp)
{
	struct ft_peer_info info;
	int ifindex = 0;

	ft_peer_get_info(wp->peer, &info, ft_worker_now_ns());
	wp->path_routable = false;
	if (info.endpoint.ss_family == AF_UNSPEC) {
		wp->path_ifname[0] = '\0';
		wp->path_oif = 0;
		return;
	}
	if (ft_netconf_route_get(w->rtnl, (const struct sockaddr *)&info.endpoint, &ifindex) < 0 ||
	    ifindex <= 0)
		return; /* the last known link stays: its coming up is still worth a look */
	wp->path_routable = true;
	if (ifindex != wp->path_oif || !wp->path_ifname[0]) {
		wp->path_oif = ifindex;
		if (ft_netconf_ifname(w->rtnl, ifindex, wp->path_ifname) < 0)
			wp->path_ifname[0] = '\0';
	}
}

/* ---- the kick ------------------------------------------------------------------------------- */

static void kick_timer_cb(uv_timer_t *t);

static void kick_end(struct ft_worker *w, struct wpeer *wp)
{
	wp->kick.active = false;
	if (w->n_kicking > 0)
		w->n_kicking--;
}

/* One check of one peer's kick (the list at the top). */
static void kick_check(struct ft_worker *w, struct wpeer *wp, uint64_t now, struct look_cache *c)
{
	struct wpeer_kick *k = &wp->kick;
	struct ft_kick_view v = {
		.expired = now - k->start_ns >= FT_KICK_SPAN_MS * NS_PER_MS,
		.initiations = k->initiations,
		.copies = k->copies,
		.since_copy_ms = (now - k->last_copy_ns) / NS_PER_MS,
	};
	struct ft_netconf_path path;
	struct ft_peer_info info;
	unsigned int flags = 0, todo;

	ft_peer_get_info(wp->peer, &info, now);
	v.handshake_done = info.last_handshake_ns && info.last_handshake_ns >= k->start_ns;
	if (!v.handshake_done && !v.expired && info.endpoint.ss_family != AF_UNSPEC &&
	    ft_netconf_route_get_path(w->rtnl, (const struct sockaddr *)&info.endpoint, &path) ==
		    0) {
		v.routable = true;
		if (link_flags(w, c, path.oif, &flags) == 0)
			v.running = (flags & (IFF_UP | IFF_RUNNING)) == (IFF_UP | IFF_RUNNING);
		v.needs_neigh = !(flags & (IFF_NOARP | IFF_LOOPBACK));
		if (v.running && v.needs_neigh)
			v.neigh = neigh_state(w, c, &path);
	}
	todo = ft_worker_kick_decide(&v);
	if (todo & FT_KICK_END) {
		kick_end(w, wp);
		return;
	}
	if (todo & FT_KICK_FLUSH) {
		/* Stale since the outage (see the top): a fresh entry probes at once. */
		if (ft_netconf_neigh_del(w->rtnl, path.oif, path.family, path.nexthop) == 0)
			w->counters.neigh_flushed++;
		forget_neigh(c, &path);
	}
	if (todo & FT_KICK_SEND) {
		ft_proto_peer_initiate(w->proto, wp->peer, now);
		k->initiations++;
		k->copies = 1;
		k->last_copy_ns = now;
	} else if (todo & FT_KICK_COPY) {
		if (ft_proto_peer_resend_initiation(w->proto, wp->peer, now) == 0)
			w->counters.handshake_copies++;
		k->copies++;
		k->last_copy_ns = now;
	}
}

static void kick_arm(struct ft_worker *w)
{
	if (w->path_handles && !w->closing && w->n_kicking > 0 &&
	    !uv_is_active((uv_handle_t *)&w->kick_timer))
		uv_timer_start(&w->kick_timer, kick_timer_cb, FT_KICK_INTERVAL_MS, 0);
}

static void kick_timer_cb(uv_timer_t *t)
{
	struct ft_worker *w = t->data;
	struct look_cache c = { 0 };
	uint64_t now = ft_worker_now_ns();

	for (size_t i = 0; i < w->n_peers && w->n_kicking > 0; i++)
		if (w->peers[i]->kick.active)
			kick_check(w, w->peers[i], now, &c);
	ft_worker_end_batch(w);
	kick_arm(w);
}

bool ft_worker_path_wants_kick(const struct wpeer *wp)
{
	struct ft_peer_info info;

	ft_peer_get_info(wp->peer, &info, ft_worker_now_ns());
	return !info.has_session && (info.handshake_pending || info.queued > 0);
}

void ft_worker_path_kick(struct ft_worker *w, struct wpeer *wp)
{
	struct look_cache c = { 0 };
	uint64_t now = ft_worker_now_ns();

	/* Without the handles (no link reaction, or no monitor) nothing would end a kick. */
	if (!w->link_reaction || w->closing || !w->path_handles)
		return;
	/* A kick under way goes on: a second one would send a second, different initiation. */
	if (wp->kick.active)
		return;
	memset(&wp->kick, 0, sizeof(wp->kick));
	wp->kick.active = true;
	wp->kick.start_ns = now;
	w->n_kicking++;
	w->counters.path_kicks++;
	/* At once: on a path that is ready this is the whole of it. */
	kick_check(w, wp, now, &c);
	kick_arm(w);
}

/* ---- route and address events ------------------------------------------------------------ */

/* The endpoint's address as a host prefix of the family the kernel routes it by. */
static bool endpoint_prefix(const struct sockaddr_storage *ep, struct ft_netconf_prefix *p)
{
	memset(p, 0, sizeof(*p));
	if (ep->ss_family == AF_INET) {
		struct sockaddr_in sin;

		memcpy(&sin, ep, sizeof(sin));
		p->family = AF_INET;
		p->len = 32;
		memcpy(p->addr.bytes, &sin.sin_addr, 4);
		return true;
	}
	if (ep->ss_family == AF_INET6) {
		struct sockaddr_in6 sin6;

		memcpy(&sin6, ep, sizeof(sin6));
		if (IN6_IS_ADDR_V4MAPPED(&sin6.sin6_addr)) {
			p->family = AF_INET;
			p->len = 32;
			memcpy(p->addr.bytes, &sin6.sin6_addr.s6_addr[12], 4);
		} else {
			p->family = AF_INET6;
			p->len = 128;
			memcpy(p->addr.bytes, &sin6.sin6_addr, 16);
		}
		return true;
	}
	return false;
}

struct event_ctx {
	struct ft_worker *w;
	bool recheck;
};

static void on_event(void *arg, const struct ft_netconf_event *ev)
{
	struct event_ctx *ctx = arg;
	struct ft_worker *w = ctx->w;
	uint64_t now = ft_worker_now_ns();

	/*
	 * Routes and addresses on our own device (a hub adds one route per peer) never carry an
	 * endpoint: looking at every peer for each of them would be quadratic at start.
	 */
	if (ev->ifindex > 0 && ev->ifindex == w->ifindex)
		return;
	if (ev->kind == FT_NETCONF_EV_ROUTE_ADD) {
		ctx->recheck = true;
		return;
	}
	for (size_t i = 0; i < w->n_peers; i++) {
		struct wpeer *wp = w->peers[i];
		struct ft_netconf_prefix ep;
		struct ft_peer_info info;

		ft_peer_get_info(wp->peer, &info, now);
		if (!endpoint_prefix(&info.endpoint, &ep))
			continue;
		switch (ev->kind) {
		case FT_NETCONF_EV_ROUTE_DEL:
			wp->path_lost |= ft_netconf_prefix_covers(&ev->prefix, &ep);
			break;
		case FT_NETCONF_EV_ADDR_DEL:
			wp->path_lost |= ev->prefix.family == ep.family &&
					 ev->ifindex == wp->path_oif;
			break;
		case FT_NETCONF_EV_ADDR_ADD:
			/*
			 * Only peers that wait for a handshake: addresses are re-added all the
			 * time (IPv6 lifetimes refreshed by each router advertisement).
			 */
			wp->path_lost |= ev->prefix.family == ep.family && !info.has_session &&
					 info.handshake_pending &&
					 (ev->ifindex == wp->path_oif || !wp->path_routable);
			break;
		case FT_NETCONF_EV_LOST:
			wp->path_lost |= !info.has_session;
			break;
		default:
			break;
		}
	}
	ctx->recheck |= ev->kind == FT_NETCONF_EV_ADDR_ADD || ev->kind == FT_NETCONF_EV_LOST;
}

/* Peers whose path was lost or unroutable and has a route now are kicked. */
static void recheck(struct ft_worker *w)
{
	for (size_t i = 0; i < w->n_peers; i++) {
		struct wpeer *wp = w->peers[i];
		bool was = wp->path_routable;

		if (was && !wp->path_lost)
			continue;
		ft_worker_path_update(w, wp);
		if (!wp->path_routable)
			continue;
		wp->path_lost = false;
		w->counters.path_returns++;
		/*
		 * Only a peer that wants a handshake is kicked: ours awaits its answer, or packets
		 * wait for one. A peer with a session needs none (its endpoint was learnt from
		 * its traffic, so no route was known for it before, or the path came back before
		 * the session expired): a kick would replace a working session. Nor does a peer
		 * that initiated to us and has not yet confirmed our answer (a hub's clients,
		 * mid-handshake, at any moment): a kick would send it initiations it never asked
		 * for and replace the handshake it is completing (tests/netns/unsolicited.sh).
		 */
		if (ft_worker_path_wants_kick(wp))
			ft_worker_path_kick(w, wp);
	}
}

static void path_poll_cb(uv_poll_t *h, int status, int events)
{
	struct ft_worker *w = h->data;
	struct event_ctx ctx = { .w = w };
	int rc;

	(void)events;
	if (status < 0)
		return;
	rc = ft_netconf_events_read(w->path_events, on_event, &ctx);
	if (rc < 0)
		FT_LOG_RATELIMITED(ft_worker_now_ns() / NS_PER_MS, FT_LOG_WARNING,
				   "%s: route events: %s", w->ifname, strerror(-rc));
	if (ctx.recheck)
		recheck(w);
	ft_worker_end_batch(w);
}

void ft_worker_path_start(struct ft_worker *w)
{
	int rc;

	uv_timer_init(w->loop, &w->kick_timer);
	w->kick_timer.data = w;
	w->path_handles = true;
	rc = ft_netconf_events_open(&w->path_events);
	if (rc == 0) {
		rc = uv_poll_init(w->loop, &w->path_poll, ft_netconf_events_fd(w->path_events));
		if (rc < 0) {
			ft_netconf_events_close(w->path_events);
			w->path_events = NULL;
		}
	}
	if (rc == 0) {
		w->path_poll.data = w;
		rc = uv_poll_start(&w->path_poll, UV_READABLE, path_poll_cb);
	}
	if (rc < 0)
		ft_log_warnx("%s: route and address events: %s (a path that comes back through "
			     "them waits for the retransmit timer)",
			     w->ifname, strerror(-rc));
}

unsigned int ft_worker_path_close(struct ft_worker *w, uv_close_cb cb)
{
	unsigned int n = 0;

	if (!w->path_handles)
		return 0;
	w->path_handles = false;
	uv_timer_stop(&w->kick_timer);
	uv_close((uv_handle_t *)&w->kick_timer, cb);
	n++;
	if (w->path_events) {
		/* Stopped, the handle no longer watches the fd: the socket can go at once. */
		uv_poll_stop(&w->path_poll);
		uv_close((uv_handle_t *)&w->path_poll, cb);
		n++;
		ft_netconf_events_close(w->path_events);
		w->path_events = NULL;
	}
	return n;
}
