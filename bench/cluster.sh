#!/usr/bin/env bash
# Redis Cluster, Redoubt vs real Redis 7.0 on the same layout (issue 20):
# 3 masters x 1 replica on loopback, cluster-node-timeout 2000, created with
# `redis-cli --cluster create --cluster-replicas 1 --cluster-yes`.
#
# (a) Failover (bench/cluster_probe.py, once per implementation): a writer
#     doing SET + WAIT 1 WAIT_MS through a slot-routing client over keys on
#     all slots; ROUNDS times, kill -9 of the current master of a shard
#     (shards in turn), time from the kill until its replica serves writes
#     for that shard and says cluster_state:ok, the killed node restarted
#     until it is a replica of the promoted one with its link up, and every
#     acked key read back: writes confirmed by WAIT and lost, acked only and
#     lost. Nodes unpinned.
# (b) Throughput per node: `redis-benchmark --cluster -l` (50 clients,
#     which it spreads over the masters; -d 16, random keys over 1,000,000)
#     on SET, then GET, with -P 1 and -P 16, against a fresh cluster of
#     each kind; all twelve servers pinned to core 0 (one cluster loaded at
#     a time), redis-benchmark to core 1, as bench/lib.sh pins. The rate is
#     counted from the masters' INFO commandstats over a WINDOW s window
#     after 1 s of warm-up, per master and in total (redis-benchmark's own
#     figure in cluster mode moves in steps of about 250 ms of run time:
#     200,000 requests came out at 398,406, 265,957 or 199,203 rps). RUNS
#     rounds alternating the two clusters; medians.
#
# Usage: bench/cluster.sh [-k ROUNDS] [-w WAIT_MS] [-T NODE_TIMEOUT_MS]
#                         [-W WINDOW_S] [-r RUNS] [-s failover|throughput|all]
#   defaults: -k 5 -w 100 -T 2000 -W 3 -r 3 -s all
# Environment: see bench/lib.sh (BENCH_BIN, BENCH_PORT). Needs python3 with
# the redis package for (a).
source "$(dirname "$0")/lib.sh"

# Cluster nodes rewrite nodes.conf and their logs as they stop: wait for
# them before bench_cleanup removes the work folder.
cluster_cleanup() {
  local p
  for p in "${BENCH_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${BENCH_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  bench_cleanup
}
trap cluster_cleanup EXIT

rounds=5
wait_ms=100
node_timeout=2000
runs=3
window=3
warm=1
sections=all
while getopts "k:w:T:W:r:s:" o; do
  case $o in
    k) rounds=$OPTARG ;;
    w) wait_ms=$OPTARG ;;
    T) node_timeout=$OPTARG ;;
    W) window=$OPTARG ;;
    r) runs=$OPTARG ;;
    s) sections=$OPTARG ;;
    *)
      echo "usage: $0 [-k ROUNDS] [-w WAIT_MS] [-T NODE_TIMEOUT_MS] [-W WINDOW_S] [-r RUNS] [-s failover|throughput|all]" >&2
      exit 2
      ;;
  esac
done
bench_build
echo "cluster.sh: $(bench_stamp)"
echo "redis: $(redis-server --version | cut -d' ' -f3); redoubt: $BENCH_BIN"

# ---------------------------------------------------------------------------
# (a) Failover time and write loss
# ---------------------------------------------------------------------------

# failover_run KIND: runs the probe for KIND, its round lines and misses
# to stderr as they come, its summary line into $BENCH_WORK/failover-KIND/
# summary. The probe kills what it started on exit, SIGTERM included (which
# cluster_cleanup sends it through `timeout`); `timeout` bounds a run that
# hangs.
failover_run() {
  local kind=$1 dir="$BENCH_WORK/failover-$1"
  mkdir -p "$dir"
  timeout --signal=TERM 900 python3 bench/cluster_probe.py "$kind" "${BENCH_BIN:-}" \
    "${BENCH_PORT:-31400}" "$dir" "$rounds" "$wait_ms" "$node_timeout" >"$dir/out" 2>&1 &
  local pid=$!
  BENCH_PIDS+=("$pid")
  if ! wait "$pid"; then
    echo "failover probe for $kind failed; its output:" >&2
    tail -20 "$dir/out" >&2
    return 1
  fi
  grep -v '^summary' "$dir/out" >&2
  grep '^summary' "$dir/out" >"$dir/summary"
}

# field SUMMARY KEY -> the value of KEY=... in a summary line.
field() { tr ' ' '\n' <<<"$1" | awk -F= -v k="$2" '$1 == k { print $2 }'; }

failover_section() {
  echo
  echo "== Failover: $rounds kill -9 of a master under SET + WAIT 1 $wait_ms (cluster-node-timeout $node_timeout) =="
  echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
  failover_run redis
  failover_run redoubt
  local rs os
  rs=$(cat "$BENCH_WORK/failover-redis/summary")
  os=$(cat "$BENCH_WORK/failover-redoubt/summary")
  echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
  printf "%-12s %9s %9s %8s %8s %9s %9s %10s %9s %9s\n" "" "fail med" "fail max" \
    "<=bound" rejoined "rejoin md" acked confirmed "conf lost" "unc lost"
  local name s
  for name in redis redoubt; do
    s=$rs
    [ "$name" = redoubt ] && s=$os
    printf "%-12s %9s %9s %8s %8s %9s %9s %10s %9s %9s\n" "$name" \
      "$(field "$s" failover_median)" "$(field "$s" failover_max)" \
      "$(field "$s" within_bound)/$(field "$s" rounds)" \
      "$(field "$s" rejoined)/$(field "$s" rounds)" "$(field "$s" rejoin_median)" \
      "$(field "$s" acked)" "$(field "$s" confirmed)" \
      "$(field "$s" confirmed_lost)/$(field "$s" final_confirmed_lost)" \
      "$(field "$s" unconfirmed_lost)/$(field "$s" final_unconfirmed_lost)"
  done
  echo "(ms; fail = kill -9 until the replica answers SET for the shard and cluster_state:ok;" \
    "bound = node-timeout + 2000 = $(field "$rs" bound) ms; rejoin = restart of the killed node until" \
    "it is a replica of the promoted one, link up; lost = per round / all acked keys re-read after" \
    "the last round)"
}

# ---------------------------------------------------------------------------
# (b) Throughput per master node
# ---------------------------------------------------------------------------

# cluster_up KIND -> sets CL_PORTS (six nodes, all pinned to core 0) and
# CL_MASTERS (the masters' ports, in slot order) once the cluster is ok
# everywhere and every replica in sync.
cluster_up() {
  local kind=$1 _ p bus next=${NEXT_PORT:-${BENCH_PORT:-31400}}
  CL_PORTS=()
  for _ in 1 2 3 4 5 6; do
    p=$(free_port "$next")
    bus=$(free_port $((p + 1)))
    next=$((bus + 1))
    start_server "$kind" "$p" 0 --cluster-enabled yes --cluster-config-file "nodes-$kind-$p.conf" \
      --cluster-node-timeout "$node_timeout" --cluster-port "$bus" --repl-diskless-sync-delay 0
    CL_PORTS+=("$p")
  done
  NEXT_PORT=$next
  local addrs=() out
  for p in "${CL_PORTS[@]}"; do addrs+=("127.0.0.1:$p"); done
  out=$(redis-cli --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes 2>&1) || {
    echo "$out" >&2
    return 1
  }
  local _ ok
  for _ in $(seq 400); do
    ok=1
    for p in "${CL_PORTS[@]}"; do
      redis-cli -p "$p" cluster info | grep -q '^cluster_state:ok' || ok=0
      if redis-cli -p "$p" info replication | grep -q '^role:slave'; then
        redis-cli -p "$p" info replication | grep -q '^master_link_status:up' || ok=0
      fi
    done
    [ "$ok" = 1 ] && break
    sleep 0.1
  done
  [ "$ok" = 1 ] || { echo "$kind cluster did not settle" >&2; return 1; }
  # The masters in slot order (field 9 of CLUSTER NODES is the first range).
  mapfile -t CL_MASTERS < <(redis-cli -p "${CL_PORTS[0]}" cluster nodes |
    awk '$3 ~ /master/ { split($2, a, "[:@]"); print $9 " " a[2] }' | sort -n | awk '{print $2}')
}

median() { tr ' ' '\n' | grep . | sort -n | awk '{v[NR] = $1} END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# median_run KIND P TEST -> the run number whose total is the median one
# (the lower middle for an even count).
median_run() {
  tr ' ' '\n' <<<"${tot[$1,$2,$3]}" | grep . | awk '{print NR, $1}' | sort -k2 -n |
    awk '{r[NR] = $1} END { print r[int((NR + 1) / 2)] }'
}

# calls PORT CMD -> cmdstat_CMD calls of PORT (0 if none yet).
calls() {
  redis-cli -p "$1" info commandstats |
    awk -F'[:=,]' -v c="cmdstat_$2" '$1 == c { n = $3 } END { print n + 0 }'
}

# rate_sample MASTERS... -> "NANOSECONDS SET-calls GET-calls ..." (the
# calls of every master, in order; the time is the middle of the reads).
rate_sample() {
  local t0 t1 m out=""
  t0=$(date +%s%N)
  for m in "$@"; do out+=" $(calls "$m" set) $(calls "$m" get)"; done
  t1=$(date +%s%N)
  echo "$(((t0 + t1) / 2))$out"
}

# rate_run KIND P TEST: redis-benchmark --cluster looping on TEST for
# $warm s, then the masters' calls counted over $window s, then stopped.
# Sets RATE_TOTAL and RATE_PER ("a/b/c", masters in slot order).
rate_run() {
  local kind=$1 p=$2 t=$3 col
  read -ra ms <<<"${masters[$kind]}"
  taskset -c 1 redis-benchmark --cluster -p "${ms[0]}" -c 50 -r 1000000 -d 16 -P "$p" -t "$t" \
    -l -q >/dev/null 2>&1 &
  local bpid=$!
  BENCH_PIDS+=("$bpid")
  sleep "$warm"
  local a b
  a=$(rate_sample "${ms[@]}")
  sleep "$window"
  b=$(rate_sample "${ms[@]}")
  kill "$bpid" 2>/dev/null || true
  wait "$bpid" 2>/dev/null || true
  col=2
  [ "$t" = get ] && col=3
  # Fields: time, then SET and GET calls per master.
  read -r RATE_TOTAL RATE_PER < <(awk -v a="$a" -v b="$b" -v c="$col" 'BEGIN {
    n = split(a, x, " "); split(b, y, " "); dt = (y[1] - x[1]) / 1e9; tot = 0; per = ""
    for (i = c; i <= n; i += 2) { r = (y[i] - x[i]) / dt; tot += r; per = per (per == "" ? "" : "/") sprintf("%.0f", r) }
    printf "%.0f %s\n", tot, per }')
}

throughput_cluster_section() {
  echo
  echo "== Throughput: redis-benchmark --cluster -c 50 -d 16 -r 1000000, SET then GET, -P 1 and -P 16, $runs runs =="
  echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
  local kind
  declare -A masters
  for kind in redis redoubt; do
    cluster_up "$kind"
    masters[$kind]="${CL_MASTERS[*]}"
  done
  declare -A tot per
  local run p t
  for run in $(seq "$runs"); do
    for p in 1 16; do
      # SET before GET (GET then finds keys); Redis and Redoubt back to
      # back so that a change of machine load hits both alike.
      for t in set get; do
        for kind in redis redoubt; do
          rate_run "$kind" "$p" "$t"
          tot[$kind,$p,$t]+="$RATE_TOTAL "
          per[$kind,$p,$t,$run]=$RATE_PER
          printf "  run %s -P %-2s %-3s %-8s %8s  (%s)  load %s\n" "$run" "$p" "$t" "$kind" \
            "$RATE_TOTAL" "$RATE_PER" "$(cut -d' ' -f1 /proc/loadavg)" >&2
        done
      done
    done
  done
  echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
  # A node starved past cluster-node-timeout would have been failed over
  # mid-run, and the rates would not be of the layout measured.
  for kind in redis redoubt; do
    read -ra ms <<<"${masters[$kind]}"
    if [ "$(redis-cli -p "${ms[0]}" cluster info | tr -d '\r' | awk -F: '$1 == "cluster_current_epoch" {print $2}')" != 6 ]; then
      echo "WARNING: $kind: the epoch moved during the runs (a failover happened)"
    fi
  done
  printf "%-4s %2s %10s %10s %6s  %-24s %-24s\n" test P "redis rps" redoubt ratio \
    "redis per master" "redoubt per master"
  for p in 1 16; do
    for t in set get; do
      local r o rp op
      r=$(median <<<"${tot[redis,$p,$t]}")
      o=$(median <<<"${tot[redoubt,$p,$t]}")
      rp=$(median_run redis "$p" "$t")
      op=$(median_run redoubt "$p" "$t")
      printf "%-4s %2s %10.0f %10.0f %6s  %-24s %-24s\n" "${t^^}" "$p" "$r" "$o" "$(ratio "$o" "$r")" \
        "${per[redis,$p,$t,$rp]}" "${per[redoubt,$p,$t,$op]}"
    done
  done
  echo "(requests/s over a ${window} s window after ${warm} s of warm-up, counted from INFO commandstats" \
    "of the masters; total = median of $runs runs, per master = the run with the median total," \
    "masters in slot order; ratio = redoubt/redis, above 1 = redoubt faster; all 12 nodes on core 0" \
    "(replicas included), redis-benchmark on core 1)"
}

case $sections in
  failover) failover_section ;;
  throughput) throughput_cluster_section ;;
  all)
    failover_section
    throughput_cluster_section
    ;;
  *) echo "-s failover|throughput|all" >&2; exit 2 ;;
esac
echo "($(bench_stamp))"
