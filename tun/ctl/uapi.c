// SPDX-License-Identifier: MIT
/*
 * The WireGuard userspace API: the request parser (pure, fuzzed). The get-side writer is in
 * uapi_writer.c and the UNIX socket server in uapi_server.c. The protocol and its rules are
 * in uapi.h.
 */
#include "config.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <sodium.h>

#include "base/text.h"
#include "tun/ctl/uapi.h"
#include "tun/ctl/uapi_keys.h"

/* Longest value any valid set key takes: an endpoint. Longer values are refused unread. */
#define MAX_VALUE_LEN (FT_UAPI_ENDPOINT_LEN - 1)

/* ---- The parser ---- */

size_t ft_uapi_request_len_resume(const char *buf, size_t len, size_t *scanned)
{
	const char *p, *end;

	if (len == 0) /* buf may be NULL: a client's buffer before its first read */
		return 0;
	if (buf[0] == '\n') {
		*scanned = 0;
		return 1;
	}
	/* From the last byte searched: it may be the first '\n' of the blank line. */
	p = buf + (*scanned > 0 && *scanned <= len ? *scanned - 1 : 0);
	end = buf + len;
	while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL && p + 1 < end) {
		if (p[1] == '\n') {
			*scanned = 0;
			return (size_t)(p - buf) + 2;
		}
		p++;
	}
	*scanned = len;
	return 0;
}

size_t ft_uapi_request_len(const char *buf, size_t len)
{
	size_t scanned = 0;

	return ft_uapi_request_len_resume(buf, len, &scanned);
}

/* A line of the request body: key and value are not NUL-terminated. */
struct line {
	const char *key;
	size_t key_len;
	const char *value;
	size_t value_len;
};

static bool key_is(const struct line *l, const char *name)
{
	size_t n = strlen(name);

	return l->key_len == n && memcmp(l->key, name, n) == 0;
}

static bool value_is(const struct line *l, const char *s)
{
	size_t n = strlen(s);

	return l->value_len == n && memcmp(l->value, s, n) == 0;
}

static int parse_hex_key(const struct line *l, uint8_t key[FT_KEY_LEN])
{
	char hex[FT_KEY_HEX_LEN + 1];
	int rc;

	if (l->value_len != FT_KEY_HEX_LEN)
		return -EINVAL;
	memcpy(hex, l->value, FT_KEY_HEX_LEN);
	hex[FT_KEY_HEX_LEN] = '\0';
	rc = ft_key_from_hex(key, hex);
	sodium_memzero(hex, sizeof(hex));
	return rc;
}

/* a.b.c.d:port, [v6]:port, [v6%N]:port; numeric only, port 1-65535. */
static int parse_endpoint(const char *s, size_t len, struct sockaddr_storage *ss, socklen_t *sslen)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *port, *end = s + len, *colon;
	size_t host_len;
	uint64_t portnum, scope = 0;
	bool v6 = len > 0 && s[0] == '[';

	if (v6) {
		const char *close = memchr(s, ']', len);
		const char *pct;

		if (!close || close + 1 >= end || close[1] != ':')
			return -EINVAL;
		port = close + 2;
		host_len = (size_t)(close - s - 1);
		pct = memchr(s + 1, '%', host_len);
		if (pct) {
			if (ft_parse_uint_n(pct + 1, (size_t)(close - pct - 1), UINT32_MAX,
					    &scope) < 0)
				return -EINVAL;
			host_len = (size_t)(pct - s - 1);
		}
		if (host_len == 0 || host_len >= sizeof(host))
			return -EINVAL;
		memcpy(host, s + 1, host_len);
	} else {
		colon = NULL;
		for (const char *p = s; p < end; p++) {
			if (*p == ':')
				colon = p;
		}
		if (!colon)
			return -EINVAL;
		port = colon + 1;
		host_len = (size_t)(colon - s);
		if (host_len == 0 || host_len >= sizeof(host))
			return -EINVAL;
		memcpy(host, s, host_len);
	}
	host[host_len] = '\0';
	if (ft_parse_uint_n(port, (size_t)(end - port), 65535, &portnum) < 0 || portnum == 0)
		return -EINVAL;

	memset(ss, 0, sizeof(*ss));
	if (v6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
			return -EINVAL;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)portnum);
		sin6->sin6_scope_id = (uint32_t)scope;
		*sslen = sizeof(*sin6);
	} else {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;

		if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
			return -EINVAL;
		sin->sin_family = AF_INET;
		sin->sin_port = htons((uint16_t)portnum);
		*sslen = sizeof(*sin);
	}
	return 0;
}

/* address/cidr; unlike a config file's AllowedIPs, the /cidr is required (wg always sends it). */
static int parse_allowed_ip(const char *s, size_t len, struct ft_config_addr *out)
{
	char buf[INET6_ADDRSTRLEN + 8];

	if (len >= sizeof(buf) || !memchr(s, '/', len))
		return -EINVAL;
	memcpy(buf, s, len);
	buf[len] = '\0';
	return ft_config_parse_prefix(buf, true, out);
}

static bool parse_bool_true(const struct line *l)
{
	return value_is(l, "true");
}

/*
 * One pass over the body. With set NULL it validates and counts (the first step); with set
 * allocated for the counts it fills it (the second step, which cannot fail on what the first
 * accepted). The scratch peer of the first pass is wiped by the caller.
 */
struct pass {
	struct ft_uapi_set *set;	  /* NULL: counting */
	struct ft_uapi_set scratch;	  /* device keys of the counting pass */
	struct ft_uapi_peer scratch_peer; /* the current peer of the counting pass */
	struct ft_uapi_peer *peer;	  /* the current peer, or NULL before the first */
	struct ft_config_addr *next_ip;	  /* fill pass: where the next allowed_ip goes */
	size_t n_peers, max_peers;
	size_t n_allowed_ips;
};

static int parse_device_line(struct pass *ps, const struct line *l)
{
	struct ft_uapi_set *set = ps->set ? ps->set : &ps->scratch;
	uint64_t v;

	if (key_is(l, FT_UAPI_KEY(private_key))) {
		if (parse_hex_key(l, set->private_key) < 0)
			return -EINVAL;
		set->has_private_key = true;
	} else if (key_is(l, FT_UAPI_KEY(listen_port))) {
		if (ft_parse_uint_n(l->value, l->value_len, UINT16_MAX, &v) < 0)
			return -EINVAL;
		set->listen_port = (uint16_t)v;
		set->has_listen_port = true;
	} else if (key_is(l, FT_UAPI_KEY(fwmark))) {
		if (ft_parse_uint_n(l->value, l->value_len, UINT32_MAX, &v) < 0)
			return -EINVAL;
		set->fwmark = (uint32_t)v;
		set->has_fwmark = true;
	} else if (key_is(l, FT_UAPI_KEY(replace_peers))) {
		if (!parse_bool_true(l))
			return -EINVAL;
		set->replace_peers = true;
	} else {
		return -EINVAL;
	}
	return 0;
}

static int parse_peer_line(struct pass *ps, const struct line *l)
{
	struct ft_uapi_peer *p = ps->peer;
	uint64_t v;

	if (key_is(l, FT_UAPI_KEY(remove))) {
		if (!parse_bool_true(l))
			return -EINVAL;
		p->remove = true;
	} else if (key_is(l, FT_UAPI_KEY(update_only))) {
		if (!parse_bool_true(l))
			return -EINVAL;
		p->update_only = true;
	} else if (key_is(l, FT_UAPI_KEY(preshared_key))) {
		if (parse_hex_key(l, p->preshared_key) < 0)
			return -EINVAL;
		p->has_preshared_key = true;
	} else if (key_is(l, FT_UAPI_KEY(endpoint))) {
		if (parse_endpoint(l->value, l->value_len, &p->endpoint, &p->endpoint_len) < 0)
			return -EINVAL;
		p->has_endpoint = true;
	} else if (key_is(l, FT_UAPI_KEY(persistent_keepalive_interval))) {
		if (ft_parse_uint_n(l->value, l->value_len, UINT16_MAX, &v) < 0)
			return -EINVAL;
		p->persistent_keepalive = (uint16_t)v;
		p->has_persistent_keepalive = true;
	} else if (key_is(l, FT_UAPI_KEY(replace_allowed_ips))) {
		if (!parse_bool_true(l))
			return -EINVAL;
		p->replace_allowed_ips = true;
	} else if (key_is(l, FT_UAPI_KEY(allowed_ip))) {
		struct ft_config_addr a;

		if (parse_allowed_ip(l->value, l->value_len, &a) < 0)
			return -EINVAL;
		if (ps->set) {
			*ps->next_ip++ = a;
			p->n_allowed_ips++;
		}
		ps->n_allowed_ips++;
	} else if (key_is(l, FT_UAPI_KEY(protocol_version))) {
		if (!value_is(l, "1"))
			return -EINVAL;
	} else {
		return -EINVAL;
	}
	return 0;
}

static int parse_line(struct pass *ps, const struct line *l)
{
	if (l->value_len > MAX_VALUE_LEN)
		return -EINVAL;
	if (key_is(l, FT_UAPI_KEY(public_key))) {
		if (ps->n_peers == ps->max_peers)
			return -E2BIG;
		if (ps->set) {
			ps->peer = &ps->set->peers[ps->n_peers];
			ps->peer->allowed_ips = ps->next_ip;
		} else {
			ps->peer = &ps->scratch_peer;
			sodium_memzero(ps->peer, sizeof(*ps->peer));
		}
		ps->n_peers++;
		return parse_hex_key(l, ps->peer->public_key) < 0 ? -EINVAL : 0;
	}
	/* As in wireguard-go, device keys come first: after a public_key every key is the peer's. */
	if (!ps->peer)
		return parse_device_line(ps, l);
	return parse_peer_line(ps, l);
}

/* body: the lines after the operation line, each ending in '\n', without the blank line. */
static int run_pass(struct pass *ps, const char *body, size_t len)
{
	const char *p = body, *end = body + len;
	int rc;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eq;
		struct line l;

		assert(nl); /* ft_uapi_request_len() guarantees every line ends in '\n' */
		eq = memchr(p, '=', (size_t)(nl - p));
		if (!eq)
			return -EPROTO;
		l.key = p;
		l.key_len = (size_t)(eq - p);
		l.value = eq + 1;
		l.value_len = (size_t)(nl - eq - 1);
		rc = parse_line(ps, &l);
		if (rc < 0)
			return rc;
		p = nl + 1;
	}
	return 0;
}

static int parse_set(const char *body, size_t len, size_t max_peers, struct ft_uapi_set **out)
{
	struct pass ps;
	struct ft_uapi_set *set;
	size_t size, peers_off, ips_off;
	int rc;

	memset(&ps, 0, sizeof(ps));
	ps.max_peers = max_peers;
	rc = run_pass(&ps, body, len);
	sodium_memzero(&ps.scratch, sizeof(ps.scratch));
	sodium_memzero(&ps.scratch_peer, sizeof(ps.scratch_peer));
	if (rc < 0)
		return rc;

	/* One block: the set, its peers, then every allowed IP; the counts are bounded by the
	 * request size, so these products cannot overflow. */
	peers_off = (sizeof(*set) + 15) & ~(size_t)15;
	ips_off = peers_off + ps.n_peers * sizeof(struct ft_uapi_peer);
	/* sodium_malloc() aligns the block only when its size is a multiple of the alignment. */
	size = (ips_off + ps.n_allowed_ips * sizeof(struct ft_config_addr) + 15) & ~(size_t)15;
	set = sodium_malloc(size);
	if (!set)
		return -ENOMEM;
	memset(set, 0, size);
	set->peers = ps.n_peers ? (struct ft_uapi_peer *)((char *)set + peers_off) : NULL;

	memset(&ps, 0, sizeof(ps));
	ps.max_peers = max_peers;
	ps.set = set;
	ps.next_ip = (struct ft_config_addr *)((char *)set + ips_off);
	rc = run_pass(&ps, body, len);
	assert(rc == 0);
	set->n_peers = ps.n_peers;
	*out = set;
	return 0;
}

int ft_uapi_parse(const char *req, size_t len, enum ft_uapi_op *op, struct ft_uapi_set **set)
{
	return ft_uapi_parse_limited(req, len, FT_UAPI_MAX_REQUEST, FT_UAPI_MAX_PEERS, op, set);
}

int ft_uapi_parse_limited(const char *req, size_t len, size_t max_request, size_t max_peers,
			  enum ft_uapi_op *op, struct ft_uapi_set **set)
{
	static const char set_line[] = "set=1\n";

	*set = NULL;
	if (len > max_request)
		return -EMSGSIZE;
	if (len < 2 || req[len - 1] != '\n' || req[len - 2] != '\n' || memchr(req, '\0', len))
		return -EPROTO;
	if (len == 7 && memcmp(req, "get=1\n\n", 7) == 0) {
		*op = FT_UAPI_GET;
		return 0;
	}
	if (len == 13 && memcmp(req, "get=flowtun\n\n", 13) == 0) {
		*op = FT_UAPI_GET_EXTRAS;
		return 0;
	}
	if (len >= sizeof(set_line) && memcmp(req, set_line, sizeof(set_line) - 1) == 0) {
		*op = FT_UAPI_SET;
		/* The body runs up to the blank line, whose '\n' is the request's last byte. */
		return parse_set(req + sizeof(set_line) - 1, len - sizeof(set_line), max_peers,
				 set);
	}
	/* A get with anything after its first line is invalid, as in wireguard-go. */
	if ((len > 6 && memcmp(req, "get=1\n", 6) == 0) ||
	    (len > 12 && memcmp(req, "get=flowtun\n", 12) == 0))
		return -EINVAL;
	return -EPROTO;
}

void ft_uapi_set_free(struct ft_uapi_set *set)
{
	/* sodium_free() wipes the whole block before unmapping it. */
	if (set)
		sodium_free(set);
}
