// SPDX-License-Identifier: MIT
/* The packets and slots of check_offload.c and check_offload_gro.c (tests/offload-harness.h). */
#include "config.h"

#include <string.h>

#include "tests/offload-harness.h"
#include "tun/net/csum.h"

const uint8_t src4[4] = { 100, 64, 0, 1 }, dst4[4] = { 100, 64, 0, 2 };
const uint8_t src6[16] = { 0xfd, [15] = 1 }, dst6[16] = { 0xfd, [15] = 2 };

uint8_t payload_byte(size_t i)
{
	return (uint8_t)(i * 7 + (i >> 8) + 3);
}

void put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

void put32(uint8_t *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p + 2, v & 0xffff);
}

uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* The L4 checksum over pseudo-header + segment, by the reference loop. */
uint16_t ref_l4_csum(const struct pk *k, const uint8_t *l4, size_t l4len)
{
	static uint8_t tmp[40 + 65536];
	size_t ph;

	if (k->v6) {
		memcpy(tmp, src6, 16);
		memcpy(tmp + 16, dst6, 16);
		put32(tmp + 32, (uint32_t)l4len);
		tmp[36] = tmp[37] = tmp[38] = 0;
		tmp[39] = k->proto;
		ph = 40;
	} else {
		memcpy(tmp, src4, 4);
		memcpy(tmp + 4, dst4, 4);
		tmp[8] = 0;
		tmp[9] = k->proto;
		put16(tmp + 10, (uint32_t)l4len);
		ph = 12;
	}
	memcpy(tmp + ph, l4, l4len);
	return ft_csum_reference(tmp, ph + l4len);
}

/* Builds the packet k carrying payload bytes [poff, poff + plen) into b; returns its length. */
size_t build(uint8_t *b, const struct pk *k, size_t poff, size_t plen)
{
	size_t iphl = k->v6 ? 40 : 20, l4hl, len;
	uint8_t *l4 = b + iphl;
	uint16_t c;

	l4hl = k->proto == 6 ? 20u + k->optlen : 8;
	len = iphl + l4hl + plen;
	memset(b, 0, iphl + l4hl);
	if (k->v6) {
		b[0] = 0x60 | (k->tos >> 4);
		b[1] = (uint8_t)(k->tos << 4) | 0x0a; /* flow label 0xabcde */
		b[2] = 0xbc;
		b[3] = 0xde;
		put16(b + 4, (uint32_t)(len - 40));
		b[6] = k->proto;
		b[7] = k->ttl;
		memcpy(b + 8, src6, 16);
		memcpy(b + 24, dst6, 16);
	} else {
		b[0] = 0x45;
		b[1] = k->tos;
		put16(b + 2, (uint32_t)len);
		put16(b + 4, k->id);
		put16(b + 6, 0x4000); /* DF */
		b[8] = k->ttl;
		b[9] = k->proto;
		memcpy(b + 12, src4, 4);
		memcpy(b + 16, dst4, 4);
		put16(b + 10, ft_csum_reference(b, 20));
	}
	put16(l4, k->sport);
	put16(l4 + 2, k->dport);
	for (size_t i = 0; i < plen; i++)
		b[iphl + l4hl + i] = payload_byte(poff + i);
	if (k->proto == 6) {
		put32(l4 + 4, k->seq);
		put32(l4 + 8, k->ack);
		l4[12] = (uint8_t)((l4hl / 4) << 4);
		l4[13] = k->flags;
		put16(l4 + 14, k->win);
		/* Options: NOP NOP timestamps(10) when 12 bytes, else NOPs. */
		memset(l4 + 20, 1, k->optlen);
		if (k->optlen == 12) {
			l4[22] = 8;
			l4[23] = 10;
			put32(l4 + 24, 0x01020304);
			put32(l4 + 28, 0x05060708);
		}
		c = ref_l4_csum(k, l4, len - iphl);
		put16(l4 + 16, c);
	} else if (k->proto == 17) {
		put16(l4 + 4, (uint32_t)(len - iphl));
		c = ref_l4_csum(k, l4, len - iphl);
		put16(l4 + 6, c ? c : 0xffff);
	}
	return len;
}

uint8_t slotmem[NSLOTS][SLOT_SIZE];
uint8_t *slots[NSLOTS];
size_t lens[NSLOTS];
uint8_t super[65536], expect[SLOT_SIZE];
unsigned int owner[FT_OFFLOAD_GRO_MAX_BATCH];

void reset_slots(void)
{
	memset(slotmem, 0xaa, sizeof(slotmem));
	for (int i = 0; i < NSLOTS; i++)
		slots[i] = slotmem[i];
}

/* The vnet header Linux puts before a TSO/USO super-packet from a socket. */
struct ft_vnet_hdr gso_hdr(const struct pk *k, uint16_t gso_size)
{
	struct ft_vnet_hdr vh = { .flags = FT_VNET_F_NEEDS_CSUM, .gso_size = gso_size };
	size_t iphl = k->v6 ? 40 : 20;

	vh.csum_start = (uint16_t)iphl;
	if (k->proto == 17) {
		vh.gso_type = FT_VNET_GSO_UDP_L4;
		vh.csum_offset = 6;
		vh.hdr_len = (uint16_t)(iphl + 8);
	} else {
		vh.gso_type = k->v6 ? FT_VNET_GSO_TCPV6 : FT_VNET_GSO_TCPV4;
		vh.csum_offset = 16;
		vh.hdr_len = (uint16_t)(iphl + 20 + k->optlen);
	}
	return vh;
}
