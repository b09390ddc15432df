#!/usr/bin/env bash
# Bytes per key, Redoubt vs real Redis 7.0, side by side in one run.
#
# For every dataset each server is started fresh and alone (no persistence),
# `used_memory` and the process RSS are read, the dataset is loaded (the very
# same command stream for both), and both are read again. The table shows
# the growth divided by the number of keys, and the Redoubt/Redis ratio
# (below 1 = Redoubt uses less). Byte counts do not depend on how busy the
# machine is, unlike timings.
#
# Note on the two columns: Redis's used_memory counts jemalloc's usable
# size of every block; Redoubt's counts the sizes it asked the system
# allocator for (alloc.rs), so it leaves out malloc's per-block overhead.
# RSS is what the machine pays and is the fairer of the two.
#
# Usage: bench/memory.sh [-s SCALE]   (SCALE multiplies every key count;
#        default 1, e.g. -s 0.1 for a quick run)
# Needs: redis-server, redis-cli, python3; builds Redoubt in release.
set -euo pipefail
cd "$(dirname "$0")/.."

scale=1
while getopts "s:" o; do
  case "$o" in
    s) scale=$OPTARG ;;
    *) echo "usage: $0 [-s scale]" >&2; exit 2 ;;
  esac
done
n() { awk -v a="$1" -v s="$scale" 'BEGIN { v = int(a * s); print (v < 1 ? 1 : v) }'; }

cargo build --release -q -p redoubt
bin=$PWD/target/release/redoubt
work=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
port=${BENCH_PORT:-31600}

start() { # kind -> sets $pid
  local cmd
  if [ "$1" = redis ]; then cmd=(redis-server); else cmd=("$bin" server); fi
  "${cmd[@]}" --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
    --enable-debug-command yes --dir "$work" --logfile "$work/$1.log" >/dev/null &
  pid=$!
  for _ in $(seq 200); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done
}
stop() {
  redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
  wait "$pid" 2>/dev/null || true
  pid=
}
used() { redis-cli -p "$port" info memory | awk -F: '/^used_memory:/ {print $2+0}'; }
rss() { awk '/^VmRSS:/ {print $2 * 1024}' "/proc/$pid/status"; }

# Sets $m_used $m_rss (growth in bytes) and $m_enc. Called directly, not in
# $(...), so a failure stops the script and the server is cleaned up.
measure() { # kind dataset keys elems
  local kind=$1 ds=$2 keys=$3 elems=$4
  start "$kind"
  local u0 r0; u0=$(used); r0=$(rss)
  if [ "$ds" = string ]; then
    redis-cli -p "$port" debug populate "$keys" key 16 >/dev/null
  else
    local res
    res=$(redis-cli -p "$port" --pipe < "$work/$ds.resp" 2>&1 | tail -1)
    case "$res" in *"errors: 0,"*) ;; *) echo "load $ds into $kind: $res" >&2; exit 1 ;; esac
  fi
  local got; got=$(redis-cli -p "$port" dbsize)
  [ "$got" = "$keys" ] || { echo "$kind $ds: dbsize $got, expected $keys" >&2; exit 1; }
  local enc; enc=$(redis-cli -p "$port" --raw object encoding "$(redis-cli -p "$port" --raw randomkey)")
  m_used=$(($(used) - u0)) m_rss=$(($(rss) - r0)) m_enc=$enc
  stop
}

printf "%-22s %9s %-10s %9s %9s %6s %9s %9s %6s\n" dataset keys encoding \
  "redis" "redoubt" ratio "redis" "redoubt" ratio
printf "%-22s %9s %-10s %9s %9s %6s %9s %9s %6s\n" "" "" "" \
  "used/key" "used/key" "" "rss/key" "rss/key" ""
# dataset name, generator kind, keys, elements per key
while read -r name ds keys elems; do
  keys=$(n "$keys")
  [ "$ds" = string ] || python3 bench/memgen.py "$ds" "$keys" "$elems" > "$work/$ds.resp"
  measure redis "$ds" "$keys" "$elems"
  ru=$m_used rr=$m_rss renc=$m_enc
  measure redoubt "$ds" "$keys" "$elems"
  ou=$m_used orr=$m_rss oenc=$m_enc
  enc=$renc; [ "$renc" = "$oenc" ] || enc="$renc/$oenc"
  awk -v name="$name" -v k="$keys" -v enc="$enc" -v ru="$ru" -v ou="$ou" -v rr="$rr" -v or="$orr" \
    'BEGIN { printf "%-22s %9d %-10s %9.1f %9.1f %6.2f %9.1f %9.1f %6.2f\n", name, k, enc,
             ru/k, ou/k, ou/ru, rr/k, or/k, or/rr }'
  rm -f "$work/$ds.resp"
done <<'DATA'
string-16B string 1000000 1
hash-1000-fields hash 1000 1000
hash-10-fields hash 100000 10
set-10-ints set_int 100000 10
set-10-strings set_str 100000 10
zset-10 zset 100000 10
list-10 list 100000 10
DATA
echo "(scale $scale; per key = growth after loading / keys; ratio = redoubt/redis;" \
  "$(date -u +%F) $(git rev-parse --short HEAD))"
