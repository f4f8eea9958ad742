/* SPDX-License-Identifier: MIT */
#ifndef FT_TESTS_PROTO_HARNESS_H
#define FT_TESTS_PROTO_HARNESS_H

/*
 * The protocol device with two in-process peers, A and B, on a fake clock and no sockets:
 * each device's send callback, its one way out, puts every datagram on a simulated wire
 * (answers and the data messages of ft_proto_send too), and deliver() hands every datagram on
 * the wire to the other device's ft_proto_receive, until the wire is empty. A test may drop
 * or hold messages on the wire. The callback reports what it sends with
 * ft_proto_peer_count_sent(), as a caller whose socket took every datagram would. For
 * tests/check_proto*.c.
 *
 *   A: underlay 198.18.0.1:51820, overlay 100.64.0.1, AllowedIPs of B: 100.64.0.2/32
 *   B: underlay 198.18.0.2:51820, overlay 100.64.0.2, AllowedIPs of A: 100.64.0.1/32
 */
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tun/wg/proto.h"

#define SEC FT_NSEC_PER_SEC
#define MSEC FT_NSEC_PER_MSEC

struct side {
	struct ft_proto *p;
	struct ft_peer *peer; /* the other side, as seen from here */
	struct sockaddr_in addr;
	uint8_t priv[32], pub[32];
	uint64_t rng;
	/* What reached this side's TUN. */
	unsigned int packets, keepalives;
	/*
	 * Data messages sent through the callback, and those of them that were ft_proto_send's
	 * buffer encrypted in place; bytes of datagrams received with rx_counted.
	 */
	unsigned int inner_sent, sent_in_place;
	size_t in_place_len; /* the length of the last of them */
	/* The callback reports nothing as sent (ft_proto_peer_count_sent), as a full socket. */
	bool socket_refuses;
	uint64_t rx_counted;
	uint8_t last_packet[2048];
	size_t last_len;
};

struct wire_msg {
	int to;
	struct sockaddr_in from;
	uint8_t data[2048];
	size_t len;
};

extern struct side S[2];
extern struct wire_msg wire[64];
extern unsigned int nwire;
extern uint64_t now;
/* Messages of this type (0: none) are dropped on the wire, drop_count times. */
extern int drop_type;
extern unsigned int drop_count;
/* Messages sent, by side and message type (1..4). */
extern unsigned int sent_by_type[2][5];

void put_on_wire(int to, const struct sockaddr_in *from, const uint8_t *msg, size_t len);
/* Delivers everything on the wire, replies included; returns the number delivered. */
unsigned int deliver(void);
void overlay(uint8_t out[4], int i);
/* Each side learns the other; psk[i] is side i's idea of the PSK (NULL: none). */
void pair_up(const uint8_t *psk_a, const uint8_t *psk_b, uint32_t keepalive_a,
	     bool a_knows_b_endpoint, bool b_knows_a_endpoint);
void setup(void);
void teardown(void);
/*
 * An IPv4 packet from side i's overlay address (src_last overrides its last byte) to the
 * other side's, with payload_len bytes of payload, sent through side i's device. Sent
 * messages go on the wire (its data message into msg_out instead, when msg_out is given);
 * the action is returned.
 */
enum ft_proto_action send_ip_from(int i, uint8_t src_last, size_t payload_len, uint8_t fill,
				  uint8_t *msg_out, size_t *msg_len);
enum ft_proto_action send_ip(int i, size_t payload_len);
uint64_t counter(int i, enum ft_proto_reason r);
/* The sum of every drop counter of side i (the events excluded). */
uint64_t drops(int i);
bool has_session(int i);
/* Runs both devices' timers up to `until`, delivering after each tick. */
void run_until(uint64_t until);
/* A sends, B answers: a session both ways. */
void establish(void);
/*
 * A flood against side i: n initiations of the right size with a bad mac1, from a stranger's
 * address, at once. FT_PROTO_LOAD_INITIATIONS + 1 of them in a second put it under load.
 */
void flood_initiations(int i, unsigned int n);

#endif
