// SPDX-License-Identifier: MIT
/*
 * The runner: the daemon's life around one worker, for the commands that run a tunnel
 * (runner.h). It owns the loop and the signals, chooses the transport AEAD, starts the
 * opener and drops privileges once the worker is up, reports readiness to a waiting parent,
 * and closes everything at the end. The worker itself knows nothing of signals or of the
 * process; a command that runs a tunnel parses its arguments and calls ft_runner_run().
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cap-ng.h>
#include <uv.h>

#include "tun/worker/runner.h"
#include "tun/log.h"
#include "tun/priv/opener.h"
#include "tun/priv/privs.h"

struct runner {
	uv_loop_t loop;
	uv_signal_t sig_term, sig_int, sig_hup, sig_usr1;
	bool signals_open;
	struct ft_worker *worker;
	const struct ft_runner_options *opts;
	char *config_path; /* opts->config_path made absolute: a detached runner moves to / */
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
	struct ft_aead_choice aead;
	struct ft_config cfg;
	char err[512];
	int rc;

	if (!r->config_path || !r->worker)
		return;
	rc = r->opts->settings_only
		     ? ft_config_load_settings(r->config_path, &cfg, err, sizeof(err))
		     : ft_config_load(r->config_path, &cfg, err, sizeof(err));
	if (rc < 0) {
		ft_log_warnx("reload: %s (keeping the running configuration)", err);
		return;
	}
	/* The transport AEAD is chosen once per process (tun/wg/aead.h). */
	ft_aead_current(&aead);
	if (!r->opts->crypto_set && cfg.crypto != aead.asked)
		ft_log_warnx("reload: Crypto = %s takes a restart (keeping %s)",
			     ft_aead_impl_name(cfg.crypto), ft_aead_impl_name(aead.asked));
	if (r->opts->metrics_listen) {
		free(cfg.metrics_listen);
		cfg.metrics_listen = strdup(r->opts->metrics_listen);
	}
	/* Settings files carry no peers: a reload must not remove those wg(8) set. */
	if (r->opts->settings_only)
		rc = 0, err[0] = '\0';
	else
		rc = ft_worker_reload(r->worker, &cfg, err, sizeof(err));
	if (rc < 0)
		ft_log_warnx("reload: %s", err);
	else
		ft_log(FT_LOG_NOTICE, "reloaded %s%s%s", r->config_path, err[0] ? ": " : "", err);
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

char *ft_runner_absolute_path(const char *path)
{
	char cwd[PATH_MAX];
	char *out;

	if (path[0] == '/')
		return strdup(path);
	if (!getcwd(cwd, sizeof(cwd)))
		return NULL;
	/* Not realpath(): the file may be a symlink an administrator swaps on purpose. */
	if (asprintf(&out, "%s/%s", cwd, path) < 0)
		return NULL;
	return out;
}

/*
 * The user to drop to: the configured one, "root" for none, by default the `flowtun` system
 * user if there is one, else nobody (tun/priv/privs.h). NULL: stay as we are; a process that does
 * not run as root has nothing to drop unless a user was asked for (then ft_privs_drop says
 * why it cannot).
 */
static const char *target_user(const struct ft_runner_options *o)
{
	if (o->user)
		return strcmp(o->user, "root") == 0 ? NULL : o->user;
	return geteuid() == 0 ? ft_privs_default_user() : NULL;
}

/*
 * Privileges, once everything that needs root exists: the opener first (it must be forked
 * while we are root, and knows by then every file a reload may open), then the drop, then
 * the filter. Route changes on SIGHUP and the API's set keep working through CAP_NET_ADMIN;
 * see tun/priv/privs.c for what else is kept and tun/priv/opener.h for the files.
 */
static int drop_privileges(struct runner *r, const struct ft_config *cfg, char *why, size_t whylen)
{
	const struct ft_runner_options *o = r->opts;
	enum ft_privs_seccomp_action action = FT_PRIVS_SECCOMP_KILL;
	const char *user = target_user(o), *env = getenv("FLOWTUN_SECCOMP"), *setting;
	const char *report = getenv("FLOWTUN_SECCOMP_REPORT");
	struct ft_privs_options po = { .user = user };
	struct ft_opener_path paths[] = {
		{ FT_OPENER_READ, r->config_path },
		{ FT_OPENER_READ, cfg->private_key_file },
		{ FT_OPENER_APPEND, ft_worker_flow_log_path(r->worker) },
		{ FT_OPENER_UNLINK, ft_worker_uapi_path(r->worker) },
	};
	char err[400];
	uid_t uid;
	gid_t gid;
	int on, rc;

	why[0] = '\0';
	/*
	 * The allow-list comes with a user asked for by name; the default drop is without it.
	 * FLOWTUN_SECCOMP stands in where neither the config nor the command line says: the
	 * test suite runs every tunnel with it on once (tests/run-all).
	 */
	setting = o->seccomp ? o->seccomp : env && env[0] ? env : o->user ? "on" : "off";
	on = ft_privs_seccomp_parse(setting, &action);
	if (on < 0) {
		snprintf(why, whylen, "bad seccomp setting '%s' (on, log or off)", setting);
		return on;
	}
	if (!user) {
		if (o->user)
			ft_log(FT_LOG_NOTICE, "User = root: keeping every privilege");
		if (on && o->seccomp)
			ft_log_warnx("Seccomp = %s needs a user to drop to: not installed",
				     o->seccomp);
		return 0;
	}
	/*
	 * The default drop, where a service manager left root without what dropping takes
	 * (a unit from before it, with CAP_NET_ADMIN alone): keep running as that limited root
	 * rather than not at all. A user asked for by name is a requirement: fail below.
	 */
	if (!o->user && capng_get_caps_process() == 0 &&
	    (!capng_have_capability(CAPNG_EFFECTIVE, CAP_SETUID) ||
	     !capng_have_capability(CAPNG_EFFECTIVE, CAP_SETGID) ||
	     !capng_have_capability(CAPNG_EFFECTIVE, CAP_SETPCAP))) {
		ft_log_warnx("cannot drop to %s: CAP_SETUID, CAP_SETGID or CAP_SETPCAP is not "
			     "available; staying root with the capabilities given",
			     user);
		return 0;
	}
	/* The opener takes absolute paths only; flowtun up reads the config by one, so this is
	 * a guard for other callers, whose relative key file would then need a restart. */
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (paths[i].path && paths[i].path[0] != '/')
			paths[i].path = NULL;
	rc = ft_privs_resolve_user(user, &uid, &gid, err, sizeof(err));
	if (rc < 0) {
		snprintf(why, whylen, "%s (User = root keeps root instead)", err);
		return rc;
	}
	/* The test suite's record of a killed tunnel (privs.h), opened while we are root. */
	if (on && report && report[0] && (rc = ft_privs_seccomp_report_to(report)) < 0)
		ft_log_warnx("FLOWTUN_SECCOMP_REPORT %s: %s", report, strerror(-rc));
	rc = ft_opener_start("/proc/self/exe", uid, gid, paths, sizeof(paths) / sizeof(paths[0]),
			     err, sizeof(err));
	if (rc < 0) {
		snprintf(why, whylen,
			 "cannot start the opener: %s (User = root keeps root instead)", err);
		return rc;
	}
	if (ft_privs_drop(&po, err, sizeof(err)) < 0) {
		snprintf(why, whylen,
			 "cannot drop privileges to '%s': %s (User = root keeps root instead)",
			 user, err);
		return -EPERM;
	}
	if (on && ft_privs_seccomp(action, err, sizeof(err)) < 0) {
		snprintf(why, whylen, "cannot install the seccomp filter: %s", err);
		return -EPERM;
	}
	ft_log(FT_LOG_NOTICE,
	       "running as %s (uid %u), keeping CAP_NET_ADMIN, CAP_NET_BIND_SERVICE and CAP_IPC_LOCK; "
	       "opener pid %ld%s",
	       user, (unsigned int)uid, (long)ft_opener_pid(),
	       !on				? ""
	       : action == FT_PRIVS_SECCOMP_LOG ? "; seccomp allow-list on (log only)"
						: "; seccomp allow-list on");
	/*
	 * nobody is shared: every other service that runs as nobody may signal this tunnel
	 * (stop it with SIGTERM or SIGKILL, freeze it with SIGSTOP, reload it). Not ptrace it,
	 * nor read its memory: it is not dumpable. A user asked for by name is the admin's call.
	 */
	if (!o->user && strcmp(user, FT_PRIVS_FALLBACK_USER) == 0)
		ft_log_warnx("WARNING: there is no system user '%s', so this tunnel runs as the "
			     "shared user %s: any other process running as %s can stop, freeze "
			     "or reload it with a signal. Create the user (systemd-sysusers "
			     "flowtun.conf, or useradd --system --no-create-home --shell "
			     "/usr/sbin/nologin %s) and restart the tunnel",
			     FT_PRIVS_DEDICATED_USER, user, user, FT_PRIVS_DEDICATED_USER);
	return 0;
}

/*
 * The transport AEAD, chosen once for the process before the worker sees a packet and before
 * the drop and the seccomp filter: OpenSSL reads its configuration file as it starts.
 */
static int select_aead(const struct ft_config *cfg, const struct ft_runner_options *o, char *err,
		       size_t errlen)
{
	enum ft_aead_impl want = o->crypto_set ? o->crypto : cfg->crypto;
	/* Where the choice came from, for the messages: the option or the config file. */
	const char *from = o->crypto_set ? "--crypto" : "Crypto =";
	struct ft_aead_choice c;
	char what[96], probe[400];
	size_t n = 0;
	int rc = ft_aead_select(want, &c);

	if (rc == -ENOTSUP) {
		snprintf(err, errlen,
			 "%s %s: this flowtun was built without OpenSSL (configure --with-openssl)",
			 from, ft_aead_impl_name(want));
		return rc;
	}
	if (rc < 0) {
		snprintf(err, errlen, "%s %s: OpenSSL could not be initialised", from,
			 ft_aead_impl_name(want));
		return rc;
	}
	ft_aead_describe(what, sizeof(what));
	ft_log(FT_LOG_NOTICE, "transport AEAD: %s", what);
	if (!c.measured)
		return 0;
	probe[0] = '\0';
	for (int i = 0; i < FT_AEAD_PROBE_SIZES && n < sizeof(probe); i++)
		n += (size_t)snprintf(probe + n, sizeof(probe) - n, "%s%zu B %.0f/%.0f",
				      i ? ", " : "", c.probe_len[i], c.probe_ns[0][i],
				      c.probe_ns[1][i]);
	ft_log(FT_LOG_INFO, "transport AEAD measured, ns per seal+open, libsodium/openssl: %s",
	       probe);
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
	bool threaded = false;
	char err[512];
	int rc;

	signal(SIGPIPE, SIG_IGN);
	if (select_aead(cfg, ropts, err, sizeof(err)) < 0) {
		char msg[600];

		snprintf(msg, sizeof(msg), "flowtun %s: %s", ropts->name, err);
		if (ropts->ready_fd >= 0)
			report_ready(ropts->ready_fd, msg);
		else
			fprintf(stderr, "%s\n", msg);
		return 1;
	}
	if (ropts->config_path && !(r.config_path = ft_runner_absolute_path(ropts->config_path)))
		ft_log_warn("%s: SIGHUP will not reload it", ropts->config_path);
	/* FLOWTUN_WORKERS: the default when neither --workers nor Workers says (wg-quick). */
	if (!wopts.workers && !cfg->workers && getenv("FLOWTUN_WORKERS")) {
		const char *env = getenv("FLOWTUN_WORKERS");

		if (ft_config_parse_workers(env, &wopts.workers) < 0) {
			fprintf(stderr, "flowtun %s: bad FLOWTUN_WORKERS '%s' (1 to %u)\n",
				ropts->name, env, (unsigned int)FT_CONFIG_MAX_WORKERS);
			if (ropts->ready_fd >= 0)
				report_ready(ropts->ready_fd, "flowtun: bad FLOWTUN_WORKERS");
			return 1;
		}
	}
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
	} else if (ropts->daemonize) {
		if (daemon(0, 0) < 0)
			ft_log_warn("cannot detach");
		else
			uv_loop_fork(&r.loop);
		ft_worker_loop_fork(r.worker);
	}
	if (drop_privileges(&r, cfg, err, sizeof(err)) < 0) {
		/* Half dropped is no state to serve in: shut down cleanly and fail. */
		ft_log_warnx("%s", err);
		stop(&r);
		r.exit_code = 1;
	}
	/* The other workers' threads, under the drop and the seccomp filter. */
	if (r.exit_code == 0) {
		rc = ft_worker_start(r.worker);
		threaded = ft_worker_workers(r.worker) > 1;
		if (rc < 0) {
			snprintf(err, sizeof(err), "the workers' threads: %s", strerror(-rc));
			ft_log_warnx("%s", err);
			stop(&r);
			r.exit_code = 1;
		}
	}
	/*
	 * Ready only once dropped: the parent (wg-quick's `flowtun IFACE`) must not report
	 * success for a tunnel that is about to shut down.
	 */
	if (ropts->ready_fd >= 0) {
		char msg[600];

		snprintf(msg, sizeof(msg), "flowtun %s: %s", ropts->name, err);
		report_ready(ropts->ready_fd, r.exit_code ? msg : NULL);
	}
	ft_worker_run(&r.loop, threaded);
	/* Anything still open (the link monitor's handles close on their own) ends here. */
	uv_walk(&r.loop, close_walk_cb, NULL);
	uv_run(&r.loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&r.loop) != 0)
		ft_log_warnx("the loop still had handles at exit");
	ft_opener_stop();
	ft_aead_thread_cleanup();
	free(r.config_path);
	return r.exit_code;
}
