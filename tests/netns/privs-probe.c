// SPDX-License-Identifier: MIT
/*
 * The start-up order of `flowtun up` around tun/priv/privs.h, for tests/netns/privs.sh, in a
 * namespace the script created:
 *
 *   privs-probe USER on|log|off
 *
 * no-dump, a key in sodium_malloc memory, libuv's thread pool started (so that threads exist
 * before the drop, as in flowtun), tun0 with 100.64.0.1/24 and a route to 100.64.8.0/24,
 * then ft_privs_drop(USER) and ft_privs_seccomp(). It prints "ready" and then obeys one
 * command per line on stdin:
 *
 *   route      add a route to 100.64.9.0/24 and delete 100.64.8.0/24 ("route ok")
 *   addr       add fd00::1/64 to tun0 ("addr ok")
 *   chdir      a syscall outside the allow-list (the filter kills the probe)
 *   packet     socket(AF_PACKET), a family outside the allow-list
 *   genl       socket(AF_NETLINK, NETLINK_GENERIC): netlink, but not NETLINK_ROUTE (generic
 *              netlink reaches other WireGuard devices' keys)
 *   nfnl       socket(AF_NETLINK, NETLINK_NETFILTER): the firewall's netlink
 *   ethtool    ioctl(SIOCETHTOOL) with ETHTOOL_GLINK: ethtool's set commands ride on the same
 *              request, so the filter refuses it whatever the command
 *   tunsetiff  ioctl(TUNSETIFF) on the TUN fd, a request outside the allow-list
 *   setuid     setuid(0): refused (EPERM) by the kernel, or killed with the filter on
 *   close      wipe the key, close everything, "closed", exit 0
 */
#include "config.h"

#include <errno.h>
#include <linux/ethtool.h>
#include <linux/if_tun.h>
#include <linux/netlink.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <sodium.h>
#include <uv.h>

#include "tun/priv/privs.h"
#include "tun/net/netconf.h"
#include "tun/net/tundev.h"

static void fail(const char *what, int rc)
{
	printf("failed: %s: %s\n", what, strerror(rc < 0 ? -rc : rc));
	fflush(stdout);
	exit(1);
}

static void work(uv_work_t *req)
{
}

static void work_done(uv_work_t *req, int status)
{
}

/* One job through libuv's pool makes it start its threads, as flowtun's flow-log writes do. */
static void start_thread_pool(void)
{
	uv_loop_t loop;
	uv_work_t req;

	uv_loop_init(&loop);
	uv_queue_work(&loop, &req, work, work_done);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_loop_close(&loop);
}

static void prefix(struct ft_netconf_prefix *p, const char *s)
{
	if (ft_netconf_prefix_parse(p, s) < 0)
		fail(s, -EINVAL);
}

int main(int argc, char *argv[])
{
	struct ft_privs_options opts = { 0 };
	enum ft_privs_seccomp_action action = FT_PRIVS_SECCOMP_KILL;
	struct ft_netconf_prefix addr, r8, r9, addr6;
	char ifname[IFNAMSIZ], line[64], err[256];
	struct ft_netconf *rtnl;
	uint8_t *key;
	int fd, ifindex, rc, use_seccomp;

	if (argc != 3 || (use_seccomp = ft_privs_seccomp_parse(argv[2], &action)) < 0) {
		fprintf(stderr, "usage: privs-probe USER on|log|off\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	opts.user = argv[1];
	if ((rc = ft_privs_no_dump()) < 0)
		fail("no-dump", rc);
	if (sodium_init() < 0)
		fail("sodium_init", -ENOMEM);
	key = sodium_malloc(32);
	if (!key)
		fail("sodium_malloc", -ENOMEM);
	randombytes_buf(key, 32);
	start_thread_pool();

	fd = ft_tundev_open("tun0", 0, ifname);
	if (fd < 0)
		fail("open tun0", fd);
	if ((rc = ft_netconf_create(&rtnl)) < 0)
		fail("rtnetlink", rc);
	ifindex = ft_netconf_ifindex(rtnl, ifname);
	if (ifindex < 0)
		fail("ifindex", ifindex);
	prefix(&addr, "100.64.0.1/24");
	prefix(&r8, "100.64.8.0/24");
	prefix(&r9, "100.64.9.0/24");
	prefix(&addr6, "fd00::1/64");
	if ((rc = ft_netconf_link_set_up(rtnl, ifindex, true)) < 0)
		fail("link up", rc);
	if ((rc = ft_netconf_addr_add(rtnl, ifindex, &addr)) < 0)
		fail("address", rc);
	if ((rc = ft_netconf_route_add(rtnl, ifindex, &r8)) < 0)
		fail("route 100.64.8.0/24", rc);

	if ((rc = ft_privs_drop(&opts, err, sizeof(err))) < 0) {
		printf("failed: %s\n", err);
		return 1;
	}
	if (use_seccomp && (rc = ft_privs_seccomp(action, err, sizeof(err))) < 0) {
		printf("failed: %s\n", err);
		return 1;
	}
	printf("ready\n");

	while (fgets(line, sizeof(line), stdin)) {
		line[strcspn(line, "\n")] = '\0';
		if (strcmp(line, "route") == 0) {
			rc = ft_netconf_route_add(rtnl, ifindex, &r9);
			if (rc == 0)
				rc = ft_netconf_route_del(rtnl, ifindex, &r8);
			printf(rc == 0 ? "route ok\n" : "route failed: %s\n", strerror(-rc));
		} else if (strcmp(line, "addr") == 0) {
			rc = ft_netconf_addr_add(rtnl, ifindex, &addr6);
			printf(rc == 0 ? "addr ok\n" : "addr failed: %s\n", strerror(-rc));
		} else if (strcmp(line, "chdir") == 0) {
			rc = chdir("/");
			printf("chdir returned %d\n", rc);
		} else if (strcmp(line, "packet") == 0) {
			rc = socket(AF_PACKET, SOCK_RAW, 0);
			printf("socket(AF_PACKET) returned %d (%s)\n", rc,
			       rc < 0 ? strerror(errno) : "open");
		} else if (strcmp(line, "genl") == 0 || strcmp(line, "nfnl") == 0) {
			rc = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC,
				    line[0] == 'g' ? NETLINK_GENERIC : NETLINK_NETFILTER);
			printf("socket(AF_NETLINK, %s) returned %d (%s)\n", line, rc,
			       rc < 0 ? strerror(errno) : "open");
		} else if (strcmp(line, "ethtool") == 0) {
			struct ethtool_value ev = { .cmd = ETHTOOL_GLINK };
			struct ifreq ifr = { .ifr_data = (char *)&ev };
			int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

			snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", ifname);
			rc = ioctl(s, SIOCETHTOOL, &ifr);
			printf("SIOCETHTOOL returned %d (%s)\n", rc,
			       rc < 0 ? strerror(errno) : "ok");
			close(s);
		} else if (strcmp(line, "tunsetiff") == 0) {
			struct ifreq ifr = { .ifr_flags = IFF_TUN | IFF_NO_PI };

			snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "tun1");
			rc = ioctl(fd, TUNSETIFF, &ifr);
			printf("TUNSETIFF returned %d (%s)\n", rc, rc < 0 ? strerror(errno) : "ok");
		} else if (strcmp(line, "setuid") == 0) {
			/*
			 * The system call itself, from this thread: glibc's setuid() in a process
			 * that ever had a second thread (the sanitizers' own) runs it in every
			 * thread from a signal handler, where a SIGSYS kill leaves no line (only
			 * the kernel's audit record). The filter is what is under test here.
			 */
			rc = (int)syscall(SYS_setuid, 0);
			printf("setuid(0) returned %d (%s)\n", rc,
			       rc < 0 ? strerror(errno) : "root");
		} else if (strcmp(line, "close") == 0) {
			break;
		} else {
			printf("unknown command '%s'\n", line);
		}
	}
	sodium_free(key);
	ft_netconf_destroy(rtnl);
	close(fd);
	printf("closed\n");
	return 0;
}
