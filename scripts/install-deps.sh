#!/usr/bin/env bash
# Installs what the tests and the system need on a fresh machine. Idempotent:
# it does nothing when everything is already there.
#   frr:       FRR's bgpd and vtysh, a real BGP peer for the control node's
#              interop tests (run on loopback or in test namespaces, never
#              as a system service).
#   iperf3:    throughput between test VMs (agent benchmark).
#   nftables:  the nft CLI, to show rule sets when a test fails.
#   conntrack: the conntrack CLI, the same for connection tracking.
#   redis-server: a private Redis for the collector's Redis UVE mirror
#              tests (started on a loopback port by the test itself).
#   gobgpd:    GoBGP v3.37.0 and its gobgp CLI, a second real BGP peer,
#              built from the Go module proxy into $(go env GOPATH)/bin.
#   victoria-logs: VictoriaLogs v1.52.1, the distributed analytics store the
#              analytics store tests run against on loopback, built the same way.
set -euo pipefail
need=()
[ -x /usr/lib/frr/bgpd ] && command -v vtysh >/dev/null 2>&1 || need+=(frr)
command -v iperf3 >/dev/null 2>&1 || need+=(iperf3)
command -v nft >/dev/null 2>&1 || need+=(nftables)
command -v conntrack >/dev/null 2>&1 || need+=(conntrack)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "install-deps: installing ${need[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  else
    echo "install-deps: missing ${need[*]} and not root; tests that need them will skip" >&2
  fi
fi
gobin="$(go env GOPATH)/bin"
if [ ! -x "$gobin/gobgpd" ] || [ ! -x "$gobin/gobgp" ]; then
  echo "install-deps: go install gobgpd and gobgp v3.37.0"
  GOFLAGS=-mod=mod go install github.com/osrg/gobgp/v3/cmd/gobgpd@v3.37.0 github.com/osrg/gobgp/v3/cmd/gobgp@v3.37.0 ||
    echo "install-deps: gobgpd could not be built; tests that need it will skip" >&2
fi
if [ ! -x "$gobin/victoria-logs" ]; then
  echo "install-deps: go install victoria-logs v1.52.1"
  GOFLAGS=-mod=mod go install github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs@v1.52.1 ||
    echo "install-deps: victoria-logs could not be built; tests that need it will skip" >&2
fi
