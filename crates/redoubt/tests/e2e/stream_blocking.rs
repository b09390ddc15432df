//! Blocked stream readers over real connections: XREAD and XREADGROUP
//! BLOCK woken by XADD in arrival order, ended by a destroyed group, a
//! deleted or retyped key, CLIENT UNBLOCK, a timeout, and served on a
//! replica by its master's writes. Every scenario runs against real Redis
//! 7.0 too, which proves the expectations are Redis's.

use crate::harness::{on_both, start_replica, wait_blocked, Flavor, ServerHandle};
use std::time::{Duration, Instant};

fn readers_are_served_in_arrival_order(flavor: Flavor) {
    let s = ServerHandle::start(flavor, &[]);
    let mut admin = s.raw();
    admin.cmd_str(&["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);
    // Two plain readers (one naming the key twice: its first ID counts),
    // then two readers of one group.
    let mut a = s.raw();
    a.send_cmd(&[b"XREAD", b"BLOCK", b"0", b"STREAMS", b"s", b"s", b"$", b"0"]);
    let mut b = s.raw();
    b.send_cmd(&[
        b"XREAD", b"COUNT", b"1", b"BLOCK", b"0", b"STREAMS", b"nokey", b"s", b"$", b"$",
    ]);
    let mut c = s.raw();
    c.send_cmd(&[
        b"XREADGROUP",
        b"GROUP",
        b"g",
        b"c1",
        b"BLOCK",
        b"0",
        b"STREAMS",
        b"s",
        b">",
    ]);
    let mut d = s.raw();
    d.send_cmd(&[
        b"XREADGROUP",
        b"GROUP",
        b"g",
        b"c2",
        b"BLOCK",
        b"0",
        b"STREAMS",
        b"s",
        b">",
    ]);
    wait_blocked(&mut admin, 4);
    // Two entries in one transaction: served after EXEC, together.
    admin.cmd_str(&["MULTI"]);
    admin.cmd_str(&["XADD", "s", "1-0", "f", "one"]);
    admin.cmd_str(&["XADD", "s", "2-0", "f", "two"]);
    admin.cmd_str(&["EXEC"]);
    let both = "*1\r\n*2\r\n$1\r\ns\r\n*2\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$1\r\nf\r\n$3\r\none\r\n*2\r\n$3\r\n2-0\r\n*2\r\n$1\r\nf\r\n$3\r\ntwo\r\n";
    let first = "*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$1\r\nf\r\n$3\r\none\r\n";
    assert_eq!(String::from_utf8(a.read_reply().unwrap()).unwrap(), both);
    assert_eq!(String::from_utf8(b.read_reply().unwrap()).unwrap(), first);
    assert_eq!(String::from_utf8(c.read_reply().unwrap()).unwrap(), both);
    // The group's second reader had nothing left: it keeps waiting.
    wait_blocked(&mut admin, 1);
    admin.cmd_str(&["XADD", "s", "3-0", "f", "three"]);
    let third = "*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n3-0\r\n*2\r\n$1\r\nf\r\n$5\r\nthree\r\n";
    assert_eq!(String::from_utf8(d.read_reply().unwrap()).unwrap(), third);
    assert_eq!(
        admin.cmd_str(&["XPENDING", "s", "g"]),
        "*4\r\n:3\r\n$3\r\n1-0\r\n$3\r\n3-0\r\n*2\r\n*2\r\n$2\r\nc1\r\n$1\r\n2\r\n*2\r\n$2\r\nc2\r\n$1\r\n1\r\n"
    );
}

fn group_readers_learn_their_group_or_key_went(flavor: Flavor) {
    let s = ServerHandle::start(flavor, &[]);
    let mut admin = s.raw();
    admin.cmd_str(&["CONFIG", "RESETSTAT"]);
    let block = [
        &b"XREADGROUP"[..],
        b"GROUP",
        b"g",
        b"c",
        b"BLOCK",
        b"0",
        b"STREAMS",
        b"s",
        b">",
    ];
    let mut plain = s.raw();
    let plain_id = plain.client_id().to_string();
    for (end, want) in [
        (
            &["XGROUP", "DESTROY", "s", "g"][..],
            "-NOGROUP the consumer group this client was blocked on no longer exists\r\n",
        ),
        (
            &["DEL", "s"],
            "-UNBLOCKED the stream key no longer exists\r\n",
        ),
        (
            &["SET", "s", "x"],
            "-UNBLOCKED the stream key no longer exists\r\n",
        ),
        (
            &["FLUSHALL"],
            "-UNBLOCKED the stream key no longer exists\r\n",
        ),
    ] {
        admin.cmd_str(&["DEL", "s"]);
        admin.cmd_str(&["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);
        let mut c = s.raw();
        c.send_cmd(&block);
        // A plain reader of the same key keeps waiting through all this.
        plain.send_cmd(&[b"XREAD", b"BLOCK", b"0", b"STREAMS", b"s", b"99999999999"]);
        wait_blocked(&mut admin, 2);
        admin.cmd_str(end);
        assert_eq!(
            String::from_utf8(c.read_reply().unwrap()).unwrap(),
            want,
            "{end:?}"
        );
        wait_blocked(&mut admin, 1);
        assert_eq!(admin.cmd_str(&["CLIENT", "UNBLOCK", &plain_id]), ":1\r\n");
        assert_eq!(plain.read_reply().unwrap(), b"*-1\r\n");
    }
    let stats = admin.cmd_str(&["INFO", "commandstats"]);
    assert!(stats.contains("cmdstat_xreadgroup:calls=4,"), "{stats}");
    assert!(
        stats.contains(",rejected_calls=0,failed_calls=4"),
        "{stats}"
    );
    let errs = admin.cmd_str(&["INFO", "errorstats"]);
    assert!(errs.contains("errorstat_NOGROUP:count=1"), "{errs}");
    assert!(errs.contains("errorstat_UNBLOCKED:count=3"), "{errs}");
}

fn a_timeout_or_client_unblock_ends_the_wait(flavor: Flavor) {
    let s = ServerHandle::start(flavor, &[]);
    let mut admin = s.raw();
    let mut c = s.raw();
    let t = Instant::now();
    assert_eq!(
        c.cmd(&[b"XREAD", b"BLOCK", b"300", b"STREAMS", b"s", b"$"]),
        b"*-1\r\n"
    );
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(290) && took < Duration::from_secs(2),
        "{took:?}"
    );
    assert_eq!(c.cmd(&[b"HELLO", b"3"]).first(), Some(&b'%'));
    assert_eq!(
        c.cmd(&[b"XREAD", b"BLOCK", b"50", b"STREAMS", b"s", b"$"]),
        b"_\r\n"
    );
    let id = c.client_id().to_string();
    c.send_cmd(&[b"XREAD", b"BLOCK", b"0", b"STREAMS", b"s", b"$"]);
    wait_blocked(&mut admin, 1);
    assert_eq!(
        admin.cmd_str(&["CLIENT", "UNBLOCK", &id, "ERROR"]),
        ":1\r\n"
    );
    assert_eq!(
        c.read_reply().unwrap(),
        b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n"
    );
}

fn a_reader_on_a_replica_is_served_by_its_masters_writes(flavor: Flavor) {
    let master = ServerHandle::start(flavor, &[]);
    let replica = start_replica(flavor, &master, &[]);
    let mut m = master.raw();
    let mut admin = replica.raw();
    let mut c = replica.raw();
    c.send_cmd(&[b"XREAD", b"BLOCK", b"0", b"STREAMS", b"s", b"$"]);
    wait_blocked(&mut admin, 1);
    assert_eq!(m.cmd_str(&["XADD", "s", "7-0", "f", "v"]), "$3\r\n7-0\r\n");
    assert_eq!(
        String::from_utf8(c.read_reply().unwrap()).unwrap(),
        "*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n7-0\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n"
    );
    // A group read is a write: refused on a read-only replica.
    let r = c.cmd_str(&[
        "XREADGROUP",
        "GROUP",
        "g",
        "c",
        "BLOCK",
        "0",
        "STREAMS",
        "s",
        ">",
    ]);
    assert!(r.starts_with("-READONLY"), "{r}");
}

on_both!(
    readers_are_served_in_arrival_order,
    group_readers_learn_their_group_or_key_went,
    a_timeout_or_client_unblock_ends_the_wait,
    a_reader_on_a_replica_is_served_by_its_masters_writes,
);
