/* SPDX-License-Identifier: MIT */
#ifndef FT_BASE_BYTES_H
#define FT_BASE_BYTES_H

#include <stdint.h>

/*
 * Loads and stores of multi-byte wire fields, byte by byte: a packet buffer has no alignment
 * to rely on and is never read through a cast struct (STYLE.md, tcpdump's rule). Big-endian
 * (network order) for IP, TCP, UDP, IPFIX and the AllowedIPs keys; little-endian for the
 * virtio-net header, which is in the host's order on every machine flowtun runs on.
 *
 * The caller has checked that the bytes are there. gcc and clang compile each load into one
 * unaligned load and a byte swap, so these cost no more than the hand-written shifts they
 * replace (tests/bench/stats-bench and proto-bench measure the header paths).
 */

static inline uint16_t ft_be16_load(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t ft_be32_load(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t ft_be64_load(const uint8_t *p)
{
	return (uint64_t)ft_be32_load(p) << 32 | ft_be32_load(p + 4);
}

static inline void ft_be16_store(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void ft_be32_store(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void ft_be64_store(uint8_t *p, uint64_t v)
{
	ft_be32_store(p, (uint32_t)(v >> 32));
	ft_be32_store(p + 4, (uint32_t)v);
}

static inline uint16_t ft_le16_load(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline void ft_le16_store(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

#endif
