//! Tests of `server::lazyfree`: which deletions go to the lazy-free
//! thread, and INFO's `lazyfree_pending_objects` / `lazyfreed_objects`.

use crate::testkit::Kit;

/// A set of `n` members held in a hash table (effort `n`).
fn big_set(k: &mut Kit, key: &str, n: usize) {
    let members: Vec<String> = (0..n).map(|i| format!("m{i}")).collect();
    let mut args = vec!["SADD", key];
    args.extend(members.iter().map(String::as_str));
    k.run(&args);
}

fn freed_after_drain(k: &mut Kit) -> u64 {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while k.srv.lazyfree.pending() > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let info = k.run(&["INFO", "memory"]);
    assert!(info.contains("lazyfree_pending_objects:0\r\n"), "{info}");
    let line = info
        .split("\r\n")
        .find_map(|l| l.strip_prefix("lazyfreed_objects:"))
        .unwrap_or("");
    line.parse().unwrap_or(u64::MAX)
}

#[test]
fn unlink_frees_big_values_in_the_background_and_del_does_not() {
    let mut k = Kit::new();
    big_set(&mut k, "big", 100);
    big_set(&mut k, "small", 10);
    k.run(&["SET", "s", "v"]);
    assert_eq!(k.run(&["UNLINK", "small", "s"]), ":2\r\n");
    assert_eq!(freed_after_drain(&mut k), 0, "cheap values freed at once");
    assert_eq!(k.run(&["UNLINK", "big"]), ":1\r\n");
    assert_eq!(freed_after_drain(&mut k), 1);
    big_set(&mut k, "big", 100);
    assert_eq!(k.run(&["DEL", "big"]), ":1\r\n");
    assert_eq!(freed_after_drain(&mut k), 1);
    k.run(&["CONFIG", "SET", "lazyfree-lazy-user-del", "yes"]);
    big_set(&mut k, "big", 100);
    assert_eq!(k.run(&["DEL", "big"]), ":1\r\n");
    assert_eq!(freed_after_drain(&mut k), 2);
    assert_eq!(k.run(&["CONFIG", "RESETSTAT"]), "+OK\r\n");
    assert_eq!(freed_after_drain(&mut k), 0);
}

#[test]
fn flushes_follow_their_argument_then_lazyfree_lazy_user_flush() {
    let mut k = Kit::new();
    for i in 0..5 {
        k.run(&["SET", &format!("k{i}"), "v"]);
    }
    k.run(&["FLUSHALL", "ASYNC"]);
    assert_eq!(freed_after_drain(&mut k), 5, "every key counts");
    k.run(&["SET", "a", "1"]);
    k.run(&["FLUSHDB"]);
    assert_eq!(freed_after_drain(&mut k), 5, "sync by default");
    k.run(&["CONFIG", "SET", "lazyfree-lazy-user-flush", "yes"]);
    k.run(&["SET", "a", "1"]);
    k.run(&["FLUSHDB"]);
    assert_eq!(freed_after_drain(&mut k), 6);
    k.run(&["SET", "a", "1"]);
    k.run(&["FLUSHALL", "SYNC"]);
    assert_eq!(freed_after_drain(&mut k), 6);
    assert_eq!(k.run(&["DBSIZE"]), ":0\r\n");
}

#[test]
fn overwrites_and_server_deletions_follow_lazyfree_lazy_server_del() {
    let mut k = Kit::new();
    big_set(&mut k, "big", 100);
    k.run(&["SET", "big", "x"]);
    assert_eq!(freed_after_drain(&mut k), 0);
    k.run(&["CONFIG", "SET", "lazyfree-lazy-server-del", "yes"]);
    k.run(&["DEL", "big"]);
    big_set(&mut k, "big", 100);
    k.run(&["SET", "big", "x"]);
    assert_eq!(freed_after_drain(&mut k), 1, "SET over a big set");
    k.run(&["DEL", "big"]);
    big_set(&mut k, "big", 100);
    k.run(&["SET", "src", "v"]);
    k.run(&["RENAME", "src", "big"]);
    assert_eq!(freed_after_drain(&mut k), 2, "RENAME onto a big set");
    k.run(&["DEL", "big"]);
    big_set(&mut k, "big", 100);
    big_set(&mut k, "other", 3);
    k.run(&["SUNIONSTORE", "big", "other"]);
    assert_eq!(freed_after_drain(&mut k), 3, "SUNIONSTORE over a big set");
    assert_eq!(k.run(&["SCARD", "big"]), ":3\r\n");
}

#[test]
fn a_big_stream_with_groups_is_freed_lazily_and_a_small_one_is_not() {
    let mut k = Kit::new();
    k.run(&["CONFIG", "SET", "stream-node-max-entries", "5"]);
    for i in 0..1000 {
        k.run(&["XADD", "stream", "*", "foo", &i.to_string()]);
    }
    k.run(&["XGROUP", "CREATE", "stream", "g", "0"]);
    k.run(&[
        "XREADGROUP",
        "GROUP",
        "g",
        "Alice",
        "COUNT",
        "2",
        "STREAMS",
        "stream",
        ">",
    ]);
    k.run(&["UNLINK", "stream"]);
    assert_eq!(freed_after_drain(&mut k), 1);
    k.run(&["XADD", "s", "*", "a", "b"]);
    k.run(&["XGROUP", "CREATE", "s", "bla", "$"]);
    k.run(&["XGROUP", "DESTROY", "s", "bla"]);
    k.run(&["UNLINK", "s"]);
    assert_eq!(freed_after_drain(&mut k), 1);
}

#[test]
fn expired_keys_follow_lazyfree_lazy_expire() {
    let mut k = Kit::new();
    k.run(&["CONFIG", "SET", "lazyfree-lazy-expire", "yes"]);
    big_set(&mut k, "big", 100);
    k.run(&["PEXPIRE", "big", "1"]);
    std::thread::sleep(std::time::Duration::from_millis(5));
    assert_eq!(k.run(&["EXISTS", "big"]), ":0\r\n");
    assert_eq!(freed_after_drain(&mut k), 1);
    big_set(&mut k, "big", 100);
    k.run(&["EXPIRE", "big", "-1"]);
    assert_eq!(freed_after_drain(&mut k), 2, "an expiry in the past");
}
