// SPDX-License-Identifier: MIT
/*
 * The Internet checksum over 64-bit words with end-around carry. Ones' complement addition is
 * associative and commutative and does not care which byte order the words are added in
 * (RFC 1071, 2.(B)), so the loop adds native 64-bit loads, folds to 16 bits, and swaps bytes
 * once at the end on a little-endian host. memcpy loads make any alignment safe and compile to
 * plain loads on x86-64 and arm64.
 */
#include "config.h"

#include <string.h>

#include "tun/net/csum.h"

static inline uint64_t add_carry(uint64_t a, uint64_t b)
{
	uint64_t s;

	/*
	 * The carry out of bit 63 goes back in at bit 0: that is ones' complement addition.
	 * Written with the overflow builtin, gcc emits add + adc; the (s < b) form cost it a
	 * third more time per 1500 bytes (tests/bench/csum-bench).
	 */
	if (__builtin_add_overflow(a, b, &s))
		s++;
	return s;
}

static inline uint64_t load64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* Folds a 64-bit ones' complement sum to 16 bits, keeping it in native byte order. */
static inline uint32_t fold64(uint64_t s)
{
	s = (s & 0xffffffffULL) + (s >> 32);
	s = (s & 0xffffffffULL) + (s >> 32);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (uint32_t)s;
}

static inline uint32_t native_to_host16(uint32_t s)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	return ((s & 0xff) << 8) | (s >> 8);
#else
	return s;
#endif
}

uint32_t ft_csum_partial(const void *buf, size_t len, uint32_t sum)
{
	const uint8_t *p = buf;
	uint64_t a = 0, b = 0, c = 0, d = 0;
	uint64_t tail = 0;
	uint32_t s;

	/* Four independent chains, so that the carries of one do not stall the next add. */
	while (len >= 64) {
		a = add_carry(a, load64(p));
		b = add_carry(b, load64(p + 8));
		c = add_carry(c, load64(p + 16));
		d = add_carry(d, load64(p + 24));
		a = add_carry(a, load64(p + 32));
		b = add_carry(b, load64(p + 40));
		c = add_carry(c, load64(p + 48));
		d = add_carry(d, load64(p + 56));
		p += 64;
		len -= 64;
	}
	while (len >= 8) {
		a = add_carry(a, load64(p));
		p += 8;
		len -= 8;
	}
	/* The tail is less than 8 bytes: zero padding after it keeps each byte in its lane. */
	memcpy(&tail, p, len);
	b = add_carry(b, tail);

	a = add_carry(add_carry(a, b), add_carry(c, d));
	s = native_to_host16(fold64(a));
	s += (sum & 0xffff) + (sum >> 16);
	s = (s & 0xffff) + (s >> 16);
	return s;
}

uint32_t ft_csum_pseudo_v4(const uint8_t src[4], const uint8_t dst[4], uint8_t proto, uint32_t len)
{
	uint32_t s = 0;

	s += ((uint32_t)src[0] << 8 | src[1]) + ((uint32_t)src[2] << 8 | src[3]);
	s += ((uint32_t)dst[0] << 8 | dst[1]) + ((uint32_t)dst[2] << 8 | dst[3]);
	s += proto;
	s += (len >> 16) + (len & 0xffff);
	s = (s & 0xffff) + (s >> 16);
	return s;
}

uint32_t ft_csum_pseudo_v6(const uint8_t src[16], const uint8_t dst[16], uint8_t proto,
			   uint32_t len)
{
	uint32_t s = 0;

	for (int i = 0; i < 16; i += 2) {
		s += (uint32_t)src[i] << 8 | src[i + 1];
		s += (uint32_t)dst[i] << 8 | dst[i + 1];
	}
	s += proto;
	s += (len >> 16) + (len & 0xffff);
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return s;
}

uint16_t ft_csum_update16(uint16_t check, uint16_t old, uint16_t new)
{
	uint32_t s = (uint16_t)~check;

	s += (uint16_t)~old;
	s += new;
	return ft_csum_fold(s);
}

uint16_t ft_csum_update32(uint16_t check, uint32_t old, uint32_t new)
{
	uint32_t s = (uint16_t)~check;

	s += (uint16_t) ~(old >> 16);
	s += (uint16_t) ~(old & 0xffff);
	s += new >> 16;
	s += new & 0xffff;
	return ft_csum_fold(s);
}

uint16_t ft_csum_reference(const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint64_t s = 0;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		s += (uint32_t)p[i] << 8 | p[i + 1];
	if (i < len)
		s += (uint32_t)p[i] << 8;
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}
