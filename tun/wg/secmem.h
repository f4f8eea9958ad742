/* SPDX-License-Identifier: MIT */
#ifndef FT_WG_SECMEM_H
#define FT_WG_SECMEM_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Secret memory for per-peer state (handshakes, keypair sets), packed in a few guarded,
 * locked arenas instead of one sodium_malloc() mapping per object.
 *
 * Why: each sodium_malloc() is its own mmap split by guard pages into several mappings; a
 * hub with ~8,000 peers reaches vm.max_map_count (65,530) and every further peer fails
 * with ENOMEM. Here a chunk of FT_SECMEM_CHUNK bytes holds many fixed-size slots; the
 * chunk has a PROT_NONE guard page on each side, is mlock()ed and MADV_DONTDUMP.
 *
 * Locked on fault (mlock2 MLOCK_ONFAULT where the kernel has it): the whole chunk counts
 * against RLIMIT_MEMLOCK when it is mapped, but a page is resident only once a slot on it is
 * used. So a caller may reserve slots ahead (ft_secmem_reserve) while it may still lock
 * memory (at start-up, before privileges are dropped), and allocate them later, when a peer
 * first needs them, without an mlock() that the locked-memory limit would refuse then.
 *
 * Contract:
 * - ft_secmem_alloc(size) returns zeroed memory aligned to 64 bytes, or NULL (errno set:
 *   ENOMEM; when mlock() fails a message naming RLIMIT_MEMLOCK and how much is needed is
 *   printed to stderr once). size must be in 1..FT_SECMEM_MAX_SLOT.
 * - ft_secmem_free(ptr, size) wipes the slot (sodium_memzero) and puts it on the free list
 *   of its size class; size must be the one given to ft_secmem_alloc. NULL is a no-op.
 * - Thread-safe (a mutex); not for the packet path: peer add/remove and handshake setup only.
 * - Chunks are never returned to the system (a hub's peer count is its high-water mark).
 */
#define FT_SECMEM_CHUNK (256u * 1024u)
#define FT_SECMEM_MAX_SLOT 4096u

void *ft_secmem_alloc(size_t size);
void ft_secmem_free(void *ptr, size_t size);

/*
 * Promises n more slots of size (a size class, as ft_secmem_alloc rounds it): maps and
 * locks chunks now until the slots in use plus those free in the class cover every slot
 * promised, so that as many ft_secmem_alloc(size) as were promised and not given back
 * succeed later with no new mlock. Chunks so mapped stay untouched (no RSS) until used.
 * 0, -EINVAL (a bad size) or -ENOMEM (nothing promised; the RLIMIT_MEMLOCK message as for
 * ft_secmem_alloc). unreserve gives n promised slots back (the chunks stay).
 */
int ft_secmem_reserve(size_t size, size_t n);
void ft_secmem_unreserve(size_t size, size_t n);

/*
 * Caps the bytes of chunks mapped (0: no cap, the default); past it ft_secmem_alloc fails
 * with ENOMEM. For tests of exhaustion and for a bounded embedder.
 */
void ft_secmem_set_limit(size_t bytes);

/*
 * Totals for tests and the benchmark: bytes of chunks mapped, slots in use, and whether the
 * last chunk was locked on fault (false: mlock(), every page of it resident, e.g. valgrind).
 */
struct ft_secmem_stats {
	size_t chunks;
	size_t chunk_bytes;
	size_t slots_in_use;
	bool on_fault;
};
void ft_secmem_stats(struct ft_secmem_stats *out);

#endif
