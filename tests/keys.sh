#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# flowtun genkey/pubkey/genpsk against fixed vectors and, when installed, against wg(8).
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"

[ -x "$FLOWTUN" ] || ft_fail "no flowtun binary at $FLOWTUN"

# RFC 7748 6.1, Alice: private and public key in base64.
priv=dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=
pub=hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=
got=$(echo "$priv" | "$FLOWTUN" pubkey)
[ "$got" = "$pub" ] || ft_fail "pubkey of the RFC 7748 key: got '$got', want '$pub'"

# Whitespace around the key is fine, as with wg pubkey.
got=$(printf '  %s  \n\n' "$priv" | "$FLOWTUN" pubkey)
[ "$got" = "$pub" ] || ft_fail "pubkey with surrounding whitespace: got '$got'"

# Bad input: a clear error and exit 1.
for bad in "" "not a key" "${priv%=}" "${priv}=" "$(printf 'A%.0s' $(seq 200))"; do
	set +e
	err=$(printf '%s\n' "$bad" | "$FLOWTUN" pubkey 2>&1 >/dev/null)
	rc=$?
	set -e
	[ "$rc" -eq 1 ] || ft_fail "pubkey of '$bad' exited $rc, want 1"
	case "$err" in *"not a private key"*) ;; *) ft_fail "pubkey of '$bad' said '$err'" ;; esac
done

# genkey output is a clamped key that pubkey accepts; genpsk is 44 base64 characters.
key=$("$FLOWTUN" genkey)
[ "${#key}" -eq 44 ] || ft_fail "genkey printed '$key'"
"$FLOWTUN" pubkey <<<"$key" >/dev/null || ft_fail "pubkey rejected genkey's '$key'"
psk=$("$FLOWTUN" genpsk)
[[ "$psk" =~ ^[A-Za-z0-9+/]{43}=$ ]] || ft_fail "genpsk printed '$psk'"
[ "$key" != "$("$FLOWTUN" genkey)" ] || ft_fail "two genkey runs printed the same key"

# Usage errors exit 2.
set +e
"$FLOWTUN" genkey extra >/dev/null 2>&1
[ $? -eq 2 ] || ft_fail "genkey with an argument did not exit 2"
"$FLOWTUN" no-such-command >/dev/null 2>&1
[ $? -eq 2 ] || ft_fail "an unknown command did not exit 2"
set -e
"$FLOWTUN" genkey --help | grep -q "Usage: flowtun genkey" || ft_fail "genkey --help"
"$FLOWTUN" help | grep -q pubkey || ft_fail "help does not list pubkey"

# The real wg(8), when installed: the same public key for 20 random private keys, and
# wg accepts what flowtun generates.
if command -v wg >/dev/null 2>&1; then
	for _ in $(seq 20); do
		k=$("$FLOWTUN" genkey)
		a=$("$FLOWTUN" pubkey <<<"$k")
		b=$(wg pubkey <<<"$k")
		[ "$a" = "$b" ] || ft_fail "flowtun pubkey '$a' != wg pubkey '$b' for '$k'"
		k=$(wg genkey)
		[ "$("$FLOWTUN" pubkey <<<"$k")" = "$(wg pubkey <<<"$k")" ] ||
			ft_fail "flowtun and wg disagree on wg's key '$k'"
	done
	ft_log "flowtun pubkey matches wg pubkey on 40 keys"
else
	ft_log "wg is not installed: compared with fixed vectors only"
fi
echo "keys: 1 passed, 0 failed"
