/* SPDX-License-Identifier: MIT */
#ifndef FT_WORKER_H
#define FT_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "tun/ctl/conf.h"

/*
 * The worker: one libuv loop that owns the TUN device, the UDP underlay socket, the protocol
 * device (tun/wg/proto.h), the connection statistics and the link monitor, and moves packets
 * between them (ARCHITECTURE.md, "Packet path").
 *
 * Handles on the loop:
 *   tun_poll    uv_poll_t on the TUN fd: reads a bounded batch, encrypts, sends with sendmmsg
 *   udp_poll    uv_poll_t on the UDP socket: recvmmsg a bounded batch, decrypts, writes the TUN
 *   proto_timer uv_timer_t armed for the protocol's next deadline (retries, keepalives, rekeys)
 *   stats       the connstats flush timer (inside stats/connstats.c)
 *   link        the link monitor's timers and rtnetlink socket (inside link/)
 * Signals are the caller's (the runner, tun/worker/runner.h): it calls ft_worker_reload() on
 * SIGHUP and ft_worker_close() on SIGTERM/SIGINT.
 *
 * Loop thread only. Nothing on the packet path allocates, logs without a rate limit, or
 * makes a syscall per packet where a batch will do (the TUN has no batched read or write
 * without a vnet header: one read and one write per packet there).
 */
struct ft_worker;

/*
 * Drops and events of the worker itself (the protocol's own are in struct ft_proto_counters).
 * What each means, and how they relate to the flow log and wg show: flowtun-up(8), STATISTICS.
 */
#define FT_WORKER_COUNTERS(X)                                                              \
	X(tun_rx_packets)    /* packets read from the TUN (TSO segments each) */           \
	X(tun_tx_packets)    /* packets written to the TUN (GRO segments each) */          \
	X(tun_oversized)     /* TUN packet larger than the MTU: dropped */                 \
	X(tun_write_dropped) /* the TUN refused a packet (queue full or malformed) */      \
	X(udp_rx_datagrams)  /* datagrams received whole */                                \
	X(udp_tx_datagrams)  /* datagrams the socket took, cookie replies too */           \
	X(udp_rx_truncated)  /* datagram larger than the receive buffer: dropped */        \
	X(udp_tx_errors)     /* a datagram the kernel refused (unreachable, too big) */    \
	X(udp_tx_dropped)    /* send queue full: datagram dropped */                       \
	X(link_down_events)  /* a watched underlay link went down */                       \
	X(link_up_events)    /* a watched underlay link came (back) up */                  \
	X(path_returns)	     /* a route or address change gave a peer its path back */     \
	X(path_kicks)	     /* handshakes started when a peer's path came back */         \
	X(neigh_flushed)     /* stale next-hop neighbour entries deleted by a kick */      \
	X(handshake_copies)  /* identical copies of an initiation sent by a kick */        \
	X(tun_gso_reads)     /* super-packets read from the TUN (offloads on) */           \
	X(tun_gro_writes)    /* coalesced super-packets written to the TUN */              \
	X(tun_uso_writes)    /* of those, UDP super-packets (USO, UDP coalescing) */       \
	X(tun_uso_segments)  /* the datagrams those UDP super-packets carried */           \
	X(tun_bad_vnet)	     /* a TUN read with a vnet header or packet we refuse */       \
	X(tunnel_tx_packets) /* TUN packets sent through the tunnel: virtual tx */         \
	X(udp_gso_refused)   /* a UDP_SEGMENT send over the path MTU: resent one by one */ \
	X(tun_rx_bytes)	     /* bytes of the packets read from the TUN */                  \
	X(tun_tx_bytes)	     /* bytes of the decrypted packets handed to the TUN */        \
	X(udp_rx_bytes)	     /* bytes of the datagrams received */                         \
	X(udp_tx_bytes)	     /* bytes of the datagrams sent */

struct ft_worker_counters {
#define FT_WORKER_COUNTER_FIELD(n) uint64_t n;
	FT_WORKER_COUNTERS(FT_WORKER_COUNTER_FIELD)
#undef FT_WORKER_COUNTER_FIELD
};

/* The interface was deleted or the userspace API socket removed: time to go. */
typedef void (*ft_worker_gone_cb)(void *arg, const char *why);

struct ft_worker_options {
	const char *ifname;	 /* the TUN device to create, e.g. "tun0" */
	const char *config_path; /* for messages and SIGHUP; NULL when there is no file */
	/* Tests and benchmarks: no link monitor even when the config asks for one. */
	bool no_link_monitor;
	/* Link awareness (re-resolve and handshake at once on link-up); on unless disabled. */
	bool no_link_reaction;
	/*
	 * Routes for the configured peers' AllowedIPs are added (and removed) by the worker, as
	 * wg-quick would; with no_routes the caller (wg-quick itself) does it. Peers and
	 * AllowedIPs set through the userspace API never add routes, as with the kernel module.
	 */
	bool no_routes;
	/*
	 * The caller sets the MTU (wg-quick always does): without MTU in the config the device
	 * starts at 1420 and flowtun follows whatever MTU it is given, never setting one itself.
	 * Otherwise the MTU follows the underlay until someone else sets it; but wg-quick may set
	 * the very value flowtun started with, which is no change anyone can see.
	 */
	bool mtu_by_caller;
	/* The WireGuard userspace API socket; uapi_path NULL: /var/run/wireguard/IFNAME.sock. */
	bool no_uapi;
	/* TUN offloads off even when the config asks for them (flowtun up --no-offload). */
	bool no_offload;
	/* UDP_SEGMENT/UDP_GRO off while the TUN offloads stay (--no-udp-offload). */
	bool no_udp_offload;
	/*
	 * Received UDP datagrams of a flow are written to the TUN one by one, never coalesced
	 * into USO super-packets (--no-udp-coalesce, or UDPCoalesce = off in the config); TCP is
	 * coalesced still.
	 */
	bool no_udp_coalesce;
	/*
	 * The TUN's reads and writes (--tun-io): AUTO leaves it to the config's TunIO, whose
	 * AUTO is io_uring when the kernel gives it (tun/net/tunring.h), else the syscalls.
	 */
	enum ft_tun_io tun_io;
	/*
	 * Threads of the packet path (--workers; 0: the config's Workers, default 1), each with
	 * a queue of the TUN and a UDP socket of the listen port's SO_REUSEPORT group. Needs a
	 * TUN device (no stand-in). See tun/worker/lanes.c.
	 */
	unsigned int workers;
	/*
	 * Packets per wake-up (0: 64). For measuring what batching gains: 1 makes one recvmmsg
	 * and one sendmmsg per datagram, as an unbatched tunnel would.
	 */
	unsigned int batch;
	/*
	 * Tests: tun_fd stands in for the TUN device when tun_standin is set: any descriptor
	 * that carries one IP packet per read and per write (one end of a SOCK_SEQPACKET
	 * socketpair), owned by the worker from then on. No device is created or configured:
	 * no offloads, MTU, addresses or routes, so the config must set MTU. Everything else
	 * (the protocol, the UDP socket, statistics, the userspace API) runs as with a device.
	 */
	bool tun_standin;
	int tun_fd;
	const char *uapi_path;
	ft_worker_gone_cb gone; /* may be NULL */
	void *gone_arg;
};

typedef void (*ft_worker_close_cb)(void *arg);

/*
 * Creates the worker and brings everything up: the TUN device with its addresses, MTU and
 * routes, the UDP socket, the peers, the statistics, the flow-log writer and IPFIX exporter,
 * the link monitor and the userspace API socket. cfg->private_key may be NULL (set later
 * through the API). cfg is copied where needed; the caller may free it afterwards. 0, or a negative errno with a message
 * naming what failed in err. On failure nothing is left behind.
 */
int ft_worker_create(struct ft_worker **out, uv_loop_t *loop, const struct ft_config *cfg,
		     const struct ft_worker_options *opts, char *err, size_t errlen);

/*
 * Applies a new configuration without dropping established sessions: peers added, removed
 * and updated (endpoint, preshared key, keepalive, AllowedIPs and their routes); the flow
 * log reopened. The private key, listen port, addresses and MTU need a restart: a change to
 * them is reported in err and otherwise ignored. 0 or a negative errno (err says why).
 */
int ft_worker_reload(struct ft_worker *w, const struct ft_config *cfg, char *err, size_t errlen);

/*
 * Graceful shutdown: the final statistics flush (the flow log gets everything counted),
 * routes and addresses removed, the TUN device and socket closed, every handle closed. cb
 * runs once the memory is freed. Idempotent: a second call does nothing.
 */
void ft_worker_close(struct ft_worker *w, ft_worker_close_cb cb, void *arg);

const char *ft_worker_ifname(const struct ft_worker *w);
/*
 * Workers > 1: starts the other workers' threads, once the privileges are dropped (they
 * inherit the drop and the seccomp filter). The calling thread then holds the workers' lock
 * and must run the loop with ft_worker_run(loop, true). 0, or a negative errno (close the
 * worker then, and still run the loop with ft_worker_run(loop, ft_worker_workers(w) > 1)).
 */
int ft_worker_start(struct ft_worker *w);
/* Runs the worker's loop until it ends; threaded: as ft_worker_start() asked. */
void ft_worker_run(uv_loop_t *loop, bool threaded);
/* After a fork (flowtun up -d), before ft_worker_start(): the other workers' loops too. */
void ft_worker_loop_fork(struct ft_worker *w);
/* How many workers (threads of the packet path) the worker has: 1.. */
unsigned int ft_worker_workers(const struct ft_worker *w);
/* Whether the TUN is read and written through io_uring (TunIO). */
bool ft_worker_tun_uring(const struct ft_worker *w);
uint16_t ft_worker_listen_port(const struct ft_worker *w);
/* The userspace API socket served, or NULL; the flow log file (absolute), or NULL. */
const char *ft_worker_uapi_path(const struct ft_worker *w);
const char *ft_worker_flow_log_path(const struct ft_worker *w);
const struct ft_worker_counters *ft_worker_counters(const struct ft_worker *w);
/* Writes a human-readable status (peers, counters, links) to f; for SIGUSR1 and tests. */
void ft_worker_dump_status(struct ft_worker *w, FILE *f);

#endif
