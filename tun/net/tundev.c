// SPDX-License-Identifier: MIT
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/virtio_net.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "tun/net/tundev.h"

_Static_assert(FT_TUNDEV_VNET_HDR_LEN == sizeof(struct virtio_net_hdr), "vnet header size");
_Static_assert(FT_TUN_F_CSUM == TUN_F_CSUM && FT_TUN_F_TSO4 == TUN_F_TSO4 &&
		       FT_TUN_F_TSO6 == TUN_F_TSO6,
	       "TUN_F_ values");
#ifdef TUN_F_USO4
_Static_assert(FT_TUN_F_USO4 == TUN_F_USO4 && FT_TUN_F_USO6 == TUN_F_USO6, "TUN_F_USO values");
#endif

int ft_tundev_open(const char *name, unsigned int flags, char name_out[IFNAMSIZ])
{
	struct ifreq ifr;
	size_t len = name ? strlen(name) : 0;
	int fd, rc;

	if (len >= IFNAMSIZ)
		return -EINVAL;
	memset(&ifr, 0, sizeof(ifr));
	memcpy(ifr.ifr_name, name ? name : "", len);
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	if (flags & FT_TUNDEV_VNET_HDR)
		ifr.ifr_flags |= IFF_VNET_HDR;
	if (flags & FT_TUNDEV_MULTI_QUEUE)
		ifr.ifr_flags |= IFF_MULTI_QUEUE;

	/* Non-blocking from the start: the fd goes to a uv_poll_t and is drained to EAGAIN. */
	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	memcpy(name_out, ifr.ifr_name, IFNAMSIZ);
	name_out[IFNAMSIZ - 1] = '\0';
	return fd;
}

int ft_tundev_set_offloads(int fd, unsigned int offloads)
{
	if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)offloads) < 0)
		return -errno;
	return 0;
}

int ft_tundev_probe_offloads(int fd, unsigned int *accepted)
{
	/*
	 * The kernel rejects with EINVAL any bit it does not know, which is the documented way
	 * to test for features, but it also ignores TSO and USO bits without CSUM; hence each
	 * set is tried with CSUM.
	 */
	static const unsigned int sets[] = {
		FT_TUN_F_CSUM,
		FT_TUN_F_CSUM | FT_TUN_F_TSO4,
		FT_TUN_F_CSUM | FT_TUN_F_TSO6,
		FT_TUN_F_CSUM | FT_TUN_F_USO4 | FT_TUN_F_USO6,
	};
	unsigned int ok = 0;

	for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++) {
		if (ft_tundev_set_offloads(fd, sets[i]) == 0)
			ok |= sets[i];
		else if (i == 0)
			break;
	}
	*accepted = ok;
	return ft_tundev_set_offloads(fd, 0);
}

int ft_tundev_probe_uso_write(int fd)
{
	static const uint8_t probe[10 + 20 + 8 + 16] = {
		/* vnet header: NEEDS_CSUM, GSO_UDP_L4, hdr_len 28, gso_size 8, csum 20 + 6 (LE) */
		0x01, 0x05, 0x1c, 0x00, 0x08, 0x00, 0x14, 0x00, 0x06, 0x00,
		/* IPv4: length 44, DF, TTL 1, UDP, header checksum 0x79c2, 0.0.0.0 -> 0.0.0.0 */
		0x45, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x40, 0x00, 0x01, 0x11, 0x79, 0xc2, 0x00, 0x00,
		0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		/* UDP 9 -> 9 (discard), length 24, the pseudo-header sum (0 + 0 + 17 + 24) */
		0x00, 0x09, 0x00, 0x09, 0x00, 0x18, 0x00, 0x29,
		/* two datagrams of 8 zero bytes */
	};
	ssize_t w;

	do {
		w = write(fd, probe, sizeof(probe));
	} while (w < 0 && errno == EINTR);
	if (w >= 0 || errno == EIO)
		return 1;
	return errno == EINVAL ? 0 : -errno;
}

int ft_tundev_read_batch(int fd, const struct iovec *bufs, size_t *lens, unsigned int n)
{
	unsigned int got = 0;

	while (got < n) {
		ssize_t r = read(fd, bufs[got].iov_base, bufs[got].iov_len);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK || got > 0)
				break;
			return -errno;
		}
		lens[got++] = (size_t)r;
	}
	return (int)got;
}

int ft_tundev_write(int fd, const void *pkt, size_t len)
{
	ssize_t w;

	do {
		w = write(fd, pkt, len);
	} while (w < 0 && errno == EINTR);
	if (w < 0)
		return -errno;
	/* A TUN write takes the whole packet or fails; a short count would be a kernel bug. */
	return (size_t)w == len ? 0 : -EIO;
}
