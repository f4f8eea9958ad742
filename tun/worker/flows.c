// SPDX-License-Identifier: MIT
/*
 * Flow records: each statistics dump goes to the flow-log writer and the IPFIX exporter, with
 * every connection put in its bucket (virtual, subnet, exit) by what its addresses are, and
 * with the packets the kernel dropped at the TUN device's queue since the last dump.
 *
 * A dump happens on the packet path (a full window dumps inside an update), so nothing here
 * formats or writes: the window is held and submitted to the writer and the exporter, which
 * classify it on the loop in slices and format, encode and write it on the thread pool; each
 * gives its hold back when done with the entries (stats/connstats.h, "Hand-off"). The one
 * syscall per dump is the rtnetlink read of the TUN's counters.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "stats/flowlog.h"
#include "tun/wg/allowedips.h"
#include "tun/log.h"
#include "tun/priv/opener.h"
#include "tun/worker/internal.h"

/* ---- flow records ----------------------------------------------------------------------- */

/* Is a inside prefix p? The rtnetlink prefix test, with a as a host prefix. */
static bool prefix_contains(const struct ft_netconf_prefix *p, const struct ft_addr *a)
{
	struct ft_netconf_prefix host = { .family = a->family,
					  .len = a->family == AF_INET ? 32 : 128 };

	memcpy(host.addr.bytes, a->bytes, sizeof(host.addr.bytes));
	return ft_netconf_prefix_covers(p, &host);
}

/*
 * Overlay: inside one of our own address prefixes, a peer's host route (/32, /128: its
 * overlay address), or link-scoped (link-local, multicast). Subnet: routed to a peer
 * otherwise. Everything else went to or came from beyond an exit peer.
 */
static bool link_scoped(const struct ft_addr *a)
{
	if (a->family == AF_INET)
		return (a->bytes[0] == 169 && a->bytes[1] == 254) || (a->bytes[0] & 0xf0) == 224;
	return a->family == AF_INET6 &&
	       (a->bytes[0] == 0xff || (a->bytes[0] == 0xfe && (a->bytes[1] & 0xc0) == 0x80));
}

static enum ft_flowlog_addr_kind classify(void *arg, const struct ft_addr *a)
{
	struct ft_worker *w = arg;

	/* Link-local and multicast (router solicitations, mDNS) stay on the tunnel's link. */
	if (link_scoped(a))
		return FT_FLOWLOG_OVERLAY;

	for (size_t i = 0; i < w->n_addrs; i++)
		if (prefix_contains(&w->addrs[i], a))
			return FT_FLOWLOG_OVERLAY;
	for (size_t i = 0; i < w->n_peers; i++)
		for (size_t j = 0; j < w->peers[i]->n_routes; j++) {
			const struct ft_netconf_prefix *r = &w->peers[i]->routes[j];

			if (r->len == (r->family == AF_INET ? 32 : 128) && prefix_contains(r, a))
				return FT_FLOWLOG_OVERLAY;
		}
	if (a->family &&
	    ft_allowedips_lookup(ft_proto_allowedips(w->proto), a->family, a->bytes) != NULL)
		return FT_FLOWLOG_SUBNET;
	return FT_FLOWLOG_OTHER;
}

/* ---- the kernel's drops at the TUN queue ------------------------------------------------ */

/* The TUN's tx_dropped now; false (logged once) when rtnetlink cannot say. */
static bool read_tun_drops(struct ft_worker *w, uint64_t *out)
{
	struct ft_netconf_link_stats st;
	int rc;

	if (w->tun_standin)
		return false; /* no device, no queue: nothing to report */
	rc = w->rtnl ? ft_netconf_link_stats(w->rtnl, w->ifindex, &st) : -ENOTCONN;

	if (rc < 0) {
		if (!w->tun_drops_warned)
			ft_log_warnx("%s: cannot read the kernel's drops at the device: %s; flow "
				     "logs will not report them",
				     w->ifname, strerror(-rc));
		w->tun_drops_warned = true;
		return false;
	}
	*out = st.tx_dropped;
	return true;
}

/* The baseline at start: a device that existed before (persistent) has counted before us. */
static void tun_drops_start(struct ft_worker *w)
{
	w->tun_drops_ok = read_tun_drops(w, &w->tun_drops_raw);
	w->tun_drops_total = 0;
}

/* The drops since the last message; a counter that went back (the device replaced) restarts. */
static bool tun_drops_since(struct ft_worker *w, uint64_t *delta, uint64_t *now)
{
	if (!w->tun_drops_ok || !read_tun_drops(w, now))
		return false;
	*delta = *now >= w->tun_drops_raw ? *now - w->tun_drops_raw : *now;
	return true;
}

bool ft_worker_tun_drops(struct ft_worker *w, uint64_t *total, uint64_t *window)
{
	uint64_t now;

	if (!tun_drops_since(w, window, &now))
		return false;
	*total = w->tun_drops_total + *window;
	return true;
}

/* The drops since the last message, which this one reports: they are now reported. */
static bool take_tun_drops(struct ft_worker *w, uint64_t *delta)
{
	uint64_t now;

	if (!tun_drops_since(w, delta, &now))
		return false;
	w->tun_drops_raw = now;
	w->tun_drops_total += *delta;
	return true;
}

/* ---- dumps ------------------------------------------------------------------------------ */

/* The writer or the exporter is done with a window: give its hold back (arg: the connstats). */
static void window_done(void *arg, const struct ft_conn_window *win)
{
	ft_connstats_release(arg, win);
}

/*
 * Hands a window to the writer and the exporter, each with a hold of owner (NULL: the window is
 * not a connstats one, and lives as long as the worker).
 */
static void submit(struct ft_worker *w, const struct ft_conn_window *win, bool has_drops,
		   uint64_t drops, struct ft_connstats *owner)
{
	struct ft_flowlog_meta meta = {
		.node_id = w->node_id,
		.node_name = w->node_name[0] ? w->node_name : NULL,
		.classify = classify,
		.classify_arg = w,
		.has_tun_dropped = has_drops,
		.tun_dropped = drops,
	};
	/* IPFIX sends the total, not the delta: a lost datagram loses nothing of it. */
	uint64_t total = w->tun_drops_total;
	ft_flowwriter_done_cb done = owner ? window_done : NULL;

	if (w->flow) {
		if (owner)
			ft_connstats_hold(owner, win);
		if (ft_flowwriter_submit(w->flow, &meta, win, done, owner) < 0 && owner)
			ft_connstats_release(owner, win);
	}
	if (w->ipfix) {
		if (owner)
			ft_connstats_hold(owner, win);
		if (ft_ipfix_exporter_submit(w->ipfix, win, has_drops ? &total : NULL, done,
					     owner) < 0 &&
		    owner)
			ft_connstats_release(owner, win);
	}
}

void ft_worker_on_dump(void *arg, const struct ft_conn_window *win)
{
	struct ft_worker *w = arg;
	uint64_t drops = 0;
	bool has = take_tun_drops(w, &drops);

	submit(w, win, has, drops, w->stats);
}

void ft_worker_flows_final(struct ft_worker *w)
{
	uint64_t drops = 0, now;
	struct timespec ts;

	/* The final dump took the drops up to now, unless the last window was empty. */
	if ((!w->flow && !w->ipfix) || !take_tun_drops(w, &drops) || drops == 0)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	memset(&w->flows_final, 0, sizeof(w->flows_final));
	w->flows_final.start_ms = w->flows_final.end_ms = now;
	submit(w, &w->flows_final, true, drops, NULL);
}

static void on_flow_error(void *arg, int err, const char *op, uint64_t lost)
{
	struct ft_worker *w = arg;

	ft_log_warnx("flow log '%s': %s: %s (%" PRIu64 " messages lost so far)", w->flow_dest, op,
		     strerror(-err), lost);
}

/* The flow log opens through the opener, which can still do it after the privilege drop. */
static int open_flow_log(const char *path)
{
	return ft_opener_open(path, FT_OPENER_APPEND);
}

int ft_worker_flow_start(struct ft_worker *w, const struct ft_config *cfg, char *err, size_t errlen)
{
	const char *dest = cfg->flow_log;
	struct ft_flowwriter_config fc = {
		.error_cb = on_flow_error,
		.arg = w,
		.open_file = open_flow_log,
		.max_entries_per_s = cfg->flow_log_max_entries_per_s,
	};
	char cwd[PATH_MAX];

	tun_drops_start(w);
	if (!dest)
		return 0;
	if (dest[0] != '/' && strcmp(dest, "-") != 0 && strcmp(dest, "syslog") != 0) {
		/*
		 * A relative path is taken from the working directory at start: a detached
		 * tunnel moves to / and the opener knows absolute paths only.
		 */
		if (!getcwd(cwd, sizeof(cwd))) {
			int e = errno;

			snprintf(err, errlen, "flow log '%s': working directory: %s", dest,
				 strerror(e));
			return -e;
		}
		if (asprintf(&w->flow_dest, "%s/%s", cwd, dest) < 0)
			w->flow_dest = NULL;
	} else {
		w->flow_dest = strdup(dest);
	}
	if (!w->flow_dest)
		return -ENOMEM;
	dest = w->flow_dest;
	fc.path = strcmp(dest, "syslog") == 0 ? NULL : dest;
	w->flow = ft_flowwriter_create(w->loop, &fc);
	if (!w->flow) {
		snprintf(err, errlen, "flow log '%s': %s", dest, strerror(errno));
		return -errno;
	}
	return 0;
}

int ft_worker_ipfix_start(struct ft_worker *w, const struct ft_config *cfg, char *err,
			  size_t errlen)
{
	struct sockaddr_storage collectors[FT_WORKER_MAX_IPFIX];
	struct ft_ipfix_config ic = {
		.collectors = collectors,
		.template_refresh_ms = (uint64_t)cfg->ipfix_template_interval * 1000,
		.arg = w, /* for on_ipfix_closed */
	};
	int rc;

	if (cfg->n_ipfix == 0)
		return 0;
	if (cfg->n_ipfix > FT_WORKER_MAX_IPFIX) {
		snprintf(err, errlen, "at most %d IPFIX collectors", FT_WORKER_MAX_IPFIX);
		return -EINVAL;
	}
	for (size_t i = 0; i < cfg->n_ipfix; i++) {
		rc = ft_ipfix_parse_collector(cfg->ipfix[i], &collectors[i]);
		if (rc < 0) {
			snprintf(err, errlen, "IPFIX collector '%s': %s", cfg->ipfix[i],
				 strerror(-rc));
			return rc;
		}
		if (!(w->ipfix_names[i] = strdup(cfg->ipfix[i])))
			return -ENOMEM;
		w->n_ipfix = i + 1;
	}
	ic.n_collectors = cfg->n_ipfix;
	/* The observation domain: the interface, so two tunnels of one host stay apart. */
	ic.domain_id = (uint32_t)w->ifindex;
	w->ipfix = ft_ipfix_exporter_create(w->loop, &ic);
	if (!w->ipfix) {
		snprintf(err, errlen, "IPFIX: %s", strerror(errno));
		return -errno;
	}
	rc = ft_ipfix_exporter_start(w->ipfix);
	if (rc < 0) {
		snprintf(err, errlen, "IPFIX: %s", strerror(-rc));
		return rc;
	}
	return 0;
}
