#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# up.sh with offloads on one side only: super-packets and GSO datagrams from a meet the
# per-packet path of b, and the other way round.
FT_UP_FLAGS_B=--no-offload exec bash "$(dirname "$0")/up.sh"
