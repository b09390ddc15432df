#!/usr/bin/env bash
# The whole comparison in one command: Redoubt (release build) and the
# installed redis-server 7.0, side by side in the same run, one table per
# measure with Redoubt/Redis ratios:
#   1. throughput and p50/p99 latency: redis-benchmark SET GET INCR LPUSH
#      LPOP SADD HSET ZADD MSET, -P 1 and -P 16, 50 clients, 16-byte and
#      1 KB values, random keys over 1,000,000; servers on core 0,
#      redis-benchmark on core 1;
#   2. instructions per GET and per SET (callgrind);
#   3. bytes per key (used_memory and RSS) per data type;
#   4. with --all: replication (bench/replication.sh), BGSAVE under load
#      (bench/bgsave.sh) and AOF (bench/aof.sh, when present).
# Timings depend on what else runs on the machine (the footer of each table
# shows the load average); instruction and byte counts do not.
#
# Usage: bench/matrix.sh [--quick] [--all] [-n REQUESTS]
#   --quick  a smoke test: few requests, short callgrind runs, 1% of the
#            memory datasets, small --all sections (~1-2 minutes)
#   --all    also the optional sections (several minutes more)
# Environment: see bench/lib.sh (BENCH_BIN, BENCH_PORT).
source "$(dirname "$0")/lib.sh"

quick=0 all=0 requests=
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --all) all=1 ;;
    -n) requests=$2; shift ;;
    *) echo "usage: $0 [--quick] [--all] [-n requests]" >&2; exit 2 ;;
  esac
  shift
done

if [ "$quick" = 1 ]; then
  requests=${requests:-2000} cg_small=2000 cg_large=6000 scale=0.01
  repl_args=(-k 10000 -n 20000) save_args=(-k 20000 -n 100000) aof_args=(-k 20000 -n 5000)
else
  requests=${requests:-100000} cg_small=20000 cg_large=60000 scale=1
  repl_args=(-k 2000000 -n 1000000) save_args=() aof_args=()
fi

bench_build
echo "# Redoubt vs Redis 7.0 — $(bench_stamp)"
echo "# redoubt: $("$BENCH_BIN" --version 2>/dev/null || echo "$BENCH_BIN"); $(redis-server --version | cut -d' ' -f1-3)"
echo
echo "## Throughput and latency"
echo '```'
throughput_section "$requests" set,get,incr,lpush,lpop,sadd,hset,zadd,mset "16 1024" "1 16"
echo "($(bench_stamp))"
echo '```'
echo
echo "## Instructions per request"
echo '```'
callgrind_section get,set "$cg_small" "$cg_large"
echo "($(bench_stamp))"
echo '```'
echo
echo "## Bytes per key"
echo '```'
memory_section "$scale"
echo "($(bench_stamp))"
echo '```'

if [ "$all" = 1 ]; then
  # The optional sections are scripts of their own (each starts its own
  # servers); they reuse this run's binary.
  export BENCH_BIN
  echo
  echo "## Replication"
  echo '```'
  bash bench/replication.sh "${repl_args[@]}"
  echo '```'
  echo
  echo "## BGSAVE under write load"
  echo '```'
  bash bench/bgsave.sh "${save_args[@]}"
  echo '```'
  if [ -f bench/aof.sh ]; then
    echo
    echo "## AOF"
    echo '```'
    # aof.sh takes its binary as REDOUBT_BIN.
    REDOUBT_BIN=$BENCH_BIN bash bench/aof.sh "${aof_args[@]}" || echo "(bench/aof.sh failed)"
    echo '```'
  fi
fi
