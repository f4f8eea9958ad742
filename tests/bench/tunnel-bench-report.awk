# SPDX-License-Identifier: MIT
# The report of tests/bench/tunnel-bench, from its results file (lines "KIND METRIC RUN VALUE",
# VALUE "-" for a failed test). Variables (-v): kinds (the kinds measured, in order), udp_len,
# runs, ver_up and ver_deb (the versions of the two wireguard-go builds), rev (flowtun's source
# revision). Prints Markdown: the medians, their spread, the ratios, the targets, and the
# table for README.md. Written for mawk (Debian's awk): no asort, no gensub.
BEGIN {
	nk = split(kinds, K, " ")
	nm = split("tcp1 tcp4 udp64_pps udp64_loss udpL_pps udpL_loss ping cpu1 cpu4 " \
		   "udp64_cpu_tx udp64_cpu_rx udpL_cpu_tx udpL_cpu_rx", M, " ")
	H["tcp1"] = "TCP 1 stream Gbit/s"; F["tcp1"] = "%.3f"
	H["tcp4"] = "TCP 4 streams Gbit/s"; F["tcp4"] = "%.3f"
	H["udp64_pps"] = "UDP 64 B rx pkt/s"; F["udp64_pps"] = "%.0f"
	H["udp64_loss"] = "UDP 64 B loss %"; F["udp64_loss"] = "%.1f"
	H["udpL_pps"] = "UDP " udp_len " B rx pkt/s"; F["udpL_pps"] = "%.0f"
	H["udpL_loss"] = "UDP " udp_len " B loss %"; F["udpL_loss"] = "%.1f"
	H["ping"] = "ping avg ms"; F["ping"] = "%.3f"
	H["cpu1"] = "CPU s/GB, TCP 1"; F["cpu1"] = "%.2f"
	H["cpu4"] = "CPU s/GB, TCP 4"; F["cpu4"] = "%.2f"
	H["udp64_cpu_tx"] = "CPU µs/pkt UDP 64 B, sender"; F["udp64_cpu_tx"] = "%.2f"
	H["udp64_cpu_rx"] = "CPU µs/pkt UDP 64 B, receiver"; F["udp64_cpu_rx"] = "%.2f"
	H["udpL_cpu_tx"] = "CPU µs/pkt UDP " udp_len " B, sender"; F["udpL_cpu_tx"] = "%.2f"
	H["udpL_cpu_rx"] = "CPU µs/pkt UDP " udp_len " B, receiver"; F["udpL_cpu_rx"] = "%.2f"
	# More is better for throughput; less for ping and CPU. Loss has no ratio.
	LESS["ping"] = LESS["cpu1"] = LESS["cpu4"] = 1
	LESS["udp64_cpu_tx"] = LESS["udp64_cpu_rx"] = LESS["udpL_cpu_tx"] = LESS["udpL_cpu_rx"] = 1
	L["veth"] = "veth (no tunnel: the ceiling)"
	L["flowtun"] = "flowtun"
	L["flowtun-nostats"] = "flowtun, Statistics = off"
	L["flowtun-libsodium"] = "flowtun, --crypto libsodium"
	L["flowtun-nocoalesce"] = "flowtun, --no-udp-coalesce"
	L["flowtun-openssl"] = "flowtun, --crypto openssl"
	L["flowtun-syscalls"] = "flowtun, --tun-io syscalls"
	L["flowtun-w2"] = "flowtun, --workers 2"
	L["wggo-upstream"] = "wireguard-go " (ver_up != "" ? ver_up " " : "") "(upstream, offloads)"
	L["wggo"] = "wireguard-go " (ver_deb != "" ? ver_deb " " : "") "(Debian 12)"
	S["veth"] = "veth"; S["flowtun"] = "flowtun"; S["flowtun-nostats"] = "flowtun (stats off)"
	S["flowtun-libsodium"] = "flowtun libsodium"; S["flowtun-openssl"] = "flowtun openssl"
	S["flowtun-nocoalesce"] = "flowtun no UDP GRO"
	S["flowtun-syscalls"] = "flowtun syscalls"; S["flowtun-w2"] = "flowtun 2 workers"
	S["wggo-upstream"] = "wireguard-go upstream"; S["wggo"] = "wireguard-go Debian"
}
{
	key = $1 SUBSEP $2
	seen[key] = 1
	if ($4 != "-") { c = ++n[key]; v[key, c] = $4 + 0 }
}
function median(kind, m,    key, c, i, j, t, a) {
	key = kind SUBSEP m
	c = n[key] + 0
	if (c == 0) return ""
	for (i = 1; i <= c; i++) a[i] = v[key, i]
	for (i = 2; i <= c; i++)
		for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
	return c % 2 ? a[(c + 1) / 2] : (a[c / 2] + a[c / 2 + 1]) / 2
}
function cell(kind, m,    key, x) {
	key = kind SUBSEP m
	if (!(key in seen)) return "–"
	x = median(kind, m)
	if (x == "") return "failed"
	return sprintf(F[m], x) (n[key] < runs ? " (" n[key] "/" runs ")" : "")
}
function ratio(k1, k2, m,    x, y) {
	if (!((k1 SUBSEP m) in seen) || !((k2 SUBSEP m) in seen)) return ""
	x = median(k1, m); y = median(k2, m)
	if (x == "" || y == "" || y == 0) return ""
	return x / y
}
function spread(kind, m,    key, c, i, lo, hi) {
	key = kind SUBSEP m
	c = n[key] + 0
	if (c < 2) return "–"
	lo = hi = v[key, 1]
	for (i = 2; i <= c; i++) {
		if (v[key, i] < lo) lo = v[key, i]
		if (v[key, i] > hi) hi = v[key, i]
	}
	return lo > 0 ? sprintf("%.2f", hi / lo) : "–"
}
function fmt_ratio(r) { return r == "" ? "–" : sprintf("%.3g", r) }
function has(kind,    i) { for (i = 1; i <= nk; i++) if (K[i] == kind) return 1; return 0 }
# One target: ratio (or value, with absolute) against a bound.
function target(name, r, bound, ge,    ok) {
	if (r == "") ok = "n/a"
	else if (ge) ok = r + 0 >= bound ? "yes" : "no"
	else ok = r + 0 <= bound ? "yes" : "no"
	if (ok == "yes") met++
	if (ok != "n/a") tried++
	printf "| %s | %s | %s %s | %s |\n", name, r == "" ? "–" : sprintf("%.3g", r),
	    ge ? ">=" : "<=", bound, ok
}
function worse_side(kind, m,    x, y) {
	x = median(kind, m "_tx"); y = median(kind, m "_rx")
	if (x == "" || y == "") return ""
	return x > y ? x : y
}
END {
	print "### Medians"
	print ""
	line = "| kind |"; sep = "|---|"
	for (i = 1; i <= nm; i++) { line = line " " H[M[i]] " |"; sep = sep "---|" }
	print line; print sep
	for (k = 1; k <= nk; k++) {
		line = "| " L[K[k]] " |"
		for (i = 1; i <= nm; i++) line = line " " cell(K[k], M[i]) " |"
		print line
	}
	print ""
	# How far apart the runs were: a ratio between kinds means little when it is smaller than
	# the spread of either kind's own runs.
	if (runs > 1) {
		line = "| spread: max / min of the runs |"; sep = "|---|"
		for (i = 1; i <= nm; i++)
			if (M[i] !~ /_loss$/) { line = line " " H[M[i]] " |"; sep = sep "---|" }
		print line; print sep
		for (k = 1; k <= nk; k++) {
			line = "| " L[K[k]] " |"
			for (i = 1; i <= nm; i++)
				if (M[i] !~ /_loss$/) line = line " " spread(K[k], M[i]) " |"
			print line
		}
		print ""
	}
	# Ratios of the medians, for each pair of kinds measured in this run.
	np = split("flowtun/wggo-upstream flowtun/wggo flowtun/veth flowtun-nostats/flowtun " \
		   "flowtun-openssl/flowtun-libsodium flowtun/flowtun-nocoalesce flowtun/flowtun-syscalls " \
		   "flowtun-w2/flowtun " \
		   "wggo-upstream/wggo", P, " ")
	line = "| ratio |"; sep = "|---|"; npp = 0
	for (p = 1; p <= np; p++) {
		split(P[p], pk, "/")
		if (!has(pk[1]) || !has(pk[2])) continue
		PP[++npp] = P[p]
		line = line " " S[pk[1]] " / " S[pk[2]] " |"; sep = sep "---|"
	}
	if (npp) {
		print "### Ratios (same run)"
		print ""
		print line; print sep
		for (i = 1; i <= nm; i++) {
			if (M[i] ~ /_loss$/) continue
			line = "| " H[M[i]] " |"
			for (p = 1; p <= npp; p++) {
				split(PP[p], pk, "/")
				line = line " " fmt_ratio(ratio(pk[1], pk[2], M[i])) " |"
			}
			print line
		}
		print ""
	}
	# The targets: issue 19's against upstream wireguard-go, issue 15's against Debian's and in
	# absolute CPU per packet, all from this run.
	if (has("flowtun")) {
		print "### Targets"
		print ""
		print "| target (same run) | ratio or value | target | met |"
		print "|---|---|---|---|"
		if (has("wggo-upstream")) {
			target("flowtun / upstream: TCP 1 stream", ratio("flowtun", "wggo-upstream", "tcp1"), 1.6, 1)
			target("flowtun / upstream: UDP " udp_len " B received", ratio("flowtun", "wggo-upstream", "udpL_pps"), 4, 1)
			target("flowtun / upstream: UDP 64 B received", ratio("flowtun", "wggo-upstream", "udp64_pps"), 4, 1)
			target("flowtun / upstream: CPU s/GB, TCP 1", ratio("flowtun", "wggo-upstream", "cpu1"), 0.5, 0)
			target("flowtun / upstream: ping", ratio("flowtun", "wggo-upstream", "ping"), 1, 0)
		}
		if (has("wggo")) {
			target("flowtun / Debian: TCP 1 stream", ratio("flowtun", "wggo", "tcp1"), 8, 1)
			target("flowtun / Debian: UDP " udp_len " B received", ratio("flowtun", "wggo", "udpL_pps"), 4, 1)
			target("flowtun / Debian: UDP 64 B received", ratio("flowtun", "wggo", "udp64_pps"), 3.5, 1)
			target("flowtun / Debian: CPU s/GB, TCP 1", ratio("flowtun", "wggo", "cpu1"), 0.1, 0)
		}
		target("flowtun: CPU µs/pkt at " udp_len " B, busier side", worse_side("flowtun", "udpL_cpu"), 2.0, 0)
		target("flowtun: CPU µs/pkt at 64 B, busier side", worse_side("flowtun", "udp64_cpu"), 1.2, 0)
		if (has("flowtun-nostats")) {
			r = ratio("flowtun", "flowtun-nostats", "tcp1")
			target("statistics on / off: TCP 1 stream", r, 0.97, 1)
			r = ratio("flowtun", "flowtun-nostats", "udp64_pps")
			target("statistics on / off: UDP 64 B received", r, 0.97, 1)
		}
		print ""
		printf "Targets met: %d of %d measured.\n\n", met, tried
	}
	# For README.md: metrics down, kinds across, led by upstream wireguard-go.
	if (!has("flowtun")) exit
	print "### For README.md (paste as is)"
	print ""
	nr = 0
	C[++nr] = "flowtun"
	if (has("wggo-upstream")) { C[++nr] = "wggo-upstream"; C[++nr] = "r:wggo-upstream" }
	if (has("wggo")) { C[++nr] = "wggo"; C[++nr] = "r:wggo" }
	if (has("veth")) C[++nr] = "veth"
	line = "| " (rev != "" ? "flowtun " rev ", same run" : "same run") " |"; sep = "|---|"
	for (c = 1; c <= nr; c++) {
		if (C[c] ~ /^r:/) h = "flowtun / " (C[c] == "r:wggo" ? "Debian" : "upstream")
		else h = L[C[c]]
		line = line " " h " |"; sep = sep "---:|"
	}
	print line; print sep
	nrow = split("tcp1 tcp4 udp64_pps udpL_pps cpu1 udp64_cpu_tx udp64_cpu_rx udpL_cpu_tx " \
		     "udpL_cpu_rx ping", R, " ")
	for (i = 1; i <= nrow; i++) {
		m = R[i]
		line = "| " H[m] " |"
		for (c = 1; c <= nr; c++) {
			if (C[c] ~ /^r:/) {
				r = ratio("flowtun", substr(C[c], 3), m)
				line = line " " (r == "" ? "–" : sprintf("%.2f×", r)) " |"
			} else if (C[c] == "veth" && m ~ /cpu/) {
				line = line " – |"
			} else {
				line = line " " cell(C[c], m) " |"
			}
		}
		print line
	}
	print ""
	if (has("flowtun-nostats")) {
		line = "Statistics = off against on, same run:"
		split("tcp1 tcp4 udp64_pps udpL_pps", SR, " ")
		for (i = 1; i <= 4; i++)
			line = line (i > 1 ? "," : "") " " H[SR[i]] " " \
			    fmt_ratio(ratio("flowtun-nostats", "flowtun", SR[i]))
		print line " (off / on)."
		print ""
	}
}
