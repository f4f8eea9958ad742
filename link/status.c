// SPDX-License-Identifier: MIT
/*
 * Link status by the ioctl chain of ifplugo/ifplugd: ethtool, MII, wireless, interface flags.
 * Written from the kernel's UAPI headers; the order and the meaning of each answer are in
 * link.h.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <net/if.h>
#include <linux/ethtool.h>
#include <linux/mii.h>
#include <linux/sockios.h>
#include <linux/wireless.h>

#include "link/internal.h"
#include "link/link.h"

const char *ft_link_state_str(enum ft_link_state state)
{
	switch (state) {
	case FT_LINK_UP:
		return "link";
	case FT_LINK_DOWN:
		return "no link";
	case FT_LINK_ERROR:
		return "error";
	case FT_LINK_UNKNOWN:
		break;
	}
	return "unknown";
}

/* The kernel's dev_valid_name(): what it would refuse, we refuse before any ioctl. */
bool ft_link_valid_ifname(const char *name)
{
	size_t len = strnlen(name, IFNAMSIZ);

	if (len == 0 || len >= IFNAMSIZ || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return false;
	for (size_t i = 0; i < len; i++)
		if (name[i] == '/' || name[i] == ':' || name[i] == ' ' || name[i] == '\t' ||
		    name[i] == '\n')
			return false;
	return true;
}

static void ifreq_init(struct ifreq *ifr, const char *ifname)
{
	memset(ifr, 0, sizeof(*ifr));
	memcpy(ifr->ifr_name, ifname, strlen(ifname)); /* checked < IFNAMSIZ: stays terminated */
}

/* Each method: 0 and *up on success, or a negative errno when its ioctl failed. */
static int by_ethtool(int fd, const char *ifname, bool *up)
{
	struct ethtool_value ev = { .cmd = ETHTOOL_GLINK };
	struct ifreq ifr;

	ifreq_init(&ifr, ifname);
	ifr.ifr_data = (char *)&ev;
	if (ioctl(fd, SIOCETHTOOL, &ifr) < 0)
		return -errno;
	*up = ev.data != 0;
	return 0;
}

/* The MII data lives in the ifreq union itself (the kernel's if_mii()), not behind a pointer. */
static int mii_ioctl(int fd, struct ifreq *ifr, unsigned long req, struct mii_ioctl_data *mii)
{
	_Static_assert(sizeof(*mii) <= sizeof(ifr->ifr_ifru), "MII data fits in the ifreq union");
	memcpy(&ifr->ifr_ifru, mii, sizeof(*mii));
	if (ioctl(fd, req, ifr) < 0)
		return -errno;
	memcpy(mii, &ifr->ifr_ifru, sizeof(*mii));
	return 0;
}

static int by_mii(int fd, const char *ifname, bool *up)
{
	struct mii_ioctl_data mii = { 0 };
	struct ifreq ifr;
	int rc;

	ifreq_init(&ifr, ifname);
	rc = mii_ioctl(fd, &ifr, SIOCGMIIPHY, &mii);
	if (rc < 0)
		return rc;
	/* BMSR's link bit latches low: the first read clears a past drop, the second is now. */
	for (int i = 0; i < 2; i++) {
		mii.reg_num = MII_BMSR;
		rc = mii_ioctl(fd, &ifr, SIOCGMIIREG, &mii);
		if (rc < 0)
			return rc;
	}
	*up = (mii.val_out & BMSR_LSTATUS) != 0;
	return 0;
}

static int by_wireless(int fd, const char *ifname, bool *up)
{
	struct iwreq iwr;
	const uint8_t *ap;
	bool zero = true, ones = true, fours = true;

	memset(&iwr, 0, sizeof(iwr));
	memcpy(iwr.ifr_name, ifname, strlen(ifname));
	if (ioctl(fd, SIOCGIWAP, &iwr) < 0)
		return -errno;
	/* Not associated: the driver reports 00:..., FF:... or 44:44:... (ifplugd's list). */
	ap = (const uint8_t *)iwr.u.ap_addr.sa_data;
	for (int i = 0; i < 6; i++) {
		zero &= ap[i] == 0x00;
		ones &= ap[i] == 0xff;
		fours &= ap[i] == 0x44;
	}
	*up = !(zero || ones || fours);
	return 0;
}

static int get_flags(int fd, const char *ifname, short *flags)
{
	struct ifreq ifr;

	ifreq_init(&ifr, ifname);
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		return -errno;
	*flags = ifr.ifr_flags;
	return 0;
}

static int by_flags(int fd, const char *ifname, bool *up)
{
	short flags = 0;
	int rc = get_flags(fd, ifname, &flags);

	if (rc == 0)
		*up = (flags & IFF_RUNNING) != 0;
	return rc;
}

enum ft_link_state ft_link_status_fd(int fd, const char *ifname, int *err)
{
	static int (*const chain[])(int, const char *, bool *) = {
		by_ethtool,
		by_mii,
		by_wireless,
		by_flags,
	};
	int rc = -EINVAL, dummy;
	bool up = false;
	short flags = 0;

	if (!err)
		err = &dummy;
	*err = 0;
	if (!ifname || !ft_link_valid_ifname(ifname)) {
		*err = -EINVAL;
		return FT_LINK_ERROR;
	}
	for (size_t i = 0; i < sizeof(chain) / sizeof(chain[0]); i++) {
		rc = chain[i](fd, ifname, &up);
		if (rc == 0 || rc == -ENODEV)
			break;
	}
	if (rc < 0) {
		*err = rc;
		return FT_LINK_ERROR;
	}
	/* Some drivers report a link while the interface is down; down means no link to us. */
	if (up && get_flags(fd, ifname, &flags) == 0 && !(flags & IFF_UP))
		up = false;
	return up ? FT_LINK_UP : FT_LINK_DOWN;
}

enum ft_link_state ft_link_status(const char *ifname, int *err)
{
	enum ft_link_state st;
	int fd, dummy;

	if (!err)
		err = &dummy;
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) /* A kernel without IPv4: the ioctls work on any socket. */
		fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*err = -errno;
		return FT_LINK_ERROR;
	}
	st = ft_link_status_fd(fd, ifname, err);
	close(fd);
	return st;
}

int ft_link_parse_duration(const char *s, uint64_t *ms)
{
	/* 1000 days: far beyond any sane period, far from overflowing uint64_t milliseconds. */
	const uint64_t max_ms = 1000ULL * 24 * 3600 * 1000;
	static const struct {
		const char *unit;
		uint64_t ms;
	} units[] = { { "", 1000 }, { "ms", 1 }, { "s", 1000 }, { "m", 60000 }, { "h", 3600000 } };
	uint64_t whole = 0, frac = 0, frac_div = 1;
	const char *p = s;
	size_t i;

	if (!s)
		return -EINVAL;
	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		whole = whole * 10 + (uint64_t)(*p - '0');
		if (whole > max_ms)
			return -EINVAL;
	}
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return -EINVAL;
		for (; *p >= '0' && *p <= '9'; p++) {
			if (frac_div >= 1000000000ULL)
				return -EINVAL;
			frac = frac * 10 + (uint64_t)(*p - '0');
			frac_div *= 10;
		}
	}
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(p, units[i].unit) == 0)
			break;
	if (i == sizeof(units) / sizeof(units[0]))
		return -EINVAL;
	if (whole > max_ms / units[i].ms)
		return -EINVAL;
	/* A fraction must come out as whole milliseconds: "1.5ms" is refused, not rounded. */
	if ((frac * units[i].ms) % frac_div != 0)
		return -EINVAL;
	whole = whole * units[i].ms + frac * units[i].ms / frac_div;
	if (whole > max_ms)
		return -EINVAL;
	*ms = whole;
	return 0;
}
