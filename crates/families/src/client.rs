//! `CLIENT` subcommands: identity (ID, SETNAME, GETNAME), inspection (LIST,
//! INFO), control (KILL, PAUSE, UNPAUSE, REPLY, NO-EVICT) and HELP.
//!
//! Other connections are reached through the server's client registry; the
//! calling client is the `&mut Client` in the context and is never borrowed
//! again through the registry (its `RefCell` is held while it runs).

use command_meta::Argv;
use server::client::{Client, Kind, ReplyMode};
use server::clients::{describe, Pause};
use server::cmd::{Ctx, Handler};
use server::errors;

pub const COMMANDS: &[(&str, Handler)] = &[
    ("client|id", client_id),
    ("client|setname", client_setname),
    ("client|getname", client_getname),
    ("client|list", client_list),
    ("client|info", client_info),
    ("client|kill", client_kill),
    ("client|pause", client_pause),
    ("client|unpause", client_unpause),
    ("client|reply", client_reply),
    ("client|no-evict", client_no_evict),
    ("client|unblock", client_unblock),
    ("client|help", client_help),
];

/// Client names cannot contain spaces, newlines or special characters.
pub fn validate_client_name(name: &[u8]) -> Result<(), &'static str> {
    if name.iter().any(|&c| !(b'!'..=b'~').contains(&c)) {
        return Err(errors::CLIENT_NAME);
    }
    Ok(())
}

fn client_id(ctx: &mut Ctx) {
    let id = ctx.client.id as i64;
    ctx.out().int(id);
}

fn client_setname(ctx: &mut Ctx) {
    let name = ctx.argv.get(2);
    if let Err(e) = validate_client_name(name) {
        return ctx.err(e);
    }
    ctx.client.name = if name.is_empty() {
        None
    } else {
        Some(name.to_vec())
    };
    ctx.out().ok();
}

fn client_getname(ctx: &mut Ctx) {
    match ctx.client.name.clone() {
        Some(n) => ctx.out().bulk(&n),
        None => ctx.out().null(),
    }
}

/// The client types of `CLIENT LIST TYPE` and `CLIENT KILL TYPE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClientType {
    Normal,
    Master,
    Replica,
    Pubsub,
}

fn parse_type(s: &[u8]) -> Option<ClientType> {
    let s = s.to_ascii_lowercase();
    Some(match s.as_slice() {
        b"normal" => ClientType::Normal,
        b"master" => ClientType::Master,
        b"replica" | b"slave" => ClientType::Replica,
        b"pubsub" => ClientType::Pubsub,
        _ => return None,
    })
}

fn type_of(c: &Client) -> ClientType {
    match c.kind {
        Kind::Master => ClientType::Master,
        Kind::Replica => ClientType::Replica,
        // A MONITOR client counts as normal, as in Redis.
        Kind::Normal | Kind::Monitor if c.subs.is_subscribed() => ClientType::Pubsub,
        Kind::Normal | Kind::Monitor => ClientType::Normal,
    }
}

fn unknown_type(ctx: &mut Ctx, t: &[u8]) {
    let msg = format!("ERR Unknown client type '{}'", String::from_utf8_lossy(t));
    ctx.err(&msg);
}

fn argv_mem(argv: Argv) -> usize {
    argv.iter().map(<[u8]>::len).sum()
}

fn client_list(ctx: &mut Ctx) {
    let argc = ctx.argv.len();
    let mut want_type = None;
    let mut ids: Option<Vec<u64>> = None;
    if argc == 4 && ctx.argv.get(2).eq_ignore_ascii_case(b"TYPE") {
        let t = ctx.argv.get(3);
        match parse_type(t) {
            Some(t) => want_type = Some(t),
            None => return unknown_type(ctx, t),
        }
    } else if argc >= 4 && ctx.argv.get(2).eq_ignore_ascii_case(b"ID") {
        let mut v = Vec::new();
        for a in ctx.argv.from(3) {
            match resp::parse_i64(a) {
                Some(n) => v.push(n.max(0) as u64),
                None => return ctx.err(errors::INVALID_CLIENT_ID),
            }
        }
        ids = Some(v);
    } else if argc != 2 {
        return ctx.err(errors::SYNTAX);
    }
    let current = (
        ctx.srv.commands.commands[ctx.cmd].meta.name,
        argv_mem(ctx.argv),
    );
    let mut text = String::new();
    let srv = &*ctx.srv;
    let me = ctx.client.id;
    // The registry is ordered by id, which is Redis's (creation) order.
    for (&id, rc) in &srv.clients {
        if let Some(ids) = &ids {
            if !ids.contains(&id) {
                continue;
            }
        }
        if id == me {
            if want_type.is_some_and(|t| t != type_of(ctx.client)) {
                continue;
            }
            describe(srv, ctx.client, Some(current), &mut text);
        } else if let Ok(c) = rc.try_borrow() {
            // A client closed by a command (CLIENT KILL, eviction) is gone
            // for Redis at once; its task leaves the registry later.
            if c.killed || want_type.is_some_and(|t| t != type_of(&c)) {
                continue;
            }
            describe(srv, &c, None, &mut text);
        }
    }
    // The kit's client is not in the registry.
    if !srv.clients.contains_key(&me)
        && ids.as_ref().is_none_or(|v| v.contains(&me))
        && want_type.is_none_or(|t| t == type_of(ctx.client))
    {
        describe(srv, ctx.client, Some(current), &mut text);
    }
    ctx.out().verbatim(text.as_bytes());
}

fn client_info(ctx: &mut Ctx) {
    let current = (
        ctx.srv.commands.commands[ctx.cmd].meta.name,
        argv_mem(ctx.argv),
    );
    let mut text = String::new();
    describe(ctx.srv, ctx.client, Some(current), &mut text);
    ctx.out().verbatim(text.as_bytes());
}

/// The filters of `CLIENT KILL <filter> <value> ...`.
#[derive(Default)]
struct KillFilter {
    id: Option<u64>,
    kind: Option<ClientType>,
    addr: Option<String>,
    laddr: Option<String>,
    user: Option<String>,
    skipme: bool,
}

impl KillFilter {
    fn matches(&self, c: &Client) -> bool {
        self.id.is_none_or(|id| c.id == id)
            && self.kind.is_none_or(|t| type_of(c) == t)
            && self
                .addr
                .as_ref()
                .is_none_or(|a| c.addr.is_some_and(|x| x.to_string() == *a))
            && self
                .laddr
                .as_ref()
                .is_none_or(|a| c.laddr.is_some_and(|x| x.to_string() == *a))
            && self.user.as_ref().is_none_or(|u| c.user == *u)
    }
}

fn parse_kill_filter(ctx: &mut Ctx) -> Result<KillFilter, String> {
    let mut f = KillFilter {
        skipme: true,
        ..Default::default()
    };
    let argc = ctx.argv.len();
    if !(argc - 2).is_multiple_of(2) {
        return Err(errors::SYNTAX.into());
    }
    let mut i = 2;
    while i + 1 < argc {
        let opt = ctx.argv.get(i).to_ascii_lowercase();
        let val = ctx.argv.get(i + 1);
        let text = String::from_utf8_lossy(val).into_owned();
        match opt.as_slice() {
            b"id" => match resp::parse_i64(val) {
                Some(n) if n > 0 => f.id = Some(n as u64),
                _ => return Err(errors::CLIENT_ID_POSITIVE.into()),
            },
            b"type" => match parse_type(val) {
                Some(t) => f.kind = Some(t),
                None => return Err(format!("ERR Unknown client type '{text}'")),
            },
            b"addr" => f.addr = Some(text),
            b"laddr" => f.laddr = Some(text),
            b"user" => {
                // Until ACL users exist, `default` is the only user.
                if text != "default" {
                    return Err(format!("ERR No such user '{text}'"));
                }
                f.user = Some(text);
            }
            b"skipme" => {
                if val.eq_ignore_ascii_case(b"yes") {
                    f.skipme = true;
                } else if val.eq_ignore_ascii_case(b"no") {
                    f.skipme = false;
                } else {
                    return Err(errors::SYNTAX.into());
                }
            }
            // MAXAGE arrived after 7.0; Redis 7.0 refuses it like any
            // unknown filter.
            _ => return Err(errors::SYNTAX.into()),
        }
        i += 2;
    }
    Ok(f)
}

fn client_kill(ctx: &mut Ctx) {
    // Old form: CLIENT KILL ip:port.
    if ctx.argv.len() == 3 {
        let addr = String::from_utf8_lossy(ctx.argv.get(2)).into_owned();
        let filter = KillFilter {
            addr: Some(addr),
            ..Default::default()
        };
        if filter.matches(ctx.client) {
            ctx.client.close_after_reply = true;
            return ctx.out().ok();
        }
        let found = ctx
            .srv
            .clients
            .values()
            .find(|rc| {
                rc.try_borrow()
                    .is_ok_and(|c| filter.matches(&c) && !c.killed)
            })
            .cloned();
        let found = match found {
            Some(rc) => match rc.try_borrow_mut() {
                Ok(mut c) => {
                    server::clients::close_now(ctx.srv, &mut c);
                    Some(c.id)
                }
                Err(_) => None,
            },
            None => None,
        };
        // A killed replica stops holding replication history at once.
        if let Some(id) = found {
            server::replication::client_gone(ctx.srv, id);
        }
        return if found.is_some() {
            ctx.out().ok()
        } else {
            ctx.err(errors::NO_SUCH_CLIENT)
        };
    }
    let filter = match parse_kill_filter(ctx) {
        Ok(f) => f,
        Err(e) => return ctx.err(&e),
    };
    let mut killed = 0;
    let mut gone = Vec::new();
    let clients: Vec<_> = ctx.srv.clients.values().cloned().collect();
    for rc in clients {
        if let Ok(mut c) = rc.try_borrow_mut() {
            if filter.matches(&c) && !c.killed {
                server::clients::close_now(ctx.srv, &mut c);
                gone.push(c.id);
                killed += 1;
            }
        }
    }
    // A killed replica stops holding replication history at once, as with
    // Redis's synchronous free: a `repl-backlog-size` shrink or writes
    // later in the same transaction already trim what only it needed.
    for id in gone {
        server::replication::client_gone(ctx.srv, id);
    }
    if !filter.skipme && filter.matches(ctx.client) {
        // Closing ourselves waits for this reply to be written.
        ctx.client.close_after_reply = true;
        killed += 1;
    }
    ctx.out().int(killed);
}

fn client_pause(ctx: &mut Ctx) {
    let Some(ms) = resp::parse_i64(ctx.argv.get(2)) else {
        return ctx.err(errors::TIMEOUT_NOT_INTEGER);
    };
    if ms < 0 {
        return ctx.err(errors::TIMEOUT_NEGATIVE);
    }
    let all = match ctx.argv.len() {
        3 => true,
        4 if ctx.argv.get(3).eq_ignore_ascii_case(b"ALL") => true,
        4 if ctx.argv.get(3).eq_ignore_ascii_case(b"WRITE") => false,
        4 => return ctx.err(errors::PAUSE_MODE),
        _ => {
            let msg = errors::subcommand_syntax(ctx.argv.get(1), "client");
            return ctx.err(&msg);
        }
    };
    let until = server::util::time::unix_ms().saturating_add(ms);
    let p = &mut ctx.srv.pause;
    // A second pause only ever extends the first, in time and in scope.
    if p.until_ms < server::util::time::unix_ms() {
        *p = Pause::default();
    }
    p.until_ms = p.until_ms.max(until);
    p.all |= all;
    ctx.out().ok();
}

fn client_unpause(ctx: &mut Ctx) {
    ctx.srv.pause = Pause::default();
    ctx.srv.pause_notify.notify_waiters();
    ctx.out().ok();
}

fn client_reply(ctx: &mut Ctx) {
    let mode = ctx.argv.get(2);
    if mode.eq_ignore_ascii_case(b"ON") {
        ctx.client.reply_mode = ReplyMode::On;
        ctx.out().ok();
    } else if mode.eq_ignore_ascii_case(b"OFF") {
        // The connection loop drops this command's reply too.
        ctx.client.reply_mode = ReplyMode::Off;
    } else if mode.eq_ignore_ascii_case(b"SKIP") {
        // No reply to SKIP itself, none to the next command.
        if ctx.client.reply_mode != ReplyMode::Off {
            ctx.client.reply_mode = ReplyMode::SkipNext;
        }
    } else {
        ctx.err(errors::SYNTAX);
    }
}

fn client_no_evict(ctx: &mut Ctx) {
    let v = ctx.argv.get(2);
    if v.eq_ignore_ascii_case(b"ON") {
        ctx.client.no_evict = true;
    } else if v.eq_ignore_ascii_case(b"OFF") {
        ctx.client.no_evict = false;
    } else {
        return ctx.err(errors::SYNTAX);
    }
    ctx.out().ok();
}

/// CLIENT UNBLOCK id [TIMEOUT|ERROR]: ends another client's blocking
/// command as if it timed out (the default) or with the UNBLOCKED error.
/// 1 when that client was blocked, else 0.
fn client_unblock(ctx: &mut Ctx) {
    if ctx.argv.len() > 4 {
        let msg = errors::subcommand_syntax(ctx.argv.get(1), "client");
        return ctx.err(&msg);
    }
    let Some(id) = resp::parse_i64(ctx.argv.get(2)) else {
        return ctx.err(errors::NOT_INTEGER);
    };
    let error = match ctx.argv.len() {
        4 if ctx.argv.get(3).eq_ignore_ascii_case(b"ERROR") => true,
        4 if ctx.argv.get(3).eq_ignore_ascii_case(b"TIMEOUT") => false,
        4 => return ctx.err(errors::UNBLOCK_REASON),
        _ => false,
    };
    // The caller is running, hence not blocked; others are reached through
    // the registry.
    let target = u64::try_from(id)
        .ok()
        .filter(|&id| id != ctx.client.id)
        .and_then(|id| ctx.srv.clients.get(&id).cloned());
    let done = match target {
        Some(rc) => match rc.try_borrow_mut() {
            Ok(mut c) => server::blocking::unblock_with(ctx.srv, &mut c, error),
            Err(_) => false,
        },
        None => false,
    };
    ctx.out().int(i64::from(done));
}

/// Writes a `HELP` reply: a header line, then our own description lines.
pub fn help_reply(ctx: &mut Ctx, header: &str, lines: &[&str]) {
    let out = ctx.out();
    out.array(lines.len() + 3);
    out.simple(header.as_bytes());
    for l in lines {
        out.simple(l.as_bytes());
    }
    out.simple(b"HELP");
    out.simple(b"    Print this help.");
}

fn client_help(ctx: &mut Ctx) {
    help_reply(
        ctx,
        "CLIENT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        &[
            "ID",
            "    The id of this connection.",
            "INFO",
            "    One line describing this connection, as in CLIENT LIST.",
            "GETNAME",
            "    The name set with SETNAME, or null.",
            "SETNAME <name>",
            "    Names this connection (no spaces; empty clears it).",
            "LIST [TYPE (NORMAL|MASTER|REPLICA|PUBSUB)] [ID <id> [<id> ...]]",
            "    One line per connection, optionally filtered.",
            "KILL <ip:port>",
            "    Closes the connection from that address.",
            "KILL <option> <value> [<option> <value> [...]]",
            "    Closes every connection matching all filters: ID, TYPE, ADDR, LADDR,",
            "    USER, SKIPME (yes|no, default yes). Replies with the number closed.",
            "PAUSE <timeout> [WRITE|ALL]",
            "    Holds back commands (all, or only writes) for <timeout> milliseconds.",
            "UNPAUSE",
            "    Ends a pause early.",
            "REPLY (ON|OFF|SKIP)",
            "    Turns replies on or off, or skips the reply to the next command.",
            "NO-EVICT (ON|OFF)",
            "    Exempts this connection from client eviction.",
            "TRACKING (ON|OFF) [REDIRECT <id>] [BCAST] [PREFIX <prefix> [...]] [OPTIN] [OPTOUT] [NOLOOP]",
            "    Client-side caching: be told when keys this connection read (or, with",
            "    BCAST, any key under the prefixes) change; REDIRECT sends that to another",
            "    connection.",
            "CACHING (YES|NO)",
            "    In OPTIN (YES) or OPTOUT (NO) mode, whether the next command's keys are tracked.",
            "GETREDIR",
            "    The id invalidations are redirected to: 0 for none, -1 when not tracking.",
            "TRACKINGINFO",
            "    The tracking mode, redirect and prefixes of this connection.",
        ],
    );
}

#[cfg(test)]
mod tests {
    use crate::testkit::Kit;

    #[test]
    fn errors_follow_redis() {
        let mut k = Kit::new();
        let e = |s: &str| format!("-{s}\r\n");
        assert_eq!(
            k.run(&["CLIENT", "LIST", "TYPE", "foo"]),
            e("ERR Unknown client type 'foo'")
        );
        assert_eq!(
            k.run(&["CLIENT", "LIST", "ID", "abc"]),
            e("ERR Invalid client ID")
        );
        assert_eq!(k.run(&["CLIENT", "LIST", "foo"]), e("ERR syntax error"));
        assert_eq!(
            k.run(&["CLIENT", "KILL", "1.2.3.4:5"]),
            e("ERR No such client")
        );
        assert_eq!(k.run(&["CLIENT", "KILL", "ID", "999"]), ":0\r\n");
        assert_eq!(
            k.run(&["CLIENT", "KILL", "ID", "abc"]),
            e("ERR client-id should be greater than 0")
        );
        assert_eq!(
            k.run(&["CLIENT", "KILL", "MAXAGE", "10"]),
            e("ERR syntax error")
        );
        assert_eq!(
            k.run(&["CLIENT", "KILL", "USER", "nobody"]),
            e("ERR No such user 'nobody'")
        );
        assert_eq!(
            k.run(&["CLIENT", "PAUSE", "abc"]),
            e("ERR timeout is not an integer or out of range")
        );
        assert_eq!(
            k.run(&["CLIENT", "PAUSE", "10", "foo"]),
            e("ERR CLIENT PAUSE mode must be WRITE or ALL")
        );
        assert_eq!(
            k.run(&["CLIENT", "PAUSE", "-1"]),
            e("ERR timeout is negative")
        );
        assert_eq!(k.run(&["CLIENT", "REPLY", "foo"]), e("ERR syntax error"));
        assert_eq!(
            k.run(&["CLIENT", "NO-EVICT", "maybe"]),
            e("ERR syntax error")
        );
    }

    #[test]
    fn info_line_has_redis_fields_in_order() {
        let mut k = Kit::new();
        k.run(&["CLIENT", "SETNAME", "me"]);
        let t = k.run(&["CLIENT", "INFO"]);
        let line = t.split("\r\n").nth(1).unwrap_or_default();
        let names: Vec<&str> = line
            .split(' ')
            .filter_map(|f| f.split('=').next())
            .collect();
        assert_eq!(
            names,
            "id addr laddr fd name age idle flags db sub psub ssub multi qbuf qbuf-free \
             argv-mem multi-mem rbs rbp obl oll omem tot-mem events cmd user redir resp"
                .split(' ')
                .collect::<Vec<_>>()
        );
        assert!(line.contains(" name=me "), "{line}");
        assert!(line.contains(" cmd=client|info "), "{line}");
        assert!(line.contains(" flags=N "), "{line}");
    }

    #[test]
    fn kill_self_with_skipme_no_closes_after_reply() {
        let mut k = Kit::new();
        assert_eq!(
            k.run(&["CLIENT", "KILL", "ID", "1", "SKIPME", "no"]),
            ":1\r\n"
        );
        assert!(k.client.close_after_reply);
    }

    #[test]
    fn pause_write_holds_writes_only() {
        let mut k = Kit::new();
        assert_eq!(k.run(&["CLIENT", "PAUSE", "10000", "WRITE"]), "+OK\r\n");
        let buf = b"SETkGETkv";
        let set = [(0, 3), (3, 4), (8, 9)];
        let get = [(4, 7), (7, 8)];
        // A request Redis refuses before its pause check is answered now.
        let bad_arity = [(0, 3), (3, 4)];
        use command_meta::Argv;
        assert!(server::clients::must_wait(
            &mut k.srv,
            &k.client,
            Argv::new(buf, &set)
        ));
        assert!(!server::clients::must_wait(
            &mut k.srv,
            &k.client,
            Argv::new(buf, &get)
        ));
        assert!(!server::clients::must_wait(
            &mut k.srv,
            &k.client,
            Argv::new(buf, &bad_arity)
        ));
        k.run(&["CLIENT", "UNPAUSE"]);
        assert!(!server::clients::must_wait(
            &mut k.srv,
            &k.client,
            Argv::new(buf, &set)
        ));
    }
}
