// SPDX-License-Identifier: MIT
/*
 * flowtun show's output: a parsed answer (struct show_dev, filled by cmd_show.c) printed as text,
 * the way wg(8) prints it plus the flowtun extras, or built into a JSON object. It is apart from
 * cmd_show.c because it is presentation only: it does no I/O but to the FILE it is given and
 * never sees the raw answer or a key that is still secret.
 */
#include "config.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "tools/cmd_show_internal.h"
#include "tools/human.h"

/* ---- text ------------------------------------------------------------------------------- */

/* "1 year, 2 days, 1 minute, 3 seconds", as wg(8) writes durations; "0 seconds" for 0. */
static void pretty_time(char *buf, size_t size, uint64_t left)
{
	static const struct {
		const char *unit;
		uint64_t seconds;
	} units[] = {
		{ "year", 365 * 24 * 3600 },
		{ "day", 24 * 3600 },
		{ "hour", 3600 },
		{ "minute", 60 },
		{ "second", 1 },
	};
	size_t off = 0;

	buf[0] = '\0';
	if (left == 0) {
		snprintf(buf, size, "0 seconds");
		return;
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]) && off < size; i++) {
		uint64_t n = left / units[i].seconds;
		int w;

		left %= units[i].seconds;
		if (!n)
			continue;
		w = snprintf(buf + off, size - off, "%s%" PRIu64 " %s%s", off ? ", " : "", n,
			     units[i].unit, n == 1 ? "" : "s");
		if (w < 0)
			return;
		off += (size_t)w;
	}
}

/* "1 minute, 3 seconds ago", "Now" as wg(8) says it, or a clock-skew note. */
static void ago(char *buf, size_t size, uint64_t now, uint64_t then)
{
	char d[128];

	if (then == now) {
		snprintf(buf, size, "Now");
	} else if (then > now) {
		snprintf(buf, size, "in the future (the clock went backwards?)");
	} else {
		pretty_time(d, sizeof(d), now - then);
		snprintf(buf, size, "%s ago", d);
	}
}

/* "532 B", "1.23 KiB" ... "4.00 TiB", as wg(8) writes byte counts. */
static void bytes(char *buf, size_t size, uint64_t b)
{
	ft_human_bytes(buf, size, b, 2);
}

static const char *proto_name(unsigned int proto)
{
	switch (proto) {
	case 1:
		return "icmp";
	case 6:
		return "tcp";
	case 17:
		return "udp";
	case 58:
		return "ipv6-icmp";
	case 255:
		return "fragment";
	default:
		return NULL;
	}
}

static const char *link_state_text(const char *s)
{
	if (strcmp(s, "link") == 0)
		return "up";
	if (strcmp(s, "no-link") == 0)
		return "down";
	return s;
}

static const char *peer_state_text(const char *s)
{
	if (strcmp(s, "link-down") == 0)
		return "link down";
	if (strcmp(s, "handshake-failing") == 0)
		return "handshake failing";
	if (strcmp(s, "no-session") == 0)
		return "no session";
	return s;
}

static const char *mtu_source_text(const char *s)
{
	if (strcmp(s, "underlay") == 0)
		return "follows the underlay";
	if (strcmp(s, "config") == 0)
		return "from the config";
	if (strcmp(s, "external") == 0)
		return "the device's, as wg-quick or ip link set it";
	return s;
}

static void print_for(FILE *f, const struct show_opts *o, uint64_t since)
{
	char t[128];

	if (since == 0)
		return;
	if (since > o->now) {
		fprintf(f, " (since a time in the future: the clock went backwards?)");
		return;
	}
	pretty_time(t, sizeof(t), o->now - since);
	fprintf(f, " for %s", t);
}

void ft_show_print_device(FILE *f, const struct show_dev *d, const struct show_opts *o)
{
	char a[64], b[64], t[160];
	uint64_t drops;
	bool any = false;

	fprintf(f, "interface: %s\n", d->name);
	if (d->in.has_public_key) {
		fprintf(f, "  public key: %s\n", d->in.public_key);
		fprintf(f, "  private key: (hidden)\n");
	}
	if (d->in.listen_port)
		fprintf(f, "  listening port: %" PRIu64 "\n", d->in.listen_port);
	if (d->in.fwmark)
		fprintf(f, "  fwmark: 0x%" PRIx64 "\n", d->in.fwmark);
	if (d->in.iface && strcmp(d->in.iface, d->name) != 0)
		fprintf(f, "  device: %s\n", d->in.iface);
	if (d->in.crypto)
		fprintf(f, "  crypto: %s\n", d->in.crypto);
	if (d->in.udp_coalesce)
		fprintf(f, "  udp coalescing: %s\n", d->in.udp_coalesce);
	if (d->in.tun_io)
		fprintf(f, "  tun i/o: %s\n", d->in.tun_io);
	if (d->in.workers && d->in.worker_packets)
		fprintf(f, "  workers: %" PRIu64 " (packets taken in by each: %s)\n", d->in.workers,
			d->in.worker_packets);
	else if (d->in.workers)
		fprintf(f, "  workers: %" PRIu64 "\n", d->in.workers);
	if (d->in.mtu)
		fprintf(f, "  mtu: %" PRIu64 " (%s)\n", d->in.mtu,
			mtu_source_text(d->in.mtu_source));
	for (size_t i = 0; i < d->in.n_links; i++) {
		fprintf(f, "  underlay %s: %s", d->in.links[i].name,
			link_state_text(d->in.links[i].state));
		print_for(f, o, d->in.links[i].since_ms / 1000);
		fputc('\n', f);
	}
	if (ft_uapi_info_counter(&d->in, "tun_kernel_dropped", &drops)) {
		fprintf(f,
			"  dropped by the kernel at the device before flowtun: %" PRIu64
			" packets since start",
			drops);
		if (d->in.has_window_tun_dropped)
			fprintf(f, ", %" PRIu64 " packets in the open window",
				d->in.window_tun_dropped);
		fputc('\n', f);
	}
	if (d->in.flowlog) {
		fprintf(f, "  flow log: %s (%" PRIu64 " lines, %" PRIu64 " lost", d->in.flowlog,
			d->in.flowlog_lines, d->in.flowlog_lost);
		if (d->in.flowlog_omitted)
			fprintf(f, ", %" PRIu64 " entries summed up by the rate limit",
				d->in.flowlog_omitted);
		if (d->in.flowlog_pending)
			fprintf(f, ", %" PRIu64 " windows being formatted", d->in.flowlog_pending);
		if (d->in.flowlog_error)
			fprintf(f, ", failing: %s",
				d->in.flowlog_error < 4096 ? strerror((int)d->in.flowlog_error)
							   : "?");
		fprintf(f, ")\n");
	}
	for (size_t i = 0; i < d->in.n_ipfix; i++)
		fprintf(f, "  ipfix collector: %s\n", d->in.ipfix[i]);
	if (d->in.has_ipfix_counts)
		fprintf(f, "  ipfix: %" PRIu64 " messages, %" PRIu64 " lost to send errors\n",
			d->in.ipfix_messages, d->in.ipfix_errors);
	if (d->in.metrics) {
		uint64_t served = 0, refused = 0;

		for (size_t i = 0; i < d->in.n_metrics_requests; i++) {
			if (d->in.metrics_requests[i].status == 200)
				served += d->in.metrics_requests[i].count;
			else
				refused += d->in.metrics_requests[i].count;
		}
		fprintf(f,
			"  metrics: http://%s/metrics (%" PRIu64 " scrape%s, %" PRIu64
			" request%s refused)\n",
			d->in.metrics, served, served == 1 ? "" : "s", refused,
			refused == 1 ? "" : "s");
	}
	for (size_t i = 0; i < d->in.n_counters; i++) {
		if (!o->all && d->in.counters[i].value == 0)
			continue;
		if (!any)
			fprintf(f, "  counters:\n");
		any = true;
		fprintf(f, "    %s: %" PRIu64 "\n", d->in.counters[i].name,
			d->in.counters[i].value);
	}
	if (d->extras && !d->in.has_window)
		fprintf(f, "  statistics: off (no flow log and no IPFIX collector)\n");
	if (d->in.stats_overflow)
		fprintf(f,
			"  statistics: %" PRIu64 " packets of new connections counted without an "
			"entry (the writers were behind)\n",
			d->in.stats_overflow);
	if (d->in.n_top) {
		fprintf(f, "  top connections");
		if (d->in.has_window && d->in.window_start_ms) {
			ago(t, sizeof(t), o->now, d->in.window_start_ms / 1000);
			fprintf(f, " (window opened %s)", t);
		}
		fprintf(f, ":\n");
	}
	for (size_t i = 0; i < d->in.n_top; i++) {
		const struct ft_uapi_info_top *e = &d->in.top[i];
		const char *pn = proto_name(e->proto);

		bytes(a, sizeof(a), e->tx_bytes);
		bytes(b, sizeof(b), e->rx_bytes);
		if (pn)
			fprintf(f, "    %s", pn);
		else
			fprintf(f, "    proto %u", e->proto);
		fprintf(f,
			" %s -> %s: %s sent (%" PRIu64 " packet%s), %s received (%" PRIu64
			" packet%s)\n",
			e->src, e->dst, a, e->tx_packets, e->tx_packets == 1 ? "" : "s", b,
			e->rx_packets, e->rx_packets == 1 ? "" : "s");
	}
	for (size_t i = 0; i < d->in.n_peers; i++) {
		const struct ft_uapi_info_peer *p = &d->in.peers[i];

		fprintf(f, "\npeer: %s\n", p->public_key);
		if (p->has_psk)
			fprintf(f, "  preshared key: (hidden)\n");
		if (p->endpoint)
			fprintf(f, "  endpoint: %s\n", p->endpoint);
		fprintf(f, "  allowed ips: ");
		for (size_t j = 0; j < p->n_allowed; j++)
			fprintf(f, "%s%s", j ? ", " : "", p->allowed[j]);
		fprintf(f, "%s\n", p->n_allowed ? "" : "(none)");
		if (p->handshake_sec) {
			ago(t, sizeof(t), o->now, p->handshake_sec);
			fprintf(f, "  latest handshake: %s\n", t);
		}
		if (p->rx_bytes || p->tx_bytes) {
			bytes(a, sizeof(a), p->rx_bytes);
			bytes(b, sizeof(b), p->tx_bytes);
			fprintf(f, "  transfer: %s received, %s sent\n", a, b);
		}
		if (p->keepalive) {
			pretty_time(t, sizeof(t), p->keepalive);
			fprintf(f, "  persistent keepalive: every %s\n", t);
		}
		if (p->state) {
			fprintf(f, "  path: %s", peer_state_text(p->state));
			print_for(f, o, p->state_since);
			if (p->path)
				fprintf(f, ", via %s", p->path);
			if (p->path_mtu)
				fprintf(f, ", path MTU %" PRIu64, p->path_mtu);
			fputc('\n', f);
		}
	}
}

/* ---- JSON ------------------------------------------------------------------------------- */

static json_t *json_u64(uint64_t v)
{
	return json_integer(v > (uint64_t)INT64_MAX ? INT64_MAX : (json_int_t)v);
}

/* Every json_object_set_new() steals its value, also on failure: no leak on that path. */
json_t *ft_show_device_json(const struct show_dev *d)
{
	json_t *o = json_object(), *a, *x;

	if (!o)
		return NULL;
	json_object_set_new(o, "interface", json_string(d->name));
	if (d->in.has_public_key)
		json_object_set_new(o, "publicKey", json_string(d->in.public_key));
	json_object_set_new(o, "listenPort", json_u64(d->in.listen_port));
	json_object_set_new(o, "fwmark", json_u64(d->in.fwmark));
	json_object_set_new(o, "flowtunExtras", json_boolean(d->extras));
	if (d->in.iface)
		json_object_set_new(o, "device", json_string(d->in.iface));
	if (d->in.crypto)
		json_object_set_new(o, "crypto", json_string(d->in.crypto));
	if (d->in.udp_coalesce)
		json_object_set_new(o, "udpCoalesce",
				    json_boolean(strcmp(d->in.udp_coalesce, "on") == 0));
	if (d->in.tun_io)
		json_object_set_new(o, "tunIO", json_string(d->in.tun_io));
	if (d->in.workers)
		json_object_set_new(o, "workers", json_integer((json_int_t)d->in.workers));
	if (d->in.worker_packets) {
		json_t *arr = json_array();
		const char *p = d->in.worker_packets;
		char *end;

		for (unsigned long long v = strtoull(p, &end, 10); end != p;
		     v = strtoull(p, &end, 10)) {
			json_array_append_new(arr, json_integer((json_int_t)v));
			p = end;
		}
		json_object_set_new(o, "workerPackets", arr);
	}
	if (d->in.mtu) {
		json_object_set_new(o, "mtu", json_u64(d->in.mtu));
		json_object_set_new(o, "mtuSource", json_string(d->in.mtu_source));
	}
	if (d->in.version)
		json_object_set_new(o, "version", json_string(d->in.version));
	json_object_set_new(o, "links", a = json_array());
	for (size_t i = 0; a && i < d->in.n_links; i++) {
		json_t *l = json_pack("{s:s, s:s, s:o}", "name", d->in.links[i].name, "state",
				      d->in.links[i].state, "sinceMs",
				      json_u64(d->in.links[i].since_ms));

		if (l && d->in.links[i].has_changes)
			json_object_set_new(l, "changes", json_u64(d->in.links[i].changes));
		json_array_append_new(a, l);
	}
	json_object_set_new(o, "counters", x = json_object());
	for (size_t i = 0; x && i < d->in.n_counters; i++)
		json_object_set_new(x, d->in.counters[i].name, json_u64(d->in.counters[i].value));
	if (d->in.flowlog)
		json_object_set_new(o, "flowLog",
				    json_pack("{s:s, s:o, s:o, s:o, s:o, s:o}", "destination",
					      d->in.flowlog, "lines", json_u64(d->in.flowlog_lines),
					      "lost", json_u64(d->in.flowlog_lost), "error",
					      json_u64(d->in.flowlog_error), "omitted",
					      json_u64(d->in.flowlog_omitted), "pendingWindows",
					      json_u64(d->in.flowlog_pending)));
	if (d->in.has_stats_overflow)
		json_object_set_new(o, "statsOverflowPackets", json_u64(d->in.stats_overflow));
	if (d->in.has_window_tun_dropped)
		json_object_set_new(o, "windowTunDropped", json_u64(d->in.window_tun_dropped));
	if (d->in.n_ipfix || d->in.has_ipfix_counts) {
		json_t *c = json_array();

		for (size_t i = 0; c && i < d->in.n_ipfix; i++)
			json_array_append_new(c, json_string(d->in.ipfix[i]));
		json_object_set_new(o, "ipfix",
				    json_pack("{s:o*, s:o, s:o}", "collectors", c, "messages",
					      json_u64(d->in.ipfix_messages), "errors",
					      json_u64(d->in.ipfix_errors)));
	}
	if (d->in.has_window)
		json_object_set_new(o, "windowStartMs", json_u64(d->in.window_start_ms));
	if (d->in.has_window_conns)
		json_object_set_new(o, "windowConnections",
				    json_pack("{s:o, s:o}", "virtual",
					      json_u64(d->in.window_virtual), "physical",
					      json_u64(d->in.window_physical)));
	if (d->in.metrics) {
		json_t *m = json_object(), *r = json_object();

		for (size_t i = 0; r && i < d->in.n_metrics_requests; i++) {
			char code[24];

			snprintf(code, sizeof(code), "%" PRIu64, d->in.metrics_requests[i].status);
			json_object_set_new(r, code, json_u64(d->in.metrics_requests[i].count));
		}
		if (m) {
			json_object_set_new(m, "listen", json_string(d->in.metrics));
			json_object_set_new(m, "requests", r ? r : json_null());
			json_object_set_new(m, "writeTimeouts",
					    json_u64(d->in.metrics_write_timeouts));
			json_object_set_new(m, "lastScrapeNs", json_u64(d->in.metrics_last_ns));
			json_object_set_new(m, "lastScrapeLongestSliceNs",
					    json_u64(d->in.metrics_last_longest_ns));
			json_object_set_new(m, "lastScrapeCpuNs",
					    json_u64(d->in.metrics_last_cpu_ns));
			json_object_set_new(m, "lastScrapeLongestSliceCpuNs",
					    json_u64(d->in.metrics_last_longest_cpu_ns));
			json_object_set_new(m, "lastScrapeSlices",
					    json_u64(d->in.metrics_last_slices));
			json_object_set_new(m, "lastScrapeBytes",
					    json_u64(d->in.metrics_last_bytes));
			json_object_set_new(o, "metrics", m);
		} else {
			json_decref(r);
		}
	}
	json_object_set_new(o, "top", a = json_array());
	for (size_t i = 0; a && i < d->in.n_top; i++) {
		const struct ft_uapi_info_top *e = &d->in.top[i];
		const char *pn = proto_name(e->proto);

		json_array_append_new(
			a, json_pack("{s:i, s:s?, s:s, s:s, s:o, s:o, s:o, s:o}", "proto",
				     (int)e->proto, "protoName", pn, "src", e->src, "dst", e->dst,
				     "txPkts", json_u64(e->tx_packets), "txBytes",
				     json_u64(e->tx_bytes), "rxPkts", json_u64(e->rx_packets),
				     "rxBytes", json_u64(e->rx_bytes)));
	}
	json_object_set_new(o, "peers", a = json_array());
	for (size_t i = 0; a && i < d->in.n_peers; i++) {
		const struct ft_uapi_info_peer *p = &d->in.peers[i];
		json_t *po = json_object(), *ips = json_array();

		for (size_t j = 0; ips && j < p->n_allowed; j++)
			json_array_append_new(ips, json_string(p->allowed[j]));
		if (!po) {
			json_decref(ips);
			break;
		}
		json_object_set_new(po, "publicKey", json_string(p->public_key));
		json_object_set_new(po, "presharedKey", json_boolean(p->has_psk));
		json_object_set_new(po, "endpoint",
				    p->endpoint ? json_string(p->endpoint) : json_null());
		json_object_set_new(po, "allowedIps", ips);
		json_object_set_new(po, "latestHandshake", json_u64(p->handshake_sec));
		json_object_set_new(po, "rxBytes", json_u64(p->rx_bytes));
		json_object_set_new(po, "txBytes", json_u64(p->tx_bytes));
		json_object_set_new(po, "persistentKeepalive", json_u64(p->keepalive));
		if (p->state) {
			json_object_set_new(po, "state", json_string(p->state));
			json_object_set_new(po, "stateSince", json_u64(p->state_since));
		}
		if (p->path)
			json_object_set_new(po, "path", json_string(p->path));
		if (p->path_mtu)
			json_object_set_new(po, "pathMtu", json_u64(p->path_mtu));
		json_array_append_new(a, po);
	}
	return o;
}
