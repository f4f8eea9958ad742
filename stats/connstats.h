/* SPDX-License-Identifier: MIT */
#ifndef FT_CONNSTATS_H
#define FT_CONNSTATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "stats/packet.h"

/*
 * Connection statistics: packet and byte counters per virtual connection (IP flows on the TUN
 * device) and per physical connection (encrypted datagrams per peer endpoint), handed to a dump
 * callback in windows. A port of Tailscale's net/connstats to one libuv loop.
 *
 * Keys. Virtual: {proto, src addr:port, dst addr:port} as ft_packet_parse() decodes it; tx keys
 * a packet by its own src/dst, rx swaps them so both directions of a flow share one key.
 * Physical: {proto 0, src = the peer's overlay address with port 0, dst = the peer's underlay
 * endpoint addr:port}. Bytes are the buffer lengths given (for virtual, the IP packet as read
 * from or written to the TUN device; for physical, the UDP payload).
 *
 * Windows. A window starts at its first insert. It is dumped when
 *   - its period has elapsed (a one-shot uv_timer_t on the owning loop, started at the first
 *     insert; period 0 means no timer),
 *   - a new connection would make virtual + physical entries exceed max_conns (the dump runs
 *     before the insert, so no dump holds more than max_conns entries),
 *   - ft_connstats_flush(), ft_connstats_shutdown() or ft_connstats_close() is called.
 * Empty tables are never dumped. Updates to existing connections never flush, block or lose.
 *
 * Hand-off. A dump hands the window's tables to the dump callback as a struct ft_conn_window
 * and goes on counting into a spare pair of tables at once, so that a consumer can format and
 * write a window off the loop (the thread pool) while the next one fills. A consumer that needs
 * the window after its callback returns takes a hold (ft_connstats_hold()) and gives it back
 * with ft_connstats_release(); the tables are reused once the last hold is gone. At most
 * max_windows windows exist (the one filling and those held): unless set, as many as
 * FT_CONNSTATS_WINDOW_MEMORY holds, at least FT_CONNSTATS_WINDOWS_MIN and at most
 * FT_CONNSTATS_WINDOWS_MAX (small windows come fast in a flood: more of them absorb a writer's
 * pause; large ones are few and costly).
 * When a dump is due and every other window is still held (the consumer is behind):
 *   - the dump waits: the window stays open and is dumped as soon as a window is released
 *     (counted in dumps_deferred);
 *   - updates of connections already in the window go on as usual;
 *   - a new connection finds no room: its counts go to the window's overflow counts
 *     (overflow_v, overflow_p of the window dumped), never lost, never blocking.
 * The final dump (shutdown, close) needs no spare and never waits.
 *
 * Shards. An instance created without a loop (period 0, no timer) is a shard: a thread of its own
 * counts into it, and the instance that writes the records takes its windows in with
 * ft_connstats_merge(), under whatever lock the two threads share. The collect callback
 * (ft_connstats_set_collect()) runs before each dump by the timer, a flush and the shutdown, so
 * that the shards' counts so far are in the window dumped; full dumps do not call it (they run
 * inside an update, often inside the collect callback's own merge).
 *
 * Threading: everything, updates included, runs on the loop thread; there are no locks. The
 * dump callback runs synchronously on that thread, possibly from inside an update call or
 * from inside ft_connstats_release(). A window's entries may be read from any thread while it
 * is held; hold and release are loop-thread calls.
 *
 * Memory: one window of max_conns virtual and max_conns physical entries and the two indexes,
 * allocated by create; further windows are allocated by the first dump that needs one (at most
 * max_windows in all) and kept until close. Updates that do not dump never allocate.
 */

/* A connection key: 40 bytes with no padding, so that keys compare with memcmp. */
struct ft_conn_key {
	struct ft_addr src, dst;
	uint16_t proto; /* IANA number, FT_IPPROTO_FRAGMENT, FT_IPPROTO_INVALID; 0 for physical */
	uint16_t src_port, dst_port;
};

struct ft_conn_entry {
	struct ft_conn_key key;
	uint64_t tx_packets, tx_bytes, rx_packets, rx_bytes;
};

/* Counts summed over connections that have no entry of their own. */
struct ft_conn_counts {
	uint64_t tx_packets, tx_bytes, rx_packets, rx_bytes;
};

/*
 * A dumped window. start_ms and end_ms: wall-clock milliseconds since the Unix epoch
 * (CLOCK_REALTIME) of the window's first insert and of the dump. v[0..nv) and p[0..np) are the
 * virtual and physical entries in insertion order. overflow_v and overflow_p: the counts of new
 * connections that found no room while the dump waited for a window (see "Hand-off"); zero
 * unless the consumer fell behind. seq: the windows dumped before this one.
 */
struct ft_conn_window {
	uint64_t start_ms, end_ms;
	const struct ft_conn_entry *v, *p;
	size_t nv, np;
	struct ft_conn_counts overflow_v, overflow_p;
	uint64_t seq;
};

struct ft_connstats;

/*
 * win is valid during the call, and after it while the callback (or whoever it hands the window
 * to) holds it: ft_connstats_hold() during the call, ft_connstats_release() later. The callback
 * must not call the update, flush, extract, shutdown or close functions of the same instance.
 */
typedef void (*ft_connstats_dump_cb)(void *arg, const struct ft_conn_window *win);
/* Runs after the memory of the instance is freed; arg is the create argument. */
typedef void (*ft_connstats_close_cb)(void *arg);

/* Counters of what did not land in a table, for `flowtun show`. */
struct ft_connstats_counters {
	uint64_t dropped_packets; /* updates after shutdown: packets (1 per virtual update) */
	uint64_t dropped_bytes;
	uint64_t invalid[FT_PACKET_REASON_COUNT]; /* virtual packets keyed FT_IPPROTO_INVALID */
	uint64_t dumps_period;			  /* dumps by the timer */
	uint64_t dumps_full;			  /* dumps because max_conns was reached */
	uint64_t dumps_other;			  /* flush, shutdown, close */
	uint64_t dumps_deferred;   /* dumps that waited for a window to be released */
	uint64_t overflow_packets; /* packets counted in a window's overflow counts */
};

/* The default of max_windows: what the memory bound holds, within these limits. */
#define FT_CONNSTATS_WINDOW_MEMORY (32u << 20)
#define FT_CONNSTATS_WINDOWS_MIN 4
#define FT_CONNSTATS_WINDOWS_MAX 32

/*
 * Creates the statistics of one loop, no I/O. period_ms 0: no timer. loop NULL: a shard (no
 * timer, period_ms must be 0; close frees it at once unless a window is held). max_conns >= 1 bounds the
 * entries of one window (virtual + physical) and so the memory. Returns NULL with errno set
 * (ENOMEM, EINVAL when max_conns is 0 or above 2^26). Loop thread only, as every function here.
 */
struct ft_connstats *ft_connstats_create(uv_loop_t *loop, uint64_t period_ms, size_t max_conns,
					 ft_connstats_dump_cb cb, void *arg);

/*
 * Sets max_windows (>= 2: the window filling and at least one held); before the first dump.
 * 0 or -EINVAL.
 */
int ft_connstats_set_max_windows(struct ft_connstats *s, size_t max_windows);

/* Keeps win (a window given to the dump callback) after the callback returns. */
void ft_connstats_hold(struct ft_connstats *s, const struct ft_conn_window *win);
/*
 * Gives a hold back; the window's tables are reused once none is left, and a dump that waited
 * for them runs (its callback from inside this call). Valid after close too, until the last
 * hold is gone: only then does the close callback run.
 */
void ft_connstats_release(struct ft_connstats *s, const struct ft_conn_window *win);

/* Parses pkt and counts it as sent (tx) or received (rx, src and dst swapped). */
void ft_connstats_update_tx_virtual(struct ft_connstats *s, const uint8_t *pkt, size_t len);
void ft_connstats_update_rx_virtual(struct ft_connstats *s, const uint8_t *pkt, size_t len);
/* The same for n packets; faster for large tables, as it prefetches. */
void ft_connstats_update_tx_virtual_batch(struct ft_connstats *s, const uint8_t *const pkts[],
					  const size_t lens[], size_t n);
void ft_connstats_update_rx_virtual_batch(struct ft_connstats *s, const uint8_t *const pkts[],
					  const size_t lens[], size_t n);
/* Counts a packet the caller already parsed (the data plane routes on the same info). */
void ft_connstats_update_virtual_parsed(struct ft_connstats *s, const struct ft_packet_info *info,
					size_t len, bool rx);

/* Counts packets datagrams of bytes in total between peer and endpoint ep_addr:ep_port. */
void ft_connstats_update_tx_physical(struct ft_connstats *s, const struct ft_addr *peer,
				     const struct ft_addr *ep_addr, uint16_t ep_port,
				     uint64_t packets, uint64_t bytes);
void ft_connstats_update_rx_physical(struct ft_connstats *s, const struct ft_addr *peer,
				     const struct ft_addr *ep_addr, uint16_t ep_port,
				     uint64_t packets, uint64_t bytes);

/* Dumps the current window now if it is not empty (after the collect callback). */
void ft_connstats_flush(struct ft_connstats *s);

/*
 * Called with s before each dump but those of a full window (see Shards), never twice at once
 * and not after the shutdown's; it may call ft_connstats_merge() on s. NULL: none.
 */
typedef void (*ft_connstats_collect_cb)(void *arg, struct ft_connstats *s);
void ft_connstats_set_collect(struct ft_connstats *s, ft_connstats_collect_cb cb, void *arg);
/* Runs the collect callback now (the current window is about to be read: ft_connstats_peek()). */
void ft_connstats_collect(struct ft_connstats *s);

/*
 * Adds every entry of win (a window of another instance, a shard's) to dst's current window, as
 * updates of those keys would, and its overflow counts to dst's; after the shutdown the
 * virtual counts are dropped (dropped_packets). A new key may dump dst's window (full).
 */
void ft_connstats_merge(struct ft_connstats *dst, const struct ft_conn_window *win);

/*
 * A final flush; every later update is dropped and counted in dropped_packets/bytes. Stops the
 * timer. Idempotent.
 */
void ft_connstats_shutdown(struct ft_connstats *s);
bool ft_connstats_is_shutdown(const struct ft_connstats *s);

/*
 * For tests: moves the current window out without calling the dump callback and resets the
 * tables. *v and *p are malloc'd copies the caller frees (NULL when empty). 0 or -ENOMEM (the
 * tables are then left as they were).
 */
int ft_connstats_extract(struct ft_connstats *s, struct ft_conn_entry **v, size_t *nv,
			 struct ft_conn_entry **p, size_t *np);

/*
 * The current window as it stands, without copying or resetting it (for `flowtun show`): v and p
 * point into the tables and stay valid until the next update, flush, extract or close.
 * *start_ms is 0 when the window is empty.
 */
void ft_connstats_peek(const struct ft_connstats *s, const struct ft_conn_entry **v, size_t *nv,
		       const struct ft_conn_entry **p, size_t *np, uint64_t *start_ms);

void ft_connstats_get_counters(const struct ft_connstats *s, struct ft_connstats_counters *out);
/* The max_conns it was created with. */
size_t ft_connstats_max_conns(const struct ft_connstats *s);

/*
 * Shuts down (the final flush), then closes the timer; cb (may be NULL) runs from the loop once
 * the memory is freed, which waits for every held window to be released. s must not be used
 * after this call, but for ft_connstats_release() of the windows still held.
 */
void ft_connstats_close(struct ft_connstats *s, ft_connstats_close_cb cb);

#endif
