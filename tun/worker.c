// SPDX-License-Identifier: MIT
/*
 * The worker: the packet path of flowtun on one libuv loop (see worker.h for its handles),
 * and its set-up and tear-down. The userspace API backend is in worker_ctl.c.
 *
 * Outbound: the TUN poll reads up to FT_WORKER_BATCH packets into slots that have the
 * protocol's head and tail room, counts them as virtual tx (one batched stats call, before
 * encryption overwrites them), has the protocol device encrypt each in place, and queues the
 * results in the send batch, which goes out with one sendmmsg. Physical tx is counted per
 * peer once per batch.
 *
 * Inbound: the UDP poll receives up to FT_WORKER_BATCH datagrams with one recvmmsg, the
 * protocol device decrypts each in place (or answers a handshake), and the packets are
 * written to the TUN and counted as virtual rx; physical rx per peer once per batch.
 *
 * Datagrams the protocol makes by itself (handshakes, keepalives, packets that waited for a
 * session) arrive through the send callback and are copied into the send batch.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <sys/uio.h>
#include <unistd.h>

#include <sodium.h>

#include "stats/flowlog.h"
#include "tun/allowedips.h"
#include "tun/log.h"
#include "tun/offload.h"
#include "tun/tundev.h"
#include "tun/worker_internal.h"

uint64_t ft_worker_now_ns(void)
{
	return uv_hrtime();
}

static uint64_t now_ms(void)
{
	return uv_hrtime() / 1000000;
}

static void config_addr_to_prefix(const struct ft_config_addr *a, struct ft_rtnl_prefix *p)
{
	memset(p, 0, sizeof(*p));
	p->family = a->family;
	p->len = a->cidr;
	memcpy(p->addr.bytes, a->addr, a->family == AF_INET ? 4 : 16);
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

static struct wpeer *find_wpeer(struct ft_worker *w, const struct ft_peer *peer)
{
	if (!peer)
		return NULL;
	for (size_t i = 0; i < w->n_peers; i++)
		if (w->peers[i].peer == peer)
			return &w->peers[i];
	return NULL;
}

struct wpeer *ft_worker_find_peer_by_key(struct ft_worker *w, const uint8_t key[FT_KEY_LEN])
{
	for (size_t i = 0; i < w->n_peers; i++)
		if (sodium_memcmp(w->peers[i].public_key, key, FT_KEY_LEN) == 0)
			return &w->peers[i];
	return NULL;
}

static void report_gone(struct ft_worker *w, const char *why)
{
	if (w->gone_reported || w->closing)
		return;
	w->gone_reported = true;
	ft_log(FT_LOG_NOTICE, "%s: %s", w->ifname, why);
	if (w->gone)
		w->gone(w->gone_arg, why);
}

/* ---- the packet path -------------------------------------------------------------------- */

/* Physical counts are gathered per batch and handed to the statistics once per peer. */
static void mark_dirty(struct ft_worker *w, struct wpeer *wp)
{
	if (!wp->dirty) {
		wp->dirty = true;
		w->dirty[w->n_dirty++] = wp;
	}
}

static void flush_physical(struct ft_worker *w)
{
	for (size_t i = 0; i < w->n_dirty; i++) {
		struct wpeer *wp = w->dirty[i];
		struct ft_addr ep;
		uint16_t port;

		if (w->stats && wp->tx_pkts && wp->peer->endpoint.ss_family != AF_UNSPEC) {
			sockaddr_to_addr((const struct sockaddr *)&wp->peer->endpoint, &ep, &port);
			ft_connstats_update_tx_physical(w->stats, &wp->overlay, &ep, port,
							wp->tx_pkts, wp->tx_bytes);
		}
		if (w->stats && wp->rx_pkts) {
			sockaddr_to_addr((const struct sockaddr *)&wp->rx_from, &ep, &port);
			ft_connstats_update_rx_physical(w->stats, &wp->overlay, &ep, port,
							wp->rx_pkts, wp->rx_bytes);
		}
		wp->tx_pkts = wp->tx_bytes = wp->rx_pkts = wp->rx_bytes = 0;
		wp->dirty = false;
		/* A handshake or its failure shows as traffic: note when the path state changed. */
		ft_worker_path_state(w, wp, ft_worker_now_ns());
	}
	w->n_dirty = 0;
}

static void tx_flush(struct ft_worker *w)
{
	int done;

	if (w->tx_count == 0)
		return;
	done = ft_udp_send_batch(&w->udp, w->tx, w->tx_count);
	if (done < 0) {
		FT_LOG_RATELIMITED(now_ms(), FT_LOG_WARNING, "%s: send: %s", w->ifname,
				   strerror(-done));
		done = 0;
	}
	for (unsigned int i = 0; i < w->tx_count; i++) {
		struct ft_udp_slot *s = &w->tx->slots[i];

		if (i >= (unsigned int)done) {
			w->counters.udp_tx_dropped++;
		} else if (s->err) {
			w->counters.udp_tx_errors++;
			FT_LOG_RATELIMITED(now_ms(), FT_LOG_WARNING, "%s: send: %s", w->ifname,
					   strerror(-s->err));
		} else {
			w->counters.udp_tx_datagrams++;
			if (w->tx_peer[i]) {
				w->tx_peer[i]->tx_pkts++;
				w->tx_peer[i]->tx_bytes += s->len;
				mark_dirty(w, w->tx_peer[i]);
			}
		}
		/* Zero-copy slots pointed into the TUN slots: give each its own buffer back. */
		s->iov.iov_base = w->tx_own[i];
	}
	w->tx_count = 0;
}

/* Queues one datagram; copy it unless it lives in a TUN slot until the batch is flushed. */
static void tx_append(struct ft_worker *w, struct wpeer *wp, uint8_t *data, size_t len,
		      const struct sockaddr *dst, bool copy)
{
	struct ft_udp_slot *s;
	socklen_t dlen = ft_peer_sockaddr_len(dst);

	if (dlen == 0 || len > w->slot_size) {
		w->counters.udp_tx_errors++;
		return;
	}
	if (w->tx_count == w->tx->n)
		tx_flush(w);
	s = &w->tx->slots[w->tx_count];
	if (copy)
		memcpy(s->iov.iov_base, data, len);
	else
		s->iov.iov_base = data;
	s->len = len;
	memset(&s->addr, 0, sizeof(s->addr));
	memcpy(&s->addr, dst, dlen);
	w->tx_peer[w->tx_count++] = wp;
}

/* The protocol's own datagrams: valid only during the call, so they are copied. */
static void proto_send_cb(void *arg, struct ft_peer *peer, const uint8_t *msg, size_t len,
			  const struct sockaddr *dst)
{
	struct ft_worker *w = arg;

	tx_append(w, find_wpeer(w, peer), (uint8_t *)(uintptr_t)msg, len, dst, true);
}

static void on_proto_timer(uv_timer_t *t);

static void arm_proto_timer(struct ft_worker *w)
{
	uint64_t d = ft_proto_next_deadline(w->proto), now, ms;

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

/* Every callback ends the same way: send what is queued, count it, re-arm the timer. */
void ft_worker_end_batch(struct ft_worker *w)
{
	tx_flush(w);
	flush_physical(w);
	arm_proto_timer(w);
}

void ft_worker_flush_all(struct ft_worker *w)
{
	tx_flush(w);
	flush_physical(w);
}

static void on_proto_timer(uv_timer_t *t)
{
	struct ft_worker *w = t->data;

	w->armed_deadline = 0;
	ft_proto_tick(w->proto, ft_worker_now_ns());
	for (size_t i = 0; i < w->n_peers; i++)
		ft_worker_path_state(w, &w->peers[i], ft_worker_now_ns());
	ft_worker_end_batch(w);
}

/*
 * Counts and encrypts tun slots [0..n) and sends them. The send batch points into the slots,
 * so it is flushed here: the caller reuses the slots next.
 */
static void outbound(struct ft_worker *w, unsigned int n)
{
	size_t nstat = 0;
	uint64_t now;

	/* Count before encrypting: encryption overwrites the headers in place. */
	for (unsigned int i = 0; i < n; i++) {
		if (w->tun_len[i] > w->mtu)
			continue;
		w->stat_pkts[nstat] = w->tun_iov[i].iov_base;
		w->stat_lens[nstat++] = w->tun_len[i];
	}
	if (w->stats)
		ft_connstats_update_tx_virtual_batch(w->stats, w->stat_pkts, w->stat_lens, nstat);
	now = ft_worker_now_ns();
	for (unsigned int i = 0; i < n; i++) {
		struct ft_proto_result res;

		if (w->tun_len[i] > w->mtu) {
			w->counters.tun_oversized++;
			continue;
		}
		if (ft_proto_send(w->proto, w->tun_slot[i], w->tun_len[i], w->slot_size, now,
				  &res) == FT_PROTO_SEND)
			tx_append(w, find_wpeer(w, res.peer), res.data, res.len, res.dst, false);
	}
	tx_flush(w);
}

/* A TUN whose interface was deleted answers EBADFD (EIO on older kernels). */
static bool tun_read_failed(struct ft_worker *w, int err)
{
	if (err == -EBADFD || err == -EIO) {
		uv_poll_stop(&w->tun_poll);
		report_gone(w, "the interface was deleted");
	} else if (err != -EAGAIN) {
		FT_LOG_RATELIMITED(now_ms(), FT_LOG_WARNING, "%s: read: %s", w->ifname,
				   strerror(-err));
	}
	return true;
}

/*
 * With offloads: each read is one super-packet (up to 64 KiB of TCP or UDP behind a vnet
 * header), split into MTU-sized segments in the slots: one read instead of up to 45.
 */
static void on_tun_vnet(struct ft_worker *w)
{
	unsigned int used = 0;

	for (int reads = 0; reads < FT_WORKER_BATCH; reads++) {
		ssize_t r = read(w->tun_fd, w->tun_read_buf,
				 FT_OFFLOAD_VNET_HDR_LEN + FT_OFFLOAD_MAX_LEN);
		struct ft_vnet_hdr vh;
		int k;

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			tun_read_failed(w, -errno);
			break;
		}
		if (ft_offload_parse_vnet(w->tun_read_buf, (size_t)r, &vh) < 0) {
			w->counters.tun_bad_vnet++;
			continue;
		}
		for (;;) {
			k = ft_offload_segment(w->tun_read_buf + FT_OFFLOAD_VNET_HDR_LEN,
					       (size_t)r - FT_OFFLOAD_VNET_HDR_LEN, &vh,
					       w->tun_slot + used, FT_WORKER_TUN_SLOTS - used,
					       FT_PROTO_HEADROOM, w->mtu, w->tun_len + used);
			if (k != -ENOBUFS || used == 0)
				break;
			/* Not enough slots left: send what they hold, then split again. */
			outbound(w, used);
			used = 0;
		}
		if (k < 0) {
			if (k == -EMSGSIZE)
				w->counters.tun_oversized++;
			else
				w->counters.tun_bad_vnet++;
			continue;
		}
		w->counters.tun_rx_packets += (uint64_t)k;
		if (vh.gso_type != FT_VNET_GSO_NONE)
			w->counters.tun_gso_reads++;
		used += (unsigned int)k;
	}
	if (used)
		outbound(w, used);
	ft_worker_end_batch(w);
}

static void on_tun(uv_poll_t *h, int status, int events)
{
	struct ft_worker *w = h->data;
	int n;

	if (status < 0) {
		FT_LOG_RATELIMITED(now_ms(), FT_LOG_WARNING, "%s: poll: %s", w->ifname,
				   uv_strerror(status));
		return;
	}
	if (w->vnet) {
		on_tun_vnet(w);
		return;
	}
	n = ft_tundev_read_batch(w->tun_fd, w->tun_iov, w->tun_len, FT_WORKER_BATCH);
	if (n <= 0) {
		if (n < 0)
			tun_read_failed(w, n);
		return;
	}
	w->counters.tun_rx_packets += (uint64_t)n;
	outbound(w, (unsigned int)n);
	ft_worker_end_batch(w);
}

/* A packet for the TUN: at once without offloads, else gathered for coalescing. */
static void gro_flush(struct ft_worker *w);

static void tun_deliver(struct ft_worker *w, uint8_t *pkt, size_t len)
{
	if (w->vnet) {
		/* UDP_GRO can hand one batch many more packets than the table holds. */
		if (w->n_gro == FT_WORKER_BATCH)
			gro_flush(w);
		w->gro_in[w->n_gro].iov_base = pkt;
		w->gro_in[w->n_gro++].iov_len = len;
		return;
	}
	if (ft_tundev_write(w->tun_fd, pkt, len) < 0)
		w->counters.tun_write_dropped++;
	else
		w->counters.tun_tx_packets++;
}

static void tun_write_vnet(struct ft_worker *w, const struct iovec *iov, int cnt,
			   unsigned int packets)
{
	ssize_t r;

	do {
		r = writev(w->tun_fd, iov, cnt);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		w->counters.tun_write_dropped += packets;
	else
		w->counters.tun_tx_packets += packets;
}

/* The gathered packets of one receive batch, coalesced into super-packets where they can be. */
static void gro_flush(struct ft_worker *w)
{
	static const uint8_t zero_hdr[FT_OFFLOAD_VNET_HDR_LEN];
	size_t need = (size_t)w->n_gro * FT_OFFLOAD_VNET_HDR_LEN;
	unsigned int n = w->n_gro;
	int k = -ENOBUFS;

	if (n == 0)
		return;
	w->n_gro = 0;
	for (unsigned int i = 0; i < n; i++)
		need += w->gro_in[i].iov_len;
	if (need <= w->gro_arena_len)
		k = ft_offload_coalesce(w->gro_in, n, w->gro_arena, w->gro_arena_len, w->gro_out,
					FT_WORKER_BATCH);
	if (k < 0) {
		/* Too big to coalesce here: each packet alone, behind an empty header. */
		for (unsigned int i = 0; i < n; i++) {
			struct iovec iov[2] = {
				{ .iov_base = (void *)(uintptr_t)zero_hdr,
				  .iov_len = sizeof(zero_hdr) },
				w->gro_in[i],
			};

			tun_write_vnet(w, iov, 2, 1);
		}
		return;
	}
	for (int i = 0; i < k; i++) {
		struct ft_vnet_hdr vh;
		unsigned int packets = 1;

		if (ft_offload_parse_vnet(w->gro_out[i].iov_base, w->gro_out[i].iov_len, &vh) ==
			    0 &&
		    vh.gso_type != FT_VNET_GSO_NONE && vh.gso_size) {
			size_t payload =
				w->gro_out[i].iov_len - FT_OFFLOAD_VNET_HDR_LEN - vh.csum_start;

			packets = (unsigned int)((payload + vh.gso_size - 1) / vh.gso_size);
			w->counters.tun_gro_writes++;
		}
		tun_write_vnet(w, &w->gro_out[i], 1, packets);
	}
}

/*
 * Under load: more than FT_WORKER_LOAD_INITIATIONS initiations in a second, and for a second
 * after that. The protocol then asks for cookies (mac2) before any DH work.
 */
static bool under_load(struct ft_worker *w, uint64_t now, bool initiation)
{
	if (now - w->load_window_ns >= 1000000000ULL) {
		w->load_window_ns = now;
		w->load_count = 0;
	}
	if (initiation && ++w->load_count > FT_WORKER_LOAD_INITIATIONS)
		w->under_load_until_ns = now + 1000000000ULL;
	return now < w->under_load_until_ns;
}

static void inbound(struct ft_worker *w, uint8_t *msg, size_t len,
		    const struct sockaddr_storage *from, uint64_t now)
{
	struct ft_proto_result res;
	enum ft_proto_action act;
	struct wpeer *wp;
	bool load;

	w->counters.udp_rx_datagrams++;
	load = under_load(w, now, len > 0 && msg[0] == FT_WIRE_INITIATION);
	act = ft_proto_receive(w->proto, msg, len, (const struct sockaddr *)from, now, load,
			       w->reply, sizeof(w->reply), &res);
	if (act == FT_PROTO_DROP)
		return;
	wp = find_wpeer(w, res.peer);
	if (wp) {
		wp->rx_pkts++;
		wp->rx_bytes += len;
		memcpy(&wp->rx_from, from, sizeof(*from));
		mark_dirty(w, wp);
	}
	if (act == FT_PROTO_PACKET) {
		if (w->stats)
			ft_connstats_update_rx_virtual(w->stats, res.data, res.len);
		tun_deliver(w, res.data, res.len);
	} else if (act == FT_PROTO_REPLY) {
		tx_append(w, wp, res.data, res.len, res.dst, true);
	}
}

static void on_udp(uv_poll_t *h, int status, int events)
{
	struct ft_worker *w = ((struct udp_handle *)h->data)->w;
	uint64_t now;
	int n;

	if (status < 0) {
		FT_LOG_RATELIMITED(now_ms(), FT_LOG_WARNING, "%s: poll: %s", w->ifname,
				   uv_strerror(status));
		return;
	}
	n = ft_udp_recv_batch(&w->udp, w->rx);
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
	gro_flush(w);
	ft_worker_end_batch(w);
}

/* ---- flow records ----------------------------------------------------------------------- */

static bool prefix_contains(const struct ft_rtnl_prefix *p, const struct ft_addr *a)
{
	unsigned int full, rest;

	if (p->family != a->family)
		return false;
	full = p->len / 8;
	rest = p->len % 8;
	if (memcmp(p->addr.bytes, a->bytes, full) != 0)
		return false;
	return rest == 0 || ((p->addr.bytes[full] ^ a->bytes[full]) & (0xff00 >> rest) & 0xff) == 0;
}

/*
 * Overlay: inside one of our own address prefixes, a peer's host route (/32, /128: its
 * overlay address), or link-scoped (link-local, multicast). Subnet: routed to a peer otherwise. Everything else went to or came from
 * beyond an exit peer.
 */
static bool link_scoped(const struct ft_addr *a)
{
	if (a->family == AF_INET)
		return (a->bytes[0] == 169 && a->bytes[1] == 254) || (a->bytes[0] & 0xf0) == 224;
	return a->family == AF_INET6 &&
	       (a->bytes[0] == 0xff || (a->bytes[0] == 0xfe && (a->bytes[1] & 0xc0) == 0x80));
}

static enum ft_flowlog_addr_kind classify(void *arg, const struct ft_addr *a)
{
	struct ft_worker *w = arg;

	/* Link-local and multicast (router solicitations, mDNS) stay on the tunnel's link. */
	if (link_scoped(a))
		return FT_FLOWLOG_OVERLAY;

	for (size_t i = 0; i < w->n_addrs; i++)
		if (prefix_contains(&w->addrs[i], a))
			return FT_FLOWLOG_OVERLAY;
	for (size_t i = 0; i < w->n_peers; i++)
		for (size_t j = 0; j < w->peers[i].n_routes; j++) {
			const struct ft_rtnl_prefix *r = &w->peers[i].routes[j];

			if (r->len == (r->family == AF_INET ? 32 : 128) && prefix_contains(r, a))
				return FT_FLOWLOG_OVERLAY;
		}
	if (a->family &&
	    ft_allowedips_lookup(ft_proto_allowedips(w->proto), a->family, a->bytes) != NULL)
		return FT_FLOWLOG_SUBNET;
	return FT_FLOWLOG_OTHER;
}

static void on_dump(void *arg, uint64_t start_ms, uint64_t end_ms, const struct ft_conn_entry *v,
		    size_t nv, const struct ft_conn_entry *p, size_t np)
{
	struct ft_worker *w = arg;
	struct ft_flowlog_meta meta = {
		.node_id = w->node_id,
		.node_name = w->node_name[0] ? w->node_name : NULL,
		.classify = classify,
		.classify_arg = w,
	};

	if (w->flow)
		ft_flowwriter_write_dump(w->flow, &meta, start_ms, end_ms, v, nv, p, np);
	if (w->ipfix)
		ft_ipfix_exporter_export(w->ipfix, start_ms, end_ms, v, nv, p, np);
}

static void on_flow_error(void *arg, int err, const char *op, uint64_t lost)
{
	struct ft_worker *w = arg;

	ft_log_warnx("flow log '%s': %s: %s (%" PRIu64 " messages lost so far)", w->flow_dest, op,
		     strerror(-err), lost);
}

static int flow_start(struct ft_worker *w, const char *dest, char *err, size_t errlen)
{
	struct ft_flowwriter_config fc = { .error_cb = on_flow_error, .arg = w };

	if (!dest)
		return 0;
	if (!(w->flow_dest = strdup(dest)))
		return -ENOMEM;
	fc.path = strcmp(dest, "syslog") == 0 ? NULL : dest;
	w->flow = ft_flowwriter_create(w->loop, &fc);
	if (!w->flow) {
		snprintf(err, errlen, "flow log '%s': %s", dest, strerror(errno));
		return -errno;
	}
	return 0;
}

static int ipfix_start(struct ft_worker *w, const struct ft_config *cfg, char *err, size_t errlen)
{
	struct sockaddr_storage collectors[FT_WORKER_MAX_IPFIX];
	struct ft_ipfix_config ic = {
		.collectors = collectors,
		.template_refresh_ms = (uint64_t)cfg->ipfix_template_interval * 1000,
		.arg = w, /* for on_ipfix_closed */
	};
	int rc;

	if (cfg->n_ipfix == 0)
		return 0;
	if (cfg->n_ipfix > FT_WORKER_MAX_IPFIX) {
		snprintf(err, errlen, "at most %d IPFIX collectors", FT_WORKER_MAX_IPFIX);
		return -EINVAL;
	}
	for (size_t i = 0; i < cfg->n_ipfix; i++) {
		rc = ft_ipfix_parse_collector(cfg->ipfix[i], &collectors[i]);
		if (rc < 0) {
			snprintf(err, errlen, "IPFIX collector '%s': %s", cfg->ipfix[i],
				 strerror(-rc));
			return rc;
		}
		if (!(w->ipfix_names[i] = strdup(cfg->ipfix[i])))
			return -ENOMEM;
		w->n_ipfix = i + 1;
	}
	ic.n_collectors = cfg->n_ipfix;
	/* The observation domain: the interface, so two tunnels of one host stay apart. */
	ic.domain_id = (uint32_t)w->ifindex;
	w->ipfix = ft_ipfix_exporter_create(w->loop, &ic);
	if (!w->ipfix) {
		snprintf(err, errlen, "IPFIX: %s", strerror(errno));
		return -errno;
	}
	rc = ft_ipfix_exporter_start(w->ipfix);
	if (rc < 0) {
		snprintf(err, errlen, "IPFIX: %s", strerror(-rc));
		return rc;
	}
	return 0;
}

/* ---- peers and routes ------------------------------------------------------------------ */

static void wpeer_free(struct wpeer *wp)
{
	free(wp->endpoint_host);
	free(wp->endpoint_port);
	free(wp->routes);
	free(wp->route_added);
	sodium_free(wp->psk);
	memset(wp, 0, sizeof(*wp));
}

int ft_worker_peer_set_psk(struct wpeer *wp, const uint8_t *psk)
{
	if (!psk) {
		sodium_free(wp->psk);
		wp->psk = NULL;
		return 0;
	}
	if (!wp->psk && !(wp->psk = sodium_malloc(FT_KEY_LEN)))
		return -ENOMEM;
	memcpy(wp->psk, psk, FT_KEY_LEN);
	return 0;
}

/* Where the route to the peer's endpoint leaves (for the link monitor). */
static void wpeer_find_path(struct ft_worker *w, struct wpeer *wp)
{
	int ifindex = 0;

	wp->path_ifname[0] = '\0';
	if (wp->peer->endpoint.ss_family == AF_UNSPEC)
		return;
	if (ft_rtnl_route_get(w->rtnl, (const struct sockaddr *)&wp->peer->endpoint, &ifindex) ==
		    0 &&
	    ifindex > 0)
		ft_rtnl_ifname(w->rtnl, ifindex, wp->path_ifname);
}

static int wpeer_resolve(struct ft_worker *w, struct wpeer *wp, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int rc;

	if (!wp->endpoint_host)
		return 0;
	rc = ft_config_resolve_endpoint(wp->endpoint_host, wp->endpoint_port, &ss, &len);
	if (rc < 0) {
		snprintf(err, errlen, "cannot resolve the endpoint '%s' port '%s': %s",
			 wp->endpoint_host, wp->endpoint_port, strerror(-rc));
		return rc;
	}
	rc = ft_proto_peer_set_endpoint(w->proto, wp->peer, (const struct sockaddr *)&ss);
	if (rc < 0) {
		snprintf(err, errlen, "endpoint '%s': %s", wp->endpoint_host, strerror(-rc));
		return rc;
	}
	wpeer_find_path(w, wp);
	return 0;
}

/* The configured AllowedIPs: into the protocol's table, and routes when we manage them. */
static int wpeer_set_routes(struct ft_worker *w, struct wpeer *wp, const struct ft_config_peer *cp,
			    char *err, size_t errlen)
{
	size_t n = cp->n_allowed_ips;
	int rc;

	wp->routes = calloc(n ? n : 1, sizeof(*wp->routes));
	wp->route_added = calloc(n ? n : 1, sizeof(bool));
	if (!wp->routes || !wp->route_added)
		return -ENOMEM;
	wp->n_routes = n;
	for (size_t i = 0; i < n; i++) {
		const struct ft_config_addr *a = &cp->allowed_ips[i];

		config_addr_to_prefix(a, &wp->routes[i]);
		rc = ft_proto_allowedip_add(w->proto, wp->peer, a->family, a->addr, a->cidr);
		if (rc < 0) {
			snprintf(err, errlen, "AllowedIPs of the peer of line %u: %s", cp->line,
				 strerror(-rc));
			return rc;
		}
	}
	if (n && w->manage_routes) {
		rc = ft_rtnl_routes_add(w->rtnl, w->ifindex, w->addrs, (unsigned int)w->n_addrs,
					wp->routes, (unsigned int)n, wp->route_added);
		if (rc < 0) {
			snprintf(err, errlen,
				 "cannot add the routes of the peer of line %u: %s%s%s", cp->line,
				 strerror(-rc), ft_rtnl_last_error(w->rtnl)[0] ? ": " : "",
				 ft_rtnl_last_error(w->rtnl));
			return rc;
		}
	}
	/* The physical stats key a peer by its first AllowedIP: its overlay address. */
	if (n && wp->routes[0].family == AF_INET)
		ft_addr_set_v4(&wp->overlay, wp->routes[0].addr.bytes);
	else if (n)
		ft_addr_set_v6(&wp->overlay, wp->routes[0].addr.bytes);
	return 0;
}

static void wpeer_remove_routes(struct ft_worker *w, struct wpeer *wp)
{
	for (size_t i = 0; i < wp->n_routes; i++) {
		if (wp->route_added[i] && w->ifindex > 0)
			ft_rtnl_route_del(w->rtnl, w->ifindex, &wp->routes[i]);
		wp->route_added[i] = false;
	}
}

static int grow_peers(struct ft_worker *w)
{
	size_t n = w->n_peers + 1;
	struct wpeer *peers = realloc(w->peers, n * sizeof(*peers));
	struct wpeer **dirty;

	if (!peers)
		return -ENOMEM;
	w->peers = peers;
	dirty = realloc(w->dirty, n * sizeof(*dirty));
	if (!dirty)
		return -ENOMEM;
	w->dirty = dirty;
	memset(&w->peers[w->n_peers], 0, sizeof(*peers));
	return 0;
}

/*
 * Adds a peer from pc (the protocol's view) and, for a peer of the config file, cp (its
 * endpoint name, AllowedIPs and routes). Not inside a batch: the peer array may move.
 */
int ft_worker_peer_add(struct ft_worker *w, const struct ft_peer_config *pc,
		       const struct ft_config_peer *cp, char *err, size_t errlen)
{
	struct wpeer *wp;
	int rc;

	if ((rc = grow_peers(w)) < 0)
		return rc;
	wp = &w->peers[w->n_peers];
	rc = ft_proto_peer_add(w->proto, pc, &wp->peer);
	if (rc < 0) {
		snprintf(err, errlen, "cannot add the peer: %s", strerror(-rc));
		return rc;
	}
	w->n_peers++;
	memcpy(wp->public_key, pc->public_key, FT_KEY_LEN);
	wp->keepalive = (uint16_t)pc->persistent_keepalive_s;
	if ((rc = ft_worker_peer_set_psk(wp, pc->preshared_key)) < 0)
		return rc;
	if (pc->endpoint)
		wpeer_find_path(w, wp);
	if (!cp)
		return 0;
	if (cp->endpoint_host) {
		wp->endpoint_host = strdup(cp->endpoint_host);
		wp->endpoint_port = strdup(cp->endpoint_port);
		if (!wp->endpoint_host || !wp->endpoint_port)
			return -ENOMEM;
		if ((rc = wpeer_resolve(w, wp, err, errlen)) < 0)
			return rc;
	}
	return wpeer_set_routes(w, wp, cp, err, errlen);
}

void ft_worker_peer_remove(struct ft_worker *w, struct wpeer *wp)
{
	size_t i = (size_t)(wp - w->peers);

	wpeer_remove_routes(w, wp);
	ft_proto_peer_remove(w->proto, wp->peer);
	wpeer_free(wp);
	/* Keep the array dense: the last peer takes the freed place. */
	if (i != w->n_peers - 1)
		w->peers[i] = w->peers[w->n_peers - 1];
	w->n_peers--;
}

static int config_peer_add(struct ft_worker *w, const struct ft_config_peer *cp, char *err,
			   size_t errlen)
{
	struct ft_peer_config pc = {
		.preshared_key = cp->preshared_key,
		.persistent_keepalive_s = cp->persistent_keepalive,
	};
	int rc;

	memcpy(pc.public_key, cp->public_key, FT_KEY_LEN);
	rc = ft_worker_peer_add(w, &pc, cp, err, errlen);
	if (rc < 0 && !err[0])
		snprintf(err, errlen, "the peer of line %u: %s", cp->line, strerror(-rc));
	return rc;
}

/* ---- link monitor ----------------------------------------------------------------------- */

static void remember_link(struct ft_worker *w, const struct ft_link_iface_sample *li,
			  uint64_t wall_ms)
{
	size_t i;

	for (i = 0; i < w->n_links; i++)
		if (strcmp(w->links[i].name, li->name) == 0)
			break;
	if (i == w->n_links) {
		if (w->n_links == FT_WORKER_MAX_LINKS)
			return;
		snprintf(w->links[i].name, sizeof(w->links[i].name), "%s", li->name);
		w->n_links++;
	}
	w->links[i].state = li->state;
	w->links[i].since_ms = wall_ms;
}

static void on_link(struct ft_link_monitor *mon, const struct ft_link_sample *s, void *arg)
{
	struct ft_worker *w = arg;
	char err[256];

	for (size_t i = 0; i < s->n_ifaces; i++) {
		const struct ft_link_iface_sample *li = &s->ifaces[i];
		bool up = li->state == FT_LINK_UP;

		/*
		 * Our own device is watched only to learn that it was deleted (wg-quick down):
		 * its fd never says so, epoll reports nothing when a TUN device goes.
		 */
		if (strcmp(li->name, w->ifname) == 0) {
			if (li->state == FT_LINK_ERROR && li->err == -ENODEV)
				report_gone(w, "the interface was deleted");
			continue;
		}
		if (!li->changed)
			continue;
		remember_link(w, li, s->wall_ms);
		ft_log(FT_LOG_NOTICE, "underlay %s: %s", li->name, ft_link_state_str(li->state));
		if (s->seq == 0 && up)
			continue; /* the first sample: nothing came back */
		if (up)
			w->counters.link_up_events++;
		else
			w->counters.link_down_events++;
		for (size_t j = 0; j < w->n_peers; j++) {
			struct wpeer *wp = &w->peers[j];

			if (wp->path_ifname[0] && strcmp(wp->path_ifname, li->name) != 0)
				continue;
			wp->path_down = !up;
			if (!up || !w->link_reaction)
				continue;
			/*
			 * The link is back: the endpoint may have moved, and waiting for the
			 * retry timer would waste up to REKEY_TIMEOUT.
			 */
			if (wpeer_resolve(w, wp, err, sizeof(err)) < 0)
				ft_log_warnx("%s", err);
			ft_proto_peer_initiate(w->proto, wp->peer, ft_worker_now_ns());
		}
	}
	ft_worker_end_batch(w);
}

/*
 * Watches the underlay interfaces (LinkWatch, or those the routes to the peers leave through)
 * and, always, our own device, whose deletion is the signal to go.
 */
static void link_start(struct ft_worker *w, const struct ft_config *cfg, bool underlay)
{
	const char *names[FT_WORKER_MAX_LINKS + 1];
	size_t n = 0;
	struct ft_link_monitor_options o = {
		.period_ms = (uint64_t)cfg->link_poll_interval * 1000,
	};
	int rc;

	names[n++] = w->ifname;
	if (underlay && cfg->n_link_watch) {
		for (size_t i = 0; i < cfg->n_link_watch && n <= FT_WORKER_MAX_LINKS; i++)
			if (strcmp(cfg->link_watch[i], w->ifname) != 0)
				names[n++] = cfg->link_watch[i];
	} else if (underlay) {
		for (size_t i = 0; i < w->n_peers && n <= FT_WORKER_MAX_LINKS; i++) {
			bool dup = false;

			if (!w->peers[i].path_ifname[0])
				continue;
			for (size_t j = 0; j < n; j++)
				dup = dup || strcmp(names[j], w->peers[i].path_ifname) == 0;
			if (!dup)
				names[n++] = w->peers[i].path_ifname;
		}
	}
	o.ifnames = names;
	o.n_ifnames = n;
	rc = ft_link_monitor_create(&w->link, w->loop, &o, on_link, w);
	if (rc == 0)
		rc = ft_link_monitor_start(w->link);
	if (rc < 0) {
		ft_log_warnx("link monitor: %s (carrying on without it)", strerror(-rc));
		return;
	}
	for (size_t i = 1; i < n; i++)
		ft_log_info("watching the link of %s", names[i]);
}

/* ---- the userspace API socket ------------------------------------------------------------ */

static void on_uapi_gone(void *arg)
{
	report_gone(arg, "the userspace API socket was removed");
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

static int udp_poll_start(struct ft_worker *w)
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
	return uv_poll_start(&uh->poll, UV_READABLE, on_udp);
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
		ft_udp_set_offloads(&w->udp, true, true);
	return udp_poll_start(w);
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
	ft_log_info("%s: offloads%s%s%s%s", w->ifname, w->offloads ? "" : " none",
		    w->offloads & FT_TUN_F_CSUM ? " csum" : "",
		    w->offloads & FT_TUN_F_TSO4 ? " tso4 tso6" : "",
		    w->offloads & FT_TUN_F_USO4 ? " uso4 uso6" : "");
}

static int setup_device(struct ft_worker *w, const struct ft_config *cfg, char *err, size_t errlen)
{
	int rc;

	rc = ft_rtnl_create(&w->rtnl);
	if (rc < 0) {
		snprintf(err, errlen, "rtnetlink: %s", strerror(-rc));
		return rc;
	}
	rc = ft_tundev_open(w->ifname, w->vnet ? FT_TUNDEV_VNET_HDR : 0, w->ifname);
	if (rc < 0) {
		snprintf(err, errlen, "cannot create the TUN device '%s': %s%s", w->ifname,
			 strerror(-rc), rc == -EPERM ? " (needs root or CAP_NET_ADMIN)" : "");
		return rc;
	}
	w->tun_fd = rc;
	if (w->vnet)
		setup_offloads(w);
	w->ifindex = ft_rtnl_ifindex(w->rtnl, w->ifname);
	if (w->ifindex < 0) {
		snprintf(err, errlen, "%s: %s", w->ifname, strerror(-w->ifindex));
		return w->ifindex;
	}
	rc = ft_rtnl_link_set_mtu(w->rtnl, w->ifindex, w->mtu);
	if (rc < 0) {
		snprintf(err, errlen, "MTU %u on %s: %s", w->mtu, w->ifname, strerror(-rc));
		return rc;
	}
	rc = ft_rtnl_link_set_up(w->rtnl, w->ifindex, true);
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

		config_addr_to_prefix(&cfg->addresses[i], &w->addrs[i]);
		rc = ft_rtnl_addr_add(w->rtnl, w->ifindex, &w->addrs[i]);
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
	rc = ft_udp_open(&w->udp, NULL, cfg->listen_port, 0);
	if (rc < 0) {
		snprintf(err, errlen, "cannot open the UDP socket on port %u: %s", cfg->listen_port,
			 strerror(-rc));
		return rc;
	}
	if (w->vnet)
		ft_udp_set_offloads(&w->udp, true, true);
	w->fwmark = cfg->fwmark;
	if (w->fwmark && (rc = ft_worker_set_fwmark(&w->udp, w->fwmark)) < 0) {
		snprintf(err, errlen, "FwMark %u: %s", w->fwmark, strerror(-rc));
		return rc;
	}
	return 0;
}

static int setup_buffers(struct ft_worker *w)
{
	w->slot_size = FT_PROTO_HEADROOM + w->mtu + FT_PROTO_TAILROOM;
	/* Round up to a cache line so that slots do not share one. */
	w->slot_size = (w->slot_size + 63) & ~(size_t)63;
	w->tun_block = malloc(w->slot_size * FT_WORKER_TUN_SLOTS);
	w->rx = ft_udp_batch_create(FT_WORKER_BATCH, FT_WORKER_RX_BUF);
	w->tx = ft_udp_batch_create(FT_WORKER_TX_SLOTS, w->slot_size);
	if (!w->tun_block || !w->rx || !w->tx)
		return -ENOMEM;
	for (unsigned int i = 0; i < FT_WORKER_TUN_SLOTS; i++) {
		w->tun_slot[i] = w->tun_block + i * w->slot_size;
		/* One byte past the MTU tells an oversized packet from one that fits. */
		w->tun_iov[i].iov_base = w->tun_slot[i] + FT_PROTO_HEADROOM;
		w->tun_iov[i].iov_len = w->mtu + 1;
	}
	for (unsigned int i = 0; i < FT_WORKER_TX_SLOTS; i++)
		w->tx_own[i] = w->tx->slots[i].iov.iov_base;
	if (w->vnet) {
		w->tun_read_buf = malloc(FT_OFFLOAD_VNET_HDR_LEN + FT_OFFLOAD_MAX_LEN);
		w->gro_arena_len = FT_WORKER_BATCH * (w->slot_size + FT_OFFLOAD_VNET_HDR_LEN);
		w->gro_arena = malloc(w->gro_arena_len);
		if (!w->tun_read_buf || !w->gro_arena)
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
		wpeer_free(&w->peers[i]);
	free(w->peers);
	free(w->dirty);
	free(w->addrs);
	free(w->addr_added);
	ft_proto_destroy(w->proto);
	sodium_free(w->private_key);
	if (w->tun_fd >= 0)
		close(w->tun_fd);
	ft_udp_close(&w->udp);
	if (w->rtnl)
		ft_rtnl_destroy(w->rtnl);
	free(w->flow_dest);
	for (size_t i = 0; i < w->n_ipfix; i++)
		free(w->ipfix_names[i]);
	free(w->config_path);
	free(w->tun_block);
	free(w->tun_read_buf);
	free(w->gro_arena);
	ft_udp_batch_destroy(w->rx);
	ft_udp_batch_destroy(w->tx);
	free(w);
}

/*
 * Routes and addresses this worker added; closing the TUN would take them too, but a
 * persistent device would keep them.
 */
static void remove_config(struct ft_worker *w)
{
	for (size_t i = 0; i < w->n_peers; i++)
		wpeer_remove_routes(w, &w->peers[i]);
	for (size_t i = 0; i < w->n_addrs && w->ifindex > 0; i++)
		if (w->addr_added[i])
			ft_rtnl_addr_del(w->rtnl, w->ifindex, &w->addrs[i]);
}

static void release(struct ft_worker *w);

int ft_worker_create(struct ft_worker **out, uv_loop_t *loop, const struct ft_config *cfg,
		     const struct ft_worker_options *opts, char *err, size_t errlen)
{
	struct ft_proto_config pcfg = { .send = proto_send_cb };
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
	w->mtu = cfg->mtu ? cfg->mtu : FT_CONFIG_DEFAULT_MTU;
	w->link_reaction = !opts->no_link_reaction;
	w->manage_routes = !opts->no_routes;
	w->vnet = cfg->offload && !opts->no_offload;
	w->gone = opts->gone;
	w->gone_arg = opts->gone_arg;
	snprintf(w->ifname, sizeof(w->ifname), "%s", opts->ifname);
	if (opts->config_path && !(w->config_path = strdup(opts->config_path)))
		goto fail;
	gethostname(w->node_name, sizeof(w->node_name) - 1);

	if ((rc = setup_buffers(w)) < 0)
		goto fail;
	pcfg.send_arg = w;
	pcfg.mtu = w->mtu;
	w->proto = ft_proto_create(&pcfg);
	if (!w->proto) {
		rc = -ENOMEM;
		goto fail;
	}
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
	for (size_t i = 0; i < cfg->n_peers; i++)
		if ((rc = config_peer_add(w, &cfg->peers[i], err, errlen)) < 0)
			goto fail;
	if ((rc = flow_start(w, cfg->flow_log, err, errlen)) < 0)
		goto fail;
	if ((rc = ipfix_start(w, cfg, err, errlen)) < 0)
		goto fail;
	if (cfg->statistics && (w->flow || w->ipfix)) {
		w->stats = ft_connstats_create(loop, (uint64_t)cfg->flow_log_interval * 1000,
					       cfg->flow_log_max_conns, on_dump, w);
		if (!w->stats) {
			rc = -errno;
			snprintf(err, errlen, "statistics: %s", strerror(errno));
			goto fail;
		}
	}
	if ((rc = uapi_start(w, opts, err, errlen)) < 0)
		goto fail;

	uv_poll_init(loop, &w->tun_poll, w->tun_fd);
	uv_timer_init(loop, &w->proto_timer);
	w->tun_poll.data = w->proto_timer.data = w;
	w->handles_ready = true;
	if ((rc = udp_poll_start(w)) < 0) {
		snprintf(err, errlen, "poll: %s", uv_strerror(rc));
		goto fail;
	}
	uv_poll_start(&w->tun_poll, UV_READABLE, on_tun);
	link_start(w, cfg, !opts->no_link_monitor);
	/* Persistent keepalives start at once, as with wg-quick. */
	for (size_t i = 0; i < w->n_peers; i++)
		if (cfg->peers[i].persistent_keepalive)
			ft_proto_peer_set_persistent_keepalive(w->proto, w->peers[i].peer,
							       cfg->peers[i].persistent_keepalive,
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
	/* Whatever the last batch queued goes out, then the final statistics flush. */
	ft_worker_flush_all(w);
	w->pending_closes = 1; /* ourselves, released at the end of this function */
	if (w->stats) {
		w->pending_closes++;
		/* The final dump (on_dump hands it to the writers) happens inside this call. */
		ft_connstats_close(w->stats, on_stats_closed);
		w->stats = NULL;
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
	if (w->link) {
		ft_link_monitor_close(w->link, on_link_closed);
		w->link = NULL;
	}
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
	release(w);
}

/* ---- reload ----------------------------------------------------------------------------- */

static int reload_peer(struct ft_worker *w, struct wpeer *wp, const struct ft_config_peer *cp,
		       char *err, size_t errlen)
{
	struct ft_peer *peer = wp->peer;
	int rc;

	ft_proto_peer_set_preshared_key(w->proto, peer, cp->preshared_key);
	if ((rc = ft_worker_peer_set_psk(wp, cp->preshared_key)) < 0)
		return rc;
	ft_proto_peer_set_persistent_keepalive(w->proto, peer, cp->persistent_keepalive,
					       ft_worker_now_ns());
	wp->keepalive = cp->persistent_keepalive;
	free(wp->endpoint_host);
	free(wp->endpoint_port);
	wp->endpoint_host = cp->endpoint_host ? strdup(cp->endpoint_host) : NULL;
	wp->endpoint_port = cp->endpoint_port ? strdup(cp->endpoint_port) : NULL;
	if (cp->endpoint_host && (!wp->endpoint_host || !wp->endpoint_port))
		return -ENOMEM;
	if (wp->endpoint_host && wpeer_resolve(w, wp, err, errlen) < 0)
		ft_log_warnx("%s", err);
	/* AllowedIPs: the new set replaces the old; routes follow. */
	for (size_t i = 0; i < wp->n_routes; i++)
		ft_proto_allowedip_remove(w->proto, wp->routes[i].family, wp->routes[i].addr.bytes,
					  wp->routes[i].len);
	wpeer_remove_routes(w, wp);
	free(wp->routes);
	free(wp->route_added);
	wp->routes = NULL;
	wp->route_added = NULL;
	wp->n_routes = 0;
	return wpeer_set_routes(w, wp, cp, err, errlen);
}

int ft_worker_reload(struct ft_worker *w, const struct ft_config *cfg, char *err, size_t errlen)
{
	bool *keep;
	int rc = 0;

	err[0] = '\0';
	if (w->closing)
		return -ESHUTDOWN;
	ft_worker_flush_all(w);
	/* Peers that are no longer in the file go; the others keep their sessions. */
	keep = calloc(w->n_peers ? w->n_peers : 1, sizeof(*keep));
	if (!keep)
		return -ENOMEM;
	for (size_t i = 0; i < w->n_peers; i++)
		for (size_t j = 0; j < cfg->n_peers && !keep[i]; j++)
			keep[i] = sodium_memcmp(w->peers[i].public_key, cfg->peers[j].public_key,
						FT_KEY_LEN) == 0;
	for (size_t i = w->n_peers; i-- > 0;) {
		if (keep[i])
			continue;
		ft_log_info("%s: peer removed by reload", w->ifname);
		ft_worker_peer_remove(w, &w->peers[i]);
	}
	free(keep);
	for (size_t j = 0; j < cfg->n_peers && rc == 0; j++) {
		struct wpeer *wp = ft_worker_find_peer_by_key(w, cfg->peers[j].public_key);

		if (wp)
			rc = reload_peer(w, wp, &cfg->peers[j], err, errlen);
		else
			rc = config_peer_add(w, &cfg->peers[j], err, errlen);
	}
	/* The flow log may have been moved by logrotate. */
	if (w->flow)
		ft_flowwriter_reopen(w->flow);
	if (rc == 0 && (cfg->mtu != w->mtu || cfg->listen_port != w->udp.port ||
			cfg->n_addresses != w->n_addrs ||
			(cfg->flow_log && w->flow_dest && strcmp(cfg->flow_log, w->flow_dest)))) {
		snprintf(err, errlen,
			 "MTU, Address, ListenPort and FlowLog changes need a restart");
		ft_log_warnx("%s: %s", w->config_path ? w->config_path : w->ifname, err);
	}
	ft_worker_end_batch(w);
	return rc;
}

const char *ft_worker_ifname(const struct ft_worker *w)
{
	return w->ifname;
}

uint16_t ft_worker_listen_port(const struct ft_worker *w)
{
	return w->udp.port;
}

const struct ft_worker_counters *ft_worker_counters(const struct ft_worker *w)
{
	return &w->counters;
}
