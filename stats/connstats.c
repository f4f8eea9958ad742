// SPDX-License-Identifier: MIT
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>

#include "stats/connstats.h"

/*
 * Layout. Each table (virtual, physical) is a dense array of max_conns entries in insertion
 * order, which is exactly what the dump callback receives, and an open-addressing index of
 * 2^k >= 2 * max_conns slots with linear probing, so the load factor stays at or below 1/2.
 * A slot is 0 (empty) or (hash >> 32) << 32 | (entry index + 1): the 32-bit tag rejects most
 * other keys on a probe without touching their entry, which matters once the entries no longer
 * fit in the cache. A window ends by clearing the index and swapping in the entry arrays of a
 * spare window; the dumped arrays go back to the spares when their last hold is released.
 * Windows are allocated on demand up to max_windows and freed only by close.
 *
 * The hash is keyed with a random seed per instance, so that a peer choosing ports and
 * addresses cannot aim its flows at one probe chain.
 *
 * Timer: one, a one-shot started at a window's first insert and stopped when the window is
 * dumped for any reason; when it fires, the window has lasted period_ms and is dumped.
 */

enum {
	BATCH = 32,		   /* packets hashed and prefetched together */
	MAX_CONNS_LIMIT = 1 << 26, /* keeps entry indexes and slot counts well inside 32 bits */
};

_Static_assert(sizeof(struct ft_conn_key) == 40, "ft_conn_key must have no padding");
_Static_assert(offsetof(struct ft_conn_key, dst) == 17 &&
		       offsetof(struct ft_conn_key, proto) == 34 &&
		       offsetof(struct ft_conn_key, dst_port) == 38,
	       "virtual_key() assumes this layout");

enum dump_why { DUMP_PERIOD, DUMP_FULL, DUMP_OTHER, DUMP_FINAL };

struct table {
	struct ft_conn_entry *entries; /* the filling window's, max_conns of them, n in use */
	uint64_t *slots;	       /* mask + 1 of them */
	size_t n;
};

/* A window's entry arrays; pub is what the dump callback sees. */
struct window {
	struct ft_conn_window pub;
	struct ft_conn_entry *v, *p; /* max_conns each */
	unsigned int holds;
	struct window *next_spare;
};

struct ft_connstats {
	uv_timer_t timer; /* timer.data is the instance */
	ft_connstats_dump_cb cb;
	void *arg;
	ft_connstats_close_cb close_cb;
	uint64_t period_ms;
	size_t max_conns;
	size_t mask;
	uint64_t seed[6];
	struct table virt, phys;
	struct window *filling; /* whose arrays virt and phys use; NULL after the final dump */
	struct window *spares;	/* released windows, ready to fill */
	size_t n_windows, max_windows, held; /* allocated; the limit; held by consumers */
	struct ft_conn_entry overflow[2];    /* virtual, physical: counts of new connections
					      * that found no room while a dump waited */
	uint64_t start_ms;		     /* of the current window, when it is not empty */
	uint64_t seq;			     /* windows dumped */
	bool shut;
	bool in_dump;
	bool dump_waiting; /* a dump is due and waits for a released window */
	bool closing, timer_closed;
	bool has_timer;	 /* created with a loop */
	bool collecting; /* inside the collect callback: no second call */
	ft_connstats_collect_cb collect;
	void *collect_arg;
	struct ft_connstats_counters counters;
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static inline uint64_t mum(uint64_t a, uint64_t b)
{
	__uint128_t r = (__uint128_t)a * b;

	return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static inline uint64_t key_hash(const struct ft_connstats *s, const struct ft_conn_key *k)
{
	uint64_t w[5], h;

	memcpy(w, k, sizeof(w));
	h = mum(w[0] ^ s->seed[0], w[1] ^ s->seed[1]) ^ mum(w[2] ^ s->seed[2], w[3] ^ s->seed[3]);
	return mum(h ^ s->seed[4], w[4] ^ s->seed[5]);
}

/*
 * Word by word, one branch each: a compare the compiler turns into 16-byte loads would stall on
 * a key that was just stored in 8-byte words (see virtual_key()).
 */
static inline bool key_equal(const struct ft_conn_key *a, const struct ft_conn_key *b)
{
	const uint8_t *x = (const uint8_t *)a, *y = (const uint8_t *)b;

	for (size_t i = 0; i < sizeof(*a); i += 8) {
		uint64_t u, v;

		memcpy(&u, x + i, 8);
		memcpy(&v, y + i, 8);
		if (u != v)
			return false;
	}
	return true;
}

static size_t slot_index(uint64_t slot)
{
	return (size_t)(uint32_t)slot - 1;
}

static void table_clear(const struct ft_connstats *s, struct table *t)
{
	/*
	 * A small window clears only its own slots, so that a flush of a few entries in a table
	 * sized for many does not write the whole index. Each entry is certainly in the probe run
	 * from its home slot, so the search skips the slots already cleared.
	 */
	if (t->n * 16 < s->mask + 1) {
		for (size_t i = 0; i < t->n; i++) {
			size_t pos = key_hash(s, &t->entries[i].key) & s->mask;

			while (t->slots[pos] == 0 || slot_index(t->slots[pos]) != i)
				pos = (pos + 1) & s->mask;
			t->slots[pos] = 0;
		}
	} else {
		memset(t->slots, 0, (s->mask + 1) * sizeof(*t->slots));
	}
	t->n = 0;
}

static struct window *window_new(size_t max_conns)
{
	struct window *win = calloc(1, sizeof(*win));

	if (!win)
		return NULL;
	win->v = malloc(max_conns * sizeof(*win->v));
	win->p = malloc(max_conns * sizeof(*win->p));
	if (!win->v || !win->p) {
		free(win->v);
		free(win->p);
		free(win);
		return NULL;
	}
	return win;
}

static void window_free(struct window *win)
{
	if (!win)
		return;
	free(win->v);
	free(win->p);
	free(win);
}

/* A window to fill next: a spare, or a new one while under max_windows; NULL when none. */
static struct window *take_spare(struct ft_connstats *s)
{
	struct window *win = s->spares;

	if (win) {
		s->spares = win->next_spare;
		return win;
	}
	if (s->n_windows >= s->max_windows || !(win = window_new(s->max_conns)))
		return NULL;
	s->n_windows++;
	return win;
}

static void counts_of(struct ft_conn_counts *c, struct ft_conn_entry *e)
{
	c->tx_packets = e->tx_packets;
	c->tx_bytes = e->tx_bytes;
	c->rx_packets = e->rx_packets;
	c->rx_bytes = e->rx_bytes;
	e->tx_packets = e->tx_bytes = e->rx_packets = e->rx_bytes = 0;
}

static bool window_empty(const struct ft_connstats *s)
{
	return s->virt.n + s->phys.n == 0;
}

static void finish_close(struct ft_connstats *s);
static void on_close(uv_handle_t *handle);

static void timer_stop(struct ft_connstats *s)
{
	if (s->has_timer)
		uv_timer_stop(&s->timer);
}

/* What others count for this instance goes in first (ft_connstats_set_collect()). */
static void collect(struct ft_connstats *s)
{
	if (!s->collect || s->collecting || s->shut)
		return;
	s->collecting = true;
	s->collect(s->collect_arg, s);
	s->collecting = false;
}

/*
 * Hands the filling window to the callback and starts the next one in a spare; a final dump
 * needs no spare. Returns false when the dump must wait for a window to be released.
 */
static bool dump(struct ft_connstats *s, enum dump_why why)
{
	struct window *win = s->filling, *next = NULL;

	if (window_empty(s)) {
		s->dump_waiting = false;
		return true;
	}
	if (why != DUMP_FINAL && !(next = take_spare(s))) {
		if (!s->dump_waiting)
			s->counters.dumps_deferred++;
		s->dump_waiting = true;
		return false;
	}
	switch (why) {
	case DUMP_PERIOD:
		s->counters.dumps_period++;
		break;
	case DUMP_FULL:
		s->counters.dumps_full++;
		break;
	case DUMP_OTHER:
	case DUMP_FINAL:
		s->counters.dumps_other++;
		break;
	}
	win->pub.start_ms = s->start_ms;
	win->pub.end_ms = now_ms();
	win->pub.v = win->v;
	win->pub.nv = s->virt.n;
	win->pub.p = win->p;
	win->pub.np = s->phys.n;
	counts_of(&win->pub.overflow_v, &s->overflow[0]);
	counts_of(&win->pub.overflow_p, &s->overflow[1]);
	win->pub.seq = s->seq++;
	/* The index is cleared from the entries it points at, before they change hands. */
	table_clear(s, &s->virt);
	table_clear(s, &s->phys);
	timer_stop(s);
	s->dump_waiting = false;
	s->filling = next;
	s->virt.entries = next ? next->v : NULL;
	s->phys.entries = next ? next->p : NULL;

	win->holds = 1; /* ours, for the duration of the call */
	s->held++;
	s->in_dump = true;
	s->cb(s->arg, &win->pub);
	s->in_dump = false;
	ft_connstats_release(s, &win->pub);
	return true;
}

/* The window around pub; the callers were given pub by dump(), which owns the window. */
static struct window *window_of(const struct ft_conn_window *pub)
{
	return (struct window *)((uintptr_t)pub - offsetof(struct window, pub));
}

void ft_connstats_hold(struct ft_connstats *s, const struct ft_conn_window *pub)
{
	struct window *win = window_of(pub);

	(void)s;
	assert(win->holds > 0);
	win->holds++;
}

void ft_connstats_release(struct ft_connstats *s, const struct ft_conn_window *pub)
{
	struct window *win = window_of(pub);

	assert(win->holds > 0);
	if (--win->holds > 0)
		return;
	s->held--;
	win->next_spare = s->spares;
	s->spares = win;
	if (s->closing) {
		finish_close(s);
		return;
	}
	/* A dump that waited for this window runs now, unless we are inside a dump already. */
	if (s->dump_waiting && !s->in_dump && !s->shut)
		dump(s, DUMP_OTHER);
}

static void on_timer(uv_timer_t *timer)
{
	struct ft_connstats *s = timer->data;

	collect(s);
	dump(s, DUMP_PERIOD);
}

/* The entry of key k (hash h) in t, inserted with zero counts if new. */
static struct ft_conn_entry *lookup(struct ft_connstats *s, struct table *t,
				    const struct ft_conn_key *k, uint64_t h)
{
	size_t pos = h & s->mask;
	uint64_t tag = h >> 32;
	struct ft_conn_entry *e;

	assert(!s->in_dump);
	for (;;) {
		uint64_t slot = t->slots[pos];

		if (slot == 0)
			break;
		if (slot >> 32 == tag) {
			e = &t->entries[slot_index(slot)];
			if (key_equal(&e->key, k))
				return e;
		}
		pos = (pos + 1) & s->mask;
	}

	/* A new connection: the window must make room first, so no dump exceeds max_conns. */
	if (s->virt.n + s->phys.n >= s->max_conns) {
		if (!dump(s, DUMP_FULL)) {
			s->counters.overflow_packets++;
			return &s->overflow[t == &s->phys];
		}
		pos = h & s->mask; /* both indexes are empty now */
	}
	if (s->virt.n + s->phys.n == 0) {
		s->start_ms = now_ms();
		if (s->period_ms && s->has_timer)
			uv_timer_start(&s->timer, on_timer, s->period_ms, 0);
	}
	e = &t->entries[t->n];
	e->key = *k;
	e->tx_packets = e->tx_bytes = e->rx_packets = e->rx_bytes = 0;
	t->slots[pos] = tag << 32 | (uint64_t)(t->n + 1);
	t->n++;
	return e;
}

static void count(struct ft_conn_entry *e, bool rx, uint64_t packets, uint64_t bytes)
{
	if (rx) {
		e->rx_packets += packets;
		e->rx_bytes += bytes;
	} else {
		e->tx_packets += packets;
		e->tx_bytes += bytes;
	}
}

static inline uint64_t load64(const uint8_t *p)
{
	uint64_t w;

	memcpy(&w, p, sizeof(w));
	return w;
}

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "virtual_key() assembles the key's words for a little-endian CPU"
#endif

/*
 * The key of a parsed packet, assembled in registers and stored as five whole words. Copying
 * the fields one by one (17-byte addresses, 16-bit ports) and then reading the key back as
 * words for the hash and the compare made each update wait for store forwarding to fail, a
 * third of the time of an update to a hot entry.
 */
static void virtual_key(struct ft_connstats *s, const struct ft_packet_info *info, bool rx,
			struct ft_conn_key *k)
{
	const struct ft_addr *a = rx ? &info->dst : &info->src;
	const struct ft_addr *b = rx ? &info->src : &info->dst;
	uint64_t a0 = load64(a->bytes), a1 = load64(a->bytes + 8);
	uint64_t b0 = load64(b->bytes), b1 = load64(b->bytes + 8);
	uint64_t aport = rx ? info->dst_port : info->src_port;
	uint64_t bport = rx ? info->src_port : info->dst_port;
	uint8_t *out = (uint8_t *)k;
	uint64_t w;

	if (info->proto == FT_IPPROTO_INVALID)
		s->counters.invalid[info->reason]++;
	/*
	 * Layout: src family, src bytes, dst family, dst bytes, proto, src port, dst port. One
	 * store per word, from scalars: an array of words would be merged into vector moves
	 * through the stack, with the same stall.
	 */
	w = a->family | a0 << 8;
	memcpy(out, &w, 8);
	w = a0 >> 56 | a1 << 8;
	memcpy(out + 8, &w, 8);
	w = a1 >> 56 | (uint64_t)b->family << 8 | b0 << 16;
	memcpy(out + 16, &w, 8);
	w = b0 >> 48 | b1 << 16;
	memcpy(out + 24, &w, 8);
	w = b1 >> 48 | (uint64_t)info->proto << 16 | aport << 32 | bport << 48;
	memcpy(out + 32, &w, 8);
}

static bool dropped(struct ft_connstats *s, uint64_t packets, uint64_t bytes)
{
	if (!s->shut)
		return false;
	s->counters.dropped_packets += packets;
	s->counters.dropped_bytes += bytes;
	return true;
}

void ft_connstats_update_virtual_parsed(struct ft_connstats *s, const struct ft_packet_info *info,
					size_t len, bool rx)
{
	struct ft_conn_key k;

	if (dropped(s, 1, len))
		return;
	virtual_key(s, info, rx, &k);
	count(lookup(s, &s->virt, &k, key_hash(s, &k)), rx, 1, len);
}

static void update_virtual(struct ft_connstats *s, const uint8_t *pkt, size_t len, bool rx)
{
	struct ft_packet_info info;

	if (dropped(s, 1, len))
		return;
	ft_packet_parse(pkt, len, &info);
	ft_connstats_update_virtual_parsed(s, &info, len, rx);
}

void ft_connstats_update_tx_virtual(struct ft_connstats *s, const uint8_t *pkt, size_t len)
{
	update_virtual(s, pkt, len, false);
}

void ft_connstats_update_rx_virtual(struct ft_connstats *s, const uint8_t *pkt, size_t len)
{
	update_virtual(s, pkt, len, true);
}

/*
 * In three passes over up to BATCH packets, so that the cache misses of one packet overlap
 * those of the others: parse, hash and prefetch the home slot; read the slot and prefetch the
 * entry it points to when the tag matches; then look up and count as the single update does.
 */
static void update_virtual_batch(struct ft_connstats *s, const uint8_t *const pkts[],
				 const size_t lens[], size_t n, bool rx)
{
	struct ft_conn_key keys[BATCH];
	uint64_t hashes[BATCH];

	for (size_t done = 0; done < n;) {
		size_t m = n - done < BATCH ? n - done : BATCH;

		if (s->shut) {
			for (size_t i = done; i < n; i++)
				dropped(s, 1, lens[i]);
			return;
		}
		for (size_t i = 0; i < m; i++) {
			struct ft_packet_info info;

			ft_packet_parse(pkts[done + i], lens[done + i], &info);
			virtual_key(s, &info, rx, &keys[i]);
			hashes[i] = key_hash(s, &keys[i]);
			__builtin_prefetch(&s->virt.slots[hashes[i] & s->mask]);
		}
		for (size_t i = 0; i < m; i++) {
			uint64_t slot = s->virt.slots[hashes[i] & s->mask];

			if (slot != 0 && slot >> 32 == hashes[i] >> 32) {
				const char *e = (const char *)&s->virt.entries[slot_index(slot)];

				__builtin_prefetch(e, 1);
				__builtin_prefetch(e + sizeof(struct ft_conn_entry) - 1, 1);
			}
		}
		for (size_t i = 0; i < m; i++)
			count(lookup(s, &s->virt, &keys[i], hashes[i]), rx, 1, lens[done + i]);
		done += m;
	}
}

void ft_connstats_update_tx_virtual_batch(struct ft_connstats *s, const uint8_t *const pkts[],
					  const size_t lens[], size_t n)
{
	update_virtual_batch(s, pkts, lens, n, false);
}

void ft_connstats_update_rx_virtual_batch(struct ft_connstats *s, const uint8_t *const pkts[],
					  const size_t lens[], size_t n)
{
	update_virtual_batch(s, pkts, lens, n, true);
}

/* Copies a so that the bytes the family does not use are zero, as memcmp keys need. */
static void addr_normalize(struct ft_addr *out, const struct ft_addr *a)
{
	memset(out, 0, sizeof(*out));
	if (a->family == AF_INET)
		ft_addr_set_v4(out, a->bytes);
	else if (a->family == AF_INET6)
		ft_addr_set_v6(out, a->bytes);
}

static void update_physical(struct ft_connstats *s, const struct ft_addr *peer,
			    const struct ft_addr *ep_addr, uint16_t ep_port, uint64_t packets,
			    uint64_t bytes, bool rx)
{
	struct ft_conn_key k;

	if (dropped(s, packets, bytes))
		return;
	addr_normalize(&k.src, peer);
	addr_normalize(&k.dst, ep_addr);
	k.proto = 0;
	k.src_port = 0;
	k.dst_port = ep_port;
	count(lookup(s, &s->phys, &k, key_hash(s, &k)), rx, packets, bytes);
}

void ft_connstats_update_tx_physical(struct ft_connstats *s, const struct ft_addr *peer,
				     const struct ft_addr *ep_addr, uint16_t ep_port,
				     uint64_t packets, uint64_t bytes)
{
	update_physical(s, peer, ep_addr, ep_port, packets, bytes, false);
}

void ft_connstats_update_rx_physical(struct ft_connstats *s, const struct ft_addr *peer,
				     const struct ft_addr *ep_addr, uint16_t ep_port,
				     uint64_t packets, uint64_t bytes)
{
	update_physical(s, peer, ep_addr, ep_port, packets, bytes, true);
}

void ft_connstats_flush(struct ft_connstats *s)
{
	assert(!s->in_dump);
	collect(s);
	if (!s->shut)
		dump(s, DUMP_OTHER);
}

void ft_connstats_set_collect(struct ft_connstats *s, ft_connstats_collect_cb cb, void *arg)
{
	s->collect = cb;
	s->collect_arg = arg;
}

void ft_connstats_collect(struct ft_connstats *s)
{
	assert(!s->in_dump);
	collect(s);
}

/* Adds n entries of another instance to dst's table t, as updates of their keys would. */
static void merge_entries(struct ft_connstats *dst, struct table *t,
			  const struct ft_conn_entry *src, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct ft_conn_entry *e = lookup(dst, t, &src[i].key, key_hash(dst, &src[i].key));

		/* No room (lookup counted one packet): the overflow counts take all of them. */
		if (e == &dst->overflow[0] || e == &dst->overflow[1])
			dst->counters.overflow_packets += src[i].tx_packets + src[i].rx_packets - 1;

		e->tx_packets += src[i].tx_packets;
		e->tx_bytes += src[i].tx_bytes;
		e->rx_packets += src[i].rx_packets;
		e->rx_bytes += src[i].rx_bytes;
	}
}

static void merge_counts(struct ft_conn_entry *o, const struct ft_conn_counts *c)
{
	o->tx_packets += c->tx_packets;
	o->tx_bytes += c->tx_bytes;
	o->rx_packets += c->rx_packets;
	o->rx_bytes += c->rx_bytes;
}

void ft_connstats_merge(struct ft_connstats *dst, const struct ft_conn_window *win)
{
	uint64_t lost = win->overflow_v.tx_packets + win->overflow_v.rx_packets +
			win->overflow_p.tx_packets + win->overflow_p.rx_packets;

	assert(!dst->in_dump);
	if (dst->shut) {
		for (size_t i = 0; i < win->nv; i++)
			dropped(dst, win->v[i].tx_packets + win->v[i].rx_packets,
				win->v[i].tx_bytes + win->v[i].rx_bytes);
		return;
	}
	merge_entries(dst, &dst->virt, win->v, win->nv);
	merge_entries(dst, &dst->phys, win->p, win->np);
	/* What had no entry of its own where it was counted has none here either. */
	if (lost) {
		merge_counts(&dst->overflow[0], &win->overflow_v);
		merge_counts(&dst->overflow[1], &win->overflow_p);
		dst->counters.overflow_packets += lost;
	}
}

void ft_connstats_shutdown(struct ft_connstats *s)
{
	assert(!s->in_dump);
	if (s->shut)
		return;
	collect(s);
	/* Set first: a release from inside the final dump must not start another one. */
	s->shut = true;
	dump(s, DUMP_FINAL);
	timer_stop(s);
}

bool ft_connstats_is_shutdown(const struct ft_connstats *s)
{
	return s->shut;
}

static struct ft_conn_entry *copy_entries(const struct table *t)
{
	struct ft_conn_entry *c;

	if (t->n == 0)
		return NULL;
	c = malloc(t->n * sizeof(*c));
	if (c)
		memcpy(c, t->entries, t->n * sizeof(*c));
	return c;
}

int ft_connstats_extract(struct ft_connstats *s, struct ft_conn_entry **v, size_t *nv,
			 struct ft_conn_entry **p, size_t *np)
{
	assert(!s->in_dump);
	*v = copy_entries(&s->virt);
	*p = copy_entries(&s->phys);
	if ((s->virt.n && !*v) || (s->phys.n && !*p)) {
		free(*v);
		free(*p);
		*v = *p = NULL;
		*nv = *np = 0;
		return -ENOMEM;
	}
	*nv = s->virt.n;
	*np = s->phys.n;
	table_clear(s, &s->virt);
	table_clear(s, &s->phys);
	timer_stop(s);
	s->dump_waiting = false;
	return 0;
}

void ft_connstats_peek(const struct ft_connstats *s, const struct ft_conn_entry **v, size_t *nv,
		       const struct ft_conn_entry **p, size_t *np, uint64_t *start_ms)
{
	*v = s->virt.entries;
	*nv = s->virt.n;
	*p = s->phys.entries;
	*np = s->phys.n;
	*start_ms = s->virt.n || s->phys.n ? s->start_ms : 0;
}

void ft_connstats_get_counters(const struct ft_connstats *s, struct ft_connstats_counters *out)
{
	*out = s->counters;
}

size_t ft_connstats_max_conns(const struct ft_connstats *s)
{
	return s->max_conns;
}

static void free_all(struct ft_connstats *s)
{
	struct window *win;

	free(s->virt.slots);
	free(s->phys.slots);
	window_free(s->filling);
	while ((win = s->spares)) {
		s->spares = win->next_spare;
		window_free(win);
	}
	free(s);
}

/* Frees s once its timer is closed and no window is held any more. */
static void finish_close(struct ft_connstats *s)
{
	ft_connstats_close_cb cb = s->close_cb;
	void *arg = s->arg;

	if (!s->timer_closed || s->held > 0)
		return;
	free_all(s);
	if (cb)
		cb(arg);
}

static void on_close(uv_handle_t *handle)
{
	struct ft_connstats *s = handle->data;

	s->timer_closed = true;
	finish_close(s);
}

void ft_connstats_close(struct ft_connstats *s, ft_connstats_close_cb cb)
{
	ft_connstats_shutdown(s);
	s->close_cb = cb;
	s->closing = true;
	if (s->has_timer) {
		uv_close((uv_handle_t *)&s->timer, on_close);
		return;
	}
	s->timer_closed = true;
	finish_close(s);
}

int ft_connstats_set_max_windows(struct ft_connstats *s, size_t max_windows)
{
	if (max_windows < 2 || s->seq > 0)
		return -EINVAL;
	s->max_windows = max_windows;
	return 0;
}

static void seed_init(uint64_t seed[6])
{
	/* Without getrandom() the seed still differs per process and instance, if guessably. */
	if (getrandom(seed, 6 * sizeof(*seed), GRND_NONBLOCK) == (ssize_t)(6 * sizeof(*seed)))
		return;
	for (int i = 0; i < 6; i++)
		seed[i] = mum(now_ms() + (uint64_t)(uintptr_t)seed + (uint64_t)i,
			      0x9e3779b97f4a7c15ULL) |
			  1;
}

struct ft_connstats *ft_connstats_create(uv_loop_t *loop, uint64_t period_ms, size_t max_conns,
					 ft_connstats_dump_cb cb, void *arg)
{
	struct ft_connstats *s;
	size_t nslots = 2;
	int err;

	if (max_conns == 0 || max_conns > MAX_CONNS_LIMIT || !cb || (!loop && period_ms)) {
		errno = EINVAL;
		return NULL;
	}
	while (nslots < 2 * max_conns)
		nslots *= 2;
	s = calloc(1, sizeof(*s));
	if (!s) {
		errno = ENOMEM;
		return NULL;
	}
	s->cb = cb;
	s->arg = arg;
	s->period_ms = period_ms;
	s->max_conns = max_conns;
	s->mask = nslots - 1;
	/* A window is max_conns virtual and max_conns physical entries. */
	s->max_windows =
		FT_CONNSTATS_WINDOW_MEMORY / (2 * max_conns * sizeof(struct ft_conn_entry));
	if (s->max_windows < FT_CONNSTATS_WINDOWS_MIN)
		s->max_windows = FT_CONNSTATS_WINDOWS_MIN;
	if (s->max_windows > FT_CONNSTATS_WINDOWS_MAX)
		s->max_windows = FT_CONNSTATS_WINDOWS_MAX;
	seed_init(s->seed);
	s->virt.slots = calloc(nslots, sizeof(*s->virt.slots));
	s->phys.slots = calloc(nslots, sizeof(*s->phys.slots));
	s->filling = window_new(max_conns);
	err = s->virt.slots && s->phys.slots && s->filling ? 0 : -ENOMEM;
	if (!err && loop)
		err = uv_timer_init(loop, &s->timer);
	if (err) {
		free_all(s);
		errno = -err;
		return NULL;
	}
	s->has_timer = loop != NULL;
	s->n_windows = 1;
	s->virt.entries = s->filling->v;
	s->phys.entries = s->filling->p;
	s->timer.data = s;
	return s;
}
