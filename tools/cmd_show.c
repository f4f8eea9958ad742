// SPDX-License-Identifier: MIT
/*
 * flowtun show: what `wg show` shows, plus what it cannot (underlay links, per-peer path state,
 * the drop counters, the top connections of the open statistics window, the flow-log and
 * IPFIX destinations), read over the userspace API socket with get=flowtun. The answer's
 * format is the block comment at the top of tun/worker/ctl.c.
 *
 * The answer is read whole (cmd_show_query.c: one request, one bounded answer), validated
 * line by line into struct show_dev (values point into the answer buffer), then printed as
 * text or JSON. The answer holds the private and preshared keys in hex: they are wiped from
 * it as soon as they are parsed and the buffer is wiped before it is freed.
 *
 * The printing (text and JSON) is in cmd_show_print.c; the structures the three files share
 * are in cmd_show_internal.h.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <sodium.h>

#include "tools/cmd_show_internal.h"
#include "tools/commands.h"
#include "tun/wg/key.h"
#include "tun/ctl/uapi.h"

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
		"each peer's path state and since when, the drop and event counters (with\n"
		"tun_kernel_dropped, the packets the kernel dropped at the TUN queue before flowtun\n"
		"read them, since start and in the open window), the top connections of the open\n"
		"statistics window by bytes, and the flow-log and IPFIX destinations with their\n"
		"counts. Without IFACE: every socket there that answers.\n"
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
	free(d->metrics_requests);
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
	if (strcmp(key, "flowtun_crypto") == 0) {
		d->crypto = value;
		return 0;
	}
	if (strcmp(key, "flowtun_udp_coalesce") == 0) {
		d->udp_coalesce = value;
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
		memset(l, 0, sizeof(*l)); /* changes come on a line of their own, if at all */
		l->name = f[0];
		l->state = f[1];
		if ((rc = parse_u64(f[2], &l->since_ms)) < 0)
			return rc;
		d->n_links++;
		return 0;
	}
	if (strcmp(key, "flowtun_mtu") == 0) {
		if ((rc = split(value, f, 2)) < 0)
			return rc;
		d->mtu_source = f[1];
		return parse_u64(f[0], &d->mtu);
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
	if (strcmp(key, "flowtun_flowlog_omitted") == 0)
		return parse_u64(value, &d->flowlog_omitted);
	if (strcmp(key, "flowtun_flowlog_pending") == 0)
		return parse_u64(value, &d->flowlog_pending);
	if (strcmp(key, "flowtun_stats_overflow") == 0) {
		d->has_stats_overflow = true;
		return parse_u64(value, &d->stats_overflow);
	}
	if (strcmp(key, "flowtun_window_tun_dropped") == 0) {
		d->has_window_tun_dropped = true;
		return parse_u64(value, &d->window_tun_dropped);
	}
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
	if (strcmp(key, "flowtun_window_connections") == 0) {
		if ((rc = split(value, f, 2)) < 0 ||
		    (rc = parse_u64(f[0], &d->window_virtual)) < 0 ||
		    (rc = parse_u64(f[1], &d->window_physical)) < 0)
			return rc;
		d->has_window_conns = true;
		return 0;
	}
	if (strcmp(key, "flowtun_version") == 0) {
		d->version = value;
		return 0;
	}
	if (strcmp(key, "flowtun_link_changes") == 0) {
		if ((rc = split(value, f, 2)) < 0)
			return rc;
		/* It follows the flowtun_link line of the same link. */
		for (size_t i = d->n_links; i-- > 0;) {
			if (strcmp(d->links[i].name, f[0]) != 0)
				continue;
			d->links[i].has_changes = true;
			return parse_u64(f[1], &d->links[i].changes);
		}
		return -EINVAL;
	}
	if (strcmp(key, "flowtun_metrics") == 0) {
		d->metrics = value;
		return 0;
	}
	if (strcmp(key, "flowtun_metrics_requests") == 0) {
		struct show_status_count *r;

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
	if (strcmp(key, "flowtun_metrics_write_timeouts") == 0)
		return parse_u64(value, &d->metrics_write_timeouts);
	if (strcmp(key, "flowtun_metrics_last_scrape") == 0) {
		if ((rc = split(value, f, 6)) < 0 ||
		    (rc = parse_u64(f[0], &d->metrics_last_ns)) < 0 ||
		    (rc = parse_u64(f[1], &d->metrics_last_longest_ns)) < 0 ||
		    (rc = parse_u64(f[2], &d->metrics_last_cpu_ns)) < 0 ||
		    (rc = parse_u64(f[3], &d->metrics_last_longest_cpu_ns)) < 0 ||
		    (rc = parse_u64(f[4], &d->metrics_last_slices)) < 0)
			return rc;
		return parse_u64(f[5], &d->metrics_last_bytes);
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
	if (strcmp(key, "flowtun_peer_path_mtu") == 0)
		return parse_u64(value, &p->path_mtu);
	return 0;
}

/*
 * Interprets d->buf (as ft_show_query() left it) in place. 0; -ENOEXEC when the server answered with
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
			if (ft_show_socket_path(path, d->name) < 0)
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
	if (ft_show_socket_path(path, d->name) < 0)
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
	int rc = ft_show_query(d, "get=flowtun\n\n");

	if (rc == 0) {
		rc = parse_answer(d);
		d->extras = true;
	}
	if (rc == -ENOEXEC) {
		/* wireguard-go, or a flowtun from before get=flowtun: show what wg shows. */
		dev_reset(d);
		rc = ft_show_query(d, "get=1\n\n");
		if (rc == 0)
			rc = parse_answer(d);
	}
	if (rc == 0 && d->n_peers > 1)
		qsort(d->peers, d->n_peers, sizeof(*d->peers), cmp_peers);
	return rc;
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
			json_t *j = ft_show_device_json(&d);

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
			ft_show_print_device(stdout, &d, &o);
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
