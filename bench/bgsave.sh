#!/usr/bin/env bash
# BGSAVE under write load: Redoubt's fork-less snapshot vs Redis's fork, in
# one run.
#
# Each server runs alone, pinned to core 0 (with whatever it saves with: the
# forked child for Redis, the snapshot thread for Redoubt), redis-benchmark
# on core 1, as in run.sh. After loading KEYS keys of 100 bytes (named as
# redis-benchmark's random keys, so the writer overwrites instead of adding):
#   1. a writer (SET, random keys, -P 16, -n REQUESTS) runs without any save;
#   2. the same writer runs again while BGSAVE is restarted as soon as the
#      previous one ends, so a save is in progress for the whole run.
# Reported: save time (wall clock, polled at 20 Hz), peak extra memory
# during the saves (RSS growth of the server; for Redis plus the child's
# Private_Dirty, the pages copy-on-write duplicated), and the write
# throughput with saves as a share of without. Issue targets: extra memory
# at most 10% of the dataset, throughput during a save at least 80%.
#
# With -u nothing is pinned: the save may then run on the other core, as it
# would on a machine with cores to spare (the writer competes for them too).
#
# Usage: bench/bgsave.sh [-k KEYS] [-n REQUESTS] [-u]
# (choose REQUESTS so the writer runs for several seconds: a save must be
# running for most of the window for the figures to mean anything)
# Needs: redis-server, redis-benchmark, redis-cli, taskset, python3 with the
# `redis` package; builds Redoubt in release (see bench/lib.sh).
source "$(dirname "$0")/lib.sh"

keys=2000000
requests=3000000
pin0="taskset -c 0" pin1="taskset -c 1" placement="server core 0, client core 1"
while getopts "k:n:u" o; do
  case "$o" in
    k) keys=$OPTARG ;;
    n) requests=$OPTARG ;;
    u) pin0="" pin1="" placement="unpinned" ;;
    *) echo "usage: $0 [-k keys] [-n requests] [-u]" >&2; exit 2 ;;
  esac
done

bench_build
work=$BENCH_WORK
pin=0
[ -z "$pin0" ] && pin=
port=$(free_port "${BENCH_PORT:-31460}")
start() { # kind -> sets $pid
  start_server "$1" "$port" "$pin"
  pid=$SERVER_PID
}
stop() { stop_server "$port" "$pid"; }
rss() { rss_bytes "$pid"; }

python3 bench/memgen.py mset "$keys" 100 > "$work/load.resp"
writer="$pin1 redis-benchmark -p $port -c 50 -P 16 -n $requests -r $keys -d 100 -t set --csv"

# Sets $res to "dataset_rss rps_plain rps_saving saves mean_s max_s
# peak_extra". Called directly, not in $(...), so a failure stops the script
# and the server is cleaned up.
run() { # kind
  local kind=$1 fork=
  [ "$kind" = redis ] && fork=--fork
  start "$kind"
  local r0; r0=$(rss)
  redis-cli -p "$port" --pipe < "$work/load.resp" >/dev/null
  local got; got=$(redis-cli -p "$port" dbsize)
  [ "$got" = "$keys" ] || { echo "$kind: dbsize $got, expected $keys" >&2; exit 1; }
  local data=$(($(rss) - r0))
  local plain saving
  plain=$(python3 bench/bgsave_probe.py --port "$port" --pid "$pid" --bench "$writer")
  saving=$(python3 bench/bgsave_probe.py --port "$port" --pid "$pid" --save $fork --bench "$writer")
  res="$data ${plain%% *} $saving"
  stop
}

run redis
read -r rd rp rs rn rm rx re <<< "$res"
run redoubt
read -r od op os on om ox oe <<< "$res"

mb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
row() { # label redis redoubt
  awk -v l="$1" -v r="$2" -v o="$3" \
    'BEGIN { printf "%-34s %12s %12s %7s\n", l, r, o, (r + 0 > 0 ? sprintf("%.2f", o / r) : "-") }'
}
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", 100 * a / b }'; }
printf "%-34s %12s %12s %7s\n" metric redis redoubt ratio
row "dataset RSS (MB)" "$(mb "$rd")" "$(mb "$od")"
row "saves during the run" "$rn" "$on"
row "save time, mean (s)" "$rm" "$om"
row "save time, max (s)" "$rx" "$ox"
row "peak extra memory (MB)" "$(mb "$re")" "$(mb "$oe")"
row "peak extra / dataset (%) [<=10]" "$(pct "$re" "$rd")" "$(pct "$oe" "$od")"
row "SET rps, no save" "$rp" "$op"
row "SET rps, saving" "$rs" "$os"
row "saving / no save (%) [>=80]" "$(pct "$rs" "$rp")" "$(pct "$os" "$op")"
echo "($keys keys x 100 B; writer -c 50 -P 16 -n $requests -r $keys; $placement;" \
  "THP $(grep -o '\[[a-z]*\]' /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null || echo '?');" \
  "$(date -u +%F) $(git rev-parse --short HEAD))"
