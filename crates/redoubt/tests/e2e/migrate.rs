//! MIGRATE between real servers: Redoubt to Redis, Redoubt to Redoubt and
//! Redis to Redoubt move every type with its TTL; the same MIGRATE
//! commands get the same replies byte for byte from a Redoubt source as
//! from a Redis source (NOKEY, COPY, REPLACE, KEYS, AUTH/AUTH2, the
//! target's errors, IOERR on a closed port or a target that does not
//! answer in time); the move reaches replicas as a DEL; the cached
//! connection is counted in INFO and closed once idle.

use crate::harness::{dataset, info_field, start_replica, wait_for, Flavor, Raw, ServerHandle};
use std::time::Duration;

fn cmd(c: &mut Raw, args: &[&str]) -> String {
    c.cmd_str(args)
}

/// One key of each type (small and large encodings), some with a TTL.
fn fill(c: &mut Raw) -> Vec<String> {
    cmd(c, &["SET", "s", "hello"]);
    cmd(c, &["SET", "n", "12345"]);
    cmd(c, &["SET", "big", &"payload ".repeat(20_000)]);
    cmd(c, &["HSET", "h", "f1", "v1", "f2", "2"]);
    cmd(c, &["RPUSH", "l", "a", "1", "b"]);
    cmd(c, &["SADD", "si", "1", "2", "3"]);
    cmd(c, &["SADD", "ss", "x", "y"]);
    cmd(c, &["ZADD", "z", "1.5", "a", "-2", "b"]);
    for i in 0..300 {
        let (f, v) = (format!("f{i}"), format!("v{i}"));
        cmd(c, &["HSET", "hbig", &f, &v]);
        cmd(c, &["RPUSH", "lbig", &v]);
        cmd(c, &["ZADD", "zbig", &i.to_string(), &f]);
    }
    cmd(c, &["PEXPIREAT", "s", "4102444800000"]);
    cmd(c, &["PEXPIRE", "h", "100000"]);
    [
        "s", "n", "big", "h", "l", "si", "ss", "z", "hbig", "lbig", "zbig",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn moves_every_type(from: Flavor, to: Flavor) {
    let src = ServerHandle::start(from, &[]);
    let dst = ServerHandle::start(to, &[]);
    let mut s = src.raw();
    let keys = fill(&mut s);
    let before = dataset(&mut src.client());
    let port = dst.port.to_string();
    // One key at a time, then the rest in one KEYS form.
    for k in &keys[..4] {
        assert_eq!(
            cmd(&mut s, &["MIGRATE", "127.0.0.1", &port, k, "0", "5000"]),
            "+OK\r\n",
            "{k}"
        );
    }
    let mut args = vec!["MIGRATE", "127.0.0.1", &port, "", "0", "5000", "KEYS"];
    args.extend(keys[4..].iter().map(|k| k.as_str()));
    assert_eq!(cmd(&mut s, &args), "+OK\r\n");
    assert_eq!(cmd(&mut s, &["DBSIZE"]), ":0\r\n");
    let after = dataset(&mut dst.client());
    // MIGRATE sends the time left, so expiries move by the time taken:
    // keys with one are compared apart.
    let strip = |d: &std::collections::BTreeMap<(usize, String), String>| {
        let mut d = d.clone();
        d.remove(&(0, "h".to_string()));
        d.remove(&(0, "s".to_string()));
        d
    };
    let (after, before) = (strip(&after), strip(&before));
    let differ: Vec<&(usize, String)> = before
        .keys()
        .chain(after.keys())
        .filter(|k| before.get(*k) != after.get(*k))
        .collect();
    assert!(differ.is_empty(), "keys that differ: {differ:?}");
    let mut d = dst.raw();
    let int = |d: &mut Raw, args: &[&str]| -> i64 {
        cmd(d, args).trim_start_matches(':').trim().parse().unwrap()
    };
    let pttl = int(&mut d, &["PTTL", "h"]);
    assert!((90_000..=100_000).contains(&pttl), "{pttl}");
    let at = int(&mut d, &["PEXPIRETIME", "s"]);
    assert!((at - 4_102_444_800_000).abs() < 2000, "{at}");
    assert_eq!(cmd(&mut d, &["GET", "s"]), "$5\r\nhello\r\n");
    assert_eq!(cmd(&mut d, &["HGET", "h", "f2"]), "$1\r\n2\r\n");
}

#[test]
fn migrate_moves_every_type_from_redoubt_to_redis() {
    moves_every_type(Flavor::Redoubt, Flavor::Redis);
}

#[test]
fn migrate_moves_every_type_from_redoubt_to_redoubt() {
    moves_every_type(Flavor::Redoubt, Flavor::Redoubt);
}

#[test]
fn migrate_moves_every_type_from_redis_to_redoubt() {
    moves_every_type(Flavor::Redis, Flavor::Redoubt);
}

/// Runs the same MIGRATE scenario from a `from` source to a Redis target
/// of its own; returns every reply, in order.
fn scenario(from: Flavor) -> Vec<String> {
    let src = ServerHandle::start(from, &[]);
    let dst = ServerHandle::start(Flavor::Redis, &[]);
    let dead = crate::harness::free_port().to_string();
    let (mut s, mut d) = (src.raw(), dst.raw());
    let port = dst.port.to_string();
    let mut out = Vec::new();
    let mut run = |s: &mut Raw, args: &[&str]| out.push(cmd(s, args));
    fn m<'a>(rest: &[&'a str]) -> Vec<&'a str> {
        let mut a = vec!["MIGRATE", "127.0.0.1"];
        a.extend_from_slice(rest);
        a
    }
    cmd(&mut s, &["MSET", "a", "1", "b", "2", "c", "3", "d", "4"]);
    cmd(&mut s, &["RPUSH", "list", "x", "y"]);
    let p = port.as_str();
    run(&mut s, &m(&[p, "nokey", "0", "1000"]));
    run(&mut s, &m(&[p, "", "0", "1000", "KEYS", "n1", "n2"]));
    run(&mut s, &m(&[p, "a", "0", "1000"]));
    run(&mut s, &m(&[p, "list", "0", "1000", "COPY"]));
    // Busy on the target: the target's error, the key stays.
    run(&mut s, &m(&[p, "list", "0", "1000", "COPY"]));
    run(&mut s, &m(&[p, "list", "0", "1000", "COPY", "REPLACE"]));
    cmd(&mut d, &["SET", "c", "busy"]);
    run(
        &mut s,
        &m(&[p, "", "0", "1000", "KEYS", "b", "nokey", "c", "d"]),
    );
    run(&mut s, &["EXISTS", "b", "c", "d"]);
    // Another database, then one that does not exist.
    run(&mut s, &m(&[p, "c", "3", "1000", "REPLACE"]));
    cmd(&mut s, &["SET", "e", "5"]);
    run(&mut s, &m(&[p, "e", "99", "1000"]));
    run(&mut s, &["EXISTS", "e"]);
    // Authentication, right and wrong, AUTH and AUTH2.
    cmd(&mut d, &["CONFIG", "SET", "requirepass", "sesame"]);
    run(&mut s, &m(&[p, "e", "0", "1000", "AUTH", "sesame"]));
    cmd(&mut s, &["SET", "f", "6"]);
    run(&mut s, &m(&[p, "f", "0", "1000", "AUTH", "wrong"]));
    run(
        &mut s,
        &m(&[p, "f", "0", "1000", "AUTH2", "default", "sesame"]),
    );
    // Syntax and arguments.
    run(&mut s, &m(&[p, "x", "0", "1000", "AUTH2", "u"]));
    run(&mut s, &m(&[p, "x", "0", "1000", "KEYS", "x"]));
    run(&mut s, &m(&[p, "x", "zero", "1000"]));
    run(&mut s, &m(&[p, "x", "0", "soon"]));
    // Nobody listening.
    cmd(&mut s, &["SET", "g", "7"]);
    run(&mut s, &m(&[&dead, "g", "0", "300"]));
    // A target that does not answer in time.
    let mut sleeper = dst.raw();
    sleeper.send_cmd(&[b"AUTH", b"sesame"]);
    sleeper.send_cmd(&[b"DEBUG", b"SLEEP", b"1"]);
    std::thread::sleep(Duration::from_millis(100));
    run(&mut s, &m(&[p, "g", "0", "300", "AUTH", "sesame"]));
    run(&mut s, &["EXISTS", "g"]);
    out
}

#[test]
fn migrate_replies_match_redis_byte_for_byte() {
    let ours = scenario(Flavor::Redoubt);
    let theirs = scenario(Flavor::Redis);
    assert_eq!(ours, theirs);
    // The scenario reached the answers it is about.
    let all = theirs.join("");
    for want in [
        "NOKEY",
        "BUSYKEY",
        "WRONGPASS",
        "DB index is out of range",
        // A refused connection shows as a failed write, as in Redis.
        "IOERR error or timeout writing",
        "IOERR error or timeout reading",
    ] {
        assert!(all.contains(want), "{want} in {all}");
    }
}

/// The source's replicas see the move as a DEL, and nothing for a COPY;
/// a real Redis replica applies what a Redoubt master sends.
#[test]
fn migrate_reaches_replicas_as_del() {
    let master = ServerHandle::start(Flavor::Redoubt, &[]);
    let ours = start_replica(Flavor::Redoubt, &master, &[]);
    let redis = start_replica(Flavor::Redis, &master, &[]);
    let target = ServerHandle::start(Flavor::Redis, &[]);
    let port = target.port.to_string();
    let mut m = master.raw();
    cmd(&mut m, &["MSET", "moved", "1", "copied", "2"]);
    cmd(
        &mut m,
        &["MIGRATE", "127.0.0.1", &port, "copied", "0", "1000", "COPY"],
    );
    cmd(
        &mut m,
        &["MIGRATE", "127.0.0.1", &port, "moved", "0", "1000"],
    );
    cmd(&mut m, &["SET", "marker", "x"]);
    for r in [&ours, &redis] {
        let mut c = r.raw();
        wait_for("the marker on the replica", Duration::from_secs(10), || {
            cmd(&mut c, &["EXISTS", "marker"]) == ":1\r\n"
        });
        assert_eq!(cmd(&mut c, &["EXISTS", "moved"]), ":0\r\n");
        assert_eq!(cmd(&mut c, &["EXISTS", "copied"]), ":1\r\n");
    }
}

#[test]
fn migrate_connection_is_cached_then_closed_when_idle() {
    let src = ServerHandle::start(Flavor::Redoubt, &[]);
    let dst = ServerHandle::start(Flavor::Redis, &[]);
    let mut s = src.raw();
    let sockets = |s: &mut Raw| info_field(s, "stats", "migrate_cached_sockets");
    assert_eq!(sockets(&mut s), "0");
    cmd(&mut s, &["SET", "k", "v"]);
    let port = dst.port.to_string();
    let m = ["MIGRATE", "127.0.0.1", port.as_str(), "k", "0", "1000"];
    assert_eq!(cmd(&mut s, &m), "+OK\r\n");
    assert_eq!(sockets(&mut s), "1");
    // Reused: the target sees one connection from us.
    cmd(&mut s, &["SET", "k", "v"]);
    let mut replace = m.to_vec();
    replace.push("REPLACE");
    assert_eq!(cmd(&mut s, &replace), "+OK\r\n");
    let mut d = dst.raw();
    assert_eq!(info_field(&mut d, "clients", "connected_clients"), "2");
    wait_for("the idle link to close", Duration::from_secs(15), || {
        sockets(&mut s) == "0"
    });
}
