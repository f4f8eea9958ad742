// SPDX-License-Identifier: MIT
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "tun/log.h"

static enum ft_log_level log_level = FT_LOG_NOTICE;
static bool log_syslog;
static const char *log_ident = "flowtun";

void ft_log_init(const char *ident, enum ft_log_level level, bool use_syslog)
{
	log_ident = ident;
	log_level = level;
	log_syslog = use_syslog;
	if (use_syslog)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void ft_log_set_level(enum ft_log_level level)
{
	log_level = level;
}

bool ft_log_is_syslog(void)
{
	return log_syslog;
}

bool ft_log_enabled(enum ft_log_level level)
{
	return level <= log_level;
}

static void vlog(enum ft_log_level level, const char *errstr, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

static void vlog(enum ft_log_level level, const char *errstr, const char *fmt, va_list ap)
{
	char msg[1024];

	if (!ft_log_enabled(level))
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_syslog) {
		if (errstr)
			syslog((int)level, "%s: %s", msg, errstr);
		else
			syslog((int)level, "%s", msg);
		return;
	}
	if (errstr)
		fprintf(stderr, "%s: %s: %s\n", log_ident, msg, errstr);
	else
		fprintf(stderr, "%s: %s\n", log_ident, msg);
}

void ft_log(enum ft_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(level, NULL, fmt, ap);
	va_end(ap);
}

void ft_log_warn(const char *fmt, ...)
{
	const char *errstr = strerror(errno);
	va_list ap;

	va_start(ap, fmt);
	vlog(FT_LOG_WARNING, errstr, fmt, ap);
	va_end(ap);
}

void ft_log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(FT_LOG_WARNING, NULL, fmt, ap);
	va_end(ap);
}

void ft_log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(FT_LOG_INFO, NULL, fmt, ap);
	va_end(ap);
}

void ft_log_debug(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(FT_LOG_DEBUG, NULL, fmt, ap);
	va_end(ap);
}

void ft_log_fatal(const char *fmt, ...)
{
	const char *errstr = strerror(errno);
	va_list ap;

	va_start(ap, fmt);
	vlog(FT_LOG_ERR, errstr, fmt, ap);
	va_end(ap);
	exit(1);
}

void ft_log_fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(FT_LOG_ERR, NULL, fmt, ap);
	va_end(ap);
	exit(1);
}

bool ft_log_ratelimit_ok(struct ft_log_ratelimit *rl, uint64_t now_ms, uint32_t *suppressed)
{
	if (now_ms - rl->window_ms >= 1000) {
		rl->window_ms = now_ms;
		rl->emitted = 0;
	}
	if (rl->emitted >= FT_LOG_BURST) {
		rl->suppressed++;
		return false;
	}
	rl->emitted++;
	*suppressed = rl->suppressed;
	rl->suppressed = 0;
	return true;
}
