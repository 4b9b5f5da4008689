#!/usr/bin/env bash
# Installs what the tests and the system need on a fresh machine. Idempotent:
# it does nothing when everything is already there.
#   frr: FRR's bgpd and vtysh, a real BGP peer for the control node's
#        interop tests (run on loopback, never as a system service).
set -euo pipefail
need=()
[ -x /usr/lib/frr/bgpd ] && command -v vtysh >/dev/null 2>&1 || need+=(frr)
if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "install-deps: installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "install-deps: missing ${need[*]} and not root; tests that need them will skip" >&2
  fi
fi
