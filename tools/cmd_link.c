// SPDX-License-Identifier: MIT
/*
 * flowtun link-watch / link-status: the link monitor and the ioctl chain from the command
 * line, in the manner of ifplugo-watch (one "name: status" line per interface per sample).
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <uv.h>

#include "base/text.h"
#include "link/link.h"
#include "tools/commands.h"

static int cmd_link_watch(int argc, char *argv[]);
static int cmd_link_status(int argc, char *argv[]);

const struct ft_command ft_command_link_watch = {
	.name = "link-watch",
	.summary = "watch the link status of interfaces, print each change",
	.usage =
		"Usage: flowtun link-watch [--poll DUR] [--poll-only] [--delta BYTES]\n"
		"                          [--up-delay DUR] [--down-delay DUR] [--count N]\n"
		"                          [--duration DUR] [--verbose] [--json] IFACE[,IFACE...]\n\n"
		"Prints the link status of each interface (\"eth0: link\", \"eth1: no link\",\n"
		"\"eth2: error\"), in the order given: once at start, then each time one changes.\n"
		"Changes are seen at once through rtnetlink, and at the latest at the next poll.\n\n"
		"  --poll DUR        poll period (default 2s)\n"
		"  --poll-only       no rtnetlink events: changes are seen at the next poll\n"
		"  --delta BYTES     also link when more than BYTES arrive in a period, until the\n"
		"                    interface shows link itself (0: off)\n"
		"  --up-delay DUR    report link only after it held this long (default 0)\n"
		"  --down-delay DUR  report its loss only after it held this long (default 0)\n"
		"  --count N         exit after N samples\n"
		"  --duration DUR    exit after this long\n"
		"  --verbose         a timestamped header per sample, error reasons, rx deltas\n"
		"  --json            one JSON object per sample and line instead\n\n"
		"DUR is 500ms, 2s, 1m, 1h or a number of seconds. Runs until SIGINT or SIGTERM\n"
		"(or --count/--duration), then exits 0.\n",
	.run = cmd_link_watch,
};

const struct ft_command ft_command_link_status = {
	.name = "link-status",
	.summary = "print the link status of interfaces once",
	.usage =
		"Usage: flowtun link-status IFACE[,IFACE...]...\n\n"
		"Prints \"IFACE: link\", \"IFACE: no link\" or \"IFACE: error\" for each interface.\n"
		"Exits 0 when all have link, 1 when one has none, 2 when one could not be read\n"
		"(the reason goes to standard error).\n",
	.run = cmd_link_status,
};

enum { MAX_IFACES = 64 };

/* Splits "a,b" arguments into names; a usage error names the bad one. */
static int collect_ifaces(const struct ft_command *cmd, char *arg, const char **names, size_t *n)
{
	char *save = NULL, *tok;
	size_t len = strlen(arg);

	if (len == 0 || arg[0] == ',' || arg[len - 1] == ',' || strstr(arg, ",,"))
		return ft_command_usage_error(cmd, "empty interface name in '%s'", arg);
	for (tok = strtok_r(arg, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		if (*n == MAX_IFACES)
			return ft_command_usage_error(cmd, "more than %d interfaces", MAX_IFACES);
		for (size_t i = 0; i < *n; i++)
			if (strcmp(names[i], tok) == 0)
				return ft_command_usage_error(cmd, "interface '%s' given twice",
							      tok);
		names[(*n)++] = tok;
	}
	return FT_EXIT_OK;
}

static int cmd_link_status(int argc, char *argv[])
{
	const struct ft_command *cmd = &ft_command_link_status;
	const char *names[MAX_IFACES];
	size_t n = 0;
	int rc = FT_EXIT_OK, err;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			continue;
		if (argv[i][0] == '-')
			return ft_command_usage_error(cmd, "unknown option '%s'", argv[i]);
		if (collect_ifaces(cmd, argv[i], names, &n) != FT_EXIT_OK)
			return FT_EXIT_USAGE;
	}
	if (n == 0)
		return ft_command_usage_error(cmd, "no interface given");
	for (size_t i = 0; i < n; i++) {
		enum ft_link_state st = ft_link_status(names[i], &err);

		printf("%s: %s\n", names[i], ft_link_state_str(st));
		if (st == FT_LINK_ERROR) {
			fflush(stdout);
			fprintf(stderr, "flowtun %s: %s: %s\n", cmd->name, names[i],
				err == -EINVAL ? "not a valid interface name" : strerror(-err));
			rc = FT_EXIT_USAGE; /* 2: documented as "could not be read" */
		} else if (st != FT_LINK_UP && rc == FT_EXIT_OK) {
			rc = FT_EXIT_FAILURE;
		}
	}
	if (fflush(stdout) == EOF)
		return ft_command_error(cmd, "cannot write: %s", strerror(errno));
	return rc;
}

struct watch {
	const struct ft_command *cmd;
	uv_loop_t *loop;
	struct ft_link_monitor *mon;
	uv_signal_t sigint, sigterm;
	uv_timer_t deadline;
	bool json, verbose, delta, stopping;
	uint64_t count, seen;
	int rc;
};

static void watch_stop(struct watch *w)
{
	if (w->stopping)
		return;
	w->stopping = true;
	ft_link_monitor_close(w->mon, NULL);
	uv_close((uv_handle_t *)&w->sigint, NULL);
	uv_close((uv_handle_t *)&w->sigterm, NULL);
	uv_close((uv_handle_t *)&w->deadline, NULL);
}

static void format_time(char *buf, size_t len, uint64_t ms)
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;

	if (!gmtime_r(&secs, &tm) || strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
		snprintf(buf, len, "?");
		return;
	}
	snprintf(buf + strlen(buf), len - strlen(buf), ".%03" PRIu64 "Z", ms % 1000);
}

static int print_json(const struct watch *w, const struct ft_link_sample *s, const char *when)
{
	json_t *root = json_object(), *ifaces = json_array();
	char *line;
	int rc;

	if (!root || !ifaces)
		goto oom;
	json_object_set_new(root, "time", json_string(when));
	json_object_set_new(root, "time_ms", json_integer((json_int_t)s->wall_ms));
	json_object_set_new(root, "seq", json_integer((json_int_t)s->seq));
	for (size_t i = 0; i < s->n_ifaces; i++) {
		const struct ft_link_iface_sample *f = &s->ifaces[i];
		json_t *o = json_pack("{s:s, s:I, s:s, s:b}", "name", f->name, "ifindex",
				      (json_int_t)f->ifindex, "state", ft_link_state_str(f->state),
				      "changed", f->changed);

		if (!o)
			goto oom;
		if (f->state == FT_LINK_ERROR)
			json_object_set_new(o, "error", json_string(strerror(-f->err)));
		if (w->delta && f->has_rx_delta)
			json_object_set_new(o, "rx_delta", json_integer((json_int_t)f->rx_delta));
		json_array_append_new(ifaces, o);
	}
	json_object_set_new(root, "interfaces", ifaces);
	ifaces = NULL;
	line = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(root);
	if (!line)
		return -ENOMEM;
	rc = puts(line) == EOF ? -errno : 0;
	free(line);
	return rc;
oom:
	json_decref(ifaces);
	json_decref(root);
	return -ENOMEM;
}

static int print_text(const struct watch *w, const struct ft_link_sample *s, const char *when)
{
	if (w->verbose) {
		printf("# %s (%" PRIu64 ") sample %" PRIu64 ", changed:", when, s->wall_ms, s->seq);
		for (size_t i = 0; i < s->n_ifaces; i++)
			if (s->ifaces[i].changed)
				printf(" %s", s->ifaces[i].name);
		putchar('\n');
	}
	for (size_t i = 0; i < s->n_ifaces; i++) {
		const struct ft_link_iface_sample *f = &s->ifaces[i];

		printf("%s: %s", f->name, ft_link_state_str(f->state));
		if (w->verbose && f->state == FT_LINK_ERROR)
			printf(" (%s)", strerror(-f->err));
		if (w->verbose && w->delta && f->has_rx_delta)
			printf(" (rx %" PRIu64 " bytes in the last period)", f->rx_delta);
		if (putchar('\n') == EOF)
			return -errno;
	}
	return 0;
}

static void on_sample(struct ft_link_monitor *mon, const struct ft_link_sample *s, void *arg)
{
	struct watch *w = arg;
	char when[40];
	int rc;

	format_time(when, sizeof(when), s->wall_ms);
	rc = w->json ? print_json(w, s, when) : print_text(w, s, when);
	/* Often a pipe: each sample must reach the reader now, not when a buffer fills. */
	if (rc == 0 && fflush(stdout) == EOF)
		rc = -errno;
	if (rc < 0) {
		/* The reader went away (EPIPE): a normal end for a watcher, not a failure. */
		if (rc != -EPIPE) {
			ft_command_error(w->cmd, "cannot write: %s", strerror(-rc));
			w->rc = FT_EXIT_FAILURE;
		}
		watch_stop(w);
		return;
	}
	if (w->count && ++w->seen >= w->count)
		watch_stop(w);
}

static void on_signal(uv_signal_t *sig, int signum)
{
	watch_stop(sig->data);
}

static void on_deadline(uv_timer_t *t)
{
	watch_stop(t->data);
}

/* "--name VALUE" or "--name=VALUE": the value, or NULL when this is not that option. */
static const char *option_value(const struct ft_command *cmd, int argc, char *argv[], int *i,
				const char *name, bool *missing)
{
	size_t len = strlen(name);

	if (strncmp(argv[*i], name, len) != 0)
		return NULL;
	if (argv[*i][len] == '=')
		return argv[*i] + len + 1;
	if (argv[*i][len] != '\0')
		return NULL;
	if (*i + 1 >= argc) {
		*missing = true;
		return NULL;
	}
	return argv[++*i];
}

static int cmd_link_watch(int argc, char *argv[])
{
	const struct ft_command *cmd = &ft_command_link_watch;
	static const char *const dur_opts[] = { "--poll", "--up-delay", "--down-delay",
						"--duration" };
	struct ft_link_monitor_options opts = { .period_ms = FT_LINK_DEFAULT_PERIOD_MS };
	struct watch w = { .cmd = cmd, .loop = uv_default_loop() };
	uint64_t durs[4] = { FT_LINK_DEFAULT_PERIOD_MS, 0, 0, 0 }, delta = 0;
	const char *names[MAX_IFACES];
	size_t n = 0;
	int rc;

	for (int i = 1; i < argc; i++) {
		bool missing = false, matched = false;
		const char *v;

		for (size_t d = 0; d < 4 && !matched; d++) {
			v = option_value(cmd, argc, argv, &i, dur_opts[d], &missing);
			if (missing)
				return ft_command_usage_error(cmd, "%s needs a duration",
							      dur_opts[d]);
			if (!v)
				continue;
			matched = true;
			if (ft_link_parse_duration(v, &durs[d]) < 0)
				return ft_command_usage_error(
					cmd,
					"invalid duration '%s' for %s (use e.g. 500ms, 2s, 1m)", v,
					dur_opts[d]);
		}
		if (matched)
			continue;
		if ((v = option_value(cmd, argc, argv, &i, "--delta", &missing)) || missing) {
			if (missing || ft_parse_uint(v, UINT64_MAX, &delta) < 0)
				return ft_command_usage_error(
					cmd, "--delta needs a byte count, not '%s'",
					missing ? "" : v);
		} else if ((v = option_value(cmd, argc, argv, &i, "--count", &missing)) ||
			   missing) {
			if (missing || ft_parse_uint(v, UINT64_MAX, &w.count) < 0 || w.count == 0)
				return ft_command_usage_error(
					cmd, "--count needs a positive number, not '%s'",
					missing ? "" : v);
		} else if (strcmp(argv[i], "--verbose") == 0 || strcmp(argv[i], "-v") == 0) {
			w.verbose = true;
		} else if (strcmp(argv[i], "--json") == 0) {
			w.json = true;
		} else if (strcmp(argv[i], "--poll-only") == 0) {
			opts.poll_only = true;
		} else if (strcmp(argv[i], "--") == 0) {
			continue;
		} else if (argv[i][0] == '-') {
			return ft_command_usage_error(cmd, "unknown option '%s'", argv[i]);
		} else if (collect_ifaces(cmd, argv[i], names, &n) != FT_EXIT_OK) {
			return FT_EXIT_USAGE;
		}
	}
	if (n == 0)
		return ft_command_usage_error(cmd, "no interface given");
	if (durs[0] == 0)
		return ft_command_usage_error(cmd, "the --poll period must be more than 0");
	opts.period_ms = durs[0];
	opts.up_delay_ms = durs[1];
	opts.down_delay_ms = durs[2];
	opts.delta = delta > 0;
	opts.delta_threshold = delta;
	w.delta = opts.delta;

	rc = ft_link_monitor_create(&w.mon, w.loop, &opts, on_sample, &w);
	if (rc == -EINVAL)
		return ft_command_usage_error(cmd, "a period or delay over a day");
	if (rc < 0)
		return ft_command_error(cmd, "cannot create the monitor: %s", strerror(-rc));
	/* One by one, so that an error names the interface. */
	for (size_t i = 0; i < n; i++) {
		rc = ft_link_monitor_add(w.mon, names[i]);
		if (rc < 0) {
			ft_link_monitor_close(w.mon, NULL);
			uv_run(w.loop, UV_RUN_DEFAULT);
			uv_loop_close(w.loop);
			if (rc == -EINVAL)
				return ft_command_usage_error(cmd, "invalid interface name '%s'",
							      names[i]);
			return ft_command_error(cmd, "cannot watch '%s': %s", names[i],
						strerror(-rc));
		}
	}

	/* A reader that goes away should end us through EPIPE, with a clean exit. */
	signal(SIGPIPE, SIG_IGN);
	uv_signal_init(w.loop, &w.sigint);
	uv_signal_init(w.loop, &w.sigterm);
	uv_timer_init(w.loop, &w.deadline);
	w.sigint.data = w.sigterm.data = w.deadline.data = &w;
	uv_signal_start(&w.sigint, on_signal, SIGINT);
	uv_signal_start(&w.sigterm, on_signal, SIGTERM);
	if (durs[3])
		uv_timer_start(&w.deadline, on_deadline, durs[3], 0);
	rc = ft_link_monitor_start(w.mon);
	if (rc < 0) {
		ft_command_error(cmd, "cannot start the monitor: %s", uv_strerror(rc));
		w.rc = FT_EXIT_FAILURE;
		watch_stop(&w);
	}
	uv_run(w.loop, UV_RUN_DEFAULT);
	uv_loop_close(w.loop);
	return w.rc;
}
