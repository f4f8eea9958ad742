/* SPDX-License-Identifier: MIT */
#ifndef FT_INDEX_H
#define FT_INDEX_H

#include <stdbool.h>
#include <stdint.h>

/*
 * The receiver-index table: every handshake in flight and every keypair has a random 32-bit
 * local index, which the peer echoes in the "receiver" field of its responses, cookie replies
 * and transport messages. The table maps an index back to its handshake or keypair in O(1).
 *
 * Entries are intrusive (embedded in the peer or keypair that owns them), so inserting,
 * replacing and removing never allocate. The indices are ours and random, so their low bits
 * are a fair hash a remote peer cannot steer. Loop thread only.
 */
struct ft_peer;
struct ft_keypair;
struct ft_index_table;

enum ft_index_kind {
	FT_INDEX_HANDSHAKE = 1 << 0,
	FT_INDEX_KEYPAIR = 1 << 1,
};

struct ft_index_entry {
	struct ft_index_entry *next; /* bucket chain; private to the table */
	uint32_t index;
	enum ft_index_kind kind;
	bool hashed;
	struct ft_peer *peer;	    /* always set */
	struct ft_keypair *keypair; /* FT_INDEX_KEYPAIR only */
};

/* Returns a random 32-bit value; tests pass a deterministic one. */
typedef uint32_t ft_index_random_fn(void *arg);

/* An empty table (NULL when out of memory), and its destruction; entries are not touched. */
struct ft_index_table *ft_index_create(void);
void ft_index_destroy(struct ft_index_table *t);

/*
 * Gives e (kind, peer and keypair set by the caller) a random index not in use and hashes it;
 * an entry already hashed is removed first. Returns the new index.
 */
uint32_t ft_index_insert(struct ft_index_table *t, struct ft_index_entry *e,
			 ft_index_random_fn *rnd, void *rnd_arg);
/*
 * Puts new in old's place under old's index (a completed handshake hands its index to the
 * keypair it made). False, and nothing changed, when old is not hashed.
 */
bool ft_index_replace(struct ft_index_table *t, struct ft_index_entry *old,
		      struct ft_index_entry *new_entry);
/* Unhashes e; a no-op when it is not hashed. */
void ft_index_remove(struct ft_index_table *t, struct ft_index_entry *e);
/* The entry with this index whose kind is in the kinds mask, or NULL. Packet path. */
struct ft_index_entry *ft_index_lookup(const struct ft_index_table *t, uint32_t index,
				       unsigned int kinds);
/* The number of hashed entries. */
uint32_t ft_index_count(const struct ft_index_table *t);

#endif
