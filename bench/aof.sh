#!/usr/bin/env bash
# The append-only file: Redoubt vs Redis 7.0 in one run.
#
#   1. SET throughput (redis-benchmark -t set -c 50, unpipelined) with
#      `appendonly yes` and `appendfsync everysec`, then `always` (where a
#      reply waits for the fsync covering its write: group commit);
#   2. the longest write stall during BGREWRITEAOF of KEYS keys: a probe
#      client times each SET (one at a time) from before the rewrite
#      starts until after it ends.
# Each server runs alone, pinned to core 0, the clients to core 1, as in
# run.sh. Prints one table with both servers and the ratio Redoubt/Redis.
#
# With -u nothing is pinned.
#
# Usage: bench/aof.sh [-k KEYS] [-n REQUESTS] [-u]
# (defaults 2000000 keys, 100000 requests; `-k 20000 -n 5000` is a quick
# check that the script works). REDOUBT_BIN=path skips the release build
# and uses that binary. BENCH_PORT=P moves the port (default 31630).
# Needs: redis-server, redis-benchmark, redis-cli, taskset, python3 with
# the `redis` package.
set -euo pipefail
cd "$(dirname "$0")/.."

keys=2000000
requests=100000
pin0=(taskset -c 0) pin1=(taskset -c 1) placement="server core 0, clients core 1"
while getopts "k:n:u" o; do
  case "$o" in
    k) keys=$OPTARG ;;
    n) requests=$OPTARG ;;
    u) pin0=() pin1=() placement="unpinned" ;;
    *) echo "usage: $0 [-k keys] [-n requests] [-u]" >&2; exit 2 ;;
  esac
done

if [ -n "${REDOUBT_BIN:-}" ]; then
  bin=$(realpath "$REDOUBT_BIN")
else
  cargo build --release -q -p redoubt
  bin=$PWD/target/release/redoubt
fi
work=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
port=${BENCH_PORT:-31630}

start() { # kind fsync -> sets $pid; data in its own folder
  local cmd
  if [ "$1" = redis ]; then cmd=(redis-server); else cmd=("$bin" server); fi
  rm -rf "$work/$1" && mkdir -p "$work/$1"
  "${pin0[@]}" "${cmd[@]}" --port "$port" --bind 127.0.0.1 --save "" \
    --appendonly yes --appendfsync "$2" --auto-aof-rewrite-percentage 0 \
    --dir "$work/$1" --logfile "$work/$1.log" >/dev/null &
  pid=$!
  for _ in $(seq 200); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
}
stop() {
  redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
  wait "$pid" 2>/dev/null || true
  pid=
}

set_rps() { # -> requests per second of SET
  "${pin1[@]}" redis-benchmark -p "$port" -c 50 -n "$requests" -r 1000000 -d 16 \
    -t set --csv 2>/dev/null | tail -n 1 | awk -F, '{gsub(/"/,""); print $2}'
}

# Times every SET of one client while BGREWRITEAOF runs; prints
# "longest_stall_ms rewrite_s probes".
stall_probe() {
  "${pin1[@]}" python3 - "$port" <<'EOF'
import sys, time, redis
r = redis.Redis(port=int(sys.argv[1]))
def info():
    return r.info("persistence")
def timed_sets(seconds, worst, n):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        t = time.monotonic()
        r.set(f"probe:{n}", n)
        worst = max(worst, time.monotonic() - t)
        n += 1
    return worst, n
worst, n = timed_sets(0.5, 0.0, 0)
start = time.monotonic()
r.bgrewriteaof()
while True:
    t = time.monotonic()
    r.set(f"probe:{n}", n)
    worst = max(worst, time.monotonic() - t)
    n += 1
    if n % 50 == 0:
        i = info()
        if not i["aof_rewrite_in_progress"] and not i["aof_rewrite_scheduled"]:
            break
took = time.monotonic() - start
worst, n = timed_sets(0.5, worst, n)
print(f"{worst * 1000:.2f} {took:.2f} {n}")
EOF
}

declare -A res
for kind in redis redoubt; do
  for fsync in everysec always; do
    start "$kind" "$fsync"
    res[$kind-$fsync]=$(set_rps)
    stop
  done
  start "$kind" everysec
  python3 bench/memgen.py mset "$keys" 100 | redis-cli -p "$port" --pipe >/dev/null
  got=$(redis-cli -p "$port" dbsize)
  [ "$got" = "$keys" ] || { echo "$kind: dbsize $got, expected $keys" >&2; exit 1; }
  read -r res[$kind-stall] res[$kind-rewrite] res[$kind-probes] <<< "$(stall_probe)"
  stop
done

row() { # label redis redoubt
  awk -v l="$1" -v r="$2" -v o="$3" \
    'BEGIN { printf "%-36s %12s %12s %7s\n", l, r, o, (r + 0 > 0 ? sprintf("%.2f", o / r) : "-") }'
}
printf "%-36s %12s %12s %7s\n" metric redis redoubt ratio
row "SET rps, appendfsync everysec" "${res[redis-everysec]}" "${res[redoubt-everysec]}"
row "SET rps, appendfsync always" "${res[redis-always]}" "${res[redoubt-always]}"
row "BGREWRITEAOF time (s)" "${res[redis-rewrite]}" "${res[redoubt-rewrite]}"
row "longest SET stall in rewrite (ms)" "${res[redis-stall]}" "${res[redoubt-stall]}"
row "probe SETs timed" "${res[redis-probes]}" "${res[redoubt-probes]}"
echo "($keys keys x 100 B for the rewrite; redis-benchmark -c 50 -n $requests -d 16;" \
  "$placement; $(date -u '+%F %H:%M UTC') $(git rev-parse --short HEAD)," \
  "load average $(cut -d' ' -f1-3 /proc/loadavg))"
