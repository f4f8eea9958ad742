// SPDX-License-Identifier: MIT
/*
 * The worker's peers beside the protocol's: their endpoints (resolved at start, on link-up and
 * reload), their AllowedIPs and the routes for them, the link monitor that watches the
 * underlay interfaces towards them, and SIGHUP's reload. Loop thread only, never inside a
 * packet batch. Each peer (struct wpeer) is an allocation of its own that never moves; w->peers
 * is the array of pointers to them that iteration walks.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/sockaddr.h"
#include "stats/flowlog.h"
#include "tun/wg/allowedips.h"
#include "tun/log.h"
#include "tun/worker/internal.h"

void ft_worker_prefix_from_config(const struct ft_config_addr *a, struct ft_netconf_prefix *p)
{
	memset(p, 0, sizeof(*p));
	p->family = a->family;
	p->len = a->cidr;
	memcpy(p->addr.bytes, a->addr, a->family == AF_INET ? 4 : 16);
}

/* ---- peers and routes ------------------------------------------------------------------ */

void ft_worker_peer_free(struct wpeer *wp)
{
	free(wp->endpoint_host);
	free(wp->endpoint_port);
	free(wp->routes);
	free(wp->route_added);
	free(wp);
}

struct wpeer *ft_worker_find_peer_by_key(struct ft_worker *w, const uint8_t key[FT_KEY_LEN])
{
	return ft_worker_wpeer(ft_proto_peer_find(w->proto, key));
}

/*
 * The endpoint name resolved on the spot, blocking: at start only, before the loop serves
 * anything (a name that does not resolve then is a configuration error to report at once).
 * Later resolutions go through the thread pool (resolve.c).
 */
int ft_worker_peer_resolve(struct ft_worker *w, struct wpeer *wp, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int rc;

	if (!wp->endpoint_host)
		return 0;
	rc = ft_config_resolve_endpoint(wp->endpoint_host, wp->endpoint_port, &ss, &len);
	if (rc < 0) {
		snprintf(err, errlen, "cannot resolve the endpoint '%s' port '%s': %s",
			 wp->endpoint_host, wp->endpoint_port, strerror(-rc));
		return rc;
	}
	rc = ft_proto_peer_set_endpoint(w->proto, wp->peer, (const struct sockaddr *)&ss);
	if (rc < 0) {
		snprintf(err, errlen, "endpoint '%s': %s", wp->endpoint_host, strerror(-rc));
		return rc;
	}
	wp->ep_set = ss;
	ft_worker_path_update(w, wp);
	return 0;
}

/* The configured AllowedIPs: into the protocol's table, and routes when we manage them. */
static int wpeer_set_routes(struct ft_worker *w, struct wpeer *wp, const struct ft_config_peer *cp,
			    char *err, size_t errlen)
{
	size_t n = cp->n_allowed_ips;
	int rc;

	wp->routes = calloc(n ? n : 1, sizeof(*wp->routes));
	wp->route_added = calloc(n ? n : 1, sizeof(bool));
	if (!wp->routes || !wp->route_added)
		return -ENOMEM;
	wp->n_routes = n;
	for (size_t i = 0; i < n; i++) {
		const struct ft_config_addr *a = &cp->allowed_ips[i];

		ft_worker_prefix_from_config(a, &wp->routes[i]);
		rc = ft_proto_allowedip_add(w->proto, wp->peer, a->family, a->addr, a->cidr);
		if (rc < 0) {
			snprintf(err, errlen, "AllowedIPs of the peer of line %u: %s", cp->line,
				 strerror(-rc));
			return rc;
		}
	}
	if (n && w->manage_routes) {
		rc = ft_netconf_routes_add(w->rtnl, w->ifindex, w->addrs, (unsigned int)w->n_addrs,
					   wp->routes, (unsigned int)n, wp->route_added);
		if (rc < 0) {
			snprintf(err, errlen,
				 "cannot add the routes of the peer of line %u: %s%s%s", cp->line,
				 strerror(-rc), ft_netconf_last_error(w->rtnl)[0] ? ": " : "",
				 ft_netconf_last_error(w->rtnl));
			return rc;
		}
	}
	/* The physical stats key a peer by its first AllowedIP: its overlay address. */
	if (n && wp->routes[0].family == AF_INET)
		ft_addr_set_v4(&wp->overlay, wp->routes[0].addr.bytes);
	else if (n)
		ft_addr_set_v6(&wp->overlay, wp->routes[0].addr.bytes);
	return 0;
}

void ft_worker_peer_remove_routes(struct ft_worker *w, struct wpeer *wp)
{
	for (size_t i = 0; i < wp->n_routes; i++) {
		if (wp->route_added[i] && w->ifindex > 0)
			ft_netconf_route_del(w->rtnl, w->ifindex, &wp->routes[i]);
		wp->route_added[i] = false;
	}
}

/*
 * Room for one more pointer in the peer array and the dirty list. Only the arrays of pointers
 * move; the dirty list's entries are copied along, so a pending batch stays valid.
 */
static int grow_peers(struct ft_worker *w)
{
	size_t cap = w->cap_peers ? 2 * w->cap_peers : 8;
	struct wpeer **peers, **dirty;

	if (w->n_peers < w->cap_peers)
		return 0;
	peers = realloc(w->peers, cap * sizeof(*peers));
	if (!peers)
		return -ENOMEM;
	w->peers = peers;
	dirty = realloc(w->dirty, cap * sizeof(*dirty));
	if (!dirty)
		return -ENOMEM;
	w->dirty = dirty;
	w->cap_peers = cap;
	return ft_worker_lanes_grow_dirty(w);
}

/*
 * Adds a peer from pc (the protocol's view) and, for a peer of the config file, cp (its
 * endpoint name, AllowedIPs and routes).
 */
int ft_worker_peer_add(struct ft_worker *w, const struct ft_peer_config *pc,
		       const struct ft_config_peer *cp, struct wpeer **out, char *err,
		       size_t errlen)
{
	struct ft_peer_config cfg = *pc;
	struct wpeer *wp;
	int rc;

	if ((rc = grow_peers(w)) < 0)
		return rc;
	if (!(wp = calloc(1, sizeof(*wp))))
		return -ENOMEM;
	cfg.ctx = wp;
	rc = ft_proto_peer_add(w->proto, &cfg, &wp->peer);
	if (rc < 0) {
		free(wp);
		snprintf(err, errlen, "cannot add the peer: %s", strerror(-rc));
		return rc;
	}
	w->peers[w->n_peers++] = wp;
	w->peers_generation++;
	if (out)
		*out = wp;
	memcpy(wp->public_key, pc->public_key, FT_KEY_LEN);
	wp->keepalive = (uint16_t)pc->persistent_keepalive_s;
	if (pc->endpoint) {
		memcpy(&wp->ep_set, pc->endpoint, ft_sockaddr_len(pc->endpoint));
		ft_worker_path_update(w, wp);
	}
	if (cp && cp->endpoint_host) {
		wp->endpoint_host = strdup(cp->endpoint_host);
		wp->endpoint_port = strdup(cp->endpoint_port);
		if (!wp->endpoint_host || !wp->endpoint_port)
			return -ENOMEM;
		/* Once the loop runs (a reload), the name resolves off it; its failure is logged. */
		if (w->handles_ready)
			ft_worker_resolve_start(w, wp, 0);
		else if ((rc = ft_worker_peer_resolve(w, wp, err, errlen)) < 0)
			return rc;
	}
	if (cp && (rc = wpeer_set_routes(w, wp, cp, err, errlen)) < 0)
		return rc;
	/*
	 * A peer added to a running worker (wg set, SIGHUP) starts its keepalive now; those of
	 * the config file start once the worker is up (ft_worker_create).
	 */
	if (wp->keepalive && w->handles_ready)
		ft_proto_peer_set_persistent_keepalive(w->proto, wp->peer, wp->keepalive,
						       ft_worker_now_ns());
	return 0;
}

void ft_worker_peer_remove(struct ft_worker *w, struct wpeer *wp)
{
	size_t i = 0;

	if (wp->kick.active && w->n_kicking > 0)
		w->n_kicking--;
	/*
	 * The send batch and the dirty list may point at this peer (a keepalive it sent earlier
	 * in this request): send and count what they hold, so that no pointer outlives it.
	 */
	ft_worker_flush_all(w);
	while (i < w->n_peers && w->peers[i] != wp)
		i++;
	if (i == w->n_peers)
		return;
	/* The lanes' batches may point at it too: they end first (lanes.c). */
	ft_worker_quiesce(w);
	/* The order of addition is what wg show lists: close the gap, do not swap. */
	memmove(&w->peers[i], &w->peers[i + 1], (w->n_peers - i - 1) * sizeof(w->peers[0]));
	w->n_peers--;
	ft_worker_peer_remove_routes(w, wp);
	ft_proto_peer_remove(w->proto, wp->peer);
	ft_worker_peer_free(wp);
	ft_worker_resume(w);
	w->peers_generation++;
}

ssize_t ft_worker_peers_remove_doomed(struct ft_worker *w)
{
	struct ft_peer **gone;
	struct wpeer **gone_wp;
	size_t n_gone = 0, kept = 0;

	for (size_t i = 0; i < w->n_peers; i++)
		n_gone += w->peers[i]->doomed;
	if (n_gone == 0)
		return 0;
	gone = malloc(n_gone * sizeof(*gone));
	gone_wp = malloc(n_gone * sizeof(*gone_wp));
	if (!gone || !gone_wp) {
		free(gone);
		free(gone_wp);
		return -ENOMEM;
	}
	/* The send batch and the dirty list may point at these peers: out with what they hold. */
	ft_worker_flush_all(w);
	ft_worker_quiesce(w);
	n_gone = 0;
	/* The order of addition is what wg show lists: the survivors keep theirs. */
	for (size_t i = 0; i < w->n_peers; i++) {
		struct wpeer *wp = w->peers[i];

		if (!wp->doomed) {
			w->peers[kept++] = wp;
			continue;
		}
		if (wp->kick.active && w->n_kicking > 0)
			w->n_kicking--;
		ft_worker_peer_remove_routes(w, wp);
		gone_wp[n_gone] = wp;
		gone[n_gone++] = wp->peer;
	}
	w->n_peers = kept;
	ft_proto_peers_remove(w->proto, gone, n_gone);
	for (size_t i = 0; i < n_gone; i++)
		ft_worker_peer_free(gone_wp[i]);
	ft_worker_resume(w);
	free(gone);
	free(gone_wp);
	w->peers_generation++;
	return (ssize_t)n_gone;
}

int ft_worker_config_peer_add(struct ft_worker *w, const struct ft_config_peer *cp, char *err,
			      size_t errlen)
{
	struct ft_peer_config pc = {
		.preshared_key = cp->preshared_key,
		.persistent_keepalive_s = cp->persistent_keepalive,
	};
	struct wpeer *wp;
	size_t n = w->n_peers;
	int rc;

	memcpy(pc.public_key, cp->public_key, FT_KEY_LEN);
	rc = ft_worker_peer_add(w, &pc, cp, NULL, err, errlen);
	if (rc < 0 && !err[0])
		snprintf(err, errlen, "the peer of line %u: %s", cp->line, strerror(-rc));
	/* No half-added peer (in the protocol without its AllowedIPs or routes): all or none. */
	if (rc < 0 && w->n_peers > n && (wp = ft_worker_find_peer_by_key(w, cp->public_key)))
		ft_worker_peer_remove(w, wp);
	return rc;
}

/* ---- link monitor ----------------------------------------------------------------------- */

static void remember_link(struct ft_worker *w, const struct ft_link_iface_sample *li,
			  uint64_t wall_ms)
{
	size_t i;

	for (i = 0; i < w->n_links; i++)
		if (strcmp(w->links[i].name, li->name) == 0)
			break;
	if (i == w->n_links) {
		if (w->n_links == FT_WORKER_MAX_LINKS)
			return;
		snprintf(w->links[i].name, sizeof(w->links[i].name), "%s", li->name);
		w->n_links++;
	}
	w->links[i].state = li->state;
	w->links[i].since_ms = wall_ms;
	w->links[i].changes++;
}

static void on_link(struct ft_link_monitor *mon, const struct ft_link_sample *s, void *arg)
{
	struct ft_worker *w = arg;

	for (size_t i = 0; i < s->n_ifaces; i++) {
		const struct ft_link_iface_sample *li = &s->ifaces[i];
		bool up = li->state == FT_LINK_UP;

		/*
		 * Our own device is watched only to learn that it was deleted (wg-quick down):
		 * its fd never says so, epoll reports nothing when a TUN device goes.
		 */
		if (strcmp(li->name, w->ifname) == 0) {
			if (li->state == FT_LINK_ERROR && li->err == -ENODEV)
				ft_worker_report_gone(w, "the interface was deleted");
			continue;
		}
		if (!li->changed)
			continue;
		remember_link(w, li, s->wall_ms);
		ft_log(FT_LOG_NOTICE, "underlay %s: %s", li->name, ft_link_state_str(li->state));
		if (s->seq == 0 && up)
			continue; /* the first sample: nothing came back */
		if (up)
			w->counters.link_up_events++;
		else
			w->counters.link_down_events++;
		for (size_t j = 0; j < w->n_peers; j++) {
			struct wpeer *wp = w->peers[j];

			if (wp->path_ifname[0] && strcmp(wp->path_ifname, li->name) != 0)
				continue;
			wp->path_down = !up;
			if (!up || !w->link_reaction)
				continue;
			/*
			 * The link is back: the endpoint's name may point elsewhere now, and
			 * waiting for the retry timer would waste up to REKEY_TIMEOUT. The kick
			 * starts the handshake when the path can carry it (path.c).
			 */
			ft_worker_resolve_start(w, wp, FT_RESOLVE_KICK);
			if (ft_worker_path_wants_kick(wp))
				ft_worker_path_kick(w, wp);
		}
	}
	ft_worker_end_batch(w);
}

/*
 * Watches the underlay interfaces (LinkWatch, or those the routes to the peers leave through)
 * and, always, our own device, whose deletion is the signal to go.
 */
void ft_worker_link_start(struct ft_worker *w, const struct ft_config *cfg, bool underlay)
{
	const char *names[FT_WORKER_MAX_LINKS + 1];
	size_t n = 0;
	struct ft_link_monitor_options o = {
		.period_ms = (uint64_t)cfg->link_poll_interval * 1000,
		/* The carrier from rtnetlink: no ethtool or MII ioctl in the seccomp list. */
		.carrier_rtnl = true,
	};
	int rc;

	/* A stand-in for the TUN (tests) has no link to watch. */
	if (!w->tun_standin)
		names[n++] = w->ifname;
	if (underlay && cfg->n_link_watch) {
		for (size_t i = 0; i < cfg->n_link_watch && n <= FT_WORKER_MAX_LINKS; i++)
			if (strcmp(cfg->link_watch[i], w->ifname) != 0)
				names[n++] = cfg->link_watch[i];
	} else if (underlay) {
		for (size_t i = 0; i < w->n_peers && n <= FT_WORKER_MAX_LINKS; i++) {
			bool dup = false;

			if (!w->peers[i]->path_ifname[0])
				continue;
			for (size_t j = 0; j < n; j++)
				dup = dup || strcmp(names[j], w->peers[i]->path_ifname) == 0;
			if (!dup)
				names[n++] = w->peers[i]->path_ifname;
		}
	}
	/* Routes and addresses that come back are paths that come back too. */
	if (underlay && w->link_reaction)
		ft_worker_path_start(w);
	if (n == 0)
		return;
	o.ifnames = names;
	o.n_ifnames = n;
	rc = ft_link_monitor_create(&w->link, w->loop, &o, on_link, w);
	if (rc == 0)
		rc = ft_link_monitor_start(w->link);
	if (rc < 0) {
		ft_log_warnx("link monitor: %s (carrying on without it)", strerror(-rc));
		return;
	}
	for (size_t i = w->tun_standin ? 0 : 1; i < n; i++)
		ft_log_info("watching the link of %s", names[i]);
}

/* ---- reload ----------------------------------------------------------------------------- */

static bool same_str(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

static int reload_peer(struct ft_worker *w, struct wpeer *wp, const struct ft_config_peer *cp,
		       char *err, size_t errlen)
{
	struct ft_peer *peer = wp->peer;
	bool ep_changed;

	ft_proto_peer_set_preshared_key(w->proto, peer, cp->preshared_key);
	ft_proto_peer_set_persistent_keepalive(w->proto, peer, cp->persistent_keepalive,
					       ft_worker_now_ns());
	wp->keepalive = cp->persistent_keepalive;
	ep_changed = !same_str(wp->endpoint_host, cp->endpoint_host) ||
		     !same_str(wp->endpoint_port, cp->endpoint_port);
	free(wp->endpoint_host);
	free(wp->endpoint_port);
	wp->endpoint_host = cp->endpoint_host ? strdup(cp->endpoint_host) : NULL;
	wp->endpoint_port = cp->endpoint_port ? strdup(cp->endpoint_port) : NULL;
	if (cp->endpoint_host && (!wp->endpoint_host || !wp->endpoint_port))
		return -ENOMEM;
	/*
	 * A changed Endpoint replaces whatever the peer's traffic taught us; an unchanged one
	 * does not overwrite where the peer roamed to (resolve.c). Names resolve off the
	 * loop; a failure is logged when it comes.
	 */
	if (ep_changed)
		ft_worker_resolve_config_changed(w, wp);
	ft_worker_resolve_start(w, wp, 0);
	/* AllowedIPs: the new set replaces the old; routes follow. */
	for (size_t i = 0; i < wp->n_routes; i++)
		ft_proto_allowedip_remove(w->proto, wp->routes[i].family, wp->routes[i].addr.bytes,
					  wp->routes[i].len);
	ft_worker_peer_remove_routes(w, wp);
	free(wp->routes);
	free(wp->route_added);
	wp->routes = NULL;
	wp->route_added = NULL;
	wp->n_routes = 0;
	return wpeer_set_routes(w, wp, cp, err, errlen);
}

/* The FlowLog of a config against the running one, which has relative paths made absolute. */
static bool same_flow_log(const char *conf, const char *running)
{
	size_t lc = strlen(conf), lr = strlen(running);

	if (strcmp(conf, running) == 0)
		return true;
	return conf[0] != '/' && lr > lc && running[lr - lc - 1] == '/' &&
	       strcmp(running + lr - lc, conf) == 0;
}

int ft_worker_reload(struct ft_worker *w, const struct ft_config *cfg, char *err, size_t errlen)
{
	ssize_t removed;
	int rc = 0;

	err[0] = '\0';
	if (w->closing)
		return -ESHUTDOWN;
	ft_worker_flush_all(w);
	/*
	 * Peers that are no longer in the file go; the others keep their sessions. Found by key
	 * (O(1) each) and removed in one batch: linear in the peers, also at 100,000.
	 */
	for (size_t i = 0; i < w->n_peers; i++)
		w->peers[i]->doomed = true;
	for (size_t j = 0; j < cfg->n_peers; j++) {
		struct wpeer *wp = ft_worker_find_peer_by_key(w, cfg->peers[j].public_key);

		if (wp)
			wp->doomed = false;
	}
	removed = ft_worker_peers_remove_doomed(w);
	if (removed < 0) {
		for (size_t i = 0; i < w->n_peers; i++)
			w->peers[i]->doomed = false;
		return (int)removed;
	}
	if (removed > 0)
		ft_log_info("%s: %zd peer%s removed by reload", w->ifname, removed,
			    removed == 1 ? "" : "s");
	/*
	 * One peer that cannot be applied does not stop the others: each failure is logged, the
	 * first one is returned, and a new peer that failed is not left half-added.
	 */
	for (size_t j = 0; j < cfg->n_peers; j++) {
		struct wpeer *wp = ft_worker_find_peer_by_key(w, cfg->peers[j].public_key);
		char perr[256] = "";
		int prc;

		if (wp)
			prc = reload_peer(w, wp, &cfg->peers[j], perr, sizeof(perr));
		else
			prc = ft_worker_config_peer_add(w, &cfg->peers[j], perr, sizeof(perr));
		if (prc == 0)
			continue;
		if (!perr[0])
			snprintf(perr, sizeof(perr), "the peer of line %u: %s", cfg->peers[j].line,
				 strerror(-prc));
		ft_log_warnx("%s: reload: %s", w->config_path ? w->config_path : w->ifname, perr);
		if (rc == 0) {
			rc = prc;
			snprintf(err, errlen, "%s", perr);
		}
	}
	/* The flow log may have been moved by logrotate. */
	if (w->flow)
		ft_flowwriter_reopen(w->flow);
	/* Peers and endpoints may have changed: so may the paths' MTU. */
	ft_worker_mtu_schedule(w);
	if (rc == 0 &&
	    (cfg->mtu != w->mtu_config || cfg->listen_port != w->udp.port ||
	     cfg->n_addresses != w->n_addrs ||
	     (!w->workers_by_option && (cfg->workers ? cfg->workers : 1) != w->n_workers) ||
	     (cfg->flow_log && w->flow_dest && !same_flow_log(cfg->flow_log, w->flow_dest)) ||
	     ft_worker_metrics_changed(w, cfg))) {
		snprintf(err, errlen,
			 "MTU, Address, ListenPort, Workers, FlowLog and MetricsListen changes "
			 "need a restart");
		ft_log_warnx("%s: %s", w->config_path ? w->config_path : w->ifname, err);
	}
	ft_worker_end_batch(w);
	return rc;
}
