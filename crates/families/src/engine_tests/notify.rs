//! Tests of `server::notify` that run real commands (they need the families).

use crate::testkit::Kit;
use server::notify::*;

#[test]
fn config_keeps_new_key_events_that_its_rendering_hides() {
    let mut k = Kit::new();
    assert_eq!(
        k.run(&["CONFIG", "SET", "notify-keyspace-events", "KEAn"]),
        "+OK\r\n"
    );
    assert_eq!(
        k.run(&["CONFIG", "GET", "notify-keyspace-events"]),
        "*2\r\n$22\r\nnotify-keyspace-events\r\n$3\r\nAKE\r\n"
    );
    let bits = k.srv.notify_keyspace_events;
    assert_eq!(bits & class::NEW, class::NEW);
    assert_eq!(bits & ALL, ALL);
}

#[test]
fn events_reach_keyspace_and_keyevent_subscribers() {
    let mut k = Kit::new();
    k.srv.notify_keyspace_events = parse_flags(b"KEA").unwrap_or(0);
    k.run(&["HELLO", "3"]);
    k.run(&["PSUBSCRIBE", "__key*__:*"]);
    let t = k.run(&["SET", "foo", "bar"]);
    assert_eq!(
        t,
        ">4\r\n$8\r\npmessage\r\n$10\r\n__key*__:*\r\n$18\r\n__keyspace@0__:foo\r\n$3\r\nset\r\n\
         >4\r\n$8\r\npmessage\r\n$10\r\n__key*__:*\r\n$18\r\n__keyevent@0__:set\r\n$3\r\nfoo\r\n\
         +OK\r\n"
    );
}
