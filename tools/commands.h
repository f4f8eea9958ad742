/* SPDX-License-Identifier: MIT */
#ifndef FT_COMMANDS_H
#define FT_COMMANDS_H

#include <stdbool.h>
#include <stdio.h>

/*
 * One entry of the `flowtun` subcommand table. Each subcommand lives in its own file and
 * exports its entry; flowtun.c lists them. Exit codes: 0 success, 1 failure, 2 usage error.
 */
struct ft_command {
	const char *name;
	const char *summary; /* one line for `flowtun help` */
	const char *usage;   /* the whole `flowtun NAME --help`, starting with the synopsis */
	int (*run)(int argc, char *argv[]);
};

enum {
	FT_EXIT_OK = 0,
	FT_EXIT_FAILURE = 1,
	FT_EXIT_USAGE = 2,
};

extern const struct ft_command ft_command_up;
extern const struct ft_command ft_command_genkey;
extern const struct ft_command ft_command_genpsk;
extern const struct ft_command ft_command_pubkey;
extern const struct ft_command ft_command_link_watch;
extern const struct ft_command ft_command_link_status;
extern const struct ft_command ft_command_flows;
extern const struct ft_command ft_command_show;

/* flowtun [-f] IFACE (wireguard-go's command line, for wg-quick): tools/cmd_serve.c. */
bool ft_serve_is_invocation(int argc, char *argv[]);
int ft_serve_main(int argc, char *argv[]);
void ft_serve_print_usage(FILE *f);

void ft_command_print_usage(const struct ft_command *cmd, FILE *f);
/* Prints "flowtun NAME: <message>" and the usage to stderr; returns FT_EXIT_USAGE. */
int ft_command_usage_error(const struct ft_command *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Prints "flowtun NAME: <message>" to stderr; returns FT_EXIT_FAILURE. */
int ft_command_error(const struct ft_command *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
