// SPDX-License-Identifier: MIT
/*
 * Endpoint names, resolved off the loop: getaddrinfo() can wait for a resolver for seconds,
 * and on the loop that stops the data plane of every peer meanwhile. A numeric endpoint is
 * parsed at once (no resolver); a name goes to libuv's thread pool (uv_getaddrinfo) and the
 * peer is updated in the callback, on the loop. Loop thread only.
 *
 * Lifetimes: a request holds the peer's public key and a generation number, never a pointer
 * or an index (peers are removed, and move, while a request is in flight). The callback finds
 * the peer by its key and applies the result only when the peer's resolve_gen is still the
 * request's: a peer removed, or re-resolved since (a newer request, a changed Endpoint), has
 * another or none. Generations come from one counter of the worker, so a peer removed and
 * added again cannot match an old request. At close the requests still queued are cancelled
 * and those running are detached (w = NULL): their callbacks only free them.
 *
 * At most FT_WORKER_MAX_RESOLVES requests are in the pool at once (a slow resolver must not
 * take every pool thread from the flow-log writes); a peer that finds no free slot waits
 * (resolve_wait) and is started when one frees.
 *
 * Roaming: the endpoint learnt from a peer's authenticated traffic wins over the configured
 * one until the configuration changes, as with wireguard-go and the kernel module. The
 * worker remembers the endpoint it set last (ep_set); a protocol endpoint that differs from
 * it was learnt since, and a resolution does not overwrite it. A changed Endpoint in the
 * configuration sets ep_set to the endpoint of that moment, so that its resolution applies.
 */
#include "config.h"

#include <errno.h>
#include <netdb.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/sockaddr.h"
#include "tun/ctl/conf.h"
#include "tun/log.h"
#include "tun/worker/internal.h"

struct resolve_req {
	uv_getaddrinfo_t req;
	struct ft_worker *w; /* NULL once detached: the callback frees and returns */
	struct resolve_req *prev, *next;
	uint8_t key[FT_KEY_LEN];
	uint64_t gen;
	unsigned int flags;
};

static bool same_endpoint(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	socklen_t n;

	if (a->ss_family != b->ss_family)
		return false;
	n = ft_sockaddr_len((const struct sockaddr *)a);
	return n == 0 || memcmp(a, b, n) == 0;
}

void ft_worker_endpoint_apply(struct ft_worker *w, struct wpeer *wp,
			      const struct sockaddr_storage *ss, unsigned int flags)
{
	struct ft_peer_info info;
	bool changed;

	ft_peer_get_info(wp->peer, &info, ft_worker_now_ns());
	if (!same_endpoint(&info.endpoint, &wp->ep_set)) {
		char now[FT_SOCKADDR_STRLEN], conf[FT_SOCKADDR_STRLEN];

		ft_sockaddr_format(now, sizeof(now), (const struct sockaddr *)&info.endpoint);
		ft_sockaddr_format(conf, sizeof(conf), (const struct sockaddr *)ss);
		ft_log_info("%s: keeping the endpoint %s the peer moved to (%s resolves to %s)",
			    w->ifname, now, wp->endpoint_host ? wp->endpoint_host : "?", conf);
		return;
	}
	changed = !same_endpoint(&info.endpoint, ss);
	if (ft_proto_peer_set_endpoint(w->proto, wp->peer, (const struct sockaddr *)ss) < 0)
		return;
	wp->ep_set = *ss;
	ft_worker_path_update(w, wp);
	if (changed && (flags & FT_RESOLVE_KICK))
		ft_worker_path_kick(w, wp);
}

void ft_worker_resolve_config_changed(struct ft_worker *w, struct wpeer *wp)
{
	struct ft_peer_info info;

	ft_peer_get_info(wp->peer, &info, ft_worker_now_ns());
	wp->ep_set = info.endpoint;
	/* What is in flight was asked for the old name: its answer is of no use now. */
	wp->resolve_gen = 0;
}

static void start_waiting(struct ft_worker *w);

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct resolve_req *r =
		(struct resolve_req *)((char *)req - offsetof(struct resolve_req, req));
	struct ft_worker *w = r->w;
	struct wpeer *wp;
	struct sockaddr_storage ss;
	socklen_t len;

	if (w) {
		if (r->prev)
			r->prev->next = r->next;
		else
			w->resolves = r->next;
		if (r->next)
			r->next->prev = r->prev;
		w->n_resolving--;
	}
	wp = w && !w->closing ? ft_worker_find_peer_by_key(w, r->key) : NULL;
	if (wp && wp->resolve_gen == r->gen) {
		wp->resolve_gen = 0;
		if (status < 0)
			ft_log_warnx("%s: cannot resolve the endpoint '%s' port '%s': %s",
				     w->ifname, wp->endpoint_host, wp->endpoint_port,
				     uv_strerror(status));
		else if (ft_config_endpoint_from_addrinfo(res, &ss, &len) < 0)
			ft_log_warnx("%s: the endpoint '%s' has no IPv4 or IPv6 address", w->ifname,
				     wp->endpoint_host);
		else
			ft_worker_endpoint_apply(w, wp, &ss, r->flags);
	}
	uv_freeaddrinfo(res);
	free(r);
	if (w && !w->closing) {
		start_waiting(w);
		ft_worker_end_batch(w);
	}
}

/* 0 when a request went to the pool; -EBUSY when every slot is taken. */
static int start_request(struct ft_worker *w, struct wpeer *wp, unsigned int flags)
{
	const struct addrinfo hints = {
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_DGRAM,
		.ai_protocol = IPPROTO_UDP,
		.ai_flags = AI_NUMERICSERV,
	};
	struct resolve_req *r;
	int rc;

	if (w->n_resolving >= FT_WORKER_MAX_RESOLVES)
		return -EBUSY;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->w = w;
	memcpy(r->key, wp->public_key, FT_KEY_LEN);
	r->gen = ++w->resolve_last_gen;
	r->flags = flags;
	/* libuv copies the name and the port: the peer may change or go meanwhile. */
	rc = uv_getaddrinfo(w->loop, &r->req, on_resolved, wp->endpoint_host, wp->endpoint_port,
			    &hints);
	if (rc < 0) {
		free(r);
		return rc;
	}
	r->next = w->resolves;
	if (r->next)
		r->next->prev = r;
	w->resolves = r;
	w->n_resolving++;
	wp->resolve_gen = r->gen;
	return 0;
}

void ft_worker_resolve_start(struct ft_worker *w, struct wpeer *wp, unsigned int flags)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int rc;

	if (!wp->endpoint_host || w->closing)
		return;
	/* A numeric endpoint needs no resolver: at once, and whatever is in flight is stale. */
	if (ft_config_resolve_numeric(wp->endpoint_host, wp->endpoint_port, &ss, &len) == 0) {
		wp->resolve_gen = 0;
		wp->resolve_wait = 0;
		ft_worker_endpoint_apply(w, wp, &ss, flags);
		return;
	}
	rc = start_request(w, wp, flags);
	if (rc == 0) {
		wp->resolve_wait = 0;
	} else if (rc == -EBUSY) {
		wp->resolve_gen = 0;
		wp->resolve_wait |= flags | FT_RESOLVE_WANTED;
	} else {
		ft_log_warnx("%s: cannot resolve the endpoint '%s' port '%s': %s", w->ifname,
			     wp->endpoint_host, wp->endpoint_port, uv_strerror(rc));
	}
}

static void start_waiting(struct ft_worker *w)
{
	for (size_t i = 0; i < w->n_peers && w->n_resolving < FT_WORKER_MAX_RESOLVES; i++) {
		struct wpeer *wp = w->peers[i];
		unsigned int flags = wp->resolve_wait & ~(unsigned int)FT_RESOLVE_WANTED;

		if (!(wp->resolve_wait & FT_RESOLVE_WANTED))
			continue;
		wp->resolve_wait = 0;
		ft_worker_resolve_start(w, wp, flags);
	}
}

void ft_worker_resolve_detach(struct ft_worker *w)
{
	struct resolve_req *r = w->resolves, *next;

	for (; r; r = next) {
		next = r->next;
		r->w = NULL;
		r->prev = r->next = NULL;
		/* Queued ones end now (UV_ECANCELED); running ones when the resolver answers. */
		(void)uv_cancel((uv_req_t *)&r->req);
	}
	w->resolves = NULL;
	w->n_resolving = 0;
}
