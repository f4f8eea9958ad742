// SPDX-License-Identifier: MIT
/*
 * IPFIX encoding and export (see ipfix.h). Runs per dump, not per packet. The encoder writes
 * into one message buffer on the stack, big-endian by byte stores, and checks the room left
 * before every set header and record, so no message ever exceeds max_msg.
 *
 * Timer: refresh_timer re-sends the template set to every collector each template_refresh_ms
 * (RFC 7011 section 8.4: over UDP, templates are sent again periodically, since a collector
 * may start, or lose a datagram, at any time).
 *
 * Submitted windows (struct xjob, a FIFO) are encoded and sent by export_work on the thread
 * pool, one at a time: the encoder (sequence number) and the sockets are that thread's while a
 * window is in flight, and the loop touches neither; the counters of the sends go to the job
 * and are added to the exporter's on the loop (export_done).
 */
#include "config.h"

#include <assert.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/sockaddr.h"
#include "base/text.h"
#include "stats/ipfix.h"

struct field {
	uint16_t ie, len;
};

struct template
{
	uint16_t id;
	uint16_t n;
	struct field f[10];
};

#define F(ie, len)                    \
	{                             \
		FT_IPFIX_IE_##ie, len \
	}
#define COMMON                                                                                  \
	F(PROTOCOL, 1), F(DIRECTION, 1), F(PACKET_DELTA, 8), F(OCTET_DELTA, 8), F(START_MS, 8), \
		F(END_MS, 8)

/* Indexed by template id - FT_IPFIX_T_FIRST. */
static const struct template tmpls[FT_IPFIX_T_COUNT] = {
	{ FT_IPFIX_T_V4,
	  10,
	  { F(SRC_V4, 4), F(DST_V4, 4), F(SRC_PORT, 2), F(DST_PORT, 2), COMMON } },
	{ FT_IPFIX_T_V6,
	  10,
	  { F(SRC_V6, 16), F(DST_V6, 16), F(SRC_PORT, 2), F(DST_PORT, 2), COMMON } },
	{ FT_IPFIX_T_PHYS_V4_OUT, 8, { F(DST_V4, 4), F(DST_PORT, 2), COMMON } },
	{ FT_IPFIX_T_PHYS_V4_IN, 8, { F(SRC_V4, 4), F(SRC_PORT, 2), COMMON } },
	{ FT_IPFIX_T_PHYS_V6_OUT, 8, { F(DST_V6, 16), F(DST_PORT, 2), COMMON } },
	{ FT_IPFIX_T_PHYS_V6_IN, 8, { F(SRC_V6, 16), F(SRC_PORT, 2), COMMON } },
};
/* The options template: its first field is the scope. */
static const struct template opt_tmpl = { FT_IPFIX_T_IGNORED,
					  2,
					  { F(DOMAIN_ID, 4), F(IGNORED_PACKETS, 8) } };
#undef COMMON
#undef F

/* One data record before encoding: the fields of every template, by name. */
struct record {
	const struct ft_addr *src, *dst;
	uint16_t sport, dport;
	uint8_t proto, dir;
	uint64_t packets, bytes, start_ms, end_ms;
	uint32_t domain;
	uint64_t ignored;
};

static uint8_t *put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return p + 2;
}

static uint8_t *put32(uint8_t *p, uint32_t v)
{
	p = put16(p, (uint16_t)(v >> 16));
	return put16(p, (uint16_t)v);
}

static uint8_t *put64(uint8_t *p, uint64_t v)
{
	p = put32(p, (uint32_t)(v >> 32));
	return put32(p, (uint32_t)v);
}

static size_t record_len(const struct template *t)
{
	size_t n = 0;

	for (uint16_t i = 0; i < t->n; i++)
		n += t->f[i].len;
	return n;
}

static size_t template_set_len(void)
{
	size_t n = FT_IPFIX_SET_HDR_LEN;

	for (int i = 0; i < FT_IPFIX_T_COUNT; i++)
		n += 4 + 4u * tmpls[i].n;
	return n;
}

/* The options template set: its header, then id, field count, scope field count, fields. */
static size_t options_set_len(void)
{
	return FT_IPFIX_SET_HDR_LEN + 6 + 4u * opt_tmpl.n;
}

static uint8_t *put_record(uint8_t *p, const struct template *t, const struct record *r)
{
	for (uint16_t i = 0; i < t->n; i++) {
		switch (t->f[i].ie) {
		case FT_IPFIX_IE_SRC_V4:
		case FT_IPFIX_IE_SRC_V6:
			memcpy(p, r->src->bytes, t->f[i].len);
			p += t->f[i].len;
			break;
		case FT_IPFIX_IE_DST_V4:
		case FT_IPFIX_IE_DST_V6:
			memcpy(p, r->dst->bytes, t->f[i].len);
			p += t->f[i].len;
			break;
		case FT_IPFIX_IE_SRC_PORT:
			p = put16(p, r->sport);
			break;
		case FT_IPFIX_IE_DST_PORT:
			p = put16(p, r->dport);
			break;
		case FT_IPFIX_IE_PROTOCOL:
			*p++ = r->proto;
			break;
		case FT_IPFIX_IE_DIRECTION:
			*p++ = r->dir;
			break;
		case FT_IPFIX_IE_PACKET_DELTA:
			p = put64(p, r->packets);
			break;
		case FT_IPFIX_IE_DOMAIN_ID:
			p = put32(p, r->domain);
			break;
		case FT_IPFIX_IE_IGNORED_PACKETS:
			p = put64(p, r->ignored);
			break;
		case FT_IPFIX_IE_OCTET_DELTA:
			p = put64(p, r->bytes);
			break;
		case FT_IPFIX_IE_START_MS:
			p = put64(p, r->start_ms);
			break;
		case FT_IPFIX_IE_END_MS:
			p = put64(p, r->end_ms);
			break;
		}
	}
	return p;
}

int ft_ipfix_encoder_init(struct ft_ipfix_encoder *e, uint32_t domain_id, size_t max_msg)
{
	if (max_msg < FT_IPFIX_MIN_MSG || max_msg > FT_IPFIX_MAX_MSG)
		return -EINVAL;
	memset(e, 0, sizeof(*e));
	e->domain_id = domain_id;
	e->max_msg = max_msg;
	return 0;
}

/* The message being built. */
struct msg {
	struct ft_ipfix_encoder *e;
	uint32_t export_time;
	ft_ipfix_emit_fn emit;
	void *arg;
	uint8_t buf[FT_IPFIX_MAX_MSG];
	size_t len;	  /* 0: no message open */
	size_t set_start; /* offset of the open data set's header, 0 if none */
	uint16_t set_id;
	uint32_t records; /* data records in this message */
	int sent;
	int err;
};

static void msg_open(struct msg *m)
{
	uint8_t *p = m->buf;

	/* The length and sequence number are written when the message is sent. */
	p = put16(p, FT_IPFIX_VERSION);
	p = put16(p, 0);
	p = put32(p, m->export_time);
	p = put32(p, m->e->seq);
	put32(p, m->e->domain_id);
	m->len = FT_IPFIX_HDR_LEN;
	m->set_start = 0;
	m->records = 0;
}

static void set_close(struct msg *m)
{
	if (m->set_start)
		put16(m->buf + m->set_start + 2, (uint16_t)(m->len - m->set_start));
	m->set_start = 0;
}

static void msg_send(struct msg *m)
{
	int rc;

	set_close(m);
	put16(m->buf + 2, (uint16_t)m->len);
	put32(m->buf + 8, m->e->seq);
	m->e->seq += m->records;
	m->e->records += m->records;
	m->e->messages++;
	rc = m->emit(m->arg, m->buf, m->len);
	m->len = 0;
	if (rc < 0)
		m->err = rc;
	else
		m->sent++;
}

/* The template set and the options template set. */
static void put_templates(struct msg *m)
{
	uint8_t *p = m->buf + m->len;

	p = put16(p, FT_IPFIX_SET_TEMPLATE);
	p = put16(p, (uint16_t)template_set_len());
	for (int i = 0; i < FT_IPFIX_T_COUNT; i++) {
		p = put16(p, tmpls[i].id);
		p = put16(p, tmpls[i].n);
		for (uint16_t j = 0; j < tmpls[i].n; j++) {
			p = put16(p, tmpls[i].f[j].ie);
			p = put16(p, tmpls[i].f[j].len);
		}
	}
	p = put16(p, FT_IPFIX_SET_OPTIONS_TEMPLATE);
	p = put16(p, (uint16_t)options_set_len());
	p = put16(p, opt_tmpl.id);
	p = put16(p, opt_tmpl.n);
	p = put16(p, 1); /* the scope: observationDomainId */
	for (uint16_t j = 0; j < opt_tmpl.n; j++) {
		p = put16(p, opt_tmpl.f[j].ie);
		p = put16(p, opt_tmpl.f[j].len);
	}
	m->len = (size_t)(p - m->buf);
}

static void add_record(struct msg *m, const struct template *t, const struct record *r)
{
	size_t rl = record_len(t);

	if (m->err)
		return;
	/* A new message when the record (and its set header, if the set must open) is too big. */
	if (m->len) {
		size_t need = rl + (m->set_start && m->set_id == t->id ? 0 : FT_IPFIX_SET_HDR_LEN);

		if (m->len + need > m->e->max_msg)
			msg_send(m);
		if (m->err)
			return;
	}
	if (!m->len)
		msg_open(m);
	if (!m->set_start || m->set_id != t->id) {
		set_close(m);
		m->set_start = m->len;
		m->set_id = t->id;
		put16(m->buf + m->len, t->id);
		m->len += FT_IPFIX_SET_HDR_LEN;
	}
	m->len = (size_t)(put_record(m->buf + m->len, t, r) - m->buf);
	m->records++;
}

static uint8_t wire_proto(uint16_t proto)
{
	return proto == FT_IPPROTO_FRAGMENT ? 255 : (uint8_t)proto;
}

static bool has_addrs(const struct ft_conn_key *k)
{
	return k->proto != FT_IPPROTO_INVALID && k->src.family == k->dst.family &&
	       (k->src.family == AF_INET || k->src.family == AF_INET6);
}

/* The records of one virtual template: tx egress as keyed, rx ingress swapped. */
static void add_virtual(struct msg *m, int family, uint64_t start_ms, uint64_t end_ms,
			const struct ft_conn_entry *v, size_t nv)
{
	const struct template *t =
		&tmpls[(family == AF_INET ? FT_IPFIX_T_V4 : FT_IPFIX_T_V6) - FT_IPFIX_T_FIRST];

	for (size_t i = 0; i < nv; i++) {
		const struct ft_conn_key *k = &v[i].key;
		struct record r = { .proto = wire_proto(k->proto),
				    .start_ms = start_ms,
				    .end_ms = end_ms };

		if (!has_addrs(k) || k->src.family != family)
			continue;
		if (v[i].tx_packets || v[i].tx_bytes) {
			r.src = &k->src;
			r.dst = &k->dst;
			r.sport = k->src_port;
			r.dport = k->dst_port;
			r.dir = FT_IPFIX_EGRESS;
			r.packets = v[i].tx_packets;
			r.bytes = v[i].tx_bytes;
			add_record(m, t, &r);
		}
		if (v[i].rx_packets || v[i].rx_bytes) {
			r.src = &k->dst;
			r.dst = &k->src;
			r.sport = k->dst_port;
			r.dport = k->src_port;
			r.dir = FT_IPFIX_INGRESS;
			r.packets = v[i].rx_packets;
			r.bytes = v[i].rx_bytes;
			add_record(m, t, &r);
		}
	}
}

/* The records of one physical template: the endpoint is the destination out, the source in. */
static void add_physical(struct msg *m, uint16_t tid, uint64_t start_ms, uint64_t end_ms,
			 const struct ft_conn_entry *p, size_t np)
{
	const struct template *t = &tmpls[tid - FT_IPFIX_T_FIRST];
	int family = tid == FT_IPFIX_T_PHYS_V4_OUT || tid == FT_IPFIX_T_PHYS_V4_IN ? AF_INET
										   : AF_INET6;
	bool out = tid == FT_IPFIX_T_PHYS_V4_OUT || tid == FT_IPFIX_T_PHYS_V6_OUT;

	for (size_t i = 0; i < np; i++) {
		const struct ft_conn_key *k = &p[i].key;
		struct record r = { .src = &k->dst,
				    .dst = &k->dst,
				    .sport = k->dst_port,
				    .dport = k->dst_port,
				    .proto = IPPROTO_UDP,
				    .dir = out ? FT_IPFIX_EGRESS : FT_IPFIX_INGRESS,
				    .packets = out ? p[i].tx_packets : p[i].rx_packets,
				    .bytes = out ? p[i].tx_bytes : p[i].rx_bytes,
				    .start_ms = start_ms,
				    .end_ms = end_ms };

		if (k->dst.family != family || (!r.packets && !r.bytes))
			continue;
		add_record(m, t, &r);
	}
}

int ft_ipfix_encode(struct ft_ipfix_encoder *e, uint32_t export_time, bool with_templates,
		    uint64_t start_ms, uint64_t end_ms, const struct ft_conn_entry *v, size_t nv,
		    const struct ft_conn_entry *p, size_t np, ft_ipfix_emit_fn emit, void *arg)
{
	struct msg *m = malloc(sizeof(*m));
	int rc;

	/* 64 KiB is a lot for a loop thread's stack; the heap is fine once per dump. */
	if (!m)
		return -ENOMEM;
	m->e = e;
	m->export_time = export_time;
	m->emit = emit;
	m->arg = arg;
	m->len = 0;
	m->sent = 0;
	m->err = 0;
	if (with_templates) {
		msg_open(m);
		put_templates(m);
	}
	for (size_t i = 0; i < nv; i++)
		if (!has_addrs(&v[i].key))
			e->skipped++;
	add_virtual(m, AF_INET, start_ms, end_ms, v, nv);
	add_virtual(m, AF_INET6, start_ms, end_ms, v, nv);
	for (uint16_t tid = FT_IPFIX_T_PHYS_V4_OUT; tid <= FT_IPFIX_T_PHYS_V6_IN; tid++)
		add_physical(m, tid, start_ms, end_ms, p, np);
	if (e->has_ignored) {
		struct record r = { .domain = e->domain_id, .ignored = e->ignored_total };

		add_record(m, &opt_tmpl, &r);
	}
	if (m->len && !m->err)
		msg_send(m);
	rc = m->err ? m->err : m->sent;
	free(m);
	return rc;
}

/* ---- the exporter ------------------------------------------------------------------------ */

struct xjob {
	struct xjob *next;
	const struct ft_conn_window *win;
	bool has_ignored;
	uint64_t ignored_total;
	ft_ipfix_done_cb done;
	void *done_arg;
	bool templates;
	struct ft_ipfix_counters c; /* the sends of this window */
};

struct ft_ipfix_exporter {
	uv_loop_t *loop;
	struct xjob *jobs, **jobs_tail; /* the head is in flight when busy */
	bool busy, templates_due, closing;
	uv_work_t work;
	struct sockaddr_storage collectors[FT_IPFIX_MAX_COLLECTORS];
	int fds[FT_IPFIX_MAX_COLLECTORS];
	size_t n;
	uint64_t refresh_ms;
	bool started;
	void *arg;
	ft_ipfix_close_cb close_cb;
	uv_timer_t refresh_timer;
	struct ft_ipfix_encoder enc;
	struct ft_ipfix_counters c;
};

int ft_ipfix_parse_collector(const char *s, struct sockaddr_storage *out)
{
	char host[256];
	const char *port = NULL, *colon;
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM, .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res;
	uint64_t port_num;
	size_t hl;

	if (s[0] == '[') {
		const char *end = strchr(s, ']');

		if (!end || (end[1] != '\0' && end[1] != ':'))
			return -EINVAL;
		hl = (size_t)(end - s - 1);
		s++;
		port = end[1] == ':' ? end + 2 : NULL;
		hints.ai_family = AF_INET6;
		hints.ai_flags |= AI_NUMERICHOST;
	} else if ((colon = strrchr(s, ':')) && strchr(s, ':') == colon) {
		hl = (size_t)(colon - s);
		port = colon + 1;
	} else {
		/* No port, or a bare IPv6 address. */
		hl = strlen(s);
	}
	if (hl == 0 || hl >= sizeof(host) ||
	    (port && (strlen(port) > 5 || ft_parse_uint(port, 65535, &port_num) < 0 || !port_num)))
		return -EINVAL;
	memcpy(host, s, hl);
	host[hl] = '\0';
	if (getaddrinfo(host, port ? port : "4739", &hints, &res) != 0)
		return -ENOENT;
	memset(out, 0, sizeof(*out));
	memcpy(out, res->ai_addr, res->ai_addrlen);
	freeaddrinfo(res);
	return 0;
}

struct ft_ipfix_exporter *ft_ipfix_exporter_create(uv_loop_t *loop,
						   const struct ft_ipfix_config *cfg)
{
	struct ft_ipfix_exporter *x;
	size_t mtu = cfg->mtu ? cfg->mtu : 1500;

	if (cfg->n_collectors == 0 || cfg->n_collectors > FT_IPFIX_MAX_COLLECTORS ||
	    mtu < FT_IPFIX_MIN_MSG + 48) {
		errno = EINVAL;
		return NULL;
	}
	if (!(x = calloc(1, sizeof(*x))))
		return NULL;
	if (mtu - 48 > FT_IPFIX_MAX_MSG)
		mtu = FT_IPFIX_MAX_MSG + 48;
	ft_ipfix_encoder_init(&x->enc, cfg->domain_id, mtu - 48);
	x->loop = loop;
	x->n = cfg->n_collectors;
	for (size_t i = 0; i < x->n; i++) {
		x->collectors[i] = cfg->collectors[i];
		x->fds[i] = -1;
	}
	x->refresh_ms = cfg->template_refresh_ms ? cfg->template_refresh_ms
						 : FT_IPFIX_TEMPLATE_REFRESH_MS;
	x->arg = cfg->arg;
	x->jobs_tail = &x->jobs;
	uv_timer_init(loop, &x->refresh_timer);
	x->refresh_timer.data = x;
	return x;
}

struct send_ctx {
	struct ft_ipfix_exporter *x;
	struct ft_ipfix_counters *c; /* where the sends are counted */
};

/* Sends one message to every collector; errors are counted, never fatal. */
static int send_all(void *arg, const uint8_t *msg, size_t len)
{
	struct send_ctx *ctx = arg;
	struct ft_ipfix_exporter *x = ctx->x;
	struct ft_ipfix_counters *c = ctx->c;

	for (size_t i = 0; i < x->n; i++) {
		ssize_t r = send(x->fds[i], msg, len, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (r == (ssize_t)len) {
			c->messages++;
			c->bytes += len;
			continue;
		}
		c->send_errors++;
		c->last_error = r < 0 ? -errno : -EMSGSIZE;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS))
			c->send_again++;
	}
	return 0;
}

/* Encodes and sends; the sends are counted in c. Records and skipped are the encoder's. */
static void encode_send(struct ft_ipfix_exporter *x, struct ft_ipfix_counters *c, bool templates,
			uint64_t start_ms, uint64_t end_ms, const struct ft_conn_entry *v,
			size_t nv, const struct ft_conn_entry *p, size_t np)
{
	struct send_ctx ctx = { .x = x, .c = c };
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (ft_ipfix_encode(&x->enc, (uint32_t)ts.tv_sec, templates, start_ms, end_ms, v, nv, p, np,
			    send_all, &ctx) < 0) {
		c->send_errors++;
		c->last_error = -ENOMEM;
	}
	if (templates)
		c->template_sends += x->n;
}

/* Adds a window's send counters to the exporter's, on the loop. */
static void add_counters(struct ft_ipfix_exporter *x, const struct ft_ipfix_counters *c)
{
	x->c.messages += c->messages;
	x->c.bytes += c->bytes;
	x->c.template_sends += c->template_sends;
	x->c.send_errors += c->send_errors;
	x->c.send_again += c->send_again;
	if (c->last_error)
		x->c.last_error = c->last_error;
	x->c.records = x->enc.records;
	x->c.skipped = x->enc.skipped;
}

static void export(struct ft_ipfix_exporter *x, bool templates, uint64_t start_ms, uint64_t end_ms,
		   const struct ft_conn_entry *v, size_t nv, const struct ft_conn_entry *p,
		   size_t np)
{
	struct ft_ipfix_counters c = { 0 };

	encode_send(x, &c, templates, start_ms, end_ms, v, nv, p, np);
	add_counters(x, &c);
}

static void on_refresh(uv_timer_t *t)
{
	struct ft_ipfix_exporter *x = t->data;

	/* The encoder belongs to the window in flight: the templates go with the next one. */
	if (x->busy) {
		x->templates_due = true;
		return;
	}
	export(x, true, 0, 0, NULL, 0, NULL, 0);
}

int ft_ipfix_exporter_start(struct ft_ipfix_exporter *x)
{
	int rc;

	if (x->started)
		return 0;
	for (size_t i = 0; i < x->n; i++) {
		const struct sockaddr_storage *ss = &x->collectors[i];
		int fd = socket(ss->ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

		if (fd < 0 || connect(fd, (const struct sockaddr *)ss,
				      ft_sockaddr_len((const struct sockaddr *)ss)) < 0) {
			rc = -errno;
			if (fd >= 0)
				close(fd);
			goto err;
		}
		x->fds[i] = fd;
	}
	x->started = true;
	export(x, true, 0, 0, NULL, 0, NULL, 0);
	uv_timer_start(&x->refresh_timer, on_refresh, x->refresh_ms, x->refresh_ms);
	return 0;

err:
	for (size_t i = 0; i < x->n; i++) {
		if (x->fds[i] >= 0)
			close(x->fds[i]);
		x->fds[i] = -1;
	}
	return rc;
}

void ft_ipfix_exporter_export(struct ft_ipfix_exporter *x, uint64_t start_ms, uint64_t end_ms,
			      const struct ft_conn_entry *v, size_t nv,
			      const struct ft_conn_entry *p, size_t np)
{
	assert(!x->busy);
	if (!x->started)
		return;
	export(x, false, start_ms, end_ms, v, nv, p, np);
}

static void next_export(struct ft_ipfix_exporter *x);
static void close_now(struct ft_ipfix_exporter *x);

/* On the thread pool: the head window, encoded and sent to every collector. */
static void export_work(uv_work_t *req)
{
	struct ft_ipfix_exporter *x = req->data;
	struct xjob *j = x->jobs;
	const struct ft_conn_window *win = j->win;

	x->enc.has_ignored = j->has_ignored;
	x->enc.ignored_total = j->ignored_total;
	encode_send(x, &j->c, j->templates, win->start_ms, win->end_ms, win->v, win->nv, win->p,
		    win->np);
	x->enc.has_ignored = false;
}

static void export_done(uv_work_t *req, int status)
{
	struct ft_ipfix_exporter *x = req->data;
	struct xjob *j = x->jobs;

	x->busy = false;
	x->jobs = j->next;
	if (!x->jobs)
		x->jobs_tail = &x->jobs;
	if (status < 0) {
		j->c.send_errors++;
		j->c.last_error = status;
	}
	add_counters(x, &j->c);
	next_export(x);
	if (j->done)
		j->done(j->done_arg, j->win);
	free(j);
	if (x->closing && !x->jobs && !x->busy)
		close_now(x);
}

static void next_export(struct ft_ipfix_exporter *x)
{
	struct xjob *j = x->jobs;
	int rc;

	if (x->busy || !j)
		return;
	j->templates = x->templates_due;
	x->templates_due = false;
	x->busy = true;
	x->work.data = x;
	rc = uv_queue_work(x->loop, &x->work, export_work, export_done);
	if (rc < 0) {
		/* Not sent, as a failed send is not: counted, the sequence numbers unchanged. */
		x->busy = false;
		x->jobs = j->next;
		if (!x->jobs)
			x->jobs_tail = &x->jobs;
		x->c.send_errors++;
		x->c.last_error = rc;
		if (j->done)
			j->done(j->done_arg, j->win);
		free(j);
		next_export(x);
	}
}

int ft_ipfix_exporter_submit(struct ft_ipfix_exporter *x, const struct ft_conn_window *win,
			     const uint64_t *ignored_total, ft_ipfix_done_cb done, void *done_arg)
{
	struct xjob *j;

	if (x->closing)
		return -ESHUTDOWN;
	if (!x->started)
		return -ENOTCONN;
	if (!(j = calloc(1, sizeof(*j))))
		return -ENOMEM;
	j->win = win;
	j->done = done;
	j->done_arg = done_arg;
	j->has_ignored = ignored_total != NULL;
	j->ignored_total = ignored_total ? *ignored_total : 0;
	*x->jobs_tail = j;
	x->jobs_tail = &j->next;
	next_export(x);
	return 0;
}

void ft_ipfix_exporter_get_counters(const struct ft_ipfix_exporter *x,
				    struct ft_ipfix_counters *out)
{
	*out = x->c;
}

static void on_closed(uv_handle_t *h)
{
	struct ft_ipfix_exporter *x = h->data;
	ft_ipfix_close_cb cb = x->close_cb;
	void *arg = x->arg;

	free(x);
	if (cb)
		cb(arg);
}

static void close_now(struct ft_ipfix_exporter *x)
{
	for (size_t i = 0; i < x->n; i++)
		if (x->fds[i] >= 0)
			close(x->fds[i]);
	x->started = false;
	uv_close((uv_handle_t *)&x->refresh_timer, on_closed);
}

void ft_ipfix_exporter_close(struct ft_ipfix_exporter *x, ft_ipfix_close_cb cb)
{
	if (x->closing)
		return;
	x->closing = true;
	x->close_cb = cb;
	uv_timer_stop(&x->refresh_timer);
	/* The windows submitted go out first: shutdown exports everything counted. */
	if (!x->jobs)
		close_now(x);
}
