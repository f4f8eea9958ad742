/* SPDX-License-Identifier: MIT */
#ifndef FT_NETCONF_H
#define FT_NETCONF_H

#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

/*
 * rtnetlink configuration of the tunnel's link: MTU, up/down, addresses, routes, the route
 * lookups the link monitor and the path MTU need, and a socket for route and link events. Each call is one synchronous request answered by the
 * kernel's ack, in the network namespace the handle was created in, and returns 0 or the
 * kernel's negative errno. The kernel's extended-ack text for the last failure, when it gave
 * one ("Nexthop device is not up"), is in ft_netconf_last_error().
 *
 * Everything an add call creates has a matching del call, so the caller can undo its own
 * changes on exit; closing the TUN fd also removes the device with its addresses and routes.
 * Not thread-safe: one handle per thread (the loop thread in practice).
 */

struct ft_netconf;

/* An IPv4 or IPv6 prefix: family AF_INET or AF_INET6, len 0..32 or 0..128. */
struct ft_netconf_prefix {
	int family;
	uint8_t len;
	union {
		struct in_addr v4;
		struct in6_addr v6;
		uint8_t bytes[16];
	} addr;
};

/* A NETLINK_ROUTE socket in the caller's network namespace. 0 or a negative errno. */
int ft_netconf_create(struct ft_netconf **out);
void ft_netconf_destroy(struct ft_netconf *r);
/* The kernel's message for the last failed call, or "" when it gave none. */
const char *ft_netconf_last_error(const struct ft_netconf *r);

/* "100.64.0.1/24", "fd00::/8", or an address alone (a host prefix). 0 or -EINVAL. Host bits
 * are kept: an interface address is written this way. */
int ft_netconf_prefix_parse(struct ft_netconf_prefix *p, const char *s);
/* Clears the bits past p->len. */
void ft_netconf_prefix_mask(struct ft_netconf_prefix *p);
/* True when every address of inner is in outer (same family, outer->len <= inner->len). */
bool ft_netconf_prefix_covers(const struct ft_netconf_prefix *outer,
			      const struct ft_netconf_prefix *inner);

/* The ifindex (> 0) of the link name, or -ENODEV (-EINVAL for a name too long). */
int ft_netconf_ifindex(struct ft_netconf *r, const char *name);
/* The name of link ifindex into name. 0 or -ENODEV. */
int ft_netconf_ifname(struct ft_netconf *r, int ifindex, char name[IFNAMSIZ]);
/* The link's MTU into *mtu. 0 or -ENODEV. */
int ft_netconf_link_get_mtu(struct ft_netconf *r, int ifindex, unsigned int *mtu);
/* Sets the link's MTU. 0, -ENODEV, or -EINVAL (out of the device's range). */
int ft_netconf_link_set_mtu(struct ft_netconf *r, int ifindex, unsigned int mtu);
/* Sets the link administratively up or down. 0 or -ENODEV. */
int ft_netconf_link_set_up(struct ft_netconf *r, int ifindex, bool up);
/* Deletes the link. 0, -ENODEV, or -EOPNOTSUPP (a device rtnetlink cannot delete). */
int ft_netconf_link_delete(struct ft_netconf *r, int ifindex);

/*
 * Adds address p->addr with prefix length p->len to link ifindex; the kernel adds the route of
 * the prefix with it (and removes it with the address). 0, -EEXIST when already there, or
 * another negative errno. IPv6 addresses skip duplicate address detection (IFA_F_NODAD), and
 * the call waits (up to 2 s, a few ms in practice) until the kernel has installed the address's
 * local route, so the address receives packets when this returns; -ETIMEDOUT if it never did
 * (the address is there: remove it as usual).
 */
int ft_netconf_addr_add(struct ft_netconf *r, int ifindex, const struct ft_netconf_prefix *p);
/* Removes an address added as above. 0, or -EADDRNOTAVAIL when it is not there. */
int ft_netconf_addr_del(struct ft_netconf *r, int ifindex, const struct ft_netconf_prefix *p);

/*
 * Adds a route of the prefix (host bits ignored) via link ifindex in the main table, scope
 * link, protocol boot (as `ip route add PREFIX dev IF`). The link must be up: -ENETDOWN
 * otherwise. 0, -EEXIST when that route exists, or another negative errno.
 */
int ft_netconf_route_add(struct ft_netconf *r, int ifindex, const struct ft_netconf_prefix *p);
/* Removes a route added as above. 0, or -ESRCH when there is none. */
int ft_netconf_route_del(struct ft_netconf *r, int ifindex, const struct ft_netconf_prefix *p);

/*
 * Adds a route for each of the n prefixes (a peer's AllowedIPs) unless one of the link's own
 * n_own address prefixes already covers it (the kernel routed that prefix with the address).
 * A route that exists already is left alone and is not an error. added[n] (required) says
 * which ones this call added, that is which ones the caller removes later. On failure the
 * routes this call added are removed again. 0 or the first negative errno.
 */
int ft_netconf_routes_add(struct ft_netconf *r, int ifindex, const struct ft_netconf_prefix *own,
			  unsigned int n_own, const struct ft_netconf_prefix *p, unsigned int n,
			  bool *added);

/*
 * The link through which the kernel would send to dst (an AF_INET or AF_INET6 sockaddr; a
 * v4-mapped address is looked up as IPv4): RTM_GETROUTE, as `ip route get`. Writes the ifindex
 * to *ifindex. 0, -ENETUNREACH (no route), or another negative errno.
 */
int ft_netconf_route_get(struct ft_netconf *r, const struct sockaddr *dst, int *ifindex);
/*
 * The same for packets with firewall mark mark (0: none), and the route's MTU into *mtu: the
 * RTAX_MTU metric of the answer, which is a route's `mtu N` or a path MTU the kernel learnt (an
 * ICMP "fragmentation needed"), or 0 when the route has none (then the link's MTU applies:
 * ft_netconf_link_get_mtu()).
 */
int ft_netconf_route_get_mtu(struct ft_netconf *r, const struct sockaddr *dst, uint32_t mark,
			     int *ifindex, unsigned int *mtu);
/*
 * The default route of the main table for family (AF_INET or AF_INET6), the one with the
 * lowest metric: its link into *ifindex and its RTAX_MTU (0: none) into *mtu. A route dump,
 * for when there is no address to look up. 0, -ENETUNREACH (none), or another negative errno.
 */
int ft_netconf_default_route(struct ft_netconf *r, int family, int *ifindex, unsigned int *mtu);

/*
 * Route and link events (tun/net/netconf_watch.c): a NETLINK_ROUTE socket of its own (non-blocking,
 * in the caller's network namespace) subscribed to the link, IPv4 route and IPv6 route groups,
 * for a poll on its fd. ft_netconf_watch_read() reads what is waiting and says what kind of change
 * came in (the details are for the caller to ask with the calls above: events may be lost when
 * the socket overflows, a query never is). The caller's own link is told apart: its changes
 * are FT_NETCONF_WATCH_OWN, and routes through it alone (a tunnel's AllowedIPs) are no event.
 */
struct ft_netconf_watch;

enum ft_netconf_watch_what {
	FT_NETCONF_WATCH_LINK = 1 << 0,	 /* another link was added, changed (MTU, state), removed */
	FT_NETCONF_WATCH_ROUTE = 1 << 1, /* a route not through the own link was added or removed */
	FT_NETCONF_WATCH_LOST = 1 << 2,	 /* the socket overflowed: events were lost */
	FT_NETCONF_WATCH_OWN = 1 << 3,	 /* the own link changed (its MTU, say) */
};

/* own_ifindex: the caller's own link (0: none). 0 and *out, or a negative errno. */
int ft_netconf_watch_open(struct ft_netconf_watch **out, int own_ifindex);
/* Closes the socket and frees w; NULL is allowed. Stop polling its fd first. */
void ft_netconf_watch_close(struct ft_netconf_watch *w);
int ft_netconf_watch_fd(const struct ft_netconf_watch *w);
/* Reads the waiting events, 64 reads at most (poll again for more); *what gets the
 * FT_NETCONF_WATCH_* bits seen (0: none). 0 or a negative errno of the socket. */
int ft_netconf_watch_read(struct ft_netconf_watch *w, unsigned int *what);

/*
 * The path to dst in more detail, for the checks made when a path comes back: the link it
 * leaves through and the next hop whose neighbour entry (ARP, NDP) the kernel needs, the
 * gateway or dst itself. 0, -ENETUNREACH (no route, or a route that refuses: unreachable,
 * blackhole, prohibit), -EADDRNOTAVAIL (the route's source address cannot receive yet: no
 * local route for it), or another negative errno.
 */
struct ft_netconf_path {
	int oif;
	int family; /* of the next hop */
	uint8_t nexthop[16];
	bool has_gateway;
};
int ft_netconf_route_get_path(struct ft_netconf *r, const struct sockaddr *dst,
			      struct ft_netconf_path *path);

/* The link's flags (IFF_UP, IFF_RUNNING, IFF_NOARP, ... as ifi_flags). 0 or -ENODEV. */
int ft_netconf_link_flags(struct ft_netconf *r, int ifindex, unsigned int *flags);

/*
 * The state (NUD_* of linux/neighbour.h) of the neighbour entry of addr (4 or 16 bytes of
 * family) on link ifindex: 0, -ENOENT when there is none, or another negative errno (a kernel
 * older than 5.0 cannot answer for one entry: -EINVAL or -EOPNOTSUPP).
 */
int ft_netconf_neigh_get(struct ft_netconf *r, int ifindex, int family, const uint8_t *addr,
			 uint16_t *state);
/* Deletes that entry and the packets queued on it: 0, -ENOENT, -EPERM without CAP_NET_ADMIN. */
int ft_netconf_neigh_del(struct ft_netconf *r, int ifindex, int family, const uint8_t *addr);

/*
 * Route and address changes (IPv4 and IPv6) as they happen, on a non-blocking socket of its
 * own for the caller's poll loop. ft_netconf_events_read() reads a bounded batch of what is
 * queued and calls cb for each change; an overflow of the socket (changes lost) is reported
 * as FT_NETCONF_EV_LOST. 0 or a negative errno other than EAGAIN.
 */
struct ft_netconf_events;

enum ft_netconf_event_kind {
	FT_NETCONF_EV_ROUTE_ADD,
	FT_NETCONF_EV_ROUTE_DEL,
	FT_NETCONF_EV_ADDR_ADD,
	FT_NETCONF_EV_ADDR_DEL,
	FT_NETCONF_EV_LOST,
};

struct ft_netconf_event {
	enum ft_netconf_event_kind kind;
	int ifindex;			 /* a route's RTA_OIF (0: none), an address's link */
	struct ft_netconf_prefix prefix; /* a route's destination, an address and its length */
};

typedef void (*ft_netconf_event_cb)(void *arg, const struct ft_netconf_event *ev);

int ft_netconf_events_open(struct ft_netconf_events **out);
int ft_netconf_events_fd(const struct ft_netconf_events *e);
int ft_netconf_events_read(struct ft_netconf_events *e, ft_netconf_event_cb cb, void *arg);
void ft_netconf_events_close(struct ft_netconf_events *e);

/* A link's counters, those flowtun reports. */
struct ft_netconf_link_stats {
	uint64_t rx_packets, tx_packets;
	uint64_t rx_dropped,
		tx_dropped; /* for a TUN: written by us, refused; queued for us, lost */
};

/*
 * The 64-bit counters of link ifindex (RTM_GETSTATS, IFLA_STATS_LINK_64: what `ip -s link`
 * shows): one request and its answer, a few microseconds. 0, -ENODEV, -ENODATA (no such
 * counters), or another negative errno.
 */
int ft_netconf_link_stats(struct ft_netconf *r, int ifindex, struct ft_netconf_link_stats *out);

#endif
