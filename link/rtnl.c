// SPDX-License-Identifier: MIT
/*
 * rtnetlink for the link monitor: the RTMGRP_LINK event socket and RTM_GETLINK requests for
 * an interface's counters or link state. Every message is length-checked by libmnl before an attribute is
 * read; IFLA_STATS64 is copied out, never dereferenced in place, and may be shorter than our
 * header's struct (an older kernel), so only the bytes present are used.
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

#include <net/if.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>

#include <libmnl/libmnl.h>

#include "link/internal.h"
#include "link/link.h"

/* <linux/if.h>'s, which cannot be included with <net/if.h>: the carrier, in ifi_flags only. */
#ifndef IFF_LOWER_UP
#define IFF_LOWER_UP 0x10000
#endif

/*
 * Big enough for an RTM_NEWLINK of an ordinary device without VF information (a few KiB); a
 * bigger one is truncated and treated as a lost event.
 */
enum { RTNL_BUF = 16384, EVENTS_PER_WAKEUP = 32 };

int ft_link_rtnl_open_events(struct mnl_socket **nlp)
{
	struct mnl_socket *nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_NONBLOCK | SOCK_CLOEXEC);
	int rc;

	if (!nl)
		return -errno;
	if (mnl_socket_bind(nl, RTMGRP_LINK, MNL_SOCKET_AUTOPID) < 0) {
		rc = -errno;
		mnl_socket_close(nl);
		return rc;
	}
	*nlp = nl;
	return 0;
}

int ft_link_rtnl_open_query(struct mnl_socket **nlp)
{
	/* The kernel answers RTM_GETLINK at once; the timeout only guards against a bug. */
	struct timeval tv = { .tv_sec = 1 };
	struct mnl_socket *nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	int rc;

	if (!nl)
		return -errno;
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0 ||
	    setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0) {
		rc = -errno;
		mnl_socket_close(nl);
		return rc;
	}
	*nlp = nl;
	return 0;
}

struct link_attrs {
	const char *name;
	const struct nlattr *stats64;
	int carrier; /* IFLA_CARRIER, or -1 without one */
};

static int link_attr_cb(const struct nlattr *attr, void *data)
{
	struct link_attrs *la = data;

	switch (mnl_attr_get_type(attr)) {
	case IFLA_IFNAME:
		if (mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) == 0)
			la->name = mnl_attr_get_str(attr);
		break;
	case IFLA_STATS64:
		la->stats64 = attr;
		break;
	case IFLA_CARRIER:
		if (mnl_attr_validate(attr, MNL_TYPE_U8) == 0)
			la->carrier = mnl_attr_get_u8(attr);
		break;
	default:
		break;
	}
	return MNL_CB_OK;
}

/* Validates an RTM_*LINK message into *ifi and *la; false when it is too short to be one. */
static bool parse_link(const struct nlmsghdr *nlh, struct ifinfomsg *ifi, struct link_attrs *la)
{
	memset(la, 0, sizeof(*la));
	la->carrier = -1;
	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifi))
		return false;
	memcpy(ifi, mnl_nlmsg_get_payload(nlh), sizeof(*ifi));
	return mnl_attr_parse(nlh, sizeof(*ifi), link_attr_cb, la) >= 0;
}

struct event_ctx {
	ft_link_rtnl_match_fn match;
	void *arg;
	bool recheck;
};

static int event_cb(const struct nlmsghdr *nlh, void *data)
{
	struct event_ctx *ctx = data;
	struct ifinfomsg ifi;
	struct link_attrs la;

	if (nlh->nlmsg_type != RTM_NEWLINK && nlh->nlmsg_type != RTM_DELLINK)
		return MNL_CB_OK;
	if (!parse_link(nlh, &ifi, &la)) {
		/* Cannot tell whose it is: look at everything again rather than miss it. */
		ctx->recheck = true;
		return MNL_CB_OK;
	}
	if (ctx->match(ctx->arg, la.name, ifi.ifi_index > 0 ? (unsigned int)ifi.ifi_index : 0))
		ctx->recheck = true;
	return MNL_CB_OK;
}

int ft_link_rtnl_read_events(struct mnl_socket *nl, ft_link_rtnl_match_fn match, void *arg,
			     bool *recheck)
{
	_Static_assert(RTNL_BUF >= 8192, "room for one page-sized netlink message");
	char buf[RTNL_BUF];
	struct event_ctx ctx = { .match = match, .arg = arg };
	int rc = 0;

	for (int i = 0; i < EVENTS_PER_WAKEUP; i++) {
		ssize_t n = mnl_socket_recvfrom(nl, buf, sizeof(buf));

		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				break;
			/* Overrun (ENOBUFS) or a truncated message (ENOSPC): events were lost. */
			ctx.recheck = true;
			if (errno == ENOBUFS || errno == ENOSPC)
				continue;
			rc = -errno;
			break;
		}
		/* Multicast notifications: no sequence number or port to check. */
		(void)mnl_cb_run(buf, (size_t)n, 0, 0, event_cb, &ctx);
	}
	if (ctx.recheck)
		*recheck = true;
	return rc;
}

struct query_ctx {
	uint64_t rx_bytes;
	unsigned int ifindex;
	unsigned int flags; /* ifi_flags: IFF_UP, IFF_LOWER_UP (the carrier), ... */
	int carrier;
	bool found;
	bool has_stats;
};

static int query_cb(const struct nlmsghdr *nlh, void *data)
{
	struct query_ctx *q = data;
	struct rtnl_link_stats64 st;
	struct ifinfomsg ifi;
	struct link_attrs la;
	size_t len;

	if (nlh->nlmsg_type != RTM_NEWLINK || !parse_link(nlh, &ifi, &la))
		return MNL_CB_OK;
	q->found = true;
	q->ifindex = ifi.ifi_index > 0 ? (unsigned int)ifi.ifi_index : 0;
	q->flags = ifi.ifi_flags;
	q->carrier = la.carrier;
	if (!la.stats64)
		return MNL_CB_OK;
	len = mnl_attr_get_payload_len(la.stats64);
	if (len < offsetof(struct rtnl_link_stats64, rx_bytes) + sizeof(st.rx_bytes))
		return MNL_CB_OK;
	memset(&st, 0, sizeof(st));
	memcpy(&st, mnl_attr_get_payload(la.stats64), len < sizeof(st) ? len : sizeof(st));
	q->rx_bytes = st.rx_bytes;
	q->has_stats = true;
	return MNL_CB_OK;
}

/* One RTM_GETLINK of ifname into *q: 0, -ENODEV when there is no such link, or -errno. */
static int query_link(struct mnl_socket *nl, uint32_t *seq, const char *ifname, struct query_ctx *q)
{
	char buf[RTNL_BUF];
	struct nlmsghdr *nlh;
	struct ifinfomsg *ifi;
	uint32_t myseq;
	ssize_t n;
	int rc;

	if (!ft_link_valid_ifname(ifname))
		return -EINVAL;
	/* The request's padding goes to the kernel too: no stack bytes with it (valgrind). */
	memset(buf, 0,
	       MNL_NLMSG_HDRLEN + MNL_ALIGN(sizeof(*ifi)) + MNL_ATTR_HDRLEN + MNL_ALIGN(IFNAMSIZ));
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETLINK;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	nlh->nlmsg_seq = myseq = ++*seq;
	ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	mnl_attr_put_strz(nlh, IFLA_IFNAME, ifname);
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;

	/* One reply (the link, or an error) for our sequence number; stale ones are skipped. */
	for (;;) {
		n = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (n < 0)
			return errno == ENOSPC ? -EMSGSIZE : -errno;
		rc = mnl_cb_run(buf, (size_t)n, myseq, mnl_socket_get_portid(nl), query_cb, q);
		if (rc == MNL_CB_ERROR) {
			if (errno == ESRCH) /* a reply to an earlier request that timed out */
				continue;
			return -errno;
		}
		break;
	}
	return q->found ? 0 : -ENODEV;
}

int ft_link_rtnl_rx_bytes(struct mnl_socket *nl, uint32_t *seq, const char *ifname, uint64_t *bytes,
			  unsigned int *ifindex)
{
	struct query_ctx q = { 0 };
	int rc = query_link(nl, seq, ifname, &q);

	if (rc < 0)
		return rc;
	if (!q.has_stats)
		return -EOPNOTSUPP;
	*bytes = q.rx_bytes;
	if (ifindex)
		*ifindex = q.ifindex;
	return 0;
}

/*
 * What the ioctl chain's first answer (ethtool's link, from the driver's carrier) says, from
 * the kernel's own state: link when the interface is up and has a carrier (IFLA_CARRIER; the
 * IFF_LOWER_UP flag on a kernel without it). An interface that is missing is an error with
 * -ENODEV, as in the chain.
 */
enum ft_link_state ft_link_rtnl_status(struct mnl_socket *nl, uint32_t *seq, const char *ifname,
				       int *err, unsigned int *ifindex)
{
	struct query_ctx q = { 0 };
	bool carrier;

	*err = query_link(nl, seq, ifname, &q);
	*ifindex = q.ifindex;
	if (*err < 0)
		return FT_LINK_ERROR;
	carrier = q.carrier >= 0 ? q.carrier != 0 : (q.flags & IFF_LOWER_UP) != 0;
	return (q.flags & IFF_UP) && carrier ? FT_LINK_UP : FT_LINK_DOWN;
}

int ft_link_rx_bytes(const char *ifname, uint64_t *bytes)
{
	struct mnl_socket *nl;
	uint32_t seq = (uint32_t)time(NULL);
	int rc = ft_link_rtnl_open_query(&nl);

	if (rc < 0)
		return rc;
	rc = ft_link_rtnl_rx_bytes(nl, &seq, ifname, bytes, NULL);
	mnl_socket_close(nl);
	return rc;
}
