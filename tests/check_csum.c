// SPDX-License-Identifier: MIT
/* The Internet checksum: the fast loop against the reference, pseudo-headers, updates. */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include <check.h>

#include "tun/net/csum.h"

static uint64_t rng_state = 0x243f6a8885a308d3ULL;

static uint8_t rnd8(void)
{
	/* xorshift64: deterministic, so a failure repeats. */
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint8_t)(rng_state >> 32);
}

static void fill_random(uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = rnd8();
}

/*
 * Known answers:
 *  - RFC 1071 section 3's example words 0001 f203 f4f5 f6f7: sum ddf2, checksum 220d;
 *  - an IPv4 header (20 bytes, UDP 192.168.0.1 -> 192.168.0.199, total length 115, DF, TTL
 *    64) with its checksum field zeroed: b861; with b861 in place: 0;
 *  - the empty buffer: ffff; one odd byte 0x01 counts as the word 0100: feff.
 */
static const struct {
	const char *what;
	uint8_t bytes[20];
	size_t len;
	uint16_t csum;
} known[] = {
	{ "RFC 1071 example", { 0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7 }, 8, 0x220d },
	{ "IPv4 header, field zero",
	  { 0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
	    0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7 },
	  20,
	  0xb861 },
	{ "IPv4 header, verified",
	  { 0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
	    0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7 },
	  20,
	  0x0000 },
	{ "empty", { 0 }, 0, 0xffff },
	{ "one odd byte", { 0x01 }, 1, 0xfeff },
	{ "all ones", { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff }, 9, 0x00ff },
};

START_TEST(test_known)
{
	ck_assert_uint_eq(ft_csum(known[_i].bytes, known[_i].len), known[_i].csum);
	ck_assert_uint_eq(ft_csum_reference(known[_i].bytes, known[_i].len), known[_i].csum);
}
END_TEST

/* Every length 0..2000 at each alignment 0..7 of random data: fast == reference. */
START_TEST(test_random_lengths)
{
	static uint8_t buf[2000 + 16];
	size_t align = (size_t)_i;

	for (size_t len = 0; len <= 2000; len++) {
		fill_random(buf + align, len);
		ck_assert_msg(ft_csum(buf + align, len) == ft_csum_reference(buf + align, len),
			      "length %zu alignment %zu", len, align);
	}
}
END_TEST

/* Long runs of 0xff make the most carries; 0x00 the fewest; 64 KiB is the largest packet. */
START_TEST(test_extremes)
{
	static uint8_t buf[65536 + 1];
	const uint8_t fill[] = { 0x00, 0xff, 0x80, 0x01 };

	for (size_t f = 0; f < sizeof(fill); f++) {
		memset(buf, fill[f], sizeof(buf));
		for (size_t len = 65530; len <= sizeof(buf) - 1; len++)
			ck_assert_uint_eq(ft_csum(buf + 1, len), ft_csum_reference(buf + 1, len));
	}
}
END_TEST

/* Chained partial sums over even-length pieces equal the whole. */
START_TEST(test_chaining)
{
	uint8_t buf[1501];

	fill_random(buf, sizeof(buf));
	for (size_t cut = 0; cut <= sizeof(buf); cut += 2) {
		uint32_t s = ft_csum_partial(buf, cut, 0);

		s = ft_csum_partial(buf + cut, sizeof(buf) - cut, s);
		ck_assert_msg(ft_csum_fold(s) == ft_csum_reference(buf, sizeof(buf)), "cut %zu",
			      cut);
	}
	/* An incoming sum with high bits set is folded, not lost. */
	ck_assert_uint_eq(ft_csum_fold(ft_csum_partial(buf, 0, 0xffffffffu)),
			  ft_csum_fold(0xffffffffu));
}
END_TEST

/* Pseudo-header sums equal the reference over the pseudo-header laid out in bytes. */
START_TEST(test_pseudo)
{
	uint8_t src[16], dst[16], ph[40];
	uint32_t lens[] = { 0, 20, 1480, 65535, 65536, 0x12345678 };

	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		uint8_t proto = (i & 1) ? 17 : 6;

		fill_random(src, sizeof(src));
		fill_random(dst, sizeof(dst));
		/* IPv4 (RFC 793): src, dst, zero, protocol, 16-bit length. */
		memcpy(ph, src, 4);
		memcpy(ph + 4, dst, 4);
		ph[8] = 0;
		ph[9] = proto;
		ph[10] = (uint8_t)(lens[i] >> 8);
		ph[11] = (uint8_t)lens[i];
		if (lens[i] <= 0xffff)
			ck_assert_uint_eq(ft_csum_fold(ft_csum_pseudo_v4(src, dst, proto, lens[i])),
					  ft_csum_reference(ph, 12));
		/* IPv6 (RFC 8200 8.1): src, dst, 32-bit length, three zeros, next header. */
		memcpy(ph, src, 16);
		memcpy(ph + 16, dst, 16);
		ph[32] = (uint8_t)(lens[i] >> 24);
		ph[33] = (uint8_t)(lens[i] >> 16);
		ph[34] = (uint8_t)(lens[i] >> 8);
		ph[35] = (uint8_t)lens[i];
		ph[36] = ph[37] = ph[38] = 0;
		ph[39] = proto;
		ck_assert_uint_eq(ft_csum_fold(ft_csum_pseudo_v6(src, dst, proto, lens[i])),
				  ft_csum_reference(ph, 40));
	}
}
END_TEST

/* An incremental update leaves a buffer that still verifies, for random fields and values. */
START_TEST(test_update)
{
	uint8_t buf[64];

	for (int round = 0; round < 2000; round++) {
		size_t at = (size_t)(rnd8() % 15) * 2 + 2; /* an even offset past the field */
		uint16_t check, old16, new16;
		uint32_t old32, new32;

		fill_random(buf, sizeof(buf));
		buf[0] = buf[1] = 0;
		check = ft_csum_reference(buf, sizeof(buf));
		buf[0] = (uint8_t)(check >> 8);
		buf[1] = (uint8_t)check;
		ck_assert_uint_eq(ft_csum_reference(buf, sizeof(buf)), 0);

		old16 = (uint16_t)(buf[at] << 8 | buf[at + 1]);
		new16 = (uint16_t)(rnd8() << 8 | rnd8());
		buf[at] = (uint8_t)(new16 >> 8);
		buf[at + 1] = (uint8_t)new16;
		check = ft_csum_update16(check, old16, new16);
		buf[0] = (uint8_t)(check >> 8);
		buf[1] = (uint8_t)check;
		ck_assert_uint_eq(ft_csum_reference(buf, sizeof(buf)), 0);

		old32 = (uint32_t)buf[at] << 24 | (uint32_t)buf[at + 1] << 16 |
			(uint32_t)buf[at + 2] << 8 | buf[at + 3];
		new32 = (uint32_t)rnd8() << 24 | (uint32_t)rnd8() << 16 | (uint32_t)rnd8() << 8 |
			rnd8();
		for (int k = 0; k < 4; k++)
			buf[at + (size_t)k] = (uint8_t)(new32 >> (24 - 8 * k));
		check = ft_csum_update32(check, old32, new32);
		buf[0] = (uint8_t)(check >> 8);
		buf[1] = (uint8_t)check;
		ck_assert_uint_eq(ft_csum_reference(buf, sizeof(buf)), 0);
	}
}
END_TEST

static Suite *csum_suite(void)
{
	Suite *s = suite_create("csum");
	TCase *tc = tcase_create("csum");

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_known, 0, sizeof(known) / sizeof(known[0]));
	tcase_add_loop_test(tc, test_random_lengths, 0, 8);
	tcase_add_test(tc, test_extremes);
	tcase_add_test(tc, test_chaining);
	tcase_add_test(tc, test_pseudo);
	tcase_add_test(tc, test_update);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(csum_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
