/* SPDX-License-Identifier: MIT */
#ifndef FT_UAPI_KEYS_H
#define FT_UAPI_KEYS_H

/*
 * Every key of a get answer, named once. The writers (tun/worker/ctl.c, and the server's
 * errno line in uapi_server.c) and the client parser (uapi_client.c, used by flowtun show)
 * name a key as FT_UAPI_KEY(name): a misspelt key does not compile, and a key added here is
 * known to both sides. wireguard-go's keys first, in the order it writes them, then flowtun's
 * extras (get=flowtun only; their format is the block comment at the top of
 * tun/worker/ctl.c). The set side's own keys (replace_peers, remove, update_only,
 * replace_allowed_ips) are listed too, for uapi.c's parser.
 *
 * X(name): the key as it is on the wire, which is also its C name (FT_UAPI_KEY_name).
 */
#define FT_UAPI_KEYS(X)                   \
	X(errno)                          \
	X(private_key)                    \
	X(listen_port)                    \
	X(fwmark)                         \
	X(replace_peers)                  \
	X(public_key)                     \
	X(remove)                         \
	X(update_only)                    \
	X(preshared_key)                  \
	X(protocol_version)               \
	X(endpoint)                       \
	X(last_handshake_time_sec)        \
	X(last_handshake_time_nsec)       \
	X(tx_bytes)                       \
	X(rx_bytes)                       \
	X(persistent_keepalive_interval)  \
	X(replace_allowed_ips)            \
	X(allowed_ip)                     \
	X(flowtun_interface)              \
	X(flowtun_crypto)                 \
	X(flowtun_udp_coalesce)           \
	X(flowtun_tun_io)                 \
	X(flowtun_workers)                \
	X(flowtun_worker_packets)         \
	X(flowtun_mtu)                    \
	X(flowtun_version)                \
	X(flowtun_link)                   \
	X(flowtun_link_changes)           \
	X(flowtun_counter)                \
	X(flowtun_flowlog)                \
	X(flowtun_flowlog_lines)          \
	X(flowtun_flowlog_lost)           \
	X(flowtun_flowlog_error)          \
	X(flowtun_flowlog_omitted)        \
	X(flowtun_flowlog_pending)        \
	X(flowtun_stats_overflow)         \
	X(flowtun_window_tun_dropped)     \
	X(flowtun_ipfix)                  \
	X(flowtun_ipfix_messages)         \
	X(flowtun_ipfix_errors)           \
	X(flowtun_metrics)                \
	X(flowtun_metrics_requests)       \
	X(flowtun_metrics_write_timeouts) \
	X(flowtun_metrics_last_scrape)    \
	X(flowtun_window_start_ms)        \
	X(flowtun_window_connections)     \
	X(flowtun_top)                    \
	X(flowtun_peer_state)             \
	X(flowtun_peer_state_since)       \
	X(flowtun_peer_path)              \
	X(flowtun_peer_path_mtu)

/* (A key passed to ## or # is not macro-expanded: errno stays the word errno here.) */
enum ft_uapi_key {
	FT_UAPI_KEY_NONE, /* not a key of this list (a newer server's: skipped) */
#define FT_UAPI_KEY_ENUM_(name) FT_UAPI_KEY_##name,
	FT_UAPI_KEYS(FT_UAPI_KEY_ENUM_)
#undef FT_UAPI_KEY_ENUM_
		FT_UAPI_KEY_COUNT
};

extern const char *const ft_uapi_key_names[FT_UAPI_KEY_COUNT];

/* The wire name of a key: FT_UAPI_KEY(listen_port) is "listen_port". */
#define FT_UAPI_KEY(name) (ft_uapi_key_names[FT_UAPI_KEY_##name])

/* The key named by the len bytes at s (not NUL-terminated), or FT_UAPI_KEY_NONE. O(1). */
enum ft_uapi_key ft_uapi_key_find(const char *s, size_t len);

#endif
