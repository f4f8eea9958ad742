// SPDX-License-Identifier: MIT
/* The SO_REUSEPORT group's steering by receiver index: see steer.h. */
#include "config.h"

#include <errno.h>
#include <linux/filter.h>
#include <string.h>
#include <sys/socket.h>

#include "tun/net/steer.h"

int ft_steer_attach(int fd, unsigned int n)
{
	/* The program runs on the UDP payload: offset 0 is the message type's first byte. */
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 0),	      /* A = type */
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 2, 0, 2), /* response? */
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 8), /* A = its receiver index's low byte */
		BPF_STMT(BPF_JMP | BPF_JA, 1),	       /* */
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 4), /* A = the index at offset 4, low byte */
		BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, n ? n : 1), /* A %= n */
		BPF_STMT(BPF_RET | BPF_A, 0),
	};
	struct sock_fprog prog;

	/* Cleared whole: the padding after len goes to the kernel too. */
	memset(&prog, 0, sizeof(prog));
	prog.len = sizeof(code) / sizeof(code[0]);
	prog.filter = code;

	if (n < 1 || n > FT_STEER_MAX)
		return -EINVAL;
	if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof(prog)) < 0)
		return -errno;
	return 0;
}
