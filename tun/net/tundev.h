/* SPDX-License-Identifier: MIT */
#ifndef FT_TUNDEV_H
#define FT_TUNDEV_H

#include <net/if.h>
#include <stddef.h>
#include <sys/uio.h>

/*
 * The TUN device: /dev/net/tun in IFF_TUN | IFF_NO_PI mode, so each read returns one IP
 * packet and each write takes one. Without IFF_VNET_HDR the kernel offers nothing better than
 * one read or write per packet; the batch helpers only bound the work per wake-up.
 *
 * Opening needs CAP_NET_ADMIN (or a persistent device owned by the user). The device lives as
 * long as its fd unless something made it persistent: closing the fd removes it, together with
 * its addresses and routes.
 */

enum ft_tundev_flags {
	FT_TUNDEV_VNET_HDR = 1 << 0,	/* IFF_VNET_HDR: a virtio_net_hdr before each packet */
	FT_TUNDEV_MULTI_QUEUE = 1 << 1, /* IFF_MULTI_QUEUE: one fd (queue) per worker */
};

/* The TUNSETOFFLOAD bits, with the kernel's values (linux/if_tun.h; USO since Linux 6.2). */
enum ft_tundev_offload {
	FT_TUN_F_CSUM = 0x01,
	FT_TUN_F_TSO4 = 0x02,
	FT_TUN_F_TSO6 = 0x04,
	FT_TUN_F_USO4 = 0x20,
	FT_TUN_F_USO6 = 0x40,
};

/* sizeof(struct virtio_net_hdr): what precedes each packet with FT_TUNDEV_VNET_HDR. */
#define FT_TUNDEV_VNET_HDR_LEN 10

/*
 * Opens (creating when needed) the TUN device name, or one the kernel names "tunN" when name
 * is NULL or "". flags are ft_tundev_flags. Returns the fd, non-blocking and close-on-exec,
 * and writes the device's actual name to name_out; or a negative errno: -EINVAL (name too
 * long, or an existing device that is not a TUN or has other flags), -EBUSY (a TUN already
 * attached to another fd), -EPERM (no CAP_NET_ADMIN). The caller closes the fd.
 */
int ft_tundev_open(const char *name, unsigned int flags, char name_out[IFNAMSIZ]);

/*
 * Which offloads the kernel accepts on fd (opened with FT_TUNDEV_VNET_HDR, else they would
 * be useless): each of CSUM, CSUM|TSO4, CSUM|TSO6, CSUM|USO4|USO6 (the kernel takes the two
 * USO bits only together) is tried with TUNSETOFFLOAD, and *accepted gets the union of what
 * worked. The fd is left with no offloads set. 0, or a negative errno when even switching
 * offloads off fails.
 */
int ft_tundev_probe_offloads(int fd, unsigned int *accepted);
/* TUNSETOFFLOAD with ft_tundev_offload bits; 0 or a negative errno (-EINVAL: not supported). */
int ft_tundev_set_offloads(int fd, unsigned int offloads);
/*
 * Whether the kernel takes GSO_UDP_L4 (USO) super-packets written to fd (opened with
 * FT_TUNDEV_VNET_HDR), i.e. whether UDP datagrams may be coalesced before a write: writes one
 * small USO packet (two 8-byte datagrams from 0.0.0.0 to 0.0.0.0, which no stack delivers).
 * Call it while the device is down: the kernel parses the vnet header first and answers
 * EINVAL when it does not know the GSO type (before Linux 6.2), and only then EIO for the
 * down device, so that the probe reaches nobody (it counts one rx_dropped on the device). On
 * a device that is up already the packet is taken and dropped by routing as a martian.
 * Returns 1 (it works), 0 (it does not), or another negative errno of the write.
 */
int ft_tundev_probe_uso_write(int fd);

/*
 * Reads up to n packets, one read each, into bufs[i] (iov_len is the room; at least the MTU,
 * plus FT_TUNDEV_VNET_HDR_LEN with a vnet header, or the kernel fails the read), and their
 * lengths into lens[i]. Returns the count (0 when nothing is waiting), or a negative errno when
 * the first read fails; an error after the first packet ends the batch and recurs next time.
 */
int ft_tundev_read_batch(int fd, const struct iovec *bufs, size_t *lens, unsigned int n);
/* Writes one packet. 0, or a negative errno (-EAGAIN: queue full; -EINVAL: malformed). */
int ft_tundev_write(int fd, const void *pkt, size_t len);

#endif
