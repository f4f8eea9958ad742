// SPDX-License-Identifier: MIT
/*
 * A tunnel without the crypto, to run TSO/GRO against a real kernel: run by
 * tests/netns/offload.sh, never on the host. It opens a vnet-header TUN in each of two
 * namespaces (given as names under /var/run/netns), asks both for CSUM|TSO4|TSO6 (and
 * USO4|USO6 when the kernel has them), prints
 * "ready", and then relays packets both ways the way the worker will:
 *
 *   read a super-packet -> ft_offload_parse_vnet -> ft_offload_segment (MTU-sized, full
 *   checksums) -> batch -> ft_offload_coalesce -> write each output (vnet header + packet)
 *
 * so every byte the kernel's TCP receives went through both halves. At SIGTERM (or "quit" on
 * stdin) it prints its counters, one "name value" a line, and exits 0; any error of the
 * offload code on a packet the kernel produced is counted as "errors".
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tun/net/offload.h"
#include "tun/net/tundev.h"

#define READ_BATCH 8
#define SEG_SLOTS FT_OFFLOAD_GRO_MAX_BATCH
#define SEG_ROOM 2048
#define READ_ROOM (FT_OFFLOAD_VNET_HDR_LEN + 65535)

static volatile sig_atomic_t stop;

static struct {
	unsigned long reads, gso_reads, uso_reads, segments, writes, gso_writes, merged, errors,
		dropped;
} c;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static int open_in(const char *ns, const char *name)
{
	char path[256], out[IFNAMSIZ];
	unsigned int accepted = 0;
	int nsfd, fd, r;

	snprintf(path, sizeof(path), "/var/run/netns/%s", ns);
	nsfd = open(path, O_RDONLY | O_CLOEXEC);
	if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) < 0) {
		fprintf(stderr, "offload-relay: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	close(nsfd);
	fd = ft_tundev_open(name, FT_TUNDEV_VNET_HDR, out);
	if (fd < 0) {
		fprintf(stderr, "offload-relay: open %s: %s\n", name, strerror(-fd));
		exit(1);
	}
	r = ft_tundev_probe_offloads(fd, &accepted);
	/* USO (Linux 6.2) when the kernel has it: the kernel takes both bits or neither. */
	if (r == 0)
		r = ft_tundev_set_offloads(fd,
					   FT_TUN_F_CSUM | FT_TUN_F_TSO4 | FT_TUN_F_TSO6 |
						   (accepted & (FT_TUN_F_USO4 | FT_TUN_F_USO6)));
	if (r < 0) {
		fprintf(stderr, "offload-relay: offloads on %s: %s\n", name, strerror(-r));
		exit(1);
	}
	printf("%s offloads 0x%x\n", name, accepted);
	return fd;
}

/* One wake-up's worth from `from` to `to`. */
static void relay(int from, int to)
{
	static uint8_t rbuf[READ_BATCH][READ_ROOM];
	static uint8_t segmem[SEG_SLOTS][SEG_ROOM];
	static uint8_t arena[SEG_SLOTS * (SEG_ROOM + FT_OFFLOAD_VNET_HDR_LEN)];
	struct iovec bufs[READ_BATCH], in[SEG_SLOTS], out[SEG_SLOTS];
	uint8_t *slots[SEG_SLOTS];
	size_t lens[READ_BATCH], seglens[SEG_SLOTS];
	unsigned int nin = 0;
	int n, nout;

	for (int i = 0; i < READ_BATCH; i++) {
		bufs[i].iov_base = rbuf[i];
		bufs[i].iov_len = READ_ROOM;
	}
	n = ft_tundev_read_batch(from, bufs, lens, READ_BATCH);
	for (int i = 0; i < n; i++) {
		struct ft_vnet_hdr vh;
		int ns;

		c.reads++;
		if (ft_offload_parse_vnet(rbuf[i], lens[i], &vh) < 0) {
			c.errors++;
			continue;
		}
		for (unsigned int s = 0; s < SEG_SLOTS; s++)
			slots[s] = segmem[s];
		ns = ft_offload_segment(rbuf[i] + FT_OFFLOAD_VNET_HDR_LEN,
					lens[i] - FT_OFFLOAD_VNET_HDR_LEN, &vh, slots + nin,
					SEG_SLOTS - nin, 0, SEG_ROOM, seglens + nin);
		if (ns < 0) {
			c.errors++;
			continue;
		}
		if (vh.gso_type == FT_VNET_GSO_UDP_L4)
			c.uso_reads++;
		else if (vh.gso_type != FT_VNET_GSO_NONE)
			c.gso_reads++;
		for (int s = 0; s < ns; s++, nin++) {
			in[nin].iov_base = segmem[nin];
			in[nin].iov_len = seglens[nin];
		}
		c.segments += (unsigned long)ns;
		/* Keep room for the largest super-packet's segments (64 KiB / 1280 = 52). */
		if (SEG_SLOTS - nin < 64 || i == n - 1) {
			nout = ft_offload_coalesce(in, nin, arena, sizeof(arena), out, SEG_SLOTS,
						   NULL);
			if (nout < 0) {
				c.errors++;
				nout = 0;
			}
			for (int k = 0; k < nout; k++) {
				if (((const uint8_t *)out[k].iov_base)[1] != FT_VNET_GSO_NONE)
					c.gso_writes++;
				if (ft_tundev_write(to, out[k].iov_base, out[k].iov_len) < 0)
					c.dropped++;
				else
					c.writes++;
			}
			c.merged += nin - (unsigned int)nout;
			nin = 0;
		}
	}
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_term };
	struct pollfd pfd[3];
	int fa, fb;

	if (argc != 5) {
		fprintf(stderr, "usage: offload-relay NS_A TUN_A NS_B TUN_B\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	fa = open_in(argv[1], argv[2]);
	fb = open_in(argv[3], argv[4]);
	printf("ready\n");

	pfd[0] = (struct pollfd){ .fd = fa, .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = fb, .events = POLLIN };
	pfd[2] = (struct pollfd){ .fd = STDIN_FILENO, .events = POLLIN };
	while (!stop) {
		if (poll(pfd, 3, 200) < 0)
			continue;
		if (pfd[0].revents & POLLIN)
			relay(fa, fb);
		if (pfd[1].revents & POLLIN)
			relay(fb, fa);
		if (pfd[2].revents & (POLLIN | POLLHUP)) {
			char line[64];

			if (!fgets(line, sizeof(line), stdin) || strncmp(line, "quit", 4) == 0)
				break;
		}
	}
	printf("reads %lu\ngso_reads %lu\nuso_reads %lu\nsegments %lu\nwrites %lu\n"
	       "gso_writes %lu\nmerged %lu\nerrors %lu\ndropped %lu\n",
	       c.reads, c.gso_reads, c.uso_reads, c.segments, c.writes, c.gso_writes, c.merged,
	       c.errors, c.dropped);
	close(fa);
	close(fb);
	return 0;
}
