/* SPDX-License-Identifier: MIT */
#ifndef FT_ALLOWEDIPS_H
#define FT_ALLOWEDIPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Cryptokey routing: the AllowedIPs of every peer in one longest-prefix-match table, one
 * path-compressed binary trie for IPv4 and one for IPv6. Outbound, the destination address of
 * a packet picks its peer; inbound, the source address of a decrypted packet must map back to
 * the peer it came from.
 *
 * The peer is opaque: the table stores the pointer and never dereferences it. Addresses are
 * in network byte order (4 bytes for AF_INET, 16 for AF_INET6). Lookups cost at most one node
 * visit per prefix length (33 or 129), whatever the number of peers or prefixes, and never
 * allocate. Insert allocates at most two nodes; remove frees what it no longer needs.
 *
 * Not thread-safe: the owner (the loop thread) serialises all calls.
 */
struct ft_peer;
struct ft_allowedips;

/* An empty table, or NULL when out of memory. */
struct ft_allowedips *ft_allowedips_create(void);
/* Frees the table and every node. NULL is accepted. The peers are not touched. */
void ft_allowedips_destroy(struct ft_allowedips *t);

/*
 * Maps addr/cidr to peer (not NULL). Host bits beyond cidr are ignored, so 10.1.2.3/8 and
 * 10.0.0.0/8 are the same prefix. An existing identical prefix is moved to the new peer.
 * 0, -EINVAL (cidr > 32 or > 128, NULL peer), -EAFNOSUPPORT (family not AF_INET or AF_INET6)
 * or -ENOMEM (the table is unchanged).
 */
int ft_allowedips_insert(struct ft_allowedips *t, int family, const uint8_t *addr, uint8_t cidr,
			 struct ft_peer *peer);

/* Removes exactly addr/cidr (host bits ignored). 0, -ENOENT, -EINVAL or -EAFNOSUPPORT. */
int ft_allowedips_remove(struct ft_allowedips *t, int family, const uint8_t *addr, uint8_t cidr);

/* Removes every prefix that maps to peer (in time proportional to the table's size). */
void ft_allowedips_remove_by_peer(struct ft_allowedips *t, struct ft_peer *peer);

/*
 * Removes every prefix whose peer doomed() says goes, in one pass over the table: the removal
 * of many peers at once (wg setconf, a reload) costs one walk, not one per peer. doomed must
 * not modify the table. Returns the number of prefixes removed.
 */
size_t ft_allowedips_remove_if(struct ft_allowedips *t,
			       bool (*doomed)(void *arg, const struct ft_peer *peer), void *arg);

/* The peer of the longest prefix containing addr, or NULL. Packet path: no allocation. */
struct ft_peer *ft_allowedips_lookup(const struct ft_allowedips *t, int family,
				     const uint8_t *addr);

/*
 * Calls cb for each prefix of peer (every prefix when peer is NULL): IPv4 first, then IPv6,
 * each in address order with a shorter prefix before the longer ones inside it. addr is the
 * masked prefix, valid only during the call. A non-zero return from cb stops the walk and is
 * returned; otherwise 0. cb must not modify the table.
 */
int ft_allowedips_walk(const struct ft_allowedips *t, struct ft_peer *peer,
		       int (*cb)(void *arg, int family, const uint8_t *addr, uint8_t cidr),
		       void *arg);

/*
 * Calls cb for every prefix in the table with the peer it maps to, in the order of
 * ft_allowedips_walk(): one pass over the table where a walk per peer would be one pass per
 * peer (the metrics of 100,000 peers). Same rules as ft_allowedips_walk().
 */
int ft_allowedips_walk_all(const struct ft_allowedips *t,
			   int (*cb)(void *arg, struct ft_peer *peer, int family,
				     const uint8_t *addr, uint8_t cidr),
			   void *arg);

/* The number of prefixes in the table, and the number of trie nodes they take (diagnostics). */
size_t ft_allowedips_count(const struct ft_allowedips *t);
size_t ft_allowedips_nodes(const struct ft_allowedips *t);

#endif
