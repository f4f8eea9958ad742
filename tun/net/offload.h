/* SPDX-License-Identifier: MIT */
#ifndef FT_OFFLOAD_H
#define FT_OFFLOAD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/*
 * TUN offloads: the packet work behind IFF_VNET_HDR + TUNSETOFFLOAD. With TSO (and USO) on,
 * a read from the TUN returns a virtio_net_hdr and a TCP (UDP) super-packet of up to 64 KiB
 * that ft_offload_segment() splits into MTU-sized packets; before a write, the decrypted
 * packets of one receive batch go through ft_offload_coalesce() (or _ex()), which merges
 * consecutive TCP segments (and UDP datagrams) of a flow into super-packets (GRO), so the
 * kernel sees a few large packets.
 *
 * Pure functions over caller buffers: no allocation, no system calls, any thread.
 */

/* sizeof(struct virtio_net_hdr) without the mergeable-buffers field: what IFF_VNET_HDR uses. */
#define FT_OFFLOAD_VNET_HDR_LEN 10
/* The largest packet either side handles: the IPv4 total length (and IPv6 payload) limit. */
#define FT_OFFLOAD_MAX_LEN 65535
/* ft_offload_coalesce() takes at most this many packets per call. */
#define FT_OFFLOAD_GRO_MAX_BATCH 128
/* Datagrams in one UDP super-packet: Linux's UDP_GRO_CNT_MAX. */
#define FT_OFFLOAD_UDP_GRO_MAX_SEGS 64

/* virtio_net_hdr.flags (linux/virtio_net.h). */
enum ft_vnet_flags {
	FT_VNET_F_NEEDS_CSUM = 1, /* checksum from csum_start, stored at csum_start+csum_offset */
	FT_VNET_F_DATA_VALID = 2, /* the checksum was verified already */
};

/* virtio_net_hdr.gso_type. */
enum ft_vnet_gso {
	FT_VNET_GSO_NONE = 0,
	FT_VNET_GSO_TCPV4 = 1,
	FT_VNET_GSO_UDP = 3, /* UFO (IP fragmentation): obsolete, refused */
	FT_VNET_GSO_TCPV6 = 4,
	FT_VNET_GSO_UDP_L4 = 5, /* USO: UDP segmentation, IPv4 or IPv6 */
	FT_VNET_GSO_ECN = 0x80, /* flag: the super-packet carried CWR */
};

/* A virtio_net_hdr in host byte order (the wire form is little-endian). */
struct ft_vnet_hdr {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len; /* a hint only: some kernels put the whole linear part here */
	uint16_t gso_size;
	uint16_t csum_start;
	uint16_t csum_offset;
};

/*
 * Parses the vnet header at the front of buf, one read from the TUN of len bytes (the header
 * then the packet), and checks each field against the packet behind it: known flags and GSO
 * types, csum_start + csum_offset + 2 and hdr_len within the packet, NEEDS_CSUM and a non-zero
 * gso_size with GSO, csum_offset 16 (TCP) or 6 (UDP) with GSO. 0, -EINVAL, or -EOPNOTSUPP (UFO).
 * ft_offload_segment() checks the IP and transport headers themselves.
 */
int ft_offload_parse_vnet(const uint8_t *buf, size_t len, struct ft_vnet_hdr *vh);
/* Writes vh in the wire form into out[0..FT_OFFLOAD_VNET_HDR_LEN). */
void ft_offload_write_vnet(uint8_t *out, const struct ft_vnet_hdr *vh);

/*
 * Splits pkt[0..len) (the packet after the vnet header vh) into packets ready to encrypt:
 * segment i is written to slots[i] + headroom, at most room bytes, and its length to lens[i].
 * For GSO_TCPV4/TCPV6/UDP_L4 the segments carry at most gso_size bytes of payload each, with
 * the IP length, IPv4 id + i and header checksum, TCP seq + i * gso_size, FIN and PSH on the
 * last segment only, CWR on the first only, UDP length, and full TCP/UDP checksums: what the
 * kernel's software GSO would send. A packet without GSO is copied to slot 0, its checksum
 * completed when NEEDS_CSUM is set. The IP length field is trusted only when it is not more
 * than len, and then wins over len.
 *
 * Returns the number of segments, or -EINVAL (malformed packet or vnet header, or a GSO type
 * that does not match the packet), -EOPNOTSUPP (UFO, IPv6 extension headers under GSO),
 * -ENOBUFS (more segments than nslots) or -EMSGSIZE (a segment larger than room). On error
 * the slots may have been written to.
 */
int ft_offload_segment(const uint8_t *pkt, size_t len, const struct ft_vnet_hdr *vh,
		       uint8_t *const *slots, unsigned int nslots, size_t headroom, size_t room,
		       size_t *lens);
/*
 * The same in parts, for a super-packet of more segments than the caller has slots (a small
 * MSS: 64 KiB in 88-byte segments is 745 of them): segments first, first + 1, ... are written,
 * as many as nslots hold, each exactly as ft_offload_segment() would write it; *total is the
 * number of segments of the whole packet (1 without GSO). Call again with first advanced by
 * the return value until it reaches *total. Returns the number written, or the errors of
 * ft_offload_segment() (-ENOBUFS only when nslots is 0), and -EINVAL when first >= *total.
 */
int ft_offload_segment_from(const uint8_t *pkt, size_t len, const struct ft_vnet_hdr *vh,
			    unsigned int first, uint8_t *const *slots, unsigned int nslots,
			    size_t headroom, size_t room, size_t *lens, unsigned int *total);

/*
 * GRO for one batch of received (decrypted) IP packets in[0..n), n <= FT_OFFLOAD_GRO_MAX_BATCH.
 * TCP segments that Linux would merge (same addresses and ports, consecutive sequence numbers
 * and IPv4 ids, only ACK or ACK|PSH, same ACK number, window and TCP options, same TOS/TTL or
 * traffic class/flow label/hop limit, no IPv4 options or IPv6 extension headers, valid
 * checksums, equal payload sizes but a smaller last one, PSH only on the last) become one
 * super-packet of up to FT_OFFLOAD_MAX_LEN bytes behind a vnet header with NEEDS_CSUM,
 * GSO_TCPV4/6, gso_size, csum_start/offset and the pseudo-header sum in the TCP checksum
 * field. Everything else passes through unchanged behind an all-zero vnet header. Order
 * within a flow is kept.
 *
 * The outputs (each a vnet header and a packet, ready for one write to the TUN) are laid out
 * in arena and described by out[0..return value). An arena of the sum of the input lengths
 * plus n * FT_OFFLOAD_VNET_HDR_LEN and max_out >= n always suffice. owner (NULL: not
 * wanted) gets n entries: owner[i] is the output that carries input i, so that the caller
 * can count exactly the packets of each write that succeeded. Returns the number of outputs,
 * -EINVAL (n too large) or -ENOBUFS (arena or out too small: nothing usable).
 */
int ft_offload_coalesce(const struct iovec *in, unsigned int n, uint8_t *arena, size_t arena_len,
			struct iovec *out, unsigned int max_out, unsigned int *owner);

/* What ft_offload_coalesce_ex() merges. */
enum ft_offload_gro_flags {
	FT_OFFLOAD_GRO_TCP = 1 << 0, /* TCP segments, as ft_offload_coalesce() */
	FT_OFFLOAD_GRO_UDP = 1 << 1, /* UDP datagrams into GSO_UDP_L4 (USO) super-packets */
};
/*
 * ft_offload_coalesce() with a choice of what merges (flags: ft_offload_gro_flags; 0 merges
 * nothing). With FT_OFFLOAD_GRO_UDP, UDP datagrams that Linux's UDP GRO would merge (same
 * addresses and ports; IPv4 without options or fragments, same TOS, TTL and DF, ids counting
 * up from the first or, with DF, all the same; IPv6 without extension headers, same traffic
 * class, flow label and hop limit; a UDP length equal to the IP payload's, a non-zero checksum
 * that verifies; equal payload sizes but a smaller last one) become one super-packet of at
 * most FT_OFFLOAD_UDP_GRO_MAX_SEGS datagrams and FT_OFFLOAD_MAX_LEN bytes behind a vnet header
 * with NEEDS_CSUM, GSO_UDP_L4, gso_size (the payload of the first), csum_start/offset, the
 * IP and UDP lengths of the whole and the pseudo-header sum in the UDP checksum field. Only
 * a TUN on Linux >= 6.2 takes such a packet (TUN_F_USO4/6 are its sign). A packet that
 * merges with nothing ends its flow's open super-packet, so the order within a flow is kept.
 * Arena, out, owner and the errors as for ft_offload_coalesce().
 */
int ft_offload_coalesce_ex(const struct iovec *in, unsigned int n, unsigned int flags,
			   uint8_t *arena, size_t arena_len, struct iovec *out,
			   unsigned int max_out, unsigned int *owner);

#endif
