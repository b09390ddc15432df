#!/usr/bin/env bash
# Side-by-side throughput of Redoubt and real Redis 7.0 in one run.
#
# Each server runs alone, pinned to core 0, with redis-benchmark pinned to
# core 1 (the fair per-core measure on a 2-core machine). Prints one table
# with requests per second and the Redoubt/Redis ratio.
#
# Usage: bench/run.sh [-n REQUESTS] [-t TESTS] [-d VALUE_SIZE]
# (BENCH_PORT=P makes it look for free ports from P up; default 27000)
# Needs: redis-server, redis-benchmark, taskset; builds Redoubt in release.
set -euo pipefail
cd "$(dirname "$0")/.."

requests=200000
tests="set,get,incr,mset"
size=16
while getopts "n:t:d:" o; do
  case "$o" in
    n) requests=$OPTARG ;;
    t) tests=$OPTARG ;;
    d) size=$OPTARG ;;
    *) echo "usage: $0 [-n requests] [-t tests] [-d size]" >&2; exit 2 ;;
  esac
done

cargo build --release -q -p redoubt
bin=target/release/redoubt
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  local p
  local base=${BENCH_PORT:-27000}
  for p in $(seq "$base" $((base + 999))); do
    if ! (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; then echo "$p"; return; fi
  done
}

# Sets $port. Not run in $(...): the server would inherit the substitution's
# pipe and hold it open (the caller then waits forever), and its pid would
# be lost to cleanup.
start() { # name cmd...
  local name=$1; shift
  port=$(free_port)
  taskset -c 0 "$@" --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
    --dir "$work" --logfile "$work/$name.log" >/dev/null &
  pids+=($!)
  for _ in $(seq 100); do
    redis-cli -p "$port" ping >/dev/null 2>&1 && break
    sleep 0.05
  done
}

bench() { # port pipeline -> "test,rps" lines
  taskset -c 1 redis-benchmark -p "$1" -c 50 -n "$requests" -r 1000000 -d "$size" \
    -P "$2" -t "$tests" --csv 2>/dev/null | tail -n +2 | \
    awk -F, '{gsub(/"/,""); print $1 "," $2}'
}

start redis redis-server
redis_port=$port
start redoubt "$bin" server
ours_port=$port

printf "%-10s %3s %14s %14s %7s\n" test P redis redoubt ratio
for p in 1 16; do
  redis-cli -p "$redis_port" flushall >/dev/null
  redis-cli -p "$ours_port" flushall >/dev/null
  r=$(bench "$redis_port" "$p")
  o=$(bench "$ours_port" "$p")
  while IFS=, read -r t rr; do
    or=$(echo "$o" | awk -F, -v t="$t" '$1==t {print $2}')
    ratio=$(awk -v a="$or" -v b="$rr" 'BEGIN { if (b > 0) printf "%.2f", a/b; else print "-" }')
    printf "%-10s %3s %14s %14s %7s\n" "$t" "$p" "$rr" "$or" "$ratio"
  done <<< "$r"
done
echo "(-c 50, -n $requests, -r 1000000, -d $size; server on core 0, client on core 1; $(date -u +%F) $(git rev-parse --short HEAD))"
