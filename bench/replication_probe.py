#!/usr/bin/env python3
"""Helper of bench/replication.sh: one server kind (redis or redoubt) through
the three replication measurements, printing one line of figures:

  sync_s extra_bytes data_bytes rps0 rps1 rps2 lag_bytes_max lag_bytes_p99
  lag_ms_max lag_ms_p99

(a) full sync: DEBUG POPULATE KEYS on the master, then a replica of the same
    kind is started with --replicaof; the time runs from its start until it
    reports master_link_status:up and its DBSIZE equals the master's. The
    master's RSS is sampled at ~20 Hz meanwhile; for a forking master the
    children's Private_Dirty (smaps_rollup) is added. Extra = peak - RSS
    just before the replica started.
(b) SET throughput of the master with 1, then 2 replicas attached, then 0
    (the replicas shut down), same redis-benchmark command each time.
(c) lag: one replica attached, the writer runs again while the master's
    master_repl_offset and the replica's slave_repl_offset are sampled at
    ~20 Hz. Lag in bytes = master offset - replica offset of the same
    sample round; lag in ms = for each master sample, the time until the
    replica's offset first reaches it.
"""
import argparse
import os
import subprocess
import sys
import threading
import time

import redis


def rss(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def private_dirty(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Private_Dirty:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                out.append(int(d))
        except (OSError, IndexError, ValueError):
            continue
    return out


class Servers:
    def __init__(self, kind, binary, work, pin, disk=False):
        self.kind, self.binary, self.work, self.pin = kind, binary, work, pin
        # Disk-based full sync: the master writes an RDB file, then sends it.
        self.disk = ["--repl-diskless-sync", "no"] if disk else []
        self.procs = {}

    def start(self, port, *extra):
        cmd = ["redis-server"] if self.kind == "redis" else [self.binary, "server"]
        cmd = self.pin + cmd + [
            "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "no", "--dir", self.work,
            "--dbfilename", f"{self.kind}-{port}.rdb",
            "--logfile", f"{self.work}/{self.kind}-{port}.log",
            "--enable-debug-command", "yes",
            # Redis waits 5 s by default for more replicas before a diskless
            # sync; both servers start at once here.
            "--repl-diskless-sync-delay", "0",
        ] + self.disk + list(extra)
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
        self.procs[port] = p
        # DEBUG POPULATE of millions of keys outlasts redis-py's default
        # read timeout.
        r = redis.Redis(port=port, socket_timeout=600)
        for _ in range(400):
            try:
                r.ping()
                return p, r
            except redis.exceptions.BusyLoadingError:
                return p, r
            except redis.exceptions.ConnectionError:
                time.sleep(0.01)
        sys.exit(f"{self.kind} on {port} did not start")

    def stop(self, port):
        p = self.procs.pop(port, None)
        if p is None:
            return
        try:
            redis.Redis(port=port).shutdown(nosave=True)
        except redis.exceptions.RedisError:
            pass
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()

    def stop_all(self):
        for port in list(self.procs):
            self.stop(port)


def wait_synced(r, keys, timeout=600):
    end = time.time() + timeout
    while time.time() < end:
        try:
            info = r.info("replication")
            if info.get("master_link_status") == "up" and r.dbsize() == keys:
                return
        except redis.exceptions.BusyLoadingError:
            pass
        except redis.exceptions.ConnectionError:
            pass
        time.sleep(0.005)
    sys.exit("replica did not sync in time")


def bench(cmd):
    out = subprocess.run(cmd, shell=True, check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        parts = [p.strip('"') for p in line.split(",")]
        if parts and parts[0] == "SET":
            return float(parts[1])
    sys.exit(f"no SET line in redis-benchmark output: {out!r}")


def pct(xs, q):
    if not xs:
        return 0
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kind", required=True)
    ap.add_argument("--bin", default="")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--keys", type=int, required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--bench", required=True, help="redis-benchmark args without -p")
    ap.add_argument("--pin-server", default="")
    ap.add_argument("--pin-client", default="")
    ap.add_argument("--sync-only", action="store_true",
                    help="measure (a) only; the other figures print as 0")
    ap.add_argument("--disk", action="store_true",
                    help="disk-based full sync (repl-diskless-sync no)")
    a = ap.parse_args()

    s = Servers(a.kind, a.bin, a.work, a.pin_server.split(), a.disk)
    mport, r1port, r2port = a.port, a.port + 1, a.port + 2
    writer = f"{a.pin_client} redis-benchmark -p {mport} {a.bench} --csv"
    try:
        mp, m = s.start(mport)
        base0 = rss(mp.pid)
        m.execute_command("DEBUG", "POPULATE", a.keys, "key", 100)
        assert m.dbsize() == a.keys
        time.sleep(0.5)
        base = rss(mp.pid)
        data = base - base0

        # (a) full sync, master memory sampled meanwhile.
        peak = [0]
        done = threading.Event()

        def sampler():
            while not done.is_set():
                extra = rss(mp.pid) - base
                for c in children(mp.pid):
                    extra += private_dirty(c)
                peak[0] = max(peak[0], extra)
                time.sleep(0.05)

        t = threading.Thread(target=sampler)
        t.start()
        t0 = time.time()
        _, r1 = s.start(r1port, "--replicaof", "127.0.0.1", str(mport))
        wait_synced(r1, a.keys)
        sync_s = time.time() - t0
        done.set()
        t.join()
        if a.sync_only:
            print(sync_s, peak[0], data, 0, 0, 0, 0, 0, 0, 0)
            return

        # (b) throughput with 1, 2, 0 replicas.
        rps1 = bench(writer)
        _, r2 = s.start(r2port, "--replicaof", "127.0.0.1", str(mport))
        wait_synced(r2, m.dbsize())
        rps2 = bench(writer)
        s.stop(r2port)

        # (c) lag with one replica; sampled while the writer runs.
        time.sleep(1)
        samples = []  # (t, master_offset, replica_offset)
        w = subprocess.Popen(writer, shell=True, stdout=subprocess.DEVNULL)
        while w.poll() is None:
            mo = m.info("replication")["master_repl_offset"]
            tm = time.time()
            ro = r1.info("replication")["slave_repl_offset"]
            samples.append((tm, mo, ro))
            time.sleep(0.05)
        lag_b = [max(0, mo - ro) for _, mo, ro in samples]
        lag_ms = []
        j = 0
        for i, (tm, mo, _) in enumerate(samples):
            j = max(j, i)
            while j < len(samples) and samples[j][2] < mo:
                j += 1
            if j < len(samples):
                lag_ms.append(max(0.0, (samples[j][0] - tm) * 1000))
        s.stop(r1port)

        time.sleep(1)
        rps0 = bench(writer)
        print(sync_s, peak[0], data, rps0, rps1, rps2, max(lag_b, default=0),
              pct(lag_b, 0.99), max(lag_ms, default=0), pct(lag_ms, 0.99))
    finally:
        s.stop_all()


if __name__ == "__main__":
    main()
