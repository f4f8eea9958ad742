/* SPDX-License-Identifier: MIT */
#ifndef FT_TESTS_OPENER_HARNESS_H
#define FT_TESTS_OPENER_HARNESS_H

/*
 * Shared by check_opener.c and check_opener_helper.c only (see tests/opener-harness.c).
 */
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <check.h>

#include "tun/priv/opener.h"

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define FILE_CONTENT "line one\nline two\n"
#define TUNNEL_ID 65534u
#define MORE "more\n"

/* This program, which is also the opener's (main() calls ft_opener_main()). */
extern char self_exe[PATH_MAX];
/* The suite runs as root: the helper starts, and as_tunnel() has something to drop. */
extern bool suite_root;
/*
 * The tcase's temp dir, made and removed by the parent (an unchecked fixture): a failing test
 * exits without a teardown of its own, and this way its files still go.
 */
extern char base[64];

void base_setup(void);
void base_teardown(void);
void test_dir(char *dir, size_t size);
void join(char *out, size_t size, const char *dir, const char *name);
void write_file(const char *path, const char *content);
void make_socket(const char *path);
void slurp_fd(int fd, char *buf, size_t size);
void assert_content(const char *path, const char *want);
bool exists(const char *path);
bool is_socket(const char *path);
void assert_cloexec(int fd);
void assert_no_children(void);
bool start_or_fallback(const struct ft_opener_path *paths, size_t n);
pid_t start_reading(char *f, size_t size);
bool set_tunnel(bool on);
void as_tunnel(void);
void as_root(void);

/* main(): the opener's own entry first, then suite in fork mode. */
int opener_check_main(int argc, char **argv, Suite *(*suite)(void));

#endif
