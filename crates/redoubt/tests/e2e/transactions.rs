//! Transactions across connections: a WATCHed key changed by someone else
//! (a write, a transaction of theirs, FLUSHALL, SWAPDB, its own expiry)
//! makes EXEC fail with a null reply, and a mere read does not. Every
//! scenario runs on real redis-server 7.0 and on Redoubt and the raw
//! replies must match.

use crate::harness::{wait_for, Flavor, ServerHandle};
use std::time::Duration;

/// One step: which connection (0 watches, 1 interferes) and the command.
type Step<'a> = (usize, &'a [&'a str]);

fn run(s: &ServerHandle, steps: &[Step]) -> Vec<String> {
    let mut conns = [s.raw(), s.raw()];
    steps
        .iter()
        .map(|(who, args)| {
            let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
            String::from_utf8_lossy(&conns[*who].cmd(&args)).into_owned()
        })
        .collect()
}

/// Runs `steps` on both servers, checks they agree, returns the replies.
fn on_both(steps: &[Step]) -> Vec<String> {
    let redis = ServerHandle::start(Flavor::Redis, &[]);
    let ours = ServerHandle::start(Flavor::Redoubt, &[]);
    let want = run(&redis, steps);
    let got = run(&ours, steps);
    assert_eq!(got, want, "Redoubt's replies differ from Redis's");
    got
}

fn last(replies: &[String]) -> &str {
    replies.last().map_or("", String::as_str)
}

#[test]
fn exec_fails_when_another_client_wrote_a_watched_key() {
    let r = on_both(&[
        (0, &["SET", "k", "v"]),
        (0, &["WATCH", "k", "other"]),
        (1, &["SET", "k", "theirs"]),
        (0, &["MULTI"]),
        (0, &["SET", "k", "mine"]),
        (0, &["EXEC"]),
        (0, &["GET", "k"]),
    ]);
    assert_eq!(r[5], "*-1\r\n");
    assert_eq!(last(&r), "$6\r\ntheirs\r\n");
}

#[test]
fn exec_fails_when_another_clients_transaction_wrote_a_watched_key() {
    let r = on_both(&[
        (0, &["WATCH", "k"]),
        (1, &["MULTI"]),
        (1, &["INCR", "k"]),
        (1, &["EXEC"]),
        (0, &["MULTI"]),
        (0, &["INCR", "k"]),
        (0, &["EXEC"]),
    ]);
    assert_eq!(r[3], "*1\r\n:1\r\n");
    assert_eq!(last(&r), "*-1\r\n");
}

#[test]
fn exec_succeeds_when_another_client_only_read_a_watched_key() {
    let r = on_both(&[
        (0, &["SET", "k", "v"]),
        (0, &["WATCH", "k"]),
        (1, &["GET", "k"]),
        (1, &["EXISTS", "k"]),
        (1, &["SET", "unrelated", "1"]),
        (0, &["MULTI"]),
        (0, &["SET", "k", "mine"]),
        (0, &["EXEC"]),
    ]);
    assert_eq!(last(&r), "*1\r\n+OK\r\n");
}

#[test]
fn flushall_breaks_watches_on_existing_keys_only() {
    let r = on_both(&[
        (0, &["SET", "k", "v"]),
        (0, &["WATCH", "k"]),
        (1, &["FLUSHALL"]),
        (0, &["MULTI"]),
        (0, &["PING"]),
        (0, &["EXEC"]),
        (0, &["WATCH", "absent"]),
        (1, &["FLUSHALL"]),
        (0, &["MULTI"]),
        (0, &["PING"]),
        (0, &["EXEC"]),
    ]);
    assert_eq!(r[5], "*-1\r\n");
    assert_eq!(last(&r), "*1\r\n+PONG\r\n");
}

#[test]
fn swapdb_breaks_watches_when_the_key_exists_on_either_side() {
    let r = on_both(&[
        (1, &["SELECT", "1"]),
        (1, &["SET", "k", "in-db1"]),
        (0, &["WATCH", "k"]),
        (1, &["SWAPDB", "1", "2"]),
        (0, &["MULTI"]),
        (0, &["EXEC"]),
        (0, &["WATCH", "k"]),
        (1, &["SWAPDB", "0", "2"]),
        (0, &["MULTI"]),
        (0, &["GET", "k"]),
        (0, &["EXEC"]),
        (0, &["GET", "k"]),
    ]);
    assert_eq!(r[5], "*0\r\n");
    assert_eq!(r[10], "*-1\r\n");
    assert_eq!(last(&r), "$6\r\nin-db1\r\n");
}

/// Runs the expiry scenario on one server: WATCH a key with a short TTL,
/// wait until another connection sees it gone, then EXEC.
fn watched_key_expires(s: &ServerHandle) -> Vec<Vec<u8>> {
    let (mut a, mut b) = (s.raw(), s.raw());
    let mut replies = vec![
        a.cmd(&[b"SET", b"k", b"v", b"PX", b"50"]),
        a.cmd(&[b"WATCH", b"k"]),
    ];
    wait_for("the watched key to expire", Duration::from_secs(5), || {
        b.cmd(&[b"EXISTS", b"k"]) == b":0\r\n"
    });
    replies.push(a.cmd(&[b"MULTI"]));
    replies.push(a.cmd(&[b"SET", b"k", b"mine"]));
    replies.push(a.cmd(&[b"EXEC"]));
    replies.push(a.cmd(&[b"EXISTS", b"k"]));
    replies
}

#[test]
fn exec_fails_when_a_watched_key_expired_since_watch() {
    let redis = ServerHandle::start(Flavor::Redis, &[]);
    let ours = ServerHandle::start(Flavor::Redoubt, &[]);
    let want = watched_key_expires(&redis);
    let got = watched_key_expires(&ours);
    assert_eq!(got, want);
    assert_eq!(got[4], b"*-1\r\n");
    assert_eq!(got[5], b":0\r\n");
}

#[test]
fn exec_fails_when_a_watched_key_expires_without_being_deleted() {
    // Active expiry off: nobody deletes the key, EXEC itself notices that
    // it expired after WATCH (Redis 7.0 behaviour).
    let steps: &[Step] = &[
        (0, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]),
        (0, &["SET", "k", "v", "PX", "30"]),
        (0, &["WATCH", "k"]),
        (0, &["DEBUG", "SLEEP", "0.06"]),
        (0, &["MULTI"]),
        (0, &["EXEC"]),
        // Already expired when watched: its deletion by a read is no change.
        (0, &["SET", "j", "v", "PX", "1"]),
        (0, &["DEBUG", "SLEEP", "0.01"]),
        (0, &["WATCH", "j"]),
        (1, &["GET", "j"]),
        (0, &["MULTI"]),
        (0, &["EXEC"]),
        (0, &["DEBUG", "SET-ACTIVE-EXPIRE", "1"]),
    ];
    let redis = ServerHandle::start(Flavor::Redis, &[("enable-debug-command", "yes")]);
    let ours = ServerHandle::start(Flavor::Redoubt, &[("enable-debug-command", "yes")]);
    let want = run(&redis, steps);
    let got = run(&ours, steps);
    assert_eq!(got, want);
    assert_eq!(got[5], "*-1\r\n");
    assert_eq!(got[11], "*0\r\n");
}

#[test]
fn queued_commands_show_in_client_list_and_commandstats_count_at_exec() {
    let s = ServerHandle::start(Flavor::Redoubt, &[]);
    let mut a = s.raw();
    a.cmd(&[b"MULTI"]);
    a.cmd(&[b"SET", b"x", b"1"]);
    a.cmd(&[b"SET", b"y", b"2"]);
    let mut b = s.raw();
    let list = String::from_utf8_lossy(&b.cmd(&[b"CLIENT", b"LIST"])).into_owned();
    assert!(
        list.lines()
            .any(|l| l.contains("flags=x") && l.contains(" multi=2 ")),
        "no client in MULTI with 2 queued commands: {list}"
    );
    let stats = String::from_utf8_lossy(&b.cmd(&[b"INFO", b"commandstats"])).into_owned();
    assert!(!stats.contains("cmdstat_set:"), "queued SET counted early");
    assert_eq!(a.cmd(&[b"EXEC"]), b"*2\r\n+OK\r\n+OK\r\n");
    let stats = String::from_utf8_lossy(&b.cmd(&[b"INFO", b"commandstats"])).into_owned();
    assert!(stats.contains("cmdstat_set:calls=2,"), "{stats}");
    let list = String::from_utf8_lossy(&b.cmd(&[b"CLIENT", b"LIST"])).into_owned();
    assert!(
        list.lines()
            .filter(|l| l.starts_with("id="))
            .all(|l| l.contains(" multi=-1 ")),
        "{list}"
    );
}

#[test]
fn exec_of_a_writing_transaction_waits_out_client_pause_write() {
    let s = ServerHandle::start(Flavor::Redoubt, &[]);
    let (mut a, mut admin) = (s.raw(), s.raw());
    a.cmd(&[b"MULTI"]);
    assert_eq!(a.cmd(&[b"SET", b"k", b"v"]), b"+QUEUED\r\n");
    assert_eq!(
        admin.cmd(&[b"CLIENT", b"PAUSE", b"300", b"WRITE"]),
        b"+OK\r\n"
    );
    let t = std::time::Instant::now();
    assert_eq!(a.cmd(&[b"EXEC"]), b"*1\r\n+OK\r\n");
    assert!(
        t.elapsed() >= Duration::from_millis(200),
        "EXEC with a write ran during the pause"
    );
    // A read-only transaction is not held back.
    a.cmd(&[b"MULTI"]);
    a.cmd(&[b"GET", b"k"]);
    admin.cmd(&[b"CLIENT", b"PAUSE", b"300", b"WRITE"]);
    let t = std::time::Instant::now();
    assert_eq!(a.cmd(&[b"EXEC"]), b"*1\r\n$1\r\nv\r\n");
    assert!(
        t.elapsed() < Duration::from_millis(200),
        "read-only EXEC paused"
    );
}
