# The flow log's entries (JSON Lines, one flush each) as the IPFIX records flowtun exports
# for them, one line each, "SRC SPORT DST DPORT PROTO PACKETS BYTES" as
# `nfdump -N -o 'fmt:%sa %sp %da %dp %pr %pkt %byt'` prints them: tx as keyed, rx with source
# and destination swapped; a physical entry's egress record has no source (0.0.0.0:0), its
# ingress record no destination. ICMP has no ports: nfdump prints the type.code "0.0".
# Used by tests/netns/flowipfix.sh and tests/netns/swarm.sh: jq -r -f tests/flowlog-ipfix.jq.
def ep: capture("^\\[?(?<a>.*?)\\]?:(?<p>[0-9]+)$");
def port($pr): if ($pr == 1 or $pr == 58) then "0.0" else .p end;
(.virtualTraffic, .subnetTraffic, .exitTraffic | .[]? | select(.invalid | not) |
	(.src | ep) as $s | (.dst | ep) as $d | .proto as $pr |
	(select((.txPkts // 0) > 0) | [$s.a, ($s | .p), $d.a, ($d | port($pr)), $pr,
		.txPkts, (.txBytes // 0)]),
	(select((.rxPkts // 0) > 0) | [$d.a, ($d | .p), $s.a, ($s | port($pr)), $pr,
		.rxPkts, (.rxBytes // 0)])),
(.physicalTraffic[]? | (.dst | ep) as $e |
	(select((.txPkts // 0) > 0) | ["0.0.0.0", "0", $e.a, $e.p, 17, .txPkts,
		(.txBytes // 0)]),
	(select((.rxPkts // 0) > 0) | [$e.a, $e.p, "0.0.0.0", "0", 17, .rxPkts,
		(.rxBytes // 0)]))
| map(tostring) | join(" ")
