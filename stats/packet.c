// SPDX-License-Identifier: MIT
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "base/bytes.h"
#include "stats/ipview.h"
#include "stats/packet.h"

/* IANA protocol numbers the parser acts on. */
enum {
	IPPROTO_HOPOPTS_ = 0,
	IPPROTO_ICMP_ = 1,
	IPPROTO_TCP_ = 6,
	IPPROTO_UDP_ = 17,
	IPPROTO_ROUTING_ = 43,
	IPPROTO_FRAGMENT_ = 44,
	IPPROTO_AH_ = 51,
	IPPROTO_ICMPV6_ = 58,
	IPPROTO_DSTOPTS_ = 60,
	IPPROTO_SCTP_ = 132,
};

enum {
	TCP_HDR_LEN = 20,
	UDP_HDR_LEN = 8,
	SCTP_HDR_LEN = 12,
	ICMP_HDR_LEN = 8,   /* RFC 792: type, code, checksum and 4 bytes of rest-of-header */
	ICMPV6_HDR_LEN = 4, /* RFC 4443 section 2.1: type, code, checksum */
	V6_FRAG_HDR_LEN = 8,
};

static const char *const reason_names[FT_PACKET_REASON_COUNT] = {
	[FT_PACKET_OK] = "ok",
	[FT_PACKET_EMPTY] = "empty",
	[FT_PACKET_BAD_VERSION] = "bad-ip-version",
	[FT_PACKET_V4_SHORT] = "ipv4-header-short",
	[FT_PACKET_V4_BAD_IHL] = "ipv4-bad-header-length",
	[FT_PACKET_V4_BAD_TOTAL_LEN] = "ipv4-bad-total-length",
	[FT_PACKET_V6_SHORT] = "ipv6-header-short",
	[FT_PACKET_TRUNCATED] = "truncated",
	[FT_PACKET_EXT_TRUNCATED] = "extension-header-truncated",
	[FT_PACKET_EXT_TOO_MANY] = "too-many-extension-headers",
	[FT_PACKET_TRANSPORT_TRUNCATED] = "transport-header-truncated",
	[FT_PACKET_TCP_BAD_OFFSET] = "tcp-bad-data-offset",
};

const char *ft_packet_reason_str(enum ft_packet_reason reason)
{
	if ((unsigned)reason >= FT_PACKET_REASON_COUNT)
		return "unknown";
	return reason_names[reason];
}

/* Resets out to the invalid key, keeping the version when it is known. */
static int invalid(struct ft_packet_info *out, enum ft_packet_reason reason)
{
	uint8_t version = out->version;

	memset(out, 0, sizeof(*out));
	out->version = version;
	out->proto = FT_IPPROTO_INVALID;
	out->reason = reason;
	return -EINVAL;
}

/*
 * The transport header at pkt[off..end). first_fragment: the packet is the first of several
 * fragments, so a header cut short is expected and keeps the protocol with ports 0, where in a
 * whole packet it means the packet was truncated.
 */
static int parse_transport(const uint8_t *pkt, size_t off, size_t end, bool first_fragment,
			   struct ft_packet_info *out)
{
	size_t avail = end - off, need;

	switch (out->transport) {
	case IPPROTO_TCP_:
		need = TCP_HDR_LEN;
		break;
	case IPPROTO_UDP_:
		need = UDP_HDR_LEN;
		break;
	case IPPROTO_SCTP_:
		need = SCTP_HDR_LEN;
		break;
	case IPPROTO_ICMP_:
		need = ICMP_HDR_LEN;
		break;
	case IPPROTO_ICMPV6_:
		need = ICMPV6_HDR_LEN;
		break;
	default:
		return 0;
	}
	if (avail < need)
		return first_fragment ? 0 : invalid(out, FT_PACKET_TRANSPORT_TRUNCATED);
	if (out->transport == IPPROTO_TCP_) {
		size_t doff = (size_t)(pkt[off + 12] >> 4) * 4;

		if (doff < TCP_HDR_LEN)
			return invalid(out, FT_PACKET_TCP_BAD_OFFSET);
		/* Options are part of the header: the whole header is doff bytes. */
		if (avail < doff)
			return first_fragment ? 0 : invalid(out, FT_PACKET_TRANSPORT_TRUNCATED);
	}
	if (out->transport == IPPROTO_ICMP_ || out->transport == IPPROTO_ICMPV6_) {
		out->icmp_type = pkt[off];
		out->icmp_code = pkt[off + 1];
		out->flags |= FT_PACKET_F_ICMP;
		return 0;
	}
	out->src_port = ft_be16_load(pkt + off);
	out->dst_port = ft_be16_load(pkt + off + 2);
	out->flags |= FT_PACKET_F_PORTS;
	return 0;
}

/* The rest of an IPv4 packet whose header v validated. */
static int parse_v4(const uint8_t *pkt, const struct ft_ipview *v, struct ft_packet_info *out)
{
	size_t total = v->len, off = v->hlen;

	out->len = v->len;
	out->transport = v->proto;
	out->proto = v->proto;
	ft_addr_set_v4(&out->src, v->src);
	ft_addr_set_v4(&out->dst, v->dst);

	if (v->frag & FT_IPVIEW_OFFSET) {
		/* A later fragment: its bytes carry no transport header. */
		out->proto = FT_IPPROTO_FRAGMENT;
		out->flags |= FT_PACKET_F_FRAGMENT;
		return 0;
	}
	if (v->frag & FT_IPVIEW_MF)
		out->flags |= FT_PACKET_F_FRAGMENT;

	/* AH in IPv4 (RFC 4302): skip it, as in IPv6, to reach what it authenticates. */
	for (int n = 0; out->transport == IPPROTO_AH_; n++) {
		size_t hlen;

		if (n == FT_PACKET_MAX_EXT)
			return invalid(out, FT_PACKET_EXT_TOO_MANY);
		if (total - off < 2)
			return invalid(out, FT_PACKET_EXT_TRUNCATED);
		hlen = ((size_t)pkt[off + 1] + 2) * 4;
		if (total - off < hlen)
			return invalid(out, FT_PACKET_EXT_TRUNCATED);
		out->transport = pkt[off];
		out->proto = pkt[off];
		off += hlen;
	}
	return parse_transport(pkt, off, total, out->flags & FT_PACKET_F_FRAGMENT, out);
}

/*
 * The rest of an IPv6 packet whose header v validated. A payload length of 0 with a
 * hop-by-hop header would be a jumbogram (RFC 2675); a TUN device never carries one, so it is
 * walked as an empty payload and found truncated.
 */
static int parse_v6(const uint8_t *pkt, const struct ft_ipview *v, struct ft_packet_info *out)
{
	size_t total = v->len, off = v->hlen;
	bool first_fragment = false;

	out->len = v->len;
	out->transport = v->proto;
	ft_addr_set_v6(&out->src, v->src);
	ft_addr_set_v6(&out->dst, v->dst);

	for (int n = 0;; n++) {
		uint8_t nh = out->transport;
		size_t hlen;

		if (nh != IPPROTO_HOPOPTS_ && nh != IPPROTO_ROUTING_ && nh != IPPROTO_DSTOPTS_ &&
		    nh != IPPROTO_FRAGMENT_ && nh != IPPROTO_AH_)
			break;
		if (n == FT_PACKET_MAX_EXT)
			return invalid(out, FT_PACKET_EXT_TOO_MANY);
		if (total - off < 2)
			return invalid(out, FT_PACKET_EXT_TRUNCATED);
		if (nh == IPPROTO_FRAGMENT_)
			hlen = V6_FRAG_HDR_LEN;
		else if (nh == IPPROTO_AH_)
			hlen = ((size_t)pkt[off + 1] + 2) * 4;
		else
			hlen = ((size_t)pkt[off + 1] + 1) * 8;
		if (total - off < hlen)
			return invalid(out, FT_PACKET_EXT_TRUNCATED);
		out->transport = pkt[off];
		if (nh == IPPROTO_FRAGMENT_) {
			uint16_t frag = ft_be16_load(pkt + off + 2);

			/* Offset 0 without M is an atomic fragment (RFC 6946): a whole packet. */
			if (frag & 0xfff8) {
				out->proto = FT_IPPROTO_FRAGMENT;
				out->flags |= FT_PACKET_F_FRAGMENT;
				return 0;
			}
			if (frag & 1) {
				out->flags |= FT_PACKET_F_FRAGMENT;
				first_fragment = true;
			}
		}
		off += hlen;
	}
	out->proto = out->transport;
	return parse_transport(pkt, off, total, first_fragment, out);
}

int ft_packet_parse(const uint8_t *pkt, size_t len, struct ft_packet_info *out)
{
	struct ft_ipview v;
	enum ft_packet_reason r = ft_ipview_parse(&v, pkt, len);

	memset(out, 0, sizeof(*out));
	out->version = v.version;
	if (r != FT_PACKET_OK)
		return invalid(out, r);
	return v.version == 4 ? parse_v4(pkt, &v, out) : parse_v6(pkt, &v, out);
}

void ft_addr_set_v4(struct ft_addr *a, const uint8_t bytes[4])
{
	uint8_t padded[16] = { 0 };

	/*
	 * One 16-byte store rather than a memset and a 4-byte copy: connstats reads the address
	 * back at once as two 8-byte words, which the CPU forwards only from a store that holds
	 * each of them whole.
	 */
	memcpy(padded, bytes, 4);
	a->family = AF_INET;
	memcpy(a->bytes, padded, 16);
}

void ft_addr_set_v6(struct ft_addr *a, const uint8_t bytes[16])
{
	a->family = AF_INET6;
	memcpy(a->bytes, bytes, 16);
}

int ft_addr_parse(struct ft_addr *a, const char *s)
{
	uint8_t buf[16];

	if (inet_pton(AF_INET, s, buf) == 1) {
		ft_addr_set_v4(a, buf);
		return 0;
	}
	if (inet_pton(AF_INET6, s, buf) == 1) {
		ft_addr_set_v6(a, buf);
		return 0;
	}
	return -EINVAL;
}

bool ft_addr_equal(const struct ft_addr *a, const struct ft_addr *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

int ft_addr_format(const struct ft_addr *a, char *buf, size_t size)
{
	char tmp[FT_ADDR_STRLEN] = "";
	size_t n;

	if (a->family == AF_INET || a->family == AF_INET6)
		inet_ntop(a->family, a->bytes, tmp, sizeof(tmp));
	n = strlen(tmp);
	if (n >= size) {
		if (size > 0)
			buf[0] = '\0';
		return -ENOSPC;
	}
	memcpy(buf, tmp, n + 1);
	return (int)n;
}

int ft_addrport_format(const struct ft_addr *a, uint16_t port, char *buf, size_t size)
{
	char addr[FT_ADDR_STRLEN];
	int n;

	ft_addr_format(a, addr, sizeof(addr));
	if (a->family == AF_INET6)
		n = snprintf(buf, size, "[%s]:%u", addr, port);
	else if (a->family == AF_INET)
		n = snprintf(buf, size, "%s:%u", addr, port);
	else
		n = snprintf(buf, size, "%s", "");
	if (n < 0 || (size_t)n >= size) {
		if (size > 0)
			buf[0] = '\0';
		return -ENOSPC;
	}
	return n;
}
