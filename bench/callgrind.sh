#!/usr/bin/env bash
# Instructions per request, Redoubt vs real Redis, with valgrind's callgrind
# (instruction counts do not depend on how busy the machine is).
#
# For each server and command, two runs with different request counts are
# measured; the difference cancels start-up and shutdown, so the figure is
# the marginal cost of one request (pipelined by 16, 50 clients).
#
# Usage: bench/callgrind.sh [TESTS] [SMALL LARGE]
#   defaults: get,set 20000 60000
# Environment: see bench/lib.sh.
source "$(dirname "$0")/lib.sh"

bench_build
callgrind_section "${1:-get,set}" "${2:-20000}" "${3:-60000}"
echo "($(bench_stamp))"
