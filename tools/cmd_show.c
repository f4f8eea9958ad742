// SPDX-License-Identifier: MIT
/*
 * flowtun show: what `wg show` shows, plus what it cannot (underlay links, per-peer path state,
 * the drop counters, the top connections of the open statistics window, the flow-log and
 * IPFIX destinations), read over the userspace API socket with get=flowtun. The answer's
 * format is the block comment at the top of tun/worker/ctl.c.
 *
 * The answer is read whole (cmd_show_query.c: one request, one bounded answer), validated
 * line by line by the client parser beside the server (tun/ctl/uapi_client.c, keys named in
 * tun/ctl/uapi_keys.h) into struct ft_uapi_info (values point into the answer buffer), then
 * printed as text or JSON. The answer holds the private and preshared keys in hex: they are
 * wiped from it as soon as they are parsed and the buffer is wiped before it is freed.
 *
 * The printing (text and JSON) is in cmd_show_print.c; the structures the three files share
 * are in cmd_show_internal.h.
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
#include <time.h>

#include <jansson.h>
#include <sodium.h>

#include "base/text.h"
#include "tools/cmd_show_internal.h"
#include "tools/commands.h"
#include "tun/wg/key.h"
#include "tun/ctl/uapi.h"
#include "tun/ctl/uapi_client.h"

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

	ft_uapi_info_free(&d->in);
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

/* ---- parsing: tun/ctl/uapi_client.c --------------------------------------------------------- */

/*
 * Interprets d->buf (as ft_show_query() left it) in place into d->in. 0; -ENOEXEC when the
 * server answered with a non-zero errno (d->err says which); another negative errno for a
 * malformed answer.
 */
static int parse_answer(struct show_dev *d)
{
	struct ft_uapi_info_error e;
	char path[FT_UAPI_PATH_LEN];
	int rc = ft_uapi_info_parse(&d->in, d->buf, &e);

	if (rc == 0)
		return 0;
	if (ft_show_socket_path(path, d->name) < 0)
		path[0] = '\0';
	if (rc == -ENOEXEC)
		snprintf(d->err, sizeof(d->err), "%s answered errno=%" PRIu64 " (%s)", path,
			 e.server_errno,
			 e.server_errno < 4096 ? strerror((int)e.server_errno) : "?");
	else if (rc == -ENOMEM)
		snprintf(d->err, sizeof(d->err), "%s: %s", path, strerror(ENOMEM));
	else if (e.line == 0)
		snprintf(d->err, sizeof(d->err), "%s: the answer ended without an errno line",
			 path);
	else
		snprintf(d->err, sizeof(d->err), "%s: malformed answer at line %u: bad %.64s", path,
			 e.line, e.key[0] ? e.key : "line (no key=value)");
	return rc;
}

/* As wg(8): the peer with the latest handshake first. */
static int cmp_peers(const void *a, const void *b)
{
	const struct ft_uapi_info_peer *x = a, *y = b;

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
	if (rc == 0 && d->in.n_peers > 1)
		qsort(d->in.peers, d->in.n_peers, sizeof(*d->in.peers), cmp_peers);
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
	return ft_parse_uint(s, UINT64_MAX, now);
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
