/* SPDX-License-Identifier: MIT */
#ifndef FT_UAPI_CLIENT_H
#define FT_UAPI_CLIENT_H

/*
 * The client side of a get: an answer (get=1, or get=flowtun with flowtun's extras) parsed
 * into a device and its peers, as wireguard-tools' ipc.c does for wg(8). flowtun show reads
 * through it; tests/check_worker.c writes an answer with the worker's own get and reads it
 * back, field by field. Keys are those of uapi_keys.h; the extras' formats are the block
 * comment at the top of tun/worker/ctl.c.
 *
 * Hostile input: every value is length- and range-checked (numbers are decimal uint64 without
 * sign or overflow, multi-field values have exactly their number of single-space separated
 * fields, keys are 64 hex digits), and an answer that breaks a rule is refused as a whole
 * with the line and the key (never the value: it may be a secret). Keys not in uapi_keys.h
 * are skipped, as wg(8) skips them: a newer server may say more. The private and preshared
 * keys are wiped from the text as soon as they are read; only the public key derived from
 * the private one and whether a preshared key is set are kept. Not thread-safe per info;
 * no I/O.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tun/wg/key.h"

struct ft_uapi_info_link {
	const char *name, *state;
	uint64_t since_ms;
	bool has_changes;
	uint64_t changes;
};

struct ft_uapi_info_status_count {
	uint64_t status, count;
};

struct ft_uapi_info_counter {
	const char *name;
	uint64_t value;
};

struct ft_uapi_info_top {
	unsigned int proto;
	const char *src, *dst;
	uint64_t tx_packets, tx_bytes, rx_packets, rx_bytes;
};

struct ft_uapi_info_peer {
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
	size_t index;	   /* position in the answer */
};

/* One interface's answer. Strings point into the parsed text, which must outlive it. */
struct ft_uapi_info {
	bool has_public_key;
	char public_key[FT_KEY_B64_LEN + 1];
	uint64_t listen_port, fwmark;
	const char *iface;
	const char *crypto;	    /* the transport AEAD in use, or NULL (an older server) */
	const char *udp_coalesce;   /* "on" or "off", or NULL (an older server) */
	const char *tun_io;	    /* "io_uring" or "syscalls", or NULL (an older server) */
	uint64_t workers;	    /* threads of the packet path; 0: not said (an older server) */
	const char *worker_packets; /* "P0 P1 ...": what each took in; NULL with one worker */
	uint64_t mtu;		    /* 0: not said (an older server) */
	const char *mtu_source;	    /* underlay, config or external */
	struct ft_uapi_info_link *links;
	size_t n_links, cap_links;
	struct ft_uapi_info_counter *counters;
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
	struct ft_uapi_info_status_count *metrics_requests;
	size_t n_metrics_requests, cap_metrics_requests;
	uint64_t metrics_write_timeouts, metrics_last_ns, metrics_last_longest_ns;
	uint64_t metrics_last_cpu_ns, metrics_last_longest_cpu_ns;
	uint64_t metrics_last_slices, metrics_last_bytes;
	struct ft_uapi_info_top *top;
	size_t n_top, cap_top;
	struct ft_uapi_info_peer *peers;
	size_t n_peers, cap_peers;
};

/* Where a refused answer broke a rule. */
struct ft_uapi_info_error {
	unsigned int line; /* 1-based; 0: the answer ended without an errno line */
	char key[65];	   /* the key of that line, cut at 64 bytes; "" for a line without '=' */
	uint64_t server_errno; /* with -ENOEXEC: the errno the server answered */
};

/*
 * Parses text (NUL-terminated: the answer up to and including its blank line, or more) in
 * place into *info, which it zeroes first. 0 when the answer ends with errno=0; -ENOEXEC
 * when the server answered a non-zero errno (err->server_errno); -EBADMSG for a malformed
 * answer or one that ends without an errno line (err->line, err->key); -ENOMEM. On any
 * error, *info holds what was parsed so far: free it with ft_uapi_info_free() in any case.
 */
int ft_uapi_info_parse(struct ft_uapi_info *info, char *text, struct ft_uapi_info_error *err);

/* Frees the arrays of info (not the text) and zeroes it. */
void ft_uapi_info_free(struct ft_uapi_info *info);

/* The counter called name (flowtun_counter=NAME VALUE): true and *value, or false. */
bool ft_uapi_info_counter(const struct ft_uapi_info *info, const char *name, uint64_t *value);

#endif
