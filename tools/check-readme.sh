#!/usr/bin/env bash
# Follows the README from a clean clone as a new user would: checks the
# prerequisites it names ("Before you start"), then runs "Run it": `cargo
# run --release -- up`, the redis-cli commands against the topology, and
# Ctrl-C. Prints how long each step took; exits non-zero at the first step
# that does not do what the README says.
#
#   tools/check-readme.sh [--port P]   # P: the master's port (README: 6379)
#
# The topology takes P, P+1, P+2 and sentinels on P+20000..P+20002 (the
# README's 6379 and 26379 when P is 6379). CARGO_TARGET_DIR, when set, is
# used as is (a warm cache makes the check fast; unset, it is a clean one
# inside the clone, as for a new user).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
port=6379
if [ "${1:-}" = "--port" ]; then port="$2"; fi
sport=$((port + 20000))
work="$(mktemp -d /tmp/redoubt-readme.XXXXXX)"
up_pid=
cleanup() {
  if [ -n "$up_pid" ] && kill -0 "$up_pid" 2>/dev/null; then kill -INT "$up_pid" || true; wait "$up_pid" || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
t0=$(date +%s)
step() { echo "[$(( $(date +%s) - t0 ))s] $*"; }
fail() { echo "README CHECK FAILED: $*" >&2; exit 1; }

step "prerequisites (README: Before you start)"
command -v cc >/dev/null || fail "no C compiler: apt-get install build-essential"
command -v redis-cli >/dev/null || fail "no redis-cli: apt-get install redis-tools"
command -v cargo >/dev/null || fail "no cargo: install rustup"
need=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' "$repo/Cargo.toml")
have=$(rustc --version | awk '{print $2}')
[ "$(printf '%s\n%s\n' "$need" "$have" | sort -V | head -1)" = "$need" ] \
  || fail "rustc $have is older than rust-version $need"

step "git clone"
git clone --quiet "$repo" "$work/redoubt"
cd "$work/redoubt"
[ -f LICENSE ] || fail "no LICENSE in the clone"

step "cargo build --release (the first part of cargo run --release -- up)"
cargo build --release --quiet
step "built"

# The README's command, with this check's ports when not the defaults.
args=(up)
if [ "$port" != 6379 ]; then args+=(--port "$port" --sentinel-port "$sport"); fi
cargo run --release --quiet -- "${args[@]}" > "$work/up.out" 2>&1 &
up_pid=$!
for _ in $(seq 1 600); do
  grep -q '^Ready in' "$work/up.out" && break
  kill -0 "$up_pid" 2>/dev/null || { cat "$work/up.out"; fail "redoubt up exited"; }
  sleep 0.2
done
grep -q '^Ready in' "$work/up.out" || { cat "$work/up.out"; fail "redoubt up not ready after 120 s"; }
step "redoubt up: $(grep '^Ready in' "$work/up.out")"

[ "$(redis-cli -p "$port" set greeting hello)" = OK ] || fail "SET on the master"
got=
for _ in $(seq 1 50); do
  got=$(redis-cli -p $((port + 1)) get greeting)
  [ "$got" = hello ] && break
  sleep 0.1
done
[ "$got" = hello ] || fail "the replica answered '$got', not hello"
addr=$(redis-cli -p "$sport" sentinel get-master-addr-by-name mymaster | tr '\n' ' ')
[ "$addr" = "127.0.0.1 $port " ] || fail "sentinel names '$addr'"
step "redis-cli: set on the master, get on a replica, sentinel's master address"

kill -INT "$up_pid"
wait "$up_pid" || fail "redoubt up did not exit 0 on Ctrl-C"
up_pid=
grep -q '^Stopped' "$work/up.out" || fail "no 'Stopped' line after Ctrl-C"
[ -d redoubt-data ] || fail "no ./redoubt-data kept"
step "Ctrl-C stopped everything, data kept"
echo "README path OK in $(( $(date +%s) - t0 ))s"
