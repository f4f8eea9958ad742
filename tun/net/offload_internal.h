/* SPDX-License-Identifier: MIT */
#ifndef FT_OFFLOAD_INTERNAL_H
#define FT_OFFLOAD_INTERNAL_H

/*
 * What offload.c (GSO, the vnet header, TCP GRO and the coalescing table) and offload_udp.c
 * (UDP GRO) share, and nobody else: header constants, byte accessors, the coalescing table.
 * Pure functions over caller buffers, as in offload.h.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "base/bytes.h"
#include "tun/net/offload.h"

enum {
	IPPROTO_TCP_ = 6,
	IPPROTO_UDP_ = 17,
	TCP_CSUM_OFF = 16,
	UDP_CSUM_OFF = 6,
	IPV4_MIN_HL = 20,
	IPV6_HL = 40,
	TCP_MIN_HL = 20,
	UDP_HL = 8,
};

/* The big-endian accessors are base/bytes.h's; the short names keep the field reads legible. */
static inline uint16_t get16(const uint8_t *p)
{
	return ft_be16_load(p);
}

static inline uint32_t get32(const uint8_t *p)
{
	return ft_be32_load(p);
}

static inline void put16(uint8_t *p, uint16_t v)
{
	ft_be16_store(p, v);
}

static inline void put32(uint8_t *p, uint32_t v)
{
	ft_be32_store(p, v);
}

/*
 * One output of a coalesce batch: a single packet, or a chain of TCP segments (or UDP
 * datagrams) of one flow
 * (first, then each input's next) that will become one super-packet.
 */
struct gro_item {
	unsigned int first, last, count;
	bool open;	    /* more segments may be appended */
	bool tcp;	    /* a merge candidate at all */
	bool udp;	    /* a UDP flow (the candidate fields below then describe UDP) */
	bool fixed_id;	    /* UDP over IPv4 with DF: every datagram has the first one's id */
	bool v6;	    /* which header layout */
	uint16_t iphl, thl; /* header lengths of every segment */
	uint16_t gso_size;  /* the payload of the first segment */
	uint32_t next_seq;  /* what the next segment must start at */
	size_t total;	    /* the super-packet's IP length so far */
	size_t first_len;   /* the first packet's IP length */
};

struct gro_table {
	struct gro_item items[FT_OFFLOAD_GRO_MAX_BATCH];
	unsigned int next[FT_OFFLOAD_GRO_MAX_BATCH];	/* chain of inputs in an item */
	size_t len[FT_OFFLOAD_GRO_MAX_BATCH];		/* trimmed length of each input */
	unsigned int item_of[FT_OFFLOAD_GRO_MAX_BATCH]; /* the item (output) of each input */
	int bucket[2 * FT_OFFLOAD_GRO_MAX_BATCH];	/* flow hash -> latest item of that hash */
	unsigned int nitems;
	unsigned int flags; /* enum ft_offload_gro_flags: what may merge */
};

#define GRO_BUCKETS (2 * FT_OFFLOAD_GRO_MAX_BATCH)

/* Copies item it's packets to pkt: the first whole, the others' data after hl header bytes;
 * returns the IP length of the result. */
size_t ft_offload_gro_gather(const struct gro_table *t, const struct gro_item *it,
			     const struct iovec *in, uint8_t *pkt, size_t hl);

/* offload_udp.c: UDP datagrams of a flow into one GSO_UDP_L4 (USO) super-packet. */
/* Whether p (*len bytes) may merge at all; fills *it's layout, trims *len to the IP length. */
bool ft_offload_udp_candidate(const uint8_t *p, size_t *len, struct gro_item *it);
/* A new item it starts with one candidate of IP length len. */
void ft_offload_udp_start(struct gro_item *it, size_t len);
/* Appends candidate input i (IP length len) to item k when Linux would; true when it did. */
bool ft_offload_udp_append(struct gro_table *t, const struct iovec *in, unsigned int i, size_t len,
			   int k);
/* Writes item it (two datagrams or more) behind its vnet header at dst; the bytes written. */
size_t ft_offload_udp_emit(const struct gro_table *t, const struct gro_item *it,
			   const struct iovec *in, uint8_t *dst);

#endif
