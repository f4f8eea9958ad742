// SPDX-License-Identifier: MIT
/*
 * flowtun up CONFIG: brings the tunnel up in the foreground (or as a daemon) and runs it until
 * SIGTERM or SIGINT. SIGHUP re-reads the config; SIGUSR1 writes the status to the log.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <net/if.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "tools/commands.h"
#include "tun/conf.h"
#include "tun/log.h"
#include "tun/worker.h"

static int cmd_up(int argc, char *argv[]);

const struct ft_command ft_command_up = {
	.name = "up",
	.summary = "bring a tunnel up from a wg-quick style config and run it",
	.usage =
		"Usage: flowtun up [OPTIONS] CONFIG\n"
		"\n"
		"Creates the TUN device named after CONFIG (tun0.conf -> tun0), sets its addresses,\n"
		"MTU and the routes of the peers' AllowedIPs, and runs the tunnel until SIGTERM or\n"
		"SIGINT, which flush the statistics, write the flow log and remove the device.\n"
		"SIGHUP re-reads CONFIG (peers change without dropping sessions; the flow log is\n"
		"reopened); SIGUSR1 writes the status to the log.\n"
		"\n"
		"Options:\n"
		"  -i, --interface NAME   the device name (default: CONFIG's name without .conf)\n"
		"  -d, --daemon           detach once the tunnel is up\n"
		"  -s, --syslog           log to syslog instead of stderr\n"
		"  -v, --verbose          log more (repeat for debug messages)\n"
		"      --no-link-monitor  do not watch the underlay links\n"
		"      --no-link-reaction watch them, but do not re-handshake on link-up\n"
		"\n"
		"CONFIG is the wg-quick format ([Interface] with PrivateKey or PrivateKeyFile,\n"
		"ListenPort, Address, MTU; repeated [Peer] with PublicKey, PresharedKey,\n"
		"AllowedIPs, Endpoint, PersistentKeepalive) plus flowtun's keys in [Interface]:\n"
		"FlowLog (path or -), FlowLogInterval (s, 5), FlowLogMaxConns (1060), LinkWatch,\n"
		"LinkPollInterval (s, 2), Statistics (on|off). See flowtun(8).\n",
	.run = cmd_up,
};

struct up_state {
	uv_loop_t loop;
	uv_signal_t sig_term, sig_int, sig_hup, sig_usr1;
	struct ft_worker *worker;
	const char *config_path;
	int exit_code;
};

static void close_signals(struct up_state *st)
{
	uv_close((uv_handle_t *)&st->sig_term, NULL);
	uv_close((uv_handle_t *)&st->sig_int, NULL);
	uv_close((uv_handle_t *)&st->sig_hup, NULL);
	uv_close((uv_handle_t *)&st->sig_usr1, NULL);
}

static void on_worker_closed(void *arg)
{
	struct up_state *st = arg;

	st->worker = NULL;
	ft_log(FT_LOG_NOTICE, "stopped");
}

static void on_stop_signal(uv_signal_t *h, int signum)
{
	struct up_state *st = h->data;

	ft_log(FT_LOG_NOTICE, "%s: shutting down", strsignal(signum));
	close_signals(st);
	if (st->worker)
		ft_worker_close(st->worker, on_worker_closed, st);
}

static void on_hup(uv_signal_t *h, int signum)
{
	struct up_state *st = h->data;
	struct ft_config cfg;
	char err[512];
	int rc;

	rc = ft_config_load(st->config_path, &cfg, err, sizeof(err));
	if (rc < 0) {
		ft_log_warnx("reload: %s (keeping the running configuration)", err);
		return;
	}
	rc = ft_worker_reload(st->worker, &cfg, err, sizeof(err));
	if (rc < 0)
		ft_log_warnx("reload: %s", err);
	else
		ft_log(FT_LOG_NOTICE, "reloaded %s%s%s", st->config_path, err[0] ? ": " : "", err);
	ft_config_free(&cfg);
}

static void on_usr1(uv_signal_t *h, int signum)
{
	struct up_state *st = h->data;

	if (st->worker)
		ft_worker_dump_status(st->worker, stderr);
}

/* wg-quick's rule: the interface is the config file's name without ".conf". */
static int ifname_from_path(const char *path, char *out, size_t size)
{
	char *copy = strdup(path), *base, *dot;
	int rc = 0;

	if (!copy)
		return -ENOMEM;
	base = basename(copy);
	dot = strrchr(base, '.');
	if (dot && strcmp(dot, ".conf") == 0)
		*dot = '\0';
	if (!base[0] || strlen(base) >= size || strlen(base) > 15)
		rc = -EINVAL;
	for (const char *c = base; rc == 0 && *c; c++)
		if (!(*c == '_' || *c == '=' || *c == '+' || *c == '.' || *c == '-' ||
		      (*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'z') ||
		      (*c >= 'A' && *c <= 'Z')))
			rc = -EINVAL;
	if (rc == 0)
		snprintf(out, size, "%s", base);
	free(copy);
	return rc;
}

static void start_signal(struct up_state *st, uv_signal_t *h, uv_signal_cb cb, int signum)
{
	uv_signal_init(&st->loop, h);
	h->data = st;
	uv_signal_start(h, cb, signum);
}

static void close_walk_cb(uv_handle_t *h, void *arg)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static int cmd_up(int argc, char *argv[])
{
	const struct ft_command *cmd = &ft_command_up;
	static const struct option longopts[] = {
		{ "interface", required_argument, NULL, 'i' },
		{ "daemon", no_argument, NULL, 'd' },
		{ "syslog", no_argument, NULL, 's' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "no-link-monitor", no_argument, NULL, 'M' },
		{ "no-link-reaction", no_argument, NULL, 'R' },
		{ NULL, 0, NULL, 0 },
	};
	struct ft_worker_options wopts = { 0 };
	struct up_state st = { .exit_code = FT_EXIT_OK };
	struct ft_config cfg;
	char ifname[IFNAMSIZ] = "", err[512];
	bool daemonize = false, use_syslog = false;
	int verbose = 0, opt, rc;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "i:dsv", longopts, NULL)) != -1) {
		switch (opt) {
		case 'i':
			if (strlen(optarg) == 0 || strlen(optarg) >= IFNAMSIZ)
				return ft_command_usage_error(cmd, "bad interface name '%s'",
							      optarg);
			snprintf(ifname, sizeof(ifname), "%s", optarg);
			break;
		case 'd':
			daemonize = true;
			break;
		case 's':
			use_syslog = true;
			break;
		case 'v':
			verbose++;
			break;
		case 'M':
			wopts.no_link_monitor = true;
			break;
		case 'R':
			wopts.no_link_reaction = true;
			break;
		default:
			return ft_command_usage_error(cmd, "unknown option");
		}
	}
	if (optind != argc - 1)
		return ft_command_usage_error(cmd, optind >= argc ? "no CONFIG given"
								  : "more than one CONFIG given");
	st.config_path = argv[optind];
	if (!ifname[0] && ifname_from_path(st.config_path, ifname, sizeof(ifname)) < 0)
		return ft_command_usage_error(cmd,
					      "cannot name the interface after '%s': use "
					      "--interface NAME",
					      st.config_path);
	ft_log_init("flowtun",
		    verbose >= 2 ? FT_LOG_DEBUG
		    : verbose	 ? FT_LOG_INFO
				 : FT_LOG_NOTICE,
		    use_syslog);

	rc = ft_config_load(st.config_path, &cfg, err, sizeof(err));
	if (rc < 0)
		return ft_command_error(cmd, "%s", err);

	signal(SIGPIPE, SIG_IGN);
	uv_loop_init(&st.loop);
	wopts.ifname = ifname;
	wopts.config_path = st.config_path;
	rc = ft_worker_create(&st.worker, &st.loop, &cfg, &wopts, err, sizeof(err));
	ft_config_free(&cfg);
	if (rc < 0) {
		uv_run(&st.loop, UV_RUN_NOWAIT);
		uv_loop_close(&st.loop);
		return ft_command_error(cmd, "%s", err[0] ? err : strerror(-rc));
	}
	start_signal(&st, &st.sig_term, on_stop_signal, SIGTERM);
	start_signal(&st, &st.sig_int, on_stop_signal, SIGINT);
	start_signal(&st, &st.sig_hup, on_hup, SIGHUP);
	start_signal(&st, &st.sig_usr1, on_usr1, SIGUSR1);
	ft_log(FT_LOG_NOTICE, "%s is up: listening on UDP port %u", ifname,
	       ft_worker_listen_port(st.worker));

	if (daemonize) {
		if (daemon(0, 0) < 0)
			ft_log_warn("cannot detach");
		else
			uv_loop_fork(&st.loop);
	}
	uv_run(&st.loop, UV_RUN_DEFAULT);
	/* Anything still open (the link monitor's handles close on their own) ends here. */
	uv_walk(&st.loop, close_walk_cb, NULL);
	uv_run(&st.loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&st.loop) != 0)
		ft_log_warnx("the loop still had handles at exit");
	return st.exit_code;
}
