// SPDX-License-Identifier: MIT
/*
 * Route and link events for the TUN MTU (tun/worker/mtu.c): a NETLINK_ROUTE socket of its own,
 * subscribed to the link and route groups. Apart from tun/net/netconf.c, whose requests read their
 * answers synchronously on one socket: notifications there would mix with the answers.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>

#include <libmnl/libmnl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "tun/net/netconf.h"

/* A burst of notifications (a link with many routes going down) is read in one go. */
#define RTNL_WATCH_RECV_SIZE 16384

/* Reads per ft_netconf_watch_read(): a flood of events cannot keep the loop here. */
#define RTNL_WATCH_READS 64

struct ft_netconf_watch {
	struct mnl_socket *nl;
	int own; /* the caller's own link: its routes are no news, its changes are told apart */
	uint8_t rbuf[RTNL_WATCH_RECV_SIZE];
};

int ft_netconf_watch_open(struct ft_netconf_watch **out, int own_ifindex)
{
	struct ft_netconf_watch *w;
	int rc;

	*out = NULL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->own = own_ifindex;
	w->nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC | SOCK_NONBLOCK);
	if (!w->nl)
		goto err;
	if (mnl_socket_bind(w->nl, RTMGRP_LINK | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE,
			    MNL_SOCKET_AUTOPID) < 0)
		goto err;
	*out = w;
	return 0;
err:
	rc = -errno;
	if (w->nl)
		mnl_socket_close(w->nl);
	free(w);
	return rc;
}

void ft_netconf_watch_close(struct ft_netconf_watch *w)
{
	if (!w)
		return;
	mnl_socket_close(w->nl);
	free(w);
}

int ft_netconf_watch_fd(const struct ft_netconf_watch *w)
{
	return mnl_socket_get_fd(w->nl);
}

struct watch_read {
	const struct ft_netconf_watch *w;
	unsigned int what;
	int oif;
};

static int route_oif(const struct nlattr *attr, void *data)
{
	struct watch_read *r = data;

	if (mnl_attr_get_type(attr) == RTA_OIF && mnl_attr_validate(attr, MNL_TYPE_U32) == 0)
		r->oif = (int)mnl_attr_get_u32(attr);
	return MNL_CB_OK;
}

static int cb_watch(const struct nlmsghdr *nlh, void *data)
{
	struct watch_read *r = data;

	switch (nlh->nlmsg_type) {
	case RTM_NEWLINK:
	case RTM_DELLINK: {
		const struct ifinfomsg *ifi;

		if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*ifi)))
			break;
		ifi = mnl_nlmsg_get_payload(nlh);
		r->what |= ifi->ifi_index == r->w->own ? FT_NETCONF_WATCH_OWN
						       : FT_NETCONF_WATCH_LINK;
		break;
	}
	case RTM_NEWROUTE:
	case RTM_DELROUTE:
		/* The routes of the tunnel's own link (its AllowedIPs) say nothing of the underlay;
		 * a route without one link (multipath) may. */
		r->oif = 0;
		if (nlh->nlmsg_len >= mnl_nlmsg_size(sizeof(struct rtmsg)))
			(void)mnl_attr_parse(nlh, sizeof(struct rtmsg), route_oif, r);
		if (r->oif == 0 || r->oif != r->w->own)
			r->what |= FT_NETCONF_WATCH_ROUTE;
		break;
	}
	return MNL_CB_OK;
}

int ft_netconf_watch_read(struct ft_netconf_watch *w, unsigned int *what)
{
	struct watch_read r = { .w = w };

	*what = 0;
	for (int i = 0; i < RTNL_WATCH_READS; i++) {
		ssize_t n = mnl_socket_recvfrom(w->nl, w->rbuf, sizeof(w->rbuf));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			/* The socket overflowed: events were lost, so anything may have changed. */
			if (errno == ENOBUFS) {
				r.what |= FT_NETCONF_WATCH_LOST;
				continue;
			}
			return -errno;
		}
		/* Notifications carry sequence 0 and the kernel's port id 0: no filter on either. */
		(void)mnl_cb_run(w->rbuf, (size_t)n, 0, 0, cb_watch, &r);
	}
	*what = r.what;
	return 0;
}
