/* SPDX-License-Identifier: MIT */
#ifndef FT_WORKER_INTERNAL_H
#define FT_WORKER_INTERNAL_H

/*
 * The worker's state, shared by its files and nobody else: worker.c (the packet path),
 * worker_setup.c (set-up and tear-down), worker_peers.c (peers, routes, link monitor, reload),
 * worker_flows.c (flow records) and worker_ctl.c (the userspace API backend and the status).
 * Loop thread only.
 */
#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

#include "link/link.h"
#include "stats/connstats.h"
#include "stats/flowwriter.h"
#include "stats/ipfix.h"
#include "stats/packet.h"
#include "tun/key.h"
#include "tun/metrics.h"
#include "tun/proto.h"
#include "tun/rtnl.h"
#include "tun/uapi.h"
#include "tun/udp.h"
#include "tun/worker.h"

enum {
	FT_WORKER_BATCH = 64, /* packets or datagrams per callback: bounds the work per wake-up */
	/* Outbound slots: a super-packet read with offloads on splits into up to 45 of them. */
	FT_WORKER_TUN_SLOTS = 128,
	FT_WORKER_TX_SLOTS = 2 * FT_WORKER_BATCH,
	/* A datagram larger than this cannot be ours: an MTU of 65535 plus the overhead. */
	FT_WORKER_RX_BUF = 65536,
	/* More handshake initiations than this in one second puts the device under load. */
	FT_WORKER_LOAD_INITIATIONS = 128,
	FT_WORKER_MAX_LINKS = 16,
	FT_WORKER_MAX_IPFIX = 8,
};

/* What `flowtun show` says of a peer's path. */
enum ft_path_state {
	FT_PATH_NO_SESSION, /* no handshake yet, nothing failing */
	FT_PATH_UP,	    /* a session we can send with */
	FT_PATH_LINK_DOWN,  /* the underlay link of its route is down */
	FT_PATH_FAILING,    /* handshakes sent, no answer */
};

/* What the worker keeps per peer beside the protocol's own state. */
struct wpeer {
	struct ft_peer *peer;
	uint8_t public_key[FT_KEY_LEN];
	uint8_t *psk;		/* FT_KEY_LEN bytes of sodium_malloc memory, or NULL */
	uint16_t keepalive;	/* seconds, for the userspace API */
	struct ft_addr overlay; /* the peer's first AllowedIP: the physical stats key */
	char *endpoint_host, *endpoint_port;
	char path_ifname[IFNAMSIZ]; /* where the route to the endpoint leaves; "" unknown */
	bool path_down;
	enum ft_path_state shown_state; /* as last reported, and since when (wall clock, s) */
	uint64_t shown_since;
	uint64_t initiations_seen;     /* the device's initiation counter when last looked at */
	struct ft_rtnl_prefix *routes; /* its configured AllowedIPs */
	bool *route_added;	       /* which of them this worker added to the routing table */
	size_t n_routes;
	/* Physical counts of the current batch, flushed to the stats once per batch. */
	uint64_t tx_pkts, tx_bytes, rx_pkts, rx_bytes;
	struct sockaddr_storage rx_from;
	bool dirty;
};

/* The UDP socket's poll handle: allocated, so that a new listen port can replace it. */
struct udp_handle {
	uv_poll_t poll;
	struct ft_worker *w;
};

struct link_seen {
	char name[IFNAMSIZ];
	enum ft_link_state state;
	uint64_t since_ms;
	uint64_t changes; /* state changes seen, the first sample included */
};

struct ft_worker {
	uv_loop_t *loop;
	char ifname[IFNAMSIZ];
	char *config_path;
	int ifindex;
	uint32_t mtu;
	bool link_reaction;
	bool manage_routes;
	ft_worker_gone_cb gone;
	void *gone_arg;
	bool gone_reported;

	int tun_fd;
	uv_poll_t tun_poll;
	struct ft_udp udp;
	struct udp_handle *udp_handle;
	uint32_t fwmark;
	uv_timer_t proto_timer;
	uint64_t armed_deadline;
	bool handles_ready;

	struct ft_rtnl *rtnl;
	struct ft_proto *proto;
	uint8_t *private_key; /* FT_KEY_LEN bytes of sodium_malloc memory, or NULL */
	struct ft_connstats *stats;
	struct ft_link_monitor *link;
	struct link_seen links[FT_WORKER_MAX_LINKS];
	size_t n_links;
	struct ft_flowwriter *flow;
	char *flow_dest; /* as configured: a path, "-" or "syslog" */
	struct ft_ipfix_exporter *ipfix;
	char *ipfix_names[FT_WORKER_MAX_IPFIX];
	size_t n_ipfix;
	struct ft_uapi_server *uapi;
	struct ft_metrics_server *metrics; /* the /metrics endpoint (worker_metrics.c), or NULL */

	struct wpeer *peers;
	size_t n_peers;
	uint64_t peers_generation; /* changes with every peer added or removed (the metrics) */
	struct wpeer **dirty;
	size_t n_dirty;
	struct ft_rtnl_prefix *addrs; /* our own addresses, as configured */
	bool *addr_added;
	size_t n_addrs;

	/* Outbound slots: head room, the packet, tail room. */
	uint8_t *tun_block;
	size_t slot_size;
	uint8_t *tun_slot[FT_WORKER_TUN_SLOTS]; /* each slot's start: the head room */
	struct iovec tun_iov[FT_WORKER_TUN_SLOTS];
	size_t tun_len[FT_WORKER_TUN_SLOTS];
	const uint8_t *stat_pkts[FT_WORKER_TUN_SLOTS];
	size_t stat_lens[FT_WORKER_TUN_SLOTS];
	/* Offloads: the TUN speaks vnet headers; super-packets are read whole and split, and
	 * received packets are coalesced before they are written. */
	bool vnet;
	bool udp_offload;      /* UDP_SEGMENT and UDP_GRO on the underlay socket (with vnet) */
	unsigned int offloads; /* FT_TUN_F_* set on the device */
	unsigned int batch;    /* TUN reads and datagrams per wake-up, 1..FT_WORKER_BATCH */
	uint8_t *tun_read_buf; /* one super-packet behind its vnet header */
	struct iovec gro_in[FT_WORKER_BATCH];
	struct iovec gro_out[FT_WORKER_BATCH];
	unsigned int n_gro;
	uint8_t *gro_arena;
	size_t gro_arena_len;
	struct ft_udp_batch *rx;
	struct ft_udp_batch *tx;
	void *tx_own[FT_WORKER_TX_SLOTS]; /* each tx slot's own buffer, for copied messages */
	struct wpeer *tx_peer[FT_WORKER_TX_SLOTS];
	unsigned int tx_count;
	uint8_t reply[FT_PROTO_REPLY_MAX];

	char node_id[FT_KEY_B64_LEN + 1];
	char node_name[64];

	uint64_t load_window_ns;
	uint32_t load_count;
	uint64_t under_load_until_ns;

	struct ft_worker_counters counters;
	bool closing;
	int pending_closes;
	ft_worker_close_cb close_cb;
	void *close_arg;
};

/* worker.c */
uint64_t ft_worker_now_ns(void);
void ft_worker_end_batch(struct ft_worker *w);
void ft_worker_flush_all(struct ft_worker *w);
struct wpeer *ft_worker_find_peer_by_key(struct ft_worker *w, const uint8_t key[FT_KEY_LEN]);
/* Adds a peer (no routes unless routes is given and the worker manages routes). */
int ft_worker_peer_add(struct ft_worker *w, const struct ft_peer_config *pc,
		       const struct ft_config_peer *cp, char *err, size_t errlen);
void ft_worker_peer_remove(struct ft_worker *w, struct wpeer *wp);
int ft_worker_peer_set_psk(struct wpeer *wp, const uint8_t *psk);
void ft_worker_set_node_id(struct ft_worker *w);
int ft_worker_rebind(struct ft_worker *w, struct ft_udp *fresh);
int ft_worker_set_fwmark(struct ft_udp *u, uint32_t mark);

void ft_worker_report_gone(struct ft_worker *w, const char *why);
void ft_worker_on_tun(uv_poll_t *h, int status, int events);
void ft_worker_on_udp(uv_poll_t *h, int status, int events);
void ft_worker_proto_send_cb(void *arg, struct ft_peer *peer, const uint8_t *msg, size_t len,
			     const struct sockaddr *dst);

/* worker_peers.c */
void ft_worker_prefix_from_config(const struct ft_config_addr *a, struct ft_rtnl_prefix *p);
void ft_worker_peer_free(struct wpeer *wp);
int ft_worker_peer_resolve(struct ft_worker *w, struct wpeer *wp, char *err, size_t errlen);
void ft_worker_peer_remove_routes(struct ft_worker *w, struct wpeer *wp);
int ft_worker_config_peer_add(struct ft_worker *w, const struct ft_config_peer *cp, char *err,
			      size_t errlen);
void ft_worker_link_start(struct ft_worker *w, const struct ft_config *cfg, bool underlay);

/* worker_flows.c */
void ft_worker_on_dump(void *arg, uint64_t start_ms, uint64_t end_ms, const struct ft_conn_entry *v,
		       size_t nv, const struct ft_conn_entry *p, size_t np);
int ft_worker_flow_start(struct ft_worker *w, const char *dest, char *err, size_t errlen);
int ft_worker_ipfix_start(struct ft_worker *w, const struct ft_config *cfg, char *err,
			  size_t errlen);

/* worker_metrics.c */
/* Starts the /metrics endpoint of cfg->metrics_listen (none when NULL); 0 or a negative errno. */
int ft_worker_metrics_start(struct ft_worker *w, const struct ft_config *cfg, char *err,
			    size_t errlen);
/* True when cfg asks for another endpoint than the one running: that needs a restart. */
bool ft_worker_metrics_changed(const struct ft_worker *w, const struct ft_config *cfg);

/* worker_metrics_peers.c: the peers' families of a scrape, in slices. */
struct ft_worker_scrape;
/* *out NULL when there are no peers; 0 or -ENOMEM. */
int ft_worker_scrape_start(struct ft_worker *w, struct ft_worker_scrape **out);
/* Works until mw's deadline: 0 when done, FT_METRICS_MORE, or a negative errno. */
int ft_worker_scrape_slice(struct ft_worker_scrape *sc, struct ft_metrics_writer *mw);
void ft_worker_scrape_free(struct ft_worker_scrape *sc); /* NULL is accepted */
/* The link state names of flowtun show and the metrics: "link", "no-link", "error", "unknown". */
const char *ft_worker_link_state_str(enum ft_link_state s);

/* worker_ctl.c */
extern const struct ft_uapi_ops ft_worker_uapi_ops;
enum ft_path_state ft_worker_path_state(struct ft_worker *w, struct wpeer *wp, uint64_t now_ns);
/* The same from what ft_peer_get_info() just read of the peer (the metrics read it anyway). */
enum ft_path_state ft_worker_path_state_of(struct ft_worker *w, struct wpeer *wp,
					   const struct ft_peer_info *info);
const char *ft_worker_path_state_str(enum ft_path_state s);

#endif
