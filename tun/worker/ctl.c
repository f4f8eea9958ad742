// SPDX-License-Identifier: MIT
/*
 * The worker's control plane: the backend of the WireGuard userspace API (get and set, as
 * wg(8) and wg-quick(8) use them), the extra state `flowtun show` asks for with get=flowtun,
 * and the status written on SIGUSR1. Loop thread only, never inside a packet batch.
 *
 * Every key is named once in tun/ctl/uapi_keys.h (FT_UAPI_KEY(name)); the client parser that
 * reads them back, for flowtun show and for check_worker's round trip, is tun/ctl/uapi_client.c.
 * The extras (get=flowtun only; plain get=1 answers exactly what wireguard-go answers):
 *   flowtun_interface=NAME
 *   flowtun_crypto=TEXT                         the transport AEAD in use (tun/wg/aead.h)
 *   flowtun_tun_io=io_uring|syscalls            how the TUN is read and written (TunIO)
 *   flowtun_workers=N                           threads of the packet path (Workers)
 *   flowtun_worker_packets=P0 P1 ...            packets and datagrams each worker took in
 *   flowtun_mtu=MTU underlay|config|external   the TUN MTU and who decides it
 *   flowtun_udp_coalesce=on|off                 received UDP datagrams written as USO
 *                                               super-packets (asked for and probed)
 *   flowtun_link=IFNAME STATE SINCE_MS          one per watched underlay link
 *   flowtun_counter=NAME VALUE                  every drop counter and event, zero or not;
 *                                               tun_kernel_dropped is the kernel's: packets
 *                                               it dropped at the TUN queue since start
 *   flowtun_flowlog=DEST, flowtun_flowlog_lines=N, flowtun_flowlog_lost=N,
 *   flowtun_flowlog_error=ERRNO                 when there is a flow log; ERRNO is that of
 *                                               the failure going on, 0 once a line is
 *                                               written again
 *   flowtun_flowlog_omitted=N                   entries the rate limit summed up
 *   flowtun_flowlog_pending=N                   windows not yet formatted
 *   flowtun_stats_overflow=N                    packets of new connections counted without
 *                                               an entry while the writers were behind
 *   flowtun_window_tun_dropped=N                the kernel's TUN drops in the open window
 *   flowtun_ipfix=COLLECTOR, flowtun_ipfix_messages=N, flowtun_ipfix_errors=N
 *   flowtun_window_start_ms=MS                  the statistics window now open (0: empty)
 *   flowtun_window_connections=VIRTUAL PHYSICAL the connections in it
 *   flowtun_version=VERSION
 *   flowtun_link_changes=IFNAME N               state changes of each watched link
 *   flowtun_metrics=ADDR:PORT                   the /metrics endpoint, when there is one,
 *   flowtun_metrics_requests=STATUS N           its answers by HTTP status (every status),
 *   flowtun_metrics_write_timeouts=N            answers not taken in time,
 *   flowtun_metrics_last_scrape=NS LONGEST_NS CPU_NS LONGEST_CPU_NS SLICES BYTES
 *                                               and the cost of the last 200: the loop's time
 *                                               and its longest slice, the same in CPU time,
 *                                               the slices, the size
 *   flowtun_top=PROTO SRC DST TXPKTS TXBYTES RXPKTS RXBYTES   its top connections by bytes
 * and per peer, after its standard keys:
 *   flowtun_peer_state=up|link-down|handshake-failing|no-session
 *                                               failing: our initiations go unanswered
 *                                               and are being retried
 *   flowtun_peer_state_since=UNIX_SECONDS       when the state began (seen at its first
 *                                               batch, timer or link event after the change)
 *   flowtun_peer_path=IFNAME                    the underlay interface towards its endpoint
 *   flowtun_peer_path_mtu=MTU                   the path MTU to its endpoint as flowtun uses
 *                                               it (the route's, or less after a refused
 *                                               UDP_SEGMENT send); absent when unknown
 * Values hold no '=', so a get=flowtun answer parses like any other.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "base/sockaddr.h"
#include "tun/ctl/uapi_keys.h"
#include "tun/wg/aead.h"
#include "tun/wg/allowedips.h"
#include "tun/log.h"
#include "tun/worker/internal.h"

enum { TOP_CONNECTIONS = 10 };

static const char *const path_names[] = {
	[FT_PATH_NO_SESSION] = "no-session",
	[FT_PATH_UP] = "up",
	[FT_PATH_LINK_DOWN] = "link-down",
	[FT_PATH_FAILING] = "handshake-failing",
};

const char *ft_worker_path_state_str(enum ft_path_state s)
{
	return s < sizeof(path_names) / sizeof(path_names[0]) ? path_names[s] : "unknown";
}

/* ---- get -------------------------------------------------------------------------------- */

/*
 * Every peer's AllowedIPs from one pass over the table, sorted by peer (in the table's order
 * within a peer): a walk of the whole table per peer made a get of 8,000 peers take seconds,
 * with the loop stopped meanwhile.
 */
struct prefix_entry {
	const struct ft_peer *peer; /* compared, never followed */
	uint32_t seq;
	uint8_t family, cidr;
	uint8_t addr[16];
};

struct prefix_index {
	struct prefix_entry *a;
	size_t n, cap;
};

static int index_prefix(void *arg, struct ft_peer *peer, int family, const uint8_t *addr,
			uint8_t cidr)
{
	struct prefix_index *x = arg;
	struct prefix_entry *e;

	if (x->n == x->cap)
		return -ENOBUFS; /* more than the table counted: cannot be */
	e = &x->a[x->n];
	e->peer = peer;
	e->seq = (uint32_t)x->n++;
	e->family = (uint8_t)family;
	e->cidr = cidr;
	memcpy(e->addr, addr, family == AF_INET ? 4 : 16);
	return 0;
}

static int cmp_prefix_entry(const void *a, const void *b)
{
	const struct prefix_entry *x = a, *y = b;

	if (x->peer != y->peer)
		return (uintptr_t)x->peer < (uintptr_t)y->peer ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int prefix_index_build(struct prefix_index *x, const struct ft_allowedips *t)
{
	int rc;

	x->n = 0;
	x->cap = ft_allowedips_count(t);
	x->a = malloc((x->cap ? x->cap : 1) * sizeof(*x->a));
	if (!x->a)
		return -ENOMEM;
	rc = ft_allowedips_walk_all(t, index_prefix, x);
	if (rc == 0)
		qsort(x->a, x->n, sizeof(*x->a), cmp_prefix_entry);
	return rc;
}

/* The first entry of peer (binary search), or x->n. */
static size_t prefix_index_first(const struct prefix_index *x, const struct ft_peer *peer)
{
	size_t lo = 0, hi = x->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if ((uintptr_t)x->a[mid].peer < (uintptr_t)peer)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int cmp_bytes(const void *a, const void *b)
{
	const struct ft_conn_entry *x = *(const struct ft_conn_entry *const *)a;
	const struct ft_conn_entry *y = *(const struct ft_conn_entry *const *)b;
	uint64_t bx = x->tx_bytes + x->rx_bytes, by = y->tx_bytes + y->rx_bytes;

	return bx < by ? 1 : bx > by ? -1 : 0;
}

static void write_top(struct ft_worker *w, struct ft_uapi_writer *wr)
{
	const struct ft_conn_entry *v, *p, **order;
	uint64_t start_ms;
	size_t nv, np;

	if (!w->stats)
		return;
	ft_connstats_collect(w->stats); /* the lanes' counts so far (Workers = N) */
	ft_connstats_peek(w->stats, &v, &nv, &p, &np, &start_ms);
	ft_uapi_write_kv(wr, FT_UAPI_KEY(flowtun_window_start_ms), "%" PRIu64, start_ms);
	ft_uapi_write_kv(wr, FT_UAPI_KEY(flowtun_window_connections), "%zu %zu", nv, np);
	if (nv == 0 || !(order = malloc(nv * sizeof(*order))))
		return;
	for (size_t i = 0; i < nv; i++)
		order[i] = &v[i];
	qsort(order, nv, sizeof(*order), cmp_bytes);
	for (size_t i = 0; i < nv && i < TOP_CONNECTIONS; i++) {
		const struct ft_conn_entry *e = order[i];
		char src[FT_ADDRPORT_STRLEN], dst[FT_ADDRPORT_STRLEN];

		if (e->key.proto == FT_IPPROTO_INVALID)
			continue;
		ft_addrport_format(&e->key.src, e->key.src_port, src, sizeof(src));
		ft_addrport_format(&e->key.dst, e->key.dst_port, dst, sizeof(dst));
		ft_uapi_write_kv(wr, FT_UAPI_KEY(flowtun_top),
				 "%u %s %s %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64,
				 e->key.proto == FT_IPPROTO_FRAGMENT ? 255u : e->key.proto, src,
				 dst, e->tx_packets, e->tx_bytes, e->rx_packets, e->rx_bytes);
	}
	free(order);
}

static void write_device_extras(struct ft_worker *w, struct ft_uapi_writer *wr)
{
	const struct ft_proto_counters *pc = ft_proto_counters(w->proto);
	uint64_t drops, window_drops;
	bool has_drops;

	char aead[96];

	ft_uapi_write_kv(wr, FT_UAPI_KEY(flowtun_interface), "%s", w->ifname);
	ft_aead_describe(aead, sizeof(aead));
	ft_uapi_write_kv(wr, FT_UAPI_KEY(flowtun_crypto), "%s", aead);
	ft_uapi_write_kv(wr, FT_UAPI_KEY(flowtun_udp_coalesce), "%s",
			 w->udp_coalesce ? "on" : "off");
	ft_uapi_write_kv(wr, FT_UAPI_KEY(flowtun_tun_io), "%s", w->ring ? "io_uring" : "syscalls");
	ft_uapi_write_kv(wr, FT_UAPI_KEY(flowtun_workers), "%u", ft_worker_workers(w));
	if (w->lanes) {
		char list[FT_CONFIG_MAX_WORKERS * 21 + 1];
		size_t off =
			(size_t)snprintf(list, sizeof(list), "%" PRIu64, ft_worker_handled(w, 0));

		for (unsigned int k = 1; k < w->n_workers && off < sizeof(list); k++)
			off += (size_t)snprintf(list + off, sizeof(list) - off, " %" PRIu64,
						ft_worker_handled(w, k));
		ft_uapi_write_kv(wr, FT_UAPI_KEY(flowtun_worker_packets), "%s", list);
	}
	ft_uapi_write_kv(wr, FT_UAPI_KEY(flowtun_mtu), "%u %s", w->mtu,
			 ft_worker_mtu_source_str(w->mtu_source));
	ft_uapi_write_kv(wr, FT_UAPI_KEY(flowtun_version), "%s", PACKAGE_VERSION);
	for (size_t i = 0; i < w->n_links; i++) {
		ft_uapi_write_kv(wr, FT_UAPI_KEY(flowtun_link), "%s %s %" PRIu64, w->links[i].name,
				 ft_worker_link_state_str(w->links[i].state), w->links[i].since_ms);
		ft_uapi_write_kv(wr, FT_UAPI_KEY(flowtun_link_changes), "%s %" PRIu64,
				 w->links[i].name, w->links[i].changes);
	}
	for (int r = 0; r < FT_PROTO_REASON_COUNT; r++)
		ft_uapi_write_kv(wr, FT_UAPI_KEY(flowtun_counter), "%s %" PRIu64,
				 ft_proto_counter_name((enum ft_proto_reason)r),
				 ft_proto_counter_value(pc, (enum ft_proto_reason)r));
#define WRITE_WORKER_COUNTER(n) \
	ft_uapi_write_kv(wr, FT_UAPI_KEY(flowtun_counter), "%s %" PRIu64, #n, w->counters.n);
	FT_WORKER_COUNTERS(WRITE_WORKER_COUNTER)
#undef WRITE_WORKER_COUNTER
	has_drops = ft_worker_tun_drops(w, &drops, &window_drops);
	if (has_drops)
		ft_uapi_write_kv(wr, FT_UAPI_KEY(flowtun_counter), "tun_kernel_dropped %" PRIu64,
				 drops);
	if (w->flow) {
		struct ft_flowwriter_counters fc;

		ft_flowwriter_get_counters(w->flow, &fc);
		ft_uapi_write_kv(wr, FT_UAPI_KEY(flowtun_flowlog), "%s", w->flow_dest);
		ft_uapi_write_kv(wr, FT_UAPI_KEY(flowtun_flowlog_lines), "%" PRIu64, fc.lines);
		ft_uapi_write_kv(wr, FT_UAPI_KEY(flowtun_flowlog_lost), "%" PRIu64, fc.lost);
		ft_uapi_write_kv(wr, FT_UAPI_KEY(flowtun_flowlog_error), "%d", -fc.failing);
		ft_uapi_write_kv(wr, FT_UAPI_KEY(flowtun_flowlog_omitted), "%" PRIu64, fc.omitted);
		ft_uapi_write_kv(wr, FT_UAPI_KEY(flowtun_flowlog_pending), "%zu",
				 fc.pending_windows);
	}
	if (w->stats) {
		struct ft_connstats_counters sc;

		ft_connstats_get_counters(w->stats, &sc);
		ft_uapi_write_kv(wr, FT_UAPI_KEY(flowtun_stats_overflow), "%" PRIu64,
				 sc.overflow_packets);
		if (has_drops)
			ft_uapi_write_kv(wr, FT_UAPI_KEY(flowtun_window_tun_dropped), "%" PRIu64,
					 window_drops);
	}
	if (w->ipfix) {
		struct ft_ipfix_counters ic;

		ft_ipfix_exporter_get_counters(w->ipfix, &ic);
		for (size_t i = 0; i < w->n_ipfix; i++)
			ft_uapi_write_kv(wr, FT_UAPI_KEY(flowtun_ipfix), "%s", w->ipfix_names[i]);
		ft_uapi_write_kv(wr, FT_UAPI_KEY(flowtun_ipfix_messages), "%" PRIu64, ic.messages);
		ft_uapi_write_kv(wr, FT_UAPI_KEY(flowtun_ipfix_errors), "%" PRIu64, ic.send_errors);
	}
	if (w->metrics) {
		struct ft_metrics_server_counters mc;

		ft_metrics_server_get_counters(w->metrics, &mc);
		ft_uapi_write_kv(wr, FT_UAPI_KEY(flowtun_metrics), "%s",
				 ft_metrics_server_address(w->metrics));
		for (int i = 0; i < FT_METRICS_STATUS_COUNT; i++)
			ft_uapi_write_kv(wr, FT_UAPI_KEY(flowtun_metrics_requests), "%d %" PRIu64,
					 ft_metrics_status_code((enum ft_metrics_status_index)i),
					 mc.responses[i]);
		ft_uapi_write_kv(wr, FT_UAPI_KEY(flowtun_metrics_write_timeouts), "%" PRIu64,
				 mc.write_timeouts);
		ft_uapi_write_kv(wr, FT_UAPI_KEY(flowtun_metrics_last_scrape),
				 "%" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
				 " %" PRIu64,
				 mc.last_duration_ns, mc.last_longest_ns, mc.last_cpu_ns,
				 mc.last_longest_cpu_ns, mc.last_slices, mc.last_bytes);
	}
	write_top(w, wr);
}

static int uapi_get(void *arg, struct ft_uapi_writer *wr)
{
	struct ft_worker *w = arg;
	bool extras = ft_uapi_writer_extras(wr);
	uint64_t now = ft_worker_now_ns();
	struct prefix_index pfx = { 0 };
	int rc;

	ft_worker_flush_all(w);
	if ((rc = prefix_index_build(&pfx, ft_proto_allowedips(w->proto))) < 0) {
		free(pfx.a);
		return rc;
	}
	if (w->private_key)
		ft_uapi_write_key(wr, FT_UAPI_KEY(private_key), w->private_key);
	ft_uapi_write_kv(wr, FT_UAPI_KEY(listen_port), "%u", w->udp.port);
	if (w->fwmark)
		ft_uapi_write_kv(wr, FT_UAPI_KEY(fwmark), "%u", w->fwmark);
	if (extras)
		write_device_extras(w, wr);
	for (size_t i = 0; i < w->n_peers; i++) {
		struct wpeer *wp = w->peers[i];
		uint8_t psk[FT_KEY_LEN];
		struct ft_peer_info info;

		ft_peer_get_info(wp->peer, &info, now);
		ft_uapi_write_key(wr, FT_UAPI_KEY(public_key), wp->public_key);
		/* The handshake's copy, the only one (all zero: none, as wireguard-go writes). */
		ft_proto_peer_get_preshared_key(w->proto, wp->peer, psk);
		ft_uapi_write_key(wr, FT_UAPI_KEY(preshared_key), psk);
		sodium_memzero(psk, sizeof(psk));
		ft_uapi_write_kv(wr, FT_UAPI_KEY(protocol_version), "1");
		if (info.endpoint.ss_family != AF_UNSPEC)
			ft_uapi_write_endpoint(wr, (const struct sockaddr *)&info.endpoint);
		ft_uapi_write_kv(wr, FT_UAPI_KEY(last_handshake_time_sec), "%lld",
				 (long long)info.last_handshake.tv_sec);
		ft_uapi_write_kv(wr, FT_UAPI_KEY(last_handshake_time_nsec), "%ld",
				 (long)info.last_handshake.tv_nsec);
		ft_uapi_write_kv(wr, FT_UAPI_KEY(tx_bytes), "%" PRIu64, info.tx_bytes);
		ft_uapi_write_kv(wr, FT_UAPI_KEY(rx_bytes), "%" PRIu64, info.rx_bytes);
		ft_uapi_write_kv(wr, FT_UAPI_KEY(persistent_keepalive_interval), "%u",
				 wp->keepalive);
		for (size_t j = prefix_index_first(&pfx, wp->peer);
		     j < pfx.n && pfx.a[j].peer == wp->peer; j++)
			ft_uapi_write_allowed_ip(wr, pfx.a[j].family, pfx.a[j].addr, pfx.a[j].cidr);
		if (extras) {
			enum ft_path_state s = ft_worker_path_state(w, wp, now);

			ft_uapi_write_kv(wr, FT_UAPI_KEY(flowtun_peer_state), "%s",
					 ft_worker_path_state_str(s));
			ft_uapi_write_kv(wr, FT_UAPI_KEY(flowtun_peer_state_since), "%" PRIu64,
					 wp->shown_since);
			if (wp->path_ifname[0])
				ft_uapi_write_kv(wr, FT_UAPI_KEY(flowtun_peer_path), "%s",
						 wp->path_ifname);
			if (wp->path_mtu)
				ft_uapi_write_kv(wr, FT_UAPI_KEY(flowtun_peer_path_mtu), "%u",
						 wp->path_mtu);
		}
	}
	free(pfx.a);
	/* A failed write sticks to the writer: the server answers its errno. */
	return 0;
}

/* ---- set -------------------------------------------------------------------------------- */

static bool all_zero(const uint8_t *k)
{
	static const uint8_t zero[FT_KEY_LEN];

	return sodium_memcmp(k, zero, FT_KEY_LEN) == 0;
}

struct prefixes {
	struct ft_config_addr *a;
	size_t n, cap;
};

static int collect_prefix(void *arg, int family, const uint8_t *addr, uint8_t cidr)
{
	struct prefixes *p = arg;

	if (p->n == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 16;
		struct ft_config_addr *a = realloc(p->a, cap * sizeof(*a));

		if (!a)
			return -ENOMEM;
		p->a = a;
		p->cap = cap;
	}
	memset(&p->a[p->n], 0, sizeof(p->a[p->n]));
	p->a[p->n].family = family;
	p->a[p->n].cidr = cidr;
	memcpy(p->a[p->n].addr, addr, family == AF_INET ? 4 : 16);
	p->n++;
	return 0;
}

static int clear_allowed_ips(struct ft_worker *w, struct wpeer *wp)
{
	struct prefixes p = { 0 };
	int rc;

	rc = ft_allowedips_walk(ft_proto_allowedips(w->proto), wp->peer, collect_prefix, &p);
	for (size_t i = 0; rc == 0 && i < p.n; i++)
		ft_proto_allowedip_remove(w->proto, p.a[i].family, p.a[i].addr, p.a[i].cidr);
	free(p.a);
	return rc;
}

/*
 * The AllowedIPs of every existing peer whose entry replaces them, in one pass over the
 * table; apply_peer() then skips their clearing (wpeer.ips_cleared). On failure nothing is
 * cleared and apply_peer() clears each as before.
 */
static int clear_allowed_ips_batch(struct ft_worker *w, const struct ft_uapi_set *set)
{
	struct ft_peer **peers;
	size_t n = 0;

	for (size_t i = 0; i < set->n_peers; i++)
		n += set->peers[i].replace_allowed_ips && !set->peers[i].remove;
	if (n < 2)
		return 0;
	peers = malloc(n * sizeof(*peers));
	if (!peers)
		return 0;
	n = 0;
	for (size_t i = 0; i < set->n_peers; i++) {
		const struct ft_uapi_peer *up = &set->peers[i];
		struct wpeer *wp;

		if (!up->replace_allowed_ips || up->remove)
			continue;
		wp = ft_worker_find_peer_by_key(w, up->public_key);
		if (!wp || wp->ips_cleared)
			continue;
		wp->ips_cleared = true;
		peers[n++] = wp->peer;
	}
	ft_proto_peers_clear_allowedips(w->proto, peers, n);
	free(peers);
	return 0;
}

/*
 * replace_peers: every peer the request does not name (or names only to remove) goes, in one
 * batch. Found by key, O(1) each: linear in the peers, also for wg setconf of 100,000.
 */
/* The removals a request asked for, in one batch; on failure no peer stays marked. */
static int remove_doomed_or_unmark(struct ft_worker *w)
{
	ssize_t rc = ft_worker_peers_remove_doomed(w);

	if (rc < 0)
		for (size_t i = 0; i < w->n_peers; i++)
			w->peers[i]->doomed = false;
	return rc < 0 ? (int)rc : 0;
}

static int remove_unnamed(struct ft_worker *w, const struct ft_uapi_set *set)
{

	for (size_t i = 0; i < w->n_peers; i++)
		w->peers[i]->doomed = true;
	for (size_t i = 0; i < set->n_peers; i++) {
		struct wpeer *wp;

		if (set->peers[i].remove)
			continue;
		wp = ft_worker_find_peer_by_key(w, set->peers[i].public_key);
		if (wp)
			wp->doomed = false;
	}
	return remove_doomed_or_unmark(w);
}

/*
 * replace_peers (wg setconf) leaves exactly what the request says: a peer that stays keeps its
 * sessions, but what the request omits (preshared key, endpoint, keepalive) is reset, as it
 * would be on a peer created afresh.
 */
static int apply_peer(struct ft_worker *w, const struct ft_uapi_peer *up, bool replace,
		      uint64_t now)
{
	struct wpeer *wp = ft_worker_find_peer_by_key(w, up->public_key);
	const uint8_t *psk =
		up->has_preshared_key && !all_zero(up->preshared_key) ? up->preshared_key : NULL;
	char err[256] = "";
	bool fresh = false;
	int rc;

	/*
	 * Removals wait for one batch at the end of the request (uapi_set), unless a later entry
	 * names the peer again: the request is then applied in its order, as the kernel does.
	 */
	if (up->remove) {
		if (wp)
			wp->doomed = true;
		return 0;
	}
	if (wp && wp->doomed) {
		ssize_t gone = ft_worker_peers_remove_doomed(w);

		if (gone < 0)
			return (int)gone;
		wp = NULL;
	}
	if (!wp) {
		struct ft_peer_config pc = {
			.preshared_key = psk,
			.endpoint = up->has_endpoint ? (const struct sockaddr *)&up->endpoint
						     : NULL,
			.persistent_keepalive_s = up->persistent_keepalive,
		};

		if (up->update_only)
			return 0;
		memcpy(pc.public_key, up->public_key, FT_KEY_LEN);
		/* Its keepalive, if any, starts in there. */
		rc = ft_worker_peer_add(w, &pc, NULL, &wp, err, sizeof(err));
		if (rc < 0)
			return rc;
		fresh = true;
	} else {
		if (up->has_preshared_key || replace)
			ft_proto_peer_set_preshared_key(w->proto, wp->peer, psk);
		if (up->has_endpoint || replace) {
			rc = ft_proto_peer_set_endpoint(
				w->proto, wp->peer,
				up->has_endpoint ? (const struct sockaddr *)&up->endpoint : NULL);
			if (rc < 0)
				return rc;
			/*
			 * The link monitor and the kicks follow the new path. An endpoint set
			 * here, like a roamed one, is not overwritten by re-resolving the
			 * config's name (ep_set is left as it was).
			 */
			ft_worker_path_update(w, wp);
		}
		if (up->has_persistent_keepalive || replace) {
			ft_proto_peer_set_persistent_keepalive(w->proto, wp->peer,
							       up->persistent_keepalive, now);
			wp->keepalive = up->persistent_keepalive;
		}
	}
	/*
	 * Replace: a new peer has none, one of the request's batch has none left (only its first
	 * entry: a second entry for it clears what the first added, in the request's order).
	 */
	if (up->replace_allowed_ips && !fresh && !wp->ips_cleared &&
	    (rc = clear_allowed_ips(w, wp)) < 0)
		return rc;
	wp->ips_cleared = false;
	for (size_t i = 0; i < up->n_allowed_ips; i++) {
		const struct ft_config_addr *a = &up->allowed_ips[i];

		rc = ft_proto_allowedip_add(w->proto, wp->peer, a->family, a->addr, a->cidr);
		if (rc < 0)
			return rc;
		if (wp->overlay.family == 0 && a->family == AF_INET)
			ft_addr_set_v4(&wp->overlay, a->addr);
		else if (wp->overlay.family == 0)
			ft_addr_set_v6(&wp->overlay, a->addr);
	}
	return 0;
}

/*
 * All or nothing: everything that can fail for a reason other than memory is checked (or
 * prepared, like the new socket) before the first change.
 */
static int uapi_set(void *arg, const struct ft_uapi_set *set)
{
	struct ft_worker *w = arg;
	struct ft_udp fresh = { .fd = -1 };
	uint8_t pub[FT_KEY_LEN];
	uint64_t now = ft_worker_now_ns();
	int rc;

	if (w->closing)
		return -ESHUTDOWN;
	if (set->has_private_key && !all_zero(set->private_key) &&
	    ft_key_public(pub, set->private_key) < 0)
		return -EINVAL;
	if (set->has_listen_port && set->listen_port != w->udp.port) {
		/* Workers > 1: a group of sockets on the new port, one per worker (lanes.c). */
		rc = ft_udp_open(&fresh, NULL, set->listen_port,
				 w->n_workers > 1 ? FT_UDP_REUSEPORT : 0);
		if (rc < 0)
			return rc;
		if ((rc = ft_worker_lanes_prepare_port(w, &fresh)) < 0) {
			ft_udp_close(&fresh);
			return rc;
		}
	}

	ft_worker_flush_all(w);
	if (set->has_private_key) {
		if (all_zero(set->private_key)) {
			ft_proto_set_private_key(w->proto, NULL);
			sodium_free(w->private_key);
			w->private_key = NULL;
		} else {
			if (!w->private_key && !(w->private_key = sodium_malloc(FT_KEY_LEN))) {
				ft_udp_close(&fresh);
				return -ENOMEM;
			}
			memcpy(w->private_key, set->private_key, FT_KEY_LEN);
			ft_proto_set_private_key(w->proto, w->private_key);
		}
		ft_worker_set_node_id(w);
	}
	if (fresh.fd >= 0 && (rc = ft_worker_rebind(w, &fresh)) < 0)
		ft_log_warnx("%s: listen port %u: %s", w->ifname, set->listen_port, strerror(-rc));
	if (fresh.fd >= 0)
		ft_worker_lanes_rebind(w);
	if (set->has_fwmark) {
		w->fwmark = set->fwmark;
		ft_worker_set_fwmark(&w->udp, set->fwmark);
		ft_worker_lanes_set_fwmark(w);
	}
	if (set->replace_peers && (rc = remove_unnamed(w, set)) < 0) {
		ft_worker_end_batch(w);
		return rc;
	}
	if ((rc = clear_allowed_ips_batch(w, set)) < 0) {
		ft_worker_end_batch(w);
		return rc;
	}
	for (size_t i = 0; i < set->n_peers; i++) {
		rc = apply_peer(w, &set->peers[i], set->replace_peers, now);
		if (rc < 0) {
			/* Only memory can fail here; say so rather than hide a half-applied set. */
			ft_log_warnx("%s: userspace API set stopped at peer %zu: %s", w->ifname, i,
				     strerror(-rc));
			remove_doomed_or_unmark(w);
			for (size_t j = 0; j < w->n_peers; j++)
				w->peers[j]->ips_cleared = false;
			ft_worker_end_batch(w);
			return rc;
		}
	}
	if ((rc = remove_doomed_or_unmark(w)) < 0) {
		ft_log_warnx("%s: userspace API set: the removals: %s", w->ifname, strerror(-rc));
		ft_worker_end_batch(w);
		return rc;
	}
	/* Peers and endpoints may have changed: so may the paths' MTU. */
	ft_worker_mtu_schedule(w);
	ft_worker_end_batch(w);
	return 0;
}

const struct ft_uapi_ops ft_worker_uapi_ops = {
	.get = uapi_get,
	.set = uapi_set,
};

/* ---- status on SIGUSR1 ------------------------------------------------------------------ */

void ft_worker_dump_status(struct ft_worker *w, FILE *f)
{
	const struct ft_proto_counters *pc = ft_proto_counters(w->proto);
	uint64_t now = ft_worker_now_ns(), drops, window_drops;

	ft_worker_flush_all(w);
	fprintf(f, "interface %s: listening on port %u, %zu peer(s), MTU %u (%s)\n", w->ifname,
		w->udp.port, w->n_peers, w->mtu, ft_worker_mtu_source_str(w->mtu_source));
	for (size_t i = 0; i < w->n_peers; i++) {
		struct ft_peer_info info;
		char key[FT_KEY_B64_LEN + 1], ep[FT_SOCKADDR_STRLEN] = "(none)";

		ft_peer_get_info(w->peers[i]->peer, &info, now);
		ft_key_to_base64(key, info.public_key);
		if (info.endpoint.ss_family != AF_UNSPEC)
			ft_sockaddr_format(ep, sizeof(ep), (const struct sockaddr *)&info.endpoint);
		fprintf(f,
			"  peer %s endpoint %s rx %" PRIu64 " tx %" PRIu64
			" session %s (%s) path MTU %u\n",
			key, ep, info.rx_bytes, info.tx_bytes, info.has_session ? "yes" : "no",
			ft_worker_path_state_str(ft_worker_path_state(w, w->peers[i], now)),
			w->peers[i]->path_mtu);
	}
#define PRINT_WORKER(n)    \
	if (w->counters.n) \
		fprintf(f, "  %s %" PRIu64 "\n", #n, w->counters.n);
	FT_WORKER_COUNTERS(PRINT_WORKER)
#undef PRINT_WORKER
	if (ft_worker_tun_drops(w, &drops, &window_drops) && drops)
		fprintf(f, "  tun_kernel_dropped %" PRIu64 "\n", drops);
	for (int r = 0; r < FT_PROTO_REASON_COUNT; r++) {
		uint64_t v = ft_proto_counter_value(pc, (enum ft_proto_reason)r);

		if (v)
			fprintf(f, "  %s %" PRIu64 "\n",
				ft_proto_counter_name((enum ft_proto_reason)r), v);
	}
	fflush(f);
}
