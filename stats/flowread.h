/* SPDX-License-Identifier: MIT */
#ifndef FT_FLOWREAD_H
#define FT_FLOWREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stats/packet.h"

/*
 * Reading flow logs back: the parsing, filtering and aggregation behind `flowtun flows`, as a
 * library so that it is testable without the command. The input is what stats/flowlog.h
 * writes (JSON Lines in the shape of Tailscale's flow logs, proto 255 for fragments,
 * {"invalid":true} entries, optional "nodeName", "lost", "tunDropped", "omittedTraffic" and
 * "omittedPhysicalTraffic").
 *
 * One line parses into one struct ft_flowread_msg. Lines of one message split by the writer
 * share nodeId, start and end: ft_flowread_same_window() says so, ft_flowread_merge() joins
 * them. A line is taken whole or not at all: any malformed entry rejects its line, so that a
 * window is never shown half counted.
 *
 * Nothing here does I/O or keeps global state; every function may run on any thread on its
 * own objects.
 */

enum ft_flowread_kind {
	FT_FLOWREAD_VIRTUAL = 0,
	FT_FLOWREAD_SUBNET = 1,
	FT_FLOWREAD_EXIT = 2,
	FT_FLOWREAD_PHYSICAL = 3,
	FT_FLOWREAD_NKINDS = 4,
};

/* Fields of a key that an aggregation summed over (printed as "*"). */
enum {
	FT_FLOWREAD_W_PROTO = 1 << 0,
	FT_FLOWREAD_W_SRC = 1 << 1, /* the source address */
	FT_FLOWREAD_W_DST = 1 << 2,
	FT_FLOWREAD_W_SPORT = 1 << 3,
	FT_FLOWREAD_W_DPORT = 1 << 4,
};

/*
 * 42 bytes with no padding, so that keys compare and hash with memcmp. proto is 0..255 or
 * FT_IPPROTO_INVALID for an {"invalid":true} entry (whose addresses have family 0).
 */
struct ft_flowread_key {
	struct ft_addr src, dst;
	uint16_t src_port, dst_port, proto;
	uint8_t kind; /* enum ft_flowread_kind */
	uint8_t wild; /* FT_FLOWREAD_W_*: 0 for a logged entry */
};

struct ft_flowread_entry {
	struct ft_flowread_key key;
	uint64_t tx_pkts, tx_bytes, rx_pkts, rx_bytes;
};

/* What a message sums up without entries ("omittedTraffic"); zero when absent. */
struct ft_flowread_omitted {
	uint64_t conns, tx_pkts, tx_bytes, rx_pkts, rx_bytes;
};

/* One line, or a window merged from several. Owns node_id, node_name and entries. */
struct ft_flowread_msg {
	char *node_id;
	char *node_name; /* NULL when absent */
	uint64_t start_ms, end_ms;
	uint64_t lost; /* 0 when absent */
	bool has_tun_dropped;
	uint64_t tun_dropped; /* the kernel's drops at the TUN queue since the last message */
	struct ft_flowread_omitted omitted, omitted_phys; /* virtual, physical */
	struct ft_flowread_entry *entries;
	size_t n, cap;
};

/* Longest accepted line; the writer caps its lines at 256 KiB. */
#define FT_FLOWREAD_MAX_LINE (4 * 1024 * 1024)

/*
 * Parses one line (without its newline; it need not be NUL-terminated) into *m, which must be
 * zeroed or hold an earlier result (freed first). Returns 0; -EINVAL when the line is
 * malformed, with the reason in err (m is then empty); or -ENOMEM.
 */
int ft_flowread_parse(struct ft_flowread_msg *m, const char *line, size_t len, char *err,
		      size_t errlen);
/* Frees what m owns and zeroes it; m itself is the caller's. */
void ft_flowread_msg_free(struct ft_flowread_msg *m);
/* True when a and b are lines of one message: same nodeId, start and end. */
bool ft_flowread_same_window(const struct ft_flowread_msg *a, const struct ft_flowread_msg *b);
/*
 * Appends src's entries to dst, keeps the larger "lost" and adds up tunDropped and the
 * omitted sums (the writer puts them on the first line only); 0 or -ENOMEM.
 */
int ft_flowread_merge(struct ft_flowread_msg *dst, const struct ft_flowread_msg *src);
/* Moves src into dst (dst's old contents freed); src is left zeroed. */
void ft_flowread_move(struct ft_flowread_msg *dst, struct ft_flowread_msg *src);

/* "virtual", "subnet", "exit", "physical"; ft_flowread_kind_parse() returns the kind or -EINVAL. */
const char *ft_flowread_kind_str(unsigned kind);
int ft_flowread_kind_parse(const char *s);

/*
 * Protocol names: tcp, udp, icmp, ipv6-icmp, fragment (255), invalid (FT_IPPROTO_INVALID), the
 * decimal number otherwise. parse takes a name or a number 0..255 and returns the proto or
 * -EINVAL. format writes into buf[FT_FLOWREAD_PROTO_STRLEN] and returns buf.
 */
#define FT_FLOWREAD_PROTO_STRLEN 12
const char *ft_flowread_proto_str(uint16_t proto, char *buf);
int ft_flowread_proto_parse(const char *s);

/*
 * Times: RFC 3339 ("2026-11-23T01:14:24.900Z", "2026-11-23T02:14:24+01:00", any number of
 * fraction digits, truncated to milliseconds), or a duration before now_ms: "90s", "10m", "2h",
 * "1d", "1h30m". 0 or -EINVAL (also for dates before 1970 or after 9999).
 */
int ft_flowread_parse_time(const char *s, uint64_t now_ms, uint64_t *out_ms);
/* A duration "500ms", "2s", "10m", "1h30m", "1d" or plain seconds, into ms; 0 or -EINVAL. */
int ft_flowread_parse_duration(const char *s, uint64_t *out_ms);
/* Writes "2026-11-23T01:14:24.900Z" (24 characters and the NUL). */
void ft_flowread_format_time(char buf[32], uint64_t ms);

struct ft_flowread_cidr {
	struct ft_addr addr; /* host bits cleared */
	uint8_t bits;
};

/* "100.64.0.0/10", "fd00::/8", or an address alone (/32, /128); 0 or -EINVAL. */
int ft_flowread_parse_cidr(const char *s, struct ft_flowread_cidr *c);
bool ft_flowread_cidr_match(const struct ft_flowread_cidr *c, const struct ft_addr *a);

/*
 * Filters. An entry passes when it passes every filter set: src/dst/host (the source, the
 * destination, either end within the CIDR; an invalid entry has no address and never
 * passes), port (either end), proto, kinds (a bit mask of 1 << kind; 0 passes all). A window
 * passes when it ends at or after since_ms and starts at or before until_ms.
 */
struct ft_flowread_filter {
	bool has_src, has_dst, has_host;
	struct ft_flowread_cidr src, dst, host;
	int port;  /* -1: any */
	int proto; /* -1: any */
	unsigned kinds;
	uint64_t since_ms, until_ms;
};

void ft_flowread_filter_init(struct ft_flowread_filter *f);
bool ft_flowread_window_match(const struct ft_flowread_filter *f, const struct ft_flowread_msg *m);
bool ft_flowread_entry_match(const struct ft_flowread_filter *f, const struct ft_flowread_entry *e);

/*
 * Aggregation over windows. Every group keeps the kind apart, since a physical byte is also
 * counted as a virtual one inside it:
 *   flow  kind, proto, src addr:port, dst addr:port
 *   src   kind, source address          dst   kind, destination address
 *   pair  kind, both addresses
 *   peer  kind and the peer's address: the source of a physical entry (the peer's overlay
 *         address) and the destination of the others (rx is keyed as tx, so dst is the far end)
 * Counters saturate at UINT64_MAX rather than wrap.
 */
enum ft_flowread_group {
	FT_FLOWREAD_GROUP_FLOW,
	FT_FLOWREAD_GROUP_SRC,
	FT_FLOWREAD_GROUP_DST,
	FT_FLOWREAD_GROUP_PAIR,
	FT_FLOWREAD_GROUP_PEER,
};

struct ft_flowread_row {
	struct ft_flowread_entry e;
	uint64_t first_ms, last_ms; /* start of the first window seen, end of the last */
	uint64_t windows;	    /* windows with at least one entry in the group */
	uint64_t seq;		    /* internal: the last window counted */
};

struct ft_flowread_agg;

/* "flow", "src", "dst", "pair", "peer" into *g; 0 or -EINVAL. */
int ft_flowread_group_parse(const char *s, enum ft_flowread_group *g);
/*
 * NULL with errno ENOMEM. The groups are hashed with SipHash-2-4 (libsodium's
 * crypto_shorthash) under a random key of this aggregation, so that addresses and ports
 * chosen by whoever sent the traffic cannot aim the logged flows at one probe chain.
 */
struct ft_flowread_agg *ft_flowread_agg_create(enum ft_flowread_group g);
/* The hash of a group key under a's key: for tests (two aggregations hash apart). */
uint64_t ft_flowread_agg_hash(const struct ft_flowread_agg *a, const struct ft_flowread_key *k);
void ft_flowread_agg_destroy(struct ft_flowread_agg *a);
/*
 * Adds e[0..n), entries of window m (m's own entries, or those of them that passed a filter),
 * as one window; 0 or -ENOMEM (the groups then hold part of it).
 */
int ft_flowread_agg_add(struct ft_flowread_agg *a, const struct ft_flowread_msg *m,
			const struct ft_flowread_entry *e, size_t n);
/*
 * Sorts the groups by bytes (tx + rx), or packets, largest first, ties by key, and returns
 * them in *rows (owned by a, valid until the next add or destroy). Returns the count.
 */
size_t ft_flowread_agg_sort(struct ft_flowread_agg *a, bool by_packets,
			    const struct ft_flowread_row **rows);

/* a + b, or UINT64_MAX when that would wrap. */
uint64_t ft_flowread_add_sat(uint64_t a, uint64_t b);

#endif
