// SPDX-License-Identifier: MIT
/*
 * What peer-swarm reads besides its sockets: the hub's flow log, checked against what the swarm
 * sent and received, and /proc of the hub (CPU, memory, and the drop counters of its network
 * namespace, through /proc/PID/net, which shows the namespace of that process).
 *
 * The flow log check, per peer i with overlay address A (the hub keys both counts by it):
 *
 *   virtual  (entries with A at one end, any bucket)
 *     rxPkts, rxBytes = the inner packets the swarm sent and their IP lengths
 *     txPkts, txBytes = the inner packets the swarm received for A (keepalives are no packets)
 *   physical (entries with src "A:0"; dst must be the peer's endpoint)
 *     rxPkts = initiations the hub answered + keepalives and data messages sent
 *     rxBytes = 148 per such initiation + the transport messages' wire lengths
 *     txPkts = responses + authenticated transport messages received
 *     txBytes = 92 per response + their wire lengths
 *
 * An initiation answered with a cookie reply is no traffic of a peer at the hub (it does not
 * know whose it is before the DH work), and neither is its cookie reply. The sums must be equal,
 * not merely close: anything lost on the way shows as a difference, and the drop counters of
 * both namespaces say where. A loss can only make the hub count fewer inner packets from a peer
 * and more to it than the swarm: the other way round (peers_miscounted) is a counting error
 * whatever was lost. The log is read from where it ended when the swarm started.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>

#include "tests/bench/swarm.h"

uint64_t sw_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/* ---- /proc ------------------------------------------------------------------------------ */

static FILE *proc_open(int pid, const char *what)
{
	char path[64];

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/%s", pid, what);
	else
		snprintf(path, sizeof(path), "/proc/self/%s", what);
	return fopen(path, "r");
}

/* /proc/PID/net/snmp: a header line of names and a line of values per protocol. */
static void read_snmp(int pid, struct sw_proc *p)
{
	char names[1024], values[1024];
	FILE *f = proc_open(pid, "net/snmp");

	if (!f)
		return;
	while (fgets(names, sizeof(names), f) && fgets(values, sizeof(values), f)) {
		char *sn, *sv, *n = strtok_r(names, " \n", &sn), *v = strtok_r(values, " \n", &sv);
		bool udp = strcmp(n, "Udp:") == 0, icmp = strcmp(n, "Icmp:") == 0;

		while ((n = strtok_r(NULL, " \n", &sn)) && (v = strtok_r(NULL, " \n", &sv))) {
			uint64_t x = strtoull(v, NULL, 10);

			if (udp && strcmp(n, "RcvbufErrors") == 0)
				p->udp_rcvbuf_errors = x;
			else if (udp && strcmp(n, "SndbufErrors") == 0)
				p->udp_sndbuf_errors = x;
			else if (udp && strcmp(n, "InErrors") == 0)
				p->udp_in_errors = x;
			else if (icmp && strcmp(n, "InEchos") == 0)
				p->icmp_in_echos = x;
			else if (icmp && strcmp(n, "OutEchoReps") == 0)
				p->icmp_out_echo_reps = x;
		}
	}
	fclose(f);
}

/* /proc/PID/net/dev: the drops of every interface, summed. */
static void read_dev(int pid, struct sw_proc *p)
{
	char line[512];
	FILE *f = proc_open(pid, "net/dev");

	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char *colon = strchr(line, ':');
		unsigned long long v[16];

		if (!colon ||
		    sscanf(colon + 1, "%llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu",
			   &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9],
			   &v[10], &v[11]) != 12)
			continue;
		p->dev_rx_dropped += v[3];
		p->dev_tx_dropped += v[11];
	}
	fclose(f);
}

void sw_proc_read(int pid, struct sw_proc *p)
{
	char buf[1024], *paren;
	unsigned long long ut, st;
	size_t n;
	FILE *f;

	memset(p, 0, sizeof(*p));
	f = proc_open(pid, "stat");
	if (!f)
		return;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	/* utime and stime are fields 14 and 15; the name (field 2) may hold spaces. */
	paren = strrchr(buf, ')');
	if (!paren || sscanf(paren + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
			     &ut, &st) != 2)
		return;
	p->utime = ut;
	p->stime = st;
	f = proc_open(pid, "status");
	if (f) {
		while (fgets(buf, sizeof(buf), f)) {
			unsigned long long kb;

			if (sscanf(buf, "VmRSS: %llu", &kb) == 1)
				p->rss_kb = kb;
			else if (sscanf(buf, "VmHWM: %llu", &kb) == 1)
				p->hwm_kb = kb;
		}
		fclose(f);
	}
	read_snmp(pid, p);
	read_dev(pid, p);
	p->ok = true;
}

/* ---- the flow log ----------------------------------------------------------------------- */

enum { V_RX_P, V_RX_B, V_TX_P, V_TX_B, P_RX_P, P_RX_B, P_TX_P, P_TX_B, NSUM };

long sw_flow_offset(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (long)st.st_size : 0;
}

/* "a.b.c.d:port" into host-order address and port; false for anything else (IPv6). */
static bool parse_endpoint(const char *str, uint32_t *addr, uint32_t *port)
{
	char ip[16];
	const char *colon = str ? strrchr(str, ':') : NULL;
	struct in_addr a;
	char *end;

	if (!colon || colon - str >= (long)sizeof(ip) || str[0] == '[')
		return false;
	memcpy(ip, str, (size_t)(colon - str));
	ip[colon - str] = 0;
	if (inet_pton(AF_INET, ip, &a) != 1)
		return false;
	*addr = ntohl(a.s_addr);
	*port = (uint32_t)strtoul(colon + 1, &end, 10);
	return *end == 0;
}

static uint64_t count_of(json_t *e, const char *key)
{
	json_int_t v = json_integer_value(json_object_get(e, key));

	return v > 0 ? (uint64_t)v : 0;
}

static bool peer_of_addr(const struct sw *s, uint32_t addr, uint32_t *i)
{
	if (addr < s->o.overlay || addr - s->o.overlay >= s->o.peers)
		return false;
	*i = addr - s->o.overlay;
	return true;
}

static void add_entry(uint64_t *sum, json_t *e, int base)
{
	sum[base + 0] += count_of(e, "rxPkts");
	sum[base + 1] += count_of(e, "rxBytes");
	sum[base + 2] += count_of(e, "txPkts");
	sum[base + 3] += count_of(e, "txBytes");
}

static void parse_message(struct sw *s, uint64_t *sums, json_t *m, struct sw_flow_result *r)
{
	static const char *const buckets[] = { "virtualTraffic", "subnetTraffic", "exitTraffic" };
	json_t *e;
	size_t k;

	r->messages++;
	r->lost += count_of(m, "lost");
	for (size_t b = 0; b < sizeof(buckets) / sizeof(buckets[0]); b++)
		json_array_foreach(json_object_get(m, buckets[b]), k, e)
		{
			uint32_t sa = 0, sp, da = 0, dp, i;
			bool src_ok = parse_endpoint(json_string_value(json_object_get(e, "src")),
						     &sa, &sp);
			bool dst_ok = parse_endpoint(json_string_value(json_object_get(e, "dst")),
						     &da, &dp);

			if ((src_ok && peer_of_addr(s, sa, &i)) ||
			    (dst_ok && peer_of_addr(s, da, &i)))
				add_entry(sums + (size_t)i * NSUM, e, V_RX_P);
			else
				r->entries_foreign++;
		}
	json_array_foreach(json_object_get(m, "physicalTraffic"), k, e)
	{
		uint32_t sa, sp, da, dp, i;

		if (!parse_endpoint(json_string_value(json_object_get(e, "src")), &sa, &sp) ||
		    !peer_of_addr(s, sa, &i)) {
			r->entries_foreign++;
			continue;
		}
		if (!parse_endpoint(json_string_value(json_object_get(e, "dst")), &da, &dp) ||
		    dp != s->ports[sw_peer_socket(s, i)] ||
		    (sw_peer_address(s, i) && da != sw_peer_address(s, i)))
			r->endpoints_wrong++;
		add_entry(sums + (size_t)i * NSUM, e, P_RX_P);
	}
}

/* What the hub should have counted for peer i (the table at the top). */
static void expected(const struct sw_peer *p, uint64_t want[NSUM])
{
	const struct sw_counts *n = &p->n;

	want[V_RX_P] = n->data_tx_pkts;
	want[V_RX_B] = n->data_tx_bytes;
	want[V_TX_P] = n->data_rx_pkts;
	want[V_TX_B] = n->data_rx_bytes;
	want[P_RX_P] = n->hs_answered + n->keepalive_tx + n->data_tx_pkts;
	want[P_RX_B] = n->hs_answered * FT_WIRE_INITIATION_LEN + n->transport_tx_bytes;
	want[P_TX_P] = n->hs_answered + n->transport_rx_pkts;
	want[P_TX_B] = n->hs_answered * FT_WIRE_RESPONSE_LEN + n->transport_rx_bytes;
}

static void compare(struct sw *s, const uint64_t *sums, struct sw_flow_result *r)
{
	r->peers_exact = r->peers_virtual_mismatch = r->peers_physical_mismatch = 0;
	r->peers_miscounted = 0;
	r->virtual_lost_pkts = r->physical_diff_pkts = 0;
	r->first_mismatch[0] = 0;
	r->v_rx_pkts = r->v_rx_bytes = r->v_tx_pkts = r->v_tx_bytes = 0;
	r->p_rx_pkts = r->p_rx_bytes = r->p_tx_pkts = r->p_tx_bytes = 0;
	for (uint32_t i = 0; i < s->o.peers; i++) {
		const uint64_t *got = sums + (size_t)i * NSUM;
		uint64_t want[NSUM];
		bool v, ph;

		expected(&s->peers[i], want);
		v = memcmp(got, want, 4 * sizeof(uint64_t)) == 0;
		ph = memcmp(got + P_RX_P, want + P_RX_P, 4 * sizeof(uint64_t)) == 0;
		r->peers_exact += v && ph;
		/* Received by the hub: at most what was sent; sent by it: at least what arrived. */
		if (got[V_RX_P] > want[V_RX_P] || got[V_TX_P] < want[V_TX_P])
			r->peers_miscounted++;
		else
			r->virtual_lost_pkts +=
				want[V_RX_P] - got[V_RX_P] + got[V_TX_P] - want[V_TX_P];
		for (int f = P_RX_P; f < NSUM; f += 2)
			r->physical_diff_pkts += got[f] > want[f] ? got[f] - want[f]
								  : want[f] - got[f];
		r->peers_virtual_mismatch += !v;
		r->peers_physical_mismatch += !ph;
		if ((!v || !ph) && !r->first_mismatch[0]) {
			snprintf(r->first_mismatch, sizeof(r->first_mismatch),
				 "peer %u: hub counted virtual rx %llu/%llu tx %llu/%llu, physical "
				 "rx %llu/%llu tx %llu/%llu (pkts/bytes); the swarm's: %llu/%llu "
				 "%llu/%llu, %llu/%llu %llu/%llu",
				 i, (unsigned long long)got[0], (unsigned long long)got[1],
				 (unsigned long long)got[2], (unsigned long long)got[3],
				 (unsigned long long)got[4], (unsigned long long)got[5],
				 (unsigned long long)got[6], (unsigned long long)got[7],
				 (unsigned long long)want[0], (unsigned long long)want[1],
				 (unsigned long long)want[2], (unsigned long long)want[3],
				 (unsigned long long)want[4], (unsigned long long)want[5],
				 (unsigned long long)want[6], (unsigned long long)want[7]);
		}
		r->v_rx_pkts += got[V_RX_P];
		r->v_rx_bytes += got[V_RX_B];
		r->v_tx_pkts += got[V_TX_P];
		r->v_tx_bytes += got[V_TX_B];
		r->p_rx_pkts += got[P_RX_P];
		r->p_rx_bytes += got[P_RX_B];
		r->p_tx_pkts += got[P_TX_P];
		r->p_tx_bytes += got[P_TX_B];
	}
	r->exact = r->peers_exact == s->o.peers && r->lost == 0 && r->lines_bad == 0 &&
		   r->endpoints_wrong == 0;
}

/* Reads the complete lines appended since *pos. 0 or -errno. */
static int read_new(struct sw *s, FILE *f, long *pos, char **line, size_t *cap, uint64_t *sums,
		    struct sw_flow_result *r)
{
	for (;;) {
		size_t len = 0;
		int c;

		if (fseek(f, *pos, SEEK_SET) < 0)
			return -errno;
		while ((c = getc(f)) != EOF && c != '\n') {
			if (len + 1 >= *cap) {
				char *bigger = realloc(*line, *cap * 2);

				if (!bigger)
					return -ENOMEM;
				*line = bigger;
				*cap *= 2;
			}
			(*line)[len++] = (char)c;
		}
		if (c == EOF) {
			clearerr(f);
			return 0; /* an unfinished line waits for the next read */
		}
		(*line)[len] = 0;
		*pos += (long)len + 1;
		json_t *m = json_loadb(*line, len, 0, NULL);

		if (!json_is_object(m))
			r->lines_bad++;
		else
			parse_message(s, sums, m, r);
		json_decref(m);
	}
}

int sw_flow_check(struct sw *s, long offset, struct sw_flow_result *r)
{
	uint64_t start = sw_now(), settled = 0;
	uint64_t wait = (uint64_t)(s->o.flow_wait * 1e9),
		 settle = (uint64_t)(s->o.flow_settle * 1e9);
	uint64_t *sums = calloc((size_t)s->o.peers * NSUM, sizeof(uint64_t));
	size_t cap = 1 << 16;
	char *line = malloc(cap);
	FILE *f = NULL;
	int rc = 0;

	memset(r, 0, sizeof(*r));
	r->ran = true;
	if (!sums || !line) {
		rc = -ENOMEM;
		goto out;
	}
	for (;;) {
		uint64_t now;

		if (!f)
			f = fopen(s->o.flow_log, "r");
		if (f && (rc = read_new(s, f, &offset, &line, &cap, sums, r)) < 0)
			goto out;
		compare(s, sums, r);
		now = sw_now();
		if (!r->exact)
			settled = 0;
		else if (!settled)
			settled = now;
		if ((settled && now - settled >= settle) || now - start >= wait)
			break;
		struct timespec ts = { .tv_nsec = 100000000L };

		nanosleep(&ts, NULL);
	}
	r->waited_s = (double)(sw_now() - start) / 1e9;
out:
	if (f)
		fclose(f);
	free(line);
	free(sums);
	return rc;
}
