/* SPDX-License-Identifier: MIT */
#ifndef FT_CSUM_H
#define FT_CSUM_H

#include <stddef.h>
#include <stdint.h>

/*
 * The Internet checksum (RFC 1071), fast enough to run on every packet of a 10 Gbit/s flow.
 *
 * All sums are host-order values of the big-endian 16-bit words: a partial sum is a 32-bit
 * number that ft_csum_fold() turns into the 16-bit value to store big-endian in a header.
 * Partial sums of consecutive pieces of one buffer may be chained (pass the previous result as
 * sum) as long as every piece but the last has an even length, because the checksum pairs
 * bytes from the start of each piece.
 */

/* Adds the 16-bit words of buf[0..len) to sum; an odd last byte is padded with zero. */
uint32_t ft_csum_partial(const void *buf, size_t len, uint32_t sum);

/* Folds a partial sum to 16 bits and complements it: the value for the checksum field. */
static inline uint16_t ft_csum_fold(uint32_t sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* The checksum of buf[0..len): 0 over a buffer whose checksum field is already right. */
static inline uint16_t ft_csum(const void *buf, size_t len)
{
	return ft_csum_fold(ft_csum_partial(buf, len, 0));
}

/* Partial sums of the TCP/UDP pseudo-headers; len is the transport length (header + data). */
uint32_t ft_csum_pseudo_v4(const uint8_t src[4], const uint8_t dst[4], uint8_t proto, uint32_t len);
uint32_t ft_csum_pseudo_v6(const uint8_t src[16], const uint8_t dst[16], uint8_t proto,
			   uint32_t len);

/*
 * Incremental updates (RFC 1624, eqn. 3: HC' = ~(~HC + ~m + m')): the new checksum field
 * after a 16- or 32-bit field covered by check changed from old to new (host order).
 */
uint16_t ft_csum_update16(uint16_t check, uint16_t old, uint16_t new);
uint16_t ft_csum_update32(uint16_t check, uint32_t old, uint32_t new);

/*
 * The textbook loop, one 16-bit word at a time: for the tests and the benchmark only, as the
 * reference the fast version is checked against. Returns the folded, complemented checksum.
 */
uint16_t ft_csum_reference(const void *buf, size_t len);

#endif
