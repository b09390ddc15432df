#!/usr/bin/env bash
# A replica's full sync while the master takes the full-speed writer,
# Redoubt vs Redis 7.0 in one run (master and replica of the same kind,
# diskless sync with no delay, Redis's default `client-output-buffer-limit
# replica 256mb 64mb 60` on both).
#
# KEYS keys of 100 bytes are loaded on the master, redis-benchmark writes
# SETs over them at full speed (-c 50 -P 16), a replica is started and
# timed until its link is up; the writer stops a little later and the
# replica must end equal to the master (DEBUG DIGEST), after exactly one
# full sync (an output buffer that overflowed would drop the link and
# start another). The work of each run is in bench/fullsync_load_probe.py.
#
# Servers pinned to core 0, the writer to core 1, as in run.sh; -u pins
# nothing. -r RUNS repeats (the table shows the median sync time).
#
# Usage: bench/fullsync_load.sh [-k KEYS] [-r RUNS] [-u]
# Needs: redis-server, redis-benchmark, redis-cli, taskset, python3 with the
# `redis` package; builds Redoubt in release.
source "$(dirname "$0")/lib.sh"

keys=2000000
runs=1
pin0="taskset -c 0" pin1="taskset -c 1" placement="servers core 0, writer core 1"
while getopts "k:r:u" o; do
  case "$o" in
    k) keys=$OPTARG ;;
    r) runs=$OPTARG ;;
    u) pin0="" pin1="" placement="unpinned" ;;
    *) echo "usage: $0 [-k keys] [-r runs] [-u]" >&2; exit 2 ;;
  esac
done

bench_build
port=$(free_port "${BENCH_PORT:-31480}")
python3 bench/memgen.py mset "$keys" 100 > "$BENCH_WORK/load.resp"

probe() { # kind
  PYTHONPATH=bench python3 bench/fullsync_load_probe.py --kind "$1" --bin "$BENCH_BIN" \
    --port "$port" --keys "$keys" --work "$BENCH_WORK" --load "$BENCH_WORK/load.resp" \
    --pin-server "$pin0" --pin-client "$pin1"
}
# median of the first field over lines; the other fields: worst of the runs
summary() {
  sort -n -k1,1 | awk '{ t[NR] = $1; if (NR == 1 || $2 > f) f = $2; if (NR == 1 || $3 > d) d = $3;
    r[NR] = $4; if (NR == 1 || $5 < e) e = $5 }
    END { m = int((NR + 1) / 2); printf "%s %s %s %s %s\n", t[m], f, d, r[m], e }'
}
rl="" ol=""
for _ in $(seq "$runs"); do
  rl+="$(probe redis)"$'\n'
  ol+="$(probe redoubt)"$'\n'
done
read -r rs rf rd rr re <<< "$(printf '%s' "$rl" | summary)"
read -r os of od or oe <<< "$(printf '%s' "$ol" | summary)"
row() { # label redis redoubt
  awk -v l="$1" -v r="$2" -v o="$3" \
    'BEGIN { printf "%-40s %10s %10s %7s\n", l, r, o, (r + 0 > 0 ? sprintf("%.2f", o / r) : "-") }'
}
yn() { [ "$1" = 1 ] && echo yes || echo NO; }
printf "%-40s %10s %10s %7s\n" metric redis redoubt ratio
row "full sync under writer, time (s)" "$rs" "$os"
row "full syncs (1 = no retry), worst" "$rf" "$of"
row "output-buffer closes, worst" "$rd" "$od"
row "master SET rps during the sync" "$rr" "$or"
row "replica = master (DEBUG DIGEST), all" "$(yn "$re")" "$(yn "$oe")"
echo "($keys keys x 100 B; writer -c 50 -P 16 -r $keys -d 100; $placement; median of $runs;" \
  "$(bench_stamp))"
