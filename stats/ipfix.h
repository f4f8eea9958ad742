/* SPDX-License-Identifier: MIT */
#ifndef FT_IPFIX_H
#define FT_IPFIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <uv.h>

#include "stats/connstats.h"

/*
 * IPFIX export (RFC 7011) of connstats dumps over UDP: an encoder (a dump to messages of at most
 * max_msg bytes each) and an exporter that sends them to each configured collector.
 *
 * Records. Each direction of a connection with traffic is one data record: tx is egress
 * (flowDirection 1) with the key's source and destination; rx is ingress (flowDirection 0) with
 * them swapped, so that source is where those packets came from, as a collector expects of a
 * unidirectional flow. flowStart/EndMilliseconds are the dump window's start and end.
 *   virtual   templates 256 (IPv4) and 257 (IPv6): source and destination address and port,
 *             protocolIdentifier (a later fragment as 255, as in the JSON flow log),
 *             flowDirection, packetDeltaCount, octetDeltaCount, flowStart/EndMilliseconds.
 *             Entries that did not parse (FT_IPPROTO_INVALID) have no addresses: skipped, counted.
 *   physical  the UDP datagrams to and from a peer's endpoint. Our own underlay address is not
 *             in the key, so egress records carry only the destination (the endpoint) and
 *             ingress ones only the source (the endpoint): templates 258/259 (IPv4 endpoint,
 *             egress/ingress) and 260/261 (IPv6 endpoint), protocolIdentifier 17. The peer's
 *             overlay address (the key's src) has no standard IE and is not exported.
 *   ignored   an options record (RFC 7011 section 4.2, "Metering Process Reliability
 *             Statistics"), template 262: scope observationDomainId, ignoredPacketTotalCount:
 *             the packets the kernel dropped at the TUN device's queue before flowtun could
 *             meter them, since the exporter started. A total, not a delta, so a collector that
 *             lost a message loses nothing of it; sent after each window's data records when the
 *             caller knows the figure (the flow log's "tunDropped" are its deltas).
 * Every field is an IANA IE of RFC 7012, fixed length, no enterprise numbers.
 *
 * Messages. Header: version 10, length, export time (seconds), sequence number (data records
 * sent before this message in this stream, modulo 2^32, RFC 7011 section 3.1), observation
 * domain id. A template set, when asked for, opens the first message; then one data set per
 * template in use. A record never straddles two messages.
 */

enum {
	FT_IPFIX_VERSION = 10,
	FT_IPFIX_HDR_LEN = 16,
	FT_IPFIX_SET_HDR_LEN = 4,
	FT_IPFIX_SET_TEMPLATE = 2,
	FT_IPFIX_SET_OPTIONS_TEMPLATE = 3,
	FT_IPFIX_MAX_MSG = 65535, /* the header's length field */
	FT_IPFIX_MIN_MSG = 512,	  /* holds the template set and a record */
	FT_IPFIX_PORT = 4739,
};

/* Template ids. */
enum {
	FT_IPFIX_T_V4 = 256,
	FT_IPFIX_T_V6 = 257,
	FT_IPFIX_T_PHYS_V4_OUT = 258,
	FT_IPFIX_T_PHYS_V4_IN = 259,
	FT_IPFIX_T_PHYS_V6_OUT = 260,
	FT_IPFIX_T_PHYS_V6_IN = 261,
	FT_IPFIX_T_FIRST = FT_IPFIX_T_V4,
	FT_IPFIX_T_COUNT = 6,
	FT_IPFIX_T_IGNORED = 262, /* the options template */
};

/* Information elements used (IANA numbers). */
enum {
	FT_IPFIX_IE_OCTET_DELTA = 1,
	FT_IPFIX_IE_PACKET_DELTA = 2,
	FT_IPFIX_IE_PROTOCOL = 4,
	FT_IPFIX_IE_SRC_PORT = 7,
	FT_IPFIX_IE_SRC_V4 = 8,
	FT_IPFIX_IE_DST_PORT = 11,
	FT_IPFIX_IE_DST_V4 = 12,
	FT_IPFIX_IE_SRC_V6 = 27,
	FT_IPFIX_IE_DST_V6 = 28,
	FT_IPFIX_IE_DIRECTION = 61,
	FT_IPFIX_IE_DOMAIN_ID = 149,
	FT_IPFIX_IE_START_MS = 152,
	FT_IPFIX_IE_END_MS = 153,
	FT_IPFIX_IE_IGNORED_PACKETS = 164,
};

enum { FT_IPFIX_INGRESS = 0, FT_IPFIX_EGRESS = 1 };

/* Encoder state: plain data, no resources; initialise with ft_ipfix_encoder_init(). */
struct ft_ipfix_encoder {
	uint32_t domain_id;
	uint32_t seq;	   /* data records sent so far, modulo 2^32 */
	size_t max_msg;	   /* FT_IPFIX_MIN_MSG..FT_IPFIX_MAX_MSG */
	uint64_t skipped;  /* virtual entries without addresses, not exported */
	uint64_t records;  /* data records encoded */
	uint64_t messages; /* messages encoded */
	bool has_ignored;  /* each encode appends the options record of ignored_total */
	uint64_t ignored_total;
};

/* 0, or -EINVAL when max_msg is outside FT_IPFIX_MIN_MSG..FT_IPFIX_MAX_MSG. */
int ft_ipfix_encoder_init(struct ft_ipfix_encoder *e, uint32_t domain_id, size_t max_msg);

/* Receives each message; msg is valid during the call. A negative return stops the encoding. */
typedef int (*ft_ipfix_emit_fn)(void *arg, const uint8_t *msg, size_t len);

/*
 * Encodes a dump (v, p may be NULL with nv, np 0) into messages and hands each to emit; with
 * templates, the template set and the options template set open the first message (a dump with
 * no records then still makes one message); with e->has_ignored, the options record follows the
 * data records. export_time: seconds since the epoch. Returns the number of messages, or the
 * emit function's negative return (the sequence number then counts the records emitted).
 */
int ft_ipfix_encode(struct ft_ipfix_encoder *e, uint32_t export_time, bool templates,
		    uint64_t start_ms, uint64_t end_ms, const struct ft_conn_entry *v, size_t nv,
		    const struct ft_conn_entry *p, size_t np, ft_ipfix_emit_fn emit, void *arg);

/* ---- the exporter ------------------------------------------------------------------------ */

#define FT_IPFIX_TEMPLATE_REFRESH_MS (600u * 1000)
#define FT_IPFIX_MAX_COLLECTORS 8

struct ft_ipfix_exporter;
typedef void (*ft_ipfix_close_cb)(void *arg);

struct ft_ipfix_config {
	const struct sockaddr_storage *collectors; /* copied; 1..FT_IPFIX_MAX_COLLECTORS */
	size_t n_collectors;
	uint32_t domain_id;
	size_t mtu;		      /* path MTU; 0: 1500. Messages are mtu - 48 (IPv6 + UDP) */
	uint64_t template_refresh_ms; /* 0: FT_IPFIX_TEMPLATE_REFRESH_MS */
	void *arg;		      /* for the close callback */
};

struct ft_ipfix_counters {
	uint64_t messages;	 /* messages sent (per collector) */
	uint64_t bytes;		 /* their bytes */
	uint64_t records;	 /* data records encoded (once for all collectors) */
	uint64_t skipped;	 /* virtual entries without addresses */
	uint64_t template_sends; /* template sets sent (per collector) */
	uint64_t send_errors;	 /* sends that failed, EAGAIN included */
	uint64_t send_again;	 /* ... of which EAGAIN/ENOBUFS: the socket buffer was full */
	int last_error;		 /* negative errno of the last failed send */
};

/*
 * "HOST:PORT", "[IPV6]:PORT", or HOST alone for port 4739, to an address. Resolves names with
 * getaddrinfo(), which may block: start-up (config loading) only. 0, -EINVAL or -ENOENT.
 */
int ft_ipfix_parse_collector(const char *s, struct sockaddr_storage *out);

/*
 * Creates an exporter, no I/O. NULL with errno set: EINVAL (no collector, too many, mtu too
 * small), ENOMEM.
 */
struct ft_ipfix_exporter *ft_ipfix_exporter_create(uv_loop_t *loop,
						   const struct ft_ipfix_config *cfg);

/*
 * Opens one non-blocking UDP socket per collector (connected, so that ICMP errors come back as
 * send errors), sends the templates to each and starts the template refresh timer. 0 or a
 * negative errno (the sockets opened are closed again). Loop thread, as everything here.
 */
int ft_ipfix_exporter_start(struct ft_ipfix_exporter *x);

/*
 * Encodes a dump and sends it to every collector, on the calling (loop) thread: non-blocking
 * sends, failures counted, never retried (IPFIX over UDP is lossy by design; the sequence
 * numbers show the gap). No-op before start. For tests and small dumps; not while submitted
 * windows are pending (the tunnel submits).
 */
void ft_ipfix_exporter_export(struct ft_ipfix_exporter *x, uint64_t start_ms, uint64_t end_ms,
			      const struct ft_conn_entry *v, size_t nv,
			      const struct ft_conn_entry *p, size_t np);

/* Runs on the loop when a submitted window's entries are no longer needed. */
typedef void (*ft_ipfix_done_cb)(void *arg, const struct ft_conn_window *win);

/*
 * Exports a window off the loop: encoded and sent on libuv's thread pool, one window at a time
 * and in the order submitted, so that a dump of thousands of connections never stalls the
 * packet path and the sequence numbers stay exact. The template refresh waits for a window in
 * flight (the encoder is one thread's at a time) and goes with the next. ignored_total (NULL:
 * unknown) is sent as the options record after the window's records. done (may be NULL)
 * runs once from the loop when the entries are no longer needed; win must stay valid until
 * then. 0 when the window was taken; -ENOTCONN before start, -ESHUTDOWN after close, -ENOMEM:
 * not taken, done not called.
 */
int ft_ipfix_exporter_submit(struct ft_ipfix_exporter *x, const struct ft_conn_window *win,
			     const uint64_t *ignored_total, ft_ipfix_done_cb done, void *done_arg);

void ft_ipfix_exporter_get_counters(const struct ft_ipfix_exporter *x,
				    struct ft_ipfix_counters *out);

/*
 * Sends the windows submitted, then closes the sockets and the timer; cb (may be NULL) runs
 * from the loop once memory is freed.
 */
void ft_ipfix_exporter_close(struct ft_ipfix_exporter *x, ft_ipfix_close_cb cb);

#endif
