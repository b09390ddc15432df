#!/usr/bin/env bash
# Streams, Redoubt vs real Redis 7.0, side by side in one run:
#   1. bytes per entry: one stream of ENTRIES entries (default 1,000,000)
#      of 3 small fields (`user u:<n>`, `event click|view|buy`, `amount
#      <0-999>`), the very same XADD stream (explicit IDs, 16 entries per
#      millisecond) loaded into a fresh server of each kind; used_memory
#      and RSS growth divided by the entries;
#   2. throughput per core: XADD (redis-benchmark, 50 clients, pipelines
#      of 1 and 16), then XREADGROUP ... COUNT 10 STREAMS s > through one
#      group from a stream prefilled with enough entries (each request
#      delivers 10 entries and records them as pending), and the NOACK
#      form; servers pinned to core 0, redis-benchmark to core 1.
# Bytes do not depend on the machine's load; requests per second do (the
# footer gives the load average): compare within one run.
#
# Usage: bench/streams.sh [-e ENTRIES] [-n REQUESTS]
# Environment: see bench/lib.sh (BENCH_BIN, BENCH_PORT).
source "$(dirname "$0")/lib.sh"

entries=1000000 requests=200000
while getopts "e:n:" o; do
  case "$o" in
    e) entries=$OPTARG ;;
    n) requests=$OPTARG ;;
    *) echo "usage: $0 [-e entries] [-n requests]" >&2; exit 2 ;;
  esac
done

# The XADD stream for the memory table (RESP, for redis-cli --pipe).
stream_resp() {
  python3 - "$1" <<'PY'
import sys
n = int(sys.argv[1])
out = sys.stdout.buffer
events = [b"click", b"view", b"buy"]
def cmd(args):
    parts = [b"*%d\r\n" % len(args)]
    for a in args:
        parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
    out.write(b"".join(parts))
for i in range(n):
    ms, seq = 1700000000000 + i // 16, i % 16
    cmd([b"XADD", b"s", b"%d-%d" % (ms, seq), b"user", b"u:%d" % (i * 7919 % 100000),
         b"event", events[i % 3], b"amount", b"%d" % (i * 31 % 1000)])
PY
}

# stream_memory KIND -> sets $m_used $m_rss (growth in bytes).
stream_memory() {
  local kind=$1 port pid
  port=$(free_port)
  start_server "$kind" "$port" ""
  pid=$SERVER_PID
  local u0 r0 res
  u0=$(used_memory "$port"); r0=$(rss_bytes "$pid")
  res=$(redis-cli -p "$port" --pipe < "$BENCH_WORK/stream.resp" 2>&1 | tail -1)
  case "$res" in *"errors: 0,"*) ;; *) echo "load into $kind: $res" >&2; return 1 ;; esac
  local got
  got=$(redis-cli -p "$port" xlen s)
  [ "$got" = "$entries" ] || { echo "$kind: xlen $got, expected $entries" >&2; return 1; }
  m_used=$(($(used_memory "$port") - u0))
  m_rss=$(($(rss_bytes "$pid") - r0))
  stop_server "$port" "$pid"
}

stream_memory_section() {
  stream_resp "$entries" > "$BENCH_WORK/stream.resp"
  stream_memory redis
  local ru=$m_used rr=$m_rss
  stream_memory redoubt
  local ou=$m_used orr=$m_rss
  printf "%-22s %9s %9s %6s %9s %9s %6s\n" "" "redis" "redoubt" ratio "redis" "redoubt" ratio
  printf "%-22s %9s %9s %6s %9s %9s %6s\n" "" "used/ent" "used/ent" "" "rss/ent" "rss/ent" ""
  awk -v n="$entries" -v ru="$ru" -v ou="$ou" -v rr="$rr" -v or="$orr" \
    'BEGIN { printf "%-22s %9.1f %9.1f %6.2f %9.1f %9.1f %6.2f\n", "stream, 3 small fields",
             ru/n, ou/n, ou/ru, rr/n, or/n, or/rr }'
  echo "($entries entries in one stream; per entry = growth after loading / entries;" \
    "ratio = redoubt/redis, target <= 1)"
  rm -f "$BENCH_WORK/stream.resp"
}

# rps PORT PIPELINE REQUESTS ARGS... -> requests per second
rps() {
  local port=$1 p=$2 n=$3
  shift 3
  taskset -c 1 redis-benchmark -p "$port" -c 50 -n "$n" -P "$p" -r 100000 --csv "$@" 2>/dev/null |
    tail -n +2 | tr -d '"' | awk -F, '{print $2}' | head -1
}

# Prefills stream `s` with N entries and creates group `g` at its start.
prefill() {
  local port=$1 n=$2
  redis-cli -p "$port" flushall >/dev/null
  stream_resp "$n" | redis-cli -p "$port" --pipe >/dev/null 2>&1
  redis-cli -p "$port" xgroup create s g 0 >/dev/null
}

stream_throughput_section() {
  local rport oport rpid opid
  rport=$(free_port)
  start_server redis "$rport" 0
  rpid=$SERVER_PID
  oport=$(free_port $((rport + 1)))
  start_server redoubt "$oport" 0
  opid=$SERVER_PID
  printf "%-34s %2s %10s %10s %6s\n" test P "redis rps" "redoubt" ratio
  local p r o
  for p in 1 16; do
    redis-cli -p "$rport" flushall >/dev/null
    redis-cli -p "$oport" flushall >/dev/null
    r=$(rps "$rport" "$p" "$requests" xadd s '*' user u:__rand_int__ event click amount 42)
    o=$(rps "$oport" "$p" "$requests" xadd s '*' user u:__rand_int__ event click amount 42)
    printf "%-34s %2s %10.0f %10.0f %6s\n" "XADD s * (3 fields)" "$p" "$r" "$o" "$(ratio "$o" "$r")"
  done
  # Each XREADGROUP delivers 10 entries: the stream holds 10 per request.
  local reads=$((requests / 2)) form
  for form in "" NOACK; do
    for p in 1 16; do
      prefill "$rport" $((reads * 10 + 1000))
      prefill "$oport" $((reads * 10 + 1000))
      # shellcheck disable=SC2086
      r=$(rps "$rport" "$p" "$reads" xreadgroup group g c count 10 $form streams s '>')
      # shellcheck disable=SC2086
      o=$(rps "$oport" "$p" "$reads" xreadgroup group g c count 10 $form streams s '>')
      printf "%-34s %2s %10.0f %10.0f %6s\n" "XREADGROUP COUNT 10 ${form:-(PEL)}" "$p" "$r" "$o" \
        "$(ratio "$o" "$r")"
    done
  done
  stop_server "$rport" "$rpid"
  stop_server "$oport" "$opid"
  echo "(-c 50, $requests XADDs, $reads XREADGROUPs of 10 entries; servers on core 0," \
    "redis-benchmark on core 1; ratio = redoubt/redis, above 1 = redoubt faster)"
}

bench_build
echo "## Stream memory"
echo '```'
stream_memory_section
echo "($(bench_stamp))"
echo '```'
echo
echo "## Stream throughput (one core)"
echo '```'
stream_throughput_section
echo "($(bench_stamp))"
echo '```'
