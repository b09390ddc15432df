#!/usr/bin/env python3
"""Helper of bench/bgsave.sh: runs one redis-benchmark writer against a
server and, with --save, keeps a BGSAVE running for the whole run while
sampling the memory the save costs at ~20 Hz.

Extra memory is measured against the server's RSS just before the first
save. For a forking server (Redis) the forked child's Private_Dirty pages
are added: they are the pages copy-on-write duplicated (plus the child's
own allocations), i.e. what the fork really costs. Pages the child still
shares with the parent are not counted twice.

Prints one line: rps saves mean_save_s max_save_s peak_extra_bytes
"""
import argparse
import os
import subprocess
import sys
import time

import redis


def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def private_dirty(pid):
    """Private dirty bytes of a process; falls back to RSS without smaps."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Private_Dirty:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return rss(pid)
    except OSError:
        return 0


def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                # The command name may hold spaces; the ppid is the second
                # field after the closing parenthesis.
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                out.append(int(d))
        except (OSError, IndexError, ValueError):
            continue
    return out


REWRITE = False


def check(info):
    """A failed save would end at once and make the figures meaningless."""
    field = "aof_last_bgrewrite_status" if REWRITE else "rdb_last_bgsave_status"
    if info.get(field) != "ok":
        sys.exit(f"{'BGREWRITEAOF' if REWRITE else 'BGSAVE'} failed: {info.get(field)}")


def in_progress(info):
    if REWRITE:
        return info["aof_rewrite_in_progress"] or info["aof_rewrite_scheduled"]
    return info["rdb_bgsave_in_progress"]


def start(r):
    if REWRITE:
        r.bgrewriteaof()
    else:
        r.bgsave()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--save", action="store_true")
    ap.add_argument("--fork", action="store_true", help="server forks a child")
    ap.add_argument("--bench", required=True, help="redis-benchmark command line")
    ap.add_argument("--rewrite", action="store_true",
                    help="BGREWRITEAOF instead of BGSAVE (the server has appendonly yes)")
    a = ap.parse_args()
    global REWRITE
    REWRITE = a.rewrite

    r = redis.Redis(port=a.port)
    base = rss(a.pid)
    peak = 0
    saves = []
    started = None
    writer = subprocess.Popen(a.bench, shell=True, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    # Let the writer connect before the first save, so the save overlaps it.
    time.sleep(0.3)
    while writer.poll() is None:
        if a.save:
            info = r.info("persistence")
            now = time.monotonic()
            if not in_progress(info):
                if started is not None:
                    check(info)
                    saves.append(now - started)
                start(r)
                started = time.monotonic()
            extra = rss(a.pid) - base
            if a.fork:
                extra += sum(private_dirty(c) for c in children(a.pid))
            peak = max(peak, extra)
        time.sleep(0.05)
    out = writer.stdout.read()
    if a.save and started is None:
        sys.exit("the writer ended before a save started; raise -n")
    # --csv: a header line, then "SET","rps",...
    rps = float(out.strip().splitlines()[-1].split(",")[1].strip('"'))
    if a.save and started is not None:
        # Let the last save finish (it is not counted in the throughput) and
        # time it too.
        while in_progress(r.info("persistence")):
            extra = rss(a.pid) - base
            if a.fork:
                extra += sum(private_dirty(c) for c in children(a.pid))
            peak = max(peak, extra)
            time.sleep(0.05)
        saves.append(time.monotonic() - started)
        check(r.info("persistence"))
    mean = sum(saves) / len(saves) if saves else 0.0
    print(f"{rps:.0f} {len(saves)} {mean:.2f} {max(saves, default=0):.2f} {peak}")


if __name__ == "__main__":
    main()
