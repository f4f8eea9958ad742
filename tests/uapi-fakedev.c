// SPDX-License-Identifier: MIT
/* The fake device of tests/uapi-fakedev.h. */
#include "config.h"

#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "tests/uapi-fakedev.h"

const struct ft_uapi_ops fakedev_ops = {
	.get = fakedev_get,
	.set = fakedev_set,
};

static bool is_zero(const uint8_t k[FT_KEY_LEN])
{
	return sodium_is_zero(k, FT_KEY_LEN) == 1;
}

int fakedev_get(void *arg, struct ft_uapi_writer *w)
{
	struct fakedev *d = arg;

	d->n_gets++;
	/* wireguard-go's order; the writer keeps the first error, checked once at the end. */
	if (!is_zero(d->private_key))
		ft_uapi_write_key(w, "private_key", d->private_key);
	ft_uapi_write_kv(w, "listen_port", "%u", d->listen_port);
	if (d->fwmark)
		ft_uapi_write_kv(w, "fwmark", "%u", d->fwmark);
	if (ft_uapi_writer_extras(w))
		ft_uapi_write_kv(w, "flowtun_fake_sets", "%u", d->n_sets);
	for (size_t i = 0; i < d->n_peers; i++) {
		const struct fakedev_peer *p = &d->peers[i];

		ft_uapi_write_key(w, "public_key", p->public_key);
		ft_uapi_write_key(w, "preshared_key", p->preshared_key);
		ft_uapi_write_kv(w, "protocol_version", "1");
		if (p->endpoint.ss_family)
			ft_uapi_write_endpoint(w, (const struct sockaddr *)&p->endpoint);
		ft_uapi_write_kv(w, "last_handshake_time_sec", "0");
		ft_uapi_write_kv(w, "last_handshake_time_nsec", "0");
		ft_uapi_write_kv(w, "tx_bytes", "%llu", (unsigned long long)p->tx_bytes);
		ft_uapi_write_kv(w, "rx_bytes", "%llu", (unsigned long long)p->rx_bytes);
		ft_uapi_write_kv(w, "persistent_keepalive_interval", "%u", p->keepalive);
		for (size_t j = 0; j < p->n_ips; j++)
			ft_uapi_write_allowed_ip(w, p->ips[j].family, p->ips[j].addr,
						 p->ips[j].cidr);
	}
	return 0;
}

static struct fakedev_peer *find_peer(struct fakedev *d, const uint8_t key[FT_KEY_LEN])
{
	for (size_t i = 0; i < d->n_peers; i++) {
		if (memcmp(d->peers[i].public_key, key, FT_KEY_LEN) == 0)
			return &d->peers[i];
	}
	return NULL;
}

static void remove_ip_everywhere(struct fakedev *d, const struct ft_config_addr *a)
{
	for (size_t i = 0; i < d->n_peers; i++) {
		struct fakedev_peer *p = &d->peers[i];

		for (size_t j = 0; j < p->n_ips;) {
			if (p->ips[j].family == a->family && p->ips[j].cidr == a->cidr &&
			    memcmp(p->ips[j].addr, a->addr, sizeof(a->addr)) == 0)
				p->ips[j] = p->ips[--p->n_ips];
			else
				j++;
		}
	}
}

static int apply_peer(struct fakedev *d, const struct ft_uapi_peer *op)
{
	struct fakedev_peer *p = find_peer(d, op->public_key);

	if (op->remove) {
		if (p) {
			size_t i = (size_t)(p - d->peers);

			memmove(p, p + 1, (d->n_peers - i - 1) * sizeof(*p));
			d->n_peers--;
		}
		return 0;
	}
	if (!p) {
		if (op->update_only)
			return 0;
		if (d->n_peers == FAKEDEV_MAX_PEERS)
			return -ENOSPC;
		p = &d->peers[d->n_peers++];
		memset(p, 0, sizeof(*p));
		memcpy(p->public_key, op->public_key, FT_KEY_LEN);
	}
	if (op->has_preshared_key)
		memcpy(p->preshared_key, op->preshared_key, FT_KEY_LEN);
	if (op->has_endpoint)
		memcpy(&p->endpoint, &op->endpoint, op->endpoint_len);
	if (op->has_persistent_keepalive)
		p->keepalive = op->persistent_keepalive;
	if (op->replace_allowed_ips)
		p->n_ips = 0;
	for (size_t i = 0; i < op->n_allowed_ips; i++) {
		/* One prefix, one peer: a prefix given to this peer leaves its old one. */
		remove_ip_everywhere(d, &op->allowed_ips[i]);
		if (p->n_ips == FAKEDEV_MAX_IPS)
			return -ENOSPC;
		p->ips[p->n_ips++] = op->allowed_ips[i];
	}
	return 0;
}

int fakedev_set(void *arg, const struct ft_uapi_set *set)
{
	struct fakedev *d = arg, next = *d;
	int rc;

	d->n_sets++;
	if (set->has_private_key)
		memcpy(next.private_key, set->private_key, FT_KEY_LEN);
	if (set->has_listen_port)
		next.listen_port = set->listen_port;
	if (set->has_fwmark)
		next.fwmark = set->fwmark;
	if (set->replace_peers)
		next.n_peers = 0;
	for (size_t i = 0; i < set->n_peers; i++) {
		rc = apply_peer(&next, &set->peers[i]);
		if (rc < 0) {
			sodium_memzero(&next, sizeof(next));
			return rc;
		}
	}
	next.n_sets = d->n_sets;
	next.n_gets = d->n_gets;
	*d = next;
	sodium_memzero(&next, sizeof(next));
	return 0;
}
