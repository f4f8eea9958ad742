#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# up.sh with the TUN and UDP offloads off on both sides: the per-packet data path.
FT_UP_FLAGS_A=--no-offload FT_UP_FLAGS_B=--no-offload exec bash "$(dirname "$0")/up.sh"
