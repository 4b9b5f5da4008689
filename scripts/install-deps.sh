#!/usr/bin/env bash
# Installs what the tests and the system need on a fresh machine. Idempotent:
# it does nothing when everything is already there.
set -euo pipefail
need=()
# Later issues add their peers here (FRR, nftables, iperf3, gobgpd ...).
if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
  else
    echo "install-deps: missing ${need[*]} and not root; tests that need them will skip" >&2
  fi
fi
