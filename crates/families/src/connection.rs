//! Connection commands: PING, ECHO, QUIT, SELECT, AUTH, HELLO, RESET.

use server::cmd::{Ctx, Handler};
use server::errors;

pub const COMMANDS: &[(&str, Handler)] = &[
    ("ping", ping),
    ("echo", echo),
    ("quit", quit),
    ("select", select),
    ("auth", auth),
    ("hello", hello),
    ("reset", reset),
];

fn ping(ctx: &mut Ctx) {
    // A RESP2 subscriber gets its pong in the shape of a Pub/Sub message,
    // so clients reading only pushes can parse it.
    if ctx.argv.len() <= 2 && !ctx.client.out.resp3 && ctx.client.subs.is_subscribed() {
        let m = ctx.argv.get(1);
        let out = ctx.out();
        out.array(2);
        out.bulk(b"pong");
        out.bulk(m);
        return;
    }
    match ctx.argv.len() {
        1 => ctx.out().simple(b"PONG"),
        2 => {
            let m = ctx.argv.get(1);
            ctx.out().bulk(m)
        }
        _ => ctx.err_arity(),
    }
}

fn echo(ctx: &mut Ctx) {
    let m = ctx.argv.get(1);
    ctx.out().bulk(m);
}

fn quit(ctx: &mut Ctx) {
    ctx.out().ok();
    ctx.client.close_after_reply = true;
}

fn select(ctx: &mut Ctx) {
    let Some(n) = resp::parse_i64(ctx.argv.get(1)).and_then(|n| i32::try_from(n).ok()) else {
        return ctx.err(errors::NOT_INTEGER);
    };
    if ctx.srv.cluster.is_some() && n != 0 {
        return ctx.err("ERR SELECT is not allowed in cluster mode");
    }
    if n < 0 || n as usize >= ctx.srv.dbs.len() {
        return ctx.err(errors::INVALID_DB);
    }
    ctx.client.db = n as usize;
    ctx.out().ok();
}

/// Authenticates the client as `user` (Redis's ACLAuthenticateUser): on
/// success the connection runs as that user from now on; a failure is
/// recorded in the ACL log and leaves the connection as it was.
fn authenticate(ctx: &mut Ctx, user: &[u8], pass: &[u8]) -> bool {
    match ctx.srv.acl.authenticate(user, pass) {
        Some(u) => {
            ctx.client.authenticated = true;
            ctx.client.acl_user = Some(u);
            ctx.client.user = String::from_utf8_lossy(user).into_owned();
            true
        }
        None => {
            let context = if ctx.client.multi.is_some() {
                "multi"
            } else {
                "toplevel"
            };
            let object = ctx.argv.get(0).to_vec();
            let name = ctx.srv.commands.commands[ctx.cmd].meta.name;
            let mem = ctx.argv.iter().map(<[u8]>::len).sum();
            let (srv, client) = ctx.parts();
            let current = Some((name, mem));
            server::acl::add_log_entry(
                srv,
                client,
                "auth",
                context,
                object,
                user.to_vec(),
                current,
            );
            false
        }
    }
}

fn auth(ctx: &mut Ctx) {
    let (user, pass): (&[u8], &[u8]) = match ctx.argv.len() {
        2 => (b"default", ctx.argv.get(1)),
        3 => (ctx.argv.get(1), ctx.argv.get(2)),
        _ => return ctx.err(errors::SYNTAX),
    };
    if ctx.argv.len() == 2 && ctx.srv.acl.default.borrow().nopass {
        return ctx.err(errors::AUTH_NOT_CONFIGURED);
    }
    if authenticate(ctx, user, pass) {
        ctx.out().ok();
    } else {
        ctx.err(errors::WRONGPASS);
    }
}

/// HELLO [protover [AUTH username password] [SETNAME clientname]]
fn hello(ctx: &mut Ctx) {
    let mut ver = None;
    let mut i = 1;
    if ctx.argv.len() >= 2 {
        match resp::parse_i64(ctx.argv.get(1)) {
            Some(v) => ver = Some(v),
            None => {
                return ctx.err(errors::PROTO_NOT_INTEGER);
            }
        }
        i = 2;
    }
    if let Some(v) = ver {
        if !(2..=3).contains(&v) {
            return ctx.err(errors::NOPROTO);
        }
    }
    // Options take effect one by one, as in Redis: an AUTH or SETNAME
    // before a bad option stays applied.
    while i < ctx.argv.len() {
        let opt = ctx.argv.get(i);
        let more = ctx.argv.len() - i - 1;
        if opt.eq_ignore_ascii_case(b"AUTH") && more >= 2 {
            let (u, p) = (ctx.argv.get(i + 1), ctx.argv.get(i + 2));
            if !authenticate(ctx, u, p) {
                return ctx.err(errors::WRONGPASS);
            }
            i += 3;
        } else if opt.eq_ignore_ascii_case(b"SETNAME") && more >= 1 {
            let name = ctx.argv.get(i + 1);
            if let Err(e) = crate::client::validate_client_name(name) {
                return ctx.err(e);
            }
            ctx.client.name = if name.is_empty() {
                None
            } else {
                Some(name.to_vec())
            };
            i += 2;
        } else {
            let msg = format!(
                "ERR Syntax error in HELLO option '{}'",
                String::from_utf8_lossy(opt)
            );
            return ctx.err(&msg);
        }
    }
    if !ctx.client.authenticated && ctx.srv.auth_required() {
        return ctx.err(errors::HELLO_NOAUTH);
    }
    if let Some(v) = ver {
        ctx.client.out.resp3 = v == 3;
    }
    let id = ctx.client.id;
    let proto = ctx.client.resp() as i64;
    let srv_is_replica = ctx.srv.is_replica();
    let mode = ctx.srv.config.mode.map(|m| m.name);
    let out = ctx.out();
    // A sentinel has no role to report, as in Redis.
    out.map(if mode.is_some() { 6 } else { 7 });
    out.bulk(b"server");
    out.bulk(b"redis");
    out.bulk(b"version");
    out.bulk(server::REDIS_VERSION.as_bytes());
    out.bulk(b"proto");
    out.int(proto);
    out.bulk(b"id");
    out.int(id as i64);
    out.bulk(b"mode");
    out.bulk(mode.unwrap_or("standalone").as_bytes());
    if mode.is_none() {
        out.bulk(b"role");
        out.bulk(if srv_is_replica {
            b"replica"
        } else {
            b"master"
        });
    }
    out.bulk(b"modules");
    out.array(0);
}

fn reset(ctx: &mut Ctx) {
    ctx.client.db = 0;
    ctx.client.out.resp3 = false;
    ctx.client.name = None;
    ctx.client.reply_mode = server::client::ReplyMode::On;
    ctx.client.no_evict = false;
    ctx.client.authenticated = !ctx.srv.auth_required();
    ctx.client.user = "default".into();
    ctx.client.acl_user = Some(ctx.srv.acl.default.clone());
    crate::transactions::discard_transaction(ctx);
    // RESET also drops subscriptions and client tracking.
    {
        let (srv, client) = ctx.parts();
        srv.forget_client_state(client);
    }
    // RESET also leaves MONITOR mode.
    if ctx.client.kind == server::client::Kind::Monitor {
        ctx.client.kind = server::client::Kind::Normal;
        let id = ctx.client.id;
        ctx.srv.monitors.retain(|&m| m != id);
    }
    ctx.out().simple(b"RESET");
}
