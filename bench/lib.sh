# Shared by the bench/*.sh scripts (sourced, not run): building Redoubt,
# starting and stopping servers of either kind, reading their memory, and
# the measurement sections the scripts print (throughput, instructions per
# request, bytes per key). bench/matrix.sh runs them all in one go; run.sh,
# callgrind.sh and memory.sh each run one.
#
# Environment:
#   BENCH_BIN=PATH   use this Redoubt binary instead of building release
#                    (e.g. target/debug/redoubt for a byte count: the memory
#                    layout does not depend on the optimisation level)
#   BENCH_PORT=P     first port to try (each server takes the first free one
#                    from there)
# Needs: redis-server, redis-cli, redis-benchmark (7.0), taskset; valgrind
# for the instruction counts; python3 for the memory datasets.

set -euo pipefail
BENCH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$BENCH_ROOT"

# Every server started through start_server, so cleanup can stop them.
BENCH_PIDS=()
BENCH_WORK=$(mktemp -d)
bench_cleanup() {
  local p
  for p in "${BENCH_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$BENCH_WORK"
}
trap bench_cleanup EXIT

# Builds (once) and sets $BENCH_BIN to the Redoubt binary.
bench_build() {
  if [ -z "${BENCH_BIN:-}" ]; then
    cargo build --release -q -p redoubt
    BENCH_BIN=$BENCH_ROOT/target/release/redoubt
  fi
}

# First port from $1 (default $BENCH_PORT or 31400) nothing listens on.
free_port() {
  local base=${1:-${BENCH_PORT:-31400}} p
  for p in $(seq "$base" $((base + 99))); do
    if ! (exec 3<>/dev/tcp/127.0.0.1/"$p") 2>/dev/null; then echo "$p"; return; fi
  done
  echo "no free port from $base" >&2
  return 1
}

# start_server KIND PORT PIN [DIRECTIVES...] -> sets $SERVER_PID.
# KIND is redis or redoubt; PIN is a core number for taskset, or "" for
# none. No persistence unless DIRECTIVES say otherwise. Not to be called in
# $(...): the server would hold the substitution's pipe open and its pid
# would be lost to cleanup.
start_server() {
  local kind=$1 port=$2 pin=$3
  shift 3
  local cmd
  if [ "$kind" = redis ]; then cmd=(redis-server); else cmd=("$BENCH_BIN" server); fi
  [ -n "$pin" ] && cmd=(taskset -c "$pin" "${cmd[@]}")
  "${cmd[@]}" --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
    --enable-debug-command yes --dir "$BENCH_WORK" --dbfilename "$kind-$port.rdb" \
    --logfile "$BENCH_WORK/$kind-$port.log" "$@" >/dev/null &
  SERVER_PID=$!
  BENCH_PIDS+=("$SERVER_PID")
  local _
  for _ in $(seq 200); do
    redis-cli -p "$port" ping >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "$kind did not answer on port $port; log:" >&2
  tail -5 "$BENCH_WORK/$kind-$port.log" >&2 || true
  return 1
}

# stop_server PORT PID
stop_server() {
  redis-cli -p "$1" shutdown nosave >/dev/null 2>&1 || true
  wait "$2" 2>/dev/null || true
}

# (printf, not print: awk prints numbers past 2^31 as 2.16812e+09.)
used_memory() { redis-cli -p "$1" info memory | awk -F: '/^used_memory:/ {printf "%.0f\n", $2}'; }
rss_bytes() { awk '/^VmRSS:/ {printf "%.0f\n", $2 * 1024}' "/proc/$1/status"; }

# ratio A B -> A/B with two decimals, "-" when B is 0 or missing.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0) printf "%.2f", a / b; else print "-" }'; }

# One line for a table footer: date, commit, load, THP.
bench_stamp() {
  echo "$(date -u '+%F %H:%M UTC'), $(git rev-parse --short HEAD 2>/dev/null || echo '?')," \
    "load average $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores," \
    "THP $(grep -o '\[[a-z]*\]' /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null || echo '?')"
}

# ---------------------------------------------------------------------------
# Throughput and latency (redis-benchmark)
# ---------------------------------------------------------------------------

# throughput_section REQUESTS TESTS SIZES PIPELINES
# (TESTS comma-separated redis-benchmark test names; SIZES and PIPELINES
# space-separated). Both servers run side by side, each pinned to core 0,
# redis-benchmark to core 1 (only one is loaded at a time); 50 clients,
# random keys over 1,000,000. Rows: requests per second and p50/p99 latency
# (ms) for both, with the Redoubt/Redis ratio of rps (above 1 = Redoubt
# faster) and of p99 (below 1 = Redoubt faster).
throughput_section() {
  local requests=$1 tests=$2 sizes=$3 pipelines=$4
  local rport oport rpid opid
  rport=$(free_port)
  start_server redis "$rport" 0
  rpid=$SERVER_PID
  oport=$(free_port $((rport + 1)))
  start_server redoubt "$oport" 0
  opid=$SERVER_PID
  printf "%-14s %2s %5s %10s %10s %6s %7s %7s %7s %7s %6s\n" test P size \
    "redis rps" "redoubt" ratio "r p50" "o p50" "r p99" "o p99" "p99 r"
  local d p
  for d in $sizes; do
    for p in $pipelines; do
      redis-cli -p "$rport" flushall >/dev/null
      redis-cli -p "$oport" flushall >/dev/null
      local r o
      r=$(bench_csv "$rport" "$requests" "$tests" "$d" "$p")
      o=$(bench_csv "$oport" "$requests" "$tests" "$d" "$p")
      local t rr rp50 rp99 orr op50 op99
      while IFS=, read -r t rr rp50 rp99; do
        IFS=, read -r orr op50 op99 <<< "$(echo "$o" | awk -F, -v t="$t" '$1 == t {print $2 "," $3 "," $4}')"
        printf "%-14s %2s %5s %10.0f %10.0f %6s %7s %7s %7s %7s %6s\n" "$t" "$p" "$d" \
          "$rr" "${orr:-0}" "$(ratio "${orr:-0}" "$rr")" "$rp50" "${op50:--}" "$rp99" "${op99:--}" \
          "$(ratio "${op99:-0}" "$rp99")"
      done <<< "$r"
    done
  done
  stop_server "$rport" "$rpid"
  stop_server "$oport" "$opid"
  echo "(-c 50 -n $requests -r 1000000; servers on core 0, redis-benchmark on core 1;" \
    "rps ratio = redoubt/redis, above 1 = redoubt faster; p50/p99 in ms; p99 r = redoubt/redis p99)"
}

# bench_csv PORT REQUESTS TESTS SIZE PIPELINE -> "TEST,rps,p50,p99" lines
bench_csv() {
  taskset -c 1 redis-benchmark -p "$1" -c 50 -n "$2" -r 1000000 -d "$4" -P "$5" -t "$3" \
    --csv 2>/dev/null | tail -n +2 | tr -d '"' | awk -F, '{ sub(/ \(10 keys\)/, "", $1); print $1 "," $2 "," $5 "," $7 }'
}

# ---------------------------------------------------------------------------
# Instructions per request (callgrind)
# ---------------------------------------------------------------------------

# callgrind_ir KIND TEST REQUESTS -> total instructions of a server run that
# served REQUESTS requests of TEST (pipelined by 16, 50 clients).
callgrind_ir() {
  local kind=$1 t=$2 n=$3 port
  port=$(free_port)
  local out="$BENCH_WORK/cg.$kind.$t.$n" cmd
  if [ "$kind" = redis ]; then cmd=(redis-server); else cmd=("$BENCH_BIN" server); fi
  valgrind --tool=callgrind --callgrind-out-file="$out" \
    "${cmd[@]}" --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
    --dir "$BENCH_WORK" --logfile "$BENCH_WORK/cg-$kind.log" >/dev/null 2>&1 &
  local pid=$! _
  BENCH_PIDS+=("$pid")
  for _ in $(seq 300); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  redis-benchmark -p "$port" -c 50 -P 16 -n "$n" -r 100000 -d 16 -t "$t" -q >/dev/null 2>&1
  stop_server "$port" "$pid"
  grep -E '^(summary|totals):' "$out" | head -1 | awk '{print $2}'
}

# callgrind_section TESTS SMALL LARGE: the marginal instructions per
# request between a run of SMALL and one of LARGE requests (the difference
# cancels start-up and shutdown).
callgrind_section() {
  local tests=$1 small=$2 large=$3 t
  printf "%-6s %14s %14s %7s\n" test "redis Ir/req" "redoubt Ir/req" ratio
  for t in ${tests//,/ }; do
    local r1 r2 o1 o2
    r1=$(callgrind_ir redis "$t" "$small"); r2=$(callgrind_ir redis "$t" "$large")
    o1=$(callgrind_ir redoubt "$t" "$small"); o2=$(callgrind_ir redoubt "$t" "$large")
    awk -v t="$t" -v r1="$r1" -v r2="$r2" -v o1="$o1" -v o2="$o2" -v d=$((large - small)) \
      'BEGIN { r = (r2 - r1) / d; o = (o2 - o1) / d; printf "%-6s %14.0f %14.0f %7.2f\n", t, r, o, o / r }'
  done
  echo "(pipelined by 16, 50 clients, -d 16 -r 100000; marginal cost between $small and $large requests;" \
    "target ratio <= 0.80)"
}

# callgrind_script_ir KIND SCRIPT REQUESTS -> total instructions of a server
# run that served REQUESTS EVALSHA calls of SCRIPT (one key, pipelined by
# 16, 50 clients; the script is loaded first, the key set to a short value).
callgrind_script_ir() {
  local kind=$1 script=$2 n=$3 port
  port=$(free_port)
  local out="$BENCH_WORK/cgs.$kind.$n" cmd
  if [ "$kind" = redis ]; then cmd=(redis-server); else cmd=("$BENCH_BIN" server); fi
  valgrind --tool=callgrind --callgrind-out-file="$out" \
    "${cmd[@]}" --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
    --dir "$BENCH_WORK" --logfile "$BENCH_WORK/cgs-$kind.log" >/dev/null 2>&1 &
  local pid=$! _
  BENCH_PIDS+=("$pid")
  for _ in $(seq 300); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
  local sha
  sha=$(redis-cli -p "$port" script load "$script")
  redis-cli -p "$port" set key value >/dev/null
  redis-benchmark -p "$port" -c 50 -P 16 -n "$n" evalsha "$sha" 1 key >/dev/null 2>&1
  stop_server "$port" "$pid"
  grep -E '^(summary|totals):' "$out" | head -1 | awk '{print $2}'
}

# callgrind_scripts_section SMALL LARGE: the marginal instructions per EVALSHA
# of a script doing one redis.call and of one doing 100, Redis and Redoubt.
callgrind_scripts_section() {
  local small=$1 large=$2
  printf "%-22s %14s %14s %7s\n" script "redis Ir/call" "redoubt Ir/call" ratio
  local name script
  while IFS='|' read -r name script; do
    local r1 r2 o1 o2 s=$small l=$large
    # The 100-call script costs ~100 times more: fewer requests suffice.
    if [ "$name" = "100-redis.call" ]; then s=$((small / 10)); l=$((large / 10)); fi
    r1=$(callgrind_script_ir redis "$script" "$s"); r2=$(callgrind_script_ir redis "$script" "$l")
    o1=$(callgrind_script_ir redoubt "$script" "$s"); o2=$(callgrind_script_ir redoubt "$script" "$l")
    awk -v t="$name" -v r1="$r1" -v r2="$r2" -v o1="$o1" -v o2="$o2" -v d=$((l - s)) \
      'BEGIN { r = (r2 - r1) / d; o = (o2 - o1) / d; printf "%-22s %14.0f %14.0f %7.2f\n", t, r, o, o / r }'
  done <<'SCRIPTS'
GET|return redis.call('GET', KEYS[1])
100-redis.call|local r for i = 1, 100 do r = redis.call('GET', KEYS[1]) end return r
SCRIPTS
  echo "(EVALSHA pipelined by 16, 50 clients; marginal cost between $small and $large calls" \
    "(a tenth of that for the 100-call script); target ratio <= 1.00)"
}

# ---------------------------------------------------------------------------
# Bytes per key
# ---------------------------------------------------------------------------

# memory_measure KIND DATASET KEYS -> sets $m_used $m_rss (growth in bytes)
# and $m_enc. A fresh server per dataset; strings come from DEBUG POPULATE,
# the other types from $BENCH_WORK/DATASET.resp (bench/memgen.py) through
# redis-cli --pipe.
memory_measure() {
  local kind=$1 ds=$2 keys=$3 port pid
  port=$(free_port)
  start_server "$kind" "$port" ""
  pid=$SERVER_PID
  local u0 r0
  u0=$(used_memory "$port"); r0=$(rss_bytes "$pid")
  if [ "$ds" = string ]; then
    redis-cli -p "$port" debug populate "$keys" key 16 >/dev/null
  else
    local res
    res=$(redis-cli -p "$port" --pipe < "$BENCH_WORK/$ds.resp" 2>&1 | tail -1)
    case "$res" in *"errors: 0,"*) ;; *) echo "load $ds into $kind: $res" >&2; return 1 ;; esac
  fi
  local got
  got=$(redis-cli -p "$port" dbsize)
  [ "$got" = "$keys" ] || { echo "$kind $ds: dbsize $got, expected $keys" >&2; return 1; }
  m_enc=$(redis-cli -p "$port" --raw object encoding "$(redis-cli -p "$port" --raw randomkey)")
  m_used=$(($(used_memory "$port") - u0))
  m_rss=$(($(rss_bytes "$pid") - r0))
  stop_server "$port" "$pid"
}

# memory_section SCALE: bytes per key for each dataset (key counts times
# SCALE), used_memory and RSS growth, Redoubt/Redis ratios.
memory_section() {
  local scale=$1
  printf "%-18s %8s %-10s %9s %9s %6s %9s %9s %6s\n" dataset keys encoding \
    "redis" "redoubt" ratio "redis" "redoubt" ratio
  printf "%-18s %8s %-10s %9s %9s %6s %9s %9s %6s\n" "" "" "" \
    "used/key" "used/key" "" "rss/key" "rss/key" ""
  local name ds keys elems
  while read -r name ds keys elems; do
    keys=$(awk -v a="$keys" -v s="$scale" 'BEGIN { v = int(a * s); print (v < 1 ? 1 : v) }')
    [ "$ds" = string ] || python3 bench/memgen.py "$ds" "$keys" "$elems" > "$BENCH_WORK/$ds.resp"
    memory_measure redis "$ds" "$keys"
    local ru=$m_used rr=$m_rss renc=$m_enc
    memory_measure redoubt "$ds" "$keys"
    local ou=$m_used orr=$m_rss oenc=$m_enc
    local enc=$renc
    [ "$renc" = "$oenc" ] || enc="$renc/$oenc"
    awk -v name="$name" -v k="$keys" -v enc="$enc" -v ru="$ru" -v ou="$ou" -v rr="$rr" -v or="$orr" \
      'BEGIN { printf "%-18s %8d %-10s %9.1f %9.1f %6.2f %9.1f %9.1f %6.2f\n", name, k, enc,
               ru/k, ou/k, ou/ru, rr/k, or/k, or/rr }'
    rm -f "$BENCH_WORK/$ds.resp"
  done <<'DATA'
string-16B string 1000000 1
hash-10-fields hash 100000 10
hash-1000-fields hash 1000 1000
list-10 list 100000 10
set-10-ints set_int 100000 10
set-10-strings set_str 100000 10
zset-10 zset 100000 10
DATA
  echo "(scale $scale; per key = growth after loading / keys; ratio = redoubt/redis, below 1 = redoubt" \
    "smaller; target <= 0.75 for string-16B and hash-10-fields)"
}
