// SPDX-License-Identifier: MIT
/*
 * The handshake rate limiter (ratelimit.h): a chained hash table over a fixed pool of
 * entries, linked by 32-bit indices. A bucket's chain is short (buckets = entries / 2), the
 * pool is allocated once with calloc (pages untouched until a source uses them), and a
 * collection walks the chains, unlinking what is stale onto the free list.
 */
#include "config.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tun/wg/ratelimit.h"

#define NSEC_PER_SEC 1000000000ull
/* The kernel's arithmetic: a message costs 1/20 s of tokens, a bucket holds 5 of them. */
#define PACKET_COST (NSEC_PER_SEC / FT_RATELIMIT_PER_SECOND)
#define TOKEN_MAX (PACKET_COST * FT_RATELIMIT_BURST)
#define NONE UINT32_MAX

struct entry {
	uint64_t key[2]; /* [0] family, [1] the IPv4 address or the IPv6 /64 */
	uint64_t last_ns;
	uint64_t tokens;
	uint32_t next; /* in the bucket's chain, or the free list */
};

struct ft_ratelimit {
	struct entry *pool;
	uint32_t *buckets;
	uint32_t mask; /* buckets - 1 */
	uint32_t max_entries, count;
	uint32_t free_head; /* NONE: every entry is in use */
	uint32_t fresh;	    /* entries never used start here */
	uint64_t last_gc_ns;
	uint8_t hash_key[crypto_shorthash_KEYBYTES];
};

struct ft_ratelimit *ft_ratelimit_create(size_t max_entries)
{
	struct ft_ratelimit *rl;
	uint32_t nb = 1;

	if (max_entries == 0)
		max_entries = FT_RATELIMIT_DEFAULT_ENTRIES;
	if (max_entries > (1u << 24))
		max_entries = 1u << 24;
	while (nb < max_entries / 2)
		nb <<= 1;
	rl = calloc(1, sizeof(*rl));
	if (!rl)
		return NULL;
	rl->pool = calloc(max_entries, sizeof(*rl->pool));
	rl->buckets = malloc(nb * sizeof(*rl->buckets));
	if (!rl->pool || !rl->buckets) {
		ft_ratelimit_destroy(rl);
		return NULL;
	}
	memset(rl->buckets, 0xff, nb * sizeof(*rl->buckets)); /* NONE */
	rl->mask = nb - 1;
	rl->max_entries = (uint32_t)max_entries;
	rl->free_head = NONE;
	randombytes_buf(rl->hash_key, sizeof(rl->hash_key));
	return rl;
}

void ft_ratelimit_destroy(struct ft_ratelimit *rl)
{
	if (!rl)
		return;
	free(rl->pool);
	free(rl->buckets);
	free(rl);
}

static uint64_t load_u64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static bool source_key(const struct sockaddr *src, uint64_t key[2])
{
	if (!src)
		return false;
	if (src->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)src;

		key[0] = AF_INET;
		key[1] = in->sin_addr.s_addr;
		return true;
	}
	if (src->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)src;

		key[0] = AF_INET6;
		key[1] = load_u64(in6->sin6_addr.s6_addr); /* the /64 */
		return true;
	}
	return false;
}

static uint32_t bucket_of(const struct ft_ratelimit *rl, const uint64_t key[2])
{
	uint8_t h[crypto_shorthash_BYTES];
	uint64_t v;

	crypto_shorthash(h, (const unsigned char *)key, 2 * sizeof(key[0]), rl->hash_key);
	memcpy(&v, h, sizeof(v));
	return (uint32_t)v & rl->mask;
}

static uint32_t entry_take(struct ft_ratelimit *rl)
{
	uint32_t i = rl->free_head;

	if (i != NONE) {
		rl->free_head = rl->pool[i].next;
		return i;
	}
	if (rl->fresh < rl->max_entries)
		return rl->fresh++;
	return NONE;
}

void ft_ratelimit_gc(struct ft_ratelimit *rl, uint64_t now_ns)
{
	rl->last_gc_ns = now_ns;
	for (uint32_t b = 0; b <= rl->mask && rl->count > 0; b++) {
		uint32_t *link = &rl->buckets[b];

		while (*link != NONE) {
			struct entry *e = &rl->pool[*link];
			uint32_t i = *link;

			if (now_ns <= e->last_ns + NSEC_PER_SEC) {
				link = &e->next;
				continue;
			}
			*link = e->next;
			e->next = rl->free_head;
			rl->free_head = i;
			rl->count--;
		}
	}
}

bool ft_ratelimit_allow(struct ft_ratelimit *rl, const struct sockaddr *src, uint64_t now_ns)
{
	uint64_t key[2];
	uint32_t b, i;
	struct entry *e;

	if (!source_key(src, key))
		return false;
	if (now_ns >= rl->last_gc_ns + NSEC_PER_SEC)
		ft_ratelimit_gc(rl, now_ns);
	b = bucket_of(rl, key);
	for (i = rl->buckets[b]; i != NONE; i = e->next) {
		uint64_t tokens;

		e = &rl->pool[i];
		if (e->key[0] != key[0] || e->key[1] != key[1])
			continue;
		/* Refill by the time since the last message, up to the burst; a clock that
		 * went back (a monotonic one does not) refills nothing. */
		tokens = e->tokens;
		if (now_ns > e->last_ns)
			tokens += now_ns - e->last_ns;
		if (tokens > TOKEN_MAX)
			tokens = TOKEN_MAX;
		e->last_ns = now_ns;
		if (tokens < PACKET_COST) {
			e->tokens = tokens;
			return false;
		}
		e->tokens = tokens - PACKET_COST;
		return true;
	}
	/* A new source: refused when the pool is full, as the kernel refuses it. */
	i = entry_take(rl);
	if (i == NONE)
		return false;
	e = &rl->pool[i];
	e->key[0] = key[0];
	e->key[1] = key[1];
	e->last_ns = now_ns;
	e->tokens = TOKEN_MAX - PACKET_COST;
	e->next = rl->buckets[b];
	rl->buckets[b] = i;
	rl->count++;
	return true;
}

size_t ft_ratelimit_count(const struct ft_ratelimit *rl)
{
	return rl->count;
}
