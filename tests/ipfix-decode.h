/* SPDX-License-Identifier: MIT */
#ifndef FT_TESTS_IPFIX_DECODE_H
#define FT_TESTS_IPFIX_DECODE_H

/*
 * A small IPFIX decoder for the tests and the fuzz harness, written apart from the encoder so
 * that it checks it: templates are learnt from template sets and data records decoded through
 * them, every length checked against the bytes at hand. Only what flowtun sends is supported
 * (fixed-length IEs, one options template with one scope field, no enterprise numbers):
 * anything else is an error.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "stats/ipfix.h"
#include "stats/packet.h"

struct ipfix_tmpl {
	uint16_t id, n;
	uint16_t scope; /* scope fields, the first ones; 0 but for an options template */
	uint16_t ie[16], len[16];
};

struct ipfix_rec {
	uint16_t tid;
	uint32_t msg_seq; /* the sequence number of the message it came in */
	struct ft_addr src, dst;
	uint16_t sport, dport;
	uint8_t proto, dir;
	uint64_t packets, bytes, start_ms, end_ms;
	uint32_t domain;  /* options record: its scope */
	uint64_t ignored; /* options record: ignoredPacketTotalCount */
};

struct ipfix_dec {
	struct ipfix_tmpl t[16];
	size_t nt;
	struct ipfix_rec *recs;
	size_t nrec, cap;
	size_t messages, template_sets;
	uint32_t seq, export_time, domain; /* of the last message */
};

static inline uint16_t ipfix_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static inline uint32_t ipfix_get32(const uint8_t *p)
{
	return (uint32_t)ipfix_get16(p) << 16 | ipfix_get16(p + 2);
}

static inline uint64_t ipfix_get64(const uint8_t *p)
{
	return (uint64_t)ipfix_get32(p) << 32 | ipfix_get32(p + 4);
}

static inline void ipfix_dec_free(struct ipfix_dec *d)
{
	free(d->recs);
	memset(d, 0, sizeof(*d));
}

static inline struct ipfix_tmpl *ipfix_find(struct ipfix_dec *d, uint16_t id)
{
	for (size_t i = 0; i < d->nt; i++)
		if (d->t[i].id == id)
			return &d->t[i];
	return NULL;
}

/* A template set, or with options an options template set (a scope field count more). */
static inline int ipfix_templates(struct ipfix_dec *d, const uint8_t *p, size_t len, bool options)
{
	size_t hl = options ? 6 : 4;

	while (len >= hl) {
		struct ipfix_tmpl t = { .id = ipfix_get16(p), .n = ipfix_get16(p + 2) };
		struct ipfix_tmpl *old;

		if (options)
			t.scope = ipfix_get16(p + 4);
		if (t.id < 256 || t.n == 0 || t.n > 16 || len < hl + 4u * t.n ||
		    (options && (t.scope == 0 || t.scope > t.n)))
			return -EBADMSG;
		for (uint16_t i = 0; i < t.n; i++) {
			t.ie[i] = ipfix_get16(p + hl + 4 * i);
			t.len[i] = ipfix_get16(p + hl + 2 + 4 * i);
			if ((t.ie[i] & 0x8000) || t.len[i] == 0 || t.len[i] == 0xffff)
				return -EBADMSG;
		}
		if ((old = ipfix_find(d, t.id)))
			*old = t;
		else if (d->nt < 16)
			d->t[d->nt++] = t;
		else
			return -EBADMSG;
		p += hl + 4u * t.n;
		len -= hl + 4u * t.n;
	}
	return len == 0 ? 0 : -EBADMSG;
}

static inline uint64_t ipfix_uint(const uint8_t *p, uint16_t len)
{
	uint64_t v = 0;

	for (uint16_t i = 0; i < len && i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

static inline int ipfix_data(struct ipfix_dec *d, const struct ipfix_tmpl *t, const uint8_t *p,
			     size_t len)
{
	size_t rl = 0;

	for (uint16_t i = 0; i < t->n; i++)
		rl += t->len[i];
	/* flowtun never pads, so a set holds whole records only. */
	if (len % rl)
		return -EBADMSG;
	for (; len; p += rl, len -= rl) {
		struct ipfix_rec r = { .tid = t->id, .msg_seq = d->seq };
		const uint8_t *f = p;

		for (uint16_t i = 0; i < t->n; f += t->len[i], i++) {
			uint16_t l = t->len[i];

			switch (t->ie[i]) {
			case FT_IPFIX_IE_SRC_V4:
			case FT_IPFIX_IE_DST_V4:
			case FT_IPFIX_IE_SRC_V6:
			case FT_IPFIX_IE_DST_V6: {
				bool v4 = t->ie[i] == FT_IPFIX_IE_SRC_V4 ||
					  t->ie[i] == FT_IPFIX_IE_DST_V4;
				bool src = t->ie[i] == FT_IPFIX_IE_SRC_V4 ||
					   t->ie[i] == FT_IPFIX_IE_SRC_V6;
				struct ft_addr *a = src ? &r.src : &r.dst;

				if (l != (v4 ? 4 : 16))
					return -EBADMSG;
				a->family = v4 ? AF_INET : AF_INET6;
				memcpy(a->bytes, f, l);
				break;
			}
			case FT_IPFIX_IE_SRC_PORT:
				r.sport = (uint16_t)ipfix_uint(f, l);
				break;
			case FT_IPFIX_IE_DST_PORT:
				r.dport = (uint16_t)ipfix_uint(f, l);
				break;
			case FT_IPFIX_IE_PROTOCOL:
				r.proto = (uint8_t)ipfix_uint(f, l);
				break;
			case FT_IPFIX_IE_DIRECTION:
				r.dir = (uint8_t)ipfix_uint(f, l);
				break;
			case FT_IPFIX_IE_PACKET_DELTA:
				r.packets = ipfix_uint(f, l);
				break;
			case FT_IPFIX_IE_OCTET_DELTA:
				r.bytes = ipfix_uint(f, l);
				break;
			case FT_IPFIX_IE_START_MS:
				r.start_ms = ipfix_uint(f, l);
				break;
			case FT_IPFIX_IE_END_MS:
				r.end_ms = ipfix_uint(f, l);
				break;
			case FT_IPFIX_IE_DOMAIN_ID:
				if (!t->scope)
					return -EBADMSG;
				r.domain = (uint32_t)ipfix_uint(f, l);
				break;
			case FT_IPFIX_IE_IGNORED_PACKETS:
				r.ignored = ipfix_uint(f, l);
				break;
			default:
				return -EBADMSG;
			}
		}
		if (d->nrec == d->cap) {
			size_t cap = d->cap ? 2 * d->cap : 64;
			struct ipfix_rec *n = realloc(d->recs, cap * sizeof(*n));

			if (!n)
				return -ENOMEM;
			d->recs = n;
			d->cap = cap;
		}
		d->recs[d->nrec++] = r;
	}
	return 0;
}

/* Decodes one message: 0, or -EBADMSG for anything malformed or unknown. */
static inline int ipfix_decode(struct ipfix_dec *d, const uint8_t *m, size_t len)
{
	size_t mlen, off;

	if (len < FT_IPFIX_HDR_LEN || ipfix_get16(m) != FT_IPFIX_VERSION)
		return -EBADMSG;
	mlen = ipfix_get16(m + 2);
	if (mlen != len)
		return -EBADMSG;
	d->export_time = ipfix_get32(m + 4);
	d->seq = ipfix_get32(m + 8);
	d->domain = ipfix_get32(m + 12);
	d->messages++;
	for (off = FT_IPFIX_HDR_LEN; off < mlen;) {
		uint16_t id, slen;
		int rc;

		if (mlen - off < FT_IPFIX_SET_HDR_LEN)
			return -EBADMSG;
		id = ipfix_get16(m + off);
		slen = ipfix_get16(m + off + 2);
		if (slen <= FT_IPFIX_SET_HDR_LEN || slen > mlen - off)
			return -EBADMSG;
		if (id == FT_IPFIX_SET_TEMPLATE || id == FT_IPFIX_SET_OPTIONS_TEMPLATE) {
			d->template_sets += id == FT_IPFIX_SET_TEMPLATE;
			rc = ipfix_templates(d, m + off + 4, slen - 4u,
					     id == FT_IPFIX_SET_OPTIONS_TEMPLATE);
		} else if (id >= 256 && ipfix_find(d, id)) {
			rc = ipfix_data(d, ipfix_find(d, id), m + off + 4, slen - 4u);
		} else {
			rc = -EBADMSG;
		}
		if (rc < 0)
			return rc;
		off += slen;
	}
	return 0;
}

#endif
