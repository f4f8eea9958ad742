// SPDX-License-Identifier: MIT
/*
 * The worker's set-up and tear-down: the TUN device with its offloads, addresses and MTU, the
 * UDP socket (and its replacement for a new listen port), the buffers, the userspace API
 * socket; and the close that flushes the statistics last and frees everything once every
 * handle has closed.
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "tun/log.h"
#include "tun/net/mtu.h"
#include "tun/net/offload.h"
#include "tun/net/steer.h"
#include "tun/net/tundev.h"
#include "tun/worker/internal.h"

/* ---- the userspace API socket ------------------------------------------------------------ */

static void on_uapi_gone(void *arg)
{
	ft_worker_report_gone(arg, "the userspace API socket was removed");
}

static int uapi_start(struct ft_worker *w, const struct ft_worker_options *opts, char *err,
		      size_t errlen)
{
	char path[108];
	int rc;

	if (opts->no_uapi)
		return 0;
	if (opts->uapi_path)
		snprintf(path, sizeof(path), "%s", opts->uapi_path);
	else if ((rc = ft_uapi_socket_path(path, sizeof(path), w->ifname)) < 0)
		return rc;
	rc = ft_uapi_server_create(&w->uapi, w->loop, path, &ft_worker_uapi_ops, w);
	if (rc < 0) {
		snprintf(err, errlen, "the userspace API socket %s: %s%s", path, strerror(-rc),
			 rc == -EADDRINUSE ? " (another instance serves this interface)" : "");
		return rc;
	}
	ft_uapi_server_watch(w->uapi, 1000, on_uapi_gone, w);
	return 0;
}

/* ---- the UDP socket ---------------------------------------------------------------------- */

static void on_udp_handle_closed(uv_handle_t *h)
{
	free(h->data);
}

int ft_worker_set_fwmark(struct ft_udp *u, uint32_t mark)
{
	if (setsockopt(u->fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) < 0)
		return -errno;
	return 0;
}

int ft_worker_udp_poll_start(struct ft_worker *w)
{
	struct udp_handle *uh = calloc(1, sizeof(*uh));
	int rc;

	if (!uh)
		return -ENOMEM;
	uh->w = w;
	rc = uv_poll_init(w->loop, &uh->poll, w->udp.fd);
	if (rc < 0) {
		free(uh);
		return rc;
	}
	uh->poll.data = uh;
	w->udp_handle = uh;
	return uv_poll_start(&uh->poll, UV_READABLE, ft_worker_on_udp);
}

/* Replaces the socket (a new listen port): the new one is open and bound already. */
int ft_worker_rebind(struct ft_worker *w, struct ft_udp *fresh)
{
	struct ft_udp old = w->udp;

	ft_worker_flush_all(w);
	if (w->fwmark)
		ft_worker_set_fwmark(fresh, w->fwmark);
	if (w->udp_handle) {
		uv_poll_stop(&w->udp_handle->poll);
		uv_close((uv_handle_t *)&w->udp_handle->poll, on_udp_handle_closed);
		w->udp_handle = NULL;
	}
	w->udp = *fresh;
	ft_udp_close(&old);
	if (w->vnet)
		ft_udp_set_offloads(&w->udp, w->udp_offload, w->udp_offload);
	return ft_worker_udp_poll_start(w);
}

/* ---- set-up and tear-down --------------------------------------------------------------- */

/*
 * Offloads: the kernel hands us TCP (and, since 6.2, UDP) super-packets and takes
 * coalesced ones, when it accepts them; otherwise the vnet header stays and carries nothing.
 */
static void setup_offloads(struct ft_worker *w)
{
	unsigned int accepted = 0, want;
	int rc = ft_tundev_probe_offloads(w->tun_fd, &accepted);

	want = FT_TUN_F_CSUM | FT_TUN_F_TSO4 | FT_TUN_F_TSO6;
	if ((accepted & (FT_TUN_F_USO4 | FT_TUN_F_USO6)) == (FT_TUN_F_USO4 | FT_TUN_F_USO6))
		want |= FT_TUN_F_USO4 | FT_TUN_F_USO6;
	if (rc == 0 && (accepted & want) == want && ft_tundev_set_offloads(w->tun_fd, want) == 0)
		w->offloads = want;
	/*
	 * UDP coalescing writes USO super-packets: a kernel that hands them out (USO4/6) takes
	 * them too, since Linux 6.2 did both; the probe asks it, before the device is up.
	 */
	if (w->udp_coalesce && (w->offloads & FT_TUN_F_USO4)) {
		rc = ft_tundev_probe_uso_write(w->tun_fd);
		if (rc < 0)
			ft_log(FT_LOG_WARNING, "%s: probing USO writes: %s; no UDP coalescing",
			       w->ifname, strerror(-rc));
		w->udp_coalesce = rc == 1;
	} else {
		w->udp_coalesce = false;
	}
	ft_log_info("%s: offloads%s%s%s%s%s", w->ifname, w->offloads ? "" : " none",
		    w->offloads & FT_TUN_F_CSUM ? " csum" : "",
		    w->offloads & FT_TUN_F_TSO4 ? " tso4 tso6" : "",
		    w->offloads & FT_TUN_F_USO4 ? " uso4 uso6" : "",
		    w->udp_coalesce ? ", UDP coalescing" : "");
}

static int setup_socket(struct ft_worker *w, const struct ft_config *cfg, char *err, size_t errlen);

/*
 * TunIO: the rings on the TUN (tun/net/tunring.h), once its offloads are known. auto takes
 * io_uring when the kernel gives it (not for a stand-in: its tests ask for it by name);
 * io_uring asked for by name and not given is an error that says why.
 */
static int setup_tun_io(struct ft_worker *w, const struct ft_config *cfg,
			const struct ft_worker_options *opts, char *err, size_t errlen)
{
	enum ft_tun_io io = opts->tun_io != FT_TUN_IO_AUTO ? opts->tun_io : cfg->tun_io;
	int rc;

	if (io == FT_TUN_IO_SYSCALLS || (io == FT_TUN_IO_AUTO && w->tun_standin))
		return 0;
	rc = ft_tunring_create(w->tun_fd, FT_WORKER_RING_READS,
			       FT_OFFLOAD_VNET_HDR_LEN + FT_OFFLOAD_MAX_LEN, FT_WORKER_BATCH,
			       &w->ring);
	if (rc == 0)
		return 0;
	w->ring = NULL;
	if (io == FT_TUN_IO_URING) {
		snprintf(err, errlen, "TunIO io_uring: %s",
			 !ft_tunring_built() ? "this flowtun was built without liburing"
			 : rc == -EPERM	     ? "not permitted (kernel.io_uring_disabled, or a "
					       "seccomp filter around flowtun)"
					     : strerror(-rc));
		return rc;
	}
	if (ft_tunring_built())
		ft_log(FT_LOG_NOTICE, "%s: io_uring not available (%s): TUN I/O by read and write",
		       w->ifname, strerror(-rc));
	return 0;
}

/*
 * The TUN device (offloads, MTU, up, addresses) and the UDP socket. With a stand-in for the
 * device (ft_worker_options.tun_standin) only the rtnetlink handle and the socket: the path
 * state and MTU queries about the underlay need no privilege.
 */
static int setup_device(struct ft_worker *w, const struct ft_config *cfg, char *err, size_t errlen)
{
	int rc;

	rc = ft_netconf_create(&w->rtnl);
	if (rc < 0) {
		snprintf(err, errlen, "rtnetlink: %s", strerror(-rc));
		return rc;
	}
	if (w->tun_standin)
		return setup_socket(w, cfg, err, errlen);
	/* Workers > 1: one queue per worker (lanes.c opens the others). */
	rc = ft_tundev_open(w->ifname,
			    (w->vnet ? FT_TUNDEV_VNET_HDR : 0) |
				    (w->n_workers > 1 ? FT_TUNDEV_MULTI_QUEUE : 0),
			    w->ifname);
	if (rc < 0) {
		snprintf(err, errlen, "cannot create the TUN device '%s': %s%s", w->ifname,
			 strerror(-rc), rc == -EPERM ? " (needs root or CAP_NET_ADMIN)" : "");
		return rc;
	}
	w->tun_fd = rc;
	if (w->vnet)
		setup_offloads(w);
	w->ifindex = ft_netconf_ifindex(w->rtnl, w->ifname);
	if (w->ifindex < 0) {
		snprintf(err, errlen, "%s: %s", w->ifname, strerror(-w->ifindex));
		return w->ifindex;
	}
	/* When it follows the underlay, the MTU is a start: ft_worker_mtu_start() computes it. */
	rc = ft_netconf_link_set_mtu(w->rtnl, w->ifindex, w->mtu);
	if (rc < 0) {
		snprintf(err, errlen, "MTU %u on %s: %s", w->mtu, w->ifname, strerror(-rc));
		return rc;
	}
	w->mtu_dev = w->mtu;
	rc = ft_netconf_link_set_up(w->rtnl, w->ifindex, true);
	if (rc < 0) {
		snprintf(err, errlen, "cannot set %s up: %s", w->ifname, strerror(-rc));
		return rc;
	}
	w->n_addrs = cfg->n_addresses;
	w->addrs = calloc(w->n_addrs ? w->n_addrs : 1, sizeof(*w->addrs));
	w->addr_added = calloc(w->n_addrs ? w->n_addrs : 1, sizeof(bool));
	if (!w->addrs || !w->addr_added)
		return -ENOMEM;
	for (size_t i = 0; i < w->n_addrs; i++) {
		char text[FT_ADDR_STRLEN];
		struct ft_addr a;

		ft_worker_prefix_from_config(&cfg->addresses[i], &w->addrs[i]);
		rc = ft_netconf_addr_add(w->rtnl, w->ifindex, &w->addrs[i]);
		if (rc < 0 && rc != -EEXIST) {
			memset(&a, 0, sizeof(a));
			a.family = (uint8_t)w->addrs[i].family;
			memcpy(a.bytes, w->addrs[i].addr.bytes, a.family == AF_INET ? 4 : 16);
			ft_addr_format(&a, text, sizeof(text));
			snprintf(err, errlen, "cannot add the address %s/%u to %s: %s", text,
				 w->addrs[i].len, w->ifname, strerror(-rc));
			return rc;
		}
		w->addr_added[i] = rc == 0;
	}
	return setup_socket(w, cfg, err, errlen);
}

/* The underlay's UDP socket, with or without a device. */
static int setup_socket(struct ft_worker *w, const struct ft_config *cfg, char *err, size_t errlen)
{
	int rc;

	/* Workers > 1: the first socket of the port's group, one per worker (lanes.c). */
	rc = ft_udp_open(&w->udp, NULL, cfg->listen_port, w->n_workers > 1 ? FT_UDP_REUSEPORT : 0);
	if (rc < 0) {
		snprintf(err, errlen, "cannot open the UDP socket on port %u: %s", cfg->listen_port,
			 strerror(-rc));
		return rc;
	}
	if (w->vnet)
		ft_udp_set_offloads(&w->udp, w->udp_offload, w->udp_offload);
	w->fwmark = cfg->fwmark;
	if (w->fwmark && (rc = ft_worker_set_fwmark(&w->udp, w->fwmark)) < 0) {
		snprintf(err, errlen, "FwMark %u: %s", w->fwmark, strerror(-rc));
		return rc;
	}
	return 0;
}

int ft_worker_buffers_grow(struct ft_worker *w, uint32_t mtu)
{
	/* Round up to a cache line so that slots do not share one. */
	size_t slot = (FT_PROTO_HEADROOM + (size_t)mtu + FT_PROTO_TAILROOM + 63) & ~(size_t)63;
	size_t arena_len = FT_WORKER_BATCH * (slot + FT_OFFLOAD_VNET_HDR_LEN);
	uint8_t *block = malloc(slot * FT_WORKER_TUN_SLOTS), *arena = NULL;
	struct ft_udp_batch *tx = ft_udp_batch_create(FT_WORKER_TX_SLOTS, slot);

	if (w->vnet)
		arena = malloc(arena_len);
	if (!block || !tx || (w->vnet && !arena)) {
		free(block);
		free(arena);
		ft_udp_batch_destroy(tx);
		return -ENOMEM;
	}
	/* Between batches nothing points into the old buffers: the send batch is flushed, the
	 * coalesced packets written, and the peer queues hold copies. */
	assert(w->tx_count == 0 && w->n_gro == 0);
	free(w->tun_block);
	ft_udp_batch_destroy(w->tx);
	free(w->gro_arena);
	w->tun_block = block;
	w->tx = tx;
	w->gro_arena = arena;
	w->gro_arena_len = arena ? arena_len : 0;
	w->slot_size = slot;
	w->mtu_cap = mtu;
	for (unsigned int i = 0; i < FT_WORKER_TUN_SLOTS; i++) {
		w->tun_slot[i] = w->tun_block + i * w->slot_size;
		/* One byte past the MTU tells an oversized packet from one that fits. */
		w->tun_iov[i].iov_base = w->tun_slot[i] + FT_PROTO_HEADROOM;
		w->tun_iov[i].iov_len = w->mtu + 1;
	}
	for (unsigned int i = 0; i < FT_WORKER_TX_SLOTS; i++)
		w->tx_own[i] = w->tx->slots[i].iov.iov_base;
	return 0;
}

static int setup_buffers(struct ft_worker *w)
{
	/*
	 * Sized for the MTU, or when it follows the underlay for what every Ethernet underlay
	 * allows (1500 less IPv4's overhead), so that it rarely grows.
	 */
	uint32_t cap = w->mtu;

	if (w->mtu_source == FT_MTU_UNDERLAY && cap < 1500 - FT_MTU_OVERHEAD_V4)
		cap = 1500 - FT_MTU_OVERHEAD_V4;
	w->rx = ft_udp_batch_create(w->batch, FT_WORKER_RX_BUF);
	if (!w->rx || ft_worker_buffers_grow(w, cap) < 0)
		return -ENOMEM;
	if (w->vnet) {
		w->tun_read_buf = malloc(FT_OFFLOAD_VNET_HDR_LEN + FT_OFFLOAD_MAX_LEN);
		if (!w->tun_read_buf)
			return -ENOMEM;
	}
	return 0;
}

void ft_worker_set_node_id(struct ft_worker *w)
{
	uint8_t pub[FT_KEY_LEN];

	/* The node is its public key, as peers know it; "-" until it has one. */
	if (ft_proto_public_key(w->proto, pub))
		ft_key_to_base64(w->node_id, pub);
	else
		snprintf(w->node_id, sizeof(w->node_id), "-");
}

static void worker_free(struct ft_worker *w)
{
	for (size_t i = 0; i < w->n_peers; i++)
		ft_worker_peer_free(w->peers[i]);
	free(w->peers);
	free(w->dirty);
	free(w->addrs);
	free(w->addr_added);
	ft_proto_destroy(w->proto);
	sodium_free(w->private_key);
	/* First: the rings hold the TUN open (its registered file) and reads into their buffers. */
	ft_tunring_destroy(w->ring);
	if (w->tun_fd >= 0)
		close(w->tun_fd);
	ft_udp_close(&w->udp);
	if (w->rtnl)
		ft_netconf_destroy(w->rtnl);
	free(w->flow_dest);
	for (size_t i = 0; i < w->n_ipfix; i++)
		free(w->ipfix_names[i]);
	free(w->config_path);
	free(w->tun_block);
	free(w->tun_read_buf);
	free(w->gro_arena);
	ft_udp_batch_destroy(w->rx);
	ft_udp_batch_destroy(w->tx);
	ft_netconf_watch_close(w->mtu_watch);
	free(w);
}

/*
 * Routes and addresses this worker added; closing the TUN would take them too, but a
 * persistent device would keep them.
 */
static void remove_config(struct ft_worker *w)
{
	for (size_t i = 0; i < w->n_peers; i++)
		ft_worker_peer_remove_routes(w, w->peers[i]);
	for (size_t i = 0; i < w->n_addrs && w->ifindex > 0; i++)
		if (w->addr_added[i])
			ft_netconf_addr_del(w->rtnl, w->ifindex, &w->addrs[i]);
}

static void release(struct ft_worker *w);

int ft_worker_create(struct ft_worker **out, uv_loop_t *loop, const struct ft_config *cfg,
		     const struct ft_worker_options *opts, char *err, size_t errlen)
{
	struct ft_proto_config pcfg = {
		.send = ft_worker_proto_send_cb,
		.ticked = ft_worker_proto_ticked_cb,
	};
	struct ft_worker *w;
	int rc = -ENOMEM;

	err[0] = '\0';
	if (!opts->ifname || !opts->ifname[0] || strlen(opts->ifname) >= IFNAMSIZ) {
		snprintf(err, errlen, "bad interface name '%s'", opts->ifname ? opts->ifname : "");
		return -EINVAL;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->loop = loop;
	w->tun_fd = -1;
	w->udp.fd = -1;
	w->mtu_config = cfg->mtu;
	w->mtu_source = cfg->mtu	      ? FT_MTU_CONFIG
			: opts->mtu_by_caller ? FT_MTU_EXTERNAL
					      : FT_MTU_UNDERLAY;
	w->mtu = cfg->mtu ? cfg->mtu : FT_CONFIG_DEFAULT_MTU;
	w->link_reaction = !opts->no_link_reaction;
	w->manage_routes = !opts->no_routes;
	w->vnet = cfg->offload && !opts->no_offload;
	w->udp_offload = w->vnet && !opts->no_udp_offload;
	/* If the TUN takes it: probed in setup_offloads(). */
	w->udp_coalesce = w->vnet && cfg->udp_coalesce && !opts->no_udp_coalesce;
	if (opts->tun_standin) {
		if (opts->tun_fd < 0 || !cfg->mtu) {
			snprintf(err, errlen, "a TUN stand-in needs its descriptor and an MTU");
			if (opts->tun_fd >= 0)
				close(opts->tun_fd);
			free(w);
			return -EINVAL;
		}
		w->tun_standin = true;
		w->tun_fd = opts->tun_fd;
		w->vnet = w->udp_offload = w->udp_coalesce = false;
		w->manage_routes = false;
	}
	w->batch = opts->batch && opts->batch < FT_WORKER_BATCH ? opts->batch : FT_WORKER_BATCH;
	w->n_workers = opts->workers ? opts->workers : cfg->workers ? cfg->workers : 1;
	w->workers_by_option = opts->workers != 0;
	_Static_assert((int)FT_CONFIG_MAX_WORKERS <= (int)FT_STEER_MAX, "steering for each count");
	if (w->n_workers > FT_CONFIG_MAX_WORKERS) {
		snprintf(err, errlen, "bad Workers %u (1 to %u)", w->n_workers,
			 (unsigned int)FT_CONFIG_MAX_WORKERS);
		free(w);
		return -EINVAL;
	}
	w->gone = opts->gone;
	w->gone_arg = opts->gone_arg;
	snprintf(w->ifname, sizeof(w->ifname), "%s", opts->ifname);
	if (opts->config_path && !(w->config_path = strdup(opts->config_path)))
		goto fail;
	gethostname(w->node_name, sizeof(w->node_name) - 1);

	if ((rc = setup_buffers(w)) < 0)
		goto fail;
	pcfg.send_arg = w;
	/* The peer queues hold packets of the buffers' MTU; the padding follows the TUN's. */
	pcfg.mtu = w->mtu_cap;
	w->proto = ft_proto_create(&pcfg);
	if (!w->proto) {
		rc = -ENOMEM;
		goto fail;
	}
	ft_proto_set_mtu(w->proto, w->mtu);
	if (cfg->private_key) {
		rc = ft_proto_set_private_key(w->proto, cfg->private_key);
		if (rc < 0) {
			snprintf(err, errlen, "the private key is not usable: %s", strerror(-rc));
			goto fail;
		}
		if (!(w->private_key = sodium_malloc(FT_KEY_LEN))) {
			rc = -ENOMEM;
			goto fail;
		}
		memcpy(w->private_key, cfg->private_key, FT_KEY_LEN);
	}
	ft_worker_set_node_id(w);

	if ((rc = setup_device(w, cfg, err, errlen)) < 0)
		goto fail;
	if ((rc = setup_tun_io(w, cfg, opts, err, errlen)) < 0)
		goto fail;
	for (size_t i = 0; i < cfg->n_peers; i++)
		if ((rc = ft_worker_config_peer_add(w, &cfg->peers[i], err, errlen)) < 0)
			goto fail;
	if ((rc = ft_worker_flow_start(w, cfg, err, errlen)) < 0)
		goto fail;
	if ((rc = ft_worker_ipfix_start(w, cfg, err, errlen)) < 0)
		goto fail;
	if (cfg->statistics && (w->flow || w->ipfix)) {
		w->stats = ft_connstats_create(loop, (uint64_t)cfg->flow_log_interval * 1000,
					       cfg->flow_log_max_conns, ft_worker_on_dump, w);
		if (!w->stats) {
			rc = -errno;
			snprintf(err, errlen, "statistics: %s", strerror(errno));
			goto fail;
		}
		/* The lanes' shards go in before each dump (Workers = N). */
		ft_connstats_set_collect(w->stats, ft_worker_stats_collect, w);
	}
	if ((rc = ft_worker_lanes_create(w, err, errlen)) < 0)
		goto fail;
	if ((rc = uapi_start(w, opts, err, errlen)) < 0)
		goto fail;
	if ((rc = ft_worker_metrics_start(w, cfg, err, errlen)) < 0)
		goto fail;

	uv_poll_init(loop, &w->tun_poll, w->ring ? ft_tunring_fd(w->ring) : w->tun_fd);
	uv_timer_init(loop, &w->proto_timer);
	w->tun_poll.data = w->proto_timer.data = w;
	w->handles_ready = true;
	if ((rc = ft_worker_udp_poll_start(w)) < 0) {
		snprintf(err, errlen, "poll: %s", uv_strerror(rc));
		goto fail;
	}
	uv_poll_start(&w->tun_poll, UV_READABLE, ft_worker_on_tun);
	ft_worker_link_start(w, cfg, !opts->no_link_monitor);
	ft_worker_mtu_start(w);
	/*
	 * Persistent keepalives start now that the worker can send and count, as the kernel
	 * starts them when the device comes up: with no traffic, a handshake at once.
	 */
	for (size_t i = 0; i < w->n_peers; i++)
		if (w->peers[i]->keepalive)
			ft_proto_peer_set_persistent_keepalive(w->proto, w->peers[i]->peer,
							       w->peers[i]->keepalive,
							       ft_worker_now_ns());
	ft_worker_end_batch(w);
	*out = w;
	return 0;
fail:
	/* Nothing was counted yet, so closing loses nothing; the loop frees the rest. */
	ft_worker_close(w, NULL, NULL);
	return rc;
}

static void release(struct ft_worker *w)
{
	ft_worker_close_cb cb;
	void *arg;

	if (--w->pending_closes > 0)
		return;
	cb = w->close_cb;
	arg = w->close_arg;
	worker_free(w);
	if (cb)
		cb(arg);
}

static void on_handle_closed(uv_handle_t *h)
{
	release(h->data);
}

static void on_udp_closed(uv_handle_t *h)
{
	struct udp_handle *uh = h->data;
	struct ft_worker *w = uh->w;

	free(uh);
	release(w);
}

static void on_stats_closed(void *arg)
{
	release(arg);
}

static void on_flow_closed(void *arg, const struct ft_flowwriter_counters *final)
{
	struct ft_worker *w = arg;

	if (final->lost)
		ft_log_warnx("flow log '%s': %" PRIu64 " messages lost in all", w->flow_dest,
			     final->lost);
	release(w);
}

static void on_ipfix_closed(void *arg)
{
	release(arg);
}

static void on_uapi_closed(void *arg)
{
	release(arg);
}

static void on_metrics_closed(void *arg)
{
	release(arg);
}

/* The monitor stops at once (no callback after close) and frees itself later. */
static void on_link_closed(struct ft_link_monitor *mon)
{
	(void)mon;
}

void ft_worker_close(struct ft_worker *w, ft_worker_close_cb cb, void *arg)
{
	if (w->closing)
		return;
	w->closing = true;
	w->close_cb = cb;
	w->close_arg = arg;
	/* The lanes first: their last batches end, their counts come over. */
	ft_worker_lanes_stop(w);
	/* Whatever the last batch queued goes out, then the final statistics flush. */
	ft_worker_flush_all(w);
	w->pending_closes = 1; /* ourselves, released at the end of this function */
	if (w->stats) {
		w->pending_closes++;
		/* The final dump (ft_worker_on_dump hands it to the writers) happens inside this call. */
		ft_connstats_close(w->stats, on_stats_closed);
		w->stats = NULL;
		ft_worker_flows_final(w);
	}
	if (w->flow) {
		w->pending_closes++;
		ft_flowwriter_close(w->flow, on_flow_closed);
		w->flow = NULL;
	}
	if (w->ipfix) {
		w->pending_closes++;
		ft_ipfix_exporter_close(w->ipfix, on_ipfix_closed);
		w->ipfix = NULL;
	}
	if (w->uapi) {
		w->pending_closes++;
		ft_uapi_server_close(w->uapi, on_uapi_closed, w);
		w->uapi = NULL;
	}
	if (w->metrics) {
		w->pending_closes++;
		ft_metrics_server_close(w->metrics, on_metrics_closed, w);
		w->metrics = NULL;
	}
	if (w->link) {
		ft_link_monitor_close(w->link, on_link_closed);
		w->link = NULL;
	}
	/* Route events and kicks (their handles' data is w), endpoint names in flight. */
	w->pending_closes += (int)ft_worker_path_close(w, on_handle_closed);
	ft_worker_resolve_detach(w);
	remove_config(w);
	if (w->handles_ready) {
		uv_poll_stop(&w->tun_poll);
		uv_timer_stop(&w->proto_timer);
		w->pending_closes += 2;
		uv_close((uv_handle_t *)&w->tun_poll, on_handle_closed);
		uv_close((uv_handle_t *)&w->proto_timer, on_handle_closed);
	}
	if (w->udp_handle) {
		uv_poll_stop(&w->udp_handle->poll);
		w->pending_closes++;
		uv_close((uv_handle_t *)&w->udp_handle->poll, on_udp_closed);
		w->udp_handle = NULL;
	}
	if (w->lanes_wake_ready) {
		w->pending_closes++;
		uv_close((uv_handle_t *)&w->lanes_wake, on_handle_closed);
		w->lanes_wake_ready = false;
	}
	if (w->mtu_handles) {
		uv_timer_stop(&w->mtu_timer);
		w->pending_closes++;
		uv_close((uv_handle_t *)&w->mtu_timer, on_handle_closed);
		if (w->mtu_watch) {
			uv_poll_stop(&w->mtu_poll);
			w->pending_closes++;
			uv_close((uv_handle_t *)&w->mtu_poll, on_handle_closed);
		}
		w->mtu_handles = false;
	}
	release(w);
}
