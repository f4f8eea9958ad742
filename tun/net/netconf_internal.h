/* SPDX-License-Identifier: MIT */
#ifndef FT_NETCONF_INTERNAL_H
#define FT_NETCONF_INTERNAL_H

/* The configuration socket's state, shared by netconf.c and netquery.c and nobody else. */
#include <stdint.h>

#include <libmnl/libmnl.h>
#include <sys/socket.h>

/* Requests are a header and a few small attributes; replies here are one message each. */
#define RTNL_REQ_SIZE 512
#define RTNL_RECV_SIZE 16384

struct ft_netconf {
	struct mnl_socket *nl;
	uint32_t portid;
	uint32_t seq;
	char errmsg[128];
	uint8_t rbuf[RTNL_RECV_SIZE];
};

/*
 * Sends one request with NLM_F_ACK and reads until the kernel's ack or error (or, for a dump,
 * its NLMSG_DONE), passing each data message of the answer to cb. 0 or a negative errno.
 */
int ft_netconf_talk(struct ft_netconf *r, struct nlmsghdr *nlh, mnl_cb_t cb, void *data);

static inline unsigned int ft_netconf_family_bytes(int family)
{
	return family == AF_INET ? 4 : family == AF_INET6 ? 16 : 0;
}

/* RTM_GETROUTE for one address: the link it leaves through and the route's type. */
int ft_netconf_route_lookup(struct ft_netconf *r, int family, const uint8_t *addr, int *oif,
			    int *type);

#endif
