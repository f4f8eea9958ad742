// SPDX-License-Identifier: MIT
/*
 * Workers = N: the packet path on N threads (issue 15, point 4).
 *
 * The worker is lane 0: it owns everything, as with one worker (the protocol, the peers, the
 * timers, the statistics and their writers, the API, the link and route watches). Lanes 1..N-1
 * are struct ft_worker as well, each with what a packet batch needs of its own: a queue of the
 * TUN (IFF_MULTI_QUEUE: the kernel spreads the flows it sends to the device over the queues
 * by their hash), a UDP socket bound to the same port (SO_REUSEPORT; the group is steered by
 * the receiver index, tun/net/steer.h, so that each session's datagrams reach one lane, in
 * order), its buffers, its rings and a libuv loop on a thread of its own. They run only
 * worker.c's two packet callbacks.
 *
 * Sharing. The protocol (tun/wg) is single-threaded code; it is shared under one mutex,
 * ft_worker_lock, which every loop thread (the worker's and each lane's) holds while it runs
 * callbacks and lets go while it waits for events (lanes_run) and around the syscalls of a
 * packet batch (ft_worker_io_begin/end: the TUN reads and writes, recvmmsg, sendmmsg and the
 * io_uring submissions), where the time goes on this kind of host: the kernel's side of a
 * packet costs several times the protocol's. What a lane touches of the worker's (the peers'
 * counts, the protocol) it touches under the lock; what only one loop may touch it hands over:
 *   - it counts connections into a statistics shard of its own (a connstats without a loop),
 *     which the worker merges into its connstats (where the timer and the flow-log and IPFIX
 *     writers live) before each dump, so that every window covers every lane: the connstats
 *     collect callback, ft_worker_stats_collect(); a shard's first count since a merge wakes
 *     the worker only when the worker's own window is empty (no dump is due: its window and
 *     timer start with the merge), and a full shard, which hands its window over, wakes it;
 *   - its counters are added to the worker's at the end of each of its batches, so that
 *     `flowtun show`, get=flowtun and /metrics read one set that covers every lane;
 *   - the protocol timer's new deadline and a refused UDP_SEGMENT run set wake_flags, and an
 *     async handle wakes the worker's loop to act on them.
 * A lane holds pointers to peers (its send batch, its dirty list) across its unlocked
 * syscalls; whoever frees a peer (or the buffers) first quiesces the lanes: it waits, lock
 * released, until none is inside a batch, and none starts one until it resumes.
 *
 * Lifetime. ft_worker_create() opens the lanes (queues and sockets need the privileges that
 * are dropped later); ft_worker_start() starts their threads once the privileges are dropped
 * (so that they inherit the drop and the seccomp filter); ft_worker_close() stops and joins
 * them first, takes what they handed over, and then closes the worker as before.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tun/log.h"
#include "tun/net/offload.h"
#include "tun/net/steer.h"
#include "tun/net/tundev.h"
#include "tun/wg/aead.h"
#include "tun/worker/internal.h"

pthread_mutex_t ft_worker_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t quiet_cond = PTHREAD_COND_INITIALIZER;
__thread struct ft_worker *ft_worker_tls_lane;

struct lane_ctl {
	uv_loop_t loop;
	uv_async_t wake; /* stop */
	pthread_t thread;
	bool loop_ready, wake_ready, started;
	bool stop;
};

/* ---- the lock, quiesce, what lanes hand over ---------------------------------------------- */

void ft_worker_lane_begin(struct ft_worker *w)
{
	struct ft_worker *p = w->primary;

	if (!p)
		return;
	while (p->quiescing)
		pthread_cond_wait(&quiet_cond, &ft_worker_lock);
	w->in_batch = true;
}

static bool window_open(const struct ft_connstats *s)
{
	const struct ft_conn_entry *v, *p;
	uint64_t start_ms;
	size_t nv, np;

	ft_connstats_peek(s, &v, &nv, &p, &np, &start_ms);
	return start_ms != 0;
}

void ft_worker_lane_end(struct ft_worker *w)
{
	struct ft_worker *p = w->primary;
	uint64_t *dst, *src = (uint64_t *)&w->counters;

	if (!p)
		return;
	/* What it took in: its counters start at 0 each batch (the worker's: ft_worker_handled). */
	w->handled += w->counters.tun_rx_packets + w->counters.udp_rx_datagrams;
	dst = (uint64_t *)&p->counters;
	_Static_assert(sizeof(w->counters) % sizeof(uint64_t) == 0, "counters are uint64_t");
	for (size_t i = 0; i < sizeof(w->counters) / sizeof(uint64_t); i++)
		dst[i] += src[i];
	memset(&w->counters, 0, sizeof(w->counters));
	w->in_batch = false;
	if (p->quiescing)
		pthread_cond_broadcast(&quiet_cond);
	/*
	 * The shard counts: the worker's next dump merges it. With the worker's own window empty
	 * there is none due (its timer starts with its window, also after a full dump): merge
	 * now. Once per window, then; the flag and the async handle coalesce.
	 */
	if (w->stats && window_open(w->stats) && !window_open(p->stats))
		p->wake_flags |= FT_LANES_WAKE_STATS;
	if (p->wake_flags && p->lanes_wake_ready)
		uv_async_send(&p->lanes_wake);
}

void ft_worker_quiesce(struct ft_worker *w)
{
	bool busy;

	if (!w->threaded)
		return;
	w->quiescing++;
	do {
		busy = false;
		for (unsigned int k = 1; k < w->n_workers; k++)
			busy |= w->lanes[k] && w->lanes[k]->in_batch;
		if (busy)
			pthread_cond_wait(&quiet_cond, &ft_worker_lock);
	} while (busy);
}

void ft_worker_resume(struct ft_worker *w)
{
	if (!w->threaded)
		return;
	if (--w->quiescing == 0)
		pthread_cond_broadcast(&quiet_cond);
}

/*
 * A lane's shard dumps: on the worker's thread (a merge, below) into the worker's window at
 * once; on the lane's (the shard was full) the window waits, held, for the next merge.
 */
static void on_shard_dump(void *arg, const struct ft_conn_window *win)
{
	struct ft_worker *l = arg, *p = l->primary;

	if (l->shard_merging) {
		ft_connstats_merge(p->stats, win);
		return;
	}
	/* The shard has FT_WORKER_SHARD_WINDOWS: one fills, the rest can be held. */
	ft_connstats_hold(l->stats, win);
	l->shard_held[l->n_shard_held++] = win;
	p->wake_flags |= FT_LANES_WAKE_STATS;
}

void ft_worker_stats_collect(void *arg, struct ft_connstats *s)
{
	struct ft_worker *w = arg;

	/* Under the lock: a lane counts into its shard only while it holds it too. */
	for (unsigned int k = 1; w->lanes && k < w->n_workers; k++) {
		struct ft_worker *l = w->lanes[k];

		if (!l || !l->stats)
			continue;
		l->shard_merging = true;
		for (unsigned int i = 0; i < l->n_shard_held; i++) {
			ft_connstats_merge(s, l->shard_held[i]);
			ft_connstats_release(l->stats, l->shard_held[i]);
		}
		l->n_shard_held = 0;
		ft_connstats_flush(l->stats);
		l->shard_merging = false;
	}
}

static void on_lanes_wake(uv_async_t *a)
{
	struct ft_worker *w = a->data;
	unsigned int flags = w->wake_flags;

	w->wake_flags = 0;
	if (flags & FT_LANES_WAKE_STATS && w->stats)
		ft_connstats_collect(w->stats);
	if (flags & FT_LANES_WAKE_TIMER)
		ft_worker_arm_proto_timer(w);
	if (flags & FT_LANES_WAKE_MTU)
		ft_worker_mtu_schedule(w);
}

/* ---- following the worker ----------------------------------------------------------------- */

void ft_worker_lanes_set_mtu(struct ft_worker *w)
{
	if (!w->lanes)
		return;
	ft_worker_quiesce(w);
	for (unsigned int k = 1; k < w->n_workers; k++) {
		struct ft_worker *l = w->lanes[k];

		if (!l)
			continue;
		l->mtu = w->mtu;
		if (w->mtu_cap > l->mtu_cap && ft_worker_buffers_grow(l, w->mtu_cap) < 0)
			l->mtu = l->mtu_cap < w->mtu ? l->mtu_cap : w->mtu;
		for (unsigned int i = 0; i < FT_WORKER_TUN_SLOTS; i++)
			l->tun_iov[i].iov_len = l->mtu + 1;
	}
	ft_worker_resume(w);
}

void ft_worker_lanes_set_fwmark(struct ft_worker *w)
{
	for (unsigned int k = 1; w->lanes && k < w->n_workers; k++) {
		if (!w->lanes[k])
			continue;
		w->lanes[k]->fwmark = w->fwmark;
		ft_worker_set_fwmark(&w->lanes[k]->udp, w->fwmark);
	}
}

int ft_worker_lanes_grow_dirty(struct ft_worker *w)
{
	for (unsigned int k = 1; w->lanes && k < w->n_workers; k++) {
		struct ft_worker *l = w->lanes[k];
		struct wpeer **d;

		if (!l)
			continue;
		/* A lane's pending entries (across its unlocked syscalls) move along. */
		d = realloc(l->dirty, (w->cap_peers ? w->cap_peers : 1) * sizeof(*d));
		if (!d)
			return -ENOMEM;
		l->dirty = d;
	}
	return 0;
}

/* ---- a lane --------------------------------------------------------------------------------- */

static void lane_free(struct ft_worker *l)
{
	if (l->lane && l->lane->loop_ready && uv_loop_close(&l->lane->loop) != 0)
		ft_log_warnx("%s: lane %u: its loop still had handles", l->ifname, l->lane_id);
	ft_tunring_destroy(l->ring);
	if (l->tun_fd >= 0)
		close(l->tun_fd);
	ft_udp_close(&l->udp);
	ft_udp_close(&l->next_udp);
	free(l->tun_block);
	free(l->tun_read_buf);
	free(l->gro_arena);
	ft_udp_batch_destroy(l->rx);
	ft_udp_batch_destroy(l->tx);
	free(l->dirty);
	/* Merged by now (ft_worker_lanes_stop); what a failed flush left goes in too. */
	if (l->stats) {
		l->shard_merging = true;
		ft_connstats_close(l->stats, NULL);
	}
	free(l->lane);
	free(l);
}

static void on_lane_udp_closed(uv_handle_t *h)
{
	free(h->data);
}

/* On the lane's loop: its handles closed, the loop run until they are. */
static void lane_close_handles(struct ft_worker *l)
{
	struct lane_ctl *c = l->lane;

	if (!c->loop_ready)
		return;
	if (l->handles_ready) {
		uv_poll_stop(&l->tun_poll);
		uv_close((uv_handle_t *)&l->tun_poll, NULL);
		l->handles_ready = false;
	}
	if (l->udp_handle) {
		uv_poll_stop(&l->udp_handle->poll);
		uv_close((uv_handle_t *)&l->udp_handle->poll, on_lane_udp_closed);
		l->udp_handle = NULL;
	}
	if (c->wake_ready) {
		uv_close((uv_handle_t *)&c->wake, NULL);
		c->wake_ready = false;
	}
	while (uv_run(&c->loop, UV_RUN_NOWAIT) != 0)
		;
}

/* The stop flag is read by lane_main after each round; a new socket is taken here. */
static void on_lane_wake(uv_async_t *a)
{
	struct ft_worker *l = a->data;
	struct ft_udp u = l->next_udp;
	int rc;

	if (u.fd < 0)
		return;
	l->next_udp.fd = -1;
	if ((rc = ft_worker_rebind(l, &u)) < 0)
		ft_log_warnx("%s: worker %u: listen port %u: %s", l->ifname, l->lane_id, u.port,
			     strerror(-rc));
}

int ft_worker_lanes_prepare_port(struct ft_worker *w, const struct ft_udp *fresh)
{
	int rc;

	if (!w->lanes)
		return 0;
	if ((rc = ft_steer_attach(fresh->fd, w->n_workers)) < 0)
		return rc;
	for (unsigned int k = 1; k < w->n_workers; k++) {
		struct ft_worker *l = w->lanes[k];

		rc = ft_udp_open(&l->next_udp, NULL, fresh->port, FT_UDP_REUSEPORT);
		if (rc < 0) {
			for (unsigned int j = 1; j <= k; j++)
				ft_udp_close(&w->lanes[j]->next_udp);
			return rc;
		}
	}
	return 0;
}

void ft_worker_lanes_rebind(struct ft_worker *w)
{
	for (unsigned int k = 1; w->lanes && k < w->n_workers; k++) {
		struct ft_worker *l = w->lanes[k];

		if (l->next_udp.fd < 0)
			continue;
		if (l->lane->started)
			uv_async_send(&l->lane->wake);
		else
			on_lane_wake(&l->lane->wake);
	}
}

/*
 * A loop that holds ft_worker_lock while it runs callbacks: the lock goes only while it waits
 * for events (and inside a batch around its syscalls). stop: checked after each round.
 */
static void lanes_run(uv_loop_t *loop, const bool *stop)
{
	while (uv_run(loop, UV_RUN_NOWAIT) != 0 && !(stop && *stop)) {
		struct pollfd p = { .fd = uv_backend_fd(loop), .events = POLLIN };
		int timeout = uv_backend_timeout(loop);

		pthread_mutex_unlock(&ft_worker_lock);
		if (poll(&p, 1, timeout) < 0 && errno != EINTR)
			ft_log_warn("poll");
		pthread_mutex_lock(&ft_worker_lock);
	}
}

static void *lane_main(void *arg)
{
	struct ft_worker *l = arg;

	ft_worker_tls_lane = l;
	pthread_mutex_lock(&ft_worker_lock);
	lanes_run(&l->lane->loop, &l->lane->stop);
	lane_close_handles(l);
	pthread_mutex_unlock(&ft_worker_lock);
	ft_aead_thread_cleanup();
	return NULL;
}

/* Lane k: its TUN queue, socket, buffers, ring and loop; no thread yet. */
static int lane_open(struct ft_worker *w, unsigned int k, char *err, size_t errlen)
{
	struct ft_worker *l = calloc(1, sizeof(*l));
	char name[IFNAMSIZ];
	int rc;

	if (!l || !(l->lane = calloc(1, sizeof(*l->lane)))) {
		free(l);
		return -ENOMEM;
	}
	w->lanes[k] = l;
	l->primary = w;
	l->lane_id = k;
	l->n_workers = w->n_workers;
	l->tun_fd = -1;
	l->udp.fd = l->next_udp.fd = -1;
	l->loop = &l->lane->loop;
	memcpy(l->ifname, w->ifname, sizeof(l->ifname));
	l->ifindex = w->ifindex;
	l->mtu = w->mtu;
	l->mtu_source = w->mtu_source;
	l->vnet = w->vnet;
	l->udp_offload = w->udp_offload;
	l->udp_coalesce = w->udp_coalesce;
	l->offloads = w->offloads;
	l->batch = w->batch;
	l->proto = w->proto;
	l->fwmark = w->fwmark;
	if (w->stats) {
		size_t max = ft_connstats_max_conns(w->stats);

		l->stats = ft_connstats_create(
			NULL, 0, max < FT_WORKER_SHARD_CONNS ? max : FT_WORKER_SHARD_CONNS,
			on_shard_dump, l);
		if (!l->stats || ft_connstats_set_max_windows(l->stats, FT_WORKER_SHARD_WINDOWS))
			return -ENOMEM;
	}

	rc = ft_tundev_open(w->ifname, FT_TUNDEV_MULTI_QUEUE | (w->vnet ? FT_TUNDEV_VNET_HDR : 0),
			    name);
	if (rc < 0) {
		snprintf(err, errlen, "Workers: queue %u of %s: %s", k, w->ifname, strerror(-rc));
		return rc;
	}
	l->tun_fd = rc;
	l->rx = ft_udp_batch_create(l->batch, FT_WORKER_RX_BUF);
	if (!l->rx || ft_worker_buffers_grow(l, w->mtu_cap) < 0)
		return -ENOMEM;
	if (l->vnet && !(l->tun_read_buf = malloc(FT_OFFLOAD_VNET_HDR_LEN + FT_OFFLOAD_MAX_LEN)))
		return -ENOMEM;
	if (!(l->dirty = malloc((w->cap_peers ? w->cap_peers : 1) * sizeof(*l->dirty))))
		return -ENOMEM;
	if (w->ring) {
		rc = ft_tunring_create(l->tun_fd, FT_WORKER_RING_READS,
				       FT_OFFLOAD_VNET_HDR_LEN + FT_OFFLOAD_MAX_LEN,
				       FT_WORKER_BATCH, &l->ring);
		if (rc < 0) {
			l->ring = NULL;
			snprintf(err, errlen, "Workers: io_uring of queue %u: %s", k,
				 strerror(-rc));
			return rc;
		}
	}
	rc = ft_udp_open(&l->udp, NULL, w->udp.port, FT_UDP_REUSEPORT);
	if (rc < 0) {
		snprintf(err, errlen, "Workers: socket %u on UDP port %u: %s", k, w->udp.port,
			 strerror(-rc));
		return rc;
	}
	if (l->vnet)
		ft_udp_set_offloads(&l->udp, l->udp_offload, l->udp_offload);
	if (l->fwmark && (rc = ft_worker_set_fwmark(&l->udp, l->fwmark)) < 0) {
		snprintf(err, errlen, "FwMark %u: %s", l->fwmark, strerror(-rc));
		return rc;
	}

	if ((rc = uv_loop_init(&l->lane->loop)) < 0)
		return rc;
	l->lane->loop_ready = true;
	if ((rc = uv_async_init(&l->lane->loop, &l->lane->wake, on_lane_wake)) < 0)
		return rc;
	l->lane->wake.data = l;
	l->lane->wake_ready = true;
	uv_poll_init(l->loop, &l->tun_poll, l->ring ? ft_tunring_fd(l->ring) : l->tun_fd);
	l->tun_poll.data = l;
	l->handles_ready = true;
	if ((rc = ft_worker_udp_poll_start(l)) < 0)
		return rc;
	return uv_poll_start(&l->tun_poll, UV_READABLE, ft_worker_on_tun);
}

int ft_worker_lanes_create(struct ft_worker *w, char *err, size_t errlen)
{
	int rc;

	if (w->n_workers <= 1)
		return 0;
	if (w->tun_standin) {
		snprintf(err, errlen, "Workers = %u needs a TUN device (queues), not a stand-in",
			 w->n_workers);
		return -EINVAL;
	}
	rc = uv_async_init(w->loop, &w->lanes_wake, on_lanes_wake);
	if (rc < 0)
		return rc;
	w->lanes_wake.data = w;
	w->lanes_wake_ready = true;
	/* Datagrams by receiver index: each session on one lane (the worker is socket 0). */
	rc = ft_steer_attach(w->udp.fd, w->n_workers);
	if (rc < 0) {
		snprintf(err, errlen, "Workers: steering the UDP sockets: %s", strerror(-rc));
		return rc;
	}
	if (!(w->lanes = calloc(w->n_workers, sizeof(*w->lanes))))
		return -ENOMEM;
	for (unsigned int k = 1; k < w->n_workers; k++) {
		rc = lane_open(w, k, err, errlen);
		if (rc < 0) {
			if (!err[0])
				snprintf(err, errlen, "Workers: lane %u: %s", k, strerror(-rc));
			return rc;
		}
	}
	return 0;
}

int ft_worker_start(struct ft_worker *w)
{
	char name[16];
	int rc;

	if (!w->lanes || w->threaded)
		return 0;
	pthread_mutex_lock(&ft_worker_lock);
	w->threaded = true;
	for (unsigned int k = 1; k < w->n_workers; k++) {
		struct ft_worker *l = w->lanes[k];

		l->threaded = true;
		rc = pthread_create(&l->lane->thread, NULL, lane_main, l);
		if (rc != 0) {
			l->threaded = false;
			ft_log_warnx("%s: lane %u: %s", w->ifname, k, strerror(rc));
			return -rc;
		}
		l->lane->started = true;
		/* "flowtun-w1": what top -H and /proc/PID/task/TID/comm show (set from here: the
		 * seccomp list allows no prctl(PR_SET_NAME), but the write to comm). */
		snprintf(name, sizeof(name), "flowtun-w%u", k % 100u);
		pthread_setname_np(l->lane->thread, name);
	}
	ft_log_info("%s: %u workers", w->ifname, w->n_workers);
	return 0;
}

void ft_worker_lanes_stop(struct ft_worker *w)
{
	if (!w->lanes)
		return;
	for (unsigned int k = 1; k < w->n_workers; k++) {
		struct ft_worker *l = w->lanes[k];

		if (l && l->lane->started) {
			l->lane->stop = true;
			uv_async_send(&l->lane->wake);
		}
	}
	ft_worker_io_begin(w);
	for (unsigned int k = 1; k < w->n_workers; k++)
		if (w->lanes[k] && w->lanes[k]->lane->started)
			pthread_join(w->lanes[k]->lane->thread, NULL);
	ft_worker_io_end(w);
	for (unsigned int k = 1; k < w->n_workers; k++) {
		struct ft_worker *l = w->lanes[k];

		if (!l)
			continue;
		/* Counts of a lane whose batch was cut short cannot be: batches end under the lock. */
		if (!l->lane->started)
			lane_close_handles(l);
	}
	/* Every lane's counts into the worker's window, before its final dump. */
	if (w->stats)
		ft_connstats_collect(w->stats);
	for (unsigned int k = 1; k < w->n_workers; k++)
		if (w->lanes[k])
			lane_free(w->lanes[k]);
	free(w->lanes);
	w->lanes = NULL;
}

void ft_worker_run(uv_loop_t *loop, bool threaded)
{
	if (!threaded) {
		uv_run(loop, UV_RUN_DEFAULT);
		return;
	}
	/* ft_worker_start() took the lock for this thread. */
	lanes_run(loop, NULL);
	pthread_mutex_unlock(&ft_worker_lock);
}

void ft_worker_loop_fork(struct ft_worker *w)
{
	for (unsigned int k = 1; w->lanes && k < w->n_workers; k++)
		if (w->lanes[k] && w->lanes[k]->lane->loop_ready)
			uv_loop_fork(&w->lanes[k]->lane->loop);
}

uint64_t ft_worker_handled(const struct ft_worker *w, unsigned int k)
{
	uint64_t lanes = 0;

	if (k > 0)
		return w->lanes && k < w->n_workers && w->lanes[k] ? w->lanes[k]->handled : 0;
	/*
	 * The worker's own: its counters hold every lane's too (merged at each batch's end,
	 * also while the worker's own batch waits in a syscall), so it is the total less theirs.
	 */
	for (unsigned int j = 1; w->lanes && j < w->n_workers; j++)
		lanes += w->lanes[j] ? w->lanes[j]->handled : 0;
	return w->counters.tun_rx_packets + w->counters.udp_rx_datagrams - lanes;
}

unsigned int ft_worker_workers(const struct ft_worker *w)
{
	return w->n_workers ? w->n_workers : 1;
}
