// SPDX-License-Identifier: MIT
/*
 * The worker's metrics: the families the /metrics endpoint (tun/ctl/metrics.h) serves, read from
 * the state `flowtun show` reads through get=flowtun (ctl.c): the protocol's and the
 * worker's counters, the underlay links, the flow-log and IPFIX writers, the statistics window
 * and every peer. Loop thread only, called between batches: a scrape reads counters and
 * changes nothing on the packet path.
 *
 * Names follow the existing exporters where they exist, so that dashboards keep working:
 * wireguard_sent_bytes_total, wireguard_received_bytes_total and
 * wireguard_latest_handshake_seconds with the labels interface, public_key and allowed_ips of
 * MindFlavor's prometheus_wireguard_exporter (allowed_ips comma-joined, as `wg show dump`).
 * flowtun's own are flowtun_*, every one with the label interface; README.md ("Monitoring")
 * lists them all with their meaning.
 *
 * The worker's counters (FT_WORKER_COUNTERS) are mapped to families by worker_map below; a
 * counter added to that list without a line there still appears, as
 * flowtun_worker_events_total{event="NAME"}, until it is given its proper family. The
 * protocol's drop reasons all go to flowtun_drops_total{reason} by themselves.
 *
 * The peers' families are metrics_peers.c's: a scrape of many peers is written in slices.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/sockaddr.h"
#include "tun/log.h"
#include "tun/worker/internal.h"

/* ---- the catalogue ---------------------------------------------------------------------- */

#define FAMILY(var, name, type, unit, help) \
	static const struct ft_metrics_family var = { name, type, unit, help }

FAMILY(fam_build, "flowtun_build", FT_METRICS_INFO, NULL, "The flowtun version serving");
FAMILY(fam_peers, "flowtun_peers", FT_METRICS_GAUGE, NULL, "Peers configured");
FAMILY(fam_worker_packets, "flowtun_worker_packets", FT_METRICS_COUNTER, NULL,
       "Packets read from the TUN and datagrams received, by worker (Workers)");
FAMILY(fam_drops, "flowtun_drops", FT_METRICS_COUNTER, NULL,
       "Packets and datagrams dropped, by reason (flowtun show's counters)");
FAMILY(fam_packets, "flowtun_packets", FT_METRICS_COUNTER, NULL,
       "Packets read from the TUN (outbound) and written to it (inbound)");
FAMILY(fam_packet_bytes, "flowtun_packet_bytes", FT_METRICS_COUNTER, "bytes",
       "Bytes of the packets read from the TUN (outbound) and of the decrypted ones handed to "
       "it (inbound)");
FAMILY(fam_datagrams, "flowtun_datagrams", FT_METRICS_COUNTER, NULL,
       "UDP datagrams sent (outbound) and received (inbound) on the underlay");
FAMILY(fam_datagram_bytes, "flowtun_datagram_bytes", FT_METRICS_COUNTER, "bytes",
       "Bytes of the UDP datagrams sent (outbound) and received (inbound)");
FAMILY(fam_hs_initiated, "flowtun_handshakes_initiated", FT_METRICS_COUNTER, NULL,
       "Handshake initiations sent, retries included");
FAMILY(fam_hs_completed, "flowtun_handshakes_completed", FT_METRICS_COUNTER, NULL,
       "Handshakes completed: sessions derived");
FAMILY(fam_hs_failed, "flowtun_handshakes_failed", FT_METRICS_COUNTER, NULL,
       "Handshakes given up after REKEY_ATTEMPT_TIME without an answer");
FAMILY(fam_cookies_sent, "flowtun_cookies_sent", FT_METRICS_COUNTER, NULL,
       "Cookie replies sent (under load)");
FAMILY(fam_cookies_received, "flowtun_cookies_received", FT_METRICS_COUNTER, NULL,
       "Cookie replies received and consumed");
FAMILY(fam_proto_events, "flowtun_protocol_events", FT_METRICS_COUNTER, NULL,
       "Protocol events without a family of their own");
FAMILY(fam_gso, "flowtun_tun_gso_reads", FT_METRICS_COUNTER, NULL,
       "Super-packets read from the TUN (offloads on)");
FAMILY(fam_gro, "flowtun_tun_gro_writes", FT_METRICS_COUNTER, NULL,
       "Coalesced super-packets written to the TUN (offloads on)");
FAMILY(fam_link_events, "flowtun_link_events", FT_METRICS_COUNTER, NULL,
       "Watched underlay links going down and coming back up");
FAMILY(fam_worker_events, "flowtun_worker_events", FT_METRICS_COUNTER, NULL,
       "Worker counters without a family of their own");
FAMILY(fam_link_up, "flowtun_link_up", FT_METRICS_GAUGE, NULL,
       "1 when the watched underlay link has a link, else 0 (down, error, unknown)");
FAMILY(fam_link_changes, "flowtun_link_changes", FT_METRICS_COUNTER, NULL,
       "Link state changes seen on the watched underlay link, the first sample included");
FAMILY(fam_link_since, "flowtun_link_state_since_seconds", FT_METRICS_GAUGE, "seconds",
       "UNIX time the underlay link's state began");
FAMILY(fam_flow_messages, "flowtun_flowlog_messages", FT_METRICS_COUNTER, NULL,
       "Flow-log messages (lines) written whole");
FAMILY(fam_flow_bytes, "flowtun_flowlog_written_bytes", FT_METRICS_COUNTER, "bytes",
       "Bytes of the flow-log messages written");
FAMILY(fam_flow_lost, "flowtun_flowlog_lost_messages", FT_METRICS_COUNTER, NULL,
       "Flow-log messages lost (queue full, write or open failed, close timed out)");
FAMILY(fam_flow_errors, "flowtun_flowlog_errors", FT_METRICS_COUNTER, NULL,
       "Flow-log writes and opens that failed");
FAMILY(fam_flow_failing, "flowtun_flowlog_failing", FT_METRICS_GAUGE, NULL,
       "1 while the flow-log writer is failing (nothing written since its last error)");
FAMILY(fam_flow_error, "flowtun_flowlog_last_error", FT_METRICS_INFO, NULL,
       "The flow-log writer's last error (errno and its text)");
FAMILY(fam_ipfix_messages, "flowtun_ipfix_messages", FT_METRICS_COUNTER, NULL,
       "IPFIX messages sent (per collector)");
FAMILY(fam_ipfix_errors, "flowtun_ipfix_send_errors", FT_METRICS_COUNTER, NULL,
       "IPFIX sends that failed");
FAMILY(fam_window_conns, "flowtun_stats_window_connections", FT_METRICS_GAUGE, NULL,
       "Connections in the open statistics window (virtual: inside the tunnel; physical: per "
       "peer endpoint)");
FAMILY(fam_tun_kernel_dropped, "flowtun_tun_kernel_dropped", FT_METRICS_COUNTER, NULL,
       "Packets the kernel dropped at the TUN device's queue before flowtun read them (its "
       "tx_dropped since flowtun started)");
FAMILY(fam_tun_mtu, "flowtun_tun_mtu_bytes", FT_METRICS_GAUGE, "bytes",
       "The TUN device's MTU, and who decides it (underlay, config or external)");
FAMILY(fam_window_start, "flowtun_stats_window_start_seconds", FT_METRICS_GAUGE, "seconds",
       "UNIX time the open statistics window began (0: empty)");

/* What each worker counter is: a drop, or a sample of a family with a label. */
enum worker_kind {
	WK_DROP,
	WK_PACKETS,
	WK_PACKET_BYTES,
	WK_DATAGRAMS,
	WK_DATAGRAM_BYTES,
	WK_LINK_EVENTS,
	WK_GSO,
	WK_GRO,
};

static const struct {
	const char *name;
	enum worker_kind kind;
	const char *label; /* the value of the family's label (direction, event); NULL: none */
} worker_map[] = {
	{ "tun_rx_packets", WK_PACKETS, "outbound" },
	{ "tun_tx_packets", WK_PACKETS, "inbound" },
	{ "tun_rx_bytes", WK_PACKET_BYTES, "outbound" },
	{ "tun_tx_bytes", WK_PACKET_BYTES, "inbound" },
	{ "udp_tx_datagrams", WK_DATAGRAMS, "outbound" },
	{ "udp_rx_datagrams", WK_DATAGRAMS, "inbound" },
	{ "udp_tx_bytes", WK_DATAGRAM_BYTES, "outbound" },
	{ "udp_rx_bytes", WK_DATAGRAM_BYTES, "inbound" },
	{ "tun_oversized", WK_DROP, NULL },
	{ "tun_write_dropped", WK_DROP, NULL },
	{ "tun_bad_vnet", WK_DROP, NULL },
	{ "udp_rx_truncated", WK_DROP, NULL },
	{ "udp_tx_errors", WK_DROP, NULL },
	{ "udp_tx_dropped", WK_DROP, NULL },
	/* The kernel's TUN-queue drops are not the worker's: flowtun_tun_kernel_dropped_total. */
	{ "link_up_events", WK_LINK_EVENTS, "up" },
	{ "link_down_events", WK_LINK_EVENTS, "down" },
	{ "tun_gso_reads", WK_GSO, NULL },
	{ "tun_gro_writes", WK_GRO, NULL },
};

static const char *const worker_names[] = {
#define WORKER_NAME(n) #n,
	FT_WORKER_COUNTERS(WORKER_NAME)
#undef WORKER_NAME
};

enum { N_WORKER = sizeof(worker_names) / sizeof(worker_names[0]) };

static void worker_values(const struct ft_worker *w, uint64_t v[N_WORKER])
{
	size_t i = 0;

#define WORKER_VALUE(n) v[i++] = w->counters.n;
	FT_WORKER_COUNTERS(WORKER_VALUE)
#undef WORKER_VALUE
}

/* The worker_map entry of counter i, or -1. */
static int worker_map_index(size_t i)
{
	for (size_t m = 0; m < sizeof(worker_map) / sizeof(worker_map[0]); m++)
		if (strcmp(worker_map[m].name, worker_names[i]) == 0)
			return (int)m;
	return -1;
}

const char *ft_worker_link_state_str(enum ft_link_state s)
{
	switch (s) {
	case FT_LINK_UP:
		return "link";
	case FT_LINK_DOWN:
		return "no-link";
	case FT_LINK_ERROR:
		return "error";
	default:
		return "unknown";
	}
}

/* ---- the device ------------------------------------------------------------------------- */

struct ctx {
	struct ft_worker *w;
	struct ft_metrics_writer *mw;
	struct ft_metrics_label l[3]; /* interface, and up to two more */
};

/* A sample labelled interface="..." and, when name is not NULL, name="value". */
static void sample(struct ctx *c, const char *name, const char *value, uint64_t v)
{
	c->l[1].name = name;
	c->l[1].value = value;
	ft_metrics_sample(c->mw, c->l, name ? 2 : 1, v);
}

/* The worker counters of kind k as samples of family f, their label named label. */
static void worker_family(struct ctx *c, const uint64_t *vals, enum worker_kind k,
			  const struct ft_metrics_family *f, const char *label)
{
	bool begun = false;

	for (size_t i = 0; i < N_WORKER; i++) {
		int m = worker_map_index(i);

		if (m < 0 || worker_map[m].kind != k)
			continue;
		if (!begun && f)
			ft_metrics_family(c->mw, f);
		begun = true;
		sample(c, worker_map[m].label ? label : NULL,
		       worker_map[m].label ? worker_map[m].label : worker_names[i], vals[i]);
	}
}

static void write_counters(struct ctx *c)
{
	const struct ft_proto_counters *pc = ft_proto_counters(c->w->proto);
	uint64_t vals[N_WORKER];
	bool unmapped = false;

	worker_values(c->w, vals);
	ft_metrics_family(c->mw, &fam_drops);
	for (int r = 0; r < FT_PROTO_FIRST_EVENT; r++)
		sample(c, "reason", ft_proto_counter_name((enum ft_proto_reason)r),
		       ft_proto_counter_value(pc, (enum ft_proto_reason)r));
	for (size_t i = 0; i < N_WORKER; i++) {
		int m = worker_map_index(i);

		if (m >= 0 && worker_map[m].kind == WK_DROP)
			sample(c, "reason", worker_names[i], vals[i]);
		unmapped = unmapped || m < 0;
	}
	worker_family(c, vals, WK_PACKETS, &fam_packets, "direction");
	worker_family(c, vals, WK_PACKET_BYTES, &fam_packet_bytes, "direction");
	worker_family(c, vals, WK_DATAGRAMS, &fam_datagrams, "direction");
	worker_family(c, vals, WK_DATAGRAM_BYTES, &fam_datagram_bytes, "direction");
	worker_family(c, vals, WK_LINK_EVENTS, &fam_link_events, "event");
	{
		uint64_t drops, window;

		if (ft_worker_tun_drops(c->w, &drops, &window)) {
			ft_metrics_family(c->mw, &fam_tun_kernel_dropped);
			sample(c, NULL, NULL, drops);
		}
	}
	ft_metrics_family(c->mw, &fam_tun_mtu);
	sample(c, "source", ft_worker_mtu_source_str(c->w->mtu_source), c->w->mtu);
	ft_metrics_family(c->mw, &fam_gso);
	sample(c, NULL, NULL, c->w->counters.tun_gso_reads);
	ft_metrics_family(c->mw, &fam_gro);
	sample(c, NULL, NULL, c->w->counters.tun_gro_writes);
	if (unmapped) {
		ft_metrics_family(c->mw, &fam_worker_events);
		for (size_t i = 0; i < N_WORKER; i++)
			if (worker_map_index(i) < 0)
				sample(c, "event", worker_names[i], vals[i]);
	}

	/* The protocol's events. */
	ft_metrics_family(c->mw, &fam_hs_initiated);
	sample(c, NULL, NULL, pc->handshake_initiated);
	ft_metrics_family(c->mw, &fam_hs_completed);
	sample(c, NULL, NULL, pc->handshake_completed);
	ft_metrics_family(c->mw, &fam_hs_failed);
	sample(c, NULL, NULL, pc->handshake_given_up);
	ft_metrics_family(c->mw, &fam_cookies_sent);
	sample(c, NULL, NULL, pc->cookie_sent);
	ft_metrics_family(c->mw, &fam_cookies_received);
	sample(c, NULL, NULL, pc->cookie_received);
	if (FT_PROTO_REASON_COUNT > FT_PROTO_handshake_given_up + 1) {
		/* Events added after these: shown, with their own names, until mapped above. */
		ft_metrics_family(c->mw, &fam_proto_events);
		for (int r = FT_PROTO_handshake_given_up + 1; r < FT_PROTO_REASON_COUNT; r++)
			sample(c, "event", ft_proto_counter_name((enum ft_proto_reason)r),
			       ft_proto_counter_value(pc, (enum ft_proto_reason)r));
	}
}

static void write_links(struct ctx *c)
{
	struct ft_worker *w = c->w;

	if (w->n_links == 0)
		return;
	ft_metrics_family(c->mw, &fam_link_up);
	for (size_t i = 0; i < w->n_links; i++)
		sample(c, "link", w->links[i].name, w->links[i].state == FT_LINK_UP);
	ft_metrics_family(c->mw, &fam_link_changes);
	for (size_t i = 0; i < w->n_links; i++)
		sample(c, "link", w->links[i].name, w->links[i].changes);
	ft_metrics_family(c->mw, &fam_link_since);
	for (size_t i = 0; i < w->n_links; i++) {
		c->l[1] = (struct ft_metrics_label){ "link", w->links[i].name };
		ft_metrics_sample_fixed(c->mw, c->l, 2, w->links[i].since_ms, 3);
	}
}

static void write_writers(struct ctx *c)
{
	struct ft_worker *w = c->w;

	if (w->flow) {
		struct ft_flowwriter_counters fc;
		char num[16];

		ft_flowwriter_get_counters(w->flow, &fc);
		ft_metrics_family(c->mw, &fam_flow_messages);
		sample(c, NULL, NULL, fc.lines);
		ft_metrics_family(c->mw, &fam_flow_bytes);
		sample(c, NULL, NULL, fc.bytes);
		ft_metrics_family(c->mw, &fam_flow_lost);
		sample(c, NULL, NULL, fc.lost);
		ft_metrics_family(c->mw, &fam_flow_errors);
		sample(c, NULL, NULL, fc.errors);
		ft_metrics_family(c->mw, &fam_flow_failing);
		sample(c, NULL, NULL, fc.failing != 0);
		if (fc.last_error) {
			snprintf(num, sizeof(num), "%d", -fc.last_error);
			c->l[1] = (struct ft_metrics_label){ "errno", num };
			c->l[2] = (struct ft_metrics_label){ "message", strerror(-fc.last_error) };
			ft_metrics_family(c->mw, &fam_flow_error);
			ft_metrics_sample(c->mw, c->l, 3, 1);
		}
	}
	if (w->ipfix) {
		struct ft_ipfix_counters ic;

		ft_ipfix_exporter_get_counters(w->ipfix, &ic);
		ft_metrics_family(c->mw, &fam_ipfix_messages);
		sample(c, NULL, NULL, ic.messages);
		ft_metrics_family(c->mw, &fam_ipfix_errors);
		sample(c, NULL, NULL, ic.send_errors);
	}
	if (w->stats) {
		const struct ft_conn_entry *v, *p;
		uint64_t start_ms;
		size_t nv, np;

		ft_connstats_collect(w->stats); /* the lanes' counts so far (Workers = N) */
		ft_connstats_peek(w->stats, &v, &nv, &p, &np, &start_ms);
		ft_metrics_family(c->mw, &fam_window_conns);
		sample(c, "kind", "virtual", nv);
		sample(c, "kind", "physical", np);
		ft_metrics_family(c->mw, &fam_window_start);
		ft_metrics_sample_fixed(c->mw, c->l, 1, start_ms, 3);
	}
}

/* ---- the endpoint ----------------------------------------------------------------------- */

static int collect(void *arg, struct ft_metrics_writer *mw, void **state)
{
	struct ft_worker_scrape *sc = *state;
	int rc;

	if (!sc) {
		struct ctx c = { .w = arg, .mw = mw };
		struct ft_metrics_label version = { "version", PACKAGE_VERSION };

		c.l[0] = (struct ft_metrics_label){ "interface", c.w->ifname };
		ft_metrics_family(mw, &fam_build);
		ft_metrics_sample(mw, &version, 1, 1);
		write_counters(&c);
		write_links(&c);
		write_writers(&c);
		ft_metrics_family(mw, &fam_peers);
		sample(&c, NULL, NULL, c.w->n_peers);
		ft_metrics_family(mw, &fam_worker_packets);
		for (unsigned int k = 0; k < ft_worker_workers(c.w); k++) {
			char id[12];

			snprintf(id, sizeof(id), "%u", k);
			sample(&c, "worker", id, ft_worker_handled(c.w, k));
		}
		if ((rc = ft_worker_scrape_start(c.w, &sc)) < 0 || !sc) {
			ft_worker_scrape_free(sc);
			return rc;
		}
		*state = sc;
	}
	rc = ft_worker_scrape_slice(sc, mw);
	if (rc != FT_METRICS_MORE) {
		ft_worker_scrape_free(sc);
		*state = NULL;
	}
	return rc;
}

static void cancel(void *arg, void *state)
{
	(void)arg;
	ft_worker_scrape_free(state);
}

int ft_worker_metrics_start(struct ft_worker *w, const struct ft_config *cfg, char *err,
			    size_t errlen)
{
	struct sockaddr_storage ss;
	struct ft_metrics_server_config mc = { .collect = collect, .cancel = cancel, .arg = w };
	int rc;

	if (!cfg->metrics_listen)
		return 0;
	if (ft_metrics_parse_listen(cfg->metrics_listen, &ss) < 0) {
		snprintf(err, errlen, "MetricsListen '%s': not IPv4:PORT or [IPv6]:PORT",
			 cfg->metrics_listen);
		return -EINVAL;
	}
	mc.addr = (const struct sockaddr *)&ss;
	/* A test hook: tiny slices make peers come and go in the middle of a scrape. */
	if (getenv("FLOWTUN_METRICS_SLICE_NS"))
		mc.slice_ns = strtoull(getenv("FLOWTUN_METRICS_SLICE_NS"), NULL, 10);
	rc = ft_metrics_server_create(&w->metrics, w->loop, &mc);
	if (rc < 0) {
		snprintf(err, errlen, "MetricsListen %s: %s", cfg->metrics_listen, uv_strerror(rc));
		return rc;
	}
	ft_log(FT_LOG_NOTICE, "%s: metrics on http://%s/metrics", w->ifname,
	       ft_metrics_server_address(w->metrics));
	return 0;
}

bool ft_worker_metrics_changed(const struct ft_worker *w, const struct ft_config *cfg)
{
	struct sockaddr_storage ss;
	char want[64];

	if (!cfg->metrics_listen || !w->metrics)
		return !cfg->metrics_listen != !w->metrics;
	if (ft_metrics_parse_listen(cfg->metrics_listen, &ss) < 0 ||
	    ft_sockaddr_format(want, sizeof(want), (const struct sockaddr *)&ss) < 0)
		return true;
	return strcmp(want, ft_metrics_server_address(w->metrics)) != 0;
}
