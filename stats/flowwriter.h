/* SPDX-License-Identifier: MIT */
#ifndef FT_FLOWWRITER_H
#define FT_FLOWWRITER_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "stats/connstats.h"
#include "stats/flowlog.h"

/*
 * The flow-log writer: formats each connstats dump as JSON Lines (stats/flowlog.h) and writes
 * the lines to a file (appended; reopened on request for logrotate), to stdout ("-") or to
 * syslog, without ever blocking the loop.
 *
 * Lines wait in a bounded queue (max_queue bytes) and leave it one at a time, each by one
 * write() (or one syslog() call) on libuv's thread pool (uv_queue_work rather than uv_fs_write,
 * so that the thread can also undo a torn line, below). One request is in flight at a time, so
 * lines never interleave. A short write (a pipe) is followed by the rest of the same line
 * before anything else; a file that fails in the middle of a line (ENOSPC) is truncated back to
 * where the line began, so a reader never sees a torn line.
 *
 * Loss. A dump whose lines do not fit in the queue is dropped whole; a line whose write fails
 * (EROFS, ENOSPC, EACCES, a missing directory...) is dropped. Each dropped line is counted in
 * lost, and the first line of the next dump formatted carries "lost":N, the lines lost since
 * the last line that reported a loss was written. The count is carried over again if that line
 * is lost too, so no loss goes unreported while the destination recovers. A failure starts an
 * episode: error_cb runs once, at its first failure; the next successful write ends it. A
 * failed open (or a failed write) is retried with the next line, so a file that becomes
 * writable again is used again without a reopen.
 *
 * Each line is a whole message (nodeId, start, end) of at most max_line bytes: a dump too large
 * for one line is split by the formatter. Lost counts are in lines.
 *
 * Windows (ft_flowwriter_submit(), what the tunnel uses): a connstats window is formatted off
 * the loop, so that a flush of thousands of connections never stalls the packet path. Each
 * window goes through, in the order submitted:
 *   classify  on the loop, FT_FLOWWRITER_CLASSIFY_SLICE entries per loop iteration (a uv_idle_t),
 *             because the classify callback reads the tunnel's peers and routes, which only the
 *             loop thread may read;
 *   format    on the thread pool, one window at a time, into the window's own buffer: sorted,
 *             rate limited (below), split into lines;
 *   queue     back on the loop, the lines join the queue whole or not at all, as above; the
 *             window is given back (its done callback) as soon as its entries are not needed.
 * Windows waiting here are bounded by the connstats windows a consumer may hold.
 *
 * Rate limit (max_entries_per_s, 0: none). A token bucket of virtual entries, refilled at
 * max_entries_per_s by the windows' end times and holding at most max_entries_burst (so the
 * limit is deterministic for a given sequence of windows): a window lists as many of its virtual
 * entries as there are tokens, the largest by bytes, and sums up the others in "omittedTraffic"
 * (stats/flowlog.h), so that totals still add up. Physical entries are never limited. A port
 * scan through the tunnel then costs at most about max_entries_per_s entries of disk per second.
 *
 * Threading: loop thread only, like everything here. Memory: the queue holds malloc'd copies of
 * the lines; freed as they are written, and all of it by close.
 */

/* The default bound of the queue. */
#define FT_FLOWWRITER_MAX_QUEUE (16u * 1024 * 1024)
/* syslog's default line bound: a datagram on /dev/log must fit the socket's send buffer. */
#define FT_FLOWWRITER_SYSLOG_LINE (8u * 1024)
/* How long close waits for queued lines before dropping (and counting) the rest. */
#define FT_FLOWWRITER_CLOSE_TIMEOUT_MS 5000
/* Entries classified per loop iteration: a few tens of microseconds. */
#define FT_FLOWWRITER_CLASSIFY_SLICE 1024
/* The default burst of the rate limit, in seconds of max_entries_per_s. */
#define FT_FLOWWRITER_BURST_S 60

struct ft_flowwriter;
struct ft_flowwriter_counters;

/*
 * A failure episode starts: err is a negative errno, op "open" or "write", lost the lines lost
 * so far in total. Runs on the loop, once per episode.
 */
typedef void (*ft_flowwriter_error_cb)(void *arg, int err, const char *op, uint64_t lost);
/* Runs after the memory is freed with the final counters; arg is the config's arg. */
typedef void (*ft_flowwriter_close_cb)(void *arg, const struct ft_flowwriter_counters *final);

struct ft_flowwriter_config {
	const char *path;    /* a file, "-" for stdout, or NULL for syslog; copied */
	int syslog_facility; /* with path NULL: LOG_LOCAL0..., 0 for LOG_DAEMON */
	size_t max_queue;    /* bytes; 0: FT_FLOWWRITER_MAX_QUEUE */
	size_t max_line;     /* 0: FT_FLOWLOG_MAX_LINE, or FT_FLOWWRITER_SYSLOG_LINE for syslog */
	uint64_t close_timeout_ms;	 /* 0: FT_FLOWWRITER_CLOSE_TIMEOUT_MS */
	ft_flowwriter_error_cb error_cb; /* may be NULL */
	void *arg;
	/*
	 * Opens path for appending, on the thread pool (so it must be thread-safe): an fd or a
	 * negative errno. NULL: open(2) with O_WRONLY | O_APPEND | O_CREAT, mode 0640.
	 */
	int (*open_file)(const char *path);
	uint64_t max_entries_per_s; /* the rate limit of submitted windows; 0: none */
	uint64_t max_entries_burst; /* 0: FT_FLOWWRITER_BURST_S seconds' worth */
};

struct ft_flowwriter_counters {
	uint64_t lines;		/* lines written whole */
	uint64_t bytes;		/* their bytes */
	uint64_t lost;		/* lines lost, for any reason below */
	uint64_t lost_overflow; /* ... because the queue was full */
	uint64_t lost_error;	/* ... because a write or an open failed */
	uint64_t lost_format;	/* ... dumps the formatter could not format (ENOMEM): 1 each */
	uint64_t lost_close;	/* ... still queued when close timed out */
	uint64_t errors;	/* failed writes and opens */
	uint64_t episodes;	/* error_cb calls */
	uint64_t reopens;	/* files opened (the first open counts) */
	int last_error;		/* negative errno of the last failure, 0 if none */
	int failing;		/* ... while failing: 0 again once a line is written */
	size_t queued_lines, queued_bytes;
	uint64_t windows;	  /* windows submitted */
	uint64_t omitted;	  /* virtual entries the rate limit left out (summed up instead) */
	uint64_t limited_windows; /* windows that hit the rate limit */
	size_t pending_windows;	  /* submitted, not yet queued as lines */
};

/*
 * Creates a writer; no I/O: the file is opened, on the thread pool, when the first line is
 * written. Returns NULL with errno set (ENOMEM).
 */
struct ft_flowwriter *ft_flowwriter_create(uv_loop_t *loop, const struct ft_flowwriter_config *cfg);

/*
 * Formats one dump on the calling (loop) thread, with no rate limit (tests, small dumps; the
 * tunnel submits windows), meta's lost and max_line are the writer's; and queues its lines. Returns the number of lines queued; 0 when the dump was dropped for want
 * of room (counted and reported, as a write failure is); -ENOMEM when formatting failed
 * (counted in lost_format); -ESHUTDOWN after close. Never blocks.
 */
int ft_flowwriter_write_dump(struct ft_flowwriter *w, const struct ft_flowlog_meta *meta,
			     uint64_t start_ms, uint64_t end_ms, const struct ft_conn_entry *v,
			     size_t nv, const struct ft_conn_entry *p, size_t np);

/* Runs on the loop when a submitted window's entries are no longer needed. */
typedef void (*ft_flowwriter_done_cb)(void *arg, const struct ft_conn_window *win);

/*
 * Submits a window (see "Windows" above); never blocks, never formats on the caller's thread.
 * meta: node_id and node_name are copied; classify and classify_arg must stay usable until done
 * runs; lost, max_line, buckets and the limit are the writer's; has_tun_dropped and tun_dropped
 * are the caller's; the overflow counts are taken from win. done (may be NULL) runs once, from
 * the loop, also when the window is dropped (close timeout); win must stay valid until then (a
 * window with no entries may be the caller's local when done is NULL). 0; -ENOMEM (nothing
 * taken, done not called; counted in lost_format); -ESHUTDOWN after close.
 */
int ft_flowwriter_submit(struct ft_flowwriter *w, const struct ft_flowlog_meta *meta,
			 const struct ft_conn_window *win, ft_flowwriter_done_cb done,
			 void *done_arg);

/*
 * Reopens the file by its path before the next line (SIGHUP after logrotate renamed it); the
 * line in flight, if any, still goes to the old file. No-op for stdout and syslog.
 */
void ft_flowwriter_reopen(struct ft_flowwriter *w);

void ft_flowwriter_get_counters(const struct ft_flowwriter *w, struct ft_flowwriter_counters *out);

/*
 * Formats the windows submitted and writes what is queued (for at most close_timeout_ms; what
 * is left then is dropped and counted in lost_close, a window as one line), closes the file, frees the memory, then runs cb (may be NULL) from the loop.
 * The loop must run until then. w must not be used after this call.
 */
void ft_flowwriter_close(struct ft_flowwriter *w, ft_flowwriter_close_cb cb);

#endif
