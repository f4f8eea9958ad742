// SPDX-License-Identifier: MIT
/*
 * flowtun [-f] IFACE: wireguard-go's command line, so that wg-quick(8) can use flowtun
 * (WG_QUICK_USERSPACE_IMPLEMENTATION=flowtun). It creates the TUN device IFACE and serves the
 * userspace API on /var/run/wireguard/IFACE.sock, with no key, peers, addresses or routes:
 * wg(8) and wg-quick(8) set those. It detaches once the device and the socket exist (the
 * parent exits 0 then, or 1 with the reason) unless -f, and exits cleanly when the device is
 * deleted (wg-quick down) or the socket file removed.
 *
 * flowtun's own settings come from /etc/flowtun/IFACE.conf when it exists (another file with
 * FLOWTUN_SETTINGS=PATH): an [Interface] with FlowLog, FlowLogInterval, FlowLogMaxConns,
 * LinkWatch, LinkPollInterval, Statistics, IPFIX, IPFIXTemplateInterval, Offload, User,
 * Seccomp, Crypto and MetricsListen. FLOWTUN_FLOWLOG overrides FlowLog. SIGHUP re-reads the file (the flow log is
 * reopened).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tools/commands.h"
#include "tun/worker/runner.h"
#include "tun/ctl/conf.h"
#include "tun/log.h"
#include "tun/priv/privs.h"

#define SETTINGS_DIR "/etc/flowtun"

static const char serve_usage[] =
	"Usage: flowtun [-f|--foreground] IFACE\n"
	"\n"
	"Creates the TUN device IFACE and serves the WireGuard userspace API on\n"
	"/var/run/wireguard/IFACE.sock, as wireguard-go does, for wg(8) and wg-quick(8):\n"
	"\n"
	"  WG_QUICK_USERSPACE_IMPLEMENTATION=flowtun wg-quick up ./tun0.conf\n"
	"\n"
	"Detaches once ready unless -f. Exits when IFACE is deleted or the socket removed.\n"
	"flowtun's own settings (flow log, IPFIX, link watch, MetricsListen):\n"
	"/etc/flowtun/IFACE.conf, or the file FLOWTUN_SETTINGS names;\n"
	"FLOWTUN_FLOWLOG=PATH|-|syslog overrides FlowLog.\n";

static const struct ft_command serve_cmd = {
	.name = "IFACE",
	.summary = "",
	.usage = serve_usage,
};

/*
 * Is this `flowtun IFACE`? With -f, or under wg-quick (which exports
 * WG_QUICK_USERSPACE_IMPLEMENTATION to us), any name is an interface. Typed by hand, only a name
 * ending in a digit (tun0, wg1) is taken for one, so that a mistyped command is an error and
 * not a new interface.
 */
bool ft_serve_is_invocation(int argc, char *argv[])
{
	const char *a = argv[1], *env = getenv("WG_QUICK_USERSPACE_IMPLEMENTATION");
	size_t n;

	if (argc < 2)
		return false;
	if (strcmp(a, "-f") == 0 || strcmp(a, "--foreground") == 0)
		return true;
	n = strlen(a);
	if (a[0] == '-' || n == 0 || n >= IFNAMSIZ || strchr(a, '/') || strchr(a, ' '))
		return false;
	return (env && *env) || (a[n - 1] >= '0' && a[n - 1] <= '9');
}

void ft_serve_print_usage(FILE *f)
{
	fputs(serve_usage, f);
}

static int load_settings(const char *ifname, struct ft_config *cfg, char *path, size_t pathlen)
{
	const char *env = getenv("FLOWTUN_SETTINGS");
	const char *flowlog = getenv("FLOWTUN_FLOWLOG");
	char err[512];
	int rc;

	if (env && *env)
		snprintf(path, pathlen, "%s", env);
	else
		snprintf(path, pathlen, SETTINGS_DIR "/%s.conf", ifname);
	if (access(path, F_OK) == 0 || (env && *env)) {
		rc = ft_config_load_settings(path, cfg, err, sizeof(err));
		if (rc < 0)
			return ft_command_error(&serve_cmd, "%s", err);
	} else {
		path[0] = '\0';
		ft_config_init_defaults(cfg);
	}
	if (flowlog && *flowlog) {
		free(cfg->flow_log);
		cfg->flow_log = strdup(flowlog);
		if (!cfg->flow_log)
			return ft_command_error(&serve_cmd, "out of memory");
	}
	return FT_EXIT_OK;
}

/* The parent waits for the child's word: '0' when the device is up, else the error text. */
static int wait_for_child(pid_t pid, int fd)
{
	char msg[600];
	size_t got = 0;
	ssize_t n;
	int status;

	while (got < sizeof(msg) - 1) {
		n = read(fd, msg + got, sizeof(msg) - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	msg[got] = '\0';
	close(fd);
	if (got == 1 && msg[0] == '0')
		return FT_EXIT_OK;
	if (got)
		fprintf(stderr, "%s\n", msg);
	else
		fprintf(stderr, "flowtun: the daemon exited before it was ready\n");
	waitpid(pid, &status, 0);
	return FT_EXIT_FAILURE;
}

int ft_serve_main(int argc, char *argv[])
{
	/* wg-quick adds the routes and sets the MTU. */
	struct ft_worker_options wopts = { .no_routes = true, .mtu_by_caller = true };
	struct ft_runner_options ropts = { .name = "IFACE", .ready_fd = -1, .settings_only = true };
	struct ft_config cfg;
	char path[4096];
	bool foreground = false;
	const char *ifname;
	int fds[2], rc;
	pid_t pid;

	if (argc >= 2 && (strcmp(argv[1], "-f") == 0 || strcmp(argv[1], "--foreground") == 0)) {
		foreground = true;
		argc--;
		argv++;
	}
	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		ft_serve_print_usage(stdout);
		return FT_EXIT_OK;
	}
	if (argc != 2)
		return ft_command_usage_error(&serve_cmd, "expected one interface name");
	ifname = argv[1];
	if (!ifname[0] || strlen(ifname) >= IFNAMSIZ)
		return ft_command_usage_error(&serve_cmd, "bad interface name '%s'", ifname);
	ft_privs_no_dump();
	if ((rc = load_settings(ifname, &cfg, path, sizeof(path))) != FT_EXIT_OK)
		return rc;
	ropts.user = cfg.user;
	ropts.seccomp = cfg.seccomp;
	ropts.config_path = path[0] ? path : NULL;
	wopts.ifname = ifname;
	wopts.config_path = ropts.config_path;

	if (foreground) {
		ft_log_init("flowtun", FT_LOG_INFO, false);
		rc = ft_runner_run(&cfg, &wopts, &ropts);
		ft_config_free(&cfg);
		return rc;
	}
	if (pipe2(fds, O_CLOEXEC) < 0)
		return ft_command_error(&serve_cmd, "pipe: %s", strerror(errno));
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return ft_command_error(&serve_cmd, "fork: %s", strerror(errno));
	if (pid > 0) {
		close(fds[1]);
		ft_config_free(&cfg);
		return wait_for_child(pid, fds[0]);
	}
	close(fds[0]);
	/* Detached, stderr is /dev/null: the log goes to syslog. */
	ft_log_init("flowtun", FT_LOG_NOTICE, true);
	ropts.ready_fd = fds[1];
	rc = ft_runner_run(&cfg, &wopts, &ropts);
	ft_config_free(&cfg);
	_exit(rc);
}
