#!/usr/bin/env bash
# Installs what `cargo test --workspace` needs on a fresh Debian 12 machine
# (run as root). README's "Test it" and .ci/run both point here, so the
# list lives in one place. Packages already present are not reinstalled;
# `--print` only lists the missing ones.
set -euo pipefail

# One line per package: the command (or check) that shows it is present,
# and why the tests need it.
need=()
have() { command -v "$1" >/dev/null 2>&1; }
# Reference Redis 7.0 for the differential and mixed-replication tests.
have redis-server || need+=(redis-server)
have redis-cli || need+=(redis-tools)
have redis-sentinel || need+=(redis-sentinel)
have nc || need+=(netcat-openbsd)
# Network namespaces for the partition test.
have ip || need+=(iproute2)
# redis-py's Sentinel client in the client test.
python3 -c 'import redis.sentinel' >/dev/null 2>&1 || need+=(python3-redis)
# promtool checks the metrics endpoints' output and the shipped alert rules.
have promtool || need+=(prometheus)
# redis_exporter, whose metric names the metrics endpoint serves; the
# metrics test compares the two.
have prometheus-redis-exporter || need+=(prometheus-redis-exporter)
# Certificates for the TLS tests.
have openssl || need+=(openssl)
# Redis's own test suite (tools/redis-suite): Tcl runs it, dpkg-dev's
# dpkg-source unpacks it from Debian's source package.
have tclsh || need+=(tcl)
have dpkg-source || need+=(dpkg-dev)
have unshare || need+=(util-linux)
# The build itself: a C compiler for build scripts (ring, Lua).
have cc || need+=(build-essential)

if [ "${1:-}" = "--print" ]; then
  if [ "${#need[@]}" -gt 0 ]; then printf '%s\n' "${need[@]}"; fi
  exit 0
fi
if [ "${#need[@]}" -gt 0 ]; then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y "${need[@]}"
fi
# The tests run `python3` from PATH; where that is not Debian's (a pyenv
# shim, say), give it redis-py too.
python3 -c 'import redis.sentinel' >/dev/null 2>&1 || python3 -m pip install --quiet redis
# Tests start their own servers on private ports; the services the
# packages start are not needed (and would hold 6379 and 9121).
(systemctl stop redis-server redis-sentinel prometheus prometheus-redis-exporter >/dev/null 2>&1 || true)
