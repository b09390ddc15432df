#!/usr/bin/env bash
# BGSAVE under write load: Redoubt's fork-less snapshot vs Redis's fork, in
# one run.
#
# Each server runs alone, pinned to core 0 (with whatever it saves with: the
# forked child for Redis, the snapshot thread for Redoubt), redis-benchmark
# on core 1, as in run.sh. After loading KEYS keys of 100 bytes (named as
# redis-benchmark's random keys, so the writer overwrites instead of adding):
#   0. one BGSAVE with no writer, timed;
#   1. a writer (SET, random keys, -P 16, -n REQUESTS) runs without any save;
#   2. the same writer runs again while BGSAVE is restarted as soon as the
#      previous one ends, so a save is in progress for the whole run;
#   3. the server is restarted on the file the last save wrote and timed
#      until DBSIZE shows every key (loading).
# Reported: save time (wall clock, polled at 20 Hz), peak extra memory
# during the saves (RSS growth of the server; for Redis plus the child's
# Private_Dirty, the pages copy-on-write duplicated), and the write
# throughput with saves as a share of without. Issue targets: extra memory
# at most 10% of the dataset, throughput during a save at least 80%.
#
# With -u nothing is pinned: the save may then run on the other core, as it
# would on a machine with cores to spare (the writer competes for them too).
# With -a the same is done with BGREWRITEAOF (both servers with
# `appendonly yes`, `appendfsync everysec`, in the runs with and without a
# rewrite alike; the load is then the AOF's). -r RUNS repeats the pair of
# runs; every figure is then the median of the runs.
#
# Usage: bench/bgsave.sh [-k KEYS] [-n REQUESTS] [-u] [-a] [-r RUNS]
# (choose REQUESTS so the writer runs for several seconds: a save must be
# running for most of the window for the figures to mean anything)
# Needs: redis-server, redis-benchmark, redis-cli, taskset, python3 with the
# `redis` package; builds Redoubt in release (see bench/lib.sh).
source "$(dirname "$0")/lib.sh"

keys=2000000
requests=3000000
pin0="taskset -c 0" pin1="taskset -c 1" placement="server core 0, client core 1"
aof=0 runs=1
while getopts "k:n:uar:" o; do
  case "$o" in
    k) keys=$OPTARG ;;
    n) requests=$OPTARG ;;
    u) pin0="" pin1="" placement="unpinned" ;;
    a) aof=1 ;;
    r) runs=$OPTARG ;;
    *) echo "usage: $0 [-k keys] [-n requests] [-u] [-a] [-r runs]" >&2; exit 2 ;;
  esac
done
directives=() save_cmd=bgsave what=BGSAVE probe_flag=() loaded="RDB"
if [ "$aof" = 1 ]; then
  directives=(--appendonly yes --appendfsync everysec --auto-aof-rewrite-percentage 0)
  save_cmd=bgrewriteaof what=BGREWRITEAOF probe_flag=(--rewrite) loaded="AOF"
fi

bench_build
work=$BENCH_WORK
pin=0
[ -z "$pin0" ] && pin=
port=$(free_port "${BENCH_PORT:-31460}")
start() { # kind -> sets $pid
  start_server "$1" "$port" "$pin" "${directives[@]}"
  pid=$SERVER_PID
}
stop() { stop_server "$port" "$pid"; }
rss() { rss_bytes "$pid"; }

writer="$pin1 redis-benchmark -p $port -c 50 -P 16 -n $requests -r $keys -d 100 -t set --csv"

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
busy() { # whether the save (or rewrite) is still running
  redis-cli -p "$port" info persistence |
    grep -Eq '^(rdb_bgsave_in_progress|aof_rewrite_in_progress|aof_rewrite_scheduled):1'
}
# One save with no writer; prints its time.
timed_save() {
  local t0; t0=$(now)
  redis-cli -p "$port" "$save_cmd" >/dev/null
  sleep 0.05
  while busy; do sleep 0.05; done
  since "$t0"
}
# Restarts the server on what it saved; prints the time until it answers
# DBSIZE with every key.
timed_load() { # kind
  local t0; t0=$(now)
  start "$1"
  while [ "$(redis-cli -p "$port" dbsize 2>/dev/null)" != "$keys" ]; do sleep 0.05; done
  since "$t0"
  stop
  rm -rf "$work/appendonlydir" "$work/$1-$port.rdb"
}

# Sets $res to "dataset_rss rps_plain rps_saving saves mean_s max_s
# peak_extra idle_save_s load_s kept_pct". Called directly, not in $(...),
# so a failure stops the script and the server is cleaned up.
run() { # kind
  local kind=$1 fork=
  [ "$kind" = redis ] && fork=--fork
  rm -rf "$work/appendonlydir" "$work/$kind-$port.rdb"
  start "$kind"
  local r0; r0=$(rss)
  # Generated for each server rather than kept: 10M keys would be a
  # 1.3 GB file.
  python3 bench/memgen.py mset "$keys" 100 | redis-cli -p "$port" --pipe >/dev/null
  local got; got=$(redis-cli -p "$port" dbsize)
  [ "$got" = "$keys" ] || { echo "$kind: dbsize $got, expected $keys" >&2; exit 1; }
  local data=$(($(rss) - r0))
  local idle plain saving load
  idle=$(timed_save)
  plain=$(python3 bench/bgsave_probe.py --port "$port" --pid "$pid" --bench "$writer")
  saving=$(python3 bench/bgsave_probe.py --port "$port" --pid "$pid" --save $fork \
    "${probe_flag[@]}" --bench "$writer")
  stop
  load=$(timed_load "$kind")
  local kept; kept=$(awk -v a="${saving%% *}" -v b="${plain%% *}" 'BEGIN { printf "%.1f", 100 * a / b }')
  res="$data ${plain%% *} $saving $idle $load $kept"
}

# Each column's median over the runs (runs alternate the two kinds).
median_cols() {
  python3 -c 'import sys, statistics as s
rows = [list(map(float, l.split())) for l in sys.stdin if l.strip()]
print(" ".join(("%.2f" % v).rstrip("0").rstrip(".") for v in (s.median(c) for c in zip(*rows))))'
}
rlines="" olines="" loads=""
for _ in $(seq "$runs"); do
  run redis
  rlines+="$res"$'\n'
  run redoubt
  olines+="$res"$'\n'
  loads+="$(cut -d' ' -f1-3 /proc/loadavg) | "
done
read -r rd rp rs rn rm rx re ri rl rk <<< "$(printf '%s' "$rlines" | median_cols)"
read -r od op os on om ox oe oi ol ok <<< "$(printf '%s' "$olines" | median_cols)"

mb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
row() { # label redis redoubt
  awk -v l="$1" -v r="$2" -v o="$3" \
    'BEGIN { printf "%-34s %12s %12s %7s\n", l, r, o, (r + 0 > 0 ? sprintf("%.2f", o / r) : "-") }'
}
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", 100 * a / b }'; }
printf "%-34s %12s %12s %7s\n" metric redis redoubt ratio
row "dataset RSS (MB)" "$(mb "$rd")" "$(mb "$od")"
row "$what time, no writer (s)" "$ri" "$oi"
row "$loaded load time (s)" "$rl" "$ol"
row "saves during the run" "$rn" "$on"
row "save time, mean (s)" "$rm" "$om"
row "save time, max (s)" "$rx" "$ox"
row "peak extra memory (MB)" "$(mb "$re")" "$(mb "$oe")"
row "peak extra / dataset (%) [<=10]" "$(pct "$re" "$rd")" "$(pct "$oe" "$od")"
row "SET rps, no save" "$rp" "$op"
row "SET rps, saving" "$rs" "$os"
row "saving / no save (%) [>=80]" "$rk" "$ok"
each() { printf '%s' "$1" | awk '{ printf "%s%s", (NR > 1 ? " " : ""), $NF }'; }
echo "(kept per run, redis: $(each "$rlines"); redoubt: $(each "$olines"))"
echo "($what; $keys keys x 100 B; writer -c 50 -P 16 -n $requests -r $keys; $placement;" \
  "median of $runs; load average after each run: ${loads% | }; $(bench_stamp))"
