// SPDX-License-Identifier: MIT
/*
 * What the kernel says of a path, over the configuration socket (netconf.c): the route to an
 * address with its link, MTU, gateway and source; the default route; the state of a
 * neighbour entry (and its removal); a link's counters. Every attribute is length-checked
 * before it is read.
 */
#include "config.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "tun/net/netconf.h"
#include "tun/net/netconf_internal.h"

struct route_reply {
	int oif;
	int type;
	unsigned int mtu;      /* RTAX_MTU of RTA_METRICS; 0: none */
	unsigned int priority; /* RTA_PRIORITY, the metric */
	unsigned int table;    /* RTA_TABLE, else rtm_table */
	int family;	       /* rtm_family */
	int gw_family;	       /* AF_UNSPEC: no gateway */
	uint8_t gw[16];
	bool has_src;
	uint8_t src[16]; /* RTA_PREFSRC, of the route's family */
};

/* RTA_GATEWAY is of the route's family; RTA_VIA (an IPv4 route via IPv6) names its own. */
static void route_gateway(struct route_reply *rr, int family, const struct nlattr *attr)
{
	const uint8_t *p = mnl_attr_get_payload(attr);
	uint16_t len = mnl_attr_get_payload_len(attr);
	unsigned int bytes;

	if (mnl_attr_get_type(attr) == RTA_VIA) {
		uint16_t via_family;

		if (len < sizeof(via_family))
			return;
		memcpy(&via_family, p, sizeof(via_family));
		family = via_family;
		p += sizeof(via_family);
		len -= sizeof(via_family);
	}
	bytes = ft_netconf_family_bytes(family);
	if (!bytes || len != bytes)
		return;
	rr->gw_family = family;
	memcpy(rr->gw, p, bytes);
}

static int metrics_attr(const struct nlattr *attr, void *data)
{
	struct route_reply *rr = data;

	if (mnl_attr_get_type(attr) == RTAX_MTU && mnl_attr_validate(attr, MNL_TYPE_U32) == 0)
		rr->mtu = mnl_attr_get_u32(attr);
	return MNL_CB_OK;
}

static int route_attr(const struct nlattr *attr, void *data)
{
	struct route_reply *rr = data;

	switch (mnl_attr_get_type(attr)) {
	case RTA_OIF:
		if (mnl_attr_validate(attr, MNL_TYPE_U32) == 0)
			rr->oif = (int)mnl_attr_get_u32(attr);
		break;
	case RTA_PRIORITY:
		if (mnl_attr_validate(attr, MNL_TYPE_U32) == 0)
			rr->priority = mnl_attr_get_u32(attr);
		break;
	case RTA_TABLE:
		if (mnl_attr_validate(attr, MNL_TYPE_U32) == 0)
			rr->table = mnl_attr_get_u32(attr);
		break;
	case RTA_GATEWAY:
	case RTA_VIA:
		route_gateway(rr, rr->family, attr);
		break;
	case RTA_PREFSRC:
		if (ft_netconf_family_bytes(rr->family) &&
		    mnl_attr_get_payload_len(attr) == ft_netconf_family_bytes(rr->family)) {
			memcpy(rr->src, mnl_attr_get_payload(attr),
			       ft_netconf_family_bytes(rr->family));
			rr->has_src = true;
		}
		break;
	case RTA_METRICS:
		/* A route's mtu (`ip route add ... mtu N`) or a learnt path MTU exception. */
		if (mnl_attr_validate(attr, MNL_TYPE_NESTED) == 0)
			(void)mnl_attr_parse_nested(attr, metrics_attr, rr);
		break;
	}
	return MNL_CB_OK;
}

/* One route message into rr; false when it is not one. */
static bool parse_route(const struct nlmsghdr *nlh, struct route_reply *rr,
			const struct rtmsg **rtmp)
{
	const struct rtmsg *rtm;

	if (nlh->nlmsg_type != RTM_NEWROUTE || nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*rtm)))
		return false;
	rtm = mnl_nlmsg_get_payload(nlh);
	memset(rr, 0, sizeof(*rr));
	rr->type = rtm->rtm_type;
	rr->table = rtm->rtm_table;
	rr->family = rtm->rtm_family;
	if (mnl_attr_parse(nlh, sizeof(*rtm), route_attr, rr) < 0)
		return false;
	*rtmp = rtm;
	return true;
}

static int cb_route(const struct nlmsghdr *nlh, void *data)
{
	struct route_reply *rr = data, got;
	const struct rtmsg *rtm;

	if (parse_route(nlh, &got, &rtm))
		*rr = got;
	return MNL_CB_OK;
}

/*
 * RTM_GETROUTE for one address: the link it leaves through, the route's type, MTU, gateway
 * and preferred source.
 */
static int route_lookup_reply(struct ft_netconf *r, int family, const uint8_t *addr, uint32_t mark,
			      struct route_reply *rr)
{
	uint8_t buf[RTNL_REQ_SIZE];
	struct nlmsghdr *nlh;
	struct rtmsg *rtm;
	int rc;

	memset(buf, 0, sizeof(buf));
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETROUTE;
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = (uint8_t)family;
	rtm->rtm_dst_len = (uint8_t)(ft_netconf_family_bytes(family) * 8);
	mnl_attr_put(nlh, RTA_DST, ft_netconf_family_bytes(family), addr);
	/* The socket's fwmark picks the policy routes its packets take (wg-quick's table). */
	if (mark)
		mnl_attr_put_u32(nlh, RTA_MARK, mark);
	memset(rr, 0, sizeof(*rr));
	rc = ft_netconf_talk(r, nlh, cb_route, rr);
	if (rc < 0)
		return rc;
	return rr->oif > 0 ? 0 : -ENETUNREACH;
}

static int route_lookup_mtu(struct ft_netconf *r, int family, const uint8_t *addr, uint32_t mark,
			    int *oif, int *type, unsigned int *mtu)
{
	struct route_reply rr;
	int rc = route_lookup_reply(r, family, addr, mark, &rr);

	if (rc < 0)
		return rc;
	*oif = rr.oif;
	*type = rr.type;
	*mtu = rr.mtu;
	return 0;
}

int ft_netconf_route_lookup(struct ft_netconf *r, int family, const uint8_t *addr, int *oif,
			    int *type)
{
	unsigned int mtu;

	return route_lookup_mtu(r, family, addr, 0, oif, type, &mtu);
}

/* The address to look up for dst: v4-mapped ones as IPv4, as the dual-stack socket sends. */
static int route_dst(const struct sockaddr *dst, int *family, uint8_t addr[16])
{
	if (dst->sa_family == AF_INET) {
		struct sockaddr_in sin;

		memcpy(&sin, dst, sizeof(sin));
		memcpy(addr, &sin.sin_addr, 4);
		*family = AF_INET;
	} else if (dst->sa_family == AF_INET6) {
		struct sockaddr_in6 sin6;

		memcpy(&sin6, dst, sizeof(sin6));
		if (IN6_IS_ADDR_V4MAPPED(&sin6.sin6_addr)) {
			/* The dual-stack socket sends these as IPv4: look up the IPv4 route. */
			memcpy(addr, &sin6.sin6_addr.s6_addr[12], 4);
			*family = AF_INET;
		} else {
			memcpy(addr, &sin6.sin6_addr, 16);
			*family = AF_INET6;
		}
	} else {
		return -EAFNOSUPPORT;
	}
	return 0;
}

int ft_netconf_route_get_path(struct ft_netconf *r, const struct sockaddr *dst,
			      struct ft_netconf_path *path)
{
	struct route_reply rr;
	uint8_t addr[16];
	int family, rc;

	memset(path, 0, sizeof(*path));
	if ((rc = route_dst(dst, &family, addr)) < 0)
		return rc;
	if ((rc = route_lookup_reply(r, family, addr, 0, &rr)) < 0)
		return rc;
	/* Unicast and local (our own address) routes carry packets; the others refuse them. */
	if (rr.type != RTN_UNICAST && rr.type != RTN_LOCAL)
		return -ENETUNREACH;
	/*
	 * The answer must be able to come back: our source address receives only once its
	 * local route is in (IPv6 installs it from a worker, after the address add is acked).
	 */
	if (rr.type == RTN_UNICAST && rr.has_src) {
		struct route_reply back;

		if (route_lookup_reply(r, family, rr.src, 0, &back) < 0 || back.type != RTN_LOCAL)
			return -EADDRNOTAVAIL;
	}
	path->oif = rr.oif;
	path->has_gateway = rr.gw_family != AF_UNSPEC;
	path->family = path->has_gateway ? rr.gw_family : family;
	memcpy(path->nexthop, path->has_gateway ? rr.gw : addr,
	       ft_netconf_family_bytes(path->family));
	return 0;
}

int ft_netconf_route_get(struct ft_netconf *r, const struct sockaddr *dst, int *ifindex)
{
	unsigned int mtu;

	return ft_netconf_route_get_mtu(r, dst, 0, ifindex, &mtu);
}

int ft_netconf_route_get_mtu(struct ft_netconf *r, const struct sockaddr *dst, uint32_t mark,
			     int *ifindex, unsigned int *mtu)
{
	uint8_t addr[16];
	int family, type, rc;

	if ((rc = route_dst(dst, &family, addr)) < 0)
		return rc;
	return route_lookup_mtu(r, family, addr, mark, ifindex, &type, mtu);
}

struct default_route {
	struct route_reply best;
	bool found;
};

/* The main table's unicast default route with the lowest metric (the one the kernel uses). */
static int cb_default_route(const struct nlmsghdr *nlh, void *data)
{
	struct default_route *d = data;
	const struct rtmsg *rtm;
	struct route_reply rr;

	if (!parse_route(nlh, &rr, &rtm))
		return MNL_CB_OK;
	if (rtm->rtm_dst_len != 0 || rr.table != RT_TABLE_MAIN || rr.type != RTN_UNICAST ||
	    rr.oif <= 0)
		return MNL_CB_OK;
	if (!d->found || rr.priority < d->best.priority)
		d->best = rr;
	d->found = true;
	return MNL_CB_OK;
}

int ft_netconf_default_route(struct ft_netconf *r, int family, int *ifindex, unsigned int *mtu)
{
	uint8_t buf[RTNL_REQ_SIZE];
	struct default_route d = { .found = false };
	struct nlmsghdr *nlh;
	struct rtmsg *rtm;
	int rc;

	if (family != AF_INET && family != AF_INET6)
		return -EAFNOSUPPORT;
	memset(buf, 0, sizeof(buf));
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETROUTE;
	nlh->nlmsg_flags = NLM_F_DUMP;
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = (uint8_t)family;
	rc = ft_netconf_talk(r, nlh, cb_default_route, &d);
	if (rc < 0)
		return rc;
	if (!d.found)
		return -ENETUNREACH;
	*ifindex = d.best.oif;
	*mtu = d.best.mtu;
	return 0;
}

/* --- neighbours --- */

static int cb_neigh(const struct nlmsghdr *nlh, void *data)
{
	uint16_t *state = data;
	struct ndmsg ndm;

	if (nlh->nlmsg_type != RTM_NEWNEIGH || mnl_nlmsg_get_payload_len(nlh) < sizeof(ndm))
		return MNL_CB_OK;
	memcpy(&ndm, mnl_nlmsg_get_payload(nlh), sizeof(ndm));
	*state = ndm.ndm_state;
	return MNL_CB_OK;
}

static int neigh_request(struct ft_netconf *r, uint16_t type, int ifindex, int family,
			 const uint8_t *addr, uint16_t *state)
{
	uint8_t buf[RTNL_REQ_SIZE];
	unsigned int bytes = ft_netconf_family_bytes(family);
	struct nlmsghdr *nlh;
	struct ndmsg *ndm;

	if (!bytes)
		return -EAFNOSUPPORT;
	if (ifindex <= 0)
		return -ENODEV;
	memset(buf, 0, sizeof(buf));
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	ndm = mnl_nlmsg_put_extra_header(nlh, sizeof(*ndm));
	ndm->ndm_family = (uint8_t)family;
	ndm->ndm_ifindex = ifindex;
	mnl_attr_put(nlh, NDA_DST, bytes, addr);
	return ft_netconf_talk(r, nlh, state ? cb_neigh : NULL, state);
}

int ft_netconf_neigh_get(struct ft_netconf *r, int ifindex, int family, const uint8_t *addr,
			 uint16_t *state)
{
	*state = NUD_NONE;
	return neigh_request(r, RTM_GETNEIGH, ifindex, family, addr, state);
}

int ft_netconf_neigh_del(struct ft_netconf *r, int ifindex, int family, const uint8_t *addr)
{
	return neigh_request(r, RTM_DELNEIGH, ifindex, family, addr, NULL);
}

/* --- link statistics --- */

/*
 * RTM_GETSTATS with only IFLA_STATS_LINK_64 asked for: the kernel builds a reply of the counters
 * alone, several times cheaper than the whole RTM_NEWLINK that `ip -s link` reads.
 */
struct stats_reply {
	int ifindex;
	bool found;
	struct ft_netconf_link_stats *out;
};

static int stats_attr(const struct nlattr *attr, void *data)
{
	struct stats_reply *sr = data;
	struct rtnl_link_stats64 st;
	uint16_t len = mnl_attr_get_payload_len(attr);

	if (mnl_attr_get_type(attr) != IFLA_STATS_LINK_64)
		return MNL_CB_OK;
	/* Older kernels send a shorter struct: what is missing reads as zero. */
	if (len < offsetof(struct rtnl_link_stats64, tx_dropped) + sizeof(st.tx_dropped))
		return MNL_CB_OK;
	memset(&st, 0, sizeof(st));
	memcpy(&st, mnl_attr_get_payload(attr), len < sizeof(st) ? len : sizeof(st));
	sr->out->rx_packets = st.rx_packets;
	sr->out->tx_packets = st.tx_packets;
	sr->out->rx_dropped = st.rx_dropped;
	sr->out->tx_dropped = st.tx_dropped;
	sr->found = true;
	return MNL_CB_OK;
}

static int cb_stats(const struct nlmsghdr *nlh, void *data)
{
	struct stats_reply *sr = data;
	const struct if_stats_msg *ism;

	if (nlh->nlmsg_type != RTM_NEWSTATS || nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*ism)))
		return MNL_CB_OK;
	ism = mnl_nlmsg_get_payload(nlh);
	if ((int)ism->ifindex != sr->ifindex)
		return MNL_CB_OK;
	return mnl_attr_parse(nlh, sizeof(*ism), stats_attr, sr);
}

int ft_netconf_link_stats(struct ft_netconf *r, int ifindex, struct ft_netconf_link_stats *out)
{
	uint8_t buf[RTNL_REQ_SIZE];
	struct stats_reply sr = { .ifindex = ifindex, .out = out };
	struct if_stats_msg *ism;
	struct nlmsghdr *nlh;
	int rc;

	if (ifindex <= 0)
		return -ENODEV;
	memset(buf, 0, sizeof(buf));
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETSTATS;
	ism = mnl_nlmsg_put_extra_header(nlh, sizeof(*ism));
	ism->family = AF_UNSPEC;
	ism->ifindex = (uint32_t)ifindex;
	ism->filter_mask = IFLA_STATS_FILTER_BIT(IFLA_STATS_LINK_64);
	rc = ft_netconf_talk(r, nlh, cb_stats, &sr);
	if (rc < 0)
		return rc;
	return sr.found ? 0 : -ENODATA;
}
