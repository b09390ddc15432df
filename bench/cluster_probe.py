#!/usr/bin/env python3
"""Failover time and write loss of one cluster implementation (bench/cluster.sh).

Starts six nodes of KIND (redis: the installed redis-server; redoubt: BIN
server) on loopback, each with its own bus port (cluster-port) and
nodes.conf, creates a 3 masters x 1 replica cluster with
`redis-cli --cluster create --cluster-replicas 1 --cluster-yes`, then runs
ROUNDS rounds of:

  1. a writer thread starts: SET w:<n> <n> followed by WAIT 1 WAIT_MS on
     the same connection (one pipeline), n = 0, 1, 2, ... so every key is
     written once and lands on a slot of its own over all 16384; the
     writer routes by its slot map (CLUSTER SLOTS), refreshed on MOVED,
     CLUSTERDOWN or a connection error, as a cluster client does. A write
     is "acked" when SET answered OK and "confirmed" when WAIT then
     answered >= 1;
  2. after PRE seconds, kill -9 of the current master of shard
     (round mod 3) (shards are the three slot ranges of the creation);
  3. failover time: from the kill until the dead master's replica answers
     OK to a SET of a key in that shard's first slot and says
     cluster_state:ok (polled every 10 ms on one connection);
  4. the writer runs POST seconds more, the killed node is restarted with
     the same arguments and nodes.conf; rejoin time: from the restart until
     it calls itself a replica of the promoted node (CLUSTER NODES,
     `myself,slave <id>`) and its replication link is up; then the writer
     stops;
  5. every acked key of the round is read back from the masters (after the
     cluster is ok on every node and every replica is in sync): confirmed
     keys missing or different are "confirmed lost", acked-only ones
     "unconfirmed lost".

After the last round every key ever acked is read back once more. Prints
one line per round and a final `summary` line of key=value pairs that
bench/cluster.sh parses. All processes it starts are killed by pid on exit.

Usage: cluster_probe.py KIND BIN PORT WORKDIR ROUNDS WAIT_MS NODE_TIMEOUT
       [PRE POST]
"""

import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

import redis
from redis.backoff import NoBackoff
from redis.crc import key_slot
from redis.retry import Retry

# redis-py retries a failed connection 3 times with backoff by default,
# which would stall the writer and the probe for seconds at every refused
# connect to a killed node: fail at once, route again instead.
NO_RETRY = Retry(NoBackoff(), 0)

POLL = 0.01


class Node:
    """One server process; restartable with the same arguments."""

    def __init__(self, kind, binary, port, bus, work, node_timeout):
        self.kind, self.port, self.bus = kind, port, bus
        cmd = ["redis-server"] if kind == "redis" else [binary, "server"]
        self.argv = cmd + [
            "--port", str(port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no",
            "--dir", work, "--dbfilename", f"dump-{port}.rdb",
            "--logfile", os.path.join(work, f"node-{port}.log"),
            "--cluster-enabled", "yes",
            "--cluster-config-file", f"nodes-{port}.conf",
            "--cluster-node-timeout", str(node_timeout),
            "--cluster-port", str(bus),
            # Redis waits 5 s by default for more replicas before a diskless
            # full sync; the rejoining old master would wait for nothing.
            "--repl-diskless-sync-delay", "0",
        ]
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if ctl(self.port, "PING") in ("PONG", b"PONG"):
                    return
            except (redis.RedisError, OSError):
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{self.kind} node {self.port} did not start")

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None


def ctl(port, *args):
    """One command on a fresh connection, no response callbacks (raw RESP)."""
    c = redis.Connection(host="127.0.0.1", port=port, socket_timeout=2,
                         socket_connect_timeout=1, decode_responses=True,
                         retry=NO_RETRY)
    try:
        c.send_command(*args)
        return c.read_response()
    finally:
        c.disconnect()


def ctl_or_none(port, *args):
    try:
        return ctl(port, *args)
    except (redis.RedisError, OSError):
        return None


def free_ports(start, count):
    """`count` ports from `start` on that nothing listens on or holds."""
    out, p = [], start
    while len(out) < count and p < 65000:
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p))
            out.append(p)
        except OSError:
            pass
        finally:
            s.close()
        p += 1
    return out


def wait_for(what, timeout, pred):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if pred():
                return True
        except (redis.RedisError, OSError):
            pass
        time.sleep(0.05)
    print(f"  timeout ({timeout} s) waiting for {what}", flush=True)
    return False


def info_field(port, section, field):
    text = ctl_or_none(port, "INFO", section) or ""
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return line.split(":", 1)[1].strip()
    return ""


def cluster_ok(port):
    return "cluster_state:ok" in (ctl_or_none(port, "CLUSTER", "INFO") or "")


def slot_ranges(port):
    """[(start, end, master_port, [replica ports])] from CLUSTER SLOTS."""
    out = []
    for r in ctl(port, "CLUSTER", "SLOTS") or []:
        out.append((int(r[0]), int(r[1]), int(r[2][1]),
                    [int(x[1]) for x in r[3:]]))
    return sorted(out)


def myid(port):
    return ctl(port, "CLUSTER", "MYID")


def follows(port, master_id):
    nodes = ctl_or_none(port, "CLUSTER", "NODES") or ""
    me = any("myself,slave" in l and master_id in l for l in nodes.splitlines())
    return me and info_field(port, "replication", "master_link_status") == "up"


def key_in_slot(slot, prefix):
    i = 0
    while key_slot(f"{prefix}{i}".encode()) != slot:
        i += 1
    return f"{prefix}{i}"


class Router:
    """The writer's and the reader's view of who serves which slot."""

    def __init__(self, ports):
        self.ports = ports
        self.slots = [None] * 16384
        self.clients = {}
        self.last_refresh = 0.0

    def refresh(self, force=False):
        now = time.monotonic()
        if not force and now - self.last_refresh < 0.05:
            return
        self.last_refresh = now
        for p in self.ports:
            try:
                ranges = slot_ranges(p)
            except (redis.RedisError, OSError):
                continue
            if not ranges:
                continue
            for a, b, m, _ in ranges:
                for s in range(a, b + 1):
                    self.slots[s] = m
            return

    def client(self, key):
        port = self.slots[key_slot(key.encode())]
        if port is None:
            return None
        c = self.clients.get(port)
        if c is None:
            c = redis.Redis(host="127.0.0.1", port=port, socket_timeout=2,
                            socket_connect_timeout=1, decode_responses=True,
                            retry=NO_RETRY)
            self.clients[port] = c
        return c

    def drop(self, c):
        for p, x in list(self.clients.items()):
            if x is c:
                del self.clients[p]
        try:
            c.close()
        except (redis.RedisError, OSError):
            pass


class Writer(threading.Thread):
    def __init__(self, ports, wait_ms, first):
        super().__init__(daemon=True)
        self.router = Router(ports)
        self.router.refresh(force=True)
        self.wait_ms = wait_ms
        self.n = first
        self.first = first
        self.acked = {}          # key -> confirmed?
        self.errors = 0
        self.stop = threading.Event()

    def run(self):
        r = self.router
        while not self.stop.is_set():
            key = f"w:{self.n}"
            val = str(self.n)
            self.n += 1
            c = r.client(key)
            if c is None:
                r.refresh()
                time.sleep(POLL)
                continue
            try:
                p = c.pipeline(transaction=False)
                p.set(key, val)
                p.execute_command("WAIT", 1, self.wait_ms)
                res = p.execute(raise_on_error=False)
            except (redis.ConnectionError, redis.TimeoutError, OSError):
                self.errors += 1
                r.drop(c)
                r.refresh()
                time.sleep(POLL)
                continue
            if res[0] is True:
                self.acked[key] = (not isinstance(res[1], Exception)
                                   and int(res[1]) >= 1)
            else:
                self.errors += 1
                r.refresh()
                if "CLUSTERDOWN" in str(res[0]):
                    time.sleep(POLL)


def read_back(ports, keys):
    """{key: value or None} for `keys`, read from the masters."""
    r = Router(ports)
    r.refresh(force=True)
    out = {}
    pending = list(keys)
    for _attempt in range(5):
        by_port = {}
        for k in pending:
            by_port.setdefault(r.slots[key_slot(k.encode())], []).append(k)
        retry = []
        for port, ks in by_port.items():
            c = r.client(ks[0]) if port is not None else None
            if c is None:
                retry.extend(ks)
                continue
            for i in range(0, len(ks), 1000):
                chunk = ks[i:i + 1000]
                p = c.pipeline(transaction=False)
                for k in chunk:
                    p.get(k)
                try:
                    vals = p.execute(raise_on_error=False)
                except (redis.RedisError, OSError):
                    retry.extend(chunk)
                    continue
                for k, v in zip(chunk, vals):
                    if isinstance(v, Exception):
                        retry.append(k)
                    else:
                        out[k] = v
        if not retry:
            break
        pending = retry
        time.sleep(0.5)
        r.refresh(force=True)
    for k in pending:
        out.setdefault(k, "<unreadable>")
    return out


def count_lost(ports, acked):
    got = read_back(ports, list(acked))
    lost_c = lost_u = unreadable = 0
    for k, confirmed in acked.items():
        v = got.get(k)
        if v == "<unreadable>":
            unreadable += 1
        if v != k[2:]:
            if confirmed:
                lost_c += 1
            else:
                lost_u += 1
    return lost_c, lost_u, unreadable


def settle(nodes, timeout=60):
    """Every node says ok; every replica's link is up."""
    ports = [n.port for n in nodes]
    if not wait_for("cluster_state:ok on every node", timeout,
                    lambda: all(cluster_ok(p) for p in ports)):
        return False
    return wait_for("every replica in sync", timeout, lambda: all(
        info_field(p, "replication", "role") == "master"
        or info_field(p, "replication", "master_link_status") == "up"
        for p in ports))


def main():
    kind, binary, base, work = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    rounds, wait_ms, node_timeout = int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
    pre = float(sys.argv[8]) if len(sys.argv) > 8 else 1.0
    post = float(sys.argv[9]) if len(sys.argv) > 9 else 0.5
    bound_ms = node_timeout + 2000

    ports = free_ports(base, 12)
    if len(ports) < 12:
        raise RuntimeError(f"no 12 free ports from {base}")
    nodes = [Node(kind, binary, ports[i], ports[6 + i], work, node_timeout)
             for i in range(6)]
    by_port = {n.port: n for n in nodes}

    def cleanup(*_):
        for n in nodes:
            n.kill()
        sys.exit(1)

    signal.signal(signal.SIGTERM, cleanup)
    try:
        for n in nodes:
            n.start()
        out = subprocess.run(
            ["redis-cli", "--cluster", "create"]
            + [f"127.0.0.1:{n.port}" for n in nodes]
            + ["--cluster-replicas", "1", "--cluster-yes"],
            capture_output=True, text=True, timeout=60)
        if out.returncode != 0 or "All 16384 slots covered" not in out.stdout:
            print(out.stdout[-2000:], out.stderr[-2000:])
            raise RuntimeError("redis-cli --cluster create failed")
        if not settle(nodes):
            raise RuntimeError("cluster never settled")
        all_ports = [n.port for n in nodes]
        shards = [a for a, _, _, _ in slot_ranges(nodes[0].port)]
        if len(shards) != 3:
            raise RuntimeError(f"expected 3 slot ranges, got {shards}")

        failover_ms, rejoin_ms = [], []
        misses = []
        all_acked = {}
        tot = {"acked": 0, "confirmed": 0, "lost_c": 0, "lost_u": 0, "errors": 0}
        next_n = 0
        for rnd in range(rounds):
            slot = shards[rnd % 3]
            live = next(p for p in all_ports if by_port[p].alive())

            def shard_range():
                return next(x for x in slot_ranges(live) if x[0] <= slot <= x[1])

            # Gossip may still be telling this node who replicates whom.
            wait_for(f"slot {slot}'s replica in CLUSTER SLOTS", 20,
                     lambda: len(shard_range()[3]) == 1)
            rng = shard_range()
            master, replicas = rng[2], rng[3]
            if len(replicas) != 1:
                raise RuntimeError(f"slot {slot}: replicas {replicas}")
            replica = replicas[0]
            probe_key = key_in_slot(slot, f"probe{rnd}:")
            writer = Writer(all_ports, wait_ms, next_n)
            writer.start()
            time.sleep(pre)
            t0 = time.monotonic()
            by_port[master].kill()
            probe = redis.Redis(host="127.0.0.1", port=replica, socket_timeout=1,
                                decode_responses=True, single_connection_client=True,
                                retry=NO_RETRY)
            took = None
            deadline = t0 + max(30.0, 5 * node_timeout / 1000)
            while time.monotonic() < deadline:
                try:
                    if probe.set(probe_key, "x") and cluster_ok(replica):
                        took = (time.monotonic() - t0) * 1000
                        break
                except (redis.RedisError, OSError):
                    pass
                time.sleep(POLL)
            probe.close()
            if took is None:
                misses.append(f"round {rnd + 1}: no takeover within {deadline - t0:.0f} s")
            else:
                failover_ms.append(took)
                if took > bound_ms:
                    misses.append(f"round {rnd + 1}: failover {took:.0f} ms > {bound_ms} ms")
            time.sleep(post)
            new_id = myid(replica)
            t1 = time.monotonic()
            by_port[master].start()
            ok = wait_for(f"{master} to follow {replica}", 30,
                          lambda: follows(master, new_id))
            back = (time.monotonic() - t1) * 1000
            if ok:
                rejoin_ms.append(back)
            else:
                misses.append(f"round {rnd + 1}: old master {master} did not rejoin as a replica")
            writer.stop.set()
            writer.join()
            next_n = writer.n
            if not settle(nodes):
                misses.append(f"round {rnd + 1}: cluster did not settle after the round")
            acked = writer.acked
            lost_c, lost_u, unreadable = count_lost(all_ports, acked)
            conf = sum(1 for v in acked.values() if v)
            all_acked.update(acked)
            tot["acked"] += len(acked)
            tot["confirmed"] += conf
            tot["lost_c"] += lost_c
            tot["lost_u"] += lost_u
            tot["errors"] += writer.errors
            if lost_c:
                misses.append(f"round {rnd + 1}: {lost_c} confirmed writes lost")
            print(f"  {kind} round {rnd + 1}: killed master :{master} (slot {slot}), "
                  f"replica :{replica} took over in "
                  f"{'-' if took is None else f'{took:.0f}'} ms, old master back as replica in "
                  f"{f'{back:.0f}' if ok else '-'} ms; writes acked {len(acked)}, "
                  f"confirmed {conf}, confirmed lost {lost_c}, unconfirmed lost {lost_u}"
                  f"{f', unreadable {unreadable}' if unreadable else ''}, "
                  f"writer errors {writer.errors}", flush=True)
        final_c, final_u, _ = count_lost(all_ports, all_acked)

        def med(xs):
            return f"{statistics.median(xs):.0f}" if xs else "-"

        print(f"summary kind={kind} rounds={rounds} failovers={len(failover_ms)} "
              f"failover_median={med(failover_ms)} "
              f"failover_max={f'{max(failover_ms):.0f}' if failover_ms else '-'} "
              f"within_bound={sum(1 for x in failover_ms if x <= bound_ms)} bound={bound_ms} "
              f"rejoined={len(rejoin_ms)} rejoin_median={med(rejoin_ms)} "
              f"acked={tot['acked']} confirmed={tot['confirmed']} "
              f"confirmed_lost={tot['lost_c']} unconfirmed_lost={tot['lost_u']} "
              f"final_confirmed_lost={final_c} final_unconfirmed_lost={final_u} "
              f"writer_errors={tot['errors']}", flush=True)
        for m in misses:
            print(f"miss {kind}: {m}", flush=True)
    finally:
        for n in nodes:
            n.kill()


if __name__ == "__main__":
    main()
