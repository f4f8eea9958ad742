/* SPDX-License-Identifier: MIT */
#ifndef FT_FLOWLOG_H
#define FT_FLOWLOG_H

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
 * - Differences from Tailscale, on purpose: a later fragment (FT_PROTO_FRAGMENT) is written as
 *   proto 255 as Tailscale writes IPv4 fragments; packets that did not parse
 *   (FT_PROTO_INVALID) are written as {"invalid":true,...} with their counts, in exitTraffic,
 *   rather than as an entry with no addresses that a reader cannot tell apart; an optional
 *   "nodeName" field; "lost":N when earlier messages were lost by the writer.
 * - A message longer than max_line bytes is split into several lines with the same nodeId,
 *   start and end; an entry is never split.
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
	size_t max_line; /* 0: FT_FLOWLOG_MAX_LINE */
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

/* Writes "2026-01-02T03:04:05.123Z" (24 characters and a NUL) for ms since the epoch. */
void ft_flowlog_time(char buf[32], uint64_t ms);

#endif
