//! What each connection costs and what happens when connections cost too
//! much, run against Redoubt and real Redis 7.0.15 alike: CLIENT LIST's
//! buffer fields for a big argument still arriving, the clients cron
//! freeing an idle query buffer and shrinking an idle reply buffer,
//! `maxmemory-clients` evicting the client that takes the total past it
//! (and sparing a `CLIENT NO-EVICT` one), a slow reader closed at its output hard limit,
//! and `CONFIG SET maxmemory` inside a transaction evicting only after it.

use crate::harness::{info_field, wait_for, Flavor, Raw, ServerHandle};
use std::io::{Read, Write};
use std::time::Duration;

const BOTH: [Flavor; 2] = [Flavor::Redoubt, Flavor::Redis];

/// Field `f` of the CLIENT LIST line of the client named `name`.
fn client_field(admin: &mut Raw, name: &str, f: &str) -> Option<String> {
    let list = admin.cmd_str(&["CLIENT", "LIST"]);
    let line = list
        .lines()
        .find(|l| l.contains(&format!(" name={name} ")))?;
    let line = format!(" {line}");
    let key = format!(" {f}=");
    let at = line.find(&key)? + key.len();
    Some(line[at..].split(' ').next()?.to_string())
}

fn field_num(admin: &mut Raw, name: &str, f: &str) -> usize {
    client_field(admin, name, f)
        .and_then(|v| v.parse().ok())
        .unwrap_or(usize::MAX)
}

fn named(h: &ServerHandle, name: &str) -> Raw {
    let mut c = Raw::connect(h.addr());
    assert_eq!(c.cmd_str(&["CLIENT", "SETNAME", name]), "+OK\r\n");
    c
}

#[test]
fn a_big_argument_still_arriving_is_query_buffer_and_the_rest_is_argv_mem() {
    for f in BOTH {
        let h = ServerHandle::start(f, &[]);
        let mut admin = Raw::connect(h.addr());
        let mut c = named(&h, "big");
        // Two complete arguments, then half of a 100000-byte one.
        c.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100000\r\n");
        c.send(&[b'v'; 50_000]);
        wait_for(
            &format!("{f:?}: qbuf of the half-received argument"),
            Duration::from_secs(5),
            || field_num(&mut admin, "big", "qbuf") == 50_000,
        );
        // The complete arguments are held as arguments (SET and k).
        assert_eq!(field_num(&mut admin, "big", "argv-mem"), 4, "{f:?}");
        // Room for the rest of the argument was made at once, and no
        // more than the allocator rounds up to (not a doubling).
        let free = field_num(&mut admin, "big", "qbuf-free");
        assert!((50_002..80_000).contains(&free), "{f:?}: qbuf-free={free}");
        c.send(&[b'v'; 50_000]);
        c.send(b"\r\n");
        assert_eq!(c.read_reply().unwrap(), b"+OK\r\n", "{f:?}");
    }
}

#[test]
fn the_clients_cron_frees_an_idle_query_buffer_and_shrinks_an_idle_reply_buffer() {
    for f in BOTH {
        let h = ServerHandle::start(f, &[]);
        let mut admin = Raw::connect(h.addr());
        admin.cmd_str(&["DEBUG", "REPLYBUFFER", "PEAK-RESET-TIME", "100"]);
        let _idle = named(&h, "idle");
        let first = field_num(&mut admin, "idle", "qbuf-free");
        assert!(
            (16_384..32_768).contains(&first),
            "{f:?}: qbuf-free={first}"
        );
        wait_for(
            &format!("{f:?}: the reply buffer of an idle client to shrink"),
            Duration::from_secs(3),
            || (1024..2048).contains(&field_num(&mut admin, "idle", "rbs")),
        );
        // Idle for more than two seconds: the query buffer goes.
        wait_for(
            &format!("{f:?}: the query buffer of an idle client to go"),
            Duration::from_secs(6),
            || field_num(&mut admin, "idle", "qbuf-free") == 0,
        );
        assert_eq!(field_num(&mut admin, "idle", "qbuf"), 0);
    }
}

#[test]
fn maxmemory_clients_evicts_the_client_that_takes_the_total_past_it_but_not_a_no_evict_one() {
    for f in BOTH {
        let h = ServerHandle::start(f, &[("maxmemory-clients", "4mb")]);
        let mut admin = Raw::connect(h.addr());
        assert_eq!(admin.cmd_str(&["CLIENT", "NO-EVICT", "on"]), "+OK\r\n");
        let mut kept = named(&h, "kept");
        assert_eq!(kept.cmd_str(&["CLIENT", "NO-EVICT", "on"]), "+OK\r\n");
        kept.send(b"*1\r\n$2000000\r\n");
        kept.send(&vec![b'v'; 1_500_000]);
        wait_for(
            &format!("{f:?}: a no-evict client over the limit"),
            Duration::from_secs(5),
            || field_num(&mut admin, "kept", "qbuf") == 1_500_000,
        );
        assert!(field_num(&mut admin, "kept", "tot-mem") > 1_500_000);
        assert_eq!(info_field(&mut admin, "stats", "evicted_clients"), "0");

        let mut gone = std::net::TcpStream::connect(h.addr()).unwrap();
        gone.write_all(&client::encode(&[&b"CLIENT"[..], b"SETNAME", b"gone"]))
            .unwrap();
        let mut ok = [0u8; 5];
        gone.read_exact(&mut ok).unwrap();
        // The server may close the connection before all is sent.
        // With the no-evict client's 1.5 MB, this one's 3 MB pass the
        // limit: it is the one evicted.
        let _ = gone.write_all(b"*1\r\n$5000000\r\n");
        let _ = gone.write_all(&vec![b'v'; 3_000_000]);
        gone.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        assert!(
            matches!(gone.read(&mut ok), Ok(0) | Err(_)),
            "{f:?}: the evictable client was closed"
        );
        wait_for(
            &format!("{f:?}: the evicted client gone from CLIENT LIST"),
            Duration::from_secs(5),
            || client_field(&mut admin, "gone", "id").is_none(),
        );
        assert_eq!(info_field(&mut admin, "stats", "evicted_clients"), "1");
        // The no-evict one is still there.
        assert!(client_field(&mut admin, "kept", "id").is_some(), "{f:?}");
        assert!(field_num(&mut admin, "kept", "tot-mem") > 1_500_000);
    }
}

#[test]
fn a_reader_that_stops_reading_is_closed_at_its_output_hard_limit() {
    for f in BOTH {
        let h = ServerHandle::start(f, &[("client-output-buffer-limit", "normal 1mb 0 0")]);
        let mut admin = Raw::connect(h.addr());
        admin.cmd_str(&["SETRANGE", "big", "2000000", "v"]);
        let mut slow = named(&h, "slow");
        // More output than socket buffers take, never read. The server
        // may close the connection before the last requests are written.
        for _ in 0..40 {
            if slow.try_send_cmd(&[b"GET", b"big"]).is_err() {
                break;
            }
        }
        wait_for(
            &format!("{f:?}: the slow reader to be closed"),
            Duration::from_secs(10),
            || client_field(&mut admin, "slow", "id").is_none(),
        );
        assert!(h
            .log()
            .contains("scheduled to be closed ASAP for overcoming of output buffer limits"));
    }
}

#[test]
fn config_set_maxmemory_in_a_transaction_evicts_after_it() {
    for f in BOTH {
        let h = ServerHandle::start(f, &[("maxmemory-policy", "allkeys-lru")]);
        let mut c = Raw::connect(h.addr());
        c.cmd_str(&["MULTI"]);
        c.cmd_str(&["INCR", "x"]);
        c.cmd_str(&["CONFIG", "SET", "maxmemory", "1"]);
        c.cmd_str(&["INCR", "x"]);
        assert_eq!(c.cmd_str(&["EXEC"]), "*3\r\n:1\r\n+OK\r\n:2\r\n", "{f:?}");
        wait_for(&format!("{f:?}: x evicted"), Duration::from_secs(5), || {
            c.cmd_str(&["DBSIZE"]) == ":0\r\n"
        });
        c.cmd_str(&["CONFIG", "SET", "maxmemory", "0"]);
    }
}
