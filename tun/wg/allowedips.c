// SPDX-License-Identifier: MIT
/*
 * AllowedIPs: a path-compressed binary trie per address family.
 *
 * Each node stands for one prefix (key/cidr). A node either carries a peer (a prefix someone
 * inserted) or is a branch point created where two prefixes diverge; a branch point always has
 * exactly two children, so the trie never holds more than 2n - 1 nodes for n prefixes and a
 * removal can always restore that shape locally. A child's prefix is strictly longer than its
 * parent's and extends it; the bit right after the parent's prefix picks the child.
 *
 * Addresses are held as two host-order 64-bit words, left-aligned (IPv4 in the top 32 bits of
 * the first word), with the node's mask precomputed, so that matching a node is two XORs and
 * two ANDs whichever the family, and a node fits in one 64-byte cache line.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "tun/wg/allowedips.h"

struct node {
	uint64_t key[2]; /* the prefix, host bits zero */
	uint64_t mask[2];
	struct ft_peer *peer; /* NULL on a branch point */
	struct node *child[2];
	uint8_t cidr;
};

struct ft_allowedips {
	struct node *root[2]; /* [0] IPv4, [1] IPv6 */
	size_t count;
	size_t nodes;
};

/* 0 for IPv4, 1 for IPv6, -1 for anything else; *bits gets the address length. */
static int family_index(int family, uint8_t *bits)
{
	if (family == AF_INET) {
		*bits = 32;
		return 0;
	}
	if (family == AF_INET6) {
		*bits = 128;
		return 1;
	}
	return -1;
}

static uint64_t load_be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

static void store_be64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (uint8_t)v;
		v >>= 8;
	}
}

static void addr_to_words(int fi, const uint8_t *addr, uint64_t w[2])
{
	if (fi == 0) {
		w[0] = (uint64_t)addr[0] << 56 | (uint64_t)addr[1] << 48 | (uint64_t)addr[2] << 40 |
		       (uint64_t)addr[3] << 32;
		w[1] = 0;
	} else {
		w[0] = load_be64(addr);
		w[1] = load_be64(addr + 8);
	}
}

static void words_to_addr(int fi, const uint64_t w[2], uint8_t *addr)
{
	uint8_t buf[16];

	store_be64(buf, w[0]);
	store_be64(buf + 8, w[1]);
	memcpy(addr, buf, fi == 0 ? 4 : 16);
}

static void make_mask(uint8_t cidr, uint64_t m[2])
{
	/* Shifting a 64-bit value by 64 is undefined, hence the explicit edges. */
	m[0] = cidr == 0 ? 0 : cidr >= 64 ? UINT64_MAX : UINT64_MAX << (64 - cidr);
	m[1] = cidr <= 64 ? 0 : cidr == 128 ? UINT64_MAX : UINT64_MAX << (128 - cidr);
}

/* Bit i (0 = most significant) of a left-aligned address; i < 128. */
static inline unsigned int bit_at(const uint64_t w[2], uint8_t i)
{
	return i < 64 ? (unsigned int)(w[0] >> (63 - i)) & 1
		      : (unsigned int)(w[1] >> (127 - i)) & 1;
}

static inline bool node_matches(const struct node *n, const uint64_t w[2])
{
	return ((w[0] ^ n->key[0]) & n->mask[0]) == 0 && ((w[1] ^ n->key[1]) & n->mask[1]) == 0;
}

/* How many leading bits a and b share (128 when equal). */
static uint8_t common_bits(const uint64_t a[2], const uint64_t b[2])
{
	uint64_t x = a[0] ^ b[0];

	if (x)
		return (uint8_t)__builtin_clzll(x);
	x = a[1] ^ b[1];
	if (x)
		return (uint8_t)(64 + __builtin_clzll(x));
	return 128;
}

static struct node *node_new(struct ft_allowedips *t, const uint64_t w[2], uint8_t cidr,
			     struct ft_peer *peer)
{
	struct node *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	make_mask(cidr, n->mask);
	n->key[0] = w[0] & n->mask[0];
	n->key[1] = w[1] & n->mask[1];
	n->cidr = cidr;
	n->peer = peer;
	t->nodes++;
	return n;
}

static void node_free(struct ft_allowedips *t, struct node *n)
{
	free(n);
	t->nodes--;
}

/*
 * Restores the shape after *slot lost its peer or a child: a node without a peer is kept only
 * while it still separates two subtrees.
 */
static void prune(struct ft_allowedips *t, struct node **slot)
{
	struct node *n = *slot;

	if (!n || n->peer || (n->child[0] && n->child[1]))
		return;
	*slot = n->child[0] ? n->child[0] : n->child[1];
	node_free(t, n);
}

struct ft_allowedips *ft_allowedips_create(void)
{
	return calloc(1, sizeof(struct ft_allowedips));
}

static void free_subtree(struct ft_allowedips *t, struct node *n)
{
	/* Depth is bounded by 129 levels, so recursion is safe. */
	if (!n)
		return;
	free_subtree(t, n->child[0]);
	free_subtree(t, n->child[1]);
	node_free(t, n);
}

void ft_allowedips_destroy(struct ft_allowedips *t)
{
	if (!t)
		return;
	free_subtree(t, t->root[0]);
	free_subtree(t, t->root[1]);
	free(t);
}

int ft_allowedips_insert(struct ft_allowedips *t, int family, const uint8_t *addr, uint8_t cidr,
			 struct ft_peer *peer)
{
	struct node **slot, *n, *leaf, *branch;
	uint64_t w[2], m[2];
	uint8_t bits, common;
	int fi = family_index(family, &bits);

	if (fi < 0)
		return -EAFNOSUPPORT;
	if (cidr > bits || !peer)
		return -EINVAL;
	addr_to_words(fi, addr, w);
	make_mask(cidr, m);
	w[0] &= m[0];
	w[1] &= m[1];

	/* Descend through every node whose prefix contains the new one. */
	slot = &t->root[fi];
	while ((n = *slot) && n->cidr <= cidr && node_matches(n, w)) {
		if (n->cidr == cidr) {
			if (!n->peer)
				t->count++;
			n->peer = peer;
			return 0;
		}
		slot = &n->child[bit_at(w, n->cidr)];
	}

	leaf = node_new(t, w, cidr, peer);
	if (!leaf)
		return -ENOMEM;
	if (!n) {
		*slot = leaf;
		t->count++;
		return 0;
	}

	/*
	 * n is in the way: either the new prefix contains it (n is longer and extends it), or
	 * the two diverge at bit `common` and need a branch point there.
	 */
	common = common_bits(n->key, w);
	if (common >= cidr) {
		leaf->child[bit_at(n->key, cidr)] = n;
		*slot = leaf;
	} else {
		branch = node_new(t, w, common, NULL);
		if (!branch) {
			node_free(t, leaf);
			return -ENOMEM;
		}
		branch->child[bit_at(w, common)] = leaf;
		branch->child[bit_at(n->key, common)] = n;
		*slot = branch;
	}
	t->count++;
	return 0;
}

int ft_allowedips_remove(struct ft_allowedips *t, int family, const uint8_t *addr, uint8_t cidr)
{
	struct node **slot, **parent_slot = NULL, *n;
	uint64_t w[2];
	uint8_t bits;
	int fi = family_index(family, &bits);

	if (fi < 0)
		return -EAFNOSUPPORT;
	if (cidr > bits)
		return -EINVAL;
	addr_to_words(fi, addr, w);

	slot = &t->root[fi];
	while ((n = *slot) && n->cidr < cidr && node_matches(n, w)) {
		parent_slot = slot;
		slot = &n->child[bit_at(w, n->cidr)];
	}
	if (!n || n->cidr != cidr || !node_matches(n, w) || !n->peer)
		return -ENOENT;

	n->peer = NULL;
	t->count--;
	prune(t, slot);
	/* A leaf went away: its parent may now be a branch point with one child. */
	if (parent_slot)
		prune(t, parent_slot);
	return 0;
}

/*
 * One post-order pass: the children are settled before their parent is pruned, so a branch
 * point left with one child by a removal below it is folded on the way up.
 */
static size_t remove_if(struct ft_allowedips *t, struct node **slot,
			bool (*doomed)(void *arg, const struct ft_peer *peer), void *arg)
{
	struct node *n = *slot;
	size_t removed = 0;

	if (!n)
		return 0;
	removed += remove_if(t, &n->child[0], doomed, arg);
	removed += remove_if(t, &n->child[1], doomed, arg);
	if (n->peer && doomed(arg, n->peer)) {
		n->peer = NULL;
		t->count--;
		removed++;
	}
	prune(t, slot);
	return removed;
}

size_t ft_allowedips_remove_if(struct ft_allowedips *t,
			       bool (*doomed)(void *arg, const struct ft_peer *peer), void *arg)
{
	if (!doomed)
		return 0;
	return remove_if(t, &t->root[0], doomed, arg) + remove_if(t, &t->root[1], doomed, arg);
}

static bool is_peer(void *arg, const struct ft_peer *peer)
{
	return peer == arg;
}

void ft_allowedips_remove_by_peer(struct ft_allowedips *t, struct ft_peer *peer)
{
	if (peer)
		ft_allowedips_remove_if(t, is_peer, peer);
}

struct ft_peer *ft_allowedips_lookup(const struct ft_allowedips *t, int family, const uint8_t *addr)
{
	const struct node *n;
	struct ft_peer *best = NULL;
	uint64_t w[2];
	uint8_t bits;
	int fi = family_index(family, &bits);

	if (fi < 0)
		return NULL;
	addr_to_words(fi, addr, w);
	n = t->root[fi];
	while (n && node_matches(n, w)) {
		if (n->peer)
			best = n->peer;
		if (n->cidr == bits)
			break;
		n = n->child[bit_at(w, n->cidr)];
	}
	return best;
}

struct walk_ctx {
	struct ft_peer *peer;
	int (*cb)(void *arg, int family, const uint8_t *addr, uint8_t cidr);
	/* ft_allowedips_walk_all(): cb is NULL, this one is told the peer. */
	int (*cb_peer)(void *arg, struct ft_peer *peer, int family, const uint8_t *addr,
		       uint8_t cidr);
	void *arg;
	int family;
	int fi;
};

static int walk(const struct walk_ctx *ctx, const struct node *n)
{
	uint8_t addr[16];
	int ret;

	if (!n)
		return 0;
	if (n->peer && (!ctx->peer || n->peer == ctx->peer)) {
		words_to_addr(ctx->fi, n->key, addr);
		ret = ctx->cb ? ctx->cb(ctx->arg, ctx->family, addr, n->cidr)
			      : ctx->cb_peer(ctx->arg, n->peer, ctx->family, addr, n->cidr);
		if (ret)
			return ret;
	}
	ret = walk(ctx, n->child[0]);
	if (ret)
		return ret;
	return walk(ctx, n->child[1]);
}

int ft_allowedips_walk(const struct ft_allowedips *t, struct ft_peer *peer,
		       int (*cb)(void *arg, int family, const uint8_t *addr, uint8_t cidr),
		       void *arg)
{
	struct walk_ctx ctx = { .peer = peer, .cb = cb, .arg = arg };
	int ret;

	ctx.family = AF_INET;
	ctx.fi = 0;
	ret = walk(&ctx, t->root[0]);
	if (ret)
		return ret;
	ctx.family = AF_INET6;
	ctx.fi = 1;
	return walk(&ctx, t->root[1]);
}

int ft_allowedips_walk_all(const struct ft_allowedips *t,
			   int (*cb)(void *arg, struct ft_peer *peer, int family,
				     const uint8_t *addr, uint8_t cidr),
			   void *arg)
{
	struct walk_ctx ctx = { .cb_peer = cb, .arg = arg };
	int ret;

	ctx.family = AF_INET;
	ctx.fi = 0;
	ret = walk(&ctx, t->root[0]);
	if (ret)
		return ret;
	ctx.family = AF_INET6;
	ctx.fi = 1;
	return walk(&ctx, t->root[1]);
}

size_t ft_allowedips_count(const struct ft_allowedips *t)
{
	return t->count;
}

size_t ft_allowedips_nodes(const struct ft_allowedips *t)
{
	return t->nodes;
}
