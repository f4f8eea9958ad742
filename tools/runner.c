// SPDX-License-Identifier: MIT
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uv.h>

#include "tools/runner.h"
#include "tun/log.h"
#include "tun/privs.h"

struct runner {
	uv_loop_t loop;
	uv_signal_t sig_term, sig_int, sig_hup, sig_usr1;
	bool signals_open;
	struct ft_worker *worker;
	const struct ft_runner_options *opts;
	int exit_code;
};

static void close_signals(struct runner *r)
{
	if (!r->signals_open)
		return;
	r->signals_open = false;
	uv_close((uv_handle_t *)&r->sig_term, NULL);
	uv_close((uv_handle_t *)&r->sig_int, NULL);
	uv_close((uv_handle_t *)&r->sig_hup, NULL);
	uv_close((uv_handle_t *)&r->sig_usr1, NULL);
}

static void on_worker_closed(void *arg)
{
	struct runner *r = arg;

	r->worker = NULL;
	ft_log(FT_LOG_NOTICE, "stopped");
}

static void stop(struct runner *r)
{
	close_signals(r);
	if (r->worker)
		ft_worker_close(r->worker, on_worker_closed, r);
}

static void on_stop_signal(uv_signal_t *h, int signum)
{
	ft_log(FT_LOG_NOTICE, "%s: shutting down", strsignal(signum));
	stop(h->data);
}

/* The interface was deleted (wg-quick down) or the API socket removed: a clean exit. */
static void on_gone(void *arg, const char *why)
{
	stop(arg);
}

static void on_hup(uv_signal_t *h, int signum)
{
	struct runner *r = h->data;
	struct ft_config cfg;
	char err[512];
	int rc;

	if (!r->opts->config_path || !r->worker)
		return;
	rc = r->opts->settings_only
		     ? ft_config_load_settings(r->opts->config_path, &cfg, err, sizeof(err))
		     : ft_config_load(r->opts->config_path, &cfg, err, sizeof(err));
	if (rc < 0) {
		ft_log_warnx("reload: %s (keeping the running configuration)", err);
		return;
	}
	/* Settings files carry no peers: a reload must not remove those wg(8) set. */
	if (r->opts->settings_only)
		rc = 0, err[0] = '\0';
	else
		rc = ft_worker_reload(r->worker, &cfg, err, sizeof(err));
	if (rc < 0)
		ft_log_warnx("reload: %s", err);
	else
		ft_log(FT_LOG_NOTICE, "reloaded %s%s%s", r->opts->config_path, err[0] ? ": " : "",
		       err);
	ft_config_free(&cfg);
}

static void on_usr1(uv_signal_t *h, int signum)
{
	struct runner *r = h->data;

	char *text = NULL, *line, *save = NULL;
	size_t len = 0;
	FILE *f;

	if (!r->worker)
		return;
	if (!ft_log_is_syslog()) {
		ft_worker_dump_status(r->worker, stderr);
		return;
	}
	/* Detached or under systemd with --syslog: the status goes where the log goes. */
	f = open_memstream(&text, &len);
	if (!f)
		return;
	ft_worker_dump_status(r->worker, f);
	fclose(f);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		ft_log(FT_LOG_NOTICE, "%s", line);
	free(text);
}

static void start_signal(struct runner *r, uv_signal_t *h, uv_signal_cb cb, int signum)
{
	uv_signal_init(&r->loop, h);
	h->data = r;
	uv_signal_start(h, cb, signum);
}

static void close_walk_cb(uv_handle_t *h, void *arg)
{
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

/*
 * Privileges, once everything that needs root exists. Route changes on SIGHUP and the
 * API's set keep working through CAP_NET_ADMIN; see tun/privs.c for what else is kept.
 */
static int drop_privileges(const struct ft_runner_options *o)
{
	enum ft_privs_seccomp_action action = FT_PRIVS_SECCOMP_KILL;
	struct ft_privs_options po = { .user = o->user };
	char err[256];
	int on;

	if (!o->user)
		return 0;
	on = ft_privs_seccomp_parse(o->seccomp ? o->seccomp : "on", &action);
	if (on < 0) {
		ft_log_warnx("bad seccomp setting '%s' (on, log or off)", o->seccomp);
		return on;
	}
	if (ft_privs_drop(&po, err, sizeof(err)) < 0) {
		ft_log_warnx("cannot drop privileges: %s", err);
		return -EPERM;
	}
	if (on && ft_privs_seccomp(action, err, sizeof(err)) < 0) {
		ft_log_warnx("cannot install the seccomp filter: %s", err);
		return -EPERM;
	}
	ft_log_info("running as %s%s", o->user, on ? " with the seccomp allow-list" : "");
	return 0;
}

static void report_ready(int fd, const char *err)
{
	const char *msg = err ? err : "0";
	ssize_t n;

	if (fd < 0)
		return;
	do {
		n = write(fd, msg, strlen(msg));
	} while (n < 0 && errno == EINTR);
	close(fd);
}

static void detach(void)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	setsid();
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
}

int ft_runner_run(struct ft_config *cfg, const struct ft_worker_options *wopts_in,
		  const struct ft_runner_options *ropts)
{
	struct ft_worker_options wopts = *wopts_in;
	struct runner r = { .opts = ropts };
	char err[512];
	int rc;

	signal(SIGPIPE, SIG_IGN);
	uv_loop_init(&r.loop);
	wopts.gone = on_gone;
	wopts.gone_arg = &r;
	rc = ft_worker_create(&r.worker, &r.loop, cfg, &wopts, err, sizeof(err));
	if (rc < 0) {
		char msg[600];

		snprintf(msg, sizeof(msg), "flowtun %s: %s", ropts->name,
			 err[0] ? err : strerror(-rc));
		if (ropts->ready_fd >= 0)
			report_ready(ropts->ready_fd, msg);
		else
			fprintf(stderr, "%s\n", msg);
		uv_run(&r.loop, UV_RUN_DEFAULT);
		uv_loop_close(&r.loop);
		return 1;
	}
	start_signal(&r, &r.sig_term, on_stop_signal, SIGTERM);
	start_signal(&r, &r.sig_int, on_stop_signal, SIGINT);
	start_signal(&r, &r.sig_hup, on_hup, SIGHUP);
	start_signal(&r, &r.sig_usr1, on_usr1, SIGUSR1);
	r.signals_open = true;
	ft_log(FT_LOG_NOTICE, "%s is up: listening on UDP port %u", ft_worker_ifname(r.worker),
	       ft_worker_listen_port(r.worker));

	if (ropts->ready_fd >= 0) {
		detach();
		report_ready(ropts->ready_fd, NULL);
	} else if (ropts->daemonize) {
		if (daemon(0, 0) < 0)
			ft_log_warn("cannot detach");
		else
			uv_loop_fork(&r.loop);
	}
	if (drop_privileges(ropts) < 0) {
		/* Half dropped is no state to serve in: shut down cleanly and fail. */
		stop(&r);
		r.exit_code = 1;
	}
	uv_run(&r.loop, UV_RUN_DEFAULT);
	/* Anything still open (the link monitor's handles close on their own) ends here. */
	uv_walk(&r.loop, close_walk_cb, NULL);
	uv_run(&r.loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&r.loop) != 0)
		ft_log_warnx("the loop still had handles at exit");
	return r.exit_code;
}
