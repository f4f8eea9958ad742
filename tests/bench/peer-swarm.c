// SPDX-License-Identifier: MIT
/*
 * peer-swarm: a load generator that speaks WireGuard. From one network namespace it is K
 * peers (up to 131,072) of one hub: each with its own static key, derived from a seed, and its
 * own endpoint (source address and port). It performs real handshakes with the hub through the
 * protocol code of tun/ (initiations with mac1, cookie replies consumed and mac2 added when the
 * hub is under load, responses checked and consumed, sessions derived and confirmed with a
 * keepalive), then sends transport data at a set rate: ICMP echo requests (or UDP datagrams)
 * inside the tunnel from each peer's overlay address to the hub's, which the hub's kernel
 * answers through the tunnel. It reports what the hub achieved and checks its flow log.
 *
 *   namespace of the hub                               namespace of the swarm
 *   flowtun up hub.conf (tun0 100.64.0.1/10,           peer-swarm: K peers, overlay
 *   the K [Peer] sections of --emit-config)            100.64.0.2 + i, endpoints
 *   198.18.0.1:51820 <------------ veth --------------> 198.19.x.y:PORT (one local route)
 *
 * Phases: keys and slots are set up (not timed); the handshake phase sends initiations at
 * --handshake-rate until every peer has a session or --handshake-deadline passes; the data
 * phase sends --rate packets/s round robin over the peers with a session for --duration
 * seconds (handshakes of peers still without one go on); the linger waits up to --linger
 * seconds for the last answers. Then the flow log is read (--flow-log) until it accounts for
 * everything, and the report is printed. See --help and tests/bench/README.md.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "tests/bench/swarm.h"
#include "tun/wg/crypto.h"
#include "tun/wg/key.h"

static const char usage_text[] =
	"usage: peer-swarm --emit-config --peers K [--first N] [--seed S] [--psk] [--overlay A]\n"
	"       peer-swarm --hub ADDR:PORT --hub-key KEY --peers K [options]\n"
	"\n"
	"K WireGuard peers (at most 131072) against one hub: real handshakes, then data at a set\n"
	"rate, from one network namespace. Each peer's key comes from the seed and its index, so\n"
	"--emit-config with the same --peers, --seed, --psk and --overlay prints the hub's [Peer]\n"
	"sections (PublicKey, AllowedIPs = overlay + i / 32, PresharedKey with --psk).\n"
	"\n"
	"the hub\n"
	"  --hub ADDR:PORT        the hub's IPv4 underlay endpoint\n"
	"  --hub-key KEY          its public key (base64)\n"
	"  --hub-overlay ADDR     its overlay address, the data's destination (100.64.0.1)\n"
	"  --hub-pid PID          report its RSS and CPU (/proc/PID) and its namespace's drops\n"
	"  --flow-log PATH        check its JSON Lines flow log: per peer, what the swarm sent and\n"
	"                         received, counted exactly once (read from its size at start)\n"
	"  --flow-wait S          seconds the log may take to account for everything (10)\n"
	"  --flow-settle S        seconds it must then stay exact (1.5; > FlowLogInterval)\n"
	"the peers\n"
	"  --peers K              how many (100)\n"
	"  --seed STRING          the keys' seed (\"peer-swarm\")\n"
	"  --psk                  with preshared keys (also from the seed)\n"
	"  --overlay ADDR         peer 0's overlay address; peer i has ADDR + i (100.64.0.2)\n"
	"  --first N              be peers N .. N+K-1 of the seed (0): several swarms (on other\n"
	"                         ports or addresses) share out one hub's peers\n"
	"  --src-range CIDR       source addresses, one per peer (e.g. 198.19.0.0/16). Make them\n"
	"                         local first: ip route add local CIDR dev lo; and route CIDR to\n"
	"                         this namespace on the hub's side\n"
	"  --src-port P           the first socket's port; socket s has P + s (0: any)\n"
	"  --sockets N            UDP sockets (default: enough for one endpoint per peer, at most\n"
	"                         256); with more peers than endpoints, peers share endpoints\n"
	"handshakes\n"
	"  --handshake-rate R     initiations per second, resends included (1000)\n"
	"  --handshake-timeout S  resend an unanswered initiation after S seconds (5)\n"
	"  --cookie-delay S       resend S seconds after a cookie reply (0; real peers wait for\n"
	"                         their retransmit timer, 5 s)\n"
	"  --handshake-deadline S end the handshake phase after S seconds (60)\n"
	"  --slots N              handshakes in flight at most (4096, at most 6144); with K at\n"
	"                         most N, no slot is ever rebound to another peer's key\n"
	"data\n"
	"  --rate PPS             inner packets per second, all peers together (1000; 0: none)\n"
	"  --duration S           seconds of data (5)\n"
	"  --size BYTES           inner IP packet length, 28..1420 (84, as ping's default)\n"
	"  --udp PORT             UDP datagrams to the hub's overlay PORT instead of echo requests\n"
	"  --linger S             seconds to wait for the last answers (2)\n"
	"  --no-confirm           send no keepalive after a response: the hub holds each session\n"
	"                         as a responder, unconfirmed, until the peer's first data\n"
	"output\n"
	"  --json                 the report as one JSON object on stdout\n"
	"  --require-all          exit 1 unless every peer handshaked and every echo was answered\n"
	"\n"
	"Exit status: 0; 1 when a check failed (flow log not exact, or --require-all); 2 usage;\n"
	"3 a runtime error. IPv4 only.\n";

/* ---- options ---------------------------------------------------------------------------- */

static bool parse_double(const char *s, double lo, double hi, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	return !errno && end != s && !*end && *out >= lo && *out <= hi;
}

static bool parse_u32(const char *s, uint32_t lo, uint32_t hi, uint32_t *out)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return false;
	*out = (uint32_t)v;
	return true;
}

static bool parse_ipv4(const char *s, uint32_t *out)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		return false;
	*out = ntohl(a.s_addr);
	return true;
}

static bool parse_hub(const char *s, struct sockaddr_in *sin)
{
	char ip[16];
	const char *colon = strrchr(s, ':');
	uint32_t a, port;

	if (!colon || colon - s >= (long)sizeof(ip))
		return false;
	memcpy(ip, s, (size_t)(colon - s));
	ip[colon - s] = 0;
	if (!parse_ipv4(ip, &a) || !parse_u32(colon + 1, 1, 65535, &port))
		return false;
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(a);
	sin->sin_port = htons((uint16_t)port);
	return true;
}

static bool parse_cidr(const char *s, uint32_t *base, uint32_t *count)
{
	char ip[16];
	const char *slash = strchr(s, '/');
	uint32_t a, len;

	if (!slash || slash - s >= (long)sizeof(ip))
		return false;
	memcpy(ip, s, (size_t)(slash - s));
	ip[slash - s] = 0;
	if (!parse_ipv4(ip, &a) || !parse_u32(slash + 1, 8, 32, &len))
		return false;
	*count = 1u << (32 - len);
	*base = a & ~(*count - 1);
	return true;
}

enum {
	OPT_HUB = 256,
	OPT_HUB_KEY,
	OPT_HUB_OVERLAY,
	OPT_HUB_PID,
	OPT_FLOW_LOG,
	OPT_FLOW_WAIT,
	OPT_FLOW_SETTLE,
	OPT_PEERS,
	OPT_SEED,
	OPT_PSK,
	OPT_OVERLAY,
	OPT_FIRST,
	OPT_SRC_RANGE,
	OPT_SRC_PORT,
	OPT_SOCKETS,
	OPT_HS_RATE,
	OPT_HS_TIMEOUT,
	OPT_COOKIE_DELAY,
	OPT_HS_DEADLINE,
	OPT_SLOTS,
	OPT_RATE,
	OPT_DURATION,
	OPT_SIZE,
	OPT_UDP,
	OPT_LINGER,
	OPT_JSON,
	OPT_REQUIRE_ALL,
	OPT_NO_CONFIRM,
	OPT_EMIT,
	OPT_HELP,
};

static const struct option long_options[] = {
	{ "hub", required_argument, NULL, OPT_HUB },
	{ "hub-key", required_argument, NULL, OPT_HUB_KEY },
	{ "hub-overlay", required_argument, NULL, OPT_HUB_OVERLAY },
	{ "hub-pid", required_argument, NULL, OPT_HUB_PID },
	{ "flow-log", required_argument, NULL, OPT_FLOW_LOG },
	{ "flow-wait", required_argument, NULL, OPT_FLOW_WAIT },
	{ "flow-settle", required_argument, NULL, OPT_FLOW_SETTLE },
	{ "peers", required_argument, NULL, OPT_PEERS },
	{ "seed", required_argument, NULL, OPT_SEED },
	{ "psk", no_argument, NULL, OPT_PSK },
	{ "overlay", required_argument, NULL, OPT_OVERLAY },
	{ "first", required_argument, NULL, OPT_FIRST },
	{ "src-range", required_argument, NULL, OPT_SRC_RANGE },
	{ "src-port", required_argument, NULL, OPT_SRC_PORT },
	{ "sockets", required_argument, NULL, OPT_SOCKETS },
	{ "handshake-rate", required_argument, NULL, OPT_HS_RATE },
	{ "handshake-timeout", required_argument, NULL, OPT_HS_TIMEOUT },
	{ "cookie-delay", required_argument, NULL, OPT_COOKIE_DELAY },
	{ "handshake-deadline", required_argument, NULL, OPT_HS_DEADLINE },
	{ "slots", required_argument, NULL, OPT_SLOTS },
	{ "rate", required_argument, NULL, OPT_RATE },
	{ "duration", required_argument, NULL, OPT_DURATION },
	{ "size", required_argument, NULL, OPT_SIZE },
	{ "udp", required_argument, NULL, OPT_UDP },
	{ "linger", required_argument, NULL, OPT_LINGER },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "require-all", no_argument, NULL, OPT_REQUIRE_ALL },
	{ "no-confirm", no_argument, NULL, OPT_NO_CONFIRM },
	{ "emit-config", no_argument, NULL, OPT_EMIT },
	{ "help", no_argument, NULL, OPT_HELP },
	{ NULL, 0, NULL, 0 },
};

static void defaults(struct sw_options *o)
{
	memset(o, 0, sizeof(*o));
	o->peers = 100;
	snprintf(o->seed, sizeof(o->seed), "peer-swarm");
	o->overlay = SW_OVERLAY_DEFAULT;
	o->hub_overlay = SW_HUB_OVERLAY_DEFAULT;
	o->rate = 1000;
	o->duration = 5;
	o->handshake_rate = 1000;
	o->hs_timeout = FT_REKEY_TIMEOUT_NS / 1e9;
	o->hs_deadline = 60;
	o->linger = 2;
	o->size = 84;
	o->slots = SW_DEFAULT_SLOTS;
	o->flow_wait = 10;
	o->flow_settle = 1.5;
}

/* One option into o: false when its value is bad. */
static bool set_option(struct sw_options *o, int c, const char *v, bool *emit)
{
	uint32_t u;

	switch (c) {
	case OPT_HUB:
		return parse_hub(v, &o->hub);
	case OPT_HUB_KEY:
		return (o->have_hub_key = ft_key_from_base64(o->hub_key, v) == 0);
	case OPT_HUB_OVERLAY:
		return parse_ipv4(v, &o->hub_overlay);
	case OPT_HUB_PID:
		return parse_u32(v, 1, 1u << 30, &u) && (o->hub_pid = (int)u);
	case OPT_FLOW_LOG:
		return (o->flow_log = v) != NULL;
	case OPT_FLOW_WAIT:
		return parse_double(v, 0, 3600, &o->flow_wait);
	case OPT_FLOW_SETTLE:
		return parse_double(v, 0, 600, &o->flow_settle);
	case OPT_PEERS:
		return parse_u32(v, 1, SW_MAX_PEERS, &o->peers);
	case OPT_SEED:
		return (size_t)snprintf(o->seed, sizeof(o->seed), "%s", v) < sizeof(o->seed);
	case OPT_PSK:
		return (o->psk = true);
	case OPT_OVERLAY:
		return parse_ipv4(v, &o->overlay);
	case OPT_FIRST:
		return parse_u32(v, 0, 1u << 24, &o->first);
	case OPT_SRC_RANGE:
		return parse_cidr(v, &o->src_base, &o->src_count);
	case OPT_SRC_PORT:
		return parse_u32(v, 1, 65535, &u) && (o->src_port = (uint16_t)u);
	case OPT_SOCKETS:
		return parse_u32(v, 1, SW_MAX_SOCKETS, &o->sockets);
	case OPT_HS_RATE:
		return parse_double(v, 1, 1e7, &o->handshake_rate);
	case OPT_HS_TIMEOUT:
		/* Above the hub's 20 ms between two initiations it accepts from one peer. */
		return parse_double(v, 0.05, 3600, &o->hs_timeout);
	case OPT_COOKIE_DELAY:
		return parse_double(v, 0, 3600, &o->cookie_delay);
	case OPT_HS_DEADLINE:
		return parse_double(v, 0.1, 86400, &o->hs_deadline);
	case OPT_SLOTS:
		return parse_u32(v, 1, SW_MAX_SLOTS, &o->slots);
	case OPT_RATE:
		return parse_double(v, 0, 1e8, &o->rate);
	case OPT_DURATION:
		return parse_double(v, 0, 86400, &o->duration);
	case OPT_SIZE:
		return parse_u32(v, SW_MIN_SIZE, SW_MAX_SIZE, &o->size);
	case OPT_UDP:
		o->mode = SW_MODE_UDP;
		return parse_u32(v, 1, 65535, &u) && (o->udp_port = (uint16_t)u);
	case OPT_LINGER:
		return parse_double(v, 0, 3600, &o->linger);
	case OPT_JSON:
		return (o->json = true);
	case OPT_REQUIRE_ALL:
		return (o->require_all = true);
	case OPT_NO_CONFIRM:
		return (o->no_confirm = true);
	case OPT_EMIT:
		return (*emit = true);
	default:
		return false;
	}
}

/* ---- the run ---------------------------------------------------------------------------- */

static void phase_begin(const struct sw *s, struct sw_phase *ph)
{
	ph->start = sw_now();
	sw_proc_read(0, &ph->self0);
	if (s->o.hub_pid)
		sw_proc_read(s->o.hub_pid, &ph->hub0);
}

static void phase_end(const struct sw *s, struct sw_phase *ph)
{
	ph->end = sw_now();
	sw_proc_read(0, &ph->self1);
	if (s->o.hub_pid)
		sw_proc_read(s->o.hub_pid, &ph->hub1);
}

/* Receives, resends timed-out initiations and sends the initiations the rate allows. */
static void handshake_step(struct sw *s, uint64_t now, double *tokens, uint64_t *last,
			   uint64_t *last_timeouts)
{
	/* 50 ms of initiations may go at once: the loop of a busy machine wakes up late. */
	double burst = s->o.handshake_rate / 20 > SW_BATCH ? s->o.handshake_rate / 20 : SW_BATCH;

	*tokens += s->o.handshake_rate * (double)(now - *last) / 1e9;
	if (*tokens > burst)
		*tokens = burst;
	*last = now;
	if (now - *last_timeouts >= 50 * FT_NSEC_PER_MSEC) {
		sw_handshake_timeouts(s, now);
		*last_timeouts = now;
	}
	if (*tokens >= 1)
		*tokens -= sw_handshake_pump(s, now, (uint32_t)*tokens);
}

static void run_handshakes(struct sw *s, struct sw_phase *ph)
{
	uint64_t deadline, last, last_timeouts = 0, progress;
	double tokens = 1;

	phase_begin(s, ph);
	last = progress = ph->start;
	deadline = ph->start + (uint64_t)(s->o.hs_deadline * 1e9);
	while (s->established < s->o.peers) {
		uint64_t now = sw_now();

		if (now >= deadline)
			break;
		if (now - progress >= 5 * FT_NSEC_PER_SEC) {
			fprintf(stderr, "peer-swarm: %u of %u peers handshaked after %.0f s\n",
				s->established, s->o.peers, (double)(now - ph->start) / 1e9);
			progress = now;
		}
		sw_io_receive(s, now, 8);
		handshake_step(s, now, &tokens, &last, &last_timeouts);
		sw_io_flush(s);
		if (s->established < s->o.peers)
			sw_io_wait(s, 1);
	}
	phase_end(s, ph);
}

static void run_data(struct sw *s, struct sw_phase *ph)
{
	uint64_t total = (uint64_t)(s->o.rate * s->o.duration), last, last_timeouts = 0;
	uint32_t cursor = 0;
	double tokens = 0;
	uint64_t sent = 0;

	phase_begin(s, ph);
	last = ph->start;
	for (;;) {
		uint64_t now = sw_now(), due;
		double el = (double)(now - ph->start) / 1e9;

		if (el >= s->o.duration && sent >= total)
			break;
		if (el >= s->o.duration + 5) /* a swarm too slow for its rate gives up */
			break;
		sw_io_receive(s, now, 8);
		handshake_step(s, now, &tokens, &last, &last_timeouts);
		due = (uint64_t)(s->o.rate * el);
		if (due > total)
			due = total;
		for (uint32_t n = 0; sent < due && n < 4 * SW_BATCH; n++) {
			if (!sw_data_send(s, now, &cursor))
				break;
			sent++;
		}
		sw_io_flush(s);
		if (sent >= due)
			sw_io_wait(s, 1);
	}
	ph->sending_end = sw_now();
}

static void run_linger(struct sw *s, struct sw_phase *ph)
{
	uint64_t end = sw_now() + (uint64_t)(s->o.linger * 1e9);
	struct sw_totals t;

	while (sw_now() < end) {
		sw_io_receive(s, sw_now(), 8);
		sw_totals(s, &t);
		if (s->o.mode == SW_MODE_ICMP && t.n.answered >= t.n.data_tx_pkts)
			break;
		sw_io_wait(s, 5);
	}
	/* The data phase's figures include the linger: its answers belong to it. */
	phase_end(s, ph);
}

static const char *option_name(int c)
{
	for (const struct option *o = long_options; o->name; o++)
		if (o->val == c)
			return o->name;
	return "?";
}

int main(int argc, char *argv[])
{
	static struct sw s;
	struct sw_phase hs = { 0 }, data = { 0 };
	struct sw_flow_result flows = { 0 };
	bool emit = false;
	long flow_offset = 0;
	int c, rc = 3;

	defaults(&s.o);
	while ((c = getopt_long(argc, argv, "h", long_options, NULL)) != -1) {
		if (c == 'h' || c == OPT_HELP) {
			fputs(usage_text, stdout);
			return 0;
		}
		if (!set_option(&s.o, c, optarg, &emit)) {
			if (c != '?')
				fprintf(stderr, "peer-swarm: bad value for --%s: '%s'\n",
					option_name(c), optarg ? optarg : "");
			fputs(usage_text, stderr);
			return 2;
		}
	}
	if (optind != argc || (!emit && (!s.o.hub.sin_port || !s.o.have_hub_key))) {
		fputs(usage_text, stderr);
		return 2;
	}
	/* From here on, overlay is this swarm's peer 0's address. */
	if ((uint64_t)s.o.overlay + s.o.first + s.o.peers > UINT32_MAX) {
		fprintf(stderr, "peer-swarm: the overlay addresses run past 255.255.255.255\n");
		return 2;
	}
	s.o.overlay += s.o.first;
	if (sodium_init() < 0) {
		fprintf(stderr, "peer-swarm: sodium_init failed\n");
		return 3;
	}
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	ft_crypto_hash2(s.seed_key, "peer-swarm seed ", 16, s.o.seed, strlen(s.o.seed));
	if (emit)
		return sw_emit_config(&s) == 0 ? 0 : 3;

	{
		uint32_t naddr = s.o.src_count ? s.o.src_count : 1;

		s.nsock = s.o.sockets ? s.o.sockets : (s.o.peers + naddr - 1) / naddr;
		if (s.nsock > SW_MAX_SOCKETS)
			s.nsock = SW_MAX_SOCKETS;
		s.endpoints = naddr * s.nsock;
	}
	if (sw_peers_init(&s) < 0) {
		fprintf(stderr, "peer-swarm: cannot set up %u peers: out of memory\n", s.o.peers);
		goto out;
	}
	if (sw_io_open(&s) < 0)
		goto out;
	if (s.o.flow_log)
		flow_offset = sw_flow_offset(s.o.flow_log);

	run_handshakes(&s, &hs);
	hs.established = s.established;
	{
		struct sw_totals t;

		sw_totals(&s, &t);
		hs.initiations = t.n.hs_sent;
	}
	run_data(&s, &data);
	sw_io_flush(&s);
	run_linger(&s, &data);
	if (s.o.flow_log && sw_flow_check(&s, flow_offset, &flows) < 0) {
		fprintf(stderr, "peer-swarm: reading %s: %s\n", s.o.flow_log, strerror(errno));
		goto out;
	}
	rc = sw_report(&s, &hs, &data, &flows);
out:
	sw_io_close(&s);
	sw_peers_free(&s);
	return rc;
}
