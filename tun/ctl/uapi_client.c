// SPDX-License-Identifier: MIT
/*
 * A get answer parsed into struct ft_uapi_info (the contract is in uapi_client.h). One pass
 * over the lines: a line is KEY=VALUE, the key looked up in uapi_keys.h's table, the value
 * checked for what that key holds. public_key starts a peer; the keys before the first one
 * are the device's. errno ends the answer.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/text.h"
#include "tun/ctl/uapi_client.h"
#include "tun/ctl/uapi_keys.h"

/*
 * arr (of *cap elements of size bytes) with room for n + 1, *cap updated; or NULL when out of
 * memory, and arr is left as it was. Returning the pointer keeps it typed at the caller.
 */
static void *grow(void *arr, size_t *cap, size_t n, size_t size)
{
	size_t c;
	void *q;

	if (n < *cap)
		return arr;
	c = *cap ? 2 * *cap : 8;
	q = realloc(arr, c * size);
	if (q)
		*cap = c;
	return q;
}

/* base/text.h's decimal parser, its refusal as this file's. */
static int parse_u64(const char *s, uint64_t *out)
{
	return ft_parse_uint(s, UINT64_MAX, out) < 0 ? -EBADMSG : 0;
}

/* Splits s in place at single spaces into exactly n non-empty fields. */
static int split(char *s, char **fields, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		fields[i] = s;
		s = strchr(s, ' ');
		if (i + 1 < n) {
			if (!s)
				return -EBADMSG;
			*s++ = '\0';
		}
		if (i + 1 < n && !fields[i][0])
			return -EBADMSG;
	}
	return s || !fields[n - 1][0] ? -EBADMSG : 0;
}

static int parse_key(char *value, char b64[FT_KEY_B64_LEN + 1])
{
	uint8_t key[FT_KEY_LEN];
	int rc = ft_key_from_hex(key, value);

	if (rc == 0)
		ft_key_to_base64(b64, key);
	sodium_memzero(key, sizeof(key));
	return rc < 0 ? -EBADMSG : 0;
}

static int parse_private_key(struct ft_uapi_info *d, char *value)
{
	uint8_t *priv = sodium_malloc(FT_KEY_LEN), pub[FT_KEY_LEN];
	int rc;

	if (!priv) {
		sodium_memzero(value, strlen(value));
		return -ENOMEM;
	}
	rc = ft_key_from_hex(priv, value);
	if (rc == 0)
		rc = ft_key_public(pub, priv);
	if (rc == 0) {
		ft_key_to_base64(d->public_key, pub);
		d->has_public_key = true;
	}
	sodium_free(priv);
	sodium_memzero(value, strlen(value));
	return rc < 0 ? -EBADMSG : 0;
}

static bool all_zero_hex(const char *s)
{
	for (; *s; s++)
		if (*s != '0')
			return false;
	return true;
}

static int add_link(struct ft_uapi_info *d, char *value)
{
	struct ft_uapi_info_link *l;
	char *f[3];
	int rc;

	if ((rc = split(value, f, 3)) < 0)
		return rc;
	if (!(l = grow(d->links, &d->cap_links, d->n_links, sizeof(*l))))
		return -ENOMEM;
	d->links = l;
	l = &d->links[d->n_links];
	memset(l, 0, sizeof(*l)); /* changes come on a line of their own, if at all */
	l->name = f[0];
	l->state = f[1];
	if ((rc = parse_u64(f[2], &l->since_ms)) < 0)
		return rc;
	d->n_links++;
	return 0;
}

static int add_link_changes(struct ft_uapi_info *d, char *value)
{
	char *f[2];
	int rc;

	if ((rc = split(value, f, 2)) < 0)
		return rc;
	/* It follows the flowtun_link line of the same link. */
	for (size_t i = d->n_links; i-- > 0;) {
		if (strcmp(d->links[i].name, f[0]) != 0)
			continue;
		d->links[i].has_changes = true;
		return parse_u64(f[1], &d->links[i].changes);
	}
	return -EBADMSG;
}

static int add_counter(struct ft_uapi_info *d, char *value)
{
	struct ft_uapi_info_counter *c;
	char *f[2];
	int rc;

	if ((rc = split(value, f, 2)) < 0)
		return rc;
	if (!(c = grow(d->counters, &d->cap_counters, d->n_counters, sizeof(*c))))
		return -ENOMEM;
	d->counters = c;
	c = &d->counters[d->n_counters];
	c->name = f[0];
	if ((rc = parse_u64(f[1], &c->value)) < 0)
		return rc;
	d->n_counters++;
	return 0;
}

static int add_string(const char ***arr, size_t *cap, size_t *n, const char *value)
{
	const char **v = grow(*arr, cap, *n, sizeof(*v));

	if (!v)
		return -ENOMEM;
	*arr = v;
	v[(*n)++] = value;
	return 0;
}

static int add_metrics_requests(struct ft_uapi_info *d, char *value)
{
	struct ft_uapi_info_status_count *r;
	char *f[2];
	int rc;

	if ((rc = split(value, f, 2)) < 0)
		return rc;
	if (!(r = grow(d->metrics_requests, &d->cap_metrics_requests, d->n_metrics_requests,
		       sizeof(*r))))
		return -ENOMEM;
	d->metrics_requests = r;
	r = &d->metrics_requests[d->n_metrics_requests];
	if ((rc = parse_u64(f[0], &r->status)) < 0 || (rc = parse_u64(f[1], &r->count)) < 0)
		return rc;
	d->n_metrics_requests++;
	return 0;
}

static int add_top(struct ft_uapi_info *d, char *value)
{
	struct ft_uapi_info_top *t;
	uint64_t proto;
	char *f[7];
	int rc;

	if ((rc = split(value, f, 7)) < 0)
		return rc;
	if (!(t = grow(d->top, &d->cap_top, d->n_top, sizeof(*t))))
		return -ENOMEM;
	d->top = t;
	t = &d->top[d->n_top];
	t->src = f[1];
	t->dst = f[2];
	if ((rc = parse_u64(f[0], &proto)) < 0 || (rc = parse_u64(f[3], &t->tx_packets)) < 0 ||
	    (rc = parse_u64(f[4], &t->tx_bytes)) < 0 ||
	    (rc = parse_u64(f[5], &t->rx_packets)) < 0 || (rc = parse_u64(f[6], &t->rx_bytes)) < 0)
		return rc;
	if (proto > 255)
		return -EBADMSG;
	t->proto = (unsigned int)proto;
	d->n_top++;
	return 0;
}

static int parse_device_key(struct ft_uapi_info *d, enum ft_uapi_key key, char *value)
{
	char *f[6];
	int rc;

	switch (key) {
	case FT_UAPI_KEY_private_key:
		return parse_private_key(d, value);
	case FT_UAPI_KEY_listen_port:
		return parse_u64(value, &d->listen_port);
	case FT_UAPI_KEY_fwmark:
		return parse_u64(value, &d->fwmark);
	case FT_UAPI_KEY_flowtun_interface:
		d->iface = value;
		return 0;
	case FT_UAPI_KEY_flowtun_crypto:
		d->crypto = value;
		return 0;
	case FT_UAPI_KEY_flowtun_udp_coalesce:
		d->udp_coalesce = value;
		return 0;
	case FT_UAPI_KEY_flowtun_tun_io:
		d->tun_io = value;
		return 0;
	case FT_UAPI_KEY_flowtun_workers:
		return parse_u64(value, &d->workers);
	case FT_UAPI_KEY_flowtun_worker_packets:
		d->worker_packets = value;
		return 0;
	case FT_UAPI_KEY_flowtun_mtu:
		if ((rc = split(value, f, 2)) < 0)
			return rc;
		d->mtu_source = f[1];
		return parse_u64(f[0], &d->mtu);
	case FT_UAPI_KEY_flowtun_version:
		d->version = value;
		return 0;
	case FT_UAPI_KEY_flowtun_link:
		return add_link(d, value);
	case FT_UAPI_KEY_flowtun_link_changes:
		return add_link_changes(d, value);
	case FT_UAPI_KEY_flowtun_counter:
		return add_counter(d, value);
	case FT_UAPI_KEY_flowtun_flowlog:
		d->flowlog = value;
		return 0;
	case FT_UAPI_KEY_flowtun_flowlog_lines:
		return parse_u64(value, &d->flowlog_lines);
	case FT_UAPI_KEY_flowtun_flowlog_lost:
		return parse_u64(value, &d->flowlog_lost);
	case FT_UAPI_KEY_flowtun_flowlog_error:
		return parse_u64(value, &d->flowlog_error);
	case FT_UAPI_KEY_flowtun_flowlog_omitted:
		return parse_u64(value, &d->flowlog_omitted);
	case FT_UAPI_KEY_flowtun_flowlog_pending:
		return parse_u64(value, &d->flowlog_pending);
	case FT_UAPI_KEY_flowtun_stats_overflow:
		d->has_stats_overflow = true;
		return parse_u64(value, &d->stats_overflow);
	case FT_UAPI_KEY_flowtun_window_tun_dropped:
		d->has_window_tun_dropped = true;
		return parse_u64(value, &d->window_tun_dropped);
	case FT_UAPI_KEY_flowtun_ipfix:
		return add_string(&d->ipfix, &d->cap_ipfix, &d->n_ipfix, value);
	case FT_UAPI_KEY_flowtun_ipfix_messages:
		d->has_ipfix_counts = true;
		return parse_u64(value, &d->ipfix_messages);
	case FT_UAPI_KEY_flowtun_ipfix_errors:
		d->has_ipfix_counts = true;
		return parse_u64(value, &d->ipfix_errors);
	case FT_UAPI_KEY_flowtun_window_start_ms:
		d->has_window = true;
		return parse_u64(value, &d->window_start_ms);
	case FT_UAPI_KEY_flowtun_window_connections:
		if ((rc = split(value, f, 2)) < 0 ||
		    (rc = parse_u64(f[0], &d->window_virtual)) < 0 ||
		    (rc = parse_u64(f[1], &d->window_physical)) < 0)
			return rc;
		d->has_window_conns = true;
		return 0;
	case FT_UAPI_KEY_flowtun_metrics:
		d->metrics = value;
		return 0;
	case FT_UAPI_KEY_flowtun_metrics_requests:
		return add_metrics_requests(d, value);
	case FT_UAPI_KEY_flowtun_metrics_write_timeouts:
		return parse_u64(value, &d->metrics_write_timeouts);
	case FT_UAPI_KEY_flowtun_metrics_last_scrape:
		if ((rc = split(value, f, 6)) < 0 ||
		    (rc = parse_u64(f[0], &d->metrics_last_ns)) < 0 ||
		    (rc = parse_u64(f[1], &d->metrics_last_longest_ns)) < 0 ||
		    (rc = parse_u64(f[2], &d->metrics_last_cpu_ns)) < 0 ||
		    (rc = parse_u64(f[3], &d->metrics_last_longest_cpu_ns)) < 0 ||
		    (rc = parse_u64(f[4], &d->metrics_last_slices)) < 0)
			return rc;
		return parse_u64(f[5], &d->metrics_last_bytes);
	case FT_UAPI_KEY_flowtun_top:
		return add_top(d, value);
	default:
		return 0; /* a key of a newer server, or a peer's key before any peer: skipped */
	}
}

static int parse_peer_key(struct ft_uapi_info_peer *p, enum ft_uapi_key key, char *value)
{
	uint8_t psk[FT_KEY_LEN];
	int rc;

	switch (key) {
	case FT_UAPI_KEY_preshared_key:
		rc = ft_key_from_hex(psk, value);
		sodium_memzero(psk, sizeof(psk));
		p->has_psk = rc == 0 && !all_zero_hex(value);
		sodium_memzero(value, strlen(value));
		return rc < 0 ? -EBADMSG : 0;
	case FT_UAPI_KEY_endpoint:
		p->endpoint = value;
		return 0;
	case FT_UAPI_KEY_allowed_ip:
		return add_string(&p->allowed, &p->cap_allowed, &p->n_allowed, value);
	case FT_UAPI_KEY_last_handshake_time_sec:
		return parse_u64(value, &p->handshake_sec);
	case FT_UAPI_KEY_last_handshake_time_nsec:
		if ((rc = parse_u64(value, &p->handshake_nsec)) < 0)
			return rc;
		return p->handshake_nsec < 1000000000u ? 0 : -EBADMSG;
	case FT_UAPI_KEY_rx_bytes:
		return parse_u64(value, &p->rx_bytes);
	case FT_UAPI_KEY_tx_bytes:
		return parse_u64(value, &p->tx_bytes);
	case FT_UAPI_KEY_persistent_keepalive_interval:
		return parse_u64(value, &p->keepalive);
	case FT_UAPI_KEY_flowtun_peer_state:
		p->state = value;
		return 0;
	case FT_UAPI_KEY_flowtun_peer_state_since:
		return parse_u64(value, &p->state_since);
	case FT_UAPI_KEY_flowtun_peer_path:
		p->path = value;
		return 0;
	case FT_UAPI_KEY_flowtun_peer_path_mtu:
		return parse_u64(value, &p->path_mtu);
	default:
		return 0;
	}
}

static int add_peer(struct ft_uapi_info *d, char *value)
{
	struct ft_uapi_info_peer *p = grow(d->peers, &d->cap_peers, d->n_peers, sizeof(*p));

	if (!p)
		return -ENOMEM;
	d->peers = p;
	p = &d->peers[d->n_peers];
	memset(p, 0, sizeof(*p));
	if (parse_key(value, p->public_key) < 0)
		return -EBADMSG;
	p->index = d->n_peers++;
	return 0;
}

int ft_uapi_info_parse(struct ft_uapi_info *d, char *text, struct ft_uapi_info_error *err)
{
	char *line = text, *next;
	int rc = 0;

	memset(d, 0, sizeof(*d));
	memset(err, 0, sizeof(*err));
	for (; *line && *line != '\n'; line = next) {
		struct ft_uapi_info_peer *p = d->n_peers ? &d->peers[d->n_peers - 1] : NULL;
		enum ft_uapi_key key;
		char *eq, *value;

		err->line++;
		err->key[0] = '\0';
		next = strchr(line, '\n');
		if (!next) {
			rc = -EBADMSG; /* a last line without its newline: cut short */
			break;
		}
		*next++ = '\0';
		eq = strchr(line, '=');
		if (!eq || eq == line) {
			rc = -EBADMSG;
			break;
		}
		*eq = '\0';
		value = eq + 1;
		/* The key, never the value: that may be a secret. */
		snprintf(err->key, sizeof(err->key), "%s", line);
		key = ft_uapi_key_find(line, (size_t)(eq - line));
		if (key == FT_UAPI_KEY_errno) {
			/* The answer's last line, followed by the blank one. */
			if (parse_u64(value, &err->server_errno) < 0 || *next != '\n') {
				rc = -EBADMSG;
				break;
			}
			if (err->server_errno == 0) {
				memset(err, 0, sizeof(*err));
				return 0;
			}
			return -ENOEXEC;
		}
		if (key == FT_UAPI_KEY_public_key)
			rc = add_peer(d, value);
		else if (p)
			rc = parse_peer_key(p, key, value);
		else
			rc = parse_device_key(d, key, value);
		if (rc < 0)
			break;
	}
	if (rc == 0) {
		err->line = 0; /* ended without errno */
		err->key[0] = '\0';
		rc = -EBADMSG;
	}
	return rc;
}

void ft_uapi_info_free(struct ft_uapi_info *d)
{
	for (size_t i = 0; i < d->n_peers; i++)
		free(d->peers[i].allowed);
	free(d->peers);
	free(d->links);
	free(d->counters);
	free(d->ipfix);
	free(d->top);
	free(d->metrics_requests);
	memset(d, 0, sizeof(*d));
}

bool ft_uapi_info_counter(const struct ft_uapi_info *d, const char *name, uint64_t *value)
{
	for (size_t i = 0; i < d->n_counters; i++)
		if (strcmp(d->counters[i].name, name) == 0) {
			*value = d->counters[i].value;
			return true;
		}
	return false;
}
