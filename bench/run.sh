#!/usr/bin/env bash
# Side-by-side throughput and latency of Redoubt and real Redis 7.0 in one
# run (the throughput section of bench/matrix.sh on its own).
#
# Both servers pinned to core 0 (one loaded at a time), redis-benchmark to
# core 1 (the fair per-core measure on a 2-core machine); 50 clients, random
# keys over 1,000,000. Prints rps and p50/p99 latency with ratios.
#
# Usage: bench/run.sh [-n REQUESTS] [-t TESTS] [-d SIZES] [-P PIPELINES]
#   defaults: -n 200000 -t set,get,incr,mset -d 16 -P "1 16"
# Environment: see bench/lib.sh.
source "$(dirname "$0")/lib.sh"

requests=200000
tests="set,get,incr,mset"
sizes=16
pipelines="1 16"
while getopts "n:t:d:P:" o; do
  case "$o" in
    n) requests=$OPTARG ;;
    t) tests=$OPTARG ;;
    d) sizes=$OPTARG ;;
    P) pipelines=$OPTARG ;;
    *) echo "usage: $0 [-n requests] [-t tests] [-d sizes] [-P pipelines]" >&2; exit 2 ;;
  esac
done

bench_build
throughput_section "$requests" "$tests" "$sizes" "$pipelines"
echo "($(bench_stamp))"
