// SPDX-License-Identifier: MIT
/*
 * The WireGuard userspace API: the request parser (pure, fuzzed), the get-side writer and
 * the UNIX socket server on the worker's loop. The protocol and its rules are in uapi.h.
 */
#include "config.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <sodium.h>

#include "tun/log.h"
#include "tun/opener.h"
#include "tun/uapi.h"

/* Longest value any valid set key takes: an endpoint. Longer values are refused unread. */
#define MAX_VALUE_LEN (FT_UAPI_ENDPOINT_LEN - 1)

/* ---- The parser ---- */

size_t ft_uapi_request_len(const char *buf, size_t len)
{
	const char *p, *end;

	if (len == 0) /* buf may be NULL: a client's buffer before its first read */
		return 0;
	if (buf[0] == '\n')
		return 1;
	p = buf;
	end = buf + len;
	while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL && p + 1 < end) {
		if (p[1] == '\n')
			return (size_t)(p - buf) + 2;
		p++;
	}
	return 0;
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

/* Decimal digits only (no sign, no space), at most max. */
static int parse_uint(const char *s, size_t len, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (len == 0 || len > 10)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > max)
		return -EINVAL;
	*out = v;
	return 0;
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
			if (parse_uint(pct + 1, (size_t)(close - pct - 1), UINT32_MAX, &scope) < 0)
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
	if (parse_uint(port, (size_t)(end - port), 65535, &portnum) < 0 || portnum == 0)
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
	size_t n_peers;
	size_t n_allowed_ips;
};

static int parse_device_line(struct pass *ps, const struct line *l)
{
	struct ft_uapi_set *set = ps->set ? ps->set : &ps->scratch;
	uint64_t v;

	if (key_is(l, "private_key")) {
		if (parse_hex_key(l, set->private_key) < 0)
			return -EINVAL;
		set->has_private_key = true;
	} else if (key_is(l, "listen_port")) {
		if (parse_uint(l->value, l->value_len, UINT16_MAX, &v) < 0)
			return -EINVAL;
		set->listen_port = (uint16_t)v;
		set->has_listen_port = true;
	} else if (key_is(l, "fwmark")) {
		if (parse_uint(l->value, l->value_len, UINT32_MAX, &v) < 0)
			return -EINVAL;
		set->fwmark = (uint32_t)v;
		set->has_fwmark = true;
	} else if (key_is(l, "replace_peers")) {
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

	if (key_is(l, "remove")) {
		if (!parse_bool_true(l))
			return -EINVAL;
		p->remove = true;
	} else if (key_is(l, "update_only")) {
		if (!parse_bool_true(l))
			return -EINVAL;
		p->update_only = true;
	} else if (key_is(l, "preshared_key")) {
		if (parse_hex_key(l, p->preshared_key) < 0)
			return -EINVAL;
		p->has_preshared_key = true;
	} else if (key_is(l, "endpoint")) {
		if (parse_endpoint(l->value, l->value_len, &p->endpoint, &p->endpoint_len) < 0)
			return -EINVAL;
		p->has_endpoint = true;
	} else if (key_is(l, "persistent_keepalive_interval")) {
		if (parse_uint(l->value, l->value_len, UINT16_MAX, &v) < 0)
			return -EINVAL;
		p->persistent_keepalive = (uint16_t)v;
		p->has_persistent_keepalive = true;
	} else if (key_is(l, "replace_allowed_ips")) {
		if (!parse_bool_true(l))
			return -EINVAL;
		p->replace_allowed_ips = true;
	} else if (key_is(l, "allowed_ip")) {
		struct ft_config_addr a;

		if (parse_allowed_ip(l->value, l->value_len, &a) < 0)
			return -EINVAL;
		if (ps->set) {
			*ps->next_ip++ = a;
			p->n_allowed_ips++;
		}
		ps->n_allowed_ips++;
	} else if (key_is(l, "protocol_version")) {
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
	if (key_is(l, "public_key")) {
		if (ps->n_peers == FT_UAPI_MAX_PEERS)
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

static int parse_set(const char *body, size_t len, struct ft_uapi_set **out)
{
	struct pass ps;
	struct ft_uapi_set *set;
	size_t size, peers_off, ips_off;
	int rc;

	memset(&ps, 0, sizeof(ps));
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
	static const char set_line[] = "set=1\n";

	*set = NULL;
	if (len > FT_UAPI_MAX_REQUEST)
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
		return parse_set(req + sizeof(set_line) - 1, len - sizeof(set_line), set);
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

/* ---- The writer ---- */

struct ft_uapi_writer {
	char *buf; /* holds the private key: wiped when grown and freed */
	size_t len, cap;
	int err;
	bool extras;
};

static int writer_reserve(struct ft_uapi_writer *w, size_t n)
{
	size_t cap;
	char *nbuf;

	if (w->err)
		return w->err;
	if (n > FT_UAPI_MAX_RESPONSE - w->len)
		return w->err = -EMSGSIZE;
	if (w->len + n <= w->cap)
		return 0;
	cap = w->cap ? w->cap : 4096;
	while (cap < w->len + n)
		cap *= 2;
	/* Not realloc: the old buffer must be wiped, it may hold the private key. */
	nbuf = malloc(cap);
	if (!nbuf)
		return w->err = -ENOMEM;
	if (w->buf) {
		memcpy(nbuf, w->buf, w->len);
		sodium_memzero(w->buf, w->cap);
		free(w->buf);
	}
	w->buf = nbuf;
	w->cap = cap;
	return 0;
}

static int writer_append(struct ft_uapi_writer *w, const char *s, size_t n)
{
	int rc = writer_reserve(w, n);

	if (rc < 0)
		return rc;
	memcpy(w->buf + w->len, s, n);
	w->len += n;
	return 0;
}

static void writer_release(struct ft_uapi_writer *w)
{
	if (w->buf) {
		sodium_memzero(w->buf, w->cap);
		free(w->buf);
	}
	memset(w, 0, sizeof(*w));
}

static bool valid_key_name(const char *key)
{
	if (!*key)
		return false;
	for (const char *p = key; *p; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
			return false;
	}
	return true;
}

__attribute__((format(printf, 3, 0))) static int
write_kv_v(struct ft_uapi_writer *w, const char *key, const char *fmt, va_list ap)
{
	size_t key_len = strlen(key), start = w->len, vlen;
	va_list ap2;
	int n, rc;

	if (w->err)
		return w->err;
	if (!valid_key_name(key))
		return w->err = -EINVAL;
	va_copy(ap2, ap);
	n = vsnprintf(NULL, 0, fmt, ap2);
	va_end(ap2);
	if (n < 0)
		return w->err = -EINVAL;
	vlen = (size_t)n;
	/* key, '=', the value, its NUL (vsnprintf writes one), then the NUL becomes '\n'. */
	rc = writer_reserve(w, key_len + 1 + vlen + 1);
	if (rc < 0)
		return rc;
	memcpy(w->buf + w->len, key, key_len);
	w->buf[w->len + key_len] = '=';
	vsnprintf(w->buf + w->len + key_len + 1, vlen + 1, fmt, ap);
	if (memchr(w->buf + w->len + key_len + 1, '\n', vlen) ||
	    memchr(w->buf + w->len + key_len + 1, '=', vlen)) {
		sodium_memzero(w->buf + start, key_len + 1 + vlen);
		return w->err = -EINVAL;
	}
	w->buf[w->len + key_len + 1 + vlen] = '\n';
	w->len += key_len + 1 + vlen + 1;
	return 0;
}

int ft_uapi_write_kv(struct ft_uapi_writer *w, const char *key, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = write_kv_v(w, key, fmt, ap);
	va_end(ap);
	return rc;
}

int ft_uapi_write_key(struct ft_uapi_writer *w, const char *key, const uint8_t k[FT_KEY_LEN])
{
	char hex[FT_KEY_HEX_LEN + 1];
	int rc;

	ft_key_to_hex(hex, k);
	rc = ft_uapi_write_kv(w, key, "%s", hex);
	sodium_memzero(hex, sizeof(hex));
	return rc;
}

int ft_uapi_format_endpoint(char *buf, size_t len, const struct sockaddr *sa)
{
	char host[INET6_ADDRSTRLEN];
	int n;

	if (sa->sa_family == AF_INET) {
		struct sockaddr_in sin;

		memcpy(&sin, sa, sizeof(sin));
		inet_ntop(AF_INET, &sin.sin_addr, host, sizeof(host));
		n = snprintf(buf, len, "%s:%u", host, ntohs(sin.sin_port));
	} else if (sa->sa_family == AF_INET6) {
		struct sockaddr_in6 sin6;

		memcpy(&sin6, sa, sizeof(sin6));
		inet_ntop(AF_INET6, &sin6.sin6_addr, host, sizeof(host));
		/* A numeric scope: the name of an interface may change, wg parses either. */
		if (sin6.sin6_scope_id)
			n = snprintf(buf, len, "[%s%%%u]:%u", host, sin6.sin6_scope_id,
				     ntohs(sin6.sin6_port));
		else
			n = snprintf(buf, len, "[%s]:%u", host, ntohs(sin6.sin6_port));
	} else {
		return -EAFNOSUPPORT;
	}
	return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

int ft_uapi_write_endpoint(struct ft_uapi_writer *w, const struct sockaddr *sa)
{
	char ep[FT_UAPI_ENDPOINT_LEN];
	int rc = ft_uapi_format_endpoint(ep, sizeof(ep), sa);

	if (rc < 0)
		return w->err ? w->err : (w->err = rc);
	return ft_uapi_write_kv(w, "endpoint", "%s", ep);
}

int ft_uapi_write_allowed_ip(struct ft_uapi_writer *w, int family, const uint8_t *addr,
			     uint8_t cidr)
{
	char host[INET6_ADDRSTRLEN];

	if ((family != AF_INET && family != AF_INET6) || cidr > (family == AF_INET ? 32 : 128))
		return w->err ? w->err : (w->err = -EINVAL);
	inet_ntop(family, addr, host, sizeof(host));
	return ft_uapi_write_kv(w, "allowed_ip", "%s/%u", host, cidr);
}

bool ft_uapi_writer_extras(const struct ft_uapi_writer *w)
{
	return w->extras;
}

/* ---- The server ---- */

struct client {
	uv_pipe_t pipe;
	struct ft_uapi_server *srv;
	struct client *next, *prev;
	char *buf; /* received bytes; may hold keys, so wiped as it is consumed and freed */
	size_t len, cap;
	uv_write_t wreq;
	struct ft_uapi_writer out; /* the answer being written */
	bool writing, reading, eof, closing, close_after_write;
};

struct ft_uapi_server {
	uv_loop_t *loop;
	uv_pipe_t listener;
	uv_timer_t watch;
	struct ft_uapi_ops ops;
	void *arg;
	void (*gone)(void *arg);
	void *gone_arg;
	char path[FT_UAPI_PATH_LEN];
	dev_t dev;
	ino_t ino;
	struct client *clients;
	size_t n_clients;
	unsigned int pending_closes;
	bool closing;
	void (*close_cb)(void *arg);
	void *close_arg;
};

int ft_uapi_socket_path(char *buf, size_t len, const char *ifname)
{
	size_t n = strlen(ifname);
	int rc;

	if (n == 0 || n >= IFNAMSIZ || strchr(ifname, '/') || strcmp(ifname, ".") == 0 ||
	    strcmp(ifname, "..") == 0)
		return -EINVAL;
	rc = snprintf(buf, len, FT_UAPI_SOCKET_DIR "/%s.sock", ifname);
	return rc < 0 || (size_t)rc >= len ? -EINVAL : 0;
}

const char *ft_uapi_server_path(const struct ft_uapi_server *s)
{
	return s->path;
}

static void server_maybe_free(struct ft_uapi_server *s)
{
	void (*cb)(void *arg);
	void *arg;

	if (!s->closing || s->pending_closes > 0)
		return;
	cb = s->close_cb;
	arg = s->close_arg;
	free(s);
	if (cb)
		cb(arg);
}

static void client_closed(uv_handle_t *h)
{
	struct client *c = h->data;
	struct ft_uapi_server *s = c->srv;

	if (c->buf) {
		sodium_memzero(c->buf, c->cap);
		free(c->buf);
	}
	writer_release(&c->out);
	free(c);
	s->pending_closes--;
	server_maybe_free(s);
}

static void client_close(struct client *c)
{
	struct ft_uapi_server *s = c->srv;

	if (c->closing)
		return;
	c->closing = true;
	if (c->prev)
		c->prev->next = c->next;
	else
		s->clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->n_clients--;
	s->pending_closes++;
	uv_close((uv_handle_t *)&c->pipe, client_closed);
}

static void answer_errno(struct ft_uapi_writer *w, int rc)
{
	char line[32];
	int n = snprintf(line, sizeof(line), "errno=%d\n\n", rc < 0 ? -rc : rc);

	writer_release(w);
	/* 4 KiB is always there to take a short line; a failure would leave the answer empty. */
	writer_append(w, line, (size_t)n);
}

/* Handles one complete request; the answer is left in c->out. */
static void client_handle(struct client *c, const char *req, size_t len)
{
	struct ft_uapi_server *s = c->srv;
	struct ft_uapi_set *set;
	enum ft_uapi_op op;
	int rc;

	writer_release(&c->out);
	rc = ft_uapi_parse(req, len, &op, &set);
	if (rc < 0) {
		ft_log_debug("uapi: request refused: %s", strerror(-rc));
	} else if (op == FT_UAPI_SET) {
		rc = s->ops.set(s->arg, set);
		ft_uapi_set_free(set);
		if (rc > 0)
			rc = 0;
	} else {
		c->out.extras = op == FT_UAPI_GET_EXTRAS;
		rc = s->ops.get(s->arg, &c->out);
		if (rc == 0)
			rc = c->out.err;
		if (rc == 0)
			rc = writer_append(&c->out, "errno=0\n\n", 9);
		if (rc == 0)
			return;
	}
	answer_errno(&c->out, rc);
}

static void client_process(struct client *c);

static void client_written(uv_write_t *req, int status)
{
	struct client *c = req->data;

	c->writing = false;
	writer_release(&c->out);
	if (c->closing)
		return;
	if (status < 0 || c->close_after_write) {
		client_close(c);
		return;
	}
	client_process(c);
}

static void client_send(struct client *c)
{
	uv_buf_t b = uv_buf_init(c->out.buf, (unsigned int)c->out.len);
	int rc;

	c->wreq.data = c;
	rc = uv_write(&c->wreq, (uv_stream_t *)&c->pipe, &b, 1, client_written);
	if (rc < 0) {
		client_close(c);
		return;
	}
	c->writing = true;
}

static void client_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void client_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

/*
 * Answers the complete requests in the buffer one at a time: while an answer is being
 * written, reading stops, so one client holds at most one request and one answer.
 */
static void client_process(struct client *c)
{
	size_t n;

	while (!c->writing && !c->closing && (n = ft_uapi_request_len(c->buf, c->len)) > 0) {
		client_handle(c, c->buf, n);
		if (c->closing) /* the backend closed the server from its callback */
			return;
		sodium_memzero(c->buf, n);
		memmove(c->buf, c->buf + n, c->len - n);
		c->len -= n;
		sodium_memzero(c->buf + c->len, n);
		client_send(c);
	}
	if (c->closing)
		return;
	if (!c->writing && c->len >= FT_UAPI_MAX_REQUEST) {
		/* No blank line within the limit: refuse it; the framing is lost, so hang up. */
		ft_log_debug("uapi: request over %d bytes refused", FT_UAPI_MAX_REQUEST);
		answer_errno(&c->out, -EMSGSIZE);
		c->close_after_write = true;
		client_send(c);
	}
	if (c->closing)
		return;
	if (c->writing || c->eof) {
		if (c->reading)
			uv_read_stop((uv_stream_t *)&c->pipe);
		c->reading = false;
		if (!c->writing)
			client_close(c);
	} else if (!c->reading) {
		if (uv_read_start((uv_stream_t *)&c->pipe, client_alloc, client_read) < 0)
			client_close(c);
		else
			c->reading = true;
	}
}

static void client_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct client *c = h->data;
	size_t want = c->len + 4096, cap;
	char *nbuf;

	(void)suggested;
	if (want > FT_UAPI_MAX_REQUEST)
		want = FT_UAPI_MAX_REQUEST;
	if (c->cap < want) {
		cap = c->cap ? c->cap : 4096;
		while (cap < want)
			cap *= 2;
		if (cap > FT_UAPI_MAX_REQUEST)
			cap = FT_UAPI_MAX_REQUEST;
		nbuf = malloc(cap);
		if (!nbuf) {
			*buf = uv_buf_init(NULL, 0); /* libuv reports UV_ENOBUFS */
			return;
		}
		if (c->buf) {
			memcpy(nbuf, c->buf, c->len);
			sodium_memzero(c->buf, c->cap);
			free(c->buf);
		}
		c->buf = nbuf;
		c->cap = cap;
	}
	*buf = uv_buf_init(c->buf + c->len, (unsigned int)(c->cap - c->len));
}

static void client_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct client *c = stream->data;

	(void)buf;
	if (nread == 0)
		return;
	if (nread < 0) {
		if (nread != UV_EOF) {
			client_close(c);
			return;
		}
		/* A client may half-close after its request: it still gets its answers. */
		c->eof = true;
	} else {
		c->len += (size_t)nread;
	}
	client_process(c);
}

static void reject_closed(uv_handle_t *h)
{
	free(h);
}

static void on_connection(uv_stream_t *server, int status)
{
	struct ft_uapi_server *s = server->data;
	struct client *c;

	if (status < 0 || s->closing)
		return;
	if (s->n_clients >= FT_UAPI_MAX_CLIENTS) {
		uv_pipe_t *p = malloc(sizeof(*p));

		/* Accept and hang up at once, so the backlog drains instead of stalling. */
		if (p && uv_pipe_init(s->loop, p, 0) == 0) {
			if (uv_accept(server, (uv_stream_t *)p) < 0)
				ft_log_debug("uapi: accept failed");
			uv_close((uv_handle_t *)p, reject_closed);
		} else {
			free(p);
		}
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->srv = s;
	if (uv_pipe_init(s->loop, &c->pipe, 0) < 0) {
		free(c);
		return;
	}
	c->pipe.data = c;
	c->next = s->clients;
	if (s->clients)
		s->clients->prev = c;
	s->clients = c;
	s->n_clients++;
	if (uv_accept(server, (uv_stream_t *)&c->pipe) < 0) {
		client_close(c);
		return;
	}
	client_process(c);
}

/* Whether path still names the socket this server bound. */
static bool still_ours(const struct ft_uapi_server *s)
{
	struct stat st;

	return lstat(s->path, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_dev == s->dev &&
	       st.st_ino == s->ino;
}

/* -EADDRINUSE if a live instance answers at path, 0 if nothing (or a stale socket, removed). */
static int check_existing(const char *path, const struct sockaddr_un *sun)
{
	struct stat st;
	int fd, rc;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
	if (rc == 0 || errno == EAGAIN || errno == EINPROGRESS) {
		/* Accepted, or its backlog is full: someone is serving this interface. */
		rc = -EADDRINUSE;
	} else if (errno == ECONNREFUSED) {
		/* Nobody listens: the leftover of an instance that did not clean up. */
		rc = unlink(path) < 0 && errno != ENOENT ? -errno : 0;
	} else {
		rc = -errno;
	}
	close(fd);
	return rc;
}

static int make_dir(const char *path)
{
	char dir[FT_UAPI_PATH_LEN];
	const char *slash = strrchr(path, '/');
	size_t n;

	if (!slash || slash == path)
		return 0;
	n = (size_t)(slash - path);
	memcpy(dir, path, n);
	dir[n] = '\0';
	if (mkdir(dir, 0755) == 0)
		return chmod(dir, 0755) < 0 ? -errno : 0; /* whatever the umask */
	return errno == EEXIST ? 0 : -errno;
}

static void listener_closed(uv_handle_t *h)
{
	struct ft_uapi_server *s = h->data;

	s->pending_closes--;
	server_maybe_free(s);
}

int ft_uapi_server_create(struct ft_uapi_server **out, uv_loop_t *loop, const char *path,
			  const struct ft_uapi_ops *ops, void *arg)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct ft_uapi_server *s;
	struct stat st;
	int fd = -1, rc;

	assert(ops && ops->get && ops->set);
	*out = NULL;
	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->loop = loop;
	s->ops = *ops;
	s->arg = arg;
	memcpy(s->path, path, strlen(path) + 1);

	rc = make_dir(path);
	if (rc < 0)
		goto err_free;
	rc = check_existing(path, &sun);
	if (rc < 0)
		goto err_free;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		rc = -errno;
		goto err_free;
	}
	/* Linux gives the socket file the mode of the socket's inode: 0600 from the start, no
	 * window in which another user could connect (the chmod below is for other kernels). */
	if (fchmod(fd, 0600) < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		rc = -errno;
		goto err_close;
	}
	if (chmod(path, 0600) < 0 || listen(fd, 16) < 0 || lstat(path, &st) < 0) {
		rc = -errno;
		goto err_unlink;
	}
	s->dev = st.st_dev;
	s->ino = st.st_ino;

	rc = uv_pipe_init(loop, &s->listener, 0);
	if (rc < 0)
		goto err_unlink;
	s->listener.data = s;
	rc = uv_pipe_open(&s->listener, fd);
	if (rc < 0) {
		close(fd);
		goto err_handle;
	}
	/* From here the handle owns fd. */
	rc = uv_listen((uv_stream_t *)&s->listener, 16, on_connection);
	if (rc < 0)
		goto err_handle;
	uv_timer_init(loop, &s->watch);
	s->watch.data = s;
	*out = s;
	return 0;

err_handle:
	/* The handle's memory is s: it is freed in the close callback, after this returns. */
	unlink(path);
	s->closing = true;
	s->pending_closes = 1;
	uv_close((uv_handle_t *)&s->listener, listener_closed);
	return rc;
err_unlink:
	unlink(path);
err_close:
	close(fd);
err_free:
	free(s);
	return rc;
}

static void watch_tick(uv_timer_t *t)
{
	struct ft_uapi_server *s = t->data;

	if (still_ours(s))
		return;
	uv_timer_stop(t);
	ft_log_info("uapi: %s was removed", s->path);
	if (s->gone)
		s->gone(s->gone_arg);
}

int ft_uapi_server_watch(struct ft_uapi_server *s, uint64_t interval_ms, void (*gone)(void *arg),
			 void *arg)
{
	assert(interval_ms > 0);
	s->gone = gone;
	s->gone_arg = arg;
	return uv_timer_start(&s->watch, watch_tick, interval_ms, interval_ms);
}

void ft_uapi_server_close(struct ft_uapi_server *s, void (*cb)(void *arg), void *arg)
{
	if (s->closing)
		return;
	s->closing = true;
	s->close_cb = cb;
	s->close_arg = arg;
	/* Someone else's socket may have replaced ours: only ours is removed. */
	if (still_ours(s))
		ft_opener_unlink(s->path);
	while (s->clients)
		client_close(s->clients);
	s->pending_closes += 2;
	uv_close((uv_handle_t *)&s->listener, listener_closed);
	uv_close((uv_handle_t *)&s->watch, listener_closed);
}
