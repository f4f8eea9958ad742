// SPDX-License-Identifier: MIT
/*
 * AllowedIPs: longest-prefix match over IPv4 and IPv6, insert/replace/remove/remove-by-peer,
 * walk, and a randomized cross-check against a naive linear search.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <check.h>

#include "tun/wg/allowedips.h"

/* The table never dereferences a peer, so distinct addresses in this array do. */
static char peer_storage[8];
#define PEER(i) ((struct ft_peer *)(void *)&peer_storage[(i)])
#define NPEERS ((int)sizeof(peer_storage))

static int peer_index(const struct ft_peer *p)
{
	for (int i = 0; i < NPEERS; i++)
		if (p == PEER(i))
			return i;
	return -1;
}

/* "10.0.0.0" or "fd00::1" into family + bytes. */
static int parse_addr(const char *s, uint8_t addr[16])
{
	if (inet_pton(AF_INET, s, addr) == 1)
		return AF_INET;
	if (inet_pton(AF_INET6, s, addr) == 1)
		return AF_INET6;
	ck_abort_msg("bad test address %s", s);
	return -1;
}

static void insert(struct ft_allowedips *t, const char *s, uint8_t cidr, int peer)
{
	uint8_t addr[16];
	int family = parse_addr(s, addr);

	ck_assert_msg(ft_allowedips_insert(t, family, addr, cidr, PEER(peer)) == 0, "insert %s/%u",
		      s, cidr);
}

static int lookup(const struct ft_allowedips *t, const char *s)
{
	uint8_t addr[16];
	int family = parse_addr(s, addr);

	return peer_index(ft_allowedips_lookup(t, family, addr));
}

/*
 * Overlapping prefixes of several peers, then lookups with the peer expected (-1: none).
 * The comment after each lookup says which prefix should win.
 */
static const struct {
	const char *addr;
	uint8_t cidr;
	int peer;
} overlap_prefixes[] = {
	{ "192.168.4.0", 24, 0 },
	{ "192.168.4.4", 32, 1 },
	{ "192.168.0.0", 16, 2 },
	{ "192.95.5.64", 27, 3 },
	{ "192.95.5.65", 32, 2 },
	{ "192.95.5.0", 24, 4 },
	{ "10.0.0.0", 8, 5 },
	{ "10.128.0.0", 9, 6 },
	{ "10.0.0.0", 9, 7 },
	{ "100.64.0.0", 10, 0 },
	{ "100.64.1.0", 24, 1 },
	{ "100.64.1.128", 25, 2 },
	{ "100.64.1.192", 26, 3 },
	{ "100.64.1.193", 32, 4 },
	{ "255.255.255.255", 32, 5 },
	{ "0.0.0.0", 32, 6 },
	{ "fd00::", 8, 0 },
	{ "fd00:1::", 32, 1 },
	{ "fd00:1:2::", 48, 2 },
	{ "fd00:1:2:3::", 64, 3 },
	{ "fd00:1:2:3::7", 128, 4 },
	{ "fd00:1:2:3::6", 127, 5 },
	{ "2001:db8::", 32, 6 },
	{ "2001:db8:8000::", 33, 7 },
	{ "2001:db8:1::", 48, 5 },
	{ "fd80::", 9, 6 },
	{ "::", 128, 7 },
	{ "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 128, 0 },
};

static const struct {
	const char *addr;
	int peer;
} overlap_lookups[] = {
	{ "192.168.4.20", 0 },	   /* 192.168.4.0/24 */
	{ "192.168.4.0", 0 },	   /* 192.168.4.0/24, network address */
	{ "192.168.4.4", 1 },	   /* the /32 inside the /24 */
	{ "192.168.4.5", 0 },	   /* next to the /32 */
	{ "192.168.200.1", 2 },	   /* 192.168.0.0/16 */
	{ "192.169.0.1", -1 },	   /* just past the /16 */
	{ "192.95.5.65", 2 },	   /* /32 beats /27 and /24 */
	{ "192.95.5.66", 3 },	   /* /27 */
	{ "192.95.5.96", 4 },	   /* outside the /27 (64..95), inside the /24 */
	{ "192.95.5.63", 4 },	   /* just below the /27 */
	{ "192.95.6.0", -1 },	   /* outside everything */
	{ "10.1.2.3", 7 },	   /* 10.0.0.0/9 */
	{ "10.200.0.1", 6 },	   /* 10.128.0.0/9 */
	{ "10.127.255.255", 7 },   /* last address of the lower /9 */
	{ "10.128.0.0", 6 },	   /* first address of the upper /9 */
	{ "100.64.0.1", 0 },	   /* /10 */
	{ "100.127.255.255", 0 },  /* last address of the /10 */
	{ "100.128.0.0", -1 },	   /* first past the /10 */
	{ "100.64.1.1", 1 },	   /* /24 */
	{ "100.64.1.129", 2 },	   /* /25 */
	{ "100.64.1.192", 3 },	   /* /26 */
	{ "100.64.1.193", 4 },	   /* /32 */
	{ "100.64.1.255", 3 },	   /* /26 */
	{ "255.255.255.255", 5 },  /* all ones /32 */
	{ "255.255.255.254", -1 }, /* neighbour of the all-ones /32 */
	{ "0.0.0.0", 6 },	   /* all zeros /32 */
	{ "0.0.0.1", -1 },	   /* neighbour */
	{ "fd00::1", 0 },	   /* fd00::/8 */
	{ "fd7f:ffff::1", 0 },	   /* fd00::/8 still */
	{ "fe00::", -1 },	   /* past fd00::/8 */
	{ "fd00:1::1", 1 },	   /* /32 */
	{ "fd00:1:2::1", 2 },	   /* /48 */
	{ "fd00:1:2:3::1", 3 },	   /* /64 */
	{ "fd00:1:2:3::7", 4 },	   /* /128 */
	{ "fd00:1:2:3::6", 5 },	   /* /127 */
	{ "fd00:1:2:3::5", 3 },	   /* /64 (outside the /127 ::6-::7) */
	{ "fd00:1:2:4::", 2 },	   /* /48 */
	{ "fdff:ffff::1", 6 },	   /* fd80::/9 inside /8 */
	{ "fd00:ffff::1", 0 },	   /* fd00::/8, outside the /32 */
	{ "2001:db8::1", 6 },	   /* /32 */
	{ "2001:db8:8000::1", 7 }, /* /33 */
	{ "2001:db8:7fff::1", 6 }, /* /32 just below the /33 */
	{ "2001:db8:1::1", 5 },	   /* /48 */
	{ "2001:db9::", -1 },	   /* past the /32 */
	{ "::", 7 },		   /* ::/128 */
	{ "::1", -1 },		   /* neighbour */
	{ "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 0 },
	{ "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", -1 },
	{ "::ffff:192.168.4.4", -1 }, /* a v4-mapped address is not IPv4 */
};

static struct ft_allowedips *build_overlap(void)
{
	struct ft_allowedips *t = ft_allowedips_create();

	ck_assert_ptr_nonnull(t);
	for (size_t i = 0; i < sizeof(overlap_prefixes) / sizeof(overlap_prefixes[0]); i++)
		insert(t, overlap_prefixes[i].addr, overlap_prefixes[i].cidr,
		       overlap_prefixes[i].peer);
	return t;
}

START_TEST(test_overlap_lookup)
{
	struct ft_allowedips *t = build_overlap();
	int got = lookup(t, overlap_lookups[_i].addr);

	ck_assert_msg(got == overlap_lookups[_i].peer, "%s: peer %d, expected %d",
		      overlap_lookups[_i].addr, got, overlap_lookups[_i].peer);
	ck_assert_uint_eq(ft_allowedips_count(t),
			  sizeof(overlap_prefixes) / sizeof(overlap_prefixes[0]));
	ft_allowedips_destroy(t);
}
END_TEST

START_TEST(test_default_routes)
{
	struct ft_allowedips *t = ft_allowedips_create();

	ck_assert_int_eq(lookup(t, "1.2.3.4"), -1);
	ck_assert_int_eq(lookup(t, "::1"), -1);
	insert(t, "0.0.0.0", 0, 1);
	ck_assert_int_eq(lookup(t, "1.2.3.4"), 1);
	ck_assert_int_eq(lookup(t, "255.255.255.255"), 1);
	ck_assert_int_eq(lookup(t, "::1"), -1); /* families are separate */
	insert(t, "::", 0, 2);
	ck_assert_int_eq(lookup(t, "2001:db8::1"), 2);
	ck_assert_int_eq(lookup(t, "1.2.3.4"), 1);
	insert(t, "1.2.3.4", 32, 3);
	ck_assert_int_eq(lookup(t, "1.2.3.4"), 3);
	ck_assert_int_eq(lookup(t, "1.2.3.5"), 1);
	/* /0 with host bits set is still /0. */
	insert(t, "9.9.9.9", 0, 4);
	ck_assert_int_eq(lookup(t, "1.2.3.5"), 4);
	ck_assert_uint_eq(ft_allowedips_count(t), 3);
	ft_allowedips_destroy(t);
}
END_TEST

START_TEST(test_bad_arguments)
{
	struct ft_allowedips *t = ft_allowedips_create();
	uint8_t addr[16] = { 10 };

	ck_assert_int_eq(ft_allowedips_insert(t, AF_INET, addr, 33, PEER(0)), -EINVAL);
	ck_assert_int_eq(ft_allowedips_insert(t, AF_INET, addr, 255, PEER(0)), -EINVAL);
	ck_assert_int_eq(ft_allowedips_insert(t, AF_INET6, addr, 129, PEER(0)), -EINVAL);
	ck_assert_int_eq(ft_allowedips_insert(t, AF_INET, addr, 8, NULL), -EINVAL);
	ck_assert_int_eq(ft_allowedips_insert(t, AF_UNIX, addr, 8, PEER(0)), -EAFNOSUPPORT);
	ck_assert_int_eq(ft_allowedips_insert(t, AF_UNSPEC, addr, 0, PEER(0)), -EAFNOSUPPORT);
	ck_assert_int_eq(ft_allowedips_remove(t, AF_INET, addr, 33), -EINVAL);
	ck_assert_int_eq(ft_allowedips_remove(t, AF_INET6, addr, 129), -EINVAL);
	ck_assert_int_eq(ft_allowedips_remove(t, AF_UNIX, addr, 8), -EAFNOSUPPORT);
	ck_assert_int_eq(ft_allowedips_remove(t, AF_INET, addr, 8), -ENOENT);
	ck_assert_ptr_null(ft_allowedips_lookup(t, AF_UNIX, addr));
	ck_assert_uint_eq(ft_allowedips_count(t), 0);
	ck_assert_uint_eq(ft_allowedips_nodes(t), 0);
	/* Boundaries that are valid. */
	ck_assert_int_eq(ft_allowedips_insert(t, AF_INET, addr, 32, PEER(0)), 0);
	ck_assert_int_eq(ft_allowedips_insert(t, AF_INET6, addr, 128, PEER(0)), 0);
	ft_allowedips_destroy(t);
	ft_allowedips_destroy(NULL);
}
END_TEST

struct collected {
	size_t n;
	char text[64][64];
	int stop_after; /* 0: never */
};

static int collect(void *arg, int family, const uint8_t *addr, uint8_t cidr)
{
	struct collected *c = arg;
	char buf[INET6_ADDRSTRLEN];

	ck_assert_uint_lt(c->n, 64);
	ck_assert_ptr_nonnull(inet_ntop(family, addr, buf, sizeof(buf)));
	snprintf(c->text[c->n], sizeof(c->text[0]), "%s/%u", buf, cidr);
	c->n++;
	if (c->stop_after && (int)c->n == c->stop_after)
		return 42;
	return 0;
}

START_TEST(test_host_bits_masked)
{
	struct ft_allowedips *t = ft_allowedips_create();
	struct collected c = { 0 };

	insert(t, "10.1.2.3", 8, 0);
	insert(t, "fd00:1:2:3:4:5:6:7", 33, 0);
	insert(t, "10.200.200.200", 8, 1); /* the same prefix: replaces the peer */
	ck_assert_uint_eq(ft_allowedips_count(t), 2);
	ck_assert_int_eq(lookup(t, "10.0.0.1"), 1);
	ck_assert_int_eq(ft_allowedips_walk(t, NULL, collect, &c), 0);
	ck_assert_uint_eq(c.n, 2);
	ck_assert_str_eq(c.text[0], "10.0.0.0/8");
	ck_assert_str_eq(c.text[1], "fd00:1::/33");
	/* Removal ignores host bits too. */
	{
		uint8_t addr[16];

		parse_addr("10.99.99.99", addr);
		ck_assert_int_eq(ft_allowedips_remove(t, AF_INET, addr, 8), 0);
		parse_addr("fd00:1:7fff::", addr);
		ck_assert_int_eq(ft_allowedips_remove(t, AF_INET6, addr, 33), 0);
	}
	ck_assert_uint_eq(ft_allowedips_count(t), 0);
	ck_assert_uint_eq(ft_allowedips_nodes(t), 0);
	ft_allowedips_destroy(t);
}
END_TEST

START_TEST(test_walk_exact_set)
{
	struct ft_allowedips *t = build_overlap();
	size_t total = 0;

	for (int p = 0; p < NPEERS; p++) {
		struct collected c = { 0 };
		size_t want = 0;

		ck_assert_int_eq(ft_allowedips_walk(t, PEER(p), collect, &c), 0);
		for (size_t i = 0; i < sizeof(overlap_prefixes) / sizeof(overlap_prefixes[0]);
		     i++) {
			char buf[80];
			bool found = false;

			if (overlap_prefixes[i].peer != p)
				continue;
			want++;
			snprintf(buf, sizeof(buf), "%s/%u", overlap_prefixes[i].addr,
				 overlap_prefixes[i].cidr);
			for (size_t j = 0; j < c.n; j++)
				found |= strcmp(c.text[j], buf) == 0;
			ck_assert_msg(found, "peer %d: %s missing from the walk", p, buf);
		}
		ck_assert_uint_eq(c.n, want);
		total += c.n;
	}
	ck_assert_uint_eq(total, ft_allowedips_count(t));
	ft_allowedips_destroy(t);
}
END_TEST

START_TEST(test_walk_order_and_stop)
{
	struct ft_allowedips *t = ft_allowedips_create();
	struct collected c = { 0 };

	insert(t, "fd00::", 8, 0);
	insert(t, "10.0.0.0", 24, 0);
	insert(t, "10.0.0.0", 8, 0);
	insert(t, "9.0.0.0", 8, 0);
	insert(t, "10.0.0.128", 25, 0);
	ck_assert_int_eq(ft_allowedips_walk(t, NULL, collect, &c), 0);
	ck_assert_uint_eq(c.n, 5);
	ck_assert_str_eq(c.text[0], "9.0.0.0/8");
	ck_assert_str_eq(c.text[1], "10.0.0.0/8");
	ck_assert_str_eq(c.text[2], "10.0.0.0/24");
	ck_assert_str_eq(c.text[3], "10.0.0.128/25");
	ck_assert_str_eq(c.text[4], "fd00::/8");

	memset(&c, 0, sizeof(c));
	c.stop_after = 2;
	ck_assert_int_eq(ft_allowedips_walk(t, NULL, collect, &c), 42);
	ck_assert_uint_eq(c.n, 2);
	ft_allowedips_destroy(t);
}
END_TEST

START_TEST(test_remove)
{
	struct ft_allowedips *t = build_overlap();
	uint8_t addr[16];
	int family;

	/* 100.64.1.0/25 exists only as a branch point, if at all: never as a prefix. */
	family = parse_addr("100.64.1.0", addr);
	ck_assert_int_eq(ft_allowedips_remove(t, family, addr, 25), -ENOENT);
	family = parse_addr("192.95.5.64", addr);
	ck_assert_int_eq(ft_allowedips_remove(t, family, addr, 26), -ENOENT);
	ck_assert_int_eq(ft_allowedips_remove(t, family, addr, 27), 0);
	ck_assert_int_eq(ft_allowedips_remove(t, family, addr, 27), -ENOENT);
	ck_assert_int_eq(lookup(t, "192.95.5.66"), 4); /* falls back to the /24 */
	ck_assert_int_eq(lookup(t, "192.95.5.65"), 2); /* the /32 stays */

	family = parse_addr("fd00:1:2:3::", addr);
	ck_assert_int_eq(ft_allowedips_remove(t, family, addr, 64), 0);
	ck_assert_int_eq(lookup(t, "fd00:1:2:3::1"), 2);
	ck_assert_int_eq(lookup(t, "fd00:1:2:3::7"), 4);
	ck_assert_int_eq(lookup(t, "fd00:1:2:3::6"), 5);

	/* Remove everything: no node may be left behind. */
	for (size_t i = 0; i < sizeof(overlap_prefixes) / sizeof(overlap_prefixes[0]); i++) {
		family = parse_addr(overlap_prefixes[i].addr, addr);
		ft_allowedips_remove(t, family, addr, overlap_prefixes[i].cidr);
	}
	ck_assert_uint_eq(ft_allowedips_count(t), 0);
	ck_assert_uint_eq(ft_allowedips_nodes(t), 0);
	ck_assert_int_eq(lookup(t, "192.168.4.4"), -1);
	ft_allowedips_destroy(t);
}
END_TEST

START_TEST(test_remove_by_peer)
{
	struct ft_allowedips *t = build_overlap();
	struct collected c = { 0 };

	ft_allowedips_remove_by_peer(t, PEER(2));
	ck_assert_int_eq(ft_allowedips_walk(t, PEER(2), collect, &c), 0);
	ck_assert_uint_eq(c.n, 0);
	ck_assert_int_eq(lookup(t, "192.168.200.1"), -1); /* was 192.168.0.0/16 */
	ck_assert_int_eq(lookup(t, "192.95.5.65"), 3);	  /* /32 gone: the /27 */
	ck_assert_int_eq(lookup(t, "100.64.1.129"), 1);	  /* /25 gone: the /24 */
	ck_assert_int_eq(lookup(t, "fd00:1:2::1"), 1);	  /* /48 gone: the /32 */
	ck_assert_int_eq(lookup(t, "192.168.4.4"), 1);	  /* other peers untouched */
	ck_assert_int_eq(lookup(t, "fd00:1:2:3::7"), 4);
	/* The shape is restored: never more than 2n - 1 nodes per family. */
	ck_assert_uint_le(ft_allowedips_nodes(t), 2 * ft_allowedips_count(t));

	for (int p = 0; p < NPEERS; p++)
		ft_allowedips_remove_by_peer(t, PEER(p));
	ft_allowedips_remove_by_peer(t, NULL);
	ck_assert_uint_eq(ft_allowedips_count(t), 0);
	ck_assert_uint_eq(ft_allowedips_nodes(t), 0);
	ft_allowedips_destroy(t);
}
END_TEST

static bool peer_even(void *arg, const struct ft_peer *peer)
{
	int *calls = arg;

	(*calls)++;
	return peer_index(peer) % 2 == 0;
}

START_TEST(test_remove_if)
{
	struct ft_allowedips *t = build_overlap();
	struct collected c = { 0 };
	size_t before = ft_allowedips_count(t), even = 0;
	int calls = 0;

	for (int p = 0; p < NPEERS; p += 2) {
		struct collected one = { 0 };

		ck_assert_int_eq(ft_allowedips_walk(t, PEER(p), collect, &one), 0);
		even += one.n;
	}
	ck_assert_uint_gt(even, 0);
	ck_assert_uint_eq(ft_allowedips_remove_if(t, NULL, NULL), 0);
	ck_assert_uint_eq(ft_allowedips_remove_if(t, peer_even, &calls), even);
	/* Asked once per prefix, never for a branch point. */
	ck_assert_int_eq(calls, (int)before);
	ck_assert_uint_eq(ft_allowedips_count(t), before - even);
	for (int p = 0; p < NPEERS; p += 2) {
		ck_assert_int_eq(ft_allowedips_walk(t, PEER(p), collect, &c), 0);
		ck_assert_uint_eq(c.n, 0);
	}
	ck_assert_int_eq(lookup(t, "192.168.4.4"), 1); /* odd peers untouched */
	ck_assert_int_eq(lookup(t, "192.95.5.65"), 3);
	ck_assert_uint_le(ft_allowedips_nodes(t), 2 * ft_allowedips_count(t));
	ft_allowedips_destroy(t);
}
END_TEST

/*
 * The naive model: a list of prefixes searched linearly. Slow and obviously right.
 */
struct naive_entry {
	int family;
	uint8_t addr[16];
	uint8_t cidr;
	struct ft_peer *peer;
};

struct naive {
	struct naive_entry *e;
	size_t n;
};

static bool prefix_contains(const uint8_t *prefix, uint8_t cidr, const uint8_t *addr)
{
	size_t full = cidr / 8;
	unsigned int rest = cidr % 8;

	if (memcmp(prefix, addr, full) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((prefix[full] ^ addr[full]) & (uint8_t)(0xff00 >> rest)) == 0;
}

static void mask_addr(uint8_t *addr, size_t len, uint8_t cidr)
{
	for (size_t i = 0; i < len; i++) {
		unsigned int bits = cidr > i * 8 ? cidr - i * 8 : 0;

		if (bits < 8)
			addr[i] &= (uint8_t)(0xff00 >> bits);
	}
}

static struct naive_entry *naive_find(struct naive *m, int family, const uint8_t *addr,
				      uint8_t cidr)
{
	for (size_t i = 0; i < m->n; i++)
		if (m->e[i].family == family && m->e[i].cidr == cidr &&
		    memcmp(m->e[i].addr, addr, 16) == 0)
			return &m->e[i];
	return NULL;
}

static struct ft_peer *naive_lookup(const struct naive *m, int family, const uint8_t *addr)
{
	const struct naive_entry *best = NULL;

	for (size_t i = 0; i < m->n; i++)
		if (m->e[i].family == family && prefix_contains(m->e[i].addr, m->e[i].cidr, addr) &&
		    (!best || m->e[i].cidr > best->cidr))
			best = &m->e[i];
	return best ? best->peer : NULL;
}

/* xorshift64*: reproducible across runs and machines. */
static uint64_t rng_state;

static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ULL;
}

/*
 * Addresses drawn near a few bases, so that prefixes overlap and share long paths, with some
 * fully random ones.
 */
static int random_addr(uint8_t addr[16])
{
	static const uint8_t bases[4][16] = {
		{ 100, 64, 0, 0 },
		{ 10, 0, 0, 0 },
		{ 0xfd, 0, 0, 1, 0, 2 },
		{ 0x20, 0x01, 0x0d, 0xb8 },
	};
	int family = rng() % 2 ? AF_INET6 : AF_INET;
	size_t len = family == AF_INET ? 4 : 16;
	uint64_t r = rng();

	memset(addr, 0, 16);
	if (r % 4 == 0) {
		for (size_t i = 0; i < len; i++)
			addr[i] = (uint8_t)rng();
	} else {
		memcpy(addr, bases[(family == AF_INET ? 0 : 2) + (r >> 8) % 2], len);
		for (size_t i = len / 2; i < len; i++)
			addr[i] = (uint8_t)(rng() % 4);
	}
	return family;
}

static const struct {
	uint64_t seed;
	size_t inserts;
	size_t lookups;
} random_runs[] = {
	{ 1, 100, 2000 },
	{ 0x5eed, 4000, 20000 },
	{ 0xdecafbad, 10000, 20000 },
};

static bool peer_in_5_6(void *arg, const struct ft_peer *peer)
{
	(void)arg;
	return peer == PEER(5) || peer == PEER(6);
}

START_TEST(test_random_against_naive)
{
	struct ft_allowedips *t = ft_allowedips_create();
	struct naive m = { 0 };
	size_t inserts = random_runs[_i].inserts;

	rng_state = random_runs[_i].seed;
	m.e = calloc(inserts, sizeof(*m.e));
	ck_assert_ptr_nonnull(m.e);

	for (size_t i = 0; i < inserts; i++) {
		uint8_t addr[16];
		int family = random_addr(addr);
		uint8_t bits = family == AF_INET ? 32 : 128;
		uint8_t cidr = (uint8_t)(rng() % (bits + 1u));
		struct ft_peer *peer = PEER(rng() % NPEERS);
		struct naive_entry *e;

		ck_assert_int_eq(ft_allowedips_insert(t, family, addr, cidr, peer), 0);
		mask_addr(addr, family == AF_INET ? 4 : 16, cidr);
		e = naive_find(&m, family, addr, cidr);
		if (!e) {
			e = &m.e[m.n++];
			e->family = family;
			memcpy(e->addr, addr, 16);
			e->cidr = cidr;
		}
		e->peer = peer;
	}
	ck_assert_uint_eq(ft_allowedips_count(t), m.n);
	ck_assert_uint_le(ft_allowedips_nodes(t), 2 * m.n);

	for (int round = 0; round < 3; round++) {
		for (size_t i = 0; i < random_runs[_i].lookups; i++) {
			uint8_t addr[16];
			int family = random_addr(addr);

			ck_assert_ptr_eq(ft_allowedips_lookup(t, family, addr),
					 naive_lookup(&m, family, addr));
		}
		/* Then remove every third prefix and one peer, and compare again. */
		if (round == 0) {
			size_t kept = 0;

			for (size_t i = 0; i < m.n; i++) {
				if (i % 3 == 0 || m.e[i].peer == PEER(3)) {
					if (m.e[i].peer != PEER(3))
						ck_assert_int_eq(ft_allowedips_remove(
									 t, m.e[i].family,
									 m.e[i].addr, m.e[i].cidr),
								 0);
				} else {
					m.e[kept++] = m.e[i];
				}
			}
			ft_allowedips_remove_by_peer(t, PEER(3));
			m.n = kept;
			ck_assert_uint_eq(ft_allowedips_count(t), m.n);
			ck_assert_uint_le(ft_allowedips_nodes(t), 2 * m.n);
		}
		/* Then two peers at once, in one pass (the batch removal of wg setconf). */
		if (round == 1) {
			size_t kept = 0;

			for (size_t i = 0; i < m.n; i++)
				if (!peer_in_5_6(NULL, m.e[i].peer))
					m.e[kept++] = m.e[i];
			ck_assert_uint_eq(ft_allowedips_remove_if(t, peer_in_5_6, NULL),
					  m.n - kept);
			m.n = kept;
			ck_assert_uint_eq(ft_allowedips_count(t), m.n);
			ck_assert_uint_le(ft_allowedips_nodes(t), 2 * m.n);
		}
	}
	free(m.e);
	ft_allowedips_destroy(t);
}
END_TEST

static Suite *allowedips_suite(void)
{
	Suite *s = suite_create("allowedips");
	TCase *tc = tcase_create("allowedips");

	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_overlap_lookup, 0,
			    sizeof(overlap_lookups) / sizeof(overlap_lookups[0]));
	tcase_add_test(tc, test_default_routes);
	tcase_add_test(tc, test_bad_arguments);
	tcase_add_test(tc, test_host_bits_masked);
	tcase_add_test(tc, test_walk_exact_set);
	tcase_add_test(tc, test_walk_order_and_stop);
	tcase_add_test(tc, test_remove);
	tcase_add_test(tc, test_remove_by_peer);
	tcase_add_test(tc, test_remove_if);
	tcase_add_loop_test(tc, test_random_against_naive, 0,
			    sizeof(random_runs) / sizeof(random_runs[0]));
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(allowedips_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
