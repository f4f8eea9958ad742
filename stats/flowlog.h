/* SPDX-License-Identifier: MIT */
#ifndef FT_FLOWLOG_H
#define FT_FLOWLOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stats/connstats.h"

/*
 * Flow-log messages: one connstats dump as JSON in the shape of Tailscale's network flow logs
 * (netlogtype.Message), one message per line (JSON Lines):
 *
 *   {"nodeId":"...","start":"2026-01-02T03:04:05.123Z","end":"...",
 *    "virtualTraffic":[{"proto":6,"src":"100.64.0.1:80","dst":"100.64.0.2:51234",
 *                       "txPkts":88,"txBytes":2780,"rxPkts":34,"rxBytes":8870}],
 *    "subnetTraffic":[...],"exitTraffic":[...],
 *    "physicalTraffic":[{"src":"100.64.0.2:0","dst":"198.18.0.2:51820","txPkts":63,...}]}
 *
 * - Times are RFC 3339 UTC with milliseconds; IPv6 endpoints are "[addr]:port".
 * - Zero counters, empty arrays and the proto of physical entries (0) are omitted, as there.
 * - Entries are sorted by (src, dst, proto) within each array.
 * - Buckets: a virtual connection whose two ends are overlay addresses goes to virtualTraffic;
 *   one with an end inside a peer's routed subnet to subnetTraffic; any other to exitTraffic.
 *   The caller's classify function says what an address is.
 * - Differences from Tailscale, on purpose: a later fragment (FT_IPPROTO_FRAGMENT) is written as
 *   proto 255 as Tailscale writes IPv4 fragments; packets that did not parse
 *   (FT_IPPROTO_INVALID) are written as {"invalid":true,...} with their counts, in exitTraffic,
 *   rather than as an entry with no addresses that a reader cannot tell apart; an optional
 *   "nodeName" field; "lost":N when earlier messages were lost by the writer.
 * - "tunDropped":N (when the caller measured it, 0 included): packets the kernel dropped at
 *   the TUN device's queue, before flowtun could read and count them, since the previous
 *   message. A reader adds them to what the entries count to get what was sent into the tunnel.
 * - "omittedTraffic":{"conns":N,"txPkts":...} sums what the entries leave out: virtual
 *   connections past the rate limit (meta->max_entries, the largest by bytes are listed; conns
 *   counts the others), and the packets of new connections that found no room in the tables
 *   while the writer was behind (connstats' overflow; not in conns). "omittedPhysicalTraffic"
 *   the same for physical entries (overflow only: physical entries are never rate limited, as
 *   a peer's endpoints are few). Zero fields and empty objects are left out.
 * - A message longer than max_line bytes is split into several lines with the same nodeId,
 *   start and end; an entry is never split. lost, tunDropped and the omitted sums are on the
 *   first line only.
 */

enum ft_flowlog_addr_kind {
	FT_FLOWLOG_OTHER = 0,	/* neither: the Internet, via an exit peer */
	FT_FLOWLOG_OVERLAY = 1, /* this node's or a peer's overlay address */
	FT_FLOWLOG_SUBNET = 2,	/* inside a subnet routed to a peer */
};

typedef enum ft_flowlog_addr_kind (*ft_flowlog_classify_fn)(void *arg, const struct ft_addr *a);

struct ft_flowlog_meta {
	const char *node_id;		 /* required */
	const char *node_name;		 /* optional: NULL omits it */
	uint64_t lost;			 /* messages lost before this one; 0 omits it */
	ft_flowlog_classify_fn classify; /* NULL: every virtual entry is overlay */
	void *classify_arg;
	/*
	 * The bucket of each virtual entry, from ft_flowlog_bucket(), when the caller classified
	 * them already (on the loop, where classify may run); NULL: classify is called here.
	 */
	const uint8_t *buckets;
	size_t max_line; /* 0: FT_FLOWLOG_MAX_LINE */
	bool limited;	 /* list at most max_entries virtual entries, sum up the others */
	size_t max_entries;
	bool has_tun_dropped; /* write "tunDropped" */
	uint64_t tun_dropped;
	/* The window's connstats overflow counts (new connections that found no room). */
	struct ft_conn_counts overflow_v, overflow_p;
};

/* Tailscale's cap on one message. */
#define FT_FLOWLOG_MAX_LINE (256 * 1024)

/* A growable output buffer; free data with free(). */
struct ft_flowlog_buf {
	char *data;
	size_t len, cap;
};

/*
 * Appends one dump as one or more JSON lines, each ending in '\n', to out. Returns the number
 * of lines appended, or -ENOMEM (out then holds only whole lines).
 */
int ft_flowlog_format(struct ft_flowlog_buf *out, const struct ft_flowlog_meta *meta,
		      uint64_t start_ms, uint64_t end_ms, const struct ft_conn_entry *v, size_t nv,
		      const struct ft_conn_entry *p, size_t np);

/* The bucket of a virtual key: 0 virtual, 1 subnet, 2 exit (meta's classify decides). */
uint8_t ft_flowlog_bucket(const struct ft_flowlog_meta *meta, const struct ft_conn_key *k);

/* Writes "2026-01-02T03:04:05.123Z" (24 characters and a NUL) for ms since the epoch. */
void ft_flowlog_time(char buf[32], uint64_t ms);

#endif
