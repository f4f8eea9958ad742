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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/text.h"
#include "tools/commands.h"
#include "tun/worker/runner.h"
#include "tun/ctl/conf.h"
#include "tun/log.h"
#include "tun/ctl/metrics.h"
#include "tun/priv/privs.h"

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
		"      --no-offload       no TUN offloads (vnet header, TSO/USO, GRO)\n"
		"      --no-udp-offload   TUN offloads, but no UDP_SEGMENT/UDP_GRO on the underlay\n"
		"      --no-udp-coalesce  write received UDP datagrams to the TUN one by one, not\n"
		"                         as USO super-packets (config: UDPCoalesce = off)\n"
		"      --tun-io auto|io_uring|syscalls  the TUN's reads and writes: io_uring (one\n"
		"                         system call per batch) or one read/write per packet\n"
		"                         (config: TunIO; default auto: io_uring if the kernel\n"
		"                         allows it)\n"
		"      --workers N        threads of the packet path, 1 to 64, each with a queue\n"
		"                         of the TUN and a UDP socket of the port (config:\n"
		"                         Workers; default 1)\n"
		"      --batch N          packets per wake-up, 1 to 64 (default 64; for benchmarks)\n"
		"  -u, --user USER        once up, drop to USER (name or uid:gid) keeping only\n"
		"                         CAP_NET_ADMIN, CAP_NET_BIND_SERVICE and CAP_IPC_LOCK\n"
		"                         (the peers' secrets stay locked in memory) (config: User;\n"
		"                         default: the user flowtun if it exists, else nobody;\n"
		"                         root: no drop)\n"
		"      --seccomp on|log|off  the syscall allow-list after the drop (config:\n"
		"                         Seccomp; default on with --user or User, else off)\n"
		"      --crypto auto|libsodium|openssl  the transport AEAD (config: Crypto;\n"
		"                         default auto: measured at start, the faster one per\n"
		"                         packet size)\n"
		"      --metrics-listen ADDR:PORT  serve Prometheus metrics at\n"
		"                         http://ADDR:PORT/metrics, e.g. 127.0.0.1:9586 (config:\n"
		"                         MetricsListen; off by default)\n"
		"\n"
		"CONFIG is the wg-quick format ([Interface] with PrivateKey or PrivateKeyFile,\n"
		"ListenPort, Address, MTU, FwMark; repeated [Peer] with PublicKey, PresharedKey,\n"
		"AllowedIPs, Endpoint, PersistentKeepalive) plus flowtun's keys in [Interface]:\n"
		"FlowLog (a path, - or syslog), FlowLogInterval (s, 5), FlowLogMaxConns (1060),\n"
		"FlowLogMaxEntriesPerSecond (1000, 0 for no limit),\n"
		"LinkWatch, LinkPollInterval (s, 2), Statistics (on|off), Offload (on|off),\n"
		"UDPCoalesce (on|off), TunIO (auto|io_uring|syscalls), Workers (1..64),\n"
		"IPFIX (host:port, repeatable), IPFIXTemplateInterval (s, 600), User, Seccomp,\n"
		"Crypto (auto|libsodium|openssl), MetricsListen (ADDR:PORT).\n"
		"See flowtun-up(8).\n",
	.run = cmd_up,
};

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
		{ "no-offload", no_argument, NULL, 'O' },
		{ "no-udp-offload", no_argument, NULL, 'U' },
		{ "no-udp-coalesce", no_argument, NULL, 'G' },
		{ "batch", required_argument, NULL, 'B' },
		{ "user", required_argument, NULL, 'u' },
		{ "seccomp", required_argument, NULL, 'S' },
		{ "crypto", required_argument, NULL, 'C' },
		{ "tun-io", required_argument, NULL, 'T' },
		{ "workers", required_argument, NULL, 'W' },
		{ "metrics-listen", required_argument, NULL, 'L' },
		{ NULL, 0, NULL, 0 },
	};
	struct ft_worker_options wopts = { 0 };
	struct ft_runner_options ropts = { .name = cmd->name, .ready_fd = -1 };
	struct ft_config cfg;
	char ifname[IFNAMSIZ] = "", err[512];
	bool use_syslog = false;
	const char *user = NULL, *seccomp = NULL, *metrics = NULL;
	char *abs_path;
	int verbose = 0, opt, rc;

	optind = 1;
	while ((opt = getopt_long(argc, argv, "i:dsvu:", longopts, NULL)) != -1) {
		switch (opt) {
		case 'i':
			if (strlen(optarg) == 0 || strlen(optarg) >= IFNAMSIZ)
				return ft_command_usage_error(cmd, "bad interface name '%s'",
							      optarg);
			snprintf(ifname, sizeof(ifname), "%s", optarg);
			break;
		case 'd':
			ropts.daemonize = true;
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
		case 'O':
			wopts.no_offload = true;
			break;
		case 'U':
			wopts.no_udp_offload = true;
			break;
		case 'G':
			wopts.no_udp_coalesce = true;
			break;
		case 'T':
			if (ft_tun_io_parse(optarg, &wopts.tun_io) < 0)
				return ft_command_usage_error(
					cmd, "bad --tun-io '%s' (auto, io_uring or syscalls)",
					optarg);
			break;
		case 'W':
			if (ft_config_parse_workers(optarg, &wopts.workers) < 0)
				return ft_command_usage_error(cmd, "bad --workers '%s' (1 to %u)",
							      optarg,
							      (unsigned int)FT_CONFIG_MAX_WORKERS);
			break;
		case 'B': {
			uint64_t b;

			if (ft_parse_uint(optarg, 64, &b) < 0 || b < 1)
				return ft_command_usage_error(cmd, "bad --batch '%s' (1 to 64)",
							      optarg);
			wopts.batch = (unsigned int)b;
			break;
		}
		case 'u':
			user = optarg;
			break;
		case 'S':
			seccomp = optarg;
			break;
		case 'C':
			if (ft_aead_impl_parse(optarg, &ropts.crypto) < 0)
				return ft_command_usage_error(
					cmd, "bad --crypto '%s' (auto, libsodium or openssl)",
					optarg);
			ropts.crypto_set = true;
			break;
		case 'L': {
			struct sockaddr_storage ss;

			if (ft_metrics_parse_listen(optarg, &ss) < 0)
				return ft_command_usage_error(
					cmd,
					"bad --metrics-listen '%s' (IPv4:PORT or [IPv6]:PORT, "
					"e.g. 127.0.0.1:9586)",
					optarg);
			metrics = optarg;
			break;
		}
		default:
			return ft_command_usage_error(cmd, "unknown option");
		}
	}
	if (optind != argc - 1)
		return ft_command_usage_error(cmd, optind >= argc ? "no CONFIG given"
								  : "more than one CONFIG given");
	ropts.config_path = argv[optind];
	if (!ifname[0] && ifname_from_path(ropts.config_path, ifname, sizeof(ifname)) < 0)
		return ft_command_usage_error(cmd,
					      "cannot name the interface after '%s': use "
					      "--interface NAME",
					      ropts.config_path);
	ft_log_init("flowtun",
		    verbose >= 2 ? FT_LOG_DEBUG
		    : verbose	 ? FT_LOG_INFO
				 : FT_LOG_NOTICE,
		    use_syslog);

	/* No core dumps and no ptrace of a process that holds keys. */
	ft_privs_no_dump();
	/*
	 * Read by its absolute path, so that a relative PrivateKeyFile resolves the same way
	 * at start and on SIGHUP (after detaching to /, through the opener).
	 */
	abs_path = ft_runner_absolute_path(ropts.config_path);
	if (!abs_path)
		return ft_command_error(cmd, "%s: %s", ropts.config_path, strerror(errno));
	ropts.config_path = abs_path;
	rc = ft_config_load(ropts.config_path, &cfg, err, sizeof(err));
	if (rc < 0) {
		free(abs_path);
		return ft_command_error(cmd, "%s", err);
	}

	if (metrics) {
		free(cfg.metrics_listen);
		if (!(cfg.metrics_listen = strdup(metrics))) {
			ft_config_free(&cfg);
			free(abs_path);
			return ft_command_error(cmd, "%s", strerror(ENOMEM));
		}
	}
	ropts.metrics_listen = metrics;
	wopts.ifname = ifname;
	wopts.config_path = ropts.config_path;
	ropts.user = user ? user : cfg.user;
	ropts.seccomp = seccomp ? seccomp : cfg.seccomp;
	rc = ft_runner_run(&cfg, &wopts, &ropts);
	ft_config_free(&cfg);
	free(abs_path);
	return rc;
}
