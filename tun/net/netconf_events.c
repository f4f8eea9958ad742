// SPDX-License-Identifier: MIT
/*
 * Route and address change notifications (tun/net/netconf.h): a socket subscribed to the IPv4 and
 * IPv6 route and address groups, read in bounded batches. Every message is length-checked by
 * libmnl and its header copied out before a field is read; an attribute is used only when its
 * length is exactly that of an address of the message's family.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "tun/net/netconf.h"

/* A few KiB per message at most; a burst is read over several wake-ups. */
enum { EVENTS_BUF = 16384, EVENTS_READS_PER_CALL = 8 };

struct ft_netconf_events {
	struct mnl_socket *nl;
	uint8_t buf[EVENTS_BUF];
};

int ft_netconf_events_open(struct ft_netconf_events **out)
{
	struct ft_netconf_events *e;
	int rc;

	*out = NULL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (!e->nl)
		goto err;
	if (mnl_socket_bind(e->nl,
			    RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE | RTMGRP_IPV4_IFADDR |
				    RTMGRP_IPV6_IFADDR,
			    MNL_SOCKET_AUTOPID) < 0)
		goto err;
	*out = e;
	return 0;
err:
	rc = -errno;
	if (e->nl)
		mnl_socket_close(e->nl);
	free(e);
	return rc;
}

int ft_netconf_events_fd(const struct ft_netconf_events *e)
{
	return mnl_socket_get_fd(e->nl);
}

void ft_netconf_events_close(struct ft_netconf_events *e)
{
	if (!e)
		return;
	mnl_socket_close(e->nl);
	free(e);
}

static unsigned int family_bytes(int family)
{
	return family == AF_INET ? 4 : family == AF_INET6 ? 16 : 0;
}

struct parse {
	struct ft_netconf_event *ev;
	int dst_type; /* the attribute that holds the prefix */
	bool has_dst;
};

static int event_attr(const struct nlattr *attr, void *data)
{
	struct parse *p = data;
	unsigned int bytes = family_bytes(p->ev->prefix.family);
	int type = mnl_attr_get_type(attr);

	if (type == p->dst_type && mnl_attr_get_payload_len(attr) == bytes) {
		memcpy(p->ev->prefix.addr.bytes, mnl_attr_get_payload(attr), bytes);
		p->has_dst = true;
	} else if (type == RTA_OIF && p->dst_type == RTA_DST &&
		   mnl_attr_validate(attr, MNL_TYPE_U32) == 0) {
		p->ev->ifindex = (int)mnl_attr_get_u32(attr);
	}
	return MNL_CB_OK;
}

static bool parse_route(const struct nlmsghdr *nlh, struct ft_netconf_event *ev)
{
	struct parse p = { .ev = ev, .dst_type = RTA_DST };
	struct rtmsg rtm;

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(rtm))
		return false;
	memcpy(&rtm, mnl_nlmsg_get_payload(nlh), sizeof(rtm));
	ev->kind = nlh->nlmsg_type == RTM_NEWROUTE ? FT_NETCONF_EV_ROUTE_ADD
						   : FT_NETCONF_EV_ROUTE_DEL;
	ev->prefix.family = rtm.rtm_family;
	ev->prefix.len = rtm.rtm_dst_len;
	if (!family_bytes(rtm.rtm_family) || rtm.rtm_dst_len > family_bytes(rtm.rtm_family) * 8)
		return false;
	if (mnl_attr_parse(nlh, sizeof(rtm), event_attr, &p) < 0)
		return false;
	/* A default route has no RTA_DST: the prefix of length 0 is all zeros, as it should. */
	return p.has_dst || rtm.rtm_dst_len == 0;
}

static bool parse_addr(const struct nlmsghdr *nlh, struct ft_netconf_event *ev)
{
	/* IFA_LOCAL is our address on a point-to-point link, where IFA_ADDRESS is the peer's. */
	struct parse p = { .ev = ev, .dst_type = IFA_LOCAL };
	struct ifaddrmsg ifa;

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(ifa))
		return false;
	memcpy(&ifa, mnl_nlmsg_get_payload(nlh), sizeof(ifa));
	ev->kind = nlh->nlmsg_type == RTM_NEWADDR ? FT_NETCONF_EV_ADDR_ADD : FT_NETCONF_EV_ADDR_DEL;
	ev->prefix.family = ifa.ifa_family;
	ev->prefix.len = ifa.ifa_prefixlen;
	ev->ifindex = (int)ifa.ifa_index;
	if (!family_bytes(ifa.ifa_family) || ifa.ifa_prefixlen > family_bytes(ifa.ifa_family) * 8)
		return false;
	if (mnl_attr_parse(nlh, sizeof(ifa), event_attr, &p) < 0)
		return false;
	if (!p.has_dst) {
		/* IPv6 sends IFA_ADDRESS only. */
		p.dst_type = IFA_ADDRESS;
		if (mnl_attr_parse(nlh, sizeof(ifa), event_attr, &p) < 0)
			return false;
	}
	return p.has_dst;
}

struct read_ctx {
	ft_netconf_event_cb cb;
	void *arg;
};

static int event_cb(const struct nlmsghdr *nlh, void *data)
{
	struct read_ctx *ctx = data;
	struct ft_netconf_event ev;
	bool ok;

	memset(&ev, 0, sizeof(ev));
	switch (nlh->nlmsg_type) {
	case RTM_NEWROUTE:
	case RTM_DELROUTE:
		ok = parse_route(nlh, &ev);
		break;
	case RTM_NEWADDR:
	case RTM_DELADDR:
		ok = parse_addr(nlh, &ev);
		break;
	default:
		return MNL_CB_OK;
	}
	if (!ok) {
		/* A change we cannot read is still a change: say that something was missed. */
		memset(&ev, 0, sizeof(ev));
		ev.kind = FT_NETCONF_EV_LOST;
	}
	ctx->cb(ctx->arg, &ev);
	return MNL_CB_OK;
}

int ft_netconf_events_read(struct ft_netconf_events *e, ft_netconf_event_cb cb, void *arg)
{
	struct read_ctx ctx = { .cb = cb, .arg = arg };

	for (int i = 0; i < EVENTS_READS_PER_CALL; i++) {
		ssize_t n = mnl_socket_recvfrom(e->nl, e->buf, sizeof(e->buf));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return 0;
			if (errno == ENOBUFS) {
				/* The socket overflowed: changes were lost, the socket goes on. */
				struct ft_netconf_event ev = { .kind = FT_NETCONF_EV_LOST };

				cb(arg, &ev);
				continue;
			}
			return -errno;
		}
		/* Notifications: sequence 0, any port; an error in one message skips the rest. */
		(void)mnl_cb_run(e->buf, (size_t)n, 0, 0, event_cb, &ctx);
	}
	return 0;
}
