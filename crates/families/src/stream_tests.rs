//! What the stream commands propagate, and that replaying it rebuilds the
//! same stream (the form Redis 7.0 sends its replicas and AOF). Replies
//! themselves are compared with real Redis by the differential corpus.

use crate::testkit::Kit;
use server::client::Kind;

/// Replays `effects` (as `Kit::propagated` renders them) into a fresh
/// server as its master link would, and returns it.
fn replay(effects: &[String]) -> Kit {
    let mut r = Kit::new();
    r.client.kind = Kind::Master;
    for e in effects {
        let args: Vec<&str> = e.split(' ').collect();
        if args[0] == "MULTI" || args[0] == "EXEC" {
            continue;
        }
        r.run(&args);
    }
    r.client.kind = Kind::Normal;
    r
}

#[test]
fn xadd_propagates_the_id_it_used_and_exact_trims() {
    let mut k = Kit::new();
    let id = k.run(&["XADD", "s", "*", "f", "v"]);
    let id = id.split("\r\n").nth(1).unwrap_or("").to_string();
    k.run(&["XADD", "s", "5-*", "f", "v"]);
    k.run(&["XADD", "s", "9-1", "f", "v"]);
    let got = k.propagated();
    assert_eq!(got[0], format!("XADD s {id} f v"));
    // `5-*` is below the clock-made ID: refused, nothing propagated.
    assert_eq!(got.len(), 1);
    let mut k = Kit::new();
    k.run(&["CONFIG", "SET", "stream-node-max-entries", "10"]);
    for i in 1..=100 {
        k.run(&["XADD", "s", &format!("{i}-1"), "f", "v"]);
    }
    k.propagated();
    k.run(&[
        "XADD", "s", "MAXLEN", "~", "55", "LIMIT", "30", "101-*", "f", "v",
    ]);
    k.run(&["XADD", "s", "MINID", "~", "60", "102-1", "f", "v"]);
    k.run(&["XADD", "s", "MAXLEN", "=", "50", "103-1", "f", "v"]);
    assert_eq!(
        k.propagated(),
        vec![
            "XADD s MAXLEN = 71 LIMIT 30 101-0 f v",
            "XADD s MINID = 51-1 102-1 f v",
            "XADD s MAXLEN = 50 103-1 f v",
        ]
    );
    assert_eq!(k.run(&["XTRIM", "s", "MAXLEN", "~", "45"]), ":0\r\n");
    // (Counts as real Redis gives them for this history.)
    assert_eq!(k.run(&["XTRIM", "s", "MAXLEN", "~", "30"]), ":17\r\n");
    assert_eq!(k.run(&["XTRIM", "s", "MINID", "80"]), ":9\r\n");
    assert_eq!(
        k.propagated(),
        vec!["XTRIM s MAXLEN = 33", "XTRIM s MINID 80"]
    );
    // The replica, trimming exactly, ends with the same entries.
    let all = k.run(&["XRANGE", "s", "-", "+"]);
    let mut r = Kit::new();
    r.client.kind = Kind::Master;
    r.run(&["CONFIG", "SET", "stream-node-max-entries", "1"]);
    for i in 1..=100 {
        r.run(&["XADD", "s", &format!("{i}-1"), "f", "v"]);
    }
    for e in [
        "XADD s MAXLEN = 71 LIMIT 30 101-0 f v",
        "XADD s MINID = 51-1 102-1 f v",
        "XADD s MAXLEN = 50 103-1 f v",
        "XTRIM s MAXLEN = 33",
        "XTRIM s MINID 80",
    ] {
        let args: Vec<&str> = e.split(' ').collect();
        r.run(&args);
    }
    assert_eq!(r.run(&["XRANGE", "s", "-", "+"]), all);
}

#[test]
fn group_reads_propagate_as_xclaim_and_setid() {
    let mut k = Kit::new();
    k.run(&["XADD", "s", "1-1", "a", "1"]);
    k.run(&["XADD", "s", "2-1", "a", "2"]);
    k.run(&["XGROUP", "CREATE", "s", "g", "0"]);
    k.propagated();
    k.run(&["XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", ">"]);
    let now = k.srv.now_ms;
    assert_eq!(
        k.propagated(),
        vec![
            "MULTI".to_string(),
            format!("XCLAIM s g alice 0 1-1 TIME {now} RETRYCOUNT 1 FORCE JUSTID LASTID 1-1"),
            format!("XCLAIM s g alice 0 2-1 TIME {now} RETRYCOUNT 1 FORCE JUSTID LASTID 2-1"),
            "EXEC".to_string(),
        ]
    );
    // Nothing new: nothing propagated (the consumer exists already).
    k.run(&["XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", ">"]);
    assert!(k.propagated().is_empty());
    k.run(&["XADD", "s", "3-1", "a", "3"]);
    k.propagated();
    k.run(&[
        "XREADGROUP",
        "GROUP",
        "g",
        "bob",
        "NOACK",
        "STREAMS",
        "s",
        ">",
    ]);
    assert_eq!(
        k.propagated(),
        vec![
            "MULTI",
            "XGROUP CREATECONSUMER s g bob",
            "XGROUP SETID s g 3-1 ENTRIESREAD 3",
            "EXEC"
        ]
    );
}

#[test]
fn claims_propagate_per_entry_and_drop_deleted_ones() {
    let mut k = Kit::new();
    for i in 1..=4 {
        k.run(&["XADD", "s", &format!("{i}-0"), "f", "v"]);
    }
    k.run(&["XGROUP", "CREATE", "s", "g", "0"]);
    k.run(&["XREADGROUP", "GROUP", "g", "alice", "STREAMS", "s", ">"]);
    k.run(&["XDEL", "s", "2-0"]);
    k.propagated();
    let reply = k.run(&["XCLAIM", "s", "g", "bob", "0", "1", "2-0", "JUSTID"]);
    assert_eq!(reply, "*1\r\n$3\r\n1-0\r\n");
    let p = k.propagated();
    // The ID as the client wrote it; the deleted entry goes out under its
    // old owner, so the replica drops it too.
    assert!(p[1].starts_with("XCLAIM s g bob 0 1 TIME "), "{p:?}");
    assert!(
        p[1].ends_with(" RETRYCOUNT 1 FORCE JUSTID LASTID 4-0"),
        "{p:?}"
    );
    assert!(p[2].starts_with("XCLAIM s g alice 0 2-0 TIME "), "{p:?}");
    assert_eq!(k.run(&["XPENDING", "s", "g"]).lines().nth(1), Some(":3"));
    // LASTID alone moves the group: XGROUP SETID.
    k.run(&["XCLAIM", "s", "g", "bob", "0", "9-9", "LASTID", "10-0"]);
    assert_eq!(k.propagated(), vec!["XGROUP SETID s g 10-0 ENTRIESREAD 4"]);
    k.run(&["XDEL", "s", "3-0"]);
    k.propagated();
    let reply = k.run(&["XAUTOCLAIM", "s", "g", "carol", "0", "2", "COUNT", "1"]);
    assert_eq!(reply, "*3\r\n$3\r\n4-0\r\n*0\r\n*1\r\n$3\r\n3-0\r\n");
    let p = k.propagated();
    assert_eq!(p.len(), 1);
    assert!(p[0].starts_with("XCLAIM s g alice 0 3-0 TIME "), "{p:?}");
}

#[test]
fn replaying_the_effects_rebuilds_the_groups() {
    let mut k = Kit::new();
    k.run(&["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);
    for i in 1..=6 {
        k.run(&["XADD", "s", &format!("{i}-0"), "f", &i.to_string()]);
    }
    k.run(&[
        "XREADGROUP",
        "GROUP",
        "g",
        "alice",
        "COUNT",
        "3",
        "STREAMS",
        "s",
        ">",
    ]);
    k.run(&[
        "XREADGROUP",
        "GROUP",
        "g",
        "bob",
        "NOACK",
        "COUNT",
        "1",
        "STREAMS",
        "s",
        ">",
    ]);
    k.run(&["XREADGROUP", "GROUP", "g", "carol", "STREAMS", "s", ">"]);
    k.run(&["XACK", "s", "g", "2-0", "6-0"]);
    k.run(&["XCLAIM", "s", "g", "bob", "0", "1-0", "RETRYCOUNT", "5"]);
    k.run(&["XDEL", "s", "5-0"]);
    k.run(&["XAUTOCLAIM", "s", "g", "dave", "0", "0"]);
    k.run(&["XGROUP", "CREATECONSUMER", "s", "g", "erin"]);
    k.run(&["XGROUP", "DELCONSUMER", "s", "g", "carol"]);
    k.run(&[
        "XSETID",
        "s",
        "10-0",
        "ENTRIESADDED",
        "20",
        "MAXDELETEDID",
        "7-0",
    ]);
    let effects = k.propagated();
    let mut r = replay(&effects);
    for cmd in [
        &["XRANGE", "s", "-", "+"][..],
        &["XINFO", "STREAM", "s"],
        &["XPENDING", "s", "g", "-", "+", "100"],
        &["XPENDING", "s", "g"],
    ] {
        assert_eq!(r.run(cmd), k.run(cmd), "{cmd:?} after {effects:?}");
    }
    let names = |k: &mut Kit| -> Vec<String> {
        k.run(&["XINFO", "CONSUMERS", "s", "g"])
            .split("\r\n")
            .collect::<Vec<_>>()
            .windows(3)
            .filter(|w| w[1] == "name")
            .map(|w| w[2].to_string())
            .collect()
    };
    assert_eq!(names(&mut r), names(&mut k));
    // The group's position too, but not its read counter: XCLAIM's
    // LASTID moves the last ID alone, so a Redis 7.0 replica also ends
    // with the counter of the last NOACK read (4), not the master's (6).
    let groups = r.run(&["XINFO", "GROUPS", "s"]);
    assert!(
        groups.contains("last-delivered-id\r\n$3\r\n6-0\r\n$12\r\nentries-read\r\n:4\r\n"),
        "{groups}"
    );
    assert!(k
        .run(&["XINFO", "GROUPS", "s"])
        .contains("entries-read\r\n:6\r\n"));
}

#[test]
fn blocked_group_readers_are_served_in_order_and_propagate() {
    use server::client::Client;
    use std::cell::RefCell;
    use std::rc::Rc;
    let mut k = Kit::new();
    k.run(&["XGROUP", "CREATE", "s", "g", "$", "MKSTREAM"]);
    let mut clients = Vec::new();
    for id in [10u64, 11] {
        let mut c = Client::new(id, k.srv.now_ms);
        c.authenticated = true;
        let rc = Rc::new(RefCell::new(c));
        k.srv.clients.insert(id, rc.clone());
        clients.push(rc);
    }
    for (i, c) in clients.iter().enumerate() {
        let name = format!("c{i}");
        let args = [
            "XREADGROUP",
            "GROUP",
            "g",
            &name,
            "BLOCK",
            "0",
            "STREAMS",
            "s",
            ">",
        ];
        let mut cb = c.borrow_mut();
        k.run_on(&mut cb, &args);
    }
    assert_eq!(k.srv.blocking.blocked_clients, 2);
    k.propagated();
    k.run(&["XADD", "s", "1-0", "f", "v"]);
    // The first reader gets the entry; the second keeps waiting.
    assert_eq!(
        clients[0].borrow().out.buf,
        b"*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$1\r\nf\r\n$1\r\nv\r\n"
    );
    assert!(clients[1].borrow().out.buf.is_empty());
    assert_eq!(k.srv.blocking.blocked_clients, 1);
    let p = k.propagated();
    assert_eq!(p[0], "XADD s 1-0 f v");
    assert!(p[1].starts_with("XCLAIM s g c0 0 1-0 TIME "), "{p:?}");
    // Destroying the group ends the other wait with NOGROUP.
    k.run(&["XGROUP", "DESTROY", "s", "g"]);
    assert_eq!(
        clients[1].borrow().out.buf,
        b"-NOGROUP the consumer group this client was blocked on no longer exists\r\n"
    );
    assert_eq!(k.srv.blocking.blocked_clients, 0);
}
