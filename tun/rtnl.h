/* SPDX-License-Identifier: MIT */
#ifndef FT_RTNL_H
#define FT_RTNL_H

#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

/*
 * rtnetlink configuration of the tunnel's link: MTU, up/down, addresses, routes, and the
 * route lookups the link monitor needs. Each call is one synchronous request answered by the
 * kernel's ack, in the network namespace the handle was created in, and returns 0 or the
 * kernel's negative errno. The kernel's extended-ack text for the last failure, when it gave
 * one ("Nexthop device is not up"), is in ft_rtnl_last_error().
 *
 * Everything an add call creates has a matching del call, so the caller can undo its own
 * changes on exit; closing the TUN fd also removes the device with its addresses and routes.
 * Not thread-safe: one handle per thread (the loop thread in practice).
 */

struct ft_rtnl;

/* An IPv4 or IPv6 prefix: family AF_INET or AF_INET6, len 0..32 or 0..128. */
struct ft_rtnl_prefix {
	int family;
	uint8_t len;
	union {
		struct in_addr v4;
		struct in6_addr v6;
		uint8_t bytes[16];
	} addr;
};

/* A NETLINK_ROUTE socket in the caller's network namespace. 0 or a negative errno. */
int ft_rtnl_create(struct ft_rtnl **out);
void ft_rtnl_destroy(struct ft_rtnl *r);
/* The kernel's message for the last failed call, or "" when it gave none. */
const char *ft_rtnl_last_error(const struct ft_rtnl *r);

/* "100.64.0.1/24", "fd00::/8", or an address alone (a host prefix). 0 or -EINVAL. Host bits
 * are kept: an interface address is written this way. */
int ft_rtnl_prefix_parse(struct ft_rtnl_prefix *p, const char *s);
/* Clears the bits past p->len. */
void ft_rtnl_prefix_mask(struct ft_rtnl_prefix *p);
/* True when every address of inner is in outer (same family, outer->len <= inner->len). */
bool ft_rtnl_prefix_covers(const struct ft_rtnl_prefix *outer, const struct ft_rtnl_prefix *inner);

/* The ifindex (> 0) of the link name, or -ENODEV (-EINVAL for a name too long). */
int ft_rtnl_ifindex(struct ft_rtnl *r, const char *name);
/* The name of link ifindex into name. 0 or -ENODEV. */
int ft_rtnl_ifname(struct ft_rtnl *r, int ifindex, char name[IFNAMSIZ]);
/* Sets the link's MTU. 0, -ENODEV, or -EINVAL (out of the device's range). */
int ft_rtnl_link_set_mtu(struct ft_rtnl *r, int ifindex, unsigned int mtu);
/* Sets the link administratively up or down. 0 or -ENODEV. */
int ft_rtnl_link_set_up(struct ft_rtnl *r, int ifindex, bool up);
/* Deletes the link. 0, -ENODEV, or -EOPNOTSUPP (a device rtnetlink cannot delete). */
int ft_rtnl_link_delete(struct ft_rtnl *r, int ifindex);

/*
 * Adds address p->addr with prefix length p->len to link ifindex; the kernel adds the route of
 * the prefix with it (and removes it with the address). 0, -EEXIST when already there, or
 * another negative errno. IPv6 addresses skip duplicate address detection (IFA_F_NODAD), and
 * the call waits (up to 2 s, a few ms in practice) until the kernel has installed the address's
 * local route, so the address receives packets when this returns; -ETIMEDOUT if it never did
 * (the address is there: remove it as usual).
 */
int ft_rtnl_addr_add(struct ft_rtnl *r, int ifindex, const struct ft_rtnl_prefix *p);
/* Removes an address added as above. 0, or -EADDRNOTAVAIL when it is not there. */
int ft_rtnl_addr_del(struct ft_rtnl *r, int ifindex, const struct ft_rtnl_prefix *p);

/*
 * Adds a route of the prefix (host bits ignored) via link ifindex in the main table, scope
 * link, protocol boot (as `ip route add PREFIX dev IF`). The link must be up: -ENETDOWN
 * otherwise. 0, -EEXIST when that route exists, or another negative errno.
 */
int ft_rtnl_route_add(struct ft_rtnl *r, int ifindex, const struct ft_rtnl_prefix *p);
/* Removes a route added as above. 0, or -ESRCH when there is none. */
int ft_rtnl_route_del(struct ft_rtnl *r, int ifindex, const struct ft_rtnl_prefix *p);

/*
 * Adds a route for each of the n prefixes (a peer's AllowedIPs) unless one of the link's own
 * n_own address prefixes already covers it (the kernel routed that prefix with the address).
 * A route that exists already is left alone and is not an error. added[n] (required) says
 * which ones this call added, that is which ones the caller removes later. On failure the
 * routes this call added are removed again. 0 or the first negative errno.
 */
int ft_rtnl_routes_add(struct ft_rtnl *r, int ifindex, const struct ft_rtnl_prefix *own,
		       unsigned int n_own, const struct ft_rtnl_prefix *p, unsigned int n,
		       bool *added);

/*
 * The link through which the kernel would send to dst (an AF_INET or AF_INET6 sockaddr; a
 * v4-mapped address is looked up as IPv4): RTM_GETROUTE, as `ip route get`. Writes the ifindex
 * to *ifindex. 0, -ENETUNREACH (no route), or another negative errno.
 */
int ft_rtnl_route_get(struct ft_rtnl *r, const struct sockaddr *dst, int *ifindex);

/* A link's counters, those flowtun reports. */
struct ft_rtnl_link_stats {
	uint64_t rx_packets, tx_packets;
	uint64_t rx_dropped,
		tx_dropped; /* for a TUN: written by us, refused; queued for us, lost */
};

/*
 * The 64-bit counters of link ifindex (RTM_GETSTATS, IFLA_STATS_LINK_64: what `ip -s link`
 * shows): one request and its answer, a few microseconds. 0, -ENODEV, -ENODATA (no such
 * counters), or another negative errno.
 */
int ft_rtnl_link_stats(struct ft_rtnl *r, int ifindex, struct ft_rtnl_link_stats *out);

#endif
