// SPDX-License-Identifier: MIT
/*
 * uapi-fake-server PATH: serves the userspace API on PATH with a fake device, for
 * tests/uapi-wg.sh to drive with the real wg(8). Exits 0 after a clean shutdown, on SIGTERM
 * or SIGINT or once PATH is removed; 1 when the server cannot start (the message says why).
 */
#include "config.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>
#include <uv.h>

#include "tests/uapi-fakedev.h"
#include "tun/ctl/uapi.h"

static struct fakedev dev;
static struct ft_uapi_server *server;
static uv_signal_t sigterm, sigint;

static void closed(void *arg)
{
	(void)arg;
	server = NULL;
}

static void shut_down(void)
{
	if (server)
		ft_uapi_server_close(server, closed, NULL);
	uv_close((uv_handle_t *)&sigterm, NULL);
	uv_close((uv_handle_t *)&sigint, NULL);
}

static void on_signal(uv_signal_t *h, int signum)
{
	(void)h;
	fprintf(stderr, "uapi-fake-server: signal %d, closing\n", signum);
	shut_down();
}

static void on_gone(void *arg)
{
	(void)arg;
	fprintf(stderr, "uapi-fake-server: socket removed, closing\n");
	shut_down();
}

int main(int argc, char **argv)
{
	uv_loop_t loop;
	int rc;

	if (argc != 2) {
		fprintf(stderr, "usage: uapi-fake-server PATH\n");
		return 2;
	}
	if (sodium_init() < 0 || uv_loop_init(&loop) < 0)
		return 1;
	rc = ft_uapi_server_create(&server, &loop, argv[1], &fakedev_ops, &dev);
	if (rc < 0) {
		fprintf(stderr, "uapi-fake-server: %s: %s\n", argv[1], uv_strerror(rc));
		uv_run(&loop, UV_RUN_DEFAULT);
		uv_loop_close(&loop);
		return 1;
	}
	ft_uapi_server_watch(server, 100, on_gone, NULL);
	uv_signal_init(&loop, &sigterm);
	uv_signal_start(&sigterm, on_signal, SIGTERM);
	uv_signal_init(&loop, &sigint);
	uv_signal_start(&sigint, on_signal, SIGINT);
	fprintf(stderr, "uapi-fake-server: serving %s\n", ft_uapi_server_path(server));
	uv_run(&loop, UV_RUN_DEFAULT);
	rc = uv_loop_close(&loop);
	if (rc < 0) {
		fprintf(stderr, "uapi-fake-server: loop not empty at exit: %s\n", uv_strerror(rc));
		return 1;
	}
	return 0;
}
