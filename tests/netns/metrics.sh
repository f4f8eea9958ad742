#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# The /metrics endpoint scraped by a real Prometheus (the Debian package): after traffic through
# a flowtun pair, the bytes, the handshake time and a drop counter Prometheus stored must equal
# what `wg show` and `flowtun show --json` report at a moment without traffic; `promtool check
# metrics` must find nothing to say of a scrape; bad requests (oversized, slow, too many at once,
# not GET, malformed) get their HTTP error, are counted, and do not stall the tunnel (a ping
# keeps answering); counters do not go back on SIGHUP. Side a runs as nobody under the seccomp
# allow-list; side b is `flowtun -f tun0` (wg-quick's mode) with MetricsListen in its settings
# file, on IPv6.
#
#   namespace $FT_PREFIX-a                           namespace $FT_PREFIX-b
#   +------------------------------+                 +------------------------------+
#   | prometheus 127.0.0.1:9090    |                 | flowtun -f tun0 + wg setconf |
#   |   scrapes 127.0.0.1:9586 1/s |                 |   metrics [::1]:9586         |
#   | flowtun up a.conf (nobody,   |                 | tun0 100.64.0.2/24           |
#   |   seccomp) tun0 100.64.0.1   |                 |                              |
#   | veth-a 198.18.0.1/24 --------+------ veth -----+-------- veth-b 198.18.0.2/24 |
#   +------------------------------+                 +------------------------------+
# shellcheck disable=SC2154 # a, b, ka, kb, pa, pb: set by ft_pair (tests/lib.sh)
. "${top_srcdir:-$(dirname "$0")/../..}/tests/lib.sh"

ft_require_root
ft_require_cmd ip ping iperf3 jq wg nsenter curl python3
command -v prometheus >/dev/null && command -v promtool >/dev/null ||
	ft_skip "prometheus and promtool are not installed (Debian package prometheus)"
[ -x "$FLOWTUN" ] || ft_fail "no flowtun binary at $FLOWTUN"
t_start=$(ft_now_ms)

ft_pair
ft_conf "$FT_TMP/a.conf" "$ka" "100.64.0.1/24" "$pb" "100.64.0.2/32" 198.18.0.2:51820 \
	"MetricsListen = 127.0.0.1:9586
User = nobody
Seccomp = on
FlowLog = $FT_TMP/flows-a.jsonl
FlowLogInterval = 60
LinkWatch = veth-a"
FLOWTUN_METRICS_SLICE_NS=20000 ft_up "$a" "$FT_TMP/a.conf"
pid_a=$FT_LAST_PID
grep -q "metrics on http://127.0.0.1:9586/metrics" "$FT_TMP/a.conf.log" ||
	ft_fail "a does not say where its metrics are: $(cat "$FT_TMP/a.conf.log")"
# The drop and the filter come just after "tun0 is up".
ft_wait_for 10 grep -q "seccomp allow-list on" "$FT_TMP/a.conf.log" ||
	ft_fail "a did not install seccomp: $(cat "$FT_TMP/a.conf.log")"

# Prometheus in a, its storage in the test's directory.
cat >"$FT_TMP/prometheus.yml" <<'EOF'
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: flowtun
    static_configs:
      - targets: ['127.0.0.1:9586']
EOF
t_prom=$(ft_now_ms)
ft_bg ip netns exec "$a" prometheus --config.file="$FT_TMP/prometheus.yml" \
	--storage.tsdb.path="$FT_TMP/prometheus" --web.listen-address=127.0.0.1:9090 \
	--log.level=warn 2>"$FT_TMP/prometheus.log"
prom_pid=$FT_LAST_PID
in_a() { ip netns exec "$a" "$@"; }

printf '[Interface]\nMetricsListen = [::1]:9586\n' >"$FT_TMP/b-settings.conf"
: >"$FT_TMP/b.log"
FLOWTUN_SETTINGS=$FT_TMP/b-settings.conf ft_bg ft_ns_exec "$b" "$FLOWTUN" -f tun0 \
	2>>"$FT_TMP/b.log"
pid_b=$FT_LAST_PID
ft_wait_for 10 nsenter --target "$pid_b" --mount --net test -S /run/wireguard/tun0.sock ||
	ft_fail "flowtun -f tun0 did not serve its socket: $(cat "$FT_TMP/b.log")"
(
	umask 077
	printf '[Interface]\nPrivateKey = %s\nListenPort = 51820\n\n' "$kb"
	printf '[Peer]\nPublicKey = %s\nAllowedIPs = 100.64.0.1/32\n' "$pa"
	printf 'Endpoint = 198.18.0.1:51820\n'
) >"$FT_TMP/b.wg"
ft_wg "$pid_b" setconf tun0 "$FT_TMP/b.wg" || ft_fail "wg setconf on flowtun -f tun0 failed"
ip -n "$b" addr add 100.64.0.2/24 dev tun0
ip -n "$b" link set tun0 up

ft_wait_for 20 in_a curl -sf http://127.0.0.1:9090/-/ready ||
	ft_fail "prometheus did not get ready: $(tail -5 "$FT_TMP/prometheus.log")"
ft_log "prometheus ready after $(($(ft_now_ms) - t_prom)) ms"

# promq QUERY: the result vector of an instant query, as JSON.
promq() {
	in_a curl -sf -G --data-urlencode "query=$1" http://127.0.0.1:9090/api/v1/query |
		jq -c '.data.result'
}

# Traffic: pings, a second of iperf3, and datagrams to an overlay address no peer has.
no_peer() { # no_peer N: N datagrams into tun0 that no peer's AllowedIPs take
	for _ in $(seq "$1"); do
		in_a bash -c 'echo x >/dev/udp/100.64.0.99/9' 2>/dev/null || true
	done
}
ft_ping "$a" 100.64.0.2 || ft_fail "a cannot ping 100.64.0.2"
ft_iperf "$b" "$a" 100.64.0.2 1
ft_log "iperf3 100.64.0.1 -> 100.64.0.2: $FT_MBPS Mbit/s"
no_peer 3

show_a() { nsenter --target "$pid_a" --mount --net "$FLOWTUN" show tun0 --json; }
# What the comparison reads (the endpoint's own counts change with every scrape).
state_a() { show_a | jq -c '{peers, counters, mtu}'; }
wg_a() { ft_wg "$pid_a" show tun0 "$@"; }
ft_wait_for 10 sh -c "ip netns exec $a curl -sf -G --data-urlencode 'query=up == 1' \
	http://127.0.0.1:9090/api/v1/query | grep -q flowtun" ||
	ft_fail "prometheus does not scrape flowtun"

# The comparison at a moment without traffic: the state read before and after Prometheus has a
# scrape newer than the first read must not have changed (a keepalive may come 10 s after the
# last packet: then try again).
sel="public_key=\"$pb\""
for try in 1 2 3 4 5; do
	j1=$(state_a) || ft_fail "flowtun show --json in a failed"
	w1=$(wg_a dump | tail -n +2)
	t1=$(date +%s.%N)
	ft_wait_for 10 sh -c "[ \"\$(ip netns exec $a curl -sf -G --data-urlencode \
		'query=timestamp(wireguard_sent_bytes_total{$sel}) > $t1' \
		http://127.0.0.1:9090/api/v1/query | jq '.data.result | length')\" = 1 ]" ||
		ft_fail "prometheus has no scrape after $t1"
	r=$(promq "{__name__=~\"wireguard_(sent|received)_bytes_total|wireguard_latest_handshake_seconds\",$sel}
		or flowtun_drops_total{reason=\"no_peer\"} or flowtun_handshakes_completed_total
		or flowtun_packets_total{direction=\"outbound\"} or flowtun_tun_mtu_bytes
		or flowtun_peer_path_mtu_bytes{$sel}")
	# PromQL's or drops a series whose labels (the name aside) another one has already.
	r_kdrop=$(promq flowtun_tun_kernel_dropped_total)
	pv() { jq -r --arg n "$1" '.[] | select(.metric.__name__ == $n) | .value[1]' <<<"$r"; }
	p_tx=$(pv wireguard_sent_bytes_total)
	p_rx=$(pv wireguard_received_bytes_total)
	p_hs=$(pv wireguard_latest_handshake_seconds)
	p_drop=$(pv flowtun_drops_total)
	p_done=$(pv flowtun_handshakes_completed_total)
	p_pkts=$(pv flowtun_packets_total)
	p_kdrop=$(jq -r '.[0].value[1]' <<<"$r_kdrop")
	p_mtu=$(pv flowtun_tun_mtu_bytes)
	p_pmtu=$(pv flowtun_peer_path_mtu_bytes)
	p_allowed=$(jq -r '.[] | select(.metric.__name__ == "wireguard_sent_bytes_total") |
		.metric.allowed_ips' <<<"$r")
	j2=$(state_a)
	w2=$(wg_a dump | tail -n +2)
	[ "$j1" = "$j2" ] && [ "$w1" = "$w2" ] && break
	ft_log "try $try: the state changed while Prometheus scraped; again"
	sleep 1
done
[ "$j1" = "$j2" ] || ft_fail "no quiet moment in 5 tries"
# wg show dump: public-key preshared-key endpoint allowed-ips latest-handshake rx tx keepalive.
read -r _ _ _ w_allowed w_hs w_rx w_tx _ <<<"$w1"
j_tx=$(jq -r '.peers[0].txBytes' <<<"$j1")
j_rx=$(jq -r '.peers[0].rxBytes' <<<"$j1")
j_hs=$(jq -r '.peers[0].latestHandshake' <<<"$j1")
j_drop=$(jq -r '.counters.no_peer' <<<"$j1")
j_done=$(jq -r '.counters.handshake_completed' <<<"$j1")
j_pkts=$(jq -r '.counters.tun_rx_packets' <<<"$j1")
j_kdrop=$(jq -r '.counters.tun_kernel_dropped' <<<"$j1")
j_mtu=$(jq -r '.mtu' <<<"$j1")
j_pmtu=$(jq -r '.peers[0].pathMtu' <<<"$j1")
ft_log "sent bytes: prometheus $p_tx, wg $w_tx, show $j_tx; received: $p_rx, $w_rx, $j_rx"
ft_log "handshake: prometheus $p_hs, wg $w_hs, show $j_hs; no_peer drops: $p_drop, show $j_drop"
[ "$p_tx" = "$w_tx" ] && [ "$w_tx" = "$j_tx" ] && [ "$j_tx" -gt 1000000 ] ||
	ft_fail "sent bytes differ or are too few"
[ "$p_rx" = "$w_rx" ] && [ "$w_rx" = "$j_rx" ] && [ "$j_rx" -gt 0 ] ||
	ft_fail "received bytes differ"
[ "$p_hs" = "$w_hs" ] && [ "$w_hs" = "$j_hs" ] && [ "$j_hs" -gt 0 ] ||
	ft_fail "the latest handshake differs"
[ "$p_drop" = "$j_drop" ] && [ "$j_drop" -ge 3 ] || ft_fail "no_peer drops differ"
[ "$p_done" = "$j_done" ] && [ "$p_pkts" = "$j_pkts" ] ||
	ft_fail "handshakes ($p_done, $j_done) or packets ($p_pkts, $j_pkts) differ"
[ "$p_allowed" = "$w_allowed" ] || ft_fail "allowed_ips '$p_allowed', wg says '$w_allowed'"
ft_log "TUN kernel drops: prometheus $p_kdrop, show $j_kdrop; MTU $p_mtu, $j_mtu; path MTU $p_pmtu, $j_pmtu"
[ -n "$p_kdrop" ] && [ "$p_kdrop" = "$j_kdrop" ] || ft_fail "TUN kernel drops differ"
[ "$p_mtu" = "$j_mtu" ] && [ "$j_mtu" -ge 1280 ] || ft_fail "the TUN MTU differs"
[ "$p_pmtu" = "$j_pmtu" ] && [ "$j_pmtu" -ge 1280 ] || ft_fail "the path MTU differs"

# The scrape, linted; and the OpenMetrics answer, which Prometheus asked for above.
in_a curl -sf http://127.0.0.1:9586/metrics >"$FT_TMP/scrape.txt" || ft_fail "curl /metrics"
lint=$(promtool check metrics <"$FT_TMP/scrape.txt" 2>&1) && [ -z "$lint" ] ||
	ft_fail "promtool check metrics: $lint"
om=$(in_a curl -sf -D - -H 'Accept: application/openmetrics-text; version=1.0.0' \
	http://127.0.0.1:9586/metrics) || ft_fail "curl /metrics (OpenMetrics)"
grep -q '^Content-Type: application/openmetrics-text; version=1.0.0; charset=utf-8' <<<"$om" &&
	[ "$(tail -n 1 <<<"$om")" = "# EOF" ] || ft_fail "no OpenMetrics answer: $(head -8 <<<"$om")"
grep -q '^# TYPE wireguard_sent_bytes counter' <<<"$om" || ft_fail "OpenMetrics TYPE line"
ft_log "promtool check metrics: clean ($(wc -l <"$FT_TMP/scrape.txt") lines); OpenMetrics: ok"

# b, wg-quick's mode, on [::1].
sb=$(ip netns exec "$b" curl -sf 'http://[::1]:9586/metrics') || ft_fail "curl b's metrics"
grep -q "^wireguard_received_bytes_total{interface=\"tun0\",public_key=\"$pa\",allowed_ips=\"100.64.0.1/32\"} [1-9]" <<<"$sb" ||
	ft_fail "b's metrics lack its peer: $(grep wireguard_received <<<"$sb")"

# Bad requests while a ping runs through the tunnel. The client script prints each answer's
# status; the ping's round trips must stay short (a loop stalled on a slow client would not
# answer for seconds).
cat >"$FT_TMP/bad.py" <<'EOF'
import socket, sys, threading, time
addr = ("127.0.0.1", 9586)
results, lock = [], threading.Lock()

def status(s):
    data = b""
    s.settimeout(10)
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            data += d
    except OSError:
        pass
    parts = data.split(b" ", 2)
    return parts[1].decode() if data.startswith(b"HTTP/1.1 ") and len(parts) > 1 else "none"

def one(name, payload, wait=0):
    s = socket.create_connection(addr)
    if payload:
        s.sendall(payload)
    if wait:
        time.sleep(wait)
    st = status(s)
    s.close()
    with lock:
        results.append((name, st))

# Each kind of bad request once, and a slow client that holds its slot until the head timeout.
slow = threading.Thread(target=one, args=("slow", b"GET /metrics HTTP/1.1\r\nHo"))
slow.start()
quick = [threading.Thread(target=one, args=(name, payload)) for name, payload in [
    ("oversized", b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * 8000 + b"\r\n\r\n"),
    ("post", b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"),
    ("path", b"GET /admin HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("malformed", b"GET /metrics HTTP/1.1\r\nHost x\r\n\r\n"),
]]
for t in quick:
    t.start()
for t in quick:
    t.join()
# Then 20 connections at once that send nothing: those that get one of the 16 client slots
# (the slow one and Prometheus hold some) are answered 408 after 5 s, the others 503 at once.
idle = [threading.Thread(target=one, args=("idle", b"")) for _ in range(20)]
for t in idle:
    t.start()
for t in idle + [slow]:
    t.join()
for name, st in sorted(results):
    print(name, st)
EOF
in_a ping -c 100 -i 0.01 -q 100.64.0.2 >"$FT_TMP/ping-base.txt" 2>&1 ||
	ft_fail "baseline ping lost packets: $(cat "$FT_TMP/ping-base.txt")"
ft_bg ip netns exec "$a" ping -i 0.01 -q 100.64.0.2 >"$FT_TMP/ping-bad.txt" 2>&1
ping_pid=$FT_LAST_PID
t_bad=$(ft_now_ms)
in_a python3 "$FT_TMP/bad.py" >"$FT_TMP/bad.txt" || ft_fail "the bad-request client failed"
ft_log "bad requests answered in $(($(ft_now_ms) - t_bad)) ms"
kill -INT "$ping_pid" # ping prints its summary and exits
wait "$ping_pid" || true
sort "$FT_TMP/bad.txt" | uniq -c | sed 's/^/  answers: /' >&2
# "700 packets transmitted, 700 received, 0% packet loss" / "rtt min/avg/max/mdev = a/b/c/d ms"
rtt() { awk -F'[/ ]' '/^rtt/ {print $8, $9}' "$1"; }
loss() { sed -n 's/.* \([0-9.]*\)% packet loss.*/\1/p' "$1"; }
read -r base_avg base_max <<<"$(rtt "$FT_TMP/ping-base.txt")"
read -r bad_avg bad_max <<<"$(rtt "$FT_TMP/ping-bad.txt")"
ft_log "ping through the tunnel: avg $base_avg ms, max $base_max ms before; during the bad" \
	"requests avg $bad_avg ms, max $bad_max ms, $(loss "$FT_TMP/ping-bad.txt")% lost"
# A loop stalled on a client for its 5 s would show as seconds here; the machine is shared,
# hence the generous bound.
awk -v m="$bad_max" -v l="$(loss "$FT_TMP/ping-bad.txt")" 'BEGIN {exit !(m < 500 && l <= 1)}' ||
	ft_fail "the tunnel stalled during the bad requests: max $bad_max ms"
expect() { # expect NAME STATUS COUNT-OR-MORE
	local n
	n=$(awk -v n="$1" -v s="$2" '$1 == n && $2 == s' "$FT_TMP/bad.txt" | wc -l)
	[ "$n" -ge "$3" ] || ft_fail "$1: $n answers $2, expected at least $3"
}
expect oversized 431 1
expect post 405 1
expect path 404 1
expect malformed 400 1
expect slow 408 1
expect idle 503 1
expect idle 408 1
n408=$(awk '$2 == 408' "$FT_TMP/bad.txt" | wc -l)
n503=$(awk '$2 == 503' "$FT_TMP/bad.txt" | wc -l)
[ $((n408 + n503)) -eq 21 ] && [ "$n408" -le 16 ] ||
	ft_fail "idle and slow clients: $n408 x 408, $n503 x 503"
j=$(show_a)
jq -e --argjson a "$n408" --argjson b "$n503" '.metrics.requests as $r |
	$r["431"] == 1 and $r["405"] == 1 and $r["404"] == 1 and $r["400"] == 1 and
	$r["408"] == $a and $r["503"] >= $b and $r["200"] > 5' <<<"$j" >/dev/null ||
	ft_fail "the counts of flowtun show do not match the answers: $(jq -c .metrics <<<"$j")"
ft_log "bad requests: each answered and counted; the tunnel kept answering"

# SIGHUP: no counter of the scrape goes back, none disappears.
in_a curl -sf http://127.0.0.1:9586/metrics >"$FT_TMP/before.txt" || ft_fail "scrape before HUP"
kill -HUP "$pid_a"
ft_wait_for 10 grep -q "reloaded" "$FT_TMP/a.conf.log" || ft_fail "a did not reload"
! grep -q "need a restart" "$FT_TMP/a.conf.log" ||
	ft_fail "the same MetricsListen taken for a change: $(grep restart "$FT_TMP/a.conf.log")"
no_peer 2
in_a curl -sf http://127.0.0.1:9586/metrics >"$FT_TMP/after.txt" || ft_fail "scrape after HUP"
python3 - "$FT_TMP/before.txt" "$FT_TMP/after.txt" <<'EOF' || ft_fail "a counter went back on SIGHUP"
import sys
def parse(path):
    counters, types = {}, {}
    for line in open(path):
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            types[name] = kind
        elif line.strip() and not line.startswith("#"):
            series, value = line.rsplit(" ", 1)
            name = series.split("{", 1)[0]
            if types.get(name) == "counter":
                counters[series] = float(value)
    return counters
before, after = parse(sys.argv[1]), parse(sys.argv[2])
bad = [s for s in before if s not in after or after[s] < before[s]]
for s in bad:
    print("  went back:", s, before[s], after.get(s), file=sys.stderr)
print("  %d counters compared across SIGHUP" % len(before), file=sys.stderr)
sys.exit(1 if bad or len(before) < 40 else 0)
EOF
grep -q '^flowtun_drops_total{interface="tun0",reason="no_peer"} [1-9]' "$FT_TMP/after.txt" ||
	ft_fail "no no_peer drops after the reload"

# Peers coming and going in the middle of scrapes: 300 more peers, then scrapes in 20 µs
# slices (FLOWTUN_METRICS_SLICE_NS, a test hook, set for a above) while a client of the
# userspace API removes and adds peers as fast as it can: each answer must still be a valid
# exposition, every series once, peer b in it. (The copy of the peers starts again when they
# change between two of its slices, and is done in one go after three restarts.)
cat >"$FT_TMP/churn.py" <<'EOF'
import os, socket, sys, time
def key():
    return os.urandom(32).hex()
def ask(s, req):
    s.sendall(req.encode())
    ans = b""
    while not ans.endswith(b"\n\n"):
        d = s.recv(4096)
        if not d:
            raise SystemExit("the API closed")
        ans += d
    if ans != b"errno=0\n\n":
        raise SystemExit("the API answered " + ans.decode())
s = socket.socket(socket.AF_UNIX)
s.connect("/run/wireguard/tun0.sock")
keys = [key() for _ in range(300)]
ask(s, "set=1\n" + "".join("public_key=%s\nallowed_ip=100.65.%d.%d/32\n" %
                           (k, i // 256, i % 256) for i, k in enumerate(keys)) + "\n")
print("ready", flush=True)
i, end = 0, time.time() + 30
while time.time() < end and not os.path.exists(sys.argv[1]):
    new = key()
    ask(s, "set=1\npublic_key=%s\nremove=true\npublic_key=%s\nallowed_ip=100.66.%d.%d/32\n\n"
        % (keys[i % 300], new, (i // 256) % 256, i % 256))
    keys[i % 300] = new
    i += 1
print("changes", i, flush=True)
EOF
ft_bg nsenter --target "$pid_a" --mount --net python3 "$FT_TMP/churn.py" "$FT_TMP/churn.stop" \
	>"$FT_TMP/churn.out"
churn_pid=$FT_LAST_PID
ft_wait_for 20 grep -q ready "$FT_TMP/churn.out" || ft_fail "the API client did not add its peers"
for i in $(seq 6); do
	in_a curl -sf -o "$FT_TMP/churn-$i.txt" http://127.0.0.1:9586/metrics || ft_fail "scrape $i during churn"
done
: >"$FT_TMP/churn.stop"
wait "$churn_pid" || ft_fail "the API client failed: $(cat "$FT_TMP/churn.out")"
ft_log "peer changes through the API during the scrapes: $(awk '/changes/ {print $2}' "$FT_TMP/churn.out")"
python3 - "$pb" "$FT_TMP"/churn-*.txt <<'EOF' || ft_fail "a scrape during the churn is not valid"
import sys
key, bad = sys.argv[1], 0
for path in sys.argv[2:]:
    seen, done, current, peers = set(), set(), None, 0
    for line in open(path):
        if line.startswith("# TYPE "):
            name = line.split()[2]
            if name in done:
                print(path, "family split:", name); bad += 1
            if current:
                done.add(current)
            current = name
        elif not line.startswith("#"):
            series = line.rsplit(" ", 1)[0]
            if series in seen:
                print(path, "twice:", series); bad += 1
            seen.add(series)
            if series.startswith("wireguard_sent_bytes_total{"):
                peers += 1
    if peers < 250 or not any(key in s for s in seen):
        print(path, "has", peers, "peers, peer b:", any(key in s for s in seen)); bad += 1
print("  %d scrapes during the churn: valid" % (len(sys.argv) - 2), file=sys.stderr)
sys.exit(1 if bad else 0)
EOF
lint=$(promtool check metrics <"$FT_TMP/churn-6.txt" 2>&1) && [ -z "$lint" ] ||
	ft_fail "promtool check metrics during the churn: $lint"

kill -TERM "$prom_pid"
wait "$prom_pid" 2>/dev/null || true
ft_stop "$pid_a" "$FT_TMP/a.conf.log" || ft_fail "flowtun a did not exit cleanly"
ft_stop "$pid_b" "$FT_TMP/b.log" || ft_fail "flowtun b did not exit cleanly"
ft_log "PASS in $(($(ft_now_ms) - t_start)) ms"
