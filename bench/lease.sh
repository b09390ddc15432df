#!/usr/bin/env bash
# What the sentinel lease (issue 22) costs a healthy topology: two Redoubt
# masters side by side, each with one replica; master B is watched by three
# Redoubt sentinels, so it holds the lease (INFO sentinel_lease:held) and
# checks it on every write; master A has no sentinel (no lease, Redis's
# behaviour). Rounds alternate A and B so that a change of machine load
# hits both. Prints SET and GET requests per second (-P 1 and -P 16) per
# round and the B/A ratio of the medians (1.00 = unchanged). Then what the
# lease costs WAIT: a client doing SET + WAIT 1 100 for -t seconds on A,
# on B and on a real Redis 7.0 master with one replica (C), through
# redis-py (python3-redis): pairs per second and WAIT's latency.
#
# Usage: bench/lease.sh [-n REQUESTS] [-r ROUNDS] [-t WAIT_SECONDS]
# Needs what bench/lib.sh needs (redis-benchmark, redis-cli, taskset).
source "$(dirname "$0")/lib.sh"

requests=200000
rounds=3
wait_secs=3
while getopts "n:r:t:" o; do
  case $o in
    n) requests=$OPTARG ;;
    r) rounds=$OPTARG ;;
    t) wait_secs=$OPTARG ;;
    *) echo "usage: $0 [-n REQUESTS] [-r ROUNDS] [-t WAIT_SECONDS]" >&2; exit 2 ;;
  esac
done
bench_build

aport=$(free_port)
start_server redoubt "$aport" 0
arport=$(free_port $((aport + 1)))
start_server redoubt "$arport" "" --replicaof 127.0.0.1 "$aport"
bport=$(free_port $((arport + 1)))
start_server redoubt "$bport" 0
brport=$(free_port $((bport + 1)))
start_server redoubt "$brport" "" --replicaof 127.0.0.1 "$bport"

sport=$(free_port $((brport + 1)))
for i in 0 1 2; do
  conf=$BENCH_WORK/sentinel-$i.conf
  port=$(free_port $((sport + i)))
  printf 'port %s\nbind 127.0.0.1\ndir %s\nsentinel monitor m 127.0.0.1 %s 2\nsentinel down-after-milliseconds m 5000\n' \
    "$port" "$BENCH_WORK" "$bport" >"$conf"
  "$BENCH_BIN" sentinel "$conf" --logfile "$BENCH_WORK/sentinel-$i.log" >/dev/null &
  BENCH_PIDS+=("$!")
done
for _ in $(seq 300); do
  redis-cli -p "$bport" info replication | grep -q '^sentinel_lease:held' && break
  sleep 0.1
done
if ! redis-cli -p "$bport" info replication | grep -q '^sentinel_lease:held'; then
  echo "master B never took the lease; sentinel log:" >&2
  tail -5 "$BENCH_WORK/sentinel-0.log" >&2
  exit 1
fi

median() { sort -n | awk '{v[NR] = $1} END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
declare -A got last
printf "%-6s %2s %5s %10s %10s\n" test P round "A no lease" "B lease"
for r in $(seq "$rounds"); do
  for p in 1 16; do
    for side in A B; do
      port=$aport
      [ "$side" = B ] && port=$bport
      while IFS=, read -r t rps _ _; do
        got[$side,$t,$p]+="$rps "
        last[$side,$t]=$rps
      done <<<"$(bench_csv "$port" "$requests" set,get 3 "$p")"
    done
    for t in SET GET; do
      printf "%-6s %2s %5s %10.0f %10.0f\n" "$t" "$p" "$r" "${last[A,$t]}" "${last[B,$t]}"
    done
  done
done
echo "medians of $rounds rounds (-c 50 -n $requests -d 3; masters on core 0, redis-benchmark on core 1):"
for p in 1 16; do
  for t in SET GET; do
    a=$(tr ' ' '\n' <<<"${got[A,$t,$p]}" | grep . | median)
    b=$(tr ' ' '\n' <<<"${got[B,$t,$p]}" | grep . | median)
    printf "%-6s -P %-2s  A %10.0f  B %10.0f  B/A %s\n" "$t" "$p" "$a" "$b" "$(ratio "$b" "$a")"
  done
done
redis-cli -p "$bport" info replication | grep -E '^sentinel_lease' | tr -d '\r'

# SET + WAIT 1 100, one client, one pair at a time.
cport=$(free_port $((sport + 3)))
start_server redis "$cport" 0
crport=$(free_port $((cport + 1)))
start_server redis "$crport" "" --replicaof 127.0.0.1 "$cport"
for _ in $(seq 100); do
  redis-cli -p "$cport" info replication | grep -q '^connected_slaves:1' && break
  sleep 0.1
done
wait_pairs() {
  python3 - "$1" "$wait_secs" <<'PY'
import sys, time, redis
r = redis.Redis(port=int(sys.argv[1]))
end = time.monotonic() + float(sys.argv[2])
lat, confirmed, n = [], 0, 0
while time.monotonic() < end:
    r.set(f"wait:{n}", "v")
    t = time.perf_counter()
    confirmed += r.execute_command("WAIT", 1, 100) >= 1
    lat.append(time.perf_counter() - t)
    n += 1
lat.sort()
secs = float(sys.argv[2])
print(f"{n / secs:10.0f} {1e6 * lat[len(lat) // 2]:10.0f} {1e6 * lat[len(lat) * 99 // 100]:10.0f} {confirmed:9d}/{n}")
PY
}
echo "SET + WAIT 1 100 for ${wait_secs} s, one redis-py client:"
printf "%-26s %10s %10s %10s %9s\n" master pairs/s "WAIT p50" "p99 (us)" confirmed
printf "%-26s %s\n" "A Redoubt, no lease" "$(wait_pairs "$aport")"
printf "%-26s %s\n" "B Redoubt, lease held" "$(wait_pairs "$bport")"
printf "%-26s %s\n" "C Redis 7.0, no sentinel" "$(wait_pairs "$cport")"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
