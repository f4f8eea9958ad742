// SPDX-License-Identifier: MIT
/* The receiver-index table: a fixed array of buckets, chained through the entries. */
#include "config.h"

#include <stdlib.h>

#include "tun/wg/index.h"

enum {
	/* As many buckets as the Linux module: thousands of peers keep chains short. */
	INDEX_BUCKETS = 1 << 13,
};

struct ft_index_table {
	struct ft_index_entry *buckets[INDEX_BUCKETS];
	uint32_t count;
};

static struct ft_index_entry **bucket(struct ft_index_table *t, uint32_t index)
{
	return &t->buckets[index & (INDEX_BUCKETS - 1)];
}

struct ft_index_table *ft_index_create(void)
{
	return calloc(1, sizeof(struct ft_index_table));
}

void ft_index_destroy(struct ft_index_table *t)
{
	free(t);
}

static struct ft_index_entry *find(const struct ft_index_table *t, uint32_t index)
{
	for (struct ft_index_entry *e = t->buckets[index & (INDEX_BUCKETS - 1)]; e; e = e->next)
		if (e->index == index)
			return e;
	return NULL;
}

uint32_t ft_index_insert(struct ft_index_table *t, struct ft_index_entry *e,
			 ft_index_random_fn *rnd, void *rnd_arg)
{
	struct ft_index_entry **b;
	uint32_t index;

	ft_index_remove(t, e);
	/* With at most a few entries per peer, a collision is rare: just draw again. */
	do
		index = rnd(rnd_arg);
	while (find(t, index));
	b = bucket(t, index);
	e->index = index;
	e->next = *b;
	e->hashed = true;
	*b = e;
	t->count++;
	return index;
}

bool ft_index_replace(struct ft_index_table *t, struct ft_index_entry *old,
		      struct ft_index_entry *new_entry)
{
	struct ft_index_entry **p;

	if (!old->hashed)
		return false;
	if (new_entry->hashed)
		ft_index_remove(t, new_entry);
	for (p = bucket(t, old->index); *p != old; p = &(*p)->next)
		;
	new_entry->index = old->index;
	new_entry->next = old->next;
	new_entry->hashed = true;
	*p = new_entry;
	old->next = NULL;
	old->hashed = false;
	return true;
}

void ft_index_remove(struct ft_index_table *t, struct ft_index_entry *e)
{
	struct ft_index_entry **p;

	if (!e->hashed)
		return;
	for (p = bucket(t, e->index); *p != e; p = &(*p)->next)
		;
	*p = e->next;
	e->next = NULL;
	e->hashed = false;
	t->count--;
}

struct ft_index_entry *ft_index_lookup(const struct ft_index_table *t, uint32_t index,
				       unsigned int kinds)
{
	struct ft_index_entry *e = find(t, index);

	return e && (e->kind & kinds) ? e : NULL;
}

uint32_t ft_index_count(const struct ft_index_table *t)
{
	return t->count;
}
