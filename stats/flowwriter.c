// SPDX-License-Identifier: MIT
/*
 * The flow-log writer (see flowwriter.h). One state machine drives all I/O, pump(): at most
 * one thread-pool request is in flight, in this order of priority:
 *
 *   close the old fd      after a reopen swapped in the new one
 *   open the file         when it is not open (first line, or the last open failed) or a
 *                         reopen was asked for
 *   write the head line   write() of its unwritten rest, or syslog(), in uv_queue_work()
 *   close the fd          when closing and the queue is empty; then the handles, then free
 *
 * Timers: retry_timer waits RETRY_MS after EAGAIN (a non-blocking pipe on stdout) before the
 * same line is tried again; close_timer bounds how long close waits for the queue.
 *
 * Submitted windows (struct job, a FIFO) have a machine of their own, run by next_job(): the
 * first job not yet classified is classified by classify_idle, a slice per loop iteration; the
 * head job, once classified, is formatted by format_work on the thread pool (fwork, one at a
 * time, so the rate limiter's bucket is only ever touched by one thread); format_done queues
 * its lines for pump() and starts the next.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "stats/flowwriter.h"

/* A pipe that said EAGAIN is usually drained within a few milliseconds by its reader. */
enum { RETRY_MS = 20 };

struct line {
	struct line *next;
	size_t len;	  /* with its '\n' */
	uint64_t reports; /* the lost count this line carries, to re-add if it is lost too */
	char data[];
};

enum dest { DEST_FILE, DEST_STDOUT, DEST_SYSLOG };

/* A submitted window. */
struct job {
	struct job *next;
	const struct ft_conn_window *win; /* for done only */
	struct ft_conn_window hdr;	  /* a copy of what the formatter reads */
	ft_flowwriter_done_cb done;
	void *done_arg;
	struct ft_flowlog_meta meta; /* node_id and node_name point at the copies below */
	char *node_id, *node_name;
	uint8_t *buckets; /* NULL when meta has no classify */
	size_t classified;
	/* Set by format_work. */
	int lines;	  /* in the writer's fbuf */
	uint64_t omitted; /* virtual entries left out by the rate limit */
	uint64_t reports; /* the lost count its first line carries */
};

struct ft_flowwriter {
	uv_loop_t *loop;
	enum dest dest;
	char *path;
	int facility;
	size_t max_queue, max_line;
	uint64_t close_timeout_ms;
	ft_flowwriter_error_cb error_cb;
	void *arg;
	int (*open_file)(const char *path);

	int fd, old_fd;		   /* -1 when none */
	bool reopen_wanted;	   /* open again before the next line */
	bool busy;		   /* a request is in flight (req or work) */
	bool retry_wait;	   /* retry_timer runs for the head line */
	bool in_episode;	   /* since the last failure, nothing was written */
	bool closing, final_close; /* close() called; the last fd close was issued */
	int handles_open;	   /* timers and the idle handle not yet closed */
	uint64_t unreported;	   /* lines lost that no queued line reports yet */

	struct line *head, **tail;
	size_t head_done;	     /* bytes of the head line already written (a pipe) */
	const struct line *inflight; /* the head line, for the thread pool */
	size_t work_done;	     /* set by the thread pool, read after it */
	int work_err;

	uv_fs_t req;
	uv_work_t work;
	uv_timer_t retry_timer, close_timer;

	struct job *jobs, **jobs_tail, *classifying; /* submitted; the first not yet classified */
	bool formatting;			     /* fwork runs for the head job */
	bool close_timed_out;			     /* what is formatted now is dropped */
	uv_work_t fwork;
	uv_idle_t classify_idle;
	/* The rate limiter: only format_work touches these (one at a time). */
	uint64_t rate, burst; /* entries per second, entries */
	uint64_t tokens_m;    /* entries * 1000 */
	uint64_t last_end_ms; /* end of the last window formatted; 0 before the first */
	/* format_work's output, kept from one window to the next (one is formatted at a time). */
	struct ft_flowlog_buf fbuf;
	ft_flowwriter_close_cb close_cb;
	struct ft_flowlog_buf buf;
	struct ft_flowwriter_counters c;
};

static void pump(struct ft_flowwriter *w);
static void on_retry(uv_timer_t *t);

static void fail(struct ft_flowwriter *w, int err, const char *op)
{
	w->c.errors++;
	w->c.last_error = err;
	w->c.failing = err;
	if (!w->in_episode) {
		w->in_episode = true;
		w->c.episodes++;
		if (w->error_cb)
			w->error_cb(w->arg, err, op, w->c.lost);
	}
}

/* Unlinks the head line; lost says whether it counts as lost (its reports carried over). */
static void pop_head(struct ft_flowwriter *w, bool lost, uint64_t *reason)
{
	struct line *l = w->head;

	w->head = l->next;
	if (!w->head)
		w->tail = &w->head;
	w->head_done = 0;
	w->c.queued_lines--;
	w->c.queued_bytes -= l->len;
	if (lost) {
		w->c.lost++;
		(*reason)++;
		w->unreported += 1 + l->reports;
	}
	free(l);
}

static void drop_head(struct ft_flowwriter *w, int err, const char *op)
{
	pop_head(w, true, &w->c.lost_error);
	fail(w, err, op);
}

static void line_written(struct ft_flowwriter *w)
{
	w->c.lines++;
	w->c.bytes += w->head->len;
	w->in_episode = false;
	w->c.failing = 0;
	pop_head(w, false, NULL);
}

static void on_old_closed(uv_fs_t *req)
{
	struct ft_flowwriter *w = req->data;

	uv_fs_req_cleanup(req);
	w->busy = false;
	pump(w);
}

/*
 * On the thread pool: opens the file, through the config's open_file when there is one (the
 * privileged opener of a tunnel that dropped its privileges).
 */
static void open_work(uv_work_t *req)
{
	struct ft_flowwriter *w = req->data;

	if (w->open_file) {
		w->work_err = w->open_file(w->path);
		return;
	}
	w->work_err = open(w->path, O_WRONLY | O_APPEND | O_CREAT | O_NOCTTY | O_CLOEXEC, 0640);
	if (w->work_err < 0)
		w->work_err = -errno;
}

static void open_done(uv_work_t *req, int status)
{
	struct ft_flowwriter *w = req->data;
	int rc = status < 0 ? status : w->work_err;

	w->busy = false;
	if (rc < 0) {
		/*
		 * With no file open the head line has nowhere to go: it is lost, and the next line
		 * tries again. A failed reopen keeps the old file, which is better than nothing.
		 */
		if (w->fd < 0 && w->head)
			drop_head(w, rc, "open");
		else
			fail(w, rc, "open");
	} else {
		w->old_fd = w->fd;
		w->fd = rc;
		w->c.reopens++;
	}
	pump(w);
}

/*
 * On the thread pool: writes the rest of the head line, looping over short writes. A file
 * that fails after part of the line (ENOSPC) is cut back to where the line began, so that the
 * next line does not glue itself to a torn one. The loop thread touches neither the line nor
 * the fd while the request is in flight.
 */
static void write_work(uv_work_t *req)
{
	struct ft_flowwriter *w = req->data;
	const struct line *l = w->inflight;
	size_t done = w->head_done;
	struct stat st;

	w->work_err = 0;
	while (done < l->len) {
		ssize_t r = write(w->fd, l->data + done, l->len - done);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			w->work_err = -errno;
			break;
		}
		done += (size_t)r;
	}
	if (w->work_err && w->work_err != -EAGAIN && done > 0 && fstat(w->fd, &st) == 0 &&
	    S_ISREG(st.st_mode) && (uint64_t)st.st_size >= done)
		(void)!ftruncate(w->fd, st.st_size - (off_t)done);
	w->work_done = done;
}

static void write_done(uv_work_t *req, int status)
{
	struct ft_flowwriter *w = req->data;

	w->busy = false;
	if (status < 0) {
		drop_head(w, status, "write");
	} else if (w->work_err == -EAGAIN) {
		/* A non-blocking pipe is full: the rest goes again after a pause. */
		w->head_done = w->work_done;
		w->retry_wait = true;
		uv_timer_start(&w->retry_timer, on_retry, RETRY_MS, 0);
	} else if (w->work_err) {
		drop_head(w, w->work_err, "write");
	} else {
		line_written(w);
	}
	pump(w);
}

static void syslog_work(uv_work_t *req)
{
	struct ft_flowwriter *w = req->data;
	const struct line *l = w->inflight;

	/* Without the '\n': syslog frames the message itself. */
	syslog(w->facility | LOG_INFO, "%.*s", (int)(l->len - 1), l->data);
}

static void syslog_done(uv_work_t *req, int status)
{
	struct ft_flowwriter *w = req->data;

	w->busy = false;
	if (status < 0)
		drop_head(w, status, "write");
	else
		line_written(w);
	pump(w);
}

static void on_retry(uv_timer_t *t)
{
	struct ft_flowwriter *w = t->data;

	w->retry_wait = false;
	pump(w);
}

static void on_handle_closed(uv_handle_t *h)
{
	struct ft_flowwriter *w = h->data;
	ft_flowwriter_close_cb cb;
	struct ft_flowwriter_counters c;
	void *arg;

	if (--w->handles_open > 0)
		return;
	cb = w->close_cb;
	arg = w->arg;
	c = w->c;
	free(w->buf.data);
	free(w->fbuf.data);
	free(w->path);
	free(w);
	if (cb)
		cb(arg, &c);
}

static void on_final_close(uv_fs_t *req)
{
	struct ft_flowwriter *w = req->data;

	uv_fs_req_cleanup(req);
	w->busy = false;
	w->fd = -1;
	pump(w);
}

static void finish_close(struct ft_flowwriter *w)
{
	if (w->fd > STDOUT_FILENO && !w->final_close) {
		w->final_close = true;
		w->busy = true;
		if (uv_fs_close(w->loop, &w->req, w->fd, on_final_close) == 0)
			return;
		w->busy = false;
		w->fd = -1;
	}
	if (w->handles_open == 3 && !uv_is_closing((uv_handle_t *)&w->retry_timer)) {
		uv_close((uv_handle_t *)&w->retry_timer, on_handle_closed);
		uv_close((uv_handle_t *)&w->close_timer, on_handle_closed);
		uv_close((uv_handle_t *)&w->classify_idle, on_handle_closed);
	}
}

/* Starts the next request, if any; see the list at the top. */
static void pump(struct ft_flowwriter *w)
{
	int rc;

	while (!w->busy && !w->retry_wait) {
		w->req.data = w;
		w->work.data = w;
		if (w->old_fd >= 0) {
			int fd = w->old_fd;

			w->old_fd = -1;
			w->busy = true;
			if (uv_fs_close(w->loop, &w->req, fd, on_old_closed) < 0)
				w->busy = false;
			continue;
		}
		if (!w->head) {
			if (w->closing && !w->jobs)
				finish_close(w);
			return;
		}
		if (w->dest == DEST_FILE && (w->fd < 0 || w->reopen_wanted)) {
			w->reopen_wanted = false;
			w->busy = true;
			rc = uv_queue_work(w->loop, &w->work, open_work, open_done);
			if (rc < 0) {
				w->busy = false;
				if (w->fd < 0)
					drop_head(w, rc, "open");
				else
					fail(w, rc, "open");
			}
			continue;
		}
		w->busy = true;
		w->inflight = w->head;
		if (w->dest == DEST_SYSLOG)
			rc = uv_queue_work(w->loop, &w->work, syslog_work, syslog_done);
		else
			rc = uv_queue_work(w->loop, &w->work, write_work, write_done);
		if (rc < 0) {
			w->busy = false;
			drop_head(w, rc, "write");
		}
	}
}

struct ft_flowwriter *ft_flowwriter_create(uv_loop_t *loop, const struct ft_flowwriter_config *cfg)
{
	struct ft_flowwriter *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->loop = loop;
	if (!cfg->path) {
		w->dest = DEST_SYSLOG;
		w->facility = cfg->syslog_facility ? cfg->syslog_facility : LOG_DAEMON;
	} else if (strcmp(cfg->path, "-") == 0) {
		w->dest = DEST_STDOUT;
	} else {
		w->dest = DEST_FILE;
		if (!(w->path = strdup(cfg->path))) {
			free(w);
			errno = ENOMEM;
			return NULL;
		}
	}
	w->max_queue = cfg->max_queue ? cfg->max_queue : FT_FLOWWRITER_MAX_QUEUE;
	w->max_line = cfg->max_line	       ? cfg->max_line
		      : w->dest == DEST_SYSLOG ? FT_FLOWWRITER_SYSLOG_LINE
					       : FT_FLOWLOG_MAX_LINE;
	w->close_timeout_ms = cfg->close_timeout_ms ? cfg->close_timeout_ms
						    : FT_FLOWWRITER_CLOSE_TIMEOUT_MS;
	w->error_cb = cfg->error_cb;
	w->arg = cfg->arg;
	w->open_file = cfg->open_file;
	w->fd = w->dest == DEST_STDOUT ? STDOUT_FILENO : -1;
	w->old_fd = -1;
	w->tail = &w->head;
	uv_timer_init(loop, &w->retry_timer);
	uv_timer_init(loop, &w->close_timer);
	w->retry_timer.data = w;
	w->close_timer.data = w;
	uv_idle_init(loop, &w->classify_idle);
	w->classify_idle.data = w;
	w->jobs_tail = &w->jobs;
	w->rate = cfg->max_entries_per_s;
	w->burst = cfg->max_entries_burst ? cfg->max_entries_burst
					  : cfg->max_entries_per_s * FT_FLOWWRITER_BURST_S;
	w->handles_open = 3;
	return w;
}

/*
 * Queues the n lines of buf (len bytes, each ending in '\n') whole or not at all; the first
 * carries reports, the lost count written into it. Returns the lines queued, or 0 when they did
 * not fit (counted as lost, and reported again by the next line formatted).
 */
static int queue_lines(struct ft_flowwriter *w, const char *buf, size_t len, int n,
		       uint64_t reports)
{
	struct line *first = NULL, **link = &first, *l;
	size_t off = 0;
	int queued = 0;

	if (w->c.queued_bytes + len > w->max_queue)
		goto overflow;
	/* Copy every line first, so that the dump is queued whole or not at all. */
	while (off < len) {
		const char *s = buf + off;
		size_t ll = (size_t)((const char *)memchr(s, '\n', len - off) - s) + 1;

		if (!(l = malloc(sizeof(*l) + ll)))
			goto overflow;
		l->next = NULL;
		l->len = ll;
		l->reports = off == 0 ? reports : 0;
		memcpy(l->data, s, ll);
		*link = l;
		link = &l->next;
		off += ll;
		queued++;
	}
	*w->tail = first;
	w->tail = link;
	w->c.queued_lines += (size_t)queued;
	w->c.queued_bytes += len;
	pump(w);
	return queued;

overflow:
	while ((l = first)) {
		first = l->next;
		free(l);
	}
	w->c.lost += (uint64_t)n;
	w->c.lost_overflow += (uint64_t)n;
	w->unreported += (uint64_t)n + reports;
	fail(w, -ENOBUFS, "queue");
	return 0;
}

/* A window (or dump) the formatter could not format: one message lost. */
static void format_failed(struct ft_flowwriter *w, int err, uint64_t reports)
{
	w->c.lost++;
	w->c.lost_format++;
	w->unreported += 1 + reports;
	fail(w, err, "format");
}

int ft_flowwriter_write_dump(struct ft_flowwriter *w, const struct ft_flowlog_meta *meta,
			     uint64_t start_ms, uint64_t end_ms, const struct ft_conn_entry *v,
			     size_t nv, const struct ft_conn_entry *p, size_t np)
{
	struct ft_flowlog_meta m = *meta;
	uint64_t reports = w->unreported;
	int n;

	if (w->closing)
		return -ESHUTDOWN;
	m.lost = reports;
	m.max_line = w->max_line;
	m.limited = false;
	w->unreported = 0;
	w->buf.len = 0;
	n = ft_flowlog_format(&w->buf, &m, start_ms, end_ms, v, nv, p, np);
	if (n < 0) {
		format_failed(w, n, reports);
		return n;
	}
	return queue_lines(w, w->buf.data, w->buf.len, n, reports);
}

/* ---- submitted windows ------------------------------------------------------------------ */

static void next_job(struct ft_flowwriter *w);

static void job_free(struct job *j)
{
	free(j->node_id);
	free(j->node_name);
	free(j->buckets);
	free(j);
}

/* Unlinks the head job; its window goes back to its owner. */
static struct job *pop_job(struct ft_flowwriter *w)
{
	struct job *j = w->jobs;

	w->jobs = j->next;
	if (!w->jobs)
		w->jobs_tail = &w->jobs;
	w->c.pending_windows--;
	return j;
}

static void job_done(struct job *j)
{
	if (j->done)
		j->done(j->done_arg, j->win);
	j->done = NULL;
}

static bool job_classified(const struct job *j)
{
	return !j->buckets || j->classified == j->hdr.nv;
}

/* On the loop: a slice of the first job not yet classified, then the next job's turn. */
static void on_classify(uv_idle_t *h)
{
	struct ft_flowwriter *w = h->data;
	struct job *j = w->classifying;
	size_t end;

	if (!j) {
		uv_idle_stop(h);
		return;
	}
	end = j->classified + FT_FLOWWRITER_CLASSIFY_SLICE;
	if (end > j->hdr.nv)
		end = j->hdr.nv;
	for (; j->classified < end; j->classified++)
		j->buckets[j->classified] =
			ft_flowlog_bucket(&j->meta, &j->hdr.v[j->classified].key);
	if (j->classified == j->hdr.nv) {
		/* Jobs are classified in order: the next one still to do is behind this one. */
		for (j = j->next; j && job_classified(j); j = j->next)
			;
		w->classifying = j;
		next_job(w);
	}
}

/* Tokens for a window ending at end_ms: the bucket refilled since the last window. */
static void refill(struct ft_flowwriter *w, uint64_t end_ms)
{
	uint64_t cap = w->burst * 1000;

	if (w->last_end_ms == 0) {
		w->tokens_m = cap; /* a full bucket to start with */
	} else if (end_ms > w->last_end_ms) {
		uint64_t add = (end_ms - w->last_end_ms) * w->rate;

		w->tokens_m = add > cap - w->tokens_m ? cap : w->tokens_m + add;
	}
	if (end_ms > w->last_end_ms)
		w->last_end_ms = end_ms;
}

/* On the thread pool: the head job's lines, into its own buffer. */
static void format_work(uv_work_t *req)
{
	struct ft_flowwriter *w = req->data;
	struct job *j = w->jobs;
	size_t listed;

	j->meta.buckets = j->buckets;
	j->meta.max_line = w->max_line;
	j->meta.lost = j->reports;
	j->meta.overflow_v = j->hdr.overflow_v;
	j->meta.overflow_p = j->hdr.overflow_p;
	if (w->rate) {
		refill(w, j->hdr.end_ms);
		j->meta.limited = true;
		j->meta.max_entries = (size_t)(w->tokens_m / 1000);
	}
	w->fbuf.len = 0;
	j->lines = ft_flowlog_format(&w->fbuf, &j->meta, j->hdr.start_ms, j->hdr.end_ms, j->hdr.v,
				     j->hdr.nv, j->hdr.p, j->hdr.np);
	if (w->rate && j->lines >= 0) {
		listed = j->hdr.nv < j->meta.max_entries ? j->hdr.nv : j->meta.max_entries;
		w->tokens_m -= (uint64_t)listed * 1000;
		j->omitted = j->hdr.nv - listed;
	}
}

static void format_done(uv_work_t *req, int status)
{
	struct ft_flowwriter *w = req->data;
	struct job *j = pop_job(w);

	w->formatting = false;
	if (status < 0 || j->lines < 0) {
		format_failed(w, status < 0 ? status : j->lines, j->reports);
	} else if (w->close_timed_out) {
		w->c.lost++;
		w->c.lost_close++;
	} else {
		w->c.omitted += j->omitted;
		w->c.limited_windows += j->omitted > 0;
		queue_lines(w, w->fbuf.data, w->fbuf.len, j->lines, j->reports);
	}
	next_job(w);
	/* Last: the owner may submit again from here (a dump that waited for this window). */
	job_done(j);
	job_free(j);
	pump(w);
}

/* Starts whatever the jobs can do next: classification slices, the head job's format. */
static void next_job(struct ft_flowwriter *w)
{
	struct job *j = w->jobs;
	int rc;

	if (w->classifying)
		uv_idle_start(&w->classify_idle, on_classify);
	else
		uv_idle_stop(&w->classify_idle);
	if (w->formatting || !j || !job_classified(j))
		return;
	/* The lost count is taken now, on the loop: the thread writes it into the first line. */
	j->reports = w->unreported;
	w->unreported = 0;
	w->formatting = true;
	w->fwork.data = w;
	rc = uv_queue_work(w->loop, &w->fwork, format_work, format_done);
	if (rc < 0) {
		w->formatting = false;
		pop_job(w);
		format_failed(w, rc, j->reports);
		job_done(j);
		job_free(j);
		next_job(w);
	}
}

int ft_flowwriter_submit(struct ft_flowwriter *w, const struct ft_flowlog_meta *meta,
			 const struct ft_conn_window *win, ft_flowwriter_done_cb done,
			 void *done_arg)
{
	struct job *j;

	if (w->closing)
		return -ESHUTDOWN;
	if (!(j = calloc(1, sizeof(*j))))
		goto nomem;
	j->win = win;
	j->hdr = *win;
	j->done = done;
	j->done_arg = done_arg;
	j->meta = *meta;
	j->node_id = strdup(meta->node_id);
	j->node_name = meta->node_name ? strdup(meta->node_name) : NULL;
	if (meta->classify && win->nv)
		j->buckets = malloc(win->nv);
	if (!j->node_id || (meta->node_name && !j->node_name) ||
	    (meta->classify && win->nv && !j->buckets)) {
		job_free(j);
		goto nomem;
	}
	j->meta.node_id = j->node_id;
	j->meta.node_name = j->node_name;
	*w->jobs_tail = j;
	w->jobs_tail = &j->next;
	w->c.windows++;
	w->c.pending_windows++;
	if (!w->classifying && !job_classified(j))
		w->classifying = j;
	next_job(w);
	return 0;
nomem:
	format_failed(w, -ENOMEM, 0);
	return -ENOMEM;
}

void ft_flowwriter_reopen(struct ft_flowwriter *w)
{
	if (w->dest != DEST_FILE || w->closing)
		return;
	w->reopen_wanted = true;
	pump(w);
}

void ft_flowwriter_get_counters(const struct ft_flowwriter *w, struct ft_flowwriter_counters *out)
{
	*out = w->c;
}

static void on_close_timeout(uv_timer_t *t)
{
	struct ft_flowwriter *w = t->data;

	/*
	 * The window being formatted cannot be taken back: its lines are dropped when it is
	 * done. Every other window is dropped now, a message lost each.
	 */
	w->close_timed_out = true;
	while (w->jobs && (!w->formatting || w->jobs->next)) {
		struct job *j = w->jobs;

		if (w->formatting) {
			j = w->jobs->next;
			w->jobs->next = j->next;
			if (w->jobs_tail == &j->next)
				w->jobs_tail = &w->jobs->next;
			w->c.pending_windows--;
		} else {
			pop_job(w);
		}
		w->c.lost++;
		w->c.lost_close++;
		job_done(j);
		job_free(j);
	}
	w->classifying = NULL;
	uv_idle_stop(&w->classify_idle);
	/* The line in flight cannot be taken back; every other one is dropped now. */
	if (w->retry_wait) {
		uv_timer_stop(&w->retry_timer);
		w->retry_wait = false;
	}
	while (w->head && (!w->busy || w->head->next)) {
		if (w->busy) {
			struct line *l = w->head->next;

			w->head->next = l->next;
			if (w->tail == &l->next)
				w->tail = &w->head->next;
			w->c.queued_lines--;
			w->c.queued_bytes -= l->len;
			w->c.lost++;
			w->c.lost_close++;
			free(l);
		} else {
			pop_head(w, true, &w->c.lost_close);
		}
	}
	pump(w);
}

void ft_flowwriter_close(struct ft_flowwriter *w, ft_flowwriter_close_cb cb)
{
	if (w->closing)
		return;
	w->closing = true;
	w->close_cb = cb;
	w->reopen_wanted = false;
	uv_timer_start(&w->close_timer, on_close_timeout, w->close_timeout_ms, 0);
	pump(w);
}
