// SPDX-License-Identifier: MIT
/*
 * no-io-uring [--eperm] COMMAND [ARGS...]: runs COMMAND where io_uring_setup(2) fails, as on a
 * kernel built without io_uring (ENOSYS, the default) or under a container's seccomp profile
 * or kernel.io_uring_disabled (--eperm: EPERM), without changing anything for the rest of the
 * host. For tests/netns/tunio.sh: TunIO = auto must fall back to read/write, TunIO = io_uring
 * must refuse to start and say why.
 */
#include "config.h"

#include <errno.h>
#include <seccomp.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int err = ENOSYS, first = 1, rc;
	scmp_filter_ctx ctx;

	if (argc > 1 && strcmp(argv[1], "--eperm") == 0) {
		err = EPERM;
		first = 2;
	}
	if (argc <= first) {
		fprintf(stderr, "usage: no-io-uring [--eperm] COMMAND [ARGS...]\n");
		return 2;
	}
	ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (!ctx) {
		fprintf(stderr, "no-io-uring: seccomp_init failed\n");
		return 1;
	}
	rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(err), SCMP_SYS(io_uring_setup), 0);
	if (rc == 0)
		rc = seccomp_load(ctx);
	seccomp_release(ctx);
	if (rc < 0) {
		fprintf(stderr, "no-io-uring: seccomp: %s\n", strerror(-rc));
		return 1;
	}
	execvp(argv[first], argv + first);
	fprintf(stderr, "no-io-uring: %s: %s\n", argv[first], strerror(errno));
	return 127;
}
