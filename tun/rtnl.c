// SPDX-License-Identifier: MIT
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

#include "tun/rtnl.h"

/* Requests are a header and a few small attributes; replies here are one message each. */
#define RTNL_REQ_SIZE 512
#define RTNL_RECV_SIZE 16384
/* How long an IPv6 address add waits for the kernel to make the address usable. */
#define FT_RTNL_SETTLE_MS 2000

struct ft_rtnl {
	struct mnl_socket *nl;
	uint32_t portid;
	uint32_t seq;
	char errmsg[128];
	uint8_t rbuf[RTNL_RECV_SIZE];
};

/* What one request's callbacks share: the handle for the error text, and the caller's parser. */
struct talk {
	struct ft_rtnl *r;
	mnl_cb_t cb;
	void *data;
};

int ft_rtnl_create(struct ft_rtnl **out)
{
	struct ft_rtnl *r;
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

void ft_rtnl_destroy(struct ft_rtnl *r)
{
	if (!r)
		return;
	mnl_socket_close(r->nl);
	free(r);
}

const char *ft_rtnl_last_error(const struct ft_rtnl *r)
{
	return r->errmsg;
}

static int ext_ack_attr(const struct nlattr *attr, void *data)
{
	struct ft_rtnl *r = data;

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
static int talk(struct ft_rtnl *r, struct nlmsghdr *nlh, mnl_cb_t cb, void *data)
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

static unsigned int family_bytes(int family)
{
	return family == AF_INET ? 4 : family == AF_INET6 ? 16 : 0;
}

static bool prefix_valid(const struct ft_rtnl_prefix *p)
{
	unsigned int bytes = family_bytes(p->family);

	return bytes && p->len <= bytes * 8;
}

int ft_rtnl_prefix_parse(struct ft_rtnl_prefix *p, const char *s)
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

	len = family_bytes(p->family) * 8;
	if (slash) {
		const char *d = slash + 1;
		char *end;

		/* Digits only: strtoul would take "+8", " 8" and "-0". */
		if (*d < '0' || *d > '9' || strlen(d) > 3)
			goto bad;
		len = strtoul(d, &end, 10);
		if (*end != '\0' || len > family_bytes(p->family) * 8)
			goto bad;
	}
	p->len = (uint8_t)len;
	return 0;
bad:
	memset(p, 0, sizeof(*p));
	return -EINVAL;
}

void ft_rtnl_prefix_mask(struct ft_rtnl_prefix *p)
{
	unsigned int bytes = family_bytes(p->family);

	for (unsigned int i = 0; i < bytes; i++) {
		unsigned int bit = i * 8;

		if (bit >= p->len)
			p->addr.bytes[i] = 0;
		else if (p->len - bit < 8)
			p->addr.bytes[i] &= (uint8_t)(0xff << (8 - (p->len - bit)));
	}
}

bool ft_rtnl_prefix_covers(const struct ft_rtnl_prefix *outer, const struct ft_rtnl_prefix *inner)
{
	struct ft_rtnl_prefix a = *outer, b = *inner;

	if (!prefix_valid(outer) || !prefix_valid(inner) || outer->family != inner->family ||
	    outer->len > inner->len)
		return false;
	/* inner cut down to outer's length must be outer's network. */
	b.len = a.len;
	ft_rtnl_prefix_mask(&a);
	ft_rtnl_prefix_mask(&b);
	return memcmp(a.addr.bytes, b.addr.bytes, family_bytes(a.family)) == 0;
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

int ft_rtnl_ifindex(struct ft_rtnl *r, const char *name)
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
	rc = talk(r, nlh, cb_link, &lr);
	if (rc < 0)
		return rc;
	return lr.ifindex > 0 ? lr.ifindex : -ENODEV;
}

int ft_rtnl_ifname(struct ft_rtnl *r, int ifindex, char name[IFNAMSIZ])
{
	uint8_t buf[RTNL_REQ_SIZE];
	struct link_reply lr = { 0 };
	struct nlmsghdr *nlh;
	int rc;

	if (ifindex <= 0)
		return -ENODEV;
	memset(buf, 0, sizeof(buf));
	link_request(buf, RTM_GETLINK, 0, ifindex, &nlh);
	rc = talk(r, nlh, cb_link, &lr);
	if (rc < 0)
		return rc;
	if (lr.ifindex != ifindex || lr.name[0] == '\0')
		return -ENODEV;
	memcpy(name, lr.name, IFNAMSIZ);
	return 0;
}

int ft_rtnl_link_get_mtu(struct ft_rtnl *r, int ifindex, unsigned int *mtu)
{
	uint8_t buf[RTNL_REQ_SIZE];
	struct link_reply lr = { 0 };
	struct nlmsghdr *nlh;
	int rc;

	if (ifindex <= 0)
		return -ENODEV;
	memset(buf, 0, sizeof(buf));
	link_request(buf, RTM_GETLINK, 0, ifindex, &nlh);
	rc = talk(r, nlh, cb_link, &lr);
	if (rc < 0)
		return rc;
	if (lr.ifindex != ifindex || lr.mtu == 0)
		return -ENODEV;
	*mtu = lr.mtu;
	return 0;
}

int ft_rtnl_link_set_mtu(struct ft_rtnl *r, int ifindex, unsigned int mtu)
{
	uint8_t buf[RTNL_REQ_SIZE];
	struct nlmsghdr *nlh;

	if (ifindex <= 0)
		return -ENODEV;
	memset(buf, 0, sizeof(buf));
	link_request(buf, RTM_NEWLINK, 0, ifindex, &nlh);
	mnl_attr_put_u32(nlh, IFLA_MTU, mtu);
	return talk(r, nlh, NULL, NULL);
}

int ft_rtnl_link_set_up(struct ft_rtnl *r, int ifindex, bool up)
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
	return talk(r, nlh, NULL, NULL);
}

int ft_rtnl_link_delete(struct ft_rtnl *r, int ifindex)
{
	uint8_t buf[RTNL_REQ_SIZE];
	struct nlmsghdr *nlh;

	if (ifindex <= 0)
		return -ENODEV;
	memset(buf, 0, sizeof(buf));
	link_request(buf, RTM_DELLINK, 0, ifindex, &nlh);
	return talk(r, nlh, NULL, NULL);
}

/* --- addresses --- */

static int addr_request(struct ft_rtnl *r, uint16_t type, uint16_t flags, int ifindex,
			const struct ft_rtnl_prefix *p)
{
	uint8_t buf[RTNL_REQ_SIZE];
	struct nlmsghdr *nlh;
	struct ifaddrmsg *ifa;
	unsigned int bytes;

	if (!prefix_valid(p))
		return -EINVAL;
	if (ifindex <= 0)
		return -ENODEV;
	bytes = family_bytes(p->family);
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
	return talk(r, nlh, NULL, NULL);
}

static int route_lookup(struct ft_rtnl *r, int family, const uint8_t *addr, int *oif, int *type);

int ft_rtnl_addr_add(struct ft_rtnl *r, int ifindex, const struct ft_rtnl_prefix *p)
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
	for (int i = 0; i < FT_RTNL_SETTLE_MS; i++) {
		rc = route_lookup(r, AF_INET6, p->addr.bytes, &oif, &type);
		if (rc == 0 && type == RTN_LOCAL)
			return 0;
		nanosleep(&pause, NULL);
	}
	return -ETIMEDOUT;
}

int ft_rtnl_addr_del(struct ft_rtnl *r, int ifindex, const struct ft_rtnl_prefix *p)
{
	return addr_request(r, RTM_DELADDR, 0, ifindex, p);
}

/* --- routes --- */

static int route_request(struct ft_rtnl *r, uint16_t type, uint16_t flags, int ifindex,
			 const struct ft_rtnl_prefix *p)
{
	uint8_t buf[RTNL_REQ_SIZE];
	struct ft_rtnl_prefix net;
	struct nlmsghdr *nlh;
	struct rtmsg *rtm;

	if (!prefix_valid(p))
		return -EINVAL;
	if (ifindex <= 0)
		return -ENODEV;
	/* The kernel refuses an IPv4 destination with host bits set; a route is of a network. */
	net = *p;
	ft_rtnl_prefix_mask(&net);
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
	mnl_attr_put(nlh, RTA_DST, family_bytes(net.family), net.addr.bytes);
	mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t)ifindex);
	return talk(r, nlh, NULL, NULL);
}

int ft_rtnl_route_add(struct ft_rtnl *r, int ifindex, const struct ft_rtnl_prefix *p)
{
	return route_request(r, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, ifindex, p);
}

int ft_rtnl_route_del(struct ft_rtnl *r, int ifindex, const struct ft_rtnl_prefix *p)
{
	/*
	 * The kernel deletes only a route that matches the request's table, protocol, scope,
	 * type and link, so a route of the same prefix that someone else added stays.
	 */
	return route_request(r, RTM_DELROUTE, 0, ifindex, p);
}

int ft_rtnl_routes_add(struct ft_rtnl *r, int ifindex, const struct ft_rtnl_prefix *own,
		       unsigned int n_own, const struct ft_rtnl_prefix *p, unsigned int n,
		       bool *added)
{
	unsigned int i, j;
	int rc = 0;

	assert(added);
	memset(added, 0, n * sizeof(*added));
	for (i = 0; i < n; i++) {
		bool covered = false;

		for (j = 0; j < n_own && !covered; j++)
			covered = ft_rtnl_prefix_covers(&own[j], &p[i]);
		if (covered)
			continue;
		rc = ft_rtnl_route_add(r, ifindex, &p[i]);
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
			(void)ft_rtnl_route_del(r, ifindex, &p[i]);
		added[i] = false;
	}
	return rc;
}

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
	bytes = family_bytes(family);
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
		if (family_bytes(rr->family) &&
		    mnl_attr_get_payload_len(attr) == family_bytes(rr->family)) {
			memcpy(rr->src, mnl_attr_get_payload(attr), family_bytes(rr->family));
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
static int route_lookup_reply(struct ft_rtnl *r, int family, const uint8_t *addr, uint32_t mark,
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
	rtm->rtm_dst_len = (uint8_t)(family_bytes(family) * 8);
	mnl_attr_put(nlh, RTA_DST, family_bytes(family), addr);
	/* The socket's fwmark picks the policy routes its packets take (wg-quick's table). */
	if (mark)
		mnl_attr_put_u32(nlh, RTA_MARK, mark);
	memset(rr, 0, sizeof(*rr));
	rc = talk(r, nlh, cb_route, rr);
	if (rc < 0)
		return rc;
	return rr->oif > 0 ? 0 : -ENETUNREACH;
}

static int route_lookup_mtu(struct ft_rtnl *r, int family, const uint8_t *addr, uint32_t mark,
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

static int route_lookup(struct ft_rtnl *r, int family, const uint8_t *addr, int *oif, int *type)
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

int ft_rtnl_route_get_path(struct ft_rtnl *r, const struct sockaddr *dst, struct ft_rtnl_path *path)
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
	memcpy(path->nexthop, path->has_gateway ? rr.gw : addr, family_bytes(path->family));
	return 0;
}

int ft_rtnl_route_get(struct ft_rtnl *r, const struct sockaddr *dst, int *ifindex)
{
	unsigned int mtu;

	return ft_rtnl_route_get_mtu(r, dst, 0, ifindex, &mtu);
}

int ft_rtnl_route_get_mtu(struct ft_rtnl *r, const struct sockaddr *dst, uint32_t mark,
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

int ft_rtnl_default_route(struct ft_rtnl *r, int family, int *ifindex, unsigned int *mtu)
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
	rc = talk(r, nlh, cb_default_route, &d);
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

static int neigh_request(struct ft_rtnl *r, uint16_t type, int ifindex, int family,
			 const uint8_t *addr, uint16_t *state)
{
	uint8_t buf[RTNL_REQ_SIZE];
	unsigned int bytes = family_bytes(family);
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
	return talk(r, nlh, state ? cb_neigh : NULL, state);
}

int ft_rtnl_neigh_get(struct ft_rtnl *r, int ifindex, int family, const uint8_t *addr,
		      uint16_t *state)
{
	*state = NUD_NONE;
	return neigh_request(r, RTM_GETNEIGH, ifindex, family, addr, state);
}

int ft_rtnl_neigh_del(struct ft_rtnl *r, int ifindex, int family, const uint8_t *addr)
{
	return neigh_request(r, RTM_DELNEIGH, ifindex, family, addr, NULL);
}

int ft_rtnl_link_flags(struct ft_rtnl *r, int ifindex, unsigned int *flags)
{
	uint8_t buf[RTNL_REQ_SIZE];
	struct link_reply lr = { 0 };
	struct nlmsghdr *nlh;
	int rc;

	if (ifindex <= 0)
		return -ENODEV;
	memset(buf, 0, sizeof(buf));
	link_request(buf, RTM_GETLINK, 0, ifindex, &nlh);
	rc = talk(r, nlh, cb_link, &lr);
	if (rc < 0)
		return rc;
	if (lr.ifindex != ifindex)
		return -ENODEV;
	*flags = lr.flags;
	return 0;
}

/* --- link statistics --- */

/*
 * RTM_GETSTATS with only IFLA_STATS_LINK_64 asked for: the kernel builds a reply of the counters
 * alone, several times cheaper than the whole RTM_NEWLINK that `ip -s link` reads.
 */
struct stats_reply {
	int ifindex;
	bool found;
	struct ft_rtnl_link_stats *out;
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

int ft_rtnl_link_stats(struct ft_rtnl *r, int ifindex, struct ft_rtnl_link_stats *out)
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
	rc = talk(r, nlh, cb_stats, &sr);
	if (rc < 0)
		return rc;
	return sr.found ? 0 : -ENODATA;
}
