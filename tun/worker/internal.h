/* SPDX-License-Identifier: MIT */
#ifndef FT_WORKER_INTERNAL_H
#define FT_WORKER_INTERNAL_H

/*
 * The worker's state, shared by its files and nobody else. Loop thread only. The files:
 *
 *   worker.c         the packet path: TUN and UDP batches through the protocol, the send
 *                    batch, the counts (virtual and physical), the protocol's timer, each
 *                    peer's path state noted at the end of a batch
 *   setup.c          set-up and tear-down: the TUN device, the UDP socket (and its
 *                    replacement), the packet buffers, the API socket, the close
 *   peers.c          the peers beside the protocol's (struct wpeer): add, remove, their
 *                    AllowedIPs and routes, the link monitor, SIGHUP's reload
 *   path.c           the path to each endpoint: route and address events, the kick of a path
 *                    that came back
 *   resolve.c        endpoint names resolved off the loop (libuv's pool)
 *   mtu.c            the TUN MTU against the underlay's, each peer's path MTU
 *   flows.c          statistics dumps to the flow log and IPFIX, the kernel's TUN drops
 *   ctl.c            the userspace API backend (get, set, get=flowtun) and the SIGUSR1 status
 *   metrics.c        the /metrics families of the worker
 *   metrics_peers.c  the peers' families, written in slices
 *
 * Only worker.c runs inside a packet batch, and from it mtu.c (a refused UDP_SEGMENT run) and
 * flows.c (a statistics dump); the others run between batches. runner.c, the daemon around a
 * worker, uses worker.h only, as any caller would.
 */
#include <net/if.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

#include "link/link.h"
#include "stats/connstats.h"
#include "stats/flowwriter.h"
#include "stats/ipfix.h"
#include "stats/packet.h"
#include "tun/wg/key.h"
#include "tun/ctl/metrics.h"
#include "tun/wg/proto.h"
#include "tun/net/netconf.h"
#include "tun/net/tunring.h"
#include "tun/ctl/uapi.h"
#include "tun/net/udp.h"
#include "tun/worker/worker.h"

enum {
	FT_WORKER_BATCH = 64, /* packets or datagrams per callback: bounds the work per wake-up */
	/*
	 * Outbound slots: a super-packet read with offloads on splits into up to 45 of them
	 * (hundreds with a small MSS: those are sent in parts, the slots refilled in between).
	 */
	FT_WORKER_TUN_SLOTS = 128,
	FT_WORKER_TX_SLOTS = 2 * FT_WORKER_BATCH,
	/* Received transport messages whose AEAD waits for the batch's end (UDP_GRO: many). */
	FT_WORKER_RX_OPENS = 2 * FT_WORKER_BATCH,
	/* A datagram larger than this cannot be ours: an MTU of 65535 plus the overhead. */
	FT_WORKER_RX_BUF = 65536,
	FT_WORKER_MAX_LINKS = 16,
	FT_WORKER_MAX_IPFIX = 8,
	/* Endpoint names resolved at once in libuv's pool, which the flow-log writes share. */
	FT_WORKER_MAX_RESOLVES = 2,
	/* TunIO = io_uring: reads kept in flight on the TUN, each into a 64 KiB buffer. */
	FT_WORKER_RING_READS = 32,
	/*
	 * Workers = N: a lane's statistics shard holds up to this many connections between two
	 * merges (fewer if the flow log's MaxConns is lower), in this many windows (the filling
	 * one and those a full shard handed over); more new connections meanwhile go to its
	 * overflow counts, as in the worker's own table when its writers fall behind.
	 */
	FT_WORKER_SHARD_CONNS = 8192,
	FT_WORKER_SHARD_WINDOWS = 4,
};

/* What `flowtun show` says of a peer's path. */
enum ft_path_state {
	FT_PATH_NO_SESSION, /* no handshake yet, nothing failing */
	FT_PATH_UP,	    /* a session we can send with */
	FT_PATH_LINK_DOWN,  /* the underlay link of its route is down */
	FT_PATH_FAILING,    /* handshakes sent, no answer */
};

/*
 * What the worker keeps per peer beside the protocol's own state. Each is its own allocation
 * that never moves while the peer exists: the send batch (tx_peer) and the dirty list point at
 * it, and its ft_peer points back at it (ft_peer_ctx), so the packet path never searches.
 * Removing a peer flushes the batch first, so that no pointer to it outlives it.
 */
struct wpeer {
	struct ft_peer *peer;
	uint8_t public_key[FT_KEY_LEN];
	uint16_t keepalive;	/* seconds, for the userspace API */
	struct ft_addr overlay; /* the peer's first AllowedIP: the physical stats key */
	char *endpoint_host, *endpoint_port;
	char path_ifname[IFNAMSIZ]; /* where the route to the endpoint leaves; "" unknown */
	bool path_down;
	enum ft_path_state shown_state; /* as last reported, and since when (wall clock, s) */
	uint64_t shown_since;
	uint64_t initiations_seen;	  /* the device's initiation counter when last looked at */
	struct ft_netconf_prefix *routes; /* its configured AllowedIPs */
	bool *route_added;		  /* which of them this worker added to the routing table */
	size_t n_routes;
	/*
	 * Physical counts of the current batch, flushed to the stats once per batch: the
	 * datagrams counted here, their bytes taken from the protocol's counts of the peer
	 * (ft_peer_transfer(), the only byte counts kept) less what the last flush handed on.
	 */
	uint64_t tx_pkts, rx_pkts;
	uint64_t tx_flushed, rx_flushed;
	struct sockaddr_storage rx_from;
	bool dirty;
	bool doomed; /* ft_worker_peers_remove_doomed(): goes in the next batch removal */
	/* uapi_set: its AllowedIPs were cleared in the request's batch; its entry need not. */
	bool ips_cleared;

	/*
	 * The endpoint the worker set last (from the configuration, the API or a resolution), or
	 * what it was when the configured one changed: the protocol's endpoint differs from it
	 * only when the peer roamed since, and a roamed endpoint is kept (resolve.c).
	 */
	struct sockaddr_storage ep_set;
	uint64_t resolve_gen;	   /* the resolution of endpoint_host in flight; 0: none */
	unsigned int resolve_wait; /* FT_RESOLVE_* + FT_RESOLVE_WANTED: waits for a free slot */
	/* The path to the endpoint and its kick when it comes back (path.c). */
	bool path_routable; /* the kernel had a route at the last look */
	bool path_lost;	    /* a route or address change may have taken it */
	int path_oif;	    /* the link of that route */
	struct wpeer_kick {
		uint64_t start_ns, last_copy_ns;
		uint8_t initiations; /* new initiations sent by this kick */
		uint8_t copies;	     /* sends of the last one, itself and its copies */
		bool active;
	} kick;
	/*
	 * The underlay path to the endpoint (mtu.c): path_mtu is the IP packet size it
	 * carries as flowtun uses it (the route's MTU, else its link's, lowered by a refused
	 * UDP_SEGMENT send), 0 when unknown; seg_max the longest datagram sent to it in a
	 * UDP_SEGMENT run (0: any); refused_len the shortest datagram of a refused run since
	 * the last route or link change (0: none), refused_new until that was logged;
	 * path_for the endpoint address they were found for (family 0: none).
	 */
	uint32_t path_mtu;
	uint16_t seg_max;
	uint16_t refused_len;
	bool refused_new;
	struct ft_addr path_for;
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

/* Who decides the TUN MTU (mtu.c). */
enum ft_mtu_source {
	FT_MTU_UNDERLAY, /* no MTU in the config: flowtun sets it from the paths to the peers */
	FT_MTU_CONFIG,	 /* MTU = N: set once at start */
	FT_MTU_EXTERNAL, /* someone else set it (wg-quick, ip link): flowtun follows, never sets */
};

struct ft_worker {
	uv_loop_t *loop;
	char ifname[IFNAMSIZ];
	char *config_path;
	int ifindex;
	uint32_t mtu; /* the TUN MTU the data plane works with (mtu.c changes it) */
	/* The TUN MTU's management (mtu.c): the config's MTU (0: none), the device's MTU
	 * as flowtun last set or saw it, the largest MTU the packet buffers hold. */
	enum ft_mtu_source mtu_source;
	uint32_t mtu_config;
	uint32_t mtu_dev;
	uint32_t mtu_cap;
	struct ft_netconf_watch *mtu_watch;
	uv_poll_t mtu_poll;   /* on mtu_watch's socket, when it opened */
	uv_timer_t mtu_timer; /* a recompute soon after an event, else the endpoint check */
	bool mtu_handles;     /* mtu_timer (and mtu_poll when mtu_watch) initialised */
	bool mtu_due;	      /* a recompute is pending */
	bool mtu_dev_due;     /* a look at the device's own MTU is pending */
	bool mtu_events;      /* a route or link changed since the last recompute */
	size_t mtu_peers;     /* n_peers at the last recompute */
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
	uint64_t tick_now; /* the clock of the tick under way (ft_worker_proto_ticked_cb) */
	bool handles_ready;

	struct ft_netconf *rtnl;
	struct ft_proto *proto;
	uint8_t *private_key; /* FT_KEY_LEN bytes of sodium_malloc memory, or NULL */
	struct ft_connstats *stats;
	struct ft_link_monitor *link;
	struct link_seen links[FT_WORKER_MAX_LINKS];
	size_t n_links;
	/* path.c: route and address events, kicks of paths that came back. */
	struct ft_netconf_events *path_events;
	uv_poll_t path_poll;
	uv_timer_t kick_timer;
	bool path_handles;
	size_t n_kicking;
	/* resolve.c: endpoint names in libuv's pool. */
	struct resolve_req *resolves; /* in flight */
	unsigned int n_resolving;
	uint64_t resolve_last_gen;
	struct ft_flowwriter *flow;
	char *flow_dest; /* as configured: a path, "-" or "syslog" */
	struct ft_ipfix_exporter *ipfix;
	char *ipfix_names[FT_WORKER_MAX_IPFIX];
	size_t n_ipfix;
	/*
	 * The TUN device's tx_dropped (packets the kernel dropped at its queue before we read
	 * them) as read at the last flow-log message (at start before the first), and the drops
	 * reported since start (flows.c).
	 */
	uint64_t tun_drops_raw, tun_drops_total;
	bool tun_drops_ok, tun_drops_warned;
	struct ft_conn_window flows_final; /* the last message's, when it has drops only */
	struct ft_uapi_server *uapi;
	struct ft_metrics_server *metrics; /* the /metrics endpoint (metrics.c), or NULL */

	/* The peers in the order of addition, for iteration; each wpeer is its own allocation. */
	struct wpeer **peers;
	size_t n_peers, cap_peers;
	struct wpeer **dirty;	   /* cap_peers entries: each peer at most once */
	uint64_t peers_generation; /* changes with every peer added or removed (the metrics) */
	size_t n_dirty;
	struct ft_netconf_prefix *addrs; /* our own addresses, as configured */
	bool *addr_added;
	size_t n_addrs;

	/* Outbound slots: head room, the packet, tail room. */
	uint8_t *tun_block;
	size_t slot_size;
	uint8_t *tun_slot[FT_WORKER_TUN_SLOTS]; /* each slot's start: the head room */
	struct iovec tun_iov[FT_WORKER_TUN_SLOTS];
	size_t tun_len[FT_WORKER_TUN_SLOTS];
	/* The packets of one statistics batch (virtual rx: those written to the TUN). */
	const uint8_t *stat_pkts[FT_WORKER_TUN_SLOTS];
	size_t stat_lens[FT_WORKER_TUN_SLOTS];
	/* Offloads: the TUN speaks vnet headers; super-packets are read whole and split, and
	 * received packets are coalesced before they are written. */
	bool vnet;
	bool tun_standin;      /* tun_fd is not a device (ft_worker_options) */
	bool udp_offload;      /* UDP_SEGMENT and UDP_GRO on the underlay socket (with vnet) */
	unsigned int offloads; /* FT_TUN_F_* set on the device */
	/* UDP datagrams of a flow are coalesced into USO super-packets before the write: the
	 * TUN takes them (USO4/6, a probe write) and nobody switched it off. */
	bool udp_coalesce;
	unsigned int batch;    /* TUN reads and datagrams per wake-up, 1..FT_WORKER_BATCH */
	uint8_t *tun_read_buf; /* one super-packet behind its vnet header */
	struct iovec gro_in[FT_WORKER_BATCH];
	struct iovec gro_out[FT_WORKER_BATCH];
	unsigned int gro_owner[FT_WORKER_BATCH]; /* the output that carries each input */
	bool gro_written[FT_WORKER_BATCH];	 /* each output's write succeeded */
	unsigned int n_gro;
	int gro_result[FT_WORKER_BATCH]; /* each write's result: 0 or a negative errno */
	/*
	 * TunIO = io_uring (tun/net/tunring.h): the TUN's reads complete in the ring (its fd is
	 * what tun_poll watches), and the packets of a receive batch are gathered (as with
	 * offloads) and written in one submission at its end. NULL: read(2)/write(2).
	 */
	struct ft_tunring *ring;
	struct ft_tunring_read ring_done[FT_WORKER_BATCH];
	uint8_t *gro_arena;
	size_t gro_arena_len;
	struct ft_udp_batch *rx;
	struct ft_udp_batch *tx;
	void *tx_own[FT_WORKER_TX_SLOTS]; /* each tx slot's own buffer, for copied messages */
	struct wpeer *tx_peer[FT_WORKER_TX_SLOTS];
	/*
	 * The IP packet each tx slot carries (len 0: none, a handshake message or a keepalive),
	 * parsed before encryption overwrote it (with statistics on) and counted as virtual tx
	 * only once the socket took the datagram.
	 */
	struct ft_packet_info tx_info[FT_WORKER_TX_SLOTS];
	uint32_t tx_inner_len[FT_WORKER_TX_SLOTS];
	unsigned int tx_count;
	/* The parse of the packet ft_proto_send() has now (NULL: none, or no statistics). */
	const struct ft_packet_info *send_info;
	/*
	 * The AEAD outside the lock (Workers = N; every worker does it so, one path): the send
	 * batch's data messages wait for their seal (tx_job, where tx_seal says so) until the
	 * batch goes, and sealed outside the lock just before sendmmsg; received transport
	 * messages wait in rx_open until the batch's end (or a handshake message, which may
	 * rotate keypairs), opened outside the lock, then accepted in order under it.
	 */
	struct ft_aead_job *send_job; /* the job of the packet ft_proto_send_job() has now */
	struct ft_aead_job tx_job[FT_WORKER_TX_SLOTS];
	bool tx_seal[FT_WORKER_TX_SLOTS];
	struct ft_worker_open {
		uint8_t *msg;
		size_t len;
		const struct sockaddr_storage *from;
		struct ft_aead_job job;
		int err;
	} rx_open[FT_WORKER_RX_OPENS];
	unsigned int n_rx_open;

	char node_id[FT_KEY_B64_LEN + 1];
	char node_name[64];

	struct ft_worker_counters counters;

	/*
	 * Workers = N (lanes.c): the worker is lane 0 and owns everything; lanes 1..N-1 are
	 * struct ft_worker too, each with its TUN queue, UDP socket (one SO_REUSEPORT group),
	 * buffers and loop on a thread of its own, and only the packet path runs on them.
	 * They share the worker's protocol under ft_worker_lock (see lanes.c).
	 */
	unsigned int n_workers;	   /* lanes in all, lane 0 included */
	bool workers_by_option;	   /* --workers: the config's Workers does not count */
	unsigned int lane_id;	   /* 0: the worker */
	struct ft_worker *primary; /* a lane's worker; NULL on the worker itself */
	struct ft_worker **lanes;  /* the worker's lanes 1..n_workers-1 ([0] unused) */
	struct lane_ctl *lane;	   /* a lane's thread, loop and stop signal */
	bool threaded;		/* the lanes run: this thread holds ft_worker_lock in callbacks */
	bool in_batch;		/* a lane inside a packet callback (quiesce waits for it) */
	struct ft_udp next_udp; /* a lane's socket on a new listen port, until it moves */
	uint64_t handled;	/* TUN packets and datagrams this lane took in, for show */
	/* The worker's side: lanes stopped between batches, what they hand over, their wake-up. */
	unsigned int quiescing;
	unsigned int wake_flags; /* FT_LANES_WAKE_* */
	uv_async_t lanes_wake;
	bool lanes_wake_ready;
	/*
	 * A lane's statistics shard is its stats (a connstats without a loop); the worker merges
	 * the shards at each dump of its own (ft_worker_stats_collect). Windows a full shard
	 * dumped on the lane's thread wait in shard_held for that; shard_merging: the worker is
	 * merging this shard (its dumps go into the worker's window at once).
	 */
	const struct ft_conn_window *shard_held[FT_WORKER_SHARD_WINDOWS];
	unsigned int n_shard_held;
	bool shard_merging;

	bool closing;
	int pending_closes;
	ft_worker_close_cb close_cb;
	void *close_arg;
};

/* lanes.c: Workers = N */
extern pthread_mutex_t ft_worker_lock;
/* The lane whose thread this is; NULL on the worker's own thread. */
extern __thread struct ft_worker *ft_worker_tls_lane;

enum {
	FT_LANES_WAKE_TIMER = 1 << 0, /* the protocol's next deadline moved */
	FT_LANES_WAKE_MTU = 1 << 1,   /* a refused UDP_SEGMENT run: recompute the path MTU */
	FT_LANES_WAKE_STATS = 1 << 2, /* a shard counts: merge it (the window starts) */
};

/*
 * Around the syscalls of a packet batch: the lock is let go while this lane waits on the
 * kernel, so that the other lanes run the protocol meanwhile. Only where this lane holds no
 * pointer into shared state that a quiesce would not protect (see lanes.c).
 */
static inline void ft_worker_io_begin(const struct ft_worker *w)
{
	if (w->threaded)
		pthread_mutex_unlock(&ft_worker_lock);
}

static inline void ft_worker_io_end(const struct ft_worker *w)
{
	if (w->threaded)
		pthread_mutex_lock(&ft_worker_lock);
}

/* Opens the lanes' queues, sockets, rings and loops (no thread yet). */
int ft_worker_lanes_create(struct ft_worker *w, char *err, size_t errlen);
/* Stops and joins the lanes, takes what they handed over, frees them (the close). */
void ft_worker_lanes_stop(struct ft_worker *w);
/* A packet callback of a lane begins and ends (no-ops on the worker). */
void ft_worker_lane_begin(struct ft_worker *w);
void ft_worker_lane_end(struct ft_worker *w);
/* Every lane between batches until ft_worker_resume(): before freeing what they point at. */
void ft_worker_quiesce(struct ft_worker *w);
void ft_worker_resume(struct ft_worker *w);
/* The connstats collect callback: every lane's shard into the worker's window (lanes.c). */
void ft_worker_stats_collect(void *arg, struct ft_connstats *s);
/* The lanes follow the worker: a new MTU (buffers grown), a new FwMark, a bigger dirty list. */
void ft_worker_lanes_set_mtu(struct ft_worker *w);
void ft_worker_lanes_set_fwmark(struct ft_worker *w);
/*
 * A new listen port: each lane's socket on fresh's port, steered (nothing changes on failure:
 * 0 or a negative errno); then, once the worker's own socket moved, each lane moves to its
 * new one on its own thread.
 */
int ft_worker_lanes_prepare_port(struct ft_worker *w, const struct ft_udp *fresh);
void ft_worker_lanes_rebind(struct ft_worker *w);
int ft_worker_lanes_grow_dirty(struct ft_worker *w);
void ft_worker_arm_proto_timer(struct ft_worker *w);
/* TUN packets and datagrams worker k took in (show, /metrics). */
uint64_t ft_worker_handled(const struct ft_worker *w, unsigned int k);

/* worker.c */
uint64_t ft_worker_now_ns(void);
void ft_worker_end_batch(struct ft_worker *w);
void ft_worker_flush_all(struct ft_worker *w);
void ft_worker_report_gone(struct ft_worker *w, const char *why);
void ft_worker_on_tun(uv_poll_t *h, int status, int events);
void ft_worker_on_udp(uv_poll_t *h, int status, int events);
void ft_worker_proto_send_cb(void *arg, const struct ft_proto_datagram *d);
void ft_worker_proto_ticked_cb(void *arg, struct ft_peer *peer);
/*
 * The peer's path state now, noted in wp (shown_state, shown_since) when it changed: at the end
 * of each batch for the peers that had traffic, at each protocol timer, and when shown.
 */
enum ft_path_state ft_worker_path_state(struct ft_worker *w, struct wpeer *wp, uint64_t now_ns);
/* The same from what ft_peer_get_info() just read of the peer (the metrics read it anyway). */
enum ft_path_state ft_worker_path_state_of(struct ft_worker *w, struct wpeer *wp,
					   const struct ft_peer_info *info);

/* The worker's state of a protocol peer (NULL for NULL): the back pointer, no search. */
static inline struct wpeer *ft_worker_wpeer(const struct ft_peer *peer)
{
	return peer ? ft_peer_ctx(peer) : NULL;
}

/* setup.c */
void ft_worker_set_node_id(struct ft_worker *w);
int ft_worker_rebind(struct ft_worker *w, struct ft_udp *fresh);
int ft_worker_set_fwmark(struct ft_udp *u, uint32_t mark);
/* The poll of w->udp on w's loop (w->udp_handle). */
int ft_worker_udp_poll_start(struct ft_worker *w);

/* peers.c */
/* The peer with this public key, or NULL (the protocol's lookup, then the back pointer). */
struct wpeer *ft_worker_find_peer_by_key(struct ft_worker *w, const uint8_t key[FT_KEY_LEN]);
/*
 * Adds a peer (no routes unless cp is given and the worker manages routes); *out (may be
 * NULL) is the new peer. Once the worker is running, a persistent keepalive starts at once.
 * Not inside a packet batch.
 */
int ft_worker_peer_add(struct ft_worker *w, const struct ft_peer_config *pc,
		       const struct ft_config_peer *cp, struct wpeer **out, char *err,
		       size_t errlen);
/* Removes and frees a peer; what the send batch holds goes out first. */
void ft_worker_peer_remove(struct ft_worker *w, struct wpeer *wp);
/*
 * Removes every peer marked doomed, as ft_worker_peer_remove() does each, in time linear in
 * the number of peers (one compaction of w->peers, one pass over the AllowedIPs): wg setconf
 * or a reload that replaces 100,000 peers. Returns how many went, or -ENOMEM (nothing removed).
 */
ssize_t ft_worker_peers_remove_doomed(struct ft_worker *w);
void ft_worker_prefix_from_config(const struct ft_config_addr *a, struct ft_netconf_prefix *p);
/* Frees what the peer holds and the peer itself (worker_free: the protocol goes after). */
void ft_worker_peer_free(struct wpeer *wp);
int ft_worker_peer_resolve(struct ft_worker *w, struct wpeer *wp, char *err, size_t errlen);
void ft_worker_peer_remove_routes(struct ft_worker *w, struct wpeer *wp);
int ft_worker_config_peer_add(struct ft_worker *w, const struct ft_config_peer *cp, char *err,
			      size_t errlen);
void ft_worker_link_start(struct ft_worker *w, const struct ft_config *cfg, bool underlay);

/* path.c: a path that came back (see there) */
void ft_worker_path_start(struct ft_worker *w);
/* Closes the handles with cb (each of which the caller counts): returns how many. */
unsigned int ft_worker_path_close(struct ft_worker *w, uv_close_cb cb);
void ft_worker_path_kick(struct ft_worker *w, struct wpeer *wp);
/*
 * Whether a path that came back should kick this peer: it wants a handshake (no session, and
 * our initiation awaits its answer or packets wait for one). Never a peer mid-way through a
 * handshake it started with us.
 */
bool ft_worker_path_wants_kick(const struct wpeer *wp);
/* The route to the endpoint now: path_routable, path_oif and path_ifname. */
void ft_worker_path_update(struct ft_worker *w, struct wpeer *wp);

/* The kick's timing (path.c). */
enum {
	FT_KICK_INTERVAL_MS = 20, /* between checks */
	/* How long a kick lasts: the kernel's linkwatch may make a device operational up to a
	 * second after its carrier came. */
	FT_KICK_SPAN_MS = 2000,
	/*
	 * Between sends: over twice the 20 ms a responder waits between initiations it takes,
	 * and 40 times what a neighbour probe's answer takes on a LAN.
	 */
	FT_KICK_COPY_GAP_MS = 40,
	FT_KICK_MAX_COPIES = 4,	     /* sends of one initiation */
	FT_KICK_MAX_INITIATIONS = 3, /* new initiations in one kick */
};

/* What a kick does at one check, from what it sees (pure, for the tests). */
struct ft_kick_view {
	bool handshake_done;	  /* a session was made since the kick began */
	bool expired;		  /* its span has passed */
	bool routable;		  /* an endpoint, and a route to it */
	bool running;		  /* the route's link is up and running */
	bool needs_neigh;	  /* the link resolves neighbours (ARP, NDP) */
	uint16_t neigh;		  /* NUD_* of the next hop; NUD_NONE: none, or unknown */
	unsigned int initiations; /* new initiations this kick sent */
	unsigned int copies;	  /* sends of the last one */
	uint64_t since_copy_ms;	  /* since the last send */
};
enum {
	FT_KICK_WAIT = 0,
	FT_KICK_FLUSH = 1 << 0, /* delete the neighbour entry first */
	FT_KICK_SEND = 1 << 1,	/* a new initiation */
	FT_KICK_COPY = 1 << 2,	/* a copy of the one in flight */
	FT_KICK_END = 1 << 3,	/* done, or given up: the protocol's timers carry on */
};
unsigned int ft_worker_kick_decide(const struct ft_kick_view *v);

/* resolve.c: endpoint names off the loop */
enum {
	FT_RESOLVE_KICK = 1 << 0,   /* kick the path when the endpoint changed */
	FT_RESOLVE_WANTED = 1 << 1, /* (resolve_wait) a resolution waits */
};
/*
 * Resolves wp->endpoint_host: a numeric one at once, a name in libuv's pool, the endpoint set
 * in the callback unless the peer roamed since (see ep_set). A failure is logged there.
 */
void ft_worker_resolve_start(struct ft_worker *w, struct wpeer *wp, unsigned int flags);
/* The configured endpoint changed: what is learnt until now gives way to it. */
void ft_worker_resolve_config_changed(struct ft_worker *w, struct wpeer *wp);
/* Sets the endpoint unless the peer roamed since the worker last set it. */
void ft_worker_endpoint_apply(struct ft_worker *w, struct wpeer *wp,
			      const struct sockaddr_storage *ss, unsigned int flags);
/* At close: requests in flight are cancelled or left to free themselves. */
void ft_worker_resolve_detach(struct ft_worker *w);

/* flows.c */
void ft_worker_on_dump(void *arg, const struct ft_conn_window *win);
int ft_worker_flow_start(struct ft_worker *w, const struct ft_config *cfg, char *err,
			 size_t errlen);
int ft_worker_ipfix_start(struct ft_worker *w, const struct ft_config *cfg, char *err,
			  size_t errlen);
/* After the final statistics dump: the kernel's drops not yet in a message get one of their own. */
void ft_worker_flows_final(struct ft_worker *w);
/* The kernel's drops at the TUN since start, and since the last message; false if unknown. */
bool ft_worker_tun_drops(struct ft_worker *w, uint64_t *total, uint64_t *window);

/* mtu.c */
/*
 * The event socket and timer (mtu_handles: ft_worker_close() closes them, worker_free() the
 * socket) and the first computation, before the device is announced.
 */
void ft_worker_mtu_start(struct ft_worker *w);
/* Recomputes soon (a peer, an endpoint or the config changed): outside a batch, cheap. */
void ft_worker_mtu_schedule(struct ft_worker *w);
/* A UDP_SEGMENT run of len-byte datagrams to wp was refused for size (inside tx_flush). */
void ft_worker_mtu_refused(struct ft_worker *w, struct wpeer *wp, size_t len);
/* "underlay", "config" or "external", for show. */
const char *ft_worker_mtu_source_str(enum ft_mtu_source s);

/* setup.c */
/* (Re)allocates the packet buffers for a TUN MTU of mtu (the TUN slots, the send batch, the
 * GRO arena); outside a batch only. 0, or -ENOMEM with the old buffers kept. */
int ft_worker_buffers_grow(struct ft_worker *w, uint32_t mtu);

/* metrics.c */
/* Starts the /metrics endpoint of cfg->metrics_listen (none when NULL); 0 or a negative errno. */
int ft_worker_metrics_start(struct ft_worker *w, const struct ft_config *cfg, char *err,
			    size_t errlen);
/* True when cfg asks for another endpoint than the one running: that needs a restart. */
bool ft_worker_metrics_changed(const struct ft_worker *w, const struct ft_config *cfg);
/* The link state names of flowtun show and the metrics: "link", "no-link", "error", "unknown". */
const char *ft_worker_link_state_str(enum ft_link_state s);

/* metrics_peers.c: the peers' families of a scrape, in slices. */
struct ft_worker_scrape;
/* *out NULL when there are no peers; 0 or -ENOMEM. */
int ft_worker_scrape_start(struct ft_worker *w, struct ft_worker_scrape **out);
/* Works until mw's deadline: 0 when done, FT_METRICS_MORE, or a negative errno. */
int ft_worker_scrape_slice(struct ft_worker_scrape *sc, struct ft_metrics_writer *mw);
void ft_worker_scrape_free(struct ft_worker_scrape *sc); /* NULL is accepted */

/* ctl.c */
extern const struct ft_uapi_ops ft_worker_uapi_ops;
const char *ft_worker_path_state_str(enum ft_path_state s);

#endif
