#!/usr/bin/env bash
# Failover time and write loss, Redoubt vs real Redis, same topology and
# settings: a master, two replicas and three sentinels on loopback
# (down-after-milliseconds 1000, failover-timeout 4000), a writer doing
# SET + WAIT 1 100 against whatever master the sentinels name, and 20
# consecutive kill -9 failovers. The scenario is the end-to-end test
# `sentinel::loss_run`; this script runs it for both implementations and
# prints the two summary lines (failover ms median and max; writes
# acknowledged, confirmed by WAIT, and lost in each class).
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp)
trap 'rm -f "$out"' EXIT
cargo test -q -p redoubt --test e2e -- --ignored --nocapture --test-threads 1 \
  sentinel::loss_figures >"$out" 2>&1 || { tail -40 "$out"; exit 1; }
grep -E "failovers:" "$out"
