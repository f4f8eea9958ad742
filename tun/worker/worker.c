// SPDX-License-Identifier: MIT
/*
 * The worker: the packet path of flowtun on one libuv loop (see worker.h for its handles).
 * internal.h maps the worker's other files: set-up and tear-down in setup.c, its peers in
 * peers.c, flow records in flows.c, the userspace API backend in ctl.c, and more.
 *
 * Outbound: the TUN poll reads up to FT_WORKER_BATCH packets into slots that have the
 * protocol's head and tail room, parses each (before encryption overwrites its headers), has
 * the protocol device encrypt each in place, and queues the results in the send batch, which
 * goes out with one sendmmsg. Only then is each packet the socket took counted as virtual
 * tx, from its parse; physical tx is counted per peer once per batch.
 *
 * Inbound: the UDP poll receives up to FT_WORKER_BATCH datagrams with one recvmmsg, the
 * protocol device decrypts each in place (or answers a handshake), and the packets are
 * written to the TUN; those written are counted as virtual rx. Physical rx per peer once per
 * batch, of the datagrams the protocol accepted (res.rx_counted, as wg show counts them).
 *
 * Every datagram the protocol makes reaches the send batch through its send callback, its one
 * way out (tun/wg/proto.h): the data messages of ft_proto_send() are the TUN slots encrypted
 * in place and go in without a copy; the rest (handshakes and their answers, cookie replies,
 * keepalives, packets that waited for a session) are the protocol's and are copied.
 *
 * The path state of each peer that had traffic is noted at the end of the batch (what
 * `flowtun show` reports, and since when).
 *
 * What each count means is in flowtun-up(8), STATISTICS: the flow log, IPFIX, wg show and
 * the counters below all follow it.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "base/sockaddr.h"
#include "tun/log.h"
#include "tun/net/offload.h"
#include "tun/net/tundev.h"
#include "tun/worker/internal.h"

uint64_t ft_worker_now_ns(void)
{
	return uv_hrtime();
}

static uint64_t now_ms(void)
{
	return uv_hrtime() / 1000000;
}

static void sockaddr_to_addr(const struct sockaddr *sa, struct ft_addr *a, uint16_t *port)
{
	memset(a, 0, sizeof(*a));
	*port = 0;
	if (sa->sa_family == AF_INET) {
		struct sockaddr_in sin;

		memcpy(&sin, sa, sizeof(sin));
		ft_addr_set_v4(a, (const uint8_t *)&sin.sin_addr);
		*port = ntohs(sin.sin_port);
	} else if (sa->sa_family == AF_INET6) {
		struct sockaddr_in6 sin6;

		memcpy(&sin6, sa, sizeof(sin6));
		ft_addr_set_v6(a, sin6.sin6_addr.s6_addr);
		*port = ntohs(sin6.sin6_port);
	}
}

void ft_worker_report_gone(struct ft_worker *w, const char *why)
{
	/* A lane's queue goes with the device: the worker's own read reports it. */
	if (w->gone_reported || w->closing || w->primary)
		return;
	w->gone_reported = true;
	ft_log(FT_LOG_NOTICE, "%s: %s", w->ifname, why);
	if (w->gone)
		w->gone(w->gone_arg, why);
}

/* ---- the packet path -------------------------------------------------------------------- */

/*
 * The path state `flowtun show` and the metrics report, noted with the time it began. It runs
 * at the end of every batch for each peer that had traffic (a handshake or its failure shows
 * as traffic), so it reads the two facts it needs, not the whole ft_peer_info.
 */
static enum ft_path_state note_path_state(struct wpeer *wp, bool has_session,
					  bool handshake_pending)
{
	enum ft_path_state s;

	/*
	 * Failing only while a handshake of ours goes unanswered (its retries armed): once it
	 * is given up (REKEY_ATTEMPT_TIME) and no traffic asks for another, there is simply
	 * no session, as before the first one.
	 */
	if (wp->path_down)
		s = FT_PATH_LINK_DOWN;
	else if (has_session)
		s = FT_PATH_UP;
	else if (handshake_pending)
		s = FT_PATH_FAILING;
	else
		s = FT_PATH_NO_SESSION;
	if (s != wp->shown_state || wp->shown_since == 0) {
		wp->shown_state = s;
		wp->shown_since = (uint64_t)time(NULL);
	}
	return s;
}

enum ft_path_state ft_worker_path_state(struct ft_worker *w, struct wpeer *wp, uint64_t now_ns)
{
	(void)w;
	return note_path_state(wp, ft_peer_has_session(wp->peer, now_ns),
			       ft_peer_handshake_pending(wp->peer));
}

enum ft_path_state ft_worker_path_state_of(struct ft_worker *w, struct wpeer *wp,
					   const struct ft_peer_info *info)
{
	(void)w;
	return note_path_state(wp, info->has_session, info->handshake_pending);
}

/*
 * The worker counts into its connstats; a lane into its shard (a connstats of its own without
 * a loop), which the worker merges before each of its dumps (lanes.c).
 */
/* The worker's connstats, or a lane's shard of it (lanes.c): the same calls either way. */
static void stat_virtual(struct ft_worker *w, const struct ft_packet_info *info, size_t len,
			 bool rx)
{
	if (w->stats)
		ft_connstats_update_virtual_parsed(w->stats, info, len, rx);
}

static void stat_physical(struct ft_worker *w, bool rx, const struct ft_addr *overlay,
			  const struct sockaddr *sa, uint64_t pkts, uint64_t bytes)
{
	struct ft_addr ep;
	uint16_t port;

	if (!w->stats)
		return;
	sockaddr_to_addr(sa, &ep, &port);
	if (rx)
		ft_connstats_update_rx_physical(w->stats, overlay, &ep, port, pkts, bytes);
	else
		ft_connstats_update_tx_physical(w->stats, overlay, &ep, port, pkts, bytes);
}

/* Virtual rx: n packets written to the TUN. */
static void stat_rx_written(struct ft_worker *w, const uint8_t *const pkts[], const size_t lens[],
			    size_t n)
{
	if (w->stats)
		ft_connstats_update_rx_virtual_batch(w->stats, pkts, lens, n);
}

/* Physical counts are gathered per batch and handed to the statistics once per peer. */
static void mark_dirty(struct ft_worker *w, struct wpeer *wp)
{
	if (!wp->dirty) {
		wp->dirty = true;
		w->dirty[w->n_dirty++] = wp;
	}
}

/*
 * The bytes are the protocol's counts of the peer (wg show's transfer) since the last flush:
 * every change to them comes with a datagram counted here, which marks the peer dirty.
 */
static void flush_physical(struct ft_worker *w)
{
	uint64_t now = w->n_dirty ? ft_worker_now_ns() : 0;

	for (size_t i = 0; i < w->n_dirty; i++) {
		struct wpeer *wp = w->dirty[i];
		const struct sockaddr_storage *dst = ft_peer_endpoint(wp->peer);
		uint64_t rx, tx;

		ft_peer_transfer(wp->peer, &rx, &tx);
		if (w->stats && wp->tx_pkts && dst->ss_family != AF_UNSPEC)
			stat_physical(w, false, &wp->overlay, (const struct sockaddr *)dst,
				      wp->tx_pkts, tx - wp->tx_flushed);
		if (w->stats && wp->rx_pkts)
			stat_physical(w, true, &wp->overlay, (const struct sockaddr *)&wp->rx_from,
				      wp->rx_pkts, rx - wp->rx_flushed);
		wp->tx_pkts = wp->rx_pkts = 0;
		wp->tx_flushed = tx;
		wp->rx_flushed = rx;
		wp->dirty = false;
		/* A handshake or its failure shows as traffic: note when the path state changed. */
		ft_worker_path_state(w, wp, now);
	}
	w->n_dirty = 0;
}

/*
 * io: between protocol calls (not from inside one), where the lock may go while the socket
 * works: the slots and their peers stay valid, since a quiesce waits for this batch's end.
 */
static void tx_flush(struct ft_worker *w, bool io)
{
	int done;

	if (w->tx_count == 0)
		return;
	if (io)
		ft_worker_io_begin(w);
	for (unsigned int i = 0; i < w->tx_count; i++) {
		if (w->tx_seal[i]) {
			ft_aead_job_seal(&w->tx_job[i]);
			w->tx_seal[i] = false;
		}
	}
	done = ft_udp_send_batch(&w->udp, w->tx, w->tx_count);
	if (io)
		ft_worker_io_end(w);
	if (done < 0) {
		FT_LOG_RATELIMITED(now_ms(), FT_LOG_WARNING, "%s: send: %s", w->ifname,
				   strerror(-done));
		done = 0;
	}
	w->counters.udp_gso_refused += w->tx->gso_refused;
	for (unsigned int i = 0; i < w->tx_count; i++) {
		struct ft_udp_slot *s = &w->tx->slots[i];

		/* A run too big for the path went again one by one (tun/net/udp.c): no more such runs. */
		if (s->gso_refused && w->tx_peer[i])
			ft_worker_mtu_refused(w, w->tx_peer[i], s->len);
		if (i >= (unsigned int)done) {
			w->counters.udp_tx_dropped++;
		} else if (s->err) {
			w->counters.udp_tx_errors++;
			FT_LOG_RATELIMITED(now_ms(), FT_LOG_WARNING, "%s: send: %s", w->ifname,
					   strerror(-s->err));
		} else {
			w->counters.udp_tx_datagrams++;
			w->counters.udp_tx_bytes += s->len;
			if (w->tx_peer[i]) {
				/* Its bytes: in the protocol's count (flush_physical). */
				w->tx_peer[i]->tx_pkts++;
				mark_dirty(w, w->tx_peer[i]);
				ft_proto_peer_count_sent(w->proto, w->tx_peer[i]->peer, s->len);
			}
			/* Virtual tx: a packet that went into the tunnel. */
			if (w->tx_inner_len[i]) {
				w->counters.tunnel_tx_packets++;
				if (w->stats)
					stat_virtual(w, &w->tx_info[i], w->tx_inner_len[i], false);
			}
		}
		/* Zero-copy slots pointed into the TUN slots: give each its own buffer back. */
		s->iov.iov_base = w->tx_own[i];
	}
	w->tx_count = 0;
}

/*
 * Queues one datagram; copy it unless it lives in a TUN slot until the batch is flushed.
 * inner_len: the length of the IP packet it carries (0: none), info its parse (NULL without
 * statistics), for virtual tx.
 */
static void tx_append(struct ft_worker *w, struct wpeer *wp, uint8_t *data, size_t len,
		      const struct sockaddr *dst, bool copy, const struct ft_packet_info *info,
		      size_t inner_len)
{
	struct ft_udp_slot *s;
	socklen_t dlen = ft_sockaddr_len(dst);

	if (dlen == 0 || len > w->slot_size) {
		w->counters.udp_tx_errors++;
		return;
	}
	if (w->tx_count == w->tx->n)
		tx_flush(w, false);
	s = &w->tx->slots[w->tx_count];
	if (copy)
		memcpy(s->iov.iov_base, data, len);
	else
		s->iov.iov_base = data;
	s->len = len;
	s->seg_max = wp ? wp->seg_max : 0;
	memset(&s->addr, 0, sizeof(s->addr));
	memcpy(&s->addr, dst, dlen);
	w->tx_inner_len[w->tx_count] = (uint32_t)inner_len;
	if (info)
		w->tx_info[w->tx_count] = *info;
	w->tx_peer[w->tx_count++] = wp;
}

/*
 * Every datagram the protocol makes comes through here (tun/wg/proto.h: one way out). The
 * data message of ft_proto_send() is a TUN slot encrypted in place, which lives until the batch
 * is flushed: queued as it is, with the parse outbound() made before encryption overwrote it.
 * Anything else is the protocol's own, valid only during the call, so it is copied; a packet
 * that waited for a session comes with its plaintext (inner), parsed now for virtual tx.
 */
void ft_worker_proto_send_cb(void *arg, const struct ft_proto_datagram *d)
{
	/* On a lane's thread its own send batch: the protocol knows only the worker. */
	struct ft_worker *w = ft_worker_tls_lane ? ft_worker_tls_lane : arg;
	const struct ft_packet_info *pi = NULL;
	struct ft_aead_job *job = d->in_place ? w->send_job : NULL;
	struct ft_packet_info info;
	unsigned int n;

	if (d->in_place) {
		pi = w->send_info;
	} else if (d->inner && w->stats) {
		ft_packet_parse(d->inner, d->inner_len, &info);
		pi = &info;
	}
	tx_append(w, ft_worker_wpeer(d->peer), (uint8_t *)(uintptr_t)d->msg, d->len, d->dst,
		  !d->in_place, pi, d->inner_len);
	/* Its AEAD waits for the batch (tx_flush), in the slot it went to. */
	if (job && job->payload) {
		n = w->tx_count;
		if (n > 0 && w->tx->slots[n - 1].iov.iov_base == d->msg) {
			w->tx_job[n - 1] = *job;
			w->tx_seal[n - 1] = true;
		}
		sodium_memzero(job->key, sizeof(job->key));
		job->payload = NULL;
	}
}

static void on_proto_timer(uv_timer_t *t);

void ft_worker_arm_proto_timer(struct ft_worker *w)
{
	uint64_t d = ft_proto_next_deadline(w->proto), now, ms;

	/* A lane has no timer: the worker's is armed from its loop (lanes.c). */
	if (w->primary) {
		if (d != w->primary->armed_deadline)
			w->primary->wake_flags |= FT_LANES_WAKE_TIMER;
		return;
	}
	if (w->closing || d == w->armed_deadline)
		return;
	w->armed_deadline = d;
	if (d == 0) {
		uv_timer_stop(&w->proto_timer);
		return;
	}
	now = ft_worker_now_ns();
	ms = d > now ? (d - now + 999999) / 1000000 : 0;
	uv_timer_start(&w->proto_timer, on_proto_timer, ms, 0);
}

/*
 * Every callback ends the same way: send what is queued, count it, re-arm the timer; with
 * TunIO = io_uring, queue the TUN reads whose buffers were taken (a failed submission is
 * tried again at the next end of a batch, when the protocol timer fires at the latest).
 */
static void end_batch(struct ft_worker *w, bool io)
{
	tx_flush(w, io);
	flush_physical(w);
	ft_worker_arm_proto_timer(w);
	if (w->ring) {
		int rc;

		if (io)
			ft_worker_io_begin(w);
		rc = ft_tunring_rearm(w->ring);
		if (io)
			ft_worker_io_end(w);

		if (rc < 0)
			FT_LOG_RATELIMITED(now_ms(), FT_LOG_WARNING, "%s: io_uring reads: %s",
					   w->ifname, strerror(-rc));
	}
}

void ft_worker_end_batch(struct ft_worker *w)
{
	end_batch(w, false);
}

void ft_worker_flush_all(struct ft_worker *w)
{
	tx_flush(w, false);
	flush_physical(w);
}

/*
 * A peer whose timers ran (a retry, its give-up, keys zeroed...): its path state may have
 * changed. Only those peers: a tick costs what is due, not a pass over every peer.
 */
void ft_worker_proto_ticked_cb(void *arg, struct ft_peer *peer)
{
	struct ft_worker *w = arg;
	struct wpeer *wp = ft_peer_ctx(peer);

	if (wp)
		ft_worker_path_state(w, wp, w->tick_now);
}

static void on_proto_timer(uv_timer_t *t)
{
	struct ft_worker *w = t->data;

	w->armed_deadline = 0;
	w->tick_now = ft_worker_now_ns();
	ft_proto_tick(w->proto, w->tick_now);
	end_batch(w, false);
}

/*
 * Counts and encrypts tun slots [0..n) and sends them. The send batch points into the slots,
 * so it is flushed here: the caller reuses the slots next.
 */
static void outbound(struct ft_worker *w, unsigned int n)
{
	uint64_t now = ft_worker_now_ns();

	for (unsigned int i = 0; i < n; i++) {
		struct ft_proto_result res;
		struct ft_packet_info info;
		struct ft_aead_job job;

		w->counters.tun_rx_bytes += w->tun_len[i];
		if (w->tun_len[i] > w->mtu) {
			w->counters.tun_oversized++;
			continue;
		}
		/*
		 * Parsed now, since encryption overwrites the headers in place; counted as virtual
		 * tx in tx_flush, once the socket took it (a packet dropped or queued is not). The
		 * encrypted slot reaches the send batch through the callback, with this parse.
		 */
		if (w->stats)
			ft_packet_parse(w->tun_iov[i].iov_base, w->tun_len[i], &info);
		w->send_info = w->stats ? &info : NULL;
		w->send_job = &job;
		ft_proto_send_job(w->proto, w->tun_slot[i], w->tun_len[i], w->slot_size, now, &res,
				  &job);
		w->send_info = NULL;
		w->send_job = NULL;
	}
	tx_flush(w, true);
}

/* A TUN whose interface was deleted answers EBADFD (EIO on older kernels). */
static bool tun_read_failed(struct ft_worker *w, int err)
{
	if (err == -EBADFD || err == -EIO) {
		uv_poll_stop(&w->tun_poll);
		ft_worker_report_gone(w, "the interface was deleted");
	} else if (err != -EAGAIN) {
		FT_LOG_RATELIMITED(now_ms(), FT_LOG_WARNING, "%s: read: %s", w->ifname,
				   strerror(-err));
	}
	return true;
}

/*
 * Splits one super-packet (behind its vnet header at buf, r bytes in all) into the free slots from *used on,
 * sending the full slots whenever they run out: a small MSS makes hundreds of segments of one
 * read, more than the slots hold. Returns the segments made, or the first error (nothing made).
 */
static int split_super_packet(struct ft_worker *w, const uint8_t *buf, size_t r,
			      const struct ft_vnet_hdr *vh, unsigned int *used)
{
	const uint8_t *pkt = buf + FT_OFFLOAD_VNET_HDR_LEN;
	unsigned int first = 0, total = 1;

	while (first < total) {
		int k;

		if (*used == FT_WORKER_TUN_SLOTS) {
			outbound(w, *used);
			*used = 0;
		}
		k = ft_offload_segment_from(pkt, r - FT_OFFLOAD_VNET_HDR_LEN, vh, first,
					    w->tun_slot + *used, FT_WORKER_TUN_SLOTS - *used,
					    FT_PROTO_HEADROOM, w->mtu, w->tun_len + *used, &total);
		/* Every check runs on the first call: a later one cannot fail. */
		if (k < 0)
			return k;
		*used += (unsigned int)k;
		first += (unsigned int)k;
	}
	return (int)total;
}

/*
 * One read with offloads (r bytes at buf, a vnet header first) into the slots from *used on,
 * counted. A bad header or an oversized packet is counted and dropped.
 */
static void tun_take_vnet(struct ft_worker *w, const uint8_t *buf, size_t r, unsigned int *used)
{
	struct ft_vnet_hdr vh;
	int k;

	if (ft_offload_parse_vnet(buf, r, &vh) < 0) {
		w->counters.tun_bad_vnet++;
		return;
	}
	k = split_super_packet(w, buf, r, &vh, used);
	if (k < 0) {
		if (k == -EMSGSIZE)
			w->counters.tun_oversized++;
		else
			w->counters.tun_bad_vnet++;
		return;
	}
	w->counters.tun_rx_packets += (uint64_t)k;
	if (vh.gso_type != FT_VNET_GSO_NONE)
		w->counters.tun_gso_reads++;
}

/*
 * With offloads: each read is one super-packet (up to 64 KiB of TCP or UDP behind a vnet
 * header), split into MTU-sized segments in the slots: one read instead of up to 45 (or
 * hundreds, with a small MSS).
 */
static void on_tun_vnet(struct ft_worker *w)
{
	unsigned int used = 0;

	for (unsigned int reads = 0; reads < w->batch; reads++) {
		ssize_t r;

		ft_worker_io_begin(w);
		r = read(w->tun_fd, w->tun_read_buf, FT_OFFLOAD_VNET_HDR_LEN + FT_OFFLOAD_MAX_LEN);
		ft_worker_io_end(w);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			tun_read_failed(w, -errno);
			break;
		}
		tun_take_vnet(w, w->tun_read_buf, (size_t)r, &used);
	}
	if (used)
		outbound(w, used);
	end_batch(w, true);
}

/*
 * TunIO = io_uring: the reads that completed in the ring, each taken as read(2) would have
 * given it, then their buffers' reads queued again in one submission.
 */
static void on_tun_ring(struct ft_worker *w)
{
	unsigned int n = ft_tunring_reap(w->ring, w->ring_done, w->batch), used = 0;
	bool gone = false;

	for (unsigned int i = 0; i < n; i++) {
		const struct ft_tunring_read *d = &w->ring_done[i];

		if (d->err) {
			if (d->err == -EBADFD || d->err == -EIO)
				gone = true;
			else if (d->err != -EAGAIN && d->err != -EINTR && d->err != -ECANCELED)
				tun_read_failed(w, d->err);
			continue;
		}
		if (d->len == 0)
			continue;
		if (w->vnet) {
			tun_take_vnet(w, d->buf, d->len, &used);
			continue;
		}
		w->counters.tun_rx_packets++;
		if (d->len > w->mtu) {
			w->counters.tun_rx_bytes += d->len;
			w->counters.tun_oversized++;
			continue;
		}
		if (used == FT_WORKER_TUN_SLOTS) {
			outbound(w, used);
			used = 0;
		}
		memcpy(w->tun_slot[used] + FT_PROTO_HEADROOM, d->buf, d->len);
		w->tun_len[used++] = d->len;
	}
	if (used)
		outbound(w, used);
	if (gone)
		tun_read_failed(w, -EBADFD);
	end_batch(w, true);
}

static void on_tun(struct ft_worker *w, int status)
{
	int n;

	if (status < 0) {
		FT_LOG_RATELIMITED(now_ms(), FT_LOG_WARNING, "%s: poll: %s", w->ifname,
				   uv_strerror(status));
		return;
	}
	if (w->ring) {
		on_tun_ring(w);
		return;
	}
	if (w->vnet) {
		on_tun_vnet(w);
		return;
	}
	ft_worker_io_begin(w);
	n = ft_tundev_read_batch(w->tun_fd, w->tun_iov, w->tun_len, w->batch);
	ft_worker_io_end(w);
	if (n <= 0) {
		if (n < 0)
			tun_read_failed(w, n);
		return;
	}
	w->counters.tun_rx_packets += (uint64_t)n;
	outbound(w, (unsigned int)n);
	end_batch(w, true);
}

void ft_worker_on_tun(uv_poll_t *h, int status, int events)
{
	struct ft_worker *w = h->data;

	(void)events;
	ft_worker_lane_begin(w);
	on_tun(w, status);
	ft_worker_lane_end(w);
}

/*
 * A packet for the TUN: at once without offloads, else gathered for coalescing; with
 * TunIO = io_uring always gathered, for one submission at the end of the batch.
 */
static void gro_flush(struct ft_worker *w);

static void tun_deliver(struct ft_worker *w, uint8_t *pkt, size_t len)
{
	const uint8_t *written = pkt;

	if (w->vnet || w->ring) {
		/* UDP_GRO can hand one batch many more packets than the table holds. */
		if (w->n_gro == FT_WORKER_BATCH)
			gro_flush(w);
		w->gro_in[w->n_gro].iov_base = pkt;
		w->gro_in[w->n_gro++].iov_len = len;
		return;
	}
	if (ft_tundev_write(w->tun_fd, pkt, len) < 0) {
		w->counters.tun_write_dropped++;
		return;
	}
	/* Virtual rx: what reached the TUN. */
	w->counters.tun_tx_packets++;
	w->counters.tun_tx_bytes += len;
	stat_rx_written(w, &written, &len, 1);
}

/* One write of a vnet header and its packet: 0, or the negative errno of the TUN's refusal. */
static int tun_write_vnet(struct ft_worker *w, const struct iovec *iov, int cnt)
{
	ssize_t r;

	do {
		r = writev(w->tun_fd, iov, cnt);
	} while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : 0;
}

/* One packet alone, behind an all-zero vnet header. */
static int tun_write_alone(struct ft_worker *w, const struct iovec *pkt)
{
	static const uint8_t zero_hdr[FT_OFFLOAD_VNET_HDR_LEN];
	struct iovec iov[2] = {
		{ .iov_base = (void *)(uintptr_t)zero_hdr, .iov_len = sizeof(zero_hdr) },
		*pkt,
	};

	return tun_write_vnet(w, iov, 2);
}

/*
 * The writes of a gathered batch, results in gro_result: the coalesced outputs [0..nw), or
 * with alone the inputs [0..nw) each by itself (behind an all-zero vnet header with offloads).
 * One writev each, or all in one io_uring submission.
 */
static void tun_write_all(struct ft_worker *w, bool alone, unsigned int nw)
{
	static const uint8_t zero_hdr[FT_OFFLOAD_VNET_HDR_LEN];

	ft_worker_io_begin(w);
	for (unsigned int i = 0; i < nw; i++) {
		struct iovec iov[2];
		int cnt = 0;

		if (!alone) {
			iov[cnt++] = w->gro_out[i];
		} else {
			if (w->vnet)
				iov[cnt++] = (struct iovec){ (void *)(uintptr_t)zero_hdr,
							     sizeof(zero_hdr) };
			iov[cnt++] = w->gro_in[i];
		}
		if (!w->ring)
			w->gro_result[i] = tun_write_vnet(w, iov, cnt);
		else if (ft_tunring_queue_write(w->ring, iov, cnt) < 0)
			w->gro_result[i] = -ENOSPC; /* never: the ring takes a whole batch */
	}
	if (w->ring && ft_tunring_queued(w->ring)) {
		int rc = ft_tunring_write_flush(w->ring, w->gro_result);

		if (rc < 0)
			FT_LOG_RATELIMITED(now_ms(), FT_LOG_WARNING, "%s: io_uring write: %s",
					   w->ifname, strerror(-rc));
	}
	ft_worker_io_end(w);
}

/* The gathered packets of one receive batch, coalesced into super-packets where they can be. */
static void gro_flush(struct ft_worker *w)
{
	size_t need = (size_t)w->n_gro * FT_OFFLOAD_VNET_HDR_LEN, nstat = 0;
	unsigned int n = w->n_gro;
	bool uso_refused = false;
	int k = -ENOBUFS;

	if (n == 0)
		return;
	w->n_gro = 0;
	for (unsigned int i = 0; i < n; i++)
		need += w->gro_in[i].iov_len;
	if (need <= w->gro_arena_len)
		k = ft_offload_coalesce_ex(
			w->gro_in, n,
			FT_OFFLOAD_GRO_TCP | (w->udp_coalesce ? FT_OFFLOAD_GRO_UDP : 0),
			w->gro_arena, w->gro_arena_len, w->gro_out, FT_WORKER_BATCH, w->gro_owner);
	tun_write_all(w, k < 0, k < 0 ? n : (unsigned int)k);
	if (k < 0) {
		/* Too big to coalesce here (or no offloads): each packet alone. */
		for (unsigned int i = 0; i < n; i++) {
			w->gro_owner[i] = i;
			w->gro_written[i] = w->gro_result[i] == 0;
		}
	} else {
		for (int i = 0; i < k; i++) {
			/* A GSO type (the vnet header's second byte): a super-packet. */
			uint8_t gso = ((const uint8_t *)w->gro_out[i].iov_base)[1];
			int r = w->gro_result[i];

			/*
			 * A kernel that refuses USO after the probe said yes (a backport of half
			 * of it?): no more UDP coalescing, and these datagrams go one by one below.
			 */
			if (r == -EINVAL && gso == FT_VNET_GSO_UDP_L4 && w->udp_coalesce) {
				w->udp_coalesce = false;
				ft_log(FT_LOG_WARNING,
				       "%s: the TUN refused a UDP super-packet: "
				       "no more UDP coalescing",
				       w->ifname);
			}
			uso_refused |= r == -EINVAL && gso == FT_VNET_GSO_UDP_L4;
			w->gro_written[i] = r == 0;
			if (gso != FT_VNET_GSO_NONE && r == 0)
				w->counters.tun_gro_writes++;
			if (gso == FT_VNET_GSO_UDP_L4 && r == 0)
				w->counters.tun_uso_writes++;
		}
	}
	/*
	 * Each packet by the fate of the write that carried it: a super-packet of k segments is
	 * k packets written or k dropped, and only those written are virtual rx.
	 */
	for (unsigned int i = 0; i < n; i++) {
		unsigned int o = w->gro_owner[i];
		bool written = w->gro_written[o];

		if (!written && uso_refused && k >= 0 &&
		    ((const uint8_t *)w->gro_out[o].iov_base)[1] == FT_VNET_GSO_UDP_L4)
			written = tun_write_alone(w, &w->gro_in[i]) == 0;
		if (!written) {
			w->counters.tun_write_dropped++;
			continue;
		}
		if (k >= 0 && w->gro_written[o] &&
		    ((const uint8_t *)w->gro_out[o].iov_base)[1] == FT_VNET_GSO_UDP_L4)
			w->counters.tun_uso_segments++;
		w->counters.tun_tx_packets++;
		w->counters.tun_tx_bytes += w->gro_in[i].iov_len;
		w->stat_pkts[nstat] = w->gro_in[i].iov_base;
		w->stat_lens[nstat++] = w->gro_in[i].iov_len;
	}
	if (nstat)
		stat_rx_written(w, w->stat_pkts, w->stat_lens, nstat);
}

/* What the protocol made of a datagram: counts, and the packet to the TUN. */
static void inbound_done(struct ft_worker *w, enum ft_proto_action act,
			 const struct ft_proto_result *res, const struct sockaddr_storage *from)
{
	struct wpeer *wp = ft_worker_wpeer(res->peer);

	/*
	 * Physical rx: what the protocol accepted from the peer, exactly what wg show counts
	 * (an initiation it consumed but could not answer is dropped, yet counted); the bytes
	 * are in the protocol's count already (flush_physical).
	 */
	if (wp && res->rx_counted) {
		wp->rx_pkts++;
		memcpy(&wp->rx_from, from, sizeof(*from));
		mark_dirty(w, wp);
	}
	if (act == FT_PROTO_PACKET)
		tun_deliver(w, res->data, res->len);
}

/*
 * The transport messages that wait: opened with the lock let go (the other workers run the
 * protocol meanwhile), then accepted under it in the order they came.
 */
static void rx_open_flush(struct ft_worker *w, uint64_t now)
{
	unsigned int n = w->n_rx_open;

	if (n == 0)
		return;
	w->n_rx_open = 0;
	ft_worker_io_begin(w);
	for (unsigned int i = 0; i < n; i++)
		w->rx_open[i].err = ft_aead_job_open(&w->rx_open[i].job);
	ft_worker_io_end(w);
	for (unsigned int i = 0; i < n; i++) {
		struct ft_worker_open *o = &w->rx_open[i];
		struct ft_proto_result res;
		enum ft_proto_action act;

		act = ft_proto_receive_finish(w->proto, o->msg, o->len,
					      (const struct sockaddr *)o->from, now, &res, &o->job,
					      o->err);
		inbound_done(w, act, &res, o->from);
	}
}

static void inbound(struct ft_worker *w, uint8_t *msg, size_t len,
		    const struct sockaddr_storage *from, uint64_t now)
{
	struct ft_worker_open *o;
	struct ft_proto_result res;
	enum ft_proto_action act;
	int type = ft_wire_message_type(msg, len);

	w->counters.udp_rx_datagrams++;
	w->counters.udp_rx_bytes += len;
	/* A handshake may rotate the keypairs: what came before it is accepted before it. */
	if (type == FT_WIRE_INITIATION || type == FT_WIRE_RESPONSE)
		rx_open_flush(w, now);
	o = &w->rx_open[w->n_rx_open];
	/* An answer (a response, a cookie reply) goes into the send batch through the callback. */
	act = ft_proto_receive_job(w->proto, msg, len, (const struct sockaddr *)from, now, &res,
				   &o->job);
	if (act == FT_PROTO_OPEN) {
		o->msg = msg;
		o->len = len;
		o->from = from;
		if (++w->n_rx_open == FT_WORKER_RX_OPENS)
			rx_open_flush(w, now);
		return;
	}
	inbound_done(w, act, &res, from);
}

static void on_udp(struct ft_worker *w, int status)
{
	uint64_t now;
	int n;

	if (status < 0) {
		FT_LOG_RATELIMITED(now_ms(), FT_LOG_WARNING, "%s: poll: %s", w->ifname,
				   uv_strerror(status));
		return;
	}
	ft_worker_io_begin(w);
	n = ft_udp_recv_batch(&w->udp, w->rx);
	ft_worker_io_end(w);
	if (n <= 0) {
		if (n < 0 && n != -EAGAIN)
			FT_LOG_RATELIMITED(now_ms(), FT_LOG_WARNING, "%s: receive: %s", w->ifname,
					   strerror(-n));
		return;
	}
	now = ft_worker_now_ns();
	for (int i = 0; i < n; i++) {
		struct ft_udp_slot *s = &w->rx->slots[i];
		uint8_t *msg = s->iov.iov_base;

		if (s->truncated) {
			w->counters.udp_rx_truncated++;
			continue;
		}
		/* With UDP_GRO a slot holds several datagrams of one sender, gso_size each. */
		if (s->gso_size && s->len > s->gso_size) {
			for (size_t off = 0; off < s->len; off += s->gso_size) {
				size_t len = s->len - off < s->gso_size ? s->len - off
									: s->gso_size;

				inbound(w, msg + off, len, &s->addr, now);
			}
			continue;
		}
		inbound(w, msg, s->len, &s->addr, now);
	}
	rx_open_flush(w, now);
	gro_flush(w);
	end_batch(w, true);
}

void ft_worker_on_udp(uv_poll_t *h, int status, int events)
{
	struct ft_worker *w = ((struct udp_handle *)h->data)->w;

	(void)events;
	ft_worker_lane_begin(w);
	on_udp(w, status);
	ft_worker_lane_end(w);
}

const char *ft_worker_ifname(const struct ft_worker *w)
{
	return w->ifname;
}

bool ft_worker_tun_uring(const struct ft_worker *w)
{
	return w->ring != NULL;
}

uint16_t ft_worker_listen_port(const struct ft_worker *w)
{
	return w->udp.port;
}

const char *ft_worker_uapi_path(const struct ft_worker *w)
{
	return w->uapi ? ft_uapi_server_path(w->uapi) : NULL;
}

const char *ft_worker_flow_log_path(const struct ft_worker *w)
{
	/* "-" (stdout) and "syslog" are no files; every file path is absolute by now. */
	return w->flow_dest && w->flow_dest[0] == '/' ? w->flow_dest : NULL;
}

const struct ft_worker_counters *ft_worker_counters(const struct ft_worker *w)
{
	return &w->counters;
}
