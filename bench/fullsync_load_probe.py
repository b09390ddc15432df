#!/usr/bin/env python3
"""Helper of bench/fullsync_load.sh: one server kind (redis or redoubt), a
replica's full sync while the master takes the full-speed writer.

KEYS keys of 100 bytes are loaded on the master (named as redis-benchmark's
random keys, so the writer overwrites them), the writer (redis-benchmark -t
set -P 16 -c 50 -r KEYS -d 100, run in a loop) starts, then a replica of
the same kind is started with --replicaof and both keep Redis's default
`client-output-buffer-limit replica 256mb 64mb 60`, said explicitly. Timed
from the replica's start until it reports master_link_status:up. The
writer then runs for SETTLE more seconds and stops; when the replica's
offset equals the master's, DEBUG DIGEST of both is compared.

Prints one line:
  sync_s full_syncs link_drops rps_during digest_equal(1/0)
where full_syncs is the master's sync_full count (1 when the first sync
held), link_drops the master log's output-buffer closes.
"""
import argparse
import subprocess
import sys
import time

import redis

from replication_probe import Servers


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kind", required=True)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--keys", type=int, required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--load", required=True, help="RESP file that loads the keys")
    ap.add_argument("--pin-server", default="")
    ap.add_argument("--pin-client", default="")
    ap.add_argument("--settle", type=float, default=2.0)
    a = ap.parse_args()

    pin = a.pin_server.split()
    srv = Servers(a.kind, a.bin, a.work, pin)
    limit = ["--client-output-buffer-limit", "replica 256mb 64mb 60"]
    mport, rport = a.port, a.port + 1
    try:
        _, m = srv.start(mport, *limit)
        with open(a.load, "rb") as f:
            subprocess.run(["redis-cli", "-p", str(mport), "--pipe"], stdin=f,
                           stdout=subprocess.DEVNULL, check=True)
        if m.dbsize() != a.keys:
            sys.exit(f"{a.kind}: dbsize {m.dbsize()}, expected {a.keys}")
        bench = (f"{a.pin_client} redis-benchmark -p {mport} -c 50 -P 16 -r {a.keys} "
                 f"-d 100 -t set -n 2000000 --csv")
        writer = subprocess.Popen(f"while :; do {bench}; done", shell=True,
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                  text=True, start_new_session=True)
        time.sleep(1.0)
        cmds0 = m.info("stats")["total_commands_processed"]
        t0 = time.monotonic()
        _, r = srv.start(rport, "--replicaof", "127.0.0.1", str(mport), *limit)
        while True:
            try:
                if r.info("replication").get("master_link_status") == "up":
                    break
            except (redis.exceptions.BusyLoadingError, redis.exceptions.ConnectionError):
                pass
            if time.monotonic() - t0 > 900:
                sys.exit("replica did not sync in 900 s")
            time.sleep(0.02)
        took = time.monotonic() - t0
        rps = (m.info("stats")["total_commands_processed"] - cmds0) / took
        time.sleep(a.settle)
        subprocess.run(["kill", "--", f"-{writer.pid}"], check=False)
        writer.wait()
        end = time.monotonic() + 120
        while time.monotonic() < end:
            mo = m.info("replication")["master_repl_offset"]
            ro = r.info("replication").get("slave_repl_offset", -1)
            if mo == ro:
                break
            time.sleep(0.05)
        # DEBUG DIGEST hashes every key: seconds for millions of keys.
        slow = {"socket_timeout": 600}
        dm = redis.Redis(port=mport, **slow).execute_command("DEBUG", "DIGEST")
        dr = redis.Redis(port=rport, **slow).execute_command("DEBUG", "DIGEST")
        full = m.info("stats")["sync_full"]
        with open(f"{a.work}/{a.kind}-{mport}.log", errors="replace") as f:
            drops = sum("output buffer" in line for line in f)
        print(f"{took:.2f} {full} {drops} {rps:.0f} {int(dm == dr and m.dbsize() == r.dbsize())}")
    finally:
        srv.stop_all()


if __name__ == "__main__":
    main()
