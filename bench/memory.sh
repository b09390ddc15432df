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
# allocator for (crates/server/src/alloc.rs), so it leaves out malloc's
# per-block overhead. RSS is what the machine pays and is the fairer of the
# two.
#
# Usage: bench/memory.sh [-s SCALE]   (SCALE multiplies every key count;
#        default 1, e.g. -s 0.1 for a quick run)
# Environment: see bench/lib.sh (BENCH_BIN=target/debug/redoubt gives the
# same bytes without a release build).
source "$(dirname "$0")/lib.sh"

scale=1
while getopts "s:" o; do
  case "$o" in
    s) scale=$OPTARG ;;
    *) echo "usage: $0 [-s scale]" >&2; exit 2 ;;
  esac
done

bench_build
memory_section "$scale"
echo "($(bench_stamp))"
