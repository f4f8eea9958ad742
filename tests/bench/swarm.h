/* SPDX-License-Identifier: MIT */
#ifndef FT_SWARM_H
#define FT_SWARM_H

/*
 * peer-swarm: K WireGuard peers in one process, against one hub (tests/bench/peer-swarm.c
 * has the overview and the options). This header is the tool's own, shared by its four
 * files:
 *
 *   peer-swarm.c    options, the phases (handshakes, data, linger), the report
 *   swarm-peer.c    keys from the seed, handshake slots (the noise code of tun/), sessions,
 *                   the inner packets, and what to do with each datagram received
 *   swarm-io.c      the UDP sockets, batched sends with a source address per message,
 *                   batched receives
 *   swarm-check.c   the hub's flow log against what was sent, /proc readings
 *
 * One thread; nothing here is thread safe.
 */
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "tun/wg/cookie.h"
#include "tun/wg/noise.h"
#include "tun/wg/wire.h"

enum {
	/* Our local indices are peer | generation << SW_PEER_BITS: the hub echoes them. */
	SW_PEER_BITS = 17,
	SW_MAX_PEERS = 1 << SW_PEER_BITS, /* 131,072 */
	SW_MAX_SOCKETS = 256,
	/*
	 * Handshakes in flight at once. Each slot holds a noise identity and a handshake, two
	 * sodium_malloc regions of four mappings each: 6,144 slots stay well below the 65,530
	 * mappings a process may have (vm.max_map_count).
	 */
	SW_DEFAULT_SLOTS = 4096,
	SW_MAX_SLOTS = 6144,
	SW_BATCH = 64,	  /* datagrams per sendmmsg / recvmmsg */
	SW_MTU = 1420,	  /* the hub's TUN MTU: the padding limit of transport data */
	SW_BUF = 1536,	  /* one datagram buffer */
	SW_MIN_SIZE = 28, /* inner packet: IPv4 + ICMP or UDP header */
	SW_MAX_SIZE = SW_MTU,
	SW_HUB_OVERLAY_DEFAULT = 0x64400001, /* 100.64.0.1 */
	SW_OVERLAY_DEFAULT = 0x64400002,     /* 100.64.0.2: peer 0 */
};

/* What a queued datagram is, for the counts once it has left. */
enum sw_kind {
	SW_KIND_INITIATION = 1,
	SW_KIND_KEEPALIVE,
	SW_KIND_DATA,
};

enum sw_mode {
	SW_MODE_ICMP = 0, /* echo requests to the hub's overlay address: its kernel answers */
	SW_MODE_UDP,	  /* UDP datagrams to a port of the hub's overlay address: one way */
};

/* One derived session (an initiator keypair). */
struct sw_session {
	uint8_t send_key[FT_WIRE_KEY_LEN];
	uint8_t recv_key[FT_WIRE_KEY_LEN];
	uint64_t send_counter;
	uint64_t birth_ns;
	uint64_t replay_next; /* highest counter received plus one; 0: none */
	uint64_t replay_bits; /* bit i: counter replay_next - 1 - i seen */
	uint32_t local_index;
	uint32_t remote_index;
	bool valid;
};

/* Per-peer counts. "wire" counts are whole datagrams as on the underlay. */
struct sw_counts {
	uint64_t hs_sent;	     /* initiations sent */
	uint64_t hs_answered;	     /* responses received for them (any generation) */
	uint64_t hs_done;	     /* sessions derived */
	uint64_t cookies;	     /* cookie replies consumed */
	uint64_t timeouts;	     /* initiations that got no answer in time */
	uint64_t data_tx_pkts;	     /* inner packets sent */
	uint64_t data_tx_bytes;	     /* their IP total lengths */
	uint64_t data_rx_pkts;	     /* inner packets received (keepalives not included) */
	uint64_t data_rx_bytes;	     /* their IP total lengths */
	uint64_t answered;	     /* echo replies to our requests */
	uint64_t keepalive_tx;	     /* empty transport messages sent (the confirmations) */
	uint64_t keepalive_rx;	     /* empty transport messages received */
	uint64_t transport_tx_bytes; /* wire bytes of the transport messages sent */
	uint64_t transport_rx_pkts;  /* authenticated transport messages received */
	uint64_t transport_rx_bytes; /* their wire bytes */
};

struct sw_peer {
	struct sw_session cur, prev;
	struct ft_cookie_maker cookie; /* mac1, mac2 and the cookie of this peer's source */
	struct sw_counts n;
	uint64_t first_done_ns; /* when the first session was derived; 0: never */
	uint32_t hs_index;	/* local index of the initiation in flight */
	uint16_t gen;		/* generation of the last index given out */
	uint16_t icmp_seq;
	int32_t slot; /* the handshake slot in flight, -1: none */
	bool queued;  /* in one of the handshake queues */
	bool waiting; /* an initiation in flight */
	bool confirm; /* a session derived: a keepalive to send */
};

/* A handshake in flight: the noise state of one peer at a time. */
struct sw_slot {
	struct ft_noise_identity id;
	struct ft_handshake *hs;
	struct ft_cookie_checker checker; /* mac1 of the responses, keyed with our key */
	uint64_t sent_ns;
	int32_t bound; /* the peer whose key id holds, -1: none */
	int32_t peer;  /* the peer in flight, -1: free */
};

/* A FIFO of peers, each with the time from which it is due. */
struct sw_fifo {
	uint32_t *peer;
	uint64_t *due;
	uint32_t cap, head, len;
};

/* One socket's pending sends. */
struct sw_txq {
	struct mmsghdr msg[SW_BATCH];
	struct iovec iov[SW_BATCH];
	uint8_t buf[SW_BATCH][SW_BUF];
	union {
		struct cmsghdr align;
		char bytes[CMSG_SPACE(sizeof(struct in_pktinfo))];
	} ctl[SW_BATCH];
	uint32_t peer[SW_BATCH];
	uint8_t kind[SW_BATCH];
	int n;
};

struct sw_options {
	struct sockaddr_in hub;
	uint8_t hub_key[FT_WIRE_KEY_LEN];
	bool have_hub_key;
	uint32_t peers;
	char seed[128];
	bool psk;
	uint32_t src_base; /* host order; 0: no range, the kernel's source address */
	uint32_t src_count;
	uint16_t src_port; /* of socket 0; socket s has src_port + s */
	uint32_t sockets;  /* 0: as many as needed for one endpoint per peer, up to 256 */
	uint32_t first;	   /* this swarm's peer 0 is peer `first` of the seed's sequence */
	uint32_t overlay;  /* the overlay address of this swarm's peer 0, host order */
	uint32_t hub_overlay;
	double rate;	       /* data packets per second, all peers together */
	double duration;       /* seconds of data */
	double handshake_rate; /* initiations per second */
	double hs_timeout;     /* seconds without an answer before an initiation is resent */
	double cookie_delay;   /* seconds from a cookie reply to the resend */
	double hs_deadline;    /* seconds the handshake phase may last */
	double linger;	       /* seconds to wait for the last answers */
	uint32_t size;	       /* inner packet length (IP total length) */
	enum sw_mode mode;
	uint16_t udp_port;
	uint32_t slots;
	int hub_pid;
	const char *flow_log;
	double flow_wait;   /* seconds for the flow log to account for everything */
	double flow_settle; /* seconds it must then stay so */
	bool json;
	bool require_all;
	bool no_confirm; /* no keepalive after a response: the hub's session stays unconfirmed */
	bool verbose;
};

/* Process-wide counts that belong to no peer. */
struct sw_global {
	uint64_t rx_datagrams, rx_foreign, rx_bad_type, rx_unknown_index, rx_stale_response;
	uint64_t rx_bad_response, rx_bad_cookie, rx_decrypt_failed, rx_replayed, rx_bad_inner;
	uint64_t rx_from_hub_initiation, rx_misdelivered, rx_truncated;
	uint64_t tx_errors, tx_eagain_waits, no_slot_waits, expired_sessions;
	uint64_t cookie_replies_rx;
	uint64_t rtt_count, rtt_sum_ns, rtt_max_ns;
	uint32_t rtt_hist[64 * 8]; /* log2 octaves, 8 steps each, of ns */
};

struct sw {
	struct sw_options o;
	struct sw_peer *peers;
	struct sw_slot *slots;
	uint32_t nslots;
	int32_t *free_slots;
	uint32_t nfree;
	struct sw_fifo q_timeout, q_cookie, q_rekey;
	uint32_t next_new; /* the next peer that never sent an initiation */
	uint64_t picks;	   /* initiations picked: new and resent peers take turns */
	uint32_t established;
	int fds[SW_MAX_SOCKETS];
	uint16_t ports[SW_MAX_SOCKETS]; /* each socket's local port */
	uint32_t nsock;
	struct sw_txq *txq;		   /* one per socket */
	uint8_t seed_key[FT_WIRE_KEY_LEN]; /* HASH(seed): keys every peer's key */
	uint32_t endpoints;		   /* distinct (address, socket) pairs */
	struct sw_global g;
	const char *phase; /* for messages */
};

/* ---- swarm-peer.c ----------------------------------------------------------------------- */

/* The private key and PSK of peer i, from the seed. */
void sw_peer_private(const struct sw *s, uint32_t i, uint8_t out[FT_WIRE_KEY_LEN]);
void sw_peer_psk(const struct sw *s, uint32_t i, uint8_t out[FT_WIRE_KEY_LEN]);
/* Prints the hub's [Peer] sections for every peer. 0 or -errno. */
int sw_emit_config(const struct sw *s);
/* Peers, slots and queues. 0 or -ENOMEM / -EINVAL. sw_peers_free undoes it. */
int sw_peers_init(struct sw *s);
void sw_peers_free(struct sw *s);
/* Sends initiations due by now, up to budget; the number sent. */
uint32_t sw_handshake_pump(struct sw *s, uint64_t now, uint32_t budget);
/* Initiations in flight past their timeout go back to the queue. */
void sw_handshake_timeouts(struct sw *s, uint64_t now);
/* One data packet from the next peer with a session (round robin); false: none has one. */
bool sw_data_send(struct sw *s, uint64_t now, uint32_t *cursor);
/* One received datagram, dst: the local address it came to (0: unknown), on socket sock. */
void sw_receive(struct sw *s, uint8_t *msg, size_t len, const struct sockaddr_in *from,
		uint32_t dst, uint32_t sock, uint64_t now);
/* The peer's endpoint: its socket and source address (0: the kernel's choice). */
uint32_t sw_peer_socket(const struct sw *s, uint32_t i);
uint32_t sw_peer_address(const struct sw *s, uint32_t i);
bool sw_fifo_push(struct sw_fifo *f, uint32_t peer, uint64_t due);

/* ---- swarm-io.c ------------------------------------------------------------------------- */

/* Opens the sockets. 0 or -errno (message printed). */
int sw_io_open(struct sw *s);
void sw_io_close(struct sw *s);
/*
 * A buffer for the next datagram of peer on its socket (flushing the queue first when it is
 * full); sw_io_commit queues len bytes of it.
 */
uint8_t *sw_io_slot(struct sw *s, uint32_t peer);
void sw_io_commit(struct sw *s, uint32_t peer, size_t len, enum sw_kind kind);
/* Sends everything queued. 0, or -errno on a hard error (printed). */
int sw_io_flush(struct sw *s);
/* Reads what is waiting, up to max_batches batches per socket; the datagrams handled. */
uint32_t sw_io_receive(struct sw *s, uint64_t now, uint32_t max_batches);
/* Waits up to timeout_ms for something to read. */
void sw_io_wait(struct sw *s, int timeout_ms);

/* ---- swarm-check.c ---------------------------------------------------------------------- */

/* A process's CPU ticks (user, system), memory (kB) and its network namespace's drops. */
struct sw_proc {
	bool ok;
	uint64_t utime, stime; /* clock ticks */
	uint64_t rss_kb, hwm_kb;
	uint64_t udp_rcvbuf_errors, udp_sndbuf_errors, udp_in_errors;
	uint64_t icmp_in_echos, icmp_out_echo_reps;
	uint64_t dev_rx_dropped, dev_tx_dropped; /* every interface of the namespace */
};

/* Reads /proc/PID (pid 0: this process). */
void sw_proc_read(int pid, struct sw_proc *p);

/* What the flow-log check found. */
struct sw_flow_result {
	bool ran, exact;
	uint32_t peers_exact;		  /* peers whose four sums equal what was sent */
	uint32_t peers_virtual_mismatch;  /* virtual (inner) packets or bytes differ */
	uint32_t peers_physical_mismatch; /* physical (wire) packets or bytes differ */
	uint32_t endpoints_wrong;	  /* physical entries whose endpoint is not the peer's */
	/*
	 * Differences no loss explains: the hub counted more inner packets from a peer than it
	 * sent, or fewer to it than it received (a packet counted twice, or not at all).
	 */
	uint32_t peers_miscounted;
	/* Differences a loss on the way explains, in packets: fewer from, more to the peers. */
	uint64_t virtual_lost_pkts;
	uint64_t physical_diff_pkts; /* |hub - swarm| over every physical count */
	uint64_t messages, lines_bad, lost, entries_foreign;
	uint64_t v_rx_pkts, v_rx_bytes, v_tx_pkts, v_tx_bytes; /* hub's sums over our peers */
	uint64_t p_rx_pkts, p_rx_bytes, p_tx_pkts, p_tx_bytes;
	double waited_s;
	char first_mismatch[256];
};

/* The flow log's size now: the check reads what is written after it. */
long sw_flow_offset(const char *path);
/*
 * Reads the flow log from offset until every peer's counts equal what the swarm sent and
 * received and stay so for o.flow_settle seconds, or o.flow_wait seconds pass.
 */
int sw_flow_check(struct sw *s, long offset, struct sw_flow_result *r);

/* ---- swarm-report.c --------------------------------------------------------------------- */

/* One phase: its times and /proc of the hub and of the swarm at its ends. */
struct sw_phase {
	uint64_t start, end;
	uint64_t sending_end; /* data: when the last packet was sent (the linger follows) */
	uint32_t established; /* peers with a session at the end */
	uint64_t initiations; /* sent in the phase */
	struct sw_proc hub0, hub1, self0, self1;
};

struct sw_totals {
	struct sw_counts n;
	uint32_t handshaked;
	uint64_t last_done_ns; /* the latest first session */
};

void sw_totals(const struct sw *s, struct sw_totals *t);
/* Prints the report (human or JSON); the exit status: 0, or 1 when a check failed. */
int sw_report(const struct sw *s, const struct sw_phase *hs, const struct sw_phase *data,
	      const struct sw_flow_result *flows);

/* CLOCK_MONOTONIC in ns. */
uint64_t sw_now(void);

#endif
