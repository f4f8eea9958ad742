// SPDX-License-Identifier: MIT
/*
 * Flow-log aggregation (`flowtun flows --top/--group-by`): the entries of many windows summed by
 * group in a hash table keyed with a random SipHash key (see flowread.h). Apart from
 * flowread.c, which parses and filters, because it is the one part that sees many windows.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "stats/flowread.h"

static const char *const group_names[] = { "flow", "src", "dst", "pair", "peer" };

int ft_flowread_group_parse(const char *s, enum ft_flowread_group *g)
{
	for (size_t i = 0; i < sizeof(group_names) / sizeof(group_names[0]); i++)
		if (strcmp(s, group_names[i]) == 0) {
			*g = (enum ft_flowread_group)i;
			return 0;
		}
	return -EINVAL;
}

/*
 * Open addressing with linear probing over an array of row indexes, so that the rows stay
 * in one dense array that sorting can reorder; the index is rebuilt after a sort.
 */
struct ft_flowread_agg {
	enum ft_flowread_group group;
	uint8_t key[crypto_shorthash_KEYBYTES];
	struct ft_flowread_row *rows;
	size_t n, cap;
	uint64_t seq;	 /* windows added so far */
	uint32_t *slots; /* row index + 1; 0 is empty */
	size_t nslots;	 /* a power of two, at least twice n */
};

struct ft_flowread_agg *ft_flowread_agg_create(enum ft_flowread_group g)
{
	struct ft_flowread_agg *a = calloc(1, sizeof(*a));

	if (!a || sodium_init() < 0) {
		free(a);
		errno = ENOMEM;
		return NULL;
	}
	a->group = g;
	randombytes_buf(a->key, sizeof(a->key));
	return a;
}

void ft_flowread_agg_destroy(struct ft_flowread_agg *a)
{
	if (!a)
		return;
	free(a->rows);
	free(a->slots);
	free(a);
}

/*
 * Keyed: the addresses and ports in a flow log are chosen by whoever sent the traffic, and an
 * unkeyed hash (FNV-1a here before) lets them put every logged flow on one probe chain, which
 * makes the aggregation quadratic. SipHash-2-4 costs ~20 ns more per 42-byte key.
 */
static uint64_t key_hash(const struct ft_flowread_agg *a, const struct ft_flowread_key *k)
{
	uint8_t out[crypto_shorthash_BYTES];
	uint64_t h;

	crypto_shorthash(out, (const uint8_t *)k, sizeof(*k), a->key);
	memcpy(&h, out, sizeof(h));
	return h;
}

uint64_t ft_flowread_agg_hash(const struct ft_flowread_agg *a, const struct ft_flowread_key *k)
{
	return key_hash(a, k);
}

static void reindex(struct ft_flowread_agg *a)
{
	memset(a->slots, 0, a->nslots * sizeof(*a->slots));
	for (size_t i = 0; i < a->n; i++) {
		size_t s = (size_t)key_hash(a, &a->rows[i].e.key) & (a->nslots - 1);

		while (a->slots[s])
			s = (s + 1) & (a->nslots - 1);
		a->slots[s] = (uint32_t)(i + 1);
	}
}

static int grow(struct ft_flowread_agg *a)
{
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 64;
		struct ft_flowread_row *r;

		if (cap > UINT32_MAX / 2)
			return -ENOMEM;
		r = realloc(a->rows, cap * sizeof(*r));
		if (!r)
			return -ENOMEM;
		a->rows = r;
		a->cap = cap;
	}
	if ((a->n + 1) * 2 > a->nslots) {
		size_t ns = a->nslots ? a->nslots * 2 : 128;
		uint32_t *s = calloc(ns, sizeof(*s));

		if (!s)
			return -ENOMEM;
		free(a->slots);
		a->slots = s;
		a->nslots = ns;
		reindex(a);
	}
	return 0;
}

static void group_key(enum ft_flowread_group g, const struct ft_flowread_key *in,
		      struct ft_flowread_key *k)
{
	memset(k, 0, sizeof(*k));
	k->kind = in->kind;
	switch (g) {
	case FT_FLOWREAD_GROUP_FLOW:
		*k = *in;
		k->wild = 0;
		return;
	case FT_FLOWREAD_GROUP_SRC:
		k->src = in->src;
		k->wild = FT_FLOWREAD_W_DST;
		break;
	case FT_FLOWREAD_GROUP_DST:
		k->dst = in->dst;
		k->wild = FT_FLOWREAD_W_SRC;
		break;
	case FT_FLOWREAD_GROUP_PAIR:
		k->src = in->src;
		k->dst = in->dst;
		k->wild = 0;
		break;
	case FT_FLOWREAD_GROUP_PEER:
		/* The peer is kept in dst for every kind, so that one column shows it. */
		k->dst = in->kind == FT_FLOWREAD_PHYSICAL ? in->src : in->dst;
		k->wild = FT_FLOWREAD_W_SRC;
		break;
	}
	k->wild |= FT_FLOWREAD_W_PROTO | FT_FLOWREAD_W_SPORT | FT_FLOWREAD_W_DPORT;
	/* Invalid entries have no address: keep them apart from everything else. */
	if (in->proto == FT_IPPROTO_INVALID) {
		k->proto = FT_IPPROTO_INVALID;
		k->wild &= (uint8_t)~FT_FLOWREAD_W_PROTO;
	}
}

static int agg_add(struct ft_flowread_agg *a, const struct ft_flowread_msg *m,
		   const struct ft_flowread_entry *e)
{
	struct ft_flowread_key k;
	struct ft_flowread_row *r;
	size_t s;

	group_key(a->group, &e->key, &k);
	if (grow(a) < 0)
		return -ENOMEM;
	s = (size_t)key_hash(a, &k) & (a->nslots - 1);
	while (a->slots[s] && memcmp(&a->rows[a->slots[s] - 1].e.key, &k, sizeof(k)) != 0)
		s = (s + 1) & (a->nslots - 1);
	if (a->slots[s]) {
		r = &a->rows[a->slots[s] - 1];
	} else {
		r = &a->rows[a->n++];
		memset(r, 0, sizeof(*r));
		r->e.key = k;
		r->first_ms = m->start_ms;
		r->last_ms = m->end_ms;
		a->slots[s] = (uint32_t)a->n;
	}
	r->e.tx_pkts = ft_flowread_add_sat(r->e.tx_pkts, e->tx_pkts);
	r->e.tx_bytes = ft_flowread_add_sat(r->e.tx_bytes, e->tx_bytes);
	r->e.rx_pkts = ft_flowread_add_sat(r->e.rx_pkts, e->rx_pkts);
	r->e.rx_bytes = ft_flowread_add_sat(r->e.rx_bytes, e->rx_bytes);
	if (m->start_ms < r->first_ms)
		r->first_ms = m->start_ms;
	if (m->end_ms > r->last_ms)
		r->last_ms = m->end_ms;
	/* Several entries of one window can fall into one group: count the window once. */
	if (r->seq != a->seq) {
		r->seq = a->seq;
		r->windows++;
	}
	return 0;
}

int ft_flowread_agg_add(struct ft_flowread_agg *a, const struct ft_flowread_msg *m,
			const struct ft_flowread_entry *e, size_t n)
{
	a->seq++;
	for (size_t i = 0; i < n; i++)
		if (agg_add(a, m, &e[i]) < 0)
			return -ENOMEM;
	return 0;
}

static int cmp_by_bytes(const void *pa, const void *pb)
{
	const struct ft_flowread_row *a = pa, *b = pb;
	uint64_t va = ft_flowread_add_sat(a->e.tx_bytes, a->e.rx_bytes);
	uint64_t vb = ft_flowread_add_sat(b->e.tx_bytes, b->e.rx_bytes);

	if (va != vb)
		return va > vb ? -1 : 1;
	return memcmp(&a->e.key, &b->e.key, sizeof(a->e.key));
}

static int cmp_by_packets(const void *pa, const void *pb)
{
	const struct ft_flowread_row *a = pa, *b = pb;
	uint64_t va = ft_flowread_add_sat(a->e.tx_pkts, a->e.rx_pkts);
	uint64_t vb = ft_flowread_add_sat(b->e.tx_pkts, b->e.rx_pkts);

	if (va != vb)
		return va > vb ? -1 : 1;
	return cmp_by_bytes(pa, pb);
}

size_t ft_flowread_agg_sort(struct ft_flowread_agg *a, bool by_packets,
			    const struct ft_flowread_row **rows)
{
	if (a->n)
		qsort(a->rows, a->n, sizeof(*a->rows), by_packets ? cmp_by_packets : cmp_by_bytes);
	if (a->nslots)
		reindex(a);
	*rows = a->rows;
	return a->n;
}
