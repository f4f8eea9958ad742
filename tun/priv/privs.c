// SPDX-License-Identifier: MIT
/*
 * Privileges and secrets: the user change, the capabilities kept and the core-dump settings
 * (privs.h says when each is called). The seccomp allow-list is in privs_seccomp.c.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cap-ng.h>
#include <seccomp.h>

#include "base/text.h"
#include "tun/priv/privs.h"

/* ---- the user ---- */

/* A decimal id below UINT32_MAX (the kernel's "no id", (uid_t)-1), the whole of s. */
static int parse_id(const char *s, size_t len, uint32_t *out)
{
	uint64_t v;

	if (ft_parse_uint_n(s, len, UINT32_MAX - 1, &v) < 0)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

static bool all_digits(const char *s)
{
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

const char *ft_privs_default_user(void)
{
	return getpwnam(FT_PRIVS_DEDICATED_USER) ? FT_PRIVS_DEDICATED_USER : FT_PRIVS_FALLBACK_USER;
}

int ft_privs_resolve_user(const char *spec, uid_t *uid, gid_t *gid, char *err, size_t errlen)
{
	const char *colon;
	struct passwd *pw;
	uint32_t u, g;

	if (!spec || !spec[0])
		spec = ft_privs_default_user();
	if (strlen(spec) > LOGIN_NAME_MAX) {
		snprintf(err, errlen, "user name too long (%zu characters)", strlen(spec));
		return -EINVAL;
	}
	colon = strchr(spec, ':');
	if (colon) {
		if (parse_id(spec, (size_t)(colon - spec), &u) < 0 ||
		    parse_id(colon + 1, strlen(colon + 1), &g) < 0) {
			snprintf(err, errlen, "user '%s' is not UID:GID", spec);
			return -EINVAL;
		}
	} else if (all_digits(spec)) {
		if (parse_id(spec, strlen(spec), &u) < 0) {
			snprintf(err, errlen, "user '%s' is not a valid UID", spec);
			return -EINVAL;
		}
		/* A bare UID has no group of its own: take the primary group of its entry. */
		errno = 0;
		pw = getpwuid(u);
		if (!pw) {
			snprintf(err, errlen, "UID %s has no password entry: give UID:GID", spec);
			return errno && errno != ENOENT ? -errno : -ENOENT;
		}
		g = pw->pw_gid;
	} else {
		errno = 0;
		pw = getpwnam(spec);
		if (!pw) {
			snprintf(err, errlen, "unknown user '%s'", spec);
			return errno && errno != ENOENT ? -errno : -ENOENT;
		}
		u = pw->pw_uid;
		g = pw->pw_gid;
	}
	if (u == 0 || g == 0) {
		snprintf(err, errlen, "user '%s' is root: running as root keeps every privilege",
			 spec);
		return -EINVAL;
	}
	*uid = u;
	*gid = g;
	return 0;
}

/* ---- capabilities ---- */

static const char *change_id_error(int rc)
{
	static const char *const msgs[] = {
		[1] = "libcap-ng is not initialised",
		[2] = "cannot keep capabilities across the uid change",
		[3] = "cannot apply the intermediate capabilities",
		[4] = "cannot change the gid",
		[5] = "cannot drop the supplementary groups",
		[6] = "cannot change the uid",
		[7] = "cannot stop keeping capabilities across uid changes",
		[8] = "cannot clear the capability bounding set",
		[9] = "cannot drop CAP_SETPCAP",
		[10] = "cannot initialise the supplementary groups",
	};

	if (rc < 0 && -rc < (int)(sizeof(msgs) / sizeof(msgs[0])) && msgs[-rc])
		return msgs[-rc];
	return "unknown libcap-ng error";
}

/* The number of threads of this process, from /proc/self/task; 0 when it cannot be read. */
static unsigned int count_threads(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	unsigned int n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/*
 * PR_SET_NO_NEW_PRIVS is a per-thread flag, and threads that exist already (libuv's pool)
 * would keep an exec that gains privileges open to whoever takes one over. A filter that
 * allows everything, loaded with TSYNC, is the kernel's only way to set the flag in every
 * thread; it costs one trivial BPF run per syscall.
 */
static int sync_no_new_privs(void)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	int rc;

	if (!ctx)
		return -ENOMEM;
	rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1);
	if (rc == 0)
		rc = seccomp_load(ctx);
	seccomp_release(ctx);
	return rc;
}

int ft_privs_drop(const struct ft_privs_options *opts, char *err, size_t errlen)
{
	bool have_bind, have_lock;
	uid_t uid;
	gid_t gid;
	int rc;

	err[0] = '\0';
	rc = ft_privs_resolve_user(opts ? opts->user : NULL, &uid, &gid, err, errlen);
	if (rc < 0)
		return rc;
	if (geteuid() != 0) {
		snprintf(err, errlen, "cannot change to uid %u: not running as root",
			 (unsigned int)uid);
		return -EPERM;
	}

	/*
	 * CAP_NET_ADMIN is kept because after start-up the tunnel still changes the network
	 * configuration over rtnetlink: SIGHUP adds and removes the
	 * routes of changed AllowedIPs, and shutdown removes the routes and addresses and
	 * sets tun0 down. (The link monitor's reaction to link-up only reads link state and
	 * starts a handshake: no capability.) Everything else was needed only to create what
	 * exists now: the TUN device (never re-opened), the UDP socket, the files opened as
	 * root. Not kept: CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH, which
	 * would let a compromised tunnel read every file; the files it opens again (config,
	 * key file, flow log, API socket) go through the opener (tun/priv/opener.h).
	 */
	/*
	 * CAP_NET_BIND_SERVICE, because the userspace API may move the UDP socket: wg-quick
	 * sets ListenPort through it after `flowtun IFACE` is up (and dropped), and a port
	 * below 1024 (500, 443, 53: ports firewalls let through) needs it to bind. It grants
	 * nothing else. Only if we have it: a service manager may have left it out.
	 */
	/*
	 * CAP_IPC_LOCK, because the peers' secrets live in locked memory (tun/wg/secmem.h) and a
	 * running hub still adds peers: wg set, wg setconf, a SIGHUP reload read preshared keys
	 * and map arena chunks after the drop. Without the capability each chunk counts against
	 * RLIMIT_MEMLOCK (8 MiB by default), which a hub of a few thousand peers has used at
	 * start already: its next reload would fail for memory. The limit cannot be raised
	 * instead where root lacks CAP_SYS_RESOURCE (containers). It grants locking memory
	 * (mlock, SHM_LOCK) and nothing else. Only if we have it.
	 */
	capng_get_caps_process();
	have_bind = capng_have_capability(CAPNG_PERMITTED, CAP_NET_BIND_SERVICE);
	have_lock = capng_have_capability(CAPNG_PERMITTED, CAP_IPC_LOCK);
	capng_clear(CAPNG_SELECT_BOTH);
	if (capng_update(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED, CAP_NET_ADMIN) < 0) {
		snprintf(err, errlen, "cannot select CAP_NET_ADMIN");
		return -EINVAL;
	}
	if (have_bind &&
	    capng_update(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED, CAP_NET_BIND_SERVICE) < 0) {
		snprintf(err, errlen, "cannot select CAP_NET_BIND_SERVICE");
		return -EINVAL;
	}
	if (have_lock &&
	    capng_update(CAPNG_ADD, CAPNG_EFFECTIVE | CAPNG_PERMITTED, CAP_IPC_LOCK) < 0) {
		snprintf(err, errlen, "cannot select CAP_IPC_LOCK");
		return -EINVAL;
	}
	/*
	 * The libcap-ng way: PR_SET_KEEPCAPS across setresgid/setresuid, the capabilities
	 * above applied, keep-caps reset; no supplementary groups (root's would survive
	 * the uid change otherwise); an empty bounding set, so not even an exec of a
	 * file with capabilities can bring one back.
	 */
	errno = 0;
	rc = capng_change_id((int)uid, (int)gid, CAPNG_DROP_SUPP_GRP | CAPNG_CLEAR_BOUNDING);
	if (rc < 0) {
		int e = errno ? errno : EPERM;

		snprintf(err, errlen, "dropping to uid %u gid %u: %s: %s", (unsigned int)uid,
			 (unsigned int)gid, change_id_error(rc), strerror(e));
		return -e;
	}
	/* No exec can gain privileges any more (setuid binaries, file capabilities). */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		rc = -errno;
		snprintf(err, errlen, "PR_SET_NO_NEW_PRIVS: %s", strerror(-rc));
		return rc;
	}
	if (count_threads() != 1 && (rc = sync_no_new_privs()) < 0) {
		snprintf(err, errlen, "no-new-privs for every thread: %s", strerror(-rc));
		return rc;
	}
	/* The uid change resets dumpable to the fs.suid_dumpable sysctl: set it again. */
	rc = ft_privs_no_dump();
	if (rc < 0) {
		snprintf(err, errlen, "PR_SET_DUMPABLE: %s", strerror(-rc));
		return rc;
	}
	return 0;
}

/* ---- secrets and core dumps ---- */

int ft_privs_no_dump(void)
{
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return -errno;
	return 0;
}

int ft_privs_dontdump(void *ptr, size_t len)
{
	long page = sysconf(_SC_PAGESIZE);
	uintptr_t start, end;

	if (!ptr || len == 0 || page <= 0 || len > UINTPTR_MAX - (uintptr_t)ptr - (uintptr_t)page)
		return -EINVAL;
	/* madvise works on whole pages: every page that holds a byte of the buffer. */
	start = (uintptr_t)ptr & ~((uintptr_t)page - 1);
	end = ((uintptr_t)ptr + len + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
	if (madvise((void *)start, end - start, MADV_DONTDUMP) < 0)
		return -errno;
	return 0;
}
