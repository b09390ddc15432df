//! Pub/Sub, keyspace notifications and client-side caching over several
//! real connections. Each scenario runs against a real Redis 7.0 and
//! against Redoubt, and the bytes every connection received are compared.
//! Messages are read in the order one connection receives them, so the
//! transcripts are deterministic; a PING after the last expected message
//! proves nothing else was queued before it.

use crate::harness::{Flavor, Raw, ServerHandle};

/// What each connection received, in order, as (label, raw reply).
type Transcript = Vec<(&'static str, Vec<u8>)>;

fn show(t: &Transcript) -> String {
    t.iter()
        .map(|(who, r)| format!("{who}: {}\n", String::from_utf8_lossy(r).escape_debug()))
        .collect()
}

/// Runs `scenario` on a real Redis and on Redoubt (same directives) and
/// asserts both transcripts are identical.
fn same_as_redis(directives: &[(&str, &str)], scenario: fn(&ServerHandle, &mut Transcript)) {
    let mut got = Vec::new();
    for flavor in [Flavor::Redis, Flavor::Redoubt] {
        eprintln!("running on {flavor:?}");
        let s = ServerHandle::start(flavor, directives);
        let mut t = Vec::new();
        scenario(&s, &mut t);
        got.push(t);
    }
    assert!(
        got[0] == got[1],
        "transcripts differ\n--- redis\n{}--- redoubt\n{}",
        show(&got[0]),
        show(&got[1])
    );
}

/// Sends a command and records its reply.
fn run(t: &mut Transcript, who: &'static str, c: &mut Raw, args: &[&[u8]]) {
    let r = c.cmd(args);
    t.push((who, r));
}

/// Records the next `n` replies or pushes received by `c`.
fn recv(t: &mut Transcript, who: &'static str, c: &mut Raw, n: usize) {
    for _ in 0..n {
        let r = c
            .read_reply()
            .unwrap_or_else(|| panic!("{who}: no message after\n{}", show(t)));
        t.push((who, r));
    }
}

#[test]
fn publish_reaches_channel_and_pattern_subscribers_with_counts() {
    same_as_redis(&[], |s, t| {
        let (mut sub, mut pubr) = (s.raw(), s.raw());
        sub.send_cmd(&[b"SUBSCRIBE", b"news", b"chat", b"news"]);
        recv(t, "sub", &mut sub, 3);
        run(t, "sub", &mut sub, &[b"PSUBSCRIBE", b"n*"]);
        run(t, "pub", &mut pubr, &[b"PUBLISH", b"news", b"hello"]);
        // Channel subscribers first, then the pattern.
        recv(t, "sub", &mut sub, 2);
        run(t, "pub", &mut pubr, &[b"PUBLISH", b"other", b"x"]);
        run(
            t,
            "pub",
            &mut pubr,
            &[b"PUBSUB", b"NUMSUB", b"news", b"chat", b"x"],
        );
        run(t, "pub", &mut pubr, &[b"PUBSUB", b"NUMPAT"]);
        run(t, "pub", &mut pubr, &[b"PUBSUB", b"CHANNELS", b"n*"]);
        // Binary-safe channel names and payloads.
        run(t, "sub", &mut sub, &[b"SUBSCRIBE", b"a\x00b\r\n"]);
        run(
            t,
            "pub",
            &mut pubr,
            &[b"PUBLISH", b"a\x00b\r\n", b"\x00\xff"],
        );
        recv(t, "sub", &mut sub, 1);
        // RESP2 subscriber mode: only the subscription commands, PING,
        // QUIT and RESET.
        run(t, "sub", &mut sub, &[b"GET", b"k"]);
        run(t, "sub", &mut sub, &[b"CLIENT", b"ID"]);
        run(t, "sub", &mut sub, &[b"PING"]);
        run(t, "sub", &mut sub, &[b"PING", b"hi"]);
        sub.send_cmd(&[b"UNSUBSCRIBE", b"news", b"nope"]);
        recv(t, "sub", &mut sub, 2);
        sub.send_cmd(&[b"PUNSUBSCRIBE"]);
        recv(t, "sub", &mut sub, 1);
        sub.send_cmd(&[b"UNSUBSCRIBE", b"chat", b"a\x00b\r\n"]);
        recv(t, "sub", &mut sub, 2);
        run(t, "sub", &mut sub, &[b"UNSUBSCRIBE"]);
        run(t, "sub", &mut sub, &[b"GET", b"k"]);
        run(t, "pub", &mut pubr, &[b"PUBLISH", b"news", b"hello"]);
        // Shard channels count apart.
        run(t, "sub", &mut sub, &[b"SSUBSCRIBE", b"s1"]);
        run(t, "pub", &mut pubr, &[b"SPUBLISH", b"s1", b"m"]);
        recv(t, "sub", &mut sub, 1);
        run(t, "pub", &mut pubr, &[b"PUBSUB", b"SHARDNUMSUB", b"s1"]);
        run(t, "pub", &mut pubr, &[b"PUBSUB", b"SHARDCHANNELS"]);
        run(t, "sub", &mut sub, &[b"SUNSUBSCRIBE"]);
        run(t, "sub", &mut sub, &[b"RESET"]);
    });
}

#[test]
fn resp3_subscribers_get_push_frames_and_keep_running_commands() {
    same_as_redis(&[], |s, t| {
        let (mut sub, mut pubr) = (s.raw(), s.raw());
        sub.cmd(&[b"HELLO", b"3"]);
        run(t, "sub", &mut sub, &[b"SUBSCRIBE", b"c"]);
        run(t, "sub", &mut sub, &[b"SET", b"k", b"v"]);
        run(t, "pub", &mut pubr, &[b"PUBLISH", b"c", b"m"]);
        recv(t, "sub", &mut sub, 1);
        run(t, "sub", &mut sub, &[b"GET", b"k"]);
        run(t, "sub", &mut sub, &[b"PING"]);
        // Its own PUBLISH: the message, then the reply.
        sub.send_cmd(&[b"PUBLISH", b"c", b"self"]);
        recv(t, "sub", &mut sub, 2);
        run(t, "sub", &mut sub, &[b"UNSUBSCRIBE"]);
        run(t, "sub", &mut sub, &[b"UNSUBSCRIBE"]);
    });
}

#[test]
fn keyspace_notifications_for_writes_and_expiry() {
    same_as_redis(&[("notify-keyspace-events", "KEA")], |s, t| {
        let (mut sub, mut w) = (s.raw(), s.raw());
        run(t, "sub", &mut sub, &[b"PSUBSCRIBE", b"__key*@0__:*"]);
        // A write, then its `events` keyspace + keyevent message pairs.
        fn write(t: &mut Transcript, w: &mut Raw, sub: &mut Raw, args: &[&[u8]], events: usize) {
            run(t, "w", w, args);
            recv(t, "sub", sub, events * 2);
        }
        write(t, &mut w, &mut sub, &[b"SET", b"k", b"v"], 1);
        write(t, &mut w, &mut sub, &[b"SET", b"k", b"v", b"EX", b"100"], 2);
        write(t, &mut w, &mut sub, &[b"PERSIST", b"k"], 1);
        write(t, &mut w, &mut sub, &[b"APPEND", b"k", b"x"], 1);
        write(t, &mut w, &mut sub, &[b"INCR", b"n"], 1);
        write(t, &mut w, &mut sub, &[b"INCRBYFLOAT", b"n", b"1.5"], 1);
        write(t, &mut w, &mut sub, &[b"MSET", b"a", b"1", b"b", b"2"], 2);
        write(t, &mut w, &mut sub, &[b"DEL", b"a", b"b", b"zz"], 2);
        write(t, &mut w, &mut sub, &[b"RENAME", b"k", b"k2"], 2);
        // Setting a bit that is already set changes nothing: no event.
        write(t, &mut w, &mut sub, &[b"SETBIT", b"k2", b"1", b"1"], 0);
        write(t, &mut w, &mut sub, &[b"SETBIT", b"k2", b"0", b"1"], 1);
        write(t, &mut w, &mut sub, &[b"SETRANGE", b"k2", b"0", b"abc"], 1);
        write(t, &mut w, &mut sub, &[b"GETDEL", b"k2"], 1);
        write(t, &mut w, &mut sub, &[b"SET", b"e", b"v"], 1);
        write(t, &mut w, &mut sub, &[b"PEXPIRE", b"e", b"30"], 1);
        // Expired by the active cycle or on access: either way `expired`.
        recv(t, "sub", &mut sub, 2);
        write(t, &mut w, &mut sub, &[b"EXPIRE", b"n", b"-1"], 1);
        // Nothing else was queued.
        run(t, "sub", &mut sub, &[b"PING"]);
    });
}

#[test]
fn tracking_invalidates_resp3_readers_and_stops_after_one_message() {
    same_as_redis(&[], |s, t| {
        let (mut c, mut w) = (s.raw(), s.raw());
        c.cmd(&[b"HELLO", b"3"]);
        run(t, "c", &mut c, &[b"CLIENT", b"TRACKING", b"on"]);
        run(t, "c", &mut c, &[b"GET", b"k"]);
        run(t, "c", &mut c, &[b"MGET", b"a", b"b"]);
        run(t, "w", &mut w, &[b"SET", b"k", b"1"]);
        recv(t, "c", &mut c, 1);
        run(t, "w", &mut w, &[b"SET", b"k", b"2"]);
        run(t, "w", &mut w, &[b"DEL", b"b"]);
        run(t, "w", &mut w, &[b"MSET", b"a", b"1", b"b", b"1"]);
        recv(t, "c", &mut c, 1);
        // Its own write: reply, then the invalidation.
        run(t, "c", &mut c, &[b"GET", b"k"]);
        c.send_cmd(&[b"SET", b"k", b"3"]);
        recv(t, "c", &mut c, 2);
        run(t, "c", &mut c, &[b"GET", b"k"]);
        run(t, "w", &mut w, &[b"FLUSHALL"]);
        recv(t, "c", &mut c, 1);
        run(t, "c", &mut c, &[b"CLIENT", b"TRACKINGINFO"]);
        run(t, "c", &mut c, &[b"CLIENT", b"GETREDIR"]);
        // NOLOOP: its own writes are not reported back.
        run(t, "c", &mut c, &[b"CLIENT", b"TRACKING", b"on", b"NOLOOP"]);
        run(t, "c", &mut c, &[b"GET", b"k"]);
        run(t, "c", &mut c, &[b"SET", b"k", b"4"]);
        run(t, "c", &mut c, &[b"PING"]);
        run(t, "c", &mut c, &[b"CLIENT", b"TRACKING", b"off"]);
        run(t, "c", &mut c, &[b"CLIENT", b"TRACKINGINFO"]);
    });
}

#[test]
fn tracking_redirects_to_a_resp2_subscriber_of_redis_invalidate() {
    same_as_redis(&[], |s, t| {
        let (mut r, mut c, mut w) = (s.raw(), s.raw(), s.raw());
        let rid = r.client_id().to_string();
        run(t, "r", &mut r, &[b"SUBSCRIBE", b"__redis__:invalidate"]);
        run(
            t,
            "c",
            &mut c,
            &[b"CLIENT", b"TRACKING", b"on", b"REDIRECT", rid.as_bytes()],
        );
        run(t, "c", &mut c, &[b"GET", b"k"]);
        run(t, "w", &mut w, &[b"SET", b"k", b"v"]);
        recv(t, "r", &mut r, 1);
        run(t, "c", &mut c, &[b"GET", b"k"]);
        run(t, "w", &mut w, &[b"FLUSHDB"]);
        recv(t, "r", &mut r, 1);
        run(t, "r", &mut r, &[b"PING"]);
        // The redirect target goes away: the tracking client is flagged.
        drop(r);
        run(t, "c", &mut c, &[b"GET", b"k"]);
        crate::harness::wait_for(
            "the redirect target's disconnection",
            std::time::Duration::from_secs(5),
            || {
                let l = w.cmd(&[b"CLIENT", b"LIST"]);
                String::from_utf8_lossy(&l).matches("id=").count() == 2
            },
        );
        run(t, "w", &mut w, &[b"SET", b"k", b"v"]);
        // Client ids differ between the servers: compare the rest.
        let info = c.cmd(&[b"CLIENT", b"TRACKINGINFO"]);
        let info = String::from_utf8_lossy(&info).replace(&format!(":{rid}\r\n"), ":ID\r\n");
        t.push(("c", info.into_bytes()));
    });
}

#[test]
fn bcast_tracking_reports_every_key_under_the_prefixes() {
    same_as_redis(&[], |s, t| {
        let (mut c, mut w) = (s.raw(), s.raw());
        c.cmd(&[b"HELLO", b"3"]);
        run(
            t,
            "c",
            &mut c,
            &[
                b"CLIENT",
                b"TRACKING",
                b"on",
                b"BCAST",
                b"PREFIX",
                b"user:",
                b"PREFIX",
                b"obj",
            ],
        );
        run(
            t,
            "c",
            &mut c,
            &[b"CLIENT", b"TRACKING", b"on", b"BCAST", b"PREFIX", b"use"],
        );
        run(
            t,
            "w",
            &mut w,
            &[b"MSET", b"user:2", b"a", b"other", b"b", b"user:1", b"c"],
        );
        recv(t, "c", &mut c, 1);
        run(t, "w", &mut w, &[b"DEL", b"object", b"user:1"]);
        recv(t, "c", &mut c, 1);
        run(t, "c", &mut c, &[b"CLIENT", b"TRACKINGINFO"]);
        run(t, "c", &mut c, &[b"CLIENT", b"TRACKING", b"off"]);
        run(
            t,
            "c",
            &mut c,
            &[b"CLIENT", b"TRACKING", b"on", b"BCAST", b"NOLOOP"],
        );
        run(t, "c", &mut c, &[b"SET", b"mine", b"1"]);
        run(t, "w", &mut w, &[b"SET", b"theirs", b"1"]);
        recv(t, "c", &mut c, 1);
        run(t, "c", &mut c, &[b"PING"]);
    });
}

#[test]
fn client_list_shows_subscriptions_and_tracking() {
    let s = ServerHandle::start(Flavor::Redoubt, &[]);
    let (mut sub, mut admin) = (s.raw(), s.raw());
    sub.send_cmd(&[b"SUBSCRIBE", b"a", b"b"]);
    sub.read_reply();
    sub.read_reply();
    sub.cmd(&[b"PSUBSCRIBE", b"p*"]);
    sub.cmd(&[b"SSUBSCRIBE", b"s"]);
    let list =
        String::from_utf8_lossy(&admin.cmd(&[b"CLIENT", b"LIST", b"TYPE", b"pubsub"])).into_owned();
    assert!(
        list.contains(" flags=P ") && list.contains(" sub=2 psub=1 ssub=1 "),
        "{list}"
    );
    admin.cmd(&[b"CLIENT", b"TRACKING", b"on", b"BCAST"]);
    let me = String::from_utf8_lossy(&admin.cmd(&[b"CLIENT", b"INFO"])).into_owned();
    assert!(
        me.contains(" flags=tB ") && me.contains(" redir=0 "),
        "{me}"
    );
    let info = String::from_utf8_lossy(&admin.cmd(&[b"INFO", b"stats"])).into_owned();
    for line in [
        "pubsub_channels:2",
        "pubsub_patterns:1",
        "pubsubshard_channels:1",
        "tracking_total_prefixes:1",
    ] {
        assert!(info.contains(line), "{line} missing:\n{info}");
    }
    drop(sub);
    crate::harness::wait_for(
        "the subscriber's channels to be released",
        std::time::Duration::from_secs(5),
        || {
            let info = admin.cmd(&[b"INFO", b"stats"]);
            String::from_utf8_lossy(&info).contains("pubsub_channels:0")
        },
    );
}

#[test]
fn new_and_keymiss_events_and_key_commands_in_resp3() {
    same_as_redis(&[("notify-keyspace-events", "Egn$m")], |s, t| {
        let mut c = s.raw();
        c.cmd(&[b"HELLO", b"3"]);
        // The client hears its own events: each before the reply, as
        // Redis 7.0 writes them.
        run(t, "c", &mut c, &[b"PSUBSCRIBE", b"*"]);
        let cmds: &[&[&[u8]]] = &[
            &[b"GET", b"nokey"],
            &[b"MGET", b"a", b"b"],
            &[b"EXISTS", b"nokey"],
            &[b"TYPE", b"nokey"],
            &[b"SET", b"k", b"v"],
            &[b"SET", b"k", b"w", b"GET"],
            &[b"SET", b"k", b"w", b"NX"],
            &[b"APPEND", b"a", b"x"],
            &[b"SETRANGE", b"r", b"2", b"x"],
            &[b"INCRBY", b"i", b"5"],
            &[b"GETEX", b"k", b"EX", b"100"],
            &[b"GETEX", b"k", b"PERSIST"],
            &[b"EXPIRE", b"k", b"100"],
            &[b"EXPIREAT", b"k", b"1"],
            &[b"COPY", b"a", b"a2"],
            &[b"COPY", b"a", b"a3", b"DB", b"1"],
            &[b"MOVE", b"a2", b"2"],
            &[b"RENAME", b"i", b"a"],
            &[b"RENAMENX", b"a", b"r"],
            &[b"SETBIT", b"bits", b"7", b"1"],
            &[
                b"BITFIELD",
                b"bf",
                b"SET",
                b"u8",
                b"0",
                b"255",
                b"GET",
                b"u8",
                b"0",
            ],
            &[b"BITOP", b"OR", b"dest", b"bits", b"bf"],
            &[b"BITOP", b"AND", b"dest", b"nokey"],
            &[b"GETSET", b"g", b"1"],
            &[b"SETEX", b"sx", b"100", b"v"],
            &[b"MSETNX", b"m1", b"1", b"m2", b"2"],
            &[b"DEL", b"m1", b"m2"],
            &[b"PING"],
        ];
        for args in cmds {
            c.send_cmd(args);
            // Read until this command's reply, which is the first frame
            // that is not a push.
            loop {
                let r = c.read_reply().expect("reply");
                let push = r.starts_with(b">");
                t.push(("c", r));
                if !push {
                    break;
                }
            }
        }
    });
}

#[test]
fn keys_expired_by_the_active_cycle_reach_bcast_and_default_trackers() {
    same_as_redis(&[("notify-keyspace-events", "Ex")], |s, t| {
        let (mut b, mut d, mut w, mut sub) = (s.raw(), s.raw(), s.raw(), s.raw());
        b.cmd(&[b"HELLO", b"3"]);
        d.cmd(&[b"HELLO", b"3"]);
        run(
            t,
            "sub",
            &mut sub,
            &[b"SUBSCRIBE", b"__keyevent@0__:expired"],
        );
        run(t, "b", &mut b, &[b"CLIENT", b"TRACKING", b"on", b"BCAST"]);
        run(t, "d", &mut d, &[b"CLIENT", b"TRACKING", b"on"]);
        run(t, "w", &mut w, &[b"SET", b"gone", b"v", b"PX", b"50"]);
        recv(t, "b", &mut b, 1);
        run(t, "d", &mut d, &[b"GET", b"gone"]);
        // Nobody touches the key: the active cycle deletes it.
        recv(t, "sub", &mut sub, 1);
        recv(t, "b", &mut b, 1);
        recv(t, "d", &mut d, 1);
    });
}

#[test]
fn keyspace_notifications_for_hashes_lists_served_pops_and_evictions() {
    same_as_redis(&[("notify-keyspace-events", "KEA")], |s, t| {
        let (mut sub, mut w, mut b) = (s.raw(), s.raw(), s.raw());
        run(t, "sub", &mut sub, &[b"PSUBSCRIBE", b"__key*@0__:*"]);
        fn write(t: &mut Transcript, w: &mut Raw, sub: &mut Raw, args: &[&[u8]], events: usize) {
            run(t, "w", w, args);
            recv(t, "sub", sub, events * 2);
        }
        write(t, &mut w, &mut sub, &[b"HSET", b"h", b"f", b"v"], 1);
        // The last field goes: `hdel`, then the emptied key's `del`.
        write(t, &mut w, &mut sub, &[b"HDEL", b"h", b"f"], 2);
        write(t, &mut w, &mut sub, &[b"LPUSH", b"l", b"a", b"b"], 1);
        // A pop served to a blocked client: `lpush`, then the served
        // `lpop` and the emptied list's `del`.
        b.send_cmd(&[b"BLPOP", b"q", b"0"]);
        crate::harness::wait_blocked(&mut w, 1);
        write(t, &mut w, &mut sub, &[b"LPUSH", b"q", b"x"], 3);
        recv(t, "b", &mut b, 1);
        // Every key left (only `l`) is evicted under a tiny limit.
        run(
            t,
            "w",
            &mut w,
            &[b"CONFIG", b"SET", b"maxmemory-policy", b"allkeys-random"],
        );
        run(t, "w", &mut w, &[b"CONFIG", b"SET", b"maxmemory", b"1"]);
        run(t, "w", &mut w, &[b"GET", b"l"]);
        recv(t, "sub", &mut sub, 2);
        run(t, "w", &mut w, &[b"CONFIG", b"SET", b"maxmemory", b"0"]);
        // Nothing else was queued.
        run(t, "sub", &mut sub, &[b"PING"]);
    });
}

/// PUBLISH and SPUBLISH on a master reach the subscribers of its
/// replicas, Redis's and Redoubt's, whichever the master is.
#[test]
fn publish_on_a_master_reaches_subscribers_of_its_replicas() {
    for master_flavor in [Flavor::Redis, Flavor::Redoubt] {
        let master = ServerHandle::start(master_flavor, &[]);
        let replicas: Vec<ServerHandle> = [Flavor::Redis, Flavor::Redoubt]
            .into_iter()
            .map(|f| crate::harness::start_replica(f, &master, &[]))
            .collect();
        let mut subs = Vec::new();
        for r in &replicas {
            crate::harness::wait_for_link_up(r);
            let mut sub = r.raw();
            sub.send_cmd(&[b"SUBSCRIBE", b"news"]);
            sub.read_reply().expect("subscribe confirmation");
            sub.send_cmd(&[b"SSUBSCRIBE", b"shard"]);
            sub.read_reply().expect("ssubscribe confirmation");
            subs.push(sub);
        }
        let mut m = master.raw();
        m.cmd(&[b"PUBLISH", b"news", b"hello"]);
        m.cmd(&[b"SPUBLISH", b"shard", b"m"]);
        for (i, sub) in subs.iter_mut().enumerate() {
            let got = sub.read_reply().unwrap_or_default();
            assert_eq!(
                got, b"*3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$5\r\nhello\r\n",
                "replica {i} of a {master_flavor:?} master"
            );
            let got = sub.read_reply().unwrap_or_default();
            assert_eq!(
                got, b"*3\r\n$8\r\nsmessage\r\n$5\r\nshard\r\n$1\r\nm\r\n",
                "replica {i} of a {master_flavor:?} master"
            );
        }
    }
}
