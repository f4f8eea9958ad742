// SPDX-License-Identifier: MIT
/*
 * rtnetlink configuration of the kernel's network: links (index, name, MTU, flags, up and
 * down), addresses and routes on the TUN device, one request at a time on one socket whose
 * answers are read at once. What the kernel says of a path (route lookups, neighbours, link
 * statistics) is in netquery.c.
 */
#include "config.h"

#include <arpa/inet.h>
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "base/text.h"
#include "tun/net/netconf.h"
#include "tun/net/netconf_internal.h"

/* How long an IPv6 address add waits for the kernel to make the address usable. */
#define FT_NETCONF_SETTLE_MS 2000

/* What one request's callbacks share: the handle for the error text, and the caller's parser. */
struct talk {
	struct ft_netconf *r;
	mnl_cb_t cb;
	void *data;
};

int ft_netconf_create(struct ft_netconf **out)
{
	struct ft_netconf *r;
	int one = 1, rc;

	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->nl = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!r->nl)
		goto err;
	if (mnl_socket_bind(r->nl, 0, MNL_SOCKET_AUTOPID) < 0)
		goto err;
	/* Extended acks carry the kernel's reason for a refusal; older kernels ignore it. */
	(void)mnl_socket_setsockopt(r->nl, NETLINK_EXT_ACK, &one, sizeof(one));
	r->portid = mnl_socket_get_portid(r->nl);
	r->seq = (uint32_t)time(NULL);
	*out = r;
	return 0;
err:
	rc = -errno;
	if (r->nl)
		mnl_socket_close(r->nl);
	free(r);
	return rc;
}

void ft_netconf_destroy(struct ft_netconf *r)
{
	if (!r)
		return;
	mnl_socket_close(r->nl);
	free(r);
}

const char *ft_netconf_last_error(const struct ft_netconf *r)
{
	return r->errmsg;
}

static int ext_ack_attr(const struct nlattr *attr, void *data)
{
	struct ft_netconf *r = data;

	if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG &&
	    mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) == 0) {
		const char *msg = mnl_attr_get_str(attr);
		size_t len = strnlen(msg, sizeof(r->errmsg) - 1);

		memcpy(r->errmsg, msg, len);
		r->errmsg[len] = '\0';
	}
	return MNL_CB_OK;
}

/* NLMSG_ERROR: the ack (error 0) ends the request; anything else fails it with errno set. */
static int cb_error(const struct nlmsghdr *nlh, void *data)
{
	struct talk *t = data;
	const struct nlmsgerr *err = mnl_nlmsg_get_payload(nlh);
	unsigned int off;

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*err))) {
		errno = EBADMSG;
		return MNL_CB_ERROR;
	}
	if (err->error == 0)
		return MNL_CB_STOP;
	if (nlh->nlmsg_flags & NLM_F_ACK_TLVS) {
		/* The TLVs follow the echoed request, or only its header when capped. */
		off = sizeof(*err);
		if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
			off += err->msg.nlmsg_len - sizeof(struct nlmsghdr);
		if (mnl_nlmsg_size(off) <= nlh->nlmsg_len)
			(void)mnl_attr_parse(nlh, off, ext_ack_attr, t->r);
	}
	errno = err->error < 0 ? -err->error : EPROTO;
	return MNL_CB_ERROR;
}

/* NLMSG_DONE ends a dump (a dump gets no ack); its payload is the dump's error, if any. */
static int cb_done(const struct nlmsghdr *nlh, void *data)
{
	int err = 0;

	(void)data;
	if (nlh->nlmsg_len >= mnl_nlmsg_size(sizeof(err)))
		memcpy(&err, mnl_nlmsg_get_payload(nlh), sizeof(err));
	if (err < 0) {
		errno = -err;
		return MNL_CB_ERROR;
	}
	return MNL_CB_STOP;
}

static int cb_data(const struct nlmsghdr *nlh, void *data)
{
	struct talk *t = data;

	return t->cb ? t->cb(nlh, t->data) : MNL_CB_OK;
}

/*
 * Sends one request with NLM_F_ACK and reads until the kernel's ack or error (or, for a dump,
 * its NLMSG_DONE), passing each data message of the answer to cb. 0 or a negative errno.
 */
int ft_netconf_talk(struct ft_netconf *r, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
{
	static mnl_cb_t ctl[NLMSG_MIN_TYPE] = { [NLMSG_ERROR] = cb_error, [NLMSG_DONE] = cb_done };
	struct talk t = { .r = r, .cb = cb, .data = data };
	uint32_t seq = ++r->seq;

	nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = seq;
	r->errmsg[0] = '\0';
	if (mnl_socket_sendto(r->nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		ssize_t n = mnl_socket_recvfrom(r->nl, r->rbuf, sizeof(r->rbuf));
		int rc;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		errno = 0;
		rc = mnl_cb_run2(r->rbuf, (size_t)n, seq, r->portid, cb_data, &t, ctl,
				 NLMSG_MIN_TYPE);
		if (rc == MNL_CB_STOP)
			return 0;
		if (rc < 0)
			return errno ? -errno : -EPROTO;
	}
}

static bool prefix_valid(const struct ft_netconf_prefix *p)
{
	unsigned int bytes = ft_netconf_family_bytes(p->family);

	return bytes && p->len <= bytes * 8;
}

int ft_netconf_prefix_parse(struct ft_netconf_prefix *p, const char *s)
{
	char host[INET6_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	size_t hlen = slash ? (size_t)(slash - s) : strlen(s);
	unsigned long len;

	memset(p, 0, sizeof(*p));
	if (hlen == 0 || hlen >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (inet_pton(AF_INET, host, &p->addr.v4) == 1)
		p->family = AF_INET;
	else if (inet_pton(AF_INET6, host, &p->addr.v6) == 1)
		p->family = AF_INET6;
	else
		return -EINVAL;

	len = ft_netconf_family_bytes(p->family) * 8;
	if (slash) {
		const char *d = slash + 1;
		uint64_t bits;

		/* Digits only, and three at most: no "+8", " 8", "-0" or "0032". */
		if (strlen(d) > 3 ||
		    ft_parse_uint(d, ft_netconf_family_bytes(p->family) * 8, &bits) < 0)
			goto bad;
		len = (unsigned long)bits;
	}
	p->len = (uint8_t)len;
	return 0;
bad:
	memset(p, 0, sizeof(*p));
	return -EINVAL;
}

void ft_netconf_prefix_mask(struct ft_netconf_prefix *p)
{
	unsigned int bytes = ft_netconf_family_bytes(p->family);

	for (unsigned int i = 0; i < bytes; i++) {
		unsigned int bit = i * 8;

		if (bit >= p->len)
			p->addr.bytes[i] = 0;
		else if (p->len - bit < 8)
			p->addr.bytes[i] &= (uint8_t)(0xff << (8 - (p->len - bit)));
	}
}

bool ft_netconf_prefix_covers(const struct ft_netconf_prefix *outer,
			      const struct ft_netconf_prefix *inner)
{
	struct ft_netconf_prefix a = *outer, b = *inner;

	if (!prefix_valid(outer) || !prefix_valid(inner) || outer->family != inner->family ||
	    outer->len > inner->len)
		return false;
	/* inner cut down to outer's length must be outer's network. */
	b.len = a.len;
	ft_netconf_prefix_mask(&a);
	ft_netconf_prefix_mask(&b);
	return memcmp(a.addr.bytes, b.addr.bytes, ft_netconf_family_bytes(a.family)) == 0;
}

/* --- links --- */

struct link_reply {
	int ifindex;
	char name[IFNAMSIZ];
	unsigned int mtu;
	unsigned int flags; /* ifi_flags */
};

static int link_attr(const struct nlattr *attr, void *data)
{
	struct link_reply *lr = data;

	if (mnl_attr_get_type(attr) == IFLA_MTU && mnl_attr_validate(attr, MNL_TYPE_U32) == 0)
		lr->mtu = mnl_attr_get_u32(attr);

	if (mnl_attr_get_type(attr) == IFLA_IFNAME &&
	    mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) == 0) {
		const char *name = mnl_attr_get_str(attr);
		size_t len = strnlen(name, IFNAMSIZ - 1);

		memcpy(lr->name, name, len);
		lr->name[len] = '\0';
	}
	return MNL_CB_OK;
}

static int cb_link(const struct nlmsghdr *nlh, void *data)
{
	struct link_reply *lr = data;
	const struct ifinfomsg *ifi;

	if (nlh->nlmsg_type != RTM_NEWLINK || nlh->nlmsg_len < mnl_nlmsg_size(sizeof(*ifi)))
		return MNL_CB_OK;
	ifi = mnl_nlmsg_get_payload(nlh);
	lr->ifindex = ifi->ifi_index;
	lr->flags = ifi->ifi_flags;
	return mnl_attr_parse(nlh, sizeof(*ifi), link_attr, lr);
}

static struct ifinfomsg *link_request(uint8_t *buf, uint16_t type, uint16_t flags, int ifindex,
				      struct nlmsghdr **nlh)
{
	struct ifinfomsg *ifi;

	*nlh = mnl_nlmsg_put_header(buf);
	(*nlh)->nlmsg_type = type;
	(*nlh)->nlmsg_flags = flags;
	ifi = mnl_nlmsg_put_extra_header(*nlh, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	return ifi;
}

int ft_netconf_ifindex(struct ft_netconf *r, const char *name)
{
	uint8_t buf[RTNL_REQ_SIZE];
	struct link_reply lr = { 0 };
	struct nlmsghdr *nlh;
	int rc;

	if (name[0] == '\0' || strlen(name) >= IFNAMSIZ)
		return -EINVAL;
	memset(buf, 0, sizeof(buf));
	link_request(buf, RTM_GETLINK, 0, 0, &nlh);
	mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
	rc = ft_netconf_talk(r, nlh, cb_link, &lr);
	if (rc < 0)
		return rc;
	return lr.ifindex > 0 ? lr.ifindex : -ENODEV;
}

int ft_netconf_ifname(struct ft_netconf *r, int ifindex, char name[IFNAMSIZ])
{
	uint8_t buf[RTNL_REQ_SIZE];
	struct link_reply lr = { 0 };
	struct nlmsghdr *nlh;
	int rc;

	if (ifindex <= 0)
		return -ENODEV;
	memset(buf, 0, sizeof(buf));
	link_request(buf, RTM_GETLINK, 0, ifindex, &nlh);
	rc = ft_netconf_talk(r, nlh, cb_link, &lr);
	if (rc < 0)
		return rc;
	if (lr.ifindex != ifindex || lr.name[0] == '\0')
		return -ENODEV;
	memcpy(name, lr.name, IFNAMSIZ);
	return 0;
}

int ft_netconf_link_get_mtu(struct ft_netconf *r, int ifindex, unsigned int *mtu)
{
	uint8_t buf[RTNL_REQ_SIZE];
	struct link_reply lr = { 0 };
	struct nlmsghdr *nlh;
	int rc;

	if (ifindex <= 0)
		return -ENODEV;
	memset(buf, 0, sizeof(buf));
	link_request(buf, RTM_GETLINK, 0, ifindex, &nlh);
	rc = ft_netconf_talk(r, nlh, cb_link, &lr);
	if (rc < 0)
		return rc;
	if (lr.ifindex != ifindex || lr.mtu == 0)
		return -ENODEV;
	*mtu = lr.mtu;
	return 0;
}

int ft_netconf_link_set_mtu(struct ft_netconf *r, int ifindex, unsigned int mtu)
{
	uint8_t buf[RTNL_REQ_SIZE];
	struct nlmsghdr *nlh;

	if (ifindex <= 0)
		return -ENODEV;
	memset(buf, 0, sizeof(buf));
	link_request(buf, RTM_NEWLINK, 0, ifindex, &nlh);
	mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
	return ft_netconf_talk(r, nlh, NULL, NULL);
}

int ft_netconf_link_set_up(struct ft_netconf *r, int ifindex, bool up)
{
	uint8_t buf[RTNL_REQ_SIZE];
	struct ifinfomsg *ifi;
	struct nlmsghdr *nlh;

	if (ifindex <= 0)
		return -ENODEV;
	memset(buf, 0, sizeof(buf));
	ifi = link_request(buf, RTM_NEWLINK, 0, ifindex, &nlh);
	ifi->ifi_change = IFF_UP;
	ifi->ifi_flags = up ? IFF_UP : 0;
	return ft_netconf_talk(r, nlh, NULL, NULL);
}

int ft_netconf_link_delete(struct ft_netconf *r, int ifindex)
{
	uint8_t buf[RTNL_REQ_SIZE];
	struct nlmsghdr *nlh;

	if (ifindex <= 0)
		return -ENODEV;
	memset(buf, 0, sizeof(buf));
	link_request(buf, RTM_DELLINK, 0, ifindex, &nlh);
	return ft_netconf_talk(r, nlh, NULL, NULL);
}

/* --- addresses --- */

static int addr_request(struct ft_netconf *r, uint16_t type, uint16_t flags, int ifindex,
			const struct ft_netconf_prefix *p)
{
	uint8_t buf[RTNL_REQ_SIZE];
	struct nlmsghdr *nlh;
	struct ifaddrmsg *ifa;
	unsigned int bytes;

	if (!prefix_valid(p))
		return -EINVAL;
	if (ifindex <= 0)
		return -ENODEV;
	bytes = ft_netconf_family_bytes(p->family);
	memset(buf, 0, sizeof(buf));
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = flags;
	ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = (uint8_t)p->family;
	ifa->ifa_prefixlen = p->len;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = (uint32_t)ifindex;
	/*
	 * On a point-to-point link IFA_ADDRESS is the peer's address; giving it the local one
	 * makes the kernel route the whole prefix through the link, as `ip addr add` does.
	 */
	mnl_attr_put(nlh, IFA_LOCAL, bytes, p->addr.bytes);
	mnl_attr_put(nlh, IFA_ADDRESS, bytes, p->addr.bytes);
	/*
	 * A tunnel has no neighbours to detect duplicates with; without NODAD the address is
	 * tentative for a moment after the add and drops what arrives for it meanwhile.
	 */
	if (p->family == AF_INET6 && type == RTM_NEWADDR) {
		ifa->ifa_flags = IFA_F_NODAD;
		mnl_attr_put_u32(nlh, IFA_FLAGS, IFA_F_NODAD);
	}
	return ft_netconf_talk(r, nlh, NULL, NULL);
}

int ft_netconf_addr_add(struct ft_netconf *r, int ifindex, const struct ft_netconf_prefix *p)
{
	const struct timespec pause = { .tv_nsec = 1000 * 1000 };
	int rc, oif, type;

	rc = addr_request(r, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, ifindex, p);
	if (rc < 0 || p->family != AF_INET6)
		return rc;
	/*
	 * IPv6 acks the add before a kernel worker installs the address's local route (even
	 * with NODAD), and until then packets to the address are dropped as InAddrErrors. Wait
	 * for the route, so that the address works when this returns.
	 */
	for (int i = 0; i < FT_NETCONF_SETTLE_MS; i++) {
		rc = ft_netconf_route_lookup(r, AF_INET6, p->addr.bytes, &oif, &type);
		if (rc == 0 && type == RTN_LOCAL)
			return 0;
		nanosleep(&pause, NULL);
	}
	return -ETIMEDOUT;
}

int ft_netconf_addr_del(struct ft_netconf *r, int ifindex, const struct ft_netconf_prefix *p)
{
	return addr_request(r, RTM_DELADDR, 0, ifindex, p);
}

/* --- routes --- */

static int route_request(struct ft_netconf *r, uint16_t type, uint16_t flags, int ifindex,
			 const struct ft_netconf_prefix *p)
{
	uint8_t buf[RTNL_REQ_SIZE];
	struct ft_netconf_prefix net;
	struct nlmsghdr *nlh;
	struct rtmsg *rtm;

	if (!prefix_valid(p))
		return -EINVAL;
	if (ifindex <= 0)
		return -ENODEV;
	/* The kernel refuses an IPv4 destination with host bits set; a route is of a network. */
	net = *p;
	ft_netconf_prefix_mask(&net);
	memset(buf, 0, sizeof(buf));
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = flags;
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = (uint8_t)net.family;
	rtm->rtm_dst_len = net.len;
	rtm->rtm_table = RT_TABLE_MAIN;
	rtm->rtm_protocol = RTPROT_BOOT;
	rtm->rtm_scope = RT_SCOPE_LINK;
	rtm->rtm_type = RTN_UNICAST;
	mnl_attr_put(nlh, RTA_DST, ft_netconf_family_bytes(net.family), net.addr.bytes);
	mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t)ifindex);
	return ft_netconf_talk(r, nlh, NULL, NULL);
}

int ft_netconf_route_add(struct ft_netconf *r, int ifindex, const struct ft_netconf_prefix *p)
{
	return route_request(r, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, ifindex, p);
}

int ft_netconf_route_del(struct ft_netconf *r, int ifindex, const struct ft_netconf_prefix *p)
{
	/*
	 * The kernel deletes only a route that matches the request's table, protocol, scope,
	 * type and link, so a route of the same prefix that someone else added stays.
	 */
	return route_request(r, RTM_DELROUTE, 0, ifindex, p);
}

int ft_netconf_routes_add(struct ft_netconf *r, int ifindex, const struct ft_netconf_prefix *own,
			  unsigned int n_own, const struct ft_netconf_prefix *p, unsigned int n,
			  bool *added)
{
	unsigned int i, j;
	int rc = 0;

	assert(added);
	memset(added, 0, n * sizeof(*added));
	for (i = 0; i < n; i++) {
		bool covered = false;

		for (j = 0; j < n_own && !covered; j++)
			covered = ft_netconf_prefix_covers(&own[j], &p[i]);
		if (covered)
			continue;
		rc = ft_netconf_route_add(r, ifindex, &p[i]);
		if (rc == -EEXIST) {
			rc = 0;
			continue;
		}
		if (rc < 0)
			goto undo;
		added[i] = true;
	}
	return 0;
undo:
	while (i-- > 0) {
		if (added[i])
			(void)ft_netconf_route_del(r, ifindex, &p[i]);
		added[i] = false;
	}
	return rc;
}

int ft_netconf_link_flags(struct ft_netconf *r, int ifindex, unsigned int *flags)
{
	uint8_t buf[RTNL_REQ_SIZE];
	struct link_reply lr = { 0 };
	struct nlmsghdr *nlh;
	int rc;

	if (ifindex <= 0)
		return -ENODEV;
	memset(buf, 0, sizeof(buf));
	link_request(buf, RTM_GETLINK, 0, ifindex, &nlh);
	rc = ft_netconf_talk(r, nlh, cb_link, &lr);
	if (rc < 0)
		return rc;
	if (lr.ifindex != ifindex)
		return -ENODEV;
	*flags = lr.flags;
	return 0;
}
