/* SPDX-License-Identifier: MIT */
#ifndef FT_RUNNER_H
#define FT_RUNNER_H

#include <stdbool.h>

#include "tun/wg/aead.h"
#include "tun/ctl/conf.h"
#include "tun/worker/worker.h"

/*
 * Runs one worker on its own loop until SIGTERM, SIGINT, or the worker says its interface or
 * API socket is gone; SIGHUP reloads config_path (when there is one), SIGUSR1 writes the status
 * to the log. Shared by `flowtun up` and `flowtun IFACE`. It chooses the transport AEAD first
 * (ft_aead_select(), before anything is dropped); a Crypto change needs a restart.
 *
 * ready_fd >= 0: once the worker is up, the runner detaches (a new session, stdio to
 * /dev/null) and writes one byte '0' to ready_fd and closes it; on failure it writes the error
 * text instead. The parent that forked it waits for that. Returns the exit status.
 *
 * The opener it starts (tun/priv/opener.h) is the program itself, executed again: a program
 * that calls ft_runner_run() calls ft_opener_main() first thing in main().
 */
struct ft_runner_options {
	const char *name; /* of the command, for messages */
	const char *config_path;
	bool settings_only; /* SIGHUP reloads config_path as settings (flowtun IFACE) */
	int ready_fd;	    /* -1: none */
	bool daemonize;	    /* flowtun up --daemon: detach once up, no parent waiting */
	/*
	 * Once up (device, socket and routes exist): start the opener (tun/priv/opener.h), drop to
	 * this user keeping only CAP_NET_ADMIN and CAP_NET_BIND_SERVICE, and install the seccomp allow-list if asked
	 * (seccomp: on|kill|log|off, NULL: off). NULL user: the `flowtun` user if it exists,
	 * else nobody (when running as root); "root": keep every privilege.
	 */
	const char *user;
	const char *seccomp;
	/* flowtun up --crypto: the transport AEAD (tun/wg/aead.h) instead of the config's Crypto. */
	bool crypto_set;
	enum ft_aead_impl crypto;
	/* --metrics-listen: replaces MetricsListen, in the file read again on SIGHUP too. */
	const char *metrics_listen;
};

/*
 * path made absolute against the working directory (symlinks kept), malloc'd; NULL with
 * errno set.
 */
char *ft_runner_absolute_path(const char *path);

int ft_runner_run(struct ft_config *cfg, const struct ft_worker_options *wopts,
		  const struct ft_runner_options *ropts);

#endif
