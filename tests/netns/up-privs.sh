#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# up.sh with side a dropping to nobody (CAP_NET_ADMIN and CAP_NET_BIND_SERVICE) under the seccomp allow-list:
# traffic, the status on SIGUSR1, the final flow-log flush and the clean exit must all still
# work there.
FT_UP_USER=nobody FT_UP_FLAGS_A="--user nobody --seccomp on" exec bash "$(dirname "$0")/up.sh"
