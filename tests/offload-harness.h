/* SPDX-License-Identifier: MIT */
#ifndef FT_TESTS_OFFLOAD_HARNESS_H
#define FT_TESTS_OFFLOAD_HARNESS_H

/*
 * Shared by check_offload.c (segmentation) and check_offload_gro.c (coalescing) only: test
 * packets built field by field with checksums from ft_csum_reference(), so that what the tests
 * expect is computed independently of the code under test, and the slots they are built in.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tun/net/offload.h"

#define SLOT_SIZE 2048
#define HEADROOM 16
#define NSLOTS 64

/* The fields of one test packet; addresses are 100.64.0.1 -> .2 or fd00::1 -> fd00::2. */
struct pk {
	bool v6;
	uint8_t proto; /* 6 TCP, 17 UDP, 1 ICMP */
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;
	uint16_t win;
	uint16_t id;
	uint8_t optlen; /* TCP options: a multiple of 4 */
	uint8_t ttl, tos;
};

enum {
	FIN = 0x01,
	SYN = 0x02,
	RST = 0x04,
	PSH = 0x08,
	ACK = 0x10,
	URG = 0x20,
	ECE = 0x40,
	CWR = 0x80
};

extern const uint8_t src4[4], dst4[4], src6[16], dst6[16];

uint8_t payload_byte(size_t i);
void put16(uint8_t *p, uint32_t v);
void put32(uint8_t *p, uint32_t v);
uint16_t get16(const uint8_t *p);
/* The L4 checksum over pseudo-header + segment, by the reference loop. */
uint16_t ref_l4_csum(const struct pk *k, const uint8_t *l4, size_t l4len);
/* Builds the packet k carrying payload bytes [poff, poff + plen) into b; returns its length. */
size_t build(uint8_t *b, const struct pk *k, size_t poff, size_t plen);

extern uint8_t slotmem[NSLOTS][SLOT_SIZE];
extern uint8_t *slots[NSLOTS];
extern size_t lens[NSLOTS];
extern uint8_t super[65536], expect[SLOT_SIZE];
extern unsigned int owner[FT_OFFLOAD_GRO_MAX_BATCH];
void reset_slots(void);
/* The vnet header Linux puts before a TSO/USO super-packet from a socket. */
struct ft_vnet_hdr gso_hdr(const struct pk *k, uint16_t gso_size);

#endif
