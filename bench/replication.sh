#!/usr/bin/env bash
# Replication, Redoubt vs Redis 7.0, in one run: a master and replicas of the
# same kind (all on loopback, diskless sync with no delay on both).
#   (a) full-sync time for KEYS keys of 100 bytes (DEBUG POPULATE on the
#       master; a replica started with --replicaof; timed until it reports
#       master_link_status:up and its DBSIZE matches) and the master's extra
#       memory meanwhile (RSS sampled at ~20 Hz; for Redis plus the forked
#       child's Private_Dirty);
#   (b) the master's SET throughput (redis-benchmark -t set -P 16 -c 50
#       -r 100000 -d 100 -n REQUESTS) with 0, 1 and 2 replicas attached;
#   (c) replication lag under the same writer with one replica: offsets
#       sampled at ~20 Hz, max and p99 in bytes and in milliseconds.
# The work of each point is in bench/replication_probe.py.
#
# Servers (master and replicas) are pinned to core 0 and the writer to core
# 1, as in run.sh; -u pins nothing. -s measures (a) only (for the scaling
# curve: bench/README.md); -r RUNS repeats the runs, each figure the median.
#
# -D makes the full sync disk-based (repl-diskless-sync no on both).
#
# Usage: bench/replication.sh [-k KEYS] [-n REQUESTS] [-u] [-s] [-D] [-r RUNS]
# (-k 100000 -n 200000 finishes in well under a minute)
# Needs: redis-server, redis-benchmark, redis-cli, taskset, python3 with the
# `redis` package; builds Redoubt in release.
source "$(dirname "$0")/lib.sh"

keys=2000000
requests=1000000
pin0="taskset -c 0" pin1="taskset -c 1" placement="servers core 0, client core 1"
only=() disk=() runs=1 sync=diskless
while getopts "k:n:usDr:" o; do
  case "$o" in
    k) keys=$OPTARG ;;
    n) requests=$OPTARG ;;
    u) pin0="" pin1="" placement="unpinned" ;;
    s) only=(--sync-only) ;;
    D) disk=(--disk) sync=disk-based ;;
    r) runs=$OPTARG ;;
    *) echo "usage: $0 [-k keys] [-n requests] [-u] [-s] [-D] [-r runs]" >&2; exit 2 ;;
  esac
done

bench_build
bin=$BENCH_BIN
work=$BENCH_WORK
port=$(free_port "${BENCH_PORT:-31470}")
writer="-c 50 -P 16 -r 100000 -d 100 -n $requests -t set"

probe() { # kind
  python3 bench/replication_probe.py --kind "$1" --bin "$bin" --port "$port" \
    --keys "$keys" --work "$work" --bench "$writer" \
    --pin-server "$pin0" --pin-client "$pin1" "${only[@]}" "${disk[@]}"
}
# Each column's median over the runs (runs alternate the two kinds).
median_cols() {
  python3 -c 'import sys, statistics as s
rows = [list(map(float, l.split())) for l in sys.stdin if l.strip()]
print(" ".join(str(s.median(c)) for c in zip(*rows)))'
}
rlines="" olines=""
for _ in $(seq "$runs"); do
  rlines+="$(probe redis)"$'\n'
  olines+="$(probe redoubt)"$'\n'
done
rline=$(printf '%s' "$rlines" | median_cols)
oline=$(printf '%s' "$olines" | median_cols)
read -r rs re rd r0 r1 r2 rlb rlbp rlm rlmp <<< "$rline"
read -r os oe od o0 o1 o2 olb olbp olm olmp <<< "$oline"

mb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
f1() { awk -v x="$1" 'BEGIN { printf "%.1f", x }'; }
f2() { awk -v x="$1" 'BEGIN { printf "%.2f", x }'; }
f0() { awk -v x="$1" 'BEGIN { printf "%.0f", x }'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", 100 * a / b }'; }
row() { # label redis redoubt
  awk -v l="$1" -v r="$2" -v o="$3" \
    'BEGIN { printf "%-36s %12s %12s %7s\n", l, r, o, (r + 0 > 0 ? sprintf("%.2f", o / r) : "-") }'
}
printf "%-36s %12s %12s %7s\n" metric redis redoubt ratio
row "dataset RSS on the master (MB)" "$(mb "$rd")" "$(mb "$od")"
row "full sync time (s)" "$(f2 "$rs")" "$(f2 "$os")"
row "master peak extra memory (MB)" "$(mb "$re")" "$(mb "$oe")"
row "SET rps, 0 replicas" "$(f0 "$r0")" "$(f0 "$o0")"
row "SET rps, 1 replica" "$(f0 "$r1")" "$(f0 "$o1")"
row "SET rps, 2 replicas" "$(f0 "$r2")" "$(f0 "$o2")"
row "1 replica / 0 replicas (%) [>=95]" "$(pct "$r1" "$r0")" "$(pct "$o1" "$o0")"
row "2 replicas / 0 replicas (%)" "$(pct "$r2" "$r0")" "$(pct "$o2" "$o0")"
row "lag, max (bytes)" "$(f0 "$rlb")" "$(f0 "$olb")"
row "lag, p99 (bytes)" "$(f0 "$rlbp")" "$(f0 "$olbp")"
row "lag, max (ms, 50 ms resolution)" "$(f1 "$rlm")" "$(f1 "$olm")"
row "lag, p99 (ms, 50 ms resolution)" "$(f1 "$rlmp")" "$(f1 "$olmp")"
echo "($keys keys x 100 B; $sync sync; writer $writer; $placement; median of $runs;" \
  "$(bench_stamp))"
