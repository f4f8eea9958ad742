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

struct size_class {
	struct free_slot *free;
	uint8_t *bump; /* unused tail of the newest chunk of this class */
	size_t bump_left;
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
	if (mlock(data, FT_SECMEM_CHUNK) != 0) {
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
	} else {
		if (c->bump_left < slot) {
			/* The tail of the old chunk (< one slot) is left unused. */
			uint8_t *chunk = map_chunk();

			if (!chunk)
				goto out;
			c->bump = chunk;
			c->bump_left = FT_SECMEM_CHUNK;
		}
		p = c->bump;
		c->bump += slot;
		c->bump_left -= slot;
	}
	/* Free slots are zero except for their link; fresh chunk memory is zero. */
	memset(p, 0, sizeof(struct free_slot));
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
	totals.slots_in_use--;
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
