// SPDX-License-Identifier: MIT
/*
 * flowtun: the command. A table of subcommands, each in its own file, in the manner of
 * wg(8). `flowtun help` lists them; `flowtun CMD --help` prints one's usage.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tools/commands.h"
#include "tun/priv/opener.h"

static int cmd_help(int argc, char *argv[]);
static int cmd_version(int argc, char *argv[]);

static const struct ft_command ft_command_help = {
	.name = "help",
	.summary = "list the subcommands, or show one's usage",
	.usage = "Usage: flowtun help [COMMAND]\n",
	.run = cmd_help,
};

static const struct ft_command ft_command_version = {
	.name = "version",
	.summary = "print the version",
	.usage = "Usage: flowtun version\n",
	.run = cmd_version,
};

static const struct ft_command *const commands[] = {
	&ft_command_up,		&ft_command_genkey,	 &ft_command_pubkey, &ft_command_genpsk,
	&ft_command_link_watch, &ft_command_link_status, &ft_command_show,   &ft_command_flows,
	&ft_command_version,	&ft_command_help,
};

static const struct ft_command *find_command(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i]->name, name) == 0)
			return commands[i];
	return NULL;
}

static void print_overview(FILE *f)
{
	fprintf(f, "Usage: flowtun COMMAND [ARGS...]\n\n"
		   "flowtun joins this host to a WireGuard overlay from userspace, counts every\n"
		   "connection that crosses it and writes flow logs.\n\n"
		   "Commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-12s %s\n", commands[i]->name, commands[i]->summary);
	fprintf(f,
		"\n  flowtun [-f] IFACE   create IFACE and serve the WireGuard userspace API,\n"
		"                       as wireguard-go does (WG_QUICK_USERSPACE_IMPLEMENTATION)\n");
	fprintf(f,
		"\n`flowtun COMMAND --help` shows a command's options; man flowtun(8) has more.\n");
}

static int cmd_help(int argc, char *argv[])
{
	const struct ft_command *cmd;

	if (argc < 2) {
		print_overview(stdout);
		return FT_EXIT_OK;
	}
	cmd = find_command(argv[1]);
	if (!cmd) {
		fprintf(stderr, "flowtun help: no such command: '%s'\n", argv[1]);
		return FT_EXIT_USAGE;
	}
	ft_command_print_usage(cmd, stdout);
	return FT_EXIT_OK;
}

static int cmd_version(int argc, char *argv[])
{
	if (argc > 1)
		return ft_command_usage_error(&ft_command_version, "unexpected argument '%s'",
					      argv[1]);
	printf("flowtun %s (libsodium %s)\n", PACKAGE_VERSION, sodium_version_string());
	return FT_EXIT_OK;
}

void ft_command_print_usage(const struct ft_command *cmd, FILE *f)
{
	fputs(cmd->usage, f);
}

static void vreport(const struct ft_command *cmd, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

static void vreport(const struct ft_command *cmd, const char *fmt, va_list ap)
{
	fprintf(stderr, "flowtun %s: ", cmd->name);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

int ft_command_usage_error(const struct ft_command *cmd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(cmd, fmt, ap);
	va_end(ap);
	ft_command_print_usage(cmd, stderr);
	return FT_EXIT_USAGE;
}

int ft_command_error(const struct ft_command *cmd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(cmd, fmt, ap);
	va_end(ap);
	return FT_EXIT_FAILURE;
}

int main(int argc, char *argv[])
{
	const struct ft_command *cmd;

	/* A running tunnel's opener (tun/priv/opener.h) is this program, started with its argv[1]. */
	ft_opener_main(argc, argv);
	if (argc < 2) {
		print_overview(stderr);
		return FT_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		print_overview(stdout);
		return FT_EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0)
		return cmd_version(1, argv);

	cmd = find_command(argv[1]);
	if (!cmd && ft_serve_is_invocation(argc, argv)) {
		if (sodium_init() < 0) {
			fprintf(stderr, "flowtun: libsodium failed to initialise\n");
			return FT_EXIT_FAILURE;
		}
		return ft_serve_main(argc, argv);
	}
	if (!cmd) {
		fprintf(stderr,
			"flowtun: no such command: '%s' (`flowtun help` lists them; "
			"`flowtun -f %s` would create an interface of that name)\n",
			argv[1], argv[1]);
		return FT_EXIT_USAGE;
	}
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			break;
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			ft_command_print_usage(cmd, stdout);
			return FT_EXIT_OK;
		}
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "flowtun: libsodium failed to initialise\n");
		return FT_EXIT_FAILURE;
	}
	return cmd->run(argc - 1, argv + 1);
}
