// SPDX-License-Identifier: MIT
/*
 * The report of peer-swarm: a human summary, or one JSON object (--json) with the same figures
 * and a few more. CPU figures are clock ticks of /proc/PID/stat turned into seconds; RSS is
 * VmRSS. Drops are the differences over the whole run of the counters of each namespace
 * (UDP receive-buffer overflows, interface drops), which is where packets that left one side
 * and never reached the other are counted.
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "tests/bench/swarm.h"

void sw_totals(const struct sw *s, struct sw_totals *t)
{
	memset(t, 0, sizeof(*t));
	for (uint32_t i = 0; i < s->o.peers; i++) {
		const struct sw_peer *p = &s->peers[i];
		const uint64_t *a = (const uint64_t *)&p->n;
		uint64_t *b = (uint64_t *)&t->n;

		for (size_t k = 0; k < sizeof(p->n) / sizeof(uint64_t); k++)
			b[k] += a[k];
		if (p->first_done_ns) {
			t->handshaked++;
			if (p->first_done_ns > t->last_done_ns)
				t->last_done_ns = p->first_done_ns;
		}
	}
}

static double secs(uint64_t a, uint64_t b)
{
	return b > a ? (double)(b - a) / 1e9 : 0;
}

static double cpu_s(const struct sw_proc *a, const struct sw_proc *b)
{
	long hz = sysconf(_SC_CLK_TCK);

	if (!a->ok || !b->ok || hz <= 0)
		return 0;
	return (double)(b->utime + b->stime - a->utime - a->stime) / (double)hz;
}

static double per(double n, double d)
{
	return d > 0 ? n / d : 0;
}

/* The q-quantile of the round-trip times, in ms, from the histogram's bucket bounds. */
static double rtt_quantile(const struct sw_global *g, double q)
{
	uint64_t want = (uint64_t)((double)g->rtt_count * q), seen = 0;

	if (!g->rtt_count)
		return 0;
	for (unsigned int b = 0; b < 64 * 8; b++) {
		unsigned int octave = b / 8, step = b % 8;

		seen += g->rtt_hist[b];
		if (seen > want) {
			double lo = octave >= 3 ? (double)((8ULL + step) << (octave - 3))
						: (double)(1ULL << octave);

			return lo / 1e6;
		}
	}
	return (double)g->rtt_max_ns / 1e6;
}

static uint64_t delta(uint64_t a, uint64_t b)
{
	return b > a ? b - a : 0;
}

static void ipv4(char out[16], uint32_t a)
{
	snprintf(out, 16, "%u.%u.%u.%u", a >> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255);
}

/* Every figure of the report, computed once for both forms. */
struct figures {
	struct sw_totals t;
	double hs_s, hs_rate, init_rate, hs_hub_cpu, hs_self_cpu;
	double data_s, tx_rate, rx_rate, data_hub_cpu, data_self_cpu;
	const struct sw_proc *hub_start, *hub_hs, *hub_end, *self_start, *self_end;
	bool all_handshaked, all_answered;
};

static void compute(const struct sw *s, const struct sw_phase *hs, const struct sw_phase *data,
		    struct figures *f)
{
	sw_totals(s, &f->t);
	/* The rate of the handshake phase: peers with a session over the time the last took. */
	f->hs_s = secs(hs->start, f->t.last_done_ns && f->t.last_done_ns < hs->end
					  ? f->t.last_done_ns
					  : hs->end);
	f->hs_rate = per(hs->established, f->hs_s);
	f->init_rate = per((double)hs->initiations, secs(hs->start, hs->end));
	f->hs_hub_cpu = cpu_s(&hs->hub0, &hs->hub1);
	f->hs_self_cpu = cpu_s(&hs->self0, &hs->self1);
	f->data_s = secs(data->start, data->sending_end);
	f->tx_rate = per((double)f->t.n.data_tx_pkts, f->data_s);
	f->rx_rate = per((double)f->t.n.data_rx_pkts, f->data_s);
	f->data_hub_cpu = cpu_s(&data->hub0, &data->hub1);
	f->data_self_cpu = cpu_s(&data->self0, &data->self1);
	f->hub_start = &hs->hub0;
	f->hub_hs = &hs->hub1;
	f->hub_end = &data->hub1;
	f->self_start = &hs->self0;
	f->self_end = &data->self1;
	f->all_handshaked = f->t.handshaked == s->o.peers;
	f->all_answered = s->o.mode != SW_MODE_ICMP || f->t.n.answered == f->t.n.data_tx_pkts;
}

static void print_human(const struct sw *s, const struct figures *f,
			const struct sw_flow_result *fl)
{
	const struct sw_global *g = &s->g;
	const struct sw_counts *n = &f->t.n;
	char hub[16], range[16];

	ipv4(hub, ntohl(s->o.hub.sin_addr.s_addr));
	ipv4(range, s->o.src_base);
	printf("peer-swarm: %u peers against %s:%u, %u endpoints (%u sockets", s->o.peers, hub,
	       ntohs(s->o.hub.sin_port), s->endpoints, s->nsock);
	if (s->o.src_count)
		printf(" x %u addresses from %s", s->o.src_count, range);
	printf("), %u handshake slots\n", s->nslots);
	printf("handshakes: %u of %u peers in %.2f s: %.0f/s; %llu initiations sent (%.0f/s), "
	       "%llu answered, %llu cookie replies, %llu timeouts\n",
	       f->t.handshaked, s->o.peers, f->hs_s, f->hs_rate, (unsigned long long)n->hs_sent,
	       f->init_rate, (unsigned long long)n->hs_answered, (unsigned long long)n->cookies,
	       (unsigned long long)n->timeouts);
	printf("  CPU in the handshake phase: hub %.2f s (%.3f ms per handshake), swarm %.2f s; "
	       "%llu waits for a free slot\n",
	       f->hs_hub_cpu, per(f->hs_hub_cpu * 1e3, f->t.handshaked), f->hs_self_cpu,
	       (unsigned long long)s->g.no_slot_waits);
	printf("data (%s, %u B): %llu sent in %.2f s (%.0f/s), %llu received (%.0f/s)",
	       s->o.mode == SW_MODE_ICMP ? "ICMP echo" : "UDP", s->o.size,
	       (unsigned long long)n->data_tx_pkts, f->data_s, f->tx_rate,
	       (unsigned long long)n->data_rx_pkts, f->rx_rate);
	if (s->o.mode == SW_MODE_ICMP)
		printf(", %llu round trips answered (%.2f %%)", (unsigned long long)n->answered,
		       per(100.0 * (double)n->answered, (double)n->data_tx_pkts));
	if (s->o.mode == SW_MODE_ICMP)
		printf("\n  rtt ms: avg %.3f p50 %.3f p99 %.3f max %.3f;",
		       per((double)g->rtt_sum_ns / 1e6, (double)g->rtt_count), rtt_quantile(g, 0.5),
		       rtt_quantile(g, 0.99), (double)g->rtt_max_ns / 1e6);
	else
		printf("\n ");
	printf(" keepalives sent %llu received %llu\n", (unsigned long long)n->keepalive_tx,
	       (unsigned long long)n->keepalive_rx);
	printf("  CPU in the data phase: hub %.2f s (%.2f us per packet sent or received), "
	       "swarm %.2f s\n",
	       f->data_hub_cpu,
	       per(f->data_hub_cpu * 1e6, (double)(n->data_tx_pkts + n->data_rx_pkts)),
	       f->data_self_cpu);
	if (f->hub_start->ok)
		printf("hub (pid %d): RSS %.1f MB at start, %.1f MB after the handshakes, %.1f MB "
		       "at the end (peak %.1f MB): %.1f KB per peer\n",
		       s->o.hub_pid, (double)f->hub_start->rss_kb / 1024,
		       (double)f->hub_hs->rss_kb / 1024, (double)f->hub_end->rss_kb / 1024,
		       (double)f->hub_end->hwm_kb / 1024,
		       per((double)f->hub_end->rss_kb, s->o.peers));
	printf("drops: swarm UDP rcvbuf %llu, interfaces tx %llu rx %llu, send errors %llu",
	       (unsigned long long)delta(f->self_start->udp_rcvbuf_errors,
					 f->self_end->udp_rcvbuf_errors),
	       (unsigned long long)delta(f->self_start->dev_tx_dropped,
					 f->self_end->dev_tx_dropped),
	       (unsigned long long)delta(f->self_start->dev_rx_dropped,
					 f->self_end->dev_rx_dropped),
	       (unsigned long long)g->tx_errors);
	if (f->hub_start->ok)
		printf("; hub UDP rcvbuf %llu, interfaces tx %llu rx %llu; hub kernel echo "
		       "requests %llu, replies %llu",
		       (unsigned long long)delta(f->hub_start->udp_rcvbuf_errors,
						 f->hub_end->udp_rcvbuf_errors),
		       (unsigned long long)delta(f->hub_start->dev_tx_dropped,
						 f->hub_end->dev_tx_dropped),
		       (unsigned long long)delta(f->hub_start->dev_rx_dropped,
						 f->hub_end->dev_rx_dropped),
		       (unsigned long long)delta(f->hub_start->icmp_in_echos,
						 f->hub_end->icmp_in_echos),
		       (unsigned long long)delta(f->hub_start->icmp_out_echo_reps,
						 f->hub_end->icmp_out_echo_reps));
	printf("\nreceived: %llu datagrams; rejected: %llu not from the hub, %llu bad type, %llu "
	       "unknown index, %llu decrypt failed, %llu replayed, %llu bad inner, %llu stale and "
	       "%llu bad responses, %llu bad cookies, %llu at the wrong endpoint\n",
	       (unsigned long long)g->rx_datagrams, (unsigned long long)g->rx_foreign,
	       (unsigned long long)g->rx_bad_type, (unsigned long long)g->rx_unknown_index,
	       (unsigned long long)g->rx_decrypt_failed, (unsigned long long)g->rx_replayed,
	       (unsigned long long)g->rx_bad_inner, (unsigned long long)g->rx_stale_response,
	       (unsigned long long)g->rx_bad_response, (unsigned long long)g->rx_bad_cookie,
	       (unsigned long long)g->rx_misdelivered);
	if (!fl->ran)
		return;
	printf("flow log: %s for %u of %u peers (virtual mismatch %u, physical mismatch %u, wrong "
	       "endpoints %u), %llu messages, %llu bad lines, %llu lost, checked in %.1f s\n",
	       fl->exact ? "exact" : "NOT exact", fl->peers_exact, s->o.peers,
	       fl->peers_virtual_mismatch, fl->peers_physical_mismatch, fl->endpoints_wrong,
	       (unsigned long long)fl->messages, (unsigned long long)fl->lines_bad,
	       (unsigned long long)fl->lost, fl->waited_s);
	printf("  hub counted virtual rx %llu/%llu tx %llu/%llu, physical rx %llu/%llu tx "
	       "%llu/%llu (packets/bytes)\n",
	       (unsigned long long)fl->v_rx_pkts, (unsigned long long)fl->v_rx_bytes,
	       (unsigned long long)fl->v_tx_pkts, (unsigned long long)fl->v_tx_bytes,
	       (unsigned long long)fl->p_rx_pkts, (unsigned long long)fl->p_rx_bytes,
	       (unsigned long long)fl->p_tx_pkts, (unsigned long long)fl->p_tx_bytes);
	if (fl->first_mismatch[0])
		printf("  %u peers miscounted, %llu inner packets lost on the way, physical counts "
		       "%llu apart; first mismatch: %s\n",
		       fl->peers_miscounted, (unsigned long long)fl->virtual_lost_pkts,
		       (unsigned long long)fl->physical_diff_pkts, fl->first_mismatch);
}

static void set_u(json_t *o, const char *k, uint64_t v)
{
	json_object_set_new(o, k, json_integer((json_int_t)v));
}

static void set_d(json_t *o, const char *k, double v)
{
	json_object_set_new(o, k, json_real(v));
}

static void set_b(json_t *o, const char *k, bool v)
{
	json_object_set_new(o, k, json_boolean(v));
}

static json_t *proc_json(const struct sw_proc *a, const struct sw_proc *b)
{
	json_t *o = json_object();

	set_u(o, "udp_rcvbuf_errors", delta(a->udp_rcvbuf_errors, b->udp_rcvbuf_errors));
	set_u(o, "udp_in_errors", delta(a->udp_in_errors, b->udp_in_errors));
	set_u(o, "udp_sndbuf_errors", delta(a->udp_sndbuf_errors, b->udp_sndbuf_errors));
	set_u(o, "dev_tx_dropped", delta(a->dev_tx_dropped, b->dev_tx_dropped));
	set_u(o, "dev_rx_dropped", delta(a->dev_rx_dropped, b->dev_rx_dropped));
	set_u(o, "icmp_in_echos", delta(a->icmp_in_echos, b->icmp_in_echos));
	set_u(o, "icmp_out_echo_reps", delta(a->icmp_out_echo_reps, b->icmp_out_echo_reps));
	return o;
}

static json_t *flows_json(const struct sw_flow_result *fl)
{
	json_t *o = json_object();

	set_b(o, "exact", fl->exact);
	set_u(o, "peers_exact", fl->peers_exact);
	set_u(o, "peers_virtual_mismatch", fl->peers_virtual_mismatch);
	set_u(o, "peers_physical_mismatch", fl->peers_physical_mismatch);
	set_u(o, "endpoints_wrong", fl->endpoints_wrong);
	set_u(o, "peers_miscounted", fl->peers_miscounted);
	set_u(o, "virtual_lost_pkts", fl->virtual_lost_pkts);
	set_u(o, "physical_diff_pkts", fl->physical_diff_pkts);
	set_u(o, "messages", fl->messages);
	set_u(o, "lines_bad", fl->lines_bad);
	set_u(o, "lost", fl->lost);
	set_u(o, "entries_foreign", fl->entries_foreign);
	set_u(o, "virtual_rx_pkts", fl->v_rx_pkts);
	set_u(o, "virtual_rx_bytes", fl->v_rx_bytes);
	set_u(o, "virtual_tx_pkts", fl->v_tx_pkts);
	set_u(o, "virtual_tx_bytes", fl->v_tx_bytes);
	set_u(o, "physical_rx_pkts", fl->p_rx_pkts);
	set_u(o, "physical_rx_bytes", fl->p_rx_bytes);
	set_u(o, "physical_tx_pkts", fl->p_tx_pkts);
	set_u(o, "physical_tx_bytes", fl->p_tx_bytes);
	set_d(o, "waited_s", fl->waited_s);
	json_object_set_new(o, "first_mismatch", json_string(fl->first_mismatch));
	return o;
}

static void print_json(const struct sw *s, const struct figures *f, const struct sw_flow_result *fl,
		       bool flows_ok)
{
	const struct sw_global *g = &s->g;
	const struct sw_counts *n = &f->t.n;
	json_t *root = json_object(), *h = json_object(), *d = json_object(), *sw;
	json_t *rx = json_object(), *chk = json_object();

	set_u(root, "peers", s->o.peers);
	set_u(root, "endpoints", s->endpoints);
	set_u(root, "sockets", s->nsock);
	set_u(root, "slots", s->nslots);

	set_u(h, "handshaked", f->t.handshaked);
	set_d(h, "seconds", f->hs_s);
	set_d(h, "per_second", f->hs_rate);
	set_u(h, "initiations_sent", n->hs_sent);
	set_d(h, "initiations_per_second", f->init_rate);
	set_u(h, "answered", n->hs_answered);
	set_u(h, "sessions", n->hs_done);
	set_u(h, "cookies", n->cookies);
	set_u(h, "timeouts", n->timeouts);
	set_d(h, "hub_cpu_s", f->hs_hub_cpu);
	set_d(h, "swarm_cpu_s", f->hs_self_cpu);
	json_object_set_new(root, "handshake", h);

	json_object_set_new(d, "mode", json_string(s->o.mode == SW_MODE_ICMP ? "icmp" : "udp"));
	set_u(d, "size", s->o.size);
	set_d(d, "seconds", f->data_s);
	set_u(d, "sent", n->data_tx_pkts);
	set_u(d, "sent_bytes", n->data_tx_bytes);
	set_d(d, "sent_per_second", f->tx_rate);
	set_u(d, "received", n->data_rx_pkts);
	set_u(d, "received_bytes", n->data_rx_bytes);
	set_d(d, "received_per_second", f->rx_rate);
	set_u(d, "answered", n->answered);
	set_u(d, "keepalives_sent", n->keepalive_tx);
	set_u(d, "keepalives_received", n->keepalive_rx);
	set_d(d, "rtt_avg_ms", per((double)g->rtt_sum_ns / 1e6, (double)g->rtt_count));
	set_d(d, "rtt_p50_ms", rtt_quantile(g, 0.5));
	set_d(d, "rtt_p99_ms", rtt_quantile(g, 0.99));
	set_d(d, "rtt_max_ms", (double)g->rtt_max_ns / 1e6);
	set_d(d, "hub_cpu_s", f->data_hub_cpu);
	set_d(d, "swarm_cpu_s", f->data_self_cpu);
	json_object_set_new(root, "data", d);

	if (f->hub_start->ok) {
		json_t *hub = proc_json(f->hub_start, f->hub_end);

		set_u(hub, "pid", (uint64_t)s->o.hub_pid);
		set_u(hub, "rss_kb_start", f->hub_start->rss_kb);
		set_u(hub, "rss_kb_handshaked", f->hub_hs->rss_kb);
		set_u(hub, "rss_kb_end", f->hub_end->rss_kb);
		set_u(hub, "hwm_kb", f->hub_end->hwm_kb);
		json_object_set_new(root, "hub", hub);
	}

	sw = proc_json(f->self_start, f->self_end);
	set_u(sw, "send_errors", g->tx_errors);
	set_u(sw, "send_waits", g->tx_eagain_waits);
	set_u(sw, "slot_waits", g->no_slot_waits);
	set_u(sw, "expired_sessions", g->expired_sessions);
	set_u(rx, "datagrams", g->rx_datagrams);
	set_u(rx, "not_from_hub", g->rx_foreign);
	set_u(rx, "bad_type", g->rx_bad_type);
	set_u(rx, "truncated", g->rx_truncated);
	set_u(rx, "unknown_index", g->rx_unknown_index);
	set_u(rx, "decrypt_failed", g->rx_decrypt_failed);
	set_u(rx, "replayed", g->rx_replayed);
	set_u(rx, "bad_inner", g->rx_bad_inner);
	set_u(rx, "stale_responses", g->rx_stale_response);
	set_u(rx, "bad_responses", g->rx_bad_response);
	set_u(rx, "cookie_replies", g->cookie_replies_rx);
	set_u(rx, "bad_cookies", g->rx_bad_cookie);
	set_u(rx, "initiations_from_hub", g->rx_from_hub_initiation);
	set_u(rx, "wrong_endpoint", g->rx_misdelivered);
	json_object_set_new(sw, "received", rx);
	json_object_set_new(root, "swarm", sw);

	if (fl->ran)
		json_object_set_new(root, "flow_log", flows_json(fl));
	set_b(chk, "all_handshaked", f->all_handshaked);
	set_b(chk, "all_answered", f->all_answered);
	set_b(chk, "flows_exact", flows_ok);
	json_object_set_new(root, "checks", chk);

	json_dumpf(root, stdout, JSON_INDENT(1) | JSON_REAL_PRECISION(6));
	putchar('\n');
	json_decref(root);
}

int sw_report(const struct sw *s, const struct sw_phase *hs, const struct sw_phase *data,
	      const struct sw_flow_result *flows)
{
	struct figures f;
	bool flows_ok = !flows->ran || flows->exact;

	compute(s, hs, data, &f);
	if (s->o.json)
		print_json(s, &f, flows, flows_ok);
	else
		print_human(s, &f, flows);
	fflush(stdout);
	if (!flows_ok || (s->o.require_all && (!f.all_handshaked || !f.all_answered)))
		return 1;
	return 0;
}
