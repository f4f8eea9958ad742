/* SPDX-License-Identifier: MIT */
#ifndef FT_CMD_SHOW_INTERNAL_H
#define FT_CMD_SHOW_INTERNAL_H

/*
 * flowtun show's parsed answer, shared by its three files and nobody else: cmd_show.c (the
 * command and the parsing of the answer), cmd_show_query.c (the request and the answer over
 * the API socket) and cmd_show_print.c (the text and JSON renderings of it).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "tun/ctl/uapi.h"
#include "tun/wg/key.h"

enum {
	/* Far above any real answer (8192 peers take about 4 MiB), far below a memory hog. */
	SHOW_MAX_ANSWER = 8 << 20,
	SHOW_READ_CHUNK = 64 << 10,
	SHOW_TIMEOUT_S = 5,
	SHOW_IFNAME_MAX = 15, /* IFNAMSIZ - 1 */
};

struct show_link {
	const char *name, *state;
	uint64_t since_ms;
	bool has_changes;
	uint64_t changes;
};

struct show_status_count {
	uint64_t status, count;
};

struct show_counter {
	const char *name;
	uint64_t value;
};

struct show_top {
	unsigned int proto;
	const char *src, *dst;
	uint64_t tx_packets, tx_bytes, rx_packets, rx_bytes;
};

struct show_peer {
	char public_key[FT_KEY_B64_LEN + 1];
	bool has_psk;
	const char *endpoint;
	const char **allowed;
	size_t n_allowed, cap_allowed;
	uint64_t handshake_sec, handshake_nsec;
	uint64_t rx_bytes, tx_bytes;
	uint64_t keepalive;
	const char *state;
	uint64_t state_since;
	const char *path;
	uint64_t path_mtu; /* 0: not said */
	size_t index;	   /* position in the answer: the tie-breaker of the sort */
};

/* One interface's answer, parsed. Strings point into buf. */
struct show_dev {
	char name[SHOW_IFNAME_MAX + 1];
	char *buf;
	size_t len, cap;
	bool extras; /* answered get=flowtun (not an older server's get=1) */
	bool has_public_key;
	char public_key[FT_KEY_B64_LEN + 1];
	uint64_t listen_port, fwmark;
	const char *iface;
	const char *crypto;	  /* the transport AEAD in use, or NULL (an older server) */
	const char *udp_coalesce; /* "on" or "off", or NULL (an older server) */
	uint64_t mtu;		  /* 0: not said (an older server) */
	const char *mtu_source;	  /* underlay, config or external */
	struct show_link *links;
	size_t n_links, cap_links;
	struct show_counter *counters;
	size_t n_counters, cap_counters;
	const char *flowlog;
	uint64_t flowlog_lines, flowlog_lost, flowlog_error;
	uint64_t flowlog_omitted, flowlog_pending; /* rate limit; windows not yet formatted */
	bool has_stats_overflow, has_window_tun_dropped;
	uint64_t stats_overflow;     /* packets counted without an entry: the writers were behind */
	uint64_t window_tun_dropped; /* the kernel's TUN drops in the open window */
	const char **ipfix;
	size_t n_ipfix, cap_ipfix;
	bool has_ipfix_counts;
	uint64_t ipfix_messages, ipfix_errors;
	bool has_window;
	uint64_t window_start_ms;
	bool has_window_conns;
	uint64_t window_virtual, window_physical;
	const char *version;
	const char *metrics; /* the /metrics endpoint's address, or NULL */
	struct show_status_count *metrics_requests;
	size_t n_metrics_requests, cap_metrics_requests;
	uint64_t metrics_write_timeouts, metrics_last_ns, metrics_last_longest_ns;
	uint64_t metrics_last_cpu_ns, metrics_last_longest_cpu_ns;
	uint64_t metrics_last_slices, metrics_last_bytes;
	struct show_top *top;
	size_t n_top, cap_top;
	struct show_peer *peers;
	size_t n_peers, cap_peers;
	char err[256]; /* why the query failed */
};

struct show_opts {
	bool json;
	bool all;
	uint64_t now; /* wall-clock seconds */
};

/* cmd_show_query.c */
/* The API socket of interface name, or -ENAMETOOLONG. */
int ft_show_socket_path(char out[FT_UAPI_PATH_LEN], const char *name);
/*
 * Sends request to d->name's socket and reads the answer into d->buf, NUL-terminated, through
 * the blank line that ends it. 0, or a negative errno with d->err saying what failed.
 */
int ft_show_query(struct show_dev *d, const char *request);

/* cmd_show_print.c */
/* Prints d as wg(8) does, with the flowtun extras, to f. */
void ft_show_print_device(FILE *f, const struct show_dev *d, const struct show_opts *o);

/* d as a new JSON object (the caller owns it, json_decref()), or NULL when out of memory. */
json_t *ft_show_device_json(const struct show_dev *d);

#endif
