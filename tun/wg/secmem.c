// SPDX-License-Identifier: MIT
#include "config.h"

#include "tun/wg/secmem.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <sodium.h>

#define SLOT_ALIGN 64u
#define NCLASSES (FT_SECMEM_MAX_SLOT / SLOT_ALIGN)

/* A free slot holds the link to the next free slot of its class (the rest is zero). */
struct free_slot {
	struct free_slot *next;
};

/* Never touched memory of a chunk: what a reservation mapped ahead, in slots to come. */
struct region {
	uint8_t *base;
	size_t len;
};

struct size_class {
	struct free_slot *free;
	size_t free_n;
	uint8_t *bump; /* unused tail of the newest chunk of this class */
	size_t bump_left;
	struct region *spare; /* whole chunks mapped by ft_secmem_reserve, not yet bumped */
	size_t spare_n, spare_cap;
	size_t in_use;
	size_t promised; /* ft_secmem_reserve less ft_secmem_unreserve */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct size_class classes[NCLASSES];
static struct ft_secmem_stats totals;
static int mlock_warned;
static size_t limit_bytes;

static void warn_mlock(size_t page)
{
	struct rlimit rl;
	size_t need = (totals.chunk_bytes + FT_SECMEM_CHUNK + 2 * page) / 1024;

	if (mlock_warned)
		return;
	mlock_warned = 1;
	if (getrlimit(RLIMIT_MEMLOCK, &rl) != 0)
		rl.rlim_cur = 0;
	fprintf(stderr,
		"flowtun: cannot lock key memory: RLIMIT_MEMLOCK is %llu KiB and the peers' secrets "
		"need at least %zu KiB (about 1 KiB per peer plus the packet buffers); raise it "
		"(ulimit -l, or LimitMEMLOCK= in the systemd unit, e.g. LimitMEMLOCK=infinity)\n",
		rl.rlim_cur == RLIM_INFINITY ? 0ull : (unsigned long long)rl.rlim_cur / 1024, need);
}

/*
 * Locks pages as they are first touched, so that an unused slot costs no RSS; plain mlock()
 * (every page faulted in now) where the kernel or libc lacks MLOCK_ONFAULT (Linux < 4.4).
 */
static int lock_on_fault(void *addr, size_t len)
{
#ifdef MLOCK_ONFAULT /* glibc 2.27+ declares mlock2() with it */
	if (mlock2(addr, len, MLOCK_ONFAULT) == 0) {
		totals.on_fault = true;
		return 0;
	}
	if (errno != ENOSYS && errno != EINVAL)
		return -1;
#endif
	totals.on_fault = false;
	return mlock(addr, len);
}

/* Maps one chunk: guard page, FT_SECMEM_CHUNK locked bytes, guard page. */
static uint8_t *map_chunk(void)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	size_t total = FT_SECMEM_CHUNK + 2 * page;
	uint8_t *base, *data;

	if (limit_bytes && totals.chunk_bytes + FT_SECMEM_CHUNK > limit_bytes) {
		errno = ENOMEM;
		return NULL;
	}
	base = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED)
		return NULL;
	data = base + page;
	if (mprotect(base, page, PROT_NONE) != 0 ||
	    mprotect(data + FT_SECMEM_CHUNK, page, PROT_NONE) != 0)
		goto fail;
#ifdef MADV_DONTDUMP
	(void)madvise(data, FT_SECMEM_CHUNK, MADV_DONTDUMP);
#endif
	if (lock_on_fault(data, FT_SECMEM_CHUNK) != 0) {
		if (errno == ENOMEM || errno == EPERM || errno == EAGAIN)
			warn_mlock(page);
		goto fail;
	}
	totals.chunks++;
	totals.chunk_bytes += FT_SECMEM_CHUNK;
	return data;
fail:
	munmap(base, total);
	errno = ENOMEM;
	return NULL;
}

static size_t class_of(size_t size)
{
	return (size + SLOT_ALIGN - 1) / SLOT_ALIGN - 1;
}

void *ft_secmem_alloc(size_t size)
{
	struct size_class *c;
	size_t slot;
	void *p = NULL;

	if (size == 0 || size > FT_SECMEM_MAX_SLOT) {
		errno = EINVAL;
		return NULL;
	}
	c = &classes[class_of(size)];
	slot = (class_of(size) + 1) * SLOT_ALIGN;
	pthread_mutex_lock(&lock);
	if (c->free) {
		p = c->free;
		c->free = c->free->next;
		c->free_n--;
	} else {
		if (c->bump_left < slot) {
			/* The tail of the old chunk (< one slot) is left unused. */
			if (c->spare_n) {
				c->spare_n--;
				c->bump = c->spare[c->spare_n].base;
				c->bump_left = c->spare[c->spare_n].len;
			} else {
				uint8_t *chunk = map_chunk();

				if (!chunk)
					goto out;
				c->bump = chunk;
				c->bump_left = FT_SECMEM_CHUNK;
			}
		}
		p = c->bump;
		c->bump += slot;
		c->bump_left -= slot;
	}
	/* Free slots are zero except for their link; fresh chunk memory is zero. */
	memset(p, 0, sizeof(struct free_slot));
	c->in_use++;
	totals.slots_in_use++;
out:
	pthread_mutex_unlock(&lock);
	return p;
}

void ft_secmem_free(void *ptr, size_t size)
{
	struct size_class *c;
	struct free_slot *s = ptr;

	if (!ptr)
		return;
	c = &classes[class_of(size)];
	/* Wipe outside the lock: the slot is still owned by the caller until it is linked. */
	sodium_memzero(ptr, (class_of(size) + 1) * SLOT_ALIGN);
	pthread_mutex_lock(&lock);
	s->next = c->free;
	c->free = s;
	c->free_n++;
	c->in_use--;
	totals.slots_in_use--;
	pthread_mutex_unlock(&lock);
}

/* The slots of class c that ft_secmem_alloc gives without mapping a chunk. */
static size_t available(const struct size_class *c, size_t slot)
{
	return c->free_n + c->bump_left / slot + c->spare_n * (FT_SECMEM_CHUNK / slot);
}

int ft_secmem_reserve(size_t size, size_t n)
{
	struct size_class *c;
	size_t slot;
	int rc = 0;

	if (size == 0 || size > FT_SECMEM_MAX_SLOT)
		return -EINVAL;
	c = &classes[class_of(size)];
	slot = (class_of(size) + 1) * SLOT_ALIGN;
	pthread_mutex_lock(&lock);
	c->promised += n;
	while (c->in_use + available(c, slot) < c->promised) {
		uint8_t *chunk;

		if (c->spare_n == c->spare_cap) {
			size_t cap = c->spare_cap ? 2 * c->spare_cap : 16;
			struct region *r = realloc(c->spare, cap * sizeof(*r));

			if (!r) {
				rc = -ENOMEM;
				break;
			}
			c->spare = r;
			c->spare_cap = cap;
		}
		if (!(chunk = map_chunk())) {
			rc = -ENOMEM;
			break;
		}
		c->spare[c->spare_n++] = (struct region){ chunk, FT_SECMEM_CHUNK };
	}
	/* What was mapped on the way stays for later allocations; only the promise goes. */
	if (rc < 0)
		c->promised -= n;
	pthread_mutex_unlock(&lock);
	return rc;
}

void ft_secmem_unreserve(size_t size, size_t n)
{
	struct size_class *c;

	if (size == 0 || size > FT_SECMEM_MAX_SLOT)
		return;
	c = &classes[class_of(size)];
	pthread_mutex_lock(&lock);
	c->promised -= n < c->promised ? n : c->promised;
	pthread_mutex_unlock(&lock);
}

void ft_secmem_set_limit(size_t bytes)
{
	pthread_mutex_lock(&lock);
	limit_bytes = bytes;
	pthread_mutex_unlock(&lock);
}

void ft_secmem_stats(struct ft_secmem_stats *out)
{
	pthread_mutex_lock(&lock);
	*out = totals;
	pthread_mutex_unlock(&lock);
}
