// SPDX-License-Identifier: MIT
/*
 * The peers' part of the worker's metrics (metrics.c has the rest): the families of
 * prometheus_wireguard_exporter (wireguard_sent_bytes_total, wireguard_received_bytes_total,
 * wireguard_latest_handshake_seconds, labelled interface, public_key and allowed_ips) and the
 * peers' path state.
 *
 * A scrape of many peers is built in slices of about FT_METRICS_SLICE_NS, one per loop
 * iteration, so that packets are served in between (tun/ctl/metrics_server.c runs them):
 *
 *   COPY       each peer's counters, state and key into a row, and its peer pointer into a
 *              hash; if a peer is added or removed between two slices (peers_generation), the
 *              copy starts again (after RESTARTS_MAX restarts it finishes in one go)
 *   PREFIXES   one pass over the AllowedIPs table, in one go, hangs each prefix on its peer's
 *              row (the hash; the pointer is compared, never followed)
 *   LABELS     the label set of each row, once
 *   SENT ...   the samples of each per-peer family
 *
 * From PREFIXES on nothing of the worker is read: peers may come and go meanwhile.
 *
 * Cost: a scrape of N peers with P prefixes is O(N + P) with a handful of allocations whatever N,
 * freed at the end; the label set of each peer is written once and copied into each of its
 * samples, written by hand (no printf per sample).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tun/wg/allowedips.h"
#include "tun/worker/internal.h"

#define FAMILY(var, name, type, unit, help) \
	static const struct ft_metrics_family var = { name, type, unit, help }

FAMILY(fam_sent, "wireguard_sent_bytes", FT_METRICS_COUNTER, "bytes", "Bytes sent to the peer");
FAMILY(fam_received, "wireguard_received_bytes", FT_METRICS_COUNTER, "bytes",
       "Bytes received from the peer");
FAMILY(fam_handshake, "wireguard_latest_handshake_seconds", FT_METRICS_GAUGE, "seconds",
       "UNIX time of the latest handshake with the peer (0: none yet)");
FAMILY(fam_path_state, "flowtun_peer_path_state", FT_METRICS_GAUGE, NULL,
       "The path to the peer: 1 for its current state (up, link-down, handshake-failing, "
       "no-session)");
FAMILY(fam_path_since, "flowtun_peer_path_state_since_seconds", FT_METRICS_GAUGE, "seconds",
       "UNIX time the peer's path state began");
FAMILY(fam_path_mtu, "flowtun_peer_path_mtu_bytes", FT_METRICS_GAUGE, "bytes",
       "The underlay path MTU to the peer's endpoint as flowtun uses it (0: not known)");

enum {
	CLOCK_EVERY = 64, /* items between two looks at the clock */
	RESTARTS_MAX = 3,
	STAGE_COPY = 0,
	STAGE_PREFIXES,
	STAGE_LABELS,
	STAGE_SENT,
	STAGE_RECEIVED,
	STAGE_HANDSHAKE,
	STAGE_PATH_STATE,
	STAGE_PATH_SINCE,
	STAGE_PATH_MTU,
	STAGE_DONE,
};

struct row {
	const struct ft_peer *peer; /* the owner of the prefixes: compared, never followed */
	uint8_t key[FT_KEY_LEN];
	uint64_t tx, rx, handshake, since, path_mtu;
	enum ft_path_state state;
	int32_t first, last;	      /* its prefixes in scrape.pfx; -1: none */
	size_t set;		      /* its label set in the arena */
	uint32_t short_len, full_len; /* interface,public_key; and allowed_ips */
};

struct pfx {
	int32_t next; /* the peer's next prefix, -1 at the end */
	uint8_t family, cidr;
	uint8_t addr[16];
};

struct ft_worker_scrape {
	struct ft_worker *w;
	uint64_t generation; /* of the peers being copied */
	unsigned int restarts;
	struct row *rows;
	size_t n;
	uint32_t *slots; /* open addressing: a peer pointer's row + 1; 0 empty */
	size_t mask;
	struct pfx *pfx;
	size_t n_pfx, cap_pfx;
	struct ft_metrics_buf arena, iface;
	int stage;
	size_t next;
};

void ft_worker_scrape_free(struct ft_worker_scrape *sc)
{
	if (!sc)
		return;
	free(sc->rows);
	free(sc->slots);
	free(sc->pfx);
	ft_metrics_buf_release(&sc->arena);
	ft_metrics_buf_release(&sc->iface);
	free(sc);
}

static size_t slot_of(const struct ft_worker_scrape *sc, const struct ft_peer *peer)
{
	return (size_t)(((uint64_t)(uintptr_t)peer * 0x9e3779b97f4a7c15ULL) >> 20) & sc->mask;
}

static int hang_prefix(void *arg, struct ft_peer *peer, int family, const uint8_t *addr,
		       uint8_t cidr)
{
	struct ft_worker_scrape *sc = arg;
	struct pfx *e;
	struct row *r;
	size_t i;

	for (i = slot_of(sc, peer); sc->slots[i]; i = (i + 1) & sc->mask)
		if (sc->rows[sc->slots[i] - 1].peer == peer)
			break;
	if (!sc->slots[i] || sc->n_pfx == sc->cap_pfx)
		return 0; /* a prefix of no peer we copied: cannot be, but never fatal */
	r = &sc->rows[sc->slots[i] - 1];
	e = &sc->pfx[sc->n_pfx];
	e->next = -1;
	e->family = (uint8_t)family;
	e->cidr = cidr;
	memcpy(e->addr, addr, family == AF_INET ? 4 : 16);
	if (r->last >= 0)
		sc->pfx[r->last].next = (int32_t)sc->n_pfx;
	else
		r->first = (int32_t)sc->n_pfx;
	r->last = (int32_t)sc->n_pfx++;
	return 0;
}

/*
 * Peer i of the worker into a row: the one place the metrics know how peers are kept (an array
 * of pointers to struct wpeer today). The path state is that of flowtun show, noted the same way.
 */
static void copy_peer(struct ft_worker *w, size_t i, uint64_t now, struct row *r)
{
	struct wpeer *wp = w->peers[i];
	struct ft_peer_info info;

	ft_peer_get_info(wp->peer, &info, now);
	r->peer = wp->peer;
	memcpy(r->key, wp->public_key, FT_KEY_LEN);
	r->tx = info.tx_bytes;
	r->rx = info.rx_bytes;
	r->handshake = (uint64_t)info.last_handshake.tv_sec;
	r->state = ft_worker_path_state_of(w, wp, &info);
	r->since = wp->shown_since;
	r->path_mtu = wp->path_mtu;
	r->first = r->last = -1;
}

/* (Re)sizes the copy for the worker's peers as they are now. 0 or -ENOMEM. */
static int copy_begin(struct ft_worker_scrape *sc)
{
	const struct ft_allowedips *t = ft_proto_allowedips(sc->w->proto);
	size_t n = sc->w->n_peers, slots = 16;
	struct row *rows;
	uint32_t *h;

	while (slots < 2 * n)
		slots *= 2;
	rows = realloc(sc->rows, (n ? n : 1) * sizeof(*rows));
	if (rows)
		sc->rows = rows;
	h = realloc(sc->slots, slots * sizeof(*h));
	if (h)
		sc->slots = h;
	if (!rows || !h)
		return -ENOMEM;
	memset(sc->slots, 0, slots * sizeof(*h));
	sc->n = n;
	sc->mask = slots - 1;
	sc->generation = sc->w->peers_generation;
	sc->cap_pfx = ft_allowedips_count(t);
	sc->next = 0;
	return 0;
}

/* A scrape of the worker's peers, or *out NULL when there are none. 0 or -ENOMEM. */
int ft_worker_scrape_start(struct ft_worker *w, struct ft_worker_scrape **out)
{
	struct ft_worker_scrape *sc;

	*out = NULL;
	if (w->n_peers == 0)
		return 0;
	sc = calloc(1, sizeof(*sc));
	if (!sc)
		return -ENOMEM;
	sc->w = w;
	if (copy_begin(sc) < 0) {
		ft_worker_scrape_free(sc);
		return -ENOMEM;
	}
	ft_metrics_buf_puts(&sc->iface, "interface=\"");
	ft_metrics_buf_escape(&sc->iface, w->ifname, strlen(w->ifname));
	ft_metrics_buf_puts(&sc->iface, "\"");
	*out = sc;
	return sc->iface.err;
}

/* Copies row sc->next; restarts the copy first if the peers changed since the last slice. */
static int copy_step(struct ft_worker_scrape *sc, uint64_t now)
{
	struct ft_worker *w = sc->w;
	size_t i = sc->next, j;
	int rc;

	if (w->peers_generation != sc->generation) {
		sc->restarts++;
		if ((rc = copy_begin(sc)) < 0)
			return rc;
		i = 0;
		if (sc->n == 0)
			return 0;
	}
	copy_peer(w, i, now, &sc->rows[i]);
	for (j = slot_of(sc, sc->rows[i].peer); sc->slots[j]; j = (j + 1) & sc->mask)
		;
	sc->slots[j] = (uint32_t)(i + 1);
	return 0;
}

/* The AllowedIPs of every copied peer, hung on its row: one pass, in one go. */
static int hang_prefixes(struct ft_worker_scrape *sc)
{
	const struct ft_allowedips *t = ft_proto_allowedips(sc->w->proto);

	sc->pfx = malloc((sc->cap_pfx ? sc->cap_pfx : 1) * sizeof(*sc->pfx));
	if (!sc->pfx)
		return -ENOMEM;
	ft_allowedips_walk_all(t, hang_prefix, sc);
	ft_metrics_buf_reserve(&sc->arena, sc->n * 128);
	return 0;
}

/* "100.64.0.2/32" without printf (the scrape formats one per prefix); the length. */
static size_t format_prefix(char *out, const struct pfx *e)
{
	char *p = out;

	if (e->family == AF_INET) {
		for (int i = 0; i < 4; i++) {
			unsigned int b = e->addr[i];

			if (i)
				*p++ = '.';
			if (b >= 100)
				*p++ = (char)('0' + b / 100);
			if (b >= 10)
				*p++ = (char)('0' + b / 10 % 10);
			*p++ = (char)('0' + b % 10);
		}
	} else {
		inet_ntop(AF_INET6, e->addr, p, INET6_ADDRSTRLEN);
		p += strlen(p);
	}
	*p++ = '/';
	if (e->cidr >= 100)
		*p++ = (char)('0' + e->cidr / 100);
	if (e->cidr >= 10)
		*p++ = (char)('0' + e->cidr / 10 % 10);
	*p++ = (char)('0' + e->cidr % 10);
	return (size_t)(p - out);
}

/* interface="...",public_key="..." | ,allowed_ips="a,b" of one row into the arena. */
static void row_labels(struct ft_worker_scrape *sc, struct row *r)
{
	struct ft_metrics_buf *a = &sc->arena;
	char key[FT_KEY_B64_LEN + 1], text[INET6_ADDRSTRLEN + 8];

	r->set = a->len;
	ft_metrics_buf_append(a, sc->iface.data, sc->iface.len);
	ft_metrics_buf_append(a, ",public_key=\"", 13);
	ft_key_to_base64(key, r->key);
	ft_metrics_buf_append(a, key, FT_KEY_B64_LEN);
	ft_metrics_buf_append(a, "\"", 1);
	r->short_len = (uint32_t)(a->len - r->set);
	ft_metrics_buf_append(a, ",allowed_ips=\"", 14);
	for (int32_t i = r->first; i >= 0; i = sc->pfx[i].next) {
		if (i != r->first)
			ft_metrics_buf_append(a, ",", 1);
		ft_metrics_buf_append(a, text, format_prefix(text, &sc->pfx[i]));
	}
	ft_metrics_buf_append(a, "\"", 1);
	r->full_len = (uint32_t)(a->len - r->set);
}

static void path_state_sample(struct ft_metrics_writer *mw, const struct ft_worker_scrape *sc,
			      const struct row *r)
{
	const char *st = ft_worker_path_state_str(r->state);
	size_t sl = strlen(st), len = r->short_len;
	char buf[512];

	/* The short set is at most ~130 bytes: the escaped interface name and the key. */
	if (len + sl + 10 > sizeof(buf))
		return;
	memcpy(buf, sc->arena.data + r->set, len);
	memcpy(buf + len, ",state=\"", 8);
	memcpy(buf + len + 8, st, sl);
	buf[len + 8 + sl] = '"';
	ft_metrics_sample_set(mw, buf, len + 9 + sl, 1);
}

static const struct ft_metrics_family *const stage_family[] = {
	[STAGE_SENT] = &fam_sent,
	[STAGE_RECEIVED] = &fam_received,
	[STAGE_HANDSHAKE] = &fam_handshake,
	[STAGE_PATH_STATE] = &fam_path_state,
	[STAGE_PATH_SINCE] = &fam_path_since,
	[STAGE_PATH_MTU] = &fam_path_mtu,
};

/* One item of the current stage: a row's labels, or one sample. */
static void step(struct ft_worker_scrape *sc, struct ft_metrics_writer *mw)
{
	struct row *r = &sc->rows[sc->next];
	const char *set = sc->arena.data + r->set;

	switch (sc->stage) {
	case STAGE_LABELS:
		row_labels(sc, r);
		break;
	case STAGE_SENT:
		ft_metrics_sample_set(mw, set, r->full_len, r->tx);
		break;
	case STAGE_RECEIVED:
		ft_metrics_sample_set(mw, set, r->full_len, r->rx);
		break;
	case STAGE_HANDSHAKE:
		ft_metrics_sample_set(mw, set, r->full_len, r->handshake);
		break;
	case STAGE_PATH_STATE:
		path_state_sample(mw, sc, r);
		break;
	case STAGE_PATH_MTU:
		ft_metrics_sample_set(mw, set, r->short_len, r->path_mtu);
		break;
	default:
		ft_metrics_sample_set(mw, set, r->short_len, r->since);
		break;
	}
}

/* Works until the writer's deadline: 0 when the peers are all written, or FT_METRICS_MORE. */
int ft_worker_scrape_slice(struct ft_worker_scrape *sc, struct ft_metrics_writer *mw)
{
	uint64_t now = uv_hrtime(), deadline = mw->slice_deadline_ns;
	int rc;

	/* A copy that started again too often is finished now, in one go. */
	if (sc->stage == STAGE_COPY && sc->restarts >= RESTARTS_MAX)
		deadline = UINT64_MAX;
	for (unsigned int k = 1; sc->stage < STAGE_DONE; k++) {
		if (sc->n == 0) {
			sc->stage = STAGE_DONE; /* every peer went while the copy ran */
			break;
		}
		if (sc->stage == STAGE_COPY) {
			if ((rc = copy_step(sc, now)) < 0)
				return rc;
		} else if (sc->stage == STAGE_PREFIXES &&
			   sc->w->peers_generation != sc->generation) {
			/* Peers changed since the copy ended: its pointers may be stale. */
			sc->restarts++;
			sc->stage = STAGE_COPY;
			if ((rc = copy_begin(sc)) < 0)
				return rc;
			continue;
		} else if (sc->stage == STAGE_PREFIXES) {
			if ((rc = hang_prefixes(sc)) < 0)
				return rc;
			sc->next = sc->n - 1;
		} else {
			if (sc->next == 0 && sc->stage != STAGE_LABELS)
				ft_metrics_family(mw, stage_family[sc->stage]);
			step(sc, mw);
		}
		if (++sc->next >= sc->n) {
			sc->next = 0;
			sc->stage++;
		}
		if (k % CLOCK_EVERY == 0 && uv_hrtime() >= deadline)
			break;
	}
	if (sc->arena.err || mw->out.err)
		return sc->arena.err ? sc->arena.err : mw->out.err;
	return sc->stage == STAGE_DONE ? 0 : FT_METRICS_MORE;
}
