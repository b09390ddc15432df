#!/usr/bin/env bash
# Instructions per script call, Redoubt vs real Redis, with valgrind's
# callgrind: `return redis.call('GET', KEYS[1])` and a script making 100
# redis.call's, each run by EVALSHA (see callgrind_scripts_section in
# lib.sh).
#
# Usage: bench/scripting.sh [SMALL LARGE]
#   defaults: 20000 60000 (the 100-call script runs a tenth of those)
# Environment: see bench/lib.sh.
source "$(dirname "$0")/lib.sh"

bench_build
callgrind_scripts_section "${1:-20000}" "${2:-60000}"
echo "($(bench_stamp))"
