// SPDX-License-Identifier: MIT
/*
 * flowtun show: what `wg show` shows, plus what it cannot (underlay links, per-peer path state,
 * the drop counters, the top connections of the open statistics window, the flow-log and
 * IPFIX destinations), read over the userspace API socket with get=flowtun. The answer's
 * format is the block comment at the top of tun/worker_ctl.c.
 *
 * A plain blocking AF_UNIX socket is enough here: one request, one bounded answer, with a
 * receive timeout so that a wedged server cannot hang the command. The answer is read whole,
 * validated line by line into struct show_dev (values point into the answer buffer), then
 * printed as text or JSON. The answer holds the private and preshared keys in hex: they are
 * wiped from it as soon as they are parsed and the buffer is wiped before it is freed.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "tools/commands.h"
#include "tools/human.h"
#include "tun/key.h"
#include "tun/uapi.h"

enum {
	/* Far above any real answer (8192 peers take about 4 MiB), far below a memory hog. */
	SHOW_MAX_ANSWER = 8 << 20,
	SHOW_READ_CHUNK = 64 << 10,
	SHOW_TIMEOUT_S = 5,
	SHOW_IFNAME_MAX = 15, /* IFNAMSIZ - 1 */
};

static int cmd_show(int argc, char *argv[]);

const struct ft_command ft_command_show = {
	.name = "show",
	.summary = "show a running tunnel: peers, paths, links, drops, top connections",
	.usage =
		"Usage: flowtun show [IFACE] [--json] [--all]\n"
		"\n"
		"Asks the flowtun serving " FT_UAPI_SOCKET_DIR "/IFACE.sock (flowtun up or\n"
		"flowtun IFACE) for its state and prints what `wg show` prints (peers, endpoints,\n"
		"allowed ips, latest handshake, transfer, keepalive) plus the underlay link status,\n"
		"each peer's path state and since when, the drop and event counters, the top\n"
		"connections of the open statistics window by bytes, and the flow-log and IPFIX\n"
		"destinations with their counts. Without IFACE: every socket there that answers.\n"
		"\n"
		"Options:\n"
		"      --json   one JSON object for IFACE; without IFACE an array of them. It has\n"
		"               every counter, zero or not\n"
		"  -a, --all    show the counters that are zero too\n"
		"\n"
		"FLOWTUN_SHOW_NOW=UNIX_SECONDS (a test hook) is taken as the current time for the\n"
		"relative times (\"1 minute, 3 seconds ago\").\n"
		"Exits 0, 1 when a socket could not be reached or read (which and why go to\n"
		"standard error), 2 on a usage error.\n",
	.run = cmd_show,
};

struct show_link {
	const char *name, *state;
	uint64_t since_ms;
};

struct show_counter {
	const char *name;
	uint64_t value;
};

struct show_top {
	unsigned int proto;
	const char *src, *dst;
	uint64_t tx_packets, tx_bytes, rx_packets, rx_bytes;
};

struct show_peer {
	char public_key[FT_KEY_B64_LEN + 1];
	bool has_psk;
	const char *endpoint;
	const char **allowed;
	size_t n_allowed, cap_allowed;
	uint64_t handshake_sec, handshake_nsec;
	uint64_t rx_bytes, tx_bytes;
	uint64_t keepalive;
	const char *state;
	uint64_t state_since;
	const char *path;
	size_t index; /* position in the answer: the tie-breaker of the sort */
};

/* One interface's answer, parsed. Strings point into buf. */
struct show_dev {
	char name[SHOW_IFNAME_MAX + 1];
	char *buf;
	size_t len, cap;
	bool extras; /* answered get=flowtun (not an older server's get=1) */
	bool has_public_key;
	char public_key[FT_KEY_B64_LEN + 1];
	uint64_t listen_port, fwmark;
	const char *iface;
	struct show_link *links;
	size_t n_links, cap_links;
	struct show_counter *counters;
	size_t n_counters, cap_counters;
	const char *flowlog;
	uint64_t flowlog_lines, flowlog_lost, flowlog_error;
	const char **ipfix;
	size_t n_ipfix, cap_ipfix;
	bool has_ipfix_counts;
	uint64_t ipfix_messages, ipfix_errors;
	bool has_window;
	uint64_t window_start_ms;
	struct show_top *top;
	size_t n_top, cap_top;
	struct show_peer *peers;
	size_t n_peers, cap_peers;
	char err[256]; /* why the query failed */
};

struct show_opts {
	bool json;
	bool all;
	uint64_t now; /* wall-clock seconds */
};

/* ---- the query -------------------------------------------------------------------------- */

static void dev_reset(struct show_dev *d)
{
	char name[sizeof(d->name)];

	for (size_t i = 0; i < d->n_peers; i++)
		free(d->peers[i].allowed);
	free(d->peers);
	free(d->links);
	free(d->counters);
	free(d->ipfix);
	free(d->top);
	if (d->buf) {
		sodium_memzero(d->buf, d->cap);
		free(d->buf);
	}
	memcpy(name, d->name, sizeof(name));
	memset(d, 0, sizeof(*d));
	memcpy(d->name, name, sizeof(name));
}

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

/* Grows the answer buffer by copying, so that no stale copy of a key is left in freed memory. */
static int grow_buf(struct show_dev *d, size_t want)
{
	size_t c = d->cap ? d->cap : SHOW_READ_CHUNK;
	char *q;

	if (want <= d->cap)
		return 0;
	while (c < want)
		c *= 2;
	q = malloc(c);
	if (!q)
		return -ENOMEM;
	if (d->buf) {
		memcpy(q, d->buf, d->len);
		sodium_memzero(d->buf, d->cap);
		free(d->buf);
	}
	d->buf = q;
	d->cap = c;
	return 0;
}

static int socket_path(char out[FT_UAPI_PATH_LEN], const char *name)
{
	int n = snprintf(out, FT_UAPI_PATH_LEN, "%s/%s.sock", FT_UAPI_SOCKET_DIR, name);

	return n < 0 || n >= FT_UAPI_PATH_LEN ? -ENAMETOOLONG : 0;
}

/*
 * Sends request and reads the answer into d->buf, NUL-terminated, through the blank line that
 * ends it. 0, or a negative errno with d->err saying what failed.
 */
static int query(struct show_dev *d, const char *request)
{
	char path[FT_UAPI_PATH_LEN];
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = SHOW_TIMEOUT_S };
	size_t reqlen = strlen(request), sent = 0, scan = 0;
	int fd, rc;

	rc = socket_path(path, d->name);
	if (rc < 0) {
		snprintf(d->err, sizeof(d->err), "%s/%s.sock: the path is too long",
			 FT_UAPI_SOCKET_DIR, d->name);
		return rc;
	}
	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		snprintf(d->err, sizeof(d->err), "cannot create a socket: %s", strerror(-rc));
		return rc;
	}
	/* A server that accepts and then says nothing must not hang the command. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
	    connect(fd, (const struct sockaddr *)&sun, sizeof(sun)) < 0) {
		rc = -errno;
		snprintf(d->err, sizeof(d->err), "cannot connect to %s: %s", path, strerror(-rc));
		goto out;
	}
	while (sent < reqlen) {
		ssize_t n = send(fd, request + sent, reqlen - sent, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			snprintf(d->err, sizeof(d->err), "cannot write to %s: %s", path,
				 strerror(-rc));
			goto out;
		}
		sent += (size_t)n;
	}
	d->len = 0;
	for (;;) {
		char *end;
		ssize_t n;

		if (d->len >= SHOW_MAX_ANSWER) {
			rc = -EMSGSIZE;
			snprintf(d->err, sizeof(d->err),
				 "cannot read %s: the answer is over %d MiB", path,
				 SHOW_MAX_ANSWER >> 20);
			goto out;
		}
		rc = grow_buf(d, d->len + SHOW_READ_CHUNK + 1);
		if (rc < 0) {
			snprintf(d->err, sizeof(d->err), "cannot read %s: %s", path, strerror(-rc));
			goto out;
		}
		n = recv(fd, d->buf + d->len, SHOW_READ_CHUNK, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
			snprintf(d->err, sizeof(d->err), "cannot read %s: %s", path,
				 rc == -ETIMEDOUT ? "no answer within 5 seconds" : strerror(-rc));
			goto out;
		}
		if (n == 0) {
			rc = -EPROTO;
			snprintf(d->err, sizeof(d->err),
				 "cannot read %s: the connection closed before the answer ended",
				 path);
			goto out;
		}
		d->len += (size_t)n;
		d->buf[d->len] = '\0';
		/* The answer holds no blank line before the one that ends it. */
		end = strstr(d->buf + scan, "\n\n");
		if (end) {
			d->len = (size_t)(end - d->buf) + 2;
			d->buf[d->len] = '\0';
			rc = 0;
			goto out;
		}
		scan = d->len - 1;
	}
out:
	close(fd);
	return rc;
}

/* ---- parsing ---------------------------------------------------------------------------- */

static int parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

/* Splits s in place at single spaces into exactly n fields. */
static int split(char *s, char **fields, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		fields[i] = s;
		s = strchr(s, ' ');
		if (i + 1 < n) {
			if (!s)
				return -EINVAL;
			*s++ = '\0';
		}
	}
	return s || !fields[n - 1][0] ? -EINVAL : 0;
}

static int parse_key(char *value, char b64[FT_KEY_B64_LEN + 1])
{
	uint8_t key[FT_KEY_LEN];
	int rc = ft_key_from_hex(key, value);

	if (rc == 0)
		ft_key_to_base64(b64, key);
	sodium_memzero(key, sizeof(key));
	return rc;
}

static int parse_private_key(struct show_dev *d, char *value)
{
	uint8_t *priv = sodium_malloc(FT_KEY_LEN), pub[FT_KEY_LEN];
	int rc;

	if (!priv)
		return -ENOMEM;
	rc = ft_key_from_hex(priv, value);
	if (rc == 0)
		rc = ft_key_public(pub, priv);
	if (rc == 0) {
		ft_key_to_base64(d->public_key, pub);
		d->has_public_key = true;
	}
	sodium_free(priv);
	sodium_memzero(value, strlen(value));
	return rc;
}

static bool all_zero_hex(const char *s)
{
	for (; *s; s++)
		if (*s != '0')
			return false;
	return true;
}

static int parse_device_key(struct show_dev *d, const char *key, char *value)
{
	char *f[7];
	int rc;

	if (strcmp(key, "private_key") == 0)
		return parse_private_key(d, value);
	if (strcmp(key, "listen_port") == 0)
		return parse_u64(value, &d->listen_port);
	if (strcmp(key, "fwmark") == 0)
		return parse_u64(value, &d->fwmark);
	if (strcmp(key, "flowtun_interface") == 0) {
		d->iface = value;
		return 0;
	}
	if (strcmp(key, "flowtun_link") == 0) {
		struct show_link *l;

		if ((rc = split(value, f, 3)) < 0)
			return rc;
		if (!(l = grow(d->links, &d->cap_links, d->n_links, sizeof(*l))))
			return -ENOMEM;
		d->links = l;
		l = &d->links[d->n_links];
		l->name = f[0];
		l->state = f[1];
		if ((rc = parse_u64(f[2], &l->since_ms)) < 0)
			return rc;
		d->n_links++;
		return 0;
	}
	if (strcmp(key, "flowtun_counter") == 0) {
		struct show_counter *c;

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
	if (strcmp(key, "flowtun_flowlog") == 0) {
		d->flowlog = value;
		return 0;
	}
	if (strcmp(key, "flowtun_flowlog_lines") == 0)
		return parse_u64(value, &d->flowlog_lines);
	if (strcmp(key, "flowtun_flowlog_lost") == 0)
		return parse_u64(value, &d->flowlog_lost);
	if (strcmp(key, "flowtun_flowlog_error") == 0)
		return parse_u64(value, &d->flowlog_error);
	if (strcmp(key, "flowtun_ipfix") == 0) {
		const char **v = grow(d->ipfix, &d->cap_ipfix, d->n_ipfix, sizeof(*v));

		if (!v)
			return -ENOMEM;
		d->ipfix = v;
		d->ipfix[d->n_ipfix++] = value;
		return 0;
	}
	if (strcmp(key, "flowtun_ipfix_messages") == 0) {
		d->has_ipfix_counts = true;
		return parse_u64(value, &d->ipfix_messages);
	}
	if (strcmp(key, "flowtun_ipfix_errors") == 0) {
		d->has_ipfix_counts = true;
		return parse_u64(value, &d->ipfix_errors);
	}
	if (strcmp(key, "flowtun_window_start_ms") == 0) {
		d->has_window = true;
		return parse_u64(value, &d->window_start_ms);
	}
	if (strcmp(key, "flowtun_top") == 0) {
		struct show_top *t;
		uint64_t proto;

		if ((rc = split(value, f, 7)) < 0)
			return rc;
		if (!(t = grow(d->top, &d->cap_top, d->n_top, sizeof(*t))))
			return -ENOMEM;
		d->top = t;
		t = &d->top[d->n_top];
		t->src = f[1];
		t->dst = f[2];
		if ((rc = parse_u64(f[0], &proto)) < 0 ||
		    (rc = parse_u64(f[3], &t->tx_packets)) < 0 ||
		    (rc = parse_u64(f[4], &t->tx_bytes)) < 0 ||
		    (rc = parse_u64(f[5], &t->rx_packets)) < 0 ||
		    (rc = parse_u64(f[6], &t->rx_bytes)) < 0)
			return rc;
		if (proto > 255)
			return -EINVAL;
		t->proto = (unsigned int)proto;
		d->n_top++;
		return 0;
	}
	return 0; /* a key of a newer server: skipped, as wg(8) does */
}

static int parse_peer_key(struct show_peer *p, const char *key, char *value)
{
	uint8_t psk[FT_KEY_LEN];
	int rc;

	if (strcmp(key, "preshared_key") == 0) {
		rc = ft_key_from_hex(psk, value);
		sodium_memzero(psk, sizeof(psk));
		p->has_psk = rc == 0 && !all_zero_hex(value);
		sodium_memzero(value, strlen(value));
		return rc;
	}
	if (strcmp(key, "endpoint") == 0) {
		p->endpoint = value;
		return 0;
	}
	if (strcmp(key, "allowed_ip") == 0) {
		const char **v = grow(p->allowed, &p->cap_allowed, p->n_allowed, sizeof(*v));

		if (!v)
			return -ENOMEM;
		p->allowed = v;
		p->allowed[p->n_allowed++] = value;
		return 0;
	}
	if (strcmp(key, "last_handshake_time_sec") == 0)
		return parse_u64(value, &p->handshake_sec);
	if (strcmp(key, "last_handshake_time_nsec") == 0)
		return parse_u64(value, &p->handshake_nsec);
	if (strcmp(key, "rx_bytes") == 0)
		return parse_u64(value, &p->rx_bytes);
	if (strcmp(key, "tx_bytes") == 0)
		return parse_u64(value, &p->tx_bytes);
	if (strcmp(key, "persistent_keepalive_interval") == 0)
		return parse_u64(value, &p->keepalive);
	if (strcmp(key, "flowtun_peer_state") == 0) {
		p->state = value;
		return 0;
	}
	if (strcmp(key, "flowtun_peer_state_since") == 0)
		return parse_u64(value, &p->state_since);
	if (strcmp(key, "flowtun_peer_path") == 0) {
		p->path = value;
		return 0;
	}
	return 0;
}

/*
 * Interprets d->buf (as query() left it) in place. 0; -ENOEXEC when the server answered with
 * a non-zero errno (d->err says which); another negative errno for a malformed answer.
 */
static int parse_answer(struct show_dev *d)
{
	char path[FT_UAPI_PATH_LEN], *line = d->buf, *next;
	unsigned int lineno = 0;
	const char *why = NULL;
	int rc = 0;

	for (; *line && *line != '\n'; line = next) {
		struct show_peer *p = d->n_peers ? &d->peers[d->n_peers - 1] : NULL;
		char *eq, *value;

		lineno++;
		next = strchr(line, '\n');
		*next++ = '\0';
		eq = strchr(line, '=');
		if (!eq || eq == line) {
			why = "line (no key=value)";
			rc = -EBADMSG;
			break;
		}
		*eq = '\0';
		value = eq + 1;
		why = line; /* the key, never the value: that may be a secret */
		if (strcmp(line, "errno") == 0) {
			uint64_t e;

			if (parse_u64(value, &e) < 0 || *next != '\n') {
				rc = -EBADMSG;
				break;
			}
			if (e == 0)
				return 0;
			if (socket_path(path, d->name) < 0)
				path[0] = '\0';
			snprintf(d->err, sizeof(d->err), "%s answered errno=%.20s (%s)", path,
				 value, e < 4096 ? strerror((int)e) : "?");
			return -ENOEXEC;
		}
		if (strcmp(line, "public_key") == 0) {
			if (!(p = grow(d->peers, &d->cap_peers, d->n_peers, sizeof(*p)))) {
				rc = -ENOMEM;
				break;
			}
			d->peers = p;
			p = &d->peers[d->n_peers];
			memset(p, 0, sizeof(*p));
			p->index = d->n_peers++;
			if ((rc = parse_key(value, p->public_key)) < 0)
				break;
		} else if (p) {
			if ((rc = parse_peer_key(p, line, value)) < 0)
				break;
		} else if ((rc = parse_device_key(d, line, value)) < 0) {
			break;
		}
	}
	if (socket_path(path, d->name) < 0)
		path[0] = '\0';
	if (rc == 0)
		snprintf(d->err, sizeof(d->err), "%s: the answer ended without an errno line",
			 path);
	else if (rc == -ENOMEM)
		snprintf(d->err, sizeof(d->err), "%s: %s", path, strerror(ENOMEM));
	else
		snprintf(d->err, sizeof(d->err), "%s: malformed answer at line %u: bad %.64s", path,
			 lineno, why ? why : "line");
	return rc == 0 ? -EBADMSG : rc;
}

/* As wg(8): the peer with the latest handshake first. */
static int cmp_peers(const void *a, const void *b)
{
	const struct show_peer *x = a, *y = b;

	if (x->handshake_sec != y->handshake_sec)
		return x->handshake_sec > y->handshake_sec ? -1 : 1;
	if (x->handshake_nsec != y->handshake_nsec)
		return x->handshake_nsec > y->handshake_nsec ? -1 : 1;
	return x->index < y->index ? -1 : x->index > y->index;
}

/* Reads interface d->name: get=flowtun, or get=1 from a server that does not know it. */
static int load(struct show_dev *d)
{
	int rc = query(d, "get=flowtun\n\n");

	if (rc == 0) {
		rc = parse_answer(d);
		d->extras = true;
	}
	if (rc == -ENOEXEC) {
		/* wireguard-go, or a flowtun from before get=flowtun: show what wg shows. */
		dev_reset(d);
		rc = query(d, "get=1\n\n");
		if (rc == 0)
			rc = parse_answer(d);
	}
	if (rc == 0 && d->n_peers > 1)
		qsort(d->peers, d->n_peers, sizeof(*d->peers), cmp_peers);
	return rc;
}

/* ---- text ------------------------------------------------------------------------------- */

/* "1 year, 2 days, 1 minute, 3 seconds", as wg(8) writes durations; "0 seconds" for 0. */
static void pretty_time(char *buf, size_t size, uint64_t left)
{
	static const struct {
		const char *unit;
		uint64_t seconds;
	} units[] = {
		{ "year", 365 * 24 * 3600 },
		{ "day", 24 * 3600 },
		{ "hour", 3600 },
		{ "minute", 60 },
		{ "second", 1 },
	};
	size_t off = 0;

	buf[0] = '\0';
	if (left == 0) {
		snprintf(buf, size, "0 seconds");
		return;
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]) && off < size; i++) {
		uint64_t n = left / units[i].seconds;
		int w;

		left %= units[i].seconds;
		if (!n)
			continue;
		w = snprintf(buf + off, size - off, "%s%" PRIu64 " %s%s", off ? ", " : "", n,
			     units[i].unit, n == 1 ? "" : "s");
		if (w < 0)
			return;
		off += (size_t)w;
	}
}

/* "1 minute, 3 seconds ago", "Now" as wg(8) says it, or a clock-skew note. */
static void ago(char *buf, size_t size, uint64_t now, uint64_t then)
{
	char d[128];

	if (then == now) {
		snprintf(buf, size, "Now");
	} else if (then > now) {
		snprintf(buf, size, "in the future (the clock went backwards?)");
	} else {
		pretty_time(d, sizeof(d), now - then);
		snprintf(buf, size, "%s ago", d);
	}
}

/* "532 B", "1.23 KiB" ... "4.00 TiB", as wg(8) writes byte counts. */
static void bytes(char *buf, size_t size, uint64_t b)
{
	ft_human_bytes(buf, size, b, 2);
}

static const char *proto_name(unsigned int proto)
{
	switch (proto) {
	case 1:
		return "icmp";
	case 6:
		return "tcp";
	case 17:
		return "udp";
	case 58:
		return "ipv6-icmp";
	case 255:
		return "fragment";
	default:
		return NULL;
	}
}

static const char *link_state_text(const char *s)
{
	if (strcmp(s, "link") == 0)
		return "up";
	if (strcmp(s, "no-link") == 0)
		return "down";
	return s;
}

static const char *peer_state_text(const char *s)
{
	if (strcmp(s, "link-down") == 0)
		return "link down";
	if (strcmp(s, "handshake-failing") == 0)
		return "handshake failing";
	if (strcmp(s, "no-session") == 0)
		return "no session";
	return s;
}

static void print_for(FILE *f, const struct show_opts *o, uint64_t since)
{
	char t[128];

	if (since == 0)
		return;
	if (since > o->now) {
		fprintf(f, " (since a time in the future: the clock went backwards?)");
		return;
	}
	pretty_time(t, sizeof(t), o->now - since);
	fprintf(f, " for %s", t);
}

static void print_device(FILE *f, const struct show_dev *d, const struct show_opts *o)
{
	char a[64], b[64], t[160];
	bool any = false;

	fprintf(f, "interface: %s\n", d->name);
	if (d->has_public_key) {
		fprintf(f, "  public key: %s\n", d->public_key);
		fprintf(f, "  private key: (hidden)\n");
	}
	if (d->listen_port)
		fprintf(f, "  listening port: %" PRIu64 "\n", d->listen_port);
	if (d->fwmark)
		fprintf(f, "  fwmark: 0x%" PRIx64 "\n", d->fwmark);
	if (d->iface && strcmp(d->iface, d->name) != 0)
		fprintf(f, "  device: %s\n", d->iface);
	for (size_t i = 0; i < d->n_links; i++) {
		fprintf(f, "  underlay %s: %s", d->links[i].name,
			link_state_text(d->links[i].state));
		print_for(f, o, d->links[i].since_ms / 1000);
		fputc('\n', f);
	}
	if (d->flowlog) {
		fprintf(f, "  flow log: %s (%" PRIu64 " lines, %" PRIu64 " lost", d->flowlog,
			d->flowlog_lines, d->flowlog_lost);
		if (d->flowlog_error)
			fprintf(f, ", failing: %s",
				d->flowlog_error < 4096 ? strerror((int)d->flowlog_error) : "?");
		fprintf(f, ")\n");
	}
	for (size_t i = 0; i < d->n_ipfix; i++)
		fprintf(f, "  ipfix collector: %s\n", d->ipfix[i]);
	if (d->has_ipfix_counts)
		fprintf(f, "  ipfix: %" PRIu64 " messages, %" PRIu64 " lost to send errors\n",
			d->ipfix_messages, d->ipfix_errors);
	for (size_t i = 0; i < d->n_counters; i++) {
		if (!o->all && d->counters[i].value == 0)
			continue;
		if (!any)
			fprintf(f, "  counters:\n");
		any = true;
		fprintf(f, "    %s: %" PRIu64 "\n", d->counters[i].name, d->counters[i].value);
	}
	if (d->extras && !d->has_window)
		fprintf(f, "  statistics: off (no flow log and no IPFIX collector)\n");
	if (d->n_top) {
		fprintf(f, "  top connections");
		if (d->has_window && d->window_start_ms) {
			ago(t, sizeof(t), o->now, d->window_start_ms / 1000);
			fprintf(f, " (window opened %s)", t);
		}
		fprintf(f, ":\n");
	}
	for (size_t i = 0; i < d->n_top; i++) {
		const struct show_top *e = &d->top[i];
		const char *pn = proto_name(e->proto);

		bytes(a, sizeof(a), e->tx_bytes);
		bytes(b, sizeof(b), e->rx_bytes);
		if (pn)
			fprintf(f, "    %s", pn);
		else
			fprintf(f, "    proto %u", e->proto);
		fprintf(f,
			" %s -> %s: %s sent (%" PRIu64 " packet%s), %s received (%" PRIu64
			" packet%s)\n",
			e->src, e->dst, a, e->tx_packets, e->tx_packets == 1 ? "" : "s", b,
			e->rx_packets, e->rx_packets == 1 ? "" : "s");
	}
	for (size_t i = 0; i < d->n_peers; i++) {
		const struct show_peer *p = &d->peers[i];

		fprintf(f, "\npeer: %s\n", p->public_key);
		if (p->has_psk)
			fprintf(f, "  preshared key: (hidden)\n");
		if (p->endpoint)
			fprintf(f, "  endpoint: %s\n", p->endpoint);
		fprintf(f, "  allowed ips: ");
		for (size_t j = 0; j < p->n_allowed; j++)
			fprintf(f, "%s%s", j ? ", " : "", p->allowed[j]);
		fprintf(f, "%s\n", p->n_allowed ? "" : "(none)");
		if (p->handshake_sec) {
			ago(t, sizeof(t), o->now, p->handshake_sec);
			fprintf(f, "  latest handshake: %s\n", t);
		}
		if (p->rx_bytes || p->tx_bytes) {
			bytes(a, sizeof(a), p->rx_bytes);
			bytes(b, sizeof(b), p->tx_bytes);
			fprintf(f, "  transfer: %s received, %s sent\n", a, b);
		}
		if (p->keepalive) {
			pretty_time(t, sizeof(t), p->keepalive);
			fprintf(f, "  persistent keepalive: every %s\n", t);
		}
		if (p->state) {
			fprintf(f, "  path: %s", peer_state_text(p->state));
			print_for(f, o, p->state_since);
			if (p->path)
				fprintf(f, ", via %s", p->path);
			fputc('\n', f);
		}
	}
}

/* ---- JSON ------------------------------------------------------------------------------- */

static json_t *json_u64(uint64_t v)
{
	return json_integer(v > (uint64_t)INT64_MAX ? INT64_MAX : (json_int_t)v);
}

/* Every json_object_set_new() steals its value, also on failure: no leak on that path. */
static json_t *device_json(const struct show_dev *d)
{
	json_t *o = json_object(), *a, *x;

	if (!o)
		return NULL;
	json_object_set_new(o, "interface", json_string(d->name));
	if (d->has_public_key)
		json_object_set_new(o, "publicKey", json_string(d->public_key));
	json_object_set_new(o, "listenPort", json_u64(d->listen_port));
	json_object_set_new(o, "fwmark", json_u64(d->fwmark));
	json_object_set_new(o, "flowtunExtras", json_boolean(d->extras));
	if (d->iface)
		json_object_set_new(o, "device", json_string(d->iface));
	json_object_set_new(o, "links", a = json_array());
	for (size_t i = 0; a && i < d->n_links; i++)
		json_array_append_new(a, json_pack("{s:s, s:s, s:o}", "name", d->links[i].name,
						   "state", d->links[i].state, "sinceMs",
						   json_u64(d->links[i].since_ms)));
	json_object_set_new(o, "counters", x = json_object());
	for (size_t i = 0; x && i < d->n_counters; i++)
		json_object_set_new(x, d->counters[i].name, json_u64(d->counters[i].value));
	if (d->flowlog)
		json_object_set_new(o, "flowLog",
				    json_pack("{s:s, s:o, s:o, s:o}", "destination", d->flowlog,
					      "lines", json_u64(d->flowlog_lines), "lost",
					      json_u64(d->flowlog_lost), "error",
					      json_u64(d->flowlog_error)));
	if (d->n_ipfix || d->has_ipfix_counts) {
		json_t *c = json_array();

		for (size_t i = 0; c && i < d->n_ipfix; i++)
			json_array_append_new(c, json_string(d->ipfix[i]));
		json_object_set_new(o, "ipfix",
				    json_pack("{s:o*, s:o, s:o}", "collectors", c, "messages",
					      json_u64(d->ipfix_messages), "errors",
					      json_u64(d->ipfix_errors)));
	}
	if (d->has_window)
		json_object_set_new(o, "windowStartMs", json_u64(d->window_start_ms));
	json_object_set_new(o, "top", a = json_array());
	for (size_t i = 0; a && i < d->n_top; i++) {
		const struct show_top *e = &d->top[i];
		const char *pn = proto_name(e->proto);

		json_array_append_new(
			a, json_pack("{s:i, s:s?, s:s, s:s, s:o, s:o, s:o, s:o}", "proto",
				     (int)e->proto, "protoName", pn, "src", e->src, "dst", e->dst,
				     "txPkts", json_u64(e->tx_packets), "txBytes",
				     json_u64(e->tx_bytes), "rxPkts", json_u64(e->rx_packets),
				     "rxBytes", json_u64(e->rx_bytes)));
	}
	json_object_set_new(o, "peers", a = json_array());
	for (size_t i = 0; a && i < d->n_peers; i++) {
		const struct show_peer *p = &d->peers[i];
		json_t *po = json_object(), *ips = json_array();

		for (size_t j = 0; ips && j < p->n_allowed; j++)
			json_array_append_new(ips, json_string(p->allowed[j]));
		if (!po) {
			json_decref(ips);
			break;
		}
		json_object_set_new(po, "publicKey", json_string(p->public_key));
		json_object_set_new(po, "presharedKey", json_boolean(p->has_psk));
		json_object_set_new(po, "endpoint",
				    p->endpoint ? json_string(p->endpoint) : json_null());
		json_object_set_new(po, "allowedIps", ips);
		json_object_set_new(po, "latestHandshake", json_u64(p->handshake_sec));
		json_object_set_new(po, "rxBytes", json_u64(p->rx_bytes));
		json_object_set_new(po, "txBytes", json_u64(p->tx_bytes));
		json_object_set_new(po, "persistentKeepalive", json_u64(p->keepalive));
		if (p->state) {
			json_object_set_new(po, "state", json_string(p->state));
			json_object_set_new(po, "stateSince", json_u64(p->state_since));
		}
		if (p->path)
			json_object_set_new(po, "path", json_string(p->path));
		json_array_append_new(a, po);
	}
	return o;
}

/* ---- the command ------------------------------------------------------------------------ */

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * The interface names of the sockets in FT_UAPI_SOCKET_DIR, sorted, in *names (free each and
 * the array). 0 (none when the directory does not exist) or a negative errno.
 */
static int list_sockets(char ***names, size_t *n)
{
	DIR *dir = opendir(FT_UAPI_SOCKET_DIR);
	size_t cap = 0;
	struct dirent *e;
	int rc = 0;

	*names = NULL;
	*n = 0;
	if (!dir)
		return errno == ENOENT ? 0 : -errno;
	while ((e = readdir(dir))) {
		size_t len = strlen(e->d_name);

		if (len <= 5 || len - 5 > SHOW_IFNAME_MAX || strcmp(e->d_name + len - 5, ".sock"))
			continue;
		char **q = grow(*names, &cap, *n, sizeof(*q));

		if (!q) {
			rc = -ENOMEM;
			break;
		}
		*names = q;
		if (!((*names)[*n] = strndup(e->d_name, len - 5))) {
			rc = -ENOMEM;
			break;
		}
		(*n)++;
	}
	closedir(dir);
	if (*n > 1)
		qsort(*names, *n, sizeof(**names), cmp_names);
	return rc;
}

static bool valid_ifname(const char *s)
{
	size_t len = strlen(s);

	return len > 0 && len <= SHOW_IFNAME_MAX && !strchr(s, '/') && strcmp(s, ".") != 0 &&
	       strcmp(s, "..") != 0;
}

static int parse_now(uint64_t *now)
{
	const char *s = getenv("FLOWTUN_SHOW_NOW");

	if (!s || !*s) {
		*now = (uint64_t)time(NULL);
		return 0;
	}
	return parse_u64(s, now);
}

static int cmd_show(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "all", no_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 },
	};
	struct show_opts o = { 0 };
	char **names = NULL;
	size_t n_names = 0, shown = 0;
	json_t *array = NULL;
	struct show_dev d;
	bool one = false;
	int c, rc, exit_code = FT_EXIT_OK;

	optind = 1;
	while ((c = getopt_long(argc, argv, "a", longopts, NULL)) != -1) {
		switch (c) {
		case 'j':
			o.json = true;
			break;
		case 'a':
			o.all = true;
			break;
		default:
			return ft_command_usage_error(&ft_command_show, "bad option");
		}
	}
	if (argc - optind > 1)
		return ft_command_usage_error(&ft_command_show, "unexpected argument '%s'",
					      argv[optind + 1]);
	if (parse_now(&o.now) < 0)
		return ft_command_usage_error(&ft_command_show,
					      "FLOWTUN_SHOW_NOW is not UNIX seconds: '%s'",
					      getenv("FLOWTUN_SHOW_NOW"));
	if (optind < argc) {
		if (!valid_ifname(argv[optind]))
			return ft_command_usage_error(&ft_command_show,
						      "not an interface name: '%s'", argv[optind]);
		if (!(names = malloc(sizeof(*names))) || !(names[0] = strdup(argv[optind]))) {
			free(names);
			return ft_command_error(&ft_command_show, "%s", strerror(ENOMEM));
		}
		n_names = 1;
		one = true;
	} else if ((rc = list_sockets(&names, &n_names)) < 0) {
		exit_code = ft_command_error(&ft_command_show, "cannot list %s: %s",
					     FT_UAPI_SOCKET_DIR, strerror(-rc));
		goto out;
	}
	if (o.json && !one && !(array = json_array())) {
		exit_code = ft_command_error(&ft_command_show, "%s", strerror(ENOMEM));
		goto out;
	}
	for (size_t i = 0; i < n_names; i++) {
		memset(&d, 0, sizeof(d));
		snprintf(d.name, sizeof(d.name), "%s", names[i]);
		rc = load(&d);
		if (rc < 0) {
			/* Like wg show: a stale socket nobody listens on is no interface. */
			if (one || (rc != -ECONNREFUSED && rc != -ENOENT))
				exit_code = ft_command_error(&ft_command_show, "%s", d.err);
		} else if (o.json) {
			json_t *j = device_json(&d);

			if (!j) {
				exit_code =
					ft_command_error(&ft_command_show, "%s", strerror(ENOMEM));
			} else if (one) {
				if (json_dumpf(j, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0)
					exit_code = FT_EXIT_FAILURE;
				fputc('\n', stdout);
				json_decref(j);
			} else {
				json_array_append_new(array, j);
			}
		} else {
			if (shown++)
				fputc('\n', stdout);
			print_device(stdout, &d, &o);
		}
		dev_reset(&d);
	}
	if (array) {
		if (json_dumpf(array, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) < 0)
			exit_code = FT_EXIT_FAILURE;
		fputc('\n', stdout);
	}
	if (fflush(stdout) == EOF || ferror(stdout))
		exit_code = ft_command_error(&ft_command_show, "cannot write: %s", strerror(errno));
out:
	json_decref(array);
	for (size_t i = 0; i < n_names; i++)
		free(names[i]);
	free(names);
	return exit_code;
}
