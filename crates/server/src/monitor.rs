//! MONITOR: every command executed, as a line to the clients that asked
//! for it, with secrets redacted (the same redaction the slow log uses).

use crate::client::Client;
use crate::server::Server;
use command_meta::{flags, Argv, CommandMeta};

/// Appends `a` quoted as Redis's `sdscatrepr` does: printable bytes as
/// they are, `\"` `\\` `\n` `\r` `\t` `\a` `\b`, anything else `\xHH`.
pub fn repr(out: &mut Vec<u8>, a: &[u8]) {
    out.push(b'"');
    for &c in a {
        match c {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            7 => out.extend_from_slice(b"\\a"),
            8 => out.extend_from_slice(b"\\b"),
            c if c.is_ascii_graphic() || c == b' ' => out.push(c),
            c => out.extend_from_slice(format!("\\x{c:02x}").as_bytes()),
        }
    }
    out.push(b'"');
}

/// What MONITOR and SLOWLOG show instead of a secret.
pub const REDACTED: &[u8] = b"(redacted)";

/// Which arguments of `argv` are secrets that MONITOR and SLOWLOG show as
/// `(redacted)`, as Redis 7.0 does: passwords of AUTH, HELLO ... AUTH,
/// MIGRATE ... AUTH/AUTH2 and sensitive CONFIG SET values. None when the
/// command carries no secret (the common case, checked cheaply).
pub fn redaction_mask(argv: Argv) -> Option<Vec<bool>> {
    let name = argv.get(0);
    let is = |n: &[u8]| name.eq_ignore_ascii_case(n);
    if !(is(b"auth") || is(b"hello") || is(b"migrate") || is(b"config") || is(b"acl")) {
        return None;
    }
    let mut mask = vec![false; argv.len()];
    let mut i = 1;
    if is(b"acl") {
        // ACL SETUSER: the user name and every rule (passwords among them).
        if !argv.get(1).eq_ignore_ascii_case(b"setuser") {
            return None;
        }
        mask.iter_mut().skip(2).for_each(|m| *m = true);
    } else if is(b"auth") {
        mask.iter_mut().skip(1).for_each(|m| *m = true);
    } else if is(b"hello") {
        i = 2;
        while i < argv.len() {
            let opt = argv.get(i);
            let more = argv.len() - i - 1;
            if opt.eq_ignore_ascii_case(b"AUTH") && more >= 2 {
                mask[i + 1] = true;
                mask[i + 2] = true;
                i += 3;
            } else if opt.eq_ignore_ascii_case(b"SETNAME") && more >= 1 {
                i += 2;
            } else {
                break;
            }
        }
    } else if is(b"migrate") {
        while i < argv.len() {
            let opt = argv.get(i);
            if opt.eq_ignore_ascii_case(b"AUTH") && i + 1 < argv.len() {
                mask[i + 1] = true;
                i += 2;
            } else if opt.eq_ignore_ascii_case(b"AUTH2") && i + 2 < argv.len() {
                mask[i + 1] = true;
                mask[i + 2] = true;
                i += 3;
            } else {
                i += 1;
            }
        }
    } else if argv.get(1).eq_ignore_ascii_case(b"SET") {
        i = 2;
        while i + 1 < argv.len() {
            let name = String::from_utf8_lossy(argv.get(i));
            if crate::config::table::is_sensitive(&name) {
                mask[i + 1] = true;
            }
            i += 2;
        }
    }
    Some(mask)
}

/// Sends the command just executed to every MONITOR client, in Redis's
/// format: `+<secs>.<usecs> [<db> <addr>] "ARG" "ARG"...`. Admin commands
/// and those flagged skip_monitor are not shown, as in Redis 7.0.
pub fn feed_monitors(srv: &mut Server, client: &Client, meta: &CommandMeta, argv: Argv) {
    if srv.monitors.is_empty() {
        return;
    }
    let f = flags::of(meta);
    if f & (flags::SKIP_MONITOR | flags::ADMIN) != 0 {
        return;
    }
    feed_line(srv, client, argv);
}

/// Feeds one command to the monitors whatever its flags: EVAL and
/// friends (flagged `skip-monitor`) are shown before the commands their
/// script runs, which appear as from the client `lua`.
pub fn feed_line(srv: &mut Server, client: &Client, argv: Argv) {
    if srv.monitors.is_empty() {
        return;
    }
    let us = crate::util::time::unix_us();
    // A script's commands show as from `lua`, a Unix-socket client as
    // `unix:<path>`, as in Redis.
    let addr = if client.script {
        "lua".to_string()
    } else if client.unix_socket {
        format!(
            "unix:{}",
            srv.config.get_str(crate::config::Directive::Unixsocket)
        )
    } else {
        client.peer_id()
    };
    let mut line = format!(
        "+{}.{:06} [{} {}]",
        us / 1_000_000,
        us % 1_000_000,
        client.db,
        addr
    )
    .into_bytes();
    let mask = redaction_mask(argv);
    for (i, a) in argv.iter().enumerate() {
        line.push(b' ');
        let hidden = mask.as_ref().is_some_and(|m| m[i]);
        repr(&mut line, if hidden { REDACTED } else { a });
    }
    line.extend_from_slice(b"\r\n");
    for i in 0..srv.monitors.len() {
        if let Some(rc) = srv.clients.get(&srv.monitors[i]).cloned() {
            // The caller is borrowed already, so it never feeds itself.
            if let Ok(mut m) = rc.try_borrow_mut() {
                m.out.raw(&line);
                m.wake.notify_one();
                crate::net::enforce_output_limit(srv, &mut m);
            }
        }
    }
}
