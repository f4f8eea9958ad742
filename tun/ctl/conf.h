/* SPDX-License-Identifier: MIT */
#ifndef FT_CONF_H
#define FT_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "tun/net/tunring.h"
#include "tun/wg/aead.h"
#include "tun/wg/key.h"

/*
 * This module is named conf, not config: a tun/config.h would shadow autoconf's config.h for
 * every .c file in tun/, since a quoted #include "config.h" looks first in the directory of
 * the file that includes it.
 *
 * The configuration file of `flowtun up CONFIG`: the wg-quick format (an [Interface] section
 * and repeated [Peer] sections, `#` comments, keys case-insensitive, comma-separated lists)
 * plus flowtun's own [Interface] keys:
 *
 *   [Interface]  PrivateKey | PrivateKeyFile, ListenPort, Address (repeatable list), MTU,
 *                FwMark; ignored as in wg-quick: DNS, Table, PreUp, PostUp, PreDown,
 *                PostDown, SaveConfig; flowtun's: FlowLog (a path, "-" for stdout or
 *                "syslog"), FlowLogInterval, FlowLogMaxConns,
 *                FlowLogMaxEntriesPerSecond, LinkWatch (list of
 *                interfaces), LinkPollInterval, Statistics (on/off), IPFIX (collectors,
 *                repeatable), IPFIXTemplateInterval, Offload (on/off), UDPCoalesce
 *                (on/off), TunIO (auto/io_uring/syscalls), Workers (1..64), User, Seccomp,
 *                Crypto (auto/libsodium/openssl: the transport AEAD, tun/wg/aead.h)
 *                MetricsListen (ADDR:PORT, or off)
 *   [Peer]       PublicKey, PresharedKey, AllowedIPs (repeatable list), Endpoint,
 *                PersistentKeepalive
 *
 * Errors are written to errbuf as "FILE:LINE: what 'the bad value'" (secrets are never
 * quoted). A PrivateKeyFile readable or writable by group or others is refused; a relative
 * PrivateKeyFile is taken relative to the directory of the config file.
 */
enum {
	/* The TUN MTU at start when the config has none; it then follows the underlay. */
	FT_CONFIG_DEFAULT_MTU = 1420,
	FT_CONFIG_DEFAULT_FLOW_LOG_INTERVAL = 5,	 /* seconds */
	FT_CONFIG_DEFAULT_FLOW_LOG_MAX_CONNS = 1060,	 /* as Tailscale's connstats */
	FT_CONFIG_DEFAULT_LINK_POLL_INTERVAL = 2,	 /* seconds */
	FT_CONFIG_DEFAULT_IPFIX_TEMPLATE_INTERVAL = 600, /* seconds */
	/* Workers: threads of the packet path (queues of the TUN, sockets of one port). */
	FT_CONFIG_MAX_WORKERS = 64,
	/* A hub's 2^20 [Peer] sections of up to 256 bytes (WireGuard's peer limit per device). */
	FT_CONFIG_MAX_FILE_SIZE = 256 << 20,
	/*
	 * Flow-log entries per second (a burst of a minute's worth): a port scan cannot fill
	 * the disk, and a host with a thousand new connections a second logs them all.
	 */
	FT_CONFIG_DEFAULT_FLOW_LOG_MAX_ENTRIES_PER_S = 1000,
};

/* An address with its prefix length; addr holds 4 (AF_INET) or 16 (AF_INET6) bytes. */
struct ft_config_addr {
	int family;
	uint8_t addr[16];
	uint8_t cidr;
};

struct ft_config_peer {
	uint8_t public_key[FT_KEY_LEN];
	uint8_t *preshared_key; /* FT_KEY_LEN bytes in tun/wg/secmem.h's arena, or NULL */
	struct ft_config_addr *allowed_ips; /* host bits cleared */
	size_t n_allowed_ips;
	char *endpoint_host; /* as written (IPv6 without its brackets); NULL: no Endpoint */
	char *endpoint_port; /* decimal, 1-65535 */
	uint16_t persistent_keepalive; /* seconds; 0: off */
	unsigned int line;	       /* of its [Peer] header, for messages */
};

struct ft_config {
	uint8_t *private_key;	/* FT_KEY_LEN bytes of sodium_malloc memory; always set */
	char *private_key_file; /* the PrivateKeyFile read (relative ones resolved), or NULL */
	uint16_t listen_port;	/* 0: any free port */
	struct ft_config_addr *addresses; /* as written (host bits kept) */
	size_t n_addresses;
	uint32_t mtu;		    /* 0: none, the TUN MTU follows the underlay */
	uint32_t fwmark;	    /* 0: off */
	char *flow_log;		    /* a path, "-" for stdout, or NULL: no flow log */
	uint32_t flow_log_interval; /* seconds */
	uint32_t flow_log_max_conns;
	uint32_t flow_log_max_entries_per_s; /* 0: no rate limit */
	char **link_watch; /* interface names; none: those the peers' routes use */
	size_t n_link_watch;
	uint32_t link_poll_interval; /* seconds */
	char **ipfix; /* IPFIX collectors "HOST:PORT", as written; resolved by the data plane */
	size_t n_ipfix;
	uint32_t ipfix_template_interval; /* seconds between template refreshes */
	bool statistics;
	bool offload; /* TUN offloads (vnet header, TSO/USO, GRO); default on */
	/* UDPCoalesce: received UDP datagrams of a flow written as USO super-packets; default on */
	bool udp_coalesce;
	enum ft_tun_io tun_io; /* TunIO: the TUN's reads and writes (tun/net/tunring.h); auto */
	/* Workers: packet-path threads, each with its TUN queue and UDP socket; 0: unset (1) */
	uint32_t workers;
	char *user;    /* User: drop to it once up (tun/priv/privs.h); NULL: the default user */
	char *seccomp; /* Seccomp: on|kill|log|off; NULL: on with User, else off */
	enum ft_aead_impl crypto; /* Crypto: the transport AEAD; default auto */
	/* MetricsListen: "ADDR:PORT" of the /metrics endpoint (tun/ctl/metrics.h); NULL: off */
	char *metrics_listen;
	struct ft_config_peer *peers;
	size_t n_peers;
};

/*
 * Reads and parses a file. 0 and *cfg filled (release it with ft_config_free()), or a negative
 * errno with the reason in errbuf and *cfg empty: -EINVAL (a bad config), -ENOMEM, or the
 * error of opening or reading the file (or the private key file).
 */
int ft_config_load(const char *path, struct ft_config *cfg, char *errbuf, size_t errlen);

/*
 * flowtun's own settings for `flowtun IFACE` (wg-quick's mode), e.g. /etc/flowtun/IFACE.conf:
 * one [Interface] with flowtun's keys only (FlowLog, FlowLogInterval, FlowLogMaxConns,
 * FlowLogMaxEntriesPerSecond, LinkWatch, LinkPollInterval, Statistics, IPFIX,
 * IPFIXTemplateInterval, Crypto, MetricsListen). The WireGuard keys and [Peer] sections are
 * errors there: wg(8) sets them. private_key stays NULL.
 */
int ft_config_load_settings(const char *path, struct ft_config *cfg, char *errbuf, size_t errlen);

/* The same for text in memory; name stands for the file in messages. */
int ft_config_parse_string(const char *text, const char *name, struct ft_config *cfg, char *errbuf,
			   size_t errlen);

/* An empty configuration with every default set (no key, no peers). */
void ft_config_init_defaults(struct ft_config *cfg);

/* Wipes the secrets and frees everything; leaves *cfg empty. An empty *cfg is accepted. */
void ft_config_free(struct ft_config *cfg);

/* A count of workers, 1 to FT_CONFIG_MAX_WORKERS (--workers, FLOWTUN_WORKERS): 0 or -EINVAL. */
int ft_config_parse_workers(const char *s, unsigned int *out);

/*
 * "100.64.0.1/10", "fd00::1/64", or an address alone (a host prefix). With mask_host_bits the
 * bits past the prefix length are cleared. 0 or -EINVAL.
 */
int ft_config_parse_prefix(const char *s, bool mask_host_bits, struct ft_config_addr *out);

/*
 * Resolves an Endpoint: numeric IPv4 and IPv6 first (no lookup), then a name through
 * getaddrinfo(); the first IPv4 or IPv6 answer wins. Blocking: call it at start and on link-up,
 * not per packet. 0, or -ENOENT (no such name or no address), -EAGAIN (temporary failure),
 * -ENOMEM, -EINVAL.
 */
int ft_config_resolve_endpoint(const char *host, const char *port, struct sockaddr_storage *ss,
			       socklen_t *len);
/* The numeric forms only: never blocks. -ENOENT for anything else (a name), -EINVAL. */
int ft_config_resolve_numeric(const char *host, const char *port, struct sockaddr_storage *ss,
			      socklen_t *len);
/* The first IPv4 or IPv6 address of a getaddrinfo() answer: 0 or -ENOENT. */
struct addrinfo;
int ft_config_endpoint_from_addrinfo(const struct addrinfo *res, struct sockaddr_storage *ss,
				     socklen_t *len);

#endif
