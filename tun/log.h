/* SPDX-License-Identifier: MIT */
#ifndef FT_LOG_H
#define FT_LOG_H

#include <stdbool.h>
#include <stdint.h>

/*
 * A tiny log API in the OpenBSD daemons' manner: ft_log_warn() appends strerror(errno),
 * ft_log_warnx() does not. Messages go to stderr until ft_log_init() picks syslog.
 * Loop thread only: no locking.
 *
 * On the packet path use FT_LOG_RATELIMITED(): at most FT_LOG_BURST messages per second
 * from one call site, and a count of the suppressed ones with the next message.
 */
enum ft_log_level {
	FT_LOG_ERR = 3,
	FT_LOG_WARNING = 4,
	FT_LOG_NOTICE = 5,
	FT_LOG_INFO = 6,
	FT_LOG_DEBUG = 7,
};

#define FT_LOG_BURST 5

void ft_log_init(const char *ident, enum ft_log_level level, bool use_syslog);
void ft_log_set_level(enum ft_log_level level);
bool ft_log_enabled(enum ft_log_level level);
/* True when messages go to syslog (ft_log_init), not stderr. */
bool ft_log_is_syslog(void);

void ft_log(enum ft_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ft_log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void ft_log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void ft_log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void ft_log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Start-up only: logs and exits with status 1. */
void ft_log_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void ft_log_fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

struct ft_log_ratelimit {
	uint64_t window_ms;
	uint32_t emitted;
	uint32_t suppressed;
};

/* True when the caller may log now; false counts the message as suppressed. */
bool ft_log_ratelimit_ok(struct ft_log_ratelimit *rl, uint64_t now_ms, uint32_t *suppressed);

#define FT_LOG_RATELIMITED(now_ms, level, fmt, ...)                                              \
	do {                                                                                     \
		static struct ft_log_ratelimit ft_rl_;                                           \
		uint32_t ft_sup_;                                                                \
		if (ft_log_enabled(level) && ft_log_ratelimit_ok(&ft_rl_, (now_ms), &ft_sup_)) { \
			if (ft_sup_)                                                             \
				ft_log((level), fmt " (%u similar messages suppressed)",         \
				       ##__VA_ARGS__, ft_sup_);                                  \
			else                                                                     \
				ft_log((level), fmt, ##__VA_ARGS__);                             \
		}                                                                                \
	} while (0)

#endif
