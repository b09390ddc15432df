#!/usr/bin/env bash
# Instructions per request, Redoubt vs real Redis, with valgrind's callgrind
# (instruction counts do not depend on how busy the machine is).
#
# For each server and command, two runs with different request counts are
# measured; the difference cancels start-up and shutdown, so the figure is
# the marginal cost of one request (pipelined by 16, 50 clients).
#
# Usage: bench/callgrind.sh [TESTS]   (default: get,set)
set -euo pipefail
cd "$(dirname "$0")/.."
tests=${1:-get,set}
small=20000
large=60000

cargo build --release -q -p redoubt
bin=$PWD/target/release/redoubt
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

port=${BENCH_PORT:-27900}
ir_for() { # server-kind test requests -> total instructions
  local kind=$1 t=$2 n=$3
  local out="$work/cg.$kind.$t.$n"
  local cmd
  if [ "$kind" = redis ]; then cmd=(redis-server); else cmd=("$bin" server); fi
  valgrind --tool=callgrind --callgrind-out-file="$out" \
    "${cmd[@]}" --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
    --dir "$work" --logfile "$work/$kind.log" >/dev/null 2>&1 &
  local pid=$!
  for _ in $(seq 200); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  redis-benchmark -p "$port" -c 50 -P 16 -n "$n" -r 100000 -d 16 -t "$t" -q >/dev/null 2>&1
  redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
  wait "$pid" 2>/dev/null || true
  grep -E '^(summary|totals):' "$out" | head -1 | awk '{print $2}'
}

printf "%-6s %16s %16s %7s\n" test "redis Ir/req" "redoubt Ir/req" ratio
for t in ${tests//,/ }; do
  r1=$(ir_for redis "$t" $small); r2=$(ir_for redis "$t" $large)
  o1=$(ir_for redoubt "$t" $small); o2=$(ir_for redoubt "$t" $large)
  awk -v t="$t" -v r1="$r1" -v r2="$r2" -v o1="$o1" -v o2="$o2" -v d=$((large - small)) \
    'BEGIN { r=(r2-r1)/d; o=(o2-o1)/d; printf "%-6s %16.0f %16.0f %7.2f\n", t, r, o, o/r }'
done
